package admin

import (
	_ "embed"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/stats"
)

// statusPage is the read-only status page on "/": self-contained HTML and
// JavaScript (no CDN, no external font), polling /status.json and drawing
// its charts on <canvas>, so it works on an air-gapped admin port.
//
//go:embed status.html
var statusPage []byte

func (a *admin) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("content-type", "text/html; charset=utf-8")
	// The page only reads this proxy's own endpoints.
	w.Header().Set("content-security-policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	w.Write(statusPage)
}

// statusDoc is /status.json.
type statusDoc struct {
	Node          string        `json:"node"`
	Live          bool          `json:"live"`
	UptimeSeconds int64         `json:"uptime_seconds"`
	XDS           xdsDoc        `json:"xds"`
	BucketsMs     []float64     `json:"buckets_ms"`
	Listeners     []listenerDoc `json:"listeners"`
	Routes        []routeDoc    `json:"routes"`
	Clusters      []clusterDoc  `json:"clusters"`
}

type xdsDoc struct {
	State     string            `json:"state"`
	LastError string            `json:"last_error,omitempty"`
	Versions  map[string]string `json:"versions"`
}

type listenerDoc struct {
	Name          string    `json:"name"`
	Address       string    `json:"address"`
	TLS           bool      `json:"tls"`
	CxActive      int64     `json:"cx_active"`
	RqActive      int64     `json:"rq_active"`
	RqTotal       uint64    `json:"rq_total"`
	RqXX          [6]uint64 `json:"rq_xx"`
	RqTimeCount   uint64    `json:"rq_time_count"`
	RqTimeSumMs   float64   `json:"rq_time_sum_ms"`
	RqTimeBuckets []uint64  `json:"rq_time_buckets"`
	P50Ms         float64   `json:"p50_ms"`
	P99Ms         float64   `json:"p99_ms"`
	Sampling      *float64  `json:"trace_sampling_percent,omitempty"`
}

type routeDoc struct {
	Listener    string   `json:"listener"`
	VirtualHost string   `json:"virtual_host"`
	Domains     []string `json:"domains"`
	Name        string   `json:"name"`
	Source      string   `json:"source,omitempty"`
	Match       string   `json:"match"`
	Action      string   `json:"action"`
}

type clusterDoc struct {
	Name     string    `json:"name"`
	Healthy  int64     `json:"healthy"`
	Total    int64     `json:"total"`
	RqTotal  uint64    `json:"rq_total"`
	RqXX     [6]uint64 `json:"rq_xx"`
	Reason   string    `json:"no_endpoints_reason,omitempty"`
	Hosts    []hostDoc `json:"hosts"`
	Panic    bool      `json:"panic"`
	RqActive int64     `json:"rq_active"`
}

