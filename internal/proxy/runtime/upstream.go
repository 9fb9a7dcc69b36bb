package runtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
	"github.com/ksgw/ksgw/internal/proxy/upstream"
	"github.com/ksgw/ksgw/internal/proxy/upstream/lb"
	"github.com/ksgw/ksgw/internal/proxy/upstream/pool"
)

// newHostPool creates the connection pool of one upstream host from its
// cluster's settings. The upstream manager calls it when a host appears and
// closes the pool when the host leaves (after in-flight requests finish).
func (rt *Runtime) newHostPool(c *dpconfig.Cluster, addr netip.AddrPort) io.Closer {
	cfg := pool.Config{
		Addr:               addr.String(),
		HTTP2:              c.Protocol == dpconfig.HTTP2,
		MaxConns:           int(c.MaxConnections),
		MaxPending:         int(c.MaxPendingRequests),
		MaxRequestsPerConn: int(c.MaxRequestsPerConnection),
		IdleTimeout:        c.IdleTimeout,
		ConnectTimeout:     c.ConnectTimeout,
	}
	if t := c.TLS; t != nil {
		nd := &net.Dialer{KeepAlive: 30 * time.Second}
		// Secrets are read when a connection is dialed, from the
		// generation in force: SDS may arrive after CDS, and a rotated CA
		// or client certificate reaches every new connection.
		cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := &tls.Dialer{NetDialer: nd, Config: upstreamTLSConfig(t, rt.gen.Load().snapshot)}
			return d.DialContext(ctx, network, addr)
		}
	}
	return pool.New(cfg)
}

// upstreamTLSConfig builds the client side of DestinationRule tls (SIMPLE
// or MUTUAL) from the snapshot being applied. A missing CA secret leaves no
// trusted roots, so handshakes fail and the cluster answers 503: fail
// closed, never plaintext.
func upstreamTLSConfig(t *dpconfig.UpstreamTLS, snap *dpconfig.Snapshot) *tls.Config {
	cfg := &tls.Config{ServerName: t.SNI, MinVersion: tls.VersionTLS12, NextProtos: t.ALPN, RootCAs: x509.NewCertPool()}
	if snap != nil {
		if s := snap.Secrets[t.ValidationSecret]; s != nil && s.CAPool != nil {
			cfg.RootCAs = s.CAPool
		}
		if s := snap.Secrets[t.CertificateSecret]; t.CertificateSecret != "" && s != nil && s.Certificate != nil {
			cfg.Certificates = []tls.Certificate{*s.Certificate}
		}
	}
	// Envoy verifies an upstream's chain against trusted_ca and its names
	// only against match_subject_alt_names: the dialed IP is not checked.
	// crypto/tls would check the IP, so verification is done here instead.
	roots, sans := cfg.RootCAs, t.SubjectAltNames
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("upstream presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		leaf := cs.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
			return err
		}
		if len(sans) == 0 {
			return nil
		}
		for _, want := range sans {
			// URI SANs (SPIFFE IDs) compare exactly; DNS SANs as hostnames.
			if strings.Contains(want, "://") {
				for _, u := range leaf.URIs {
					if u.String() == want {
						return nil
					}
				}
				continue
			}
			if leaf.VerifyHostname(want) == nil {
				return nil
			}
		}
		return fmt.Errorf("upstream certificate matches none of %v", sans)
	}
	return cfg
}

func hostPool(h *upstream.Host) *pool.Pool { return h.Pool().(*pool.Pool) }

func pickHost(c *upstream.Cluster, hash uint64, hasHash bool) (*upstream.Host, error) {
	return c.Pick(&lb.Context{Hash: hash, HasHash: hasHash})
}

func roundTrip(ctx context.Context, h *upstream.Host, r *httpmsg.Request) (*httpmsg.Response, error) {
	return hostPool(h).RoundTrip(ctx, r)
}

func isConnectFailure(err error) bool { return errors.Is(err, pool.ErrConnectFailure) }

func isTimeout(err error) bool {
	return errors.Is(err, pool.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// classifyPoolError tells the upstream package how the pool failed, for
// outlier detection and Envoy's connect-failure / timeout counters.
func classifyPoolError(err error) upstream.ErrorKind {
	switch {
	case errors.Is(err, pool.ErrConnectFailure):
		return upstream.ErrorConnect
	case errors.Is(err, pool.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return upstream.ErrorTimeout
	case errors.Is(err, errDownstream), errors.Is(err, pool.ErrCanceled), errors.Is(err, pool.ErrOverflow), errors.Is(err, pool.ErrClosed), errors.Is(err, context.Canceled):
		return upstream.ErrorLocal
	}
	return upstream.ErrorReset
}
