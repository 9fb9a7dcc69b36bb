package translate

import (
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

func million(n uint32) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: n, Denominator: typev3.FractionalPercent_MILLION}
}

func regexMatcher(re string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}

func TestRouteMatch(t *testing.T) {
	prefix := func(p string) *routev3.RouteMatch {
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
	}
	cases := []struct {
		name  string
		match ir.Match
		want  *routev3.RouteMatch
	}{
		{"empty prefix matches everything", ir.Match{}, prefix("/")},
		{"prefix is a plain string prefix", ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/foo"}}, prefix("/foo")},
		{"exact is path", ir.Match{Path: ir.PathMatch{Kind: ir.PathExact, Value: "/foo"}},
			&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/foo"}}},
		{"segment prefix drops the trailing slash", ir.Match{Path: ir.PathMatch{Kind: ir.PathSegmentPrefix, Value: "/foo/"}},
			&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/foo"}}},
		{"segment prefix / is prefix /", ir.Match{Path: ir.PathMatch{Kind: ir.PathSegmentPrefix, Value: "/"}}, prefix("/")},
		{"ignore case sets case_sensitive false", ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/A", IgnoreCase: true}},
			&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/A"}, CaseSensitive: wrapperspb.Bool(false)}},
		{"case-insensitive regex carries (?i)", ir.Match{Path: ir.PathMatch{Kind: ir.PathRegex, Value: "/u/[0-9]+", IgnoreCase: true}},
			&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "(?i)/u/[0-9]+"}}, CaseSensitive: wrapperspb.Bool(false)}},
		{"headers: exact, prefix ignoring case, regex, present", ir.Match{Headers: []ir.HeaderMatch{
			{Name: ":method", Match: ir.StringMatch{Kind: ir.MatchExact, Value: "GET"}},
			{Name: "x-a", Match: ir.StringMatch{Kind: ir.MatchPrefix, Value: "p", IgnoreCase: true}},
			{Name: "x-b", Match: ir.StringMatch{Kind: ir.MatchRegex, Value: "v[0-9]", IgnoreCase: true}},
			{Name: "x-c", Match: ir.StringMatch{Kind: ir.MatchPresent}},
		}}, &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{
			{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exactMatcher("GET")}},
			{Name: "x-a", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "p"}, IgnoreCase: true}}},
			{Name: "x-b", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: regexMatcher("(?i)v[0-9]")}},
			{Name: "x-c", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}},
		}}},
		{"without a header value treats missing as empty", ir.Match{Headers: []ir.HeaderMatch{{Name: "x", Match: ir.StringMatch{Kind: ir.MatchExact, Value: "1"}, Invert: true}}},
			&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{
				{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exactMatcher("1")}, InvertMatch: true, TreatMissingHeaderAsEmpty: true}}}},
		{"without a header at all matches its absence", ir.Match{Headers: []ir.HeaderMatch{{Name: "x", Match: ir.StringMatch{Kind: ir.MatchPresent}, Invert: true}}},
			&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{
				{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}, InvertMatch: true}}}},
		{"query parameters", ir.Match{QueryParams: []ir.QueryParamMatch{
			{Name: "a", Match: ir.StringMatch{Kind: ir.MatchExact, Value: "1"}},
			{Name: "b", Match: ir.StringMatch{Kind: ir.MatchPresent}},
		}}, &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, QueryParameters: []*routev3.QueryParameterMatcher{
			{Name: "a", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: exactMatcher("1")}},
			{Name: "b", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}},
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fwd("r")
			r.Match = tc.match
			res := mustTranslate(t, oneRoute(r))
			assertProto(t, firstRoute(t, res).GetMatch(), tc.want)
			assertProxyAccepts(t, res)
		})
	}
}

