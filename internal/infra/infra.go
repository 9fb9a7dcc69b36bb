// Package infra renders the Kubernetes objects that run one Gateway's proxies:
// ServiceAccount, Deployment of `ksgw proxy`, Service, PodDisruptionBudget,
// NetworkPolicy and IngressClass (DESIGN §1.9, §4; STYLE layout
// internal/infra). It is pure: the controller applies the objects with
// server-side apply and owns their lifecycle.
//
// Every namespaced object carries a controller owner reference to its
// Gateway, so deleting the Gateway garbage-collects them. The IngressClass is
// cluster-scoped and Kubernetes forbids namespaced owners of cluster-scoped
// objects (the garbage collector treats such a reference as unresolvable,
// kubernetes.io/docs/concepts/overview/working-with-objects/owners-dependents),
// so it carries the labels LabelGatewayNamespace and LabelGateway instead and
// the controller deletes it (a finalizer on the Gateway).
package infra

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ksgw/ksgw/api/v1alpha1"
)

// Labels put on every rendered object; the first three select the proxy pods.
const (
	LabelName             = "app.kubernetes.io/name"
	LabelComponent        = "app.kubernetes.io/component"
	LabelManagedBy        = "app.kubernetes.io/managed-by"
	LabelGateway          = "networking.kubesphere.io/gateway"
	LabelGatewayNamespace = "networking.kubesphere.io/gateway-namespace"

	// NameValue and ComponentProxy identify ksgw proxy pods of any Gateway;
	// NetworkPolicies of other tenants rely on them.
	NameValue      = "ksgw"
	ComponentProxy = "proxy"
	ManagedByValue = "ksgw-controller"
)

// Fixed properties of the proxy container.
const (
	ContainerName = "proxy"
	// AdminPort is the proxy's admin listener (Envoy's default 19000),
	// bound on the pod IP so that the kubelet can probe /ready and
	// Prometheus can scrape /stats/prometheus.
	AdminPort int32 = 19000
	// TokenPath is where the projected ServiceAccount token for the ADS
	// server is mounted.
	TokenPath = "/var/run/secrets/ksgw/xds/token"
	// DefaultTokenAudience is the audience of the projected token; the ADS
	// server's TokenReview requires it, so a token minted for the API server
	// (or any other audience) is refused.
	DefaultTokenAudience = "ksgw-xds"
	// DefaultIngressClassController is the spec.controller of rendered
	// IngressClasses (internal/translate.ControllerName).
	DefaultIngressClassController = "kubesphere.io/ksgw"
	// NonRootUID is the distroless "nonroot" user the image runs as.
	NonRootUID int64 = 65532
)

// Options are the controller-wide inputs of Render. Image, XDSServer and
// ControllerNamespace are required.
type Options struct {
	// Image of the ksgw binary (the proxy runs `ksgw proxy`).
	Image string
	// ImagePullPolicy defaults to the Kubernetes default for the tag.
	ImagePullPolicy corev1.PullPolicy
	// XDSServer is host:port of the controller's xDS Service as the proxies
	// dial it, e.g. "ksgw-controller.ksgw-system.svc:18000".
	XDSServer string
	// ControllerNamespace holds the controller and the cluster gateway.
	ControllerNamespace string
	// ControllerPodLabels select the controller pods; the proxies'
	// NetworkPolicy admits egress to them on ControllerXDSPort. Empty
	// selects every pod of ControllerNamespace.
	ControllerPodLabels map[string]string
	// ControllerXDSPort is the xDS port of the controller pods (the
	// Service's targetPort: NetworkPolicy applies after the Service's
	// DNAT). Zero means the port of XDSServer.
	ControllerXDSPort int32
	// TokenAudience defaults to DefaultTokenAudience.
	TokenAudience string
	// TokenExpiration of the projected token; the kubelet refreshes it at
	// 80% of its life. Default 1h; the API server's minimum is 10 minutes.
	TokenExpiration time.Duration
	// IngressClassController defaults to DefaultIngressClassController.
	IngressClassController string
	// DrainTimeout is how long a terminating proxy lets in-flight requests
	// finish after SIGTERM (`ksgw proxy --drain-timeout`). Default 15s.
	DrainTimeout time.Duration
	// PreStopDelay keeps a terminating proxy serving while Kubernetes
	// removes it from the Service's endpoints and kube-proxy and load
	// balancers follow; only then is SIGTERM sent. Default 10s.
	PreStopDelay time.Duration
	// GatewayNamespaces are the namespaces that have a Gateway of their
	// own. The cluster gateway's proxies may not reach them (DESIGN §4: a
	// namespace falls back to the cluster gateway only without its own), so
	// the controller re-renders the cluster gateway when this set changes.
	// Ignored for project gateways.
	GatewayNamespaces []string
	// MetricsNamespaces may scrape the proxies' admin port besides
	// ControllerNamespace (e.g. the Prometheus namespace).
	MetricsNamespaces []string
	// EgressNamespaces are namespaces every proxy may reach besides its
	// backends, e.g. that of the OTLP collector of Gateway spec.tracing.
	EgressNamespaces []string
	// LogLevel of the proxies; "" keeps ksgw's default.
	LogLevel string
}

