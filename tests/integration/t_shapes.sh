#!/usr/bin/env bash
# t_shapes.sh — the result shape of every method (docs/protocol.md,
# "Result shapes"), called on the real svcd and checked with jq; and the
# svcctl polish around them: --json errors as an object on stdout,
# --no-headers, --color, "did you mean", services and health agreeing.

# shape METHOD [PARAMS] JQ-FILTER — the filter must print true.
shape() {
	local out
	out=$(ctl --json call "$1" "${2:-{\}}") || fail "$1: $out"
	assert_eq true "$(jq "$3" <<<"$out")" "$1's shape: $out"
}

test_every_method_shape() {
	svcd_start
	shape hello '{}' 'type == "object" and (.name|type) == "string" and (.version|type) == "string" and (.protocol|type) == "number" and (.pid|type) == "number" and (.methods|type) == "array"'
	shape ping '{}' '. == {"pong": true}'
	shape status '{}' 'type == "object" and (.uptime_s|type) == "number" and .uptime_s == (.uptime_s|floor) and (.services|type) == "object" and (.bus|type) == "object" and (.worker|type) == "object"'
	# as many services as health reports (the table's count, not a copy)
	local nsvc
	nsvc=$(ctl --json call health | jq '.services|length')
	[ "$nsvc" -gt 0 ] || fail "health lists no services"
	shape services '{}' 'type == "object" and (.services|type) == "array" and (.services|length) == '"$nsvc"' and all(.services[]; (.order|type) == "number" and (.name|type) == "string" and (.requires|type) == "array")'
	# order counts from 1, as svcd --print-graph numbers it
	shape services '{}' '[.services[].order] == [range(1; '"$((nsvc + 1))"')]'
	shape tasks '{}' 'type == "object" and (.tasks|type) == "array" and any(.tasks[]; .name == "health")'
	# hooks: {"hooks":[...]} once services/hooks.c (its own branch) says so
	shape hooks '{}' 'type == "object" and (.hooks|type) == "array"'
	shape peers '{}' 'type == "object" and (.peers|type) == "array"'
	shape metrics '{}' 'type == "object" and (.text|type) == "string" and (.content_type|startswith("text/plain"))'
	shape health '{}' 'type == "object" and (.status|type) == "string" and (.services|type) == "array"'
	shape events '{"last":2}' 'type == "object" and (.events|type) == "array" and (.events|length) == 2 and has("next")'
	shape emit '{"event":"t.shape"}' 'type == "object" and (.seq|type) == "number"'
	shape schedule '{"name":"s1","after":"1h","event":"t.later"}' 'type == "object"'
	shape cancel '{"name":"s1"}' 'type == "object" and .cancelled == true'
	shape reload '{}' 'type == "object"'
	shape subscribe '{"events":["x.*"]}' 'type == "object" and (.seq|type) == "number"'
	shape unsubscribe '{}' 'type == "object" and (.unsubscribed|type) == "boolean"'
	# every method hello lists is covered above (shutdown: last)
	local methods
	methods=$(ctl --json call hello | jq -r '.methods[]' | LC_ALL=C sort | tr '\n' ' ')
	assert_eq "cancel emit events health hello hooks metrics peers ping reload schedule services shutdown status subscribe tasks unsubscribe " \
		"$methods" "the methods checked here are svcd's"
	shape shutdown '{"wait":false}' 'type == "object"'
	svcd_wait_exit || true
}

# Figures are integers or rounded: no 1.0000000000000002 anywhere.
test_no_float_artefacts() {
	svcd_start
	local out
	for m in status services tasks health; do
		out=$(ctl --json call "$m")
		if grep -Eq '[0-9]\.[0-9]{7,}' <<<"$out"; then
			fail "$m has a float artefact: $out"
		fi
	done
	out=$(ctl --json call services)
	assert_eq true "$(jq 'all(.services[]; .init_ms == null or ((.init_ms * 1000) | . == floor))' <<<"$out")" "init_ms to the µs"
}

