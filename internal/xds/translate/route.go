package translate

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

// routeConfig is the RouteConfiguration a listener's HCM asks for by RDS;
// it carries the listener's name.
func routeConfig(l *ir.Listener, refs *refs) (*routev3.RouteConfiguration, error) {
	rc := &routev3.RouteConfiguration{Name: l.Name}
	if l.HTTPSRedirect {
		rc.VirtualHosts = []*routev3.VirtualHost{httpsRedirectVirtualHost()}
		return rc, nil
	}
	vhosts := l.VirtualHosts
	if !slices.IsSortedFunc(vhosts, byVHostName) {
		vhosts = slices.SortedStableFunc(slices.Values(vhosts), byVHostName)
	}
	rc.VirtualHosts = make([]*routev3.VirtualHost, 0, len(vhosts))
	// Envoy rejects a domain served by two virtual hosts of one route
	// configuration; the IR promises none, so one is a bug upstream.
	owner := make(map[string]string, len(vhosts))
	var catchAll *routev3.VirtualHost
	var restricted []*routev3.VirtualHost
	for _, vh := range vhosts {
		domains := vh.Domains
		if !slices.IsSorted(domains) {
			domains = slices.Sorted(slices.Values(domains))
		}
		for _, d := range domains {
			if prev, dup := owner[d]; dup {
				return nil, fmt.Errorf("virtual host %q: domain %q is already served by virtual host %q", vh.Name, d, prev)
			}
			owner[d] = vh.Name
		}
		authority, err := authorityMatcher(domains)
		if err != nil {
			return nil, fmt.Errorf("virtual host %q: %w", vh.Name, err)
		}
		v := &routev3.VirtualHost{Name: vh.Name, Domains: domains, Routes: make([]*routev3.Route, 0, len(vh.Routes))}
		for _, r := range vh.Routes {
			rt, err := route(r, refs, l.TLS != nil)
			if err != nil {
				return nil, fmt.Errorf("virtual host %q: route %q: %w", vh.Name, r.Name, err)
			}
			if authority != nil {
				rt.Match.Headers = slices.Insert(rt.Match.Headers, 0, authority)
			}
			v.Routes = append(v.Routes, rt)
		}
		if authority != nil {
			restricted = append(restricted, v)
		}
		if slices.Contains(domains, "*") {
			catchAll = v
		}
		rc.VirtualHosts = append(rc.VirtualHosts, v)
	}
	// Envoy picks one virtual host per request and never falls back to
	// another, so a host that a single-label wildcard's domain catches but
	// its authority matcher rejects (a.b.example.com under *.example.com)
	// would get a 404 instead of the catch-all "*" virtual host Kubernetes
	// semantics promise it. Such virtual hosts therefore end with the
	// catch-all's routes, unrestricted. The route messages are shared, not
	// copied: they are immutable from here on.
	if catchAll != nil {
		for _, v := range restricted {
			v.Routes = append(v.Routes, catchAll.Routes...)
		}
	}
	return rc, nil
}

func byVHostName(a, b *ir.VirtualHost) int { return cmp.Compare(a.Name, b.Name) }

// httpsRedirectVirtualHost answers every request with a 301 to the same
// URL over https (Envoy's https_redirect keeps host and path).
func httpsRedirectVirtualHost() *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name: "https-redirect", Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:   "https-redirect",
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}}},
		}},
	}
}

// authorityMatcher restricts a virtual host with single-label wildcard
// domains to exactly one label: Envoy's "*.example.com" also matches
// "a.b.example.com", which Kubernetes Ingress hosts do not allow (Contour
// does the same). Nil when the virtual host needs no restriction.
func authorityMatcher(domains []string) (*routev3.HeaderMatcher, error) {
	wild := false
	alts := make([]string, 0, len(domains))
	for _, d := range domains {
		switch {
		case d == "*":
			return nil, nil
		case strings.HasPrefix(d, "*."):
			wild = true
			alts = append(alts, `[^.:]+`+regexp.QuoteMeta(d[1:]))
		default:
			alts = append(alts, regexp.QuoteMeta(d))
		}
	}
	if !wild {
		return nil, nil
	}
	// Host names compare case-insensitively (RFC 9110 §4.2.3); Envoy
	// ignores ignore_case on safe_regex, so the regex carries (?i).
	re := "(?i)^(?:" + strings.Join(alts, "|") + `)(:[0-9]+)?$`
	return &routev3.HeaderMatcher{
		Name: ":authority",
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}},
		}},
	}, nil
}

