package translate

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/ksgw/ksgw/internal/ir"
)

// fullGateway exercises every IR feature at least once.
func fullGateway() *ir.Gateway {
	v1 := &ir.Cluster{Name: "tenant-a/product-v1/80/v1", Source: ir.ObjectRef{Kind: "Service", Namespace: "tenant-a", Name: "product-v1"},
		Endpoints:      []ir.Endpoint{{Address: "127.0.0.11", Port: 8081, Ready: true}, {Address: "127.0.0.12", Port: 8081, Ready: false, Zone: "z1"}, {Address: "127.0.0.13", Port: 8081, Ready: true, Zone: "z0"}},
		LoadBalancer:   ir.LoadBalancer{Policy: ir.RingHash, RingMinSize: 2048, HashPolicies: []ir.HashPolicy{{Header: "x-user"}}},
		ConnectTimeout: 2 * time.Second,
		Limits:         ir.ConnectionLimits{MaxConnections: 10, MaxPendingRequests: 5, MaxRequests: 20, IdleTimeout: time.Minute, MaxRequestsPerConnection: 100},
		HealthCheck:    &ir.HealthCheck{Path: "/healthz", Interval: time.Second, Timeout: time.Second, UnhealthyThreshold: 2, HealthyThreshold: 1, ExpectedStatuses: []ir.StatusRange{{Start: 200, End: 300}}},
		Outlier:        &ir.OutlierDetection{Consecutive5xx: 3, ConsecutiveGatewayError: 2, Interval: time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 50},
	}
	v2 := &ir.Cluster{Name: "tenant-a/product-v2/80/v2", Source: ir.ObjectRef{Kind: "Service", Namespace: "tenant-a", Name: "product-v2"},
		Protocol: ir.HTTP2, NoEndpointsReason: `subset "v2" selects no ready endpoint`,
		LoadBalancer: ir.LoadBalancer{Policy: ir.Maglev, MaglevTable: 65537}}
	secure := &ir.Cluster{Name: "tenant-a/secure/443", Source: ir.ObjectRef{Kind: "Service", Namespace: "tenant-a", Name: "secure"},
		Endpoints:    []ir.Endpoint{{Address: "127.0.0.21", Port: 443, Ready: true}},
		LoadBalancer: ir.LoadBalancer{Policy: ir.LeastRequest},
		TLS:          &ir.UpstreamTLS{SNI: "secure.internal", CASecretName: "tenant-a/upstream/ca", ClientSecretName: "tenant-a/client", SubjectAltNames: []string{"secure.internal", "spiffe://cluster.local/ns/tenant-a/sa/secure"}}}
	insecure := &ir.Cluster{Name: "tenant-a/legacy/443", LoadBalancer: ir.LoadBalancer{Policy: ir.Random},
		TLS: &ir.UpstreamTLS{InsecureSkipVerify: true}}
	routes := []*ir.Route{
		{Name: "r0", Source: ir.ObjectRef{Kind: "Route", Namespace: "tenant-a", Name: "product-canary"},
			Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathSegmentPrefix, Value: "/api/"},
				Headers: []ir.HeaderMatch{
					{Name: ":method", Match: ir.StringMatch{Kind: ir.MatchExact, Value: "GET"}},
					{Name: "x-block", Match: ir.StringMatch{Kind: ir.MatchExact, Value: "1"}, Invert: true},
					{Name: "x-debug", Match: ir.StringMatch{Kind: ir.MatchPresent}, Invert: true},
					{Name: "x-env", Match: ir.StringMatch{Kind: ir.MatchPrefix, Value: "prod", IgnoreCase: true}},
				},
				QueryParams: []ir.QueryParamMatch{{Name: "v", Match: ir.StringMatch{Kind: ir.MatchRegex, Value: "[0-9]+"}}, {Name: "w", Match: ir.StringMatch{Kind: ir.MatchPresent}}}},
			Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{
				{Cluster: v1.Name, Weight: 90},
				{Cluster: v2.Name, Weight: 10, RequestHeaders: ir.HeaderMutation{Set: []ir.HeaderValue{{Name: "x-canary", Value: "1"}}}, ResponseHeaders: ir.HeaderMutation{Remove: []string{"x-internal"}}},
			}, HashPolicy: &ir.HashPolicy{Cookie: &ir.HashCookie{Name: "sticky", Path: "/", TTL: time.Hour}}},
			RequestHeaders:  ir.HeaderMutation{Set: []ir.HeaderValue{{Name: "x-a", Value: "1"}}, Add: []ir.HeaderValue{{Name: "x-b", Value: "2"}}, Remove: []string{"x-c"}},
			ResponseHeaders: ir.HeaderMutation{Add: []ir.HeaderValue{{Name: "x-served-by", Value: "ksgw"}}, Remove: []string{"server"}},
			Rewrite:         &ir.Rewrite{PathPrefix: "/", Host: "internal"},
			Timeout:         5 * time.Second,
			Retry:           &ir.RetryPolicy{On: []string{"5xx", "connect-failure", "retriable-status-codes"}, Attempts: 2, PerTryTimeout: time.Second, RetriableStatusCodes: []uint32{503}},
			Mirrors:         []*ir.Mirror{{Cluster: v2.Name, Percent: 12.5}, {Cluster: secure.Name, Percent: 100}},
			Fault:           &ir.Fault{Delay: time.Millisecond, DelayPercent: 1, AbortStatus: 503, AbortPercent: 0.5},
			CORS: &ir.CORSPolicy{AllowOrigins: []ir.StringMatch{{Kind: ir.MatchExact, Value: "https://a.example"}, {Kind: ir.MatchRegex, Value: `https://.*\.b\.example`, IgnoreCase: true}},
				AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"authorization"}, ExposeHeaders: []string{"x-trace"}, MaxAge: time.Minute, AllowCredentials: true},
		},
		{Name: "r1", Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathRegex, Value: "/u/([0-9]+)", IgnoreCase: true}},
			Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: v1.Name, Weight: 1}}},
			Rewrite: &ir.Rewrite{Regex: &ir.RegexRewrite{Pattern: "^/u/([0-9]+)$", Substitution: `/users/\1`}}},
		{Name: "r2", Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathExact, Value: "/old"}}, Redirect: &ir.Redirect{Scheme: "https", Host: "new.example.com", Port: 8443, Path: "/new", StatusCode: 308}},
		{Name: "r3", Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/secure", IgnoreCase: true}},
			Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: secure.Name, Weight: 1}, {Cluster: insecure.Name, Weight: 0}}},
			Retry:   &ir.RetryPolicy{On: []string{"5xx"}}}, // no attempts: no retries
		{Name: "r4", Match: ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/"}}, DirectResponse: &ir.DirectResponse{Status: 418, Body: "teapot"}},
	}
	catchAll := []*ir.Route{{Name: "default", Source: ir.ObjectRef{Kind: "Ingress", Namespace: "tenant-a", Name: "default"},
		Match:   ir.Match{Path: ir.PathMatch{Kind: ir.PathSegmentPrefix, Value: "/"}},
		Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: v1.Name, Weight: 1}}}}}
	return &ir.Gateway{
		Name: "tenant-a/tenant-gateway",
		Listeners: []*ir.Listener{
			{Name: "http-8080", Address: "0.0.0.0", Port: 8080, VirtualHosts: []*ir.VirtualHost{
				{Name: "all", Domains: []string{"*"}, Routes: catchAll},
				{Name: "exact", Domains: []string{"shop.example.com"}, Routes: routes[:1:1]},
				{Name: "wild", Domains: []string{"*.tenant-a.example.com", "tenant-a.example.com"}, Routes: routes},
			}},
			{Name: "https-8443", Address: "127.0.0.1", Port: 8443, TLS: &ir.ListenerTLS{
				Certificates: []*ir.TLSCertificate{
					{SecretName: "tenant-a/tenant-a-tls", ServerNames: []string{"tenant-a.example.com", "*.tenant-a.example.com"}},
					{SecretName: "tenant-a/z-tls"},
				},
				MinVersion: "1.2", MaxVersion: "1.3", CipherSuites: []string{"ECDHE-ECDSA-AES128-GCM-SHA256"},
				ClientValidation: &ir.ClientValidation{CASecretName: "tenant-a/clients/ca", Optional: true, SubjectAltNames: []string{"client.example.com"}},
			}, VirtualHosts: []*ir.VirtualHost{{Name: "wild", Domains: []string{"*.tenant-a.example.com"}, Routes: routes}}},
			{Name: "http-9080", Port: 9080, HTTPSRedirect: true},
			{Name: "https-9443", Port: 9443, TLS: &ir.ListenerTLS{
				Certificates:     []*ir.TLSCertificate{{SecretName: "tenant-a/tenant-a-tls", ServerNames: []string{"tenant-a.example.com"}}},
				ALPN:             []string{"http/1.1"},
				ClientValidation: &ir.ClientValidation{CASecretName: "tenant-a/clients/ca"},
			}, VirtualHosts: []*ir.VirtualHost{{Name: "exact", Domains: []string{"tenant-a.example.com"}, Routes: catchAll}}},
		},
		Clusters: []*ir.Cluster{insecure, v1, v2, secure},
		Secrets: []*ir.Secret{
			{Name: "tenant-a/client", CertificateChain: []byte("client-chain"), PrivateKey: []byte("client-key")},
			{Name: "tenant-a/clients/ca", CACertificates: []byte("clients-ca")},
			{Name: "tenant-a/tenant-a-tls", CertificateChain: []byte("chain"), PrivateKey: []byte("key")},
			{Name: "tenant-a/upstream/ca", CACertificates: []byte("upstream-ca")},
			{Name: "tenant-a/z-tls", CertificateChain: []byte("z-chain"), PrivateKey: []byte("z-key")},
		},
	}
}

