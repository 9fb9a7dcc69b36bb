package dpconfig

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Names of the HTTP filters whose per-route configuration we apply.
const (
	FaultFilterName  = "envoy.filters.http.fault"
	CORSFilterName   = "envoy.filters.http.cors"
	RouterFilterName = "envoy.filters.http.router"
)

// DecodeRoute decodes a RouteConfiguration.
func DecodeRoute(a *anypb.Any) (*RouteConfig, error) {
	_, rc, err := decodeRouteAny(a, nil)
	return rc, err
}

func decodeRouteAny(a *anypb.Any, ext Extensions) (string, *RouteConfig, error) {
	var rc routev3.RouteConfiguration
	name, err := unmarshalAny(a, &rc, "route", rc.GetName)
	if err != nil {
		return name, nil, err
	}
	out, err := decodeRouteConfig(&rc, ext)
	if err != nil {
		return name, nil, fmt.Errorf("route %q: %w", name, err)
	}
	return name, out, nil
}

func decodeRouteConfig(rc *routev3.RouteConfiguration, ext Extensions) (*RouteConfig, error) {
	if err := onlyFields(rc, "name", "virtual_hosts"); err != nil {
		return nil, err
	}
	out := &RouteConfig{Name: rc.GetName()}
	// Envoy rejects a domain in two virtual hosts, and more than one "*"
	// (RouteMatcher: "Only unique values for domains are permitted").
	seen := map[string]int{}
	for i, vh := range rc.GetVirtualHosts() {
		v, err := decodeVirtualHost(vh, ext)
		if err != nil {
			return nil, wrapAt(fmt.Sprintf("virtual_hosts[%d]", i), err)
		}
		for j, d := range v.Domains {
			if prev, dup := seen[d]; dup {
				return nil, errAt(fmt.Sprintf("virtual_hosts[%d].domains[%d]", i, j), "%q is also in virtual_hosts[%d]", d, prev)
			}
			seen[d] = i
		}
		out.VirtualHosts = append(out.VirtualHosts, v)
	}
	return out, nil
}

func decodeVirtualHost(vh *routev3.VirtualHost, ext Extensions) (*VirtualHost, error) {
	if err := onlyFields(vh, "name", "domains", "routes"); err != nil {
		return nil, err
	}
	out := &VirtualHost{Name: vh.GetName()}
	for _, d := range vh.GetDomains() {
		// Host names are case-insensitive; Envoy lower-cases domains.
		out.Domains = append(out.Domains, lower(d))
	}
	for i, r := range vh.GetRoutes() {
		rt, err := decodeRouteEntry(r, ext)
		if err != nil {
			return nil, wrapAt(fmt.Sprintf("routes[%d]", i), err)
		}
		out.Routes = append(out.Routes, rt)
	}
	return out, nil
}

