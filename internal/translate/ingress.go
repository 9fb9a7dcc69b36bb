package translate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/status"
)

// Annotations read from Ingresses and IngressClasses.
const (
	// AnnotationIngressClass is the legacy class annotation, still honoured
	// by every controller when spec.ingressClassName is unset.
	AnnotationIngressClass = "kubernetes.io/ingress.class"
	// AnnotationDefaultClass marks the cluster's default IngressClass.
	AnnotationDefaultClass = "ingressclass.kubernetes.io/is-default-class"
	// AnnotationClassGateway on an IngressClass names the Gateway
	// ("namespace/name") serving its Ingresses, as an alternative to
	// spec.parameters.
	AnnotationClassGateway = "ksgw.kubesphere.io/gateway"
)

// translateIngresses serves the Ingresses of ksgw's classes, with the
// semantics of networking.k8s.io/v1.
//
// Class selection, in order:
//   - spec.ingressClassName, else the legacy annotation
//     kubernetes.io/ingress.class, names the class. The Ingress is ksgw's
//     when an IngressClass of that name has spec.controller
//     kubesphere.io/ksgw, or, when no IngressClass of that name exists, a
//     Gateway declares it in spec.ingressClassName.
//   - An Ingress without a class is ksgw's when an IngressClass of ksgw is
//     marked default (ingressclass.kubernetes.io/is-default-class: "true"),
//     or when the bundle holds no IngressClass at all: a standalone
//     directory of YAML then needs no IngressClass boilerplate.
//   - Ingresses of other controllers are ignored and get no status.
//
// Gateway selection: the Gateways naming the class (Gateway
// spec.ingressClassName, the IngressClass's spec.parameters of kind
// Gateway in group networking.kubesphere.io, or its annotation
// ksgw.kubesphere.io/gateway), restricted by tenancy to the Ingress's
// namespace and the cluster gateway; when the class names none, the
// Gateways of the Ingress's namespace, else the cluster gateway — skipping
// Gateways that declare a different class.
//
// Paths: Exact → exact match; Prefix → whole-segment prefix with a trailing
// slash ignored (ir.PathSegmentPrefix; "/" matches everything);
// ImplementationSpecific is treated as Prefix, the most common reading among
// controllers (ingress-nginx treats it as a prefix too). Precedence is
// Kubernetes': longest path first, Exact before Prefix on a tie, across
// every Ingress on the host (hosts.go). Rules without a host apply to every
// host of the Gateway ("*" for a Gateway without hosts). defaultBackend is a
// catch-all after every path on each host the Ingress claims, including the
// Gateway's hosts. spec.tls adds certificates (Secrets of the Ingress's
// namespace only) for its hosts to the https listener.
func (t *translator) translateIngresses() {
	classes := map[string]*networkingv1.IngressClass{}
	var defaultClass *networkingv1.IngressClass
	for _, c := range t.in.IngressClasses {
		classes[c.Name] = c
		if c.Spec.Controller == t.opts.ControllerName && c.Annotations[AnnotationDefaultClass] == "true" && defaultClass == nil {
			defaultClass = c
		}
	}
	declared := map[string]bool{}
	for _, g := range t.gateways {
		if n := g.obj.Spec.IngressClassName; n != "" {
			declared[n] = true
		}
	}
	for _, ing := range t.in.Ingresses {
		className := ""
		if ing.Spec.IngressClassName != nil {
			className = *ing.Spec.IngressClassName
		} else {
			className = ing.Annotations[AnnotationIngressClass]
		}
		var class *networkingv1.IngressClass
		switch {
		case className != "":
			class = classes[className]
			if class != nil && class.Spec.Controller != t.opts.ControllerName {
				continue
			}
			if class == nil && !declared[className] {
				continue
			}
		case defaultClass != nil:
			class, className = defaultClass, defaultClass.Name
		case len(t.in.IngressClasses) > 0:
			continue
		}
		src := t.sourceFor(KindIngress, ing.Namespace, ing.Name)
		src.st = t.newStatus(KindIngress, ing)
		t.translateIngress(ing, src, className, class)
	}
}

// ingressHost is the routes one Ingress rule host contributes; host "" is
// a rule without host.
type ingressHost struct {
	host   string
	field  string
	routes []ingressRoute
}

