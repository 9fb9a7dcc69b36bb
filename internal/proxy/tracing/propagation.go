package tracing

import (
	"go.opentelemetry.io/otel/trace"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Parent is the trace context a request arrived with.
type Parent struct {
	TraceID trace.TraceID
	SpanID  trace.SpanID
	// Sampled is the caller's decision; Decided is false when the caller
	// left it open (B3 without X-B3-Sampled), so the local ratio decides.
	Sampled, Decided bool
	// B3Single records that the context came in the single "b3" header,
	// which is then updated too when propagating.
	B3Single bool
}

// Valid reports whether a trace context was found.
func (p *Parent) Valid() bool { return p.TraceID.IsValid() && p.SpanID.IsValid() }

// Extract reads W3C Trace Context (traceparent, preferred when present) or
// B3 (the single "b3" header, else the X-B3-* headers), as Envoy's
// OpenTelemetry and Zipkin tracers accept them. Invalid headers are ignored
// (the W3C rule: restart the trace), never an error.
func Extract(h *httpmsg.Header) Parent {
	var p Parent
	if v, ok := h.Lookup("traceparent"); ok {
		if tid, sid, flags, ok := ParseTraceparent(v); ok {
			p.TraceID, p.SpanID, p.Sampled, p.Decided = tid, sid, flags&1 == 1, true
			return p
		}
	}
	if v, ok := h.Lookup("b3"); ok {
		if q, ok := ParseB3Single(v); ok && q.Valid() {
			q.B3Single = true
			return q
		}
	}
	tidv, ok1 := h.Lookup("x-b3-traceid")
	sidv, ok2 := h.Lookup("x-b3-spanid")
	if !ok1 || !ok2 {
		return p
	}
	tid, ok := parseTraceID(tidv)
	if !ok {
		return p
	}
	sid, ok := parseSpanID(sidv)
	if !ok {
		return p
	}
	p.TraceID, p.SpanID = tid, sid
	if f, ok := h.Lookup("x-b3-flags"); ok && f == "1" {
		p.Sampled, p.Decided = true, true // debug implies sampled
	} else if s, ok := h.Lookup("x-b3-sampled"); ok {
		p.Sampled, p.Decided = sampledB3(s)
	}
	return p
}

// ParseTraceparent parses a W3C traceparent header
// (https://www.w3.org/TR/trace-context/#traceparent-header): version 00 has
// exactly four fields; a later version may append fields after the flags,
// which are ignored. Version ff and all-zero ids are invalid.
func ParseTraceparent(v string) (tid trace.TraceID, sid trace.SpanID, flags byte, ok bool) {
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return tid, sid, 0, false
	}
	ver, ok := hexByte(v[0], v[1])
	if !ok || ver == 0xff || (ver == 0 && len(v) != 55) || (ver != 0 && len(v) > 55 && v[55] != '-') {
		return tid, sid, 0, false
	}
	if !isLowerHex(v[3:35]) || !isLowerHex(v[36:52]) || !isLowerHex(v[53:55]) {
		return tid, sid, 0, false
	}
	tid, ok1 := parseTraceID(v[3:35])
	sid, ok2 := parseSpanID(v[36:52])
	flags, ok3 := hexByte(v[53], v[54])
	if !ok1 || !ok2 || !ok3 {
		return tid, sid, 0, false
	}
	return tid, sid, flags, true
}

// ParseB3Single parses the single "b3" header
// (https://github.com/openzipkin/b3-propagation#single-header):
// {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]], or a bare
// sampling state ("0", "1", "d") which carries no context.
func ParseB3Single(v string) (Parent, bool) {
	var p Parent
	switch v {
	case "0", "1", "d":
		p.Sampled, p.Decided = v != "0", true
		return p, true
	}
	parts := [4]string{}
	n := 0
	for start, i := 0, 0; i <= len(v); i++ {
		if i == len(v) || v[i] == '-' {
			if n == len(parts) {
				return p, false
			}
			parts[n] = v[start:i]
			n++
			start = i + 1
		}
	}
	if n < 2 {
		return p, false
	}
	tid, ok := parseTraceID(parts[0])
	if !ok {
		return p, false
	}
	sid, ok := parseSpanID(parts[1])
	if !ok {
		return p, false
	}
	p.TraceID, p.SpanID = tid, sid
	if n >= 3 {
		switch parts[2] {
		case "1", "d":
			p.Sampled, p.Decided = true, true
		case "0":
			p.Decided = true
		default:
			return Parent{}, false
		}
	}
	if n == 4 {
		if _, ok := parseSpanID(parts[3]); !ok {
			return Parent{}, false
		}
	}
	return p, true
}

func sampledB3(s string) (sampled, decided bool) {
	switch s {
	case "1", "true", "d":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// parseTraceID takes 32 hex digits, or 16 (B3's 64-bit ids, left-padded
// with zeros as Zipkin does).
func parseTraceID(s string) (trace.TraceID, bool) {
	var t trace.TraceID
	switch len(s) {
	case 32:
	case 16:
		if !decodeHex(t[8:], s) {
			return t, false
		}
		return t, t.IsValid()
	default:
		return t, false
	}
	if !decodeHex(t[:], s) {
		return t, false
	}
	return t, t.IsValid()
}

func parseSpanID(s string) (trace.SpanID, bool) {
	var id trace.SpanID
	if len(s) != 16 || !decodeHex(id[:], s) {
		return id, false
	}
	return id, id.IsValid()
}

func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		b, ok := hexByte(s[2*i], s[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

func hexByte(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isLowerHex: W3C Trace Context allows lowercase hex only.
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Inject writes the context of span (a client span of this proxy) into h
// in both formats: W3C traceparent (tracestate passes through untouched)
// and B3 multi-header, plus the single b3 header when the request came with
// one. parent is the proxy's server span, B3's X-B3-ParentSpanId.
func Inject(h *httpmsg.Header, sc trace.SpanContext, parent trace.SpanID, b3Single bool) {
	tid, sid := sc.TraceID().String(), sc.SpanID().String()
	flags, b3s := "00", "0"
	if sc.IsSampled() {
		flags, b3s = "01", "1"
	}
	h.Set("traceparent", "00-"+tid+"-"+sid+"-"+flags)
	h.Set("x-b3-traceid", tid)
	h.Set("x-b3-spanid", sid)
	h.Set("x-b3-sampled", b3s)
	if parent.IsValid() {
		h.Set("x-b3-parentspanid", parent.String())
	} else {
		h.Del("x-b3-parentspanid")
	}
	h.Del("x-b3-flags")
	if b3Single {
		h.Set("b3", tid+"-"+sid+"-"+b3s)
	}
}
