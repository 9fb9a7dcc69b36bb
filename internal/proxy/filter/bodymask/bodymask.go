// Package bodymask is the response-body masking filter: it rewrites
// sensitive data (internal/mask rules) in response bodies of the configured
// content types as they stream to the client, holding back only a bounded
// tail, never the whole body.
package bodymask

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/ksgw/ksgw/internal/mask"
	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/typedstruct"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

// TypeURL is the ksgw config type of the filter, carried in a TypedStruct.
const TypeURL = "type.ksgw.io/ksgw.filters.http.mask.v1alpha1.ResponseMask"

// JSONConfig is the filter's JSON config; a route's replaces the
// listener's.
type JSONConfig struct {
	Builtins     []string    `json:"builtins,omitempty"` // mask.BuiltinNames()
	Custom       []mask.Rule `json:"custom,omitempty"`
	ContentTypes []string    `json:"contentTypes"` // "application/json", "text/*"
}

type compiled struct {
	m     *mask.Masker
	types []string
}

// Kind is the filter's typedstruct.Kind. Stateless.
type Kind struct{}

var _ typedstruct.Kind = Kind{}

func (Kind) TypeURL() string                         { return TypeURL }
func (k Kind) ParseOverride(raw []byte) (any, error) { return k.Parse(raw) }

func (Kind) Parse(raw []byte) (any, error) {
	var c JSONConfig
	if err := typedstruct.Strict(raw, &c); err != nil {
		return nil, err
	}
	if len(c.Builtins) == 0 && len(c.Custom) == 0 {
		return nil, errors.New("builtins, custom: at least one rule is required")
	}
	if len(c.ContentTypes) == 0 {
		return nil, errors.New("contentTypes: at least one is required")
	}
	m, err := mask.New(c.Builtins, c.Custom)
	if err != nil {
		return nil, err
	}
	out := &compiled{m: m}
	for i, ct := range c.ContentTypes {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !strings.Contains(mt, "/") {
			return nil, fmt.Errorf("contentTypes[%d]: %q is not a media type", i, ct)
		}
		out.types = append(out.types, mt)
	}
	return out, nil
}

func (Kind) Build(_ context.Context, p filter.BuildParams) (filter.Filter, error) {
	c, ok := p.Config.(*compiled)
	if !ok {
		return nil, fmt.Errorf("bodymask: config is %T", p.Config)
	}
	return &Filter{name: p.Name, base: c}, nil
}

// Filter masks one listener's responses. Immutable after Build.
type Filter struct {
	name string
	base *compiled
}

var _ filter.ResponseFilter = (*Filter)(nil)

func (f *Filter) OnRequest(context.Context, *filter.State) *filter.Reply { return nil }

// OnResponse wraps the body when its type is configured and it is not
// content-encoded (a gzip body cannot be masked without decoding it; it
// passes unchanged). The length changes, so content-length is dropped and
// the response is sent chunked (HTTP/1.1) or as DATA frames (HTTP/2).
func (f *Filter) OnResponse(_ context.Context, s *filter.State, resp *httpmsg.Response) {
	c := f.base
	if o, ok := s.PerRoute(f.name).(*compiled); ok {
		c = o
	}
	if ce := resp.Header.Get("content-encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("content-type"))
	if err != nil || !typeMatches(c.types, mt) || resp.Body == nil {
		return
	}
	resp.Body = readCloser{Reader: c.m.NewReader(resp.Body), c: resp.Body}
	resp.Header.Del("content-length")
	resp.ContentLength = -1
}

func typeMatches(types []string, mt string) bool {
	for _, t := range types {
		if t == mt || strings.HasSuffix(t, "/*") && strings.HasPrefix(mt, t[:len(t)-1]) {
			return true
		}
	}
	return false
}

type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }
