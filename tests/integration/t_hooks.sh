#!/usr/bin/env bash
# t_hooks.sh — hooks and the event journal with the real svcd: a hook's
# stdin, environment and figures; config errors; a corrupt or unwritable
# journal refuses to start; seq across restarts; at-least-once delivery to
# a hook after kill -9; emit figures with sync = batch and sync = always;
# outside text (event data, hook output) logged escaped, one line each.

# emit_lines N EVENT — N pipelined JSON-RPC emit lines (ids 1..N).
emit_lines() {
	awk -v n="$1" -v e="$2" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"%s\",\"data\":{\"i\":%d}}}\n", i, e, i }'
}

test_hook_runs_with_event_on_stdin() {
	CONF_TEXT="[hook.mail]
on = user.*
exec = /bin/sh -c 'cat >>$T/in; echo \"sent \$SVCD_EVENT \$SVCD_SEQ \$SVCD_HOOK\"'"
	svcd_start
	ctl emit user.registered '{"email":"ada@example.org"}' >/dev/null ||
		fail "emit"
	wait_for 5 grep -q "hook mail: sent user.registered" "$SVCD_LOG"
	assert_eq "ada@example.org" "$(jq -r .data.email "$T/in")" "stdin line"
	assert_eq "user.registered" "$(jq -r .event "$T/in")" "event name"
	local out
	out=$(ctl hooks)
	assert_contains "$out" "mail" "svcctl hooks lists the hook"
	wait_for 5 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].ok == 1'"
	out=$(ctl status --json | jq -c .hooks)
	assert_contains "$out" '"hooks":1' "status has the hooks object"
	# the text line counts the per-hook list (svcctl hooks shows it)
	out=$(ctl status | grep '^hooks ')
	assert_contains "$out" " per_hook=1"
	svcd_stop || fail "svcd exited with status $?"
}

test_failing_hook_is_counted() {
	CONF_TEXT="[hook.bad]
on = x
retries = 1
backoff = 10ms
exec = /bin/sh -c 'echo broken >&2; exit 2'"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 5 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].failures == 1'"
	assert_eq 2 "$(ctl hooks --json | jq '.hooks[0].runs')" "one retry"
	assert_contains "$(cat "$SVCD_LOG")" "hook bad: broken" "stderr logged"
	assert_contains "$(ctl hooks)" "exit status 2" "last error shown"
	svcd_stop || fail "svcd exited with status $?"
}

