// Package tracing traces requests through the proxy with OpenTelemetry: a
// server span per request and a client span per upstream attempt, exported
// over OTLP (gRPC or HTTP/protobuf), which Jaeger ingests natively.
//
// Configuration is Envoy's: the HTTP connection manager's tracing block
// with random_sampling and the envoy.tracers.opentelemetry provider,
// decoded by dpconfig. The sampling decision follows Envoy's OpenTelemetry
// tracer: a caller's decision in traceparent or B3 is kept (parent-based),
// otherwise random_sampling decides. The decision is made here, before the
// SDK is touched, so an unsampled request costs a few header lookups and no
// allocation.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// BatchTimeout bounds how long a finished span waits before export
// (Envoy flushes its tracer every 5s; one second keeps traces prompt at a
// negligible cost).
const BatchTimeout = time.Second

// Manager owns the OTLP exporters. Generations share a provider while its
// exporter configuration is unchanged, so a route change does not reconnect
// to the collector. Guarded by mu; retired providers are flushed and shut
// down by goroutines joined in Shutdown.
type Manager struct {
	node string
	log  *slog.Logger

	mu        sync.Mutex
	providers map[dpconfig.OTLPExporter]*provider
	closed    bool
	wg        sync.WaitGroup
}

type provider struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

// NewManager returns a Manager for the proxy of node (namespace/name), the
// default service.name of its spans.
func NewManager(node string, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{node: node, log: log, providers: map[dpconfig.OTLPExporter]*provider{}}
}

// Tracer returns the tracer for one listener's tracing configuration, or
// nil when cfg is nil (tracing off). The exporter is created on first use
// of its configuration; creating it does not dial (gRPC connects lazily,
// HTTP per export), so a collector that is down costs dropped spans only.
func (m *Manager) Tracer(cfg *dpconfig.Tracing) (*Tracer, error) {
	if cfg == nil {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("tracing: manager closed")
	}
	p := m.providers[cfg.OTLP]
	if p == nil {
		var err error
		if p, err = m.newProvider(cfg.OTLP); err != nil {
			return nil, err
		}
		m.providers[cfg.OTLP] = p
	}
	t := &Tracer{tracer: p.tracer, node: m.node}
	switch ratio := cfg.SamplePercent / 100; {
	case ratio >= 1:
		t.always = true
	case ratio > 0:
		t.threshold = uint64(ratio * math.MaxUint64)
	}
	return t, nil
}

func (m *Manager) newProvider(o dpconfig.OTLPExporter) (*provider, error) {
	ctx := context.Background()
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch o.Protocol {
	case dpconfig.OTLPGRPC:
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(o.Endpoint), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithTimeout(timeout))
	case dpconfig.OTLPHTTP:
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(o.Endpoint), otlptracehttp.WithTimeout(timeout))
	default:
		err = fmt.Errorf("unknown OTLP protocol %q", o.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", o.Endpoint, err)
	}
	service := o.ServiceName
	if service == "" {
		service = m.node
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.instance.id", m.node),
	)
	tp := sdktrace.NewTracerProvider(
		// The decision was made before the span was started.
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(BatchTimeout)),
		sdktrace.WithResource(res),
	)
	return &provider{tp: tp, tracer: tp.Tracer("github.com/ksgw/ksgw/proxy")}, nil
}

// Retain shuts down the providers no configuration in use refers to.
// Spans of requests still running on them are dropped, which is what a
// collector change means.
func (m *Manager) Retain(inUse []*dpconfig.Tracing) {
	keep := map[dpconfig.OTLPExporter]bool{}
	for _, c := range inUse {
		if c != nil {
			keep[c.OTLP] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, p := range m.providers {
		if keep[k] {
			continue
		}
		delete(m.providers, k)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := p.tp.Shutdown(ctx); err != nil {
				m.log.Warn("tracing: exporter shutdown", "endpoint", k.Endpoint, "error", err)
			}
		}()
	}
}

// Shutdown flushes every provider's pending spans (bounded by ctx) and
// stops them.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	ps := m.providers
	m.providers = map[dpconfig.OTLPExporter]*provider{}
	m.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.tp.Shutdown(ctx))
	}
	m.wg.Wait()
	return errors.Join(errs...)
}

// Tracer is one listener's sampling policy and tracer. Immutable.
type Tracer struct {
	tracer    trace.Tracer
	node      string
	always    bool
	threshold uint64 // sample when a uniform uint64 is below it
}

func (t *Tracer) sample() bool {
	if t.always {
		return true
	}
	return t.threshold > 0 && rand.Uint64() < t.threshold
}

