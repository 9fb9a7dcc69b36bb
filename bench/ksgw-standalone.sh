#!/usr/bin/env bash
# Starts `ksgw standalone` as a benchmark contender: a Gateway listening on
# KSGW_PORT whose only Route sends everything to the benchmark backend
# KSGW_BACKEND (host:port), with access logging off like nginx and haproxy
# in the harness. bench/run.sh runs it through KSGW_CMD, pinned to the
# proxy core(s) with GOMAXPROCS = the worker count (benchrun --workers).
set -euo pipefail
: "${KSGW_PORT:?}" "${KSGW_BACKEND:?}" "${KSGW_DIR:?}"
here="$(cd "$(dirname "$0")" && pwd)"
bin="${KSGW_BIN:-$here/../bin/ksgw}"
conf="$KSGW_DIR/ksgw-config"
mkdir -p "$conf"
ip="${KSGW_BACKEND%:*}" port="${KSGW_BACKEND##*:}"
cat > "$conf/bench.yaml" <<YAML
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: bench, namespace: bench}
spec:
  ports: {http: $KSGW_PORT, https: $((KSGW_PORT + 1))}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: bench}
spec:
  selector: {app: backend}
  ports: [{name: http, port: 80, targetPort: $port}]
---
apiVersion: v1
kind: Pod
metadata: {name: backend-0, namespace: bench, labels: {app: backend}}
spec: {containers: [{name: backend, image: ksgw-echo, ports: [{containerPort: $port}]}]}
status: {podIP: $ip, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: DestinationRule
metadata: {name: backend, namespace: bench}
spec:
  host: backend
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.kubesphere.io/v1alpha1
kind: Route
metadata: {name: all, namespace: bench}
spec:
  http:
  - route: [{destination: {host: backend}}]
YAML
# The admin and xDS ports must not collide with a previous run's.
exec "$bin" standalone --config "$conf" --access-log off --log-level warn \
  --xds-address 127.0.0.1:0 --admin-base-port "$((KSGW_PORT + 2))" ${KSGW_EXTRA_ARGS:-}
