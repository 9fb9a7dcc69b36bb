package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults of GatewaySpec.Ports (DESIGN §4). Unprivileged so that a
// standalone gateway runs without CAP_NET_BIND_SERVICE.
const (
	DefaultHTTPPort  int32 = 8080
	DefaultHTTPSPort int32 = 8443
)

// Gateway is a tenant's entry point: the hosts it serves, its TLS material and
// how its proxy instances are deployed. A Gateway in the controller's own
// namespace is the cluster gateway and serves every namespace without one.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ksgw
// +kubebuilder:printcolumn:name="Hosts",type=string,JSONPath=`.spec.hosts`
// +kubebuilder:printcolumn:name="TLS Secret",type=string,JSONPath=`.spec.tls.secretName`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Gateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec GatewaySpec `json:"spec"`
	// +optional
	Status GatewayStatus `json:"status,omitempty"`
}

// GatewaySpec describes a Gateway.
type GatewaySpec struct {
	// Hosts the gateway serves. Entries are DNS names; a leading "*." matches
	// exactly one label (Kubernetes Ingress wildcard semantics). A Route's
	// hosts must fall inside these.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Hosts []string `json:"hosts,omitempty"`

	// TLS terminates HTTPS on ports.https. Without it the gateway serves
	// plain HTTP only.
	// +optional
	TLS *GatewayTLS `json:"tls,omitempty"`

	// Ports the proxy listens on.
	// +optional
	// +kubebuilder:default={}
	Ports GatewayPorts `json:"ports,omitempty"`

	// Replicas of the proxy Deployment. Nil leaves the choice to the
	// controller (one replica, or the HPA's).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// Service exposing the proxy instances (DESIGN §1.13: NodePort plus an
	// external load balancer for HA).
	// +optional
	Service GatewayService `json:"service,omitempty"`

	// IngressClassName is the IngressClass whose Ingresses this gateway
	// serves; one class per gateway (DESIGN §2).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	IngressClassName string `json:"ingressClassName,omitempty"`

	// HTTPSRedirect answers plain-HTTP requests with a 301 to https
	// (Istio Server.tls.httpsRedirect).
	// +optional
	HTTPSRedirect bool `json:"httpsRedirect,omitempty"`

	// Resources of the proxy container (DESIGN §1.12 recommends
	// requests.cpu 500m, limits.memory 1Gi).
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Tracing sends OpenTelemetry traces of the gateway's requests to an
	// OTLP collector (Jaeger ingests OTLP natively). Without it the proxy
	// records no spans but still passes trace headers through.
	// +optional
	Tracing *GatewayTracing `json:"tracing,omitempty"`

	// AntiAffinity spreads the proxy replicas across nodes (topology key
	// kubernetes.io/hostname). Unset means Preferred: replicas share a node
	// only when there is no other. Required never co-locates two replicas;
	// rolling updates then replace a pod before starting its successor
	// (maxSurge 0), since a surge pod would find no free node.
	// +optional
	AntiAffinity AntiAffinity `json:"antiAffinity,omitempty"`

	// NodeSelector restricts the proxy pods to matching nodes (e.g. edge
	// nodes that receive the load balancer's traffic).
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the proxy pods.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// PodDisruptionBudget of the proxy pods. Unset means maxUnavailable 1:
	// node drains evict one proxy at a time without ever blocking on a
	// single-replica gateway.
	// +optional
	PodDisruptionBudget *GatewayPodDisruptionBudget `json:"podDisruptionBudget,omitempty"`
}

// AntiAffinity is how strictly proxy replicas avoid sharing a node.
// +kubebuilder:validation:Enum=Preferred;Required
type AntiAffinity string

// AntiAffinity values.
const (
	AntiAffinityPreferred AntiAffinity = "Preferred"
	AntiAffinityRequired  AntiAffinity = "Required"
)

