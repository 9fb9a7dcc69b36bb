// Command benchrun measures reverse proxies side by side on one machine:
// nginx, haproxy and (when KSGW_CMD is set) ksgw, each in front of the same
// ksgw-echo backend, driven by wrk, alternating proxies within one run so
// that machine drift hits every contender alike. Each proxy is pinned to one
// core and wrk (with the backend) to another, so req/s compares one core of
// proxy work; CPU seconds per 100k requests and peak RSS are read from /proc.
//
// Use bench/run.sh, which installs the tools and builds the binaries.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// scenario is one wrk workload.
type scenario struct {
	Name      string `json:"name"`
	BodySize  int    `json:"body_size"`
	Conns     int    `json:"connections"`
	KeepAlive bool   `json:"keep_alive"`
	TLS       bool   `json:"tls,omitempty"` // HTTPS, TLS 1.3 only, on the run's self-signed certificate
	// H2: HTTP/2 over TLS (ALPN h2) driven by h2load, Streams concurrent
	// streams on each of Conns connections.
	H2      bool `json:"h2,omitempty"`
	Streams int  `json:"streams,omitempty"`
	// GRPC: gRPC unary calls over plain-text HTTP/2 (prior knowledge),
	// Streams calls in flight on each of Conns connections, driven by
	// benchrun's own client (grpcload.go); the proxies speak h2c upstream.
	GRPC bool `json:"grpc,omitempty"`
	// Routing selects scenario 5's configurations (routing.go); ksgw is then
	// configured by benchrun itself, not by KSGW_CMD.
	Routing string `json:"routing,omitempty"`
	// Headers are extra request headers ("Name: value") wrk sends (the
	// feature pairs' JWT).
	Headers []string `json:"-"`
}

// scenarios: scenario 1 is keep-alive at two response sizes and two
// concurrencies; scenario 2 opens a connection per request (wrk sends
// "Connection: close"), which measures accept and connection setup.
var scenarios = []scenario{
	{Name: "keepalive-64B-c50", BodySize: 64, Conns: 50, KeepAlive: true},
	{Name: "keepalive-64B-c500", BodySize: 64, Conns: 500, KeepAlive: true},
	{Name: "keepalive-16KiB-c50", BodySize: 16 << 10, Conns: 50, KeepAlive: true},
	{Name: "keepalive-16KiB-c500", BodySize: 16 << 10, Conns: 500, KeepAlive: true},
	{Name: "close-64B-c50", BodySize: 64, Conns: 50, KeepAlive: false},
	// Scenario 3: TLS 1.3 over keep-alive connections (record layer cost),
	// and a new connection, hence a full handshake, per request.
	{Name: "tls-keepalive-64B-c50", BodySize: 64, Conns: 50, KeepAlive: true, TLS: true},
	{Name: "tls-close-64B-c50", BodySize: 64, Conns: 50, KeepAlive: false, TLS: true},
	// Scenario 5: 1,000 regex+header rules before the matching one; a 90/10
	// weighted split.
	{Name: "routes-1k-regex-64B-c50", BodySize: 64, Conns: 50, KeepAlive: true, Routing: routingRegex},
	{Name: "canary-90-10-64B-c50", BodySize: 64, Conns: 50, KeepAlive: true, Routing: routingCanary},
	// Scenario 4: HTTP/2 downstream, 10 connections × 100 concurrent streams.
	{Name: "h2-64B-c10-m100", BodySize: 64, Conns: 10, KeepAlive: true, TLS: true, H2: true, Streams: 100},
	// Scenario 4, second half: gRPC unary (64-byte payload echoed back),
	// 10 connections × 10 calls in flight, h2c on both sides of the proxy.
	{Name: "grpc-unary-64B-c10-m10", BodySize: 64, Conns: 10, KeepAlive: true, GRPC: true, Streams: 10},
}

