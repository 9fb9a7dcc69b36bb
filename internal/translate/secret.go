package translate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/status"
)

// caSuffix names the CA bundle of a Secret in the IR: "ns/name/ca". A Secret
// may hold a certificate and a CA bundle (Istio credentialName), and an IR
// Secret holds one or the other, so the two need distinct names; "/" cannot
// occur in a Kubernetes name, so the suffix never collides with another
// Secret's "ns/name".
const caSuffix = "/ca"

// certSecret returns the IR name of the certificate and key held by Secret
// ns/name. Secrets are only ever read from the referencing object's
// namespace (DESIGN §4), so the caller passes its own namespace. With
// requireTLSType the Secret must be of type kubernetes.io/tls, as Ingress
// and Gateway TLS require; otherwise any type carrying tls.crt and tls.key
// is accepted (Istio credentialName).
func (t *translator) certSecret(ns, name string, requireTLSType bool) (string, *refError) {
	key := ns + "/" + name
	if s, ok := t.secrets[key]; ok {
		return s.Name, nil
	}
	sec := t.idx.secrets[key]
	if sec == nil {
		return "", &refError{status.ReasonSecretNotFound, fmt.Sprintf("Secret %s not found", key)}
	}
	if requireTLSType && sec.Type != corev1.SecretTypeTLS {
		return "", &refError{status.ReasonInvalidSecret, fmt.Sprintf("Secret %s is of type %q, want %q", key, secretType(sec), corev1.SecretTypeTLS)}
	}
	crt, k := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(k) == 0 {
		return "", &refError{status.ReasonInvalidSecret, fmt.Sprintf("Secret %s must hold non-empty %s and %s", key, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)}
	}
	t.secrets[key] = &ir.Secret{Name: key, CertificateChain: crt, PrivateKey: k}
	return key, nil
}

// caSecret returns the IR name of the CA bundle (ca.crt) of Secret ns/name.
func (t *translator) caSecret(ns, name string) (string, *refError) {
	key := ns + "/" + name
	irName := key + caSuffix
	if s, ok := t.secrets[irName]; ok {
		return s.Name, nil
	}
	sec := t.idx.secrets[key]
	if sec == nil {
		return "", &refError{status.ReasonSecretNotFound, fmt.Sprintf("Secret %s not found", key)}
	}
	ca := sec.Data["ca.crt"]
	if len(ca) == 0 {
		return "", &refError{status.ReasonInvalidSecret, fmt.Sprintf("Secret %s has no ca.crt", key)}
	}
	t.secrets[irName] = &ir.Secret{Name: irName, CACertificates: ca}
	return irName, nil
}

// hasCA reports whether Secret ns/name carries a CA bundle.
func (t *translator) hasCA(ns, name string) bool {
	s := t.idx.secrets[ns+"/"+name]
	return s != nil && len(s.Data["ca.crt"]) > 0
}

func secretType(s *corev1.Secret) corev1.SecretType {
	if s.Type == "" {
		return corev1.SecretTypeOpaque
	}
	return s.Type
}
