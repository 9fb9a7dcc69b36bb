// Package router matches requests to routes as Envoy's router does for the
// RouteConfiguration subset in docs/xds-contract.md. It is pure: a Table is
// compiled once per route configuration version and then only read, by any
// number of goroutines, without locks and (on the common path) without
// allocating.
//
// What the router deliberately does not do, as Envoy without the
// corresponding HCM options: it does not normalise the path (no
// normalize_path, merge_slashes or percent-decoding before matching), so
// "/a/../b" and "/a%2Fb" are matched as sent.
package router

import (
	"cmp"
	"slices"
	"strings"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
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
	// name joined with ",", as Envoy's getAllOfHeaderAsString). lowerName
	// is lower case and never a pseudo-header.
	Header(lowerName string) (string, bool)
}

// Table is a compiled RouteConfiguration. Immutable after Compile; safe for
// concurrent use.
type Table struct {
	rc *dpconfig.RouteConfig

	exact  map[string]*vhost // lower-case domains without '*', port included when named
	suffix wildcards         // "*.foo.com" keyed ".foo.com", "*-bar.com" keyed "-bar.com"
	prefix wildcards         // "foo.*" keyed "foo.", "foo-*" keyed "foo-"
	any    *vhost            // "*"

	// portInDomains is true when some exact or suffix domain names a port
	// (e.g. "foo.com:8080"); only then is the authority looked up with its
	// port before the port is stripped.
	portInDomains bool
}

// wildcards is one kind of wildcard domain, indexed so that selection costs
// one map lookup per label of the host (all keys start, or end, with '.')
// or per distinct key length otherwise, as Envoy's length-keyed maps in
// RouteMatcher::findWildcardVirtualHost. Longest key wins either way.
type wildcards struct {
	byKey   map[string]*vhost
	lens    []int // distinct key lengths, longest first
	aligned bool  // every key is bounded by a '.' on the wildcard side
}

// vhost is a virtual host with its routes' precomputed match data.
type vhost struct {
	vh     *dpconfig.VirtualHost
	routes []compiledRoute
}

// compiledRoute caches what can be decided about a route without a
// request: a literal the path must start with, checked before anything
// more expensive (headers, regexes).
type compiledRoute struct {
	rt   *dpconfig.Route
	m    *dpconfig.RouteMatch
	lit  string // path must start with lit (ASCII case-insensitively when fold)
	fold bool
	// need is a literal every path the regex matches contains; checking
	// it with strings.Contains rules out most regex routes for far less
	// than running the regex (RE2's prefilter idea, one literal only).
	need string
}

// Compile builds the indexes of rc. A domain in two virtual hosts, or two
// "*" virtual hosts, is an error, as in Envoy (the decoder already rejects
// both; Compile checks again because it is exported).
func Compile(rc *dpconfig.RouteConfig) (*Table, error) {
	t := &Table{
		rc:     rc,
		exact:  map[string]*vhost{},
		suffix: wildcards{byKey: map[string]*vhost{}, aligned: true},
		prefix: wildcards{byKey: map[string]*vhost{}, aligned: true},
	}
	seen := map[string]string{}
	for _, dvh := range rc.VirtualHosts {
		vh := compileVHost(dvh)
		for _, d := range dvh.Domains {
			d = strings.ToLower(d)
			if prev, dup := seen[d]; dup {
				return nil, &DuplicateDomainError{Domain: d, First: prev, Second: dvh.Name}
			}
			seen[d] = dvh.Name
			// Envoy's classification (RouteMatcher constructor): "*"
			// alone, then a leading '*', then a trailing '*'; anything
			// else, even "a.*.com", is an exact domain.
			switch {
			case d == "*":
				t.any = vh
			case d[0] == '*':
				key := d[1:]
				t.suffix.add(key, vh, key[0] == '.')
				if hasPort(key) {
					t.portInDomains = true
				}
			case d[len(d)-1] == '*':
				key := d[:len(d)-1]
				t.prefix.add(key, vh, key[len(key)-1] == '.')
			default:
				t.exact[d] = vh
				if hasPort(d) {
					t.portInDomains = true
				}
			}
		}
	}
	t.suffix.sortLens()
	t.prefix.sortLens()
	return t, nil
}

func (w *wildcards) add(key string, vh *vhost, aligned bool) {
	if !slices.Contains(w.lens, len(key)) {
		w.lens = append(w.lens, len(key))
	}
	w.byKey[key] = vh
	w.aligned = w.aligned && aligned
}

func (w *wildcards) sortLens() {
	slices.SortFunc(w.lens, func(a, b int) int { return cmp.Compare(b, a) })
}

func compileVHost(vh *dpconfig.VirtualHost) *vhost {
	v := &vhost{vh: vh, routes: make([]compiledRoute, len(vh.Routes))}
	for i, rt := range vh.Routes {
		c := compiledRoute{rt: rt, m: &rt.Match}
		switch rt.Match.PathKind {
		case dpconfig.PathPrefix, dpconfig.PathExact, dpconfig.PathSeparatedPrefix:
			c.lit, c.fold = rt.Match.Path, !rt.Match.CaseSensitive
		case dpconfig.PathRegex:
			// Regexes arrive anchored as ^(?:...)$ and LiteralPrefix
			// sees through the anchor; a (?i) regex has none, so
			// nothing is skipped wrongly.
			if rt.Match.Regex != nil {
				c.lit, _ = rt.Match.Regex.LiteralPrefix()
				c.need = requiredLiteral(rt.Match.Path)
				if c.need == c.lit {
					c.need = ""
				}
			}
		}
		v.routes[i] = c
	}
	return v
}