type hostDoc struct {
	Address  string `json:"address"`
	Healthy  bool   `json:"healthy"`
	Flags    string `json:"health_flags"`
	RqTotal  uint64 `json:"rq_total"`
	Rq5xx    uint64 `json:"rq_5xx"`
	RqActive int64  `json:"rq_active"`
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func (a *admin) status(w http.ResponseWriter, _ *http.Request) {
	rt := a.opts.Runtime
	gen := rt.Current()
	snap := gen.Snapshot()
	st := a.opts.XDS.Status()
	doc := statusDoc{
		Node: a.opts.NodeID, Live: rt.Ready(), UptimeSeconds: int64(time.Since(a.started) / time.Second),
		XDS:       xdsDoc{State: st.State.String(), LastError: st.LastError, Versions: st.Versions},
		BucketsMs: stats.BucketBoundsMs(),
	}
	byName := map[string]stats.ListenerSnapshot{}
	if s := rt.Stats(); s != nil {
		for _, l := range s.Listeners() {
			byName[l.Name] = l
		}
	}
	for _, name := range sortedKeys(snap.Listeners) {
		l := snap.Listeners[name]
		ld := listenerDoc{Name: name, Address: l.Address.String()}
		var hcm *dpconfig.HTTPConnectionManager
		if len(l.FilterChains) > 0 {
			ld.TLS = l.FilterChains[0].TLS != nil
			hcm = l.FilterChains[0].HCM
		}
		if ls, ok := byName[name]; ok {
			ld.CxActive, ld.RqActive, ld.RqTotal, ld.RqXX = ls.CxActive, ls.RqActive, ls.RqTotal, ls.RqXX
			ld.RqTimeCount, ld.RqTimeSumMs, ld.RqTimeBuckets = ls.RqTimeCount, ls.RqTimeSumMs, ls.RqTimeBuckets
			ld.P50Ms, ld.P99Ms = finite(ls.RqTimeP50Ms), finite(ls.RqTimeP99Ms)
		}
		if hcm != nil && hcm.Tracing != nil {
			p := hcm.Tracing.SamplePercent
			ld.Sampling = &p
		}
		doc.Listeners = append(doc.Listeners, ld)
		if hcm == nil {
			continue
		}
		rc := hcm.RouteConfig
		if rc == nil {
			rc = snap.Routes[hcm.RouteConfigName]
		}
		if rc == nil {
			continue
		}
		for _, vh := range rc.VirtualHosts {
			for _, r := range vh.Routes {
				doc.Routes = append(doc.Routes, routeDoc{
					Listener: name, VirtualHost: vh.Name, Domains: vh.Domains, Name: r.Name, Source: r.Source,
					Match: describeMatch(&r.Match), Action: describeAction(r),
				})
			}
		}
	}
	for _, name := range gen.ClusterNames() {
		c := gen.Cluster(name)
		cs := c.Stats().Snapshot()
		cd := clusterDoc{Name: name, Healthy: cs.MembershipHealthy, Total: cs.MembershipTotal, RqTotal: cs.RqTotal,
			RqXX: cs.RqXX, Reason: c.Config().NoEndpointsReason, Panic: c.Panic(), RqActive: cs.RqActive, Hosts: []hostDoc{}}
		for _, h := range c.Hosts() {
			hs := h.Stats()
			cd.Hosts = append(cd.Hosts, hostDoc{Address: h.Address().String(), Healthy: h.Healthy(), Flags: h.HealthFlags(),
				RqTotal: hs.RqTotal, Rq5xx: hs.RqXX[5], RqActive: hs.RqActive})
		}
		doc.Clusters = append(doc.Clusters, cd)
	}
	w.Header().Set("content-type", "application/json")
	w.Header().Set("cache-control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.Encode(doc)
}

func describeMatch(m *dpconfig.RouteMatch) string {
	var parts []string
	switch m.PathKind {
	case dpconfig.PathPrefix:
		parts = append(parts, "prefix "+m.Path)
	case dpconfig.PathExact:
		parts = append(parts, "path "+m.Path)
	case dpconfig.PathRegex:
		if m.Regex != nil {
			parts = append(parts, "regex "+m.Regex.String())
		}
	case dpconfig.PathSeparatedPrefix:
		parts = append(parts, "path prefix "+m.Path)
	}
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Name, ":authority") {
			continue // the wildcard-host guard; the domains say it
		}
		parts = append(parts, "header "+h.Name)
	}
	for _, q := range m.QueryParams {
		parts = append(parts, "query "+q.Name)
	}
	return strings.Join(parts, ", ")
}

func describeAction(r *dpconfig.Route) string {
	switch {
	case r.Forward != nil:
		var parts []string
		for _, c := range r.Forward.Clusters {
			if len(r.Forward.Clusters) == 1 {
				parts = append(parts, c.Name)
				continue
			}
			parts = append(parts, c.Name+" ("+itoa(int(c.Weight))+")")
		}
		return "→ " + strings.Join(parts, ", ")
	case r.Redirect != nil:
		return "redirect"
	case r.DirectResponse != nil:
		return "direct response " + itoa(r.DirectResponse.Status)
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
