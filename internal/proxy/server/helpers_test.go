package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/server"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

// forwarder is the handler the tests put in front of real backends; it is
// the same pattern bench/engine/fixedproxy uses.
type forwarder struct {
	pool  *pool.Pool
	calls atomic.Int64
	bufs  sync.Pool
}

func newForwarder(p *pool.Pool) *forwarder {
	return &forwarder{pool: p, bufs: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (f *forwarder) ServeHTTP(ctx context.Context, w httpmsg.ResponseWriter, r *httpmsg.Request) {
	f.calls.Add(1)
	if r.Upgrade != "" {
		resp, up, err := f.pool.Upgrade(ctx, r)
		if err != nil {
			w.WriteHeader(502, nil)
			return
		}
		if up == nil {
			defer resp.Body.Close()
			w.WriteHeader(resp.Status, &resp.Header)
			httpmsg.Copy(w, resp.Body, make([]byte, 4096))
			return
		}
		defer up.Close()
		w.WriteHeader(101, &resp.Header)
		down, err := w.Hijack()
		if err != nil {
			return
		}
		server.Splice(ctx, down, up)
		return
	}
	resp, err := f.pool.RoundTrip(ctx, r)
	if err != nil {
		var h httpmsg.Header
		h.Add("content-length", "0")
		h.Add("x-error", err.Error())
		w.WriteHeader(502, &h)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.Status, &resp.Header)
	bp := f.bufs.Get().(*[]byte)
	_, err = httpmsg.Copy(w, resp.Body, *bp)
	f.bufs.Put(bp)
	if err != nil {
		w.Abort()
		return
	}
	if resp.Trailer.Len() > 0 {
		w.WriteTrailer(&resp.Trailer)
	}
}

// listen opens a loopback listener closed at test end.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// startBackend serves h over HTTP/1.1 (and h2c when h2 is set).
func startBackend(t testing.TB, h http.Handler, h2 bool) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln := listen(t)
	conns = new(atomic.Int64)
	hs := &http.Server{Handler: h, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	if h2 {
		hs.Protocols = new(http.Protocols)
		hs.Protocols.SetHTTP1(true)
		hs.Protocols.SetUnencryptedHTTP2(true)
	}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(ln) }()
	t.Cleanup(func() {
		hs.Close()
		<-done
	})
	return ln.Addr().String(), conns
}

// startProxy runs server+pool in front of backend.
func startProxy(t testing.TB, backend string, cfg server.Config, pcfg pool.Config) (addr string, srv *server.Server, fw *forwarder) {
	t.Helper()
	pcfg.Addr = backend
	p := pool.New(pcfg)
	fw = newForwarder(p)
	if cfg.Handler == nil {
		cfg.Handler = fw
	}
	srv = server.New(cfg)
	ln := listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil && !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		p.Close()
	})
	return ln.Addr().String(), srv, fw
}

// rawConn is a client connection that speaks bytes, for framing tests.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// readResponse reads one response with net/http's client parser (an
// independent implementation, so the tests do not grade our codec with
// itself).
func (c *rawConn) readResponse(t testing.TB, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// expectClosed asserts the peer closed the connection.
func (c *rawConn) expectClosed(t testing.TB) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := c.br.ReadByte()
	if err == nil {
		t.Fatalf("connection still open, read %q", b)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection not closed")
	}
}

func okHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.URL.RequestURI())
		w.Header().Set("X-Host", r.Host)
		io.WriteString(w, body)
	})
}
