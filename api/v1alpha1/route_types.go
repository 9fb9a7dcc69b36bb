package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Route is the http section of Istio's VirtualService (networking.istio.io/v1)
// with the same JSON names and semantics: rules are ordered and the first
// match wins; entries of `match` are OR'd and the fields inside one entry are
// AND'd; `route` splits traffic by relative weight.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ksgw
// +kubebuilder:printcolumn:name="Hosts",type=string,JSONPath=`.spec.hosts`
// +kubebuilder:printcolumn:name="Gateways",type=string,JSONPath=`.spec.gateways`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Route struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec RouteSpec `json:"spec"`
	// +optional
	Status RouteStatus `json:"status,omitempty"`
}

// RouteSpec describes a Route.
type RouteSpec struct {
	// Hosts the rules apply to. Empty means the hosts of every Gateway the
	// Route binds to (DESIGN §4); each host must fall inside a bound
	// Gateway's hosts.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Hosts []string `json:"hosts,omitempty"`

	// Gateways to bind to, as "name" (the Route's namespace) or
	// "namespace/name". Empty binds to the Gateways of the Route's namespace,
	// or to the cluster gateway when the namespace has none. Tenancy allows
	// only the Route's own namespace and the cluster gateway's.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=507
	Gateways []string `json:"gateways,omitempty"`

	// HTTP rules, evaluated in order; the first whose match succeeds wins.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	HTTP []HTTPRoute `json:"http,omitempty"`
}

// HTTPRoute is one rule (Istio HTTPRoute). At most one of route, redirect and
// directResponse may be set; a rule needs one of them.
// +kubebuilder:validation:XValidation:rule="(has(self.route) ? 1 : 0) + (has(self.redirect) ? 1 : 0) + (has(self.directResponse) ? 1 : 0) == 1",message="exactly one of route, redirect or directResponse must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.rewrite) || has(self.route)",message="rewrite requires route"
type HTTPRoute struct {
	// Name is used in logs, stats and status messages.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// Match conditions, OR'd. Empty matches every request.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Match []HTTPMatchRequest `json:"match,omitempty"`

	// Route forwards to one or more destinations.
	//
	// Weight semantics follow Istio: with a single destination its weight is
	// ignored (an omitted weight means 100) and it receives all traffic. With
	// several, weights are relative proportions (they should, but need not,
	// sum to 100: the translator normalises), and a destination whose weight
	// is 0 or omitted receives no traffic.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Route []HTTPRouteDestination `json:"route,omitempty"`

	// Redirect answers with a 3xx instead of forwarding.
	// +optional
	Redirect *HTTPRedirect `json:"redirect,omitempty"`

	// DirectResponse answers with a fixed response instead of forwarding.
	// +optional
	DirectResponse *HTTPDirectResponse `json:"directResponse,omitempty"`

	// Rewrite changes the path or authority before forwarding.
	// +optional
	Rewrite *HTTPRewrite `json:"rewrite,omitempty"`

	// Timeout of the whole request, retries included (Istio: disabled when
	// unset, Envoy route timeout 0). A duration string such as "5s".
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Retries policy.
	// +optional
	Retries *HTTPRetry `json:"retries,omitempty"`

	// Fault injection, applied before forwarding.
	// +optional
	Fault *HTTPFaultInjection `json:"fault,omitempty"`

	// Mirror sends a copy of each request to this destination and discards
	// the answer (Envoy request_mirror_policies).
	// +optional
	Mirror *Destination `json:"mirror,omitempty"`

	// MirrorPercentage of requests to mirror; Istio's default is 100 when
	// mirror is set.
	// +optional
	MirrorPercentage *Percent `json:"mirrorPercentage,omitempty"`

	// CorsPolicy answers preflight requests and decorates responses.
	// +optional
	CorsPolicy *CorsPolicy `json:"corsPolicy,omitempty"`

	// Headers manipulated for every destination of the rule.
	// +optional
	Headers *Headers `json:"headers,omitempty"`
}

