package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

func TestParseGRPCLoad(t *testing.T) {
	line := func(requests, status, timeout int64, codes string) string {
		return fmt.Sprintf(`BENCHRUN {"requests":%d,"duration_us":2000000,"bytes":0,"errors":{"connect":0,"read":0,"write":0,"status":%d,"timeout":%d},`+
			`"latency_us":{"min":100,"max":9000,"mean":800,"stdev":50,"p50":700,"p90":1200,"p99":4000,"p999":8000},"grpc_codes":{%s}}`,
			requests, status, timeout, codes)
	}
	tests := []struct {
		name       string
		out        string
		wantRPS    float64
		wantStatus int64
		wantTO     int64
		wantP999   float64
		wantErr    string
	}{
		{name: "all calls OK", out: line(4000, 0, 0, `"OK":4000`), wantRPS: 2000, wantP999: 8000},
		{name: "non-zero grpc-status and payload mismatches are failures", out: "grpc noise on stderr\n" + line(4000, 7, 0, `"OK":3993,"UNAVAILABLE":5,"PAYLOAD_MISMATCH":2`),
			wantRPS: 2000, wantStatus: 7, wantP999: 8000},
		{name: "deadline exceeded is a timeout", out: line(10, 0, 3, `"OK":7,"DeadlineExceeded":3`), wantRPS: 5, wantTO: 3, wantP999: 8000},
		{name: "codes not adding up to requests is an error", out: line(4000, 0, 0, `"OK":3999`), wantErr: "add up"},
		{name: "failed calls missing from errors is an error", out: line(10, 0, 0, `"OK":7,"UNAVAILABLE":3`), wantErr: "without grpc-status 0"},
		{name: "negative count is an error", out: line(0, 1, 0, `"OK":1,"UNAVAILABLE":-1`), wantErr: "negative"},
		{name: "no report line is an error", out: "benchrun: grpc-load: connection refused\n", wantErr: "no \"BENCHRUN\" line"},
		{name: "corrupt report line is an error", out: "BENCHRUN {\"requests\":\n", wantErr: "report line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGRPCLoad(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.RPS != tt.wantRPS || got.Errors.Status != tt.wantStatus || got.Errors.Timeout != tt.wantTO || got.Latency.P999 != tt.wantP999 {
				t.Errorf("rps %.1f, errors %+v, p99.9 %.0f", got.RPS, got.Errors, got.Latency.P999)
			}
		})
	}
}

// grpc-load's own report must parse: the load client and its parser agree
// on the schema, and the counts it reports come from real calls.
func TestGRPCLoadCountsOnlyStatusZeroAsSuccess(t *testing.T) {
	backend, err := echo.Start(t.Context(), echo.Options{Name: "bench", FixedBodySize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	tests := []struct {
		name     string
		metadata []string
		timeout  time.Duration
		wantCode string
	}{
		{name: "echoed calls succeed", wantCode: "OK"},
		{name: "grpc-status 14 in the trailers is a failure", metadata: []string{echo.MetaCode, "14"}, wantCode: "Unavailable"},
		{name: "a call past its deadline is a timeout", metadata: []string{echo.MetaDelay, "1h"}, timeout: 20 * time.Millisecond, wantCode: "DeadlineExceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := grpcLoadArgs{Addr: backend.Addr(), Conns: 2, Streams: 3, Size: 64, Duration: 150 * time.Millisecond,
				Timeout: cmp.Or(tt.timeout, 5*time.Second), Metadata: tt.metadata}
			var out strings.Builder
			if err := grpcLoadMain(t.Context(), a.argv()[1:], &out); err != nil {
				t.Fatal(err)
			}
			got, err := parseGRPCLoad(out.String())
			if err != nil {
				t.Fatal(err)
			}
			if got.Requests < 6 || got.GRPCCodes[tt.wantCode] != got.Requests {
				t.Fatalf("%d calls, codes %v: want every call %s", got.Requests, got.GRPCCodes, tt.wantCode)
			}
			failed := got.Errors.Status + got.Errors.Timeout
			if (tt.wantCode == "OK") != (failed == 0) || (tt.wantCode != "OK" && failed != got.Requests) {
				t.Errorf("errors %+v for %d calls ending %s", got.Errors, got.Requests, tt.wantCode)
			}
			if tt.wantCode == "OK" && (got.Bytes != 64*got.Requests || got.Latency.P50 <= 0 || got.Latency.P999 < got.Latency.P50) {
				t.Errorf("bytes %d, latency %+v", got.Bytes, got.Latency)
			}
		})
	}
}

func TestGRPCLoadRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no address", []string{"--conns", "1"}},
		{"zero connections", []string{"--addr", "127.0.0.1:1", "--conns", "0"}},
		{"metadata without value", []string{"--addr", "127.0.0.1:1", "--metadata", "x-echo-delay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			if err := grpcLoadMain(t.Context(), tt.args, &out); err == nil {
				t.Fatalf("no error; output %q", out.String())
			}
		})
	}
}

func TestGRPCLoadArgvRoundTrips(t *testing.T) {
	a := grpcLoadArgs{Addr: "127.0.0.1:9", Conns: 10, Streams: 10, Size: 64, Duration: 5 * time.Second, Timeout: 10 * time.Second,
		Metadata: []string{"x-echo-delay", "1ms"}}
	want := []string{grpcLoadSubcommand, "--addr", "127.0.0.1:9", "--conns", "10", "--streams", "10", "--size", "64",
		"--duration", "5s", "--timeout", "10s", "--metadata", "x-echo-delay=1ms"}
	if got := a.argv(); !slices.Equal(got, want) {
		t.Errorf("argv %q, want %q", got, want)
	}
}
