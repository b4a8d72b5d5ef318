#!/usr/bin/env bash
# t_example.sh — the out-of-tree example (examples/): install libsvcd into a
# DESTDIR, build the example from a copy of examples/ with nothing but
# `pkg-config svcd` pointed into the DESTDIR, run its Check test, start the
# example daemon and drive it with the real svcctl (status and the cache's
# figures, call user.get and cache.clear, a bad [cache] key, reload).

# build_example: stage the library, build exampled and test_cache into
# $T/ex from a copy of examples/ (what a developer outside the tree does).
build_example() {
	command -v pkg-config >/dev/null || skip "pkg-config not installed"
	local build stage="$T/stage" inc san=""
	build=$(dirname "$SVCD")
	build=${build#"$PWD"/}
	make -s install-dev BUILD="$build" DESTDIR="$stage" PREFIX=/usr >"$T/install.log" 2>&1 ||
		fail "make install-dev failed: $(tail -n 5 "$T/install.log")"
	inc="$stage/usr/include/svcd"
	# the example declares a config section and control methods
	grep -rqs 'struct svc_conf_item {' "$inc" || fail "no installed header declares config items"
	grep -rqs 'define SVC_METHODS' "$inc" || fail "no installed header declares control methods"
	[ "${SVCD_SANITIZED:-}" = 1 ] && san="-fsanitize=address,undefined -fno-sanitize-recover=all"
	cp -r examples "$T/src" # a copy: the build sees nothing of the tree
	export PKG_CONFIG_PATH="$stage/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage"
	export LD_LIBRARY_PATH="$stage/usr/lib"
	make -C "$T/src" O="$T/ex" CFLAGS="-O1 -g -Werror $san" LDFLAGS="$san" \
		all "$T/ex/test_cache" >"$T/build.log" 2>&1 ||
		fail "building the example failed: $(tail -n 20 "$T/build.log")"
	grep -q -- "-I$PWD" "$T/build.log" && fail "the example's build reached into the source tree"
	grep -q -- "-I$stage/usr/include/svcd" "$T/build.log" ||
		fail "the example was not built with pkg-config's flags: $(head -n 5 "$T/build.log")"
	return 0
}

test_example_daemon() {
	build_example
	"$T/ex/test_cache" >"$T/test.log" 2>&1 || fail "test_cache failed: $(tail -n 20 "$T/test.log")"
	grep -q "100%: Checks: [1-9]" "$T/test.log" || fail "test_cache ran no test: $(cat "$T/test.log")"

	local order out rc=0
	order=$("$T/ex/exampled" --print-graph | sed -n 's/^start order: //p')
	assert_eq "manager worker bus health control cache user" "$order" "start order"
	out=$("$T/ex/exampled" --help-config=cache) || fail "--help-config=cache failed"
	assert_contains "$out" "#[cache]"
	assert_contains "$out" "#size = "
	printf '[daemon]\nsocket = %s\n[cache]\nsize = 10\nconnect = 20ms\n' "$SOCK" >"$T/example.conf"
	"$T/ex/exampled" --check-config -c "$T/example.conf" >/dev/null || fail "--check-config refused the example's [cache]"
	SVCD_LOG="$T/exampled.log"
	"$T/ex/exampled" -c "$T/example.conf" >"$SVCD_LOG" 2>&1 &
	SVCD_PID=$!
	wait_for 10 "$SVCCTL" -s "$SOCK" -t 1 ping
	wait_for 10 grep -q "exampled (libsvcd [0-9.]*) ready: 7 services running" "$SVCD_LOG" # the cache connects after control
	out=$(ctl status) || fail "status failed"
	assert_contains "$out" "cache     entries=0 size=10 hits=0 misses=0 evictions=0" "the cache's figures in status"
	out=$(ctl call user.get '{"id":1}') || fail "user.get failed: $out"
	assert_contains "$out" '"database"'
	assert_contains "$out" '"User 1"'
	out=$(ctl call user.get '{"id":1}') || fail "second user.get failed"
	assert_contains "$out" '"cache"'
	out=$(ctl status --json) || fail "status --json failed"
	assert_eq 1 "$(jq '.cache.hits' <<<"$out")" "the cache's hits"
	assert_eq 1 "$(jq '.cache.entries' <<<"$out")" "the cache's entries"
	out=$(ctl call user.get '{"id":"x"}' 2>&1) && rc=0 || rc=$?
	[ $rc -ne 0 ] || fail "user.get with a bad id succeeded: $out"
	assert_contains "$out" "InvalidParams" "params checked by the framework"
	out=$(ctl call cache.clear) || fail "cache.clear failed: $out"
	assert_eq 1 "$(jq '.dropped' <<<"$out")" "cache.clear's answer"
	assert_eq 0 "$(ctl status --json | jq '.cache.entries')" "entries after cache.clear"

	# reload: size applies at once, connect (restart-only) keeps its value
	printf '[daemon]\nsocket = %s\n[cache]\nsize = 5\nconnect = 30ms\n' "$SOCK" >"$T/example.conf"
	ctl reload >/dev/null || fail "reload failed"
	assert_eq 5 "$(ctl status --json | jq '.cache.size')" "[cache] size after reload"
	assert_contains "$(cat "$SVCD_LOG")" "connect changed; takes effect after a restart"
	ctl shutdown >/dev/null || fail "shutdown failed"
	svcd_wait_exit || fail "exampled exit status $?"
	out=$(cat "$SVCD_LOG")
	assert_contains "$out" "cache: connected"
	assert_contains "$out" "exampled[" "the log ident is the program's name"
	assert_contains "$out" "exampled (libsvcd " "the version line in the log"
}

# A bad [cache] key or value is a configuration error like svcd's own:
# exit 78, "FILE:LINE: ..." naming the key, all errors sorted by line.
test_example_config_errors() {
	build_example
	local out rc=0
	printf '[cache]\nsize = 10\nsiez = 3\nttl = forever\n' >"$T/bad.conf"
	out=$("$T/ex/exampled" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config on a bad [cache]"
	assert_contains "$out" "bad.conf:3: unknown key 'siez' in [cache]"
	assert_contains "$out" "bad.conf:4: bad value for 'ttl' in [cache]"
	rc=0
	printf '[cache]\nsize = 0\n' >"$T/bad.conf"
	out=$("$T/ex/exampled" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "--check-config on [cache] size = 0"
	assert_contains "$out" "bad.conf:2: bad value for 'size' in [cache]"
}

# svcd_main names the developer's program, not svcd.
test_example_program_name() {
	build_example
	local out rc=0
	assert_eq "exampled (libsvcd 0.1.0)" "$("$T/ex/exampled" --version)" "--version"
	out=$("$T/ex/exampled" --help) || fail "--help failed"
	assert_contains "$out" "Usage: exampled [OPTION]..."
	out=$("$T/ex/exampled" stray 2>&1) || rc=$?
	assert_eq 64 "$rc" "an unexpected argument"
	assert_contains "$out" "exampled: unexpected argument 'stray'"
	assert_contains "$out" "Try 'exampled --help' for more information."
	assert_eq "svcd 0.1.0" "$("$SVCD" --version)" "svcd's own version line"
}

# Its default paths are its own (%p in an item's default): a developer's
# daemon next to svcd does not read svcd's file or take svcd's socket.
test_example_default_paths() {
	build_example
	local out
	out=$("$T/ex/exampled" --help) || fail "--help failed"
	assert_contains "$out" "(default /etc/exampled/exampled.conf;"
	out=$("$T/ex/exampled" --help-config=daemon) || fail "--help-config=daemon"
	assert_contains "$out" "#socket = /run/exampled/exampled.sock"
	# svcd's own are unchanged
	out=$("$SVCD" --help) || fail "svcd --help failed"
	assert_contains "$out" "(default /etc/svcd/svcd.conf;"
	out=$("$SVCD" --help-config=daemon) || fail "svcd --help-config=daemon"
	assert_contains "$out" "#socket = /run/svcd/svcd.sock"
	out=$("$SVCD" --help-config=journal) || fail "svcd --help-config=journal"
	assert_contains "$out" "#path = /var/lib/svcd/journal.db"
}
