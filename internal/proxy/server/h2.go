package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/ksgw/ksgw/internal/proxy/http1"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// h2Shutdown reaches x/net's graceful shutdown (GOAWAY to every live
// connection), which is only exposed through an http.Server configured with
// http2.ConfigureServer.
type h2Shutdown struct {
	hs   *http.Server
	once sync.Once
}

func newH2Shutdown(h2s *http2.Server) *h2Shutdown {
	hs := &http.Server{}
	http2.ConfigureServer(hs, h2s)
	return &h2Shutdown{hs: hs}
}

func (h *h2Shutdown) start() {
	h.once.Do(func() {
		// hs has no listeners or conns of its own: Shutdown only runs the
		// registered GOAWAY hook and returns.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.hs.Shutdown(ctx)
	})
}

// bufferedConn lets x/net read the bytes our bufio.Reader already took off
// the socket (the preface, or the first frames after an h2c upgrade).
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func (c *conn) serveH2(ctx context.Context, upgrade *http.Request, settings []byte) {
	c.nc.SetDeadline(time.Time{}) // x/net manages its own timeouts
	h := &h2Handler{srv: c.srv, ctx: ctx, remote: c.remote, local: c.local, peer: c.peer, tls: c.tls}
	// x/net's frame reader goroutine can outlive ServeConn until the socket
	// closes, so the buffered reader goes with it and the pooled conn gets
	// a fresh one.
	br := c.br
	c.br = bufio.NewReaderSize(nil, br.Size())
	c.srv.h2.ServeConn(&bufferedConn{Conn: c.nc, r: br}, &http2.ServeConnOpts{
		Context:        ctx,
		BaseConfig:     c.srv.h2state.hs,
		Handler:        h,
		UpgradeRequest: upgrade,
		Settings:       settings,
	})
}

// h2cUpgrade takes over a request carrying "Upgrade: h2c" (RFC 7540 §3.2;
// removed from RFC 9113 but still sent by clients such as curl --http2).
// Requests with a body are served as HTTP/1.1 instead: the body would have to
// be buffered whole before switching, and ignoring Upgrade is always allowed.
func (c *conn) h2cUpgrade(ctx context.Context, fr http1.Framing) bool {
	req := &c.req
	if !tokenListHas(req.Upgrade, "h2c") {
		return false
	}
	raw, ok := req.Header.Lookup("http2-settings")
	req.Header.Del("http2-settings")
	if c.srv.cfg.DisableH2 || !ok || fr.Kind != http1.FramingNone || req.Proto != httpmsg.HTTP11 {
		req.Upgrade = ""
		return false
	}
	settings, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "="))
	if err != nil {
		req.Upgrade = ""
		return false
	}
	hr := toHTTPRequest(ctx, req)
	c.bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n")
	if c.bw.Flush() != nil {
		return true
	}
	c.serveH2(ctx, hr, settings)
	return true
}