test_bad_exec_is_config_error() {
	printf '[hook.h]\non = x\nexec = /no/such/program\n' >"$T/bad.conf"
	local out rc=0
	out=$("$SVCD" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "exit status"
	assert_contains "$out" "bad.conf:3: hook 'h': exec '/no/such/program' is not an executable file"
}

test_corrupt_journal_refuses_to_start() {
	head -c 8192 /dev/urandom >"$T/j.db"
	printf '[daemon]\nsocket = %s\n[journal]\npath = %s/j.db\n' "$SOCK" "$T" >"$T/c.conf"
	local out rc=0
	out=$(timeout 10 "$SVCD" -c "$T/c.conf" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "svcd started on a corrupt journal"
	[ "$rc" -ne 124 ] || fail "svcd did not exit"
	assert_contains "$out" "journal $T/j.db: file is not a database"
	printf '[daemon]\nsocket = %s\n[journal]\npath = /proc/self/j.db\n' "$SOCK" >"$T/c.conf"
	rc=0
	out=$(timeout 10 "$SVCD" -c "$T/c.conf" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "svcd started on an unwritable journal"
	assert_contains "$out" "journal /proc/self/j.db: "
}

test_seq_continues_and_events_from_journal() {
	CONF_TEXT="[bus]
history = 4
[journal]
path = $T/j.db"
	svcd_start
	local s1
	s1=$(ctl emit --json keep.me '{"n":1}' | jq .seq)
	for i in 1 2 3 4 5 6; do ctl emit filler >/dev/null; done
	svcd_stop || fail "svcd exited with status $?"
	svcd_start
	local s2
	s2=$(ctl emit --json after '{}' | jq .seq)
	[ "$s2" -gt "$s1" ] || fail "seq went back: $s1 then $s2"
	# the history ring holds 4; the journal still has the first event
	local out
	out=$(ctl events --json --since $((s1 - 1)) keep.me | jq -c .)
	assert_contains "$out" '"n":1' "events read from the journal"
	svcd_stop || fail "svcd exited with status $?"
}

# Every acknowledged event reaches the hook at least once, in order, even
# when svcd is killed with SIGKILL in the middle of the stream.
test_at_least_once_after_kill9() {
	local n=${KILL9_EVENTS:-10000}
	CONF_TEXT="[journal]
path = $T/j.db
sync = always
[hook.out]
on = load
exec = /bin/sh -c 'echo \$SVCD_SEQ >>$T/out'"
	svcd_start
	emit_lines "$n" load >"$T/req"
	socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/req" >"$T/acks" 2>/dev/null &
	local sp=$!
	wait_for 60 sh -c "[ \$(wc -l <$T/acks) -ge $((n / 3)) ]"
	kill -KILL "$SVCD_PID"
	wait "$SVCD_PID" 2>/dev/null
	SVCD_PID=""
	wait $sp 2>/dev/null
	jq -r 'select(.result) | .result.seq' "$T/acks" >"$T/acked"
	local acked
	acked=$(wc -l <"$T/acked")
	[ "$acked" -gt 0 ] || fail "nothing acknowledged"
	rm -f "$SOCK"
	svcd_start
	local last
	last=$(tail -n 1 "$T/acked")
	wait_for 120 sh -c "grep -qx $last $T/out"
	# first appearances, in order; every acknowledged seq among them
	awk '!seen[$0]++' "$T/out" >"$T/firsts"
	sort -n -c "$T/firsts" || fail "hook output out of order"
	local missing
	missing=$(comm -23 <(sort "$T/acked") <(sort "$T/firsts") | wc -l)
	assert_eq 0 "$missing" "acknowledged events missing from the hook output ($acked acknowledged)"
	echo "kill -9 after $acked acknowledged events: all delivered"
	svcd_stop || fail "svcd exited with status $?"
}

# Figures, not assertions: pipelined emits per second by sync mode.
test_bench_emit_by_sync_mode() {
	local n=${BENCH_EVENTS:-3000} mode t0 t1
	emit_lines "$n" bench >"$T/req"
	for mode in off batch always; do
		CONF_TEXT="[journal]
path = $T/j-$mode.db
sync = $mode"
		svcd_start
		t0=$(date +%s%N)
		socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/req" >"$T/acks"
		t1=$(date +%s%N)
		assert_eq "$n" "$(grep -c '"result"' "$T/acks")" "all acknowledged ($mode)"
		echo "bench: emit with sync = $mode: $((n * 1000000000 / (t1 - t0 + 1))) events/s ($n pipelined)"
		svcd_stop || fail "svcd exited with status $?"
	done
}

# sync = always answers each emit once durable, without blocking the loop:
# pipelined replies come back in order, and other clients are served while
# emits wait for the disk.
test_sync_always_acks_in_order() {
	CONF_TEXT="[journal]
path = $T/j.db
sync = always"
	svcd_start
	emit_lines 500 durable.x >"$T/req"
	socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/req" >"$T/acks" 2>/dev/null &
	local sp=$!
	assert_eq "pong" "$(ctl ping)" "another client is served meanwhile"
	wait $sp
	assert_eq 500 "$(jq -r 'select(.result) | .result.seq' "$T/acks" | wc -l)" "every emit answered"
	jq -r '.id' "$T/acks" >"$T/ids"
	sort -n -c "$T/ids" || fail "replies out of request order"
	jq -r '.result.seq' "$T/acks" >"$T/seqs"
	sort -n -c "$T/seqs" || fail "seqs out of order"
	local last
	last=$(tail -n 1 "$T/seqs")
	# acknowledged means durable: the journal has the last one after a restart
	svcd_stop || fail "svcd exited with status $?"
	rm -f "$SOCK"
	svcd_start
	assert_eq "$last" "$(ctl --json events --last 1 durable.x | jq -r '.events[0].seq')" "durable"
	svcd_stop || fail "svcd exited with status $?"
}

# Outside text cannot forge a log line or drive a terminal: event data with
# a newline (logged by the notification service) and a hook printing CR,
# ESC and invalid UTF-8 reach svcd's log escaped, one line per message.
test_log_lines_escaped() {
	printf '#!/bin/sh\nprintf "cr\\rhalf\\033[2Jesc\\377bad\\n"\nhead -c 2000 /dev/zero | tr "\\\\000" x\necho\n' >"$T/noisy.sh"
	chmod +x "$T/noisy.sh"
	CONF_TEXT="[hook.noisy]
on = user_registered
exec = $T/noisy.sh"
	svcd_start
	ctl emit user_registered "email=a@b.c
2026-01-01T00:00:00.000000Z svcd[1]: error: FAKE" >/dev/null || fail "emit"
	wait_for 5 grep -q "welcome mail to" "$SVCD_LOG"
	wait_for 5 grep -q "hook noisy: x" "$SVCD_LOG"
	svcd_stop || fail "svcd exited with status $?"
	local bad
	bad=$(grep -c '^2026-01-01T00:00:00.000000Z svcd\[1\]' "$SVCD_LOG") || true
	assert_eq 0 "$bad" "forged log lines"
	bad=$(grep -c -v -E '^(<[0-9]>|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z svcd\[[0-9]+\]: [a-z]+: )' "$SVCD_LOG") || true
	assert_eq 0 "$bad" "log lines without svcd's prefix (forged or split)"
	assert_eq 0 "$(grep -c $'\r' "$SVCD_LOG")" "CR in the log"
	assert_eq 0 "$(grep -c $'\033' "$SVCD_LOG")" "ESC in the log"
	iconv -f UTF-8 -t UTF-8 "$SVCD_LOG" >/dev/null || fail "invalid UTF-8 in the log"
	grep -qF 'welcome mail to a@b.c\n2026-01-01T00:00:00.000000Z svcd[1]: error: FAKE' "$SVCD_LOG" ||
		fail "the event data is not logged escaped on one line"
	grep -qF 'hook noisy: cr\rhalf\x1b[2Jesc\xffbad' "$SVCD_LOG" ||
		fail "the hook output is not logged escaped"
	grep -qF "hook noisy: $(printf '%512s' '' | tr ' ' x)... (line of 2000 bytes)" "$SVCD_LOG" ||
		fail "a long hook output line is not cut at 512 bytes with its length"
}