type config struct {
	smoke     bool
	duration  time.Duration
	warmup    time.Duration
	rounds    int
	only      []string // scenario names or substrings; empty = all
	proxies   []string // proxy names; empty = all available
	echoBin   string
	outDir    string
	proxyCPU  string
	clientCPU string
	// workers are the proxy worker counts each table scenario runs at
	// (nginx worker_processes, haproxy nbthread, ksgw GOMAXPROCS), the proxy
	// pinned to as many cores (proxyCPUsFor).
	workers    []int
	backendCPU string
	keep       bool
	readyAfter time.Duration
	// ksgwBin is the ksgw binary the scenarios that generate and edit a
	// config directory start themselves (reload, control-plane scale,
	// upstream failure); updateInterval is its --update-interval.
	ksgwBin        string
	updateInterval time.Duration
	cpRoutes       []int // Route counts of the control-plane scale scenario
	cpChanges      int   // single-route changes timed per count
	// cpChangeBudget bounds the time spent on those changes per count
	// (at least cpMinChanges are timed).
	cpChangeBudget time.Duration
}

// extraScenario is a scenario that is not one wrk workload per proxy: it
// drives its processes itself and reports its own figures.
type extraScenario struct {
	name     string
	what     string
	ksgwOnly bool // needs --ksgw-bin; left out when ksgw is not a selected contender
	run      func(ctx context.Context, env *extraEnv) (any, error)
}

// extraEnv is what an extra scenario gets from the harness.
type extraEnv struct {
	cfg     config
	work    string // scratch directory shared by the run
	script  string // report.lua
	out     io.Writer
	proxies []proxy // selected contenders, for scenarios run against peers
}

// extraResult is the JSON record of one extra scenario.
type extraResult struct {
	Scenario string `json:"scenario"`
	Result   any    `json:"result,omitempty"`
	Error    string `json:"error,omitempty"`
}

