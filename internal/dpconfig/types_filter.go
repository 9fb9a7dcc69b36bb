package dpconfig

import (
	"net/netip"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
)

// Names of the HTTP filters whose configuration the proxy decodes itself.
const (
	JWTAuthnFilterName   = "envoy.filters.http.jwt_authn"
	RBACFilterName       = "envoy.filters.http.rbac"
	APIKeyAuthFilterName = "envoy.filters.http.api_key_auth"
)

// HTTPFilter is one entry of the HCM's http_filters, decoded. The proxy
// runtime builds one filter instance per entry and generation, in this
// order (internal/proxy/filter documents the interface).
type HTTPFilter struct {
	// Name is the filter's name in http_filters; per-route configuration
	// (Route.PerFilter) is keyed by it, as in Envoy.
	Name string
	// TypeURL is the type of typed_config, which selects the
	// implementation as Envoy's extension lookup does; "" when the filter
	// was given by name only (fault, cors, router).
	TypeURL string
	// Config is the decoded listener-level configuration: *JWTAuthn,
	// *RBAC, *APIKeyAuth, or what an extension's parser returned; nil for
	// fault, cors and router, whose listener configs are empty.
	Config any
	// Disabled filters run only on routes whose typed_per_filter_config
	// has an entry for them (Envoy HttpFilter.disabled).
	Disabled bool
}

// FilterParser decodes the configuration of one kind of HTTP filter that
// dpconfig does not know itself (an extension registered by the composition
// root, e.g. the rate limit or WAF filters). It runs at decode time, so an
// error is a NACK naming the field, and it must be pure: no I/O, no clocks.
// The values it returns are immutable and shared by generations.
type FilterParser interface {
	// ParseConfig decodes http_filters[].typed_config.
	ParseConfig(cfg *anypb.Any) (any, error)
	// ParseOverride decodes a route's typed_per_filter_config entry.
	ParseOverride(cfg *anypb.Any) (any, error)
}

// Extensions maps type URLs (of listener-level and of per-route configs)
// to the parser of their filter. A value, never a global: the composition
// root builds it and passes it to DecodersWith.
type Extensions map[string]FilterParser

// FilterDisabled is the per-route configuration of a filter that the route
// turns off (route.v3.FilterConfig disabled: true, or jwt_authn's
// PerRouteConfig disabled: true).
type FilterDisabled struct{}

// FilterEnabled is the per-route entry of a filter that a route enables
// without configuring (route.v3.FilterConfig with an empty config for a
// filter disabled by default).
type FilterEnabled struct{}

// ForwardClientCert is the HCM's forward_client_cert_details.
type ForwardClientCert int

const (
	XFCCSanitize ForwardClientCert = iota // Envoy's default: drop the header
	XFCCForwardOnly
	XFCCAppendForward
	XFCCSanitizeSet
	XFCCAlwaysForwardOnly
)

// SetClientCert is the HCM's set_current_client_cert_details: which parts
// of the client certificate go into X-Forwarded-Client-Cert.
type SetClientCert struct {
	Subject bool
	Cert    bool
	Chain   bool
	DNS     bool
	URI     bool
}

// ProxyProtocol is a decoded envoy.filters.listener.proxy_protocol.
type ProxyProtocol struct {
	// AllowWithout accepts connections that send no PROXY header (Envoy's
	// allow_requests_without_proxy_protocol).
	AllowWithout bool
}

// JWTAuthn is a decoded JwtAuthentication (envoy.filters.http.jwt_authn).
type JWTAuthn struct {
	Providers map[string]*JWTProvider
	// Requirements is requirement_map; routes select one by name.
	Requirements map[string]*JWTRequirement
	// BypassCORSPreflight lets CORS preflights through unauthenticated.
	BypassCORSPreflight bool
}

// JWTProvider is a decoded JwtProvider.
type JWTProvider struct {
	Name      string
	Issuer    string   // "" accepts any iss
	Audiences []string // empty accepts any aud
	// Exactly one of LocalJWKS and Remote is set.
	LocalJWKS []byte
	Remote    *RemoteJWKS
	// Token locations. With none set, Envoy's defaults apply:
	// Authorization: Bearer and the access_token query parameter.
	FromHeaders []JWTHeader
	FromParams  []string
	FromCookies []string
	// Forward keeps the token in the request sent upstream.
	Forward              bool
	ForwardPayloadHeader string
	ClaimToHeaders       []JWTClaimToHeader
	ClockSkew            time.Duration // Envoy's default is 60s
	RequireExpiration    bool
}

// JWTHeader is a token location in a header, with the prefix before the
// token (e.g. "Bearer ").
type JWTHeader struct {
	Name        string // lower case
	ValuePrefix string
}

// JWTClaimToHeader copies a claim of a verified token to a request header.
type JWTClaimToHeader struct {
	Header string // lower case
	Claim  string // top-level claim, or a dotted path
}