func route(r *ir.Route, refs *refs, tlsListener bool) (*routev3.Route, error) {
	m, err := routeMatch(&r.Match)
	if err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	out := &routev3.Route{
		Name:     r.Name,
		Match:    m,
		Metadata: metadata("source", sourceString(r.Source)),
	}
	actions := 0
	for _, set := range []bool{r.Forward != nil, r.Redirect != nil, r.DirectResponse != nil} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		return nil, fmt.Errorf("exactly one of forward, redirect and direct response must be set, got %d", actions)
	}
	switch {
	case r.Forward != nil:
		a, err := routeAction(r, refs)
		if err != nil {
			return nil, err
		}
		out.Action = &routev3.Route_Route{Route: a}
	case r.Redirect != nil:
		rd, err := redirect(r.Redirect)
		if err != nil {
			return nil, err
		}
		out.Action = &routev3.Route_Redirect{Redirect: rd}
	case r.DirectResponse != nil:
		dr := &routev3.DirectResponseAction{Status: uint32(max(r.DirectResponse.Status, 0))}
		if r.DirectResponse.Body != "" {
			dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: r.DirectResponse.Body}}
		}
		out.Action = &routev3.Route_DirectResponse{DirectResponse: dr}
	}
	out.RequestHeadersToAdd, out.RequestHeadersToRemove = headerMutation(r.RequestHeaders)
	out.ResponseHeadersToAdd, out.ResponseHeadersToRemove = headerMutation(r.ResponseHeaders)

	// Per-route filter configs: the listener's fault and CORS filters are
	// no-ops until a route carries one of these (docs/xds-contract.md).
	var pfc map[string]*anypb.Any
	if r.Fault != nil {
		f, err := fault(r.Fault)
		if err != nil {
			return nil, err
		}
		if f != nil {
			pfc = map[string]*anypb.Any{faultFilter: mustAny(f)}
		}
	}
	if r.CORS != nil {
		c, err := cors(r.CORS)
		if err != nil {
			return nil, fmt.Errorf("cors: %w", err)
		}
		if pfc == nil {
			pfc = make(map[string]*anypb.Any, 1)
		}
		pfc[corsFilter] = mustAny(c)
	}
	pfc, hsts, err := routeSecurity(r.Security, tlsListener, pfc)
	if err != nil {
		return nil, err
	}
	if hsts != nil {
		out.ResponseHeadersToAdd = append(out.ResponseHeadersToAdd, hsts)
	}
	out.TypedPerFilterConfig = pfc
	if s := r.Security; s != nil && s.JWT != nil && !s.JWT.Disabled && len(s.JWT.RequiredClaims) > 0 {
		out.Metadata = withRequiredClaims(out.Metadata, s.JWT.RequiredClaims)
	}
	return out, nil
}

// checkRegex rejects what RE2 (Envoy's and Go's regex engine) does not
// compile, so that the error names the route here rather than arriving as
// a NACK.
func checkRegex(re string) error {
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("regex %q: %w", re, err)
	}
	return nil
}

func stringMatcher(m ir.StringMatch) (*matcherv3.StringMatcher, error) {
	sm := &matcherv3.StringMatcher{IgnoreCase: m.IgnoreCase}
	switch m.Kind {
	case ir.MatchExact:
		sm.MatchPattern = &matcherv3.StringMatcher_Exact{Exact: m.Value}
	case ir.MatchPrefix:
		sm.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: m.Value}
	case ir.MatchRegex:
		// Envoy ignores (and ksgw's proxy rejects) ignore_case on a
		// safe_regex: the regex carries the flag itself.
		re := caseFold(m.Value, m.IgnoreCase)
		if err := checkRegex(re); err != nil {
			return nil, err
		}
		sm.MatchPattern = &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}
		sm.IgnoreCase = false
	default:
		return nil, fmt.Errorf("string match kind %d: not a value match", m.Kind)
	}
	return sm, nil
}

