package translate

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/status"
)

// Retry conditions (Envoy x-envoy-retry-on names) that ksgw's proxy
// implements (internal/dpconfig RetryOn).
var proxyRetryOn = map[string]bool{
	"5xx": true, "gateway-error": true, "connect-failure": true, "reset": true,
	"retriable-4xx": true, "refused-stream": true, "retriable-status-codes": true,
}

// grpcRetryOn are Envoy's gRPC retry conditions (x-envoy-retry-grpc-on).
// They act on the grpc-status of a response; ksgw's proxy does not
// implement them, so they are dropped. Dropping only ever retries less.
// Istio's default retryOn names two of them, so they must be accepted.
var grpcRetryOn = map[string]bool{
	"cancelled": true, "deadline-exceeded": true, "internal": true, "resource-exhausted": true, "unavailable": true,
}

// istioDefaultRetryOn is Istio's retryOn when retries.attempts is set and
// retryOn is not. It maps to connect-failure, refused-stream and
// retriable-status-codes with code 503 (Istio's default retriable code);
// unavailable and cancelled are gRPC conditions, dropped as above.
const istioDefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"

// translateRoutes compiles every Route once (its IR routes are shared by
// every gateway and host it lands on) and claims its hosts.
//
// A Route with an invalid rule (bad regex, negative weight, a rewrite that
// cannot apply, ...) is excluded as a whole with Accepted=False: installing
// the other rules would change which rule matches first. A destination that
// does not resolve (missing Service, port or subset) does not invalidate
// the Route: that backend's cluster has no endpoints and answers 503 with
// the reason, and ResolvedRefs=False says so (Envoy Gateway's behaviour for
// unresolved backendRefs). A destination in another namespace is refused
// outright (RefNotPermitted, Route excluded): a 503 cluster would have to
// be named after another tenant's Service.
func (t *translator) translateRoutes() {
	for _, r := range t.in.Routes {
		src := t.sourceFor(KindRoute, r.Namespace, r.Name)
		src.st = t.newStatus(KindRoute, r)
		routes, ports, ok := t.compileRoute(r, src)
		if !ok {
			continue
		}
		gws := t.bindGateways(src.st, r.Namespace, r.Spec.Gateways)
		if len(gws) == 0 {
			continue
		}
		claimOn := func(g *gatewayState, host string) {
			g.claims = append(g.claims, &claim{host: host, src: src, routes: routes})
			for i, p := range ports {
				if p != 0 {
					if g.routePorts == nil {
						g.routePorts = map[*ir.Route]uint32{}
					}
					g.routePorts[routes[i]] = p
				}
			}
		}
		if len(r.Spec.Hosts) == 0 {
			for _, g := range gws {
				for _, h := range g.hosts {
					claimOn(g, h)
				}
			}
			continue
		}
		for i, h := range r.Spec.Hosts {
			h = strings.ToLower(h)
			fits := false
			for _, g := range gws {
				if g.covers(h) {
					claimOn(g, h)
					fits = true
				}
			}
			if !fits {
				t.fail(src.st, status.Accepted, status.ReasonNotAllowedByGateway, fmt.Sprintf("spec.hosts[%d]", i),
					fmt.Sprintf("host %q is not within the hosts of Gateway %s", h, gatewayNames(gws)))
			}
		}
	}
}

func gatewayNames(gws []*gatewayState) string {
	s := make([]string, len(gws))
	for i, g := range gws {
		s[i] = g.key + " " + fmt.Sprint(g.hosts)
	}
	return strings.Join(s, ", ")
}

