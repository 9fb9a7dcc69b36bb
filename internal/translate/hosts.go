package translate

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/status"
)

// Host ownership and merging.
//
// A claim is one object's routes for one host (virtual-host domain) on one
// Gateway. Every Route and Ingress claims the hosts it serves on each
// Gateway it binds to; the claims on one host are resolved as follows, the
// same way on every translation:
//
//  1. Claims are ordered by the claiming object's age: oldest
//     creationTimestamp first, then kind ("Ingress" < "Route"), namespace
//     and name.
//  2. Ownership (Contour's rule for duplicate roots, applied per
//     namespace): the namespace of the oldest claim owns the host on that
//     Gateway. A claim from any other namespace is refused as a whole and
//     its object gets Accepted=False, reason HostConflict. Tenants sharing
//     the cluster gateway therefore never put routes on each other's
//     hosts. Different host strings are different hosts: "a.example.com"
//     and "*.example.com" may be owned by different namespaces, and the
//     proxy prefers the exact one (Envoy virtual-host selection).
//  3. Merging (Istio's rule for several VirtualServices on one gateway
//     host): claims of the owning namespace are merged into one virtual
//     host. Route rules keep their order, object after object, oldest
//     first. All Ingress paths on the host form one block, sorted by
//     Kubernetes Ingress precedence (longest path first, Exact before
//     Prefix on a tie, then oldest Ingress), placed where the oldest
//     Ingress claim stands.
//  4. Exact conflicts: a route whose match (path, headers, query
//     parameters, port) is identical to one an older object already
//     installed on the host would never be reached; it is dropped, and its
//     object gets Accepted=False, reason HostConflict, naming the host and
//     the older object. The object's other routes stay installed. Identical
//     matches within one object are left alone: first match wins, as the
//     author wrote it.
//
// A host must also fall inside the Gateway's hosts (Gateway.covers); that
// is checked when the claim is made (route.go, ingress.go).

// claim is one object's routes for one host on one gateway.
type claim struct {
	host    string
	src     *source
	routes  []*ir.Route          // Route rules, in rule order
	ingress []ingressRoute       // Ingress paths, in rule/path order
	fields  map[*ir.Route]string // field of each Ingress route, for messages
}

// ingressRoute is an Ingress path with what its precedence needs.
type ingressRoute struct {
	r        *ir.Route
	pathLen  int
	exact    bool
	catchAll bool // defaultBackend: after every path
	order    int
}

type placed struct {
	ingressRoute
	rank int
}

// assembleHosts resolves every claim on g and returns its virtual hosts,
// sorted by name.
func (t *translator) assembleHosts(g *gatewayState) []*ir.VirtualHost {
	byHost := map[string][]*claim{}
	for _, c := range g.claims {
		byHost[c.host] = append(byHost[c.host], c)
	}
	g.hostOwner = make(map[string]string, len(byHost))
	reported := map[string]bool{}
	conflict := func(src *source, host, msg string) {
		k := src.String() + "\x00" + host + "\x00" + msg
		if reported[k] {
			return
		}
		reported[k] = true
		t.fail(src.st, status.Accepted, status.ReasonHostConflict, "", msg)
	}
	var vhosts []*ir.VirtualHost
	for _, host := range slices.Sorted(mapKeys(byHost)) {
		cs := byHost[host]
		slices.SortStableFunc(cs, func(a, b *claim) int { return a.src.rank - b.src.rank })
		owner := cs[0].src
		g.hostOwner[host] = owner.ns
		seen := map[string]*source{}
		var routes []*ir.Route
		var block []placed
		blockAt := -1
		contributors := map[*source]bool{}
		for _, c := range cs {
			if c.src.ns != owner.ns {
				conflict(c.src, host, fmt.Sprintf("host %q on Gateway %s belongs to namespace %s (claimed first by %s)", host, g.key, owner.ns, owner))
				continue
			}
			dup := func(r *ir.Route) bool {
				k := matchKey(r, g.routePorts[r])
				if prev := seen[k]; prev != nil && prev != c.src {
					conflict(c.src, host, fmt.Sprintf("host %q on Gateway %s: route %s has the same match as a route of %s, which is older", host, g.key, r.Name, prev))
					return true
				}
				seen[k] = c.src
				return false
			}
			if c.src.kind == KindIngress {
				if blockAt < 0 {
					blockAt = len(routes)
				}
				for _, p := range c.ingress {
					if !dup(p.r) {
						block = append(block, placed{p, c.src.rank})
						contributors[c.src] = true
					}
				}
				continue
			}
			for _, r := range c.routes {
				if !dup(r) {
					routes = append(routes, r)
					contributors[c.src] = true
				}
			}
		}
		if len(block) > 0 {
			slices.SortStableFunc(block, compareIngressRoutes)
			ing := make([]*ir.Route, len(block))
			for i, p := range block {
				ing[i] = p.r
			}
			routes = slices.Insert(routes, blockAt, ing...)
		}
		if len(routes) == 0 {
			continue
		}
		for src := range contributors {
			src.programmedOn[g.key] = true
		}
		vhosts = append(vhosts, &ir.VirtualHost{Name: host, Domains: []string{host}, Routes: routes})
	}
	return vhosts
}

// compareIngressRoutes is Kubernetes Ingress precedence
// (networking.k8s.io/v1 HTTPIngressPath): the longest matching path wins,
// and Exact beats Prefix for paths of equal length. Sorting by length,
// longest first, and letting the first match win implements it, because a
// path can only match requests at least as long as itself.
func compareIngressRoutes(a, b placed) int {
	return cmp.Or(
		boolCmp(a.catchAll, b.catchAll),
		cmp.Compare(b.pathLen, a.pathLen),
		boolCmp(b.exact, a.exact),
		cmp.Compare(a.rank, b.rank),
		cmp.Compare(a.order, b.order),
	)
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// matchKey is a canonical form of a route's match, plus the listener port
// it is limited to.
func matchKey(r *ir.Route, port uint32) string {
	var b strings.Builder
	m := r.Match
	b.WriteString(strconv.Itoa(int(m.Path.Kind)))
	b.WriteByte(0)
	b.WriteString(m.Path.Value)
	b.WriteByte(0)
	b.WriteString(strconv.FormatBool(m.Path.IgnoreCase))
	for _, h := range m.Headers {
		fmt.Fprintf(&b, "\x00h%s\x00%d\x00%s\x00%t\x00%t", h.Name, h.Match.Kind, h.Match.Value, h.Match.IgnoreCase, h.Invert)
	}
	for _, q := range m.QueryParams {
		fmt.Fprintf(&b, "\x00q%s\x00%d\x00%s\x00%t", q.Name, q.Match.Kind, q.Match.Value, q.Match.IgnoreCase)
	}
	if port != 0 {
		fmt.Fprintf(&b, "\x00p%d", port)
	}
	return b.String()
}

// validHost checks a host as Kubernetes validates Ingress rule hosts: a
// lower-case DNS-1123 subdomain, optionally prefixed by "*." (one label),
// or "*" alone. It returns "" when valid.
func validHost(h string) string {
	if h == "*" {
		return ""
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		if len(validation.IsDNS1123Subdomain(rest)) > 0 {
			return fmt.Sprintf("%q is not a valid wildcard host (\"*.\" then a lower-case DNS name)", h)
		}
		return ""
	}
	if len(validation.IsDNS1123Subdomain(h)) > 0 {
		return fmt.Sprintf("%q is not a valid host (a lower-case DNS name, optionally prefixed by \"*.\")", h)
	}
	return ""
}
