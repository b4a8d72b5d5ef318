#!/usr/bin/env bash
# t_systemd.sh — systemd integration with real components: the unit files
# through systemd-analyze, the notify protocol against a stand-in notify
# socket (notifyd) and socket activation with systemd-socket-activate (the
# installed file list is t_install.sh's).

units_into() {
	local dir=$1 sbindir
	sbindir=$(dirname "$SVCD")
	sed "s|@SBINDIR@|$sbindir|g" systemd/svcd.service >"$dir/svcd.service"
	cp systemd/svcd.socket "$dir/svcd.socket"
}

test_units_verify_clean() {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
	units_into "$T"
	local out
	out=$(cd "$T" && systemd-analyze verify --man=no svcd.service svcd.socket 2>&1) ||
		fail "systemd-analyze verify failed: $out"
	assert_eq "" "$out" "verify prints nothing"
}

test_unit_security_exposure() {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
	units_into "$T"
	local out level
	out=$(systemd-analyze security --offline=true "$T/svcd.service" 2>&1)
	level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for svcd.service: \([0-9.]*\).*/\1/p')
	[ -n "$level" ] || fail "no exposure level in: $(printf '%s\n' "$out" | tail -n 3)"
	awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || fail "exposure $level > 2.0"
}

start_notifyd() {
	"$NOTIFYD" "$1" >"$T/notify.log" &
	NOTIFYD_PID=$!
	wait_for 5 test -S "${1#@}"
}

notify_has() {
	grep -q -- "$1" "$T/notify.log"
}

test_notify_sequence() {
	[ -x "${NOTIFYD:-}" ] || skip "notifyd not built"
	start_notifyd "$T/notify"
	NOTIFY_SOCKET="$T/notify" WATCHDOG_USEC=200000 svcd_start
	wait_for 5 notify_has "READY=1"
	local ready_line
	ready_line=$(grep -m1 "READY=1" "$T/notify.log")
	assert_contains "$ready_line" "STATUS=" "READY carries a status"
	assert_contains "$(cat "$SVCD_LOG")" "ready" "READY only once the graph runs"
	# the watchdog every WATCHDOG_USEC/2 = 100 ms
	wait_for 5 bash -c "[ \$(grep -c 'WATCHDOG=1' '$T/notify.log') -ge 3 ]"
	local t1 t3
	t1=$(grep 'WATCHDOG=1' "$T/notify.log" | sed -n 1p | cut -d' ' -f1)
	t3=$(grep 'WATCHDOG=1' "$T/notify.log" | sed -n 3p | cut -d' ' -f1)
	local gap=$(( (t3 - t1) / 2 ))
	[ $gap -ge 60 ] && [ $gap -le 400 ] || fail "watchdog interval ${gap} ms, want ~100"
	# reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 again
	kill -HUP "$SVCD_PID"
	wait_for 5 notify_has "RELOADING=1|MONOTONIC_USEC="
	wait_for 5 bash -c "grep -A50 RELOADING '$T/notify.log' | grep -q 'READY=1'"
	# stop: STOPPING=1 then progress extending the timeout
	svcd_stop || fail "svcd exit status $?"
	notify_has "STOPPING=1" || fail "no STOPPING=1"
	notify_has "EXTEND_TIMEOUT_USEC=" || fail "no EXTEND_TIMEOUT_USEC"
	kill "$NOTIFYD_PID"
}

test_notify_abstract_socket() {
	[ -x "${NOTIFYD:-}" ] || skip "notifyd not built"
	local name="@svcd-test-$$"
	"$NOTIFYD" "$name" >"$T/notify.log" &
	NOTIFYD_PID=$!
	# an abstract socket has no file: wait until the kernel lists it bound
	wait_for 5 grep -q "@${name#@}\$" /proc/net/unix
	NOTIFY_SOCKET="$name" svcd_start
	wait_for 5 notify_has "READY=1"
	svcd_stop
	kill "$NOTIFYD_PID"
}

test_watchdog_stops_when_loop_stops() {
	[ -x "${NOTIFYD:-}" ] || skip "notifyd not built"
	start_notifyd "$T/notify"
	NOTIFY_SOCKET="$T/notify" WATCHDOG_USEC=100000 svcd_start
	wait_for 5 bash -c "[ \$(grep -c 'WATCHDOG=1' '$T/notify.log') -ge 2 ]"
	kill -STOP "$SVCD_PID"
	local before after
	before=$(grep -c 'WATCHDOG=1' "$T/notify.log")
	sleep 0.5 # an absence can only be observed over time: 10 intervals
	after=$(grep -c 'WATCHDOG=1' "$T/notify.log")
	# at most one datagram may have been in flight when the process stopped
	[ $((after - before)) -le 1 ] || fail "WATCHDOG=1 went on while stopped ($before -> $after)"
	kill -CONT "$SVCD_PID"
	wait_for 5 bash -c "[ \$(grep -c 'WATCHDOG=1' '$T/notify.log') -ge $((after + 2)) ]"
	svcd_stop
	kill "$NOTIFYD_PID"
}

test_socket_activation() {
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
	svcd_write_conf
	SVCD_LOG="$T/svcd.log"
	systemd-socket-activate -l "$SOCK" "$SVCD" -c "$T/svcd.conf" >>"$SVCD_LOG" 2>&1 &
	SVCD_PID=$!
	wait_for 5 test -S "$SOCK"
	# the first connection starts svcd, which takes over the listening fd
	local out
	out=$("$SVCCTL" -s "$SOCK" -t 10 ping) || fail "svcctl ping through activation failed"
	assert_eq "pong" "$out"
	out=$(ctl status --json) || fail "status failed"
	assert_contains "$out" '"pid"'
	assert_contains "$(cat "$SVCD_LOG")" "socket activation" "log says activated"
	ctl shutdown >/dev/null || fail "shutdown failed"
	svcd_wait_exit || fail "svcd exit status $?"
	# the activated socket is never removed by svcd
	[ -S "$SOCK" ] || fail "svcd removed the socket it was handed"
}

test_man_pages_render() {
	command -v man >/dev/null || skip "man not installed"
	local p out
	for p in docs/man/svcd.8 docs/man/svcctl.1 docs/man/svcd.conf.5; do
		[ -f "$p" ] || fail "$p missing"
		out=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
		assert_eq "" "$out" "man warnings for $p"
	done
}
