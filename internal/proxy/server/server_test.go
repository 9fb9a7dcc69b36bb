package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/http1"
	"github.com/ksgw/ksgw/internal/proxy/server"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

func TestKeepAliveReusesBothSides(t *testing.T) {
	backend, upConns := startBackend(t, okHandler("hello"), false)
	addr, srv, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	for i := range 5 {
		c.send(t, fmt.Sprintf("GET /r%d?x=1 HTTP/1.1\r\nHost: svc.example\r\n\r\n", i))
		resp, body := c.readResponse(t, "GET")
		if resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Path"); got != fmt.Sprintf("/r%d?x=1", i) {
			t.Fatalf("upstream saw path %q", got)
		}
		if got := resp.Header.Get("X-Host"); got != "svc.example" {
			t.Fatalf("upstream saw host %q", got)
		}
	}
	if n := upConns.Load(); n != 1 {
		t.Fatalf("upstream connections = %d, want 1", n)
	}
	if n := srv.ActiveConns(); n != 1 {
		t.Fatalf("ActiveConns = %d, want 1", n)
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	backend, _ := startBackend(t, okHandler("x"), false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	c.send(t, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	for _, want := range []string{"/1", "/2", "/3"} {
		resp, _ := c.readResponse(t, "GET")
		if got := resp.Header.Get("X-Path"); got != want {
			t.Fatalf("path %q, want %q", got, want)
		}
	}
	c.expectClosed(t)
}

func TestHTTP10(t *testing.T) {
	backend, _ := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // no content-length: chunked upstream
		io.WriteString(w, "streamed")
	}), false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})

	t.Run("close-delimited when length unknown", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.send(t, "GET / HTTP/1.0\r\n\r\n")
		resp, body := c.readResponse(t, "GET")
		if resp.StatusCode != 200 || body != "streamed" || resp.ProtoMinor != 0 {
			t.Fatalf("got %d %q HTTP/1.%d", resp.StatusCode, body, resp.ProtoMinor)
		}
		c.expectClosed(t)
	})
}

func TestResponseFramingWithoutBody(t *testing.T) {
	backend, _ := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(304)
		default:
			w.Header().Set("Content-Length", "11")
			io.WriteString(w, "hello world")
		}
	}), false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	tests := []struct {
		name, method, path string
		status             int
		wantLen            string
	}{
		{"HEAD keeps content-length and sends no body", "HEAD", "/", 200, "11"},
		{"204 has no body", "GET", "/204", 204, ""},
		{"304 has no body", "GET", "/304", 304, ""},
	}
	c := dialRaw(t, addr)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.send(t, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: a\r\n\r\n")
			head, err := readHead(c)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(head, fmt.Sprintf("HTTP/1.1 %d", tc.status)) {
				t.Fatalf("head %q", head)
			}
			if strings.Contains(head, "transfer-encoding") {
				t.Fatalf("bodyless response is chunked: %q", head)
			}
			if tc.wantLen != "" && !strings.Contains(head, "content-length: "+tc.wantLen+"\r\n") {
				t.Fatalf("missing content-length %s: %q", tc.wantLen, head)
			}
		})
	}
	// The connection must still be in sync: a normal request works.
	c.send(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := c.readResponse(t, "GET"); body != "hello world" {
		t.Fatalf("connection out of sync, body %q", body)
	}
}

// readHead reads up to the blank line and returns the raw head.
func readHead(c *rawConn) (string, error) {
	var sb strings.Builder
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return sb.String(), err
		}
		sb.WriteString(line)
		if line == "\r\n" {
			return sb.String(), nil
		}
	}
}

func TestMalformedRequestsRejectedBeforeHandler(t *testing.T) {
	backend, _ := startBackend(t, okHandler("x"), false)
	addr, _, fw := startProxy(t, backend, server.Config{
		Limits: http1.Limits{MaxRequestLine: 256, MaxHeaderBytes: 1024, MaxHeaders: 10},
	}, pool.Config{})
	many := strings.Repeat("X-A: 1\r\n", 11)
	tests := []struct {
		name, raw string
		status    int
	}{
		{"CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400},
		{"TE.CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400},
		{"duplicate Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400},
		{"conflicting Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 400},
		{"TE not chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"TE with trailing coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00\r\n\r\n", 400},
		{"control char in name", "GET / HTTP/1.1\r\nHost: a\r\nX\x7f: a\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n", 400},
		{"invalid method", "GE@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"multiple Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad absolute-form", "GET http://user@evil/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"URI too long", "GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"header too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 1100) + "\r\n\r\n", 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + many + "\r\n", 431},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := fw.calls.Load()
			c := dialRaw(t, addr)
			c.send(t, tc.raw)
			resp, _ := c.readResponse(t, "GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			c.expectClosed(t)
			if fw.calls.Load() != before {
				t.Fatal("malformed request reached the handler")
			}
		})
	}
}

func TestChunkSmugglingInBodyClosesConnection(t *testing.T) {
	backend, _ := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}), false)
	addr, _, fw := startProxy(t, backend, server.Config{}, pool.Config{})
	tests := []struct{ name, body string }{
		{"chunk size overflow", "ffffffffffffffffff\r\nx\r\n0\r\n\r\n"},
		{"chunk size with LF only", "3\nabc\r\n0\r\n\r\n"},
		{"non-hex chunk size", "zz\r\nabc\r\n0\r\n\r\n"},
		{"missing CRLF after data", "3\r\nabcX\r\n0\r\n\r\n"},
		{"control char in extension", "3;a=\x01\r\nabc\r\n0\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.send(t, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+tc.body+"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, err := http.ReadResponse(c.br, nil)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				if resp.StatusCode == 200 {
					t.Fatalf("invalid chunked body was accepted")
				}
			}
			c.expectClosed(t)
		})
	}
	_ = fw
}

func TestSlowClientGets408(t *testing.T) {
	backend, _ := startBackend(t, okHandler("x"), false)
	addr, _, fw := startProxy(t, backend, server.Config{ReadHeaderTimeout: 200 * time.Millisecond}, pool.Config{})
	c := dialRaw(t, addr)
	c.send(t, "GET / HTTP/1.1\r\nHost: a\r\n") // never finishes the head
	start := time.Now()
	resp, _ := c.readResponse(t, "GET")
	if resp.StatusCode != 408 {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	c.expectClosed(t)
	if fw.calls.Load() != 0 {
		t.Fatal("handler called")
	}
}

func TestIdleConnectionTimesOut(t *testing.T) {
	backend, _ := startBackend(t, okHandler("x"), false)
	addr, srv, _ := startProxy(t, backend, server.Config{IdleTimeout: 150 * time.Millisecond}, pool.Config{})
	c := dialRaw(t, addr)
	c.send(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	c.readResponse(t, "GET")
	c.expectClosed(t)
	deadline := time.Now().Add(2 * time.Second)
	for srv.ActiveConns() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := srv.ActiveConns(); n != 0 {
		t.Fatalf("ActiveConns = %d after idle close", n)
	}
}

func TestConnectionCloseHonoured(t *testing.T) {
	backend, _ := startBackend(t, okHandler("x"), false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	c.send(t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	resp, _ := c.readResponse(t, "GET")
	if !resp.Close {
		t.Fatal("response does not announce close")
	}
	c.expectClosed(t)
}
