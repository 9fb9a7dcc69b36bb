package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"text/template"
	"time"
)

// Scenario 8: three echo backends behind each proxy; one is killed
// (SIGKILL, like a crashed Pod) under load and restarted later. Each proxy
// is configured to take a failed server out after one failure and to probe
// it again after about 2 s:
//   - nginx: max_fails=1 fail_timeout=2s (and its default proxy_next_upstream
//     error timeout, which retries a refused connection on the next server);
//   - haproxy: TCP health checks every 500 ms, fall 1 rise 1, option
//     redispatch with one retry;
//   - ksgw: a DestinationRule with outlierDetection (consecutiveGatewayErrors
//     1, interval 500ms, baseEjectionTime 2s, maxEjectionPercent 100).

const failureNginxConf = `worker_processes 1;
daemon off;
master_process on;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    upstream backend {
{{- range .Backends}}
        server {{.}} max_fails=1 fail_timeout=2s;
{{- end}}
        keepalive 64;
    }
    server {
        listen {{.Listen}} backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

const failureHAProxyConf = `global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    http-reuse always
    option redispatch
    retries 1
frontend fe
    bind {{.Listen}}
    default_backend be
backend be
    balance roundrobin
    default-server check inter 500ms fall 1 rise 1
{{- range $i, $b := .Backends}}
    server s{{$i}} {{$b}}
{{- end}}
`

func failureKSGWConf(http, https int, backends []string) string {
	return yamlGateway("bench", http, https) + yamlServicePods("bench", "backend", "backend", backends) + `---
apiVersion: networking.kubesphere.io/v1alpha1
kind: DestinationRule
metadata: {name: backend, namespace: bench}
spec:
  host: backend
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutiveGatewayErrors: 1, interval: 500ms, baseEjectionTime: 2s, maxEjectionPercent: 100}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: all, namespace: bench}
spec:
  http:
  - route: [{destination: {host: backend}}]
