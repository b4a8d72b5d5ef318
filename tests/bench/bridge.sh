#!/usr/bin/env bash
# bridge.sh — the Redis bridge (delivery = streams) against raw Redis with
# the same load, in one run: one redis-server on 127.0.0.1 (TCP, as across
# hosts), svcd A publishes bench.*, svcd B subscribes, a plain subscriber on
# B's control socket stamps each arrival.
#
#   throughput  N events as fast as A's control socket takes them, until
#               the last reached B's subscriber; raw: one writer XADDs the
#               same payloads (1024 in flight), one reader XREADGROUP +
#               XACK, until the last was read.
#               Also Redis's own time per event by command (INFO
#               commandstats, usec inside each command) for both.
#   latency     RATE events/s for SECS seconds (default 10000/s, 5 s):
#               p50/p99 from the emit (raw: the XADD) to the subscriber
#               (raw: the reader).
#
#   tests/bench/bridge.sh [N [RATE [SECS]]]   (default 100000 10000 5;
#                          needs redis-server, redis-cli, jq; builds
#                          build/bench/xbench; uses build/svcd, svcctl)
#
#   CALLGRIND=1 tests/bench/bridge.sh [N]   instead: svcd A and B under
#               callgrind, N events (default 20000) bridged as fast as they
#               go, and the instructions each node spent per event (the
#               batches are smaller than at full speed: a figure to compare
#               between builds, not a cost at full speed)
set -eu
CALLGRIND=${CALLGRIND:-}
N=${1:-$([ -n "$CALLGRIND" ] && echo 20000 || echo 100000)}
RATE=${2:-10000}
SECS=${3:-5}
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
SVCD=${SVCD:-$root/build/svcd}
SVCCTL=${SVCCTL:-$root/build/svcctl}
XB=${XBENCH:-$root/build/bench/xbench}
for c in redis-server redis-cli jq; do
	command -v $c >/dev/null || { echo "bridge.sh: $c is not installed" >&2; exit 1; }
done
[ -x "$XB" ] || make -C "$root" -s build/bench/xbench
T=$(mktemp -d /tmp/svcd-bench-bridge.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

port=
# below the ephemeral range: a client's connection may take such a port
hi=$(awk '{print $1 - 1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
{ [ -n "$hi" ] && [ "$hi" -gt 21000 ]; } || hi=32767
for _ in $(seq 100); do
	p=$((20000 + RANDOM % (hi - 20000)))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "bridge.sh: no free port" >&2; exit 1; }
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$T" >"$T/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 250); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.02; done

start_node() { # NAME PUBLISH SUBSCRIBE
	cat >"$T/$1.conf" <<CONF
[daemon]
socket = $T/$1.sock
log_level = warning
[bus]
history = 16
[bridge]
url = redis://127.0.0.1:$port
node = $1
publish = $2
subscribe = $3
buffer = 1000000
CONF
	if [ -n "$CALLGRIND" ]; then
		valgrind --tool=callgrind --callgrind-out-file="$T/cg.$1" \
			"$SVCD" -c "$T/$1.conf" >"$T/$1.log" 2>&1 &
	else
		"$SVCD" -c "$T/$1.conf" >"$T/$1.log" 2>&1 &
	fi
	pids+=($!)
	for _ in $(seq 1500); do
		[ "$("$SVCCTL" -s "$T/$1.sock" --json status 2>/dev/null | jq -r .bridge.connected)" = true ] && return
		sleep 0.02
	done
	echo "bridge.sh: $1 did not connect" >&2
	exit 1
}
start_node a 'bench.*' ''
start_node b '' 'bench.*'

# cpu PID: user + system CPU of a process so far, in microseconds
cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000000 / t }' "/proc/$1/stat"; }

# field VALUE-NAME LINE
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

# bridge_run COUNT RATE: emit on A, subscriber on B; prints one line.
bridge_run() {
	local out
	"$XB" sub "$T/b.sock" "$1" >"$T/sub.out" &
	local sp=$!
	for _ in $(seq 250); do grep -q ready "$T/sub.out" 2>/dev/null && break; sleep 0.02; done
	out=$("$XB" emit "$T/a.sock" "$1" "$2")
	wait $sp || { echo "bridge.sh: the subscriber failed" >&2; exit 1; }
	local s l
	s=$(field start_us "$out")
	l=$(field last_us "$(tail -1 "$T/sub.out")")
	echo "eps=$(($1 * 1000000 / (l - s))) $(tail -1 "$T/sub.out" | sed 's/.*last_us=[0-9]* //')"
}

