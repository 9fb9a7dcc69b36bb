package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Scenario 5: routing cost. "regex" puts routingRules rules in front of
// the catch-all, each a path regex plus an exact header match, and wrk's
// request matches only the last one (the worst case of first-match-wins
// evaluation, which all three proxies do). "canary" splits the catch-all
// 90/10 between two upstream groups of the same backend.
const (
	routingRegex  = "regex"
	routingCanary = "canary"
	routingRules  = 1000
	// routingRouteSize is how many rules go in one ksgw Route (a Route
	// holds at most 256, api/v1alpha1).
	routingRouteSize = 100
)

// regexRule is one rule of the regex scenario.
type regexRule struct {
	Regex  string
	Tenant string
}

func regexRules() []regexRule {
	out := make([]regexRule, routingRules)
	for i := range out {
		out[i] = regexRule{Regex: fmt.Sprintf("^/api/v[0-9]+/svc-%d/[a-z0-9-]+$", i), Tenant: "tenant-" + strconv.Itoa(i%10)}
	}
	return out
}

// regexTarget is the path and header wrk sends: they match the last rule.
func regexTarget() (path, header string) {
	last := routingRules - 1
	return fmt.Sprintf("/api/v1/svc-%d/items", last), "x-tenant: tenant-" + strconv.Itoa(last%10)
}

// ksgwRoutingFiles is the ksgw configuration of a routing scenario.
func ksgwRoutingFiles(routing string, http, https int, backend string) map[string]string {
	base := yamlGateway("bench", http, https)
	for _, s := range []string{"backend-a", "backend-b"} {
		base += yamlServicePods("bench", s, s, []string{backend})
	}
	files := map[string]string{"base.yaml": base}
	var b strings.Builder
	switch routing {
	case routingRegex:
		rules := regexRules()
		for r := 0; r*routingRouteSize < len(rules); r++ {
			fmt.Fprintf(&b, `---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: r-%02d, namespace: bench}
spec:
  http:
`, r)
			for _, rule := range rules[r*routingRouteSize : min(len(rules), (r+1)*routingRouteSize)] {
				fmt.Fprintf(&b, `  - match: [{uri: {regex: %q}, headers: {x-tenant: {exact: %q}}}]
    route: [{destination: {host: backend-a}}]
`, rule.Regex, rule.Tenant)
			}
		}
		// The catch-all (for the readiness check) in a Route of its own,
		// named to sort last.
		b.WriteString(`---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: zz-default, namespace: bench}
spec:
  http:
  - route: [{destination: {host: backend-a}}]
`)
	case routingCanary:
		b.WriteString(`apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: canary, namespace: bench}
spec:
  http:
  - route:
    - {destination: {host: backend-a}, weight: 90}
    - {destination: {host: backend-b}, weight: 10}
`)
	}
	files["routes.yaml"] = b.String()
	return files
}

// startKSGWRouting starts ksgw on a routing scenario's configuration: these
// scenarios need more than KSGW_CMD's one route, so benchrun generates the
// directory itself. The Gateway listens on p.Listen.
func startKSGWRouting(ctx context.Context, cfg config, p proxyParams) (*proc, error) {
	return startKSGWFiles(ctx, cfg, p, func(http, https int, backend string) map[string]string {
		return ksgwRoutingFiles(p.Routing, http, https, backend)
	})
}

// startKSGWFiles starts ksgw on the files gen writes for a Gateway whose
// http port is p.Port (its https port and the admin port are free ones).
func startKSGWFiles(ctx context.Context, cfg config, p proxyParams, gen func(http, https int, backend string) map[string]string) (*proc, error) {
	ports, err := freePorts(2, []int{p.Port})
	if err != nil {
		return nil, err
	}
	https, admin := ports[0], ports[1]
	k, err := startKSGWStandalone(ctx, cfg, p, admin, gen(p.Port, https, p.Backend))
	if err != nil {
		return nil, err
	}
	return k.proc, nil
}
