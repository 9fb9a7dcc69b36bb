package v1alpha1_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/ksgw/ksgw/api/v1alpha1"
)

const crdDir = "../../config/crd/bases"

// crdSchema is what the API server builds from a CRD to admit objects:
// pruning, defaulting, OpenAPI validation and CEL rules, in that order
// (k8s.io/apiextensions-apiserver customresource strategy).
type crdSchema struct {
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
	cel        *cel.Validator
}

// admit runs obj through the API server's admission steps and returns every
// error, in apiserver wording. obj is defaulted in place.
func (c *crdSchema) admit(obj map[string]any) []string {
	var errs []string
	unknown := pruning.PruneWithOptions(obj, c.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, p := range unknown {
		errs = append(errs, "unknown field "+p)
	}
	defaulting.Default(obj, c.structural)
	for _, e := range validation.ValidateCustomResource(nil, obj, c.validator) {
		errs = append(errs, e.Error())
	}
	celErrs, _ := c.cel.Validate(context.Background(), nil, c.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	for _, e := range celErrs {
		errs = append(errs, e.Error())
	}
	return errs
}

// loadCRDs parses every generated CRD and returns its schema by kind.
func loadCRDs(t *testing.T) map[string]*crdSchema {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s (run hack/gen.sh): %v", crdDir, err)
	}
	out := map[string]*crdSchema{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v1crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &v1crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
		var crd apiextensions.CustomResourceDefinition
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &crd, nil); err != nil {
			t.Fatalf("%s: convert: %v", f, err)
		}
		crd.Status.StoredVersions = []string{v1alpha1.GroupVersion.Version}
		// Full CRD validation also compiles every x-kubernetes-validations
		// rule and checks its estimated cost against the per-CRD budget, the
		// check that makes `kubectl apply` of a CRD fail in a real cluster.
		if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), &crd); len(errs) > 0 {
			t.Fatalf("%s: invalid CRD: %v", f, errs.ToAggregate())
		}
		if crd.Spec.Group != v1alpha1.GroupName || crd.Spec.Scope != apiextensions.NamespaceScoped {
			t.Fatalf("%s: group %q scope %q", f, crd.Spec.Group, crd.Spec.Scope)
		}
		var props *apiextensions.JSONSchemaProps
		if crd.Spec.Validation != nil {
			props = crd.Spec.Validation.OpenAPIV3Schema
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != v1alpha1.GroupVersion.Version {
				continue
			}
			if v.Schema != nil {
				props = v.Schema.OpenAPIV3Schema
			}
			// The internal form hoists per-version fields to spec when every
			// version shares them.
			sub := crd.Spec.Subresources
			if v.Subresources != nil {
				sub = v.Subresources
			}
			if sub == nil || sub.Status == nil {
				t.Fatalf("%s: no status subresource", f)
			}
		}
		if props == nil {
			t.Fatalf("%s: no schema for %s", f, v1alpha1.GroupVersion.Version)
		}
		s, err := structuralschema.NewStructural(props)
		if err != nil {
			t.Fatalf("%s: structural: %v", f, err)
		}
		validator, _, err := validation.NewSchemaValidator(props)
		if err != nil {
			t.Fatalf("%s: validator: %v", f, err)
		}
		out[crd.Spec.Names.Kind] = &crdSchema{structural: s, validator: validator, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
	}
	return out
}

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// decodeStrict decodes one YAML document the way the API server does with
// fieldValidation=Strict: case-sensitive, unknown and duplicate fields are
// errors. It returns the typed object and its generic form.
func decodeStrict(t *testing.T, scheme *runtime.Scheme, doc []byte) (runtime.Object, map[string]any, error) {
	t.Helper()
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, nil, err
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return nil, nil, err
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return nil, nil, err
	}
	obj, err := scheme.New(gv.WithKind(tm.Kind))
	if err != nil {
		return nil, nil, err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return nil, nil, err
	}
	if len(strictErrs) > 0 {
		return nil, nil, errors.Join(strictErrs...)
	}
	var generic map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &generic); err != nil {
		return nil, nil, err
	}
	return obj, generic, nil
}

