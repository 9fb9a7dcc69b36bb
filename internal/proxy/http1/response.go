package http1

import (
	"bufio"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// ReadResponse reads a response head from br into resp (Reset first) for a
// request with method reqMethod, and returns its body framing per RFC 9112
// §6.3. Interim 1xx responses other than 101 are consumed and skipped: the
// proxy answers 100-continue itself and does not relay 103 Early Hints.
func (p *Parser) ReadResponse(br *bufio.Reader, resp *httpmsg.Response, reqMethod string) (Framing, error) {
	lim := p.Limits.withDefaults()
	for {
		p.buf = p.buf[:0]
		resp.Reset()
		line, err := p.readLine(br, lim.MaxHeaderBytes, ErrHeaderTooLarge)
		if err != nil {
			return Framing{}, err
		}
		if err := parseStatusLine(line, resp); err != nil {
			return Framing{}, err
		}
		st := headState{contentLength: -1}
		if err := p.readFields(br, &resp.Header, &st, lim.MaxHeaderBytes-len(p.buf), lim.MaxHeaders, false); err != nil {
			return Framing{}, err
		}
		if resp.Status >= 100 && resp.Status < 200 && resp.Status != 101 {
			continue
		}
		return finishResponse(resp, &st, reqMethod)
	}
}

func finishResponse(resp *httpmsg.Response, st *headState, reqMethod string) (Framing, error) {
	st.dropListed(&resp.Header)
	if resp.Proto == httpmsg.HTTP10 {
		resp.Close = !st.connKeepAlive
	} else {
		resp.Close = st.connClose
	}
	if resp.Status == 101 {
		// After 101 the connection carries the new protocol; the "body" is
		// the tunnel and the pool hands out the raw connection.
		resp.ContentLength = 0
		return Framing{}, nil
	}
	if st.te && st.contentLength >= 0 {
		// RFC 9112 §6.3 lets TE override CL but calls it a likely smuggling
		// attempt; an upstream doing this is broken, so fail the exchange.
		return Framing{}, errCLAndTE
	}
	if st.te && resp.Proto == httpmsg.HTTP10 {
		return Framing{}, errTEOnHTTP10
	}
	if reqMethod == "HEAD" || resp.Status == 204 || resp.Status == 304 || (reqMethod == "CONNECT" && resp.Status/100 == 2) {
		resp.ContentLength = 0
		return Framing{}, nil
	}
	switch {
	case st.chunked:
		resp.ContentLength = -1
		return Framing{Kind: FramingChunked}, nil
	case st.contentLength >= 0:
		resp.ContentLength = st.contentLength
		if st.contentLength == 0 {
			return Framing{}, nil
		}
		return Framing{Kind: FramingLength, Length: st.contentLength}, nil
	}
	resp.ContentLength = -1
	resp.Close = true
	return Framing{Kind: FramingUntilClose}, nil
}

func parseStatusLine(line []byte, resp *httpmsg.Response) error {
	// HTTP-version SP 3DIGIT SP [reason]; some servers omit the SP after
	// the code when the reason is empty, which RFC 9112 §4 tolerates.
	if len(line) < 12 || str(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return errStatusLine
	}
	switch line[7] {
	case '1':
		resp.Proto = httpmsg.HTTP11
	case '0':
		resp.Proto = httpmsg.HTTP10
	default:
		return errStatusLine
	}
	c := line[9:12]
	if !isDigit(c[0]) || !isDigit(c[1]) || !isDigit(c[2]) || c[0] == '0' {
		return errStatusLine
	}
	if len(line) > 12 && line[12] != ' ' {
		return errStatusLine
	}
	resp.Status = int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0')
	if !validValue(line[12:]) {
		return errStatusLine
	}
	return nil
}
