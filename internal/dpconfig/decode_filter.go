package dpconfig

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	ratelimitcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	localrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	ppv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	xffv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/original_ip_detection/xff/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Type URLs of the filter configurations dpconfig decodes itself. Envoy
// selects a filter's implementation by the type of its typed_config; so
// does the proxy.
var (
	jwtAuthnTypeURL       = typeURL(&jwtv3.JwtAuthentication{})
	jwtPerRouteTypeURL    = typeURL(&jwtv3.PerRouteConfig{})
	rbacTypeURL           = typeURL(&rbacv3.RBAC{})
	rbacPerRouteTypeURL   = typeURL(&rbacv3.RBACPerRoute{})
	apiKeyTypeURL         = typeURL(&apikeyv3.ApiKeyAuth{})
	apiKeyPerRouteTypeURL = typeURL(&apikeyv3.ApiKeyAuthPerRoute{})
	localRateLimitTypeURL = typeURL(&localrlv3.LocalRateLimit{})
	faultTypeURL          = typeURL(&faultv3.HTTPFault{})
	corsTypeURL           = typeURL(&corsv3.Cors{})
	routerTypeURL         = typeURL(&routerv3.Router{})
	proxyProtocolTypeURL  = typeURL(&ppv3.ProxyProtocol{})
	xffTypeURL            = typeURL(&xffv3.XffConfig{})
)

func typeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}

const (
	proxyProtocolFilterName = "envoy.filters.listener.proxy_protocol"
	tlsInspectorFilterName  = "envoy.filters.listener.tls_inspector"
)

// decodeHTTPFilter decodes one http_filters entry. The implementation is
// chosen by typed_config's type; a filter without typed_config is looked
// up by name, as Envoy does for filters whose config is empty.
func decodeHTTPFilter(f *hcmv3.HttpFilter, ext Extensions) (HTTPFilter, error) {
	out := HTTPFilter{Name: f.GetName(), Disabled: f.GetDisabled()}
	cfg := f.GetTypedConfig()
	tu := cfg.GetTypeUrl()
	if cfg == nil {
		switch f.GetName() {
		case FaultFilterName:
			tu = faultTypeURL
		case CORSFilterName:
			tu = corsTypeURL
		case RouterFilterName:
			tu = routerTypeURL
		default:
			return out, fmt.Errorf("%w %q: typed_config is required", errUnknownFilter, f.GetName())
		}
	}
	out.TypeURL = tu
	builtin := map[string]string{FaultFilterName: faultTypeURL, CORSFilterName: corsTypeURL, RouterFilterName: routerTypeURL}
	if want, ok := builtin[f.GetName()]; ok && tu != want {
		return out, errAt("typed_config", "filter %q needs %s, got %s", f.GetName(), want, tu)
	}
	var err error
	switch tu {
	case faultTypeURL, corsTypeURL, routerTypeURL:
		// The fault and CORS filters are configured per route only
		// (docs/xds-contract.md): a listener-level config must be empty.
		var m proto.Message
		switch tu {
		case faultTypeURL:
			m = &faultv3.HTTPFault{}
		case corsTypeURL:
			m = &corsv3.Cors{}
		default:
			m = &routerv3.Router{}
		}
		if cfg != nil {
			if err := cfg.UnmarshalTo(m); err != nil {
				return out, errAt("typed_config", "%v", err)
			}
			if err := onlyFields(m); err != nil {
				return out, wrapAt("typed_config", err)
			}
		}
		// Names are canonical for these three: the runtime keys its
		// built-in behaviour (and Route.Fault/CORS) on them.
		want := map[string]string{faultTypeURL: FaultFilterName, corsTypeURL: CORSFilterName, routerTypeURL: RouterFilterName}[tu]
		if f.GetName() != want {
			return out, errAt("name", "a %s filter must be named %q, got %q", tu, want, f.GetName())
		}
	case jwtAuthnTypeURL:
		out.Config, err = decodeJWTAuthn(cfg)
	case rbacTypeURL:
		out.Config, err = decodeRBACAny(cfg)
	case apiKeyTypeURL:
		out.Config, err = decodeAPIKeyAuth(cfg)
	case localRateLimitTypeURL:
		out.Config, err = decodeLocalRateLimit(cfg)
	default:
		p, ok := ext[tu]
		if !ok {
			return out, fmt.Errorf("%w %q (%s)", errUnknownFilter, f.GetName(), tu)
		}
		out.Config, err = p.ParseConfig(cfg)
	}
	if err != nil {
		return out, wrapAt("typed_config", err)
	}
	return out, nil
}

// decodeOverride decodes a typed_per_filter_config value other than fault
// and CORS (which decode into Route.Fault and Route.CORS). Like Envoy, the
// parser is chosen by the value's type, not by the filter name.
func decodeOverride(cfg *anypb.Any, ext Extensions) (any, error) {
	switch cfg.GetTypeUrl() {
	case jwtPerRouteTypeURL:
		return decodeJWTPerRoute(cfg)
	case rbacPerRouteTypeURL:
		var pr rbacv3.RBACPerRoute
		if err := unmarshalStrict(cfg, &pr); err != nil {
			return nil, err
		}
		if err := onlyFields(&pr, "rbac"); err != nil {
			return nil, err
		}
		return decodeRBAC(pr.GetRbac())
	case apiKeyPerRouteTypeURL:
		return decodeAPIKeyAuthPerRoute(cfg)
	case localRateLimitTypeURL:
		// Envoy's local_ratelimit uses the same message per route.
		return decodeLocalRateLimit(cfg)
	}
	if p, ok := ext[cfg.GetTypeUrl()]; ok {
		return p.ParseOverride(cfg)
	}
	return nil, errUnsupportedOverride
}

var errUnsupportedOverride = errors.New("unsupported filter")

// unmarshalStrict unmarshals a filter config and applies its
// protoc-gen-validate rules, as Envoy does before using it.
func unmarshalStrict(a *anypb.Any, m interface {
	proto.Message
	ValidateAll() error
}) error {
	if err := a.UnmarshalTo(m); err != nil {
		return err
	}
	return m.ValidateAll()
}

func decodeJWTAuthn(a *anypb.Any) (*JWTAuthn, error) {
	var ja jwtv3.JwtAuthentication
	if err := unmarshalStrict(a, &ja); err != nil {
		return nil, err
	}
	if err := onlyFields(&ja, "providers", "requirement_map", "bypass_cors_preflight"); err != nil {
		return nil, err
	}
	out := &JWTAuthn{
		Providers:           make(map[string]*JWTProvider, len(ja.GetProviders())),
		Requirements:        make(map[string]*JWTRequirement, len(ja.GetRequirementMap())),
		BypassCORSPreflight: ja.GetBypassCorsPreflight(),
	}
	for _, name := range slices.Sorted(maps.Keys(ja.GetProviders())) {
		p, err := decodeJWTProvider(name, ja.GetProviders()[name])
		if err != nil {
			return nil, wrapAt("providers["+name+"]", err)
		}
		out.Providers[name] = p
	}
	for _, name := range slices.Sorted(maps.Keys(ja.GetRequirementMap())) {
		r, err := decodeJWTRequirement(ja.GetRequirementMap()[name], out.Providers, 0)
		if err != nil {
			return nil, wrapAt("requirement_map["+name+"]", err)
		}
		out.Requirements[name] = r
	}
	return out, nil
}

