package pool_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// rawBackend runs fn for each accepted connection; it counts connections.
func rawBackend(t *testing.T, fn func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int64) {
	t.Helper()
	ln := listen(t)
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				fn(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String(), &n
}

// serveN answers up to n requests per connection with body, then closes.
func serveN(n int, body string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for i := 0; i < n; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func newPool(t *testing.T, cfg pool.Config) *pool.Pool {
	p := pool.New(cfg)
	t.Cleanup(func() { p.Close() })
	return p
}

func get(path string) *httpmsg.Request {
	r := &httpmsg.Request{Method: "GET", Path: path, Authority: "up.test", Proto: httpmsg.HTTP11, Body: httpmsg.NoBody}
	return r
}

func roundTripBody(t *testing.T, p *pool.Pool, r *httpmsg.Request) (int, string, error) {
	t.Helper()
	resp, err := p.RoundTrip(context.Background(), r)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.Status, string(b), err
}

func TestKeepAliveConnectionReused(t *testing.T) {
	addr, conns := rawBackend(t, serveN(100, "ok"))
	p := newPool(t, pool.Config{Addr: addr})
	for range 10 {
		if st, body, err := roundTripBody(t, p, get("/")); err != nil || st != 200 || body != "ok" {
			t.Fatalf("%d %q %v", st, body, err)
		}
	}
	if conns.Load() != 1 {
		t.Fatalf("dialled %d connections, want 1", conns.Load())
	}
	if s := p.Stats(); s.Active != 1 || s.Idle != 1 || s.Requests != 10 {
		t.Fatalf("stats %+v", s)
	}
}

func TestErrorKinds(t *testing.T) {
	// A port with no listener: connect failure.
	ln := listen(t)
	closedAddr := ln.Addr().String()
	ln.Close()

	resetAddr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br) // read, then close without answering
	})
	silentAddr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		time.Sleep(2 * time.Second)
	})
	garbageAddr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
	})
	tests := []struct {
		name    string
		addr    string
		timeout time.Duration
		want    error
	}{
		{"refused connection is a connect failure", closedAddr, 0, pool.ErrConnectFailure},
		{"close before response head is a reset", resetAddr, 0, pool.ErrReset},
		{"deadline before response head is a timeout", silentAddr, 100 * time.Millisecond, pool.ErrTimeout},
		{"invalid response framing is a protocol error", garbageAddr, 0, pool.ErrProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, pool.Config{Addr: tc.addr})
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := p.RoundTrip(ctx, get("/"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if s := p.Stats(); s.Active != 0 {
				t.Fatalf("connection leaked: %+v", s)
			}
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	p := newPool(t, pool.Config{Addr: "127.0.0.1:1", ConnectTimeout: 50 * time.Millisecond,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}})
	start := time.Now()
	_, err := p.RoundTrip(context.Background(), get("/"))
	if !errors.Is(err, pool.ErrConnectFailure) || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if p.Stats().ConnectFailures != 1 {
		t.Fatalf("stats %+v", p.Stats())
	}
}

func TestBrokenConnectionNotReused(t *testing.T) {
	var calls atomic.Int64
	addr, conns := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if calls.Add(1) == 1 {
				// Promise 100 bytes, send 3, then keep the connection open:
				// only the pool's own bookkeeping can keep it out of reuse.
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := newPool(t, pool.Config{Addr: addr})
	resp, err := p.RoundTrip(context.Background(), get("/"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	io.ReadFull(resp.Body, buf)
	resp.Body.Close() // body not read to the end
	if st, body, err := roundTripBody(t, p, get("/")); err != nil || st != 200 || body != "ok" {
		t.Fatalf("%d %q %v", st, body, err)
	}
	if conns.Load() != 2 {
		t.Fatalf("connections = %d, want 2 (partial body must not be pooled)", conns.Load())
	}
}

func TestMidBodyCloseIsAnError(t *testing.T) {
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	})
	p := newPool(t, pool.Config{Addr: addr})
	_, body, err := roundTripBody(t, p, get("/"))
	if !errors.Is(err, io.ErrUnexpectedEOF) || body != "hello" {
		t.Fatalf("body %q err %v", body, err)
	}
	if s := p.Stats(); s.Active != 0 || s.Idle != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestStaleIdleConnectionRetriedOnce(t *testing.T) {
	addr, conns := rawBackend(t, serveN(1, "ok")) // closes after each response
	p := newPool(t, pool.Config{Addr: addr})
	for range 3 {
		if st, body, err := roundTripBody(t, p, get("/")); err != nil || st != 200 || body != "ok" {
			t.Fatalf("%d %q %v", st, body, err)
		}
	}
	if conns.Load() < 3 {
		t.Fatalf("conns %d", conns.Load())
	}
}

func TestMaxRequestsPerConnection(t *testing.T) {
	addr, conns := rawBackend(t, serveN(100, "ok"))
	p := newPool(t, pool.Config{Addr: addr, MaxRequestsPerConn: 2})
	for range 6 {
		if _, _, err := roundTripBody(t, p, get("/")); err != nil {
			t.Fatal(err)
		}
	}
	if conns.Load() != 3 {
		t.Fatalf("conns %d, want 3", conns.Load())
	}
}

func TestIdleTimeoutClosesConnections(t *testing.T) {
	addr, _ := rawBackend(t, serveN(100, "ok"))
	p := newPool(t, pool.Config{Addr: addr, IdleTimeout: 100 * time.Millisecond})
	roundTripBody(t, p, get("/"))
	deadline := time.Now().Add(3 * time.Second)
	for p.Stats().Active != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("idle connection not closed: %+v", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxConnsQueuesThenOverflows(t *testing.T) {
	release := make(chan struct{})
	addr, conns := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			<-release
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := newPool(t, pool.Config{Addr: addr, MaxConns: 1, MaxPending: 1})
	results := make(chan error, 2)
	for range 2 {
		go func() {
			_, _, err := roundTripBody(t, p, get("/"))
			results <- err
		}()
	}
	// Two requests: one on the connection, one pending. A third overflows.
	deadline := time.Now().Add(3 * time.Second)
	for s := p.Stats(); s.Active != 1 || s.Pending != 1; s = p.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := p.RoundTrip(context.Background(), get("/"))
	if !errors.Is(err, pool.ErrOverflow) {
		t.Fatalf("err %v, want overflow", err)
	}
	close(release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if conns.Load() != 1 {
		t.Fatalf("conns %d, want 1", conns.Load())
	}
}

func TestRequestBodyFramingUpstream(t *testing.T) {
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			out := req.Method + " " + strings.Join(req.TransferEncoding, ",") + " " + itoa(int(req.ContentLength)) + " " + string(b) + " " + req.Trailer.Get("X-T")
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(len(out))+"\r\n\r\n"+out)
		}
	})
	p := newPool(t, pool.Config{Addr: addr})
	tests := []struct {
		name    string
		req     *httpmsg.Request
		want    string
		trailer string
	}{
		{"known length", &httpmsg.Request{Method: "POST", Path: "/", Authority: "a", ContentLength: 5, Body: strings.NewReader("hello")}, "POST  5 hello ", ""},
		{"unknown length is chunked with trailers", &httpmsg.Request{Method: "POST", Path: "/", Authority: "a", ContentLength: -1, Body: &trailerBody{Reader: strings.NewReader("streamed")}}, "POST chunked -1 streamed tv", "tv"},
		{"empty POST sends content-length 0", &httpmsg.Request{Method: "POST", Path: "/", Authority: "a", Body: httpmsg.NoBody}, "POST  0  ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body, err := roundTripBody(t, p, tc.req)
			if err != nil || st != 200 || body != tc.want {
				t.Fatalf("%d %q %v, want %q", st, body, err, tc.want)
			}
		})
	}
}

type trailerBody struct {
	*strings.Reader
	tr httpmsg.Header
}

func (b *trailerBody) Trailers() *httpmsg.Header {
	b.tr.Reset()
	b.tr.Add("x-t", "tv")
	return &b.tr
}

func TestUpgradeReturnsRawConnection(t *testing.T) {
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil || req.Header.Get("Upgrade") != "websocket" {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhi|")
		io.Copy(c, br)
	})
	p := newPool(t, pool.Config{Addr: addr})
	req := get("/ws")
	req.Upgrade = "websocket"
	resp, tun, err := p.Upgrade(context.Background(), req)
	if err != nil || resp.Status != 101 || tun == nil {
		t.Fatalf("%v %v", resp, err)
	}
	io.WriteString(tun, "ping")
	got := make([]byte, 7)
	if _, err := io.ReadFull(tun, got); err != nil || string(got) != "hi|ping" {
		t.Fatalf("%q %v", got, err)
	}
	tun.Close()
	if s := p.Stats(); s.Active != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestH2ClientMultiplexesAndKeepsTrailers(t *testing.T) {
	ln := listen(t)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		io.WriteString(w, "proto="+r.Proto)
		w.Header().Set("Grpc-Status", "0")
	}), Protocols: new(http.Protocols)}
	hs.Protocols.SetUnencryptedHTTP2(true)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	p := newPool(t, pool.Config{Addr: ln.Addr().String(), HTTP2: true})
	for range 5 {
		resp, err := p.RoundTrip(context.Background(), get("/svc"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "proto=HTTP/2.0" || resp.Trailer.Get("grpc-status") != "0" {
			t.Fatalf("%q trailers %v", b, resp.Trailer.Fields())
		}
	}
	if s := p.Stats(); s.Dials != 1 {
		t.Fatalf("dials %d, want 1 multiplexed connection", s.Dials)
	}
}
