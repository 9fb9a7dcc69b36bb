// Package dpconfig is the data plane's immutable, validated model of the xDS
// it was sent. Decoders (decode_*.go) turn each Envoy resource into one of
// these types or into an error that becomes a NACK; nothing downstream of
// this package ever sees a protobuf. Regular expressions and other derived
// values are compiled here, once per resource version, never per request.
//
// Values are immutable once returned by a decoder and shared freely between
// generations of the proxy runtime.
package dpconfig

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"regexp"
	"time"
)

// Snapshot is the set of resources in force for one proxy, as last ACKed per
// type. Maps are keyed by resource name and never mutated after construction.
type Snapshot struct {
	Listeners map[string]*Listener
	Routes    map[string]*RouteConfig
	Clusters  map[string]*Cluster
	Endpoints map[string]*ClusterLoadAssignment
	Secrets   map[string]*Secret
	// Versions holds the version_info last accepted per type URL.
	Versions map[string]string
}

// Listener is a decoded envoy.config.listener.v3.Listener.
type Listener struct {
	Name         string
	Address      netip.AddrPort
	FilterChains []*FilterChain // in xDS order; SNI selection picks the most specific
	// ProxyProtocol, when set, reads a PROXY v1/v2 header before anything
	// else on each connection (envoy.filters.listener.proxy_protocol).
	ProxyProtocol *ProxyProtocol
}

// FilterChain is one filter chain: an optional TLS context plus the HTTP
// connection manager.
type FilterChain struct {
	ServerNames []string       // filter_chain_match.server_names; empty matches any
	TLS         *DownstreamTLS // nil: plaintext
	HCM         *HTTPConnectionManager
}

// DownstreamTLS is a decoded DownstreamTlsContext. Secrets are referenced by
// name and resolved against Snapshot.Secrets when a generation is built, so
// that a rotated Secret takes effect without a listener change.
type DownstreamTLS struct {
	CertificateSecret string
	ValidationSecret  string // "" when clients are not verified
	RequireClientCert bool
	MinVersion        uint16 // crypto/tls constants
	MaxVersion        uint16
	CipherSuites      []uint16
	ALPN              []string
	SubjectAltNames   []string
}

// HTTPConnectionManager is the decoded HCM typed config.
type HTTPConnectionManager struct {
	StatPrefix             string
	RouteConfigName        string
	UseRemoteAddress       bool
	XFFNumTrustedHops      uint32
	GenerateRequestID      bool
	WebSocket              bool // upgrade_configs has "websocket"
	IdleTimeout            time.Duration
	RequestHeadersTimeout  time.Duration
	StreamIdleTimeout      time.Duration
	MaxRequestHeadersBytes int
	// HTTPFilters in order; the last is the router.
	HTTPFilters []HTTPFilter

	// ForwardClientCert and SetClientCert decide X-Forwarded-Client-Cert
	// (Envoy forward_client_cert_details, set_current_client_cert_details).
	ForwardClientCert ForwardClientCert
	SetClientCert     SetClientCert
	// XFFTrustedCIDRs, when non-empty, replaces XFFNumTrustedHops: the
	// client address is the first X-Forwarded-For entry, from the right,
	// that is not in these ranges (Envoy's xff original_ip_detection
	// extension with xff_trusted_cidrs).
	XFFTrustedCIDRs []netip.Prefix

	// RouteConfig is the inline route_config, when the HCM has one
	// instead of rds; RouteConfigName is then its name.
	RouteConfig *RouteConfig
	// SkippedHTTPFilters are optional (is_optional) filters the proxy
	// does not implement and, as Envoy, skips.
	SkippedHTTPFilters []string
	// Tracing is nil when the HCM has no tracing block (tracing off).
	Tracing *Tracing
}

// RouteConfig is a decoded RouteConfiguration.
type RouteConfig struct {
	Name         string
	VirtualHosts []*VirtualHost
}

// VirtualHost is a decoded VirtualHost.
type VirtualHost struct {
	Name    string
	Domains []string // as sent: exact, "*.suffix", "prefix.*" or "*"
	Routes  []*Route // first match wins
}

// PathKind is the kind of a route's path matcher.
type PathKind int

const (
	PathPrefix          PathKind = iota // match.prefix
	PathExact                           // match.path
	PathRegex                           // match.safe_regex
	PathSeparatedPrefix                 // match.path_separated_prefix
)

