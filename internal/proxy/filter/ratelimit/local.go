package ratelimit

import (
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// LocalConfig configures a per-replica limiter.
type LocalConfig struct {
	Limit Limit
	// MaxKeys bounds the number of buckets held (default 100_000). A key
	// whose bucket is full again is forgotten at once since it carries no
	// information; when every bucket is busy the one closest to full among
	// a small random sample is evicted, which can give that key up to a
	// bucket's worth of extra tokens. That is the price of bounded memory
	// when a client sprays keys (random X-Forwarded-For, random API keys).
	MaxKeys int
}

const (
	shardCount  = 64 // power of two; spreads lock contention on 2–64 cores
	evictSample = 8  // entries looked at when a shard is full (Redis' approximated LRU uses 5)
)

// Local is a set of GCRA buckets keyed by request identity, held in memory.
// Safe for concurrent use; immutable after NewLocal apart from the shards.
type Local struct {
	g           gcra
	limit       Limit
	seed        maphash.Seed
	maxPerShard int
	now         func() time.Time
	sweepEvery  int64 // ns between two shard sweeps: a full rotation takes max(tau, 1s)

	// nextSweep is when the next shard is swept (atomic; read on every
	// call, written once per sweep step so the cache line stays shared).
	nextSweep   atomic.Int64
	sweepCursor atomic.Uint32 // the shard swept next
	shards      [shardCount]shard
}

type shard struct {
	mu sync.Mutex // guards tat and the values it points to
	// tat maps a key to its theoretical arrival time (ns since epoch).
	// Pointer values let an existing key be updated without converting
	// the []byte key to a string, which a map assignment would allocate.
	tat map[string]*int64
	_   [48]byte // keep shards on separate cache lines
}

// NewLocal returns a limiter for cfg. now is the clock (time.Now when nil).
func NewLocal(cfg LocalConfig, now func() time.Time) (*Local, error) {
	if err := cfg.Limit.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 {
		return nil, errors.New("maxKeys: must be >= 0")
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 100_000
	}
	if now == nil {
		now = time.Now
	}
	l := &Local{
		g:           newGCRA(cfg.Limit, time.Nanosecond),
		limit:       cfg.Limit,
		seed:        maphash.MakeSeed(),
		maxPerShard: max(1, (cfg.MaxKeys+shardCount-1)/shardCount),
		now:         now,
	}
	g := l.g.tau
	l.sweepEvery = max(g, int64(time.Second)) / shardCount
	for i := range l.shards {
		l.shards[i].tat = make(map[string]*int64)
	}
	return l, nil
}

// Allow takes one token from key's bucket. key is not retained.
func (l *Local) Allow(key []byte) Decision {
	now := l.now().UnixNano()
	l.maybeSweep(now)
	s := &l.shards[maphash.Bytes(l.seed, key)&(shardCount-1)]
	s.mu.Lock()
	var tat int64
	p := s.tat[string(key)]
	if p != nil {
		tat = *p
	}
	newTAT, ok, remaining, retry, reset := l.g.take(tat, now)
	if ok {
		s.store(key, p, newTAT, now, l.maxPerShard)
	}
	s.mu.Unlock()
	return Decision{
		Allowed:    ok,
		Limit:      l.limit,
		Remaining:  remaining,
		Reset:      time.Duration(reset),
		RetryAfter: time.Duration(retry),
	}
}

// Len reports how many keys are held (for tests and stats).
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// maybeSweep sweeps one shard when it is time, rotating over the shards so
// that each is swept every max(tau, 1s): a key idle for tau has a full
// bucket and is dropped within one more rotation. Spreading the work over
// requests keeps the limiter free of a janitor goroutine and any one request
// from paying for a sweep of every key.
func (l *Local) maybeSweep(now int64) {
	next := l.nextSweep.Load()
	if now < next || !l.nextSweep.CompareAndSwap(next, now+l.sweepEvery) {
		return
	}
	s := &l.shards[l.sweepCursor.Add(1)&(shardCount-1)]
	s.mu.Lock()
	s.sweep(now)
	s.mu.Unlock()
}

// store sets key's tat; p is its current slot, nil for a new key. Called
// with s.mu held.
func (s *shard) store(key []byte, p *int64, tat, now int64, maxKeys int) {
	if p != nil {
		*p = tat
		return
	}
	if len(s.tat) >= maxKeys {
		s.evict(now)
	}
	v := new(int64) // only here: a parameter whose address is taken would escape on every call
	*v = tat
	s.tat[string(key)] = v
}

// sweep drops every full bucket. Called with s.mu held.
func (s *shard) sweep(now int64) {
	for k, tat := range s.tat {
		if *tat <= now {
			delete(s.tat, k)
		}
	}
}

// evict makes room for one key: a full bucket if the sample has one, else
// the sampled bucket nearest to full. Map iteration order is random, which
// makes the sample random. Called with s.mu held.
func (s *shard) evict(now int64) {
	var victim string
	best := int64(-1) << 62
	n := 0
	for k, tat := range s.tat {
		if *tat <= now {
			delete(s.tat, k)
			return
		}
		if n == 0 || *tat < best {
			victim, best = k, *tat
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.tat, victim)
}

func maphashBytes(l *Local, b []byte) uint64  { return maphash.Bytes(l.seed, b) }
func maphashString(l *Local, s string) uint64 { return maphash.String(l.seed, s) }
