# shellcheck shell=bash
# tests/systemd/inside.sh — helpers for the checks run.sh runs inside the
# namespaces (sourced there from /run/svcd-test/inside.sh; bash).

# poll SECONDS COMMAND...: COMMAND every 0.2 s until it succeeds, at most
# SECONDS.
poll() {
	local n=$(($1 * 5))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.2
	done
}

# journal_has TEXT: svcd's journal (every run since boot) has TEXT
journal_has() {
	journalctl -u svcd -o cat --no-pager | grep -qF -- "$1"
}

# mark: remember where svcd's journal ends; since_has TEXT: a line after the
# mark has TEXT
mark() {
	journalctl -u svcd -o cat --no-pager | wc -l >/run/svcd-test/mark
}
since_has() {
	journalctl -u svcd -o cat --no-pager | tail -n +$(($(cat /run/svcd-test/mark) + 1)) |
		grep -qF -- "$1"
}

# no_loop MINUTES TEXT: since the mark, svcd ends failed within MINUTES by
# the start limit (StartLimitBurst=5), its journal has TEXT, and no restart
# is pending
no_loop() {
	poll $(($1 * 60)) systemctl is-failed -q svcd || {
		echo "still $(systemctl is-active svcd) after $1 min"
		return 1
	}
	systemctl show -p Result -p ExecMainStatus -p NRestarts svcd
	echo "svcd.socket: $(systemctl is-active svcd.socket)"
	since_has "$2" || { echo "no '$2' in the journal"; return 1; }
	since_has "Start request repeated too quickly" || { echo "not stopped by the start limit"; return 1; }
	[ "$(systemctl show -p NRestarts --value svcd)" -le 5 ] &&
		[ -z "$(systemctl list-jobs --no-legend svcd.service)" ] &&
		systemctl is-failed -q svcd
}

# start_redis: a redis-server on 127.0.0.1:6379 as a transient unit
start_redis() {
	systemd-run -q --unit=test-redis -p Type=simple /usr/bin/redis-server \
		--bind 127.0.0.1 --port 6379 --save "" --appendonly no || return 1
	poll 20 sh -c "redis-cli -h 127.0.0.1 ping | grep -q PONG"
}

# all_stopped INVOCATION: every service that run started was stopped
all_stopped() {
	local log started stopped
	log=$(journalctl -o cat --no-pager _SYSTEMD_INVOCATION_ID="$1")
	started=$(printf '%s\n' "$log" | sed -n "s/.*started '\([^']*\)'.*/\1/p" | sort)
	stopped=$(printf '%s\n' "$log" | sed -n "s/.*stopped '\([^']*\)'.*/\1/p" | sort)
	echo "started: $started"
	echo "stopped: $stopped"
	[ -n "$started" ] && [ "$started" = "$stopped" ]
}

# exposure: systemd-analyze security's overall level for svcd.service as
# loaded now
exposure() {
	systemd-analyze security --no-pager svcd.service 2>&1 |
		sed -n 's/.*Overall exposure level for svcd.service: \([0-9.]*\).*/\1/p'
}

# write_feature_conf: the base configuration, a TCP bridge to the Redis on
# 127.0.0.1 and three hooks (one opening a TCP connection, the documented
# example writing under /var/lib/svcd, one mapping memory writable and
# executable as a JIT does)
write_feature_conf() {
	cp /run/svcd-test/base.conf /etc/svcd/svcd.conf
	cat >>/etc/svcd/svcd.conf <<'CONF'

[hook.tcp]
on = test.tcp
exec = /usr/bin/redis-cli -h 127.0.0.1 -p 6379 ping

[hook.welcome-mail]
on = user_registered
exec = /usr/local/share/svcd/welcome-mail.sh /var/lib/svcd/outbox
retries = 3

[hook.jit]
on = test.jit
exec = /usr/bin/python3 -c "import mmap; mmap.mmap(-1, 4096, prot=7); print('wx ok')"

[bridge]
url = redis://127.0.0.1:6379
publish = user.*
subscribe = remote.*
CONF
}

# bridge_round_trip: an event emitted here reaches the Redis stream the
# bridge writes (delivery = streams, the default), and one another node
# added to that stream comes out of svcd's bus
bridge_round_trip() {
	svcctl emit user.out n=1 >/dev/null || return 1
	poll 10 sh -c "redis-cli -h 127.0.0.1 XRANGE 'svcd|events' - + | grep -q '\"event\":\"user.out\"'" ||
		{ echo "user.out not in the stream:"; redis-cli -h 127.0.0.1 XRANGE 'svcd|events' - +; return 1; }
	redis-cli -h 127.0.0.1 XADD 'svcd|events' '*' m \
		'{"event":"remote.in","data":{"n":2},"time":"2026-01-01T00:00:00.000000Z","seq":1,"prev":0,"origin":{"host":"other","instance":"0123456789abcdef","epoch":"0123456789abcdef"}}' >/dev/null
	poll 10 sh -c 'svcctl events remote.in | grep -q "\"n\":2"' || { echo "remote.in not received"; svcctl events; svcctl --json peers; return 1; }
}

# security_table: systemd-analyze security for the shipped unit alone and
# with each combination of the drop-ins; the shipped unit must stay <= 2.0
security_table() {
	local d=/etc/systemd/system/svcd.service.d combo f e bad=0
	mkdir -p "$d"
	for combo in "" network jit "network jit"; do
		rm -f "$d"/network.conf "$d"/jit.conf
		for f in $combo; do
			ln -s "/usr/share/svcd/dropins/$f.conf" "$d/$f.conf"
		done
		systemctl daemon-reload
		e=$(exposure)
		printf 'exposure %-28s %s\n' "${combo:-(no drop-ins)}" "${e:-?}"
		[ -n "$e" ] || bad=1
		[ -n "$combo" ] || awk -v e="$e" 'BEGIN { exit !(e <= 2.0) }' || bad=1
	done
	rm -f "$d"/network.conf "$d"/jit.conf
	systemctl daemon-reload
	return $bad
}
