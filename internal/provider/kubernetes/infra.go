package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ksgw/ksgw/api/v1alpha1"
)

// FieldManager is the server-side apply field manager of every object the
// controller creates.
const FieldManager = "ksgw"

// InfraFinalizer holds a Gateway until its cluster-scoped IngressClass is
// deleted: Kubernetes garbage collection cannot follow an owner reference
// from a cluster-scoped object to a namespaced owner.
const InfraFinalizer = "networking.kubesphere.io/infrastructure"

// Renderer returns the objects that run a Gateway's proxies (internal/infra
// Render with the controller's options). gatewayNamespaces lists the
// namespaces that have a Gateway of their own, sorted; the cluster
// gateway's NetworkPolicy depends on it.
type Renderer func(gw *v1alpha1.Gateway, gatewayNamespaces []string) ([]client.Object, error)

// InfraOptions configure an InfraReconciler.
type InfraOptions struct {
	Client client.Client
	Scheme *runtime.Scheme
	Render Renderer
	// ControllerNamespace holds the cluster gateway.
	ControllerNamespace string
	// Owned selects, among the objects of the kinds Render returns, those
	// rendered for gw (the labels internal/infra puts on every object), to
	// find what a new render no longer contains.
	Owned  func(gw types.NamespacedName) client.MatchingLabels
	Logger *slog.Logger
}

// InfraReconciler keeps every Gateway's proxy infrastructure
// (ServiceAccount, Deployment, Service, PodDisruptionBudget, NetworkPolicy,
// IngressClass) equal to what Render returns: each object is applied with
// server-side apply (field manager "ksgw", forced: the controller is the
// authority on the fields it sets, and leaves every other field, such as
// replicas under an HPA, to its owner), and objects rendered earlier but
// not now are deleted. Runs on the leader only (controller-runtime
// controllers do). A change to an owned object (kubectl edit, deletion)
// brings it back.
type InfraReconciler struct {
	opts    InfraOptions
	log     *slog.Logger
	applied atomic.Int64 // apply calls that succeeded
}

// NewInfraReconciler checks opts.
func NewInfraReconciler(opts InfraOptions) (*InfraReconciler, error) {
	if opts.Client == nil || opts.Scheme == nil || opts.Render == nil || opts.Owned == nil || opts.ControllerNamespace == "" {
		return nil, fmt.Errorf("infra reconciler: Client, Scheme, Render, Owned and ControllerNamespace are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &InfraReconciler{opts: opts, log: opts.Logger.With("component", "infra")}, nil
}

// Applied is the number of successful server-side applies.
func (r *InfraReconciler) Applied() int64 { return r.applied.Load() }

// ownedLists are the kinds Render returns, as lists for orphan collection.
func ownedLists() []client.ObjectList {
	return []client.ObjectList{
		&corev1.ServiceAccountList{}, &appsv1.DeploymentList{}, &corev1.ServiceList{},
		&policyv1.PodDisruptionBudgetList{}, &networkingv1.NetworkPolicyList{}, &networkingv1.IngressClassList{},
	}
}

// SetupWithManager registers the reconciler.
func (r *InfraReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// Status writes (ours, every render) must not trigger a reconcile.
	spec := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{},
		predicate.AnnotationChangedPredicate{}, finalizersChanged{})
	return ctrl.NewControllerManagedBy(mgr).
		Named("gateway-infrastructure").
		For(&v1alpha1.Gateway{}, builder.WithPredicates(spec)).
		Owns(&corev1.ServiceAccount{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		// IngressClasses have no owner reference (cluster-scoped); map them
		// back by their spec.parameters.
		Watches(&networkingv1.IngressClass{}, handler.EnqueueRequestsFromMapFunc(classGateway)).
		// The cluster gateway's NetworkPolicy depends on which namespaces
		// have a Gateway: a Gateway appearing or going away re-renders it.
		Watches(&v1alpha1.Gateway{}, handler.EnqueueRequestsFromMapFunc(r.clusterGateways),
			builder.WithPredicates(createOrDelete{})).
		Complete(r)
}

func classGateway(_ context.Context, o client.Object) []reconcile.Request {
	c, ok := o.(*networkingv1.IngressClass)
	if !ok || c.Spec.Parameters == nil || c.Spec.Parameters.APIGroup == nil || *c.Spec.Parameters.APIGroup != v1alpha1.GroupName ||
		c.Spec.Parameters.Kind != v1alpha1.KindGateway || c.Spec.Parameters.Namespace == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: *c.Spec.Parameters.Namespace, Name: c.Spec.Parameters.Name}}}
}

