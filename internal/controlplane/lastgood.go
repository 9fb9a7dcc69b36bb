package controlplane

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/resource"
	"github.com/ksgw/ksgw/internal/status"
	"github.com/ksgw/ksgw/internal/translate"
)

// lastGood remembers the last accepted version of every routing object, so
// that an edit which makes an object invalid — or a file that stops parsing
// — never takes down what that object served: the previous version keeps
// serving and the new one gets Accepted=False saying why (the brief's
// quality bar; STYLE habit 10). Only the translation goroutine uses it.
type lastGood struct {
	objects map[string]metav1.Object // resource.ObjectKey → last accepted version
	origins map[string]string        // resource.ObjectKey → file it came from
}

func newLastGood() *lastGood {
	return &lastGood{objects: map[string]metav1.Object{}, origins: map[string]string{}}
}

// kinds whose last good version is kept: the objects users edit to route.
var keptKinds = map[string]bool{
	translate.KindGateway: true, translate.KindRoute: true,
	translate.KindDestinationRule: true, translate.KindIngress: true,
	// A policy edit that does not compile (a WAF module) keeps the previous
	// policy in force.
	translate.KindSecurityPolicy: true,
}

// render translates res; where an object is rejected, or missing because
// its file failed to load, and a last good version exists, it translates
// again with that version in its place. The statuses of substituted objects
// are those of the version the user wrote, with a note that the previous
// one is still served; Problems are always those of what the user wrote.
func (lg *lastGood) render(res *resource.Resources, loadErrs []resource.LoadError, opts translate.Options) *Rendered {
	first := Render(res, loadErrs, opts)
	subst := map[string]metav1.Object{}
	for _, st := range first.Result.Statuses {
		k := resource.ObjectKey(st.Kind, st.Namespace, st.Name)
		if prev, ok := lg.objects[k]; ok && st.Failed(status.Accepted) {
			subst[k] = prev
		}
	}
	brokenFiles := map[string]bool{}
	for _, e := range loadErrs {
		brokenFiles[e.File] = true
	}
	present := presentKeys(res)
	for k, prev := range lg.objects {
		if !present[k] && brokenFiles[lg.origins[k]] {
			subst[k] = prev
		}
	}
	if len(subst) == 0 {
		lg.record(res, first)
		return first
	}
	res2 := withSubstitutes(res, subst)
	second := Render(res2, loadErrs, opts)
	// Statuses: the user's version is what status reports on.
	byKey := map[string]status.ObjectStatus{}
	for _, st := range first.Result.Statuses {
		byKey[resource.ObjectKey(st.Kind, st.Namespace, st.Name)] = st
	}
	for i, st := range second.Result.Statuses {
		k := resource.ObjectKey(st.Kind, st.Namespace, st.Name)
		if _, ok := subst[k]; !ok {
			continue
		}
		if mine, ok := byKey[k]; ok {
			mine.Conditions = slices.Clone(mine.Conditions)
			for j := range mine.Conditions {
				if mine.Conditions[j].Type == status.Accepted {
					mine.Conditions[j].Message += "; the last accepted version keeps serving"
				}
			}
			second.Result.Statuses[i] = mine
		}
	}
	second.Result.Problems = first.Result.Problems
	second.Kept = len(subst)
	lg.record(res2, second)
	return second
}

// record stores every object that translated with Accepted=True.
func (lg *lastGood) record(res *resource.Resources, r *Rendered) {
	accepted := map[string]bool{}
	for _, st := range r.Result.Statuses {
		if keptKinds[st.Kind] && !st.Failed(status.Accepted) {
			accepted[resource.ObjectKey(st.Kind, st.Namespace, st.Name)] = true
		}
	}
	next := map[string]metav1.Object{}
	each(res, func(kind string, o metav1.Object) {
		k := resource.ObjectKey(kind, o.GetNamespace(), o.GetName())
		// Kinds without a status (Services, Pods, Secrets...) are good
		// whenever they loaded.
		if accepted[k] || !keptKinds[kind] {
			next[k] = o
			if f, ok := res.Origins[k]; ok {
				lg.origins[k] = f
			}
		} else if prev, ok := lg.objects[k]; ok {
			next[k] = prev // rejected now, still remembered
		}
	})
	// Objects that were deleted (absent and not in a broken file) are
	// forgotten: deleting a Route removes its routes.
	for k := range lg.origins {
		if _, ok := next[k]; !ok {
			delete(lg.origins, k)
		}
	}
	lg.objects = next
}