// DuplicateDomainError reports a domain served by two virtual hosts.
type DuplicateDomainError struct{ Domain, First, Second string }

func (e *DuplicateDomainError) Error() string {
	return "domain " + e.Domain + " is in virtual hosts " + e.First + " and " + e.Second
}

// Config returns the route configuration the table was compiled from.
func (t *Table) Config() *dpconfig.RouteConfig { return t.rc }

// Match returns the virtual host and the first matching route. A nil
// virtual host means no domain matched; a nil route means nothing in the
// virtual host matched. Envoy answers both with 404 (response flag NR).
func (t *Table) Match(r Request) (*dpconfig.VirtualHost, *dpconfig.Route) {
	v := t.lookup(r.Authority())
	if v == nil {
		return nil, nil
	}
	// Envoy matches on the path without query and fragment
	// (PathUtil::removeQueryAndFragment); Path() has no query already.
	path := r.Path()
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path = path[:i]
	}
	for i := range v.routes {
		c := &v.routes[i]
		if !hasPrefix(path, c.lit, c.fold) {
			continue
		}
		if matchRoute(c.m, c.need, path, r) {
			return v.vh, c.rt
		}
	}
	return v.vh, nil
}

// VirtualHost selects the virtual host for an authority (see lookup).
func (t *Table) VirtualHost(authority string) *dpconfig.VirtualHost {
	if v := t.lookup(authority); v != nil {
		return v.vh
	}
	return nil
}

// lookup selects a virtual host as Envoy's RouteMatcher::findVirtualHost:
// the authority lower-cased, then exact domains, then suffix wildcards
// (longest first), then prefix wildcards (longest first), then "*".
//
// Ports: Envoy compares the authority as sent unless the HCM strips the
// port (strip_any_host_port / strip_matching_host_port). ksgw's contract
// is the stripped form, except that a domain naming the port wins: when
// some domain has a port, the full authority is tried first against exact
// and suffix domains (a prefix wildcard "foo.*" cannot name a port and
// would otherwise beat the exact "foo.com" for "foo.com:80").
func (t *Table) lookup(authority string) *vhost {
	host := httpmsg.Lower(authority)
	port := portStart(host)
	if port >= 0 {
		if t.portInDomains {
			if vh, ok := t.exact[host]; ok {
				return vh
			}
			if vh := t.suffix.matchSuffix(host); vh != nil {
				return vh
			}
		}
		host = host[:port]
	}
	if vh, ok := t.exact[host]; ok {
		return vh
	}
	if vh := t.suffix.matchSuffix(host); vh != nil {
		return vh
	}
	if vh := t.prefix.matchPrefix(host); vh != nil {
		return vh
	}
	return t.any
}

// matchSuffix finds the longest key that is a proper suffix of host: Envoy's
// wildcard needs at least one character, so "*.foo.com" does not match
// "foo.com" nor ".foo.com".
func (w *wildcards) matchSuffix(host string) *vhost {
	if len(w.byKey) == 0 {
		return nil
	}
	if w.aligned {
		for i := 1; i < len(host); i++ {
			if host[i] == '.' {
				if vh, ok := w.byKey[host[i:]]; ok {
					return vh
				}
			}
		}
		return nil
	}
	for _, l := range w.lens {
		if l < len(host) {
			if vh, ok := w.byKey[host[len(host)-l:]]; ok {
				return vh
			}
		}
	}
	return nil
}

// matchPrefix finds the longest key that is a proper prefix of host.
func (w *wildcards) matchPrefix(host string) *vhost {
	if len(w.byKey) == 0 {
		return nil
	}
	if w.aligned {
		for i := len(host) - 2; i >= 0; i-- {
			if host[i] == '.' {
				if vh, ok := w.byKey[host[:i+1]]; ok {
					return vh
				}
			}
		}
		return nil
	}
	for _, l := range w.lens {
		if l < len(host) {
			if vh, ok := w.byKey[host[:l]]; ok {
				return vh
			}
		}
	}
	return nil
}

// portStart returns the index of the ':' that starts the port of an
// authority, or -1, as Envoy's HeaderUtility::getPortStart: IPv6 literals
// are bracketed, so a ':' inside brackets is not a port.
func portStart(h string) int {
	i := strings.LastIndexByte(h, ':')
	if i < 0 {
		return -1
	}
	if strings.HasPrefix(h, "[") {
		if j := strings.LastIndexByte(h, ']'); j < 0 || j+1 != i {
			return -1
		}
	} else if strings.IndexByte(h, ':') != i {
		return -1 // an unbracketed IPv6 address has no port
	}
	return i
}

func hasPort(domain string) bool { return portStart(domain) >= 0 }

func stripPort(h string) string {
	if i := portStart(h); i >= 0 {
		return h[:i]
	}
	return h
}