func decodeRouteEntry(r *routev3.Route, ext Extensions) (*Route, error) {
	if err := onlyFields(r, "name", "match", "route", "redirect", "direct_response", "metadata",
		"request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
		"response_headers_to_remove", "typed_per_filter_config"); err != nil {
		return nil, err
	}
	out := &Route{Name: r.GetName()}
	var claims map[string][]JWTRequiredClaim
	if md := r.GetMetadata().GetFilterMetadata()["ksgw"]; md != nil {
		out.Source = md.GetFields()["source"].GetStringValue()
		if v, ok := md.GetFields()["jwt_required_claims"]; ok {
			var err error
			if claims, err = decodeRequiredClaims(v); err != nil {
				return nil, wrapAt("metadata.filter_metadata[ksgw].jwt_required_claims", err)
			}
		}
	}
	m, err := decodeRouteMatch(r.GetMatch())
	if err != nil {
		return nil, wrapAt("match", err)
	}
	out.Match = m

	switch act := r.GetAction().(type) {
	case *routev3.Route_Route:
		if out.Forward, err = decodeRouteAction(act.Route); err != nil {
			return nil, wrapAt("route", err)
		}
	case *routev3.Route_Redirect:
		if out.Redirect, err = decodeRedirect(act.Redirect, &out.Match); err != nil {
			return nil, wrapAt("redirect", err)
		}
	case *routev3.Route_DirectResponse:
		if out.DirectResponse, err = decodeDirectResponse(act.DirectResponse); err != nil {
			return nil, wrapAt("direct_response", err)
		}
	default:
		return nil, errAt("action", "unsupported action %q", oneofName(r, "action"))
	}

	if out.RequestHeaders, err = decodeHeaderMutation("request_headers_to_add", "request_headers_to_remove", r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove(), true); err != nil {
		return nil, err
	}
	if out.ResponseHeaders, err = decodeHeaderMutation("response_headers_to_add", "response_headers_to_remove", r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove(), false); err != nil {
		return nil, err
	}
	// Sorted for deterministic errors: map order is random.
	for _, name := range slices.Sorted(maps.Keys(r.GetTypedPerFilterConfig())) {
		if err := decodePerFilterConfig(out, name, r.GetTypedPerFilterConfig()[name], ext); err != nil {
			return nil, wrapAt("typed_per_filter_config["+name+"]", err)
		}
	}
	if claims != nil {
		attached := false
		for _, pf := range out.PerFilter {
			if j, ok := pf.(*JWTPerRoute); ok && !j.Disabled {
				j.RequiredClaims, attached = claims, true
			}
		}
		if !attached {
			// Claims nobody checks would silently let every request through.
			return nil, errAt("metadata.filter_metadata[ksgw].jwt_required_claims", "route has no jwt_authn requirement to check them")
		}
	}
	return out, nil
}

// decodeRequiredClaims reads {provider: [{name, values: [string...]}]}.
func decodeRequiredClaims(v *structpb.Value) (map[string][]JWTRequiredClaim, error) {
	byProv := v.GetStructValue()
	if byProv == nil {
		return nil, errors.New("want a struct of provider name to claim list")
	}
	out := make(map[string][]JWTRequiredClaim, len(byProv.GetFields()))
	for _, prov := range slices.Sorted(maps.Keys(byProv.GetFields())) {
		lv := byProv.GetFields()[prov].GetListValue()
		if lv == nil {
			return nil, errAt(prov, "want a list of claims")
		}
		for i, cv := range lv.GetValues() {
			at := fmt.Sprintf("%s[%d]", prov, i)
			c := cv.GetStructValue()
			if c == nil {
				return nil, errAt(at, "want a struct {name, values}")
			}
			var rc JWTRequiredClaim
			for _, k := range slices.Sorted(maps.Keys(c.GetFields())) {
				f := c.GetFields()[k]
				switch k {
				case "name":
					n, ok := f.GetKind().(*structpb.Value_StringValue)
					if !ok || n.StringValue == "" || slices.Contains(strings.Split(n.StringValue, "."), "") {
						return nil, errAt(at+".name", "want a claim name or a dotted path of non-empty names")
					}
					rc.Name = n.StringValue
				case "values":
					l := f.GetListValue()
					if l == nil {
						return nil, errAt(at+".values", "want a list of strings")
					}
					for j, e := range l.GetValues() {
						s, ok := e.GetKind().(*structpb.Value_StringValue)
						if !ok {
							return nil, errAt(fmt.Sprintf("%s.values[%d]", at, j), "want a string")
						}
						rc.Values = append(rc.Values, s.StringValue)
					}
				default:
					return nil, errAt(at, "unknown field %q", k)
				}
			}
			if rc.Name == "" {
				return nil, errAt(at+".name", "required")
			}
			out[prov] = append(out[prov], rc)
		}
	}
	return out, nil
}

