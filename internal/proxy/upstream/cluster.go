package upstream

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/upstream/lb"
)

var (
	// ErrNoHealthyUpstream: the cluster has no host to pick (no endpoints,
	// or the cluster was retired). The proxy answers 503 with flag UH and
	// the cluster's NoEndpointsReason.
	ErrNoHealthyUpstream = errors.New("no healthy upstream")
	// ErrOverflow: the cluster's max_requests circuit breaker is open. The
	// proxy answers 503 with flag UO.
	ErrOverflow = errors.New("upstream overflow")
)

// Envoy defaults (cluster.proto CircuitBreakers.Thresholds, common
// LbConfig.healthy_panic_threshold).
const (
	defaultMaxRequests   = 1024
	panicThresholdPct    = 50
	defaultMaxEjectPct   = 10
	defaultMaxEjectionNs = 300e9
)

// Cluster is one incarnation of an upstream cluster: a configuration and the
// hosts built for it. It is shared by every generation that uses it.
//
// m, e, cfg and maxRequests are immutable after creation; cla, set and
// successor are atomic; hosts and released are guarded by mu, which also
// serialises rebuilds of set; stop and done are guarded by Manager.mu.
type Cluster struct {
	m           *Manager
	e           *entry
	cfg         *dpconfig.Cluster
	maxRequests int64

	cla       atomic.Pointer[dpconfig.ClusterLoadAssignment]
	set       atomic.Pointer[hostSet]
	successor atomic.Pointer[Cluster]

	mu       sync.Mutex
	hosts    []*Host // sorted by address
	released bool

	stop context.CancelFunc
	done chan struct{}
}

// hostSet is what Pick reads: immutable once stored.
type hostSet struct {
	all     []*Host   // every member, sorted by address
	pick    []*Host   // what picker indexes (all members; nil when empty)
	picker  lb.Picker // skips unhealthy hosts unless in panic
	panic   bool
	healthy int
}

var emptySet = &hostSet{}

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// Config is the configuration this incarnation was built from.
func (c *Cluster) Config() *dpconfig.Cluster { return c.cfg }

// Assignment is the endpoint assignment last applied (nil before EDS).
func (c *Cluster) Assignment() *dpconfig.ClusterLoadAssignment { return c.cla.Load() }

// Stats returns the cluster's live counters.
func (c *Cluster) Stats() *ClusterStats { return c.e.stats }

// Hosts returns the current members, sorted by address.
func (c *Cluster) Hosts() []*Host { return slices.Clone(c.set.Load().all) }

// Panic reports whether the cluster is in panic mode (fewer than 50% of its
// hosts healthy), in which Pick balances over every host.
func (c *Cluster) Panic() bool { return c.set.Load().panic }

// Pick chooses a host for one request attempt and takes a reference on it:
// the caller must call the host's ReportResult exactly once. Pick does not
// allocate.
func (c *Cluster) Pick(ctx *lb.Context) (*Host, error) {
	// A miss means the host left between loading the set and taking the
	// reference; the set that replaced it is already stored.
	for range 4 {
		s := c.set.Load()
		if len(s.pick) == 0 {
			break
		}
		h := s.pick[s.picker.Pick(ctx)]
		if h.acquire() {
			if s.panic {
				c.e.stats.lbHealthyPanic.Add(1)
			}
			return h, nil
		}
	}
	// A request of an older generation may still hold a replaced
	// incarnation: send it to the one that replaced it.
	if next := c.successor.Load(); next != nil {
		return next.Pick(ctx)
	}
	return nil, ErrNoHealthyUpstream
}

// Acquire admits one upstream request under the max_requests circuit
// breaker (shared by all incarnations of the cluster name); Release must
// follow when the request ends.
func (c *Cluster) Acquire() error {
	if c.e.stats.rqActive.Add(1) > c.maxRequests {
		c.e.stats.rqActive.Add(-1)
		c.e.stats.rqOverflow.Add(1)
		return ErrOverflow
	}
	return nil
}

