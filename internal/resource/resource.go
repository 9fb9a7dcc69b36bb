// Package resource is the provider-neutral input of the control plane: every
// object the translator reads, whichever provider (file or kubernetes)
// produced it, and the YAML loader used by the file provider and by
// `ksgw validate`.
package resource

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/ksgw/ksgw/api/v1alpha1"
)

// Resources is one consistent view of the input. A bundle is immutable once
// published: consumers share it and must copy an object before changing it.
// Every slice is sorted by namespace then name (Sort), so that translation of
// equal input is byte-for-byte equal (STYLE: deterministic output).
type Resources struct {
	Gateways         []*v1alpha1.Gateway
	Routes           []*v1alpha1.Route
	DestinationRules []*v1alpha1.DestinationRule
	SecurityPolicies []*v1alpha1.SecurityPolicy

	Ingresses      []*networkingv1.Ingress
	IngressClasses []*networkingv1.IngressClass

	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	Pods           []*corev1.Pod
	Secrets        []*corev1.Secret
	ConfigMaps     []*corev1.ConfigMap
	Namespaces     []*corev1.Namespace

	// Origins maps ObjectKey(kind, namespace, name) to where the object was
	// read from (a file, for the file provider). The control plane uses it
	// to keep serving the last good version of the objects of a file that
	// stopped parsing. Not part of the content: excluded from hashes.
	Origins map[string]string `json:"-"`
}

// ObjectKey identifies an object across bundles: "Kind namespace/name".
func ObjectKey(kind, namespace, name string) string { return kind + " " + namespace + "/" + name }

// Len is the number of objects in the bundle.
func (r *Resources) Len() int {
	return len(r.Gateways) + len(r.Routes) + len(r.DestinationRules) + len(r.SecurityPolicies) +
		len(r.Ingresses) + len(r.IngressClasses) + len(r.Services) + len(r.EndpointSlices) +
		len(r.Pods) + len(r.Secrets) + len(r.ConfigMaps) + len(r.Namespaces)
}

// namespacedName is the part of metav1.Object that ordering needs.
type namespacedName interface {
	GetNamespace() string
	GetName() string
}

func sortObjects[T namespacedName](s []T) {
	slices.SortStableFunc(s, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
}

// Sort orders every slice by namespace, then name. Providers call it before
// publishing; Load returns sorted bundles.
func (r *Resources) Sort() {
	sortObjects(r.Gateways)
	sortObjects(r.Routes)
	sortObjects(r.DestinationRules)
	sortObjects(r.SecurityPolicies)
	sortObjects(r.Ingresses)
	sortObjects(r.IngressClasses)
	sortObjects(r.Services)
	sortObjects(r.EndpointSlices)
	sortObjects(r.Pods)
	sortObjects(r.Secrets)
	sortObjects(r.ConfigMaps)
	sortObjects(r.Namespaces)
}
