package lb

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// ringHash is Envoy's RING_HASH (Ketama): every host owns scale×weight
// points hashed from "address_i" with xxHash64; a request goes to the first
// point at or after its hash, wrapping around. Removing a host moves only
// the keys that landed on its points. Immutable after NewRingHash.
type ringHash struct {
	hashes []uint64 // sorted
	hosts  []int32  // hosts[i] owns hashes[i]
}

// NewRingHash returns Envoy's RING_HASH policy with at least minSize points
// (0: Envoy's default 1024), capped at Envoy's maximum of 8M. Every host is
// placed; the points of ineligible hosts pass their keys on clockwise.
func NewRingHash(hosts []Host, eligible []bool, minSize uint64) Picker {
	if minSize == 0 {
		minSize = DefaultRingMinSize
	}
	minSize = min(minSize, DefaultRingMaxSize)
	var total uint64
	for _, h := range hosts {
		total += weight(h)
	}
	minNorm := math.MaxFloat64
	for _, h := range hosts {
		minNorm = min(minNorm, float64(weight(h))/float64(total))
	}
	// Envoy's Ring::Ring: scale so the lightest host gets a whole number of
	// points and the ring has at least minSize of them.
	scale := min(math.Ceil(minNorm*float64(minSize))/minNorm, float64(DefaultRingMaxSize))
	size := int(math.Ceil(scale))

	type point struct {
		hash uint64
		host int32
		key  string
	}
	pts := make([]point, 0, size)
	buf := make([]byte, 0, 64)
	var current, target float64
	for i, h := range hosts {
		key := h.HashKey()
		target += scale * float64(weight(h)) / float64(total)
		for n := 0; current < target; n++ {
			buf = append(append(append(buf[:0], key...), '_'), strconv.Itoa(n)...)
			pts = append(pts, point{hash: xxhash.Sum64(buf), host: int32(i), key: key})
			current++
		}
	}
	// Ties (vanishingly rare) are broken by key so the ring does not depend
	// on the order hosts were given in.
	slices.SortFunc(pts, func(a, b point) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	p := &ringHash{hashes: make([]uint64, len(pts)), hosts: make([]int32, len(pts))}
	for i, pt := range pts {
		p.hashes[i], p.hosts[i] = pt.hash, pt.host
	}
	skipIneligible(p.hosts, eligible)
	return p
}

func (p *ringHash) Pick(ctx *Context) int {
	h := rand.Uint64() // Envoy: no hash key means a random point
	if ctx != nil && ctx.HasHash {
		h = ctx.Hash
	}
	// Lower bound: first point with hash ≥ h.
	lo, hi := 0, len(p.hashes)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.hashes[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(p.hashes) {
		lo = 0
	}
	return int(p.hosts[lo])
}
