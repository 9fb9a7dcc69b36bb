package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cpNamespaces is how many namespaces the Routes are spread over (issue 4,
// scenario 7).
const cpNamespaces = 100

// Bars of issue 4 for the control plane at 10k Routes.
const (
	barPropagateP99 = time.Second
	barTranslate    = 2 * time.Second
	barRSSKiB       = 500 << 10
)

// cpScaleResult is scenario 7 at one Route count.
type cpScaleResult struct {
	Routes          int     `json:"routes"`
	Namespaces      int     `json:"namespaces"`
	UpdateInterval  string  `json:"update_interval"`
	StartupMS       float64 `json:"startup_to_first_route_ms"`
	FullTranslateMS int64   `json:"full_translate_ms"`
	// Every publish translates the whole bundle, so each change's
	// translate_ms is a full translation too.
	ChangeTranslateMedianMS float64   `json:"change_translate_median_ms"`
	ChangeTranslateMaxMS    int64     `json:"change_translate_max_ms"`
	PeakRSSKiB              uint64    `json:"control_plane_peak_rss_kib"`
	Changes                 int       `json:"changes"`
	ChangesRequested        int       `json:"changes_requested"`
	ChangeBudgetSec         float64   `json:"change_budget_seconds"`
	PropagateMedianMS       float64   `json:"change_to_answer_median_ms"`
	PropagateP99MS          float64   `json:"change_to_answer_p99_ms"`
	PropagateMS             []float64 `json:"change_to_answer_ms"`
	// Phases splits change→answer by ksgw's log: the file provider's
	// reload of the directory (from the rename, batch window included),
	// the translation (to "configuration published"), and the rest (xDS
	// push, the proxy's decode and swap, the poll's 5 ms granularity).
	Phases       *cpPhases `json:"change_phases_median_ms,omitempty"`
	BarPropagate bool      `json:"bar_propagate_p99_met"`
	BarTranslate bool      `json:"bar_translate_met"`
	BarRSS       bool      `json:"bar_rss_met"`
}

// cpPhases are medians over the changes whose log events were found.
type cpPhases struct {
	Changes   int     `json:"changes"`
	Load      float64 `json:"file_load"`
	Translate float64 `json:"translate"`
	Deliver   float64 `json:"xds_to_answer"`
}

func cpRoutePath(ns, i int) string { return fmt.Sprintf("/ns-%03d/r-%05d", ns, i) }

// cpHost is namespace ns's host: a host on the shared cluster gateway
// belongs to the first namespace that claims it (DESIGN §4 tenancy), so each
// namespace's Routes use their own.
func cpHost(ns int) string { return fmt.Sprintf("ns-%03d.bench.example", ns) }

// cpNamespaceYAML is one namespace's Service, Pod and its share of Routes,
// each Route a prefix match on its own path, bound to the cluster gateway
// (namespace ksgw-system) because the namespace has no Gateway of its own.
func cpNamespaceYAML(ns int, routes []int, backend string) string {
	name := fmt.Sprintf("ns-%03d", ns)
	var b strings.Builder
	b.WriteString(yamlServicePods(name, "svc", "echo", []string{backend}))
	for _, i := range routes {
		fmt.Fprintf(&b, `---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: r-%05d, namespace: %s}
spec:
  hosts: [%s]
  http:
  - match: [{uri: {prefix: %s}}]
    route: [{destination: {host: svc}}]
`, i, name, cpHost(ns), cpRoutePath(ns, i))
	}
	return b.String()
}

// cpProbeYAML is the one Route the timed changes edit: each change moves it
// to a new path, so the new path answering 200 proves the change arrived.
func cpProbeYAML(k int) string {
	return fmt.Sprintf(`apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: probe, namespace: ns-000}
spec:
  hosts: [%s]
  http:
  - match: [{uri: {prefix: /probe-%d}}]
    route: [{destination: {host: svc}}]
`, cpHost(0), k)
}

func runCPScale(ctx context.Context, env *extraEnv, routes int) (any, error) {
	cfg := env.cfg
	dir := filepath.Join(env.work, "cp-scale-"+strconv.Itoa(routes))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	be, beAddr, err := startBackend(ctx, cfg, env.work, 64)
	if err != nil {
		return nil, err
	}
	defer be.stop(5 * time.Second)
	httpPort, httpsPort, admin, err := ksgwPorts()
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"gateway.yaml": yamlGateway("ksgw-system", httpPort, httpsPort, `"*.bench.example"`),
		"probe.yaml":   cpProbeYAML(0),
	}
	byNS := make([][]int, cpNamespaces)
	for i := range routes {
		byNS[i%cpNamespaces] = append(byNS[i%cpNamespaces], i)
	}
	for ns, rs := range byNS {
		files[fmt.Sprintf("ns-%03d.yaml", ns)] = cpNamespaceYAML(ns, rs, beAddr)
	}
	start := time.Now()
	k, err := startKSGWStandalone(ctx, cfg, proxyParams{Dir: dir, CPU: cfg.proxyCPU}, admin, files)
	if err != nil {
		return nil, err
	}
	defer k.stop(5 * time.Second)
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	// Loading, translating and serving grow with the Route count: about
	// 20 s at 50k on a loaded 2-core machine, hence generous limits.
	readyTimeout := max(cfg.readyAfter, 2*time.Minute, time.Duration(routes/1000)*4*time.Second)
	evs, err := waitPublishes(ctx, k, 1, readyTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(k.log))
	}
	if evs[0].Problems > 0 {
		return nil, fmt.Errorf("the generated configuration has %d problems:\n%s", evs[0].Problems, tail(k.log))
	}
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	// The last Route of the last namespace answering means the whole
	// configuration reached the proxy.
	last := (routes - 1) % cpNamespaces
	if err := pollUntilOK(ctx, client, base+cpRoutePath(last, routes-1), cpHost(last), k.done, readyTimeout); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(k.log))
	}
	res := cpScaleResult{Routes: routes, Namespaces: cpNamespaces, UpdateInterval: cfg.updateInterval.String(),
		StartupMS: float64(time.Since(start).Microseconds()) / 1000, FullTranslateMS: evs[0].TranslateMS}

	// Changes go one at a time until cfg.cpChanges are timed or the
	// budget is spent (at 50k Routes one takes ~15 s here), but at least
	// cpMinChanges.
	changeTimeout := max(30*time.Second, time.Duration(routes/1000)*2*time.Second)
	var writes, answers []time.Time
	budgetStart := time.Now()
	for c := 1; c <= cfg.cpChanges; c++ {
		if c > cpMinChanges && time.Since(budgetStart) > cfg.cpChangeBudget {
			break
		}
		t0 := time.Now()
		if err := writeAtomic(k.conf, "probe.yaml", cpProbeYAML(c)); err != nil {
			return nil, err
		}
		if err := pollUntilOK(ctx, client, base+"/probe-"+strconv.Itoa(c), cpHost(0), k.done, changeTimeout); err != nil {
			return nil, fmt.Errorf("change %d: %w\n%s", c, err, tail(k.log))
		}
		t1 := time.Now()
		writes, answers = append(writes, t0), append(answers, t1)
		res.PropagateMS = append(res.PropagateMS, float64(t1.Sub(t0).Microseconds())/1000)
	}
	res.Changes, res.ChangesRequested, res.ChangeBudgetSec = len(res.PropagateMS), cfg.cpChanges, cfg.cpChangeBudget.Seconds()
	evs, err = waitPublishes(ctx, k, 1+res.Changes, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if loads, err := logEvents(k.log, msgProviderLoaded); err == nil {
		res.Phases = changePhases(writes, answers, loads, evs)
	}
	var tr []float64
	for _, ev := range evs[1:] {
		tr = append(tr, float64(ev.TranslateMS))
		res.ChangeTranslateMaxMS = max(res.ChangeTranslateMaxMS, ev.TranslateMS)
	}
	res.ChangeTranslateMedianMS = percentile(tr, 50)
	res.PropagateMedianMS, res.PropagateP99MS = percentile(res.PropagateMS, 50), percentile(res.PropagateMS, 99)
	if res.PeakRSSKiB, err = vmHWM(k.pid()); err != nil {
		return nil, err
	}
	res.BarPropagate = res.PropagateP99MS < float64(barPropagateP99.Milliseconds())
	res.BarTranslate = res.FullTranslateMS < barTranslate.Milliseconds()
	res.BarRSS = res.PeakRSSKiB < barRSSKiB
	phases := ""
	if p := res.Phases; p != nil {
		phases = fmt.Sprintf(" (median file load %.0f ms, translate %.0f ms, xDS→answer %.0f ms)", p.Load, p.Translate, p.Deliver)
	}
	fmt.Fprintf(env.out, "cp-scale (%d): %d Routes in %d namespaces: full translation %d ms (bar < %v: %s), ready after %.0f ms; "+
		"RSS %.1f MiB (bar < 500 MiB: %s); change→answer over %d changes (update interval %v): median %.0f ms, p99 %.0f ms (bar < %v: %s)%s; translate per change median %.0f ms\n",
		routes, routes, cpNamespaces, res.FullTranslateMS, barTranslate, metStr(res.BarTranslate), res.StartupMS,
		float64(res.PeakRSSKiB)/1024, metStr(res.BarRSS), res.Changes, cfg.updateInterval,
		res.PropagateMedianMS, res.PropagateP99MS, barPropagateP99, metStr(res.BarPropagate), phases, res.ChangeTranslateMedianMS)
	return res, nil
}

