#!/usr/bin/env bash
# lib.sh — helpers for integration tests: start the real svcd on a temporary
# socket, wait for readiness by polling, drive it with svcctl or raw lines.
#
#   svcd_start [svcd args...]   start svcd with $T/svcd.conf (written from
#                               $CONF_TEXT if set), socket $SOCK; polls ping
#   svcd_stop                   SIGTERM, wait; prints nothing, returns status
#   ctl ARGS...                 svcctl -s $SOCK ARGS
#   rpc LINE...                 send raw lines, print reply lines (socat)
#   wait_for SECONDS CMD...     poll CMD every 20 ms until it succeeds
#   assert_eq EXPECTED ACTUAL MSG / assert_contains HAY NEEDLE MSG / fail MSG
# A failing test prints the daemon log's tail.
set -u

T=""
SOCK=""
SVCD_PID=""
SVCD_LOG=""

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "skipped: $*"
	exit 77
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-values differ}: expected [$1], got [$2]"
}

assert_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "${3:-missing text}: [$2] not found in [$1]" ;;
	esac
}

assert_not_contains() {
	case "$1" in
	*"$2"*) fail "${3:-unexpected text}: [$2] found in [$1]" ;;
	esac
}

# wait_for SECONDS CMD... — poll until CMD succeeds; fail after SECONDS.
wait_for() {
	local limit=$1 i=0
	shift
	local n=$((limit * 50))
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge $n ] && fail "timed out after ${limit}s waiting for: $*"
		sleep 0.02
	done
}

# free_port — a TCP port on 127.0.0.1 that nothing listens on, below the
# kernel's ephemeral range: a port from that range can be taken by some
# client's connection between this check and the server's bind.
free_port() {
	local lo=20000 hi p
	hi=$(awk '{print $1 - 1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	{ [ -n "$hi" ] && [ "$hi" -gt $((lo + 1000)) ]; } || hi=32767
	for _ in $(seq 100); do
		p=$((lo + RANDOM % (hi - lo)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	fail "no free port found"
}

ctl() {
	"$SVCCTL" -s "$SOCK" "$@"
}

# rpc LINE... — send the lines on one connection, print every line received
# until the server closes or 2 s of silence.
rpc() {
	printf '%s\n' "$@" | socat -t 2 - "UNIX-CONNECT:$SOCK"
}

svcd_write_conf() {
	cat >"$T/svcd.conf" <<CONF
[daemon]
socket = $SOCK
log_level = ${LOG_LEVEL:-info}
[app]
heartbeat = 5s
${CONF_TEXT:-}
CONF
}

svcd_start() {
	svcd_write_conf
	SVCD_LOG="$T/svcd.log"
	$SVCD_WRAP "$SVCD" -c "$T/svcd.conf" "$@" >>"$SVCD_LOG" 2>&1 &
	SVCD_PID=$!
	local i=0
	while ! "$SVCCTL" -s "$SOCK" -t 1 ping >/dev/null 2>&1; do
		if ! kill -0 "$SVCD_PID" 2>/dev/null; then
			wait "$SVCD_PID"
			fail "svcd exited early with status $?"
		fi
		i=$((i + 1))
		[ $i -ge 500 ] && fail "svcd not ready after 10 s"
		sleep 0.02
	done
}

# svcd_stop — SIGTERM and wait; returns svcd's exit status.
svcd_stop() {
	[ -n "$SVCD_PID" ] || return 0
	kill -TERM "$SVCD_PID" 2>/dev/null
	local rc=0
	wait "$SVCD_PID" || rc=$?
	SVCD_PID=""
	return $rc
}

# svcd_wait_exit — wait for svcd to exit by itself; returns its status.
svcd_wait_exit() {
	local rc=0
	wait "$SVCD_PID" || rc=$?
	SVCD_PID=""
	return $rc
}

lib_cleanup() {
	local rc=$?
	if [ -n "$SVCD_PID" ]; then
		kill -KILL "$SVCD_PID" 2>/dev/null
		wait "$SVCD_PID" 2>/dev/null
	fi
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "$SVCD_LOG" ] && [ -f "$SVCD_LOG" ]; then
		echo "--- svcd log (tail) ---" >&2
		tail -n 30 "$SVCD_LOG" >&2
	fi
	[ -n "$T" ] && rm -rf "$T"
	exit $rc
}

lib_run_test() {
	T=$(mktemp -d /tmp/svcd-test.XXXXXX)
	chmod 755 "$T"
	SOCK="$T/svcd.sock"
	SVCD_WRAP=${SVCD_WRAP:-}
	trap lib_cleanup EXIT
	"$1"
}
