// Package fault decides, per request, the delay and abort that Envoy's
// envoy.filters.http.fault would inject for a route's HTTPFault config
// (Istio's HTTPFaultInjection). Decisions take the random draws as input so
// that the package stays pure and its tests deterministic.
package fault

import (
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

// Decision is what to do with one request.
type Decision struct {
	Delay       time.Duration // 0: no delay
	AbortStatus int           // 0: no abort
}

// Decide draws the delay and abort independently, as Envoy does: a request
// may be both delayed and then aborted. delayDraw and abortDraw are uniform
// in [0, 1_000_000).
func Decide(f *dpconfig.Fault, delayDraw, abortDraw uint32) Decision {
	var d Decision
	if f == nil {
		return d
	}
	if f.Delay > 0 && delayDraw < f.DelayPerMillion {
		d.Delay = f.Delay
	}
	if f.AbortStatus > 0 && abortDraw < f.AbortPerMillion {
		d.AbortStatus = f.AbortStatus
	}
	return d
}
