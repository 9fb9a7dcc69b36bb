package translate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/status"
)

// Istio's defaults for DestinationRule fields left unset
// (istio.io/latest/docs/reference/config/networking/destination-rule).
const (
	defaultRingSize           = 1024
	defaultMaglevTable        = 65537
	maxMaglevTable            = 5000011 // Envoy's maximum
	defaultConsecutive5xx     = 5
	defaultOutlierInterval    = 10 * time.Second
	defaultBaseEjectionTime   = 30 * time.Second
	defaultMaxEjectionPercent = 10
	defaultHCInterval         = 10 * time.Second
	defaultHCTimeout          = time.Second
	defaultHCUnhealthy        = 3
	defaultHCHealthy          = 1
)

// drState is one DestinationRule after validation.
type drState struct {
	obj     *v1alpha1.DestinationRule
	st      *status.ObjectStatus
	applied bool // the rule in force for its host (oldest wins)
	service string
	policy  *clusterPolicy          // top-level, nil when none
	subsets map[string]*subsetState // by name
	usedBy  []string                // cluster names
}

type subsetState struct {
	labels map[string]string
	policy *clusterPolicy // merged with the top level; nil when neither has one
}

// clusterPolicy is a TrafficPolicy converted to IR values, computed once per
// DestinationRule and subset and copied into every cluster it governs.
type clusterPolicy struct {
	lb             ir.LoadBalancer
	connectTimeout time.Duration
	limits         ir.ConnectionLimits
	outlier        *ir.OutlierDetection
	hc             *ir.HealthCheck
	tls            *ir.UpstreamTLS
	upgradeH2      bool
	// brokenTLS, when set, says why the upstream TLS asked for cannot be
	// configured. The cluster then gets no endpoints (503 with this reason):
	// failing closed instead of silently sending plaintext.
	brokenTLS string
}

func (p *clusterPolicy) apply(c *ir.Cluster) {
	c.LoadBalancer = p.lb
	c.ConnectTimeout = p.connectTimeout
	c.Limits = p.limits
	c.Outlier = p.outlier
	c.HealthCheck = p.hc
	c.TLS = p.tls
}

// translateDestinationRules validates every DestinationRule and picks the
// one in force per Service: the oldest (then by name); a younger rule for
// the same host gets Accepted=False HostConflict, since Istio's merging of
// several rules for one host is order-dependent and surprising.
//
// An invalid policy field is reported (Accepted=False, reason Invalid) and
// falls back to its default while the rest of the rule, subsets included,
// still applies: dropping the subsets would turn every request routed to
// them into a 503.
func (t *translator) translateDestinationRules() {
	byHost := map[string][]*drState{}
	var hosts []string
	for _, dr := range t.in.DestinationRules {
		d := &drState{obj: dr, st: t.newStatus(KindDestinationRule, dr), subsets: map[string]*subsetState{}}
		t.drStates = append(t.drStates, d)
		svc, svcNs, ok := parseServiceHost(dr.Spec.Host, dr.Namespace)
		switch {
		case !ok:
			t.fail(d.st, status.Accepted, status.ReasonInvalid, "spec.host", fmt.Sprintf("%q is not a Service name", dr.Spec.Host))
			continue
		case svcNs != dr.Namespace:
			t.fail(d.st, status.Accepted, status.ReasonRefNotPermitted, "spec.host", fmt.Sprintf("Service %s/%s is in another namespace; a DestinationRule applies only to Services of its own namespace", svcNs, svc))
			d.st.Fail(status.ResolvedRefs, status.ReasonRefNotPermitted, "spec.host: cross-namespace reference")
			continue
		}
		d.service = svc
		if t.idx.services[dr.Namespace+"/"+svc] == nil {
			t.fail(d.st, status.ResolvedRefs, status.ReasonBackendNotFound, "spec.host", fmt.Sprintf("Service %s/%s not found", dr.Namespace, svc))
		}
		top := dr.Spec.TrafficPolicy
		if top != nil {
			d.policy = t.convertPolicy(d, top, "spec.trafficPolicy", true)
		}
		for i, ss := range dr.Spec.Subsets {
			f := fmt.Sprintf("spec.subsets[%d]", i)
			if _, dup := d.subsets[ss.Name]; dup {
				t.fail(d.st, status.Accepted, status.ReasonInvalid, f+".name", fmt.Sprintf("duplicate subset %q", ss.Name))
				continue
			}
			s := &subsetState{labels: ss.Labels, policy: d.policy}
			if ss.TrafficPolicy != nil {
				t.convertPolicy(d, ss.TrafficPolicy, f+".trafficPolicy", true) // report only
				s.policy = t.convertPolicy(d, mergePolicy(top, ss.TrafficPolicy), "", false)
			}
			d.subsets[ss.Name] = s
		}
		k := dr.Namespace + "/" + svc
		if byHost[k] == nil {
			hosts = append(hosts, k)
		}
		byHost[k] = append(byHost[k], d)
	}
	for _, k := range hosts {
		ds := byHost[k]
		slices.SortStableFunc(ds, func(a, b *drState) int {
			if c := a.obj.CreationTimestamp.Time.Compare(b.obj.CreationTimestamp.Time); c != 0 {
				return c
			}
			return strings.Compare(a.obj.Name, b.obj.Name)
		})
		ds[0].applied = true
		t.drs[k] = ds[0]
		for _, d := range ds[1:] {
			t.fail(d.st, status.Accepted, status.ReasonHostConflict, "spec.host",
				fmt.Sprintf("DestinationRule %s/%s already applies to Service %s; only the oldest rule per Service is used", ds[0].obj.Namespace, ds[0].obj.Name, k))
		}
	}
}

// finishDestinationRules sets the conditions left unset once routes have
// decided which clusters exist.
func (t *translator) finishDestinationRules() {
	for _, d := range t.drStates {
		d.st.Default(status.Accepted, status.ReasonAccepted, "DestinationRule is valid")
		d.st.Default(status.ResolvedRefs, status.ReasonResolvedRefs, "all references resolved")
		switch {
		case !d.applied:
			d.st.Set(status.Programmed, false, status.ReasonPending, "DestinationRule is not in force")
		case len(d.usedBy) == 0:
			d.st.Set(status.Programmed, false, status.ReasonPending, "no route sends traffic to Service "+d.obj.Namespace+"/"+d.service)
		default:
			slices.Sort(d.usedBy)
			d.st.Set(status.Programmed, true, status.ReasonProgrammed, "applied to clusters "+strings.Join(slices.Compact(d.usedBy), ", "))
		}
	}
}

// mergePolicy applies Istio's subset override: each direct child of the
// subset's trafficPolicy replaces the top-level one.
func mergePolicy(top, sub *v1alpha1.TrafficPolicy) *v1alpha1.TrafficPolicy {
	m := v1alpha1.TrafficPolicy{}
	if top != nil {
		m = *top
	}
	if sub.LoadBalancer != nil {
		m.LoadBalancer = sub.LoadBalancer
	}
	if sub.ConnectionPool != nil {
		m.ConnectionPool = sub.ConnectionPool
	}
	if sub.OutlierDetection != nil {
		m.OutlierDetection = sub.OutlierDetection
	}
	if sub.TLS != nil {
		m.TLS = sub.TLS
	}
	if sub.HealthCheck != nil {
		m.HealthCheck = sub.HealthCheck
	}
	return &m
}

