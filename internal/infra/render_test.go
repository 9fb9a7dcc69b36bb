package infra_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/infra"
)

func gateway(ns, name string, mutate ...func(*v1alpha1.Gateway)) *v1alpha1.Gateway {
	gw := &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)}}
	for _, m := range mutate {
		m(gw)
	}
	gw.Default()
	return gw
}

func render(t *testing.T, gw *v1alpha1.Gateway, opts infra.Options) rendered {
	t.Helper()
	objs, err := infra.Render(gw, opts)
	if err != nil {
		t.Fatal(err)
	}
	var r rendered
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ServiceAccount:
			r.sa = o
		case *appsv1.Deployment:
			r.dep = o
		case *corev1.Service:
			r.svc = o
		case *policyv1.PodDisruptionBudget:
			r.pdb = o
		case *networkingv1.NetworkPolicy:
			r.np = o
		case *networkingv1.IngressClass:
			r.class = o
		default:
			t.Fatalf("unexpected object %T", o)
		}
		if o.GetObjectKind().GroupVersionKind().Kind == "" {
			t.Errorf("%T %s has no TypeMeta: server-side apply needs apiVersion and kind", o, o.GetName())
		}
	}
	if r.sa == nil || r.dep == nil || r.svc == nil || r.pdb == nil || r.np == nil || r.class == nil {
		t.Fatalf("missing objects: %+v", r)
	}
	return r
}

type rendered struct {
	sa    *corev1.ServiceAccount
	dep   *appsv1.Deployment
	svc   *corev1.Service
	pdb   *policyv1.PodDisruptionBudget
	np    *networkingv1.NetworkPolicy
	class *networkingv1.IngressClass
}

func TestRenderRefusesWhatTheAPIServerWould(t *testing.T) {
	tests := []struct {
		name    string
		gw      *v1alpha1.Gateway
		opts    func(*infra.Options)
		wantErr string
	}{
		{
			name:    "gateway without uid cannot own objects",
			gw:      gateway("a", "g", func(g *v1alpha1.Gateway) { g.UID = "" }),
			wantErr: "gateway a/g: metadata.uid",
		},
		{
			name:    "same port for http and https",
			gw:      gateway("a", "g", func(g *v1alpha1.Gateway) { g.Spec.Ports = v1alpha1.GatewayPorts{HTTP: 8000, HTTPS: 8000} }),
			wantErr: "gateway a/g: spec.ports: http and https are both 8000",
		},
		{
			name:    "listener on the admin port",
			gw:      gateway("a", "g", func(g *v1alpha1.Gateway) { g.Spec.Ports.HTTPS = 19000 }),
			wantErr: "spec.ports: 19000 is the proxy's admin port",
		},
		{
			name: "node ports on a ClusterIP service",
			gw: gateway("a", "g", func(g *v1alpha1.Gateway) {
				g.Spec.Service.NodePorts.HTTP = 30080
			}),
			wantErr: `spec.service.nodePorts: require type NodePort or LoadBalancer, not "ClusterIP"`,
		},
		{
			name: "external traffic policy on a ClusterIP service",
			gw: gateway("a", "g", func(g *v1alpha1.Gateway) {
				g.Spec.Service.Type = corev1.ServiceTypeClusterIP
				g.Spec.Service.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			}),
			wantErr: "spec.service.externalTrafficPolicy: requires type NodePort or LoadBalancer",
		},
		{
			name: "one node port for both listeners",
			gw: gateway("a", "g", func(g *v1alpha1.Gateway) {
				g.Spec.Service = v1alpha1.GatewayService{Type: corev1.ServiceTypeNodePort, NodePorts: v1alpha1.GatewayNodePorts{HTTP: 30080, HTTPS: 30080}}
			}),
			wantErr: "spec.service.nodePorts: http and https are both 30080",
		},
		{
			name: "both disruption bounds",
			gw: gateway("a", "g", func(g *v1alpha1.Gateway) {
				one := ptr.To(intstr.FromInt32(1))
				g.Spec.PodDisruptionBudget = &v1alpha1.GatewayPodDisruptionBudget{MinAvailable: one, MaxUnavailable: one}
			}),
			wantErr: "spec.podDisruptionBudget: set at most one",
		},
		{
			name:    "no image",
			gw:      gateway("a", "g"),
			opts:    func(o *infra.Options) { o.Image = "" },
			wantErr: "infra options: Image is required",
		},
		{
			name:    "xds server without port",
			gw:      gateway("a", "g"),
			opts:    func(o *infra.Options) { o.XDSServer = "ksgw-controller"; o.ControllerXDSPort = 0 },
			wantErr: `XDSServer "ksgw-controller": want host:port`,
		},
		{
			name:    "token shorter than the API server allows",
			gw:      gateway("a", "g"),
			opts:    func(o *infra.Options) { o.TokenExpiration = time.Minute },
			wantErr: "TokenExpiration 1m0s: the API server requires at least 10m",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			objs, err := infra.Render(tt.gw, opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
			}
			if objs != nil {
				t.Errorf("objects rendered despite the error: the last applied ones must stay")
			}
		})
	}
}

