package translate

import (
	"errors"
	"fmt"
	"math/big"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

var lbPolicies = map[ir.LBPolicy]clusterv3.Cluster_LbPolicy{
	ir.RoundRobin:   clusterv3.Cluster_ROUND_ROBIN,
	ir.LeastRequest: clusterv3.Cluster_LEAST_REQUEST,
	ir.Random:       clusterv3.Cluster_RANDOM,
	ir.RingHash:     clusterv3.Cluster_RING_HASH,
	ir.Maglev:       clusterv3.Cluster_MAGLEV,
}

// maxRingSize is Envoy's upper bound on ring_hash_lb_config sizes (8M).
const maxRingSize = 8_388_608

// cluster is one Service port (and subset), endpoints by EDS over ADS so
// that an endpoint change never touches CDS (DESIGN §6: the endpoint fast
// path).
func cluster(c *ir.Cluster, refs *refs) (*clusterv3.Cluster, error) {
	ct := c.ConnectTimeout
	if ct < 0 {
		return nil, fmt.Errorf("connect timeout %v: must not be negative", ct)
	}
	if ct == 0 {
		ct = defaultConnectTimeout
	}
	lb, ok := lbPolicies[c.LoadBalancer.Policy]
	if !ok {
		return nil, fmt.Errorf("load balancer policy %d: unknown", c.LoadBalancer.Policy)
	}
	out := &clusterv3.Cluster{
		Name:                 c.Name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
		ConnectTimeout:       dur(ct),
		LbPolicy:             lb,
		Metadata:             metadata("source", sourceString(c.Source), "no_endpoints_reason", c.NoEndpointsReason),
	}
	switch lbc := c.LoadBalancer; lbc.Policy {
	case ir.RingHash:
		if lbc.RingMinSize > maxRingSize {
			return nil, fmt.Errorf("ring hash minimum size %d: above Envoy's maximum %d", lbc.RingMinSize, maxRingSize)
		}
		if lbc.RingMinSize > 0 {
			out.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(lbc.RingMinSize)}}
		}
	case ir.Maglev:
		if lbc.MaglevTable > 0 {
			// Envoy rejects a table size that is not prime; ProbablyPrime
			// is exact below 2^64.
			if !new(big.Int).SetUint64(lbc.MaglevTable).ProbablyPrime(0) {
				return nil, fmt.Errorf("maglev table size %d: must be prime", lbc.MaglevTable)
			}
			out.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(lbc.MaglevTable)}}
		}
	}
	out.CircuitBreakers = circuitBreakers(c.Limits)
	out.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptions: mustAny(protocolOptions(c))}
	if hc := c.HealthCheck; hc != nil {
		h, err := healthCheck(c, hc)
		if err != nil {
			return nil, fmt.Errorf("health check: %w", err)
		}
		out.HealthChecks = []*corev3.HealthCheck{h}
	}
	out.OutlierDetection = outlierDetection(c.Outlier)
	if t := c.TLS; t != nil {
		ts, err := upstreamTLS(t, refs)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		out.TransportSocket = ts
	}
	return out, nil
}

// circuitBreakers sets only the thresholds the IR gives: an explicit 0
// would block all traffic, and Envoy's defaults (1024) apply otherwise.
func circuitBreakers(l ir.ConnectionLimits) *clusterv3.CircuitBreakers {
	if l.MaxConnections == 0 && l.MaxPendingRequests == 0 && l.MaxRequests == 0 {
		return nil
	}
	th := &clusterv3.CircuitBreakers_Thresholds{Priority: corev3.RoutingPriority_DEFAULT}
	if l.MaxConnections > 0 {
		th.MaxConnections = wrapperspb.UInt32(l.MaxConnections)
	}
	if l.MaxPendingRequests > 0 {
		th.MaxPendingRequests = wrapperspb.UInt32(l.MaxPendingRequests)
	}
	if l.MaxRequests > 0 {
		th.MaxRequests = wrapperspb.UInt32(l.MaxRequests)
	}
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
}

