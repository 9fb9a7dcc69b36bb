package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

type testKeys struct {
	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	hmac  []byte
	other *rsa.PrivateKey // not in any JWKS
}

func newKeys(t testing.TB) *testKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	return &testKeys{rsa: rk, ec: ek, ed: edk, hmac: []byte("0123456789abcdef0123456789abcdef"), other: ok}
}

func jwks(t testing.TB, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsigned builds a token by hand (alg none, or a forged HMAC over a
// public key) that no library signer would produce.
func unsigned(header, claims map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	e := base64.RawURLEncoding
	return e.EncodeToString(h) + "." + e.EncodeToString(c) + "." + e.EncodeToString(sig)
}

var clock = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func claims(extra map[string]any) map[string]any {
	c := map[string]any{"iss": "https://issuer.test", "aud": "api", "sub": "alice", "exp": clock.Add(time.Hour).Unix(), "tenant": "a", "level": 3}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func build(t testing.TB, fac *Factory, cfg *dpconfig.JWTAuthn) *Filter {
	t.Helper()
	f, err := fac.Build(context.Background(), filter.BuildParams{Name: "envoy.filters.http.jwt_authn", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return f.(*Filter)
}

func request(authz string) (*filter.State, *dpconfig.Route) {
	r := &httpmsg.Request{Method: "GET", Scheme: "https", Authority: "api.test", Path: "/x"}
	if authz != "" {
		r.Header.Set("authorization", authz)
	}
	route := &dpconfig.Route{PerFilter: map[string]any{"envoy.filters.http.jwt_authn": &dpconfig.JWTPerRoute{RequirementName: "r"}}}
	return &filter.State{Request: r, Route: route}, route
}

func TestVerify(t *testing.T) {
	k := newKeys(t)
	rsaPub := jose.JSONWebKey{Key: k.rsa.Public(), KeyID: "rsa1", Algorithm: "RS256", Use: "sig"}
	set := jwks(t,
		rsaPub,
		jose.JSONWebKey{Key: k.ec.Public(), KeyID: "ec1", Use: "sig"},
		jose.JSONWebKey{Key: k.ed.Public(), KeyID: "ed1"},
		jose.JSONWebKey{Key: k.hmac, KeyID: "hs1", Algorithm: "HS256"},
	)
	cfg := &dpconfig.JWTAuthn{
		Providers: map[string]*dpconfig.JWTProvider{"p": {
			Name: "p", Issuer: "https://issuer.test", Audiences: []string{"api"}, LocalJWKS: set, ClockSkew: 60 * time.Second,
			ClaimToHeaders:       []dpconfig.JWTClaimToHeader{{Header: "x-tenant", Claim: "tenant"}, {Header: "x-level", Claim: "level"}},
			ForwardPayloadHeader: "x-jwt-payload",
		}},
		Requirements: map[string]*dpconfig.JWTRequirement{"r": {Kind: dpconfig.JWTRequireProvider, Provider: "p"}},
	}
	f := build(t, NewFactory(Options{Now: func() time.Time { return clock }}), cfg)

	// The RSA public key's modulus as an HMAC secret: the classic HS/RS
	// confusion forgery.
	pubDER, _ := x509.MarshalPKIXPublicKey(k.rsa.Public())
	confused := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, (&jose.SignerOptions{}).WithHeader("kid", "rsa1"))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := json.Marshal(claims(nil))
		o, _ := s.Sign(p)
		c, _ := o.CompactSerialize()
		return c
	}()

	tests := []struct {
		name       string
		authz      string
		wantStatus int // 0: passes
		wantMsg    string
	}{
		{"RS256 passes", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(nil)), 0, ""},
		{"ES256 passes", "Bearer " + sign(t, jose.ES256, k.ec, "ec1", claims(nil)), 0, ""},
		{"EdDSA passes", "Bearer " + sign(t, jose.EdDSA, k.ed, "ed1", claims(nil)), 0, ""},
		{"HS256 passes with an oct key", "Bearer " + sign(t, jose.HS256, k.hmac, "hs1", claims(nil)), 0, ""},
		{"token without kid tries every fitting key", "Bearer " + sign(t, jose.ES256, k.ec, "", claims(nil)), 0, ""},
		{"missing token is 401 without error code", "", 401, "Jwt is missing"},
		{"non-bearer authorization is missing", "Basic YTpi", 401, "Jwt is missing"},
		{"expired token is refused", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(map[string]any{"exp": clock.Add(-2 * time.Minute).Unix()})), 401, "expired"},
		{"expiry within clock skew passes", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(map[string]any{"exp": clock.Add(-30 * time.Second).Unix()})), 0, ""},
		{"not yet valid token is refused", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(map[string]any{"nbf": clock.Add(2 * time.Minute).Unix()})), 401, "not yet valid"},
		{"nbf within clock skew passes", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(map[string]any{"nbf": clock.Add(30 * time.Second).Unix()})), 0, ""},
		{"string exp is refused", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(map[string]any{"exp": "tomorrow"})), 401, "not a number"},
		{"wrong issuer is refused", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(map[string]any{"iss": "https://evil.test"})), 401, "issuer"},
		{"wrong audience is 403", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(map[string]any{"aud": "other"})), 403, "Audiences"},
		{"audience array with a match passes", "Bearer " + sign(t, jose.RS256, k.rsa, "rsa1", claims(map[string]any{"aud": []string{"x", "api"}})), 0, ""},
		{"signature by another key is refused", "Bearer " + sign(t, jose.RS256, k.other, "rsa1", claims(nil)), 401, "verification fails"},
		{"tampered payload is refused", "Bearer " + tamper(sign(t, jose.RS256, k.rsa, "rsa1", claims(nil))), 401, ""},
		{"alg none is refused", "Bearer " + unsigned(map[string]any{"alg": "none", "kid": "rsa1"}, claims(nil), nil), 401, "allowed alg"},
		{"alg none with empty signature segment is refused", "Bearer " + strings.TrimSuffix(unsigned(map[string]any{"alg": "none"}, claims(nil), nil), ""), 401, ""},
		{"HS256 signed with the RSA public key is refused", "Bearer " + confused, 401, "kid or alg"},
		{"RS256 token naming the HMAC key is refused", "Bearer " + sign(t, jose.RS256, k.rsa, "hs1", claims(nil)), 401, "kid or alg"},
		{"unknown kid on a local JWKS is refused", "Bearer " + sign(t, jose.RS256, k.rsa, "nope", claims(nil)), 401, "kid or alg"},
		{"garbage is refused", "Bearer not.a.jwt", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := request(tt.authz)
			rep := f.OnRequest(context.Background(), s)
			if tt.wantStatus == 0 {
				if rep != nil {
					t.Fatalf("denied %d %s", rep.Status, rep.Body)
				}
				if s.Identity.JWT == nil || s.Identity.JWT.Subject != "alice" {
					t.Fatalf("identity = %+v", s.Identity.JWT)
				}
				if s.Request.Header.Has("authorization") {
					t.Error("token forwarded although forward is false")
				}
				if s.Request.Header.Get("x-tenant") != "a" || s.Request.Header.Get("x-level") != "3" || s.Request.Header.Get("x-jwt-payload") == "" {
					t.Errorf("claim headers: %v", s.Request.Header.Fields())
				}
				return
			}
			if rep == nil {
				t.Fatal("passed, want a denial")
			}
			if rep.Status != tt.wantStatus || !strings.Contains(rep.Body, tt.wantMsg) {
				t.Fatalf("got %d %s, want %d containing %q", rep.Status, rep.Body, tt.wantStatus, tt.wantMsg)
			}
			if rep.Status == 401 && !strings.HasPrefix(rep.Header.Get("www-authenticate"), "Bearer realm=") {
				t.Errorf("www-authenticate = %q", rep.Header.Get("www-authenticate"))
			}
			if !json.Valid([]byte(rep.Body)) {
				t.Errorf("body is not JSON: %s", rep.Body)
			}
			if strings.Contains(rep.Body, strings.TrimPrefix(tt.authz, "Bearer ")) && tt.authz != "" {
				t.Error("the token leaked into the answer")
			}
		})
	}
}