// cpMinChanges is the fewest changes timed whatever the budget.
const cpMinChanges = 5

// changePhases splits each change (written at writes[i], answering at
// answers[i]) by the first provider load logged after the write and the
// first publish logged after that load. A change without both events is
// left out; nil when none has them.
func changePhases(writes, answers []time.Time, loads, publishes []publishEvent) *cpPhases {
	var load, tr, deliver []float64
	ms := func(a, b time.Time) float64 { return float64(b.Sub(a).Microseconds()) / 1000 }
	for i, w := range writes {
		li := slices.IndexFunc(loads, func(e publishEvent) bool { return !e.Time.Before(w) })
		if li < 0 {
			continue
		}
		l := loads[li].Time
		pi := slices.IndexFunc(publishes, func(e publishEvent) bool { return !e.Time.Before(l) })
		if pi < 0 || publishes[pi].Time.After(answers[i]) {
			continue
		}
		p := publishes[pi].Time
		load, tr, deliver = append(load, ms(w, l)), append(tr, ms(l, p)), append(deliver, ms(p, answers[i]))
	}
	if len(load) == 0 {
		return nil
	}
	return &cpPhases{Changes: len(load), Load: percentile(load, 50), Translate: percentile(tr, 50), Deliver: percentile(deliver, 50)}
}

// pollUntilOK GETs url with Host: host every 5 ms until it answers 200.
func pollUntilOK(ctx context.Context, client *http.Client, url, host string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	last := errors.New("no answer yet")
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Host = host
		if resp, err := client.Do(req); err != nil {
			last = err
		} else {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case <-exited:
			return errors.New("ksgw exited")
		case <-ctx.Done():
			return fmt.Errorf("%s not answering 200 after %v: %w", url, timeout, last)
		case <-tick.C:
		}
	}
}

// percentile is the nearest-rank percentile of xs (unsorted; not modified).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
