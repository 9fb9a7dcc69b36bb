// Package translate turns a resource bundle into one IR gateway per Gateway
// object, plus a status for every input object of ksgw's kinds and the list
// of problems `ksgw validate` prints. It is pure: no I/O, no protos, no
// clocks; equal input gives deep-equal output.
//
// One file per kind: gateway.go (listeners, certificates), route.go (Route,
// Istio VirtualService http section), ingress.go (networking.k8s.io/v1
// Ingress), backend.go (Service/EndpointSlice/Pod → cluster), destinationrule.go
// (cluster policy), secret.go (TLS material), hosts.go (host ownership,
// conflicts and virtual-host assembly).
//
// Error handling follows STYLE habit 10: a problem with one object becomes a
// condition on that object and excludes that object (or, where documented,
// only the bad part); it never fails the whole translation.
package translate

import (
	"cmp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ksgw/ksgw/internal/ir"
	"github.com/ksgw/ksgw/internal/resource"
	"github.com/ksgw/ksgw/internal/status"
)

// DefaultControllerNamespace is the namespace of the cluster gateway when
// Options.ControllerNamespace is empty.
const DefaultControllerNamespace = "ksgw-system"

// ControllerName is the spec.controller of IngressClasses served by ksgw.
const ControllerName = "kubesphere.io/ksgw"

// Kinds as they appear in statuses and problems.
const (
	KindGateway         = "Gateway"
	KindRoute           = "Route"
	KindDestinationRule = "DestinationRule"
	KindIngress         = "Ingress"
)

// Options tune Translate. The zero value is ready to use.
type Options struct {
	// ControllerNamespace is the controller's namespace: every Gateway in it
	// is a cluster gateway (DESIGN §4). "" means DefaultControllerNamespace.
	ControllerNamespace string
	// ControllerName is the IngressClass spec.controller ksgw answers to;
	// "" means ControllerName.
	ControllerName string
}

// Result is the output of one translation. It is immutable once returned:
// clusters, secrets, virtual hosts and routes are shared between gateways
// (DESIGN §6: share immutable values instead of deep-copying them).
type Result struct {
	// Gateways in the order of their Name ("namespace/name"); one per
	// accepted Gateway object.
	Gateways []*ir.Gateway
	// Statuses of every Gateway, Route, DestinationRule and ksgw Ingress,
	// sorted by Kind, Namespace, Name.
	Statuses []status.ObjectStatus
	// Problems sorted by object, in field order within an object.
	Problems []status.Problem
}

// Translate converts in. It never fails as a whole; see Result.Problems.
// in is read only.
func Translate(in *resource.Resources, opts Options) *Result {
	if in == nil {
		in = &resource.Resources{}
	}
	if opts.ControllerNamespace == "" {
		opts.ControllerNamespace = DefaultControllerNamespace
	}
	if opts.ControllerName == "" {
		opts.ControllerName = ControllerName
	}
	t := newTranslator(in, opts)
	t.translateGateways()
	t.translatePolicies()
	t.translateDestinationRules()
	t.rankSources()
	t.translateRoutes()
	t.translateIngresses()
	for _, g := range t.gateways {
		if g.valid {
			t.assembleGateway(g)
		}
	}
	t.finishSources()
	t.finishDestinationRules()
	t.finishPolicies()
	return t.result()
}

// finishSources sets the conditions of Routes and Ingresses left unset.
func (t *translator) finishSources() {
	for _, s := range t.sources {
		if s.st == nil {
			continue // an Ingress of another controller
		}
		s.st.Default(status.Accepted, status.ReasonAccepted, s.kind+" is valid and bound")
		s.st.Default(status.ResolvedRefs, status.ReasonResolvedRefs, "all references resolved")
		if s.st.Get(status.Programmed) != nil {
			continue
		}
		if len(s.programmedOn) == 0 {
			s.st.Set(status.Programmed, false, status.ReasonPending, "no route of this object was programmed")
			continue
		}
		s.st.Set(status.Programmed, true, status.ReasonProgrammed, "programmed on Gateway "+strings.Join(slices.Sorted(mapKeys(s.programmedOn)), ", "))
	}
}

