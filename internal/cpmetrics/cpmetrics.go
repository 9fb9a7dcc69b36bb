// Package cpmetrics holds the control plane's Prometheus metrics: what the
// provider sees, how long translation takes, and how the ADS server talks
// to the proxies (snapshot versions, pushes, ACKs and NACKs per node,
// connected proxies). Metrics live in a registry the caller owns; nothing
// here is package-level state.
package cpmetrics

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ksgw/ksgw/internal/resource"
	xdsserver "github.com/ksgw/ksgw/internal/xds/server"
)

// Metrics records the control plane's translation loop. Safe for
// concurrent use (the prometheus types are).
type Metrics struct {
	resources   *prometheus.GaugeVec
	translation prometheus.Histogram
	publishes   prometheus.Counter
	problems    prometheus.Gauge
}

// New registers the control plane's metrics on reg. xds, when not nil, is
// read at scrape time for the per-node xDS metrics.
func New(reg prometheus.Registerer, xds func() xdsserver.Stats) *Metrics {
	m := &Metrics{
		resources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ksgw_controlplane_resources", Help: "Resources the provider currently holds, by kind.",
		}, []string{"kind"}),
		translation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ksgw_controlplane_translation_duration_seconds", Help: "Time to translate resources into xDS for every gateway.",
			// 100µs .. ~26s: a handful of routes up to tens of thousands.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 19),
		}),
		publishes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ksgw_controlplane_publishes_total", Help: "Translations handed to the ADS server.",
		}),
		problems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ksgw_controlplane_problems", Help: "Invalid objects or fields in the last translation.",
		}),
	}
	reg.MustRegister(m.resources, m.translation, m.publishes, m.problems)
	if xds != nil {
		reg.MustRegister(newXDSCollector(xds))
	}
	return m
}

// ObserveTranslation records one translation of res that took d and found
// problems.
func (m *Metrics) ObserveTranslation(res *resource.Resources, d time.Duration, problems int) {
	m.translation.Observe(d.Seconds())
	m.problems.Set(float64(problems))
	if res == nil {
		return
	}
	for kind, n := range KindCounts(res) {
		m.resources.WithLabelValues(kind).Set(float64(n))
	}
}

// ObservePublish counts a translation handed to the ADS server.
func (m *Metrics) ObservePublish() { m.publishes.Inc() }

// KindCounts counts res by Kubernetes kind. Every kind is present, zero
// included, so a kind that empties shows 0 rather than its last value.
func KindCounts(res *resource.Resources) map[string]int {
	return map[string]int{
		"Gateway":         len(res.Gateways),
		"Route":           len(res.Routes),
		"DestinationRule": len(res.DestinationRules),
		"SecurityPolicy":  len(res.SecurityPolicies),
		"Ingress":         len(res.Ingresses),
		"IngressClass":    len(res.IngressClasses),
		"Service":         len(res.Services),
		"EndpointSlice":   len(res.EndpointSlices),
		"Pod":             len(res.Pods),
		"Secret":          len(res.Secrets),
		"ConfigMap":       len(res.ConfigMaps),
		"Namespace":       len(res.Namespaces),
	}
}

// xdsCollector turns the ADS server's counters into metrics at scrape
// time, so the server keeps no Prometheus types on its hot paths.
type xdsCollector struct {
	stats                                 func() xdsserver.Stats
	version, pushes, acks, nacks, proxies *prometheus.Desc
	converging                            *prometheus.Desc
}

func newXDSCollector(stats func() xdsserver.Stats) *xdsCollector {
	return &xdsCollector{
		stats: stats,
		version: prometheus.NewDesc("ksgw_xds_snapshot_version_info",
			"The snapshot version published per node and type (value 1; version is a content hash).", []string{"node", "type_url", "version"}, nil),
		pushes:     prometheus.NewDesc("ksgw_xds_pushes_total", "xDS responses sent to a node's proxies.", []string{"node"}, nil),
		acks:       prometheus.NewDesc("ksgw_xds_acks_total", "xDS responses a node's proxies accepted.", []string{"node"}, nil),
		nacks:      prometheus.NewDesc("ksgw_xds_nacks_total", "xDS responses a node's proxies rejected.", []string{"node"}, nil),
		proxies:    prometheus.NewDesc("ksgw_xds_connected_proxies", "Authenticated ADS streams open, per node.", []string{"node"}, nil),
		converging: prometheus.NewDesc("ksgw_xds_converging", "1 while a node's make-before-break sequence has steps left.", []string{"node"}, nil),
	}
}

func (c *xdsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.version, c.pushes, c.acks, c.nacks, c.proxies, c.converging} {
		ch <- d
	}
}

func (c *xdsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	nodes := make([]string, 0, len(st.Nodes))
	for n := range st.Nodes {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		ns := st.Nodes[n]
		ch <- prometheus.MustNewConstMetric(c.pushes, prometheus.CounterValue, float64(ns.Pushes), n)
		ch <- prometheus.MustNewConstMetric(c.acks, prometheus.CounterValue, float64(ns.ACKs), n)
		ch <- prometheus.MustNewConstMetric(c.nacks, prometheus.CounterValue, float64(ns.NACKs), n)
		ch <- prometheus.MustNewConstMetric(c.proxies, prometheus.GaugeValue, float64(ns.Streams), n)
		conv := 0.0
		if ns.Converging {
			conv = 1
		}
		ch <- prometheus.MustNewConstMetric(c.converging, prometheus.GaugeValue, conv, n)
		for typeURL, v := range ns.Published {
			ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, 1, n, typeURL, v)
		}
	}
}
