package translate

import (
	"fmt"
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/ir"
)

// benchGateway is 10,000 routes in 100 virtual hosts over 1,000 clusters
// of 3 endpoints, with the mix a real tenant has: mostly prefix routes,
// some header matches, canary splits, retries and timeouts.
func benchGateway(vhosts, routesPerVHost, clusters int) *ir.Gateway {
	gw := &ir.Gateway{Name: "bench/gw"}
	for c := range clusters {
		cl := &ir.Cluster{
			Name:   fmt.Sprintf("bench/svc-%04d/80", c),
			Source: ir.ObjectRef{Kind: "Service", Namespace: "bench", Name: fmt.Sprintf("svc-%04d", c)},
			Limits: ir.ConnectionLimits{MaxConnections: 1024},
		}
		for e := range 3 {
			cl.Endpoints = append(cl.Endpoints, ir.Endpoint{Address: fmt.Sprintf("10.%d.%d.%d", c/250, c%250, e+1), Port: 8080, Ready: true, Zone: fmt.Sprintf("zone-%d", e)})
		}
		if c%10 == 0 {
			cl.HealthCheck = &ir.HealthCheck{Path: "/healthz", Interval: 5 * time.Second, Timeout: time.Second, UnhealthyThreshold: 3, HealthyThreshold: 1}
		}
		gw.Clusters = append(gw.Clusters, cl)
	}
	l := &ir.Listener{Name: "http-8080", Port: 8080}
	n := 0
	for v := range vhosts {
		vh := &ir.VirtualHost{Name: fmt.Sprintf("host-%03d.example.com", v), Domains: []string{fmt.Sprintf("host-%03d.example.com", v)}}
		if v%10 == 0 {
			vh.Domains = []string{fmt.Sprintf("*.host-%03d.example.com", v)}
		}
		for r := range routesPerVHost {
			rt := &ir.Route{
				Name:    fmt.Sprintf("route/bench/r-%05d/http/0/match/0", n),
				Source:  ir.ObjectRef{Kind: "Route", Namespace: "bench", Name: fmt.Sprintf("r-%05d", n)},
				Match:   ir.Match{Path: ir.PathMatch{Kind: ir.PathPrefix, Value: fmt.Sprintf("/api/%d", r)}},
				Forward: &ir.ForwardAction{Backends: []*ir.WeightedBackend{{Cluster: gw.Clusters[n%clusters].Name, Weight: 1}}},
				Timeout: 15 * time.Second,
			}
			switch r % 4 {
			case 1:
				rt.Match.Headers = []ir.HeaderMatch{{Name: "x-tenant", Match: ir.StringMatch{Kind: ir.MatchExact, Value: "a"}}}
				rt.RequestHeaders = ir.HeaderMutation{Set: []ir.HeaderValue{{Name: "x-route", Value: rt.Name}}}
			case 2:
				rt.Forward.Backends = []*ir.WeightedBackend{{Cluster: gw.Clusters[n%clusters].Name, Weight: 90}, {Cluster: gw.Clusters[(n+1)%clusters].Name, Weight: 10}}
			case 3:
				rt.Retry = &ir.RetryPolicy{On: []string{"5xx", "connect-failure"}, Attempts: 2, PerTryTimeout: time.Second}
				rt.Match.Path = ir.PathMatch{Kind: ir.PathSegmentPrefix, Value: fmt.Sprintf("/v%d/items", r)}
			}
			vh.Routes = append(vh.Routes, rt)
			n++
		}
		l.VirtualHosts = append(l.VirtualHosts, vh)
	}
	gw.Listeners = []*ir.Listener{l}
	return gw
}

func BenchmarkTranslate(b *testing.B) {
	gw := benchGateway(100, 100, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Translate(gw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10_000, "routes")
}

func BenchmarkToYAML(b *testing.B) {
	r, err := Translate(benchGateway(100, 100, 1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ToYAML(r); err != nil {
			b.Fatal(err)
		}
	}
}
