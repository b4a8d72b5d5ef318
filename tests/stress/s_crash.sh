#!/usr/bin/env bash
# s_crash.sh — durable emit survives kill -9: svcd with [journal] sync =
# always under pipelined load from several clients is killed with SIGKILL
# at a random moment, restarted on the same journal, again, 20 rounds.
# After the last restart: every acknowledged event is in the journal with
# the data it was sent with, seq never went back across restarts, and the
# hook got every acknowledged event it was owed (at least once).
# Run by `make check-stress` through tests/integration/run.sh (lib.sh);
# STRESS=quick makes the rounds smaller (still 20 of them). CRASH_SYNC=batch
# (acknowledged before the commit) shows that the test can fail.

scale() {
	if [ "${STRESS:-}" = quick ]; then echo "$2"; else echo "$1"; fi
}

note() {
	echo "$*"
	[ -n "${STRESS_LOG:-}" ] && echo "${FUNCNAME[1]}: $*" >>"$STRESS_LOG"
	return 0
}

# load_lines ROUND CLIENT N — N pipelined emits; every 25th is "crash.hooked"
# (the hook's), the rest "crash.load"; data {"r":ROUND,"c":CLIENT,"i":ID}.
load_lines() {
	awk -v r="$1" -v c="$2" -v n="$3" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"crash.%s\",\"data\":{\"r\":%d,\"c\":%d,\"i\":%d}}}\n",
			i, (i % 25 ? "load" : "hooked"), r, c, i }'
}

# acked ROUND CLIENT — "seq|event|data" of every complete acknowledgement
# the client got (a line cut by the kill is not an acknowledgement).
acked() {
	local r=$1 c=$2
	sed -n 's/^{"jsonrpc":"2.0","id":\([0-9]*\),"result":{"seq":\([0-9]*\),"listeners":[0-9]*}}$/\1 \2/p' \
		"$T/acks.$r.$c" |
		awk -v r="$r" -v c="$c" '{ printf "%s|crash.%s|{\"r\":%d,\"c\":%d,\"i\":%d}\n",
			$2, ($1 % 25 ? "load" : "hooked"), r, c, $1 }'
}

# Every owed seq is in the hook's output.
hook_caught_up() {
	[ -z "$(comm -23 "$T/owed" <(sort -u "$T/hooked" 2>/dev/null))" ]
}

max_seq() {
	sqlite3 -readonly "$T/j.db" 'SELECT coalesce(max(seq), 0) FROM events'
}

test_kill9_under_load_20_rounds() {
	command -v sqlite3 >/dev/null || skip "no sqlite3 command"
	local rounds=20 clients=4 n
	n=$(scale 20000 4000)
	CONF_TEXT="[journal]
path = $T/j.db
sync = ${CRASH_SYNC:-always}
[hook.out]
on = crash.hooked
exec = /bin/sh -c 'echo \$SVCD_SEQ >>$T/hooked'"
	: >"$T/all"
	local r c k pids probe top=0 want got killed_at total=0
	for c in $(seq 1 $clients); do
		load_lines 0 "$c" "$n" >"$T/req.$c"
	done
	for r in $(seq 1 $rounds); do
		rm -f "$SOCK"
		svcd_start
		# seq goes on after everything acknowledged or stored before
		probe=$(ctl emit --json crash.probe '{}' | jq -r .seq)
		[ "$probe" -gt "$top" ] ||
			fail "round $r: seq went back: $probe after $top"
		pids=""
		for c in $(seq 1 $clients); do
			sed "s/\"r\":0,/\"r\":$r,/" "$T/req.$c" |
				socat -t 30 - "UNIX-CONNECT:$SOCK" >"$T/acks.$r.$c" 2>/dev/null &
			pids="$pids $!"
		done
		# a random moment: once the first client has 1..n/2 acknowledgements
		want=$((RANDOM % (n / 2) + 1))
		wait_for 60 sh -c "[ \$(wc -l <$T/acks.$r.1) -ge $want ]"
		kill -KILL "$SVCD_PID"
		wait "$SVCD_PID" 2>/dev/null
		SVCD_PID=""
		# shellcheck disable=SC2086 # the pids are words
		wait $pids 2>/dev/null
		killed_at=0
		for c in $(seq 1 $clients); do
			acked "$r" "$c" >>"$T/all"
			k=$(acked "$r" "$c" | wc -l)
			killed_at=$((killed_at + k))
		done
		total=$((total + killed_at))
		top=$(cut -d'|' -f1 "$T/all" | sort -n | tail -n 1)
		[ -n "$top" ] || top=$probe
		[ "$top" -ge "$probe" ] || top=$probe
		got=$(max_seq)
		[ "$got" -ge "$top" ] || fail "round $r: the journal ends at $got, $top was acknowledged"
		echo "round $r: killed after $killed_at acknowledged emits (seq up to $top)"
	done
	rm -f "$SOCK"
	svcd_start
	# every acknowledged event is stored, with the bytes it was sent with
	sqlite3 -readonly "$T/j.db" >"$T/missing" <<SQL
CREATE TEMP TABLE a(seq INTEGER, name TEXT, data TEXT);
.separator |
.import $T/all a
SELECT count(*) FROM temp.a LEFT JOIN main.events e ON e.seq = a.seq
 WHERE e.seq IS NULL OR e.name != a.name OR e.data != a.data;
SQL
	assert_eq 0 "$(tail -n 1 "$T/missing")" "acknowledged events missing or changed ($total acknowledged)"
	[ "$(sqlite3 -readonly "$T/j.db" 'SELECT count(*) FROM events WHERE seq <= 0')" = 0 ] ||
		fail "bad seq in the journal"
	# the hook: every acknowledged crash.hooked event, at least once
	grep '|crash.hooked|' "$T/all" | cut -d'|' -f1 | sort -u >"$T/owed"
	local last
	last=$(sort -n "$T/owed" | tail -n 1)
	[ -n "$last" ] || fail "no hooked event acknowledged"
	wait_for 120 hook_caught_up
	local missing
	missing=$(comm -23 "$T/owed" <(sort -u "$T/hooked") | wc -l)
	assert_eq 0 "$missing" "hooked events owed but not delivered ($(wc -l <"$T/owed") owed)"
	note "$rounds kill -9 rounds, $total acknowledged emits: all stored, seq never went back, hook got all $(wc -l <"$T/owed") it was owed"
	svcd_stop || fail "svcd exited with status $?"
}
