package server

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// Make before break (DESIGN §6, Envoy Gateway #6287, Contour #2151).
//
// Resources are split in two sides:
//   - dependencies: clusters, endpoints, secrets (CDS, EDS, SDS) — referenced by name;
//   - dependents: listeners and routes (LDS, RDS) — they reference dependencies.
//
// A node moves from its published state P to the target T in at most three
// snapshots, each of which changes only one side, so the order in which the
// types of one snapshot reach a proxy never matters (go-control-plane's
// ordered ADS sends SDS after LDS/RDS, and a type whose previous response is
// not yet ACKed is answered later than the others):
//
//  1. make:   if T's dependents differ from P's and T adds dependency names
//     that P lacks, publish dependencies = T ∪ stale(P) with P's dependents.
//  2. switch: if T's dependents differ from P's, publish T's dependents with
//     dependencies = T ∪ stale(P).
//  3. break:  publish exactly T, dropping the stale dependencies (those in P
//     and not in T) that the old dependents might still reference.
//
// Every snapshot but a node's first is gated: it is published only once
// every stream of the node has answered (ACK or NACK) the versions of the
// previous snapshot, or RemovalGrace after that one was published,
// whichever comes first. With no proxy connected the steps run back to
// back. A newer Update replaces T (updates arriving during a sequence
// coalesce, the latest wins); planning restarts from whatever P is, which
// is always internally consistent.

// typeSet is the resources of one type URL, keyed by resource name.
// Immutable once built.
type typeSet struct {
	version string
	items   map[string]types.Resource
}

// state is a node's resources by type URL. Immutable once built.
type state map[string]typeSet

type stepKind int

const (
	stepDone   stepKind = iota // P == T
	stepMake                   // add dependencies, keep dependents
	stepSwitch                 // new dependents, old and new dependencies
	stepBreak                  // exactly T
)

func (k stepKind) String() string {
	return [...]string{"done", "make", "switch", "break"}[k]
}

func isDependency(typeURL string) bool {
	switch typeURL {
	case resource.ClusterType, resource.EndpointType, resource.SecretType:
		return true
	}
	return false
}

func isDependent(typeURL string) bool {
	return typeURL == resource.ListenerType || typeURL == resource.RouteType
}

func (s state) equal(o state) bool {
	if len(s) != len(o) {
		return false
	}
	for t, ts := range s {
		os, ok := o[t]
		if !ok || os.version != ts.version {
			return false
		}
	}
	return true
}

// nextStep returns the next snapshot to publish on the way from published
// to target, and which step it is.
func nextStep(published, target state) (state, stepKind) {
	if published.equal(target) {
		return target, stepDone
	}
	// Nothing published for the node yet by this server: the proxy may
	// still run a configuration from before (the control plane restarted,
	// or the proxy reconnected to another replica). An interim step
	// without listeners and routes would make it close its listeners, so
	// the first publish is the whole target; a consistent snapshot needs
	// no ordering (the client applies it in the contract's order).
	if len(published) == 0 {
		return target, stepBreak
	}
	dependentsDiffer, adds := false, false
	for t := range unionKeys(published, target) {
		p, tg := published[t], target[t]
		switch {
		case isDependent(t):
			if p.version != tg.version {
				dependentsDiffer = true
			}
		case isDependency(t):
			for name := range tg.items {
				if _, ok := p.items[name]; !ok {
					adds = true
				}
			}
		}
	}
	if !dependentsDiffer {
		return target, stepBreak
	}
	next := make(state, len(target))
	for t := range unionKeys(published, target) {
		switch {
		case isDependency(t):
			next[t] = mergeStale(published[t], target[t])
		case isDependent(t) && adds:
			if p, ok := published[t]; ok {
				next[t] = p
			}
		default:
			if tg, ok := target[t]; ok {
				next[t] = tg
			}
		}
	}
	if adds {
		return next, stepMake
	}
	return next, stepSwitch
}

// mergeStale returns target plus the items of published it no longer has.
// Its version is derived from target's version and the content of the stale
// items only, so the same union computed in two consecutive steps has the
// same version and is not pushed twice.
func mergeStale(published, target typeSet) typeSet {
	var stale []string
	for name := range published.items {
		if _, ok := target.items[name]; !ok {
			stale = append(stale, name)
		}
	}
	if len(stale) == 0 {
		return target
	}
	slices.Sort(stale)
	items := maps.Clone(target.items)
	if items == nil {
		items = make(map[string]types.Resource, len(stale))
	}
	h := sha256.New()
	for _, name := range stale {
		items[name] = published.items[name]
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(resourceHash(published.items[name]))
	}
	return typeSet{
		version: target.version + "+keep." + hex.EncodeToString(h.Sum(nil))[:16],
		items:   items,
	}
}

func resourceHash(r types.Resource) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		// Unmarshalable resources cannot be served either; hash the error so
		// the version is still deterministic.
		b = []byte(err.Error())
	}
	s := sha256.Sum256(b)
	return s[:]
}

// contentVersion derives a version from the resources themselves, for
// inputs that came without one.
func contentVersion(items map[string]types.Resource) string {
	names := slices.Sorted(maps.Keys(items))
	h := sha256.New()
	for _, name := range names {
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(resourceHash(items[name]))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func unionKeys(a, b state) map[string]struct{} {
	out := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		out[k] = struct{}{}
	}
	for k := range b {
		out[k] = struct{}{}
	}
	return out
}
