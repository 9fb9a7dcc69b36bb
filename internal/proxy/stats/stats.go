// Package stats holds a proxy's request statistics and exports them in
// Prometheus form under Envoy's names, so that dashboards and alerts written
// for Envoy work on ksgw unchanged.
//
// The hot path touches only atomics in objects resolved before the request:
// the runtime asks the Store for each listener's, cluster's and route's
// counters when it builds a configuration generation, and requests update
// them without locks or allocation. The Prometheus side is a
// prometheus.Collector that reads the atomics at scrape time (Envoy works
// the same way: stats are atomics, the admin handler formats them).
//
// Names follow Envoy's Prometheus output: the stat name with dots turned
// into underscores and "envoy_" in front, and the parts Envoy's default tag
// extractors take out of the name turned into labels with their tag names
// (source/common/config/well_known_names.cc): envoy_cluster_name,
// envoy_http_conn_manager_prefix, envoy_listener_address,
// envoy_response_code, envoy_response_code_class.
package stats

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Store is one proxy's statistics. Objects handed out live as long as the
// Store (Prometheus counters must not reset while the process lives); the
// maps are guarded by mu and only touched when a generation is built and at
// scrape time, never per request.
type Store struct {
	gateway string
	started time.Time

	mu        sync.Mutex
	listeners map[string]*Listener
	clusters  map[string]*Cluster
	routes    map[string]*Route
}

// New returns an empty Store for the proxy of gateway (its node ID,
// "namespace/name"), the value of gateway_request_latency's gateway label.
func New(gateway string) *Store {
	return &Store{
		gateway:   gateway,
		started:   time.Now(),
		listeners: map[string]*Listener{},
		clusters:  map[string]*Cluster{},
		routes:    map[string]*Route{},
	}
}

// Gateway returns the gateway label value.
func (s *Store) Gateway() string { return s.gateway }

// Started returns when the Store was created (envoy_server_uptime).
func (s *Store) Started() time.Time { return s.started }

// Listener returns the counters of a listener: name is the HCM stat_prefix
// (ksgw uses the listener name), address its bound address. The address is
// kept from the first call; a listener that moves keeps its series.
func (s *Store) Listener(name, address string) *Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.listeners[name]
	if l == nil {
		l = &Listener{name: name, address: envoyAddress(address)}
		s.listeners[name] = l
	}
	return l
}

// Cluster returns the counters ksgw keeps for a cluster in addition to the
// upstream package's (per-code counts, request time).
func (s *Store) Cluster(name string) *Cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clusters[name]
	if c == nil {
		c = &Cluster{name: name}
		s.clusters[name] = c
	}
	return c
}

// Route returns the gateway_request_latency series of a route. name is the
// xDS route name; "" stands for requests that matched no route.
func (s *Store) Route(name string) *Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.routes[name]
	if r == nil {
		r = &Route{name: name}
		s.routes[name] = r
	}
	return r
}

// Retain forgets the routes and clusters not named, so that configuration
// churn does not grow the Store without bound. Objects still held by
// in-flight requests of older generations keep working; their last updates
// are simply not exported, which is what Envoy does with the stats of a
// removed cluster too.
func (s *Store) Retain(clusters, routes map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := range s.clusters {
		if !clusters[n] {
			delete(s.clusters, n)
		}
	}
	for n := range s.routes {
		if n != "" && !routes[n] {
			delete(s.routes, n)
		}
	}
}

// envoyAddress renders an address as Envoy's listener stat prefix does:
// "127.0.0.1:8080" becomes "127.0.0.1_8080" (stats names use ':' as a
// separator, so Envoy replaces it).
func envoyAddress(a string) string { return strings.ReplaceAll(a, ":", "_") }

// Listener holds one listener's downstream counters (Envoy's
// listener.<address>.* and http.<stat_prefix>.* stats). All atomic.
type Listener struct {
	name, address string

	cxTotal  atomic.Uint64 // listener.<address>.downstream_cx_total
	cxActive atomic.Int64  // listener.<address>.downstream_cx_active; every connection is HTTP, so also http.<prefix>.downstream_cx_active
	rqTotal  atomic.Uint64 // http.<prefix>.downstream_rq_total
	rqActive atomic.Int64  // http.<prefix>.downstream_rq_active
	rqXX     [6]atomic.Uint64
	rqTime   Histogram // http.<prefix>.downstream_rq_time
}

// ConnOpened and ConnClosed count downstream connections.
func (l *Listener) ConnOpened() { l.cxTotal.Add(1); l.cxActive.Add(1) }
func (l *Listener) ConnClosed() { l.cxActive.Add(-1) }

// RequestStarted counts a request in flight; RequestDone must follow.
func (l *Listener) RequestStarted() { l.rqActive.Add(1) }

// RequestDone records a finished request.
func (l *Listener) RequestDone(status int, d time.Duration) {
	l.rqActive.Add(-1)
	l.rqTotal.Add(1)
	if c := status / 100; c >= 1 && c <= 5 {
		l.rqXX[c].Add(1)
	}
	l.rqTime.Observe(d)
}

// ListenerSnapshot is a point-in-time copy of a Listener, for status pages.
type ListenerSnapshot struct {
	Name, Address      string
	CxTotal            uint64
	CxActive, RqActive int64
	RqTotal            uint64
	RqXX               [6]uint64
	RqTimeP50Ms        float64
	RqTimeP99Ms        float64
	RqTimeCount        uint64
	RqTimeSumMs        float64
	// RqTimeBuckets are cumulative counts per BucketBoundsMs bound.
	RqTimeBuckets []uint64
}

