package runtime

import (
	"crypto/tls"
	"fmt"
	"sort"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/router"
	"github.com/ksgw/ksgw/internal/proxy/tracing"
	"github.com/ksgw/ksgw/internal/proxy/upstream"
)

// Generation is one compiled configuration. Immutable after buildGeneration
// returns; shared by every request that loaded it.
type Generation struct {
	applied   bool // false only for the empty generation before the first snapshot
	snapshot  *dpconfig.Snapshot
	listeners map[string]*listenerGen
	clusters  map[string]*upstream.Cluster
	// unreferencedClusters are clusters of the previous generation that
	// neither this generation's CDS nor its routes use any more.
	unreferencedClusters []string
	// obs are the statistics objects of its routes and clusters.
	obs genObs
}

// Snapshot returns the xDS resources the generation was built from.
func (g *Generation) Snapshot() *dpconfig.Snapshot { return g.snapshot }

// ClusterNames returns the names of the generation's clusters, sorted.
func (g *Generation) ClusterNames() []string { return sortedKeys(g.clusters) }

// Cluster returns a cluster by name, or nil.
func (g *Generation) Cluster(name string) *upstream.Cluster { return g.clusters[name] }

// listenerGen is one listener's compiled state.
type listenerGen struct {
	cfg    *dpconfig.Listener
	hcm    *dpconfig.HTTPConnectionManager
	rc     *dpconfig.RouteConfig
	routes *router.Table
	// tls is nil for plaintext listeners; otherwise a base config whose
	// GetConfigForClient picks the filter chain by SNI.
	tls *tls.Config
	// chains are the TLS filter chains in selection order.
	chains []*tlsChain
	// chain is the HTTP filter chain of the listener's HCM, router
	// excluded; built once per generation (filters.go).
	chain []chainEntry
	// tracer is nil when the HCM does not trace.
	tracer *tracing.Tracer
}

func emptyGeneration() *Generation {
	return &Generation{
		snapshot:  &dpconfig.Snapshot{},
		listeners: map[string]*listenerGen{},
		clusters:  map[string]*upstream.Cluster{},
	}
}

// buildGeneration compiles snap. It fails (and the update is NACKed) only
// for configurations the proxy cannot serve at all — an uncompilable route
// table, a TLS chain without its certificate. References that may still be
// in flight are tolerated, as Envoy tolerates them: a route to a cluster not
// (yet) known answers 503 NC; a listener whose route configuration has not
// arrived keeps its previous table, or is not bound yet (Envoy's listener
// warming).
func buildGeneration(rt *Runtime, prev *Generation, snap *dpconfig.Snapshot) (*Generation, error) {
	gen := &Generation{
		applied:   true,
		snapshot:  snap,
		listeners: make(map[string]*listenerGen, len(snap.Listeners)),
	}
	referenced := map[string]bool{}
	for _, name := range sortedKeys(snap.Listeners) {
		l := snap.Listeners[name]
		lg, err := buildListener(rt, prev, snap, l)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", name, err)
		}
		if lg == nil {
			continue // warming: its routes have not arrived
		}
		gen.listeners[name] = lg
		for _, vh := range lg.rc.VirtualHosts {
			for _, r := range vh.Routes {
				if r.Forward == nil {
					continue
				}
				for _, wc := range r.Forward.Clusters {
					referenced[wc.Name] = true
				}
				for _, m := range r.Forward.Mirrors {
					referenced[m.Cluster] = true
				}
			}
		}
	}

	// Make before break: a cluster that CDS dropped while a route of this
	// generation still points at it stays until the routes move away
	// (DESIGN §6, Envoy Gateway #6287).
	keep := make(map[string]*dpconfig.Cluster, len(snap.Clusters))
	for n, c := range snap.Clusters {
		keep[n] = c
	}
	for n := range referenced {
		if _, ok := keep[n]; ok {
			continue
		}
		if old := prev.clusters[n]; old != nil {
			keep[n] = old.Config()
		}
	}
	endpoints := snap.Endpoints
	gen.clusters = rt.upstream.Sync(keep, func(name string) *dpconfig.ClusterLoadAssignment {
		if cla, ok := endpoints[name]; ok {
			return cla
		}
		if old := prev.clusters[name]; old != nil {
			return old.Assignment()
		}
		return nil
	})
	for n := range prev.clusters {
		if _, ok := gen.clusters[n]; !ok {
			gen.unreferencedClusters = append(gen.unreferencedClusters, n)
		}
	}
	sort.Strings(gen.unreferencedClusters)
	if err := buildObs(rt, gen); err != nil {
		return nil, err
	}
	return gen, nil
}

func buildListener(rt *Runtime, prev *Generation, snap *dpconfig.Snapshot, l *dpconfig.Listener) (*listenerGen, error) {
	if len(l.FilterChains) == 0 {
		return nil, fmt.Errorf("no filter chains")
	}
	hcm := l.FilterChains[0].HCM
	for i, fc := range l.FilterChains {
		if fc.HCM == nil {
			return nil, fmt.Errorf("filter_chains[%d]: no http_connection_manager", i)
		}
		// One route table per listener: ksgw emits the same RDS name on
		// every chain; a listener that does otherwise is not ours to guess.
		if fc.HCM.RouteConfigName != hcm.RouteConfigName {
			return nil, fmt.Errorf("filter_chains[%d]: route_config_name %q differs from %q", i, fc.HCM.RouteConfigName, hcm.RouteConfigName)
		}
	}
	lg := &listenerGen{cfg: l, hcm: hcm}

	rc, ok := snap.Routes[hcm.RouteConfigName]
	if hcm.RouteConfig != nil {
		rc, ok = hcm.RouteConfig, true // inline route_config
	}
	switch {
	case ok:
		table, err := router.Compile(rc)
		if err != nil {
			return nil, fmt.Errorf("route configuration %q: %w", rc.Name, err)
		}
		lg.rc, lg.routes = rc, table
	case prev.listeners[l.Name] != nil && prev.listeners[l.Name].hcm.RouteConfigName == hcm.RouteConfigName:
		lg.rc, lg.routes = prev.listeners[l.Name].rc, prev.listeners[l.Name].routes
	default:
		return nil, nil
	}

	if err := buildTLS(lg, snap); err != nil {
		return nil, err
	}
	if err := buildChain(rt.baseCtx, rt, lg, snap); err != nil {
		return nil, err
	}
	return lg, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
