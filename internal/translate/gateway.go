package translate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/status"
)

// gatewayState is one Gateway object during translation.
type gatewayState struct {
	obj     *v1alpha1.Gateway
	key     string // "ns/name", the IR Gateway name and xDS node ID
	st      *status.ObjectStatus
	cluster bool // in the controller's namespace: serves namespaces without a Gateway
	valid   bool

	// hosts as declared, lower case; ["*"] when the Gateway declares none
	// (it then serves any host: the usual cluster gateway behind which
	// Ingresses bring their own hosts).
	hosts     []string
	httpPort  uint32
	httpsPort uint32

	tls       *ir.ListenerTLS // TLS parameters without certificates; nil: no gateway TLS
	gwCert    string          // IR secret name of the Gateway's own certificate
	tlsBroken bool            // TLS asked for but unusable: no https listener (fail closed)

	claims       []*claim      // hosts claimed by Routes and Ingresses (hosts.go)
	ingressCerts []ingressCert // Ingress tls entries bound to this gateway
	hostOwner    map[string]string
	routePorts   map[*ir.Route]uint32 // routes limited to one listener port (Route match.port)

	out *ir.Gateway
}

// covers reports whether host falls inside the Gateway's hosts: equal, or
// under a "*." wildcard by exactly one label (Kubernetes Ingress wildcard
// semantics, DESIGN §4), or the Gateway serves any host ("*").
func (g *gatewayState) covers(host string) bool {
	for _, gh := range g.hosts {
		if hostCovers(gh, host) {
			return true
		}
	}
	return false
}

func hostCovers(gh, host string) bool {
	if gh == "*" || gh == host {
		return true
	}
	if suffix, ok := strings.CutPrefix(gh, "*"); ok && !strings.HasPrefix(host, "*") {
		label, found := strings.CutSuffix(host, suffix)
		return found && label != "" && !strings.Contains(label, ".")
	}
	return false
}

// translateGateways validates every Gateway and prepares its listeners.
//
// Listeners (DESIGN §4): "http-<ports.http>" (default 8080) always; and
// "https-<ports.https>" (default 8443) when the Gateway has a usable
// certificate — its own tls.secretName (a kubernetes.io/tls Secret of its
// namespace) or those of the Ingresses it serves (Ingress spec.tls). A
// Gateway whose TLS is asked for but broken (missing Secret, missing client
// CA, bad versions) gets no https listener at all rather than a weaker one,
// and keeps serving plain HTTP; the condition says why.
func (t *translator) translateGateways() {
	all := map[string][]*gatewayState{}
	for _, gw := range t.in.Gateways {
		g := &gatewayState{obj: gw, key: gw.Namespace + "/" + gw.Name, st: t.newStatus(KindGateway, gw), cluster: gw.Namespace == t.opts.ControllerNamespace}
		t.gateways = append(t.gateways, g)
		t.gwByKey[g.key] = g
		all[gw.Namespace] = append(all[gw.Namespace], g)
		g.valid = t.validateGateway(g)
		if !g.valid {
			g.st.Default(status.ResolvedRefs, status.ReasonResolvedRefs, "references not checked: the Gateway is invalid")
			g.st.Set(status.Programmed, false, status.ReasonPending, "Gateway is not accepted")
			continue
		}
		t.gatewayTLS(g)
		t.gwByNs[gw.Namespace] = append(t.gwByNs[gw.Namespace], g)
		if g.cluster {
			t.clusterGW = append(t.clusterGW, g)
		}
	}
	t.gwAllByNs = all
}