// decodePerFilterConfig decodes one typed_per_filter_config entry, which
// may be wrapped in a route.v3.FilterConfig (is_optional, disabled) as
// Envoy allows.
func decodePerFilterConfig(out *Route, name string, cfg *anypb.Any, ext Extensions) error {
	optional := false
	if cfg.MessageIs((*routev3.FilterConfig)(nil)) {
		var fc routev3.FilterConfig
		if err := cfg.UnmarshalTo(&fc); err != nil {
			return err
		}
		if err := onlyFields(&fc, "config", "is_optional", "disabled"); err != nil {
			return err
		}
		optional = fc.GetIsOptional()
		if fc.GetDisabled() {
			// The fault and CORS filters do nothing on a route
			// without their config: disabled means no config.
			if name == FaultFilterName || name == CORSFilterName {
				return nil
			}
			setPerFilter(out, name, FilterDisabled{})
			return nil
		}
		cfg = fc.GetConfig()
		if cfg == nil {
			// Envoy: an empty FilterConfig enables a filter that the
			// HCM disabled by default, with its listener config.
			setPerFilter(out, name, FilterEnabled{})
			return nil
		}
	}
	var err error
	switch name {
	case FaultFilterName:
		out.Fault, err = decodeFault(cfg)
	case CORSFilterName:
		out.CORS, err = decodeCORS(cfg)
	default:
		var v any
		v, err = decodeOverride(cfg, ext)
		if errors.Is(err, errUnsupportedOverride) && optional {
			return nil // Envoy ignores optional configs of unknown filters
		}
		if err == nil {
			setPerFilter(out, name, v)
		}
	}
	return err
}

func setPerFilter(out *Route, name string, v any) {
	if out.PerFilter == nil {
		out.PerFilter = make(map[string]any, 2)
	}
	out.PerFilter[name] = v
}

func decodeDirectResponse(d *routev3.DirectResponseAction) (*DirectResponse, error) {
	if err := onlyFields(d, "status", "body"); err != nil {
		return nil, err
	}
	dr := &DirectResponse{Status: int(d.GetStatus())}
	if b := d.GetBody(); b != nil {
		switch s := b.GetSpecifier().(type) {
		case *corev3.DataSource_InlineString:
			dr.Body = s.InlineString
		case *corev3.DataSource_InlineBytes:
			dr.Body = string(s.InlineBytes)
		default:
			return nil, errAt("body", "only inline bodies are supported")
		}
	}
	// Envoy's default max_direct_response_body_size_bytes.
	if len(dr.Body) > 4096 {
		return nil, errAt("body", "%d bytes is over the 4096-byte limit", len(dr.Body))
	}
	return dr, nil
}

func decodeRouteMatch(m *routev3.RouteMatch) (RouteMatch, error) {
	out := RouteMatch{CaseSensitive: true}
	if err := onlyFields(m, "prefix", "path", "safe_regex", "path_separated_prefix", "case_sensitive", "headers", "query_parameters"); err != nil {
		// A path specifier outside the subset gets the contract's wording.
		var fe *fieldError
		if errors.As(err, &fe) && m.ProtoReflect().Descriptor().Oneofs().ByName("path_specifier").Fields().ByName(protoreflect.Name(fe.field)) != nil {
			return out, fmt.Errorf("unsupported path specifier %q", fe.field)
		}
		return out, err
	}
	if cs := m.GetCaseSensitive(); cs != nil {
		out.CaseSensitive = cs.GetValue()
	}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		out.PathKind, out.Path = PathPrefix, p.Prefix
	case *routev3.RouteMatch_Path:
		out.PathKind, out.Path = PathExact, p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		out.PathKind, out.Path = PathSeparatedPrefix, p.PathSeparatedPrefix
	case *routev3.RouteMatch_SafeRegex:
		// Envoy ignores case_sensitive for safe_regex: a
		// case-insensitive regex carries (?i) itself.
		re, err := compileRegex("safe_regex", p.SafeRegex)
		if err != nil {
			return out, err
		}
		out.PathKind, out.Path, out.Regex = PathRegex, p.SafeRegex.GetRegex(), re
	default:
		return out, fmt.Errorf("unsupported path specifier %q", oneofName(m, "path_specifier"))
	}
	for i, h := range m.GetHeaders() {
		hm, err := decodeHeaderMatcher(h)
		if err != nil {
			return out, wrapAt(fmt.Sprintf("headers[%d]", i), err)
		}
		out.Headers = append(out.Headers, hm)
	}
	for i, q := range m.GetQueryParameters() {
		field := fmt.Sprintf("query_parameters[%d]", i)
		if err := onlyFields(q, "name", "string_match", "present_match"); err != nil {
			return out, wrapAt(field, err)
		}
		qm := QueryParamMatcher{Name: q.GetName()}
		switch s := q.GetQueryParameterMatchSpecifier().(type) {
		case *routev3.QueryParameterMatcher_StringMatch:
			sm, err := decodeStringMatcher(field+".string_match", s.StringMatch)
			if err != nil {
				return out, err
			}
			qm.String = sm
		case *routev3.QueryParameterMatcher_PresentMatch:
			qm.Present = s.PresentMatch
		case nil:
			// Envoy: no specifier matches any present parameter.
			qm.Present = true
		}
		out.QueryParams = append(out.QueryParams, qm)
	}
	return out, nil
}

