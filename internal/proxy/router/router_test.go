package router

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

type req struct {
	authority, path, query, method, scheme string
	headers                                map[string]string
}

func (r *req) Authority() string { return r.authority }
func (r *req) Path() string      { return r.path }
func (r *req) RawQuery() string  { return r.query }
func (r *req) Method() string {
	if r.method == "" {
		return "GET"
	}
	return r.method
}
func (r *req) Scheme() string { return "http" }
func (r *req) Header(n string) (string, bool) {
	v, ok := r.headers[n]
	return v, ok
}

func anchored(s string) *regexp.Regexp { return regexp.MustCompile("^(?:" + s + ")$") }

func route(name string, m dpconfig.RouteMatch) *dpconfig.Route {
	return &dpconfig.Route{Name: name, Match: m, DirectResponse: &dpconfig.DirectResponse{Status: 200}}
}

func TestVirtualHostSelection(t *testing.T) {
	vh := func(name string, domains ...string) *dpconfig.VirtualHost {
		return &dpconfig.VirtualHost{Name: name, Domains: domains}
	}
	tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{
		vh("exact", "api.example.com"),
		vh("short-suffix", "*.com"),
		vh("long-suffix", "*.example.com"),
		vh("prefix", "api.*"),
		vh("ported", "ported.example:8080"),
		vh("any", "*"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ authority, want string }{
		{"api.example.com", "exact"},
		{"API.Example.COM", "exact"},
		{"api.example.com:8080", "exact"},
		{"www.example.com", "long-suffix"},
		{"a.b.example.com", "long-suffix"}, // Envoy's wildcard spans labels
		{"example.com", "short-suffix"},    // "*.example.com" needs something before the dot
		{"foo.com", "short-suffix"},
		{"api.internal", "prefix"},
		{"ported.example:8080", "ported"},
		{"ported.example", "any"},
		{"unknown.org", "any"},
		{"[::1]:80", "any"},
	}
	for _, tt := range tests {
		t.Run(tt.authority, func(t *testing.T) {
			got := tab.VirtualHost(tt.authority)
			if got == nil || got.Name != tt.want {
				t.Fatalf("VirtualHost(%q) = %v, want %s", tt.authority, got, tt.want)
			}
		})
	}
	if _, err := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{vh("a", "x.com"), vh("b", "X.com")}}); err == nil {
		t.Fatal("duplicate domain across virtual hosts was accepted")
	}
}

