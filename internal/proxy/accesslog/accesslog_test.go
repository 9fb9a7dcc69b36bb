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
