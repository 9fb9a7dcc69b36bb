package status

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestProblemString(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"field and message", Problem{Kind: "Route", Namespace: "tenant-a", Name: "product-canary", Field: "spec.http[0].route[1].weight", Message: "must be >= 0"},
			"Route tenant-a/product-canary: spec.http[0].route[1].weight: must be >= 0"},
		{"whole object", Problem{Kind: "Gateway", Namespace: "a", Name: "g", Message: "bad"}, "Gateway a/g: bad"},
		{"cluster scoped", Problem{Kind: "IngressClass", Name: "ksgw", Message: "bad"}, "IngressClass ksgw: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFailKeepsFirstReasonAndAppendsMessages(t *testing.T) {
	s := New("Route", "a", "r", 3)
	s.Default(Programmed, ReasonProgrammed, "ok")
	s.Fail(ResolvedRefs, ReasonBackendNotFound, "one")
	s.Fail(ResolvedRefs, ReasonSubsetNotFound, "two")
	s.Fail(ResolvedRefs, ReasonSubsetNotFound, "two")
	s.Default(Accepted, ReasonAccepted, "ok")
	if got := [3]string{s.Conditions[0].Type, s.Conditions[1].Type, s.Conditions[2].Type}; got != [3]string{Accepted, ResolvedRefs, Programmed} {
		t.Fatalf("order %v", got)
	}
	c := s.Get(ResolvedRefs)
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonBackendNotFound || c.Message != "one; two" || c.ObservedGeneration != 3 {
		t.Fatalf("got %+v", c)
	}
	if !s.Failed(ResolvedRefs) || s.Failed(Accepted) {
		t.Fatal("Failed")
	}
}
