#!/usr/bin/env bash
# Packages deploy/helm/ksgw as a Helm repository: the chart under its own
# name (ksgw) and under the name `gateway`, so that the design's command
# works once the repository is added as `kubesphere`:
#
#   hack/helm-repo.sh [OUT_DIR] [URL]      # default OUT_DIR deploy/helm/repo
#   helm repo add kubesphere URL           # wherever OUT_DIR is served
#   helm install kubesphere-gateway kubesphere/gateway --set replicaCount=3 ...
#
# Without URL the index holds relative chart URLs, which Helm resolves
# against the repository's URL, so OUT_DIR can be served from anywhere.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/deploy/helm/repo"}
url=${2:-}
helm=${HELM:-$("$root/hack/install-helm.sh")}

mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$helm" package "$root/deploy/helm/ksgw" --destination "$out" >/dev/null
# The same chart renamed: only Chart.yaml's name differs.
cp -R "$root/deploy/helm/ksgw" "$tmp/gateway"
sed -i 's/^name: ksgw$/name: gateway/' "$tmp/gateway/Chart.yaml"
grep -q '^name: gateway$' "$tmp/gateway/Chart.yaml" || { echo "helm-repo: could not rename the chart" >&2; exit 1; }
"$helm" package "$tmp/gateway" --destination "$out" >/dev/null

if [[ -n "$url" ]]; then
	"$helm" repo index "$out" --url "$url"
else
	"$helm" repo index "$out"
fi
echo "$out"
