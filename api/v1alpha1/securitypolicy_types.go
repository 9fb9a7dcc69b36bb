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
	// WAF rules in Rego.
	// +optional
	WAF *WAF `json:"waf,omitempty"`
	// Masking: data layer.
	// +optional
	Masking *Masking `json:"masking,omitempty"`
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
}

// JWT authenticates requests by JSON Web Token (Envoy jwt_authn).
type JWT struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Providers []JWTProvider `json:"providers"`
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
}

// WAF evaluates Rego modules against each request. A module declares
// `deny[msg]` rules (DESIGN §1.11, e.g. package kubesphere.gateway.waf); any
// non-empty deny set refuses the request with 403.
type WAF struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Rego []RegoModule `json:"rego"`
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
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Rules []MaskingRule `json:"rules"`
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
