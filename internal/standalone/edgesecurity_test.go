package standalone

// End-to-end tests of the edge-security layers (issue 6) through the whole
// standalone pipeline: YAML in a watched directory → translator → ADS →
// proxy, with real TLS clients, a real echo backend, a JWKS server over
// HTTPS and a TLS backend that requires client certificates. Addresses are
// in 127.0.7.0/24; ports are kernel-assigned.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/net/http2"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

// pki issues certificates for the tests.
type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t testing.TB, cn string) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &pki{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

type leaf struct {
	certPEM, keyPEM []byte
	tls             tls.Certificate
	serial          *big.Int
}

func (ca *pki) issue(t testing.TB, cn string, dns []string, uris []string, notAfter time.Time, client bool) *leaf {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	l := &leaf{certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), serial: serial}
	l.tls, err = tls.X509KeyPair(l.certPEM, l.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeAddr(t testing.TB, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// env is one running standalone gateway set with its fixtures.
type env struct {
	dir                string
	httpA, httpsA      int
	httpsB             int
	caA, caB, clientCA *pki
	certA, certB       *leaf
	jwksKey            *rsa.PrivateKey
	jwks               atomic.Value // []byte
	jwksHits           atomic.Int32
	jwksURL            string
	echoAddr           string
	mtlsAddr           string
	adminBase          int
	log                *bytes.Buffer
	logMu              *sync.Mutex
}

func (e *env) jwksDoc(kids ...string) []byte {
	var ks jose.JSONWebKeySet
	for _, k := range kids {
		ks.Keys = append(ks.Keys, jose.JSONWebKey{Key: e.jwksKey.Public(), KeyID: k, Algorithm: "RS256", Use: "sig"})
	}
	b, _ := json.Marshal(ks)
	return b
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func startEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	e.httpA, e.httpsA, e.httpsB = freePort(t), freePort(t), freePort(t)
	e.caA, e.caB, e.clientCA = newCA(t, "tenant-a CA"), newCA(t, "tenant-b CA"), newCA(t, "clients CA")
	far := time.Now().Add(24 * time.Hour)
	e.certA = e.caA.issue(t, "tenant-a", []string{"*.tenant-a.example.com"}, nil, far, false)
	e.certB = e.caB.issue(t, "tenant-b", []string{"*.tenant-b.example.com"}, nil, far, false)

	// Echo backend (plain HTTP).
	e.echoAddr = freeAddr(t, "127.0.7.10")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	eb, err := echo.Start(ctx, echo.Options{Name: "echo", Addr: e.echoAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eb.Close() })

	// TLS backend that requires a client certificate (upstream mTLS).
	upCA := newCA(t, "upstream CA")
	upServer := upCA.issue(t, "backend", []string{"backend.tenant-a.svc"}, nil, far, false)
	upClient := upCA.issue(t, "gateway", nil, []string{"spiffe://ksgw/gateway"}, far, true)
	pool := x509.NewCertPool()
	pool.AddCert(upCA.cert)
	e.mtlsAddr = freeAddr(t, "127.0.7.11")
	mln, err := tls.Listen("tcp", e.mtlsAddr, &tls.Config{Certificates: []tls.Certificate{upServer.tls}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	msrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "mtls backend saw client %s", r.TLS.PeerCertificates[0].URIs[0])
	})}
	go msrv.Serve(mln)
	t.Cleanup(func() { msrv.Close() })

	// JWKS over HTTPS.
	e.jwksKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	e.jwks.Store(e.jwksDoc("k1"))
	idpCA := newCA(t, "idp CA")
	idpCert := idpCA.issue(t, "idp", nil, nil, far, false)
	idpCert = func() *leaf { // an IP SAN: the JWKS URI names the address
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "idp"}, IPAddresses: []net.IP{net.ParseIP("127.0.7.12")},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: far, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, idpCA.cert, &key.PublicKey, idpCA.key)
		kb, _ := x509.MarshalECPrivateKey(key)
		c, _ := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
		return &leaf{tls: c}
	}()
	jaddr := freeAddr(t, "127.0.7.12")
	jln, err := tls.Listen("tcp", jaddr, &tls.Config{Certificates: []tls.Certificate{idpCert.tls}})
	if err != nil {
		t.Fatal(err)
	}
	jsrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.jwksHits.Add(1)
		w.Header().Set("content-type", "application/json")
		w.Write(e.jwks.Load().([]byte))
	})}
	go jsrv.Serve(jln)
	t.Cleanup(func() { jsrv.Close() })
	e.jwksURL = "https://" + jaddr + "/jwks.json"

	_, echoPort, _ := net.SplitHostPort(e.echoAddr)
	_, mtlsPort, _ := net.SplitHostPort(e.mtlsAddr)
	writeFile(t, e.dir, "tenant-a.yaml", fmt.Sprintf(`
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: gw, namespace: tenant-a}
spec:
  hosts: ["*.tenant-a.example.com"]
  ports: {http: %d, https: %d}
  tls: {secretName: cert-a}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: tenant-a}
spec: {selector: {app: echo}, ports: [{name: http, port: 80, targetPort: %s}]}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: tenant-a, labels: {app: echo}}
status: {podIP: 127.0.7.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: secure, namespace: tenant-a}
spec: {selector: {app: secure}, ports: [{name: https, port: 443, targetPort: %s}]}
---
apiVersion: v1
kind: Pod
metadata: {name: secure-0, namespace: tenant-a, labels: {app: secure}}
status: {podIP: 127.0.7.11, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: DestinationRule
metadata: {name: secure, namespace: tenant-a}
spec:
  host: secure
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: upstream-client, sni: backend.tenant-a.svc}}
---
apiVersion: v1
kind: Secret
metadata: {name: upstream-client, namespace: tenant-a}
data: {tls.crt: %s, tls.key: %s, ca.crt: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: idp-ca, namespace: tenant-a}
data: {ca.crt: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: api-keys, namespace: tenant-a}
data: {alice: %s, bob: %s}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: app, namespace: tenant-a}
spec:
  http:
  - match: [{uri: {prefix: /secure}}]
    route: [{destination: {host: secure}}]
  - route: [{destination: {host: echo}}]
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: a-jwt, namespace: tenant-a}
spec:
  http:
  - match: [{uri: {prefix: /jwt}}]
    route: [{destination: {host: echo}}]
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: a-keys, namespace: tenant-a}
spec:
  http:
  - match: [{uri: {prefix: /keys}}]
    route: [{destination: {host: echo}}]
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: a-health, namespace: tenant-a}
spec:
  http:
  - match: [{uri: {exact: /healthz}}]
    directResponse: {status: 200, body: {string: ok}}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: edge, namespace: tenant-a}
spec:
  targetRef: {kind: Gateway, name: gw}
  clientAddress: {xffNumTrustedHops: 1, proxyProtocol: {optional: true}}
  ipAccess: {allow: [198.51.100.0/24], deny: [198.51.100.66]}
  hsts: {maxAgeSeconds: 600}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: jwt, namespace: tenant-a}
spec:
  targetRef: {kind: Route, name: a-jwt}
  jwt:
    providers:
    - name: idp
      issuer: https://idp.test
      audiences: [api]
      jwksUri: %s
      jwksCASecretName: idp-ca
      claimToHeaders: [{header: X-Tenant, claim: tenant}]
      requiredClaims: [{name: realm.roles, values: [admin, reader]}]
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: keys, namespace: tenant-a}
spec:
  targetRef: {kind: Route, name: a-keys}
  apiKey: {secretName: api-keys, header: X-API-Key, clientIDHeader: X-Client-ID}
`, e.httpA, e.httpsA, echoPort, mtlsPort, b64(upClient.certPEM), b64(upClient.keyPEM), b64(upCA.pem), b64(idpCA.pem),
		b64([]byte("key-alice-0123456789")), b64([]byte("key-bob-9876543210")), e.jwksURL)+certSecret("tenant-a", "cert-a", e.certA))

	writeFile(t, e.dir, "tenant-b.yaml", fmt.Sprintf(`
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: gw, namespace: tenant-b}
spec:
  hosts: ["*.tenant-b.example.com"]
  ports: {http: %d, https: %d}
  tls:
    secretName: cert-b
    minVersion: "1.2"
    clientValidation: {caSecretName: clients}
---
apiVersion: v1
kind: Secret
metadata: {name: clients, namespace: tenant-b}
data: {ca.crt: %s}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: edge, namespace: tenant-b}
spec:
  targetRef: {kind: Gateway, name: gw}
  clientCertHeader: {mode: SanitizeSet, subject: true, uri: true}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: tenant-b}
spec: {selector: {app: echo}, ports: [{name: http, port: 80, targetPort: %s}]}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: tenant-b, labels: {app: echo}}
status: {podIP: 127.0.7.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: app, namespace: tenant-b}
spec: {http: [{route: [{destination: {host: echo}}]}]}
`, freePort(t), e.httpsB, b64(e.clientCA.pem), echoPort)+certSecret("tenant-b", "cert-b", e.certB))

	e.adminBase = freePort(t)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(runCtx, Options{
			ConfigDir: e.dir, UpdateInterval: 50 * time.Millisecond, XDSAddress: "127.0.7.1:0",
			AdminHost: "127.0.7.1", AdminBasePort: e.adminBase, DrainTimeout: 2 * time.Second,
			Logger: slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.log}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("standalone did not stop")
		}
		if t.Failed() {
			e.logMu.Lock()
			t.Logf("logs:\n%s", tailLines(e.log.String(), 80))
			e.logMu.Unlock()
		}
	})
	// Ready when both gateways answer on https.
	eventually(t, 20*time.Second, func() error {
		if _, err := e.getA("/healthz", "198.51.100.1", nil); err != nil {
			return err
		}
		_, err := e.tlsDial(e.httpsB, "x.tenant-b.example.com", &tls.Config{Certificates: []tls.Certificate{e.clientCA.issue(t, "c", nil, nil, far, true).tls}})
		return err
	})
	return e
}

