package router

import (
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

func TestVirtualHostSelectionRules(t *testing.T) {
	vh := func(name string, domains ...string) *dpconfig.VirtualHost {
		return &dpconfig.VirtualHost{Name: name, Domains: domains}
	}
	tests := []struct {
		name      string
		vhosts    []*dpconfig.VirtualHost
		authority string
		want      string // "" means no virtual host
	}{
		{"exact domain beats wildcard", []*dpconfig.VirtualHost{vh("wild", "*.foo.com"), vh("exact", "a.foo.com")}, "a.foo.com", "exact"},
		{"longest suffix wildcard wins", []*dpconfig.VirtualHost{vh("short", "*.com"), vh("long", "*.foo.com")}, "a.foo.com", "long"},
		{"longest suffix wildcard wins regardless of order", []*dpconfig.VirtualHost{vh("long", "*.foo.com"), vh("short", "*.com")}, "a.foo.com", "long"},
		{"non label suffix wildcard is longest first", []*dpconfig.VirtualHost{vh("dot", "*.foo.com"), vh("dash", "*-bar.foo.com")}, "x-bar.foo.com", "dash"},
		{"suffix wildcard needs one character", []*dpconfig.VirtualHost{vh("wild", "*.foo.com")}, "foo.com", ""},
		{"suffix wildcard does not match the bare dot", []*dpconfig.VirtualHost{vh("wild", "*.foo.com")}, ".foo.com", ""},
		{"suffix wildcard spans labels as in Envoy", []*dpconfig.VirtualHost{vh("wild", "*.foo.com")}, "a.b.foo.com", "wild"},
		{"suffix beats prefix wildcard", []*dpconfig.VirtualHost{vh("prefix", "api.*"), vh("suffix", "*.com")}, "api.com", "suffix"},
		{"longest prefix wildcard wins", []*dpconfig.VirtualHost{vh("short", "api.*"), vh("long", "api.v1.*")}, "api.v1.internal", "long"},
		{"non label prefix wildcard", []*dpconfig.VirtualHost{vh("dash", "api-*")}, "api-east.internal", "dash"},
		{"prefix wildcard needs one character", []*dpconfig.VirtualHost{vh("prefix", "api.*")}, "api.", ""},
		{"star catches the rest", []*dpconfig.VirtualHost{vh("exact", "a.com"), vh("any", "*")}, "b.org", "any"},
		{"no star means no virtual host", []*dpconfig.VirtualHost{vh("exact", "a.com")}, "b.org", ""},
		{"authority is lower-cased", []*dpconfig.VirtualHost{vh("exact", "a.foo.com")}, "A.FOO.Com", "exact"},
		{"domains are lower-cased", []*dpconfig.VirtualHost{vh("exact", "A.Foo.com")}, "a.foo.com", "exact"},
		{"port stripped from authority", []*dpconfig.VirtualHost{vh("exact", "a.com")}, "a.com:8080", "exact"},
		{"port stripped before wildcard match", []*dpconfig.VirtualHost{vh("wild", "*.a.com")}, "x.a.com:8443", "wild"},
		{"domain with that port wins", []*dpconfig.VirtualHost{vh("plain", "a.com"), vh("ported", "a.com:8080")}, "a.com:8080", "ported"},
		{"domain with another port does not keep the port", []*dpconfig.VirtualHost{vh("plain", "a.com"), vh("ported", "a.com:9090")}, "a.com:8080", "plain"},
		{"ported domain needs the port", []*dpconfig.VirtualHost{vh("ported", "a.com:8080"), vh("any", "*")}, "a.com", "any"},
		{"ported domain elsewhere does not block exact match", []*dpconfig.VirtualHost{vh("b", "b.com:8080"), vh("a", "a.com")}, "a.com:8080", "a"},
		{"prefix wildcard does not beat exact for a ported authority", []*dpconfig.VirtualHost{vh("p", "a.*"), vh("e", "a.com"), vh("x", "x.com:80")}, "a.com:80", "e"},
		{"IPv6 literal with port", []*dpconfig.VirtualHost{vh("v6", "[::1]")}, "[::1]:8080", "v6"},
		{"IPv6 literal without port", []*dpconfig.VirtualHost{vh("v6", "[::1]")}, "[::1]", "v6"},
		{"star inside a domain is literal", []*dpconfig.VirtualHost{vh("odd", "a.*.com"), vh("any", "*")}, "a.b.com", "any"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: tt.vhosts})
			if err != nil {
				t.Fatal(err)
			}
			got := tab.VirtualHost(tt.authority)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Fatalf("VirtualHost(%q) = %q, want %q", tt.authority, name, tt.want)
			}
		})
	}
}

