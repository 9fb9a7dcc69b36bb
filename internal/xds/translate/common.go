package translate

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// HCM and cluster defaults, in one place. Envoy's own defaults are noted
// where ours differ on purpose.
const (
	defaultConnectTimeout  = 5 * time.Second  // Envoy: 5s
	requestHeadersTimeout  = 10 * time.Second // Envoy: disabled; a slow-loris guard
	streamIdleTimeout      = 5 * time.Minute  // Envoy: 5m
	downstreamIdleTimeout  = time.Hour        // Envoy: 1h
	maxRequestHeadersKB    = 60               // Envoy: 60
	tlsTransportSocketName = "envoy.transport_sockets.tls"
	faultFilter            = "envoy.filters.http.fault"
	corsFilter             = "envoy.filters.http.cors"
	routerFilter           = "envoy.filters.http.router"
	hcmFilter              = "envoy.filters.network.http_connection_manager"
	httpProtocolOptions    = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		// Only reachable with a nil or unregistered message: a bug here.
		panic(err)
	}
	return a
}

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

func percent(p float64) *typev3.FractionalPercent {
	if p > 100 {
		p = 100
	}
	if p < 0 {
		p = 0
	}
	return &typev3.FractionalPercent{Numerator: uint32(p*10_000 + 0.5), Denominator: typev3.FractionalPercent_MILLION}
}

func metadata(fields map[string]string) *corev3.Metadata {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range fields {
		if v != "" {
			s.Fields[k] = structpb.NewStringValue(v)
		}
	}
	if len(s.Fields) == 0 {
		return nil
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"ksgw": s}}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
