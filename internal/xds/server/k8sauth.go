package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
)

// TokenReviewer asks the API server who a bearer token belongs to
// (authentication.k8s.io/v1 TokenReview), for the given audiences.
type TokenReviewer interface {
	Review(ctx context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error)
}

// ClientTokenReviewer is the TokenReviewer of a real API server; build it
// with authenticationv1client.NewForConfig(restConfig). The controller's
// ServiceAccount needs `create` on tokenreviews (config/rbac).
type ClientTokenReviewer struct {
	Client authenticationv1client.TokenReviewsGetter
}

var _ TokenReviewer = ClientTokenReviewer{}

// Review implements TokenReviewer.
func (r ClientTokenReviewer) Review(ctx context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error) {
	tr, err := r.Client.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.TokenReviewStatus{}, err
	}
	return tr.Status, nil
}

// ServiceAccountAuthenticator admits a proxy of the Gateway "ns/name" when
// it presents ("authorization: Bearer <token>") a ServiceAccount token that
// the API server accepts for Audience and that belongs to the
// ServiceAccount the Gateway's proxies run as (ServiceAccount(ns, name), in
// ns). This is how Istio's istiod authenticates its proxies: a projected,
// audience-bound token reviewed with TokenReview (istio
// security/pkg/server/ca/authenticate/kubeauth). A token of another Gateway's
// ServiceAccount, of another audience (such as the API server's own), or of
// a deleted ServiceAccount or Pod is refused.
//
// Each new stream costs one TokenReview; a stream stays authenticated for
// its lifetime and re-authenticates only if it changes node ID (see
// Authenticator).
//
// Immutable after construction; safe for concurrent use.
type ServiceAccountAuthenticator struct {
	reviewer       TokenReviewer
	audience       string
	serviceAccount func(namespace, gateway string) string
}

var _ Authenticator = (*ServiceAccountAuthenticator)(nil)

// NewServiceAccountAuthenticator returns the authenticator. serviceAccount
// maps a Gateway to the name of its proxies' ServiceAccount
// (internal/infra.ServiceAccountName); audience is the one the proxies'
// projected token is minted for (internal/infra Options.TokenAudience).
func NewServiceAccountAuthenticator(reviewer TokenReviewer, audience string, serviceAccount func(namespace, gateway string) string) (*ServiceAccountAuthenticator, error) {
	if reviewer == nil || audience == "" || serviceAccount == nil {
		return nil, errors.New("service account authenticator: reviewer, audience and serviceAccount are required")
	}
	return &ServiceAccountAuthenticator{reviewer: reviewer, audience: audience, serviceAccount: serviceAccount}, nil
}

// Authenticate implements Authenticator.
func (a *ServiceAccountAuthenticator) Authenticate(ctx context.Context, nodeID string) error {
	token := bearerToken(ctx)
	if token == "" {
		return status.Error(codes.Unauthenticated, "missing bearer token in authorization metadata")
	}
	ns, gw, ok := strings.Cut(nodeID, "/")
	if !ok || ns == "" || gw == "" || strings.Contains(gw, "/") {
		return status.Errorf(codes.PermissionDenied, "node %q: want NAMESPACE/NAME of a Gateway", nodeID)
	}
	st, err := a.reviewer.Review(ctx, token, []string{a.audience})
	if err != nil {
		// The API server is unreachable or refused the review (the
		// controller lacks RBAC): nobody is admitted, and the proxy retries
		// with backoff. The server reports it as PermissionDenied.
		return fmt.Errorf("token review for node %q: %w", nodeID, err)
	}
	if !st.Authenticated {
		// st.Error is the API server's reason ("token has expired",
		// "service account ... has been deleted"); it names no secret.
		return status.Errorf(codes.Unauthenticated, "node %q: token not accepted by the API server: %s", nodeID, st.Error)
	}
	// TokenReview docs: a client that sets spec.audiences must check that a
	// compatible audience comes back in status.audiences; an authenticator
	// that ignores audiences would otherwise admit any valid token.
	if !slices.Contains(st.Audiences, a.audience) {
		return status.Errorf(codes.PermissionDenied, "node %q: token is not bound to audience %q", nodeID, a.audience)
	}
	want := "system:serviceaccount:" + ns + ":" + a.serviceAccount(ns, gw)
	if st.User.Username != want {
		return status.Errorf(codes.PermissionDenied, "node %q: %s may not receive this Gateway's configuration (want %s)", nodeID, st.User.Username, want)
	}
	return nil
}

// bearerToken returns the token of the first "authorization: Bearer ..."
// metadata entry, or "".
func bearerToken(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := cutPrefixFold(v, "bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}
