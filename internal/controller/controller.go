// Package controller is the composition root of `ksgw controller`: the
// control plane of a cluster. It wires, with explicit dependencies:
//
//	controller-runtime manager (caches, leader election, probes, metrics)
//	  ├─ kubernetes provider ──resources──▶ controlplane (translate → xDS → ADS server)   every replica
//	  ├─ status writer ◀──statuses── controlplane                                          leader only
//	  └─ infrastructure reconciler (internal/infra objects, server-side apply)             leader only
//
// Every replica serves xDS from its own caches, so proxies may connect to
// any of them; only the leader writes to the API server.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/controlplane"
	"github.com/ksgw/ksgw/internal/infra"
	"github.com/ksgw/ksgw/internal/provider/kubernetes"
	"github.com/ksgw/ksgw/internal/translate"
	xdsserver "github.com/ksgw/ksgw/internal/xds/server"
)

// DefaultLeaderElectionID names the Lease the replicas compete for.
const DefaultLeaderElectionID = "ksgw-controller-leader"

// Options configure a controller. RESTConfig, Namespace, Authenticator and
// Infra.Image are required.
type Options struct {
	RESTConfig *rest.Config
	// Namespace is the controller's namespace: it holds the cluster
	// gateway (DESIGN §4) and the leader-election Lease.
	Namespace string
	// XDSAddress is where the ADS server listens (default ":18000").
	XDSAddress string
	// Authenticator checks proxies' credentials against their node IDs.
	// Nil means the Kubernetes way: the proxy presents its projected
	// ServiceAccount token (audience Infra.TokenAudience), reviewed with the
	// TokenReview API, and must be the ServiceAccount of the Gateway its
	// node ID names.
	Authenticator xdsserver.Authenticator
	// UpdateInterval bounds the batch window of changes (DESIGN
	// xds.update.interval); 0 means the provider's default.
	UpdateInterval time.Duration

	LeaderElect      bool
	LeaderElectionID string // default DefaultLeaderElectionID
	// Lease timings; zero values keep client-go's defaults (15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// MetricsAddress serves controller-runtime's Prometheus metrics; "0"
	// disables it. HealthAddress serves /healthz and /readyz; "0" disables.
	MetricsAddress string
	HealthAddress  string

	// Infra are the options of the per-Gateway objects (image, the xDS
	// address proxies dial, ...). ControllerNamespace is set from
	// Namespace.
	Infra  infra.Options
	Logger *slog.Logger
}

