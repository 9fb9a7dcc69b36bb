package translate

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	localrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	ppv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	xffv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/original_ip_detection/xff/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

// Names of the edge-security filters (Envoy's canonical names).
const (
	rbacFilter           = "envoy.filters.http.rbac"
	jwtFilter            = "envoy.filters.http.jwt_authn"
	apiKeyFilter         = "envoy.filters.http.api_key_auth"
	localRateLimitFilter = "envoy.filters.http.local_ratelimit"
	proxyProtocolFilter  = "envoy.filters.listener.proxy_protocol"
	xffExtension         = "envoy.extensions.http.original_ip_detection.xff"
)

// securityHTTPFilters are the edge-security filters of every HCM, in the
// order of the design's layers: network (IP access), then application
// (JWT, API keys). They are always present so that adding a policy to a
// route changes only RDS: rbac with no rules enforces nothing, jwt_authn
// without a per-route requirement checks nothing, and api_key_auth is
// disabled unless a route enables it with its own config (Envoy's
// HttpFilter.disabled). Only the JWT providers live at listener level, as
// Envoy's jwt_authn requires.
func securityHTTPFilters(l *ir.Listener) ([]*hcmv3.HttpFilter, error) {
	ja, err := jwtAuthentication(l)
	if err != nil {
		return nil, err
	}
	// Validate() of the listener does not look inside typed_config Anys.
	if err := ja.Validate(); err != nil {
		return nil, fmt.Errorf("jwt_authn: %w", err)
	}
	return []*hcmv3.HttpFilter{
		{Name: rbacFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&rbacv3.RBAC{})}},
		{Name: jwtFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(ja)}},
		{Name: apiKeyFilter, Disabled: true, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&apikeyv3.ApiKeyAuth{})}},
	}, nil
}

// jwtAuthentication holds the listener's providers and one requirement per
// policy (requires_any over its providers); routes pick theirs by name.
func jwtAuthentication(l *ir.Listener) (*jwtv3.JwtAuthentication, error) {
	ja := &jwtv3.JwtAuthentication{Providers: make(map[string]*jwtv3.JwtProvider, len(l.JWTProviders))}
	for _, p := range l.JWTProviders {
		jp := &jwtv3.JwtProvider{
			Issuer: p.Issuer, Audiences: p.Audiences, Forward: p.Forward, FromParams: p.FromParams, FromCookies: p.FromCookies,
			ForwardPayloadHeader: p.ForwardPayloadHeader, ClockSkewSeconds: p.ClockSkewSeconds,
		}
		for _, h := range p.FromHeaders {
			jp.FromHeaders = append(jp.FromHeaders, &jwtv3.JwtHeader{Name: h.Name, ValuePrefix: h.ValuePrefix})
		}
		for _, c := range p.ClaimToHeaders {
			jp.ClaimToHeaders = append(jp.ClaimToHeaders, &jwtv3.JwtClaimToHeader{HeaderName: c.Header, ClaimName: c.Claim})
		}
		switch {
		case p.RemoteJWKS != nil:
			rj := &jwtv3.RemoteJwks{
				HttpUri: &corev3.HttpUri{Uri: p.RemoteJWKS.URI, HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: p.RemoteJWKS.Cluster}, Timeout: dur(jwksFetchTimeout)},
			}
			if p.RemoteJWKS.CacheDuration > 0 { // unset: Envoy's default, 10 minutes
				rj.CacheDuration = dur(p.RemoteJWKS.CacheDuration)
			}
			jp.JwksSourceSpecifier = &jwtv3.JwtProvider_RemoteJwks{RemoteJwks: rj}
		case p.LocalJWKS != "":
			jp.JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: p.LocalJWKS}}}
		default:
			return nil, fmt.Errorf("jwt provider %q: no key set", p.Name)
		}
		ja.Providers[p.Name] = jp
	}
	if len(l.JWTRequirements) > 0 {
		ja.RequirementMap = make(map[string]*jwtv3.JwtRequirement, len(l.JWTRequirements))
	}
	for _, r := range l.JWTRequirements {
		req, err := jwtRequirement(r, ja.Providers)
		if err != nil {
			return nil, fmt.Errorf("jwt requirement %q: %w", r.Name, err)
		}
		ja.RequirementMap[r.Name] = req
	}
	return ja, nil
}

