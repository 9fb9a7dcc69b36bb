package stats

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// noClusters is a Source of a proxy before its first configuration.
type noClusters struct{}

func (noClusters) Clusters(func(ClusterView)) {}
func (noClusters) Live() bool                 { return false }

func TestCollectorUsesEnvoyNamesAndLabels(t *testing.T) {
	s := New("tenant-a/gw")
	l := s.Listener("http-8080", "0.0.0.0:8080")
	l.ConnOpened()
	for _, code := range []int{200, 200, 503} {
		l.RequestStarted()
		l.RequestDone(code, 3*time.Millisecond)
	}
	r := s.Route("tenant-a/r/0")
	r.Observe("GET", 200, 2*time.Millisecond)
	r.Observe("BREW", 418, 2*time.Millisecond)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(s, noClusters{}))
	want := `
# HELP envoy_http_downstream_rq_xx Requests by response code class.
# TYPE envoy_http_downstream_rq_xx counter
envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="http-8080",envoy_response_code_class="1",response_code_class="1"} 0
envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="http-8080",envoy_response_code_class="2",response_code_class="2"} 2
envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="http-8080",envoy_response_code_class="3",response_code_class="3"} 0
envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="http-8080",envoy_response_code_class="4",response_code_class="4"} 0
envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="http-8080",envoy_response_code_class="5",response_code_class="5"} 1
# HELP envoy_listener_downstream_cx_total Total connections accepted.
# TYPE envoy_listener_downstream_cx_total counter
envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_8080"} 1
# HELP envoy_server_live 1 when the proxy serves a configuration.
# TYPE envoy_server_live gauge
envoy_server_live 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"envoy_http_downstream_rq_xx", "envoy_listener_downstream_cx_total", "envoy_server_live"); err != nil {
		t.Error(err)
	}
	out, err := testutil.CollectAndFormat(NewCollector(s, noClusters{}), expfmt.TypeTextPlain, "gateway_request_latency")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`gateway_request_latency_bucket{code="200",gateway="tenant-a/gw",method="GET",route="tenant-a/r/0",le="0.005"} 1`,
		`gateway_request_latency_count{code="418",gateway="tenant-a/gw",method="OTHER",route="tenant-a/r/0"} 1`,
		`gateway_request_latency_bucket{code="200",gateway="tenant-a/gw",method="GET",route="tenant-a/r/0",le="0.001"} 0`,
	} {
		if !strings.Contains(string(out), line) {
			t.Errorf("missing %s in\n%s", line, out)
		}
	}
}

func TestRouteSeriesStayBounded(t *testing.T) {
	r := New("g").Route("r")
	for code := 100; code < 600; code++ {
		r.Observe("GET", code, time.Millisecond)
	}
	n, overflow := 0, uint64(0)
	r.each(func(_ string, code int, s *latencySeries) {
		n++
		if code == -1 {
			overflow = s.h.snapshot().count
		}
	})
	if n != len(r.slots)+1 || overflow != 500-uint64(len(r.slots)) {
		t.Errorf("series = %d (overflow count %d), want %d slots + 1 overflow holding %d", n, overflow, len(r.slots), 500-len(r.slots))
	}
}

func TestHistogramBucketsAreEnvoys(t *testing.T) {
	h := newHistogram()
	for _, d := range []time.Duration{0, 500 * time.Microsecond, 501 * time.Microsecond, time.Hour, 2 * time.Hour} {
		h.Observe(d)
	}
	s := h.snapshot()
	// le=0.5ms holds 0 and 0.5ms (bounds are inclusive), le=1ms adds
	// 0.501ms, the last bound (1h) holds all but the 2h sample.
	if s.buckets[0] != 2 || s.buckets[1] != 3 || s.buckets[len(s.buckets)-1] != 4 || s.count != 5 {
		t.Errorf("buckets = %v count %d", s.buckets, s.count)
	}
	if q := s.quantileMs(0.5); q < 0.5 || q > 1 {
		t.Errorf("p50 = %v ms, want within (0.5, 1]", q)
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	s := New("g")
	l, r, c := s.Listener("l", "a:1"), s.Route("r"), s.Cluster("c")
	r.Observe("GET", 200, time.Millisecond) // claim the slot first
	c.Count(200)
	n := testing.AllocsPerRun(1000, func() {
		l.RequestStarted()
		l.RequestDone(200, time.Millisecond)
		r.Observe("GET", 200, time.Millisecond)
		c.Count(200)
		c.ObserveTime(time.Millisecond)
	})
	if n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

func TestRetainForgetsRemovedRoutesButKeepsNoRoute(t *testing.T) {
	s := New("g")
	s.Route("")
	s.Route("old")
	s.Route("kept")
	s.Cluster("gone")
	s.Retain(map[string]bool{}, map[string]bool{"kept": true})
	if len(s.routes) != 2 || s.routes["kept"] == nil || s.routes[""] == nil || len(s.clusters) != 0 {
		t.Errorf("routes %v clusters %v", s.routes, s.clusters)
	}
}