// Run runs the controller until ctx is done or the leader lease is lost
// (controller-runtime then stops the manager: a replica that may no longer
// write must not pretend to, and its restart rejoins as a follower).
func Run(ctx context.Context, opts Options) error {
	if opts.RESTConfig == nil || opts.Namespace == "" {
		return errors.New("controller: RESTConfig and Namespace are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.XDSAddress == "" {
		opts.XDSAddress = ":18000"
	}
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = DefaultLeaderElectionID
	}
	opts.Infra.ControllerNamespace = opts.Namespace
	// Render once with a probe Gateway so that bad infrastructure options
	// fail at start, not at the first Gateway.
	if _, err := infra.Render(&v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: opts.Namespace, UID: "probe"}}, opts.Infra); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	log := opts.Logger
	if opts.Authenticator == nil {
		a, err := serviceAccountAuthenticator(opts.RESTConfig, opts.Infra.TokenAudience)
		if err != nil {
			return err
		}
		opts.Authenticator = a
	}

	scheme, err := kubernetes.NewScheme()
	if err != nil {
		return err
	}
	cacheOpts := kubernetes.CacheOptions()
	// The kinds only the infrastructure reconciler reads are cached for
	// ksgw's own objects only; Services and IngressClasses are read by the
	// translator too and stay unfiltered.
	managed := labels.SelectorFromSet(labels.Set{infra.LabelManagedBy: infra.ManagedByValue})
	for _, o := range []client.Object{&corev1.ServiceAccount{}, &appsv1.Deployment{}, &policyv1.PodDisruptionBudget{}, &networkingv1.NetworkPolicy{}} {
		cacheOpts.ByObject[o] = cache.ByObject{Label: managed}
	}
	cpReg := prometheus.NewRegistry()
	mopts := manager.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Logger:                        logr.FromSlogHandler(log.Handler()),
		LeaderElection:                opts.LeaderElect,
		LeaderElectionID:              opts.LeaderElectionID,
		LeaderElectionNamespace:       opts.Namespace,
		LeaderElectionReleaseOnCancel: true, // a clean stop hands over at once
		// The control plane's own metrics (cpmetrics: resources per kind,
		// translation time, pushes and NACKs per node, connected proxies)
		// live in a registry of this controller, not controller-runtime's
		// process-wide one, and are served next to it.
		Metrics: metricsserver.Options{BindAddress: opts.MetricsAddress, ExtraHandlers: map[string]http.Handler{
			"/metrics/controlplane": promhttp.HandlerFor(cpReg, promhttp.HandlerOpts{}),
		}},
		HealthProbeBindAddress: opts.HealthAddress,
	}
	if opts.HealthAddress == "" {
		mopts.HealthProbeBindAddress = "0"
	}
	if opts.MetricsAddress == "" {
		mopts.Metrics.BindAddress = "0"
	}
	if opts.LeaseDuration > 0 {
		mopts.LeaseDuration = &opts.LeaseDuration
	}
	if opts.RenewDeadline > 0 {
		mopts.RenewDeadline = &opts.RenewDeadline
	}
	if opts.RetryPeriod > 0 {
		mopts.RetryPeriod = &opts.RetryPeriod
	}
	mgr, err := manager.New(opts.RESTConfig, mopts)
	if err != nil {
		return fmt.Errorf("controller: manager: %w", err)
	}

	prov, err := kubernetes.New(kubernetes.Options{Cache: mgr.GetCache(), Interval: opts.UpdateInterval, Logger: log})
	if err != nil {
		return err
	}
	status := kubernetes.NewStatusWriter(mgr.GetClient(), log)
	if err := mgr.Add(status); err != nil {
		return err
	}
	infraOpts := opts.Infra
	rec, err := kubernetes.NewInfraReconciler(kubernetes.InfraOptions{
		Client: mgr.GetClient(),
		Scheme: scheme,
		Render: func(gw *v1alpha1.Gateway, nss []string) ([]client.Object, error) {
			o := infraOpts
			o.GatewayNamespaces = nss
			return infra.Render(gw, o)
		},
		ControllerNamespace: opts.Namespace,
		Owned: func(gw types.NamespacedName) client.MatchingLabels {
			return client.MatchingLabels(infra.Labels(&v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: gw.Namespace, Name: gw.Name}}))
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("controller: infrastructure reconciler: %w", err)
	}

	cp, err := controlplane.New(controlplane.Options{
		Provider:       prov,
		UpdateInterval: opts.UpdateInterval,
		Translate:      translate.Options{ControllerNamespace: opts.Namespace},
		Authenticator:  opts.Authenticator,
		Metrics:        cpReg,
		OnRender: func(_ context.Context, r *controlplane.Rendered) {
			status.Offer(r.Result.Statuses, r.Result.Gateways)
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", opts.XDSAddress)
	if err != nil {
		return fmt.Errorf("controller: xds listener: %w", err)
	}
	defer lis.Close() // the ADS server closes it first when it ran
	// The control plane runs on every replica (not leader-gated): its
	// listener is closed by the ADS server when Run returns.
	if err := mgr.Add(everyReplica(func(ctx context.Context) error { return cp.Run(ctx, lis) })); err != nil {
		lis.Close()
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready once the caches synced and the first snapshot is published:
	// before that, a proxy connecting here would get nothing to serve.
	if err := mgr.AddReadyzCheck("synced", func(*http.Request) error {
		if !prov.Synced() {
			return errors.New("caches not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	log.Info("controller starting", "namespace", opts.Namespace, "xds", lis.Addr().String(), "leader_elect", opts.LeaderElect)
	return mgr.Start(ctx)
}

// serviceAccountAuthenticator admits the proxies of a Gateway by their
// ServiceAccount token (internal/infra mounts it, audience-bound).
func serviceAccountAuthenticator(cfg *rest.Config, audience string) (xdsserver.Authenticator, error) {
	c, err := authenticationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("controller: token review client: %w", err)
	}
	if audience == "" {
		audience = infra.DefaultTokenAudience
	}
	return xdsserver.NewServiceAccountAuthenticator(xdsserver.ClientTokenReviewer{Client: c}, audience,
		func(_, gateway string) string { return infra.ServiceAccountName(gateway) })
}

// everyReplica is a manager runnable that does not wait for leadership.
type everyReplica func(ctx context.Context) error

var _ manager.LeaderElectionRunnable = everyReplica(nil)

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }
