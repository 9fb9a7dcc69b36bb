// Package jwt implements Envoy's envoy.filters.http.jwt_authn with
// github.com/go-jose/go-jose/v4: providers (issuer, audiences, local or
// remote JWKS, token locations, forwarding, claim_to_headers, clock skew),
// requirements (provider, provider with audiences, requires_any,
// requires_all, allow_missing, allow_missing_or_failed) chosen per route
// by PerRouteConfig.requirement_name, and per-route bypass
// (PerRouteConfig.disabled). A route without a requirement is not checked.
//
// Verification accepts RS256/384/512, PS256/384/512, ES256/384/512, EdDSA
// and HS256/384/512 only; "none" is never accepted. The key must fit the
// token's algorithm family and, when the JWK names an alg, that alg: an RSA
// public key is never used as an HMAC secret (the HS/RS confusion attack).
// exp and nbf are checked with the provider's clock skew; iss and aud
// against the provider (or the requirement's audiences).
//
// Answers follow Envoy: a missing token is 401 "Jwt is missing", a bad one
// 401 with WWW-Authenticate: Bearer error="invalid_token", an audience
// mismatch 403; bodies are JSON. Tokens never appear in logs.
package jwt

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/router"
)

// TypeURL is the listener-level config type this filter builds.
const TypeURL = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"

// allowedAlgs are the signature algorithms a token may use.
var allowedAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.HS256, jose.HS384, jose.HS512,
}

// maxTokenBytes bounds the token the filter will parse.
const maxTokenBytes = 16 << 10

// Options tune a Factory. The zero value is ready to use.
type Options struct {
	// MinRefreshInterval bounds JWKS refetches triggered by unknown key
	// ids: at most one per interval and key set; default 1s.
	MinRefreshInterval time.Duration
	// Now is the clock; default time.Now. Tests inject one.
	Now func() time.Time
	// DisableTokenCache verifies every token's signature on every request
	// (benchmarks of the uncached path).
	DisableTokenCache bool
}

// Factory builds JWT filters and owns the remote JWKS caches, which outlive
// generations. It starts no goroutines; safe for concurrent use.
type Factory struct {
	opts Options

	mu      sync.Mutex
	remotes map[remoteKey]*remoteSet // guarded by mu
}

var _ filter.Factory = (*Factory)(nil)

// NewFactory returns a Factory.
func NewFactory(opts Options) *Factory {
	if opts.MinRefreshInterval <= 0 {
		opts.MinRefreshInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Factory{opts: opts, remotes: map[remoteKey]*remoteSet{}}
}

func (*Factory) TypeURLs() []string { return []string{TypeURL} }

// Build parses local key sets and attaches remote ones to their shared
// caches. A local JWKS that does not parse rejects the configuration.
func (fac *Factory) Build(_ context.Context, p filter.BuildParams) (filter.Filter, error) {
	cfg, ok := p.Config.(*dpconfig.JWTAuthn)
	if !ok {
		return nil, fmt.Errorf("jwt_authn: config is %T", p.Config)
	}
	f := &Filter{name: p.Name, cfg: cfg, now: fac.opts.Now, log: p.Logger, providers: map[string]*provider{}}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	for name, pc := range cfg.Providers {
		pr := &provider{cfg: pc}
		if !fac.opts.DisableTokenCache {
			pr.cache = &tokenCache{entries: map[string]map[string]any{}}
		}
		if pc.LocalJWKS != nil {
			ks, err := parseKeySet(pc.LocalJWKS)
			if err != nil {
				return nil, fmt.Errorf("provider %q: local_jwks: %w", name, err)
			}
			pr.local = ks
		} else {
			rs, err := fac.remote(pc.Remote, p.Snapshot)
			if err != nil {
				return nil, fmt.Errorf("provider %q: remote_jwks: %w", name, err)
			}
			pr.remote = rs
		}
		f.providers[name] = pr
	}
	return f, nil
}

// remote returns the shared cache for a remote JWKS. The TLS settings come
// from the cluster Envoy would fetch through: its SNI and CA secret; with
// no CA, the system roots.
func (fac *Factory) remote(r *dpconfig.RemoteJWKS, snap *dpconfig.Snapshot) (*remoteSet, error) {
	u, err := url.Parse(r.URI)
	if err != nil {
		return nil, err
	}
	key := remoteKey{uri: r.URI, serverName: u.Hostname()}
	var roots *x509.CertPool
	if snap != nil {
		if cl := snap.Clusters[r.Cluster]; cl != nil && cl.TLS != nil {
			if cl.TLS.SNI != "" {
				key.serverName = cl.TLS.SNI
			}
			if cl.TLS.ValidationSecret != "" {
				sec := snap.Secrets[cl.TLS.ValidationSecret]
				if sec == nil || sec.CAPool == nil {
					return nil, fmt.Errorf("cluster %q: CA secret %q not found", r.Cluster, cl.TLS.ValidationSecret)
				}
				roots, key.caPEM = sec.CAPool, string(sec.RawCA)
			}
		}
	}
	fac.mu.Lock()
	defer fac.mu.Unlock()
	if rs := fac.remotes[key]; rs != nil {
		return rs, nil
	}
	rs := &remoteSet{key: key, client: newRemoteClient(key.serverName, roots), minRefresh: fac.opts.MinRefreshInterval, now: fac.opts.Now}
	fac.remotes[key] = rs
	return rs, nil
}

// FetchCount reports how many times the key set at uri was fetched (all
// trust settings together); for tests and the admin page.
func (fac *Factory) FetchCount(uri string) int {
	fac.mu.Lock()
	defer fac.mu.Unlock()
	n := 0
	for k, rs := range fac.remotes {
		if k.uri == uri {
			n += rs.fetchCount()
		}
	}
	return n
}

// Filter is one listener's jwt_authn. Immutable after Build.
type Filter struct {
	name      string
	cfg       *dpconfig.JWTAuthn
	providers map[string]*provider
	now       func() time.Time
	log       *slog.Logger
}

type provider struct {
	cfg    *dpconfig.JWTProvider
	local  *keySet
	remote *remoteSet
	cache  *tokenCache
}

// tokenCache remembers tokens whose signature and issuer verified, as
// Envoy's jwt_cache_config does (on by default there too): a client that
// sends the same token on every request pays the signature check once.
// Time claims and audiences are still checked on every hit. Bounded; when
// full, an arbitrary entry is dropped. Guarded by mu.
type tokenCache struct {
	mu      sync.RWMutex
	entries map[string]map[string]any // token → verified claims (read only)
}

const tokenCacheSize = 1024

func (c *tokenCache) get(tok string) (map[string]any, bool) {
	c.mu.RLock()
	claims, ok := c.entries[tok]
	c.mu.RUnlock()
	return claims, ok
}

func (c *tokenCache) put(tok string, claims map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= tokenCacheSize {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[tok] = claims
}

// outcome of checking one requirement.
type outcome int

const (
	okVerified outcome = iota
	errMissing
	errInvalid
	errAudience
)

// checked is a verified token with where it was found.
type checked struct {
	prov   *provider
	claims map[string]any
	loc    location
	raw    string
}

// location is where a token was found.
type location struct {
	header, prefix, param, cookie string
}

func (f *Filter) OnRequest(_ context.Context, s *filter.State) *filter.Reply {
	pr, _ := s.PerRoute(f.name).(*dpconfig.JWTPerRoute)
	if pr == nil || pr.Disabled || pr.RequirementName == "" {
		return nil
	}
	req := f.cfg.Requirements[pr.RequirementName]
	if req == nil {
		// dpconfig cannot check this across resources (RDS names a
		// requirement of LDS); Envoy rejects the request likewise.
		return filter.Deny(500, "internal", "unknown JWT requirement")
	}
	r := s.Request
	if f.cfg.BypassCORSPreflight && r.Method == "OPTIONS" && r.Header.Has("origin") && r.Header.Has("access-control-request-method") {
		return nil
	}
	var ok []checked
	res, why := f.check(req, r, &ok)
	switch res {
	case errMissing:
		s.Flag = "UAEX"
		return filter.Unauthorized(realm(r), "", "Jwt is missing")
	case errInvalid:
		s.Flag = "UAEX"
		return filter.Unauthorized(realm(r), "invalid_token", why)
	case errAudience:
		s.Flag = "UAEX"
		return filter.Deny(403, "forbidden", "Audiences in Jwt are not allowed")
	}
	// Required claims are checked after signature, issuer and audiences, on
	// every token a provider verified, as Envoy's rbac filter after
	// jwt_authn would on payload_in_metadata. A valid token lacking the
	// claims is a 403 insufficient_scope (RFC 6750 §3.1), not a 401.
	for i := range ok {
		if name, bad := missingClaim(ok[i].claims, pr.RequiredClaims[ok[i].prov.cfg.Name]); bad {
			s.Flag = "UAEX"
			return insufficientScope(realm(r), "Jwt claim "+strconv.Quote(name)+" is missing or not allowed")
		}
	}
	for i := range ok {
		f.apply(s, &ok[i])
	}
	return nil
}

// realm is what Envoy puts into its Bearer challenge: the request URL.
func realm(r *httpmsg.Request) string {
	return r.Scheme + "://" + r.Authority + r.Path
}

// check evaluates one requirement, collecting verified tokens in ok.
func (f *Filter) check(req *dpconfig.JWTRequirement, r *httpmsg.Request, ok *[]checked) (outcome, string) {
	switch req.Kind {
	case dpconfig.JWTRequireProvider:
		return f.verifyProvider(req.Provider, req.Audiences, r, ok)
	case dpconfig.JWTRequireAny:
		// Envoy: satisfied if any is; otherwise the failure of the last
		// child, except that "missing" loses to a real failure.
		worst, why := errMissing, "Jwt is missing"
		for _, c := range req.Children {
			res, w := f.check(c, r, ok)
			if res == okVerified {
				return okVerified, ""
			}
			if res != errMissing {
				worst, why = res, w
			}
		}
		return worst, why
	case dpconfig.JWTRequireAll:
		for _, c := range req.Children {
			if res, w := f.check(c, r, ok); res != okVerified {
				return res, w
			}
		}
		return okVerified, ""
	case dpconfig.JWTAllowMissing:
		// Every provider's token that is present must verify.
		for _, name := range sortedProviders(f.providers) {
			res, w := f.verifyProvider(name, nil, r, ok)
			if res != okVerified && res != errMissing {
				return res, w
			}
		}
		return okVerified, ""
	case dpconfig.JWTAllowMissingOrFailed:
		for _, name := range sortedProviders(f.providers) {
			f.verifyProvider(name, nil, r, ok)
		}
		return okVerified, ""
	}
	return errInvalid, "unsupported requirement"
}

func sortedProviders(m map[string]*provider) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// verifyProvider extracts the provider's token and verifies it.
func (f *Filter) verifyProvider(name string, auds []string, r *httpmsg.Request, ok *[]checked) (outcome, string) {
	p := f.providers[name]
	if p == nil {
		return errInvalid, "unknown provider"
	}
	tok, loc, found := extract(p.cfg, r)
	if !found {
		return errMissing, ""
	}
	claims, res, why := f.verify(p, tok, auds)
	if res != okVerified {
		f.log.Debug("JWT rejected", "provider", name, "reason", why)
		return res, why
	}
	*ok = append(*ok, checked{prov: p, claims: claims, loc: loc, raw: tok})
	return okVerified, ""
}

// extract finds the provider's token: its from_headers, from_params and
// from_cookies, or Envoy's defaults (Authorization: Bearer, then the
// access_token query parameter) when none is configured.
func extract(p *dpconfig.JWTProvider, r *httpmsg.Request) (string, location, bool) {
	if len(p.FromHeaders) == 0 && len(p.FromParams) == 0 && len(p.FromCookies) == 0 {
		if v, ok := r.Header.Lookup("authorization"); ok {
			if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				return strings.TrimSpace(v[7:]), location{header: "authorization", prefix: "Bearer "}, true
			}
		}
		if v, ok := router.QueryValue(r.RawQuery, "access_token"); ok && v != "" {
			return v, location{param: "access_token"}, true
		}
		return "", location{}, false
	}
	for _, h := range p.FromHeaders {
		v, ok := r.Header.Lookup(h.Name)
		if !ok {
			continue
		}
		if h.ValuePrefix != "" {
			i := strings.Index(v, h.ValuePrefix)
			if i < 0 {
				continue
			}
			v = v[i+len(h.ValuePrefix):]
		}
		if v = strings.TrimSpace(v); v != "" {
			return v, location{header: h.Name, prefix: h.ValuePrefix}, true
		}
	}
	for _, name := range p.FromParams {
		if v, ok := router.QueryValue(r.RawQuery, name); ok && v != "" {
			return v, location{param: name}, true
		}
	}
	for _, name := range p.FromCookies {
		if v, ok := httpmsg.Cookie(&r.Header, name); ok && v != "" {
			return v, location{cookie: name}, true
		}
	}
	return "", location{}, false
}

// verify checks signature and claims.
func (f *Filter) verify(p *provider, tok string, auds []string) (map[string]any, outcome, string) {
	if len(tok) > maxTokenBytes {
		return nil, errInvalid, "Jwt is too large"
	}
	if p.cache != nil {
		if claims, ok := p.cache.get(tok); ok {
			return f.checkClaims(p, claims, auds)
		}
	}
	claims, res, why := f.verifyToken(p, tok)
	if res != okVerified {
		return nil, res, why
	}
	if p.cfg.Issuer != "" {
		if iss, _ := claims["iss"].(string); iss != p.cfg.Issuer {
			return nil, errInvalid, "Jwt issuer is not configured"
		}
	}
	// Only the signature and issuer are cached: they never change for a
	// token; time and audience are checked per request.
	if p.cache != nil {
		p.cache.put(tok, claims)
	}
	return f.checkClaims(p, claims, auds)
}

// verifyToken parses tok and checks its signature.
func (f *Filter) verifyToken(p *provider, tok string) (map[string]any, outcome, string) {
	jws, err := jose.ParseSignedCompact(tok, allowedAlgs)
	if err != nil {
		// Covers alg "none" and any algorithm outside allowedAlgs.
		return nil, errInvalid, "Jwt is not in the form of Header.Payload.Signature with an allowed alg"
	}
	if len(jws.Signatures) != 1 {
		return nil, errInvalid, "Jwt must have exactly one signature"
	}
	hdr := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	payload, res, why := f.verifySignature(p, jws, hdr.KeyID, alg)
	if res != okVerified {
		return nil, res, why
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, errInvalid, "Jwt payload is not a JSON object"
	}
	return claims, okVerified, ""
}

// checkClaims checks exp and nbf (with the provider's clock skew) and the
// audiences.
func (f *Filter) checkClaims(p *provider, claims map[string]any, auds []string) (map[string]any, outcome, string) {
	now := f.now()
	skew := p.cfg.ClockSkew
	exp, hasExp, err := numericDate(claims, "exp")
	if err != nil {
		return nil, errInvalid, err.Error()
	}
	if hasExp && now.After(exp.Add(skew)) {
		return nil, errInvalid, "Jwt is expired"
	}
	if !hasExp && p.cfg.RequireExpiration {
		return nil, errInvalid, "Jwt has no exp"
	}
	nbf, hasNbf, err := numericDate(claims, "nbf")
	if err != nil {
		return nil, errInvalid, err.Error()
	}
	if hasNbf && now.Add(skew).Before(nbf) {
		return nil, errInvalid, "Jwt not yet valid"
	}
	want := p.cfg.Audiences
	if len(auds) > 0 {
		want = auds
	}
	if len(want) > 0 && !audienceMatches(claims["aud"], want) {
		return nil, errAudience, "Audiences in Jwt are not allowed"
	}
	return claims, okVerified, ""
}

// verifySignature tries the keys that fit kid and alg. An unknown kid on a
// remote provider triggers one (rate-limited) refetch: the issuer may have
// rotated its keys.
func (f *Filter) verifySignature(p *provider, jws *jose.JSONWebSignature, kid string, alg jose.SignatureAlgorithm) ([]byte, outcome, string) {
	ks := p.local
	if p.remote != nil {
		var err error
		if ks, err = p.remote.get(p.cfg.Remote.CacheDuration, p.cfg.Remote.Timeout, false); err != nil {
			f.log.Warn("JWKS unavailable", "provider", p.cfg.Name, "error", err)
			return nil, errInvalid, "Jwks remote fetch failed"
		}
		if kid != "" && !ks.hasKid(kid) {
			if fresh, err := p.remote.get(p.cfg.Remote.CacheDuration, p.cfg.Remote.Timeout, true); err == nil {
				ks = fresh
			}
		}
	}
	var buf [4]*jose.JSONWebKey
	keys := ks.candidates(buf[:0], kid, alg)
	if len(keys) == 0 {
		return nil, errInvalid, "Jwks doesn't have key to match kid or alg from Jwt"
	}
	for _, k := range keys {
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, okVerified, ""
		}
	}
	return nil, errInvalid, "Jwt verification fails"
}

// numericDate reads a NumericDate claim (RFC 7519 §2); a claim of another
// type is an error, not "absent".
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, fmt.Errorf("Jwt %s is not a number", name)
	}
	fl, err := n.Float64()
	if err != nil || math.IsNaN(fl) || math.IsInf(fl, 0) || fl > 1<<40 || fl < -(1<<40) {
		return time.Time{}, false, fmt.Errorf("Jwt %s is out of range", name)
	}
	sec, frac := math.Modf(fl)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audienceMatches accepts aud as a string or an array of strings.
func audienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(want, a)
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// apply records the identity and performs the provider's forwarding.
func (f *Filter) apply(s *filter.State, c *checked) {
	pc := c.prov.cfg
	id := &filter.JWTIdentity{Provider: pc.Name, Claims: c.claims}
	id.Issuer, _ = c.claims["iss"].(string)
	id.Subject, _ = c.claims["sub"].(string)
	if s.Identity.JWT == nil {
		s.Identity.JWT = id
	}
	r := s.Request
	if !pc.Forward {
		removeToken(r, c.loc)
	}
	if pc.ForwardPayloadHeader != "" {
		if parts := strings.SplitN(c.raw, ".", 3); len(parts) == 3 {
			r.Header.Set(pc.ForwardPayloadHeader, parts[1])
		}
	}
	for _, ch := range pc.ClaimToHeaders {
		if v, ok := claimString(c.claims, ch.Claim); ok {
			r.Header.Set(ch.Header, v)
		}
	}
}

