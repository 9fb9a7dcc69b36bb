package translate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestDumpGroupsByKindExpandsAnysAndRedactsKeys(t *testing.T) {
	r := mustTranslate(t, fullGateway())
	j, err := ToJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	y, err := ToYAML(r)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"json": j, "yaml": y} {
		var doc map[string][]map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for kind, n := range map[string]int{"listeners": 4, "routes": 4, "clusters": 4, "endpoints": 4, "secrets": 5} {
			if len(doc[kind]) != n {
				t.Errorf("%s: %d %s, want %d", name, len(doc[kind]), kind, n)
			}
		}
		s := string(b)
		for _, key := range []string{"key", "client-key", "z-key"} {
			if strings.Contains(s, b64(key)) {
				t.Errorf("%s: private key %q printed", name, key)
			}
		}
		if strings.Count(s, "[redacted]") != 3 {
			t.Errorf("%s: want 3 redacted keys", name)
		}
		if !strings.Contains(s, "HttpConnectionManager") || !strings.Contains(s, "stat_prefix") {
			t.Errorf("%s: typed configs not expanded", name)
		}
	}
	if !json.Valid(j) {
		t.Error("ToJSON is not JSON")
	}
	// Redaction works on a copy: the resources served keep their keys.
	for _, s := range r.Secrets {
		if bytes.Contains([]byte(s.(interface{ String() string }).String()), []byte("[redacted]")) {
			t.Error("redaction modified the served secret")
		}
	}
}

func b64(s string) string {
	b, _ := json.Marshal([]byte(s))
	return strings.Trim(string(b), `"`)
}
