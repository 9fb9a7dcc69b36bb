package dpconfig

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

const httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// DecodeCluster decodes a Cluster.
func DecodeCluster(a *anypb.Any) (*Cluster, error) {
	var c clusterv3.Cluster
	if err := a.UnmarshalTo(&c); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := c.ValidateAll(); err != nil {
		return nil, fmt.Errorf("cluster %q: %w", c.GetName(), err)
	}
	out, err := decodeCluster(&c)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", c.GetName(), err)
	}
	return out, nil
}

func decodeCluster(c *clusterv3.Cluster) (*Cluster, error) {
	if t := c.GetType(); t != clusterv3.Cluster_EDS {
		return nil, errAt("type", "only EDS clusters are supported, got %v", t)
	}
	if c.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
		return nil, errAt("eds_cluster_config.eds_config", "only ads is supported")
	}
	out := &Cluster{
		Name:           c.GetName(),
		ConnectTimeout: duration(c.GetConnectTimeout()),
	}
	if out.ConnectTimeout == 0 {
		out.ConnectTimeout = 5e9 // Envoy's default connect_timeout
	}
	if md := c.GetMetadata().GetFilterMetadata()["ksgw"]; md != nil {
		out.Source = md.GetFields()["source"].GetStringValue()
		out.NoEndpointsReason = md.GetFields()["no_endpoints_reason"].GetStringValue()
	}
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		out.LBPolicy = RoundRobin
	case clusterv3.Cluster_LEAST_REQUEST:
		out.LBPolicy = LeastRequest
	case clusterv3.Cluster_RANDOM:
		out.LBPolicy = Random
	case clusterv3.Cluster_RING_HASH:
		out.LBPolicy = RingHash
		out.RingMinSize = 1024 // Envoy's default minimum_ring_size
		if v := c.GetRingHashLbConfig().GetMinimumRingSize(); v != nil {
			out.RingMinSize = v.GetValue()
		}
	case clusterv3.Cluster_MAGLEV:
		out.LBPolicy = Maglev
		out.MaglevTableSize = 65537
		if v := c.GetMaglevLbConfig().GetTableSize(); v != nil {
			out.MaglevTableSize = v.GetValue()
		}
	default:
		return nil, errAt("lb_policy", "unsupported %v", c.GetLbPolicy())
	}
	for _, t := range c.GetCircuitBreakers().GetThresholds() {
		if t.GetPriority() != corev3.RoutingPriority_DEFAULT {
			continue
		}
		out.MaxConnections = t.GetMaxConnections().GetValue()
		out.MaxPendingRequests = t.GetMaxPendingRequests().GetValue()
		out.MaxRequests = t.GetMaxRequests().GetValue()
	}
	if opts, ok := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsName]; ok {
		var po httpv3.HttpProtocolOptions
		if err := opts.UnmarshalTo(&po); err != nil {
			return nil, errAt("typed_extension_protocol_options", "%v", err)
		}
		switch p := po.GetUpstreamProtocolOptions().(type) {
		case *httpv3.HttpProtocolOptions_ExplicitHttpConfig_:
			if p.ExplicitHttpConfig.GetHttp2ProtocolOptions() != nil {
				out.Protocol = HTTP2
			}
		case nil:
		default:
			return nil, errAt("typed_extension_protocol_options.upstream_protocol_options", "only explicit_http_config is supported")
		}
		if co := po.GetCommonHttpProtocolOptions(); co != nil {
			out.IdleTimeout = duration(co.GetIdleTimeout())
			out.MaxRequestsPerConnection = co.GetMaxRequestsPerConnection().GetValue()
		}
	}
	if hcs := c.GetHealthChecks(); len(hcs) > 0 {
		if len(hcs) > 1 {
			return nil, errAt("health_checks", "at most one health check is supported")
		}
		hc := hcs[0]
		h := hc.GetHttpHealthCheck()
		if h == nil {
			return nil, errAt("health_checks[0]", "only http_health_check is supported")
		}
		out.HealthCheck = &HealthCheck{
			Path:               h.GetPath(),
			Host:               h.GetHost(),
			Interval:           duration(hc.GetInterval()),
			Timeout:            duration(hc.GetTimeout()),
			UnhealthyThreshold: hc.GetUnhealthyThreshold().GetValue(),
			HealthyThreshold:   hc.GetHealthyThreshold().GetValue(),
		}
		for _, r := range h.GetExpectedStatuses() {
			out.HealthCheck.ExpectedStatuses = append(out.HealthCheck.ExpectedStatuses, [2]int{int(r.GetStart()), int(r.GetEnd())})
		}
	}
	if od := c.GetOutlierDetection(); od != nil {
		out.Outlier = &OutlierDetection{
			Consecutive5xx:            od.GetConsecutive_5Xx().GetValue(),
			ConsecutiveGatewayFailure: od.GetConsecutiveGatewayFailure().GetValue(),
			Interval:                  duration(od.GetInterval()),
			BaseEjectionTime:          duration(od.GetBaseEjectionTime()),
			MaxEjectionPercent:        od.GetMaxEjectionPercent().GetValue(),
		}
		// Envoy's defaults for unset fields.
		if od.GetConsecutive_5Xx() == nil {
			out.Outlier.Consecutive5xx = 5
		}
		if od.GetInterval() == nil {
			out.Outlier.Interval = 10e9
		}
		if od.GetBaseEjectionTime() == nil {
			out.Outlier.BaseEjectionTime = 30e9
		}
		if od.GetMaxEjectionPercent() == nil {
			out.Outlier.MaxEjectionPercent = 10
		}
	}
	if ts := c.GetTransportSocket(); ts != nil {
		if ts.GetName() != "envoy.transport_sockets.tls" {
			return nil, errAt("transport_socket.name", "unsupported %q", ts.GetName())
		}
		var u tlsv3.UpstreamTlsContext
		if err := ts.GetTypedConfig().UnmarshalTo(&u); err != nil {
			return nil, errAt("transport_socket.typed_config", "%v", err)
		}
		t := &UpstreamTLS{SNI: u.GetSni(), ALPN: u.GetCommonTlsContext().GetAlpnProtocols()}
		if s := u.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs(); len(s) > 0 {
			t.CertificateSecret = s[0].GetName()
		}
		if v := u.GetCommonTlsContext().GetValidationContextSdsSecretConfig(); v != nil {
			t.ValidationSecret = v.GetName()
		}
		out.TLS = t
	}
	return out, nil
}
