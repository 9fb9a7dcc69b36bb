package stats

import (
	"runtime/metrics"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ksgw/ksgw/internal/proxy/upstream"
)

// ClusterView is what the collector reads about one cluster in force.
type ClusterView struct {
	Name     string
	Upstream upstream.ClusterStatsSnapshot
	CxActive int64  // open upstream connections over all hosts
	CxTotal  uint64 // connections ever dialled (upstream_cx_total)
}

// Source tells the collector what is in force at scrape time. The runtime
// implements it; it is called only while scraping.
type Source interface {
	// Clusters calls fn for each cluster of the generation in force.
	Clusters(fn func(ClusterView))
	// Live reports whether the proxy serves a configuration
	// (envoy_server_live).
	Live() bool
}

// Labels Envoy's tag extractors produce.
const (
	lCluster = "envoy_cluster_name"
	lHCM     = "envoy_http_conn_manager_prefix"
	lAddr    = "envoy_listener_address"
	lCode    = "envoy_response_code"
	lClass   = "envoy_response_code_class"
	// lClassAlias repeats envoy_response_code_class under the name the
	// design's HighErrorRate alert selects on
	// (envoy_cluster_upstream_rq_xx{response_code_class="5"}), so that the
	// alert works unchanged while Envoy dashboards keep their label. It is
	// the same series with one more label, so sums are not doubled.
	lClassAlias = "response_code_class"
)

type collector struct {
	store *Store
	src   Source

	cxTotal, cxActive                     *prometheus.Desc
	httpRqTotal, httpRqXX, httpRqActive   *prometheus.Desc
	httpRqTime, httpCxActive              *prometheus.Desc
	clRqTotal, clRqXX, clRq, clRqTime     *prometheus.Desc
	clRqActive, clRqRetry, clRqTimeout    *prometheus.Desc
	clRqOverflow, clCxActive, clCxTotal   *prometheus.Desc
	clCxConnectFail, clHealthy, clMembers *prometheus.Desc
	clEjectActive, clEjectTotal           *prometheus.Desc
	clHCSuccess, clHCFailure, clPanic     *prometheus.Desc
	memAllocated, memHeap, live, uptime   *prometheus.Desc
	latency                               *prometheus.Desc
}

// NewCollector returns a prometheus.Collector for the store's counters and
// the source's clusters. Register it on a registry owned by the caller (no
// package-level registry).
func NewCollector(store *Store, src Source) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		store: store, src: src,
		cxTotal:      d("envoy_listener_downstream_cx_total", "Total connections accepted.", lAddr),
		cxActive:     d("envoy_listener_downstream_cx_active", "Connections open.", lAddr),
		httpRqTotal:  d("envoy_http_downstream_rq_total", "Total requests.", lHCM),
		httpRqXX:     d("envoy_http_downstream_rq_xx", "Requests by response code class.", lHCM, lClass, lClassAlias),
		httpRqActive: d("envoy_http_downstream_rq_active", "Requests in flight.", lHCM),
		httpRqTime:   d("envoy_http_downstream_rq_time", "Request time in milliseconds.", lHCM),
		httpCxActive: d("envoy_http_downstream_cx_active", "Connections open.", lHCM),

		clRqTotal:       d("envoy_cluster_upstream_rq_total", "Upstream requests.", lCluster),
		clRqXX:          d("envoy_cluster_upstream_rq_xx", "Upstream requests by response code class.", lCluster, lClass, lClassAlias),
		clRq:            d("envoy_cluster_upstream_rq", "Upstream requests by response code.", lCluster, lCode),
		clRqTime:        d("envoy_cluster_upstream_rq_time", "Upstream request time in milliseconds.", lCluster),
		clRqActive:      d("envoy_cluster_upstream_rq_active", "Upstream requests in flight.", lCluster),
		clRqRetry:       d("envoy_cluster_upstream_rq_retry", "Upstream request retries.", lCluster),
		clRqTimeout:     d("envoy_cluster_upstream_rq_timeout", "Upstream requests that timed out.", lCluster),
		clRqOverflow:    d("envoy_cluster_upstream_rq_pending_overflow", "Requests refused by the circuit breaker.", lCluster),
		clCxActive:      d("envoy_cluster_upstream_cx_active", "Upstream connections open.", lCluster),
		clCxTotal:       d("envoy_cluster_upstream_cx_total", "Upstream connections dialled.", lCluster),
		clCxConnectFail: d("envoy_cluster_upstream_cx_connect_fail", "Upstream connection failures.", lCluster),
		clHealthy:       d("envoy_cluster_membership_healthy", "Healthy hosts.", lCluster),
		clMembers:       d("envoy_cluster_membership_total", "Hosts.", lCluster),
		clEjectActive:   d("envoy_cluster_outlier_detection_ejections_active", "Hosts ejected now.", lCluster),
		clEjectTotal:    d("envoy_cluster_outlier_detection_ejections_enforced_total", "Ejections enforced.", lCluster),
		clHCSuccess:     d("envoy_cluster_health_check_success", "Health checks passed.", lCluster),
		clHCFailure:     d("envoy_cluster_health_check_failure", "Health checks failed.", lCluster),
		clPanic:         d("envoy_cluster_lb_healthy_panic", "Picks made in panic mode.", lCluster),

		memAllocated: d("envoy_server_memory_allocated", "Bytes of live heap objects."),
		memHeap:      d("envoy_server_memory_heap_size", "Bytes of memory obtained from the OS."),
		live:         d("envoy_server_live", "1 when the proxy serves a configuration."),
		uptime:       d("envoy_server_uptime", "Seconds since the proxy started."),

		latency: d("gateway_request_latency", "Request latency in seconds, from the first byte received to the response sent.", "gateway", "route", "method", "code"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.cxTotal, c.cxActive, c.httpRqTotal, c.httpRqXX, c.httpRqActive, c.httpRqTime, c.httpCxActive,
		c.clRqTotal, c.clRqXX, c.clRq, c.clRqTime, c.clRqActive, c.clRqRetry, c.clRqTimeout, c.clRqOverflow,
		c.clCxActive, c.clCxTotal, c.clCxConnectFail, c.clHealthy, c.clMembers, c.clEjectActive, c.clEjectTotal,
		c.clHCSuccess, c.clHCFailure, c.clPanic, c.memAllocated, c.memHeap, c.live, c.uptime, c.latency,
	} {
		ch <- d
	}
}