func TestWildcardHosts(t *testing.T) {
	star := fwd("star")
	gw := oneRoute(star)
	gw.Listeners[0].VirtualHosts = append(gw.Listeners[0].VirtualHosts,
		&ir.VirtualHost{Name: "wild", Domains: []string{"*.example.com", "example.com"}, Routes: []*ir.Route{fwd("w")}},
		&ir.VirtualHost{Name: "exact", Domains: []string{"a.example.org"}, Routes: []*ir.Route{fwd("e")}},
	)
	rc := routeConfigOf(t, mustTranslate(t, gw), "http-8080")
	byName := map[string]*routev3.VirtualHost{}
	for _, vh := range rc.GetVirtualHosts() {
		byName[vh.GetName()] = vh
	}
	t.Run("a single-label wildcard restricts each route by :authority", func(t *testing.T) {
		w := byName["wild"].GetRoutes()[0]
		assertProto(t, w.GetMatch().GetHeaders()[0], &routev3.HeaderMatcher{Name: ":authority",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: regexMatcher(`(?i)^(?:[^.:]+\.example\.com|example\.com)(:[0-9]+)?$`)}})
	})
	t.Run("and falls back to the catch-all's routes, unrestricted", func(t *testing.T) {
		routes := byName["wild"].GetRoutes()
		if len(routes) != 2 || routes[1].GetName() != "star" || len(routes[1].GetMatch().GetHeaders()) != 0 {
			t.Errorf("wild routes: %v", routes)
		}
	})
	t.Run("exact hosts and the catch-all are not restricted", func(t *testing.T) {
		for _, n := range []string{"all", "exact"} {
			if rs := byName[n].GetRoutes(); len(rs) != 1 || len(rs[0].GetMatch().GetHeaders()) != 0 {
				t.Errorf("%s: %v", n, rs)
			}
		}
	})
	t.Run("virtual hosts are sorted by name", func(t *testing.T) {
		var names []string
		for _, vh := range rc.GetVirtualHosts() {
			names = append(names, vh.GetName())
		}
		if want := []string{"all", "exact", "wild"}; !slices.Equal(names, want) {
			t.Errorf("order %v, want %v", names, want)
		}
	})
}

func TestRouteAction(t *testing.T) {
	other := svcCluster("ns/other/80")
	ringHash := svcCluster("ns/ring/80")
	ringHash.LoadBalancer = ir.LoadBalancer{Policy: ir.RingHash, HashPolicies: []ir.HashPolicy{{SourceIP: true}}}
	cases := []struct {
		name   string
		mutate func(r *ir.Route)
		want   *routev3.RouteAction
	}{
		{"one backend is cluster, timeout 0s means none", func(*ir.Route) {},
			&routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster}, Timeout: durationpb.New(0)}},
		{"weighted clusters keep 0 weights and per-backend headers", func(r *ir.Route) {
			r.Forward.Backends = []*ir.WeightedBackend{
				{Cluster: testCluster, Weight: 100},
				{Cluster: other.Name, Weight: 0, RequestHeaders: ir.HeaderMutation{Set: []ir.HeaderValue{{Name: "x-canary", Value: "1"}}}, ResponseHeaders: ir.HeaderMutation{Remove: []string{"x-i"}}},
			}
			r.Timeout = 3 * time.Second
		}, &routev3.RouteAction{Timeout: durationpb.New(3 * time.Second), ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
			{Name: testCluster, Weight: wrapperspb.UInt32(100)},
			{Name: other.Name, Weight: wrapperspb.UInt32(0),
				RequestHeadersToAdd:     []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-canary", Value: "1"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}},
				ResponseHeadersToRemove: []string{"x-i"}},
		}}}}},
		{"a single backend with headers is a weighted cluster", func(r *ir.Route) {
			r.Forward.Backends[0].RequestHeaders.Add = []ir.HeaderValue{{Name: "x", Value: "y"}}
		}, &routev3.RouteAction{Timeout: durationpb.New(0), ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
			{Name: testCluster, Weight: wrapperspb.UInt32(1), RequestHeadersToAdd: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x", Value: "y"}, AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD}}},
		}}}}},
		{"retry policy", func(r *ir.Route) {
			r.Retry = &ir.RetryPolicy{On: []string{"connect-failure", "retriable-status-codes"}, Attempts: 3, PerTryTimeout: 2 * time.Second, RetriableStatusCodes: []uint32{502, 503}}
		}, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster}, Timeout: durationpb.New(0),
			RetryPolicy: &routev3.RetryPolicy{RetryOn: "connect-failure,retriable-status-codes", NumRetries: wrapperspb.UInt32(3), PerTryTimeout: durationpb.New(2 * time.Second), RetriableStatusCodes: []uint32{502, 503}}}},
		{"zero attempts means no retries", func(r *ir.Route) { r.Retry = &ir.RetryPolicy{On: []string{"5xx"}} },
			&routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster}, Timeout: durationpb.New(0)}},
		{"mirrors: a fraction carries runtime_fraction, 100% does not", func(r *ir.Route) {
			r.Mirrors = []*ir.Mirror{{Cluster: other.Name, Percent: 0.25}, {Cluster: testCluster, Percent: 100}}
		}, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster}, Timeout: durationpb.New(0),
			RequestMirrorPolicies: []*routev3.RouteAction_RequestMirrorPolicy{
				{Cluster: other.Name, RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: million(2500)}},
				{Cluster: testCluster},
			}}},
		{"prefix and host rewrite", func(r *ir.Route) { r.Rewrite = &ir.Rewrite{PathPrefix: "/v2/", Host: "internal"} },
			&routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster}, Timeout: durationpb.New(0),
				PrefixRewrite: "/v2/", HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "internal"}}},
		{"regex rewrite wins over prefix rewrite", func(r *ir.Route) {
			r.Rewrite = &ir.Rewrite{PathPrefix: "/x", Regex: &ir.RegexRewrite{Pattern: "^/a/(.*)$", Substitution: `/b/\1`}}
		}, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster}, Timeout: durationpb.New(0),
			RegexRewrite: &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^/a/(.*)$"}, Substitution: `/b/\1`}}},
		{"route hash policy", func(r *ir.Route) {
			r.Forward.HashPolicy = &ir.HashPolicy{Cookie: &ir.HashCookie{Name: "s", Path: "/", TTL: time.Minute}}
		}, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster}, Timeout: durationpb.New(0),
			HashPolicy: []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: &routev3.RouteAction_HashPolicy_Cookie{Name: "s", Path: "/", Ttl: durationpb.New(time.Minute)}}}}}},
		{"cluster hash policy when the route has none", func(r *ir.Route) { r.Forward.Backends[0].Cluster = ringHash.Name },
			&routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: ringHash.Name}, Timeout: durationpb.New(0),
				HashPolicy: []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}}}}},
		{"header hash policy", func(r *ir.Route) { r.Forward.HashPolicy = &ir.HashPolicy{Header: "x-user"} },
			&routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: testCluster}, Timeout: durationpb.New(0),
				HashPolicy: []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "x-user"}}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fwd("r")
			tc.mutate(r)
			res := mustTranslate(t, oneRoute(r, other, ringHash))
			assertProto(t, firstRoute(t, res).GetRoute(), tc.want)
			assertProxyAccepts(t, res)
		})
	}
}