// RemoteJWKS fetches a key set over HTTPS (Envoy RemoteJwks).
type RemoteJWKS struct {
	URI           string
	Cluster       string // the cluster Envoy would fetch through; its TLS settings apply
	Timeout       time.Duration
	CacheDuration time.Duration // Envoy's default is 10 minutes
}

// JWTRequirementKind says what a JWTRequirement asks for.
type JWTRequirementKind int

const (
	JWTRequireProvider JWTRequirementKind = iota
	JWTRequireAny
	JWTRequireAll
	JWTAllowMissing
	JWTAllowMissingOrFailed
)

// JWTRequirement is a decoded JwtRequirement.
type JWTRequirement struct {
	Kind      JWTRequirementKind
	Provider  string   // JWTRequireProvider
	Audiences []string // provider_and_audiences: overrides the provider's
	Children  []*JWTRequirement
}

// JWTPerRoute is a decoded jwt_authn PerRouteConfig.
type JWTPerRoute struct {
	Disabled        bool
	RequirementName string
	// RequiredClaims by provider name, from the route's
	// filter_metadata["ksgw"].jwt_required_claims (a ksgw deviation, see
	// docs/xds-contract.md): a token verified by that provider must carry
	// every claim, else 403 insufficient_scope.
	RequiredClaims map[string][]JWTRequiredClaim
}

// JWTRequiredClaim is a claim a verified token must carry. With Values,
// a string claim must equal one of them and an array claim must hold an
// element equal to one of them (Envoy's ListMatcher one_of semantics).
type JWTRequiredClaim struct {
	Name   string // top-level claim, or a dotted path
	Values []string
}

// RBACAction is an RBAC policy action.
type RBACAction int

const (
	RBACAllow RBACAction = iota
	RBACDeny
)

// RBAC is a decoded envoy.filters.http.rbac configuration. Rules nil means
// no enforcement (Envoy: "If absent, no enforcing RBAC policy will be
// applied").
type RBAC struct {
	Rules *RBACRules
}

// RBACRules is a decoded config.rbac.v3.RBAC: with Allow, a request is
// admitted when a policy matches; with Deny, it is refused when one does.
type RBACRules struct {
	Action   RBACAction
	Policies []RBACPolicy // sorted by name
}

// RBACPolicy is a policy whose permissions are "any" (ksgw filters by
// principal only): it matches when one of its principals does.
type RBACPolicy struct {
	Name       string
	Principals []Principal
}

// PrincipalKind is what a Principal matches.
type PrincipalKind int

const (
	PrincipalAny PrincipalKind = iota
	PrincipalAnd
	PrincipalOr
	PrincipalNot
	PrincipalRemoteIP       // the client address after XFF / PROXY protocol
	PrincipalDirectRemoteIP // the physical peer
)

// Principal is a decoded rbac Principal.
type Principal struct {
	Kind     PrincipalKind
	Children []Principal  // And, Or, Not (one child)
	CIDR     netip.Prefix // RemoteIP, DirectRemoteIP; masked
}

// APIKeyAuth is a decoded ApiKeyAuth (listener level) or
// ApiKeyAuthPerRoute (per route; a non-empty field replaces the listener's).
type APIKeyAuth struct {
	Credentials     []APIKeyCredential
	Sources         []APIKeySource
	AllowedClients  []string // per route only
	ForwardHeader   string   // lower case; "" forwards no client id
	HideCredentials bool
	HasForwarding   bool // forwarding was set (per route: replaces the listener's)
}

// APIKeyCredential is one accepted key and the client it identifies. The
// key is a secret: never log it.
type APIKeyCredential struct {
	Key    string
	Client string
}

// APIKeySource is where a key is looked for; exactly one field is set.
type APIKeySource struct {
	Header string // lower case
	Query  string
	Cookie string
}

// LocalRateLimit is a decoded local_ratelimit LocalRateLimit (listener
// level or per route).
type LocalRateLimit struct {
	StatPrefix string
	// Bucket is nil when the config has none: nothing is limited.
	Bucket *TokenBucket
	// Status answers limited requests (Envoy's default 429).
	Status int
	// EnabledPerMillion of requests are checked, EnforcedPerMillion of
	// those over the limit are refused (Envoy's filter_enabled and
	// filter_enforced; unset is 0%).
	EnabledPerMillion  uint32
	EnforcedPerMillion uint32
	// XRateLimitHeaders: enable_x_ratelimit_headers DRAFT_VERSION_03.
	XRateLimitHeaders bool
	// RetryAfter: enable_retry_after_header.
	RetryAfter bool
}

// TokenBucket is Envoy's type.v3.TokenBucket.
type TokenBucket struct {
	MaxTokens     uint32
	TokensPerFill uint32
	FillInterval  time.Duration
}
