package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// benchCert is the self-signed certificate every TLS contender serves,
// generated per run so no key is kept in the repository.
type benchCert struct {
	CertFile string // PEM certificate
	KeyFile  string // PEM PKCS#8 key
	PEMFile  string // certificate then key, as haproxy's crt wants
}

// generateCert writes an ECDSA P-256 certificate for 127.0.0.1 and
// localhost into dir: P-256 ECDSA is what all three proxies handshake
// fastest with, and what a modern Ingress certificate is.
func generateCert(dir string) (benchCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return benchCert{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "benchrun"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "bench.example"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return benchCert{}, err
	}
	k8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return benchCert{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k8})
	c := benchCert{
		CertFile: filepath.Join(dir, "bench.crt"),
		KeyFile:  filepath.Join(dir, "bench.key"),
		PEMFile:  filepath.Join(dir, "bench.pem"),
	}
	for path, b := range map[string][]byte{c.CertFile: certPEM, c.KeyFile: keyPEM, c.PEMFile: append(append([]byte{}, certPEM...), keyPEM...)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return benchCert{}, err
		}
	}
	return c, nil
}
