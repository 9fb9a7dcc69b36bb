package main

import (
	"strings"
	"testing"
)

func TestComputeBars(t *testing.T) {
	row := func(proxy string, workers int, rps, p99us float64) summaryRow {
		cpu := map[string]float64{"nginx": 3, "ksgw": 4}[proxy]
		return summaryRow{Scenario: barScenarioH1, Proxy: proxy, Workers: workers, ProxyCPU: "1", RPS: rps, P99us: p99us, CPUSecPer100k: cpu}
	}
	reload := func(failed int64) extraResult {
		return extraResult{Scenario: "reload", Result: []reloadResult{
			{Proxy: "ksgw", Changes: 100, WindowSec: 60, FailedReload: failed},
			{Proxy: "nginx", Changes: 100, WindowSec: 60, FailedReload: 7}, // a peer's failures are not the bar
		}}
	}
	cp := func(p99ms float64, translateMS int64, rssMiB uint64) extraResult {
		return extraResult{Scenario: barCPScenario, Result: cpScaleResult{Routes: 10000, Changes: 50,
			PropagateP99MS: p99ms, FullTranslateMS: translateMS, PeakRSSKiB: rssMiB << 10}}
	}
	type want struct {
		status string
		value  float64
	}
	tests := []struct {
		name  string
		rows  []summaryRow
		extra []extraResult
		want  map[string]want
		cpu   string // in the req/s bar's detail
	}{
		{
			name:  "every bar met",
			rows:  []summaryRow{row("nginx", 1, 10000, 2000), row("ksgw", 1, 11000, 1800)},
			cpu:   "CPU s/100k ksgw 4.00, nginx 3.00: 0.75× at a saturated core",
			extra: []extraResult{reload(0), cp(400, 900, 200)},
			want: map[string]want{
				"h1-64B-keepalive-1core-rps": {barMet, 1.1}, "h1-64B-keepalive-1core-rps-aim": {barMet, 1.1},
				"h1-64B-keepalive-1core-p99-aim": {barMet, 0.9}, "reload-failed-requests": {barMet, 0},
				"cp-10k-change-to-proxy-p99": {barMet, 400}, "cp-10k-full-translation": {barMet, 900}, "cp-10k-rss": {barMet, 200},
			},
		},
		{
			name: "bar met, aim missed; failures and limits exceeded are missed with their values",
			rows: []summaryRow{row("nginx", 1, 10000, 2000), row("ksgw", 1, 8500, 3000),
				row("nginx", 2, 10000, 2000), row("ksgw", 2, 30000, 100)}, // 2 workers do not count
			extra: []extraResult{reload(3), cp(1500, 2500, 600)},
			want: map[string]want{
				"h1-64B-keepalive-1core-rps": {barMet, 0.85}, "h1-64B-keepalive-1core-rps-aim": {barMissed, 0.85},
				"h1-64B-keepalive-1core-p99-aim": {barMissed, 1.5}, "reload-failed-requests": {barMissed, 3},
				"cp-10k-change-to-proxy-p99": {barMissed, 1500}, "cp-10k-full-translation": {barMissed, 2500}, "cp-10k-rss": {barMissed, 600},
			},
		},
		{
			name:  "scenarios not run or failed are not measured",
			rows:  []summaryRow{row("nginx", 1, 10000, 2000), {Scenario: barScenarioH1, Proxy: "ksgw", Workers: 1, Failed: true}},
			extra: []extraResult{{Scenario: "reload", Error: "ksgw exited"}, {Scenario: barCPScenario, Error: "not ready"}},
			want: map[string]want{
				"h1-64B-keepalive-1core-rps": {status: barNotMeasured}, "h1-64B-keepalive-1core-rps-aim": {status: barNotMeasured},
				"h1-64B-keepalive-1core-p99-aim": {status: barNotMeasured}, "reload-failed-requests": {status: barNotMeasured},
				"cp-10k-change-to-proxy-p99": {status: barNotMeasured}, "cp-10k-full-translation": {status: barNotMeasured}, "cp-10k-rss": {status: barNotMeasured},
			},
		},
		{
			name: "nothing run",
			want: map[string]want{
				"h1-64B-keepalive-1core-rps": {status: barNotMeasured}, "reload-failed-requests": {status: barNotMeasured}, "cp-10k-rss": {status: barNotMeasured},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bars := computeBars(tt.rows, tt.extra)
			if len(bars) != 7 {
				t.Fatalf("%d bars, want 7", len(bars))
			}
			for _, b := range bars {
				w, ok := tt.want[b.Name]
				if !ok {
					continue
				}
				if b.Status != w.status {
					t.Errorf("%s: status %q, want %q (%s)", b.Name, b.Status, w.status, b.Detail)
				}
				switch {
				case w.status == barNotMeasured && (b.Value != nil || b.Met != nil || b.Detail == ""):
					t.Errorf("%s: not measured but value %v met %v detail %q", b.Name, b.Value, b.Met, b.Detail)
				case w.status != barNotMeasured && (b.Value == nil || *b.Value < w.value-1e-9 || *b.Value > w.value+1e-9 || *b.Met != (w.status == barMet)):
					t.Errorf("%s: value %v met %v, want %v", b.Name, b.Value, b.Met, w.value)
				}
			}
			if !strings.Contains(bars[0].Detail, tt.cpu) {
				t.Errorf("req/s bar detail %q, want %q", bars[0].Detail, tt.cpu)
			}
			var out strings.Builder
			printBars(&out, bars)
			if !strings.HasPrefix(out.String(), "bars") || strings.Count(out.String(), "\n") != 8 {
				t.Errorf("bars block:\n%s", out.String())
			}
		})
	}
}
