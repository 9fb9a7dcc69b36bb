#!/usr/bin/env bash
# Provides the real kube-apiserver and etcd that the Kubernetes integration
# tests (test/k8s) run against, as controller-runtime's envtest expects them:
# one directory holding `kube-apiserver` and `etcd`.
#
#   hack/testenv.sh            # install if needed; print the directory
#   hack/testenv.sh --export   # print `export KUBEBUILDER_ASSETS=DIR`
#                              #   (eval "$(hack/testenv.sh --export)")
#
# kube-apiserver is built from the k8s.io/kubernetes Go module pinned in
# hack/kube-apiserver/go.mod (its own module: ksgw never imports it, and
# go.work must not include it). The build takes ~6 minutes on a fresh
# machine, then is cached. etcd comes from Debian's etcd-server
# (hack/install-deps.sh); see ETCD below for the version check.
#
# Binaries live outside the repository, in
# ${XDG_CACHE_HOME:-$HOME/.cache}/ksgw/kube-<version>/, keyed by a stamp of
# the pinned go.mod/go.sum and the Go version: a change of pin rebuilds.
# Idempotent and safe to run concurrently (flock). Quiet unless something
# fails; the directory is the only output on stdout.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/kube-apiserver"

export_mode=0
case "${1:-}" in
"") ;;
--export) export_mode=1 ;;
*)
	echo "usage: $0 [--export]" >&2
	exit 2
	;;
esac

command -v go >/dev/null || { echo "testenv: go is not on PATH" >&2; exit 1; }

version=$(cd "$mod" && GOWORK=off GOFLAGS=-mod=readonly go list -m -f '{{.Version}}' k8s.io/kubernetes)
[[ -n "$version" ]] || { echo "testenv: no k8s.io/kubernetes requirement in $mod/go.mod" >&2; exit 1; }
dir="${XDG_CACHE_HOME:-$HOME/.cache}/ksgw/kube-$version"
mkdir -p "$dir"

# One builder at a time; the others wait and then find the binary cached.
exec 9>"$dir/.lock"
flock 9

stamp=$(cat "$mod/go.mod" "$mod/go.sum" <(go env GOVERSION GOARCH) | sha256sum | cut -c1-16)
if [[ ! -x "$dir/kube-apiserver" || "$(cat "$dir/.kube-apiserver.stamp" 2>/dev/null)" != "$stamp" ]]; then
	echo "testenv: building kube-apiserver $version (about 6 minutes the first time)..." >&2
	log=$(mktemp)
	# GOWORK=off: the module stands alone even if a go.work appears above it.
	# -mod=readonly: go.sum is pinned; a build never edits it.
	if ! (cd "$mod" && GOWORK=off GOFLAGS="-mod=readonly ${GOFLAGS:-}" \
		go build -trimpath -ldflags "-s -w" -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver) >"$log" 2>&1; then
		echo "testenv: building kube-apiserver failed:" >&2
		cat "$log" >&2
		rm -f "$log" "$dir/kube-apiserver.tmp"
		exit 1
	fi
	rm -f "$log"
	mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
	echo "$stamp" >"$dir/.kube-apiserver.stamp"
fi

# ETCD: Debian's etcd-server. Kubernetes supports etcd 3.4.22+ and 3.5.6+
# (kubernetes.io/docs/tasks/administer-cluster/configure-upgrade-etcd; the
# apiserver detects the features a 3.4 server lacks and falls back).
ETCD_MIN=3.4.22
"$root/hack/install-deps.sh" etcd
etcd_bin=$(PATH="$PATH:/usr/sbin:/sbin" command -v etcd)
etcd_version=$("$etcd_bin" --version | awk '/^etcd Version:/ { print $3 }')
if [[ "$(printf '%s\n%s\n' "$ETCD_MIN" "$etcd_version" | sort -V | head -1)" != "$ETCD_MIN" ]]; then
	echo "testenv: etcd $etcd_version at $etcd_bin is older than $ETCD_MIN" >&2
	exit 1
fi
ln -sfn "$etcd_bin" "$dir/etcd"

if [[ $export_mode -eq 1 ]]; then
	printf 'export KUBEBUILDER_ASSETS=%q\n' "$dir"
else
	echo "$dir"
fi
