// Package typedstruct carries ksgw's own HTTP filters (rate limit, request
// validation, WAF, response masking) through xDS. Envoy has no filter for
// those configs, so they travel the way Envoy carries extension configs it
// does not compile in: an xds.type.v3.TypedStruct (or the older
// udpa.type.v1.TypedStruct) whose type_url names a ksgw config type and
// whose value is that config as a google.protobuf.Struct (JSON).
//
// The filter Registry is keyed by the outer type URL, which all those
// filters share, so one Factory dispatches on the inner type_url to the
// Kind registered for it. Decoding is strict: unknown fields and unknown
// inner types are errors, i.e. NACKs naming the field.
package typedstruct

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
)

// Outer type URLs.
const (
	XDSTypedStruct  = "type.googleapis.com/xds.type.v3.TypedStruct"
	UDPATypedStruct = "type.googleapis.com/udpa.type.v1.TypedStruct"
)

// Kind is one ksgw filter carried in a TypedStruct.
type Kind interface {
	// TypeURL is the inner type_url, e.g.
	// "type.ksgw.io/ksgw.filters.http.waf.v1alpha1.WAF".
	TypeURL() string
	// Parse decodes the listener-level config (JSON from the Struct). Pure:
	// it runs at decode time, and an error is a NACK.
	Parse(raw []byte) (any, error)
	// ParseOverride decodes a route's typed_per_filter_config value.
	ParseOverride(raw []byte) (any, error)
	// Build makes the filter of one listener and generation from what
	// Parse returned (in p.Config).
	Build(ctx context.Context, p filter.BuildParams) (filter.Filter, error)
}

// Factory dispatches TypedStruct configs to their Kind. Immutable after
// New.
type Factory struct {
	kinds map[string]Kind
}

var (
	_ filter.Factory        = (*Factory)(nil)
	_ dpconfig.FilterParser = (*Factory)(nil)
	_ filter.OverrideTypes  = (*Factory)(nil)
)

// New indexes kinds by inner type URL.
func New(kinds ...Kind) (*Factory, error) {
	f := &Factory{kinds: map[string]Kind{}}
	for _, k := range kinds {
		if _, dup := f.kinds[k.TypeURL()]; dup {
			return nil, fmt.Errorf("typedstruct: %s registered twice", k.TypeURL())
		}
		f.kinds[k.TypeURL()] = k
	}
	return f, nil
}

func (f *Factory) TypeURLs() []string         { return []string{XDSTypedStruct, UDPATypedStruct} }
func (f *Factory) OverrideTypeURLs() []string { return []string{XDSTypedStruct, UDPATypedStruct} }

// parsed is what ParseConfig returns: the kind and its decoded config.
type parsed struct {
	kind Kind
	cfg  any
}

func (f *Factory) ParseConfig(a *anypb.Any) (any, error) {
	k, raw, err := f.unwrap(a)
	if err != nil {
		return nil, err
	}
	cfg, err := k.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("value (%s): %w", k.TypeURL(), err)
	}
	return &parsed{kind: k, cfg: cfg}, nil
}

func (f *Factory) ParseOverride(a *anypb.Any) (any, error) {
	k, raw, err := f.unwrap(a)
	if err != nil {
		return nil, err
	}
	cfg, err := k.ParseOverride(raw)
	if err != nil {
		return nil, fmt.Errorf("value (%s): %w", k.TypeURL(), err)
	}
	return cfg, nil
}

func (f *Factory) Build(ctx context.Context, p filter.BuildParams) (filter.Filter, error) {
	pc, ok := p.Config.(*parsed)
	if !ok {
		return nil, fmt.Errorf("typedstruct: config is %T", p.Config)
	}
	p.Config = pc.cfg
	return pc.kind.Build(ctx, p)
}

func (f *Factory) unwrap(a *anypb.Any) (Kind, []byte, error) {
	var (
		inner string
		value *structpb.Struct
	)
	switch a.GetTypeUrl() {
	case XDSTypedStruct:
		var ts xdstypev3.TypedStruct
		if err := a.UnmarshalTo(&ts); err != nil {
			return nil, nil, err
		}
		inner, value = ts.GetTypeUrl(), ts.GetValue()
	case UDPATypedStruct:
		var ts udpatypev1.TypedStruct
		if err := a.UnmarshalTo(&ts); err != nil {
			return nil, nil, err
		}
		inner, value = ts.GetTypeUrl(), ts.GetValue()
	default:
		return nil, nil, fmt.Errorf("typedstruct: unexpected type %s", a.GetTypeUrl())
	}
	k, ok := f.kinds[inner]
	if !ok {
		return nil, nil, fmt.Errorf("type_url: unknown ksgw filter config %q", inner)
	}
	raw := []byte("{}")
	if value != nil {
		b, err := protojson.Marshal(value)
		if err != nil {
			return nil, nil, fmt.Errorf("value: %w", err)
		}
		raw = b
	}
	return k, raw, nil
}

// Strict decodes raw into v, refusing unknown fields so that a typo in a
// policy is a NACK, not a silently ignored rule.
func Strict(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
