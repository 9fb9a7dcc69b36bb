package stats

import (
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// envoyBucketsMs are Envoy's default histogram bucket bounds, in
// milliseconds (stats_config histogram_bucket_settings default:
// 0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
// 60000, 300000, 600000, 1800000, 3600000). Envoy's *_time histograms are
// exported in milliseconds with exactly these le values, so dashboards
// written for Envoy keep their bucket selectors.
var envoyBucketsMs = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// bucketBoundsNs are the same bounds as integer nanoseconds, so the hot path
// compares integers only.
var bucketBoundsNs = func() []int64 {
	out := make([]int64, len(envoyBucketsMs))
	for i, ms := range envoyBucketsMs {
		out[i] = int64(ms * float64(time.Millisecond))
	}
	return out
}()

// Histogram is a latency histogram over Envoy's bucket bounds, updated with
// atomics only (no lock, no allocation). The zero value is not usable: use
// newHistogram. Read with snapshot.
type Histogram struct {
	counts [20]atomic.Uint64 // len(envoyBucketsMs)+1; the last is +Inf
	sumNs  atomic.Uint64
}

func newHistogram() *Histogram { return new(Histogram) }

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	ns := int64(d)
	if ns < 0 {
		ns = 0
	}
	// sort.Search over 19 int64s: 5 comparisons, inlined closure, no
	// allocation.
	i := sort.Search(len(bucketBoundsNs), func(i int) bool { return bucketBoundsNs[i] >= ns })
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(ns))
}

// histogramSnapshot is a cumulative copy, ready for Prometheus.
type histogramSnapshot struct {
	count   uint64
	sumNs   uint64
	buckets [19]uint64 // cumulative, by envoyBucketsMs index
}

func (h *Histogram) snapshot() histogramSnapshot {
	var s histogramSnapshot
	var cum uint64
	for i := range s.buckets {
		cum += h.counts[i].Load()
		s.buckets[i] = cum
	}
	cum += h.counts[len(s.buckets)].Load()
	s.count = cum
	s.sumNs = h.sumNs.Load()
	return s
}

// bucketsIn returns the cumulative buckets keyed by upper bound in unit
// (1 for milliseconds, 1e-3 for seconds), as prometheus.MustNewConstHistogram
// takes them.
func (s *histogramSnapshot) bucketsIn(scale float64) map[float64]uint64 {
	m := make(map[float64]uint64, len(s.buckets))
	for i, b := range s.buckets {
		m[roundBound(envoyBucketsMs[i]*scale)] = b
	}
	return m
}

// roundBound removes float noise (0.5*1e-3 = 0.0005000000000000001) so le
// labels print as operators expect.
func roundBound(v float64) float64 {
	const p = 1e9
	return math.Round(v*p) / p
}

// Quantile estimates the q-quantile (0..1) in milliseconds by linear
// interpolation inside the bucket, as PromQL's histogram_quantile does.
func (s *histogramSnapshot) quantileMs(q float64) float64 {
	if s.count == 0 {
		return math.NaN()
	}
	rank := q * float64(s.count)
	var prevCount uint64
	prevBound := 0.0
	for i, c := range s.buckets {
		if float64(c) >= rank {
			inBucket := float64(c - prevCount)
			if inBucket == 0 {
				return envoyBucketsMs[i]
			}
			return prevBound + (envoyBucketsMs[i]-prevBound)*(rank-float64(prevCount))/inBucket
		}
		prevCount, prevBound = c, envoyBucketsMs[i]
	}
	return envoyBucketsMs[len(envoyBucketsMs)-1]
}
