package dpconfig

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
)

const hcmFilterName = "envoy.filters.network.http_connection_manager"

// DecodeListener decodes a Listener.
func DecodeListener(a *anypb.Any) (*Listener, error) {
	_, l, err := decodeListenerAny(a, nil)
	return l, err
}

func decodeListenerAny(a *anypb.Any, ext Extensions) (string, *Listener, error) {
	var l listenerv3.Listener
	name, err := unmarshalAny(a, &l, "listener", l.GetName)
	if err != nil {
		return name, nil, err
	}
	out, err := decodeListener(&l, ext)
	if err != nil {
		return name, nil, fmt.Errorf("listener %q: %w", name, err)
	}
	return name, out, nil
}

func decodeListener(l *listenerv3.Listener, ext Extensions) (*Listener, error) {
	// listener_filters: tls_inspector is not needed (the proxy reads the
	// ClientHello itself to select a filter chain by SNI); proxy_protocol
	// is implemented.
	if err := onlyFields(l, "name", "address", "filter_chains", "listener_filters"); err != nil {
		return nil, err
	}
	var lfs []*listenerFilter
	for i, lf := range l.GetListenerFilters() {
		if err := onlyFields(lf, "name", "typed_config"); err != nil {
			return nil, wrapAt(fmt.Sprintf("listener_filters[%d]", i), err)
		}
		lfs = append(lfs, &listenerFilter{name: lf.GetName(), cfg: lf.GetTypedConfig()})
	}
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil {
		return nil, errAt("address", "only socket_address is supported")
	}
	if err := onlyFields(sa, "address", "port_value", "protocol"); err != nil {
		return nil, wrapAt("address.socket_address", err)
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return nil, errAt("address.socket_address.protocol", "only TCP is supported")
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return nil, errAt("address.socket_address.address", "%v", err)
	}
	port := sa.GetPortValue()
	if port > 65535 {
		return nil, errAt("address.socket_address.port_value", "%d is not a port", port)
	}
	out := &Listener{Name: l.GetName(), Address: netip.AddrPortFrom(ip, uint16(port))}
	if err := decodeListenerFilters(out, lfs); err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for i, fc := range l.GetFilterChains() {
		c, err := decodeFilterChain(fc, ext)
		if err != nil {
			return nil, wrapAt(fmt.Sprintf("filter_chains[%d]", i), err)
		}
		// Envoy rejects two filter chains with the same match; SNI
		// selection would otherwise be ambiguous.
		for _, sn := range append([]string{""}, c.ServerNames...)[min(1, len(c.ServerNames)):] {
			if prev, dup := seen[sn]; dup {
				return nil, errAt(fmt.Sprintf("filter_chains[%d].filter_chain_match.server_names", i), "%q is also matched by filter_chains[%d]", sn, prev)
			}
			seen[sn] = i
		}
		out.FilterChains = append(out.FilterChains, c)
	}
	if len(out.FilterChains) == 0 {
		return nil, errAt("filter_chains", "at least one is required")
	}
	return out, nil
}

func decodeFilterChain(fc *listenerv3.FilterChain, ext Extensions) (*FilterChain, error) {
	if err := onlyFields(fc, "name", "filter_chain_match", "filters", "transport_socket"); err != nil {
		return nil, err
	}
	out := &FilterChain{}
	if m := fc.GetFilterChainMatch(); m != nil {
		if err := onlyFields(m, "server_names", "transport_protocol"); err != nil {
			return nil, wrapAt("filter_chain_match", err)
		}
		if tp := m.GetTransportProtocol(); tp != "" && tp != "tls" {
			return nil, errAt("filter_chain_match.transport_protocol", "unsupported %q", tp)
		}
		for _, sn := range m.GetServerNames() {
			out.ServerNames = append(out.ServerNames, lower(sn))
		}
	}
	if ts := fc.GetTransportSocket(); ts != nil {
		t, err := decodeDownstreamTLS(ts)
		if err != nil {
			return nil, wrapAt("transport_socket", err)
		}
		out.TLS = t
	}
	if len(out.ServerNames) > 0 && out.TLS == nil {
		return nil, errAt("filter_chain_match.server_names", "needs a TLS transport_socket")
	}
	if len(fc.GetFilters()) != 1 || fc.GetFilters()[0].GetName() != hcmFilterName {
		return nil, errAt("filters", "exactly one %s filter is supported", hcmFilterName)
	}
	f := fc.GetFilters()[0]
	if err := onlyFields(f, "name", "typed_config"); err != nil {
		return nil, wrapAt("filters[0]", err)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return nil, errAt("filters[0].typed_config", "%v", err)
	}
	h, err := decodeHCM(&hcm, ext)
	if err != nil {
		return nil, wrapAt("filters[0].typed_config", err)
	}
	out.HCM = h
	return out, nil
}

