// Package rbac_test checks the controller's RBAC manifests: they decode
// strictly, grant no wildcard or escalation, and, against a real API server,
// allow exactly the operations `ksgw controller` performs.
package rbac_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"
)

// manifests decodes every document of the directory's YAML files strictly.
type manifests struct {
	sa           []*corev1.ServiceAccount
	clusterRoles []*rbacv1.ClusterRole
	roles        []*rbacv1.Role
	crbs         []*rbacv1.ClusterRoleBinding
	rbs          []*rbacv1.RoleBinding
}

func load(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var m manifests
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var obj any
			switch tm.Kind {
			case "ServiceAccount":
				o := &corev1.ServiceAccount{}
				m.sa, obj = append(m.sa, o), o
			case "ClusterRole":
				o := &rbacv1.ClusterRole{}
				m.clusterRoles, obj = append(m.clusterRoles, o), o
			case "Role":
				o := &rbacv1.Role{}
				m.roles, obj = append(m.roles, o), o
			case "ClusterRoleBinding":
				o := &rbacv1.ClusterRoleBinding{}
				m.crbs, obj = append(m.crbs, o), o
			case "RoleBinding":
				o := &rbacv1.RoleBinding{}
				m.rbs, obj = append(m.rbs, o), o
			default:
				t.Fatalf("%s: unexpected kind %q", f, tm.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s: %s: %v", f, tm.Kind, err)
			}
		}
	}
	return m
}

func TestManifestsGrantNoWildcardOrEscalation(t *testing.T) {
	m := load(t)
	if len(m.clusterRoles) != 1 || len(m.roles) != 1 || len(m.sa) != 1 || len(m.crbs) != 1 || len(m.rbs) != 1 {
		t.Fatalf("want one ServiceAccount, ClusterRole, Role and binding each; got %d %d %d %d %d", len(m.sa), len(m.clusterRoles), len(m.roles), len(m.crbs), len(m.rbs))
	}
	rules := append(slices.Clone(m.clusterRoles[0].Rules), m.roles[0].Rules...)
	for i, r := range rules {
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
			if slices.Contains(list, "*") {
				t.Errorf("rule %d grants a wildcard: %+v", i, r)
			}
		}
		for _, v := range r.Verbs {
			if v == "escalate" || v == "bind" || v == "impersonate" || v == "deletecollection" {
				t.Errorf("rule %d grants %q: %+v", i, v, r)
			}
		}
		if slices.Contains(r.Resources, "secrets") && slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" }) {
			t.Errorf("rule %d writes Secrets: %+v", i, r)
		}
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %d: unexpected resourceNames/nonResourceURLs: %+v", i, r)
		}
	}
	sa := m.sa[0]
	for _, subj := range append(slices.Clone(m.crbs[0].Subjects), m.rbs[0].Subjects...) {
		if subj.Kind != "ServiceAccount" || subj.Name != sa.Name || subj.Namespace != sa.Namespace {
			t.Errorf("binding subject %+v is not the controller's ServiceAccount %s/%s", subj, sa.Namespace, sa.Name)
		}
	}
	if m.crbs[0].RoleRef.Name != m.clusterRoles[0].Name || m.rbs[0].RoleRef.Name != m.roles[0].Name {
		t.Errorf("bindings refer to %q and %q", m.crbs[0].RoleRef.Name, m.rbs[0].RoleRef.Name)
	}
}

// access is one operation of the controller, namespaced or not.
type access struct {
	verb, group, resource, subresource, namespace string
}

