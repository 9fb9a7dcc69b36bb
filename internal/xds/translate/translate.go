// Package translate turns one gateway's IR into Envoy v3 resources with
// go-control-plane's types, following docs/xds-contract.md. It is pure (no
// I/O) and deterministic: every group is sorted by name, every slice is
// emitted in IR order (which internal/translate sorts), maps are marshalled
// deterministically, and each type's version is a hash of its content. A
// route-only change therefore leaves the listener and cluster bytes, and
// their versions, untouched (DESIGN §6, Envoy Gateway #8889).
//
// One file per resource kind (listener.go, route.go, cluster.go,
// endpoint.go, secret.go) and per HTTP filter (fault.go, cors.go).
package translate

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/ksgw/ksgw/internal/ir"
)

// Resources are one gateway's xDS resources, grouped by type, each group
// sorted by name, with a content version per type. Immutable once
// Translate returns it; safe to share between goroutines.
type Resources struct {
	Listeners []types.Resource // *listenerv3.Listener
	Routes    []types.Resource // *routev3.RouteConfiguration
	Clusters  []types.Resource // *clusterv3.Cluster
	Endpoints []types.Resource // *endpointv3.ClusterLoadAssignment
	Secrets   []types.Resource // *tlsv3.Secret

	versions map[resource.Type]string
}

// ByType returns the resources keyed by go-control-plane's type URLs
// (resource.ListenerType, ...), the shape its snapshot cache takes. Every
// one of the five types is present, empty if need be.
func (r *Resources) ByType() map[resource.Type][]types.Resource {
	return map[resource.Type][]types.Resource{
		resource.ListenerType: r.Listeners,
		resource.RouteType:    r.Routes,
		resource.ClusterType:  r.Clusters,
		resource.EndpointType: r.Endpoints,
		resource.SecretType:   r.Secrets,
	}
}

// Version returns the content hash of one type's resources (16 hex digits
// of a SHA-256 over their deterministic wire encoding): equal content,
// equal version, so an unchanged type is never pushed again. "" for a type
// URL this package does not emit.
func (r *Resources) Version(typeURL resource.Type) string { return r.versions[typeURL] }

// validator is what protoc-gen-validate generates on every Envoy message.
type validator interface{ Validate() error }

// Translate converts gw. An error is a system error (an IR this package
// cannot express, or a resource failing its protoc-gen-validate rules) and
// names the resource: the caller keeps the gateway's last good snapshot.
func Translate(gw *ir.Gateway) (*Resources, error) {
	if gw == nil {
		return nil, errors.New("nil gateway")
	}
	refs, err := newRefs(gw)
	if err != nil {
		return nil, err
	}
	out := &Resources{
		Secrets:   make([]types.Resource, 0, len(gw.Secrets)),
		Clusters:  make([]types.Resource, 0, len(gw.Clusters)),
		Endpoints: make([]types.Resource, 0, len(gw.Clusters)),
		Listeners: make([]types.Resource, 0, len(gw.Listeners)),
		Routes:    make([]types.Resource, 0, len(gw.Listeners)),
	}
	for _, s := range gw.Secrets {
		sec, err := secret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", s.Name, err)
		}
		out.Secrets = append(out.Secrets, sec)
	}
	for _, c := range gw.Clusters {
		cl, err := cluster(c, refs)
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", c.Name, err)
		}
		out.Clusters = append(out.Clusters, cl)
		out.Endpoints = append(out.Endpoints, endpoints(c))
	}
	for _, l := range gw.Listeners {
		lis, err := listener(l, refs)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", l.Name, err)
		}
		out.Listeners = append(out.Listeners, lis)
		rc, err := routeConfig(l, refs)
		if err != nil {
			return nil, fmt.Errorf("route configuration %q: %w", l.Name, err)
		}
		out.Routes = append(out.Routes, rc)
	}
	out.versions = make(map[resource.Type]string, 5)
	byType := out.ByType()
	// A fixed order, so that the same bad IR always yields the same error.
	for _, typeURL := range []resource.Type{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType, resource.SecretType} {
		v, err := finish(typeURL, byType[typeURL])
		if err != nil {
			return nil, err
		}
		out.versions[typeURL] = v
	}
	return out, nil
}

// finish sorts one type's resources by name, validates each and returns
// the hash of their wire encodings.
func finish(typeURL resource.Type, list []types.Resource) (string, error) {
	slices.SortStableFunc(list, func(a, b types.Resource) int { return cmp.Compare(nameOf(a), nameOf(b)) })
	h := sha256.New()
	var buf []byte
	var n [binary.MaxVarintLen64]byte
	for i, res := range list {
		name := nameOf(res)
		if i > 0 && nameOf(list[i-1]) == name {
			return "", fmt.Errorf("%s %q: duplicate name", kindOf(typeURL), name)
		}
		if v, ok := res.(validator); ok {
			if err := v.Validate(); err != nil {
				return "", fmt.Errorf("%s %q: %w", kindOf(typeURL), name, err)
			}
		}
		var err error
		buf, err = proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf[:0], res)
		if err != nil {
			return "", fmt.Errorf("%s %q: %w", kindOf(typeURL), name, err)
		}
		// Length-prefixed, so that two lists never hash alike by
		// splitting the same bytes differently.
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(buf)))])
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// refs indexes what IR objects refer to by name, so that a dangling
// reference (an IR translator bug) is caught here, naming both ends,
// instead of as a 503 "cluster not found" on the proxy.
type refs struct {
	clusters map[string]*ir.Cluster
	secrets  map[string]*ir.Secret
}

func newRefs(gw *ir.Gateway) (*refs, error) {
	r := &refs{clusters: make(map[string]*ir.Cluster, len(gw.Clusters)), secrets: make(map[string]*ir.Secret, len(gw.Secrets))}
	for _, c := range gw.Clusters {
		if _, dup := r.clusters[c.Name]; dup {
			return nil, fmt.Errorf("cluster %q: duplicate name", c.Name)
		}
		r.clusters[c.Name] = c
	}
	for _, s := range gw.Secrets {
		if _, dup := r.secrets[s.Name]; dup {
			return nil, fmt.Errorf("secret %q: duplicate name", s.Name)
		}
		r.secrets[s.Name] = s
	}
	return r, nil
}

func (r *refs) cluster(name string) (*ir.Cluster, error) {
	c, ok := r.clusters[name]
	if !ok {
		return nil, fmt.Errorf("cluster %q: not among the gateway's clusters", name)
	}
	return c, nil
}

// secret checks that name is a Secret of the gateway holding a certificate
// (wantCA false) or CA certificates (wantCA true).
func (r *refs) secret(name string, wantCA bool) error {
	s, ok := r.secrets[name]
	switch {
	case !ok:
		return fmt.Errorf("secret %q: not among the gateway's secrets", name)
	case wantCA && len(s.CACertificates) == 0:
		return fmt.Errorf("secret %q: holds no CA certificates", name)
	case !wantCA && len(s.CertificateChain) == 0:
		return fmt.Errorf("secret %q: holds no certificate", name)
	}
	return nil
}

func nameOf(r types.Resource) string {
	if n, ok := r.(interface{ GetClusterName() string }); ok {
		return n.GetClusterName()
	}
	if n, ok := r.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return ""
}

func kindOf(typeURL resource.Type) string {
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