func jwtRequirement(r *ir.JWTRequirement, providers map[string]*jwtv3.JwtProvider) (*jwtv3.JwtRequirement, error) {
	var reqs []*jwtv3.JwtRequirement
	for _, p := range r.Providers {
		if providers[p] == nil {
			return nil, fmt.Errorf("provider %q is not among the listener's providers", p)
		}
		reqs = append(reqs, &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: p}})
	}
	if r.AllowMissing {
		// Envoy's idiom for "optional": requires_any of the providers and
		// allow_missing; a present but bad token still fails.
		reqs = append(reqs, &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_AllowMissing{AllowMissing: emptyMsg()}})
	}
	switch len(reqs) {
	case 0:
		return nil, fmt.Errorf("no providers")
	case 1:
		return reqs[0], nil
	}
	return &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_RequiresAny{RequiresAny: &jwtv3.JwtRequirementOrList{Requirements: reqs}}}, nil
}

// listenerSecurity sets the listener filters and the HCM fields of a
// gateway's client-address and client-certificate settings.
func listenerSecurity(l *ir.Listener, out *listenerv3.Listener, hcm *hcmv3.HttpConnectionManager) error {
	s := l.Security
	if s == nil {
		return nil
	}
	if s.ProxyProtocol {
		out.ListenerFilters = append(out.ListenerFilters, &listenerv3.ListenerFilter{
			Name:       proxyProtocolFilter,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&ppv3.ProxyProtocol{AllowRequestsWithoutProxyProtocol: s.ProxyProtocolOptional})},
		})
	}
	switch {
	case len(s.XFFTrustedCIDRs) > 0:
		// Trusting proxies by address needs Envoy's xff detection
		// extension; xff_num_trusted_hops must then be 0.
		x := &xffv3.XffConfig{XffTrustedCidrs: &xffv3.XffTrustedCidrs{}}
		for _, c := range s.XFFTrustedCIDRs {
			r, err := cidrRange(c)
			if err != nil {
				return err
			}
			x.XffTrustedCidrs.Cidrs = append(x.XffTrustedCidrs.Cidrs, r)
		}
		hcm.XffNumTrustedHops = 0
		hcm.OriginalIpDetectionExtensions = []*corev3.TypedExtensionConfig{{Name: xffExtension, TypedConfig: mustAny(x)}}
	case s.XFFNumTrustedHops > 0:
		hcm.XffNumTrustedHops = s.XFFNumTrustedHops
	}
	if cc := s.ClientCert; cc != nil {
		mode, ok := map[string]hcmv3.HttpConnectionManager_ForwardClientCertDetails{
			"Sanitize": hcmv3.HttpConnectionManager_SANITIZE, "ForwardOnly": hcmv3.HttpConnectionManager_FORWARD_ONLY,
			"AppendForward": hcmv3.HttpConnectionManager_APPEND_FORWARD, "SanitizeSet": hcmv3.HttpConnectionManager_SANITIZE_SET,
			"AlwaysForwardOnly": hcmv3.HttpConnectionManager_ALWAYS_FORWARD_ONLY,
		}[cc.Mode]
		if !ok {
			return fmt.Errorf("client cert header mode %q", cc.Mode)
		}
		hcm.ForwardClientCertDetails = mode
		if mode == hcmv3.HttpConnectionManager_APPEND_FORWARD || mode == hcmv3.HttpConnectionManager_SANITIZE_SET {
			hcm.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
				Subject: wrapperspb.Bool(cc.Subject), Cert: cc.Cert, Chain: cc.Chain, Dns: cc.DNS, Uri: cc.URI,
			}
		}
	}
	return nil
}

func cidrRange(s string) (*corev3.CidrRange, error) {
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, fmt.Errorf("CIDR %q: %w", s, err)
	}
	return &corev3.CidrRange{AddressPrefix: pf.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(pf.Bits()))}, nil
}