// TestControllerMayDoExactlyWhatItNeeds applies the manifests to a real API
// server and asks it (SubjectAccessReview) about the controller's
// ServiceAccount.
func TestControllerMayDoExactlyWhatItNeeds(t *testing.T) {
	cs := startAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := load(t)
	const ns = "ksgw-system"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, m.sa[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, m.clusterRoles[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, m.roles[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, m.crbs[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, m.rbs[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	user := "system:serviceaccount:" + ns + ":" + m.sa[0].Name

	var allowed []access
	for _, r := range []string{"gateways", "routes", "destinationrules", "securitypolicies"} {
		for _, v := range []string{"get", "list", "watch"} {
			allowed = append(allowed, access{v, "networking.kubesphere.io", r, "", "tenant-a"})
		}
		allowed = append(allowed, access{"patch", "networking.kubesphere.io", r, "status", "tenant-a"})
	}
	for _, gr := range [][2]string{{"networking.k8s.io", "ingresses"}, {"", "pods"}, {"", "secrets"}, {"", "configmaps"}, {"discovery.k8s.io", "endpointslices"}, {"networking.k8s.io", "ingressclasses"}} {
		for _, v := range []string{"list", "watch"} {
			allowed = append(allowed, access{v, gr[0], gr[1], "", ""})
		}
	}
	for _, gr := range [][2]string{{"", "services"}, {"", "serviceaccounts"}, {"apps", "deployments"}, {"policy", "poddisruptionbudgets"}, {"networking.k8s.io", "networkpolicies"}} {
		for _, v := range []string{"create", "patch", "delete", "list", "watch"} {
			allowed = append(allowed, access{v, gr[0], gr[1], "", "tenant-a"})
		}
	}
	allowed = append(allowed,
		access{"create", "networking.k8s.io", "ingressclasses", "", ""},
		access{"patch", "networking.k8s.io", "ingressclasses", "", ""},
		access{"delete", "networking.k8s.io", "ingressclasses", "", ""},
		access{"patch", "networking.k8s.io", "ingresses", "status", "tenant-a"},
		access{"patch", "networking.kubesphere.io", "gateways", "", "tenant-a"},
		access{"update", "networking.kubesphere.io", "gateways", "finalizers", "tenant-a"},
		access{"create", "authentication.k8s.io", "tokenreviews", "", ""},
		access{"get", "coordination.k8s.io", "leases", "", ns},
		access{"create", "coordination.k8s.io", "leases", "", ns},
		access{"update", "coordination.k8s.io", "leases", "", ns},
		access{"create", "", "events", "", ns},
	)
	denied := []access{
		{"create", "", "secrets", "", "tenant-a"},
		{"patch", "", "secrets", "", "tenant-a"},
		{"create", "", "pods", "", "tenant-a"},
		{"create", "", "serviceaccounts", "token", "tenant-a"},
		{"update", "networking.kubesphere.io", "routes", "", "tenant-a"},
		{"delete", "networking.kubesphere.io", "gateways", "", "tenant-a"},
		{"update", "networking.k8s.io", "ingresses", "", "tenant-a"},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "", "tenant-a"},
		{"create", "apiextensions.k8s.io", "customresourcedefinitions", "", ""},
		{"update", "coordination.k8s.io", "leases", "", "tenant-a"},
		{"deletecollection", "apps", "deployments", "", "tenant-a"},
		{"list", "", "namespaces", "", ""},
	}
	check := func(a access, want bool) {
		t.Helper()
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace,
			},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != want {
			t.Errorf("%s %s/%s %s in %q: allowed=%v, want %v (%s)", a.verb, a.group, a.resource, a.subresource, a.namespace, sar.Status.Allowed, want, sar.Status.Reason)
		}
	}
	for _, a := range allowed {
		check(a, true)
	}
	for _, a := range denied {
		check(a, false)
	}
}

// startAPIServer starts the kube-apiserver and etcd of hack/testenv.sh
// (KUBEBUILDER_ASSETS); without them the test is skipped, except under
// CI=true, where that is a failure.
func startAPIServer(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(`KUBEBUILDER_ASSETS is not set; CI must provide the API server (eval "$(hack/testenv.sh --export)")`)
		}
		t.Skip(`KUBEBUILDER_ASSETS is not set; run: eval "$(hack/testenv.sh --export)"`)
	}
	// envtest logs through controller-runtime's package logger; without a
	// sink it prints a stack trace warning. Test binaries only.
	ctrllog.SetLogger(logr.Discard())
	// Generous timeouts: on a loaded 2-core CI machine the API server can
	// take a minute to become ready.
	env := &envtest.Environment{ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
