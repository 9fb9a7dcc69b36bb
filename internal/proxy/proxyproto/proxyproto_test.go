package proxyproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func v2(cmd, fam byte, body []byte) []byte {
	b := append([]byte{}, v2Signature...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func v2TCP4(src, dst string, sp, dp uint16, tlv []byte) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	body := append(append([]byte{}, s[:]...), d[:]...)
	body = binary.BigEndian.AppendUint16(body, sp)
	body = binary.BigEndian.AppendUint16(body, dp)
	return v2(1, 0x11, append(body, tlv...))
}

func v2TCP6(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	body := append(append([]byte{}, s[:]...), d[:]...)
	body = binary.BigEndian.AppendUint16(body, sp)
	body = binary.BigEndian.AppendUint16(body, dp)
	return v2(1, 0x21, body)
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Header
		wantErr string
	}{
		{"v1 TCP4", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET"), Header{Version: 1, Source: netip.MustParseAddrPort("192.0.2.1:56324"), Destination: netip.MustParseAddrPort("198.51.100.2:443")}, ""},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\nGET"), Header{Version: 1, Source: netip.MustParseAddrPort("[2001:db8::1]:1"), Destination: netip.MustParseAddrPort("[2001:db8::2]:65535")}, ""},
		{"v1 UNKNOWN keeps the connection's addresses", []byte("PROXY UNKNOWN whatever\r\nGET"), Header{Version: 1, Local: true}, ""},
		{"v1 family mismatch is refused", []byte("PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n"), Header{}, "do not match"},
		{"v1 without CRLF is refused", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n"), Header{}, "CRLF"},
		{"v1 port with leading zero is refused", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n"), Header{}, "bad port"},
		{"v1 port out of range is refused", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 70000 2\r\n"), Header{}, "bad port"},
		{"v1 longer than 107 bytes is refused", []byte("PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n"), Header{}, "107"},
		{"v2 TCP4 with TLVs", v2TCP4("203.0.113.7", "10.0.0.1", 4000, 8443, []byte{0x04, 0, 1, 'x'}), Header{Version: 2, Source: netip.MustParseAddrPort("203.0.113.7:4000"), Destination: netip.MustParseAddrPort("10.0.0.1:8443")}, ""},
		{"v2 TCP6", v2TCP6("2001:db8::7", "2001:db8::1", 4000, 443), Header{Version: 2, Source: netip.MustParseAddrPort("[2001:db8::7]:4000"), Destination: netip.MustParseAddrPort("[2001:db8::1]:443")}, ""},
		{"v2 LOCAL keeps the connection's addresses", v2(0, 0x11, make([]byte, 12)), Header{Version: 2, Local: true}, ""},
		{"v2 short IPv4 block is refused", v2(1, 0x11, make([]byte, 8)), Header{}, "short"},
		{"v2 UDP is refused", v2(1, 0x12, make([]byte, 12)), Header{}, "family"},
		{"v2 oversized block is refused", v2(1, 0x11, make([]byte, v2MaxLen+1)), Header{}, "exceeds"},
		{"plain HTTP has no header", []byte("GET / HTTP/1.1\r\n\r\n"), Header{}, ErrNoHeader.Error()},
		{"truncated v2 signature has no header", []byte("\r\n\r\nX\r\nQUIT\nxxxx"), Header{}, ErrNoHeader.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Read(bufio.NewReader(strings.NewReader(string(tt.in))))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.want {
				t.Fatalf("header = %+v, want %+v", h, tt.want)
			}
		})
	}
}

func TestConnRestoresClientAndKeepsFollowingBytes(t *testing.T) {
	tests := []struct {
		name         string
		send         string
		allowWithout bool
		wantRemote   string // "" means the physical peer
		wantErr      bool
	}{
		{"v1 header gives the client address", "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nhello", false, "192.0.2.1:5555", false},
		{"v2 header gives the client address", string(v2TCP4("203.0.113.9", "10.0.0.1", 1234, 80, nil)) + "hello", false, "203.0.113.9:1234", false},
		{"no header is refused by default", "hello, no header here", false, "", true},
		{"no header passes when allowed", "hello", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return
				}
				defer c.Close()
				c.Write([]byte(tt.send))
			}()
			raw, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c := NewConn(raw, tt.allowWithout, 5*time.Second)
			defer c.Close()
			peer := raw.RemoteAddr().String()
			got := c.RemoteAddr().String()
			b, err := io.ReadAll(c)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("read %q, want an error", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.wantRemote
			if want == "" {
				want = peer
			}
			if got != want {
				t.Errorf("RemoteAddr = %s, want %s", got, want)
			}
			if c.PeerAddr().String() != peer {
				t.Errorf("PeerAddr = %s, want %s", c.PeerAddr(), peer)
			}
			if !strings.HasSuffix(tt.send, string(b)) || (len(b) != 5 && tt.allowWithout) || (!tt.allowWithout && string(b) != "hello") {
				t.Errorf("payload = %q", b)
			}
		})
	}
}

func TestConnTimesOutWaitingForHeader(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a, false, 50*time.Millisecond)
	defer c.Close()
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"))
	f.Add([]byte("PROXY TCP6 ::1 ::1 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2TCP4("1.2.3.4", "5.6.7.8", 1, 2, []byte{1, 0, 0}))
	f.Add(v2TCP6("::1", "::2", 1, 2))
	f.Add(v2(0, 0, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 16)
		h, err := Read(r)
		if err != nil {
			return
		}
		if !h.Local && (!h.Source.IsValid() || !h.Destination.IsValid()) {
			t.Fatalf("accepted header without addresses: %+v", h)
		}
		if h.Version != 1 && h.Version != 2 {
			t.Fatalf("version %d", h.Version)
		}
	})
}
