package accesslog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/ksgw/ksgw/internal/proxy/runtime"
)

// Format is a compiled access-log format in Envoy's command-operator
// syntax (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage):
// either a text format ("[%START_TIME%] \"%REQ(:METHOD)% %REQ(:PATH)%\" %RESPONSE_CODE%\n"),
// or, when the string is a JSON object, Envoy's json_format: each key maps
// to a format string; a value that is exactly one numeric operator
// (RESPONSE_CODE, BYTES_SENT, DURATION) is written as a number. Immutable.
type Format struct {
	json   bool
	keys   []string  // json: output keys, in the order given
	values [][]piece // json: one value per key; text: values[0]
}

type opKind uint8

const (
	opLiteral opKind = iota
	opStartTime
	opMethod
	opPath
	opProtocol
	opResponseCode
	opResponseFlags
	opBytesSent
	opDuration
	opUpstreamHost
	opUpstreamCluster
	opRouteName
	opRemoteAddr
	opRemoteAddrNoPort
	opTraceID
	opAuthority
	opRequestID
	opUserAgent
	opForwardedFor
	opListener
)

type piece struct {
	op  opKind
	lit string
	max int // %REQ(X):N% truncation; 0 = none
}

var simpleOps = map[string]opKind{
	"START_TIME":                             opStartTime,
	"PROTOCOL":                               opProtocol,
	"RESPONSE_CODE":                          opResponseCode,
	"RESPONSE_FLAGS":                         opResponseFlags,
	"BYTES_SENT":                             opBytesSent,
	"DURATION":                               opDuration,
	"UPSTREAM_HOST":                          opUpstreamHost,
	"UPSTREAM_CLUSTER":                       opUpstreamCluster,
	"ROUTE_NAME":                             opRouteName,
	"DOWNSTREAM_REMOTE_ADDRESS":              opRemoteAddr,
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": opRemoteAddrNoPort,
	"TRACE_ID":                               opTraceID,
	"REQUESTED_SERVER_NAME":                  opAuthority,
	"LISTENER_NAME":                          opListener,
}

// reqHeaders are the request headers an entry carries, for %REQ(...)%.
var reqHeaders = map[string]opKind{
	":METHOD": opMethod, ":PATH": opPath, ":AUTHORITY": opAuthority, "HOST": opAuthority,
	"X-REQUEST-ID": opRequestID, "USER-AGENT": opUserAgent, "X-FORWARDED-FOR": opForwardedFor,
}

// ParseFormat compiles a format. Unknown operators are errors naming the
// operator, as Envoy rejects them at configuration time.
func ParseFormat(s string) (*Format, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		return parseJSONFormat(s)
	}
	ps, err := parsePieces(s)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 || ps[len(ps)-1].op != opLiteral || !strings.HasSuffix(ps[len(ps)-1].lit, "\n") {
		ps = append(ps, piece{lit: "\n"}) // one entry per line
	}
	return &Format{values: [][]piece{ps}}, nil
}

func parseJSONFormat(s string) (*Format, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("json format: not a JSON object")
	}
	f := &Format{json: true}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("json format: %w", err)
		}
		key := tok.(string)
		var v string
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("json format: key %q: values must be format strings", key)
		}
		if seen[key] {
			return nil, fmt.Errorf("json format: duplicate key %q", key)
		}
		seen[key] = true
		ps, err := parsePieces(v)
		if err != nil {
			return nil, fmt.Errorf("json format: key %q: %w", key, err)
		}
		f.keys = append(f.keys, key)
		f.values = append(f.values, ps)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("json format: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("json format: trailing data")
	}
	if len(f.keys) == 0 {
		return nil, fmt.Errorf("json format: no keys")
	}
	return f, nil
}

func parsePieces(s string) ([]piece, error) {
	var out []piece
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		end := strings.IndexByte(s[i+1:], '%')
		if end < 0 {
			return nil, fmt.Errorf("unterminated operator at offset %d", i)
		}
		tok := s[i+1 : i+1+end]
		i += end + 1
		if tok == "" { // "%%" is a literal percent sign
			lit.WriteByte('%')
			continue
		}
		p, err := parseOp(tok)
		if err != nil {
			return nil, err
		}
		flush()
		out = append(out, p)
	}
	flush()
	return out, nil
}

