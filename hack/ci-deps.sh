#!/usr/bin/env bash
# Everything the test suite and the benchmark smoke run need, installed
# idempotently: Go modules; nginx, haproxy, wrk, prometheus, chromium and
# redis from Debian; the kube-apiserver and etcd of hack/testenv.sh.
# Quiet unless something fails. Called by .ci/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

command -v go >/dev/null || { echo "ci-deps: go is not on PATH" >&2; exit 1; }
if ! out=$(go mod download 2>&1); then
	echo "ci-deps: go mod download failed:" >&2
	echo "$out" >&2
	exit 1
fi

# prometheus (promtool and the scrape test) and chromium (status page
# screenshot) for the observability tests.
"$root/hack/install-deps.sh" nginx haproxy wrk prometheus chromium
# kube-apiserver (built from k8s.io/kubernetes, ~6 min once, then cached) and
# etcd for the Kubernetes integration tests (make k8s).
"$root/hack/testenv.sh" >/dev/null
# helm for the chart tests (deploy/helm); built from its Go module once, cached.
"$root/hack/install-helm.sh" >/dev/null
# redis-server for the global rate limiter's tests (internal/testing/redisserver
# fails rather than skips under CI=true).
"$root/hack/redis.sh" install
command -v taskset >/dev/null || { echo "ci-deps: taskset (util-linux) missing" >&2; exit 1; }
