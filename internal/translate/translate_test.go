package translate

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/resource"
)

const baseYAML = `
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: gw, namespace: a}
spec: {hosts: ["*.a.example.com", a.example.com]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: cluster, namespace: ksgw-system}
spec: {}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: a}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: two, namespace: a}
spec: {selector: {app: web}, ports: [{name: p1, port: 80}, {name: p2, port: 81}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: a, labels: {app: web, v: "1"}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 127.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: a, labels: {app: web, v: "2"}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 127.0.0.2}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: DestinationRule
metadata: {name: web, namespace: a}
spec: {host: web, subsets: [{name: v1, labels: {v: "1"}}, {name: v3, labels: {v: "3"}}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: b}
spec: {selector: {app: web}, ports: [{port: 80}]}
`

func load(t testing.TB, docs ...string) *resource.Resources {
	t.Helper()
	res, errs := resource.Load(fstest.MapFS{"in.yaml": {Data: []byte(strings.Join(docs, "\n---\n"))}}, resource.Options{})
	for _, e := range errs {
		t.Fatalf("load: %v", e)
	}
	return res
}

func problems(r *Result) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.String())
	}
	return out
}

func routeNames(vh *ir.VirtualHost) []string {
	var out []string
	for _, r := range vh.Routes {
		out = append(out, r.Name)
	}
	return out
}

func findVHost(t testing.TB, r *Result, gw, host string) *ir.VirtualHost {
	t.Helper()
	for _, g := range r.Gateways {
		if g.Name != gw {
			continue
		}
		for _, vh := range g.Listeners[0].VirtualHosts {
			if vh.Name == host {
				return vh
			}
		}
	}
	t.Fatalf("no virtual host %s on %s", host, gw)
	return nil
}

func TestHostCovers(t *testing.T) {
	tests := []struct {
		gw, host string
		want     bool
	}{
		{"*", "anything.example.com", true},
		{"*", "*", true},
		{"a.example.com", "a.example.com", true},
		{"a.example.com", "b.example.com", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "*.a.example.com", false},
		{"*.example.com", "aexample.com", false},
		{"a.example.com", "*", false},
		{"*.example.com", ".example.com", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s covers %s: %v", tt.gw, tt.host, tt.want), func(t *testing.T) {
			if got := hostCovers(tt.gw, tt.host); got != tt.want {
				t.Errorf("got %v", got)
			}
		})
	}
}

func timestamp(created string) string {
	if created == "" {
		return "null"
	}
	return fmt.Sprintf("%q", created)
}

func ingressYAML(name, created string, paths ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: %s, namespace: a, creationTimestamp: %s}\nspec:\n  rules:\n  - host: a.example.com\n    http:\n      paths:\n", name, timestamp(created))
	for _, p := range paths {
		typ, path, _ := strings.Cut(p, " ")
		fmt.Fprintf(&b, "      - {path: %q, pathType: %s, backend: {service: {name: web, port: {number: 80}}}}\n", path, typ)
	}
	return b.String()
}

func TestIngressPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		ingresses []string
		want      []string // route names in order
	}{
		{
			name:      "longest path first whatever the order written",
			ingresses: []string{ingressYAML("i", "2024-01-01T00:00:00Z", "Prefix /", "Prefix /a", "Prefix /a/b/c", "Prefix /a/b")},
			want:      []string{"ingress/a/i/rule/0/path/2", "ingress/a/i/rule/0/path/3", "ingress/a/i/rule/0/path/1", "ingress/a/i/rule/0/path/0"},
		},
		{
			name:      "exact before prefix on a tie",
			ingresses: []string{ingressYAML("i", "2024-01-01T00:00:00Z", "Prefix /foo", "Exact /foo")},
			want:      []string{"ingress/a/i/rule/0/path/1", "ingress/a/i/rule/0/path/0"},
		},
		{
			name:      "trailing slash ignored when measuring a prefix",
			ingresses: []string{ingressYAML("i", "2024-01-01T00:00:00Z", "Prefix /foo/", "Exact /foo")},
			want:      []string{"ingress/a/i/rule/0/path/1", "ingress/a/i/rule/0/path/0"},
		},
		{
			name: "paths of several ingresses interleave by length, exact first, then older first",
			ingresses: []string{
				ingressYAML("young", "2024-02-01T00:00:00Z", "Prefix /ab", "Exact /x"),
				ingressYAML("old", "2024-01-01T00:00:00Z", "Prefix /abc", "Prefix /a", "Exact /y"),
			},
			want: []string{"ingress/a/old/rule/0/path/0", "ingress/a/young/rule/0/path/0", "ingress/a/old/rule/0/path/2", "ingress/a/young/rule/0/path/1", "ingress/a/old/rule/0/path/1"},
		},
		{
			name: "duplicate path: the older ingress keeps it",
			ingresses: []string{
				ingressYAML("young", "2024-02-01T00:00:00Z", "Prefix /dup"),
				ingressYAML("old", "2024-01-01T00:00:00Z", "Prefix /dup/"),
			},
			want: []string{"ingress/a/old/rule/0/path/0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Translate(load(t, append([]string{baseYAML}, tt.ingresses...)...), Options{})
			if got := routeNames(findVHost(t, r, "a/gw", "a.example.com")); !slices.Equal(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestSegmentPrefixMatch(t *testing.T) {
	r := Translate(load(t, baseYAML, ingressYAML("i", "", "Prefix /foo/", "Prefix /", "ImplementationSpecific /bar", "Exact /baz/")), Options{})
	got := map[string]ir.PathMatch{}
	for _, rt := range findVHost(t, r, "a/gw", "a.example.com").Routes {
		got[rt.Name] = rt.Match.Path
	}
	want := map[string]ir.PathMatch{
		"ingress/a/i/rule/0/path/0": {Kind: ir.PathSegmentPrefix, Value: "/foo"},
		"ingress/a/i/rule/0/path/1": {Kind: ir.PathPrefix, Value: "/"},
		"ingress/a/i/rule/0/path/2": {Kind: ir.PathSegmentPrefix, Value: "/bar"},
		"ingress/a/i/rule/0/path/3": {Kind: ir.PathExact, Value: "/baz/"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

func routeYAML(ns, name, created string, hosts []string, extra string) string {
	h := ""
	if len(hosts) > 0 {
		q := make([]string, len(hosts))
		for i, x := range hosts {
			q[i] = fmt.Sprintf("%q", x)
		}
		h = fmt.Sprintf("  hosts: [%s]\n", strings.Join(q, ", "))
	}
	return fmt.Sprintf("apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: %s, namespace: %s, creationTimestamp: %s}\nspec:\n%s%s  http: [{directResponse: {status: 200}}]\n", name, ns, timestamp(created), h, extra)
}

func TestHostOwnership(t *testing.T) {
	tests := []struct {
		name     string
		docs     []string
		gw, host string
		want     []string // routes on the host
		problems []string
	}{
		{
			name: "wildcard default host of the namespace gateway",
			docs: []string{routeYAML("a", "r", "", nil, "")},
			gw:   "a/gw", host: "*.a.example.com",
			want: []string{"route/a/r/http/0/match/0"},
		},
		{
			name: "a host two labels under the wildcard is refused",
			docs: []string{routeYAML("a", "r", "", []string{"x.y.a.example.com", "x.a.example.com"}, "")},
			gw:   "a/gw", host: "x.a.example.com",
			want:     []string{"route/a/r/http/0/match/0"},
			problems: []string{`Route a/r: spec.hosts[0]: host "x.y.a.example.com" is not within the hosts of Gateway a/gw [*.a.example.com a.example.com]`},
		},
		{
			name: "tenant b cannot use tenant a's gateway by name",
			docs: []string{routeYAML("a", "r", "", nil, ""), routeYAML("b", "evil", "", []string{"a.example.com"}, "  gateways: [a/gw]\n")},
			gw:   "a/gw", host: "a.example.com",
			want:     []string{"route/a/r/http/0/match/0"},
			problems: []string{"Route b/evil: spec.gateways[0]: Gateway a/gw is in another namespace; only Gateways of namespace b or the cluster gateway (namespace ksgw-system) may be used"},
		},
		{
			name: "on the cluster gateway the older namespace owns the host",
			docs: []string{
				routeYAML("c", "late", "2024-02-01T00:00:00Z", []string{"shop.example.com"}, ""),
				routeYAML("b", "early", "2024-01-01T00:00:00Z", []string{"shop.example.com"}, ""),
			},
			gw: "ksgw-system/cluster", host: "shop.example.com",
			want:     []string{"route/b/early/http/0/match/0"},
			problems: []string{`Route c/late: host "shop.example.com" on Gateway ksgw-system/cluster belongs to namespace b (claimed first by Route b/early)`},
		},
		{
			name: "equal ages fall back to namespace/name",
			docs: []string{
				routeYAML("c", "x", "", []string{"shop.example.com"}, ""),
				routeYAML("b", "x", "", []string{"shop.example.com"}, ""),
			},
			gw: "ksgw-system/cluster", host: "shop.example.com",
			want:     []string{"route/b/x/http/0/match/0"},
			problems: []string{`Route c/x: host "shop.example.com" on Gateway ksgw-system/cluster belongs to namespace b (claimed first by Route b/x)`},
		},
		{
			name: "same namespace: routes merge oldest first and an identical match is a conflict",
			docs: []string{
				routeYAML("b", "two", "2024-02-01T00:00:00Z", []string{"shop.example.com"}, ""),
				routeYAML("b", "one", "2024-01-01T00:00:00Z", []string{"shop.example.com"}, ""),
			},
			gw: "ksgw-system/cluster", host: "shop.example.com",
			want:     []string{"route/b/one/http/0/match/0"},
			problems: []string{`Route b/two: host "shop.example.com" on Gateway ksgw-system/cluster: route route/b/two/http/0/match/0 has the same match as a route of Route b/one, which is older`},
		},
		{
			name: "exact and wildcard hosts are different hosts with different owners",
			docs: []string{
				routeYAML("b", "wild", "2024-01-01T00:00:00Z", []string{"*.example.com"}, ""),
				routeYAML("c", "exact", "2024-02-01T00:00:00Z", []string{"c.example.com"}, ""),
			},
			gw: "ksgw-system/cluster", host: "c.example.com",
			want: []string{"route/c/exact/http/0/match/0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Translate(load(t, append([]string{baseYAML}, tt.docs...)...), Options{})
			if got := routeNames(findVHost(t, r, tt.gw, tt.host)); !slices.Equal(got, tt.want) {
				t.Errorf("routes %v, want %v", got, tt.want)
			}
			if got := problems(r); !slices.Equal(got, tt.problems) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.problems, "\n"))
			}
		})
	}
}

func weightsRoute(ws ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: w, namespace: a}\nspec:\n  http:\n  - route:\n")
	for _, w := range ws {
		if w == "" {
			b.WriteString("    - destination: {host: web}\n")
		} else {
			fmt.Fprintf(&b, "    - destination: {host: web}\n      weight: %s\n", w)
		}
	}
	return b.String()
}

func TestWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights []string
		want    []uint32
		problem string
	}{
		{"a lone destination without weight gets 1", []string{""}, []uint32{1}, ""},
		{"a lone destination's weight is ignored", []string{"30"}, []uint32{1}, ""},
		{"relative weights are kept", []string{"3", "1"}, []uint32{3, 1}, ""},
		{"a zero weight is kept for a staged canary", []string{"100", "0"}, []uint32{100, 0}, ""},
		{"omitted among several means 0", []string{"5", ""}, []uint32{5, 0}, ""},
		{"negative is invalid", []string{"100", "-1"}, nil, "Route a/w: spec.http[0].route[1].weight: must be >= 0"},
		{"negative lone destination is invalid", []string{"-1"}, nil, "Route a/w: spec.http[0].route[0].weight: must be >= 0"},
		{"all zero is invalid", []string{"0", ""}, nil, "Route a/w: spec.http[0].route: weights must not all be 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Translate(load(t, baseYAML, weightsRoute(tt.weights...)), Options{})
			if tt.problem != "" {
				if got := problems(r); !slices.Contains(got, tt.problem) {
					t.Fatalf("problems %q, want %q", got, tt.problem)
				}
				return
			}
			vh := findVHost(t, r, "a/gw", "a.example.com")
			var got []uint32
			for _, b := range vh.Routes[0].Forward.Backends {
				got = append(got, b.Weight)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("weights %v, want %v", got, tt.want)
			}
		})
	}
}

