#!/usr/bin/env bash
# t_top.sh — `svcctl top` and `status --interval` with the real svcd: plain
# lines off a terminal (-n, -d, rates from real emits), the screen on a
# pseudo-terminal (script(1)), NDJSON with --json, Ctrl-C, bad values.

test_top_plain_lines() {
	CONF_TEXT=$'[hook.h1]\non = job.*\nexec = /bin/true\n'
	svcd_start
	local out rc=0
	out=$(ctl top -n 3 -d 0.2) || rc=$?
	assert_eq 0 "$rc" "top -n 3"
	assert_eq 4 "$(wc -l <<<"$out")" "a header and three lines"
	assert_contains "$(head -1 <<<"$out")" "IN/s"
	assert_contains "$(head -1 <<<"$out")" "HOOKLAG"
	assert_not_contains "$out" $'\033' "no escapes off a terminal"
	# the first line has no rate yet, the next ones do
	assert_eq "-" "$(awk 'NR == 2 {print $2}' <<<"$out")"
	[[ $(awk 'NR == 3 {print $2}' <<<"$out") =~ ^[0-9]+\.[0-9]$ ]] || fail "a rate: $out"
	# events emitted meanwhile show up as events/s in
	(for i in $(seq 20); do "$SVCCTL" -s "$SOCK" emit job.x n=$i >/dev/null; done) &
	local em=$!
	out=$(ctl top -n 2 -d 1)
	wait $em
	[[ $(awk 'NR == 3 {print $2}' <<<"$out") != "0.0" ]] || fail "no events/s while emitting: $out"
	svcd_stop || fail "svcd exited with status $?"
}

test_top_screen_on_a_terminal() {
	command -v script >/dev/null 2>&1 || skip "script (util-linux) is not installed"
	CONF_TEXT=$'[hook.h1]\non = job.*\nexec = /bin/true\n'
	svcd_start
	local out
	out=$(script -qec "$SVCCTL -s $SOCK top -n 2 -d 0.1" /dev/null) || fail "top on a pty"
	assert_contains "$out" $'\033[H\033[2J' "the screen is redrawn"
	assert_contains "$out" "events/s in"
	assert_contains "$out" "SERVICE"
	assert_contains "$out" "bus"
	assert_contains "$out" "HOOK"
	assert_contains "$out" "h1"
	svcd_stop || fail "svcd exited with status $?"
}

test_top_json() {
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	svcd_start
	local out
	out=$(ctl --json top -n 2 -d 0.1) || fail "top --json"
	assert_eq 2 "$(wc -l <<<"$out")" "one object per refresh"
	assert_eq null "$(head -1 <<<"$out" | jq .events_in_per_s)"
	tail -1 <<<"$out" | jq -e '.events_in_per_s >= 0 and .status.bus != null and .health.status == "ok"' >/dev/null ||
		fail "second object: $(tail -1 <<<"$out")"
	svcd_stop || fail "svcd exited with status $?"
}

status_headers() {
	[ "$(grep -c '^svcd ' "$T/status.out")" -ge "$1" ]
}

test_status_interval_and_interrupt() {
	svcd_start
	"$SVCCTL" -s "$SOCK" status --interval 0.1 >"$T/status.out" 2>&1 &
	local pid=$!
	wait_for 5 status_headers 3
	kill -INT "$pid"
	local rc=0
	wait "$pid" || rc=$?
	assert_eq 0 "$rc" "Ctrl-C ends status --interval cleanly"
	assert_contains "$(cat "$T/status.out")" "bus "
	# top too
	"$SVCCTL" -s "$SOCK" top -d 0.1 >"$T/top.out" 2>&1 &
	pid=$!
	wait_for 5 sh -c "[ \$(wc -l <'$T/top.out') -ge 3 ]"
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	assert_eq 0 "$rc" "Ctrl-C ends top cleanly"
	# svcd gone: top says so and exits 3
	svcd_stop || fail "svcd exited with status $?"
	rc=0
	ctl top -n 1 >/dev/null 2>&1 || rc=$?
	assert_eq 3 "$rc" "top without svcd"
}

test_top_bad_values() {
	local rc out
	for bad in "top -n 0" "top -n x" "top -d 0" "top -d 2h" "top -d -1" "status --interval 0" "status --interval" "top --iterations"; do
		rc=0
		# shellcheck disable=SC2086
		out=$("$SVCCTL" -s "$T/none.sock" $bad 2>&1) || rc=$?
		assert_eq 64 "$rc" "svcctl $bad: $out"
	done
	rc=0
	out=$("$SVCCTL" -s "$T/none.sock" top -d 0 2>&1) || rc=$?
	assert_contains "$out" "invalid value for --delay"
}

top_lines_after() {
	[ "$(tail -n +"$1" "$T/top.out" | grep -c 'ok ')" -ge 2 ]
}

# svcd restarted under a running top: the loss is shown, top goes on and
# picks svcd up again; without svcd from the start it exits 3 (above).
test_top_survives_a_restart() {
	svcd_start
	"$SVCCTL" -s "$SOCK" top -d 0.1 >"$T/top.out" 2>&1 &
	local pid=$! rc=0 n
	wait_for 5 sh -c "[ \$(wc -l <'$T/top.out') -ge 3 ]"
	svcd_stop || fail "svcd exited with status $?"
	wait_for 5 grep -q "svcd at $SOCK: .* (retrying)" "$T/top.out"
	kill -0 "$pid" || fail "top exited when svcd went away"
	n=$(wc -l <"$T/top.out")
	svcd_start
	wait_for 5 top_lines_after "$n"
	kill -INT "$pid"
	wait "$pid" || rc=$?
	assert_eq 0 "$rc" "Ctrl-C after the restart"
	svcd_stop || fail "svcd exited with status $?"
}
