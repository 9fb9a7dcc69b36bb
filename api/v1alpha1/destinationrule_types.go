package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// DestinationRule is Istio's DestinationRule (networking.istio.io/v1):
// subsets of a Service's pods by label and the traffic policy towards them,
// plus our extension healthCheck (active health checking, which Istio leaves
// to Kubernetes probes).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ksgw
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.spec.host`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DestinationRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec DestinationRuleSpec `json:"spec"`
	// +optional
	Status DestinationRuleStatus `json:"status,omitempty"`
}

// DestinationRuleSpec describes a DestinationRule.
type DestinationRuleSpec struct {
	// Host is the Service, resolved like Destination.host: a short name is a
	// Service in the rule's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// TrafficPolicy applies to every subset unless the subset overrides it;
	// a subset's policy replaces the top-level one field by field at the
	// level of trafficPolicy's direct children (Istio merge semantics).
	// +optional
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`

	// Subsets by name; Route destinations refer to them.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Subsets []Subset `json:"subsets,omitempty"`
}

// Subset is a named group of the host's pods (Istio Subset).
type Subset struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Labels a pod must carry, in addition to the Service's selector.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
}

// TrafficPolicy is Istio's TrafficPolicy plus healthCheck.
type TrafficPolicy struct {
	// +optional
	LoadBalancer *LoadBalancerSettings `json:"loadBalancer,omitempty"`
	// +optional
	ConnectionPool *ConnectionPoolSettings `json:"connectionPool,omitempty"`
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// TLS originated towards the upstream.
	// +optional
	TLS *ClientTLSSettings `json:"tls,omitempty"`
	// HealthCheck is a ksgw extension: active HTTP health checking (Envoy
	// core.HealthCheck.http_health_check).
	// +optional
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
}

// SimpleLB is a load-balancing algorithm (Istio LoadBalancerSettings.SimpleLB).
// +kubebuilder:validation:Enum=ROUND_ROBIN;LEAST_REQUEST;RANDOM;PASSTHROUGH
type SimpleLB string

// Load-balancing algorithms. Istio's default is LEAST_REQUEST.
const (
	SimpleLBRoundRobin   SimpleLB = "ROUND_ROBIN"
	SimpleLBLeastRequest SimpleLB = "LEAST_REQUEST"
	SimpleLBRandom       SimpleLB = "RANDOM"
	SimpleLBPassthrough  SimpleLB = "PASSTHROUGH"
)

// LoadBalancerSettings chooses an algorithm or consistent hashing, not both.
// +kubebuilder:validation:XValidation:rule="!(has(self.simple) && has(self.consistentHash))",message="simple and consistentHash are mutually exclusive"
type LoadBalancerSettings struct {
	// +optional
	Simple SimpleLB `json:"simple,omitempty"`
	// +optional
	ConsistentHash *ConsistentHashLB `json:"consistentHash,omitempty"`
}

// ConsistentHashLB hashes one request property (Istio ConsistentHashLB:
// hash key and algorithm are each a oneof). Ring hash is the default
// algorithm.
// +kubebuilder:validation:XValidation:rule="(has(self.httpHeaderName) ? 1 : 0) + (has(self.httpCookie) ? 1 : 0) + (has(self.useSourceIp) && self.useSourceIp ? 1 : 0) == 1",message="exactly one of httpHeaderName, httpCookie or useSourceIp must be set"
// +kubebuilder:validation:XValidation:rule="!(has(self.ringHash) && has(self.maglev))",message="ringHash and maglev are mutually exclusive"
type ConsistentHashLB struct {
	// +optional
	HTTPHeaderName string `json:"httpHeaderName,omitempty"`
	// +optional
	HTTPCookie *HTTPCookie `json:"httpCookie,omitempty"`
	// +optional
	UseSourceIP bool `json:"useSourceIp,omitempty"`
	// +optional
	RingHash *RingHash `json:"ringHash,omitempty"`
	// +optional
	Maglev *MagLev `json:"maglev,omitempty"`
}

// HTTPCookie hashes on a cookie; with a ttl the proxy generates the cookie
// when absent (Envoy RouteAction.HashPolicy.Cookie).
type HTTPCookie struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// RingHash is Envoy's ring hash; Istio's default minimum ring size is 1024.
type RingHash struct {
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=8388608
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
}

// MagLev is Envoy's Maglev; the table size must be prime (Envoy default 65537).
type MagLev struct {
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5000011
	TableSize uint64 `json:"tableSize,omitempty"`
}

// ConnectionPoolSettings bound upstream connections (Istio
// ConnectionPoolSettings, Envoy circuit breakers).
type ConnectionPoolSettings struct {
	// +optional
	TCP *TCPSettings `json:"tcp,omitempty"`
	// +optional
	HTTP *HTTPSettings `json:"http,omitempty"`
}

