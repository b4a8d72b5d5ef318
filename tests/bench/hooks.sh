#!/usr/bin/env bash
# hooks.sh — deliveries per second through hooks, by kind: webhooks to a
# local libev HTTP receiver (build/bench/httprecv) at concurrency 1 and 16,
# a listener that acks at once (build/bench/acklistener) with window 1 and
# 256, and exec hooks (/bin/true) at concurrency 16 for comparison. N emits
# are pipelined into svcd's control socket; the clock stops when the hook
# has delivered all N (polled with svcctl hooks --json every 20 ms).
#
#   tests/bench/hooks.sh        (make bench runs it; needs socat and jq)
# Environment: BENCH_HOOK_N (webhooks, 20000), BENCH_LISTEN_N (50000),
# BENCH_EXEC_N (2000), BENCH_BIN, SVCD, SVCCTL.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BENCH_BIN:-$here/../../build/bench}
SVCD=${SVCD:-$here/../../build/svcd}
SVCCTL=${SVCCTL:-$here/../../build/svcctl}
BIN=$(cd "$BIN" && pwd)
HN=${BENCH_HOOK_N:-20000}
LN=${BENCH_LISTEN_N:-50000}
XN=${BENCH_EXEC_N:-2000}
for c in socat jq; do
	command -v $c >/dev/null || { echo "hooks.sh: $c is not installed" >&2; exit 1; }
done
T=$(mktemp -d /tmp/svcd-bench-hooks.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

"$BIN/httprecv" "$T/port" >"$T/recv.out" &
pids+=($!)
for _ in $(seq 250); do [ -s "$T/port" ] && break; sleep 0.02; done
PORT=$(cat "$T/port")

emit_lines() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"bench.hook\",\"data\":{\"i\":%d,\"pad\":\"0123456789abcdef0123456789abcdef\"}}}\n", i, i }'
}

# run LABEL N HOOK-CONFIG — one svcd, N events, prints LABEL and rate.
run() {
	local label=$1 n=$2 conf=$3 t0 t1 got
	cat >"$T/svcd.conf" <<CONF
[daemon]
socket = $T/svcd.sock
log_level = warning
[bus]
history = 16
[hook.b]
on = bench.hook
$conf
CONF
	rm -f "$T/svcd.sock"
	"$SVCD" -c "$T/svcd.conf" >"$T/svcd.log" 2>&1 &
	local sp=$!
	for _ in $(seq 500); do "$SVCCTL" -s "$T/svcd.sock" -t 1 ping >/dev/null 2>&1 && break; sleep 0.02; done
	emit_lines "$n" >"$T/req"
	t0=$(date +%s%N)
	socat -t 60 - "UNIX-CONNECT:$T/svcd.sock" <"$T/req" >/dev/null
	while :; do
		got=$("$SVCCTL" -s "$T/svcd.sock" hooks --json | jq '.hooks[0].deliveries + .hooks[0].failures')
		[ "$got" -ge "$n" ] && break
		sleep 0.02
	done
	t1=$(date +%s%N)
	local f
	f=$("$SVCCTL" -s "$T/svcd.sock" hooks --json | jq -r '.hooks[0] | "failures \(.failures), retried \(.retried), dropped \(.dropped)"')
	kill -TERM $sp
	wait $sp || true
	printf '%-34s %8d events/s  (%d events; %s)\n' "$label" \
		$((n * 1000000000 / (t1 - t0))) "$n" "$f"
}

echo "== hooks: deliveries per second (emit to delivered, pipelined emits) =="
run "webhook, concurrency 1" "$HN" "url = http://127.0.0.1:$PORT/hook
concurrency = 1"
run "webhook, concurrency 16" "$HN" "url = http://127.0.0.1:$PORT/hook
concurrency = 16"
run "listener, window 1" "$LN" "listen = $BIN/acklistener
window = 1"
run "listener, window 256" "$LN" "listen = $BIN/acklistener
window = 256"
run "exec /bin/true, concurrency 16" "$XN" "exec = /bin/true
concurrency = 16"
kill -TERM "${pids[0]}"
wait "${pids[0]}" || true
echo "receiver: $(cat "$T/recv.out") (keep-alive: few connections for many requests)"
