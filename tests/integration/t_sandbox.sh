#!/usr/bin/env bash
# t_sandbox.sh — svcd where the address families its configuration needs
# are forbidden (as under RestrictAddressFamilies=AF_UNIX), imitated by
# noinet.py (a seccomp filter): --check-config warns with exit 0, the log
# at start names the network drop-in once.

NOINET="$(dirname "${BASH_SOURCE[0]}")/noinet.py"

need_noinet() {
	command -v python3 >/dev/null || skip "python3 not installed (noinet.py)"
	local rc=0
	python3 "$NOINET" true || rc=$?
	[ $rc -eq 0 ] || skip "noinet.py cannot install its seccomp filter here"
}

WARNING="bridge: url redis://127.0.0.1:6379 needs AF_INET, but the unit forbids AF_INET: install the network.conf drop-in (docs/operations.md, 'Drop-ins')"

test_check_config_warns_when_the_network_is_forbidden() {
	need_noinet
	CONF_TEXT="[bridge]
url = redis://127.0.0.1:6379"
	svcd_write_conf
	local out rc=0
	out=$(python3 "$NOINET" "$SVCD" --check-config -c "$T/svcd.conf" 2>&1) || rc=$?
	assert_eq 0 "$rc" "--check-config exit status"
	assert_contains "$out" "configuration ok"
	assert_contains "$out" "warning: $WARNING"
	# with the network allowed: no warning
	out=$("$SVCD" --check-config -c "$T/svcd.conf" 2>&1) || fail "--check-config failed: $out"
	assert_not_contains "$out" "forbids"
}

test_unix_url_needs_no_network() {
	need_noinet
	CONF_TEXT="[bridge]
url = unix://$T/redis.sock"
	svcd_write_conf
	local out
	out=$(python3 "$NOINET" "$SVCD" --check-config -c "$T/svcd.conf" 2>&1) ||
		fail "--check-config failed: $out"
	assert_not_contains "$out" "forbids"
}

test_start_log_names_the_drop_in_once() {
	need_noinet
	CONF_TEXT="[bridge]
url = redis://127.0.0.1:6379"
	svcd_write_conf
	SVCD_LOG="$T/svcd.log"
	python3 "$NOINET" "$SVCD" -c "$T/svcd.conf" >>"$SVCD_LOG" 2>&1 &
	SVCD_PID=$!
	# whether the boot goes on with the bridge degraded or stops, the
	# warning is said once, before the services start
	wait_for 10 grep -q "starting (pid" "$SVCD_LOG"
	assert_eq 1 "$(grep -c "warning: $WARNING" "$SVCD_LOG")" "warnings in the log"
	if kill -0 "$SVCD_PID" 2>/dev/null; then
		svcd_stop || true
	fi
}
