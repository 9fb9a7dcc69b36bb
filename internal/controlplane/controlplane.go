// Package controlplane is the composition root of the control plane: it
// wires a provider to the translators and the ADS server, in that order,
// and owns their goroutines.
//
//	provider ──resources──▶ Render (translate → IR → xDS) ──per-node resources──▶ xds/server
//
// A per-object problem disables only that object (it is logged and kept in
// the statuses); a system error for a gateway keeps that gateway's last
// good snapshot in force (STYLE habit 10).
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ksgw/ksgw/internal/cpmetrics"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/provider/file"
	"github.com/ksgw/ksgw/internal/resource"
	"github.com/ksgw/ksgw/internal/translate"
	xdsserver "github.com/ksgw/ksgw/internal/xds/server"
)

// Provider is where resources come from: the file provider (a watched
// directory) or the Kubernetes provider (the API server's caches). Declared
// here, by its consumer (STYLE habit 6).
type Provider interface {
	// Run produces snapshots until ctx is done.
	Run(ctx context.Context) error
	// Next blocks until a snapshot newer than the last one returned is
	// available and returns it: the bundle (immutable, shared) and the
	// objects left out of it because they could not be read. ok is false
	// once ctx is done or the provider has stopped.
	Next(ctx context.Context) (res *resource.Resources, errs []resource.LoadError, ok bool)
}

// Options configure a ControlPlane. Immutable after New.
type Options struct {
	// Provider supplies the resources. When nil, a file provider watches
	// ConfigDir.
	Provider Provider
	// ConfigDir is the directory the file provider watches when Provider is
	// nil.
	ConfigDir string
	// Load tunes the YAML loader (default namespace, limits).
	Load resource.Options
	// UpdateInterval is DESIGN's xds.update.interval: the batch window for
	// changes.
	UpdateInterval time.Duration
	// Translate tunes the resource translator (controller namespace).
	Translate translate.Options
	// Authenticator checks proxies' node IDs; required.
	Authenticator xdsserver.Authenticator
	// OnGateways, when set, is called after every publish with the gateways
	// that now exist (standalone starts and stops proxies from it). It runs
	// on the translation goroutine and must not block for long.
	OnGateways func(ctx context.Context, gateways []*ir.Gateway)
	// OnRender, when set, is called with every render, published or not,
	// after OnGateways (the Kubernetes status writer reads the statuses from
	// it). It runs on the translation goroutine and must not block.
	OnRender func(ctx context.Context, r *Rendered)
	Logger   *slog.Logger
	// Metrics, when set, receives the control plane's metrics
	// (internal/cpmetrics).
	Metrics prometheus.Registerer
}

// ControlPlane runs the provider, the translation loop and the ADS server.
type ControlPlane struct {
	opts     Options
	log      *slog.Logger
	provider Provider
	xds      *xdsserver.Server
	metrics  *cpmetrics.Metrics // nil without Options.Metrics

	// last is the latest render, for status pages and tests.
	last atomic.Pointer[Rendered]
	// published counts renders handed to the ADS server.
	published atomic.Int64
}

// New builds the control plane; Run starts it.
func New(opts Options) (*ControlPlane, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Authenticator == nil {
		return nil, errors.New("controlplane: an Authenticator is required")
	}
	prov := opts.Provider
	if prov == nil {
		fp, err := file.New(file.Options{
			Dir:      opts.ConfigDir,
			Interval: opts.UpdateInterval,
			Load:     opts.Load,
			Logger:   opts.Logger,
		})
		if err != nil {
			return nil, err
		}
		prov = fileProvider{fp}
	}
	xds, err := xdsserver.New(xdsserver.Options{Authenticator: opts.Authenticator, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{opts: opts, log: opts.Logger.With("component", "controlplane"), provider: prov, xds: xds}
	if opts.Metrics != nil {
		cp.metrics = cpmetrics.New(opts.Metrics, xds.Stats)
	}
	return cp, nil
}

// XDS returns the ADS server (stats, WaitForAck in tests).
func (cp *ControlPlane) XDS() *xdsserver.Server { return cp.xds }

// Last returns the latest render, or nil before the first.
func (cp *ControlPlane) Last() *Rendered { return cp.last.Load() }

// Published returns how many renders were handed to the ADS server.
func (cp *ControlPlane) Published() int64 { return cp.published.Load() }

// Run serves xDS on lis and translates every provider update until ctx is
// done. Start order: ADS server, provider, translation loop; they stop in
// reverse.
func (cp *ControlPlane) Run(ctx context.Context, lis net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("xds server", func(ctx context.Context) error { return cp.xds.Serve(ctx, lis) })
	run("provider", cp.provider.Run)
	run("translator", cp.translateLoop)
	wg.Wait()
	close(errc)
	return <-errc
}

func (cp *ControlPlane) translateLoop(ctx context.Context) error {
	var prevProblems []string
	lastGood := map[string]xdsserver.NodeResources{}
	kept := newLastGood()
	for {
		res, loadErrs, ok := cp.provider.Next(ctx)
		if !ok {
			return nil
		}
		start := time.Now()
		r := kept.render(res, loadErrs, cp.opts.Translate)
		elapsed := time.Since(start)

		problems := r.Problems()
		if cp.metrics != nil {
			cp.metrics.ObserveTranslation(res, elapsed, len(problems))
		}
		if !slices.Equal(problems, prevProblems) {
			for _, p := range problems {
				cp.log.Warn("invalid configuration", "problem", p)
			}
			prevProblems = problems
		}

		nodes := make(map[string]xdsserver.NodeResources, len(r.XDS))
		for _, gw := range r.Result.Gateways {
			if x, ok := r.XDS[gw.Name]; ok {
				nodes[gw.Name] = x
			} else if prev, ok := lastGood[gw.Name]; ok {
				nodes[gw.Name] = prev // keep serving the last good snapshot
			}
		}
		if err := cp.xds.Update(ctx, nodes); err != nil {
			cp.log.Error("publishing xDS failed; the previous snapshots stay in force", "error", err)
			if cp.opts.OnRender != nil {
				cp.opts.OnRender(ctx, r)
			}
			continue
		}
		lastGood = nodes
		cp.last.Store(r)
		cp.published.Add(1)
		if cp.metrics != nil {
			cp.metrics.ObservePublish()
		}
		cp.log.Info("configuration published", "gateways", len(nodes), "problems", len(problems), "kept_last_good", r.Kept,
			"resources", res.Len(), "translate_ms", elapsed.Milliseconds())
		if cp.opts.OnGateways != nil {
			cp.opts.OnGateways(ctx, r.Result.Gateways)
		}
		if cp.opts.OnRender != nil {
			cp.opts.OnRender(ctx, r)
		}
	}
}

// fileProvider adapts the file provider's channel to Provider.
type fileProvider struct{ p *file.Provider }

var _ Provider = fileProvider{}

func (f fileProvider) Run(ctx context.Context) error { return f.p.Run(ctx) }

func (f fileProvider) Next(ctx context.Context) (*resource.Resources, []resource.LoadError, bool) {
	select {
	case <-ctx.Done():
		return nil, nil, false
	case snap, ok := <-f.p.Updates():
		if !ok {
			return nil, nil, false
		}
		return snap.Resources, snap.Errors, true
	}
}