func (r *InfraReconciler) clusterGateways(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetNamespace() == r.opts.ControllerNamespace {
		return nil // the cluster gateway itself is reconciled by For
	}
	var l v1alpha1.GatewayList
	if err := r.opts.Client.List(ctx, &l, client.InNamespace(r.opts.ControllerNamespace)); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(l.Items))
	for _, g := range l.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: g.Namespace, Name: g.Name}})
	}
	return out
}

// Reconcile applies the Gateway's objects and deletes its orphans.
func (r *InfraReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	c := r.opts.Client
	gw := &v1alpha1.Gateway{}
	if err := c.Get(ctx, req.NamespacedName, gw); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone without our finalizer (deleted while no controller ran):
			// namespaced objects go with their owner; the IngressClass is
			// ours to remove.
			return reconcile.Result{}, r.deleteOwned(ctx, req.NamespacedName, nil)
		}
		return reconcile.Result{}, err
	}
	if !gw.DeletionTimestamp.IsZero() {
		if !controllerutil.ContainsFinalizer(gw, InfraFinalizer) {
			return reconcile.Result{}, nil
		}
		// Namespaced objects would be garbage-collected anyway; deleting
		// them here makes a Gateway's removal complete even where no
		// garbage collector runs, and orders it before the finalizer goes.
		if err := r.deleteOwned(ctx, req.NamespacedName, nil); err != nil {
			return reconcile.Result{}, err
		}
		orig := gw.DeepCopy()
		controllerutil.RemoveFinalizer(gw, InfraFinalizer)
		return reconcile.Result{}, client.IgnoreNotFound(c.Patch(ctx, gw, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})))
	}
	if !controllerutil.ContainsFinalizer(gw, InfraFinalizer) {
		orig := gw.DeepCopy()
		controllerutil.AddFinalizer(gw, InfraFinalizer)
		if err := c.Patch(ctx, gw, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
	}

	var nss []string
	if gw.Namespace == r.opts.ControllerNamespace {
		var err error
		if nss, err = r.gatewayNamespaces(ctx); err != nil {
			return reconcile.Result{}, err
		}
	}
	objs, err := r.opts.Render(gw, nss)
	if err != nil {
		// A spec the infrastructure cannot express: retrying cannot help
		// until the Gateway changes, which triggers a new reconcile; what
		// was applied before stays (last good, STYLE habit 10).
		r.log.Error("cannot render the gateway's infrastructure; keeping what is deployed", "gateway", req.String(), "error", err)
		return reconcile.Result{}, nil
	}
	keep := map[string]bool{}
	for _, o := range objs {
		if err := r.apply(ctx, o); err != nil {
			return reconcile.Result{}, fmt.Errorf("gateway %s: apply %T %s: %w", req, o, o.GetName(), err)
		}
		gvk, _ := apiutil.GVKForObject(o, r.opts.Scheme)
		keep[gvk.Kind+" "+o.GetNamespace()+"/"+o.GetName()] = true
	}
	return reconcile.Result{}, r.deleteOwned(ctx, req.NamespacedName, keep)
}

