#!/usr/bin/env bash
# t_svcctl_fake.sh — svcctl as a process against a fake daemon (socat serving
# canned JSON-RPC replies): signals, exit codes, stdout/stderr, completion.
# Needs no svcd.

# fake_daemon SCRIPT — serve $SOCK; each connection runs SCRIPT (bash),
# which reads the request line from stdin and writes replies to stdout.
fake_daemon() {
	command -v socat >/dev/null || skip "socat not installed"
	printf '%s\n' "$1" >"$T/fake.sh"
	socat "UNIX-LISTEN:$SOCK,fork" "EXEC:bash $T/fake.sh" 2>/dev/null &
	FAKE_PID=$!
	trap fake_cleanup EXIT
	local i=0
	while [ ! -S "$SOCK" ]; do
		i=$((i + 1))
		[ $i -ge 250 ] && fail "fake daemon did not start"
		sleep 0.02
	done
}

# Stop socat, then the usual cleanup with the test's own exit status.
fake_cleanup() {
	local rc=$?
	kill "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	(exit $rc)
	lib_cleanup
}

test_watch_sigint_exits_0() {
	fake_daemon 'read -r req; echo "$req" >>'"$T"'/requests
echo "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"seq\":3}}"
echo "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":4,\"time\":\"t\",\"event\":\"a.b\",\"data\":{},\"source\":\"x\"}}"
exec cat >/dev/null'
	"$SVCCTL" -s "$SOCK" --json watch 'a.*' >"$T/out" 2>"$T/err" &
	local pid=$!
	wait_for 5 grep -q '"seq":4' "$T/out"
	kill -INT $pid
	local rc=0
	wait $pid || rc=$?
	assert_eq 0 "$rc" "watch exit status after SIGINT"
	assert_eq '{"seq":4,"time":"t","event":"a.b","data":{},"source":"x"}' \
		"$(cat "$T/out")" "NDJSON line"
	assert_eq "" "$(cat "$T/err")" "nothing on stderr"
	assert_contains "$(cat "$T/requests")" '"method":"subscribe","params":{"events":["a.*"]}'
}

test_watch_connection_lost_exits_3() {
	fake_daemon 'read -r req
echo "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"seq\":0}}"'
	local rc=0
	"$SVCCTL" -s "$SOCK" watch >/dev/null 2>"$T/err" || rc=$?
	assert_eq 3 "$rc" "watch exit status when the daemon vanishes"
}

test_error_reply_exit_1_and_message() {
	fake_daemon 'read -r req
echo "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32003,\"message\":\"not allowed\",\"data\":{\"class\":\"PermissionDenied\"}}}"'
	local rc=0 err
	err=$("$SVCCTL" -s "$SOCK" reload 2>&1 >/dev/null) || rc=$?
	assert_eq 1 "$rc" "exit status for an error reply"
	assert_eq "svcctl: not allowed (PermissionDenied)" "$err"
}

