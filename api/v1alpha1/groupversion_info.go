// Package v1alpha1 holds the ksgw API: Gateway, Route, DestinationRule and
// SecurityPolicy in the networking.kubesphere.io group.
//
// Route and DestinationRule deliberately reuse the JSON names and semantics of
// Istio's networking.istio.io/v1 VirtualService (its http section) and
// DestinationRule, so that manifests written for Istio port with a change of
// apiVersion only. Where a field's meaning is Istio's, its comment says so and
// the translator must follow Istio, not reinterpret it.
//
// Floating-point fields: Kubernetes API conventions discourage floats, and
// controller-gen refuses them unless crd:allowDangerousTypes=true is set. We set
// it (see hack/gen.sh) for the single float in the API, Percent.Value, because
// Istio's wire form is a JSON number (`percentage: {value: 0.1}`); a
// string-backed type would break that compatibility. The value is bounded to
// [0,100] by the schema, so float round-trip imprecision cannot change meaning.
//
// +kubebuilder:object:generate=true
// +groupName=networking.kubesphere.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of every kind in this package.
const GroupName = "networking.kubesphere.io"

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds. It is a package variable
	// only because that is the k8s.io/apimachinery convention every scheme
	// consumer (client-go, controller-runtime) expects; it is never mutated
	// after init.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds every kind of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names, as they appear in a manifest's `kind`.
const (
	KindGateway         = "Gateway"
	KindRoute           = "Route"
	KindDestinationRule = "DestinationRule"
	KindSecurityPolicy  = "SecurityPolicy"
)

// Resource returns the GroupResource of a lower-case plural resource name.
func Resource(resource string) schema.GroupResource {
	return GroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Gateway{}, &GatewayList{},
		&Route{}, &RouteList{},
		&DestinationRule{}, &DestinationRuleList{},
		&SecurityPolicy{}, &SecurityPolicyList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
