#!/bin/sh
# durable.sh — durable emit: svcd's journal vs Redis's AOF, and the fsync floor.
#
# Usage: tests/bench/durable.sh   (normally through `make bench`)
# Environment:
#   BENCH_SECONDS=3   length of one throughput run
#   BENCH_RUNS=3      runs per cell; the table shows the median
#   BENCH_BIN=build/bench  where the tools are; SVCD=build/svcd,
#                     SVCCTL=build/svcctl
#   BENCH_DIR         where the journals and AOFs go (default $TMPDIR or
#                     /tmp): it must be on the disk being measured
# Four servers are up at once, each on its own files: svcd with [journal]
# sync = always and sync = batch, redis-server with appendonly yes and
# appendfsync always and everysec. Each run takes them in turn (svcd
# always, Redis always, svcd batch, Redis everysec), so drift on a shared
# machine cancels out of the ratios. Redis's automatic AOF rewrite is off:
# its forked child would otherwise run (on the server's CPU) through the
# next server's runs; svcd's checkpoints run in its own threads. Same clients (C=50, P=16), same
# ~100-byte payload (an emit; an XADD of it). fsyncs per event come from
# the journal's own figures (fsyncs, commits, loop_iterations), no strace.
# The C=1, P=1 rows are the latency of one acknowledged event, against the
# latency of one write + fdatasync on the same disk (fsync_floor), taken
# from the servers' CPU (this VM's disk interrupts may arrive on the other
# one: a thread on CPU 0 then waits for a wake-up the floor would not), and
# the same two servers with their files on tmpfs (/dev/shm, where a sync
# costs nothing): what each adds to the fsync. The floor is taken three
# ways (appending; over the same page; one block after the other over a
# file already written, as a WAL that has started over), and beside it
# what an embedded store alone costs for one durable event (store_floor:
# SQLite as the journal uses it, LMDB, RocksDB, each when built in) and
# svcd's round trip for a request that waits for nothing (ping, C=1).
set -eu

BIN=${BENCH_BIN:-build/bench}
SVCD=${SVCD:-build/svcd}
SVCCTL=${SVCCTL:-build/svcctl}
SECS=${BENCH_SECONDS:-3}
RUNS=${BENCH_RUNS:-3}

.ci/deps redis-server jq >&2 || exit 1

T=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/svcd-durable.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
	[ -z "${SHM:-}" ] || rm -rf "$SHM"
}
trap cleanup EXIT INT TERM

if [ "$(nproc)" -ge 2 ]; then
	SRV="taskset -c 0"
	CLI="taskset -c 1"
else
	SRV=""
	CLI=""
fi

DATA='{"user":"alice","action":"login","host":"web-01.example.org","n":12345,"ok":true,"tags":["a","b","c"]}'
PING='{"jsonrpc":"2.0","id":1,"method":"ping"}'
EMIT='{"jsonrpc":"2.0","id":1,"method":"emit","params":{"event":"bench.event","data":'"$DATA"'}}'
resp() {
	printf '*%s\\r\\n' $#
	for a in "$@"; do printf '$%s\\r\\n%s\\r\\n' "${#a}" "$a"; done
}
XADD=$(resp XADD bench.event '*' data "$DATA")

field() { sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }

wait_sock() {
	i=0
	while ! "$BIN/spawnready" -s "$1" -l "$2" -- true >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 400 ] && { echo "bench: $1 never answered" >&2; exit 1; }
		sleep 0.025
	done
}

# start_svcd NAME SYNC [DIR]: the journal in DIR (default $T/NAME)
start_svcd() {
	mkdir -p "$T/$1" "${3:-$T/$1}"
	printf '[app]\nheartbeat_event = false\n[health]\ninterval = 1h\n[journal]\npath = %s\nsync = %s\n' \
		"${3:-$T/$1}/journal.db" "$2" >"$T/$1/svcd.conf"
	$SRV "$SVCD" -c "$T/$1/svcd.conf" -s "$T/$1/sock" -l warning \
		>>"$T/$1/log" 2>&1 &
	PIDS="$PIDS $!"
	wait_sock "$T/$1/sock" "$PING"
}

# start_redis NAME FSYNC [DIR]: the AOF in DIR (default $T/NAME)
start_redis() {
	mkdir -p "$T/$1" "${3:-$T/$1}"
	$SRV redis-server --port 0 --unixsocket "$T/$1/sock" --dir "${3:-$T/$1}" \
		--save '' --appendonly yes --appendfsync "$2" \
		--auto-aof-rewrite-percentage 0 \
		--daemonize no --logfile "$T/$1/log" &
	PIDS="$PIDS $!"
	wait_sock "$T/$1/sock" "PING"
}