raw_run() {
	local out s l r0
	r0=$(cpu "${pids[0]}")
	out=$("$XB" raw 127.0.0.1 "$port" "$1" "$2")
	s=$(field start_us "$(grep start_us <<<"$out")")
	l=$(field last_us "$(grep last_us <<<"$out")")
	RAW_CPU=$(field cpu_us "$(grep cpu_us <<<"$out")")
	RAW_REDIS_CPU=$(($(cpu "${pids[0]}") - r0))
	echo "eps=$(($1 * 1000000 / (l - s))) $(grep last_us <<<"$out" | sed 's/.*last_us=[0-9]* //')"
}

# cmdstats N: Redis's own time per event by command since the last
# CONFIG RESETSTAT (INFO commandstats: usec spent in each command)
cmdstats() {
	redis-cli -p "$port" info commandstats | tr -d '\r' | awk -F'[:,=]' -v n="$1" '
		/^cmdstat_/ { c = substr($1, 9); u[c] += $5; t += $5 }
		END { printf "xadd %.2f xreadgroup %.2f xack %.2f other %.2f = %.2f us", u["xadd"] / n,
			u["xreadgroup"] / n, u["xack"] / n, (t - u["xadd"] - u["xreadgroup"] - u["xack"]) / n, t / n }'
}
resetstat() { redis-cli -p "$port" config resetstat >/dev/null; }

if [ -n "$CALLGRIND" ]; then
	# instructions per event of each node over one bridged run
	for p in "${pids[1]}" "${pids[2]}"; do callgrind_control -z "$p" >/dev/null 2>&1; done
	bridge_run "$N" 0 >/dev/null
	for n in a b; do
		p=${pids[1]}
		[ $n = b ] && p=${pids[2]}
		callgrind_control -d "$p" >/dev/null 2>&1
		ir=$(callgrind_annotate "$T/cg.$n.1" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
		echo "callgrind: svcd $n: $((ir / N)) instructions per event ($N events)"
	done
	exit 0
fi

echo "bridge.sh: $(nproc) cores, redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), TCP 127.0.0.1"
resetstat
raw_run "$N" 0 >"$T/raw_tp"
raw_tp=$(cat "$T/raw_tp")
raw_cs=$(cmdstats "$N")
resetstat
c0=$(($(cpu "${pids[1]}") + $(cpu "${pids[2]}")))
r0=$(cpu "${pids[0]}")
br_tp=$(bridge_run "$N" 0)
br_cs=$(cmdstats "$N")
br_cpu=$(($(cpu "${pids[1]}") + $(cpu "${pids[2]}") - c0))
br_redis=$(($(cpu "${pids[0]}") - r0))
echo "throughput raw Redis XADD/XREADGROUP: $N events: $raw_tp"
echo "throughput svcd A -> Redis -> svcd B:  $N events: $br_tp"
rt=$(field eps "$raw_tp")
bt=$(field eps "$br_tp")
echo "ratio bridge/raw: $(awk -v b="$bt" -v r="$rt" 'BEGIN { printf "%.2f", b / r }') (target >= 0.80)"
# CPU per event does not depend on what else the machine runs
awk -v n="$N" -v rc="$RAW_CPU" -v rr="$RAW_REDIS_CPU" -v bc="$br_cpu" -v br="$br_redis" 'BEGIN {
	printf "cpu per event, raw:    clients %.2f us + redis %.2f us = %.2f us\n", rc / n, rr / n, (rc + rr) / n
	printf "cpu per event, bridge: svcd A+B %.2f us + redis %.2f us = %.2f us (ratio %.2f)\n", bc / n, br / n, (bc + br) / n, (bc + br) / (rc + rr) }'
echo "redis commandstats per event, raw:    $raw_cs"
echo "redis commandstats per event, bridge: $br_cs"

M=$((RATE * SECS))
raw_lat=$(raw_run "$M" "$RATE")
br_lat=$(bridge_run "$M" "$RATE")
echo "latency raw Redis at $RATE/s, $M events: $raw_lat"
echo "latency svcd bridge at $RATE/s, $M events: $br_lat (target p99 < 5000 us)"
"$SVCCTL" -s "$T/a.sock" --json status | jq -c '.bridge | {published, dropped, resent, rejected}'
"$SVCCTL" -s "$T/b.sock" --json status | jq -c '.bridge | {received, duplicates, gaps, pauses}'
