#!/usr/bin/env bash
# s_input.sh — hostile input on the control socket: a 100 MiB line, deeply
# nested JSON, every byte value in a request and in event data. Each answer
# is printed: docs/testing.md's catalogue of bad inputs is taken from here.

R='{"jsonrpc":"2.0"'

# note TEXT — a figure: printed, and kept in $STRESS_LOG for the summary.
note() {
	echo "$*"
	[ -n "${STRESS_LOG:-}" ] && echo "${FUNCNAME[1]}: $*" >>"$STRESS_LOG"
	return 0
}

hammer() {
	"$HAMMER" "$1" "$SOCK" "${@:2}"
}

status_of() {
	awk -v k="$1:" '$1 == k {print $2}' "/proc/$SVCD_PID/status"
}

# A 100 MiB line with no newline: one TooLarge error, the connection closed,
# the rest discarded; svcd's peak RSS stays under 32 MiB (max_request is
# 1 MiB; 256 MiB under sanitizers).
test_100mib_line() {
	local bound=32768
	[ -n "${SVCD_SANITIZED:-}" ] && bound=262144
	svcd_start
	local out
	out=$(hammer big $((100 << 20))) || fail "$out"
	note "$out"
	local reply
	reply=$(head -n 1 <<<"$out")
	assert_eq TooLarge "$(jq -r .error.data.class <<<"$reply")"
	assert_eq "request line too long (max 1048576 bytes)" "$(jq -r .error.message <<<"$reply")"
	assert_contains "$out" "closed yes"
	assert_eq 2 "$(wc -l <<<"$out")" "one reply line, then EOF"
	local hwm
	hwm=$(status_of VmHWM)
	note "svcd VmHWM $hwm kB (bound $bound kB)"
	[ "$hwm" -lt $bound ] || fail "peak RSS $hwm kB"
	assert_eq pong "$(ctl ping)"
}

# 100 000 '[' (and other deep shapes): a parse error naming the depth, the
# connection still usable, svcd unharmed.
test_deep_nesting() {
	svcd_start
	local deep out msg
	deep=$(head -c 100000 /dev/zero | tr '\0' '[')
	out=$(printf '%s\n%s\n' "$deep" "$R"',"id":2,"method":"ping"}' |
		socat -t 5 - "UNIX-CONNECT:$SOCK")
	note "100000 '[': $(head -n 1 <<<"$out")"
	assert_eq ParseError "$(head -n 1 <<<"$out" | jq -r .error.data.class)"
	msg=$(head -n 1 <<<"$out" | jq -r .error.message)
	assert_contains "$msg" "maximum parsing depth reached"
	assert_eq '{"jsonrpc":"2.0","id":2,"result":{"pong":true}}' "$(sed -n 2p <<<"$out")" "same connection usable"
	# nested objects inside params.data, within max_request
	deep=$(for i in $(seq 1 50000); do printf '{"a":'; done)
	out=$(printf '%s\n' "$R"',"id":3,"method":"emit","params":{"event":"deep","data":'"$deep"'1' |
		socat -t 5 - "UNIX-CONNECT:$SOCK")
	note "50000 nested objects in data: $out"
	assert_eq ParseError "$(jq -r .error.data.class <<<"$out")"
	# deep but legal (depth 2000 < jansson's 2048): accepted and delivered
	deep=$(head -c 1990 /dev/zero | tr '\0' '[')$(head -c 1990 /dev/zero | tr '\0' ']')
	out=$(printf '%s\n' "$R"',"id":4,"method":"emit","params":{"event":"deep","data":{"a":'"$deep"'}}}' |
		socat -t 5 - "UNIX-CONNECT:$SOCK")
	note "depth 1993 in data: $out"
	jq -e .result.seq <<<"$out" >/dev/null || fail "$out"
	# (jq stops at depth 256: compare the text)
	rpc "$R"',"id":5,"method":"events","params":{"last":1,"events":["deep"]}}' |
		grep -qF "$deep" || fail "the deep data was not kept intact"
	assert_eq pong "$(ctl ping)"
}

# Every byte 0..255 raw in the event name, raw in a data string, raw
# between tokens, and escaped (\u00XX) in data: every request is answered
# (a result or an error), none hangs or crashes svcd; the escaped ones
# reach a subscriber with the right code point.
test_every_byte() {
	svcd_start
	"$SVCCTL" -s "$SOCK" --json watch 'b.esc' >"$T/sub.out" 2>/dev/null &
	local wpid=$!
	wait_for 5 bash -c "[ \"\$('$SVCCTL' -s '$SOCK' --json status | jq -r .control.clients)\" = 2 ]"
	local out
	out=$(hammer bytes) || fail "a request got no answer: $out"
	note "$out"
	# what JSON and the event name grammar demand
	assert_contains "$out" "name: 0x00-0x09:ParseError"
	assert_contains "$out" "0x80-0xff:ParseError" # a lone byte >= 0x80 is not UTF-8
	assert_contains "$out" "escaped: 0x00:ParseError 0x01-0xff:result"
	kill -0 "$SVCD_PID" || fail "svcd died"
	wait_for 5 bash -c "[ \$(wc -l <'$T/sub.out') -ge 255 ]"
	kill $wpid
	wait $wpid 2>/dev/null
	assert_eq "$(seq 1 255 | tr '\n' ' ')" \
		"$(jq -r '.data.s | explode[0]' "$T/sub.out" | tr '\n' ' ')" "code points delivered"
	# the raw bytes as one event's data, through svcctl's key=value
	assert_eq pong "$(ctl ping)"
}
