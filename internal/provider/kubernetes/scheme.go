package kubernetes

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ksgw/ksgw/api/v1alpha1"
)

// NewScheme returns a scheme with the built-in kinds and ksgw's. A new one
// per manager: schemes are mutable and never shared through a global.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// lastApplied is kubectl's copy of the whole object in an annotation; ksgw
// never reads it, and it doubles the size of every object applied by hand.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// CacheOptions are the cache settings the provider expects: managed fields
// and kubectl's last-applied copy stripped from every object, Pods trimmed
// to what the translator reads. A cluster's Pods and Secrets dominate the
// controller's memory (DESIGN §6: memory that stays flat).
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: stripObject,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Transform: trimPod},
		},
	}
}

func stripObject(in any) (any, error) {
	if o, ok := in.(client.Object); ok {
		o.SetManagedFields(nil)
		if a := o.GetAnnotations(); a[lastApplied] != "" {
			c := make(map[string]string, len(a)-1)
			for k, v := range a {
				if k != lastApplied {
					c[k] = v
				}
			}
			o.SetAnnotations(c)
		}
	}
	return in, nil
}

// trimPod keeps labels (subsets), container ports (named targetPorts),
// addresses, phase and the Ready condition: what internal/translate reads.
func trimPod(in any) (any, error) {
	p, ok := in.(*corev1.Pod)
	if !ok {
		return stripObject(in)
	}
	out := &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp,
		},
		Status: corev1.PodStatus{
			Phase:  p.Status.Phase,
			PodIP:  p.Status.PodIP,
			PodIPs: p.Status.PodIPs,
		},
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = append(out.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status})
		}
	}
	for _, c := range p.Spec.Containers {
		if len(c.Ports) > 0 {
			out.Spec.Containers = append(out.Spec.Containers, corev1.Container{Name: c.Name, Ports: c.Ports})
		}
	}
	return out, nil
}
