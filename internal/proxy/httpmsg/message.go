// Package httpmsg holds the proxy's own HTTP message types, shared by the
// codecs (http1, the HTTP/2 adapter), the downstream server, the upstream
// pool and the runtime. It is a leaf package: standard library only.
//
// Lifetime: messages are reused from per-connection storage to keep the hot
// path free of allocations. Strings in a Request are valid until the
// handler returns; strings in a Response are valid until its Body is closed.
// Anything kept longer must be copied (Header.Clone, strings.Clone).
package httpmsg

import (
	"bufio"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
)

// Proto is the HTTP version of a message.
type Proto uint8

const (
	ProtoUnknown Proto = iota
	HTTP10
	HTTP11
	HTTP2
)

func (p Proto) String() string {
	switch p {
	case HTTP10:
		return "HTTP/1.0"
	case HTTP11:
		return "HTTP/1.1"
	case HTTP2:
		return "HTTP/2"
	}
	return "HTTP/?"
}

// TLSInfo describes the downstream TLS session. Shared by every request of
// the connection; read only.
type TLSInfo struct {
	ServerName         string
	NegotiatedProtocol string
	Version            uint16 // crypto/tls version constant
	// PeerCertificates is the client's chain, leaf first, when it sent one;
	// the listener verified it against its CA before the handshake
	// completed (mTLS).
	PeerCertificates []*x509.Certificate
}

// Request is a request as the proxy sees it, independent of the wire
// protocol. Hop-by-hop fields (Connection and the fields it names,
// Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE other than
// "trailers", Host, Expect) are not in Header: their meaning is carried by the
// typed fields below, so forwarding Header is always correct (RFC 9110 §7.6.1).
type Request struct {
	Method    string
	Scheme    string // "http" or "https"; from absolute-form or :scheme
	Authority string // Host header, :authority or the authority of absolute-form
	Path      string // raw (still escaped) path without the query; "*" for OPTIONS *
	RawQuery  string // without the '?'
	Proto     Proto

	// Header holds end-to-end fields in received order. A content-length
	// field, if received, is kept, but ContentLength is authoritative for
	// framing and writers regenerate the field from it.
	Header Header

	// ContentLength is the body length in bytes, 0 for no body and -1 when
	// unknown (chunked or HTTP/2 without content-length).
	ContentLength int64

	// Body streams the request body; never nil (NoBody when empty). Reading it
	// may send "100 Continue" to the client (ExpectContinue).
	Body io.Reader

	// Trailer is filled when Body reaches EOF, for chunked HTTP/1.1 and
	// HTTP/2 bodies.
	Trailer Header

	RemoteAddr netip.AddrPort
	LocalAddr  netip.AddrPort
	// PeerAddr is the physical peer when RemoteAddr was taken from a PROXY
	// protocol header (the load balancer in front); zero otherwise.
	PeerAddr netip.AddrPort
	TLS      *TLSInfo // nil for plain text

	// Upgrade is the protocol the client asked to switch to (e.g.
	// "websocket"), set only when Connection also listed "upgrade" (RFC 9110
	// §7.8). Empty otherwise.
	Upgrade string

	// ExpectContinue is set when the client sent "Expect: 100-continue"; the
	// server answers 100 Continue lazily on the first Body read, as Envoy does
	// by default, so upstreams never see Expect.
	ExpectContinue bool

	// Close is set when the client asked to close the connection after this
	// exchange (Connection: close, or HTTP/1.0 without keep-alive).
	Close bool
}

// Reset clears r for reuse, keeping header capacity.
func (r *Request) Reset() {
	h, t := r.Header, r.Trailer
	h.Reset()
	t.Reset()
	*r = Request{Header: h, Trailer: t, Body: NoBody}
}

// RequestURI returns the origin-form target (path and query). It allocates
// only when there is a query.
func (r *Request) RequestURI() string {
	if r.RawQuery == "" {
		return r.Path
	}
	return r.Path + "?" + r.RawQuery
}

