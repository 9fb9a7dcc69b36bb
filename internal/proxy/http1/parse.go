package http1

import (
	"bufio"
	"io"
	"unsafe"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Framing is how a message body is delimited on the wire (RFC 9112 §6.3).
type Framing struct {
	Kind   FramingKind
	Length int64 // for FramingLength
}

type FramingKind uint8

const (
	FramingNone       FramingKind = iota // no body
	FramingLength                        // Content-Length bytes
	FramingChunked                       // chunked transfer coding
	FramingUntilClose                    // response body ends when the connection closes
)

// Parser reads message heads. It owns the buffer that the strings of the
// parsed message point into, so one Parser serves one connection and the
// strings of a message are valid until the Parser's next Read call.
// Not safe for concurrent use.
type Parser struct {
	Limits Limits // read on every call; zero fields mean defaults

	buf []byte
}

// str makes a string aliasing b without copying. b lies in p.buf, which is
// only ever appended to until the next message starts, so the bytes behind
// the string do not change while the message is in use.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// readLine appends the next line to p.buf and returns it without its line
// terminator. Bare LF is accepted as a terminator (RFC 9112 §2.2 allows it);
// a CR anywhere else is rejected because a peer that treats it as a line end
// would see a different message.
func (p *Parser) readLine(br *bufio.Reader, limit int, tooLong *Error) ([]byte, error) {
	start := len(p.buf)
	for {
		frag, err := br.ReadSlice('\n')
		if len(p.buf)-start+len(frag) > limit {
			return nil, tooLong
		}
		p.buf = append(p.buf, frag...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(p.buf) > start {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line := p.buf[start : len(p.buf)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	for _, c := range line {
		if c == '\r' {
			return nil, errBareCR
		}
	}
	return line, nil
}

// headState collects the framing-relevant fields while headers are read.
type headState struct {
	contentLength int64 // -1 if absent
	chunked       bool
	te            bool
	hosts         int
	host          string
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	connOther     bool // Connection names other fields, removed afterwards
	connValues    [4]string
	nConn         int
	upgrade       string
	expect        bool
}

// readFields reads header lines into h until the empty line. budget is what
// is left of MaxHeaderBytes.
func (p *Parser) readFields(br *bufio.Reader, h *httpmsg.Header, st *headState, budget, maxFields int, isTrailer bool) error {
	n := 0
	for {
		if budget <= 0 {
			return ErrHeaderTooLarge
		}
		start := len(p.buf)
		line, err := p.readLine(br, budget, ErrHeaderTooLarge)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the head had started
			}
			return err
		}
		budget -= len(p.buf) - start
		if len(line) == 0 {
			return nil
		}
		if n++; n > maxFields {
			return ErrTooManyHeaders
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold // RFC 9112 §5.2: reject rather than unfold
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		// No whitespace is allowed between name and colon (RFC 9112 §5.1);
		// isToken rejects it.
		if colon <= 0 || !isToken(line[:colon]) {
			return errFieldName
		}
		name := line[:colon]
		for i, c := range name {
			if 'A' <= c && c <= 'Z' {
				name[i] = c + 'a' - 'A'
			}
		}
		v := line[colon+1:]
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		if !validValue(v) {
			return errFieldValue
		}
		ns, vs := str(name), str(v)
		if isTrailer {
			// Framing and routing fields are not allowed in trailers
			// (RFC 9110 §6.5.1); drop them rather than let them through.
			switch ns {
			case "content-length", "transfer-encoding", "host", "connection", "te", "trailer":
				continue
			}
			h.Add(ns, vs)
			continue
		}
		if keep, err := st.field(ns, vs); err != nil {
			return err
		} else if keep {
			h.Add(ns, vs)
		}
	}
}

// field interprets hop-by-hop and framing fields. It reports whether the
// field is end-to-end and belongs in Header.
func (st *headState) field(name, v string) (bool, error) {
	switch name {
	case "content-length":
		if st.contentLength >= 0 {
			return false, errDupContentLength
		}
		n, ok := parseContentLength(v)
		if !ok {
			return false, errContentLength
		}
		st.contentLength = n
		return true, nil
	case "transfer-encoding":
		if st.te {
			return false, errTransferEncoding // one field, one coding
		}
		st.te = true
		if !httpmsg.EqualFold(v, "chunked") {
			return false, errTransferEncoding
		}
		st.chunked = true
		return false, nil
	case "host":
		st.hosts++
		st.host = v
		return false, nil
	case "connection":
		if st.nConn == len(st.connValues) {
			return false, errFieldValue // more Connection fields than any client sends
		}
		st.connValues[st.nConn] = v
		st.nConn++
		forEachToken(v, func(t string) {
			switch {
			case httpmsg.EqualFold(t, "close"):
				st.connClose = true
			case httpmsg.EqualFold(t, "keep-alive"):
				st.connKeepAlive = true
			case httpmsg.EqualFold(t, "upgrade"):
				st.connUpgrade = true
			default:
				st.connOther = true
			}
		})
		return false, nil
	case "upgrade":
		st.upgrade = v
		return false, nil
	case "expect":
		if httpmsg.EqualFold(v, "100-continue") {
			st.expect = true
		}
		return false, nil
	case "te":
		// Only "trailers" survives: gRPC needs it end to end over HTTP/2
		// (RFC 9113 §8.2.2), any other TE value is hop-by-hop.
		return httpmsg.EqualFold(v, "trailers"), nil
	case "keep-alive", "proxy-connection":
		return false, nil
	}
	return true, nil
}

// dropListed removes the fields named in Connection: they are hop-by-hop by
// declaration (RFC 9110 §7.6.1).
func (st *headState) dropListed(h *httpmsg.Header) {
	if !st.connOther {
		return
	}
	for _, v := range st.connValues[:st.nConn] {
		forEachToken(v, func(t string) {
			// HTTP2-Settings stays for the server, which either performs
			// the h2c upgrade or removes it (RFC 7540 §3.2.1).
			if !httpmsg.EqualFold(t, "close") && !httpmsg.EqualFold(t, "keep-alive") && !httpmsg.EqualFold(t, "upgrade") && !httpmsg.EqualFold(t, "http2-settings") {
				h.Del(t)
			}
		})
	}
}

func forEachToken(v string, fn func(string)) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		t := v[:i]
		for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
			t = t[1:]
		}
		for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
			t = t[:len(t)-1]
		}
		if t != "" {
			fn(t)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// parseContentLength accepts 1*DIGIT only: no sign, no spaces, no list
// ("42, 42" is rejected although RFC 9110 §8.6 permits collapsing it,
// because strictness here is cheaper than reasoning about every peer).
func parseContentLength(v string) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// ReadRequest reads a request head from br into req (which is Reset first)
// and returns how its body is framed. On an *Error the connection must be
// answered with Error.Status and closed. io.EOF means the peer closed
// cleanly before sending anything.
func (p *Parser) ReadRequest(br *bufio.Reader, req *httpmsg.Request) (Framing, error) {
	lim := p.Limits.withDefaults()
	p.buf = p.buf[:0]
	req.Reset()

	line, err := p.readLine(br, lim.MaxRequestLine, ErrRequestLineTooLong)
	if err != nil {
		return Framing{}, err
	}
	if err := parseRequestLine(line, req); err != nil {
		return Framing{}, err
	}
	st := headState{contentLength: -1}
	if err := p.readFields(br, &req.Header, &st, lim.MaxHeaderBytes-len(p.buf), lim.MaxHeaders, false); err != nil {
		return Framing{}, err
	}
	return finishRequest(req, &st)
}

func finishRequest(req *httpmsg.Request, st *headState) (Framing, error) {
	if st.hosts > 1 {
		return Framing{}, errMultipleHost
	}
	if st.hosts == 1 && !validHost(st.host) {
		return Framing{}, errHost
	}
	if req.Authority == "" {
		if st.hosts == 0 && req.Proto == httpmsg.HTTP11 {
			return Framing{}, errMissingHost // RFC 9112 §3.2
		}
		req.Authority = st.host
	} else if st.hosts == 0 && req.Proto == httpmsg.HTTP11 {
		return Framing{}, errMissingHost
	}
	// With absolute-form the target's authority wins and Host is ignored
	// (RFC 9112 §3.2.2); that is already the case as Authority was set.

	st.dropListed(&req.Header)
	if st.connUpgrade && st.upgrade != "" {
		req.Upgrade = st.upgrade
	}
	req.ExpectContinue = st.expect
	if req.Proto == httpmsg.HTTP10 {
		req.Close = !st.connKeepAlive
	} else {
		req.Close = st.connClose
	}

	switch {
	case st.te && st.contentLength >= 0:
		return Framing{}, errCLAndTE
	case st.te && req.Proto == httpmsg.HTTP10:
		return Framing{}, errTEOnHTTP10
	case st.chunked:
		req.ContentLength = -1
		return Framing{Kind: FramingChunked}, nil
	case st.contentLength > 0:
		req.ContentLength = st.contentLength
		return Framing{Kind: FramingLength, Length: st.contentLength}, nil
	}
	req.ContentLength = 0
	return Framing{}, nil
}

func parseRequestLine(line []byte, req *httpmsg.Request) error {
	sp1 := -1
	for i, c := range line {
		if c == ' ' {
			sp1 = i
			break
		}
	}
	if sp1 <= 0 {
		return errMalformedRequestLine
	}
	if !isToken(line[:sp1]) {
		return errMethod
	}
	rest := line[sp1+1:]
	sp2 := -1
	for i, c := range rest {
		if c == ' ' {
			sp2 = i
			break
		}
	}
	if sp2 <= 0 {
		return errMalformedRequestLine
	}
	target, version := rest[:sp2], rest[sp2+1:]
	switch str(version) {
	case "HTTP/1.1":
		req.Proto = httpmsg.HTTP11
	case "HTTP/1.0":
		req.Proto = httpmsg.HTTP10
	default:
		if len(version) == 8 && str(version[:5]) == "HTTP/" && isDigit(version[5]) && version[6] == '.' && isDigit(version[7]) {
			return ErrVersion
		}
		return errVersion
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return errTarget
		}
	}
	req.Method = str(line[:sp1])
	req.Scheme = "http"
	return parseTarget(target, req)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseTarget handles the four forms of RFC 9112 §3.2.
func parseTarget(t []byte, req *httpmsg.Request) error {
	switch {
	case t[0] == '/':
		splitPathQuery(t, req)
		return nil
	case len(t) == 1 && t[0] == '*':
		if req.Method != "OPTIONS" {
			return errTarget
		}
		req.Path = "*"
		return nil
	case req.Method == "CONNECT":
		if !validHost(str(t)) {
			return errTarget
		}
		req.Authority = str(t)
		return nil
	}
	// absolute-form: only http and https make sense for a gateway.
	var rest []byte
	switch {
	case len(t) > 7 && httpmsg.EqualFold(str(t[:7]), "http://"):
		req.Scheme, rest = "http", t[7:]
	case len(t) > 8 && httpmsg.EqualFold(str(t[:8]), "https://"):
		req.Scheme, rest = "https", t[8:]
	default:
		return errTarget
	}
	end := len(rest)
	for i, c := range rest {
		if c == '/' || c == '?' {
			end = i
			break
		}
	}
	auth := rest[:end]
	for _, c := range auth {
		if c == '@' {
			return errTarget // userinfo is deprecated and a spoofing vector
		}
	}
	if len(auth) == 0 || !validHost(str(auth)) {
		return errTarget
	}
	req.Authority = str(auth)
	if end == len(rest) {
		req.Path = "/"
		return nil
	}
	if rest[end] == '?' {
		req.Path = "/"
		req.RawQuery = str(rest[end+1:])
		return nil
	}
	splitPathQuery(rest[end:], req)
	return nil
}

func splitPathQuery(t []byte, req *httpmsg.Request) {
	for i, c := range t {
		if c == '?' {
			req.Path = str(t[:i])
			req.RawQuery = str(t[i+1:])
			return
		}
	}
	req.Path = str(t)
}
