package admin

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	apikeyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/api_key_auth/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// redactSecret returns the secret with its private key replaced, as Envoy's
// config_dump prints "[redacted]" for private keys.
func redactSecret(a *anypb.Any) *anypb.Any {
	var s tlsv3.Secret
	if err := a.UnmarshalTo(&s); err != nil {
		return nil
	}
	s2 := proto.Clone(&s).(*tlsv3.Secret)
	if tc := s2.GetTlsCertificate(); tc != nil && tc.PrivateKey != nil {
		tc.PrivateKey = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}}
	}
	out, err := anypb.New(s2)
	if err != nil {
		return nil
	}
	return out
}

// redactRoute hides API keys (api_key_auth per-route credentials) in a
// route configuration, as redactSecret hides private keys: /config_dump is
// for operators, not a way to read client secrets.
func redactRoute(a *anypb.Any) *anypb.Any {
	var rc routev3.RouteConfiguration
	if err := a.UnmarshalTo(&rc); err != nil {
		return a
	}
	changed := false
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			for name, cfg := range r.GetTypedPerFilterConfig() {
				if out, ok := redactAPIKeys(cfg); ok {
					r.TypedPerFilterConfig[name] = out
					changed = true
				}
			}
		}
	}
	if !changed {
		return a
	}
	out, err := anypb.New(&rc)
	if err != nil {
		return nil
	}
	return out
}

func redactAPIKeys(cfg *anypb.Any) (*anypb.Any, bool) {
	if cfg.MessageIs((*routev3.FilterConfig)(nil)) {
		var fc routev3.FilterConfig
		if cfg.UnmarshalTo(&fc) != nil || fc.GetConfig() == nil {
			return nil, false
		}
		inner, ok := redactAPIKeys(fc.GetConfig())
		if !ok {
			return nil, false
		}
		fc.Config = inner
		out, err := anypb.New(&fc)
		return out, err == nil
	}
	var pr apikeyv3.ApiKeyAuthPerRoute
	if !cfg.MessageIs(&pr) || cfg.UnmarshalTo(&pr) != nil {
		return nil, false
	}
	for _, c := range pr.GetCredentials() {
		c.Key = "[redacted]"
	}
	out, err := anypb.New(&pr)
	return out, err == nil
}

// redactListener hides inline JWKS (they may hold HMAC secrets) and
// listener-level API keys.
func redactListener(a *anypb.Any) *anypb.Any {
	var l listenerv3.Listener
	if err := a.UnmarshalTo(&l); err != nil {
		return a
	}
	changed := false
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			var hcm hcmv3.HttpConnectionManager
			if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
				continue
			}
			hcmChanged := false
			for _, hf := range hcm.GetHttpFilters() {
				var ja jwtv3.JwtAuthentication
				var ak apikeyv3.ApiKeyAuth
				switch {
				case hf.GetTypedConfig().MessageIs(&ja) && hf.GetTypedConfig().UnmarshalTo(&ja) == nil:
					for _, p := range ja.GetProviders() {
						if lj := p.GetLocalJwks(); lj != nil {
							p.JwksSourceSpecifier = &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}}}
							hcmChanged = true
						}
					}
					if hcmChanged {
						hf.ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&ja)}
					}
				case hf.GetTypedConfig().MessageIs(&ak) && hf.GetTypedConfig().UnmarshalTo(&ak) == nil && len(ak.GetCredentials()) > 0:
					for _, c := range ak.GetCredentials() {
						c.Key = "[redacted]"
					}
					hf.ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&ak)}
					hcmChanged = true
				}
			}
			if hcmChanged {
				f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&hcm)}
				changed = true
			}
		}
	}
	if !changed {
		return a
	}
	return mustAny(&l)
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		return nil
	}
	return a
}
