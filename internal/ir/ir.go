// Package ir is the proxy- and provider-neutral model of what one gateway's
// proxies must do. The resource translator (internal/translate) produces it
// from Kubernetes-style objects; the xDS translator (internal/xds/translate)
// turns it into Envoy resources. It imports only the standard library so that
// neither side can leak its own concepts into the other.
//
// Every value reachable from a Gateway is immutable once the translator has
// returned it: later stages share these values instead of copying them
// (DESIGN §6: IR deep copies were most of Envoy Gateway's heap under churn).
// All slices are sorted or ordered deterministically by the producer, so equal
// input yields equal IR and equal xDS versions.
package ir

import "time"

// Gateway is the complete configuration of one gateway's proxy instance
// group. Its Name is the xDS node ID "namespace/name".
type Gateway struct {
	Name      string
	Listeners []*Listener // sorted by Port
	Clusters  []*Cluster  // sorted by Name; one per Service port and subset
	Secrets   []*Secret   // sorted by Name; served over SDS
}

// ObjectRef names the user object a piece of IR came from, so that logs,
// access logs and statuses can point back at it.
type ObjectRef struct {
	Kind      string
	Namespace string
	Name      string
}

func (o ObjectRef) String() string { return o.Kind + " " + o.Namespace + "/" + o.Name }

// Listener is one bound port. A plaintext listener and a TLS listener of the
// same gateway are separate Listeners.
type Listener struct {
	Name    string // stable: "http" / "https" plus the port, e.g. "https-8443"
	Address string // bind address, "0.0.0.0" unless overridden
	Port    uint32
	// TLS is nil for plaintext listeners.
	TLS *ListenerTLS
	// HTTPSRedirect answers every request on this (plaintext) listener with a
	// 301 to https instead of routing it.
	HTTPSRedirect bool
	// VirtualHosts in deterministic order (by Name). Domains never overlap
	// between two virtual hosts of one listener: the translator merges them.
	VirtualHosts []*VirtualHost
	// Tracing is nil when the gateway does not trace.
	Tracing *Tracing
	// Security is the gateway's listener-level policy; nil: edge defaults.
	Security *ListenerSecurity
	// JWTProviders are the providers the listener's routes require, sorted
	// by Name (Envoy's jwt_authn holds them at listener level).
	JWTProviders []*JWTProvider
	// JWTRequirements are those of the listener's routes, sorted by Name.
	JWTRequirements []*JWTRequirement
}

// Tracing exports OpenTelemetry spans of a listener's requests over OTLP.
type Tracing struct {
	SamplingPercentage float64 // 0–100
	Protocol           string  // "grpc" or "http"
	// Endpoint is host:port for grpc and a full URL for http.
	Endpoint    string
	ServiceName string
	// Cluster is, for http, the cluster Envoy's OTLP/HTTP exporter sends
	// through (http_uri.cluster); the Gateway's Clusters hold it when the
	// URL names an IP.
	Cluster string
}

// ListenerTLS terminates TLS. Certificates are grouped by secret so that one
// filter chain serves every host that shares a certificate (DESIGN §6,
// Contour #1636).
type ListenerTLS struct {
	Certificates     []*TLSCertificate // sorted by SecretName
	MinVersion       string            // "1.2" or "1.3"; "" means 1.3
	MaxVersion       string            // "" means 1.3
	CipherSuites     []string          // OpenSSL names; empty means library defaults
	ALPN             []string          // e.g. ["h2", "http/1.1"]
	ClientValidation *ClientValidation // nil: no client certificates asked for
}

// TLSCertificate binds a secret to the SNI names it serves.
type TLSCertificate struct {
	SecretName  string   // name of a Secret in Gateway.Secrets
	ServerNames []string // SNI names, wildcards allowed ("*.tenant-a.example.com"); sorted
}

// ClientValidation configures downstream mTLS.
type ClientValidation struct {
	CASecretName    string // a Secret in Gateway.Secrets holding CA certificates
	Optional        bool   // accept connections without a client certificate
	SubjectAltNames []string
}

// VirtualHost groups routes by the Host/:authority header.
type VirtualHost struct {
	Name    string   // stable, derived from the first domain
	Domains []string // "foo.example.com", "*.example.com" (one label), or "*"; sorted
	Routes  []*Route // ordered: the first route whose Match matches wins
}

// Route is one match plus what to do with matching requests.
type Route struct {
	// Name is unique within the gateway and stable across translations, e.g.
	// "route/tenant-a/product-canary/http/0/match/0".
	Name   string
	Source ObjectRef
	Match  Match

	// Exactly one of Forward, Redirect and DirectResponse is set.
	Forward        *ForwardAction
	Redirect       *Redirect
	DirectResponse *DirectResponse

	RequestHeaders  HeaderMutation
	ResponseHeaders HeaderMutation
	Rewrite         *Rewrite
	Timeout         time.Duration // 0: no route timeout (Envoy's default of 15s is not applied)
	Retry           *RetryPolicy
	Mirrors         []*Mirror
	Fault           *Fault
	CORS            *CORSPolicy
	// Security is the route's effective SecurityPolicy; nil: none.
	Security *RouteSecurity
}

