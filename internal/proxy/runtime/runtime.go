// Package runtime compiles each accepted xDS snapshot (dpconfig.Snapshot)
// into an immutable Generation — listeners, compiled route tables, clusters
// with their hosts, TLS configurations — and swaps it in atomically. Request
// handling loads the current generation once per request, so in-flight
// requests finish on the configuration they started with while new requests
// see the new one (Caddy's start-new, swap, stop-old; grpc-go's filter
// chain manager).
//
// Sockets outlive generations: a listener whose address did not change keeps
// its socket and its connections; a removed listener stops accepting and
// drains (internal/proxy/server's graceful Shutdown).
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/mask"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/server"
	"github.com/ksgw/ksgw/internal/proxy/stats"
	"github.com/ksgw/ksgw/internal/proxy/tracing"
	"github.com/ksgw/ksgw/internal/proxy/upstream"
)

// Options configure a Runtime. Immutable after New.
type Options struct {
	Logger *slog.Logger
	// AccessLog receives one entry per request; nil disables access logging.
	AccessLog AccessLogger
	// DrainTimeout bounds how long a removed listener waits for in-flight
	// requests before its connections are closed.
	DrainTimeout time.Duration
	// Listen binds a socket; nil uses net.Listen. Tests inject failures here.
	Listen func(network, address string) (net.Listener, error)
	// ServerConfig is the template for each listener's HTTP server (limits,
	// timeouts). Handler is set by the runtime.
	ServerConfig server.Config
	// Filters builds the HTTP filters that listeners name in http_filters
	// (other than fault, CORS and the router, which the runtime provides).
	// nil: a listener with another filter is refused.
	Filters *filter.Registry
	// Stats receives the request statistics; nil disables them (for
	// benchmarks that measure their cost).
	Stats *stats.Store
	// Tracing owns the OTLP exporters; nil gets one that exports nothing
	// until a listener's configuration enables tracing.
	Tracing *tracing.Manager
	// LogMasker, when set, masks the request path (query included) and
	// user agent of access-log entries, so that passwords, tokens, keys
	// and card numbers that clients put in URLs never reach log files.
	LogMasker *mask.Masker
}

// Runtime owns the current generation and the bound listeners.
//
// gen is atomic and read on every request; everything else is guarded by mu
// and touched only by Apply and Close, which the xDS client calls from one
// goroutine.
type Runtime struct {
	opts     Options
	log      *slog.Logger
	upstream *upstream.Manager
	stats    *stats.Store     // nil when disabled
	tracing  *tracing.Manager // owned by the caller when passed in Options
	ownTrace bool             // tracing was created by New: Shutdown stops it

	gen atomic.Pointer[Generation]

	// mirrorSlots bounds concurrent mirrored requests, so a slow shadow
	// cluster costs dropped mirrors, never memory or primary latency.
	mirrorSlots slots

	mu        sync.Mutex
	listeners map[string]*boundListener
	closed    bool
	wg        sync.WaitGroup // Serve goroutines and drains
	baseCtx   context.Context
	cancel    context.CancelFunc
}

// boundListener is a socket with the server accepting on it.
type boundListener struct {
	name string
	addr netip.AddrPort
	ln   net.Listener
	srv  *server.Server
}

// New returns a Runtime with an empty generation: every request is answered
// 404 until the first snapshot arrives, and /ready reports not ready.
func New(opts Options) *Runtime {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.Listen == nil {
		opts.Listen = net.Listen
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt := &Runtime{
		opts:        opts,
		log:         opts.Logger,
		stats:       opts.Stats,
		tracing:     opts.Tracing,
		mirrorSlots: make(slots, 64),
		listeners:   map[string]*boundListener{},
		baseCtx:     ctx,
		cancel:      cancel,
	}
	if rt.tracing == nil {
		rt.tracing, rt.ownTrace = tracing.NewManager("", opts.Logger), true
	}
	rt.upstream = upstream.NewManager(upstream.Options{
		Logger:        opts.Logger,
		NewPool:       rt.newHostPool,
		ClassifyError: classifyPoolError,
	})
	rt.gen.Store(emptyGeneration())
	return rt
}

// Current returns the generation in force.
func (rt *Runtime) Current() *Generation { return rt.gen.Load() }

// Stats returns the runtime's statistics, nil when disabled.
func (rt *Runtime) Stats() *stats.Store { return rt.stats }

// Upstream returns the cluster manager (for the admin /clusters page).
func (rt *Runtime) Upstream() *upstream.Manager { return rt.upstream }

// Ready reports whether a complete configuration has been applied: at least
// one listener is bound.
func (rt *Runtime) Ready() bool {
	g := rt.gen.Load()
	return g.applied && len(g.listeners) > 0
}

// Apply compiles snap into a new generation and swaps it in. An error means
// nothing changed (the xDS client NACKs); the previous generation keeps
// serving. It implements xdsclient.Applier.
func (rt *Runtime) Apply(ctx context.Context, snap *dpconfig.Snapshot) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return errors.New("runtime closed")
	}
	prev := rt.gen.Load()
	gen, err := buildGeneration(rt, prev, snap)
	if err != nil {
		return err
	}
	// Bind new sockets before publishing, so a bind failure leaves the old
	// generation fully in force.
	added, err := rt.bindListeners(gen)
	if err != nil {
		return err
	}
	rt.gen.Store(gen)
	for _, bl := range added {
		rt.serve(bl)
	}
	rt.retireListeners(gen)
	// Clusters that no route of the new generation references can go now:
	// requests of older generations hold their *upstream.Cluster directly,
	// so retiring only stops health checks and closes idle pools.
	rt.upstream.Retire(gen.unreferencedClusters)
	rt.retainObs(gen)
	rt.log.Debug("applied configuration", "listeners", len(gen.listeners), "clusters", len(gen.clusters), "versions", snap.Versions)
	return nil
}

