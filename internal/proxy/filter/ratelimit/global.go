package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed gcra.lua
var gcraLua string

// FailureMode is what the global limiter answers when Redis cannot be
// reached, as Envoy's ratelimit filter failure_mode_deny.
type FailureMode uint8

const (
	// FailOpen admits requests while Redis is unreachable (Envoy's default):
	// an outage of the limiter is not an outage of the gateway.
	FailOpen FailureMode = iota
	// FailClosed refuses them; the filter answers Envoy's status_on_error
	// (500 unless configured).
	FailClosed
)

// GlobalConfig configures a limiter shared by all replicas through Redis.
type GlobalConfig struct {
	Limit Limit
	// Prefix namespaces the Redis keys, e.g. "ksgw:rl:tenant-a/gw/policy/0:".
	Prefix      string
	FailureMode FailureMode
	// Timeout bounds one round trip (default 50ms). A request never waits
	// longer than this for Redis.
	Timeout time.Duration
	// Backoff is how long Redis is not asked again after a failure
	// (default 1s): requests meanwhile get the failure mode at once instead
	// of each waiting for a timeout.
	Backoff time.Duration
	// MaxBatch bounds the requests sent in one round trip (default 512).
	MaxBatch int
	// Workers is the number of round trips in flight at once (default 2).
	Workers int
	// MaxDenied bounds the keys remembered as over limit (default 100_000).
	MaxDenied int
	// Now, when set, is the clock: sent to Redis instead of Redis' TIME and
	// used for the refusal cache and the backoff. For tests of exact edges
	// only; production uses the server clock so that replicas with skewed
	// clocks still share one bucket timeline.
	Now func() time.Time
}

