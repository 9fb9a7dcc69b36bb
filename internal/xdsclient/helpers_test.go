package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/xds/server"
)

const (
	node  = "tenant-a/gw"
	token = "token-a"
)

// Fake decoders: just enough of each resource to check ordering and
// make-before-break. A cluster named "bad-*" fails decoding.
func fakeDecoders() map[string]Decoder {
	return map[string]Decoder{
		ClusterType: func(a *anypb.Any) (string, any, error) {
			var c cluster.Cluster
			if err := a.UnmarshalTo(&c); err != nil {
				return "", nil, err
			}
			if strings.HasPrefix(c.GetName(), "bad-") {
				return c.GetName(), nil, errors.New("lb_policy: CLUSTER_PROVIDED is not supported")
			}
			return c.GetName(), &dpconfig.Cluster{Name: c.GetName()}, nil
		},
		EndpointType: func(a *anypb.Any) (string, any, error) {
			var c endpoint.ClusterLoadAssignment
			if err := a.UnmarshalTo(&c); err != nil {
				return "", nil, err
			}
			return c.GetClusterName(), &dpconfig.ClusterLoadAssignment{ClusterName: c.GetClusterName()}, nil
		},
		SecretType: func(a *anypb.Any) (string, any, error) {
			var s tlsv3.Secret
			if err := a.UnmarshalTo(&s); err != nil {
				return "", nil, err
			}
			return s.GetName(), &dpconfig.Secret{Name: s.GetName()}, nil
		},
		ListenerType: func(a *anypb.Any) (string, any, error) {
			var l listener.Listener
			if err := a.UnmarshalTo(&l); err != nil {
				return "", nil, err
			}
			return l.GetName(), &dpconfig.Listener{Name: l.GetName()}, nil
		},
		RouteType: func(a *anypb.Any) (string, any, error) {
			var rc route.RouteConfiguration
			if err := a.UnmarshalTo(&rc); err != nil {
				return "", nil, err
			}
			ra := &dpconfig.RouteAction{}
			for _, wc := range rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters().GetClusters() {
				ra.Clusters = append(ra.Clusters, dpconfig.WeightedCluster{Name: wc.GetName(), Weight: 1})
			}
			return rc.GetName(), &dpconfig.RouteConfig{Name: rc.GetName(), VirtualHosts: []*dpconfig.VirtualHost{{
				Name: "all", Routes: []*dpconfig.Route{{Name: "r", Forward: ra}},
			}}}, nil
		},
	}
}

// strictApplier refuses a snapshot whose routes name a missing cluster, as
// a runtime that must never answer 503 "cluster not found" would, and any
// cluster named "reject-*". It records what it applied.
type strictApplier struct {
	mu      sync.Mutex
	applied []*dpconfig.Snapshot
	errs    []error
}

func (a *strictApplier) Apply(_ context.Context, s *dpconfig.Snapshot) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := func() error {
		for name := range s.Clusters {
			if strings.HasPrefix(name, "reject-") {
				return fmt.Errorf("cluster %s: upstream TLS context cannot be built", name)
			}
		}
		for _, rc := range s.Routes {
			for _, vh := range rc.VirtualHosts {
				for _, r := range vh.Routes {
					for _, wc := range r.Forward.Clusters {
						if _, ok := s.Clusters[wc.Name]; !ok {
							return fmt.Errorf("route_configuration %s: cluster %s not found", rc.Name, wc.Name)
						}
					}
				}
			}
		}
		return nil
	}()
	if err != nil {
		a.errs = append(a.errs, err)
		return err
	}
	a.applied = append(a.applied, s)
	return nil
}

func (a *strictApplier) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.applied)
}

func (a *strictApplier) errors() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.errs...)
}

// changedTypes lists, for each applied snapshot, the type whose version
// changed.
func (a *strictApplier) changedTypes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	prev := map[string]string{}
	for _, s := range a.applied {
		for t, v := range s.Versions {
			if prev[t] != v {
				out = append(out, shortType(t))
			}
		}
		prev = s.Versions
	}
	return out
}

type fakeResources struct {
	byType   map[string][]types.Resource
	versions map[string]string
}

func (f fakeResources) ByType() map[string][]types.Resource { return f.byType }
func (f fakeResources) Version(t string) string             { return f.versions[t] }

// gateway: one listener and route "http-80" spreading traffic over
// clusters, a secret, one cluster and assignment per name.
func gateway(clusters ...string) fakeResources {
	var cs, es []types.Resource
	wc := &route.WeightedCluster{}
	for _, c := range clusters {
		cs = append(cs, &cluster.Cluster{Name: c})
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
			ClusterType:  cs,
			EndpointType: es,
			SecretType:   {&tlsv3.Secret{Name: "tenant-a/cert"}},
			ListenerType: {&listener.Listener{Name: "http-80"}},
			RouteType:    {rc},
		},
		versions: map[string]string{ClusterType: v, EndpointType: v, SecretType: "s1", ListenerType: "l1", RouteType: v},
	}
}

var quiet = slog.New(slog.DiscardHandler)

func newServer(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.New(server.Options{
		Authenticator: server.NewTokenAuthenticator(map[string]string{node: token}),
		RemovalGrace:  time.Minute, // make-before-break must be ACK-driven here
		Logger:        quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve runs s on lis and returns a function stopping it.
func serve(t *testing.T, s *server.Server, lis net.Listener) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
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
	}
	t.Cleanup(stop)
	return stop
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// runClient starts a client against addr and stops it at cleanup,
// checking that Run returns.
func runClient(t *testing.T, addr string, app Applier) *Client {
	t.Helper()
	c, err := New(Options{
		Server: addr, NodeID: node, Token: token,
		Decoders: fakeDecoders(), Applier: app,
		Backoff: Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		Logger:  quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func update(t *testing.T, s *server.Server, nr server.NodeResources) {
	t.Helper()
	if err := s.Update(ctxT(t), map[string]server.NodeResources{node: nr}); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond: client and server state changes have no event a
// test could subscribe to.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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
			time.Sleep(10 * time.Millisecond)
		}
	})
}
