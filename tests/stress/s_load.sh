#!/usr/bin/env bash
# s_load.sh — svcd under load and faults: many clients, connect cycles, a
# subscriber that never reads, a byte-a-millisecond client, SIGTERM while
# 20 clients emit, kill -9 of a subscriber, running out of descriptors.
# Run by `make check-stress` through tests/integration/run.sh (lib.sh);
# STRESS=quick scales each case down. Figures are printed on stdout.

# scale FULL QUICK — the size of a case for this run.
scale() {
	if [ "${STRESS:-}" = quick ]; then echo "$2"; else echo "$1"; fi
}

# note TEXT — a figure: printed, and kept in $STRESS_LOG for the summary.
note() {
	echo "$*"
	[ -n "${STRESS_LOG:-}" ] && echo "${FUNCNAME[1]}: $*" >>"$STRESS_LOG"
	return 0
}

hammer() {
	"$HAMMER" "$1" "$SOCK" "${@:2}"
}

# status_of KEY — VmRSS, VmHWM (kB) of the running svcd.
status_of() {
	awk -v k="$1:" '$1 == k {print $2}' "/proc/$SVCD_PID/status"
}

fd_count() {
	ls "/proc/$SVCD_PID/fd" | wc -l
}

clients_are() {
	[ "$(ctl --json status | jq -r .control.clients)" = "$1" ]
}

# 1 000 clients connected at once, each asks once; all answered.
test_1000_concurrent_clients() {
	ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	[ "$(ulimit -n)" -ge 1100 ] || skip "needs ulimit -n >= 1100 (have $(ulimit -n))"
	svcd_start
	local out
	out=$(hammer conc 1000) || fail "$out"
	note "$out"
	assert_eq "answered 1000 of 1000" "$out"
	wait_for 5 clients_are 1
	note "fds after: $(fd_count), VmHWM $(status_of VmHWM) kB"
}

# 10 000 connect/ping/close cycles: the fd count is unchanged and RSS grows
# by at most 256 kB. Under sanitizers RSS says nothing (ASan keeps up to
# 256 MiB of freed memory in quarantine): LeakSanitizer at exit, which
# makes svcd's exit status non-zero, does that part.
test_connect_cycles_no_growth() {
	local n bound=256
	n=$(scale 10000 3000)
	[ -n "${SVCD_SANITIZED:-}" ] && bound=1048576
	svcd_start
	hammer cycles 1000 >/dev/null || fail "warm-up cycles"
	wait_for 5 clients_are 1
	local fd0 rss0 fd1 rss1 out
	fd0=$(fd_count)
	rss0=$(status_of VmRSS)
	out=$(hammer cycles "$n") || fail "$out"
	assert_eq "cycles $n of $n" "$out"
	wait_for 5 clients_are 1
	fd1=$(fd_count)
	rss1=$(status_of VmRSS)
	note "$n cycles: fds $fd0 -> $fd1, VmRSS $rss0 -> $rss1 kB (bound +$bound kB)"
	assert_eq "$fd0" "$fd1" "fd count after $n cycles"
	[ $((rss1 - rss0)) -le $bound ] || fail "RSS grew by $((rss1 - rss0)) kB"
	svcd_stop || fail "exit status $? (a leak under LeakSanitizer?)"
}