func decodeHCM(h *hcmv3.HttpConnectionManager, ext Extensions) (*HTTPConnectionManager, error) {
	if err := onlyFields(h, "stat_prefix", "codec_type", "rds", "route_config", "use_remote_address",
		"xff_num_trusted_hops", "generate_request_id", "upgrade_configs", "common_http_protocol_options",
		"request_headers_timeout", "stream_idle_timeout", "max_request_headers_kb", "http_filters",
		"forward_client_cert_details", "set_current_client_cert_details", "original_ip_detection_extensions", "tracing"); err != nil {
		return nil, err
	}
	out := &HTTPConnectionManager{
		StatPrefix:            h.GetStatPrefix(),
		UseRemoteAddress:      h.GetUseRemoteAddress().GetValue(),
		XFFNumTrustedHops:     h.GetXffNumTrustedHops(),
		GenerateRequestID:     true, // Envoy's default
		RequestHeadersTimeout: duration(h.GetRequestHeadersTimeout()),
		StreamIdleTimeout:     5 * time.Minute, // Envoy's default stream_idle_timeout
		// Envoy's default max_request_headers_kb.
		MaxRequestHeadersBytes: 60 << 10,
	}
	if h.GetStreamIdleTimeout() != nil {
		out.StreamIdleTimeout = duration(h.GetStreamIdleTimeout())
	}
	switch c := h.GetCodecType(); c {
	case hcmv3.HttpConnectionManager_AUTO, hcmv3.HttpConnectionManager_HTTP1, hcmv3.HttpConnectionManager_HTTP2:
	default:
		return nil, errAt("codec_type", "unsupported %v", c)
	}
	switch rs := h.GetRouteSpecifier().(type) {
	case *hcmv3.HttpConnectionManager_Rds:
		if err := onlyFields(rs.Rds, "route_config_name", "config_source"); err != nil {
			return nil, wrapAt("rds", err)
		}
		if rs.Rds.GetRouteConfigName() == "" {
			return nil, errAt("rds.route_config_name", "required")
		}
		if rs.Rds.GetConfigSource().GetAds() == nil {
			return nil, errAt("rds.config_source", "only ads is supported")
		}
		out.RouteConfigName = rs.Rds.GetRouteConfigName()
	case *hcmv3.HttpConnectionManager_RouteConfig:
		rc, err := decodeRouteConfig(rs.RouteConfig, ext)
		if err != nil {
			return nil, wrapAt("route_config", err)
		}
		out.RouteConfig = rc
		out.RouteConfigName = rc.Name
	default:
		return nil, errAt("route_specifier", "unsupported %q; use rds or route_config", oneofName(h, "route_specifier"))
	}
	if o := h.GetCommonHttpProtocolOptions(); o != nil {
		if err := onlyFields(o, "idle_timeout"); err != nil {
			return nil, wrapAt("common_http_protocol_options", err)
		}
	}
	// Envoy's downstream idle_timeout defaults to 1h when unset.
	out.IdleTimeout = time.Hour
	if it := h.GetCommonHttpProtocolOptions().GetIdleTimeout(); it != nil {
		out.IdleTimeout = duration(it)
	}
	if g := h.GetGenerateRequestId(); g != nil {
		out.GenerateRequestID = g.GetValue()
	}
	if kb := h.GetMaxRequestHeadersKb(); kb != nil {
		out.MaxRequestHeadersBytes = int(kb.GetValue()) << 10
	}
	for i, u := range h.GetUpgradeConfigs() {
		field := fmt.Sprintf("upgrade_configs[%d]", i)
		if err := onlyFields(u, "upgrade_type", "enabled"); err != nil {
			return nil, wrapAt(field, err)
		}
		// Envoy compares upgrade types case-insensitively.
		if !strings.EqualFold(u.GetUpgradeType(), "websocket") {
			return nil, errAt(field+".upgrade_type", "only websocket is supported, got %q", u.GetUpgradeType())
		}
		out.WebSocket = u.GetEnabled() == nil || u.GetEnabled().GetValue()
	}
	if err := decodeClientCert(h, out); err != nil {
		return nil, err
	}
	if err := decodeOriginalIPDetection(h, out); err != nil {
		return nil, err
	}
	sawRouter := false
	names := map[string]bool{}
	for i, f := range h.GetHttpFilters() {
		field := fmt.Sprintf("http_filters[%d]", i)
		if err := onlyFields(f, "name", "typed_config", "is_optional", "disabled"); err != nil {
			return nil, wrapAt(field, err)
		}
		if sawRouter {
			return nil, errAt(field, "filter %q after the router never runs", f.GetName())
		}
		if names[f.GetName()] {
			// Per-route configs are keyed by name: a repeated name
			// would make them ambiguous.
			return nil, errAt(field+".name", "%q is used twice", f.GetName())
		}
		names[f.GetName()] = true
		hf, err := decodeHTTPFilter(f, ext)
		if err != nil {
			if errors.Is(err, errUnknownFilter) && f.GetIsOptional() {
				// Envoy skips an optional filter it does not know;
				// say so in the model so /config_dump can show it.
				out.SkippedHTTPFilters = append(out.SkippedHTTPFilters, f.GetName())
				continue
			}
			return nil, wrapAt(field, err)
		}
		if hf.TypeURL == routerTypeURL {
			if f.GetDisabled() {
				return nil, errAt(field+".disabled", "the router cannot be disabled")
			}
			sawRouter = true
		}
		out.HTTPFilters = append(out.HTTPFilters, hf)
	}
	if !sawRouter {
		return nil, errAt("http_filters", "the last filter must be %s", RouterFilterName)
	}
	if t := h.GetTracing(); t != nil {
		tr, err := decodeTracing(t)
		if err != nil {
			return nil, wrapAt("tracing", err)
		}
		out.Tracing = tr
	}
	return out, nil
}

