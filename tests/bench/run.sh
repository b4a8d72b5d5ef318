#!/bin/sh
# run.sh — the svcd benchmark: svcd vs Redis pub/sub vs a libev echo floor.
#
# Usage: tests/bench/run.sh   (normally through `make bench`)
# Environment:
#   BENCH_SECONDS=3   length of one throughput run
#   BENCH_RUNS=3      runs per cell; the table shows the median
#   BENCH_CG_N=20000  requests per callgrind measurement (the figure is the
#                     difference between N and N/5 requests, so start-up and
#                     shutdown cancel out)
#   BENCH_EVENTS=1000000  events for the "RSS after" figure
#   BENCH_SKIP="cg rss ..." skip parts: matrix cg onecore latency spawn rss
#   BENCH_BIN=build/bench  where the tools are; SVCD=build/svcd
#   BENCH_SKIP also takes "durable": no tests/bench/durable.sh after this
#   BENCH_SVCD_CONF_EXTRA  text appended to svcd's config (newlines as is),
#                     e.g. '[control]<newline>output_hard = 64K' to check that
#                     a disconnected subscriber is reported
# The 1-subscriber runs check that the subscriber got every event published
# while it was up (it is given up to 5 s to catch up before it is stopped);
# the table says so, with a WARNING when it got less than 99.9%.
# Server on CPU 0, clients on CPU 1 (taskset) when there are 2+ CPUs. In the
# throughput matrix all three servers are up at once and each cell's runs
# alternate svcd, Redis, floor, so drift on a shared machine cancels out of
# the ratios.
set -eu

BIN=${BENCH_BIN:-build/bench}
SVCD=${SVCD:-build/svcd}
SECS=${BENCH_SECONDS:-3}
RUNS=${BENCH_RUNS:-3}
CGN=${BENCH_CG_N:-20000}
EVENTS=${BENCH_EVENTS:-1000000}
SKIP=${BENCH_SKIP:-}

.ci/deps redis-server >&2 || exit 1
command -v valgrind >/dev/null || SKIP="$SKIP cg"

T=$(mktemp -d /tmp/svcd-bench.XXXXXX)
: >"$T/results"
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

if [ "$(nproc)" -ge 2 ]; then
	SRV="taskset -c 0"
	CLI="taskset -c 1"
else
	SRV=""
	CLI=""
fi
skip() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }

printf '[app]\nheartbeat_event = false\n[health]\ninterval = 1h\n' >"$T/svcd.conf"
if [ -n "${BENCH_SVCD_CONF_EXTRA:-}" ]; then
	printf '%s\n' "$BENCH_SVCD_CONF_EXTRA" >>"$T/svcd.conf"
fi

# ~100-byte payload, the same bytes for svcd and Redis.
DATA='{"user":"alice","action":"login","host":"web-01.example.org","n":12345,"ok":true,"tags":["a","b","c"]}'
PING='{"jsonrpc":"2.0","id":1,"method":"ping"}'
EMIT='{"jsonrpc":"2.0","id":1,"method":"emit","params":{"event":"bench.event","data":'"$DATA"'}}'
SUBSCRIBE='{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"events":["bench.*"]}}'
EVLINE='{"jsonrpc":"2.0","method":"event"'
# Redis gets what its clients send: RESP multibulk (loadgen -e unescapes).
resp() {
	printf '*%s\\r\\n' $#
	for a in "$@"; do printf '$%s\\r\\n%s\\r\\n' "${#a}" "$a"; done
}
RPUB=$(resp PUBLISH bench.event "$DATA")
RPING=$(resp PING)
RSUB="SUBSCRIBE bench.event"

# wait_sock PATH: until a connection succeeds (10 s).
wait_sock() {
	i=0
	while ! "$BIN/spawnready" -s "$1" -l "$2" -- true >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 400 ] && { echo "bench: $1 never answered" >&2; exit 1; }
		sleep 0.025
	done
}