func TestRouteMatching(t *testing.T) {
	sm := func(k dpconfig.StringMatchKind, v string) *dpconfig.StringMatcher {
		m := &dpconfig.StringMatcher{Kind: k, Value: v}
		if k == dpconfig.StringRegex {
			m.Regex = anchored(v)
		}
		return m
	}
	tests := []struct {
		name  string
		match dpconfig.RouteMatch
		req   req
		want  bool
	}{
		{"prefix /foo matches /foobar", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/foo", CaseSensitive: true}, req{path: "/foobar"}, true},
		{"prefix is case sensitive by default", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/foo", CaseSensitive: true}, req{path: "/FOO"}, false},
		{"prefix with case_sensitive false", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/foo"}, req{path: "/FOObar"}, true},
		{"prefix ignores the query", dpconfig.RouteMatch{PathKind: dpconfig.PathExact, Path: "/a", CaseSensitive: true}, req{path: "/a", query: "b=c"}, true},
		{"exact does not match a longer path", dpconfig.RouteMatch{PathKind: dpconfig.PathExact, Path: "/a", CaseSensitive: true}, req{path: "/a/"}, false},
		{"path_separated_prefix matches itself", dpconfig.RouteMatch{PathKind: dpconfig.PathSeparatedPrefix, Path: "/foo", CaseSensitive: true}, req{path: "/foo"}, true},
		{"path_separated_prefix matches a sub path", dpconfig.RouteMatch{PathKind: dpconfig.PathSeparatedPrefix, Path: "/foo", CaseSensitive: true}, req{path: "/foo/bar"}, true},
		{"path_separated_prefix matches a trailing slash", dpconfig.RouteMatch{PathKind: dpconfig.PathSeparatedPrefix, Path: "/foo", CaseSensitive: true}, req{path: "/foo/"}, true},
		{"path_separated_prefix /foo does not match /foobar", dpconfig.RouteMatch{PathKind: dpconfig.PathSeparatedPrefix, Path: "/foo", CaseSensitive: true}, req{path: "/foobar"}, false},
		{"regex is anchored", dpconfig.RouteMatch{PathKind: dpconfig.PathRegex, Regex: anchored("/items/[0-9]+")}, req{path: "/items/1/x"}, false},
		{"regex matches", dpconfig.RouteMatch{PathKind: dpconfig.PathRegex, Regex: anchored("/items/[0-9]+")}, req{path: "/items/12"}, true},
		{"header exact", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: "x-user", String: sm(dpconfig.StringExact, "alice")}}},
			req{path: "/", headers: map[string]string{"x-user": "alice"}}, true},
		{"header absent does not match a string matcher", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: "x-user", String: sm(dpconfig.StringExact, "alice")}}},
			req{path: "/"}, false},
		{"invert header match with header absent does not match (Envoy)", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: "x-block", Invert: true, String: sm(dpconfig.StringExact, "1")}}},
			req{path: "/"}, false},
		{"invert with treat_missing_header_as_empty matches an absent header (Istio withoutHeaders)", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: "x-block", Invert: true, TreatMissingAsEmpty: true, String: sm(dpconfig.StringExact, "1")}}},
			req{path: "/"}, true},
		{"invert excludes the value", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: "x-block", Invert: true, TreatMissingAsEmpty: true, String: sm(dpconfig.StringExact, "1")}}},
			req{path: "/", headers: map[string]string{"x-block": "1"}}, false},
		{"present match", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: "x-a", Present: true}}},
			req{path: "/", headers: map[string]string{"x-a": ""}}, true},
		{"present match with header absent", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: "x-a", Present: true}}},
			req{path: "/"}, false},
		{"method pseudo header", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: ":method", String: sm(dpconfig.StringExact, "POST")}}},
			req{path: "/", method: "POST"}, true},
		{"authority regex restricts a wildcard to one label", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", Headers: []dpconfig.HeaderMatcher{{Name: ":authority", String: sm(dpconfig.StringRegex, `[^.]+\.example\.com(:[0-9]+)?`)}}},
			req{path: "/", authority: "a.b.example.com"}, false},
		{"query param exact, decoded", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", QueryParams: []dpconfig.QueryParamMatcher{{Name: "q", String: sm(dpconfig.StringExact, "a b")}}},
			req{path: "/", query: "x=1&q=a%20b"}, true},
		{"query param first occurrence wins", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", QueryParams: []dpconfig.QueryParamMatcher{{Name: "v", String: sm(dpconfig.StringExact, "2")}}},
			req{path: "/", query: "v=1&v=2"}, false},
		{"query param present", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", QueryParams: []dpconfig.QueryParamMatcher{{Name: "debug", Present: true}}},
			req{path: "/", query: "debug"}, true},
		{"query param absent", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", QueryParams: []dpconfig.QueryParamMatcher{{Name: "debug", Present: true}}},
			req{path: "/", query: "x=1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*dpconfig.Route{route("r", tt.match)}}}})
			if err != nil {
				t.Fatal(err)
			}
			r := tt.req
			_, got := tab.Match(&r)
			if (got != nil) != tt.want {
				t.Fatalf("matched = %v, want %v", got != nil, tt.want)
			}
		})
	}
}

func TestFirstMatchWins(t *testing.T) {
	tab, _ := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*dpconfig.Route{
		route("specific", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/api/v2", CaseSensitive: true}),
		route("general", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/api", CaseSensitive: true}),
		route("shadowed", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/api/v3", CaseSensitive: true}),
	}}}})
	for path, want := range map[string]string{"/api/v2/x": "specific", "/api/v3": "general", "/api": "general"} {
		if _, r := tab.Match(&req{path: path}); r == nil || r.Name != want {
			t.Errorf("%s matched %v, want %s", path, r, want)
		}
	}
	if _, r := tab.Match(&req{path: "/other"}); r != nil {
		t.Errorf("/other matched %s, want no route", r.Name)
	}
}

