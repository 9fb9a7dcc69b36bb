package dpconfig

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
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

// Decoders returns a decoder per supported type URL.
func Decoders() map[string]Decoder {
	return map[string]Decoder{
		ListenerTypeURL: func(a *anypb.Any) (string, any, error) { l, err := DecodeListener(a); return nameOr(l, err) },
		RouteTypeURL:    func(a *anypb.Any) (string, any, error) { r, err := DecodeRoute(a); return nameOr(r, err) },
		ClusterTypeURL:  func(a *anypb.Any) (string, any, error) { c, err := DecodeCluster(a); return nameOr(c, err) },
		EndpointTypeURL: func(a *anypb.Any) (string, any, error) { e, err := DecodeEndpoints(a); return nameOr(e, err) },
		SecretTypeURL:   func(a *anypb.Any) (string, any, error) { s, err := DecodeSecret(a); return nameOr(s, err) },
	}
}

type named interface{ resourceName() string }

func (l *Listener) resourceName() string              { return l.Name }
func (r *RouteConfig) resourceName() string           { return r.Name }
func (c *Cluster) resourceName() string               { return c.Name }
func (e *ClusterLoadAssignment) resourceName() string { return e.ClusterName }
func (s *Secret) resourceName() string                { return s.Name }

func nameOr[T named](v T, err error) (string, any, error) {
	if err != nil {
		return "", nil, err
	}
	return v.resourceName(), v, nil
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
		re, err := compileRegex(field+".safe_regex", p.SafeRegex)
		if err != nil {
			return nil, err
		}
		out.Kind, out.Value, out.Regex = StringRegex, p.SafeRegex.GetRegex(), re
	default:
		return nil, errAt(field, "unsupported match pattern %T", p)
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
