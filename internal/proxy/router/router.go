// Package router matches requests to routes exactly as Envoy's router does
// for the RouteConfiguration subset in docs/xds-contract.md. It is pure: a
// Table is compiled once per route configuration version and then only
// read, by any number of goroutines.
package router

import (
	"strings"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

// Request is what matching needs to know about a request. It is declared
// here, by the consumer, so the router does not depend on the HTTP engine.
type Request interface {
	Authority() string // Host / :authority, possibly with a port
	Path() string      // without the query
	RawQuery() string
	Method() string
	Scheme() string
	// Header returns a header's value for matching (several fields of one
	// name joined with ","). name is lower case.
	Header(name string) (string, bool)
}

// Table is a compiled RouteConfiguration. Immutable.
type Table struct {
	exact    map[string]*vhost
	suffixes []wildcard // "*.foo.com" and "*foo.com", longest suffix first
	prefixes []wildcard // "foo.*", longest prefix first
	any      *vhost
	// portsInDomains is true when some domain names a port; only then is
	// the port kept for the first lookup (Envoy strips it otherwise).
	portsInDomains bool
}

type wildcard struct {
	s  string
	vh *vhost
}

// vhost is a virtual host with its routes' precomputed match data.
type vhost struct {
	vh     *dpconfig.VirtualHost
	routes []compiledRoute
}

// compiledRoute caches what can be decided about a route without a request:
// the literal prefix every path matching its regex must start with, so most
// non-matching regex routes are skipped without running the regex.
type compiledRoute struct {
	rt       *dpconfig.Route
	regexLit string
}

func compileVHost(vh *dpconfig.VirtualHost) *vhost {
	v := &vhost{vh: vh, routes: make([]compiledRoute, len(vh.Routes))}
	for i, rt := range vh.Routes {
		c := compiledRoute{rt: rt}
		if rt.Match.PathKind == dpconfig.PathRegex && rt.Match.Regex != nil {
			// Regexes arrive anchored as ^(?:...)$; LiteralPrefix sees
			// through the anchor. A case-insensitive regex has no
			// literal prefix, so nothing is skipped wrongly.
			c.regexLit, _ = rt.Match.Regex.LiteralPrefix()
		}
		v.routes[i] = c
	}
	return v
}

// Compile builds the domain index of rc. Envoy rejects a configuration in
// which one domain appears in two virtual hosts; so do we.
func Compile(rc *dpconfig.RouteConfig) (*Table, error) {
	t := &Table{exact: map[string]*vhost{}}
	seen := map[string]string{}
	for _, dvh := range rc.VirtualHosts {
		vh := compileVHost(dvh)
		for _, d := range dvh.Domains {
			d = strings.ToLower(d)
			if prev, dup := seen[d]; dup {
				return nil, &DuplicateDomainError{Domain: d, First: prev, Second: dvh.Name}
			}
			seen[d] = dvh.Name
			switch {
			case d == "*":
				t.any = vh
			case strings.HasPrefix(d, "*"):
				t.suffixes = append(t.suffixes, wildcard{d[1:], vh})
			case strings.HasSuffix(d, "*"):
				t.prefixes = append(t.prefixes, wildcard{d[:len(d)-1], vh})
			default:
				t.exact[d] = vh
				if strings.Contains(d, ":") && !strings.HasPrefix(d, "[") || strings.Contains(d, "]:") {
					t.portsInDomains = true
				}
			}
		}
	}
	sortLongestFirst(t.suffixes)
	sortLongestFirst(t.prefixes)
	return t, nil
}

// DuplicateDomainError reports a domain served by two virtual hosts.
type DuplicateDomainError struct{ Domain, First, Second string }

func (e *DuplicateDomainError) Error() string {
	return "domain " + e.Domain + " is in virtual hosts " + e.First + " and " + e.Second
}

func sortLongestFirst(w []wildcard) {
	// Insertion sort: tables have few wildcards, and stability keeps xDS
	// order between equally long patterns.
	for i := 1; i < len(w); i++ {
		for j := i; j > 0 && len(w[j].s) > len(w[j-1].s); j-- {
			w[j], w[j-1] = w[j-1], w[j]
		}
	}
}

// Match returns the virtual host and the first matching route, or a nil
// route when nothing matches (Envoy answers 404, flag NR).
func (t *Table) Match(r Request) (*dpconfig.VirtualHost, *dpconfig.Route) {
	v := t.lookup(r.Authority())
	if v == nil {
		return nil, nil
	}
	path := r.Path()
	for i := range v.routes {
		c := &v.routes[i]
		if c.regexLit != "" && !strings.HasPrefix(path, c.regexLit) {
			continue
		}
		if matchRoute(&c.rt.Match, r) {
			return v.vh, c.rt
		}
	}
	return v.vh, nil
}

// VirtualHost selects the virtual host for an authority as Envoy does:
// exact domain, then the longest suffix wildcard, then the longest prefix
// wildcard, then "*". The authority is compared case-insensitively and
// without its port unless a domain names a port.
func (t *Table) VirtualHost(authority string) *dpconfig.VirtualHost {
	if v := t.lookup(authority); v != nil {
		return v.vh
	}
	return nil
}

func (t *Table) lookup(authority string) *vhost {
	host := lowerASCII(authority)
	if t.portsInDomains {
		if vh, ok := t.exact[host]; ok {
			return vh
		}
	}
	host = stripPort(host)
	if vh, ok := t.exact[host]; ok {
		return vh
	}
	for _, w := range t.suffixes {
		// Envoy's "*.foo.com" needs at least one character before the
		// suffix: "foo.com" itself does not match it.
		if len(host) > len(w.s) && strings.HasSuffix(host, w.s) {
			return w.vh
		}
	}
	for _, w := range t.prefixes {
		if len(host) > len(w.s) && strings.HasPrefix(host, w.s) {
			return w.vh
		}
	}
	return t.any
}

func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.LastIndex(h, "]"); i >= 0 {
			return h[:i+1]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		return h[:i]
	}
	return h
}

// lowerASCII lower-cases s without allocating when it is already lower case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
