package dpconfig

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Type URLs of the resources the data plane decodes.
const (
	ListenerTypeURL = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteTypeURL    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	ClusterTypeURL  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointTypeURL = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	SecretTypeURL   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// Decoder turns one xDS resource into its dpconfig value, or an error that
// the xDS client sends back as a NACK. It is an alias so that
// Decoders' result is exactly map[string]func(*anypb.Any) (string, any, error)
// and converts to any consumer's own named decoder type.
type Decoder = func(*anypb.Any) (name string, value any, err error)

// Decoders returns a decoder per supported type URL. On error the name is
// still returned when the resource could be unmarshalled, so that the xDS
// client can attribute the NACK to it (as grpc-go's xdsresource does).
func Decoders() map[string]Decoder { return DecodersWith(nil) }

// DecodersWith is Decoders with extension filter parsers: HTTP filter
// configs whose type URL is in ext are decoded by its parser (see
// FilterParser); any other unknown filter is still a NACK.
func DecodersWith(ext Extensions) map[string]Decoder {
	return map[string]Decoder{
		ListenerTypeURL: func(a *anypb.Any) (string, any, error) { return asAny(decodeListenerAny(a, ext)) },
		RouteTypeURL:    func(a *anypb.Any) (string, any, error) { return asAny(decodeRouteAny(a, ext)) },
		ClusterTypeURL:  func(a *anypb.Any) (string, any, error) { return asAny(decodeClusterAny(a)) },
		EndpointTypeURL: func(a *anypb.Any) (string, any, error) { return asAny(decodeEndpointsAny(a)) },
		SecretTypeURL:   func(a *anypb.Any) (string, any, error) { return asAny(decodeSecretAny(a)) },
	}
}

func asAny[T any](name string, v *T, err error) (string, any, error) {
	if err != nil {
		return name, nil, err
	}
	return name, v, nil
}

// unmarshalAny unmarshals a resource of the expected type, validates it
// with its protoc-gen-validate rules and rejects an empty name. kind and
// the name prefix every error: `route "http-8080": ...`.
func unmarshalAny(a *anypb.Any, m interface {
	proto.Message
	ValidateAll() error
}, kind string, name func() string) (string, error) {
	if a == nil {
		return "", fmt.Errorf("%s: no resource", kind)
	}
	if err := a.UnmarshalTo(m); err != nil {
		return "", fmt.Errorf("%s: %w", kind, err)
	}
	n := name()
	if n == "" {
		return "", fmt.Errorf("%s: name is required", kind)
	}
	if err := m.ValidateAll(); err != nil {
		return n, fmt.Errorf("%s %q: %w", kind, n, err)
	}
	return n, nil
}

// onlyFields rejects every populated field of m that is not in allowed, so
// that a feature the proxy does not implement is a NACK naming the field,
// never silently ignored. Fields are reported sorted, for stable errors.
func onlyFields(m proto.Message, allowed ...string) error {
	var bad []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !slices.Contains(allowed, string(fd.Name())) {
			bad = append(bad, string(fd.Name()))
		}
		return true
	})
	switch len(bad) {
	case 0:
		return nil
	case 1:
		return errAt(bad[0], "not supported by ksgw's proxy")
	}
	slices.Sort(bad)
	return errAt(bad[0], "not supported by ksgw's proxy (nor are %s)", strings.Join(bad[1:], ", "))
}

// oneofName is the proto name of the field set in a oneof, for errors such
// as `unsupported path specifier "path_match_policy"`.
func oneofName(m proto.Message, oneof string) string {
	r := m.ProtoReflect()
	od := r.Descriptor().Oneofs().ByName(protoreflect.Name(oneof))
	if od == nil {
		return oneof
	}
	if fd := r.WhichOneof(od); fd != nil {
		return string(fd.Name())
	}
	return "<none>"
}

// fieldError names the field of a resource that could not be decoded.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func errAt(field string, format string, args ...any) error {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}

// wrapAt prefixes err's field path with field, so that nested decoders
// produce one dotted path: virtual_hosts[0].routes[3].match.safe_regex.
func wrapAt(field string, err error) error {
	if err == nil {
		return nil
	}
	var fe *fieldError
	if errors.As(err, &fe) && fe == err {
		return &fieldError{field: field + "." + fe.field, err: fe.err}
	}
	return &fieldError{field: field, err: err}
}

// compileRegex compiles an Envoy safe_regex (RE2, matched against the whole
// input) with Go's RE2 engine, anchored on both ends.
func compileRegex(field string, m *matcherv3.RegexMatcher) (*regexp.Regexp, error) {
	if m == nil || m.GetRegex() == "" {
		return nil, errAt(field, "empty regex")
	}
	// google_re2 (deprecated) only selects the engine, which is RE2
	// either way; max_program_size has no Go equivalent and is ignored.
	if err := onlyFields(m, "regex", "google_re2"); err != nil {
		return nil, wrapAt(field, err)
	}
	re, err := regexp.Compile("^(?:" + m.GetRegex() + ")$")
	if err != nil {
		return nil, errAt(field, "invalid regex %q: %v", m.GetRegex(), err)
	}
	return re, nil
}

func decodeStringMatcher(field string, m *matcherv3.StringMatcher) (*StringMatcher, error) {
	if m == nil {
		return nil, errAt(field, "missing")
	}
	if err := onlyFields(m, "exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"); err != nil {
		return nil, wrapAt(field, err)
	}
	out := &StringMatcher{IgnoreCase: m.GetIgnoreCase()}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		out.Kind, out.Value = StringExact, p.Exact
	case *matcherv3.StringMatcher_Prefix:
		out.Kind, out.Value = StringPrefix, p.Prefix
	case *matcherv3.StringMatcher_Suffix:
		out.Kind, out.Value = StringSuffix, p.Suffix
	case *matcherv3.StringMatcher_Contains:
		out.Kind, out.Value = StringContains, p.Contains
	case *matcherv3.StringMatcher_SafeRegex:
		// Envoy rejects ignore_case on safe_regex ("ignore_case has no
		// effect for safe_regex"); a case-insensitive regex says (?i).
		if m.GetIgnoreCase() {
			return nil, errAt(field+".ignore_case", "has no effect for safe_regex; use (?i) in the regex")
		}
		re, err := compileRegex(field+".safe_regex", p.SafeRegex)
		if err != nil {
			return nil, err
		}
		out.Kind, out.Value, out.Regex = StringRegex, p.SafeRegex.GetRegex(), re
	default:
		return nil, errAt(field, "unsupported match pattern %q", oneofName(m, "match_pattern"))
	}
	return out, nil
}

// perMillion converts a FractionalPercent of any denominator.
func perMillion(p *typev3.FractionalPercent) uint32 {
	if p == nil {
		return 0
	}
	n := uint64(p.GetNumerator())
	switch p.GetDenominator() {
	case typev3.FractionalPercent_HUNDRED:
		n *= 10_000
	case typev3.FractionalPercent_TEN_THOUSAND:
		n *= 100
	}
	if n > 1_000_000 {
		n = 1_000_000
	}
	return uint32(n)
}

func duration(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

func lower(s string) string { return strings.ToLower(s) }
