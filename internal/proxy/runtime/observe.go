package runtime

import (
	"fmt"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/stats"
	"github.com/ksgw/ksgw/internal/proxy/tracing"
	"github.com/ksgw/ksgw/internal/proxy/upstream"
)

// This file holds the observability hooks of the request path: begin and
// finish around each request, attemptStart and attemptEnd around each
// upstream attempt. Metrics objects are resolved when a generation is built
// (genObs), so a request only touches atomics; tracing decides sampling
// before touching the OpenTelemetry SDK.

// ListenerStats are one listener's downstream counters.
type ListenerStats = stats.Listener

// genObs are a generation's pre-resolved statistics objects. Immutable
// after buildObs; nil maps when statistics are disabled.
type genObs struct {
	routes   map[*dpconfig.Route]*stats.Route
	clusters map[string]*stats.Cluster
	noRoute  *stats.Route
}

// obsState is the per-request observability state, part of the pooled
// exchange.
type obsState struct {
	trace tracing.Request
	att   attemptObs
	open  bool // att is an attempt not yet closed
}

// attemptObs is one upstream attempt.
type attemptObs struct {
	cluster *stats.Cluster
	start   time.Time
	headers time.Time // when the attempt got its answer (or failed)
	code    int       // charged status, 0 until answered or when not charged
	err     error
	span    tracing.Attempt
}

// buildObs resolves the generation's tracers and statistics objects.
func buildObs(rt *Runtime, gen *Generation) error {
	for name, lg := range gen.listeners {
		t, err := rt.tracing.Tracer(lg.hcm.Tracing)
		if err != nil {
			return fmt.Errorf("listener %q: tracing: %w", name, err)
		}
		lg.tracer = t
	}
	if rt.stats == nil {
		return nil
	}
	gen.obs.routes = map[*dpconfig.Route]*stats.Route{}
	gen.obs.clusters = make(map[string]*stats.Cluster, len(gen.clusters))
	gen.obs.noRoute = rt.stats.Route("")
	for _, lg := range gen.listeners {
		for _, vh := range lg.rc.VirtualHosts {
			for _, r := range vh.Routes {
				gen.obs.routes[r] = rt.stats.Route(r.Name)
			}
		}
	}
	for name := range gen.clusters {
		gen.obs.clusters[name] = rt.stats.Cluster(name)
	}
	return nil
}

// retainObs drops statistics and exporters that the generation in force no
// longer uses. Called by Apply after the swap.
func (rt *Runtime) retainObs(gen *Generation) {
	var tracings []*dpconfig.Tracing
	for _, lg := range gen.listeners {
		tracings = append(tracings, lg.hcm.Tracing)
	}
	rt.tracing.Retain(tracings)
	if rt.stats == nil {
		return
	}
	clusters := make(map[string]bool, len(gen.clusters))
	for n := range gen.clusters {
		clusters[n] = true
	}
	routes := make(map[string]bool, len(gen.obs.routes))
	for r := range gen.obs.routes {
		routes[r.Name] = true
	}
	rt.stats.Retain(clusters, routes)
}

// begin starts a request's observation: in-flight gauge and server span.
func (h *handler) begin(gen *Generation, x *exchange) {
	if h.stats != nil {
		h.stats.RequestStarted()
	}
	var t *tracing.Tracer
	if lg := gen.listeners[h.listener]; lg != nil {
		t = lg.tracer
	}
	x.obs = obsState{trace: tracing.Start(t, x.req, x.start)}
}

