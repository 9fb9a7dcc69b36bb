package waf

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// seedPolicy is the design's waf.rego, byte for byte (Rego v0 syntax).
func seedPolicy(t testing.TB) Module {
	t.Helper()
	src, err := os.ReadFile("testdata/seed-waf.rego")
	if err != nil {
		t.Fatal(err)
	}
	return Module{Name: "seed/waf.rego", Source: string(src)}
}

const v1Policy = `package kubesphere.gateway.waf

deny contains msg if {
	input.headers["user-agent"] == "sqlmap"
	msg := "scanner blocked"
}

deny contains sprintf("too many %s parameters", [name]) if {
	some name, values in input.query
	count(values) > 3
}
`

func compile(t testing.TB, mods ...Module) *Policy {
	t.Helper()
	p, err := CompileRego(context.Background(), RegoConfig{Modules: mods})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func req(method, target string, hdr ...string) *Input {
	path, query, _ := strings.Cut(target, "?")
	in := &Input{Method: method, Path: path, RawQuery: query, Header: &httpmsg.Header{}}
	for i := 0; i+1 < len(hdr); i += 2 {
		in.Header.Add(hdr[i], hdr[i+1])
	}
	return in
}

func TestSeedPolicy(t *testing.T) {
	p := compile(t, seedPolicy(t))
	tests := []struct {
		name string
		in   *Input
		deny []string
	}{
		{"POST with password in the query is blocked", req("POST", "/login?password=x"), []string{"Potential credential leakage detected"}},
		{"GET with password in the query passes", req("GET", "/login?password=x"), nil},
		{"GET passes", req("GET", "/login"), nil},
		{"POST without password passes", req("POST", "/login"), nil},
		{"POST with password among other parameters is blocked", req("POST", "/login?user=a&password=secret&x=1"), []string{"Potential credential leakage detected"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Eval(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Deny != (len(tc.deny) > 0) || strings.Join(d.Messages, "|") != strings.Join(tc.deny, "|") {
				t.Fatalf("got %+v, want deny %q", d, tc.deny)
			}
		})
	}
}

func TestRegoV1AndV0Together(t *testing.T) {
	p := compile(t, seedPolicy(t), Module{Name: "v1.rego", Source: v1Policy})
	in := req("POST", "/login?password=x&a=1&a=2&a=3&a=4", "User-Agent", "sqlmap")
	d, err := p.Eval(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Potential credential leakage detected", "scanner blocked", "too many a parameters"}
	if strings.Join(d.Messages, "|") != strings.Join(want, "|") {
		t.Fatalf("messages %q, want %q", d.Messages, want)
	}
}

func TestRegoInput(t *testing.T) {
	src := `package kubesphere.gateway.waf
import rego.v1
deny contains "client" if input.client.address == "192.0.2.9"
deny contains "port" if input.client.port == 4242
deny contains "tls" if input.tls.peer_uri_sans[0] == "spiffe://cluster.local/ns/a/sa/b"
deny contains "sni" if input.tls.sni == "shop.example.com"
deny contains "claim" if input.claims.groups[_] == "banned"
deny contains "body" if contains(input.body, "DROP TABLE")
deny contains "json" if input.parsed_body.role == "admin"
deny contains "truncated" if input.body_truncated
deny contains "header" if input.headers["x-multi"] == "a,b"
deny contains "query" if input.query.q[0] == "a b/c"
`
	p, err := CompileRego(context.Background(), RegoConfig{Modules: []Module{{Name: "input.rego", Source: src}}, MaxBody: 32})
	if err != nil {
		t.Fatal(err)
	}
	if !p.NeedsBody() {
		t.Fatal("a policy reading input.body needs the body")
	}
	tests := []struct {
		name string
		in   *Input
		want string
	}{
		{"client address", &Input{Client: netip.MustParseAddrPort("192.0.2.9:1")}, "client"},
		{"client port", &Input{Client: netip.MustParseAddrPort("[::ffff:10.0.0.1]:4242")}, "port"},
		{"tls peer identity", &Input{TLS: &TLSIdentity{PeerURIs: []string{"spiffe://cluster.local/ns/a/sa/b"}}}, "tls"},
		{"tls sni", &Input{TLS: &TLSIdentity{SNI: "shop.example.com"}}, "sni"},
		{"jwt claims", &Input{Claims: map[string]any{"groups": []any{"x", "banned"}}}, "claim"},
		{"raw body", &Input{Body: []byte("x'; DROP TABLE users")}, "body"},
		{"json body", &Input{Body: []byte(`{"role":"admin"}`), Header: hdr("content-type", "application/json; charset=utf-8")}, "json"},
		{"body beyond the limit is truncated and not parsed", &Input{Body: []byte(`{"role":"admin","pad":"` + strings.Repeat("x", 40) + `"}`), Header: hdr("content-type", "application/json")}, "truncated"},
		{"repeated headers are joined", &Input{Header: hdr("X-Multi", "a", "x-multi", "b")}, "header"},
		{"query values are decoded", &Input{RawQuery: "q=a+b%2Fc"}, "query"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Eval(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(d.Messages, ",") != tc.want {
				t.Fatalf("messages %q, want [%s]", d.Messages, tc.want)
			}
		})
	}
}

func hdr(kv ...string) *httpmsg.Header {
	h := &httpmsg.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestRegoCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  Module
		want []string // substrings of the error
	}{
		{"syntax error names the module and line", Module{Name: "tenant-a/rules/bad.rego",
			Source: "package kubesphere.gateway.waf\n\ndeny[msg] {\n  input.method ==\n}\n"},
			[]string{"tenant-a/rules/bad.rego:5", "rego_parse_error"}},
		{"v0 syntax refused when v1 is required", Module{Name: "seed.rego", Version: RegoV1,
			Source: "package kubesphere.gateway.waf\ndeny[msg] { input.method == \"POST\"; msg := \"x\" }\n"},
			[]string{"Rego v1", "seed.rego:2"}},
		{"v1 syntax refused when v0 is required", Module{Name: "new.rego", Version: RegoV0,
			Source: "package kubesphere.gateway.waf\ndeny contains \"x\" if input.method == \"POST\"\n"},
			[]string{"Rego v0", "new.rego:2"}},
		{"wrong package", Module{Name: "other.rego", Source: "package authz\nallow := true\n"},
			[]string{"other.rego:1", "package authz, want package kubesphere.gateway.waf"}},
		{"unsafe variable is a compile error with its line", Module{Name: "unsafe.rego",
			Source: "package kubesphere.gateway.waf\nimport rego.v1\n\ndeny contains msg if {\n  x == 1\n}\n"},
			[]string{"unsafe.rego:4", "rego_unsafe_var_error: var msg is unsafe"}},
		{"network builtins are not available", Module{Name: "net.rego",
			Source: "package kubesphere.gateway.waf\nimport rego.v1\ndeny contains \"x\" if http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1/\"}).status_code == 200\n"},
			[]string{"net.rego:3", "http.send"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileRego(context.Background(), RegoConfig{Modules: []Module{tc.mod}})
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRegoReadsOnlyWhatPoliciesUse(t *testing.T) {
	p := compile(t, seedPolicy(t))
	if p.NeedsBody() {
		t.Fatal("the seed policy reads only method and path; the body must not be buffered")
	}
	all := compile(t, Module{Name: "all.rego", Source: "package kubesphere.gateway.waf\nimport rego.v1\ndeny contains \"x\" if { i := input; i.method == \"X\" }\n"})
	if !all.NeedsBody() {
		t.Fatal("a policy reading input as a whole gets every field")
	}
}

// BenchmarkRegoSeed is the per-request cost of the seed policy, prepared
// once.
func BenchmarkRegoSeed(b *testing.B) {
	p := compile(b, seedPolicy(b))
	in := req("POST", "/api/v1/orders?id=42", "content-type", "application/json", "user-agent", "bench")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d, err := p.Eval(ctx, in); err != nil || d.Deny {
			b.Fatal(d, err)
		}
	}
}

// TestRegoConcurrentEval shares one prepared policy (and its read
// transaction) between goroutines, as a generation's filter does.
func TestRegoConcurrentEval(t *testing.T) {
	p := compile(t, seedPolicy(t), Module{Name: "v1.rego", Source: v1Policy})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				in := req("POST", "/login?password=x")
				if w%2 == 0 {
					in = req("GET", "/")
				}
				d, err := p.Eval(context.Background(), in)
				if err != nil || d.Deny != (w%2 == 1) {
					errs <- fmt.Errorf("worker %d: %+v %v", w, d, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
