#!/usr/bin/env bash
# t_example.sh — the out-of-tree example (examples/): install libsvcd into a
# DESTDIR, build the example from a copy of examples/ with nothing but
# `pkg-config svcd` pointed into the DESTDIR, run its Check test, start the
# example daemon and drive it with the real svcctl (status, call user.get).

test_example_daemon() {
	command -v pkg-config >/dev/null || skip "pkg-config not installed"
	local build stage="$T/stage" inc san=""
	build=$(dirname "$SVCD")
	build=${build#"$PWD"/}
	make -s install-dev BUILD="$build" DESTDIR="$stage" PREFIX=/usr >"$T/install.log" 2>&1 ||
		fail "make install-dev failed: $(tail -n 5 "$T/install.log")"
	inc="$stage/usr/include/svcd"
	# The example declares a config section and a control method: it needs
	# conf.h's items and methods.h's method table among the public headers.
	grep -rqs 'struct svc_conf_item {' "$inc" && grep -rqs 'define SVC_METHODS' "$inc" ||
		skip "the installed headers declare no config items or control methods (conf.h, methods.h not public yet)"
	"$SVCCTL" --help 2>&1 | grep -q '^ *call ' || skip "svcctl has no 'call' command"

	[ "${SVCD_SANITIZED:-}" = 1 ] && san="-fsanitize=address,undefined -fno-sanitize-recover=all"
	cp -r examples "$T/src" # a copy: the build sees nothing of the tree
	export PKG_CONFIG_PATH="$stage/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage"
	export LD_LIBRARY_PATH="$stage/usr/lib"
	make -s -C "$T/src" O="$T/ex" CFLAGS="-O1 -g -Werror $san" LDFLAGS="$san" \
		all "$T/ex/test_cache" >"$T/build.log" 2>&1 ||
		fail "building the example failed: $(tail -n 20 "$T/build.log")"
	grep -q -- "-I$PWD" "$T/build.log" && fail "the example's build reached into the source tree"
	"$T/ex/test_cache" >"$T/test.log" 2>&1 || fail "test_cache failed: $(tail -n 20 "$T/test.log")"
	grep -q "100%: Checks: [1-9]" "$T/test.log" || fail "test_cache ran no test: $(cat "$T/test.log")"

	local order out rc=0
	order=$("$T/ex/exampled" --print-graph | sed -n 's/^start order: //p')
	assert_eq "manager worker bus health control cache user" "$order" "start order"
	printf '[daemon]\nsocket = %s\n[cache]\nsize = 10\nconnect = 20ms\n' "$SOCK" >"$T/example.conf"
	"$T/ex/exampled" --check-config -c "$T/example.conf" >/dev/null || fail "--check-config refused the example's [cache]"
	SVCD_LOG="$T/exampled.log"
	"$T/ex/exampled" -c "$T/example.conf" >"$SVCD_LOG" 2>&1 &
	SVCD_PID=$!
	wait_for 10 "$SVCCTL" -s "$SOCK" -t 1 ping
	out=$(ctl status) || fail "status failed"
	assert_contains "$out" "cache"
	out=$(ctl call user.get '{"id":1}') || fail "user.get failed: $out"
	assert_contains "$out" '"database"'
	assert_contains "$out" '"User 1"'
	out=$(ctl call user.get '{"id":1}') || fail "second user.get failed"
	assert_contains "$out" '"cache"'
	out=$(ctl status --json) || fail "status --json failed"
	assert_contains "$out" '"hits"' "the cache's status figures"
	out=$(ctl call user.get '{"id":"x"}' 2>&1) && rc=0 || rc=$?
	[ $rc -ne 0 ] || fail "user.get with a bad id succeeded: $out"
	ctl reload >/dev/null || fail "reload failed"
	ctl shutdown >/dev/null || fail "shutdown failed"
	svcd_wait_exit || fail "exampled exit status $?"
	assert_contains "$(cat "$SVCD_LOG")" "cache: connected"
}
