package router

import (
	"regexp"
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

func TestPickCluster(t *testing.T) {
	ab := &dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "a", Weight: 90}, {Name: "b", Weight: 10}}, TotalWeight: 100}
	zeroFirst := &dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "a", Weight: 0}, {Name: "b", Weight: 5}}, TotalWeight: 5}
	tests := []struct {
		name string
		a    *dpconfig.RouteAction
		rnd  uint64
		want string // "" means nil
	}{
		{"random below the first weight picks the first", ab, 89, "a"},
		{"random at the first weight picks the second", ab, 90, "b"},
		{"random wraps modulo the total", ab, 100 + 95, "b"},
		{"weight zero is never picked", zeroFirst, 0, "b"},
		{"single cluster always picked", &dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "a", Weight: 1}}, TotalWeight: 1}, 12345, "a"},
		{"total weight zero picks nothing", &dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "a"}, {Name: "b"}}}, 3, ""},
		{"single cluster of weight zero picks nothing", &dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "a"}}}, 3, ""},
		{"nil action picks nothing", nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PickCluster(tt.a, tt.rnd)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Fatalf("PickCluster = %q, want %q", name, tt.want)
			}
		})
	}
}

func TestPickClusterDistribution(t *testing.T) {
	a := &dpconfig.RouteAction{Clusters: []dpconfig.WeightedCluster{{Name: "a", Weight: 3}, {Name: "b", Weight: 1}}, TotalWeight: 4}
	counts := map[string]int{}
	for i := uint64(0); i < 400; i++ {
		counts[PickCluster(a, i).Name]++
	}
	if counts["a"] != 300 || counts["b"] != 100 {
		t.Fatalf("counts = %v, want a:300 b:100", counts)
	}
}

