package translate

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/resource"
)

var update = flag.Bool("update", false, "regenerate golden files under testdata/golden and delete orphans")

const goldenDir = "testdata/golden"

// Directives a case's input may start with, as YAML comments:
//
//	# default-namespace: tenant-a      (namespace of objects that have none; the seed's Route has none)
//	# controller-namespace: ksgw-system
func directives(in []byte) (resource.Options, Options) {
	var ro resource.Options
	var o Options
	for _, line := range strings.Split(string(in), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "default-namespace":
			ro.DefaultNamespace = strings.TrimSpace(v)
		case "controller-namespace":
			o.ControllerNamespace = strings.TrimSpace(v)
		}
	}
	return ro, o
}

func loadCase(t testing.TB, in []byte) (*resource.Resources, Options) {
	t.Helper()
	ro, o := directives(in)
	res, errs := resource.Load(fstest.MapFS{"in.yaml": {Data: in}}, ro)
	for _, e := range errs {
		t.Errorf("load: %v", e)
	}
	return res, o
}

func TestGolden(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join(goldenDir, "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatal("no golden cases")
	}
	want := map[string]bool{}
	for _, inPath := range ins {
		name := strings.TrimSuffix(filepath.Base(inPath), ".in.yaml")
		outPath := filepath.Join(goldenDir, name+".out.yaml")
		want[outPath] = true
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			res, opts := loadCase(t, in)
			got := renderResult(t, Translate(res, opts))
			checkGolden(t, outPath, got)
			for _, x := range extraGoldens {
				p := filepath.Join(goldenDir, name+x.suffix)
				want[p] = true
				checkGolden(t, p, x.render(t, Translate(res, opts)))
			}
		})
	}
	// With -run selecting some cases, want holds only those: pruning then
	// would delete every other case's outputs.
	if *update && flag.Lookup("test.run").Value.String() == "" {
		// Orphans are outputs of a registered kind whose input is gone; the
		// outputs of a rendering not compiled in (see xds_golden_test.go)
		// are left alone.
		suffixes := []string{".out.yaml"}
		for _, x := range extraGoldens {
			suffixes = append(suffixes, x.suffix)
		}
		all, _ := filepath.Glob(filepath.Join(goldenDir, "*.yaml"))
		for _, p := range all {
			registered := false
			for _, s := range suffixes {
				registered = registered || strings.HasSuffix(p, s)
			}
			if registered && !want[p] {
				if err := os.Remove(p); err != nil {
					t.Error(err)
				}
			}
		}
	}
}

// extraGoldens are further renderings of each case (the xDS of
// internal/xds/translate, once it exists), registered by other test files.
var extraGoldens []struct {
	suffix string
	render func(testing.TB, *Result) []byte
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/translate -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the translation (run go test ./internal/translate -update and review the diff):\n%s", path, lineDiff(string(want), string(got)))
	}
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("first difference at line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return ""
}

// renderResult prints a Result for review: IR with zero values left out,
// durations as strings, enums by name; statuses; problems as `ksgw
// validate` prints them.
func renderResult(t testing.TB, r *Result) []byte {
	t.Helper()
	out := map[string]any{}
	var gws []any
	for _, g := range r.Gateways {
		gws = append(gws, renderGateway(g))
	}
	out["gateways"] = gws
	var sts []any
	for _, s := range r.Statuses {
		var conds []any
		for _, c := range s.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
		}
		sts = append(sts, map[string]any{
			"object":             fmt.Sprintf("%s %s/%s", s.Kind, s.Namespace, s.Name),
			"observedGeneration": s.Generation,
			"conditions":         conds,
		})
	}
	out["statuses"] = sts
	var ps []string
	for _, p := range r.Problems {
		ps = append(ps, p.String())
	}
	out["problems"] = ps
	b, err := yaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func renderGateway(g *ir.Gateway) any {
	m := tree(reflect.ValueOf(*g)).(map[string]any)
	// Listeners that share their virtual hosts (the common case: the same
	// routes over http and https) print them once.
	ls := m["Listeners"].([]any)
	for i := 1; i < len(g.Listeners); i++ {
		for j := 0; j < i; j++ {
			a, b := g.Listeners[j].VirtualHosts, g.Listeners[i].VirtualHosts
			if len(a) > 0 && len(a) == len(b) && &a[0] == &b[0] {
				ls[i].(map[string]any)["VirtualHosts"] = "same as " + g.Listeners[j].Name
				break
			}
		}
	}
	return m
}

var enumNames = map[reflect.Type][]string{
	reflect.TypeOf(ir.MatchExact): {"Exact", "Prefix", "Regex", "Present"},
	reflect.TypeOf(ir.PathPrefix): {"Prefix", "Exact", "SegmentPrefix", "Regex"},
	reflect.TypeOf(ir.RoundRobin): {"RoundRobin", "LeastRequest", "Random", "RingHash", "Maglev"},
	reflect.TypeOf(ir.HTTP1):      {"HTTP1", "HTTP2"},
}

// tree converts v to maps, slices and scalars, leaving out zero values, so
// that golden files show what is set and nothing else. Enum fields are
// always printed (their zero value is meaningful).
func tree(v reflect.Value) any {
	if names, ok := enumNames[v.Type()]; ok {
		i := int(v.Int())
		if i >= 0 && i < len(names) {
			return names[i]
		}
		return i
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return tree(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			_, enum := enumNames[f.Type()]
			if f.IsZero() && !enum && f.Type() != reflect.TypeOf(ir.LoadBalancer{}) {
				continue
			}
			m[v.Type().Field(i).Name] = tree(f)
		}
		return m
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return string(v.Bytes())
		}
		s := make([]any, v.Len())
		for i := range s {
			s[i] = tree(v.Index(i))
		}
		return s
	case reflect.Int64:
		if v.Type() == reflect.TypeOf(time.Duration(0)) {
			return time.Duration(v.Int()).String()
		}
	}
	return v.Interface()
}