test_json_errors_on_stdout() {
	svcd_start
	local out rc=0
	out=$(ctl --json call no.such 2>/dev/null) || rc=$?
	assert_eq 1 "$rc" "exit 1"
	assert_eq '-32601 MethodNotFound' "$(jq -r '"\(.error.code) \(.error.class)"' <<<"$out")" "error object: $out"
	assert_contains "$(jq -r .error.message <<<"$out")" "no.such" "message"
	rc=0
	out=$(ctl --json cancel nothing-here 2>/dev/null) || rc=$?
	assert_eq 1 "$rc" "cancel of nothing exits 1"
	rc=0
	out=$(ctl --json health nosuch 2>/dev/null) || rc=$?
	assert_eq 3 "$rc" "health error: unknown (3)"
	assert_eq NotFound "$(jq -r .error.class <<<"$out")" "health error: $out"
	rc=0
	out=$("$SVCCTL" -s "$T/none.sock" --json status 2>/dev/null) || rc=$?
	assert_eq 3 "$rc" "unreachable"
	assert_eq Unreachable "$(jq -r .error.class <<<"$out")" "unreachable: $out"
	rc=0
	out=$(ctl --json events --last 1 'bad pattern!' 2>/dev/null) || rc=$?
	assert_eq 1 "$rc" "bad pattern"
	assert_eq InvalidParams "$(jq -r .error.class <<<"$out")" "events error is one document: $out"
}

test_no_headers_and_color() {
	svcd_start
	local out
	out=$(ctl services)
	assert_eq "ORDER" "$(head -n 1 <<<"$out" | awk '{print $1}')" "header"
	out=$(ctl --no-headers services)
	assert_eq "1 manager" "$(head -n 1 <<<"$out" | awk '{print $1, $2}')" "no header"
	assert_eq "$(ctl --json call health | jq '.services|length')" "$(wc -l <<<"$out")" "one line a service"
	out=$(ctl --color=always services)
	assert_contains "$out" $'\033[' "always: colour through a pipe"
	out=$(NO_COLOR=1 ctl --color=always services)
	assert_contains "$out" $'\033[' "always beats NO_COLOR"
	out=$(ctl --color=auto services)
	assert_not_contains "$out" $'\033[' "auto: not a terminal"
	out=$(ctl --color=never services)
	assert_not_contains "$out" $'\033[' "never"
	local rc=0
	ctl --color=sometimes services >/dev/null 2>&1 || rc=$?
	assert_eq 64 "$rc" "bad --color"
}

test_did_you_mean() {
	local err rc=0
	err=$("$SVCCTL" stauts 2>&1) || rc=$?
	assert_eq 64 "$rc" "usage error"
	assert_contains "$err" "unknown command 'stauts'; did you mean 'status'?"
	rc=0
	err=$("$SVCCTL" servics 2>&1) || rc=$?
	assert_contains "$err" "did you mean 'services'?"
	err=$("$SVCCTL" xyzzy 2>&1) || true
	assert_not_contains "$err" "did you mean" "nothing close"
	err=$("$SVCCTL" help evnts 2>&1) || true
	assert_contains "$err" "did you mean 'events'?"
}

# A service whose ping fails: services says degraded, as health does.
test_services_health_agree() {
	svcd_start
	local h s
	h=$(ctl --json health | jq -c '[.services[] | {name, state}]')
	s=$(ctl --json services | jq -c '[.services[] | {name, state}]')
	assert_eq "$h" "$s" "services and health: the same states"
}

# --print-graph numbers the start order as services does.
test_print_graph_order() {
	svcd_start
	local g s
	g=$("$SVCD" --print-graph | sed -n 's/^ *\([0-9]*\)\. \([a-z]*\).*/\1 \2/p' | tr '\n' ' ')
	s=$(ctl --json services | jq -r '.services[] | "\(.order) \(.name)"' | tr '\n' ' ')
	assert_eq "$g" "$s" "--print-graph and services number alike"
}

# Over max_clients svcd answers Busy and closes: emit exits 1 like the rest,
# even when the request could not be sent.
test_emit_busy() {
	CONF_TEXT='[control]
max_clients = 1' svcd_start
	# one connection holds the only slot (it may itself be refused while
	# svcd_start's last ping is still counted: then try again)
	local holder="" tries=0
	while :; do
		socat "UNIX-CONNECT:$SOCK" EXEC:"sleep 30" >/dev/null 2>&1 &
		holder=$!
		local i=0
		while [ $i -lt 50 ] && kill -0 "$holder" 2>/dev/null &&
			[ "$(ctl ping 2>&1)" = pong ]; do
			sleep 0.02
			i=$((i + 1))
		done
		kill -0 "$holder" 2>/dev/null && [ "$(ctl ping 2>&1)" != pong ] && break
		kill "$holder" 2>/dev/null
		wait "$holder" 2>/dev/null || true
		tries=$((tries + 1))
		[ $tries -lt 20 ] || fail "could not fill the only client slot"
	done
	local rc err
	for c in "emit t.busy" "emit t.busy x=1" "emit t.busy --no-wait" status; do
		rc=0
		# shellcheck disable=SC2086
		err=$(ctl $c 2>&1 >/dev/null) || rc=$?
		assert_eq 1 "$rc" "$c to a full daemon"
		assert_contains "$err" "(Busy)" "$c: Busy"
	done
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null || true
}