func certSecret(ns, name string, l *leaf) string {
	return fmt.Sprintf(`
---
apiVersion: v1
kind: Secret
metadata: {name: %s, namespace: %s}
type: kubernetes.io/tls
data: {tls.crt: %s, tls.key: %s}
`, name, ns, b64(l.certPEM), b64(l.keyPEM))
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (e *env) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.caA.cert)
	p.AddCert(e.caB.cert)
	return p
}

// tlsDial handshakes with the gateway on port with SNI name.
func (e *env) tlsDial(port int, name string, cfg *tls.Config) (*tls.ConnectionState, error) {
	c := cfg.Clone()
	c.ServerName, c.RootCAs = name, e.roots()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), c)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// TLS 1.3 reports a refused client certificate only on the first read.
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: " + name + "\r\n\r\n")); err != nil {
		return nil, err
	}
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	st := conn.ConnectionState()
	return &st, nil
}

// client for tenant-a's https listener.
func (e *env) client(cfg *tls.Config) *http.Client {
	c := &tls.Config{RootCAs: e.roots()}
	if cfg != nil {
		c = cfg.Clone()
		c.RootCAs = e.roots()
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", e.httpsA))
	}}}
}

type answer struct {
	status int
	header http.Header
	body   string
	echo   echo.Reply
}