func clusterByName(r *Result, name string) *ir.Cluster {
	for _, g := range r.Gateways {
		for _, c := range g.Clusters {
			if c.Name == name {
				return c
			}
		}
	}
	return nil
}

func TestSubsets(t *testing.T) {
	tests := []struct {
		subset   string
		cluster  string
		eps      []string
		reason   string
		problems []string
	}{
		{"v1", "a/web/80/v1", []string{"127.0.0.1"}, "", nil},
		{"", "a/web/80", []string{"127.0.0.1", "127.0.0.2"}, "", nil},
		{"v3", "a/web/80/v3", nil, `subset "v3" of Service a/web selects no endpoint`, nil},
		{"v9", "a/web/80/v9", nil, `subset "v9" of Service a/web is not defined by any DestinationRule`,
			[]string{`Route a/s: spec.http[0].route[0].destination: subset "v9" of Service a/web is not defined by any DestinationRule`}},
	}
	for _, tt := range tests {
		t.Run("subset "+tt.subset, func(t *testing.T) {
			route := fmt.Sprintf("apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: s, namespace: a}\nspec:\n  http: [{route: [{destination: {host: web, subset: %q}}]}]\n", tt.subset)
			r := Translate(load(t, baseYAML, route), Options{})
			c := clusterByName(r, tt.cluster)
			if c == nil {
				t.Fatalf("no cluster %s", tt.cluster)
			}
			var eps []string
			for _, e := range c.Endpoints {
				eps = append(eps, e.Address)
			}
			if !slices.Equal(eps, tt.eps) || c.NoEndpointsReason != tt.reason {
				t.Errorf("endpoints %v reason %q, want %v %q", eps, c.NoEndpointsReason, tt.eps, tt.reason)
			}
			if got := problems(r); !slices.Equal(got, tt.problems) {
				t.Errorf("problems %q, want %q", got, tt.problems)
			}
		})
	}
}

