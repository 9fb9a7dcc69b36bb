#!/usr/bin/env bash
# Install the Debian packages that ksgw's tests and benchmarks drive, only if
# missing, without letting their distro services start (nginx would take :80,
# redis :6379, haproxy and prometheus their own ports).
#
#   hack/install-deps.sh [nginx|haproxy|wrk|h2load|redis|prometheus|etcd|chromium|all]...
#
# Idempotent; quiet unless something fails (then the apt log is printed).
set -euo pipefail

usage() {
	echo "usage: $0 [nginx|haproxy|wrk|h2load|redis|prometheus|etcd|chromium|all]..." >&2
	exit 2
}

[[ $# -gt 0 ]] || usage

# name → "binary-to-check package-candidates... " (first candidate apt knows wins)
declare -A BIN=([nginx]=nginx [haproxy]=haproxy [wrk]=wrk [h2load]=h2load [redis]=redis-server [prometheus]=prometheus [etcd]=etcd [chromium]=chromium)
declare -A PKGS=([nginx]="nginx-light nginx" [haproxy]=haproxy [wrk]=wrk [h2load]=nghttp2-client [redis]=redis-server [prometheus]=prometheus [etcd]=etcd-server [chromium]=chromium)
declare -A SVCS=([nginx]=nginx [haproxy]=haproxy [wrk]="" [h2load]="" [redis]=redis-server [prometheus]="prometheus prometheus-node-exporter" [etcd]=etcd [chromium]="")

wanted=()
for arg in "$@"; do
	case "$arg" in
	all) wanted+=(nginx haproxy wrk redis prometheus etcd chromium) ;;
	nginx | haproxy | wrk | h2load | redis | prometheus | etcd | chromium) wanted+=("$arg") ;;
	-h | --help) usage ;;
	*) echo "install-deps: unknown dependency '$arg'" >&2; usage ;;
	esac
done

have() { PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1; }

missing=()
for w in "${wanted[@]}"; do
	have "${BIN[$w]}" || missing+=("$w")
done
[[ ${#missing[@]} -gt 0 ]] || exit 0

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	have sudo || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	SUDO=(sudo -n)
fi

log=$(mktemp)
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
	if [[ $made_policy -eq 1 ]]; then "${SUDO[@]}" rm -f "$policy"; fi
	rm -f "$log"
}
trap cleanup EXIT

run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "install-deps: failed: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

export DEBIAN_FRONTEND=noninteractive
run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q

# Resolve each dependency to the first package name apt has a candidate for.
pkgs=()
for w in "${missing[@]}"; do
	chosen=""
	for p in ${PKGS[$w]}; do
		cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
		if [[ -n "$cand" && "$cand" != "(none)" ]]; then
			chosen=$p
			break
		fi
	done
	[[ -n "$chosen" ]] || { echo "install-deps: no package for '$w' (tried: ${PKGS[$w]})" >&2; exit 1; }
	pkgs+=("$chosen")
done

# invoke-rc.d(8) and deb-systemd-invoke honour policy-rc.d: exit 101 from policy-rc.d
# forbids maintainer scripts from starting services. Only ours is removed.
if [[ ! -e "$policy" ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
	"${SUDO[@]}" chmod 755 "$policy"
	made_policy=1
fi

run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}"

# On a systemd host policy-rc.d stops the start at install, but the unit is
# still enabled for the next boot; disable it so ports stay free.
if [[ -d /run/systemd/system ]] && have systemctl; then
	for w in "${missing[@]}"; do
		for svc in ${SVCS[$w]}; do
			"${SUDO[@]}" systemctl disable --now "$svc" >>"$log" 2>&1 || true
		done
	done
fi

for w in "${missing[@]}"; do
	have "${BIN[$w]}" || { echo "install-deps: '$w' installed but '${BIN[$w]}' not found on PATH" >&2; cat "$log" >&2; exit 1; }
done