func decodeHeaderMatcher(h *routev3.HeaderMatcher) (HeaderMatcher, error) {
	hm := HeaderMatcher{Name: lower(h.GetName()), Invert: h.GetInvertMatch(), TreatMissingAsEmpty: h.GetTreatMissingHeaderAsEmpty()}
	if err := onlyFields(h, "name", "exact_match", "safe_regex_match", "present_match", "prefix_match",
		"suffix_match", "contains_match", "string_match", "invert_match", "treat_missing_header_as_empty"); err != nil {
		return hm, err
	}
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		sm, err := decodeStringMatcher("string_match", s.StringMatch)
		if err != nil {
			return hm, err
		}
		hm.String = sm
	case *routev3.HeaderMatcher_PresentMatch:
		hm.Present = s.PresentMatch
	case *routev3.HeaderMatcher_ExactMatch:
		hm.String = &StringMatcher{Kind: StringExact, Value: s.ExactMatch}
	case *routev3.HeaderMatcher_PrefixMatch:
		hm.String = &StringMatcher{Kind: StringPrefix, Value: s.PrefixMatch}
	case *routev3.HeaderMatcher_SuffixMatch:
		hm.String = &StringMatcher{Kind: StringSuffix, Value: s.SuffixMatch}
	case *routev3.HeaderMatcher_ContainsMatch:
		hm.String = &StringMatcher{Kind: StringContains, Value: s.ContainsMatch}
	case *routev3.HeaderMatcher_SafeRegexMatch:
		re, err := compileRegex("safe_regex_match", s.SafeRegexMatch)
		if err != nil {
			return hm, err
		}
		hm.String = &StringMatcher{Kind: StringRegex, Value: s.SafeRegexMatch.GetRegex(), Regex: re}
	case nil:
		// Envoy: a matcher with no specifier matches presence.
		hm.Present = true
	}
	return hm, nil
}