# jfig NAME: the journal's counters of svcd NAME, one line
jfig() {
	"$SVCCTL" -s "$T/$1/sock" --json status |
		jq -r '.journal | "\(.last_seq) \(.commits) \(.fsyncs) \(.loop_iterations)"'
}

# run NAME C P: one loadgen run; rps and p50 into runs.NAME.C.P; for svcd
# also the journal's counters over the run into jruns.NAME.C.P
run() {
	name=$1 c=$2 p=$3 tag=${4:-}
	case $name in
	svcd*) line=$EMIT flags="" ; before=$(jfig "$name") ;;
	*) line=$XADD flags="-e -b" ;;
	esac
	# shellcheck disable=SC2086 # flags are words
	out=$($CLI "$BIN/loadgen" -s "$T/$name/sock" -c "$c" -p "$p" \
		-d "$SECS" $flags "$line") ||
		{ echo "bench: loadgen failed: $name" >&2; out="rps=0 p50_us=0"; }
	echo "$(echo "$out" | field rps) $(echo "$out" | field p50_us)" \
		>>"$T/runs.$name.$c.$p$tag"
	[ -n "$tag" ] && return 0
	case $name in
	svcd*)
		echo "$before $(jfig "$name")" | awk '{print $5-$1, $6-$2, $7-$3, $8-$4}' \
			>>"$T/jruns.$name.$c.$p" ;;
	esac
}

# med NAME C P COL: the median of column COL (1 rps, 2 p50)
med() { awk -v c="$4" '{print $c}' "$T/runs.$1.$2.$3" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf (b > 0 ? "%.2fx" : "-"), a / b}'; }
# jsum NAME C P: events commits fsyncs iterations, summed over the runs
jsum() { awk '{e+=$1; c+=$2; f+=$3; i+=$4} END {print e, c, f, i}' "$T/jruns.$1.$2.$3"; }

start_svcd svcd-always always
start_svcd svcd-batch batch
start_redis redis-always always
start_redis redis-everysec everysec
# the same servers with nothing to wait for: a sync on tmpfs costs nothing
SHM=""
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	SHM=$(mktemp -d /dev/shm/svcd-durable.XXXXXX)
	start_svcd svcd-tmpfs always "$SHM/svcd"
	start_redis redis-tmpfs always "$SHM/redis"
fi

STORES=$("$BIN/store_floor" -l)
for cp in "50 16" "1 1"; do
	for r in $(seq "$RUNS"); do
		for s in svcd-always redis-always svcd-batch redis-everysec; do
			# shellcheck disable=SC2086 # C and P
			run "$s" $cp
		done
		# the floor in the same rounds as the latencies it is set
		# against, on the servers' CPU
		if [ "$cp" = "1 1" ]; then
			[ -z "$SHM" ] || { run svcd-tmpfs 1 1; run redis-tmpfs 1 1; }
			$SRV "$BIN/fsync_floor" -n 2000 "$T/floor" | field p50_us >>"$T/floor.append"
			$SRV "$BIN/fsync_floor" -n 2000 -o "$T/floor" | field p50_us >>"$T/floor.over"
			$SRV "$BIN/fsync_floor" -n 2000 -s "$T/floor" | field p50_us >>"$T/floor.seq"
			# what each store alone adds to the sync, and the round trip
			# of a request that waits for nothing (ping)
			for st in $STORES; do
				$SRV "$BIN/store_floor" "$st" "$T/store" | field p50_us >>"$T/store.$st"
			done
			$CLI "$BIN/loadgen" -s "$T/svcd-always/sock" -c 1 -p 1 -d "$SECS" \
				"$PING" | field p50_us >>"$T/ping"
		fi
	done
done

# The latency once more with every server free to use both CPUs (its
# threads and the client's may run side by side; the one client is idle
# while it waits): pinning a server to one CPU puts svcd's journal writer
# on the loop's CPU, which the writer thread is there to avoid.
if [ -n "$SRV" ]; then
	for p in $PIDS; do taskset -a -p -c 0,1 "$p" >/dev/null 2>&1 || true; done
	CLI=""
	for r in $(seq "$RUNS"); do
		for s in svcd-always redis-always; do
			run "$s" 1 1 u
		done
		"$BIN/fsync_floor" -n 2000 "$T/floor" | field p50_us >>"$T/floor.append.u"
		"$BIN/fsync_floor" -n 2000 -o "$T/floor" | field p50_us >>"$T/floor.over.u"
	done
