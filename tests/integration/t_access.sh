#!/usr/bin/env bash
# t_access.sh — access control with real uids (docs/protocol.md): svcd runs as a
# dedicated user the test creates; clients are root, that user, members of
# the emit and admin groups, a member of the socket group only, and nobody.
# Also the socket's mode and owner, and a symlinked socket path refused.
# Needs root (skips otherwise); users and groups are removed on exit.

# Names of the users and groups this test creates (unique per run).
ACC_P="svt$$"
ACC_USERS=()
ACC_GROUPS=()

access_cleanup() {
	if [ -n "$SVCD_PID" ]; then
		kill -KILL "$SVCD_PID" 2>/dev/null
		wait "$SVCD_PID" 2>/dev/null
		SVCD_PID=""
	fi
	local u g
	for u in "${ACC_USERS[@]}"; do userdel "$u" >/dev/null 2>&1; done
	for g in "${ACC_GROUPS[@]}"; do groupdel "$g" >/dev/null 2>&1; done
}

access_setup() {
	[ "$(id -u)" = 0 ] || skip "access control tests need root (real uids)"
	local c
	for c in setpriv useradd userdel groupadd groupdel; do
		command -v $c >/dev/null || skip "$c not installed"
	done
	getent passwd nobody >/dev/null || skip "no user nobody"
	trap 'rc=$?; access_cleanup; (exit $rc); lib_cleanup' EXIT
	local g
	for g in sock emit admin; do
		groupadd --system "${ACC_P}$g" || fail "groupadd ${ACC_P}$g"
		ACC_GROUPS+=("${ACC_P}$g")
	done
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		--user-group "${ACC_P}d" || fail "useradd ${ACC_P}d"
	ACC_USERS+=("${ACC_P}d")
	ACC_GROUPS+=("${ACC_P}d")
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		--user-group "${ACC_P}u" || fail "useradd ${ACC_P}u"
	ACC_USERS+=("${ACC_P}u")
	ACC_GROUPS+=("${ACC_P}u")
	DU=$(id -u "${ACC_P}d")
	DG=$(id -g "${ACC_P}d")
	OU=$(id -u "${ACC_P}u")
	OG=$(id -g "${ACC_P}u")
	SG=$(getent group "${ACC_P}sock" | cut -d: -f3)
	EG=$(getent group "${ACC_P}emit" | cut -d: -f3)
	AG=$(getent group "${ACC_P}admin" | cut -d: -f3)
	# the daemon's user owns the socket directory; everyone may traverse it
	mkdir "$T/run"
	chown "$DU:$DG" "$T/run"
	chmod 755 "$T/run"
	SOCK="$T/run/svcd.sock"
	CONF_TEXT="[control]
group = ${ACC_P}sock
emit_group = ${ACC_P}emit
admin_group = ${ACC_P}admin"
	# (it must be in the socket group to give the socket to it)
	SVCD_WRAP="setpriv --reuid=$DU --regid=$DG --groups=$SG"
	# who runs the client: a command prefix per identity
	AS_ROOT=()
	AS_DAEMON=(setpriv --reuid="$DU" --regid="$DG" --clear-groups)
	AS_EMITTER=(setpriv --reuid="$OU" --regid="$OG" --groups="$SG,$EG")
	AS_ADMIN=(setpriv --reuid="$OU" --regid="$OG" --groups="$SG,$AG")
	AS_READER=(setpriv --reuid=nobody --regid=nogroup --groups="$SG")
	AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
}

# as WHO ARGS... — svcctl as WHO (root daemon emitter admin reader nobody)
as() {
	local -n who="AS_${1^^}"
	shift
	"${who[@]}" "$SVCCTL" -s "$SOCK" "$@"
}

# allowed WHO ARGS... — the command succeeds as WHO.
allowed() {
	local out rc=0
	out=$(as "$@" 2>&1) || rc=$?
	[ $rc = 0 ] || fail "$1: '${*:2}' refused (exit $rc): $out"
}

# denied WHO ARGS... — svcctl exits 1 with PermissionDenied.
denied() {
	local out rc=0
	out=$(as "$@" 2>&1) || rc=$?
	assert_eq 1 "$rc" "$1: '${*:2}' exit status ($out)"
	assert_contains "$out" "PermissionDenied" "$1: '${*:2}'"
}