func each(res *resource.Resources, fn func(kind string, o metav1.Object)) {
	for _, o := range res.Gateways {
		fn(translate.KindGateway, o)
	}
	for _, o := range res.Routes {
		fn(translate.KindRoute, o)
	}
	for _, o := range res.DestinationRules {
		fn(translate.KindDestinationRule, o)
	}
	for _, o := range res.Ingresses {
		fn(translate.KindIngress, o)
	}
	for _, o := range res.SecurityPolicies {
		fn("SecurityPolicy", o)
	}
	for _, o := range res.IngressClasses {
		fn("IngressClass", o)
	}
	for _, o := range res.Services {
		fn("Service", o)
	}
	for _, o := range res.EndpointSlices {
		fn("EndpointSlice", o)
	}
	for _, o := range res.Pods {
		fn("Pod", o)
	}
	for _, o := range res.Secrets {
		fn("Secret", o)
	}
	for _, o := range res.ConfigMaps {
		fn("ConfigMap", o)
	}
}

func presentKeys(res *resource.Resources) map[string]bool {
	m := map[string]bool{}
	each(res, func(kind string, o metav1.Object) {
		m[resource.ObjectKey(kind, o.GetNamespace(), o.GetName())] = true
	})
	return m
}

// withSubstitutes returns a copy of res (sharing the unchanged objects) in
// which each substituted object replaces, or is added beside, its kind's
// objects.
func withSubstitutes(res *resource.Resources, subst map[string]metav1.Object) *resource.Resources {
	out := *res
	out.Gateways = replace(res.Gateways, translate.KindGateway, subst)
	out.Routes = replace(res.Routes, translate.KindRoute, subst)
	out.DestinationRules = replace(res.DestinationRules, translate.KindDestinationRule, subst)
	out.Ingresses = replace(res.Ingresses, translate.KindIngress, subst)
	out.SecurityPolicies = replace(res.SecurityPolicies, "SecurityPolicy", subst)
	out.IngressClasses = replace(res.IngressClasses, "IngressClass", subst)
	out.Services = replace(res.Services, "Service", subst)
	out.EndpointSlices = replace(res.EndpointSlices, "EndpointSlice", subst)
	out.Pods = replace(res.Pods, "Pod", subst)
	out.Secrets = replace(res.Secrets, "Secret", subst)
	out.ConfigMaps = replace(res.ConfigMaps, "ConfigMap", subst)
	return &out
}

func replace[T interface {
	*v1alpha1.Gateway | *v1alpha1.Route | *v1alpha1.DestinationRule | *v1alpha1.SecurityPolicy |
		*networkingv1.Ingress | *networkingv1.IngressClass | *corev1.Service | *discoveryv1.EndpointSlice |
		*corev1.Pod | *corev1.Secret | *corev1.ConfigMap
	metav1.Object
}](in []T, kind string, subst map[string]metav1.Object) []T {
	out := make([]T, 0, len(in))
	seen := map[string]bool{}
	for _, o := range in {
		k := resource.ObjectKey(kind, o.GetNamespace(), o.GetName())
		seen[k] = true
		if s, ok := subst[k].(T); ok {
			out = append(out, s)
			continue
		}
		out = append(out, o)
	}
	for k, s := range subst {
		if t, ok := s.(T); ok && !seen[k] {
			out = append(out, t)
		}
	}
	// Keep the bundle's order (namespace, then name): translation output
	// must not depend on how the substitute was found.
	slices.SortStableFunc(out, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return out
}