// TestProblems pins the exact line `ksgw validate` prints for each kind of
// bad input.
func TestProblems(t *testing.T) {
	route := func(spec string) string {
		return "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: p, namespace: a}\nspec:\n" + spec
	}
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"bad uri regex", route("  http: [{match: [{uri: {regex: \"(\"}}], directResponse: {status: 200}}]\n"),
			"Route a/p: spec.http[0].match[0].uri.regex: invalid RE2 regular expression: missing closing ): `(`"},
		{"bad header regex", route("  http: [{match: [{headers: {x-a: {regex: \"[\"}}}], directResponse: {status: 200}}]\n"),
			"Route a/p: spec.http[0].match[0].headers[x-a].regex: invalid RE2 regular expression: missing closing ]: `[`"},
		{"query prefix", route("  http: [{match: [{queryParams: {q: {prefix: a}}}], directResponse: {status: 200}}]\n"),
			"Route a/p: spec.http[0].match[0].queryParams[q].prefix: prefix is not supported for query parameters (Istio)"},
		{"missing service", route("  http: [{route: [{destination: {host: nope}}]}]\n"),
			"Route a/p: spec.http[0].route[0].destination: Service a/nope not found"},
		{"multi-port without port", route("  http: [{route: [{destination: {host: two}}]}]\n"),
			"Route a/p: spec.http[0].route[0].destination: Service a/two has 2 ports; destination.port is required"},
		{"cross-namespace destination", route("  http: [{route: [{destination: {host: web.b}}]}]\n"),
			"Route a/p: spec.http[0].route[0].destination.host: Service b/web is in another namespace; a Route may only send to Services of its own namespace"},
		{"unsupported retryOn", route("  http: [{retries: {attempts: 1, retryOn: bogus}, route: [{destination: {host: web}}]}]\n"),
			"Route a/p: spec.http[0].retries.retryOn: unsupported retry condition \"bogus\" (supported: 5xx, connect-failure, gateway-error, refused-stream, reset, retriable-4xx, retriable-status-codes, gRPC conditions, HTTP status codes)"},
		{"prefix rewrite of a regex match", route("  http: [{match: [{uri: {regex: /a.*}}], rewrite: {uri: /b}, route: [{destination: {host: web}}]}]\n"),
			"Route a/p: spec.http[0].rewrite.uri: cannot rewrite the prefix of a regex match (match[0].uri.regex); use uriRegexRewrite"},
		{"no action", route("  http: [{match: [{uri: {prefix: /}}]}]\n"),
			"Route a/p: spec.http[0]: exactly one of route, redirect or directResponse must be set"},
		{"unknown gateway", route("  gateways: [nope]\n  http: [{directResponse: {status: 200}}]\n"),
			"Route a/p: spec.gateways[0]: Gateway a/nope not found"},
		{"no gateway at all", "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Route\nmetadata: {name: p, namespace: z}\nspec: {http: [{directResponse: {status: 200}}]}\n",
			"Route z/p: no Gateway in namespace z and no cluster gateway in namespace none-system"},
		{"gateway secret missing", "apiVersion: networking.kubesphere.io/v1alpha1\nkind: Gateway\nmetadata: {name: g, namespace: t}\nspec: {tls: {secretName: s}}\n",
			"Gateway t/g: spec.tls.secretName: Secret t/s not found"},
		{"destination rule in another namespace", "apiVersion: networking.kubesphere.io/v1alpha1\nkind: DestinationRule\nmetadata: {name: d, namespace: a}\nspec: {host: web.b.svc.cluster.local}\n",
			"DestinationRule a/d: spec.host: Service b/web is in another namespace; a DestinationRule applies only to Services of its own namespace"},
		{"ingress relative path", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: a}\nspec: {rules: [{http: {paths: [{path: x, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}]}}]}\n",
			"Ingress a/i: spec.rules[0].http.paths[0].path: must be an absolute path"},
		{"ingress unknown port name", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: a}\nspec: {defaultBackend: {service: {name: web, port: {name: http}}}}\n",
			"Ingress a/i: spec.defaultBackend.service: Service a/web has no port named \"http\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := load(t, baseYAML, tt.doc)
			got := problems(Translate(res, Options{ControllerNamespace: "none-system"}))
			if !slices.Equal(got, []string{tt.want}) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

