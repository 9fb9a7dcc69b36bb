#!/usr/bin/env bash
# ksgw-standalone.sh for benchrun's TLS scenarios: starts `ksgw standalone`
# with a Gateway serving HTTPS (TLS 1.3 only) on KSGW_PORT whose only Route
# sends everything to the benchmark backend KSGW_BACKEND (host:port), access
# logging off. bench/run.sh runs it through KSGW_TLS_CMD, pinned to the
# proxy core(s) with GOMAXPROCS = the worker count (benchrun --workers).
set -euo pipefail
: "${KSGW_PORT:?}" "${KSGW_BACKEND:?}" "${KSGW_DIR:?}" "${KSGW_TLS_CERT:?}" "${KSGW_TLS_KEY:?}"
here="$(cd "$(dirname "$0")" && pwd)"
bin="${KSGW_BIN:-$here/../bin/ksgw}"
conf="$KSGW_DIR/ksgw-config"
mkdir -p "$conf"
ip="${KSGW_BACKEND%:*}" port="${KSGW_BACKEND##*:}"
# KSGW_TLS_CERT and KSGW_TLS_KEY (PEM files) become a kubernetes.io/tls
# Secret; the Gateway serves HTTPS, TLS 1.3 only, on KSGW_PORT, and plain
# HTTP on KSGW_HTTP_PORT (benchrun passes a free one) or the next port.
ports="{http: ${KSGW_HTTP_PORT:-$((KSGW_PORT + 1))}, https: $KSGW_PORT}"
tls="  tls: {secretName: bench-tls, minVersion: \"1.3\"}"
cat > "$conf/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: bench-tls, namespace: bench}
data:
  tls.crt: $(base64 -w0 < "$KSGW_TLS_CERT")
  tls.key: $(base64 -w0 < "$KSGW_TLS_KEY")
YAML
cat > "$conf/bench.yaml" <<YAML
apiVersion: networking.kubesphere.io/v1alpha1
kind: Gateway
metadata: {name: bench, namespace: bench}
spec:
  ports: $ports
$tls
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
