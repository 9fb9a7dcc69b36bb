package xdsclient

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/xds/server"
)

func clusterNames(s *dpconfig.Snapshot) []string {
	return slices.Sorted(maps.Keys(s.Clusters))
}

// syncTo starts a server with gateway(clusters...) and a client, and waits
// until the proxy ACKed the routes.
func syncTo(t *testing.T, clusters ...string) (*server.Server, *Client, *strictApplier, string) {
	t.Helper()
	s := newServer(t)
	update(t, s, gateway(clusters...))
	lis := listen(t, "127.0.0.1:0")
	serve(t, s, lis)
	app := &strictApplier{}
	c := runClient(t, lis.Addr().String(), app)
	if err := s.WaitForAck(ctxT(t), node, RouteType, "v-"+strings.Join(clusters, "+")); err != nil {
		t.Fatal(err)
	}
	return s, c, app, lis.Addr().String()
}

func TestInitialSyncArrivesInContractOrder(t *testing.T) {
	checkGoroutines(t)
	s, c, app, _ := syncTo(t, "a")
	if got, want := app.changedTypes(), []string{"cluster", "cluster_load_assignment", "secret", "listener", "route_configuration"}; !slices.Equal(got, want) {
		t.Errorf("applied in order %v, want %v", got, want)
	}
	st := c.Status()
	if st.State != Connected || !st.Synced || st.LastError != "" {
		t.Errorf("status = %+v", st)
	}
	if got := s.Stats().Nodes[node]; got.Streams != 1 || got.ACKs != 5 || got.NACKs != 0 {
		t.Errorf("server stats = %+v, want 1 stream, 5 ACKs", got)
	}
}

func TestRouteChangesNeverReferenceMissingClusters(t *testing.T) {
	checkGoroutines(t)
	s, c, app, _ := syncTo(t, "a")
	for _, step := range [][]string{{"b"}, {"a", "c"}, {"c"}} {
		update(t, s, gateway(step...))
		if err := s.WaitForAck(ctxT(t), node, ClusterType, "v-"+strings.Join(step, "+")); err != nil {
			t.Fatal(err)
		}
		if got := clusterNames(c.Snapshot()); !slices.Equal(got, step) {
			t.Errorf("clusters = %v, want %v", got, step)
		}
	}
	if errs := app.errors(); len(errs) != 0 {
		t.Errorf("the proxy saw an inconsistent snapshot: %v", errs)
	}
	if n := s.Stats().Nodes[node].NACKs; n != 0 {
		t.Errorf("%d NACKs", n)
	}
}

func TestDecodeErrorIsNACKedAndPreviousConfigKept(t *testing.T) {
	checkGoroutines(t)
	s, c, app, _ := syncTo(t, "a")
	before, applies := c.Snapshot(), app.count()

	update(t, s, gateway("a", "bad-x"))
	eventually(t, "the NACK", func() bool { _, ok := s.Stats().Nodes[node].LastNACK[ClusterType]; return ok })
	if nack := s.Stats().Nodes[node].LastNACK[ClusterType]; !strings.Contains(nack.Detail, "cluster bad-x: lb_policy: CLUSTER_PROVIDED is not supported") || nack.Version != "v-a+bad-x" {
		t.Errorf("NACK = %+v", nack)
	}
	// EDS for bad-x decodes and may be accepted; clusters and the routes
	// that would use bad-x must stay as they were.
	eventually(t, "the route NACK", func() bool { return s.Stats().Nodes[node].NACKs == 2 })
	after := c.Snapshot()
	if !slices.Equal(clusterNames(after), []string{"a"}) || after.Versions[RouteType] != before.Versions[RouteType] || app.count() > applies+1 {
		t.Errorf("the rejected responses changed the applied config: clusters %v, versions %v", clusterNames(after), after.Versions)
	}
	if st := c.Status(); st.Versions[ClusterType] != "v-a" || !strings.Contains(st.LastError, "bad-x") {
		t.Errorf("status = %+v", st)
	}
}

func TestApplierErrorIsNACKed(t *testing.T) {
	checkGoroutines(t)
	s, c, _, _ := syncTo(t, "a")
	before := c.Snapshot()

	update(t, s, gateway("a", "reject-x"))
	eventually(t, "the NACK", func() bool { _, ok := s.Stats().Nodes[node].LastNACK[ClusterType]; return ok })
	if nack := s.Stats().Nodes[node].LastNACK[ClusterType]; !strings.Contains(nack.Detail, "cluster reject-x: upstream TLS context cannot be built") {
		t.Errorf("NACK = %+v", nack)
	}
	eventually(t, "the route NACK", func() bool { return s.Stats().Nodes[node].NACKs == 2 })
	if got := c.Snapshot(); !slices.Equal(clusterNames(got), []string{"a"}) || got.Versions[RouteType] != before.Versions[RouteType] {
		t.Errorf("the rejected snapshot became the accepted one: %v", got.Versions)
	}
	// Reverting converges: the route goes back to a, then the stale
	// reject-x (kept for make-before-break, so NACKed once more) is
	// dropped. A NACKed version is not resent in a loop.
	update(t, s, gateway("a"))
	eventually(t, "convergence", func() bool { return !s.Stats().Nodes[node].Converging })
	if err := s.WaitForAck(ctxT(t), node, ClusterType, "v-a"); err != nil {
		t.Fatal(err)
	}
	if got := c.Snapshot(); !slices.Equal(clusterNames(got), []string{"a"}) || got.Versions[RouteType] != "v-a" {
		t.Errorf("final config: clusters %v versions %v", clusterNames(got), got.Versions)
	}
	if n := s.Stats().Nodes[node].NACKs; n > 3 {
		t.Errorf("%d NACKs: rejected versions were resent", n)
	}
}

