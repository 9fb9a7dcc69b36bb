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
	var cla endpointv3.ClusterLoadAssignment
	if err := a.UnmarshalTo(&cla); err != nil {
		return nil, fmt.Errorf("cluster load assignment: %w", err)
	}
	if err := cla.ValidateAll(); err != nil {
		return nil, fmt.Errorf("cluster load assignment %q: %w", cla.GetClusterName(), err)
	}
	out := &ClusterLoadAssignment{ClusterName: cla.GetClusterName()}
	for i, loc := range cla.GetEndpoints() {
		for j, le := range loc.GetLbEndpoints() {
			field := fmt.Sprintf("endpoints[%d].lb_endpoints[%d]", i, j)
			sa := le.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				return nil, fmt.Errorf("cluster load assignment %q: %w", cla.GetClusterName(), errAt(field, "only socket addresses are supported"))
			}
			ip, err := netip.ParseAddr(sa.GetAddress())
			if err != nil {
				return nil, fmt.Errorf("cluster load assignment %q: %w", cla.GetClusterName(), errAt(field+".address", "%v", err))
			}
			port := sa.GetPortValue()
			if port == 0 || port > 65535 {
				return nil, fmt.Errorf("cluster load assignment %q: %w", cla.GetClusterName(), errAt(field+".port_value", "out of range"))
			}
			hs := le.GetHealthStatus()
			out.Endpoints = append(out.Endpoints, Endpoint{
				Address: netip.AddrPortFrom(ip, uint16(port)),
				// Envoy routes to HEALTHY and UNKNOWN endpoints (and to
				// DEGRADED ones as a last resort); the rest are out.
				Healthy: hs == corev3.HealthStatus_HEALTHY || hs == corev3.HealthStatus_UNKNOWN,
				Zone:    loc.GetLocality().GetZone(),
				Weight:  le.GetLoadBalancingWeight().GetValue(),
			})
		}
	}
	return out, nil
}