// extras run after the wrk scenarios, in the order of the list.
func extras(cfg config) []extraScenario {
	var out []extraScenario
	out = append(out, extraScenario{name: "reload", ksgwOnly: true, what: "scenario 6: ksgw route changes (and nginx reloads) under load, failed requests and p99 vs steady", run: runReload})
	out = append(out, extraScenario{name: "upstream-failure", what: "scenario 8: one of three backends killed under load, failures and recovery", run: runFailure})
	counts := cfg.cpRoutes
	if len(counts) == 0 {
		counts = []int{1000, 10000}
	}
	for _, n := range counts {
		name := "cp-scale-" + strconv.Itoa(n)
		if n%1000 == 0 {
			name = fmt.Sprintf("cp-scale-%dk", n/1000)
		}
		out = append(out, extraScenario{name: name, ksgwOnly: true, what: fmt.Sprintf("scenario 7: %d Routes, translation time, RSS, change→answer", n),
			run: func(ctx context.Context, env *extraEnv) (any, error) { return runCPScale(ctx, env, n) }})
	}
	return append(out, featureExtras(cfg)...)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == grpcLoadSubcommand {
		// benchrun re-executes itself as the gRPC load client (grpcload.go),
		// pinned to the client core like wrk.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := grpcLoadMain(ctx, os.Args[2:], os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfg           config
		only, prxs    string
		cpRoutes      string
		workers       string
		dur, warm     time.Duration
		defaultProxy  = "1"
		defaultClient = "0"
	)
	if runtime.NumCPU() < 2 {
		defaultProxy = "0"
	}
	flag.BoolVar(&cfg.smoke, "smoke", false, "short runs (2s, 1s warm-up) to check the harness works")
	flag.DurationVar(&dur, "duration", 0, "measured wrk duration per run (default 10s, 2s with --smoke)")
	flag.DurationVar(&warm, "warmup", 0, "unmeasured wrk run before each measurement (default 3s, 1s with --smoke)")
	flag.IntVar(&cfg.rounds, "rounds", 1, "times each scenario×proxy is measured; the table shows the median by req/s")
	flag.StringVar(&only, "scenario", "", "comma-separated scenario names or substrings (default all)")
	flag.StringVar(&prxs, "proxies", "", "comma-separated proxies among nginx,haproxy,ksgw (default all available; ksgw needs "+ksgwCmdEnv+")")
	flag.StringVar(&cfg.echoBin, "echo-bin", "", "path to the ksgw-echo binary (required)")
	flag.StringVar(&cfg.outDir, "out", "bench/results", "directory for the JSON results")
	flag.StringVar(&cfg.proxyCPU, "proxy-cpu", defaultProxy, "taskset CPU list for the proxy under test")
	flag.StringVar(&cfg.clientCPU, "client-cpu", defaultClient, "taskset CPU list for wrk and the echo backend")
	flag.StringVar(&cfg.backendCPU, "backend-cpu", "", "taskset CPU list for the echo backend (default: --client-cpu)")
	flag.StringVar(&workers, "workers", "1", "comma-separated proxy worker counts (nginx worker_processes, haproxy nbthread, ksgw GOMAXPROCS); "+
		"with N > 1 the proxy is pinned to the first N cores of --proxy-cpu, continued with the next cores (which may be the client's)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the scratch directory (configs, logs)")
	flag.DurationVar(&cfg.readyAfter, "ready-timeout", 30*time.Second, "how long a proxy may take to answer 200")
	flag.StringVar(&cfg.ksgwBin, "ksgw-bin", os.Getenv("KSGW_BIN"), "ksgw binary for the scenarios that generate its config (default $KSGW_BIN)")
	flag.DurationVar(&cfg.updateInterval, "ksgw-update-interval", 100*time.Millisecond, "ksgw --update-interval (batch window) in those scenarios")
	flag.StringVar(&cpRoutes, "cp-routes", "", "Route counts for the control-plane scale scenario, e.g. 1000,10000,50000 (default 1000,10000; 1000 with --smoke)")
	flag.IntVar(&cfg.cpChanges, "cp-changes", 0, "single-route changes timed per Route count (default 50, 5 with --smoke)")
	flag.DurationVar(&cfg.cpChangeBudget, "cp-change-budget", 3*time.Minute, "stop timing changes at a Route count after this long (at least 5 are timed)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: benchrun --echo-bin PATH [flags]\n\nscenarios:\n")
		for _, s := range scenarios {
			fmt.Fprintf(flag.CommandLine.Output(), "  %s\n", s.Name)
		}
		for _, e := range extras(cfg) {
			fmt.Fprintf(flag.CommandLine.Output(), "  %s (%s)\n", e.name, e.what)
		}
		fmt.Fprintln(flag.CommandLine.Output())
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if cfg.echoBin == "" {
		return errors.New("--echo-bin is required")
	}
	cfg.duration, cfg.warmup = cmp.Or(dur, 10*time.Second), cmp.Or(warm, 3*time.Second)
	if cfg.smoke {
		cfg.duration, cfg.warmup = cmp.Or(dur, 2*time.Second), cmp.Or(warm, time.Second)
	}
	if cfg.rounds < 1 {
		return fmt.Errorf("--rounds %d: must be ≥ 1", cfg.rounds)
	}
	cfg.only, cfg.proxies = splitList(only), splitList(prxs)
	cfg.backendCPU = cmp.Or(cfg.backendCPU, cfg.clientCPU)
	for _, f := range splitList(workers) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return fmt.Errorf("--workers %q: want counts ≥ 1", f)
		}
		if _, err := proxyCPUsFor(cfg.proxyCPU, n, runtime.NumCPU()); err != nil {
			return fmt.Errorf("--workers %d: %w", n, err)
		}
		if !slices.Contains(cfg.workers, n) {
			cfg.workers = append(cfg.workers, n)
		}
	}
	if len(cfg.workers) == 0 {
		return errors.New("--workers: want at least one count")
	}
	cpDefault := "1000,10000"
	if cfg.smoke {
		cpDefault = "1000"
		cfg.cpChanges = cmp.Or(cfg.cpChanges, 5)
	}
	cfg.cpChanges = cmp.Or(cfg.cpChanges, 50)
	for _, f := range splitList(cmp.Or(cpRoutes, cpDefault)) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 100 {
			return fmt.Errorf("--cp-routes %q: want counts ≥ 100", f)
		}
		cfg.cpRoutes = append(cfg.cpRoutes, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench(ctx, cfg, os.Stdout)
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func selectScenarios(only []string, ext []extraScenario) ([]scenario, []extraScenario, error) {
	if len(only) == 0 {
		return scenarios, ext, nil
	}
	exact := func(o string) bool {
		return slices.ContainsFunc(scenarios, func(s scenario) bool { return s.Name == o }) ||
			slices.ContainsFunc(ext, func(e extraScenario) bool { return e.name == o })
	}
	// A full name selects only itself ("keepalive-64B-c50" must not also
	// pick c500); anything else is a substring.
	match := func(name string) bool {
		return slices.ContainsFunc(only, func(o string) bool { return name == o || !exact(o) && strings.Contains(name, o) })
	}
	var out []scenario
	for _, s := range scenarios {
		if match(s.Name) {
			out = append(out, s)
		}
	}
	var outExt []extraScenario
	for _, e := range ext {
		if match(e.name) {
			outExt = append(outExt, e)
		}
	}
	if len(out) == 0 && len(outExt) == 0 {
		return nil, nil, fmt.Errorf("--scenario %q matches none of the scenarios", strings.Join(only, ","))
	}
	return out, outExt, nil
}

func selectProxies(names []string) ([]proxy, error) {
	all := proxies(os.Getenv)
	if len(names) == 0 {
		return all, nil
	}
	var out []proxy
	for _, n := range names {
		i := slices.IndexFunc(all, func(p proxy) bool { return p.name == n })
		if i < 0 {
			if n == "ksgw" {
				return nil, fmt.Errorf("proxy ksgw: set %s to a command starting it (see bench/README.md)", ksgwCmdEnv)
			}
			return nil, fmt.Errorf("unknown proxy %q", n)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// runResult is one measurement of one proxy in one scenario.
type runResult struct {
	Scenario       string    `json:"scenario"`
	Proxy          string    `json:"proxy"`
	Workers        int       `json:"workers"`
	ProxyCPU       string    `json:"proxy_cpu"`
	Round          int       `json:"round"`
	Wrk            wrkResult `json:"wrk"`
	CPUSecPer100k  float64   `json:"cpu_seconds_per_100k_requests"`
	CPUSeconds     float64   `json:"cpu_seconds"`
	PeakRSSKiB     uint64    `json:"peak_rss_kib"`
	Error          string    `json:"error,omitempty"`
	ProxyLogOnFail string    `json:"proxy_log,omitempty"`
}

// summaryRow is the median run of one scenario×proxy and its ratios.
type summaryRow struct {
	Scenario string `json:"scenario"`
	Proxy    string `json:"proxy"`
	Workers  int    `json:"workers"`
	ProxyCPU string `json:"proxy_cpu"`
	// SharesClientCores: the proxy's cores include the client's or the
	// backend's (N workers on a machine with fewer than N+1 cores), so
	// req/s then measures the three together, not the proxy.
	SharesClientCores bool     `json:"proxy_shares_cores_with_client,omitempty"`
	RPS               float64  `json:"rps"`
	P50us             float64  `json:"p50_us"`
	P99us             float64  `json:"p99_us"`
	P999us            float64  `json:"p999_us"`
	CPUSecPer100k     float64  `json:"cpu_seconds_per_100k_requests"`
	PeakRSSKiB        uint64   `json:"peak_rss_kib"`
	Errors            int64    `json:"errors"`
	VsNginx           *float64 `json:"rps_vs_nginx,omitempty"`
	VsHAProxy         *float64 `json:"rps_vs_haproxy,omitempty"`
	Failed            bool     `json:"failed,omitempty"`
}

type report struct {
	Date        string            `json:"date"`
	Smoke       bool              `json:"smoke"`
	Cores       int               `json:"cores"`
	Kernel      string            `json:"kernel"`
	Go          string            `json:"go"`
	Tools       map[string]string `json:"tools"`
	ProxyCPU    string            `json:"proxy_cpu"`
	ClientCPU   string            `json:"client_cpu"`
	BackendCPU  string            `json:"backend_cpu"`
	Workers     []workersPinning  `json:"workers"`
	DurationSec float64           `json:"duration_seconds"`
	WarmupSec   float64           `json:"warmup_seconds"`
	Rounds      int               `json:"rounds"`
	Scenarios   []scenario        `json:"scenarios"`
	Summary     []summaryRow      `json:"summary"`
	Runs        []runResult       `json:"runs"`
	Extra       []extraResult     `json:"extra,omitempty"`
	Bars        []barResult       `json:"bars"`
}

// workersPinning is where the proxy runs at one worker count.
type workersPinning struct {
	Workers           int    `json:"workers"`
	ProxyCPU          string `json:"proxy_cpu"`
	SharesClientCores bool   `json:"proxy_shares_cores_with_client"`
	Note              string `json:"note,omitempty"`
}

func pinnings(cfg config) []workersPinning {
	var out []workersPinning
	for _, w := range cfg.workers {
		cpus, _ := proxyCPUsFor(cfg.proxyCPU, w, runtime.NumCPU()) // validated with the flags
		p := workersPinning{Workers: w, ProxyCPU: cpus,
			SharesClientCores: sharesCores(cpus, cfg.clientCPU) || sharesCores(cpus, cfg.backendCPU)}
		if p.SharesClientCores {
			p.Note = fmt.Sprintf("the proxy's cores %s include the client's (%s) or the backend's (%s): req/s measures proxy, client and backend together",
				cpus, cfg.clientCPU, cfg.backendCPU)
		}
		out = append(out, p)
	}
	return out
}

func bench(ctx context.Context, cfg config, out io.Writer) error {
	scs, ext, err := selectScenarios(cfg.only, extras(cfg))
	if err != nil {
		return err
	}
	prs, err := selectProxies(cfg.proxies)
	if err != nil {
		return err
	}
	for _, bin := range []string{"wrk", "taskset", cfg.echoBin} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s: %w (bench/run.sh installs wrk, nginx and haproxy)", bin, err)
		}
	}
	work, err := os.MkdirTemp("", "benchrun-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintf(out, "scratch directory: %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	script := filepath.Join(work, "report.lua")
	if err := os.WriteFile(script, []byte(reportLua), 0o644); err != nil {
		return err
	}

	if slices.ContainsFunc(scs, func(s scenario) bool { return s.H2 }) {
		if _, err := exec.LookPath("h2load"); err != nil {
			// Optional tool (Debian nghttp2-client): without it the h2
			// scenarios are left out, not failed.
			fmt.Fprintln(os.Stderr, "benchrun: h2load not found (hack/install-deps.sh h2load); HTTP/2 scenarios skipped")
			scs = slices.DeleteFunc(scs, func(s scenario) bool { return s.H2 })
		}
	}
	var cert benchCert
	if slices.ContainsFunc(scs, func(s scenario) bool { return s.TLS }) {
		if cert, err = generateCert(work); err != nil {
			return err
		}
	}

	// One fixed-size backend per body size, on the client's core: the proxy's
	// core must do nothing but proxying.
	backends := map[int]string{}
	for _, sc := range scs {
		if _, ok := backends[sc.BodySize]; ok {
			continue
		}
		b, addr, err := startBackend(ctx, cfg, work, sc.BodySize)
		if err != nil {
			return err
		}
		defer b.stop(5 * time.Second)
		backends[sc.BodySize] = addr
	}

	rep := report{
		Date:        time.Now().UTC().Format(time.RFC3339),
		Smoke:       cfg.smoke,
		Cores:       runtime.NumCPU(),
		Kernel:      firstLine(exec.CommandContext(ctx, "uname", "-r")),
		Go:          runtime.Version(),
		Tools:       toolVersions(ctx, prs),
		ProxyCPU:    cfg.proxyCPU,
		ClientCPU:   cfg.clientCPU,
		BackendCPU:  cfg.backendCPU,
		Workers:     pinnings(cfg),
		DurationSec: cfg.duration.Seconds(),
		WarmupSec:   cfg.warmup.Seconds(),
		Rounds:      cfg.rounds,
		Scenarios:   scs,
	}
	for _, w := range rep.Workers {
		if w.SharesClientCores && len(scs) > 0 {
			fmt.Fprintf(out, "note: %d workers: %s\n", w.Workers, w.Note)
		}
	}
	for round := 1; round <= cfg.rounds; round++ {
		for _, sc := range scs {
			for _, w := range rep.Workers {
				for _, p := range prs {
					if err := ctx.Err(); err != nil {
						return err
					}
					r := measure(ctx, cfg, work, script, sc, p, backends[sc.BodySize], cert, round, w)
					if r.Error != "" {
						fmt.Fprintf(os.Stderr, "benchrun: %s/%s/%dw round %d: %s\n%s\n", sc.Name, p.name, w.Workers, round, r.Error, r.ProxyLogOnFail)
					}
					rep.Runs = append(rep.Runs, r)
				}
			}
		}
	}
	rep.Summary = summarize(rep.Runs, scs, prs, rep.Workers)
	if len(scs) > 0 {
		printTable(out, rep.Summary)
	}
	env := &extraEnv{cfg: cfg, work: work, script: script, out: out, proxies: prs}
	extraFailed := false
	wantKSGW := len(cfg.proxies) == 0 || slices.Contains(cfg.proxies, "ksgw")
	for _, e := range ext {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.ksgwOnly && (!wantKSGW || cfg.ksgwBin == "") {
			fmt.Fprintf(out, "%s: skipped (needs ksgw: --ksgw-bin, and ksgw among --proxies)\n", e.name)
			continue
		}
		r, err := e.run(ctx, env)
		x := extraResult{Scenario: e.name, Result: r}
		if err != nil {
			// A broken harness (a process that would not start, a tool
			// that failed); a missed bar is a figure, not an error.
			x.Error = err.Error()
			extraFailed = true
			fmt.Fprintf(os.Stderr, "benchrun: %s: %s\n", e.name, err)
		}
		rep.Extra = append(rep.Extra, x)
	}
	rep.Bars = append(computeBars(rep.Summary, rep.Extra), featureBars(rep.Extra)...)
	printBars(out, rep.Bars)

	if err := os.MkdirAll(cfg.outDir, 0o755); err != nil {
		return err
	}
	name := time.Now().UTC().Format("2006-01-02T150405Z")
	if cfg.smoke {
		name += "-smoke"
	}
	path := filepath.Join(cfg.outDir, name+".json")
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "results: %s\n", path)
	for _, r := range rep.Runs {
		if r.Error != "" {
			return errors.New("some runs failed (see above)")
		}
	}
	if extraFailed {
		return errors.New("some scenarios failed (see above)")
	}
	return nil
}

func startBackend(ctx context.Context, cfg config, work string, size int) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir := filepath.Join(work, "backend-"+strconv.Itoa(size))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	b, err := startPinned(ctx, proxyParams{Dir: dir, CPU: cfg.backendCPU}, "ksgw-echo",
		cfg.echoBin, "--name", "bench-"+strconv.Itoa(size), "--addr", addr, "--fixed-body-size", strconv.Itoa(size))
	if err != nil {
		return nil, "", err
	}
	if err := waitReady(ctx, "http://"+addr+"/", b.done, 10*time.Second); err != nil {
		b.stop(time.Second)
		return nil, "", fmt.Errorf("backend %s: %w\n%s", addr, err, tail(filepath.Join(dir, "ksgw-echo.log")))
	}
	return b, addr, nil
}

// measure runs one proxy through one scenario: start it fresh (so peak RSS
// belongs to this scenario), warm up, then measure wrk and the proxy's CPU.
func measure(ctx context.Context, cfg config, work, script string, sc scenario, px proxy, backend string, cert benchCert, round int, pin workersPinning) runResult {
	res := runResult{Scenario: sc.Name, Proxy: px.name, Workers: pin.Workers, ProxyCPU: pin.ProxyCPU, Round: round}
	fail := func(dir string, err error) runResult {
		res.Error = err.Error()
		res.ProxyLogOnFail = tail(filepath.Join(dir, px.name+".log"))
		return res
	}
	dir := filepath.Join(work, fmt.Sprintf("%s-%s-w%d-r%d", sc.Name, px.name, pin.Workers, round))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(dir, err)
	}
	port, err := freePort()
	if err != nil {
		return fail(dir, err)
	}
	params := proxyParams{Dir: dir, Listen: "127.0.0.1:" + strconv.Itoa(port), Port: port, Backend: backend, CPU: pin.ProxyCPU, Workers: pin.Workers, GRPC: sc.GRPC}
	if sc.TLS {
		params.TLS, params.Cert, params.H2 = true, cert, sc.H2
	}
	if sc.Routing != "" {
		params.Routing = sc.Routing
		if sc.Routing == routingRegex {
			params.RegexRules = regexRules()
		}
		if px.name == "ksgw" {
			px.start = func(ctx context.Context, p proxyParams) (*proc, error) { return startKSGWRouting(ctx, cfg, p) }
		}
	}
	if sc.GRPC && px.name == "ksgw" {
		// KSGW_CMD's Service port is plain HTTP/1.1; gRPC needs one
		// marked h2 (grpc.go).
		px.start = func(ctx context.Context, p proxyParams) (*proc, error) { return startKSGWGRPC(ctx, cfg, p) }
	}
	p, err := px.start(ctx, params)
	if err != nil {
		return fail(dir, err)
	}
	defer p.stop(5 * time.Second)
	url := "http://" + params.Listen + "/"
	if sc.TLS {
		url = "https://" + params.Listen + "/"
	}
	ready := waitReady
	if sc.GRPC {
		ready = func(ctx context.Context, _ string, exited <-chan struct{}, timeout time.Duration) error {
			return waitGRPCReady(ctx, params.Listen, exited, timeout)
		}
	}
	if err := ready(ctx, url, p.done, cfg.readyAfter); err != nil {
		return fail(dir, err)
	}

	load := func(script string, d time.Duration) (wrkResult, error) {
		if sc.GRPC {
			return runGRPCLoad(ctx, cfg, sc, params.Listen, d)
		}
		if sc.H2 {
			return runH2load(ctx, cfg, sc, url, dir, d)
		}
		return runWrk(ctx, cfg, sc, url, script, d)
	}
	if cfg.warmup > 0 {
		if _, err := load("", cfg.warmup); err != nil {
			return fail(dir, fmt.Errorf("warm-up: %w", err))
		}
	}
	cpu0, err := treeCPUTicks(p.pid())
	if err != nil {
		return fail(dir, err)
	}
	w, err := load(script, cfg.duration)
	if err != nil {
		return fail(dir, err)
	}
	cpu1, err := treeCPUTicks(p.pid())
	if err != nil {
		return fail(dir, err)
	}
	rss, err := treePeakRSS(p.pid())
	if err != nil {
		return fail(dir, err)
	}
	res.Wrk = w
	res.CPUSeconds = float64(cpu1-cpu0) / clockTicks
	if w.Requests > 0 {
		res.CPUSecPer100k = res.CPUSeconds / float64(w.Requests) * 1e5
	}
	res.PeakRSSKiB = rss
	switch {
	case w.Requests == 0:
		return fail(dir, errors.New("wrk completed no request"))
	case w.Errors.Status > 0:
		if sc.GRPC {
			return fail(dir, fmt.Errorf("%d calls did not end with grpc-status 0: %v", w.Errors.Status, w.GRPCCodes))
		}
		return fail(dir, fmt.Errorf("%d answers were not 2xx/3xx", w.Errors.Status))
	}
	return res
}

