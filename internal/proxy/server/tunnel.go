package server

import (
	"context"
	"io"
	"sync"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Splice copies bytes both ways between a and b until both directions have
// ended or either fails, then closes both. A clean EOF in one direction is
// forwarded as a half-close so the other keeps flowing, as TCP proxies
// (Envoy's tcp_proxy) do. ctx ending closes both. It returns the bytes
// copied a→b and b→a.
func Splice(ctx context.Context, a, b httpmsg.Tunnel) (ab, ba int64, err error) {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	closeBoth := func() {
		a.Close()
		b.Close()
	}
	stop := context.AfterFunc(ctx, func() { once.Do(closeBoth) })
	defer stop()
	pipe := func(dst, src httpmsg.Tunnel, n *int64) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		c, err := io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, buf)
		*n = c
		if err != nil {
			once.Do(func() {
				first = err
				closeBoth()
			})
			return
		}
		dst.CloseWrite()
	}
	wg.Add(2)
	go pipe(b, a, &ab)
	go pipe(a, b, &ba)
	wg.Wait()
	once.Do(closeBoth)
	if first == nil {
		first = ctx.Err()
	}
	return ab, ba, first
}

// onlyReader/onlyWriter hide ReadFrom/WriteTo so CopyBuffer uses our buffer
// and the tunnel's own Read, which drains bytes the codec buffered first.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }
