package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/cors"
	"github.com/ksgw/ksgw/internal/proxy/filter/fault"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// chainEntry is one built HTTP filter of a listener.
type chainEntry struct {
	name     string
	f        filter.Filter
	resp     filter.ResponseFilter // nil when f does not act on responses
	disabled bool                  // HttpFilter.disabled: runs only where a route enables it
}

// buildChain builds the listener's HTTP filters from its HCM, in order,
// once per generation (internal/proxy/filter documents the contract). The
// router is the chain's end, not an entry; fault, CORS and local_ratelimit
// are the runtime's own filters.
func buildChain(ctx context.Context, rt *Runtime, lg *listenerGen, snap *dpconfig.Snapshot) error {
	for i, hf := range lg.hcm.HTTPFilters {
		var e chainEntry
		switch hf.Name {
		case dpconfig.RouterFilterName:
			continue
		case dpconfig.FaultFilterName:
			e.f = faultFilter{}
		case dpconfig.CORSFilterName:
			e.f = corsFilter{}
		default:
			if cfg, ok := hf.Config.(*dpconfig.LocalRateLimit); ok {
				f, err := newLocalRateLimitFilter(hf.Name, cfg, snap)
				if err != nil {
					return fmt.Errorf("http_filters[%d] %q: %w", i, hf.Name, err)
				}
				e.f = f
				break
			}
			fac, ok := rt.opts.Filters.Lookup(hf.TypeURL)
			if !ok {
				return fmt.Errorf("http_filters[%d] %q: no implementation of %s", i, hf.Name, hf.TypeURL)
			}
			f, err := fac.Build(ctx, filter.BuildParams{Name: hf.Name, Listener: lg.cfg.Name, Config: hf.Config, Snapshot: snap, Logger: rt.log})
			if err != nil {
				return fmt.Errorf("http_filters[%d] %q: %w", i, hf.Name, err)
			}
			e.f = f
		}
		e.name, e.disabled = hf.Name, hf.Disabled
		e.resp, _ = e.f.(filter.ResponseFilter)
		lg.chain = append(lg.chain, e)
	}
	if len(lg.chain) > filter.MaxFilters {
		return fmt.Errorf("%d HTTP filters, at most %d are supported", len(lg.chain), filter.MaxFilters)
	}
	return nil
}

// active reports whether entry e runs for the route: a route's
// FilterConfig{disabled: true} turns it off, and a filter disabled by
// default runs only where the route has an entry for it (Envoy's
// HttpFilter.disabled).
func (e *chainEntry) active(r *dpconfig.Route) bool {
	pr, ok := r.PerFilter[e.name]
	if _, off := pr.(dpconfig.FilterDisabled); off {
		return false
	}
	return ok || !e.disabled
}

// runRequestFilters calls OnRequest of each active filter in order and
// returns the first reply. x.ran records how far the chain got, so that
// response filters run only for filters that saw the request.
func runRequestFilters(ctx context.Context, lg *listenerGen, x *exchange) *filter.Reply {
	s := &x.fs
	for i := range lg.chain {
		e := &lg.chain[i]
		x.ran = i + 1
		if !e.active(x.route) {
			continue
		}
		s.SetCurrent(i)
		if r := e.f.OnRequest(ctx, s); r != nil {
			return r
		}
	}
	return nil
}

// runResponseFilters calls OnResponse in reverse order (Envoy's encoder
// filter order), then adds the headers filters asked for.
func runResponseFilters(ctx context.Context, lg *listenerGen, x *exchange, resp *httpmsg.Response) {
	s := &x.fs
	for i := x.ran - 1; i >= 0; i-- {
		e := &lg.chain[i]
		if e.resp == nil || !e.active(x.route) {
			continue
		}
		s.SetCurrent(i)
		e.resp.OnResponse(ctx, s, resp)
	}
	addAll(&resp.Header, &s.ResponseHeaders)
}

func addAll(dst, src *httpmsg.Header) {
	for _, f := range src.Fields() {
		dst.Add(f.Name, f.Value)
	}
}

// sendReply writes a filter's local reply with the headers filters added.
func sendReply(w httpmsg.ResponseWriter, x *exchange, r *filter.Reply) int {
	hdr := &x.replyHdr
	hdr.Reset()
	hdr.CopyFrom(&r.Header)
	addAll(hdr, &x.fs.ResponseHeaders)
	if r.Body != "" && !hdr.Has("content-type") {
		hdr.Set("content-type", "text/plain")
	}
	return reply(w, r.Status, hdr, r.Body)
}

// faultFilter is envoy.filters.http.fault, configured per route only.
type faultFilter struct{}

