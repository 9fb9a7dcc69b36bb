package resource

import (
	"os"
	"testing"
)

// FuzzLoad feeds arbitrary bytes through the loader as one file. The loader
// must never panic, and what it accepts must be usable: named, namespaced
// where the kind is, and reported at most once.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/gateway-tenant-a.yaml", "testdata/route-product-canary.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(gw + "---\n" + route("ns", "r") + "---\n" + route("ns", "r")))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: s}}\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"a":"b"}}`))
	f.Add([]byte("kind: [unclosed\n---\n- a\n---\n# comment\n---\nnull\n"))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, errs := Load(mapFS(map[string]string{"f.yaml": string(data)}), Options{})
		if res == nil {
			t.Fatal("nil bundle")
		}
		seen := map[string]bool{}
		for _, n := range names(res) {
			if seen[n] {
				t.Errorf("object %s loaded twice", n)
			}
			seen[n] = true
		}
		for _, r := range res.Routes {
			if r.Name == "" || r.Namespace == "" {
				t.Errorf("route without name or namespace: %q/%q", r.Namespace, r.Name)
			}
		}
		for _, e := range errs {
			if e.File != "f.yaml" || e.Err == nil {
				t.Errorf("malformed error %#v", e)
			}
			_ = e.Error()
		}
	})
}
