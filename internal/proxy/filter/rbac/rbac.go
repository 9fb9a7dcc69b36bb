// Package rbac implements the part of Envoy's envoy.filters.http.rbac that
// ksgw emits: IP allow and deny lists as policies over principals
// remote_ip (the trusted client address, after PROXY protocol and the
// HCM's X-Forwarded-For trust rules) and direct_remote_ip (the physical
// peer), combined with and_ids, or_ids and not_id. A route's RBACPerRoute
// replaces the listener's rules; no rules means no enforcement, as in
// Envoy. A denial is 403 with a JSON body and response flag "RBAC".
package rbac

import (
	"context"
	"fmt"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/filter"
)

// TypeURL is the listener-level config type this filter builds.
const TypeURL = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"

// Factory builds RBAC filters. It holds no state.
type Factory struct{}

var _ filter.Factory = Factory{}

func (Factory) TypeURLs() []string { return []string{TypeURL} }

func (Factory) Build(_ context.Context, p filter.BuildParams) (filter.Filter, error) {
	cfg, ok := p.Config.(*dpconfig.RBAC)
	if !ok {
		return nil, fmt.Errorf("rbac: config is %T", p.Config)
	}
	return &Filter{name: p.Name, cfg: cfg}, nil
}

// Filter enforces one listener's RBAC entry. Immutable.
type Filter struct {
	name string
	cfg  *dpconfig.RBAC
}

func (f *Filter) OnRequest(_ context.Context, s *filter.State) *filter.Reply {
	rules := f.cfg.Rules
	if pr, ok := s.PerRoute(f.name).(*dpconfig.RBAC); ok {
		rules = pr.Rules
	}
	if Allowed(rules, s) {
		return nil
	}
	s.Flag = "RBAC"
	return filter.Deny(403, "forbidden", "RBAC: access denied")
}

// Allowed evaluates rules for the request (nil rules allow everything).
func Allowed(rules *dpconfig.RBACRules, s *filter.State) bool {
	if rules == nil {
		return true
	}
	matched := false
	for i := range rules.Policies {
		if policyMatches(&rules.Policies[i], s) {
			matched = true
			break
		}
	}
	if rules.Action == dpconfig.RBACDeny {
		return !matched
	}
	return matched
}

func policyMatches(p *dpconfig.RBACPolicy, s *filter.State) bool {
	for i := range p.Principals {
		if principalMatches(&p.Principals[i], s) {
			return true
		}
	}
	return false
}

func principalMatches(p *dpconfig.Principal, s *filter.State) bool {
	switch p.Kind {
	case dpconfig.PrincipalAny:
		return true
	case dpconfig.PrincipalAnd:
		for i := range p.Children {
			if !principalMatches(&p.Children[i], s) {
				return false
			}
		}
		return true
	case dpconfig.PrincipalOr:
		for i := range p.Children {
			if principalMatches(&p.Children[i], s) {
				return true
			}
		}
		return false
	case dpconfig.PrincipalNot:
		return !principalMatches(&p.Children[0], s)
	case dpconfig.PrincipalRemoteIP:
		return s.Client.IsValid() && p.CIDR.Contains(s.Client)
	case dpconfig.PrincipalDirectRemoteIP:
		return s.Peer.IsValid() && p.CIDR.Contains(s.Peer)
	}
	return false
}
