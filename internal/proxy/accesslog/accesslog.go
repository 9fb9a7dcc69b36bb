// Package accesslog writes the proxy's access log as JSON lines with Envoy's
// field names, off the request path: entries are formatted on the request's
// goroutine into a pooled buffer (cheap, no reflection) and written by one
// background goroutine. When the writer falls behind, entries are dropped
// and counted rather than slowing requests down.
package accesslog

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ksgw/ksgw/internal/proxy/runtime"
)

// Writer is a runtime.AccessLogger. Create with New; Run writes until ctx
// is done and then flushes what is queued.
type Writer struct {
	out     io.Writer
	format  *Format         // nil: the default JSON line (Append)
	mask    map[string]bool // query parameters whose values are masked
	queue   chan *[]byte
	dropped atomic.Uint64
	bufs    sync.Pool
}

var _ runtime.AccessLogger = (*Writer)(nil)

// Options tune a Writer. Zero values give the default JSON format.
type Options struct {
	// Format overrides the default JSON line (ParseFormat).
	Format *Format
	// MaskQueryParams are query parameters whose values are replaced by
	// "***" in the logged path (credentials passed in URLs, DESIGN §1.11
	// data-layer masking); names compare case-sensitively, as query
	// parameters do.
	MaskQueryParams []string
}

// New returns a Writer that writes to out in the default format.
func New(out io.Writer) *Writer { return NewWithOptions(out, Options{}) }

// NewWithOptions returns a Writer that writes to out.
func NewWithOptions(out io.Writer, opts Options) *Writer {
	w := &Writer{
		out:    out,
		format: opts.Format,
		// 20ms of lines at 800k lines/s before any is dropped.
		queue: make(chan *[]byte, 16384),
		bufs:  sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }},
	}
	if len(opts.MaskQueryParams) > 0 {
		w.mask = map[string]bool{}
		for _, n := range opts.MaskQueryParams {
			w.mask[n] = true
		}
	}
	return w
}

// Dropped reports entries lost because the writer could not keep up.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Log formats e and queues it.
func (w *Writer) Log(e *runtime.AccessLogEntry) {
	if w.mask != nil {
		if p, ok := maskQuery(e.Path, w.mask); ok {
			cp := *e
			cp.Path = p
			e = &cp
		}
	}
	bp := w.bufs.Get().(*[]byte)
	if w.format != nil {
		*bp = w.format.append((*bp)[:0], e)
	} else {
		*bp = Append((*bp)[:0], e)
	}
	select {
	case w.queue <- bp:
	default:
		w.dropped.Add(1)
		w.bufs.Put(bp)
	}
}

// drainInterval is how often the writer collects queued lines. The writer
// sleeps on a timer rather than on the queue, so logging a request is a
// buffered channel send that never wakes another goroutine (a wake-up per
// request costs more than formatting the line); Envoy's access-log flush
// works the same way, on a timer.
const drainInterval = 20 * time.Millisecond

// Run writes queued entries until ctx is done, then drains the queue.
func (w *Writer) Run(ctx context.Context) error {
	bw := bufio.NewWriterSize(w.out, 64<<10)
	tick := time.NewTicker(drainInterval)
	defer tick.Stop()
	drain := func() error {
		for {
			select {
			case bp := <-w.queue:
				bw.Write(*bp)
				w.bufs.Put(bp)
			default:
				return bw.Flush()
			}
		}
	}
	for {
		select {
		case <-tick.C:
			drain()
		case <-ctx.Done():
			return drain()
		}
	}
}

// Append appends e as one JSON line with Envoy's default access-log field
// names (start_time, method, path, protocol, response_code,
// response_flags, bytes_sent, duration in ms, upstream_host, ...).
func Append(b []byte, e *runtime.AccessLogEntry) []byte {
	b = append(b, `{"start_time":"`...)
	b = e.StartTime.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","method":`...)
	b = appendString(b, e.Method)
	b = append(b, `,"path":`...)
	b = appendString(b, e.Path)
	b = append(b, `,"protocol":`...)
	b = appendString(b, e.Protocol)
	b = append(b, `,"response_code":`...)
	b = strconv.AppendInt(b, int64(e.ResponseCode), 10)
	b = append(b, `,"response_flags":`...)
	b = appendString(b, e.Flags)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, e.BytesSent, 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, e.Duration.Milliseconds(), 10)
	b = append(b, `,"upstream_host":`...)
	b = appendString(b, e.UpstreamHost)
	b = append(b, `,"upstream_cluster":`...)
	b = appendString(b, e.UpstreamCluster)
	b = append(b, `,"route_name":`...)
	b = appendString(b, e.RouteName)
	b = append(b, `,"x_forwarded_for":`...)
	b = appendString(b, e.ForwardedFor)
	b = append(b, `,"user_agent":`...)
	b = appendString(b, e.UserAgent)
	b = append(b, `,"request_id":`...)
	b = appendString(b, e.RequestID)
	b = append(b, `,"authority":`...)
	b = appendString(b, e.Authority)
	b = append(b, `,"downstream_remote_address":`...)
	if e.DownstreamRemote.IsValid() {
		b = append(b, '"')
		b = e.DownstreamRemote.AppendTo(b)
		b = append(b, '"')
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"listener":`...)
	b = appendString(b, e.Listener)
	if e.TraceID != ([16]byte{}) {
		b = append(b, `,"trace_id":"`...)
		b = appendHex(b, e.TraceID[:])
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	return b
}

const hexDigits = "0123456789abcdef"

// maskQuery replaces the values of masked query parameters in a request
// path; ok is false when nothing was masked (no allocation then).
func maskQuery(path string, mask map[string]bool) (string, bool) {
	base, query, found := strings.Cut(path, "?")
	if !found {
		return path, false
	}
	masked := false
	var b strings.Builder
	b.Grow(len(path))
	b.WriteString(base)
	b.WriteByte('?')
	for i, pair := range strings.Split(query, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		k, _, hasValue := strings.Cut(pair, "=")
		if hasValue && mask[k] {
			b.WriteString(k)
			b.WriteString("=***")
			masked = true
			continue
		}
		b.WriteString(pair)
	}
	if !masked {
		return path, false
	}
	return b.String(), true
}

// appendString appends s as a JSON string. Invalid UTF-8 is replaced, as
// encoding/json does, so a hostile path cannot break the log line.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
