package dpconfig

import (
	"net"
	"net/url"
	"time"

	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// OpenTelemetryTracerName is the tracing provider ksgw emits and its proxy
// implements (Envoy's envoy.tracers.opentelemetry).
const OpenTelemetryTracerName = "envoy.tracers.opentelemetry"

// OTLP export protocols.
const (
	OTLPGRPC = "grpc"
	OTLPHTTP = "http"
)

// Tracing is an HCM's tracing block: Envoy's random_sampling with the
// OpenTelemetry provider.
type Tracing struct {
	// SamplePercent is random_sampling, 0–100; Envoy's default is 100. A
	// caller's own decision (traceparent, B3) takes precedence, as in
	// Envoy's OpenTelemetry tracer.
	SamplePercent float64
	OTLP          OTLPExporter
}

// OTLPExporter is where spans go. Comparable: the proxy shares one
// exporter between listeners and generations with equal values.
type OTLPExporter struct {
	Protocol string // OTLPGRPC or OTLPHTTP
	// Endpoint is grpc_service.google_grpc.target_uri (host:port) for
	// gRPC, http_service.http_uri.uri (a URL) for HTTP.
	Endpoint    string
	ServiceName string
	Timeout     time.Duration
}

// decodeTracing accepts the subset ksgw emits: random_sampling and an
// envoy.tracers.opentelemetry provider exporting over google_grpc or
// http_service. Everything else is a NACK, never silently ignored.
func decodeTracing(t *hcmv3.HttpConnectionManager_Tracing) (*Tracing, error) {
	if err := onlyFields(t, "random_sampling", "provider"); err != nil {
		return nil, err
	}
	out := &Tracing{SamplePercent: 100}
	if rs := t.GetRandomSampling(); rs != nil {
		v := rs.GetValue()
		if v < 0 || v > 100 {
			return nil, errAt("random_sampling.value", "must be within [0, 100], got %v", v)
		}
		out.SamplePercent = v
	}
	p := t.GetProvider()
	if p == nil {
		return nil, errAt("provider", "required: ksgw's proxy traces only with an explicit provider")
	}
	if p.GetName() != OpenTelemetryTracerName {
		return nil, errAt("provider.name", "unsupported tracer %q; use %s", p.GetName(), OpenTelemetryTracerName)
	}
	var oc tracev3.OpenTelemetryConfig
	if err := p.GetTypedConfig().UnmarshalTo(&oc); err != nil {
		return nil, errAt("provider.typed_config", "%v", err)
	}
	if err := onlyFields(&oc, "grpc_service", "http_service", "service_name"); err != nil {
		return nil, wrapAt("provider.typed_config", err)
	}
	out.OTLP.ServiceName = oc.GetServiceName()
	switch {
	case oc.GetGrpcService() != nil && oc.GetHttpService() != nil:
		return nil, errAt("provider.typed_config", "grpc_service and http_service are exclusive")
	case oc.GetGrpcService() != nil:
		gs := oc.GetGrpcService()
		if err := onlyFields(gs, "google_grpc", "timeout"); err != nil {
			return nil, wrapAt("provider.typed_config.grpc_service", err)
		}
		g := gs.GetGoogleGrpc()
		if g == nil {
			return nil, errAt("provider.typed_config.grpc_service", "only google_grpc is supported")
		}
		if err := onlyFields(g, "target_uri", "stat_prefix"); err != nil {
			return nil, wrapAt("provider.typed_config.grpc_service.google_grpc", err)
		}
		if _, _, err := net.SplitHostPort(g.GetTargetUri()); err != nil {
			return nil, errAt("provider.typed_config.grpc_service.google_grpc.target_uri", "must be host:port: %v", err)
		}
		out.OTLP.Protocol, out.OTLP.Endpoint, out.OTLP.Timeout = OTLPGRPC, g.GetTargetUri(), duration(gs.GetTimeout())
	case oc.GetHttpService() != nil:
		hs := oc.GetHttpService()
		if err := onlyFields(hs, "http_uri"); err != nil {
			return nil, wrapAt("provider.typed_config.http_service", err)
		}
		hu := hs.GetHttpUri()
		if err := onlyFields(hu, "uri", "cluster", "timeout"); err != nil {
			return nil, wrapAt("provider.typed_config.http_service.http_uri", err)
		}
		u, err := url.Parse(hu.GetUri())
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errAt("provider.typed_config.http_service.http_uri.uri", "must be an http(s) URL, got %q", hu.GetUri())
		}
		out.OTLP.Protocol, out.OTLP.Endpoint, out.OTLP.Timeout = OTLPHTTP, hu.GetUri(), duration(hu.GetTimeout())
	default:
		return nil, errAt("provider.typed_config", "grpc_service or http_service is required")
	}
	return out, nil
}
