package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/typedstruct"
)

// TypeURL is the ksgw config type of the rate limit filter, carried in a
// TypedStruct (see package typedstruct).
const TypeURL = "type.ksgw.io/ksgw.filters.http.ratelimit.v1alpha1.RateLimit"

// Config is the filter's JSON config. A route's config replaces the
// listener's rules for that route.
type Config struct {
	// Prefix identifies the policy ("tenant-a/shop-limits"): buckets of
	// different policies never mix, in memory or in Redis.
	Prefix string       `json:"prefix"`
	Rules  []RuleConfig `json:"rules"`
	Redis  *RedisConfig `json:"redis,omitempty"`
	// MaxKeys bounds the buckets per local rule (default 100000).
	MaxKeys int `json:"maxKeys,omitempty"`
	// DisableHeaders drops the X-RateLimit-* fields from responses that
	// were admitted (refusals always carry them).
	DisableHeaders bool `json:"disableHeaders,omitempty"`
}

// RuleConfig is one limit.
type RuleConfig struct {
	Name     string    `json:"name"`
	Key      []KeyJSON `json:"key"`
	Requests uint32    `json:"requests"`
	Per      string    `json:"per"` // Go duration: "1s", "1m"
	Burst    uint32    `json:"burst,omitempty"`
	// Global shares the buckets of every replica through Redis.
	Global bool `json:"global,omitempty"`
}

// KeyJSON is a KeyPart in JSON.
type KeyJSON struct {
	Source     string `json:"source"` // gateway, route, clientIP, header, jwtClaim, apiKey
	Name       string `json:"name,omitempty"`
	PrefixBits int    `json:"prefixBits,omitempty"`
}

// RedisConfig is where global rules keep their buckets.
type RedisConfig struct {
	Address     string `json:"address"`
	FailureMode string `json:"failureMode,omitempty"` // "open" (default) or "closed"
	Timeout     string `json:"timeout,omitempty"`
	Backoff     string `json:"backoff,omitempty"`
	// StatusOnError is the status of a request refused because Redis is
	// unreachable in fail-closed mode (Envoy's status_on_error; 500).
	StatusOnError int `json:"statusOnError,omitempty"`
}

// parsedConfig is a validated Config. Immutable.
type parsedConfig struct {
	prefix        string
	rules         []parsedRule
	redis         *RedisConfig
	mode          FailureMode
	timeout       time.Duration
	backoff       time.Duration
	statusOnError int
	maxKeys       int
	headers       bool
}

type parsedRule struct {
	name   string
	parts  []KeyPart
	limit  Limit
	global bool
}

var sourcesByName = map[string]Source{"gateway": SourceGateway, "route": SourceRoute, "clientIP": SourceClientIP,
	"header": SourceHeader, "jwtClaim": SourceJWTClaim, "apiKey": SourceAPIKey}

