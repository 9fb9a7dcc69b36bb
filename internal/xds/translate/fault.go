package translate

import (
	"fmt"

	faultcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"

	"github.com/ksgw/ksgw/internal/ir"
)

// listenerFault is the listener-level config of envoy.filters.http.fault:
// empty, so the filter injects nothing until a route's
// typed_per_filter_config enables it, and route changes never touch the
// listener.
func listenerFault() *faultv3.HTTPFault { return &faultv3.HTTPFault{} }

// fault is the per-route HTTPFault (Istio HTTPFaultInjection). Percentages
// are FractionalPercent over a MILLION so Istio's fractional percentages
// survive. Nil when f injects nothing.
func fault(f *ir.Fault) (*faultv3.HTTPFault, error) {
	out := &faultv3.HTTPFault{}
	if f.Delay < 0 {
		return nil, fmt.Errorf("fault delay %v: must not be negative", f.Delay)
	}
	if f.Delay > 0 {
		out.Delay = &faultcommon.FaultDelay{
			FaultDelaySecifier: &faultcommon.FaultDelay_FixedDelay{FixedDelay: dur(f.Delay)},
			Percentage:         percent(f.DelayPercent),
		}
	}
	if f.AbortStatus != 0 {
		// Envoy's http_status range: [200, 600).
		if f.AbortStatus < 200 || f.AbortStatus >= 600 {
			return nil, fmt.Errorf("fault abort status %d: must be in [200, 600)", f.AbortStatus)
		}
		out.Abort = &faultv3.FaultAbort{
			ErrorType:  &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(f.AbortStatus)},
			Percentage: percent(f.AbortPercent),
		}
	}
	if out.Delay == nil && out.Abort == nil {
		return nil, nil
	}
	return out, nil
}
