package translate

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/mask"
	"github.com/ksgw/ksgw/internal/proxy/filter/validate"
	"github.com/ksgw/ksgw/internal/proxy/filter/waf"
	"github.com/ksgw/ksgw/internal/status"
)

// KindSecurityPolicy is the SecurityPolicy kind in statuses and problems.
const KindSecurityPolicy = "SecurityPolicy"

// policyState is one SecurityPolicy during translation, with its features
// validated and resolved once, then shared by every route it covers.
type policyState struct {
	obj   *v1alpha1.SecurityPolicy
	key   string // "ns/name"
	st    *status.ObjectStatus
	valid bool

	ipAccess   *ir.IPAccess
	jwt        *jwtFeature
	apiKey     *ir.APIKeyAuth
	hsts       string
	rateLimit  *ir.LocalRateLimit
	keyedLimit *ir.RateLimit
	validation *ir.Validation
	waf        *ir.WAF
	masking    *ir.Masking
	listener   *ir.ListenerSecurity
	// jwksClusters fetch the remote key sets of the policy's providers.
	jwksClusters []*ir.Cluster
	attachedTo   map[string]bool // gateways it reached, for Programmed
}

type jwtFeature struct {
	providers    []*ir.JWTProvider
	allowMissing bool
	disabled     bool
}

