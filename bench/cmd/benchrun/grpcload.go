package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

// The gRPC unary half of scenario 4. No packaged load generator both
// speaks gRPC and checks grpc-status (h2load POSTs a framed body but only
// counts HTTP status codes, and grpc-status arrives in the trailers), so
// benchrun carries a small one, ghz-like: `benchrun grpc-load` opens Conns
// HTTP/2 connections (one grpc.ClientConn each, so one TCP connection) and
// keeps Streams unary calls in flight on each, every call the echo
// backend's ksgw.echo.v1.Echo/Unary with a Size-byte payload. A call counts
// as done when it returns; it succeeded only with grpc-status 0 and the
// payload echoed back whole. benchrun runs it as its own process pinned to
// the client core, like wrk, so the same client measures every proxy.

// grpcLoadSubcommand is argv[1] that turns benchrun into the load client.
const grpcLoadSubcommand = "grpc-load"

// grpcLoadArgs is one run of the load client.
type grpcLoadArgs struct {
	Addr     string        // host:port, plain-text HTTP/2 (prior knowledge)
	Conns    int           // connections
	Streams  int           // calls in flight per connection
	Size     int           // request (and echoed response) payload bytes
	Duration time.Duration // how long new calls are started
	Timeout  time.Duration // per-call deadline, like wrk's --timeout
	// Metadata is sent with every call (key, value pairs), like ghz's
	// --metadata; the echo backend's x-echo-* keys steer it.
	Metadata []string
}

func (a grpcLoadArgs) argv() []string {
	out := []string{grpcLoadSubcommand, "--addr", a.Addr, "--conns", strconv.Itoa(a.Conns), "--streams", strconv.Itoa(a.Streams),
		"--size", strconv.Itoa(a.Size), "--duration", a.Duration.String(), "--timeout", a.Timeout.String()}
	for i := 0; i+1 < len(a.Metadata); i += 2 {
		out = append(out, "--metadata", a.Metadata[i]+"="+a.Metadata[i+1])
	}
	return out
}

// metadataFlag collects repeated --metadata key=value flags.
type metadataFlag struct{ kv *[]string }

func (m metadataFlag) String() string {
	if m.kv == nil {
		return ""
	}
	return strings.Join(*m.kv, ",")
}

func (m metadataFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("metadata %q: want key=value", s)
	}
	*m.kv = append(*m.kv, strings.ToLower(k), v)
	return nil
}

// grpcPayloadMismatch is the pseudo status of an OK answer whose payload is
// not the request's: failed like a non-zero grpc-status.
const grpcPayloadMismatch = "PAYLOAD_MISMATCH"

// grpcLoadMain is `benchrun grpc-load`: one run, then the result on stdout
// as a BENCHRUN line in wrkResult's schema (with grpc_codes).
func grpcLoadMain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(grpcLoadSubcommand, flag.ContinueOnError)
	var a grpcLoadArgs
	fs.StringVar(&a.Addr, "addr", "", "host:port of the proxy (h2c)")
	fs.IntVar(&a.Conns, "conns", 10, "HTTP/2 connections")
	fs.IntVar(&a.Streams, "streams", 10, "concurrent calls per connection")
	fs.IntVar(&a.Size, "size", 64, "payload bytes")
	fs.DurationVar(&a.Duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&a.Timeout, "timeout", 10*time.Second, "per-call deadline")
	fs.Var(metadataFlag{&a.Metadata}, "metadata", "key=value sent with every call (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if a.Addr == "" || a.Conns < 1 || a.Streams < 1 || a.Size < 0 || a.Duration <= 0 || a.Timeout <= 0 {
		return fmt.Errorf("%s: want --addr, --conns ≥ 1, --streams ≥ 1, --size ≥ 0, --duration and --timeout > 0", grpcLoadSubcommand)
	}
	res, err := grpcLoad(ctx, a)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s%s\n", reportPrefix, b)
	return err
}