// bindGateways resolves a Route's or Ingress's gateways. Tenancy (DESIGN
// §4): an object binds only to Gateways of its own namespace or to a cluster
// gateway. Without an explicit list it binds to every Gateway of its
// namespace, or, when the namespace has none, to every cluster gateway. A
// namespace whose only Gateway is invalid does not fall back to the cluster
// gateway: its tenant expects its own.
func (t *translator) bindGateways(st *status.ObjectStatus, ns string, names []string) []*gatewayState {
	var out []*gatewayState
	if len(names) == 0 {
		gws := t.gwAllByNs[ns]
		if len(gws) == 0 {
			gws = t.clusterGW
		}
		for _, g := range gws {
			if g.valid {
				out = append(out, g)
			} else {
				t.fail(st, status.Accepted, status.ReasonNoGateway, "", fmt.Sprintf("Gateway %s is not accepted", g.key))
			}
		}
		if len(gws) == 0 {
			t.fail(st, status.Accepted, status.ReasonNoGateway, "",
				fmt.Sprintf("no Gateway in namespace %s and no cluster gateway in namespace %s", ns, t.opts.ControllerNamespace))
		}
		return out
	}
	seen := map[*gatewayState]bool{}
	for i, n := range names {
		f := fmt.Sprintf("spec.gateways[%d]", i)
		gns, gname, ok := strings.Cut(n, "/")
		if !ok {
			gns, gname = ns, n
		}
		key := gns + "/" + gname
		if gns != ns && gns != t.opts.ControllerNamespace {
			t.fail(st, status.Accepted, status.ReasonNotAllowedByGateway, f,
				fmt.Sprintf("Gateway %s is in another namespace; only Gateways of namespace %s or the cluster gateway (namespace %s) may be used", key, ns, t.opts.ControllerNamespace))
			continue
		}
		g := t.gwByKey[key]
		switch {
		case g == nil:
			t.fail(st, status.Accepted, status.ReasonNoGateway, f, fmt.Sprintf("Gateway %s not found", key))
		case !g.valid:
			t.fail(st, status.Accepted, status.ReasonNoGateway, f, fmt.Sprintf("Gateway %s is not accepted", key))
		case !seen[g]:
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// routeCompiler compiles one Route.
type routeCompiler struct {
	t   *translator
	r   *v1alpha1.Route
	src *source
	ok  bool
}

func (c *routeCompiler) invalid(field, msg string) {
	c.t.fail(c.src.st, status.Accepted, status.ReasonInvalidRoute, field, msg)
	c.ok = false
}

// compileRoute returns the Route's IR routes in rule order, one per match
// entry (Istio ORs the entries of match; Envoy routes have one match each,
// so consecutive routes with the same action reproduce first-match-wins),
// and for each the listener port it is limited to (0: any).
func (t *translator) compileRoute(r *v1alpha1.Route, src *source) ([]*ir.Route, []uint32, bool) {
	c := &routeCompiler{t: t, r: r, src: src, ok: true}
	for i, h := range r.Spec.Hosts {
		if msg := validHost(strings.ToLower(h)); msg != "" {
			c.invalid(fmt.Sprintf("spec.hosts[%d]", i), msg)
		}
	}
	if len(r.Spec.HTTP) == 0 {
		c.invalid("spec.http", "at least one rule is required")
	}
	var routes []*ir.Route
	var ports []uint32
	for i := range r.Spec.HTTP {
		rs, ps := c.rule(i, &r.Spec.HTTP[i])
		routes = append(routes, rs...)
		ports = append(ports, ps...)
	}
	if !c.ok {
		src.st.Set(status.Programmed, false, status.ReasonPending, "the Route is invalid and was not programmed")
		return nil, nil, false
	}
	return routes, ports, true
}

func (c *routeCompiler) rule(i int, h *v1alpha1.HTTPRoute) ([]*ir.Route, []uint32) {
	f := fmt.Sprintf("spec.http[%d]", i)
	base := ir.Route{Source: c.src.ref()}
	actions := 0
	if len(h.Route) > 0 {
		actions++
		base.Forward = c.forward(f, h.Route)
	}
	if rd := h.Redirect; rd != nil {
		actions++
		base.Redirect = c.redirect(f+".redirect", rd)
	}
	if dr := h.DirectResponse; dr != nil {
		actions++
		if dr.Status < 200 || dr.Status > 599 {
			c.invalid(f+".directResponse.status", "must be between 200 and 599")
		}
		d := &ir.DirectResponse{Status: int(dr.Status)}
		if b := dr.Body; b != nil {
			switch {
			case b.String != nil && b.Bytes != nil:
				c.invalid(f+".directResponse.body", "at most one of string or bytes may be set")
			case b.String != nil:
				d.Body = *b.String
			default:
				d.Body = string(b.Bytes)
			}
		}
		base.DirectResponse = d
	}
	if actions != 1 {
		c.invalid(f, "exactly one of route, redirect or directResponse must be set")
	}
	if hd := h.Headers; hd != nil {
		base.RequestHeaders = c.headerOps(f+".headers.request", hd.Request)
		base.ResponseHeaders = c.headerOps(f+".headers.response", hd.Response)
	}
	if rw := h.Rewrite; rw != nil {
		base.Rewrite = c.rewrite(f, h, rw)
	}
	if h.Timeout != nil {
		if h.Timeout.Duration < 0 {
			c.invalid(f+".timeout", "must be >= 0")
		}
		base.Timeout = h.Timeout.Duration
	}
	if h.Retries != nil {
		base.Retry = c.retry(f+".retries", h.Retries)
	}
	if h.Mirror != nil {
		pct := 100.0
		if h.MirrorPercentage != nil {
			pct = h.MirrorPercentage.Value
		}
		if pct < 0 || pct > 100 {
			c.invalid(f+".mirrorPercentage.value", "must be between 0 and 100")
		}
		if name, ok := c.destination(f+".mirror", h.Mirror); ok && pct > 0 {
			// Istio: a mirrorPercentage of 0 mirrors nothing.
			base.Mirrors = []*ir.Mirror{{Cluster: name, Percent: pct}}
		}
	} else if h.MirrorPercentage != nil {
		c.invalid(f+".mirrorPercentage", "requires mirror")
	}
	if fl := h.Fault; fl != nil {
		base.Fault = c.fault(f+".fault", fl)
	}
	if cp := h.CorsPolicy; cp != nil {
		base.CORS = c.cors(f+".corsPolicy", cp)
	}

	matches := h.Match
	if len(matches) == 0 {
		matches = []v1alpha1.HTTPMatchRequest{{}}
	}
	routes := make([]*ir.Route, 0, len(matches))
	ports := make([]uint32, 0, len(matches))
	for j := range matches {
		r := base
		r.Name = "route/" + c.r.Namespace + "/" + c.r.Name + "/http/" + strconv.Itoa(i) + "/match/" + strconv.Itoa(j)
		mf := f + ".match[" + strconv.Itoa(j) + "]"
		if len(h.Match) == 0 {
			mf = f + ".match"
		}
		r.Match = c.match(mf, &matches[j])
		routes = append(routes, &r)
		ports = append(ports, matches[j].Port)
	}
	return routes, ports
}

func (c *routeCompiler) match(f string, m *v1alpha1.HTTPMatchRequest) ir.Match {
	out := ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: "/"}}
	if u := m.URI; u != nil {
		sm, ok := c.stringMatch(f+".uri", u, true)
		if ok {
			switch sm.Kind {
			case ir.MatchExact:
				out.Path = ir.PathMatch{Kind: ir.PathExact, Value: sm.Value}
			case ir.MatchPrefix:
				out.Path = ir.PathMatch{Kind: ir.PathPrefix, Value: sm.Value}
			case ir.MatchRegex:
				out.Path = ir.PathMatch{Kind: ir.PathRegex, Value: sm.Value}
			}
			if sm.Kind != ir.MatchRegex && !strings.HasPrefix(sm.Value, "/") {
				c.invalid(f+".uri", "must start with \"/\"")
			}
		}
	}
	out.Path.IgnoreCase = m.IgnoreURICase
	add := func(name string, sm *v1alpha1.StringMatch, field string, invert bool) {
		if sm == nil {
			return
		}
		if s, ok := c.stringMatch(field, sm, true); ok {
			out.Headers = append(out.Headers, ir.HeaderMatch{Name: name, Match: s, Invert: invert})
		}
	}
	add(":method", m.Method, f+".method", false)
	add(":authority", m.Authority, f+".authority", false)
	add(":scheme", m.Scheme, f+".scheme", false)
	for _, k := range slices.Sorted(mapKeys(m.Headers)) {
		sm := m.Headers[k]
		if c.headerName(fmt.Sprintf("%s.headers[%s]", f, k), k) {
			add(strings.ToLower(k), &sm, fmt.Sprintf("%s.headers[%s]", f, k), false)
		}
	}
	for _, k := range slices.Sorted(mapKeys(m.WithoutHeaders)) {
		sm := m.WithoutHeaders[k]
		if c.headerName(fmt.Sprintf("%s.withoutHeaders[%s]", f, k), k) {
			add(strings.ToLower(k), &sm, fmt.Sprintf("%s.withoutHeaders[%s]", f, k), true)
		}
	}
	slices.SortStableFunc(out.Headers, func(a, b ir.HeaderMatch) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), boolCmp(a.Invert, b.Invert), cmp.Compare(a.Match.Kind, b.Match.Kind), cmp.Compare(a.Match.Value, b.Match.Value))
	})
	for _, k := range slices.Sorted(mapKeys(m.QueryParams)) {
		sm := m.QueryParams[k]
		field := fmt.Sprintf("%s.queryParams[%s]", f, k)
		if sm.Prefix != nil {
			c.invalid(field+".prefix", "prefix is not supported for query parameters (Istio)")
			continue
		}
		if s, ok := c.stringMatch(field, &sm, true); ok {
			out.QueryParams = append(out.QueryParams, ir.QueryParamMatch{Name: k, Match: s})
		}
	}
	return out
}

