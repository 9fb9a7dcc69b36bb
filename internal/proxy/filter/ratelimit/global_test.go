package ratelimit

import (
	"context"
	"math"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ksgw/ksgw/internal/testing/redisserver"
)

func newClient(t testing.TB, srv *redisserver.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(RedisOptions(srv.Addr()))
	t.Cleanup(func() { c.Close() })
	return c
}

func newGlobal(t testing.TB, c redis.Cmdable, cfg GlobalConfig) *Global {
	t.Helper()
	g, err := NewGlobal(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// TestGlobalExactAtEdges drives the Lua script with an explicit clock: the
// token arrives exactly one emission interval after the bucket emptied,
// not a microsecond earlier.
func TestGlobalExactAtEdges(t *testing.T) {
	srv := redisserver.Start(t)
	c := newClock()
	g := newGlobal(t, newClient(t, srv), GlobalConfig{
		Limit: Limit{Requests: 10, Per: time.Second, Burst: 3}, Prefix: "edge:", Now: c.Now, Timeout: 5 * time.Second})
	ctx := context.Background()
	steps := []struct {
		advance   time.Duration
		allowed   bool
		remaining int64
		retry     time.Duration
	}{
		{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0},
		{0, false, 0, 100 * time.Millisecond},
		{99999 * time.Microsecond, false, 0, time.Microsecond},
		{time.Microsecond, true, 0, 0},
		{time.Hour, true, 2, 0},
	}
	for i, s := range steps {
		c.Advance(s.advance)
		d := g.Allow(ctx, []byte("k"))
		if d.Err != nil {
			t.Fatalf("step %d: %v", i, d.Err)
		}
		if d.Allowed != s.allowed || d.Remaining != s.remaining || (!d.Allowed && d.RetryAfter != s.retry) {
			t.Fatalf("step %d: got allowed=%v remaining=%d retry=%v, want %v %d %v",
				i, d.Allowed, d.Remaining, d.RetryAfter, s.allowed, s.remaining, s.retry)
		}
	}
}

// hammer sends n requests for key from workers goroutines spread over the
// limiters and counts the admitted ones.
func hammer(t *testing.T, limiters []*Global, key string, workers int, until func(i int) bool) (admitted, total int64) {
	admitted, total, _ = hammerTimed(t, limiters, key, workers, until)
	return admitted, total
}

// hammerTimed also returns when the first request was sent: the bucket is
// full before that, so the time before it adds no tokens.
func hammerTimed(t *testing.T, limiters []*Global, key string, workers int, until func(i int) bool) (admitted, total int64, first time.Time) {
	t.Helper()
	var a, n, firstNS atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(g *Global) {
			defer wg.Done()
			for i := 0; until(i); i++ {
				if i == 0 {
					firstNS.CompareAndSwap(0, time.Now().UnixNano())
				}
				d := g.Allow(context.Background(), []byte(key))
				if d.Err != nil {
					t.Errorf("unexpected redis error: %v", d.Err)
					return
				}
				n.Add(1)
				if d.Allowed {
					a.Add(1)
				}
			}
		}(limiters[w%len(limiters)])
	}
	wg.Wait()
	return a.Load(), n.Load(), time.Unix(0, firstNS.Load())
}

func twoReplicas(t *testing.T, srv *redisserver.Server, limit Limit) []*Global {
	// Two clients, two limiters: the only thing the replicas share is Redis.
	cfg := GlobalConfig{Limit: limit, Prefix: "gw/policy/0:", Timeout: time.Second}
	gs := []*Global{newGlobal(t, newClient(t, srv), cfg), newGlobal(t, newClient(t, srv), cfg)}
	for _, g := range gs {
		// Connect and load the script first, so that the measured time is
		// time during which the bucket was being drawn from.
		if d := g.Allow(context.Background(), []byte("warm-up")); d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	return gs
}

func within(t *testing.T, what string, got int64, want float64) {
	t.Helper()
	if dev := math.Abs(float64(got)-want) / want; dev > 0.02 {
		t.Fatalf("%s: admitted %d, want %.1f ±2%% (off by %.2f%%)", what, got, want, 100*dev)
	}
	t.Logf("%s: admitted %d, expected %.1f", what, got, want)
}

func TestGlobalTwoReplicasShareTheBurst(t *testing.T) {
	srv := redisserver.Start(t)
	// 1000 per hour: during the test the refill adds well under one token.
	limiters := twoReplicas(t, srv, Limit{Requests: 1000, Per: time.Hour, Burst: 1000})
	admitted, total := hammer(t, limiters, "client-a", 16, func(i int) bool { return i < 250 })
	if total != 4000 {
		t.Fatalf("sent %d requests, want 4000", total)
	}
	within(t, "burst of 1000 across two replicas", admitted, 1000)
}

func TestGlobalTwoReplicasHoldTheRate(t *testing.T) {
	srv := redisserver.Start(t)
	// A burst of one second of tokens: a scheduling stall of the load
	// generator shorter than that (the test machine is shared) loses no
	// tokens, so the count measures the limiter, not the machine.
	limit := Limit{Requests: 500, Per: time.Second, Burst: 500}
	limiters := twoReplicas(t, srv, limit)
	deadline := time.Now().Add(1200 * time.Millisecond)
	admitted, _, first := hammerTimed(t, limiters, "client-b", 8, func(int) bool { return time.Now().Before(deadline) })
	elapsed := time.Since(first)
	// GCRA admits the burst, then one request per interval for as long as
	// the load lasts.
	within(t, "500/s with burst 500 across two replicas", admitted, 500+500*elapsed.Seconds())
}

// TestGlobalTwoReplicasExactOnSharedClock repeats the rate test on a clock
// that only the test moves, so that the expected count is exact: every
// step of 100ms adds 50 tokens, and concurrent requests from both replicas
// (through batching and the refusal cache) take exactly those.
func TestGlobalTwoReplicasExactOnSharedClock(t *testing.T) {
	srv := redisserver.Start(t)
	c := newClock()
	cfg := GlobalConfig{Limit: Limit{Requests: 500, Per: time.Second, Burst: 50}, Prefix: "clock:", Timeout: time.Second, Now: c.Now}
	limiters := []*Global{newGlobal(t, newClient(t, srv), cfg), newGlobal(t, newClient(t, srv), cfg)}
	var admitted int64
	for step := 0; step <= 10; step++ {
		a, _ := hammer(t, limiters, "client-c", 8, func(i int) bool { return i < 25 })
		admitted += a
		c.Advance(100 * time.Millisecond)
	}
	if want := int64(50 + 10*50); admitted != want {
		t.Fatalf("admitted %d, want exactly %d", admitted, want)
	}
}

// TestGlobalBatchesRoundTrips counts the script calls Redis executed: with
// many concurrent requests on one key they share round trips.
func TestGlobalBatchesRoundTrips(t *testing.T) {
	srv := redisserver.Start(t)
	client := newClient(t, srv)
	g := newGlobal(t, client, GlobalConfig{Limit: Limit{Requests: 1 << 19, Per: time.Second}, Prefix: "batch:", Timeout: time.Second})
	admitted, total := hammer(t, []*Global{g}, "k", 64, func(i int) bool { return i < 50 })
	if admitted != total {
		t.Fatalf("admitted %d of %d under a limit far above the load", admitted, total)
	}
	calls := evalshaCalls(t, client)
	t.Logf("%d requests in %d round trips", total, calls)
	if calls >= total/2 {
		t.Fatalf("%d script calls for %d concurrent requests: not batched", calls, total)
	}
}

func evalshaCalls(t *testing.T, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_evalsha:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("no evalsha in commandstats:\n%s", info)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func TestGlobalRedisUnreachable(t *testing.T) {
	tests := []struct {
		name        string
		mode        FailureMode
		wantAllowed bool
	}{
		{"fail open admits while redis is down", FailOpen, true},
		{"fail closed refuses while redis is down", FailClosed, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			g := newGlobal(t, newClient(t, srv), GlobalConfig{
				Limit:  Limit{Requests: 1000, Per: time.Second},
				Prefix: "down:", FailureMode: tc.mode,
				Timeout: 2 * time.Second, Backoff: 100 * time.Millisecond,
			})
			ctx := context.Background()
			if d := g.Allow(ctx, []byte("k")); d.Err != nil || !d.Allowed {
				t.Fatalf("with redis up: %+v", d)
			}

			srv.Stop() // mid-test
			for i := 0; i < 20; i++ {
				start := time.Now()
				d := g.Allow(ctx, []byte("k"))
				if d.Err == nil || d.Allowed != tc.wantAllowed {
					t.Fatalf("request %d with redis down: allowed=%v err=%v, want allowed=%v and an error", i, d.Allowed, d.Err, tc.wantAllowed)
				}
				if took := time.Since(start); took > 3*time.Second {
					t.Fatalf("request %d waited %v for a dead redis", i, took)
				}
			}

			// Redis back (empty, without the script): the limiter recovers
			// once the backoff has passed.
			srv.Start()
			deadline := time.Now().Add(5 * time.Second)
			for {
				d := g.Allow(ctx, []byte("k"))
				if d.Err == nil && d.Allowed {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery 5s after redis came back: %+v", d)
				}
				time.Sleep(20 * time.Millisecond) // backoff is time-based: nothing to await
			}
		})
	}
}

func TestGlobalCloseAnswersWaiters(t *testing.T) {
	srv := redisserver.Start(t)
	g, err := NewGlobal(newClient(t, srv), GlobalConfig{Limit: Limit{Requests: 10, Per: time.Second}, Prefix: "close:"})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if d := g.Allow(context.Background(), []byte("k")); d.Err == nil || !d.Allowed {
		t.Fatalf("after Close a fail-open limiter answers allowed with an error, got %+v", d)
	}
}

func TestGlobalConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  GlobalConfig
		want string
	}{
		{"no prefix", GlobalConfig{Limit: Limit{Requests: 1, Per: time.Second}}, "prefix: required"},
		{"bad limit", GlobalConfig{Prefix: "p"}, "requests: must be > 0"},
		{"unknown failure mode", GlobalConfig{Limit: Limit{Requests: 1, Per: time.Second}, Prefix: "p", FailureMode: 7}, "failureMode: unknown 7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewGlobal(redis.NewClient(&redis.Options{Addr: "127.0.8.1:1"}), tc.cfg)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func BenchmarkGlobalAllow(b *testing.B) {
	srv := redisserver.Start(b)
	g := newGlobal(b, newClient(b, srv), GlobalConfig{Limit: Limit{Requests: 1 << 19, Per: time.Second}, Prefix: "bench:", Timeout: time.Second})
	b.ReportAllocs()
	b.SetParallelism(16) // concurrent requests, as a proxy has
	b.RunParallel(func(pb *testing.PB) {
		key := []byte("client")
		for pb.Next() {
			if d := g.Allow(context.Background(), key); d.Err != nil {
				b.Error(d.Err)
				return
			}
		}
	})
}