// withDefaults validates o and fills its defaults.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Image == "" {
		errs = append(errs, errors.New("Image is required"))
	}
	if o.ControllerNamespace == "" {
		errs = append(errs, errors.New("ControllerNamespace is required"))
	}
	host, port, err := net.SplitHostPort(o.XDSServer)
	switch {
	case o.XDSServer == "":
		errs = append(errs, errors.New("XDSServer is required"))
	case err != nil || host == "":
		errs = append(errs, fmt.Errorf("XDSServer %q: want host:port", o.XDSServer))
	case o.ControllerXDSPort == 0:
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			errs = append(errs, fmt.Errorf("XDSServer %q: invalid port", o.XDSServer))
		}
		o.ControllerXDSPort = int32(p)
	}
	if o.TokenAudience == "" {
		o.TokenAudience = DefaultTokenAudience
	}
	if o.TokenExpiration == 0 {
		o.TokenExpiration = time.Hour
	}
	if o.TokenExpiration < 10*time.Minute {
		errs = append(errs, fmt.Errorf("TokenExpiration %s: the API server requires at least 10m", o.TokenExpiration))
	}
	if o.IngressClassController == "" {
		o.IngressClassController = DefaultIngressClassController
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 15 * time.Second
	}
	if o.PreStopDelay == 0 {
		o.PreStopDelay = 10 * time.Second
	}
	if o.DrainTimeout < 0 || o.PreStopDelay < 0 {
		errs = append(errs, errors.New("DrainTimeout and PreStopDelay must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("infra options: %w", err)
	}
	return o, nil
}

// Render returns the objects of gw's proxies, in a fixed order:
// ServiceAccount, Deployment, Service, PodDisruptionBudget, NetworkPolicy,
// IngressClass. gw must be the stored object (its UID is the owner
// reference). An error names the Gateway and the field at fault; nothing is
// rendered then, so the controller keeps the last applied objects.
func Render(gw *v1alpha1.Gateway, opts Options) ([]client.Object, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := check(gw); err != nil {
		return nil, fmt.Errorf("gateway %s/%s: %w", gw.Namespace, gw.Name, err)
	}
	r := renderer{gw: gw, opts: opts}
	return []client.Object{
		r.serviceAccount(),
		r.deployment(),
		r.service(),
		r.podDisruptionBudget(),
		r.networkPolicy(),
		r.ingressClass(),
	}, nil
}

// check refuses what the API server would refuse in the rendered objects,
// naming the Gateway field instead of the object that would fail. The CRD
// checks most of it already; objects loaded without the API server (or
// stored before a rule existed) are checked here.
func check(gw *v1alpha1.Gateway) error {
	var errs []error
	if gw.Name == "" || gw.Namespace == "" {
		errs = append(errs, errors.New("metadata: name and namespace are required"))
	}
	if gw.UID == "" {
		errs = append(errs, errors.New("metadata.uid: empty; render the object read from the API server (owner references need it)"))
	}
	http, https := ports(gw)
	if http == https {
		errs = append(errs, fmt.Errorf("spec.ports: http and https are both %d", http))
	}
	if http == AdminPort || https == AdminPort {
		errs = append(errs, fmt.Errorf("spec.ports: %d is the proxy's admin port", AdminPort))
	}
	svc := gw.Spec.Service
	exposed := svc.Type == "NodePort" || svc.Type == "LoadBalancer"
	if !exposed && (svc.NodePorts.HTTP != 0 || svc.NodePorts.HTTPS != 0) {
		errs = append(errs, fmt.Errorf("spec.service.nodePorts: require type NodePort or LoadBalancer, not %q", typeOrClusterIP(svc.Type)))
	}
	if !exposed && svc.ExternalTrafficPolicy != "" {
		errs = append(errs, fmt.Errorf("spec.service.externalTrafficPolicy: requires type NodePort or LoadBalancer, not %q", typeOrClusterIP(svc.Type)))
	}
	if svc.NodePorts.HTTP != 0 && svc.NodePorts.HTTP == svc.NodePorts.HTTPS {
		errs = append(errs, fmt.Errorf("spec.service.nodePorts: http and https are both %d", svc.NodePorts.HTTP))
	}
	if p := gw.Spec.PodDisruptionBudget; p != nil && p.MinAvailable != nil && p.MaxUnavailable != nil {
		errs = append(errs, errors.New("spec.podDisruptionBudget: set at most one of minAvailable and maxUnavailable"))
	}
	return errors.Join(errs...)
}

func typeOrClusterIP(t corev1.ServiceType) corev1.ServiceType {
	if t == "" {
		return "ClusterIP"
	}
	return t
}

// ports returns the listener ports with the CRD's defaults applied.
func ports(gw *v1alpha1.Gateway) (http, https int32) {
	http, https = gw.Spec.Ports.HTTP, gw.Spec.Ports.HTTPS
	if http == 0 {
		http = v1alpha1.DefaultHTTPPort
	}
	if https == 0 {
		https = v1alpha1.DefaultHTTPSPort
	}
	return http, https
}

// maxNameLen is a DNS-1035 label's length (Service names, label values).
const maxNameLen = 63

// ObjectName is the name of every namespaced object rendered for the
// Gateway called gatewayName: "ksgw-<name>", a valid DNS-1035 label (the
// strictest rule, a Service's). Dots become dashes; a name too long keeps
// a prefix and gains a hash of the whole name, so distinct Gateways never
// share objects.
func ObjectName(gatewayName string) string {
	return shorten("ksgw-"+strings.ReplaceAll(gatewayName, ".", "-"), gatewayName)
}

// ServiceAccountName is the ServiceAccount the proxies of gatewayName run
// as; the ADS server accepts only its tokens for that Gateway's node ID.
func ServiceAccountName(gatewayName string) string { return ObjectName(gatewayName) }

// IngressClassName is the IngressClass rendered for gw: its
// spec.ingressClassName, else "ksgw-<namespace>-<name>" (shortened like
// ObjectName), unique across the cluster.
func IngressClassName(gw *v1alpha1.Gateway) string {
	if gw.Spec.IngressClassName != "" {
		return gw.Spec.IngressClassName
	}
	return shorten("ksgw-"+gw.Namespace+"-"+strings.ReplaceAll(gw.Name, ".", "-"), gw.Namespace+"/"+gw.Name)
}

// labelValue fits a Gateway name into a label value (at most 63
// characters; DNS subdomain characters are all allowed).
func labelValue(name string) string {
	if len(name) <= maxNameLen {
		return name
	}
	return shorten(name, name)
}

// shorten returns s when it fits maxNameLen, else a prefix of s, a dash and
// 10 hex digits of SHA-256(key).
func shorten(s, key string) string {
	if len(s) <= maxNameLen {
		return s
	}
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])[:10]
	prefix := strings.TrimRight(s[:maxNameLen-len(h)-1], "-.")
	return prefix + "-" + h
}

// SelectorLabels select the proxy pods of gw.
func SelectorLabels(gw *v1alpha1.Gateway) map[string]string {
	return map[string]string{
		LabelName:      NameValue,
		LabelComponent: ComponentProxy,
		LabelGateway:   labelValue(gw.Name),
	}
}

// Labels are put on every object rendered for gw.
func Labels(gw *v1alpha1.Gateway) map[string]string {
	l := SelectorLabels(gw)
	l[LabelManagedBy] = ManagedByValue
	l[LabelGatewayNamespace] = gw.Namespace
	return l
}

// Unstructured converts a rendered object into the form to send with
// server-side apply: the typed object's always-present but meaningless
// fields dropped (a null creationTimestamp; status, which the API server
// ignores on the main resource and the controller must not claim).
func Unstructured(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("%T %s: %w", obj, obj.GetName(), err)
	}
	if meta, ok := m["metadata"].(map[string]any); ok && meta["creationTimestamp"] == nil {
		delete(meta, "creationTimestamp")
	}
	delete(m, "status")
	return &unstructured.Unstructured{Object: m}, nil
}
