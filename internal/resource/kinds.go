package resource

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ksgw/ksgw/api/v1alpha1"
)

var listGVK = schema.GroupVersionKind{Version: "v1", Kind: "List"}

// kinds maps each kind ksgw reads to a constructor returning an empty object
// and the function that appends it to a bundle. Read-only after init.
var kinds = map[schema.GroupVersionKind]func() (any, func(*Resources)){
	v1alpha1.GroupVersion.WithKind(v1alpha1.KindGateway): func() (any, func(*Resources)) {
		o := &v1alpha1.Gateway{}
		return o, func(r *Resources) { r.Gateways = append(r.Gateways, o) }
	},
	v1alpha1.GroupVersion.WithKind(v1alpha1.KindRoute): func() (any, func(*Resources)) {
		o := &v1alpha1.Route{}
		return o, func(r *Resources) { r.Routes = append(r.Routes, o) }
	},
	v1alpha1.GroupVersion.WithKind(v1alpha1.KindDestinationRule): func() (any, func(*Resources)) {
		o := &v1alpha1.DestinationRule{}
		return o, func(r *Resources) { r.DestinationRules = append(r.DestinationRules, o) }
	},
	v1alpha1.GroupVersion.WithKind(v1alpha1.KindSecurityPolicy): func() (any, func(*Resources)) {
		o := &v1alpha1.SecurityPolicy{}
		return o, func(r *Resources) { r.SecurityPolicies = append(r.SecurityPolicies, o) }
	},
	networkingv1.SchemeGroupVersion.WithKind("Ingress"): func() (any, func(*Resources)) {
		o := &networkingv1.Ingress{}
		return o, func(r *Resources) { r.Ingresses = append(r.Ingresses, o) }
	},
	networkingv1.SchemeGroupVersion.WithKind("IngressClass"): func() (any, func(*Resources)) {
		o := &networkingv1.IngressClass{}
		return o, func(r *Resources) { r.IngressClasses = append(r.IngressClasses, o) }
	},
	corev1.SchemeGroupVersion.WithKind("Service"): func() (any, func(*Resources)) {
		o := &corev1.Service{}
		return o, func(r *Resources) { r.Services = append(r.Services, o) }
	},
	discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"): func() (any, func(*Resources)) {
		o := &discoveryv1.EndpointSlice{}
		return o, func(r *Resources) { r.EndpointSlices = append(r.EndpointSlices, o) }
	},
	corev1.SchemeGroupVersion.WithKind("Pod"): func() (any, func(*Resources)) {
		o := &corev1.Pod{}
		return o, func(r *Resources) { r.Pods = append(r.Pods, o) }
	},
	corev1.SchemeGroupVersion.WithKind("Secret"): func() (any, func(*Resources)) {
		o := &corev1.Secret{}
		return o, func(r *Resources) {
			mergeStringData(o)
			r.Secrets = append(r.Secrets, o)
		}
	},
	corev1.SchemeGroupVersion.WithKind("ConfigMap"): func() (any, func(*Resources)) {
		o := &corev1.ConfigMap{}
		return o, func(r *Resources) { r.ConfigMaps = append(r.ConfigMaps, o) }
	},
	corev1.SchemeGroupVersion.WithKind("Namespace"): func() (any, func(*Resources)) {
		o := &corev1.Namespace{}
		return o, func(r *Resources) { r.Namespaces = append(r.Namespaces, o) }
	},
}

// clusterScoped kinds have no namespace; a namespace given in their manifest
// is dropped, as the API server does.
var clusterScoped = map[schema.GroupKind]bool{
	{Group: networkingv1.GroupName, Kind: "IngressClass"}: true,
	{Kind: "Namespace"}: true,
}

// mergeStringData folds stringData into data, as the API server does on
// write (Kubernetes Secret API: "stringData ... merged into the data field on
// write, overwriting any existing values"), so consumers read data only.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		return
	}
	if s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

type metaError struct {
	field string
	err   error
}

// validateMeta checks what the API server checks of every object's name and
// namespace (DNS-1123 subdomain and label); generateName has no meaning
// without an API server.
func validateMeta(m metav1.Object, namespaced bool) []metaError {
	var errs []metaError
	switch {
	case m.GetName() == "":
		errs = append(errs, metaError{"metadata.name", fmt.Errorf("metadata.name is required")})
	default:
		for _, msg := range validation.IsDNS1123Subdomain(m.GetName()) {
			errs = append(errs, metaError{"metadata.name", fmt.Errorf("metadata.name %q: %s", m.GetName(), msg)})
		}
	}
	if namespaced {
		for _, msg := range validation.IsDNS1123Label(m.GetNamespace()) {
			errs = append(errs, metaError{"metadata.namespace", fmt.Errorf("metadata.namespace %q: %s", m.GetNamespace(), msg)})
		}
	}
	return errs
}