func TestRedirectAndDirectResponse(t *testing.T) {
	cases := []struct {
		name string
		in   *ir.Route
		want *routev3.Route
	}{
		{"status 0 is 301", &ir.Route{Redirect: &ir.Redirect{Host: "b.example"}},
			&routev3.Route{Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{HostRedirect: "b.example"}}}},
		{"every field and 308", &ir.Route{Redirect: &ir.Redirect{Scheme: "https", Host: "b", Port: 8443, Path: "/n", StatusCode: 308}},
			&routev3.Route{Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{
				SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "https"}, HostRedirect: "b", PortRedirect: 8443,
				PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: "/n"}, ResponseCode: routev3.RedirectAction_PERMANENT_REDIRECT}}}},
		{"302", &ir.Route{Redirect: &ir.Redirect{Path: "/x", StatusCode: 302}},
			&routev3.Route{Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: "/x"}, ResponseCode: routev3.RedirectAction_FOUND}}}},
		{"303", &ir.Route{Redirect: &ir.Redirect{Path: "/x", StatusCode: 303}},
			&routev3.Route{Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: "/x"}, ResponseCode: routev3.RedirectAction_SEE_OTHER}}}},
		{"307", &ir.Route{Redirect: &ir.Redirect{Path: "/x", StatusCode: 307}},
			&routev3.Route{Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: "/x"}, ResponseCode: routev3.RedirectAction_TEMPORARY_REDIRECT}}}},
		{"direct response with body", &ir.Route{DirectResponse: &ir.DirectResponse{Status: 404, Body: "no"}},
			&routev3.Route{Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 404, Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "no"}}}}}},
		{"direct response without body", &ir.Route{DirectResponse: &ir.DirectResponse{Status: 204}},
			&routev3.Route{Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 204}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Name = "r"
			res := mustTranslate(t, oneRoute(tc.in))
			got := proto.Clone(firstRoute(t, res)).(*routev3.Route)
			got.Name, got.Match = "", nil
			assertProto(t, got, tc.want)
			assertProxyAccepts(t, res)
		})
	}
}

