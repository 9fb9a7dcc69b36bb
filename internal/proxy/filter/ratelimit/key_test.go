package ratelimit

import (
	"bytes"
	"net/netip"
	"testing"
)

type attrs struct {
	gateway, route string
	ip             netip.Addr
	headers        map[string]string
	claims         map[string]string
	apiKey         string
}

func (a attrs) Gateway() string      { return a.gateway }
func (a attrs) Route() string        { return a.route }
func (a attrs) ClientIP() netip.Addr { return a.ip }
func (a attrs) Header(n string) (string, bool) {
	v, ok := a.headers[n]
	return v, ok
}
func (a attrs) Claim(n string) (string, bool) {
	v, ok := a.claims[n]
	return v, ok
}
func (a attrs) APIKeyIdentity() (string, bool) { return a.apiKey, a.apiKey != "" }

func TestAppendKey(t *testing.T) {
	base := attrs{gateway: "tenant-a/gw", route: "tenant-a/shop", ip: netip.MustParseAddr("192.0.2.7"),
		headers: map[string]string{"x-tenant": "acme"}, claims: map[string]string{"sub": "alice"}, apiKey: "svc-1"}
	tests := []struct {
		name     string
		parts    []KeyPart
		a, b     attrs
		wantOK   bool
		wantSame bool
	}{
		{"same client ip shares a bucket", []KeyPart{{Source: SourceClientIP}}, base, base, true, true},
		{"different client ips do not", []KeyPart{{Source: SourceClientIP}}, base,
			with(base, func(a *attrs) { a.ip = netip.MustParseAddr("192.0.2.8") }), true, false},
		{"ipv4-mapped ipv6 is the same client", []KeyPart{{Source: SourceClientIP}}, base,
			with(base, func(a *attrs) { a.ip = netip.MustParseAddr("::ffff:192.0.2.7") }), true, true},
		{"an ipv6 /64 is one client when grouped", []KeyPart{{Source: SourceClientIP, PrefixBits: 64}},
			with(base, func(a *attrs) { a.ip = netip.MustParseAddr("2001:db8::1") }),
			with(base, func(a *attrs) { a.ip = netip.MustParseAddr("2001:db8::ffff:2") }), true, true},
		{"missing header: the limit does not apply", []KeyPart{{Source: SourceHeader, Name: "x-user"}}, base, base, false, true},
		{"header values separate buckets", []KeyPart{{Source: SourceHeader, Name: "x-tenant"}}, base,
			with(base, func(a *attrs) { a.headers = map[string]string{"x-tenant": "other"} }), true, false},
		{"jwt claim", []KeyPart{{Source: SourceJWTClaim, Name: "sub"}}, base,
			with(base, func(a *attrs) { a.claims = map[string]string{"sub": "bob"} }), true, false},
		{"no jwt: the limit does not apply", []KeyPart{{Source: SourceJWTClaim, Name: "sub"}},
			with(base, func(a *attrs) { a.claims = nil }), base, false, false},
		{"api key identity", []KeyPart{{Source: SourceAPIKey}}, base, base, true, true},
		{"route and gateway", []KeyPart{{Source: SourceGateway}, {Source: SourceRoute}}, base,
			with(base, func(a *attrs) { a.route = "tenant-a/cart" }), true, false},
		{"length prefixes keep concatenations apart",
			[]KeyPart{{Source: SourceHeader, Name: "x-a"}, {Source: SourceHeader, Name: "x-b"}},
			with(base, func(a *attrs) { a.headers = map[string]string{"x-a": "ab", "x-b": "c"} }),
			with(base, func(a *attrs) { a.headers = map[string]string{"x-a": "a", "x-b": "bc"} }), true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka, okA := AppendKey(nil, tc.parts, tc.a)
			if okA != tc.wantOK {
				t.Fatalf("ok = %v, want %v", okA, tc.wantOK)
			}
			if !okA {
				return
			}
			kb, _ := AppendKey(nil, tc.parts, tc.b)
			if same := bytes.Equal(ka, kb); same != tc.wantSame {
				t.Fatalf("keys %x and %x: same = %v, want %v", ka, kb, same, tc.wantSame)
			}
		})
	}
}

func with(a attrs, f func(*attrs)) attrs { f(&a); return a }

func TestKeyPartValidate(t *testing.T) {
	tests := []struct {
		part KeyPart
		want string
	}{
		{KeyPart{Source: SourceHeader}, "name: required for header"},
		{KeyPart{Source: SourceHeader, Name: "X-User"}, `name: header "X-User" must be lower case`},
		{KeyPart{Source: SourceClientIP, PrefixBits: 129}, "prefixBits: 129 not in [0, 128]"},
		{KeyPart{Source: 42}, "source: unknown Source(42)"},
		{KeyPart{Source: SourceJWTClaim, Name: "org.id"}, ""},
	}
	for _, tc := range tests {
		err := tc.part.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.part, err, tc.want)
		}
	}
}

func TestAppendKeyDoesNotAllocate(t *testing.T) {
	parts := []KeyPart{{Source: SourceClientIP}, {Source: SourceRoute}}
	a := Attributes(attrs{route: "r", ip: netip.MustParseAddr("192.0.2.1")})
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendKey(buf[:0], parts, a) }); n != 0 {
		t.Fatalf("%v allocations per key", n)
	}
}
