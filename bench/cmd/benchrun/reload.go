package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reloadResult is scenario 6: route changes while wrk runs against ksgw.
type reloadResult struct {
	Proxy          string    `json:"proxy"`
	Changes        int       `json:"changes"`
	WindowSec      float64   `json:"window_seconds"`
	UpdateInterval string    `json:"update_interval,omitempty"`
	Connections    int       `json:"connections"`
	Steady         wrkResult `json:"steady"`
	Reload         wrkResult `json:"during_reloads"`
	FailedSteady   int64     `json:"failed_steady"`
	FailedReload   int64     `json:"failed_during_reloads"`
	Publishes      int       `json:"publishes_during_reloads,omitempty"`
	P99RatioReload float64   `json:"p99_reload_vs_steady"`
	BarZeroFailed  bool      `json:"bar_zero_failed_met"`
}

// reloadRoute is change i of the Route file: the catch-all's weights move
// between two Services (same backend), and every other change adds a
// header-matched rule to a third Service, so clusters come and go too.
func reloadRoute(i int) string {
	var b strings.Builder
	b.WriteString(`apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: all, namespace: bench}
spec:
  http:
`)
	if i%2 == 1 {
		fmt.Fprintf(&b, `  - name: extra-%d
    match: [{uri: {prefix: /extra-%d}, headers: {x-variant: {exact: "%d"}}}]
    route: [{destination: {host: backend-c}}]
`, i, i, i)
	}
	w := 10 + (i*7)%81
	fmt.Fprintf(&b, `  - route:
    - {destination: {host: backend-a}, weight: %d}
    - {destination: {host: backend-b}, weight: %d}
`, w, 100-w)
	return b.String()
}

