package translate

import (
	"errors"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/ksgw/ksgw/internal/ir"
)

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// secret is an SDS Secret: a certificate with its key, or a CA bundle. The
// IR names them apart ("ns/name" and "ns/name/ca", docs/xds-contract.md),
// so one Kubernetes Secret holding both becomes two SDS secrets.
func secret(s *ir.Secret) (*tlsv3.Secret, error) {
	hasCert := len(s.CertificateChain) > 0 || len(s.PrivateKey) > 0
	hasCA := len(s.CACertificates) > 0
	switch {
	case hasCert && hasCA:
		return nil, errors.New("holds both a certificate and CA certificates; the IR must split them")
	case hasCA:
		return &tlsv3.Secret{Name: s.Name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(s.CACertificates),
		}}}, nil
	case len(s.CertificateChain) == 0 || len(s.PrivateKey) == 0:
		return nil, errors.New("a certificate needs both its chain and its private key")
	}
	return &tlsv3.Secret{Name: s.Name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inlineBytes(s.CertificateChain),
		PrivateKey:       inlineBytes(s.PrivateKey),
	}}}, nil
}

// sdsRef points at a Secret served on the same ADS stream.
func sdsRef(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: ads()}
}

// validationContext is the common_tls_context validation of a peer: the CA
// bundle by SDS and, when subject alt names are required, exact matchers
// on them in a combined validation context (SDS secrets cannot carry
// per-listener SAN lists). caSecret "" means no verification.
func validationContext(ctc *tlsv3.CommonTlsContext, caSecret string, sans []string) {
	if caSecret == "" {
		return
	}
	if len(sans) == 0 {
		ctc.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsRef(caSecret)}
		return
	}
	def := &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: make([]*tlsv3.SubjectAltNameMatcher, 0, len(sans))}
	for _, san := range sans {
		def.MatchTypedSubjectAltNames = append(def.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{
			SanType: sanType(san),
			Matcher: exactMatcher(san),
		})
	}
	ctc.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
		DefaultValidationContext:         def,
		ValidationContextSdsSecretConfig: sdsRef(caSecret),
	}}
}

// sanType: URIs (SPIFFE IDs, as Istio's subjectAltNames often are) are
// URI SANs, anything else a DNS SAN.
func sanType(san string) tlsv3.SubjectAltNameMatcher_SanType {
	for i := 0; i+2 < len(san); i++ {
		if san[i] == ':' && san[i+1] == '/' && san[i+2] == '/' {
			return tlsv3.SubjectAltNameMatcher_URI
		}
	}
	return tlsv3.SubjectAltNameMatcher_DNS
}
