package runtime

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats holds the downstream counters of every listener. Per-listener
// counters are created on first use and live as long as the runtime, so a
// listener that comes back after removal continues its series (Prometheus
// counters must not reset while the process lives).
type Stats struct {
	mu        sync.Mutex // guards listeners (the map, not the counters)
	listeners map[string]*ListenerStats
}

// latencyBucketsMs are the upper bounds of the request-time histogram, in
// milliseconds, as Envoy's default histogram buckets.
var latencyBucketsMs = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// ListenerStats are one listener's HTTP counters; all fields atomic.
type ListenerStats struct {
	RqTotal   atomic.Uint64
	RqXX      [6]atomic.Uint64 // index = status/100
	Buckets   []atomic.Uint64  // len(latencyBucketsMs)+1, last is +Inf
	SumMicros atomic.Uint64
}

func newStats() *Stats { return &Stats{listeners: map[string]*ListenerStats{}} }

func (s *Stats) listener(name string) *ListenerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.listeners[name]
	if ls == nil {
		ls = &ListenerStats{Buckets: make([]atomic.Uint64, len(latencyBucketsMs)+1)}
		s.listeners[name] = ls
	}
	return ls
}

func (ls *ListenerStats) observe(status int, d time.Duration) {
	ls.RqTotal.Add(1)
	if c := status / 100; c >= 1 && c <= 5 {
		ls.RqXX[c].Add(1)
	}
	ms := float64(d) / float64(time.Millisecond)
	i := sort.SearchFloat64s(latencyBucketsMs, ms)
	ls.Buckets[i].Add(1)
	ls.SumMicros.Add(uint64(d / time.Microsecond))
}

// Each calls fn for every listener's stats in name order.
func (s *Stats) Each(fn func(name string, ls *ListenerStats)) {
	s.mu.Lock()
	names := make([]string, 0, len(s.listeners))
	for n := range s.listeners {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		fn(n, s.listener(n))
	}
}

// LatencyBucketsMs returns the histogram bounds.
func LatencyBucketsMs() []float64 { return latencyBucketsMs }
