package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/ksgw/ksgw/api/v1alpha1"
	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/status"
	"github.com/ksgw/ksgw/internal/translate"
)

// StatusWriter writes what the translator decided back to the API server:
// the Accepted/ResolvedRefs/Programmed conditions (with observedGeneration)
// of Gateways, Routes and DestinationRules, and the status.loadBalancer of
// the Ingresses of ksgw's classes, taken from the Service of the Gateways
// that serve them. An Ingress of another class never appears in the
// translator's statuses, so it is never written (ingress-nginx and friends
// own theirs).
//
// Only the leader writes (NeedLeaderElection). Every replica offers its
// renders, and the writer keeps only the latest, so a replica that becomes
// leader starts from the newest state it has seen and no update is lost in a
// hand-over. A write is sent only when it changes the object (DESIGN §6,
// Contour #5001): re-publishing identical statuses costs no API call.
type StatusWriter struct {
	// Immutable after NewStatusWriter.
	client client.Client // reads from the cache, writes to the API server
	log    *slog.Logger
	retry  time.Duration

	latest  atomic.Pointer[statusSet] // the newest offer; taken by Start
	kick    chan struct{}             // capacity 1
	patches atomic.Int64              // status patches sent
	synced  atomic.Pointer[statusSet] // the last set fully written
}

// statusSet is one render's worth of status. Immutable.
type statusSet struct {
	statuses []status.ObjectStatus
	// ingressGateways maps an Ingress to the Gateways that received its
	// routes, sorted.
	ingressGateways map[types.NamespacedName][]types.NamespacedName
}

var _ manager.LeaderElectionRunnable = (*StatusWriter)(nil)

// NewStatusWriter returns a writer using c (the manager's client).
func NewStatusWriter(c client.Client, logger *slog.Logger) *StatusWriter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &StatusWriter{client: c, log: logger.With("component", "status-writer"), retry: time.Second, kick: make(chan struct{}, 1)}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (w *StatusWriter) NeedLeaderElection() bool { return true }

// Patches is the number of status patches sent so far.
func (w *StatusWriter) Patches() int64 { return w.patches.Load() }

// Offer hands over the statuses of one render and the gateways it built.
// It never blocks; an unwritten earlier offer is superseded.
func (w *StatusWriter) Offer(statuses []status.ObjectStatus, gateways []*ir.Gateway) {
	set := &statusSet{statuses: statuses, ingressGateways: ingressGateways(gateways)}
	w.latest.Store(set)
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// ingressGateways reads from the IR which Gateways received routes of each
// Ingress (ir.Route.Source).
func ingressGateways(gateways []*ir.Gateway) map[types.NamespacedName][]types.NamespacedName {
	out := map[types.NamespacedName][]types.NamespacedName{}
	for _, gw := range gateways {
		gns, gname, ok := cutKey(gw.Name)
		if !ok {
			continue
		}
		g := types.NamespacedName{Namespace: gns, Name: gname}
		for _, l := range gw.Listeners {
			for _, vh := range l.VirtualHosts {
				for _, r := range vh.Routes {
					if r.Source.Kind != translate.KindIngress {
						continue
					}
					k := types.NamespacedName{Namespace: r.Source.Namespace, Name: r.Source.Name}
					if !slices.Contains(out[k], g) {
						out[k] = append(out[k], g)
					}
				}
			}
		}
	}
	for k := range out {
		slices.SortFunc(out[k], func(a, b types.NamespacedName) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
	}
	return out
}

// cutKey splits an IR gateway name ("namespace/name", the node ID).
func cutKey(key string) (string, string, bool) {
	ns, name, ok := strings.Cut(key, "/")
	return ns, name, ok && ns != "" && name != ""
}

// Start writes the latest offer, and every later one, until ctx is done.
// A failed write is retried (with the newest offer) after a pause.
func (w *StatusWriter) Start(ctx context.Context) error {
	w.log.Info("status writer started (leader)")
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		if set := w.latest.Load(); set != nil && set != w.synced.Load() {
			if err := w.write(ctx, set); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				w.log.Warn("status write failed; retrying", "error", err)
				retry.Reset(w.retry)
			} else {
				w.synced.Store(set)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		case <-retry.C:
		}
	}
}

// write sends every status of set that differs from what the object
// carries. It goes on after a failed object and returns the errors joined.
func (w *StatusWriter) write(ctx context.Context, set *statusSet) error {
	var errs []error
	for i := range set.statuses {
		st := &set.statuses[i]
		var err error
		switch st.Kind {
		case translate.KindGateway:
			err = writeConditions(ctx, w, st, &v1alpha1.Gateway{}, func(o *v1alpha1.Gateway) *v1alpha1.ObjectStatus { return &o.Status.ObjectStatus })
		case translate.KindRoute:
			err = writeConditions(ctx, w, st, &v1alpha1.Route{}, func(o *v1alpha1.Route) *v1alpha1.ObjectStatus { return &o.Status.ObjectStatus })
		case translate.KindDestinationRule:
			err = writeConditions(ctx, w, st, &v1alpha1.DestinationRule{}, func(o *v1alpha1.DestinationRule) *v1alpha1.ObjectStatus { return &o.Status.ObjectStatus })
		case translate.KindSecurityPolicy:
			err = writeConditions(ctx, w, st, &v1alpha1.SecurityPolicy{}, func(o *v1alpha1.SecurityPolicy) *v1alpha1.ObjectStatus { return &o.Status.ObjectStatus })
		case translate.KindIngress:
			// networking.k8s.io/v1 IngressStatus has no conditions: what
			// a cluster shows of ksgw's decision is the load-balancer
			// address, present once the Ingress is programmed.
			err = w.writeIngress(ctx, st, set.ingressGateways[types.NamespacedName{Namespace: st.Namespace, Name: st.Name}])
		}
		if err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.Key(), err))
		}
	}
	return errors.Join(errs...)
}

