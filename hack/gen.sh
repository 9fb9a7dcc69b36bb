#!/usr/bin/env bash
# Regenerates api/v1alpha1/zz_generated.deepcopy.go, config/crd/bases/*.yaml and the
# chart's copy in deploy/helm/ksgw/crds.
# Installs the pinned controller-gen into $(go env GOPATH)/bin once; reruns are
# cheap and idempotent. Outputs are committed; CI checks they are current with
# `hack/gen.sh && git diff --exit-code`.
#
# crd:allowDangerousTypes=true is required for Percent.Value (float64): Istio's
# wire form for percentages is a JSON number. See api/v1alpha1 package doc.
set -euo pipefail

CONTROLLER_TOOLS_VERSION=v0.23.0 # k8s.io/* v0.37, go 1.26

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bin="$(go env GOPATH)/bin"
cg="$bin/controller-gen"
if ! [ -x "$cg" ] || ! "$cg" --version 2>/dev/null | grep -q "$CONTROLLER_TOOLS_VERSION"; then
	GOFLAGS= GOBIN="$bin" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
fi

"$cg" object paths=./api/...
# Generate into a scratch directory and swap, so that a failed run neither
# leaves a half-written tree nor keeps CRDs of deleted kinds.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cg" crd:allowDangerousTypes=true paths=./api/... output:crd:dir="$tmp"
mkdir -p config/crd/bases
rm -f config/crd/bases/*.yaml
cp "$tmp"/*.yaml config/crd/bases/
# The Helm chart ships the same CRDs (deploy/helm's tests keep them equal).
rm -f deploy/helm/ksgw/crds/*.yaml
cp "$tmp"/*.yaml deploy/helm/ksgw/crds/
