package router

import (
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
func (r *req) Scheme() string {
	if r.scheme == "" {
		return "http"
	}
	return r.scheme
}
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
