#!/usr/bin/env bash
# t_check.sh — `svcctl check`, the monitoring plugin, with the real svcd:
# the OK line and its perfdata, WARNING on a degraded service, thresholds
# on the hook lag (a real slow hook) and the queue, UNKNOWN (3) when svcd
# cannot be reached, and usage errors.

check_rc() {
	local rc=0
	CHECK_OUT=$(ctl check "$@") || rc=$?
	CHECK_RC=$rc
}

test_check_ok() {
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	svcd_start
	local n
	n=$(ctl --json status | jq .services.total)
	check_rc
	assert_eq 0 "$CHECK_RC" "exit status: $CHECK_OUT"
	assert_eq "SVCD OK - $n/$n services healthy | services=$n;;; degraded=0;;; failed=0;;; queue=0;;; hook_lag=0;;;" "$CHECK_OUT"
	[ "$(wc -l <<<"$CHECK_OUT")" = 1 ] || fail "one line"
	check_rc -w 100,5 -c 1000,50
	assert_eq 0 "$CHECK_RC" "under the thresholds"
	assert_contains "$CHECK_OUT" "queue=0;100;1000; hook_lag=0;5;50;"
	check_rc --json
	assert_eq OK "$(jq -r .state <<<"$CHECK_OUT")"
	assert_eq 0 "$(jq -r .code <<<"$CHECK_OUT")"
	assert_eq "$n" "$(jq -r .perfdata.healthy <<<"$CHECK_OUT")"
	svcd_stop || fail "svcd exited with status $?"
}

test_check_degraded_warning() {
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	CONF_TEXT=$'[bridge]\nurl = unix://'"$T"$'/nope/redis.sock\npublish = *\n'
	svcd_start
	wait_for 5 sh -c "$SVCCTL -s $SOCK check; [ \$? = 1 ]"
	check_rc
	assert_eq 1 "$CHECK_RC" "degraded is WARNING"
	assert_contains "$CHECK_OUT" "SVCD WARNING - "
	assert_contains "$CHECK_OUT" "bridge degraded ("
	assert_contains "$CHECK_OUT" "degraded=1;;;"
	svcd_stop || fail "svcd exited with status $?"
}

hook_queued() {
	[ "$(ctl --json hooks | jq '(if type == "array" then . else .hooks end)[0].queued')" -ge "$1" ]
}

# A hook that takes its time: events queue for it (its lag).
test_check_hook_lag() {
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	: >"$T/go"
	CONF_TEXT=$'[hook.slow]\non = job.*\nexec = /bin/sh -c "while [ -e '"$T"$'/go ]; do sleep 0.05; done"\ntimeout = 30s\n'
	svcd_start
	for i in 1 2 3 4 5; do ctl emit job.x n=$i >/dev/null || fail "emit $i"; done
	wait_for 5 hook_queued 4
	check_rc -w ,2
	assert_eq 1 "$CHECK_RC" "lag over -w: $CHECK_OUT"
	assert_contains "$CHECK_OUT" "SVCD WARNING - "
	assert_contains "$CHECK_OUT" "hook slow lag 4 > 2"
	assert_contains "$CHECK_OUT" "hook_lag=4;2;;"
	check_rc -w ,2 -c ,3
	assert_eq 2 "$CHECK_RC" "lag over -c: $CHECK_OUT"
	assert_contains "$CHECK_OUT" "SVCD CRITICAL - "
	check_rc -w ,10 -c ,20
	assert_eq 0 "$CHECK_RC" "lag under: $CHECK_OUT"
	# queue thresholds: 0 is never more than 0
	check_rc -w 0 -c 0
	assert_eq 0 "$CHECK_RC" "queue 0 > 0 is not a problem: $CHECK_OUT"
	rm -f "$T/go"
	wait_for 10 sh -c "$SVCCTL -s $SOCK check -w ,0"
	svcd_stop || fail "svcd exited with status $?"
}

test_check_unknown_and_usage() {
	local rc=0 out
	out=$("$SVCCTL" -s "$T/none.sock" check 2>&1) || rc=$?
	assert_eq 3 "$rc" "unreachable is UNKNOWN"
	assert_contains "$out" "SVCD UNKNOWN - svcd at $T/none.sock: cannot connect"
	for bad in "-w abc" "-c 1,x" "-w ," "--warning"; do
		rc=0
		# shellcheck disable=SC2086
		out=$("$SVCCTL" -s "$T/none.sock" check $bad 2>&1) || rc=$?
		assert_eq 64 "$rc" "check $bad"
	done
	assert_contains "$out" "option '--warning' needs QUEUE[,LAG]"
	rc=0
	out=$("$SVCCTL" -s "$T/none.sock" check -w 1 -w 2 2>&1) || rc=$?
	assert_eq 64 "$rc" "-w twice"
	assert_contains "$out" "given twice"
}
