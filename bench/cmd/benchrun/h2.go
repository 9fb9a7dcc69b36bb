package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// runH2load drives scenario 4 (HTTP/2 downstream, many streams per
// connection) with h2load instead of wrk, which speaks only HTTP/1.1. The
// result is a wrkResult so that the table, ratios and JSON stay one shape;
// the latency percentiles come from h2load's per-request --log-file
// (h2load itself prints only min/max/mean/sd).
func runH2load(ctx context.Context, cfg config, sc scenario, url, dir string, d time.Duration) (wrkResult, error) {
	logPath := filepath.Join(dir, "h2load-requests.tsv")
	secs := strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
	args := []string{"-c", cfg.clientCPU, "h2load", "-t1", "-c" + strconv.Itoa(sc.Conns), "-m" + strconv.Itoa(sc.Streams),
		"-D", secs, "--log-file", logPath, url}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "taskset", args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("h2load: %w\n%s", err, b)
	}
	res, err := parseH2load(string(b))
	if err != nil {
		return wrkResult{}, err
	}
	lat, err := readH2loadLog(logPath)
	if err != nil {
		return wrkResult{}, err
	}
	_ = os.Remove(logPath) // can be large; the figures are in the result
	res.Latency.P50, res.Latency.P90, res.Latency.P99, res.Latency.P999 =
		percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), percentile(lat, 99.9)
	res.DurationUS = d.Microseconds()
	if res.Requests > 0 && res.DurationUS > 0 {
		res.RPS = float64(res.Requests) / d.Seconds()
	}
	return res, nil
}

var (
	h2Requests = regexp.MustCompile(`requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	h2Traffic  = regexp.MustCompile(`traffic: .*?\((\d+)\) total`)
)

// parseH2load reads h2load's summary: done requests, failures and bytes.
func parseH2load(out string) (wrkResult, error) {
	var res wrkResult
	m := h2Requests.FindStringSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("h2load output has no requests line:\n%s", out)
	}
	n := make([]int64, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.ParseInt(m[i], 10, 64)
	}
	res.Requests = n[2]
	res.Errors.Read = n[5] // errored: stream or connection errors
	res.Errors.Timeout = n[6]
	if s := h2Status.FindStringSubmatch(out); s != nil {
		four, _ := strconv.ParseInt(s[3], 10, 64)
		five, _ := strconv.ParseInt(s[4], 10, 64)
		res.Errors.Status = four + five
	}
	if t := h2Traffic.FindStringSubmatch(out); t != nil {
		res.Bytes, _ = strconv.ParseInt(t[1], 10, 64)
	}
	return res, nil
}

// readH2loadLog returns the per-request latencies (µs) of an h2load
// --log-file: start time, status, microseconds to the end of the response.
func readH2loadLog(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(fs[2], 64)
		if err == nil {
			out = append(out, v)
		}
	}
	return out, sc.Err()
}
