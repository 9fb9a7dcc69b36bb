package translate

import (
	"regexp"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

func routeConfig(l *ir.Listener, clusters map[string]*ir.Cluster) (*routev3.RouteConfiguration, error) {
	rc := &routev3.RouteConfiguration{Name: l.Name}
	if l.HTTPSRedirect {
		rc.VirtualHosts = []*routev3.VirtualHost{{
			Name: "https-redirect", Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:   "https-redirect",
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}}},
			}},
		}}
		return rc, nil
	}
	// Envoy picks one virtual host per request and never falls back to
	// another, so a host that a single-label wildcard's domain catches but
	// its authority regex rejects (a.b.example.com under *.example.com)
	// would get 404 instead of the catch-all "*" virtual host Kubernetes
	// semantics promise it. Such virtual hosts therefore end with the
	// catch-all's routes.
	var fallback []*ir.Route
	for _, vh := range l.VirtualHosts {
		for _, d := range vh.Domains {
			if d == "*" {
				fallback = vh.Routes
			}
		}
	}
	for _, vh := range l.VirtualHosts {
		v := &routev3.VirtualHost{Name: vh.Name, Domains: vh.Domains}
		authority := authorityMatcher(vh.Domains)
		for _, r := range vh.Routes {
			rt := route(r, clusters)
			if authority != nil {
				rt.Match.Headers = append([]*routev3.HeaderMatcher{authority}, rt.Match.Headers...)
			}
			v.Routes = append(v.Routes, rt)
		}
		if authority != nil {
			for _, r := range fallback {
				v.Routes = append(v.Routes, route(r, clusters))
			}
		}
		rc.VirtualHosts = append(rc.VirtualHosts, v)
	}
	return rc, nil
}

// authorityMatcher restricts a virtual host with single-label wildcard
// domains to exactly one label: Envoy's "*.example.com" also matches
// "a.b.example.com", which Kubernetes and ksgw hosts do not allow. Nil when
// the virtual host needs no restriction.
func authorityMatcher(domains []string) *routev3.HeaderMatcher {
	wild := false
	var alts []string
	for _, d := range domains {
		switch {
		case d == "*":
			return nil
		case strings.HasPrefix(d, "*."):
			wild = true
			alts = append(alts, `[^.:]+`+regexp.QuoteMeta(d[1:]))
		default:
			alts = append(alts, regexp.QuoteMeta(d))
		}
	}
	if !wild {
		return nil
	}
	// Host names compare case-insensitively (RFC 9110 §4.2.3); ignore_case
	// has no effect on safe_regex in Envoy, so the regex says it.
	re := "(?i)^(?:" + strings.Join(alts, "|") + `)(:[0-9]+)?$`
	return &routev3.HeaderMatcher{
		Name: ":authority",
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}},
		}},
	}
}

func route(r *ir.Route, clusters map[string]*ir.Cluster) *routev3.Route {
	out := &routev3.Route{
		Name:     r.Name,
		Match:    routeMatch(&r.Match),
		Metadata: metadata(map[string]string{"source": sourceString(r.Source)}),
	}
	switch {
	case r.Forward != nil:
		out.Action = &routev3.Route_Route{Route: routeAction(r, clusters)}
	case r.Redirect != nil:
		out.Action = &routev3.Route_Redirect{Redirect: redirect(r.Redirect)}
	case r.DirectResponse != nil:
		dr := &routev3.DirectResponseAction{Status: uint32(r.DirectResponse.Status)}
		if r.DirectResponse.Body != "" {
			dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: r.DirectResponse.Body}}
		}
		out.Action = &routev3.Route_DirectResponse{DirectResponse: dr}
	}
	out.RequestHeadersToAdd, out.RequestHeadersToRemove = headerMutation(r.RequestHeaders)
	out.ResponseHeadersToAdd, out.ResponseHeadersToRemove = headerMutation(r.ResponseHeaders)
	pfc := map[string]*anypb.Any{}
	if r.Fault != nil {
		pfc[faultFilter] = mustAny(fault(r.Fault))
	}
	if r.CORS != nil {
		pfc[corsFilter] = mustAny(cors(r.CORS))
	}
	if len(pfc) > 0 {
		out.TypedPerFilterConfig = pfc
	}
	return out
}

func stringMatcher(m ir.StringMatch) *matcherv3.StringMatcher {
	sm := &matcherv3.StringMatcher{IgnoreCase: m.IgnoreCase}
	switch m.Kind {
	case ir.MatchExact:
		sm.MatchPattern = &matcherv3.StringMatcher_Exact{Exact: m.Value}
	case ir.MatchPrefix:
		sm.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: m.Value}
	case ir.MatchRegex:
		// ignore_case has no effect on safe_regex in Envoy: the regex
		// carries the flag itself.
		sm.MatchPattern = &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: caseFold(m.Value, m.IgnoreCase)}}
		sm.IgnoreCase = false
	}
	return sm
}