fi

echo
echo "durable emit — $(nproc) CPUs, server on CPU 0, clients on CPU 1;" \
	"median of $RUNS x ${SECS}s, runs interleaved; payload ${#DATA} bytes;" \
	"files in ${BENCH_DIR:-${TMPDIR:-/tmp}}"
echo
printf '%-36s %12s %9s %12s %12s %12s\n' "acknowledged events/s, C=50 P=16" \
	"events/s" "vs Redis" "events/commit" "fsyncs/event" "fsyncs/iter"
for pair in "svcd-always:redis-always:svcd emit, sync = always" \
	"redis-always::Redis XADD, appendfsync always" \
	"svcd-batch:redis-everysec:svcd emit, sync = batch" \
	"redis-everysec::Redis XADD, appendfsync everysec"; do
	s=${pair%%:*}
	rest=${pair#*:}
	vs=${rest%%:*}
	label=${rest#*:}
	rps=$(med "$s" 50 16 1)
	vr="-"
	[ -z "$vs" ] || vr=$(ratio "$rps" "$(med "$vs" 50 16 1)")
	epc="-" fpe="-" fpi="-"
	if [ -f "$T/jruns.$s.50.16" ]; then
		set -- $(jsum "$s" 50 16)
		epc=$(awk -v e="$1" -v c="$2" 'BEGIN {printf (c ? "%.0f" : "-"), e / c}')
		fpe=$(awk -v e="$1" -v f="$3" 'BEGIN {printf (e ? "%.4f" : "-"), f / e}')
		fpi=$(awk -v i="$4" -v f="$3" 'BEGIN {printf (i ? "%.2f" : "-"), f / i}')
	fi
	printf '%-36s %12s %9s %12s %12s %12s\n' "$label" "$rps" "$vr" "$epc" "$fpe" "$fpi"
done
echo
fl=$(median <"$T/floor.append")
flo=$(median <"$T/floor.over")
sa=$(med svcd-always 1 1 2)
ra=$(med redis-always 1 1 2)
echo "one acknowledged event at a time (C=1, P=1), median p50 latency (us):"
printf '  svcd always %s (%s / %s of the fsync floor appending / over the same page),\n' \
	"$sa" "$(ratio "$sa" "$fl")" "$(ratio "$sa" "$flo")"
printf '  Redis always %s (%s / %s); svcd batch %s, Redis everysec %s\n' \
	"$ra" "$(ratio "$ra" "$fl")" "$(ratio "$ra" "$flo")" \
	"$(med svcd-batch 1 1 2)" "$(med redis-everysec 1 1 2)"
fls=$(median <"$T/floor.seq")
echo "  fsync floor (fsync_floor: 4 KB write + fdatasync on the servers' CPU, median" \
	"p50 of the same rounds): $fl us appending, $flo us over the same page," \
	"$fls us one after the other over written blocks"
pg=$(median <"$T/ping")
echo "  a store alone, one durable commit of one event (store_floor, same rounds;"
echo "  vs the floor over the same page), and with svcd's ping round trip ($pg us) added:"
for st in $STORES; do
	v=$(median <"$T/store.$st")
	printf '    %-16s %5s us (%s); + round trip %s us (%s)\n' "$st" "$v" \
		"$(ratio "$v" "$flo")" "$((v + pg))" "$(ratio "$((v + pg))" "$flo")"
done
if [ -n "$SHM" ]; then
	st=$(med svcd-tmpfs 1 1 2)
	rt=$(med redis-tmpfs 1 1 2)
	printf '  on tmpfs (a sync costs nothing): svcd always %s (%s of the floor over the same page), Redis always %s (%s)\n' \
		"$st" "$(ratio "$st" "$flo")" "$rt" "$(ratio "$rt" "$flo")"
fi
if [ -n "$SRV" ]; then
	fl=$(median <"$T/floor.append.u")
	flo=$(median <"$T/floor.over.u")
	sa=$(med svcd-always 1 1u 2)
	ra=$(med redis-always 1 1u 2)
	echo "  the same, every server free to use both CPUs:"
	printf '  svcd always %s (%s / %s), Redis always %s (%s / %s); floor %s / %s us\n' \
		"$sa" "$(ratio "$sa" "$fl")" "$(ratio "$sa" "$flo")" \
		"$ra" "$(ratio "$ra" "$fl")" "$(ratio "$ra" "$flo")" "$fl" "$flo"
fi
