package pool

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// newH2Transport builds a prior-knowledge h2c client: one multiplexed
// connection per host is what Envoy keeps for http2_protocol_options
// clusters. net/http's Transport speaks unencrypted HTTP/2 since Go 1.24
// without the deprecated x/net entry points.
func newH2Transport(p *Pool) *http.Transport {
	t := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			p.dials.Add(1)
			dctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
			defer cancel()
			nc, err := p.dial(dctx, network, addr)
			if err != nil {
				p.connectFailures.Add(1)
				return nil, &Error{Kind: KindConnect, Err: err}
			}
			p.active.Add(1)
			return &countedConn{Conn: nc, p: p}, nil
		},
		MaxConnsPerHost:    p.cfg.MaxConns,
		IdleConnTimeout:    p.cfg.IdleTimeout,
		DisableCompression: true,
		Protocols:          new(http.Protocols),
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	return t
}

// countedConn keeps Stats.Active right for HTTP/2 connections.
type countedConn struct {
	net.Conn
	p    *Pool
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.p.active.Add(-1) })
	return c.Conn.Close()
}

func (p *Pool) roundTripH2(ctx context.Context, req *httpmsg.Request) (*httpmsg.Response, error) {
	hr, err := http.NewRequestWithContext(ctx, req.Method, "http://"+p.cfg.Addr+req.RequestURI(), nil)
	if err != nil {
		return nil, &Error{Kind: KindProtocol, Err: err}
	}
	hr.Host = req.Authority
	for _, f := range req.Header.Fields() {
		switch f.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host":
			continue
		}
		k := http.CanonicalHeaderKey(f.Name)
		hr.Header[k] = append(hr.Header[k], f.Value)
	}
	if req.Body != nil && req.Body != httpmsg.NoBody && req.ContentLength != 0 {
		hr.Body = io.NopCloser(req.Body)
		hr.ContentLength = req.ContentLength
	}
	hresp, err := p.h2.RoundTrip(hr)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, classify(ctx, err)
	}
	resp := &httpmsg.Response{
		Status:        hresp.StatusCode,
		Proto:         httpmsg.HTTP2,
		ContentLength: hresp.ContentLength,
	}
	for k, vs := range hresp.Header {
		name := strings.ToLower(k)
		for _, v := range vs {
			resp.Header.Add(name, v)
		}
	}
	resp.Body = &h2ResponseBody{hr: hresp, resp: resp}
	return resp, nil
}

// h2ResponseBody surfaces trailers (grpc-status, grpc-message) in
// Response.Trailer once the body has ended.
type h2ResponseBody struct {
	hr   *http.Response
	resp *httpmsg.Response
	done bool
}

func (b *h2ResponseBody) Read(p []byte) (int, error) {
	n, err := b.hr.Body.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		for k, vs := range b.hr.Trailer {
			name := strings.ToLower(k)
			for _, v := range vs {
				b.resp.Trailer.Add(name, v)
			}
		}
	}
	return n, err
}

func (b *h2ResponseBody) Close() error { return b.hr.Body.Close() }

// Upgrade sends an upgrade request (WebSocket) on a fresh HTTP/1.1
// connection. On 101 it returns the response head and the raw connection,
// which then belongs to the caller (it no longer counts against the pool's
// idle set but stays in Active until closed). Otherwise the tunnel is nil
// and resp is an ordinary response whose Body must be closed.
func (p *Pool) Upgrade(ctx context.Context, req *httpmsg.Request) (*httpmsg.Response, httpmsg.Tunnel, error) {
	p.requests.Add(1)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, &Error{Kind: KindConnect, Err: ErrClosed}
	}
	p.total++
	p.mu.Unlock()
	// Always a new connection: tunnels are long-lived and must not take a
	// warm keep-alive connection away from ordinary requests.
	c, err := p.dialConn(ctx)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.roundTrip(ctx, req)
	if err != nil {
		c.destroy()
		return nil, nil, err
	}
	if resp.Status != 101 {
		return resp, nil, nil
	}
	if c.stopCancel != nil {
		c.stopCancel()
		c.stopCancel = nil
	}
	c.nc.SetDeadline(time.Time{})
	// The tunnel owns nc and the bytes already buffered; the conn struct's
	// buffers are not reused so the buffered reader stays valid.
	t := &upTunnel{nc: c.nc, br: c.br, p: p}
	return resp, t, nil
}

// upTunnel is an upstream connection after 101 Switching Protocols.
type upTunnel struct {
	nc   net.Conn
	br   *bufio.Reader
	p    *Pool
	once sync.Once
}

func (t *upTunnel) Read(b []byte) (int, error) {
	if t.br != nil {
		if t.br.Buffered() > 0 {
			return t.br.Read(b)
		}
		t.br = nil
	}
	return t.nc.Read(b)
}

func (t *upTunnel) Write(b []byte) (int, error) { return t.nc.Write(b) }

func (t *upTunnel) CloseWrite() error {
	if cw, ok := t.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (t *upTunnel) Close() error {
	err := t.nc.Close()
	t.once.Do(func() {
		t.p.active.Add(-1)
		t.p.releaseSlot()
	})
	return err
}

var _ httpmsg.Tunnel = (*upTunnel)(nil)
