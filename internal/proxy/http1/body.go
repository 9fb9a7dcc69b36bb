package http1

import (
	"bufio"
	"io"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Body reads one message body off a connection's bufio.Reader. It is meant
// to be embedded in per-connection state and re-armed with Reset for each
// message, so it never allocates. Not safe for concurrent use.
type Body struct {
	br      *bufio.Reader
	p       *Parser
	trailer *httpmsg.Header
	kind    FramingKind
	n       int64 // bytes left in the body (length) or in the current chunk
	state   chunkState
	err     error // sticky: io.EOF once complete, or the failure
}

type chunkState uint8

const (
	chunkSize chunkState = iota
	chunkData
	chunkCRLF
)

// maxChunkLine bounds a chunk-size line including extensions; extensions are
// never used by the proxy and an unbounded one is a memory and CPU vector.
const maxChunkLine = 4096

// Reset arms b for a body with framing fr read from br. p provides limits
// and the buffer for trailer strings; trailer receives chunked trailers.
func (b *Body) Reset(br *bufio.Reader, fr Framing, p *Parser, trailer *httpmsg.Header) {
	*b = Body{br: br, p: p, trailer: trailer, kind: fr.Kind, n: fr.Length}
	if fr.Kind == FramingNone || (fr.Kind == FramingLength && fr.Length == 0) {
		b.err = io.EOF
	}
}

// Done reports that the body was read to its end without error, which is
// what makes the connection reusable.
func (b *Body) Done() bool { return b.err == io.EOF }

// Err returns the sticky error (nil while the body is still readable).
func (b *Body) Err() error { return b.err }

// Buffered reports whether body bytes can be read without blocking. Copy
// loops flush downstream when it is false, so a streamed response reaches
// the client promptly while a small one goes out in a single write.
func (b *Body) Buffered() bool {
	if b.err != nil {
		return false
	}
	return b.br.Buffered() > 0
}

func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	switch b.kind {
	case FramingLength:
		if int64(len(p)) > b.n {
			p = p[:b.n]
		}
		k, err := b.br.Read(p)
		b.n -= int64(k)
		if b.n == 0 {
			b.err = io.EOF
			return k, io.EOF
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
		}
		return k, err
	case FramingUntilClose:
		k, err := b.br.Read(p)
		if err != nil {
			b.err = err
		}
		return k, err
	case FramingChunked:
		return b.readChunked(p)
	}
	return 0, io.EOF
}

func (b *Body) fail(err error) (int, error) {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	b.err = err
	return 0, err
}

func (b *Body) readChunked(p []byte) (int, error) {
	for {
		switch b.state {
		case chunkSize:
			n, err := b.readChunkSize()
			if err != nil {
				return b.fail(err)
			}
			if n == 0 {
				if err := b.readTrailer(); err != nil {
					return b.fail(err)
				}
				b.err = io.EOF
				return 0, io.EOF
			}
			b.n, b.state = n, chunkData
		case chunkData:
			if int64(len(p)) > b.n {
				p = p[:b.n]
			}
			k, err := b.br.Read(p)
			b.n -= int64(k)
			if b.n == 0 {
				b.state = chunkCRLF
				// Look ahead so that the common "data CRLF 0 CRLF CRLF"
				// ending is reported with the last bytes: the caller then
				// finishes the response without another read or flush.
				if b.br.Buffered() >= 7 {
					if peek, _ := b.br.Peek(7); string(peek) == "\r\n0\r\n\r\n" {
						b.br.Discard(7)
						b.err = io.EOF
						return k, io.EOF
					}
				}
			}
			if err != nil && k == 0 {
				return b.fail(err)
			}
			return k, nil
		case chunkCRLF:
			c1, err := b.br.ReadByte()
			if err != nil {
				return b.fail(err)
			}
			c2, err := b.br.ReadByte()
			if err != nil {
				return b.fail(err)
			}
			if c1 != '\r' || c2 != '\n' {
				return b.fail(errChunkCRLF)
			}
			b.state = chunkSize
		}
	}
}

// readChunkSize parses chunk-size [chunk-ext] CRLF (RFC 9112 §7.1). CRLF is
// required exactly here: lenient line endings inside chunked framing are a
// classic smuggling desync between proxies.
func (b *Body) readChunkSize() (int64, error) {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return 0, errChunkLine
		}
		return 0, err
	}
	if len(line) > maxChunkLine {
		return 0, errChunkLine
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return 0, errChunkSize
	}
	line = line[:len(line)-2]
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if n > (1<<62)>>4 {
			return 0, errChunkSize // overflow
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, errChunkSize
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:] // BWS before ';'
	}
	if len(rest) > 0 {
		if rest[0] != ';' {
			return 0, errChunkSize
		}
		for _, c := range rest {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return 0, errChunkExt
			}
		}
	}
	return n, nil
}

func (b *Body) readTrailer() error {
	lim := b.p.Limits.withDefaults()
	var st headState
	h := b.trailer
	if h == nil {
		h = &httpmsg.Header{} // trailer not wanted: parse to validate, then drop
	}
	if err := b.p.readFields(b.br, h, &st, lim.MaxHeaderBytes, lim.MaxHeaders, true); err != nil {
		if e, ok := err.(*Error); ok && e.Status != 400 {
			return errTrailer
		}
		return err
	}
	return nil
}

// Discard reads and drops the rest of the body, up to max bytes. It reports
// whether the body ended within that budget, i.e. whether the connection
// can be kept for the next message.
func (b *Body) Discard(max int64) bool {
	var scratch [512]byte
	for b.err == nil && max > 0 {
		if b.kind == FramingLength {
			if b.n > max {
				return false
			}
			k, _ := b.br.Discard(int(b.n))
			b.n -= int64(k)
			if b.n == 0 {
				b.err = io.EOF
			} else {
				b.err = io.ErrUnexpectedEOF
			}
			break
		}
		k, _ := b.Read(scratch[:])
		max -= int64(k)
	}
	return b.err == io.EOF
}