func decodeRouteAction(a *routev3.RouteAction) (*RouteAction, error) {
	if err := onlyFields(a, "cluster", "weighted_clusters", "timeout", "retry_policy", "request_mirror_policies",
		"prefix_rewrite", "regex_rewrite", "host_rewrite_literal", "hash_policy"); err != nil {
		return nil, err
	}
	out := &RouteAction{}
	switch c := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		out.Clusters = []WeightedCluster{{Name: c.Cluster, Weight: 1}}
		out.TotalWeight = 1
	case *routev3.RouteAction_WeightedClusters:
		wcs := c.WeightedClusters
		if err := onlyFields(wcs, "clusters", "total_weight"); err != nil {
			return nil, wrapAt("weighted_clusters", err)
		}
		var total uint64
		for i, wc := range wcs.GetClusters() {
			field := fmt.Sprintf("weighted_clusters.clusters[%d]", i)
			if err := onlyFields(wc, "name", "weight", "request_headers_to_add", "request_headers_to_remove",
				"response_headers_to_add", "response_headers_to_remove"); err != nil {
				return nil, wrapAt(field, err)
			}
			if wc.GetName() == "" {
				return nil, errAt(field+".name", "required")
			}
			w := WeightedCluster{Name: wc.GetName(), Weight: wc.GetWeight().GetValue()}
			var err error
			if w.RequestHeaders, err = decodeHeaderMutation(field+".request_headers_to_add", field+".request_headers_to_remove", wc.GetRequestHeadersToAdd(), wc.GetRequestHeadersToRemove(), true); err != nil {
				return nil, err
			}
			if w.ResponseHeaders, err = decodeHeaderMutation(field+".response_headers_to_add", field+".response_headers_to_remove", wc.GetResponseHeadersToAdd(), wc.GetResponseHeadersToRemove(), false); err != nil {
				return nil, err
			}
			total += uint64(w.Weight)
			out.Clusters = append(out.Clusters, w)
		}
		// Envoy caps the sum at uint32 and, with the deprecated
		// total_weight, requires the sum to equal it. A sum of 0 is
		// kept (ksgw answers 503) where Envoy would reject the route.
		if total > math.MaxUint32 {
			return nil, errAt("weighted_clusters", "sum of weights %d overflows uint32", total)
		}
		if tw := wcs.GetTotalWeight(); tw != nil && uint64(tw.GetValue()) != total {
			return nil, errAt("weighted_clusters.total_weight", "%d is not the sum of the weights (%d)", tw.GetValue(), total)
		}
		out.TotalWeight = uint32(total)
	default:
		return nil, errAt("cluster_specifier", "unsupported cluster specifier %q", oneofName(a, "cluster_specifier"))
	}
	// Envoy's route timeout defaults to 15s when unset; 0s disables it.
	out.Timeout = 15 * time.Second
	if a.GetTimeout() != nil {
		out.Timeout = duration(a.GetTimeout())
	}
	if rp := a.GetRetryPolicy(); rp != nil {
		p, err := decodeRetry(rp)
		if err != nil {
			return nil, wrapAt("retry_policy", err)
		}
		out.Retry = p
	}
	for i, m := range a.GetRequestMirrorPolicies() {
		field := fmt.Sprintf("request_mirror_policies[%d]", i)
		if err := onlyFields(m, "cluster", "runtime_fraction"); err != nil {
			return nil, wrapAt(field, err)
		}
		if m.GetCluster() == "" {
			return nil, errAt(field+".cluster", "required")
		}
		// No runtime: the default_value is what Envoy uses when the
		// runtime key is absent. No runtime_fraction mirrors all.
		pm := uint32(1_000_000)
		if rf := m.GetRuntimeFraction(); rf != nil {
			pm = perMillion(rf.GetDefaultValue())
		}
		out.Mirrors = append(out.Mirrors, Mirror{Cluster: m.GetCluster(), PerMillion: pm})
	}
	out.PrefixRewrite = a.GetPrefixRewrite()
	if rr := a.GetRegexRewrite(); rr != nil {
		if out.PrefixRewrite != "" {
			return nil, errAt("regex_rewrite", "cannot be combined with prefix_rewrite")
		}
		var err error
		if out.RegexRewrite, err = decodeRegexRewrite("regex_rewrite", rr); err != nil {
			return nil, err
		}
	}
	out.HostRewrite = a.GetHostRewriteLiteral()
	for i, hp := range a.GetHashPolicy() {
		field := fmt.Sprintf("hash_policy[%d]", i)
		p := HashPolicy{Terminal: hp.GetTerminal()}
		switch s := hp.GetPolicySpecifier().(type) {
		case *routev3.RouteAction_HashPolicy_Header_:
			if err := onlyFields(s.Header, "header_name"); err != nil {
				return nil, wrapAt(field+".header", err)
			}
			p.Header = lower(s.Header.GetHeaderName())
		case *routev3.RouteAction_HashPolicy_Cookie_:
			if err := onlyFields(s.Cookie, "name", "path", "ttl"); err != nil {
				return nil, wrapAt(field+".cookie", err)
			}
			p.Cookie = &HashCookie{Name: s.Cookie.GetName(), Path: s.Cookie.GetPath(), TTL: duration(s.Cookie.GetTtl())}
		case *routev3.RouteAction_HashPolicy_ConnectionProperties_:
			if !s.ConnectionProperties.GetSourceIp() {
				return nil, errAt(field+".connection_properties.source_ip", "must be true")
			}
			p.SourceIP = true
		default:
			return nil, errAt(field, "unsupported hash policy %q", oneofName(hp, "policy_specifier"))
		}
		out.HashPolicies = append(out.HashPolicies, p)
	}
	return out, nil
}

