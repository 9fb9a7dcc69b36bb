package dpconfig

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Names of the HTTP filters whose per-route configuration we apply.
const (
	FaultFilterName  = "envoy.filters.http.fault"
	CORSFilterName   = "envoy.filters.http.cors"
	RouterFilterName = "envoy.filters.http.router"
)

// DecodeRoute decodes a RouteConfiguration.
func DecodeRoute(a *anypb.Any) (*RouteConfig, error) {
	var rc routev3.RouteConfiguration
	if err := a.UnmarshalTo(&rc); err != nil {
		return nil, fmt.Errorf("route configuration: %w", err)
	}
	if err := rc.ValidateAll(); err != nil {
		return nil, fmt.Errorf("route configuration %q: %w", rc.GetName(), err)
	}
	out, err := decodeRouteConfig(&rc)
	if err != nil {
		return nil, fmt.Errorf("route configuration %q: %w", rc.GetName(), err)
	}
	return out, nil
}

func decodeRouteConfig(rc *routev3.RouteConfiguration) (*RouteConfig, error) {
	out := &RouteConfig{Name: rc.GetName()}
	if len(rc.GetRequestHeadersToAdd())+len(rc.GetResponseHeadersToAdd())+len(rc.GetRequestHeadersToRemove())+len(rc.GetResponseHeadersToRemove()) > 0 {
		return nil, errAt("request_headers_to_add", "header edits at route configuration level are not supported")
	}
	for i, vh := range rc.GetVirtualHosts() {
		v, err := decodeVirtualHost(vh)
		if err != nil {
			return nil, wrapAt(fmt.Sprintf("virtual_hosts[%d]", i), err)
		}
		out.VirtualHosts = append(out.VirtualHosts, v)
	}
	return out, nil
}

func decodeVirtualHost(vh *routev3.VirtualHost) (*VirtualHost, error) {
	out := &VirtualHost{Name: vh.GetName(), Domains: vh.GetDomains()}
	if vh.GetRequireTls() != routev3.VirtualHost_NONE {
		return nil, errAt("require_tls", "unsupported")
	}
	if len(vh.GetRequestHeadersToAdd())+len(vh.GetResponseHeadersToAdd())+len(vh.GetRequestHeadersToRemove())+len(vh.GetResponseHeadersToRemove()) > 0 {
		return nil, errAt("request_headers_to_add", "header edits at virtual host level are not supported")
	}
	for i, r := range vh.GetRoutes() {
		rt, err := decodeRouteEntry(r)
		if err != nil {
			return nil, wrapAt(fmt.Sprintf("routes[%d]", i), err)
		}
		out.Routes = append(out.Routes, rt)
	}
	return out, nil
}

func decodeRouteEntry(r *routev3.Route) (*Route, error) {
	out := &Route{Name: r.GetName()}
	if md := r.GetMetadata().GetFilterMetadata()["ksgw"]; md != nil {
		out.Source = md.GetFields()["source"].GetStringValue()
	}
	m, err := decodeRouteMatch(r.GetMatch())
	if err != nil {
		return nil, wrapAt("match", err)
	}
	out.Match = m

	switch act := r.GetAction().(type) {
	case *routev3.Route_Route:
		out.Forward, err = decodeRouteAction(act.Route)
		if err != nil {
			return nil, wrapAt("route", err)
		}
	case *routev3.Route_Redirect:
		out.Redirect, err = decodeRedirect(act.Redirect)
		if err != nil {
			return nil, wrapAt("redirect", err)
		}
	case *routev3.Route_DirectResponse:
		dr := &DirectResponse{Status: int(act.DirectResponse.GetStatus())}
		if b := act.DirectResponse.GetBody(); b != nil {
			switch s := b.GetSpecifier().(type) {
			case *corev3.DataSource_InlineString:
				dr.Body = s.InlineString
			case *corev3.DataSource_InlineBytes:
				dr.Body = string(s.InlineBytes)
			default:
				return nil, errAt("direct_response.body", "only inline bodies are supported")
			}
		}
		out.DirectResponse = dr
	default:
		return nil, errAt("action", "unsupported action %T", act)
	}

	out.RequestHeaders, err = decodeHeaderMutation("request_headers_to_add", r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove())
	if err != nil {
		return nil, err
	}
	out.ResponseHeaders, err = decodeHeaderMutation("response_headers_to_add", r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove())
	if err != nil {
		return nil, err
	}
	for name, cfg := range r.GetTypedPerFilterConfig() {
		switch name {
		case FaultFilterName:
			out.Fault, err = decodeFault(cfg)
		case CORSFilterName:
			out.CORS, err = decodeCORS(cfg)
		default:
			err = fmt.Errorf("unsupported filter")
		}
		if err != nil {
			return nil, wrapAt("typed_per_filter_config["+name+"]", err)
		}
	}
	return out, nil
}

