package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// gatewayYAML is a plaintext Gateway on port in namespace ns.
func gatewayYAML(ns, name string, port int, hosts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata:
  name: %s
  namespace: %s
spec:
  ports:
    http: %d
    https: %d
  hosts:
`, name, ns, port, port+1)
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - %q\n", h)
	}
	return b.String()
}

// pod describes one backend Pod: its IP (a 127.0.0.x address with an echo
// backend listening on targetPort) and labels.
type pod struct {
	name   string
	ip     string
	labels map[string]string
	ready  bool
}

// serviceYAML is a Service selecting app=name on targetPort, plus its Pods.
// Extra labels on pods select subsets.
func serviceYAML(ns, name string, targetPort int, portName string, pods ...pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  selector:
    app: %s
  ports:
  - name: %s
    port: 80
    targetPort: %d
`, name, ns, name, portName, targetPort)
	for _, p := range pods {
		ready := "True"
		if !p.ready {
			ready = "False"
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels:
    app: %s
`, p.name, ns, name)
		for k, v := range p.labels {
			fmt.Fprintf(&b, "    %s: %q\n", k, v)
		}
		fmt.Fprintf(&b, `spec:
  containers:
  - name: c
    image: ksgw-echo
    ports:
    - containerPort: %d
status:
  podIP: %s
  conditions:
  - type: Ready
    status: %q
`, targetPort, p.ip, ready)
	}
	return b.String()
}

// env is a test's config directory with backends running.
type env struct {
	t    testing.TB
	dir  string
	port int // the gateway's http port
	gw   *gateway
}

// url returns the gateway URL for path.
func (e *env) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", e.port, path) }
