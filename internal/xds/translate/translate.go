// Package translate turns one gateway's IR into Envoy v3 resources with
// go-control-plane's types, following docs/xds-contract.md. It is pure: no
// I/O, deterministic output (every slice is emitted in IR order, which the
// IR translator sorts), and every resource passes its Validate().
package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/ksgw/ksgw/internal/ir"
)

// Resources are one gateway's xDS resources, grouped by type, each group
// sorted by name, with a content version per type.
type Resources struct {
	Listeners []types.Resource
	Routes    []types.Resource
	Clusters  []types.Resource
	Endpoints []types.Resource
	Secrets   []types.Resource

	versions map[string]string
}

// ByType returns the resources keyed by type URL.
func (r *Resources) ByType() map[string][]types.Resource {
	return map[string][]types.Resource{
		resource.ListenerType: r.Listeners,
		resource.RouteType:    r.Routes,
		resource.ClusterType:  r.Clusters,
		resource.EndpointType: r.Endpoints,
		resource.SecretType:   r.Secrets,
	}
}

// Version returns the content hash of one type's resources: equal content,
// equal version, so an unchanged type is never pushed again.
func (r *Resources) Version(typeURL string) string { return r.versions[typeURL] }

type validator interface{ Validate() error }

// Translate converts gw. An error is a system error naming the resource that
// failed validation: the caller keeps the gateway's last good snapshot.
func Translate(gw *ir.Gateway) (*Resources, error) {
	out := &Resources{}
	clusters := make(map[string]*ir.Cluster, len(gw.Clusters))
	for _, c := range gw.Clusters {
		clusters[c.Name] = c
	}
	for _, s := range gw.Secrets {
		out.Secrets = append(out.Secrets, secret(s))
	}
	for _, c := range gw.Clusters {
		out.Clusters = append(out.Clusters, cluster(c))
		out.Endpoints = append(out.Endpoints, endpoints(c))
	}
	for _, l := range gw.Listeners {
		lis, err := listener(l)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		out.Listeners = append(out.Listeners, lis)
		rc, err := routeConfig(l, clusters)
		if err != nil {
			return nil, fmt.Errorf("route configuration %s: %w", l.Name, err)
		}
		out.Routes = append(out.Routes, rc)
	}
	out.versions = map[string]string{}
	for typeURL, list := range out.ByType() {
		sort.SliceStable(list, func(i, j int) bool { return nameOf(list[i]) < nameOf(list[j]) })
		h := sha256.New()
		for _, res := range list {
			if v, ok := res.(validator); ok {
				if err := v.Validate(); err != nil {
					return nil, fmt.Errorf("%s %q: %w", shortType(typeURL), nameOf(res), err)
				}
			}
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", shortType(typeURL), nameOf(res), err)
			}
			h.Write(b)
		}
		out.versions[typeURL] = hex.EncodeToString(h.Sum(nil))[:16]
	}
	return out, nil
}

func nameOf(r types.Resource) string {
	if n, ok := r.(interface{ GetName() string }); ok && n.GetName() != "" {
		return n.GetName()
	}
	if n, ok := r.(interface{ GetClusterName() string }); ok {
		return n.GetClusterName()
	}
	return ""
}

func shortType(typeURL string) string {
	switch typeURL {
	case resource.ListenerType:
		return "listener"
	case resource.RouteType:
		return "route configuration"
	case resource.ClusterType:
		return "cluster"
	case resource.EndpointType:
		return "cluster load assignment"
	case resource.SecretType:
		return "secret"
	}
	return typeURL
}
