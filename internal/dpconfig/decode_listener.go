package dpconfig

import (
	"crypto/tls"
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"

	// The HTTP filters' typed configs must be in the proto registry so an
	// HCM naming them unmarshals.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
)

const hcmFilterName = "envoy.filters.network.http_connection_manager"

// knownHTTPFilters are the HTTP filters the proxy implements.
var knownHTTPFilters = map[string]bool{FaultFilterName: true, CORSFilterName: true, RouterFilterName: true}

// DecodeListener decodes a Listener.
func DecodeListener(a *anypb.Any) (*Listener, error) {
	var l listenerv3.Listener
	if err := a.UnmarshalTo(&l); err != nil {
		return nil, fmt.Errorf("listener: %w", err)
	}
	if err := l.ValidateAll(); err != nil {
		return nil, fmt.Errorf("listener %q: %w", l.GetName(), err)
	}
	out, err := decodeListener(&l)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", l.GetName(), err)
	}
	return out, nil
}

func decodeListener(l *listenerv3.Listener) (*Listener, error) {
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil {
		return nil, errAt("address", "only socket_address is supported")
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return nil, errAt("address.protocol", "only TCP is supported")
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return nil, errAt("address.socket_address.address", "%v", err)
	}
	port, ok := sa.GetPortSpecifier().(*corev3.SocketAddress_PortValue)
	if !ok || port.PortValue == 0 || port.PortValue > 65535 {
		return nil, errAt("address.socket_address.port_value", "a port in 1-65535 is required")
	}
	out := &Listener{Name: l.GetName(), Address: netip.AddrPortFrom(ip, uint16(port.PortValue))}
	if len(l.GetListenerFilters()) > 0 {
		return nil, errAt("listener_filters", "not supported")
	}
	if l.GetDefaultFilterChain() != nil {
		return nil, errAt("default_filter_chain", "not supported")
	}
	for i, fc := range l.GetFilterChains() {
		c, err := decodeFilterChain(fc)
		if err != nil {
			return nil, wrapAt(fmt.Sprintf("filter_chains[%d]", i), err)
		}
		out.FilterChains = append(out.FilterChains, c)
	}
	if len(out.FilterChains) == 0 {
		return nil, errAt("filter_chains", "at least one is required")
	}
	return out, nil
}

func decodeFilterChain(fc *listenerv3.FilterChain) (*FilterChain, error) {
	out := &FilterChain{}
	if m := fc.GetFilterChainMatch(); m != nil {
		if m.GetDestinationPort() != nil || len(m.GetPrefixRanges()) > 0 || len(m.GetSourcePrefixRanges()) > 0 ||
			len(m.GetSourcePorts()) > 0 || len(m.GetApplicationProtocols()) > 0 || m.GetTransportProtocol() != "" && m.GetTransportProtocol() != "tls" {
			return nil, errAt("filter_chain_match", "only server_names is supported")
		}
		out.ServerNames = m.GetServerNames()
	}
	if ts := fc.GetTransportSocket(); ts != nil {
		t, err := decodeDownstreamTLS(ts)
		if err != nil {
			return nil, wrapAt("transport_socket", err)
		}
		out.TLS = t
	}
	if len(fc.GetFilters()) != 1 || fc.GetFilters()[0].GetName() != hcmFilterName {
		return nil, errAt("filters", "exactly one %s filter is supported", hcmFilterName)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return nil, errAt("filters[0].typed_config", "%v", err)
	}
	h, err := decodeHCM(&hcm)
	if err != nil {
		return nil, wrapAt("filters[0].typed_config", err)
	}
	out.HCM = h
	return out, nil
}

func decodeHCM(h *hcmv3.HttpConnectionManager) (*HTTPConnectionManager, error) {
	rds := h.GetRds()
	if rds == nil || rds.GetRouteConfigName() == "" {
		return nil, errAt("route_specifier", "only rds with a route_config_name is supported")
	}
	if rds.GetConfigSource().GetAds() == nil {
		return nil, errAt("rds.config_source", "only ads is supported")
	}
	out := &HTTPConnectionManager{
		StatPrefix:            h.GetStatPrefix(),
		RouteConfigName:       rds.GetRouteConfigName(),
		UseRemoteAddress:      h.GetUseRemoteAddress().GetValue(),
		XFFNumTrustedHops:     h.GetXffNumTrustedHops(),
		GenerateRequestID:     true,
		IdleTimeout:           duration(h.GetCommonHttpProtocolOptions().GetIdleTimeout()),
		RequestHeadersTimeout: duration(h.GetRequestHeadersTimeout()),
		StreamIdleTimeout:     duration(h.GetStreamIdleTimeout()),
	}
	if g := h.GetGenerateRequestId(); g != nil {
		out.GenerateRequestID = g.GetValue()
	}
	if kb := h.GetMaxRequestHeadersKb(); kb != nil {
		out.MaxRequestHeadersBytes = int(kb.GetValue()) << 10
	}
	for i, u := range h.GetUpgradeConfigs() {
		if u.GetUpgradeType() != "websocket" {
			return nil, errAt(fmt.Sprintf("upgrade_configs[%d].upgrade_type", i), "only websocket is supported, got %q", u.GetUpgradeType())
		}
		out.WebSocket = u.GetEnabled() == nil || u.GetEnabled().GetValue()
	}
	sawRouter := false
	for i, f := range h.GetHttpFilters() {
		if !knownHTTPFilters[f.GetName()] {
			if f.GetIsOptional() {
				continue // Envoy skips optional filters it does not know
			}
			return nil, errAt(fmt.Sprintf("http_filters[%d]", i), "unsupported filter %q", f.GetName())
		}
		if sawRouter {
			return nil, errAt(fmt.Sprintf("http_filters[%d]", i), "filters after the router never run")
		}
		if f.GetName() == RouterFilterName {
			sawRouter = true
		}
		out.HTTPFilters = append(out.HTTPFilters, f.GetName())
	}
	if !sawRouter {
		return nil, errAt("http_filters", "the last filter must be %s", RouterFilterName)
	}
	return out, nil
}

