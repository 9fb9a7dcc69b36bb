package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
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

func cluster(c *ir.Cluster) *clusterv3.Cluster {
	ct := c.ConnectTimeout
	if ct == 0 {
		ct = defaultConnectTimeout
	}
	out := &clusterv3.Cluster{
		Name:                 c.Name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
		ConnectTimeout:       dur(ct),
		LbPolicy:             lbPolicies[c.LoadBalancer.Policy],
		Metadata:             metadata(map[string]string{"source": sourceString(c.Source), "no_endpoints_reason": c.NoEndpointsReason}),
	}
	switch c.LoadBalancer.Policy {
	case ir.RingHash:
		if c.LoadBalancer.RingMinSize > 0 {
			out.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(c.LoadBalancer.RingMinSize)}}
		}
	case ir.Maglev:
		if c.LoadBalancer.MaglevTable > 0 {
			out.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(c.LoadBalancer.MaglevTable)}}
		}
	}
	if l := c.Limits; l.MaxConnections > 0 || l.MaxPendingRequests > 0 || l.MaxRequests > 0 {
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
		out.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
	}
	po := &httpv3.HttpProtocolOptions{}
	if c.Protocol == ir.HTTP2 {
		po.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}}
	} else {
		po.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
		}}
	}
	if c.Limits.IdleTimeout > 0 || c.Limits.MaxRequestsPerConnection > 0 {
		co := &corev3.HttpProtocolOptions{}
		if c.Limits.IdleTimeout > 0 {
			co.IdleTimeout = dur(c.Limits.IdleTimeout)
		}
		if c.Limits.MaxRequestsPerConnection > 0 {
			co.MaxRequestsPerConnection = wrapperspb.UInt32(c.Limits.MaxRequestsPerConnection)
		}
		po.CommonHttpProtocolOptions = co
	}
	out.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptions: mustAny(po)}

	if hc := c.HealthCheck; hc != nil {
		// Envoy sends the cluster name as Host when none is given; ours
		// contain "/" and are no valid Host, so name the Service instead
		// (what an in-cluster client would send).
		h := &corev3.HealthCheck_HttpHealthCheck{Path: hc.Path, Host: healthCheckHost(c)}
		for _, r := range hc.ExpectedStatuses {
			h.ExpectedStatuses = append(h.ExpectedStatuses, &typev3.Int64Range{Start: int64(r.Start), End: int64(r.End)})
		}
		out.HealthChecks = []*corev3.HealthCheck{{
			Timeout:            dur(hc.Timeout),
			Interval:           dur(hc.Interval),
			UnhealthyThreshold: wrapperspb.UInt32(max(hc.UnhealthyThreshold, 1)),
			HealthyThreshold:   wrapperspb.UInt32(max(hc.HealthyThreshold, 1)),
			HealthChecker:      &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: h},
		}}
	}
	if od := c.Outlier; od != nil {
		o := &clusterv3.OutlierDetection{}
		if od.Consecutive5xx > 0 {
			o.Consecutive_5Xx = wrapperspb.UInt32(od.Consecutive5xx)
		}
		if od.ConsecutiveGatewayError > 0 {
			o.ConsecutiveGatewayFailure = wrapperspb.UInt32(od.ConsecutiveGatewayError)
			// Envoy enforces gateway-failure ejection at 0% by default;
			// Istio turns it on when the field is set, and so do we.
			o.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100)
		}
		if od.Interval > 0 {
			o.Interval = dur(od.Interval)
		}
		if od.BaseEjectionTime > 0 {
			o.BaseEjectionTime = dur(od.BaseEjectionTime)
		}
		if od.MaxEjectionPercent > 0 {
			o.MaxEjectionPercent = wrapperspb.UInt32(od.MaxEjectionPercent)
		}
		out.OutlierDetection = o
	}
	if t := c.TLS; t != nil {
		ctx := &tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: &tlsv3.CommonTlsContext{}}
		if t.ClientSecretName != "" {
			ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsRef(t.ClientSecretName)}
		}
		if t.CASecretName != "" {
			ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsRef(t.CASecretName)}
		}
		out.TransportSocket = &corev3.TransportSocket{Name: tlsTransportSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}}
	}
	return out
}

func healthCheckHost(c *ir.Cluster) string {
	if c.Source.Kind == "Service" && c.Source.Name != "" {
		return c.Source.Name + "." + c.Source.Namespace + ".svc.cluster.local"
	}
	return "ksgw-health-check"
}

func sourceString(o ir.ObjectRef) string {
	if o.Kind == "" {
		return ""
	}
	return o.String()
}

// endpoints groups the cluster's endpoints by zone ("" first), keeping IR
// order within a zone. A cluster without endpoints still gets an assignment
// (an empty one), so the proxy answers 503 instead of waiting for EDS.
func endpoints(c *ir.Cluster) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: c.Name}
	byZone := map[string]*endpointv3.LocalityLbEndpoints{}
	var zones []string
	for _, e := range c.Endpoints {
		loc, ok := byZone[e.Zone]
		if !ok {
			loc = &endpointv3.LocalityLbEndpoints{}
			if e.Zone != "" {
				loc.Locality = &corev3.Locality{Zone: e.Zone}
			}
			byZone[e.Zone] = loc
			zones = append(zones, e.Zone)
		}
		hs := corev3.HealthStatus_HEALTHY
		if !e.Ready {
			hs = corev3.HealthStatus_UNHEALTHY
		}
		loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(e.Address, e.Port)}},
			HealthStatus:   hs,
		})
	}
	sortStrings(zones)
	for _, z := range zones {
		cla.Endpoints = append(cla.Endpoints, byZone[z])
	}
	return cla
}
