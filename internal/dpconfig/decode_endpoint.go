package dpconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// DecodeEndpoints decodes a ClusterLoadAssignment.
func DecodeEndpoints(a *anypb.Any) (*ClusterLoadAssignment, error) {
	var cla endpointv3.ClusterLoadAssignment
	if err := a.UnmarshalTo(&cla); err != nil {
		return nil, fmt.Errorf("cluster load assignment: %w", err)
	}
	if err := cla.ValidateAll(); err != nil {
		return nil, fmt.Errorf("cluster load assignment %q: %w", cla.GetClusterName(), err)
	}
	out := &ClusterLoadAssignment{ClusterName: cla.GetClusterName()}
	for i, loc := range cla.GetEndpoints() {
		for j, le := range loc.GetLbEndpoints() {
			field := fmt.Sprintf("endpoints[%d].lb_endpoints[%d]", i, j)
			sa := le.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				return nil, fmt.Errorf("cluster load assignment %q: %w", cla.GetClusterName(), errAt(field, "only socket addresses are supported"))
			}
			ip, err := netip.ParseAddr(sa.GetAddress())
			if err != nil {
				return nil, fmt.Errorf("cluster load assignment %q: %w", cla.GetClusterName(), errAt(field+".address", "%v", err))
			}
			port := sa.GetPortValue()
			if port == 0 || port > 65535 {
				return nil, fmt.Errorf("cluster load assignment %q: %w", cla.GetClusterName(), errAt(field+".port_value", "out of range"))
			}
			hs := le.GetHealthStatus()
			out.Endpoints = append(out.Endpoints, Endpoint{
				Address: netip.AddrPortFrom(ip, uint16(port)),
				// Envoy routes to HEALTHY and UNKNOWN endpoints (and to
				// DEGRADED ones as a last resort); the rest are out.
				Healthy: hs == corev3.HealthStatus_HEALTHY || hs == corev3.HealthStatus_UNKNOWN,
				Zone:    loc.GetLocality().GetZone(),
				Weight:  le.GetLoadBalancingWeight().GetValue(),
			})
		}
	}
	return out, nil
}

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
