package dpconfig

import (
	"fmt"
	"math/big"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// DecodeCluster decodes a Cluster.
func DecodeCluster(a *anypb.Any) (*Cluster, error) {
	_, c, err := decodeClusterAny(a)
	return c, err
}

func decodeClusterAny(a *anypb.Any) (string, *Cluster, error) {
	var c clusterv3.Cluster
	name, err := unmarshalAny(a, &c, "cluster", c.GetName)
	if err != nil {
		return name, nil, err
	}
	out, err := decodeCluster(&c)
	if err != nil {
		return name, nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	return name, out, nil
}

func decodeCluster(c *clusterv3.Cluster) (*Cluster, error) {
	if err := onlyFields(c, "name", "type", "eds_cluster_config", "connect_timeout", "lb_policy",
		"ring_hash_lb_config", "maglev_lb_config", "circuit_breakers", "typed_extension_protocol_options",
		"health_checks", "outlier_detection", "transport_socket", "metadata"); err != nil {
		return nil, err
	}
	if t := c.GetType(); t != clusterv3.Cluster_EDS {
		return nil, errAt("type", "only EDS clusters are supported, got %v", t)
	}
	eds := c.GetEdsClusterConfig()
	if err := onlyFields(eds, "eds_config", "service_name"); err != nil {
		return nil, wrapAt("eds_cluster_config", err)
	}
	if eds.GetEdsConfig().GetAds() == nil {
		return nil, errAt("eds_cluster_config.eds_config", "only ads is supported")
	}
	// The runtime looks assignments up by cluster name.
	if sn := eds.GetServiceName(); sn != "" && sn != c.GetName() {
		return nil, errAt("eds_cluster_config.service_name", "must be empty or the cluster name, got %q", sn)
	}
	out := &Cluster{
		Name:           c.GetName(),
		ConnectTimeout: 5 * time.Second, // Envoy's default connect_timeout
		IdleTimeout:    time.Hour,       // Envoy's default upstream idle_timeout
	}
	if ct := c.GetConnectTimeout(); ct != nil {
		out.ConnectTimeout = duration(ct)
	}
	if md := c.GetMetadata().GetFilterMetadata()["ksgw"]; md != nil {
		out.Source = md.GetFields()["source"].GetStringValue()
		out.NoEndpointsReason = md.GetFields()["no_endpoints_reason"].GetStringValue()
	}
	if err := decodeLB(c, out); err != nil {
		return nil, err
	}
	if err := decodeCircuitBreakers(c.GetCircuitBreakers(), out); err != nil {
		return nil, wrapAt("circuit_breakers", err)
	}
	for key, opts := range c.GetTypedExtensionProtocolOptions() {
		field := "typed_extension_protocol_options[" + key + "]"
		if key != httpProtocolOptionsName {
			return nil, errAt(field, "unsupported protocol options")
		}
		if err := decodeHTTPProtocolOptions(opts, out); err != nil {
			return nil, wrapAt(field, err)
		}
	}
	if hcs := c.GetHealthChecks(); len(hcs) > 0 {
		if len(hcs) > 1 {
			return nil, errAt("health_checks", "at most one health check is supported")
		}
		hc, err := decodeHealthCheck(hcs[0])
		if err != nil {
			return nil, wrapAt("health_checks[0]", err)
		}
		out.HealthCheck = hc
	}
	if od := c.GetOutlierDetection(); od != nil {
		o, err := decodeOutlier(od)
		if err != nil {
			return nil, wrapAt("outlier_detection", err)
		}
		out.Outlier = o
	}
	if ts := c.GetTransportSocket(); ts != nil {
		t, err := decodeUpstreamTLS(ts)
		if err != nil {
			return nil, wrapAt("transport_socket", err)
		}
		out.TLS = t
	}
	return out, nil
}

func decodeLB(c *clusterv3.Cluster, out *Cluster) error {
	if c.GetRingHashLbConfig() != nil && c.GetLbPolicy() != clusterv3.Cluster_RING_HASH ||
		c.GetMaglevLbConfig() != nil && c.GetLbPolicy() != clusterv3.Cluster_MAGLEV {
		return errAt("lb_config", "%q does not go with lb_policy %v", oneofName(c, "lb_config"), c.GetLbPolicy())
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
		if rh := c.GetRingHashLbConfig(); rh != nil {
			if err := onlyFields(rh, "minimum_ring_size", "maximum_ring_size"); err != nil {
				return wrapAt("ring_hash_lb_config", err)
			}
			if v := rh.GetMinimumRingSize(); v != nil {
				out.RingMinSize = v.GetValue()
			}
			// Envoy's default maximum_ring_size is 8M.
			maxSize := uint64(8 << 20)
			if v := rh.GetMaximumRingSize(); v != nil {
				maxSize = v.GetValue()
			}
			if out.RingMinSize > maxSize {
				return errAt("ring_hash_lb_config.minimum_ring_size", "%d is above maximum_ring_size %d", out.RingMinSize, maxSize)
			}
		}
	case clusterv3.Cluster_MAGLEV:
		out.LBPolicy = Maglev
		out.MaglevTableSize = 65537 // Envoy's default table_size
		if ml := c.GetMaglevLbConfig(); ml != nil {
			if err := onlyFields(ml, "table_size"); err != nil {
				return wrapAt("maglev_lb_config", err)
			}
			if v := ml.GetTableSize(); v != nil {
				out.MaglevTableSize = v.GetValue()
			}
		}
		// Envoy requires a prime table size; the PGV rule caps it at 5000011.
		if !big.NewInt(int64(out.MaglevTableSize)).ProbablyPrime(0) {
			return errAt("maglev_lb_config.table_size", "%d is not prime", out.MaglevTableSize)
		}
	default:
		return errAt("lb_policy", "unsupported %v", c.GetLbPolicy())
	}
	return nil
}

func decodeCircuitBreakers(cb *clusterv3.CircuitBreakers, out *Cluster) error {
	if cb == nil {
		return nil
	}
	if err := onlyFields(cb, "thresholds"); err != nil {
		return err
	}
	seenDefault := false
	for i, t := range cb.GetThresholds() {
		field := fmt.Sprintf("thresholds[%d]", i)
		if err := onlyFields(t, "priority", "max_connections", "max_pending_requests", "max_requests", "track_remaining"); err != nil {
			return wrapAt(field, err)
		}
		// Every route is DEFAULT priority, so HIGH thresholds never
		// apply, exactly as in Envoy for such routes.
		if t.GetPriority() != corev3.RoutingPriority_DEFAULT {
			continue
		}
		if seenDefault {
			return errAt(field+".priority", "a second DEFAULT threshold")
		}
		seenDefault = true
		// 0 in the model means Envoy's default (1024); an explicit 0,
		// which in Envoy refuses every request, cannot be expressed.
		for name, v := range map[string]*wrapperspb.UInt32Value{
			"max_connections": t.GetMaxConnections(), "max_pending_requests": t.GetMaxPendingRequests(), "max_requests": t.GetMaxRequests(),
		} {
			if v != nil && v.GetValue() == 0 {
				return errAt(field+"."+name, "0 is not supported")
			}
		}
		out.MaxConnections = t.GetMaxConnections().GetValue()
		out.MaxPendingRequests = t.GetMaxPendingRequests().GetValue()
		out.MaxRequests = t.GetMaxRequests().GetValue()
	}
	return nil
}

func decodeHTTPProtocolOptions(opts *anypb.Any, out *Cluster) error {
	var po httpv3.HttpProtocolOptions
	if err := opts.UnmarshalTo(&po); err != nil {
		return errAt("typed_config", "%v", err)
	}
	if err := po.ValidateAll(); err != nil {
		return err
	}
	if err := onlyFields(&po, "explicit_http_config", "common_http_protocol_options"); err != nil {
		return err
	}
	switch p := po.GetUpstreamProtocolOptions().(type) {
	case *httpv3.HttpProtocolOptions_ExplicitHttpConfig_:
		switch pc := p.ExplicitHttpConfig.GetProtocolConfig().(type) {
		case *httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions:
			if err := onlyFields(pc.HttpProtocolOptions); err != nil {
				return wrapAt("explicit_http_config.http_protocol_options", err)
			}
			out.Protocol = HTTP1
		case *httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions:
			if err := onlyFields(pc.Http2ProtocolOptions); err != nil {
				return wrapAt("explicit_http_config.http2_protocol_options", err)
			}
			out.Protocol = HTTP2
		default:
			return errAt("explicit_http_config", "unsupported %q", oneofName(p.ExplicitHttpConfig, "protocol_config"))
		}
	case nil:
	}
	if co := po.GetCommonHttpProtocolOptions(); co != nil {
		if err := onlyFields(co, "idle_timeout", "max_requests_per_connection"); err != nil {
			return wrapAt("common_http_protocol_options", err)
		}
		out.MaxRequestsPerConnection = co.GetMaxRequestsPerConnection().GetValue()
	}
	// 0 disables the idle timeout, as in Envoy.
	if it := po.GetCommonHttpProtocolOptions().GetIdleTimeout(); it != nil {
		out.IdleTimeout = duration(it)
	}
	return nil
}

func decodeHealthCheck(hc *corev3.HealthCheck) (*HealthCheck, error) {
	if err := onlyFields(hc, "timeout", "interval", "unhealthy_threshold", "healthy_threshold", "http_health_check"); err != nil {
		return nil, err
	}
	h := hc.GetHttpHealthCheck()
	if h == nil {
		return nil, errAt("health_checker", "only http_health_check is supported, got %q", oneofName(hc, "health_checker"))
	}
	if err := onlyFields(h, "path", "host", "expected_statuses"); err != nil {
		return nil, wrapAt("http_health_check", err)
	}
	out := &HealthCheck{
		Path:               h.GetPath(),
		Host:               h.GetHost(),
		Interval:           duration(hc.GetInterval()),
		Timeout:            duration(hc.GetTimeout()),
		UnhealthyThreshold: hc.GetUnhealthyThreshold().GetValue(),
		HealthyThreshold:   hc.GetHealthyThreshold().GetValue(),
	}
	if out.Interval <= 0 || out.Timeout <= 0 {
		return nil, errAt("interval", "interval and timeout must be positive")
	}
	for i, r := range h.GetExpectedStatuses() {
		// Envoy: 100 <= start < end <= 600.
		if r.GetStart() < 100 || r.GetEnd() > 600 || r.GetStart() >= r.GetEnd() {
			return nil, errAt(fmt.Sprintf("http_health_check.expected_statuses[%d]", i), "[%d, %d) is not a range of HTTP statuses", r.GetStart(), r.GetEnd())
		}
		out.ExpectedStatuses = append(out.ExpectedStatuses, [2]int{int(r.GetStart()), int(r.GetEnd())})
	}
	return out, nil
}

// decodeOutlier fills Envoy's defaults for unset fields. Envoy's
// enforcing_consecutive_5xx defaults to 100 but
// enforcing_consecutive_gateway_failure to 0: consecutive gateway failures
// eject nothing unless enforcing is set. The proxy enforces all or
// nothing, so only 0 and 100 are accepted.
func decodeOutlier(od *clusterv3.OutlierDetection) (*OutlierDetection, error) {
	if err := onlyFields(od, "consecutive_5xx", "consecutive_gateway_failure", "interval", "base_ejection_time",
		"max_ejection_percent", "enforcing_consecutive_5xx", "enforcing_consecutive_gateway_failure"); err != nil {
		return nil, err
	}
	enforcing := func(field string, v *wrapperspb.UInt32Value, def uint32) (bool, error) {
		p := def
		if v != nil {
			p = v.GetValue()
		}
		if p != 0 && p != 100 {
			return false, errAt(field, "only 0 or 100 is supported, got %d", p)
		}
		return p == 100, nil
	}
	out := &OutlierDetection{
		Consecutive5xx:            5,
		ConsecutiveGatewayFailure: 5,
		Interval:                  10 * time.Second,
		BaseEjectionTime:          30 * time.Second,
		MaxEjectionPercent:        10,
	}
	if v := od.GetConsecutive_5Xx(); v != nil {
		out.Consecutive5xx = v.GetValue()
	}
	if v := od.GetConsecutiveGatewayFailure(); v != nil {
		out.ConsecutiveGatewayFailure = v.GetValue()
	}
	if v := od.GetInterval(); v != nil {
		out.Interval = duration(v)
	}
	if v := od.GetBaseEjectionTime(); v != nil {
		out.BaseEjectionTime = duration(v)
	}
	if v := od.GetMaxEjectionPercent(); v != nil {
		out.MaxEjectionPercent = v.GetValue()
	}
	on5xx, err := enforcing("enforcing_consecutive_5xx", od.GetEnforcingConsecutive_5Xx(), 100)
	if err != nil {
		return nil, err
	}
	onGW, err := enforcing("enforcing_consecutive_gateway_failure", od.GetEnforcingConsecutiveGatewayFailure(), 0)
	if err != nil {
		return nil, err
	}
	if !on5xx {
		out.Consecutive5xx = 0
	}
	if !onGW {
		out.ConsecutiveGatewayFailure = 0
	}
	if out.Interval <= 0 {
		return nil, errAt("interval", "must be positive")
	}
	return out, nil
}

func decodeUpstreamTLS(ts *corev3.TransportSocket) (*UpstreamTLS, error) {
	var u tlsv3.UpstreamTlsContext
	if err := transportSocket(ts, &u); err != nil {
		return nil, err
	}
	if err := onlyFields(&u, "sni", "common_tls_context"); err != nil {
		return nil, wrapAt("typed_config", err)
	}
	ctc := u.GetCommonTlsContext()
	if err := onlyFields(ctc, "alpn_protocols", "tls_certificate_sds_secret_configs",
		"validation_context_sds_secret_config", "combined_validation_context"); err != nil {
		return nil, wrapAt("typed_config.common_tls_context", err)
	}
	t := &UpstreamTLS{SNI: u.GetSni(), ALPN: ctc.GetAlpnProtocols()}
	switch s := ctc.GetTlsCertificateSdsSecretConfigs(); len(s) {
	case 0:
	case 1:
		name, err := sdsName("tls_certificate_sds_secret_configs[0]", s[0])
		if err != nil {
			return nil, wrapAt("typed_config.common_tls_context", err)
		}
		t.CertificateSecret = name
	default:
		return nil, errAt("typed_config.common_tls_context.tls_certificate_sds_secret_configs", "at most one client certificate is supported")
	}
	var err error
	if t.ValidationSecret, t.SubjectAltNames, err = decodeValidation(ctc); err != nil {
		return nil, wrapAt("typed_config.common_tls_context", err)
	}
	return t, nil
}
