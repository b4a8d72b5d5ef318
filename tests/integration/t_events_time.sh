#!/usr/bin/env bash
# t_events_time.sh — time in queries with the real svcd and svcctl:
# `events --since TIME --until TIME` (RFC 3339 or a duration ago) from the
# ring and from the journal, `-n` as --last, and `events -f` (the history,
# then live: no gap, no duplicate, while events keep coming).

# time_of SEQ — the time svcd stamped on event SEQ.
time_of() {
	ctl --json call events "{\"since\":$(($1 - 1)),\"limit\":1}" | jq -r '.events[0].time'
}

seqs() {
	ctl --json events "$@" | jq -r '[.events[].seq] | map(tostring) | join(" ")'
}

check_windows() {
	local s1 s2 s3 t2 out
	s1=$(ctl --json emit w.one | jq .seq)
	wait_for 5 bash -c "[ \"\$('$SVCCTL' -s '$SOCK' --json events -n 1 w.one | jq '.events | length')\" = 1 ]"
	sleep 0.01 # distinct microsecond stamps
	s2=$(ctl --json emit w.two | jq .seq)
	sleep 0.01
	s3=$(ctl --json emit w.three | jq .seq)
	wait_for 5 bash -c "[ \"\$('$SVCCTL' -s '$SOCK' --json events -n 1 w.three | jq '.events | length')\" = 1 ]"
	t2=$(time_of "$s2")
	[ "$t2" != null ] || fail "no time for seq $s2"
	assert_eq "$s2 $s3" "$(seqs --since "$t2" 'w.*')" "--since TIME: from that event on"
	assert_eq "$s1 $s2" "$(seqs --until "$t2" 'w.*')" "--until TIME: up to that event"
	assert_eq "$s2" "$(seqs --since "$t2" --until "$t2" 'w.*')" "a window of one"
	assert_eq "$s1 $s2 $s3" "$(seqs --since 1h 'w.*')" "--since 1h: all three"
	assert_eq "" "$(seqs --since 0s 'w.*')" "--since 0s: nothing yet"
	assert_eq "$s3" "$(seqs -n 1 'w.*')" "-n is --last"
	assert_eq "$s2 $s3" "$(seqs -n 2 --since 1h 'w.*')" "-n with --since"
	# an offset says the same instant
	local plus
	plus=$(date -u -d "${t2%.*}Z" +%Y-%m-%dT%H:%M:%S)
	plus=$(date -d "$plus UTC + 2 hours" +%Y-%m-%dT%H:%M:%S)+02:00
	out=$(seqs --since "$plus" 'w.*')
	assert_contains " $out " " $s3 " "+02:00 offset"
	# the table form prints them too
	out=$(ctl events --since "$t2" 'w.*')
	assert_contains "$out" "w.two"
	assert_not_contains "$out" "w.one"
}

test_time_window_ring() {
	svcd_start
	check_windows
}

test_time_window_journal() {
	CONF_TEXT="[journal]
path = $T/j.db"
	svcd_start
	[ "$(ctl --json status | jq -r .journal.path)" = "$T/j.db" ] || fail "journal off"
	check_windows
}

test_time_errors() {
	svcd_start
	local rc=0 err
	err=$(ctl events --since yesterday 2>&1) || rc=$?
	assert_eq 64 "$rc" "a bad time is a usage error"
	assert_contains "$err" "'yesterday' is not a time"
	rc=0
	err=$(ctl events --until 2026-13-01T00:00:00Z 2>&1) || rc=$?
	assert_eq 64 "$rc" "month 13"
	rc=0
	err=$(ctl watch --since 5m 2>&1) || rc=$?
	assert_eq 64 "$rc" "watch takes a seq"
	rc=0
	err=$(ctl events -f --until 5m 2>&1) || rc=$?
	assert_eq 64 "$rc" "-f with --until"
	# the daemon checks the method's own parameter
	rc=0
	err=$(ctl call events '{"since_time":"soon"}' 2>&1) || rc=$?
	assert_eq 1 "$rc" "daemon refuses a bad since_time"
	assert_contains "$err" "since_time"
	assert_contains "$err" "(InvalidParams)"
}

# events -f while an emitter runs: the history's last events, then the live
# ones, each i exactly once and none missing.
test_follow_no_gap_no_duplicate() {
	svcd_start
	local i
	for i in $(seq 1 50); do ctl emit f.n i=$i >/dev/null; done
	(
		i=51
		while [ ! -e "$T/stop" ]; do
			"$SVCCTL" -s "$SOCK" emit f.n i=$i >/dev/null || exit 1
			echo $i >"$T/last.tmp" && mv "$T/last.tmp" "$T/last"
			i=$((i + 1))
		done
	) &
	local em=$!
	wait_for 5 test -s "$T/last"
	local before
	before=$(cat "$T/last")
	"$SVCCTL" -s "$SOCK" --json events -f -n 20 'f.*' >"$T/follow.out" 2>"$T/follow.err" &
	local fw=$!
	# it has printed history and live events
	wait_for 10 bash -c "[ \$(wc -l <'$T/follow.out') -ge 60 ]"
	touch "$T/stop"
	wait $em || fail "emitter failed"
	local last
	last=$(cat "$T/last")
	wait_for 10 grep -q "\"i\":$last}" "$T/follow.out"
	kill -INT $fw
	wait $fw || fail "events -f exited $?: $(cat "$T/follow.err")"
	local got first n
	got=$(jq -r .data.i "$T/follow.out")
	first=$(head -n 1 <<<"$got")
	n=$(wc -l <<<"$got")
	# -n 20: the history's last 20 when it subscribed, which began at or
	# before the emitter's i when svcctl started
	[ "$first" -le "$before" ] || fail "history missing: first i is $first, started at $before"
	assert_eq "$(seq "$first" "$last" | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$got")" \
		"each event once, in order, none missing ($n lines)"
	# seqs strictly increasing as well
	assert_eq "" "$(jq -r .seq "$T/follow.out" | awk 'NR > 1 && $1 != p + 1 {print "gap at " $1} {p = $1}')" "consecutive seqs"
	assert_eq "" "$(cat "$T/follow.err")" "no loss reported"
}

# Table output of -f, and Ctrl-C ends it with 0.
test_follow_table() {
	svcd_start
	ctl emit g.old >/dev/null
	"$SVCCTL" -s "$SOCK" events -f -n 1 'g.*' >"$T/f.out" 2>&1 &
	local fw=$!
	wait_for 5 grep -q g.old "$T/f.out"
	ctl emit g.new k=v >/dev/null
	wait_for 5 grep -q 'g.new  {"k":"v"}' "$T/f.out"
	kill -INT $fw
	wait $fw || fail "exit $?"
	assert_eq 2 "$(grep -c '^20' "$T/f.out")" "two lines: $(cat "$T/f.out")"
}
