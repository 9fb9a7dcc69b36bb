// Package http1 is the proxy's HTTP/1.x codec: it parses request and
// response heads into reused httpmsg values, reads bodies (Content-Length,
// chunked with trailers, close-delimited) and writes heads with framing the
// proxy decides itself. It never allocates on the common path.
//
// Parsing is strict where leniency enables request smuggling (RFC 9112 §6.3,
// §11.2): a message with both Content-Length and Transfer-Encoding, a
// duplicate Content-Length, a transfer coding other than exactly "chunked",
// obs-fold, bare CR, control characters, or a malformed chunk size is
// rejected with a 400-class *Error and must never reach a handler.
package http1

import "strconv"

// Error is a protocol violation. Status is the response the server should
// send before closing the connection (400, 414, 431, 501, 505); on the
// client side any Error means the upstream is broken (502).
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "http1: " + strconv.Itoa(e.Status) + " " + e.Reason }

func bad(reason string) *Error { return &Error{Status: 400, Reason: reason} }

// The errors are values built once so the reject path does not allocate
// either: a flood of malformed requests should cost as little as good ones.
var (
	ErrRequestLineTooLong = &Error{414, "request line too long"}
	ErrHeaderTooLarge     = &Error{431, "header section too large"}
	ErrTooManyHeaders     = &Error{431, "too many header fields"}
	ErrVersion            = &Error{505, "HTTP version not supported"}

	errMalformedRequestLine = bad("malformed request line")
	errMethod               = bad("invalid method")
	errTarget               = bad("invalid request target")
	errVersion              = bad("malformed HTTP version")
	errBareCR               = bad("bare CR")
	errObsFold              = bad("obsolete line folding")
	errFieldName            = bad("invalid field name")
	errFieldValue           = bad("invalid field value")
	errContentLength        = bad("invalid Content-Length")
	errDupContentLength     = bad("duplicate Content-Length")
	errCLAndTE              = bad("both Content-Length and Transfer-Encoding")
	errTransferEncoding     = bad("unsupported Transfer-Encoding")
	errTEOnHTTP10           = bad("Transfer-Encoding in HTTP/1.0 message")
	errMissingHost          = bad("missing Host")
	errMultipleHost         = bad("multiple Host fields")
	errHost                 = bad("invalid Host")
	errStatusLine           = bad("malformed status line")
	errChunkSize            = bad("invalid chunk size")
	errChunkExt             = bad("invalid chunk extension")
	errChunkCRLF            = bad("missing CRLF after chunk data")
	errChunkLine            = bad("chunk line too long")
	errTrailer              = bad("invalid trailer section")
)

// Limits bound what a peer can make the proxy buffer. Zero fields take the
// defaults, which follow Envoy: 60 KiB of headers, 100 fields
// (max_request_headers_kb, max_headers_count).
type Limits struct {
	MaxRequestLine int // bytes in the request line; over it → 414
	MaxHeaderBytes int // bytes in the whole head; over it → 431
	MaxHeaders     int // number of fields; over it → 431
}

const (
	DefaultMaxRequestLine = 16 << 10
	DefaultMaxHeaderBytes = 60 << 10
	DefaultMaxHeaders     = 100
)

func (l Limits) withDefaults() Limits {
	if l.MaxRequestLine <= 0 {
		l.MaxRequestLine = DefaultMaxRequestLine
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	return l
}

// tchar per RFC 9110 §5.6.2.
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// Host per RFC 3986 §3.2.2 (reg-name, IP-literal) plus ':' for the port.
var hostTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=:[]%" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hostTable[s[i]] {
			return false
		}
	}
	return true
}

// validValue rejects CTLs other than HTAB, and DEL (RFC 9110 §5.5). obs-text
// (>= 0x80) is allowed as received.
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
