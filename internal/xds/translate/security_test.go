package translate

import (
	"testing"

	"github.com/ksgw/ksgw/internal/ir"
)

// TestSecurityPolicyShapesReachTheProxy translates every security shape
// and runs the result through the proxy's decoders: the contract's other
// side accepts what this side emits.
func TestSecurityPolicyShapesReachTheProxy(t *testing.T) {
	jwtReq := &ir.JWTRequirement{Name: "ns/p", Providers: []string{"ns/p/a", "ns/p/b"}, AllowMissing: true}
	routeSec := &ir.RouteSecurity{
		IPAccess: &ir.IPAccess{Allow: []string{"10.0.0.0/8", "2001:db8::/32"}, Deny: []string{"10.9.0.0/16"}},
		JWT:      jwtReq,
		APIKey:   &ir.APIKeyAuth{Credentials: []ir.APIKeyCredential{{Client: "alice", Key: "k1"}}, Header: "x-api-key", Query: "key", ClientIDHeader: "x-client"},
		HSTS:     "max-age=60",
	}
	tests := []struct {
		name string
		sec  *ir.RouteSecurity
		ls   *ir.ListenerSecurity
	}{
		{"everything", routeSec, &ir.ListenerSecurity{XFFTrustedCIDRs: []string{"127.0.0.0/8"}, ProxyProtocol: true, ClientCert: &ir.ClientCertHeader{Mode: "AppendForward", Subject: true, URI: true, DNS: true}}},
		{"deny only on the peer", &ir.RouteSecurity{IPAccess: &ir.IPAccess{Deny: []string{"192.0.2.0/24"}, Peer: true}}, &ir.ListenerSecurity{XFFNumTrustedHops: 2}},
		{"jwt bypass", &ir.RouteSecurity{JWT: &ir.JWTRequirement{Name: "ns/p", Disabled: true}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := &ir.Gateway{
				Name:     "ns/gw",
				Clusters: []*ir.Cluster{{Name: "jwks|ns/p/b", TLS: &ir.UpstreamTLS{SNI: "idp", CASecretName: "ns/ca/ca"}, Endpoints: []ir.Endpoint{{Address: "127.0.7.9", Port: 8443, Ready: true}}}},
				Secrets:  []*ir.Secret{{Name: "ns/ca/ca", CACertificates: []byte("CA")}},
				Listeners: []*ir.Listener{{
					Name: "http-8080", Port: 8080, Security: tt.ls,
					JWTProviders: []*ir.JWTProvider{
						{Name: "ns/p/a", Issuer: "a", LocalJWKS: `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, FromHeaders: []ir.JWTHeader{{Name: "x-t", ValuePrefix: "T "}}},
						{Name: "ns/p/b", Issuer: "b", RemoteJWKS: &ir.RemoteJWKS{URI: "https://127.0.7.9:8443/jwks", Cluster: "jwks|ns/p/b"}},
					},
					JWTRequirements: []*ir.JWTRequirement{jwtReq},
					VirtualHosts: []*ir.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*ir.Route{{
						Name: "r", Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/"}},
						DirectResponse: &ir.DirectResponse{Status: 200}, Security: tt.sec,
					}}}},
				}},
			}
			res := mustTranslate(t, gw)
			assertProxyAccepts(t, res)
		})
	}
}
