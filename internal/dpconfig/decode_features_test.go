package dpconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

// contractHCM is the HCM exactly as docs/xds-contract.md describes it.
func contractHCM() *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix: "http-8080", CodecType: hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier:            &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "http-8080", ConfigSource: adsSource()}},
		UseRemoteAddress:          wrapperspb.Bool(true),
		GenerateRequestId:         wrapperspb.Bool(true),
		UpgradeConfigs:            []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Minute)},
		RequestHeadersTimeout:     durationpb.New(10 * time.Second),
		StreamIdleTimeout:         durationpb.New(time.Minute),
		MaxRequestHeadersKb:       wrapperspb.UInt32(64),
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: FaultFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&faultv3.HTTPFault{})}},
			{Name: CORSFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&corsv3.Cors{})}},
			{Name: RouterFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		},
	}
}

func sdsRef(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsSource()}
}

func contractListener(tlsCtx *tlsv3.DownstreamTlsContext, hcm *hcmv3.HttpConnectionManager) *listenerv3.Listener {
	fc := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{Name: hcmFilterName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)}}}}
	if tlsCtx != nil {
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{"a.example.com"}}
		fc.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(tlsCtx)}}
	}
	return &listenerv3.Listener{Name: "http-8080",
		Address:      &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080}}}},
		FilterChains: []*listenerv3.FilterChain{fc}}
}

func contractTLS() *tlsv3.DownstreamTlsContext {
	return &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
			CipherSuites: []string{"[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]", "ECDHE-RSA-AES128-GCM-SHA256"}},
		AlpnProtocols:                  []string{"h2", "http/1.1"},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsRef("ns/cert")},
		ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsRef("ns/ca")},
	}, RequireClientCertificate: wrapperspb.Bool(true)}
}

func TestDecodeListenerContract(t *testing.T) {
	l, err := DecodeListener(mustAny(contractListener(contractTLS(), contractHCM())))
	if err != nil {
		t.Fatal(err)
	}
	fc := l.FilterChains[0]
	if l.Address.String() != "0.0.0.0:8080" || fc.ServerNames[0] != "a.example.com" {
		t.Errorf("listener = %+v", l)
	}
	tl := fc.TLS
	if tl.MinVersion != tls.VersionTLS12 || tl.MaxVersion != tls.VersionTLS13 || tl.CertificateSecret != "ns/cert" || tl.ValidationSecret != "ns/ca" || !tl.RequireClientCert {
		t.Errorf("tls = %+v", tl)
	}
	wantCiphers := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	if len(tl.CipherSuites) != 3 || tl.CipherSuites[0] != wantCiphers[0] || tl.CipherSuites[1] != wantCiphers[1] || tl.CipherSuites[2] != wantCiphers[2] {
		t.Errorf("ciphers = %v, want %v", tl.CipherSuites, wantCiphers)
	}
	h := fc.HCM
	if h.RouteConfigName != "http-8080" || !h.WebSocket || h.IdleTimeout != time.Minute || h.MaxRequestHeadersBytes != 64<<10 ||
		strings.Join(filterNames(h.HTTPFilters), ",") != FaultFilterName+","+CORSFilterName+","+RouterFilterName {
		t.Errorf("hcm = %+v", h)
	}
}