func decodeRouteMatch(m *routev3.RouteMatch) (RouteMatch, error) {
	out := RouteMatch{CaseSensitive: true}
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
		re, err := compileRegex("safe_regex", p.SafeRegex)
		if err != nil {
			return out, err
		}
		if !out.CaseSensitive {
			re, err = regexp.Compile("(?i)" + re.String())
			if err != nil {
				return out, errAt("safe_regex", "%v", err)
			}
		}
		out.PathKind, out.Path, out.Regex = PathRegex, p.SafeRegex.GetRegex(), re
	default:
		return out, errAt("path_specifier", "unsupported path specifier %T", p)
	}
	if m.GetRuntimeFraction() != nil || m.GetGrpc() != nil || m.GetTlsContext() != nil || len(m.GetCookies()) > 0 || len(m.GetDynamicMetadata()) > 0 || m.GetFilterState() != nil {
		return out, errAt("match", "only path, headers and query_parameters are supported")
	}
	for i, h := range m.GetHeaders() {
		hm := HeaderMatcher{Name: lower(h.GetName()), Invert: h.GetInvertMatch(), TreatMissingAsEmpty: h.GetTreatMissingHeaderAsEmpty()}
		field := fmt.Sprintf("headers[%d]", i)
		switch s := h.GetHeaderMatchSpecifier().(type) {
		case *routev3.HeaderMatcher_StringMatch:
			sm, err := decodeStringMatcher(field+".string_match", s.StringMatch)
			if err != nil {
				return out, err
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
			re, err := compileRegex(field+".safe_regex_match", s.SafeRegexMatch)
			if err != nil {
				return out, err
			}
			hm.String = &StringMatcher{Kind: StringRegex, Value: s.SafeRegexMatch.GetRegex(), Regex: re}
		case nil:
			// Envoy: a matcher with no specifier matches presence.
			hm.Present = true
		default:
			return out, errAt(field, "unsupported header match %T", s)
		}
		out.Headers = append(out.Headers, hm)
	}
	for i, q := range m.GetQueryParameters() {
		qm := QueryParamMatcher{Name: q.GetName()}
		field := fmt.Sprintf("query_parameters[%d]", i)
		switch s := q.GetQueryParameterMatchSpecifier().(type) {
		case *routev3.QueryParameterMatcher_StringMatch:
			sm, err := decodeStringMatcher(field+".string_match", s.StringMatch)
			if err != nil {
				return out, err
			}
			qm.String = sm
		case *routev3.QueryParameterMatcher_PresentMatch:
			qm.Present = s.PresentMatch
		default:
			return out, errAt(field, "unsupported query parameter match %T", s)
		}
		out.QueryParams = append(out.QueryParams, qm)
	}
	return out, nil
}

