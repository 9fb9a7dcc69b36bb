package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ObjectStatus is the status every kind of this package reports, in the
// Kubernetes condition style (KEP-1623). Condition types and reasons live in
// internal/status (Accepted, Programmed, ResolvedRefs).
type ObjectStatus struct {
	// Conditions describe the current state of the object.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the metadata.generation the conditions were
	// computed from; a lower value than metadata.generation means the
	// controller has not yet processed the latest spec.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Durations (every metav1.Duration field) are Go duration strings such as
// "5s" or "1h30m", a superset of Istio's protobuf Duration form. The schema
// carries a pattern because metav1.Duration is a plain string to the API
// server, which would otherwise store values the typed clients cannot decode.

// Percent is a percentage in [0, 100], Istio's networking.v1.Percent.
// Value is a float because Istio's wire form is a JSON number (0.1 means one
// request in a thousand); see the package comment on allowDangerousTypes.
type Percent struct {
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Value float64 `json:"value"`
}

// LocalObjectReference names an object in the referencing object's namespace.
// Tenancy (DESIGN §4): references never cross namespaces.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ConfigMapKeyReference selects one key of a ConfigMap in the referencing
// object's namespace.
type ConfigMapKeyReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`
}

// SecretKeyReference selects one key of a Secret in the referencing object's
// namespace.
type SecretKeyReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +optional
	Key string `json:"key,omitempty"`
}
