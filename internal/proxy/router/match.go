package router

import (
	"net/url"
	"strings"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// matchRoute applies every part of a RouteMatch; all must match. path is
// the request path without query or fragment.
//
// The parts are ANDed and free of side effects, so the order is ours to
// choose: regexes, the dearest parts, run after the other matchers.
//
// need, when not empty, is a literal the path must contain for the path
// regex to match (see requiredLiteral); it is checked before the regex.
func matchRoute(m *dpconfig.RouteMatch, need, path string, r Request) bool {
	regexPath := m.PathKind == dpconfig.PathRegex
	if !regexPath && !matchPath(m, path) {
		return false
	}
	regexHeaders := false
	for i := range m.Headers {
		if isRegex(&m.Headers[i]) {
			regexHeaders = true
			continue
		}
		if !matchHeader(&m.Headers[i], r) {
			return false
		}
	}
	if regexPath && (need != "" && !strings.Contains(path, need) || !matchPath(m, path)) {
		return false
	}
	if regexHeaders {
		for i := range m.Headers {
			if isRegex(&m.Headers[i]) && !matchHeader(&m.Headers[i], r) {
				return false
			}
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

func isRegex(h *dpconfig.HeaderMatcher) bool {
	return h.String != nil && h.String.Kind == dpconfig.StringRegex
}

// matchPath follows Envoy's *RouteEntryImpl::matches. Envoy does not
// normalise the path unless the HCM asks for it (normalize_path,
// merge_slashes), which the decoder rejects, so neither do we.
func matchPath(m *dpconfig.RouteMatch, path string) bool {
	fold := !m.CaseSensitive
	switch m.PathKind {
	case dpconfig.PathPrefix:
		return hasPrefix(path, m.Path, fold)
	case dpconfig.PathExact:
		return len(path) == len(m.Path) && hasPrefix(path, m.Path, fold)
	case dpconfig.PathRegex:
		// case_sensitive is ignored for safe_regex in Envoy; a
		// case-insensitive regex carries (?i) itself.
		return m.Regex != nil && m.Regex.MatchString(path)
	case dpconfig.PathSeparatedPrefix:
		// Whole segments only: the path is the prefix or continues
		// with '/' (PathSeparatedPrefixRouteEntryImpl).
		return hasPrefix(path, m.Path, fold) && (len(path) == len(m.Path) || path[len(m.Path)] == '/')
	}
	return false
}

// headerValue resolves pseudo-headers, which Envoy matches like any other
// header: ":path" includes the query, ":authority" the port.
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
		return "", false
	}
	return r.Header(name)
}

// matchHeader follows Envoy's HeaderDataBaseImpl::matchesHeaders. A missing
// header (without treat_missing_header_as_empty) matches only a
// present_match that expects absence: present_match: false, or
// present_match: true inverted. A string matcher never matches a missing
// header, inverted or not; that is why Istio's withoutHeaders (and ksgw)
// set treat_missing_header_as_empty, so "" is matched and then inverted.
func matchHeader(h *dpconfig.HeaderMatcher, r Request) bool {
	v, ok := headerValue(r, h.Name)
	if !ok && !h.TreatMissingAsEmpty {
		if h.String != nil {
			return false
		}
		return h.Present == h.Invert
	}
	var res bool
	if h.String != nil {
		res = MatchString(h.String, v)
	} else {
		res = h.Present
	}
	return res != h.Invert
}

// matchQuery follows Envoy's QueryParameterMatcher::matches on the first
// value of the parameter: an absent parameter never matches, present_match
// returns its own value, and string matchers see the decoded value.
func matchQuery(q *dpconfig.QueryParamMatcher, rawQuery string) bool {
	v, ok := QueryValue(rawQuery, q.Name)
	if !ok {
		return false
	}
	if q.String != nil {
		return MatchString(q.String, v)
	}
	return q.Present
}

// QueryValue returns the first value of the query parameter name, with
// names and values percent-decoded ('+' as space) as Envoy's
// QueryParamsMulti::parseAndDecodeQueryString. "a" and "a=" both have the
// empty value. It allocates only when a part contains an escape.
func QueryValue(rawQuery, name string) (string, bool) {
	for rawQuery != "" {
		var part string
		part, rawQuery, _ = strings.Cut(rawQuery, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
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

// MatchString applies an Envoy StringMatcher. ignore_case is ASCII-only, as
// Envoy's (absl::EqualsIgnoreCase and friends), and has no effect on
// safe_regex.
func MatchString(m *dpconfig.StringMatcher, v string) bool {
	switch m.Kind {
	case dpconfig.StringExact:
		return len(v) == len(m.Value) && hasPrefix(v, m.Value, m.IgnoreCase)
	case dpconfig.StringPrefix:
		return hasPrefix(v, m.Value, m.IgnoreCase)
	case dpconfig.StringSuffix:
		return len(v) >= len(m.Value) && hasPrefix(v[len(v)-len(m.Value):], m.Value, m.IgnoreCase)
	case dpconfig.StringContains:
		if !m.IgnoreCase {
			return strings.Contains(v, m.Value)
		}
		for i := 0; i+len(m.Value) <= len(v); i++ {
			if httpmsg.EqualFold(v[i:i+len(m.Value)], m.Value) {
				return true
			}
		}
		return false
	case dpconfig.StringRegex:
		return m.Regex != nil && m.Regex.MatchString(v)
	}
	return false
}

func hasPrefix(s, prefix string, fold bool) bool {
	if len(s) < len(prefix) {
		return false
	}
	if fold {
		return httpmsg.EqualFold(s[:len(prefix)], prefix)
	}
	return s[:len(prefix)] == prefix
}
