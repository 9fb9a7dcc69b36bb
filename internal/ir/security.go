package ir

import "time"

// ListenerSecurity is what a gateway's SecurityPolicy sets on its
// listeners: the client-address trust model and client-certificate
// forwarding. Nil fields keep ksgw's edge defaults (the peer is the client,
// X-Forwarded-Client-Cert is dropped).
type ListenerSecurity struct {
	XFFNumTrustedHops uint32
	XFFTrustedCIDRs   []string // CIDRs, in policy order
	ProxyProtocol     bool
	// ProxyProtocolOptional also accepts connections without a header.
	ProxyProtocolOptional bool
	ClientCert            *ClientCertHeader
}

// ClientCertHeader is Envoy's forward_client_cert_details plus
// set_current_client_cert_details.
type ClientCertHeader struct {
	Mode                           string // Sanitize, ForwardOnly, AppendForward, SanitizeSet, AlwaysForwardOnly
	Subject, Cert, Chain, DNS, URI bool
}

// RouteSecurity is the effective SecurityPolicy of one route: its
// Route-level policy's features, each falling back to the Gateway-level
// policy's. Shared by every route the same policies cover.
type RouteSecurity struct {
	IPAccess *IPAccess
	JWT      *JWTRequirement
	APIKey   *APIKeyAuth
	// HSTS is the Strict-Transport-Security value for HTTPS responses.
	HSTS string
	// LocalRateLimit is the route's token bucket, local to each proxy
	// (Envoy's local_ratelimit per route); nil: unlimited.
	LocalRateLimit *LocalRateLimit
	// Validation, WAF and Masking are ksgw's own filters (TypedStruct
	// extensions, docs/xds-contract.md); nil: off. Each is shared by all
	// routes of its policy and names it, since the listener carries one
	// filter instance per policy.
	RateLimit  *RateLimit
	Validation *Validation
	WAF        *WAF
	Masking    *Masking
}

// IPAccess is an allow and deny list of CIDRs; deny wins.
type IPAccess struct {
	Allow []string
	Deny  []string
	// Peer checks the physical peer instead of the trusted client address.
	Peer bool
}

// JWTRequirement asks for a token of one of Providers (names of
// Listener.JWTProviders). Name identifies the requirement in the
// listener's requirement map; routes with equal requirements share it.
type JWTRequirement struct {
	Name         string
	Providers    []string // sorted
	AllowMissing bool
	// RequiredClaims by provider name: claims a token verified by that
	// provider must carry (only providers that have some).
	RequiredClaims map[string][]JWTRequiredClaim
	// Disabled bypasses JWT on the route (a Route-level policy turning off
	// its Gateway's requirement).
	Disabled bool
}

// JWTProvider is one token issuer, named uniquely within the gateway
// ("namespace/policy/provider").
type JWTProvider struct {
	Name      string
	Issuer    string
	Audiences []string
	// Exactly one of LocalJWKS and RemoteJWKS is set.
	LocalJWKS  string
	RemoteJWKS *RemoteJWKS

	FromHeaders          []JWTHeader
	FromParams           []string
	FromCookies          []string
	Forward              bool
	ForwardPayloadHeader string
	ClaimToHeaders       []JWTClaimToHeader
	RequiredClaims       []JWTRequiredClaim
	ClockSkewSeconds     uint32 // 0: Envoy's default (60)
}

// RemoteJWKS is fetched over HTTPS through Cluster (a Gateway cluster
// whose TLS settings carry the CA).
type RemoteJWKS struct {
	URI           string
	Cluster       string
	CacheDuration time.Duration
}

// JWTHeader is a token location in a header.
type JWTHeader struct {
	Name        string
	ValuePrefix string
}

// JWTRequiredClaim is a claim a verified token must carry; with Values,
// equal to one of them (for an array claim: one element equal to one).
type JWTRequiredClaim struct {
	Name   string // top-level claim, or a dotted path
	Values []string
}

// JWTClaimToHeader copies a claim into a request header.
type JWTClaimToHeader struct {
	Header string
	Claim  string
}

// APIKeyAuth accepts requests carrying one of Credentials.
type APIKeyAuth struct {
	Credentials    []APIKeyCredential // sorted by Client
	Header         string             // lower case; "" when only Query is used
	Query          string
	ClientIDHeader string
	ForwardKey     bool
}

// APIKeyCredential is a key (secret: never logged) and its client id.
type APIKeyCredential struct {
	Client string
	Key    string
}

// LocalRateLimit is a token bucket shared by all requests of a route on one
// proxy: MaxTokens at most, TokensPerFill added every FillInterval (Envoy's
// TokenBucket).
type LocalRateLimit struct {
	MaxTokens     uint32
	TokensPerFill uint32
	FillInterval  time.Duration
}

// Validation is a policy's request validation rules (zero values off).
type Validation struct {
	Policy          string // "ns/name"
	AllowedMethods  []string
	MaxURIBytes     int
	MaxHeaderBytes  int
	MaxBodyBytes    int64
	RequiredHeaders []string // lower case
	ContentTypes    []string
	JSONSchema      string
}

// WAF is a policy's Rego modules, resolved (ConfigMaps read) and known to
// compile.
type WAF struct {
	Policy  string
	Modules []RegoModule // may be empty when CRS is set
	CRS     *CRS
}

// CRS is a policy's OWASP Core Rule Set settings, validated; zero values
// mean the proxy's defaults (paranoia level 1, anomaly threshold 5).
type CRS struct {
	ParanoiaLevel    int
	AnomalyThreshold int
	ExcludeRules     []int
	ExcludeTags      []string
	DetectionOnly    bool
}

// RegoModule is one Rego source file.
type RegoModule struct {
	Name   string
	Source string
}

// Masking is a policy's masking rules for response bodies.
type Masking struct {
	Policy       string
	Builtins     []string
	Custom       []MaskRule
	ContentTypes []string
}

// MaskRule is a custom masking rule (an RE2 pattern).
type MaskRule struct {
	Name        string
	Pattern     string
	Replacement string
}

// RateLimit is a keyed or global limit, enforced by ksgw's rate limit
// filter (a TypedStruct extension): one bucket per distinct key.
type RateLimit struct {
	Policy       string
	Key          []RateLimitKeyPart
	Requests     uint32
	Per          time.Duration
	Burst        uint32
	RedisAddress string // "": local to each replica
	FailClosed   bool
	RedisTimeout time.Duration // 0: the filter's default
}

// RateLimitKeyPart is one component of a rate-limit key.
type RateLimitKeyPart struct {
	Source     string // gateway, route, clientIP, header, jwtClaim, apiKey
	Name       string
	PrefixBits int
}
