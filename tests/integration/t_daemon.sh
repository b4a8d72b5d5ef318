#!/usr/bin/env bash
# t_daemon.sh — svcd as a process: options, graph printing, config checks,
# boot logging and graceful shutdown in reverse order.
DAEMON_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

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

# --help-config: every section and key with its default, as a file that
# changes nothing (and stays valid once a header and key are uncommented);
# every key it lists is in docs/configuration.md.
test_help_config() {
	local out rc=0 k missing=""
	out=$("$SVCD" --help-config) || fail "--help-config failed"
	printf '%s\n' "$out" >"$T/all.conf"
	assert_contains "$("$SVCD" --check-config -c "$T/all.conf")" "configuration ok"
	assert_contains "$out" "#[journal]"
	assert_contains "$out" "#sync = batch"
	assert_contains "$out" "#[hook.NAME]"
	sed 's/^#\[daemon\]/[daemon]/; s/^#log_level = info/log_level = debug/' "$T/all.conf" >"$T/one.conf"
	assert_contains "$("$SVCD" --check-config -c "$T/one.conf")" "configuration ok"
	for k in $(printf '%s\n' "$out" | sed -n 's/^#\([a-z_]*\) =.*/\1/p' | sort -u); do
		grep -q "\`$k\`" "$DAEMON_TOP/docs/configuration.md" || missing="$missing $k"
	done
	assert_eq "" "$missing" "keys --help-config lists that docs/configuration.md does not"
	out=$("$SVCD" --help-config=bus) || fail "--help-config=bus failed"
	assert_contains "$out" "#[bus]"
	[ "$(printf '%s\n' "$out" | grep -c '^#\[')" = 1 ] || fail "--help-config=bus printed other sections: $out"
	out=$("$SVCD" --help-config=nosuch 2>&1) || rc=$?
	assert_eq 64 "$rc" "an unknown section"
	assert_contains "$out" "no service owns a section [nosuch]"
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
	# what start-up would refuse: a socket directory that does not exist
	printf '[daemon]\nsocket = %s/no/such/dir/svcd.sock\n' "$T" >"$T/nodir.conf"
	rc=0
	out=$("$SVCD" --check-config -c "$T/nodir.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "missing socket directory: $out"
	assert_contains "$out" "nodir.conf:2: bad value for 'socket' in [daemon]: the directory $T/no/such/dir does not exist"
	printf '[daemon]\nsocket = %s/nodir.conf/svcd.sock\n' "$T" >"$T/notdir.conf"
	rc=0
	out=$("$SVCD" --check-config -c "$T/notdir.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "socket directory is a file: $out"
	assert_contains "$out" "is not a directory"
	# a relative path is the working directory's, as at start
	printf '[daemon]\nsocket = no-such-dir/svcd.sock\n' >"$T/reldir.conf"
	rc=0
	out=$(cd "$T" && "$SVCD" --check-config -c "$T/reldir.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "missing relative socket directory: $out"
	assert_contains "$out" "reldir.conf:2: bad value for 'socket' in [daemon]: the directory no-such-dir does not exist"
	printf '[bus]\nqueu_size = 10\n' >"$T/bad.conf"
	rc=0
	out=$("$SVCD" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "bad config exit status"
	assert_contains "$out" "bad.conf:2: unknown key 'queu_size' in [bus]"
	rc=0
	out=$("$SVCD" --check-config -c "$T/missing.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "missing explicit config"
}

# Not a regular file, too large, one endless line: refused at once (exit 78
# with a clear message, bounded by timeout should it ever block again).
test_check_config_refuses_special_files() {
	local out rc=0
	mkfifo "$T/fifo.conf"
	out=$(timeout 5 "$SVCD" --check-config -c "$T/fifo.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config on a FIFO: $out"
	assert_contains "$out" "fifo.conf: not a regular file (a FIFO)"
	rc=0
	out=$(timeout 5 "$SVCD" --check-config -c /dev/zero 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config on /dev/zero: $out"
	assert_contains "$out" "/dev/zero: not a regular file (a character device)"
	rc=0
	out=$(timeout 5 "$SVCD" --check-config -c "$T" 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config on a directory"
	assert_contains "$out" "not a regular file (a directory)"
	truncate -s 5M "$T/big.conf"
	rc=0
	out=$(timeout 5 "$SVCD" --check-config -c "$T/big.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config on 5 MiB"
	assert_contains "$out" "big.conf: too large (5242880 bytes, at most 4 MiB)"
	{ printf '[bus]\nqueue_size = '; head -c 10M /dev/zero | tr '\0' 1; } >"$T/line.conf"
	rc=0
	out=$(timeout 5 "$SVCD" --check-config -c "$T/line.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config on one 10 MB line"
	assert_contains "$out" "line.conf: too large (10485779 bytes, at most 4 MiB)"
	# a 2 MB line under the cap: the error quotes it short
	{ printf '[bus]\nqueue_size = '; head -c 2M /dev/zero | tr '\0' 1; echo; } >"$T/line.conf"
	rc=0
	out=$(timeout 5 "$SVCD" --check-config -c "$T/line.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config on a 2 MB line"
	assert_contains "$out" "line.conf:2: bad value for 'queue_size' in [bus]: '1111"
	assert_contains "$out" "111...' is out of range (1..16777216)"
	[ ${#out} -lt 300 ] || fail "error is ${#out} bytes long"
}

# SIGHUP with the config replaced by a FIFO: refused and logged without
# waiting for a writer; the daemon keeps serving with the old config.
test_reload_refuses_fifo() {
	CONF_TEXT=$'[timer.kept]\nevery = 1h\nemit = kept.tick'
	svcd_start
	assert_contains "$(ctl tasks)" "kept" "timer from the config"
	rm "$T/svcd.conf"
	mkfifo "$T/svcd.conf"
	kill -HUP "$SVCD_PID"
	wait_for 5 grep -q "svcd.conf: not a regular file (a FIFO); keeping the running configuration" "$SVCD_LOG"
	assert_eq "pong" "$(timeout 5 "$SVCCTL" -s "$SOCK" -t 2 ping)" "responsive after SIGHUP"
	assert_contains "$(timeout 5 "$SVCCTL" -s "$SOCK" -t 2 tasks)" "kept" "old config kept"
	local rc=0 err
	err=$(timeout 5 "$SVCCTL" -s "$SOCK" -t 2 reload 2>&1 >/dev/null) || rc=$?
	assert_eq 1 "$rc" "svcctl reload of a FIFO"
	assert_contains "$err" "not a regular file (a FIFO)"
	assert_eq "pong" "$(ctl ping)" "responsive after reload"
	svcd_stop || fail "svcd exited with status $?"
}

# `svcctl reload` failures are logged like SIGHUP's, and so is a success.
test_reload_method_logs() {
	svcd_start
	local rc=0 err
	printf '[bus]\nqueu_size = 1\n' >>"$T/svcd.conf"
	err=$(timeout 5 "$SVCCTL" -s "$SOCK" -t 2 reload 2>&1 >/dev/null) || rc=$?
	assert_eq 1 "$rc" "svcctl reload with a bad config"
	assert_contains "$err" "unknown key 'queu_size' in [bus]"
	wait_for 5 grep -q "reload failed: .*svcd.conf:[0-9]*: unknown key 'queu_size' in \[bus\]; keeping the running configuration" "$SVCD_LOG"
	# several errors: one log line each
	printf 'batch = 0\n' >>"$T/svcd.conf"
	rc=0
	timeout 5 "$SVCCTL" -s "$SOCK" -t 2 reload >/dev/null 2>&1 || rc=$?
	assert_eq 1 "$rc" "svcctl reload with two errors"
	wait_for 5 grep -q "reload failed; keeping the running configuration:" "$SVCD_LOG"
	wait_for 5 grep -q "reload failed: .*svcd.conf:[0-9]*: bad value for 'batch' in \[bus\]: '0' is out of range" "$SVCD_LOG"
	assert_eq 2 "$(grep -c "reload failed: .*unknown key 'queu_size'" "$SVCD_LOG")" "each error logged once per reload"
	svcd_write_conf
	rc=0
	timeout 5 "$SVCCTL" -s "$SOCK" -t 2 reload >/dev/null || rc=$?
	assert_eq 0 "$rc" "svcctl reload with a good config"
	wait_for 5 grep -q "configuration reloaded" "$SVCD_LOG"
	svcd_stop || fail "svcd exited with status $?"
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
