package http1

import (
	"bufio"
	"strconv"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// hopByHop are the fields writers never copy from a Header: the codec emits
// framing and connection management itself so that they always agree with
// how the body is actually sent (RFC 9110 §7.6.1, RFC 9112 §6).
func hopByHop(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding",
		"te", "upgrade", "content-length", "host", "trailer", "expect":
		return true
	}
	return false
}

// safeValue refuses values that would split the head: filters may set
// arbitrary strings, and CR/LF/NUL in one would inject fields or a body.
func safeValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// AppendFields appends the end-to-end fields of h as "name: value\r\n".
func AppendFields(dst []byte, h *httpmsg.Header) []byte {
	for _, f := range h.Fields() {
		if hopByHop(f.Name) || !safeValue(f.Value) || !safeValue(f.Name) {
			continue
		}
		dst = append(dst, f.Name...)
		dst = append(dst, ':', ' ')
		dst = append(dst, f.Value...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// AppendStatusLine appends "HTTP/1.x code reason\r\n".
func AppendStatusLine(dst []byte, proto httpmsg.Proto, status int) []byte {
	if proto == httpmsg.HTTP10 {
		dst = append(dst, "HTTP/1.0 "...)
	} else {
		dst = append(dst, "HTTP/1.1 "...)
	}
	if status == 200 {
		return append(dst, "200 OK\r\n"...)
	}
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(status)...)
	return append(dst, '\r', '\n')
}

// AppendContentLength appends "content-length: n\r\n".
func AppendContentLength(dst []byte, n int64) []byte {
	dst = append(dst, "content-length: "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

// BodyAllowed reports whether a response with this status to this method
// may carry a body (RFC 9110 §6.4.1).
func BodyAllowed(method string, status int) bool {
	return method != "HEAD" && status >= 200 && status != 204 && status != 304
}

// RequestFraming picks the upstream framing for req: its known length, or
// chunked when the length is unknown. HTTP/1.1 only is spoken upstream.
func RequestFraming(req *httpmsg.Request) Framing {
	switch {
	case req.ContentLength > 0:
		return Framing{Kind: FramingLength, Length: req.ContentLength}
	case req.ContentLength < 0:
		return Framing{Kind: FramingChunked}
	}
	return Framing{}
}

// AppendRequestHead appends an HTTP/1.1 request head for req with the given
// body framing. Upgrade requests keep their Upgrade/Connection pair.
func AppendRequestHead(dst []byte, req *httpmsg.Request, fr Framing) []byte {
	dst = append(dst, req.Method...)
	dst = append(dst, ' ')
	switch {
	case req.Method == "CONNECT":
		dst = append(dst, req.Authority...)
	case req.Path == "":
		dst = append(dst, '/')
	default:
		dst = append(dst, req.Path...)
	}
	if req.RawQuery != "" {
		dst = append(dst, '?')
		dst = append(dst, req.RawQuery...)
	}
	dst = append(dst, " HTTP/1.1\r\nhost: "...)
	dst = append(dst, req.Authority...)
	dst = append(dst, '\r', '\n')
	dst = AppendFields(dst, &req.Header)
	switch fr.Kind {
	case FramingLength:
		dst = AppendContentLength(dst, fr.Length)
	case FramingChunked:
		dst = append(dst, "transfer-encoding: chunked\r\n"...)
	default:
		// A POST with an empty body still needs "content-length: 0" or the
		// server cannot tell it has no body (RFC 9112 §6.3 rule 7 applies to
		// requests: absent framing means zero, but some servers wait).
		switch req.Method {
		case "POST", "PUT", "PATCH":
			dst = append(dst, "content-length: 0\r\n"...)
		}
	}
	if req.Upgrade != "" {
		dst = append(dst, "connection: upgrade\r\nupgrade: "...)
		dst = append(dst, req.Upgrade...)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, '\r', '\n')
}

// AppendChunkHeader appends the size line of a chunk of n > 0 bytes.
func AppendChunkHeader(dst []byte, n int) []byte {
	dst = strconv.AppendUint(dst, uint64(n), 16)
	return append(dst, '\r', '\n')
}

// AppendLastChunk appends the terminating chunk with trailer fields.
func AppendLastChunk(dst []byte, trailer *httpmsg.Header) []byte {
	dst = append(dst, '0', '\r', '\n')
	if trailer != nil {
		for _, f := range trailer.Fields() {
			if hopByHop(f.Name) || !safeValue(f.Value) || !safeValue(f.Name) {
				continue
			}
			dst = append(dst, f.Name...)
			dst = append(dst, ':', ' ')
			dst = append(dst, f.Value...)
			dst = append(dst, '\r', '\n')
		}
	}
	return append(dst, '\r', '\n')
}

// ChunkedWriter writes a chunked body to w. Zero value is not usable; set W.
type ChunkedWriter struct {
	W       *bufio.Writer
	scratch [20]byte
}

func (c *ChunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := c.W.Write(AppendChunkHeader(c.scratch[:0], len(p))); err != nil {
		return 0, err
	}
	n, err := c.W.Write(p)
	if err != nil {
		return n, err
	}
	_, err = c.W.WriteString("\r\n")
	return n, err
}

// Close writes the last chunk and trailers (nil for none).
func (c *ChunkedWriter) Close(trailer *httpmsg.Header) error {
	if trailer == nil || trailer.Len() == 0 {
		_, err := c.W.WriteString("0\r\n\r\n")
		return err
	}
	_, err := c.W.Write(AppendLastChunk(nil, trailer))
	return err
}

// StatusText is the reason phrase for common codes; clients ignore it
// (RFC 9112 §4), so unknown codes get an empty one.
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}
