// Package dataplane is the composition root of one proxy instance: the xDS
// client feeding the runtime, the access-log writer and the admin listener.
//
//	xdsclient ──dpconfig.Snapshot──▶ runtime (generations, listeners) ◀── admin
//
// Start order: access log, runtime, admin, xDS client. Stop order is the
// reverse, with the runtime draining in-flight requests last.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/mask"
	"github.com/ksgw/ksgw/internal/proxy/accesslog"
	"github.com/ksgw/ksgw/internal/proxy/admin"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/apikey"
	"github.com/ksgw/ksgw/internal/proxy/filter/bodymask"
	"github.com/ksgw/ksgw/internal/proxy/filter/jwt"
	"github.com/ksgw/ksgw/internal/proxy/filter/ratelimit"
	"github.com/ksgw/ksgw/internal/proxy/filter/rbac"
	"github.com/ksgw/ksgw/internal/proxy/filter/typedstruct"
	"github.com/ksgw/ksgw/internal/proxy/filter/validate"
	"github.com/ksgw/ksgw/internal/proxy/filter/waf"
	"github.com/ksgw/ksgw/internal/proxy/runtime"
	"github.com/ksgw/ksgw/internal/proxy/stats"
	"github.com/ksgw/ksgw/internal/proxy/tracing"
	"github.com/ksgw/ksgw/internal/xdsclient"
)

// Options configure one proxy instance.
type Options struct {
	XDSServer string // host:port of the ADS server
	NodeID    string // "namespace/name" of the Gateway
	Token     string // bearer token for the ADS server
	// TokenFile, when set, holds the token and is re-read at each
	// reconnect (rotated Kubernetes ServiceAccount tokens).
	TokenFile string
	// AdminAddress is the admin listener, Envoy's default 127.0.0.1:19000.
	AdminAddress string
	// AdminListener, when set, is used instead of binding AdminAddress.
	AdminListener net.Listener
	// AccessLog receives JSON access-log lines; nil disables the log.
	AccessLog io.Writer
	// AccessLogOptions choose the format and masking of the access log.
	AccessLogOptions accesslog.Options
	// DrainTimeout bounds the graceful stop.
	DrainTimeout time.Duration
	Logger       *slog.Logger
}

// Run serves until ctx is done, then drains and returns.
func Run(ctx context.Context, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 15 * time.Second
	}
	log := opts.Logger.With("node", opts.NodeID)

	var wg sync.WaitGroup
	defer wg.Wait()
	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()

	var (
		al        runtime.AccessLogger
		alDropped func() uint64
	)
	if opts.AccessLog != nil {
		w := accesslog.NewWithOptions(opts.AccessLog, opts.AccessLogOptions)
		al, alDropped = w, w.Dropped
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(bg) }()
	}

	// The HTTP filters the proxy implements beyond fault, CORS and the
	// router (internal/proxy/filter). The JWT factory's JWKS caches live as
	// long as this proxy.
	// ksgw's own filters travel as TypedStruct extensions
	// (docs/xds-contract.md); the rate limit kind owns limiters and Redis
	// clients shared by generations, released when the proxy stops.
	rl := ratelimit.NewKind()
	defer rl.Close()
	ext, err := typedstruct.New(validate.Kind{}, waf.NewKind(), bodymask.Kind{}, rl)
	if err != nil {
		return err
	}
	filters, err := filter.NewRegistry(jwt.NewFactory(jwt.Options{}), rbac.Factory{}, apikey.Factory{}, ext)
	if err != nil {
		return err
	}
	// Access logs are masked with every built-in rule, policy or not: a
	// secret a client put in a URL must never reach a log file (issue 7).
	logMask, err := mask.New(mask.BuiltinNames(), nil)
	if err != nil {
		return err
	}
	// Statistics live in a registry of this proxy (no package-level
	// registry): Envoy-named proxy stats plus Go runtime and process
	// metrics for the saturation alerts.
	store := stats.New(opts.NodeID)
	tracer := tracing.NewManager(opts.NodeID, log)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracer.Shutdown(ctx); err != nil {
			log.Warn("flushing traces failed", "error", err)
		}
	}()
	rt := runtime.New(runtime.Options{Logger: log, AccessLog: al, DrainTimeout: opts.DrainTimeout, Stats: store, Tracing: tracer, Filters: filters, LogMasker: logMask})
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		stats.NewCollector(store, rt.StatsSource()),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if alDropped != nil {
		// Lines the writer could not keep up with are dropped, never
		// waited for; this says how many.
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ksgw_access_log_dropped_total", Help: "Access-log lines dropped because the writer fell behind.",
		}, func() float64 { return float64(alDropped()) }))
	}

	decoders := map[string]xdsclient.Decoder{}
	for typeURL, d := range dpconfig.DecodersWith(filters.Extensions()) {
		decoders[typeURL] = xdsclient.Decoder(d)
	}
	client, err := xdsclient.New(xdsclient.Options{
		Server:    opts.XDSServer,
		NodeID:    opts.NodeID,
		Token:     opts.Token,
		TokenFile: opts.TokenFile,
		Decoders:  decoders,
		Applier:   rt,
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("xds client: %w", err)
	}

	lis := opts.AdminListener
	if lis == nil {
		addr := opts.AdminAddress
		if addr == "" {
			addr = "127.0.0.1:19000"
		}
		if lis, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
	}
	adm := &http.Server{Handler: admin.New(admin.Options{Runtime: rt, XDS: client, NodeID: opts.NodeID, Gatherer: reg}), ReadHeaderTimeout: 10 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := adm.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "error", err)
		}
	}()
	log.Info("proxy started", "xds_server", opts.XDSServer, "admin", lis.Addr().String())

	cctx, cancelClient := context.WithCancel(ctx)
	defer cancelClient()
	clientErr := client.Run(cctx)

	// Drain: stop taking config, let in-flight requests finish, then stop
	// the admin listener and the access log.
	dctx, cancel := context.WithTimeout(context.Background(), opts.DrainTimeout)
	defer cancel()
	rt.Shutdown(dctx)
	adm.Shutdown(dctx)
	cancelBG()
	if clientErr != nil && ctx.Err() == nil {
		return clientErr
	}
	log.Info("proxy stopped")
	return nil
}
