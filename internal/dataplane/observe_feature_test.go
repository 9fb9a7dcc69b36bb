package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/testing/echo"
	"github.com/ksgw/ksgw/internal/xdsclient"
)

// TestStatsCountEveryUpstreamAttempt pins how retries show in Envoy's
// statistics: each attempt is one upstream_rq_<code> and one
// upstream_rq_time sample, the client's request is one downstream request
// and one gateway_request_latency sample.
func TestStatsCountEveryUpstreamAttempt(t *testing.T) {
	b := backend(t, "b")
	h := start(t)
	r := routeTo("/", "b")
	r.GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx", NumRetries: wrapperspb.UInt32(2)}
	h.push(resources{
		xdsclient.ListenerType: {listener(t, h.port)},
		xdsclient.RouteType:    {routes(r)},
		xdsclient.ClusterType:  {cluster("b")},
		xdsclient.EndpointType: {assignment("b", b.Addr())},
	})
	eventually(t, func() error {
		code, _, err := h.get("/warm")
		if err != nil || code != 200 {
			return fmt.Errorf("GET /warm = %d %v", code, err)
		}
		return nil
	})
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/fail", h.port), nil)
	req.Header.Set(echo.HeaderStatus, "503")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want the upstream's 503 after the retries", resp.StatusCode)
	}

	sresp, err := http.Get(h.admin + "/stats/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	b2, err := io.ReadAll(sresp.Body)
	sresp.Body.Close()
	code, body := sresp.StatusCode, string(b2)
	if err != nil || code != 200 {
		t.Fatalf("/stats/prometheus = %d %v", code, err)
	}
	for _, line := range []string{
		`envoy_cluster_upstream_rq{envoy_cluster_name="b",envoy_response_code="200"} 1`,
		`envoy_cluster_upstream_rq{envoy_cluster_name="b",envoy_response_code="503"} 3`,
		`envoy_cluster_upstream_rq_retry{envoy_cluster_name="b"} 2`,
		`envoy_cluster_upstream_rq_total{envoy_cluster_name="b"} 4`,
		`envoy_cluster_upstream_rq_time_count{envoy_cluster_name="b"} 4`,
		`envoy_cluster_upstream_rq_xx{envoy_cluster_name="b",envoy_response_code_class="5",response_code_class="5"} 3`,
		`envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="http",envoy_response_code_class="5",response_code_class="5"} 1`,
		`envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="http"} 2`,
		`gateway_request_latency_count{code="503",gateway="t/gw",method="GET",route="to-b"} 1`,
		`envoy_cluster_membership_healthy{envoy_cluster_name="b"} 1`,
		`envoy_server_live 1`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("missing %s", line)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", body)
	}
}