func TestSelectorsPickOnlyTheirGatewaysPods(t *testing.T) {
	opts := testOptions()
	a := render(t, gateway("tenant-a", "edge"), opts)
	b := render(t, gateway("tenant-a", "internal"), opts)
	podsA := labels.Set(a.dep.Spec.Template.Labels)
	podsB := labels.Set(b.dep.Spec.Template.Labels)

	selectors := map[string]*metav1.LabelSelector{
		"deployment selector":   a.dep.Spec.Selector,
		"service selector":      {MatchLabels: a.svc.Spec.Selector},
		"disruption budget":     a.pdb.Spec.Selector,
		"network policy":        &a.np.Spec.PodSelector,
		"anti-affinity (peers)": a.dep.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector,
	}
	for name, ls := range selectors {
		t.Run(name, func(t *testing.T) {
			sel, err := metav1.LabelSelectorAsSelector(ls)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(podsA) {
				t.Errorf("%s does not select its own proxies (%v)", sel, podsA)
			}
			if sel.Matches(podsB) {
				t.Errorf("%s selects the proxies of another Gateway in the namespace (%v)", sel, podsB)
			}
		})
	}
}

func TestObjectNamesAreValidAndDistinct(t *testing.T) {
	long := strings.Repeat("x", 80)
	names := []string{"g", "tenant.gateway", long + "a", long + "b", strings.Repeat("a.", 120) + "z"}
	seen := map[string]string{}
	for _, n := range names {
		obj := infra.ObjectName(n)
		if errs := validation.IsDNS1035Label(obj); len(errs) > 0 {
			t.Errorf("ObjectName(%q) = %q: not a Service name: %v", n, obj, errs)
		}
		if prev, dup := seen[obj]; dup {
			t.Errorf("Gateways %q and %q share objects named %q", prev, n, obj)
		}
		seen[obj] = n
		r := render(t, gateway("ns", n), testOptions())
		for k, v := range r.dep.Spec.Template.Labels {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("gateway %q: label %s=%q: %v", n, k, v, errs)
			}
		}
		if errs := validation.IsDNS1123Subdomain(r.class.Name); len(errs) > 0 {
			t.Errorf("gateway %q: IngressClass %q: %v", n, r.class.Name, errs)
		}
	}
}

// namespaceLabels is what the API server puts on every namespace
// (kubernetes.io/metadata.name, Kubernetes ≥1.21).
func namespaceLabels(ns string) labels.Set { return labels.Set{corev1.LabelMetadataName: ns} }