func TestDecodeListenerErrors(t *testing.T) {
	with := func(f func(h *hcmv3.HttpConnectionManager)) *listenerv3.Listener {
		h := contractHCM()
		f(h)
		return contractListener(nil, h)
	}
	withTLS := func(f func(c *tlsv3.DownstreamTlsContext)) *listenerv3.Listener {
		c := contractTLS()
		f(c)
		return contractListener(c, contractHCM())
	}
	tests := []struct {
		name    string
		l       *listenerv3.Listener
		wantErr string
	}{
		{"unknown non-optional filter", with(func(h *hcmv3.HttpConnectionManager) {
			h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.lua"}}, h.HttpFilters...)
		}), `http_filters[0]: unsupported HTTP filter "envoy.filters.http.lua"`},
		{"filter after the router", with(func(h *hcmv3.HttpConnectionManager) {
			h.HttpFilters = append(h.HttpFilters, &hcmv3.HttpFilter{Name: CORSFilterName})
		}), `http_filters[3]: filter "envoy.filters.http.cors" after the router never runs`},
		{"no router", with(func(h *hcmv3.HttpConnectionManager) { h.HttpFilters = h.HttpFilters[:2] }), `http_filters: the last filter must be`},
		{"listener-level fault config", with(func(h *hcmv3.HttpConnectionManager) {
			h.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&faultv3.HTTPFault{Abort: &faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: 503}}})}
		}), `http_filters[0].typed_config.abort: not supported`},
		{"wrong filter config type", with(func(h *hcmv3.HttpConnectionManager) {
			h.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}
		}), `http_filters[0].typed_config`},
		{"scoped routes", with(func(h *hcmv3.HttpConnectionManager) {
			h.RouteSpecifier = &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{}}
		}), `typed_config.scoped_routes: not supported`},
		{"rds over a non-ads source", with(func(h *hcmv3.HttpConnectionManager) {
			h.GetRds().ConfigSource = &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Self{Self: &corev3.SelfConfigSource{}}}
		}), `rds.config_source: only ads`},
		{"path normalisation is not implemented", with(func(h *hcmv3.HttpConnectionManager) { h.NormalizePath = wrapperspb.Bool(true) }), `normalize_path: not supported`},
		{"non-websocket upgrade", with(func(h *hcmv3.HttpConnectionManager) {
			h.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "CONNECT"}}
		}), `upgrade_configs[0].upgrade_type: only websocket`},
		{"unknown cipher", withTLS(func(c *tlsv3.DownstreamTlsContext) { c.CommonTlsContext.TlsParams.CipherSuites = []string{"NULL-MD5"} }), `tls_params.cipher_suites[0]: unsupported cipher "NULL-MD5"`},
		{"min above max", withTLS(func(c *tlsv3.DownstreamTlsContext) {
			c.CommonTlsContext.TlsParams.TlsMinimumProtocolVersion = tlsv3.TlsParameters_TLSv1_3
			c.CommonTlsContext.TlsParams.TlsMaximumProtocolVersion = tlsv3.TlsParameters_TLSv1_2
		}), `tls_minimum_protocol_version: is above`},
		{"inline certificate", withTLS(func(c *tlsv3.DownstreamTlsContext) {
			c.CommonTlsContext.TlsCertificates = []*tlsv3.TlsCertificate{{}}
		}), `common_tls_context.tls_certificates: not supported`},
		{"client cert without validation", withTLS(func(c *tlsv3.DownstreamTlsContext) { c.CommonTlsContext.ValidationContextType = nil }), `require_client_certificate: needs a validation context`},
		{"require sni", withTLS(func(c *tlsv3.DownstreamTlsContext) { c.RequireSni = wrapperspb.Bool(true) }), `typed_config.require_sni: not supported`},
		{"non-exact SAN matcher", withTLS(func(c *tlsv3.DownstreamTlsContext) {
			c.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				ValidationContextSdsSecretConfig: sdsRef("ns/ca"),
				DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_DNS,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "a"}}}}}}}
		}), `match_typed_subject_alt_names[0].matcher: only exact`},
		{"server names without TLS", func() *listenerv3.Listener {
			l := contractListener(nil, contractHCM())
			l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{"a"}}
			return l
		}(), `server_names: needs a TLS transport_socket`},
		{"two catch-all chains", func() *listenerv3.Listener {
			l := contractListener(nil, contractHCM())
			l.FilterChains = append(l.FilterChains, l.FilterChains[0])
			return l
		}(), `filter_chains[1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeListener(mustAny(tt.l))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), `listener "http-8080": `) {
				t.Fatalf("error = %v, want one starting with the listener and containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeListenerOptionalUnknownFilterIsSkippedAndNoted(t *testing.T) {
	h := contractHCM()
	h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.lua", IsOptional: true}}, h.HttpFilters...)
	l, err := DecodeListener(mustAny(contractListener(nil, h)))
	if err != nil {
		t.Fatal(err)
	}
	if hc := l.FilterChains[0].HCM; len(hc.HTTPFilters) != 3 || len(hc.SkippedHTTPFilters) != 1 || hc.SkippedHTTPFilters[0] != "envoy.filters.http.lua" {
		t.Fatalf("filters = %v, skipped = %v", hc.HTTPFilters, hc.SkippedHTTPFilters)
	}
}

func TestDecodeListenerInlineRouteConfig(t *testing.T) {
	h := contractHCM()
	h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc(&routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: fwd("a")})}
	l, err := DecodeListener(mustAny(contractListener(nil, h)))
	if err != nil {
		t.Fatal(err)
	}
	if hc := l.FilterChains[0].HCM; hc.RouteConfig == nil || hc.RouteConfigName != "http-8080" || len(hc.RouteConfig.VirtualHosts) != 1 {
		t.Fatalf("hcm = %+v", hc)
	}
}

func prefixRoute(f func(r *routev3.Route)) *routev3.Route {
	r := &routev3.Route{Name: "r", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: fwd("a")}
	f(r)
	return r
}

func action(r *routev3.Route) *routev3.RouteAction { return r.GetRoute() }

func TestDecodeRouteRejects(t *testing.T) {
	tests := []struct {
		name    string
		route   *routev3.Route
		wantErr string
	}{
		{"path_match_policy", prefixRoute(func(r *routev3.Route) {
			r.Match.PathSpecifier = &routev3.RouteMatch_PathMatchPolicy{PathMatchPolicy: &corev3.TypedExtensionConfig{Name: "x", TypedConfig: mustAny(&routerv3.Router{})}}
		}), `route "http-8080": virtual_hosts[0].routes[0].match: unsupported path specifier "path_match_policy"`},
		{"connect_matcher", prefixRoute(func(r *routev3.Route) {
			r.Match.PathSpecifier = &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}
		}), `match: unsupported path specifier "connect_matcher"`},
		{"runtime_fraction match", prefixRoute(func(r *routev3.Route) {
			r.Match.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 1}}
		}), `match.runtime_fraction: not supported`},
		{"range header match", prefixRoute(func(r *routev3.Route) {
			r.Match.Headers = []*routev3.HeaderMatcher{{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: 1, End: 2}}}}
		}), `match.headers[0].range_match: not supported`},
		{"ignore_case on safe_regex", prefixRoute(func(r *routev3.Route) {
			r.Match.Headers = []*routev3.HeaderMatcher{{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{IgnoreCase: true,
				MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "a"}}}}}}
		}), `headers[0].string_match.ignore_case: has no effect for safe_regex`},
		{"bad header regex", prefixRoute(func(r *routev3.Route) {
			r.Match.Headers = []*routev3.HeaderMatcher{{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_SafeRegexMatch{SafeRegexMatch: &matcherv3.RegexMatcher{Regex: "(a"}}}}
		}), `headers[0].safe_regex_match: invalid regex`},
		{"backreference is not RE2", prefixRoute(func(r *routev3.Route) {
			r.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `(a)\1`}}
		}), `match.safe_regex: invalid regex`},
		{"cluster_header", prefixRoute(func(r *routev3.Route) {
			action(r).ClusterSpecifier = &routev3.RouteAction_ClusterHeader{ClusterHeader: "x-cluster"}
		}), `route.cluster_header: not supported`},
		{"idle_timeout on a route", prefixRoute(func(r *routev3.Route) { action(r).IdleTimeout = durationpb.New(time.Second) }), `route.idle_timeout: not supported`},
		{"prefix and regex rewrite", prefixRoute(func(r *routev3.Route) {
			action(r).PrefixRewrite = "/x"
			action(r).RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "a"}, Substitution: "b"}
		}), `route.regex_rewrite: cannot be combined with prefix_rewrite`},
		{"substitution group out of range", prefixRoute(func(r *routev3.Route) {
			action(r).RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "/(a)"}, Substitution: `/\2`}
		}), `route.regex_rewrite.substitution: refers to group \2 but the pattern has 1`},
		{"total_weight mismatch", prefixRoute(func(r *routev3.Route) {
			action(r).ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{TotalWeight: wrapperspb.UInt32(100),
				Clusters: []*routev3.WeightedCluster_ClusterWeight{{Name: "a", Weight: wrapperspb.UInt32(50)}}}}
		}), `weighted_clusters.total_weight: 100 is not the sum`},
		{"auto host rewrite", prefixRoute(func(r *routev3.Route) {
			action(r).HostRewriteSpecifier = &routev3.RouteAction_AutoHostRewrite{AutoHostRewrite: wrapperspb.Bool(true)}
		}), `route.auto_host_rewrite: not supported`},
		{"query parameter hash", prefixRoute(func(r *routev3.Route) {
			action(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: "q"}}}}
		}), `route.hash_policy[0]: unsupported hash policy "query_parameter"`},
		{"retry back-off", prefixRoute(func(r *routev3.Route) {
			action(r).RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx", RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Second)}}
		}), `route.retry_policy.retry_back_off: not supported`},
		{"request header edit of host", prefixRoute(func(r *routev3.Route) {
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "Host", Value: "x"}}}
		}), `request_headers_to_add[0].header.key: "Host" cannot be modified`},
		{"removing a pseudo-header", prefixRoute(func(r *routev3.Route) { r.ResponseHeadersToRemove = []string{":status"} }), `response_headers_to_remove[0]: ":status" cannot be removed`},
		{"append with append_action", prefixRoute(func(r *routev3.Route) {
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x", Value: "1"}, Append: wrapperspb.Bool(true), AppendAction: corev3.HeaderValueOption_ADD_IF_ABSENT}}
		}), `request_headers_to_add[0].append: cannot be combined with append_action`},
		{"redirect to a non-port", prefixRoute(func(r *routev3.Route) {
			r.Action = &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{PortRedirect: 70000}}
		}), `redirect.port_redirect: 70000 is not a port`},
		{"direct response from a file", prefixRoute(func(r *routev3.Route) {
			r.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200, Body: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/passwd"}}}}
		}), `direct_response.body: only inline bodies`},
		{"fault with header delay", prefixRoute(func(r *routev3.Route) {
			r.TypedPerFilterConfig = map[string]*anypb.Any{FaultFilterName: mustAny(&faultv3.HTTPFault{MaxActiveFaults: wrapperspb.UInt32(1)})}
		}), `typed_per_filter_config[envoy.filters.http.fault].max_active_faults: not supported`},
		{"cors with wrong type", prefixRoute(func(r *routev3.Route) {
			r.TypedPerFilterConfig = map[string]*anypb.Any{CORSFilterName: mustAny(&faultv3.HTTPFault{})}
		}), `typed_per_filter_config[envoy.filters.http.cors]`},
		{"cors max_age not a number", prefixRoute(func(r *routev3.Route) {
			r.TypedPerFilterConfig = map[string]*anypb.Any{CORSFilterName: mustAny(&corsv3.CorsPolicy{MaxAge: "1h"})}
		}), `max_age: must be a number of seconds`},
		{"virtual host retry policy", nil, `virtual_hosts[0].retry_policy: not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rc(tt.route)
			if tt.route == nil {
				cfg = rc(prefixRoute(func(*routev3.Route) {}))
				cfg.VirtualHosts[0].RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx"}
			}
			_, err := DecodeRoute(mustAny(cfg))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), `route "http-8080": `) {
				t.Fatalf("error = %v, want one starting with the route and containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeRouteDuplicateDomains(t *testing.T) {
	cfg := &routev3.RouteConfiguration{Name: "http-8080", VirtualHosts: []*routev3.VirtualHost{
		{Name: "a", Domains: []string{"a.com"}}, {Name: "b", Domains: []string{"A.com"}}}}
	if _, err := DecodeRoute(mustAny(cfg)); err == nil || !strings.Contains(err.Error(), `virtual_hosts[1].domains[0]: "a.com" is also in virtual_hosts[0]`) {
		t.Fatalf("error = %v", err)
	}
}

func TestDecodeRouteDetails(t *testing.T) {
	pct := func(n uint32, d typev3.FractionalPercent_DenominatorType) *typev3.FractionalPercent {
		return &typev3.FractionalPercent{Numerator: n, Denominator: d}
	}
	cfg := rc(
		prefixRoute(func(r *routev3.Route) {
			r.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/a|/b"}}
			r.Match.CaseSensitive = wrapperspb.Bool(false)
			r.Match.QueryParameters = []*routev3.QueryParameterMatcher{{Name: "q"}}
			action(r).RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{
				{Cluster: "m1", RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: pct(5, typev3.FractionalPercent_HUNDRED)}},
				{Cluster: "m2", RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: pct(25, typev3.FractionalPercent_TEN_THOUSAND)}},
				{Cluster: "m3", RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: pct(7, typev3.FractionalPercent_MILLION)}},
				{Cluster: "m4", RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: pct(500, typev3.FractionalPercent_HUNDRED)}},
				{Cluster: "m5"},
			}
			action(r).RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: `^/(\w+)/(\w+)$`}, Substitution: `/\2/\1/$x\\`}
			r.RequestHeadersToAdd = []*corev3.HeaderValueOption{
				{Header: &corev3.HeaderValue{Key: "X-Set", Value: "1"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
				{Header: &corev3.HeaderValue{Key: "x-legacy-set", Value: "1"}, Append: wrapperspb.Bool(false)},
				{Header: &corev3.HeaderValue{Key: "x-legacy-add", Value: "1"}, Append: wrapperspb.Bool(true)},
				{Header: &corev3.HeaderValue{Key: "x-empty", Value: ""}},
				{Header: &corev3.HeaderValue{Key: "x-kept-empty", Value: ""}, KeepEmptyValue: true, AppendAction: corev3.HeaderValueOption_ADD_IF_ABSENT},
				{Header: &corev3.HeaderValue{Key: "x-percent", Value: "100%"}},
			}
			r.TypedPerFilterConfig = map[string]*anypb.Any{
				"envoy.filters.http.lua": mustAny(&routev3.FilterConfig{IsOptional: true, Config: mustAny(&routerv3.Router{})}),
				CORSFilterName: mustAny(&routev3.FilterConfig{Config: mustAny(&corsv3.CorsPolicy{AllowMethods: "GET", MaxAge: "60",
					AllowOriginStringMatch: []*matcherv3.StringMatcher{{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: ".example.com"}}}})}),
			}
		}),
		prefixRoute(func(r *routev3.Route) {
			r.Match.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/old"}
			r.Action = &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{
				SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "HTTPS"},
				PathRewriteSpecifier:   &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "/new"},
				ResponseCode:           routev3.RedirectAction_PERMANENT_REDIRECT, StripQuery: true}}
		}),
	)
	out, err := DecodeRoute(mustAny(cfg))
	if err != nil {
		t.Fatal(err)
	}
	r0, r1 := out.VirtualHosts[0].Routes[0], out.VirtualHosts[0].Routes[1]
	if r0.Match.Regex.MatchString("/A") || !r0.Match.Regex.MatchString("/b") || r0.Match.Regex.MatchString("/ab") {
		t.Errorf("regex %q: case_sensitive must not apply to safe_regex and the regex must be anchored", r0.Match.Regex)
	}
	if q := r0.Match.QueryParams[0]; !q.Present || q.String != nil {
		t.Errorf("query matcher without specifier = %+v, want presence", q)
	}
	var got []uint32
	for _, m := range r0.Forward.Mirrors {
		got = append(got, m.PerMillion)
	}
	if want := []uint32{50_000, 2_500, 7, 1_000_000, 1_000_000}; !equalU32(got, want) {
		t.Errorf("mirror per-million = %v, want %v", got, want)
	}
	if rr := r0.Forward.RegexRewrite; rr.Substitution != `/${2}/${1}/$$x\` || rr.Regex.ReplaceAllString("/a/b", rr.Substitution) != `/b/a/$x\` {
		t.Errorf("substitution = %q", rr.Substitution)
	}
	var hs []string
	for _, h := range r0.RequestHeaders.Add {
		hs = append(hs, h.Name+"="+h.Value+"/"+string(rune('0'+h.Action)))
	}
	if want := "x-set=1/2,x-legacy-set=1/2,x-legacy-add=1/0,x-kept-empty=/1,x-percent=100%/0"; strings.Join(hs, ",") != want {
		t.Errorf("headers = %s, want %s", strings.Join(hs, ","), want)
	}
	if c := r0.CORS; c == nil || c.AllowMethods != "GET" || c.MaxAge != "60" || c.AllowOrigins[0].Kind != StringSuffix {
		t.Errorf("cors = %+v", c)
	}
	if rd := r1.Redirect; rd.Scheme != "https" || rd.PrefixRewrite != "/new" || rd.PrefixMatch != "/old" || rd.WholePathMatched || rd.StatusCode != 308 || !rd.StripQuery {
		t.Errorf("redirect = %+v", rd)
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contractCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 "ns/svc/80",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		ConnectTimeout:       durationpb.New(2 * time.Second),
		LbPolicy:             clusterv3.Cluster_RING_HASH,
		LbConfig:             &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(2048)}},
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{
			{Priority: corev3.RoutingPriority_DEFAULT, MaxConnections: wrapperspb.UInt32(10), MaxPendingRequests: wrapperspb.UInt32(20), MaxRequests: wrapperspb.UInt32(30)}}},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsName: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}}}},
			CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Minute), MaxRequestsPerConnection: wrapperspb.UInt32(100)},
		})},
		HealthChecks: []*corev3.HealthCheck{{Timeout: durationpb.New(time.Second), Interval: durationpb.New(5 * time.Second),
			UnhealthyThreshold: wrapperspb.UInt32(3), HealthyThreshold: wrapperspb.UInt32(2),
			HealthChecker: &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{Path: "/healthz",
				ExpectedStatuses: []*typev3.Int64Range{{Start: 200, End: 300}}}}}},
		OutlierDetection: &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(7), ConsecutiveGatewayFailure: wrapperspb.UInt32(3),
			EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(100), BaseEjectionTime: durationpb.New(time.Minute)},
		TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
			Sni: "svc.ns", CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsRef("ns/client")},
				ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsRef("ns/ca")}}})}},
	}
}

func TestDecodeClusterContract(t *testing.T) {
	c, err := DecodeCluster(mustAny(contractCluster()))
	if err != nil {
		t.Fatal(err)
	}
	if c.ConnectTimeout != 2*time.Second || c.LBPolicy != RingHash || c.RingMinSize != 2048 || c.Protocol != HTTP2 ||
		c.MaxConnections != 10 || c.MaxPendingRequests != 20 || c.MaxRequests != 30 || c.IdleTimeout != time.Minute || c.MaxRequestsPerConnection != 100 {
		t.Errorf("cluster = %+v", c)
	}
	if hc := c.HealthCheck; hc.Path != "/healthz" || hc.Interval != 5*time.Second || hc.ExpectedStatuses[0] != [2]int{200, 300} {
		t.Errorf("health check = %+v", hc)
	}
	if o := c.Outlier; o.Consecutive5xx != 7 || o.ConsecutiveGatewayFailure != 3 || o.Interval != 10*time.Second || o.BaseEjectionTime != time.Minute || o.MaxEjectionPercent != 10 {
		t.Errorf("outlier = %+v", o)
	}
	if tl := c.TLS; tl.SNI != "svc.ns" || tl.CertificateSecret != "ns/client" || tl.ValidationSecret != "ns/ca" {
		t.Errorf("tls = %+v", tl)
	}
}

func TestDecodeClusterOutlierGatewayFailureNeedsEnforcing(t *testing.T) {
	cl := contractCluster()
	cl.OutlierDetection.EnforcingConsecutiveGatewayFailure = nil
	c, err := DecodeCluster(mustAny(cl))
	if err != nil {
		t.Fatal(err)
	}
	if c.Outlier.ConsecutiveGatewayFailure != 0 || c.Outlier.Consecutive5xx != 7 {
		t.Fatalf("outlier = %+v; Envoy's enforcing_consecutive_gateway_failure defaults to 0", c.Outlier)
	}
}

func TestDecodeClusterErrors(t *testing.T) {
	with := func(f func(c *clusterv3.Cluster)) *clusterv3.Cluster {
		c := contractCluster()
		f(c)
		return c
	}
	tests := []struct {
		name    string
		c       *clusterv3.Cluster
		wantErr string
	}{
		{"static cluster", with(func(c *clusterv3.Cluster) {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		}), `type: only EDS`},
		{"eds service name", with(func(c *clusterv3.Cluster) { c.EdsClusterConfig.ServiceName = "other" }), `eds_cluster_config.service_name`},
		{"maglev table not prime", with(func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_MAGLEV
			c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(65536)}}
		}), `maglev_lb_config.table_size: 65536 is not prime`},
		{"ring hash config on round robin", with(func(c *clusterv3.Cluster) { c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN }), `lb_config: "ring_hash_lb_config" does not go with`},
		{"max_retries breaker", with(func(c *clusterv3.Cluster) { c.CircuitBreakers.Thresholds[0].MaxRetries = wrapperspb.UInt32(3) }), `circuit_breakers.thresholds[0].max_retries: not supported`},
		{"explicit zero breaker", with(func(c *clusterv3.Cluster) { c.CircuitBreakers.Thresholds[0].MaxRequests = wrapperspb.UInt32(0) }), `thresholds[0].max_requests: 0 is not supported`},
		{"unknown protocol options", with(func(c *clusterv3.Cluster) {
			c.TypedExtensionProtocolOptions["envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions"] = mustAny(&routerv3.Router{})
		}), `typed_extension_protocol_options[envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions]: unsupported`},
		{"auto protocol", with(func(c *clusterv3.Cluster) {
			c.TypedExtensionProtocolOptions[httpProtocolOptionsName] = mustAny(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_AutoConfig{AutoConfig: &httpv3.HttpProtocolOptions_AutoHttpConfig{}}})
		}), `auto_config: not supported`},
		{"tcp health check", with(func(c *clusterv3.Cluster) {
			c.HealthChecks[0].HealthChecker = &corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &corev3.HealthCheck_TcpHealthCheck{}}
		}), `health_checks[0].tcp_health_check: not supported`},
		{"bad status range", with(func(c *clusterv3.Cluster) {
			c.HealthChecks[0].GetHttpHealthCheck().ExpectedStatuses = []*typev3.Int64Range{{Start: 300, End: 200}}
		}), `expected_statuses[0]: [300, 200) is not a range`},
		{"partial enforcing", with(func(c *clusterv3.Cluster) { c.OutlierDetection.EnforcingConsecutive_5Xx = wrapperspb.UInt32(50) }), `outlier_detection.enforcing_consecutive_5xx: only 0 or 100`},
		{"success rate detection settings", with(func(c *clusterv3.Cluster) { c.OutlierDetection.SuccessRateMinimumHosts = wrapperspb.UInt32(3) }), `outlier_detection.success_rate_minimum_hosts: not supported`},
		{"raw buffer transport socket", with(func(c *clusterv3.Cluster) { c.TransportSocket.Name = "envoy.transport_sockets.raw_buffer" }), `transport_socket.name: unsupported transport socket`},
		{"upstream tls params", with(func(c *clusterv3.Cluster) {
			c.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{TlsParams: &tlsv3.TlsParameters{}}})}
		}), `transport_socket.typed_config.common_tls_context.tls_params: not supported`},
		{"dns lookup family", with(func(c *clusterv3.Cluster) { c.DnsLookupFamily = clusterv3.Cluster_V4_ONLY }), `dns_lookup_family: not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCluster(mustAny(tt.c))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), `cluster "ns/svc/80": `) {
				t.Fatalf("error = %v, want one starting with the cluster and containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeEndpoints(t *testing.T) {
	ep := func(addr string, port uint32, hs corev3.HealthStatus) *endpointv3.LbEndpoint {
		return &endpointv3.LbEndpoint{HealthStatus: hs, HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
			Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}
	}
	good := &endpointv3.ClusterLoadAssignment{ClusterName: "ns/svc/80", Endpoints: []*endpointv3.LocalityLbEndpoints{
		{LbEndpoints: []*endpointv3.LbEndpoint{ep("10.0.0.1", 8080, corev3.HealthStatus_HEALTHY)}},
		{Locality: &corev3.Locality{Zone: "z1"}, LbEndpoints: []*endpointv3.LbEndpoint{ep("fd00::1", 8080, corev3.HealthStatus_UNHEALTHY), ep("10.0.0.3", 1, corev3.HealthStatus_UNKNOWN)}},
	}}
	cla, err := DecodeEndpoints(mustAny(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(cla.Endpoints) != 3 || !cla.Endpoints[0].Healthy || cla.Endpoints[1].Healthy || !cla.Endpoints[2].Healthy || cla.Endpoints[1].Zone != "z1" || cla.Endpoints[1].Address.String() != "[fd00::1]:8080" {
		t.Errorf("endpoints = %+v", cla.Endpoints)
	}
	empty, err := DecodeEndpoints(mustAny(&endpointv3.ClusterLoadAssignment{ClusterName: "ns/empty/80"}))
	if err != nil || len(empty.Endpoints) != 0 {
		t.Errorf("an assignment without endpoints must decode: %v", err)
	}
	for name, tt := range map[string]struct {
		cla     *endpointv3.ClusterLoadAssignment
		wantErr string
	}{
		"host name address": {&endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{ep("svc.local", 80, 0)}}}},
			`endpoints "c": endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address`},
		"priority":       {&endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{Priority: 1}}}, `endpoints[0].priority: not supported`},
		"port zero":      {&endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{ep("10.0.0.1", 0, 0)}}}}, `port_value: 0 is not a port`},
		"drop overloads": {&endpointv3.ClusterLoadAssignment{ClusterName: "c", Policy: &endpointv3.ClusterLoadAssignment_Policy{}}, `policy: not supported`},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeEndpoints(mustAny(tt.cla)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func selfSigned(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "a.example.com"}, DNSNames: []string{"a.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestDecodeSecrets(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	otherCert, _ := selfSigned(t)
	bytesDS := func(b []byte) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
	}
	kp := func(c, k []byte) *tlsv3.Secret {
		return &tlsv3.Secret{Name: "ns/tls", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{CertificateChain: bytesDS(c), PrivateKey: bytesDS(k)}}}
	}
	ca := func(b []byte) *tlsv3.Secret {
		return &tlsv3.Secret{Name: "ns/ca", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: bytesDS(b)}}}
	}
	s, err := DecodeSecret(mustAny(kp(certPEM, keyPEM)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Certificate == nil || s.Certificate.Leaf == nil || s.Certificate.Leaf.Subject.CommonName != "a.example.com" {
		t.Errorf("certificate = %+v", s.Certificate)
	}
	s, err = DecodeSecret(mustAny(ca(append(append([]byte{}, certPEM...), otherCert...))))
	if err != nil || s.CAPool == nil || len(s.RawCA) == 0 {
		t.Fatalf("CA bundle: %v", err)
	}
	for name, tt := range map[string]struct {
		s       *tlsv3.Secret
		wantErr string
	}{
		"key does not match certificate": {kp(otherCert, keyPEM), `secret "ns/tls": tls_certificate: `},
		"garbage key":                    {kp(certPEM, []byte("nope")), `tls_certificate: `},
		"CA bundle with a key in it":     {ca(append(append([]byte{}, certPEM...), keyPEM...)), `trusted_ca: PEM block 2 is "EC PRIVATE KEY"`},
		"CA bundle with no PEM":          {ca([]byte("nope")), `trusted_ca: no PEM certificate found`},
		"password protected key": {&tlsv3.Secret{Name: "ns/tls", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: bytesDS(certPEM), PrivateKey: bytesDS(keyPEM), Password: bytesDS([]byte("pw"))}}}, `tls_certificate.password: not supported`},
		"CRL":              {&tlsv3.Secret{Name: "ns/ca", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: bytesDS(certPEM), Crl: bytesDS([]byte("x"))}}}, `validation_context.crl: not supported`},
		"file data source": {&tlsv3.Secret{Name: "ns/ca", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/ca.pem"}}}}}, `only inline data sources`},
		"generic secret":   {&tlsv3.Secret{Name: "ns/g", Type: &tlsv3.Secret_GenericSecret{GenericSecret: &tlsv3.GenericSecret{}}}, `generic_secret: not supported`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeSecret(mustAny(tt.s))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") || strings.Contains(err.Error(), string(keyPEM[40:60])) {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
}

func TestDecodersReturnTheNameWithTheError(t *testing.T) {
	dec := Decoders()
	for _, url := range []string{ListenerTypeURL, RouteTypeURL, ClusterTypeURL, EndpointTypeURL, SecretTypeURL} {
		if dec[url] == nil {
			t.Fatalf("no decoder for %s", url)
		}
	}
	name, v, err := dec[ClusterTypeURL](mustAny(&clusterv3.Cluster{Name: "ns/bad/80", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}))
	if err == nil || name != "ns/bad/80" || v != nil {
		t.Fatalf("got %q, %v, %v; want the name, no value and an error", name, v, err)
	}
	if _, _, err := dec[RouteTypeURL](mustAny(&clusterv3.Cluster{Name: "x"})); err == nil {
		t.Fatal("a cluster was accepted as a route")
	}
	if _, _, err := dec[RouteTypeURL](mustAny(&routev3.RouteConfiguration{})); err == nil || !strings.Contains(err.Error(), "name is required") {
		t.Fatalf("unnamed route: %v", err)
	}
	var _ map[string]func(*anypb.Any) (string, any, error) = dec // the signature the xDS client consumes
}

func filterNames(fs []HTTPFilter) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}
