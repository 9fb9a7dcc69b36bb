package server

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// startAPIServer starts the real kube-apiserver and etcd that
// hack/testenv.sh provides (KUBEBUILDER_ASSETS). Without them the test is
// skipped, except under CI=true, where that is a failure.
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

// TestServiceAccountAuthenticatorAgainstAPIServer reviews real projected
// tokens (TokenRequest, as the kubelet mints them for the proxy pods) with
// the API server's TokenReview.
func TestServiceAccountAuthenticatorAgainstAPIServer(t *testing.T) {
	cs := startAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const aud = "ksgw-xds"

	for _, ns := range []string{"tenant-a", "tenant-b"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, sa := range []string{"ksgw-gw", "other"} {
			if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mint := func(ns, sa string, audiences ...string) string {
		t.Helper()
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	tokA := mint("tenant-a", "ksgw-gw", aud)
	tokOther := mint("tenant-a", "other", aud)
	tokAPI := mint("tenant-a", "ksgw-gw") // default audience: the API server's
	tokDeleted := mint("tenant-b", "ksgw-gw", aud)
	if err := cs.CoreV1().ServiceAccounts("tenant-b").Delete(ctx, "ksgw-gw", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	auth, err := NewServiceAccountAuthenticator(ClientTokenReviewer{Client: cs.AuthenticationV1()}, aud, proxySA)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		token    string
		node     string
		wantCode codes.Code
	}{
		{"own gateway's projected token is admitted", tokA, "tenant-a/gw", codes.OK},
		{"claiming another tenant's gateway is refused", tokA, "tenant-b/gw", codes.PermissionDenied},
		{"another service account of the namespace is refused", tokOther, "tenant-a/gw", codes.PermissionDenied},
		{"token for the API server's audience is refused", tokAPI, "tenant-a/gw", codes.Unauthenticated},
		{"token of a deleted service account is refused", tokDeleted, "tenant-b/gw", codes.Unauthenticated},
		{"forged token is refused", tokA[:len(tokA)-4] + "AAAA", "tenant-a/gw", codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ictx := metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+tt.token))
			err := auth.Authenticate(ictx, tt.node)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tt.wantCode)
			}
		})
	}
}