func decodeJWTProvider(name string, p *jwtv3.JwtProvider) (*JWTProvider, error) {
	if err := onlyFields(p, "issuer", "audiences", "remote_jwks", "local_jwks", "forward", "from_headers",
		"from_params", "from_cookies", "forward_payload_header", "clock_skew_seconds", "claim_to_headers",
		"require_expiration"); err != nil {
		return nil, err
	}
	out := &JWTProvider{
		Name:                 name,
		Issuer:               p.GetIssuer(),
		Audiences:            p.GetAudiences(),
		FromParams:           p.GetFromParams(),
		FromCookies:          p.GetFromCookies(),
		Forward:              p.GetForward(),
		ForwardPayloadHeader: lower(p.GetForwardPayloadHeader()),
		RequireExpiration:    p.GetRequireExpiration(),
		// Envoy's default clock skew is 60 seconds.
		ClockSkew: 60 * time.Second,
	}
	if s := p.GetClockSkewSeconds(); s != 0 {
		out.ClockSkew = time.Duration(s) * time.Second
	}
	for i, h := range p.GetFromHeaders() {
		if err := onlyFields(h, "name", "value_prefix"); err != nil {
			return nil, wrapAt(fmt.Sprintf("from_headers[%d]", i), err)
		}
		out.FromHeaders = append(out.FromHeaders, JWTHeader{Name: lower(h.GetName()), ValuePrefix: h.GetValuePrefix()})
	}
	for i, c := range p.GetClaimToHeaders() {
		if err := onlyFields(c, "header_name", "claim_name"); err != nil {
			return nil, wrapAt(fmt.Sprintf("claim_to_headers[%d]", i), err)
		}
		out.ClaimToHeaders = append(out.ClaimToHeaders, JWTClaimToHeader{Header: lower(c.GetHeaderName()), Claim: c.GetClaimName()})
	}
	switch src := p.GetJwksSourceSpecifier().(type) {
	case *jwtv3.JwtProvider_LocalJwks:
		switch d := src.LocalJwks.GetSpecifier().(type) {
		case *corev3.DataSource_InlineString:
			out.LocalJWKS = []byte(d.InlineString)
		case *corev3.DataSource_InlineBytes:
			out.LocalJWKS = d.InlineBytes
		default:
			return nil, errAt("local_jwks", "only inline_string and inline_bytes are supported")
		}
		if len(out.LocalJWKS) == 0 {
			return nil, errAt("local_jwks", "empty key set")
		}
	case *jwtv3.JwtProvider_RemoteJwks:
		rj := src.RemoteJwks
		if err := onlyFields(rj, "http_uri", "cache_duration"); err != nil {
			return nil, wrapAt("remote_jwks", err)
		}
		hu := rj.GetHttpUri()
		if err := onlyFields(hu, "uri", "cluster", "timeout"); err != nil {
			return nil, wrapAt("remote_jwks.http_uri", err)
		}
		if !strings.HasPrefix(hu.GetUri(), "https://") {
			// Keys fetched in clear text could be replaced in transit.
			return nil, errAt("remote_jwks.http_uri.uri", "must be https, got %q", hu.GetUri())
		}
		out.Remote = &RemoteJWKS{URI: hu.GetUri(), Cluster: hu.GetCluster(), Timeout: duration(hu.GetTimeout()), CacheDuration: 10 * time.Minute}
		if out.Remote.Timeout <= 0 {
			out.Remote.Timeout = time.Second // Envoy's HttpUri.timeout is required; 1s is Envoy Gateway's
		}
		if cd := rj.GetCacheDuration(); cd != nil {
			out.Remote.CacheDuration = duration(cd)
		}
	default:
		return nil, errAt("jwks_source_specifier", "one of local_jwks and remote_jwks is required")
	}
	return out, nil
}

// maxRequirementDepth bounds requires_any/requires_all nesting, so that a
// hostile config cannot make verification recurse without end.
const maxRequirementDepth = 8

