package dataplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/ksgw/ksgw/internal/xdsclient"
)

// TestUpstreamTLS: a cluster with an UpstreamTlsContext (DestinationRule
// tls SIMPLE) reaches a TLS-only backend, verified against the CA from SDS;
// with the wrong CA the handshake fails and the client gets 503, never a
// plaintext fallback.
func TestUpstreamTLS(t *testing.T) {
	backendTLS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls backend saw %s", r.URL.Path)
	}))
	defer backendTLS.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: backendTLS.Certificate().Raw})
	otherPEM := selfSignedCA(t)

	tlsCluster := func() *tlsv3.UpstreamTlsContext {
		return &tlsv3.UpstreamTlsContext{Sni: "example.com", CommonTlsContext: &tlsv3.CommonTlsContext{
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "ca", SdsConfig: ads()}},
		}}
	}
	ca := func(pemBytes []byte) *tlsv3.Secret {
		return &tlsv3.Secret{Name: "ca", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: pemBytes}},
		}}}
	}
	secure := cluster("secure")
	secure.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, tlsCluster())}}
	addr := strings.TrimPrefix(backendTLS.URL, "https://")

	for _, tt := range []struct {
		name     string
		ca       []byte
		wantCode int
		wantBody string
	}{
		{"the backend's CA verifies it", caPEM, 200, "tls backend saw /hello"},
		{"another CA refuses it: 503, never plaintext", otherPEM, 503, "upstream connect error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			h.push(resources{
				xdsclient.ListenerType: {listener(t, h.port)},
				xdsclient.RouteType:    {routes(routeTo("/", "secure"))},
				xdsclient.ClusterType:  {secure},
				xdsclient.EndpointType: {assignment("secure", addr)},
				xdsclient.SecretType:   {ca(tt.ca)},
			})
			eventually(t, func() error {
				code, body, err := h.get("/hello")
				if err != nil || code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
					return fmt.Errorf("GET /hello = %d %q %v, want %d %q", code, body, err, tt.wantCode, tt.wantBody)
				}
				return nil
			})
		})
	}
}

// selfSignedCA returns a fresh CA certificate (PEM) that signed nothing the
// backend presents. (httptest servers all share one certificate.)
func selfSignedCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, DNSNames: []string{"example.com"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