// translatePolicies validates every SecurityPolicy and indexes the winner
// per target. Several policies on one target: the oldest wins (then by
// name), the others are refused with a Conflicted condition, as Envoy
// Gateway does for its policies.
func (t *translator) translatePolicies() {
	pols := slices.Clone(t.in.SecurityPolicies)
	slices.SortStableFunc(pols, func(a, b *v1alpha1.SecurityPolicy) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	t.gwPolicy, t.routePolicy = map[string]*policyState{}, map[string]*policyState{}
	for _, obj := range pols {
		p := &policyState{obj: obj, key: obj.Namespace + "/" + obj.Name, st: t.newStatus(KindSecurityPolicy, obj), attachedTo: map[string]bool{}}
		t.policies = append(t.policies, p)
		ref := obj.Spec.TargetRef
		var index map[string]*policyState
		switch ref.Kind {
		case KindGateway:
			if t.gwByKey[obj.Namespace+"/"+ref.Name] == nil {
				t.fail(p.st, status.Accepted, status.ReasonNoGateway, "spec.targetRef", fmt.Sprintf("Gateway %s/%s not found", obj.Namespace, ref.Name))
				continue
			}
			index = t.gwPolicy
		case KindRoute:
			if !t.routeExists(obj.Namespace, ref.Name) {
				t.fail(p.st, status.Accepted, status.ReasonInvalid, "spec.targetRef", fmt.Sprintf("Route %s/%s not found", obj.Namespace, ref.Name))
				continue
			}
			index = t.routePolicy
		default:
			t.fail(p.st, status.Accepted, status.ReasonInvalid, "spec.targetRef.kind", fmt.Sprintf("%q: must be Gateway or Route", ref.Kind))
			continue
		}
		target := obj.Namespace + "/" + ref.Name
		if prev := index[target]; prev != nil {
			t.fail(p.st, status.Accepted, "Conflicted", "spec.targetRef", fmt.Sprintf("%s %s already has SecurityPolicy %s", ref.Kind, target, prev.key))
			continue
		}
		if !t.compilePolicy(p) {
			continue
		}
		p.valid = true
		index[target] = p
	}
}

func (t *translator) routeExists(ns, name string) bool {
	for _, r := range t.in.Routes {
		if r.Namespace == ns && r.Name == name {
			return true
		}
	}
	return false
}

// compilePolicy validates and resolves the features ksgw's edge security
// implements, behaviour and data layers included (rate limit, validation,
// WAF, masking), each with the proxy's own compiler so that what the
// proxy would refuse is a condition here.
func (t *translator) compilePolicy(p *policyState) bool {
	spec := &p.obj.Spec
	ok := true
	bad := func(reason, field, msg string) {
		t.fail(p.st, status.Accepted, reason, field, msg)
		ok = false
	}
	if a := spec.IPAccess; a != nil {
		ia := &ir.IPAccess{Peer: a.Source == "Peer"}
		for _, l := range []struct {
			field string
			in    []string
			out   *[]string
		}{{"spec.ipAccess.allow", a.Allow, &ia.Allow}, {"spec.ipAccess.deny", a.Deny, &ia.Deny}} {
			for i, c := range l.in {
				pf, err := parseCIDR(c)
				if err != nil {
					bad(status.ReasonInvalid, fmt.Sprintf("%s[%d]", l.field, i), err.Error())
					continue
				}
				*l.out = append(*l.out, pf.String())
			}
		}
		if len(ia.Allow) == 0 && len(ia.Deny) == 0 && ok {
			bad(status.ReasonInvalid, "spec.ipAccess", "allow or deny must list at least one CIDR")
		}
		p.ipAccess = ia
	}
	if j := spec.JWT; j != nil {
		f := &jwtFeature{allowMissing: j.Optional, disabled: j.Disabled}
		if !j.Disabled && len(j.Providers) == 0 {
			bad(status.ReasonInvalid, "spec.jwt.providers", "at least one provider is required unless disabled")
		}
		for i, pr := range j.Providers {
			field := fmt.Sprintf("spec.jwt.providers[%d]", i)
			ip, cl, good := t.jwtProvider(p, field, &pr)
			if !good {
				ok = false
				continue
			}
			f.providers = append(f.providers, ip)
			if cl != nil {
				p.jwksClusters = append(p.jwksClusters, cl)
			}
		}
		p.jwt = f
	}
	if k := spec.APIKey; k != nil {
		if ak, good := t.apiKey(p, k); good {
			p.apiKey = ak
		} else {
			ok = false
		}
	}
	if h := spec.HSTS; h != nil {
		v := "max-age=" + strconv.FormatInt(h.MaxAgeSeconds, 10)
		if h.IncludeSubDomains {
			v += "; includeSubDomains"
		}
		if h.Preload {
			v += "; preload"
		}
		p.hsts = v
	}
	if spec.ClientAddress != nil || spec.ClientCertHeader != nil {
		if spec.TargetRef.Kind != KindGateway {
			field := "spec.clientAddress"
			if spec.ClientAddress == nil {
				field = "spec.clientCertHeader"
			}
			bad(status.ReasonInvalid, field, "applies to a Gateway's listeners: the target must be a Gateway")
		} else {
			ls := &ir.ListenerSecurity{}
			if ca := spec.ClientAddress; ca != nil {
				if ca.XFFNumTrustedHops < 0 || ca.XFFNumTrustedHops > 16 {
					bad(status.ReasonInvalid, "spec.clientAddress.xffNumTrustedHops", "must be between 0 and 16")
				}
				ls.XFFNumTrustedHops = uint32(max(ca.XFFNumTrustedHops, 0))
				for i, c := range ca.XFFTrustedCIDRs {
					pf, err := parseCIDR(c)
					if err != nil {
						bad(status.ReasonInvalid, fmt.Sprintf("spec.clientAddress.xffTrustedCIDRs[%d]", i), err.Error())
						continue
					}
					ls.XFFTrustedCIDRs = append(ls.XFFTrustedCIDRs, pf.String())
				}
				if ls.XFFNumTrustedHops > 0 && len(ls.XFFTrustedCIDRs) > 0 {
					bad(status.ReasonInvalid, "spec.clientAddress.xffTrustedCIDRs", "xffNumTrustedHops and xffTrustedCIDRs are mutually exclusive")
				}
				if pp := ca.ProxyProtocol; pp != nil {
					ls.ProxyProtocol, ls.ProxyProtocolOptional = true, pp.Optional
				}
			}
			if cc := spec.ClientCertHeader; cc != nil {
				switch cc.Mode {
				case "Sanitize", "ForwardOnly", "AppendForward", "SanitizeSet", "AlwaysForwardOnly":
				default:
					bad(status.ReasonInvalid, "spec.clientCertHeader.mode", fmt.Sprintf("%q: must be one of Sanitize, ForwardOnly, AppendForward, SanitizeSet, AlwaysForwardOnly", cc.Mode))
				}
				ls.ClientCert = &ir.ClientCertHeader{Mode: cc.Mode, Subject: cc.Subject, Cert: cc.Cert, Chain: cc.Chain, DNS: cc.DNS, URI: cc.URI}
			}
			p.listener = ls
		}
	}
	if rl := spec.RateLimit; rl != nil {
		if lr := localRateLimit(rl, bad); lr != nil {
			if len(rl.Key) == 0 && rl.Global == nil {
				p.rateLimit = lr
			} else {
				p.keyedLimit = keyedRateLimit(p, rl, lr, bad)
			}
		}
	}
	if v := spec.Validation; v != nil {
		p.validation = t.validation(p, v, bad)
	}
	if w := spec.WAF; w != nil {
		p.waf = t.waf(p, w, bad)
	}
	if m := spec.Masking; m != nil {
		p.masking = masking(p, m, bad)
	}
	return ok
}

// validation checks the rules as the proxy will compile them, so that a
// bad schema is a condition here rather than a NACK there.
func (t *translator) validation(p *policyState, v *v1alpha1.RequestValidation, bad func(reason, field, msg string)) *ir.Validation {
	out := &ir.Validation{Policy: p.key, AllowedMethods: v.AllowedMethods, MaxURIBytes: int(v.MaxURIBytes), MaxHeaderBytes: int(v.MaxHeaderBytes),
		MaxBodyBytes: v.MaxBodyBytes, ContentTypes: v.ContentTypes, JSONSchema: v.JSONSchema}
	for _, h := range v.RequiredHeaders {
		out.RequiredHeaders = append(out.RequiredHeaders, strings.ToLower(h))
	}
	cfg := validate.Config{AllowedMethods: out.AllowedMethods, MaxURIBytes: out.MaxURIBytes, MaxHeaderBytes: out.MaxHeaderBytes,
		MaxBodyBytes: out.MaxBodyBytes, RequiredHeaders: out.RequiredHeaders, ContentTypes: out.ContentTypes}
	if out.JSONSchema != "" {
		cfg.JSONSchema = []byte(out.JSONSchema)
	}
	if _, err := validate.Compile(context.Background(), cfg); err != nil {
		bad(status.ReasonInvalid, "spec.validation", err.Error())
		return nil
	}
	return out
}

// waf resolves the Rego modules (inline or from ConfigMap keys of the
// policy's namespace) and compiles them once, as the proxy will: a module
// that does not compile refuses the policy (Accepted=False naming module
// and line), and the proxy keeps the previous one.
func (t *translator) waf(p *policyState, w *v1alpha1.WAF, bad func(reason, field, msg string)) *ir.WAF {
	out := &ir.WAF{Policy: p.key}
	rc := waf.RegoConfig{}
	for i, m := range w.Rego {
		field := fmt.Sprintf("spec.waf.rego[%d]", i)
		src := m.Inline
		if ref := m.ConfigMapRef; ref != nil {
			cm := t.configMap(p.obj.Namespace, ref.Name)
			if cm == nil {
				t.fail(p.st, status.ResolvedRefs, status.ReasonInvalid, field+".configMapRef", fmt.Sprintf("ConfigMap %s/%s not found", p.obj.Namespace, ref.Name))
				bad(status.ReasonInvalid, field+".configMapRef", fmt.Sprintf("ConfigMap %s/%s not found", p.obj.Namespace, ref.Name))
				return nil
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				bad(status.ReasonInvalid, field+".configMapRef.key", fmt.Sprintf("ConfigMap %s/%s has no key %q", p.obj.Namespace, ref.Name, ref.Key))
				return nil
			}
			src = v
		}
		if src == "" {
			bad(status.ReasonInvalid, field, "empty module: set inline or configMapRef")
			return nil
		}
		out.Modules = append(out.Modules, ir.RegoModule{Name: m.Name, Source: src})
		rc.Modules = append(rc.Modules, waf.Module{Name: m.Name, Source: src})
	}
	if len(out.Modules) == 0 && w.CRS == nil {
		bad(status.ReasonInvalid, "spec.waf", "at least one of rego or crs is required")
		return nil
	}
	if len(out.Modules) > 0 {
		if _, err := waf.CompileRego(context.Background(), rc); err != nil {
			bad(status.ReasonInvalid, "spec.waf.rego", err.Error())
			return nil
		}
	}
	if c := w.CRS; c != nil {
		crs, field, msg := crsIR(c)
		if field != "" {
			bad(status.ReasonInvalid, field, msg)
			return nil
		}
		out.CRS = crs
	}
	return out
}

// crsIR checks a CRS block with the rules the proxy's CompileCRS applies
// (the CRD schema says the same, but objects may bypass it: standalone
// files, older CRDs), without compiling the rule set, which takes about a
// second. It returns the failing field and why, or the IR.
func crsIR(c *v1alpha1.CRS) (*ir.CRS, string, string) {
	const f = "spec.waf.crs"
	if c.ParanoiaLevel != 0 && (c.ParanoiaLevel < 1 || c.ParanoiaLevel > 4) {
		return nil, f + ".paranoiaLevel", fmt.Sprintf("%d is not in [1, 4]", c.ParanoiaLevel)
	}
	if c.AnomalyThreshold < 0 {
		return nil, f + ".anomalyThreshold", fmt.Sprintf("%d must be >= 1", c.AnomalyThreshold)
	}
	out := &ir.CRS{ParanoiaLevel: int(c.ParanoiaLevel), AnomalyThreshold: int(c.AnomalyThreshold), DetectionOnly: c.DetectionOnly}
	for i, id := range c.ExcludeRules {
		if id < 1 {
			return nil, fmt.Sprintf("%s.excludeRules[%d]", f, i), fmt.Sprintf("rule id %d must be >= 1", id)
		}
		out.ExcludeRules = append(out.ExcludeRules, int(id))
	}
	for i, tag := range c.ExcludeTags {
		if tag == "" || strings.ContainsAny(tag, "\"\n\r") {
			return nil, fmt.Sprintf("%s.excludeTags[%d]", f, i), fmt.Sprintf("invalid tag %q", tag)
		}
		out.ExcludeTags = append(out.ExcludeTags, tag)
	}
	return out, "", ""
}

func (t *translator) configMap(ns, name string) *corev1.ConfigMap {
	for _, cm := range t.in.ConfigMaps {
		if cm.Namespace == ns && cm.Name == name {
			return cm
		}
	}
	return nil
}

// masking checks the rules with the proxy's masker.
func masking(p *policyState, m *v1alpha1.Masking, bad func(reason, field, msg string)) *ir.Masking {
	out := &ir.Masking{Policy: p.key, Builtins: m.Builtins, ContentTypes: m.ContentTypes}
	var rules []mask.Rule
	for _, r := range m.Rules {
		out.Custom = append(out.Custom, ir.MaskRule{Name: r.Name, Pattern: r.Pattern, Replacement: r.Replacement})
		rules = append(rules, mask.Rule{Name: r.Name, Pattern: r.Pattern, Replacement: r.Replacement})
	}
	if len(out.ContentTypes) == 0 {
		out.ContentTypes = []string{"application/json", "text/*"}
	}
	if _, err := mask.New(m.Builtins, rules); err != nil {
		bad(status.ReasonInvalid, "spec.masking", err.Error())
		return nil
	}
	return out
}

// keyedRateLimit is a rate limit with per-client keys or shared through
// Redis, which Envoy's local_ratelimit cannot express.
func keyedRateLimit(p *policyState, rl *v1alpha1.RateLimit, lr *ir.LocalRateLimit, bad func(reason, field, msg string)) *ir.RateLimit {
	out := &ir.RateLimit{Policy: p.key, Requests: lr.TokensPerFill, Per: lr.FillInterval, Burst: lr.MaxTokens}
	sources := map[string]string{"Gateway": "gateway", "Route": "route", "ClientIP": "clientIP", "Header": "header", "JWTClaim": "jwtClaim", "APIKey": "apiKey"}
	for i, k := range rl.Key {
		field := fmt.Sprintf("spec.rateLimit.key[%d]", i)
		src, ok := sources[k.Source]
		if !ok {
			bad(status.ReasonInvalid, field+".source", fmt.Sprintf("%q: must be one of Gateway, Route, ClientIP, Header, JWTClaim, APIKey", k.Source))
			return nil
		}
		name := k.Name
		if src == "header" {
			name = strings.ToLower(name)
		}
		if (src == "header" || src == "jwtClaim") && name == "" {
			bad(status.ReasonInvalid, field+".name", "required for "+k.Source)
			return nil
		}
		out.Key = append(out.Key, ir.RateLimitKeyPart{Source: src, Name: name, PrefixBits: int(k.PrefixBits)})
	}
	if len(out.Key) == 0 {
		// Like Envoy's local_ratelimit: one bucket per route.
		out.Key = []ir.RateLimitKeyPart{{Source: "route"}}
	}
	if g := rl.Global; g != nil {
		if _, _, err := net.SplitHostPort(g.RedisAddress); err != nil {
			bad(status.ReasonInvalid, "spec.rateLimit.global.redisAddress", fmt.Sprintf("%q: must be host:port", g.RedisAddress))
			return nil
		}
		switch g.FailureMode {
		case "", "Open":
		case "Closed":
			out.FailClosed = true
		default:
			bad(status.ReasonInvalid, "spec.rateLimit.global.failureMode", fmt.Sprintf("%q: must be Open or Closed", g.FailureMode))
			return nil
		}
		out.RedisAddress = g.RedisAddress
		if g.Timeout != nil {
			if g.Timeout.Duration <= 0 {
				bad(status.ReasonInvalid, "spec.rateLimit.global.timeout", "must be positive")
				return nil
			}
			out.RedisTimeout = g.Timeout.Duration
		}
	}
	return out
}

// localRateLimit is Envoy's token bucket for a policy's rateLimit: burst
// tokens at most (requests when unset), requests tokens refilled per unit.
func localRateLimit(rl *v1alpha1.RateLimit, bad func(reason, field, msg string)) *ir.LocalRateLimit {
	per, ok := map[string]time.Duration{"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}[rl.Unit]
	if !ok {
		bad(status.ReasonInvalid, "spec.rateLimit.unit", fmt.Sprintf("%q: must be Second, Minute or Hour", rl.Unit))
		return nil
	}
	if rl.Requests < 1 {
		bad(status.ReasonInvalid, "spec.rateLimit.requests", "must be at least 1")
		return nil
	}
	// The proxy's buckets refill at most one token per microsecond (and a
	// finer fill interval is meaningless for Envoy's local_ratelimit too);
	// refusing here gives the policy a condition instead of a NACK of the
	// whole route configuration.
	if max := int64(per / time.Microsecond); int64(rl.Requests) > max {
		bad(status.ReasonInvalid, "spec.rateLimit.requests", fmt.Sprintf("%d per %s: at most %d", rl.Requests, rl.Unit, max))
		return nil
	}
	if rl.Burst < 0 {
		bad(status.ReasonInvalid, "spec.rateLimit.burst", "must not be negative")
		return nil
	}
	burst := uint32(rl.Burst)
	if burst == 0 {
		burst = uint32(rl.Requests)
	}
	return &ir.LocalRateLimit{MaxTokens: burst, TokensPerFill: uint32(rl.Requests), FillInterval: per}
}

// parseCIDR accepts a CIDR or a bare address (a /32 or /128), masked.
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
		}
		return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-unmapBits(pf.Addr())).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

