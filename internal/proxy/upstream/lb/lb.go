// Package lb holds the proxy's load-balancing policies, one file per
// policy, each behind the one-method Picker. A Picker is built once per
// host set (by upstream when a cluster's membership or health changes) and
// is then read-only except for the policy's own atomic cursor, so Pick is
// lock-free and allocation-free on the request path.
//
// The policies follow Envoy's (envoy/source/extensions/load_balancing_policies):
// round robin, least request (power of two choices), random, ring hash
// (Ketama with xxHash64, Envoy's default hash function) and Maglev.
package lb

import (
	"github.com/cespare/xxhash/v2"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

// Context is what the caller knows about the request when it picks a host.
// Hash is computed by the caller from the route's hash policies (header,
// cookie, source IP), preferably with HashString so keys are hashed as
// Envoy hashes them; only ring hash and Maglev read it.
type Context struct {
	Hash    uint64
	HasHash bool
}

// Host is what a policy needs to know about an endpoint.
type Host interface {
	// HashKey identifies the host on a consistent-hash ring; Envoy uses the
	// address ("10.0.0.1:8080").
	HashKey() string
	// Weight is the endpoint's load_balancing_weight, ≥ 1.
	Weight() uint32
	// ActiveRequests is the number of requests in flight to the host.
	ActiveRequests() int64
}

// Picker chooses one host of the set it was built over and returns its
// index in that set. Implementations are safe for concurrent use.
type Picker interface {
	Pick(ctx *Context) int
}

// Envoy's defaults (cluster.proto RingHashLbConfig, MaglevLbConfig).
const (
	DefaultRingMinSize     = 1024
	DefaultRingMaxSize     = 8 << 20
	DefaultMaglevTableSize = 65537
)

// New builds the picker of c's policy over hosts. eligible[i] false keeps
// host i out of the picks (it failed a health check); nil means all are
// eligible; at least one host must be. Hosts are expected in a stable order
// (upstream sorts them by address) so that round robin cycles predictably;
// the hashing policies do not depend on the order.
//
// The hashing policies place every host, eligible or not, and send the keys
// of an ineligible one on to the next eligible host, so a host leaving
// rotation moves only its own keys and gets them back when it recovers.
// (Envoy rebuilds the ring or table over the healthy hosts instead, which
// also moves keys between the hosts that stayed.)
func New(c *dpconfig.Cluster, hosts []Host, eligible []bool) Picker {
	switch c.LBPolicy {
	case dpconfig.LeastRequest:
		return NewLeastRequest(hosts, eligible)
	case dpconfig.Random:
		return NewRandom(hosts, eligible)
	case dpconfig.RingHash:
		return NewRingHash(hosts, eligible, c.RingMinSize)
	case dpconfig.Maglev:
		return NewMaglev(hosts, eligible, c.MaglevTableSize)
	default:
		return NewRoundRobin(hosts, eligible)
	}
}

// candidates returns the eligible hosts and their indexes in hosts.
func candidates(hosts []Host, eligible []bool) ([]Host, []int32) {
	out := make([]Host, 0, len(hosts))
	idx := make([]int32, 0, len(hosts))
	for i, h := range hosts {
		if eligible == nil || eligible[i] {
			out = append(out, h)
			idx = append(idx, int32(i))
		}
	}
	return out, idx
}

// skipIneligible rewrites owners in place so that each slot owned by an
// ineligible host goes to the owner of the next eligible slot, wrapping.
func skipIneligible(owners []int32, eligible []bool) {
	if eligible == nil {
		return
	}
	last := -1
	for i := len(owners) - 1; i >= 0; i-- {
		if eligible[owners[i]] {
			last = i
			break
		}
	}
	if last < 0 {
		return // nothing eligible: the caller broke the contract
	}
	next := owners[last]
	for i := len(owners) - 1; i >= 0; i-- {
		if eligible[owners[i]] {
			next = owners[i]
		} else {
			owners[i] = next
		}
	}
}

// HashString hashes a request attribute (header value, cookie, source IP)
// into a Context.Hash the way Envoy does: xxHash64 with seed 0.
func HashString(s string) uint64 { return xxhash.Sum64String(s) }

// weight returns h's weight, treating 0 as 1 as EDS does.
func weight(h Host) uint64 {
	if w := h.Weight(); w > 0 {
		return uint64(w)
	}
	return 1
}

// uniformWeights reports whether every host has the same weight, in which
// case the policies use their cheaper unweighted form (as Envoy does).
func uniformWeights(hosts []Host) bool {
	if len(hosts) == 0 {
		return true
	}
	for _, h := range hosts[1:] {
		if weight(h) != weight(hosts[0]) {
			return false
		}
	}
	return true
}