// routeSecurity adds the route's per-filter configs and, on TLS
// listeners, its HSTS header.
func routeSecurity(s *ir.RouteSecurity, tlsListener bool, pfc map[string]*anypb.Any) (map[string]*anypb.Any, *corev3.HeaderValueOption, error) {
	if s == nil {
		return pfc, nil, nil
	}
	var verr error
	set := func(name string, m interface {
		validator
		proto.Message
	}) {
		if err := m.Validate(); err != nil && verr == nil {
			verr = fmt.Errorf("%s: %w", name, err)
		}
		if pfc == nil {
			pfc = make(map[string]*anypb.Any, 3)
		}
		pfc[name] = mustAny(m)
	}
	if ia := s.IPAccess; ia != nil {
		rules, err := ipRules(ia)
		if err != nil {
			return nil, nil, fmt.Errorf("ip access: %w", err)
		}
		set(rbacFilter, &rbacv3.RBACPerRoute{Rbac: &rbacv3.RBAC{Rules: rules}})
	}
	if j := s.JWT; j != nil {
		pr := &jwtv3.PerRouteConfig{RequirementSpecifier: &jwtv3.PerRouteConfig_RequirementName{RequirementName: j.Name}}
		if j.Disabled {
			pr.RequirementSpecifier = &jwtv3.PerRouteConfig_Disabled{Disabled: true}
		}
		set(jwtFilter, pr)
	}
	if k := s.APIKey; k != nil {
		ak := &apikeyv3.ApiKeyAuthPerRoute{Forwarding: &apikeyv3.Forwarding{Header: k.ClientIDHeader, HideCredentials: !k.ForwardKey}}
		for _, c := range k.Credentials {
			ak.Credentials = append(ak.Credentials, &apikeyv3.Credential{Key: c.Key, Client: c.Client})
		}
		if k.Header != "" {
			ak.KeySources = append(ak.KeySources, &apikeyv3.KeySource{Header: k.Header})
		}
		if k.Query != "" {
			ak.KeySources = append(ak.KeySources, &apikeyv3.KeySource{Query: k.Query})
		}
		set(apiKeyFilter, ak)
	}
	if rl := s.LocalRateLimit; rl != nil {
		set(localRateLimitFilter, localRateLimit(rl))
	}
	for _, e := range routeExtensions(s) {
		// Enables the listener's instance with its config.
		set(e.name, &routev3.FilterConfig{IsOptional: true})
	}
	var hsts *corev3.HeaderValueOption
	if s.HSTS != "" && tlsListener {
		// RFC 6797 §7.2: never over plain HTTP.
		hsts = &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: "strict-transport-security", Value: s.HSTS},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}
	}
	return pfc, hsts, verr
}

// jwksFetchTimeout bounds a remote JWKS fetch (Envoy's HttpUri.timeout is
// required; 5s is what Envoy Gateway sets).
const jwksFetchTimeout = 5 * time.Second

func emptyMsg() *emptypb.Empty { return &emptypb.Empty{} }

