package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// clock is a manual clock for deterministic tests.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestLocalTokenBucket(t *testing.T) {
	type step struct {
		advance   time.Duration
		allowed   bool
		remaining int64
		retry     time.Duration
	}
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{
			name:  "burst is served at once then the next token comes after one interval",
			limit: Limit{Requests: 10, Per: time.Second, Burst: 3},
			steps: []step{
				{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0},
				{0, false, 0, 100 * time.Millisecond},
				{99 * time.Millisecond, false, 0, time.Millisecond},
				{time.Millisecond, true, 0, 0}, // exactly at the edge
				{0, false, 0, 100 * time.Millisecond},
			},
		},
		{
			name:  "burst defaults to requests per period",
			limit: Limit{Requests: 2, Per: time.Minute},
			steps: []step{{0, true, 1, 0}, {0, true, 0, 0}, {0, false, 0, 30 * time.Second}},
		},
		{
			name:  "an idle key refills to the burst and no further",
			limit: Limit{Requests: 1, Per: time.Second, Burst: 2},
			steps: []step{
				{0, true, 1, 0}, {0, true, 0, 0},
				{time.Hour, true, 1, 0}, {0, true, 0, 0}, {0, false, 0, time.Second},
			},
		},
		{
			name:  "refused requests do not consume tokens",
			limit: Limit{Requests: 1, Per: time.Second, Burst: 1},
			steps: []step{
				{0, true, 0, 0},
				{500 * time.Millisecond, false, 0, 500 * time.Millisecond},
				{400 * time.Millisecond, false, 0, 100 * time.Millisecond},
				{100 * time.Millisecond, true, 0, 0},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			l, err := NewLocal(LocalConfig{Limit: tc.limit}, c.Now)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				c.Advance(s.advance)
				d := l.Allow([]byte("k"))
				if d.Allowed != s.allowed || d.Remaining != s.remaining || d.RetryAfter != s.retry {
					t.Fatalf("step %d: got allowed=%v remaining=%d retry=%v, want %v %d %v",
						i, d.Allowed, d.Remaining, d.RetryAfter, s.allowed, s.remaining, s.retry)
				}
			}
		})
	}
}

func TestLocalKeysAreIndependent(t *testing.T) {
	c := newClock()
	l, _ := NewLocal(LocalConfig{Limit: Limit{Requests: 1, Per: time.Minute}}, c.Now)
	if !l.Allow([]byte("a")).Allowed || !l.Allow([]byte("b")).Allowed {
		t.Fatal("first request of each key must pass")
	}
	if l.Allow([]byte("a")).Allowed {
		t.Fatal("second request of a must be refused")
	}
}

func TestLocalMemoryIsBounded(t *testing.T) {
	c := newClock()
	const maxKeys = 640
	l, _ := NewLocal(LocalConfig{Limit: Limit{Requests: 1, Per: time.Hour}, MaxKeys: maxKeys}, c.Now)
	for i := 0; i < 20*maxKeys; i++ {
		l.Allow(fmt.Appendf(nil, "spray-%d", i))
	}
	if n := l.Len(); n > maxKeys {
		t.Fatalf("holds %d keys, bound is %d", n, maxKeys)
	}
}

func TestLocalForgetsIdleKeys(t *testing.T) {
	c := newClock()
	l, _ := NewLocal(LocalConfig{Limit: Limit{Requests: 10, Per: time.Second}}, c.Now)
	for i := 0; i < 1000; i++ {
		l.Allow(fmt.Appendf(nil, "k%d", i))
	}
	if l.Len() != 1000 {
		t.Fatalf("Len = %d, want 1000", l.Len())
	}
	// Every bucket is full again after tau (1s); one rotation of sweeps
	// (a shard every tau/64) later they are gone.
	c.Advance(2 * time.Second)
	for i := 0; i < 2*shardCount; i++ {
		c.Advance(time.Second / shardCount)
		l.Allow(fmt.Appendf(nil, "other%d", i%3))
	}
	if n := l.Len(); n > 3 {
		t.Fatalf("Len = %d after idle period, want at most the 3 live keys", n)
	}
}

func TestLocalConcurrentAdmitsExactlyTheBurst(t *testing.T) {
	c := newClock() // frozen: no refill during the test
	l, _ := NewLocal(LocalConfig{Limit: Limit{Requests: 1, Per: time.Hour, Burst: 500}}, c.Now)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if l.Allow([]byte("shared")).Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 500 {
		t.Fatalf("admitted %d, want 500", admitted.Load())
	}
}

func TestLimitValidate(t *testing.T) {
	tests := []struct {
		name  string
		limit Limit
		want  string
	}{
		{"zero requests", Limit{Per: time.Second}, "requests: must be > 0"},
		{"zero period", Limit{Requests: 1}, "per: must be > 0"},
		{"finer than a microsecond", Limit{Requests: 2_000_000, Per: time.Second}, "requests/per: at most 1000000 per 1s"},
		{"valid", Limit{Requests: 5, Per: time.Second, Burst: 10}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limit.Validate()
			if got := fmt.Sprint(err); (err == nil) != (tc.want == "") || (err != nil && got != tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecisionHeaders(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want map[string]string
	}{
		{
			name: "refused request carries retry-after rounded up",
			d: Decision{Limit: Limit{Requests: 10, Per: time.Second, Burst: 20},
				RetryAfter: 1100 * time.Millisecond, Reset: 2*time.Second + 1},
			want: map[string]string{"x-ratelimit-limit": "20, 10;w=1", "x-ratelimit-remaining": "0",
				"x-ratelimit-reset": "3", "retry-after": "2"},
		},
		{
			name: "admitted request has no retry-after",
			d:    Decision{Allowed: true, Limit: Limit{Requests: 3, Per: 1500 * time.Millisecond}, Remaining: 2, Reset: 500 * time.Millisecond},
			want: map[string]string{"x-ratelimit-limit": "3", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "1"},
		},
		{
			name: "fail-open decision without a limit sets nothing",
			d:    Decision{Allowed: true},
			want: map[string]string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h httpmsg.Header
			tc.d.SetHeaders(&h)
			if h.Len() != len(tc.want) {
				t.Fatalf("got %d fields %v, want %v", h.Len(), h.Fields(), tc.want)
			}
			for k, v := range tc.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l, _ := NewLocal(LocalConfig{Limit: Limit{Requests: 1 << 19, Per: time.Second}}, nil)
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "10.0.%d.%d", i/256, i%256)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i&1023])
			i++
		}
	})
}
