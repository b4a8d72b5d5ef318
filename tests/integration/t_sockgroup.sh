#!/usr/bin/env bash
# t_sockgroup.sh — [control] group under socket activation
# (systemd-socket-activate hands svcd its listening socket): svcd gives the
# inherited socket file that group, keeping its mode, when it may (root; or
# the file's owner and a member of the group), and otherwise refuses to start
# with exit 78 and a message naming SocketGroup=. Needs root (groupadd, and
# setpriv to run svcd as nobody).

# sockgroup_setup — a group of our own (removed at exit), a directory nobody
# can write for the socket, the configuration with [control] group.
sockgroup_setup() {
	[ "$(id -u)" = 0 ] || skip "needs root (groupadd, setpriv)"
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
	command -v groupadd >/dev/null || skip "groupadd not installed"
	command -v setpriv >/dev/null || skip "setpriv not installed"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	GRP="svcdsg$$"
	groupadd "$GRP" || fail "groupadd $GRP failed"
	trap 'rc=$?; groupdel "$GRP" 2>/dev/null; (exit $rc); lib_cleanup' EXIT
	GID=$(getent group "$GRP" | cut -d: -f3)
	mkdir "$T/run"
	chmod 777 "$T/run"
	SOCK="$T/run/svcd.sock"
	CONF_TEXT="[control]
group = $GRP"
	svcd_write_conf
	chmod 644 "$T/svcd.conf"
	SVCD_LOG="$T/svcd.log"
	: >"$SVCD_LOG"
	chmod 666 "$SVCD_LOG"
}

# activate [setpriv args...] — svcd behind systemd-socket-activate, started
# by the first connection; waits for the listening socket.
activate() {
	if [ $# -gt 0 ]; then
		setpriv "$@" systemd-socket-activate -l "$SOCK" \
			"$SVCD" -c "$T/svcd.conf" >>"$SVCD_LOG" 2>&1 &
	else
		systemd-socket-activate -l "$SOCK" "$SVCD" -c "$T/svcd.conf" \
			>>"$SVCD_LOG" 2>&1 &
	fi
	SVCD_PID=$!
	wait_for 5 test -S "$SOCK"
}

test_root_gives_the_socket_the_group() {
	sockgroup_setup
	activate
	local mode out
	mode=$(stat -c %a "$SOCK")
	assert_eq "root" "$(stat -c %G "$SOCK")" "systemd-socket-activate's group first"
	out=$("$SVCCTL" -s "$SOCK" -t 10 ping) || fail "svcctl ping through activation failed"
	assert_eq "pong" "$out"
	assert_eq "$GRP" "$(stat -c %G "$SOCK")" "the socket's group"
	assert_eq "$mode" "$(stat -c %a "$SOCK")" "the socket's mode is kept"
	assert_contains "$(cat "$SVCD_LOG")" "gave the inherited socket $SOCK to group '$GRP' (was 'root')"
	ctl shutdown >/dev/null || fail "shutdown failed"
	svcd_wait_exit || fail "svcd exit status $?"
	[ -S "$SOCK" ] || fail "svcd removed the socket it was handed"
}

test_owner_in_the_group_gives_it() {
	sockgroup_setup
	# nobody owns the socket file and has the group as a supplementary one
	activate --reuid=nobody --regid="$(id -g nobody)" --groups="$GID"
	local out
	assert_eq "nobody" "$(stat -c %U "$SOCK")"
	out=$("$SVCCTL" -s "$SOCK" -t 10 ping) || fail "svcctl ping through activation failed"
	assert_eq "pong" "$out"
	assert_eq "$GRP" "$(stat -c %G "$SOCK")" "the socket's group"
	ctl shutdown >/dev/null || fail "shutdown failed"
	svcd_wait_exit || fail "svcd exit status $?"
}

test_refused_when_it_cannot_change_the_group() {
	sockgroup_setup
	# nobody, not in the group: the chown fails (EPERM)
	activate --reuid=nobody --regid="$(id -g nobody)" --clear-groups
	local group rc=0
	group=$(stat -c %G "$SOCK")
	# the first connection starts svcd, which refuses and exits
	"$SVCCTL" -s "$SOCK" -t 10 ping >/dev/null 2>&1 && fail "svcd answered"
	svcd_wait_exit || rc=$?
	assert_eq 78 "$rc" "exit status"
	assert_eq "$group" "$(stat -c %G "$SOCK")" "the socket's group is unchanged"
	local log
	log=$(cat "$SVCD_LOG")
	assert_contains "$log" "[control] group '$GRP' but the inherited socket $SOCK belongs to group '$group' and cannot be changed (EPERM): set SocketGroup=$GRP in svcd.socket or remove [control] group"
	assert_contains "$log" "exiting with status 78"
}

test_unknown_group_is_refused() {
	sockgroup_setup
	CONF_TEXT="[control]
group = svcd-no-such-group"
	svcd_write_conf
	activate
	local rc=0
	"$SVCCTL" -s "$SOCK" -t 10 ping >/dev/null 2>&1 && fail "svcd answered"
	svcd_wait_exit || rc=$?
	assert_eq 78 "$rc" "exit status"
	assert_contains "$(cat "$SVCD_LOG")" "bad value for 'group' in [control]: unknown group 'svcd-no-such-group'"
}
