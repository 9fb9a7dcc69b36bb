package translate

import (
	"bytes"
	"encoding/json"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// ToJSON renders r for people (`ksgw translate -o json`): resources grouped
// by kind ({listeners, routes, clusters, endpoints, secrets}), each in
// protojson with proto field names and every Any expanded through the
// global registry (this package imports each typed config it emits),
// private keys replaced by "[redacted]". Deterministic: equal resources,
// equal bytes.
func ToJSON(r *Resources) ([]byte, error) {
	doc, err := toDoc(r)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ToYAML is ToJSON as YAML (sigs.k8s.io/yaml, keys sorted), for `ksgw
// translate` and golden files.
func ToYAML(r *Resources) ([]byte, error) {
	doc, err := toDoc(r)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(doc)
}

type dumpDoc struct {
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Secrets   []json.RawMessage `json:"secrets"`
}

func toDoc(r *Resources) (*dumpDoc, error) {
	conv := func(list []types.Resource) ([]json.RawMessage, error) {
		out := []json.RawMessage{}
		for _, res := range list {
			if s, ok := res.(*tlsv3.Secret); ok {
				res = redacted(s)
			}
			b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(res)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", nameOf(res), err)
			}
			// protojson output is not byte-stable; re-encoding through
			// encoding/json sorts keys and fixes spacing.
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
			nb, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			out = append(out, nb)
		}
		return out, nil
	}
	var d dumpDoc
	var err error
	if d.Listeners, err = conv(r.Listeners); err != nil {
		return nil, err
	}
	if d.Routes, err = conv(r.Routes); err != nil {
		return nil, err
	}
	if d.Clusters, err = conv(r.Clusters); err != nil {
		return nil, err
	}
	if d.Endpoints, err = conv(r.Endpoints); err != nil {
		return nil, err
	}
	if d.Secrets, err = conv(r.Secrets); err != nil {
		return nil, err
	}
	return &d, nil
}

// redacted never lets key material reach a dump (STYLE: never log
// secrets); certificates and CA bundles are public and stay.
func redacted(s *tlsv3.Secret) *tlsv3.Secret {
	c := proto.Clone(s).(*tlsv3.Secret)
	if tc := c.GetTlsCertificate(); tc != nil && tc.PrivateKey != nil {
		tc.PrivateKey = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}}
	}
	return c
}
