package translate

import (
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/ir"
)

// fullGateway exercises every IR feature.
func fullGateway() *ir.Gateway {
	v1 := &ir.Cluster{Name: "tenant-a/product-v1/80/v1", Source: ir.ObjectRef{Kind: "Service", Namespace: "tenant-a", Name: "product-v1"},
		Endpoints:    []ir.Endpoint{{Address: "127.0.0.11", Port: 8081, Ready: true}, {Address: "127.0.0.12", Port: 8081, Ready: false, Zone: "z1"}},
		LoadBalancer: ir.LoadBalancer{Policy: ir.RingHash, RingMinSize: 2048, HashPolicies: []ir.HashPolicy{{Header: "x-user"}}},
		Limits:       ir.ConnectionLimits{MaxConnections: 10, MaxRequests: 20, IdleTimeout: time.Minute, MaxRequestsPerConnection: 100},
		HealthCheck:  &ir.HealthCheck{Path: "/healthz", Interval: time.Second, Timeout: time.Second, UnhealthyThreshold: 2, HealthyThreshold: 1, ExpectedStatuses: []ir.StatusRange{{Start: 200, End: 300}}},
		Outlier:      &ir.OutlierDetection{Consecutive5xx: 3, Interval: time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 50},
	}
	v2 := &ir.Cluster{Name: "tenant-a/product-v2/80/v2", Protocol: ir.HTTP2, NoEndpointsReason: `subset "v2" selects no ready endpoint`}
	routes := []*ir.Route{
		{Name: "r0", Source: ir.ObjectRef{Kind: "Route", Namespace: "tenant-a", Name: "product-canary"},
			Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathSegmentPrefix, Value: "/api/"},
				Headers:     []ir.HeaderMatch{{Name: ":method", Match: ir.StringMatch{Kind: ir.MatchExact, Value: "GET"}}, {Name: "x-block", Match: ir.StringMatch{Kind: ir.MatchExact, Value: "1"}, Invert: true}},
				QueryParams: []ir.QueryParamMatch{{Name: "v", Match: ir.StringMatch{Kind: ir.MatchRegex, Value: "[0-9]+"}}}},
			Forward:         &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: v1.Name, Weight: 90}, {Cluster: v2.Name, Weight: 10, RequestHeaders: ir.HeaderMutation{Set: []ir.HeaderValue{{Name: "x-canary", Value: "1"}}}}}},
			RequestHeaders:  ir.HeaderMutation{Set: []ir.HeaderValue{{Name: "x-a", Value: "1"}}, Add: []ir.HeaderValue{{Name: "x-b", Value: "2"}}, Remove: []string{"x-c"}},
			ResponseHeaders: ir.HeaderMutation{Remove: []string{"server"}},
			Rewrite:         &ir.Rewrite{PathPrefix: "/", Host: "internal"},
			Timeout:         5 * time.Second,
			Retry:           &ir.RetryPolicy{On: []string{"5xx", "connect-failure"}, Attempts: 2, PerTryTimeout: time.Second},
			Mirrors:         []*ir.Mirror{{Cluster: v2.Name, Percent: 12.5}},
			Fault:           &ir.Fault{Delay: time.Millisecond, DelayPercent: 1, AbortStatus: 503, AbortPercent: 0.5},
			CORS:            &ir.CORSPolicy{AllowOrigins: []ir.StringMatch{{Kind: ir.MatchExact, Value: "https://a.example"}}, AllowMethods: []string{"GET"}, MaxAge: time.Minute, AllowCredentials: true},
		},
		{Name: "r1", Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathRegex, Value: "/u/([0-9]+)", IgnoreCase: true}},
			Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: v1.Name, Weight: 1}}},
			Rewrite: &ir.Rewrite{Regex: &ir.RegexRewrite{Pattern: "^/u/([0-9]+)$", Substitution: `/users/\1`}}},
		{Name: "r2", Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathExact, Value: "/old"}}, Redirect: &ir.Redirect{Path: "/new", StatusCode: 302}},
		{Name: "r3", Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/"}}, DirectResponse: &ir.DirectResponse{Status: 418, Body: "teapot"}},
	}
	return &ir.Gateway{
		Name: "tenant-a/tenant-gateway",
		Listeners: []*ir.Listener{
			{Name: "http-8080", Address: "0.0.0.0", Port: 8080, VirtualHosts: []*ir.VirtualHost{{Name: "wild", Domains: []string{"*.tenant-a.example.com", "tenant-a.example.com"}, Routes: routes}}},
			{Name: "https-8443", Address: "0.0.0.0", Port: 8443, TLS: &ir.ListenerTLS{Certificates: []*ir.TLSCertificate{{SecretName: "tenant-a/tenant-a-tls", ServerNames: []string{"*.tenant-a.example.com"}}}},
				VirtualHosts: []*ir.VirtualHost{{Name: "wild", Domains: []string{"*.tenant-a.example.com"}, Routes: routes}}},
			{Name: "http-9080", Port: 9080, HTTPSRedirect: true},
		},
		Clusters: []*ir.Cluster{v1, v2},
		Secrets:  []*ir.Secret{{Name: "tenant-a/tenant-a-tls", CertificateChain: []byte("chain"), PrivateKey: []byte("key")}},
	}
}

func TestEveryResourceDecodesOnTheProxy(t *testing.T) {
	r, err := Translate(fullGateway())
	if err != nil {
		t.Fatal(err)
	}
	dec := dpconfig.Decoders()
	for typeURL, list := range r.ByType() {
		if typeURL == "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret" {
			continue // the test secret is not a real key pair
		}
		for _, res := range list {
			a, err := anypb.New(res.(proto.Message))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := dec[typeURL](a); err != nil {
				t.Errorf("the proxy rejects %s: %v", typeURL, err)
			}
		}
	}
	y, err := ToYAML(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), "a2V5") || !strings.Contains(string(y), "[redacted]") {
		t.Errorf("private key not redacted in dump")
	}
}

func TestRouteOnlyChangeKeepsListenerAndClusterVersions(t *testing.T) {
	a, _ := Translate(fullGateway())
	gw := fullGateway()
	gw.Listeners[0].VirtualHosts[0].Routes[0].Timeout = 7 * time.Second
	b, _ := Translate(gw)
	for _, typ := range []string{"type.googleapis.com/envoy.config.listener.v3.Listener", "type.googleapis.com/envoy.config.cluster.v3.Cluster"} {
		if a.Version(typ) != b.Version(typ) {
			t.Errorf("%s version changed on a route-only change", typ)
		}
	}
	if a.Version("type.googleapis.com/envoy.config.route.v3.RouteConfiguration") == b.Version("type.googleapis.com/envoy.config.route.v3.RouteConfiguration") {
		t.Errorf("route version did not change")
	}
	c, _ := Translate(fullGateway())
	var _ types.Resource
	for typ := range a.ByType() {
		if a.Version(typ) != c.Version(typ) {
			t.Errorf("%s: translation is not deterministic", typ)
		}
	}
}
