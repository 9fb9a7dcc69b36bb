// Package filter is the proxy's HTTP filter interface: the contract between
// the runtime (internal/proxy/runtime), which runs a chain of filters per
// listener, and the filters themselves (internal/proxy/filter/<name>).
//
// # Configuration, as Envoy reads it
//
// A listener's HTTP connection manager lists its filters in http_filters;
// each entry has a name, a typed_config whose type selects the
// implementation, and an optional disabled flag. A route may carry
// typed_per_filter_config entries keyed by filter name: a filter-specific
// override, or route.v3.FilterConfig{disabled: true} to switch the filter
// off on that route, or FilterConfig{} to switch on a filter that the HCM
// disables by default. The proxy follows exactly these rules:
//
//   - dpconfig decodes everything at xDS decode time (an error is a NACK):
//     http_filters into dpconfig.HTTPFilter{Name, TypeURL, Config, Disabled},
//     per-route entries into dpconfig.Route.PerFilter[name]. Filters that
//     dpconfig does not know are decoded by their Factory, which then also
//     implements dpconfig.FilterParser (ParseConfig, ParseOverride); the
//     Registry passes those parsers to dpconfig.DecodersWith.
//   - Once per configuration generation and listener, the runtime calls
//     Factory.Build for each http_filters entry, in order, and keeps the
//     resulting Filters. Nothing is built per request: compile regexes,
//     prepare Rego queries, parse keys in Build (or in the parser).
//   - Per request, after the route is matched, the runtime calls OnRequest
//     of each filter in order, skipping filters the route disables (and
//     filters disabled by default that the route does not enable). The
//     first non-nil Reply ends the chain: the runtime sends it and the
//     request is not forwarded.
//   - When the upstream's response head arrives, OnResponse of each filter
//     that implements ResponseFilter and ran OnRequest is called in
//     reverse order (Envoy's encoder order), before the head is sent. It
//     may edit headers and wrap resp.Body (streaming transforms such as
//     masking: remove content-length when the length changes).
//
// # Per-request state
//
// State carries what later layers key on: the trusted client address
// (after PROXY protocol and the HCM's X-Forwarded-For trust rules), the
// physical peer, the verified TLS peer (mTLS), and the authenticated
// identity (JWT claims, API-key client). Filters read the route's override
// with State.PerRoute(name) and keep per-request data in State.Slot().
// A State lives in pooled per-request storage; it and everything it points
// to are valid only until the request ends.
//
// # Lifetimes
//
// A Factory lives as long as the proxy (the composition root creates it);
// it may own goroutines and caches shared by generations (the JWT filter's
// JWKS fetchers), and is stopped by its owner. A Filter belongs to one
// generation, is immutable after Build, is shared by all concurrent
// requests, and owns no goroutines.
//
// Denials answer with a JSON body: {"error": code, "message": text}, and
// 401s carry WWW-Authenticate (RFC 6750 §3). Filters never log secrets,
// tokens or key values.
package filter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// Factory builds the filters of one kind.
type Factory interface {
	// TypeURLs are the listener-level typed_config types it builds.
	TypeURLs() []string
	// Build returns the filter for one http_filters entry of one listener
	// in one generation. An error rejects the whole configuration (the
	// update is NACKed and the previous generation keeps serving).
	Build(ctx context.Context, p BuildParams) (Filter, error)
}

// BuildParams is what Build gets. Immutable.
type BuildParams struct {
	// Name is the http_filters entry's name: the key of its per-route
	// configs.
	Name     string
	Listener string
	// Config is dpconfig.HTTPFilter.Config: what dpconfig or the factory's
	// own parser decoded.
	Config any
	// Snapshot is the configuration being built (secrets, clusters).
	Snapshot *dpconfig.Snapshot
	Logger   *slog.Logger
}

// Filter handles requests. Implementations are immutable after Build and
// safe for concurrent use.
type Filter interface {
	// OnRequest runs before the request is forwarded. It may edit
	// s.Request (headers, path, body), set identity fields, and returns
	// nil to continue or a Reply to answer now.
	OnRequest(ctx context.Context, s *State) *Reply
}

// ResponseFilter is implemented by filters that act on the response.
type ResponseFilter interface {
	Filter
	// OnResponse runs when the upstream's response head arrives, before it
	// is sent downstream; it may edit resp.Header and wrap resp.Body.
	OnResponse(ctx context.Context, s *State, resp *httpmsg.Response)
}

