package translate

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/resource"
	"github.com/ksgw/ksgw/internal/status"
)

// index holds the lookups every translation needs, built once per
// Translate so that no step scans the whole bundle per object (10,000
// Routes must translate in well under a second).
type index struct {
	services  map[string]*corev1.Service              // "ns/name"
	slices    map[string][]*discoveryv1.EndpointSlice // "ns/service", by kubernetes.io/service-name
	podsByNs  map[string][]*corev1.Pod                // input order (sorted by name)
	podByName map[string]*corev1.Pod                  // "ns/name"
	podByIP   map[string]*corev1.Pod                  // "ns/ip"
	secrets   map[string]*corev1.Secret               // "ns/name"
}

func buildIndex(in *resource.Resources) *index {
	x := &index{
		services:  make(map[string]*corev1.Service, len(in.Services)),
		slices:    map[string][]*discoveryv1.EndpointSlice{},
		podsByNs:  map[string][]*corev1.Pod{},
		podByName: make(map[string]*corev1.Pod, len(in.Pods)),
		podByIP:   make(map[string]*corev1.Pod, len(in.Pods)),
		secrets:   make(map[string]*corev1.Secret, len(in.Secrets)),
	}
	for _, s := range in.Services {
		x.services[s.Namespace+"/"+s.Name] = s
	}
	for _, es := range in.EndpointSlices {
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := es.Namespace + "/" + svc
			x.slices[k] = append(x.slices[k], es)
		}
	}
	for _, p := range in.Pods {
		x.podsByNs[p.Namespace] = append(x.podsByNs[p.Namespace], p)
		x.podByName[p.Namespace+"/"+p.Name] = p
		if p.Status.PodIP != "" {
			x.podByIP[p.Namespace+"/"+p.Status.PodIP] = p
		}
		for _, ip := range p.Status.PodIPs {
			if ip.IP != "" {
				x.podByIP[p.Namespace+"/"+ip.IP] = p
			}
		}
	}
	for _, s := range in.Secrets {
		x.secrets[s.Namespace+"/"+s.Name] = s
	}
	return x
}

// clusterState is a cluster and what it needs beyond the IR.
type clusterState struct {
	c *ir.Cluster
}

// backendRef is a destination as written: a Service in a namespace and a
// port given by number, by name (Ingress only), or not at all.
type backendRef struct {
	ns, service string
	portNumber  int32
	portName    string
	subset      string
}

// refError says why a backend does not resolve. The route keeps the
// backend, whose cluster has no endpoints and answers 503 with the message
// (as Envoy Gateway does for an unresolved backendRef), and the referencing
// object gets ResolvedRefs=False with reason.
type refError struct {
	reason string
	msg    string
}

// resolveBackend returns the name of the cluster serving ref, creating it
// once per translation. A non-nil refError reports an unresolved or
// unready backend; the cluster exists regardless, so that routes never
// point at a missing cluster (DESIGN §6, "cluster not found" 503s).
func (t *translator) resolveBackend(ref backendRef) (string, *refError) {
	svcKey := ref.ns + "/" + ref.service
	svc := t.idx.services[svcKey]
	portLabel := "0"
	switch {
	case ref.portNumber != 0:
		portLabel = strconv.Itoa(int(ref.portNumber))
	case ref.portName != "":
		portLabel = ref.portName
	}
	if svc == nil {
		name := clusterName(ref.ns, ref.service, portLabel, ref.subset)
		msg := fmt.Sprintf("Service %s not found", svcKey)
		t.emptyCluster(name, ref, msg)
		return name, &refError{status.ReasonBackendNotFound, msg}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// An ExternalName Service is a DNS CNAME; resolving it would need
		// STRICT_DNS clusters and DNS at translate time, which a pure
		// translator cannot do. Unsupported, with a 503 like a missing one.
		name := clusterName(ref.ns, ref.service, portLabel, ref.subset)
		msg := fmt.Sprintf("Service %s is of type ExternalName, which ksgw does not support", svcKey)
		t.emptyCluster(name, ref, msg)
		return name, &refError{status.ReasonUnsupported, msg}
	}
	sp, perr := servicePort(svc, ref)
	if perr != "" {
		name := clusterName(ref.ns, ref.service, portLabel, ref.subset)
		t.emptyCluster(name, ref, perr)
		return name, &refError{status.ReasonBackendNotFound, perr}
	}
	name := clusterName(ref.ns, ref.service, strconv.Itoa(int(sp.Port)), ref.subset)
	if cs, ok := t.clusters[name]; ok {
		return name, noEndpointsError(cs.c)
	}
	var labels map[string]string
	var pol *clusterPolicy
	dr := t.drs[svcKey]
	if dr != nil {
		pol = dr.policy
	}
	if ref.subset != "" {
		var ss *subsetState
		if dr != nil {
			ss = dr.subsets[ref.subset]
		}
		if ss == nil {
			msg := fmt.Sprintf("subset %q of Service %s is not defined by any DestinationRule", ref.subset, svcKey)
			t.emptyCluster(name, ref, msg)
			return name, &refError{status.ReasonSubsetNotFound, msg}
		}
		labels, pol = ss.labels, ss.policy
	}
	c := &ir.Cluster{
		Name:         name,
		Source:       ir.ObjectRef{Kind: "Service", Namespace: ref.ns, Name: ref.service},
		Protocol:     protocolOf(sp, pol),
		LoadBalancer: ir.LoadBalancer{Policy: ir.LeastRequest},
	}
	c.Endpoints = t.endpoints(svc, sp, labels)
	if pol != nil {
		pol.apply(c)
	}
	if dr != nil {
		dr.usedBy = append(dr.usedBy, name)
	}
	switch {
	case pol != nil && pol.brokenTLS != "":
		c.Endpoints = nil
		c.NoEndpointsReason = pol.brokenTLS
	case !anyReady(c.Endpoints):
		c.NoEndpointsReason = noEndpointsReason(svcKey, ref.subset, len(c.Endpoints))
	}
	t.clusters[name] = &clusterState{c: c}
	return name, noEndpointsError(c)
}

