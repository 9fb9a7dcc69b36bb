package dataplane

// Feature tests in Contour's style: a real ADS server, a real proxy (xDS
// client, runtime, engine) over loopback, hand-written Envoy resources, and
// real requests to a real echo backend. They pin the data plane's behaviour
// to the xDS contract independently of the control plane's translators.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ksgw/ksgw/internal/testing/echo"
	xdsserver "github.com/ksgw/ksgw/internal/xds/server"
	"github.com/ksgw/ksgw/internal/xdsclient"
)

// resources is a NodeResources built by hand.
type resources map[string][]types.Resource

func (r resources) ByType() map[string][]types.Resource { return r }

func (r resources) Version(typeURL string) string {
	h := sha256.New()
	for _, res := range r[typeURL] {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(res)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

func listener(t testing.TB, port int) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     "http",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "http", ConfigSource: ads()}},
		HttpFilters:    []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}}},
		UpgradeConfigs: []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
	}
	return &listenerv3.Listener{
		Name:    "http",
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, hcm)},
		}}}},
	}
}

func cluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
		ConnectTimeout:       durationpb.New(time.Second),
	}
}

func assignment(name string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{}}}
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		var p uint32
		fmt.Sscan(port, &p)
		cla.Endpoints[0].LbEndpoints = append(cla.Endpoints[0].LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: p}},
			}}}},
			HealthStatus: corev3.HealthStatus_HEALTHY,
		})
	}
	return cla
}

func routeTo(prefix, cluster string) *routev3.Route {
	return &routev3.Route{
		Name:   "to-" + cluster,
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}, Timeout: durationpb.New(0)}},
	}
}

func routes(rs ...*routev3.Route) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: "http", VirtualHosts: []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: rs}}}
}

type harness struct {
	t      *testing.T
	srv    *xdsserver.Server
	port   int
	admin  string
	cancel context.CancelFunc
	done   chan error
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T) *harness {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	srv, err := xdsserver.New(xdsserver.Options{Authenticator: xdsserver.AllowAll(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ctx, lis) }()
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, port: freePort(t), admin: "http://" + admin.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	pctx, pcancel := context.WithCancel(context.Background())
	go func() {
		h.done <- Run(pctx, Options{XDSServer: lis.Addr().String(), NodeID: "t/gw", AdminListener: admin, DrainTimeout: 2 * time.Second, Logger: log})
	}()
	t.Cleanup(func() {
		pcancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("proxy: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("proxy did not stop within 10s")
		}
		cancel()
		<-srvDone
	})
	return h
}

func (h *harness) push(r resources) {
	h.t.Helper()
	if err := h.srv.Update(context.Background(), map[string]xdsserver.NodeResources{"t/gw": r}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) get(path string) (int, string, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", h.port, path))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func eventually(t *testing.T, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func backend(t *testing.T, name string) *echo.Server {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := echo.Start(ctx, echo.Options{Name: name, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); cancel() })
	return s
}

func TestProxyAppliesXDSAndForwards(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	h := start(t)
	h.push(resources{
		xdsclient.ListenerType: {listener(t, h.port)},
		xdsclient.RouteType:    {routes(routeTo("/b", "b"), routeTo("/", "a"))},
		xdsclient.ClusterType:  {cluster("a"), cluster("b")},
		xdsclient.EndpointType: {assignment("a", a.Addr()), assignment("b", b.Addr())},
	})
	eventually(t, func() error {
		code, body, err := h.get("/b/x")
		if err != nil || code != 200 || !strings.Contains(body, `"name":"b"`) {
			return fmt.Errorf("GET /b/x = %d %q %v", code, body, err)
		}
		return nil
	})
	if code, body, _ := h.get("/other"); code != 200 || !strings.Contains(body, `"name":"a"`) {
		t.Fatalf("GET /other = %d %q", code, body)
	}

	// A route with an invalid regex is NACKed: the previous routes keep
	// serving and the server sees the reason.
	bad := routes(&routev3.Route{Name: "bad", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/(["}}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "a"}}}})
	h.push(resources{
		xdsclient.ListenerType: {listener(t, h.port)},
		xdsclient.RouteType:    {bad},
		xdsclient.ClusterType:  {cluster("a"), cluster("b")},
		xdsclient.EndpointType: {assignment("a", a.Addr()), assignment("b", b.Addr())},
	})
	eventually(t, func() error {
		n := h.srv.Stats().Nodes["t/gw"].LastNACK[xdsclient.RouteType]
		if !strings.Contains(n.Detail, "invalid regex") {
			return fmt.Errorf("no NACK with the reason yet: %+v", n)
		}
		return nil
	})
	if code, body, _ := h.get("/b/y"); code != 200 || !strings.Contains(body, `"name":"b"`) {
		t.Fatalf("after a NACK, GET /b/y = %d %q; the last good config must keep serving", code, body)
	}

	// Endpoint-only change: b's traffic moves to a's address.
	h.push(resources{
		xdsclient.ListenerType: {listener(t, h.port)},
		xdsclient.RouteType:    {routes(routeTo("/b", "b"), routeTo("/", "a"))},
		xdsclient.ClusterType:  {cluster("a"), cluster("b")},
		xdsclient.EndpointType: {assignment("a", a.Addr()), assignment("b", a.Addr())},
	})
	eventually(t, func() error {
		code, body, err := h.get("/b/z")
		if err != nil || code != 200 || !strings.Contains(body, `"name":"a"`) {
			return fmt.Errorf("GET /b/z = %d %q %v, want backend a", code, body, err)
		}
		return nil
	})

	// Admin pages.
	for _, p := range []string{"/ready", "/config_dump", "/clusters", "/stats/prometheus"} {
		resp, err := http.Get(h.admin + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("admin %s: %d %s", p, resp.StatusCode, body)
		}
		switch p {
		case "/config_dump":
			if !strings.Contains(string(body), "ListenersConfigDump") || !strings.Contains(string(body), `"to-b"`) {
				t.Errorf("config_dump lacks the listener or routes:\n%.2000s", body)
			}
		case "/stats/prometheus":
			if !strings.Contains(string(body), `envoy_cluster_upstream_rq_total{envoy_cluster_name="b"}`) {
				t.Errorf("prometheus output lacks cluster b:\n%.2000s", body)
			}
		}
	}
}

func TestRouteToUnknownClusterAnswers503(t *testing.T) {
	a := backend(t, "a")
	h := start(t)
	h.push(resources{
		xdsclient.ListenerType: {listener(t, h.port)},
		xdsclient.RouteType:    {routes(routeTo("/ghost", "ghost"), routeTo("/", "a"))},
		xdsclient.ClusterType:  {cluster("a")},
		xdsclient.EndpointType: {assignment("a", a.Addr())},
	})
	eventually(t, func() error {
		code, _, err := h.get("/")
		if err != nil || code != 200 {
			return fmt.Errorf("GET / = %d %v", code, err)
		}
		return nil
	})
	if code, body, _ := h.get("/ghost"); code != 503 || !strings.Contains(body, "cluster not found") {
		t.Fatalf("GET /ghost = %d %q, want 503 cluster not found", code, body)
	}
}
