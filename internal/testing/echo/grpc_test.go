package echo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ksgw/ksgw/internal/testing/echo"
)

func dialGRPC(t *testing.T, s *echo.Server) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func callCtx(t *testing.T, kv ...string) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func TestGRPCUnary(t *testing.T) {
	s := start(t, echo.Options{Name: "grpc-v1"})
	c := echo.NewGRPCClient(dialGRPC(t, s))
	tests := []struct {
		name     string
		md       []string
		wantCode codes.Code
	}{
		{"echoes payload with backend header and trailer", nil, codes.OK},
		{"x-echo-grpc-code fails the call", []string{echo.MetaCode, "7"}, codes.PermissionDenied},
		{"x-echo-delay beyond the deadline is DeadlineExceeded", []string{echo.MetaDelay, "1h"}, codes.DeadlineExceeded},
		{"malformed metadata is InvalidArgument", []string{echo.MetaDelay, "later"}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := callCtx(t, tt.md...)
			if tt.wantCode == codes.DeadlineExceeded {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
			}
			var hdr, trl metadata.MD
			out, err := c.Unary(ctx, []byte("ping"), grpc.Header(&hdr), grpc.Trailer(&trl))
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if string(out) != "ping" {
				t.Errorf("payload %q", out)
			}
			if got := hdr.Get(echo.MetaBackend); len(got) != 1 || got[0] != "grpc-v1" {
				t.Errorf("header %s = %q", echo.MetaBackend, got)
			}
			if got := trl.Get(echo.MetaTrailer); len(got) != 1 || got[0] != "unary" {
				t.Errorf("trailer %s = %q", echo.MetaTrailer, got)
			}
		})
	}
	if got := s.Counts().GRPC; got != uint64(len(tests)) {
		t.Errorf("GRPC count %d, want %d", got, len(tests))
	}
}

func TestGRPCFailTimesThenSucceeds(t *testing.T) {
	s := start(t, echo.Options{})
	c := echo.NewGRPCClient(dialGRPC(t, s))
	var got []codes.Code
	for range 3 {
		_, err := c.Unary(callCtx(t, echo.MetaFailTimes, "2", echo.MetaFailKey, "k"), nil)
		got = append(got, status.Code(err))
	}
	if want := []codes.Code{codes.Unavailable, codes.Unavailable, codes.OK}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("codes %v, want %v", got, want)
	}
}

func TestGRPCBidiStream(t *testing.T) {
	s := start(t, echo.Options{Name: "streamer"})
	c := echo.NewGRPCClient(dialGRPC(t, s))
	st, err := c.Stream(callCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// Ping-pong proves the server answers each message before the client
	// half-closes: a buffering proxy would deadlock this loop.
	const n = 5
	for i := range n {
		msg := fmt.Sprintf("msg-%d", i)
		if err := st.Send([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got, err := st.Recv()
		if err != nil || string(got) != msg {
			t.Fatalf("recv %q, %v; want %q", got, err, msg)
		}
	}
	hdr, err := st.Header()
	if err != nil || len(hdr.Get(echo.MetaBackend)) != 1 || hdr.Get(echo.MetaBackend)[0] != "streamer" {
		t.Errorf("header %v, err %v", hdr, err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseSend: %v, want EOF", err)
	}
	if got := st.Trailer().Get(echo.MetaCalls); len(got) != 1 || got[0] != fmt.Sprint(n) {
		t.Errorf("trailer %s = %q, want %d", echo.MetaCalls, got, n)
	}
}

func TestGRPCHealthFollowsSetHealthy(t *testing.T) {
	s := start(t, echo.Options{})
	hc := healthpb.NewHealthClient(dialGRPC(t, s))
	for _, tt := range []struct {
		healthy bool
		want    healthpb.HealthCheckResponse_ServingStatus
	}{
		{true, healthpb.HealthCheckResponse_SERVING},
		{false, healthpb.HealthCheckResponse_NOT_SERVING},
		{true, healthpb.HealthCheckResponse_SERVING},
	} {
		s.SetHealthy(tt.healthy)
		for _, svc := range []string{"", echo.EchoServiceName} {
			resp, err := hc.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetStatus() != tt.want {
				t.Errorf("healthy=%v service %q: %v, want %v", tt.healthy, svc, resp.GetStatus(), tt.want)
			}
		}
	}
}
