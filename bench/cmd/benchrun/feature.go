package main

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Feature cost (issues 6, 7, 8): ksgw with one feature on against ksgw
// plain, alternating within the run (same backend, keep-alive, 64-byte
// answers, 50 connections, ksgw pinned to the proxy core with GOMAXPROCS 1).
// The ratio variant req/s ÷ plain req/s is the feature's price.

// featureScenario is the wrk workload of every feature pair.
var featureScenario = scenario{Name: "feature-64B-c50", BodySize: 64, Conns: 50, KeepAlive: true}

// Bars of the feature pairs (a missed bar is a figure, not a failure).
const (
	barObsRatio     = 0.90 // issue 8: tracing + access log cost < 10%
	barWAFRegoRatio = 0.80 // issue 7: the Rego WAF costs < 20%
)

// featureVariant is one feature switched on. The plain side of the pair is
// the same Gateway, backend and Route without it.
type featureVariant struct {
	name string // the scenario is "feature-" + name; the table row "ksgw-" + name
	what string
	// bar is the minimum req/s ratio (0: the issue sets none, the ratio is
	// reported as a figure); barName names it in the bars block.
	bar     float64
	barName string
	// smoke: the variant runs in --smoke (one short pair at most).
	smoke bool
	// setup prepares what the variant needs for one run of the pair
	// (a key pair, a trace sink) and returns the variant's side.
	setup func(ctx context.Context, dir string) (*featureSide, error)
}

// featureSide is the variant's configuration and how to check it works.
type featureSide struct {
	gateway string   // extra lines of the Gateway's spec (indented two spaces)
	policy  string   // a SecurityPolicy document targeting Route "all", or ""
	args    []string // extra ksgw standalone flags (later flags win)
	headers []string // sent by wrk and the readiness check
	// enforced checks, once ready, that ksgw really applies the feature
	// (a policy ksgw ignores would measure plain twice); an error makes the
	// variant "not available", not a failed run.
	enforced func(ctx context.Context, base string) error
	// figures adds the variant's own observations after the runs.
	figures func() map[string]any
	close   func()
}

func featureVariants() []featureVariant {
	return []featureVariant{
		{name: "obs", what: "issue 8: Gateway tracing (OTLP/HTTP to a local sink, 1% sampling) + access log to a file vs plain",
			bar: barObsRatio, barName: "feature-obs-rps-ratio", setup: setupObs},
		{name: "jwt", what: "issue 6: JWT (RS256, inline JWKS) on every request vs plain", smoke: true, setup: setupJWT},
		{name: "ratelimit", what: "issue 7: a local rate limit that never refuses (1M/s) vs plain", setup: setupRateLimit},
		{name: "waf-rego", what: "issue 7: WAF with the seed's waf.rego vs plain",
			bar: barWAFRegoRatio, barName: "feature-waf-rego-rps-ratio", setup: setupWAFRego},
		{name: "waf-crs", what: "issue 7: WAF with the OWASP Core Rule Set vs plain", setup: setupWAFCRS},
	}
}

// featureExtras are the feature pairs as extra scenarios; --smoke without
// --scenario keeps only the smoke one.
func featureExtras(cfg config) []extraScenario {
	var out []extraScenario
	for _, v := range featureVariants() {
		if cfg.smoke && len(cfg.only) == 0 && !v.smoke {
			continue
		}
		out = append(out, extraScenario{name: "feature-" + v.name, ksgwOnly: true, what: v.what,
			run: func(ctx context.Context, env *extraEnv) (any, error) { return runFeature(ctx, env, v) }})
	}
	return out
}

// featureRun is one measurement of one side of a pair.
type featureRun struct {
	Side          string    `json:"side"` // "plain" or the variant
	Round         int       `json:"round"`
	Wrk           wrkResult `json:"wrk"`
	CPUSecPer100k float64   `json:"cpu_seconds_per_100k_requests"`
	PeakRSSKiB    uint64    `json:"peak_rss_kib"`
}