func (t *translator) translateIngress(ing *networkingv1.Ingress, src *source, className string, class *networkingv1.IngressClass) {
	ok := true
	invalid := func(reason, field, msg string) {
		t.fail(src.st, status.Accepted, reason, field, msg)
		ok = false
	}
	if len(ing.Spec.Rules) == 0 && ing.Spec.DefaultBackend == nil {
		invalid(status.ReasonInvalidRoute, "spec", "one of rules or defaultBackend is required")
	}
	backend := func(f string, b *networkingv1.IngressBackend) string {
		if b.Resource != nil || b.Service == nil {
			invalid(status.ReasonUnsupported, f, "only service backends are supported")
			return ""
		}
		ref := backendRef{ns: ing.Namespace, service: b.Service.Name, portNumber: b.Service.Port.Number, portName: b.Service.Port.Name}
		if ref.portNumber == 0 && ref.portName == "" {
			invalid(status.ReasonInvalidRoute, f+".service.port", "one of number or name is required")
			return ""
		}
		name, rerr := t.resolveBackend(ref)
		t.refProblem(src.st, f+".service", rerr)
		return name
	}
	ref := src.ref()
	var hosts []ingressHost
	byHost := map[string]int{}
	order := 0
	for i, rule := range ing.Spec.Rules {
		rf := fmt.Sprintf("spec.rules[%d]", i)
		host := strings.ToLower(rule.Host)
		if host != "" {
			msg := validHost(host)
			if host == "*" {
				msg = `"*" is not a valid host; omit host to match every host`
			}
			if msg != "" {
				invalid(status.ReasonInvalidRoute, rf+".host", msg)
				continue
			}
		}
		hi, seen := byHost[host]
		if !seen {
			hi = len(hosts)
			byHost[host] = hi
			hosts = append(hosts, ingressHost{host: host, field: rf + ".host"})
		}
		if rule.HTTP == nil {
			continue
		}
		for j, p := range rule.HTTP.Paths {
			pf := fmt.Sprintf("%s.http.paths[%d]", rf, j)
			if p.PathType == nil {
				invalid(status.ReasonInvalidRoute, pf+".pathType", "must be one of Exact, Prefix, ImplementationSpecific")
				continue
			}
			path := p.Path
			if path == "" {
				path = "/"
			}
			if !strings.HasPrefix(path, "/") {
				invalid(status.ReasonInvalidRoute, pf+".path", "must be an absolute path")
				continue
			}
			ir0 := ingressRoute{order: order}
			order++
			var m ir.PathMatch
			switch *p.PathType {
			case networkingv1.PathTypeExact:
				m = ir.PathMatch{Kind: ir.PathExact, Value: path}
				ir0.exact = true
			case networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific:
				if v := strings.TrimRight(path, "/"); v != "" {
					m = ir.PathMatch{Kind: ir.PathSegmentPrefix, Value: v}
				} else {
					m = ir.PathMatch{Kind: ir.PathPrefix, Value: "/"} // "/" matches every path
				}
			default:
				invalid(status.ReasonInvalidRoute, pf+".pathType", fmt.Sprintf("%q is not one of Exact, Prefix, ImplementationSpecific", *p.PathType))
				continue
			}
			ir0.pathLen = len(m.Value)
			cluster := backend(pf+".backend", &p.Backend)
			ir0.r = &ir.Route{
				Name:    "ingress/" + ing.Namespace + "/" + ing.Name + "/rule/" + strconv.Itoa(i) + "/path/" + strconv.Itoa(j),
				Source:  ref,
				Match:   ir.Match{Path: m},
				Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: cluster, Weight: 1}}},
			}
			hosts[hi].routes = append(hosts[hi].routes, ir0)
		}
	}
	var catchAll *ingressRoute
	if db := ing.Spec.DefaultBackend; db != nil {
		cluster := backend("spec.defaultBackend", db)
		catchAll = &ingressRoute{catchAll: true, order: order, r: &ir.Route{
			Name:    "ingress/" + ing.Namespace + "/" + ing.Name + "/defaultBackend",
			Source:  ref,
			Match:   ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/"}},
			Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: cluster, Weight: 1}}},
		}}
	}
	if !ok {
		src.st.Set(status.Programmed, false, status.ReasonPending, "the Ingress is invalid and was not programmed")
		return
	}
	gws := t.ingressGateways(src.st, ing, className, class)
	covered := map[string]bool{}
	for _, g := range gws {
		claims := map[string]*claim{}
		var claimOrder []string
		add := func(h string, rs []ingressRoute) {
			c := claims[h]
			if c == nil {
				c = &claim{host: h, src: src}
				claims[h] = c
				claimOrder = append(claimOrder, h)
			}
			c.ingress = append(c.ingress, rs...)
		}
		for _, ih := range hosts {
			if ih.host == "" {
				for _, gh := range g.hosts {
					add(gh, ih.routes)
				}
				continue
			}
			if g.covers(ih.host) {
				covered[ih.host] = true
				add(ih.host, ih.routes)
			}
		}
		if catchAll != nil {
			for _, gh := range g.hosts {
				add(gh, nil)
			}
			for _, h := range claimOrder {
				claims[h].ingress = append(claims[h].ingress, *catchAll)
			}
		}
		for _, h := range claimOrder {
			if len(claims[h].ingress) > 0 {
				g.claims = append(g.claims, claims[h])
			}
		}
		for k, tls := range ing.Spec.TLS {
			tf := fmt.Sprintf("spec.tls[%d]", k)
			if tls.SecretName == "" {
				continue // SNI only: served by the Gateway's own certificate
			}
			secret, rerr := t.certSecret(ing.Namespace, tls.SecretName, true)
			if rerr != nil {
				continue // reported once below
			}
			tlsHosts := tls.Hosts
			if len(tlsHosts) == 0 {
				for _, ih := range hosts {
					if ih.host != "" {
						tlsHosts = append(tlsHosts, ih.host)
					}
				}
			}
			for m, h := range tlsHosts {
				h = strings.ToLower(h)
				if g.covers(h) && h != "*" {
					g.ingressCerts = append(g.ingressCerts, ingressCert{src: src, secret: secret, host: h, field: fmt.Sprintf("%s.hosts[%d]", tf, m)})
				}
			}
		}
	}
	for k, tls := range ing.Spec.TLS {
		if tls.SecretName != "" {
			if _, rerr := t.certSecret(ing.Namespace, tls.SecretName, true); rerr != nil {
				t.fail(src.st, status.ResolvedRefs, rerr.reason, fmt.Sprintf("spec.tls[%d].secretName", k), rerr.msg)
			}
		}
	}
	if len(gws) == 0 {
		return
	}
	for _, ih := range hosts {
		if ih.host != "" && !covered[ih.host] {
			t.fail(src.st, status.Accepted, status.ReasonNotAllowedByGateway, ih.field,
				fmt.Sprintf("host %q is not within the hosts of Gateway %s", ih.host, gatewayNames(gws)))
		}
	}
}