func runWrk(ctx context.Context, cfg config, sc scenario, url, script string, d time.Duration) (wrkResult, error) {
	args := append([]string{"-c", cfg.clientCPU, "wrk"}, wrkArgs(sc, url, script, d)...)
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "taskset", args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, b)
	}
	return parseWrk(string(b))
}

func summarize(runs []runResult, scs []scenario, prs []proxy, pins []workersPinning) []summaryRow {
	var rows []summaryRow
	for _, sc := range scs {
		for _, pin := range pins {
			rows = append(rows, summarizeOne(runs, sc, prs, pin)...)
		}
	}
	return rows
}

// summarizeOne is the rows of one scenario at one worker count; ratios
// compare proxies at the same worker count.
func summarizeOne(runs []runResult, sc scenario, prs []proxy, pin workersPinning) []summaryRow {
	rows := make([]summaryRow, 0, len(prs))
	byProxy := map[string]float64{}
	for _, p := range prs {
		var ok []runResult
		failed := false
		for _, r := range runs {
			if r.Scenario != sc.Name || r.Proxy != p.name || r.Workers != pin.Workers {
				continue
			}
			if r.Error != "" {
				failed = true
				continue
			}
			ok = append(ok, r)
		}
		row := summaryRow{Scenario: sc.Name, Proxy: p.name, Workers: pin.Workers, ProxyCPU: pin.ProxyCPU,
			SharesClientCores: pin.SharesClientCores, Failed: failed}
		if len(ok) > 0 {
			slices.SortFunc(ok, func(a, b runResult) int { return cmp.Compare(a.Wrk.RPS, b.Wrk.RPS) })
			m := ok[len(ok)/2]
			row.RPS, row.P50us, row.P99us, row.P999us = m.Wrk.RPS, m.Wrk.Latency.P50, m.Wrk.Latency.P99, m.Wrk.Latency.P999
			row.CPUSecPer100k, row.PeakRSSKiB, row.Errors = m.CPUSecPer100k, m.PeakRSSKiB, m.Wrk.SocketErrors()+m.Wrk.Errors.Status
			byProxy[p.name] = row.RPS
		}
		rows = append(rows, row)
	}
	for i := range rows {
		rows[i].VsNginx = ratio(rows[i].RPS, byProxy["nginx"])
		rows[i].VsHAProxy = ratio(rows[i].RPS, byProxy["haproxy"])
	}
	return rows
}

