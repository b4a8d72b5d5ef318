#!/usr/bin/env bash
# t_bridge_streams.sh — the bridge with delivery = streams: a real
# redis-server on 127.0.0.1 (a free port, AOF on so that a restart keeps the
# stream) and three svcd nodes a, b, c that all publish and subscribe t.*.
# Faults: Redis killed and restarted mid-stream, a node restarted, a node
# frozen (SIGSTOP) 10 s, a slow node (a bus queue of 2 events); after each,
# every event an origin accepted has reached every other node exactly once
# (at least once on the wire, duplicates dropped), in per-origin order.
# Then AUTH right and wrong, trimming reported as a gap, svcctl peers,
# publish = * without service.*, and a unix:// URL through a tunnel.

REDIS_PID=""
REDIS_PORT=""
declare -A NODE_PID=()
declare -A SENT=()

need_redis() {
	command -v redis-server >/dev/null 2>&1 ||
		skip "redis-server is not installed (.ci/deps installs it)"
	command -v redis-cli >/dev/null 2>&1 || skip "redis-cli is not installed"
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	trap 'streams_cleanup' EXIT
}

streams_cleanup() {
	local rc=$?
	for n in "${!NODE_PID[@]}"; do
		kill -CONT "${NODE_PID[$n]}" 2>/dev/null
		kill -KILL "${NODE_PID[$n]}" 2>/dev/null
		wait "${NODE_PID[$n]}" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for n in "${!NODE_PID[@]}"; do
			echo "--- $n log (tail) ---" >&2
			tail -n 20 "$T/$n.log" >&2
		done
		tail -n 20 "$T/redis.log" >&2
	fi
	redis_kill
	[ -n "${TUNNEL_PID:-}" ] && kill "$TUNNEL_PID" 2>/dev/null
	(exit $rc)
	lib_cleanup
}

# redis_run [ARGS...]: redis-server on 127.0.0.1:$REDIS_PORT, AOF fsynced at
# every write (a kill loses nothing Redis answered).
redis_run() {
	[ -n "$REDIS_PORT" ] || REDIS_PORT=$(free_port)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
		--appendonly yes --appendfsync always --dir "$T" "$@" \
		>>"$T/redis.log" 2>&1 &
	REDIS_PID=$!
	wait_for 5 redis_up "$@"
}

redis_up() {
	local out
	out=$(redis-cli -p "$REDIS_PORT" ping 2>&1)
	[[ $out == PONG || $out == *NOAUTH* ]]
}

redis_kill() {
	[ -n "$REDIS_PID" ] || return 0
	kill -KILL "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=""
}

