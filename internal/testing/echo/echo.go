// Package echo is the backend that ksgw's end-to-end tests, quickstart and
// benchmarks send traffic to. Every HTTP request is answered with a JSON
// Reply describing what the backend received, so a test can assert what the
// gateway forwarded (host, path, rewritten headers, body) and which backend
// answered (Options.Name). Request headers named x-echo-* make it misbehave
// on demand (status, delay, fail N times, abort mid-response) so retry,
// timeout, outlier-detection and health-check behaviour can be provoked.
//
// One port serves HTTP/1.1, h2c (prior knowledge and the RFC 7540 §3.2
// Upgrade), gRPC (grpc.health.v1 plus a protoc-free echo service) and
// WebSocket on /ws, because an Envoy cluster speaks one protocol to one
// address and tests should not need a port per protocol.
package echo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Options configure a Server. The zero value (plus an Addr) is a fully
// featured echo backend.
type Options struct {
	// Name identifies the backend in every reply (for example "product-v1"),
	// so tests can count which subset a gateway picked.
	Name string
	// Addr is the TCP address to listen on, "127.0.0.1:0" if empty. Any
	// 127.0.0.x address is bindable on Linux without setup.
	Addr string
	// FixedBodySize, when > 0, turns the server into a minimal benchmark
	// backend: every request (except /healthz) is answered 200 with exactly
	// this many bytes and only Content-Length and Content-Type headers. No
	// JSON, no knobs: the backend must not be what a benchmark measures.
	FixedBodySize int
	// Logger receives connection-level errors; nil discards them.
	Logger *slog.Logger
}

// Counts is a snapshot of the requests a Server has handled.
type Counts struct {
	// HTTP counts HTTP requests other than health probes, gRPC and WebSocket.
	HTTP uint64
	// Health counts requests to /healthz, kept apart so that active health
	// checking does not skew load-balancing assertions.
	Health uint64
	// GRPC counts gRPC calls (unary and streaming, health service included).
	GRPC uint64
	// WebSocket counts accepted WebSocket sessions.
	WebSocket uint64
}

// Total is the number of requests of every kind except health probes.
func (c Counts) Total() uint64 { return c.HTTP + c.GRPC + c.WebSocket }

// Server is a running echo backend.
//
// Synchronisation: opts, addr, payload, srv, grpcSrv, h2 and health are
// immutable after Start; healthy and the counters are atomic; failures is
// guarded by failMu; active/closed are guarded by trackMu.
type Server struct {
	opts    Options
	addr    string
	payload []byte // FixedBodySize bytes, shared read-only by all requests

	srv     *http.Server
	grpcSrv *grpc.Server
	h2      *http2.Server
	health  *health.Server

	healthy atomic.Bool
	nHTTP   atomic.Uint64
	nHealth atomic.Uint64
	nGRPC   atomic.Uint64
	nWS     atomic.Uint64

	failMu   sync.Mutex
	failures map[string]int // x-echo-fail-key → failures already served

	// baseCtx is the parent of every request context; cancelling it ends
	// hijacked connections (h2c upgrades, WebSockets) that http.Server.Close
	// does not track.
	baseCtx context.Context
	cancel  context.CancelFunc

	trackMu sync.Mutex
	active  int           // handlers and hijacked connections still running
	closed  bool          // no new handler may start
	idle    chan struct{} // closed when active drops to 0 after closed

	serveErr  chan error    // Serve's result, read once by Close
	done      chan struct{} // closed when Close has finished
	closeOnce sync.Once
	closeErr  error
	stopWatch func() bool // stops the ctx watcher started by Start
}

// Start listens on opts.Addr and serves until ctx is cancelled or Close is
// called. It returns once the socket is bound, so Addr is immediately dialable.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.FixedBodySize < 0 {
		return nil, fmt.Errorf("echo: FixedBodySize %d: must be ≥ 0", opts.FixedBodySize)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("echo %q: listen %s: %w", opts.Name, opts.Addr, err)
	}

	baseCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		opts:     opts,
		addr:     ln.Addr().String(),
		failures: make(map[string]int),
		baseCtx:  baseCtx,
		cancel:   cancel,
		idle:     make(chan struct{}),
		serveErr: make(chan error, 1),
		done:     make(chan struct{}),
		h2:       &http2.Server{},
		health:   health.NewServer(),
	}
	s.healthy.Store(true)
	if opts.FixedBodySize > 0 {
		s.payload = make([]byte, opts.FixedBodySize)
		for i := range s.payload {
			s.payload[i] = 'a' + byte(i%26)
		}
	}

	s.grpcSrv = grpc.NewServer(grpc.ChainUnaryInterceptor(s.countUnary), grpc.ChainStreamInterceptor(s.countStream))
	healthpb.RegisterHealthServer(s.grpcSrv, s.health)
	s.grpcSrv.RegisterService(&echoServiceDesc, &grpcEcho{s: s})

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, RFC 9113 §3.3
	s.srv = &http.Server{
		Handler:           s,
		Protocols:         protocols,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}

	go func() { s.serveErr <- s.srv.Serve(ln) }()
	s.stopWatch = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

// Addr is the address the server listens on, as host:port.
func (s *Server) Addr() string { return s.addr }

// URL is "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.addr }

// Name is Options.Name.
func (s *Server) Name() string { return s.opts.Name }

// SetHealthy switches /healthz between 200 and 503 and the grpc.health.v1
// status between SERVING and NOT_SERVING, for active health-check tests.
func (s *Server) SetHealthy(ok bool) {
	s.healthy.Store(ok)
	st := healthpb.HealthCheckResponse_SERVING
	if !ok {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(EchoServiceName, st)
}

// Healthy reports what /healthz currently answers.
func (s *Server) Healthy() bool { return s.healthy.Load() }

// Counts returns the request counters.
func (s *Server) Counts() Counts {
	return Counts{HTTP: s.nHTTP.Load(), Health: s.nHealth.Load(), GRPC: s.nGRPC.Load(), WebSocket: s.nWS.Load()}
}

// ResetCounts zeroes the request counters and the x-echo-fail-key memory.
func (s *Server) ResetCounts() {
	s.nHTTP.Store(0)
	s.nHealth.Store(0)
	s.nGRPC.Store(0)
	s.nWS.Store(0)
	s.failMu.Lock()
	clear(s.failures)
	s.failMu.Unlock()
}

// Close stops the server, ends every connection (hijacked ones included) and
// waits for all handlers to return. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stopWatch()
		s.trackMu.Lock()
		s.closed = true
		if s.active == 0 {
			close(s.idle)
		}
		s.trackMu.Unlock()

		s.cancel()
		s.health.Shutdown()
		err := s.srv.Close()
		s.grpcSrv.Stop()
		<-s.idle
		if serr := <-s.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		s.closeErr = err
		close(s.done)
	})
	return s.closeErr
}

// Done is closed once the server has stopped, by Close or by the
// cancellation of Start's context.
func (s *Server) Done() <-chan struct{} { return s.done }

// enter registers a running handler; false once Close has begun.
func (s *Server) enter() bool {
	s.trackMu.Lock()
	defer s.trackMu.Unlock()
	if s.closed {
		return false
	}
	s.active++
	return true
}

func (s *Server) leave() {
	s.trackMu.Lock()
	defer s.trackMu.Unlock()
	s.active--
	if s.active == 0 && s.closed {
		close(s.idle)
	}
}