func parseOp(tok string) (piece, error) {
	if op, ok := simpleOps[tok]; ok {
		return piece{op: op}, nil
	}
	if rest, ok := strings.CutPrefix(tok, "REQ("); ok {
		arg, tail, ok := strings.Cut(rest, ")")
		if !ok {
			return piece{}, fmt.Errorf("operator %%%s%%: missing )", tok)
		}
		// Envoy's REQ(X?Y): X, falling back to Y. Both must be headers
		// the entry records (Envoy's default format asks for
		// X-ENVOY-ORIGINAL-PATH?:PATH, which is the logged path).
		first, alt, _ := strings.Cut(arg, "?")
		op, ok := reqHeaders[strings.ToUpper(first)]
		if alt != "" {
			altOp, altOK := reqHeaders[strings.ToUpper(alt)]
			if !ok && altOK {
				op, ok = altOp, true
			}
		}
		if !ok {
			return piece{}, fmt.Errorf("operator %%%s%%: header %q is not recorded in ksgw's access log", tok, first)
		}
		p := piece{op: op}
		if tail != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(tail, ":"))
			if !strings.HasPrefix(tail, ":") || err != nil || n <= 0 {
				return piece{}, fmt.Errorf("operator %%%s%%: bad length %q", tok, tail)
			}
			p.max = n
		}
		return p, nil
	}
	return piece{}, fmt.Errorf("unsupported operator %%%s%%", tok)
}

// append formats e with f.
func (f *Format) append(b []byte, e *runtime.AccessLogEntry) []byte {
	if !f.json {
		for _, p := range f.values[0] {
			b = p.appendText(b, e)
		}
		return b
	}
	b = append(b, '{')
	for i, k := range f.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		v := f.values[i]
		if len(v) == 1 && (v[0].op == opResponseCode || v[0].op == opBytesSent || v[0].op == opDuration) {
			b = v[0].appendText(b, e)
			continue
		}
		// The value is built as text, then escaped as one JSON string.
		start := len(b)
		for _, p := range v {
			b = p.appendText(b, e)
		}
		raw := string(b[start:])
		b = appendString(b[:start], raw)
	}
	return append(b, "}\n"...)
}

func (p *piece) appendText(b []byte, e *runtime.AccessLogEntry) []byte {
	str := func(s string) []byte {
		if s == "" {
			return append(b, '-') // Envoy prints "-" for an absent value
		}
		if p.max > 0 && len(s) > p.max {
			s = s[:p.max]
		}
		return append(b, s...)
	}
	switch p.op {
	case opLiteral:
		return append(b, p.lit...)
	case opStartTime:
		return e.StartTime.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	case opMethod:
		return str(e.Method)
	case opPath:
		return str(e.Path)
	case opProtocol:
		return str(e.Protocol)
	case opResponseCode:
		return strconv.AppendInt(b, int64(e.ResponseCode), 10)
	case opResponseFlags:
		return str(e.Flags)
	case opBytesSent:
		return strconv.AppendInt(b, e.BytesSent, 10)
	case opDuration:
		return strconv.AppendInt(b, e.Duration.Milliseconds(), 10)
	case opUpstreamHost:
		return str(e.UpstreamHost)
	case opUpstreamCluster:
		return str(e.UpstreamCluster)
	case opRouteName:
		return str(e.RouteName)
	case opRemoteAddr:
		if !e.DownstreamRemote.IsValid() {
			return append(b, '-')
		}
		return e.DownstreamRemote.AppendTo(b)
	case opRemoteAddrNoPort:
		if !e.DownstreamRemote.IsValid() {
			return append(b, '-')
		}
		return e.DownstreamRemote.Addr().AppendTo(b)
	case opTraceID:
		if e.TraceID == ([16]byte{}) {
			return append(b, '-')
		}
		return appendHex(b, e.TraceID[:])
	case opAuthority:
		return str(e.Authority)
	case opRequestID:
		return str(e.RequestID)
	case opUserAgent:
		return str(e.UserAgent)
	case opForwardedFor:
		return str(e.ForwardedFor)
	case opListener:
		return str(e.Listener)
	}
	return b
}

func appendHex(b []byte, v []byte) []byte {
	for _, c := range v {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}
