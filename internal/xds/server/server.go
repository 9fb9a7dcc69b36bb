// Package server is the control plane's ADS server: one go-control-plane
// snapshot cache keyed by node ID ("namespace/name" of a Gateway), served
// over SotW and delta ADS plus the per-type discovery services, with node
// authentication, make-before-break publishing (plan.go) and ACK/NACK
// accounting (callbacks.go). See docs/xds-contract.md, "Transport".
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/delta/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/rest/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// NodeResources is one node's desired resources, as produced by
// internal/xds/translate: resources grouped by type URL and one version per
// type URL, derived from content (identical content, identical version).
type NodeResources interface {
	ByType() map[string][]types.Resource
	Version(typeURL string) string
}

// Options configure a Server.
type Options struct {
	// Authenticator is required; use AllowAll only in tests.
	Authenticator Authenticator
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RemovalGrace bounds how long a make-before-break step waits for the
	// proxies of a node to answer the previous snapshot (default 5s). A
	// proxy that neither ACKs nor NACKs within it is not allowed to hold
	// back the others.
	RemovalGrace time.Duration
	// GRPCOptions are appended to the server options (transport
	// credentials, interceptors). Keepalive enforcement is set already.
	GRPCOptions []grpc.ServerOption
}

// Keepalive values shared with internal/xdsclient: the client pings every
// 30s, the server tolerates pings down to every 10s (gRPC's default
// enforcement of 5 minutes would GOAWAY such a client, grpc-go
// keepalive.EnforcementPolicy) and itself pings idle connections so a
// vanished proxy is detected within about 40s.
const (
	keepaliveServerTime    = 30 * time.Second
	keepaliveServerTimeout = 10 * time.Second
	keepaliveMinClientTime = 10 * time.Second
)

// Server serves xDS to the proxies of every Gateway.
type Server struct {
	// Immutable after New.
	auth  Authenticator
	log   *slog.Logger
	grace time.Duration
	gopts []grpc.ServerOption
	cache cachev3.SnapshotCache
	kick  chan struct{} // capacity 1; wakes the publisher loop in Serve

	// publishMu serialises publishers (Update and the loop in Serve) so that
	// plan steps and cache writes of one node never interleave. Held while
	// calling the cache, never while holding mu.
	publishMu sync.Mutex

	mu       sync.Mutex               // guards the fields below
	nodes    map[string]*nodeState    // written under publishMu and mu
	streams  map[int64]*streamState   // by go-control-plane stream ID
	counters map[string]*nodeCounters // by node ID; outlive streams
	changed  chan struct{}            // closed and replaced on every state change
	serving  bool
}

type nodeState struct {
	target      state
	published   state
	publishedAt time.Time
	step        stepKind // kind of the last published step
	everPushed  bool
}

// New returns a Server with an empty cache. Update may be called before
// Serve.
func New(opts Options) (*Server, error) {
	if opts.Authenticator == nil {
		return nil, errors.New("xds server: Authenticator is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RemovalGrace <= 0 {
		opts.RemovalGrace = 5 * time.Second
	}
	log := opts.Logger.With("component", "xds-server")
	return &Server{
		auth:  opts.Authenticator,
		log:   log,
		grace: opts.RemovalGrace,
		gopts: slices.Clone(opts.GRPCOptions),
		// ADS mode: hold named EDS/RDS answers until every resource of the
		// snapshot is named, so a proxy never ACKs a partial set.
		cache:    cachev3.NewSnapshotCache(true, cachev3.IDHash{}, slogAdapter{log}),
		kick:     make(chan struct{}, 1),
		nodes:    make(map[string]*nodeState),
		streams:  make(map[int64]*streamState),
		counters: make(map[string]*nodeCounters),
		changed:  make(chan struct{}),
	}, nil
}

// Update sets the desired resources of every node. Nodes absent from the
// map are cleared. A node whose per-type versions are all unchanged is not
// touched, so an identical translation never reaches a proxy (Envoy Gateway
// #8889). Changed nodes move towards the new state by make-before-break
// steps (plan.go); steps that must wait for proxies to answer are published
// by Serve's loop. An invalid input is a system error: nothing is published
// for any node and the last good snapshots stay in force.
func (s *Server) Update(ctx context.Context, nodes map[string]NodeResources) error {
	targets := make(map[string]state, len(nodes))
	for node, nr := range nodes {
		if node == "" {
			return errors.New("xds server: empty node ID")
		}
		st, err := toState(nr)
		if err != nil {
			return fmt.Errorf("xds server: node %s: %w", node, err)
		}
		targets[node] = st
	}

	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	var errs []error
	for _, node := range slices.Sorted(maps.Keys(s.nodesSnapshot())) {
		if _, ok := targets[node]; !ok {
			s.cache.ClearSnapshot(node)
			s.mu.Lock()
			delete(s.nodes, node)
			s.notifyLocked()
			s.mu.Unlock()
			s.log.Info("node cleared", "node", node)
		}
	}
	for _, node := range slices.Sorted(maps.Keys(targets)) {
		target := targets[node]
		s.mu.Lock()
		ns, ok := s.nodes[node]
		if ok && ns.target.equal(target) {
			s.mu.Unlock()
			continue
		}
		if !ok {
			ns = &nodeState{published: state{}}
			s.nodes[node] = ns
		}
		ns.target = target
		s.mu.Unlock()
		if err := s.advance(ctx, node, time.Now()); err != nil {
			errs = append(errs, err)
		}
	}
	s.wake()
	return errors.Join(errs...)
}

func (s *Server) nodesSnapshot() map[string]*nodeState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.nodes)
}

func toState(nr NodeResources) (state, error) {
	st := make(state)
	for typeURL, list := range nr.ByType() {
		if cachev3.GetResponseType(typeURL) == types.UnknownType {
			return nil, fmt.Errorf("unsupported type URL %q", typeURL)
		}
		items := make(map[string]types.Resource, len(list))
		for i, r := range list {
			name := cachev3.GetResourceName(r)
			if name == "" {
				return nil, fmt.Errorf("%s[%d]: resource without a name", typeURL, i)
			}
			if _, dup := items[name]; dup {
				return nil, fmt.Errorf("%s: duplicate resource %q", typeURL, name)
			}
			items[name] = r
		}
		version := nr.Version(typeURL)
		if version == "" {
			version = contentVersion(items)
		}
		st[typeURL] = typeSet{version: version, items: items}
	}
	// Every type a proxy subscribes to gets an answer, empty if need be:
	// a gateway without TLS still has to tell its proxies "no secrets", or
	// they would wait for SDS forever and never report ready.
	for _, typeURL := range []string{resource.ClusterType, resource.EndpointType, resource.SecretType, resource.ListenerType, resource.RouteType} {
		if _, ok := st[typeURL]; !ok {
			empty := map[string]types.Resource{}
			st[typeURL] = typeSet{version: contentVersion(empty), items: empty}
		}
	}
	return st, nil
}

// advance publishes the steps of node that may go out now. publishMu must
// be held. It returns when the node reached its target or the next step
// has to wait for the proxies.
func (s *Server) advance(ctx context.Context, node string, now time.Time) error {
	for {
		s.mu.Lock()
		ns, ok := s.nodes[node]
		if !ok {
			s.mu.Unlock()
			return nil
		}
		next, kind := nextStep(ns.published, ns.target)
		if kind == stepDone || (ns.everPushed && !s.gateOpenLocked(node, ns, now)) {
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()

		if err := s.cache.SetSnapshot(ctx, node, toSnapshot(next)); err != nil {
			return fmt.Errorf("xds server: set snapshot of %s: %w", node, err)
		}
		s.log.Debug("snapshot published", "node", node, "step", kind.String(), "versions", versions(next))

		s.mu.Lock()
		ns.published, ns.publishedAt, ns.step, ns.everPushed = next, now, kind, true
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// gateOpenLocked reports whether every stream of node has answered the
// versions of the published snapshot, or the grace period is over.
func (s *Server) gateOpenLocked(node string, ns *nodeState, now time.Time) bool {
	if now.Sub(ns.publishedAt) >= s.grace {
		return true
	}
	for _, st := range s.streams {
		if st.nodeID != node {
			continue
		}
		for typeURL, ts := range st.types {
			pub, ok := ns.published[typeURL]
			if !ok {
				continue
			}
			if !ts.settled(pub.version) {
				return false
			}
		}
	}
	return true
}

func toSnapshot(st state) *cachev3.Snapshot {
	snap := &cachev3.Snapshot{}
	for typeURL, ts := range st {
		items := make([]types.Resource, 0, len(ts.items))
		for _, name := range slices.Sorted(maps.Keys(ts.items)) {
			items = append(items, ts.items[name])
		}
		snap.Resources[cachev3.GetResponseType(typeURL)] = cachev3.NewResources(ts.version, items)
	}
	return snap
}

func versions(st state) map[string]string {
	out := make(map[string]string, len(st))
	for t, ts := range st {
		out[t] = ts.version
	}
	return out
}

// publishPending runs advance for every node that has not reached its
// target and returns when the earliest of them times out of its gate.
func (s *Server) publishPending(ctx context.Context) (time.Time, bool) {
	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	now := time.Now()
	for _, node := range slices.Sorted(maps.Keys(s.nodesSnapshot())) {
		if err := s.advance(ctx, node, now); err != nil {
			s.log.Error("publishing make-before-break step failed", "node", node, "error", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var deadline time.Time
	for _, ns := range s.nodes {
		if _, kind := nextStep(ns.published, ns.target); kind == stepDone {
			continue
		}
		if d := ns.publishedAt.Add(s.grace); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	return deadline, !deadline.IsZero()
}

func (s *Server) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// notifyLocked wakes WaitForAck callers. mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Serve serves xDS on lis until ctx is done, then stops gracefully: open
// ADS streams are ended by go-control-plane when its context is cancelled,
// so GracefulStop does not wait for proxies to hang up. It may be called
// once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("xds server: Serve called twice")
	}
	s.serving = true
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	cb := callbacks{s}
	xds := serverv3.NewServerAdvanced(
		rest.NewServer(s.cache, cb), // unary Fetch* of the per-type services
		sotw.NewServer(ctx, s.cache, cb, sotw.WithOrderedADS(), sotw.WithLogger(slogAdapter{s.log})),
		delta.NewServer(ctx, s.cache, cb, delta.WithLogger(slogAdapter{s.log})),
	)
	opts := append([]grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinClientTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    keepaliveServerTime,
			Timeout: keepaliveServerTimeout,
		}),
	}, s.gopts...)
	g := grpc.NewServer(opts...)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, xds)
	secretservice.RegisterSecretDiscoveryServiceServer(g, xds)

	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- g.Serve(lis) })
	wg.Go(func() { s.publishLoop(ctx) })

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	cancel()
	stopped := make(chan struct{})
	wg.Go(func() { g.GracefulStop(); close(stopped) })
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		// A handler stuck in Send to a proxy that stopped reading.
		g.Stop()
	}
	wg.Wait()
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

