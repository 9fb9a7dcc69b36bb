// Package admin serves a proxy's admin listener with Envoy's paths, so that
// tools written for Envoy's admin interface keep working: /ready,
// /config_dump, /clusters, /stats and /stats/prometheus. It is read-only and
// meant for loopback; it never prints secrets.
package admin

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyruntime "github.com/ksgw/ksgw/internal/proxy/runtime"
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
	// Gatherer serves /stats/prometheus: the proxy's registry, with
	// Envoy-named statistics (internal/proxy/stats).
	Gatherer prometheus.Gatherer
}

// New returns the admin handler.
func New(opts Options) http.Handler {
	a := &admin{opts: opts, started: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", a.ready)
	mux.HandleFunc("GET /config_dump", a.configDump)
	mux.HandleFunc("GET /clusters", a.clusters)
	prom := promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})
	mux.Handle("GET /stats/prometheus", prom)
	mux.Handle("GET /stats", prom)
	mux.HandleFunc("GET /server_info", a.serverInfo)
	mux.HandleFunc("GET /status.json", a.status)
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
