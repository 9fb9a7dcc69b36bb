package upstream

import (
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

// Options configure a Manager. Immutable after NewManager.
type Options struct {
	Logger *slog.Logger
	// NewPool creates the connection pool of a host when it joins a cluster
	// incarnation; the Manager closes it when the host has left and its
	// in-flight requests are reported. Nil: hosts have no pool.
	NewPool func(c *dpconfig.Cluster, addr netip.AddrPort) io.Closer
	// ClassifyError maps a forwarding error passed to Host.ReportResult to
	// an ErrorKind (connect failure, timeout, ...). Nil:
	// DefaultClassifyError. ErrOverflow and ErrNoHealthyUpstream are
	// always ErrorLocal.
	ClassifyError func(error) ErrorKind
}

// Manager owns the upstream clusters across configuration generations and
// the goroutines that check their health. Safe for concurrent use; Sync,
// Retire and Close are serialised by mu, which guards every field below it.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu         sync.Mutex
	entries    map[string]*entry
	latest     map[string]bool // names the latest Sync returned
	superseded []*Cluster      // incarnations replaced by Sync, released by the next Retire
	closed     bool
}

// entry is the state of one cluster name that outlives its incarnations.
// name and stats are immutable; current is atomic; states and live are
// guarded by mu. Lock order: Cluster.mu before entry.mu.
type entry struct {
	name    string
	stats   *ClusterStats
	current atomic.Pointer[Cluster]

	mu     sync.Mutex
	states map[netip.AddrPort]*hostState
	live   []*Cluster // incarnations not yet released, oldest first
}

// NewManager returns an empty Manager.
func NewManager(opts Options) *Manager {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, log: log, entries: map[string]*entry{}, latest: map[string]bool{}}
}

// Sync makes the Manager serve exactly the clusters a new generation needs
// and returns them by name. assignment returns a cluster's endpoints (nil:
// none yet). See the package comment for what is reused, rebuilt and
// carried over; nothing is removed (see Retire). Sync does not block on the
// network: health checks of new incarnations run in goroutines owned by
// the Manager until Retire or Close.
func (m *Manager) Sync(clusters map[string]*dpconfig.Cluster, assignment func(name string) *dpconfig.ClusterLoadAssignment) map[string]*Cluster {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*Cluster, len(clusters))
	if m.closed {
		return out
	}
	latest := make(map[string]bool, len(clusters))
	for name, cfg := range clusters {
		if cfg == nil {
			continue
		}
		latest[name] = true
		var cla *dpconfig.ClusterLoadAssignment
		if assignment != nil {
			cla = assignment(name)
		}
		e := m.entries[name]
		if e == nil {
			e = &entry{name: name, stats: &ClusterStats{}, states: map[netip.AddrPort]*hostState{}}
			m.entries[name] = e
		}
		cur := e.current.Load()
		if cur != nil && sameConfig(cur.cfg, cfg) {
			if cur.cla.Load() != cla {
				cur.setEndpoints(cla)
			}
			out[name] = cur
			continue
		}
		nc := newCluster(m, e, cfg)
		e.link(nc)
		nc.setEndpoints(cla)
		if cur != nil {
			cur.successor.Store(nc)
			// The new checker takes over the shared host state; the old one
			// stops now and is joined when the incarnation is released.
			cur.cancelChecker()
			m.superseded = append(m.superseded, cur)
			m.log.Debug("cluster rebuilt", "cluster", name)
		}
		nc.startChecker(m.log)
		out[name] = nc
	}
	m.latest = latest
	return out
}

// Retire removes the named clusters, which the caller has stopped
// referencing: call it after publishing the generation built from the
// latest Sync (DESIGN §6, make before break). Names that the latest Sync
// returned are kept. Every call also releases the incarnations the latest
// Sync replaced. Releasing stops health checks now and closes each host's
// pool when its in-flight requests have been reported.
func (m *Manager) Retire(names []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.superseded {
		c.release()
	}
	m.superseded = nil
	for _, name := range names {
		if m.latest[name] {
			m.log.Debug("not retiring a cluster the latest generation uses", "cluster", name)
			continue
		}
		e := m.entries[name]
		if e == nil {
			continue
		}
		for _, c := range e.incarnations() {
			c.release()
		}
		delete(m.entries, name)
	}
}

