// Package server serves downstream HTTP connections for the proxy: HTTP/1.x
// through the proxy's own codec (the hot path), HTTP/2 by prior knowledge or
// h2c Upgrade through golang.org/x/net/http2, and upgrades (WebSocket)
// through Hijack. It calls one Handler per request and never lets a
// malformed request reach it.
package server

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/ksgw/ksgw/internal/proxy/http1"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Handler serves one request. ctx is the server's base context: it is not
// cancelled per request (that would cost an allocation per request); a
// handler that needs a deadline derives one. The Request and everything it
// points to are only valid until ServeHTTP returns.
type Handler interface {
	ServeHTTP(ctx context.Context, w httpmsg.ResponseWriter, r *httpmsg.Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, w httpmsg.ResponseWriter, r *httpmsg.Request)

func (f HandlerFunc) ServeHTTP(ctx context.Context, w httpmsg.ResponseWriter, r *httpmsg.Request) {
	f(ctx, w, r)
}

// Config is the server's configuration. Zero durations take the defaults
// given on each field; a negative duration disables that timeout.
type Config struct {
	Handler Handler

	// ReadHeaderTimeout bounds reading one request head once its first byte
	// arrived; a slow client gets 408 and is closed. Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds waiting for the next request on a keep-alive
	// connection, and for each read of a request body (Envoy's
	// stream_idle_timeout plays that role). Default 60s.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to the client, counted from the
	// response head or the last Flush, so a client that stops reading is
	// dropped while a long stream that keeps moving is not. Default off.
	WriteTimeout time.Duration

	Limits http1.Limits

	// MaxBodyDrain is how much unread request body the server discards to
	// keep a connection alive after the handler; beyond it the connection
	// closes. Default 256 KiB.
	MaxBodyDrain int64

	// H2 tunes HTTP/2; nil uses x/net defaults.
	H2 *http2.Server
	// DisableH2 refuses prior-knowledge HTTP/2 and ignores h2c upgrades.
	DisableH2 bool

	Logger *slog.Logger
}

// Server serves connections from listeners. Create with New; the Config is
// immutable after New. Connection bookkeeping is guarded by mu; counters are
// atomic.
type Server struct {
	cfg     Config
	h2      *http2.Server
	h2state *h2Shutdown

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // one per connection goroutine and per Serve

	shutting atomic.Bool
	active   atomic.Int64 // open downstream connections
	requests atomic.Int64 // requests served (HTTP/1 and HTTP/2)

	pool sync.Pool // *conn with its buffers, reused across connections
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server: closed")

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxBodyDrain == 0 {
		cfg.MaxBodyDrain = 256 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
	s.h2 = cfg.H2
	if s.h2 == nil {
		s.h2 = &http2.Server{}
	}
	s.h2state = newH2Shutdown(s.h2)
	return s
}

// ActiveConns reports the open downstream connections (for metrics).
func (s *Server) ActiveConns() int64 { return s.active.Load() }

// Requests reports the requests served so far (for metrics).
func (s *Server) Requests() int64 { return s.requests.Load() }

// Serve accepts connections from ln until ln fails or the server shuts
// down; it returns ErrServerClosed after Shutdown/Close. ctx is the base
// context handed to handlers; cancelling it does not stop Serve (use
// Shutdown), so a config generation can be retired without dropping traffic.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	// Handlers get a context without cancellation: see Handler.
	base := context.WithoutCancel(ctx)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Temporary accept failure (EMFILE): back off as net/http does
				// instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(nc)
		if c == nil {
			nc.Close()
			continue
		}
		go c.serve(base)
	}
}

func (s *Server) newConn(nc net.Conn) *conn {
	c, _ := s.pool.Get().(*conn)
	if c == nil {
		c = &conn{srv: s, br: bufio.NewReaderSize(nil, 4096), bw: bufio.NewWriterSize(nil, 4096)}
		c.parser.Limits = s.cfg.Limits
		c.rw.c = c
	}
	c.nc = nc
	c.br.Reset(nc)
	c.bw.Reset(nc)
	c.state.Store(stateActive)
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		s.pool.Put(c)
		return nil
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.active.Add(1)
	return c
}

func (s *Server) releaseConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.active.Add(-1)
	c.nc = nil
	c.br.Reset(nil)
	c.bw.Reset(nil)
	c.req.Reset()
	s.pool.Put(c)
	s.wg.Done()
}

// Shutdown stops accepting, lets in-flight requests finish (HTTP/1
// connections close after their current response; HTTP/2 connections get
// GOAWAY), closes idle keep-alive connections, and waits for all connections
// to end. When ctx ends first, the remaining connections are closed and
// ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.h2state.start()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			s.Close()
			<-done
			return ctx.Err()
		case <-tick.C:
			// Connections become idle as their responses finish; poll like
			// net/http's Shutdown rather than signal on every request end,
			// which would put a wake-up on the hot path.
		}
	}
}

// closeIdle closes connections waiting for a next request. The CAS makes a
// connection that just received bytes either win (and get closed after its
// response) or lose (and be closed now, which a client treats as the usual
// keep-alive race, RFC 9112 §9.3.1).
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosing) {
			c.nc.Close()
		}
	}
}

// Close closes listeners and all connections at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutting.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.state.Store(stateClosing)
		c.nc.Close()
	}
	s.mu.Unlock()
	return nil
}
