// Command fixedproxy forwards every request to one upstream through the
// proxy engine (server + pool) with no routing or filters: the floor that the
// runtime's cost is measured against in bench/engine/run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/server"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "downstream listen address")
	backend := flag.String("backend", "127.0.0.1:18090", "upstream host:port")
	h2 := flag.Bool("h2", false, "speak h2c to the upstream")
	flag.Parse()

	p := pool.New(pool.Config{Addr: *backend, HTTP2: *h2, MaxIdle: 1024})
	defer p.Close()
	h := &forwarder{pool: p}
	srv := server.New(server.Config{Handler: h})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "fixedproxy: %s -> %s (GOMAXPROCS=%d)\n", ln.Addr(), *backend, runtime.GOMAXPROCS(0))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	<-done
}

// forwarder is the reference usage of the engine: RoundTrip, WriteHeader
// with the upstream's header, Copy, Close.
type forwarder struct {
	pool *pool.Pool
	bufs sync.Pool
}

var badGateway = func() *httpmsg.Header {
	var h httpmsg.Header
	h.Add("content-length", "0")
	return &h
}()

func (f *forwarder) ServeHTTP(ctx context.Context, w httpmsg.ResponseWriter, r *httpmsg.Request) {
	if r.Upgrade != "" {
		f.tunnel(ctx, w, r)
		return
	}
	resp, err := f.pool.RoundTrip(ctx, r)
	if err != nil {
		w.WriteHeader(502, badGateway)
		return
	}
	defer resp.Body.Close()
	if err := w.WriteHeader(resp.Status, &resp.Header); err != nil {
		return
	}
	bp, _ := f.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 16<<10)
		bp = &b
	}
	_, err = httpmsg.Copy(w, resp.Body, *bp)
	f.bufs.Put(bp)
	if err != nil {
		w.Abort()
		return
	}
	if resp.Trailer.Len() > 0 {
		w.WriteTrailer(&resp.Trailer)
	}
}

func (f *forwarder) tunnel(ctx context.Context, w httpmsg.ResponseWriter, r *httpmsg.Request) {
	resp, up, err := f.pool.Upgrade(ctx, r)
	if err != nil {
		w.WriteHeader(502, badGateway)
		return
	}
	if up == nil {
		defer resp.Body.Close()
		w.WriteHeader(resp.Status, &resp.Header)
		httpmsg.Copy(w, resp.Body, make([]byte, 4096))
		return
	}
	defer up.Close()
	if err := w.WriteHeader(101, &resp.Header); err != nil {
		return
	}
	down, err := w.Hijack()
	if err != nil {
		return
	}
	server.Splice(ctx, down, up)
}
