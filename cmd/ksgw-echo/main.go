// Command ksgw-echo runs the echo backend of internal/testing/echo: HTTP/1.1,
// h2c, gRPC and WebSocket on one port, answering with what it received.
//
//	ksgw-echo --name product-v1 --addr 127.0.0.2:8080
//	ksgw-echo --addr 127.0.0.1:9000 --fixed-body-size 64   # benchmark backend
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ksgw-echo:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		opts    echo.Options
		verbose bool
	)
	flag.StringVar(&opts.Name, "name", "echo", "backend name reported in every reply")
	flag.StringVar(&opts.Addr, "addr", "127.0.0.1:8080", "listen address (host:port; port 0 picks a free one)")
	flag.IntVar(&opts.FixedBodySize, "fixed-body-size", 0, "if > 0, answer every request with this many bytes and minimal headers (benchmark mode)")
	flag.BoolVar(&verbose, "v", false, "log connection errors")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := echo.Start(ctx, opts)
	if err != nil {
		return err
	}
	// Scripts wait for this line (or poll /healthz) to learn the bound address.
	fmt.Printf("ksgw-echo %s listening on %s\n", opts.Name, srv.Addr())
	<-ctx.Done()
	return srv.Close()
}
