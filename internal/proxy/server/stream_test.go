package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/server"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

// echoHandler streams the request body back as it arrives (full duplex).
var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.WriteHeader(200)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
})

func TestChunkedBodyStreamsBothWaysWithoutBuffering(t *testing.T) {
	backend, _ := startBackend(t, echoHandler, false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	c.SetDeadline(time.Now().Add(60 * time.Second))

	const total = 64 << 20
	const piece = 64 << 10
	firstByte := make(chan struct{})
	sendErr := make(chan error, 1)
	sent := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		bw := bufio.NewWriterSize(c, 128<<10)
		fmt.Fprint(bw, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
		chunk := make([]byte, piece)
		for off := 0; off < total; off += piece {
			for i := range chunk {
				chunk[i] = byte(off/piece + i)
			}
			h.Write(chunk)
			fmt.Fprintf(bw, "%x\r\n", len(chunk))
			bw.Write(chunk)
			bw.WriteString("\r\n")
			if off == piece {
				bw.Flush()
				// The proxy must relay what it has; a buffering proxy would
				// never answer before the body ends and this would time out.
				select {
				case <-firstByte:
				case <-time.After(10 * time.Second):
					sendErr <- fmt.Errorf("no response byte before the body was finished")
					return
				}
			}
		}
		bw.WriteString("0\r\n\r\n")
		sendErr <- bw.Flush()
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		sent <- sum
	}()

	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 {
		t.Fatalf("status %d te %v", resp.StatusCode, resp.TransferEncoding)
	}
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var got int64
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 && got == 0 {
			close(firstByte)
		}
		got += int64(n)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if got != total {
		t.Fatalf("echoed %d bytes, want %d", got, total)
	}
	want := <-sent
	if [32]byte(h.Sum(nil)) != want {
		t.Fatal("echoed body differs")
	}
}

func TestExpectContinue(t *testing.T) {
	backend, _ := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Expect", r.Header.Get("Expect"))
		w.Write(b)
	}), false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	c.send(t, "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q %v, want 100 Continue before the body is sent", line, err)
	}
	if l, _ := c.br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("interim response not terminated: %q", l)
	}
	c.send(t, "hello")
	resp, body := c.readResponse(t, "PUT")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Expect") != "" {
		t.Fatal("Expect leaked upstream")
	}
	// Keep-alive still works afterwards.
	c.send(t, "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok")
	if _, body := c.readResponse(t, "PUT"); body != "ok" {
		t.Fatalf("second body %q", body)
	}
}

func TestBackendClosingMidResponse(t *testing.T) {
	ln := listen(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			}()
		}
	}()
	addr, _, _ := startProxy(t, ln.Addr().String(), server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	c.send(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("truncated body read as complete: %q", b)
	}
	if string(b) != "partial" {
		t.Fatalf("got %q", b)
	}
	c.expectClosed(t)
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	backend, _ := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "done")
	}), false)
	p := pool.New(pool.Config{Addr: backend})
	defer p.Close()
	srv := server.New(server.Config{Handler: newForwarder(p)})
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()

	idle := dialRaw(t, ln.Addr().String()) // an idle keep-alive connection
	idle.send(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	release <- struct{}{}
	idle.readResponse(t, "GET")

	busy := dialRaw(t, ln.Addr().String())
	busy.send(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	idle.expectClosed(t) // idle connections go first
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	close(release)
	resp, body := busy.readResponse(t, "GET")
	if resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Fatalf("in-flight got %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != server.ErrServerClosed {
		t.Fatalf("Serve returned %v", err)
	}
	if n := srv.ActiveConns(); n != 0 {
		t.Fatalf("ActiveConns = %d", n)
	}
}

func TestWebSocketTunnelEcho(t *testing.T) {
	// A minimal upgrade backend: answers 101, then echoes bytes. Any bytes
	// the client sent right after its head must survive the handover.
	ln := listen(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Header.Get("Upgrade") != "websocket" || !strings.Contains(strings.ToLower(req.Header.Get("Connection")), "upgrade") {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
		io.Copy(c, br)
	}()
	addr, _, _ := startProxy(t, ln.Addr().String(), server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	c.send(t, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\nearly-bytes|")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != "x" || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	for i := range 3 {
		msg := "msg-" + strconv.Itoa(i)
		c.send(t, msg)
		want := msg
		if i == 0 {
			want = "early-bytes|" + msg
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c.br, got); err != nil || string(got) != want {
			t.Fatalf("echo %q %v, want %q", got, err, want)
		}
	}
	c.CloseWrite()
	c.expectClosed(t)
}

func (c *rawConn) CloseWrite() { c.Conn.(*net.TCPConn).CloseWrite() }
