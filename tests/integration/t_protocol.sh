#!/usr/bin/env bash
# t_protocol.sh — the control protocol on the wire: raw JSON-RPC lines sent
# with socat to the real svcd (malformed, oversized, invalid UTF-8, pipelined,
# split, abandoned requests, notifications, invalid requests without an id,
# "params": [], batches, subscriptions, many clients).

R='{"jsonrpc":"2.0"'

# rpc_raw BYTES — send bytes exactly as given (printf format), print replies.
rpc_raw() {
	printf "$1" | socat -t 2 - "UNIX-CONNECT:$SOCK"
}

test_socket_mode_and_cleanup() {
	svcd_start
	assert_eq "660" "$(stat -c %a "$SOCK")" "socket mode"
	svcd_stop || fail "svcd exited with status $?"
	[ ! -e "$SOCK" ] || fail "socket file left behind"
}

test_malformed_json() {
	svcd_start
	local out
	out=$(rpc '{"jsonrpc":"2.0","id":1,"method":')
	assert_eq "-32700" "$(jq -r .error.code <<<"$out")" "code"
	assert_eq "ParseError" "$(jq -r .error.data.class <<<"$out")" "class"
	assert_eq "null" "$(jq -r .id <<<"$out")" "id is null"
	assert_contains "$out" "column" "message has the column"
	out=$(rpc '[1,2]')
	assert_eq "InvalidRequest InvalidRequest" "$(jq -r '[.[].error.data.class] | join(" ")' <<<"$out")" "batch of non-objects"
	out=$(rpc '"ping"')
	assert_eq "InvalidRequest" "$(jq -r .error.data.class <<<"$out")" "scalar"
	out=$(rpc "$R"',"id":4,"method":"frobnicate"}')
	assert_eq "MethodNotFound" "$(jq -r .error.data.class <<<"$out")"
	assert_eq "4" "$(jq -r .id <<<"$out")" "id echoed"
	out=$(rpc "$R"',"id":5,"method":"emit","params":{"event":"a","colour":1}}')
	assert_eq "InvalidParams" "$(jq -r .error.data.class <<<"$out")"
	assert_contains "$out" "unknown parameter 'colour'"
	out=$(rpc "$R"',"id":6,"method":"emit","params":{"event":["a"]}}')
	assert_contains "$out" "parameter 'event' must be a string"
	# the daemon is still fine
	assert_eq "pong" "$(ctl ping)" "alive"
}

test_invalid_utf8() {
	svcd_start
	local out
	out=$(rpc_raw "$R"',"id":1,"method":"emit","params":{"event":"x","data":{"s":"\xc3\x28"}}}\n')
	assert_eq "ParseError" "$(jq -r .error.data.class <<<"$out")" "bad UTF-8"
	assert_eq "pong" "$(ctl ping)" "alive"
}

test_oversize_line_closes() {
	CONF_TEXT=$'[control]\nmax_request = 4K'
	svcd_start
	local out
	out=$( { head -c 10000 /dev/zero | tr '\0' x; printf '\n%s\n' "$R"',"id":2,"method":"ping"}'; } |
		socat -t 2 - "UNIX-CONNECT:$SOCK")
	# (socat writes in 8 KiB blocks and is still writing when the error
	# comes: svcd's lingering close lets it read the error, not EPIPE)
	assert_eq "1" "$(printf '%s\n' "$out" | wc -l)" "one line, then closed: $out"
	assert_eq "TooLarge" "$(jq -r .error.data.class <<<"$out")"
	assert_eq "-32005" "$(jq -r .error.code <<<"$out")"
	assert_eq "pong" "$(ctl ping)" "alive"
}

test_pipelined_replies_in_order() {
	svcd_start
	local lines=() i
	for i in $(seq 1 50); do
		if [ $((i % 3)) -eq 0 ]; then
			lines+=("$R"',"id":'$i',"method":"emit","params":{"event":"pipe.x","data":{"i":'$i'}}}')
		else
			lines+=("$R"',"id":'$i',"method":"ping"}')
		fi
	done
	local ids
	ids=$(rpc "${lines[@]}" | jq -r .id | tr '\n' ' ')
	assert_eq "$(seq 1 50 | tr '\n' ' ')" "$ids" "replies in request order"
}

