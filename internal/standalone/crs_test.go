package standalone

// End-to-end test of the OWASP Core Rule Set option of SecurityPolicy WAF
// (issue 7): SecurityPolicy YAML → translator → ADS → proxy (Coraza with
// CRS v4) → echo backend.

import (
	"fmt"
	"testing"
	"time"
)

const crsPolicies = `
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: waf-block, namespace: shop}
spec: {http: [{match: [{uri: {prefix: /waf-block}}], route: [{destination: {host: echo}}]}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: waf-detect, namespace: shop}
spec: {http: [{match: [{uri: {prefix: /waf-detect}}], route: [{destination: {host: echo}}]}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: waf-block, namespace: shop}
spec:
  targetRef: {kind: Route, name: waf-block}
  waf: {crs: {paranoiaLevel: 1}}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: SecurityPolicy
metadata: {name: waf-detect, namespace: shop}
spec:
  targetRef: {kind: Route, name: waf-detect}
  waf: {crs: {paranoiaLevel: 1, detectionOnly: true}}
`

func TestCRSEndToEnd(t *testing.T) {
	e := startBehaviourEnv(t, crsPolicies)
	const (
		sqli   = "?id=1%27%20OR%20%271%27%3D%271"         // id=1' OR '1'='1
		xss    = "?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E" // q=<script>alert(1)</script>
		benign = "?q=running+shoes&page=2"
	)
	// Wait until both routes are served (the proxy compiles each rule set
	// once, about a second), by a request every configuration passes.
	eventually(t, 30*time.Second, func() error {
		for _, p := range []string{"/waf-block/" + benign, "/waf-detect/" + benign} {
			st, _, _, err := e.do("GET", p, "", nil)
			if err != nil {
				return err
			}
			if st != 200 {
				return fmt.Errorf("GET %s: %d", p, st)
			}
		}
		return nil
	})
	for _, tc := range []struct {
		name, path string
		want       int
	}{
		{"SQL injection is refused", "/waf-block/" + sqli, 403},
		{"XSS probe is refused", "/waf-block/" + xss, 403},
		{"benign request passes", "/waf-block/" + benign, 200},
		{"detection only lets SQL injection through", "/waf-detect/" + sqli, 200},
		{"detection only lets XSS through", "/waf-detect/" + xss, 200},
		{"routes without a policy are not inspected", "/other" + sqli, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body, err := e.do("GET", tc.path, "", nil)
			if err != nil || st != tc.want {
				t.Errorf("GET %s: %d %v %q, want %d", tc.path, st, err, body, tc.want)
			}
		})
	}
}
