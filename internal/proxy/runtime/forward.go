package runtime

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/http1"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/router"
	"github.com/ksgw/ksgw/internal/proxy/upstream"
	"github.com/ksgw/ksgw/internal/proxy/upstream/lb"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

// Envoy's retry back-off: 25ms base, doubling, full jitter, capped at 10×
// the base (router retry_back_off defaults).
const (
	retryBaseInterval = 25 * time.Millisecond
	retryMaxInterval  = 250 * time.Millisecond
)

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// forward proxies x to the route's cluster with the route's rewrites,
// timeouts and retries, and streams the answer back.
func (h *handler) forward(ctx context.Context, gen *Generation, lg *listenerGen, w httpmsg.ResponseWriter, x *exchange) int {
	r, route := x.req, x.route
	act := route.Forward

	wc := router.PickCluster(act, rand.Uint64())
	if wc == nil {
		x.log.Flags = "NC"
		return localReply(w, 503, "no cluster")
	}
	x.wc = wc
	cl := gen.clusters[wc.Name]
	if cl == nil {
		// Only possible while CDS and RDS are out of step; make-before-break
		// in the control plane and in buildGeneration keeps this rare.
		x.log.Flags = "NC"
		return localReply(w, 503, "cluster not found")
	}

	// Mirrors copy the request as the client sent it (after routing), before
	// this route's own rewrites, as Envoy's shadowing does.
	if len(act.Mirrors) > 0 {
		h.mirror(gen, act.Mirrors, r)
	}

	// Rewrites and header edits, most specific first (weighted cluster, then
	// route), as Envoy applies them by default.
	if act.PrefixRewrite != "" || act.RegexRewrite != nil {
		if np := router.RewritePath(route, r.Path); np != r.Path {
			r.Header.Set("x-envoy-original-path", r.Path)
			r.Path = np
		}
	}
	if act.HostRewrite != "" {
		r.Authority = act.HostRewrite
	}
	applyMutation(&r.Header, &wc.RequestHeaders)
	applyMutation(&r.Header, &route.RequestHeaders)

	if act.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, act.Timeout)
		defer cancel()
	}

	if r.Upgrade != "" {
		if !lg.hcm.WebSocket || !equalFoldASCII(r.Upgrade, "websocket") {
			x.log.Flags = "UPE"
			return localReply(w, 403, "upgrade not allowed")
		}
		return h.tunnel(ctx, cl, w, x)
	}

	var hashKey uint64
	hasHash := false
	if len(act.HashPolicies) > 0 {
		hashKey, hasHash = computeHash(act.HashPolicies, r)
	}

	// Only requests without a body can be replayed: a streamed body is gone
	// once sent (the rule; Envoy buffers up to a limit instead).
	replayable := r.ContentLength == 0
	retries := uint32(0)
	if act.Retry != nil && replayable {
		retries = act.Retry.NumRetries
	}

	// A body that breaks while it streams upstream (a malformed chunk) is
	// the client's fault: answer 400 like Envoy's codec, and do not charge
	// the upstream host for it.
	var body *recordingBody
	if r.Body != httpmsg.NoBody && r.Body != nil {
		body = &recordingBody{r: r.Body}
		r.Body = body
	}
	var (
		resp *httpmsg.Response
		err  error
		host *upstream.Host
	)
	for attempt := uint32(0); ; attempt++ {
		if attempt > 0 {
			cl.Stats().RetryInc()
			if !sleepBackoff(ctx, attempt) {
				break
			}
		}
		host, err = pickHost(cl, hashKey, hasHash)
		if err != nil {
			break
		}
		h.attemptStart(gen, x, cl, host)
		resp, err = h.tryOnce(ctx, cl, host, act, r)
		h.attemptEnd(x, resp, err)
		if err != nil && body != nil && body.err != nil {
			host.ReportResult(0, errDownstream)
			x.log.Flags = "DPE"
			var he *http1.Error
			if errors.As(body.err, &he) {
				return localReply(w, he.Status, "malformed request body")
			}
			return localReply(w, 400, "malformed request body")
		}
		host.ReportResult(statusOf(resp), err)
		if attempt >= retries || !shouldRetry(act.Retry, resp, err) {
			break
		}
		if resp != nil {
			drainAndClose(resp)
			resp = nil
		}
	}
	if host != nil {
		x.log.UpstreamHost = host.Address().String()
	}
	if err != nil {
		status, flag, msg := classifyError(ctx, err)
		x.log.Flags = flag
		if status == 503 && errors.Is(err, upstream.ErrNoHealthyUpstream) {
			if reason := cl.Config().NoEndpointsReason; reason != "" {
				msg = "no healthy upstream: " + reason
			}
		}
		return localReply(w, status, msg)
	}
	defer resp.Body.Close()

	applyMutation(&resp.Header, &wc.ResponseHeaders)
	applyMutation(&resp.Header, &route.ResponseHeaders)
	if len(lg.chain) > 0 {
		runResponseFilters(ctx, lg, x, resp)
	}
	if err := w.WriteHeader(resp.Status, &resp.Header); err != nil {
		x.log.Flags = "DC"
		return resp.Status
	}
	n, err := copyBody(w, resp)
	x.log.BytesSent = n
	if err != nil {
		// The upstream body broke mid-way: make the truncation visible to
		// the client instead of ending the response cleanly.
		x.log.Flags = "UPE"
		if ctx.Err() != nil {
			x.log.Flags = "UT"
		}
		w.Abort()
		return resp.Status
	}
	if resp.Trailer.Len() > 0 {
		w.WriteTrailer(&resp.Trailer)
	}
	return resp.Status
}

