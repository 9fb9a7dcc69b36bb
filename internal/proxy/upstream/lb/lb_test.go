package lb

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

type fakeHost struct {
	key    string
	weight uint32
	active atomic.Int64
}

func (h *fakeHost) HashKey() string       { return h.key }
func (h *fakeHost) Weight() uint32        { return h.weight }
func (h *fakeHost) ActiveRequests() int64 { return h.active.Load() }

func hostsOf(weights ...uint32) []Host {
	out := make([]Host, len(weights))
	for i, w := range weights {
		out[i] = &fakeHost{key: fmt.Sprintf("10.0.0.%d:8080", i+1), weight: w}
	}
	return out
}

func equalHosts(n int) []Host {
	w := make([]uint32, n)
	for i := range w {
		w[i] = 1
	}
	return hostsOf(w...)
}

func TestRoundRobinSequences(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		want    []int // one full cycle
	}{
		{"equal weights cycle in order", []uint32{1, 1, 1}, []int{0, 1, 2}},
		{"zero weight counts as one", []uint32{0, 1}, []int{0, 1}},
		{"equal non-unit weights are unweighted", []uint32{7, 7}, []int{0, 1}},
		// nginx's smooth WRR for 5,1,1: a a b a c a a.
		{"weights 5,1,1 are spread out", []uint32{5, 1, 1}, []int{0, 0, 1, 0, 2, 0, 0}},
		{"weights reduced by their gcd", []uint32{20, 10}, []int{0, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewRoundRobin(hostsOf(tt.weights...), nil)
			for cycle := range 3 {
				for i, want := range tt.want {
					if got := p.Pick(nil); got != want {
						t.Fatalf("cycle %d pick %d = %d, want %d", cycle, i, got, want)
					}
				}
			}
		})
	}
}

func TestIneligibleHostsAreNeverPicked(t *testing.T) {
	for _, pol := range []dpconfig.LBPolicy{dpconfig.RoundRobin, dpconfig.LeastRequest, dpconfig.Random, dpconfig.RingHash, dpconfig.Maglev} {
		for _, weights := range [][]uint32{{1, 1, 1, 1}, {1, 2, 3, 4}} {
			t.Run(fmt.Sprintf("policy %d weights %v", pol, weights), func(t *testing.T) {
				p := New(&dpconfig.Cluster{LBPolicy: pol}, hostsOf(weights...), []bool{false, true, false, true})
				seen := map[int]bool{}
				for k := range 4000 {
					i := p.Pick(&Context{Hash: HashString(fmt.Sprint(k)), HasHash: true})
					if i != 1 && i != 3 {
						t.Fatalf("picked ineligible host %d", i)
					}
					seen[i] = true
				}
				if len(seen) != 2 {
					t.Fatalf("picked only %v", seen)
				}
			})
		}
	}
}

func TestRoundRobinLargeWeightsUseSmoothFallback(t *testing.T) {
	// 100003 and 2 are coprime: the cycle is too long to precompute.
	p := NewRoundRobin(hostsOf(100003, 2), nil)
	if _, ok := p.(*smoothWRR); !ok {
		t.Fatalf("picker is %T, want *smoothWRR", p)
	}
	var counts [2]int
	for range 100005 {
		counts[p.Pick(nil)]++
	}
	if counts != [2]int{100003, 2} {
		t.Fatalf("counts over one cycle = %v, want [100003 2]", counts)
	}
}

func TestLeastRequestPrefersIdleHost(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		active  []int64
		never   int // index that must never be picked
	}{
		{"two hosts, one busy", []uint32{1, 1}, []int64{10, 0}, 0},
		{"three hosts, one busy", []uint32{1, 1, 1}, []int64{0, 5, 0}, 1},
		{"weighted, busy heavy host loses to idle light one", []uint32{1, 3}, []int64{0, 50}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := hostsOf(tt.weights...)
			for i, a := range tt.active {
				hosts[i].(*fakeHost).active.Store(a)
			}
			p := NewLeastRequest(hosts, nil)
			for range 2000 {
				if got := p.Pick(nil); got == tt.never {
					t.Fatalf("picked busy host %d", got)
				}
			}
		})
	}
}

func TestLeastRequestSpreadsWhenIdle(t *testing.T) {
	p := NewLeastRequest(equalHosts(4), nil)
	counts := make([]int, 4)
	const n = 40000
	for range n {
		counts[p.Pick(nil)]++
	}
	assertShares(t, counts, []float64{0.25, 0.25, 0.25, 0.25}, 0.03)
}

