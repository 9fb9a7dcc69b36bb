package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/upstream/lb"
)

// ErrorKind classifies a failed exchange for outlier detection and stats.
type ErrorKind uint8

const (
	// ErrorReset is any other upstream failure before a response (reset,
	// protocol error): a gateway failure, charged as 503 like Envoy.
	ErrorReset ErrorKind = iota
	// ErrorConnect is a failed connection attempt (upstream_cx_connect_fail).
	ErrorConnect
	// ErrorTimeout is a request timeout (upstream_rq_timeout, charged 504).
	ErrorTimeout
	// ErrorLocal is not the host's fault (downstream cancelled, circuit
	// breaker or pool overflow): not counted against the host.
	ErrorLocal
)

// Host health flags, as Envoy's Host::HealthFlag.
const (
	flagFailedActiveHC uint32 = 1 << iota
	flagFailedOutlier
)

// hostState is what is known about one address of one cluster name, shared
// by the Host values of successive incarnations of the cluster so that a
// configuration change does not forget health.
type hostState struct {
	stats HostStats
	// flags holds flagFailedActiveHC | flagFailedOutlier; atomic so that
	// hosts can be filtered without locks.
	flags   atomic.Uint32
	cons5xx atomic.Uint32 // consecutive 5xx (outlier detection)
	consGW  atomic.Uint32 // consecutive gateway failures

	mu          sync.Mutex // guards the fields below
	hcFailures  uint32     // consecutive active-check failures
	hcSuccesses uint32     // consecutive active-check successes while unhealthy
	ejections   uint32     // Envoy's ejection-time multiplier
	ejectedAt   time.Time
}

// Host is one endpoint of one Cluster incarnation.
//
// addr, key, cluster, state and pool are immutable after creation; weight
// and edsHealthy are updated in place by EDS (atomic); refs is atomic.
type Host struct {
	cluster *Cluster
	addr    netip.AddrPort
	key     string
	state   *hostState
	pool    io.Closer

	weight     atomic.Uint32
	edsHealthy atomic.Bool

	// refs is 2 × (picks not yet reported) + 1 while the host is a member of
	// its cluster. When it reaches 0 the pool is closed; a host without the
	// membership bit cannot be picked any more.
	refs atomic.Int64
}

var _ lb.Host = (*Host)(nil)

func newHost(c *Cluster, addr netip.AddrPort, st *hostState, pool io.Closer) *Host {
	h := &Host{cluster: c, addr: addr, key: addr.String(), state: st, pool: pool}
	h.refs.Store(1)
	return h
}

// Address is the host's address.
func (h *Host) Address() netip.AddrPort { return h.addr }

// Pool is the connection pool made for the host by Options.NewPool (nil
// without one). It stays open until the host has left its cluster and every
// request picked on it has been reported.
func (h *Host) Pool() io.Closer { return h.pool }

// Cluster is the incarnation the host belongs to.
func (h *Host) Cluster() *Cluster { return h.cluster }

// HashKey implements lb.Host: Envoy hashes the address.
func (h *Host) HashKey() string { return h.key }

// Weight implements lb.Host.
func (h *Host) Weight() uint32 { return max(h.weight.Load(), 1) }

// ActiveRequests implements lb.Host: requests picked and not yet reported.
func (h *Host) ActiveRequests() int64 { return h.refs.Load() >> 1 }

// Healthy reports whether the host is in rotation outside panic mode.
func (h *Host) Healthy() bool { return h.edsHealthy.Load() && h.state.flags.Load() == 0 }

// HealthFlags renders the host's health as Envoy's /clusters page does:
// "healthy" or "/failed_active_hc/failed_outlier_check/failed_eds_health".
func (h *Host) HealthFlags() string {
	f := h.state.flags.Load()
	s := ""
	if f&flagFailedActiveHC != 0 {
		s += "/failed_active_hc"
	}
	if f&flagFailedOutlier != 0 {
		s += "/failed_outlier_check"
	}
	if !h.edsHealthy.Load() {
		s += "/failed_eds_health"
	}
	if s == "" {
		return "healthy"
	}
	return s
}

// Stats returns a snapshot of the host's counters.
func (h *Host) Stats() HostStatsSnapshot {
	s := h.state.stats.snapshot()
	s.RqActive = h.ActiveRequests()
	return s
}

// acquire takes a request reference; false once the host has left its
// cluster (the caller picks again from the newer host set).
func (h *Host) acquire() bool {
	for {
		r := h.refs.Load()
		if r&1 == 0 {
			return false
		}
		if h.refs.CompareAndSwap(r, r+2) {
			return true
		}
	}
}

// release drops a request reference taken by acquire.
func (h *Host) release() {
	if h.refs.Add(-2) == 0 {
		h.closePool()
	}
}

// leave drops the membership reference, once.
func (h *Host) leave() {
	for {
		r := h.refs.Load()
		if r&1 == 0 {
			return
		}
		if h.refs.CompareAndSwap(r, r-1) {
			if r-1 == 0 {
				h.closePool()
			}
			return
		}
	}
}

func (h *Host) closePool() {
	if h.pool != nil {
		_ = h.pool.Close()
	}
}

// ReportResult ends a request that Pick sent to h: status is the response
// status (0 when err is set), err the failure before a response. The caller
// must call it exactly once for every host Pick returned, whatever happened
// (including when Acquire then failed): it drops the request's reference on
// the host, without which a removed host's pool is never closed. It feeds
// the counters and outlier detection.
func (h *Host) ReportResult(status int, err error) {
	c := h.cluster
	cs, hs := c.e.stats, &h.state.stats
	if err == nil {
		countResponse(cs, hs, status)
		if c.cfg.Outlier != nil {
			c.outlierResult(h, status >= 500, status == 502 || status == 503 || status == 504)
		}
		h.release()
		return
	}
	// Envoy charges local-origin failures as the status it answers with
	// (503 for a reset or connect failure, 504 for a timeout) and, with
	// split_external_local_origin_errors off, counts them as gateway
	// failures for outlier detection.
	if kind := c.m.classify(err); kind != ErrorLocal {
		charged := 503
		switch kind {
		case ErrorConnect:
			cs.cxConnectFail.Add(1)
			hs.cxConnectFail.Add(1)
		case ErrorTimeout:
			cs.rqTimeout.Add(1)
			hs.rqTimeout.Add(1)
			charged = 504
		}
		countResponse(cs, hs, charged)
		if c.cfg.Outlier != nil {
			c.outlierResult(h, true, true)
		}
	}
	h.release()
}

// classify applies Options.ClassifyError after the errors this package
// knows itself.
func (m *Manager) classify(err error) ErrorKind {
	if errors.Is(err, ErrOverflow) || errors.Is(err, ErrNoHealthyUpstream) {
		return ErrorLocal
	}
	if m.opts.ClassifyError != nil {
		return m.opts.ClassifyError(err)
	}
	return DefaultClassifyError(err)
}

// DefaultClassifyError classifies err with the standard library's
// conventions only: context cancellation is local, a deadline or a
// Timeout() error is a timeout, a failed dial is a connect failure,
// anything else a reset. The runtime should pass a classifier that knows
// its pool's error kinds.
func DefaultClassifyError(err error) ErrorKind {
	switch {
	case errors.Is(err, context.Canceled):
		return ErrorLocal
	case errors.Is(err, context.DeadlineExceeded):
		return ErrorTimeout
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return ErrorConnect
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return ErrorTimeout
	}
	return ErrorReset
}