func noEndpointsError(c *ir.Cluster) *refError {
	if c.NoEndpointsReason == "" {
		return nil
	}
	return &refError{status.ReasonNoReadyEndpoints, fmt.Sprintf("cluster %s: %s", c.Name, c.NoEndpointsReason)}
}

func noEndpointsReason(svcKey, subset string, n int) string {
	what := "Service " + svcKey
	if subset != "" {
		what = fmt.Sprintf("subset %q of Service %s", subset, svcKey)
	}
	if n == 0 {
		return what + " selects no endpoint"
	}
	return what + " selects no ready endpoint"
}

func anyReady(eps []ir.Endpoint) bool {
	for _, e := range eps {
		if e.Ready {
			return true
		}
	}
	return false
}

// emptyCluster creates a cluster without endpoints for an unresolved
// backend, so that the proxy answers 503 with the reason.
func (t *translator) emptyCluster(name string, ref backendRef, reason string) {
	if _, ok := t.clusters[name]; ok {
		return
	}
	t.clusters[name] = &clusterState{c: &ir.Cluster{
		Name:              name,
		Source:            ir.ObjectRef{Kind: "Service", Namespace: ref.ns, Name: ref.service},
		LoadBalancer:      ir.LoadBalancer{Policy: ir.LeastRequest},
		NoEndpointsReason: reason,
	}}
}

func clusterName(ns, svc, port, subset string) string {
	n := ns + "/" + svc + "/" + port
	if subset != "" {
		n += "/" + subset
	}
	return n
}

// servicePort finds the Service port a reference names. Without a port, a
// Service with exactly one port is unambiguous (Istio Destination.port).
func servicePort(svc *corev1.Service, ref backendRef) (*corev1.ServicePort, string) {
	ports := svc.Spec.Ports
	key := svc.Namespace + "/" + svc.Name
	switch {
	case ref.portNumber != 0:
		for i := range ports {
			if ports[i].Port == ref.portNumber {
				return &ports[i], ""
			}
		}
		return nil, fmt.Sprintf("Service %s has no port %d", key, ref.portNumber)
	case ref.portName != "":
		for i := range ports {
			if ports[i].Name == ref.portName {
				return &ports[i], ""
			}
		}
		return nil, fmt.Sprintf("Service %s has no port named %q", key, ref.portName)
	case len(ports) == 1:
		return &ports[0], ""
	case len(ports) == 0:
		return nil, fmt.Sprintf("Service %s has no ports", key)
	default:
		return nil, fmt.Sprintf("Service %s has %d ports; destination.port is required", key, len(ports))
	}
}

// protocolOf picks HTTP/2 the way Istio's protocol selection does: an
// explicit h2UpgradePolicy UPGRADE, the port's appProtocol
// (kubernetes.io/h2c, grpc, http2) or its name ("grpc", "grpc-*", "http2",
// "http2-*", "h2c", "h2c-*").
func protocolOf(sp *corev1.ServicePort, pol *clusterPolicy) ir.Protocol {
	if pol != nil && pol.upgradeH2 {
		return ir.HTTP2
	}
	if sp.AppProtocol != nil {
		switch strings.ToLower(*sp.AppProtocol) {
		case "kubernetes.io/h2c", "grpc", "http2", "h2c":
			return ir.HTTP2
		}
	}
	name := strings.ToLower(sp.Name)
	for _, p := range []string{"grpc", "http2", "h2c"} {
		if name == p || strings.HasPrefix(name, p+"-") {
			return ir.HTTP2
		}
	}
	return ir.HTTP1
}

// endpoints lists the addresses behind one Service port, optionally limited
// to pods carrying labels (a subset). EndpointSlices are authoritative when
// any exists for the Service, as for kube-proxy; a Service with a selector
// and no EndpointSlice (standalone files) falls back to its Pods.
func (t *translator) endpoints(svc *corev1.Service, sp *corev1.ServicePort, labels map[string]string) []ir.Endpoint {
	key := svc.Namespace + "/" + svc.Name
	var eps []ir.Endpoint
	if ess := t.idx.slices[key]; len(ess) > 0 {
		eps = t.sliceEndpoints(svc.Namespace, ess, sp, labels)
	} else if len(svc.Spec.Selector) > 0 {
		eps = t.podEndpoints(svc, sp, labels)
	}
	return sortEndpoints(eps)
}