// bindListeners binds the sockets of listeners that are new or whose
// address changed. It returns them unstarted; on error it closes what it
// bound.
func (rt *Runtime) bindListeners(gen *Generation) ([]*boundListener, error) {
	var added []*boundListener
	names := make([]string, 0, len(gen.listeners))
	for name := range gen.listeners {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		lg := gen.listeners[name]
		if bl, ok := rt.listeners[name]; ok && bl.addr == lg.cfg.Address {
			continue
		}
		ln, err := rt.opts.Listen("tcp", lg.cfg.Address.String())
		if err != nil {
			for _, bl := range added {
				bl.ln.Close()
			}
			return nil, fmt.Errorf("listener %q: bind %s: %w", name, lg.cfg.Address, err)
		}
		added = append(added, &boundListener{name: name, addr: lg.cfg.Address, ln: ln})
	}
	return added, nil
}

func (rt *Runtime) serve(bl *boundListener) {
	if old, ok := rt.listeners[bl.name]; ok {
		rt.drain(old)
	}
	cfg := rt.opts.ServerConfig
	h := &handler{rt: rt, listener: bl.name}
	var netLn net.Listener = bl.ln
	if rt.stats != nil {
		h.stats = rt.stats.Listener(bl.name, bl.addr.String())
		netLn = h.stats.CountConns(bl.ln)
	}
	cfg.Handler = h
	cfg.Logger = rt.log
	bl.srv = server.New(cfg)
	rt.listeners[bl.name] = bl
	ln := &tlsSwitchListener{Listener: netLn, rt: rt, name: bl.name}
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		if err := bl.srv.Serve(rt.baseCtx, ln); err != nil && !errors.Is(err, server.ErrServerClosed) {
			rt.log.Error("listener stopped", "listener", bl.name, "error", err)
		}
	}()
	rt.log.Info("listener bound", "listener", bl.name, "address", bl.addr.String())
}

// retireListeners drains listeners that the new generation no longer has.
func (rt *Runtime) retireListeners(gen *Generation) {
	for name, bl := range rt.listeners {
		if _, ok := gen.listeners[name]; ok {
			continue
		}
		delete(rt.listeners, name)
		rt.drain(bl)
	}
}

// drain stops accepting on bl at once (the port is free for a new owner) and
// lets its in-flight requests finish in the background.
func (rt *Runtime) drain(bl *boundListener) {
	rt.log.Info("listener draining", "listener", bl.name, "address", bl.addr.String())
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), rt.opts.DrainTimeout)
		defer cancel()
		if err := bl.srv.Shutdown(ctx); err != nil {
			bl.srv.Close()
		}
	}()
}

// Shutdown stops every listener gracefully (in-flight requests finish within
// ctx), then releases clusters. The runtime cannot be used afterwards.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.mu.Lock()
	rt.closed = true
	lns := rt.listeners
	rt.listeners = map[string]*boundListener{}
	rt.mu.Unlock()

	var wg sync.WaitGroup
	for _, bl := range lns {
		wg.Add(1)
		go func(bl *boundListener) {
			defer wg.Done()
			if err := bl.srv.Shutdown(ctx); err != nil {
				bl.srv.Close()
			}
		}(bl)
	}
	wg.Wait()
	rt.cancel()
	rt.wg.Wait()
	rt.upstream.Close()
	if rt.ownTrace {
		rt.tracing.Shutdown(ctx)
	}
	return ctx.Err()
}

// slots is a counting semaphore that never blocks.
type slots chan struct{}

func (s slots) TryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s slots) Release() { <-s }
