package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ksgw/ksgw/internal/proxy/server"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestH2CPriorKnowledge(t *testing.T) {
	backend, _ := startBackend(t, okHandler("over h1 upstream"), false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	cl := h2cClient()
	defer cl.CloseIdleConnections()
	for i := range 3 {
		resp, err := cl.Get("http://" + addr + "/h2?i=" + string(rune('0'+i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(b) != "over h1 upstream" {
			t.Fatalf("proto %d status %d body %q", resp.ProtoMajor, resp.StatusCode, b)
		}
		if resp.Header.Get("X-Path") != "/h2?i="+string(rune('0'+i)) {
			t.Fatalf("upstream path %q", resp.Header.Get("X-Path"))
		}
	}
}

func TestH2CUpgrade(t *testing.T) {
	backend, _ := startBackend(t, okHandler("upgraded"), false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	// Empty SETTINGS payload, base64url: "".
	c.send(t, "GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n")
	head, err := readHead(c)
	if err != nil || !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("head %q %v", head, err)
	}
	c.send(t, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	fr := http2.NewFramer(c, c.br)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// The upgrade request is stream 1; its response arrives as HEADERS and
	// DATA on stream 1 (RFC 7540 §3.2).
	var status, body string
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status = f.Value
		}
	})
	for done := false; !done; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			if f.StreamID != 1 {
				t.Fatalf("stream %d", f.StreamID)
			}
			dec.Write(f.HeaderBlockFragment())
			done = f.StreamEnded()
		case *http2.DataFrame:
			body += string(f.Data())
			done = f.StreamEnded()
		}
	}
	if status != "200" || body != "upgraded" {
		t.Fatalf("status %q body %q", status, body)
	}
}

// grpcBackend answers like a gRPC server: a length-prefixed message and
// grpc-status/grpc-message trailers, echoing a streamed request.
var grpcBackend = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" {
		w.WriteHeader(400)
		return
	}
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
	w.WriteHeader(200)
	buf := make([]byte, 1024)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err != nil {
			break
		}
	}
	w.Header().Set("Grpc-Status", "7")
	w.Header().Set("Grpc-Message", "denied")
})

func TestGRPCStreamingAndTrailersOverH2(t *testing.T) {
	backend, _ := startBackend(t, grpcBackend, true)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{HTTP2: true})
	cl := h2cClient()
	defer cl.CloseIdleConnections()

	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+addr+"/pkg.Svc/Chat", pr)
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	respc := make(chan *http.Response, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := cl.Do(req)
		if err != nil {
			errc <- err
			return
		}
		respc <- resp
	}()
	msg := []byte{0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}
	pw.Write(msg)
	var resp *http.Response
	select {
	case resp = <-respc:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no response head while the request stream is open")
	}
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("status %d proto %d", resp.StatusCode, resp.ProtoMajor)
	}
	// Bidirectional: the first message comes back before the client ends.
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(resp.Body, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("first message %v %v", got, err)
	}
	pw.Write(msg)
	pw.Close()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(rest, msg) {
		t.Fatalf("second message %v %v", rest, err)
	}
	if resp.Trailer.Get("Grpc-Status") != "7" || resp.Trailer.Get("Grpc-Message") != "denied" {
		t.Fatalf("trailers %v", resp.Trailer)
	}
}

func TestH2CPriorKnowledgeOnlyWhenPrefaceMatches(t *testing.T) {
	// A short HTTP/1.0 request that starts like the preface's first letter
	// must not wait for 24 bytes.
	backend, _ := startBackend(t, okHandler("x"), false)
	addr, _, _ := startProxy(t, backend, server.Config{}, pool.Config{})
	c := dialRaw(t, addr)
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.send(t, "PUT / HTTP/1.0\r\n\r\n")
	resp, _ := c.readResponse(t, "PUT")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
