#!/usr/bin/env bash
# t_webhooks.sh — webhooks (url =) with the real svcd and a real HTTP
# receiver on 127.0.0.1 (webhook_receiver.py): a 2xx with its headers and
# the body as the event's bytes, a 500 then a 200 (retried), a 429 with
# Retry-After, a 410 (not retried), a receiver that hangs (timeout), the
# HMAC signature verified by the receiver, config errors, and kill -9 of
# svcd mid-stream with a journal (every acknowledged event delivered).

RECV="$(dirname "${BASH_SOURCE[0]}")/webhook_receiver.py"

# recv_start [ARGS...] — start the receiver; sets PORT and RLOG.
recv_start() {
	RLOG="$T/requests"
	: >"$RLOG"
	python3 "$RECV" --port-file "$T/port" --log "$RLOG" "$@" &
	RECV_PID=$!
	wait_for 10 test -s "$T/port"
	PORT=$(cat "$T/port")
}

# requests [PATH] — how many requests the receiver logged (for PATH).
requests() {
	if [ -n "${1:-}" ]; then
		jq -r --arg p "$1" 'select(.path == $p) | .path' "$RLOG" | wc -l
	else
		wc -l <"$RLOG"
	fi
}

hook_field() {
	ctl hooks --json | jq -r ".hooks[0].$1"
}

emit_lines() {
	awk -v n="$1" -v e="$2" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"emit\",\"params\":{\"event\":\"%s\",\"data\":{\"i\":%d}}}\n", i, e, i }'
}

