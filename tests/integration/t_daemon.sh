#!/usr/bin/env bash
# t_daemon.sh — svcd as a process: options, graph printing, config checks,
# boot logging and graceful shutdown in reverse order.

test_help_and_version() {
	local out
	out=$("$SVCD" --help) || fail "--help exited non-zero"
	assert_contains "$out" "Usage: svcd" "--help"
	assert_contains "$out" "--check-config" "--help lists options"
	out=$("$SVCD" --version) || fail "--version exited non-zero"
	assert_contains "$out" "svcd " "--version"
	local rc=0
	"$SVCD" --no-such-option >/dev/null 2>&1 || rc=$?
	assert_eq 64 "$rc" "unknown option exit status"
}

test_print_graph() {
	local out
	out=$("$SVCD" --print-graph) || fail "--print-graph failed"
	assert_contains "$out" "start order: manager worker bus" "text order"
	out=$("$SVCD" --print-graph=dot) || fail "--print-graph=dot failed"
	assert_contains "$out" "digraph svcd {" "dot header"
	assert_contains "$out" '"bus" -> "worker";' "dot edge"
	local rc=0
	"$SVCD" --print-graph=png >/dev/null 2>&1 || rc=$?
	assert_eq 64 "$rc" "bad --print-graph value"
}

test_graph_cycle_exits_78() {
	[ -x "${SVCD_CYCLE:-}" ] || skip "SVCD_CYCLE not built"
	local out rc=0
	out=$("$SVCD_CYCLE" --print-graph 2>&1) || rc=$?
	assert_eq 78 "$rc" "--print-graph on a cyclic graph"
	assert_contains "$out" "circular dependency: alpha -> gamma -> beta -> alpha"
	rc=0
	echo "[daemon]" >"$T/c.conf"
	out=$("$SVCD_CYCLE" -c "$T/c.conf" -s "$T/s.sock" 2>&1) || rc=$?
	assert_eq 78 "$rc" "booting a cyclic graph"
	assert_contains "$out" "circular dependency: alpha -> gamma -> beta -> alpha"
	assert_not_contains "$out" "started" "nothing may start"
}

test_check_config() {
	local out rc=0
	out=$("$SVCD" --check-config -c conf/svcd.conf 2>&1) || rc=$?
	assert_eq 0 "$rc" "shipped config: $out"
	printf '[bus]\nqueu_size = 10\n' >"$T/bad.conf"
	rc=0
	out=$("$SVCD" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "bad config exit status"
	assert_contains "$out" "bad.conf:2: unknown key 'queu_size' in [bus]"
	rc=0
	out=$("$SVCD" --check-config -c "$T/missing.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "missing explicit config"
}

test_boot_logs_and_reverse_stop() {
	svcd_start
	assert_contains "$(cat "$SVCD_LOG")" "ready" "ready line"
	svcd_stop || fail "svcd exited with status $?"
	local log
	log=$(cat "$SVCD_LOG")
	# every service logged its start with a duration
	local start_order s
	start_order=$("$SVCD" --print-graph | sed -n 's/^start order: //p')
	[ -n "$start_order" ] || fail "no start order from --print-graph"
	for s in $start_order; do
		assert_contains "$log" "started '$s' in " "start of $s"
	done
	# services started in the printed order, and stop in the reverse one
	local order reverse=""
	order=$(grep -o "started '[a-z]*'" "$SVCD_LOG" | sed "s/started '\(.*\)'/\1/" | tr '\n' ' ')
	assert_eq "$start_order " "$order" "start order"
	for s in $start_order; do reverse="$s $reverse"; done
	order=$(grep -o "stopped '[a-z]*'" "$SVCD_LOG" | sed "s/stopped '\(.*\)'/\1/" | tr '\n' ' ')
	assert_eq "$reverse" "$order" "stop order"
	[ ! -e "$SOCK" ] || fail "socket file left behind after a clean exit"
}

slow_is_starting() {
	[ "$("$SVCCTL" -s "$SOCK" -t 1 --json services |
		jq -r '.. | objects | select(.name? == "slowstart") | .state')" = starting ]
}

# SIGTERM while a service's async init is still pending (before READY) is a
# clean stop: what started is stopped in reverse order, exit 0.
test_sigterm_during_slow_start_is_clean() {
	[ -x "${SVCD_SLOW:-}" ] || skip "SVCD_SLOW not built"
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	local save=$SVCD rc=0 log
	SVCD=$SVCD_SLOW
	svcd_start
	SVCD=$save
	wait_for 10 slow_is_starting
	assert_not_contains "$(cat "$SVCD_LOG")" " ready" "not ready yet"
	svcd_stop || rc=$?
	assert_eq 0 "$rc" "exit status of a stop during start-up"
	log=$(cat "$SVCD_LOG")
	assert_contains "$log" "stop requested during start-up" "logged as a stop"
	assert_not_contains "$log" "start-up failed" "not a start-up failure"
	assert_contains "$log" "cancelled the start of 'slowstart'"
	assert_contains "$log" "stopped 'control'"
	assert_contains "$log" "stopped 'manager'"
	# what started is stopped in reverse order: control before bus
	local stops
	stops=$(grep -o "stopped '[a-z]*'" "$SVCD_LOG" | tr '\n' ' ')
	assert_contains "$stops" "stopped 'control' stopped 'health' stopped 'journal' stopped 'bus'" \
		"reverse stop order"
	[ ! -e "$SOCK" ] || fail "socket file left behind after a clean exit"
}

test_sigint_is_graceful() {
	svcd_start
	kill -INT "$SVCD_PID"
	local rc=0
	svcd_wait_exit || rc=$?
	assert_eq 0 "$rc" "exit status after SIGINT"
}
