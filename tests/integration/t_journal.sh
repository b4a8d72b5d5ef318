#!/usr/bin/env bash
# t_journal.sh — the journal's damage and full-disk handling with the real
# svcd: a damaged WAL after kill -9 refuses to start (on_damage = continue
# starts without reusing a seq); a full disk (a small tmpfs) keeps durable_seq
# true and logs one line, one count and one recovery line; a journal path that
# cannot be created is a configuration error at its line; with sync = always
# pipelined requests are answered in order and their emits share commits.

# big_emit_lines N KB — N pipelined emit lines with KB KiB of data each.
big_emit_lines() {
	awk -v n="$1" -v kb="$2" 'BEGIN {
		pad = ""; for (i = 0; i < kb * 1024; i++) pad = pad "p"
		for (i = 1; i <= n; i++)
			printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"big\",\"data\":{\"pad\":\"%s\"}}}\n", i, pad }'
}

# hwm FIELD — a figure of the journal's high-water mark file.
hwm() {
	awk -v k="$1" '$1 == k { print $2 }' "$T/j.db.seq"
}

test_damaged_wal_after_kill9_refused() {
	CONF_TEXT="[journal]
path = $T/j.db
sync = always"
	svcd_start
	local last i
	for i in $(seq 1 40); do
		last=$(ctl emit --json x '{"pad":"................................"}' | jq .seq)
	done
	# the durable floor in j.db.seq follows the commits within a second
	wait_for 5 sh -c "[ \"\$(awk '\$1 == \"durable\" { print \$2 }' $T/j.db.seq)\" -ge $last ]"
	kill -KILL "$SVCD_PID"
	wait "$SVCD_PID" 2>/dev/null
	SVCD_PID=""
	rm -f "$SOCK"
	assert_eq 0 "$(hwm clean)" "j.db.seq says unclean after kill -9"
	local durable reserved size
	durable=$(hwm durable)
	reserved=$(hwm reserved)
	size=$(stat -c %s "$T/j.db-wal")
	[ "$size" -gt 32768 ] || fail "the WAL is only $size bytes"
	# 200 random bytes into the middle of the WAL: later commits are gone
	head -c 200 /dev/urandom |
		dd of="$T/j.db-wal" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
	svcd_write_conf
	local out rc=0
	out=$(timeout 10 "$SVCD" -c "$T/svcd.conf" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "svcd started on a journal that lost events"
	[ "$rc" -ne 124 ] || fail "svcd did not exit"
	assert_contains "$out" "journal $T/j.db: stored up to seq "
	assert_contains "$out" "but had reached seq $durable (the high-water mark in $T/j.db.seq)"
	assert_contains "$out" "or set [journal] on_damage = continue"
	rm -f "$SOCK"

	CONF_TEXT="[journal]
path = $T/j.db
sync = always
on_damage = continue"
	svcd_start
	assert_contains "$(cat "$SVCD_LOG")" "starting anyway (on_damage = continue)"
	local next
	next=$(ctl emit --json x '{}' | jq .seq)
	[ "$next" -gt "$reserved" ] || fail "seq $next reused (reserved up to $reserved)"
	svcd_stop || fail "svcd exited with status $?"
}

test_full_disk_durable_seq_and_bounded_log() {
	command -v sqlite3 >/dev/null || skip "no sqlite3 command"
	mkdir "$T/fs"
	mount -t tmpfs -o size=256k tmpfs "$T/fs" 2>/dev/null ||
		skip "cannot mount a tmpfs (needs root)"
	trap 'rc=$?; umount "$T/fs" 2>/dev/null; (exit $rc); lib_cleanup' EXIT
	CONF_TEXT="[journal]
path = $T/fs/j.db
sync = always"
	svcd_start
	big_emit_lines 200 4 >"$T/req"
	socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/req" >"$T/acks" 2>/dev/null
	local oks errs
	oks=$(jq -r 'select(.result) | .result.seq' "$T/acks" | wc -l)
	errs=$(jq -r 'select(.error) | .error.message' "$T/acks" | wc -l)
	[ "$errs" -gt 0 ] || fail "no emit failed on a full disk ($oks ok)"
	assert_eq 200 $((oks + errs)) "every emit answered"
	assert_contains "$(jq -r 'select(.error) | .error.message' "$T/acks" | head -n 1)" "journal write failed"
	# the pipeline above may fail as one group commit: a few more on their
	# own (each its own commit, each larger than the whole tmpfs) make a
	# run of errors
	local i
	big_emit_lines 1 300 >"$T/big"
	for i in 1 2 3; do
		assert_contains "$(socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/big" 2>/dev/null)" \
			"journal write failed" "a 300 KB emit on a 256 KB disk"
	done

	local j stored
	j=$(ctl status --json | jq -c .journal)
	stored=$(sqlite3 -readonly "$T/fs/j.db" 'SELECT max(seq) FROM events')
	assert_eq "$stored" "$(echo "$j" | jq .durable_seq)" "durable_seq is the highest stored seq ($j)"
	[ "$(echo "$j" | jq .lost)" -ge "$errs" ] || fail "lost below the failed emits: $j"
	[ "$(echo "$j" | jq .write_errors)" -gt 1 ] || fail "one write error only: $j"
	# (a smaller commit can still fit between two failed ones: the count
	# line may come before the room does, never a second first line)
	assert_eq 1 "$(grep -v 'more journal write errors' "$SVCD_LOG" | grep -c 'write failed')" "one line for the first error"

	# room again: the next emit is stored, the count and the recovery logged
	mount -o remount,size=16m "$T/fs" || fail "remount"
	local seq
	seq=$(ctl emit --json after '{}' | jq .seq)
	[ -n "$seq" ] && [ "$seq" != null ] || fail "emit after recovery"
	wait_for 5 grep -q "writes succeed again" "$SVCD_LOG"
	# one count line at most: a commit that still fitted between failed
	# ones may have ended the run early (then the count went with it)
	[ "$(grep -c 'more journal write errors (last: ' "$SVCD_LOG")" -le 1 ] ||
		fail "more than one count line: $(grep 'more journal write errors' "$SVCD_LOG")"
	[ "$(grep -c 'journal' "$SVCD_LOG" | head -n 1)" -le 6 ] ||
		fail "journal lines not bounded: $(grep -c journal "$SVCD_LOG")"
	j=$(ctl status --json | jq -c .journal)
	assert_eq "$seq" "$(echo "$j" | jq .durable_seq)" "durable_seq after recovery ($j)"
	svcd_stop || fail "svcd exited with status $?"
}