// egressReaches reports whether some egress rule of np admits any port to a
// pod with podLabels in namespace ns (NetworkPolicy semantics: rules are
// OR'd; a peer with both selectors needs both to match).
func egressReaches(t *testing.T, np *networkingv1.NetworkPolicy, ns string, podLabels labels.Set, port int32) bool {
	t.Helper()
	for _, rule := range np.Spec.Egress {
		if !portAllowed(rule.Ports, port) {
			continue
		}
		if len(rule.To) == 0 {
			return true
		}
		for _, peer := range rule.To {
			if peer.IPBlock != nil {
				continue
			}
			nsOK := peer.NamespaceSelector == nil && ns == np.Namespace
			if peer.NamespaceSelector != nil {
				sel, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
				if err != nil {
					t.Fatal(err)
				}
				nsOK = sel.Matches(namespaceLabels(ns))
			}
			podOK := true
			if peer.PodSelector != nil {
				sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
				if err != nil {
					t.Fatal(err)
				}
				podOK = sel.Matches(podLabels)
			}
			if nsOK && podOK {
				return true
			}
		}
	}
	return false
}

func portAllowed(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || (p.Port.Type == 0 && p.Port.IntVal == port) {
			return true
		}
	}
	return false
}

func TestNetworkPolicyKeepsTenantsApart(t *testing.T) {
	opts := testOptions()
	opts.GatewayNamespaces = []string{"tenant-a", "tenant-b"}
	opts.EgressNamespaces = []string{"observability"}
	project := render(t, gateway("tenant-a", "gw"), opts).np
	cluster := render(t, gateway("ksgw-system", "default"), opts).np
	backend := labels.Set{"app": "product"}
	controller := labels.Set(opts.ControllerPodLabels)

	tests := []struct {
		name string
		np   *networkingv1.NetworkPolicy
		ns   string
		pod  labels.Set
		port int32
		want bool
	}{
		{"project proxies reach their namespace's backends", project, "tenant-a", backend, 8080, true},
		{"project proxies do not reach another tenant's backends", project, "tenant-b", backend, 8080, false},
		{"project proxies do not reach a namespace served by the cluster gateway", project, "shared", backend, 8080, false},
		{"cluster proxies reach a namespace without its own gateway", cluster, "shared", backend, 8080, true},
		{"cluster proxies reach their own namespace", cluster, "ksgw-system", backend, 8080, true},
		{"cluster proxies do not reach a tenant with its own gateway", cluster, "tenant-a", backend, 8080, false},
		{"project proxies reach the controller's xDS port", project, "ksgw-system", controller, 18000, true},
		{"project proxies reach no other port of the controller", project, "ksgw-system", controller, 8443, false},
		{"project proxies reach the collector's namespace", project, "observability", labels.Set{"app": "otel-collector"}, 4317, true},
		{"project proxies resolve names", project, "kube-system", labels.Set{"k8s-app": "kube-dns"}, 53, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := egressReaches(t, tt.np, tt.ns, tt.pod, tt.port); got != tt.want {
				t.Errorf("egress from %s to %s/%v:%d = %v, want %v", tt.np.Namespace, tt.ns, tt.pod, tt.port, got, tt.want)
			}
		})
	}
}

func TestNetworkPolicyAdmitsListenersFromAnywhereAndAdminFromOperators(t *testing.T) {
	opts := testOptions()
	opts.MetricsNamespaces = []string{"monitoring"}
	np := render(t, gateway("tenant-a", "gw"), opts).np
	admits := func(port string, ns string) bool {
		for _, rule := range np.Spec.Ingress {
			portOK := len(rule.Ports) == 0
			for _, p := range rule.Ports {
				portOK = portOK || p.Port.StrVal == port
			}
			if !portOK {
				continue
			}
			if len(rule.From) == 0 {
				return true
			}
			for _, peer := range rule.From {
				sel, _ := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
				if sel.Matches(namespaceLabels(ns)) {
					return true
				}
			}
		}
		return false
	}
	tests := []struct {
		port, ns string
		want     bool
	}{
		{"http", "anywhere", true},
		{"https", "anywhere", true},
		{"admin", "ksgw-system", true},
		{"admin", "monitoring", true},
		{"admin", "tenant-b", false},
		{"admin", "tenant-a", false},
	}
	for _, tt := range tests {
		if got := admits(tt.port, tt.ns); got != tt.want {
			t.Errorf("ingress to %s from namespace %s = %v, want %v", tt.port, tt.ns, got, tt.want)
		}
	}
}

