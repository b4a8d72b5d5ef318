#!/usr/bin/env bash
# t_events.sh — event data leaves svcd byte for byte as it came in (events
# from the bus history and from the journal, a subscriber, a hook's stdin),
# and `events` is paged: a bounded reply with a `next` cursor that svcctl
# follows, every event exactly once and in order.

# The data as a client wrote it: numbers jansson would rewrite, an escape.
DATA='{"t":1700000000.123456,"pi":3.141592653589793,"z":-0,"e":1.0E+2,"big":12345678901234567,"s":"caf\u00e9 \"q\""}'

emit_line() {
	printf '{"jsonrpc":"2.0","id":%s,"method":"emit","params":{"event":"%s","data":%s}}' "$1" "$2" "$3"
}

# emit_lines N EVENT — N pipelined emit lines (ids 1..N), data {"i":N}.
emit_lines() {
	awk -v n="$1" -v e="$2" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"%s\",\"data\":{\"i\":%d}}}\n", i, e, i }'
}

events_rpc() {
	rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"events\",\"params\":$1}"
}

# exact_paths — emit DATA with a subscriber and a hook attached; each path
# must carry the very bytes.
exact_paths() {
	svcd_start
	# a subscriber that stays connected until the event arrived
	(
		printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"events":["num.*"]}}'
		for _ in $(seq 250); do
			grep -q '"num.x"' "$T/sub" 2>/dev/null && break
			sleep 0.02
		done
	) | socat -t 0.5 - "UNIX-CONNECT:$SOCK" >"$T/sub" &
	local sub=$!
	wait_for 5 grep -q '"result"' "$T/sub"
	local out
	out=$(rpc "$(emit_line 7 num.x "$DATA")")
	assert_contains "$out" '"result":{"seq":' "emit accepted"
	wait "$sub"
	assert_contains "$(cat "$T/sub")" "\"event\":\"num.x\",\"data\":$DATA," \
		"the subscriber got the bytes"
	wait_for 5 test -s "$T/hook.in"
	assert_contains "$(cat "$T/hook.in")" "\"data\":$DATA" "the hook's stdin"
	out=$(events_rpc '{"events":["num.*"]}')
	assert_contains "$out" "\"event\":\"num.x\",\"data\":$DATA," \
		"events gives the bytes"
	out=$(events_rpc '{"last":1,"events":["num.x"]}')
	assert_contains "$out" "\"data\":$DATA," "events --last gives the bytes"
}

hook_conf() {
	printf '[hook.num]\non = num.*\nexec = /bin/sh -c "cat >>%s/hook.in"\n' "$T"
}

test_data_exact_from_history() {
	CONF_TEXT=$(hook_conf)
	exact_paths
	svcd_stop || fail "svcd exited with status $?"
}

test_data_exact_from_journal() {
	CONF_TEXT="[journal]
path = $T/j.db
$(hook_conf)"
	exact_paths
	svcd_stop || fail "svcd exited with status $?"
	# after a restart the history comes from the journal's rows alone
	rm -f "$T/hook.in"
	svcd_start
	local out
	out=$(events_rpc '{"events":["num.x"]}')
	assert_contains "$out" "\"data\":$DATA," "events after a restart"
	svcd_stop || fail "svcd exited with status $?"
}

test_unrepresentable_numbers_refused_not_changed() {
	svcd_start
	local d out
	for d in '{"a":1e400}' '{"a":123456789012345678901234567890}'; do
		out=$(rpc "$(emit_line 1 num.big "$d")")
		assert_contains "$out" '"class":"ParseError"' "refused: $d"
	done
	out=$(events_rpc '{"events":["num.big"]}')
	assert_contains "$out" '"events":[]' "nothing stored in another form"
	svcd_stop || fail "svcd exited with status $?"
}

# every_event_once N — svcctl events follows next: seqs strictly
# increasing, N of the pattern, i = 1..N in order.
every_event_once() {
	ctl --json events page.e >"$T/all.json" || fail "svcctl events"
	assert_eq "$1" "$(jq '.events | length' "$T/all.json")" "every event"
	assert_eq true "$(jq '[.events[].data.i] == [range(1; '"$1"' + 1)]' "$T/all.json")" \
		"each once, in order"
	ctl events page.e >"$T/all.txt" || fail "svcctl events (text)"
	assert_eq "$1" "$(wc -l <"$T/all.txt")" "text: one line per event"
	assert_eq 5 "$(ctl events --last 5 page.e | wc -l)" "--last 5"
	assert_eq 1200 "$(ctl --json events --last 1200 page.e | jq '.events | length')" \
		"--last over two pages"
	assert_eq "$1" "$(ctl --json events --last 1200 page.e | jq '.events[-1].data.i')" \
		"--last ends with the newest"
}