// writeConditions merges st's conditions into the object's status with
// meta.SetStatusCondition, which keeps lastTransitionTime unless a
// condition's status flips (Kubernetes API conventions), and patches the
// status subresource when something differs. Conditions of other types
// (written by someone else) are kept.
func writeConditions[T interface {
	*O
	client.Object
}, O any](ctx context.Context, w *StatusWriter, st *status.ObjectStatus, obj T, sub func(T) *v1alpha1.ObjectStatus) error {
	if err := w.client.Get(ctx, types.NamespacedName{Namespace: st.Namespace, Name: st.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted since the render
		}
		return err
	}
	if obj.GetGeneration() < st.Generation {
		// The cache is behind the render (cannot happen with one cache,
		// but a status must never claim a generation the object does not
		// have yet).
		return nil
	}
	cur := sub(obj)
	next := v1alpha1.ObjectStatus{Conditions: slices.Clone(cur.Conditions), ObservedGeneration: st.Generation}
	for _, c := range st.Conditions {
		meta.SetStatusCondition(&next.Conditions, c)
	}
	if next.ObservedGeneration == cur.ObservedGeneration && conditionsEqual(next.Conditions, cur.Conditions) {
		return nil
	}
	orig := obj.DeepCopyObject().(client.Object)
	*cur = next
	// A JSON merge patch of status only: it replaces the conditions list
	// wholesale, and carries no resourceVersion, so it never conflicts with
	// a spec edit made meanwhile (observedGeneration tells readers which
	// spec the conditions describe).
	if err := w.client.Status().Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	w.patches.Add(1)
	return nil
}

func conditionsEqual(a, b []metav1.Condition) bool {
	return slices.EqualFunc(a, b, func(x, y metav1.Condition) bool {
		return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message &&
			x.ObservedGeneration == y.ObservedGeneration && x.LastTransitionTime.Equal(&y.LastTransitionTime)
	})
}

// writeIngress sets status.loadBalancer of a ksgw Ingress to the addresses
// of the Services of the Gateways serving it, as ingress-nginx publishes
// its controller Service's address (--publish-service). An Ingress
// programmed on no Gateway gets an empty status.
func (w *StatusWriter) writeIngress(ctx context.Context, st *status.ObjectStatus, gateways []types.NamespacedName) error {
	ing := &networkingv1.Ingress{}
	if err := w.client.Get(ctx, types.NamespacedName{Namespace: st.Namespace, Name: st.Name}, ing); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	var want []networkingv1.IngressLoadBalancerIngress
	if !st.Failed(status.Programmed) {
		for _, g := range gateways {
			addrs, err := w.gatewayAddresses(ctx, g)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if !slices.ContainsFunc(want, func(b networkingv1.IngressLoadBalancerIngress) bool { return b.IP == a.IP && b.Hostname == a.Hostname }) {
					want = append(want, a)
				}
			}
		}
	}
	slices.SortFunc(want, func(a, b networkingv1.IngressLoadBalancerIngress) int {
		return cmp.Or(cmp.Compare(a.IP, b.IP), cmp.Compare(a.Hostname, b.Hostname))
	})
	if slices.EqualFunc(want, ing.Status.LoadBalancer.Ingress, func(a, b networkingv1.IngressLoadBalancerIngress) bool {
		return a.IP == b.IP && a.Hostname == b.Hostname
	}) {
		return nil
	}
	orig := ing.DeepCopy()
	ing.Status.LoadBalancer.Ingress = want
	if err := w.client.Status().Patch(ctx, ing, client.MergeFrom(orig)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	w.patches.Add(1)
	return nil
}

// gatewayAddresses returns the addresses of the Service controlled by
// Gateway g (the one the infrastructure reconciler created): for a
// LoadBalancer Service, what the cloud assigned (status.loadBalancer; empty
// until then); otherwise its externalIPs, else its cluster IPs.
func (w *StatusWriter) gatewayAddresses(ctx context.Context, g types.NamespacedName) ([]networkingv1.IngressLoadBalancerIngress, error) {
	gw := &v1alpha1.Gateway{}
	if err := w.client.Get(ctx, g, gw); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	var svcs corev1.ServiceList
	if err := w.client.List(ctx, &svcs, client.InNamespace(g.Namespace)); err != nil {
		return nil, err
	}
	var out []networkingv1.IngressLoadBalancerIngress
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if ref := metav1.GetControllerOf(svc); ref == nil || ref.UID != gw.UID {
			continue
		}
		out = append(out, serviceAddresses(svc)...)
	}
	return out, nil
}

func serviceAddresses(svc *corev1.Service) []networkingv1.IngressLoadBalancerIngress {
	var out []networkingv1.IngressLoadBalancerIngress
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: in.IP, Hostname: in.Hostname})
		}
		return out
	}
	ips := svc.Spec.ExternalIPs
	if len(ips) == 0 {
		ips = svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
	}
	for _, ip := range ips {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
		}
	}
	return out
}