// translator holds the state of one Translate call; it is not shared.
type translator struct {
	in   *resource.Resources
	opts Options
	idx  *index

	gateways  []*gatewayState // sorted by key
	gwByKey   map[string]*gatewayState
	gwByNs    map[string][]*gatewayState // valid gateways only, sorted
	gwAllByNs map[string][]*gatewayState // every gateway, valid or not
	clusterGW []*gatewayState            // valid cluster gateways, sorted

	drs      map[string]*drState // "ns/service" → the DestinationRule applied
	drStates []*drState          // every DestinationRule, input order

	sources     []*source // Routes and Ingresses, ranked by age
	sourceByKey map[string]*source

	policies    []*policyState          // every SecurityPolicy, oldest first
	gwPolicy    map[string]*policyState // "ns/gateway" → the policy in force
	routePolicy map[string]*policyState // "ns/route" → the policy in force

	clusters map[string]*clusterState // by cluster name; shared across gateways
	secrets  map[string]*ir.Secret    // by IR secret name; shared across gateways

	statuses []*status.ObjectStatus
	problems []status.Problem
}

func newTranslator(in *resource.Resources, opts Options) *translator {
	return &translator{
		in:       in,
		opts:     opts,
		idx:      buildIndex(in),
		gwByKey:  map[string]*gatewayState{},
		gwByNs:   map[string][]*gatewayState{},
		drs:      map[string]*drState{},
		clusters: map[string]*clusterState{},
		secrets:  map[string]*ir.Secret{},
	}
}

func (t *translator) newStatus(kind string, m metav1.Object) *status.ObjectStatus {
	s := status.New(kind, m.GetNamespace(), m.GetName(), m.GetGeneration())
	t.statuses = append(t.statuses, s)
	return s
}

// fail records a problem and sets condition cond of st to False. The
// condition message carries the field, as the problem line does.
func (t *translator) fail(st *status.ObjectStatus, cond, reason, field, msg string) {
	t.problems = append(t.problems, status.Problem{Kind: st.Kind, Namespace: st.Namespace, Name: st.Name, Field: field, Message: msg})
	if field != "" {
		msg = field + ": " + msg
	}
	st.Fail(cond, reason, msg)
}

func (t *translator) result() *Result {
	r := &Result{Problems: t.problems}
	for _, g := range t.gateways {
		if g.out != nil {
			r.Gateways = append(r.Gateways, g.out)
		}
	}
	r.Statuses = make([]status.ObjectStatus, 0, len(t.statuses))
	for _, s := range t.statuses {
		r.Statuses = append(r.Statuses, *s)
	}
	slices.SortFunc(r.Statuses, status.Compare)
	status.SortProblems(r.Problems)
	return r
}

// source is a Route or an Ingress: an object that claims hosts on gateways.
type source struct {
	kind    string
	ns      string
	name    string
	created time.Time
	rank    int // position in age order: oldest first, then kind, namespace, name
	st      *status.ObjectStatus
	// programmedOn lists the gateways that received at least one route.
	programmedOn map[string]bool
}

func (s *source) ref() ir.ObjectRef { return ir.ObjectRef{Kind: s.kind, Namespace: s.ns, Name: s.name} }

func (s *source) String() string { return s.kind + " " + s.ns + "/" + s.name }

// rankSources orders every Route and Ingress by age, the order in which
// their claims on a host are honoured (hosts.go). Objects loaded from files
// have no creationTimestamp; they tie and fall back to kind, then
// namespace/name, which keeps the order deterministic.
func (t *translator) rankSources() {
	for _, r := range t.in.Routes {
		t.sources = append(t.sources, &source{kind: KindRoute, ns: r.Namespace, name: r.Name, created: r.CreationTimestamp.Time})
	}
	for _, ing := range t.in.Ingresses {
		t.sources = append(t.sources, &source{kind: KindIngress, ns: ing.Namespace, name: ing.Name, created: ing.CreationTimestamp.Time})
	}
	slices.SortStableFunc(t.sources, compareSources)
	t.sourceByKey = make(map[string]*source, len(t.sources))
	for i, s := range t.sources {
		s.rank = i
		s.programmedOn = map[string]bool{}
		t.sourceByKey[s.String()] = s
	}
}

func compareSources(a, b *source) int {
	return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.kind, b.kind), cmp.Compare(a.ns, b.ns), cmp.Compare(a.name, b.name))
}

// sourceFor returns the ranked source of an object.
func (t *translator) sourceFor(kind, ns, name string) *source {
	return t.sourceByKey[kind+" "+ns+"/"+name]
}