func tamper(tok string) string {
	p := strings.Split(tok, ".")
	c := claims(map[string]any{"sub": "mallory"})
	b, _ := json.Marshal(c)
	p[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(p, ".")
}

func TestRequirementsAndBypass(t *testing.T) {
	k := newKeys(t)
	set := jwks(t, jose.JSONWebKey{Key: k.rsa.Public(), KeyID: "k"})
	prov := func(name, iss string) *dpconfig.JWTProvider {
		return &dpconfig.JWTProvider{Name: name, Issuer: iss, LocalJWKS: set, ClockSkew: time.Minute}
	}
	cfg := &dpconfig.JWTAuthn{
		Providers: map[string]*dpconfig.JWTProvider{"a": prov("a", "iss-a"), "b": prov("b", "iss-b")},
		Requirements: map[string]*dpconfig.JWTRequirement{
			"any":     {Kind: dpconfig.JWTRequireAny, Children: []*dpconfig.JWTRequirement{{Kind: dpconfig.JWTRequireProvider, Provider: "a"}, {Kind: dpconfig.JWTRequireProvider, Provider: "b"}}},
			"missing": {Kind: dpconfig.JWTAllowMissing},
			"aud":     {Kind: dpconfig.JWTRequireProvider, Provider: "a", Audiences: []string{"special"}},
		},
	}
	f := build(t, NewFactory(Options{Now: func() time.Time { return clock }}), cfg)
	tokA := "Bearer " + sign(t, jose.RS256, k.rsa, "k", claims(map[string]any{"iss": "iss-a"}))
	tokB := "Bearer " + sign(t, jose.RS256, k.rsa, "k", claims(map[string]any{"iss": "iss-b"}))
	tokC := "Bearer " + sign(t, jose.RS256, k.rsa, "k", claims(map[string]any{"iss": "iss-c"}))
	tests := []struct {
		name   string
		req    *dpconfig.JWTPerRoute
		authz  string
		status int
	}{
		{"requires_any accepts the second provider", &dpconfig.JWTPerRoute{RequirementName: "any"}, tokB, 0},
		{"requires_any refuses a token of neither", &dpconfig.JWTPerRoute{RequirementName: "any"}, tokC, 401},
		{"allow_missing passes without a token", &dpconfig.JWTPerRoute{RequirementName: "missing"}, "", 0},
		{"allow_missing refuses a bad token", &dpconfig.JWTPerRoute{RequirementName: "missing"}, tokC, 401},
		{"provider_and_audiences overrides the audiences", &dpconfig.JWTPerRoute{RequirementName: "aud"}, tokA, 403},
		{"disabled route bypasses", &dpconfig.JWTPerRoute{Disabled: true}, "", 0},
		{"route without requirement is not checked", nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, route := request(tt.authz)
			if tt.req == nil {
				delete(route.PerFilter, "envoy.filters.http.jwt_authn")
			} else {
				route.PerFilter["envoy.filters.http.jwt_authn"] = tt.req
			}
			rep := f.OnRequest(context.Background(), s)
			got := 0
			if rep != nil {
				got = rep.Status
			}
			if got != tt.status {
				t.Fatalf("status %d, want %d (%v)", got, tt.status, rep)
			}
		})
	}
}

// TestRequiredClaims checks claims after verification: presence, string
// values, an element of an array claim, nested claims by dotted path, and
// that a verified token lacking them is a 403 insufficient_scope (RFC 6750
// §3.1) while a bad token stays a 401.
func TestRequiredClaims(t *testing.T) {
	k := newKeys(t)
	set := jwks(t, jose.JSONWebKey{Key: k.rsa.Public(), KeyID: "k"})
	cfg := &dpconfig.JWTAuthn{
		Providers: map[string]*dpconfig.JWTProvider{
			"a": {Name: "a", Issuer: "iss-a", LocalJWKS: set, ClockSkew: time.Minute},
			"b": {Name: "b", Issuer: "iss-b", LocalJWKS: set, ClockSkew: time.Minute},
		},
		Requirements: map[string]*dpconfig.JWTRequirement{
			"any": {Kind: dpconfig.JWTRequireAny, Children: []*dpconfig.JWTRequirement{{Kind: dpconfig.JWTRequireProvider, Provider: "a"}, {Kind: dpconfig.JWTRequireProvider, Provider: "b"}}},
		},
	}
	f := build(t, NewFactory(Options{Now: func() time.Time { return clock }}), cfg)
	tok := func(iss string, extra map[string]any) string {
		extra["iss"] = iss
		return "Bearer " + sign(t, jose.RS256, k.rsa, "k", claims(extra))
	}
	onA := func(rc ...dpconfig.JWTRequiredClaim) map[string][]dpconfig.JWTRequiredClaim {
		return map[string][]dpconfig.JWTRequiredClaim{"a": rc}
	}
	tests := []struct {
		name   string
		claims map[string][]dpconfig.JWTRequiredClaim
		authz  string
		status int
	}{
		{"present claim without values is enough", onA(dpconfig.JWTRequiredClaim{Name: "tenant"}), tok("iss-a", map[string]any{}), 0},
		{"absent claim is refused", onA(dpconfig.JWTRequiredClaim{Name: "group"}), tok("iss-a", map[string]any{}), 403},
		{"null claim counts as absent", onA(dpconfig.JWTRequiredClaim{Name: "group"}), tok("iss-a", map[string]any{"group": json.RawMessage("null")}), 403},
		{"string claim equal to one value", onA(dpconfig.JWTRequiredClaim{Name: "tenant", Values: []string{"b", "a"}}), tok("iss-a", map[string]any{}), 0},
		{"string claim with a wrong value is refused", onA(dpconfig.JWTRequiredClaim{Name: "tenant", Values: []string{"b"}}), tok("iss-a", map[string]any{}), 403},
		{"numeric claim compares in its JSON form", onA(dpconfig.JWTRequiredClaim{Name: "level", Values: []string{"3"}}), tok("iss-a", map[string]any{}), 0},
		{"array claim with a matching element", onA(dpconfig.JWTRequiredClaim{Name: "roles", Values: []string{"admin"}}), tok("iss-a", map[string]any{"roles": []string{"reader", "admin"}}), 0},
		{"array claim without a matching element is refused", onA(dpconfig.JWTRequiredClaim{Name: "roles", Values: []string{"admin"}}), tok("iss-a", map[string]any{"roles": []string{"reader"}}), 403},
		{"space-separated scope string is not split", onA(dpconfig.JWTRequiredClaim{Name: "scope", Values: []string{"write"}}), tok("iss-a", map[string]any{"scope": "read write"}), 403},
		{"nested claim by dotted path", onA(dpconfig.JWTRequiredClaim{Name: "realm.role", Values: []string{"ops"}}), tok("iss-a", map[string]any{"realm": map[string]any{"role": "ops"}}), 0},
		{"nested array claim by dotted path", onA(dpconfig.JWTRequiredClaim{Name: "realm.roles", Values: []string{"ops"}}), tok("iss-a", map[string]any{"realm": map[string]any{"roles": []string{"dev", "ops"}}}), 0},
		{"nested claim with a wrong value is refused", onA(dpconfig.JWTRequiredClaim{Name: "realm.role", Values: []string{"ops"}}), tok("iss-a", map[string]any{"realm": map[string]any{"role": "dev"}}), 403},
		{"path through a non-object is absent", onA(dpconfig.JWTRequiredClaim{Name: "tenant.x"}), tok("iss-a", map[string]any{}), 403},
		{"every required claim must hold", onA(dpconfig.JWTRequiredClaim{Name: "tenant"}, dpconfig.JWTRequiredClaim{Name: "sub", Values: []string{"bob"}}), tok("iss-a", map[string]any{}), 403},
		{"claims of another provider do not apply", onA(dpconfig.JWTRequiredClaim{Name: "group"}), tok("iss-b", map[string]any{}), 0},
		{"a bad token stays a 401", onA(dpconfig.JWTRequiredClaim{Name: "tenant"}), tamper(tok("iss-a", map[string]any{})), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, route := request(tt.authz)
			route.PerFilter["envoy.filters.http.jwt_authn"] = &dpconfig.JWTPerRoute{RequirementName: "any", RequiredClaims: tt.claims}
			rep := f.OnRequest(context.Background(), s)
			got := 0
			if rep != nil {
				got = rep.Status
			}
			if got != tt.status {
				t.Fatalf("status %d, want %d (%v)", got, tt.status, rep)
			}
			if got == 403 {
				if ch := rep.Header.Get("www-authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) {
					t.Errorf("www-authenticate %q, want error=\"insufficient_scope\"", ch)
				}
				if ct := rep.Header.Get("content-type"); ct != "application/json" || !json.Valid([]byte(rep.Body)) {
					t.Errorf("body %q (%s), want JSON", rep.Body, ct)
				}
			}
		})
	}
}