func TestRollingUpdateDropsNoRequest(t *testing.T) {
	tests := []struct {
		name         string
		gw           *v1alpha1.Gateway
		wantSurge    string
		wantUnavail  string
		wantRequired bool
	}{
		{"preferred anti-affinity surges before terminating", gateway("a", "g"), "25%", "0", false},
		{"required anti-affinity replaces in place", gateway("a", "g", func(g *v1alpha1.Gateway) { g.Spec.AntiAffinity = v1alpha1.AntiAffinityRequired }), "0", "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.DrainTimeout = 20 * time.Second
			opts.PreStopDelay = 7 * time.Second
			dep := render(t, tt.gw, opts).dep
			ru := dep.Spec.Strategy.RollingUpdate
			if ru.MaxSurge.String() != tt.wantSurge || ru.MaxUnavailable.String() != tt.wantUnavail {
				t.Errorf("maxSurge %s maxUnavailable %s, want %s %s", ru.MaxSurge, ru.MaxUnavailable, tt.wantSurge, tt.wantUnavail)
			}
			pod := dep.Spec.Template.Spec
			c := pod.Containers[0]
			if got := c.Lifecycle.PreStop.Sleep.Seconds; got != 7 {
				t.Errorf("preStop sleep %ds, want 7", got)
			}
			if g := *pod.TerminationGracePeriodSeconds; g <= 7+20 {
				t.Errorf("terminationGracePeriodSeconds %d does not cover preStop 7s + drain 20s: the kubelet would kill in-flight requests", g)
			}
			if !strings.Contains(strings.Join(c.Args, " "), "--drain-timeout 20s") {
				t.Errorf("proxy args %q lack --drain-timeout 20s", c.Args)
			}
			if c.ReadinessProbe.HTTPGet.Path != "/ready" {
				t.Errorf("readiness probe %v, want /ready", c.ReadinessProbe.HTTPGet)
			}
			aa := pod.Affinity.PodAntiAffinity
			if (len(aa.RequiredDuringSchedulingIgnoredDuringExecution) > 0) != tt.wantRequired {
				t.Errorf("anti-affinity %+v, want required=%v", aa, tt.wantRequired)
			}
		})
	}
}

func TestReplicasLeftToTheHPAWhenUnset(t *testing.T) {
	unset := render(t, gateway("a", "g"), testOptions()).dep
	if unset.Spec.Replicas != nil {
		t.Errorf("replicas %d rendered for a Gateway without spec.replicas: the controller would fight an HPA", *unset.Spec.Replicas)
	}
	set := render(t, gateway("a", "g", func(g *v1alpha1.Gateway) { g.Spec.Replicas = ptr.To[int32](3) }), testOptions()).dep
	if set.Spec.Replicas == nil || *set.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", set.Spec.Replicas)
	}
}

func TestRenderDoesNotAliasTheGateway(t *testing.T) {
	gw := loadGateway(t, "testdata/ha-nodeport.in.yaml")
	before := gw.DeepCopy()
	objs, err := infra.Render(gw, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Mutating the output (as an apply's defaulting would) must not reach
	// the Gateway held in the controller's cache.
	for _, o := range objs {
		mutateAll(o)
	}
	if !apiequality.Semantic.DeepEqual(before, gw) {
		t.Errorf("Render's output aliases the Gateway:\nbefore %+v\nafter  %+v", before.Spec, gw.Spec)
	}
}

func mutateAll(o client.Object) {
	switch o := o.(type) {
	case *appsv1.Deployment:
		p := &o.Spec.Template.Spec
		p.NodeSelector["x"] = "y"
		p.Tolerations[0].Key = "changed"
		p.Containers[0].Resources.Limits[corev1.ResourceMemory] = p.Containers[0].Resources.Requests[corev1.ResourceCPU]
		*o.Spec.Replicas = 99
	case *corev1.Service:
		o.Annotations["x"] = "y"
	case *policyv1.PodDisruptionBudget:
		o.Spec.MinAvailable.IntVal = 99
	}
}
