package waf

import (
	"net/netip"
	"strings"
	"testing"
)

func compileCRS(t testing.TB, cfg CRSConfig) *CRS {
	t.Helper()
	c, err := CompileCRS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	client = netip.MustParseAddrPort("192.0.2.10:40000")
	server = netip.MustParseAddrPort("127.0.8.1:8080")
)

func browser(method, target string, body string, kv ...string) *Input {
	in := req(method, target, append([]string{
		"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
		"Accept", "text/html,application/xhtml+xml",
		"Accept-Language", "en-US,en;q=0.5",
	}, kv...)...)
	in.Authority = "shop.example.com"
	in.Client = client
	in.Body = []byte(body)
	return in
}

func TestCRS(t *testing.T) {
	c := compileCRS(t, CRSConfig{})
	tests := []struct {
		name    string
		in      *Input
		blocked bool
	}{
		{"benign GET passes", browser("GET", "/products?category=shoes&page=2", ""), false},
		{"benign form POST passes", browser("POST", "/login", "user=alice&remember=on", "Content-Type", "application/x-www-form-urlencoded"), false},
		{"classic SQL injection in the query is blocked", browser("GET", "/products?id=1%27%20OR%20%271%27%3D%271", ""), true},
		{"UNION SELECT is blocked", browser("GET", "/products?id=1%20UNION%20SELECT%20username,password%20FROM%20users--", ""), true},
		{"XSS probe in the query is blocked", browser("GET", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", ""), true},
		{"SQL injection in a form body is blocked", browser("POST", "/login", "user=admin%27--&password=x", "Content-Type", "application/x-www-form-urlencoded"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.Inspect(tc.in, server, "HTTP/1.1")
			if err != nil {
				t.Fatal(err)
			}
			if d.Blocked != tc.blocked {
				t.Fatalf("blocked = %v, want %v; matches %+v", d.Blocked, tc.blocked, d.Matches)
			}
			if d.Blocked && d.Status != 403 {
				t.Fatalf("status %d, want 403", d.Status)
			}
		})
	}
}

func TestCRSDetectionOnlyReportsWithoutBlocking(t *testing.T) {
	c := compileCRS(t, CRSConfig{DetectionOnly: true})
	d, err := c.Inspect(browser("GET", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", ""), server, "HTTP/1.1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Blocked {
		t.Fatal("detection-only mode blocked")
	}
	if !hasRuleIn(d.Matches, 941000, 942000) {
		t.Fatalf("no XSS rule (941xxx) reported: %+v", d.Matches)
	}
}

func TestCRSExclusions(t *testing.T) {
	probe := browser("GET", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", "")
	c := compileCRS(t, CRSConfig{ExcludeTags: []string{"attack-xss"}})
	d, err := c.Inspect(probe, server, "HTTP/1.1")
	if err != nil {
		t.Fatal(err)
	}
	if hasRuleIn(d.Matches, 941000, 942000) {
		t.Fatalf("XSS rules excluded by tag still matched: %+v", d.Matches)
	}
}

func TestCRSConfigErrors(t *testing.T) {
	tests := []struct {
		cfg  CRSConfig
		want string
	}{
		{CRSConfig{ParanoiaLevel: 5}, "crs: paranoiaLevel: 5 not in [1, 4]"},
		{CRSConfig{ExcludeRules: []int{-1}}, "crs: excludeRules: invalid rule id -1"},
		{CRSConfig{ExcludeTags: []string{"a\"b"}}, `crs: excludeTags: invalid tag "a\"b"`},
		{CRSConfig{Directives: "SecRule ARGS \"@rx x\" \"id:1,deny"}, "crs:"},
	}
	for _, tc := range tests {
		_, err := CompileCRS(tc.cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want prefix %q", tc.cfg, err, tc.want)
		}
	}
}

func hasRuleIn(ms []Match, lo, hi int) bool {
	for _, m := range ms {
		if m.ID >= lo && m.ID < hi {
			return true
		}
	}
	return false
}

func BenchmarkCRSBenign(b *testing.B) {
	c := compileCRS(b, CRSConfig{})
	in := browser("GET", "/products?category=shoes&page=2", "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d, err := c.Inspect(in, server, "HTTP/1.1"); err != nil || d.Blocked {
			b.Fatal(d, err)
		}
	}
}

func BenchmarkCRSJSONBody(b *testing.B) {
	c := compileCRS(b, CRSConfig{})
	in := browser("POST", "/api/orders", `{"item":"shoe","qty":2,"note":"leave at the door"}`, "Content-Type", "application/json")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d, err := c.Inspect(in, server, "HTTP/1.1"); err != nil || d.Blocked {
			b.Fatal(d, err)
		}
	}
}
