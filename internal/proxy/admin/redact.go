package admin

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// redactSecret returns the secret with its private key replaced, as Envoy's
// config_dump prints "[redacted]" for private keys.
func redactSecret(a *anypb.Any) *anypb.Any {
	var s tlsv3.Secret
	if err := a.UnmarshalTo(&s); err != nil {
		return nil
	}
	s2 := proto.Clone(&s).(*tlsv3.Secret)
	if tc := s2.GetTlsCertificate(); tc != nil && tc.PrivateKey != nil {
		tc.PrivateKey = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}}
	}
	out, err := anypb.New(s2)
	if err != nil {
		return nil
	}
	return out
}
