package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SecurityPolicy attaches the five layers of defence (DESIGN §1.11) to a
// Gateway or a Route of its own namespace. Each feature is optional; an unset
// feature is off. Several feature structs are deliberately small: later
// issues extend them, adding optional fields only.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ksgw
// +kubebuilder:printcolumn:name="Target Kind",type=string,JSONPath=`.spec.targetRef.kind`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SecurityPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SecurityPolicySpec `json:"spec"`
	// +optional
	Status SecurityPolicyStatus `json:"status,omitempty"`
}

// SecurityPolicySpec describes a SecurityPolicy.
type SecurityPolicySpec struct {
	// TargetRef is the Gateway or Route, in the policy's namespace, that the
	// policy applies to. A Route-level policy overrides a Gateway-level one
	// feature by feature.
	TargetRef PolicyTargetReference `json:"targetRef"`

	// IPAccess: network layer.
	// +optional
	IPAccess *IPAccess `json:"ipAccess,omitempty"`
	// JWT: application layer.
	// +optional
	JWT *JWT `json:"jwt,omitempty"`
	// APIKey: application layer.
	// +optional
	APIKey *APIKey `json:"apiKey,omitempty"`
	// RateLimit: behaviour layer.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// Validation: behaviour layer.
	// +optional
	Validation *RequestValidation `json:"validation,omitempty"`
	// WAF rules: Rego modules and/or the OWASP Core Rule Set.
	// +optional
	WAF *WAF `json:"waf,omitempty"`
	// Masking: data layer.
	// +optional
	Masking *Masking `json:"masking,omitempty"`

	// ClientAddress decides which address is the client's, for IP access
	// lists, logs and X-Forwarded-For (Envoy's xff_num_trusted_hops,
	// xff_trusted_cidrs and the proxy_protocol listener filter). Gateway
	// targets only: it configures the gateway's listeners.
	// +optional
	ClientAddress *ClientAddress `json:"clientAddress,omitempty"`
	// ClientCertHeader forwards the verified client certificate of mTLS
	// connections in X-Forwarded-Client-Cert (Envoy's
	// forward_client_cert_details). Gateway targets only.
	// +optional
	ClientCertHeader *ClientCertHeader `json:"clientCertHeader,omitempty"`
	// HSTS adds Strict-Transport-Security to HTTPS responses (RFC 6797;
	// never on plain HTTP, where browsers ignore it).
	// +optional
	HSTS *HSTS `json:"hsts,omitempty"`
}

// ClientAddress is the X-Forwarded-For and PROXY protocol trust model. By
// default ksgw is the edge: the connection's peer is the client and
// X-Forwarded-For is not trusted.
// +kubebuilder:validation:XValidation:rule="!(has(self.xffNumTrustedHops) && self.xffNumTrustedHops > 0 && has(self.xffTrustedCIDRs) && size(self.xffTrustedCIDRs) > 0)",message="xffNumTrustedHops and xffTrustedCIDRs are mutually exclusive"
type ClientAddress struct {
	// XFFNumTrustedHops trusts that many proxies in front: the client is
	// the address that many entries from the right of X-Forwarded-For.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16
	XFFNumTrustedHops int32 `json:"xffNumTrustedHops,omitempty"`
	// XFFTrustedCIDRs trusts proxies by address: when the peer is in these
	// ranges, the client is the right-most X-Forwarded-For entry outside
	// them.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	XFFTrustedCIDRs []string `json:"xffTrustedCIDRs,omitempty"`
	// ProxyProtocol reads a PROXY protocol v1/v2 header on every
	// connection; its source address is the client's.
	// +optional
	ProxyProtocol *ProxyProtocol `json:"proxyProtocol,omitempty"`
}

// ProxyProtocol configures PROXY protocol on the gateway's listeners.
type ProxyProtocol struct {
	// Optional also accepts connections without a header (mixed traffic
	// while a load balancer is being switched over).
	// +optional
	Optional bool `json:"optional,omitempty"`
}

