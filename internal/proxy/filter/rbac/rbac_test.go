package rbac

import (
	"context"
	"net/netip"
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
)

func cidrs(kind dpconfig.PrincipalKind, ss ...string) dpconfig.Principal {
	p := dpconfig.Principal{Kind: dpconfig.PrincipalOr}
	for _, s := range ss {
		p.Children = append(p.Children, dpconfig.Principal{Kind: kind, CIDR: netip.MustParsePrefix(s)})
	}
	return p
}

// allowDeny is the shape ksgw emits for an IP allow list with exceptions.
func allowDeny(allow, deny []string) *dpconfig.RBAC {
	return &dpconfig.RBAC{Rules: &dpconfig.RBACRules{Action: dpconfig.RBACAllow, Policies: []dpconfig.RBACPolicy{{
		Name: "ip", Principals: []dpconfig.Principal{{Kind: dpconfig.PrincipalAnd, Children: []dpconfig.Principal{
			cidrs(dpconfig.PrincipalRemoteIP, allow...),
			{Kind: dpconfig.PrincipalNot, Children: []dpconfig.Principal{cidrs(dpconfig.PrincipalRemoteIP, deny...)}},
		}}},
	}}}}
}

func TestIPAllowDeny(t *testing.T) {
	denyOnly := &dpconfig.RBAC{Rules: &dpconfig.RBACRules{Action: dpconfig.RBACDeny, Policies: []dpconfig.RBACPolicy{{Name: "deny", Principals: []dpconfig.Principal{cidrs(dpconfig.PrincipalRemoteIP, "203.0.113.0/24", "2001:db8:bad::/48")}}}}}
	peerOnly := &dpconfig.RBAC{Rules: &dpconfig.RBACRules{Action: dpconfig.RBACAllow, Policies: []dpconfig.RBACPolicy{{Name: "lb", Principals: []dpconfig.Principal{cidrs(dpconfig.PrincipalDirectRemoteIP, "10.0.0.0/8")}}}}}
	tests := []struct {
		name           string
		listener, perR *dpconfig.RBAC
		client, peer   string
		allowed        bool
	}{
		{"client in allow list passes", allowDeny([]string{"192.0.2.0/24"}, []string{"192.0.2.66/32"}), nil, "192.0.2.10", "192.0.2.10", true},
		{"client outside allow list is refused", allowDeny([]string{"192.0.2.0/24"}, []string{"192.0.2.66/32"}), nil, "198.51.100.1", "198.51.100.1", false},
		{"deny wins over allow", allowDeny([]string{"192.0.2.0/24"}, []string{"192.0.2.66/32"}), nil, "192.0.2.66", "192.0.2.66", false},
		{"IPv6 deny list refuses", denyOnly, nil, "2001:db8:bad::1", "2001:db8:bad::1", false},
		{"IPv6 outside deny list passes", denyOnly, nil, "2001:db8:900d::1", "2001:db8:900d::1", true},
		{"remote_ip uses the trusted client, not the peer", denyOnly, nil, "203.0.113.5", "10.1.1.1", false},
		{"direct_remote_ip uses the peer", peerOnly, nil, "203.0.113.5", "10.1.1.1", true},
		{"route override replaces listener rules", denyOnly, &dpconfig.RBAC{}, "203.0.113.5", "203.0.113.5", true},
		{"no rules allow everything", &dpconfig.RBAC{}, nil, "203.0.113.5", "203.0.113.5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Factory{}.Build(context.Background(), filter.BuildParams{Name: "rbac", Config: tt.listener})
			if err != nil {
				t.Fatal(err)
			}
			route := &dpconfig.Route{}
			if tt.perR != nil {
				route.PerFilter = map[string]any{"rbac": tt.perR}
			}
			s := &filter.State{Route: route, Client: netip.MustParseAddr(tt.client), Peer: netip.MustParseAddr(tt.peer)}
			rep := f.OnRequest(context.Background(), s)
			if (rep == nil) != tt.allowed {
				t.Fatalf("allowed = %v, want %v", rep == nil, tt.allowed)
			}
			if rep != nil && (rep.Status != 403 || rep.Header.Get("content-type") != "application/json" || s.Flag != "RBAC") {
				t.Errorf("denial = %d %q flag %q", rep.Status, rep.Body, s.Flag)
			}
		})
	}
}