// featureResult is the JSON record of one pair.
type featureResult struct {
	Variant     string  `json:"variant"`
	Connections int     `json:"connections"`
	BodySize    int     `json:"body_size"`
	Workers     int     `json:"workers"`
	ProxyCPU    string  `json:"proxy_cpu"`
	PlainRPS    float64 `json:"plain_rps"`
	VariantRPS  float64 `json:"variant_rps,omitempty"`
	Ratio       float64 `json:"rps_vs_plain,omitempty"`
	PlainP99us  float64 `json:"plain_p99_us"`
	VariantP99  float64 `json:"variant_p99_us,omitempty"`
	PlainCPU    float64 `json:"plain_cpu_seconds_per_100k"`
	VariantCPU  float64 `json:"variant_cpu_seconds_per_100k,omitempty"`
	Bar         float64 `json:"bar_min_ratio,omitempty"`
	BarMet      *bool   `json:"bar_met,omitempty"`
	// NotAvailable says why the variant was not measured: ksgw refused or
	// ignored its configuration (the plain side is still reported).
	NotAvailable string         `json:"not_available,omitempty"`
	Figures      map[string]any `json:"figures,omitempty"`
	Runs         []featureRun   `json:"runs"`
}

// featureFiles is ksgw's configuration for one side: the bench Gateway
// (plus the variant's Gateway lines), the echo backend, Route "all" and the
// variant's policy in a file of its own.
func featureFiles(http, https int, backend string, side *featureSide) map[string]string {
	gw := yamlGateway("bench", http, https)
	if side != nil && side.gateway != "" {
		gw += side.gateway
	}
	files := map[string]string{
		"base.yaml": gw + yamlServicePods("bench", "backend", "backend", []string{backend}),
		"route.yaml": `apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: all, namespace: bench}
spec:
  http:
  - route: [{destination: {host: backend}}]
`,
	}
	if side != nil && side.policy != "" {
		files["policy.yaml"] = side.policy
	}
	return files
}

// securityPolicy is a SecurityPolicy on Route "all" with spec lines body
// (indented two spaces).
func securityPolicy(name, body string) string {
	return fmt.Sprintf(`apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: %s, namespace: bench}
spec:
  targetRef: {kind: Route, name: all}
%s`, name, body)
}

func runFeature(ctx context.Context, env *extraEnv, v featureVariant) (any, error) {
	cfg := env.cfg
	dir := filepath.Join(env.work, "feature-"+v.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	be, beAddr, err := startBackend(ctx, cfg, dir, featureScenario.BodySize)
	if err != nil {
		return nil, err
	}
	defer be.stop(5 * time.Second)
	res := featureResult{Variant: v.name, Connections: featureScenario.Conns, BodySize: featureScenario.BodySize,
		Workers: 1, ProxyCPU: cfg.proxyCPU, Bar: v.bar}
	side, err := v.setup(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer side.close()
	var plain, variant []featureRun
	for round := 1; round <= cfg.rounds; round++ {
		// Alternate which side goes first, so a drift of the machine during
		// the pair does not always favour the same side.
		order := []bool{false, true}
		if round%2 == 0 {
			order = []bool{true, false}
		}
		for _, on := range order {
			if on && res.NotAvailable != "" {
				continue
			}
			var s *featureSide
			name := "plain"
			if on {
				s, name = side, v.name
			}
			r, notAvail, err := featureLeg(ctx, env, filepath.Join(dir, fmt.Sprintf("%s-r%d", name, round)), beAddr, s)
			if err != nil {
				return res, fmt.Errorf("%s, round %d: %w", name, round, err)
			}
			if notAvail != "" {
				res.NotAvailable = notAvail
				continue
			}
			r.Side, r.Round = name, round
			res.Runs = append(res.Runs, r)
			if on {
				variant = append(variant, r)
			} else {
				plain = append(plain, r)
			}
		}
	}
	if side.figures != nil {
		res.Figures = side.figures()
	}
	p := medianFeatureRun(plain)
	res.PlainRPS, res.PlainP99us, res.PlainCPU = p.Wrk.RPS, p.Wrk.Latency.P99, p.CPUSecPer100k
	if res.NotAvailable != "" {
		fmt.Fprintf(env.out, "feature %-9s: not available: %s (ksgw plain %.0f req/s)\n", v.name, res.NotAvailable, res.PlainRPS)
		return res, nil
	}
	m := medianFeatureRun(variant)
	res.VariantRPS, res.VariantP99, res.VariantCPU = m.Wrk.RPS, m.Wrk.Latency.P99, m.CPUSecPer100k
	if res.PlainRPS > 0 {
		res.Ratio = res.VariantRPS / res.PlainRPS
	}
	bar := "no bar"
	if v.bar > 0 {
		met := res.Ratio >= v.bar
		res.BarMet = &met
		bar = fmt.Sprintf("bar ≥ %.2f: %s", v.bar, metStr(met))
	}
	fmt.Fprintf(env.out, "feature %-9s: ksgw-%s %.0f req/s (p99 %.2f ms, CPU s/100k %.3f) vs ksgw plain %.0f req/s (p99 %.2f ms, CPU s/100k %.3f): %.2f× (%s)\n",
		v.name, v.name, res.VariantRPS, res.VariantP99/1000, res.VariantCPU, res.PlainRPS, res.PlainP99us/1000, res.PlainCPU, res.Ratio, bar)
	return res, nil
}

// medianFeatureRun is the median run by req/s (the upper one of two).
func medianFeatureRun(runs []featureRun) featureRun {
	if len(runs) == 0 {
		return featureRun{}
	}
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b featureRun) int { return cmp.Compare(a.Wrk.RPS, b.Wrk.RPS) })
	return s[len(s)/2]
}