# node_launch NAME [EXTRA [BUS]]: svcd node NAME bridged with streams,
# publish and subscribe t.*, with a journal (its history outlives a
# restart); EXTRA lines go in [bridge], BUS in [bus].
node_launch() {
	local n=$1
	cat >"$T/$n.conf" <<CONF
[daemon]
socket = $T/$n.sock
[bus]
history = 100000
${3:-}
[journal]
path = $T/$n.db
[bridge]
url = ${BRIDGE_URL:-redis://127.0.0.1:$REDIS_PORT}
node = $n
publish = ${PUBLISH:-t.*}
subscribe = t.*
reconnect_min = 20ms
reconnect_max = 200ms
ping_interval = 200ms
ping_timeout = 1s
${2:-}
CONF
	"$SVCD" -c "$T/$n.conf" >>"$T/$n.log" 2>&1 &
	NODE_PID[$n]=$!
	wait_for 10 "$SVCCTL" -s "$T/$n.sock" -t 1 ping
}

node_start() {
	node_launch "$@"
	wait_for 10 node_connected "$1"
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

# emit_fast NODE COUNT: COUNT events t.NODE {"n":k} pipelined into the
# control socket, numbered on from the last; all must be accepted.
emit_fast() {
	local n=$1 c=$2 from=$((${SENT[$1]:-0} + 1))
	local to=$((from + c - 1))
	awk -v f="$from" -v t="$to" -v n="$n" 'BEGIN { for (i = f; i <= t; i++)
		printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"t.%s\",\"data\":{\"n\":%d}}}\n", i, n, i }' |
		socat -t 5 - "UNIX-CONNECT:$T/$n.sock" >"$T/emit.$n.out"
	assert_eq "$c" "$(grep -c '"result"' "$T/emit.$n.out")" "$n accepted $c"
	SENT[$n]=$to
}

# emit_slow NODE COUNT: the same, one svcctl emit at a time (spread in
# time, so that a fault lands mid-stream); run in the background, the
# caller then adds COUNT to SENT[NODE].
emit_slow() {
	local n=$1 c=$2 from=$((${SENT[$1]:-0} + 1)) i
	for ((i = from; i < from + c; i++)); do
		nctl "$n" emit "t.$n" "n=$i" >/dev/null ||
			{ echo "emit $i on $n failed" >&2; return 1; }
	done
}

# seen NODE ORIGIN: the n of every t.ORIGIN event on NODE's bus, in order.
seen() {
	nctl "$1" --json events --last 100000 "t.$2" | jq -c '[.events[].data.n]'
}

# has_all NODE ORIGIN: NODE holds t.ORIGIN 1..SENT[ORIGIN] (maybe more).
has_all() {
	[ "$(nctl "$1" --json events --last 100000 "t.$2" | jq '.events | length')" -ge "${SENT[$2]}" ]
}

# every_node_has_all: wait until each node has every other's events, then
# check they are exactly 1..N, in order, once.
every_node_has_all() {
	local n o want
	for n in "$@"; do
		for o in "$@"; do
			[ "$n" = "$o" ] && continue
			[ "${SENT[$o]:-0}" -gt 0 ] || continue
			wait_for 60 has_all "$n" "$o"
		done
	done
	for n in "$@"; do
		for o in "$@"; do
			[ "$n" = "$o" ] && continue
			[ "${SENT[$o]:-0}" -gt 0 ] || continue
			want=$(seq -s, 1 "${SENT[$o]}")
			assert_eq "[$want]" "$(seen "$n" "$o")" \
				"$n: every t.$o once, in order"
		done
	done
}

# The four faults, one after the other, on one Redis and three nodes.
test_streams_faults() {
	need_redis
	redis_run
	local n pid
	for n in a b c; do node_start $n; done
	for n in a b c; do emit_fast $n 200; done
	every_node_has_all a b c
	assert_eq 0 "$(nctl a --json status | jq .bridge.duplicates)" "no duplicates so far"

	# 1. Redis killed and restarted while a publishes
	emit_slow a 300 &
	pid=$!
	wait_for 10 has_events b t.a 260
	redis_kill
	wait_for 5 bash -c "! '$SVCCTL' -s '$T/a.sock' health --fresh"
	redis_run
	wait $pid || fail "emits on a failed"
	SENT[a]=$((SENT[a] + 300))
	emit_fast b 100
	every_node_has_all a b c
	assert_contains "$(cat "$T/a.log")" "publish link to redis://127.0.0.1:$REDIS_PORT lost"

	# 2. a node restarted: what was published meanwhile is read on return
	node_stop b || fail "b exited with status $?"
	emit_fast a 150
	emit_fast c 150
	node_start b
	every_node_has_all a b c

	# 3. a node frozen 10 s (its links stop answering; Redis keeps its
	# entries; when it thaws it reads them)
	kill -STOP "${NODE_PID[c]}"
	emit_slow a 100 &
	pid=$!
	emit_fast b 100
	wait $pid || fail "emits on a failed"
	SENT[a]=$((SENT[a] + 100))
	sleep 10 # the freeze itself
	kill -CONT "${NODE_PID[c]}"
	every_node_has_all a b c

	# 4. a slow node: a bus of two events, so most reads find it full;
	# the bridge pauses instead of dropping
	node_stop c || fail "c exited with status $?"
	node_start c "" $'queue_size = 2\nbatch = 1'
	emit_fast a 500
	emit_fast b 500
	every_node_has_all a b c
	[ "$(nctl c --json status | jq .bridge.pauses)" -gt 0 ] ||
		fail "c's bus was never full: not a slow node"
	for n in a b c; do
		assert_eq 0 "$(nctl $n --json status | jq '.bridge.in_dropped + .bridge.dropped + .bridge.gaps')" \
			"$n: nothing dropped, no gap"
	done
	local dups=0
	for n in a b c; do
		dups=$((dups + $(nctl $n --json status | jq .bridge.duplicates)))
	done
	echo "duplicates dropped across the faults: $dups"
	for n in a b c; do node_stop $n || fail "$n exited with status $?"; done
}

has_events() {
	[ "$(nctl "$1" --json events --last 100000 "$2" | jq '.events | length')" -ge "$3" ]
}

# A frozen Redis (SIGSTOP) keeps the TCP connections open: only the PINGs
# tell. Health goes unhealthy with a current reason at once, the links are
# reconnected when it thaws, and nothing is lost.
test_streams_redis_frozen() {
	need_redis
	redis_run
	node_start a
	node_start b
	emit_fast a 20
	every_node_has_all a b
	kill -STOP "$REDIS_PID"
	emit_fast a 20
	wait_for 5 bash -c "! '$SVCCTL' -s '$T/a.sock' health"
	assert_contains "$(nctl a health bridge 2>&1)" "no answer from Redis in 1.0s"
	wait_for 5 bash -c "'$SVCCTL' -s '$T/b.sock' health bridge 2>&1 | grep -q 'no answer from Redis'"
	kill -CONT "$REDIS_PID"
	every_node_has_all a b
	wait_for 5 nctl a health
	[ "$(nctl a --json status | jq .bridge.timeouts)" -ge 1 ] || fail "no timeout counted"
}

# A node restarted with a journal: events it accepted while Redis was away
# are sent after the restart (the published-up-to cursor), and receivers
# keep deduplicating because seq goes on.
test_streams_publisher_restart_with_journal() {
	need_redis
	redis_run
	node_start b
	node_start a
	emit_fast a 50
	every_node_has_all a b
	redis_kill
	wait_for 5 bash -c "[ \$('$SVCCTL' -s '$T/a.sock' --json status | jq -r .bridge.links.publish.up) = false ]"
	emit_fast a 50 # accepted and journaled, Redis away
	kill -KILL "${NODE_PID[a]}"
	wait "${NODE_PID[a]}" 2>/dev/null
	unset "NODE_PID[a]"
	redis_run
	node_start a
	every_node_has_all a b
	assert_contains "$(cat "$T/a.log")" "sent again"
	emit_fast a 10
	every_node_has_all a b
	assert_eq 0 "$(nctl b --json status | jq .bridge.gaps)" "no gap"
}

# Trimmed before a stopped node read it: a gap report, never a silent skip.
test_streams_trim_gap() {
	need_redis
	redis_run
	node_start a "maxlen = 10"
	node_start b
	emit_fast a 5
	every_node_has_all a b
	node_stop b || fail "b exited with status $?"
	emit_fast a 1000
	node_start b
	wait_for 10 bash -c "[ \$('$SVCCTL' -s '$T/b.sock' --json status | jq .bridge.gaps) -ge 1 ]"
	local gap
	gap=$(nctl b --json events bridge.gap | jq -c '.events[0].data')
	# from: the seq after the last one b saw (a's t.a n=5)
	local from
	from=$(($(nctl a --json events t.a | jq '[.events[] | select(.data.n == 5)][0].seq') + 1))
	assert_contains "$gap" "\"node\":\"a\",\"from\":$from,"
	echo "$gap" | jq -e '.missing >= 800 and .missing < 1000' >/dev/null ||
		fail "gap size: $gap"
	assert_contains "$(cat "$T/b.log")" "bridge: gap from a: events #$from.."
	nctl b --json peers | jq -e '.peers[] | select(.node == "a") | .gaps >= 1' >/dev/null ||
		fail "peers shows the gap: $(nctl b --json peers)"
	# the newest ones did arrive, in order
	assert_eq "$((SENT[a]))" "$(seen b a | jq '.[-1]')" "the last one arrived"
}

# health_is NODE STATUS [SERVICE]: NODE's health (or SERVICE's) says STATUS.
health_is() {
	[ "$(nctl "$1" --json health ${3:-} | jq -r .status)" = "$2" ]
}

# AUTH refused is a configuration Redis will not take: the bridge is
# `failed` (not degraded) with a reason naming the link and Redis's
# message, never the password; fixing the password file is enough (it is
# read again before every reconnect), and the health is ok again.
test_streams_auth() {
	need_redis
	printf 's3cret-pw\n' >"$T/pw"
	chmod 600 "$T/pw"
	redis_run --requirepass s3cret-pw
	node_start a "password_file = $T/pw"
	node_start b "password_file = $T/pw"
	emit_fast a 20
	every_node_has_all a b

	printf 'wrong-pw\n' >"$T/bad"
	chmod 600 "$T/bad"
	node_launch c "password_file = $T/bad"
	wait_for 5 health_is c failed
	local out rc=0 entry
	out=$(nctl c health 2>&1) || rc=$?
	assert_eq 2 "$rc" "svcctl health exits 2 (failed)"
	assert_contains "$out" "status: failed"
	entry=$(nctl c --json health bridge | jq -c '.services[0]')
	assert_eq failed "$(jq -r .state <<<"$entry")" "bridge entry state"
	assert_eq false "$(jq -r .healthy <<<"$entry")" "bridge entry healthy"
	local err
	err=$(jq -r .error <<<"$entry")
	assert_contains "$err" "publish link to redis://127.0.0.1:$REDIS_PORT refused"
	assert_contains "$err" "AUTH failed: WRONGPASS"
	assert_not_contains "$err" "wrong-pw" "password in the health error"
	assert_not_contains "$err" "s3cret-pw" "password in the health error"
	assert_eq failed "$(nctl c --json services | jq -r '.services[] | select(.name == "bridge") | .state')" \
		"services shows the bridge failed"
	assert_eq 1 "$(nctl c --json status | jq .services.failed)" "status counts it failed"
	assert_contains "$(nctl c metrics)" 'svcd_service_state{service="bridge",state="failed"} 1' "the metrics say failed too"
	# the change was pushed as a service.health event with failed: true
	wait_for 5 bash -c "'$SVCCTL' -s '$T/c.sock' --json events service.health |
		jq -e '[.events[].data | select(.service == \"bridge\" and .failed == true)] | length > 0'"
	assert_not_contains "$(cat "$T/c.log")" "wrong-pw" "password logged"

	# the password file fixed: the next reconnect authenticates, ok again
	printf 's3cret-pw\n' >"$T/bad"
	wait_for 10 health_is c ok
	wait_for 10 node_connected c
	assert_eq running "$(nctl c --json health bridge | jq -r '.services[0].state')" \
		"bridge back to running"
	nctl c health >/dev/null || fail "svcctl health exits $? once fixed"
	emit_fast c 3
	wait_for 10 has_all a c
	assert_not_contains "$(cat "$T/c.log")" "s3cret-pw" "password logged"

	# no password: NOAUTH is refused too, failed
	node_launch d ""
	wait_for 5 health_is d failed
	assert_contains "$(nctl d --json health bridge | jq -r '.services[0].error')" "NOAUTH"

	# a world-readable password file is refused
	chmod 644 "$T/bad"
	printf '[bridge]\nurl = redis://127.0.0.1:1\npassword_file = %s\n' "$T/bad" >"$T/ro.conf"
	rc=0
	out=$("$SVCD" --check-config -c "$T/ro.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "world-readable password file"
	assert_contains "$out" "readable or writable by others"
}

# An ACL that lets the bridge in but forbids XADD (NOPERM) is a refusal
# too: failed with Redis's message, the events kept in the buffer (not
# rejected and dropped), the reconnects backing off (not a tight loop of
# connect, refused, connect); once the ACL allows XADD they all go out.
test_streams_acl_refused() {
	need_redis
	printf 'acl-pw\n' >"$T/apw"
	chmod 600 "$T/apw"
	redis_run
	redis-cli -p "$REDIS_PORT" ACL SETUSER svcd on '>acl-pw' '~*' '&*' \
		'+@all' '-xadd' >/dev/null || fail "ACL SETUSER"
	node_start b ""
	node_start e "user = svcd
password_file = $T/apw"
	emit_fast e 3
	wait_for 10 health_is e failed
	local err
	err=$(nctl e --json health bridge | jq -r '.services[0].error')
	assert_contains "$err" "publish link to redis://127.0.0.1:$REDIS_PORT refused"
	assert_contains "$err" "XADD refused: NOPERM"
	assert_not_contains "$err" "acl-pw" "password in the health error"
	assert_eq 0 "$(nctl e --json status | jq .bridge.rejected)" "no event rejected"
	assert_eq 0 "$(nctl e --json status | jq .bridge.dropped)" "no event dropped"
	# the retry delay grows towards reconnect_max (200ms), from 20ms
	wait_for 10 bash -c "'$SVCCTL' -s '$T/e.sock' --json health bridge |
		jq -r '.services[0].error' | grep -q 'retry in 0\.[12]s'"
	redis-cli -p "$REDIS_PORT" ACL SETUSER svcd '+xadd' >/dev/null || fail "ACL SETUSER +xadd"
	wait_for 10 has_all b e
	wait_for 10 health_is e ok
	assert_eq 0 "$(nctl e --json status | jq .bridge.rejected)" "none rejected after"
	assert_eq 3 "$(nctl e --json status | jq .bridge.published)" "the three published"
}

test_streams_peers_and_own_events() {
	need_redis
	redis_run
	PUBLISH='*' node_start a
	PUBLISH='*' node_start b
	emit_fast a 3
	every_node_has_all a b
	# publish = * leaves out svcd's own service.* events
	assert_eq 0 "$(nctl b --json events 'service.*' | jq '[.events[] | select(.source | startswith("bridge"))] | length')" \
		"no service.* from a"
	local out
	out=$(nctl b peers)
	assert_contains "$out" "NODE"
	assert_contains "$out" "a"
	nctl b --json peers | jq -e '.peers[] | select(.node == "a") | .seq > 0 and .received == 3' >/dev/null ||
		fail "peers: $(nctl b --json peers)"
	wait_for 5 bash -c "'$SVCCTL' -s '$T/b.sock' --json peers | jq -e '.peers[] | select(.node == \"b\") | .lag == 0'"
	# names of another prefix cannot collide: svcd.staging vs svcd
	redis-cli -p "$REDIS_PORT" XADD 'svcd.staging|events' '*' m '{"event":"t.x"}' >/dev/null
	emit_fast a 1
	every_node_has_all a b
	assert_eq 0 "$(nctl b --json status | jq .bridge.invalid)" "nothing invalid"
}

# A unix:// URL, as one to a local TLS tunnel (stunnel or spiped) would be:
# socat stands in for the tunnel, relaying a Unix socket to Redis's port.
test_streams_unix_tunnel() {
	need_redis
	command -v socat >/dev/null 2>&1 || skip "socat is not installed"
	redis_run
	socat "UNIX-LISTEN:$T/tunnel.sock,fork" "TCP:127.0.0.1:$REDIS_PORT" &
	TUNNEL_PID=$!
	wait_for 5 test -S "$T/tunnel.sock"
	BRIDGE_URL=unix://$T/tunnel.sock node_start a
	node_start b
	emit_fast a 10
	emit_fast b 10
	every_node_has_all a b
}

# sentinel://: one master, one replica, three sentinels on 127.0.0.1; the
# master is killed while a publishes. The bridge asks the sentinels again
# after the link error, follows the promoted replica, resends what was in
# flight, and every event still reaches b once, in order.
test_streams_sentinel_failover() {
	need_redis
	command -v redis-sentinel >/dev/null 2>&1 ||
		skip "redis-sentinel is not installed (.ci/deps installs it)"
	local pm pr i ps sp=() surl=""
	pm=$(free_port)
	pr=$(free_port)
	REDIS_PORT=$pm
	redis_run
	mkdir -p "$T/replica"
	redis-server --port "$pr" --bind 127.0.0.1 --save "" --appendonly yes \
		--appendfsync always --dir "$T/replica" --replicaof 127.0.0.1 "$pm" \
		>>"$T/replica.log" 2>&1 &
	local rpid=$!
	wait_for 10 bash -c "redis-cli -p $pr info replication | grep -q 'master_link_status:up'"
	for i in 1 2 3; do
		ps=$(free_port)
		cat >"$T/sentinel$i.conf" <<CONF
port $ps
bind 127.0.0.1
dir $T
sentinel monitor m1 127.0.0.1 $pm 2
sentinel down-after-milliseconds m1 500
sentinel failover-timeout m1 5000
CONF
		redis-sentinel "$T/sentinel$i.conf" >>"$T/sentinel$i.log" 2>&1 &
		sp+=($!)
		surl+="${surl:+,}127.0.0.1:$ps"
		wait_for 5 redis-cli -p "$ps" ping
	done
	# every sentinel sees the replica and the other sentinels
	wait_for 20 bash -c "for p in \$(echo '$surl' | tr , ' ' | sed 's/127.0.0.1://g'); do redis-cli -p \$p sentinel master m1 | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2 || exit 1; done"
	BRIDGE_URL="sentinel://$surl/m1" node_start a
	BRIDGE_URL="sentinel://$surl/m1" node_start b
	assert_eq "127.0.0.1:$pm" "$(nctl a --json status | jq -r .bridge.master_addr)" "a asked the sentinels"
	emit_fast a 50
	every_node_has_all a b

	emit_slow a 300 &
	local pid=$!
	wait_for 10 has_events b t.a 100
	redis_kill # the master
	wait $pid || fail "emits on a failed"
	SENT[a]=$((SENT[a] + 300))
	wait_for 30 bash -c "[ \"\$('$SVCCTL' -s '$T/a.sock' --json status | jq -r .bridge.master_addr)\" = 127.0.0.1:$pr ]"
	every_node_has_all a b
	[ "$(nctl a --json status | jq .bridge.failovers)" -ge 1 ] || fail "no failover counted"
	assert_contains "$(cat "$T/a.log")" "master m1 is at 127.0.0.1:$pr"
	for p in "${sp[@]}" $rpid; do kill "$p" 2>/dev/null; done
}
