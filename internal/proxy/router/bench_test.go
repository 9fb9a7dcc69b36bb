package router

import (
	"fmt"
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

// table1000 is a realistic large virtual host: 1,000 routes mixing
// prefixes, path-separated prefixes, exact paths and regexes, a third of
// them with header matchers, behind the ksgw :authority regex.
func table1000(tb testing.TB) *Table {
	tb.Helper()
	authority := dpconfig.HeaderMatcher{Name: ":authority", String: &dpconfig.StringMatcher{Kind: dpconfig.StringRegex, Regex: anchored(`[^.:]+\.example\.com(:[0-9]+)?`)}}
	var routes []*dpconfig.Route
	for i := 0; i < 1000; i++ {
		m := dpconfig.RouteMatch{CaseSensitive: true, Headers: []dpconfig.HeaderMatcher{authority}}
		switch i % 4 {
		case 0:
			m.PathKind, m.Path = dpconfig.PathPrefix, fmt.Sprintf("/svc%d/", i)
		case 1:
			m.PathKind, m.Path = dpconfig.PathSeparatedPrefix, fmt.Sprintf("/svc%d", i)
		case 2:
			m.PathKind, m.Path = dpconfig.PathExact, fmt.Sprintf("/svc%d/health", i)
		case 3:
			m.Path = fmt.Sprintf("/svc%d/items/[0-9]+", i)
			m.PathKind, m.Regex = dpconfig.PathRegex, anchored(m.Path)
		}
		if i%3 == 0 {
			m.Headers = append(m.Headers, dpconfig.HeaderMatcher{Name: "x-tenant", String: &dpconfig.StringMatcher{Kind: dpconfig.StringExact, Value: fmt.Sprint(i % 10)}})
		}
		routes = append(routes, route(fmt.Sprint(i), m))
	}
	tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{
		{Name: "exact", Domains: []string{"api.example.com"}, Routes: routes[:1]},
		{Name: "wild", Domains: []string{"*.example.com"}, Routes: routes},
		{Name: "any", Domains: []string{"*"}},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return tab
}

func BenchmarkMatch1000Routes(b *testing.B) {
	tab := table1000(b)
	cases := []struct {
		name string
		r    *req
		want string
	}{
		{"first route", &req{authority: "shop.example.com", path: "/svc0/x", headers: map[string]string{"x-tenant": "0"}}, "0"},
		{"middle regex", &req{authority: "shop.example.com:8080", path: "/svc499/items/42"}, "499"},
		{"last route with header", &req{authority: "shop.example.com", path: "/svc999/items/7", headers: map[string]string{"x-tenant": "9"}}, "999"},
		{"no route", &req{authority: "shop.example.com", path: "/nothing/here"}, ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, rt := tab.Match(c.r)
				if (rt == nil) != (c.want == "") || rt != nil && rt.Name != c.want {
					b.Fatalf("matched %v, want %q", rt, c.want)
				}
			}
		})
	}
}

func BenchmarkVirtualHostSelection(b *testing.B) {
	var vhs []*dpconfig.VirtualHost
	for i := 0; i < 1000; i++ {
		vhs = append(vhs, &dpconfig.VirtualHost{Name: fmt.Sprint(i), Domains: []string{fmt.Sprintf("host%d.example.com", i), fmt.Sprintf("*.t%d.example.com", i)}})
	}
	tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: vhs})
	if err != nil {
		b.Fatal(err)
	}
	for _, authority := range []string{"host999.example.com:8080", "a.b.t500.example.com"} {
		b.Run(authority, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tab.VirtualHost(authority) == nil {
					b.Fatal("no virtual host")
				}
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tab := table1000(t)
	r := &req{authority: "shop.example.com:8080", path: "/svc999/items/7", query: "a=1&b=2", headers: map[string]string{"x-tenant": "9"}}
	tab.Match(r) // warm the regexp machine pools
	if n := testing.AllocsPerRun(100, func() { tab.Match(r) }); n != 0 {
		t.Fatalf("Match allocates %v times per call, want 0", n)
	}
}

// BenchmarkMatchRegexRules is bench/ scenario 5's shape: 1,000 rules of a
// path regex plus an exact x-tenant header, the request matching the last.
func BenchmarkMatchRegexRules(b *testing.B) {
	var routes []*dpconfig.Route
	for i := 0; i < 1000; i++ {
		m := dpconfig.RouteMatch{CaseSensitive: true, PathKind: dpconfig.PathRegex, Path: fmt.Sprintf("/api/v[0-9]+/svc-%d/[a-z0-9-]+", i)}
		m.Regex = anchored(m.Path)
		m.Headers = []dpconfig.HeaderMatcher{{Name: "x-tenant", String: &dpconfig.StringMatcher{Kind: dpconfig.StringExact, Value: fmt.Sprint("tenant-", i%10)}}}
		routes = append(routes, route(fmt.Sprint(i), m))
	}
	tab, err := Compile(&dpconfig.RouteConfig{VirtualHosts: []*dpconfig.VirtualHost{{Name: "any", Domains: []string{"*"}, Routes: routes}}})
	if err != nil {
		b.Fatal(err)
	}
	r := &req{authority: "bench.local", path: "/api/v1/svc-999/items", headers: map[string]string{"x-tenant": "tenant-9"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, rt := tab.Match(r); rt == nil || rt.Name != "999" {
			b.Fatalf("matched %v, want 999", rt)
		}
	}
}