func TestPickClusterFollowsWeights(t *testing.T) {
	a := &dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "v1", Weight: 90}, {Name: "v2", Weight: 10}, {Name: "v3", Weight: 0}}, TotalWeight: 100}
	counts := map[string]int{}
	for i := uint64(0); i < 1000; i++ {
		counts[PickCluster(a, i).Name]++
	}
	if counts["v1"] != 900 || counts["v2"] != 100 || counts["v3"] != 0 {
		t.Fatalf("counts over a full cycle = %v, want 900/100/0", counts)
	}
	if PickCluster(&dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "a"}, {Name: "b"}}}, 7) != nil {
		t.Fatal("total weight 0 must pick nothing")
	}
	if c := PickCluster(&dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "only"}}}, 7); c == nil || c.Name != "only" {
		t.Fatal("a single cluster must always be picked")
	}
}

func TestRewriteAndRedirect(t *testing.T) {
	pre := func(prefix, rewrite string, kind dpconfig.PathKind) *dpconfig.Route {
		return &dpconfig.Route{Match: dpconfig.RouteMatch{PathKind: kind, Path: prefix}, Forward: &dpconfig.RouteAction{PrefixRewrite: rewrite}}
	}
	rw := []struct {
		name string
		rt   *dpconfig.Route
		in   string
		want string
	}{
		{"prefix replaced", pre("/v1/api", "/api", dpconfig.PathPrefix), "/v1/api/orders", "/api/orders"},
		{"prefix to root keeps one slash", pre("/v1", "/", dpconfig.PathSeparatedPrefix), "/v1/orders", "/orders"},
		{"exact replaced whole", pre("/old", "/new", dpconfig.PathExact), "/old", "/new"},
		{"regex rewrite", &dpconfig.Route{Forward: &dpconfig.RouteAction{RegexRewrite: &dpconfig.RegexRewrite{Regex: regexp.MustCompile(`^/u/([0-9]+)$`), Substitution: "/users/${1}"}}}, "/u/42", "/users/42"},
	}
	for _, tt := range rw {
		if got := RewritePath(tt.rt, tt.in); got != tt.want {
			t.Errorf("%s: RewritePath(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
	rd := []struct {
		name string
		rd   dpconfig.Redirect
		want string
	}{
		{"path replaced, query kept", dpconfig.Redirect{Path: "/new"}, "http://example.com:8080/new?x=1"},
		{"https redirect drops the port", dpconfig.Redirect{HTTPSRedirect: true}, "https://example.com/old?x=1"},
		{"host and port", dpconfig.Redirect{Host: "other.example", Port: 9443, Scheme: "https"}, "https://other.example:9443/old?x=1"},
		{"strip query", dpconfig.Redirect{Path: "/new", StripQuery: true}, "http://example.com:8080/new"},
	}
	for _, tt := range rd {
		if got := RedirectLocation(&tt.rd, "http", "example.com:8080", "/old", "x=1"); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func BenchmarkMatch1000Routes(b *testing.B) {
	var routes []*dpconfig.Route
	for i := 0; i < 1000; i++ {
		routes = append(routes, route(fmt.Sprint(i), dpconfig.RouteMatch{
			PathKind: dpconfig.PathRegex, Regex: anchored(fmt.Sprintf("/svc%d/[a-z]+", i)),
			Headers: []dpconfig.HeaderMatcher{{Name: "x-tenant", String: &dpconfig.StringMatcher{Kind: dpconfig.StringExact, Value: fmt.Sprint(i % 10)}}},
		}))
	}
	tab, _ := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: routes}}})
	r := &req{authority: "x", path: "/svc999/abc", headers: map[string]string{"x-tenant": "9"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, rt := tab.Match(r); rt == nil {
			b.Fatal("no match")
		}
	}
}

func FuzzMatch(f *testing.F) {
	tab, _ := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{{Name: "vh", Domains: []string{"*.example.com", "[::1]:80", "*"}, Routes: []*dpconfig.Route{
		route("a", dpconfig.RouteMatch{PathKind: dpconfig.PathSeparatedPrefix, Path: "/foo"}),
		route("b", dpconfig.RouteMatch{PathKind: dpconfig.PathRegex, Regex: anchored("/x/.*")}),
		route("c", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", QueryParams: []dpconfig.QueryParamMatcher{{Name: "q", Present: true}}}),
	}}}})
	f.Add("a.example.com", "/foo/bar", "q=%zz")
	f.Add("[::1]:80", "/x/y", "")
	f.Add(":", "", "&&=")
	f.Fuzz(func(t *testing.T, authority, path, query string) {
		tab.Match(&req{authority: authority, path: path, query: query})
	})
}