# Several servers can be up at once (the matrix interleaves them): each
# kind's SOCK, SPID and subscriber state are kept in SOCK_<kind> etc.;
# `use KIND` makes them current, `keep` stores the current ones back.
use() {
	CUR=$1
	eval "SOCK=\${SOCK_$1:-}; SPID=\${SPID_$1:-}; SUBPID=\${SUBPID_$1:-}"
	eval "SUBUP=\${SUBUP_$1:-0}; SUBWANT=\${SUBWANT_$1:-0}"
	SUBOUT=$T/sub.$1.out
}
keep() {
	eval "SOCK_$CUR=\$SOCK; SPID_$CUR=\$SPID; SUBPID_$CUR=\$SUBPID"
	eval "SUBUP_$CUR=\$SUBUP; SUBWANT_$CUR=\$SUBWANT"
}

# start_server KIND [WRAP...]: sets SPID and SOCK (and makes KIND current).
start_server() {
	kind=$1
	shift
	case $kind in
	svcd)
		SOCK=$T/svcd.sock
		$SRV "$@" "$SVCD" -c "$T/svcd.conf" -s "$SOCK" -l warning \
			>>"$T/svcd.log" 2>&1 &
		SPID=$!
		wait_sock "$SOCK" "$PING" ;;
	redis)
		SOCK=$T/redis.sock
		$SRV "$@" redis-server --port 0 --unixsocket "$SOCK" \
			--save '' --appendonly no --daemonize no \
			--logfile "$T/redis.log" &
		SPID=$!
		wait_sock "$SOCK" "PING" ;;
	echo)
		SOCK=$T/echo.sock
		$SRV "$@" "$BIN/echo" "$SOCK" &
		SPID=$!
		wait_sock "$SOCK" "$PING" ;;
	esac
	PIDS="$PIDS $SPID"
	s_=$SOCK p_=$SPID
	use "$kind"
	SOCK=$s_ SPID=$p_
	keep
}

stop_server() {
	kill "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
}

# start_sub KIND: one plain subscriber on the client core; sets SUBPID.
# It counts messages: svcd event lines, Redis "*3" (pub/sub message) arrays.
# SUBWANT counts what was published while it is up (see one, cg_total).
start_sub() {
	use "$1"
	if [ "$1" = redis ]; then
		$CLI "$BIN/sub" -s "$SOCK" -r -a ':1' -m '*3' "$RSUB" \
			>"$SUBOUT" &
	else
		$CLI "$BIN/sub" -s "$SOCK" -m "$EVLINE" "$SUBSCRIBE" \
			>"$SUBOUT" &
	fi
	SUBPID=$!
	PIDS="$PIDS $SUBPID"
	SUBUP=1
	SUBWANT=0
	i=0
	until grep -q ready "$SUBOUT" 2>/dev/null; do
		i=$((i + 1))
		[ $i -ge 400 ] && { echo "bench: subscriber not ready" >&2; exit 1; }
		sleep 0.025
	done
	keep
}

# sub_count: the subscriber's message count now (asked with SIGUSR1), or
# its final count once it has exited (the server closed the connection).
sub_count() {
	if ! grep -q '^bytes=.* closed=' "$SUBOUT"; then
		k=$(grep -c '^count msgs=[0-9]* ' "$SUBOUT" || true)
		kill -USR1 "$SUBPID" 2>/dev/null || true
		i=0
		while [ "$(grep -c '^count msgs=[0-9]* ' "$SUBOUT" || true)" \
			-le "$k" ] && ! grep -q '^bytes=.* closed=' "$SUBOUT"; do
			i=$((i + 1))
			[ $i -ge 50 ] && break
			sleep 0.01
		done
	fi
	grep -E '^(count msgs=[0-9]+ |bytes=.* closed=)' "$SUBOUT" |
		tail -n 1 | field msgs
}

# sub_settle WANT: let the subscriber catch up: until it has WANT messages,
# its count has not grown for 0.5 s, or 5 s.
sub_settle() {
	last="" same=0 i=0
	while :; do
		got=$(sub_count)
		got=${got:-0}
		[ "$got" -ge "$1" ] && return 0
		if [ "$got" = "$last" ]; then same=$((same + 1)); else same=0; fi
		[ $same -ge 10 ] && return 0
		i=$((i + 1))
		[ $i -ge 100 ] && return 0
		last=$got
		sleep 0.05
	done
}

