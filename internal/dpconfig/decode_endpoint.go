package dpconfig

import (
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// DecodeEndpoints decodes a ClusterLoadAssignment.
func DecodeEndpoints(a *anypb.Any) (*ClusterLoadAssignment, error) {
	_, cla, err := decodeEndpointsAny(a)
	return cla, err
}

func decodeEndpointsAny(a *anypb.Any) (string, *ClusterLoadAssignment, error) {
	var cla endpointv3.ClusterLoadAssignment
	name, err := unmarshalAny(a, &cla, "endpoints", cla.GetClusterName)
	if err != nil {
		return name, nil, err
	}
	out, err := decodeEndpoints(&cla)
	if err != nil {
		return name, nil, fmt.Errorf("endpoints %q: %w", name, err)
	}
	return name, out, nil
}

func decodeEndpoints(cla *endpointv3.ClusterLoadAssignment) (*ClusterLoadAssignment, error) {
	if err := onlyFields(cla, "cluster_name", "endpoints"); err != nil {
		return nil, err
	}
	out := &ClusterLoadAssignment{ClusterName: cla.GetClusterName()}
	for i, loc := range cla.GetEndpoints() {
		lfield := fmt.Sprintf("endpoints[%d]", i)
		// Priorities and locality weights drive Envoy's failover and
		// locality-weighted balancing, which the proxy does not do.
		if err := onlyFields(loc, "locality", "lb_endpoints"); err != nil {
			return nil, wrapAt(lfield, err)
		}
		for j, le := range loc.GetLbEndpoints() {
			field := fmt.Sprintf("%s.lb_endpoints[%d]", lfield, j)
			if err := onlyFields(le, "endpoint", "health_status", "load_balancing_weight", "metadata"); err != nil {
				return nil, wrapAt(field, err)
			}
			ep := le.GetEndpoint()
			if ep == nil {
				return nil, errAt(field+".endpoint", "required")
			}
			if err := onlyFields(ep, "address", "hostname"); err != nil {
				return nil, wrapAt(field+".endpoint", err)
			}
			sa := ep.GetAddress().GetSocketAddress()
			if sa == nil {
				return nil, errAt(field+".endpoint.address", "only socket addresses are supported")
			}
			if err := onlyFields(sa, "address", "port_value", "protocol"); err != nil {
				return nil, wrapAt(field+".endpoint.address.socket_address", err)
			}
			if sa.GetProtocol() != corev3.SocketAddress_TCP {
				return nil, errAt(field+".endpoint.address.socket_address.protocol", "only TCP is supported")
			}
			ip, err := netip.ParseAddr(sa.GetAddress())
			if err != nil {
				return nil, errAt(field+".endpoint.address.socket_address.address", "%v", err)
			}
			port := sa.GetPortValue()
			if port == 0 || port > 65535 {
				return nil, errAt(field+".endpoint.address.socket_address.port_value", "%d is not a port", port)
			}
			hs := le.GetHealthStatus()
			out.Endpoints = append(out.Endpoints, Endpoint{
				Address: netip.AddrPortFrom(ip, uint16(port)),
				// Envoy routes to HEALTHY and UNKNOWN endpoints (and to
				// DEGRADED ones only as a last resort); the rest are out.
				Healthy: hs == corev3.HealthStatus_HEALTHY || hs == corev3.HealthStatus_UNKNOWN,
				Zone:    loc.GetLocality().GetZone(),
				Weight:  le.GetLoadBalancingWeight().GetValue(),
			})
		}
	}
	return out, nil
}