var tlsVersions = map[tlsv3.TlsParameters_TlsProtocol]uint16{
	tlsv3.TlsParameters_TLSv1_0: tls.VersionTLS10,
	tlsv3.TlsParameters_TLSv1_1: tls.VersionTLS11,
	tlsv3.TlsParameters_TLSv1_2: tls.VersionTLS12,
	tlsv3.TlsParameters_TLSv1_3: tls.VersionTLS13,
}

// cipherIDs maps OpenSSL cipher names (as Envoy takes them) to crypto/tls.
var cipherIDs = func() map[string]uint16 {
	m := map[string]uint16{
		"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	}
	return m
}()

func decodeDownstreamTLS(ts *corev3.TransportSocket) (*DownstreamTLS, error) {
	if ts.GetName() != "envoy.transport_sockets.tls" {
		return nil, errAt("name", "unsupported transport socket %q", ts.GetName())
	}
	var ctx tlsv3.DownstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&ctx); err != nil {
		return nil, errAt("typed_config", "%v", err)
	}
	ctc := ctx.GetCommonTlsContext()
	out := &DownstreamTLS{
		RequireClientCert: ctx.GetRequireClientCertificate().GetValue(),
		ALPN:              ctc.GetAlpnProtocols(),
	}
	if len(ctc.GetTlsCertificates()) > 0 {
		return nil, errAt("common_tls_context.tls_certificates", "inline certificates are not supported; use SDS")
	}
	sds := ctc.GetTlsCertificateSdsSecretConfigs()
	if len(sds) != 1 {
		return nil, errAt("common_tls_context.tls_certificate_sds_secret_configs", "exactly one SDS certificate is supported, got %d", len(sds))
	}
	if sds[0].GetSdsConfig().GetAds() == nil {
		return nil, errAt("common_tls_context.tls_certificate_sds_secret_configs[0].sds_config", "only ads is supported")
	}
	out.CertificateSecret = sds[0].GetName()
	if p := ctc.GetTlsParams(); p != nil {
		var ok bool
		if v := p.GetTlsMinimumProtocolVersion(); v != tlsv3.TlsParameters_TLS_AUTO {
			if out.MinVersion, ok = tlsVersions[v]; !ok {
				return nil, errAt("common_tls_context.tls_params.tls_minimum_protocol_version", "unsupported %v", v)
			}
		}
		if v := p.GetTlsMaximumProtocolVersion(); v != tlsv3.TlsParameters_TLS_AUTO {
			if out.MaxVersion, ok = tlsVersions[v]; !ok {
				return nil, errAt("common_tls_context.tls_params.tls_maximum_protocol_version", "unsupported %v", v)
			}
		}
		for i, c := range p.GetCipherSuites() {
			id, ok := cipherIDs[c]
			if !ok {
				return nil, errAt(fmt.Sprintf("common_tls_context.tls_params.cipher_suites[%d]", i), "unsupported cipher %q", c)
			}
			out.CipherSuites = append(out.CipherSuites, id)
		}
	}
	switch v := ctc.GetValidationContextType().(type) {
	case nil:
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		out.ValidationSecret = v.ValidationContextSdsSecretConfig.GetName()
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		out.ValidationSecret = v.CombinedValidationContext.GetValidationContextSdsSecretConfig().GetName()
		for _, m := range v.CombinedValidationContext.GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
			out.SubjectAltNames = append(out.SubjectAltNames, m.GetMatcher().GetExact())
		}
	default:
		return nil, errAt("common_tls_context.validation_context_type", "unsupported %T", v)
	}
	if out.RequireClientCert && out.ValidationSecret == "" {
		return nil, errAt("require_client_certificate", "needs a validation context")
	}
	return out, nil
}
