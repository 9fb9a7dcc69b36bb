package translate

import (
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ksgw/ksgw/internal/ir"
)

// Defaults, in one place. Each says what Envoy does when the field is
// absent; where we differ it is on purpose, and every one of them is on
// the listener or cluster, never derived from routes.
const (
	// Envoy: 5s (cluster.connect_timeout).
	defaultConnectTimeout = 5 * time.Second
	// Envoy: disabled. A slow-loris guard: a client gets 10s to send its
	// headers (Envoy's edge-proxy best practices recommend setting it).
	requestHeadersTimeout = 10 * time.Second
	// Envoy: 5m (HCM stream_idle_timeout); spelled out so the dump shows it.
	streamIdleTimeout = 5 * time.Minute
	// Envoy: 1h (HCM common_http_protocol_options.idle_timeout).
	downstreamIdleTimeout = time.Hour
	// Envoy: 60 KiB (HCM max_request_headers_kb).
	maxRequestHeadersKB = 60
	// Envoy (HCM xff_num_trusted_hops): 0; ksgw is the edge, so the peer
	// address is the client and X-Forwarded-For from outside is not trusted.
	xffNumTrustedHops = 0
)

// defaultALPN is offered on TLS listeners without an explicit list. Envoy
// offers none, which would pin every client to HTTP/1.1.
var defaultALPN = []string{"h2", "http/1.1"}

// Extension names (Envoy's canonical names, as in go-control-plane's
// pkg/wellknown).
const (
	tlsTransportSocketName = "envoy.transport_sockets.tls"
	faultFilter            = "envoy.filters.http.fault"
	corsFilter             = "envoy.filters.http.cors"
	routerFilter           = "envoy.filters.http.router"
	hcmFilter              = "envoy.filters.network.http_connection_manager"
	httpProtocolOptions    = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	// metadataNamespace is the filter_metadata key of ksgw's own metadata.
	metadataNamespace = "ksgw"
)

// ads is the config source of every dynamic reference: the proxy's one
// aggregated stream (docs/xds-contract.md, Transport).
func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		// Only reachable with a nil message: a bug in this package.
		panic(err)
	}
	return a
}

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// percent converts an IR percentage (0..100, fractions allowed) to a
// FractionalPercent with denominator MILLION, so 0.0001% is exact.
func percent(p float64) *typev3.FractionalPercent {
	p = min(max(p, 0), 100)
	return &typev3.FractionalPercent{Numerator: uint32(p*10_000 + 0.5), Denominator: typev3.FractionalPercent_MILLION}
}

// metadata is filter_metadata["ksgw"] with the non-empty fields; nil when
// all are empty.
func metadata(kv ...string) *corev3.Metadata {
	var s *structpb.Struct
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if s == nil {
			s = &structpb.Struct{Fields: make(map[string]*structpb.Value, len(kv)/2)}
		}
		s.Fields[kv[i]] = structpb.NewStringValue(kv[i+1])
	}
	if s == nil {
		return nil
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{metadataNamespace: s}}
}

func sourceString(o ir.ObjectRef) string {
	if o.Kind == "" {
		return ""
	}
	return o.String()
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// errAt prefixes err with the IR field and index it concerns.
func errAt(field string, i int, err error) error {
	return fmt.Errorf("%s[%d]: %w", field, i, err)
}
