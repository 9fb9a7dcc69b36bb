// Package standalone runs `ksgw standalone`: the control plane over a
// watched directory plus one proxy instance per Gateway, on one machine. The
// proxies talk to the control plane over loopback ADS with per-gateway
// bearer tokens, exactly as they would in a cluster; only the transport to
// the Kubernetes API is replaced by the file provider.
package standalone

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ksgw/ksgw/internal/controlplane"
	"github.com/ksgw/ksgw/internal/dataplane"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/proxy/accesslog"
	"github.com/ksgw/ksgw/internal/resource"
	"github.com/ksgw/ksgw/internal/translate"
	xdsserver "github.com/ksgw/ksgw/internal/xds/server"
)

// Options configure a standalone gateway.
type Options struct {
	ConfigDir        string
	DefaultNamespace string
	UpdateInterval   time.Duration
	// XDSAddress is where the ADS server listens (loopback).
	XDSAddress string
	// AdminBasePort: the first gateway's proxy gets this admin port, the
	// next one base+1, and so on in order of first appearance; a gateway
	// keeps its port while it exists.
	AdminBasePort int
	AdminHost     string
	// AccessLog receives every proxy's access log; nil disables it.
	AccessLog        io.Writer
	AccessLogOptions accesslog.Options
	DrainTimeout     time.Duration
	Logger           *slog.Logger
	// MetricsAddress, when set, serves the control plane's metrics at
	// /metrics there (each proxy serves its own on its admin listener).
	MetricsAddress string
	// MetricsListener, when set, is used instead of binding MetricsAddress.
	MetricsListener net.Listener
}

// Run serves until ctx is done; then every proxy drains and the control
// plane stops.
func Run(ctx context.Context, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.XDSAddress == "" {
		opts.XDSAddress = "127.0.0.1:18000"
	}
	if opts.AdminHost == "" {
		opts.AdminHost = "127.0.0.1"
	}
	if opts.AdminBasePort == 0 {
		opts.AdminBasePort = 19000
	}
	lis, err := net.Listen("tcp", opts.XDSAddress)
	if err != nil {
		return fmt.Errorf("xds listener: %w", err)
	}
	auth := xdsserver.NewTokenAuthenticator(nil)
	sup := &supervisor{
		opts:    opts,
		auth:    auth,
		xdsAddr: lis.Addr().String(),
		proxies: map[string]*proxyInstance{},
		ports:   map[string]int{},
		log:     opts.Logger.With("component", "standalone"),
	}
	var reg *prometheus.Registry
	if opts.MetricsAddress != "" || opts.MetricsListener != nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	cp, err := controlplane.New(controlplane.Options{
		ConfigDir:      opts.ConfigDir,
		Load:           resource.Options{DefaultNamespace: opts.DefaultNamespace},
		UpdateInterval: opts.UpdateInterval,
		Translate:      translate.Options{},
		Authenticator:  auth,
		OnGateways:     sup.sync,
		Logger:         opts.Logger,
		Metrics:        registerer(reg),
	})
	if err != nil {
		lis.Close()
		return err
	}
	if reg != nil {
		stop, err := serveMetrics(opts, reg)
		if err != nil {
			lis.Close()
			return err
		}
		defer stop()
	}
	sup.log.Info("standalone gateway starting", "config", opts.ConfigDir, "xds", sup.xdsAddr)
	err = cp.Run(ctx, lis)
	sup.stopAll()
	return err
}

// registerer avoids a typed nil in the interface.
func registerer(reg *prometheus.Registry) prometheus.Registerer {
	if reg == nil {
		return nil
	}
	return reg
}

// serveMetrics serves /metrics until the returned stop is called.
func serveMetrics(opts Options, reg *prometheus.Registry) (stop func(), err error) {
	ml := opts.MetricsListener
	if ml == nil {
		if ml, err = net.Listen("tcp", opts.MetricsAddress); err != nil {
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ml); err != nil && err != http.ErrServerClosed {
			opts.Logger.Error("metrics listener stopped", "error", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

// supervisor starts a proxy for every gateway and stops the proxies of
// gateways that disappear. Its maps are only touched from the control
// plane's translation goroutine (OnGateways) and from stopAll after that
// goroutine has ended.
type supervisor struct {
	opts    Options
	auth    *xdsserver.TokenAuthenticator
	xdsAddr string
	log     *slog.Logger

	proxies  map[string]*proxyInstance
	ports    map[string]int // admin port per node, stable while the gateway exists
	nextPort int
	wg       sync.WaitGroup
}

type proxyInstance struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *supervisor) sync(ctx context.Context, gateways []*ir.Gateway) {
	want := map[string]bool{}
	for _, gw := range gateways {
		want[gw.Name] = true
	}
	var stopping []string
	for node := range s.proxies {
		if !want[node] {
			stopping = append(stopping, node)
		}
	}
	sort.Strings(stopping)
	for _, node := range stopping {
		p := s.proxies[node]
		delete(s.proxies, node)
		delete(s.ports, node)
		s.auth.Delete(node)
		s.log.Info("gateway removed; its proxy drains", "node", node)
		p.cancel()
	}
	for _, gw := range gateways {
		if _, ok := s.proxies[gw.Name]; ok {
			continue
		}
		if err := s.start(ctx, gw.Name); err != nil {
			s.log.Error("starting proxy failed", "node", gw.Name, "error", err)
		}
	}
}

func (s *supervisor) start(ctx context.Context, node string) error {
	token, err := xdsserver.GenerateToken()
	if err != nil {
		return err
	}
	port, ok := s.ports[node]
	if !ok {
		port = s.opts.AdminBasePort + s.nextPort
		s.nextPort++
		s.ports[node] = port
	}
	s.auth.Set(node, token)
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &proxyInstance{cancel: cancel, done: make(chan struct{})}
	s.proxies[node] = p
	admin := net.JoinHostPort(s.opts.AdminHost, strconv.Itoa(port))
	s.log.Info("starting proxy", "node", node, "admin", admin)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(p.done)
		err := dataplane.Run(pctx, dataplane.Options{
			XDSServer:        s.xdsAddr,
			NodeID:           node,
			Token:            token,
			AdminAddress:     admin,
			AccessLog:        s.opts.AccessLog,
			AccessLogOptions: s.opts.AccessLogOptions,
			DrainTimeout:     s.opts.DrainTimeout,
			Logger:           s.opts.Logger,
		})
		if err != nil {
			s.log.Error("proxy stopped with an error", "node", node, "error", err)
		}
	}()
	return nil
}

func (s *supervisor) stopAll() {
	for _, p := range s.proxies {
		p.cancel()
	}
	s.wg.Wait()
}