// RouteMatch is a decoded RouteMatch; all parts must match.
type RouteMatch struct {
	PathKind      PathKind
	Path          string         // prefix or exact path
	Regex         *regexp.Regexp // PathRegex, anchored
	CaseSensitive bool           // default true, as in Envoy
	Headers       []HeaderMatcher
	QueryParams   []QueryParamMatcher
}

// StringMatchKind is the kind of a StringMatcher.
type StringMatchKind int

const (
	StringExact StringMatchKind = iota
	StringPrefix
	StringSuffix
	StringContains
	StringRegex
)

// StringMatcher is a decoded envoy.type.matcher.v3.StringMatcher.
type StringMatcher struct {
	Kind       StringMatchKind
	Value      string
	Regex      *regexp.Regexp // StringRegex, anchored
	IgnoreCase bool
}

// HeaderMatcher is a decoded HeaderMatcher. Exactly one of Present and
// String is meaningful.
type HeaderMatcher struct {
	Name    string // lower case; pseudo-headers ":method", ":authority", ":scheme", ":path"
	Present bool
	String  *StringMatcher
	Invert  bool
	// TreatMissingAsEmpty matches an absent header as "" (Envoy's
	// treat_missing_header_as_empty; Istio sets it for withoutHeaders).
	TreatMissingAsEmpty bool
}

// QueryParamMatcher is a decoded QueryParameterMatcher.
type QueryParamMatcher struct {
	Name    string
	Present bool
	String  *StringMatcher
}

// Route is a decoded Route. Exactly one of Forward, Redirect and
// DirectResponse is set.
type Route struct {
	Name   string
	Source string // metadata ksgw.source, e.g. "Route tenant-a/product-canary"
	Match  RouteMatch

	Forward        *RouteAction
	Redirect       *Redirect
	DirectResponse *DirectResponse

	RequestHeaders  HeaderMutation
	ResponseHeaders HeaderMutation
	Fault           *Fault // typed_per_filter_config envoy.filters.http.fault
	CORS            *CORS  // typed_per_filter_config envoy.filters.http.cors
	// PerFilter holds the other typed_per_filter_config entries, keyed by
	// filter name: *JWTPerRoute, *RBAC, *APIKeyAuth, FilterDisabled,
	// FilterEnabled, or an extension's parsed override.
	PerFilter map[string]any
}

// HeaderMutation applies removals, then each HeaderValueOption in order.
type HeaderMutation struct {
	Remove []string // lower case
	Add    []HeaderValueOption
}

// AppendAction is Envoy's HeaderValueOption.append_action.
type AppendAction int

const (
	AppendIfExistsOrAdd AppendAction = iota
	AddIfAbsent
	OverwriteIfExistsOrAdd
	OverwriteIfExists
)

// HeaderValueOption is one header to add or set.
type HeaderValueOption struct {
	Name   string // lower case
	Value  string
	Action AppendAction
}

// WeightedCluster is one destination of a route.
type WeightedCluster struct {
	Name            string
	Weight          uint32
	RequestHeaders  HeaderMutation
	ResponseHeaders HeaderMutation
}

// RouteAction is a decoded RouteAction.
type RouteAction struct {
	Clusters      []WeightedCluster // one entry for action.cluster
	TotalWeight   uint32            // sum of weights; 0 means nothing can be picked (503)
	Timeout       time.Duration     // 0: no timeout
	Retry         *RetryPolicy
	Mirrors       []Mirror
	PrefixRewrite string
	RegexRewrite  *RegexRewrite
	HostRewrite   string
	HashPolicies  []HashPolicy
}

// RetryOn is a bit set of Envoy retry_on conditions.
type RetryOn uint32

const (
	Retry5xx RetryOn = 1 << iota
	RetryGatewayError
	RetryConnectFailure
	RetryReset
	RetryRetriable4xx
	RetryRefusedStream
	RetryRetriableStatusCodes
)

// RetryPolicy is a decoded RetryPolicy.
type RetryPolicy struct {
	On                   RetryOn
	NumRetries           uint32
	PerTryTimeout        time.Duration
	RetriableStatusCodes []int
}

// Mirror is a decoded RequestMirrorPolicy.
type Mirror struct {
	Cluster    string
	PerMillion uint32 // fraction of requests mirrored, out of 1,000,000
}

// RegexRewrite is a decoded RegexMatchAndSubstitute.
type RegexRewrite struct {
	Regex        *regexp.Regexp
	Substitution string // Envoy \1-style references, already converted to Go's ${1}
}