func (t *translator) validateGateway(g *gatewayState) bool {
	ok := true
	seen := map[string]bool{}
	for i, h := range g.obj.Spec.Hosts {
		h = strings.ToLower(h)
		if msg := validHost(h); msg != "" {
			t.fail(g.st, status.Accepted, status.ReasonInvalid, fmt.Sprintf("spec.hosts[%d]", i), msg)
			ok = false
			continue
		}
		if !seen[h] {
			seen[h] = true
			g.hosts = append(g.hosts, h)
		}
	}
	slices.Sort(g.hosts)
	if len(g.hosts) == 0 {
		g.hosts = []string{"*"}
	}
	http, https := g.obj.Spec.Ports.HTTP, g.obj.Spec.Ports.HTTPS
	if http == 0 {
		http = v1alpha1.DefaultHTTPPort
	}
	if https == 0 {
		https = v1alpha1.DefaultHTTPSPort
	}
	for _, p := range []struct {
		f string
		v int32
	}{{"spec.ports.http", http}, {"spec.ports.https", https}} {
		if p.v < 1 || p.v > 65535 {
			t.fail(g.st, status.Accepted, status.ReasonInvalid, p.f, fmt.Sprintf("%d is not a port number", p.v))
			ok = false
		}
	}
	if http == https {
		t.fail(g.st, status.Accepted, status.ReasonInvalid, "spec.ports.https", fmt.Sprintf("must differ from spec.ports.http (%d)", http))
		ok = false
	}
	g.httpPort, g.httpsPort = uint32(http), uint32(https)
	return ok
}

// gatewayTLS resolves the Gateway's own TLS configuration. The Secret is
// read from the Gateway's namespace only (DESIGN §4).
func (t *translator) gatewayTLS(g *gatewayState) {
	spec := g.obj.Spec.TLS
	// TLS 1.3 unless the Gateway asks for 1.2 (DESIGN §1.11).
	ltls := &ir.ListenerTLS{MinVersion: "1.3", MaxVersion: "1.3", ALPN: []string{"h2", "http/1.1"}}
	g.tls = ltls
	if spec == nil {
		return
	}
	if spec.MinVersion != "" {
		ltls.MinVersion = string(spec.MinVersion)
	}
	if spec.MaxVersion != "" {
		ltls.MaxVersion = string(spec.MaxVersion)
	}
	for _, f := range []struct{ field, v string }{{"spec.tls.minVersion", ltls.MinVersion}, {"spec.tls.maxVersion", ltls.MaxVersion}} {
		if f.v != "1.2" && f.v != "1.3" {
			t.fail(g.st, status.Accepted, status.ReasonInvalid, f.field, fmt.Sprintf("%q is not a supported TLS version (1.2 or 1.3); the https listener is not programmed", f.v))
			g.tlsBroken = true
		}
	}
	if !g.tlsBroken && ltls.MinVersion > ltls.MaxVersion {
		t.fail(g.st, status.Accepted, status.ReasonInvalid, "spec.tls.minVersion", "must not exceed maxVersion; the https listener is not programmed")
		g.tlsBroken = true
	}
	ltls.CipherSuites = slices.Clone(spec.CipherSuites)
	name, err := t.certSecret(g.obj.Namespace, spec.SecretName, true)
	if err != nil {
		t.fail(g.st, status.ResolvedRefs, err.reason, "spec.tls.secretName", err.msg)
	} else {
		g.gwCert = name
	}
	if cv := spec.ClientValidation; cv != nil {
		name, err := t.caSecret(g.obj.Namespace, cv.CASecretName)
		if err != nil {
			t.fail(g.st, status.ResolvedRefs, err.reason, "spec.tls.clientValidation.caSecretName", err.msg+"; the https listener is not programmed")
			g.tlsBroken = true
		} else {
			ltls.ClientValidation = &ir.ClientValidation{CASecretName: name, Optional: cv.Optional, SubjectAltNames: slices.Sorted(slices.Values(cv.SubjectAltNames))}
		}
	}
}

