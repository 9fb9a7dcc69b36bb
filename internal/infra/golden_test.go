package infra_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/infra"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current output and remove orphans")

// testOptions are the controller's options as the Helm chart sets them.
func testOptions() infra.Options {
	return infra.Options{
		Image:               "ghcr.io/ksgw/ksgw:v0.1.0",
		XDSServer:           "ksgw-controller.ksgw-system.svc:18000",
		ControllerNamespace: "ksgw-system",
		ControllerPodLabels: map[string]string{"app.kubernetes.io/name": "ksgw", "app.kubernetes.io/component": "controller"},
		ControllerXDSPort:   18000,
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		in   string
		opts func(*infra.Options)
	}{
		{in: "seed"},
		{in: "ha-nodeport", opts: func(o *infra.Options) {
			o.MetricsNamespaces = []string{"monitoring"}
			o.EgressNamespaces = []string{"observability"}
			o.DrainTimeout = 30 * time.Second
			o.LogLevel = "warn"
		}},
		{in: "cluster-gateway", opts: func(o *infra.Options) {
			o.GatewayNamespaces = []string{"tenant-b", "ksgw-system", "tenant-a"}
			o.TokenAudience = "ksgw.example.com"
			o.ImagePullPolicy = "IfNotPresent"
		}},
		{in: "long-name"},
	}
	wanted := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			gw := loadGateway(t, filepath.Join("testdata", tt.in+".in.yaml"))
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			objs, err := infra.Render(gw, opts)
			if err != nil {
				t.Fatal(err)
			}
			got := toYAML(t, objs)
			out := filepath.Join("testdata", tt.in+".out.yaml")
			wanted[out] = true
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/infra -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendered objects (go test ./internal/infra -update, then review the diff):\n%s", out, diff(string(want), string(got)))
			}
		})
	}
	if *update {
		outs, _ := filepath.Glob(filepath.Join("testdata", "*.out.yaml"))
		for _, f := range outs {
			if !wanted[f] {
				os.Remove(f)
			}
		}
	}
}

func loadGateway(t *testing.T, path string) *v1alpha1.Gateway {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gw v1alpha1.Gateway
	if err := yaml.UnmarshalStrict(data, &gw); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	gw.Default()
	return &gw
}

// toYAML prints objects as a multi-document manifest in the form the
// controller applies them.
func toYAML(t *testing.T, objs []client.Object) []byte {
	t.Helper()
	var b bytes.Buffer
	for i, o := range objs {
		u, err := infra.Unstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes()
}

// diff prints the first differing lines of two texts.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			out = append(out, fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, wl, gl))
			if len(out) == 10 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
