package echo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// net/http serves h2c with prior knowledge itself (Server.Protocols) but not
// the HTTP/1.1 "Upgrade: h2c" handshake of RFC 7540 §3.2, which RFC 9113
// deprecated yet Envoy's codec and older clients still send. The deprecated
// x/net/http2/h2c package did both; this is the Upgrade half of it, built on
// http2.Server.ServeConn's UpgradeRequest support.

// maxUpgradeBody bounds the request body read before switching protocols:
// the first request must be fully read, since HTTP/2 takes over the socket.
const maxUpgradeBody = 1 << 20

func isH2CUpgrade(r *http.Request) bool {
	return r.ProtoMajor == 1 &&
		httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "h2c") &&
		httpguts.HeaderValuesContainsToken(r.Header["Connection"], "HTTP2-Settings") &&
		len(r.Header.Values("HTTP2-Settings")) == 1
}

func (s *Server) serveH2CUpgrade(w http.ResponseWriter, r *http.Request) {
	// RFC 7540 §3.2.1: the value is base64url without padding; tolerate
	// padding since some clients send it.
	raw := strings.TrimRight(r.Header.Get("HTTP2-Settings"), "=")
	settings, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		http.Error(w, "bad HTTP2-Settings: "+err.Error(), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUpgradeBody))
	if err != nil {
		http.Error(w, "h2c upgrade body: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	// ServeConn hands UpgradeRequest to the handler as stream 1 unchanged;
	// make it look like what it now is, an HTTP/2 request, without the
	// hop-by-hop upgrade headers (RFC 9110 §7.6.1).
	up := r.Clone(r.Context())
	up.Body = io.NopCloser(bytes.NewReader(body))
	up.Proto, up.ProtoMajor, up.ProtoMinor = "HTTP/2.0", 2, 0
	for _, h := range []string{"Connection", "Upgrade", "HTTP2-Settings"} {
		up.Header.Del(h)
	}

	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "h2c upgrade: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	// http.Server.Close does not know hijacked connections; tie this one to
	// the server's lifetime so Close ends it and this handler returns.
	stop := context.AfterFunc(s.baseCtx, func() { _ = conn.Close() })
	defer stop()

	if _, err := rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"); err != nil {
		return
	}
	if err := rw.Flush(); err != nil {
		return
	}
	s.h2.ServeConn(&bufferedConn{Conn: conn, r: rw.Reader}, &http2.ServeConnOpts{
		Context:        s.baseCtx,
		BaseConfig:     s.srv,
		Handler:        s,
		UpgradeRequest: up,
		Settings:       settings,
	})
}

// bufferedConn reads first what the HTTP/1 server already buffered (the
// client may pipeline its connection preface right after the upgrade).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
