package router

import (
	"strings"
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

func FuzzMatch(f *testing.F) {
	str := func(k dpconfig.StringMatchKind, v string, ic bool) *dpconfig.StringMatcher {
		m := &dpconfig.StringMatcher{Kind: k, Value: v, IgnoreCase: ic}
		if k == dpconfig.StringRegex {
			m.Regex = anchored(v)
		}
		return m
	}
	tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{
		{Name: "wild", Domains: []string{"*.example.com", "api-*", "[::1]:80", "Ported.example:8080"}, Routes: []*dpconfig.Route{
			route("sep", dpconfig.RouteMatch{PathKind: dpconfig.PathSeparatedPrefix, Path: "/foo"}),
			route("regex", dpconfig.RouteMatch{PathKind: dpconfig.PathRegex, Regex: anchored("/x/.*")}),
			route("hdr", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/h", Headers: []dpconfig.HeaderMatcher{
				{Name: "x-a", String: str(dpconfig.StringContains, "Ab", true)},
				{Name: ":path", String: str(dpconfig.StringSuffix, "z", false)},
				{Name: "x-b", Invert: true, TreatMissingAsEmpty: true, String: str(dpconfig.StringRegex, "[0-9]+", false)},
			}}),
			route("query", dpconfig.RouteMatch{PathKind: dpconfig.PathPrefix, Path: "/", QueryParams: []dpconfig.QueryParamMatcher{{Name: "q", String: str(dpconfig.StringPrefix, "a", true)}, {Name: "p", Present: true}}}),
		}},
		{Name: "any", Domains: []string{"*"}, Routes: []*dpconfig.Route{route("exact", dpconfig.RouteMatch{PathKind: dpconfig.PathExact, Path: "/E"})}},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("a.example.com", "/foo/bar", "q=%zz&p", "ab", "1")
	f.Add("[::1]:80", "/x/y", "", "", "")
	f.Add(":", "", "&&=", "\xff", "")
	f.Add("PORTED.example:8080", "/hz", "q=A%20", "xAB", "x")
	f.Add("[", "#", "=&=", "", "")
	f.Fuzz(func(t *testing.T, authority, path, query, a, b string) {
		r := &req{authority: authority, path: path, query: query, headers: map[string]string{"x-a": a, "x-b": b}}
		vh, rt := tab.Match(r)
		if rt != nil && vh == nil {
			t.Fatal("route without virtual host")
		}
		if rt != nil && rt.Name == "sep" && !strings.HasPrefix(strings.ToLower(path), "/foo") {
			t.Fatalf("path_separated_prefix matched %q", path)
		}
		_ = stripPort(authority)
		_ = RedirectLocation(&dpconfig.Redirect{HTTPSRedirect: true, Port: 1, PrefixMatch: "/foo", PrefixRewrite: "/"}, "http", authority, path, query)
	})
}