func TestReconnectsAfterServerRestartAndResyncs(t *testing.T) {
	checkGoroutines(t)
	s1 := newServer(t)
	update(t, s1, gateway("a"))
	lis := listen(t, "127.0.0.1:0")
	addr := lis.Addr().String()
	stop1 := serve(t, s1, lis)
	app := &strictApplier{}
	c := runClient(t, addr, app)
	if err := s1.WaitForAck(ctxT(t), node, RouteType, "v-a"); err != nil {
		t.Fatal(err)
	}
	applies := app.count()

	stop1()
	eventually(t, "the client to notice", func() bool { return c.Status().State == TransientFailure })
	if got := clusterNames(c.Snapshot()); !slices.Equal(got, []string{"a"}) {
		t.Errorf("config while disconnected = %v, want the last good one", got)
	}

	// A new control plane with the same content: the proxy resubscribes
	// with its versions and does not rebuild anything.
	s2 := newServer(t)
	update(t, s2, gateway("a"))
	serve(t, s2, listen(t, addr))
	if err := s2.WaitForAck(ctxT(t), node, RouteType, "v-a"); err != nil {
		t.Fatal(err)
	}
	if app.count() != applies {
		t.Errorf("identical resync re-applied the config (%d → %d applies)", applies, app.count())
	}
	update(t, s2, gateway("b"))
	if err := s2.WaitForAck(ctxT(t), node, ClusterType, "v-b"); err != nil {
		t.Fatal(err)
	}
	if got := clusterNames(c.Snapshot()); !slices.Equal(got, []string{"b"}) {
		t.Errorf("clusters after resync = %v", got)
	}
	if st := c.Status(); st.State != Connected {
		t.Errorf("state = %v", st.State)
	}
}

