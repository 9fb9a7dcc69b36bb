package dpconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// DecodeSecret decodes an SDS Secret, parsing its certificate and key or
// its CA bundle so that a bad secret is a NACK, not a failed handshake.
func DecodeSecret(a *anypb.Any) (*Secret, error) {
	var s tlsv3.Secret
	if err := a.UnmarshalTo(&s); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if err := s.ValidateAll(); err != nil {
		return nil, fmt.Errorf("secret %q: %w", s.GetName(), err)
	}
	out := &Secret{Name: s.GetName()}
	switch t := s.GetType().(type) {
	case *tlsv3.Secret_TlsCertificate:
		chain, err := inline(t.TlsCertificate.GetCertificateChain())
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", s.GetName(), wrapAt("tls_certificate.certificate_chain", err))
		}
		key, err := inline(t.TlsCertificate.GetPrivateKey())
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", s.GetName(), wrapAt("tls_certificate.private_key", err))
		}
		cert, err := tls.X509KeyPair(chain, key)
		if err != nil {
			// The error names no key material, only what is wrong.
			return nil, fmt.Errorf("secret %q: %w", s.GetName(), errAt("tls_certificate", "%v", err))
		}
		out.Certificate = &cert
	case *tlsv3.Secret_ValidationContext:
		ca, err := inline(t.ValidationContext.GetTrustedCa())
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", s.GetName(), wrapAt("validation_context.trusted_ca", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("secret %q: %w", s.GetName(), errAt("validation_context.trusted_ca", "no PEM certificate found"))
		}
		out.CAPool, out.RawCA = pool, ca
	default:
		return nil, fmt.Errorf("secret %q: unsupported secret type %T", s.GetName(), t)
	}
	return out, nil
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