func (t *translator) jwtProvider(p *policyState, field string, pr *v1alpha1.JWTProvider) (*ir.JWTProvider, *ir.Cluster, bool) {
	ns := p.obj.Namespace
	out := &ir.JWTProvider{
		Name: p.key + "/" + pr.Name, Issuer: pr.Issuer, Audiences: slices.Clone(pr.Audiences),
		FromParams: slices.Clone(pr.FromParams), FromCookies: slices.Clone(pr.FromCookies),
		Forward: pr.Forward, ForwardPayloadHeader: strings.ToLower(pr.ForwardPayloadHeader),
	}
	for _, h := range pr.FromHeaders {
		out.FromHeaders = append(out.FromHeaders, ir.JWTHeader{Name: strings.ToLower(h.Name), ValuePrefix: h.ValuePrefix})
	}
	for _, c := range pr.ClaimToHeaders {
		out.ClaimToHeaders = append(out.ClaimToHeaders, ir.JWTClaimToHeader{Header: strings.ToLower(c.Header), Claim: c.Claim})
	}
	if pr.ClockSkewSeconds != nil {
		out.ClockSkewSeconds = uint32(max(*pr.ClockSkewSeconds, 0))
	}
	for i, c := range pr.RequiredClaims {
		f := fmt.Sprintf("%s.requiredClaims[%d]", field, i)
		if c.Name == "" || slices.Contains(strings.Split(c.Name, "."), "") {
			t.fail(p.st, status.Accepted, status.ReasonInvalid, f+".name", fmt.Sprintf("%q: want a claim name or a dotted path of non-empty names", c.Name))
			return nil, nil, false
		}
		out.RequiredClaims = append(out.RequiredClaims, ir.JWTRequiredClaim{Name: c.Name, Values: slices.Clone(c.Values)})
	}
	sources := 0
	for _, set := range []bool{pr.JWKS != "", pr.JWKSSecretRef != nil, pr.JWKSURI != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		t.fail(p.st, status.Accepted, status.ReasonInvalid, field, "exactly one of jwks, jwksSecretRef and jwksUri is required")
		return nil, nil, false
	}
	switch {
	case pr.JWKS != "":
		out.LocalJWKS = pr.JWKS
	case pr.JWKSSecretRef != nil:
		key := pr.JWKSSecretRef.Key
		if key == "" {
			key = "jwks.json"
		}
		sec := t.idx.secrets[ns+"/"+pr.JWKSSecretRef.Name]
		if sec == nil {
			t.fail(p.st, status.ResolvedRefs, status.ReasonSecretNotFound, field+".jwksSecretRef", fmt.Sprintf("Secret %s/%s not found", ns, pr.JWKSSecretRef.Name))
			return nil, nil, false
		}
		if len(sec.Data[key]) == 0 {
			t.fail(p.st, status.ResolvedRefs, status.ReasonInvalidSecret, field+".jwksSecretRef.key", fmt.Sprintf("Secret %s/%s has no %s", ns, pr.JWKSSecretRef.Name, key))
			return nil, nil, false
		}
		out.LocalJWKS = string(sec.Data[key])
	default:
		u, err := url.Parse(pr.JWKSURI)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			t.fail(p.st, status.Accepted, status.ReasonInvalid, field+".jwksUri", fmt.Sprintf("%q: must be an https URL", pr.JWKSURI))
			return nil, nil, false
		}
		if pr.JWKSCASecretName == "" {
			t.fail(p.st, status.Accepted, status.ReasonInvalid, field+".jwksCASecretName", "required with jwksUri: the JWKS server's certificate must be verified")
			return nil, nil, false
		}
		ca, rerr := t.caSecret(ns, pr.JWKSCASecretName)
		if rerr != nil {
			t.fail(p.st, status.ResolvedRefs, rerr.reason, field+".jwksCASecretName", rerr.msg)
			return nil, nil, false
		}
		port := uint32(443)
		if ps := u.Port(); ps != "" {
			n, err := strconv.ParseUint(ps, 10, 16)
			if err != nil || n == 0 {
				t.fail(p.st, status.Accepted, status.ReasonInvalid, field+".jwksUri", fmt.Sprintf("%q: bad port", pr.JWKSURI))
				return nil, nil, false
			}
			port = uint32(n)
		}
		cd := 10 * time.Minute
		if pr.JWKSCacheDuration != nil && pr.JWKSCacheDuration.Duration > 0 {
			cd = pr.JWKSCacheDuration.Duration
		}
		cl := &ir.Cluster{
			Name:   "jwks|" + out.Name,
			Source: ir.ObjectRef{Kind: KindSecurityPolicy, Namespace: ns, Name: p.obj.Name},
			TLS:    &ir.UpstreamTLS{SNI: u.Hostname(), CASecretName: ca},
		}
		// The proxy fetches by URI; the cluster tells Envoy where to send
		// the fetch. A host name has no endpoint here: Envoy needs a DNS
		// cluster for it, which the IR cannot express yet (the ksgw proxy
		// resolves the name itself).
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			cl.Endpoints = []ir.Endpoint{{Address: ip.String(), Port: port, Ready: true}}
		} else {
			cl.NoEndpointsReason = "JWKS host " + u.Hostname() + " is resolved by the proxy"
		}
		out.RemoteJWKS = &ir.RemoteJWKS{URI: pr.JWKSURI, Cluster: cl.Name, CacheDuration: cd}
		return out, cl, true
	}
	return out, nil, true
}