// Close releases every cluster and waits for the health checkers to stop.
// Pools of hosts with requests in flight close when those are reported.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, c := range m.superseded {
		c.release()
	}
	m.superseded = nil
	for name, e := range m.entries {
		for _, c := range e.incarnations() {
			c.release()
		}
		delete(m.entries, name)
	}
	m.latest = map[string]bool{}
	return nil
}

// Clusters returns the current incarnation of every cluster the Manager
// holds (those of the latest Sync and those awaiting Retire), sorted by
// name, for the admin /clusters page.
func (m *Manager) Clusters() []*Cluster {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Cluster, 0, len(m.entries))
	for _, e := range m.entries {
		if c := e.current.Load(); c != nil {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Cluster) int { return strings.Compare(a.cfg.Name, b.cfg.Name) })
	return out
}

func (m *Manager) newPool(c *dpconfig.Cluster, addr netip.AddrPort) io.Closer {
	if m.opts.NewPool == nil {
		return nil
	}
	return m.opts.NewPool(c, addr)
}

// link makes c the current incarnation.
func (e *entry) link(c *Cluster) {
	e.mu.Lock()
	e.live = append(e.live, c)
	e.mu.Unlock()
	e.current.Store(c)
}

func (e *entry) unlink(c *Cluster) {
	e.mu.Lock()
	e.live = slices.DeleteFunc(e.live, func(x *Cluster) bool { return x == c })
	e.mu.Unlock()
}

func (e *entry) incarnations() []*Cluster {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.live)
}

// state returns the shared state of addr, created healthy.
func (e *entry) state(addr netip.AddrPort) *hostState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.states[addr]
	if st == nil {
		st = &hostState{}
		e.states[addr] = st
	}
	return st
}

// prune forgets the state of addresses not in keep.
func (e *entry) prune(keep map[netip.AddrPort]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for addr := range e.states {
		if !keep[addr] {
			delete(e.states, addr)
		}
	}
}

// healthChanged rebuilds the pickers of every live incarnation, since they
// share host state.
func (e *entry) healthChanged() {
	for _, c := range e.incarnations() {
		c.refresh()
	}
}

// sameConfig reports whether two decoded clusters are equal. Decoded values
// are immutable and usually reused when unchanged, so the pointer test
// decides almost always; the field comparison catches a re-decoded but
// identical resource (a SotW push re-sends every cluster).
func sameConfig(a, b *dpconfig.Cluster) bool {
	if a == b {
		return true
	}
	if a.Name != b.Name || a.Source != b.Source || a.NoEndpointsReason != b.NoEndpointsReason ||
		a.Protocol != b.Protocol || a.ConnectTimeout != b.ConnectTimeout || a.LBPolicy != b.LBPolicy ||
		a.RingMinSize != b.RingMinSize || a.MaglevTableSize != b.MaglevTableSize ||
		a.MaxConnections != b.MaxConnections || a.MaxPendingRequests != b.MaxPendingRequests ||
		a.MaxRequests != b.MaxRequests || a.MaxRequestsPerConnection != b.MaxRequestsPerConnection ||
		a.IdleTimeout != b.IdleTimeout {
		return false
	}
	if (a.HealthCheck == nil) != (b.HealthCheck == nil) || (a.Outlier == nil) != (b.Outlier == nil) || (a.TLS == nil) != (b.TLS == nil) {
		return false
	}
	if a.HealthCheck != nil {
		x, y := a.HealthCheck, b.HealthCheck
		if x.Path != y.Path || x.Host != y.Host || x.Interval != y.Interval || x.Timeout != y.Timeout ||
			x.UnhealthyThreshold != y.UnhealthyThreshold || x.HealthyThreshold != y.HealthyThreshold ||
			!slices.Equal(x.ExpectedStatuses, y.ExpectedStatuses) {
			return false
		}
	}
	if a.Outlier != nil && *a.Outlier != *b.Outlier {
		return false
	}
	if a.TLS != nil {
		x, y := a.TLS, b.TLS
		if x.SNI != y.SNI || x.CertificateSecret != y.CertificateSecret || x.ValidationSecret != y.ValidationSecret ||
			!slices.Equal(x.SubjectAltNames, y.SubjectAltNames) || !slices.Equal(x.ALPN, y.ALPN) {
			return false
		}
	}
	return true
}