// decodeRegexRewrite compiles a RegexMatchAndSubstitute. The pattern is not
// anchored (Envoy replaces every match, RE2::GlobalReplace) and the
// substitution's group references must exist, as RE2::CheckRewriteString
// demands in Envoy.
func decodeRegexRewrite(field string, rr *matcherv3.RegexMatchAndSubstitute) (*RegexRewrite, error) {
	if err := onlyFields(rr, "pattern", "substitution"); err != nil {
		return nil, wrapAt(field, err)
	}
	if err := onlyFields(rr.GetPattern(), "regex", "google_re2"); err != nil {
		return nil, wrapAt(field+".pattern", err)
	}
	re, err := regexp.Compile(rr.GetPattern().GetRegex())
	if err != nil {
		return nil, errAt(field+".pattern.regex", "invalid regex %q: %v", rr.GetPattern().GetRegex(), err)
	}
	sub, maxGroup, err := envoySubstitution(rr.GetSubstitution())
	if err != nil {
		return nil, errAt(field+".substitution", "%v", err)
	}
	if maxGroup > re.NumSubexp() {
		return nil, errAt(field+".substitution", "refers to group \\%d but the pattern has %d", maxGroup, re.NumSubexp())
	}
	return &RegexRewrite{Regex: re, Substitution: sub}, nil
}

// envoySubstitution converts an RE2 rewrite string (\0-\9 group references,
// \\ for a backslash) to Go's Expand syntax (${N}, $$ for a dollar). Any
// other backslash escape is invalid in RE2 and so here.
func envoySubstitution(s string) (string, int, error) {
	var b strings.Builder
	maxGroup := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("trailing backslash in %q", s)
			}
			i++
			switch d := s[i]; {
			case d >= '0' && d <= '9':
				b.WriteString("${")
				b.WriteByte(d)
				b.WriteString("}")
				maxGroup = max(maxGroup, int(d-'0'))
			case d == '\\':
				b.WriteByte('\\')
			default:
				return "", 0, fmt.Errorf("invalid escape \\%c in %q", d, s)
			}
		case '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), maxGroup, nil
}

var retryOnNames = map[string]RetryOn{
	"5xx":                    Retry5xx,
	"gateway-error":          RetryGatewayError,
	"connect-failure":        RetryConnectFailure,
	"reset":                  RetryReset,
	"retriable-4xx":          RetryRetriable4xx,
	"refused-stream":         RetryRefusedStream,
	"retriable-status-codes": RetryRetriableStatusCodes,
}

func decodeRetry(rp *routev3.RetryPolicy) (*RetryPolicy, error) {
	if err := onlyFields(rp, "retry_on", "num_retries", "per_try_timeout", "retriable_status_codes"); err != nil {
		return nil, err
	}
	// Envoy's num_retries defaults to 1.
	out := &RetryPolicy{NumRetries: 1, PerTryTimeout: duration(rp.GetPerTryTimeout())}
	if n := rp.GetNumRetries(); n != nil {
		out.NumRetries = n.GetValue()
	}
	for _, name := range strings.Split(rp.GetRetryOn(), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		bit, ok := retryOnNames[name]
		if !ok {
			return nil, errAt("retry_on", "unsupported condition %q", name)
		}
		out.On |= bit
	}
	for i, c := range rp.GetRetriableStatusCodes() {
		if c < 100 || c > 599 {
			return nil, errAt(fmt.Sprintf("retriable_status_codes[%d]", i), "%d is not an HTTP status", c)
		}
		out.RetriableStatusCodes = append(out.RetriableStatusCodes, int(c))
	}
	return out, nil
}

