#!/usr/bin/env bash
# t_metrics.sh — `svcctl metrics` and [metrics] listen with the real svcd:
# promtool accepts the text, its values agree with `status` and `health`
# (a hook's own series, a degraded bridge), and the HTTP endpoint answers
# GET/HEAD /metrics over a Unix socket and TCP, 404/405/431 otherwise,
# closes slow clients at [metrics] timeout and clients past max_clients,
# all counted, without holding up the control socket.

metrics_need() {
	command -v promtool >/dev/null 2>&1 ||
		skip "promtool is not installed (Debian: prometheus; make check installs it)"
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	command -v curl >/dev/null 2>&1 || skip "curl is not installed"
}

# sample NAME_AND_LABELS — the value of one series in `svcctl metrics`.
sample() {
	ctl metrics | awk -v k="$1" '$1 == k {print $2; found=1} END {exit !found}'
}

hook_runs() {
	[ "$(ctl --json hooks | jq '(if type == "array" then . else .hooks end)[0].runs')" = "$1" ]
}

test_metrics_promtool_and_status() {
	metrics_need
	CONF_TEXT=$'[hook.h1]\non = user.*\nexec = /bin/true\n'
	CONF_TEXT+=$'[bridge]\nurl = unix://'"$T"$'/nope/redis.sock\npublish = *\n'
	svcd_start
	for i in 1 2 3; do ctl emit user.x n=$i >/dev/null || fail "emit $i"; done
	wait_for 5 hook_runs 3
	local text st
	text=$(ctl metrics) || fail "svcctl metrics exited $?"
	promtool check metrics <<<"$text" || fail "promtool check metrics refused the text"
	assert_contains "$text" "# TYPE svcd_bus_events_emitted_total counter"
	assert_contains "$text" "# HELP svcd_bus_queue_depth "
	assert_contains "$text" 'svcd_service_up{service="bus"} 1'
	assert_contains "$text" 'svcd_hooks_hook_runs_total{hook="h1"} 3'
	assert_contains "$text" 'svcd_hooks_hook_timeout_seconds{hook="h1"} 30'
	# the values are status's
	st=$(ctl --json status)
	assert_eq "$(jq .bus.emitted <<<"$st")" "$(sample svcd_bus_events_emitted_total)" "emitted"
	assert_eq "$(jq .bus.queue_depth <<<"$st")" "$(sample svcd_bus_queue_depth)" "queue depth"
	assert_eq "$(jq .hooks.ok <<<"$st")" "$(sample svcd_hooks_ok_total)" "hooks ok"
	assert_eq "$(jq .services.total <<<"$st")" "$(grep -c '^svcd_service_up{' <<<"$text")" \
		"one svcd_service_up per service"
	assert_eq "$(jq .services.running <<<"$st")" "$(sample 'svcd_services{state="running"}')" "running"
	# health's verdict on the bridge (degraded: Redis unreachable)
	wait_for 5 sh -c "$SVCCTL -s $SOCK --json health | jq -e '.services[] | select(.name == \"bridge\" and .healthy == false)'"
	assert_eq 0 "$(sample 'svcd_service_healthy{service="bridge"}')" "bridge unhealthy"
	assert_eq 1 "$(sample 'svcd_service_up{service="bridge"}')" "bridge running"
	assert_eq 0 "$(sample svcd_bridge_connected)" "bridge not connected"
	assert_eq 1 "$(sample 'svcd_service_healthy{service="bus"}')" "bus healthy"
	# --json: the method's result object
	assert_eq "text/plain; version=0.0.4; charset=utf-8" \
		"$(ctl --json metrics | jq -r .content_type)"
	assert_contains "$(ctl --json metrics | jq -r .text)" "svcd_build_info{version="
	svcd_stop || fail "svcd exited with status $?"
}

# http ARGS... — curl's status code (and nothing else) for a request.
http_code() {
	curl -s -o /dev/null -w '%{http_code}' "$@"
}

test_metrics_http_endpoint() {
	metrics_need
	local port out hdr
	port=$(free_port)
	CONF_TEXT=$'[metrics]\nlisten = 127.0.0.1:'"$port"$'\n'
	svcd_start
	assert_contains "$(cat "$SVCD_LOG")" "metrics: serving GET /metrics on 127.0.0.1:$port"
	out=$(curl -sf "http://127.0.0.1:$port/metrics") || fail "GET /metrics"
	promtool check metrics <<<"$out" || fail "promtool refused the HTTP body"
	assert_contains "$out" 'svcd_service_up{service="metrics"} 1'
	hdr=$(curl -sI "http://127.0.0.1:$port/metrics")
	assert_contains "$hdr" "HTTP/1.1 200 OK"
	assert_contains "$hdr" "Content-Type: text/plain; version=0.0.4; charset=utf-8"
	assert_eq "" "$(curl -s --head "http://127.0.0.1:$port/metrics" | sed '1,/^\r$/d')" "HEAD has no body"
	assert_eq 200 "$(http_code "http://127.0.0.1:$port/metrics?x=1")" "a query string"
	assert_eq 404 "$(http_code "http://127.0.0.1:$port/")" "another path"
	assert_eq 404 "$(http_code "http://127.0.0.1:$port/metricsx")" "another path"
	assert_eq 405 "$(http_code -X POST -d a=b "http://127.0.0.1:$port/metrics")" "POST"
	assert_contains "$(curl -si -X DELETE "http://127.0.0.1:$port/metrics")" "Allow: GET, HEAD"
	# a request head past 8 KiB: 431, not a buffer that grows
	out=$(python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
print(s.recv(64).decode().splitlines()[0])
PY
)
	assert_eq "HTTP/1.1 431 Request Header Fields Too Large" "$out"
	assert_eq 400 "$(printf 'NONSENSE\r\n\r\n' | socat -t 2 - "TCP:127.0.0.1:$port" | awk 'NR==1 {print $2}')" "a bad request line"
	out=$(ctl --json status | jq -c '.metrics | [.scrapes, .not_found, .bad_method, .too_large, .bad_request]')
	assert_eq "[4,2,2,1,1]" "$out" "every outcome counted"
	svcd_stop || fail "svcd exited with status $?"
}

