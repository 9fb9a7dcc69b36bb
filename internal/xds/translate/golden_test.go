package translate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ksgw/ksgw/internal/ir"
)

var update = flag.Bool("update", false, "rewrite testdata/*.xds.yaml from testdata/*.ir.yaml and delete orphans")

// TestGolden translates every testdata/<case>.ir.yaml and compares the
// dump with testdata/<case>.xds.yaml. Reviewers read the .xds.yaml diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.ir.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 12 {
		t.Errorf("only %d golden cases; every feature needs one", len(inputs))
	}
	want := map[string]bool{}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".ir.yaml")
		out := filepath.Join("testdata", name+".xds.yaml")
		want[out] = true
		t.Run(name, func(t *testing.T) {
			gw, err := loadIR(in)
			if err != nil {
				t.Fatal(err)
			}
			res := mustTranslate(t, gw)
			assertProxyAccepts(t, res)
			got, err := ToYAML(res)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/xds/translate -update)", err)
			}
			if !bytes.Equal(exp, got) {
				t.Errorf("%s differs from the translation (run go test ./internal/xds/translate -update and review the diff):\n%s", out, firstDiff(string(exp), string(got)))
			}
		})
	}
	outputs, _ := filepath.Glob("testdata/*.xds.yaml")
	for _, out := range outputs {
		if want[out] {
			continue
		}
		if *update {
			if err := os.Remove(out); err != nil {
				t.Error(err)
			}
			continue
		}
		t.Errorf("%s has no .ir.yaml input (run -update to delete it)", out)
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("first difference at line %d:\n-%s\n+%s", i+1, a, b)
		}
	}
	return "(trailing difference)"
}

// loadIR reads an ir.Gateway from YAML written for people: field names in
// any case (encoding/json matches them case-insensitively), durations as
// Go duration strings ("1.5s"), enums by name ("SegmentPrefix", "Maglev",
// "HTTP2") and key material as plain text. It rewrites those into what
// encoding/json expects for the IR's types, then decodes strictly.
func loadIR(path string) (*ir.Gateway, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	doc, err = irFromHuman(doc, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var gw ir.Gateway
	if err := dec.Decode(&gw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &gw, nil
}

var (
	durationKeys = map[string]bool{"timeout": true, "delay": true, "maxage": true, "idletimeout": true, "interval": true,
		"connecttimeout": true, "pertrytimeout": true, "baseejectiontime": true, "ttl": true}
	bytesKeys     = map[string]bool{"certificatechain": true, "privatekey": true, "cacertificates": true}
	pathKinds     = map[string]ir.PathMatchKind{"Prefix": ir.PathPrefix, "Exact": ir.PathExact, "SegmentPrefix": ir.PathSegmentPrefix, "Regex": ir.PathRegex}
	stringKinds   = map[string]ir.StringMatchKind{"Exact": ir.MatchExact, "Prefix": ir.MatchPrefix, "Regex": ir.MatchRegex, "Present": ir.MatchPresent}
	lbPolicyNames = map[string]ir.LBPolicy{"RoundRobin": ir.RoundRobin, "LeastRequest": ir.LeastRequest, "Random": ir.Random, "RingHash": ir.RingHash, "Maglev": ir.Maglev}
	protocols     = map[string]ir.Protocol{"HTTP1": ir.HTTP1, "HTTP2": ir.HTTP2}
)

// irFromHuman rewrites v, the value under key parent (lower case).
func irFromHuman(v any, parent string) (any, error) {
	switch v := v.(type) {
	case []any:
		for i := range v {
			var err error
			if v[i], err = irFromHuman(v[i], parent); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", parent, i, err)
			}
		}
		return v, nil
	case map[string]any:
		for k, val := range v {
			lk := strings.ToLower(k)
			s, isString := val.(string)
			var err error
			switch {
			case isString && durationKeys[lk]:
				var d time.Duration
				d, err = time.ParseDuration(s)
				val = int64(d)
			case isString && bytesKeys[lk]:
				val = base64.StdEncoding.EncodeToString([]byte(s))
			case isString && lk == "kind" && parent == "path":
				val, err = enum(pathKinds, s)
			case isString && lk == "kind" && (parent == "match" || parent == "alloworigins"):
				val, err = enum(stringKinds, s)
			case isString && lk == "policy":
				val, err = enum(lbPolicyNames, s)
			case isString && lk == "protocol":
				val, err = enum(protocols, s)
			default:
				val, err = irFromHuman(val, lk)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			v[k] = val
		}
		return v, nil
	}
	return v, nil
}

func enum[T ~int](names map[string]T, s string) (T, error) {
	v, ok := names[s]
	if !ok {
		return 0, fmt.Errorf("unknown value %q", s)
	}
	return v, nil
}
