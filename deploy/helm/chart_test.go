// Package helm_test checks the ksgw chart with the real Helm (built by
// hack/install-helm.sh): lint, golden renders, the values schema, its
// equivalence with deploy/gateway-ha.yaml and config/, and, against a real
// API server (hack/testenv.sh), server-side apply of the rendered manifests
// and the design's install command from a `kubesphere` repository.
package helm_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ksgw/ksgw/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.yaml from the current renders and remove orphans")

const (
	chartDir  = "ksgw"
	release   = "kubesphere-gateway"
	namespace = "ksgw-system"
)

// designFlags is the design's install command (DESIGN §1.13,
// seed-examples/helm-install.sh), word for word.
var designFlags = []string{
	"--set", "replicaCount=3",
	"--set", "service.type=NodePort",
	"--set", "service.nodePorts.http=30080",
	"--set", "service.nodePorts.https=30443",
}

// helmCmd runs the pinned Helm with its configuration, cache and data in a
// temporary directory, so the user's repositories are neither read nor
// changed. Without the binary the test is skipped, except under CI=true.
type helmCmd struct {
	bin string
	env []string
}

func newHelm(t *testing.T) *helmCmd {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		cached := filepath.Join(cacheDir(), "ksgw", "helm-"+helmVersion(t), "helm")
		if _, err := os.Stat(cached); err != nil && os.Getenv("CI") != "true" {
			t.Skipf("helm is not installed (%s); run hack/install-helm.sh", cached)
		}
		out, err := exec.Command("../../hack/install-helm.sh").Output()
		if err != nil {
			t.Fatalf("hack/install-helm.sh: %v", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	home := t.TempDir()
	return &helmCmd{bin: bin, env: append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)}
}

func cacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache")
}

// helmVersion reads the pin from hack/install-helm.sh.
func helmVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../hack/install-helm.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "HELM_VERSION="); ok {
			return strings.Fields(v)[0]
		}
	}
	t.Fatal("no HELM_VERSION in hack/install-helm.sh")
	return ""
}

// run returns stdout; a failure returns stderr in the error.
func (h *helmCmd) run(args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (h *helmCmd) template(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.run(append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// docs splits a manifest into objects, skipping empty documents.
func docs(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		// Strict: a duplicate key (two label helpers emitting the same
		// label) is an error for the API server too.
		if err := yaml.UnmarshalStrict(doc, &m); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	t.Fatalf("no %s %q rendered", kind, name)
	return nil
}

func TestLint(t *testing.T) {
	h := newHelm(t)
	for _, args := range [][]string{
		nil,
		{"-f", filepath.Join(chartDir, "ci", "ha-values.yaml")},
		designFlags,
	} {
		if out, err := h.run(append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
}

func TestTemplateGolden(t *testing.T) {
	h := newHelm(t)
	tests := []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"design-flags", designFlags},
		{"ha", []string{"-f", filepath.Join(chartDir, "ci", "ha-values.yaml")}},
		{"autoscaling-monitoring", []string{
			"--set", "autoscaling.enabled=true",
			"--set", "metrics.serviceMonitor.enabled=true",
			"--set", "metrics.prometheusRule.enabled=true",
			"--set", "metrics.namespace=monitoring",
			"--set", "controller.replicaCount=1",
			"--set", "image.tag=v0.2.0",
		}},
	}
	wanted := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.template(t, tt.args...)
			file := filepath.Join("testdata", tt.name+".yaml")
			wanted[file] = true
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (go test ./deploy/helm -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from helm template (go test ./deploy/helm -update, then review the diff):\n%s", file, firstDiff(string(want), got))
			}
		})
	}
	if *update {
		files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
		for _, f := range files {
			if !wanted[f] {
				os.Remove(f)
			}
		}
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, wl, gl)
		}
	}
	return ""
}

func TestDesignFlagsShapeTheClusterGateway(t *testing.T) {
	h := newHelm(t)
	objs := docs(t, h.template(t, designFlags...))
	gw := gatewayOf(t, find(t, objs, "Gateway", "default"))
	if gw.Namespace != namespace {
		t.Errorf("Gateway in %q, want the release namespace %q (the cluster gateway's)", gw.Namespace, namespace)
	}
	s := gw.Spec
	if s.Replicas == nil || *s.Replicas != 3 || s.Service.Type != "NodePort" || s.Service.NodePorts.HTTP != 30080 || s.Service.NodePorts.HTTPS != 30443 {
		t.Errorf("spec.replicas %v service %+v, want 3 replicas on NodePorts 30080/30443", s.Replicas, s.Service)
	}
	if cpu, mem := s.Resources.Requests.Cpu().String(), s.Resources.Limits.Memory().String(); cpu != "500m" || mem != "1Gi" {
		t.Errorf("proxy resources cpu request %s memory limit %s, want the design's 500m and 1Gi", cpu, mem)
	}
	dep := find(t, objs, "Deployment", release+"-controller")
	args, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	joined := fmt.Sprint(args)
	for _, want := range []string{"--update-interval=5s", "--leader-elect=true", "--xds-auth=serviceaccount", "--proxy-xds-server=" + release + "-controller." + namespace + ".svc:18000"} {
		if !strings.Contains(joined, want) {
			t.Errorf("controller container lacks %s: %s", want, joined)
		}
	}
}

