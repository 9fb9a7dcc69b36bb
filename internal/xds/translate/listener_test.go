package translate

import (
	"slices"
	"testing"
	"time"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

func TestPlaintextListenerHasOneChainWithTheFixedHCM(t *testing.T) {
	res := mustTranslate(t, oneRoute(fwd("r")))
	l := listenerOf(t, res, "http-8080")
	if got := l.GetAddress().GetSocketAddress(); got.GetAddress() != "0.0.0.0" || got.GetPortValue() != 8080 {
		t.Errorf("address %v", got)
	}
	if len(l.GetFilterChains()) != 1 || l.GetFilterChains()[0].GetTransportSocket() != nil {
		t.Fatalf("filter chains %v", l.GetFilterChains())
	}
	f := l.GetFilterChains()[0].GetFilters()
	if len(f) != 1 || f[0].GetName() != "envoy.filters.network.http_connection_manager" {
		t.Fatalf("filters %v", f)
	}
	hcm := unpack(t, f[0].GetTypedConfig(), &hcmv3.HttpConnectionManager{})
	checks := map[string]bool{
		"stat_prefix":             hcm.GetStatPrefix() == "http-8080",
		"codec_type AUTO":         hcm.GetCodecType() == hcmv3.HttpConnectionManager_AUTO,
		"rds by listener name":    hcm.GetRds().GetRouteConfigName() == "http-8080" && hcm.GetRds().GetConfigSource().GetAds() != nil,
		"use_remote_address":      hcm.GetUseRemoteAddress().GetValue(),
		"generate_request_id":     hcm.GetGenerateRequestId().GetValue(),
		"websocket upgrades":      len(hcm.GetUpgradeConfigs()) == 1 && hcm.GetUpgradeConfigs()[0].GetUpgradeType() == "websocket",
		"request_headers_timeout": hcm.GetRequestHeadersTimeout().AsDuration() == 10*time.Second,
		"stream_idle_timeout":     hcm.GetStreamIdleTimeout().AsDuration() == 5*time.Minute,
		"idle_timeout":            hcm.GetCommonHttpProtocolOptions().GetIdleTimeout().AsDuration() == time.Hour,
		"max_request_headers_kb":  hcm.GetMaxRequestHeadersKb().GetValue() == 60,
		"filters rbac, cors, jwt_authn, api_key_auth (disabled), fault, router": len(hcm.GetHttpFilters()) == 6 &&
			hcm.GetHttpFilters()[0].GetName() == "envoy.filters.http.rbac" &&
			hcm.GetHttpFilters()[1].GetName() == "envoy.filters.http.cors" &&
			hcm.GetHttpFilters()[2].GetName() == "envoy.filters.http.jwt_authn" &&
			hcm.GetHttpFilters()[3].GetName() == "envoy.filters.http.api_key_auth" && hcm.GetHttpFilters()[3].GetDisabled() &&
			hcm.GetHttpFilters()[4].GetName() == "envoy.filters.http.fault" &&
			hcm.GetHttpFilters()[5].GetName() == "envoy.filters.http.router",
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("hcm %s wrong: %v", name, hcm)
		}
	}
}

func TestTLSListener(t *testing.T) {
	secrets := []*ir.Secret{
		{Name: "ns/a", CertificateChain: []byte("c"), PrivateKey: []byte("k")},
		{Name: "ns/b", CertificateChain: []byte("c"), PrivateKey: []byte("k")},
		{Name: "ns/ca", CACertificates: []byte("ca")},
	}
	sds := func(n string) *tlsv3.SdsSecretConfig { return &tlsv3.SdsSecretConfig{Name: n, SdsConfig: ads()} }
	cases := []struct {
		name      string
		tls       *ir.ListenerTLS
		wantNames [][]string
		want      []*tlsv3.DownstreamTlsContext
	}{
		{"defaults: TLS 1.3 only, h2 and http/1.1, no client certificates",
			&ir.ListenerTLS{Certificates: []*ir.TLSCertificate{{SecretName: "ns/a", ServerNames: []string{"b.example", "a.example"}}}},
			[][]string{{"a.example", "b.example"}},
			[]*tlsv3.DownstreamTlsContext{{CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
				AlpnProtocols:                  []string{"h2", "http/1.1"},
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("ns/a")},
			}}}},
		{"one chain per certificate, required client certificates",
			&ir.ListenerTLS{
				Certificates:     []*ir.TLSCertificate{{SecretName: "ns/a", ServerNames: []string{"a.example"}}, {SecretName: "ns/b"}},
				MinVersion:       "1.2",
				CipherSuites:     []string{"ECDHE-RSA-AES128-GCM-SHA256"},
				ALPN:             []string{"http/1.1"},
				ClientValidation: &ir.ClientValidation{CASecretName: "ns/ca"},
			},
			[][]string{{"a.example"}, nil},
			func() []*tlsv3.DownstreamTlsContext {
				mk := func(secret string) *tlsv3.DownstreamTlsContext {
					return &tlsv3.DownstreamTlsContext{RequireClientCertificate: wrapperspb.Bool(true), CommonTlsContext: &tlsv3.CommonTlsContext{
						TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3, CipherSuites: []string{"ECDHE-RSA-AES128-GCM-SHA256"}},
						AlpnProtocols:                  []string{"http/1.1"},
						TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds(secret)},
						ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sds("ns/ca")},
					}}
				}
				return []*tlsv3.DownstreamTlsContext{mk("ns/a"), mk("ns/b")}
			}()},
		{"optional client certificates with subject alt names",
			&ir.ListenerTLS{Certificates: []*ir.TLSCertificate{{SecretName: "ns/a"}},
				ClientValidation: &ir.ClientValidation{CASecretName: "ns/ca", Optional: true, SubjectAltNames: []string{"c.example", "spiffe://td/ns/x"}}},
			[][]string{nil},
			[]*tlsv3.DownstreamTlsContext{{RequireClientCertificate: wrapperspb.Bool(false), CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
				AlpnProtocols:                  []string{"h2", "http/1.1"},
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("ns/a")},
				ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{
						{SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: exactMatcher("c.example")},
						{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: exactMatcher("spiffe://td/ns/x")},
					}},
					ValidationContextSdsSecretConfig: sds("ns/ca"),
				}},
			}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := oneRoute(fwd("r"))
			gw.Secrets = secrets
			gw.Listeners = append(gw.Listeners, &ir.Listener{Name: "https-8443", Port: 8443, TLS: tc.tls})
			res := mustTranslate(t, gw)
			chains := listenerOf(t, res, "https-8443").GetFilterChains()
			if len(chains) != len(tc.want) {
				t.Fatalf("%d chains, want %d", len(chains), len(tc.want))
			}
			for i, fc := range chains {
				if got := fc.GetFilterChainMatch().GetServerNames(); !slices.Equal(got, tc.wantNames[i]) {
					t.Errorf("chain %d server names %v, want %v", i, got, tc.wantNames[i])
				}
				ts := fc.GetTransportSocket()
				if ts.GetName() != "envoy.transport_sockets.tls" {
					t.Errorf("chain %d transport socket %q", i, ts.GetName())
				}
				assertProto(t, unpack(t, ts.GetTypedConfig(), &tlsv3.DownstreamTlsContext{}), tc.want[i])
			}
			assertProxyAccepts(t, res)
		})
	}
}
