#!/usr/bin/env bash
# t_install.sh — `make install` into a DESTDIR: the installed file list,
# the library and headers a developer builds against (pkg-config svcd), and
# a daemon of one's own built from there with svcd_main() and driven with
# svcctl.

# stage_install DIR [TARGET]: make TARGET (install) with DESTDIR=DIR,
# PREFIX=/usr, from the build directory svcd was built in.
stage_install() {
	local build
	build=$(dirname "$SVCD")
	build=${build#"$PWD"/}
	make -s "${2:-install}" BUILD="$build" DESTDIR="$1" PREFIX=/usr >"$T/install.log" 2>&1 ||
		fail "make ${2:-install} failed: $(tail -n 5 "$T/install.log")"
}

# pc ARGS...: pkg-config against the staged svcd.pc
pc() {
	PKG_CONFIG_PATH="$T/stage/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$T/stage" \
		pkg-config "$@"
}

test_install_destdir() {
	local stage="$T/stage"
	stage_install "$stage"
	local files expected
	files=$(cd "$stage" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
	expected="./etc/svcd/svcd.conf ./usr/bin/svcctl \
./usr/include/svcd/daemon/conf.h ./usr/include/svcd/daemon/logging.h \
./usr/include/svcd/daemon/methods.h ./usr/include/svcd/daemon/params.h \
./usr/include/svcd/daemon/service.h ./usr/include/svcd/daemon/svcd.h ./usr/include/svcd/daemon/testing.h \
./usr/include/svcd/services/bus.h ./usr/include/svcd/services/manager.h \
./usr/include/svcd/services/worker.h ./usr/include/svcd/svcd.h \
./usr/lib/libsvcd.a ./usr/lib/libsvcd.so ./usr/lib/libsvcd.so.0 ./usr/lib/libsvcd.so.0.1.0 \
./usr/lib/pkgconfig/svcd.pc \
./usr/lib/systemd/system/svcd.service ./usr/lib/systemd/system/svcd.socket ./usr/lib/sysusers.d/svcd.conf ./usr/sbin/svcd ./usr/share/bash-completion/completions/svcctl ./usr/share/fish/vendor_completions.d/svcctl.fish ./usr/share/man/man1/svcctl.1 ./usr/share/man/man5/svcd.conf.5 ./usr/share/man/man8/svcd.8 ./usr/share/svcd/dropins/jit.conf ./usr/share/svcd/dropins/network.conf ./usr/share/zsh/site-functions/_svcctl "
	assert_eq "$expected" "$files" "installed files"
	grep -q "ExecStart=/usr/sbin/svcd" "$stage/usr/lib/systemd/system/svcd.service" ||
		fail "unit not pointed at /usr/sbin/svcd"
	assert_eq "libsvcd.so.0.1.0" "$(readlink "$stage/usr/lib/libsvcd.so.0")" "soname link"
	assert_eq "libsvcd.so.0" "$(readlink "$stage/usr/lib/libsvcd.so")" "dev link"
	# a second install keeps a changed configuration
	echo "# local change" >>"$stage/etc/svcd/svcd.conf"
	stage_install "$stage"
	grep -q "# local change" "$stage/etc/svcd/svcd.conf" || fail "install overwrote svcd.conf"
	make -s uninstall DESTDIR="$stage" PREFIX=/usr >/dev/null 2>&1 || fail "uninstall failed"
	files=$(cd "$stage" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
	assert_eq "./etc/svcd/svcd.conf " "$files" "uninstall leaves only the config"
}

test_library_abi() {
	command -v readelf >/dev/null || skip "readelf not installed"
	stage_install "$T/stage" install-dev
	local so="$T/stage/usr/lib/libsvcd.so.0.1.0" bad re
	# the prefixes of the public API, from the Makefile's one list
	re=$(make -s abi-prefixes | sed 's/ \{1,\}/|/g')
	[ -n "$re" ] || fail "make abi-prefixes printed nothing"
	re="^($re)"
	readelf -d "$so" | grep -q 'SONAME.*\[libsvcd.so.0\]' || fail "soname is not libsvcd.so.0"
	nm -D --defined-only "$so" | grep -q ' T svcd_main$' || fail "svcd_main not exported"
	bad=$(nm -D --defined-only "$so" | awk '{print $NF}' |
		grep -Ev "$re")
	assert_eq "" "$bad" "unprefixed names exported by libsvcd.so"
	bad=$(nm -g --defined-only "$T/stage/usr/lib/libsvcd.a" | awk 'NF == 3 {print $3}' |
		grep -Ev "$re")
	assert_eq "" "$bad" "unprefixed names exported by libsvcd.a"
	# the internals are there, but local: a host program may have its own
	nm "$T/stage/usr/lib/libsvcd.a" | grep -q ' t xmalloc$' || fail "xmalloc not kept local in libsvcd.a"
	! nm -D --defined-only "$so" | grep -q ' xmalloc$' || fail "xmalloc exported"
	# svcd's own table is not in the library
	! nm -D "$so" | grep -q 'svcd_table$' || fail "svcd_table is in the library"
}

test_headers_stand_alone() {
	command -v pkg-config >/dev/null || skip "pkg-config not installed"
	stage_install "$T/stage" install-dev
	local h cflags
	cflags=$(pc --cflags svcd) || fail "pkg-config --cflags svcd failed"
	assert_contains "$cflags" "-I$T/stage/usr/include/svcd" "Cflags"
	assert_contains "$(pc --libs svcd)" "-lsvcd" "Libs"
	assert_eq "0.1.0" "$(pc --modversion svcd)" "version"
	mkdir "$T/empty"
	for h in $(cd "$T/stage/usr/include/svcd" && find . -name '*.h' | sed 's|^\./||' | sort); do
		# shellcheck disable=SC2086
		printf '#include "%s"\n#include "%s"\n' "$h" "$h" |
			(cd "$T/empty" && cc -std=c11 -Wall -Wextra -Werror -fsyntax-only $cflags -x c -) ||
			fail "$h does not compile on its own (twice) with pkg-config --cflags svcd"
	done
	# the umbrella by both spellings
	printf '#include <svcd.h>\nint (*f)(int, char **, const struct svc_desc *const *, size_t) = svcd_main;\n' |
		(cd "$T/empty" && cc -std=c11 -Wall -Werror -fsyntax-only $cflags -x c -) ||
		fail "<svcd.h> does not compile"
}

# A daemon of one service of its own, built from the staged library only.
write_hello() {
	cat >"$T/hello.c" <<'C'
#include <svcd.h>

static int
hello_init(struct svc *self, char **cause)
{
	(void)self;
	(void)cause;
	svcd_log_info("hello: up");
	return 0;
}

static const char *
hello_line(struct svc *self)
{
	(void)self;
	return "hello: all good";
}

static const struct svc_desc hello = {
    .name = "hello",
    .requires = SVC_REQUIRES("bus"),
    .init = hello_init,
    .status_line = hello_line,
};

static const struct svc_desc *const table[] = {&hello};

int
main(int argc, char **argv)
{
	return svcd_main(argc, argv, table, 1);
}
C
}

test_own_daemon_from_the_library() {
	command -v pkg-config >/dev/null || skip "pkg-config not installed"
	[ -x "${NOTIFYD:-}" ] || skip "notifyd not built"
	stage_install "$T/stage" install-dev
	write_hello
	local san=""
	[ "${SVCD_SANITIZED:-}" = 1 ] && san="-fsanitize=address,undefined"
	# shellcheck disable=SC2046
	(cd "$T" && cc -std=c11 -Wall -Wextra -Werror $san $(pc --cflags svcd) -o hello hello.c \
		$(pc --libs svcd)) || fail "building against the staged library failed"
	export LD_LIBRARY_PATH="$T/stage/usr/lib"
	ldd "$T/hello" | grep -q "$T/stage/usr/lib/libsvcd.so.0" || fail "hello does not use the staged libsvcd.so.0"
	local order
	order=$("$T/hello" --print-graph | sed -n 's/^start order: //p')
	assert_eq "manager worker bus health control hello" "$order" "core services put in front"
	printf '[daemon]\nsocket = %s\n' "$SOCK" >"$T/hello.conf"
	"$NOTIFYD" "$T/notify" >"$T/notify.log" &
	wait_for 5 test -S "$T/notify"
	SVCD_LOG="$T/hello.log"
	NOTIFY_SOCKET="$T/notify" "$T/hello" -c "$T/hello.conf" >"$SVCD_LOG" 2>&1 &
	SVCD_PID=$!
	wait_for 10 "$SVCCTL" -s "$SOCK" -t 1 ping
	assert_eq "pong" "$(ctl ping)"
	local out
	out=$(ctl services --json) || fail "services failed"
	assert_contains "$out" '"hello"'
	assert_not_contains "$out" '"failed"'
	ctl status >/dev/null || fail "status failed"
	wait_for 5 grep -q "READY=1" "$T/notify.log"
	assert_contains "$(grep -m1 READY=1 "$T/notify.log")" "STATUS=hello: all good" "the service's status line"
	assert_contains "$(cat "$SVCD_LOG")" "hello: up" "svcd_log from the service"
	ctl shutdown >/dev/null || fail "shutdown failed"
	svcd_wait_exit || fail "exit status $?"
}

test_svcd_status_line_unchanged() {
	[ -x "${NOTIFYD:-}" ] || skip "notifyd not built"
	"$NOTIFYD" "$T/notify" >"$T/notify.log" &
	wait_for 5 test -S "$T/notify"
	NOTIFY_SOCKET="$T/notify" svcd_start
	wait_for 5 grep -q "READY=1" "$T/notify.log"
	# app's line, as before the status line became a descriptor member
	grep -m1 "READY=1" "$T/notify.log" | grep -Eq 'STATUS=running: [0-9]+/[0-9]+ services, [0-9]+ events, [0-9]+ listeners' ||
		fail "READY status: $(grep -m1 READY=1 "$T/notify.log")"
	svcd_stop || fail "svcd exit status $?"
}