// ClientCertHeader selects what X-Forwarded-Client-Cert carries.
type ClientCertHeader struct {
	// Mode follows Envoy: Sanitize (drop the header, the default),
	// ForwardOnly, AppendForward, SanitizeSet, AlwaysForwardOnly.
	// +kubebuilder:validation:Enum=Sanitize;ForwardOnly;AppendForward;SanitizeSet;AlwaysForwardOnly
	Mode string `json:"mode"`
	// Parts of the client certificate set by AppendForward and SanitizeSet
	// (the SHA-256 hash is always set).
	// +optional
	Subject bool `json:"subject,omitempty"`
	// +optional
	Cert bool `json:"cert,omitempty"`
	// +optional
	Chain bool `json:"chain,omitempty"`
	// +optional
	DNS bool `json:"dns,omitempty"`
	// +optional
	URI bool `json:"uri,omitempty"`
}

// HSTS is a Strict-Transport-Security header.
type HSTS struct {
	// +kubebuilder:validation:Minimum=0
	MaxAgeSeconds int64 `json:"maxAgeSeconds"`
	// +optional
	IncludeSubDomains bool `json:"includeSubDomains,omitempty"`
	// +optional
	Preload bool `json:"preload,omitempty"`
}

// PolicyTargetReference names the object a policy attaches to.
type PolicyTargetReference struct {
	// +kubebuilder:validation:Enum=Gateway;Route
	Kind string `json:"kind"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// IPAccess filters clients by source address: a client matching deny is
// refused; otherwise, when allow is non-empty, only clients matching allow are
// admitted. The address is the connection's peer, or the client address
// derived from X-Forwarded-For / PROXY protocol when the gateway trusts them.
// +kubebuilder:validation:XValidation:rule="(has(self.allow) && size(self.allow) > 0) || (has(self.deny) && size(self.deny) > 0)",message="allow or deny must list at least one CIDR"
type IPAccess struct {
	// Allow lists CIDRs (a bare address means /32 or /128).
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=43
	Allow []string `json:"allow,omitempty"`
	// Deny lists CIDRs; deny wins over allow.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=43
	Deny []string `json:"deny,omitempty"`
	// Source is the address checked: Client (default; the client address
	// under the gateway's clientAddress trust rules, Envoy remote_ip) or
	// Peer (the connection's physical peer, Envoy direct_remote_ip).
	// +optional
	// +kubebuilder:validation:Enum=Client;Peer
	Source string `json:"source,omitempty"`
}

// JWT authenticates requests by JSON Web Token (Envoy jwt_authn): a token
// of one of the providers is required.
type JWT struct {
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Providers []JWTProvider `json:"providers,omitempty"`
	// Optional admits requests without a token (a token that is present
	// must still verify): Envoy's allow_missing.
	// +optional
	Optional bool `json:"optional,omitempty"`
	// Disabled turns JWT off for the target, e.g. a health-check Route under
	// a Gateway-level policy.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
}

// JWTProvider is one token issuer.
type JWTProvider struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// +optional
	Audiences []string `json:"audiences,omitempty"`
	// JWKSURI fetches the key set remotely.
	// +optional
	JWKSURI string `json:"jwksUri,omitempty"`
	// JWKSSecretRef reads the key set from a Secret key.
	// +optional
	JWKSSecretRef *SecretKeyReference `json:"jwksSecretRef,omitempty"`
	// JWKS is an inline key set (JSON).
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	JWKS string `json:"jwks,omitempty"`
	// JWKSCacheDuration keeps a remote key set this long; default 10m.
	// +optional
	JWKSCacheDuration *metav1.Duration `json:"jwksCacheDuration,omitempty"`
	// JWKSCASecretName is a Secret (ca.crt) holding the CAs that the
	// remote JWKS server's certificate must chain to.
	// +optional
	JWKSCASecretName string `json:"jwksCASecretName,omitempty"`
	// FromHeaders, FromParams and FromCookies say where the token is;
	// default: Authorization: Bearer, then the access_token parameter.
	// +optional
	FromHeaders []JWTHeader `json:"fromHeaders,omitempty"`
	// +optional
	FromParams []string `json:"fromParams,omitempty"`
	// +optional
	FromCookies []string `json:"fromCookies,omitempty"`
	// Forward keeps the token in the request sent upstream.
	// +optional
	Forward bool `json:"forward,omitempty"`
	// ForwardPayloadHeader receives the token's payload (base64url).
	// +optional
	ForwardPayloadHeader string `json:"forwardPayloadHeader,omitempty"`
	// ClaimToHeaders copies claims of the verified token to headers.
	// +optional
	ClaimToHeaders []JWTClaimToHeader `json:"claimToHeaders,omitempty"`
	// RequiredClaims must all hold for a verified token of this provider,
	// checked after signature, issuer and audiences; otherwise the request
	// is refused with 403 and WWW-Authenticate: Bearer
	// error="insufficient_scope" (RFC 6750 §3.1).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	RequiredClaims []JWTRequiredClaim `json:"requiredClaims,omitempty"`
	// ClockSkewSeconds tolerated on exp and nbf; default 60.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=600
	ClockSkewSeconds *int32 `json:"clockSkewSeconds,omitempty"`
}

// JWTHeader is a header carrying the token, after ValuePrefix.
type JWTHeader struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	ValuePrefix string `json:"valuePrefix,omitempty"`
}

// JWTRequiredClaim is a claim the token must carry. Without Values any
// value will do; with Values a string claim must equal one of them, and an
// array claim (e.g. roles) must hold at least one element equal to one of
// them (as Envoy's RBAC metadata matchers treat list values). A
// space-separated scope string is not split.
type JWTRequiredClaim struct {
	// Name of the claim, or a dotted path into nested claims
	// (e.g. realm_access.roles).
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Values []string `json:"values,omitempty"`
}

// JWTClaimToHeader copies one claim to one request header.
type JWTClaimToHeader struct {
	// +kubebuilder:validation:MinLength=1
	Header string `json:"header"`
	// Claim name, or a dotted path into nested claims.
	// +kubebuilder:validation:MinLength=1
	Claim string `json:"claim"`
}

// APIKey authenticates requests by a key compared against a Secret's values.
type APIKey struct {
	// SecretName holds the accepted keys, one per data entry (the entry name
	// identifies the client in logs; the value is never logged).
	// +kubebuilder:validation:MinLength=1
	SecretName string `json:"secretName"`
	// Header carrying the key; default "x-api-key".
	// +optional
	Header string `json:"header,omitempty"`
	// QueryParam carrying the key, as an alternative to the header.
	// +optional
	QueryParam string `json:"queryParam,omitempty"`
	// ClientIDHeader receives the matching entry's name upstream.
	// +optional
	ClientIDHeader string `json:"clientIDHeader,omitempty"`
	// ForwardKey keeps the key in the request sent upstream; by default it
	// is removed.
	// +optional
	ForwardKey bool `json:"forwardKey,omitempty"`
}

// RateLimit limits requests per client (token bucket, local to each proxy
// instance).
type RateLimit struct {
	// Requests allowed per unit.
	// +kubebuilder:validation:Minimum=1
	Requests int32 `json:"requests"`
	// +kubebuilder:validation:Enum=Second;Minute;Hour
	Unit string `json:"unit"`
	// Burst above the steady rate; default equals requests.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Burst int32 `json:"burst,omitempty"`
	// Key gives each client its own bucket, keyed on these parts in order;
	// empty: one bucket for the whole route (Envoy's local_ratelimit).
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Key []RateLimitKeyPart `json:"key,omitempty"`
	// Global shares the buckets of every replica of the gateway through
	// Redis, so the limit holds for the gateway as a whole.
	// +optional
	Global *GlobalRateLimit `json:"global,omitempty"`
}

// RateLimitKeyPart is one component of a rate-limit key.
type RateLimitKeyPart struct {
	// +kubebuilder:validation:Enum=Gateway;Route;ClientIP;Header;JWTClaim;APIKey
	Source string `json:"source"`
	// Name is the header name or the claim (a dotted path for nested
	// claims); required for Header and JWTClaim.
	// +optional
	Name string `json:"name,omitempty"`
	// PrefixBits groups client addresses (ClientIP only), e.g. 64 for IPv6.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	PrefixBits int32 `json:"prefixBits,omitempty"`
}

// GlobalRateLimit is where shared buckets live.
type GlobalRateLimit struct {
	// RedisAddress is host:port of the Redis server all replicas share.
	// +kubebuilder:validation:MinLength=1
	RedisAddress string `json:"redisAddress"`
	// FailureMode is what happens while Redis is unreachable: Open admits
	// requests (default, Envoy's failure_mode_deny false), Closed refuses
	// them with 500.
	// +optional
	// +kubebuilder:validation:Enum=Open;Closed
	FailureMode string `json:"failureMode,omitempty"`
	// Timeout bounds one Redis round trip (default 50ms); a request never
	// waits longer for the limiter.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// RequestValidation rejects malformed requests before they are forwarded.
type RequestValidation struct {
	// MaxBodyBytes rejects larger bodies with 413; 0 means no limit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
	// RequiredHeaders must be present, else 400.
	// +optional
	RequiredHeaders []string `json:"requiredHeaders,omitempty"`
	// AllowedMethods refuses other methods with 400; empty allows all.
	// +optional
	AllowedMethods []string `json:"allowedMethods,omitempty"`
	// MaxURIBytes refuses longer request targets (path and query) with 400.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxURIBytes int32 `json:"maxURIBytes,omitempty"`
	// MaxHeaderBytes refuses larger request heads with 400.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxHeaderBytes int32 `json:"maxHeaderBytes,omitempty"`
	// ContentTypes are the media types a request with a body may have
	// ("application/json", "text/*"); others get 415.
	// +optional
	ContentTypes []string `json:"contentTypes,omitempty"`
	// JSONSchema validates JSON request bodies (400 on failure), inline.
	// +optional
	// +kubebuilder:validation:MaxLength=262144
	JSONSchema string `json:"jsonSchema,omitempty"`
}

// WAF evaluates Rego modules and/or the OWASP Core Rule Set against each
// request. A Rego module declares `deny[msg]` rules (DESIGN §1.11, e.g.
// package kubesphere.gateway.waf); any non-empty deny set refuses the
// request with 403. Both may be set: a request passes only if both pass.
// +kubebuilder:validation:XValidation:rule="has(self.rego) || has(self.crs)",message="at least one of rego or crs must be set"
type WAF struct {
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Rego []RegoModule `json:"rego,omitempty"`
	// CRS enables the OWASP Core Rule Set v4 (through Coraza): anomaly
	// scoring, a request whose inbound score reaches the threshold gets 403.
	// +optional
	CRS *CRS `json:"crs,omitempty"`
}

// CRS configures the OWASP Core Rule Set for one policy.
type CRS struct {
	// ParanoiaLevel 1–4 (CRS blocking_paranoia_level): higher levels enable
	// more rules and more false positives. Default 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4
	ParanoiaLevel int32 `json:"paranoiaLevel,omitempty"`
	// AnomalyThreshold is the inbound anomaly score that blocks. Default 5,
	// CRS' default: one critical match.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	AnomalyThreshold int32 `json:"anomalyThreshold,omitempty"`
	// ExcludeRules removes CRS rules by id (SecRuleRemoveById), to silence a
	// false positive on this policy's targets.
	// +optional
	// +kubebuilder:validation:MaxItems=512
	// +kubebuilder:validation:items:Minimum=1
	// +listType=set
	ExcludeRules []int32 `json:"excludeRules,omitempty"`
	// ExcludeTags removes CRS rules by tag (SecRuleRemoveByTag), e.g.
	// "attack-protocol".
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[^"\r\n]+$`
	// +listType=set
	ExcludeTags []string `json:"excludeTags,omitempty"`
	// DetectionOnly evaluates the rules and logs matches without blocking
	// (SecRuleEngine DetectionOnly), to try a rule set before enforcing it.
	// +optional
	DetectionOnly bool `json:"detectionOnly,omitempty"`
}

