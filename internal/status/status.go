// Package status holds the condition types, reasons and builders shared by
// every producer of object status (the translator, `ksgw validate`, the
// Kubernetes status writer), so that all of them say the same thing
// (DESIGN §4: "validate, translate and the logs say the same thing").
//
// Conditions follow the Kubernetes API conventions (KEP-1623,
// metav1.Condition): a CamelCase Type, Status True/False/Unknown, a
// CamelCase Reason and a human Message. The three types mirror Gateway API's
// route conditions, whose meaning users of Envoy Gateway and Contour know.
package status

import (
	"cmp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types.
const (
	// Accepted: the object's spec is valid and it is attached to a gateway
	// (for Gateways: the gateway itself is valid).
	Accepted = "Accepted"
	// ResolvedRefs: every reference (Service, subset, Secret, Gateway) the
	// object makes resolves and is permitted.
	ResolvedRefs = "ResolvedRefs"
	// Programmed: the object contributed configuration to at least one
	// gateway's IR, so its proxies receive it.
	Programmed = "Programmed"
)

// Reasons. Positive reasons equal their condition type, as in Gateway API.
const (
	ReasonAccepted     = "Accepted"
	ReasonResolvedRefs = "ResolvedRefs"
	ReasonProgrammed   = "Programmed"

	// ReasonInvalid: the spec breaks a rule that the CRD schema cannot
	// express (or that a file bypassed); the message names the field.
	ReasonInvalid = "Invalid"
	// ReasonInvalidRoute: a Route or Ingress rule is invalid (bad regex,
	// negative weight, ...); the whole object is excluded.
	ReasonInvalidRoute = "InvalidRoute"
	// ReasonHostConflict: another, older object owns the host, or already
	// installed an identical match on it (see internal/translate/hosts.go).
	ReasonHostConflict = "HostConflict"
	// ReasonNotAllowedByGateway: the object names a Gateway outside its own
	// namespace and the cluster gateway's, or a host outside the Gateway's.
	ReasonNotAllowedByGateway = "NotAllowedByGateway"
	// ReasonNoGateway: no Gateway serves the object.
	ReasonNoGateway = "NoGateway"
	// ReasonBackendNotFound: a destination Service (or its port) is missing.
	ReasonBackendNotFound = "BackendNotFound"
	// ReasonSubsetNotFound: no DestinationRule defines the named subset.
	ReasonSubsetNotFound = "SubsetNotFound"
	// ReasonNoReadyEndpoints: the backend resolves but has no ready endpoint
	// now; requests to it get a 503 with this reason. It describes state, not
	// configuration, so it sets ResolvedRefs=False without a Problem (`ksgw
	// validate` does not fail on a Service that is scaled to zero).
	ReasonNoReadyEndpoints = "NoReadyEndpoints"
	// ReasonSecretNotFound: a referenced Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSecret: a referenced Secret has the wrong type or keys.
	ReasonInvalidSecret = "InvalidSecret"
	// ReasonRefNotPermitted: a reference crosses namespaces (DESIGN §4).
	ReasonRefNotPermitted = "RefNotPermitted"
	// ReasonUnsupported: a valid Kubernetes construct ksgw does not implement
	// (ExternalName Services, resource backends, PASSTHROUGH load balancing).
	ReasonUnsupported = "Unsupported"
	// ReasonPending: nothing was programmed because of another condition.
	ReasonPending = "Pending"
)

// typeOrder fixes the order of conditions in an ObjectStatus.
var typeOrder = map[string]int{Accepted: 0, ResolvedRefs: 1, Programmed: 2}

// ObjectStatus is the status of one object. LastTransitionTime is left zero
// on purpose: the translator is pure and deterministic; the status writer
// stamps it when a condition's status actually changes.
type ObjectStatus struct {
	Kind       string
	Namespace  string
	Name       string
	Generation int64
	Conditions []metav1.Condition // ordered Accepted, ResolvedRefs, Programmed
}

// New returns the status of an object with no conditions yet.
func New(kind, namespace, name string, generation int64) *ObjectStatus {
	return &ObjectStatus{Kind: kind, Namespace: namespace, Name: name, Generation: generation}
}

// Key is "Kind namespace/name", the prefix of every problem line.
func (s *ObjectStatus) Key() string { return key(s.Kind, s.Namespace, s.Name) }

// Get returns the condition of type t, or nil.
func (s *ObjectStatus) Get(t string) *metav1.Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// Set replaces the condition of type t.
func (s *ObjectStatus) Set(t string, ok bool, reason, message string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	c := metav1.Condition{Type: t, Status: st, Reason: reason, Message: message, ObservedGeneration: s.Generation}
	if old := s.Get(t); old != nil {
		*old = c
		return
	}
	s.Conditions = append(s.Conditions, c)
	slices.SortStableFunc(s.Conditions, func(a, b metav1.Condition) int {
		return cmp.Compare(order(a.Type), order(b.Type))
	})
}

// Fail sets condition t to False. The first failure's reason is kept (it is
// the one a user fixes first, in field order); later messages are appended
// with "; " so that one condition reports every failure of its kind.
func (s *ObjectStatus) Fail(t, reason, message string) {
	if old := s.Get(t); old != nil && old.Status == metav1.ConditionFalse {
		if !strings.Contains(old.Message, message) {
			old.Message += "; " + message
		}
		return
	}
	s.Set(t, false, reason, message)
}

// Failed reports whether condition t is False.
func (s *ObjectStatus) Failed(t string) bool {
	c := s.Get(t)
	return c != nil && c.Status == metav1.ConditionFalse
}

// Default sets condition t to True with the given reason and message unless
// it is already set.
func (s *ObjectStatus) Default(t, reason, message string) {
	if s.Get(t) == nil {
		s.Set(t, true, reason, message)
	}
}

func order(t string) int {
	if o, ok := typeOrder[t]; ok {
		return o
	}
	return len(typeOrder)
}

// Compare orders statuses by Kind, then Namespace, then Name.
func Compare(a, b ObjectStatus) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// Problem is one reason an object (or part of it) was not applied as
// written. String is the line `ksgw validate` prints.
type Problem struct {
	Kind      string
	Namespace string
	Name      string
	Field     string // JSON path from the object root, e.g. "spec.http[0].route[1].weight"; "" when the object as a whole
	Message   string
}

// String formats the problem as
// `Route tenant-a/product-canary: spec.http[0].route[1].weight: must be >= 0`.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(key(p.Kind, p.Namespace, p.Name))
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// SortProblems orders problems by object (Kind, Namespace, Name), keeping
// the order in which each object's problems were found (field order).
func SortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

func key(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}