// grpcLoad runs the calls. Latencies are kept whole (a few MB at most) so
// the percentiles are exact, as report.lua's are for wrk.
func grpcLoad(ctx context.Context, a grpcLoadArgs) (wrkResult, error) {
	conns := make([]*grpc.ClientConn, a.Conns)
	defer func() {
		for _, cc := range conns {
			if cc != nil {
				cc.Close()
			}
		}
	}()
	for i := range conns {
		cc, err := grpc.NewClient("passthrough:///"+a.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return wrkResult{}, err
		}
		conns[i] = cc
		if err := awaitReady(ctx, cc, 10*time.Second); err != nil {
			return wrkResult{}, fmt.Errorf("connection %d to %s: %w", i, a.Addr, err)
		}
	}
	if len(a.Metadata) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, a.Metadata...)
	}
	payload := make([]byte, a.Size)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}

	// One worker per stream; each owns its latencies and counts, merged
	// after the join below.
	type tally struct {
		lat   []float64 // µs
		codes map[string]int64
	}
	tallies := make([]tally, a.Conns*a.Streams)
	start := time.Now()
	end := start.Add(a.Duration)
	var wg sync.WaitGroup
	for w := range tallies {
		c := echo.NewGRPCClient(conns[w%a.Conns])
		t := &tallies[w]
		t.codes = map[string]int64{}
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				cctx, cancel := context.WithTimeout(ctx, a.Timeout)
				t0 := time.Now()
				got, err := c.Unary(cctx, payload)
				el := time.Since(t0)
				cancel()
				if ctx.Err() != nil {
					return // interrupted: the call did not fail on its own
				}
				code := status.Code(err).String()
				if err == nil && len(got) != len(payload) {
					code = grpcPayloadMismatch
				}
				t.codes[code]++
				t.lat = append(t.lat, float64(el.Microseconds()))
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return wrkResult{}, err
	}
	elapsed := time.Since(start)

	var (
		res wrkResult
		lat []float64
	)
	res.GRPCCodes = map[string]int64{}
	for _, t := range tallies {
		lat = append(lat, t.lat...)
		for c, n := range t.codes {
			res.GRPCCodes[c] += n
		}
	}
	res.Requests = int64(len(lat))
	res.DurationUS = elapsed.Microseconds()
	res.Bytes = res.GRPCCodes[codes.OK.String()] * int64(a.Size)
	for c, n := range res.GRPCCodes {
		switch c {
		case codes.OK.String():
		case codes.DeadlineExceeded.String():
			res.Errors.Timeout += n
		default:
			res.Errors.Status += n
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		var sum, sq float64
		for _, v := range lat {
			sum += v
		}
		mean := sum / float64(len(lat))
		for _, v := range lat {
			sq += (v - mean) * (v - mean)
		}
		res.Latency.Min, res.Latency.Max, res.Latency.Mean = lat[0], lat[len(lat)-1], mean
		res.Latency.Stdev = math.Sqrt(sq / float64(len(lat)))
		res.Latency.P50, res.Latency.P90 = percentile(lat, 50), percentile(lat, 90)
		res.Latency.P99, res.Latency.P999 = percentile(lat, 99), percentile(lat, 99.9)
	}
	return res, nil
}

// awaitReady connects cc and waits until it is READY: the load must not
// start with connection setup in the measured calls.
func awaitReady(ctx context.Context, cc *grpc.ClientConn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cc.Connect()
	for {
		s := cc.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !cc.WaitForStateChange(ctx, s) {
			return fmt.Errorf("not ready after %v (state %s)", timeout, s)
		}
	}
}

// runGRPCLoad runs `benchrun grpc-load` pinned to the client core.
func runGRPCLoad(ctx context.Context, cfg config, sc scenario, addr string, d time.Duration) (wrkResult, error) {
	self, err := os.Executable()
	if err != nil {
		return wrkResult{}, err
	}
	a := grpcLoadArgs{Addr: addr, Conns: sc.Conns, Streams: sc.Streams, Size: sc.BodySize, Duration: d, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d+40*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "taskset", append([]string{"-c", cfg.clientCPU, self}, a.argv()...)...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return wrkResult{}, fmt.Errorf("%s: %w\n%s%s", grpcLoadSubcommand, err, out, stderr.String())
	}
	return parseGRPCLoad(string(out))
}

// parseGRPCLoad reads grpc-load's BENCHRUN line and checks that its counts
// add up: every done call has a code, and every code other than OK is
// counted as an error.
func parseGRPCLoad(out string) (wrkResult, error) {
	var (
		res   wrkResult
		found bool
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, reportPrefix); ok {
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				return wrkResult{}, fmt.Errorf("%s report line: %w", grpcLoadSubcommand, err)
			}
			found = true
		}
	}
	if !found {
		return wrkResult{}, fmt.Errorf("%s output has no %q line:\n%s", grpcLoadSubcommand, strings.TrimSpace(reportPrefix), out)
	}
	var total, failed int64
	for c, n := range res.GRPCCodes {
		if n < 0 {
			return wrkResult{}, fmt.Errorf("%s: negative count %d for %s", grpcLoadSubcommand, n, c)
		}
		total += n
		if c != codes.OK.String() {
			failed += n
		}
	}
	switch {
	case total != res.Requests:
		return wrkResult{}, fmt.Errorf("%s: grpc_codes add up to %d calls, requests says %d", grpcLoadSubcommand, total, res.Requests)
	case failed != res.Errors.Status+res.Errors.Timeout:
		return wrkResult{}, fmt.Errorf("%s: %d calls without grpc-status 0, errors say %d", grpcLoadSubcommand, failed, res.Errors.Status+res.Errors.Timeout)
	case res.DurationUS <= 0 && res.Requests > 0:
		return wrkResult{}, fmt.Errorf("%s: %d calls in no time", grpcLoadSubcommand, res.Requests)
	}
	if res.DurationUS > 0 {
		res.RPS = float64(res.Requests) / (float64(res.DurationUS) / 1e6)
	}
	return res, nil
}

// waitGRPCReady calls Unary through addr until one call succeeds: the HTTP
// readiness probe does not apply (nginx's plain-text HTTP/2 listener speaks
// no HTTP/1.1).
func waitGRPCReady(ctx context.Context, addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	c := echo.NewGRPCClient(cc)
	last := errors.New("no call yet")
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		_, err := c.Unary(cctx, []byte("ready"), grpc.WaitForReady(false))
		ccancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-exited:
			return errors.New("process exited before becoming ready")
		case <-ctx.Done():
			return fmt.Errorf("gRPC %s not ready after %v: %w", addr, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
