package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/http1"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

const (
	stateActive int32 = iota
	stateIdle
	stateClosing
)

// conn is one downstream connection and every buffer it needs, reused
// across connections through Server.pool. Owned by its serve goroutine;
// state is atomic because Shutdown reads it; the 100-continue fields are
// guarded by rw.mu because a body may be read from another goroutine.
type conn struct {
	srv   *Server
	nc    net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	state atomic.Int32

	parser http1.Parser
	req    httpmsg.Request
	body   http1.Body
	rbody  requestBody
	rw     responseWriter

	remote, local netip.AddrPort
	// peer is the physical peer when remote came from a PROXY header.
	peer netip.AddrPort
	// tls describes the session when the listener handed us a *tls.Conn;
	// nil for plaintext. Set once per connection, after the handshake.
	tls *httpmsg.TLSInfo
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func (c *conn) serve(ctx context.Context) {
	s := c.srv
	defer s.releaseConn(c)
	defer c.nc.Close()
	c.remote, c.local = addrPort(c.nc.RemoteAddr()), addrPort(c.nc.LocalAddr())
	c.peer = netip.AddrPort{}
	raw := c.nc
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	// A listener that reads PROXY protocol headers hands out connections
	// whose RemoteAddr is the original client; the peer is kept apart for
	// policies on the physical address (Envoy's direct_remote_ip).
	if pc, ok := raw.(interface{ PeerAddr() netip.AddrPort }); ok {
		c.peer = pc.PeerAddr()
	}
	c.tls = nil
	if tc, ok := c.nc.(*tls.Conn); ok {
		// The handshake is bounded like a request head: a client that
		// connects and stalls must not hold the connection forever.
		if s.cfg.ReadHeaderTimeout > 0 {
			c.nc.SetDeadline(time.Now().Add(s.cfg.ReadHeaderTimeout))
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			s.cfg.Logger.Debug("TLS handshake failed", "remote", c.remote.String(), "error", err)
			return
		}
		c.nc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tls = &httpmsg.TLSInfo{ServerName: st.ServerName, NegotiatedProtocol: st.NegotiatedProtocol, Version: st.Version, PeerCertificates: st.PeerCertificates}
		// ALPN chose HTTP/2 (RFC 9113 §3.2): no preface sniffing needed.
		if st.NegotiatedProtocol == "h2" && !s.cfg.DisableH2 {
			c.serveH2(ctx, nil, nil)
			return
		}
	}

	first := true
	for {
		if c.br.Buffered() == 0 {
			// Let the other connections run first: the client needs a
			// round trip before its next request arrives, so reading now
			// would almost always cost an EAGAIN syscall and a park, while
			// after a turn of the run queue the bytes are usually there.
			// Under no load this returns at once.
			if !first {
				runtime.Gosched()
			}
			// Wait for the next request with the idle timeout; this is the
			// only state in which Shutdown may close the connection under us.
			if !first {
				c.state.Store(stateIdle)
				if s.shutting.Load() {
					return
				}
			}
			timeout := s.cfg.IdleTimeout
			if first {
				timeout = s.cfg.ReadHeaderTimeout
			}
			if timeout > 0 {
				c.nc.SetReadDeadline(time.Now().Add(timeout))
			}
			if _, err := c.br.Peek(1); err != nil {
				return
			}
			if !first && !c.state.CompareAndSwap(stateIdle, stateActive) {
				return
			}
		}
		if first {
			first = false
			if !s.cfg.DisableH2 && c.sawH2Preface() {
				c.serveH2(ctx, nil, nil)
				return
			}
		}
		if s.cfg.ReadHeaderTimeout > 0 && !c.headBuffered() {
			c.nc.SetReadDeadline(time.Now().Add(s.cfg.ReadHeaderTimeout))
		}
		fr, err := c.parser.ReadRequest(c.br, &c.req)
		if err != nil {
			c.readError(err)
			return
		}
		s.requests.Add(1)
		req := &c.req
		req.RemoteAddr, req.LocalAddr, req.PeerAddr = c.remote, c.local, c.peer
		if c.tls != nil {
			// The connection decides the scheme (Envoy sets :scheme and
			// x-forwarded-proto from the transport, not the target).
			req.TLS = c.tls
			req.Scheme = "https"
		}
		if req.Upgrade != "" && c.h2cUpgrade(ctx, fr) {
			return
		}
		c.body.Reset(c.br, fr, &c.parser, &req.Trailer)
		if fr.Kind != http1.FramingNone {
			c.rbody.c = c
			req.Body = &c.rbody
		}
		c.rw.reset(req)

		s.cfg.Handler.ServeHTTP(ctx, &c.rw, req)

		if c.rw.hijacked {
			return
		}
		if !c.rw.finish() {
			return
		}
		if !c.body.Done() {
			// Drain what the handler left unread so the next request starts
			// at a message boundary; a client that sent Expect and never got
			// 100 Continue may not send the body at all, so close instead.
			if (req.ExpectContinue && !c.rw.sent100) || !c.body.Discard(s.cfg.MaxBodyDrain) {
				return
			}
		}
	}
}

// headBuffered reports whether a whole request head is already in memory,
// as it is for almost every request: parsing it then cannot block, and the
// read-header deadline (a timer update per request) can be skipped.
func (c *conn) headBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Contains(b, headEnd) || bytes.Contains(b, headEndLF)
}