func TestRewritePath(t *testing.T) {
	fwd := func(kind dpconfig.PathKind, path string, caseSensitive bool, a dpconfig.RouteAction) *dpconfig.Route {
		return &dpconfig.Route{Match: dpconfig.RouteMatch{PathKind: kind, Path: path, CaseSensitive: caseSensitive}, Forward: &a}
	}
	rr := func(re, sub string) *dpconfig.RegexRewrite {
		return &dpconfig.RegexRewrite{Regex: regexp.MustCompile(re), Substitution: sub}
	}
	tests := []struct {
		name string
		rt   *dpconfig.Route
		path string
		want string
	}{
		{"prefix rewrite replaces exactly the matched prefix", fwd(dpconfig.PathPrefix, "/v1/api", true, dpconfig.RouteAction{PrefixRewrite: "/api"}), "/v1/api/orders", "/api/orders"},
		{"prefix rewrite to root keeps the slash as Envoy", fwd(dpconfig.PathPrefix, "/v1", true, dpconfig.RouteAction{PrefixRewrite: "/"}), "/v1/orders", "//orders"},
		{"prefix rewrite with trailing-slash prefix", fwd(dpconfig.PathPrefix, "/v1/", true, dpconfig.RouteAction{PrefixRewrite: "/"}), "/v1/orders", "/orders"},
		{"prefix rewrite mid-segment", fwd(dpconfig.PathPrefix, "/foo", true, dpconfig.RouteAction{PrefixRewrite: "/bar"}), "/foobaz", "/barbaz"},
		{"case-insensitive prefix replaces the request's bytes", fwd(dpconfig.PathPrefix, "/foo", false, dpconfig.RouteAction{PrefixRewrite: "/bar"}), "/FOO/x", "/bar/x"},
		{"path_separated_prefix rewrite", fwd(dpconfig.PathSeparatedPrefix, "/foo", true, dpconfig.RouteAction{PrefixRewrite: "/bar"}), "/foo/x", "/bar/x"},
		{"exact match rewrite replaces the whole path", fwd(dpconfig.PathExact, "/old", true, dpconfig.RouteAction{PrefixRewrite: "/new"}), "/old", "/new"},
		{"regex match prefix rewrite replaces the whole path", fwd(dpconfig.PathRegex, "", true, dpconfig.RouteAction{PrefixRewrite: "/new"}), "/a/b", "/new"},
		{"regex rewrite with group", fwd(dpconfig.PathPrefix, "/", true, dpconfig.RouteAction{RegexRewrite: rr(`^/u/([0-9]+)$`, "/users/${1}")}), "/u/42", "/users/42"},
		{"regex rewrite replaces every match", fwd(dpconfig.PathPrefix, "/", true, dpconfig.RouteAction{RegexRewrite: rr(`o`, "0")}), "/foo/bo", "/f00/b0"},
		{"no rewrite keeps the path", fwd(dpconfig.PathPrefix, "/", true, dpconfig.RouteAction{}), "/a", "/a"},
		{"redirect routes are not rewritten here", &dpconfig.Route{Redirect: &dpconfig.Redirect{}}, "/a", "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RewritePath(tt.rt, tt.path); got != tt.want {
				t.Fatalf("RewritePath(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestRedirectLocation(t *testing.T) {
	type in struct{ scheme, authority, path, query string }
	tests := []struct {
		name string
		rd   dpconfig.Redirect
		in   in
		want string
	}{
		{"https redirect drops port 80", dpconfig.Redirect{HTTPSRedirect: true}, in{"http", "example.com:80", "/a", ""}, "https://example.com/a"},
		{"https redirect keeps a non-default port", dpconfig.Redirect{HTTPSRedirect: true}, in{"http", "example.com:8080", "/a", "x=1"}, "https://example.com:8080/a?x=1"},
		{"https redirect without port", dpconfig.Redirect{HTTPSRedirect: true}, in{"http", "example.com", "/", ""}, "https://example.com/"},
		{"scheme redirect to http drops 443", dpconfig.Redirect{Scheme: "http"}, in{"https", "example.com:443", "/", ""}, "http://example.com/"},
		{"same scheme keeps port 80", dpconfig.Redirect{Host: ""}, in{"http", "example.com:80", "/a", ""}, "http://example.com:80/a"},
		{"scheme_redirect wins over https_redirect", dpconfig.Redirect{HTTPSRedirect: true, Scheme: "ftp"}, in{"http", "a", "/", ""}, "ftp://a/"},
		{"port redirect replaces the port", dpconfig.Redirect{Port: 8443}, in{"http", "example.com:8080", "/a", ""}, "http://example.com:8443/a"},
		{"port redirect on IPv6", dpconfig.Redirect{Port: 8443}, in{"http", "[::1]:8080", "/", ""}, "http://[::1]:8443/"},
		{"host redirect keeps scheme and path", dpconfig.Redirect{Host: "other.com"}, in{"http", "example.com:8080", "/a", "q=1"}, "http://other.com/a?q=1"},
		{"host and port redirect", dpconfig.Redirect{Host: "other.com:1", Port: 2}, in{"http", "example.com", "/", ""}, "http://other.com:2/"},
		{"path redirect keeps the request query", dpconfig.Redirect{Path: "/new"}, in{"http", "a", "/old", "x=1"}, "http://a/new?x=1"},
		{"path redirect with query replaces the request query", dpconfig.Redirect{Path: "/new?y=2"}, in{"http", "a", "/old", "x=1"}, "http://a/new?y=2"},
		{"strip_query drops the request query", dpconfig.Redirect{StripQuery: true}, in{"http", "a", "/old", "x=1"}, "http://a/old"},
		{"strip_query keeps the path redirect query", dpconfig.Redirect{Path: "/new?y=2", StripQuery: true}, in{"http", "a", "/old", "x=1"}, "http://a/new?y=2"},
		{"path redirect without slash gets one", dpconfig.Redirect{Path: "new"}, in{"http", "a", "/old", ""}, "http://a/new"},
		{"prefix rewrite replaces the matched prefix", dpconfig.Redirect{PrefixRewrite: "/v2", PrefixMatch: "/v1"}, in{"http", "a", "/v1/x", "q=1"}, "http://a/v2/x?q=1"},
		{"prefix rewrite of an exact route replaces the path", dpconfig.Redirect{PrefixRewrite: "/v2", WholePathMatched: true}, in{"http", "a", "/v1/x", ""}, "http://a/v2"},
		{"regex rewrite in redirect", dpconfig.Redirect{RegexRewrite: &dpconfig.RegexRewrite{Regex: regexp.MustCompile(`^/old/(.*)$`), Substitution: "/new/${1}"}}, in{"https", "a", "/old/x", "q"}, "https://a/new/x?q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedirectLocation(&tt.rd, tt.in.scheme, tt.in.authority, tt.in.path, tt.in.query)
			if got != tt.want {
				t.Fatalf("RedirectLocation = %q, want %q", got, tt.want)
			}
		})
	}
}