func decodeJWTRequirement(r *jwtv3.JwtRequirement, providers map[string]*JWTProvider, depth int) (*JWTRequirement, error) {
	if depth > maxRequirementDepth {
		return nil, errAt("requires", "nested deeper than %d", maxRequirementDepth)
	}
	checkProvider := func(field, name string) error {
		if providers[name] == nil {
			return errAt(field, "unknown provider %q", name)
		}
		return nil
	}
	list := func(field string, kind JWTRequirementKind, reqs []*jwtv3.JwtRequirement) (*JWTRequirement, error) {
		out := &JWTRequirement{Kind: kind}
		for i, c := range reqs {
			cr, err := decodeJWTRequirement(c, providers, depth+1)
			if err != nil {
				return nil, wrapAt(fmt.Sprintf("%s.requirements[%d]", field, i), err)
			}
			out.Children = append(out.Children, cr)
		}
		if len(out.Children) < 2 {
			return nil, errAt(field+".requirements", "at least two are required")
		}
		return out, nil
	}
	switch t := r.GetRequiresType().(type) {
	case *jwtv3.JwtRequirement_ProviderName:
		if err := checkProvider("provider_name", t.ProviderName); err != nil {
			return nil, err
		}
		return &JWTRequirement{Kind: JWTRequireProvider, Provider: t.ProviderName}, nil
	case *jwtv3.JwtRequirement_ProviderAndAudiences:
		pa := t.ProviderAndAudiences
		if err := checkProvider("provider_and_audiences.provider_name", pa.GetProviderName()); err != nil {
			return nil, err
		}
		return &JWTRequirement{Kind: JWTRequireProvider, Provider: pa.GetProviderName(), Audiences: pa.GetAudiences()}, nil
	case *jwtv3.JwtRequirement_RequiresAny:
		return list("requires_any", JWTRequireAny, t.RequiresAny.GetRequirements())
	case *jwtv3.JwtRequirement_RequiresAll:
		return list("requires_all", JWTRequireAll, t.RequiresAll.GetRequirements())
	case *jwtv3.JwtRequirement_AllowMissing:
		return &JWTRequirement{Kind: JWTAllowMissing}, nil
	case *jwtv3.JwtRequirement_AllowMissingOrFailed:
		return &JWTRequirement{Kind: JWTAllowMissingOrFailed}, nil
	default:
		return nil, errAt("requires_type", "unsupported %q", oneofName(r, "requires_type"))
	}
}

func decodeJWTPerRoute(a *anypb.Any) (*JWTPerRoute, error) {
	var pr jwtv3.PerRouteConfig
	if err := unmarshalStrict(a, &pr); err != nil {
		return nil, err
	}
	switch s := pr.GetRequirementSpecifier().(type) {
	case *jwtv3.PerRouteConfig_Disabled:
		return &JWTPerRoute{Disabled: s.Disabled}, nil
	case *jwtv3.PerRouteConfig_RequirementName:
		return &JWTPerRoute{RequirementName: s.RequirementName}, nil
	}
	return nil, errAt("requirement_specifier", "required")
}

func decodeRBACAny(a *anypb.Any) (*RBAC, error) {
	var r rbacv3.RBAC
	if err := unmarshalStrict(a, &r); err != nil {
		return nil, err
	}
	return decodeRBAC(&r)
}

func decodeRBAC(r *rbacv3.RBAC) (*RBAC, error) {
	if err := onlyFields(r, "rules"); err != nil {
		return nil, err
	}
	if r.GetRules() == nil {
		return &RBAC{}, nil
	}
	rules := r.GetRules()
	if err := onlyFields(rules, "action", "policies"); err != nil {
		return nil, wrapAt("rules", err)
	}
	out := &RBACRules{}
	switch rules.GetAction() {
	case rbacconfigv3.RBAC_ALLOW:
		out.Action = RBACAllow
	case rbacconfigv3.RBAC_DENY:
		out.Action = RBACDeny
	default:
		return nil, errAt("rules.action", "only ALLOW and DENY are supported, got %v", rules.GetAction())
	}
	for _, name := range slices.Sorted(maps.Keys(rules.GetPolicies())) {
		p := rules.GetPolicies()[name]
		field := "rules.policies[" + name + "]"
		if err := onlyFields(p, "permissions", "principals"); err != nil {
			return nil, wrapAt(field, err)
		}
		// ksgw's policies restrict who, not what: permissions must be
		// exactly [{any: true}].
		if len(p.GetPermissions()) != 1 || !p.GetPermissions()[0].GetAny() {
			return nil, errAt(field+".permissions", "only [{any: true}] is supported")
		}
		pol := RBACPolicy{Name: name}
		for i, pr := range p.GetPrincipals() {
			d, err := decodePrincipal(pr, 0)
			if err != nil {
				return nil, wrapAt(fmt.Sprintf("%s.principals[%d]", field, i), err)
			}
			pol.Principals = append(pol.Principals, d)
		}
		out.Policies = append(out.Policies, pol)
	}
	return &RBAC{Rules: out}, nil
}

