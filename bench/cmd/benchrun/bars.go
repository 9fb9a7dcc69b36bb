package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// The bars of issue 4, each reported as a measured value against its
// target. A missed bar is a figure, not a failure of the run.
const (
	barScenarioH1    = "keepalive-64B-c50" // "HTTP/1.1 64 B keep-alive at one core"
	barH1RPSRatio    = 0.8                 // ksgw ≥ 0.8× nginx req/s (the bar)
	barH1RPSRatioAim = 1.0                 // ≥ 1.0× (the aim) …
	barH1P99RatioAim = 1.0                 // … with p99 ≤ nginx's
	barCPScenario    = "cp-scale-10k"
)

// Bar states.
const (
	barMet         = "met"
	barMissed      = "missed"
	barNotMeasured = "not measured"
)

// barResult is one bar as this run measured it.
type barResult struct {
	Name   string   `json:"name"`
	What   string   `json:"what"`
	Target string   `json:"target"`
	Unit   string   `json:"unit"`            // ratio, ms, MiB, requests
	Value  *float64 `json:"value,omitempty"` // nil when not measured
	Met    *bool    `json:"met,omitempty"`   // nil when not measured
	Status string   `json:"status"`          // met, missed, not measured
	Aim    bool     `json:"aim,omitempty"`   // the aim rather than its bar
	Detail string   `json:"detail,omitempty"`
}

func measuredBar(b barResult, v float64, met bool, detail string) barResult {
	b.Value, b.Met, b.Detail = &v, &met, detail
	b.Status = barMissed
	if met {
		b.Status = barMet
	}
	return b
}

func unmeasuredBar(b barResult, why string) barResult {
	b.Status, b.Detail = barNotMeasured, why
	return b
}