func runReload(ctx context.Context, env *extraEnv) (any, error) {
	cfg := env.cfg
	changes, window := 100, 60*time.Second
	if cfg.smoke {
		changes, window = 10, 5*time.Second
	}
	dir := filepath.Join(env.work, "reload-ksgw")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	be, beAddr, err := startBackend(ctx, cfg, env.work, 64)
	if err != nil {
		return nil, err
	}
	defer be.stop(5 * time.Second)
	http, https, admin, err := ksgwPorts()
	if err != nil {
		return nil, err
	}
	base := yamlGateway("bench", http, https)
	for _, s := range []string{"backend-a", "backend-b", "backend-c"} {
		base += yamlServicePods("bench", s, s, []string{beAddr})
	}
	k, err := startKSGWStandalone(ctx, cfg, proxyParams{Dir: dir, CPU: cfg.proxyCPU}, admin, map[string]string{"base.yaml": base, "route.yaml": reloadRoute(0)})
	if err != nil {
		return nil, err
	}
	defer k.stop(5 * time.Second)
	url := "http://127.0.0.1:" + strconv.Itoa(http) + "/"
	if err := waitReady(ctx, url, k.done, cfg.readyAfter); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(k.log))
	}
	before, err := publishEvents(k.log)
	if err != nil {
		return nil, err
	}
	res, err := reloadUnderLoad(ctx, env, url, changes, window, func(i int) error {
		return writeAtomic(k.conf, "route.yaml", reloadRoute(i))
	})
	if err != nil {
		return nil, err
	}
	after, err := publishEvents(k.log)
	if err != nil {
		return nil, err
	}
	res.Proxy, res.UpdateInterval, res.Publishes = "ksgw", cfg.updateInterval.String(), len(after)-len(before)
	fmt.Fprintf(env.out, "reload ksgw : %d route changes over %v (update interval %v, %d publishes): failed %d (bar 0: %s); p99 %.2f ms during reloads vs %.2f ms steady (%.2f×); req/s %.0f vs %.0f\n",
		changes, window, cfg.updateInterval, res.Publishes, res.FailedReload, metStr(res.BarZeroFailed),
		res.Reload.Latency.P99/1000, res.Steady.Latency.P99/1000, res.P99RatioReload, res.Reload.RPS, res.Steady.RPS)
	out := []reloadResult{res}
	k.stop(5 * time.Second) // free the proxy core for the peer (the deferred stop is then a no-op)
	if slices.ContainsFunc(env.proxies, func(p proxy) bool { return p.name == "nginx" }) {
		r, err := reloadNginx(ctx, env, beAddr, changes, window)
		if err != nil {
			return out, fmt.Errorf("nginx: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// reloadNginx is the cheap peer of scenario 6: nginx's own reload (SIGHUP to
// the master: new workers on the re-read configuration, old ones finish
// their requests and close idle keep-alive connections), as often as ksgw's
// route changes. Not the same operation: nginx re-reads everything.
func reloadNginx(ctx context.Context, env *extraEnv, backend string, changes int, window time.Duration) (reloadResult, error) {
	cfg := env.cfg
	dir := filepath.Join(env.work, "reload-nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return reloadResult{}, err
	}
	port, err := freePort()
	if err != nil {
		return reloadResult{}, err
	}
	params := proxyParams{Dir: dir, Listen: "127.0.0.1:" + strconv.Itoa(port), Port: port, Backend: backend, CPU: cfg.proxyCPU}
	p, err := startNginx(ctx, params)
	if err != nil {
		return reloadResult{}, err
	}
	defer p.stop(5 * time.Second)
	url := "http://" + params.Listen + "/"
	if err := waitReady(ctx, url, p.done, cfg.readyAfter); err != nil {
		return reloadResult{}, fmt.Errorf("%w\n%s", err, tail(filepath.Join(dir, "nginx-error.log")))
	}
	res, err := reloadUnderLoad(ctx, env, url, changes, window, func(int) error {
		return syscall.Kill(p.pid(), syscall.SIGHUP)
	})
	if err != nil {
		return res, err
	}
	res.Proxy = "nginx"
	fmt.Fprintf(env.out, "reload nginx: %d reloads (SIGHUP) over %v: failed %d; p99 %.2f ms during reloads vs %.2f ms steady (%.2f×); req/s %.0f vs %.0f\n",
		changes, window, res.FailedReload, res.Reload.Latency.P99/1000, res.Steady.Latency.P99/1000, res.P99RatioReload, res.Reload.RPS, res.Steady.RPS)
	return res, nil
}

// reloadUnderLoad warms up, measures a steady run, then a run during which
// change(1..changes) is called evenly spread over window.
func reloadUnderLoad(ctx context.Context, env *extraEnv, url string, changes int, window time.Duration, change func(i int) error) (reloadResult, error) {
	cfg := env.cfg
	sc := scenario{Name: "reload", Conns: 50, KeepAlive: true}
	if cfg.warmup > 0 {
		if _, err := runWrk(ctx, cfg, sc, url, "", cfg.warmup); err != nil {
			return reloadResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	steady, err := runWrk(ctx, cfg, sc, url, env.script, max(cfg.duration, window))
	if err != nil {
		return reloadResult{}, fmt.Errorf("steady run: %w", err)
	}
	// wrk runs one second longer than the changes so that the last reload
	// is under load too.
	type wrkOut struct {
		r   wrkResult
		err error
	}
	wrkDone := make(chan wrkOut, 1)
	go func() {
		r, err := runWrk(ctx, cfg, sc, url, env.script, window+time.Second)
		wrkDone <- wrkOut{r, err}
	}()
	var editErr error
	start := time.Now()
	for i := 1; i <= changes && editErr == nil; i++ {
		at := start.Add(time.Duration(i) * window / time.Duration(changes+1))
		select {
		case <-ctx.Done():
			editErr = ctx.Err()
		case <-time.After(time.Until(at)):
			editErr = change(i)
		}
	}
	w := <-wrkDone // joined before any return
	if editErr != nil {
		return reloadResult{}, editErr
	}
	if w.err != nil {
		return reloadResult{}, fmt.Errorf("run during reloads: %w", w.err)
	}
	res := reloadResult{
		Changes: changes, WindowSec: window.Seconds(), Connections: sc.Conns,
		Steady: steady, Reload: w.r,
		FailedSteady: steady.SocketErrors() + steady.Errors.Status,
		FailedReload: w.r.SocketErrors() + w.r.Errors.Status,
	}
	if steady.Latency.P99 > 0 {
		res.P99RatioReload = w.r.Latency.P99 / steady.Latency.P99
	}
	res.BarZeroFailed = res.FailedReload == 0
	return res, nil
}

func metStr(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
