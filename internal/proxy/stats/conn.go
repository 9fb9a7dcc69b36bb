package stats

import (
	"net"
	"sync/atomic"
)

// CountConns wraps ln so that every accepted connection is counted in l
// (downstream_cx_total, downstream_cx_active) until it is closed.
func (l *Listener) CountConns(ln net.Listener) net.Listener {
	return &countingListener{Listener: ln, l: l}
}

type countingListener struct {
	net.Listener
	l *Listener
}

func (cl *countingListener) Accept() (net.Conn, error) {
	c, err := cl.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cl.l.ConnOpened()
	return &countedConn{Conn: c, l: cl.l}, nil
}

// countedConn decrements the active count exactly once, however often
// Close is called.
type countedConn struct {
	net.Conn
	l      *Listener
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.ConnClosed()
	}
	return c.Conn.Close()
}

// CloseWrite keeps half-close working for tunnels (WebSocket) through the
// wrapper.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