func TestWrongTokenKeepsRetrying(t *testing.T) {
	checkGoroutines(t)
	s := newServer(t)
	update(t, s, gateway("a"))
	lis := listen(t, "127.0.0.1:0")
	serve(t, s, lis)
	c, err := New(Options{Server: lis.Addr().String(), NodeID: node, Token: "wrong", Decoders: fakeDecoders(), Applier: &strictApplier{}, Logger: quiet,
		Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually(t, "the refusal", func() bool { return strings.Contains(c.Status().LastError, "PermissionDenied") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(c.Snapshot().Clusters) != 0 {
		t.Errorf("refused client got config")
	}
}

// handle is the protocol core; these cases pin the exact fields of ACKs
// and NACKs (xDS protocol, "ACK/NACK and resource type instance version").
func TestHandleVersionAndNonce(t *testing.T) {
	app := &strictApplier{}
	c, err := New(Options{Server: "unused", NodeID: node, Decoders: fakeDecoders(), Applier: app, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	resp := func(version, nonce string, clusters ...string) *discovery.DiscoveryResponse {
		r := &discovery.DiscoveryResponse{TypeUrl: ClusterType, VersionInfo: version, Nonce: nonce}
		for _, n := range clusters {
			a, err := anypb.New(&cluster.Cluster{Name: n})
			if err != nil {
				t.Fatal(err)
			}
			r.Resources = append(r.Resources, a)
		}
		return r
	}
	tests := []struct {
		name        string
		resp        *discovery.DiscoveryResponse
		wantVersion string
		wantDetail  string // "" for an ACK
		wantApplies int
	}{
		{"first response is ACKed with its version and nonce", resp("v1", "1", "a"), "v1", "", 1},
		{"decode error NACKs with the previous version and the new nonce", resp("v2", "2", "a", "bad-b"), "v1", "cluster bad-b: lb_policy", 1},
		{"applier error NACKs", resp("v3", "3", "reject-c"), "v1", "cluster reject-c: upstream TLS", 1},
		{"same version and content is ACKed without re-applying", resp("v1", "4", "a"), "v1", "", 1},
		{"new version is applied and ACKed", resp("v5", "5", "a", "b"), "v5", "", 2},
		{"duplicate names are NACKed", resp("v6", "6", "a", "a"), "v5", "cluster a: duplicate", 2},
		{"an empty set is a valid state of the world", resp("v7", "7"), "v7", "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := c.handle(context.Background(), tt.resp)
			if req.GetTypeUrl() != ClusterType || req.GetResponseNonce() != tt.resp.GetNonce() || req.GetVersionInfo() != tt.wantVersion {
				t.Errorf("request = type %s version %q nonce %q, want version %q nonce %q",
					req.GetTypeUrl(), req.GetVersionInfo(), req.GetResponseNonce(), tt.wantVersion, tt.resp.GetNonce())
			}
			if got := req.GetErrorDetail().GetMessage(); (tt.wantDetail == "") != (got == "") || !strings.Contains(got, tt.wantDetail) {
				t.Errorf("error_detail = %q, want %q", got, tt.wantDetail)
			}
			if req.GetNode() != nil {
				t.Errorf("node repeated on an ACK")
			}
			if n := app.count(); n != tt.wantApplies {
				t.Errorf("applies = %d, want %d", n, tt.wantApplies)
			}
			if v := c.Snapshot().Versions[ClusterType]; v != tt.wantVersion {
				t.Errorf("accepted version = %q, want %q", v, tt.wantVersion)
			}
		})
	}
}

func TestHandleRejectsMismatchedAny(t *testing.T) {
	c, err := New(Options{Server: "unused", NodeID: node, Decoders: fakeDecoders(), Applier: &strictApplier{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := anypb.New(&discovery.DiscoveryRequest{})
	req := c.handle(context.Background(), &discovery.DiscoveryResponse{TypeUrl: ClusterType, VersionInfo: "v1", Nonce: "1", Resources: []*anypb.Any{a}})
	if !strings.Contains(req.GetErrorDetail().GetMessage(), "resource[0]: type") {
		t.Errorf("error_detail = %q", req.GetErrorDetail().GetMessage())
	}
}

func TestNewValidates(t *testing.T) {
	good := Options{Server: "x", NodeID: node, Decoders: fakeDecoders(), Applier: &strictApplier{}}
	tests := []struct {
		name string
		mut  func(*Options)
	}{
		{"no server", func(o *Options) { o.Server = "" }},
		{"no node", func(o *Options) { o.NodeID = "" }},
		{"no applier", func(o *Options) { o.Applier = nil }},
		{"no decoders", func(o *Options) { o.Decoders = nil }},
		{"decoder for a foreign type", func(o *Options) {
			o.Decoders = maps.Clone(o.Decoders)
			o.Decoders["type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"] = nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.mut(&o)
			if _, err := New(o); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	b := Backoff{}.withDefaults()
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 200 * time.Millisecond, 300 * time.Millisecond},
		{1, 400 * time.Millisecond, 600 * time.Millisecond},
		{3, 1600 * time.Millisecond, 2400 * time.Millisecond},
		{50, 8 * time.Second, 12 * time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			if d := b.delay(tt.attempt); d < tt.min || d > tt.max {
				t.Fatalf("delay(%d) = %v, want in [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
}

func TestWithTypeDoesNotMutatePrevious(t *testing.T) {
	prev := emptySnapshot()
	next, err := withType(prev, ClusterType, "v1", map[string]any{"a": &dpconfig.Cluster{Name: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(prev.Clusters) != 0 || len(prev.Versions) != 0 || len(next.Clusters) != 1 {
		t.Errorf("prev %+v next %+v", prev, next)
	}
	if _, err := withType(prev, ListenerType, "v1", map[string]any{"l": &dpconfig.Cluster{}}); err == nil {
		t.Error("a decoder returning the wrong type must be an error")
	}
}

// A route table larger than gRPC's default 4 MiB receive limit (50k Routes
// make one of ~6 MB) must arrive and be ACKed, not refused for good.
func TestRouteTableOverFourMiBIsAccepted(t *testing.T) {
	checkGoroutines(t)
	s, c, _, _ := syncTo(t, "a")
	big := gateway("a")
	rc := big.byType[RouteType][0].(*route.RouteConfiguration)
	vh := rc.VirtualHosts[0]
	for i := 0; i < 60_000; i++ {
		vh.Routes = append(vh.Routes, &route.Route{
			Name:   fmt.Sprintf("ns-%03d/route-%05d/rule-0", i%100, i),
			Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: fmt.Sprintf("/tenant-%03d/service-%05d/items", i%100, i)}},
			Action: vh.Routes[0].Action,
		})
	}
	if n := proto.Size(rc); n <= 4<<20 {
		t.Fatalf("route table is %d bytes; the test needs more than 4 MiB", n)
	}
	big.versions[RouteType] = "v-big"
	update(t, s, big)
	if err := s.WaitForAck(ctxT(t), node, RouteType, "v-big"); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.LastError != "" {
		t.Errorf("client error: %s", st.LastError)
	}
}

// A rotated token (the kubelet rewrites a projected ServiceAccount token
// about hourly) is picked up at the next reconnect: the file is read at
// every stream start, not once.
func TestTokenFileIsReadAtEveryReconnect(t *testing.T) {
	checkGoroutines(t)
	s := newServer(t)
	update(t, s, gateway("a"))
	lis := listen(t, "127.0.0.1:0")
	serve(t, s, lis)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("expired\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Server: lis.Addr().String(), NodeID: node, TokenFile: file, Decoders: fakeDecoders(), Applier: &strictApplier{}, Logger: quiet,
		Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually(t, "the refusal of the old token", func() bool { return strings.Contains(c.Status().LastError, "PermissionDenied") })
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sync with the rotated token", func() bool { return c.Status().Synced })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