var redirectCodes = map[routev3.RedirectAction_RedirectResponseCode]int{
	routev3.RedirectAction_MOVED_PERMANENTLY:  301,
	routev3.RedirectAction_FOUND:              302,
	routev3.RedirectAction_SEE_OTHER:          303,
	routev3.RedirectAction_TEMPORARY_REDIRECT: 307,
	routev3.RedirectAction_PERMANENT_REDIRECT: 308,
}

func decodeRedirect(r *routev3.RedirectAction, m *RouteMatch) (*Redirect, error) {
	if err := onlyFields(r, "https_redirect", "scheme_redirect", "host_redirect", "port_redirect",
		"path_redirect", "prefix_rewrite", "regex_rewrite", "response_code", "strip_query"); err != nil {
		return nil, err
	}
	out := &Redirect{Host: r.GetHostRedirect(), Port: r.GetPortRedirect(), StripQuery: r.GetStripQuery()}
	if out.Port > 65535 {
		return nil, errAt("port_redirect", "%d is not a port", out.Port)
	}
	switch s := r.GetSchemeRewriteSpecifier().(type) {
	case *routev3.RedirectAction_HttpsRedirect:
		out.HTTPSRedirect = s.HttpsRedirect
	case *routev3.RedirectAction_SchemeRedirect:
		// Schemes are case-insensitive (RFC 3986 §3.1); emit lower case.
		out.Scheme = lower(s.SchemeRedirect)
	}
	switch p := r.GetPathRewriteSpecifier().(type) {
	case nil:
	case *routev3.RedirectAction_PathRedirect:
		out.Path = p.PathRedirect
	case *routev3.RedirectAction_PrefixRewrite:
		out.PrefixRewrite = p.PrefixRewrite
		switch m.PathKind {
		case PathPrefix, PathSeparatedPrefix:
			out.PrefixMatch = m.Path
		default:
			out.WholePathMatched = true
		}
	case *routev3.RedirectAction_RegexRewrite:
		rr, err := decodeRegexRewrite("regex_rewrite", p.RegexRewrite)
		if err != nil {
			return nil, err
		}
		out.RegexRewrite = rr
	}
	code, ok := redirectCodes[r.GetResponseCode()]
	if !ok {
		return nil, errAt("response_code", "unsupported %v", r.GetResponseCode())
	}
	out.StatusCode = code
	return out, nil
}

// decodeHeaderMutation decodes header edits. As Envoy's HeaderParser, it
// rejects edits of pseudo-headers and, for requests, of Host (use
// host_rewrite_literal), and drops empty values unless keep_empty_value.
func decodeHeaderMutation(addField, removeField string, add []*corev3.HeaderValueOption, remove []string, request bool) (HeaderMutation, error) {
	var out HeaderMutation
	forbidden := func(name string) bool {
		return strings.HasPrefix(name, ":") || request && name == "host"
	}
	for i, r := range remove {
		name := lower(r)
		if forbidden(name) {
			return out, errAt(fmt.Sprintf("%s[%d]", removeField, i), "%q cannot be removed", r)
		}
		out.Remove = append(out.Remove, name)
	}
	for i, o := range add {
		field := fmt.Sprintf("%s[%d]", addField, i)
		if err := onlyFields(o, "header", "append", "append_action", "keep_empty_value"); err != nil {
			return out, wrapAt(field, err)
		}
		h := o.GetHeader()
		if h == nil || h.GetKey() == "" {
			return out, errAt(field+".header", "missing key")
		}
		name := lower(h.GetKey())
		if forbidden(name) {
			return out, errAt(field+".header.key", "%q cannot be modified", h.GetKey())
		}
		v := h.GetValue()
		if v == "" && len(h.GetRawValue()) > 0 {
			v = string(h.GetRawValue())
		}
		// Envoy expands %COMMAND% operators in header values; we do not,
		// and forwarding the literal would silently differ from Envoy.
		if isFormatter(v) {
			return out, errAt(field+".header.value", "command operators (%%...%%) are not supported")
		}
		if v == "" && !o.GetKeepEmptyValue() {
			continue // Envoy drops empty values unless keep_empty_value
		}
		opt := HeaderValueOption{Name: name, Value: v}
		if ap := o.GetAppend(); ap != nil {
			// Legacy append (deprecated): Envoy rejects it together
			// with append_action.
			if o.GetAppendAction() != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
				return out, errAt(field+".append", "cannot be combined with append_action")
			}
			opt.Action = AppendIfExistsOrAdd
			if !ap.GetValue() {
				opt.Action = OverwriteIfExistsOrAdd
			}
		} else {
			switch o.GetAppendAction() {
			case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
				opt.Action = AppendIfExistsOrAdd
			case corev3.HeaderValueOption_ADD_IF_ABSENT:
				opt.Action = AddIfAbsent
			case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
				opt.Action = OverwriteIfExistsOrAdd
			case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
				opt.Action = OverwriteIfExists
			default:
				return out, errAt(field+".append_action", "unsupported %v", o.GetAppendAction())
			}
		}
		out.Add = append(out.Add, opt)
	}
	return out, nil
}