func exactMatcher(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

func routeMatch(m *ir.Match) (*routev3.RouteMatch, error) {
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
		// Envoy's path_separated_prefix must not end in "/" nor contain
		// "?" or "#" (its validation: ^[^?#]+[^?#/]$); "/foo/" and "/foo"
		// select the same segments, and "/" selects every path.
		if strings.ContainsAny(p.Value, "?#") {
			return nil, fmt.Errorf("path segment prefix %q: must not contain '?' or '#'", p.Value)
		}
		if v := strings.TrimRight(p.Value, "/"); v == "" {
			out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
		} else {
			out.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: v}
		}
	case ir.PathRegex:
		// Envoy ignores case_sensitive for safe_regex paths.
		re := caseFold(p.Value, p.IgnoreCase)
		if err := checkRegex(re); err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}
	default:
		return nil, fmt.Errorf("path match kind %d: unknown", p.Kind)
	}
	if p.IgnoreCase {
		out.CaseSensitive = wrapperspb.Bool(false)
	}
	if len(m.Headers) > 0 {
		out.Headers = make([]*routev3.HeaderMatcher, 0, len(m.Headers)+1) // +1: room for an :authority matcher
	}
	for i, h := range m.Headers {
		hm := &routev3.HeaderMatcher{Name: h.Name, InvertMatch: h.Invert}
		if h.Match.Kind == ir.MatchPresent {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		} else {
			sm, err := stringMatcher(h.Match)
			if err != nil {
				return nil, errAt("headers", i, err)
			}
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: sm}
			// Istio's withoutHeaders: an absent header satisfies "without",
			// as Istio emits it. Not for present_match: a missing header
			// read as "" would be present, and "without x" would then
			// never match a request lacking x.
			hm.TreatMissingHeaderAsEmpty = h.Invert
		}
		out.Headers = append(out.Headers, hm)
	}
	for i, q := range m.QueryParams {
		qm := &routev3.QueryParameterMatcher{Name: q.Name}
		if q.Match.Kind == ir.MatchPresent {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			sm, err := stringMatcher(q.Match)
			if err != nil {
				return nil, errAt("query_parameters", i, err)
			}
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}
		}
		out.QueryParameters = append(out.QueryParameters, qm)
	}
	return out, nil
}

