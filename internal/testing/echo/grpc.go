package echo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The gRPC echo service is declared by hand (no .proto, no protoc) with
// google.protobuf.BytesValue as request and response, which any gRPC client
// can encode; grpcurl sees it as:
//
//	service ksgw.echo.v1.Echo {
//	  rpc Unary(google.protobuf.BytesValue) returns (google.protobuf.BytesValue);
//	  rpc Stream(stream google.protobuf.BytesValue) returns (stream google.protobuf.BytesValue);
//	}
const (
	EchoServiceName  = "ksgw.echo.v1.Echo"
	EchoUnaryMethod  = "/" + EchoServiceName + "/Unary"
	EchoStreamMethod = "/" + EchoServiceName + "/Stream"
)

// gRPC metadata keys. The backend sets MetaBackend in the response headers
// and MetaTrailer in the trailers of every call so tests can check that a
// proxy forwards both; the others steer the call like their HTTP namesakes.
const (
	MetaBackend = "x-echo-backend"
	MetaTrailer = "x-echo-trailer"
	// MetaCalls, in the trailers, counts the messages a Stream call echoed.
	MetaCalls = "x-echo-messages"
	// MetaCode answers with this gRPC status code (e.g. "14" for UNAVAILABLE).
	MetaCode = "x-echo-grpc-code"
	// MetaDelay delays the call by a Go duration.
	MetaDelay = "x-echo-delay"
	// MetaFailTimes/MetaFailKey: the first N calls with the key fail with
	// UNAVAILABLE (retry tests); they share counters with HTTP's.
	MetaFailTimes = "x-echo-fail-times"
	MetaFailKey   = "x-echo-fail-key"
)

var echoServiceDesc = grpc.ServiceDesc{
	ServiceName: EchoServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(srv any, ctx context.Context, dec func(any) error, intercept grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				return srv.(*grpcEcho).unary(ctx, req.(*wrapperspb.BytesValue))
			}
			if intercept == nil {
				return h(ctx, in)
			}
			return intercept(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: EchoUnaryMethod}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			return srv.(*grpcEcho).stream(stream)
		},
	}},
	Metadata: "ksgw/echo.proto",
}

// grpcEcho implements the echo service; immutable.
type grpcEcho struct{ s *Server }

func (g *grpcEcho) unary(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs(MetaBackend, g.s.opts.Name)); err != nil {
		return nil, err
	}
	_ = grpc.SetTrailer(ctx, metadata.Pairs(MetaTrailer, "unary"))
	if err := g.steer(ctx); err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(in.GetValue()), nil
}

func (g *grpcEcho) stream(st grpc.ServerStream) error {
	ctx := st.Context()
	// Steer before sending headers so that a failure is a Trailers-Only
	// response, which Envoy's gRPC retry policy (retry_on: unavailable) can
	// still retry.
	if err := st.SetHeader(metadata.Pairs(MetaBackend, g.s.opts.Name)); err != nil {
		return err
	}
	if err := g.steer(ctx); err != nil {
		return err
	}
	if err := st.SendHeader(nil); err != nil {
		return err
	}
	n := 0
	defer func() {
		st.SetTrailer(metadata.Pairs(MetaTrailer, "stream", MetaCalls, strconv.Itoa(n)))
	}()
	for {
		in := new(wrapperspb.BytesValue)
		if err := st.RecvMsg(in); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := st.SendMsg(in); err != nil {
			return err
		}
		n++
	}
}

// steer applies the x-echo-* metadata of a call.
func (g *grpcEcho) steer(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if v := first(MetaDelay); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return status.Errorf(codes.InvalidArgument, "%s %q: want a duration", MetaDelay, v)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if v := first(MetaFailTimes); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return status.Errorf(codes.InvalidArgument, "%s %q: want a count", MetaFailTimes, v)
		}
		if g.s.shouldFail(first(MetaFailKey), n) {
			return status.Errorf(codes.Unavailable, "echo %s: failing as asked by %s", g.s.opts.Name, MetaFailTimes)
		}
	}
	if v := first(MetaCode); v != "" {
		c, err := strconv.ParseUint(v, 10, 32)
		if err != nil || c > 16 {
			return status.Errorf(codes.InvalidArgument, "%s %q: want a gRPC code 0-16", MetaCode, v)
		}
		if codes.Code(c) != codes.OK {
			return status.Errorf(codes.Code(c), "echo %s: code asked by %s", g.s.opts.Name, MetaCode)
		}
	}
	return nil
}

func (s *Server) countUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	s.nGRPC.Add(1)
	return h(ctx, req)
}

func (s *Server) countStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	s.nGRPC.Add(1)
	return h(srv, ss)
}

// GRPCClient calls the echo service over any gRPC connection (to a backend
// directly or through the gateway).
type GRPCClient struct {
	cc grpc.ClientConnInterface
}

// NewGRPCClient wraps cc.
func NewGRPCClient(cc grpc.ClientConnInterface) *GRPCClient { return &GRPCClient{cc: cc} }

// Unary sends payload and returns what the backend echoed.
func (c *GRPCClient) Unary(ctx context.Context, payload []byte, opts ...grpc.CallOption) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := c.cc.Invoke(ctx, EchoUnaryMethod, wrapperspb.Bytes(payload), out, opts...); err != nil {
		return nil, err
	}
	return out.GetValue(), nil
}

var echoStreamDesc = grpc.StreamDesc{StreamName: "Stream", ServerStreams: true, ClientStreams: true}

// Stream opens a bidirectional echo stream.
func (c *GRPCClient) Stream(ctx context.Context, opts ...grpc.CallOption) (*GRPCStream, error) {
	cs, err := c.cc.NewStream(ctx, &echoStreamDesc, EchoStreamMethod, opts...)
	if err != nil {
		return nil, fmt.Errorf("open echo stream: %w", err)
	}
	return &GRPCStream{cs: cs}, nil
}

// GRPCStream is one bidirectional echo call; use it from one goroutine per
// direction, as grpc.ClientStream allows.
type GRPCStream struct{ cs grpc.ClientStream }

// Send sends one message.
func (s *GRPCStream) Send(payload []byte) error { return s.cs.SendMsg(wrapperspb.Bytes(payload)) }

// Recv receives one echoed message; io.EOF after the server ends the call.
func (s *GRPCStream) Recv() ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := s.cs.RecvMsg(out); err != nil {
		return nil, err
	}
	return out.GetValue(), nil
}

// CloseSend half-closes the stream.
func (s *GRPCStream) CloseSend() error { return s.cs.CloseSend() }

// Header blocks until the response headers arrive.
func (s *GRPCStream) Header() (metadata.MD, error) { return s.cs.Header() }

// Trailer is valid after Recv returned io.EOF or an error.
func (s *GRPCStream) Trailer() metadata.MD { return s.cs.Trailer() }
