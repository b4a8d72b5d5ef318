#!/usr/bin/env bash
# t_bridge.sh — the Redis bridge with real svcd instances and a real
# redis-server on a Unix socket: both ways, no loops with three, Redis
# restarted mid-stream, a bad URL at config check, Redis down at start (TCP
# and an immediate connect error: svcd starts degraded and reconnects),
# [daemon] required checked.

REDIS_PID=""
declare -A NODE_PID=()

bridge_need_redis() {
	command -v redis-server >/dev/null 2>&1 ||
		skip "redis-server is not installed (.ci/deps installs it)"
	command -v redis-cli >/dev/null 2>&1 || skip "redis-cli is not installed"
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	trap 'bridge_cleanup' EXIT
}

bridge_cleanup() {
	local rc=$?
	for n in "${!NODE_PID[@]}"; do
		kill -KILL "${NODE_PID[$n]}" 2>/dev/null
		wait "${NODE_PID[$n]}" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for n in "${!NODE_PID[@]}"; do
			echo "--- $n log (tail) ---" >&2
			tail -n 15 "$T/$n.log" >&2
		done
	fi
	redis_stop
	(exit $rc)
	lib_cleanup
}

redis_start() {
	redis-server --port 0 --unixsocket "$T/redis.sock" --save "" \
		--appendonly no --dir "$T" >>"$T/redis.log" 2>&1 &
	REDIS_PID=$!
	wait_for 5 redis-cli -s "$T/redis.sock" ping
}

redis_stop() {
	[ -n "$REDIS_PID" ] || return 0
	kill -KILL "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=""
	rm -f "$T/redis.sock"
}

# node_start NAME PUBLISH SUBSCRIBE [RECONNECT_MIN RECONNECT_MAX]: svcd
# bridged to $BRIDGE_URL (default the Unix socket), once it answers and its
# bridge is connected (node_launch: once it answers).
node_start() {
	node_launch "$@"
	wait_for 5 node_connected "$1"
}