// assembleGateway builds the IR of one accepted Gateway once every Route
// and Ingress has claimed its hosts.
func (t *translator) assembleGateway(g *gatewayState) {
	vhosts := t.assembleHosts(g)
	out := &ir.Gateway{Name: g.key}
	certs := t.assembleCerts(g)
	hasTLS := len(certs) > 0 && !g.tlsBroken
	http := &ir.Listener{Name: fmt.Sprintf("http-%d", g.httpPort), Address: "0.0.0.0", Port: g.httpPort}
	// SecurityPolicies: routes get their effective policy; listeners the
	// gateway's listener-level settings and the JWT providers their routes
	// need (securitypolicy.go).
	copies, memo := map[*ir.Route]*ir.Route{}, map[[2]*policyState]*ir.RouteSecurity{}
	jwksClusters := map[string]*ir.Cluster{}
	secure := func(l *ir.Listener, vhs []*ir.VirtualHost) {
		var cs []*ir.Cluster
		l.VirtualHosts, l.JWTProviders, l.JWTRequirements, cs = t.applySecurity(g, vhs, copies, memo)
		for _, c := range cs {
			jwksClusters[c.Name] = c
		}
		if gp := t.gwPolicy[g.key]; gp != nil {
			l.Security = gp.listener
			gp.attachedTo[g.key] = true
		}
	}
	if g.obj.Spec.HTTPSRedirect && hasTLS {
		http.HTTPSRedirect = true
		secure(http, nil)
	} else {
		secure(http, g.vhostsFor(vhosts, g.httpPort))
	}
	out.Listeners = append(out.Listeners, http)
	secretNames := map[string]bool{}
	if hasTLS {
		lt := *g.tls
		lt.Certificates = certs
		for _, c := range certs {
			secretNames[c.SecretName] = true
		}
		if lt.ClientValidation != nil {
			secretNames[lt.ClientValidation.CASecretName] = true
		}
		https := &ir.Listener{Name: fmt.Sprintf("https-%d", g.httpsPort), Address: "0.0.0.0", Port: g.httpsPort, TLS: &lt}
		secure(https, g.vhostsFor(vhosts, g.httpsPort))
		out.Listeners = append(out.Listeners, https)
	}
	slices.SortFunc(out.Listeners, func(a, b *ir.Listener) int { return int(a.Port) - int(b.Port) })
	tr := t.gatewayTracing(g)
	if tr != nil {
		for _, l := range out.Listeners {
			l.Tracing = tr
		}
	}

	clusterNames := map[string]bool{}
	for _, l := range out.Listeners {
		for _, vh := range l.VirtualHosts {
			for _, r := range vh.Routes {
				if r.Forward != nil {
					for _, b := range r.Forward.Backends {
						clusterNames[b.Cluster] = true
					}
				}
				for _, m := range r.Mirrors {
					clusterNames[m.Cluster] = true
				}
			}
		}
	}
	var clusters []*ir.Cluster
	for _, n := range slices.Sorted(mapKeys(clusterNames)) {
		clusters = append(clusters, t.clusters[n].c)
	}
	for _, n := range slices.Sorted(mapKeys(jwksClusters)) {
		clusters = append(clusters, jwksClusters[n])
	}
	slices.SortFunc(clusters, func(a, b *ir.Cluster) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range clusters {
		out.Clusters = append(out.Clusters, c)
		if c.TLS != nil {
			if c.TLS.CASecretName != "" {
				secretNames[c.TLS.CASecretName] = true
			}
			if c.TLS.ClientSecretName != "" {
				secretNames[c.TLS.ClientSecretName] = true
			}
		}
	}
	if c := otlpCluster(g, tr); c != nil {
		out.Clusters = append(out.Clusters, c)
		slices.SortFunc(out.Clusters, func(a, b *ir.Cluster) int { return strings.Compare(a.Name, b.Name) })
	}
	for _, n := range slices.Sorted(mapKeys(secretNames)) {
		out.Secrets = append(out.Secrets, t.secrets[n])
	}
	g.out = out

	g.st.Default(status.Accepted, status.ReasonAccepted, "Gateway is valid")
	g.st.Default(status.ResolvedRefs, status.ReasonResolvedRefs, "all references resolved")
	domains := map[string]bool{}
	for _, l := range out.Listeners {
		for _, vh := range l.VirtualHosts {
			domains[vh.Name] = true
		}
	}
	nvh := len(domains)
	names := make([]string, len(out.Listeners))
	for i, l := range out.Listeners {
		names[i] = l.Name
	}
	g.st.Set(status.Programmed, true, status.ReasonProgrammed,
		fmt.Sprintf("listeners %s; %d virtual hosts, %d clusters", strings.Join(names, ", "), nvh, len(out.Clusters)))
}

// vhostsFor returns the virtual hosts of the listener on port, leaving out
// routes limited to another port (Istio HTTPMatchRequest.port). The common
// case, no such route, shares one slice between both listeners.
func (g *gatewayState) vhostsFor(vhosts []*ir.VirtualHost, port uint32) []*ir.VirtualHost {
	if len(g.routePorts) == 0 {
		return vhosts
	}
	var out []*ir.VirtualHost
	for _, vh := range vhosts {
		var routes []*ir.Route
		changed := false
		for _, r := range vh.Routes {
			if p, ok := g.routePorts[r]; ok && p != port {
				changed = true
				continue
			}
			routes = append(routes, r)
		}
		switch {
		case !changed:
			out = append(out, vh)
		case len(routes) > 0:
			out = append(out, &ir.VirtualHost{Name: vh.Name, Domains: vh.Domains, Routes: routes})
		}
	}
	return out
}

// ingressCert is one host of an Ingress spec.tls entry.
type ingressCert struct {
	src    *source
	secret string // IR secret name
	host   string
	field  string
}

// assembleCerts groups SNI names by certificate, one filter chain per
// certificate (DESIGN §6, Contour #1636). The Gateway's own certificate
// serves its hosts first; then Ingress certificates, oldest Ingress first.
// An SNI name belongs to one certificate only (Envoy rejects a listener
// whose filter chains repeat a server name), so a later claim on a name is
// refused with HostConflict, as is a claim on a host whose virtual host is
// owned by another namespace (hosts.go).
func (t *translator) assembleCerts(g *gatewayState) []*ir.TLSCertificate {
	bySecret := map[string]*ir.TLSCertificate{}
	sni := map[string]string{}
	add := func(secret, host string) {
		c := bySecret[secret]
		if c == nil {
			c = &ir.TLSCertificate{SecretName: secret}
			bySecret[secret] = c
		}
		if host != "" {
			c.ServerNames = append(c.ServerNames, host)
			sni[host] = secret
		}
	}
	if g.gwCert != "" {
		if len(g.hosts) == 1 && g.hosts[0] == "*" {
			add(g.gwCert, "") // no SNI match: the default filter chain
		}
		for _, h := range g.hosts {
			if h != "*" {
				add(g.gwCert, h)
			}
		}
	}
	slices.SortStableFunc(g.ingressCerts, func(a, b ingressCert) int { return a.src.rank - b.src.rank })
	for _, ic := range g.ingressCerts {
		if owner := g.hostOwner[ic.host]; owner != "" && owner != ic.src.ns {
			t.fail(ic.src.st, status.Accepted, status.ReasonHostConflict, ic.field,
				fmt.Sprintf("host %q on Gateway %s belongs to namespace %s; certificate not installed", ic.host, g.key, owner))
			continue
		}
		if prev, ok := sni[ic.host]; ok {
			if prev != ic.secret {
				t.fail(ic.src.st, status.Accepted, status.ReasonHostConflict, ic.field,
					fmt.Sprintf("host %q on Gateway %s is already served by certificate %s", ic.host, g.key, prev))
			}
			continue
		}
		add(ic.secret, ic.host)
	}
	out := make([]*ir.TLSCertificate, 0, len(bySecret))
	for _, n := range slices.Sorted(mapKeys(bySecret)) {
		c := bySecret[n]
		slices.Sort(c.ServerNames)
		out = append(out, c)
	}
	return out
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
