package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run measured. Latencies are in microseconds.
type wrkResult struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	RPS        float64 `json:"rps"`
	Errors     struct {
		Connect int64 `json:"connect"`
		Read    int64 `json:"read"`
		Write   int64 `json:"write"`
		Status  int64 `json:"status"` // non-2xx/3xx answers
		Timeout int64 `json:"timeout"`
	} `json:"errors"`
	Latency struct {
		Min   float64 `json:"min"`
		Max   float64 `json:"max"`
		Mean  float64 `json:"mean"`
		Stdev float64 `json:"stdev"`
		P50   float64 `json:"p50"`
		P90   float64 `json:"p90"`
		P99   float64 `json:"p99"`
		P999  float64 `json:"p999"`
	} `json:"latency_us"`
	// GRPCCodes counts gRPC calls by grpc-status name (grpc-load only);
	// every one but OK is also in Errors.
	GRPCCodes map[string]int64 `json:"grpc_codes,omitempty"`
}

// SocketErrors is the sum of connect, read, write and timeout errors.
func (r wrkResult) SocketErrors() int64 {
	return r.Errors.Connect + r.Errors.Read + r.Errors.Write + r.Errors.Timeout
}

const reportPrefix = "BENCHRUN "

// parseWrk reads wrk's output. The line printed by report.lua's done() is
// authoritative (it has p99.9 and exact counts); without it (a wrk built
// without Lua, or a script error) the --latency text table is the fallback.
func parseWrk(out string) (wrkResult, error) {
	var (
		res     wrkResult
		fromLua bool
		rps     float64
		haveRPS bool
		textLat = map[string]float64{}
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	inDist := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, reportPrefix):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, reportPrefix)), &res); err != nil {
				return wrkResult{}, fmt.Errorf("wrk report line: %w", err)
			}
			fromLua = true
		case strings.HasPrefix(line, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil {
				return wrkResult{}, fmt.Errorf("wrk %q: %w", line, err)
			}
			rps, haveRPS = v, true
		case line == "Latency Distribution":
			inDist = true
		case inDist:
			f := strings.Fields(line)
			if len(f) != 2 || !strings.HasSuffix(f[0], "%") {
				inDist = false
				break
			}
			us, err := parseWrkDuration(f[1])
			if err != nil {
				return wrkResult{}, err
			}
			textLat[strings.TrimSuffix(f[0], "%")] = us
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			if !fromLua {
				res.Errors.Status, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			}
		}
	}
	if !fromLua {
		if !haveRPS {
			return wrkResult{}, fmt.Errorf("wrk output has neither a %q line nor Requests/sec:\n%s", strings.TrimSpace(reportPrefix), out)
		}
		res.RPS = rps
		res.Latency.P50, res.Latency.P90, res.Latency.P99 = textLat["50"], textLat["90"], textLat["99"]
		return res, nil
	}
	if res.DurationUS > 0 {
		res.RPS = float64(res.Requests) / (float64(res.DurationUS) / 1e6)
	}
	return res, nil
}

// parseWrkDuration parses wrk's latency notation ("812.00us", "1.23ms",
// "2.00s", "1.00m") into microseconds.
func parseWrkDuration(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		us     float64
	}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("wrk latency %q: %w", s, err)
			}
			return f * u.us, nil
		}
	}
	return 0, fmt.Errorf("wrk latency %q: unknown unit", s)
}

// wrkArgs builds the wrk command line for one run.
func wrkArgs(sc scenario, url, script string, d time.Duration) []string {
	args := []string{
		"-t1", // wrk gets one pinned core: more threads would only contend
		"-c" + strconv.Itoa(sc.Conns),
		"-d" + strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s",
		"--timeout", "10s",
		"--latency",
	}
	if script != "" {
		args = append(args, "-s", script)
	}
	if !sc.KeepAlive {
		args = append(args, "-H", "Connection: close")
	}
	for _, h := range sc.Headers {
		args = append(args, "-H", h)
	}
	if sc.Routing == routingRegex {
		path, header := regexTarget()
		args = append(args, "-H", header)
		url = strings.TrimSuffix(url, "/") + path
	}
	return append(args, url)
}