// ingressGateways picks the Gateways serving an Ingress (see
// translateIngresses).
func (t *translator) ingressGateways(st *status.ObjectStatus, ing *networkingv1.Ingress, className string, class *networkingv1.IngressClass) []*gatewayState {
	var named []string
	if class != nil {
		if p := class.Spec.Parameters; p != nil && p.APIGroup != nil && *p.APIGroup == v1alpha1.GroupName && p.Kind == v1alpha1.KindGateway {
			ns := t.opts.ControllerNamespace
			if p.Namespace != nil && *p.Namespace != "" {
				ns = *p.Namespace
			}
			named = append(named, ns+"/"+p.Name)
		}
		if a := class.Annotations[AnnotationClassGateway]; a != "" {
			if !strings.Contains(a, "/") {
				a = t.opts.ControllerNamespace + "/" + a
			}
			named = append(named, a)
		}
	}
	if className != "" {
		for _, g := range t.gateways {
			if g.obj.Spec.IngressClassName == className {
				named = append(named, g.key)
			}
		}
	}
	slices.Sort(named)
	named = slices.Compact(named)
	if len(named) > 0 {
		var out []*gatewayState
		var foreign []string
		for _, key := range named {
			g := t.gwByKey[key]
			switch {
			case g == nil:
				t.fail(st, status.Accepted, status.ReasonNoGateway, "", fmt.Sprintf("Gateway %s of IngressClass %q not found", key, className))
			case g.obj.Namespace != ing.Namespace && !g.cluster:
				foreign = append(foreign, key)
			case !g.valid:
				t.fail(st, status.Accepted, status.ReasonNoGateway, "", fmt.Sprintf("Gateway %s is not accepted", key))
			default:
				out = append(out, g)
			}
		}
		if len(out) == 0 && len(foreign) > 0 {
			t.fail(st, status.Accepted, status.ReasonNotAllowedByGateway, "spec.ingressClassName",
				fmt.Sprintf("IngressClass %q is served by Gateway %s in another namespace; an Ingress may use only Gateways of its own namespace or the cluster gateway", className, strings.Join(foreign, ", ")))
		}
		return out
	}
	eligible := func(gs []*gatewayState) []*gatewayState {
		var out []*gatewayState
		for _, g := range gs {
			if n := g.obj.Spec.IngressClassName; n == "" || n == className {
				out = append(out, g)
			}
		}
		return out
	}
	gws := eligible(t.gwAllByNs[ing.Namespace])
	if len(gws) == 0 {
		gws = eligible(t.clusterGW)
	}
	if len(gws) == 0 {
		t.fail(st, status.Accepted, status.ReasonNoGateway, "",
			fmt.Sprintf("no Gateway in namespace %s and no cluster gateway in namespace %s", ing.Namespace, t.opts.ControllerNamespace))
		return nil
	}
	var out []*gatewayState
	for _, g := range gws {
		if g.valid {
			out = append(out, g)
		} else {
			t.fail(st, status.Accepted, status.ReasonNoGateway, "", fmt.Sprintf("Gateway %s is not accepted", g.key))
		}
	}
	return out
}