func routeMatch(m *ir.Match) *routev3.RouteMatch {
	out := &routev3.RouteMatch{}
	p := m.Path
	switch p.Kind {
	case ir.PathPrefix:
		v := p.Value
		if v == "" {
			v = "/"
		}
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: v}
	case ir.PathExact:
		out.PathSpecifier = &routev3.RouteMatch_Path{Path: p.Value}
	case ir.PathSegmentPrefix:
		v := strings.TrimRight(p.Value, "/")
		if v == "" {
			// "/" matches every path: a plain prefix.
			out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
		} else {
			out.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: v}
		}
	case ir.PathRegex:
		// Envoy ignores case_sensitive for safe_regex paths.
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: caseFold(p.Value, p.IgnoreCase)}}
	}
	if p.IgnoreCase {
		out.CaseSensitive = wrapperspb.Bool(false)
	}
	for _, h := range m.Headers {
		hm := &routev3.HeaderMatcher{Name: h.Name}
		if h.Match.Kind == ir.MatchPresent {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		} else {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatcher(h.Match)}
		}
		if h.Invert {
			// Istio's withoutHeaders: an absent header satisfies "without".
			hm.InvertMatch = true
			hm.TreatMissingHeaderAsEmpty = true
		}
		out.Headers = append(out.Headers, hm)
	}
	for _, q := range m.QueryParams {
		qm := &routev3.QueryParameterMatcher{Name: q.Name}
		if q.Match.Kind == ir.MatchPresent {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(q.Match)}
		}
		out.QueryParameters = append(out.QueryParameters, qm)
	}
	return out
}

func routeAction(r *ir.Route, clusters map[string]*ir.Cluster) *routev3.RouteAction {
	f := r.Forward
	a := &routev3.RouteAction{Timeout: dur(r.Timeout)}
	if len(f.Backends) == 1 && f.Backends[0].RequestHeaders.IsZero() && f.Backends[0].ResponseHeaders.IsZero() {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: f.Backends[0].Cluster}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, b := range f.Backends {
			cw := &routev3.WeightedCluster_ClusterWeight{Name: b.Cluster, Weight: wrapperspb.UInt32(b.Weight)}
			cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = headerMutation(b.RequestHeaders)
			cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = headerMutation(b.ResponseHeaders)
			wc.Clusters = append(wc.Clusters, cw)
		}
		a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	if rp := r.Retry; rp != nil && rp.Attempts > 0 {
		p := &routev3.RetryPolicy{RetryOn: strings.Join(rp.On, ","), NumRetries: wrapperspb.UInt32(rp.Attempts), RetriableStatusCodes: rp.RetriableStatusCodes}
		if rp.PerTryTimeout > 0 {
			p.PerTryTimeout = dur(rp.PerTryTimeout)
		}
		a.RetryPolicy = p
	}
	for _, m := range r.Mirrors {
		mp := &routev3.RouteAction_RequestMirrorPolicy{Cluster: m.Cluster}
		if m.Percent < 100 {
			mp.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: percent(m.Percent)}
		}
		a.RequestMirrorPolicies = append(a.RequestMirrorPolicies, mp)
	}
	if rw := r.Rewrite; rw != nil {
		if rw.Regex != nil {
			a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: rw.Regex.Pattern}, Substitution: rw.Regex.Substitution}
		} else if rw.PathPrefix != "" {
			a.PrefixRewrite = rw.PathPrefix
		}
		if rw.Host != "" {
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Host}
		}
	}
	var hps []ir.HashPolicy
	if f.HashPolicy != nil {
		hps = []ir.HashPolicy{*f.HashPolicy}
	} else if c := clusters[f.Backends[0].Cluster]; c != nil {
		hps = c.LoadBalancer.HashPolicies
	}
	for _, hp := range hps {
		switch {
		case hp.Header != "":
			a.HashPolicy = append(a.HashPolicy, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: hp.Header}}})
		case hp.Cookie != nil:
			ck := &routev3.RouteAction_HashPolicy_Cookie{Name: hp.Cookie.Name, Path: hp.Cookie.Path}
			if hp.Cookie.TTL > 0 {
				ck.Ttl = dur(hp.Cookie.TTL)
			}
			a.HashPolicy = append(a.HashPolicy, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: ck}})
		case hp.SourceIP:
			a.HashPolicy = append(a.HashPolicy, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}})
		}
	}
	return a
}

var redirectCodes = map[int]routev3.RedirectAction_RedirectResponseCode{
	0: routev3.RedirectAction_MOVED_PERMANENTLY, 301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND, 303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT, 308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

func redirect(r *ir.Redirect) *routev3.RedirectAction {
	out := &routev3.RedirectAction{HostRedirect: r.Host, PortRedirect: r.Port, ResponseCode: redirectCodes[r.StatusCode]}
	if r.Scheme != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: r.Scheme}
	}
	if r.Path != "" {
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: r.Path}
	}
	return out
}

func headerMutation(m ir.HeaderMutation) ([]*corev3.HeaderValueOption, []string) {
	var add []*corev3.HeaderValueOption
	for _, h := range m.Set {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: h.Name, Value: h.Value}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, h := range m.Add {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: h.Name, Value: h.Value}, AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return add, m.Remove
}

func caseFold(re string, ignoreCase bool) string {
	if ignoreCase {
		return "(?i)" + re
	}
	return re
}
