package validate

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ksgw/ksgw/internal/proxy/filter"
	"github.com/ksgw/ksgw/internal/proxy/filter/typedstruct"
)

// TypeURL is the ksgw config type of the request validation filter,
// carried in a TypedStruct (see package typedstruct).
const TypeURL = "type.ksgw.io/ksgw.filters.http.validate.v1alpha1.RequestValidation"

// JSONConfig is the filter's JSON config. A route's config replaces the
// listener's. Schemas travel inline: the control plane resolves the
// ConfigMap a SecurityPolicy names and sends its content.
type JSONConfig struct {
	AllowedMethods  []string `json:"allowedMethods,omitempty"`
	MaxURIBytes     int      `json:"maxURIBytes,omitempty"`
	MaxHeaderBytes  int      `json:"maxHeaderBytes,omitempty"`
	MaxBodyBytes    int64    `json:"maxBodyBytes,omitempty"`
	RequiredHeaders []string `json:"requiredHeaders,omitempty"`
	ContentTypes    []string `json:"contentTypes,omitempty"`
	JSONSchema      string   `json:"jsonSchema,omitempty"`
	OpenAPI         string   `json:"openAPI,omitempty"`
}

// Kind is the validation filter's typedstruct.Kind. Stateless.
type Kind struct{}

var _ typedstruct.Kind = Kind{}

func (Kind) TypeURL() string                         { return TypeURL }
func (k Kind) ParseOverride(raw []byte) (any, error) { return k.Parse(raw) }

// Parse compiles the rules (schemas included) at decode time: a schema
// that does not compile is a NACK naming the rule.
func (Kind) Parse(raw []byte) (any, error) {
	var c JSONConfig
	if err := typedstruct.Strict(raw, &c); err != nil {
		return nil, err
	}
	cfg := Config{AllowedMethods: c.AllowedMethods, MaxURIBytes: c.MaxURIBytes, MaxHeaderBytes: c.MaxHeaderBytes,
		MaxBodyBytes: c.MaxBodyBytes, RequiredHeaders: c.RequiredHeaders, ContentTypes: c.ContentTypes}
	if c.JSONSchema != "" {
		cfg.JSONSchema = []byte(c.JSONSchema)
	}
	if c.OpenAPI != "" {
		cfg.OpenAPI = []byte(c.OpenAPI)
	}
	return Compile(context.Background(), cfg)
}

func (Kind) Build(_ context.Context, p filter.BuildParams) (filter.Filter, error) {
	v, ok := p.Config.(*Validator)
	if !ok {
		return nil, fmt.Errorf("validate: config is %T", p.Config)
	}
	return &Filter{name: p.Name, base: v}, nil
}

// Filter is one listener's request validation. Immutable after Build.
type Filter struct {
	name string
	base *Validator
}

var _ filter.Filter = (*Filter)(nil)

// OnRequest checks the head, then, when a rule needs it, the body (read
// up to maxBodyBytes and handed on to the upstream unchanged).
func (f *Filter) OnRequest(ctx context.Context, s *filter.State) *filter.Reply {
	v := f.base
	if o, ok := s.PerRoute(f.name).(*Validator); ok {
		v = o
	}
	r := s.Request
	if fail := v.CheckHead(r); fail != nil {
		return reply(s, fail)
	}
	if !v.NeedsBody(r) {
		return nil
	}
	body, fail, err := v.ReadBody(r.Body)
	if err != nil {
		return filter.Deny(400, "bad_request", "request body could not be read")
	}
	if fail != nil {
		return reply(s, fail)
	}
	r.Body = bytes.NewReader(body)
	r.ContentLength = int64(len(body)) // fully read: the upstream gets a fixed length
	r.Header.Del("content-length")
	if fail := v.CheckBody(ctx, r, body); fail != nil {
		return reply(s, fail)
	}
	return nil
}

func reply(s *filter.State, f *Failure) *filter.Reply {
	rep := &filter.Reply{Status: f.Status, Body: string(f.Body()), Details: "request_validation_failed{" + f.Rule + "}"}
	rep.Header.Set("content-type", "application/json")
	if f.Allow != "" {
		rep.Header.Set("allow", f.Allow)
	}
	s.Flag = "RV" // request validation: ksgw's own flag, Envoy has no such filter
	return rep
}
