#!/usr/bin/env bash
# Runs the quickstart: three demo backends (ksgw-echo) on the Pod IPs that
# backends.yaml declares, then `ksgw standalone` on this directory.
# The seed Route has no namespace; like `kubectl apply -n tenant-a -f .`,
# --namespace puts namespace-less objects into tenant-a, the seed Gateway's.
# Ctrl-C stops the gateway (it drains) and the backends.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${KSGW_BIN_DIR:-$root/bin}"
mkdir -p "$bin"
(cd "$root" && go build -o "$bin/ksgw" ./cmd/ksgw && go build -o "$bin/ksgw-echo" ./cmd/ksgw-echo)

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for spec in product-v1:127.0.0.11 product-v1:127.0.0.12 product-v2:127.0.0.21; do
  name="${spec%%:*}" ip="${spec##*:}"
  "$bin/ksgw-echo" --name "$name" --addr "$ip:8081" &
  pids+=($!)
done

"$bin/ksgw" standalone --config "$here" --namespace tenant-a "$@" &
pids+=($!)
wait "${pids[-1]}"
