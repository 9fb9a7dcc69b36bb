package router

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

func matchRoute(m *dpconfig.RouteMatch, r Request) bool {
	if !matchPath(m, r.Path()) {
		return false
	}
	for i := range m.Headers {
		if !matchHeader(&m.Headers[i], r) {
			return false
		}
	}
	if len(m.QueryParams) > 0 {
		q := r.RawQuery()
		for i := range m.QueryParams {
			if !matchQuery(&m.QueryParams[i], q) {
				return false
			}
		}
	}
	return true
}

// matchPath compares the path without its query, as Envoy does. Envoy does
// not normalise the path unless normalize_path is set, and ksgw does not set
// it, so neither do we.
func matchPath(m *dpconfig.RouteMatch, path string) bool {
	switch m.PathKind {
	case dpconfig.PathPrefix:
		return hasPrefix(path, m.Path, !m.CaseSensitive)
	case dpconfig.PathExact:
		if m.CaseSensitive {
			return path == m.Path
		}
		return strings.EqualFold(path, m.Path)
	case dpconfig.PathRegex:
		return m.Regex != nil && m.Regex.MatchString(path)
	case dpconfig.PathSeparatedPrefix:
		// The prefix must match whole segments: the path equals it or
		// continues with "/" (Envoy's path_separated_prefix).
		if !hasPrefix(path, m.Path, !m.CaseSensitive) {
			return false
		}
		return len(path) == len(m.Path) || path[len(m.Path)] == '/'
	}
	return false
}

func hasPrefix(s, prefix string, fold bool) bool {
	if len(s) < len(prefix) {
		return false
	}
	if fold {
		return strings.EqualFold(s[:len(prefix)], prefix)
	}
	return s[:len(prefix)] == prefix
}

func headerValue(r Request, name string) (string, bool) {
	if len(name) > 0 && name[0] == ':' {
		switch name {
		case ":method":
			return r.Method(), true
		case ":authority":
			return r.Authority(), true
		case ":scheme":
			return r.Scheme(), true
		case ":path":
			if q := r.RawQuery(); q != "" {
				return r.Path() + "?" + q, true
			}
			return r.Path(), true
		}
	}
	return r.Header(name)
}

// matchHeader follows Envoy's HeaderUtility::matchHeaders: a missing header
// matches only a present_match expecting absence (or, inverted, expecting
// presence), unless treat_missing_header_as_empty makes it "".
func matchHeader(h *dpconfig.HeaderMatcher, r Request) bool {
	v, ok := headerValue(r, h.Name)
	if !ok && !h.TreatMissingAsEmpty {
		if h.String != nil {
			return false
		}
		// present_match: true asks for presence; absent → false, and an
		// inverted matcher then matches.
		return h.Invert == h.Present
	}
	var res bool
	if h.String != nil {
		res = MatchString(h.String, v)
	} else {
		res = h.Present
	}
	return res != h.Invert
}

// matchQuery compares the first value of a query parameter, decoded as
// Envoy decodes query strings.
func matchQuery(q *dpconfig.QueryParamMatcher, rawQuery string) bool {
	v, ok := queryValue(rawQuery, q.Name)
	if !ok {
		return false
	}
	if q.String != nil {
		return MatchString(q.String, v)
	}
	return q.Present
}

func queryValue(raw, name string) (string, bool) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if k != name {
			if dk, err := url.QueryUnescape(k); err != nil || dk != name {
				continue
			}
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			return dv, true
		}
		return v, true
	}
	return "", false
}

// MatchString applies an Envoy StringMatcher.
func MatchString(m *dpconfig.StringMatcher, v string) bool {
	switch m.Kind {
	case dpconfig.StringExact:
		if m.IgnoreCase {
			return strings.EqualFold(v, m.Value)
		}
		return v == m.Value
	case dpconfig.StringPrefix:
		return hasPrefix(v, m.Value, m.IgnoreCase)
	case dpconfig.StringSuffix:
		if len(v) < len(m.Value) {
			return false
		}
		if m.IgnoreCase {
			return strings.EqualFold(v[len(v)-len(m.Value):], m.Value)
		}
		return strings.HasSuffix(v, m.Value)
	case dpconfig.StringContains:
		if m.IgnoreCase {
			return strings.Contains(strings.ToLower(v), strings.ToLower(m.Value))
		}
		return strings.Contains(v, m.Value)
	case dpconfig.StringRegex:
		return m.Regex != nil && m.Regex.MatchString(v)
	}
	return false
}

// PickCluster chooses a weighted cluster as Envoy does: a random value in
// [0, total) walks the cumulative weights. rnd is any uniform random
// number. A route with a single cluster always gets it; total weight 0
// yields nil (Envoy answers 503).
func PickCluster(a *dpconfig.RouteAction, rnd uint64) *dpconfig.WeightedCluster {
	switch len(a.Clusters) {
	case 0:
		return nil
	case 1:
		return &a.Clusters[0]
	}
	if a.TotalWeight == 0 {
		return nil
	}
	x := uint32(rnd % uint64(a.TotalWeight))
	var cum uint32
	for i := range a.Clusters {
		cum += a.Clusters[i].Weight
		if x < cum {
			return &a.Clusters[i]
		}
	}
	return nil
}

// RewritePath applies a route's prefix_rewrite or regex_rewrite to path.
// prefix_rewrite replaces exactly the part the route's prefix (or exact
// path) matched; regex_rewrite replaces every match in the whole path.
func RewritePath(rt *dpconfig.Route, path string) string {
	a := rt.Forward
	if a == nil {
		return path
	}
	if a.RegexRewrite != nil && a.RegexRewrite.Regex != nil {
		return a.RegexRewrite.Regex.ReplaceAllString(path, a.RegexRewrite.Substitution)
	}
	if a.PrefixRewrite == "" {
		return path
	}
	switch rt.Match.PathKind {
	case dpconfig.PathPrefix, dpconfig.PathSeparatedPrefix:
		if len(path) < len(rt.Match.Path) {
			return path
		}
		rest := path[len(rt.Match.Path):]
		// Rewriting "/v1/api" to "/" must not produce "//x": Envoy's
		// documented remedy is to match with a trailing slash; we join
		// the two parts with exactly one slash when the rewrite ends in
		// one and the rest starts with one.
		if strings.HasSuffix(a.PrefixRewrite, "/") && strings.HasPrefix(rest, "/") {
			rest = rest[1:]
		}
		return a.PrefixRewrite + rest
	case dpconfig.PathExact:
		return a.PrefixRewrite
	}
	return path
}

// RedirectLocation builds the Location of a redirect as Envoy's
// RedirectAction does.
func RedirectLocation(rd *dpconfig.Redirect, scheme, authority, path, rawQuery string) string {
	newScheme := scheme
	if rd.HTTPSRedirect {
		newScheme = "https"
	} else if rd.Scheme != "" {
		newScheme = rd.Scheme
	}
	host := authority
	if rd.Host != "" {
		host = rd.Host
	}
	switch {
	case rd.Port != 0:
		host = stripPort(host) + ":" + strconv.Itoa(int(rd.Port))
	case newScheme != scheme:
		// Changing the scheme drops the old scheme's port (Envoy).
		host = stripPort(host)
	}
	p := path
	q := rawQuery
	if rd.Path != "" {
		p = rd.Path
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p, q = p[:i], p[i+1:]
		}
	}
	if rd.StripQuery {
		q = ""
	}
	loc := newScheme + "://" + host + p
	if q != "" {
		loc += "?" + q
	}
	return loc
}