# stop_sub [KEY]: with KEY, first let the subscriber catch up, then add what
# it got and what was published to subgot.KEY and subwant.KEY (and note
# subclosed.KEY when the server closed its connection).
stop_sub() {
	if [ $# -gt 0 ]; then sub_settle "$SUBWANT"; fi
	kill "$SUBPID" 2>/dev/null || true
	wait "$SUBPID" 2>/dev/null || true
	SUBUP=0
	keep
	[ $# -gt 0 ] || return 0
	fin=$(grep '^bytes=.* closed=' "$SUBOUT" | tail -n 1)
	got=$(echo "$fin" | field msgs)
	g0=$(get "subgot.$1")
	w0=$(get "subwant.$1")
	put "subgot.$1" $((${g0:-0} + ${got:-0}))
	put "subwant.$1" $((${w0:-0} + SUBWANT))
	case $fin in *closed=1*) put "subclosed.$1" 1 ;; esac
	if [ $((${got:-0} * 1000)) -lt $((SUBWANT * 999)) ]; then
		echo "bench: WARNING: the $1 subscriber got ${got:-0} of $SUBWANT events" >&2
	fi
	return 0
}
SUBUP=0
SUBWANT=0

median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
put() { echo "$1 $2" >>"$T/results"; }
get() { awk -v k="$1" '$1==k {print $2}' "$T/results" | tail -n 1; }

# line KIND WORK: the request line and loadgen flags.
reqline() {
	case $1:$2 in
	svcd:ping) printf '%s\n' "$PING" ;;
	svcd:emit*) printf '%s\n' "$EMIT" ;;
	redis:ping) printf '%s\n' "$RPING" ;;
	redis:emit*) printf '%s\n' "$RPUB" ;;
	echo:ping) printf '%s\n' "$PING" ;;
	echo:*) printf '%s\n' "$EMIT" ;;
	esac
}

# one_run KIND WORK C P: one loadgen run against KIND, appended to its
# cell's runs file (req/s and p99).
one_run() {
	use "$1"
	work=$2 c=$3 p=$4
	r=""
	[ "$1" = redis ] && r=-e
	out=$($CLI "$BIN/loadgen" -s "$SOCK" -c "$c" -p "$p" -d "$SECS" \
		$r "$(reqline "$1" "$work")") ||
		{ echo "bench: loadgen failed: $1 $work" >&2; out="rps=0 p99_us=0"; }
	echo "$(echo "$out" | field rps) $(echo "$out" | field p99_us)" \
		>>"$T/runs.$1.$work.$c.$p"
	if [ "$SUBUP" = 1 ]; then
		rq=$(echo "$out" | field reqs)
		er=$(echo "$out" | field errors)
		SUBWANT=$((SUBWANT + ${rq:-0} - ${er:-0}))
	fi
	keep
}

# one_done KIND WORK C P: the cell's median req/s (and the median run's
# p99) into results.
one_done() {
	f=$T/runs.$1.$2.$3.$4
	rps=$(awk '{print $1}' "$f" | median)
	p99=$(awk -v m="$rps" '$1==m {print $2; exit}' "$f")
	put "rps.$1.$2.$3.$4" "$rps"
	put "p99.$1.$2.$3.$4" "$p99"
	echo "  $1 $2 C=$3 P=$4: $rps req/s (p99 ${p99} us)" >&2
}

# The matrix: svcd, Redis and the floor are all up (each on CPU 0, idle
# while another is measured) and every cell's runs alternate between them,
# so a slow minute on a shared machine hits all three alike and the ratios
# stay fair.
if ! skip matrix; then
	echo "bench: throughput, $RUNS x ${SECS}s per cell, runs interleaved" >&2
	for k in svcd redis echo; do start_server $k; done
	for work in ping emit0 emit1sub; do
		kinds="svcd redis echo"
		case $work in *1sub)
			kinds="svcd redis"
			for k in $kinds; do start_sub $k; done ;;
		esac
		for c in 1 50; do
			for p in 1 16; do
				n=0
				while [ $n -lt "$RUNS" ]; do
					for k in $kinds; do
						one_run $k $work $c $p
					done
					n=$((n + 1))
				done
				for k in $kinds; do one_done $k $work $c $p; done
			done
		done
		case $work in *1sub)
			for k in $kinds; do use $k; stop_sub $k; done ;;
		esac
	done
	for k in svcd redis echo; do use $k; stop_server; done
