package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHealthCheckEjectsAndRestores: an active health check takes a failing
// endpoint out of rotation and brings it back when it recovers.
func TestHealthCheckEjectsAndRestores(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	bport := freePort(t, "127.0.0.71")
	a := backend(t, "hc", fmt.Sprintf("127.0.0.71:%d", bport))
	b := backend(t, "hc", fmt.Sprintf("127.0.0.72:%d", bport))
	write(t, dir, "all.yaml", gatewayYAML("hc", "gw", port, "*")+"---\n"+
		serviceYAML("hc", "svc", bport, "http",
			pod{name: "p0", ip: "127.0.0.71", ready: true}, pod{name: "p1", ip: "127.0.0.72", ready: true})+`---
apiVersion: networking.kubesphere.io/v1alpha1
kind: DestinationRule
metadata: {name: svc, namespace: hc}
spec:
  host: svc
  trafficPolicy:
    healthCheck: {path: /healthz, interval: 100ms, timeout: 1s, unhealthyThreshold: 2, healthyThreshold: 1}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: r, namespace: hc}
spec:
  http:
  - route: [{destination: {host: svc}}]
`)
	e := &env{t: t, dir: dir, port: port}
	e.gw = startGateway(t, dir)
	e.gw.waitReady(0)
	waitRoute(t, e, "x", "/", "hc")

	a.SetHealthy(false)
	eventually(t, 10*time.Second, func() error {
		for i := 0; i < 10; i++ {
			_, body := do(t, "GET", e.url("/"), "x", nil, nil)
			if r := echoReply(t, body); r.Addr == a.Addr() {
				return fmt.Errorf("request %d still reached the unhealthy endpoint", i)
			}
		}
		return nil
	})
	a.SetHealthy(true)
	eventually(t, 10*time.Second, func() error {
		seen := map[string]bool{}
		for i := 0; i < 10; i++ {
			_, body := do(t, "GET", e.url("/"), "x", nil, nil)
			seen[echoReply(t, body).Addr] = true
		}
		if !seen[a.Addr()] || !seen[b.Addr()] {
			return fmt.Errorf("recovered endpoint not back in rotation: %v", seen)
		}
		return nil
	})
}

// TestOutlierDetectionEjectsFailingEndpoint: passive ejection after
// consecutive 5xx.
func TestOutlierDetectionEjectsFailingEndpoint(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	bport := freePort(t, "127.0.0.73")
	backend(t, "good", fmt.Sprintf("127.0.0.73:%d", bport))
	failing(t, fmt.Sprintf("127.0.0.74:%d", bport))
	write(t, dir, "all.yaml", gatewayYAML("od", "gw", port, "*")+"---\n"+
		serviceYAML("od", "svc", bport, "http",
			pod{name: "p0", ip: "127.0.0.73", ready: true}, pod{name: "p1", ip: "127.0.0.74", ready: true})+`---
apiVersion: networking.kubesphere.io/v1alpha1
kind: DestinationRule
metadata: {name: svc, namespace: od}
spec:
  host: svc
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: r, namespace: od}
spec:
  http:
  - route: [{destination: {host: svc}}]
`)
	e := &env{t: t, dir: dir, port: port}
	e.gw = startGateway(t, dir)
	e.gw.waitReady(0)
	failures := 0
	eventually(t, 15*time.Second, func() error {
		resp, _ := do(t, "GET", e.url("/"), "x", nil, nil)
		switch resp.StatusCode {
		case 404:
			return fmt.Errorf("route not programmed yet")
		case 503:
			failures++
		}
		return nil
	})

	// The second endpoint answers 503 to everything.
	for i := 0; i < 40; i++ {
		resp, body := do(t, "GET", e.url("/"), "x", nil, nil)
		if resp.StatusCode == 503 {
			failures++
			continue
		}
		if r := echoReply(t, body); r.Name != "good" {
			t.Fatalf("unexpected backend %q", r.Name)
		}
	}
	// Round robin sends every other request to bad until it is ejected
	// after 3 consecutive 5xx: at most 3 failures, then all go to good.
	if failures > 3 {
		t.Fatalf("%d requests failed; the endpoint should be ejected after 3 consecutive 5xx", failures)
	}
	if failures == 0 {
		t.Fatalf("no request reached the failing endpoint; the test did not exercise ejection")
	}
}

