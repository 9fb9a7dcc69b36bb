package dpconfig

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// claimsRoute is a route requiring JWT requirement "r" and carrying
// claims (a JSON-like value) as filter_metadata["ksgw"].jwt_required_claims.
func claimsRoute(t *testing.T, claims any, perRoute *jwtv3.PerRouteConfig) *routev3.Route {
	t.Helper()
	v, err := structpb.NewValue(claims)
	if err != nil {
		t.Fatal(err)
	}
	return prefixRoute(func(r *routev3.Route) {
		r.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"ksgw": {Fields: map[string]*structpb.Value{
			"source": structpb.NewStringValue("Route a/b"), "jwt_required_claims": v,
		}}}}
		if perRoute != nil {
			r.TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.jwt_authn": mustAny(perRoute)}
		}
	})
}

func TestDecodeRouteRequiredClaims(t *testing.T) {
	req := &jwtv3.PerRouteConfig{RequirementSpecifier: &jwtv3.PerRouteConfig_RequirementName{RequirementName: "r"}}
	good := map[string]any{"ns/p/a": []any{
		map[string]any{"name": "roles", "values": []any{"admin", "editor"}},
		map[string]any{"name": "realm.tier"},
	}}
	cfg := rc(claimsRoute(t, good, req))
	got, err := DecodeRoute(mustAny(cfg))
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := got.VirtualHosts[0].Routes[0].PerFilter["envoy.filters.http.jwt_authn"].(*JWTPerRoute)
	want := map[string][]JWTRequiredClaim{"ns/p/a": {{Name: "roles", Values: []string{"admin", "editor"}}, {Name: "realm.tier"}}}
	if pr == nil || pr.RequirementName != "r" || !reflect.DeepEqual(pr.RequiredClaims, want) {
		t.Fatalf("jwt per-route = %+v, want requirement r with %v", pr, want)
	}

	disabled := &jwtv3.PerRouteConfig{RequirementSpecifier: &jwtv3.PerRouteConfig_Disabled{Disabled: true}}
	tests := []struct {
		name    string
		route   *routev3.Route
		wantErr string
	}{
		{"no requirement to check them", claimsRoute(t, good, nil), "jwt_required_claims: route has no jwt_authn requirement"},
		{"jwt disabled on the route", claimsRoute(t, good, disabled), "jwt_required_claims: route has no jwt_authn requirement"},
		{"not a struct", claimsRoute(t, "roles", req), "jwt_required_claims: want a struct"},
		{"claims not a list", claimsRoute(t, map[string]any{"p": "roles"}, req), "jwt_required_claims.p: want a list"},
		{"claim not a struct", claimsRoute(t, map[string]any{"p": []any{"roles"}}, req), "jwt_required_claims.p[0]: want a struct"},
		{"claim without a name", claimsRoute(t, map[string]any{"p": []any{map[string]any{"values": []any{"a"}}}}, req), "p[0].name: required"},
		{"empty path segment", claimsRoute(t, map[string]any{"p": []any{map[string]any{"name": "a..b"}}}, req), "p[0].name: want a claim name"},
		{"non-string value", claimsRoute(t, map[string]any{"p": []any{map[string]any{"name": "a", "values": []any{1}}}}, req), "p[0].values[0]: want a string"},
		{"unknown field", claimsRoute(t, map[string]any{"p": []any{map[string]any{"name": "a", "regex": "x"}}}, req), `p[0]: unknown field "regex"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRoute(mustAny(rc(tt.route)))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzDecodeRequiredClaims feeds arbitrary JSON as the metadata value: the
// decoder must not panic, and what it accepts has only usable claim names.
func FuzzDecodeRequiredClaims(f *testing.F) {
	f.Add(`{"p":[{"name":"roles","values":["admin"]},{"name":"a.b"}]}`)
	f.Add(`{"p":[{"name":"a..b"}]}`)
	f.Add(`{"p":[{"values":[1]}]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, doc string) {
		var v structpb.Value
		if err := v.UnmarshalJSON([]byte(doc)); err != nil {
			return
		}
		out, err := decodeRequiredClaims(&v)
		if err != nil {
			return
		}
		for p, cs := range out {
			for _, c := range cs {
				if c.Name == "" || slices.Contains(strings.Split(c.Name, "."), "") {
					t.Fatalf("accepted claim %q of provider %q", c.Name, p)
				}
			}
		}
	})
}
