package translate

import (
	"strconv"
	"strings"

	faultcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	corsfilter "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksgw/ksgw/internal/ir"
)

// fault is the per-route HTTPFault of envoy.filters.http.fault.
func fault(f *ir.Fault) *faultv3.HTTPFault {
	out := &faultv3.HTTPFault{}
	if f.Delay > 0 {
		out.Delay = &faultcommon.FaultDelay{
			FaultDelaySecifier: &faultcommon.FaultDelay_FixedDelay{FixedDelay: dur(f.Delay)},
			Percentage:         percent(f.DelayPercent),
		}
	}
	if f.AbortStatus > 0 {
		out.Abort = &faultv3.FaultAbort{
			ErrorType:  &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(f.AbortStatus)},
			Percentage: percent(f.AbortPercent),
		}
	}
	return out
}

// cors is the per-route CorsPolicy of envoy.filters.http.cors.
func cors(c *ir.CORSPolicy) *corsfilter.CorsPolicy {
	out := &corsfilter.CorsPolicy{
		AllowMethods:  strings.Join(c.AllowMethods, ","),
		AllowHeaders:  strings.Join(c.AllowHeaders, ","),
		ExposeHeaders: strings.Join(c.ExposeHeaders, ","),
	}
	if c.MaxAge > 0 {
		out.MaxAge = strconv.Itoa(int(c.MaxAge.Seconds()))
	}
	if c.AllowCredentials {
		out.AllowCredentials = wrapperspb.Bool(true)
	}
	for _, o := range c.AllowOrigins {
		out.AllowOriginStringMatch = append(out.AllowOriginStringMatch, stringMatcher(o))
	}
	return out
}