// finish records a finished request in the statistics, the trace and the
// access log.
func (h *handler) finish(gen *Generation, x *exchange, status int) {
	end := time.Now()
	d := end.Sub(x.start)
	h.closeAttempt(x, end, true)
	if h.stats != nil {
		h.stats.RequestDone(status, d)
		rs := gen.obs.noRoute
		if x.route != nil {
			if r := gen.obs.routes[x.route]; r != nil {
				rs = r
			}
		}
		if rs != nil {
			rs.Observe(x.req.Method, status, d)
		}
	}
	traceID := x.obs.trace.TraceID() // before End, which releases the span
	if x.obs.trace.Sampled() {
		f := tracing.Finish{Status: status, Flags: x.log.Flags, BytesSent: x.log.BytesSent, End: end,
			RequestID: x.req.Header.Get("x-request-id"), UserAgent: x.req.Header.Get("user-agent")}
		if x.route != nil {
			f.Route = x.route.Name
		}
		if x.wc != nil {
			f.Cluster = x.wc.Name
		}
		if f.Flags == "" {
			f.Flags = "-"
		}
		x.obs.trace.End(&f)
	}
	if al := h.rt.opts.AccessLog; al != nil {
		h.fillLog(x, status)
		if m := h.rt.opts.LogMasker; m != nil {
			x.log.Path = m.String(x.log.Path)
			x.log.UserAgent = m.String(x.log.UserAgent)
		}
		x.log.Duration = d
		x.log.TraceID = traceID
		al.Log(&x.log)
	}
	x.obs = obsState{}
}

// attemptStart opens the observation of one upstream attempt to host of
// cl; the previous attempt of the request, if any, is closed first.
func (h *handler) attemptStart(gen *Generation, x *exchange, cl *upstream.Cluster, host *upstream.Host) {
	now := time.Now()
	h.closeAttempt(x, now, false)
	x.obs.att = attemptObs{cluster: gen.obs.clusters[cl.Name()], start: now}
	if x.obs.trace.Sampled() {
		x.obs.att.span = x.obs.trace.StartAttempt(&x.req.Header, cl.Name(), host.Address().String(), now)
	}
	x.obs.open = true
}

// attemptEnd records the attempt's outcome, charged as the upstream
// package charges it: the status received, or the local 503/504 of a
// failure that is the upstream's (connect failure, reset, timeout).
func (h *handler) attemptEnd(x *exchange, resp *httpmsg.Response, err error) {
	if !x.obs.open {
		return
	}
	a := &x.obs.att
	a.headers = time.Now()
	a.err = err
	switch {
	case err == nil && resp != nil:
		a.code = resp.Status
	case err != nil:
		switch classifyPoolError(err) {
		case upstream.ErrorTimeout:
			a.code = 504
		case upstream.ErrorLocal:
			a.code = 0
		default:
			a.code = 503
		}
	}
	if a.cluster != nil && a.code != 0 {
		a.cluster.Count(a.code)
	}
}

// closeAttempt ends the open attempt. The attempt whose answer goes to the
// client ends with the request (Envoy's upstream_rq_time runs to the end
// of the response); a replaced attempt ends when it was answered.
func (h *handler) closeAttempt(x *exchange, now time.Time, final bool) {
	if !x.obs.open {
		return
	}
	a := &x.obs.att
	end := now
	if !final && !a.headers.IsZero() {
		end = a.headers
	}
	if a.cluster != nil && a.code != 0 {
		a.cluster.ObserveTime(end.Sub(a.start))
	}
	a.span.End(a.code, a.err, end)
	x.obs.open = false
}

// StatsSource returns what the Prometheus collector reads about the
// clusters in force.
func (rt *Runtime) StatsSource() stats.Source { return statsSource{rt} }

type statsSource struct{ rt *Runtime }

func (s statsSource) Live() bool { return s.rt.Ready() }

func (s statsSource) Clusters(fn func(stats.ClusterView)) {
	gen := s.rt.gen.Load()
	for _, name := range gen.ClusterNames() {
		c := gen.clusters[name]
		v := stats.ClusterView{Name: name, Upstream: c.Stats().Snapshot()}
		for _, h := range c.Hosts() {
			v.CxActive += hostPool(h).Stats().Active
		}
		fn(v)
	}
}