// isFormatter reports whether v contains an Envoy %COMMAND% operator. "%%"
// is Envoy's escaped percent sign, not an operator.
func isFormatter(v string) bool {
	for {
		i := strings.IndexByte(v, '%')
		if i < 0 || i+1 >= len(v) {
			return false
		}
		rest := v[i+1:]
		j := strings.IndexByte(rest, '%')
		if j < 0 {
			return false
		}
		cmd := rest[:j]
		if cmd != "" && strings.Trim(cmd, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_()0123456789:-.") == "" {
			return true
		}
		v = rest[j+1:]
	}
}

func decodeFault(a *anypb.Any) (*Fault, error) {
	var f faultv3.HTTPFault
	if err := a.UnmarshalTo(&f); err != nil {
		return nil, err
	}
	if err := f.ValidateAll(); err != nil {
		return nil, err
	}
	if err := onlyFields(&f, "delay", "abort"); err != nil {
		return nil, err
	}
	out := &Fault{}
	if d := f.GetDelay(); d != nil {
		if err := onlyFields(d, "fixed_delay", "percentage"); err != nil {
			return nil, wrapAt("delay", err)
		}
		if d.GetFixedDelay() == nil {
			return nil, errAt("delay", "only fixed_delay is supported")
		}
		out.Delay = duration(d.GetFixedDelay())
		// An unset FractionalPercent is 0/100 in Envoy: never.
		out.DelayPerMillion = perMillion(d.GetPercentage())
	}
	if ab := f.GetAbort(); ab != nil {
		if err := onlyFields(ab, "http_status", "percentage"); err != nil {
			return nil, wrapAt("abort", err)
		}
		out.AbortStatus = int(ab.GetHttpStatus())
		if out.AbortStatus == 0 {
			return nil, errAt("abort", "only http_status aborts are supported")
		}
		out.AbortPerMillion = perMillion(ab.GetPercentage())
	}
	return out, nil
}

func decodeCORS(a *anypb.Any) (*CORS, error) {
	var c corsv3.CorsPolicy
	if err := a.UnmarshalTo(&c); err != nil {
		return nil, err
	}
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	if err := onlyFields(&c, "allow_origin_string_match", "allow_methods", "allow_headers", "expose_headers", "max_age", "allow_credentials"); err != nil {
		return nil, err
	}
	out := &CORS{
		AllowMethods:     c.GetAllowMethods(),
		AllowHeaders:     c.GetAllowHeaders(),
		ExposeHeaders:    c.GetExposeHeaders(),
		MaxAge:           c.GetMaxAge(),
		AllowCredentials: c.GetAllowCredentials().GetValue(),
	}
	for i, m := range c.GetAllowOriginStringMatch() {
		sm, err := decodeStringMatcher(fmt.Sprintf("allow_origin_string_match[%d]", i), m)
		if err != nil {
			return nil, err
		}
		out.AllowOrigins = append(out.AllowOrigins, *sm)
	}
	if out.MaxAge != "" {
		if n, err := strconv.ParseUint(out.MaxAge, 10, 63); err != nil || n > math.MaxInt32 {
			return nil, errAt("max_age", "must be a number of seconds, got %q", out.MaxAge)
		}
	}
	return out, nil
}