// Request is the tracing state of one request. It is a value held in the
// proxy's pooled per-request state; the zero value traces nothing.
type Request struct {
	tracer *Tracer
	parent Parent
	ctx    context.Context // carries span; nil when not sampled
	span   trace.Span
}

// Start extracts the caller's trace context and, when the request is
// sampled, starts the server span at start. t may be nil (tracing off):
// the caller's trace id is still kept for the access log.
func Start(t *Tracer, r *httpmsg.Request, start time.Time) Request {
	rq := Request{tracer: t, parent: Extract(&r.Header)}
	if t == nil {
		return rq
	}
	sampled := rq.parent.Sampled
	if !rq.parent.Decided {
		sampled = t.sample()
	}
	if !sampled {
		return rq
	}
	ctx := context.Background()
	if rq.parent.Valid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: rq.parent.TraceID, SpanID: rq.parent.SpanID, TraceFlags: trace.FlagsSampled, Remote: true,
		}))
	}
	rq.ctx, rq.span = t.tracer.Start(ctx, "ingress", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
		trace.WithAttributes(
			attribute.String("component", "proxy"),
			attribute.String("node_id", t.node),
			attribute.String("http.method", r.Method),
			attribute.String("http.url", r.Scheme+"://"+r.Authority+r.RequestURI()),
			attribute.String("http.protocol", r.Proto.String()),
		))
	return rq
}

// Sampled reports whether spans are recorded for this request.
func (rq *Request) Sampled() bool { return rq.span != nil }

// TraceID returns the request's trace id, or the zero id: the server
// span's when sampled, else the caller's.
func (rq *Request) TraceID() trace.TraceID {
	if rq.span != nil {
		return rq.span.SpanContext().TraceID()
	}
	return rq.parent.TraceID
}

// SpanID returns the server span's id (zero when not sampled).
func (rq *Request) SpanID() trace.SpanID {
	if rq.span != nil {
		return rq.span.SpanContext().SpanID()
	}
	return trace.SpanID{}
}

// Finish describes how the request ended, for the server span.
type Finish struct {
	Route, Cluster, Flags, RequestID, UserAgent string
	Status                                      int
	BytesSent                                   int64
	End                                         time.Time
}

// End ends the server span.
func (rq *Request) End(f *Finish) {
	if rq.span == nil {
		return
	}
	s := rq.span
	if f.Route != "" {
		// Envoy names the span after the route's decorator; the route name
		// is its closest equivalent and stays low-cardinality.
		s.SetName(f.Route)
	}
	s.SetAttributes(
		attribute.Int("http.status_code", f.Status),
		attribute.String("response_flags", f.Flags),
		attribute.Int64("response_size", f.BytesSent),
		attribute.String("upstream_cluster", f.Cluster),
		attribute.String("route_name", f.Route),
		attribute.String("guid:x-request-id", f.RequestID),
		attribute.String("user_agent", f.UserAgent),
	)
	if f.Status >= 500 || f.Status == 0 {
		s.SetStatus(codes.Error, strconv.Itoa(f.Status))
	}
	s.End(trace.WithTimestamp(f.End))
	rq.ctx, rq.span = nil, nil
}

// Attempt is one upstream attempt's client span; the zero value is a no-op.
type Attempt struct {
	span trace.Span
}

// StartAttempt starts the client span of an upstream attempt to cluster and
// writes its context into the upstream request's headers h.
func (rq *Request) StartAttempt(h *httpmsg.Header, cluster, host string, start time.Time) Attempt {
	if rq.span == nil {
		return Attempt{}
	}
	_, span := rq.tracer.tracer.Start(rq.ctx, "router "+cluster+" egress",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start),
		trace.WithAttributes(
			attribute.String("component", "proxy"),
			attribute.String("upstream_cluster", cluster),
			attribute.String("upstream_address", host),
		))
	Inject(h, span.SpanContext(), rq.span.SpanContext().SpanID(), rq.parent.B3Single)
	return Attempt{span: span}
}

// End ends the attempt's span with the upstream's status, or with err when
// the attempt failed without a response.
func (a *Attempt) End(status int, err error, end time.Time) {
	if a.span == nil {
		return
	}
	if status > 0 {
		a.span.SetAttributes(attribute.Int("http.status_code", status))
	}
	if err != nil {
		a.span.SetStatus(codes.Error, err.Error())
	} else if status >= 500 {
		a.span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	a.span.End(trace.WithTimestamp(end))
	a.span = nil
}