// TestRemoteJWKSRefreshesOnUnknownKid serves the key set over HTTPS and
// rotates it: a token with a new kid makes the filter refetch once, and a
// second unknown kid within the interval does not refetch.
func TestRemoteJWKSRefreshesOnUnknownKid(t *testing.T) {
	k := newKeys(t)
	var current atomic.Value
	current.Store(jwks(t, jose.JSONWebKey{Key: k.rsa.Public(), KeyID: "old"}))
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(current.Load().([]byte))
	}))
	defer srv.Close()

	now := clock
	fac := NewFactory(Options{Now: func() time.Time { return now }, MinRefreshInterval: 10 * time.Second})
	cfg := &dpconfig.JWTAuthn{
		Providers:    map[string]*dpconfig.JWTProvider{"p": {Name: "p", Remote: &dpconfig.RemoteJWKS{URI: srv.URL + "/jwks", Timeout: 5 * time.Second, CacheDuration: time.Minute}, ClockSkew: time.Minute}},
		Requirements: map[string]*dpconfig.JWTRequirement{"r": {Kind: dpconfig.JWTRequireProvider, Provider: "p"}},
	}
	f := build(t, fac, cfg)
	// The test server's certificate is trusted through the client the
	// factory built for it (as a cluster CA secret would make it).
	for _, rs := range fac.remotes {
		rs.client = srv.Client()
	}
	jti := 0
	call := func(kid string) int {
		jti++ // a new token each time: verified tokens are cached
		s, _ := request("Bearer " + sign(t, jose.RS256, k.rsa, kid, claims(map[string]any{"jti": jti})))
		if rep := f.OnRequest(context.Background(), s); rep != nil {
			return rep.Status
		}
		return 0
	}
	if got := call("old"); got != 0 {
		t.Fatalf("first token: %d", got)
	}
	if hits.Load() != 1 {
		t.Fatalf("fetches = %d, want 1", hits.Load())
	}
	if got := call("old"); got != 0 || hits.Load() != 1 {
		t.Fatalf("cached keys refetched: status %d fetches %d", got, hits.Load())
	}
	current.Store(jwks(t, jose.JSONWebKey{Key: k.rsa.Public(), KeyID: "new"}))
	now = now.Add(11 * time.Second)
	if got := call("new"); got != 0 {
		t.Fatalf("rotated kid: %d", got)
	}
	if hits.Load() != 2 {
		t.Fatalf("fetches = %d, want 2", hits.Load())
	}
	if got := call("forged"); got != 401 || hits.Load() != 2 {
		t.Fatalf("unknown kid within the interval: status %d fetches %d, want 401 and no refetch", got, hits.Load())
	}
	now = now.Add(2 * time.Minute) // cache expired: refetched on use
	if got := call("new"); got != 0 || hits.Load() != 3 {
		t.Fatalf("expired cache: status %d fetches %d", got, hits.Load())
	}
	if fac.FetchCount(srv.URL+"/jwks") != 3 {
		t.Errorf("FetchCount = %d", fac.FetchCount(srv.URL+"/jwks"))
	}
}

