package k8s

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/infra"
	"github.com/ksgw/ksgw/internal/provider/kubernetes"
	"github.com/ksgw/ksgw/internal/testing/echo"
)

// tenant is a namespace with a Gateway and one running proxy of it.
type tenant struct {
	ns    string
	gw    types.NamespacedName
	port  int // the Gateway's http port, where the proxy listens
	url   string
	proxy *proxyProc
}

// newTenant creates namespace ns and Gateway ns/gw with the given hosts on
// a free http port, waits for the controller to create its Deployment and
// starts a proxy of it against xds.
func newTenant(t *testing.T, ns string, hosts []string, xds string, edit func(*v1alpha1.Gateway)) *tenant {
	t.Helper()
	tn := newGateway(t, ns, hosts, edit)
	tn.proxy = startProxy(t, tn.gw, xds, true)
	return tn
}

// newGateway is newTenant without the proxy.
func newGateway(t *testing.T, ns string, hosts []string, edit func(*v1alpha1.Gateway)) *tenant {
	t.Helper()
	namespace(t, ns)
	port := freePort(t, "127.0.0.1")
	gw := &v1alpha1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw"},
		Spec: v1alpha1.GatewaySpec{
			Hosts: hosts,
			Ports: v1alpha1.GatewayPorts{HTTP: int32(port), HTTPS: int32(freePort(t, "127.0.0.1"))},
		},
	}
	if edit != nil {
		edit(gw)
	}
	create(t, gw)
	return &tenant{ns: ns, gw: types.NamespacedName{Namespace: ns, Name: "gw"}, port: port, url: "http://127.0.0.1:" + strconv.Itoa(port) + "/"}
}