// StringMatchKind says how StringMatch.Value is compared.
type StringMatchKind int

const (
	MatchExact StringMatchKind = iota
	MatchPrefix
	MatchRegex // RE2 syntax, anchored on both ends as in Envoy's safe_regex
	MatchPresent
)

// StringMatch compares a string value.
type StringMatch struct {
	Kind       StringMatchKind
	Value      string
	IgnoreCase bool
}

// PathMatchKind says how the request path is compared.
type PathMatchKind int

const (
	// PathPrefix is a plain string prefix: "/foo" matches "/foobar"
	// (Istio's uri.prefix).
	PathPrefix PathMatchKind = iota
	// PathExact compares the whole path (without query).
	PathExact
	// PathSegmentPrefix matches whole path segments with any trailing slash
	// ignored: "/foo" matches "/foo", "/foo/" and "/foo/bar" but not
	// "/foobar" (Kubernetes Ingress pathType Prefix; Envoy's
	// path_separated_prefix).
	PathSegmentPrefix
	// PathRegex matches the whole path against an RE2 expression.
	PathRegex
)

// PathMatch matches the request path, excluding the query string.
type PathMatch struct {
	Kind       PathMatchKind
	Value      string
	IgnoreCase bool
}

// HeaderMatch matches one header. Method, authority and scheme are matched
// as the pseudo-headers ":method", ":authority" and ":scheme", as Envoy does.
type HeaderMatch struct {
	Name   string // lower case
	Match  StringMatch
	Invert bool // Istio withoutHeaders: the request must NOT match
}

// QueryParamMatch matches one query parameter.
type QueryParamMatch struct {
	Name  string
	Match StringMatch
}

// Match is a conjunction: every field must match.
type Match struct {
	Path        PathMatch
	Headers     []HeaderMatch     // sorted by Name, then kind
	QueryParams []QueryParamMatch // sorted by Name
}

// ForwardAction proxies to one or more weighted backends.
type ForwardAction struct {
	// Backends with relative weights. A single backend has weight 1 when the
	// user gave none. Weight 0 backends are kept (they receive nothing) so
	// that a canary can be staged at 0%.
	Backends []*WeightedBackend
	// HashPolicy, when set, selects consistent-hash keys for ring hash and
	// maglev clusters (Envoy puts it on the route, not the cluster).
	HashPolicy *HashPolicy
}

// WeightedBackend is one destination of a split.
type WeightedBackend struct {
	Cluster         string // a Cluster.Name of the same Gateway
	Weight          uint32
	RequestHeaders  HeaderMutation
	ResponseHeaders HeaderMutation
}

// HeaderMutation edits headers in the order remove, set, add.
type HeaderMutation struct {
	Set    []HeaderValue // sorted by Name
	Add    []HeaderValue // sorted by Name
	Remove []string      // sorted, lower case
}

// IsZero reports whether the mutation does nothing.
func (h HeaderMutation) IsZero() bool {
	return len(h.Set) == 0 && len(h.Add) == 0 && len(h.Remove) == 0
}

// HeaderValue is a header name (lower case) and value.
type HeaderValue struct {
	Name  string
	Value string
}

// Redirect answers with a 3xx instead of forwarding.
type Redirect struct {
	Scheme     string // "" keeps the request's
	Host       string // "" keeps the request's
	Port       uint32 // 0 keeps the request's
	Path       string // "" keeps the request's; replaces the whole path
	StatusCode int    // 301, 302, 303, 307, 308; 0 means 301
}

// DirectResponse answers from the proxy.
type DirectResponse struct {
	Status int
	Body   string
}

// Rewrite changes the request before it is forwarded.
type Rewrite struct {
	// PathPrefix replaces the part of the path matched by a prefix match
	// (Istio rewrite.uri). Only valid with Prefix or SegmentPrefix matches;
	// with an exact match the whole path is replaced.
	PathPrefix string
	// Regex, when set, rewrites the path with RE2 Pattern → Substitution
	// (Istio uriRegexRewrite; Envoy regex_rewrite).
	Regex *RegexRewrite
	// Host replaces the Host/:authority header sent upstream.
	Host string
}

// RegexRewrite is an RE2 pattern and its substitution (\1 style groups).
type RegexRewrite struct {
	Pattern      string
	Substitution string
}