// ipRules is an allow list with exceptions as one RBAC rule set: with an
// allow list, ALLOW when the address is in it and not in the deny list;
// with a deny list only, DENY when it is in it.
func ipRules(ia *ir.IPAccess) (*rbacconfigv3.RBAC, error) {
	anyOf := func(cidrs []string) (*rbacconfigv3.Principal, error) {
		set := &rbacconfigv3.Principal_Set{}
		for _, c := range cidrs {
			r, err := cidrRange(c)
			if err != nil {
				return nil, err
			}
			p := &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_RemoteIp{RemoteIp: r}}
			if ia.Peer {
				p = &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_DirectRemoteIp{DirectRemoteIp: r}}
			}
			set.Ids = append(set.Ids, p)
		}
		return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_OrIds{OrIds: set}}, nil
	}
	anyPerm := []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}}
	deny, err := anyOf(ia.Deny)
	if err != nil {
		return nil, err
	}
	if len(ia.Allow) == 0 {
		return &rbacconfigv3.RBAC{Action: rbacconfigv3.RBAC_DENY, Policies: map[string]*rbacconfigv3.Policy{
			"ip-deny": {Permissions: anyPerm, Principals: []*rbacconfigv3.Principal{deny}},
		}}, nil
	}
	allow, err := anyOf(ia.Allow)
	if err != nil {
		return nil, err
	}
	principal := allow
	if len(ia.Deny) > 0 {
		principal = &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_AndIds{AndIds: &rbacconfigv3.Principal_Set{Ids: []*rbacconfigv3.Principal{
			allow, {Identifier: &rbacconfigv3.Principal_NotId{NotId: deny}},
		}}}}
	}
	return &rbacconfigv3.RBAC{Action: rbacconfigv3.RBAC_ALLOW, Policies: map[string]*rbacconfigv3.Policy{
		"ip-allow": {Permissions: anyPerm, Principals: []*rbacconfigv3.Principal{principal}},
	}}, nil
}

// localRateLimitStatPrefix is the stat prefix of every local_ratelimit
// config (required by Envoy; ksgw's proxy keeps no per-prefix stats).
const localRateLimitStatPrefix = "http_local_rate_limiter"

// localRateLimitHTTPFilter is the listener-level local_ratelimit entry:
// disabled, with no bucket, so that only routes carrying their own
// LocalRateLimit (which enables it, Envoy's HttpFilter.disabled) are
// limited. It is emitted only on listeners that have such a route, so that
// listeners without rate limits keep their exact configuration.
func localRateLimitHTTPFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: localRateLimitFilter, Disabled: true, ConfigType: &hcmv3.HttpFilter_TypedConfig{
		TypedConfig: mustAny(&localrlv3.LocalRateLimit{StatPrefix: localRateLimitStatPrefix}),
	}}
}

// localRateLimit is a route's token bucket, enforced for every request
// (filter_enabled and filter_enforced 100%), answering 429 with the
// X-RateLimit-* headers of draft 03 and Retry-After.
func localRateLimit(rl *ir.LocalRateLimit) *localrlv3.LocalRateLimit {
	all := &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}}
	return &localrlv3.LocalRateLimit{
		StatPrefix: localRateLimitStatPrefix,
		TokenBucket: &typev3.TokenBucket{
			MaxTokens: rl.MaxTokens, TokensPerFill: wrapperspb.UInt32(rl.TokensPerFill), FillInterval: dur(rl.FillInterval),
		},
		FilterEnabled:           all,
		FilterEnforced:          all,
		EnableXRatelimitHeaders: ratelimitcommonv3.XRateLimitHeadersRFCVersion_DRAFT_VERSION_03,
		EnableRetryAfterHeader:  true,
	}
}

// usesLocalRateLimit reports whether a route of l has a local rate limit.
func usesLocalRateLimit(l *ir.Listener) bool {
	for _, vh := range l.VirtualHosts {
		for _, r := range vh.Routes {
			if r.Security != nil && r.Security.LocalRateLimit != nil {
				return true
			}
		}
	}
	return false
}

// ksgw's own HTTP filters: Envoy has no request validation, Rego WAF or
// response masking filter, so their configs travel as TypedStruct
// extensions (xds.type.v3.TypedStruct with a ksgw type_url and the config
// as JSON), the way Envoy carries extension configs it does not compile
// in. The listener has one instance per policy, named
// "<filter>/<ns>/<policy>", holding the policy's config, marked
// is_optional (a real Envoy skips it instead of rejecting the listener)
// and disabled; a route of that policy enables its instance with an
// empty route.v3.FilterConfig{is_optional: true}. One instance per policy
// keeps large configs (Rego modules, schemas) out of every route.
const (
	rateLimitFilterPrefix = "ksgw.filters.http.ratelimit"
	validateFilterPrefix  = "ksgw.filters.http.validate"
	wafFilterPrefix       = "ksgw.filters.http.waf"
	maskFilterPrefix      = "ksgw.filters.http.mask"

	rateLimitTypeURL = "type.ksgw.io/ksgw.filters.http.ratelimit.v1alpha1.RateLimit"
	validateTypeURL  = "type.ksgw.io/ksgw.filters.http.validate.v1alpha1.RequestValidation"
	wafTypeURL       = "type.ksgw.io/ksgw.filters.http.waf.v1alpha1.WAF"
	maskTypeURL      = "type.ksgw.io/ksgw.filters.http.mask.v1alpha1.ResponseMask"
)