test_split_request() {
	svcd_start
	local out
	out=$( { printf '%s' "$R"',"id":7,'; sleep 0.1; printf '%s' '"method":"pi'; sleep 0.1;
		printf '%s\n' 'ng"}'; } | socat -t 2 - "UNIX-CONNECT:$SOCK")
	assert_eq '{"jsonrpc":"2.0","id":7,"result":{"pong":true}}' "$out" "split request"
}

test_notification_not_answered() {
	svcd_start
	local out
	out=$(rpc '{"jsonrpc":"2.0","method":"emit","params":{"event":"note.x"}}' \
		'{"jsonrpc":"2.0","method":"nope"}' "$R"',"id":1,"method":"ping"}')
	assert_eq '{"jsonrpc":"2.0","id":1,"result":{"pong":true}}' "$out" "only the ping answered"
	out=$(ctl --json events --last 1 note.x)
	assert_eq "note.x" "$(jq -r '.events[0].event' <<<"$out")" "the notification ran"
}

# JSON-RPC 2.0 §5: an invalid request is answered with id null, id or no id;
# only a valid request without an id is a notification.
test_invalid_request_without_id_answered() {
	svcd_start
	local line out
	for line in '{}' '{"jsonrpc":"2.0","method":1,"params":"bar"}' \
		'{"jsonrpc":"2.0"}' '{"jsonrpc":"1.0","method":"ping"}' \
		'{"jsonrpc":"2.0","method":"ping","params":"x"}' '"ping"'; do
		out=$(rpc "$line" "$R"',"id":"end","method":"ping"}')
		assert_eq 2 "$(printf '%s\n' "$out" | wc -l)" "$line: answered, then the ping: $out"
		out=$(head -n 1 <<<"$out")
		assert_eq "null -32600 InvalidRequest" \
			"$(jq -r '"\(.id) \(.error.code) \(.error.data.class)"' <<<"$out")" "$line"
	done
	out=$(rpc '{"jsonrpc":"2.0","method":')
	assert_eq "null -32700" "$(jq -r '"\(.id) \(.error.code)"' <<<"$out")" "parse error"
	# a valid notification whose params are wrong is still not answered
	out=$(rpc "$R"',"method":"ping","params":[1]}' "$R"',"id":1,"method":"ping"}')
	assert_eq '{"jsonrpc":"2.0","id":1,"result":{"pong":true}}' "$out" "only the ping answered"
}

# "params": [] (as some clients send for a method without params) is none.
test_params_empty_array() {
	svcd_start
	local out
	out=$(rpc "$R"',"id":1,"method":"ping","params":[]}')
	assert_eq '{"jsonrpc":"2.0","id":1,"result":{"pong":true}}' "$out" "ping with []"
	out=$(rpc "$R"',"id":2,"method":"status","params":[]}')
	assert_eq "running" "$(jq -r .result.state <<<"$out")" "status with []"
	out=$(rpc "$R"',"id":3,"method":"ping","params":[1]}')
	assert_eq "InvalidParams" "$(jq -r .error.data.class <<<"$out")" "by position"
	assert_contains "$out" "by-position params are not supported"
}

# A batch: one line, one array of the replies in order; notifications leave
# no entry; invalid entries get Invalid Request entries.
test_batch_mixed() {
	svcd_start
	local out
	out=$(rpc '['"$R"',"id":1,"method":"ping"},'"$R"',"method":"emit","params":{"event":"batch.note"}},{"foo":"boo"},42,'"$R"',"id":2,"method":"nope"},'"$R"',"id":3,"method":"emit","params":{"event":"batch.x","data":{"n":1}}},'"$R"',"id":4,"method":"ping","params":[]}]' \
		"$R"',"id":5,"method":"ping"}')
	assert_eq 2 "$(printf '%s\n' "$out" | wc -l)" "one batch line, then the ping: $out"
	local b
	b=$(head -n 1 <<<"$out")
	assert_eq "array 6" "$(jq -r '"\(type) \(length)"' <<<"$b")" "six entries: $b"
	assert_eq "1 null null 2 3 4" "$(jq -r '[.[].id] | map(tostring) | join(" ")' <<<"$b")" "ids in order"
	assert_eq "pong InvalidRequest InvalidRequest MethodNotFound batch.x pong" \
		"$(jq -r '[.[] | if .error then .error.data.class elif .result.pong == true then "pong" else "batch.x" end] | join(" ")' <<<"$b")" "entries"
	assert_eq '{"jsonrpc":"2.0","id":5,"result":{"pong":true}}' "$(tail -n 1 <<<"$out")" "then the ping"
	out=$(ctl --json events --last 2 'batch.*')
	assert_eq "batch.note batch.x" "$(jq -r '[.events[].event] | join(" ")' <<<"$out")" "both emits ran, in order"
	# only notifications: no reply at all
	out=$(rpc '['"$R"',"method":"ping"},'"$R"',"method":"emit","params":{"event":"batch.y"}}]' \
		"$R"',"id":6,"method":"ping"}')
	assert_eq '{"jsonrpc":"2.0","id":6,"result":{"pong":true}}' "$out" "nothing for a batch of notifications"
	# []: one Invalid Request object, not an array
	out=$(rpc '[]')
	assert_eq "object null InvalidRequest" "$(jq -r '"\(type) \(.id) \(.error.data.class)"' <<<"$out")" "empty batch"
	# a batch that is not JSON: one Parse error
	out=$(rpc '['"$R"',"id":1,"method":"ping"},')
	assert_eq "object null ParseError" "$(jq -r '"\(type) \(.id) \(.error.data.class)"' <<<"$out")" "broken batch"
}