func TestEveryObjectGetsThreeConditions(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join(goldenDir, "*.in.yaml"))
	for _, p := range ins {
		in, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		res, opts := loadCase(t, in)
		for _, s := range Translate(res, opts).Statuses {
			var types []string
			for _, c := range s.Conditions {
				types = append(types, c.Type)
				if c.Reason == "" || c.Message == "" || c.ObservedGeneration != s.Generation {
					t.Errorf("%s: %s %s/%s: incomplete condition %+v", p, s.Kind, s.Namespace, s.Name, c)
				}
			}
			if !slices.Equal(types, []string{"Accepted", "ResolvedRefs", "Programmed"}) {
				t.Errorf("%s: %s %s/%s: conditions %v", p, s.Kind, s.Namespace, s.Name, types)
			}
		}
	}
}

// TestDeterministicAndReadOnly translates every golden input twice and
// checks that the results are deep-equal and that the input is untouched.
func TestDeterministicAndReadOnly(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join(goldenDir, "*.in.yaml"))
	for _, p := range ins {
		in, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		res, opts := loadCase(t, in)
		before := deepCopy(res)
		a, b := Translate(res, opts), Translate(res, opts)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two translations differ", p)
		}
		if !reflect.DeepEqual(before, res) {
			t.Errorf("%s: Translate modified its input", p)
		}
	}
}

// deepCopy copies every field of a bundle; TestDeepCopyCoversResources
// fails when resource.Resources grows a field it does not know.
func deepCopy(r *resource.Resources) *resource.Resources {
	c := &resource.Resources{}
	for _, x := range r.Gateways {
		c.Gateways = append(c.Gateways, x.DeepCopy())
	}
	for _, x := range r.Routes {
		c.Routes = append(c.Routes, x.DeepCopy())
	}
	for _, x := range r.DestinationRules {
		c.DestinationRules = append(c.DestinationRules, x.DeepCopy())
	}
	for _, x := range r.SecurityPolicies {
		c.SecurityPolicies = append(c.SecurityPolicies, x.DeepCopy())
	}
	for _, x := range r.Ingresses {
		c.Ingresses = append(c.Ingresses, x.DeepCopy())
	}
	for _, x := range r.IngressClasses {
		c.IngressClasses = append(c.IngressClasses, x.DeepCopy())
	}
	for _, x := range r.Services {
		c.Services = append(c.Services, x.DeepCopy())
	}
	for _, x := range r.EndpointSlices {
		c.EndpointSlices = append(c.EndpointSlices, x.DeepCopy())
	}
	for _, x := range r.Pods {
		c.Pods = append(c.Pods, x.DeepCopy())
	}
	for _, x := range r.Secrets {
		c.Secrets = append(c.Secrets, x.DeepCopy())
	}
	for _, x := range r.ConfigMaps {
		c.ConfigMaps = append(c.ConfigMaps, x.DeepCopy())
	}
	for _, x := range r.Namespaces {
		c.Namespaces = append(c.Namespaces, x.DeepCopy())
	}
	if r.Origins != nil {
		c.Origins = make(map[string]string, len(r.Origins))
		for k, v := range r.Origins {
			c.Origins[k] = v
		}
	}
	return c
}

