// Package pool is the proxy's upstream side for one host: an HTTP/1.1
// keep-alive connection pool speaking the http1 codec (the hot path), an
// HTTP/2 multiplexed client for hosts that declare h2 (gRPC), and the
// upgrade path that hands out a raw connection after 101.
//
// Errors say what failed (ErrConnectFailure, ErrReset, ErrTimeout,
// ErrOverflow, ErrProtocol) so the caller can apply Envoy's retry_on
// (connect-failure, reset, 5xx) itself; the pool retries only the one case
// that is always safe: a reused keep-alive connection that the upstream had
// already closed, for a request without a body.
package pool

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/http1"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Config describes one upstream host. Zero values take the defaults noted.
type Config struct {
	// Addr is host:port, e.g. "127.0.0.7:8080".
	Addr string
	// HTTP2 selects the multiplexed h2c client (cluster declares
	// http2_protocol_options, as gRPC clusters do).
	HTTP2 bool

	MaxConns           int           // open connections; default 1024 (Envoy circuit breaker max_connections)
	MaxPending         int           // requests waiting for a connection; default 1024 (max_pending_requests)
	MaxIdle            int           // idle keep-alive connections kept; default MaxConns
	IdleTimeout        time.Duration // idle connection lifetime; default 60s
	MaxRequestsPerConn int           // 0 = unlimited (max_requests_per_connection)
	ConnectTimeout     time.Duration // default 5s (Envoy's connect_timeout default)
	Limits             http1.Limits  // response head limits

	// Dial replaces the default dialer (tests, later TLS).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Stats are plain counters for the metrics work to export.
type Stats struct {
	Active          int64 // open connections (HTTP/1 and HTTP/2)
	Idle            int64 // HTTP/1 connections waiting in the pool
	Pending         int64 // requests waiting for a connection (MaxConns reached)
	Dials           int64
	ConnectFailures int64
	Requests        int64
	Retries         int64 // stale keep-alive connections transparently retried
}

// ErrorKind classifies a failed exchange for retry decisions.
type ErrorKind uint8

const (
	KindConnect  ErrorKind = iota + 1 // dial failed or timed out: nothing was sent
	KindReset                         // connection failed before the response head
	KindTimeout                       // deadline of ctx passed before the response head
	KindCanceled                      // ctx cancelled
	KindOverflow                      // MaxConns and MaxPending exhausted
	KindProtocol                      // upstream sent an invalid response head
)

// Sentinels for errors.Is.
var (
	ErrConnectFailure = errors.New("upstream connect failure")
	ErrReset          = errors.New("upstream reset before response headers")
	ErrTimeout        = errors.New("upstream timeout")
	ErrCanceled       = errors.New("upstream request canceled")
	ErrOverflow       = errors.New("upstream connection pool overflow")
	ErrProtocol       = errors.New("upstream protocol error")
	ErrClosed         = errors.New("upstream pool closed")
)

// Error is returned by RoundTrip and Upgrade.
type Error struct {
	Kind ErrorKind
	Err  error
}

func (e *Error) Error() string {
	s := e.sentinel().Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Is(target error) bool { return target == e.sentinel() }

func (e *Error) sentinel() error {
	switch e.Kind {
	case KindConnect:
		return ErrConnectFailure
	case KindReset:
		return ErrReset
	case KindTimeout:
		return ErrTimeout
	case KindCanceled:
		return ErrCanceled
	case KindOverflow:
		return ErrOverflow
	}
	return ErrProtocol
}

// Pool is the client for one upstream host. Safe for concurrent use. The
// idle list and counts are guarded by mu; counters are atomic.
type Pool struct {
	cfg  Config
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu      sync.Mutex
	idle    []*conn // LIFO: the most recently used connection is the warmest
	total   int     // HTTP/1 connections open or being dialled
	waiters []chan *conn
	closed  bool

	active, dials, connectFailures, requests, retries atomic.Int64

	h2 *http.Transport // nil unless cfg.HTTP2

	stop    chan struct{}
	sweeper sync.WaitGroup
	free    sync.Pool // *conn with buffers, reused across dials
}

// New returns a Pool for cfg.Addr. Close it when the host is removed.
func New(cfg Config) *Pool {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1024
	}
	// Envoy keeps every upstream connection until its idle timeout; it
	// has no cap on idle connections below max_connections. A lower cap
	// closes connections that the next burst must dial again, which under
	// many concurrent streams (h2 downstream) turns into connection churn.
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = cfg.MaxConns
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	p := &Pool{cfg: cfg, stop: make(chan struct{})}
	p.dial = cfg.Dial
	if p.dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		p.dial = d.DialContext
	}
	if cfg.HTTP2 {
		p.h2 = newH2Transport(p)
	}
	p.sweeper.Add(1)
	go p.sweep()
	return p
}

// Stats returns a snapshot of the counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	idle, pending := len(p.idle), len(p.waiters)
	p.mu.Unlock()
	return Stats{
		Active: p.active.Load(), Idle: int64(idle), Pending: int64(pending), Dials: p.dials.Load(),
		ConnectFailures: p.connectFailures.Load(), Requests: p.requests.Load(), Retries: p.retries.Load(),
	}
}

