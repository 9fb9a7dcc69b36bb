package waf

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	"github.com/ksgw/ksgw/internal/mask"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/typedstruct"
)

// TypeURL is the ksgw config type of the WAF filter, carried in a
// TypedStruct (see package typedstruct).
const TypeURL = "type.ksgw.io/ksgw.filters.http.waf.v1alpha1.WAF"

// Config is the filter's JSON config (listener-level or per route; a
// route's config replaces the listener's).
type Config struct {
	Rego *struct {
		Modules []struct {
			Name    string `json:"name"`
			Source  string `json:"source"`
			Version string `json:"version,omitempty"` // "", "v0" or "v1"
		} `json:"modules"`
		MaxBody int `json:"maxBody,omitempty"`
	} `json:"rego,omitempty"`
	CRS *struct {
		ParanoiaLevel    int      `json:"paranoiaLevel,omitempty"`
		AnomalyThreshold int      `json:"anomalyThreshold,omitempty"`
		ExcludeRules     []int    `json:"excludeRules,omitempty"`
		ExcludeTags      []string `json:"excludeTags,omitempty"`
		DetectionOnly    bool     `json:"detectionOnly,omitempty"`
		MaxBody          int      `json:"maxBody,omitempty"`
	} `json:"crs,omitempty"`
}

// compiled is a parsed Config: the prepared Rego policy and the CRS rule
// set. Immutable; shared by generations.
type compiled struct {
	rego    *Policy
	crs     *CRS
	maxBody int // body bytes either engine reads
}

// Kind is the WAF filter's typedstruct.Kind. It lives as long as the proxy
// and caches compiled CRS rule sets by config, since compiling one takes
// about a second and configs are re-decoded on every xDS push.
type Kind struct {
	mu  sync.Mutex
	crs map[string]*CRS // guarded by mu; JSON of the crs config → rule set
	log *mask.Masker    // masks request data quoted in WAF logs
}

var _ typedstruct.Kind = (*Kind)(nil)

// NewKind returns the WAF kind.
func NewKind() *Kind {
	m, err := mask.New(mask.BuiltinNames(), nil)
	if err != nil {
		panic(err) // built-ins always compile
	}
	return &Kind{crs: map[string]*CRS{}, log: m}
}

func (*Kind) TypeURL() string { return TypeURL }

func (k *Kind) ParseOverride(raw []byte) (any, error) { return k.Parse(raw) }