func decodeRouteAction(a *routev3.RouteAction) (*RouteAction, error) {
	out := &RouteAction{}
	switch c := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		out.Clusters = []WeightedCluster{{Name: c.Cluster, Weight: 1}}
		out.TotalWeight = 1
	case *routev3.RouteAction_WeightedClusters:
		for i, wc := range c.WeightedClusters.GetClusters() {
			if wc.GetName() == "" {
				return nil, errAt(fmt.Sprintf("weighted_clusters.clusters[%d].name", i), "cluster_header and other specifiers are not supported")
			}
			w := WeightedCluster{Name: wc.GetName(), Weight: wc.GetWeight().GetValue()}
			var err error
			field := fmt.Sprintf("weighted_clusters.clusters[%d]", i)
			if w.RequestHeaders, err = decodeHeaderMutation(field+".request_headers_to_add", wc.GetRequestHeadersToAdd(), wc.GetRequestHeadersToRemove()); err != nil {
				return nil, err
			}
			if w.ResponseHeaders, err = decodeHeaderMutation(field+".response_headers_to_add", wc.GetResponseHeadersToAdd(), wc.GetResponseHeadersToRemove()); err != nil {
				return nil, err
			}
			out.TotalWeight += w.Weight
			out.Clusters = append(out.Clusters, w)
		}
	default:
		return nil, errAt("cluster_specifier", "unsupported cluster specifier %T", c)
	}
	out.Timeout = duration(a.GetTimeout())
	if a.GetTimeout() == nil {
		// Envoy's route timeout defaults to 15s when unset.
		out.Timeout = 15e9
	}
	if rp := a.GetRetryPolicy(); rp != nil {
		p, err := decodeRetry(rp)
		if err != nil {
			return nil, wrapAt("retry_policy", err)
		}
		out.Retry = p
	}
	for i, m := range a.GetRequestMirrorPolicies() {
		if m.GetCluster() == "" {
			return nil, errAt(fmt.Sprintf("request_mirror_policies[%d].cluster", i), "required")
		}
		pm := uint32(1_000_000)
		if rf := m.GetRuntimeFraction(); rf != nil {
			pm = perMillion(rf.GetDefaultValue())
		}
		out.Mirrors = append(out.Mirrors, Mirror{Cluster: m.GetCluster(), PerMillion: pm})
	}
	out.PrefixRewrite = a.GetPrefixRewrite()
	if rr := a.GetRegexRewrite(); rr != nil {
		re, err := regexp.Compile(rr.GetPattern().GetRegex())
		if err != nil {
			return nil, errAt("regex_rewrite.pattern", "invalid regex: %v", err)
		}
		out.RegexRewrite = &RegexRewrite{Regex: re, Substitution: envoySubstitution(rr.GetSubstitution())}
	}
	switch h := a.GetHostRewriteSpecifier().(type) {
	case nil:
	case *routev3.RouteAction_HostRewriteLiteral:
		out.HostRewrite = h.HostRewriteLiteral
	default:
		return nil, errAt("host_rewrite_specifier", "only host_rewrite_literal is supported")
	}
	for i, hp := range a.GetHashPolicy() {
		p := HashPolicy{Terminal: hp.GetTerminal()}
		switch s := hp.GetPolicySpecifier().(type) {
		case *routev3.RouteAction_HashPolicy_Header_:
			p.Header = lower(s.Header.GetHeaderName())
		case *routev3.RouteAction_HashPolicy_Cookie_:
			p.Cookie = &HashCookie{Name: s.Cookie.GetName(), Path: s.Cookie.GetPath(), TTL: duration(s.Cookie.GetTtl())}
		case *routev3.RouteAction_HashPolicy_ConnectionProperties_:
			p.SourceIP = s.ConnectionProperties.GetSourceIp()
		default:
			return nil, errAt(fmt.Sprintf("hash_policy[%d]", i), "unsupported hash policy %T", s)
		}
		out.HashPolicies = append(out.HashPolicies, p)
	}
	return out, nil
}