fi

# cg_ir KIND WORK P: server instructions per request under callgrind.
cg_total() {
	kind=$1 work=$2 p=$3 n=$4
	r=""
	[ "$kind" = redis ] && r=-e
	rm -f "$T"/cg.out.*
	start_server "$kind" valgrind --tool=callgrind \
		--callgrind-out-file="$T/cg.out.%p"
	case $work in *1sub) start_sub "$kind" ;; esac
	out=$($CLI "$BIN/loadgen" -s "$SOCK" -c 1 -p "$p" -n "$n" $r \
		"$(reqline "$kind" "$work")")
	rq=$(echo "$out" | field reqs)
	er=$(echo "$out" | field errors)
	SUBWANT=$((${rq:-0} - ${er:-0}))
	case $work in *1sub) stop_sub "cg.$kind" ;; esac
	stop_server
	awk '/^(summary|totals):/ {print $2; exit}' "$T"/cg.out.*
}

cg_ir() {
	lo=$(cg_total "$@" $((CGN / 5)))
	hi=$(cg_total "$@" "$CGN")
	ir=$(( (hi - lo) / (CGN - CGN / 5) ))
	put "ir.$1.$2.$3" "$ir"
	echo "  callgrind $1 $2 P=$3: $ir instructions/request" >&2
}

if ! skip cg; then
	echo "bench: callgrind, $CGN requests" >&2
	for p in 1 16; do
		cg_ir svcd emit1sub $p
		cg_ir redis emit1sub $p
	done
	cg_ir svcd ping 1
	cg_ir svcd ping 16
	cg_ir redis ping 1
	cg_ir redis ping 16
	cg_ir echo ping 1
	cg_ir echo ping 16
fi

# One core: the load generator joins the servers on CPU 0; the three
# servers are up together and their runs alternate, as in the matrix.
if ! skip onecore; then
	echo "bench: one core, C=1 P=1" >&2
	CLI0=$CLI
	if [ "$(nproc)" -ge 2 ]; then CLI="taskset -c 0"; fi
	for k in svcd redis echo; do start_server $k; done
	n=0
	while [ $n -lt "$RUNS" ]; do
		for k in svcd redis echo; do
			use $k
			r=""
			[ "$k" = redis ] && r=-e
			$CLI "$BIN/loadgen" -s "$SOCK" -c 1 -p 1 -d "$SECS" $r \
				"$(reqline "$k" ping)" | field rps >>"$T/one.$k"
		done
		n=$((n + 1))
	done
	for k in svcd redis echo; do
		put "one.$k" "$(median <"$T/one.$k")"
		echo "  one core $k ping: $(get one.$k) req/s" >&2
		use $k
		stop_server
	done
	CLI=$CLI0
fi

if ! skip latency; then
	echo "bench: emit -> subscriber latency, one event at a time" >&2
	PDATA='{"probe":"PROBE-MARK","user":"alice"}'
	start_server svcd
	put lat.svcd "$($CLI "$BIN/latprobe" -s "$SOCK" -n 5000 -m PROBE-MARK \
		"$SUBSCRIBE" '{"jsonrpc":"2.0","id":1,"method":"emit","params":{"event":"bench.probe","data":'"$PDATA"'}}')"
	stop_server
	start_server redis
	put lat.redis "$($CLI "$BIN/latprobe" -s "$SOCK" -r -a ':1' -n 5000 \
		-m PROBE-MARK "$RSUB" "PUBLISH bench.event '$PDATA'")"
	stop_server
fi

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