func splitYAML(t *testing.T, data []byte) [][]byte {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		d, err := r.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func TestCRDsAreValidAndCoverEveryKind(t *testing.T) {
	crds := loadCRDs(t)
	for _, kind := range []string{v1alpha1.KindGateway, v1alpha1.KindRoute, v1alpha1.KindDestinationRule, v1alpha1.KindSecurityPolicy} {
		if crds[kind] == nil {
			t.Errorf("no CRD for kind %s", kind)
		}
		if _, err := newScheme(t).New(v1alpha1.GroupVersion.WithKind(kind)); err != nil {
			t.Errorf("kind %s not in scheme: %v", kind, err)
		}
	}
}

// Every example under testdata/seed (the design article's YAML, verbatim) and
// testdata/valid (every field exercised) must decode strictly into the Go
// types and be admitted by the CRD schema; Go defaulting must agree with the
// schema's defaults so standalone mode sees what a cluster would store.
func TestExamplesDecodeStrictlyAndPassTheCRDSchema(t *testing.T) {
	crds := loadCRDs(t)
	scheme := newScheme(t)
	files, _ := filepath.Glob("testdata/seed/*.yaml")
	valid, _ := filepath.Glob("testdata/valid/*.yaml")
	files = append(files, valid...)
	if len(files) < 2 {
		t.Fatalf("examples missing: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitYAML(t, data) {
			obj, generic, err := decodeStrict(t, scheme, doc)
			if err != nil {
				t.Errorf("%s doc %d: strict decode: %v", f, i+1, err)
				continue
			}
			kind := generic["kind"].(string)
			if errs := crds[kind].admit(generic); len(errs) > 0 {
				t.Errorf("%s doc %d: rejected by CRD schema:\n  %s", f, i+1, strings.Join(errs, "\n  "))
				continue
			}
			// Compare Go defaulting with the API server's.
			serverDefaulted, _ := scheme.New(obj.GetObjectKind().GroupVersionKind())
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(generic, serverDefaulted); err != nil {
				t.Fatalf("%s doc %d: %v", f, i+1, err)
			}
			obj.(interface{ Default() }).Default()
			if !reflect.DeepEqual(obj, serverDefaulted) {
				t.Errorf("%s doc %d: Go Default() disagrees with CRD defaults:\n go:     %+v\n schema: %+v", f, i+1, obj, serverDefaulted)
			}
		}
	}
}

func TestSeedCopiesAreVerbatim(t *testing.T) {
	shared := filepath.Join("..", "..", "..", "shared", "seed-examples")
	for _, name := range []string{"gateway-tenant-a.yaml", "route-product-canary.yaml"} {
		want, err := os.ReadFile(filepath.Join(shared, name))
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("shared seed examples not beside the repository: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", "seed", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/seed/%s differs from shared/seed-examples/%s", name, name)
		}
	}
}

func TestInvalidObjectsAreRejected(t *testing.T) {
	crds := loadCRDs(t)
	scheme := newScheme(t)
	route := func(rule string) string {
		return "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec:\n  http:\n" + rule
	}
	tests := []struct {
		name    string
		doc     string
		wantErr string // substring of the decode or admission error
		// schemaOnly skips the Go decode, to prove the API server itself
		// refuses what the typed clients could not read back.
		schemaOnly bool
	}{
		{
			name:    "misspelt field is an unknown field with its path",
			doc:     route("  - rout:\n    - destination: {host: a}\n"),
			wantErr: `unknown field "spec.http[0].rout"`,
		},
		{
			name:    "field names are case-sensitive",
			doc:     route("  - route:\n    - destination: {host: a}\n      Weight: 10\n"),
			wantErr: `unknown field "spec.http[0].route[0].Weight"`,
		},
		{
			name:    "negative weight",
			doc:     route("  - route:\n    - destination: {host: a}\n      weight: -1\n"),
			wantErr: "spec.http[0].route[0].weight",
		},
		{
			name:    "string match with two kinds",
			doc:     route("  - match:\n    - uri: {exact: /a, prefix: /b}\n    route:\n    - destination: {host: a}\n"),
			wantErr: "spec.http[0].match[0].uri",
		},
		{
			name:    "empty string match",
			doc:     route("  - match:\n    - uri: {}\n    route:\n    - destination: {host: a}\n"),
			wantErr: "spec.http[0].match[0].uri",
		},
		{
			name:    "rule with route and redirect",
			doc:     route("  - route:\n    - destination: {host: a}\n    redirect: {uri: /x}\n"),
			wantErr: "exactly one of route, redirect or directResponse",
		},
		{
			name:    "rule with no action",
			doc:     route("  - name: nothing\n"),
			wantErr: "exactly one of route, redirect or directResponse",
		},
		{
			name:    "percentage above 100",
			doc:     route("  - route:\n    - destination: {host: a}\n    mirror: {host: b}\n    mirrorPercentage: {value: 100.5}\n"),
			wantErr: "spec.http[0].mirrorPercentage.value",
		},
		{
			name:    "timeout that is not a duration",
			doc:     route("  - route:\n    - destination: {host: a}\n    timeout: soon\n"),
			wantErr: "time: invalid duration",
		},
		{
			name:    "unsupported TLS version",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  tls: {secretName: s, minVersion: \"1.1\"}\n",
			wantErr: "spec.tls.minVersion",
		},
		{
			name:    "unquoted TLS version is a number",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  tls: {secretName: s, minVersion: 1.3}\n",
			wantErr: "cannot unmarshal number",
		},
		{
			name:    "port out of range",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  ports: {http: 70000}\n",
			wantErr: "spec.ports.http",
		},
		{
			name:    "node ports on a ClusterIP service",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  service: {nodePorts: {http: 30080}}\n",
			wantErr: "nodePorts require type NodePort or LoadBalancer",
		},
		{
			name:    "external traffic policy on a ClusterIP service",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  service: {type: ClusterIP, externalTrafficPolicy: Local}\n",
			wantErr: "externalTrafficPolicy requires type NodePort or LoadBalancer",
		},
		{
			name:    "same node port for http and https",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  service: {type: NodePort, nodePorts: {http: 30080, https: 30080}}\n",
			wantErr: "http and https node ports must differ",
		},
		{
			name:    "node port out of range",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  service: {type: NodePort, nodePorts: {https: 70000}}\n",
			wantErr: "spec.service.nodePorts.https",
		},
		{
			name:    "disruption budget with both bounds",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  podDisruptionBudget: {minAvailable: 2, maxUnavailable: 1}\n",
			wantErr: "set at most one of minAvailable and maxUnavailable",
		},
		{
			name:    "unknown anti-affinity",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  antiAffinity: Sometimes\n",
			wantErr: "spec.antiAffinity",
		},
		{
			name:    "simple and consistent hash together",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: a\n  trafficPolicy:\n    loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}\n",
			wantErr: "simple and consistentHash are mutually exclusive",
		},
		{
			name:    "unknown load balancer",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: a\n  trafficPolicy:\n    loadBalancer: {simple: WEIGHTED}\n",
			wantErr: "spec.trafficPolicy.loadBalancer.simple",
		},
		{
			name:    "policy targeting an unknown kind",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec:\n  targetRef: {kind: Service, name: a}\n",
			wantErr: "spec.targetRef.kind",
		},
		{
			name:    "rego module both inline and from a ConfigMap",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec:\n  targetRef: {kind: Gateway, name: g}\n  waf:\n    rego:\n    - {name: m, inline: x, configMapRef: {name: c, key: k}}\n",
			wantErr: "exactly one of inline or configMapRef",
		},
		{
			name:    "waf with neither rego nor crs",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec:\n  targetRef: {kind: Gateway, name: g}\n  waf: {}\n",
			wantErr: "at least one of rego or crs must be set",
		},
		{
			name:    "crs paranoia level above 4",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec:\n  targetRef: {kind: Gateway, name: g}\n  waf: {crs: {paranoiaLevel: 5}}\n",
			wantErr: "spec.waf.crs.paranoiaLevel",
		},
		{
			name:    "crs anomaly threshold zero",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec:\n  targetRef: {kind: Gateway, name: g}\n  waf: {crs: {anomalyThreshold: 0}}\n",
			wantErr: "spec.waf.crs.anomalyThreshold",
		},
		{
			name:    "empty ipAccess",
			doc:     "apiVersion: networking.kubesphere.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec:\n  targetRef: {kind: Gateway, name: g}\n  ipAccess: {}\n",
			wantErr: "allow or deny must list at least one CIDR",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				generic map[string]any
				err     error
			)
			if tt.schemaOnly {
				err = yaml.Unmarshal([]byte(tt.doc), &generic)
			} else {
				_, generic, err = decodeStrict(t, scheme, []byte(tt.doc))
			}
			var all []string
			if err != nil {
				all = append(all, err.Error())
			} else {
				all = crds[generic["kind"].(string)].admit(generic)
			}
			joined := strings.Join(all, "\n")
			if !strings.Contains(joined, tt.wantErr) {
				t.Errorf("want error containing %q, got:\n%s", tt.wantErr, joined)
			}
		})
	}
}