// Response is a response as the proxy sees it. Header excludes hop-by-hop
// fields as for Request.
type Response struct {
	Status int
	Proto  Proto
	Header Header

	// ContentLength is the body length, -1 when unknown (chunked or
	// close-delimited). The content-length field is kept in Header so a
	// ResponseWriter can frame the downstream response from Header alone.
	ContentLength int64

	// Body streams the response body; never nil. Closing it releases the
	// upstream connection (to the pool only if the body was read to EOF).
	Body io.ReadCloser

	// Trailer is filled when Body reaches EOF.
	Trailer Header

	// Close reports that the upstream will close the connection.
	Close bool
}

// Reset clears r for reuse, keeping header capacity.
func (r *Response) Reset() {
	h, t := r.Header, r.Trailer
	h.Reset()
	t.Reset()
	*r = Response{Header: h, Trailer: t}
}

// ResponseWriter is what a handler writes its response to.
type ResponseWriter interface {
	// WriteHeader sends the status line and h. Framing is derived from h's
	// content-length (fixed length when present, otherwise chunked on
	// HTTP/1.1 and close-delimited on HTTP/1.0); hop-by-hop fields in h are
	// ignored. 1xx informational responses other than 101 may be sent before
	// the final one. h may be reused by the caller after it returns.
	WriteHeader(status int, h *Header) error

	// Write sends body bytes; WriteHeader(200, empty) is implied if needed.
	Write(p []byte) (int, error)

	// Flush pushes buffered bytes to the client now. Handlers streaming a
	// response should call it when their source has nothing buffered.
	Flush() error

	// WriteTrailer ends the body with trailer fields (gRPC's grpc-status).
	// Sent as HTTP/2 trailers or in the chunked trailer section; dropped
	// when the HTTP/1 framing cannot carry them.
	WriteTrailer(h *Header) error

	// Abort ends the response abnormally so the client cannot mistake a
	// truncated body for a complete one: HTTP/1 closes the connection without
	// completing framing, HTTP/2 resets the stream. Use it when the upstream
	// body fails mid-way.
	Abort()

	// Hijack takes over the connection after an upgrade (101 already
	// written through WriteHeader), returning a raw bidirectional stream that
	// first yields any bytes already buffered. The server no longer touches
	// the connection but closes it once the handler returns. Not supported on
	// HTTP/2 (ErrHijackNotSupported).
	Hijack() (Tunnel, error)
}

// Tunnel is a raw byte stream after a protocol switch (WebSocket, CONNECT).
type Tunnel interface {
	io.ReadWriteCloser
	// CloseWrite half-closes the write side so the peer sees EOF while the
	// other direction keeps flowing.
	CloseWrite() error
}

// ErrHijackNotSupported is returned by Hijack where the protocol cannot hand
// out a raw connection.
var ErrHijackNotSupported = errors.New("httpmsg: hijack not supported on this connection")

// NoBody is an empty body.
var NoBody io.Reader = noBody{}

type noBody struct{}

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }

// ConnTunnel adapts a connection and the reader buffering its first bytes
// into a Tunnel. br may be nil.
func ConnTunnel(c net.Conn, br *bufio.Reader) Tunnel {
	return &connTunnel{Conn: c, br: br}
}

type connTunnel struct {
	net.Conn
	br *bufio.Reader
}

func (t *connTunnel) Read(p []byte) (int, error) {
	if t.br != nil {
		if t.br.Buffered() > 0 {
			return t.br.Read(p)
		}
		t.br = nil // drained: read the socket directly from now on
	}
	return t.Conn.Read(p)
}

func (t *connTunnel) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Copy streams src into w using buf (which must not be empty) and returns
// the bytes written. It flushes w whenever src has nothing more buffered (a
// src may report that with a Buffered() bool method; without it every read is
// flushed), so a small response leaves in one write together with its head
// while a stream (gRPC, SSE, a large download) reaches the client as it
// arrives. Read errors other than io.EOF are returned as is; the caller then
// Aborts the response.
func Copy(w ResponseWriter, src io.Reader, buf []byte) (int64, error) {
	bs, _ := src.(interface{ Buffered() bool })
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if err == nil && (bs == nil || !bs.Buffered()) {
				if ferr := w.Flush(); ferr != nil {
					return total, ferr
				}
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
