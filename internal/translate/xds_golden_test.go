// The xDS rendering of every golden case: input YAML → IR → Envoy
// resources, so that reviewers see what a proxy receives.

package translate

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	xdstranslate "github.com/ksgw/ksgw/internal/xds/translate"
)

func init() {
	extraGoldens = append(extraGoldens, struct {
		suffix string
		render func(testing.TB, *Result) []byte
	}{".xds.yaml", renderXDS})
}

// renderXDS prints each gateway's xDS resources, one YAML document per
// gateway, headed by its node ID.
func renderXDS(t testing.TB, r *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	for i, g := range r.Gateways {
		res, err := xdstranslate.Translate(g)
		if err != nil {
			t.Fatalf("gateway %s: %v", g.Name, err)
		}
		y, err := xdstranslate.ToYAML(res)
		if err != nil {
			t.Fatalf("gateway %s: %v", g.Name, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString("# node " + g.Name + "\n")
		b.Write(y)
	}
	return b.Bytes()
}

// BenchmarkTranslateToXDS is the whole control-plane translation: resources
// → IR → Envoy resources for every gateway, with the memory the result
// holds once garbage is collected ("held-MiB": what a published snapshot
// set costs the control plane).
func BenchmarkTranslateToXDS(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		res := benchResources(n)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var held []*xdstranslate.Resources
			for b.Loop() {
				r := Translate(res, Options{})
				held = held[:0]
				for _, gw := range r.Gateways {
					x, err := xdstranslate.Translate(gw)
					if err != nil {
						b.Fatal(err)
					}
					held = append(held, x)
				}
			}
			b.StopTimer()
			var before, after runtime.MemStats
			held = nil
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := Translate(res, Options{})
			for _, gw := range r.Gateways {
				x, _ := xdstranslate.Translate(gw)
				held = append(held, x)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "held-MiB")
			runtime.KeepAlive(held)
			runtime.KeepAlive(r)
		})
	}
}
