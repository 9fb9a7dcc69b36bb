package lb

import "math/rand/v2"

// leastRequest is Envoy's LEAST_REQUEST with its default choice_count of 2:
// draw two distinct hosts and keep the one with fewer active requests
// ("power of two choices", which avoids the herd effect of a global
// minimum). When weights differ Envoy switches to EDF over
// weight/(active+1); we keep P2C but draw the candidates in proportion to
// weight and compare active requests per unit of weight, which favours the
// same hosts and keeps the weighted shares when everything is idle. hosts and cum are immutable after NewLeastRequest.
type leastRequest struct {
	hosts []Host   // eligible hosts
	idx   []int32  // their indexes in the caller's slice
	cum   []uint64 // nil when weights are uniform
}

// NewLeastRequest returns Envoy's LEAST_REQUEST policy over the eligible
// hosts.
func NewLeastRequest(all []Host, eligible []bool) Picker {
	hosts, idx := candidates(all, eligible)
	p := &leastRequest{hosts: hosts, idx: idx}
	if !uniformWeights(hosts) {
		p.cum = cumulative(hosts)
	}
	return p
}

func (p *leastRequest) Pick(*Context) int {
	n := len(p.hosts)
	if n == 1 {
		return int(p.idx[0])
	}
	var a, b int
	if p.cum == nil {
		a = rand.IntN(n)
		b = rand.IntN(n - 1)
		if b >= a {
			b++
		}
	} else {
		a = weightedIndex(p.cum)
		b = weightedIndex(p.cum)
		if a == b {
			b = (a + 1 + rand.IntN(n-1)) % n
		}
	}
	ha, hb := p.hosts[a], p.hosts[b]
	// active_b/w_b < active_a/w_a, cross-multiplied; a tie keeps a, which
	// was already drawn in proportion to weight.
	if uint64(hb.ActiveRequests())*weight(ha) < uint64(ha.ActiveRequests())*weight(hb) {
		return int(p.idx[b])
	}
	return int(p.idx[a])
}
