#!/usr/bin/env bash
# t_listeners.sh — listeners (listen =) with the real svcd and a real
# listener program (listener.py): one process acks a stream in order; a
# nack is retried or fails; a listener that crashes is restarted and gets
# what it had not acknowledged; one that stops reading holds its window
# while the rest waits queued (nothing dropped); one that never answers is
# killed at the timeout; kill -9 of svcd with a journal; config errors.

LISTENER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/listener.py"

emit_lines() {
	awk -v n="$1" -v e="$2" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"%s\",\"data\":{\"i\":%d}}}\n", i, e, i }'
}

hook_field() {
	ctl hooks --json | jq -r ".hooks[0].$1"
}

# emit_n N EVENT — emit N events on one connection, wait for the replies.
emit_n() {
	emit_lines "$1" "$2" >"$T/req"
	socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/req" >"$T/acks" 2>/dev/null
	assert_eq "$1" "$(grep -c '"result"' "$T/acks")" "emits answered"
}

test_listener_acks_in_order() {
	CONF_TEXT="[hook.l]
on = x
window = 1
listen = $LISTENER ack $T/out"
	svcd_start
	wait_for 10 grep -q "hook l: listener up, mode ack" "$SVCD_LOG"
	local pid
	pid=$(hook_field pid)
	emit_n 300 x
	wait_for 20 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 300'"
	assert_eq 300 "$(wc -l <"$T/out")" "every event once"
	sort -n -c "$T/out" || fail "out of order"
	assert_eq "$pid" "$(hook_field pid)" "one process for them all"
	assert_eq 0 "$(hook_field restarts)" "restarts"
	assert_eq "listen" "$(hook_field kind)" "kind"
	assert_eq 0 "$(hook_field lag)" "lag"
	assert_contains "$(ctl hooks)" "listener.py" "svcctl hooks shows it"
	svcd_stop || fail "svcd exited with status $?"
}

test_nack_is_retried_or_fails() {
	CONF_TEXT="[hook.l]
on = x
retries = 1
backoff = 10ms
listen = $LISTENER nack-once $T/out"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 1'"
	assert_eq 1 "$(hook_field retried)" "one retry"
	svcd_stop || fail "svcd exited with status $?"
	CONF_TEXT="[hook.l]
on = x
listen = $LISTENER nack-once $T/out2"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].failures == 1'"
	assert_eq "nack: busy" "$(hook_field last_error)" "the listener's error"
	svcd_stop || fail "svcd exited with status $?"
}

test_crashed_listener_restarts_and_resends() {
	CONF_TEXT="[hook.l]
on = x
window = 1
backoff = 50ms
listen = $LISTENER crash-once $T/out"
	svcd_start
	emit_n 10 x
	wait_for 20 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 10'"
	assert_eq 1 "$(hook_field restarts)" "restarted once"
	assert_eq 10 "$(wc -l <"$T/out")" "each once"
	sort -n -c "$T/out" || fail "out of order"
	assert_contains "$(cat "$SVCD_LOG")" "hook l: crashing at" "stderr logged"
	assert_contains "$(cat "$SVCD_LOG")" "listener exited with status 3; restarting" "restart logged"
	svcd_stop || fail "svcd exited with status $?"
}

test_stalled_listener_drops_nothing() {
	CONF_TEXT="[hook.l]
on = x
window = 4
listen = $LISTENER stall $T/out"
	svcd_start
	emit_n 200 x
	local j
	j=$(ctl hooks --json | jq -c '.hooks[0]')
	if [ "$(jq .deliveries <<<"$j")" -lt 200 ]; then
		[ "$(jq .in_flight <<<"$j")" -le 4 ] || fail "more than the window in flight: $j"
		[ "$(jq .lag <<<"$j")" -gt 0 ] || fail "no lag while stalled: $j"
	fi
	wait_for 30 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 200'"
	assert_eq 0 "$(hook_field dropped)" "dropped"
	assert_eq 200 "$(sort -un "$T/out" | wc -l)" "all delivered"
	svcd_stop || fail "svcd exited with status $?"
}

test_mute_listener_is_killed_at_timeout() {
	CONF_TEXT="[hook.l]
on = x
timeout = 300ms
retries = 1
backoff = 50ms
listen = $LISTENER mute $T/out"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].timeouts >= 1 and .hooks[0].restarts >= 1'"
	assert_contains "$(cat "$SVCD_LOG")" "did not answer x #" "timeout logged"
	# a timeout is a failed attempt: retried once, then failed for good
	# (an event no listener answers does not hold the hook forever)
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].timeouts == 2 and .hooks[0].failures == 1 and .hooks[0].in_flight == 0'"
	assert_eq 0 "$(hook_field lag)" "nothing owed after the failure"
	svcd_stop || fail "svcd exited with status $?"
}

test_bad_listen_is_config_error() {
	printf '[hook.h]\non = x\nlisten = /no/such/listener --flag\n[hook.i]\non = x\nlisten = /bin/true\nconcurrency = 2\n' >"$T/bad.conf"
	local out rc=0
	out=$("$SVCD" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "exit status"
	assert_contains "$out" "bad.conf:3: hook 'h': listen '/no/such/listener' is not an executable file"
	assert_contains "$out" "bad.conf:7: hook 'i': a listener has 'window', not 'concurrency'"
}

# A listener that never reads its stdin (so never sees the EOF) does not
# outlive a kill -9 of svcd: it gets SIGTERM when svcd dies. Before, it was
# left running, adopted by init.
test_listener_dies_with_svcd() {
	CONF_TEXT="[hook.l]
on = x
listen = /bin/sleep 600"
	svcd_start
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].pid > 0'"
	local pid
	pid=$(hook_field pid)
	kill -0 "$pid" || fail "the listener is not running"
	kill -KILL "$SVCD_PID"
	wait "$SVCD_PID" 2>/dev/null
	SVCD_PID=""
	wait_for 10 sh -c "! kill -0 $pid 2>/dev/null"
}

# Every acknowledged event reaches the listener at least once, in order,
# even when svcd is killed with SIGKILL in the middle of the stream.
test_at_least_once_after_kill9() {
	local n=${KILL9_EVENTS:-5000}
	CONF_TEXT="[journal]
path = $T/j.db
sync = always
[hook.l]
on = load
window = 1
listen = $LISTENER ack $T/out"
	svcd_start
	emit_lines "$n" load >"$T/req"
	socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/req" >"$T/acks" 2>/dev/null &
	local sp=$!
	wait_for 60 sh -c "[ \$(wc -l <$T/acks) -ge $((n / 3)) ]"
	kill -KILL "$SVCD_PID"
	wait "$SVCD_PID" 2>/dev/null
	SVCD_PID=""
	wait $sp 2>/dev/null
	jq -r 'select(.result) | .result.seq' "$T/acks" >"$T/acked"
	local acked last
	acked=$(wc -l <"$T/acked")
	last=$(tail -n 1 "$T/acked")
	rm -f "$SOCK"
	svcd_start
	wait_for 120 grep -qx "$last" "$T/out"
	awk '!seen[$0]++' "$T/out" >"$T/firsts"
	sort -n -c "$T/firsts" || fail "listener input out of order"
	local missing
	missing=$(comm -23 <(sort "$T/acked") <(sort "$T/firsts") | wc -l)
	assert_eq 0 "$missing" "acknowledged events missing ($acked acknowledged)"
	echo "kill -9 after $acked acknowledged events: all delivered"
	svcd_stop || fail "svcd exited with status $?"
}