`
}

// failureResult is scenario 8 for one proxy. Times are from the kill.
type failureResult struct {
	Proxy    string `json:"proxy"`
	Requests int64  `json:"requests"`
	// FailedBeforeRestart are failed requests (transport errors and
	// non-2xx) between the kill and the restart: the cost of noticing the
	// dead backend, and of re-probing it.
	FailedBeforeRestart int64 `json:"failed_before_restart"`
	FailedAfterRestart  int64 `json:"failed_after_restart"`
	// LastFailureMS is when the last failure before the restart happened:
	// past it the dead backend was out of rotation for good.
	LastFailureMS float64 `json:"last_failure_ms"`
	// RecoveryMS is from the restart to the first 2xx answer of the
	// restarted backend; -1 if it never answered within the run.
	RecoveryMS float64 `json:"recovery_ms"`
	KillAtMS   float64 `json:"kill_at_ms"`
	RestartMS  float64 `json:"restart_after_kill_ms"`
	Error      string  `json:"error,omitempty"`
}

func runFailure(ctx context.Context, env *extraEnv) (any, error) {
	cfg := env.cfg
	killAt, downFor, maxRecovery := 3*time.Second, 10*time.Second, 40*time.Second
	if cfg.smoke {
		killAt, downFor, maxRecovery = time.Second, 2*time.Second, 8*time.Second
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// Three loopback addresses, one port: a Service's Pods share a
	// targetPort.
	var addrs []string
	for i := range 3 {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d:%d", 21+i, port))
	}
	var results []failureResult
	for _, px := range proxyNames(env.proxies) {
		if px == "ksgw" && cfg.ksgwBin == "" {
			fmt.Fprintln(env.out, "upstream-failure ksgw   : skipped (no --ksgw-bin)")
			continue
		}
		dir := filepath.Join(env.work, "failure-"+px)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		r, err := failureRun(ctx, env, dir, px, addrs, killAt, downFor, maxRecovery)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", px, err)
		}
		results = append(results, r)
		fmt.Fprintf(env.out, "upstream-failure %-7s: %d requests; failed %d between kill and restart (last at %.0f ms), %d after restart; restarted backend answering %.0f ms after restart\n",
			px, r.Requests, r.FailedBeforeRestart, r.LastFailureMS, r.FailedAfterRestart, r.RecoveryMS)
	}
	return results, nil
}

func proxyNames(ps []proxy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.name)
	}
	return out
}

func startEcho(ctx context.Context, cfg config, dir, name, addr string) (*proc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, err := startPinned(ctx, proxyParams{Dir: dir, CPU: cfg.backendCPU}, "ksgw-echo", cfg.echoBin, "--name", name, "--addr", addr)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, "http://"+addr+"/", b.done, 10*time.Second); err != nil {
		b.stop(time.Second)
		return nil, fmt.Errorf("backend %s: %w", addr, err)
	}
	return b, nil
}

func failureRun(ctx context.Context, env *extraEnv, dir, px string, addrs []string, killAt, downFor, maxRecovery time.Duration) (failureResult, error) {
	cfg := env.cfg
	res := failureResult{Proxy: px, RecoveryMS: -1}
	backends := make([]*proc, len(addrs))
	defer func() {
		for _, b := range backends {
			if b != nil {
				b.stop(time.Second)
			}
		}
	}()
	for i, a := range addrs {
		b, err := startEcho(ctx, cfg, filepath.Join(dir, "b"+strconv.Itoa(i)), "b"+strconv.Itoa(i), a)
		if err != nil {
			return res, err
		}
		backends[i] = b
	}
	port, err := freePort()
	if err != nil {
		return res, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	params := struct {
		Dir, Listen string
		Backends    []string
	}{dir, listen, addrs}
	var p *proc
	switch px {
	case "nginx", "haproxy":
		text := map[string]string{"nginx": failureNginxConf, "haproxy": failureHAProxyConf}[px]
		var b bytes.Buffer
		if err := template.Must(template.New(px).Parse(text)).Execute(&b, params); err != nil {
			return res, err
		}
		conf := filepath.Join(dir, px+".conf")
		if err := os.WriteFile(conf, b.Bytes(), 0o644); err != nil {
			return res, err
		}
		argv := []string{"nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log")}
		if px == "haproxy" {
			argv = []string{"haproxy", "-db", "-f", conf}
		}
		p, err = startPinned(ctx, proxyParams{Dir: dir, CPU: cfg.proxyCPU}, px, argv...)
	case "ksgw":
		var https, admin int
		_, https, admin, err = ksgwPorts()
		if err != nil {
			return res, err
		}
		var k *ksgwInstance
		k, err = startKSGWStandalone(ctx, cfg, proxyParams{Dir: dir, CPU: cfg.proxyCPU}, admin, map[string]string{"bench.yaml": failureKSGWConf(port, https, addrs)})
		if k != nil {
			p = k.proc
		}
	default:
		return res, fmt.Errorf("no upstream-failure setup for proxy %s", px)
	}
	if err != nil {
		return res, err
	}
	defer p.stop(5 * time.Second)
	url := "http://" + listen + "/"
	if err := waitReady(ctx, url, p.done, cfg.readyAfter); err != nil {
		return res, fmt.Errorf("%w\n%s", err, tail(filepath.Join(dir, px+".log")))
	}

	// The load: 16 keep-alive clients in a closed loop, every answer
	// recorded with its time and the backend that served it.
	type sample struct {
		at      time.Duration
		ok      bool
		backend string
	}
	const workers = 16
	victim, victimName := 1, "b1"
	// restartedAt and victimBack (time since start, 0 = not yet) tell the
	// driver when the restarted backend serves again.
	var restartedAt, victimBack atomic.Int64
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	start := time.Now()
	samples := make([][]sample, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				req, _ := http.NewRequestWithContext(lctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				s := sample{at: time.Since(start)}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					s.ok = resp.StatusCode/100 == 2
					s.backend = resp.Header.Get("X-Echo-Backend")
					if r := restartedAt.Load(); s.ok && s.backend == victimName && r > 0 && int64(s.at) > r {
						victimBack.CompareAndSwap(0, int64(s.at))
					}
				} else if lctx.Err() != nil {
					return // the end of the run, not a failure
				}
				samples[w] = append(samples[w], s)
			}
		}()
	}
	restarted := make(chan time.Duration, 1)
	var runErr error
	func() {
		select {
		case <-ctx.Done():
			runErr = ctx.Err()
			return
		case <-time.After(killAt):
		}
		_ = syscall.Kill(-backends[victim].pid(), syscall.SIGKILL)
		<-backends[victim].done
		backends[victim] = nil
		select {
		case <-ctx.Done():
			runErr = ctx.Err()
			return
		case <-time.After(downFor):
		}
		b, err := startEcho(ctx, cfg, filepath.Join(dir, "b"+strconv.Itoa(victim)+"-restarted"), "b"+strconv.Itoa(victim), addrs[victim])
		if err != nil {
			runErr = err
			return
		}
		backends[victim] = b
		at := time.Since(start)
		restartedAt.Store(int64(at))
		restarted <- at
		// Run until the restarted backend serves again (plus a second to
		// count failures after it), or give up after maxRecovery.
		deadline := time.After(maxRecovery)
		for {
			select {
			case <-ctx.Done():
				runErr = ctx.Err()
				return
			case <-deadline:
				return
			case <-time.After(250 * time.Millisecond):
			}
			if victimBack.Load() > 0 {
				time.Sleep(time.Second)
				return
			}
		}
	}()
	stopLoad()
	wg.Wait()
	if runErr != nil {
		return res, runErr
	}
	restartAt := <-restarted
	res.KillAtMS = ms(killAt)
	res.RestartMS = ms(restartAt - killAt)
	var firstBack time.Duration = -1
	for _, ws := range samples {
		for _, s := range ws {
			res.Requests++
			switch {
			case s.at >= killAt && s.at < restartAt && !s.ok:
				res.FailedBeforeRestart++
				res.LastFailureMS = max(res.LastFailureMS, ms(s.at-killAt))
			case s.at >= restartAt && !s.ok:
				res.FailedAfterRestart++
			case s.at >= restartAt && s.ok && s.backend == victimName && (firstBack < 0 || s.at < firstBack):
				firstBack = s.at
			}
		}
	}
	if firstBack >= 0 {
		res.RecoveryMS = ms(firstBack - restartAt)
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