// insufficientScope is a 403 with the Bearer challenge of RFC 6750 §3.1.
func insufficientScope(realm, message string) *filter.Reply {
	rep := filter.Deny(403, "forbidden", message)
	rep.Header.Set("www-authenticate", "Bearer realm="+strconv.Quote(realm)+", error=\"insufficient_scope\"")
	return rep
}

// missingClaim returns the name of the first required claim that claims
// do not satisfy. Without values, presence suffices; with values, a scalar
// claim must equal one of them and an array claim must hold an element
// equal to one of them (Envoy's ListMatcher one_of). Non-string scalars
// compare in their JSON form, as claim_to_headers renders them.
func missingClaim(claims map[string]any, req []dpconfig.JWTRequiredClaim) (string, bool) {
	for _, rc := range req {
		v, ok := claimValue(claims, rc.Name)
		if !ok || (len(rc.Values) > 0 && !claimMatches(v, rc.Values)) {
			return rc.Name, true
		}
	}
	return "", false
}

func claimMatches(v any, want []string) bool {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if s, ok := scalarString(e); ok && slices.Contains(want, s) {
				return true
			}
		}
		return false
	}
	s, ok := scalarString(v)
	return ok && slices.Contains(want, s)
}

// claimValue follows a dotted path into nested claims.
func claimValue(claims map[string]any, path string) (any, bool) {
	var v any = claims
	for _, seg := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return v, v != nil
}

// claimString renders a claim for a header as Envoy does: strings as is,
// numbers and booleans in JSON; nested claims by dotted path.
func claimString(claims map[string]any, path string) (string, bool) {
	v, ok := claimValue(claims, path)
	if !ok {
		return "", false
	}
	return scalarString(v)
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func removeToken(r *httpmsg.Request, loc location) {
	switch {
	case loc.header != "":
		r.Header.Del(loc.header)
	case loc.param != "":
		var kept []string
		for _, kv := range strings.Split(r.RawQuery, "&") {
			if k, _, _ := strings.Cut(kv, "="); k != loc.param {
				kept = append(kept, kv)
			}
		}
		r.RawQuery = strings.Join(kept, "&")
	}
}