// featureLeg starts ksgw on one side's configuration, checks the variant
// is in force, warms up and measures. A variant ksgw refuses or ignores
// comes back as notAvail (with ksgw's reason when it logged one).
func featureLeg(ctx context.Context, env *extraEnv, dir, backend string, side *featureSide) (r featureRun, notAvail string, err error) {
	cfg := env.cfg
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, "", err
	}
	http, https, admin, err := ksgwPorts()
	if err != nil {
		return r, "", err
	}
	var args, headers []string
	if side != nil {
		args, headers = side.args, side.headers
	}
	k, err := startKSGWStandalone(ctx, cfg, proxyParams{Dir: dir, CPU: cfg.proxyCPU, Workers: 1}, admin,
		featureFiles(http, https, backend, side), args...)
	if err != nil {
		return r, "", err
	}
	defer k.stop(5 * time.Second)
	base := "http://127.0.0.1:" + strconv.Itoa(http)
	if err := waitReadyHeaders(ctx, base+"/", headers, k.done, cfg.readyAfter); err != nil {
		if side != nil {
			return r, fmt.Sprintf("ksgw did not answer 200 with the feature on (%v)%s", err, problemsNote(k.log)), nil
		}
		return r, "", fmt.Errorf("%w\n%s", err, tail(k.log))
	}
	if side != nil && side.enforced != nil {
		if err := side.enforced(ctx, base); err != nil {
			return r, fmt.Sprintf("%v%s", err, problemsNote(k.log)), nil
		}
	}
	sc := featureScenario
	sc.Headers = headers
	if cfg.warmup > 0 {
		if _, err := runWrk(ctx, cfg, sc, base+"/", "", cfg.warmup); err != nil {
			return r, "", fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu0, err := treeCPUTicks(k.pid())
	if err != nil {
		return r, "", err
	}
	w, err := runWrk(ctx, cfg, sc, base+"/", env.script, cfg.duration)
	if err != nil {
		return r, "", err
	}
	cpu1, err := treeCPUTicks(k.pid())
	if err != nil {
		return r, "", err
	}
	rss, err := treePeakRSS(k.pid())
	if err != nil {
		return r, "", err
	}
	if w.Requests == 0 || w.Errors.Status > 0 {
		return r, "", fmt.Errorf("%d requests, %d answers not 2xx/3xx\n%s", w.Requests, w.Errors.Status, tail(k.log))
	}
	r.Wrk, r.PeakRSSKiB = w, rss
	r.CPUSecPer100k = float64(cpu1-cpu0) / clockTicks / float64(w.Requests) * 1e5
	return r, "", nil
}

// problemsNote is ksgw's "invalid configuration" problems, for a
// not-available note.
func problemsNote(logPath string) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	ps := parseProblems(string(b))
	if len(ps) == 0 {
		return ""
	}
	return "; ksgw: " + strings.Join(ps, "; ")
}