func gatewayOf(t *testing.T, u *unstructured.Unstructured) *v1alpha1.Gateway {
	t.Helper()
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var gw v1alpha1.Gateway
	if err := yaml.UnmarshalStrict(b, &gw); err != nil {
		t.Fatalf("rendered Gateway does not decode strictly: %v", err)
	}
	return &gw
}

func TestSchemaRejectsBadValues(t *testing.T) {
	h := newHelm(t)
	tests := []struct {
		name    string
		set     string
		wantErr []string // all of these, in Helm's schema error
	}{
		{"node port above 65535", "service.nodePorts.http=70000", []string{"at '/service/nodePorts/http'", "maximum", "want 65,535"}},
		{"node port zero", "service.nodePorts.https=0", []string{"service/nodePorts/https", "minimum"}},
		{"node port on a ClusterIP service", "service.type=ClusterIP,service.nodePorts.http=30080", []string{"service/nodePorts/http", "null"}},
		{"unknown service type", "service.type=External", []string{"service/type", "ClusterIP", "NodePort", "LoadBalancer"}},
		{"negative replicas", "replicaCount=-1", []string{"replicaCount", "minimum"}},
		{"interval that is not a duration", "xds.update.interval=5 seconds", []string{"xds/update/interval", "does not match pattern"}},
		{"misspelt top-level key", "replicacount=3", []string{"replicacount", "not allowed"}},
		{"both disruption bounds", "podDisruptionBudget.minAvailable=2,podDisruptionBudget.maxUnavailable=1", []string{"podDisruptionBudget", "not"}},
		{"anti-affinity outside its enum", "antiAffinity=Always", []string{"antiAffinity", "Preferred", "Required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.run("template", release, chartDir, "--namespace", namespace, "--set", tt.set)
			if err == nil {
				t.Fatalf("--set %s rendered; the schema must refuse it", tt.set)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestHAManifestIsTheChartsHAGateway keeps deploy/gateway-ha.yaml (for
// kubectl apply -f) equal to what the chart renders with its HA values.
func TestHAManifestIsTheChartsHAGateway(t *testing.T) {
	h := newHelm(t)
	rendered := gatewayOf(t, find(t, docs(t, h.template(t, "-f", filepath.Join(chartDir, "ci", "ha-values.yaml"))), "Gateway", "default"))
	b, err := os.ReadFile("../gateway-ha.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file *v1alpha1.Gateway
	for _, u := range docs(t, string(b)) {
		if u.GetKind() == "Gateway" {
			file = gatewayOf(t, u)
		}
	}
	if file == nil {
		t.Fatal("deploy/gateway-ha.yaml holds no Gateway")
	}
	if file.Name != rendered.Name || file.Namespace != rendered.Namespace || !equality.Semantic.DeepEqual(file.Spec, rendered.Spec) {
		fy, _ := yaml.Marshal(file.Spec)
		ry, _ := yaml.Marshal(rendered.Spec)
		t.Errorf("deploy/gateway-ha.yaml (%s/%s) differs from the chart's HA Gateway (%s/%s):\nfile:\n%s\nchart:\n%s", file.Namespace, file.Name, rendered.Namespace, rendered.Name, fy, ry)
	}
	s := file.Spec
	if *s.Replicas != 3 || s.AntiAffinity != v1alpha1.AntiAffinityRequired || s.PodDisruptionBudget.MinAvailable.IntValue() != 2 ||
		s.Service.NodePorts.HTTP != 30080 || s.Service.NodePorts.HTTPS != 30443 || s.Service.ExternalTrafficPolicy != "Local" {
		t.Errorf("HA Gateway %+v lacks one of: 3 replicas, required anti-affinity, minAvailable 2, NodePorts 30080/30443, externalTrafficPolicy Local", s)
	}
}

// TestChartMatchesConfig keeps the chart's CRDs and RBAC rules identical to
// the generated CRDs and config/rbac.
func TestChartMatchesConfig(t *testing.T) {
	gen, err := filepath.Glob("../../config/crd/bases/*.yaml")
	if err != nil || len(gen) == 0 {
		t.Fatalf("no generated CRDs: %v", err)
	}
	inChart, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if len(inChart) != len(gen) {
		t.Errorf("chart has %d CRDs, config/crd/bases %d (copy them: cp config/crd/bases/*.yaml deploy/helm/ksgw/crds/)", len(inChart), len(gen))
	}
	for _, f := range gen {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("deploy/helm/ksgw/crds/%s differs from %s (cp config/crd/bases/*.yaml deploy/helm/ksgw/crds/)", filepath.Base(f), f)
		}
	}

	h := newHelm(t)
	objs := docs(t, h.template(t))
	rolesEqual := func(kind, file string) {
		t.Helper()
		var fromChart, fromConfig struct {
			Rules []rbacv1.PolicyRule `json:"rules"`
		}
		b, _ := yaml.Marshal(find(t, objs, kind, "").Object)
		if err := yaml.Unmarshal(b, &fromChart); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &fromConfig); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(fromChart.Rules, fromConfig.Rules) {
			t.Errorf("chart %s rules differ from %s", kind, file)
		}
	}
	rolesEqual("ClusterRole", "../../config/rbac/role.yaml")
	rolesEqual("Role", "../../config/rbac/leader_election_role.yaml")
}