// convertPolicy converts tp; with report, problems are recorded on d under
// field prefix f.
func (t *translator) convertPolicy(d *drState, tp *v1alpha1.TrafficPolicy, f string, report bool) *clusterPolicy {
	bad := func(cond, reason, field, msg string) {
		if report {
			t.fail(d.st, cond, reason, f+field, msg)
		}
	}
	p := &clusterPolicy{lb: ir.LoadBalancer{Policy: ir.LeastRequest}}
	if lb := tp.LoadBalancer; lb != nil {
		switch lb.Simple {
		case "", v1alpha1.SimpleLBLeastRequest:
		case v1alpha1.SimpleLBRoundRobin:
			p.lb.Policy = ir.RoundRobin
		case v1alpha1.SimpleLBRandom:
			p.lb.Policy = ir.Random
		case v1alpha1.SimpleLBPassthrough:
			bad(status.Accepted, status.ReasonUnsupported, ".loadBalancer.simple", "PASSTHROUGH is not supported by a gateway; using LEAST_REQUEST")
		default:
			bad(status.Accepted, status.ReasonInvalid, ".loadBalancer.simple", fmt.Sprintf("unknown load balancer %q", lb.Simple))
		}
		if ch := lb.ConsistentHash; ch != nil {
			if lb.Simple != "" {
				bad(status.Accepted, status.ReasonInvalid, ".loadBalancer", "simple and consistentHash are mutually exclusive")
			}
			var hp ir.HashPolicy
			n := 0
			if ch.HTTPHeaderName != "" {
				hp.Header, n = strings.ToLower(ch.HTTPHeaderName), n+1
			}
			if c := ch.HTTPCookie; c != nil {
				hc := &ir.HashCookie{Name: c.Name, Path: c.Path}
				if c.TTL != nil {
					hc.TTL = c.TTL.Duration
				}
				hp.Cookie, n = hc, n+1
				if c.Name == "" {
					bad(status.Accepted, status.ReasonInvalid, ".loadBalancer.consistentHash.httpCookie.name", "must not be empty")
				}
			}
			if ch.UseSourceIP {
				hp.SourceIP, n = true, n+1
			}
			if n != 1 {
				bad(status.Accepted, status.ReasonInvalid, ".loadBalancer.consistentHash", "exactly one of httpHeaderName, httpCookie or useSourceIp must be set")
			} else {
				p.lb.HashPolicies = []ir.HashPolicy{hp}
				p.lb.Policy, p.lb.RingMinSize = ir.RingHash, defaultRingSize
				if ch.RingHash != nil && ch.RingHash.MinimumRingSize > 0 {
					p.lb.RingMinSize = ch.RingHash.MinimumRingSize
				}
				if ch.Maglev != nil {
					p.lb.Policy, p.lb.RingMinSize, p.lb.MaglevTable = ir.Maglev, 0, defaultMaglevTable
					if ts := ch.Maglev.TableSize; ts > 0 {
						if ts > maxMaglevTable || !isPrime(ts) {
							bad(status.Accepted, status.ReasonInvalid, ".loadBalancer.consistentHash.maglev.tableSize", fmt.Sprintf("%d is not a prime <= %d (Envoy requires a prime table size)", ts, maxMaglevTable))
						} else {
							p.lb.MaglevTable = ts
						}
					}
				}
			}
		}
	}
	if cp := tp.ConnectionPool; cp != nil {
		if tcp := cp.TCP; tcp != nil {
			p.limits.MaxConnections = nonNeg(tcp.MaxConnections)
			if tcp.ConnectTimeout != nil {
				if tcp.ConnectTimeout.Duration <= 0 {
					bad(status.Accepted, status.ReasonInvalid, ".connectionPool.tcp.connectTimeout", "must be > 0")
				} else {
					p.connectTimeout = tcp.ConnectTimeout.Duration
				}
			}
		}
		if h := cp.HTTP; h != nil {
			p.limits.MaxPendingRequests = nonNeg(h.HTTP1MaxPendingRequests)
			p.limits.MaxRequests = nonNeg(h.HTTP2MaxRequests)
			p.limits.MaxRequestsPerConnection = nonNeg(h.MaxRequestsPerConnection)
			if h.IdleTimeout != nil {
				p.limits.IdleTimeout = h.IdleTimeout.Duration
			}
			p.upgradeH2 = h.H2UpgradePolicy == v1alpha1.H2UpgradeUpgrade
		}
	}
	if od := tp.OutlierDetection; od != nil {
		o := &ir.OutlierDetection{
			Consecutive5xx:     defaultConsecutive5xx,
			Interval:           defaultOutlierInterval,
			BaseEjectionTime:   defaultBaseEjectionTime,
			MaxEjectionPercent: defaultMaxEjectionPercent,
		}
		if od.Consecutive5xxErrors != nil {
			o.Consecutive5xx = nonNeg(*od.Consecutive5xxErrors)
		}
		if od.ConsecutiveGatewayErrors != nil {
			o.ConsecutiveGatewayError = nonNeg(*od.ConsecutiveGatewayErrors)
		}
		if od.Interval != nil && od.Interval.Duration > 0 {
			o.Interval = od.Interval.Duration
		}
		if od.BaseEjectionTime != nil && od.BaseEjectionTime.Duration > 0 {
			o.BaseEjectionTime = od.BaseEjectionTime.Duration
		}
		if od.MaxEjectionPercent > 0 {
			o.MaxEjectionPercent = uint32(min(od.MaxEjectionPercent, 100))
		}
		p.outlier = o
	}
	if hc := tp.HealthCheck; hc != nil {
		if !strings.HasPrefix(hc.Path, "/") {
			bad(status.Accepted, status.ReasonInvalid, ".healthCheck.path", "must start with \"/\"")
		} else {
			h := &ir.HealthCheck{
				Path:               hc.Path,
				Interval:           defaultHCInterval,
				Timeout:            defaultHCTimeout,
				UnhealthyThreshold: defaultHCUnhealthy,
				HealthyThreshold:   defaultHCHealthy,
			}
			if hc.Interval != nil && hc.Interval.Duration > 0 {
				h.Interval = hc.Interval.Duration
			}
			if hc.Timeout != nil && hc.Timeout.Duration > 0 {
				h.Timeout = hc.Timeout.Duration
			}
			if hc.UnhealthyThreshold > 0 {
				h.UnhealthyThreshold = uint32(hc.UnhealthyThreshold)
			}
			if hc.HealthyThreshold > 0 {
				h.HealthyThreshold = uint32(hc.HealthyThreshold)
			}
			codes := slices.Clone(hc.ExpectedStatuses)
			slices.Sort(codes)
			for _, c := range slices.Compact(codes) {
				if c < 100 || c > 599 {
					bad(status.Accepted, status.ReasonInvalid, ".healthCheck.expectedStatuses", fmt.Sprintf("%d is not an HTTP status", c))
					continue
				}
				if n := len(h.ExpectedStatuses); n > 0 && h.ExpectedStatuses[n-1].End == int(c) {
					h.ExpectedStatuses[n-1].End++
					continue
				}
				h.ExpectedStatuses = append(h.ExpectedStatuses, ir.StatusRange{Start: int(c), End: int(c) + 1})
			}
			if len(h.ExpectedStatuses) == 0 {
				h.ExpectedStatuses = []ir.StatusRange{{Start: 200, End: 201}}
			}
			p.hc = h
		}
	}
	if tls := tp.TLS; tls != nil {
		t.convertUpstreamTLS(d, tls, p, bad)
	}
	return p
}