// envoySubstitution converts RE2 \N group references to Go's ${N}.
func envoySubstitution(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			b.WriteString("${")
			b.WriteByte(s[i+1])
			b.WriteString("}")
			i++
			continue
		}
		if s[i] == '$' {
			b.WriteString("$$")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
	for _, c := range rp.GetRetriableStatusCodes() {
		out.RetriableStatusCodes = append(out.RetriableStatusCodes, int(c))
	}
	return out, nil
}

func decodeRedirect(r *routev3.RedirectAction) (*Redirect, error) {
	out := &Redirect{Host: r.GetHostRedirect(), Port: r.GetPortRedirect(), StripQuery: r.GetStripQuery()}
	switch s := r.GetSchemeRewriteSpecifier().(type) {
	case *routev3.RedirectAction_HttpsRedirect:
		out.HTTPSRedirect = s.HttpsRedirect
	case *routev3.RedirectAction_SchemeRedirect:
		out.Scheme = s.SchemeRedirect
	}
	switch p := r.GetPathRewriteSpecifier().(type) {
	case nil:
	case *routev3.RedirectAction_PathRedirect:
		out.Path = p.PathRedirect
	case *routev3.RedirectAction_PrefixRewrite:
		out.PrefixRewrite = p.PrefixRewrite
	default:
		return nil, errAt("path_rewrite_specifier", "unsupported %T", p)
	}
	switch r.GetResponseCode() {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		out.StatusCode = 301
	case routev3.RedirectAction_FOUND:
		out.StatusCode = 302
	case routev3.RedirectAction_SEE_OTHER:
		out.StatusCode = 303
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		out.StatusCode = 307
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		out.StatusCode = 308
	}
	return out, nil
}

func decodeHeaderMutation(field string, add []*corev3.HeaderValueOption, remove []string) (HeaderMutation, error) {
	var out HeaderMutation
	for _, r := range remove {
		out.Remove = append(out.Remove, lower(r))
	}
	for i, o := range add {
		h := o.GetHeader()
		if h == nil || h.GetKey() == "" {
			return out, errAt(fmt.Sprintf("%s[%d].header", field, i), "missing key")
		}
		v := h.GetValue()
		if v == "" && len(h.GetRawValue()) > 0 {
			v = string(h.GetRawValue())
		}
		// Envoy expands %COMMAND% operators in header values; we do not,
		// and forwarding the literal would silently differ from Envoy.
		if isFormatter(v) {
			return out, errAt(fmt.Sprintf("%s[%d].header.value", field, i), "command operators (%%...%%) are not supported")
		}
		opt := HeaderValueOption{Name: lower(h.GetKey()), Value: v}
		switch o.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			opt.Action = AppendIfExistsOrAdd
			if ap := o.GetAppend(); ap != nil && !ap.GetValue() {
				opt.Action = OverwriteIfExistsOrAdd // legacy append: false
			}
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			opt.Action = AddIfAbsent
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			opt.Action = OverwriteIfExistsOrAdd
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			opt.Action = OverwriteIfExists
		}
		out.Add = append(out.Add, opt)
	}
	return out, nil
}

// isFormatter reports whether v contains an Envoy %COMMAND% operator.
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
	out := &Fault{}
	if d := f.GetDelay(); d != nil {
		out.Delay = duration(d.GetFixedDelay())
		out.DelayPerMillion = perMillion(d.GetPercentage())
		if d.GetPercentage() == nil {
			out.DelayPerMillion = 1_000_000
		}
	}
	if ab := f.GetAbort(); ab != nil {
		out.AbortStatus = int(ab.GetHttpStatus())
		if out.AbortStatus == 0 {
			return nil, errAt("abort", "only http_status aborts are supported")
		}
		out.AbortPerMillion = perMillion(ab.GetPercentage())
		if ab.GetPercentage() == nil {
			out.AbortPerMillion = 1_000_000
		}
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
		if _, err := strconv.Atoi(out.MaxAge); err != nil {
			return nil, errAt("max_age", "must be seconds, got %q", out.MaxAge)
		}
	}
	return out, nil
}