func (c *GlobalConfig) defaults() error {
	if err := c.Limit.Validate(); err != nil {
		return err
	}
	if c.Prefix == "" {
		return errors.New("prefix: required")
	}
	if c.FailureMode > FailClosed {
		return fmt.Errorf("failureMode: unknown %d", c.FailureMode)
	}
	if c.Timeout < 0 || c.Backoff < 0 || c.MaxBatch < 0 || c.Workers < 0 || c.MaxDenied < 0 {
		return errors.New("timeout, backoff, maxBatch, workers, maxDenied: must be >= 0")
	}
	if c.Timeout == 0 {
		c.Timeout = 50 * time.Millisecond
	}
	if c.Backoff == 0 {
		c.Backoff = time.Second
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 512
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.MaxDenied == 0 {
		c.MaxDenied = 100_000
	}
	return nil
}

// Global is a GCRA limiter whose buckets live in Redis, so that every
// replica of a gateway draws from the same buckets.
//
// Round trips are batched without adding latency (group commit): a request
// that finds a worker idle goes to Redis at once; requests that arrive
// while round trips are in flight queue and leave together in the next one,
// one script call per distinct key carrying the number of requests for it.
// Redis decides every token, so batching costs no accuracy: the count
// admitted across replicas is exactly what one bucket allows. A key that
// Redis refused is remembered as refused until the time Redis said its next
// token arrives; since other replicas can only take tokens, never add them,
// that answer stays right, and a flood of refused requests costs no round
// trips at all. The cost is latency: an admitted request waits for one
// round trip (bounded by Timeout).
//
// Pre-allocating tokens to replicas (leases) would remove that wait but
// makes the limit inexact: tokens leased to an idle replica are withheld
// from busy ones, so the total admitted falls below the limit, or above it
// when leases are not returned. ksgw chooses exactness.
type Global struct {
	cfg    GlobalConfig
	g      gcra          // in microseconds
	client redis.Cmdable // not owned
	script *redis.Script
	queue  chan *pending
	denied *Local // key → refused-until, reusing the sharded map; not a limiter

	downUntil atomic.Int64 // unix ns until which Redis is not asked

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // joins the workers
	closed chan struct{}  // closed by Close
	once   sync.Once
}

type pending struct {
	key  string
	done chan Decision // capacity 1
}

var pendingPool = sync.Pool{New: func() any { return &pending{done: make(chan Decision, 1)} }}

// NewGlobal starts a limiter on client, which the caller owns and closes
// after Close. The workers run until Close.
func NewGlobal(client redis.Cmdable, cfg GlobalConfig) (*Global, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	g := &Global{
		cfg:    cfg,
		g:      newGCRA(cfg.Limit, time.Microsecond),
		client: client,
		script: redis.NewScript(gcraLua),
		queue:  make(chan *pending, cfg.MaxBatch*cfg.Workers),
		closed: make(chan struct{}),
	}
	// The refusal cache is a Local with the same shard machinery; its
	// entries are read with refusedUntil, never with Allow.
	g.denied, _ = NewLocal(LocalConfig{Limit: Limit{Requests: 1, Per: time.Second}, MaxKeys: cfg.MaxDenied}, nil)
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for i := 0; i < cfg.Workers; i++ {
		g.wg.Add(1)
		go g.work()
	}
	return g, nil
}

// Close stops the workers; requests still queued get the failure mode.
func (g *Global) Close() {
	g.once.Do(func() {
		close(g.closed)
		g.cancel()
		g.wg.Wait()
		g.drainQueue(errors.New("ratelimit: limiter closed"))
	})
}

// Allow takes one token from key's shared bucket. key is not retained.
func (g *Global) Allow(ctx context.Context, key []byte) Decision {
	now := g.now()
	if until, ok := g.refusedUntil(key, now); ok {
		// until = tat + t - tau, so the bucket is full at until + tau - t.
		wait := until.Sub(now)
		return Decision{Limit: g.cfg.Limit, RetryAfter: wait, Reset: wait + time.Duration(g.g.tau-g.g.t)*time.Microsecond}
	}
	if now.UnixNano() < g.downUntil.Load() {
		return g.failure(errRedisDown)
	}
	p := pendingPool.Get().(*pending)
	p.key = g.cfg.Prefix + string(key)
	select {
	case g.queue <- p:
	case <-g.closed:
		pendingPool.Put(p)
		return g.failure(errors.New("ratelimit: limiter closed"))
	case <-ctx.Done():
		pendingPool.Put(p)
		return g.failure(ctx.Err())
	}
	select {
	case d := <-p.done:
		pendingPool.Put(p)
		return d
	case <-g.closed:
		// The worker may still answer into p.done (capacity 1, so it never
		// blocks); p is left to the collector rather than reused.
		select {
		case d := <-p.done:
			return d
		default:
			return g.failure(errors.New("ratelimit: limiter closed"))
		}
	}
}

// RedisOptions returns client options suited to the limiter: the context
// deadline bounds every round trip (go-redis otherwise waits ReadTimeout,
// 3s), and no retries since a failed round trip is answered by the
// FailureMode and Backoff.
func RedisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           100 * time.Millisecond,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
	}
}

var errRedisDown = errors.New("ratelimit: redis unreachable, in backoff")

func (g *Global) now() time.Time {
	if g.cfg.Now != nil {
		return g.cfg.Now()
	}
	return time.Now()
}

func (g *Global) failure(err error) Decision {
	return Decision{Allowed: g.cfg.FailureMode == FailOpen, Err: err}
}

