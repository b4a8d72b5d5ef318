#!/usr/bin/env bash
# tests/systemd/run.sh — svcd under a real systemd (make check-systemd).
#
# Boots systemd as PID 1 in fresh namespaces on an overlay of the host's /
# (tests/systemd/boot.sh; the host is never written), installs the tree
# into it with `make install PREFIX=/usr`, creates the svcd user with
# systemd-sysusers and drives the shipped units with the real systemctl,
# svcctl and journalctl through nsenter. Needs root, namespaces and a
# cgroup2 mount; without them it prints one "skipped: ..." line and exits 0.
# Every wait is a bounded poll; systemd is powered off on any exit.
#
# Environment: BUILD (default build, where `make all lib` put svcd),
# SD_WATCHDOG (default 4s: WatchdogSec= for the watchdog check, set by a
# test-only drop-in so the check takes seconds, not the shipped 30 s),
# SD_KEEP=1 keeps the temporary directory (console.log, install.log).
set -u
cd "$(dirname "$0")/../.." || exit 1
src=$PWD
build=${BUILD:-build}
case $build in /*) ;; *) build=$src/$build ;; esac
wdsec=${SD_WATCHDOG:-4s}

skip() {
	echo "skipped: $*"
	exit 0
}

[ "$(id -u)" = 0 ] || skip "the real-systemd test needs root"
for c in unshare nsenter setsid systemd-analyze systemd-sysusers redis-server redis-cli; do
	command -v "$c" >/dev/null || skip "$c is not installed"
done
[ -x /usr/lib/systemd/systemd ] || skip "/usr/lib/systemd/systemd is not installed"
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
	cgroot=/sys/fs/cgroup
elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
	cgroot=/sys/fs/cgroup/unified
else
	skip "no cgroup2 mount (/sys/fs/cgroup or /sys/fs/cgroup/unified)"
fi
unshare --fork --pid --mount --uts --ipc --net --cgroup true 2>/dev/null ||
	skip "cannot create pid/mount/uts/ipc/net/cgroup namespaces here"
if ! [ -x "$build/svcd" ] || ! [ -x "$build/svcctl" ]; then
	echo "tests/systemd: $build/svcd not built (make all lib)" >&2
	exit 1
fi

start=$(date +%s)
dir=$(mktemp -d /tmp/svcd-systemd.XXXXXX)
cg=$cgroot/$(basename "$dir")
mkdir "$cg" || skip "cannot create a cgroup under $cgroot"

pid1=
launcher=
IN() { nsenter -t "$pid1" -m -u -i -n -p -C -r -w "$@"; }

cleanup() {
	if [ -n "$pid1" ] && kill -0 "$pid1" 2>/dev/null; then
		IN systemctl poweroff >/dev/null 2>&1
	fi
	local n=100
	while [ -n "$launcher" ] && kill -0 "$launcher" 2>/dev/null && [ $n -gt 0 ]; do
		n=$((n - 1))
		sleep 0.1
	done
	if [ -n "$launcher" ] && kill -0 "$launcher" 2>/dev/null; then
		echo "systemd did not power off in 10 s: killing it"
		[ -n "$pid1" ] && kill -9 "$pid1" 2>/dev/null
		wait "$launcher" 2>/dev/null
	fi
	find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
	if [ "${SD_KEEP:-}" = 1 ]; then
		echo "kept $dir"
	else
		rm -rf "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

setsid bash -c "echo \$\$ >'$cg/cgroup.procs' && exec unshare --fork --pid --mount --uts --ipc --net \
	--cgroup --propagation private '$src/tests/systemd/boot.sh' '$dir' '$src' '$build'" \
	</dev/null >"$dir/console.log" 2>&1 &
launcher=$!

# poll SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds, at
# most SECONDS; the status of the last run.
poll() {
	local n=$(($1 * 5))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.2
	done
}

# is_systemd: the launcher's child has become systemd (it first installs
# the tree: boot.sh); fails at once if the launcher is gone
is_systemd() {
	local n=450
	while kill -0 "$launcher" 2>/dev/null; do
		pid1=$(pgrep -P "$launcher" | head -n 1)
		[ -n "$pid1" ] && [ "$(cat "/proc/$pid1/comm" 2>/dev/null)" = systemd ] && return 0
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.2
	done
	return 1
}
booted() {
	case $(IN systemctl is-system-running 2>/dev/null) in
	running | degraded) return 0 ;;
	esac
	return 1
}
if ! is_systemd || ! poll 60 booted; then
	echo "FAIL boot: systemd did not come up"
	sed 's/^/    /' "$dir/console.log" | tail -n 30
	exit 1
fi
echo "systemd $(IN systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p') is PID 1 in the namespaces (host pid $pid1) after $(($(date +%s) - start)) s"

passed=0
failed=0
# check NAME COMMAND...: run COMMAND inside; PASS (with its output if SHOW
# is set), or FAIL with its output and the end of svcd's journal.
check() {
	local name=$1 out
	shift
	if out=$(IN timeout 150 "$@" 2>&1); then
		echo "PASS $name"
		[ -z "${SHOW:-}" ] || printf '%s\n' "$out" | sed 's/^/    /'
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
		echo "    --- journalctl -u svcd (last 25 lines)"
		IN journalctl -u svcd -o cat -n 25 --no-pager 2>&1 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
}
# inside SCRIPT: a bash script inside, with the helpers of inside.sh
inside() {
	IN bash -c ". /run/svcd-test/inside.sh; $1"
}

IN mkdir -p /run/svcd-test
IN tee /run/svcd-test/inside.sh >/dev/null <"$src/tests/systemd/inside.sh"
IN cp /etc/svcd/svcd.conf /run/svcd-test/base.conf

# ---- the shipped units ----------------------------------------------------
check "systemd-sysusers creates the svcd user from svcd.sysusers" \
	bash -c 'systemd-sysusers && getent passwd svcd && getent group svcd'
check "systemd-analyze verify: clean" bash -c '
	systemctl daemon-reload || exit 1
	out=$(systemd-analyze verify --man=no svcd.service svcd.socket 2>&1); rc=$?
	printf "%s" "$out"; [ $rc = 0 ] && [ -z "$out" ]'
check "systemd-analyze security svcd.service <= 2.0 (shipped, no drop-ins)" \
	bash -c '. /run/svcd-test/inside.sh; e=$(exposure) && echo "$e" && awk -v e="$e" "BEGIN { exit !(e <= 2.0) }"'
check "socket activation: svcctl status answers, svcd is started by it" bash -c '
	. /run/svcd-test/inside.sh
	systemctl start svcd.socket && [ "$(stat -c %U:%G:%a /run/svcd/svcd.sock)" = svcd:svcd:660 ] &&
	[ "$(systemctl is-active svcd)" = inactive ] &&
	timeout 30 svcctl -t 30 status | grep -q "^svcd" && systemctl is-active -q svcd'
check "systemctl stop: exit 0, every started service stopped" bash -c '
	. /run/svcd-test/inside.sh
	inv=$(systemctl show -p InvocationID --value svcd)
	systemctl stop svcd 2>/dev/null
	[ "$(systemctl show -p ExecMainStatus --value svcd)" = 0 ] &&
	[ "$(systemctl show -p Result --value svcd)" = success ] && all_stopped "$inv"'
check "systemctl start: active (running) with the STATUS= line" bash -c '
	systemctl start svcd || exit 1
	st=$(systemctl status svcd --no-pager 2>&1); printf "%s\n" "$st"
	printf "%s\n" "$st" | grep -q "Active: active (running)" &&
	printf "%s\n" "$st" | grep -Eq "Status: \"(running|svcd)"'
check "systemctl reload: a new [timer] runs" bash -c '
	. /run/svcd-test/inside.sh
	printf "\n[timer.probe]\nevery = 1h\nemit = probe.tick\n" >>/etc/svcd/svcd.conf
	systemctl reload svcd &&
	poll 10 journal_has "configuration reloaded" && poll 10 sh -c "svcctl tasks | grep -q probe"'
SHOW=1 check "watchdog (WatchdogSec=$wdsec): a SIGSTOPped svcd is aborted and restarted" bash -c "
	. /run/svcd-test/inside.sh
	mkdir -p /run/systemd/system/svcd.service.d
	printf '[Service]\nWatchdogSec=$wdsec\n' >/run/systemd/system/svcd.service.d/test-watchdog.conf
	systemctl daemon-reload && systemctl reset-failed svcd && systemctl restart svcd || exit 1
	old=\$(systemctl show -p MainPID --value svcd)
	kill -STOP \$old
	poll 60 journal_has 'Watchdog timeout' &&
	poll 30 sh -c '[ \$(systemctl show -p NRestarts --value svcd) -ge 1 ] && systemctl is-active -q svcd' &&
	[ \"\$(systemctl show -p MainPID --value svcd)\" != \$old ] &&
	timeout 10 svcctl status >/dev/null
	rc=\$?
	journalctl -u svcd -o cat | grep -E \"Watchdog timeout|Main process exited|restart counter\" | tail -n 3
	rm /run/systemd/system/svcd.service.d/test-watchdog.conf; systemctl daemon-reload
	exit \$rc"

echo "after the shipped units: $(($(date +%s) - start)) s"

# ---- features and sandbox: bridge, hooks, drop-ins ------------------------
check "redis-server on 127.0.0.1:6379 inside the namespace" bash -c '
	. /run/svcd-test/inside.sh; start_redis'
inside write_feature_conf
check "--check-config in the unit's sandbox warns that a redis:// bridge needs network.conf" bash -c '
	systemd-run --quiet --wait --pipe -p RestrictAddressFamilies=AF_UNIX \
		svcd --check-config -c /etc/svcd/svcd.conf 2>&1 | tee /dev/stderr | grep -q "network.conf"'
IN bash -c '. /run/svcd-test/inside.sh; mark'
check "no drop-in: svcd still starts, the bridge is degraded (EAFNOSUPPORT), not a crash loop" bash -c '
	. /run/svcd-test/inside.sh
	systemctl reset-failed svcd; systemctl restart svcd; systemctl is-active -q svcd &&
	h=$(svcctl health); [ $? = 1 ] && printf "%s\n" "$h" | grep -i bridge | grep -qi degraded'
check "no drop-in: the log at start names the drop-in to install (network.conf)" bash -c '
	. /run/svcd-test/inside.sh; since_has network.conf'
IN bash -c 'systemctl stop svcd; systemctl reset-failed svcd svcd.socket; systemctl start svcd.socket' >/dev/null 2>&1
IN bash -c 'mkdir -p /etc/systemd/system/svcd.service.d &&
	ln -sf /usr/share/svcd/dropins/network.conf /etc/systemd/system/svcd.service.d/network.conf &&
	systemctl daemon-reload'
check "network.conf: svcd starts, the bridge to redis://127.0.0.1:6379 connects" bash -c '
	. /run/svcd-test/inside.sh
	systemctl reset-failed svcd; systemctl restart svcd &&
	poll 20 sh -c "svcctl status | grep \"^bridge\" | grep -q connected=yes"'
check "network.conf: the bridge carries an event out (PUBLISH) and one in (pmessage)" bash -c '
	. /run/svcd-test/inside.sh; bridge_round_trip'
check "network.conf: a hook opens a TCP connection to 127.0.0.1:6379" bash -c '
	. /run/svcd-test/inside.sh
	svcctl emit test.tcp >/dev/null && poll 20 journal_has "hook tcp: PONG"'
check "the documented example hook writes its mail under /var/lib/svcd/outbox" bash -c '
	. /run/svcd-test/inside.sh
	seq=$(svcctl --json emit user_registered email=alice@example.org | sed -n "s/.*\"seq\": *\([0-9]*\).*/\1/p")
	[ -n "$seq" ] && poll 20 test -s /var/lib/svcd/outbox/$seq.mail &&
	grep -q alice@example.org /var/lib/svcd/outbox/$seq.mail'