func (t *translator) apiKey(p *policyState, k *v1alpha1.APIKey) (*ir.APIKeyAuth, bool) {
	ns := p.obj.Namespace
	sec := t.idx.secrets[ns+"/"+k.SecretName]
	if sec == nil {
		t.fail(p.st, status.ResolvedRefs, status.ReasonSecretNotFound, "spec.apiKey.secretName", fmt.Sprintf("Secret %s/%s not found", ns, k.SecretName))
		return nil, false
	}
	out := &ir.APIKeyAuth{Header: strings.ToLower(k.Header), Query: k.QueryParam, ClientIDHeader: strings.ToLower(k.ClientIDHeader), ForwardKey: k.ForwardKey}
	if out.Header == "" && out.Query == "" {
		out.Header = "x-api-key"
	}
	seen := map[string]string{}
	for _, client := range slices.Sorted(mapKeys(sec.Data)) {
		key := string(sec.Data[client])
		if key == "" {
			continue
		}
		if prev, dup := seen[key]; dup {
			// Never print the key: statuses and logs are not secret.
			t.fail(p.st, status.ResolvedRefs, status.ReasonInvalidSecret, "spec.apiKey.secretName", fmt.Sprintf("Secret %s/%s: entries %q and %q hold the same key", ns, k.SecretName, prev, client))
			return nil, false
		}
		seen[key] = client
		out.Credentials = append(out.Credentials, ir.APIKeyCredential{Client: client, Key: key})
	}
	if len(out.Credentials) == 0 {
		t.fail(p.st, status.ResolvedRefs, status.ReasonInvalidSecret, "spec.apiKey.secretName", fmt.Sprintf("Secret %s/%s holds no key", ns, k.SecretName))
		return nil, false
	}
	return out, true
}

