#!/usr/bin/env bash
# t_svcctl_call.sh — `svcctl call METHOD [PARAMS-JSON]` against the real
# svcd: any method, the result as indented or one-line JSON, params sent as
# written, and the exit codes of the other commands (1 error reply, 3
# unreachable, 64 usage).

test_call_methods() {
	svcd_start
	local out
	out=$(ctl call services) || fail "call services"
	assert_contains "$out" '    "name": "manager",' "indented JSON"
	assert_eq "manager" "$(jq -r '.services[0].name' <<<"$out")" "services result"
	out=$(ctl --json call services) || fail "--json call services"
	assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "--json: one line"
	assert_eq "manager" "$(jq -r '.services[0].name' <<<"$out")"
	assert_eq '{"pong":true}' "$(ctl call ping | jq -c .)" "call ping"
	assert_eq '{"pong":true}' "$(ctl --json call ping)" "--json call ping"
	out=$(ctl call health '{"fresh":true}') || fail "call health"
	assert_eq "ok" "$(jq -r .status <<<"$out")" "health with params"
}

# The params go out as the user wrote them: a number keeps its spelling.
test_call_params_as_written() {
	svcd_start
	ctl call emit '{ "event": "t.raw", "data": {"n": 1.0E+2, "s": "a b"} }' \
		>/dev/null || fail "call emit"
	local out
	out=$(ctl --json events --last 1 t.raw) || fail "events"
	assert_contains "$out" '"data":{"n":1.0E+2,"s":"a b"}' "data bytes kept"
}

test_call_errors() {
	svcd_start
	local rc=0 err
	err=$(ctl call no.such.method 2>&1 >/dev/null) || rc=$?
	assert_eq 1 "$rc" "unknown method exits 1"
	assert_contains "$err" "(MethodNotFound)" "unknown method"
	assert_contains "$err" "no.such.method" "the method is named"
	rc=0
	err=$(ctl call ping '{"bogus":1}' 2>&1 >/dev/null) || rc=$?
	assert_eq 1 "$rc" "unknown param exits 1"
	assert_contains "$err" "(InvalidParams)"
	local bad
	for bad in '[1]' '{"a":' '{"a":1,"a":2}' '"x"'; do
		rc=0
		err=$(ctl call ping "$bad" 2>&1 >/dev/null) || rc=$?
		assert_eq 64 "$rc" "local usage error for params $bad"
		assert_contains "$err" "svcctl call --help"
	done
	rc=0
	ctl call >/dev/null 2>&1 || rc=$?
	assert_eq 64 "$rc" "no method"
	rc=0
	ctl call ping '{}' extra >/dev/null 2>&1 || rc=$?
	assert_eq 64 "$rc" "too many arguments"
	svcd_stop || fail "svcd exit status $?"
	rc=0
	ctl call ping >/dev/null 2>&1 || rc=$?
	assert_eq 3 "$rc" "unreachable exits 3"
}