var allTypes = []resource.Type{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType, resource.SecretType}

func TestEveryFeatureValidatesAndDecodesOnTheProxy(t *testing.T) {
	r := mustTranslate(t, fullGateway())
	for typeURL, list := range r.ByType() {
		for _, res := range list {
			if err := res.(validator).Validate(); err != nil {
				t.Errorf("%s %q: %v", kindOf(typeURL), nameOf(res), err)
			}
		}
	}
	if got := []int{len(r.Listeners), len(r.Routes), len(r.Clusters), len(r.Endpoints), len(r.Secrets)}; !slices.Equal(got, []int{4, 4, 4, 4, 5}) {
		t.Errorf("resource counts %v", got)
	}
	assertProxyAccepts(t, r)
}

func TestGroupsAreSortedByName(t *testing.T) {
	r := mustTranslate(t, fullGateway())
	for typeURL, list := range r.ByType() {
		names := make([]string, len(list))
		for i, res := range list {
			names[i] = nameOf(res)
		}
		if !slices.IsSorted(names) {
			t.Errorf("%s not sorted: %v", kindOf(typeURL), names)
		}
	}
}

func TestByTypeKeysAreGoControlPlaneTypeURLs(t *testing.T) {
	r := mustTranslate(t, oneRoute(fwd("r")))
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range r.ByType() {
			if !yield(k) {
				return
			}
		}
	})
	if want := slices.Sorted(slices.Values(allTypes)); !slices.Equal(got, want) {
		t.Errorf("ByType keys %v, want %v", got, want)
	}
	for _, typ := range allTypes {
		if len(r.Version(typ)) != 16 {
			t.Errorf("%s: version %q is not 16 hex digits", typ, r.Version(typ))
		}
	}
	if v := r.Version("type.googleapis.com/unknown"); v != "" {
		t.Errorf("unknown type has version %q", v)
	}
}