// simpleRoute routes every request for host to Service svc.
func simpleRoute(ns, name, host, svc string) *v1alpha1.Route {
	return &v1alpha1.Route{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RouteSpec{
			Hosts: []string{host},
			HTTP:  []v1alpha1.HTTPRoute{{Route: []v1alpha1.HTTPRouteDestination{{Destination: v1alpha1.Destination{Host: svc}}}}},
		},
	}
}

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// TestKubernetes runs the cases in order against one API server and a
// controller fleet that changes along the way: controller A serves the
// first cases, B takes over leadership from A, C replaces a crashed B.
func TestKubernetes(t *testing.T) {
	requireEnv(t)
	namespace(t, controllerNamespace)
	xdsPort := strconv.Itoa(freePort(t, ip(2)))
	a := startController(t, "controller-a", net.JoinHostPort(ip(2), xdsPort))
	xds := a.xds

	t.Run("create: traffic flows and every object reports Accepted, ResolvedRefs, Programmed", func(t *testing.T) {
		tn := newTenant(t, "create", []string{"*.create.example.com"}, xds, nil)
		v1 := backend(t, "product-v1", 10)
		service(t, tn.ns, "product", []*echo.Server{v1}, nil)
		create(t, simpleRoute(tn.ns, "shop", "shop.create.example.com", "product"))
		waitFor(t, tn.url, "shop.create.example.com", "product-v1", http.StatusOK)
		waitConditions(t, key(tn.ns, "shop"), routeStatus, allTrue)
		waitConditions(t, tn.gw, gatewayStatus, allTrue)
		// A SecurityPolicy gets its conditions written too; this one denies
		// a range the test's clients are not in, so traffic is unchanged.
		create(t, &v1alpha1.SecurityPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "edge"},
			Spec: v1alpha1.SecurityPolicySpec{
				TargetRef: v1alpha1.PolicyTargetReference{Kind: "Route", Name: "shop"},
				IPAccess:  &v1alpha1.IPAccess{Deny: []string{"192.0.2.0/24"}},
			},
		})
		waitConditions(t, key(tn.ns, "edge"), func(p *v1alpha1.SecurityPolicy) v1alpha1.ObjectStatus { return p.Status.ObjectStatus }, allTrue)
		waitFor(t, tn.url, "shop.create.example.com", "product-v1", http.StatusOK)
		// A host the Route does not claim is not routed.
		waitFor(t, tn.url, "other.create.example.com", "", http.StatusNotFound)
		// The control plane's own metrics are served next to
		// controller-runtime's, with this tenant's proxy connected.
		eventually(t, 20*time.Second, func() error {
			resp, err := http.Get(a.metrics + "/metrics/controlplane")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			for _, want := range []string{"ksgw_controlplane_publishes_total", `ksgw_xds_connected_proxies{node="` + tn.ns + `/`} {
				if !strings.Contains(string(b), want) {
					return fmt.Errorf("/metrics/controlplane lacks %s", want)
				}
			}
			return nil
		})
	})

	t.Run("route weights change under load: the split follows and no request fails", func(t *testing.T) {
		tn := newTenant(t, "weights", []string{"*.weights.example.com"}, xds, nil)
		// One Service, two Pods told apart by labels; subsets select them
		// (the seed's canary, DESIGN §1.10).
		service(t, tn.ns, "product", backends(t, []string{"product-v1", "product-v2"}, []int{11, 12}),
			[]map[string]string{{"version": "v1"}, {"version": "v2"}})
		create(t, &v1alpha1.DestinationRule{
			ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "product"},
			Spec: v1alpha1.DestinationRuleSpec{Host: "product", Subsets: []v1alpha1.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}},
				{Name: "v2", Labels: map[string]string{"version": "v2"}},
			}},
		})
		host := "shop.weights.example.com"
		canary := func(w1, w2 int32) func(*v1alpha1.Route) {
			return func(r *v1alpha1.Route) {
				r.Spec.HTTP = []v1alpha1.HTTPRoute{{Route: []v1alpha1.HTTPRouteDestination{
					{Destination: v1alpha1.Destination{Host: "product", Subset: "v1"}, Weight: w1},
					{Destination: v1alpha1.Destination{Host: "product", Subset: "v2"}, Weight: w2},
				}}}
			}
		}
		r := simpleRoute(tn.ns, "canary", host, "product")
		canary(90, 10)(r)
		create(t, r)
		waitConditions(t, key(tn.ns, "canary"), routeStatus, allTrue)
		eventually(t, 20*time.Second, func() error {
			r, err := request(tn.url, host, nil)
			if err != nil || r.status != http.StatusOK {
				return fmt.Errorf("status %d: %v", r.status, err)
			}
			return nil
		})

		ld := startLoad(tn.url, host, 4)
		steps := []struct{ w1, w2 int32 }{{90, 10}, {50, 50}, {0, 100}, {100, 0}}
		for i, s := range steps {
			if i > 0 {
				gen := update(t, key(tn.ns, "canary"), canary(s.w1, s.w2)).Generation
				// Converged: the status describes this generation, and
				// only then are answers counted.
				waitConditions(t, key(tn.ns, "canary"), routeStatus, allTrue)
				eventually(t, 10*time.Second, func() error {
					got := split(t, tn.url, host, 40)
					if (s.w1 == 0 && got["product-v1"] > 0) || (s.w2 == 0 && got["product-v2"] > 0) {
						return fmt.Errorf("generation %d: still %v", gen, got)
					}
					return nil
				})
			}
			ld.snapshot()
			time.Sleep(1500 * time.Millisecond) // a counting window of load, not a synchronisation
			got := ld.snapshot()
			total := got["product-v1"] + got["product-v2"]
			frac := float64(got["product-v2"]) / float64(total)
			want := float64(s.w2) / float64(s.w1+s.w2)
			// 4 sigma of a binomial proportion, at least 2 points.
			tol := math.Max(0.02, 4*math.Sqrt(want*(1-want)/float64(total)))
			t.Logf("weights %d/%d: %d requests, v2 share %.3f (want %.3f ± %.3f)", s.w1, s.w2, total, frac, want, tol)
			if total < 200 || math.Abs(frac-want) > tol {
				t.Errorf("weights %d/%d: %v (share %.3f, want %.3f ± %.3f)", s.w1, s.w2, got, frac, want, tol)
			}
		}
		ok, failed, firstErr := ld.finish()
		t.Logf("load during weight changes: %d ok, %d failed", ok, failed)
		if failed > 0 {
			t.Errorf("%d of %d requests failed during weight changes; first: %v", failed, ok+failed, firstErr)
		}
	})

	t.Run("endpointslice edits: traffic follows the ready endpoints", func(t *testing.T) {
		tn := newTenant(t, "eps", []string{"*.eps.example.com"}, xds, nil)
		bs := backends(t, []string{"b1", "b2", "b3"}, []int{20, 21, 22})
		b1, b2, b3 := bs[0], bs[1], bs[2]
		_, port := hostPort(t, b1.Addr())
		service(t, tn.ns, "app", []*echo.Server{b1}, nil)
		create(t, simpleRoute(tn.ns, "app", "app.eps.example.com", "app"))
		host := "app.eps.example.com"
		waitFor(t, tn.url, host, "b1", http.StatusOK)

		ep := func(b *echo.Server, ready bool) discoveryv1.Endpoint {
			h, _ := hostPort(t, b.Addr())
			return endpoint(h, "", ready)
		}
		steps := []struct {
			name string
			eps  []discoveryv1.Endpoint
			want []string
		}{
			{"scale out to b1, b2", []discoveryv1.Endpoint{ep(b1, true), ep(b2, true)}, []string{"b1", "b2"}},
			{"scale in to b2", []discoveryv1.Endpoint{ep(b2, true)}, []string{"b2"}},
			{"b2 not ready, b3 ready", []discoveryv1.Endpoint{ep(b2, false), ep(b3, true)}, []string{"b3"}},
		}
		for _, s := range steps {
			setEndpoints(t, tn.ns, "app", port, s.eps)
			eventually(t, 10*time.Second, func() error {
				got := split(t, tn.url, host, 30)
				names := slices.Sorted(mapKeys(got))
				if !slices.Equal(names, s.want) {
					return fmt.Errorf("%s: answers from %v, want %v", s.name, names, s.want)
				}
				return nil
			})
		}
	})

	t.Run("delete: a deleted Route's host answers 404", func(t *testing.T) {
		tn := newTenant(t, "del", []string{"*.del.example.com"}, xds, nil)
		service(t, tn.ns, "app", []*echo.Server{backend(t, "app", 30)}, nil)
		create(t, simpleRoute(tn.ns, "app", "app.del.example.com", "app"))
		waitFor(t, tn.url, "app.del.example.com", "app", http.StatusOK)
		if err := env.client.Delete(context.Background(), &v1alpha1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "app"}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, tn.url, "app.del.example.com", "", http.StatusNotFound)
	})

	t.Run("tenancy: a Route claiming another tenant's host is rejected and gets no traffic", func(t *testing.T) {
		ta := newTenant(t, "tenant-a", []string{"*.tenant-a.example.com"}, xds, nil)
		tb := newTenant(t, "tenant-b", []string{"*.tenant-b.example.com"}, xds, nil)
		service(t, ta.ns, "shop", []*echo.Server{backend(t, "a-shop", 40)}, nil)
		stolen := backend(t, "b-thief", 41)
		service(t, tb.ns, "thief", []*echo.Server{stolen}, nil)
		create(t, simpleRoute(ta.ns, "shop", "shop.tenant-a.example.com", "shop"))
		waitFor(t, ta.url, "shop.tenant-a.example.com", "a-shop", http.StatusOK)

		// Binding to tenant-a's Gateway from tenant-b, and claiming
		// tenant-a's host on tenant-b's own Gateway.
		cross := simpleRoute(tb.ns, "cross", "shop.tenant-a.example.com", "thief")
		cross.Spec.Gateways = []string{"tenant-a/gw"}
		create(t, cross)
		create(t, simpleRoute(tb.ns, "outside", "login.tenant-a.example.com", "thief"))
		waitConditions(t, key(tb.ns, "cross"), routeStatus, map[string]string{"Accepted": "False:NotAllowedByGateway", "Programmed": "False"})
		waitConditions(t, key(tb.ns, "outside"), routeStatus, map[string]string{"Accepted": "False:NotAllowedByGateway", "Programmed": "False"})
		for _, c := range []struct {
			tn   *tenant
			host string
			want string
			code int
		}{
			{ta, "shop.tenant-a.example.com", "a-shop", http.StatusOK},
			{ta, "login.tenant-a.example.com", "", http.StatusNotFound},
			{tb, "shop.tenant-a.example.com", "", http.StatusNotFound},
			{tb, "login.tenant-a.example.com", "", http.StatusNotFound},
		} {
			for range 10 {
				r, err := request(c.tn.url, c.host, nil)
				if err != nil || r.status != c.code || r.name != c.want {
					t.Fatalf("%s via %s: %d from %q (%v), want %d from %q", c.host, c.tn.gw, r.status, r.name, err, c.code, c.want)
				}
			}
		}
		if n := stolen.Counts().HTTP; n != 0 {
			t.Errorf("tenant-b's backend received %d requests", n)
		}
	})

	t.Run("tenancy: a namespace without a Gateway falls back to the cluster gateway", func(t *testing.T) {
		ctx := context.Background()
		cluster := newTenant(t, controllerNamespace, []string{"*.shared.example.com", "*.own.example.com"}, xds, nil)
		own := newTenant(t, "own", []string{"*.own.example.com"}, xds, nil)
		namespace(t, "fallback")
		service(t, "fallback", "app", []*echo.Server{backend(t, "fallback-app", 42)}, nil)
		service(t, own.ns, "app", []*echo.Server{backend(t, "own-app", 43)}, nil)
		create(t, simpleRoute("fallback", "app", "app.shared.example.com", "app"))
		create(t, simpleRoute(own.ns, "app", "app.own.example.com", "app"))
		waitFor(t, cluster.url, "app.shared.example.com", "fallback-app", http.StatusOK)
		waitFor(t, own.url, "app.own.example.com", "own-app", http.StatusOK)
		// A namespace with its own Gateway is not served by the cluster
		// gateway, even for a host the cluster gateway declares.
		waitFor(t, cluster.url, "app.own.example.com", "", http.StatusNotFound)
		waitConditions(t, key("fallback", "app"), routeStatus, allTrue)

		// The cluster gateway's proxies may reach the namespaces without
		// a Gateway only; a Gateway appearing elsewhere re-renders that.
		excluded := func() ([]string, error) {
			np := &networkingv1.NetworkPolicy{}
			if err := env.client.Get(ctx, key(controllerNamespace, infra.ObjectName("gw")), np); err != nil {
				return nil, err
			}
			for _, r := range np.Spec.Egress {
				for _, to := range r.To {
					if to.NamespaceSelector == nil || to.PodSelector != nil {
						continue
					}
					for _, e := range to.NamespaceSelector.MatchExpressions {
						if e.Operator == metav1.LabelSelectorOpNotIn {
							return e.Values, nil
						}
					}
				}
			}
			return nil, nil
		}
		eventually(t, 10*time.Second, func() error {
			ns, err := excluded()
			if err == nil && (!slices.Contains(ns, "own") || slices.Contains(ns, "fallback")) {
				err = fmt.Errorf("cluster gateway egress excludes %v; want own, not fallback", ns)
			}
			return err
		})
		namespace(t, "newcomer")
		create(t, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "newcomer", Name: "gw"}, Spec: v1alpha1.GatewaySpec{Hosts: []string{"*.newcomer.example.com"}}})
		eventually(t, 10*time.Second, func() error {
			ns, err := excluded()
			if err == nil && !slices.Contains(ns, "newcomer") {
				err = fmt.Errorf("cluster gateway egress excludes %v; want newcomer too", ns)
			}
			return err
		})
	})

	t.Run("secrets: a Secret of another namespace is not used", func(t *testing.T) {
		const ns = "tls-tenant"
		namespace(t, "tls-other")
		certPEM, keyPEM := selfSigned(t, "*.tls.example.com")
		secret := func(ns string) *corev1.Secret {
			return &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "site-tls"},
				Type:       corev1.SecretTypeTLS,
				Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
			}
		}
		create(t, secret("tls-other"))
		var httpsPort int32
		tn := newTenant(t, ns, []string{"*.tls.example.com"}, xds, func(g *v1alpha1.Gateway) {
			g.Spec.TLS = &v1alpha1.GatewayTLS{SecretName: "site-tls"}
			httpsPort = g.Spec.Ports.HTTPS
		})
		service(t, ns, "app", []*echo.Server{backend(t, "app", 50)}, nil)
		create(t, simpleRoute(ns, "app", "app.tls.example.com", "app"))
		waitFor(t, tn.url, "app.tls.example.com", "app", http.StatusOK)
		waitConditions(t, tn.gw, gatewayStatus, map[string]string{"ResolvedRefs": "False:SecretNotFound"})
		addr := "127.0.0.1:" + strconv.Itoa(int(httpsPort))
		if err := tlsHandshake(addr, "app.tls.example.com", certPEM); err == nil {
			t.Fatal("TLS handshake succeeded with the other namespace's certificate")
		}

		create(t, secret(ns))
		waitConditions(t, tn.gw, gatewayStatus, allTrue)
		eventually(t, 10*time.Second, func() error { return tlsHandshake(addr, "app.tls.example.com", certPEM) })
	})

	t.Run("ingress: only Ingresses of the Gateway's class get status.loadBalancer, from the Gateway's Service", func(t *testing.T) {
		tn := newTenant(t, "ing", []string{"*.ing.example.com"}, xds, nil)
		service(t, tn.ns, "web", []*echo.Server{backend(t, "web", 60)}, nil)
		gw := &v1alpha1.Gateway{}
		if err := env.client.Get(context.Background(), tn.gw, gw); err != nil {
			t.Fatal(err)
		}
		class := infra.IngressClassName(gw)
		create(t, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "foreign"}, Spec: networkingv1.IngressClassSpec{Controller: "example.com/other"}})
		ing := func(name, class, host string) *networkingv1.Ingress {
			return &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: name},
				Spec: networkingv1.IngressSpec{
					IngressClassName: ptr.To(class),
					Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
						Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
							Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
						}}},
					}}}},
				},
			}
		}
		create(t, ing("mine", class, "web.ing.example.com"))
		create(t, ing("theirs", "foreign", "other.ing.example.com"))
		waitFor(t, tn.url, "web.ing.example.com", "web", http.StatusOK)
		waitFor(t, tn.url, "other.ing.example.com", "", http.StatusNotFound)

		svc := &corev1.Service{}
		eventually(t, 10*time.Second, func() error {
			return env.client.Get(context.Background(), key(tn.ns, infra.ObjectName("gw")), svc)
		})
		eventually(t, 20*time.Second, func() error {
			got := &networkingv1.Ingress{}
			if err := env.client.Get(context.Background(), key(tn.ns, "mine"), got); err != nil {
				return err
			}
			lb := got.Status.LoadBalancer.Ingress
			if len(lb) != 1 || lb[0].IP != svc.Spec.ClusterIP {
				return fmt.Errorf("status.loadBalancer %v, want the Service's cluster IP %s", lb, svc.Spec.ClusterIP)
			}
			return nil
		})
		// The foreign Ingress was seen by the controller (it translated the
		// mine one after it) but never written to.
		theirs := &networkingv1.Ingress{}
		if err := env.client.Get(context.Background(), key(tn.ns, "theirs"), theirs); err != nil {
			t.Fatal(err)
		}
		if len(theirs.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("foreign Ingress got status %v", theirs.Status.LoadBalancer)
		}
		for _, mf := range theirs.ManagedFields {
			if mf.Subresource == "status" {
				t.Errorf("foreign Ingress status written by %s", mf.Manager)
			}
		}
	})

	t.Run("infrastructure: server-side applied objects match the Gateway spec and follow it", func(t *testing.T) {
		ctx := context.Background()
		const ns = "infra"
		namespace(t, ns)
		gw := &v1alpha1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge"},
			Spec: v1alpha1.GatewaySpec{
				Hosts:    []string{"*.infra.example.com"},
				Replicas: ptr.To[int32](3),
				Service: v1alpha1.GatewayService{
					Type:                  corev1.ServiceTypeNodePort,
					NodePorts:             v1alpha1.GatewayNodePorts{HTTP: 30080, HTTPS: 30443},
					ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				},
			},
		}
		create(t, gw)
		name := infra.ObjectName("edge")
		dep, svc := &appsv1.Deployment{}, &corev1.Service{}
		eventually(t, 20*time.Second, func() error {
			for _, o := range []client.Object{dep, svc, &policyv1.PodDisruptionBudget{}, &networkingv1.NetworkPolicy{}, &corev1.ServiceAccount{}} {
				if err := env.client.Get(ctx, key(ns, name), o); err != nil {
					return fmt.Errorf("%T: %w", o, err)
				}
			}
			return env.client.Get(ctx, key("", infra.IngressClassName(gw)), &networkingv1.IngressClass{})
		})
		if err := env.client.Get(ctx, key(ns, "edge"), gw); err != nil {
			t.Fatal(err)
		}
		if err := checkInfra(dep, svc, gw); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(gw.Finalizers, kubernetes.InfraFinalizer) {
			t.Errorf("Gateway finalizers %v lack %s", gw.Finalizers, kubernetes.InfraFinalizer)
		}

		// Drift is repaired: another manager scales the Deployment, someone
		// deletes the Service.
		update(t, key(ns, name), func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](1) })
		if err := env.client.Delete(ctx, svc); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() error {
			if err := env.client.Get(ctx, key(ns, name), dep); err != nil {
				return err
			}
			if err := env.client.Get(ctx, key(ns, name), svc); err != nil {
				return err
			}
			return checkInfra(dep, svc, gw)
		})

		// The objects follow a spec change.
		gw = update(t, key(ns, "edge"), func(g *v1alpha1.Gateway) {
			g.Spec.Replicas = ptr.To[int32](2)
			g.Spec.Service = v1alpha1.GatewayService{Type: corev1.ServiceTypeClusterIP}
			g.Spec.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("512Mi")
		})
		eventually(t, 20*time.Second, func() error {
			if err := env.client.Get(ctx, key(ns, name), dep); err != nil {
				return err
			}
			if err := env.client.Get(ctx, key(ns, name), svc); err != nil {
				return err
			}
			return checkInfra(dep, svc, gw)
		})

		// An apply that changes nothing writes nothing: after one more
		// reconcile (an annotation edit triggers it), the Deployment is
		// untouched.
		rv := dep.ResourceVersion
		before, err := a.reconciles()
		if err != nil {
			t.Fatal(err)
		}
		update(t, key(ns, "edge"), func(g *v1alpha1.Gateway) {
			if g.Annotations == nil {
				g.Annotations = map[string]string{}
			}
			g.Annotations["example.com/touch"] = "1"
		})
		eventually(t, 10*time.Second, func() error {
			n, err := a.reconciles()
			if err == nil && n <= before {
				err = fmt.Errorf("%d reconciles, waiting for more than %d", n, before)
			}
			return err
		})
		if err := env.client.Get(ctx, key(ns, name), dep); err != nil {
			t.Fatal(err)
		}
		if dep.ResourceVersion != rv {
			t.Errorf("re-applying an unchanged Deployment changed it (resourceVersion %s → %s)", rv, dep.ResourceVersion)
		}

		// Deleting the Gateway removes everything, the cluster-scoped
		// IngressClass included, then the finalizer lets it go.
		if err := env.client.Delete(ctx, gw); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() error {
			for _, o := range []client.Object{&v1alpha1.Gateway{}, &appsv1.Deployment{}, &corev1.Service{}, &policyv1.PodDisruptionBudget{}, &networkingv1.NetworkPolicy{}, &corev1.ServiceAccount{}} {
				n := name
				if _, ok := o.(*v1alpha1.Gateway); ok {
					n = "edge"
				}
				if err := env.client.Get(ctx, key(ns, n), o); !apierrors.IsNotFound(err) {
					return fmt.Errorf("%T %s still there (%v)", o, n, err)
				}
			}
			if err := env.client.Get(ctx, key("", infra.IngressClassName(gw)), &networkingv1.IngressClass{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("IngressClass still there (%v)", err)
			}
			return nil
		})
	})

	t.Run("xds: a proxy is refused another gateway's node ID", func(t *testing.T) {
		ta := newGateway(t, "auth-a", []string{"*.auth-a.example.com"}, nil)
		tb := newGateway(t, "auth-b", []string{"*.auth-b.example.com"}, nil)
		_, saA, aud := deploymentIdentity(t, ta.gw)
		_, saB, _ := deploymentIdentity(t, tb.gw)
		for _, c := range []struct {
			name, token, wantErr string
		}{
			// A valid token of tenant-b's proxies, tenant-a's node ID.
			{"another gateway's ServiceAccount", tokenFile(t, tb.ns, saB, aud), "PermissionDenied"},
			// tenant-a's own ServiceAccount, but a token minted for the API
			// server rather than for the ADS server.
			{"a token for another audience", tokenFile(t, ta.ns, saA, "https://kubernetes.default.svc"), "Unauthenticated"},
		} {
			p := startProxyAs(t, ta.gw.String(), c.token, xds, false)
			eventually(t, 20*time.Second, func() error {
				info, err := serverInfo(p.admin)
				if err != nil {
					return err
				}
				if !strings.Contains(info.LastXDSError, c.wantErr) {
					return fmt.Errorf("%s: last xDS error %q, want %s", c.name, info.LastXDSError, c.wantErr)
				}
				return nil
			})
			if err := httpOK(p.admin + "/ready"); err == nil {
				t.Errorf("%s: the proxy became ready", c.name)
			}
			p.stop(syscall.SIGTERM)
		}
		// The same node ID with the right credentials is served.
		startProxy(t, ta.gw, xds, true)
	})

	t.Run("latency: a Route update reaches the proxy", func(t *testing.T) {
		tn := newTenant(t, "latency", []string{"*.latency.example.com"}, xds, nil)
		service(t, tn.ns, "app", []*echo.Server{backend(t, "app", 70)}, nil)
		host := "app.latency.example.com"
		create(t, simpleRoute(tn.ns, "app", host, "app"))
		waitFor(t, tn.url, host, "app", http.StatusOK)
		const updates = 60
		var lat []time.Duration
		for i := 1; i <= updates; i++ {
			rev := strconv.Itoa(i)
			start := time.Now()
			update(t, key(tn.ns, "app"), func(r *v1alpha1.Route) {
				r.Spec.HTTP[0].Headers = &v1alpha1.Headers{Request: &v1alpha1.HeaderOperations{Set: map[string]string{"x-rev": rev}}}
			})
			deadline := start.Add(10 * time.Second)
			for {
				r, err := request(tn.url, host, nil)
				if err == nil && r.reply.Header("X-Rev") == rev {
					lat = append(lat, time.Since(start))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("update %d not seen within 10s (last: %+v, %v)", i, r.status, err)
				}
			}
		}
		slices.Sort(lat)
		p := func(q float64) time.Duration { return lat[int(math.Ceil(q*float64(len(lat))))-1] }
		t.Logf("route update → new behaviour at the proxy, %d updates, update interval 1s (holdoff 100ms): median %s, p99 %s, min %s, max %s",
			len(lat), p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), lat[0].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	})

	// Leadership moves from A to B; B's proxies were connected to B all
	// along (every replica serves xDS from its own caches).
	xdsB := net.JoinHostPort(ip(3), xdsPort)
	b := startController(t, "controller-b", xdsB) // a follower: A holds the lease
	t.Run("leader election: hand-over from A to B loses no update", func(t *testing.T) {
		tn := newTenant(t, "ha", []string{"*.ha.example.com"}, xdsB, nil)
		service(t, tn.ns, "app", []*echo.Server{backend(t, "v1", 80)}, nil)
		service(t, tn.ns, "app2", []*echo.Server{backend(t, "v2", 81)}, nil)
		host := "app.ha.example.com"
		create(t, simpleRoute(tn.ns, "app", host, "app"))
		waitFor(t, tn.url, host, "v1", http.StatusOK)
		before := leaseHolder(t)

		// A stops (releasing the lease); the updates made right away must
		// all be carried out by B: status for the Route's new generation,
		// the Deployment of a Gateway created meanwhile.
		a.stop(syscall.SIGTERM)
		r := update(t, key(tn.ns, "app"), func(r *v1alpha1.Route) { r.Spec.HTTP[0].Route[0].Destination.Host = "app2" })
		create(t, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: tn.ns, Name: "late"}, Spec: v1alpha1.GatewaySpec{Hosts: []string{"*.late.example.com"}}})
		waitFor(t, tn.url, host, "v2", http.StatusOK)
		got := waitConditions(t, key(tn.ns, "app"), routeStatus, allTrue)
		if got.Status.ObservedGeneration != r.Generation {
			t.Errorf("route status describes generation %d, want %d", got.Status.ObservedGeneration, r.Generation)
		}
		deploymentIdentity(t, key(tn.ns, "late"))
		if after := leaseHolder(t); after == before {
			t.Errorf("lease still held by %s", after)
		}
	})
	t.Run("controller restart: proxies keep serving and resync", func(t *testing.T) {
		tn := newTenant(t, "restart", []string{"*.restart.example.com"}, xdsB, nil)
		service(t, tn.ns, "app", []*echo.Server{backend(t, "v1", 90)}, nil)
		service(t, tn.ns, "app2", []*echo.Server{backend(t, "v2", 91)}, nil)
		host := "app.restart.example.com"
		create(t, simpleRoute(tn.ns, "app", host, "app"))
		waitFor(t, tn.url, host, "v1", http.StatusOK)

		ld := startLoad(tn.url, host, 2)
		// A crash: no lease release, no goodbye to the proxies.
		b.stop(syscall.SIGKILL)
		update(t, key(tn.ns, "app"), func(r *v1alpha1.Route) { r.Spec.HTTP[0].Route[0].Destination.Host = "app2" })
		time.Sleep(2 * time.Second) // the proxies run without a control plane meanwhile
		if got := ld.snapshot(); got["v2"] != 0 || got["v1"] == 0 {
			t.Errorf("without a control plane: answers %v, want v1 only", got)
		}
		startController(t, "controller-c", xdsB)
		waitFor(t, tn.url, host, "v2", http.StatusOK)
		waitConditions(t, key(tn.ns, "app"), routeStatus, allTrue)
		ok, failed, firstErr := ld.finish()
		t.Logf("load across the restart: %d ok, %d failed", ok, failed)
		if failed > 0 {
			t.Errorf("%d requests failed across the controller restart; first: %v", failed, firstErr)
		}
	})
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// leaseHolder returns the controller's leader-election Lease holder.
func leaseHolder(t *testing.T) string {
	t.Helper()
	l := &coordinationv1.Lease{}
	var h string
	eventually(t, 20*time.Second, func() error {
		if err := env.client.Get(context.Background(), key(controllerNamespace, "ksgw-controller-leader"), l); err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return fmt.Errorf("lease has no holder")
		}
		h = *l.Spec.HolderIdentity
		return nil
	})
	return h
}