paged() {
	svcd_start
	emit_lines 2500 page.e | socat -t 10 - "UNIX-CONNECT:$SOCK" >"$T/emits"
	assert_eq 2500 "$(grep -c '"result"' "$T/emits")" "2500 emits accepted"
	wait_for 5 bash -c "'$SVCCTL' -s '$SOCK' --json events --last 1 page.e | jq -e '.events[0].data.i == 2500'"
	local out next
	out=$(events_rpc '{"events":["page.e"]}')
	assert_eq 1000 "$(jq '.result.events | length' <<<"$out")" "default limit"
	next=$(jq '.result.next' <<<"$out")
	assert_eq "$(jq '.result.events[-1].seq' <<<"$out")" "$next" \
		"next is the last seq of the page"
	out=$(events_rpc "{\"events\":[\"page.e\"],\"since\":$next,\"limit\":10000}")
	assert_eq 1500 "$(jq '.result.events | length' <<<"$out")" "the rest"
	assert_eq 1001 "$(jq '.result.events[0].data.i' <<<"$out")" "continues"
	assert_eq null "$(jq '.result.next' <<<"$out")" "no more"
	out=$(events_rpc '{"limit":10001}')
	assert_contains "$out" '"class":"InvalidParams"' "limit above the maximum"
	assert_contains "$out" "1-10000" "the bound is named"
	every_event_once 2500
	svcd_stop || fail "svcd exited with status $?"
}

test_paged_history() {
	CONF_TEXT="[bus]
history = 4000"
	paged
}

test_paged_journal() {
	CONF_TEXT="[journal]
path = $T/j.db"
	paged
}

# Twelve events of ~600 KB: one reply would be 7 MB; a page stops past
# 4 MiB, and ping is answered while svcctl reads them page after page.
test_reply_size_bound() {
	CONF_TEXT="[journal]
path = $T/j.db"
	svcd_start
	local big i
	big=$(head -c 600000 /dev/zero | tr '\0' 'x')
	for i in $(seq 12); do
		emit_line "$i" size.e "{\"i\":$i,\"pad\":\"$big\"}"
		echo
	done | socat -t 10 - "UNIX-CONNECT:$SOCK" >"$T/emits"
	assert_eq 12 "$(grep -c '"result"' "$T/emits")" "12 emits accepted"
	events_rpc '{"events":["size.e"]}' >"$T/page"
	local n bytes
	n=$(jq '.result.events | length' "$T/page")
	bytes=$(wc -c <"$T/page")
	[ "$n" -ge 1 ] && [ "$n" -lt 12 ] || fail "a bounded page, got $n events"
	[ "$bytes" -lt $((5 * 1024 * 1024)) ] || fail "page of $bytes bytes"
	assert_eq "$(jq '.result.events[-1].seq' "$T/page")" \
		"$(jq '.result.next' "$T/page")" "next after a full page"
	# svcctl follows next; ping meanwhile gets its answer
	ctl -t 20 --json events size.e >"$T/all.json" &
	local reader=$!
	assert_eq pong "$(ctl -t 5 ping)" "ping during a big read"
	wait "$reader" || fail "svcctl events"
	assert_eq "$(seq -s ' ' 12)" "$(jq -r '[.events[].data.i] | map(tostring) | join(" ")' "$T/all.json")" \
		"every big event once, in order"
	svcd_stop || fail "svcd exited with status $?"
}

# Timers emit their data as written: from the config and from `schedule`.
test_timer_data_exact() {
	CONF_TEXT="[timer.conf]
every = 50ms
emit = num.conf
data = $DATA"
	svcd_start
	local out
	out=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"schedule\",\"params\":{\"name\":\"once\",\"after\":\"10ms\",\"event\":\"num.sched\",\"data\":$DATA}}")
	assert_contains "$out" '"result"' "schedule accepted"
	wait_for 5 bash -c "'$SVCCTL' -s '$SOCK' --json events num.sched | jq -e '.events | length == 1'"
	wait_for 5 bash -c "'$SVCCTL' -s '$SOCK' --json events num.conf | jq -e '.events | length >= 1'"
	out=$(events_rpc '{"events":["num.sched"]}')
	assert_contains "$out" "\"data\":$DATA," "a scheduled event's data"
	out=$(events_rpc '{"last":1,"events":["num.conf"]}')
	assert_contains "$out" "\"data\":$DATA," "a config timer's data"
	svcd_stop || fail "svcd exited with status $?"
}