func TestRandomDistribution(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		want    []float64
	}{
		{"uniform", []uint32{1, 1, 1}, []float64{1. / 3, 1. / 3, 1. / 3}},
		{"weighted 3:1", []uint32{3, 1}, []float64{0.75, 0.25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewRandom(hostsOf(tt.weights...), nil)
			counts := make([]int, len(tt.weights))
			for range 60000 {
				counts[p.Pick(nil)]++
			}
			assertShares(t, counts, tt.want, 0.02)
		})
	}
}

func assertShares(t *testing.T, counts []int, want []float64, tol float64) {
	t.Helper()
	total := 0
	for _, c := range counts {
		total += c
	}
	for i, c := range counts {
		if got := float64(c) / float64(total); math.Abs(got-want[i]) > tol {
			t.Errorf("host %d share = %.3f, want %.3f ± %.3f (counts %v)", i, got, want[i], tol, counts)
		}
	}
}

// consistent hashing policies, tested alike.
var hashPolicies = []struct {
	name  string
	build func(hosts []Host, eligible []bool) Picker
}{
	{"ring hash", func(h []Host, e []bool) Picker { return NewRingHash(h, e, 0) }},
	{"maglev", func(h []Host, e []bool) Picker { return NewMaglev(h, e, 0) }},
}

func keysOwner(p Picker, hosts []Host, n int) []string {
	out := make([]string, n)
	for k := range n {
		ctx := &Context{Hash: HashString(fmt.Sprintf("user-%d", k)), HasHash: true}
		out[k] = hosts[p.Pick(ctx)].HashKey()
	}
	return out
}

func TestConsistentHashKeepsKeysWhenAHostLeaves(t *testing.T) {
	const keys = 20000
	for _, pol := range hashPolicies {
		t.Run(pol.name+"/unhealthy host moves only its own keys", func(t *testing.T) {
			all := equalHosts(3)
			before := keysOwner(pol.build(all, nil), all, keys)
			counts := map[string]int{}
			for _, o := range before {
				counts[o]++
			}
			for _, h := range all {
				if share := float64(counts[h.HashKey()]) / keys; share < 0.25 || share > 0.42 {
					t.Errorf("host %s share %.3f, want about 1/3", h.HashKey(), share)
				}
			}
			// Host 1 fails its health check.
			after := keysOwner(pol.build(all, []bool{true, false, true}), all, keys)
			moved := map[string]int{}
			for k := range keys {
				switch {
				case after[k] == all[1].HashKey():
					t.Fatalf("key %d still on the unhealthy host", k)
				case before[k] != all[1].HashKey() && before[k] != after[k]:
					t.Fatalf("key %d of a healthy host moved from %s to %s", k, before[k], after[k])
				case before[k] != after[k]:
					moved[after[k]]++
				}
			}
			// The failed host's keys spread over both survivors.
			for _, h := range []Host{all[0], all[2]} {
				if share := float64(moved[h.HashKey()]) / float64(counts[all[1].HashKey()]); share < 0.2 {
					t.Errorf("survivor %s took %.2f of the failed host's keys, want a fair part", h.HashKey(), share)
				}
			}
			// Recovery gives the keys back exactly.
			if again := keysOwner(pol.build(all, nil), all, keys); !slices.Equal(before, again) {
				t.Fatal("keys did not return after recovery")
			}
		})
		t.Run(pol.name+"/removed host: rebuilt over the rest", func(t *testing.T) {
			all := equalHosts(3)
			before := keysOwner(pol.build(all, nil), all, keys)
			rest := []Host{all[0], all[2]}
			after := keysOwner(pol.build(rest, nil), rest, keys)
			kept := 0
			for k := range keys {
				if before[k] == after[k] {
					kept++
				}
			}
			// Envoy's ring gives each survivor more points when the host
			// count drops (ceil(min_ring_size/n) each), which moves some keys
			// between survivors; Maglev moves a few as well.
			if frac := float64(kept) / keys; frac < 0.6 {
				t.Errorf("kept %.3f of keys, want ≥ ~2/3", frac)
			}
		})
	}
}

func TestConsistentHashIgnoresHostOrder(t *testing.T) {
	for _, pol := range hashPolicies {
		t.Run(pol.name, func(t *testing.T) {
			hosts := equalHosts(5)
			rev := slices.Clone(hosts)
			slices.Reverse(rev)
			a, b := keysOwner(pol.build(hosts, nil), hosts, 2000), keysOwner(pol.build(rev, nil), rev, 2000)
			if !slices.Equal(a, b) {
				t.Fatal("key ownership depends on host order")
			}
		})
	}
}