func TestCompileRejectsDuplicates(t *testing.T) {
	vh := func(name string, domains ...string) *dpconfig.VirtualHost {
		return &dpconfig.VirtualHost{Name: name, Domains: domains}
	}
	for name, vhs := range map[string][]*dpconfig.VirtualHost{
		"same domain in two virtual hosts":    {vh("a", "x.com"), vh("b", "X.com")},
		"two star virtual hosts":              {vh("a", "*"), vh("b", "*")},
		"same wildcard in two virtual hosts":  {vh("a", "*.x.com"), vh("b", "*.x.com")},
		"same domain twice in a virtual host": {vh("a", "x.com", "x.com")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Compile(&dpconfig.RouteConfig{VirtualHosts: vhs}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestRouteMatchingDetails(t *testing.T) {
	prefix := func(p string) dpconfig.RouteMatch {
		return dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: p, CaseSensitive: true}
	}
	withHeader := func(h dpconfig.HeaderMatcher) dpconfig.RouteMatch {
		m := prefix("/")
		m.Headers = []dpconfig.HeaderMatcher{h}
		return m
	}
	withQuery := func(q dpconfig.QueryParamMatcher) dpconfig.RouteMatch {
		m := prefix("/")
		m.QueryParams = []dpconfig.QueryParamMatcher{q}
		return m
	}
	str := func(k dpconfig.StringMatchKind, v string, ignoreCase bool) *dpconfig.StringMatcher {
		m := &dpconfig.StringMatcher{Kind: k, Value: v, IgnoreCase: ignoreCase}
		if k == dpconfig.StringRegex {
			m.Regex = anchored(v)
		}
		return m
	}
	hdr := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		match dpconfig.RouteMatch
		req   req
		want  bool
	}{
		{"prefix does not match a shorter path", prefix("/foo"), req{path: "/fo"}, false},
		{"exact case-insensitive", dpconfig.RouteMatch{PathKind: dpconfig.PathExact, Path: "/Foo"}, req{path: "/fOO"}, true},
		{"case-insensitive is ASCII only", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/k"}, req{path: "/\u212a"}, false},
		{"path_separated_prefix case-insensitive", dpconfig.RouteMatch{PathKind: dpconfig.PathSeparatedPrefix, Path: "/api"}, req{path: "/API/x"}, true},
		{"path is not normalised", prefix("/admin"), req{path: "/public/../admin"}, false},
		{"fragment is ignored for path matching", dpconfig.RouteMatch{PathKind: dpconfig.PathExact, Path: "/a", CaseSensitive: true}, req{path: "/a#frag"}, true},
		{"regex ignores case_sensitive false", dpconfig.RouteMatch{PathKind: dpconfig.PathRegex, Regex: anchored("/a[0-9]")}, req{path: "/A1"}, false},
		{"regex with literal prefix still matches", dpconfig.RouteMatch{PathKind: dpconfig.PathRegex, Regex: anchored("/api/v[0-9]+/.*")}, req{path: "/api/v2/x"}, true},
		{"case-insensitive regex matches", dpconfig.RouteMatch{PathKind: dpconfig.PathRegex, Regex: anchored("(?i)/api/.*")}, req{path: "/API/x"}, true},
		{"header prefix", withHeader(dpconfig.HeaderMatcher{Name: "x-v", String: str(dpconfig.StringPrefix, "be", false)}), req{path: "/", headers: hdr("x-v", "beta")}, true},
		{"header suffix", withHeader(dpconfig.HeaderMatcher{Name: "x-v", String: str(dpconfig.StringSuffix, "ta", false)}), req{path: "/", headers: hdr("x-v", "beta")}, true},
		{"header contains ignore_case", withHeader(dpconfig.HeaderMatcher{Name: "x-v", String: str(dpconfig.StringContains, "ET", true)}), req{path: "/", headers: hdr("x-v", "beta")}, true},
		{"header contains is case sensitive by default", withHeader(dpconfig.HeaderMatcher{Name: "x-v", String: str(dpconfig.StringContains, "ET", false)}), req{path: "/", headers: hdr("x-v", "beta")}, false},
		{"header exact ignore_case", withHeader(dpconfig.HeaderMatcher{Name: "x-v", String: str(dpconfig.StringExact, "BETA", true)}), req{path: "/", headers: hdr("x-v", "beta")}, true},
		{"header regex is anchored", withHeader(dpconfig.HeaderMatcher{Name: "x-v", String: str(dpconfig.StringRegex, "b.t", false)}), req{path: "/", headers: hdr("x-v", "beta")}, false},
		{"header joined values match as one", withHeader(dpconfig.HeaderMatcher{Name: "x-v", String: str(dpconfig.StringExact, "a,b", false)}), req{path: "/", headers: hdr("x-v", "a,b")}, true},
		{"invert header match with header absent", withHeader(dpconfig.HeaderMatcher{Name: "x-v", Invert: true, String: str(dpconfig.StringExact, "a", false)}), req{path: "/"}, false},
		{"invert header match with header absent treated as empty", withHeader(dpconfig.HeaderMatcher{Name: "x-v", Invert: true, TreatMissingAsEmpty: true, String: str(dpconfig.StringExact, "a", false)}), req{path: "/"}, true},
		{"invert header match with other value", withHeader(dpconfig.HeaderMatcher{Name: "x-v", Invert: true, String: str(dpconfig.StringExact, "a", false)}), req{path: "/", headers: hdr("x-v", "b")}, true},
		{"present_match false with header absent", withHeader(dpconfig.HeaderMatcher{Name: "x-v"}), req{path: "/"}, true},
		{"present_match false with header present", withHeader(dpconfig.HeaderMatcher{Name: "x-v"}), req{path: "/", headers: hdr("x-v", "1")}, false},
		{"inverted present_match with header absent", withHeader(dpconfig.HeaderMatcher{Name: "x-v", Present: true, Invert: true}), req{path: "/"}, true},
		{"inverted present_match with header present", withHeader(dpconfig.HeaderMatcher{Name: "x-v", Present: true, Invert: true}), req{path: "/", headers: hdr("x-v", "")}, false},
		{"treat missing as empty matches empty exact", withHeader(dpconfig.HeaderMatcher{Name: "x-v", TreatMissingAsEmpty: true, String: str(dpconfig.StringExact, "", false)}), req{path: "/"}, true},
		{"scheme pseudo header", withHeader(dpconfig.HeaderMatcher{Name: ":scheme", String: str(dpconfig.StringExact, "https", false)}), req{path: "/", scheme: "https"}, true},
		{"authority pseudo header keeps the port", withHeader(dpconfig.HeaderMatcher{Name: ":authority", String: str(dpconfig.StringRegex, `[^.]+\.example\.com(:[0-9]+)?`, false)}), req{path: "/", authority: "a.example.com:8080"}, true},
		{"path pseudo header includes the query", withHeader(dpconfig.HeaderMatcher{Name: ":path", String: str(dpconfig.StringExact, "/a?b=1", false)}), req{path: "/a", query: "b=1"}, true},
		{"unknown pseudo header is absent", withHeader(dpconfig.HeaderMatcher{Name: ":protocol", Present: true}), req{path: "/"}, false},
		{"query plus decodes to space", withQuery(dpconfig.QueryParamMatcher{Name: "q", String: str(dpconfig.StringExact, "a b", false)}), req{path: "/", query: "q=a+b"}, true},
		{"query name is decoded", withQuery(dpconfig.QueryParamMatcher{Name: "a b", Present: true}), req{path: "/", query: "a%20b=1"}, true},
		{"query value without equals is empty", withQuery(dpconfig.QueryParamMatcher{Name: "q", String: str(dpconfig.StringExact, "", false)}), req{path: "/", query: "q"}, true},
		{"query present_match false never matches", withQuery(dpconfig.QueryParamMatcher{Name: "q"}), req{path: "/", query: "q=1"}, false},
		{"query present_match false with parameter absent", withQuery(dpconfig.QueryParamMatcher{Name: "q"}), req{path: "/"}, false},
		{"query bad escape is matched raw", withQuery(dpconfig.QueryParamMatcher{Name: "q", String: str(dpconfig.StringExact, "%zz", false)}), req{path: "/", query: "q=%zz"}, true},
		{"query prefix matcher", withQuery(dpconfig.QueryParamMatcher{Name: "v", String: str(dpconfig.StringPrefix, "1.", false)}), req{path: "/", query: "v=1.2"}, true},
		{"query does not affect the path", prefix("/a"), req{path: "/a", query: "/b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []*dpconfig.Route{route("r", tt.match)}}}})
			if err != nil {
				t.Fatal(err)
			}
			r := tt.req
			vh, got := tab.Match(&r)
			if vh == nil {
				t.Fatal("no virtual host")
			}
			if (got != nil) != tt.want {
				t.Fatalf("matched = %v, want %v", got != nil, tt.want)
			}
		})
	}
}

func TestMatchWithoutVirtualHost(t *testing.T) {
	tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{{Name: "a", Domains: []string{"a.com"}, Routes: []*dpconfig.Route{route("r", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/"})}}}})
	if err != nil {
		t.Fatal(err)
	}
	if vh, rt := tab.Match(&req{authority: "b.com", path: "/"}); vh != nil || rt != nil {
		t.Fatalf("got %v, %v; want no virtual host and no route", vh, rt)
	}
}