node_launch() {
	local n=$1
	cat >"$T/$n.conf" <<CONF
[daemon]
socket = $T/$n.sock
[bridge]
url = ${BRIDGE_URL:-unix://$T/redis.sock}
delivery = pubsub
publish = $2
subscribe = $3
reconnect_min = ${4:-20ms}
reconnect_max = ${5:-100ms}
CONF
	"$SVCD" -c "$T/$n.conf" >>"$T/$n.log" 2>&1 &
	NODE_PID[$n]=$!
	wait_for 10 "$SVCCTL" -s "$T/$n.sock" -t 1 ping
}

node_stop() {
	local n=$1 rc=0
	kill -TERM "${NODE_PID[$n]}"
	wait "${NODE_PID[$n]}" || rc=$?
	unset "NODE_PID[$n]"
	return $rc
}

nctl() {
	local n=$1
	shift
	"$SVCCTL" -s "$T/$n.sock" "$@"
}

node_connected() {
	[ "$(nctl "$1" --json status | jq -r .bridge.connected)" = true ]
}

# How many events named $2 node $1 has in its history.
count_events() {
	nctl "$1" --json events --last 1000 "$2" | jq '.events | length'
}

# has_events NODE EVENT N — at least N of them.
has_events() {
	[ "$(count_events "$1" "$2")" -ge "$3" ]
}

test_bridge_two_ways() {
	bridge_need_redis
	redis_start
	node_start a 'user.* order.*' '*'
	node_start b 'order.*' 'user.*'
	nctl a emit user.created id=1 >/dev/null || fail "emit on a"
	nctl b emit order.placed order_id=42 >/dev/null || fail "emit on b"
	wait_for 5 has_events b user.created 1
	wait_for 5 has_events a order.placed 1
	# b does not subscribe to order.*: its own only
	nctl b emit user.other >/dev/null
	wait_for 5 has_events a user.other 0
	local ev
	ev=$(nctl b --json events user.created | jq -c '.events[0]')
	assert_contains "$ev" '"data":{"id":1}' "data kept"
	assert_contains "$ev" '"source":"bridge origin=' "origin in source"
	local inst
	inst=$(nctl a --json status | jq -r .bridge.instance)
	assert_eq 16 "${#inst}" "instance id length"
	assert_contains "$ev" "/$inst time=" "a's instance id"
	assert_eq 1 "$(count_events a order.placed)" "a got order.placed once"
	assert_eq 1 "$(count_events b user.created)" "b got user.created once"
	assert_eq 1 "$(count_events b order.placed)" "b: its own, not echoed"
	node_stop a || fail "a exited with status $?"
	node_stop b || fail "b exited with status $?"
}

test_bridge_three_no_loops() {
	bridge_need_redis
	redis_start
	local n
	# publish = * would also share each node's service.state events
	for n in a b c; do node_start $n 'from.* done.*' '*'; done
	for n in a b c; do nctl $n emit "from.$n" >/dev/null; done
	for n in a b c; do
		wait_for 5 has_events $n 'from.*' 3
	done
	# a second round behind the first: by the time it arrived, any echo
	# of the first would have too
	for n in a b c; do nctl $n emit "done.$n" >/dev/null; done
	for n in a b c; do
		wait_for 5 has_events $n 'done.*' 3
	done
	local m
	for n in a b c; do
		for m in a b c; do
			assert_eq 1 "$(count_events $n from.$m)" "$n saw from.$m"
			assert_eq 1 "$(count_events $n done.$m)" "$n saw done.$m"
		done
		assert_eq 4 "$(nctl $n --json status | jq .bridge.received)" \
			"$n received"
	done
}

test_bridge_redis_restart() {
	bridge_need_redis
	redis_start
	# pub/sub keeps nothing for a subscriber that is not connected yet, so
	# the publisher must come back after the subscriber: its first retry is
	# 1-2 s after the loss (2 s, jittered 50-100 %), the subscriber's within
	# 100 ms of Redis being up.  With 300 ms the publisher's retry could land
	# just after Redis was back and before the subscriber's (seen under ASan).
	node_start a 'e.*' '' 2s 2s
	node_start b '' 'e.*'
	nctl a emit e.before >/dev/null
	wait_for 5 has_events b e.before 1
	nctl a health --fresh >/dev/null || fail "a healthy before"

	redis_stop
	local rc=0
	wait_for 5 bash -c "! '$SVCCTL' -s '$T/a.sock' health --fresh"
	nctl a health --fresh >/dev/null || rc=$?
	assert_eq 1 "$rc" "a degraded while Redis is down"
	local out
	out=$(nctl a health bridge --fresh)
	assert_contains "$out" "publish link to unix://$T/redis.sock down"
	for i in 1 2 3; do nctl a emit e.during n=$i >/dev/null; done
	wait_for 5 bash -c "[ \$('$SVCCTL' -s '$T/a.sock' --json status | jq .bridge.buffered) = 3 ]"

	redis_start
	wait_for 5 has_events b e.during 3
	wait_for 5 nctl a health --fresh
	wait_for 5 nctl b health --fresh
	assert_eq '[1,2,3]' "$(nctl b --json events e.during | jq -c '[.events[].data.n]')" \
		"buffered events in order"
	assert_contains "$(cat "$T/a.log")" "back after" "reconnect logged"
	node_stop a || fail "a exited with status $?"
	node_stop b || fail "b exited with status $?"
}

# health_is NODE RC — svcctl health (the last results, no fresh round) exits
# with RC.
health_is() {
	local rc=0
	nctl "$1" health >/dev/null 2>&1 || rc=$?
	[ "$rc" = "$2" ]
}

# bridge_health_events NODE HEALTHY — exactly one service.health event for
# the bridge with that healthy value.
bridge_health_events() {
	nctl "$1" --json events service.health |
		jq -e "[.events[].data | select(.service == \"bridge\" and .healthy == $2)] | length == 1"
}

# The bridge pushes its link state to the health monitor: with the default
# 30 s interval, `health` (no --fresh) shows the bridge degraded as soon as
# Redis dies, and healthy again as soon as it is back, with service.health
# events for both.
test_bridge_health_pushed_at_once() {
	bridge_need_redis
	redis_start
	node_start a 'e.*' ''
	wait_for 5 health_is a 0
	redis_stop
	wait_for 2 health_is a 1 # not at the next round, 30 s away
	local out
	out=$(nctl a health bridge)
	assert_contains "$out" "status: degraded"
	assert_contains "$out" "publish link to unix://$T/redis.sock down"
	wait_for 2 bridge_health_events a false

	redis_start
	wait_for 3 health_is a 0
	wait_for 2 bridge_health_events a true
	assert_eq 1 "$(nctl a --json status | jq .bridge.reconnects)" "one reconnect"
	node_stop a || fail "a exited with status $?"
}

test_bridge_config_errors() {
	local out rc=0
	printf '[bridge]\nurl = redis:/nope\npublish = *\n' >"$T/bad.conf"
	out=$("$SVCD" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "bad url exit status"
	assert_contains "$out" "bad.conf:2: bad value for 'url' in [bridge]: bad URL 'redis:/nope'"
	printf '[bridge]\nurl = unix:///x.sock\n' >"$T/ok.conf"
	rc=0
	out=$("$SVCD" --check-config -c "$T/ok.conf" 2>&1) || rc=$?
	assert_eq 0 "$rc" "good [bridge]: $out"
}

test_bridge_disabled_by_default() {
	svcd_start
	assert_eq '{"enabled":false}' "$(ctl --json status | jq -c .bridge)"
	ctl health >/dev/null || fail "healthy without a bridge"
	svcd_stop || fail "svcd exited with status $?"
}

# bridge_degraded NODE TEXT — `svcctl health` (the last results) exits 1
# and the bridge's entry says degraded with TEXT.
bridge_degraded() {
	local out rc=0
	out=$(nctl "$1" health bridge 2>&1) || rc=$?
	[ "$rc" = 1 ] && [[ $out == *"status: degraded"* ]] && [[ $out == *"$2"* ]]
}

# Redis down at start (TCP, the refusal comes later from the loop): svcd
# starts, health says the bridge is degraded and why, and once a
# redis-server listens on the port the bridge reaches it without a restart
# and events cross.
test_bridge_start_with_redis_down() {
	bridge_need_redis
	local port
	port=$(free_port)
	BRIDGE_URL=redis://127.0.0.1:$port node_launch a 'e.*' ''
	assert_eq degraded "$(nctl a --json services | jq -r '.services[] | select(.name == "bridge") | .state')" \
		"bridge running (degraded), not failed"
	wait_for 5 bridge_degraded a "publish link to redis://127.0.0.1:$port down"
	assert_contains "$(nctl a health bridge)" "retry in"
	assert_contains "$(cat "$T/a.log")" "cannot connect the publish link to redis://127.0.0.1:$port"
	assert_not_contains "$(cat "$T/a.log")" "start-up failed"

	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$T" >>"$T/redis.log" 2>&1 &
	REDIS_PID=$!
	wait_for 5 redis-cli -p "$port" ping
	wait_for 5 node_connected a
	wait_for 3 health_is a 0
	BRIDGE_URL=redis://127.0.0.1:$port node_start b '' 'e.*'
	nctl a emit e.after n=1 >/dev/null || fail "emit on a"
	wait_for 5 has_events b e.after 1
	node_stop a || fail "a exited with status $?"
	node_stop b || fail "b exited with status $?"
}

# The immediate error: connect() on a Unix path whose directory does not
# exist fails inside the connect call (as socket() does under
# RestrictAddressFamilies=AF_UNIX for a TCP URL). Before, the ping right
# after init saw the link down and svcd exited 1; now it starts degraded
# and keeps retrying.
test_bridge_immediate_error_at_start() {
	bridge_need_redis
	local dir=$T/later
	BRIDGE_URL=unix://$dir/redis.sock node_launch a 'e.*' '' 50ms 100ms
	wait_for 5 bridge_degraded a "publish link to unix://$dir/redis.sock down"
	assert_contains "$(nctl a health bridge)" "No such file or directory"
	kill -0 "${NODE_PID[a]}" || fail "svcd exited"

	mkdir "$dir"
	redis-server --port 0 --unixsocket "$dir/redis.sock" --save "" \
		--appendonly no --dir "$T" >>"$T/redis.log" 2>&1 &
	REDIS_PID=$!
	wait_for 5 redis-cli -s "$dir/redis.sock" ping
	wait_for 5 node_connected a
	BRIDGE_URL=unix://$dir/redis.sock node_start b '' 'e.*'
	nctl a emit e.after >/dev/null || fail "emit on a"
	wait_for 5 has_events b e.after 1
	node_stop a || fail "a exited with status $?"
	node_stop b || fail "b exited with status $?"
	rm -f "$dir/redis.sock"
}

test_bridge_required_key() {
	local out rc=0
	printf '[daemon]\nrequired = bridge, nope\n' >"$T/req.conf"
	out=$("$SVCD" --check-config -c "$T/req.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "unknown service in required"
	assert_contains "$out" "req.conf:2: [daemon] required: unknown service 'nope'"
	printf '[daemon]\nrequired = bridge hooks\n' >"$T/req.conf"
	rc=0
	out=$("$SVCD" --check-config -c "$T/req.conf" 2>&1) || rc=$?
	assert_eq 0 "$rc" "required = bridge hooks: $out"
}
