package cpmetrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/resource"
	xdsserver "github.com/ksgw/ksgw/internal/xds/server"
)

func TestTranslationMetricsCountEveryKind(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, nil)
	res := &resource.Resources{Gateways: []*v1alpha1.Gateway{{}}, Routes: []*v1alpha1.Route{{}, {}}}
	m.ObserveTranslation(res, 3*time.Millisecond, 1)
	m.ObservePublish()
	res.Routes = nil // a kind that empties reads 0, not its last value
	m.ObserveTranslation(res, 2*time.Millisecond, 0)
	want := `
# HELP ksgw_controlplane_resources Resources the provider currently holds, by kind.
# TYPE ksgw_controlplane_resources gauge
ksgw_controlplane_resources{kind="ConfigMap"} 0
ksgw_controlplane_resources{kind="DestinationRule"} 0
ksgw_controlplane_resources{kind="EndpointSlice"} 0
ksgw_controlplane_resources{kind="Gateway"} 1
ksgw_controlplane_resources{kind="Ingress"} 0
ksgw_controlplane_resources{kind="IngressClass"} 0
ksgw_controlplane_resources{kind="Namespace"} 0
ksgw_controlplane_resources{kind="Pod"} 0
ksgw_controlplane_resources{kind="Route"} 0
ksgw_controlplane_resources{kind="Secret"} 0
ksgw_controlplane_resources{kind="SecurityPolicy"} 0
ksgw_controlplane_resources{kind="Service"} 0
# HELP ksgw_controlplane_publishes_total Translations handed to the ADS server.
# TYPE ksgw_controlplane_publishes_total counter
ksgw_controlplane_publishes_total 1
# HELP ksgw_controlplane_problems Invalid objects or fields in the last translation.
# TYPE ksgw_controlplane_problems gauge
ksgw_controlplane_problems 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"ksgw_controlplane_resources", "ksgw_controlplane_publishes_total", "ksgw_controlplane_problems"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "ksgw_controlplane_translation_duration_seconds"); n != 1 {
		t.Errorf("translation histogram series = %d", n)
	}
}

func TestXDSCollectorReadsTheServersCounters(t *testing.T) {
	stats := xdsserver.Stats{Nodes: map[string]xdsserver.NodeStats{
		"tenant-a/gw": {Streams: 2, Pushes: 7, ACKs: 6, NACKs: 1, Published: map[string]string{"type.googleapis.com/envoy.config.cluster.v3.Cluster": "abc"}},
	}}
	reg := prometheus.NewPedanticRegistry()
	New(reg, func() xdsserver.Stats { return stats })
	want := `
# HELP ksgw_xds_connected_proxies Authenticated ADS streams open, per node.
# TYPE ksgw_xds_connected_proxies gauge
ksgw_xds_connected_proxies{node="tenant-a/gw"} 2
# HELP ksgw_xds_nacks_total xDS responses a node's proxies rejected.
# TYPE ksgw_xds_nacks_total counter
ksgw_xds_nacks_total{node="tenant-a/gw"} 1
# HELP ksgw_xds_pushes_total xDS responses sent to a node's proxies.
# TYPE ksgw_xds_pushes_total counter
ksgw_xds_pushes_total{node="tenant-a/gw"} 7
# HELP ksgw_xds_snapshot_version_info The snapshot version published per node and type (value 1; version is a content hash).
# TYPE ksgw_xds_snapshot_version_info gauge
ksgw_xds_snapshot_version_info{node="tenant-a/gw",type_url="type.googleapis.com/envoy.config.cluster.v3.Cluster",version="abc"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"ksgw_xds_connected_proxies", "ksgw_xds_nacks_total", "ksgw_xds_pushes_total", "ksgw_xds_snapshot_version_info"); err != nil {
		t.Error(err)
	}
}
