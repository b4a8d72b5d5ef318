#!/usr/bin/env bash
# bridge.sh — events per second across the Redis bridge: svcd A publishes,
# svcd B subscribes, both on one local redis-server (Unix socket). N emits
# are pipelined into A's control socket; the clock stops when B's bridge
# has brought all N in.
#
#   tests/bench/bridge.sh [N]        (default 100000; needs redis-server,
#                                     socat, jq; uses build/svcd, svcctl)
set -eu
N=${1:-100000}
here=$(cd "$(dirname "$0")" && pwd)
SVCD=${SVCD:-$here/../../build/svcd}
SVCCTL=${SVCCTL:-$here/../../build/svcctl}
for c in redis-server redis-cli socat jq; do
	command -v $c >/dev/null || { echo "bridge.sh: $c is not installed" >&2; exit 1; }
done
T=$(mktemp -d /tmp/svcd-bench-bridge.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$T/redis.sock" --save "" --appendonly no \
	--dir "$T" >"$T/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 250); do redis-cli -s "$T/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.02; done

start_node() { # NAME PUBLISH SUBSCRIBE
	cat >"$T/$1.conf" <<CONF
[daemon]
socket = $T/$1.sock
log_level = warning
[bus]
history = 16
[bridge]
url = unix://$T/redis.sock
publish = $2
subscribe = $3
buffer = 1000000
CONF
	"$SVCD" -c "$T/$1.conf" >"$T/$1.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 500); do
		[ "$("$SVCCTL" -s "$T/$1.sock" --json status 2>/dev/null | jq -r .bridge.connected)" = true ] && return
		sleep 0.02
	done
	echo "bridge.sh: $1 did not connect" >&2
	exit 1
}
start_node a 'bench.*' ''
start_node b '' 'bench.*'

awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"bench.e\",\"data\":{\"i\":%d}}}\n", i, i }' >"$T/emits"

received() { "$SVCCTL" -s "$T/b.sock" --json status | jq .bridge.received; }
t0=$(date +%s%N)
socat -t 1 - "UNIX-CONNECT:$T/a.sock" <"$T/emits" >/dev/null &
sender=$!
while [ "$(received)" -lt "$N" ]; do
	sleep 0.05
	[ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 120 ] || { echo "bridge.sh: timed out at $(received)/$N" >&2; exit 1; }
done
t1=$(date +%s%N)
wait $sender || true
ms=$(( (t1 - t0) / 1000000 ))
echo "bridge: $N events A -> Redis -> B in ${ms} ms: $(( N * 1000 / (ms > 0 ? ms : 1) )) events/s"
"$SVCCTL" -s "$T/a.sock" --json status | jq -c '.bridge | {published, dropped, lost}'
"$SVCCTL" -s "$T/b.sock" --json status | jq -c '.bridge | {received, in_dropped}'
