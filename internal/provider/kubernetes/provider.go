// Package kubernetes is the cluster provider: controller-runtime caches of
// every kind the translator reads, turned into the same resource bundle the
// file provider publishes, plus the two writers that need the API server:
// the status writer (status.go) and the per-Gateway infrastructure
// reconciler (infra.go).
//
//	informers ──events──▶ batch window ──List from cache──▶ resource.Resources ──▶ controlplane
//
// Every replica of the controller runs the caches and the provider (so every
// replica can serve xDS); only the leader writes (status, infrastructure).
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/resource"
)

// DefaultInterval bounds how long a stream of changes can postpone a
// publish (DESIGN xds.update.interval). The article recommends 5s; ksgw's
// holdoff publishes an isolated change after DefaultHoldoff anyway, so the
// interval only matters under continuous churn, where 1s keeps endpoint
// changes current (Envoy Gateway #7366 saw 30-120s during rollouts).
const DefaultInterval = time.Second

// DefaultHoldoff is the quiet period after a change before a publish:
// `kubectl apply -f dir/` creates objects one by one within milliseconds,
// and they should reach the proxies as one snapshot (Contour's holdoff,
// internal/contour/handler.go, uses 100ms and at most 500ms).
const DefaultHoldoff = 100 * time.Millisecond

// Options configure a Provider.
type Options struct {
	// Cache is the manager's cache; the Provider registers its informers.
	Cache cache.Cache
	// Interval is the longest a publish waits once a change arrived, however
	// many follow (the batch window). 0 means DefaultInterval.
	Interval time.Duration
	// Holdoff is the quiet period that ends a batch early. 0 means
	// DefaultHoldoff; it is capped at Interval.
	Holdoff time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Provider publishes a resource bundle built from the caches whenever a
// watched object changes. Fields are immutable after New, except published
// (atomic) and the channels, whose only sender is Run.
type Provider struct {
	cache    cache.Cache
	interval time.Duration
	holdoff  time.Duration
	log      *slog.Logger

	kick      chan struct{}            // capacity 1: an event arrived
	updates   chan *resource.Resources // capacity 1: the latest bundle, replaced if unread
	published atomic.Int64             // bundles published so far
	running   atomic.Bool              // Run was called
	synced    atomic.Bool              // the caches synced and the first bundle is out
}

// New checks the options and returns a Provider; Run starts it.
func New(opts Options) (*Provider, error) {
	if opts.Cache == nil {
		return nil, errors.New("kubernetes provider: a cache is required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Holdoff <= 0 {
		opts.Holdoff = DefaultHoldoff
	}
	opts.Holdoff = min(opts.Holdoff, opts.Interval)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		cache:    opts.Cache,
		interval: opts.Interval,
		holdoff:  opts.Holdoff,
		log:      opts.Logger.With("provider", "kubernetes"),
		kick:     make(chan struct{}, 1),
		updates:  make(chan *resource.Resources, 1),
	}, nil
}

// Published is the number of bundles published so far.
func (p *Provider) Published() int64 { return p.published.Load() }

// Synced reports whether the caches have synced and the first bundle was
// published: the controller's readiness.
func (p *Provider) Synced() bool { return p.synced.Load() }

// Next returns the latest bundle once one newer than the last returned is
// published. ok is false when ctx is done or Run has returned.
func (p *Provider) Next(ctx context.Context) (*resource.Resources, []resource.LoadError, bool) {
	select {
	case <-ctx.Done():
		return nil, nil, false
	case res, ok := <-p.updates:
		return res, nil, ok
	}
}

// kind is one watched kind: an empty object for the informer, whether an
// update is worth a new bundle, and how to list the cache into a bundle.
type kind struct {
	obj     client.Object
	changed func(old, cur client.Object) bool
	list    func(ctx context.Context, r client.Reader, out *resource.Resources) error
}

// kinds are the kinds of resource.Resources the translator reads. Read-only.
// Namespaces are not watched: the translator does not read them.
var kinds = []kind{
	{&v1alpha1.Gateway{}, specChanged, listInto(&v1alpha1.GatewayList{}, func(l *v1alpha1.GatewayList, r *resource.Resources) {
		r.Gateways = ptrs(l.Items)
	})},
	{&v1alpha1.Route{}, specChanged, listInto(&v1alpha1.RouteList{}, func(l *v1alpha1.RouteList, r *resource.Resources) {
		r.Routes = ptrs(l.Items)
	})},
	{&v1alpha1.DestinationRule{}, specChanged, listInto(&v1alpha1.DestinationRuleList{}, func(l *v1alpha1.DestinationRuleList, r *resource.Resources) {
		r.DestinationRules = ptrs(l.Items)
	})},
	{&v1alpha1.SecurityPolicy{}, specChanged, listInto(&v1alpha1.SecurityPolicyList{}, func(l *v1alpha1.SecurityPolicyList, r *resource.Resources) {
		r.SecurityPolicies = ptrs(l.Items)
	})},
	{&networkingv1.Ingress{}, specChanged, listInto(&networkingv1.IngressList{}, func(l *networkingv1.IngressList, r *resource.Resources) {
		r.Ingresses = ptrs(l.Items)
	})},
	{&networkingv1.IngressClass{}, anyChange, listInto(&networkingv1.IngressClassList{}, func(l *networkingv1.IngressClassList, r *resource.Resources) {
		r.IngressClasses = ptrs(l.Items)
	})},
	// Services change status (load-balancer addresses) that Ingress
	// status reports, so every change counts.
	{&corev1.Service{}, anyChange, listInto(&corev1.ServiceList{}, func(l *corev1.ServiceList, r *resource.Resources) {
		r.Services = ptrs(l.Items)
	})},
	{&discoveryv1.EndpointSlice{}, anyChange, listInto(&discoveryv1.EndpointSliceList{}, func(l *discoveryv1.EndpointSliceList, r *resource.Resources) {
		r.EndpointSlices = ptrs(l.Items)
	})},
	{&corev1.Pod{}, podChanged, listInto(&corev1.PodList{}, func(l *corev1.PodList, r *resource.Resources) {
		r.Pods = ptrs(l.Items)
	})},
	{&corev1.Secret{}, anyChange, listInto(&corev1.SecretList{}, func(l *corev1.SecretList, r *resource.Resources) {
		r.Secrets = ptrs(l.Items)
	})},
	{&corev1.ConfigMap{}, anyChange, listInto(&corev1.ConfigMapList{}, func(l *corev1.ConfigMapList, r *resource.Resources) {
		r.ConfigMaps = ptrs(l.Items)
	})},
}

// WatchedObjects returns an empty object of every kind the provider
// watches (for RBAC checks and tests).
func WatchedObjects() []client.Object {
	out := make([]client.Object, len(kinds))
	for i, k := range kinds {
		out[i] = k.obj.DeepCopyObject().(client.Object)
	}
	return out
}

// listInto lists one kind from the cache without deep copies: objects in an
// informer's store are never mutated (an update replaces them), and the
// bundle is immutable once published, so sharing them is safe and keeps
// memory flat under churn (DESIGN §6, Envoy Gateway #6919).
func listInto[L client.ObjectList](newList L, set func(L, *resource.Resources)) func(context.Context, client.Reader, *resource.Resources) error {
	return func(ctx context.Context, r client.Reader, out *resource.Resources) error {
		l := newList.DeepCopyObject().(L)
		if err := r.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		set(l, out)
		return nil
	}
}

func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// specChanged ignores updates that touch neither the spec (generation) nor
// labels and annotations: status writes, including ksgw's own, which would
// otherwise re-trigger a translation each.
func specChanged(old, cur client.Object) bool {
	return old.GetGeneration() != cur.GetGeneration() ||
		!maps.Equal(old.GetLabels(), cur.GetLabels()) ||
		!maps.Equal(old.GetAnnotations(), cur.GetAnnotations()) ||
		(old.GetDeletionTimestamp() == nil) != (cur.GetDeletionTimestamp() == nil)
}

func anyChange(old, cur client.Object) bool {
	return old.GetResourceVersion() != cur.GetResourceVersion()
}

// podChanged compares only what the translator reads of a Pod (labels for
// subsets, addresses, readiness, container ports): a kubelet rewrites Pod
// status often for things ksgw does not use.
func podChanged(old, cur client.Object) bool {
	a, okA := old.(*corev1.Pod)
	b, okB := cur.(*corev1.Pod)
	if !okA || !okB {
		return true
	}
	return !maps.Equal(a.Labels, b.Labels) ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) ||
		a.Status.PodIP != b.Status.PodIP ||
		!slices.Equal(a.Status.PodIPs, b.Status.PodIPs) ||
		a.Status.Phase != b.Status.Phase ||
		podReady(a) != podReady(b) ||
		!slices.EqualFunc(a.Spec.Containers, b.Spec.Containers, func(x, y corev1.Container) bool {
			return slices.Equal(x.Ports, y.Ports)
		})
}

