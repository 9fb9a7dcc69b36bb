package lb

import (
	"sync"
	"sync/atomic"
)

// maxPrecomputedCycle bounds the smooth weighted cycle kept in memory; a set
// whose gcd-reduced weights sum to more uses the locked algorithm instead.
const maxPrecomputedCycle = 1 << 16

// roundRobin walks a precomputed cycle with an atomic cursor. With equal
// weights the cycle is 0..n-1; with different weights it is nginx's smooth
// weighted round robin sequence (each host appears weight/gcd times, spread
// out rather than in bursts), which gives the same long-run shares as
// Envoy's EDF scheduler. seq is immutable after NewRoundRobin.
type roundRobin struct {
	seq  []int32
	next atomic.Uint64
}

// NewRoundRobin returns Envoy's ROUND_ROBIN policy over the eligible hosts.
func NewRoundRobin(all []Host, eligible []bool) Picker {
	hosts, idx := candidates(all, eligible)
	if uniformWeights(hosts) {
		return &roundRobin{seq: idx}
	}
	w := make([]int64, len(hosts))
	var g uint64
	for i, h := range hosts {
		g = gcd(g, weight(h))
		w[i] = int64(weight(h))
	}
	var total int64
	for i := range w {
		w[i] /= int64(g)
		total += w[i]
	}
	if total > maxPrecomputedCycle {
		return &smoothWRR{idx: idx, weight: w, current: make([]int64, len(w)), total: total}
	}
	s := smoothWRR{weight: w, current: make([]int64, len(w)), total: total}
	seq := make([]int32, total)
	for i := range seq {
		seq[i] = idx[s.step()]
	}
	return &roundRobin{seq: seq}
}

func (p *roundRobin) Pick(*Context) int {
	n := p.next.Add(1) - 1
	return int(p.seq[n%uint64(len(p.seq))])
}

// smoothWRR is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer): O(n) per pick, so only used for weight sets
// too large to precompute. idx, weight and total are immutable; current is
// guarded by mu.
type smoothWRR struct {
	idx     []int32
	mu      sync.Mutex
	weight  []int64
	current []int64
	total   int64
}

func (s *smoothWRR) Pick(*Context) int {
	s.mu.Lock()
	i := s.step()
	s.mu.Unlock()
	return int(s.idx[i])
}

func (s *smoothWRR) step() int {
	best := 0
	for i := range s.current {
		s.current[i] += s.weight[i]
		if s.current[i] > s.current[best] {
			best = i
		}
	}
	s.current[best] -= s.total
	return best
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