// TestVerifiedTokensAreCachedButTimeStillCounts: a cached token expires.
func TestVerifiedTokensAreCachedButTimeStillCounts(t *testing.T) {
	k := newKeys(t)
	now := clock
	cfg := &dpconfig.JWTAuthn{
		Providers:    map[string]*dpconfig.JWTProvider{"p": {Name: "p", LocalJWKS: jwks(t, jose.JSONWebKey{Key: k.rsa.Public(), KeyID: "k"}), Audiences: []string{"api"}, ClockSkew: time.Minute}},
		Requirements: map[string]*dpconfig.JWTRequirement{"r": {Kind: dpconfig.JWTRequireProvider, Provider: "p"}, "other": {Kind: dpconfig.JWTRequireProvider, Provider: "p", Audiences: []string{"other"}}},
	}
	f := build(t, NewFactory(Options{Now: func() time.Time { return now }}), cfg)
	tok := "Bearer " + sign(t, jose.RS256, k.rsa, "k", claims(nil)) // exp: clock + 1h
	status := func(req string) int {
		s, route := request(tok)
		route.PerFilter["envoy.filters.http.jwt_authn"] = &dpconfig.JWTPerRoute{RequirementName: req}
		if rep := f.OnRequest(context.Background(), s); rep != nil {
			return rep.Status
		}
		return 0
	}
	if got := status("r"); got != 0 {
		t.Fatalf("first use: %d", got)
	}
	if len(f.providers["p"].cache.entries) != 1 {
		t.Fatal("verified token not cached")
	}
	if got := status("other"); got != 403 {
		t.Errorf("cached token with another requirement's audiences: %d, want 403", got)
	}
	now = clock.Add(2 * time.Hour)
	if got := status("r"); got != 401 {
		t.Errorf("cached token after exp: %d, want 401", got)
	}
}