var headEnd, headEndLF = []byte("\r\n\r\n"), []byte("\n\n")

// h2Preface is the HTTP/2 client connection preface (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sawH2Preface compares buffered bytes with the preface, reading more only
// while they keep matching, so a short HTTP/1 request never waits for 24
// bytes that will not come.
func (c *conn) sawH2Preface() bool {
	for n := 1; n <= len(h2Preface); n++ {
		b, err := c.br.Peek(n)
		if err != nil {
			return false
		}
		if b[n-1] != h2Preface[n-1] {
			return false
		}
	}
	return true
}

func (c *conn) readError(err error) {
	var pe *http1.Error
	switch {
	case errors.As(err, &pe):
		c.writeError(pe.Status)
	case isTimeout(err):
		// The head started but did not finish in time (RFC 9110 §15.5.9).
		c.writeError(408)
	}
	// EOF or reset: nothing to answer.
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *conn) writeError(status int) {
	if wt := c.srv.cfg.WriteTimeout; wt > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(wt))
	} else {
		c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	}
	b := c.bw.AvailableBuffer()
	b = http1.AppendStatusLine(b, httpmsg.HTTP11, status)
	b = append(b, "content-length: 0\r\nconnection: close\r\n\r\n"...)
	c.bw.Write(b)
	c.bw.Flush()
}

// requestBody adds to http1.Body what only the server knows: the lazy
// 100 Continue and the per-read idle timeout.
type requestBody struct {
	c *conn
}

func (b *requestBody) Read(p []byte) (int, error) {
	c := b.c
	if c.req.ExpectContinue {
		c.rw.send100()
	}
	if t := c.srv.cfg.IdleTimeout; t > 0 && c.body.Err() == nil {
		c.nc.SetReadDeadline(time.Now().Add(t))
	}
	return c.body.Read(p)
}

// Buffered lets httpmsg.Copy and the upstream pool batch writes.
func (b *requestBody) Buffered() bool { return b.c.body.Buffered() }

// Trailers lets the upstream pool forward chunked request trailers once the
// body has ended.
func (b *requestBody) Trailers() *httpmsg.Header { return &b.c.req.Trailer }

type framing uint8

const (
	frameNone framing = iota
	frameLength
	frameChunked
	frameClose
)

// responseWriter is the HTTP/1 httpmsg.ResponseWriter of a conn, re-armed
// per request. Used by the handler goroutine only, except send100 (see mu).
type responseWriter struct {
	c   *conn
	req *httpmsg.Request

	mu          sync.Mutex // orders a 100 Continue from a body reader against WriteHeader
	wroteHeader bool
	sent100     bool

	status     int
	framing    framing
	remaining  int64
	closeAfter bool
	ended      bool
	aborted    bool
	hijacked   bool
	failed     bool
	cw         http1.ChunkedWriter
}