// extension is one ksgw filter instance of a listener.
type extension struct {
	name    string
	typeURL string
	config  any // marshalled to JSON
}

// routeExtensions are the ksgw filter instances a route enables, in chain
// order: keyed/global rate limits (after authentication, so that a key can
// be the identity), validation (cheap, refuses early), WAF, then response
// masking.
func routeExtensions(s *ir.RouteSecurity) []extension {
	if s == nil {
		return nil
	}
	var out []extension
	if rl := s.RateLimit; rl != nil {
		type keyPart struct {
			Source     string `json:"source"`
			Name       string `json:"name,omitempty"`
			PrefixBits int    `json:"prefixBits,omitempty"`
		}
		var key []keyPart
		for _, k := range rl.Key {
			key = append(key, keyPart{k.Source, k.Name, k.PrefixBits})
		}
		cfg := map[string]any{
			// The policy names the buckets: those of different policies
			// never mix, in memory or in Redis.
			"prefix": rl.Policy,
			"rules": []map[string]any{{"name": "default", "key": key, "requests": rl.Requests, "per": rl.Per.String(),
				"burst": rl.Burst, "global": rl.RedisAddress != ""}},
		}
		if rl.RedisAddress != "" {
			mode := "open"
			if rl.FailClosed {
				mode = "closed"
			}
			redis := map[string]any{"address": rl.RedisAddress, "failureMode": mode}
			if rl.RedisTimeout > 0 {
				redis["timeout"] = rl.RedisTimeout.String()
			}
			cfg["redis"] = redis
		}
		out = append(out, extension{rateLimitFilterPrefix + "/" + rl.Policy, rateLimitTypeURL, cfg})
	}
	if v := s.Validation; v != nil {
		out = append(out, extension{validateFilterPrefix + "/" + v.Policy, validateTypeURL, struct {
			AllowedMethods  []string `json:"allowedMethods,omitempty"`
			MaxURIBytes     int      `json:"maxURIBytes,omitempty"`
			MaxHeaderBytes  int      `json:"maxHeaderBytes,omitempty"`
			MaxBodyBytes    int64    `json:"maxBodyBytes,omitempty"`
			RequiredHeaders []string `json:"requiredHeaders,omitempty"`
			ContentTypes    []string `json:"contentTypes,omitempty"`
			JSONSchema      string   `json:"jsonSchema,omitempty"`
		}{v.AllowedMethods, v.MaxURIBytes, v.MaxHeaderBytes, v.MaxBodyBytes, v.RequiredHeaders, v.ContentTypes, v.JSONSchema}})
	}
	if w := s.WAF; w != nil {
		type module struct {
			Name   string `json:"name"`
			Source string `json:"source"`
		}
		var mods []module
		for _, m := range w.Modules {
			mods = append(mods, module{m.Name, m.Source})
		}
		cfg := map[string]any{}
		if len(mods) > 0 {
			cfg["rego"] = map[string]any{"modules": mods}
		}
		if c := w.CRS; c != nil {
			// Field names of waf.Config's crs block; zero values are omitted
			// so that the proxy applies its defaults.
			cfg["crs"] = struct {
				ParanoiaLevel    int      `json:"paranoiaLevel,omitempty"`
				AnomalyThreshold int      `json:"anomalyThreshold,omitempty"`
				ExcludeRules     []int    `json:"excludeRules,omitempty"`
				ExcludeTags      []string `json:"excludeTags,omitempty"`
				DetectionOnly    bool     `json:"detectionOnly,omitempty"`
			}{c.ParanoiaLevel, c.AnomalyThreshold, c.ExcludeRules, c.ExcludeTags, c.DetectionOnly}
		}
		out = append(out, extension{wafFilterPrefix + "/" + w.Policy, wafTypeURL, cfg})
	}
	if m := s.Masking; m != nil {
		type rule struct {
			Name        string `json:"Name"`
			Pattern     string `json:"Pattern"`
			Replacement string `json:"Replacement,omitempty"`
		}
		var custom []rule
		for _, r := range m.Custom {
			custom = append(custom, rule{r.Name, r.Pattern, r.Replacement})
		}
		out = append(out, extension{maskFilterPrefix + "/" + m.Policy, maskTypeURL, struct {
			Builtins     []string `json:"builtins,omitempty"`
			Custom       []rule   `json:"custom,omitempty"`
			ContentTypes []string `json:"contentTypes"`
		}{m.Builtins, custom, m.ContentTypes}})
	}
	return out
}