var classLabels = [6]string{"", "1", "2", "3", "4", "5"}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	s := c.store

	s.mu.Lock()
	listeners := sortedValues(s.listeners)
	clusterExtra := make(map[string]*Cluster, len(s.clusters))
	for n, cl := range s.clusters {
		clusterExtra[n] = cl
	}
	routes := sortedValues(s.routes)
	s.mu.Unlock()

	for _, l := range listeners {
		counter(c.cxTotal, l.cxTotal.Load(), l.address)
		gauge(c.cxActive, float64(l.cxActive.Load()), l.address)
		gauge(c.httpCxActive, float64(l.cxActive.Load()), l.name)
		counter(c.httpRqTotal, l.rqTotal.Load(), l.name)
		gauge(c.httpRqActive, float64(l.rqActive.Load()), l.name)
		for cl := 1; cl <= 5; cl++ {
			counter(c.httpRqXX, l.rqXX[cl].Load(), l.name, classLabels[cl], classLabels[cl])
		}
		h := l.rqTime.snapshot()
		ch <- prometheus.MustNewConstHistogram(c.httpRqTime, h.count, float64(h.sumNs)/1e6, h.bucketsIn(1), l.name)
	}

	c.src.Clusters(func(v ClusterView) {
		n, u := v.Name, &v.Upstream
		counter(c.clRqTotal, u.RqTotal, n)
		for cl := 1; cl <= 5; cl++ {
			counter(c.clRqXX, u.RqXX[cl], n, classLabels[cl], classLabels[cl])
		}
		gauge(c.clRqActive, float64(u.RqActive), n)
		counter(c.clRqRetry, u.RqRetry, n)
		counter(c.clRqTimeout, u.RqTimeout, n)
		counter(c.clRqOverflow, u.RqOverflow, n)
		gauge(c.clCxActive, float64(v.CxActive), n)
		counter(c.clCxTotal, v.CxTotal, n)
		counter(c.clCxConnectFail, u.CxConnectFail, n)
		gauge(c.clHealthy, float64(u.MembershipHealthy), n)
		gauge(c.clMembers, float64(u.MembershipTotal), n)
		gauge(c.clEjectActive, float64(u.OutlierEjectedNow), n)
		counter(c.clEjectTotal, u.OutlierEjections, n)
		counter(c.clHCSuccess, u.HCSuccess, n)
		counter(c.clHCFailure, u.HCFailure, n)
		counter(c.clPanic, u.LBHealthyPanic, n)
		if x := clusterExtra[n]; x != nil {
			x.codes.each(func(code int, cnt uint64) {
				counter(c.clRq, cnt, n, strconv.Itoa(code))
			})
			h := x.rqTime.snapshot()
			ch <- prometheus.MustNewConstHistogram(c.clRqTime, h.count, float64(h.sumNs)/1e6, h.bucketsIn(1), n)
		}
	})

	for _, r := range routes {
		r.each(func(method string, code int, ls *latencySeries) {
			codeLabel := "other"
			if code >= 0 {
				codeLabel = strconv.Itoa(code)
			}
			h := ls.h.snapshot()
			ch <- prometheus.MustNewConstHistogram(c.latency, h.count, float64(h.sumNs)/1e9, h.bucketsIn(1e-3),
				s.gateway, r.name, method, codeLabel)
		})
	}

	// runtime/metrics does not stop the world (ReadMemStats does).
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(samples)
	gauge(c.memAllocated, float64(sampleUint(samples[0])))
	gauge(c.memHeap, float64(sampleUint(samples[1])))
	live := 0.0
	if c.src.Live() {
		live = 1
	}
	gauge(c.live, live)
	gauge(c.uptime, float64(int64(time.Since(s.started)/time.Second)))
}

func sampleUint(s metrics.Sample) uint64 {
	if s.Value.Kind() == metrics.KindUint64 {
		return s.Value.Uint64()
	}
	return 0
}

func sortedValues[V any](m map[string]*V) []*V {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*V, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}