test_2xx_headers_and_bytes() {
	recv_start
	CONF_TEXT="[hook.web]
on = order.*
url = http://127.0.0.1:$PORT/ok
headers = {\"Authorization\": \"Bearer t0ken\", \"X-Env\": \"test\"}"
	svcd_start
	local seq
	seq=$(ctl emit --json order.paid '{"n":1.0E+2,"s":"\u00e9"}' | jq .seq)
	wait_for 10 sh -c "[ \$(wc -l <$RLOG) -ge 1 ]"
	local r
	r=$(head -n 1 "$RLOG")
	assert_eq "application/json" "$(jq -r '.headers["Content-Type"]' <<<"$r")" "content type"
	assert_eq "order.paid" "$(jq -r '.headers["X-Svcd-Event"]' <<<"$r")" "X-Svcd-Event"
	assert_eq "$seq" "$(jq -r '.headers["X-Svcd-Seq"]' <<<"$r")" "X-Svcd-Seq"
	# no journal: the seq starts over with svcd, the key has this start's id
	local key
	key=$(jq -r '.headers["Idempotency-Key"]' <<<"$r")
	[[ $key =~ ^$(hostname):[0-9a-f]+:$seq$ ]] || fail "Idempotency-Key $key: want $(hostname):BOOT:$seq"
	assert_eq "$(hostname)" "$(jq -r '.headers["X-Svcd-Node"]' <<<"$r")" "X-Svcd-Node"
	assert_eq "Bearer t0ken" "$(jq -r '.headers["Authorization"]' <<<"$r")" "extra header"
	assert_eq "null" "$(jq -r '.headers["X-Svcd-Signature"]' <<<"$r")" "no signature without a secret"
	# the body is the event line: data bytes as they came in
	assert_contains "$(jq -r .body <<<"$r")" '"data":{"n":1.0E+2,"s":"\u00e9"}' "body bytes"
	assert_eq "$seq" "$(jq -r .body <<<"$r" | jq .seq)" "body seq"
	wait_for 5 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 1 and .hooks[0].last_status == 200 and .hooks[0].lag == 0'"
	assert_eq "http" "$(hook_field kind)" "kind"
	assert_contains "$(ctl hooks)" "web" "svcctl hooks lists it"
	assert_eq 1 "$(ctl status --json | jq .hooks.deliveries)" "status figures"
	# the token is not in the log
	assert_not_contains "$(cat "$SVCD_LOG")" "t0ken" "a header value logged"
	svcd_stop || fail "svcd exited with status $?"
	# the next start numbers from 1 again: the same seq, another key, so a
	# receiver that drops repeated keys does not drop this event
	svcd_start
	local seq2
	seq2=$(ctl emit --json order.paid '{"n":2}' | jq .seq)
	wait_for 10 sh -c "[ \$(wc -l <$RLOG) -ge 2 ]"
	local key2
	key2=$(sed -n 2p "$RLOG" | jq -r '.headers["Idempotency-Key"]')
	[[ $key2 =~ ^$(hostname):[0-9a-f]+:$seq2$ ]] || fail "Idempotency-Key $key2"
	[ "$key2" != "$key" ] || fail "a restart reused the key $key"
	svcd_stop || fail "svcd exited with status $?"
}

test_500_then_2xx_is_retried() {
	recv_start
	CONF_TEXT="[hook.web]
on = x
retries = 2
backoff = 20ms
url = http://127.0.0.1:$PORT/fail-once"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 1'"
	assert_eq 2 "$(requests /fail-once)" "two requests"
	assert_eq 1 "$(hook_field retried)" "one retry"
	assert_eq 0 "$(hook_field failures)" "no failure"
	assert_eq "500 200" "$(jq -r .status "$RLOG" | xargs)" "statuses"
	svcd_stop || fail "svcd exited with status $?"
}

test_429_honours_retry_after() {
	recv_start
	CONF_TEXT="[hook.web]
on = x
retries = 1
backoff = 10ms
url = http://127.0.0.1:$PORT/busy-once"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 1'"
	local gap
	gap=$(jq -s '(.[1].t - .[0].t) * 1000 | floor' "$RLOG")
	[ "$gap" -ge 900 ] || fail "retried after ${gap} ms, not after Retry-After: 1"
	svcd_stop || fail "svcd exited with status $?"
}

test_410_is_not_retried() {
	recv_start
	CONF_TEXT="[hook.web]
on = x
retries = 3
backoff = 10ms
url = http://127.0.0.1:$PORT/gone"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].failures == 1'"
	assert_eq 1 "$(requests /gone)" "one request"
	assert_eq 0 "$(hook_field retried)" "no retry"
	assert_eq 410 "$(hook_field last_status)" "last status"
	assert_contains "$(hook_field last_error)" "HTTP 410: gone for good" "last error"
	assert_contains "$(ctl hooks)" "HTTP 410" "svcctl hooks shows it"
	svcd_stop || fail "svcd exited with status $?"
}

test_hanging_receiver_times_out() {
	recv_start
	CONF_TEXT="[hook.web]
on = x
timeout = 300ms
url = http://127.0.0.1:$PORT/hang"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].failures == 1 and .hooks[0].timeouts == 1'"
	assert_contains "$(hook_field last_error)" "timed out" "timeout error"
	# the loop was not blocked meanwhile
	assert_eq pong "$(ctl ping)" "ping"
	svcd_stop || fail "svcd exited with status $?"
}

test_connection_refused_is_retried() {
	# a port nobody listens on: bind, note, close
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	CONF_TEXT="[hook.web]
on = x
retries = 2
backoff = 10ms
url = http://127.0.0.1:$port/ok"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].failures == 1'"
	assert_eq 2 "$(hook_field retried)" "retried"
	assert_eq 3 "$(hook_field runs)" "three attempts"
	svcd_stop || fail "svcd exited with status $?"
}

test_signature_verified_by_receiver() {
	printf 's3cret-value\n' >"$T/secret"
	chmod 600 "$T/secret"
	recv_start --secret "$T/secret"
	CONF_TEXT="[hook.web]
on = x
url = http://127.0.0.1:$PORT/ok
secret_file = $T/secret"
	svcd_start
	ctl emit x '{"a":[1,2,3]}' >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 1'"
	assert_eq true "$(jq -r .sig_ok "$RLOG")" "signature verified"
	assert_contains "$(jq -r '.headers["X-Svcd-Signature"]' "$RLOG")" "sha256=" "signature header"
	assert_not_contains "$(cat "$SVCD_LOG")" "s3cret" "the secret logged"
	svcd_stop || fail "svcd exited with status $?"
	# a wrong secret: the receiver refuses (401, not retried)
	printf 'other\n' >"$T/secret2"
	chmod 600 "$T/secret2"
	CONF_TEXT="[hook.web]
on = x
retries = 2
url = http://127.0.0.1:$PORT/ok
secret_file = $T/secret2"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].failures == 1'"
	assert_eq 401 "$(hook_field last_status)" "refused"
	svcd_stop || fail "svcd exited with status $?"
}

test_config_errors() {
	printf 'x\n' >"$T/open-secret"
	chmod 644 "$T/open-secret"
	printf '[hook.a]\non = x\nurl = ftp://example.org/\n[hook.b]\non = x\nurl = http://127.0.0.1/\nsecret_file = %s\n[hook.c]\non = x\nurl = http://127.0.0.1/\nexec = /bin/true\n[hook.d]\non = x\nexec = /bin/true\nwindow = 3\n[hook.e]\non = x\nurl = http://127.0.0.1/\nheaders = {"Bad Name": "v"}\n' \
		"$T/open-secret" >"$T/bad.conf"
	local out rc=0
	out=$("$SVCD" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "exit status"
	assert_contains "$out" "bad.conf:3: bad value for 'url' in [hook.a]: not an http:// or https:// URL"
	assert_contains "$out" "bad.conf:7: bad value for 'secret_file' in [hook.b]: $T/open-secret is not a regular file of mode 0600 or stricter"
	assert_contains "$out" "bad.conf:11: hook 'c': 'exec' and 'url' exclude each other"
	assert_contains "$out" "bad.conf:15: hook 'd': 'window' is for listeners"
	assert_contains "$out" "bad.conf:19: hook 'e': headers: 'Bad Name' is not a header name"
}

# Every acknowledged event reaches the receiver at least once, in order,
# even when svcd is killed with SIGKILL in the middle of the stream.
test_at_least_once_after_kill9() {
	local n=${KILL9_EVENTS:-1000}
	recv_start
	CONF_TEXT="[journal]
path = $T/j.db
sync = always
[hook.web]
on = load
url = http://127.0.0.1:$PORT/ok"
	svcd_start
	emit_lines "$n" load >"$T/req"
	socat -t 30 - "UNIX-CONNECT:$SOCK" <"$T/req" >"$T/acks" 2>/dev/null &
	local sp=$!
	wait_for 60 sh -c "[ \$(wc -l <$T/acks) -ge $((n / 3)) ] && [ \$(wc -l <$RLOG) -ge 10 ]"
	kill -KILL "$SVCD_PID"
	wait "$SVCD_PID" 2>/dev/null
	SVCD_PID=""
	wait $sp 2>/dev/null
	jq -r 'select(.result) | .result.seq' "$T/acks" >"$T/acked"
	local acked before
	acked=$(wc -l <"$T/acked")
	before=$(wc -l <"$RLOG")
	[ "$acked" -gt "$before" ] || echo "note: the receiver had all $acked before the kill"
	rm -f "$SOCK"
	svcd_start
	local last
	last=$(tail -n 1 "$T/acked")
	wait_for 120 sh -c "jq -r '.headers[\"X-Svcd-Seq\"]' $RLOG | grep -qx $last"
	jq -r '.headers["X-Svcd-Seq"]' "$RLOG" | awk '!seen[$0]++' >"$T/firsts"
	# with a journal seqs outlive the restart: the key is NODE:SEQ, the
	# same for an event sent before the kill and again after it
	local badkeys
	badkeys=$(jq -r --arg h "$(hostname)" 'select(.headers["Idempotency-Key"] != ($h + ":" + .headers["X-Svcd-Seq"])) | .headers["Idempotency-Key"]' "$RLOG" | head -n 3)
	assert_eq "" "$badkeys" "keys that are not NODE:SEQ with a journal"
	sort -n -c "$T/firsts" || fail "deliveries out of order"
	local missing
	missing=$(comm -23 <(sort "$T/acked") <(sort "$T/firsts") | wc -l)
	assert_eq 0 "$missing" "acknowledged events not delivered ($acked acknowledged, $before delivered before the kill)"
	echo "kill -9 after $acked acknowledged, $before delivered: all delivered after the restart"
	svcd_stop || fail "svcd exited with status $?"
}

# A stop with a request in flight ends within the stop timeout and leaves
# the event owed: with a journal, the next start sends it again.
test_stop_in_flight_is_owed() {
	recv_start
	# (the stop timeout is [daemon]'s default, 10 s)
	CONF_TEXT="[journal]
path = $T/j.db
[hook.web]
on = x
url = http://127.0.0.1:$PORT/hang"
	svcd_start
	local seq
	seq=$(ctl emit --json x | jq .seq)
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].in_flight == 1'"
	svcd_stop || fail "svcd exited with status $?"
	assert_contains "$(cat "$SVCD_LOG")" "in flight at the stop timeout" "logged"
	CONF_TEXT="[journal]
path = $T/j.db
[hook.web]
on = x
url = http://127.0.0.1:$PORT/ok"
	rm -f "$SOCK"
	svcd_start
	wait_for 10 sh -c "jq -r 'select(.path == \"/ok\") | .headers[\"X-Svcd-Seq\"]' $RLOG | grep -qx $seq"
	svcd_stop || fail "svcd exited with status $?"
}

# Under a sandbox without AF_INET (noinet.py: a seccomp filter, as a unit's
# RestrictAddressFamilies=AF_UNIX does), --check-config names the drop-in.
test_forbidden_network_names_the_drop_in() {
	local noinet rc=0
	noinet="$(dirname "${BASH_SOURCE[0]}")/noinet.py"
	python3 "$noinet" true || rc=$?
	[ $rc -eq 0 ] || skip "noinet.py cannot install its seccomp filter here"
	CONF_TEXT="[hook.web]
on = x
url = https://chat.example.org/hook"
	svcd_write_conf
	local out
	out=$(python3 "$noinet" "$SVCD" --check-config -c "$T/svcd.conf" 2>&1) || fail "--check-config: $out"
	assert_contains "$out" "hook web: a webhook needs AF_INET or AF_INET6, but the unit forbids both: install the network.conf drop-in"
	out=$("$SVCD" --check-config -c "$T/svcd.conf" 2>&1) || fail "--check-config: $out"
	assert_not_contains "$out" "forbids"
}

# HTTPS: the peer is verified — a certificate from an unknown CA fails;
# with that CA in ca_file the same receiver gets the event.
test_tls_verified_and_ca_file() {
	command -v openssl >/dev/null || fail "openssl is not installed (a test dependency)"
	local ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	openssl req -x509 $ec -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
		-subj /CN=svcd-test-ca 2>/dev/null || fail "CA"
	openssl req $ec -keyout "$T/srv.key" -out "$T/srv.csr" -subj /CN=127.0.0.1 2>/dev/null || fail "CSR"
	printf 'subjectAltName=IP:127.0.0.1\n' >"$T/ext"
	openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
		-CAcreateserial -out "$T/srv.pem" -days 2 -extfile "$T/ext" 2>/dev/null || fail "sign"
	recv_start --tls "$T/srv.pem" "$T/srv.key"
	CONF_TEXT="[hook.web]
on = x
url = https://127.0.0.1:$PORT/ok"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].failures == 1'"
	assert_contains "$(hook_field last_error)" "certificate" "verification error"
	assert_eq 0 "$(requests)" "nothing reached the receiver"
	svcd_stop || fail "svcd exited with status $?"
	CONF_TEXT="[hook.web]
on = x
url = https://127.0.0.1:$PORT/ok
ca_file = $T/ca.pem"
	svcd_start
	ctl emit x >/dev/null || fail "emit"
	wait_for 10 sh -c "$SVCCTL -s $SOCK hooks --json | jq -e '.hooks[0].deliveries == 1'"
	assert_eq 1 "$(requests /ok)" "delivered over TLS"
	svcd_stop || fail "svcd exited with status $?"
}