# A journal that cannot be created is a configuration error naming the key
# and its line (--check-config says so before anything starts).
test_check_config_journal_path() {
	local out rc=0
	printf '[daemon]\nlog_level = info\n\n[journal]\nsync = always\npath = %s/no/such/dir/j.db\n' "$T" >"$T/c1.conf"
	out=$("$SVCD" -c "$T/c1.conf" --check-config 2>&1) || rc=$?
	assert_eq 78 "$rc" "exit status for a missing directory"
	assert_contains "$out" "c1.conf:6: bad value for 'path' in [journal]: cannot create the journal $T/no/such/dir/j.db: its directory $T/no/such/dir does not exist"
	mkdir "$T/ro"
	chmod 555 "$T/ro"
	printf '[journal]\npath = %s/ro/j.db\n' "$T" >"$T/c2.conf"
	rc=0
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
		out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$SVCD" -c "$T/c2.conf" --check-config 2>&1) || rc=$?
	else
		out=$("$SVCD" -c "$T/c2.conf" --check-config 2>&1) || rc=$?
	fi
	assert_eq 78 "$rc" "exit status for a read-only directory ($out)"
	assert_contains "$out" "c2.conf:2: bad value for 'path' in [journal]: cannot create the journal $T/ro/j.db: its directory $T/ro is not writable"
	printf '[journal]\npath = %s/j.db\n' "$T" >"$T/c3.conf"
	assert_contains "$("$SVCD" -c "$T/c3.conf" --check-config 2>&1)" "configuration ok"
}

