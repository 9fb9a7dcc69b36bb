// Package proxyproto reads the PROXY protocol header (versions 1 and 2,
// haproxy's proxy-protocol.txt) that a load balancer in front of the proxy
// sends before the client's bytes, and restores the client's address on the
// connection, as Envoy's envoy.filters.listener.proxy_protocol does.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// v2Signature starts every version 2 header.
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Header is a parsed PROXY header.
type Header struct {
	Version int
	// Local is set for v2 LOCAL commands and v1 UNKNOWN: the connection
	// was opened by the proxy itself (health checks), so the addresses of
	// the connection stand.
	Local       bool
	Source      netip.AddrPort
	Destination netip.AddrPort
}

// ErrNoHeader is returned when the connection does not start with a PROXY
// header.
var ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")

// v1MaxLen is the longest v1 line, CRLF included (proxy-protocol.txt §2.1).
const v1MaxLen = 107

// v2MaxLen bounds the v2 address and TLV block. The format allows 65535
// bytes; TLVs beyond addresses are skipped, and a limit stops a peer from
// making the proxy read a large block before the client's first byte.
const v2MaxLen = 4096

// Read parses one header from r, consuming exactly its bytes.
func Read(r *bufio.Reader) (Header, error) {
	sig, err := r.Peek(5)
	if err != nil {
		return Header{}, fmt.Errorf("proxyproto: %w", err)
	}
	if string(sig) == "PROXY" {
		return readV1(r)
	}
	if sig[0] != v2Signature[0] {
		return Header{}, ErrNoHeader
	}
	full, err := r.Peek(len(v2Signature))
	if err != nil {
		return Header{}, fmt.Errorf("proxyproto: %w", err)
	}
	if !bytes.Equal(full, v2Signature) {
		return Header{}, ErrNoHeader
	}
	return readV2(r)
}

func readV1(r *bufio.Reader) (Header, error) {
	var line []byte
	for len(line) < v1MaxLen {
		b, err := r.ReadByte()
		if err != nil {
			return Header{}, fmt.Errorf("proxyproto: v1: %w", err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	if len(line) < 2 || line[len(line)-1] != '\n' || line[len(line)-2] != '\r' {
		return Header{}, errors.New("proxyproto: v1: line not terminated by CRLF within 107 bytes")
	}
	f := bytes.Split(line[:len(line)-2], []byte(" "))
	if len(f) < 2 || string(f[0]) != "PROXY" {
		return Header{}, errors.New("proxyproto: v1: malformed line")
	}
	h := Header{Version: 1}
	switch string(f[1]) {
	case "UNKNOWN":
		// The rest of the line is to be ignored (proxy-protocol.txt §2.1).
		h.Local = true
		return h, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, fmt.Errorf("proxyproto: v1: unsupported protocol %q", f[1])
	}
	if len(f) != 6 {
		return Header{}, errors.New("proxyproto: v1: want 6 fields")
	}
	src, err1 := netip.ParseAddr(string(f[2]))
	dst, err2 := netip.ParseAddr(string(f[3]))
	sp, err3 := parsePort(f[4])
	dp, err4 := parsePort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v1: %w", err)
	}
	v6 := string(f[1]) == "TCP6"
	if src.Is4() == v6 || dst.Is4() == v6 || src.Zone() != "" || dst.Zone() != "" {
		return Header{}, fmt.Errorf("proxyproto: v1: addresses do not match %s", f[1])
	}
	h.Source, h.Destination = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return h, nil
}

// parsePort accepts decimal ports without leading zeros or signs, as the
// specification writes them.
func parsePort(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, fmt.Errorf("bad port %q", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad port %q", b)
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", b)
	}
	return uint16(n), nil
}

func readV2(r *bufio.Reader) (Header, error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v2: %w", err)
	}
	verCmd, fam := head[12], head[13]
	n := int(binary.BigEndian.Uint16(head[14:16]))
	if verCmd>>4 != 2 {
		return Header{}, fmt.Errorf("proxyproto: v2: version %d", verCmd>>4)
	}
	if n > v2MaxLen {
		return Header{}, fmt.Errorf("proxyproto: v2: %d-byte block exceeds %d", n, v2MaxLen)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, fmt.Errorf("proxyproto: v2: %w", err)
	}
	h := Header{Version: 2}
	switch verCmd & 0x0f {
	case 0x0: // LOCAL: addresses, if any, are to be ignored.
		h.Local = true
		return h, nil
	case 0x1: // PROXY
	default:
		return Header{}, fmt.Errorf("proxyproto: v2: unknown command %#x", verCmd&0x0f)
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return Header{}, errors.New("proxyproto: v2: short IPv4 address block")
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		dst := netip.AddrFrom4([4]byte(body[4:8]))
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10]))
		h.Destination = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:12]))
	case 0x21: // TCP over IPv6
		if n < 36 {
			return Header{}, errors.New("proxyproto: v2: short IPv6 address block")
		}
		src := netip.AddrFrom16([16]byte(body[0:16]))
		dst := netip.AddrFrom16([16]byte(body[16:32]))
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34]))
		h.Destination = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:36]))
	case 0x00: // UNSPEC: keep the connection's addresses (Envoy does).
		h.Local = true
	default:
		// UDP and unix sockets cannot carry HTTP over TCP to us.
		return Header{}, fmt.Errorf("proxyproto: v2: unsupported address family %#x", fam)
	}
	return h, nil
}

// Conn is a connection whose PROXY header is read before its first byte is
// handed out. RemoteAddr reports the client the header names; PeerAddr the
// physical peer. Reading the header happens on first use, in the goroutine
// that serves the connection, never in Accept.
type Conn struct {
	net.Conn
	allowWithout bool
	timeout      time.Duration

	once   sync.Once
	br     *bufio.Reader // nil after the buffered bytes were drained
	hdr    Header
	err    error
	remote net.Addr
}

// NewConn wraps c. With allowWithout, a connection that does not start
// with a PROXY header is served as is (Envoy's
// allow_requests_without_proxy_protocol); otherwise it fails. timeout
// bounds the wait for the header.
func NewConn(c net.Conn, allowWithout bool, timeout time.Duration) *Conn {
	return &Conn{Conn: c, allowWithout: allowWithout, timeout: timeout}
}

func (c *Conn) init() {
	c.once.Do(func() {
		c.remote = c.Conn.RemoteAddr()
		if c.timeout > 0 {
			c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
			defer c.Conn.SetReadDeadline(time.Time{})
		}
		c.br = bufio.NewReaderSize(c.Conn, 256)
		h, err := Read(c.br)
		switch {
		case errors.Is(err, ErrNoHeader) && c.allowWithout:
		case err != nil:
			c.err = err
		default:
			c.hdr = h
			if !h.Local && h.Source.IsValid() {
				c.remote = net.TCPAddrFromAddrPort(h.Source)
			}
		}
	})
}

// Header returns the parsed header (zero without one) and the error that
// failed the connection, if any.
func (c *Conn) Header() (Header, error) {
	c.init()
	return c.hdr, c.err
}

// Read reads the bytes after the header.
func (c *Conn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// RemoteAddr is the client's address from the header, or the peer's.
func (c *Conn) RemoteAddr() net.Addr {
	c.init()
	return c.remote
}

// PeerAddr is the physical peer (the load balancer).
func (c *Conn) PeerAddr() netip.AddrPort {
	if ta, ok := c.Conn.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}
