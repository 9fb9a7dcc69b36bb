#!/usr/bin/env bash
# Installs the pinned Helm (built from its Go module) outside the repository
# and prints the path of the binary:
#
#   helm=$(hack/install-helm.sh)
#
# The binary lives in ${XDG_CACHE_HOME:-$HOME/.cache}/ksgw/helm-<version>/;
# idempotent, safe to run concurrently (flock), quiet unless it fails. The
# first build takes a few minutes.
set -euo pipefail

HELM_VERSION=v3.22.0 # k8s.io/* v0.37, like go.mod
# What Helm's own Makefile sets from its client-go (v0.37 → Kubernetes
# 1.37): without it `helm template` and `helm lint` assume Kubernetes 1.20.
K8S_MAJOR=1
K8S_MINOR=37
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
	LDFLAGS+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
done

command -v go >/dev/null || { echo "install-helm: go is not on PATH" >&2; exit 1; }
dir="${XDG_CACHE_HOME:-$HOME/.cache}/ksgw/helm-$HELM_VERSION"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [[ ! -x "$dir/helm" || "$(cat "$dir/.stamp" 2>/dev/null)" != "$LDFLAGS" ]]; then
	log=$(mktemp)
	# GOFLAGS/GOWORK cleared: `go install pkg@version` builds Helm's own
	# module, never this repository's.
	if ! GOFLAGS= GOWORK=off GOBIN="$dir" CGO_ENABLED=0 \
		go install -trimpath -ldflags "$LDFLAGS" \
		"helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$log" 2>&1; then
		echo "install-helm: building helm $HELM_VERSION failed:" >&2
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
	echo "$LDFLAGS" >"$dir/.stamp"
fi
echo "$dir/helm"