func TestDeepCopyCoversResources(t *testing.T) {
	if n := reflect.TypeOf(resource.Resources{}).NumField(); n != 13 {
		t.Fatalf("resource.Resources has %d fields; update deepCopy", n)
	}
}

func TestSharedClustersAcrossGateways(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(goldenDir, "shared-clusters.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, opts := loadCase(t, in)
	r := Translate(res, opts)
	if len(r.Gateways) != 2 || len(r.Gateways[0].Clusters) != 1 || r.Gateways[0].Clusters[0] != r.Gateways[1].Clusters[0] {
		t.Fatal("the cluster is not one shared value")
	}
}

func TestNilInput(t *testing.T) {
	if r := Translate(nil, Options{}); len(r.Gateways)+len(r.Statuses)+len(r.Problems) != 0 {
		t.Fatalf("%+v", r)
	}
}

// benchResources builds n Routes spread over 100 namespaces, each with its
// own Gateway, three Services of two Pods each and a DestinationRule with
// two subsets; a tenth of the Routes split by subset.
func benchResources(n int) *resource.Resources {
	const namespaces = 100
	res := &resource.Resources{}
	for i := range namespaces {
		ns := fmt.Sprintf("tenant-%03d", i)
		res.Gateways = append(res.Gateways, &v1alpha1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: ns},
			Spec:       v1alpha1.GatewaySpec{Hosts: []string{"*." + ns + ".example.com"}},
		})
		for s := range 3 {
			svc := fmt.Sprintf("svc-%d", s)
			res.Services = append(res.Services, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app": svc},
					Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
			})
			for p := range 2 {
				res.Pods = append(res.Pods, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", svc, p), Namespace: ns, Labels: map[string]string{"app": svc, "version": fmt.Sprintf("v%d", p+1)}},
					Status:     corev1.PodStatus{PodIP: fmt.Sprintf("10.%d.%d.%d", i, s, p+1)},
				})
			}
		}
		res.DestinationRules = append(res.DestinationRules, &v1alpha1.DestinationRule{
			ObjectMeta: metav1.ObjectMeta{Name: "svc-0", Namespace: ns},
			Spec: v1alpha1.DestinationRuleSpec{Host: "svc-0", Subsets: []v1alpha1.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}},
				{Name: "v2", Labels: map[string]string{"version": "v2"}},
			}},
		})
	}
	prefix := "/api"
	for i := range n {
		ns := fmt.Sprintf("tenant-%03d", i%namespaces)
		r := &v1alpha1.Route{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("route-%05d", i), Namespace: ns},
			Spec: v1alpha1.RouteSpec{
				Hosts: []string{fmt.Sprintf("app-%d.%s.example.com", i/namespaces%20, ns)},
				HTTP: []v1alpha1.HTTPRoute{{
					Match: []v1alpha1.HTTPMatchRequest{{URI: &v1alpha1.StringMatch{Prefix: &prefix}, Headers: map[string]v1alpha1.StringMatch{"x-route": {Exact: ptr(fmt.Sprint(i))}}}},
					Route: []v1alpha1.HTTPRouteDestination{{Destination: v1alpha1.Destination{Host: fmt.Sprintf("svc-%d", i%3)}}},
				}},
			},
		}
		if i%10 == 0 {
			r.Spec.HTTP[0].Route = []v1alpha1.HTTPRouteDestination{
				{Destination: v1alpha1.Destination{Host: "svc-0", Subset: "v1"}, Weight: 90},
				{Destination: v1alpha1.Destination{Host: "svc-0", Subset: "v2"}, Weight: 10},
			}
		}
		res.Routes = append(res.Routes, r)
	}
	res.Sort()
	return res
}

func ptr[T any](v T) *T { return &v }

func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		res := benchResources(n)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := Translate(res, Options{})
				if len(r.Problems) != 0 {
					b.Fatal(r.Problems[0])
				}
			}
		})
	}
}
