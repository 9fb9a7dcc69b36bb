package router

import (
	"strconv"
	"strings"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

// PickCluster chooses a weighted cluster as Envoy's
// WeightedClusterSpecifierPlugin: rnd modulo the total weight walks the
// cumulative weights, so a cluster of weight 0 is never picked. A total of
// 0 yields nil, which the caller answers with 503 (ksgw's "all backends
// have weight 0"; Envoy itself rejects such a configuration).
func PickCluster(a *dpconfig.RouteAction, rnd uint64) *dpconfig.WeightedCluster {
	if a == nil || a.TotalWeight == 0 || len(a.Clusters) == 0 {
		return nil
	}
	if len(a.Clusters) == 1 {
		return &a.Clusters[0]
	}
	x := rnd % uint64(a.TotalWeight)
	var cum uint64
	for i := range a.Clusters {
		cum += uint64(a.Clusters[i].Weight)
		if x < cum {
			return &a.Clusters[i]
		}
	}
	return nil // TotalWeight larger than the sum: not from the decoder
}

// RewritePath applies a forwarding route's regex_rewrite or prefix_rewrite
// to path (the request path that matched, without the query). As Envoy's
// currentUrlPathAfterRewriteWithMatchedPath, prefix_rewrite replaces
// exactly the matched part: the route's prefix for prefix and
// path_separated_prefix routes, the whole path for exact and regex routes.
// There is no slash clean-up: "/foo" rewritten to "/" turns "/foo/bar" into
// "//bar", as in Envoy (whose documentation asks for a "/foo/" route plus a
// "/foo" route instead). regex_rewrite replaces every match in the path.
func RewritePath(rt *dpconfig.Route, path string) string {
	if rt == nil || rt.Forward == nil {
		return path
	}
	a := rt.Forward
	return rewrite(path, a.RegexRewrite, a.PrefixRewrite, rt.Match.PathKind, rt.Match.Path)
}

func rewrite(path string, rr *dpconfig.RegexRewrite, prefixRewrite string, kind dpconfig.PathKind, prefix string) string {
	if rr != nil && rr.Regex != nil {
		return rr.Regex.ReplaceAllString(path, rr.Substitution)
	}
	if prefixRewrite == "" {
		return path
	}
	switch kind {
	case dpconfig.PathPrefix, dpconfig.PathSeparatedPrefix:
		if len(path) < len(prefix) {
			return path // cannot happen for a path the route matched
		}
		return prefixRewrite + path[len(prefix):]
	}
	return prefixRewrite
}

// RedirectLocation builds the Location of a redirect as Envoy's
// Http::Utility::newUri. scheme is the request's scheme (Envoy uses
// x-forwarded-proto, which the HCM sets from the connection since
// use_remote_address is true), authority its Host/:authority, path its path
// without query, rawQuery its query.
//
//   - scheme: scheme_redirect, else https when https_redirect, else the
//     request's.
//   - host: host_redirect, else the request's authority, whose port is
//     dropped when port_redirect is set, or when the scheme changes and the
//     port is the old scheme's default (":80" for http, ":443" for https);
//     any other port is kept ("http://a:8080" → "https://a:8080").
//   - port: ":port_redirect" appended when set (ksgw also strips a port
//     from host_redirect then, so a port is never doubled).
//   - path: path_redirect (its own query, if any, replaces the request's
//     and survives strip_query), else the path after prefix_rewrite or
//     regex_rewrite; strip_query then drops the request's query.
func RedirectLocation(rd *dpconfig.Redirect, scheme, authority, path, rawQuery string) string {
	newScheme := scheme
	switch {
	case rd.Scheme != "":
		newScheme = rd.Scheme
	case rd.HTTPSRedirect:
		newScheme = "https"
	}
	var newPort string
	if rd.Port != 0 {
		newPort = ":" + strconv.FormatUint(uint64(rd.Port), 10)
	}
	host := rd.Host
	if host == "" {
		host = requestHost(authority, scheme, newScheme, newPort)
	} else if newPort != "" {
		host = stripPort(host)
	}

	var p, q string
	keepQuery := false
	switch {
	case rd.Path != "":
		var hasQuery bool
		p, q, hasQuery = strings.Cut(rd.Path, "?")
		if hasQuery {
			keepQuery = true // Envoy: path_redirect's query is not stripped
		} else {
			q = rawQuery
		}
	default:
		kind, prefix := dpconfig.PathPrefix, rd.PrefixMatch
		if rd.WholePathMatched {
			kind = dpconfig.PathExact
		}
		p, q = rewrite(path, rd.RegexRewrite, rd.PrefixRewrite, kind, prefix), rawQuery
	}
	if rd.StripQuery && !keepQuery {
		q = ""
	}
	var b strings.Builder
	b.Grow(len(newScheme) + 3 + len(host) + len(newPort) + 1 + len(p) + 1 + len(q))
	b.WriteString(newScheme)
	b.WriteString("://")
	b.WriteString(host)
	b.WriteString(newPort)
	if !strings.HasPrefix(p, "/") {
		b.WriteByte('/')
	}
	b.WriteString(p)
	if q != "" || keepQuery && strings.HasSuffix(rd.Path, "?") {
		b.WriteByte('?')
		b.WriteString(q)
	}
	return b.String()
}

// requestHost is Envoy's processRequestHost.
func requestHost(authority, oldScheme, newScheme, newPort string) string {
	i := portStart(authority)
	if i < 0 {
		return authority
	}
	port := authority[i:]
	remove := newPort != ""
	if newScheme != oldScheme {
		remove = remove || oldScheme == "https" && port == ":443" || oldScheme == "http" && port == ":80"
	}
	if remove {
		return authority[:i]
	}
	return authority
}
