package translate

import (
	"strconv"
	"strings"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

// listenerCORS is the listener-level config of envoy.filters.http.cors:
// empty; the policy comes from each route's typed_per_filter_config.
func listenerCORS() *corsv3.Cors { return &corsv3.Cors{} }

// cors is the per-route CorsPolicy (Istio corsPolicy). Envoy takes the
// method and header lists as comma-separated strings and max_age in
// seconds.
func cors(c *ir.CORSPolicy) (*corsv3.CorsPolicy, error) {
	out := &corsv3.CorsPolicy{
		AllowMethods:  strings.Join(c.AllowMethods, ","),
		AllowHeaders:  strings.Join(c.AllowHeaders, ","),
		ExposeHeaders: strings.Join(c.ExposeHeaders, ","),
	}
	if c.MaxAge > 0 {
		// Round up: a max age under a second must not become "0", which
		// tells browsers not to cache the preflight at all.
		out.MaxAge = strconv.FormatInt(int64((c.MaxAge+999_999_999)/1_000_000_000), 10)
	}
	if c.AllowCredentials {
		out.AllowCredentials = wrapperspb.Bool(true)
	}
	for i, o := range c.AllowOrigins {
		m, err := stringMatcher(o)
		if err != nil {
			return nil, errAt("allow_origins", i, err)
		}
		out.AllowOriginStringMatch = append(out.AllowOriginStringMatch, m)
	}
	return out, nil
}
