// Package cors implements the behaviour of Envoy's envoy.filters.http.cors
// for a route's CorsPolicy: preflight requests are answered by the proxy, and
// simple/actual requests from an allowed origin get the Access-Control-*
// response headers. Requests from origins that are not allowed pass through
// untouched (the browser enforces CORS, the proxy only advertises it), as in
// Envoy.
package cors

import (
	"strings"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Result says what the filter decided for one request.
type Result int

const (
	// Pass: not a CORS request, or an origin that is not allowed.
	Pass Result = iota
	// Preflight: answer the request with 200 and the headers added by Apply;
	// it is never forwarded (Envoy answers preflights locally).
	Preflight
	// Actual: forward, and add the headers to the upstream's response.
	Actual
)

// Check classifies a request against p. A preflight is an OPTIONS request
// with Origin and Access-Control-Request-Method (Fetch standard §3.2.2).
func Check(p *dpconfig.CORS, method string, h *httpmsg.Header) Result {
	if p == nil {
		return Pass
	}
	origin, ok := h.Lookup("origin")
	if !ok || !originAllowed(p, origin) {
		return Pass
	}
	if method == "OPTIONS" && h.Has("access-control-request-method") {
		return Preflight
	}
	return Actual
}

// Apply adds the response headers for a request Check classified as
// Preflight or Actual.
func Apply(p *dpconfig.CORS, res Result, reqHeader, respHeader *httpmsg.Header) {
	origin := reqHeader.Get("origin")
	respHeader.Set("access-control-allow-origin", origin)
	if p.AllowCredentials {
		respHeader.Set("access-control-allow-credentials", "true")
	}
	// Responses differ by Origin; caches must know (Fetch standard §3.2.3).
	respHeader.Add("vary", "origin")
	if res == Actual {
		if p.ExposeHeaders != "" {
			respHeader.Set("access-control-expose-headers", p.ExposeHeaders)
		}
		return
	}
	if p.AllowMethods != "" {
		respHeader.Set("access-control-allow-methods", p.AllowMethods)
	}
	if p.AllowHeaders != "" {
		respHeader.Set("access-control-allow-headers", p.AllowHeaders)
	}
	if p.MaxAge != "" {
		respHeader.Set("access-control-max-age", p.MaxAge)
	}
}

func originAllowed(p *dpconfig.CORS, origin string) bool {
	for i := range p.AllowOrigins {
		if matchString(&p.AllowOrigins[i], origin) {
			return true
		}
	}
	return false
}

func matchString(m *dpconfig.StringMatcher, v string) bool {
	switch m.Kind {
	case dpconfig.StringExact:
		if m.IgnoreCase {
			return strings.EqualFold(m.Value, v)
		}
		return m.Value == v
	case dpconfig.StringPrefix:
		if m.IgnoreCase {
			return len(v) >= len(m.Value) && strings.EqualFold(v[:len(m.Value)], m.Value)
		}
		return strings.HasPrefix(v, m.Value)
	case dpconfig.StringSuffix:
		if m.IgnoreCase {
			return len(v) >= len(m.Value) && strings.EqualFold(v[len(v)-len(m.Value):], m.Value)
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