func (e *env) getA(path, xff string, hdr map[string]string) (*answer, error) {
	req, _ := http.NewRequest("GET", "https://shop.tenant-a.example.com"+path, nil)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client(nil).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := &answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	json.Unmarshal(b, &a.echo)
	return a, nil
}

func (e *env) token(t testing.TB, kid string, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": "https://idp.test", "aud": "api", "sub": "alice", "tenant": "a", "exp": time.Now().Add(time.Hour).Unix(),
		"realm": map[string]any{"roles": []string{"guest", "reader"}}}
	for k, v := range claims {
		c[k] = v
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(c)
	o, _ := s.Sign(p)
	out, _ := o.CompactSerialize()
	return out
}

func TestEdgeSecurityEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	e := startEnv(t)
	far := time.Now().Add(24 * time.Hour)

	t.Run("SNI picks each tenant's certificate", func(t *testing.T) {
		for _, tc := range []struct {
			port int
			sni  string
			want string
		}{{e.httpsA, "shop.tenant-a.example.com", "tenant-a"}, {e.httpsB, "shop.tenant-b.example.com", "tenant-b"}} {
			cfg := &tls.Config{}
			if tc.port == e.httpsB {
				cfg.Certificates = []tls.Certificate{e.clientCA.issue(t, "c", nil, nil, far, true).tls}
			}
			st, err := e.tlsDial(tc.port, tc.sni, cfg)
			if err != nil {
				t.Fatalf("%s: %v", tc.sni, err)
			}
			if cn := st.PeerCertificates[0].Subject.CommonName; cn != tc.want {
				t.Errorf("%s: certificate %q, want %q", tc.sni, cn, tc.want)
			}
		}
		if _, err := e.tlsDial(e.httpsA, "shop.tenant-b.example.com", &tls.Config{}); err == nil {
			t.Error("tenant-a's listener completed a handshake for tenant-b's host")
		}
	})

	t.Run("TLS 1.3 by default refuses a TLS 1.2 client; 1.2 when the Gateway asks", func(t *testing.T) {
		if _, err := e.tlsDial(e.httpsA, "shop.tenant-a.example.com", &tls.Config{MaxVersion: tls.VersionTLS12}); err == nil {
			t.Error("TLS 1.2 handshake accepted on a TLS 1.3 listener")
		}
		st, err := e.tlsDial(e.httpsB, "shop.tenant-b.example.com", &tls.Config{MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{e.clientCA.issue(t, "c", nil, nil, far, true).tls}})
		if err != nil || st.Version != tls.VersionTLS12 {
			t.Errorf("tenant-b (minVersion 1.2): %v", err)
		}
	})

	t.Run("h2 negotiated over ALPN", func(t *testing.T) {
		tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots()}, DialTLSContext: func(ctx context.Context, network, _ string, cfg *tls.Config) (net.Conn, error) {
			return tls.Dial(network, fmt.Sprintf("127.0.0.1:%d", e.httpsA), cfg)
		}}
		req, _ := http.NewRequest("GET", "https://shop.tenant-a.example.com/", nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.1")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Errorf("proto %s status %d", resp.Proto, resp.StatusCode)
		}
	})

	t.Run("mTLS", func(t *testing.T) {
		good := e.clientCA.issue(t, "good-client", nil, []string{"spiffe://tenant-b/client"}, far, true)
		expired := e.clientCA.issue(t, "old-client", nil, nil, time.Now().Add(-time.Minute), true)
		other := newCA(t, "other").issue(t, "stranger", nil, nil, far, true)
		for _, tc := range []struct {
			name string
			cert *leaf
			ok   bool
		}{{"good certificate is accepted", good, true}, {"no certificate is refused", nil, false}, {"expired certificate is refused", expired, false}, {"certificate of another CA is refused", other, false}} {
			cfg := &tls.Config{}
			if tc.cert != nil {
				cfg.Certificates = []tls.Certificate{tc.cert.tls}
			}
			_, err := e.tlsDial(e.httpsB, "shop.tenant-b.example.com", cfg)
			if (err == nil) != tc.ok {
				t.Errorf("%s: err = %v", tc.name, err)
			}
		}
		// The verified identity reaches the backend in Envoy's XFCC format,
		// and a forged XFCC from the client is replaced (SanitizeSet).
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots(), Certificates: []tls.Certificate{good.tls}}, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", e.httpsB))
		}}}
		req, _ := http.NewRequest("GET", "https://shop.tenant-b.example.com/", nil)
		req.Header.Set("X-Forwarded-Client-Cert", "Hash=forged")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r echo.Reply
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		xfcc := strings.Join(r.Headers["X-Forwarded-Client-Cert"], ",")
		if !strings.HasPrefix(xfcc, "Hash=") || strings.Contains(xfcc, "forged") || !strings.Contains(xfcc, `Subject="CN=good-client"`) || !strings.Contains(xfcc, "URI=spiffe://tenant-b/client") {
			t.Errorf("XFCC = %q", xfcc)
		}
	})

	t.Run("upstream mTLS to a backend that requires it", func(t *testing.T) {
		a, err := e.getA("/secure", "198.51.100.1", nil)
		if err != nil || a.status != 200 || !strings.Contains(a.body, "spiffe://ksgw/gateway") {
			t.Fatalf("GET /secure = %+v %v", a, err)
		}
	})

	t.Run("IP allow and deny with one trusted XFF hop", func(t *testing.T) {
		for _, tc := range []struct {
			name, xff string
			status    int
		}{
			{"allowed client passes", "198.51.100.1", 200},
			{"deny exception wins", "198.51.100.66", 403},
			{"client outside the allow list is refused", "203.0.113.1", 403},
			{"only the trusted hop counts: a spoofed left entry is ignored", "198.51.100.1, 203.0.113.1", 403},
			{"without XFF the peer is the client", "", 403},
		} {
			a, err := e.getA("/healthz", tc.xff, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a.status != tc.status {
				t.Errorf("%s: %d %s", tc.name, a.status, a.body)
			}
			if a.status == 403 && (a.header.Get("Content-Type") != "application/json" || !json.Valid([]byte(a.body))) {
				t.Errorf("%s: denial is not JSON: %q", tc.name, a.body)
			}
			if a.status == 200 && a.header.Get("Strict-Transport-Security") != "max-age=600" {
				t.Errorf("HSTS = %q", a.header.Get("Strict-Transport-Security"))
			}
		}
	})

	t.Run("PROXY protocol gives the client address to IP access and XFF", func(t *testing.T) {
		v2 := func(src string) string {
			ip := net.ParseIP(src).To4()
			b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
			b = append(b, ip...)
			b = append(b, 127, 0, 0, 1, 0x15, 0xb3, 0, 80)
			return string(b)
		}
		for _, tc := range []struct {
			name, header string
			status       int
		}{
			{"v1 header from an allowed client", "PROXY TCP4 198.51.100.1 127.0.0.1 5555 80\r\n", 200},
			{"v2 header from an allowed client", v2("198.51.100.2"), 200},
			{"v2 header from a denied client", v2("198.51.100.66"), 403},
			{"no header: the peer is the client (optional PROXY protocol)", "", 403},
		} {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.httpA), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "%sGET /whoami HTTP/1.1\r\nHost: shop.tenant-a.example.com\r\nConnection: close\r\n\r\n", tc.header)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				conn.Close()
				t.Fatalf("%s: %v", tc.name, err)
			}
			var r echo.Reply
			json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			conn.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s: status %d", tc.name, resp.StatusCode)
			}
			if tc.status == 200 && !strings.HasPrefix(strings.Join(r.Headers["X-Forwarded-For"], ""), "198.51.100.") {
				t.Errorf("%s: X-Forwarded-For = %v", tc.name, r.Headers["X-Forwarded-For"])
			}
		}
	})

	t.Run("JWT", func(t *testing.T) {
		hs := []byte("0123456789abcdef0123456789abcdef")
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		pub, _ := x509.MarshalPKIXPublicKey(e.jwksKey.Public())
		tests := []struct {
			name   string
			token  string
			status int
		}{
			{"valid token passes", e.token(t, "k1", jose.RS256, e.jwksKey, nil), 200},
			{"missing token is 401", "", 401},
			{"expired token is 401", e.token(t, "k1", jose.RS256, e.jwksKey, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), 401},
			{"not yet valid token is 401", e.token(t, "k1", jose.RS256, e.jwksKey, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), 401},
			{"wrong issuer is 401", e.token(t, "k1", jose.RS256, e.jwksKey, map[string]any{"iss": "https://evil.test"}), 401},
			{"wrong audience is 403", e.token(t, "k1", jose.RS256, e.jwksKey, map[string]any{"aud": "other"}), 403},
			{"required claim with an allowed role passes", e.token(t, "k1", jose.RS256, e.jwksKey, map[string]any{"realm": map[string]any{"roles": []string{"admin"}}}), 200},
			{"required claim without an allowed role is 403", e.token(t, "k1", jose.RS256, e.jwksKey, map[string]any{"realm": map[string]any{"roles": []string{"guest"}}}), 403},
			{"required claim absent is 403", e.token(t, "k1", jose.RS256, e.jwksKey, map[string]any{"realm": map[string]any{}}), 403},
			{"bad signature is 401", e.token(t, "k1", jose.RS256, other, nil), 401},
			{"alg none is 401", noneToken(), 401},
			{"HS256 with the RSA public key as secret is 401", e.token(t, "k1", jose.HS256, pub, nil), 401},
			{"HS256 with an unknown secret is 401", e.token(t, "k1", jose.HS256, hs, nil), 401},
		}
		for _, tc := range tests {
			hdr := map[string]string{}
			if tc.token != "" {
				hdr["Authorization"] = "Bearer " + tc.token
			}
			a, err := e.getA("/jwt", "198.51.100.1", hdr)
			if err != nil {
				t.Fatal(err)
			}
			if a.status != tc.status {
				t.Errorf("%s: %d %s", tc.name, a.status, a.body)
				continue
			}
			switch tc.status {
			case 200:
				if a.echo.Headers["Authorization"] != nil || strings.Join(a.echo.Headers["X-Tenant"], "") != "a" {
					t.Errorf("%s: upstream headers %v", tc.name, a.echo.Headers)
				}
			case 401:
				if !strings.HasPrefix(a.header.Get("Www-Authenticate"), "Bearer realm=") {
					t.Errorf("%s: WWW-Authenticate = %q", tc.name, a.header.Get("Www-Authenticate"))
				}
			case 403:
				// RFC 6750 §3.1: a valid token without the claims is
				// insufficient_scope; an audience mismatch has no challenge.
				want := strings.HasPrefix(tc.name, "required claim")
				if got := strings.Contains(a.header.Get("Www-Authenticate"), `error="insufficient_scope"`); got != want || !json.Valid([]byte(a.body)) {
					t.Errorf("%s: WWW-Authenticate = %q, body %q", tc.name, a.header.Get("Www-Authenticate"), a.body)
				}
			}
		}
		// Key rotation: a token signed with a new kid makes the proxy refetch
		// the key set once, and passes.
		before := e.jwksHits.Load()
		e.jwks.Store(e.jwksDoc("k1", "k2"))
		time.Sleep(1100 * time.Millisecond) // past the refresh rate limit of the first fetch
		a, err := e.getA("/jwt", "198.51.100.1", map[string]string{"Authorization": "Bearer " + e.token(t, "k2", jose.RS256, e.jwksKey, nil)})
		if err != nil || a.status != 200 {
			t.Fatalf("rotated kid: %+v %v", a, err)
		}
		if got := e.jwksHits.Load() - before; got != 1 {
			t.Errorf("JWKS fetched %d times for the new kid, want 1", got)
		}
		// A second unknown kid right after does not refetch (rate limit).
		a, _ = e.getA("/jwt", "198.51.100.1", map[string]string{"Authorization": "Bearer " + e.token(t, "k3", jose.RS256, e.jwksKey, nil)})
		if a.status != 401 || e.jwksHits.Load()-before != 1 {
			t.Errorf("forged kid: %d, fetches %d", a.status, e.jwksHits.Load()-before)
		}
	})

	t.Run("API keys", func(t *testing.T) {
		for _, tc := range []struct {
			name, key string
			status    int
			client    string
		}{{"good key passes as its client", "key-bob-9876543210", 200, "bob"}, {"bad key is 401", "key-bob-0000000000", 401, ""}, {"missing key is 401", "", 401, ""}} {
			hdr := map[string]string{}
			if tc.key != "" {
				hdr["X-API-Key"] = tc.key
			}
			a, err := e.getA("/keys", "198.51.100.1", hdr)
			if err != nil {
				t.Fatal(err)
			}
			if a.status != tc.status {
				t.Errorf("%s: %d %s", tc.name, a.status, a.body)
				continue
			}
			if tc.status == 200 && (a.echo.Headers["X-Api-Key"] != nil || strings.Join(a.echo.Headers["X-Client-Id"], "") != tc.client) {
				t.Errorf("%s: upstream headers %v", tc.name, a.echo.Headers)
			}
		}
		e.logMu.Lock()
		logs := e.log.String()
		e.logMu.Unlock()
		// /config_dump redacts the keys, as Envoy's does private keys.
		redacted := false
		for i := 0; i < 2; i++ {
			resp, err := http.Get(fmt.Sprintf("http://127.0.7.1:%d/config_dump", e.adminBase+i))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			logs += string(b)
			redacted = redacted || strings.Contains(string(b), "[redacted]")
		}
		if !redacted {
			t.Error("no redaction in /config_dump")
		}
		for _, secret := range []string{"key-bob-9876543210", "key-alice-0123456789", "key-bob-0000000000"} {
			if strings.Contains(logs, secret) {
				t.Errorf("an API key appears in the logs or /config_dump")
			}
		}
	})

	t.Run("certificate rotation under load fails no request", func(t *testing.T) {
		rotated := e.caA.issue(t, "tenant-a-rotated", []string{"*.tenant-a.example.com"}, nil, far, false)
		var failures, total atomic.Int64
		stopLoad := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stopLoad:
						return
					default:
					}
					// A new connection per request: every handshake sees
					// whichever certificate is in force.
					c := e.client(nil)
					c.Transport.(*http.Transport).DisableKeepAlives = true
					req, _ := http.NewRequest("GET", "https://shop.tenant-a.example.com/healthz", nil)
					req.Header.Set("X-Forwarded-For", "198.51.100.1")
					resp, err := c.Do(req)
					total.Add(1)
					if err != nil || resp.StatusCode != 200 {
						failures.Add(1)
					}
					if resp != nil {
						resp.Body.Close()
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond) // load before the rotation
		content, _ := os.ReadFile(filepath.Join(e.dir, "tenant-a.yaml"))
		writeFile(t, e.dir, "tenant-a.yaml", strings.Replace(string(content), certSecret("tenant-a", "cert-a", e.certA), certSecret("tenant-a", "cert-a", rotated), 1))
		eventually(t, 10*time.Second, func() error {
			st, err := e.tlsDial(e.httpsA, "shop.tenant-a.example.com", &tls.Config{})
			if err != nil {
				return err
			}
			if cn := st.PeerCertificates[0].Subject.CommonName; cn != "tenant-a-rotated" {
				return fmt.Errorf("still %q", cn)
			}
			return nil
		})
		time.Sleep(300 * time.Millisecond) // load after the rotation
		close(stopLoad)
		wg.Wait()
		if failures.Load() != 0 || total.Load() < 20 {
			t.Errorf("%d of %d requests failed during rotation", failures.Load(), total.Load())
		}
		t.Logf("%d requests during rotation, %d failed", total.Load(), failures.Load())
	})
}

func noneToken() string {
	e := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]any{"alg": "none", "kid": "k1"})
	c, _ := json.Marshal(map[string]any{"iss": "https://idp.test", "aud": "api", "exp": time.Now().Add(time.Hour).Unix()})
	return e.EncodeToString(h) + "." + e.EncodeToString(c) + "."
}