func TestConsistentHashHonoursWeights(t *testing.T) {
	for _, pol := range hashPolicies {
		t.Run(pol.name, func(t *testing.T) {
			hosts := hostsOf(3, 1)
			owners := keysOwner(pol.build(hosts, nil), hosts, 40000)
			n := 0
			for _, o := range owners {
				if o == hosts[0].HashKey() {
					n++
				}
			}
			if share := float64(n) / 40000; math.Abs(share-0.75) > 0.05 {
				t.Errorf("weight-3 host share %.3f, want 0.75 ± 0.05", share)
			}
		})
	}
}

func TestConsistentHashWithoutKeyIsRandom(t *testing.T) {
	for _, pol := range hashPolicies {
		t.Run(pol.name, func(t *testing.T) {
			p := pol.build(equalHosts(3), nil)
			counts := make([]int, 3)
			for range 30000 {
				counts[p.Pick(&Context{})]++
			}
			assertShares(t, counts, []float64{1. / 3, 1. / 3, 1. / 3}, 0.05)
		})
	}
}

func TestRingHashSize(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		minSize uint64
		want    int
	}{
		{"default minimum 1024", []uint32{1, 1, 1}, 0, 1026}, // ceil(1/3×1024)×3
		{"configured minimum", []uint32{1, 1}, 4096, 4096},
		{"weights give the light host whole points", []uint32{1, 3}, 1024, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewRingHash(hostsOf(tt.weights...), nil, tt.minSize).(*ringHash)
			if len(p.hashes) != tt.want {
				t.Fatalf("ring size = %d, want %d", len(p.hashes), tt.want)
			}
			if !slices.IsSorted(p.hashes) {
				t.Fatal("ring not sorted")
			}
		})
	}
}

func TestMaglevTable(t *testing.T) {
	tests := []struct {
		name    string
		size    uint64
		weights []uint32
		want    int
	}{
		{"default size", 0, []uint32{1, 1, 1}, 65537},
		{"prime size kept", 251, []uint32{1, 1}, 251},
		{"non-prime size rounded up to a prime", 250, []uint32{1, 1}, 251},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewMaglev(hostsOf(tt.weights...), nil, tt.size).(*maglev)
			if len(p.table) != tt.want {
				t.Fatalf("table size = %d, want %d", len(p.table), tt.want)
			}
			counts := make([]int, len(tt.weights))
			for _, h := range p.table {
				counts[h]++
			}
			for i, c := range counts {
				// Maglev fills the table evenly: within one slot per host.
				if want := len(p.table) / len(counts); c < want-1 || c > want+1 {
					t.Errorf("host %d owns %d slots, want %d ± 1", i, c, want)
				}
			}
		})
	}
}

func TestNewPicksPolicy(t *testing.T) {
	tests := []struct {
		policy dpconfig.LBPolicy
		want   string
	}{
		{dpconfig.RoundRobin, "*lb.roundRobin"},
		{dpconfig.LeastRequest, "*lb.leastRequest"},
		{dpconfig.Random, "*lb.random"},
		{dpconfig.RingHash, "*lb.ringHash"},
		{dpconfig.Maglev, "*lb.maglev"},
	}
	for _, tt := range tests {
		if got := fmt.Sprintf("%T", New(&dpconfig.Cluster{LBPolicy: tt.policy}, equalHosts(2), nil)); got != tt.want {
			t.Errorf("policy %d built %s, want %s", tt.policy, got, tt.want)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	policies := []dpconfig.LBPolicy{dpconfig.RoundRobin, dpconfig.LeastRequest, dpconfig.Random, dpconfig.RingHash, dpconfig.Maglev}
	names := []string{"round_robin", "least_request", "random", "ring_hash", "maglev"}
	for i, pol := range policies {
		for _, n := range []int{3, 100} {
			for _, weighted := range []bool{false, true} {
				w := make([]uint32, n)
				for j := range w {
					w[j] = 1
					if weighted {
						w[j] = uint32(1 + j%3)
					}
				}
				p := New(&dpconfig.Cluster{LBPolicy: pol}, hostsOf(w...), nil)
				name := fmt.Sprintf("%s/hosts=%d", names[i], n)
				if weighted {
					name += "/weighted"
				}
				b.Run(name, func(b *testing.B) {
					ctx := &Context{Hash: 0x9e3779b97f4a7c15, HasHash: true}
					b.ReportAllocs()
					for b.Loop() {
						ctx.Hash += 0x9e3779b97f4a7c15
						p.Pick(ctx)
					}
				})
			}
		}
	}
}