var _ httpmsg.ResponseWriter = (*responseWriter)(nil)

var (
	errHeaderWritten  = errors.New("server: response head already written")
	errBodyNotAllowed = errors.New("server: response status does not allow a body")
	errTooLong        = errors.New("server: body longer than content-length")
	errAfterEnd       = errors.New("server: write after response end")
	errHijack         = errors.New("server: hijack needs an upgrade request and a 101 or 2xx response")
	emptyHeader       httpmsg.Header
)

func (w *responseWriter) reset(req *httpmsg.Request) {
	c := w.c
	*w = responseWriter{c: c, req: req}
	w.cw.W = c.bw
}

func (w *responseWriter) send100() {
	w.mu.Lock()
	if !w.wroteHeader && !w.sent100 && w.req.Proto == httpmsg.HTTP11 {
		w.sent100 = true
		w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		w.c.bw.Flush()
	}
	w.sent100 = true // never after the final head either
	w.mu.Unlock()
}

func (w *responseWriter) WriteHeader(status int, h *httpmsg.Header) error {
	if h == nil {
		h = &emptyHeader
	}
	if w.req.ExpectContinue {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	if w.wroteHeader || w.hijacked {
		return errHeaderWritten
	}
	c := w.c
	if status >= 100 && status < 200 && status != 101 {
		if w.req.Proto == httpmsg.HTTP10 || status == 100 {
			return nil // 1.0 clients do not understand 1xx; 100 is ours to send
		}
		b := http1.AppendStatusLine(c.bw.AvailableBuffer(), w.req.Proto, status)
		b = http1.AppendFields(b, h)
		b = append(b, '\r', '\n')
		c.bw.Write(b)
		return c.bw.Flush()
	}
	w.wroteHeader = true
	w.status = status
	if wt := c.srv.cfg.WriteTimeout; wt > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(wt))
	}
	b := http1.AppendStatusLine(c.bw.AvailableBuffer(), w.req.Proto, status)
	b = http1.AppendFields(b, h)
	if status == 101 {
		if w.req.Upgrade == "" {
			w.closeAfter = true
			return errHijack
		}
		b = append(b, "connection: upgrade\r\nupgrade: "...)
		b = append(b, w.req.Upgrade...)
		b = append(b, "\r\n\r\n"...)
		w.closeAfter = true
		_, err := c.bw.Write(b)
		return err
	}
	w.closeAfter = w.req.Close || c.srv.shutting.Load()
	clen, hasLen := int64(-1), false
	if v, ok := h.Lookup("content-length"); ok {
		if n, ok := parseLen(v); ok {
			clen, hasLen = n, true
		}
	}
	switch {
	case !http1.BodyAllowed(w.req.Method, status):
		w.framing = frameNone
		// HEAD and 304 describe the representation they omit (RFC 9110
		// §8.6), so their content-length is passed through.
		if hasLen && status != 204 && status >= 200 {
			b = http1.AppendContentLength(b, clen)
		}
	case hasLen:
		w.framing, w.remaining = frameLength, clen
		b = http1.AppendContentLength(b, clen)
	case w.req.Proto == httpmsg.HTTP11:
		w.framing = frameChunked
		b = append(b, "transfer-encoding: chunked\r\n"...)
	default:
		// HTTP/1.0 cannot chunk: the body ends with the connection.
		w.framing = frameClose
		w.closeAfter = true
	}
	switch {
	case w.closeAfter:
		b = append(b, "connection: close\r\n"...)
	case w.req.Proto == httpmsg.HTTP10:
		b = append(b, "connection: keep-alive\r\n"...)
	}
	b = append(b, '\r', '\n')
	_, err := c.bw.Write(b)
	if err != nil {
		w.failed = true
	}
	return err
}