// BucketBoundsMs returns the histogram bounds (Envoy's defaults), in ms.
func BucketBoundsMs() []float64 { return append([]float64(nil), envoyBucketsMs...) }

// Listeners returns a snapshot of every listener, sorted by name.
func (s *Store) Listeners() []ListenerSnapshot {
	s.mu.Lock()
	ls := sortedValues(s.listeners)
	s.mu.Unlock()
	out := make([]ListenerSnapshot, len(ls))
	for i, l := range ls {
		out[i] = l.Snapshot()
	}
	return out
}

// Snapshot copies the counters.
func (l *Listener) Snapshot() ListenerSnapshot {
	h := l.rqTime.snapshot()
	out := ListenerSnapshot{
		Name: l.name, Address: l.address,
		CxTotal: l.cxTotal.Load(), CxActive: l.cxActive.Load(), RqActive: l.rqActive.Load(),
		RqTotal: l.rqTotal.Load(), RqTimeCount: h.count, RqTimeSumMs: float64(h.sumNs) / 1e6,
		RqTimeP50Ms: h.quantileMs(0.5), RqTimeP99Ms: h.quantileMs(0.99),
		RqTimeBuckets: append([]uint64(nil), h.buckets[:]...),
	}
	for i := range out.RqXX {
		out.RqXX[i] = l.rqXX[i].Load()
	}
	return out
}

// Cluster holds what ksgw counts per cluster beyond upstream.ClusterStats:
// upstream_rq_<code> and upstream_rq_time. All atomic.
type Cluster struct {
	name   string
	codes  codeTable
	rqTime Histogram
}

// Count records one upstream attempt answered with code (a local 503 or
// 504 for a failed attempt, as Envoy charges them): upstream_rq_<code>.
func (c *Cluster) Count(code int) { c.codes.inc(code) }

// ObserveTime records an attempt's upstream_rq_time.
func (c *Cluster) ObserveTime(d time.Duration) { c.rqTime.Observe(d) }

// codeTable counts per status code without a lock: a small open table
// whose slots are claimed once. Codes beyond its capacity are counted under
// code 0 and not exported per code (label sets stay bounded).
type codeTable struct {
	mu    sync.Mutex // serialises claiming a slot
	slots [24]atomic.Pointer[codeCount]
	other atomic.Uint64
}

type codeCount struct {
	code uint16
	n    atomic.Uint64
}

func (t *codeTable) inc(code int) {
	if code < 100 || code > 599 {
		t.other.Add(1)
		return
	}
	k := uint16(code)
	for i := range t.slots {
		cc := t.slots[i].Load()
		if cc == nil {
			break
		}
		if cc.code == k {
			cc.n.Add(1)
			return
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.slots {
		cc := t.slots[i].Load()
		if cc == nil {
			cc = &codeCount{code: k}
			cc.n.Add(1)
			t.slots[i].Store(cc)
			return
		}
		if cc.code == k {
			cc.n.Add(1)
			return
		}
	}
	t.other.Add(1)
}

func (t *codeTable) each(fn func(code int, n uint64)) {
	for i := range t.slots {
		cc := t.slots[i].Load()
		if cc == nil {
			return
		}
		fn(int(cc.code), cc.n.Load())
	}
}

// Route holds the gateway_request_latency series of one route, one per
// (method, status code) seen, in a table like codeTable's. Methods outside
// RFC 9110's and PATCH are folded into "OTHER", and series beyond the
// table's capacity into code "other": label sets stay bounded whatever
// clients send.
type Route struct {
	name     string
	mu       sync.Mutex // serialises claiming a slot
	slots    [32]atomic.Pointer[latencySeries]
	overflow atomic.Pointer[latencySeries]
}

type latencySeries struct {
	method uint8
	code   uint16 // 0 in the overflow series
	h      Histogram
}

// Name returns the route name.
func (r *Route) Name() string { return r.name }

var methods = [...]string{"OTHER", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func methodIndex(m string) uint8 {
	switch m {
	case "GET":
		return 1
	case "HEAD":
		return 2
	case "POST":
		return 3
	case "PUT":
		return 4
	case "DELETE":
		return 5
	case "CONNECT":
		return 6
	case "OPTIONS":
		return 7
	case "TRACE":
		return 8
	case "PATCH":
		return 9
	}
	return 0
}

// Observe records one request's latency.
func (r *Route) Observe(method string, code int, d time.Duration) {
	m := methodIndex(method)
	if code < 100 || code > 599 {
		code = 0
	}
	k := uint16(code)
	for i := range r.slots {
		s := r.slots[i].Load()
		if s == nil {
			break
		}
		if s.method == m && s.code == k {
			s.h.Observe(d)
			return
		}
	}
	r.claim(m, k).h.Observe(d)
}

func (r *Route) claim(m uint8, k uint16) *latencySeries {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.slots {
		s := r.slots[i].Load()
		if s == nil {
			s = &latencySeries{method: m, code: k}
			r.slots[i].Store(s)
			return s
		}
		if s.method == m && s.code == k {
			return s
		}
	}
	s := r.overflow.Load()
	if s == nil {
		s = &latencySeries{}
		r.overflow.Store(s)
	}
	return s
}

func (r *Route) each(fn func(method string, code int, s *latencySeries)) {
	for i := range r.slots {
		s := r.slots[i].Load()
		if s == nil {
			break
		}
		fn(methods[s.method], int(s.code), s)
	}
	if s := r.overflow.Load(); s != nil {
		fn("OTHER", -1, s)
	}
}
