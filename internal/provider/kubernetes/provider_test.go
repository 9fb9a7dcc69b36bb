package kubernetes

import (
	"maps"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
)

// The event filters decide which updates cost a new bundle; a wrong false
// loses a change, a wrong true only costs a translation.
func TestEventFilters(t *testing.T) {
	now := metav1.Now()
	route := func(edit func(*v1alpha1.Route)) client.Object {
		r := &v1alpha1.Route{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Generation: 2, ResourceVersion: "10",
			Labels: map[string]string{"a": "1"}, Annotations: map[string]string{"b": "2"}}}
		if edit != nil {
			edit(r)
		}
		return r
	}
	pod := func(edit func(*corev1.Pod)) client.Object {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: "1", Labels: map[string]string{"version": "v1"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.ContainersReady, Status: corev1.ConditionTrue}}},
		}
		if edit != nil {
			edit(p)
		}
		return p
	}
	tests := []struct {
		name     string
		changed  func(old, cur client.Object) bool
		old, cur client.Object
		want     bool
	}{
		{"a status write to a Route (same generation) is ignored", specChanged, route(nil), route(func(r *v1alpha1.Route) {
			r.ResourceVersion = "11"
			r.Status.ObservedGeneration = 2
		}), false},
		{"a spec edit of a Route (new generation) counts", specChanged, route(nil), route(func(r *v1alpha1.Route) { r.Generation = 3 }), true},
		{"a label edit counts", specChanged, route(nil), route(func(r *v1alpha1.Route) { r.Labels = map[string]string{"a": "2"} }), true},
		{"an annotation edit counts", specChanged, route(nil), route(func(r *v1alpha1.Route) { r.Annotations = nil }), true},
		{"a deletion timestamp counts", specChanged, route(nil), route(func(r *v1alpha1.Route) { r.DeletionTimestamp = &now }), true},
		{"a resync (same resourceVersion) is ignored", anyChange, route(nil), route(nil), false},
		{"any new resourceVersion counts for Services and slices", anyChange, route(nil), route(func(r *v1alpha1.Route) { r.ResourceVersion = "11" }), true},
		{"a Pod condition ksgw does not read is ignored", podChanged, pod(nil), pod(func(p *corev1.Pod) {
			p.Status.Conditions[1].Status = corev1.ConditionFalse
			p.ResourceVersion = "2"
		}), false},
		{"a Pod turning unready counts", podChanged, pod(nil), pod(func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }), true},
		{"a new Pod IP counts", podChanged, pod(nil), pod(func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.2" }), true},
		{"a Pod relabelled out of a subset counts", podChanged, pod(nil), pod(func(p *corev1.Pod) { p.Labels = map[string]string{"version": "v2"} }), true},
		{"a renamed container port counts (named targetPort)", podChanged, pod(nil), pod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "web" }), true},
		{"a Pod that terminates counts", podChanged, pod(nil), pod(func(p *corev1.Pod) { p.DeletionTimestamp = &now }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.changed(tt.old, tt.cur); got != tt.want {
				t.Errorf("changed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTrimPodKeepsWhatTheTranslatorReads(t *testing.T) {
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", ResourceVersion: "7",
			Labels:        map[string]string{"app": "a", "version": "v1"},
			Annotations:   map[string]string{"big": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Containers: []corev1.Container{
				{Name: "app", Image: "img", Env: []corev1.EnvVar{{Name: "SECRET", Value: "s"}}, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
				{Name: "sidecar", Image: "img2"},
			},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}, HostIP: "192.0.2.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue, Reason: "r"}},
		},
	}
	out, err := trimPod(in)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", ResourceVersion: "7", Labels: map[string]string{"app": "a", "version": "v1"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("trimPod =\n%+v\nwant\n%+v", out, want)
	}
}

func TestStripObjectDropsManagedFieldsAndLastApplied(t *testing.T) {
	in := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{
		Annotations:   map[string]string{lastApplied: "{...}", "kubernetes.io/ingress.class": "ksgw"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	out, err := stripObject(in)
	if err != nil {
		t.Fatal(err)
	}
	o := out.(*networkingv1.Ingress)
	if o.ManagedFields != nil || !maps.Equal(o.Annotations, map[string]string{"kubernetes.io/ingress.class": "ksgw"}) {
		t.Errorf("got managedFields %v, annotations %v", o.ManagedFields, o.Annotations)
	}
}

func TestIngressGatewaysFromIR(t *testing.T) {
	route := func(kind, ns, name string) *ir.Route {
		return &ir.Route{Source: ir.ObjectRef{Kind: kind, Namespace: ns, Name: name}}
	}
	vh := func(rs ...*ir.Route) []*ir.VirtualHost { return []*ir.VirtualHost{{Routes: rs}} }
	gws := []*ir.Gateway{
		{Name: "ksgw-system/cluster", Listeners: []*ir.Listener{
			{VirtualHosts: vh(route("Ingress", "a", "web"), route("Route", "a", "web"))},
			{VirtualHosts: vh(route("Ingress", "a", "web"))}, // the https listener: counted once
		}},
		{Name: "a/gw", Listeners: []*ir.Listener{{VirtualHosts: vh(route("Ingress", "a", "web"), route("Ingress", "a", "api"))}}},
	}
	got := ingressGateways(gws)
	want := map[types.NamespacedName][]types.NamespacedName{
		{Namespace: "a", Name: "web"}: {{Namespace: "a", Name: "gw"}, {Namespace: "ksgw-system", Name: "cluster"}},
		{Namespace: "a", Name: "api"}: {{Namespace: "a", Name: "gw"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ingressGateways = %v, want %v", got, want)
	}
}

func TestServiceAddresses(t *testing.T) {
	tests := []struct {
		name string
		svc  corev1.Service
		want []networkingv1.IngressLoadBalancerIngress
	}{
		{"ClusterIP publishes its cluster IPs", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.0.0.5", ClusterIPs: []string{"10.0.0.5", "fd00::5"}}},
			[]networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.5"}, {IP: "fd00::5"}}},
		{"externalIPs win over the cluster IP", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.0.0.5", ExternalIPs: []string{"203.0.113.7"}}},
			[]networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.7"}}},
		{"LoadBalancer publishes what the cloud assigned", corev1.Service{
			Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.0.0.5"},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}}}}},
			[]networkingv1.IngressLoadBalancerIngress{{Hostname: "lb.example.com"}}},
		{"LoadBalancer without an address yet publishes nothing", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.0.0.5"}}, nil},
		{"a headless Service has no address", corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := serviceAddresses(&tt.svc); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPruneNulls(t *testing.T) {
	in := map[string]any{
		"metadata": map[string]any{"name": "x", "creationTimestamp": nil},
		"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"creationTimestamp": nil, "labels": map[string]any{"a": "b"}}},
			"containers": []any{map[string]any{"name": "c", "resources": map[string]any{"limits": nil}}}},
	}
	pruneNulls(in)
	want := map[string]any{
		"metadata": map[string]any{"name": "x"},
		"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "b"}}},
			"containers": []any{map[string]any{"name": "c", "resources": map[string]any{}}}},
	}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("got %v, want %v", in, want)
	}
}