// parseProblems returns the problem of every "invalid configuration" line
// of ksgw's JSON log, every "load" error a provider logged, and the first
// configuration the proxy rejected (NACK: the control plane accepted it).
func parseProblems(log string) []string {
	var out []string
	nack := false
	for line := range strings.SplitSeq(log, "\n") {
		var ev struct {
			Msg     string `json:"msg"`
			Problem string `json:"problem"`
			Error   string `json:"error"`
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch {
		case ev.Msg == "invalid configuration" && ev.Problem != "":
			out = append(out, ev.Problem)
		case ev.Error != "" && strings.Contains(ev.Msg, "load"):
			out = append(out, ev.Msg+": "+ev.Error)
		case ev.Error != "" && strings.Contains(ev.Msg, "(NACK)") && !nack:
			// The proxy and the xDS server both log it; once is enough.
			nack = true
			out = append(out, ev.Msg+": "+ev.Error)
		}
	}
	return out
}

// waitReadyHeaders is waitReady with request headers ("Name: value").
func waitReadyHeaders(ctx context.Context, url string, headers []string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		code, _, err := probe(ctx, http.MethodGet, url, headers)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d", code)
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-exited:
			return errors.New("process exited before becoming ready")
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w", url, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probe sends one request on a fresh connection and returns the status and
// the response headers.
func probe(ctx context.Context, method, url string, headers []string) (int, http.Header, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, nil, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

// wantStatus is an enforced check: method url must answer want.
func wantStatus(method, path string, headers []string, want int, what string) func(ctx context.Context, base string) error {
	return func(ctx context.Context, base string) error {
		code, _, err := probe(ctx, method, base+path, headers)
		if err != nil {
			return fmt.Errorf("not enforced: %s %s: %w", method, path, err)
		}
		if code != want {
			return fmt.Errorf("not enforced: %s %s (%s) answered %d, want %d", method, path, what, code, want)
		}
		return nil
	}
}

func nopClose() {}

// --- jwt ---

// setupJWT generates an RSA key, the inline JWKS of its public half and a
// token valid for a day: with the token cache, verification of the same
// token is the steady state (issue 6).
func setupJWT(context.Context, string) (*featureSide, error) {
	jwks, token, err := rs256Token("bench", "https://bench.ksgw.example", "bench-api", time.Now())
	if err != nil {
		return nil, err
	}
	body := fmt.Sprintf(`  jwt:
    providers:
    - name: bench
      issuer: https://bench.ksgw.example
      audiences: [bench-api]
      jwks: '%s'
`, jwks)
	return &featureSide{
		policy:   securityPolicy("jwt", body),
		headers:  []string{"Authorization: Bearer " + token},
		enforced: wantStatus(http.MethodGet, "/", nil, http.StatusUnauthorized, "no token"),
		close:    nopClose,
	}, nil
}

// rs256Token returns a JWKS (JSON, one RSA key with kid) and a token signed
// by it (RFC 7515 compact serialization, RFC 7518 §3.3 RS256).
func rs256Token(kid, iss, aud string, now time.Time) (jwks, token string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}}
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	claims, _ := json.Marshal(map[string]any{"iss": iss, "aud": aud, "sub": "bench",
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()})
	signing := b64(hdr) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", "", err
	}
	j, err := json.Marshal(set)
	if err != nil {
		return "", "", err
	}
	return string(j), signing + "." + b64(sig), nil
}

// --- ratelimit ---

// setupRateLimit: a bucket of 1M/s never refuses at a few 10k req/s, so
// the ratio is the price of the check (and its response headers). 1M/s is
// the data plane's ceiling (internal/dpconfig NACKs a larger token bucket).
func setupRateLimit(context.Context, string) (*featureSide, error) {
	return &featureSide{
		policy: securityPolicy("ratelimit", "  rateLimit: {requests: 1000000, unit: Second}\n"),
		enforced: func(ctx context.Context, base string) error {
			code, h, err := probe(ctx, http.MethodGet, base+"/", nil)
			if err != nil {
				return fmt.Errorf("not enforced: %w", err)
			}
			if code != http.StatusOK || h.Get("X-Ratelimit-Limit") == "" {
				return fmt.Errorf("not enforced: GET / answered %d without x-ratelimit-limit", code)
			}
			return nil
		},
		close: nopClose,
	}, nil
}

// --- waf ---

// seedWAFRego is /work/shared/seed-examples/waf.rego (the seed's example
// WAF: a POST carrying password= in its path is refused).
const seedWAFRego = `package kubesphere.gateway.waf
deny[msg] {
  input.method == "POST"
  regex.match(".*password=[^&]*", input.path)
  msg = "Potential credential leakage detected"
}
`