// GatewayPodDisruptionBudget bounds voluntary disruptions of the proxies
// (policy/v1 PodDisruptionBudget: one of the two).
// +kubebuilder:validation:XValidation:rule="!(has(self.minAvailable) && has(self.maxUnavailable))",message="set at most one of minAvailable and maxUnavailable"
type GatewayPodDisruptionBudget struct {
	// MinAvailable is a number of pods or a percentage ("50%").
	// +optional
	// +kubebuilder:validation:XIntOrString
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// MaxUnavailable is a number of pods or a percentage ("50%").
	// +optional
	// +kubebuilder:validation:XIntOrString
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// TracingProtocol is the OTLP transport.
// +kubebuilder:validation:Enum=grpc;http
type TracingProtocol string

// OTLP transports.
const (
	TracingProtocolGRPC TracingProtocol = "grpc"
	TracingProtocolHTTP TracingProtocol = "http"
)

// DefaultTracingSamplingPercentage is Istio's default
// randomSamplingPercentage (1%).
const DefaultTracingSamplingPercentage = 1.0

// GatewayTracing configures OpenTelemetry tracing of a Gateway's requests.
// It becomes Envoy's HTTP connection manager tracing block
// (random_sampling plus the envoy.tracers.opentelemetry provider).
type GatewayTracing struct {
	// RandomSamplingPercentage of requests that start a new trace, 0–100,
	// as Istio's Telemetry field of that name; default 1. A caller that
	// sends traceparent or B3 with a sampling decision keeps its decision.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	RandomSamplingPercentage *float64 `json:"randomSamplingPercentage,omitempty"`

	// Protocol is the OTLP transport: grpc (default, port 4317) or http
	// (protobuf over HTTP, port 4318).
	// +optional
	Protocol TracingProtocol `json:"protocol,omitempty"`

	// Endpoint of the collector: host:port for grpc; for http, host:port
	// (the path /v1/traces is added) or a full http(s) URL.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	Endpoint string `json:"endpoint"`

	// ServiceName of the spans; defaults to the Gateway's namespace/name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceName string `json:"serviceName,omitempty"`
}

// TLSVersion is a TLS protocol version.
// +kubebuilder:validation:Enum="1.2";"1.3"
type TLSVersion string

// TLS versions accepted by GatewayTLS. Older versions are refused by design
// (DESIGN §1.11: network layer, TLS 1.3).
const (
	TLSVersion12 TLSVersion = "1.2"
	TLSVersion13 TLSVersion = "1.3"
)

// GatewayTLS is the server-side TLS configuration of a Gateway.
// +kubebuilder:validation:XValidation:rule="!has(self.minVersion) || !has(self.maxVersion) || self.minVersion <= self.maxVersion",message="minVersion must not exceed maxVersion"
type GatewayTLS struct {
	// SecretName is a kubernetes.io/tls Secret in the Gateway's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`

	// MinVersion defaults to "1.3" when unset (the translator's default, so
	// that a later policy change does not rewrite stored objects); "1.2" only
	// when asked. Quote it in YAML: an unquoted 1.2 is a number.
	// +optional
	MinVersion TLSVersion `json:"minVersion,omitempty"`

	// MaxVersion defaults to "1.3" when unset.
	// +optional
	MaxVersion TLSVersion `json:"maxVersion,omitempty"`

	// CipherSuites in Envoy's names (e.g. ECDHE-ECDSA-AES128-GCM-SHA256);
	// they apply to TLS 1.2 only, TLS 1.3 suites are not configurable
	// (Envoy TlsParameters.cipher_suites).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	CipherSuites []string `json:"cipherSuites,omitempty"`

	// ClientValidation enables mutual TLS (DESIGN §1.11: transport layer).
	// +optional
	ClientValidation *ClientValidation `json:"clientValidation,omitempty"`
}

// ClientValidation verifies client certificates.
type ClientValidation struct {
	// CASecretName is a Secret in the Gateway's namespace holding the CA
	// bundle under ca.crt.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CASecretName string `json:"caSecretName"`

	// Optional requests but does not require a client certificate; a
	// presented certificate is still verified (Envoy
	// trust_chain_verification with require_client_certificate=false).
	// +optional
	Optional bool `json:"optional,omitempty"`

	// SubjectAltNames, when set, restricts accepted client certificates to
	// those carrying one of these SANs (exact match).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
}

// GatewayPorts are the proxy's listener ports.
type GatewayPorts struct {
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	HTTP int32 `json:"http,omitempty"`
	// +optional
	// +kubebuilder:default=8443
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	HTTPS int32 `json:"https,omitempty"`
}

// GatewayService shapes the Service created for a Gateway's proxies. The
// rules mirror the API server's Service validation so that a mistake is
// reported on the Gateway instead of failing later, at apply time.
// +kubebuilder:validation:XValidation:rule="(has(self.type) && self.type != 'ClusterIP') || !has(self.nodePorts) || (!has(self.nodePorts.http) && !has(self.nodePorts.https))",message="nodePorts require type NodePort or LoadBalancer"
// +kubebuilder:validation:XValidation:rule="(has(self.type) && self.type != 'ClusterIP') || !has(self.externalTrafficPolicy)",message="externalTrafficPolicy requires type NodePort or LoadBalancer"
type GatewayService struct {
	// Type of the Service; unset means ClusterIP.
	// +optional
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`

	// NodePorts pins node ports for NodePort and LoadBalancer services
	// (DESIGN §1.13: 30080/30443). Unset ports are allocated by the cluster.
	// The range is the API server's --service-node-port-range, so only the
	// port range is checked here.
	// +optional
	NodePorts GatewayNodePorts `json:"nodePorts,omitempty"`

	// ExternalTrafficPolicy "Local" preserves the client source IP
	// (Kubernetes Service spec).
	// +optional
	// +kubebuilder:validation:Enum=Cluster;Local
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`

	// Annotations of the Service, e.g. a cloud load balancer's settings.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// GatewayNodePorts are the node ports of the proxy Service.
// +kubebuilder:validation:XValidation:rule="!has(self.http) || !has(self.https) || self.http != self.https",message="http and https node ports must differ"
type GatewayNodePorts struct {
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	HTTP int32 `json:"http,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	HTTPS int32 `json:"https,omitempty"`
}

// GatewayStatus is the observed state of a Gateway.
type GatewayStatus struct {
	ObjectStatus `json:",inline"`
}

// GatewayList is a list of Gateways.
// +kubebuilder:object:root=true
type GatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Gateway `json:"items"`
}