// Release ends a request admitted by Acquire.
func (c *Cluster) Release() { c.e.stats.rqActive.Add(-1) }

func newCluster(m *Manager, e *entry, cfg *dpconfig.Cluster) *Cluster {
	c := &Cluster{m: m, e: e, cfg: cfg, maxRequests: defaultMaxRequests}
	if cfg.MaxRequests > 0 {
		c.maxRequests = int64(cfg.MaxRequests)
	}
	c.set.Store(emptySet)
	return c
}

// setEndpoints makes the host set match cla: hosts are matched by address,
// keep their pool and state and take the new weight and EDS health; new
// addresses get a host (routable at once, see the package comment);
// addresses that left are released after the new set is published.
func (c *Cluster) setEndpoints(cla *dpconfig.ClusterLoadAssignment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return
	}
	c.cla.Store(cla)
	var eps []dpconfig.Endpoint
	if cla != nil {
		eps = cla.Endpoints
	}
	old := make(map[netip.AddrPort]*Host, len(c.hosts))
	for _, h := range c.hosts {
		old[h.addr] = h
	}
	hosts := make([]*Host, 0, len(eps))
	seen := make(map[netip.AddrPort]bool, len(eps))
	for _, ep := range eps {
		if seen[ep.Address] {
			continue // a duplicate address is one host; the first entry wins
		}
		seen[ep.Address] = true
		h := old[ep.Address]
		if h == nil {
			h = newHost(c, ep.Address, c.e.state(ep.Address), c.m.newPool(c.cfg, ep.Address))
		}
		h.weight.Store(max(ep.Weight, 1))
		h.edsHealthy.Store(ep.Healthy)
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, func(a, b *Host) int { return a.addr.Compare(b.addr) })
	c.hosts = hosts
	c.rebuildLocked()
	for addr, h := range old {
		if !seen[addr] {
			h.leave()
		}
	}
	// Envoy forgets a host's health and outlier history when EDS removes it.
	c.e.prune(seen)
}

// refresh rebuilds the picker after a health change.
func (c *Cluster) refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.released {
		c.rebuildLocked()
	}
}

// rebuildLocked recomputes the candidates and their picker. Envoy rebuilds
// its load balancer on every membership or health change too; requests
// never do this work.
func (c *Cluster) rebuildLocked() {
	s := &hostSet{all: c.hosts}
	eligible := make([]bool, len(c.hosts))
	ejected := 0
	for i, h := range c.hosts {
		eligible[i] = h.Healthy()
		if eligible[i] {
			s.healthy++
		}
		if h.state.flags.Load()&flagFailedOutlier != 0 {
			ejected++
		}
	}
	// Envoy's healthy_panic_threshold: below 50% healthy, use every host
	// rather than overload the few that are left (or refuse everything).
	if len(c.hosts) > 0 && 100*s.healthy < panicThresholdPct*len(c.hosts) {
		s.panic = true
		eligible = nil
	}
	if len(c.hosts) > 0 {
		lbHosts := make([]lb.Host, len(c.hosts))
		for i, h := range c.hosts {
			lbHosts[i] = h
		}
		// The picker indexes c.hosts; the hashing policies keep every host
		// on their ring so that only an unhealthy host's keys move.
		s.pick = c.hosts
		s.picker = lb.New(c.cfg, lbHosts, eligible)
	}
	c.set.Store(s)
	if c.e.current.Load() == c {
		c.e.stats.healthy.Store(int64(s.healthy))
		c.e.stats.total.Store(int64(len(c.hosts)))
		c.e.stats.ejectedNow.Store(int64(ejected))
	}
}

// release takes the incarnation out of service: nothing can be picked from
// it any more (Pick forwards to a successor), its checker stops and each
// host's pool closes once its in-flight requests have been reported.
// Called with Manager.mu held.
func (c *Cluster) release() {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	c.released = true
	c.set.Store(emptySet)
	hosts := c.hosts
	c.hosts = nil
	c.mu.Unlock()
	for _, h := range hosts {
		h.leave()
	}
	c.stopChecker()
	c.e.unlink(c)
}
