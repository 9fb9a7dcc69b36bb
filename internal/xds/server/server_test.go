package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const node = "tenant-a/gw"

func mustState(t *testing.T, nr NodeResources) state {
	t.Helper()
	st, err := toState(nr)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sortedNames(ts typeSet) []string {
	var out []string
	for n := range ts.items {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func TestNextStep(t *testing.T) {
	a, b, ab := mustState(t, gateway("a")), mustState(t, gateway("b")), mustState(t, gateway("a", "b"))
	tests := []struct {
		name         string
		published    state
		target       state
		wantKind     stepKind
		wantClusters []string
		wantRoute    string // version of the published route config
	}{
		{"identical state is done", a, mustState(t, gateway("a")), stepDone, []string{"a"}, "v-a"},
		{"route moving to a new cluster first adds the cluster, routes unchanged", a, b, stepMake, []string{"a", "b"}, "v-a"},
		// A proxy may still run an older configuration (control plane
		// restart): an interim step without routes would close its listeners.
		{"first publish is the whole target", state{}, a, stepBreak, []string{"a"}, "v-a"},
		{"route dropping a cluster switches routes, keeping the cluster", ab, a, stepSwitch, []string{"a", "b"}, "v-a"},
		{"route narrowing to an existing cluster switches first", ab, b, stepSwitch, []string{"a", "b"}, "v-b"},
		{"only dependencies change: published as is", mustState(t, gateway("a")), withVersion(t, gateway("a"), resource.ClusterType, "v-a2"), stepBreak, []string{"a"}, "v-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, kind := nextStep(tt.published, tt.target)
			if kind != tt.wantKind {
				t.Fatalf("step = %v, want %v", kind, tt.wantKind)
			}
			if c := sortedNames(got[resource.ClusterType]); !slices.Equal(c, tt.wantClusters) {
				t.Errorf("clusters = %v, want %v", c, tt.wantClusters)
			}
			if v := got[resource.RouteType].version; v != tt.wantRoute {
				t.Errorf("route version = %q, want %q", v, tt.wantRoute)
			}
		})
	}
}

func withVersion(t *testing.T, f fakeResources, typeURL, v string) state {
	t.Helper()
	f.versions = map[string]string{resource.ClusterType: f.versions[resource.ClusterType], resource.EndpointType: f.versions[resource.EndpointType], resource.RouteType: f.versions[resource.RouteType]}
	f.versions[typeURL] = v
	return mustState(t, f)
}

// The whole sequence from gateway(a) to gateway(b) reaches the target in
// three steps, every intermediate state is consistent (each route's
// clusters exist), and the union keeps one version across make and switch
// so it is not pushed twice.
func TestNextStepSequenceIsConsistent(t *testing.T) {
	p, target := mustState(t, gateway("a")), mustState(t, gateway("b"))
	var kinds []stepKind
	var unionVersions []string
	for range 5 {
		next, kind := nextStep(p, target)
		if kind == stepDone {
			break
		}
		kinds = append(kinds, kind)
		unionVersions = append(unionVersions, next[resource.ClusterType].version)
		p = next
	}
	if want := []stepKind{stepMake, stepSwitch, stepBreak}; !slices.Equal(kinds, want) {
		t.Fatalf("steps = %v, want %v", kinds, want)
	}
	if unionVersions[0] != unionVersions[1] {
		t.Errorf("cluster version changed between make and switch: %q → %q", unionVersions[0], unionVersions[1])
	}
	if !p.equal(target) {
		t.Errorf("did not reach the target")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func update(t *testing.T, s *Server, nr NodeResources) {
	t.Helper()
	if err := s.Update(ctxT(t), map[string]NodeResources{node: nr}); err != nil {
		t.Fatal(err)
	}
}

type seen struct {
	typ   string
	names []string
}

func (a *adsStream) expect(t *testing.T, ackIt bool, want ...seen) {
	t.Helper()
	for _, w := range want {
		r := a.recv()
		got := seen{r.GetTypeUrl(), names(t, r)}
		slices.Sort(got.names)
		if got.typ != w.typ || !slices.Equal(got.names, w.names) {
			t.Fatalf("got %s %v, want %s %v", short(got.typ), got.names, short(w.typ), w.names)
		}
		if ackIt {
			a.ack(r)
		}
	}
}

func short(typeURL string) string { return typeURL[strings.LastIndex(typeURL, ".")+1:] }

// syncedStream opens an ADS stream for node, subscribes to CDS, EDS, RDS
// and ACKs the initial state of gateway(initial...).
func syncedStream(t *testing.T, s *Server, addr string, initial ...string) *adsStream {
	t.Helper()
	a := openADS(ctxT(t), t, dial(t, addr), "")
	a.send(node, resource.ClusterType, "", "")
	a.send("", resource.EndpointType, "", "")
	a.send("", resource.RouteType, "", "")
	routes := make([]string, len(initial))
	for i, c := range initial {
		routes[i] = "->" + c
	}
	a.expect(t, true,
		seen{resource.ClusterType, initial},
		seen{resource.EndpointType, initial},
		seen{resource.RouteType, routes})
	v := "v-" + strings.Join(initial, "+")
	if err := s.WaitForAck(ctxT(t), node, resource.RouteType, v); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMakeBeforeBreakWaitsForRouteACK(t *testing.T) {
	checkGoroutines(t)
	s := newTestServer(t, AllowAll(), time.Minute) // the grace never fires
	update(t, s, gateway("a"))
	addr := startServer(t, s)
	a := syncedStream(t, s, addr, "a")

	update(t, s, gateway("b"))
	// make: clusters and endpoints of b join a's; the route is untouched.
	a.expect(t, true, seen{resource.ClusterType, []string{"a", "b"}}, seen{resource.EndpointType, []string{"a", "b"}})
	// switch: the route moves to b once both were ACKed.
	r := a.recv()
	if got := names(t, r); r.GetTypeUrl() != resource.RouteType || !slices.Equal(got, []string{"->b"}) {
		t.Fatalf("got %s %v, want the route to b", short(r.GetTypeUrl()), got)
	}
	if st := s.Stats().Nodes[node]; !st.Converging || !strings.Contains(st.Published[resource.ClusterType], "+keep.") {
		t.Fatalf("cluster a removed before the route ACK: %+v", st)
	}
	a.ack(r)
	// break: a goes only now.
	a.expect(t, true, seen{resource.ClusterType, []string{"b"}}, seen{resource.EndpointType, []string{"b"}})
	if err := s.WaitForAck(ctxT(t), node, resource.ClusterType, "v-b"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats().Nodes[node]; st.Converging {
		t.Errorf("still converging: %+v", st)
	}
}

func TestMakeBeforeBreakGraceBoundsASilentProxy(t *testing.T) {
	checkGoroutines(t)
	s := newTestServer(t, AllowAll(), 200*time.Millisecond)
	update(t, s, gateway("a"))
	addr := startServer(t, s)
	a := syncedStream(t, s, addr, "a")

	update(t, s, gateway("b"))
	a.expect(t, true, seen{resource.ClusterType, []string{"a", "b"}}, seen{resource.EndpointType, []string{"a", "b"}})
	switched := time.Now()
	a.expect(t, false, seen{resource.RouteType, []string{"->b"}}) // never ACKed
	a.expect(t, false, seen{resource.ClusterType, []string{"b"}})
	if d := time.Since(switched); d < 150*time.Millisecond {
		t.Errorf("stale cluster removed %v after the switch, before the grace", d)
	}
}

func TestUpdateWithoutProxiesPublishesTargetAtOnce(t *testing.T) {
	s := newTestServer(t, AllowAll(), time.Minute)
	update(t, s, gateway("a"))
	update(t, s, gateway("b"))
	st := s.Stats().Nodes[node]
	if st.Converging || st.Published[resource.ClusterType] != "v-b" || st.Published[resource.RouteType] != "v-b" {
		t.Errorf("stats = %+v, want v-b published", st)
	}
	if err := s.Update(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Stats().Nodes[node]; ok {
		t.Errorf("node not cleared")
	}
}

func TestIdenticalUpdateIsNotPushed(t *testing.T) {
	checkGoroutines(t)
	s := newTestServer(t, AllowAll(), time.Minute)
	update(t, s, gateway("a"))
	addr := startServer(t, s)
	a := syncedStream(t, s, addr, "a")

	update(t, s, gateway("a")) // new value, same content and versions
	update(t, s, gateway("a", "b"))
	// Had the identical update been pushed, CDS {a} would come first.
	a.expect(t, true, seen{resource.ClusterType, []string{"a", "b"}})
}

func TestInvalidUpdatePublishesNothing(t *testing.T) {
	s := newTestServer(t, AllowAll(), time.Minute)
	update(t, s, gateway("a"))
	bad := gateway("b")
	bad.byType["type.googleapis.com/not.a.Type"] = nil
	if err := s.Update(ctxT(t), map[string]NodeResources{node: bad, "other/gw": gateway("c")}); err == nil {
		t.Fatal("want an error")
	}
	st := s.Stats()
	if st.Nodes[node].Published[resource.ClusterType] != "v-a" {
		t.Errorf("published %v, want v-a kept", st.Nodes[node].Published)
	}
	if _, ok := st.Nodes["other/gw"]; ok {
		t.Errorf("other node published despite the system error")
	}
}

func TestNACKIsCounted(t *testing.T) {
	checkGoroutines(t)
	s := newTestServer(t, AllowAll(), time.Minute)
	update(t, s, gateway("a"))
	addr := startServer(t, s)
	a := openADS(ctxT(t), t, dial(t, addr), "")
	a.send(node, resource.ClusterType, "", "")
	r := a.recv()
	if err := a.s.Send(&discovery.DiscoveryRequest{
		TypeUrl: resource.ClusterType, ResponseNonce: r.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "cluster a: bad lb_policy"},
	}); err != nil {
		t.Fatal(err)
	}
	// A later ACK with the stale nonce must not count.
	a.send("", resource.ClusterType, "v-a", "stale")
	update(t, s, gateway("a", "b"))
	r2 := a.recv()
	if r2.GetVersionInfo() != "v-a+b" {
		t.Fatalf("after the NACK got version %q, want the next snapshot (a NACKed version must not be resent)", r2.GetVersionInfo())
	}
	a.ack(r2)
	if err := s.WaitForAck(ctxT(t), node, resource.ClusterType, r2.GetVersionInfo()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats().Nodes[node]
	if st.NACKs != 1 || st.ACKs != 1 || st.Streams != 1 {
		t.Errorf("stats = %+v, want 1 NACK, 1 ACK, 1 stream", st)
	}
	if n := st.LastNACK[resource.ClusterType]; n.Detail != "cluster a: bad lb_policy" || n.Version != "v-a" || n.Nonce != r.GetNonce() {
		t.Errorf("last NACK = %+v", st.LastNACK)
	}
}

func TestNodeAuthentication(t *testing.T) {
	checkGoroutines(t)
	auth := NewTokenAuthenticator(map[string]string{node: "token-a", "tenant-b/gw": "token-b"})
	s := newTestServer(t, auth, time.Minute)
	if err := s.Update(ctxT(t), map[string]NodeResources{node: gateway("a"), "tenant-b/gw": gateway("secret-of-b")}); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	conn := dial(t, addr)
	tests := []struct {
		name     string
		token    string
		nodes    []string // node ID of each request
		wantCode codes.Code
	}{
		{"own token is accepted", "token-a", []string{node}, codes.OK},
		{"token of another gateway is refused", "token-a", []string{"tenant-b/gw"}, codes.PermissionDenied},
		{"missing token is unauthenticated", "", []string{node}, codes.Unauthenticated},
		{"unknown node is refused", "token-a", []string{"tenant-c/gw"}, codes.PermissionDenied},
		{"switching node ID mid-stream is refused", "token-a", []string{node, "tenant-b/gw"}, codes.PermissionDenied},
		{"request without node ID is refused", "token-a", []string{""}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			a := openADS(ctx, t, conn, tt.token)
			var got []*discovery.DiscoveryResponse
			var err error
			for i, n := range tt.nodes {
				typ := resource.ClusterType
				if i > 0 {
					typ = resource.RouteType
				}
				req := &discovery.DiscoveryRequest{TypeUrl: typ}
				if n != "" {
					req.Node = &core.Node{Id: n}
				}
				if err = a.s.Send(req); err != nil {
					break
				}
				var r *discovery.DiscoveryResponse
				if r, err = a.s.Recv(); err != nil {
					break
				}
				got = append(got, r)
			}
			if status.Code(err) != tt.wantCode {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.wantCode)
			}
			for _, r := range got {
				for _, name := range names(t, r) {
					if strings.Contains(name, "secret-of-b") {
						t.Errorf("received tenant-b's resource %s", name)
					}
				}
			}
		})
	}
}

func TestTokenAuthenticatorAcceptsCaseInsensitiveScheme(t *testing.T) {
	auth := NewTokenAuthenticator(map[string]string{node: "tok"})
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "bearer tok"))
	if err := auth.Authenticate(ctx, node); err != nil {
		t.Fatal(err)
	}
	auth.Delete(node)
	if err := auth.Authenticate(ctx, node); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("deleted node: %v", err)
	}
}

func TestDeltaADS(t *testing.T) {
	checkGoroutines(t)
	auth := NewTokenAuthenticator(map[string]string{node: "tok"})
	s := newTestServer(t, auth, time.Minute)
	update(t, s, gateway("a"))
	addr := startServer(t, s)
	ctx := metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Bearer tok")
	d, err := discovery.NewAggregatedDiscoveryServiceClient(dial(t, addr)).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Empty initial subscription: legacy wildcard, as Envoy sends.
	if err := d.Send(&discovery.DeltaDiscoveryRequest{Node: &core.Node{Id: node}, TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	recv := func() *discovery.DeltaDiscoveryResponse {
		t.Helper()
		r, err := d.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	resNames := func(r *discovery.DeltaDiscoveryResponse) []string {
		var out []string
		for _, res := range r.GetResources() {
			out = append(out, res.GetName())
		}
		slices.Sort(out)
		return out
	}
	r := recv()
	if got := resNames(r); !slices.Equal(got, []string{"a"}) || r.GetSystemVersionInfo() != "v-a" {
		t.Fatalf("initial: %v %q", got, r.GetSystemVersionInfo())
	}
	if err := s.WaitForAck(ctxT(t), node, resource.ClusterType, "v-a"); err != nil {
		t.Fatal(err)
	}

	update(t, s, gateway("b"))
	// make: b added (a is only sent as a change if it changed).
	if got := resNames(recv()); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("make step sent %v, want [b]", got)
	}
	// break: a removed (the stream has no route subscription to wait for).
	r = recv()
	if !slices.Equal(r.GetRemovedResources(), []string{"a"}) || len(r.GetResources()) != 0 {
		t.Fatalf("break step: resources %v removed %v, want a removed", resNames(r), r.GetRemovedResources())
	}
	if err := s.WaitForAck(ctxT(t), node, resource.ClusterType, "v-b"); err != nil {
		t.Fatal(err)
	}

	// A delta stream for another gateway's node is refused too.
	d2, err := discovery.NewAggregatedDiscoveryServiceClient(dial(t, addr)).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Send(&discovery.DeltaDiscoveryRequest{Node: &core.Node{Id: "tenant-b/gw"}, TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("spoofed delta stream: %v", err)
	}
}
