#!/usr/bin/env bash
# t_tasks.sh — scheduled tasks as users drive them with the real svcctl:
# duration bounds (one range for svcctl, the control channel and the
# config), the limits on control tasks, and the daemon's own tasks that the
# control channel may not cancel or replace.

# health_runs — the health task's run count, from `tasks --json`.
health_runs() {
	ctl --json tasks | jq -r '.tasks[] | select(.name == "health") | .runs'
}

health_runs_above() {
	[ "$(health_runs)" -gt "$1" ]
}

test_durations_bounded() {
	svcd_start
	local rc out
	for d in 1e30s 9999999999999999999d 100000d 31d; do
		rc=0
		out=$(ctl schedule big --after "$d" --emit x 2>&1) || rc=$?
		assert_eq 64 "$rc" "svcctl refuses --after $d"
		assert_contains "$out" "'$d' is more than the maximum of 30d"
	done
	rc=0
	out=$(ctl schedule big --every 1500 --emit x 2>&1) || rc=$?
	assert_eq 64 "$rc" "a duration without a unit"
	assert_contains "$out" "needs a unit"
	# the daemon itself, past svcctl: the same messages
	for p in '"1e30s"' '"9999999999999999999d"' '"100000d"' 9223372036854775807; do
		out=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"schedule\",\"params\":{\"name\":\"big\",\"after\":$p,\"event\":\"x\"}}")
		assert_eq "InvalidParams" "$(jq -r .error.data.class <<<"$out")" "after $p"
		assert_contains "$(jq -r .error.message <<<"$out")" "is more than the maximum of 30d"
	done
	out=$(rpc '{"jsonrpc":"2.0","id":1,"method":"schedule","params":{"name":"big","every":"1500","event":"x"}}')
	assert_contains "$(jq -r .error.message <<<"$out")" "needs a unit"
	assert_not_contains "$(ctl tasks)" "big" "nothing was scheduled"
	# the maximum is accepted, with a sane next run
	out=$(ctl --json schedule far --every 30d --emit x) || fail "30d"
	assert_eq 2592000000 "$(jq -r .interval_ms <<<"$out")"
	assert_contains "$(jq -r .next_run <<<"$out")" "$(date -u -d '+30 days' +%Y-%m-)"
	svcd_stop || fail "exit status $?"
}

test_config_timer_range_is_the_same() {
	CONF_TEXT=$'[timer.big]\nevery = 100000d\nemit = x\n'
	svcd_write_conf
	local rc=0 out
	out=$("$SVCD" -c "$T/svcd.conf" --check-config 2>&1) || rc=$?
	assert_eq 78 "$rc" "check-config"
	assert_contains "$out" "'100000d' is more than the maximum of 30d"
}

test_task_limits() {
	CONF_TEXT=$'[control]\nmax_tasks = 3\nmax_task_data = 1K\n'
	svcd_start
	for i in 1 2 3; do
		ctl schedule "t$i" --every 1h --emit x >/dev/null || fail "schedule t$i"
	done
	local rc=0 out
	out=$(ctl schedule t4 --every 1h --emit x 2>&1) || rc=$?
	assert_eq 1 "$rc" "over max_tasks"
	assert_contains "$out" "Busy"
	assert_contains "$out" "max_tasks"
	# replacing one does not count twice
	ctl schedule t2 --after 2h --emit y >/dev/null || fail "replace t2"
	local big
	big=$(head -c 2000 /dev/zero | tr '\0' a)
	rc=0
	out=$(ctl schedule t3 --every 1h --emit x "k=$big" 2>&1) || rc=$?
	assert_eq 1 "$rc" "over max_task_data"
	assert_contains "$out" "TooLarge"
	ctl cancel t1 >/dev/null || fail "cancel t1"
	ctl schedule t4 --every 1h --emit x >/dev/null || fail "room after cancel"
	assert_eq 3 "$(ctl --json tasks | jq '[.tasks[] | select(.owner == "control")] | length')"
	svcd_stop || fail "exit status $?"
}

test_internal_tasks_protected() {
	CONF_TEXT=$'[health]\ninterval = 50ms\n'
	svcd_start
	local rc=0 out
	out=$(ctl cancel health 2>&1) || rc=$?
	assert_eq 1 "$rc" "svcctl cancel health"
	assert_contains "$out" "PermissionDenied"
	assert_contains "$out" "belongs to service 'health'"
	rc=0
	out=$(ctl schedule health --every 1h --emit oops 2>&1) || rc=$?
	assert_eq 1 "$rc" "svcctl schedule health"
	assert_contains "$out" "belongs to service 'health'"
	# the monitor keeps running on its own schedule
	local runs
	runs=$(health_runs)
	wait_for 5 health_runs_above $((runs + 2))
	out=$(ctl --json tasks)
	assert_eq "service" "$(jq -r '.tasks[] | select(.name == "health") | .owner' <<<"$out")"
	assert_eq "50" "$(jq -r '.tasks[] | select(.name == "health") | .interval_ms' <<<"$out")"
	assert_contains "$(ctl tasks)" "service health" "tasks shows the owner"
	# both refusals are logged with the caller
	assert_contains "$(cat "$SVCD_LOG")" "cancel 'health' by uid=$(id -u) pid="
	assert_contains "$(cat "$SVCD_LOG")" "schedule 'health' by uid=$(id -u) pid="
	svcd_stop || fail "exit status $?"
}

test_config_timer_over_service_task() {
	CONF_TEXT=$'[timer.health]\nevery = 1h\nemit = oops\n'
	svcd_write_conf
	local rc=0
	timeout 10 "$SVCD" -c "$T/svcd.conf" >"$T/start.log" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "svcd started with [timer.health]"
	assert_eq 78 "$rc" "a configuration error, before anything starts"
	assert_contains "$(cat "$T/start.log")" "[timer.health]: task 'health' belongs to service 'health'"
	rc=0
	out=$("$SVCD" --check-config -c "$T/svcd.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config with [timer.health]"
	assert_contains "$out" "[timer.health]: task 'health' belongs to service 'health'"
	# on reload: refused, the running config kept
	CONF_TEXT=$'[timer.mine]\nevery = 1h\nemit = x\n'
	svcd_start
	CONF_TEXT=$'[timer.health]\nevery = 1h\nemit = oops\n'
	svcd_write_conf
	rc=0
	out=$(ctl reload 2>&1) || rc=$?
	assert_eq 1 "$rc" "reload with [timer.health]"
	assert_contains "$out" "belongs to service 'health'"
	out=$(ctl --json tasks)
	assert_eq "service" "$(jq -r '.tasks[] | select(.name == "health") | .owner' <<<"$out")"
	assert_eq "config" "$(jq -r '.tasks[] | select(.name == "mine") | .owner' <<<"$out")"
	assert_contains "$(ctl health)" "status: ok"
	svcd_stop || fail "exit status $?"
}
