package lb

import (
	"math/rand/v2"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// maglev is Envoy's MAGLEV (Eisenbud et al., NSDI 2016, with Envoy's
// weighting): a lookup table of a prime size M filled by letting each host
// claim slots along its own permutation (offset, skip) in turn. A request
// goes to table[hash % M]. Removing a host reassigns mostly the slots it
// held. Immutable after NewMaglev.
type maglev struct {
	table []int32
}

// NewMaglev returns Envoy's MAGLEV policy with a table of tableSize slots
// (0: Envoy's default 65537). Envoy requires a prime size; a non-prime size
// is rounded up to the next prime so that every permutation covers the
// whole table. Every host gets its slots; the slots of ineligible hosts pass
// their keys on to the next eligible slot's host, which is a pseudo-random
// host, so the failed host's keys spread over the others.
func NewMaglev(hosts []Host, eligible []bool, tableSize uint64) Picker {
	m := tableSize
	if m == 0 {
		m = DefaultMaglevTableSize
	}
	for !isPrime(m) {
		m++
	}

	type entry struct {
		host         int32
		key          string
		offset, skip uint64
		weight       float64
		target       float64
		next         uint64
	}
	var total uint64
	for _, h := range hosts {
		total += weight(h)
	}
	entries := make([]entry, len(hosts))
	var maxWeight float64
	seeded := xxhash.NewWithSeed(1)
	for i, h := range hosts {
		key := h.HashKey()
		seeded.ResetWithSeed(1)
		_, _ = seeded.WriteString(key)
		e := entry{
			host:   int32(i),
			key:    key,
			offset: xxhash.Sum64String(key) % m,
			skip:   seeded.Sum64()%(m-1) + 1,
			weight: float64(weight(h)) / float64(total),
		}
		maxWeight = max(maxWeight, e.weight)
		entries[i] = e
	}
	// Envoy fills the table in a fixed host order so that the result does
	// not depend on the order the hosts arrived in.
	slices.SortFunc(entries, func(a, b entry) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})

	table := make([]int32, m)
	for i := range table {
		table[i] = -1
	}
	filled := uint64(0)
	// Envoy's MaglevTable: a host of the largest weight claims a slot every
	// iteration, one of a third of that weight every third iteration.
	for iteration := 1.0; filled < m; iteration++ {
		for i := range entries {
			if filled == m {
				break
			}
			e := &entries[i]
			if iteration*e.weight < e.target {
				continue
			}
			e.target += maxWeight
			c := (e.offset + e.skip*e.next) % m
			for table[c] >= 0 {
				e.next++
				c = (e.offset + e.skip*e.next) % m
			}
			table[c] = e.host
			e.next++
			filled++
		}
	}
	skipIneligible(table, eligible)
	return &maglev{table: table}
}

func (p *maglev) Pick(ctx *Context) int {
	h := rand.Uint64()
	if ctx != nil && ctx.HasHash {
		h = ctx.Hash
	}
	return int(p.table[h%uint64(len(p.table))])
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