// typedStruct wraps a ksgw config.
func typedStruct(typeURL string, cfg any) (*anypb.Any, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var v structpb.Struct
	if err := protojson.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return anypb.New(&xdstypev3.TypedStruct{TypeUrl: typeURL, Value: &v})
}

// extensionHTTPFilters are the ksgw filter instances of the listener's
// routes, in route order of first use within each kind's chain position.
func extensionHTTPFilters(l *ir.Listener) ([]*hcmv3.HttpFilter, error) {
	seen := map[string]bool{}
	var byKind [4][]*hcmv3.HttpFilter
	for _, vh := range l.VirtualHosts {
		for _, r := range vh.Routes {
			for _, e := range routeExtensions(r.Security) {
				if seen[e.name] {
					continue
				}
				seen[e.name] = true
				a, err := typedStruct(e.typeURL, e.config)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", e.name, err)
				}
				k := map[string]int{rateLimitTypeURL: 0, validateTypeURL: 1, wafTypeURL: 2, maskTypeURL: 3}[e.typeURL]
				byKind[k] = append(byKind[k], &hcmv3.HttpFilter{Name: e.name, IsOptional: true, Disabled: true,
					ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}})
			}
		}
	}
	var out []*hcmv3.HttpFilter
	for _, k := range byKind {
		slices.SortFunc(k, func(a, b *hcmv3.HttpFilter) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, k...)
	}
	return out, nil
}

// requiredClaimsKey is the key, in the route's filter_metadata["ksgw"], of
// the claims jwt_authn's verified tokens must carry. A deviation from
// Envoy, which has no such jwt_authn field and checks claims with an rbac
// filter after jwt_authn matching payload_in_metadata: see
// docs/xds-contract.md. The value is {provider: [{name, values: [...]}]}.
const requiredClaimsKey = "jwt_required_claims"

func withRequiredClaims(md *corev3.Metadata, claims map[string][]ir.JWTRequiredClaim) *corev3.Metadata {
	byProvider := make(map[string]*structpb.Value, len(claims))
	for prov, cs := range claims {
		list := make([]*structpb.Value, 0, len(cs))
		for _, c := range cs {
			fields := map[string]*structpb.Value{"name": structpb.NewStringValue(c.Name)}
			if len(c.Values) > 0 {
				vals := make([]*structpb.Value, len(c.Values))
				for i, v := range c.Values {
					vals[i] = structpb.NewStringValue(v)
				}
				fields["values"] = structpb.NewListValue(&structpb.ListValue{Values: vals})
			}
			list = append(list, structpb.NewStructValue(&structpb.Struct{Fields: fields}))
		}
		byProvider[prov] = structpb.NewListValue(&structpb.ListValue{Values: list})
	}
	if md == nil {
		md = &corev3.Metadata{}
	}
	if md.FilterMetadata == nil {
		md.FilterMetadata = map[string]*structpb.Struct{}
	}
	s := md.FilterMetadata[metadataNamespace]
	if s == nil {
		s = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		md.FilterMetadata[metadataNamespace] = s
	}
	s.Fields[requiredClaimsKey] = structpb.NewStructValue(&structpb.Struct{Fields: byProvider})
	return md
}
