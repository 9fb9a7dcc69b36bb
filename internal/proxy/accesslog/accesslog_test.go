package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/runtime"
)

func TestAppendIsValidJSONWithEnvoyFields(t *testing.T) {
	tests := []struct {
		name string
		e    runtime.AccessLogEntry
	}{
		{"plain request", runtime.AccessLogEntry{Method: "GET", Path: "/a?b=c", Protocol: "HTTP/1.1", ResponseCode: 200, Flags: "-"}},
		{"quotes and control characters are escaped", runtime.AccessLogEntry{Method: "GET", Path: "/\"x\"\\\n\x01", UserAgent: "a\tb"}},
		{"invalid utf-8 is replaced", runtime.AccessLogEntry{Path: "/\xff\xfe"}},
		{"remote address", runtime.AccessLogEntry{DownstreamRemote: netip.MustParseAddrPort("127.0.0.9:4242"), Flags: "UH", ResponseCode: 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.e.StartTime = time.Date(2026, 11, 25, 1, 2, 3, 4e6, time.UTC)
			line := Append(nil, &tt.e)
			if !bytes.HasSuffix(line, []byte("}\n")) {
				t.Fatalf("line does not end with }\\n: %q", line)
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("invalid JSON %q: %v", line, err)
			}
			for _, f := range []string{"start_time", "method", "path", "protocol", "response_code", "response_flags", "bytes_sent", "duration", "upstream_host", "upstream_cluster", "route_name", "request_id", "downstream_remote_address"} {
				if _, ok := m[f]; !ok {
					t.Errorf("field %s missing in %s", f, line)
				}
			}
			if m["start_time"] != "2026-11-25T01:02:03.004Z" {
				t.Errorf("start_time = %v", m["start_time"])
			}
			if tt.e.Path != "" && !strings.Contains(tt.e.Path, "\xff") && m["path"] != tt.e.Path {
				t.Errorf("path = %q, want %q", m["path"], tt.e.Path)
			}
		})
	}
}

func TestWriterWritesEveryEntryOnShutdown(t *testing.T) {
	var out bytes.Buffer
	w := New(&out)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for i := 0; i < 100; i++ {
		w.Log(&runtime.AccessLogEntry{Method: "GET", Path: "/", ResponseCode: 200})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n") + int(w.Dropped()); n != 100 {
		t.Fatalf("lines+dropped = %d, want 100", n)
	}
	if w.Dropped() != 0 {
		t.Fatalf("dropped %d entries with an idle writer", w.Dropped())
	}
}

func TestFormats(t *testing.T) {
	e := runtime.AccessLogEntry{
		StartTime: time.Date(2026, 11, 25, 1, 2, 3, 4e6, time.UTC), Method: "POST", Path: "/login?user=a&password=hunter2",
		Protocol: "HTTP/1.1", ResponseCode: 201, Flags: "-", BytesSent: 42, Duration: 7 * time.Millisecond,
		UpstreamHost: "127.0.0.11:8080", UpstreamCluster: "tenant-a/svc/80", RouteName: "tenant-a/r/0",
		UserAgent: "curl/8", RequestID: "rid", DownstreamRemote: netip.MustParseAddrPort("127.0.0.9:4242"),
		TraceID: [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	}
	tests := []struct {
		name, format string
		mask         []string
		want         string
	}{
		{name: "default JSON carries the trace id", want: `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}` + "\n"},
		{name: "Envoy text format", format: `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_SENT% %DURATION% "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%UPSTREAM_HOST%" %TRACE_ID%`,
			want: `[2026-11-25T01:02:03.004Z] "POST /login?user=a&password=hunter2 HTTP/1.1" 201 - 42 7 "curl/8" "rid" "127.0.0.11:8080" 4bf92f3577b34da6a3ce929d0e0e4736` + "\n"},
		{name: "JSON format keeps numbers numeric and escapes strings", format: `{"code":"%RESPONSE_CODE%","req":"%REQ(:METHOD)% %REQ(:PATH):6%","peer":"%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%","pct":"100%%"}`,
			want: `{"code":201,"req":"POST /login","peer":"127.0.0.9","pct":"100%"}` + "\n"},
		{name: "masked query parameters", mask: []string{"password"}, format: `%REQ(:PATH)%`, want: "/login?user=a&password=***\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts Options
			if tc.format != "" {
				f, err := ParseFormat(tc.format)
				if err != nil {
					t.Fatal(err)
				}
				opts.Format = f
			}
			opts.MaskQueryParams = tc.mask
			var out bytes.Buffer
			w := NewWithOptions(&out, opts)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			w.Log(&e)
			cancel()
			<-done
			if !strings.HasSuffix(out.String(), tc.want) {
				t.Errorf("line = %q, want suffix %q", out.String(), tc.want)
			}
		})
	}
}

func TestParseFormatErrorsNameTheOperator(t *testing.T) {
	for _, f := range []string{"%NOPE%", "%REQ(COOKIE)%", "%START_TIME", `{"a":1}`, `{"a":"%REQ(:PATH):x%"}`, `{}`} {
		if _, err := ParseFormat(f); err == nil {
			t.Errorf("ParseFormat(%q) accepted", f)
		}
	}
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"%START_TIME% %REQ(:PATH):10%", `{"a":"%RESPONSE_CODE%"}`, "%%", "%REQ(", `{"a":"b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := ParseFormat(s)
		if err != nil {
			return
		}
		line := fm.append(nil, &runtime.AccessLogEntry{Path: "/\"\xff", Method: "GET"})
		if fm.json && !json.Valid(line) {
			t.Fatalf("format %q produced invalid JSON %q", s, line)
		}
	})
}