func parseLen(v string) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, true
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		if err := w.WriteHeader(200, nil); err != nil {
			return 0, err
		}
	}
	if w.ended || w.hijacked {
		return 0, errAfterEnd
	}
	var n int
	var err error
	switch w.framing {
	case frameNone:
		return 0, errBodyNotAllowed
	case frameLength:
		if int64(len(p)) > w.remaining {
			n, _ = w.c.bw.Write(p[:w.remaining])
			w.remaining = 0
			w.closeAfter = true
			return n, errTooLong
		}
		n, err = w.c.bw.Write(p)
		w.remaining -= int64(n)
	case frameChunked:
		n, err = w.cw.Write(p)
	case frameClose:
		n, err = w.c.bw.Write(p)
	}
	if err != nil {
		w.failed = true
	}
	return n, err
}

func (w *responseWriter) Flush() error {
	if !w.wroteHeader {
		if err := w.WriteHeader(200, nil); err != nil {
			return err
		}
	}
	if w.hijacked {
		return nil
	}
	if wt := w.c.srv.cfg.WriteTimeout; wt > 0 {
		w.c.nc.SetWriteDeadline(time.Now().Add(wt))
	}
	if err := w.c.bw.Flush(); err != nil {
		w.failed = true
		return err
	}
	return nil
}

func (w *responseWriter) WriteTrailer(h *httpmsg.Header) error {
	if !w.wroteHeader {
		if err := w.WriteHeader(200, nil); err != nil {
			return err
		}
	}
	if w.ended {
		return errAfterEnd
	}
	w.ended = true
	if w.framing == frameChunked {
		return w.cw.Close(h)
	}
	return nil // HTTP/1 framing without chunks cannot carry trailers
}

func (w *responseWriter) Abort() { w.aborted = true }

func (w *responseWriter) Hijack() (httpmsg.Tunnel, error) {
	if w.hijacked {
		return nil, errHijack
	}
	ok := w.req.Upgrade != "" && w.status == 101 ||
		w.req.Method == "CONNECT" && w.status/100 == 2
	if !ok {
		return nil, errHijack
	}
	c := w.c
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	w.hijacked = true
	// Tunnels live as long as both ends want; the head timeouts no longer
	// apply.
	c.nc.SetDeadline(time.Time{})
	return &connTunnel{nc: c.nc, br: c.br}, nil
}

// finish completes the response after the handler returned and reports
// whether the connection can carry another request.
func (w *responseWriter) finish() bool {
	c := w.c
	if w.aborted || w.failed {
		// Leave framing incomplete so the client sees a truncated message.
		c.bw.Flush()
		return false
	}
	if !w.wroteHeader {
		// The handler wrote nothing: an empty 200 keeps the client's
		// framing intact (net/http does the same).
		var h httpmsg.Header
		h.Add("content-length", "0")
		w.WriteHeader(200, &h)
	}
	if !w.ended && w.framing == frameChunked {
		w.cw.Close(nil)
	}
	if w.framing == frameLength && w.remaining > 0 {
		w.closeAfter = true // short body: the only honest signal is closing
	}
	if err := c.bw.Flush(); err != nil {
		return false
	}
	return !w.closeAfter && w.status != 101
}

// connTunnel is the hijacked connection: bytes already buffered by the
// codec come first.
type connTunnel struct {
	nc net.Conn
	br *bufio.Reader
}

func (t *connTunnel) Read(p []byte) (int, error) {
	if t.br != nil {
		if t.br.Buffered() > 0 {
			return t.br.Read(p)
		}
		t.br = nil
	}
	return t.nc.Read(p)
}

func (t *connTunnel) Write(p []byte) (int, error) { return t.nc.Write(p) }

// Close unblocks pending reads and writes; the server itself closes the
// connection when the handler returns, so the close stays with its owner.
func (t *connTunnel) Close() error {
	return t.nc.SetDeadline(time.Unix(1, 0))
}

func (t *connTunnel) CloseWrite() error {
	if cw, ok := t.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

var _ io.ReadWriter = (*connTunnel)(nil)
