package echo_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

// start runs a backend for the test's duration.
func start(t *testing.T, opts echo.Options) *echo.Server {
	t.Helper()
	s, err := echo.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func h1Client(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func h2cClient(t *testing.T) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr map[string][]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestReplyDescribesRequest(t *testing.T) {
	s := start(t, echo.Options{Name: "product-v1", Addr: "127.0.0.2:0"})
	big := strings.Repeat("x", 64<<10)
	tests := []struct {
		name     string
		client   *http.Client
		method   string
		path     string
		body     string
		wantProt string
		wantBody string
	}{
		{"HTTP/1.1 GET with query", h1Client(t), http.MethodGet, "/api/v1/items?a=1&b=two", "", "HTTP/1.1", ""},
		{"HTTP/1.1 POST echoes small body", h1Client(t), http.MethodPost, "/submit", "hello", "HTTP/1.1", "hello"},
		{"body of 64 KiB is digested but not echoed", h1Client(t), http.MethodPut, "/big", big, "HTTP/1.1", ""},
		{"h2c prior knowledge", h2cClient(t), http.MethodPost, "/h2?x=y", "payload", "HTTP/2.0", "payload"},
		{"encoded path keeps its raw form", h1Client(t), http.MethodGet, "/a%2Fb", "", "HTTP/1.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, tt.client, tt.method, s.URL()+tt.path, strings.NewReader(tt.body),
				map[string][]string{"X-Multi": {"one", "two"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get(echo.HeaderBackend); got != "product-v1" {
				t.Errorf("%s = %q", echo.HeaderBackend, got)
			}
			rep, err := echo.ReadReply(resp)
			if err != nil {
				t.Fatal(err)
			}
			path, query, _ := strings.Cut(tt.path, "?")
			wantPath := strings.ReplaceAll(path, "%2F", "/")
			if rep.Name != "product-v1" || rep.Addr != s.Addr() || rep.Protocol != tt.wantProt ||
				rep.Method != tt.method || rep.Path != wantPath || rep.RawQuery != query || rep.Host != s.Addr() {
				t.Errorf("reply = %+v", rep)
			}
			if path != wantPath && rep.RawPath != path {
				t.Errorf("rawPath = %q, want %q", rep.RawPath, path)
			}
			if rep.BodyLength != int64(len(tt.body)) || rep.BodySHA256 != sha([]byte(tt.body)) || rep.Body != tt.wantBody {
				t.Errorf("body: len %d sha %s body %.20q", rep.BodyLength, rep.BodySHA256, rep.Body)
			}
			if got := rep.HeaderValues("x-multi"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
				t.Errorf("X-Multi = %q", got)
			}
			if rep.Header("host") != s.Addr() {
				t.Errorf("Host header = %q", rep.Header("host"))
			}
			if host, _, _ := net.SplitHostPort(rep.RemoteAddr); host != "127.0.0.1" {
				t.Errorf("remoteAddr = %q", rep.RemoteAddr)
			}
		})
	}
}

func TestH2CUpgradeServesFirstRequestOverHTTP2(t *testing.T) {
	s := start(t, echo.Options{Name: "up"})
	conn, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// RFC 7540 §3.2: an HTTP/1.1 request offering h2c; empty SETTINGS payload.
	fmt.Fprintf(conn, "POST /upgraded?q=1 HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\nContent-Length: 3\r\n\r\nabc", s.Addr())
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, br)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var (
		status string
		body   []byte
	)
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status = f.Value
		}
	})
	for done := false; !done; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			if f.StreamID != 1 {
				t.Fatalf("headers on stream %d, want 1", f.StreamID)
			}
			if _, err := dec.Write(f.HeaderBlockFragment()); err != nil {
				t.Fatal(err)
			}
			done = f.StreamEnded()
		case *http2.DataFrame:
			body = append(body, f.Data()...)
			done = f.StreamEnded()
		}
	}
	if status != "200" {
		t.Fatalf(":status %q", status)
	}
	var rep echo.Reply
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Protocol != "HTTP/2.0" || rep.Path != "/upgraded" || rep.Body != "abc" || rep.RawQuery != "q=1" {
		t.Errorf("reply = %+v", rep)
	}
	if rep.Header("Upgrade") != "" || rep.Header("HTTP2-Settings") != "" {
		t.Errorf("hop-by-hop upgrade headers leaked: %v", rep.Headers)
	}
}

