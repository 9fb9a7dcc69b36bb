// The xDS rendering of every golden case: input YAML → IR → Envoy
// resources, so that reviewers see what a proxy receives.

package translate

import (
	"bytes"
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
