// Package admin serves a proxy's admin listener with Envoy's paths, so that
// tools written for Envoy's admin interface keep working: /ready,
// /config_dump, /clusters, /stats and /stats/prometheus. It is read-only and
// meant for loopback; it never prints secrets.
package admin

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyruntime "github.com/ksgw/ksgw/internal/proxy/runtime"
	"github.com/ksgw/ksgw/internal/proxy/upstream"
	"github.com/ksgw/ksgw/internal/xdsclient"
)

// XDS is what the admin pages need from the xDS client.
type XDS interface {
	Status() xdsclient.Status
	// Accepted returns the raw resources last accepted, by type URL.
	Accepted() map[string][]*anypb.Any
}

// Options configure the admin handler.
type Options struct {
	Runtime *proxyruntime.Runtime
	XDS     XDS
	NodeID  string
}

// New returns the admin handler.
func New(opts Options) http.Handler {
	a := &admin{opts: opts, started: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", a.ready)
	mux.HandleFunc("GET /config_dump", a.configDump)
	mux.HandleFunc("GET /clusters", a.clusters)
	mux.HandleFunc("GET /stats/prometheus", a.prometheus)
	mux.HandleFunc("GET /stats", a.prometheus)
	mux.HandleFunc("GET /server_info", a.serverInfo)
	mux.HandleFunc("GET /{$}", a.index)
	return mux
}

type admin struct {
	opts    Options
	started time.Time
}

// ready answers 200 LIVE once the proxy has a configuration to serve, as
// Envoy's /ready does after initialisation. A proxy that lost its control
// plane but serves its last good config stays ready.
func (a *admin) ready(w http.ResponseWriter, _ *http.Request) {
	if a.opts.Runtime.Ready() && a.opts.XDS.Status().Synced {
		fmt.Fprintln(w, "LIVE")
		return
	}
	http.Error(w, "PRE_INITIALIZING", http.StatusServiceUnavailable)
}

func (a *admin) serverInfo(w http.ResponseWriter, _ *http.Request) {
	st := a.opts.XDS.Status()
	w.Header().Set("content-type", "application/json")
	fmt.Fprintf(w, "{\"node\":%q,\"state\":%q,\"xds_state\":%q,\"last_xds_error\":%q,\"uptime_seconds\":%d}\n",
		a.opts.NodeID, map[bool]string{true: "LIVE", false: "PRE_INITIALIZING"}[a.opts.Runtime.Ready()],
		st.State.String(), st.LastError, int(time.Since(a.started).Seconds()))
}

func (a *admin) index(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "ksgw proxy %s\n\n/ready\n/config_dump\n/clusters\n/stats/prometheus\n/server_info\n", a.opts.NodeID)
}

// configDump renders the accepted xDS as Envoy's ConfigDump, in JSON.
// Private keys are replaced before printing (Envoy redacts them too).
func (a *admin) configDump(w http.ResponseWriter, _ *http.Request) {
	acc := a.opts.XDS.Accepted()
	st := a.opts.XDS.Status()
	now := timestamppb.Now()
	dump := &adminv3.ConfigDump{}
	add := func(m proto.Message) {
		if any, err := anypb.New(m); err == nil {
			dump.Configs = append(dump.Configs, any)
		}
	}
	lds := &adminv3.ListenersConfigDump{VersionInfo: st.Versions[xdsclient.ListenerType]}
	for _, r := range acc[xdsclient.ListenerType] {
		lds.DynamicListeners = append(lds.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name:        nameOf(r),
			ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{VersionInfo: lds.VersionInfo, Listener: redactListener(r), LastUpdated: now},
		})
	}
	add(lds)
	cds := &adminv3.ClustersConfigDump{VersionInfo: st.Versions[xdsclient.ClusterType]}
	for _, r := range acc[xdsclient.ClusterType] {
		cds.DynamicActiveClusters = append(cds.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{
			VersionInfo: cds.VersionInfo, Cluster: r, LastUpdated: now,
		})
	}
	add(cds)
	rds := &adminv3.RoutesConfigDump{}
	for _, r := range acc[xdsclient.RouteType] {
		rds.DynamicRouteConfigs = append(rds.DynamicRouteConfigs, &adminv3.RoutesConfigDump_DynamicRouteConfig{
			VersionInfo: st.Versions[xdsclient.RouteType], RouteConfig: redactRoute(r), LastUpdated: now,
		})
	}
	add(rds)
	eds := &adminv3.EndpointsConfigDump{}
	for _, r := range acc[xdsclient.EndpointType] {
		eds.DynamicEndpointConfigs = append(eds.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{
			VersionInfo: st.Versions[xdsclient.EndpointType], EndpointConfig: r, LastUpdated: now,
		})
	}
	add(eds)
	sds := &adminv3.SecretsConfigDump{}
	for _, r := range acc[xdsclient.SecretType] {
		sds.DynamicActiveSecrets = append(sds.DynamicActiveSecrets, &adminv3.SecretsConfigDump_DynamicSecret{
			Name: nameOf(r), VersionInfo: st.Versions[xdsclient.SecretType], Secret: redactSecret(r), LastUpdated: now,
		})
	}
	add(sds)
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(dump)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("content-type", "application/json")
	w.Write(b)
}