# An emit inside a batch keeps its data's bytes too (each element's own
# text, not the whole line, is where its data is taken from).
test_data_exact_in_batch() {
	svcd_start
	local out
	out=$(rpc "[$(emit_line 1 num.a '{"x":1}'), $(emit_line 2 num.b "$DATA") ,{\"jsonrpc\":\"2.0\",\"method\":\"emit\",\"params\":{\"event\":\"num.c\",\"data\":{\"y\":[1.50,{\"z\":2e0}]}}}]")
	assert_contains "$out" '"id":2,"result":{"seq":' "batch emit accepted"
	out=$(events_rpc '{"events":["num.*"]}')
	assert_contains "$out" '"event":"num.a","data":{"x":1},' "first element"
	assert_contains "$out" "\"event\":\"num.b\",\"data\":$DATA," \
		"the second element's bytes"
	assert_contains "$out" '"event":"num.c","data":{"y":[1.50,{"z":2e0}]},' \
		"a notification's bytes"
	svcd_stop || fail "svcd exited with status $?"
}

# svcctl passes the bytes both ways: `emit` (a JSON object, key:=JSON,
# key=number) and `schedule --emit` send the data as written, and `events
# --json`, `watch --json` and the table print it as it came.
test_svcctl_data_exact() {
	svcd_start
	ctl watch --json 'num.*' >"$T/watch.json" 2>"$T/watch.err" &
	local watcher=$! out
	# the subscription is in place once an event emitted now reaches it
	wait_for 5 bash -c "'$SVCCTL' -s '$SOCK' emit num.ready >/dev/null && grep -q num.ready '$T/watch.json'"
	ctl emit num.x "$DATA" >/dev/null || fail "svcctl emit JSON"
	ctl emit num.kv 'pi=3.141592653589793' 'e=1.0E+2' 'z=-0' \
		't:=1700000000.123456' 's=caf\u00e9' >/dev/null || fail "svcctl emit key=value"
	ctl schedule once --after 10ms --emit num.sched "$DATA" >/dev/null ||
		fail "svcctl schedule"
	local KV='{"pi":3.141592653589793,"e":1.0E+2,"z":-0,"t":1700000000.123456,"s":"caf\\u00e9"}'
	wait_for 5 grep -q '"num.sched"' "$T/watch.json"
	out=$(ctl --json events 'num.*')
	assert_contains "$out" "\"event\":\"num.x\",\"data\":$DATA," \
		"events --json: emit's JSON as written"
	assert_contains "$out" "\"event\":\"num.kv\",\"data\":$KV," \
		"events --json: key=value numbers as written"
	assert_contains "$out" "\"event\":\"num.sched\",\"data\":$DATA," \
		"events --json: schedule's data as written"
	out=$(cat "$T/watch.json")
	assert_contains "$out" "\"event\":\"num.x\",\"data\":$DATA," \
		"watch --json: the bytes"
	assert_contains "$out" "\"event\":\"num.kv\",\"data\":$KV," \
		"watch --json: key=value"
	out=$(ctl events num.x)
	assert_contains "$out" "  num.x  $DATA  " "the table shows the bytes"
	# (a background job ignores SIGINT: stop the watcher with SIGTERM)
	kill -TERM "$watcher"
	wait "$watcher"
	assert_eq "" "$(cat "$T/watch.err")" "watch reported no error"
	svcd_stop || fail "svcd exited with status $?"
}

# A batch's reply is bounded too: past 4 MiB the rest is not run, and each
# request left gets TooLarge (before: 256 pages of 4 MiB in one line).
test_batch_reply_bounded() {
	svcd_start
	local big i out
	big=$(head -c 600000 /dev/zero | tr '\0' 'x')
	for i in $(seq 8); do
		emit_line "$i" size.b "{\"i\":$i,\"pad\":\"$big\"}"
		echo
	done | socat -t 10 - "UNIX-CONNECT:$SOCK" >"$T/emits"
	assert_eq 8 "$(grep -c '"result"' "$T/emits")" "8 emits accepted"
	printf '%s\n' '[{"jsonrpc":"2.0","id":1,"method":"events","params":{"events":["size.b"]}},{"jsonrpc":"2.0","id":2,"method":"ping"}]' |
		socat -t 10 - "UNIX-CONNECT:$SOCK" >"$T/batch"
	assert_eq 1 "$(wc -l <"$T/batch")" "one reply line"
	assert_eq 1 "$(jq '.[0].id' "$T/batch")" "the events page is answered"
	assert_eq '"TooLarge"' "$(jq '.[1].error.data.class' "$T/batch")" \
		"the request after it was not run"
	[ "$(wc -c <"$T/batch")" -lt $((5 * 1024 * 1024)) ] ||
		fail "batch reply of $(wc -c <"$T/batch") bytes"
	assert_eq pong "$(ctl ping)" "svcd still answers"
	svcd_stop || fail "svcd exited with status $?"
}