# Over the bound (256 requests): one TooLarge for the whole batch, nothing
# runs, and the connection goes on.
test_batch_over_bound() {
	svcd_start
	local big ok out
	big=$(jq -cn '[range(257) | {jsonrpc:"2.0",id:.,method:"emit",params:{event:"over.x"}}]')
	ok=$(jq -cn '[range(256) | {jsonrpc:"2.0",id:.,method:"ping"}]')
	out=$(rpc "$big" "$ok")
	assert_eq 2 "$(printf '%s\n' "$out" | wc -l)" "two replies"
	assert_eq "object null -32005 TooLarge" \
		"$(head -n 1 <<<"$out" | jq -r '"\(type) \(.id) \(.error.code) \(.error.data.class)"')" "over the bound"
	assert_contains "$(head -n 1 <<<"$out")" "max 256"
	assert_eq "256" "$(tail -n 1 <<<"$out" | jq -r length)" "at the bound: answered"
	assert_eq "0" "$(ctl --json events --last 1 over.x | jq -r '.events | length')" "nothing emitted"
}

# [journal] sync = always: a batch's reply waits until its emits are durable
# (one line, in order with what follows), without blocking other clients.
test_batch_sync_always() {
	CONF_TEXT="[journal]
path = $T/j.db
sync = always"
	svcd_start
	local out
	out=$(rpc '['"$R"',"id":1,"method":"emit","params":{"event":"dur.x"}},'"$R"',"id":2,"method":"ping"},'"$R"',"id":3,"method":"emit","params":{"event":"dur.x"}}]' \
		"$R"',"id":4,"method":"ping"}')
	assert_eq 2 "$(printf '%s\n' "$out" | wc -l)" "batch, then ping: $out"
	assert_eq "1 2 3" "$(head -n 1 <<<"$out" | jq -r '[.[].id] | map(tostring) | join(" ")')" "batch entries"
	local last
	last=$(head -n 1 <<<"$out" | jq -r '.[2].result.seq')
	assert_eq '{"jsonrpc":"2.0","id":4,"result":{"pong":true}}' "$(tail -n 1 <<<"$out")" "ping after the batch"
	svcd_stop || fail "svcd exited with status $?"
	rm -f "$SOCK"
	svcd_start
	assert_eq "$last" "$(ctl --json events --last 1 dur.x | jq -r '.events[0].seq')" "durable"
}

test_disconnect_mid_request() {
	svcd_start
	local i
	for i in $(seq 1 20); do
		printf '%s' "$R"',"id":1,"method":"em' | socat -t 0 - "UNIX-CONNECT:$SOCK" || true
	done
	# a subscriber that half-closes, then goes away: found within ~1 s
	printf '%s\n' "$R"',"id":1,"method":"subscribe"}' | socat -t 0 - "UNIX-CONNECT:$SOCK" || true
	clients_are_one() {
		[ "$(rpc "$R"',"id":1,"method":"status"}' | jq -r .result.control.clients)" = 1 ]
	}
	wait_for 5 clients_are_one
	assert_eq "pong" "$(ctl ping)" "alive"
}

