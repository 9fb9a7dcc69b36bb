package main

import (
	"context"
)

// ksgwGRPCFiles is ksgw's configuration for the gRPC scenario: one
// catch-all Route to a Service whose port is named "grpc", so the cluster
// speaks HTTP/2 (h2c) to the backend like nginx's grpc_pass and haproxy's
// "proto h2"; downstream, the Gateway's plain http port accepts HTTP/2 by
// prior knowledge.
func ksgwGRPCFiles(http, https int, backend string) map[string]string {
	return map[string]string{
		"base.yaml": yamlGateway("bench", http, https) + yamlServicePodsPort("bench", "backend", "backend", "grpc", []string{backend}),
		"route.yaml": `apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: grpc, namespace: bench}
spec:
  http:
  - route: [{destination: {host: backend}}]
`,
	}
}

// startKSGWGRPC starts ksgw on ksgwGRPCFiles, listening on p.Listen.
func startKSGWGRPC(ctx context.Context, cfg config, p proxyParams) (*proc, error) {
	return startKSGWFiles(ctx, cfg, p, ksgwGRPCFiles)
}
