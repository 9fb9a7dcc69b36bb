package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func canaryRoute(w1, w2 int, extraRules string) string {
	return fmt.Sprintf(`apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata:
  name: canary
  namespace: live
spec:
  http:
%s  - route:
    - destination: {host: v1}
      weight: %d
    - destination: {host: v2}
      weight: %d
`, extraRules, w1, w2)
}

// liveEnv is a gateway with services v1 and v2 and a canary Route.
func liveEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	bport := freePort(t, "127.0.0.51")
	backend(t, "v1", fmt.Sprintf("127.0.0.51:%d", bport))
	backend(t, "v2", fmt.Sprintf("127.0.0.52:%d", bport))
	write(t, dir, "gateway.yaml", gatewayYAML("live", "gw", port, "*"))
	write(t, dir, "services.yaml", serviceYAML("live", "v1", bport, "http", pod{name: "v1-0", ip: "127.0.0.51", ready: true})+"---\n"+
		serviceYAML("live", "v2", bport, "http", pod{name: "v2-0", ip: "127.0.0.52", ready: true}))
	write(t, dir, "route.yaml", canaryRoute(100, 0, ""))
	e := &env{t: t, dir: dir, port: port}
	e.gw = startGateway(t, dir)
	e.gw.waitReady(0)
	waitRoute(t, e, "anything.example", "/", "v1")
	return e
}

// load sends requests from workers until stopped and counts failures: a
// transport error or a status other than 200.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErrs  []string
	byBackend  sync.Map // name → *atomic.Int64
	stop       context.CancelFunc
	wg         sync.WaitGroup
}

func startLoad(t *testing.T, e *env, workers int, path string) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stop: cancel}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", e.url(path), nil)
				req.Host = "load.example"
				resp, err := c.Do(req)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					l.fail(fmt.Sprintf("status %d: %.200s %v", resp.StatusCode, body, err))
					continue
				}
				l.ok.Add(1)
				name := "?"
				if i := strings.Index(string(body), `"name":"`); i >= 0 {
					rest := string(body[i+8:])
					name = rest[:strings.IndexByte(rest, '"')]
				}
				v, _ := l.byBackend.LoadOrStore(name, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}()
	}
	return l
}

func (l *load) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.firstErrs) < 5 {
		l.firstErrs = append(l.firstErrs, msg)
	}
	l.mu.Unlock()
}

func (l *load) finish() {
	l.stop()
	l.wg.Wait()
}

func (l *load) count(name string) int64 {
	v, ok := l.byBackend.Load(name)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

// TestLiveEditsUnderLoadFailNothing shifts the canary weights step by step,
// adds and removes a route, and adds a new Service, all while 8 clients
// send requests continuously. Not one request may fail (DESIGN §6:
// make-before-break; Envoy Gateway #6287).
func TestLiveEditsUnderLoadFailNothing(t *testing.T) {
	e := liveEnv(t)
	l := startLoad(t, e, 8, "/")
	defer l.finish()

	steps := []struct{ w1, w2 int }{{90, 10}, {50, 50}, {10, 90}, {0, 100}, {100, 0}}
	for i, s := range steps {
		extra := ""
		if i%2 == 1 {
			extra = "  - match: [{uri: {prefix: /extra}}]\n    route: [{destination: {host: v2}}]\n"
		}
		write(t, e.dir, "route.yaml", canaryRoute(s.w1, s.w2, extra))
		time.Sleep(400 * time.Millisecond)
	}
	// A new service and a route to it, then both removed again.
	bport := strings.TrimPrefix(backendPort(t, e), ":")
	backend(t, "v3", "127.0.0.53:"+bport)
	write(t, e.dir, "v3.yaml", serviceYAML("live", "v3", atoi(t, bport), "http", pod{name: "v3-0", ip: "127.0.0.53", ready: true}))
	write(t, e.dir, "route.yaml", canaryRoute(50, 50, "  - match: [{uri: {prefix: /v3}}]\n    route: [{destination: {host: v3}}]\n"))
	waitRoute(t, e, "x.example", "/v3", "v3")
	write(t, e.dir, "route.yaml", canaryRoute(100, 0, ""))
	os.Remove(filepath.Join(e.dir, "v3.yaml"))
	time.Sleep(500 * time.Millisecond)

	l.finish()
	if l.failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during live edits; first: %v", l.failed.Load(), l.ok.Load()+l.failed.Load(), l.firstErrs)
	}
	if l.ok.Load() < 100 {
		t.Fatalf("only %d requests completed; the load did not run", l.ok.Load())
	}
	if l.count("v2") == 0 {
		t.Fatalf("no request reached v2 although weights moved to it: v1=%d", l.count("v1"))
	}
	t.Logf("live edits: %d requests, 0 failed (v1=%d v2=%d)", l.ok.Load(), l.count("v1"), l.count("v2"))
}

// TestBadFileKeepsServing writes a malformed file and an invalid Route: the
// running routes keep answering and validate names the problems.
func TestBadFileKeepsServing(t *testing.T) {
	e := liveEnv(t)
	write(t, e.dir, "broken.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: [unclosed\n")
	write(t, e.dir, "route.yaml", canaryRoute(100, 0, "  - match: [{uri: {regex: \"/([a-z\"}}]\n    route: [{destination: {host: v2}}]\n"))
	time.Sleep(600 * time.Millisecond)
	for i := 0; i < 20; i++ {
		resp, body := do(t, "GET", e.url("/"), "x.example", nil, nil)
		if resp.StatusCode != 200 || echoReply(t, body).Name != "v1" {
			t.Fatalf("after a bad edit: %d %s", resp.StatusCode, body)
		}
	}
	if !strings.Contains(e.gw.logs.String(), "broken.yaml") {
		t.Errorf("logs do not mention broken.yaml")
	}
	// A file that served routes stops parsing: its objects keep serving.
	good, err := os.ReadFile(filepath.Join(e.dir, "services.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, e.dir, "services.yaml", string(good)+"\n  - this: [is not yaml\n")
	time.Sleep(600 * time.Millisecond)
	for i := 0; i < 20; i++ {
		resp, body := do(t, "GET", e.url("/"), "x.example", nil, nil)
		if resp.StatusCode != 200 || echoReply(t, body).Name != "v1" {
			t.Fatalf("after services.yaml broke: %d %s", resp.StatusCode, body)
		}
	}
	write(t, e.dir, "services.yaml", string(good))

	// A good edit after the bad ones still applies.
	os.Remove(filepath.Join(e.dir, "broken.yaml"))
	write(t, e.dir, "route.yaml", canaryRoute(0, 100, ""))
	waitRoute(t, e, "x.example", "/", "v2")
}

func backendPort(t *testing.T, e *env) string {
	b, err := os.ReadFile(filepath.Join(e.dir, "services.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "targetPort: ")
	rest := s[i+len("targetPort: "):]
	return ":" + rest[:strings.IndexByte(rest, '\n')]
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