// clusters prints Envoy's text format: cluster::host::stat::value lines.
func (a *admin) clusters(w http.ResponseWriter, _ *http.Request) {
	gen := a.opts.Runtime.Current()
	var lines []string
	for _, name := range gen.ClusterNames() {
		c := gen.Cluster(name)
		cfg := c.Config()
		if cfg.NoEndpointsReason != "" {
			lines = append(lines, fmt.Sprintf("%s::no_endpoints_reason::%s", name, cfg.NoEndpointsReason))
		}
		for _, h := range c.Hosts() {
			addr := h.Address().String()
			st := h.Stats()
			lines = append(lines,
				fmt.Sprintf("%s::%s::rq_active::%d", name, addr, st.RqActive),
				fmt.Sprintf("%s::%s::rq_total::%d", name, addr, st.RqTotal),
				fmt.Sprintf("%s::%s::rq_error::%d", name, addr, st.RqXX[5]),
				fmt.Sprintf("%s::%s::cx_connect_fail::%d", name, addr, st.CxConnectFail),
				fmt.Sprintf("%s::%s::health_flags::%s", name, addr, h.HealthFlags()),
			)
		}
	}
	w.Header().Set("content-type", "text/plain")
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// prometheus writes the proxy's counters in the Prometheus text format with
// Envoy's metric names (envoy_http_downstream_rq_total and friends).
func (a *admin) prometheus(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	rt := a.opts.Runtime

	b.WriteString("# TYPE envoy_http_downstream_rq_total counter\n")
	rt.Stats().Each(func(name string, ls *proxyruntime.ListenerStats) {
		fmt.Fprintf(&b, "envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix=%q} %d\n", name, ls.RqTotal.Load())
	})
	b.WriteString("# TYPE envoy_http_downstream_rq_xx counter\n")
	rt.Stats().Each(func(name string, ls *proxyruntime.ListenerStats) {
		for c := 1; c <= 5; c++ {
			fmt.Fprintf(&b, "envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix=%q,envoy_response_code_class=\"%d\"} %d\n", name, c, ls.RqXX[c].Load())
		}
	})
	b.WriteString("# TYPE envoy_http_downstream_rq_time histogram\n")
	bounds := proxyruntime.LatencyBucketsMs()
	rt.Stats().Each(func(name string, ls *proxyruntime.ListenerStats) {
		var cum uint64
		for i, le := range bounds {
			cum += ls.Buckets[i].Load()
			fmt.Fprintf(&b, "envoy_http_downstream_rq_time_bucket{envoy_http_conn_manager_prefix=%q,le=\"%g\"} %d\n", name, le, cum)
		}
		cum += ls.Buckets[len(bounds)].Load()
		fmt.Fprintf(&b, "envoy_http_downstream_rq_time_bucket{envoy_http_conn_manager_prefix=%q,le=\"+Inf\"} %d\n", name, cum)
		fmt.Fprintf(&b, "envoy_http_downstream_rq_time_sum{envoy_http_conn_manager_prefix=%q} %g\n", name, float64(ls.SumMicros.Load())/1000)
		fmt.Fprintf(&b, "envoy_http_downstream_rq_time_count{envoy_http_conn_manager_prefix=%q} %d\n", name, cum)
	})

	gen := rt.Current()
	names := gen.ClusterNames()
	type row struct {
		metric string
		value  func(s *upstream.ClusterStatsSnapshot) int64
	}
	rows := []row{
		{"envoy_cluster_upstream_rq_total", func(s *upstream.ClusterStatsSnapshot) int64 { return int64(s.RqTotal) }},
		{"envoy_cluster_upstream_rq_active", func(s *upstream.ClusterStatsSnapshot) int64 { return s.RqActive }},
		{"envoy_cluster_upstream_rq_retry", func(s *upstream.ClusterStatsSnapshot) int64 { return int64(s.RqRetry) }},
		{"envoy_cluster_upstream_rq_timeout", func(s *upstream.ClusterStatsSnapshot) int64 { return int64(s.RqTimeout) }},
		{"envoy_cluster_upstream_rq_pending_overflow", func(s *upstream.ClusterStatsSnapshot) int64 { return int64(s.RqOverflow) }},
		{"envoy_cluster_upstream_cx_connect_fail", func(s *upstream.ClusterStatsSnapshot) int64 { return int64(s.CxConnectFail) }},
		{"envoy_cluster_outlier_detection_ejections_active", func(s *upstream.ClusterStatsSnapshot) int64 { return s.OutlierEjectedNow }},
		{"envoy_cluster_health_check_failure", func(s *upstream.ClusterStatsSnapshot) int64 { return int64(s.HCFailure) }},
		{"envoy_cluster_membership_healthy", func(s *upstream.ClusterStatsSnapshot) int64 { return s.MembershipHealthy }},
		{"envoy_cluster_membership_total", func(s *upstream.ClusterStatsSnapshot) int64 { return s.MembershipTotal }},
	}
	snaps := make([]upstream.ClusterStatsSnapshot, len(names))
	for i, n := range names {
		snaps[i] = gen.Cluster(n).Stats().Snapshot()
	}
	for _, r := range rows {
		kind := "counter"
		if strings.Contains(r.metric, "membership") || strings.HasSuffix(r.metric, "_active") {
			kind = "gauge"
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", r.metric, kind)
		for i, n := range names {
			fmt.Fprintf(&b, "%s{envoy_cluster_name=%q} %d\n", r.metric, n, r.value(&snaps[i]))
		}
	}
	b.WriteString("# TYPE envoy_cluster_upstream_rq_xx counter\n")
	for i, n := range names {
		s := &snaps[i]
		for c := 1; c <= 5; c++ {
			fmt.Fprintf(&b, "envoy_cluster_upstream_rq_xx{envoy_cluster_name=%q,envoy_response_code_class=\"%d\"} %d\n", n, c, s.RqXX[c])
		}
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(&b, "# TYPE envoy_server_memory_allocated gauge\nenvoy_server_memory_allocated %d\n", ms.HeapAlloc)
	fmt.Fprintf(&b, "# TYPE envoy_server_memory_heap_size gauge\nenvoy_server_memory_heap_size %d\n", ms.HeapSys)
	live := 0
	if rt.Ready() {
		live = 1
	}
	fmt.Fprintf(&b, "# TYPE envoy_server_live gauge\nenvoy_server_live %d\n", live)
	fmt.Fprintf(&b, "# TYPE envoy_server_uptime gauge\nenvoy_server_uptime %d\n", int(time.Since(a.started).Seconds()))
	w.Header().Set("content-type", "text/plain; version=0.0.4")
	w.Write([]byte(b.String()))
}

func nameOf(a *anypb.Any) string {
	m, err := a.UnmarshalNew()
	if err != nil {
		return ""
	}
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	if n, ok := m.(interface{ GetClusterName() string }); ok {
		return n.GetClusterName()
	}
	return ""
}