// tryOnce sends one attempt, bounded by the per-try timeout.
func (h *handler) tryOnce(ctx context.Context, cl *upstream.Cluster, host *upstream.Host, act *dpconfig.RouteAction, r *httpmsg.Request) (*httpmsg.Response, error) {
	if err := cl.Acquire(); err != nil {
		return nil, err
	}
	defer cl.Release()
	if act.Retry != nil && act.Retry.PerTryTimeout > 0 {
		tctx, cancel := context.WithTimeout(ctx, act.Retry.PerTryTimeout)
		resp, err := roundTrip(tctx, host, r)
		if err != nil {
			cancel()
			return nil, err
		}
		// The per-try timeout covers the wait for response headers; the body
		// is then bounded by the route timeout (Envoy's per_try_timeout).
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	return roundTrip(ctx, host, r)
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Buffered passes the body's buffering state through, so copying keeps
// coalescing flushes under a per-try timeout.
func (c *cancelOnClose) Buffered() bool {
	b, ok := c.ReadCloser.(interface{ Buffered() bool })
	return ok && b.Buffered()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// errDownstream reports an exchange that failed because of the client.
var errDownstream = errors.New("downstream error")

// recordingBody remembers the error reading the client's body, so a failed
// exchange can be blamed on the right side.
type recordingBody struct {
	r   io.Reader
	err error
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func statusOf(resp *httpmsg.Response) int {
	if resp == nil {
		return 0
	}
	return resp.Status
}

// shouldRetry applies Envoy's retry_on conditions.
func shouldRetry(p *dpconfig.RetryPolicy, resp *httpmsg.Response, err error) bool {
	if p == nil {
		return false
	}
	if err != nil {
		switch {
		case errors.Is(err, upstream.ErrOverflow), errors.Is(err, pool.ErrOverflow), errors.Is(err, upstream.ErrNoHealthyUpstream):
			return false
		case isConnectFailure(err):
			return p.On&(dpconfig.RetryConnectFailure|dpconfig.RetryGatewayError|dpconfig.Retry5xx) != 0
		case isTimeout(err):
			return false // the per-try timeout elapsed: Envoy retries only with retry_on 5xx / gateway-error
		default:
			return p.On&(dpconfig.RetryReset|dpconfig.Retry5xx|dpconfig.RetryGatewayError) != 0
		}
	}
	s := resp.Status
	switch {
	case s >= 500 && p.On&dpconfig.Retry5xx != 0:
		return true
	case (s == 502 || s == 503 || s == 504) && p.On&dpconfig.RetryGatewayError != 0:
		return true
	case s == 409 && p.On&dpconfig.RetryRetriable4xx != 0:
		return true
	case p.On&dpconfig.RetryRetriableStatusCodes != 0:
		for _, c := range p.RetriableStatusCodes {
			if c == s {
				return true
			}
		}
	}
	return false
}

func sleepBackoff(ctx context.Context, attempt uint32) bool {
	d := retryBaseInterval << (attempt - 1)
	if d > retryMaxInterval || d <= 0 {
		d = retryMaxInterval
	}
	d = time.Duration(rand.Int64N(int64(d)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// classifyError maps a failed exchange to Envoy's local reply and response
// flag.
func classifyError(ctx context.Context, err error) (status int, flag, msg string) {
	switch {
	case errors.Is(err, upstream.ErrNoHealthyUpstream):
		return 503, "UH", "no healthy upstream"
	case errors.Is(err, upstream.ErrOverflow), errors.Is(err, pool.ErrOverflow):
		return 503, "UO", "upstream overflow"
	case ctx.Err() != nil || isTimeout(err):
		return 504, "UT", "upstream request timeout"
	case isConnectFailure(err):
		return 503, "UF", "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	default:
		return 503, "UC", "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
	}
}

// copyBody streams the upstream body to the client with a pooled buffer,
// flushing whenever the upstream has nothing more buffered (httpmsg.Copy),
// so streams stay interactive and small answers leave in one write.
func copyBody(w httpmsg.ResponseWriter, resp *httpmsg.Response) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return httpmsg.Copy(w, resp.Body, *bp)
}

func drainAndClose(resp *httpmsg.Response) {
	// A small remainder is drained so the connection can be reused; a large
	// one costs more than a new connection.
	io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// computeHash evaluates the route's hash policies in order (Envoy: the
// first policy that yields a value wins unless earlier ones are not
// terminal, in which case values are combined).
func computeHash(policies []dpconfig.HashPolicy, r *httpmsg.Request) (uint64, bool) {
	var h uint64
	found := false
	for i := range policies {
		p := &policies[i]
		var v string
		ok := false
		switch {
		case p.Header != "":
			v, ok = r.Header.Lookup(p.Header)
		case p.Cookie != nil:
			v, ok = cookieValue(&r.Header, p.Cookie.Name)
		case p.SourceIP:
			if r.RemoteAddr.IsValid() {
				v, ok = r.RemoteAddr.Addr().String(), true
			}
		}
		if !ok {
			continue
		}
		hv := lb.HashString(v)
		if found {
			h = (h<<1 | h>>63) ^ hv
		} else {
			h = hv
		}
		found = true
		if p.Terminal {
			break
		}
	}
	return h, found
}

func cookieValue(h *httpmsg.Header, name string) (string, bool) {
	for i := 0; i < h.Len(); i++ {
		f := h.At(i)
		if f.Name != "cookie" {
			continue
		}
		v := f.Value
		for len(v) > 0 {
			var part string
			part, v, _ = cutByte(v, ';')
			part = trimSpace(part)
			k, val, ok := cutByte(part, '=')
			if ok && k == name {
				return val, true
			}
		}
	}
	return "", false
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func equalFoldASCII(a, b string) bool { return httpmsg.EqualFold(a, b) }

// mirror sends a copy of a bodiless request to each mirror cluster chosen by
// its fraction, in the background, ignoring the answer. The host gets
// Envoy's "-shadow" suffix so the mirror can tell shadow traffic apart.
// Requests with a body are not mirrored: the body streams to the primary
// and is not kept.
func (h *handler) mirror(gen *Generation, mirrors []dpconfig.Mirror, r *httpmsg.Request) {
	if r.ContentLength != 0 {
		return
	}
	for _, m := range mirrors {
		if m.PerMillion < 1_000_000 && rand.Uint32N(1_000_000) >= m.PerMillion {
			continue
		}
		cl := gen.clusters[m.Cluster]
		if cl == nil || !h.rt.mirrorSlots.TryAcquire() {
			continue
		}
		cp := &httpmsg.Request{
			Method: r.Method, Scheme: r.Scheme, Path: r.Path, RawQuery: r.RawQuery,
			Authority: shadowHost(r.Authority), Proto: r.Proto, Header: r.Header.Clone(),
			Body: httpmsg.NoBody, RemoteAddr: r.RemoteAddr,
		}
		cp.Method, cp.Path, cp.RawQuery = clone(cp.Method), clone(cp.Path), clone(cp.RawQuery)
		h.rt.wg.Add(1)
		go func() {
			defer h.rt.wg.Done()
			defer h.rt.mirrorSlots.Release()
			ctx, cancel := context.WithTimeout(h.rt.baseCtx, 10*time.Second)
			defer cancel()
			host, err := pickHost(cl, 0, false)
			if err != nil {
				return
			}
			resp, err := roundTrip(ctx, host, cp)
			host.ReportResult(statusOf(resp), err)
			if err == nil {
				drainAndClose(resp)
			}
		}()
	}
}

func shadowHost(authority string) string {
	host, port := authority, ""
	for i := len(authority) - 1; i >= 0; i-- {
		if authority[i] == ':' {
			if _, err := strconv.Atoi(authority[i+1:]); err == nil {
				host, port = authority[:i], authority[i:]
			}
			break
		}
		if authority[i] == ']' {
			break
		}
	}
	return host + "-shadow" + port
}

func clone(s string) string { return string([]byte(s)) }
