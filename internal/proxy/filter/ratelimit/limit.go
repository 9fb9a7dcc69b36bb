// Package ratelimit decides whether a request fits its rate limit.
//
// Both the per-replica (local) limiter and the Redis-backed (global) limiter
// use the Generic Cell Rate Algorithm (GCRA, ITU-T I.371), which is a token
// bucket stored as one number: the theoretical arrival time (TAT) at which
// the bucket would be full again. GCRA has no window boundaries, so it is
// exact at every instant, unlike fixed windows that admit twice the limit
// around a window edge. A Limit maps one to one onto Envoy's token bucket
// (envoy.config.core.v3.TokenBucket: max_tokens, tokens_per_fill,
// fill_interval) except that tokens are refilled continuously rather than in
// steps of tokens_per_fill, which is what Envoy's own token buckets do since
// they were rebuilt on time since the last fill.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Limit is a token bucket: Burst tokens at most, Requests tokens added per
// Per.
type Limit struct {
	Requests uint32        // tokens per Per (Envoy tokens_per_fill)
	Per      time.Duration // refill period (Envoy fill_interval)
	Burst    uint32        // bucket size (Envoy max_tokens); 0 means Requests
}

// Validate reports a Limit that cannot work, naming the field.
func (l Limit) Validate() error {
	switch {
	case l.Requests == 0:
		return errors.New("requests: must be > 0")
	case l.Per <= 0:
		return errors.New("per: must be > 0")
	case l.Per/time.Duration(l.Requests) < time.Microsecond:
		// The global limiter counts in microseconds (Redis TIME).
		return fmt.Errorf("requests/per: at most %d per %s", l.Per/time.Microsecond, l.Per)
	}
	return nil
}

func (l Limit) burst() int64 {
	if l.Burst == 0 {
		return int64(l.Requests)
	}
	return int64(l.Burst)
}

// gcra holds a Limit's parameters in one time unit (ns locally, µs in Redis).
type gcra struct {
	t   int64 // emission interval: time one token takes to refill
	tau int64 // burst tolerance: burst * t, the time an empty bucket takes to fill
}

func newGCRA(l Limit, unit time.Duration) gcra {
	t := int64(l.Per/unit) / int64(l.Requests)
	if t < 1 {
		t = 1
	}
	return gcra{t: t, tau: t * l.burst()}
}

// take admits one request at now given the stored tat (0: no state, i.e. a
// full bucket). It returns the tat to store and the decision in units.
func (g gcra) take(tat, now int64) (newTAT int64, ok bool, remaining, retry, reset int64) {
	if tat < now {
		tat = now
	}
	if now+g.tau-tat < g.t {
		// Not one token left: the next one is there at tat + t - tau.
		return tat, false, 0, tat + g.t - g.tau - now, tat - now
	}
	tat += g.t
	return tat, true, (now + g.tau - tat) / g.t, 0, tat - now
}

// Decision is the outcome for one request, with what a 429 needs.
type Decision struct {
	Allowed   bool
	Limit     Limit
	Remaining int64         // whole tokens left after this request
	Reset     time.Duration // until the bucket is full again
	// RetryAfter is the wait until one token is available; 0 when allowed.
	RetryAfter time.Duration
	// Err is set when the global limiter could not reach Redis; Allowed then
	// follows the configured FailureMode.
	Err error
}

// SetHeaders writes the X-RateLimit-* fields of Envoy's
// enable_x_ratelimit_headers: DRAFT_VERSION_03
// (draft-ietf-httpapi-ratelimit-headers-03) and, when denied, Retry-After
// (RFC 9110 §10.2.3, whole seconds rounded up so that a client that obeys
// it is never refused again for the same reason).
func (d *Decision) SetHeaders(h *httpmsg.Header) {
	if d.Limit.Requests == 0 {
		return // no limit was applied (fail open without a decision)
	}
	lim := strconv.FormatInt(d.Limit.burst(), 10)
	if w := d.Limit.Per; w%time.Second == 0 {
		// quota policy: Requests per w seconds (draft-03 §4)
		lim += ", " + strconv.FormatUint(uint64(d.Limit.Requests), 10) + ";w=" + strconv.FormatInt(int64(w/time.Second), 10)
	}
	h.Set("x-ratelimit-limit", lim)
	h.Set("x-ratelimit-remaining", strconv.FormatInt(max(d.Remaining, 0), 10))
	h.Set("x-ratelimit-reset", strconv.FormatInt(ceilSeconds(d.Reset), 10))
	if !d.Allowed && d.RetryAfter > 0 {
		h.Set("retry-after", strconv.FormatInt(ceilSeconds(d.RetryAfter), 10))
	}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
