package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// parseCPUList parses a taskset(1) CPU list ("1", "0-3", "0,2,4-5") into
// core numbers, in the order written, without duplicates.
func parseCPUList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: %q is not a core number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, f)
			}
		}
		for c := a; c <= b; c++ {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// formatCPUList writes cores as a taskset CPU list.
func formatCPUList(cores []int) string {
	s := make([]string, len(cores))
	for i, c := range cores {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// proxyCPUsFor is the CPU list a proxy with n workers is pinned to: the
// first n cores of base (--proxy-cpu), and when base names fewer, the cores
// after its last one, wrapping around the machine's ncpu. On a 2-core
// machine with base "1" and n 2 that is "1,0": the proxy then shares core
// 0 with the client and the backend (see sharesCores).
func proxyCPUsFor(base string, n, ncpu int) (string, error) {
	cores, err := parseCPUList(base)
	if err != nil {
		return "", err
	}
	if n > ncpu {
		return "", fmt.Errorf("%d workers need %d cores, the machine has %d", n, n, ncpu)
	}
	for _, c := range cores {
		if c >= ncpu {
			return "", fmt.Errorf("CPU list %q: core %d does not exist (%d cores)", base, c, ncpu)
		}
	}
	if len(cores) >= n {
		return formatCPUList(cores[:n]), nil
	}
	for c := cores[len(cores)-1] + 1; len(cores) < n; c++ {
		if !slices.Contains(cores, c%ncpu) {
			cores = append(cores, c%ncpu)
		}
	}
	return formatCPUList(cores), nil
}

// sharesCores reports whether two CPU lists have a core in common
// (unparsable lists count as shared: the figure is then suspect anyway).
func sharesCores(a, b string) bool {
	x, err1 := parseCPUList(a)
	y, err2 := parseCPUList(b)
	if err1 != nil || err2 != nil {
		return true
	}
	return slices.ContainsFunc(x, func(c int) bool { return slices.Contains(y, c) })
}