# reads WHO — every read method works for WHO, subscribe included.
reads() {
	allowed "$1" ping
	allowed "$1" status
	allowed "$1" health
	allowed "$1" services
	allowed "$1" tasks
	allowed "$1" events --last 1
	local -n who="AS_${1^^}"
	local out
	out=$(printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"subscribe"}' |
		"${who[@]}" socat -t 1 - "UNIX-CONNECT:$SOCK")
	assert_contains "$out" '"result"' "$1: subscribe"
}

test_socket_mode_and_owner() {
	access_setup
	svcd_start
	assert_eq "660 ${ACC_P}d ${ACC_P}sock" "$(stat -c '%a %U %G' "$SOCK")" "mode, user, group"
	assert_eq "$DU" "$(stat -c %u "/proc/$SVCD_PID")" "svcd runs as its own user"
	svcd_stop || fail "exit status $?"
	[ ! -e "$SOCK" ] || fail "socket left behind"
}

test_access_levels() {
	access_setup
	svcd_start
	ctl schedule keep --every 1h --emit acc.keep >/dev/null || fail "schedule as root"
	local w
	for w in root daemon emitter admin reader; do
		reads $w
	done
	# emit level: root, the daemon's uid, emit_group
	for w in root daemon emitter; do
		allowed $w emit acc.$w
		allowed $w schedule t.$w --every 1h --emit acc.t
		allowed $w cancel t.$w
	done
	for w in admin reader; do
		denied $w emit acc.$w
		denied $w schedule t.$w --every 1h --emit acc.t
		denied $w cancel keep
	done
	assert_contains "$(ctl tasks)" keep "nothing cancelled by a refused cancel"
	local n
	n=$(ctl --json events --last 100 'acc.*' | jq '.events | length')
	assert_eq 3 "$n" "only the allowed emits happened"
	assert_contains "$(ctl --json events --last 1 acc.emitter | jq -r '.events[0].source')" "uid=$OU"
	# admin level: root, the daemon's uid, admin_group
	for w in root daemon admin; do
		allowed $w reload
	done
	for w in emitter reader; do
		denied $w reload
		denied $w shutdown
	done
	local out
	out=$(as emitter shutdown 2>&1)
	assert_contains "$out" "permission denied: 'shutdown' requires admin access"
	# nobody, in none of the groups: the 0660 socket keeps it out
	local rc=0
	out=$(as nobody ping 2>&1) || rc=$?
	assert_eq 3 "$rc" "nobody cannot connect"
	assert_contains "$out" "Permission denied"
	assert_eq pong "$(ctl ping)" "still running after every refusal"
	# shutdown by each admin-level identity
	for w in admin daemon root; do
		as $w shutdown >/dev/null 2>&1 || fail "shutdown as $w"
		svcd_wait_exit || fail "exit status $? after shutdown as $w"
		[ $w = root ] || svcd_start
	done
}

# nobody with the socket opened to everyone: reads only.
test_nobody_reads_only() {
	access_setup
	svcd_start
	chmod 0666 "$SOCK"
	reads nobody
	denied nobody emit x.y
	denied nobody schedule t --every 1h --emit x.y
	denied nobody cancel t
	denied nobody reload
	denied nobody shutdown
	assert_eq pong "$(ctl ping)"
}

# A symlink at the socket path: svcd refuses, exits non-zero, and leaves
# the link and its target alone (an existing file, and a dangling link).
test_symlinked_socket_refused() {
	access_setup
	SVCD_WRAP=""
	echo precious >"$T/target"
	local sum
	sum=$(stat -c '%s %Y %a' "$T/target")
	ln -s "$T/target" "$SOCK"
	svcd_write_conf
	local rc=0 out
	out=$("$SVCD" -c "$T/svcd.conf" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "svcd started on a symlink"
	echo "exit $rc: $(grep refusing <<<"$out")"
	assert_contains "$out" "refusing to use $SOCK: it is a symbolic link"
	[ -L "$SOCK" ] || fail "the link was removed"
	assert_eq precious "$(cat "$T/target")" "target content"
	assert_eq "$sum" "$(stat -c '%s %Y %a' "$T/target")" "target untouched"
	rm "$SOCK"
	ln -s "$T/run/elsewhere.sock" "$SOCK"
	rc=0
	out=$(setpriv --reuid="$DU" --regid="$DG" --clear-groups "$SVCD" -c "$T/svcd.conf" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "svcd (as its user) started on a dangling symlink"
	assert_contains "$out" "it is a symbolic link"
	[ ! -e "$T/run/elsewhere.sock" ] || fail "the link's target was created"
}
