package tracing

import (
	"context"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// newTracer returns a tracer whose exporter points at a port nothing
// listens on: gRPC connects lazily, so starting spans needs no collector,
// and the spans are dropped at shutdown.
func newTracer(t *testing.T, percent float64) *Tracer {
	t.Helper()
	m := NewManager("tenant-a/gw", nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		m.Shutdown(ctx)
	})
	tr, err := m.Tracer(&dpconfig.Tracing{SamplePercent: percent, OTLP: dpconfig.OTLPExporter{Protocol: dpconfig.OTLPGRPC, Endpoint: "127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func request(headers ...[2]string) *httpmsg.Request {
	r := &httpmsg.Request{Method: "GET", Scheme: "http", Authority: "a.example.com", Path: "/x"}
	for _, h := range headers {
		r.Header.Add(h[0], h[1])
	}
	return r
}

func TestSamplingDecision(t *testing.T) {
	sampledParent := [2]string{"traceparent", "00-" + tid + "-" + sid + "-01"}
	unsampledParent := [2]string{"traceparent", "00-" + tid + "-" + sid + "-00"}
	undecidedB3 := [2]string{"b3", tid + "-" + sid}
	tests := []struct {
		name    string
		percent float64
		headers [][2]string
		want    bool
	}{
		{"0% without a caller decision", 0, nil, false},
		{"100% without a caller decision", 100, nil, true},
		{"0% keeps a caller's sampled decision", 0, [][2]string{sampledParent}, true},
		{"100% keeps a caller's unsampled decision", 100, [][2]string{unsampledParent}, false},
		{"B3 without a decision defers to the ratio", 100, [][2]string{undecidedB3}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracer(t, tc.percent)
			rq := Start(tr, request(tc.headers...), time.Now())
			if rq.Sampled() != tc.want {
				t.Errorf("sampled = %v, want %v", rq.Sampled(), tc.want)
			}
			rq.End(&Finish{Status: 200, End: time.Now()})
		})
	}
}

func TestSamplingRatioIsApproximatelyKept(t *testing.T) {
	tr := newTracer(t, 10)
	n := 0
	const total = 20000
	for i := 0; i < total; i++ {
		if tr.sample() {
			n++
		}
	}
	// 10% of 20000 is 2000 with a standard deviation of ~42; 6σ bounds.
	if n < 1750 || n > 2250 {
		t.Errorf("%d of %d sampled at 10%%", n, total)
	}
}

func TestAttemptInjectsBothFormats(t *testing.T) {
	tr := newTracer(t, 0)
	r := request([2]string{"b3", tid + "-" + sid + "-1"}, [2]string{"tracestate", "vendor=x"})
	rq := Start(tr, r, time.Now())
	if !rq.Sampled() || rq.TraceID().String() != tid {
		t.Fatalf("sampled %v trace %s", rq.Sampled(), rq.TraceID())
	}
	a := rq.StartAttempt(&r.Header, "tenant-a/web/80", "127.0.0.1:80", time.Now())
	child := a.span.SpanContext().SpanID().String()
	server := rq.SpanID().String()
	for name, want := range map[string]string{
		"traceparent":       "00-" + tid + "-" + child + "-01",
		"x-b3-traceid":      tid,
		"x-b3-spanid":       child,
		"x-b3-parentspanid": server,
		"x-b3-sampled":      "1",
		"b3":                tid + "-" + child + "-1",
		"tracestate":        "vendor=x",
	} {
		if got, _ := r.Header.Lookup(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	a.End(503, nil, time.Now())
	rq.End(&Finish{Status: 503, End: time.Now()})
	if rq.Sampled() {
		t.Error("request still holds its span after End")
	}
}

func TestUnsampledRequestsDoNotAllocate(t *testing.T) {
	tr := newTracer(t, 0)
	r := request([2]string{"user-agent", "x"})
	n := testing.AllocsPerRun(1000, func() {
		rq := Start(tr, r, time.Time{})
		a := rq.StartAttempt(&r.Header, "c", "h", time.Time{})
		a.End(200, nil, time.Time{})
		rq.End(&Finish{})
	})
	if n != 0 {
		t.Errorf("%v allocations per unsampled request", n)
	}
}
