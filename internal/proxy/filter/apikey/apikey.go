// Package apikey implements Envoy's envoy.filters.http.api_key_auth: a key
// taken from the first configured source that carries one (header, query
// parameter or cookie) must equal one of the credentials; the matching
// credential's client id becomes the request's identity (for rate limits and
// logs), may be forwarded in a header, and the key itself may be removed
// before forwarding. A route's ApiKeyAuthPerRoute replaces, field by field,
// the listener's configuration and may restrict the allowed clients.
//
// Keys are compared in constant time: the candidate's SHA-256 digest is
// compared with every credential's digest with crypto/subtle, with no early
// exit, so neither a key's prefix nor its position leaks through timing.
// Digests are computed once per generation, never per request. Keys are
// never logged: denials say only "missing" or "invalid".
package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/router"
)

// TypeURL is the listener-level config type this filter builds.
const TypeURL = "type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth"

// Factory builds API key filters. It holds no state.
type Factory struct{}

var _ filter.Factory = Factory{}

func (Factory) TypeURLs() []string { return []string{TypeURL} }

// Build digests the listener's credentials and those of every route
// override in the snapshot, so that requests only hash the candidate key.
func (Factory) Build(_ context.Context, p filter.BuildParams) (filter.Filter, error) {
	cfg, ok := p.Config.(*dpconfig.APIKeyAuth)
	if !ok {
		return nil, fmt.Errorf("api_key_auth: config is %T", p.Config)
	}
	f := &Filter{name: p.Name, base: newIndex(cfg), routes: map[*dpconfig.APIKeyAuth]*index{}}
	if p.Snapshot != nil {
		for _, rc := range p.Snapshot.Routes {
			f.indexRoutes(rc)
		}
	}
	return f, nil
}

func (f *Filter) indexRoutes(rc *dpconfig.RouteConfig) {
	for _, vh := range rc.VirtualHosts {
		for _, r := range vh.Routes {
			if pr, ok := r.PerFilter[f.name].(*dpconfig.APIKeyAuth); ok {
				if _, done := f.routes[pr]; !done {
					f.routes[pr] = newIndex(pr)
				}
			}
		}
	}
}

// Filter is one listener's API key filter. Immutable after Build.
type Filter struct {
	name   string
	base   *index
	routes map[*dpconfig.APIKeyAuth]*index // per-route overrides of this generation
}

// index is a configuration with its credentials digested.
type index struct {
	cfg     *dpconfig.APIKeyAuth
	digests [][sha256.Size]byte
}

func newIndex(c *dpconfig.APIKeyAuth) *index {
	ix := &index{cfg: c, digests: make([][sha256.Size]byte, len(c.Credentials))}
	for i, cr := range c.Credentials {
		ix.digests[i] = sha256.Sum256([]byte(cr.Key))
	}
	return ix
}

func (f *Filter) OnRequest(_ context.Context, s *filter.State) *filter.Reply {
	creds, sources, allowed := f.base, f.base.cfg.Sources, []string(nil)
	fwdHeader, hide := f.base.cfg.ForwardHeader, f.base.cfg.HideCredentials
	if pr, ok := s.PerRoute(f.name).(*dpconfig.APIKeyAuth); ok {
		// A non-empty per-route field replaces the listener's (Envoy's
		// ApiKeyAuthPerRoute).
		if len(pr.Credentials) > 0 {
			if ix := f.routes[pr]; ix != nil {
				creds = ix
			} else {
				creds = newIndex(pr) // route config newer than this generation's build: rare
			}
		}
		if len(pr.Sources) > 0 {
			sources = pr.Sources
		}
		if pr.HasForwarding {
			fwdHeader, hide = pr.ForwardHeader, pr.HideCredentials
		}
		allowed = pr.AllowedClients
	}
	key, src, found := extract(s.Request, sources)
	if !found {
		s.Flag = "UAEX"
		return unauthorized("missing API key")
	}
	client, ok := creds.lookup(key)
	if !ok {
		s.Flag = "UAEX"
		return unauthorized("invalid API key")
	}
	if len(allowed) > 0 && !slices.Contains(allowed, client) {
		s.Flag = "UAEX"
		return filter.Deny(403, "forbidden", "client is not allowed on this route")
	}
	s.Identity.APIKeyClient = client
	if hide {
		strip(s.Request, src)
	}
	if fwdHeader != "" {
		s.Request.Header.Set(fwdHeader, client)
	}
	return nil
}

func unauthorized(msg string) *filter.Reply {
	r := filter.Deny(401, "unauthorized", msg)
	r.Header.Set("www-authenticate", `API-Key realm="ksgw"`)
	return r
}

// lookup compares key with every credential in constant time.
func (ix *index) lookup(key string) (string, bool) {
	d := sha256.Sum256([]byte(key))
	match := -1
	for i := range ix.digests {
		if subtle.ConstantTimeCompare(d[:], ix.digests[i][:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", false
	}
	return ix.cfg.Credentials[match].Client, true
}

// extract returns the key from the first source that has one.
func extract(r *httpmsg.Request, sources []dpconfig.APIKeySource) (string, dpconfig.APIKeySource, bool) {
	for _, src := range sources {
		switch {
		case src.Header != "":
			if v, ok := r.Header.Lookup(src.Header); ok && v != "" {
				return v, src, true
			}
		case src.Query != "":
			if v, ok := router.QueryValue(r.RawQuery, src.Query); ok && v != "" {
				return v, src, true
			}
		case src.Cookie != "":
			if v, ok := httpmsg.Cookie(&r.Header, src.Cookie); ok && v != "" {
				return v, src, true
			}
		}
	}
	return "", dpconfig.APIKeySource{}, false
}

// strip removes the key from where it was found (Envoy's hide_credentials
// applies to the source in use).
func strip(r *httpmsg.Request, src dpconfig.APIKeySource) {
	switch {
	case src.Header != "":
		r.Header.Del(src.Header)
	case src.Query != "":
		var kept []string
		for _, kv := range strings.Split(r.RawQuery, "&") {
			if k, _, _ := strings.Cut(kv, "="); k != src.Query {
				kept = append(kept, kv)
			}
		}
		r.RawQuery = strings.Join(kept, "&")
	case src.Cookie != "":
		var kept []string
		for _, c := range strings.Split(r.Header.Get("cookie"), ";") {
			if k, _, _ := strings.Cut(strings.TrimSpace(c), "="); k != src.Cookie && strings.TrimSpace(c) != "" {
				kept = append(kept, strings.TrimSpace(c))
			}
		}
		r.Header.Del("cookie")
		if len(kept) > 0 {
			r.Header.Set("cookie", strings.Join(kept, "; "))
		}
	}
}
