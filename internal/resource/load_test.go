package resource

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const gw = `apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata:
  name: g
  namespace: tenant-a
spec:
  hosts: ["*.tenant-a.example.com"]
`

func route(ns, name string) string {
	return "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
		"\nspec:\n  http:\n  - route:\n    - destination: {host: a}\n"
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

// names lists "kind ns/name" of every object, in bundle order.
func names(r *Resources) []string {
	var out []string
	for _, o := range r.Gateways {
		out = append(out, "Gateway "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.Routes {
		out = append(out, "Route "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.DestinationRules {
		out = append(out, "DestinationRule "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.SecurityPolicies {
		out = append(out, "SecurityPolicy "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.Ingresses {
		out = append(out, "Ingress "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.IngressClasses {
		out = append(out, "IngressClass "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.Services {
		out = append(out, "Service "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.EndpointSlices {
		out = append(out, "EndpointSlice "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.Pods {
		out = append(out, "Pod "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.Secrets {
		out = append(out, "Secret "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.ConfigMaps {
		out = append(out, "ConfigMap "+o.Namespace+"/"+o.Name)
	}
	for _, o := range r.Namespaces {
		out = append(out, "Namespace "+o.Namespace+"/"+o.Name)
	}
	return out
}

func errStrings(errs []LoadError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		opts     Options
		wantObjs []string
		wantErrs []string // exact LoadError.Error() strings, in order
	}{
		{
			name:     "misspelt field names file, document, object and field",
			files:    map[string]string{"gw.yaml": gw + "---\n" + strings.Replace(route("tenant-a", "x"), "- route:", "- rout:", 1)},
			wantObjs: []string{"Gateway tenant-a/g"},
			wantErrs: []string{`file gw.yaml doc 2: Route tenant-a/x: unknown field "spec.http[0].rout"`},
		},
		{
			name: "malformed file does not stop the others",
			files: map[string]string{
				"a.yaml": "kind: [unclosed\n",
				"b.yaml": gw,
				"c.yaml": route("tenant-a", "r"),
			},
			wantObjs: []string{"Gateway tenant-a/g", "Route tenant-a/r"},
			wantErrs: []string{"file a.yaml doc 1: invalid YAML: line 1: did not find expected ',' or ']'"},
		},
		{
			name: "bad document does not stop later documents of the same file",
			files: map[string]string{
				"all.yaml": route("ns", "a") + "---\nkind: [x\n---\n" + route("ns", "b"),
			},
			wantObjs: []string{"Route ns/a", "Route ns/b"},
			wantErrs: []string{"file all.yaml doc 2: invalid YAML: line 11: did not find expected ',' or ']'"},
		},
		{
			name: "duplicate keeps the first by file path and reports the second",
			files: map[string]string{
				"b.yaml":     route("ns", "r"),
				"a/r.yaml":   strings.Replace(route("ns", "r"), "host: a", "host: from-a-dir", 1),
				"a.yaml":     strings.Replace(route("ns", "r"), "host: a", "host: first", 1),
				"other.yaml": strings.Replace(route("ns", "r"), "kind: Route", "kind: DestinationRule", 1),
			},
			wantObjs: []string{"Route ns/r"},
			wantErrs: []string{
				`file a/r.yaml doc 1: Route ns/r: duplicate object: already defined in file a.yaml doc 1`,
				`file b.yaml doc 1: Route ns/r: duplicate object: already defined in file a.yaml doc 1`,
				`file other.yaml doc 1: DestinationRule ns/r: unknown field "spec.http"`,
			},
		},
		{
			name:     "same name in another namespace or kind is no duplicate",
			files:    map[string]string{"a.yaml": route("ns1", "r") + "---\n" + route("ns2", "r") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: r, namespace: ns1}\n"},
			wantObjs: []string{"Route ns1/r", "Route ns2/r", "Service ns1/r"},
		},
		{
			name: "directories are read recursively and only manifests are read",
			files: map[string]string{
				"tenants/a/gw.yml":   gw,
				"tenants/b/r.json":   `{"apiVersion":"networking.kubesphere.io/v1alpha1","kind":"Route","metadata":{"name":"j","namespace":"b"},"spec":{}}`,
				"README.md":          "# not a manifest",
				"tenants/a/gw.yaml~": "garbage: [",
				"tenants/UPPER.YAML": route("up", "u"),
			},
			wantObjs: []string{"Gateway tenant-a/g", "Route b/j", "Route up/u"},
		},
		{
			name: "hidden entries and ConfigMap volume internals are skipped",
			files: map[string]string{
				"..2026_01_01_00_00_00.1/r.yaml": route("ns", "r"),
				"..data/r.yaml":                  route("ns", "r"),
				"r.yaml":                         route("ns", "r"),
				".r.yaml.swp":                    "garbage: [",
				".git/config.yaml":               "garbage: [",
			},
			wantObjs: []string{"Route ns/r"},
		},
		{
			name:     "empty namespace defaults to default",
			files:    map[string]string{"r.yaml": "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec: {}\n"},
			wantObjs: []string{"Route default/r"},
		},
		{
			name:     "empty namespace defaults to the configured namespace",
			files:    map[string]string{"r.yaml": "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec: {}\n"},
			opts:     Options{DefaultNamespace: "standalone"},
			wantObjs: []string{"Route standalone/r"},
		},
		{
			name: "cluster-scoped kinds have no namespace",
			files: map[string]string{"c.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: tenant-a, namespace: x}\n---\n" +
				"apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: ksgw}\nspec: {controller: ksgw.io/controller}\n"},
			wantObjs: []string{"IngressClass /ksgw", "Namespace /tenant-a"},
		},
		{
			name: "List items load as documents",
			files: map[string]string{"list.yaml": "apiVersion: v1\nkind: List\nitems:\n" +
				"- {apiVersion: v1, kind: Service, metadata: {name: s, namespace: ns}}\n" +
				"- {apiVersion: v1, kind: Service, metadata: {name: t, namespace: ns}, spec: {bogus: 1}}\n" +
				"- {apiVersion: v1, kind: List, items: []}\n"},
			wantObjs: []string{"Service ns/s"},
			wantErrs: []string{
				`file list.yaml doc 1: Service ns/t: unknown field "spec.bogus"`,
				"file list.yaml doc 1: List: a List inside a List is not supported",
			},
		},
		{
			name:     "unknown kind is reported",
			files:    map[string]string{"d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"},
			wantErrs: []string{"file d.yaml doc 1: Deployment d: unsupported kind apps/v1 Deployment"},
		},
		{
			name:  "unknown kind is ignored on request",
			files: map[string]string{"d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"},
			opts:  Options{IgnoreUnknownKinds: true},
		},
		{
			name:     "wrong type names the field and the expected type",
			files:    map[string]string{"g.yaml": strings.Replace(gw, "spec:\n", "spec:\n  tls: {secretName: s, minVersion: 1.3}\n", 1)},
			wantErrs: []string{"file g.yaml doc 1: Gateway tenant-a/g: spec.tls.minVersion: cannot unmarshal number into v1alpha1.TLSVersion"},
		},
		{
			name:     "duplicate YAML key",
			files:    map[string]string{"g.yaml": gw + "  hosts: [b]\n"},
			wantErrs: []string{`file g.yaml doc 1: invalid YAML: line 8: key "hosts" already set in map`},
		},
		{
			name:     "field names are case-sensitive",
			files:    map[string]string{"g.yaml": strings.Replace(gw, "hosts:", "Hosts:", 1)},
			wantErrs: []string{`file g.yaml doc 1: Gateway tenant-a/g: unknown field "spec.Hosts"`},
		},
		{
			name: "document numbers skip empty and comment-only documents",
			files: map[string]string{"r.yaml": "---\n# only a comment\n---\n" + route("ns", "a") + "---\n\n---\n" +
				strings.Replace(route("ns", "b"), "host: a", "hots: a", 1)},
			wantObjs: []string{"Route ns/a"},
			wantErrs: []string{`file r.yaml doc 2: Route ns/b: unknown field "spec.http[0].route[0].destination.hots"`},
		},
		{
			name: "missing name and invalid names",
			files: map[string]string{"r.yaml": "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {namespace: ns}\n---\n" +
				route("Bad_NS", "r")},
			wantErrs: []string{
				"file r.yaml doc 1: Route: metadata.name is required",
				`file r.yaml doc 2: Route Bad_NS/r: metadata.namespace "Bad_NS": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			},
		},
		{
			name:     "metadata of the wrong type",
			files:    map[string]string{"r.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: 5}\n"},
			wantErrs: []string{"file r.yaml doc 1: Service: metadata.name: cannot unmarshal number into string"},
		},
		{
			name:     "missing kind",
			files:    map[string]string{"r.yaml": "metadata: {name: r}\n"},
			wantErrs: []string{"file r.yaml doc 1: apiVersion and kind are required"},
		},
		{
			name:     "document that is not an object",
			files:    map[string]string{"r.yaml": "- a\n- b\n"},
			wantErrs: []string{"file r.yaml doc 1: document is not an object"},
		},
		{
			name:     "file over the size limit",
			files:    map[string]string{"big.yaml": route("ns", "r")},
			opts:     Options{MaxFileBytes: 10},
			wantErrs: []string{"file big.yaml: file larger than 10 bytes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, errs := Load(mapFS(tt.files), tt.opts)
			if got := names(res); !slices.Equal(got, tt.wantObjs) {
				t.Errorf("objects:\n got  %q\n want %q", got, tt.wantObjs)
			}
			if got := errStrings(errs); !slices.Equal(got, tt.wantErrs) {
				t.Errorf("errors:\n got  %q\n want %q", got, tt.wantErrs)
			}
		})
	}
}

func TestLoadSeedExamplesAsTheAPIServerWouldStoreThem(t *testing.T) {
	res, errs := LoadDir("testdata", Options{})
	if len(errs) > 0 {
		t.Fatalf("errors: %q", errStrings(errs))
	}
	if len(res.Gateways) != 1 || len(res.Routes) != 1 {
		t.Fatalf("got %q", names(res))
	}
	g := res.Gateways[0]
	if g.Spec.TLS == nil || g.Spec.TLS.SecretName != "tenant-a-tls" || g.Spec.Ports.HTTP != 8080 || g.Spec.Ports.HTTPS != 8443 {
		t.Errorf("gateway spec not decoded or defaulted: %+v", g.Spec)
	}
	r := res.Routes[0]
	if r.Namespace != "default" {
		t.Errorf("route namespace %q, want default", r.Namespace)
	}
	dests := r.Spec.HTTP[0].Route
	if len(dests) != 2 || dests[0].Destination.Subset != "v1" || dests[0].Weight != 90 || dests[1].Weight != 10 {
		t.Errorf("canary split not decoded: %+v", dests)
	}
}

func TestLoadSortsByNamespaceThenName(t *testing.T) {
	res, errs := Load(mapFS(map[string]string{
		"1.yaml": route("b", "a"),
		"2.yaml": route("a", "z"),
		"3.yaml": route("a", "b"),
	}), Options{})
	if len(errs) > 0 {
		t.Fatal(errStrings(errs))
	}
	if got, want := names(res), []string{"Route a/b", "Route a/z", "Route b/a"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadMergesSecretStringData(t *testing.T) {
	res, errs := Load(mapFS(map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: YQ==, b: YQ==}\nstringData: {b: bee, c: sea}\n"}), Options{})
	if len(errs) > 0 {
		t.Fatal(errStrings(errs))
	}
	s := res.Secrets[0]
	if string(s.Data["a"]) != "a" || string(s.Data["b"]) != "bee" || string(s.Data["c"]) != "sea" || s.StringData != nil {
		t.Errorf("data %q stringData %q", s.Data, s.StringData)
	}
}

func TestLoadErrorUnwrapsAndNamesFieldOnce(t *testing.T) {
	_, errs := Load(mapFS(map[string]string{"d.yaml": route("ns", "r") + "---\n" + route("ns", "r")}), Options{})
	if len(errs) != 1 || !errors.Is(errs[0], ErrDuplicate) {
		t.Fatalf("want one ErrDuplicate, got %q", errStrings(errs))
	}
	e := LoadError{File: "f", Doc: 1, Kind: "Route", Namespace: "n", Name: "r", Field: "spec.x", Err: errors.New("bad")}
	if got, want := e.Error(), "file f doc 1: Route n/r: spec.x: bad"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadDirMissing(t *testing.T) {
	res, errs := LoadDir(t.TempDir()+"/missing", Options{})
	if res == nil || res.Len() != 0 || len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) {
		t.Errorf("got %v %q", res, errStrings(errs))
	}
}

// A cached load must give exactly what a fresh load gives, through edits,
// deletions and a duplicate moving between files, and must not decode an
// unchanged file again (its objects are the very same).
func TestLoadCachedEqualsFreshLoad(t *testing.T) {
	steps := []map[string]string{
		{"a.yaml": route("ns", "a"), "b.yaml": route("ns", "b")},
		{"a.yaml": route("ns", "a"), "b.yaml": route("ns", "b2")},                             // b edited
		{"a.yaml": route("ns", "a"), "b.yaml": route("ns", "b2"), "c.yaml": route("ns", "a")}, // duplicate in a later file
		{"b.yaml": route("ns", "b2"), "c.yaml": route("ns", "a")},                             // a gone: c's copy wins
		{"b.yaml": "kind: [", "c.yaml": route("ns", "a")},                                     // b broken
	}
	var cache Cache
	var prev *Resources
	for i, files := range steps {
		fresh, freshErrs := Load(mapFS(files), Options{})
		got, gotErrs := LoadCached(mapFS(files), Options{}, &cache)
		if !reflect.DeepEqual(names(got), names(fresh)) || !reflect.DeepEqual(errStrings(gotErrs), errStrings(freshErrs)) {
			t.Fatalf("step %d: cached load %v %v, fresh load %v %v", i, names(got), errStrings(gotErrs), names(fresh), errStrings(freshErrs))
		}
		if !reflect.DeepEqual(got.Origins, fresh.Origins) {
			t.Errorf("step %d: origins %v, want %v", i, got.Origins, fresh.Origins)
		}
		var fc Cache
		LoadCached(mapFS(files), Options{}, &fc)
		if cache.ContentHash() != fc.ContentHash() || cache.Digest() != fc.Digest() {
			t.Errorf("step %d: hashes differ from a fresh cache's", i)
		}
		if i == 1 && got.Routes[0] != prev.Routes[0] {
			t.Errorf("step 1: unchanged a.yaml was decoded again")
		}
		prev = got
	}
}