func podReady(p *corev1.Pod) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

// Run registers the informers, waits for the caches to sync, publishes the
// first bundle and then one per batch of changes until ctx is done. The
// cache itself is started by the manager. Run may be called once.
func (p *Provider) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("kubernetes provider: Run called twice")
	}
	defer close(p.updates)

	type registration struct {
		inf cache.Informer
		reg toolscache.ResourceEventHandlerRegistration
	}
	var regs []registration
	defer func() {
		for _, r := range regs {
			_ = r.inf.RemoveEventHandler(r.reg)
		}
	}()
	for _, k := range kinds {
		inf, err := p.cache.GetInformer(ctx, k.obj)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("kubernetes provider: informer for %T: %w", k.obj, err)
		}
		reg, err := inf.AddEventHandler(p.handler(k))
		if err != nil {
			return fmt.Errorf("kubernetes provider: event handler for %T: %w", k.obj, err)
		}
		regs = append(regs, registration{inf, reg})
	}
	if !p.cache.WaitForCacheSync(ctx) {
		return nil // ctx done
	}
	for _, r := range regs {
		if !toolscache.WaitForCacheSync(ctx.Done(), r.reg.HasSynced) {
			return nil
		}
	}
	// The events of the initial list are folded into the first bundle.
	select {
	case <-p.kick:
	default:
	}
	if err := p.publish(ctx); err != nil {
		return err
	}
	p.synced.Store(true)

	// A batch opens at the first event after a publish. It closes when no
	// event came for holdoff, or at the latest interval after it opened.
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	deadline := time.NewTimer(time.Hour)
	deadline.Stop()
	defer deadline.Stop()
	open := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.kick:
			if !open {
				open = true
				deadline.Reset(p.interval)
			}
			quiet.Reset(p.holdoff)
			continue
		case <-quiet.C:
		case <-deadline.C:
		}
		if !open {
			continue
		}
		open = false
		quiet.Stop()
		deadline.Stop()
		if err := p.publish(ctx); err != nil {
			// The cache is local: a List can only fail when an informer
			// for the kind is missing, which Run registered. Keep the last
			// bundle and try again with the next change.
			p.log.Error("cannot list from the cache; keeping the last bundle", "error", err)
		}
	}
}

func (p *Provider) handler(k kind) toolscache.ResourceEventHandler {
	notify := func() {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { notify() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(client.Object)
			n, ok2 := newObj.(client.Object)
			if ok1 && ok2 && !k.changed(o, n) {
				return
			}
			notify()
		},
		DeleteFunc: func(any) { notify() },
	}
}

// publish lists every kind and hands the bundle over, replacing an unread
// one (latest state wins; a slow translator never blocks the informers).
func (p *Provider) publish(ctx context.Context) error {
	res, err := p.bundle(ctx)
	if err != nil {
		return err
	}
	p.published.Add(1)
	select {
	case p.updates <- res:
	default:
		select {
		case <-p.updates:
		default:
		}
		p.updates <- res // Run is the only sender
	}
	p.log.Debug("published", "objects", res.Len())
	return nil
}

func (p *Provider) bundle(ctx context.Context) (*resource.Resources, error) {
	res := &resource.Resources{}
	for _, k := range kinds {
		if err := k.list(ctx, p.cache, res); err != nil {
			return nil, fmt.Errorf("list %T: %w", k.obj, err)
		}
	}
	res.Sort()
	return res, nil
}
