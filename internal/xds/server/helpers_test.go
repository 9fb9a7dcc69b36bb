package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// fakeResources is a NodeResources whose version per type is given.
type fakeResources struct {
	byType   map[string][]types.Resource
	versions map[string]string
}

func (f fakeResources) ByType() map[string][]types.Resource { return f.byType }
func (f fakeResources) Version(t string) string             { return f.versions[t] }

// gateway builds a node whose single route "http-80" sends everything to
// each of clusters (weighted), with one cluster and assignment per name.
// Versions derive from the names, as content hashes would.
func gateway(clusters ...string) fakeResources {
	var cs, es []types.Resource
	wc := &route.WeightedCluster{}
	for _, c := range clusters {
		cs = append(cs, &cluster.Cluster{Name: c, ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS}})
		es = append(es, &endpoint.ClusterLoadAssignment{ClusterName: c})
		wc.Clusters = append(wc.Clusters, &route.WeightedCluster_ClusterWeight{Name: c})
	}
	rc := &route.RouteConfiguration{Name: "http-80", VirtualHosts: []*route.VirtualHost{{
		Name: "all", Domains: []string{"*"},
		Routes: []*route.Route{{
			Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_WeightedClusters{WeightedClusters: wc}}},
		}},
	}}}
	v := "v-" + strings.Join(clusters, "+")
	return fakeResources{
		byType: map[string][]types.Resource{
			resource.ClusterType:  cs,
			resource.EndpointType: es,
			resource.RouteType:    {rc},
		},
		versions: map[string]string{resource.ClusterType: v, resource.EndpointType: v, resource.RouteType: v},
	}
}

// startServer serves s on a loopback port until the test ends.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return lis.Addr().String()
}

func newTestServer(t *testing.T, auth Authenticator, grace time.Duration) *Server {
	t.Helper()
	s, err := New(Options{Authenticator: auth, RemovalGrace: grace, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// adsStream is a raw SotW ADS stream driven by the test.
type adsStream struct {
	t *testing.T
	s discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

func openADS(ctx context.Context, t *testing.T, conn *grpc.ClientConn, token string) *adsStream {
	t.Helper()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &adsStream{t: t, s: s}
}

func (a *adsStream) send(node, typeURL, version, nonce string) {
	a.t.Helper()
	req := &discovery.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce}
	if node != "" {
		req.Node = &core.Node{Id: node}
	}
	if err := a.s.Send(req); err != nil {
		a.t.Fatalf("send: %v", err)
	}
}

func (a *adsStream) recv() *discovery.DiscoveryResponse {
	a.t.Helper()
	r, err := a.s.Recv()
	if err != nil {
		a.t.Fatalf("recv: %v", err)
	}
	return r
}

func (a *adsStream) ack(r *discovery.DiscoveryResponse) {
	a.send("", r.GetTypeUrl(), r.GetVersionInfo(), r.GetNonce())
}

// names lists the resource names of a response, decoding just enough.
func names(t *testing.T, r *discovery.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range r.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		switch v := m.(type) {
		case *cluster.Cluster:
			out = append(out, v.GetName())
		case *endpoint.ClusterLoadAssignment:
			out = append(out, v.GetClusterName())
		case *route.RouteConfiguration:
			for _, wc := range v.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters().GetClusters() {
				out = append(out, "->"+wc.GetName())
			}
		default:
			out = append(out, fmt.Sprintf("%T", m))
		}
	}
	return out
}

// checkGoroutines fails the test if goroutines started during it are still
// running once its cleanups ran. Register it first so it runs last.
func checkGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d running, %d at start\n%s", runtime.NumGoroutine(), base, buf[:n])
				return
			}
			// Exiting goroutines give no event to wait on.
			time.Sleep(10 * time.Millisecond)
		}
	})
}
