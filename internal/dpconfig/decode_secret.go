package dpconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// DecodeSecret decodes an SDS Secret, parsing its certificate and key or
// its CA bundle so that a bad secret is a NACK, not a failed handshake.
// Errors never include key material.
func DecodeSecret(a *anypb.Any) (*Secret, error) {
	_, sec, err := decodeSecretAny(a)
	return sec, err
}

func decodeSecretAny(a *anypb.Any) (string, *Secret, error) {
	var s tlsv3.Secret
	name, err := unmarshalAny(a, &s, "secret", s.GetName)
	if err != nil {
		return name, nil, err
	}
	out, err := decodeSecret(&s)
	if err != nil {
		return name, nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return name, out, nil
}

func decodeSecret(s *tlsv3.Secret) (*Secret, error) {
	if err := onlyFields(s, "name", "tls_certificate", "validation_context"); err != nil {
		return nil, err
	}
	out := &Secret{Name: s.GetName()}
	switch t := s.GetType().(type) {
	case *tlsv3.Secret_TlsCertificate:
		if err := onlyFields(t.TlsCertificate, "certificate_chain", "private_key"); err != nil {
			return nil, wrapAt("tls_certificate", err)
		}
		chain, err := inline(t.TlsCertificate.GetCertificateChain())
		if err != nil {
			return nil, wrapAt("tls_certificate.certificate_chain", err)
		}
		key, err := inline(t.TlsCertificate.GetPrivateKey())
		if err != nil {
			return nil, wrapAt("tls_certificate.private_key", err)
		}
		cert, err := tls.X509KeyPair(chain, key)
		if err != nil {
			// crypto/tls errors say what is wrong, never the key.
			return nil, errAt("tls_certificate", "%v", err)
		}
		if cert.Leaf == nil {
			if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
				return nil, errAt("tls_certificate.certificate_chain", "%v", err)
			}
		}
		out.Certificate = &cert
	case *tlsv3.Secret_ValidationContext:
		if err := onlyFields(t.ValidationContext, "trusted_ca"); err != nil {
			return nil, wrapAt("validation_context", err)
		}
		ca, err := inline(t.ValidationContext.GetTrustedCa())
		if err != nil {
			return nil, wrapAt("validation_context.trusted_ca", err)
		}
		pool, err := parseCABundle(ca)
		if err != nil {
			return nil, errAt("validation_context.trusted_ca", "%v", err)
		}
		out.CAPool, out.RawCA = pool, ca
	default:
		return nil, errAt("type", "unsupported secret type %q", oneofName(s, "type"))
	}
	return out, nil
}

// parseCABundle parses every PEM block: x509.CertPool.AppendCertsFromPEM
// silently skips blocks it cannot parse, and a CA that silently went
// missing is an outage at the next handshake rather than a NACK now.
func parseCABundle(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %v", n, err)
		}
		pool.AddCert(c)
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return pool, nil
}

func inline(ds *corev3.DataSource) ([]byte, error) {
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		return s.InlineBytes, nil
	case *corev3.DataSource_InlineString:
		return []byte(s.InlineString), nil
	}
	return nil, fmt.Errorf("only inline data sources are supported")
}
