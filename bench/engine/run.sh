#!/usr/bin/env bash
# Compares the proxy engine (bench/engine/fixedproxy: server + pool, no
# routing) with nginx as a reverse proxy, both forwarding to the same
# 64-byte keep-alive backend. Each proxy runs on one core (core 1: ksgw with
# GOMAXPROCS=1, nginx with one worker); wrk and the backend share core 0.
# Usage: bench/engine/run.sh [duration, default 10s] [rounds, default 2]
set -euo pipefail

DUR=${1:-10s}
ROUNDS=${2:-2}
CONNS=${CONNS:-50}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/ksgw-engine-bench.XXXXXX)
BACKEND_PORT=18090
NGINX_PORT=18081
KSGW_PORT=18080
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

install_tools() {
	local missing=()
	command -v nginx >/dev/null || missing+=(nginx-light)
	command -v wrk >/dev/null || missing+=(wrk)
	if ((${#missing[@]})); then
		echo "installing ${missing[*]}" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# nginx_conf NAME BODY writes a self-contained nginx config under $WORK.
nginx_conf() {
	local name=$1 body=$2 dir=$WORK/$1
	mkdir -p "$dir/logs" "$dir/tmp"
	cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process on;
user root;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	keepalive_requests 100000000;
	keepalive_timeout 120s;
	$body
}
CONF
	echo "$dir/nginx.conf"
}

wait_port() {
	for _ in $(seq 1 100); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "port $1 did not open" >&2
	return 1
}

install_tools

BODY=$(printf 'x%.0s' $(seq 1 63))
backend_conf=$(nginx_conf backend "server { listen 127.0.0.1:$BACKEND_PORT reuseport; location / { default_type text/plain; return 200 '$BODY
'; } }")
proxy_conf=$(nginx_conf proxy "upstream be { server 127.0.0.1:$BACKEND_PORT; keepalive 256; keepalive_requests 100000000; }
	server { listen 127.0.0.1:$NGINX_PORT; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering on; } }")

taskset -c 0 nginx -c "$backend_conf" &
PIDS+=($!)
taskset -c 1 nginx -c "$proxy_conf" &
NGINX_PID=$!
PIDS+=($NGINX_PID)

(cd "$ROOT" && go build -o "$WORK/fixedproxy" ./bench/engine/fixedproxy)
GOMAXPROCS=1 taskset -c 1 "$WORK/fixedproxy" -listen 127.0.0.1:$KSGW_PORT -backend 127.0.0.1:$BACKEND_PORT 2>"$WORK/fixedproxy.log" &
KSGW_PID=$!
PIDS+=($KSGW_PID)

wait_port $BACKEND_PORT
wait_port $NGINX_PORT
wait_port $KSGW_PORT

# to_ms converts wrk's "812.00us" / "1.23ms" / "1.01s" to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else printf "%s", v }'
}

# cpu_ticks PID prints the CPU time (clock ticks) used so far by PID and its
# children (nginx's worker), to report how busy each proxy's core was.
cpu_ticks() {
	local total=0 pid
	for pid in "$1" $(pgrep -P "$1" || true); do
		if [[ -r /proc/$pid/stat ]]; then
			total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
		fi
	done
	echo "$total"
}

# bench NAME PORT PID prints "rps p50ms p99ms cpu%" for one wrk run.
bench() {
	local out t0 t1 s0 s1
	t0=$(cpu_ticks "$3")
	s0=$(date +%s%N)
	out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"$DUR" --latency "http://127.0.0.1:$2/" 2>&1)
	t1=$(cpu_ticks "$3")
	s1=$(date +%s%N)
	echo "$out" >"$WORK/wrk-$1-$RANDOM.txt"
	if echo "$out" | grep -q "Non-2xx\|Socket errors"; then
		echo "$out" | grep "Non-2xx\|Socket errors" | sed "s/^/  $1: /" >&2
	fi
	local rps p50 p99
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	p50=$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
	p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
	local cpu
	cpu=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v ns="$((s1 - s0))" 'BEGIN{printf "%.0f", 100 * t / hz / (ns / 1e9)}')
	echo "$rps $p50 $p99 $cpu"
}

# Warm both (connection pools, page cache, CPU frequency).
taskset -c 0 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$NGINX_PORT/" >/dev/null
taskset -c 0 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$KSGW_PORT/" >/dev/null

printf '%-6s %-6s %12s %10s %10s %9s\n' round proxy req/s p50_ms p99_ms proxy_cpu%
sum_n=0 sum_k=0 p99_n=0 p99_k=0
for r in $(seq 1 "$ROUNDS"); do
	read -r n50rps n50 n99 ncpu < <(bench nginx $NGINX_PORT $NGINX_PID)
	printf '%-6s %-6s %12s %10s %10s %9s\n' "$r" nginx "$n50rps" "$n50" "$n99" "$ncpu"
	read -r k50rps k50 k99 kcpu < <(bench ksgw $KSGW_PORT $KSGW_PID)
	printf '%-6s %-6s %12s %10s %10s %9s\n' "$r" ksgw "$k50rps" "$k50" "$k99" "$kcpu"
	sum_n=$(awk -v a="$sum_n" -v b="$n50rps" 'BEGIN{print a+b}')
	sum_k=$(awk -v a="$sum_k" -v b="$k50rps" 'BEGIN{print a+b}')
	p99_n=$(awk -v a="$p99_n" -v b="$n99" 'BEGIN{print a+b}')
	p99_k=$(awk -v a="$p99_k" -v b="$k99" 'BEGIN{print a+b}')
done
awk -v k="$sum_k" -v n="$sum_n" -v pk="$p99_k" -v pn="$p99_n" -v r="$ROUNDS" 'BEGIN {
	printf "mean req/s: ksgw %.0f, nginx %.0f, ratio ksgw/nginx %.2f (target >= 0.80)\n", k/r, n/r, k/n
	printf "mean p99:   ksgw %.3fms, nginx %.3fms, ratio ksgw/nginx %.2f (target <= 1.50)\n", pk/r, pn/r, pk/pn
}'
