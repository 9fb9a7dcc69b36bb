package cors

import (
	"regexp"
	"testing"

	"github.com/ksgw/ksgw/internal/dpconfig"
	"github.com/ksgw/ksgw/internal/proxy/httpmsg"
)

func TestCheckAndApply(t *testing.T) {
	p := &dpconfig.CORS{
		AllowOrigins: []dpconfig.StringMatcher{
			{Kind: dpconfig.StringExact, Value: "https://shop.example.com"},
			{Kind: dpconfig.StringRegex, Regex: regexp.MustCompile(`^(?:https://[a-z]+\.tenant-a\.example\.com)$`)},
		},
		AllowMethods: "GET,POST", AllowHeaders: "x-token", ExposeHeaders: "x-trace",
		MaxAge: "600", AllowCredentials: true,
	}
	type hdr = map[string]string
	tests := []struct {
		name       string
		method     string
		req        hdr
		want       Result
		wantHeader hdr
	}{
		{"no origin is not a CORS request", "GET", hdr{}, Pass, nil},
		{"origin not allowed passes untouched", "GET", hdr{"origin": "https://evil.example"}, Pass, nil},
		{"exact origin gets actual-request headers", "GET", hdr{"origin": "https://shop.example.com"}, Actual,
			hdr{"access-control-allow-origin": "https://shop.example.com", "access-control-expose-headers": "x-trace", "access-control-allow-credentials": "true"}},
		{"regex origin allowed", "POST", hdr{"origin": "https://a.tenant-a.example.com"}, Actual,
			hdr{"access-control-allow-origin": "https://a.tenant-a.example.com"}},
		{"regex is anchored", "POST", hdr{"origin": "https://a.tenant-a.example.com.evil"}, Pass, nil},
		{"OPTIONS with request-method is a preflight", "OPTIONS", hdr{"origin": "https://shop.example.com", "access-control-request-method": "POST"}, Preflight,
			hdr{"access-control-allow-methods": "GET,POST", "access-control-allow-headers": "x-token", "access-control-max-age": "600"}},
		{"OPTIONS without request-method is an actual request", "OPTIONS", hdr{"origin": "https://shop.example.com"}, Actual, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req, resp httpmsg.Header
			for k, v := range tt.req {
				req.Add(k, v)
			}
			got := Check(p, tt.method, &req)
			if got != tt.want {
				t.Fatalf("Check = %v, want %v", got, tt.want)
			}
			if got == Pass {
				return
			}
			Apply(p, got, &req, &resp)
			for k, v := range tt.wantHeader {
				if g := resp.Get(k); g != v {
					t.Errorf("response %s = %q, want %q", k, g, v)
				}
			}
			if resp.Get("vary") != "origin" {
				t.Errorf("vary = %q, want origin", resp.Get("vary"))
			}
		})
	}
	if Check(nil, "GET", &httpmsg.Header{}) != Pass {
		t.Fatal("nil policy must pass")
	}
}
