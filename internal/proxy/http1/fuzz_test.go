package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// The seed corpora live in testdata/fuzz/<Target>; `go test` runs them as
// ordinary tests and `go test -fuzz=<Target>` explores from them.

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(benchReq))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &Parser{Limits: Limits{MaxRequestLine: 512, MaxHeaderBytes: 2048, MaxHeaders: 20}}
		var req httpmsg.Request
		br := bufio.NewReaderSize(bytes.NewReader(data), 256)
		fr, err := p.ReadRequest(br, &req)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error type %T %v", err, err)
			}
			return
		}
		// Invariants a smuggling-safe parser must keep.
		if fr.Kind == FramingChunked && req.Header.Has("transfer-encoding") {
			t.Fatal("transfer-encoding kept in Header")
		}
		if req.Header.Count("content-length") > 1 {
			t.Fatal("duplicate content-length accepted")
		}
		if fr.Kind == FramingChunked && req.Header.Has("content-length") {
			t.Fatal("both framings accepted")
		}
		for _, fl := range req.Header.Fields() {
			if strings.ContainsAny(fl.Name, "\r\n: \x00") || strings.ContainsAny(fl.Value, "\r\n\x00") {
				t.Fatalf("unsafe field %q: %q", fl.Name, fl.Value)
			}
		}
		// Re-serialised upstream, the head must parse identically with an
		// independent parser (net/http): no desync between hops.
		head := AppendRequestHead(nil, &req, RequestFraming(&req))
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			if req.Method == "CONNECT" || req.Path == "*" {
				return
			}
			t.Fatalf("re-serialised head rejected by net/http: %v\n%q", err, head)
		}
		if hr.Method != req.Method || hr.Host != req.Authority {
			t.Fatalf("desync: %q %q vs %q %q", hr.Method, hr.Host, req.Method, req.Authority)
		}
		var body Body
		body.Reset(br, fr, p, &req.Trailer)
		io.Copy(io.Discard, &body)
	})
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), false)
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nuntil close"), true)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		var p Parser
		var resp httpmsg.Response
		br := bufio.NewReaderSize(bytes.NewReader(data), 256)
		fr, err := p.ReadResponse(br, &resp, method)
		if err != nil {
			return
		}
		if resp.Status < 100 || resp.Status > 999 {
			t.Fatalf("status %d", resp.Status)
		}
		if (head || resp.Status == 204 || resp.Status == 304) && fr.Kind != FramingNone {
			t.Fatal("body framing on a bodyless response")
		}
		var body Body
		body.Reset(br, fr, &p, &resp.Trailer)
		io.Copy(io.Discard, &body)
	})
}

func FuzzChunkedReader(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("3;ext=1\r\nabc\r\n0\r\nX-Trailer: v\r\n\r\n"))
	f.Add([]byte("ffffffffffffffffff\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Parser
		var tr httpmsg.Header
		var b Body
		b.Reset(bufio.NewReaderSize(bytes.NewReader(data), 64), Framing{Kind: FramingChunked}, &p, &tr)
		got, err := io.ReadAll(&b)
		if err != nil {
			return
		}
		// Whatever we accept, net/http's chunked decoder (independent code)
		// must decode to the same bytes, or two hops would disagree.
		ref, rerr := io.ReadAll(httputilChunked(data))
		if rerr == nil && !bytes.Equal(ref, got) {
			t.Fatalf("decoded %q, reference %q", got, ref)
		}
	})
}

// httputilChunked decodes with net/http's reader through a full response.
func httputilChunked(data []byte) io.Reader {
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(
		strings.NewReader("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), bytes.NewReader(data))), nil)
	if err != nil {
		return errReader{err}
	}
	return resp.Body
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