// TCPSettings are Istio ConnectionPoolSettings.TCPSettings.
type TCPSettings struct {
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxConnections int32 `json:"maxConnections,omitempty"`
	// ConnectTimeout defaults to 10s (Istio).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	ConnectTimeout *metav1.Duration `json:"connectTimeout,omitempty"`
}

// H2UpgradePolicy is Istio's ConnectionPoolSettings.HTTPSettings.H2UpgradePolicy.
// +kubebuilder:validation:Enum=DEFAULT;DO_NOT_UPGRADE;UPGRADE
type H2UpgradePolicy string

// H2 upgrade policies.
const (
	H2UpgradeDefault      H2UpgradePolicy = "DEFAULT"
	H2UpgradeDoNotUpgrade H2UpgradePolicy = "DO_NOT_UPGRADE"
	H2UpgradeUpgrade      H2UpgradePolicy = "UPGRADE"
)

// HTTPSettings are Istio ConnectionPoolSettings.HTTPSettings.
type HTTPSettings struct {
	// +optional
	// +kubebuilder:validation:Minimum=1
	HTTP1MaxPendingRequests int32 `json:"http1MaxPendingRequests,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	HTTP2MaxRequests int32 `json:"http2MaxRequests,omitempty"`
	// MaxRequestsPerConnection 0 means unlimited; 1 disables keep-alive.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxRequestsPerConnection int32 `json:"maxRequestsPerConnection,omitempty"`
	// IdleTimeout of an upstream connection; Istio's default is 1h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`
	// +optional
	H2UpgradePolicy H2UpgradePolicy `json:"h2UpgradePolicy,omitempty"`
	// UseClientProtocol speaks upstream the protocol the client used.
	// +optional
	UseClientProtocol bool `json:"useClientProtocol,omitempty"`
}

// OutlierDetection ejects misbehaving hosts (Istio OutlierDetection, Envoy
// passive health checking). Nil counts disable the detector they drive.
type OutlierDetection struct {
	// Consecutive5xxErrors defaults to 5 (Istio); 0 disables it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Consecutive5xxErrors *int32 `json:"consecutive5xxErrors,omitempty"`
	// ConsecutiveGatewayErrors counts 502, 503 and 504 only.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ConsecutiveGatewayErrors *int32 `json:"consecutiveGatewayErrors,omitempty"`
	// Interval between ejection sweeps; default 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	Interval *metav1.Duration `json:"interval,omitempty"`
	// BaseEjectionTime, multiplied by the number of ejections; default 30s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	BaseEjectionTime *metav1.Duration `json:"baseEjectionTime,omitempty"`
	// MaxEjectionPercent of hosts ejected at once; default 10.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxEjectionPercent int32 `json:"maxEjectionPercent,omitempty"`
}

// TLSMode is Istio's ClientTLSSettings.TLSmode (ISTIO_MUTUAL has no meaning
// without a mesh and is not accepted).
// +kubebuilder:validation:Enum=DISABLE;SIMPLE;MUTUAL
type TLSMode string

// Upstream TLS modes.
const (
	TLSModeDisable TLSMode = "DISABLE"
	TLSModeSimple  TLSMode = "SIMPLE"
	TLSModeMutual  TLSMode = "MUTUAL"
)

// ClientTLSSettings originate TLS to the upstream (Istio ClientTLSSettings).
// +kubebuilder:validation:XValidation:rule="self.mode != 'MUTUAL' || has(self.credentialName)",message="MUTUAL requires credentialName"
type ClientTLSSettings struct {
	Mode TLSMode `json:"mode"`
	// CredentialName is a Secret in the rule's namespace holding tls.crt and
	// tls.key (MUTUAL) and/or ca.crt to verify the upstream.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CredentialName string `json:"credentialName,omitempty"`
	// +optional
	SNI string `json:"sni,omitempty"`
	// +optional
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// +optional
	InsecureSkipVerify *bool `json:"insecureSkipVerify,omitempty"`
}

// HealthCheck is active HTTP health checking of the upstream hosts.
type HealthCheck struct {
	// Path requested with GET.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`
	// Interval between checks; default 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Timeout of one check; default 1s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// UnhealthyThreshold consecutive failures mark a host unhealthy; default 3.
	// +optional
	// +kubebuilder:validation:Minimum=1
	UnhealthyThreshold int32 `json:"unhealthyThreshold,omitempty"`
	// HealthyThreshold consecutive successes mark it healthy again; default 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	HealthyThreshold int32 `json:"healthyThreshold,omitempty"`
	// ExpectedStatuses count as healthy; default 200 only (Envoy
	// expected_statuses).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Minimum=100
	// +kubebuilder:validation:items:Maximum=599
	ExpectedStatuses []int32 `json:"expectedStatuses,omitempty"`
}

// DestinationRuleStatus is the observed state of a DestinationRule.
type DestinationRuleStatus struct {
	ObjectStatus `json:",inline"`
}

// DestinationRuleList is a list of DestinationRules.
// +kubebuilder:object:root=true
type DestinationRuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DestinationRule `json:"items"`
}