func decodePrincipal(p *rbacconfigv3.Principal, depth int) (Principal, error) {
	if depth > maxRequirementDepth {
		return Principal{}, errAt("identifier", "nested deeper than %d", maxRequirementDepth)
	}
	set := func(field string, kind PrincipalKind, ids []*rbacconfigv3.Principal) (Principal, error) {
		out := Principal{Kind: kind}
		for i, c := range ids {
			d, err := decodePrincipal(c, depth+1)
			if err != nil {
				return Principal{}, wrapAt(fmt.Sprintf("%s.ids[%d]", field, i), err)
			}
			out.Children = append(out.Children, d)
		}
		return out, nil
	}
	switch id := p.GetIdentifier().(type) {
	case *rbacconfigv3.Principal_Any:
		return Principal{Kind: PrincipalAny}, nil
	case *rbacconfigv3.Principal_AndIds:
		return set("and_ids", PrincipalAnd, id.AndIds.GetIds())
	case *rbacconfigv3.Principal_OrIds:
		return set("or_ids", PrincipalOr, id.OrIds.GetIds())
	case *rbacconfigv3.Principal_NotId:
		c, err := decodePrincipal(id.NotId, depth+1)
		if err != nil {
			return Principal{}, wrapAt("not_id", err)
		}
		return Principal{Kind: PrincipalNot, Children: []Principal{c}}, nil
	case *rbacconfigv3.Principal_RemoteIp:
		pf, err := decodeCIDR(id.RemoteIp)
		if err != nil {
			return Principal{}, wrapAt("remote_ip", err)
		}
		return Principal{Kind: PrincipalRemoteIP, CIDR: pf}, nil
	case *rbacconfigv3.Principal_DirectRemoteIp:
		pf, err := decodeCIDR(id.DirectRemoteIp)
		if err != nil {
			return Principal{}, wrapAt("direct_remote_ip", err)
		}
		return Principal{Kind: PrincipalDirectRemoteIP, CIDR: pf}, nil
	}
	return Principal{}, errAt("identifier", "unsupported %q", oneofName(p, "identifier"))
}

// decodeCIDR converts a CidrRange; Envoy masks the address to the prefix.
func decodeCIDR(c *corev3.CidrRange) (netip.Prefix, error) {
	ip, err := netip.ParseAddr(c.GetAddressPrefix())
	if err != nil {
		return netip.Prefix{}, errAt("address_prefix", "%v", err)
	}
	ip = ip.Unmap()
	bits := int(c.GetPrefixLen().GetValue())
	if c.GetPrefixLen() == nil {
		bits = ip.BitLen()
	}
	pf, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, errAt("prefix_len", "%v", err)
	}
	return pf, nil
}

func decodeAPIKeyAuth(a *anypb.Any) (*APIKeyAuth, error) {
	var ak apikeyv3.ApiKeyAuth
	if err := unmarshalStrict(a, &ak); err != nil {
		return nil, err
	}
	if err := onlyFields(&ak, "credentials", "key_sources", "forwarding"); err != nil {
		return nil, err
	}
	return apiKeyCommon(ak.GetCredentials(), ak.GetKeySources(), ak.GetForwarding(), nil)
}

func decodeAPIKeyAuthPerRoute(a *anypb.Any) (*APIKeyAuth, error) {
	var ak apikeyv3.ApiKeyAuthPerRoute
	if err := unmarshalStrict(a, &ak); err != nil {
		return nil, err
	}
	if err := onlyFields(&ak, "credentials", "key_sources", "forwarding", "allowed_clients"); err != nil {
		return nil, err
	}
	return apiKeyCommon(ak.GetCredentials(), ak.GetKeySources(), ak.GetForwarding(), ak.GetAllowedClients())
}

