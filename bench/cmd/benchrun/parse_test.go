package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

const wrkWithReport = `Running 2s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.80ms    1.01ms  19.62ms   88.61%
    Req/Sec    27.68k     2.10k   30.13k    75.00%
  Latency Distribution
     50%    1.43ms
     75%    2.01ms
     90%    2.89ms
     99%    4.33ms
  55069 requests in 2.00s, 7.25MB read
Requests/sec:  27532.21
Transfer/sec:      3.62MB
BENCHRUN {"requests":55069,"duration_us":2000200,"bytes":7601234,"errors":{"connect":0,"read":1,"write":0,"status":3,"timeout":2},"latency_us":{"min":52,"max":19620,"mean":1800.50,"stdev":1010.00,"p50":1430,"p90":2890,"p99":4330,"p999":5880}}
`

const wrkTextOnly = `Running 2s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Latency Distribution
     50%  812.00us
     75%    1.01ms
     90%    2.00s
     99%    1.50m
  55069 requests in 2.00s, 7.25MB read
  Non-2xx or 3xx responses: 7
Requests/sec:  27532.21
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name                        string
		out                         string
		wantRPS                     float64
		wantP50, wantP99, wantP999  float64
		wantStatusErrs, wantSockErr int64
		wantErr                     string
	}{
		{
			name:    "report line is authoritative and carries p99.9",
			out:     wrkWithReport,
			wantRPS: 55069 / 2.0002, wantP50: 1430, wantP99: 4330, wantP999: 5880,
			wantStatusErrs: 3, wantSockErr: 3,
		},
		{
			name:    "text table is the fallback, in every unit",
			out:     wrkTextOnly,
			wantRPS: 27532.21, wantP50: 812, wantP99: 90e6,
			wantStatusErrs: 7,
		},
		{name: "output without results is an error", out: "unable to connect to 127.0.0.1:1 Connection refused\n", wantErr: "neither"},
		{name: "corrupt report line is an error", out: "BENCHRUN {\"requests\":\n", wantErr: "report line"},
		{name: "unknown latency unit is an error", out: "  Latency Distribution\n     50%  3.00h\nRequests/sec: 1\n", wantErr: "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := got.RPS - tt.wantRPS; d > 0.01 || d < -0.01 {
				t.Errorf("rps %.2f, want %.2f", got.RPS, tt.wantRPS)
			}
			if got.Latency.P50 != tt.wantP50 || got.Latency.P99 != tt.wantP99 || got.Latency.P999 != tt.wantP999 {
				t.Errorf("latency %+v", got.Latency)
			}
			if got.Errors.Status != tt.wantStatusErrs || got.SocketErrors() != tt.wantSockErr {
				t.Errorf("errors %+v", got.Errors)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{
			name: "plain command",
			line: "4242 (nginx) S 4241 4241 4241 0 -1 4194560 100 0 0 0 150 30 7 3 20 0 1 0 100 1000 200",
			want: procStat{pid: 4242, ppid: 4241, utime: 150, stime: 30, cutime: 7, cstime: 3},
		},
		{
			name: "command with spaces and parentheses",
			line: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 11 22 33 44 20 0 1 0",
			want: procStat{pid: 7, ppid: 1, utime: 11, stime: 22, cutime: 33, cstime: 44},
		},
		{name: "truncated line", line: "7 (x) R 1 2 3", wantErr: true},
		{name: "no command", line: "garbage", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOwnProcessTreeIsReadable(t *testing.T) {
	ticks, err := treeCPUTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	_ = ticks // may legitimately be 0 this early
	rss, err := treePeakRSS(os.Getpid())
	if err != nil || rss == 0 {
		t.Fatalf("peak RSS %d KiB, err %v", rss, err)
	}
	if _, err := treeCPUTicks(-1); err == nil {
		t.Error("no error for a pid that cannot exist")
	}
}

func TestParseVmHWM(t *testing.T) {
	got, err := parseVmHWM(strings.NewReader("Name:\tnginx\nVmPeak:\t  9000 kB\nVmHWM:\t    4321 kB\nVmRSS:\t 4000 kB\n"))
	if err != nil || got != 4321 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := parseVmHWM(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Error("no error without VmHWM")
	}
}

func TestSummarizeTakesMedianAndRatios(t *testing.T) {
	sc := scenarios[:1]
	prs := []proxy{{name: "nginx"}, {name: "haproxy"}, {name: "ksgw"}}
	pins := []workersPinning{{Workers: 1, ProxyCPU: "1"}, {Workers: 2, ProxyCPU: "1,0", SharesClientCores: true}}
	mk := func(p string, workers int, rps float64, errMsg string) runResult {
		r := runResult{Scenario: sc[0].Name, Proxy: p, Workers: workers, Error: errMsg}
		r.Wrk.RPS = rps
		return r
	}
	rows := summarize([]runResult{
		mk("nginx", 1, 100, ""), mk("nginx", 1, 300, ""), mk("nginx", 1, 200, ""),
		mk("haproxy", 1, 400, ""),
		mk("ksgw", 1, 0, "did not start"),
		// At 2 workers ratios compare 2-worker runs only.
		mk("nginx", 2, 1000, ""), mk("haproxy", 2, 500, ""), mk("ksgw", 2, 1500, ""),
	}, sc, prs, pins)
	if len(rows) != 6 {
		t.Fatalf("%d rows", len(rows))
	}
	if rows[0].RPS != 200 || *rows[0].VsNginx != 1 || *rows[0].VsHAProxy != 0.5 || rows[0].Workers != 1 {
		t.Errorf("nginx row %+v: want median 200, ratios 1 and 0.5", rows[0])
	}
	if rows[1].RPS != 400 || *rows[1].VsNginx != 2 {
		t.Errorf("haproxy row %+v", rows[1])
	}
	if !rows[2].Failed || rows[2].VsNginx != nil {
		t.Errorf("failed ksgw row %+v", rows[2])
	}
	if k := rows[5]; k.Workers != 2 || k.RPS != 1500 || *k.VsNginx != 1.5 || *k.VsHAProxy != 3 || !k.SharesClientCores || k.ProxyCPU != "1,0" {
		t.Errorf("2-worker ksgw row %+v: want ratios against 2-worker peers and the pinning", k)
	}
}

func TestScenarioAndProxySelection(t *testing.T) {
	ext := extras(config{})
	got, gotExt, err := selectScenarios([]string{"close", "keepalive-16KiB-c50"}, ext)
	if err != nil || len(got) != 3 || got[0].Name != "keepalive-16KiB-c50" || got[1].Name != "close-64B-c50" || got[2].Name != "tls-close-64B-c50" || len(gotExt) != 0 {
		t.Errorf("got %+v %+v, %v", got, gotExt, err)
	}
	got, gotExt, err = selectScenarios([]string{"reload"}, ext)
	if err != nil || len(got) != 0 || len(gotExt) != 1 || gotExt[0].name != "reload" {
		t.Errorf("got %+v %+v, %v", got, gotExt, err)
	}
	if _, _, err := selectScenarios([]string{"nope"}, ext); err == nil {
		t.Error("no error for an unknown scenario")
	}
	names := func(ps []proxy) (n []string) {
		for _, p := range ps {
			n = append(n, p.name)
		}
		return n
	}
	if got := names(proxies(func(string) string { return "" })); strings.Join(got, ",") != "nginx,haproxy" {
		t.Errorf("without %s: %v", ksgwCmdEnv, got)
	}
	if got := names(proxies(func(string) string { return "ksgw standalone" })); strings.Join(got, ",") != "nginx,haproxy,ksgw" {
		t.Errorf("with %s: %v", ksgwCmdEnv, got)
	}
}

func TestWrkArgs(t *testing.T) {
	ka := strings.Join(wrkArgs(scenario{Conns: 50, KeepAlive: true}, "http://x/", "r.lua", 2*time.Second), " ")
	if ka != "-t1 -c50 -d2s --timeout 10s --latency -s r.lua http://x/" {
		t.Errorf("keep-alive args %q", ka)
	}
	cl := wrkArgs(scenario{Conns: 50}, "http://x/", "", 500*time.Millisecond)
	if strings.Join(cl, " ") != "-t1 -c50 -d1s --timeout 10s --latency -H Connection: close http://x/" {
		t.Errorf("close args %q", cl)
	}
}