// Close closes idle connections and stops the pool; connections in use are
// closed when their responses are released.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	for _, w := range p.waiters {
		close(w)
	}
	p.waiters = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.destroy()
	}
	close(p.stop)
	p.sweeper.Wait()
	if p.h2 != nil {
		p.h2.CloseIdleConnections()
	}
	return nil
}

// sweep closes idle connections past IdleTimeout, so an upstream is not
// left holding sockets for a pool that went quiet (Envoy's idle_timeout).
func (p *Pool) sweep() {
	defer p.sweeper.Done()
	period := max(p.cfg.IdleTimeout/2, 100*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			var expired []*conn
			p.mu.Lock()
			keep := p.idle[:0]
			for _, c := range p.idle {
				if now.Sub(c.idleSince) >= p.cfg.IdleTimeout {
					expired = append(expired, c)
				} else {
					keep = append(keep, c)
				}
			}
			clear(p.idle[len(keep):])
			p.idle = keep
			p.mu.Unlock()
			for _, c := range expired {
				c.destroy()
			}
		}
	}
}

// get returns an idle connection or dials one, waiting (bounded by ctx and
// MaxPending) when MaxConns are all in use.
func (p *Pool) get(ctx context.Context) (*conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, &Error{Kind: KindConnect, Err: ErrClosed}
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		c.reused = true
		return c, nil
	}
	if p.total < p.cfg.MaxConns {
		p.total++
		p.mu.Unlock()
		return p.dialConn(ctx)
	}
	if len(p.waiters) >= p.cfg.MaxPending {
		p.mu.Unlock()
		return nil, &Error{Kind: KindOverflow}
	}
	w := make(chan *conn, 1)
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case c, ok := <-w:
		if !ok {
			return nil, &Error{Kind: KindConnect, Err: ErrClosed}
		}
		if c == nil {
			return p.dialConn(ctx) // a slot was handed over
		}
		c.reused = true
		return c, nil
	case <-ctx.Done():
		p.mu.Lock()
		for i, x := range p.waiters {
			if x == w {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				p.mu.Unlock()
				return nil, ctxError(ctx)
			}
		}
		p.mu.Unlock()
		// Lost the race: something was handed to us; give it back.
		if c, ok := <-w; ok {
			if c == nil {
				p.releaseSlot()
			} else {
				p.put(c)
			}
		}
		return nil, ctxError(ctx)
	}
}

func ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Kind: KindTimeout, Err: ctx.Err()}
	}
	return &Error{Kind: KindCanceled, Err: ctx.Err()}
}

func (p *Pool) dialConn(ctx context.Context) (*conn, error) {
	p.dials.Add(1)
	dctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	nc, err := p.dial(dctx, "tcp", p.cfg.Addr)
	cancel()
	if err != nil {
		p.connectFailures.Add(1)
		p.releaseSlot()
		if ctx.Err() != nil {
			return nil, ctxError(ctx)
		}
		return nil, &Error{Kind: KindConnect, Err: err}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	p.active.Add(1)
	c, _ := p.free.Get().(*conn)
	if c == nil {
		c = newConn()
	}
	c.attach(p, nc)
	return c, nil
}

// put returns a healthy connection after a complete exchange.
func (p *Pool) put(c *conn) {
	if p.cfg.MaxRequestsPerConn > 0 && c.requests >= p.cfg.MaxRequestsPerConn {
		p.discard(c)
		return
	}
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- c
		return
	}
	if p.closed || len(p.idle) >= p.cfg.MaxIdle {
		p.mu.Unlock()
		p.discard(c)
		return
	}
	c.idleSince = time.Now()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// discard closes a connection and frees its slot.
func (p *Pool) discard(c *conn) {
	c.destroy()
}

// releaseSlot gives a connection slot back, to a waiter if there is one.
func (p *Pool) releaseSlot() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- nil
		return
	}
	p.total--
	p.mu.Unlock()
}

// RoundTrip sends req and returns the response once its head arrived. The
// request body streams up while the response streams down (an echo upstream
// works for any size). The caller must Close resp.Body exactly once; the
// Response is invalid afterwards. A body not read to EOF closes the
// connection instead of pooling it.
func (p *Pool) RoundTrip(ctx context.Context, req *httpmsg.Request) (*httpmsg.Response, error) {
	p.requests.Add(1)
	if p.h2 != nil {
		return p.roundTripH2(ctx, req)
	}
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		reused := c.reused
		c.destroy()
		// The upstream may close a keep-alive connection just as we reuse it
		// (RFC 9112 §9.3.1); nothing was processed, so one retry on a fresh
		// connection is safe when there is no body to replay.
		var pe *Error
		if attempt == 0 && reused && errors.As(err, &pe) && pe.Kind == KindReset && http1.RequestFraming(req).Kind == http1.FramingNone {
			p.retries.Add(1)
			continue
		}
		return nil, err
	}
}

func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxError(ctx)
	}
	var pe *http1.Error
	if errors.As(err, &pe) {
		return &Error{Kind: KindProtocol, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: KindTimeout, Err: err}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return &Error{Kind: KindReset, Err: err}
	}
	return &Error{Kind: KindReset, Err: err}
}
