package translate

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/ir"
)

const testCluster = "ns/svc/80"

func svcCluster(name string) *ir.Cluster {
	return &ir.Cluster{Name: name, Source: ir.ObjectRef{Kind: "Service", Namespace: "ns", Name: "svc"}}
}

// fwd is a route forwarding every path to testCluster.
func fwd(name string) *ir.Route {
	return &ir.Route{
		Name:    name,
		Source:  ir.ObjectRef{Kind: "Route", Namespace: "ns", Name: "r"},
		Match:   ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/"}},
		Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: testCluster, Weight: 1}}},
	}
}

// oneRoute is a gateway with one plaintext listener "http-8080", one
// catch-all virtual host holding r, and testCluster plus extra clusters.
func oneRoute(r *ir.Route, extra ...*ir.Cluster) *ir.Gateway {
	return &ir.Gateway{
		Name: "ns/gw",
		Listeners: []*ir.Listener{{Name: "http-8080", Port: 8080, VirtualHosts: []*ir.VirtualHost{
			{Name: "all", Domains: []string{"*"}, Routes: []*ir.Route{r}},
		}}},
		Clusters: append([]*ir.Cluster{svcCluster(testCluster)}, extra...),
	}
}

func mustTranslate(t testing.TB, gw *ir.Gateway) *Resources {
	t.Helper()
	r, err := Translate(gw)
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	return r
}

func find[T interface {
	proto.Message
	GetName() string
}](t testing.TB, list []types.Resource, name string) T {
	t.Helper()
	for _, r := range list {
		if v, ok := r.(T); ok && v.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no resource %q", name)
	return zero
}

func routeConfigOf(t testing.TB, r *Resources, name string) *routev3.RouteConfiguration {
	return find[*routev3.RouteConfiguration](t, r.Routes, name)
}

func listenerOf(t testing.TB, r *Resources, name string) *listenerv3.Listener {
	return find[*listenerv3.Listener](t, r.Listeners, name)
}

func clusterOf(t testing.TB, r *Resources, name string) *clusterv3.Cluster {
	return find[*clusterv3.Cluster](t, r.Clusters, name)
}

// firstRoute is the only route of oneRoute's gateway.
func firstRoute(t testing.TB, r *Resources) *routev3.Route {
	t.Helper()
	return routeConfigOf(t, r, "http-8080").GetVirtualHosts()[0].GetRoutes()[0]
}

func unpack[T proto.Message](t testing.TB, a *anypb.Any, into T) T {
	t.Helper()
	if err := a.UnmarshalTo(into); err != nil {
		t.Fatalf("unpack %s: %v", a.GetTypeUrl(), err)
	}
	return into
}

// assertProto compares with proto.Equal and shows both sides as JSON.
func assertProto(t testing.TB, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		o := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}
		t.Errorf("got:\n%s\nwant:\n%s", o.Format(got), o.Format(want))
	}
}

// assertProxyAccepts runs every resource but secrets (tests use no real key
// pairs) through the proxy's decoders: the contract's other side.
func assertProxyAccepts(t testing.TB, r *Resources) {
	t.Helper()
	dec := dpconfig.Decoders()
	for typeURL, list := range r.ByType() {
		if typeURL == dpconfig.SecretTypeURL {
			continue
		}
		for _, res := range list {
			a, err := anypb.New(res)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := dec[typeURL](a); err != nil {
				t.Errorf("the proxy rejects %s %q: %v", kindOf(typeURL), nameOf(res), err)
			}
		}
	}
}