func parseConfig(raw []byte) (*parsedConfig, error) {
	var c Config
	if err := typedstruct.Strict(raw, &c); err != nil {
		return nil, err
	}
	if c.Prefix == "" {
		return nil, errors.New("prefix: required")
	}
	if len(c.Rules) == 0 {
		return nil, errors.New("rules: at least one is required")
	}
	p := &parsedConfig{prefix: c.Prefix, maxKeys: c.MaxKeys, headers: !c.DisableHeaders, statusOnError: 500}
	if c.MaxKeys < 0 {
		return nil, errors.New("maxKeys: must be >= 0")
	}
	names := map[string]bool{}
	needRedis := false
	for i, r := range c.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" || names[r.Name] {
			return nil, fmt.Errorf("%s.name: required and unique, got %q", at, r.Name)
		}
		names[r.Name] = true
		per, err := time.ParseDuration(r.Per)
		if err != nil {
			return nil, fmt.Errorf("%s.per: %v", at, err)
		}
		pr := parsedRule{name: r.Name, limit: Limit{Requests: r.Requests, Per: per, Burst: r.Burst}, global: r.Global}
		if err := pr.limit.Validate(); err != nil {
			return nil, fmt.Errorf("%s.%v", at, err)
		}
		if len(r.Key) == 0 {
			return nil, fmt.Errorf("%s.key: at least one part is required (use source gateway for one bucket)", at)
		}
		for j, k := range r.Key {
			src, ok := sourcesByName[k.Source]
			if !ok {
				return nil, fmt.Errorf("%s.key[%d].source: unknown %q", at, j, k.Source)
			}
			part := KeyPart{Source: src, Name: k.Name, PrefixBits: k.PrefixBits}
			if err := part.Validate(); err != nil {
				return nil, fmt.Errorf("%s.key[%d].%v", at, j, err)
			}
			pr.parts = append(pr.parts, part)
		}
		needRedis = needRedis || r.Global
		p.rules = append(p.rules, pr)
	}
	if needRedis && c.Redis == nil {
		return nil, errors.New("redis: required by global rules")
	}
	if c.Redis != nil {
		r := c.Redis
		if r.Address == "" {
			return nil, errors.New("redis.address: required")
		}
		switch r.FailureMode {
		case "", "open":
		case "closed":
			p.mode = FailClosed
		default:
			return nil, fmt.Errorf("redis.failureMode: %q is not open or closed", r.FailureMode)
		}
		for _, d := range []struct {
			field, v string
			dst      *time.Duration
		}{{"timeout", r.Timeout, &p.timeout}, {"backoff", r.Backoff, &p.backoff}} {
			if d.v == "" {
				continue
			}
			v, err := time.ParseDuration(d.v)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("redis.%s: %q is not a positive duration", d.field, d.v)
			}
			*d.dst = v
		}
		if r.StatusOnError != 0 {
			if r.StatusOnError < 400 || r.StatusOnError > 599 {
				return nil, fmt.Errorf("redis.statusOnError: %d is not a 4xx or 5xx status", r.StatusOnError)
			}
			p.statusOnError = r.StatusOnError
		}
		p.redis = r
	}
	return p, nil
}

// Kind is the rate limit filter's typedstruct.Kind. It lives as long as
// the proxy and owns the limiters, so that buckets survive configuration
// pushes (a new generation that kept a rule keeps its counts), and the
// Redis clients. Close releases them.
type Kind struct {
	mu      sync.Mutex
	locals  map[string]*Local // guarded by mu; bucket identity → limiter
	globals map[string]*Global
	clients map[string]*redis.Client // by address
	closed  bool
}

var _ typedstruct.Kind = (*Kind)(nil)

// NewKind returns the rate limit kind; call Close when the proxy stops.
func NewKind() *Kind {
	return &Kind{locals: map[string]*Local{}, globals: map[string]*Global{}, clients: map[string]*redis.Client{}}
}

func (*Kind) TypeURL() string                       { return TypeURL }
func (*Kind) Parse(raw []byte) (any, error)         { return parseConfig(raw) }
func (*Kind) ParseOverride(raw []byte) (any, error) { return parseConfig(raw) }

// Close stops the global limiters' workers and closes the Redis clients.
func (k *Kind) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	for _, g := range k.globals {
		g.Close()
	}
	for _, c := range k.clients {
		c.Close()
	}
	clear(k.globals)
	clear(k.clients)
	clear(k.locals)
}

// limiter is a built rule: its key parts and one of local or global.
type limiter struct {
	rule   parsedRule
	local  *Local
	global *Global
}

type built struct {
	cfg      *parsedConfig
	limiters []limiter
}

func (k *Kind) build(c *parsedConfig) (*built, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, errors.New("ratelimit: closed")
	}
	b := &built{cfg: c}
	for _, r := range c.rules {
		// The identity of a bucket set: same policy, rule and limit.
		id := c.prefix + "/" + r.name + "/" + strconv.FormatUint(uint64(r.limit.Requests), 10) + "/" + r.limit.Per.String() + "/" + strconv.FormatUint(uint64(r.limit.Burst), 10)
		l := limiter{rule: r}
		if r.global {
			g := k.globals[id]
			if g == nil {
				client := k.clients[c.redis.Address]
				if client == nil {
					client = redis.NewClient(RedisOptions(c.redis.Address))
					k.clients[c.redis.Address] = client
				}
				var err error
				g, err = NewGlobal(client, GlobalConfig{Limit: r.limit, Prefix: "ksgw:rl:" + id + ":", FailureMode: c.mode, Timeout: c.timeout, Backoff: c.backoff})
				if err != nil {
					return nil, fmt.Errorf("rules %s: %w", r.name, err)
				}
				k.globals[id] = g
			}
			l.global = g
		} else {
			lo := k.locals[id]
			if lo == nil {
				var err error
				if lo, err = NewLocal(LocalConfig{Limit: r.limit, MaxKeys: c.maxKeys}, nil); err != nil {
					return nil, fmt.Errorf("rules %s: %w", r.name, err)
				}
				k.locals[id] = lo
			}
			l.local = lo
		}
		b.limiters = append(b.limiters, l)
	}
	return b, nil
}

