package standalone_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// span is one received span with hex ids.
type span struct {
	TraceID, SpanID, ParentID, Name, Service, Via string
	Kind                                          tracepb.Span_SpanKind
	Attrs                                         map[string]string
}

// otlpReceiver is the OTLP trace service (the collector side of
// opentelemetry-proto's TraceService) over gRPC and over HTTP/protobuf
// (POST /v1/traces), as an OpenTelemetry Collector or Jaeger serves it.
type otlpReceiver struct {
	collectortrace.UnimplementedTraceServiceServer

	GRPCAddr, HTTPAddr string

	mu      sync.Mutex
	spans   []span
	changed chan struct{} // closed and replaced on every export
}

func startOTLPReceiver(t *testing.T, ip string) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{changed: make(chan struct{})}
	gl, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	r.GRPCAddr, r.HTTPAddr = gl.Addr().String(), hl.Addr().String()
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, r)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.serveHTTP)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); gs.Serve(gl) }()
	go func() {
		defer wg.Done()
		if err := hs.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("otlp http: %v", err)
		}
	}()
	t.Cleanup(func() {
		gs.Stop()
		hs.Close()
		wg.Wait()
	})
	return r
}

func (r *otlpReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.add(req, "grpc")
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *otlpReceiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if ct := req.Header.Get("content-type"); ct != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&in, "http")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("content-type", "application/x-protobuf")
	w.Write(out)
}

func (r *otlpReceiver) add(req *collectortrace.ExportTraceServiceRequest, via string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := span{
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: s.GetKind(),
					Service: service, Via: via, Attrs: map[string]string{},
				}
				for _, a := range s.GetAttributes() {
					v := a.GetValue()
					switch {
					case v.GetStringValue() != "":
						sp.Attrs[a.GetKey()] = v.GetStringValue()
					default:
						sp.Attrs[a.GetKey()] = v.String()
					}
				}
				r.spans = append(r.spans, sp)
			}
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitTrace returns the spans of traceID once at least n have arrived.
func (r *otlpReceiver) waitTrace(ctx context.Context, traceID string, n int) ([]span, error) {
	for {
		r.mu.Lock()
		var got []span
		for _, s := range r.spans {
			if s.TraceID == traceID {
				got = append(got, s)
			}
		}
		ch := r.changed
		r.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-ch:
		}
	}
}