# svcctl health: 0 ok, 1 degraded, 2 failed, 3 unknown (stale results); a
# stale check is marked in the table.
test_health_exit_codes() {
	fake_daemon 'read -r req
st=$(cat '"$T"'/status)
echo "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"status\":\"$st\",\"services\":[{\"name\":\"bus\",\"state\":\"running\",\"healthy\":true,\"checked_at\":\"t\",\"age_ms\":95000,\"latency_us\":3,\"error\":null,\"blocked_by\":null,\"stale\":true}]}}"'
	local st want rc out
	for st in ok:0 degraded:1 failed:2 unknown:3; do
		want=${st#*:}
		st=${st%%:*}
		echo "$st" >"$T/status"
		rc=0
		out=$("$SVCCTL" -s "$SOCK" health 2>&1) || rc=$?
		assert_eq "$want" "$rc" "svcctl health exit status for $st"
		assert_contains "$out" "status: $st"
		rc=0
		"$SVCCTL" -s "$SOCK" --json health >/dev/null 2>&1 || rc=$?
		assert_eq "$want" "$rc" "svcctl --json health exit status for $st"
	done
	assert_contains "$out" "1m 35s ago (stale)" "stale check marked"
}

test_timeout_exit_3() {
	fake_daemon 'read -r req; exec cat >/dev/null'
	local rc=0 err
	err=$("$SVCCTL" -s "$SOCK" -t 0.1 status 2>&1) || rc=$?
	assert_eq 3 "$rc" "exit status on timeout"
	assert_contains "$err" "$SOCK"
	assert_contains "$err" "timed out"
}

test_not_running_exit_3() {
	local rc=0 err
	err=$("$SVCCTL" -s "$T/none.sock" ping 2>&1) || rc=$?
	assert_eq 3 "$rc" "exit status with no daemon"
	assert_eq "svcctl: cannot connect to $T/none.sock: No such file or directory (is svcd running?)" "$err"
	rc=0
	SVCD_SOCKET="$T/env.sock" "$SVCCTL" health >/dev/null 2>"$T/err" || rc=$?
	assert_eq 3 "$rc" "health unreachable"
	assert_contains "$(cat "$T/err")" "$T/env.sock"
}

test_usage_errors_exit_64() {
	local args rc
	for args in "" "frob" "emit" "emit x =1" "emit x a=1 a=2" \
		"schedule t --emit x" "status --dot" "-t nope ping" "cancel"; do
		rc=0
		# shellcheck disable=SC2086
		"$SVCCTL" -s "$T/none.sock" $args >/dev/null 2>"$T/err" || rc=$?
		assert_eq 64 "$rc" "exit status for 'svcctl $args'"
		assert_contains "$(cat "$T/err")" "--help" "hint for 'svcctl $args'"
	done
	"$SVCCTL" --help | grep -q "Usage: svcctl" || fail "--help"
	"$SVCCTL" emit --help | grep -q "key=value" || fail "emit --help"
	"$SVCCTL" --version | grep -q "^svcctl " || fail "--version"
}

# svcctl call reaches a method svcd does not know by name (a developer's
# own): the params go out as written, the result comes back byte for byte.
test_call_own_method() {
	fake_daemon 'read -r req; echo "$req" >>'"$T"'/requests
echo "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"id\":42.50,\"name\":\"a \\\"q\\\" {b}\",\"tags\":[],\"x\":{\"y\":[1,2]}}}"'
	local out
	out=$("$SVCCTL" -s "$SOCK" call user.get '{ "id" : 42.50 }') || fail "call"
	assert_contains "$(cat "$T/requests")" '"method":"user.get","params":{"id":42.50}}' "request as written"
	assert_eq '{
  "id": 42.50,
  "name": "a \"q\" {b}",
  "tags": [],
  "x": {
    "y": [
      1,
      2
    ]
  }
}' "$out" "indented result, bytes kept"
	out=$("$SVCCTL" -s "$SOCK" --json call user.get) || fail "call --json"
	assert_eq '{"id":42.50,"name":"a \"q\" {b}","tags":[],"x":{"y":[1,2]}}' "$out" "--json: one line"
	assert_contains "$(tail -n 1 "$T/requests")" '"method":"user.get","params":{}}' "no params: {}"
}

test_bash_completion() {
	local here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	# shellcheck source=/dev/null
	source "$here/client/svcctl.bash" 2>/dev/null || skip "no completion file"
	# the completion asks svcctl for its commands and options
	PATH="$(dirname "$SVCCTL"):$PATH"
	COMP_WORDS=(svcctl sh)
	COMP_CWORD=1
	_svcctl
	assert_eq "shutdown" "${COMPREPLY[*]}" "command completion"
	COMP_WORDS=(svcctl schedule x --e)
	COMP_CWORD=3
	_svcctl
	assert_eq "--every --emit" "${COMPREPLY[*]}" "option completion"
}