func FuzzVerify(f *testing.F) {
	k := newKeys(f)
	set := jwks(f, jose.JSONWebKey{Key: k.rsa.Public(), KeyID: "k"}, jose.JSONWebKey{Key: k.hmac, KeyID: "h"})
	cfg := &dpconfig.JWTAuthn{
		Providers:    map[string]*dpconfig.JWTProvider{"p": {Name: "p", LocalJWKS: set, ClockSkew: time.Minute}},
		Requirements: map[string]*dpconfig.JWTRequirement{"r": {Kind: dpconfig.JWTRequireProvider, Provider: "p"}},
	}
	flt := build(f, NewFactory(Options{Now: func() time.Time { return clock }}), cfg)
	f.Add(sign(f, jose.RS256, k.rsa, "k", claims(nil)))
	f.Add(sign(f, jose.HS256, k.hmac, "h", claims(nil)))
	f.Add(unsigned(map[string]any{"alg": "none"}, claims(nil), nil))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		s, _ := request("Bearer " + tok)
		rep := flt.OnRequest(context.Background(), s)
		if rep == nil {
			// Anything accepted must have been signed by one of our keys:
			// re-verify independently.
			jws, err := jose.ParseSignedCompact(tok, allowedAlgs)
			if err != nil {
				t.Fatalf("accepted unparsable token %q", tok)
			}
			if _, err1 := jws.Verify(k.rsa.Public()); err1 != nil {
				if _, err2 := jws.Verify(k.hmac); err2 != nil {
					t.Fatalf("accepted token not signed by a configured key: %q", tok)
				}
			}
		}
	})
}

var _ crypto.Signer = (*rsa.PrivateKey)(nil)
