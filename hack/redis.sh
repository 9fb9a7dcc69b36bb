#!/usr/bin/env bash
# A throwaway redis-server on loopback for the global rate limiter's tests
# and for trying ksgw by hand. Go tests start their own server through
# internal/testing/redisserver; CI only needs `install`.
#
#   hack/redis.sh install              install redis-server (Debian) if missing
#   hack/redis.sh start DIR [ADDR]     start one in the background, state in DIR
#                                      (ADDR default 127.0.8.1:6390); prints ADDR
#   hack/redis.sh stop DIR             stop the one started with DIR
#
# No persistence (no RDB, no AOF), bound to one loopback address.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	echo "usage: $0 install | start DIR [HOST:PORT] | stop DIR" >&2
	exit 2
}

bin() {
	PATH="$PATH:/usr/sbin:/sbin" command -v redis-server || {
		echo "redis.sh: redis-server not installed (run: $0 install)" >&2
		exit 1
	}
}

cmd=${1:-}
case "$cmd" in
install)
	"$root/hack/install-deps.sh" redis
	;;
start)
	[[ $# -ge 2 ]] || usage
	dir=$2
	addr=${3:-127.0.8.1:6390}
	host=${addr%:*}
	port=${addr##*:}
	mkdir -p "$dir"
	if [[ -f "$dir/redis.pid" ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
		echo "redis.sh: already running in $dir (pid $(cat "$dir/redis.pid"))" >&2
		exit 1
	fi
	"$(bin)" --bind "$host" --port "$port" --save "" --appendonly no \
		--dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
		--logfile "$dir/redis.log" --loglevel warning
	# Ready when it answers PING (bounded: 10s).
	for _ in $(seq 1 200); do
		if exec 3<>"/dev/tcp/$host/$port" 2>/dev/null; then
			printf 'PING\r\n' >&3
			if read -r -t 1 reply <&3 && [[ $reply == +PONG* ]]; then
				exec 3>&-
				echo "$addr"
				exit 0
			fi
			exec 3>&-
		fi
		sleep 0.05
	done
	echo "redis.sh: redis on $addr not ready after 10s" >&2
	cat "$dir/redis.log" >&2 || true
	exit 1
	;;
stop)
	[[ $# -ge 2 ]] || usage
	pidfile=$2/redis.pid
	[[ -f $pidfile ]] || exit 0
	pid=$(cat "$pidfile")
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	;;
*)
	usage
	;;
esac
