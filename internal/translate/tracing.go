package translate

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/status"
)

// gatewayTracing validates a Gateway's spec.tracing into the IR. A broken
// tracing block turns tracing off (requests are still served) and says why
// in the Gateway's status, as a broken TLS block turns off only https.
func (t *translator) gatewayTracing(g *gatewayState) *ir.Tracing {
	spec := g.obj.Spec.Tracing
	if spec == nil {
		return nil
	}
	bad := func(field, msg string) *ir.Tracing {
		t.fail(g.st, status.Accepted, status.ReasonInvalid, field, msg+"; tracing is off")
		return nil
	}
	out := &ir.Tracing{SamplingPercentage: v1alpha1.DefaultTracingSamplingPercentage, ServiceName: spec.ServiceName}
	if p := spec.RandomSamplingPercentage; p != nil {
		if *p < 0 || *p > 100 {
			return bad("spec.tracing.randomSamplingPercentage", fmt.Sprintf("%v is outside [0, 100]", *p))
		}
		out.SamplingPercentage = *p
	}
	if out.ServiceName == "" {
		out.ServiceName = g.key
	}
	switch spec.Protocol {
	case "", v1alpha1.TracingProtocolGRPC:
		out.Protocol = "grpc"
		if err := hostPort(spec.Endpoint); err != nil {
			return bad("spec.tracing.endpoint", fmt.Sprintf("%q: %v", spec.Endpoint, err))
		}
		out.Endpoint = spec.Endpoint
	case v1alpha1.TracingProtocolHTTP:
		out.Protocol = "http"
		if hostPort(spec.Endpoint) == nil {
			// The OTLP/HTTP default path (OTLP specification, "OTLP/HTTP").
			out.Endpoint = "http://" + spec.Endpoint + "/v1/traces"
			break
		}
		u, err := url.Parse(spec.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("spec.tracing.endpoint", fmt.Sprintf("%q: must be host:port or an http(s) URL", spec.Endpoint))
		}
		out.Endpoint = spec.Endpoint
	default:
		return bad("spec.tracing.protocol", fmt.Sprintf("%q: must be grpc or http", spec.Protocol))
	}
	if out.Protocol == "http" {
		out.Cluster = "otlp|" + g.key
	}
	return out
}

// otlpCluster is the cluster a real Envoy exports OTLP/HTTP through: EDS
// with the collector's address, emitted when the URL names an IP literal
// (as the remote JWKS clusters). For a DNS name there is no endpoint to
// give an EDS cluster, and none is emitted: such a gateway should export
// over grpc (google_grpc resolves names itself); ksgw's own proxy posts
// to the URL either way.
func otlpCluster(g *gatewayState, tr *ir.Tracing) *ir.Cluster {
	if tr == nil || tr.Protocol != "http" {
		return nil
	}
	u, err := url.Parse(tr.Endpoint)
	if err != nil {
		return nil
	}
	addr, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	return &ir.Cluster{
		Name:      tr.Cluster,
		Source:    ir.ObjectRef{Kind: KindGateway, Namespace: g.obj.Namespace, Name: g.obj.Name},
		Endpoints: []ir.Endpoint{{Address: addr.String(), Port: uint32(port), Ready: true}},
	}
}

func hostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("must be host:port")
	}
	if host == "" {
		return fmt.Errorf("host is empty")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not within 1-65535", port)
	}
	return nil
}
