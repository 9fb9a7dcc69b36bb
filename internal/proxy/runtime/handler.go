package runtime

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/router"
)

// handler serves the requests of one listener. It holds no configuration:
// each request loads the current generation once.
type handler struct {
	rt       *Runtime
	listener string
	stats    *ListenerStats
}

// exchange is the per-request state, pooled. It implements router.Request
// so that matching does not allocate.
type exchange struct {
	req   *httpmsg.Request
	start time.Time
	log   AccessLogEntry
	join  []string // scratch for multi-valued header joins
	route *dpconfig.Route
	wc    *dpconfig.WeightedCluster
	// fs is the filter chain's per-request state; ran is how many chain
	// entries OnRequest reached (response filters run for those only).
	fs       filter.State
	ran      int
	replyHdr httpmsg.Header
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

var _ router.Request = (*exchange)(nil)

func (x *exchange) Authority() string { return x.req.Authority }
func (x *exchange) Path() string      { return x.req.Path }
func (x *exchange) RawQuery() string  { return x.req.RawQuery }
func (x *exchange) Method() string    { return x.req.Method }
func (x *exchange) Scheme() string    { return x.req.Scheme }

// Header returns the value of a header for matching; several fields of one
// name are joined with "," as Envoy does before matching.
func (x *exchange) Header(name string) (string, bool) {
	h := &x.req.Header
	switch h.Count(name) {
	case 0:
		return "", false
	case 1:
		return h.Lookup(name)
	}
	x.join = h.Values(x.join[:0], name)
	return strings.Join(x.join, ","), true
}

func (h *handler) ServeHTTP(ctx context.Context, w httpmsg.ResponseWriter, r *httpmsg.Request) {
	x := exchangePool.Get().(*exchange)
	x.req, x.start = r, time.Now()
	x.log = AccessLogEntry{}
	x.route, x.wc, x.ran = nil, nil, 0
	x.fs.Reset()

	gen := h.rt.gen.Load()
	status := h.serve(ctx, gen, w, x)

	h.stats.observe(status, time.Since(x.start))
	if al := h.rt.opts.AccessLog; al != nil {
		h.fillLog(x, status)
		if m := h.rt.opts.LogMasker; m != nil {
			x.log.Path = m.String(x.log.Path)
			x.log.UserAgent = m.String(x.log.UserAgent)
		}
		al.Log(&x.log)
	}
	x.req, x.route, x.wc = nil, nil, nil
	x.fs.Reset()
	exchangePool.Put(x)
}

// serve routes and answers one request; it returns the status sent.
func (h *handler) serve(ctx context.Context, gen *Generation, w httpmsg.ResponseWriter, x *exchange) int {
	r := x.req
	lg := gen.listeners[h.listener]
	if lg == nil {
		// The listener left the configuration while this connection was
		// open; it is draining. Envoy answers 503 with flag NR here too.
		x.log.Flags = "NR"
		return localReply(w, 503, "listener draining")
	}
	if r.Scheme == "" {
		r.Scheme = "http"
		if r.TLS != nil {
			r.Scheme = "https"
		}
	}
	fs := &x.fs
	fs.Request, fs.Listener, fs.TLS = r, h.listener, r.TLS
	fs.Peer = r.RemoteAddr.Addr().Unmap()
	if r.PeerAddr.IsValid() {
		fs.Peer = r.PeerAddr.Addr().Unmap()
	}
	// The client address is decided before this hop is appended to
	// X-Forwarded-For, from the header as the client sent it.
	xff, _ := r.Header.Lookup("x-forwarded-for")
	fs.Client = clientAddress(lg.hcm, r.RemoteAddr.Addr().Unmap(), xff)
	setForwardingHeaders(lg.hcm, r, fs.Client)
	setClientCertHeader(lg.hcm, r)

	_, route := lg.routes.Match(x)
	if route == nil {
		x.log.Flags = "NR"
		return localReply(w, 404, "")
	}
	x.route = route
	fs.Route = route

	if len(lg.chain) > 0 {
		rep := runRequestFilters(ctx, lg, x)
		if fs.Flag != "" {
			x.log.Flags = fs.Flag
		}
		if rep != nil {
			return sendReply(w, x, rep)
		}
	}

	switch {
	case route.Redirect != nil:
		loc := router.RedirectLocation(route.Redirect, r.Scheme, r.Authority, r.Path, r.RawQuery)
		var hdr httpmsg.Header
		hdr.Set("location", loc)
		hdr.Set("content-length", "0")
		applyMutation(&hdr, &route.ResponseHeaders)
		addAll(&hdr, &x.fs.ResponseHeaders)
		code := route.Redirect.StatusCode
		if code == 0 {
			code = 301
		}
		w.WriteHeader(code, &hdr)
		return code
	case route.DirectResponse != nil:
		var hdr httpmsg.Header
		applyMutation(&hdr, &route.ResponseHeaders)
		addAll(&hdr, &x.fs.ResponseHeaders)
		return reply(w, route.DirectResponse.Status, &hdr, route.DirectResponse.Body)
	case route.Forward != nil:
		return h.forward(ctx, gen, lg, w, x)
	}
	return localReply(w, 500, "route has no action")
}

// setForwardingHeaders applies Envoy's HCM behaviour with
// use_remote_address: the remote address (the PROXY protocol source, or
// the peer) is appended to X-Forwarded-For, X-Forwarded-Proto is set from
// the downstream connection, x-envoy-external-address carries the trusted
// client address, and a request id is generated when absent.
func setForwardingHeaders(hcm *dpconfig.HTTPConnectionManager, r *httpmsg.Request, client netip.Addr) {
	if hcm.UseRemoteAddress && r.RemoteAddr.IsValid() {
		ip := r.RemoteAddr.Addr().Unmap().String()
		if prev, ok := r.Header.Lookup("x-forwarded-for"); ok && prev != "" {
			r.Header.Set("x-forwarded-for", prev+", "+ip)
		} else {
			r.Header.Set("x-forwarded-for", ip)
		}
		r.Header.Set("x-forwarded-proto", r.Scheme)
		if client.IsValid() {
			r.Header.Set("x-envoy-external-address", client.String())
		}
	}
	if !r.Header.Has("x-forwarded-host") && r.Authority != "" {
		r.Header.Set("x-forwarded-host", r.Authority)
	}
	if hcm.GenerateRequestID && !r.Header.Has("x-request-id") {
		r.Header.Set("x-request-id", newRequestID())
	}
}

// newRequestID returns a random UUID (version 4), as Envoy generates.
func newRequestID() string {
	var b [16]byte
	a, c := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(c >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[b[i]>>4], hex[b[i]&0x0f]
		j += 2
	}
	return string(out[:])
}

// applyMutation edits h as Envoy does: removals first, then each header
// option in order.
func applyMutation(h *httpmsg.Header, m *dpconfig.HeaderMutation) {
	for _, name := range m.Remove {
		h.Del(name)
	}
	for i := range m.Add {
		o := &m.Add[i]
		switch o.Action {
		case dpconfig.AppendIfExistsOrAdd:
			h.Add(o.Name, o.Value)
		case dpconfig.AddIfAbsent:
			if !h.Has(o.Name) {
				h.Add(o.Name, o.Value)
			}
		case dpconfig.OverwriteIfExistsOrAdd:
			h.Set(o.Name, o.Value)
		case dpconfig.OverwriteIfExists:
			if h.Has(o.Name) {
				h.Set(o.Name, o.Value)
			}
		}
	}
}

// localReply answers from the proxy with a short plain-text body, like
// Envoy's local replies ("no healthy upstream", "upstream request timeout").
func localReply(w httpmsg.ResponseWriter, status int, body string) int {
	var hdr httpmsg.Header
	return reply(w, status, &hdr, body)
}

func reply(w httpmsg.ResponseWriter, status int, hdr *httpmsg.Header, body string) int {
	hdr.Set("content-length", strconv.Itoa(len(body)))
	if body != "" && !hdr.Has("content-type") {
		hdr.Set("content-type", "text/plain")
	}
	if err := w.WriteHeader(status, hdr); err != nil {
		return status
	}
	if body != "" {
		w.Write([]byte(body))
	}
	return status
}

func (h *handler) fillLog(x *exchange, status int) {
	r := x.req
	e := &x.log
	e.StartTime = x.start
	e.Duration = time.Since(x.start)
	e.Method = r.Method
	e.Path = r.RequestURI()
	e.Protocol = r.Proto.String()
	e.ResponseCode = status
	e.Authority = r.Authority
	e.RequestID = r.Header.Get("x-request-id")
	e.UserAgent = r.Header.Get("user-agent")
	e.ForwardedFor = r.Header.Get("x-forwarded-for")
	e.Listener = h.listener
	if r.RemoteAddr.IsValid() {
		e.DownstreamRemote = r.RemoteAddr
	} else {
		e.DownstreamRemote = netip.AddrPort{}
	}
	if x.route != nil {
		e.RouteName = x.route.Name
	}
	if x.wc != nil {
		e.UpstreamCluster = x.wc.Name
	}
	if e.Flags == "" {
		e.Flags = "-"
	}
}
