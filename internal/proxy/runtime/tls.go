package runtime

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/proxyproto"
)

// proxyHeaderTimeout bounds the wait for a PROXY protocol header, like
// Envoy's listener_filters_timeout (15s by default).
const proxyHeaderTimeout = 15 * time.Second

// tlsChain is one TLS filter chain, ready to hand to crypto/tls.
type tlsChain struct {
	serverNames []string // exact names and "*.suffix" wildcards; empty: any
	cfg         *tls.Config
}

// buildTLS prepares the TLS configurations of lg's filter chains. Secrets
// are resolved now, once per generation, so a rotated Secret reaches new
// handshakes as soon as its SDS update is applied while established
// connections keep their session.
func buildTLS(lg *listenerGen, snap *dpconfig.Snapshot) error {
	anyTLS := false
	for _, fc := range lg.cfg.FilterChains {
		if fc.TLS != nil {
			anyTLS = true
		}
	}
	if !anyTLS {
		return nil
	}
	for i, fc := range lg.cfg.FilterChains {
		if fc.TLS == nil {
			return fmt.Errorf("filter_chains[%d]: plaintext chain on a TLS listener is not supported", i)
		}
		cfg, err := chainConfig(fc.TLS, snap)
		if err != nil {
			return fmt.Errorf("filter_chains[%d]: %w", i, err)
		}
		lg.chains = append(lg.chains, &tlsChain{serverNames: fc.ServerNames, cfg: cfg})
	}
	chains := lg.chains
	lg.tls = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if c := selectChain(chains, hello.ServerName); c != nil {
				return c.cfg, nil
			}
			return nil, fmt.Errorf("no filter chain for server name %q", hello.ServerName)
		},
	}
	return nil
}

func chainConfig(t *dpconfig.DownstreamTLS, snap *dpconfig.Snapshot) (*tls.Config, error) {
	sec := snap.Secrets[t.CertificateSecret]
	if sec == nil || sec.Certificate == nil {
		return nil, fmt.Errorf("certificate secret %q not found", t.CertificateSecret)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{*sec.Certificate},
		MinVersion:   t.MinVersion,
		MaxVersion:   t.MaxVersion,
		CipherSuites: t.CipherSuites,
		NextProtos:   t.ALPN,
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS13 // DESIGN: TLS 1.3 unless asked otherwise
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if t.ValidationSecret != "" {
		ca := snap.Secrets[t.ValidationSecret]
		if ca == nil || ca.CAPool == nil {
			return nil, fmt.Errorf("validation secret %q not found", t.ValidationSecret)
		}
		cfg.ClientCAs = ca.CAPool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if t.RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		if len(t.SubjectAltNames) > 0 {
			sans := t.SubjectAltNames
			// Envoy's match_typed_subject_alt_names: a verified client
			// certificate must carry one of the names, else the handshake
			// fails.
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return nil // optional mTLS without a certificate
				}
				if certHasSAN(cs.PeerCertificates[0], sans) {
					return nil
				}
				return errClientSAN
			}
		}
	}
	return cfg, nil
}

var errClientSAN = errors.New("client certificate matches none of the allowed subject alt names")

// certHasSAN reports whether c carries one of names as a DNS or URI SAN
// (the types ksgw emits: URI for names with "://", DNS otherwise).
func certHasSAN(c *x509.Certificate, names []string) bool {
	for _, d := range c.DNSNames {
		if slices.Contains(names, d) {
			return true
		}
	}
	for _, u := range c.URIs {
		if slices.Contains(names, u.String()) {
			return true
		}
	}
	return false
}

// selectChain follows Envoy's filter_chain_match.server_names precedence:
// an exact name, then the longest matching wildcard suffix, then a chain
// with no server names.
func selectChain(chains []*tlsChain, sni string) *tlsChain {
	sni = strings.ToLower(sni)
	var best *tlsChain
	bestLen := -1
	var fallback *tlsChain
	for _, c := range chains {
		if len(c.serverNames) == 0 {
			if fallback == nil {
				fallback = c
			}
			continue
		}
		for _, n := range c.serverNames {
			switch {
			case n == sni:
				return c
			case strings.HasPrefix(n, "*.") && strings.HasSuffix(sni, n[1:]) && len(sni) > len(n)-1:
				if len(n) > bestLen {
					best, bestLen = c, len(n)
				}
			}
		}
	}
	if best != nil {
		return best
	}
	if fallback != nil {
		return fallback
	}
	// Envoy answers a handshake without a matching chain by closing it; a
	// client that sends no SNI (curl to an IP) gets the first chain instead,
	// which is what users of a single-certificate gateway expect.
	if sni == "" && len(chains) > 0 {
		return chains[0]
	}
	return nil
}

// tlsSwitchListener wraps accepted connections in TLS when the listener's
// current generation terminates TLS. Deciding per connection lets a listener
// switch between plaintext and TLS without rebinding.
type tlsSwitchListener struct {
	net.Listener
	rt   *Runtime
	name string
}

func (l *tlsSwitchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lg := l.rt.gen.Load().listeners[l.name]
	if lg == nil {
		return c, nil
	}
	// The PROXY header precedes the TLS ClientHello; it is read lazily in
	// the connection's own goroutine, never here in the accept loop.
	if pp := lg.cfg.ProxyProtocol; pp != nil {
		c = proxyproto.NewConn(c, pp.AllowWithout, proxyHeaderTimeout)
	}
	if lg.tls != nil {
		return tls.Server(c, lg.tls), nil
	}
	return c, nil
}
