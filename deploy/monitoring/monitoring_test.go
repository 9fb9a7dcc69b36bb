// Package monitoring holds ksgw's Prometheus rules and Grafana dashboard;
// its tests run promtool on the rules and keep the files consistent.
package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// designAlert is DESIGN §1.14's HighErrorRate, which must stay unchanged.
const designAlert = `rate(envoy_cluster_upstream_rq_xx{response_code_class="5"}[1m]) > 0.05`

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found; hack/ci-deps.sh installs it (hack/install-deps.sh prometheus)")
		}
		t.Skip("promtool not found; run hack/install-deps.sh prometheus")
	}
	return p
}

func TestRulesPassPromtoolCheckAndUnitTests(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "ksgw.rules.yaml"},
		{"test", "rules", "ksgw.rules.test.yaml"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert string `json:"alert"`
			Expr  string `json:"expr"`
			For   string `json:"for"`
		} `json:"rules"`
	} `json:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestHighErrorRateIsTheDesignsAlertUnchanged(t *testing.T) {
	var rf ruleFile
	readYAML(t, "ksgw.rules.yaml", &rf)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "HighErrorRate" {
				if r.Expr != designAlert || r.For != "5m" {
					t.Errorf("HighErrorRate = %q for %s, want %q for 5m", r.Expr, r.For, designAlert)
				}
				return
			}
		}
	}
	t.Fatal("HighErrorRate not found")
}

func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	var plain map[string]any
	readYAML(t, "ksgw.rules.yaml", &plain)
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       map[string]any `json:"spec"`
	}
	readYAML(t, "prometheusrule.yaml", &pr)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("prometheusrule.yaml is %s %s", pr.APIVersion, pr.Kind)
	}
	if !reflect.DeepEqual(pr.Spec, plain) {
		t.Error("prometheusrule.yaml spec differs from ksgw.rules.yaml; keep them identical")
	}
}

// DashboardExprs returns every query of the Grafana dashboard.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("grafana/ksgw-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	return out
}

func TestDashboardCoversTheIssuesPanels(t *testing.T) {
	all := strings.Join(dashboardExprs(t), "\n")
	for _, want := range []string{
		"gateway_request_latency_count", // requests and error ratio per gateway and route
		"histogram_quantile(0.5,", "histogram_quantile(0.95,", "histogram_quantile(0.99,",
		"envoy_http_downstream_cx_active", "envoy_cluster_membership_healthy",
		"envoy_cluster_upstream_rq_xx", "envoy_server_memory_allocated",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no dashboard query uses %s", want)
		}
	}
}