func apiKeyCommon(creds []*apikeyv3.Credential, sources []*apikeyv3.KeySource, fwd *apikeyv3.Forwarding, allowed []string) (*APIKeyAuth, error) {
	out := &APIKeyAuth{AllowedClients: allowed}
	seen := map[string]bool{}
	for i, c := range creds {
		// Never echo the key in an error: errors reach logs and statuses.
		if seen[c.GetKey()] {
			return nil, errAt(fmt.Sprintf("credentials[%d].key", i), "duplicate key (client %q)", c.GetClient())
		}
		seen[c.GetKey()] = true
		out.Credentials = append(out.Credentials, APIKeyCredential{Key: c.GetKey(), Client: c.GetClient()})
	}
	for i, s := range sources {
		n := 0
		for _, v := range []string{s.GetHeader(), s.GetQuery(), s.GetCookie()} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			return nil, errAt(fmt.Sprintf("key_sources[%d]", i), "exactly one of header, query and cookie is required")
		}
		out.Sources = append(out.Sources, APIKeySource{Header: lower(s.GetHeader()), Query: s.GetQuery(), Cookie: s.GetCookie()})
	}
	if fwd != nil {
		out.HasForwarding = true
		out.ForwardHeader = lower(fwd.GetHeader())
		out.HideCredentials = fwd.GetHideCredentials()
	}
	return out, nil
}

// decodeListenerFilters accepts tls_inspector (the proxy reads the
// ClientHello itself) and proxy_protocol.
func decodeListenerFilters(out *Listener, lfs []*listenerFilter) error {
	for i, lf := range lfs {
		field := fmt.Sprintf("listener_filters[%d]", i)
		switch lf.name {
		case tlsInspectorFilterName:
		case proxyProtocolFilterName:
			if i != 0 {
				// The PROXY header is the first bytes on the wire; Envoy
				// requires the filter to run first for the same reason.
				return errAt(field, "proxy_protocol must be the first listener filter")
			}
			var pp ppv3.ProxyProtocol
			if lf.cfg != nil {
				if lf.cfg.GetTypeUrl() != proxyProtocolTypeURL {
					return errAt(field+".typed_config", "want %s, got %s", proxyProtocolTypeURL, lf.cfg.GetTypeUrl())
				}
				if err := unmarshalStrict(lf.cfg, &pp); err != nil {
					return errAt(field+".typed_config", "%v", err)
				}
				if err := onlyFields(&pp, "allow_requests_without_proxy_protocol"); err != nil {
					return wrapAt(field+".typed_config", err)
				}
			}
			out.ProxyProtocol = &ProxyProtocol{AllowWithout: pp.GetAllowRequestsWithoutProxyProtocol()}
		default:
			return errAt(field, "unsupported listener filter %q", lf.name)
		}
	}
	return nil
}

type listenerFilter struct {
	name string
	cfg  *anypb.Any
}

// decodeClientCert decodes the HCM's XFCC settings.
func decodeClientCert(h *hcmv3.HttpConnectionManager, out *HTTPConnectionManager) error {
	switch h.GetForwardClientCertDetails() {
	case hcmv3.HttpConnectionManager_SANITIZE:
		out.ForwardClientCert = XFCCSanitize
	case hcmv3.HttpConnectionManager_FORWARD_ONLY:
		out.ForwardClientCert = XFCCForwardOnly
	case hcmv3.HttpConnectionManager_APPEND_FORWARD:
		out.ForwardClientCert = XFCCAppendForward
	case hcmv3.HttpConnectionManager_SANITIZE_SET:
		out.ForwardClientCert = XFCCSanitizeSet
	case hcmv3.HttpConnectionManager_ALWAYS_FORWARD_ONLY:
		out.ForwardClientCert = XFCCAlwaysForwardOnly
	}
	if s := h.GetSetCurrentClientCertDetails(); s != nil {
		if err := onlyFields(s, "subject", "cert", "chain", "dns", "uri"); err != nil {
			return wrapAt("set_current_client_cert_details", err)
		}
		out.SetClientCert = SetClientCert{Subject: s.GetSubject().GetValue(), Cert: s.GetCert(), Chain: s.GetChain(), DNS: s.GetDns(), URI: s.GetUri()}
	}
	return nil
}