// stringMatch converts an Istio StringMatch. An empty one matches presence
// (Istio: "headers: {x: {}}" checks that the header exists).
func (c *routeCompiler) stringMatch(f string, m *v1alpha1.StringMatch, allowEmpty bool) (ir.StringMatch, bool) {
	n := 0
	var out ir.StringMatch
	if m.Exact != nil {
		n++
		out = ir.StringMatch{Kind: ir.MatchExact, Value: *m.Exact}
	}
	if m.Prefix != nil {
		n++
		out = ir.StringMatch{Kind: ir.MatchPrefix, Value: *m.Prefix}
	}
	if m.Regex != nil {
		n++
		out = ir.StringMatch{Kind: ir.MatchRegex, Value: *m.Regex}
		if !c.regex(f+".regex", *m.Regex) {
			return out, false
		}
	}
	switch {
	case n == 0 && allowEmpty:
		return ir.StringMatch{Kind: ir.MatchPresent}, true
	case n != 1:
		c.invalid(f, "exactly one of exact, prefix or regex must be set")
		return out, false
	}
	return out, true
}

// regex validates an RE2 expression with Go's regexp, whose syntax is RE2's
// (Envoy safe_regex uses RE2): the proxy must never be handed one it rejects.
func (c *routeCompiler) regex(f, re string) bool {
	if _, err := regexp.Compile(re); err != nil {
		c.invalid(f, "invalid RE2 regular expression: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return false
	}
	return true
}

// headerName accepts RFC 9110 field names (tokens); pseudo-headers are only
// reachable through method, authority and scheme.
func (c *routeCompiler) headerName(f, n string) bool {
	if n == "" || strings.IndexFunc(n, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		c.invalid(f, fmt.Sprintf("%q is not a valid header name", n))
		return false
	}
	return true
}

func isTokenChar(r rune) bool {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

func (c *routeCompiler) headerOps(f string, ops *v1alpha1.HeaderOperations) ir.HeaderMutation {
	var m ir.HeaderMutation
	if ops == nil {
		return m
	}
	for _, k := range slices.Sorted(mapKeys(ops.Set)) {
		if c.headerName(fmt.Sprintf("%s.set[%s]", f, k), k) {
			m.Set = append(m.Set, ir.HeaderValue{Name: strings.ToLower(k), Value: ops.Set[k]})
		}
	}
	for _, k := range slices.Sorted(mapKeys(ops.Add)) {
		if c.headerName(fmt.Sprintf("%s.add[%s]", f, k), k) {
			m.Add = append(m.Add, ir.HeaderValue{Name: strings.ToLower(k), Value: ops.Add[k]})
		}
	}
	for i, k := range ops.Remove {
		if c.headerName(fmt.Sprintf("%s.remove[%d]", f, i), k) {
			m.Remove = append(m.Remove, strings.ToLower(k))
		}
	}
	slices.SortStableFunc(m.Set, func(a, b ir.HeaderValue) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(m.Add, func(a, b ir.HeaderValue) int { return cmp.Compare(a.Name, b.Name) })
	slices.Sort(m.Remove)
	m.Remove = slices.Compact(m.Remove)
	return m
}

// forward builds the weighted split. Weights are relative (Istio): a lone
// destination gets weight 1 whatever it says (Istio ignores it); with
// several, each must be >= 0 and they must not all be 0. A 0 weight is kept
// so that a canary can be staged at 0%.
func (c *routeCompiler) forward(f string, dests []v1alpha1.HTTPRouteDestination) *ir.ForwardAction {
	fa := &ir.ForwardAction{}
	var sum int64
	for k := range dests {
		d := &dests[k]
		df := fmt.Sprintf("%s.route[%d]", f, k)
		if d.Weight < 0 {
			c.invalid(df+".weight", "must be >= 0")
		}
		sum += int64(max(d.Weight, 0))
		name, ok := c.destination(df+".destination", &d.Destination)
		if !ok {
			continue
		}
		wb := &ir.WeightedBackend{Cluster: name, Weight: uint32(max(d.Weight, 0))}
		if len(dests) == 1 {
			wb.Weight = 1
		}
		if hd := d.Headers; hd != nil {
			wb.RequestHeaders = c.headerOps(df+".headers.request", hd.Request)
			wb.ResponseHeaders = c.headerOps(df+".headers.response", hd.Response)
		}
		fa.Backends = append(fa.Backends, wb)
		if fa.HashPolicy == nil {
			if cs := c.t.clusters[name]; cs != nil && len(cs.c.LoadBalancer.HashPolicies) > 0 {
				hp := cs.c.LoadBalancer.HashPolicies[0]
				fa.HashPolicy = &hp
			}
		}
	}
	if len(dests) > 1 && sum == 0 {
		c.invalid(f+".route", "weights must not all be 0")
	}
	return fa
}

// destination resolves an Istio Destination to a cluster name.
func (c *routeCompiler) destination(f string, d *v1alpha1.Destination) (string, bool) {
	ns := c.r.Namespace
	svc, svcNs, ok := parseServiceHost(strings.ToLower(d.Host), ns)
	if !ok {
		c.invalid(f+".host", fmt.Sprintf("%q is not a Service host (name, name.namespace or name.namespace.svc.<cluster domain>)", d.Host))
		return "", false
	}
	if svcNs != ns {
		msg := fmt.Sprintf("Service %s/%s is in another namespace; a Route may only send to Services of its own namespace", svcNs, svc)
		c.t.fail(c.src.st, status.Accepted, status.ReasonRefNotPermitted, f+".host", msg)
		c.src.st.Fail(status.ResolvedRefs, status.ReasonRefNotPermitted, f+".host: "+msg)
		c.ok = false
		return "", false
	}
	ref := backendRef{ns: ns, service: svc, subset: d.Subset}
	if d.Port != nil {
		if d.Port.Number == 0 || d.Port.Number > 65535 {
			c.invalid(f+".port.number", "must be between 1 and 65535")
			return "", false
		}
		ref.portNumber = int32(d.Port.Number)
	}
	name, rerr := c.t.resolveBackend(ref)
	c.t.refProblem(c.src.st, f, rerr)
	return name, true
}

// refProblem reports an unresolved backend on the referencing object. No
// ready endpoint is a state, not a configuration error: it sets the
// condition but is not a problem `ksgw validate` fails on.
func (t *translator) refProblem(st *status.ObjectStatus, f string, rerr *refError) {
	switch {
	case rerr == nil:
	case rerr.reason == status.ReasonNoReadyEndpoints:
		st.Fail(status.ResolvedRefs, rerr.reason, rerr.msg)
	default:
		t.fail(st, status.ResolvedRefs, rerr.reason, f, rerr.msg)
	}
}

func (c *routeCompiler) redirect(f string, rd *v1alpha1.HTTPRedirect) *ir.Redirect {
	out := &ir.Redirect{Scheme: rd.Scheme, Host: strings.ToLower(rd.Authority), Port: rd.Port, Path: rd.URI, StatusCode: 301}
	if rd.RedirectCode != 0 {
		out.StatusCode = int(rd.RedirectCode)
	}
	switch out.StatusCode {
	case 301, 302, 303, 307, 308:
	default:
		c.invalid(f+".redirectCode", "must be one of 301, 302, 303, 307, 308")
	}
	if rd.Scheme != "" && rd.Scheme != "http" && rd.Scheme != "https" {
		c.invalid(f+".scheme", "must be http or https")
	}
	if rd.Port > 65535 {
		c.invalid(f+".port", "must be between 1 and 65535")
	}
	if rd.URI != "" && !strings.HasPrefix(rd.URI, "/") {
		c.invalid(f+".uri", "must start with \"/\"")
	}
	return out
}

func (c *routeCompiler) rewrite(f string, h *v1alpha1.HTTPRoute, rw *v1alpha1.HTTPRewrite) *ir.Rewrite {
	out := &ir.Rewrite{PathPrefix: rw.URI, Host: strings.ToLower(rw.Authority)}
	if len(h.Route) == 0 {
		c.invalid(f+".rewrite", "requires route")
	}
	if rw.URI != "" {
		if rw.URIRegexRewrite != nil {
			c.invalid(f+".rewrite", "uri and uriRegexRewrite are mutually exclusive")
		}
		// Envoy's prefix_rewrite applies to prefix and path matches only.
		for j, m := range h.Match {
			if m.URI != nil && m.URI.Regex != nil {
				c.invalid(fmt.Sprintf("%s.rewrite.uri", f), fmt.Sprintf("cannot rewrite the prefix of a regex match (match[%d].uri.regex); use uriRegexRewrite", j))
				break
			}
		}
	}
	if rr := rw.URIRegexRewrite; rr != nil {
		if c.regex(f+".rewrite.uriRegexRewrite.match", rr.Match) {
			out.Regex = &ir.RegexRewrite{Pattern: rr.Match, Substitution: rr.Rewrite}
		}
	}
	return out
}

func (c *routeCompiler) retry(f string, r *v1alpha1.HTTPRetry) *ir.RetryPolicy {
	if r.Attempts < 0 {
		c.invalid(f+".attempts", "must be >= 0")
		return nil
	}
	if r.Attempts == 0 {
		return nil // Istio: attempts 0 disables retries
	}
	out := &ir.RetryPolicy{Attempts: uint32(r.Attempts)}
	if r.PerTryTimeout != nil {
		if r.PerTryTimeout.Duration < 0 {
			c.invalid(f+".perTryTimeout", "must be >= 0")
		}
		out.PerTryTimeout = r.PerTryTimeout.Duration
	}
	on := r.RetryOn
	if on == "" {
		on = istioDefaultRetryOn
	}
	set := map[string]bool{}
	codes := map[uint32]bool{}
	for _, cond := range strings.Split(on, ",") {
		cond = strings.TrimSpace(cond)
		switch {
		case cond == "":
		case proxyRetryOn[cond]:
			set[cond] = true
		case grpcRetryOn[cond]:
		default:
			code, err := strconv.Atoi(cond)
			if err != nil || code < 100 || code > 599 {
				c.invalid(f+".retryOn", fmt.Sprintf("unsupported retry condition %q (supported: %s, gRPC conditions, HTTP status codes)", cond, strings.Join(slices.Sorted(mapKeys(proxyRetryOn)), ", ")))
				continue
			}
			set["retriable-status-codes"] = true
			codes[uint32(code)] = true
		}
	}
	if set["retriable-status-codes"] && len(codes) == 0 {
		codes[503] = true // Istio's default retriable status code
	}
	out.On = slices.Sorted(mapKeys(set))
	out.RetriableStatusCodes = slices.Sorted(mapKeys(codes))
	if len(out.On) == 0 {
		return nil
	}
	return out
}

func (c *routeCompiler) fault(f string, fl *v1alpha1.HTTPFaultInjection) *ir.Fault {
	out := &ir.Fault{}
	if fl.Delay == nil && fl.Abort == nil {
		c.invalid(f, "one of delay or abort must be set")
	}
	pct := func(field string, p *v1alpha1.Percent) float64 {
		if p == nil {
			return 100
		}
		if p.Value < 0 || p.Value > 100 {
			c.invalid(field, "must be between 0 and 100")
		}
		return p.Value
	}
	if d := fl.Delay; d != nil {
		if d.FixedDelay.Duration <= 0 {
			c.invalid(f+".delay.fixedDelay", "must be > 0")
		}
		out.Delay = d.FixedDelay.Duration
		out.DelayPercent = pct(f+".delay.percentage.value", d.Percentage)
	}
	if a := fl.Abort; a != nil {
		if a.HTTPStatus < 200 || a.HTTPStatus > 599 {
			c.invalid(f+".abort.httpStatus", "must be between 200 and 599")
		}
		out.AbortStatus = int(a.HTTPStatus)
		out.AbortPercent = pct(f+".abort.percentage.value", a.Percentage)
	}
	return out
}

func (c *routeCompiler) cors(f string, cp *v1alpha1.CorsPolicy) *ir.CORSPolicy {
	out := &ir.CORSPolicy{
		AllowMethods:  slices.Clone(cp.AllowMethods),
		AllowHeaders:  slices.Clone(cp.AllowHeaders),
		ExposeHeaders: slices.Clone(cp.ExposeHeaders),
	}
	for i := range cp.AllowOrigins {
		if sm, ok := c.stringMatch(fmt.Sprintf("%s.allowOrigins[%d]", f, i), &cp.AllowOrigins[i], false); ok {
			out.AllowOrigins = append(out.AllowOrigins, sm)
		}
	}
	if cp.MaxAge != nil {
		if cp.MaxAge.Duration < 0 {
			c.invalid(f+".maxAge", "must be >= 0")
		}
		out.MaxAge = cp.MaxAge.Duration
	}
	if cp.AllowCredentials != nil {
		out.AllowCredentials = *cp.AllowCredentials
	}
	return out
}
