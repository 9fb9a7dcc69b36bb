package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySet is a parsed JWKS. Immutable.
type keySet struct {
	keys []jose.JSONWebKey // public keys only (private halves dropped)
}

// maxJWKSBytes bounds a fetched or configured key set.
const maxJWKSBytes = 1 << 20

// parseKeySet parses a JWKS document. Keys whose use is not "sig" are
// dropped (RFC 7517 §4.2), private keys are reduced to their public half,
// and a set without a usable key is an error.
func parseKeySet(b []byte) (*keySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	ks := &keySet{}
	for i, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			// A key of a type the library does not know is skipped, as
			// Envoy skips keys it cannot parse, so one exotic key does
			// not disable a provider.
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch key := k.Key.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			k = k.Public()
		case []byte:
			if len(key) == 0 {
				return nil, fmt.Errorf("JWKS: keys[%d]: empty symmetric key", i)
			}
		}
		if _, sym := k.Key.([]byte); !sym && !k.Valid() {
			continue
		}
		ks.keys = append(ks.keys, k)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("JWKS: no usable signing key")
	}
	return ks, nil
}

// candidates returns the keys that may verify a token signed with alg and
// key id kid: the key type must fit the algorithm family (so an RSA public
// key can never be used as an HMAC secret: the HS/RS confusion attack), and
// a key that names its alg must name this one.
func (ks *keySet) candidates(dst []*jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) []*jose.JSONWebKey {
	for i := range ks.keys {
		k := &ks.keys[i]
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			continue
		}
		if !keyFits(k.Key, alg) {
			continue
		}
		dst = append(dst, k)
	}
	return dst
}

func keyFits(key any, alg jose.SignatureAlgorithm) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256, jose.ES384, jose.ES512:
			return true
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	case []byte:
		switch alg {
		case jose.HS256, jose.HS384, jose.HS512:
			return true
		}
	}
	return false
}

// hasKid reports whether some key carries kid.
func (ks *keySet) hasKid(kid string) bool {
	for i := range ks.keys {
		if ks.keys[i].KeyID == kid {
			return true
		}
	}
	return false
}

// remoteKey identifies a remote key set: the same URI fetched with the
// same trust settings shares one cache across generations, so a
// configuration push neither drops cached keys nor refetches them.
type remoteKey struct {
	uri        string
	serverName string
	caPEM      string
}

// remoteSet is a cached remote JWKS. Fetches run in the goroutine of the
// request that needs them (no background goroutines): a request finding
// no keys waits for the fetch in flight; one finding expired keys refreshes
// them while the others keep verifying with the stale set; a token with an
// unknown kid triggers at most one refresh per minRefresh interval
// (key rotation at the issuer), so a stream of forged kids cannot turn
// the proxy into a JWKS flooder.
type remoteSet struct {
	key        remoteKey
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time

	mu          sync.Mutex
	keys        *keySet
	expires     time.Time
	lastAttempt time.Time
	inflight    chan struct{} // closed when the fetch in flight ends; nil when none
	fetches     int           // completed fetch attempts, for tests and stats
}

// get returns the current keys, fetching when there are none or they
// expired. forceRefresh asks for a refetch after an unknown kid; it is
// honoured at most once per minRefresh.
func (r *remoteSet) get(cacheFor, timeout time.Duration, forceRefresh bool) (*keySet, error) {
	r.mu.Lock()
	now := r.now()
	need := r.keys == nil || now.After(r.expires) || (forceRefresh && now.Sub(r.lastAttempt) >= r.minRefresh)
	if !need {
		ks := r.keys
		r.mu.Unlock()
		return ks, nil
	}
	if r.inflight != nil {
		ch, ks := r.inflight, r.keys
		r.mu.Unlock()
		if ks != nil && !forceRefresh {
			return ks, nil // stale while revalidating
		}
		<-ch
		r.mu.Lock()
		ks = r.keys
		r.mu.Unlock()
		if ks == nil {
			return nil, errors.New("JWKS unavailable")
		}
		return ks, nil
	}
	if r.keys != nil && now.Sub(r.lastAttempt) < r.minRefresh {
		// Expired but a fetch failed moments ago: keep the old keys
		// rather than hammering the issuer.
		ks := r.keys
		r.mu.Unlock()
		return ks, nil
	}
	ch := make(chan struct{})
	r.inflight, r.lastAttempt = ch, now
	r.mu.Unlock()

	ks, err := r.fetch(timeout)

	r.mu.Lock()
	r.fetches++
	if err == nil {
		r.keys, r.expires = ks, r.now().Add(cacheFor)
	}
	cur := r.keys
	r.inflight = nil
	r.mu.Unlock()
	close(ch)
	if cur == nil {
		return nil, err
	}
	return cur, nil
}

func (r *remoteSet) fetch(timeout time.Duration) (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.key.uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	if len(b) > maxJWKSBytes {
		return nil, errors.New("fetch JWKS: document over 1 MiB")
	}
	return parseKeySet(b)
}

// fetchCount returns how many fetches completed.
func (r *remoteSet) fetchCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetches
}

// newRemoteClient returns the HTTPS client of a remote key set: the
// cluster's CA (or the system roots) and SNI.
func newRemoteClient(serverName string, roots *x509.CertPool) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        2,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	// No redirects: the configured URI is what the trust decision covered.
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
