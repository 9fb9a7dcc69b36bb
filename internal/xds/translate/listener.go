package translate

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

var tlsVersions = map[string]tlsv3.TlsParameters_TlsProtocol{
	"":    tlsv3.TlsParameters_TLSv1_3,
	"1.2": tlsv3.TlsParameters_TLSv1_2,
	"1.3": tlsv3.TlsParameters_TLSv1_3,
}

func listener(l *ir.Listener) (*listenerv3.Listener, error) {
	addr := l.Address
	if addr == "" {
		addr = "0.0.0.0"
	}
	out := &listenerv3.Listener{Name: l.Name, Address: socketAddress(addr, l.Port)}
	hcm := mustAny(httpConnectionManager(l.Name))
	filters := []*listenerv3.Filter{{Name: hcmFilter, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm}}}
	if l.TLS == nil {
		out.FilterChains = []*listenerv3.FilterChain{{Filters: filters}}
		return out, nil
	}
	minV, ok := tlsVersions[l.TLS.MinVersion]
	if !ok {
		return nil, fmt.Errorf("tls minimum version %q: must be 1.2 or 1.3", l.TLS.MinVersion)
	}
	maxV, ok := tlsVersions[l.TLS.MaxVersion]
	if !ok {
		return nil, fmt.Errorf("tls maximum version %q: must be 1.2 or 1.3", l.TLS.MaxVersion)
	}
	alpn := l.TLS.ALPN
	if len(alpn) == 0 {
		alpn = []string{"h2", "http/1.1"}
	}
	for _, cert := range l.TLS.Certificates {
		ctc := &tlsv3.CommonTlsContext{
			TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: minV, TlsMaximumProtocolVersion: maxV, CipherSuites: l.TLS.CipherSuites},
			AlpnProtocols:                  alpn,
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsRef(cert.SecretName)},
		}
		dtc := &tlsv3.DownstreamTlsContext{CommonTlsContext: ctc}
		if cv := l.TLS.ClientValidation; cv != nil {
			if len(cv.SubjectAltNames) == 0 {
				ctc.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsRef(cv.CASecretName)}
			} else {
				def := &tlsv3.CertificateValidationContext{}
				for _, san := range cv.SubjectAltNames {
					def.MatchTypedSubjectAltNames = append(def.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{
						SanType: tlsv3.SubjectAltNameMatcher_DNS,
						Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}},
					})
				}
				ctc.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext: def, ValidationContextSdsSecretConfig: sdsRef(cv.CASecretName),
				}}
			}
			dtc.RequireClientCertificate = wrapperspb.Bool(!cv.Optional)
		}
		fc := &listenerv3.FilterChain{
			Filters:         filters,
			TransportSocket: &corev3.TransportSocket{Name: tlsTransportSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(dtc)}},
		}
		if len(cert.ServerNames) > 0 {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: cert.ServerNames}
		}
		out.FilterChains = append(out.FilterChains, fc)
	}
	if len(out.FilterChains) == 0 {
		return nil, fmt.Errorf("TLS listener without certificates")
	}
	return out, nil
}

// httpConnectionManager is identical for every listener but its names: it
// always carries the fault, CORS and router filters (no-ops until a route
// enables them), so a route change never changes a listener and never
// drains its connections (Envoy Gateway #8889).
func httpConnectionManager(name string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: name, ConfigSource: ads(),
		}},
		UseRemoteAddress:          wrapperspb.Bool(true),
		XffNumTrustedHops:         0,
		GenerateRequestId:         wrapperspb.Bool(true),
		UpgradeConfigs:            []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: dur(downstreamIdleTimeout)},
		RequestHeadersTimeout:     dur(requestHeadersTimeout),
		StreamIdleTimeout:         dur(streamIdleTimeout),
		MaxRequestHeadersKb:       wrapperspb.UInt32(maxRequestHeadersKB),
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: faultFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&faultv3.HTTPFault{})}},
			{Name: corsFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&corsv3.Cors{})}},
			{Name: routerFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		},
	}
}
