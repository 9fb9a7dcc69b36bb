package helm_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/infra"
	ksgwk8s "github.com/ksgw/ksgw/internal/provider/kubernetes"
)

// testIP is this package's loopback address (the range 127.0.6.0/24 is
// reserved for the deployment tests).
const testIP = "127.0.6.1"

type apiServer struct {
	env    *envtest.Environment
	cfg    *rest.Config
	client client.Client
	cs     *kubernetes.Clientset
}

// requireAssets skips without hack/testenv.sh's kube-apiserver and etcd
// (KUBEBUILDER_ASSETS), except under CI=true, where that is a failure.
func requireAssets(t *testing.T) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(`KUBEBUILDER_ASSETS is not set; CI must provide the API server (eval "$(hack/testenv.sh --export)")`)
		}
		t.Skip(`KUBEBUILDER_ASSETS is not set; run: eval "$(hack/testenv.sh --export)"`)
	}
}

func newAPIServer() (*apiServer, error) {
	// envtest logs through controller-runtime's package logger; without a
	// sink it prints a stack trace warning. Test binaries only.
	ctrllog.SetLogger(logr.Discard())
	// Generous timeouts: on a loaded 2-core CI machine the API server can
	// take a minute to become ready.
	env := &envtest.Environment{ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		env.Stop()
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	scheme, err := ksgwk8s.NewScheme()
	if err == nil {
		err = apiextensionsv1.AddToScheme(scheme)
	}
	var c client.Client
	if err == nil {
		c, err = client.New(cfg, client.Options{Scheme: scheme})
	}
	var cs *kubernetes.Clientset
	if err == nil {
		cs, err = kubernetes.NewForConfig(cfg)
	}
	if err != nil {
		env.Stop()
		return nil, err
	}
	return &apiServer{env: env, cfg: cfg, client: c, cs: cs}, nil
}

// startAPIServer starts an API server of the test's own, stopped when the
// test ends.
func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	requireAssets(t)
	api, err := newAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := api.env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	return api
}

// shared is one API server for the tests that do not run a controller
// (starting one costs seconds of a loaded CI machine); TestMain stops it.
var shared struct {
	once sync.Once
	api  *apiServer
	err  error
}

func sharedAPIServer(t *testing.T) *apiServer {
	t.Helper()
	requireAssets(t)
	shared.once.Do(func() { shared.api, shared.err = newAPIServer() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.api
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if shared.api != nil {
		if err := shared.api.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the API server:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// apply sends objects with server-side apply, CRDs first (and waits until
// they are served), as a GitOps tool or `kubectl apply --server-side` would.
func (a *apiServer) apply(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	var crds, rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o)
		} else {
			rest = append(rest, o)
		}
	}
	for _, o := range crds {
		a.applyOne(ctx, t, o)
	}
	for _, o := range crds {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := a.client.Get(ctx, types.NamespacedName{Name: o.GetName()}, &crd); err != nil {
				return false, err
			}
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", o.GetName(), err)
		}
	}
	for _, o := range rest {
		a.applyOne(ctx, t, o)
	}
}