check "the journal's own fields: journalctl SVCD_SERVICE=notification, SVCD_SEQ= the event" bash -c '
	. /run/svcd-test/inside.sh
	seq=$(svcctl --json emit user_registered email=bob@example.org | sed -n "s/.*\"seq\": *\([0-9]*\).*/\1/p")
	[ -n "$seq" ] &&
	poll 20 sh -c "journalctl -u svcd SVCD_SERVICE=notification -o cat | grep -q bob@example.org" &&
	poll 10 sh -c "journalctl -u svcd SVCD_SEQ=$seq -o cat | grep -q \"welcome mail to bob@example.org\"" &&
	poll 10 sh -c "journalctl -u svcd SVCD_SERVICE=bridge -o cat | grep -q \"^bridge: \"" &&
	! journalctl -u svcd SVCD_SERVICE=bridge -o cat | grep -q bob@example.org'
check "[metrics] listen = unix:/run/svcd/metrics.sock in the unit's sandbox: GET /metrics answers, promtool accepts it" bash -c '
	. /run/svcd-test/inside.sh
	printf "\n[metrics]\nlisten = unix:/run/svcd/metrics.sock\n" >>/etc/svcd/svcd.conf
	systemctl reset-failed svcd; systemctl restart svcd || exit 1
	poll 10 test -S /run/svcd/metrics.sock &&
	out=$(curl -sf --unix-socket /run/svcd/metrics.sock http://localhost/metrics) &&
	printf "%s\n" "$out" | grep -q "^svcd_service_up{service=\"bridge\"} 1" &&
	{ ! command -v promtool >/dev/null || printf "%s\n" "$out" | promtool check metrics; }'
IN bash -c '. /run/svcd-test/inside.sh; write_feature_conf'
check "network.conf, Redis down at start: svcd active, health degraded, then ok once Redis is back" bash -c '
	. /run/svcd-test/inside.sh
	systemctl stop test-redis; systemctl reset-failed svcd; systemctl restart svcd || exit 1
	systemctl is-active -q svcd || exit 1
	poll 20 sh -c "svcctl health --fresh; [ \$? = 1 ]" || exit 1
	svcctl health | grep -i bridge
	start_redis &&
	poll 30 sh -c "svcctl health --fresh >/dev/null"'
if IN test -x /usr/bin/python3; then
	SHOW=1 check "no jit.conf: a hook mapping memory writable and executable is refused" bash -c '
		. /run/svcd-test/inside.sh
		svcctl emit test.jit >/dev/null && poll 20 journal_has "hook jit: test.jit" &&
		journalctl -u svcd -o cat | grep "hook jit" | tail -n 2 && ! journal_has "hook jit: wx ok"'
	check "jit.conf: the same hook maps it" bash -c '
		. /run/svcd-test/inside.sh
		ln -sf /usr/share/svcd/dropins/jit.conf /etc/systemd/system/svcd.service.d/jit.conf &&
		systemctl daemon-reload && systemctl reset-failed svcd && systemctl restart svcd &&
		svcctl emit test.jit >/dev/null && poll 20 journal_has "hook jit: wx ok"'
else
	echo "skipped: the jit.conf checks (no /usr/bin/python3)"
fi
SHOW=1 check "systemd-analyze security for each drop-in combination" bash -c '
	. /run/svcd-test/inside.sh; security_table'
IN bash -c 'rm -f /etc/systemd/system/svcd.service.d/*.conf; systemctl daemon-reload'

# ---- [control] group under socket activation --------------------------------
check "[control] group = ops with svcd.socket: the socket is group ops, or svcd refuses naming SocketGroup=" bash -c '
	. /run/svcd-test/inside.sh
	getent group ops >/dev/null || groupadd -r ops || exit 1
	cp /run/svcd-test/base.conf /etc/svcd/svcd.conf
	sed -i "s/^;group =\$/group = ops/" /etc/svcd/svcd.conf; grep -q "^group = ops" /etc/svcd/svcd.conf || exit 1
	systemctl stop svcd; systemctl reset-failed svcd svcd.socket; systemctl restart svcd.socket
	if systemctl start svcd; then
		stat -c %G /run/svcd/svcd.sock; [ "$(stat -c %G /run/svcd/svcd.sock)" = ops ]
	else
		journalctl -u svcd -o cat | grep -q SocketGroup=
	fi'

# ---- no crash loop ----------------------------------------------------------
SHOW=1 check "a configuration error (exit 78 from ExecStartPre): failed at the start limit, no loop" bash -c '
	. /run/svcd-test/inside.sh
	systemctl stop svcd; systemctl reset-failed svcd svcd.socket; systemctl start svcd.socket
	cp /run/svcd-test/base.conf /etc/svcd/svcd.conf; printf "\n[timer.bad]\nevery = soon\nemit = x\n" >>/etc/svcd/svcd.conf
	mark; systemctl start svcd
	no_loop 1 "status=78/CONFIG"'
SHOW=1 check "a failure at every start (exit 1): failed at the start limit, no loop" bash -c '
	. /run/svcd-test/inside.sh
	systemctl stop svcd; systemctl reset-failed svcd svcd.socket; systemctl start svcd.socket
	cp /run/svcd-test/base.conf /etc/svcd/svcd.conf
	# a journal that is not a database: --check-config sees a writable
	# file, only opening it fails, at every start
	printf "this is not an SQLite database, only text that fills its header" >/var/lib/svcd/broken.db
	chown svcd:svcd /var/lib/svcd/broken.db
	printf "\n[journal]\npath = /var/lib/svcd/broken.db\n" >>/etc/svcd/svcd.conf
	mark; systemctl start svcd
	no_loop 1 "svcd exiting with status 1"'
check "after reset-failed and a good configuration: svcd starts again" bash -c '
	cp /run/svcd-test/base.conf /etc/svcd/svcd.conf
	systemctl reset-failed svcd svcd.socket && systemctl start svcd.socket svcd &&
	timeout 10 svcctl status >/dev/null'
check "systemctl stop at the end: exit 0, every started service stopped" bash -c '
	. /run/svcd-test/inside.sh
	inv=$(systemctl show -p InvocationID --value svcd)
	systemctl stop svcd 2>/dev/null
	[ "$(systemctl show -p ExecMainStatus --value svcd)" = 0 ] &&
	[ "$(systemctl show -p Result --value svcd)" = success ] && all_stopped "$inv"'

echo "== systemd: $passed passed, $failed failed, in $(($(date +%s) - start)) s"
[ $failed = 0 ]
