package tracing

import (
	"testing"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

const (
	tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	sid = "00f067aa0ba902b7"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name                       string
		headers                    [][2]string
		wantTrace                  string
		wantSampled, wantDecided   bool
		wantB3Single, wantNoParent bool
	}{
		{name: "traceparent sampled", headers: [][2]string{{"traceparent", "00-" + tid + "-" + sid + "-01"}}, wantTrace: tid, wantSampled: true, wantDecided: true},
		{name: "traceparent not sampled keeps the caller's decision", headers: [][2]string{{"traceparent", "00-" + tid + "-" + sid + "-00"}}, wantTrace: tid, wantDecided: true},
		{name: "future traceparent version with extra fields", headers: [][2]string{{"traceparent", "01-" + tid + "-" + sid + "-01-what-ever"}}, wantTrace: tid, wantSampled: true, wantDecided: true},
		{name: "version 00 with extra fields is invalid", headers: [][2]string{{"traceparent", "00-" + tid + "-" + sid + "-01-x"}}, wantNoParent: true},
		{name: "version ff is invalid", headers: [][2]string{{"traceparent", "ff-" + tid + "-" + sid + "-01"}}, wantNoParent: true},
		{name: "uppercase hex is invalid in traceparent", headers: [][2]string{{"traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + sid + "-01"}}, wantNoParent: true},
		{name: "all-zero trace id is invalid", headers: [][2]string{{"traceparent", "00-00000000000000000000000000000000-" + sid + "-01"}}, wantNoParent: true},
		{name: "traceparent wins over b3", headers: [][2]string{{"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}, {"traceparent", "00-" + tid + "-" + sid + "-01"}}, wantTrace: tid, wantSampled: true, wantDecided: true},
		{name: "invalid traceparent falls back to b3", headers: [][2]string{{"traceparent", "garbage"}, {"b3", tid + "-" + sid + "-1"}}, wantTrace: tid, wantSampled: true, wantDecided: true, wantB3Single: true},
		{name: "b3 single with parent span id", headers: [][2]string{{"b3", tid + "-" + sid + "-0-05e3ac9a4f6e3b90"}}, wantTrace: tid, wantDecided: true, wantB3Single: true},
		{name: "b3 single without sampling state defers", headers: [][2]string{{"b3", tid + "-" + sid}}, wantTrace: tid, wantB3Single: true},
		{name: "b3 single debug means sampled", headers: [][2]string{{"b3", tid + "-" + sid + "-d"}}, wantTrace: tid, wantSampled: true, wantDecided: true, wantB3Single: true},
		{name: "b3 sampling-only header carries no context", headers: [][2]string{{"b3", "1"}}, wantNoParent: true},
		{name: "b3 multi with 64-bit trace id", headers: [][2]string{{"x-b3-traceid", "a3ce929d0e0e4736"}, {"x-b3-spanid", sid}, {"x-b3-sampled", "1"}}, wantTrace: "0000000000000000a3ce929d0e0e4736", wantSampled: true, wantDecided: true},
		{name: "b3 multi flags 1 is debug", headers: [][2]string{{"x-b3-traceid", tid}, {"x-b3-spanid", sid}, {"x-b3-flags", "1"}}, wantTrace: tid, wantSampled: true, wantDecided: true},
		{name: "b3 multi sampled false", headers: [][2]string{{"x-b3-traceid", tid}, {"x-b3-spanid", sid}, {"x-b3-sampled", "false"}}, wantTrace: tid, wantDecided: true},
		{name: "b3 multi without span id is ignored", headers: [][2]string{{"x-b3-traceid", tid}}, wantNoParent: true},
		{name: "no headers", wantNoParent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h httpmsg.Header
			for _, kv := range tc.headers {
				h.Add(kv[0], kv[1])
			}
			p := Extract(&h)
			if tc.wantNoParent {
				if p.Valid() {
					t.Fatalf("parent = %+v, want none", p)
				}
				return
			}
			if !p.Valid() || p.TraceID.String() != tc.wantTrace || p.Sampled != tc.wantSampled || p.Decided != tc.wantDecided || p.B3Single != tc.wantB3Single {
				t.Errorf("parent = {trace %s sampled %v decided %v b3single %v}, want {%s %v %v %v}",
					p.TraceID, p.Sampled, p.Decided, p.B3Single, tc.wantTrace, tc.wantSampled, tc.wantDecided, tc.wantB3Single)
			}
		})
	}
}

func TestExtractDoesNotAllocate(t *testing.T) {
	var h httpmsg.Header
	h.Add("traceparent", "00-"+tid+"-"+sid+"-01")
	h.Add("x-b3-traceid", tid)
	if n := testing.AllocsPerRun(100, func() { _ = Extract(&h) }); n != 0 {
		t.Errorf("Extract allocates %v times per call", n)
	}
}

func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{"00-" + tid + "-" + sid + "-01", "01-" + tid + "-" + sid + "-00-x", "ff-" + tid + "-" + sid + "-01", "", "00--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, sp, flags, ok := ParseTraceparent(s)
		if !ok {
			return
		}
		if !tr.IsValid() || !sp.IsValid() {
			t.Fatalf("%q accepted with invalid ids", s)
		}
		// What parsed re-encodes to the same prefix.
		if want := s[:3] + tr.String() + "-" + sp.String() + "-"; s[:len(want)] != want || flags != unhexPair(t, s[53:55]) {
			t.Fatalf("%q parsed as %s %s %x", s, tr, sp, flags)
		}
	})
}

func unhexPair(t *testing.T, s string) byte {
	b, ok := hexByte(s[0], s[1])
	if !ok {
		t.Fatalf("flags %q not hex", s)
	}
	return b
}

func FuzzParseB3Single(f *testing.F) {
	for _, s := range []string{tid + "-" + sid, tid + "-" + sid + "-1", tid + "-" + sid + "-0-" + sid, "d", "0", "--", "a-b-c-d-e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := ParseB3Single(s)
		if ok && p.TraceID.IsValid() != p.SpanID.IsValid() {
			t.Fatalf("%q: half a context %+v", s, p)
		}
	})
}