# A subscriber that reads nothing while 1 000 000 events are emitted: svcd's
# peak RSS stays under 64 MiB (256 MiB under sanitizers), it answers pings
# during the flood, and when the subscriber reads at last it finds the
# events.lost notice right after the last event it was sent.
test_subscriber_never_reads() {
	local n bound=65536
	n=$(scale 1000000 100000)
	[ -n "${SVCD_SANITIZED:-}" ] && bound=262144
	svcd_start
	mkfifo "$T/go"
	hammer sub 'flood.*' <"$T/go" >"$T/sub.out" &
	local sub=$!
	exec 3>"$T/go"
	wait_for 5 grep -q subscribed "$T/sub.out"
	hammer emit "$n" flood.x >/dev/null 2>"$T/emit.err" &
	local em=$!
	local pings=0
	while kill -0 $em 2>/dev/null; do
		[ "$(ctl -t 2 ping)" = pong ] || fail "no pong during the flood"
		pings=$((pings + 1))
		sleep 0.2 # a rate over the flood, not a readiness wait
	done
	wait $em || fail "emitter: $(cat "$T/emit.err")"
	assert_contains "$(cat "$T/emit.err")" "acked $n refused 0"
	local hwm
	hwm=$(status_of VmHWM)
	note "$n events, subscriber never read: svcd VmHWM $hwm kB (bound $bound kB), $pings pings answered during the flood"
	[ "$hwm" -lt $bound ] || fail "peak RSS $hwm kB"
	exec 3>&- # the subscriber reads now
	wait $sub
	local lost last
	lost=$(grep '"events.lost"' "$T/sub.out") || fail "no events.lost notice in the stream"
	note "notice: $lost"
	[ "$(wc -l <<<"$lost")" = 1 ] || fail "more than one notice"
	assert_eq true "$(jq -r .params.disconnect <<<"$lost")" "disconnect flag"
	last=$(grep '"method":"event"' "$T/sub.out" | tail -n 1 | jq -r .params.seq)
	assert_eq "$((last + 1))" "$(jq -r .params.from <<<"$lost")" "the gap starts after the last event sent"
	[ "$(jq -r .params.count <<<"$lost")" -gt 0 ] || fail "count"
	assert_eq "" "$(tail -n 1 "$T/sub.out" | grep -v events.lost)" "the notice is the last line"
	assert_contains "$(cat "$SVCD_LOG")" "it stopped reading"
	assert_eq pong "$(ctl ping)"
}

# One byte per millisecond: the request is answered when its newline
# arrives; meanwhile other clients are served at once.
test_one_byte_per_ms() {
	local pad
	pad=$(head -c "$(scale 2000 300)" /dev/zero | tr '\0' p)
	svcd_start
	local line='{"jsonrpc":"2.0","id":"slow","method":"emit","params":{"event":"slow.x","data":{"p":"'$pad'"}}}'
	hammer slow 1000 "$line" >"$T/slow.out" 2>&1 &
	local slow=$!
	local n=0 t0 t1 worst=0
	while kill -0 $slow 2>/dev/null; do
		t0=$(date +%s%N)
		[ "$(ctl -t 1 ping)" = pong ] || fail "a ping failed while the slow client wrote"
		t1=$(( ($(date +%s%N) - t0) / 1000000 ))
		[ $t1 -gt $worst ] && worst=$t1
		n=$((n + 1))
		sleep 0.05 # sample the whole slow request
	done
	wait $slow || fail "slow client: $(cat "$T/slow.out")"
	assert_eq '"slow"' "$(jq -c .id "$T/slow.out")" "the slow request answered"
	jq -e .result.seq "$T/slow.out" >/dev/null || fail "$(cat "$T/slow.out")"
	note "${#line} bytes at 1/ms answered; $n pings meanwhile, slowest ${worst} ms (svcctl start included)"
	[ $n -ge 3 ] || fail "too few pings sampled"
}