// HTTPMatchRequest is one set of conditions, AND'd (Istio HTTPMatchRequest).
type HTTPMatchRequest struct {
	// Name is appended to the rule's name in logs and stats.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// URI matches the request path (without the query string).
	// +optional
	URI *StringMatch `json:"uri,omitempty"`

	// Scheme matches the request scheme ("http", "https").
	// +optional
	Scheme *StringMatch `json:"scheme,omitempty"`

	// Method matches the HTTP method.
	// +optional
	Method *StringMatch `json:"method,omitempty"`

	// Authority matches the Host/:authority header.
	// +optional
	Authority *StringMatch `json:"authority,omitempty"`

	// Headers that must match; keys are lower-case header names.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Headers map[string]StringMatch `json:"headers,omitempty"`

	// QueryParams that must match. Istio does not support prefix here; the
	// translator reports it as invalid.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`

	// WithoutHeaders must not match (negation of headers).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	WithoutHeaders map[string]StringMatch `json:"withoutHeaders,omitempty"`

	// IgnoreURICase makes uri matching case-insensitive.
	// +optional
	IgnoreURICase bool `json:"ignoreUriCase,omitempty"`

	// Port restricts the match to requests received on this gateway port.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port uint32 `json:"port,omitempty"`
}

// StringMatch matches a string in exactly one way (Istio StringMatch oneof).
// Regex is RE2 syntax, matched against the whole value (Envoy safe_regex).
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=1
// +kubebuilder:validation:XValidation:rule="(has(self.exact) ? 1 : 0) + (has(self.prefix) ? 1 : 0) + (has(self.regex) ? 1 : 0) == 1",message="exactly one of exact, prefix or regex must be set"
type StringMatch struct {
	// +optional
	Exact *string `json:"exact,omitempty"`
	// +optional
	Prefix *string `json:"prefix,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Regex *string `json:"regex,omitempty"`
}

// HTTPRouteDestination is one weighted destination (Istio
// HTTPRouteDestination).
type HTTPRouteDestination struct {
	// Destination to forward to.
	Destination Destination `json:"destination"`

	// Weight is a relative proportion; see HTTPRoute.Route for the semantics
	// of an omitted or zero weight.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Weight int32 `json:"weight,omitempty"`

	// Headers manipulated only when this destination is chosen.
	// +optional
	Headers *Headers `json:"headers,omitempty"`
}

// Destination is a Service, optionally a subset and a port (Istio
// Destination). A short host resolves to a Service in the Route's namespace
// (DESIGN §4); a subset is defined by a DestinationRule for the same host.
type Destination struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Subset string `json:"subset,omitempty"`
	// Port of the Service; may be omitted when the Service has exactly one.
	// +optional
	Port *PortSelector `json:"port,omitempty"`
}

// PortSelector selects a Service port by number.
type PortSelector struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Number uint32 `json:"number"`
}

// HTTPRedirect answers with a redirect (Istio HTTPRedirect). Unset parts
// keep the request's value.
type HTTPRedirect struct {
	// +optional
	URI string `json:"uri,omitempty"`
	// +optional
	Authority string `json:"authority,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port uint32 `json:"port,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=http;https
	Scheme string `json:"scheme,omitempty"`
	// RedirectCode defaults to 301 (Istio).
	// +optional
	// +kubebuilder:validation:Enum=301;302;303;307;308
	RedirectCode uint32 `json:"redirectCode,omitempty"`
}

// HTTPDirectResponse answers with a fixed status and body (Istio
// HTTPDirectResponse).
type HTTPDirectResponse struct {
	// +kubebuilder:validation:Minimum=200
	// +kubebuilder:validation:Maximum=599
	Status uint32 `json:"status"`
	// +optional
	Body *HTTPBody `json:"body,omitempty"`
}