func TestControlHeaders(t *testing.T) {
	s := start(t, echo.Options{Name: "ctl"})
	c := h1Client(t)
	tests := []struct {
		name       string
		hdr        map[string][]string
		wantStatus int
		check      func(t *testing.T, resp *http.Response)
	}{
		{
			name:       "x-echo-status sets the status and still echoes",
			hdr:        map[string][]string{echo.HeaderStatus: {"503"}},
			wantStatus: 503,
			check: func(t *testing.T, resp *http.Response) {
				if _, err := echo.ReadReply(resp); err != nil {
					t.Error(err)
				}
			},
		},
		{
			name:       "x-echo-response-header is repeatable",
			hdr:        map[string][]string{echo.HeaderResponseHeader: {"X-A=1", "x-b=two=2", "X-A=3"}},
			wantStatus: 200,
			check: func(t *testing.T, resp *http.Response) {
				if got := resp.Header.Values("X-A"); len(got) != 2 || got[0] != "1" || got[1] != "3" {
					t.Errorf("X-A = %q", got)
				}
				if got := resp.Header.Get("X-B"); got != "two=2" {
					t.Errorf("X-B = %q", got)
				}
			},
		},
		{
			name:       "x-echo-body-size answers exactly N payload bytes",
			hdr:        map[string][]string{echo.HeaderBodySize: {"100001"}},
			wantStatus: 200,
			check: func(t *testing.T, resp *http.Response) {
				n, err := io.Copy(io.Discard, resp.Body)
				if err != nil || n != 100001 {
					t.Errorf("read %d bytes, err %v", n, err)
				}
			},
		},
		{
			name:       "x-echo-body-size 0 answers an empty body",
			hdr:        map[string][]string{echo.HeaderBodySize: {"0"}, echo.HeaderStatus: {"204"}},
			wantStatus: 204,
		},
		{
			name:       "malformed x-echo-delay is a 400",
			hdr:        map[string][]string{echo.HeaderDelay: {"soon"}},
			wantStatus: 400,
		},
		{
			name:       "malformed x-echo-response-header is a 400",
			hdr:        map[string][]string{echo.HeaderResponseHeader: {"novalue"}},
			wantStatus: 400,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, c, http.MethodGet, s.URL()+"/ctl", nil, tt.hdr)
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.check != nil {
				tt.check(t, resp)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	s := start(t, echo.Options{})
	c := h1Client(t)
	t.Run("answer waits for the delay", func(t *testing.T) {
		begin := time.Now()
		resp := do(t, c, http.MethodGet, s.URL(), nil, map[string][]string{echo.HeaderDelay: {"150ms"}})
		resp.Body.Close()
		if d := time.Since(begin); d < 150*time.Millisecond {
			t.Errorf("answered after %v, want ≥ 150ms", d)
		}
	})
	t.Run("client giving up ends the delayed handler", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
		req.Header.Set(echo.HeaderDelay, "1h")
		if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		// Close (in Cleanup) waits for every handler: it would hang for an
		// hour if the abandoned handler kept sleeping.
	})
}

func TestFailTimesFailsFirstNPerKey(t *testing.T) {
	s := start(t, echo.Options{})
	c := h1Client(t)
	get := func(key string) int {
		resp := do(t, c, http.MethodGet, s.URL(), nil, map[string][]string{
			echo.HeaderFailTimes: {"2"}, echo.HeaderFailKey: {key}})
		resp.Body.Close()
		return resp.StatusCode
	}
	got := []int{get("a"), get("b"), get("a"), get("a"), get("b"), get("b"), get("a")}
	want := []int{503, 503, 503, 200, 503, 200, 200}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	s.ResetCounts()
	if st := get("a"); st != 503 {
		t.Errorf("after ResetCounts: status %d, want 503", st)
	}
}

func TestCloseAbortsMidResponse(t *testing.T) {
	s := start(t, echo.Options{})
	tests := []struct {
		name   string
		client *http.Client
		hdr    map[string][]string
	}{
		{"HTTP/1.1 JSON reply", h1Client(t), map[string][]string{echo.HeaderClose: {"1"}}},
		{"HTTP/1.1 streamed payload", h1Client(t), map[string][]string{echo.HeaderClose: {"1"}, echo.HeaderBodySize: {"200000"}}},
		{"HTTP/2 stream is reset", h2cClient(t), map[string][]string{echo.HeaderClose: {"1"}, echo.HeaderBodySize: {"200000"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, tt.client, http.MethodGet, s.URL(), nil, tt.hdr)
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: the abort must come after the headers", resp.StatusCode)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err == nil {
				t.Fatalf("read %d of %d bytes without error", n, resp.ContentLength)
			}
			if n == 0 && resp.ContentLength > 1000 {
				t.Errorf("no body before the abort")
			}
		})
	}
}