// publishLoop publishes the gated make-before-break steps: when a proxy
// answers (kick) or when a grace period ends.
func (s *Server) publishLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		deadline, pending := s.publishPending(ctx)
		wait := time.Hour
		if pending {
			wait = max(time.Until(deadline), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-timer.C:
		}
	}
}

// NACK is the last rejection a node's proxy sent.
type NACK struct {
	TypeURL string
	Version string // the version the proxy rejected
	Nonce   string
	Detail  string // error_detail.message
	At      time.Time
}

// NodeStats is the state of one node.
type NodeStats struct {
	Streams int    // open, authenticated streams (one per proxy with ADS)
	Pushes  uint64 // responses sent
	ACKs    uint64
	NACKs   uint64
	// LastNACK holds the last NACK per type URL.
	LastNACK map[string]NACK
	// Published is the version in the cache per type URL.
	Published map[string]string
	// Converging is true while a make-before-break sequence has steps left.
	Converging bool
}

// Stats is a point-in-time copy of the server's counters.
type Stats struct {
	Nodes map[string]NodeStats
}

// Stats returns a copy of the counters, for the admin page and, later,
// Prometheus collectors.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Nodes: make(map[string]NodeStats)}
	get := func(node string) NodeStats { return out.Nodes[node] }
	for node, c := range s.counters {
		ns := get(node)
		ns.ACKs, ns.NACKs, ns.Pushes = c.acks, c.nacks, c.pushes
		ns.LastNACK = maps.Clone(c.lastNACK)
		out.Nodes[node] = ns
	}
	for _, st := range s.streams {
		if st.nodeID == "" {
			continue
		}
		ns := get(st.nodeID)
		ns.Streams++
		out.Nodes[st.nodeID] = ns
	}
	for node, n := range s.nodes {
		ns := get(node)
		ns.Published = versions(n.published)
		_, kind := nextStep(n.published, n.target)
		ns.Converging = kind != stepDone
		out.Nodes[node] = ns
	}
	return out
}

// WaitForAck blocks until a stream of node has ACKed version of typeURL,
// or ctx is done. Measuring the time from Update to its return gives the
// time a change takes to reach a proxy.
func (s *Server) WaitForAck(ctx context.Context, node, typeURL, version string) error {
	for {
		s.mu.Lock()
		ch := s.changed
		for _, st := range s.streams {
			if st.nodeID != node {
				continue
			}
			if ts, ok := st.types[typeURL]; ok && ts.ackedVersion == version {
				s.mu.Unlock()
				return nil
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to ACK %s version %q: %w", node, typeURL, version, ctx.Err())
		case <-ch:
		}
	}
}

// slogAdapter routes go-control-plane's logging to slog. Its Info level is
// per-watch chatter, so it goes to Debug.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debugf(f string, args ...any) { a.l.Debug(fmt.Sprintf(f, args...)) }
func (a slogAdapter) Infof(f string, args ...any)  { a.l.Debug(fmt.Sprintf(f, args...)) }
func (a slogAdapter) Warnf(f string, args ...any)  { a.l.Warn(fmt.Sprintf(f, args...)) }
func (a slogAdapter) Errorf(f string, args ...any) { a.l.Error(fmt.Sprintf(f, args...)) }