// HTTPBody is a response body given as text or as base64 bytes (Istio
// HTTPBody oneof).
// +kubebuilder:validation:XValidation:rule="!(has(self.string) && has(self.bytes))",message="at most one of string or bytes may be set"
type HTTPBody struct {
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	String *string `json:"string,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=5464
	Bytes []byte `json:"bytes,omitempty"`
}

// HTTPRewrite rewrites the request before forwarding (Istio HTTPRewrite).
// +kubebuilder:validation:XValidation:rule="!(has(self.uri) && has(self.uriRegexRewrite))",message="uri and uriRegexRewrite are mutually exclusive"
type HTTPRewrite struct {
	// URI replaces the part of the path matched by the rule's uri prefix or
	// exact match (Envoy prefix_rewrite).
	// +optional
	URI string `json:"uri,omitempty"`
	// +optional
	Authority string `json:"authority,omitempty"`
	// +optional
	URIRegexRewrite *RegexRewrite `json:"uriRegexRewrite,omitempty"`
}

// RegexRewrite is Envoy's regex_rewrite: RE2 match, substitution with \1
// style groups.
type RegexRewrite struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Match   string `json:"match"`
	Rewrite string `json:"rewrite"`
}

// HTTPRetry is a retry policy (Istio HTTPRetry).
type HTTPRetry struct {
	// Attempts is the number of retries, not counting the first try.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Attempts int32 `json:"attempts"`
	// PerTryTimeout defaults to the route timeout.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	PerTryTimeout *metav1.Duration `json:"perTryTimeout,omitempty"`
	// RetryOn is a comma-separated list of Envoy retry conditions
	// (x-envoy-retry-on: "5xx,gateway-error,connect-failure,reset,...") and
	// gRPC status names. Istio's default is
	// "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes".
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]+(,[a-z0-9-]+)*$`
	RetryOn string `json:"retryOn,omitempty"`
	// RetryRemoteLocalities lets retries go to other localities.
	// +optional
	RetryRemoteLocalities *bool `json:"retryRemoteLocalities,omitempty"`
}

// HTTPFaultInjection delays or aborts requests (Istio HTTPFaultInjection).
// +kubebuilder:validation:XValidation:rule="has(self.delay) || has(self.abort)",message="one of delay or abort must be set"
type HTTPFaultInjection struct {
	// +optional
	Delay *FaultDelay `json:"delay,omitempty"`
	// +optional
	Abort *FaultAbort `json:"abort,omitempty"`
}

// FaultDelay delays a percentage of requests.
type FaultDelay struct {
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	FixedDelay metav1.Duration `json:"fixedDelay"`
	// Percentage of requests delayed; all when unset.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`
}

// FaultAbort aborts a percentage of requests with a status.
type FaultAbort struct {
	// +kubebuilder:validation:Minimum=200
	// +kubebuilder:validation:Maximum=599
	HTTPStatus int32 `json:"httpStatus"`
	// Percentage of requests aborted; all when unset.
	// +optional
	Percentage *Percent `json:"percentage,omitempty"`
}

// CorsPolicy is Istio's CorsPolicy, enforced by Envoy's CORS filter.
type CorsPolicy struct {
	// +optional
	// +kubebuilder:validation:MaxItems=64
	AllowOrigins []StringMatch `json:"allowOrigins,omitempty"`
	// +optional
	AllowMethods []string `json:"allowMethods,omitempty"`
	// +optional
	AllowHeaders []string `json:"allowHeaders,omitempty"`
	// +optional
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// MaxAge of a preflight answer in the client's cache.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
	// +optional
	AllowCredentials *bool `json:"allowCredentials,omitempty"`
}

// Headers manipulates request and response headers (Istio Headers).
type Headers struct {
	// +optional
	Request *HeaderOperations `json:"request,omitempty"`
	// +optional
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations edit headers. Envoy applies removals before additions
// (HeaderParser: remove-before-add), so a name in both remove and set ends up
// set; set is OVERWRITE_IF_EXISTS_OR_ADD and add is APPEND_IF_EXISTS_OR_ADD
// (Envoy HeaderValueOption.append_action).
type HeaderOperations struct {
	// Set overwrites the header.
	// +optional
	Set map[string]string `json:"set,omitempty"`
	// Add appends a value, keeping existing ones.
	// +optional
	Add map[string]string `json:"add,omitempty"`
	// Remove deletes the header.
	// +optional
	Remove []string `json:"remove,omitempty"`
}

// RouteStatus is the observed state of a Route.
type RouteStatus struct {
	ObjectStatus `json:",inline"`
}

// RouteList is a list of Routes.
// +kubebuilder:object:root=true
type RouteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Route `json:"items"`
}