func setupWAFRego(context.Context, string) (*featureSide, error) {
	body := "  waf:\n    rego:\n    - name: seed\n      inline: |\n" + indent(seedWAFRego, "        ")
	return &featureSide{
		policy:   securityPolicy("waf-rego", body),
		enforced: wantStatus(http.MethodPost, "/login?password=hunter2", nil, http.StatusForbidden, "the seed rule"),
		close:    nopClose,
	}, nil
}

// setupWAFCRS asks for the OWASP Core Rule Set (paranoia level 1). The
// data plane has it (internal/proxy/filter/waf CRSConfig); the API field is
// `waf.crs` as the WAF types grow it. Until ksgw accepts it, the variant is
// reported as not available with ksgw's reason.
func setupWAFCRS(context.Context, string) (*featureSide, error) {
	return &featureSide{
		policy:   securityPolicy("waf-crs", "  waf:\n    crs: {paranoiaLevel: 1}\n"),
		enforced: wantStatus(http.MethodGet, "/?q=%3Cscript%3Ealert(1)%3C/script%3E", nil, http.StatusForbidden, "an XSS probe CRS refuses"),
		close:    nopClose,
	}, nil
}

func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// --- obs ---

// setupObs starts the trace sink (answers 200 to POST /v1/traces, counts
// exports and bytes) and returns the Gateway's tracing block plus the
// access log to a file.
func setupObs(ctx context.Context, dir string) (*featureSide, error) {
	sink, err := startTraceSink(ctx)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "access.log")
	return &featureSide{
		gateway: fmt.Sprintf("  tracing: {randomSamplingPercentage: 1, protocol: http, endpoint: %q}\n", sink.addr),
		args:    []string{"--access-log", logPath},
		figures: func() map[string]any {
			f := map[string]any{"trace_exports": sink.posts.Load(), "trace_bytes": sink.bytes.Load()}
			// Every variant leg appends to the same access log file.
			if st, err := os.Stat(logPath); err == nil {
				f["access_log_bytes"] = st.Size()
			}
			return f
		},
		close: sink.close,
	}, nil
}

// traceSink is a minimal OTLP/HTTP receiver: it accepts any export.
type traceSink struct {
	addr  string
	srv   *http.Server
	done  chan struct{}
	posts atomic.Int64
	bytes atomic.Int64
	once  sync.Once
}

func startTraceSink(ctx context.Context) (*traceSink, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &traceSink{addr: ln.Addr().String(), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.posts.Add(1)
		s.bytes.Add(n)
		// An empty ExportTraceServiceResponse (OTLP/HTTP: 200, protobuf).
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// close stops the sink and joins its server goroutine.
func (s *traceSink) close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		<-s.done
	})
}

// featureBars are the feature pairs' bars (issues 7 and 8).
func featureBars(extra []extraResult) []barResult {
	var out []barResult
	for _, v := range featureVariants() {
		if v.bar == 0 {
			continue
		}
		b := barResult{Name: v.barName, What: "ksgw-" + v.name + " req/s ÷ ksgw plain req/s (" + v.what + ")",
			Target: "≥ " + strconv.FormatFloat(v.bar, 'f', 2, 64), Unit: "ratio"}
		x := findExtra(extra, "feature-"+v.name)
		var r featureResult
		ok := false
		if x != nil {
			r, ok = x.Result.(featureResult)
		}
		switch {
		case x == nil:
			out = append(out, unmeasuredBar(b, "feature-"+v.name+" was not run"))
		case !ok || x.Error != "":
			out = append(out, unmeasuredBar(b, "feature-"+v.name+" failed: "+x.Error))
		case r.NotAvailable != "":
			out = append(out, unmeasuredBar(b, "not available: "+r.NotAvailable))
		case r.Ratio == 0:
			out = append(out, unmeasuredBar(b, "no successful run of both sides"))
		default:
			out = append(out, measuredBar(b, r.Ratio, r.Ratio >= v.bar,
				fmt.Sprintf("ksgw-%s %.0f req/s, plain %.0f req/s; CPU s/100k %.3f vs %.3f", v.name, r.VariantRPS, r.PlainRPS, r.VariantCPU, r.PlainCPU)))
		}
	}
	return out
}