// workersCell is the table's workers column: "2*" when the proxy shares
// cores with the client (the note above the table says so).
func workersCell(r summaryRow) string {
	if r.SharesClientCores {
		return strconv.Itoa(r.Workers) + "*"
	}
	return strconv.Itoa(r.Workers)
}

func ratio(a, b float64) *float64 {
	if a == 0 || b == 0 {
		return nil
	}
	r := a / b
	return &r
}

func printTable(w io.Writer, rows []summaryRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tproxy\tworkers\treq/s\tp50 ms\tp99 ms\tp99.9 ms\tCPU s/100k\tpeak RSS MiB\terrors\tvs nginx\tvs haproxy\t")
	ms := func(us float64) string { return strconv.FormatFloat(us/1000, 'f', 2, 64) }
	rel := func(r *float64) string {
		if r == nil {
			return "-"
		}
		return strconv.FormatFloat(*r, 'f', 2, 64)
	}
	for _, r := range rows {
		if r.RPS == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d\tFAILED\t\t\t\t\t\t\t\t\t\n", r.Scenario, r.Proxy, r.Workers)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%.3f\t%.1f\t%d\t%s\t%s\t\n",
			r.Scenario, r.Proxy, workersCell(r), r.RPS, ms(r.P50us), ms(r.P99us), ms(r.P999us),
			r.CPUSecPer100k, float64(r.PeakRSSKiB)/1024, r.Errors, rel(r.VsNginx), rel(r.VsHAProxy))
	}
	_ = tw.Flush()
}

func toolVersions(ctx context.Context, prs []proxy) map[string]string {
	v := map[string]string{"wrk": firstLine(exec.CommandContext(ctx, "wrk", "--version"))}
	for _, p := range prs {
		switch p.name {
		case "nginx":
			v["nginx"] = firstLine(exec.CommandContext(ctx, "nginx", "-v"))
		case "haproxy":
			v["haproxy"] = firstLine(exec.CommandContext(ctx, "haproxy", "-v"))
		case "ksgw":
			v["ksgw"] = os.Getenv(ksgwCmdEnv)
		}
	}
	return v
}

// firstLine runs c and returns the first line it printed; wrk --version
// exits 1 after printing, so the exit status is ignored.
func firstLine(c *exec.Cmd) string {
	b, _ := c.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(line)
}

// tail returns the last lines of a log, for error reports.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