# sync = always: a client keeps sending while its emits wait for the
# commit; the replies to everything it sent (emits, pings, a batch) come
# back in request order, each emit's only once stored, and the emits of
# one pipeline share commits (fewer commits than emits).
test_sync_always_pipelined_replies_in_order() {
	CONF_TEXT="[journal]
path = $T/j.db
sync = always"
	svcd_start
	awk 'BEGIN { for (i = 1; i <= 3000; i++) {
		if (i % 100 == 0)
			printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}\n", i
		else if (i % 1000 == 1)
			printf "[{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"p.b\",\"data\":{\"i\":%d}}}]\n", i, i
		else
			printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"p.x\",\"data\":{\"i\":%d}}}\n", i, i } }' >"$T/req"
	local c0
	c0=$(ctl status --json | jq .journal.commits)
	socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/req" >"$T/acks" 2>/dev/null
	assert_eq 3000 "$(wc -l <"$T/acks")" "every request answered"
	jq -r 'if type == "array" then .[0].id else .id end' "$T/acks" >"$T/ids"
	assert_eq "$(seq 1 3000)" "$(cat "$T/ids")" "replies in request order"
	assert_eq 0 "$(grep -c '"error"' "$T/acks")" "no error"
	local j commits last
	j=$(ctl status --json | jq -c .journal)
	commits=$(($(echo "$j" | jq .commits) - c0))
	[ "$commits" -lt 2970 ] || fail "one commit per emit: $commits ($j)"
	last=$(jq -r 'if type == "array" then .[0].result.seq else .result.seq // empty end' "$T/acks" | tail -n 1)
	[ "$(echo "$j" | jq .durable_seq)" -ge "$last" ] || fail "acknowledged before stored: $j"
	echo "2970 pipelined durable emits: $commits commits, $(echo "$j" | jq .fsyncs) fsyncs in all"
	svcd_stop || fail "svcd exited with status $?"
}

# sync = always: a subscribe pipelined behind an emit that waits for its
# commit is answered after that emit, and its events come after its reply.
test_sync_always_subscribe_behind_held_emit() {
	CONF_TEXT="[journal]
path = $T/j.db
sync = always"
	svcd_start
	local out
	out=$(rpc '{"jsonrpc":"2.0","id":1,"method":"emit","params":{"event":"x.a","data":{}}}' \
		'{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{"events":["y.*"]}}' \
		'{"jsonrpc":"2.0","id":3,"method":"emit","params":{"event":"y.self","data":{"n":1}}}' |
		jq -c 'if .id then "reply \(.id)" else "event \(.params.event)" end')
	assert_eq '"reply 1" "reply 2" "reply 3" "event y.self"' "$(echo $out)" "order on the wire"
	svcd_stop || fail "svcd exited with status $?"
}

# sync = always: a subscribe with since, pipelined behind a held emit, whose
# history is partly gone: the events.lost notice comes after the subscribe's
# reply, as without a held emit, not ahead of both replies. Before: it went
# straight out, first on the wire.
test_sync_always_lost_notice_behind_held_emit() {
	CONF_TEXT="[bus]
history = 16
[journal]
path = $T/j.db
sync = always"
	svcd_start
	local i out
	for i in $(seq 40); do ctl emit z.old '{}' >/dev/null; done
	out=$(rpc '{"jsonrpc":"2.0","id":1,"method":"emit","params":{"event":"x.a","data":{}}}' \
		'{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{"events":["z.*"],"since":0}}' |
		jq -c 'if .id then "reply \(.id)" else .method end' | uniq)
	assert_eq '"reply 1" "reply 2" "events.lost" "event"' "$(echo $out)" "order on the wire"
	svcd_stop || fail "svcd exited with status $?"
}