// computeBars reads the bars off the summary (median runs) and the extra
// scenarios' records.
func computeBars(rows []summaryRow, extra []extraResult) []barResult {
	var out []barResult
	rps := barResult{Name: "h1-64B-keepalive-1core-rps", What: "HTTP/1.1 64 B keep-alive, one core: ksgw req/s ÷ nginx req/s (" + barScenarioH1 + ")",
		Target: "≥ " + strconv.FormatFloat(barH1RPSRatio, 'f', 2, 64), Unit: "ratio"}
	rpsAim := barResult{Name: "h1-64B-keepalive-1core-rps-aim", What: rps.What, Aim: true,
		Target: "≥ " + strconv.FormatFloat(barH1RPSRatioAim, 'f', 2, 64), Unit: "ratio"}
	p99Aim := barResult{Name: "h1-64B-keepalive-1core-p99-aim", What: "HTTP/1.1 64 B keep-alive, one core: ksgw p99 ÷ nginx p99", Aim: true,
		Target: "≤ " + strconv.FormatFloat(barH1P99RatioAim, 'f', 2, 64), Unit: "ratio"}
	k, n := findRow(rows, barScenarioH1, "ksgw"), findRow(rows, barScenarioH1, "nginx")
	switch {
	case k == nil || n == nil:
		why := fmt.Sprintf("%s was not run with ksgw and nginx at 1 worker", barScenarioH1)
		out = append(out, unmeasuredBar(rps, why), unmeasuredBar(rpsAim, why), unmeasuredBar(p99Aim, why))
	case k.RPS == 0 || n.RPS == 0 || k.P99us == 0 || n.P99us == 0:
		why := fmt.Sprintf("%s failed for ksgw or nginx", barScenarioH1)
		out = append(out, unmeasuredBar(rps, why), unmeasuredBar(rpsAim, why), unmeasuredBar(p99Aim, why))
	default:
		r := k.RPS / n.RPS
		d := fmt.Sprintf("ksgw %.0f req/s, nginx %.0f req/s (proxy on core %s)", k.RPS, n.RPS, k.ProxyCPU)
		if k.CPUSecPer100k > 0 && n.CPUSecPer100k > 0 {
			// When the client side bounds req/s (2 cores), CPU per request
			// is what predicts the ratio at a saturated proxy core.
			d += fmt.Sprintf("; CPU s/100k ksgw %.2f, nginx %.2f: %.2f× at a saturated core", k.CPUSecPer100k, n.CPUSecPer100k, n.CPUSecPer100k/k.CPUSecPer100k)
		}
		out = append(out, measuredBar(rps, r, r >= barH1RPSRatio, d), measuredBar(rpsAim, r, r >= barH1RPSRatioAim, d))
		p := k.P99us / n.P99us
		out = append(out, measuredBar(p99Aim, p, p <= barH1P99RatioAim, fmt.Sprintf("ksgw p99 %.2f ms, nginx p99 %.2f ms", k.P99us/1000, n.P99us/1000)))
	}

	reload := barResult{Name: "reload-failed-requests", What: "requests failed while ksgw applied 100 route changes under load (scenario 6)",
		Target: "= 0", Unit: "requests"}
	switch x := findExtra(extra, "reload"); {
	case x == nil:
		out = append(out, unmeasuredBar(reload, "reload was not run"))
	default:
		rs, _ := x.Result.([]reloadResult)
		i := -1
		for j := range rs {
			if rs[j].Proxy == "ksgw" {
				i = j
			}
		}
		if i < 0 {
			out = append(out, unmeasuredBar(reload, "reload has no ksgw record: "+x.Error))
			break
		}
		r := rs[i]
		out = append(out, measuredBar(reload, float64(r.FailedReload), r.FailedReload == 0,
			fmt.Sprintf("%d changes over %.0f s", r.Changes, r.WindowSec)))
	}

	prop := barResult{Name: "cp-10k-change-to-proxy-p99", What: "10k Routes: a single-route change answering at the proxy, p99", Target: "< 1000", Unit: "ms"}
	tr := barResult{Name: "cp-10k-full-translation", What: "10k Routes: full translation", Target: "< 2000", Unit: "ms"}
	rss := barResult{Name: "cp-10k-rss", What: "10k Routes: control-plane peak RSS (the process also runs the proxy)", Target: "< 500", Unit: "MiB"}
	x := findExtra(extra, barCPScenario)
	c, ok := cpResult(x)
	switch {
	case x == nil:
		why := barCPScenario + " was not run (--cp-routes)"
		out = append(out, unmeasuredBar(prop, why), unmeasuredBar(tr, why), unmeasuredBar(rss, why))
	case !ok:
		why := barCPScenario + " failed: " + x.Error
		out = append(out, unmeasuredBar(prop, why), unmeasuredBar(tr, why), unmeasuredBar(rss, why))
	default:
		out = append(out,
			measuredBar(prop, c.PropagateP99MS, c.PropagateP99MS < float64(barPropagateP99.Milliseconds()),
				fmt.Sprintf("median %.0f ms over %d changes", c.PropagateMedianMS, c.Changes)),
			measuredBar(tr, float64(c.FullTranslateMS), c.FullTranslateMS < barTranslate.Milliseconds(), ""),
			measuredBar(rss, float64(c.PeakRSSKiB)/1024, c.PeakRSSKiB < barRSSKiB, ""))
	}
	return out
}

// findRow is the 1-worker summary row of scenario×proxy.
func findRow(rows []summaryRow, scenario, proxy string) *summaryRow {
	for i := range rows {
		if r := &rows[i]; r.Scenario == scenario && r.Proxy == proxy && r.Workers == 1 {
			return r
		}
	}
	return nil
}

func findExtra(extra []extraResult, name string) *extraResult {
	for i := range extra {
		if extra[i].Scenario == name {
			return &extra[i]
		}
	}
	return nil
}

func cpResult(x *extraResult) (cpScaleResult, bool) {
	if x == nil || x.Error != "" {
		return cpScaleResult{}, false
	}
	c, ok := x.Result.(cpScaleResult)
	return c, ok
}

// printBars prints the bars block that ends benchrun's output.
func printBars(w io.Writer, bars []barResult) {
	fmt.Fprintln(w, "bars (issue 4; a missed bar is a figure, not a failure):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, b := range bars {
		name := b.Name
		if b.Aim {
			name += " (aim)"
		}
		v := "-"
		if b.Value != nil {
			v = strconv.FormatFloat(*b.Value, 'f', 2, 64)
			if b.Unit != "ratio" {
				v += " " + b.Unit
			}
		}
		target := b.Target
		if b.Unit != "ratio" {
			target += " " + b.Unit
		}
		status := b.Status
		if status == barMissed {
			status = "MISSED"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", name, v, target, status, b.Detail)
	}
	_ = tw.Flush()
}
