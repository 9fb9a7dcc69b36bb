package translate

import (
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

func TestCluster(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *ir.Cluster)
		get    func(t *testing.T, c *clusterv3.Cluster) proto.Message
		want   proto.Message
	}{
		{"EDS over ADS with a 5s default connect timeout", func(*ir.Cluster) {},
			func(_ *testing.T, c *clusterv3.Cluster) proto.Message {
				return &clusterv3.Cluster{ClusterDiscoveryType: c.ClusterDiscoveryType, EdsClusterConfig: c.EdsClusterConfig, ConnectTimeout: c.ConnectTimeout, LbPolicy: c.LbPolicy}
			},
			&clusterv3.Cluster{ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}, EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
				ConnectTimeout: durationpb.New(5 * time.Second), LbPolicy: clusterv3.Cluster_ROUND_ROBIN}},
		{"ring hash with its minimum size", func(c *ir.Cluster) { c.LoadBalancer = ir.LoadBalancer{Policy: ir.RingHash, RingMinSize: 1024} },
			func(_ *testing.T, c *clusterv3.Cluster) proto.Message {
				return &clusterv3.Cluster{LbPolicy: c.LbPolicy, LbConfig: c.LbConfig}
			},
			&clusterv3.Cluster{LbPolicy: clusterv3.Cluster_RING_HASH, LbConfig: &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(1024)}}}},
		{"maglev with a prime table", func(c *ir.Cluster) { c.LoadBalancer = ir.LoadBalancer{Policy: ir.Maglev, MaglevTable: 5} },
			func(_ *testing.T, c *clusterv3.Cluster) proto.Message {
				return &clusterv3.Cluster{LbPolicy: c.LbPolicy, LbConfig: c.LbConfig}
			},
			&clusterv3.Cluster{LbPolicy: clusterv3.Cluster_MAGLEV, LbConfig: &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(5)}}}},
		{"circuit breakers set only what is given", func(c *ir.Cluster) { c.Limits = ir.ConnectionLimits{MaxPendingRequests: 7} },
			func(_ *testing.T, c *clusterv3.Cluster) proto.Message { return c.GetCircuitBreakers() },
			&clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{Priority: corev3.RoutingPriority_DEFAULT, MaxPendingRequests: wrapperspb.UInt32(7)}}}},
		{"h2 upstream with per-connection limits", func(c *ir.Cluster) {
			c.Protocol = ir.HTTP2
			c.Limits = ir.ConnectionLimits{IdleTimeout: time.Minute, MaxRequestsPerConnection: 100}
		}, func(t *testing.T, c *clusterv3.Cluster) proto.Message {
			return unpack(t, c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"], &httpv3.HttpProtocolOptions{})
		}, &httpv3.HttpProtocolOptions{
			CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Minute), MaxRequestsPerConnection: wrapperspb.UInt32(100)},
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}}}},
		}},
		{"http/1.1 is explicit too", func(*ir.Cluster) {}, func(t *testing.T, c *clusterv3.Cluster) proto.Message {
			return unpack(t, c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"], &httpv3.HttpProtocolOptions{})
		}, &httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}}}}}},
		{"http health check names the Service as Host", func(c *ir.Cluster) {
			c.HealthCheck = &ir.HealthCheck{Path: "/hz", Interval: 5 * time.Second, Timeout: time.Second, ExpectedStatuses: []ir.StatusRange{{Start: 200, End: 400}}}
		}, func(_ *testing.T, c *clusterv3.Cluster) proto.Message { return c.GetHealthChecks()[0] },
			&corev3.HealthCheck{Timeout: durationpb.New(time.Second), Interval: durationpb.New(5 * time.Second),
				UnhealthyThreshold: wrapperspb.UInt32(1), HealthyThreshold: wrapperspb.UInt32(1),
				HealthChecker: &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{
					Path: "/hz", Host: "svc.ns.svc.cluster.local", ExpectedStatuses: []*typev3.Int64Range{{Start: 200, End: 400}}}}}},
		{"outlier detection enforces gateway errors", func(c *ir.Cluster) {
			c.Outlier = &ir.OutlierDetection{ConsecutiveGatewayError: 3, Interval: time.Second, BaseEjectionTime: time.Minute, MaxEjectionPercent: 30}
		}, func(_ *testing.T, c *clusterv3.Cluster) proto.Message { return c.GetOutlierDetection() },
			&clusterv3.OutlierDetection{ConsecutiveGatewayFailure: wrapperspb.UInt32(3), EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(100),
				Interval: durationpb.New(time.Second), BaseEjectionTime: durationpb.New(time.Minute), MaxEjectionPercent: wrapperspb.UInt32(30)}},
		{"upstream mTLS by SDS", func(c *ir.Cluster) {
			c.TLS = &ir.UpstreamTLS{SNI: "svc.internal", CASecretName: "ns/up/ca", ClientSecretName: "ns/client"}
		}, func(t *testing.T, c *clusterv3.Cluster) proto.Message {
			return unpack(t, c.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{})
		}, &tlsv3.UpstreamTlsContext{Sni: "svc.internal", CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "ns/client", SdsConfig: ads()}},
			ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "ns/up/ca", SdsConfig: ads()}},
		}}},
		{"insecure upstream TLS has no validation context", func(c *ir.Cluster) { c.TLS = &ir.UpstreamTLS{SNI: "x", InsecureSkipVerify: true} },
			func(t *testing.T, c *clusterv3.Cluster) proto.Message {
				return unpack(t, c.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{})
			}, &tlsv3.UpstreamTlsContext{Sni: "x", CommonTlsContext: &tlsv3.CommonTlsContext{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := oneRoute(fwd("r"))
			gw.Secrets = []*ir.Secret{{Name: "ns/client", CertificateChain: []byte("c"), PrivateKey: []byte("k")}, {Name: "ns/up/ca", CACertificates: []byte("ca")}}
			tc.mutate(gw.Clusters[0])
			res := mustTranslate(t, gw)
			assertProto(t, tc.get(t, clusterOf(t, res, testCluster)), tc.want)
			assertProxyAccepts(t, res)
		})
	}
}

