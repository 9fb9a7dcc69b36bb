package standalone

// End-to-end tests of the behaviour and data layers (issue 7) through the
// whole standalone pipeline: YAML in a watched directory → translator →
// ADS → proxy → a real echo backend. Addresses are in 127.0.11.0/24; ports
// are kernel-assigned.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

// behaviourEnv is one standalone gateway (plain HTTP) in front of an echo
// backend, configured from gateway.yaml plus per-test policy files.
type behaviourEnv struct {
	dir    string
	port   int
	logMu  *sync.Mutex
	log    *bytes.Buffer
	access *bytes.Buffer // the proxies' access log
	hc     *http.Client
}

func startBehaviourEnv(t *testing.T, policies string) *behaviourEnv {
	t.Helper()
	e := &behaviourEnv{dir: t.TempDir(), port: freePort(t), logMu: &sync.Mutex{}, log: &bytes.Buffer{}, access: &bytes.Buffer{},
		hc: &http.Client{Timeout: 5 * time.Second}}
	echoAddr := freeAddr(t, "127.0.11.10")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	eb, err := echo.Start(ctx, echo.Options{Name: "echo", Addr: echoAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eb.Close() })
	_, echoPort, _ := net.SplitHostPort(echoAddr)
	writeFile(t, e.dir, "gateway.yaml", fmt.Sprintf(`
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  hosts: ["shop.example.com"]
  ports: {http: %d}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: shop}
spec: {selector: {app: echo}, ports: [{name: http, port: 80, targetPort: %s}]}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: shop, labels: {app: echo}}
status: {podIP: 127.0.11.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: limited, namespace: shop}
spec: {http: [{match: [{uri: {prefix: /limited}}], route: [{destination: {host: echo}}]}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: rest, namespace: shop}
spec: {http: [{route: [{destination: {host: echo}}]}]}
`, e.port, echoPort))
	writeFile(t, e.dir, "policies.yaml", policies)

	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(runCtx, Options{
			ConfigDir: e.dir, UpdateInterval: 50 * time.Millisecond, XDSAddress: "127.0.11.1:0",
			AdminHost: "127.0.11.1", AdminBasePort: freePort(t), DrainTimeout: 2 * time.Second,
			AccessLog: lockedWriter{e.logMu, e.access},
			Logger:    slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.log}, &slog.HandlerOptions{Level: slog.LevelDebug})),
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
			t.Logf("logs:\n%s", tailLines(e.log.String(), 60))
			e.logMu.Unlock()
		}
	})
	eventually(t, 20*time.Second, func() error {
		st, _, _, err := e.do("GET", "/healthz", "", nil)
		if err != nil {
			return err
		}
		if st != 200 {
			return fmt.Errorf("status %d", st)
		}
		return nil
	})
	return e
}

// do sends one request for shop.example.com.
func (e *behaviourEnv) do(method, path, body string, hdr map[string]string) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(e.port)+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Host = "shop.example.com"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

func TestEdgeBehaviourEndToEnd(t *testing.T) {
	e := startBehaviourEnv(t, `
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: limit, namespace: shop}
spec:
  targetRef: {kind: Route, name: limited}
  rateLimit: {requests: 3, unit: Minute}
`)

	t.Run("local rate limit answers 429 with Retry-After once the burst is spent", func(t *testing.T) {
		for i := range 3 {
			st, h, _, err := e.do("GET", "/limited/x", "", nil)
			if err != nil || st != 200 {
				t.Fatalf("request %d: %d %v", i, st, err)
			}
			if got, want := h.Get("X-RateLimit-Remaining"), strconv.Itoa(2-i); got != want {
				t.Errorf("request %d: X-RateLimit-Remaining %q, want %q", i, got, want)
			}
		}
		st, h, body, err := e.do("GET", "/limited/x", "", nil)
		if err != nil || st != 429 {
			t.Fatalf("4th request: %d %v, want 429", st, err)
		}
		ra, err := strconv.Atoi(h.Get("Retry-After"))
		// One token every 20s: the wait is at most 20s, rounded up.
		if err != nil || ra < 1 || ra > 20 {
			t.Errorf("Retry-After %q, want 1..20", h.Get("Retry-After"))
		}
		if h.Get("X-RateLimit-Limit") == "" || body != "local_rate_limited" {
			t.Errorf("headers %v body %q", h, body)
		}
	})
	t.Run("routes without a policy are not limited", func(t *testing.T) {
		for i := range 10 {
			if st, _, _, err := e.do("GET", "/other", "", nil); err != nil || st != 200 {
				t.Fatalf("request %d: %d %v", i, st, err)
			}
		}
	})
}
