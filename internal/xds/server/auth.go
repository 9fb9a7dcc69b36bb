package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Authenticator decides whether the peer of a stream may receive the
// configuration of nodeID (a Gateway's "namespace/name"). It reads what it
// needs (metadata, peer certificates) from ctx, the stream's context.
//
// It is called on the first request of every stream and again whenever a
// request carries a different node ID, so a proxy of one Gateway can never
// read another Gateway's Secrets by switching node IDs mid-stream. A refusal
// should be a gRPC status with codes.Unauthenticated (no credentials) or
// codes.PermissionDenied (credentials not valid for nodeID); any other error
// is reported as PermissionDenied. Kubernetes TokenReview and mTLS (SAN =
// node ID) fit behind the same method.
type Authenticator interface {
	Authenticate(ctx context.Context, nodeID string) error
}

// TokenAuthenticator accepts a stream when its "authorization" metadata is
// "Bearer <token>" and <token> is the one registered for the node ID. The
// standalone composition root generates one random token per Gateway with
// GenerateToken and hands it to that Gateway's in-process proxies.
//
// Safe for concurrent use; tokens are guarded by mu.
type TokenAuthenticator struct {
	mu     sync.RWMutex
	tokens map[string]string // node ID → token
}

var _ Authenticator = (*TokenAuthenticator)(nil)

// NewTokenAuthenticator returns an authenticator knowing the given node ID →
// token pairs. The map is copied.
func NewTokenAuthenticator(tokens map[string]string) *TokenAuthenticator {
	a := &TokenAuthenticator{tokens: make(map[string]string, len(tokens))}
	for n, t := range tokens {
		a.tokens[n] = t
	}
	return a
}

// Set registers (or replaces) the token of nodeID. Streams already
// authenticated are not re-checked.
func (a *TokenAuthenticator) Set(nodeID, token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[nodeID] = token
}

// Delete forgets nodeID; new streams for it are refused.
func (a *TokenAuthenticator) Delete(nodeID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tokens, nodeID)
}

// Authenticate implements Authenticator.
func (a *TokenAuthenticator) Authenticate(ctx context.Context, nodeID string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	var presented string
	for _, v := range md.Get("authorization") {
		if t, ok := cutPrefixFold(v, "bearer "); ok {
			presented = strings.TrimSpace(t)
			break
		}
	}
	if presented == "" {
		return status.Error(codes.Unauthenticated, "missing bearer token in authorization metadata")
	}
	a.mu.RLock()
	want, known := a.tokens[nodeID]
	a.mu.RUnlock()
	// Compare even for unknown nodes so that timing does not reveal which
	// Gateways exist. The token itself is never logged or echoed.
	if subtle.ConstantTimeCompare([]byte(presented), []byte(want)) != 1 || !known {
		return status.Errorf(codes.PermissionDenied, "token not valid for node %q", nodeID)
	}
	return nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

// GenerateToken returns a random 256-bit token, URL-safe base64 encoded.
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// AllowAll returns an Authenticator that accepts every node. Tests only: it
// lets any peer read any Gateway's Secrets.
func AllowAll() Authenticator { return allowAll{} }

type allowAll struct{}

func (allowAll) Authenticate(context.Context, string) error { return nil }
