#!/usr/bin/env bash
# t_bus.sh — the bus's bounds seen from the control socket: a subscriber's
# pattern list is capped, and svcd's own events are never dropped for a
# full queue.

R='{"jsonrpc":"2.0"'

# pats N LEN — a JSON array of N distinct exact patterns of LEN characters.
pats() {
	jq -nc --argjson n "$1" --argjson len "$2" \
		'[range($n) | "p" + (("0" * $len) + tostring)[-($len - 1):]]'
}

test_pattern_caps() {
	svcd_start
	local out m
	for m in subscribe events; do
		out=$(rpc "$R"',"id":1,"method":"'$m'","params":{"events":'"$(pats 1025 8)"'}}')
		assert_eq "InvalidParams" "$(jq -r .error.data.class <<<"$out")" "$m: 1025 patterns"
		assert_contains "$out" "too many patterns in 'events': 1025, at most 1024"
		# 600 patterns of 120 bytes: under the count, over 64 KiB in all
		out=$(rpc "$R"',"id":2,"method":"'$m'","params":{"events":'"$(pats 600 120)"'}}')
		assert_eq "InvalidParams" "$(jq -r .error.data.class <<<"$out")" "$m: 72 KB of patterns"
		assert_contains "$out" "over 65536 bytes in all"
	done
	# at the cap: accepted, and the set matches what it names
	mkfifo "$T/fifo"
	exec 3<>"$T/fifo"
	socat -t 5 - "UNIX-CONNECT:$SOCK" <&3 >"$T/sub.out" &
	echo "$R"',"id":1,"method":"subscribe","params":{"events":'"$(pats 1024 8)"'}}' >&3
	wait_for 5 grep -q '"result"' "$T/sub.out"
	assert_eq "null" "$(head -1 "$T/sub.out" | jq -c .error)" "1024 patterns accepted"
	ctl emit q0000042 >/dev/null
	ctl emit p0001024 >/dev/null
	ctl emit p0000042 >/dev/null
	ctl emit p0001023 >/dev/null
	wait_for 5 grep -q p0001023 "$T/sub.out"
	exec 3>&-
	assert_eq "p0000042 p0001023" "$(jq -r 'select(.method == "event") | .params.event' "$T/sub.out" | xargs)" \
		"events delivered through a large set"
	svcd_stop || fail "svcd exited with status $?"
}

# With the smallest queue every service.state event of the boot reaches the
# history: each running service's "running" transition is there and
# nothing was dropped.
test_boot_events_with_tiny_queue() {
	CONF_TEXT=$'[bus]\nqueue_size = 1' svcd_start
	local running out missing=""
	running=$(ctl --json services | jq -r '.services[] | select(.state == "running") | .name')
	[ -n "$running" ] || fail "no running service"
	out=$(rpc "$R"',"id":1,"method":"events","params":{"events":["service.state"]}}')
	for s in $running; do
		jq -e --arg s "$s" '.result.events[] | select(.data.service == $s and .data.to == "running")' \
			<<<"$out" >/dev/null || missing="$missing $s"
	done
	assert_eq "" "$missing" "services without a service.state 'running' event"
	assert_eq 0 "$(ctl --json status | jq .bus.dropped)" "bus dropped count"
	svcd_stop || fail "svcd exited with status $?"
}