// gatewayNamespaces lists the namespaces with a Gateway of their own,
// besides the controller's.
func (r *InfraReconciler) gatewayNamespaces(ctx context.Context) ([]string, error) {
	var l v1alpha1.GatewayList
	if err := r.opts.Client.List(ctx, &l); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, g := range l.Items {
		if g.Namespace != r.opts.ControllerNamespace && g.DeletionTimestamp.IsZero() {
			set[g.Namespace] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// apply sends o as a server-side apply patch. The typed object is turned
// into an apply configuration without the zero values a Go struct always
// carries (creationTimestamp: null, status: {}), which would otherwise
// claim fields ksgw does not mean to own.
func (r *InfraReconciler) apply(ctx context.Context, o client.Object) error {
	gvk, err := apiutil.GVKForObject(o, r.opts.Scheme)
	if err != nil {
		return err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		for _, f := range []string{"creationTimestamp", "resourceVersion", "managedFields", "uid", "generation"} {
			delete(md, f)
		}
	}
	pruneNulls(m)
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	if err := r.opts.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return err
	}
	r.applied.Add(1)
	return nil
}

// pruneNulls removes null values, which in an apply configuration would
// mean "remove this field" rather than "not set".
func pruneNulls(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			pruneNulls(t)
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					pruneNulls(em)
				}
			}
		}
	}
}

// deleteOwned deletes the objects rendered for gw whose key is not in keep
// (all of them when keep is nil).
func (r *InfraReconciler) deleteOwned(ctx context.Context, gw types.NamespacedName, keep map[string]bool) error {
	c := r.opts.Client
	sel := r.opts.Owned(gw)
	for _, l := range ownedLists() {
		l = l.DeepCopyObject().(client.ObjectList)
		opts := []client.ListOption{sel}
		if _, cluster := l.(*networkingv1.IngressClassList); !cluster {
			opts = append(opts, client.InNamespace(gw.Namespace))
		}
		if err := c.List(ctx, l, opts...); err != nil {
			return err
		}
		gvk, err := apiutil.GVKForObject(l, r.opts.Scheme)
		if err != nil {
			return err
		}
		kind := gvk.Kind[:len(gvk.Kind)-len("List")]
		items, err := metaItems(l)
		if err != nil {
			return err
		}
		for _, o := range items {
			if keep[kind+" "+o.GetNamespace()+"/"+o.GetName()] {
				continue
			}
			r.log.Info("deleting infrastructure object no longer rendered", "gateway", gw.String(), "kind", kind, "name", o.GetName())
			if err := c.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	return nil
}

func metaItems(l client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch t := l.(type) {
	case *corev1.ServiceAccountList:
		for i := range t.Items {
			out = append(out, &t.Items[i])
		}
	case *appsv1.DeploymentList:
		for i := range t.Items {
			out = append(out, &t.Items[i])
		}
	case *corev1.ServiceList:
		for i := range t.Items {
			out = append(out, &t.Items[i])
		}
	case *policyv1.PodDisruptionBudgetList:
		for i := range t.Items {
			out = append(out, &t.Items[i])
		}
	case *networkingv1.NetworkPolicyList:
		for i := range t.Items {
			out = append(out, &t.Items[i])
		}
	case *networkingv1.IngressClassList:
		for i := range t.Items {
			out = append(out, &t.Items[i])
		}
	default:
		return nil, fmt.Errorf("unexpected list %T", l)
	}
	return out, nil
}

// finalizersChanged passes updates that add or remove a finalizer or set
// the deletion timestamp.
type finalizersChanged struct{ predicate.Funcs }

func (finalizersChanged) Update(e event.UpdateEvent) bool {
	return !slices.Equal(e.ObjectOld.GetFinalizers(), e.ObjectNew.GetFinalizers()) ||
		e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
}

// createOrDelete passes creations and deletions only.
type createOrDelete struct{ predicate.Funcs }

func (createOrDelete) Update(event.UpdateEvent) bool { return false }
