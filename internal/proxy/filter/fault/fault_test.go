package fault

import (
	"testing"
	"time"

	"github.com/ksgw/ksgw/internal/dpconfig"
)

func TestDecide(t *testing.T) {
	half := &dpconfig.Fault{Delay: time.Second, DelayPerMillion: 500_000, AbortStatus: 503, AbortPerMillion: 250_000}
	tests := []struct {
		name        string
		f           *dpconfig.Fault
		delay, abrt uint32
		want        Decision
	}{
		{"no fault config injects nothing", nil, 0, 0, Decision{}},
		{"draw below the delay fraction delays", half, 499_999, 999_999, Decision{Delay: time.Second}},
		{"draw at the delay fraction does not delay", half, 500_000, 999_999, Decision{}},
		{"draw below the abort fraction aborts", half, 999_999, 0, Decision{AbortStatus: 503}},
		{"both can apply to one request", half, 0, 0, Decision{Delay: time.Second, AbortStatus: 503}},
		{"100 percent always applies", &dpconfig.Fault{AbortStatus: 418, AbortPerMillion: 1_000_000}, 0, 999_999, Decision{AbortStatus: 418}},
		{"0 percent never applies", &dpconfig.Fault{AbortStatus: 418, AbortPerMillion: 0}, 0, 0, Decision{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.f, tt.delay, tt.abrt); got != tt.want {
				t.Fatalf("Decide() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