func TestHeaderMutationsAndMetadata(t *testing.T) {
	r := fwd("r")
	r.RequestHeaders = ir.HeaderMutation{Set: []ir.HeaderValue{{Name: "x-set", Value: "1"}}, Add: []ir.HeaderValue{{Name: "x-add", Value: "2"}}, Remove: []string{"x-rm"}}
	r.ResponseHeaders = ir.HeaderMutation{Set: []ir.HeaderValue{{Name: "server", Value: "ksgw"}}}
	got := firstRoute(t, mustTranslate(t, oneRoute(r)))
	want := &routev3.Route{
		RequestHeadersToAdd: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-set", Value: "1"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
			{Header: &corev3.HeaderValue{Key: "x-add", Value: "2"}, AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD},
		},
		RequestHeadersToRemove: []string{"x-rm"},
		ResponseHeadersToAdd:   []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "server", Value: "ksgw"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}},
		Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"ksgw": {Fields: map[string]*structpb.Value{
			"source": structpb.NewStringValue("Route ns/r"),
		}}}},
	}
	got = proto.Clone(got).(*routev3.Route)
	got.Name, got.Match, got.Action = "", nil, nil
	assertProto(t, got, want)
}

func TestPerRouteFaultAndCORS(t *testing.T) {
	cases := []struct {
		name      string
		fault     *ir.Fault
		cors      *ir.CORSPolicy
		wantFault *faultv3.HTTPFault
		wantCORS  *corsv3.CorsPolicy
	}{
		{name: "no fault, no cors: no per-filter config"},
		{name: "delay and abort over a million",
			fault: &ir.Fault{Delay: 1500 * time.Millisecond, DelayPercent: 0.1, AbortStatus: 503, AbortPercent: 12.5},
			wantFault: &faultv3.HTTPFault{
				Delay: &faultcommon.FaultDelay{FaultDelaySecifier: &faultcommon.FaultDelay_FixedDelay{FixedDelay: durationpb.New(1500 * time.Millisecond)}, Percentage: million(1000)},
				Abort: &faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: 503}, Percentage: million(125000)},
			}},
		{name: "abort only at 100%", fault: &ir.Fault{AbortStatus: 500, AbortPercent: 100},
			wantFault: &faultv3.HTTPFault{Abort: &faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: 500}, Percentage: million(1_000_000)}}},
		{name: "an empty fault injects nothing", fault: &ir.Fault{}},
		{name: "cors policy",
			cors: &ir.CORSPolicy{AllowOrigins: []ir.StringMatch{{Kind: ir.MatchExact, Value: "https://a"}, {Kind: ir.MatchRegex, Value: `https://.*\.b`}},
				AllowMethods: []string{"GET", "PUT"}, AllowHeaders: []string{"a", "b"}, ExposeHeaders: []string{"c"}, MaxAge: 1500 * time.Millisecond, AllowCredentials: true},
			wantCORS: &corsv3.CorsPolicy{
				AllowOriginStringMatch: []*matcherv3.StringMatcher{exactMatcher("https://a"), regexMatcher(`https://.*\.b`)},
				AllowMethods:           "GET,PUT", AllowHeaders: "a,b", ExposeHeaders: "c", MaxAge: "2", AllowCredentials: wrapperspb.Bool(true),
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fwd("r")
			r.Fault, r.CORS = tc.fault, tc.cors
			res := mustTranslate(t, oneRoute(r))
			pfc := firstRoute(t, res).GetTypedPerFilterConfig()
			if n := btoi(tc.wantFault != nil) + btoi(tc.wantCORS != nil); len(pfc) != n {
				t.Fatalf("%d per-filter configs, want %d: %v", len(pfc), n, pfc)
			}
			if tc.wantFault != nil {
				assertProto(t, unpack(t, pfc[faultFilter], &faultv3.HTTPFault{}), tc.wantFault)
			}
			if tc.wantCORS != nil {
				assertProto(t, unpack(t, pfc[corsFilter], &corsv3.CorsPolicy{}), tc.wantCORS)
			}
			assertProxyAccepts(t, res)
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestHTTPSRedirectListenerRedirectsEverything(t *testing.T) {
	gw := oneRoute(fwd("r"))
	gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "http-9080", Port: 9080, HTTPSRedirect: true,
		VirtualHosts: gw.Listeners[0].VirtualHosts}) // ignored: every request is redirected
	res := mustTranslate(t, gw)
	assertProto(t, routeConfigOf(t, res, "http-9080"), &routev3.RouteConfiguration{Name: "http-9080", VirtualHosts: []*routev3.VirtualHost{{
		Name: "https-redirect", Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:   "https-redirect",
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}}},
		}},
	}}})
	assertProxyAccepts(t, res)
}
