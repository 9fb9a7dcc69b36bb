package dpconfig

import (
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

func otelProvider(oc *tracev3.OpenTelemetryConfig) *tracev3.Tracing_Http {
	return &tracev3.Tracing_Http{Name: OpenTelemetryTracerName, ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: mustAny(oc)}}
}

func grpcOTel(target string) *tracev3.OpenTelemetryConfig {
	return &tracev3.OpenTelemetryConfig{
		ServiceName: "tenant-a/gw",
		GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_GoogleGrpc_{GoogleGrpc: &corev3.GrpcService_GoogleGrpc{TargetUri: target, StatPrefix: "otlp"}},
			Timeout:         durationpb.New(3 * time.Second),
		},
	}
}

func httpOTel(uri string) *tracev3.OpenTelemetryConfig {
	return &tracev3.OpenTelemetryConfig{HttpService: &corev3.HttpService{HttpUri: &corev3.HttpUri{
		Uri: uri, HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: "ksgw-otlp-collector"}, Timeout: durationpb.New(time.Second),
	}}}
}

func TestDecodeTracing(t *testing.T) {
	tests := []struct {
		name    string
		tr      *hcmv3.HttpConnectionManager_Tracing
		want    *Tracing
		wantErr string
	}{
		{
			name: "grpc exporter with random sampling",
			tr:   &hcmv3.HttpConnectionManager_Tracing{RandomSampling: &typev3.Percent{Value: 2.5}, Provider: otelProvider(grpcOTel("collector:4317"))},
			want: &Tracing{SamplePercent: 2.5, OTLP: OTLPExporter{Protocol: OTLPGRPC, Endpoint: "collector:4317", ServiceName: "tenant-a/gw", Timeout: 3 * time.Second}},
		},
		{
			name: "random sampling defaults to Envoy's 100 percent",
			tr:   &hcmv3.HttpConnectionManager_Tracing{Provider: otelProvider(httpOTel("http://127.0.0.1:4318/v1/traces"))},
			want: &Tracing{SamplePercent: 100, OTLP: OTLPExporter{Protocol: OTLPHTTP, Endpoint: "http://127.0.0.1:4318/v1/traces", Timeout: time.Second}},
		},
		{
			name:    "sampling above 100 is a NACK",
			tr:      &hcmv3.HttpConnectionManager_Tracing{RandomSampling: &typev3.Percent{Value: 101}, Provider: otelProvider(grpcOTel("c:4317"))},
			wantErr: "random_sampling.value",
		},
		{
			name:    "no provider is a NACK",
			tr:      &hcmv3.HttpConnectionManager_Tracing{RandomSampling: &typev3.Percent{Value: 1}},
			wantErr: "provider: required",
		},
		{
			name: "another tracer is a NACK",
			tr: &hcmv3.HttpConnectionManager_Tracing{Provider: &tracev3.Tracing_Http{Name: "envoy.tracers.zipkin",
				ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: mustAny(&tracev3.ZipkinConfig{})}}},
			wantErr: "provider.name",
		},
		{
			name:    "overall_sampling is not implemented",
			tr:      &hcmv3.HttpConnectionManager_Tracing{OverallSampling: &typev3.Percent{Value: 1}, Provider: otelProvider(grpcOTel("c:4317"))},
			wantErr: "overall_sampling",
		},
		{
			name: "envoy_grpc needs a cluster the proxy does not have",
			tr: &hcmv3.HttpConnectionManager_Tracing{Provider: otelProvider(&tracev3.OpenTelemetryConfig{GrpcService: &corev3.GrpcService{
				TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "otel"}}}})},
			wantErr: "envoy_grpc",
		},
		{
			name:    "a gRPC target without a port is a NACK",
			tr:      &hcmv3.HttpConnectionManager_Tracing{Provider: otelProvider(grpcOTel("collector"))},
			wantErr: "target_uri",
		},
		{
			name:    "an HTTP URI must be a URL",
			tr:      &hcmv3.HttpConnectionManager_Tracing{Provider: otelProvider(httpOTel("127.0.0.1:4318"))},
			wantErr: "http_uri.uri",
		},
		{
			name:    "resource detectors are not implemented",
			tr:      &hcmv3.HttpConnectionManager_Tracing{Provider: otelProvider(&tracev3.OpenTelemetryConfig{GrpcService: grpcOTel("c:1").GrpcService, ResourceDetectors: []*corev3.TypedExtensionConfig{{Name: "x"}}})},
			wantErr: "resource_detectors",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := contractHCM()
			h.Tracing = tc.tr
			l, err := DecodeListener(mustAny(contractListener(nil, h)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "tracing") {
					t.Fatalf("err = %v, want one naming tracing and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := l.FilterChains[0].HCM.Tracing
			if got == nil || *got != *tc.want {
				t.Errorf("tracing = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeListenerWithoutTracingHasNone(t *testing.T) {
	l, err := DecodeListener(mustAny(contractListener(nil, contractHCM())))
	if err != nil {
		t.Fatal(err)
	}
	if l.FilterChains[0].HCM.Tracing != nil {
		t.Errorf("tracing = %+v, want nil", l.FilterChains[0].HCM.Tracing)
	}
}