func TestClusterMetadataCarriesTheNoEndpointsReason(t *testing.T) {
	gw := oneRoute(fwd("r"))
	gw.Clusters[0].NoEndpointsReason = `subset "v2" selects no ready endpoint`
	res := mustTranslate(t, gw)
	f := clusterOf(t, res, testCluster).GetMetadata().GetFilterMetadata()["ksgw"].GetFields()
	if f["source"].GetStringValue() != "Service ns/svc" || !strings.Contains(f["no_endpoints_reason"].GetStringValue(), "v2") {
		t.Errorf("metadata %v", f)
	}
	if cla := res.Endpoints[0].(*endpointv3.ClusterLoadAssignment); cla.GetClusterName() != testCluster || len(cla.GetEndpoints()) != 0 {
		t.Errorf("a cluster without endpoints must get an empty assignment, got %v", cla)
	}
}

func TestEndpointsGroupedByZone(t *testing.T) {
	gw := oneRoute(fwd("r"))
	gw.Clusters[0].Endpoints = []ir.Endpoint{
		{Address: "127.0.0.1", Port: 80, Ready: true, Zone: "b"},
		{Address: "127.0.0.2", Port: 80, Ready: false},
		{Address: "127.0.0.3", Port: 80, Ready: true, Zone: "a"},
		{Address: "127.0.0.4", Port: 80, Ready: true},
	}
	ep := func(ip string, hs corev3.HealthStatus) *endpointv3.LbEndpoint {
		return &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(ip, 80)}}, HealthStatus: hs}
	}
	assertProto(t, mustTranslate(t, gw).Endpoints[0], &endpointv3.ClusterLoadAssignment{ClusterName: testCluster, Endpoints: []*endpointv3.LocalityLbEndpoints{
		{LbEndpoints: []*endpointv3.LbEndpoint{ep("127.0.0.2", corev3.HealthStatus_UNHEALTHY), ep("127.0.0.4", corev3.HealthStatus_HEALTHY)}},
		{Locality: &corev3.Locality{Zone: "a"}, LbEndpoints: []*endpointv3.LbEndpoint{ep("127.0.0.3", corev3.HealthStatus_HEALTHY)}},
		{Locality: &corev3.Locality{Zone: "b"}, LbEndpoints: []*endpointv3.LbEndpoint{ep("127.0.0.1", corev3.HealthStatus_HEALTHY)}},
	}})
}