// checkInfra compares the applied Deployment and Service with the Gateway.
func checkInfra(dep *appsv1.Deployment, svc *corev1.Service, gw *v1alpha1.Gateway) error {
	if dep.Spec.Replicas == nil || gw.Spec.Replicas == nil || *dep.Spec.Replicas != *gw.Spec.Replicas {
		return fmt.Errorf("deployment replicas %v, gateway %v", dep.Spec.Replicas, gw.Spec.Replicas)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	for name, q := range gw.Spec.Resources.Limits {
		if got := c.Resources.Limits[name]; got.Cmp(q) != 0 {
			return fmt.Errorf("limit %s %s, want %s", name, got.String(), q.String())
		}
	}
	for name, q := range gw.Spec.Resources.Requests {
		if got := c.Resources.Requests[name]; got.Cmp(q) != 0 {
			return fmt.Errorf("request %s %s, want %s", name, got.String(), q.String())
		}
	}
	wantType := gw.Spec.Service.Type
	if wantType == "" {
		wantType = corev1.ServiceTypeClusterIP
	}
	if svc.Spec.Type != wantType {
		return fmt.Errorf("service type %s, want %s", svc.Spec.Type, wantType)
	}
	if wantType != corev1.ServiceTypeClusterIP {
		want := map[string]int32{"http": gw.Spec.Service.NodePorts.HTTP, "https": gw.Spec.Service.NodePorts.HTTPS}
		for _, p := range svc.Spec.Ports {
			if w := want[p.Name]; w != 0 && p.NodePort != w {
				return fmt.Errorf("service port %s nodePort %d, want %d", p.Name, p.NodePort, w)
			}
		}
		if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicy(gw.Spec.Service.ExternalTrafficPolicy) {
			return fmt.Errorf("externalTrafficPolicy %s, want %s", svc.Spec.ExternalTrafficPolicy, gw.Spec.Service.ExternalTrafficPolicy)
		}
	}
	for _, o := range []client.Object{dep, svc} {
		ref := metav1.GetControllerOf(o)
		if ref == nil || ref.UID != gw.UID || ref.Kind != v1alpha1.KindGateway {
			return fmt.Errorf("%T %s: controller reference %v, want Gateway %s", o, o.GetName(), ref, gw.UID)
		}
		applied := false
		for _, mf := range o.GetManagedFields() {
			if mf.Manager == kubernetes.FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply {
				applied = true
			}
		}
		if !applied {
			return fmt.Errorf("%T %s: no server-side apply by %q in managedFields", o, o.GetName(), kubernetes.FieldManager)
		}
	}
	return nil
}

func tlsHandshake(addr, serverName string, caPEM []byte) error {
	pool := x509Pool(caPEM)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{ServerName: serverName, RootCAs: pool})
	if err != nil {
		return err
	}
	return conn.Close()
}