// State is the per-request state shared by the filters of one request.
// Fields are set by the runtime before the first filter runs, except
// Identity, which authentication filters fill in.
type State struct {
	Request  *httpmsg.Request
	Route    *dpconfig.Route // the matched route; never nil in OnRequest
	Listener string

	// Client is the trusted client address: the physical peer, or the
	// address a PROXY protocol header gave, or the one X-Forwarded-For
	// yields under the HCM's trust rules (Envoy's remote address; RBAC
	// remote_ip).
	Client netip.Addr
	// Peer is the physical peer of the connection (RBAC direct_remote_ip).
	Peer netip.Addr
	// TLS is the downstream session; nil for plaintext. Its
	// PeerCertificates were verified against the listener's CA.
	TLS *httpmsg.TLSInfo

	Identity Identity

	// ResponseHeaders are added to whatever response the request gets:
	// a local reply or the upstream's.
	ResponseHeaders httpmsg.Header

	// Flag is the access-log response flag a filter that replied sets
	// (Envoy's "UAEX", "RBAC", ...).
	Flag string

	slots [MaxFilters]any
	cur   int
}

// MaxFilters bounds the filters of one HCM, so that per-request slots need
// no allocation.
const MaxFilters = 24

// Identity is who the request was authenticated as.
type Identity struct {
	// JWT is the verified token of the provider that accepted it, nil
	// without one.
	JWT *JWTIdentity
	// APIKeyClient is the client id of the matching API key; "" without.
	APIKeyClient string
}

// JWTIdentity is a verified JSON Web Token.
type JWTIdentity struct {
	Provider string
	Issuer   string
	Subject  string
	// Claims is the decoded payload, read only.
	Claims map[string]any
}

// Reset prepares s for a new request, keeping capacity.
func (s *State) Reset() {
	h := s.ResponseHeaders
	h.Reset()
	*s = State{ResponseHeaders: h}
}

// PerRoute returns the matched route's configuration for the filter named
// name (dpconfig.Route.PerFilter), or nil.
func (s *State) PerRoute(name string) any {
	if s.Route == nil {
		return nil
	}
	return s.Route.PerFilter[name]
}

// Slot is the running filter's per-request storage, kept from OnRequest to
// OnResponse. Storing a pointer (or a small integer) does not allocate.
func (s *State) Slot() *any { return &s.slots[s.cur] }

// SetCurrent is called by the runtime before each filter call.
func (s *State) SetCurrent(i int) { s.cur = i }

// Reply is a local answer from a filter.
type Reply struct {
	Status int
	Header httpmsg.Header
	Body   string
	// Details is a short reason for logs (Envoy's response code details);
	// never a secret.
	Details string
}

// Deny builds a JSON denial: {"error": code, "message": message}.
func Deny(status int, code, message string) *Reply {
	b, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, message})
	r := &Reply{Status: status, Body: string(b), Details: code}
	r.Header.Set("content-type", "application/json")
	return r
}

// Unauthorized is a 401 with a Bearer challenge (RFC 6750 §3): error
// "invalid_token" when a token was sent but rejected, none when missing.
func Unauthorized(realm, errCode, message string) *Reply {
	r := Deny(401, "unauthorized", message)
	ch := "Bearer realm=" + strconv.Quote(realm)
	if errCode != "" {
		ch += ", error=" + strconv.Quote(errCode)
	}
	r.Header.Set("www-authenticate", ch)
	return r
}

// Registry holds the factories of one proxy, by type URL. A value built by
// the composition root, never a global.
type Registry struct {
	byType map[string]Factory
}

// NewRegistry indexes factories by their type URLs.
func NewRegistry(factories ...Factory) (*Registry, error) {
	r := &Registry{byType: map[string]Factory{}}
	for _, f := range factories {
		for _, tu := range f.TypeURLs() {
			if _, dup := r.byType[tu]; dup {
				return nil, fmt.Errorf("filter registry: type %s registered twice", tu)
			}
			r.byType[tu] = f
		}
	}
	return r, nil
}

// Lookup returns the factory for a listener-level type URL.
func (r *Registry) Lookup(typeURL string) (Factory, bool) {
	if r == nil {
		return nil, false
	}
	f, ok := r.byType[typeURL]
	return f, ok
}

// OverrideTypes lets an extension factory name the per-route config types
// its parser accepts, besides its listener-level ones.
type OverrideTypes interface {
	OverrideTypeURLs() []string
}

// Extensions returns the parsers of the factories that decode their own
// configs, for dpconfig.DecodersWith.
func (r *Registry) Extensions() dpconfig.Extensions {
	ext := dpconfig.Extensions{}
	if r == nil {
		return ext
	}
	for tu, f := range r.byType {
		p, ok := f.(dpconfig.FilterParser)
		if !ok {
			continue
		}
		ext[tu] = p
		if ot, ok := f.(OverrideTypes); ok {
			for _, o := range ot.OverrideTypeURLs() {
				ext[o] = p
			}
		}
	}
	return ext
}
