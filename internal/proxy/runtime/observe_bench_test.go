package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ksgw/ksgw/internal/controlplane"
	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/accesslog"
	"github.com/ksgw/ksgw/internal/proxy/runtime"
	"github.com/ksgw/ksgw/internal/proxy/stats"
	"github.com/ksgw/ksgw/internal/proxy/tracing"
	"github.com/ksgw/ksgw/internal/resource"
	"github.com/ksgw/ksgw/internal/testing/echo"
	"github.com/ksgw/ksgw/internal/translate"
)

const benchConfig = `
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: gw, namespace: bench}
spec:
  hosts: ["*.bench.example.com"]
  ports: {http: %d}
%s
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: bench}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: %d}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: bench, labels: {app: web}}
spec: {containers: [{name: web, image: ksgw-echo}]}
status: {podIP: 127.0.0.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: web, namespace: bench}
spec: {hosts: [web.bench.example.com], http: [{route: [{destination: {host: web}}]}]}
`

// snapshotFor renders YAML through the real control-plane translators and
// decodes the result with the proxy's own decoders, as the xDS client does.
func snapshotFor(b *testing.B, yaml string) *dpconfig.Snapshot {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	r := controlplane.RenderDir(dir, resource.Options{}, translate.Options{})
	if p := r.Problems(); len(p) > 0 {
		b.Fatalf("problems: %v", p)
	}
	snap := &dpconfig.Snapshot{
		Listeners: map[string]*dpconfig.Listener{}, Routes: map[string]*dpconfig.RouteConfig{},
		Clusters: map[string]*dpconfig.Cluster{}, Endpoints: map[string]*dpconfig.ClusterLoadAssignment{},
		Secrets: map[string]*dpconfig.Secret{}, Versions: map[string]string{},
	}
	decoders := dpconfig.Decoders()
	for typeURL, rs := range r.XDS["bench/gw"].ByType() {
		for _, res := range rs {
			a, err := anypb.New(res)
			if err != nil {
				b.Fatal(err)
			}
			name, v, err := decoders[typeURL](a)
			if err != nil {
				b.Fatal(err)
			}
			switch v := v.(type) {
			case *dpconfig.Listener:
				snap.Listeners[name] = v
			case *dpconfig.RouteConfig:
				snap.Routes[name] = v
			case *dpconfig.Cluster:
				snap.Clusters[name] = v
			case *dpconfig.ClusterLoadAssignment:
				snap.Endpoints[name] = v
			case *dpconfig.Secret:
				snap.Secrets[name] = v
			}
		}
	}
	return snap
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// rawClient sends one prepared HTTP/1.1 request at a time on one
// keep-alive connection, so the client costs little next to the proxy.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
}

func dialRaw(b *testing.B, port int) *rawClient {
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		b.Fatal(err)
	}
	return &rawClient{conn: c, br: bufio.NewReaderSize(c, 64<<10),
		req: []byte("GET /items HTTP/1.1\r\nHost: web.bench.example.com\r\nUser-Agent: bench\r\n\r\n")}
}

func (c *rawClient) do() error {
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	n := -1
	status := ""
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if status == "" {
			status = string(line)
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(":")); ok && bytes.EqualFold(k, []byte("content-length")) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 || len(status) < 12 || status[9:12] != "200" {
		return fmt.Errorf("bad response %q (content-length %d)", status, n)
	}
	_, err := c.br.Discard(n)
	return err
}

// BenchmarkObservabilityOverhead measures the request path with metrics,
// tracing at 1% sampling (exported over OTLP/HTTP to a local sink) and the
// access log all on, against the same path with all three off, in the same
// run with the requests interleaved in blocks so both see the same machine.
// It reports ns per request of each and throughput_ratio = plain/observed
// (the bar: ≥ 0.90).
func BenchmarkObservabilityOverhead(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	backend, err := echo.Start(ctx, echo.Options{Addr: "127.0.0.1:0", FixedBodySize: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer backend.Close()
	_, bp, _ := net.SplitHostPort(backend.Addr())
	backendPort, _ := strconv.Atoi(bp)

	// The OTLP sink answers every export with an empty (valid)
	// ExportTraceServiceResponse.
	sink := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("content-type", "application/x-protobuf")
	})}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go sink.Serve(sl)
	defer sink.Close()

	plainPort, obsPort := freePort(b), freePort(b)
	plainSnap := snapshotFor(b, fmt.Sprintf(benchConfig, plainPort, "", backendPort))
	obsSnap := snapshotFor(b, fmt.Sprintf(benchConfig, obsPort,
		fmt.Sprintf("  tracing: {randomSamplingPercentage: 1, protocol: http, endpoint: %q}", sl.Addr().String()), backendPort))

	plain := runtime.New(runtime.Options{})
	tm := tracing.NewManager("bench/gw", nil)
	al := accesslog.New(io.Discard)
	alCtx, alStop := context.WithCancel(ctx)
	alDone := make(chan struct{})
	go func() { defer close(alDone); al.Run(alCtx) }()
	observed := runtime.New(runtime.Options{Stats: stats.New("bench/gw"), Tracing: tm, AccessLog: al})
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		plain.Shutdown(sctx)
		observed.Shutdown(sctx)
		tm.Shutdown(sctx)
		alStop()
		<-alDone
	}()
	if err := plain.Apply(ctx, plainSnap); err != nil {
		b.Fatal(err)
	}
	if err := observed.Apply(ctx, obsSnap); err != nil {
		b.Fatal(err)
	}
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			benchInterleaved(b, conns, plainPort, obsPort)
		})
	}
}

// benchInterleaved alternates blocks of requests to the plain and the
// observed proxy, each block sent over conns keep-alive connections at
// once, and reports both costs and their throughput ratio.
func benchInterleaved(b *testing.B, conns, plainPort, obsPort int) {
	pcs, ocs := make([]*rawClient, conns), make([]*rawClient, conns)
	for i := range pcs {
		pcs[i], ocs[i] = dialRaw(b, plainPort), dialRaw(b, obsPort)
		defer pcs[i].conn.Close()
		defer ocs[i].conn.Close()
		for j := 0; j < 100; j++ { // warm pools and caches
			if err := pcs[i].do(); err != nil {
				b.Fatal(err)
			}
			if err := ocs[i].do(); err != nil {
				b.Fatal(err)
			}
		}
	}
	phase := func(cs []*rawClient, n int) {
		errs := make(chan error, len(cs))
		for _, c := range cs {
			go func() {
				for i := 0; i < n; i++ {
					if err := c.do(); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range cs {
			if err := <-errs; err != nil {
				b.Error(err)
			}
		}
	}
	const perConnBlock = 16
	var plainTime, obsTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += perConnBlock * conns {
		n := max(1, min(perConnBlock, (b.N-done)/conns))
		start := time.Now()
		phase(pcs, n)
		mid := time.Now()
		phase(ocs, n)
		plainTime += mid.Sub(start)
		obsTime += time.Since(mid)
		if b.Failed() {
			return
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(plainTime.Nanoseconds())/float64(b.N), "plain-ns/req")
	b.ReportMetric(float64(obsTime.Nanoseconds())/float64(b.N), "observed-ns/req")
	b.ReportMetric(float64(plainTime)/float64(obsTime), "throughput_ratio")
}
