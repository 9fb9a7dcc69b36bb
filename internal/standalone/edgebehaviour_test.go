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
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/testing/echo"
	"github.com/ksgw/ksgw/internal/testing/redisserver"
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
metadata: {name: login, namespace: shop}
spec: {http: [{match: [{uri: {prefix: /login}}], route: [{destination: {host: echo}}]}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: upload, namespace: shop}
spec: {http: [{match: [{uri: {prefix: /upload}}], route: [{destination: {host: echo}}]}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: z-rest, namespace: shop}
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

// policiesYAML are the behaviour- and data-layer policies of the tests;
// waf is the Rego of the login route's policy (inline).
func policiesYAML(t *testing.T, wafRego string) string {
	seed, err := os.ReadFile("../proxy/filter/waf/testdata/seed-waf.rego")
	if err != nil {
		t.Fatal(err)
	}
	indent := func(s string) string { return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") }
	return fmt.Sprintf(`
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: limit, namespace: shop}
spec:
  targetRef: {kind: Route, name: limited}
  rateLimit: {requests: 3, unit: Minute}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: waf, namespace: shop}
data:
  seed.rego: |
%s
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: login, namespace: shop}
spec:
  targetRef: {kind: Route, name: login}
  waf:
    rego:
    - {name: seed, configMapRef: {name: waf, key: seed.rego}}
    - name: extra
      inline: |
%s
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: upload, namespace: shop}
spec:
  targetRef: {kind: Route, name: upload}
  validation:
    allowedMethods: [GET, POST]
    maxBodyBytes: 64
    requiredHeaders: [X-Tenant]
    contentTypes: [application/json]
    jsonSchema: '{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}'
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: edge, namespace: shop}
spec:
  targetRef: {kind: Gateway, name: gw}
  masking: {builtins: [cardNumbers], contentTypes: [application/json]}
`, indent(string(seed)), "        "+strings.ReplaceAll(strings.TrimSpace(wafRego), "\n", "\n        "))
}

// extraRego is a second module, in Rego v1 syntax.
const extraRego = `package kubesphere.gateway.waf
deny contains msg if {
	input.method == "DELETE"
	msg := "deletes are not allowed"
}`

func TestEdgeBehaviourEndToEnd(t *testing.T) {
	e := startBehaviourEnv(t, policiesYAML(t, extraRego))
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
	t.Run("the seed WAF policy blocks POST /login?password=x and passes GET and POST /login", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			want         int
		}{
			{"POST", "/login?password=x", 403},
			{"POST", "/login?user=a&password=", 403},
			{"GET", "/login?password=x", 200},
			{"POST", "/login", 200},
			{"DELETE", "/login", 403}, // the v1 module
		} {
			st, _, body, err := e.do(tc.method, tc.path, "", nil)
			if err != nil || st != tc.want {
				t.Errorf("%s %s: %d %v %s, want %d", tc.method, tc.path, st, err, body, tc.want)
			}
			if tc.want == 403 && !strings.Contains(body, "not allowed") && !strings.Contains(body, "credential leakage") {
				t.Errorf("%s %s: body %q does not carry the deny message", tc.method, tc.path, body)
			}
		}
	})
	t.Run("validation rules answer 400, 413 and 415 naming the rule", func(t *testing.T) {
		js := map[string]string{"content-type": "application/json", "x-tenant": "a"}
		for _, tc := range []struct {
			name, method, body string
			hdr                map[string]string
			want               int
			rule               string
		}{
			{"valid", "POST", `{"name":"x"}`, js, 200, ""},
			{"method", "PUT", `{"name":"x"}`, js, 405, "allowedMethods"},
			{"required header", "POST", `{"name":"x"}`, map[string]string{"content-type": "application/json"}, 400, "requiredHeaders"},
			{"content type", "POST", `name=x`, map[string]string{"content-type": "application/x-www-form-urlencoded", "x-tenant": "a"}, 415, "contentTypes"},
			{"body size", "POST", `{"name":"` + strings.Repeat("x", 100) + `"}`, js, 413, "maxBodyBytes"},
			{"schema", "POST", `{"name":7}`, js, 400, "jsonSchema"},
		} {
			st, _, body, err := e.do(tc.method, "/upload", tc.body, tc.hdr)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if st != tc.want && !(tc.rule == "allowedMethods" && st == 400) {
				t.Errorf("%s: status %d (%s), want %d", tc.name, st, body, tc.want)
			}
			if tc.rule != "" && !strings.Contains(body, tc.rule) {
				t.Errorf("%s: body %q does not name %s", tc.name, body, tc.rule)
			}
		}
	})
	t.Run("card numbers are masked in JSON responses", func(t *testing.T) {
		st, _, body, err := e.do("GET", "/echo", "", map[string]string{"x-card": "4111 1111 1111 1111"})
		if err != nil || st != 200 {
			t.Fatalf("%d %v", st, err)
		}
		if strings.Contains(body, "4111 1111 1111 1111") || !strings.Contains(strings.ToLower(body), "x-card") {
			t.Errorf("card number not masked in %s", body)
		}
	})
	t.Run("secrets in URLs never reach the access log", func(t *testing.T) {
		secrets := []string{"hunter2-secret", "4111111111111111"}
		path := "/echo?password=" + secrets[0] + "&card=" + secrets[1] + "&marker=logged-once"
		if st, _, _, err := e.do("GET", path, "", nil); err != nil || st != 200 {
			t.Fatalf("%d %v", st, err)
		}
		var logged string
		eventually(t, 5*time.Second, func() error {
			e.logMu.Lock()
			logged = e.access.String()
			e.logMu.Unlock()
			if !strings.Contains(logged, "marker=logged-once") {
				return fmt.Errorf("request not in the access log yet")
			}
			return nil
		})
		for _, s := range secrets {
			if strings.Contains(logged, s) {
				t.Errorf("access log contains %q:\n%s", s, tailLines(logged, 5))
			}
		}
	})
	t.Run("a WAF module that does not compile keeps the previous policy in force", func(t *testing.T) {
		writeFile(t, e.dir, "policies.yaml", policiesYAML(t, "package kubesphere.gateway.waf\ndeny[msg] {"))
		eventually(t, 10*time.Second, func() error {
			e.logMu.Lock()
			defer e.logMu.Unlock()
			if !strings.Contains(e.log.String(), "spec.waf.rego") {
				return fmt.Errorf("no problem reported for spec.waf.rego yet")
			}
			return nil
		})
		if st, _, _, err := e.do("POST", "/login?password=x", "", nil); err != nil || st != 403 {
			t.Errorf("after a broken edit: %d %v, want the previous policy's 403", st, err)
		}
	})
}

// TestGlobalRateLimitAcrossReplicas runs two standalone proxies for the
// same gateway sharing one real redis-server: together they admit the
// limit, within ±2%, under concurrent load split between them.
func TestGlobalRateLimitAcrossReplicas(t *testing.T) {
	rs := redisserver.Start(t)
	const limit = 200
	policy := fmt.Sprintf(`
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: shared, namespace: shop}
spec:
  targetRef: {kind: Route, name: limited}
  rateLimit:
    requests: %d
    unit: Hour
    key: [{source: Header, name: X-User}]
    # Closed: a Redis failure shows as a 500, never as a silent admit; a
    # generous timeout since the test may run under -race on a loaded host.
    global: {redisAddress: "%s", failureMode: Closed, timeout: 5s}
`, limit, rs.Addr())
	replicas := []*behaviourEnv{startBehaviourEnv(t, policy), startBehaviourEnv(t, policy)}
	var admitted, refused, other atomic.Int64
	var wg sync.WaitGroup
	const workers, perWorker = 8, 75 // 600 requests, 3x the limit
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := replicas[w%2]
			for range perWorker {
				st, _, _, err := e.do("GET", "/limited/x", "", map[string]string{"x-user": "alice"})
				switch {
				case err != nil:
					other.Add(1)
				case st == 200:
					admitted.Add(1)
				case st == 429:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("admitted %d, refused %d, other %d (limit %d across 2 replicas)", admitted.Load(), refused.Load(), other.Load(), limit)
	if got := admitted.Load(); got < limit*98/100 || got > limit*102/100 {
		t.Errorf("admitted %d, want %d ±2%%", got, limit)
	}
	if other.Load() != 0 {
		t.Errorf("%d requests failed otherwise", other.Load())
	}

	// Redis gone: fail closed answers 500 (Envoy's status_on_error) at
	// once, from both replicas, instead of admitting. A new key: alice's is
	// remembered as refused, which needs no Redis.
	rs.Stop()
	for i, e := range replicas {
		start := time.Now()
		st, _, _, err := e.do("GET", "/limited/x", "", map[string]string{"x-user": "bob"})
		if err != nil || st != 500 {
			t.Errorf("replica %d with Redis stopped: %d %v, want 500 (fail closed)", i, st, err)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("replica %d: the refusal took %v", i, d)
		}
	}
}