// decodeOriginalIPDetection accepts the xff extension only, Envoy's own
// default detection made explicit with trusted CIDRs.
func decodeOriginalIPDetection(h *hcmv3.HttpConnectionManager, out *HTTPConnectionManager) error {
	exts := h.GetOriginalIpDetectionExtensions()
	if len(exts) == 0 {
		return nil
	}
	if len(exts) > 1 {
		return errAt("original_ip_detection_extensions", "at most one extension is supported")
	}
	const field = "original_ip_detection_extensions[0]"
	e := exts[0]
	if e.GetTypedConfig().GetTypeUrl() != xffTypeURL {
		return errAt(field+".typed_config", "only %s is supported", xffTypeURL)
	}
	if h.GetXffNumTrustedHops() != 0 {
		// Envoy: "xff_num_trusted_hops ... must be 0 with original IP detection extensions".
		return errAt("xff_num_trusted_hops", "must be 0 when original_ip_detection_extensions is set")
	}
	var x xffv3.XffConfig
	if err := unmarshalStrict(e.GetTypedConfig(), &x); err != nil {
		return errAt(field+".typed_config", "%v", err)
	}
	if err := onlyFields(&x, "xff_num_trusted_hops", "xff_trusted_cidrs"); err != nil {
		return wrapAt(field+".typed_config", err)
	}
	out.XFFNumTrustedHops = x.GetXffNumTrustedHops()
	for i, c := range x.GetXffTrustedCidrs().GetCidrs() {
		pf, err := decodeCIDR(c)
		if err != nil {
			return wrapAt(fmt.Sprintf("%s.typed_config.xff_trusted_cidrs.cidrs[%d]", field, i), err)
		}
		out.XFFTrustedCIDRs = append(out.XFFTrustedCIDRs, pf)
	}
	if len(out.XFFTrustedCIDRs) > 0 && out.XFFNumTrustedHops != 0 {
		return errAt(field+".typed_config", "xff_num_trusted_hops and xff_trusted_cidrs are mutually exclusive")
	}
	return nil
}

// decodeLocalRateLimit decodes envoy.filters.http.local_ratelimit's
// LocalRateLimit, at listener level or per route. The proxy implements one
// token bucket per config (no descriptors), the enabled/enforced fractions,
// the draft-03 X-RateLimit-* headers, Retry-After and the status code;
// anything else is refused.
func decodeLocalRateLimit(a *anypb.Any) (*LocalRateLimit, error) {
	var m localrlv3.LocalRateLimit
	if err := unmarshalStrict(a, &m); err != nil {
		return nil, err
	}
	if err := onlyFields(&m, "stat_prefix", "status", "token_bucket", "filter_enabled", "filter_enforced",
		"enable_x_ratelimit_headers", "enable_retry_after_header"); err != nil {
		return nil, err
	}
	out := &LocalRateLimit{
		StatPrefix:         m.GetStatPrefix(),
		Status:             429,
		EnabledPerMillion:  perMillion(m.GetFilterEnabled().GetDefaultValue()),
		EnforcedPerMillion: perMillion(m.GetFilterEnforced().GetDefaultValue()),
		XRateLimitHeaders:  m.GetEnableXRatelimitHeaders() == ratelimitcommonv3.XRateLimitHeadersRFCVersion_DRAFT_VERSION_03,
		RetryAfter:         m.GetEnableRetryAfterHeader(),
	}
	// A runtime_key selects a value from Envoy's runtime, which the proxy
	// does not have: default_value applies, as in an Envoy whose runtime
	// lacks that key.
	if st := m.GetStatus(); st != nil {
		c := int(st.GetCode())
		if c < 400 || c > 599 {
			return nil, errAt("status.code", "%d: must be a 4xx or 5xx status", c)
		}
		out.Status = c
	}
	if tb := m.GetTokenBucket(); tb != nil {
		fill := duration(tb.GetFillInterval())
		if fill <= 0 {
			return nil, errAt("token_bucket.fill_interval", "must be positive")
		}
		per := uint32(1) // Envoy's default tokens_per_fill
		if tb.GetTokensPerFill() != nil {
			per = tb.GetTokensPerFill().GetValue()
		}
		out.Bucket = &TokenBucket{MaxTokens: tb.GetMaxTokens(), TokensPerFill: per, FillInterval: fill}
	}
	return out, nil
}
