#!/usr/bin/env bash
# Everything the test suite and the benchmark smoke run need, installed
# idempotently: Go modules, and nginx, haproxy and wrk from Debian.
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

"$root/hack/install-deps.sh" nginx haproxy wrk
# redis-server for the global rate limiter's tests (internal/testing/redisserver
# fails rather than skips under CI=true).
"$root/hack/redis.sh" install
command -v taskset >/dev/null || { echo "ci-deps: taskset (util-linux) missing" >&2; exit 1; }