if ! skip spawn; then
	echo "bench: spawn to READY, idle RSS" >&2
	: >"$T/runs"
	: >"$T/runs2"
	for i in 1 2 3 4 5; do
		out=$($SRV "$BIN/spawnready" -N -s "$T/sp.sock" -l "$PING" -- \
			"$SVCD" -c "$T/svcd.conf" -s "$T/sp.sock" -l warning)
		echo "$out" | field ready_us >>"$T/runs"
		out=$($SRV "$BIN/spawnready" -r -s "$T/spr.sock" -l PING -- \
			redis-server --port 0 --unixsocket "$T/spr.sock" \
			--save '' --appendonly no --logfile "$T/redis.log")
		echo "$out" | field reply_us >>"$T/runs2"
	done
	put spawn.svcd "$(median <"$T/runs")"
	put spawn.redis "$(median <"$T/runs2")"
	start_server svcd
	sleep 0.2
	put rss.svcd "$(rss_kb "$SPID")"
	stop_server
	start_server redis
	sleep 0.2
	put rss.redis "$(rss_kb "$SPID")"
	stop_server
	start_server echo
	put rss.echo "$(rss_kb "$SPID")"
	stop_server
fi

if ! skip rss; then
	echo "bench: RSS over 2 x $EVENTS events (1 subscriber)" >&2
	start_server svcd
	start_sub svcd
	# warm-up: buffers reach their working size
	$CLI "$BIN/loadgen" -s "$SOCK" -c 50 -p 16 -n $((EVENTS / 10)) \
		"$EMIT" >/dev/null
	put rss.svcd.warm "$(rss_kb "$SPID")"
	$CLI "$BIN/loadgen" -s "$SOCK" -c 50 -p 16 -n "$EVENTS" "$EMIT" >/dev/null
	put rss.svcd.events "$(rss_kb "$SPID")"
	$CLI "$BIN/loadgen" -s "$SOCK" -c 50 -p 16 -n "$EVENTS" "$EMIT" >/dev/null
	put rss.svcd.events2 "$(rss_kb "$SPID")"
	stop_sub
	stop_server
fi

# ---- the table ------------------------------------------------------------
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || b == 0) print "-";
		else printf "%.2fx", a / b }'
}
num() { v=$(get "$1"); echo "${v:--}"; }

# subs KEY: what the 1-subscriber runs' subscribers got (KEY is "" for the
# matrix, "cg." for callgrind) and a WARNING per server that lost events.
subs() {
	line="" warn=""
	for kn in svcd:svcd:emit redis:Redis:PUBLISH; do
		kind=${kn%%:*}
		name=${kn#*:}
		row="${name%%:*} ${name#*:}, 1 sub"
		name=${name%%:*}
		w=$(get "subwant.$1$kind")
		[ -n "$w" ] || continue
		g=$(get "subgot.$1$kind")
		g=${g:-0}
		if [ -z "$line" ]; then
			line="subscriber got $g of $w events ($name)"
		else
			line="$line, $g of $w ($name)"
		fi
		[ $((g * 1000)) -lt $((w * 999)) ] || continue
		if [ "$(get "subclosed.$1$kind")" = 1 ]; then
			why="$name disconnected it"
		else
			why="it fell behind ($name dropped or has not delivered the rest)"
		fi
		pc=$(awk -v g="$g" -v w="$w" 'BEGIN {printf "%.1f", 100 * g / w}')
		warn="${warn}WARNING: the $name subscriber got $pc% of the events published: $why; the \"$row\" rows measure fewer than 1 subscriber and are not valid
"
		case $kind in
		svcd) l=$(grep -m 1 'stopped reading' "$T/svcd.log" 2>/dev/null || true) ;;
		redis)
			l=$(grep -m 1 'output buffer limit' "$T/redis.log" 2>/dev/null || true)
			[ -z "$l" ] || l=": it closed a client for overcoming of output buffer limits (client-output-buffer-limit pubsub)" ;;
		esac
		[ -z "$l" ] || warn="$warn  ($name log: ${l#*: })
"
	done
	[ -z "$line" ] || echo "$line"
	printf '%s' "$warn"
}