func routeAction(r *ir.Route, refs *refs) (*routev3.RouteAction, error) {
	f := r.Forward
	if len(f.Backends) == 0 {
		return nil, errors.New("forward: no backends")
	}
	if r.Timeout < 0 {
		return nil, fmt.Errorf("timeout %v: must not be negative", r.Timeout)
	}
	// timeout is always set: Envoy's default when absent is 15s, which
	// no ksgw resource asked for; 0s disables it.
	a := &routev3.RouteAction{Timeout: dur(r.Timeout)}
	for i, b := range f.Backends {
		if _, err := refs.cluster(b.Cluster); err != nil {
			return nil, errAt("forward.backends", i, err)
		}
	}
	if b := f.Backends[0]; len(f.Backends) == 1 && b.RequestHeaders.IsZero() && b.ResponseHeaders.IsZero() {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: b.Cluster}
	} else {
		wc := &routev3.WeightedCluster{Clusters: make([]*routev3.WeightedCluster_ClusterWeight, 0, len(f.Backends))}
		var total uint64
		for _, b := range f.Backends {
			total += uint64(b.Weight)
			cw := &routev3.WeightedCluster_ClusterWeight{Name: b.Cluster, Weight: wrapperspb.UInt32(b.Weight)}
			cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = headerMutation(b.RequestHeaders)
			cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = headerMutation(b.ResponseHeaders)
			wc.Clusters = append(wc.Clusters, cw)
		}
		// Envoy sums the weights in a uint32.
		if total > math.MaxUint32 {
			return nil, fmt.Errorf("forward: sum of weights %d overflows uint32", total)
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
	for i, m := range r.Mirrors {
		if _, err := refs.cluster(m.Cluster); err != nil {
			return nil, errAt("mirrors", i, err)
		}
		if !(m.Percent > 0 && m.Percent <= 100) {
			return nil, errAt("mirrors", i, fmt.Errorf("percent %v: must be in (0, 100]", m.Percent))
		}
		mp := &routev3.RouteAction_RequestMirrorPolicy{Cluster: m.Cluster}
		// Absent means every request (Envoy); only a partial mirror says so.
		if m.Percent < 100 {
			mp.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: percent(m.Percent)}
		}
		a.RequestMirrorPolicies = append(a.RequestMirrorPolicies, mp)
	}
	if rw := r.Rewrite; rw != nil {
		// Envoy allows one of prefix_rewrite and regex_rewrite; the regex
		// is the more specific instruction.
		if rw.Regex != nil {
			if err := checkRegex(rw.Regex.Pattern); err != nil {
				return nil, fmt.Errorf("rewrite: %w", err)
			}
			a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: rw.Regex.Pattern}, Substitution: rw.Regex.Substitution}
		} else if rw.PathPrefix != "" {
			a.PrefixRewrite = rw.PathPrefix
		}
		if rw.Host != "" {
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Host}
		}
	}
	// Envoy reads consistent-hash keys from the route, not the cluster:
	// the route's own policy, else the (first) backend cluster's.
	if f.HashPolicy != nil {
		a.HashPolicy = hashPolicies([]ir.HashPolicy{*f.HashPolicy})
	} else if c := refs.clusters[f.Backends[0].Cluster]; len(c.LoadBalancer.HashPolicies) > 0 {
		a.HashPolicy = hashPolicies(c.LoadBalancer.HashPolicies)
	}
	return a, nil
}

func hashPolicies(hps []ir.HashPolicy) []*routev3.RouteAction_HashPolicy {
	out := make([]*routev3.RouteAction_HashPolicy, 0, len(hps))
	for _, hp := range hps {
		switch {
		case hp.Header != "":
			out = append(out, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: hp.Header}}})
		case hp.Cookie != nil:
			ck := &routev3.RouteAction_HashPolicy_Cookie{Name: hp.Cookie.Name, Path: hp.Cookie.Path}
			if hp.Cookie.TTL > 0 {
				ck.Ttl = dur(hp.Cookie.TTL)
			}
			out = append(out, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: ck}})
		case hp.SourceIP:
			out = append(out, &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}})
		}
	}
	return out
}

var redirectCodes = map[int]routev3.RedirectAction_RedirectResponseCode{
	0:   routev3.RedirectAction_MOVED_PERMANENTLY, // IR: 0 means 301
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

func redirect(r *ir.Redirect) (*routev3.RedirectAction, error) {
	code, ok := redirectCodes[r.StatusCode]
	if !ok {
		return nil, fmt.Errorf("redirect status %d: must be 301, 302, 303, 307 or 308", r.StatusCode)
	}
	out := &routev3.RedirectAction{HostRedirect: r.Host, PortRedirect: r.Port, ResponseCode: code}
	if r.Scheme != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: r.Scheme}
	}
	if r.Path != "" {
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: r.Path}
	}
	return out, nil
}

// headerMutation maps Istio's set/add/remove onto Envoy's append_action;
// Envoy applies removals before additions, as the IR specifies.
func headerMutation(m ir.HeaderMutation) ([]*corev3.HeaderValueOption, []string) {
	if len(m.Set) == 0 && len(m.Add) == 0 {
		return nil, m.Remove
	}
	add := make([]*corev3.HeaderValueOption, 0, len(m.Set)+len(m.Add))
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
