package translate

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/ksgw/ksgw/internal/resource"
)

// FuzzTranslate decodes fuzzed YAML through resource.Load, as `ksgw
// validate` and the file provider do, and checks that translation never
// panics, is deterministic and leaves its input alone. The golden inputs
// are the seed corpus.
func FuzzTranslate(f *testing.F) {
	ins, _ := filepath.Glob(filepath.Join(goldenDir, "*.in.yaml"))
	for _, p := range ins {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "tenant-a")
	}
	f.Fuzz(func(t *testing.T, in []byte, controllerNS string) {
		res, _ := resource.Load(fstest.MapFS{"in.yaml": {Data: in}}, resource.Options{})
		before := deepCopy(res)
		opts := Options{ControllerNamespace: controllerNS}
		a := Translate(res, opts)
		b := Translate(res, opts)
		if !reflect.DeepEqual(a, b) {
			t.Fatal("two translations of the same input differ")
		}
		if !reflect.DeepEqual(before, res) {
			t.Fatal("Translate modified its input")
		}
		for _, g := range a.Gateways {
			names := map[string]bool{}
			for _, c := range g.Clusters {
				names[c.Name] = true
			}
			for _, l := range g.Listeners {
				for _, vh := range l.VirtualHosts {
					for _, r := range vh.Routes {
						if r.Forward == nil {
							continue
						}
						for _, be := range r.Forward.Backends {
							if !names[be.Cluster] {
								t.Fatalf("route %s points at missing cluster %s", r.Name, be.Cluster)
							}
						}
					}
				}
			}
		}
	})
}
