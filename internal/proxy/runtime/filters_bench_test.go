package runtime

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/netip"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/jwt"
	"github.com/ksgw/ksgw/internal/proxy/filter/rbac"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct{ status int }

func (w *discardWriter) WriteHeader(s int, _ *httpmsg.Header) error { w.status = s; return nil }
func (w *discardWriter) Write(p []byte) (int, error)                { return len(p), nil }
func (w *discardWriter) Flush() error                               { return nil }
func (w *discardWriter) WriteTrailer(*httpmsg.Header) error         { return nil }
func (w *discardWriter) Abort()                                     {}
func (w *discardWriter) Hijack() (httpmsg.Tunnel, error)            { return nil, httpmsg.ErrHijackNotSupported }

// chainRuntime applies a snapshot whose listener runs jwt_authn and rbac,
// with routes /plain (no requirement), /jwt (a token of provider p) and
// /ip (an IP allow list), each answered directly so that the benchmark
// measures the proxy's own work, not an upstream.
func chainRuntime(tb testing.TB, jwks []byte, noCache bool) (*Runtime, *handler) {
	tb.Helper()
	reg, err := filter.NewRegistry(jwt.NewFactory(jwt.Options{DisableTokenCache: noCache}), rbac.Factory{})
	if err != nil {
		tb.Fatal(err)
	}
	rt := New(Options{Filters: reg, Listen: func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }})
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	direct := &dpconfig.DirectResponse{Status: 200, Body: "ok"}
	ipRules := &dpconfig.RBAC{Rules: &dpconfig.RBACRules{Action: dpconfig.RBACAllow, Policies: []dpconfig.RBACPolicy{{Name: "ip", Principals: []dpconfig.Principal{{Kind: dpconfig.PrincipalRemoteIP, CIDR: netip.MustParsePrefix("127.0.0.0/8")}}}}}}
	snap := &dpconfig.Snapshot{
		Listeners: map[string]*dpconfig.Listener{"http": {Name: "http", Address: netip.MustParseAddrPort("127.0.0.1:0"), FilterChains: []*dpconfig.FilterChain{{HCM: &dpconfig.HTTPConnectionManager{
			RouteConfigName: "http", UseRemoteAddress: true,
			HTTPFilters: []dpconfig.HTTPFilter{
				{Name: dpconfig.RBACFilterName, TypeURL: rbac.TypeURL, Config: &dpconfig.RBAC{}},
				{Name: dpconfig.JWTAuthnFilterName, TypeURL: jwt.TypeURL, Config: &dpconfig.JWTAuthn{
					Providers:    map[string]*dpconfig.JWTProvider{"p": {Name: "p", Issuer: "iss", Audiences: []string{"api"}, LocalJWKS: jwks, ClockSkew: time.Minute}},
					Requirements: map[string]*dpconfig.JWTRequirement{"r": {Kind: dpconfig.JWTRequireProvider, Provider: "p"}},
				}},
				{Name: dpconfig.RouterFilterName},
			},
		}}}}},
		Routes: map[string]*dpconfig.RouteConfig{"http": {Name: "http", VirtualHosts: []*dpconfig.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*dpconfig.Route{
			{Name: "plain", Match: dpconfig.RouteMatch{PathKind: dpconfig.PathExact, Path: "/plain", CaseSensitive: true}, DirectResponse: direct},
			{Name: "jwt", Match: dpconfig.RouteMatch{PathKind: dpconfig.PathExact, Path: "/jwt", CaseSensitive: true}, DirectResponse: direct,
				PerFilter: map[string]any{dpconfig.JWTAuthnFilterName: &dpconfig.JWTPerRoute{RequirementName: "r"}}},
			{Name: "ip", Match: dpconfig.RouteMatch{PathKind: dpconfig.PathExact, Path: "/ip", CaseSensitive: true}, DirectResponse: direct,
				PerFilter: map[string]any{dpconfig.RBACFilterName: ipRules}},
		}}}}},
	}
	if err := rt.Apply(context.Background(), snap); err != nil {
		tb.Fatal(err)
	}
	h := &handler{rt: rt, listener: "http"}
	if rt.stats != nil {
		h.stats = rt.stats.Listener("http", "127.0.0.1:0")
	}
	return rt, h
}

func signToken(tb testing.TB, alg jose.SignatureAlgorithm, key any) string {
	tb.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
	if err != nil {
		tb.Fatal(err)
	}
	p, _ := json.Marshal(map[string]any{"iss": "iss", "aud": "api", "sub": "bench", "exp": time.Now().Add(time.Hour).Unix()})
	o, _ := s.Sign(p)
	out, _ := o.CompactSerialize()
	return out
}

func keySet(tb testing.TB, k any) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "k"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func serveOnce(ctx context.Context, h *handler, w *discardWriter, r *httpmsg.Request, path, authz string) {
	r.Reset()
	r.Method, r.Scheme, r.Authority, r.Path, r.Proto = "GET", "http", "api.test", path, httpmsg.HTTP11
	r.RemoteAddr = netip.MustParseAddrPort("127.0.0.1:40000")
	r.Header.Set("x-request-id", "fixed") // keep request-id generation out of the comparison
	if authz != "" {
		r.Header.Set("authorization", authz)
	}
	h.ServeHTTP(ctx, w, r)
}

// TestChainAnswersThroughTheHandler pins what the benchmark measures: the
// JWT route refuses a request without a token and serves one with it.
func TestChainAnswersThroughTheHandler(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, h := chainRuntime(t, keySet(t, key.Public()), false)
	tok := "Bearer " + signToken(t, jose.RS256, key)
	var r httpmsg.Request
	for _, tc := range []struct {
		path, authz string
		want        int
	}{{"/plain", "", 200}, {"/jwt", "", 401}, {"/jwt", tok, 200}, {"/jwt", "Bearer x.y.z", 401}, {"/ip", "", 200}} {
		w := &discardWriter{}
		serveOnce(context.Background(), h, w, &r, tc.path, tc.authz)
		if w.status != tc.want {
			t.Errorf("%s (token %v): %d, want %d", tc.path, tc.authz != "", w.status, tc.want)
		}
	}
}

// BenchmarkFilterChain compares a request through the handler on a route
// without policy, with an IP allow list, and with a JWT requirement: a
// token served from the verified-token cache (a client reusing its token,
// the common case) and tokens verified on every request (RS256 2048-bit,
// ES256).
func BenchmarkFilterChain(b *testing.B) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, bc := range []struct {
		name, path string
		jwks       []byte
		token      func() string
		noCache    bool
	}{
		{"plain", "/plain", keySet(b, rsaKey.Public()), func() string { return "" }, false},
		{"ip-allow", "/ip", keySet(b, rsaKey.Public()), func() string { return "" }, false},
		{"jwt-RS256-cached", "/jwt", keySet(b, rsaKey.Public()), func() string { return "Bearer " + signToken(b, jose.RS256, rsaKey) }, false},
		{"jwt-RS256-verify", "/jwt", keySet(b, rsaKey.Public()), func() string { return "Bearer " + signToken(b, jose.RS256, rsaKey) }, true},
		{"jwt-ES256-verify", "/jwt", keySet(b, ecKey.Public()), func() string { return "Bearer " + signToken(b, jose.ES256, ecKey) }, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, h := chainRuntime(b, bc.jwks, bc.noCache)
			tok := bc.token()
			w := &discardWriter{}
			var r httpmsg.Request
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serveOnce(ctx, h, w, &r, bc.path, tok)
			}
			b.StopTimer()
			if w.status != 200 {
				b.Fatalf("status %d", w.status)
			}
		})
	}
}