func (g *Global) work() {
	defer g.wg.Done()
	batch := make([]*pending, 0, g.cfg.MaxBatch)
	byKey := make(map[string][]*pending)
	for {
		batch = batch[:0]
		select {
		case <-g.ctx.Done():
			return
		case p := <-g.queue:
			batch = append(batch, p)
		}
	fill:
		for len(batch) < g.cfg.MaxBatch {
			select {
			case p := <-g.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		g.flush(batch, byKey)
	}
}

// flush sends one pipelined round trip: one script call per distinct key.
func (g *Global) flush(batch []*pending, byKey map[string][]*pending) {
	clear(byKey)
	keys := make([]string, 0, len(batch))
	for _, p := range batch {
		if _, ok := byKey[p.key]; !ok {
			keys = append(keys, p.key)
		}
		byKey[p.key] = append(byKey[p.key], p)
	}
	sent := g.now()
	if sent.UnixNano() < g.downUntil.Load() {
		g.answerAll(batch, errRedisDown)
		return
	}
	cmds, err := g.roundTrip(keys, byKey, sent)
	if err != nil {
		g.downUntil.Store(g.now().Add(g.cfg.Backoff).UnixNano())
		g.answerAll(batch, err)
		return
	}
	for i, key := range keys {
		waiting := byKey[key]
		res, err := cmds[i].Int64Slice()
		if err != nil || len(res) != 4 {
			if err == nil {
				err = fmt.Errorf("ratelimit: script returned %d values", len(res))
			}
			for _, p := range waiting {
				p.done <- g.failure(err)
			}
			continue
		}
		admitted, remaining, retry, reset := res[0], res[1], res[2], res[3]
		for j, p := range waiting {
			d := Decision{Limit: g.cfg.Limit, Reset: time.Duration(reset) * time.Microsecond}
			if int64(j) < admitted {
				d.Allowed = true
				// Tokens left after the j-th admitted request of the batch.
				d.Remaining = remaining + admitted - 1 - int64(j)
			} else {
				d.RetryAfter = time.Duration(retry) * time.Microsecond
			}
			p.done <- d
		}
		if admitted < int64(len(waiting)) && retry > 0 {
			// Redis evaluated after `sent`, so sent+retry is no later than
			// the real time of the next token: refusing until then is exact.
			g.refuse(key[len(g.cfg.Prefix):], sent.Add(time.Duration(retry)*time.Microsecond))
		}
	}
}

func (g *Global) roundTrip(keys []string, byKey map[string][]*pending, sent time.Time) ([]*redis.Cmd, error) {
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.Timeout)
	defer cancel()
	nowArg := ""
	if g.cfg.Now != nil {
		nowArg = fmt.Sprint(g.cfg.Now().UnixMicro())
	}
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(keys))
		_, err := g.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = g.script.EvalSha(ctx, p, []string{k}, g.g.t, g.g.tau, len(byKey[k]), nowArg)
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run()
	if err != nil && isNoScript(cmds) {
		// Redis restarted (or flushed its script cache): load and retry once.
		if err = g.script.Load(ctx, g.client).Err(); err == nil {
			cmds, err = run()
		}
	}
	if err != nil && !isScriptError(cmds) {
		return nil, err
	}
	return cmds, nil
}

func isNoScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if c != nil && c.Err() != nil && strings.HasPrefix(c.Err().Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// isScriptError tells a per-command error (answered per key) from a
// connection error (Redis unreachable: backoff).
func isScriptError(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if c == nil || c.Err() == nil {
			continue
		}
		var re redis.Error
		if !errors.As(c.Err(), &re) {
			return false
		}
	}
	return true
}

func (g *Global) answerAll(batch []*pending, err error) {
	for _, p := range batch {
		p.done <- g.failure(err)
	}
}

func (g *Global) drainQueue(err error) {
	for {
		select {
		case p := <-g.queue:
			p.done <- g.failure(err)
		default:
			return
		}
	}
}

func (g *Global) refuse(key string, until time.Time) {
	s := &g.denied.shards[maphashString(g.denied, key)&(shardCount-1)]
	now := g.now().UnixNano()
	s.mu.Lock()
	s.store([]byte(key), s.tat[key], until.UnixNano(), now, g.denied.maxPerShard)
	s.mu.Unlock()
}

func (g *Global) refusedUntil(key []byte, now time.Time) (time.Time, bool) {
	l := g.denied
	s := &l.shards[maphashBytes(l, key)&(shardCount-1)]
	n := now.UnixNano()
	l.maybeSweep(n)
	s.mu.Lock()
	var until int64
	if p := s.tat[string(key)]; p != nil {
		until = *p
	}
	s.mu.Unlock()
	if until <= n {
		return time.Time{}, false
	}
	return time.Unix(0, until), true
}