test_subscribe_receives_events() {
	svcd_start
	local f="$T/sub.out"
	# socat half-closes after the request; a subscriber keeps receiving
	printf '%s\n' "$R"',"id":1,"method":"subscribe","params":{"events":["wire.*"]}}' |
		socat -t 10 - "UNIX-CONNECT:$SOCK" >"$f" &
	local sub=$!
	wait_for 5 grep -q '"result"' "$f"
	rpc "$R"',"id":1,"method":"emit","params":{"event":"other"}}' >/dev/null
	rpc "$R"',"id":2,"method":"emit","params":{"event":"wire.a","data":{"k":[1,2]}}}' >/dev/null
	wait_for 5 grep -q '"wire.a"' "$f"
	kill $sub 2>/dev/null
	wait $sub 2>/dev/null
	local ev
	ev=$(sed -n 2p "$f")
	assert_eq "event" "$(jq -r .method <<<"$ev")" "notification method"
	assert_eq "wire.a" "$(jq -r .params.event <<<"$ev")" "event name"
	assert_eq '{"k":[1,2]}' "$(jq -c .params.data <<<"$ev")" "data"
	assert_contains "$(jq -r .params.source <<<"$ev")" "control uid=" "source"
	assert_not_contains "$(cat "$f")" '"other"' "filtered by pattern"
}

test_200_concurrent_clients() {
	svcd_start
	local i pids=()
	for i in $(seq 1 200); do
		# socat's own wait for the reply is generous: 200 of them start
		# at once on a loaded machine (the daemon is not what is slow)
		printf '%s\n' "$R"',"id":'$i',"method":"ping"}' |
			socat -t 20 - "UNIX-CONNECT:$SOCK" >"$T/c$i.out" &
		pids+=($!)
	done
	wait "${pids[@]}"
	local n
	n=$(cat "$T"/c*.out | grep -c '"result":{"pong":true}')
	assert_eq "200" "$n" "every client answered"
	assert_eq "pong" "$(ctl ping)" "alive"
}

test_max_clients_busy() {
	CONF_TEXT=$'[control]\nmax_clients = 1'
	svcd_start
	# the one allowed client proves it is connected with a ping
	{ printf '%s\n' "$R"',"id":1,"method":"ping"}'; sleep 3; } |
		socat -t 3 - "UNIX-CONNECT:$SOCK" >"$T/holder.out" &
	local holder=$!
	wait_for 5 grep -q pong "$T/holder.out"
	# a read-only client: the refusal arrives without a request
	local out
	out=$(socat -T 2 -u "UNIX-CONNECT:$SOCK" -)
	assert_eq "Busy" "$(jq -r .error.data.class <<<"$out")" "class: $out"
	assert_eq "-32006" "$(jq -r .error.code <<<"$out")"
	assert_contains "$out" "too many clients (max 1)"
	kill $holder 2>/dev/null
	wait $holder 2>/dev/null
	wait_for 5 "$SVCCTL" -s "$SOCK" ping
}

test_stale_socket_replaced_live_refused() {
	svcd_start
	# a second svcd on the same socket refuses to start
	local rc=0 out
	out=$("$SVCD" -c "$T/svcd.conf" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "second svcd started"
	assert_contains "$out" "another svcd is already listening on $SOCK"
	assert_eq "pong" "$(ctl ping)" "first one still serves"
	# a stale socket (svcd killed) is replaced
	kill -KILL "$SVCD_PID"
	wait "$SVCD_PID" 2>/dev/null
	SVCD_PID=""
	[ -S "$SOCK" ] || fail "expected a stale socket"
	svcd_start
	assert_eq "pong" "$(ctl ping)" "replaced the stale socket"
}

test_symlink_refused() {
	ln -s "$T/elsewhere.sock" "$SOCK"
	svcd_write_conf
	local rc=0 out
	out=$("$SVCD" -c "$T/svcd.conf" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "svcd started on a symlink"
	assert_contains "$out" "refusing to use $SOCK: it is a symbolic link"
}

test_shutdown_wait_progress() {
	svcd_start
	local out
	out=$(rpc "$R"',"id":1,"method":"shutdown","params":{"wait":true}}')
	assert_eq "true" "$(head -n 1 <<<"$out" | jq -r .result.accepted)" "accepted"
	assert_contains "$out" '"method":"shutdown.progress"'
	assert_contains "$out" '"service":"control"'
	assert_eq '{"jsonrpc":"2.0","method":"shutdown.exit","params":{}}' \
		"$(tail -n 1 <<<"$out")" "exit notice last"
	svcd_wait_exit || fail "exit status $?"
}
