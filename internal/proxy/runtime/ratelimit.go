package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/ratelimit"
)

// localRateLimitFilter is envoy.filters.http.local_ratelimit: one token
// bucket per config, shared by every request the config applies to (the
// listener's, or a route's typed_per_filter_config, which replaces it), as
// Envoy's filter without descriptors. Buckets belong to the generation:
// like Envoy, whose per-route buckets live in the route configuration
// object, a new route configuration starts with full buckets.
type localRateLimitFilter struct {
	name    string
	base    *localBucket // nil: the listener config has no bucket
	buckets map[*dpconfig.LocalRateLimit]*localBucket
}

type localBucket struct {
	cfg *dpconfig.LocalRateLimit
	lim *ratelimit.Local // nil: max_tokens 0, every request is limited
}

// localBucketKey is the one key of a config's bucket: Envoy's
// descriptor-less local rate limit is a single bucket.
var localBucketKey = []byte("-")

func newLocalRateLimitFilter(name string, cfg *dpconfig.LocalRateLimit, snap *dpconfig.Snapshot) (*localRateLimitFilter, error) {
	f := &localRateLimitFilter{name: name, buckets: map[*dpconfig.LocalRateLimit]*localBucket{}}
	var err error
	if f.base, err = newLocalBucket(cfg); err != nil {
		return nil, err
	}
	if snap == nil {
		return f, nil
	}
	for _, rc := range snap.Routes {
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				pr, ok := r.PerFilter[name].(*dpconfig.LocalRateLimit)
				if !ok || f.buckets[pr] != nil {
					continue
				}
				b, err := newLocalBucket(pr)
				if err != nil {
					return nil, fmt.Errorf("route %q: %w", r.Name, err)
				}
				f.buckets[pr] = b
			}
		}
	}
	return f, nil
}

func newLocalBucket(cfg *dpconfig.LocalRateLimit) (*localBucket, error) {
	if cfg == nil || cfg.Bucket == nil {
		return nil, nil
	}
	b := &localBucket{cfg: cfg}
	if cfg.Bucket.MaxTokens == 0 {
		return b, nil // Envoy: a bucket that is always empty
	}
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Limit: ratelimit.Limit{
		Requests: cfg.Bucket.TokensPerFill, Per: cfg.Bucket.FillInterval, Burst: cfg.Bucket.MaxTokens,
	}, MaxKeys: 1}, nil)
	if err != nil {
		return nil, fmt.Errorf("token_bucket: %w", err)
	}
	b.lim = lim
	return b, nil
}

func (f *localRateLimitFilter) OnRequest(_ context.Context, s *filter.State) *filter.Reply {
	b := f.base
	if pr, ok := s.PerRoute(f.name).(*dpconfig.LocalRateLimit); ok {
		b = f.buckets[pr]
		if b == nil && pr.Bucket != nil {
			// A route config newer than this generation's build; rare,
			// and the bucket cannot be shared with later requests.
			var err error
			if b, err = newLocalBucket(pr); err != nil {
				return nil
			}
		}
	}
	if b == nil || !chance(b.cfg.EnabledPerMillion) {
		return nil
	}
	if b.lim == nil {
		return f.limited(s, b, nil)
	}
	d := b.lim.Allow(localBucketKey)
	if b.cfg.XRateLimitHeaders {
		// On every response, the upstream's included (Envoy's
		// enable_x_ratelimit_headers).
		d.SetHeaders(&s.ResponseHeaders)
	}
	if d.Allowed || !chance(b.cfg.EnforcedPerMillion) {
		return nil
	}
	return f.limited(s, b, &d)
}

// limited is Envoy's local reply for a limited request: the configured
// status (429) with body "local_rate_limited", flag RL, and Retry-After
// (whole seconds until a token is available, rounded up) when enabled.
func (f *localRateLimitFilter) limited(s *filter.State, b *localBucket, d *ratelimit.Decision) *filter.Reply {
	s.Flag = "RL"
	r := &filter.Reply{Status: b.cfg.Status, Body: "local_rate_limited", Details: "local_rate_limited"}
	// With the X-RateLimit-* headers, SetHeaders already added Retry-After.
	if b.cfg.RetryAfter && !b.cfg.XRateLimitHeaders && d != nil && d.RetryAfter > 0 {
		secs := int64((d.RetryAfter + 999_999_999) / 1_000_000_000)
		r.Header.Set("retry-after", strconv.FormatInt(secs, 10))
	}
	return r
}

// chance reports true for perMillion out of a million calls.
func chance(perMillion uint32) bool {
	return perMillion >= 1_000_000 || (perMillion > 0 && rand.Uint32N(1_000_000) < perMillion)
}