// sliceEndpoints reads EndpointSlices as kube-proxy does: the slice port
// whose name equals the Service port's name; ready == nil counts as ready
// (discovery/v1 EndpointConditions); terminating endpoints are not ready.
func (t *translator) sliceEndpoints(ns string, ess []*discoveryv1.EndpointSlice, sp *corev1.ServicePort, labels map[string]string) []ir.Endpoint {
	var eps []ir.Endpoint
	for _, es := range ess {
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		var port int32
		found := false
		for _, p := range es.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == sp.Name && p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				port, found = *p.Port, true
				break
			}
		}
		if !found {
			continue
		}
		for _, e := range es.Endpoints {
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				ready = false
			}
			zone := ""
			if e.Zone != nil {
				zone = *e.Zone
			}
			for _, a := range e.Addresses {
				if len(labels) > 0 && !t.podHasLabels(ns, e.TargetRef, a, labels) {
					continue
				}
				eps = append(eps, ir.Endpoint{Address: a, Port: uint32(port), Ready: ready, Zone: zone})
			}
		}
	}
	return eps
}

// podHasLabels finds an endpoint's Pod by its targetRef, else by IP.
func (t *translator) podHasLabels(ns string, ref *corev1.ObjectReference, ip string, labels map[string]string) bool {
	var pod *corev1.Pod
	if ref != nil && ref.Kind == "Pod" {
		pns := ref.Namespace
		if pns == "" {
			pns = ns
		}
		pod = t.idx.podByName[pns+"/"+ref.Name]
	}
	if pod == nil {
		pod = t.idx.podByIP[ns+"/"+ip]
	}
	return pod != nil && hasLabels(pod.Labels, labels)
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// podEndpoints selects Pods like the EndpointSlice controller does: the
// Service's selector, a pod IP, not finished. Readiness is the Ready
// condition; a Pod with no Ready condition at all counts as ready, a
// convenience for hand-written standalone files (a kubelet always writes
// the condition, so in a cluster this never applies).
func (t *translator) podEndpoints(svc *corev1.Service, sp *corev1.ServicePort, labels map[string]string) []ir.Endpoint {
	var eps []ir.Endpoint
	for _, p := range t.idx.podsByNs[svc.Namespace] {
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if !hasLabels(p.Labels, svc.Spec.Selector) || !hasLabels(p.Labels, labels) {
			continue
		}
		port, ok := targetPort(sp, p)
		if !ok {
			continue
		}
		ready := p.DeletionTimestamp == nil
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = ready && c.Status == corev1.ConditionTrue
			}
		}
		eps = append(eps, ir.Endpoint{Address: p.Status.PodIP, Port: port, Ready: ready})
	}
	return eps
}

// targetPort resolves a Service port's targetPort for one Pod: a number, a
// container port name (per Pod, as the EndpointSlice controller does), or
// the Service port itself when unset.
func targetPort(sp *corev1.ServicePort, p *corev1.Pod) (uint32, bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.String {
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == tp.StrVal && (cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP) {
					return uint32(cp.ContainerPort), true
				}
			}
		}
		return 0, false
	}
	if tp.IntVal != 0 {
		return uint32(tp.IntVal), true
	}
	return uint32(sp.Port), true
}

// sortEndpoints orders by address (numerically for IPs), then port, and
// merges duplicates (one address in two slices while a slice is being
// replaced): ready if either copy is ready.
func sortEndpoints(eps []ir.Endpoint) []ir.Endpoint {
	if len(eps) == 0 {
		return nil
	}
	slices.SortFunc(eps, func(a, b ir.Endpoint) int {
		pa, ea := netip.ParseAddr(a.Address)
		pb, eb := netip.ParseAddr(b.Address)
		if ea == nil && eb == nil {
			if c := pa.Compare(pb); c != 0 {
				return c
			}
		} else if c := cmp.Compare(a.Address, b.Address); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Zone, b.Zone))
	})
	out := eps[:1]
	for _, e := range eps[1:] {
		last := &out[len(out)-1]
		if last.Address == e.Address && last.Port == e.Port {
			last.Ready = last.Ready || e.Ready
			continue
		}
		out = append(out, e)
	}
	return out
}

// parseServiceHost resolves an Istio destination host to a Service of
// namespace ns: "svc", "svc.ns", "svc.ns.svc" or "svc.ns.svc.<cluster
// domain>". It returns the Service name and its namespace as written; ok is
// false when host has none of these forms.
func parseServiceHost(host, ns string) (svc, svcNs string, ok bool) {
	parts := strings.Split(host, ".")
	switch {
	case len(parts) == 1:
		return parts[0], ns, parts[0] != ""
	case len(parts) == 2 || (len(parts) >= 3 && parts[2] == "svc"):
		return parts[0], parts[1], parts[0] != "" && parts[1] != ""
	}
	return "", "", false
}
