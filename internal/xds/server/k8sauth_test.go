package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
)

// issuedToken is what the API server knows about a token it signed.
type issuedToken struct {
	namespace, serviceAccount string
	audiences                 []string
	expired                   bool
}

// tokenTable answers TokenReviews the way kube-apiserver's service-account
// token authenticator does (k8s.io/apiserver authenticator audiences
// handling): a token is authenticated only for an audience it was minted
// for, and status.audiences is the intersection. The real API server is
// exercised by TestServiceAccountAuthenticatorAgainstAPIServer.
type tokenTable struct {
	tokens map[string]issuedToken
	// ignoreAudiences mimics an authenticator (a webhook) that does not
	// support audiences: authenticated, status.audiences empty.
	ignoreAudiences bool
	err             error
}

func (tt *tokenTable) Review(_ context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error) {
	if tt.err != nil {
		return authenticationv1.TokenReviewStatus{}, tt.err
	}
	it, ok := tt.tokens[token]
	if !ok {
		return authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}, nil
	}
	if it.expired {
		return authenticationv1.TokenReviewStatus{Error: "invalid bearer token, token has expired"}, nil
	}
	user := authenticationv1.UserInfo{Username: "system:serviceaccount:" + it.namespace + ":" + it.serviceAccount}
	if tt.ignoreAudiences {
		return authenticationv1.TokenReviewStatus{Authenticated: true, User: user}, nil
	}
	var both []string
	for _, a := range audiences {
		if slices.Contains(it.audiences, a) {
			both = append(both, a)
		}
	}
	if len(both) == 0 {
		return authenticationv1.TokenReviewStatus{Error: "token audiences are invalid for the target audiences"}, nil
	}
	return authenticationv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: both}, nil
}

// proxySA mirrors internal/infra.ServiceAccountName for short names.
func proxySA(_, gateway string) string { return "ksgw-" + gateway }

func TestServiceAccountAuthenticator(t *testing.T) {
	const aud = "ksgw-xds"
	table := &tokenTable{tokens: map[string]issuedToken{
		"tok-a":         {namespace: "tenant-a", serviceAccount: "ksgw-gw", audiences: []string{aud}},
		"tok-b":         {namespace: "tenant-b", serviceAccount: "ksgw-gw", audiences: []string{aud}},
		"tok-a-default": {namespace: "tenant-a", serviceAccount: "default", audiences: []string{aud}},
		"tok-a-api":     {namespace: "tenant-a", serviceAccount: "ksgw-gw", audiences: []string{"https://kubernetes.default.svc"}},
		"tok-a-expired": {namespace: "tenant-a", serviceAccount: "ksgw-gw", audiences: []string{aud}, expired: true},
	}}
	tests := []struct {
		name     string
		header   string // authorization metadata, "" for none
		node     string
		reviewer TokenReviewer
		wantCode codes.Code
		wantMsg  string
	}{
		{name: "own gateway's service account is admitted", header: "Bearer tok-a", node: "tenant-a/gw", wantCode: codes.OK},
		{name: "bearer scheme is case-insensitive", header: "bearer tok-a", node: "tenant-a/gw", wantCode: codes.OK},
		{name: "claiming another tenant's gateway is refused", header: "Bearer tok-a", node: "tenant-b/gw", wantCode: codes.PermissionDenied, wantMsg: "system:serviceaccount:tenant-a:ksgw-gw may not receive"},
		{name: "claiming another gateway of the same namespace is refused", header: "Bearer tok-a", node: "tenant-a/other", wantCode: codes.PermissionDenied, wantMsg: "want system:serviceaccount:tenant-a:ksgw-other"},
		{name: "another service account of the namespace is refused", header: "Bearer tok-a-default", node: "tenant-a/gw", wantCode: codes.PermissionDenied},
		{name: "token minted for the API server is refused", header: "Bearer tok-a-api", node: "tenant-a/gw", wantCode: codes.Unauthenticated, wantMsg: "audiences are invalid"},
		{name: "expired token is refused", header: "Bearer tok-a-expired", node: "tenant-a/gw", wantCode: codes.Unauthenticated, wantMsg: "token has expired"},
		{name: "unknown token is refused", header: "Bearer forged", node: "tenant-a/gw", wantCode: codes.Unauthenticated},
		{name: "missing token is unauthenticated", node: "tenant-a/gw", wantCode: codes.Unauthenticated, wantMsg: "missing bearer token"},
		{name: "other scheme is unauthenticated", header: "Basic dG9rLWE=", node: "tenant-a/gw", wantCode: codes.Unauthenticated},
		{name: "node ID that is not namespace/name is refused", header: "Bearer tok-a", node: "tenant-a", wantCode: codes.PermissionDenied, wantMsg: "want NAMESPACE/NAME"},
		{name: "node ID with extra segments is refused", header: "Bearer tok-a", node: "tenant-a/gw/x", wantCode: codes.PermissionDenied},
		{
			name: "authenticator that ignores audiences is not trusted", header: "Bearer tok-a", node: "tenant-a/gw",
			reviewer: &tokenTable{tokens: table.tokens, ignoreAudiences: true}, wantCode: codes.PermissionDenied, wantMsg: `not bound to audience "ksgw-xds"`,
		},
		{
			name: "review failure admits nobody", header: "Bearer tok-a", node: "tenant-a/gw",
			reviewer: &tokenTable{err: errors.New(`tokenreviews.authentication.k8s.io is forbidden`)}, wantCode: codes.Unknown, wantMsg: "token review for node",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv := tt.reviewer
			if rv == nil {
				rv = table
			}
			a, err := NewServiceAccountAuthenticator(rv, aud, proxySA)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tt.header != "" {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", tt.header))
			}
			err = a.Authenticate(ctx, tt.node)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tt.wantCode)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks %q", err, tt.wantMsg)
			}
			if err != nil && strings.Contains(err.Error(), "tok-") {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

// TestServiceAccountAuthenticatorOverADS drives the authenticator through
// the ADS server: a proxy claiming another Gateway's node ID gets
// PermissionDenied and none of that Gateway's resources.
func TestServiceAccountAuthenticatorOverADS(t *testing.T) {
	checkGoroutines(t)
	const aud = "ksgw-xds"
	table := &tokenTable{tokens: map[string]issuedToken{
		"tok-a": {namespace: "tenant-a", serviceAccount: "ksgw-gw", audiences: []string{aud}},
	}}
	auth, err := NewServiceAccountAuthenticator(table, aud, proxySA)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, auth, time.Minute)
	if err := s.Update(ctxT(t), map[string]NodeResources{"tenant-a/gw": gateway("a"), "tenant-b/gw": gateway("secret-of-b")}); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, startServer(t, s))
	tests := []struct {
		name     string
		node     string
		wantCode codes.Code
	}{
		{"own node ID receives its snapshot", "tenant-a/gw", codes.OK},
		{"another gateway's node ID is refused", "tenant-b/gw", codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			a := openADS(ctx, t, conn, "tok-a")
			if err := a.s.Send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, Node: &core.Node{Id: tt.node}}); err != nil {
				t.Fatal(err)
			}
			r, err := a.s.Recv()
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tt.wantCode)
			}
			for _, n := range names(t, r) {
				if strings.Contains(n, "secret-of-b") {
					t.Errorf("received tenant-b's resource %s", n)
				}
			}
		})
	}
}
