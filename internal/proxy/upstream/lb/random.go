package lb

import (
	"math/rand/v2"
	"sort"
)

// random picks uniformly, or in proportion to weight when weights differ
// (Envoy's RANDOM policy). Immutable after NewRandom.
type random struct {
	idx []int32  // eligible hosts
	cum []uint64 // prefix sums of their weights; nil when weights are uniform
}

// NewRandom returns Envoy's RANDOM policy over the eligible hosts.
func NewRandom(hosts []Host, eligible []bool) Picker {
	cand, idx := candidates(hosts, eligible)
	p := &random{idx: idx}
	if !uniformWeights(cand) {
		p.cum = cumulative(cand)
	}
	return p
}

func (p *random) Pick(*Context) int {
	if p.cum == nil {
		return int(p.idx[rand.IntN(len(p.idx))])
	}
	return int(p.idx[weightedIndex(p.cum)])
}

func cumulative(hosts []Host) []uint64 {
	cum := make([]uint64, len(hosts))
	var sum uint64
	for i, h := range hosts {
		sum += weight(h)
		cum[i] = sum
	}
	return cum
}

// weightedIndex draws an index with probability weight/total.
func weightedIndex(cum []uint64) int {
	r := rand.Uint64N(cum[len(cum)-1])
	// First i with cum[i] > r; sort.Search does not allocate here.
	return sort.Search(len(cum), func(i int) bool { return cum[i] > r })
}