// securityFor returns the effective security of a route on gateway g: the
// Route-level policy's features, each falling back to the Gateway-level
// policy's. Equal combinations share one value (memo).
func (t *translator) securityFor(g *gatewayState, r *ir.Route, memo map[[2]*policyState]*ir.RouteSecurity) (*ir.RouteSecurity, []*policyState) {
	gp := t.gwPolicy[g.key]
	var rp *policyState
	if r.Source.Kind == KindRoute {
		rp = t.routePolicy[r.Source.Namespace+"/"+r.Source.Name]
	}
	if gp == nil && rp == nil {
		return nil, nil
	}
	used := []*policyState{}
	for _, p := range []*policyState{gp, rp} {
		if p != nil {
			used = append(used, p)
		}
	}
	k := [2]*policyState{gp, rp}
	if s, ok := memo[k]; ok {
		return s, used
	}
	s := &ir.RouteSecurity{}
	pick := func(f func(p *policyState) bool) *policyState {
		if rp != nil && f(rp) {
			return rp
		}
		if gp != nil && f(gp) {
			return gp
		}
		return nil
	}
	if p := pick(func(p *policyState) bool { return p.ipAccess != nil }); p != nil {
		s.IPAccess = p.ipAccess
	}
	if p := pick(func(p *policyState) bool { return p.apiKey != nil }); p != nil {
		s.APIKey = p.apiKey
	}
	if p := pick(func(p *policyState) bool { return p.hsts != "" }); p != nil {
		s.HSTS = p.hsts
	}
	if p := pick(func(p *policyState) bool { return p.rateLimit != nil || p.keyedLimit != nil }); p != nil {
		s.LocalRateLimit, s.RateLimit = p.rateLimit, p.keyedLimit
	}
	if p := pick(func(p *policyState) bool { return p.validation != nil }); p != nil {
		s.Validation = p.validation
	}
	if p := pick(func(p *policyState) bool { return p.waf != nil }); p != nil {
		s.WAF = p.waf
	}
	if p := pick(func(p *policyState) bool { return p.masking != nil }); p != nil {
		s.Masking = p.masking
	}
	if p := pick(func(p *policyState) bool { return p.jwt != nil }); p != nil {
		req := &ir.JWTRequirement{Name: p.key, AllowMissing: p.jwt.allowMissing, Disabled: p.jwt.disabled}
		for _, pr := range p.jwt.providers {
			req.Providers = append(req.Providers, pr.Name)
			if len(pr.RequiredClaims) > 0 {
				if req.RequiredClaims == nil {
					req.RequiredClaims = map[string][]ir.JWTRequiredClaim{}
				}
				req.RequiredClaims[pr.Name] = pr.RequiredClaims
			}
		}
		slices.Sort(req.Providers)
		s.JWT = req
	}
	if *s == (ir.RouteSecurity{}) {
		s = nil
	}
	memo[k] = s
	return s, used
}