func tokenListHas(list, tok string) bool {
	found := false
	for len(list) > 0 {
		i := strings.IndexByte(list, ',')
		t := list
		if i >= 0 {
			t, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		if httpmsg.EqualFold(strings.TrimSpace(t), tok) {
			found = true
		}
	}
	return found
}

// toHTTPRequest builds the h2c upgrade request for x/net (served as stream 1).
// Strings are cloned: the parser buffer is not used again on this
// connection, but x/net may keep the request past this call.
func toHTTPRequest(ctx context.Context, req *httpmsg.Request) *http.Request {
	uri := strings.Clone(req.RequestURI())
	hr, _ := http.NewRequestWithContext(ctx, req.Method, "http://"+req.Authority+uri, nil)
	if hr == nil {
		hr = &http.Request{Method: "GET", Header: http.Header{}}
	}
	hr.Host = strings.Clone(req.Authority)
	hr.RequestURI = uri
	for _, f := range req.Header.Fields() {
		hr.Header.Add(f.Name, strings.Clone(f.Value))
	}
	return hr
}

// h2Handler adapts net/http's handler interface to ours for one HTTP/2
// connection. This path allocates per request; HTTP/2 carries gRPC and
// multiplexed clients, not the HTTP/1 benchmark traffic.
type h2Handler struct {
	srv           *Server
	ctx           context.Context
	remote, local netip.AddrPort
	peer          netip.AddrPort
	tls           *httpmsg.TLSInfo // nil for h2c
}

func (h *h2Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.srv.requests.Add(1)
	req := &httpmsg.Request{
		Method:        r.Method,
		Scheme:        "http",
		Authority:     r.Host,
		Proto:         httpmsg.HTTP2,
		ContentLength: r.ContentLength,
		RemoteAddr:    h.remote,
		PeerAddr:      h.peer,
		LocalAddr:     h.local,
	}
	if r.TLS != nil || h.tls != nil {
		req.Scheme = "https"
		req.TLS = h.tls
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		req.Path, req.RawQuery = uri[:i], uri[i+1:]
	} else {
		req.Path = uri
	}
	if r.Method == "CONNECT" {
		req.Path = ""
	}
	for k, vs := range r.Header {
		name := strings.ToLower(k)
		if name == "host" || name == "connection" || name == "upgrade" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" {
			continue
		}
		for _, v := range vs {
			req.Header.Add(name, v)
		}
	}
	if r.ContentLength == 0 && r.Body == http.NoBody {
		req.Body = httpmsg.NoBody
	} else {
		req.Body = &h2RequestBody{r: r, req: req}
	}
	rw := &h2Writer{w: w}
	h.srv.cfg.Handler.ServeHTTP(h.ctx, rw, req)
	if rw.aborted {
		// x/net resets the stream (RST_STREAM) for this sentinel panic,
		// which is how a truncated upstream body must surface in HTTP/2.
		panic(http.ErrAbortHandler)
	}
	if !rw.wroteHeader {
		w.WriteHeader(200)
	}
}

// h2RequestBody copies request trailers (gRPC clients rarely send them)
// into the Request when the body ends.
// Trailers lets the upstream pool forward them after the body.
func (b *h2RequestBody) Trailers() *httpmsg.Header { return &b.req.Trailer }

type h2RequestBody struct {
	r   *http.Request
	req *httpmsg.Request
}

func (b *h2RequestBody) Read(p []byte) (int, error) {
	n, err := b.r.Body.Read(p)
	if err == io.EOF && b.req.Trailer.Len() == 0 {
		for k, vs := range b.r.Trailer {
			for _, v := range vs {
				b.req.Trailer.Add(k, v)
			}
		}
	}
	return n, err
}

type h2Writer struct {
	w           http.ResponseWriter
	wroteHeader bool
	aborted     bool
}

var _ httpmsg.ResponseWriter = (*h2Writer)(nil)

func h2Forbidden(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host":
		return true
	}
	return false
}

func (w *h2Writer) WriteHeader(status int, h *httpmsg.Header) error {
	if w.wroteHeader {
		return errHeaderWritten
	}
	if status == 101 {
		return errHijack // HTTP/2 has no 101 (RFC 9113 §8.6)
	}
	dst := w.w.Header()
	if h != nil {
		for _, f := range h.Fields() {
			if h2Forbidden(f.Name) {
				continue
			}
			k := http.CanonicalHeaderKey(f.Name)
			dst[k] = append(dst[k], f.Value)
		}
	}
	if status >= 100 && status < 200 {
		if status != 100 {
			w.w.WriteHeader(status)
			clear(dst)
		}
		return nil
	}
	w.wroteHeader = true
	w.w.WriteHeader(status)
	return nil
}

func (w *h2Writer) Write(p []byte) (int, error) {
	w.wroteHeader = true
	return w.w.Write(p)
}

func (w *h2Writer) Flush() error {
	w.wroteHeader = true
	return http.NewResponseController(w.w).Flush()
}

func (w *h2Writer) WriteTrailer(h *httpmsg.Header) error {
	if !w.wroteHeader {
		w.WriteHeader(200, nil)
	}
	dst := w.w.Header()
	for _, f := range h.Fields() {
		// TrailerPrefix declares trailers after the head was sent; x/net
		// sends them in the final HEADERS frame (what grpc-status needs).
		dst[http.TrailerPrefix+http.CanonicalHeaderKey(f.Name)] = append(dst[http.TrailerPrefix+http.CanonicalHeaderKey(f.Name)], f.Value)
	}
	return nil
}

func (w *h2Writer) Abort() { w.aborted = true }

func (w *h2Writer) Hijack() (httpmsg.Tunnel, error) { return nil, httpmsg.ErrHijackNotSupported }