func (faultFilter) OnRequest(ctx context.Context, s *filter.State) *filter.Reply {
	f := s.Route.Fault
	if f == nil {
		return nil
	}
	d := fault.Decide(f, rand.Uint32N(1_000_000), rand.Uint32N(1_000_000))
	if d.Delay > 0 {
		s.Flag = "DI"
		t := time.NewTimer(d.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if d.AbortStatus > 0 {
		s.Flag = "FI"
		return &filter.Reply{Status: d.AbortStatus, Body: "fault filter abort", Details: "fault_filter_abort"}
	}
	return nil
}

// corsFilter is envoy.filters.http.cors, configured per route only:
// preflights are answered here, actual requests get their headers on the
// way back.
type corsFilter struct{}

func (corsFilter) OnRequest(_ context.Context, s *filter.State) *filter.Reply {
	p := s.Route.CORS
	if p == nil {
		return nil
	}
	res := cors.Check(p, s.Request.Method, &s.Request.Header)
	switch res {
	case cors.Preflight:
		r := &filter.Reply{Status: 200}
		cors.Apply(p, res, &s.Request.Header, &r.Header)
		return r
	case cors.Actual:
		*s.Slot() = res
	}
	return nil
}

func (corsFilter) OnResponse(_ context.Context, s *filter.State, resp *httpmsg.Response) {
	if res, ok := (*s.Slot()).(cors.Result); ok && res == cors.Actual {
		cors.Apply(s.Route.CORS, res, &s.Request.Header, &resp.Header)
	}
}

// clientAddress is Envoy's trusted client address (the RBAC remote_ip):
// with use_remote_address and xff_num_trusted_hops N, the Nth address from
// the right of the X-Forwarded-For the client sent, or the connection's
// remote address when N is 0 or XFF is shorter; with xff_trusted_cidrs, the
// right-most XFF address outside those ranges, if the remote address is
// inside them. The remote address is the PROXY protocol source when the
// listener reads one.
func clientAddress(hcm *dpconfig.HTTPConnectionManager, remote netip.Addr, xff string) netip.Addr {
	if len(hcm.XFFTrustedCIDRs) > 0 {
		if !inPrefixes(hcm.XFFTrustedCIDRs, remote) {
			return remote
		}
		client := remote
		for xff != "" {
			var part string
			if i := strings.LastIndexByte(xff, ','); i >= 0 {
				part, xff = xff[i+1:], xff[:i]
			} else {
				part, xff = xff, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				return client // an unparsable entry ends the trusted chain
			}
			client = a.Unmap()
			if !inPrefixes(hcm.XFFTrustedCIDRs, client) {
				return client
			}
		}
		return client
	}
	n := hcm.XFFNumTrustedHops
	if n == 0 || xff == "" {
		return remote
	}
	for ; n > 0; n-- {
		i := strings.LastIndexByte(xff, ',')
		part := xff[i+1:]
		if n == 1 {
			if a, err := netip.ParseAddr(strings.TrimSpace(part)); err == nil {
				return a.Unmap()
			}
			return remote
		}
		if i < 0 {
			return remote // fewer than N entries: Envoy uses the peer
		}
		xff = xff[:i]
	}
	return remote
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// setClientCertHeader applies forward_client_cert_details: X-Forwarded-
// Client-Cert is forwarded, appended to, replaced or removed, in Envoy's
// format (Hash, Cert, Chain, Subject, URI, DNS; values with ';' ',' or '='
// quoted). Only mutual-TLS connections forward anything, except with
// ALWAYS_FORWARD_ONLY.
func setClientCertHeader(hcm *dpconfig.HTTPConnectionManager, r *httpmsg.Request) {
	mtls := r.TLS != nil && len(r.TLS.PeerCertificates) > 0
	switch hcm.ForwardClientCert {
	case dpconfig.XFCCAlwaysForwardOnly:
		return
	case dpconfig.XFCCForwardOnly:
		if !mtls {
			r.Header.Del("x-forwarded-client-cert")
		}
		return
	case dpconfig.XFCCSanitize:
		r.Header.Del("x-forwarded-client-cert")
		return
	}
	if !mtls {
		r.Header.Del("x-forwarded-client-cert")
		return
	}
	v := clientCertValue(&hcm.SetClientCert, r.TLS)
	if prev, ok := r.Header.Lookup("x-forwarded-client-cert"); ok && prev != "" && hcm.ForwardClientCert == dpconfig.XFCCAppendForward {
		v = prev + "," + v
	}
	r.Header.Set("x-forwarded-client-cert", v)
}

func clientCertValue(set *dpconfig.SetClientCert, t *httpmsg.TLSInfo) string {
	leaf := t.PeerCertificates[0]
	sum := sha256.Sum256(leaf.Raw)
	var b strings.Builder
	b.WriteString("Hash=")
	b.WriteString(hex.EncodeToString(sum[:]))
	if set.Cert {
		b.WriteString(`;Cert="`)
		b.WriteString(url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))))
		b.WriteByte('"')
	}
	if set.Chain {
		var chain []byte
		for _, c := range t.PeerCertificates {
			chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		b.WriteString(`;Chain="`)
		b.WriteString(url.QueryEscape(string(chain)))
		b.WriteByte('"')
	}
	if set.Subject {
		b.WriteString(";Subject=")
		b.WriteString(strconv.Quote(leaf.Subject.String()))
	}
	if set.URI {
		for _, u := range leaf.URIs {
			b.WriteString(";URI=")
			b.WriteString(u.String())
		}
	}
	if set.DNS {
		for _, d := range leaf.DNSNames {
			b.WriteString(";DNS=")
			b.WriteString(d)
		}
	}
	return b.String()
}
