package http1

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

func parseReq(t testing.TB, raw string, lim Limits) (*httpmsg.Request, Framing, error) {
	t.Helper()
	p := &Parser{Limits: lim}
	req := &httpmsg.Request{}
	fr, err := p.ReadRequest(bufio.NewReaderSize(strings.NewReader(raw), 4096), req)
	return req, fr, err
}

func TestReadRequestAccepts(t *testing.T) {
	tests := []struct {
		name, raw     string
		method, auth  string
		path, query   string
		cl            int64
		kind          FramingKind
		upgrade       string
		close, expect bool
		hdr, hdrVal   string
		absentHdr     string
		proto         httpmsg.Proto
	}{
		{name: "simple GET keeps header order and lower-cases names", raw: "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Foo: Bar\r\n\r\n",
			method: "GET", auth: "example.com", path: "/a/b", query: "x=1", hdr: "x-foo", hdrVal: "Bar", proto: httpmsg.HTTP11},
		{name: "bare LF line endings are accepted", raw: "GET / HTTP/1.1\nHost: a\n\n", method: "GET", auth: "a", path: "/", proto: httpmsg.HTTP11},
		{name: "content-length body", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
			method: "POST", auth: "a", path: "/", cl: 5, kind: FramingLength, hdr: "content-length", hdrVal: "5", proto: httpmsg.HTTP11},
		{name: "chunked body", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
			method: "POST", auth: "a", path: "/", cl: -1, kind: FramingChunked, absentHdr: "transfer-encoding", proto: httpmsg.HTTP11},
		{name: "absolute-form overrides Host", raw: "GET http://real.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
			method: "GET", auth: "real.example:8080", path: "/p", query: "q", proto: httpmsg.HTTP11},
		{name: "HTTP/1.0 without Host closes by default", raw: "GET / HTTP/1.0\r\n\r\n", method: "GET", path: "/", close: true, proto: httpmsg.HTTP10},
		{name: "HTTP/1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", method: "GET", path: "/", proto: httpmsg.HTTP10},
		{name: "connection close", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", method: "GET", auth: "a", path: "/", close: true, absentHdr: "connection", proto: httpmsg.HTTP11},
		{name: "websocket upgrade", raw: "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			method: "GET", auth: "a", path: "/ws", upgrade: "websocket", absentHdr: "upgrade", proto: httpmsg.HTTP11},
		{name: "expect 100-continue is consumed", raw: "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
			method: "PUT", auth: "a", path: "/", cl: 1, kind: FramingLength, expect: true, absentHdr: "expect", proto: httpmsg.HTTP11},
		{name: "fields named by Connection are dropped", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n",
			method: "GET", auth: "a", path: "/", absentHdr: "x-hop", proto: httpmsg.HTTP11},
		{name: "OPTIONS asterisk", raw: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", method: "OPTIONS", auth: "a", path: "*", proto: httpmsg.HTTP11},
		{name: "CONNECT authority-form", raw: "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n", method: "CONNECT", auth: "db:5432", proto: httpmsg.HTTP11},
		{name: "te trailers survives", raw: "POST /svc HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n", method: "POST", auth: "a", path: "/svc", hdr: "te", hdrVal: "trailers", proto: httpmsg.HTTP11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, fr, err := parseReq(t, tc.raw, Limits{})
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if req.Method != tc.method || req.Authority != tc.auth || req.Path != tc.path || req.RawQuery != tc.query {
				t.Fatalf("got %q %q %q %q", req.Method, req.Authority, req.Path, req.RawQuery)
			}
			if req.ContentLength != tc.cl || fr.Kind != tc.kind {
				t.Fatalf("cl=%d kind=%d", req.ContentLength, fr.Kind)
			}
			if req.Upgrade != tc.upgrade || req.Close != tc.close || req.ExpectContinue != tc.expect || req.Proto != tc.proto {
				t.Fatalf("upgrade=%q close=%v expect=%v proto=%v", req.Upgrade, req.Close, req.ExpectContinue, req.Proto)
			}
			if tc.hdr != "" {
				if got := req.Header.Get(strings.ToUpper(tc.hdr)); got != tc.hdrVal {
					t.Fatalf("header %s = %q", tc.hdr, got)
				}
			}
			if tc.absentHdr != "" && req.Header.Has(tc.absentHdr) {
				t.Fatalf("hop-by-hop %s kept", tc.absentHdr)
			}
			if req.Header.Has("host") {
				t.Fatal("host kept in Header")
			}
		})
	}
}

func TestReadRequestRejects(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name, raw string
		lim       Limits
		status    int
	}{
		{"CL and TE together (CL.TE smuggling)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", Limits{}, 400},
		{"TE and CL together (TE.CL smuggling)", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", Limits{}, 400},
		{"duplicate identical Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n", Limits{}, 400},
		{"conflicting Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", Limits{}, 400},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n", Limits{}, 400},
		{"signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n", Limits{}, 400},
		{"huge Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", Limits{}, 400},
		{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Limits{}, 400},
		{"TE chunked not final", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Limits{}, 400},
		{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", Limits{}, 400},
		{"TE obfuscated with space in name", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", Limits{}, 400},
		{"TE twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Limits{}, 400},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Limits{}, 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", Limits{}, 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", Limits{}, 400},
		{"bare CR in request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", Limits{}, 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", Limits{}, 400},
		{"CTL in name", "GET / HTTP/1.1\r\nHost: a\r\nX\x01A: b\r\n\r\n", Limits{}, 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", Limits{}, 400},
		{"invalid method token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Limits{}, 400},
		{"double space in request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Limits{}, 400},
		{"unknown version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", Limits{}, 505},
		{"garbage version", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", Limits{}, 400},
		{"missing Host on 1.1", "GET / HTTP/1.1\r\n\r\n", Limits{}, 400},
		{"multiple Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Limits{}, 400},
		{"invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Limits{}, 400},
		{"absolute-form with userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", Limits{}, 400},
		{"absolute-form unknown scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", Limits{}, 400},
		{"asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", Limits{}, 400},
		{"request line too long", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", Limits{MaxRequestLine: 100}, 414},
		{"header section too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + long + "\r\n\r\n", Limits{MaxHeaderBytes: 200}, 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", Limits{MaxHeaders: 3}, 431},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseReq(t, tc.raw, tc.lim)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Status != tc.status {
				t.Fatalf("status = %d, want %d (%s)", e.Status, tc.status, e.Reason)
			}
		})
	}
}

func TestReadRequestTruncatedIsUnexpectedEOF(t *testing.T) {
	_, _, err := parseReq(t, "GET / HTTP/1.1\r\nHost: a\r\n", Limits{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	_, _, err = parseReq(t, "", Limits{})
	if err != io.EOF {
		t.Fatalf("empty input err = %v, want io.EOF", err)
	}
}

func TestParserReusesBufferAcrossPipelinedRequests(t *testing.T) {
	raw := "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(raw))
	var p Parser
	var req httpmsg.Request
	for _, want := range []string{"/1", "/2"} {
		if _, err := p.ReadRequest(br, &req); err != nil {
			t.Fatal(err)
		}
		if req.Path != want {
			t.Fatalf("path %q want %q", req.Path, want)
		}
	}
}

var benchReq = "GET /api/v1/products/12345?currency=EUR HTTP/1.1\r\n" +
	"Host: shop.tenant-a.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=abcdef0123456789; theme=dark\r\n" +
	"X-Request-Id: 9f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b\r\n\r\n"

func BenchmarkReadRequest(b *testing.B) {
	r := strings.NewReader(benchReq)
	br := bufio.NewReader(r)
	var p Parser
	var req httpmsg.Request
	b.ReportAllocs()
	b.SetBytes(int64(len(benchReq)))
	for b.Loop() {
		r.Reset(benchReq)
		br.Reset(r)
		if _, err := p.ReadRequest(br, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadResponse(b *testing.B) {
	const raw = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 64\r\nConnection: keep-alive\r\n\r\n"
	r := strings.NewReader(raw)
	br := bufio.NewReader(r)
	var p Parser
	var resp httpmsg.Response
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(raw)
		br.Reset(r)
		if _, err := p.ReadResponse(br, &resp, "GET"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendRequestHead(b *testing.B) {
	req, fr, err := parseReq(b, benchReq, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRequestHead(buf[:0], req, fr)
	}
}