// TestSubsetWithoutEndpointsAnswers503WithReason: a Route to a subset that
// selects no Pod gets 503 naming the reason; the rest keeps working.
func TestSubsetWithoutEndpointsAnswers503WithReason(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	bport := freePort(t, "127.0.0.75")
	backend(t, "v1", fmt.Sprintf("127.0.0.75:%d", bport))
	write(t, dir, "all.yaml", gatewayYAML("sub", "gw", port, "*")+"---\n"+
		serviceYAML("sub", "svc", bport, "http", pod{name: "p0", ip: "127.0.0.75", ready: true, labels: map[string]string{"version": "v1"}})+`---
apiVersion: networking.kubesphere.io/v1alpha1
kind: DestinationRule
metadata: {name: svc, namespace: sub}
spec:
  host: svc
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v9, labels: {version: v9}}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: r, namespace: sub}
spec:
  http:
  - match: [{uri: {prefix: /nine}}]
    route: [{destination: {host: svc, subset: v9}}]
  - match: [{uri: {prefix: /missing}}]
    route: [{destination: {host: nosuchservice}}]
  - route: [{destination: {host: svc, subset: v1}}]
`)
	e := &env{t: t, dir: dir, port: port}
	e.gw = startGateway(t, dir)
	e.gw.waitReady(0)
	waitRoute(t, e, "x", "/", "v1")
	for _, path := range []string{"/nine", "/missing"} {
		resp, body := do(t, "GET", e.url(path), "x", nil, nil)
		if resp.StatusCode != 503 || !strings.Contains(string(body), "no healthy upstream") {
			t.Fatalf("%s: %d %q, want 503 no healthy upstream", path, resp.StatusCode, body)
		}
		t.Logf("%s: %s", path, body)
	}
}

// TestIngressPathSemantics checks Kubernetes Ingress v1 rules through the
// whole pipeline.
func TestIngressPathSemantics(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	bport := freePort(t, "127.0.0.81")
	for i, n := range []string{"exact", "prefix", "longer", "default", "wild"} {
		backend(t, n, fmt.Sprintf("127.0.0.%d:%d", 81+i, bport))
	}
	var svcs []string
	for i, n := range []string{"exact", "prefix", "longer", "default", "wild"} {
		svcs = append(svcs, serviceYAML("ing", n, bport, "http", pod{name: n, ip: fmt.Sprintf("127.0.0.%d", 81+i), ready: true}))
	}
	write(t, dir, "all.yaml", gatewayYAML("ing", "gw", port, "*")+"---\n"+strings.Join(svcs, "---\n")+`---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: ing}
spec:
  defaultBackend: {service: {name: default, port: {number: 80}}}
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /foo, pathType: Exact, backend: {service: {name: exact, port: {number: 80}}}}
      - {path: /foo, pathType: Prefix, backend: {service: {name: prefix, port: {name: http}}}}
      - {path: /foo/bar, pathType: Prefix, backend: {service: {name: longer, port: {number: 80}}}}
  - host: "*.shop.example"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: wild, port: {number: 80}}}}
`)
	e := &env{t: t, dir: dir, port: port}
	e.gw = startGateway(t, dir)
	e.gw.waitReady(0)
	waitRoute(t, e, "shop.example", "/foo", "exact")
	tests := []struct{ host, path, want string }{
		{"shop.example", "/foo", "exact"},            // Exact wins the tie with Prefix /foo
		{"shop.example", "/foo/", "prefix"},          // trailing slash: Prefix, not Exact
		{"shop.example", "/foo/baz", "prefix"},       // whole segment
		{"shop.example", "/foobar", "default"},       // not a segment match
		{"shop.example", "/foo/bar", "longer"},       // longest prefix wins
		{"shop.example", "/foo/bar/x", "longer"},     // longest prefix wins
		{"shop.example", "/foo/barista", "prefix"},   // /foo/bar is not a segment prefix of it
		{"a.shop.example", "/anything", "wild"},      // one-label wildcard
		{"a.b.shop.example", "/anything", "default"}, // two labels: not the wildcard
		{"other.example", "/foo", "default"},         // defaultBackend
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			resp, body := do(t, "GET", e.url(tt.path), tt.host, nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := echoReply(t, body).Name; got != tt.want {
				t.Fatalf("backend %q, want %q", got, tt.want)
			}
		})
	}
}

// failing starts a backend that answers every request with 503.
func failing(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "always failing", http.StatusServiceUnavailable)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