// protocolOptions always names the upstream protocol explicitly: Envoy's
// default is HTTP/1.1, and gRPC backends need h2 (h2c in plaintext).
func protocolOptions(c *ir.Cluster) *httpv3.HttpProtocolOptions {
	ex := &httpv3.HttpProtocolOptions_ExplicitHttpConfig{}
	if c.Protocol == ir.HTTP2 {
		ex.ProtocolConfig = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}}
	} else {
		ex.ProtocolConfig = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}}
	}
	po := &httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: ex}}
	if l := c.Limits; l.IdleTimeout > 0 || l.MaxRequestsPerConnection > 0 {
		co := &corev3.HttpProtocolOptions{}
		if l.IdleTimeout > 0 {
			co.IdleTimeout = dur(l.IdleTimeout)
		}
		if l.MaxRequestsPerConnection > 0 {
			co.MaxRequestsPerConnection = wrapperspb.UInt32(l.MaxRequestsPerConnection)
		}
		po.CommonHttpProtocolOptions = co
	}
	return po
}

func healthCheck(c *ir.Cluster, hc *ir.HealthCheck) (*corev3.HealthCheck, error) {
	// Envoy requires both, strictly positive, and has no defaults for
	// them; internal/translate fills Istio-like defaults in.
	if hc.Interval <= 0 || hc.Timeout <= 0 {
		return nil, fmt.Errorf("interval %v and timeout %v: both must be positive", hc.Interval, hc.Timeout)
	}
	// Envoy sends the cluster name as Host when none is given; ours
	// contain "/" and are no valid Host, so name the Service instead
	// (what an in-cluster client would send).
	h := &corev3.HealthCheck_HttpHealthCheck{Path: hc.Path, Host: healthCheckHost(c)}
	for _, r := range hc.ExpectedStatuses {
		h.ExpectedStatuses = append(h.ExpectedStatuses, &typev3.Int64Range{Start: int64(r.Start), End: int64(r.End)})
	}
	return &corev3.HealthCheck{
		Timeout:  dur(hc.Timeout),
		Interval: dur(hc.Interval),
		// Both are required by Envoy; 1 is its documented minimum useful value.
		UnhealthyThreshold: wrapperspb.UInt32(max(hc.UnhealthyThreshold, 1)),
		HealthyThreshold:   wrapperspb.UInt32(max(hc.HealthyThreshold, 1)),
		HealthChecker:      &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: h},
	}, nil
}

func healthCheckHost(c *ir.Cluster) string {
	if c.Source.Kind == "Service" && c.Source.Name != "" {
		return c.Source.Name + "." + c.Source.Namespace + ".svc.cluster.local"
	}
	return "ksgw-health-check"
}

func outlierDetection(od *ir.OutlierDetection) *clusterv3.OutlierDetection {
	if od == nil {
		return nil
	}
	o := &clusterv3.OutlierDetection{}
	if od.Consecutive5xx > 0 {
		o.Consecutive_5Xx = wrapperspb.UInt32(od.Consecutive5xx)
	}
	if od.ConsecutiveGatewayError > 0 {
		o.ConsecutiveGatewayFailure = wrapperspb.UInt32(od.ConsecutiveGatewayError)
		// Envoy enforces gateway-failure ejection at 0% by default
		// (detect, never eject); Istio turns it on when the field is set,
		// and so do we.
		o.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100)
	}
	if od.Interval > 0 {
		o.Interval = dur(od.Interval)
	}
	if od.BaseEjectionTime > 0 {
		o.BaseEjectionTime = dur(od.BaseEjectionTime)
	}
	if od.MaxEjectionPercent > 0 {
		o.MaxEjectionPercent = wrapperspb.UInt32(min(od.MaxEjectionPercent, 100))
	}
	return o
}

// upstreamTLS originates TLS with SDS references for the client
// certificate and the CA. InsecureSkipVerify (and only it) leaves the
// validation context out.
func upstreamTLS(t *ir.UpstreamTLS, refs *refs) (*corev3.TransportSocket, error) {
	ctx := &tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: &tlsv3.CommonTlsContext{}}
	if t.ClientSecretName != "" {
		if err := refs.secret(t.ClientSecretName, false); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsRef(t.ClientSecretName)}
	}
	switch {
	case t.CASecretName != "":
		if err := refs.secret(t.CASecretName, true); err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		validationContext(ctx.CommonTlsContext, t.CASecretName, t.SubjectAltNames)
	case !t.InsecureSkipVerify:
		return nil, errors.New("no CA secret: verifying the upstream needs one, or InsecureSkipVerify")
	case len(t.SubjectAltNames) > 0:
		return nil, errors.New("subject alt names without a CA secret cannot be verified")
	}
	return &corev3.TransportSocket{Name: tlsTransportSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}}, nil
}