// Parse compiles the Rego modules and the CRS config: a policy that does
// not compile is a NACK naming module and line, and the proxy keeps its
// previous configuration.
func (k *Kind) Parse(raw []byte) (any, error) {
	var cfg Config
	if err := typedstruct.Strict(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Rego == nil && cfg.CRS == nil {
		return nil, fmt.Errorf("rego, crs: at least one is required")
	}
	c := &compiled{}
	if cfg.Rego != nil {
		rc := RegoConfig{MaxBody: cfg.Rego.MaxBody}
		for i, m := range cfg.Rego.Modules {
			v := RegoAuto
			switch m.Version {
			case "":
			case "v0":
				v = RegoV0
			case "v1":
				v = RegoV1
			default:
				return nil, fmt.Errorf("rego.modules[%d].version: %q is not v0 or v1", i, m.Version)
			}
			rc.Modules = append(rc.Modules, Module{Name: m.Name, Source: m.Source, Version: v})
		}
		p, err := CompileRego(context.Background(), rc)
		if err != nil {
			return nil, fmt.Errorf("rego: %w", err)
		}
		c.rego = p
		if p.NeedsBody() {
			c.maxBody = p.MaxBody()
		}
	}
	if cfg.CRS != nil {
		key := string(raw) // the whole config is a fine key: equal JSON, equal rule set
		k.mu.Lock()
		crs := k.crs[key]
		k.mu.Unlock()
		if crs == nil {
			var err error
			crs, err = CompileCRS(CRSConfig{
				ParanoiaLevel: cfg.CRS.ParanoiaLevel, AnomalyThreshold: cfg.CRS.AnomalyThreshold,
				ExcludeRules: cfg.CRS.ExcludeRules, ExcludeTags: cfg.CRS.ExcludeTags,
				DetectionOnly: cfg.CRS.DetectionOnly, MaxBody: cfg.CRS.MaxBody,
			})
			if err != nil {
				return nil, err
			}
			k.mu.Lock()
			if len(k.crs) >= 64 {
				clear(k.crs) // bounded: configs churn rarely; rebuilding is only slow
			}
			k.crs[key] = crs
			k.mu.Unlock()
		}
		c.crs = crs
		c.maxBody = max(c.maxBody, crs.MaxBody())
	}
	return c, nil
}

// Build returns the listener's filter. Nothing is compiled here.
func (k *Kind) Build(_ context.Context, p filter.BuildParams) (filter.Filter, error) {
	c, ok := p.Config.(*compiled)
	if !ok {
		return nil, fmt.Errorf("waf: config is %T", p.Config)
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Filter{name: p.Name, base: c, log: log, mask: k.log}, nil
}

// Filter is one listener's WAF. Immutable after Build.
type Filter struct {
	name string
	base *compiled
	log  *slog.Logger
	mask *mask.Masker
}

var _ filter.Filter = (*Filter)(nil)

// OnRequest evaluates the Rego policy, then the rule set. A deny answers
// 403 with the policy's messages (Envoy's ext_authz answers 403 too); an
// evaluation error fails closed. Every decision that blocks or matches is
// logged with request data masked.
func (f *Filter) OnRequest(ctx context.Context, s *filter.State) *filter.Reply {
	c := f.base
	if o, ok := s.PerRoute(f.name).(*compiled); ok {
		c = o
	}
	r := s.Request
	in := Input{
		Method: r.Method, Authority: r.Authority, Path: r.Path, RawQuery: r.RawQuery,
		Header: &r.Header, Client: netip.AddrPortFrom(s.Client, r.RemoteAddr.Port()),
	}
	if s.TLS != nil {
		in.TLS = &TLSIdentity{SNI: s.TLS.ServerName}
		if len(s.TLS.PeerCertificates) > 0 {
			leaf := s.TLS.PeerCertificates[0]
			in.TLS.PeerSubject = leaf.Subject.String()
			in.TLS.PeerDNS = leaf.DNSNames
			for _, u := range leaf.URIs {
				in.TLS.PeerURIs = append(in.TLS.PeerURIs, u.String())
			}
		}
	}
	if j := s.Identity.JWT; j != nil {
		in.Claims = j.Claims
	}
	if c.maxBody > 0 && r.ContentLength != 0 {
		// Read at most maxBody (+1 to know whether there is more) and put
		// it back in front of the rest, so the upstream gets the whole body.
		buf, err := io.ReadAll(io.LimitReader(r.Body, int64(c.maxBody)+1))
		if err != nil {
			return filter.Deny(400, "bad_request", "request body could not be read")
		}
		r.Body = io.MultiReader(bytes.NewReader(buf), r.Body)
		if len(buf) > c.maxBody {
			buf, in.Truncated = buf[:c.maxBody], true
		}
		in.Body = buf
	}
	if c.rego != nil {
		d, err := c.rego.Eval(ctx, &in)
		if err != nil {
			f.log.LogAttrs(ctx, slog.LevelError, "waf policy evaluation failed", f.attrs(s, slog.String("error", err.Error()))...)
			s.Flag = "WAF"
			return filter.Deny(403, "forbidden", "request refused by the WAF")
		}
		if d.Deny {
			f.log.LogAttrs(ctx, slog.LevelWarn, "waf deny", f.attrs(s, slog.String("engine", "rego"),
				slog.String("messages", f.mask.String(strings.Join(d.Messages, "; "))))...)
			s.Flag = "WAF"
			return filter.Deny(403, "forbidden", strings.Join(d.Messages, "; "))
		}
	}
	if c.crs != nil {
		d, err := c.crs.Inspect(&in, r.LocalAddr, r.Proto.String())
		if err != nil {
			f.log.LogAttrs(ctx, slog.LevelError, "waf rule set failed", f.attrs(s, slog.String("error", err.Error()))...)
			s.Flag = "WAF"
			return filter.Deny(403, "forbidden", "request refused by the WAF")
		}
		if len(d.Matches) > 0 {
			level, msg := slog.LevelInfo, "waf match (detection only)"
			if d.Blocked {
				level, msg = slog.LevelWarn, "waf block"
			}
			for _, m := range d.Matches {
				f.log.LogAttrs(ctx, level, msg, f.attrs(s, slog.String("engine", "crs"), slog.Int("rule", m.ID),
					slog.String("severity", m.Severity), slog.String("message", f.mask.String(m.Message)),
					slog.String("data", f.mask.String(m.Data)))...)
			}
		}
		if d.Blocked {
			s.Flag = "WAF"
			return filter.Deny(d.Status, "forbidden", fmt.Sprintf("request blocked by WAF rule %d", d.RuleID))
		}
	}
	return nil
}

func (f *Filter) attrs(s *filter.State, extra ...slog.Attr) []slog.Attr {
	r := s.Request
	target := r.Path
	if r.RawQuery != "" {
		target += "?" + r.RawQuery
	}
	return append([]slog.Attr{
		slog.String("filter", f.name), slog.String("listener", s.Listener),
		slog.String("method", r.Method), slog.String("authority", r.Authority),
		slog.String("path", f.mask.String(target)), slog.String("client", s.Client.String()),
		slog.String("request_id", r.Header.Get("x-request-id")),
	}, extra...)
}