echo
echo "svcd benchmark — $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "server on CPU 0, clients on CPU 1; median of $RUNS x ${SECS}s; payload ${#DATA} bytes"
echo
if ! skip matrix; then
	printf '%-26s %10s %10s %10s %10s %9s %9s\n' "req/s" "C=1,P=1" \
		"C=1,P=16" "C=50,P=1" "C=50,P=16" "vs Redis" "vs floor"
	for row in "svcd ping:svcd.ping:redis.ping:echo.ping" \
		"Redis PING:redis.ping::echo.ping" \
		"echo floor (ping line):echo.ping::" \
		"svcd emit, 0 subs:svcd.emit0:redis.emit0:echo.emit0" \
		"Redis PUBLISH, 0 subs:redis.emit0::echo.emit0" \
		"svcd emit, 1 sub:svcd.emit1sub:redis.emit1sub:echo.emit0" \
		"Redis PUBLISH, 1 sub:redis.emit1sub::echo.emit0" \
		"echo floor (emit line):echo.emit0::"; do
		name=${row%%:*}
		rest=${row#*:}
		k=${rest%%:*}
		rest=${rest#*:}
		kr=${rest%%:*}
		kf=${rest#*:}
		printf '%-26s' "$name"
		for cp in 1.1 1.16 50.1 50.16; do
			printf ' %10s' "$(num "rps.$k.$cp")"
		done
		vr="-" vf="-"
		[ -n "$kr" ] && vr=$(ratio "$(get "rps.$k.50.16")" "$(get "rps.$kr.50.16")")
		[ -n "$kf" ] && vf=$(ratio "$(get "rps.$k.50.16")" "$(get "rps.$kf.50.16")")
		printf ' %9s %9s\n' "$vr" "$vf"
	done
	echo "(ratios at C=50, P=16)"
	subs ""
	echo
fi
if ! skip cg; then
	printf '%-34s %10s %10s\n' "server instructions / request" P=1 P=16
	printf '%-34s %10s %10s   (%s / %s of Redis)\n' "svcd emit, 1 sub" \
		"$(num ir.svcd.emit1sub.1)" "$(num ir.svcd.emit1sub.16)" \
		"$(ratio "$(get ir.svcd.emit1sub.1)" "$(get ir.redis.emit1sub.1)")" \
		"$(ratio "$(get ir.svcd.emit1sub.16)" "$(get ir.redis.emit1sub.16)")"
	printf '%-34s %10s %10s\n' "Redis PUBLISH, 1 sub" \
		"$(num ir.redis.emit1sub.1)" "$(num ir.redis.emit1sub.16)"
	printf '%-34s %10s %10s   (%s / %s of Redis)\n' "svcd ping" \
		"$(num ir.svcd.ping.1)" "$(num ir.svcd.ping.16)" \
		"$(ratio "$(get ir.svcd.ping.1)" "$(get ir.redis.ping.1)")" \
		"$(ratio "$(get ir.svcd.ping.16)" "$(get ir.redis.ping.16)")"
	printf '%-34s %10s %10s\n' "Redis PING" "$(num ir.redis.ping.1)" \
		"$(num ir.redis.ping.16)"
	printf '%-34s %10s %10s\n' "echo floor" "$(num ir.echo.ping.1)" \
		"$(num ir.echo.ping.16)"
	subs cg.
	echo
fi
if ! skip onecore; then
	echo "one core (everything on CPU 0), C=1, P=1 ping:"
	echo "  svcd $(num one.svcd)  Redis $(num one.redis)  floor $(num one.echo) req/s;" \
		"svcd/floor $(ratio "$(get one.svcd)" "$(get one.echo)")," \
		"svcd/Redis $(ratio "$(get one.svcd)" "$(get one.redis)")"
fi
if ! skip latency; then
	echo "emit -> subscriber, one at a time (us):"
	echo "  svcd  $(awk '$1=="lat.svcd" {$1=""; print}' "$T/results")"
	echo "  Redis $(awk '$1=="lat.redis" {$1=""; print}' "$T/results")"
fi
if ! skip spawn; then
	echo "spawn -> READY=1: svcd $(num spawn.svcd) us (Redis to first PONG $(num spawn.redis) us)"
	echo "idle RSS: svcd $(num rss.svcd) kB, Redis $(num rss.redis) kB, floor $(num rss.echo) kB"
fi
if ! skip rss; then
	echo "svcd RSS, 1 subscriber, C=50 P=16 emits: $(num rss.svcd.warm) kB after $((EVENTS / 10)) (warm-up), $(num rss.svcd.events) kB after +$EVENTS, $(num rss.svcd.events2) kB after +$EVENTS more"
fi