// HashPolicy is one decoded RouteAction.HashPolicy.
type HashPolicy struct {
	Header   string
	Cookie   *HashCookie
	SourceIP bool
	Terminal bool
}

// HashCookie is a cookie hash policy.
type HashCookie struct {
	Name string
	Path string
	TTL  time.Duration
}

// Redirect is a decoded RedirectAction.
type Redirect struct {
	HTTPSRedirect bool
	Scheme        string
	Host          string
	Port          uint32
	Path          string
	PrefixRewrite string
	StripQuery    bool
	StatusCode    int

	// RegexRewrite is redirect.regex_rewrite, applied to the path without
	// its query. At most one of Path, PrefixRewrite and RegexRewrite is set.
	RegexRewrite *RegexRewrite
	// PrefixMatch and WholePathMatched say which part of the request path
	// PrefixRewrite replaces, copied from the route's match so that a
	// Redirect is self-contained: the route's prefix (prefix and
	// path_separated_prefix routes), or the whole path (exact and regex
	// routes, as Envoy's RegexRouteEntryImpl and PathRouteEntryImpl).
	PrefixMatch      string
	WholePathMatched bool
}

// DirectResponse is a decoded DirectResponseAction.
type DirectResponse struct {
	Status int
	Body   string
}

// Fault is a decoded HTTPFault.
type Fault struct {
	Delay           time.Duration
	DelayPerMillion uint32
	AbortStatus     int
	AbortPerMillion uint32
}

// CORS is a decoded CorsPolicy.
type CORS struct {
	AllowOrigins     []StringMatcher
	AllowMethods     string // as sent, comma separated
	AllowHeaders     string
	ExposeHeaders    string
	MaxAge           string
	AllowCredentials bool
}

// Protocol is what a cluster's endpoints speak.
type Protocol int

const (
	HTTP1 Protocol = iota
	HTTP2
)

// LBPolicy is a cluster's load-balancing policy.
type LBPolicy int

const (
	RoundRobin LBPolicy = iota
	LeastRequest
	Random
	RingHash
	Maglev
)

// Cluster is a decoded envoy.config.cluster.v3.Cluster.
type Cluster struct {
	Name              string
	Source            string
	NoEndpointsReason string
	Protocol          Protocol
	ConnectTimeout    time.Duration
	LBPolicy          LBPolicy
	RingMinSize       uint64
	MaglevTableSize   uint64

	MaxConnections           uint32 // 0: Envoy default 1024
	MaxPendingRequests       uint32 // 0: Envoy default 1024
	MaxRequests              uint32 // 0: Envoy default 1024
	MaxRequestsPerConnection uint32 // 0: unlimited
	IdleTimeout              time.Duration

	HealthCheck *HealthCheck
	Outlier     *OutlierDetection
	TLS         *UpstreamTLS
}

// HealthCheck is a decoded HTTP health check.
type HealthCheck struct {
	Path               string
	Host               string
	Interval           time.Duration
	Timeout            time.Duration
	UnhealthyThreshold uint32
	HealthyThreshold   uint32
	ExpectedStatuses   [][2]int // half-open [start, end); empty means [200, 201)
}

// OutlierDetection is a decoded OutlierDetection.
type OutlierDetection struct {
	Consecutive5xx            uint32
	ConsecutiveGatewayFailure uint32
	Interval                  time.Duration
	BaseEjectionTime          time.Duration
	MaxEjectionPercent        uint32
}

// UpstreamTLS is a decoded UpstreamTlsContext; secrets are resolved by name
// against Snapshot.Secrets.
type UpstreamTLS struct {
	SNI               string
	CertificateSecret string
	ValidationSecret  string
	SubjectAltNames   []string
	ALPN              []string
}

// ClusterLoadAssignment is a decoded EDS resource.
type ClusterLoadAssignment struct {
	ClusterName string
	Endpoints   []Endpoint
}

// Endpoint is one upstream address.
type Endpoint struct {
	Address netip.AddrPort
	Healthy bool // health_status HEALTHY or UNKNOWN
	Zone    string
	Weight  uint32 // load_balancing_weight; 0 means 1
}

// Secret is a decoded SDS secret, parsed and ready to use.
type Secret struct {
	Name        string
	Certificate *tls.Certificate // tls_certificate
	CAPool      *x509.CertPool   // validation_context.trusted_ca
	// RawCA is kept to compare secrets for change detection.
	RawCA []byte
}
