#!/usr/bin/env bash
# Proxy benchmark: nginx, haproxy and ksgw (or whatever KSGW_CMD runs) side by side in
# front of one ksgw-echo backend, driven by wrk. See bench/README.md.
#
#   bench/run.sh [--smoke] [benchrun flags...]     e.g. --scenario keepalive-64B-c50 --rounds 3
#
# Results: a table on stdout (then one line per reload, upstream-failure and
# control-plane scenario, then the bars of issue 4) and
# bench/results/<date>[-smoke].json.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/hack/install-deps.sh" nginx haproxy wrk
# h2load (Debian nghttp2-client) drives the HTTP/2 scenario; without it that
# scenario is skipped, the rest still runs.
"$root/hack/install-deps.sh" h2load || echo "bench: h2load not installed; HTTP/2 scenario skipped" >&2
command -v taskset >/dev/null || { echo "bench: taskset (util-linux) is required" >&2; exit 1; }

bin=$(mktemp -d "${TMPDIR:-/tmp}/ksgw-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
(
	cd "$root"
	go build -o "$bin/ksgw-echo" ./cmd/ksgw-echo
	go build -o "$bin/benchrun" ./bench/cmd/benchrun
	go build -o "$bin/ksgw" ./cmd/ksgw
)
cd "$root"
# ksgw takes part unless KSGW_CMD names another command (e.g. the engine-only
# bench/engine/fixedproxy): `ksgw standalone` with a one-route config.
export KSGW_BIN="$bin/ksgw"
if [[ -z "${KSGW_CMD:-}" ]]; then
	export KSGW_CMD="$root/bench/ksgw-standalone.sh"
	export KSGW_TLS_CMD="${KSGW_TLS_CMD:-$root/bench/ksgw-standalone-tls.sh}"
fi
"$bin/benchrun" --echo-bin "$bin/ksgw-echo" --out "$root/bench/results" "$@"
