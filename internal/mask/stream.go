package mask

import (
	"errors"
	"io"
)

// chunk bounds the bytes processed per step, so that a large Write costs
// at most chunk+Window bytes of buffer.
const chunk = 32 << 10

// Writer masks what is written to it and writes the result to an
// underlying writer, holding back at most 2×Window bytes between writes.
// Close flushes the held-back tail (it does not close the underlying
// writer). Not safe for concurrent use.
type Writer struct {
	m   *Masker
	w   io.Writer
	buf []byte // [context byte][held back bytes]
	ctx int    // 1 once buf[0] is the last byte already written
	out []byte
	err error
}

// NewWriter returns a Writer masking into w.
func (m *Masker) NewWriter(w io.Writer) *Writer {
	return &Writer{m: m, w: w}
}

// Write masks p. A secret that p ends in the middle of is completed by
// later writes before anything of it is written out.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), chunk)
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if err := w.flush(false); err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// Close writes out what was held back.
func (w *Writer) Close() error {
	if w.err != nil {
		if errors.Is(w.err, errClosed) {
			return nil
		}
		return w.err
	}
	err := w.flush(true)
	if err == nil {
		w.err = errClosed
	}
	return err
}

var errClosed = errors.New("mask: write after Close")

func (w *Writer) flush(final bool) error {
	if len(w.buf) <= w.ctx {
		return nil // nothing held back
	}
	limit := len(w.buf)
	if !final {
		// Wait for a window's worth of new bytes beyond the window held
		// back: every scan then decides at least as much as it re-reads,
		// so small writes cost O(1) scans per byte, not O(window).
		if len(w.buf) < w.ctx+2*w.m.window {
			return nil
		}
		// Matches starting before limit end before len(buf)-1, so the
		// byte after them (read by boundary checks) is here too.
		limit -= w.m.window
	}
	var cut int
	w.out, cut, _ = w.m.maskUpTo(w.out[:0], w.buf, w.ctx, limit)
	if final {
		w.out = append(w.out, w.buf[cut:]...)
		cut = len(w.buf)
	}
	if len(w.out) > 0 {
		if _, err := w.w.Write(w.out); err != nil {
			w.err = err
			return err
		}
	}
	// Keep the last emitted byte as context for the next scan.
	rest := copy(w.buf, w.buf[cut-1:])
	w.buf = w.buf[:rest]
	w.ctx = 1
	return nil
}

// Reader masks what it reads from src.
type Reader struct {
	src  io.Reader
	w    *Writer
	pend pending
	buf  []byte
	eof  bool
	err  error
}

// pending is the Writer's sink: masked bytes waiting to be read.
type pending struct {
	b   []byte
	off int
}

func (p *pending) Write(b []byte) (int, error) {
	if p.off == len(p.b) {
		p.b, p.off = p.b[:0], 0
	}
	p.b = append(p.b, b...)
	return len(b), nil
}

// NewReader returns a Reader that yields src masked. Memory is bounded by
// one read chunk plus Window.
func (m *Masker) NewReader(src io.Reader) *Reader {
	r := &Reader{src: src}
	r.w = m.NewWriter(&r.pend)
	return r
}

func (r *Reader) Read(p []byte) (int, error) {
	for r.pend.off == len(r.pend.b) {
		if r.err != nil {
			return 0, r.err
		}
		if r.buf == nil {
			r.buf = make([]byte, chunk)
		}
		n, err := r.src.Read(r.buf)
		if n > 0 {
			r.w.Write(r.buf[:n]) // never fails: the sink is memory
		}
		if err != nil {
			r.w.Close()
			r.err = err
		}
	}
	n := copy(p, r.pend.b[r.pend.off:])
	r.pend.off += n
	return n, nil
}

// Close closes src when it is an io.Closer (a response body).
func (r *Reader) Close() error {
	if c, ok := r.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