func (t *translator) convertUpstreamTLS(d *drState, tls *v1alpha1.ClientTLSSettings, p *clusterPolicy, bad func(cond, reason, field, msg string)) {
	ns := d.obj.Namespace
	insecure := tls.InsecureSkipVerify != nil && *tls.InsecureSkipVerify
	u := &ir.UpstreamTLS{SNI: tls.SNI, SubjectAltNames: slices.Sorted(slices.Values(tls.SubjectAltNames)), InsecureSkipVerify: insecure}
	broken := func(cond, reason, field, msg string) {
		bad(cond, reason, field, msg)
		p.brokenTLS = fmt.Sprintf("upstream TLS of DestinationRule %s/%s cannot be configured: %s", ns, d.obj.Name, msg)
	}
	switch tls.Mode {
	case v1alpha1.TLSModeDisable, "":
		return
	case v1alpha1.TLSModeSimple, v1alpha1.TLSModeMutual:
	default:
		broken(status.Accepted, status.ReasonInvalid, ".tls.mode", fmt.Sprintf("unknown mode %q", tls.Mode))
		return
	}
	if tls.CredentialName != "" {
		if tls.Mode == v1alpha1.TLSModeMutual {
			name, err := t.certSecret(ns, tls.CredentialName, false)
			if err != nil {
				broken(status.ResolvedRefs, err.reason, ".tls.credentialName", err.msg)
				return
			}
			u.ClientSecretName = name
		}
		if t.hasCA(ns, tls.CredentialName) || tls.Mode == v1alpha1.TLSModeSimple {
			name, err := t.caSecret(ns, tls.CredentialName)
			if err != nil {
				broken(status.ResolvedRefs, err.reason, ".tls.credentialName", err.msg)
				return
			}
			u.CASecretName = name
		}
	} else if tls.Mode == v1alpha1.TLSModeMutual {
		broken(status.Accepted, status.ReasonInvalid, ".tls.credentialName", "MUTUAL requires credentialName")
		return
	}
	if u.CASecretName == "" && !insecure {
		broken(status.Accepted, status.ReasonInvalid, ".tls.credentialName", "verifying the upstream needs a ca.crt in credentialName, or insecureSkipVerify: true")
		return
	}
	p.tls = u
}

func nonNeg(v int32) uint32 {
	if v < 0 {
		return 0
	}
	return uint32(v)
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for i := uint64(2); i*i <= n; i++ {
		if n%i == 0 {
			return false
		}
	}
	return true
}
