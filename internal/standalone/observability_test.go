package standalone_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ksgw/ksgw/internal/standalone"
	"github.com/ksgw/ksgw/internal/testing/echo"
)

// Loopback addresses of this test (the observability range 127.0.9.0/24).
const (
	ipControl = "127.0.9.1"  // xDS and control-plane metrics
	ipAdmin   = "127.0.9.2"  // proxies' admin listeners
	ipProm    = "127.0.9.3"  // Prometheus
	ipOTLP    = "127.0.9.5"  // trace receiver
	ipWeb     = "127.0.9.11" // backend of tenant-a
	ipAPI     = "127.0.9.12" // backend of tenant-b
)

// tool finds a binary the test drives; in CI a missing tool fails.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found; hack/ci-deps.sh installs it (hack/install-deps.sh %s)", name, pkg)
		}
		t.Skipf("%s not found; run hack/install-deps.sh %s", name, pkg)
	}
	return p
}

func freePort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startEcho(t *testing.T, ctx context.Context, name, ip string) (*echo.Server, int) {
	t.Helper()
	s, err := echo.Start(ctx, echo.Options{Name: name, Addr: ip + ":0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	_, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	return s, n
}

const configTmpl = `
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: gw, namespace: tenant-a}
spec:
  hosts: ["*.a.example.com"]
  ports: {http: %[1]d}
  # 0%%: only callers that ask for a trace (traceparent or B3 sampled) get one.
  tracing: {randomSamplingPercentage: 0, endpoint: "%[3]s"}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: gw, namespace: tenant-b}
spec:
  hosts: ["*.b.example.com"]
  ports: {http: %[2]d}
  tracing: {randomSamplingPercentage: 100, protocol: http, endpoint: "%[4]s"}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: tenant-a}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: %[5]d}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: tenant-a, labels: {app: web}}
spec: {containers: [{name: web, image: ksgw-echo, ports: [{name: http, containerPort: %[5]d}]}]}
status: {podIP: 127.0.9.11, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: tenant-b}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: %[6]d}]
---
apiVersion: v1
kind: Pod
metadata: {name: api-0, namespace: tenant-b, labels: {app: api}}
spec: {containers: [{name: api, image: ksgw-echo, ports: [{name: http, containerPort: %[6]d}]}]}
status: {podIP: 127.0.9.12, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: web, namespace: tenant-a}
spec:
  hosts: [web.a.example.com]
  http: [{route: [{destination: {host: web}}]}]
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: api, namespace: tenant-b}
spec:
  hosts: [api.b.example.com]
  http: [{route: [{destination: {host: api}}]}]
`

// lockedFile serialises writes from the proxies' access-log writers.
type lockedFile struct {
	mu sync.Mutex
	f  *os.File
}

func (l *lockedFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// sent is one request the test made, for matching access-log lines.
type sent struct {
	status  int
	traceID string // "" when none is expected in the log
}

type client struct {
	t    *testing.T
	http *http.Client
	mu   sync.Mutex
	sent map[string]sent // by x-request-id
}

// do sends GET / with the given Host through the proxy at port and returns
// the status and the echo reply (nil for a non-echo answer).
func (c *client) do(port int, host, id string, hdr map[string]string, traceID string) (int, *echo.Reply, error) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	req.Host = host
	req.Header.Set("x-request-id", id)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	c.mu.Lock()
	c.sent[id] = sent{status: resp.StatusCode, traceID: traceID}
	c.mu.Unlock()
	var r echo.Reply
	if json.Unmarshal(body, &r) != nil || r.Name == "" {
		return resp.StatusCode, nil, nil
	}
	return resp.StatusCode, &r, nil
}

type prometheus struct {
	t    *testing.T
	base string
}

// startPrometheus runs the Debian prometheus binary with a temporary
// configuration and storage; it is stopped when the test ends.
func startPrometheus(t *testing.T, bin string, scrapeProxies []string, scrapeCP, rules string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: ksgw-proxy
    metrics_path: /stats/prometheus
    static_configs: [{targets: [%s]}]
  - job_name: ksgw-controlplane
    static_configs: [{targets: [%q]}]
`, filepath.Join(dir, "rules.yaml"), `"`+strings.Join(scrapeProxies, `", "`)+`"`, scrapeCP)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("%s:%d", ipProm, freePort(t, ipProm))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	p := &prometheus{t: t, base: "http://" + addr}
	waitFor(t, 30*time.Second, "prometheus ready", func() error {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs.String())
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (p *prometheus) query(q string) ([]promSample, error) {
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	return r.Data.Result, nil
}

// scalar returns the single value of q, or an error when it has none.
func (p *prometheus) scalar(q string) (float64, error) {
	res, err := p.query(q)
	if err != nil {
		return 0, err
	}
	if len(res) != 1 {
		return 0, fmt.Errorf("query %s: %d series, want 1", q, len(res))
	}
	s, _ := res[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// waitValue waits until q evaluates to want.
func (p *prometheus) waitValue(t *testing.T, q string, want float64, within time.Duration) {
	t.Helper()
	waitFor(t, within, q, func() error {
		v, err := p.scalar(q)
		if err != nil {
			return err
		}
		if math.Abs(v-want) > 1e-9 {
			return fmt.Errorf("%s = %v, want %v", q, v, want)
		}
		return nil
	})
}

func waitFor(t *testing.T, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testRules is the design's HighErrorRate with its expression unchanged
// and a short "for", so the test need not wait five minutes.
func testRules(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/monitoring/ksgw.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Rules []map[string]any `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r["alert"] == "HighErrorRate" {
				r["for"] = "3s"
				out, _ := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "test", "rules": []any{r}}}})
				return string(out)
			}
		}
	}
	t.Fatal("HighErrorRate not in ksgw.rules.yaml")
	return ""
}

func TestObservabilityEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, Chromium and a standalone gateway")
	}
	promBin := tool(t, "prometheus", "prometheus")
	chromium := tool(t, "chromium", "chromium")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, webPort := startEcho(t, ctx, "web", ipWeb)
	_, apiPort := startEcho(t, ctx, "api", ipAPI)
	otlp := startOTLPReceiver(t, ipOTLP)

	portA, portB := freePort(t, "0.0.0.0"), freePort(t, "0.0.0.0")
	dir := t.TempDir()
	cfg := fmt.Sprintf(configTmpl, portA, portB, otlp.GRPCAddr, otlp.HTTPAddr, webPort, apiPort)
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	alPath := filepath.Join(t.TempDir(), "access.log")
	alFile, err := os.Create(alPath)
	if err != nil {
		t.Fatal(err)
	}
	defer alFile.Close()
	metricsLn, err := net.Listen("tcp", ipControl+":0")
	if err != nil {
		t.Fatal(err)
	}
	adminBase := freePort(t, ipAdmin)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- standalone.Run(sctx, standalone.Options{
			ConfigDir: dir, UpdateInterval: 100 * time.Millisecond, XDSAddress: ipControl + ":0",
			AdminHost: ipAdmin, AdminBasePort: adminBase, AccessLog: &lockedFile{f: alFile},
			DrainTimeout: 5 * time.Second, MetricsListener: metricsLn,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	stopped := false
	stopGateway := func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("standalone: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("standalone did not stop")
		}
	}
	defer stopGateway()

	// Which admin port serves which gateway depends on start order.
	admin := map[string]string{}
	waitFor(t, 20*time.Second, "both proxies ready", func() error {
		for i := 0; i < 2; i++ {
			a := fmt.Sprintf("%s:%d", ipAdmin, adminBase+i)
			resp, err := http.Get("http://" + a + "/server_info")
			if err != nil {
				return err
			}
			var si struct{ Node, State string }
			json.NewDecoder(resp.Body).Decode(&si)
			resp.Body.Close()
			if si.State != "LIVE" {
				return fmt.Errorf("%s is %s", si.Node, si.State)
			}
			admin[si.Node] = a
		}
		return nil
	})
	c := &client{t: t, http: &http.Client{Timeout: 10 * time.Second}, sent: map[string]sent{}}
	waitFor(t, 20*time.Second, "routes programmed", func() error {
		for i, p := range []struct {
			port int
			host string
		}{{portA, "web.a.example.com"}, {portB, "api.b.example.com"}} {
			st, _, err := c.do(p.port, p.host, fmt.Sprintf("warmup-%d-%d", i, time.Now().UnixNano()), nil, "")
			if err != nil || st != 200 {
				return fmt.Errorf("%s: %d %v", p.host, st, err)
			}
		}
		return nil
	})
	// Warm-up requests to tenant-a count downstream; those that found their
	// route also count upstream.
	warmupA, routedWarmupA := 0, 0
	for id, s := range c.sent {
		if strings.HasPrefix(id, "warmup-0-") {
			warmupA++
			if s.status == 200 {
				routedWarmupA++
			}
		}
	}

	prom := startPrometheus(t, promBin, []string{admin["tenant-a/gw"], admin["tenant-b/gw"]}, metricsLn.Addr().String(), testRules(t))
	// rate() needs samples on both sides of the traffic: load starts once
	// every target has been scraped, and lasts several scrape intervals.
	prom.waitValue(t, `count(up == 1)`, 3, 20*time.Second)

	// Load: 400 requests to tenant-a at about 50/s, every tenth told to
	// fail with 503.
	const total, errEvery = 400, 10
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 4 {
				hdr := map[string]string{}
				want := 200
				if i%errEvery == 0 {
					hdr[echo.HeaderStatus] = "503"
					want = 503
				}
				st, _, err := c.do(portA, "web.a.example.com", fmt.Sprintf("load-%d", i), hdr, "")
				if err != nil || st != want {
					failures.Add(1)
					t.Errorf("request %d: %d %v, want %d", i, st, err, want)
				}
				time.Sleep(80 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.FailNow()
	}
	sentA, routedA := float64(total+warmupA), float64(total+routedWarmupA)

	const cl = `envoy_cluster_name="tenant-a/web/80"`
	t.Run("request counts equal what was sent", func(t *testing.T) {
		prom.waitValue(t, `sum(envoy_cluster_upstream_rq_total{`+cl+`})`, routedA, 30*time.Second)
		prom.waitValue(t, fmt.Sprintf(`sum(envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="http-%d"})`, portA), sentA, 10*time.Second)
		prom.waitValue(t, `sum(gateway_request_latency_count{gateway="tenant-a/gw"})`, sentA, 10*time.Second)
		prom.waitValue(t, `sum(envoy_cluster_upstream_rq{`+cl+`,envoy_response_code="503"})`, total/errEvery, 10*time.Second)
		prom.waitValue(t, `sum(gateway_request_latency_count{gateway="tenant-a/gw",code="503",method="GET"})`, total/errEvery, 10*time.Second)
		prom.waitValue(t, fmt.Sprintf(`envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_%d"} > bool 0`, portA), 1, 10*time.Second)
	})
	t.Run("5xx ratio equals what the backend was told", func(t *testing.T) {
		prom.waitValue(t, `sum(envoy_cluster_upstream_rq_xx{`+cl+`,response_code_class="5"}) / sum(envoy_cluster_upstream_rq_total{`+cl+`})`,
			float64(total/errEvery)/routedA, 10*time.Second)
		prom.waitValue(t, `sum(envoy_cluster_upstream_rq_xx{`+cl+`,envoy_response_code_class="5"})`, total/errEvery, 10*time.Second)
		prom.waitValue(t, `envoy_cluster_membership_healthy{`+cl+`}`, 1, 10*time.Second)
		if v, err := prom.scalar(`histogram_quantile(0.99, sum by (le) (rate(gateway_request_latency_bucket{gateway="tenant-a/gw"}[1m])))`); err != nil || !(v > 0 && v < 5) {
			t.Errorf("P99 of gateway_request_latency = %v, %v; want a few ms", v, err)
		}
	})
	t.Run("control-plane metrics", func(t *testing.T) {
		prom.waitValue(t, `ksgw_xds_connected_proxies{node="tenant-a/gw"}`, 1, 10*time.Second)
		prom.waitValue(t, `ksgw_controlplane_resources{kind="Gateway"}`, 2, 10*time.Second)
		prom.waitValue(t, `ksgw_xds_nacks_total{node="tenant-a/gw"}`, 0, 10*time.Second)
		prom.waitValue(t, `ksgw_xds_pushes_total{node="tenant-a/gw"} >= bool 5`, 1, 10*time.Second)
		prom.waitValue(t, `count(ksgw_xds_snapshot_version_info{node="tenant-b/gw"})`, 5, 10*time.Second)
		prom.waitValue(t, `ksgw_controlplane_translation_duration_seconds_count > bool 0`, 1, 10*time.Second)
	})
	t.Run("HighErrorRate fires for a 10% error backend", func(t *testing.T) {

		waitFor(t, 60*time.Second, "HighErrorRate firing", func() error {
			resp, err := http.Get(prom.base + "/api/v1/alerts")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var r struct {
				Data struct {
					Alerts []struct {
						Labels map[string]string `json:"labels"`
						State  string            `json:"state"`
					} `json:"alerts"`
				} `json:"data"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				return err
			}
			firing := false
			for _, a := range r.Data.Alerts {
				if a.Labels["alertname"] != "HighErrorRate" {
					continue
				}
				switch a.Labels["envoy_cluster_name"] {
				case "tenant-a/web/80":
					firing = firing || a.State == "firing"
				default:
					t.Errorf("HighErrorRate for a cluster without errors: %+v", a)
				}
			}
			if firing {
				return nil
			}
			return fmt.Errorf("alerts: %+v", r.Data.Alerts)
		})
	})
	t.Run("every dashboard query evaluates", func(t *testing.T) {
		b, err := os.ReadFile("../../deploy/monitoring/grafana/ksgw-dashboard.json")
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		r := strings.NewReplacer("$__rate_interval", "1m", "$gateway", ".*", "$route", ".*")
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				res, err := prom.query(r.Replace(tg.Expr))
				if err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
					continue
				}
				if len(res) == 0 && !strings.Contains(tg.Expr, "nacks") && !strings.Contains(tg.Expr, "upstream_rq_time") {
					t.Errorf("panel %q: %s returns nothing", p.Title, tg.Expr)
				}
			}
		}
	})

	t.Run("traces: parent and child spans match the caller's traceparent", func(t *testing.T) {
		tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
		defer tcancel()
		// Unsampled first: same exporter, so once the sampled trace has
		// arrived, this one would have too.
		const unsampledTrace, callerSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
		tpUnsampled := "00-" + unsampledTrace + "-" + callerSpan + "-00"
		st, reply, err := c.do(portA, "web.a.example.com", "trace-unsampled", map[string]string{"traceparent": tpUnsampled}, unsampledTrace)
		if err != nil || st != 200 || reply == nil {
			t.Fatalf("unsampled: %d %v", st, err)
		}
		if got := reply.Headers["Traceparent"]; len(got) != 1 || got[0] != tpUnsampled {
			t.Errorf("unsampled traceparent reached the backend as %v, want it unchanged", got)
		}

		const sampledTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		st, reply, err = c.do(portA, "web.a.example.com", "trace-w3c", map[string]string{"traceparent": "00-" + sampledTrace + "-" + callerSpan + "-01"}, sampledTrace)
		if err != nil || st != 200 || reply == nil {
			t.Fatalf("sampled: %d %v", st, err)
		}
		spans, err := otlp.waitTrace(tctx, sampledTrace, 2)
		if err != nil {
			t.Fatalf("spans of %s: %v (got %+v)", sampledTrace, err, spans)
		}
		server, client := findSpans(t, spans)
		if server.ParentID != callerSpan || server.Via != "grpc" || server.Service != "tenant-a/gw" || server.Attrs["http.status_code"] == "" {
			t.Errorf("server span = %+v, want parent %s exported over grpc by tenant-a/gw", server, callerSpan)
		}
		if client.ParentID != server.SpanID || client.Attrs["upstream_cluster"] != "tenant-a/web/80" {
			t.Errorf("client span = %+v, want child of %s to tenant-a/web/80", client, server.SpanID)
		}
		wantHeaders := map[string]string{
			"Traceparent":  "00-" + sampledTrace + "-" + client.SpanID + "-01",
			"X-B3-Traceid": sampledTrace, "X-B3-Spanid": client.SpanID, "X-B3-Parentspanid": server.SpanID, "X-B3-Sampled": "1",
		}
		for k, v := range wantHeaders {
			if got := reply.Headers[k]; len(got) != 1 || got[0] != v {
				t.Errorf("backend got %s = %v, want %s", k, got, v)
			}
		}
		if got, _ := otlp.waitTrace(tctx, unsampledTrace, 0); len(got) != 0 {
			t.Errorf("the caller said not sampled, yet spans were exported: %+v", got)
		}

		// B3 multi-header in, on the same gateway.
		const b3Trace, b3Span = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"
		st, _, err = c.do(portA, "web.a.example.com", "trace-b3", map[string]string{"X-B3-TraceId": b3Trace, "X-B3-SpanId": b3Span, "X-B3-Sampled": "1"}, b3Trace)
		if err != nil || st != 200 {
			t.Fatalf("b3: %d %v", st, err)
		}
		spans, err = otlp.waitTrace(tctx, b3Trace, 2)
		if err != nil {
			t.Fatalf("b3 spans: %v", err)
		}
		if server, _ := findSpans(t, spans); server.ParentID != b3Span {
			t.Errorf("b3 server span parent = %s, want %s", server.ParentID, b3Span)
		}

		// tenant-a samples 0%: its 400 load requests, which carried no
		// trace context, produced no spans.
		otlp.mu.Lock()
		for _, sp := range otlp.spans {
			if sp.Service == "tenant-a/gw" && sp.TraceID != sampledTrace && sp.TraceID != b3Trace {
				t.Errorf("span of an unsampled request: %+v", sp)
			}
		}
		otlp.mu.Unlock()

		// tenant-b samples 100% and exports over OTLP/HTTP: a request
		// without trace headers starts a root span.
		st, reply, err = c.do(portB, "api.b.example.com", "trace-root", nil, "from-backend")
		if err != nil || st != 200 || reply == nil || len(reply.Headers["Traceparent"]) != 1 {
			t.Fatalf("root: %d %v %+v", st, err, reply)
		}
		rootTrace := strings.Split(reply.Headers["Traceparent"][0], "-")[1]
		c.mu.Lock()
		c.sent["trace-root"] = sent{status: 200, traceID: rootTrace}
		c.mu.Unlock()
		spans, err = otlp.waitTrace(tctx, rootTrace, 2)
		if err != nil {
			t.Fatalf("root spans: %v", err)
		}
		server, client = findSpans(t, spans)
		if server.ParentID != "" || server.Via != "http" || server.Service != "tenant-b/gw" || client.ParentID != server.SpanID {
			t.Errorf("root trace: server %+v client %+v, want a root span over http from tenant-b/gw", server, client)
		}
	})

	t.Run("status page renders live charts in headless Chromium", func(t *testing.T) {
		resp, err := http.Get("http://" + admin["tenant-a/gw"] + "/status.json")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Listeners []struct {
				Name     string   `json:"name"`
				Sampling *float64 `json:"trace_sampling_percent"`
			} `json:"listeners"`
			Routes []struct {
				Name, Action string
			} `json:"routes"`
			Clusters []struct {
				Name           string `json:"name"`
				Healthy, Total int64
			} `json:"clusters"`
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(doc.Listeners) != 1 || doc.Listeners[0].Sampling == nil || *doc.Listeners[0].Sampling != 0 ||
			len(doc.Routes) == 0 || !strings.Contains(doc.Routes[0].Action, "tenant-a/web/80") ||
			len(doc.Clusters) != 1 || doc.Clusters[0].Healthy != 1 || doc.Clusters[0].Total != 1 {
			t.Errorf("status.json = %+v", doc)
		}

		// Traffic while the page polls, so the charts have data.
		lctx, lcancel := context.WithCancel(ctx)
		var lwg sync.WaitGroup
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			for i := 0; lctx.Err() == nil; i++ {
				c.do(portA, "web.a.example.com", fmt.Sprintf("page-%d", i), nil, "")
				time.Sleep(10 * time.Millisecond)
			}
		}()
		shot := filepath.Join(t.TempDir(), "status.png")
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--user-data-dir="+t.TempDir(), "--window-size=1280,900", "--virtual-time-budget=8000",
			"--screenshot="+shot, "http://"+admin["tenant-a/gw"]+"/")
		out, err := cmd.CombinedOutput()
		lcancel()
		lwg.Wait()
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, out)
		}
		blue, red := chartPixels(t, shot)
		// The request-rate line is #1565c0 and the P99 line #c62828, two
		// pixels wide across the chart: hundreds of pixels each, where the
		// legends alone have a few dozen.
		if blue < 300 || red < 150 {
			t.Errorf("screenshot has %d request-rate and %d latency line pixels; charts look empty (%s)", blue, red, shot)
			if b, err := os.ReadFile(shot); err == nil {
				os.WriteFile(filepath.Join(os.TempDir(), "ksgw-status-failed.png"), b, 0o644)
			}
		}
	})

	stopGateway()
	t.Run("access-log lines parse and match requests one to one", func(t *testing.T) {
		f, err := os.Open(alPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		seen := map[string]int{}
		sc := bufio.NewScanner(f)
		lines := 0
		for sc.Scan() {
			lines++
			var e struct {
				RequestID    string `json:"request_id"`
				ResponseCode int    `json:"response_code"`
				Method       string `json:"method"`
				Cluster      string `json:"upstream_cluster"`
				TraceID      string `json:"trace_id"`
				Route        string `json:"route_name"`
				Flags        string `json:"response_flags"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("line %d is not JSON: %v: %s", lines, err, sc.Text())
			}
			seen[e.RequestID]++
			want, ok := c.sent[e.RequestID]
			if !ok {
				t.Errorf("line for a request never sent: %s", sc.Text())
				continue
			}
			routed := e.Cluster != "" && e.Route != "" && e.Flags == "-"
			if want.status == 404 {
				routed = e.Flags == "NR" // a warm-up before the routes arrived
			}
			if e.ResponseCode != want.status || e.Method != "GET" || !routed {
				t.Errorf("line %s, want status %d", sc.Text(), want.status)
			}
			if want.traceID != "" && e.TraceID != want.traceID {
				t.Errorf("request %s logged trace %q, want %q", e.RequestID, e.TraceID, want.traceID)
			}
		}
		for id := range c.sent {
			if seen[id] != 1 {
				t.Errorf("request %s has %d access-log lines, want 1", id, seen[id])
			}
		}
		if lines != len(c.sent) {
			t.Errorf("%d lines for %d requests", lines, len(c.sent))
		}
	})
}

func findSpans(t *testing.T, spans []span) (server, client span) {
	t.Helper()
	for _, s := range spans {
		switch s.Kind {
		case 2: // SPAN_KIND_SERVER
			server = s
		case 3: // SPAN_KIND_CLIENT
			client = s
		}
	}
	if server.SpanID == "" || client.SpanID == "" {
		t.Fatalf("want a server and a client span, got %+v", spans)
	}
	return server, client
}

// chartPixels counts pixels of the two chart line colours.
func chartPixels(t *testing.T, path string) (blue, red int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	near := func(r, g, b uint32, R, G, B int) bool {
		d := func(x uint32, y int) int {
			v := int(x>>8) - y
			if v < 0 {
				return -v
			}
			return v
		}
		return d(r, R) < 40 && d(g, G) < 40 && d(b, B) < 40
	}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			switch {
			case near(r, g, b, 0x15, 0x65, 0xc0):
				blue++
			case near(r, g, b, 0xc6, 0x28, 0x28):
				red++
			}
		}
	}
	return blue, red
}