// Build returns the listener's filter with the limiters of its config and
// of every route override in the snapshot.
func (k *Kind) Build(_ context.Context, p filter.BuildParams) (filter.Filter, error) {
	c, ok := p.Config.(*parsedConfig)
	if !ok {
		return nil, fmt.Errorf("ratelimit: config is %T", p.Config)
	}
	base, err := k.build(c)
	if err != nil {
		return nil, err
	}
	f := &Filter{name: p.Name, base: base, routes: map[*parsedConfig]*built{}}
	if p.Snapshot != nil {
		for _, rc := range p.Snapshot.Routes {
			for _, vh := range rc.VirtualHosts {
				for _, r := range vh.Routes {
					if pc, ok := r.PerFilter[p.Name].(*parsedConfig); ok && f.routes[pc] == nil {
						if f.routes[pc], err = k.build(pc); err != nil {
							return nil, err
						}
					}
				}
			}
		}
	}
	return f, nil
}

// Filter is one listener's rate limit filter. Immutable after Build.
type Filter struct {
	name   string
	base   *built
	routes map[*parsedConfig]*built
}

var _ filter.Filter = (*Filter)(nil)

// OnRequest takes a token from every rule whose key the request has. The
// first refusal answers 429 (Envoy's local_ratelimit and ratelimit
// filters, response flag RL) with Retry-After and X-RateLimit-*; an
// admitted request carries the X-RateLimit-* of the rule closest to its
// limit.
func (f *Filter) OnRequest(ctx context.Context, s *filter.State) *filter.Reply {
	b := f.base
	if pc, ok := s.PerRoute(f.name).(*parsedConfig); ok {
		if rb := f.routes[pc]; rb != nil {
			b = rb
		}
	}
	var scratch [128]byte
	a := stateAttrs{s: s}
	var tightest Decision
	have := false
	for i := range b.limiters {
		l := &b.limiters[i]
		key, ok := AppendKey(scratch[:0], l.rule.parts, a)
		if !ok {
			continue // the request lacks a key part: this rule does not apply
		}
		var d Decision
		if l.global != nil {
			d = l.global.Allow(ctx, key)
		} else {
			d = l.local.Allow(key)
		}
		if !d.Allowed {
			if d.Err != nil {
				s.Flag = "RLSE" // Envoy: rate limit service error
				return filter.Deny(b.cfg.statusOnError, "rate_limit_unavailable", "rate limit service unavailable")
			}
			s.Flag = "RL"
			rep := filter.Deny(429, "rate_limited", "rate limit "+l.rule.name+" exceeded")
			d.SetHeaders(&rep.Header)
			return rep
		}
		if d.Limit.Requests != 0 && (!have || d.Remaining < tightest.Remaining) {
			tightest, have = d, true
		}
	}
	if have && b.cfg.headers {
		tightest.SetHeaders(&s.ResponseHeaders)
	}
	return nil
}

// stateAttrs adapts filter.State to Attributes.
type stateAttrs struct{ s *filter.State }

func (a stateAttrs) Gateway() string      { return a.s.Listener }
func (a stateAttrs) ClientIP() netip.Addr { return a.s.Client }
func (a stateAttrs) Route() string {
	if a.s.Route == nil {
		return ""
	}
	return a.s.Route.Name
}
func (a stateAttrs) Header(name string) (string, bool) { return a.s.Request.Header.Lookup(name) }
func (a stateAttrs) APIKeyIdentity() (string, bool) {
	return a.s.Identity.APIKeyClient, a.s.Identity.APIKeyClient != ""
}

// Claim reads a claim of the verified JWT; a dotted name walks nested
// objects. Strings are used as they are, numbers and booleans in their
// JSON form; other values (objects, arrays) do not make a key.
func (a stateAttrs) Claim(name string) (string, bool) {
	j := a.s.Identity.JWT
	if j == nil {
		return "", false
	}
	var v any = j.Claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[part]; !ok {
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