func marshalAll(t *testing.T, r *Resources) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for typeURL, list := range r.ByType() {
		var b []byte
		for _, res := range list {
			m, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			b = append(append(b, nameOf(res)...), m...)
		}
		out[typeURL] = b
	}
	return out
}

func TestTranslationIsDeterministic(t *testing.T) {
	first := mustTranslate(t, fullGateway())
	want := marshalAll(t, first)
	wantYAML, err := ToYAML(first)
	if err != nil {
		t.Fatal(err)
	}
	// Go randomises map iteration per range: twenty runs would show any
	// order that leaks from a map into the output.
	for i := range 20 {
		r := mustTranslate(t, fullGateway())
		for typ, b := range marshalAll(t, r) {
			if !bytes.Equal(b, want[typ]) {
				t.Fatalf("run %d: %s bytes differ", i, kindOf(typ))
			}
			if r.Version(typ) != first.Version(typ) {
				t.Fatalf("run %d: %s version differs", i, kindOf(typ))
			}
		}
		y, err := ToYAML(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(y, wantYAML) {
			t.Fatalf("run %d: YAML dump differs", i)
		}
	}
}

func TestOutputDoesNotDependOnTheOrderOfNamedIRObjects(t *testing.T) {
	want := mustTranslate(t, fullGateway())
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10 {
		gw := fullGateway()
		rng.Shuffle(len(gw.Clusters), func(i, j int) { gw.Clusters[i], gw.Clusters[j] = gw.Clusters[j], gw.Clusters[i] })
		rng.Shuffle(len(gw.Secrets), func(i, j int) { gw.Secrets[i], gw.Secrets[j] = gw.Secrets[j], gw.Secrets[i] })
		rng.Shuffle(len(gw.Listeners), func(i, j int) { gw.Listeners[i], gw.Listeners[j] = gw.Listeners[j], gw.Listeners[i] })
		vhs := gw.Listeners[0].VirtualHosts
		rng.Shuffle(len(vhs), func(i, j int) { vhs[i], vhs[j] = vhs[j], vhs[i] })
		got := mustTranslate(t, gw)
		for _, typ := range allTypes {
			if got.Version(typ) != want.Version(typ) {
				t.Errorf("%s version depends on IR order", kindOf(typ))
			}
		}
	}
}

func TestRouteOnlyChangeKeepsOtherTypesByteForByte(t *testing.T) {
	changes := map[string]func(gw *ir.Gateway){
		"timeout": func(gw *ir.Gateway) { gw.Listeners[0].VirtualHosts[2].Routes[0].Timeout = 7 * time.Second },
		"new route": func(gw *ir.Gateway) {
			vh := gw.Listeners[0].VirtualHosts[1]
			vh.Routes = append(vh.Routes, fwdTo("new", "tenant-a/product-v2/80/v2"))
		},
		"new vhost": func(gw *ir.Gateway) {
			l := gw.Listeners[0]
			l.VirtualHosts = append(l.VirtualHosts, &ir.VirtualHost{Name: "z", Domains: []string{"z.example"}, Routes: []*ir.Route{fwdTo("z", "tenant-a/product-v1/80/v1")}})
		},
		"removed route": func(gw *ir.Gateway) { vh := gw.Listeners[0].VirtualHosts[2]; vh.Routes = vh.Routes[1:] },
		"weights":       func(gw *ir.Gateway) { gw.Listeners[0].VirtualHosts[2].Routes[0].Forward.Backends[0].Weight = 50 },
		"fault and cors": func(gw *ir.Gateway) {
			r := gw.Listeners[0].VirtualHosts[0].Routes[0]
			r.Fault = &ir.Fault{AbortStatus: 500, AbortPercent: 100}
			r.CORS = &ir.CORSPolicy{AllowOrigins: []ir.StringMatch{{Kind: ir.MatchExact, Value: "https://x"}}}
		},
	}
	base := mustTranslate(t, fullGateway())
	baseBytes := marshalAll(t, base)
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			gw := fullGateway()
			change(gw)
			r := mustTranslate(t, gw)
			got := marshalAll(t, r)
			for _, typ := range allTypes {
				same := bytes.Equal(got[typ], baseBytes[typ]) && r.Version(typ) == base.Version(typ)
				if typ == resource.RouteType && same {
					t.Errorf("route configurations did not change")
				}
				if typ != resource.RouteType && !same {
					t.Errorf("%s changed on a route-only change", kindOf(typ))
				}
			}
		})
	}
}

