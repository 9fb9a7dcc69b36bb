package dpconfig

import (
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3common "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	localrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func toAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func rc(routes ...*routev3.Route) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: "http-8080", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: routes}}}
}

func fwd(cluster string) *routev3.Route_Route {
	return &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}}
}

func TestDecodeRouteErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name    string
		route   *routev3.Route
		wantErr string
	}{
		{"bad regex", &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/(["}}}, Action: fwd("a")},
			`virtual_hosts[0].routes[0].match.safe_regex: invalid regex`},
		{"unsupported retry condition", &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "a"}, RetryPolicy: &routev3.RetryPolicy{RetryOn: "5xx,cosmic-rays"}}}},
			`routes[0].route.retry_policy.retry_on: unsupported condition "cosmic-rays"`},
		{"unknown per-filter config", &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: fwd("a"),
			TypedPerFilterConfig: map[string]*anypb.Any{"envoy.filters.http.lua": toAny(t, &routev3.Route{})}},
			`typed_per_filter_config[envoy.filters.http.lua]: unsupported filter`},
		{"header formatter", &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: fwd("a"),
			RequestHeadersToAdd: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-client", Value: "%DOWNSTREAM_REMOTE_ADDRESS%"}}}},
			`command operators`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRoute(toAny(t, rc(tt.route)))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), `"http-8080"`) {
				t.Fatalf("error %q does not name the resource", err)
			}
		})
	}
}

func TestDecodeRouteFeatures(t *testing.T) {
	fault := &faultv3.HTTPFault{Abort: &faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: 503},
		Percentage: &typev3.FractionalPercent{Numerator: 25, Denominator: typev3.FractionalPercent_HUNDRED}},
		Delay: &faultv3common.FaultDelay{FaultDelaySecifier: &faultv3common.FaultDelay_FixedDelay{FixedDelay: durationpb.New(time.Second)}}}
	r := &routev3.Route{
		Name: "r", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/api"}, CaseSensitive: wrapperspb.Bool(false),
			Headers: []*routev3.HeaderMatcher{{Name: "X-User", InvertMatch: true, TreatMissingHeaderAsEmpty: true,
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "bob"}}}}}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
				{Name: "v1", Weight: wrapperspb.UInt32(90)}, {Name: "v2", Weight: wrapperspb.UInt32(10)}}}},
			Timeout:      durationpb.New(0),
			RegexRewrite: &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^/api/(.*)$"}, Substitution: `/v2/\1`},
			RetryPolicy:  &routev3.RetryPolicy{RetryOn: "5xx,connect-failure", NumRetries: wrapperspb.UInt32(3), PerTryTimeout: durationpb.New(time.Second)},
		}},
		TypedPerFilterConfig: map[string]*anypb.Any{FaultFilterName: toAny(t, fault)},
	}
	got, err := DecodeRoute(toAny(t, rc(r)))
	if err != nil {
		t.Fatal(err)
	}
	rt := got.VirtualHosts[0].Routes[0]
	if rt.Match.PathKind != PathSeparatedPrefix || rt.Match.CaseSensitive {
		t.Errorf("match = %+v", rt.Match)
	}
	if h := rt.Match.Headers[0]; h.Name != "x-user" || !h.Invert || !h.TreatMissingAsEmpty || h.String.Value != "bob" {
		t.Errorf("header matcher = %+v", h)
	}
	a := rt.Forward
	if a.TotalWeight != 100 || len(a.Clusters) != 2 || a.Timeout != 0 {
		t.Errorf("action = %+v", a)
	}
	if a.RegexRewrite.Substitution != "/v2/${1}" || a.RegexRewrite.Regex.ReplaceAllString("/api/x", a.RegexRewrite.Substitution) != "/v2/x" {
		t.Errorf("regex rewrite = %+v", a.RegexRewrite)
	}
	if a.Retry.On != Retry5xx|RetryConnectFailure || a.Retry.NumRetries != 3 || a.Retry.PerTryTimeout != time.Second {
		t.Errorf("retry = %+v", a.Retry)
	}
	if rt.Fault.AbortStatus != 503 || rt.Fault.AbortPerMillion != 250_000 || rt.Fault.Delay != time.Second || rt.Fault.DelayPerMillion != 0 { // unset percentage is 0 in Envoy
		t.Errorf("fault = %+v", rt.Fault)
	}
}

func TestDecodeClusterRejectsStaticClusters(t *testing.T) {
	c := &clusterv3.Cluster{Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}
	if _, err := DecodeCluster(toAny(t, c)); err == nil || !strings.Contains(err.Error(), `cluster "c": type: only EDS`) {
		t.Fatalf("error = %v", err)
	}
}

func TestDecodeSecretRejectsGarbage(t *testing.T) {
	for _, typ := range []string{"cert", "ca"} {
		a := toAny(t, badSecret(typ))
		_, err := DecodeSecret(a)
		if err == nil {
			t.Fatalf("%s: garbage accepted", typ)
		}
		if strings.Contains(err.Error(), "not-a-key") {
			t.Fatalf("%s: error leaks secret material: %v", typ, err)
		}
	}
}

// The fuzz targets feed arbitrary bytes as the serialized resource; seeds
// are contract-shaped resources so mutations explore the supported subset.
func FuzzDecodeRoute(f *testing.F) {
	for _, r := range []*routev3.Route{
		{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: fwd("a")},
		prefixRoute(func(r *routev3.Route) {
			r.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/a/[0-9]+"}}
			r.Match.Headers = []*routev3.HeaderMatcher{{Name: ":authority", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `[^.]+\.a\.com`}}}}}}
			action(r).RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "/(a)"}, Substitution: `/\1`}
			r.TypedPerFilterConfig = map[string]*anypb.Any{FaultFilterName: mustAny(&faultv3.HTTPFault{Abort: &faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: 503}}})}
		}),
		prefixRoute(func(r *routev3.Route) {
			// A route's local_ratelimit bucket (decodeLocalRateLimit).
			r.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.local_ratelimit": mustAny(&localrlv3.LocalRateLimit{
				StatPrefix:  "p",
				TokenBucket: &typev3.TokenBucket{MaxTokens: 5, TokensPerFill: wrapperspb.UInt32(5), FillInterval: durationpb.New(time.Minute)},
				Status:      &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests},
			})}
		}),
	} {
		seed, err := proto.Marshal(rc(r))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeRoute(&anypb.Any{TypeUrl: RouteTypeURL, Value: b}); err == nil && r == nil {
			t.Fatal("nil route without error")
		}
	})
}

func FuzzDecodeListener(f *testing.F) {
	for _, l := range []*listenerv3.Listener{contractListener(nil, contractHCM()), contractListener(contractTLS(), contractHCM())} {
		seed, err := proto.Marshal(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if l, err := DecodeListener(&anypb.Any{TypeUrl: ListenerTypeURL, Value: b}); err == nil && l == nil {
			t.Fatal("nil listener without error")
		}
	})
}

func FuzzDecodeCluster(f *testing.F) {
	seed, err := proto.Marshal(contractCluster())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeCluster(&anypb.Any{TypeUrl: ClusterTypeURL, Value: b})
		DecodeEndpoints(&anypb.Any{TypeUrl: EndpointTypeURL, Value: b})
		DecodeSecret(&anypb.Any{TypeUrl: SecretTypeURL, Value: b})
	})
}

func badSecret(kind string) proto.Message {
	ds := &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "not-a-key"}}
	if kind == "ca" {
		return &tlsv3.Secret{Name: "s", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: ds}}}
	}
	return &tlsv3.Secret{Name: "s", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{CertificateChain: ds, PrivateKey: ds}}}
}
