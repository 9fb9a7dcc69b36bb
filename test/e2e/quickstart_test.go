package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestQuickstart runs the bundled quickstart exactly as the README does
// (same directory, same ports, same backends) and checks its curl lines:
// the seed's canary Route splits 90/10, HTTPS serves the tenant's
// certificate, and a foreign host is not routed.
func TestQuickstart(t *testing.T) {
	if os.Getenv("KSGW_E2E_SKIP_QUICKSTART") != "" {
		t.Skip("KSGW_E2E_SKIP_QUICKSTART set")
	}
	src, err := filepath.Abs("../../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"127.0.0.11:8081", "127.0.0.12:8081"} {
		backend(t, "product-v1", a)
	}
	backend(t, "product-v2", "127.0.0.21:8081")
	gw := startGateway(t, src, "--namespace", "tenant-a")
	gw.waitReady(0)
	e := &env{t: t, dir: src, port: 8080, gw: gw}
	waitRoute(t, e, "shop.tenant-a.example.com", "/", "product-v1")

	// The split: 2,000 requests at p=0.1 have a standard deviation of
	// about 13.4; ±5σ keeps this test from flaking while still failing for
	// any split other than 90/10 (80/20 would give ~400).
	const n = 2000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		resp, body := do(t, "GET", e.url("/products"), "shop.tenant-a.example.com", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
		}
		counts[echoReply(t, body).Name]++
	}
	if v2 := counts["product-v2"]; v2 < 133 || v2 > 267 || counts["product-v1"]+v2 != n {
		t.Fatalf("split = %v, want about 1800/200", counts)
	}
	t.Logf("canary split over %d requests: %v", n, counts)

	// HTTPS with SNI: the certificate is the tenant's, verified against
	// the certificate in the quickstart's Secret.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(secretCert(t, filepath.Join(src, "secret-tenant-a-tls.yaml")))
	tc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "shop.tenant-a.example.com"}}}
	req, _ := http.NewRequest("GET", "https://127.0.0.1:8443/", nil)
	req.Host = "shop.tenant-a.example.com"
	resp, err := tc.Do(req)
	if err != nil {
		t.Fatalf("HTTPS request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("HTTPS: status %d, TLS version %x: %s", resp.StatusCode, resp.TLS.Version, body)
	}
	if name := echoReply(t, body).Name; name != "product-v1" && name != "product-v2" {
		t.Fatalf("HTTPS reached %q", name)
	}
	if got := echoReply(t, body).Header("x-forwarded-proto"); got != "https" {
		t.Errorf("x-forwarded-proto over TLS = %q, want https", got)
	}

	resp2, _ := do(t, "GET", e.url("/"), "shop.tenant-b.example.com", nil, nil)
	if resp2.StatusCode != 404 {
		t.Fatalf("foreign host: status %d, want 404", resp2.StatusCode)
	}
	// The single-label wildcard: a.b.tenant-a.example.com is not covered.
	resp3, _ := do(t, "GET", e.url("/"), "a.b.tenant-a.example.com", nil, nil)
	if resp3.StatusCode != 404 {
		t.Fatalf("two-label host under a one-label wildcard: status %d, want 404", resp3.StatusCode)
	}

	// Admin endpoints answer.
	for _, p := range []string{"/ready", "/clusters", "/config_dump", "/stats/prometheus"} {
		r, err := http.Get(gw.admin(0) + p)
		if err != nil {
			t.Fatalf("admin %s: %v", p, err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("admin %s: %d %q", p, r.StatusCode, b)
		}
		if p == "/clusters" && !strings.Contains(string(b), "tenant-a/product-v1/80/v1") {
			t.Errorf("/clusters does not list the v1 subset cluster:\n%s", b)
		}
	}
}

func secretCert(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	pem, err := base64.StdEncoding.DecodeString(s.Data["tls.crt"])
	if err != nil {
		t.Fatal(fmt.Errorf("tls.crt: %w", err))
	}
	return pem
}