func fwdTo(name, cluster string) *ir.Route {
	r := fwd(name)
	r.Match.Path = ir.PathMatch{Kind: ir.PathExact, Value: "/" + name}
	r.Forward.Backends[0].Cluster = cluster
	return r
}

func TestEndpointOnlyChangeKeepsClustersAndRoutes(t *testing.T) {
	base := mustTranslate(t, fullGateway())
	gw := fullGateway()
	gw.Clusters[1].Endpoints = append(gw.Clusters[1].Endpoints, ir.Endpoint{Address: "127.0.0.99", Port: 8081, Ready: true})
	r := mustTranslate(t, gw)
	for _, typ := range allTypes {
		if changed := r.Version(typ) != base.Version(typ); changed != (typ == resource.EndpointType) {
			t.Errorf("%s: changed=%v on an endpoint-only change", kindOf(typ), changed)
		}
	}
}

func TestSystemErrorsNameTheResource(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(gw *ir.Gateway)
		want   string
	}{
		{"nil gateway", nil, "nil gateway"},
		{"backend cluster missing", func(gw *ir.Gateway) {
			gw.Listeners[0].VirtualHosts[0].Routes[0].Forward.Backends[0].Cluster = "ns/gone/80"
		}, `route configuration "http-8080": virtual host "all": route "r": forward.backends[0]: cluster "ns/gone/80": not among the gateway's clusters`},
		{"mirror cluster missing", func(gw *ir.Gateway) {
			gw.Listeners[0].VirtualHosts[0].Routes[0].Mirrors = []*ir.Mirror{{Cluster: "ns/gone/80", Percent: 5}}
		}, `mirrors[0]: cluster "ns/gone/80": not among`},
		{"mirror percent zero", func(gw *ir.Gateway) {
			gw.Listeners[0].VirtualHosts[0].Routes[0].Mirrors = []*ir.Mirror{{Cluster: testCluster}}
		}, `mirrors[0]: percent 0: must be in (0, 100]`},
		{"no action", func(gw *ir.Gateway) { gw.Listeners[0].VirtualHosts[0].Routes[0].Forward = nil },
			`route "r": exactly one of forward, redirect and direct response must be set, got 0`},
		{"two actions", func(gw *ir.Gateway) {
			gw.Listeners[0].VirtualHosts[0].Routes[0].DirectResponse = &ir.DirectResponse{Status: 200}
		}, `got 2`},
		{"bad path regex", func(gw *ir.Gateway) {
			gw.Listeners[0].VirtualHosts[0].Routes[0].Match.Path = ir.PathMatch{Kind: ir.PathRegex, Value: "(["}
		}, `route "r": match: path: regex "(["`},
		{"bad header regex", func(gw *ir.Gateway) {
			gw.Listeners[0].VirtualHosts[0].Routes[0].Match.Headers = []ir.HeaderMatch{{Name: "x", Match: ir.StringMatch{Kind: ir.MatchRegex, Value: "a{2,1}"}}}
		}, `match: headers[0]: regex "a{2,1}"`},
		{"segment prefix with query", func(gw *ir.Gateway) {
			gw.Listeners[0].VirtualHosts[0].Routes[0].Match.Path = ir.PathMatch{Kind: ir.PathSegmentPrefix, Value: "/a?b"}
		}, `path segment prefix "/a?b": must not contain '?' or '#'`},
		{"unknown redirect code", func(gw *ir.Gateway) {
			r := gw.Listeners[0].VirtualHosts[0].Routes[0]
			r.Forward, r.Redirect = nil, &ir.Redirect{StatusCode: 305}
		}, `redirect status 305: must be 301, 302, 303, 307 or 308`},
		{"direct response status fails validation", func(gw *ir.Gateway) {
			r := gw.Listeners[0].VirtualHosts[0].Routes[0]
			r.Forward, r.DirectResponse = nil, &ir.DirectResponse{Status: 99}
		}, `route configuration "http-8080": invalid RouteConfiguration.VirtualHosts[0]`},
		{"fault abort status", func(gw *ir.Gateway) {
			gw.Listeners[0].VirtualHosts[0].Routes[0].Fault = &ir.Fault{AbortStatus: 700, AbortPercent: 1}
		}, `fault abort status 700`},
		{"duplicate domain", func(gw *ir.Gateway) {
			l := gw.Listeners[0]
			l.VirtualHosts = append(l.VirtualHosts, &ir.VirtualHost{Name: "other", Domains: []string{"*"}})
		}, `virtual host "other": domain "*" is already served by virtual host "all"`},
		{"duplicate cluster", func(gw *ir.Gateway) { gw.Clusters = append(gw.Clusters, svcCluster(testCluster)) },
			`cluster "ns/svc/80": duplicate name`},
		{"duplicate listener", func(gw *ir.Gateway) {
			gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "http-8080", Port: 8081})
		}, `listener "http-8080": duplicate name`},
		{"maglev table not prime", func(gw *ir.Gateway) {
			gw.Clusters[0].LoadBalancer = ir.LoadBalancer{Policy: ir.Maglev, MaglevTable: 65536}
		}, `cluster "ns/svc/80": maglev table size 65536: must be prime`},
		{"health check without interval", func(gw *ir.Gateway) {
			gw.Clusters[0].HealthCheck = &ir.HealthCheck{Path: "/", Timeout: time.Second}
		}, `cluster "ns/svc/80": health check: interval 0s and timeout 1s: both must be positive`},
		{"upstream tls without ca", func(gw *ir.Gateway) { gw.Clusters[0].TLS = &ir.UpstreamTLS{SNI: "x"} },
			`cluster "ns/svc/80": tls: no CA secret`},
		{"upstream ca secret missing", func(gw *ir.Gateway) { gw.Clusters[0].TLS = &ir.UpstreamTLS{CASecretName: "ns/ca"} },
			`tls: ca: secret "ns/ca": not among the gateway's secrets`},
		{"tls listener without certificates", func(gw *ir.Gateway) {
			gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "https-8443", Port: 8443, TLS: &ir.ListenerTLS{}})
		}, `listener "https-8443": TLS listener without certificates`},
		{"certificate secret missing", func(gw *ir.Gateway) {
			gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "https-8443", Port: 8443, TLS: &ir.ListenerTLS{Certificates: []*ir.TLSCertificate{{SecretName: "ns/cert"}}}})
		}, `listener "https-8443": tls.certificates[0]: secret "ns/cert": not among`},
		{"two default chains", func(gw *ir.Gateway) {
			gw.Secrets = []*ir.Secret{{Name: "ns/a", CertificateChain: []byte("c"), PrivateKey: []byte("k")}, {Name: "ns/b", CertificateChain: []byte("c"), PrivateKey: []byte("k")}}
			gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "https-8443", Port: 8443, TLS: &ir.ListenerTLS{Certificates: []*ir.TLSCertificate{{SecretName: "ns/a"}, {SecretName: "ns/b"}}}})
		}, `tls.certificates[1]: server name "" already served by secret "ns/a"`},
		{"tls version", func(gw *ir.Gateway) {
			gw.Secrets = []*ir.Secret{{Name: "ns/a", CertificateChain: []byte("c"), PrivateKey: []byte("k")}}
			gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "https-8443", Port: 8443, TLS: &ir.ListenerTLS{MinVersion: "1.1", Certificates: []*ir.TLSCertificate{{SecretName: "ns/a"}}}})
		}, `tls minimum version "1.1": must be 1.2 or 1.3`},
		{"tls min above max", func(gw *ir.Gateway) {
			gw.Secrets = []*ir.Secret{{Name: "ns/a", CertificateChain: []byte("c"), PrivateKey: []byte("k")}}
			gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "https-8443", Port: 8443, TLS: &ir.ListenerTLS{MinVersion: "1.3", MaxVersion: "1.2", Certificates: []*ir.TLSCertificate{{SecretName: "ns/a"}}}})
		}, `tls minimum version "1.3" is above the maximum "1.2"`},
		{"client ca is a certificate", func(gw *ir.Gateway) {
			gw.Secrets = []*ir.Secret{{Name: "ns/a", CertificateChain: []byte("c"), PrivateKey: []byte("k")}}
			gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "https-8443", Port: 8443, TLS: &ir.ListenerTLS{
				Certificates: []*ir.TLSCertificate{{SecretName: "ns/a"}}, ClientValidation: &ir.ClientValidation{CASecretName: "ns/a"}}})
		}, `client validation: secret "ns/a": holds no CA certificates`},
		{"secret with certificate and ca", func(gw *ir.Gateway) {
			gw.Secrets = []*ir.Secret{{Name: "ns/a", CertificateChain: []byte("c"), PrivateKey: []byte("k"), CACertificates: []byte("ca")}}
		}, `secret "ns/a": holds both a certificate and CA certificates`},
		{"certificate without key", func(gw *ir.Gateway) { gw.Secrets = []*ir.Secret{{Name: "ns/a", CertificateChain: []byte("c")}} },
			`secret "ns/a": a certificate needs both its chain and its private key`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gw *ir.Gateway
			if tc.mutate != nil {
				gw = oneRoute(fwd("r"))
				tc.mutate(gw)
			}
			r, err := Translate(gw)
			if err == nil {
				t.Fatalf("no error; got %d route configurations", len(r.Routes))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}