// RetryPolicy follows Envoy's retry_policy.
type RetryPolicy struct {
	On            []string // Envoy retry_on names: "5xx", "gateway-error", "connect-failure", "reset", "retriable-4xx", ...; sorted
	Attempts      uint32   // retries after the first try
	PerTryTimeout time.Duration
	// RetriableStatusCodes are the codes retried under "retriable-status-codes"
	// (Envoy retry_policy.retriable_status_codes); sorted. Istio retries 503
	// by default, and numeric entries of an Istio retryOn land here.
	// Added by internal/translate.
	RetriableStatusCodes []uint32
}

// Mirror sends a copy of matching requests to another cluster and ignores
// the answer.
type Mirror struct {
	Cluster string
	Percent float64 // 0 < Percent <= 100
}

// Fault injects delays or aborts (Istio HTTPFaultInjection, Envoy
// envoy.filters.http.fault).
type Fault struct {
	DelayPercent float64
	Delay        time.Duration
	AbortPercent float64
	AbortStatus  int
}

// CORSPolicy follows Envoy's CorsPolicy.
type CORSPolicy struct {
	AllowOrigins     []StringMatch
	AllowMethods     []string
	AllowHeaders     []string
	ExposeHeaders    []string
	MaxAge           time.Duration
	AllowCredentials bool
}

// Protocol is the protocol spoken to a cluster's endpoints.
type Protocol int

const (
	HTTP1 Protocol = iota
	HTTP2          // h2c, or h2 over upstream TLS; needed for gRPC
)

// Cluster is one Service port, optionally narrowed to a subset. Every route
// that sends to the same Service port and subset shares it (DESIGN §6: one
// cluster per rule multiplied health checks in Envoy Gateway).
type Cluster struct {
	Name     string    // "namespace/service/port[/subset]"
	Source   ObjectRef // the Service
	Protocol Protocol

	Endpoints []Endpoint // sorted by Address, Port
	// NoEndpointsReason says why Endpoints is empty, for status and for the
	// 503 the proxy answers (e.g. `subset "v2" selects no ready endpoint`).
	NoEndpointsReason string

	LoadBalancer   LoadBalancer
	ConnectTimeout time.Duration // 0: proxy default
	Limits         ConnectionLimits
	HealthCheck    *HealthCheck
	Outlier        *OutlierDetection
	TLS            *UpstreamTLS
}

// Endpoint is one backend address.
type Endpoint struct {
	Address string // IP literal
	Port    uint32
	// Ready is false for endpoints a cluster would not route to (not ready,
	// terminating); they are emitted with health status UNHEALTHY so that the
	// proxy knows them but sends them nothing.
	Ready bool
	Zone  string
}

// LBPolicy names a load-balancing algorithm.
type LBPolicy int

const (
	RoundRobin LBPolicy = iota
	LeastRequest
	Random
	RingHash
	Maglev
)

// LoadBalancer configures endpoint selection.
type LoadBalancer struct {
	Policy       LBPolicy
	RingMinSize  uint64 // ring hash
	MaglevTable  uint64 // maglev, prime
	HashPolicies []HashPolicy
}

// HashPolicy selects the consistent-hash key. Exactly one field is set.
type HashPolicy struct {
	Header   string
	Cookie   *HashCookie
	SourceIP bool
}

// HashCookie hashes on a cookie, generating it when TTL > 0 and absent.
type HashCookie struct {
	Name string
	Path string
	TTL  time.Duration
}

// ConnectionLimits are Envoy's circuit-breaker thresholds plus per-connection
// limits. Zero means the proxy default.
type ConnectionLimits struct {
	MaxConnections           uint32
	MaxPendingRequests       uint32
	MaxRequests              uint32
	MaxRequestsPerConnection uint32
	IdleTimeout              time.Duration
}

// HealthCheck is an active HTTP health check.
type HealthCheck struct {
	Path               string
	Interval           time.Duration
	Timeout            time.Duration
	UnhealthyThreshold uint32
	HealthyThreshold   uint32
	ExpectedStatuses   []StatusRange // half-open [Start, End) as in Envoy
}

// StatusRange is a half-open range of HTTP status codes.
type StatusRange struct{ Start, End int }

// OutlierDetection is passive ejection of failing endpoints.
type OutlierDetection struct {
	Consecutive5xx          uint32
	ConsecutiveGatewayError uint32
	Interval                time.Duration
	BaseEjectionTime        time.Duration
	MaxEjectionPercent      uint32
}

// UpstreamTLS originates TLS to the endpoints.
type UpstreamTLS struct {
	SNI                string
	CASecretName       string // "" with InsecureSkipVerify only
	ClientSecretName   string // MUTUAL
	SubjectAltNames    []string
	InsecureSkipVerify bool
}

// Secret is TLS material served over SDS.
type Secret struct {
	Name string // "namespace/secret-name"
	// Exactly one of the pairs is set: a certificate with its key, or CA
	// certificates for validation.
	CertificateChain []byte
	PrivateKey       []byte
	CACertificates   []byte
}