// applySecurity returns the listener's virtual hosts with each covered
// route replaced by a shallow copy carrying its security (IR values are
// shared between gateways and never mutated), plus the JWT providers,
// requirements and clusters the listener needs.
func (t *translator) applySecurity(g *gatewayState, vhosts []*ir.VirtualHost, copies map[*ir.Route]*ir.Route, memo map[[2]*policyState]*ir.RouteSecurity) ([]*ir.VirtualHost, []*ir.JWTProvider, []*ir.JWTRequirement, []*ir.Cluster) {
	if len(t.gwPolicy) == 0 && len(t.routePolicy) == 0 {
		return vhosts, nil, nil, nil
	}
	providers := map[string]*ir.JWTProvider{}
	reqs := map[string]*ir.JWTRequirement{}
	clusters := map[string]*ir.Cluster{}
	out := make([]*ir.VirtualHost, 0, len(vhosts))
	for _, vh := range vhosts {
		var routes []*ir.Route
		for i, r := range vh.Routes {
			cp, done := copies[r]
			if !done {
				sec, used := t.securityFor(g, r, memo)
				cp = r
				if sec != nil {
					c := *r
					c.Security = sec
					cp = &c
				}
				copies[r] = cp
				for _, p := range used {
					p.attachedTo[g.key] = true
				}
			}
			if cp != r && routes == nil {
				routes = append(make([]*ir.Route, 0, len(vh.Routes)), vh.Routes[:i]...)
			}
			if routes != nil {
				routes = append(routes, cp)
			}
			if cp.Security != nil && cp.Security.JWT != nil && !cp.Security.JWT.Disabled {
				req := cp.Security.JWT
				reqs[req.Name] = req
				p := t.policyByKey(req.Name)
				for _, pr := range p.jwt.providers {
					providers[pr.Name] = pr
				}
				for _, cl := range p.jwksClusters {
					clusters[cl.Name] = cl
				}
			}
		}
		if routes == nil {
			out = append(out, vh)
		} else {
			out = append(out, &ir.VirtualHost{Name: vh.Name, Domains: vh.Domains, Routes: routes})
		}
	}
	var ps []*ir.JWTProvider
	for _, n := range slices.Sorted(mapKeys(providers)) {
		ps = append(ps, providers[n])
	}
	var rs []*ir.JWTRequirement
	for _, n := range slices.Sorted(mapKeys(reqs)) {
		rs = append(rs, reqs[n])
	}
	var cs []*ir.Cluster
	for _, n := range slices.Sorted(mapKeys(clusters)) {
		cs = append(cs, clusters[n])
	}
	return out, ps, rs, cs
}

func (t *translator) policyByKey(key string) *policyState {
	for _, p := range t.policies {
		if p.key == key {
			return p
		}
	}
	return nil
}

// finishPolicies sets the conditions left unset.
func (t *translator) finishPolicies() {
	for _, p := range t.policies {
		p.st.Default(status.Accepted, status.ReasonAccepted, "SecurityPolicy is valid")
		p.st.Default(status.ResolvedRefs, status.ReasonResolvedRefs, "all references resolved")
		if p.st.Get(status.Programmed) != nil {
			continue
		}
		if !p.valid || len(p.attachedTo) == 0 {
			p.st.Set(status.Programmed, false, status.ReasonPending, "no route of the target was programmed")
			continue
		}
		p.st.Set(status.Programmed, true, status.ReasonProgrammed, "programmed on Gateway "+strings.Join(slices.Sorted(mapKeys(p.attachedTo)), ", "))
	}
}