// RegoModule is one Rego source, inline or from a ConfigMap key.
// +kubebuilder:validation:XValidation:rule="has(self.inline) != has(self.configMapRef)",message="exactly one of inline or configMapRef must be set"
type RegoModule struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:MaxLength=262144
	Inline string `json:"inline,omitempty"`
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`
}

// Masking rewrites sensitive data in responses and logs.
type Masking struct {
	// Builtins names built-in rules: passwords, bearer tokens, API keys,
	// card numbers, phone numbers, national IDs, emails (see internal/mask).
	// +optional
	Builtins []string `json:"builtins,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Rules []MaskingRule `json:"rules,omitempty"`
	// ContentTypes are the response media types whose bodies are masked
	// ("application/json", "text/*"), streaming; default both of those.
	// +optional
	ContentTypes []string `json:"contentTypes,omitempty"`
}

// MaskingRule replaces every RE2 match of pattern with replacement.
type MaskingRule struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Pattern string `json:"pattern"`
	// Replacement defaults to "***".
	// +optional
	Replacement string `json:"replacement,omitempty"`
}

// SecurityPolicyStatus is the observed state of a SecurityPolicy.
type SecurityPolicyStatus struct {
	ObjectStatus `json:",inline"`
}

// SecurityPolicyList is a list of SecurityPolicies.
// +kubebuilder:object:root=true
type SecurityPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecurityPolicy `json:"items"`
}