# SIGTERM while 20 clients emit as fast as they can: every acknowledged
# event reaches the subscriber before svcd exits.
test_sigterm_while_20_emit() {
	CONF_TEXT=$'[control]\noutput_soft = 256M\noutput_hard = 1G' svcd_start
	"$SVCCTL" -s "$SOCK" --json watch 'race.*' >"$T/sub.out" 2>"$T/watch.err" &
	local wpid=$!
	wait_for 5 bash -c "'$SVCCTL' -s '$SOCK' emit race.start >/dev/null && grep -q race.start '$T/sub.out'"
	local c pids=()
	for c in $(seq 1 20); do
		hammer emit 0 "race.c$c" >"$T/acked.$c" 2>"$T/emit.$c" &
		pids+=($!)
	done
	# every client is going before the signal
	for c in $(seq 1 20); do wait_for 10 test -s "$T/acked.$c"; done
	kill -TERM "$SVCD_PID"
	local rc=0
	svcd_wait_exit || rc=$?
	assert_eq 0 "$rc" "exit status"
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	wait $wpid 2>/dev/null
	sort -n "$T"/acked.* >"$T/acked"
	jq -r 'select(.event | startswith("race.c")) | .seq' "$T/sub.out" | sort -n >"$T/seen"
	local acked seen missing refused
	acked=$(wc -l <"$T/acked")
	seen=$(wc -l <"$T/seen")
	missing=$(comm -23 "$T/acked" "$T/seen" | wc -l)
	refused=$(grep -c 'class ShuttingDown' "$T"/emit.* | awk -F: '{s += $2} END {print s}')
	note "20 emitters: acknowledged $acked, delivered to the subscriber $seen, missing $missing; $refused clients were refused with ShuttingDown"
	[ "$acked" -gt 0 ] || fail "nothing acknowledged"
	assert_eq 0 "$missing" "acknowledged events missing at the subscriber"
}

# kill -9 of a subscriber in the middle of a stream: the emitter is not
# disturbed, the client is cleaned up, the daemon serves on.
test_kill9_subscriber() {
	local n
	n=$(scale 200000 50000)
	svcd_start
	"$SVCCTL" -s "$SOCK" --json watch 'k9.*' >"$T/sub.out" 2>/dev/null &
	local wpid=$!
	wait_for 5 clients_are 2
	hammer emit "$n" k9.x >/dev/null 2>"$T/emit.err" &
	local em=$!
	wait_for 10 bash -c "[ \$(wc -l <'$T/sub.out') -ge 1000 ]"
	kill -KILL $wpid
	wait $wpid 2>/dev/null
	note "subscriber killed after $(wc -l <"$T/sub.out") events"
	wait $em || fail "emitter: $(cat "$T/emit.err")"
	assert_contains "$(cat "$T/emit.err")" "acked $n refused 0"
	wait_for 5 clients_are 1
	local fds
	fds=$(fd_count)
	assert_eq pong "$(ctl ping)"
	assert_eq "$fds" "$(fd_count)" "no descriptor left behind"
	[ "$(ctl --json status | jq -r .control.disconnected_slow)" = 0 ] ||
		note "note: the subscriber was slow before it died"
}

# svcd with 64 descriptors and more clients than that: the ones it cannot
# accept get a Busy error naming the cause, the log says it once, and it
# serves again as soon as clients leave.
test_fd_exhaustion() {
	local n
	n=$(scale 200 100)
	SVCD_WRAP="prlimit --nofile=64:64 --" svcd_start
	assert_eq 64 "$(awk '/Max open files/ {print $4}' "/proc/$SVCD_PID/limits")" "svcd's limit"
	local out
	out=$(hammer hold "$n" 2)
	note "$n clients against 64 fds: $out"
	local served busy
	served=$(awk '/^served/ {print $2}' <<<"$out")
	busy=$(awk '/^served/ {print $4}' <<<"$out")
	[ "$served" -gt 30 ] || fail "only $served served"
	[ "$busy" -ge 1 ] || fail "no Busy refusal"
	assert_contains "$out" '"class":"Busy"'
	assert_contains "$out" "svcd is out of file descriptors, try again later"
	assert_contains "$(cat "$SVCD_LOG")" "control: cannot accept connections: Too many open files"
	kill -0 "$SVCD_PID" || fail "svcd died"
	# the clients are gone: svcd recovers
	wait_for 5 "$SVCCTL" -s "$SOCK" -t 1 ping
	out=$(hammer conc 40) || fail "after recovery: $out"
	assert_eq "answered 40 of 40" "$out"
	out=$(hammer hold "$n" 2)
	note "again: $out"
	assert_contains "$out" '"class":"Busy"'
	wait_for 5 clients_are 1
}