metrics_figure() {
	[ "$(ctl --json status | jq ".metrics.$1")" = "$2" ]
}

# Slow clients: one that sends nothing is closed at [metrics] timeout; past
# max_clients a connection is closed at once; the control socket and a
# scrape keep working meanwhile (the loop is never held).
test_metrics_http_bounded() {
	metrics_need
	CONF_TEXT=$'[metrics]\nlisten = unix:'"$T"$'/metrics.sock\ntimeout = 3s\nmax_clients = 2\n'
	svcd_start
	assert_eq 200 "$(http_code --unix-socket "$T/metrics.sock" http://localhost/metrics)" "over a Unix socket"
	assert_eq 660 "$(stat -c %a "$T/metrics.sock")" "the socket's mode"
	# timeout 3s: the two idle clients must still be there when a loaded
	# machine's svcctl looks (1s was too short for that in CI)
	python3 - "$T/metrics.sock" >"$T/slow.out" <<'PY' &
import socket, sys, time
a = socket.socket(socket.AF_UNIX); a.connect(sys.argv[1])
b = socket.socket(socket.AF_UNIX); b.connect(sys.argv[1])
time.sleep(0.3)
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])
c.settimeout(5)
print("third:", repr(c.recv(10)))   # closed at once: b''
a.settimeout(5)
t = time.time()
print("first:", repr(a.recv(10)), "after %.1fs" % (time.time() - t))
PY
	local py=$!
	wait_for 5 metrics_figure clients 2
	ctl ping >/dev/null || fail "control socket held up by slow clients"
	wait_for 5 metrics_figure rejected 1
	wait "$py" || fail "the slow clients' script failed: $(cat "$T/slow.out")"
	assert_contains "$(cat "$T/slow.out")" "third: b''"
	assert_contains "$(cat "$T/slow.out")" "first: b''"
	wait_for 5 metrics_figure timeouts 2
	wait_for 5 metrics_figure clients 0
	assert_contains "$(cat "$SVCD_LOG")" "metrics: 2 clients at once (max_clients)"
	assert_eq 200 "$(http_code --unix-socket "$T/metrics.sock" http://localhost/metrics)" "after"
	assert_eq 1 "$(ctl metrics | awk '$1 == "svcd_metrics_rejected_total" {print $2}')" "rejected in the metrics"
	svcd_stop || fail "svcd exited with status $?"
	[ ! -e "$T/metrics.sock" ] || fail "the socket is left behind"
}

test_metrics_listen_errors() {
	local out rc=0
	printf '[metrics]\nlisten = localhost\n' >"$T/bad.conf"
	out=$("$SVCD" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "no port"
	assert_contains "$out" "bad.conf:2: bad value for 'listen' in [metrics]: 'localhost': expected unix:PATH or ADDRESS:PORT"
	for v in 127.0.0.1:0 127.0.0.1:70000 example.com:80 unix:relative; do
		rc=0
		printf '[metrics]\nlisten = %s\n' "$v" >"$T/bad.conf"
		"$SVCD" --check-config -c "$T/bad.conf" >/dev/null 2>&1 || rc=$?
		assert_eq 78 "$rc" "listen = $v"
	done
	printf '[metrics]\nlisten = [::1]:9464\n' >"$T/ok.conf"
	"$SVCD" --check-config -c "$T/ok.conf" >/dev/null || fail "[::1]:9464 refused"
	# the port taken: the optional service fails, svcd runs without it
	local port
	port=$(free_port)
	python3 -c 'import socket, sys, time; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$port" &
	local holder=$!
	wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
	CONF_TEXT=$'[metrics]\nlisten = 127.0.0.1:'"$port"$'\n'
	svcd_start
	# the port taken: svcd runs, the service degraded saying why, the
	# method still answers; once the port is free it listens
	wait_for 5 sh -c "$SVCCTL -s $SOCK --json health | jq -e '.services[] | select(.name == \"metrics\" and .healthy == false)'"
	assert_contains "$(ctl health metrics)" "cannot listen on 127.0.0.1:$port: Address already in use"
	assert_contains "$(cat "$SVCD_LOG")" "metrics: cannot listen on 127.0.0.1:$port: Address already in use; trying again every 2s"
	assert_eq 0 "$(ctl metrics | awk '$1 == "svcd_metrics_listening" {print $2}')" "not listening"
	kill "$holder"
	wait "$holder" 2>/dev/null
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"
	wait_for 5 sh -c "$SVCCTL -s $SOCK --json health | jq -e '.services[] | select(.name == \"metrics\" and .healthy == true)'"
	assert_eq 1 "$(grep -c 'cannot listen on' "$SVCD_LOG")" "the failure logged once"
	svcd_stop || fail "svcd exited with status $?"
}
