package translate

import (
	"errors"
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

// tlsVersions maps the IR's versions; "" is TLS 1.3 for both bounds
// (DESIGN §1.11: TLS 1.3 at the network layer).
var tlsVersions = map[string]tlsv3.TlsParameters_TlsProtocol{
	"":    tlsv3.TlsParameters_TLSv1_3,
	"1.2": tlsv3.TlsParameters_TLSv1_2,
	"1.3": tlsv3.TlsParameters_TLSv1_3,
}

// listener depends on nothing but the IR listener's own fields, never on
// its virtual hosts or routes: routes travel by RDS, so that a route
// change leaves the listener's bytes alone and Envoy does not drain its
// connections (Envoy Gateway #8889).
func listener(l *ir.Listener, refs *refs) (*listenerv3.Listener, error) {
	addr := l.Address
	if addr == "" {
		addr = "0.0.0.0"
	}
	out := &listenerv3.Listener{Name: l.Name, Address: socketAddress(addr, l.Port)}
	hcm, err := httpConnectionManager(l)
	if err != nil {
		return nil, err
	}
	if err := listenerSecurity(l, out, hcm); err != nil {
		return nil, err
	}
	if l.Tracing != nil {
		hcm.Tracing = tracing(l.Tracing)
	}
	filters := []*listenerv3.Filter{{
		Name:       hcmFilter,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
	}}
	if l.TLS == nil {
		out.FilterChains = []*listenerv3.FilterChain{{Filters: filters}}
		return out, nil
	}
	if l.HTTPSRedirect {
		return nil, errors.New("an HTTPS redirect listener must be plaintext")
	}
	t := l.TLS
	params, err := tlsParams(t)
	if err != nil {
		return nil, err
	}
	alpn := t.ALPN
	if len(alpn) == 0 {
		alpn = defaultALPN
	}
	if cv := t.ClientValidation; cv != nil {
		if cv.CASecretName == "" {
			return nil, errors.New("client validation: no CA secret")
		}
		if err := refs.secret(cv.CASecretName, true); err != nil {
			return nil, fmt.Errorf("client validation: %w", err)
		}
	}
	if len(t.Certificates) == 0 {
		return nil, errors.New("TLS listener without certificates")
	}
	// One filter chain per certificate, not per host (DESIGN §6, Contour
	// #1636). Envoy rejects two chains with the same match.
	seen := map[string]string{}
	out.FilterChains = make([]*listenerv3.FilterChain, 0, len(t.Certificates))
	for i, cert := range t.Certificates {
		if err := refs.secret(cert.SecretName, false); err != nil {
			return nil, errAt("tls.certificates", i, err)
		}
		names := cert.ServerNames
		if !slices.IsSorted(names) {
			names = slices.Sorted(slices.Values(names))
		}
		keys := names
		if len(keys) == 0 {
			keys = []string{""} // the default chain, without SNI match
		}
		for _, n := range keys {
			if prev, dup := seen[n]; dup {
				return nil, errAt("tls.certificates", i, fmt.Errorf("server name %q already served by secret %q", n, prev))
			}
			seen[n] = cert.SecretName
		}
		ctc := &tlsv3.CommonTlsContext{
			TlsParams:                      params,
			AlpnProtocols:                  alpn,
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsRef(cert.SecretName)},
		}
		dtc := &tlsv3.DownstreamTlsContext{CommonTlsContext: ctc}
		if cv := t.ClientValidation; cv != nil {
			validationContext(ctc, cv.CASecretName, cv.SubjectAltNames)
			// Envoy's default is to verify a certificate the client offers
			// but not to ask for one; mTLS asks unless it is optional.
			dtc.RequireClientCertificate = wrapperspb.Bool(!cv.Optional)
		}
		fc := &listenerv3.FilterChain{
			Filters:         filters,
			TransportSocket: &corev3.TransportSocket{Name: tlsTransportSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(dtc)}},
		}
		if len(names) > 0 {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
		}
		out.FilterChains = append(out.FilterChains, fc)
	}
	return out, nil
}

func tlsParams(t *ir.ListenerTLS) (*tlsv3.TlsParameters, error) {
	minV, ok := tlsVersions[t.MinVersion]
	if !ok {
		return nil, fmt.Errorf("tls minimum version %q: must be 1.2 or 1.3", t.MinVersion)
	}
	maxV, ok := tlsVersions[t.MaxVersion]
	if !ok {
		return nil, fmt.Errorf("tls maximum version %q: must be 1.2 or 1.3", t.MaxVersion)
	}
	if minV > maxV {
		return nil, fmt.Errorf("tls minimum version %q is above the maximum %q", t.MinVersion, t.MaxVersion)
	}
	return &tlsv3.TlsParameters{TlsMinimumProtocolVersion: minV, TlsMaximumProtocolVersion: maxV, CipherSuites: t.CipherSuites}, nil
}

// httpConnectionManager is identical for every listener but its names,
// its JWT providers and its gateway's client-address settings. It always
// carries the security filters (security.go), fault, CORS and the router,
// all no-ops until a route enables them, so a route change never changes a
// listener.
func httpConnectionManager(l *ir.Listener) (*hcmv3.HttpConnectionManager, error) {
	name := l.Name
	sec, err := securityHTTPFilters(l)
	if err != nil {
		return nil, err
	}
	// Order: IP access (network layer) first; CORS before authentication,
	// so that browsers' preflights, which carry no credentials, are
	// answered; then JWT and API keys; fault injection last.
	filters := []*hcmv3.HttpFilter{
		sec[0],
		{Name: corsFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(listenerCORS())}},
		sec[1], sec[2],
	}
	// Rate limits after authentication, so that a limit may key on the
	// identity (the design's behaviour layer).
	if usesLocalRateLimit(l) {
		filters = append(filters, localRateLimitHTTPFilter())
	}
	ext, err := extensionHTTPFilters(l)
	if err != nil {
		return nil, err
	}
	filters = append(filters, ext...)
	filters = append(filters,
		&hcmv3.HttpFilter{Name: faultFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(listenerFault())}},
		&hcmv3.HttpFilter{Name: routerFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
	)
	return &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: name, ConfigSource: ads(),
		}},
		// The edge: the peer is the client (Envoy's edge best practices).
		UseRemoteAddress:  wrapperspb.Bool(true),
		XffNumTrustedHops: xffNumTrustedHops,
		GenerateRequestId: wrapperspb.Bool(true),
		// Envoy refuses Upgrade requests unless the type is listed.
		UpgradeConfigs:            []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: dur(downstreamIdleTimeout)},
		RequestHeadersTimeout:     dur(requestHeadersTimeout),
		StreamIdleTimeout:         dur(streamIdleTimeout),
		MaxRequestHeadersKb:       wrapperspb.UInt32(maxRequestHeadersKB),
		HttpFilters:               filters,
	}, nil
}
