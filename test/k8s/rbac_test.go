package k8s

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// rbacDir holds the controller's ServiceAccount and least-privilege roles
// (config/rbac, kustomize resources).
var rbacDir = filepath.Join("..", "..", "config", "rbac")

// controllerKubeconfig installs config/rbac and returns a kubeconfig that
// authenticates as the controller's ServiceAccount with a token from the
// TokenRequest API, as a pod of the controller's Deployment would. The
// suite thereby proves that the manifests grant everything the controller
// does, since the API server's RBAC authorizer refuses anything else.
func controllerKubeconfig(ctx context.Context, c client.Client, cfg *rest.Config) ([]byte, error) {
	kust, err := os.ReadFile(filepath.Join(rbacDir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(kust, &k); err != nil {
		return nil, fmt.Errorf("config/rbac/kustomization.yaml: %w", err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	var sa *unstructured.Unstructured
	for _, f := range k.Resources {
		b, err := os.ReadFile(filepath.Join(rbacDir, f))
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("config/rbac/%s: %w", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := c.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("config/rbac/%s: %s %s: %w", f, u.GetKind(), u.GetName(), err)
			}
			if u.GetKind() == "ServiceAccount" {
				sa = u
			}
		}
	}
	if sa == nil {
		return nil, errors.New("config/rbac declares no ServiceAccount")
	}
	acct := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: sa.GetNamespace(), Name: sa.GetName()}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](4 * 3600)}}
	if err := c.SubResource("token").Create(ctx, acct, tr); err != nil {
		return nil, fmt.Errorf("token for %s/%s: %w", sa.GetNamespace(), sa.GetName(), err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["ksgw-controller"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["ksgw-controller"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "ksgw-controller"}
	kc.CurrentContext = "ksgw-controller"
	return clientcmd.Write(*kc)
}