func TestHealth(t *testing.T) {
	s := start(t, echo.Options{Name: "hc"})
	c := h1Client(t)
	health := func() int {
		resp := do(t, c, http.MethodGet, s.URL()+echo.PathHealth, nil, nil)
		resp.Body.Close()
		return resp.StatusCode
	}
	admin := func(method, q string) int {
		resp := do(t, c, method, s.URL()+echo.PathAdminHealth+q, nil, nil)
		resp.Body.Close()
		return resp.StatusCode
	}
	steps := []struct {
		name string
		act  func()
		want int
	}{
		{"starts healthy", func() {}, 200},
		{"SetHealthy(false) fails /healthz", func() { s.SetHealthy(false) }, 503},
		{"POST status=200 restores it", func() {
			if st := admin(http.MethodPost, "?status=200"); st != 200 {
				t.Errorf("admin status %d", st)
			}
		}, 200},
		{"POST status=503 fails it", func() {
			if st := admin(http.MethodPost, "?status=503"); st != 200 {
				t.Errorf("admin status %d", st)
			}
		}, 503},
		{"bad status is rejected and changes nothing", func() {
			if st := admin(http.MethodPost, "?status=418"); st != 400 {
				t.Errorf("admin status %d, want 400", st)
			}
		}, 503},
	}
	for _, st := range steps {
		st.act()
		if got := health(); got != st.want {
			t.Errorf("%s: /healthz %d, want %d", st.name, got, st.want)
		}
	}
	if got := s.Counts(); got.Health != uint64(len(steps)) || got.HTTP != 0 {
		t.Errorf("counts %+v: health probes must be counted apart", got)
	}
}

func TestFixedBodySizeAnswersMinimalPayload(t *testing.T) {
	s := start(t, echo.Options{Name: "bench", FixedBodySize: 64})
	for _, c := range []*http.Client{h1Client(t), h2cClient(t)} {
		resp := do(t, c, http.MethodPost, s.URL()+"/anything", strings.NewReader("ignored"),
			map[string][]string{echo.HeaderStatus: {"500"}})
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(b) != 64 {
			t.Fatalf("status %d, %d bytes, err %v", resp.StatusCode, len(b), err)
		}
		for _, h := range []string{"Date", echo.HeaderBackend} {
			if _, ok := resp.Header[h]; ok {
				t.Errorf("header %s present in benchmark mode", h)
			}
		}
	}
	resp := do(t, h1Client(t), http.MethodGet, s.URL()+echo.PathHealth, nil, nil)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz %d in benchmark mode", resp.StatusCode)
	}
	if got := s.Counts(); got.HTTP != 2 || got.Health != 1 {
		t.Errorf("counts %+v", got)
	}
}

func TestManyBackendsOnLoopbackAddresses(t *testing.T) {
	c := h1Client(t)
	for i := 2; i < 6; i++ {
		name := "svc-" + strconv.Itoa(i)
		s := start(t, echo.Options{Name: name, Addr: fmt.Sprintf("127.0.0.%d:0", i)})
		if !strings.HasPrefix(s.Addr(), fmt.Sprintf("127.0.0.%d:", i)) {
			t.Fatalf("addr %s", s.Addr())
		}
		rep, err := echo.ReadReply(do(t, c, http.MethodGet, s.URL(), nil, nil))
		if err != nil || rep.Name != name {
			t.Fatalf("reply %+v, err %v", rep, err)
		}
	}
}

func TestLifecycle(t *testing.T) {
	t.Run("Close is idempotent and frees the port", func(t *testing.T) {
		s, err := echo.Start(t.Context(), echo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s2, err := echo.Start(t.Context(), echo.Options{Addr: s.Addr()})
		if err != nil {
			t.Fatalf("rebind %s: %v", s.Addr(), err)
		}
		_ = s2.Close()
	})
	t.Run("cancelling the start context closes the server", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s, err := echo.Start(ctx, echo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("not closed 5s after cancel")
		}
		if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			conn.Close()
			t.Fatal("still accepting after Done")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("negative FixedBodySize is rejected", func(t *testing.T) {
		if _, err := echo.Start(t.Context(), echo.Options{FixedBodySize: -1}); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestReadReplyRejectsNonEchoAnswers(t *testing.T) {
	resp := &http.Response{
		StatusCode: 503,
		Header:     http.Header{"Content-Type": {"text/plain"}},
		Body:       io.NopCloser(strings.NewReader("no healthy upstream")),
	}
	_, err := echo.ReadReply(resp)
	if err == nil || !strings.Contains(err.Error(), "no healthy upstream") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want it to name status and body", err)
	}
}