func (a *apiServer) applyOne(ctx context.Context, t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	// A fresh RESTMapper lookup per object: CRDs applied a moment ago are
	// discovered on the first miss.
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		// A copy: Apply writes the server's answer (managedFields, ...)
		// into the object, and the next apply of it would be refused.
		err := a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("ksgw-deploy-test"), client.ForceOwnership)
		if err != nil && strings.Contains(err.Error(), "no matches for kind") {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("server-side apply of %s %s/%s refused: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
}

func (a *apiServer) createNamespace(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	if _, err := a.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestRenderedManifestsAcceptedByServerSideApply applies `helm template`
// (CRDs included) for the design's flags and the HA values, then the
// objects internal/infra renders for the resulting Gateway, and re-applies
// them to check the controller's apply is a no-op when nothing changed.
func TestRenderedManifestsAcceptedByServerSideApply(t *testing.T) {
	h := newHelm(t)
	api := sharedAPIServer(t)
	ctx := ctxT(t, 3*time.Minute)
	tests := []struct {
		name string
		args []string
	}{
		{"design-flags", designFlags},
		{"ha", []string{"-f", filepath.Join(chartDir, "ci", "ha-values.yaml")}},
		{"autoscaling", []string{"--set", "autoscaling.enabled=true", "--set", "podDisruptionBudget.maxUnavailable=50%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := "ksgw-" + tt.name
			api.createNamespace(ctx, t, ns)
			out, err := h.run(append([]string{"template", "rel-" + tt.name, chartDir, "--namespace", ns, "--include-crds"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			api.apply(ctx, t, docs(t, out))

			var gw v1alpha1.Gateway
			if err := api.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "default"}, &gw); err != nil {
				t.Fatal(err)
			}
			objs, err := infra.Render(&gw, infra.Options{Image: "ghcr.io/ksgw/ksgw:0.1.0", XDSServer: "rel-" + tt.name + "-controller." + ns + ".svc:18000", ControllerNamespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			var us []*unstructured.Unstructured
			for _, o := range objs {
				u, err := infra.Unstructured(o)
				if err != nil {
					t.Fatal(err)
				}
				us = append(us, u)
			}
			api.apply(ctx, t, us)
			name := infra.ObjectName(gw.Name)
			var before appsv1.Deployment
			if err := api.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &before); err != nil {
				t.Fatal(err)
			}
			api.apply(ctx, t, us)
			var after appsv1.Deployment
			if err := api.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &after); err != nil {
				t.Fatal(err)
			}
			if before.ResourceVersion != after.ResourceVersion || before.Generation != after.Generation {
				t.Errorf("re-applying unchanged objects changed the Deployment (resourceVersion %s → %s): the controller would roll proxies for nothing", before.ResourceVersion, after.ResourceVersion)
			}
			// Node ports are cluster-wide; free them for the next case.
			if err := api.client.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDesignInstallCommand publishes the chart as a repository served over
// HTTP, adds it as `kubesphere` and runs the design's command verbatim.
func TestDesignInstallCommand(t *testing.T) {
	h := newHelm(t)
	api := sharedAPIServer(t)
	ctx := ctxT(t, 3*time.Minute)

	repo := t.TempDir()
	cmd := exec.Command("../../hack/helm-repo.sh", repo)
	cmd.Env = append(h.env, "HELM="+h.bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/helm-repo.sh: %v\n%s", err, out)
	}
	lis, err := net.Listen("tcp", testIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(repo)), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close(); <-done })

	kubeconfig := adminKubeconfig(t, api)
	if _, err := h.run("repo", "add", "kubesphere", "http://"+lis.Addr().String()); err != nil {
		t.Fatal(err)
	}
	install := append([]string{"install", "kubesphere-gateway", "kubesphere/gateway"}, designFlags...)
	install = append(install, "--namespace", namespace, "--create-namespace", "--kubeconfig", kubeconfig)
	if out, err := h.run(install...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var gw v1alpha1.Gateway
	if err := api.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "default"}, &gw); err != nil {
		t.Fatalf("the install created no cluster Gateway: %v", err)
	}
	if *gw.Spec.Replicas != 3 || gw.Spec.Service.Type != "NodePort" || gw.Spec.Service.NodePorts.HTTP != 30080 || gw.Spec.Service.NodePorts.HTTPS != 30443 {
		t.Errorf("installed Gateway spec %+v, want 3 replicas on NodePorts 30080/30443", gw.Spec)
	}
	var dep appsv1.Deployment
	if err := api.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "kubesphere-gateway-controller"}, &dep); err != nil {
		t.Errorf("controller Deployment: %v", err)
	}
	out, err := h.run("list", "--namespace", namespace, "--kubeconfig", kubeconfig, "-o", "json")
	if err != nil || !strings.Contains(out, `"chart":"gateway-0.1.0"`) || !strings.Contains(out, `"status":"deployed"`) {
		t.Errorf("helm list: %v %s", err, out)
	}
}

func adminKubeconfig(t *testing.T, api *apiServer) string {
	t.Helper()
	u, err := api.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestControllerFromRenderedArgsReconciles runs `ksgw controller` with the
// arguments of the chart's Deployment, as the chart's ServiceAccount (so
// the chart's RBAC must suffice), and waits for the cluster Gateway's proxy
// objects.
func TestControllerFromRenderedArgsReconciles(t *testing.T) {
	h := newHelm(t)
	api := startAPIServer(t)
	ctx := ctxT(t, 4*time.Minute)

	bin := filepath.Join(t.TempDir(), "ksgw")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/ksgw")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	api.createNamespace(ctx, t, namespace)
	objs := docs(t, func() string {
		out, err := h.run(append([]string{"template", release, chartDir, "--namespace", namespace, "--include-crds"}, designFlags...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}())
	api.apply(ctx, t, objs)

	dep := find(t, objs, "Deployment", release+"-controller")
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	var args []string
	for _, a := range containers[0].(map[string]any)["args"].([]any) {
		args = append(args, strings.ReplaceAll(a.(string), "$(POD_NAMESPACE)", namespace))
	}
	// Local listeners instead of the pod's; cobra keeps a flag's last value.
	args = append(args,
		"--kubeconfig", saKubeconfig(ctx, t, api, namespace, release+"-controller"),
		"--xds-address", testIP+":0", "--health-address", testIP+":0", "--metrics-address", "0")
	proc := exec.Command(bin, args...)
	var logs strings.Builder
	proc.Stdout, proc.Stderr = &logs, &logs
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	t.Cleanup(func() {
		proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			proc.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("controller output:\n%s", logs.String())
		}
	})

	name := infra.ObjectName("default")
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-exited:
			return false, fmt.Errorf("controller exited: %v", err)
		default:
		}
		var d appsv1.Deployment
		if err := api.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &d); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		// The reconciler applies the Deployment before the Service: wait
		// for both, not just the first.
		var s corev1.Service
		if err := api.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return d.Spec.Replicas != nil && *d.Spec.Replicas == 3, nil
	})
	if err != nil {
		t.Fatalf("proxy Deployment %s/%s with 3 replicas and its Service never appeared: %v", namespace, name, err)
	}
	var svc corev1.Service
	if err := api.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].NodePort != 30080 || svc.Spec.Ports[1].NodePort != 30443 {
		t.Errorf("proxy Service %+v, want NodePort 30080/30443", svc.Spec)
	}
}

// saKubeconfig writes a kubeconfig authenticating as a ServiceAccount with
// a TokenRequest token, as the kubelet would mount it in the pod.
func saKubeconfig(ctx context.Context, t *testing.T, api *apiServer, ns, sa string) string {
	t.Helper()
	tr, err := api.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: api.cfg.Host, CertificateAuthorityData: api.cfg.CAData}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "sa"}
	cfg.CurrentContext = "test"
	f := filepath.Join(t.TempDir(), "sa.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, f); err != nil {
		t.Fatal(err)
	}
	return f
}
