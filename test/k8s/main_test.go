// Package k8s runs `ksgw controller` against a real kube-apiserver and etcd
// (hack/testenv.sh builds and installs them; controller-runtime's envtest
// starts them) and real `ksgw proxy` processes, and checks the whole
// Kubernetes mode with real traffic: the controller's caches, translation,
// status write-back, the per-Gateway objects it applies, leader election,
// xDS with ServiceAccount-token authentication, and the proxies.
//
// No kubelet, scheduler or controller-manager runs, so the test plays their
// part: it creates the backends' Pods and EndpointSlices itself, pointing at
// echo servers on 127.0.5.x (this suite's loopback range), and starts one
// `ksgw proxy` per Gateway with the node ID and ServiceAccount of the
// Deployment the controller created.
//
// Run: eval "$(hack/testenv.sh --export)"; go test ./test/k8s/
// Without KUBEBUILDER_ASSETS the tests skip, except under CI=true where
// that is a failure.
package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ksgw/ksgw/internal/provider/kubernetes"
)

// suite is what TestMain set up; read-only for the tests.
type suite struct {
	bin        string // the ksgw binary
	kubeconfig string // file: the controller's credentials
	cfg        *rest.Config
	client     client.Client
	scheme     *runtime.Scheme
	etcd       *etcdKV
}

var (
	env     suite
	skipWhy string // non-empty: the environment is missing and tests skip
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "test/k8s: KUBEBUILDER_ASSETS is not set; CI must run hack/testenv.sh (make test does)")
			return 1
		}
		skipWhy = `KUBEBUILDER_ASSETS is not set; run: eval "$(hack/testenv.sh --export)"`
		return m.Run()
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			fmt.Fprintf(os.Stderr, "test/k8s: %s missing from KUBEBUILDER_ASSETS=%s: %v\n", b, assets, err)
			return 1
		}
	}

	tmp, err := os.MkdirTemp("", "ksgw-k8s-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	env.bin = filepath.Join(tmp, "ksgw")
	build := exec.Command("go", "build", "-o", env.bin, "github.com/ksgw/ksgw/cmd/ksgw")
	if os.Getenv("KSGW_K8S_RACE") != "" {
		build = exec.Command("go", "build", "-race", "-o", env.bin, "github.com/ksgw/ksgw/cmd/ksgw")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "test/k8s: building ksgw:", err)
		return 1
	}

	// envtest logs through controller-runtime's process-wide logger.
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	start := time.Now()
	te := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := te.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/k8s: starting kube-apiserver and etcd:", err)
		_ = te.Stop()
		return 1
	}
	defer func() {
		if err := te.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "test/k8s: stopping the control plane:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "test/k8s: kube-apiserver and etcd up in %s\n", time.Since(start).Round(time.Millisecond))

	if err := setup(te, cfg, tmp); err != nil {
		fmt.Fprintln(os.Stderr, "test/k8s:", err)
		return 1
	}
	return m.Run()
}

func setup(te *envtest.Environment, cfg *rest.Config, tmp string) error {
	env.cfg = cfg
	s, err := kubernetes.NewScheme()
	if err != nil {
		return err
	}
	env.scheme = s
	if env.client, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
		return err
	}
	env.etcd = &etcdKV{url: te.ControlPlane.Etcd.URL.String(), scheme: s}

	// The controller runs as its ServiceAccount with the roles of
	// config/rbac: least privilege is part of what is tested.
	kc, err := controllerKubeconfig(context.Background(), env.client, cfg)
	if err != nil {
		return fmt.Errorf("controller credentials: %w", err)
	}
	env.kubeconfig = filepath.Join(tmp, "controller.kubeconfig")
	return os.WriteFile(env.kubeconfig, kc, 0o600)
}

// requireEnv skips the test when the API server is not available.
func requireEnv(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}
