package ratelimit

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// Source is where one part of a rate-limit key comes from. They mirror
// Envoy's rate limit actions (generic_key, remote_address,
// request_headers, metadata for JWT claims) plus ksgw's API-key identity.
type Source uint8

const (
	SourceGateway  Source = iota + 1 // the gateway (one bucket per gateway)
	SourceRoute                      // the route name
	SourceClientIP                   // the downstream address (after XFF trust)
	SourceHeader                     // a request header value
	SourceJWTClaim                   // a claim of the verified JWT
	SourceAPIKey                     // the identity the API key maps to
)

var sourceNames = map[Source]string{
	SourceGateway: "gateway", SourceRoute: "route", SourceClientIP: "clientIP",
	SourceHeader: "header", SourceJWTClaim: "jwtClaim", SourceAPIKey: "apiKey",
}

func (s Source) String() string {
	if n, ok := sourceNames[s]; ok {
		return n
	}
	return fmt.Sprintf("Source(%d)", s)
}

// KeyPart is one component of a key.
type KeyPart struct {
	Source Source
	// Name is the header name (lower case) or the claim name; a claim name
	// may be a dotted path into nested objects ("org.id").
	Name string
	// PrefixBits groups client addresses: 0 keys by the full address;
	// 64 for IPv6 puts a whole /64 (what one subscriber usually holds) in
	// one bucket. Applies to SourceClientIP only.
	PrefixBits int
}

// Validate reports a part that cannot produce a key.
func (p KeyPart) Validate() error {
	switch p.Source {
	case SourceGateway, SourceRoute, SourceAPIKey:
	case SourceClientIP:
		if p.PrefixBits < 0 || p.PrefixBits > 128 {
			return fmt.Errorf("prefixBits: %d not in [0, 128]", p.PrefixBits)
		}
	case SourceHeader, SourceJWTClaim:
		if p.Name == "" {
			return fmt.Errorf("name: required for %s", p.Source)
		}
		if p.Source == SourceHeader && p.Name != strings.ToLower(p.Name) {
			return fmt.Errorf("name: header %q must be lower case", p.Name)
		}
	default:
		return fmt.Errorf("source: unknown %s", p.Source)
	}
	return nil
}

// Attributes is what a key is built from; the filter adapts its request
// state to it. Lookups must not allocate on the request path.
type Attributes interface {
	Gateway() string
	Route() string
	ClientIP() netip.Addr
	Header(name string) (string, bool)
	Claim(name string) (string, bool)
	APIKeyIdentity() (string, bool)
}

// AppendKey appends the key for parts to dst. ok is false when a part is
// missing (no such header, no JWT, no API key): as with Envoy's rate limit
// actions, the limit then does not apply to the request. Each part is
// length-prefixed so that values containing separators cannot collide.
func AppendKey(dst []byte, parts []KeyPart, a Attributes) (key []byte, ok bool) {
	for _, p := range parts {
		var v string
		switch p.Source {
		case SourceGateway:
			v = a.Gateway()
		case SourceRoute:
			v = a.Route()
		case SourceClientIP:
			ip := a.ClientIP()
			if !ip.IsValid() {
				return dst, false
			}
			ip = ip.Unmap()
			if p.PrefixBits > 0 && p.PrefixBits < ip.BitLen() {
				ip = netip.PrefixFrom(ip, p.PrefixBits).Masked().Addr()
			}
			b := ip.As16() // IPv4 as ::ffff:a.b.c.d, so both families share one form
			dst = append(dst, byte(p.Source))
			dst = append(dst, b[:]...)
			continue
		case SourceHeader:
			if v, ok = a.Header(p.Name); !ok {
				return dst, false
			}
		case SourceJWTClaim:
			if v, ok = a.Claim(p.Name); !ok {
				return dst, false
			}
		case SourceAPIKey:
			if v, ok = a.APIKeyIdentity(); !ok {
				return dst, false
			}
		}
		dst = append(dst, byte(p.Source))
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst, true
}
