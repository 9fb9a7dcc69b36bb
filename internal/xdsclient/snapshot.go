package xdsclient

import (
	"fmt"
	"maps"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

// Type URLs of the five resource types the proxy consumes, in the order it
// subscribes to them: dependencies first (CDS, EDS, SDS), then the
// listeners and routes that reference them (docs/xds-contract.md).
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	SecretType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

var subscribeOrder = []string{ClusterType, EndpointType, SecretType, ListenerType, RouteType}

func emptySnapshot() *dpconfig.Snapshot {
	return &dpconfig.Snapshot{
		Listeners: map[string]*dpconfig.Listener{},
		Routes:    map[string]*dpconfig.RouteConfig{},
		Clusters:  map[string]*dpconfig.Cluster{},
		Endpoints: map[string]*dpconfig.ClusterLoadAssignment{},
		Secrets:   map[string]*dpconfig.Secret{},
		Versions:  map[string]string{},
	}
}

// withType returns a copy of prev whose typeURL map is replaced by values.
// The other maps are shared: snapshots are never mutated.
func withType(prev *dpconfig.Snapshot, typeURL, version string, values map[string]any) (*dpconfig.Snapshot, error) {
	next := *prev
	next.Versions = maps.Clone(prev.Versions)
	next.Versions[typeURL] = version
	var err error
	switch typeURL {
	case ClusterType:
		next.Clusters, err = typed[*dpconfig.Cluster](typeURL, values)
	case EndpointType:
		next.Endpoints, err = typed[*dpconfig.ClusterLoadAssignment](typeURL, values)
	case SecretType:
		next.Secrets, err = typed[*dpconfig.Secret](typeURL, values)
	case ListenerType:
		next.Listeners, err = typed[*dpconfig.Listener](typeURL, values)
	case RouteType:
		next.Routes, err = typed[*dpconfig.RouteConfig](typeURL, values)
	default:
		err = fmt.Errorf("type %s has no place in a data-plane snapshot", typeURL)
	}
	if err != nil {
		return nil, err
	}
	return &next, nil
}

func typed[T any](typeURL string, values map[string]any) (map[string]T, error) {
	out := make(map[string]T, len(values))
	for name, v := range values {
		t, ok := v.(T)
		if !ok {
			// A decoder registered for the wrong type URL: a programming
			// error, but NACKing keeps the last good config serving.
			return nil, fmt.Errorf("%s %q: decoder returned %T, want %T", typeURL, name, v, t)
		}
		out[name] = t
	}
	return out, nil
}
