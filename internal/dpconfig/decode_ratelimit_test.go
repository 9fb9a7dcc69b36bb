package dpconfig

import (
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	ratelimitcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	localrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestDecodeLocalRateLimit(t *testing.T) {
	all := &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100}}
	half := &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 5000, Denominator: typev3.FractionalPercent_TEN_THOUSAND}, RuntimeKey: "rl_enforced"}
	bucket := &typev3.TokenBucket{MaxTokens: 20, TokensPerFill: wrapperspb.UInt32(10), FillInterval: durationpb.New(time.Second)}
	for _, tc := range []struct {
		name    string
		in      *localrlv3.LocalRateLimit
		want    LocalRateLimit
		wantErr string
	}{
		{name: "listener level without a bucket limits nothing",
			in:   &localrlv3.LocalRateLimit{StatPrefix: "p"},
			want: LocalRateLimit{StatPrefix: "p", Status: 429}},
		{name: "route bucket with headers and retry-after",
			in: &localrlv3.LocalRateLimit{StatPrefix: "p", TokenBucket: bucket, FilterEnabled: all, FilterEnforced: half,
				EnableXRatelimitHeaders: ratelimitcommonv3.XRateLimitHeadersRFCVersion_DRAFT_VERSION_03, EnableRetryAfterHeader: true},
			want: LocalRateLimit{StatPrefix: "p", Status: 429, Bucket: &TokenBucket{MaxTokens: 20, TokensPerFill: 10, FillInterval: time.Second},
				EnabledPerMillion: 1_000_000, EnforcedPerMillion: 500_000, XRateLimitHeaders: true, RetryAfter: true}},
		{name: "tokens_per_fill defaults to one and status is configurable",
			in: &localrlv3.LocalRateLimit{StatPrefix: "p", Status: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
				TokenBucket: &typev3.TokenBucket{MaxTokens: 1, FillInterval: durationpb.New(time.Minute)}},
			want: LocalRateLimit{StatPrefix: "p", Status: 503, Bucket: &TokenBucket{MaxTokens: 1, TokensPerFill: 1, FillInterval: time.Minute}}},
		{name: "descriptors are refused, not ignored",
			in: &localrlv3.LocalRateLimit{StatPrefix: "p", Descriptors: []*ratelimitcommonv3.LocalRateLimitDescriptor{{
				Entries:     []*ratelimitcommonv3.RateLimitDescriptor_Entry{{Key: "k", Value: "v"}},
				TokenBucket: bucket,
			}}},
			wantErr: "descriptors: not supported"},
		{name: "a success status is refused",
			in:      &localrlv3.LocalRateLimit{StatPrefix: "p", Status: &typev3.HttpStatus{Code: typev3.StatusCode_OK}},
			wantErr: "status.code: 200"},
		{name: "missing stat_prefix fails Envoy's validation",
			in:      &localrlv3.LocalRateLimit{},
			wantErr: "StatPrefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := anypb.New(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeLocalRateLimit(a)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.Bucket == nil) != (tc.want.Bucket == nil) || (got.Bucket != nil && *got.Bucket != *tc.want.Bucket) {
				t.Errorf("bucket %+v, want %+v", got.Bucket, tc.want.Bucket)
			}
			got.Bucket, tc.want.Bucket = nil, nil
			if *got != tc.want {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}
