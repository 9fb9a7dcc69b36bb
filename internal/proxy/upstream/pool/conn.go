package pool

import (
	"bufio"
	"context"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/http1"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// conn is one upstream HTTP/1.1 connection with all it needs for an
// exchange, so a request allocates nothing. It is owned by one request at a
// time (from Pool.get until the response body is closed); the body writer
// goroutine, when there is one, is joined before ownership ends.
type conn struct {
	p        *Pool
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	parser   http1.Parser
	resp     httpmsg.Response
	body     http1.Body
	rbody    responseBody
	requests int
	reused   bool

	idleSince   time.Time
	hadDeadline bool
	stopCancel  func() bool // context.AfterFunc registration, nil if none

	writeDone chan error // body writer result; cap 1, allocated once
	writing   bool
	cw        http1.ChunkedWriter
	copyBuf   []byte
}

func newConn() *conn {
	c := &conn{
		br:        bufio.NewReaderSize(nil, 4096),
		bw:        bufio.NewWriterSize(nil, 4096),
		writeDone: make(chan error, 1),
	}
	c.rbody.c = c
	return c
}

func (c *conn) attach(p *Pool, nc net.Conn) {
	c.p, c.nc = p, nc
	c.parser.Limits = p.cfg.Limits
	c.br.Reset(nc)
	c.bw.Reset(nc)
	c.cw.W = c.bw
	c.requests, c.reused, c.hadDeadline = 0, false, false
}

// destroy closes the connection and frees its pool slot.
func (c *conn) destroy() {
	p := c.p
	c.nc.Close()
	if c.writing {
		<-c.writeDone
		c.writing = false
	}
	if c.stopCancel != nil {
		c.stopCancel()
		c.stopCancel = nil
	}
	p.active.Add(-1)
	p.releaseSlot()
	c.nc = nil
	c.br.Reset(nil)
	c.bw.Reset(nil)
	c.resp.Reset()
	p.free.Put(c)
}

// longAgo is a deadline in the past: setting it unblocks every pending I/O.
var longAgo = time.Unix(1, 0)

func (c *conn) roundTrip(ctx context.Context, req *httpmsg.Request) (*httpmsg.Response, error) {
	c.requests++
	// Deadlines come from ctx without allocating; cancellation needs an
	// AfterFunc registration, paid only by contexts that can be cancelled.
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(d)
		c.hadDeadline = true
	} else if c.hadDeadline {
		c.nc.SetDeadline(time.Time{})
		c.hadDeadline = false
	}
	if ctx.Done() != nil {
		nc := c.nc
		c.stopCancel = context.AfterFunc(ctx, func() { nc.SetDeadline(longAgo) })
	}

	fr := http1.RequestFraming(req)
	b := http1.AppendRequestHead(c.bw.AvailableBuffer(), req, fr)
	if _, err := c.bw.Write(b); err != nil {
		return nil, classify(ctx, err)
	}
	if fr.Kind == http1.FramingNone {
		if err := c.bw.Flush(); err != nil {
			return nil, classify(ctx, err)
		}
	} else {
		// The body goes up from its own goroutine while this one waits for
		// the response head: an upstream may answer early (413, 401) or
		// stream its response while still reading (echo, gRPC bidi), and a
		// single goroutine would deadlock once both TCP windows fill.
		c.writing = true
		go c.writeBody(req.Body, fr)
	}

	// Same bet as the server's keep-alive loop: the upstream needs at
	// least a scheduling round trip to answer, so yield once before the
	// read that would otherwise return EAGAIN and park.
	if c.br.Buffered() == 0 {
		runtime.Gosched()
	}
	rfr, err := c.parser.ReadResponse(c.br, &c.resp, req.Method)
	if err != nil {
		return nil, classify(ctx, err)
	}
	c.body.Reset(c.br, rfr, &c.parser, &c.resp.Trailer)
	c.resp.Body = &c.rbody
	c.rbody.closed = false
	return &c.resp, nil
}

func (c *conn) writeBody(body io.Reader, fr http1.Framing) {
	err, srcFailed := c.copyBody(body, fr)
	if err == nil {
		err = c.bw.Flush()
	}
	if srcFailed {
		// The client's body broke (malformed chunk, reset, timeout): the
		// upstream would wait for the rest forever, so end the exchange.
		// A failed write to the upstream is different: it may still have
		// answered (413 then close), so the reader is left to find out.
		c.nc.Close()
	}
	c.writeDone <- err
}

func (c *conn) copyBody(body io.Reader, fr http1.Framing) (err error, srcFailed bool) {
	if c.copyBuf == nil {
		c.copyBuf = make([]byte, 16<<10)
	}
	// The head is already buffered; flush it now so the upstream can start
	// (and decide early) before a slow client delivers the body.
	if err := c.bw.Flush(); err != nil {
		return err, false
	}
	bs, _ := body.(interface{ Buffered() bool })
	var sent int64
	for {
		n, rerr := body.Read(c.copyBuf)
		if n > 0 {
			var werr error
			if fr.Kind == http1.FramingChunked {
				_, werr = c.cw.Write(c.copyBuf[:n])
			} else {
				if sent+int64(n) > fr.Length {
					return errBodyLength, true
				}
				_, werr = c.bw.Write(c.copyBuf[:n])
			}
			sent += int64(n)
			if werr != nil {
				return werr, false
			}
			if rerr == nil && (bs == nil || !bs.Buffered()) {
				if err := c.bw.Flush(); err != nil {
					return err, false
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr, true
		}
	}
	if fr.Kind == http1.FramingChunked {
		// A body that knows its trailers (the server's request bodies, for
		// gRPC-style clients over HTTP/1.1) exposes them after EOF.
		var tr *httpmsg.Header
		if r, ok := body.(interface{ Trailers() *httpmsg.Header }); ok {
			tr = r.Trailers()
		}
		return c.cw.Close(tr), false
	}
	if sent != fr.Length {
		return errBodyLength, true
	}
	return nil, false
}

var errBodyLength = &Error{Kind: KindReset, Err: io.ErrUnexpectedEOF}

// finish ends an exchange when the caller closes the body: the connection
// goes back to the pool only when the response was read to its end, the
// request body was fully sent and neither side asked to close.
func (c *conn) finish() {
	ok := c.body.Done() && !c.resp.Close
	if c.writing {
		// A complete response normally means the upstream consumed the
		// body and the writer is done; if it is not, the upstream answered
		// early and the connection cannot be reused (destroy joins it).
		select {
		case err := <-c.writeDone:
			c.writing = false
			ok = ok && err == nil
		default:
			ok = false
		}
		if !ok {
			c.destroy()
			return
		}
	}
	if c.stopCancel != nil {
		if !c.stopCancel() {
			ok = false // the cancel fired: the connection has a dead deadline
		}
		c.stopCancel = nil
	}
	if ok {
		c.p.put(c)
		return
	}
	c.destroy()
}

// responseBody is the Response.Body of an exchange on conn.
type responseBody struct {
	c      *conn
	closed bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errBodyClosed
	}
	return b.c.body.Read(p)
}

// Buffered lets httpmsg.Copy flush downstream only when the upstream has
// nothing more ready.
func (b *responseBody) Buffered() bool { return !b.closed && b.c.body.Buffered() }

func (b *responseBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.c.finish()
	return nil
}

var errBodyClosed = &Error{Kind: KindReset, Err: io.ErrClosedPipe}
