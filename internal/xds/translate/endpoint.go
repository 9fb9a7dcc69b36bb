package translate

import (
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/ksgw/ksgw/internal/ir"
)

// endpoints is the cluster's ClusterLoadAssignment: one locality per zone
// (sorted, "" first, without a Locality), IR order within a zone. Not
// ready endpoints stay, UNHEALTHY, so the proxy knows them but sends them
// nothing. A cluster without endpoints still gets an (empty) assignment:
// the proxy answers 503 at once instead of waiting for EDS.
func endpoints(c *ir.Cluster) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: c.Name}
	if len(c.Endpoints) == 0 {
		return cla
	}
	var zones []string
	for _, e := range c.Endpoints {
		if !slices.Contains(zones, e.Zone) {
			zones = append(zones, e.Zone)
		}
	}
	slices.Sort(zones)
	cla.Endpoints = make([]*endpointv3.LocalityLbEndpoints, len(zones))
	for i, z := range zones {
		loc := &endpointv3.LocalityLbEndpoints{}
		if z != "" {
			loc.Locality = &corev3.Locality{Zone: z}
		}
		cla.Endpoints[i] = loc
	}
	for _, e := range c.Endpoints {
		loc := cla.Endpoints[slices.Index(zones, e.Zone)]
		hs := corev3.HealthStatus_HEALTHY
		if !e.Ready {
			hs = corev3.HealthStatus_UNHEALTHY
		}
		loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(e.Address, e.Port)}},
			HealthStatus:   hs,
		})
	}
	return cla
}
