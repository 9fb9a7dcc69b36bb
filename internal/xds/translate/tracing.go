package translate

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/ksgw/ksgw/internal/ir"
)

const (
	openTelemetryTracer = "envoy.tracers.opentelemetry"
	// otlpHTTPCluster names http_uri.cluster (required) when the IR has
	// none; the IR's cluster is the one the Gateway's CDS carries.
	otlpHTTPCluster = "ksgw-otlp-collector"
	otlpTimeout     = 10 * time.Second
)

// tracing is the HCM tracing block: random_sampling and the OpenTelemetry
// provider exporting over gRPC (google_grpc, no cluster needed) or HTTP.
// Only listeners of a gateway with spec.tracing carry it, so gateways
// without tracing keep byte-identical listeners.
func tracing(t *ir.Tracing) *hcmv3.HttpConnectionManager_Tracing {
	oc := &tracev3.OpenTelemetryConfig{ServiceName: t.ServiceName}
	switch t.Protocol {
	case "http":
		cluster := t.Cluster
		if cluster == "" {
			cluster = otlpHTTPCluster
		}
		oc.HttpService = &corev3.HttpService{HttpUri: &corev3.HttpUri{
			Uri:              t.Endpoint,
			HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: cluster},
			Timeout:          dur(otlpTimeout),
		}}
	default:
		oc.GrpcService = &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_GoogleGrpc_{GoogleGrpc: &corev3.GrpcService_GoogleGrpc{
				TargetUri: t.Endpoint, StatPrefix: "otlp",
			}},
			Timeout: dur(otlpTimeout),
		}
	}
	return &hcmv3.HttpConnectionManager_Tracing{
		RandomSampling: &typev3.Percent{Value: t.SamplingPercentage},
		Provider: &tracev3.Tracing_Http{
			Name:       openTelemetryTracer,
			ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: mustAny(oc)},
		},
	}
}