var errUnknownFilter = errors.New("unsupported HTTP filter")

var tlsVersions = map[tlsv3.TlsParameters_TlsProtocol]uint16{
	tlsv3.TlsParameters_TLSv1_0: tls.VersionTLS10,
	tlsv3.TlsParameters_TLSv1_1: tls.VersionTLS11,
	tlsv3.TlsParameters_TLSv1_2: tls.VersionTLS12,
	tlsv3.TlsParameters_TLSv1_3: tls.VersionTLS13,
}

// cipherIDs maps the OpenSSL/BoringSSL cipher names Envoy takes to
// crypto/tls. TLS 1.3 suites are not configurable in Envoy (BoringSSL) nor
// in Go, so they are not listed; names Go does not implement are errors.
var cipherIDs = map[string]uint16{
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
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
}

// CipherSuiteID converts one OpenSSL cipher name to its crypto/tls ID.
func CipherSuiteID(name string) (uint16, bool) {
	id, ok := cipherIDs[name]
	return id, ok
}

// decodeCiphers converts Envoy's cipher_suites. An entry may be a BoringSSL
// equal-preference group "[A|B]"; Go has no equal preference (it orders
// suites itself since Go 1.17), so group members are listed in order.
func decodeCiphers(field string, names []string) ([]uint16, error) {
	var out []uint16
	for i, entry := range names {
		group := strings.TrimSuffix(strings.TrimPrefix(entry, "["), "]")
		for _, c := range strings.Split(group, "|") {
			c = strings.TrimSpace(c)
			id, ok := cipherIDs[c]
			if !ok {
				return nil, errAt(fmt.Sprintf("%s[%d]", field, i), "unsupported cipher %q", c)
			}
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func decodeTLSParams(p *tlsv3.TlsParameters) (minV, maxV uint16, ciphers []uint16, err error) {
	if p == nil {
		return 0, 0, nil, nil
	}
	if err := onlyFields(p, "tls_minimum_protocol_version", "tls_maximum_protocol_version", "cipher_suites"); err != nil {
		return 0, 0, nil, err
	}
	var ok bool
	if v := p.GetTlsMinimumProtocolVersion(); v != tlsv3.TlsParameters_TLS_AUTO {
		if minV, ok = tlsVersions[v]; !ok {
			return 0, 0, nil, errAt("tls_minimum_protocol_version", "unsupported %v", v)
		}
	}
	if v := p.GetTlsMaximumProtocolVersion(); v != tlsv3.TlsParameters_TLS_AUTO {
		if maxV, ok = tlsVersions[v]; !ok {
			return 0, 0, nil, errAt("tls_maximum_protocol_version", "unsupported %v", v)
		}
	}
	if minV != 0 && maxV != 0 && minV > maxV {
		return 0, 0, nil, errAt("tls_minimum_protocol_version", "is above tls_maximum_protocol_version")
	}
	ciphers, err = decodeCiphers("cipher_suites", p.GetCipherSuites())
	return minV, maxV, ciphers, err
}

// sdsName checks an SDS reference: by name, over ADS.
func sdsName(field string, s *tlsv3.SdsSecretConfig) (string, error) {
	if err := onlyFields(s, "name", "sds_config"); err != nil {
		return "", wrapAt(field, err)
	}
	if s.GetName() == "" {
		return "", errAt(field+".name", "required")
	}
	if s.GetSdsConfig().GetAds() == nil {
		return "", errAt(field+".sds_config", "only ads is supported")
	}
	return s.GetName(), nil
}

// decodeValidation decodes a CommonTlsContext's validation context: an SDS
// reference, optionally combined with exact subject alt name matchers.
func decodeValidation(ctc *tlsv3.CommonTlsContext) (secret string, sans []string, err error) {
	switch v := ctc.GetValidationContextType().(type) {
	case nil:
		return "", nil, nil
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		secret, err = sdsName("validation_context_sds_secret_config", v.ValidationContextSdsSecretConfig)
		return secret, nil, err
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		const field = "combined_validation_context"
		cvc := v.CombinedValidationContext
		if secret, err = sdsName(field+".validation_context_sds_secret_config", cvc.GetValidationContextSdsSecretConfig()); err != nil {
			return "", nil, err
		}
		def := cvc.GetDefaultValidationContext()
		if err := onlyFields(def, "match_typed_subject_alt_names"); err != nil {
			return "", nil, wrapAt(field+".default_validation_context", err)
		}
		for i, m := range def.GetMatchTypedSubjectAltNames() {
			f := fmt.Sprintf("%s.default_validation_context.match_typed_subject_alt_names[%d]", field, i)
			if m.GetSanType() != tlsv3.SubjectAltNameMatcher_DNS && m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
				return "", nil, errAt(f+".san_type", "only DNS and URI are supported, got %v", m.GetSanType())
			}
			ex, ok := m.GetMatcher().GetMatchPattern().(*matcherv3.StringMatcher_Exact)
			if !ok || m.GetMatcher().GetIgnoreCase() || m.GetOid() != "" {
				return "", nil, errAt(f+".matcher", "only exact, case-sensitive matchers are supported")
			}
			sans = append(sans, ex.Exact)
		}
		return secret, sans, nil
	default:
		return "", nil, errAt("validation_context_type", "unsupported %q; use SDS", oneofName(ctc, "validation_context_type"))
	}
}

func decodeDownstreamTLS(ts *corev3.TransportSocket) (*DownstreamTLS, error) {
	var ctx tlsv3.DownstreamTlsContext
	if err := transportSocket(ts, &ctx); err != nil {
		return nil, err
	}
	if err := onlyFields(&ctx, "common_tls_context", "require_client_certificate"); err != nil {
		return nil, wrapAt("typed_config", err)
	}
	ctc := ctx.GetCommonTlsContext()
	if err := onlyFields(ctc, "tls_params", "alpn_protocols", "tls_certificate_sds_secret_configs",
		"validation_context_sds_secret_config", "combined_validation_context"); err != nil {
		return nil, wrapAt("typed_config.common_tls_context", err)
	}
	out := &DownstreamTLS{
		RequireClientCert: ctx.GetRequireClientCertificate().GetValue(),
		ALPN:              ctc.GetAlpnProtocols(),
	}
	sds := ctc.GetTlsCertificateSdsSecretConfigs()
	if len(sds) != 1 {
		return nil, errAt("typed_config.common_tls_context.tls_certificate_sds_secret_configs", "exactly one SDS certificate is supported, got %d", len(sds))
	}
	var err error
	if out.CertificateSecret, err = sdsName("tls_certificate_sds_secret_configs[0]", sds[0]); err != nil {
		return nil, wrapAt("typed_config.common_tls_context", err)
	}
	if out.MinVersion, out.MaxVersion, out.CipherSuites, err = decodeTLSParams(ctc.GetTlsParams()); err != nil {
		return nil, wrapAt("typed_config.common_tls_context.tls_params", err)
	}
	if out.ValidationSecret, out.SubjectAltNames, err = decodeValidation(ctc); err != nil {
		return nil, wrapAt("typed_config.common_tls_context", err)
	}
	if out.RequireClientCert && out.ValidationSecret == "" {
		return nil, errAt("typed_config.require_client_certificate", "needs a validation context")
	}
	return out, nil
}

// transportSocket unmarshals the TLS transport socket's typed config.
func transportSocket(ts *corev3.TransportSocket, into proto.Message) error {
	if err := onlyFields(ts, "name", "typed_config"); err != nil {
		return err
	}
	if ts.GetName() != "envoy.transport_sockets.tls" {
		return errAt("name", "unsupported transport socket %q", ts.GetName())
	}
	if err := ts.GetTypedConfig().UnmarshalTo(into); err != nil {
		return errAt("typed_config", "%v", err)
	}
	if v, ok := into.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return errAt("typed_config", "%v", err)
		}
	}
	return nil
}
