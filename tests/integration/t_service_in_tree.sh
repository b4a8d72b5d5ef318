#!/usr/bin/env bash
# t_service_in_tree.sh — what adding a service to svcd's own tree takes:
# in a scratch copy of the tree, the example's cache service (its own
# [cache] section, a control method, a status figure; examples/cache.c and
# its header, unchanged) becomes services/cache.{c,h} and gets one line in
# services/table.c — nothing else of svcd is touched, which the test
# checks — then that svcd is built (incrementally, from copies of this
# build's objects) and driven with the real svcctl.

# intree_build: the scratch tree in $T/tree with the cache added; sets
# INTREE_SVCD to the svcd built there.
intree_build() {
	local build san_opt="" san_ld="" before after changed out
	build=$(dirname "$SVCD")
	build=${build#"$PWD"/}
	case $build in /*) skip "svcd was built outside the tree ($build)" ;; esac
	mkdir -p "$T/tree/$build"
	cp -a Makefile .ci daemon services client "$T/tree/"
	# this build's objects (timestamps kept): only what changes is rebuilt
	cp -a "$build/daemon" "$build/services" "$build/libsvcd.a" "$T/tree/$build/"
	before=$(cd "$T/tree" && find Makefile daemon services client -type f | sort | xargs sha1sum)

	cp examples/cache.c examples/cache.h "$T/tree/services/"
	sed -i '/^\tSVC(app) /a\\tSVC(cache)        /* the example'"'"'s cache */                           \\' \
		"$T/tree/services/table.c"

	# exactly one new service (its file and header) and one line in the table
	after=$(cd "$T/tree" && find Makefile daemon services client -type f | sort | xargs sha1sum)
	changed=$(diff <(echo "$before") <(echo "$after") | sed -n 's/^> [0-9a-f]*  //p' | tr '\n' ' ')
	assert_eq "services/cache.c services/cache.h services/table.c " "$changed" "files added or changed"
	assert_eq "1" "$(diff services/table.c "$T/tree/services/table.c" | grep -c '^[<>]')" \
		"lines changed in services/table.c"
	diff services/table.c "$T/tree/services/table.c" | grep -q '^> .*SVC(cache)' ||
		fail "the table's new line: $(diff services/table.c "$T/tree/services/table.c")"

	# and the new service keeps to the layers like svcd's own
	out=$(tests/lint/layers.sh "$T/tree" 2>&1) || fail "layers.sh on the tree with the cache: $out"

	if [ "${SVCD_SANITIZED:-}" = 1 ]; then
		san_opt="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
		san_ld="-fsanitize=address,undefined"
	fi
	make -C "$T/tree" WERROR=1 BUILD="$build" ${san_opt:+OPT="$san_opt"} ${san_ld:+LDFLAGS="$san_ld"} \
		"$build/svcd" >"$T/build.log" 2>&1 ||
		fail "building svcd with services/cache.c failed: $(tail -n 20 "$T/build.log")"
	grep -q 'services/cache\.c' "$T/build.log" || fail "services/cache.c was not compiled"
	INTREE_SVCD="$T/tree/$build/svcd"
	[ "$(grep -c -- ' -c -o ' "$T/build.log")" -le 3 ] ||
		fail "more than the cache and the table were rebuilt: $(grep -- ' -c -o ' "$T/build.log")"
}

test_cache_as_an_in_tree_service() {
	intree_build
	local out rc=0 order
	order=$("$INTREE_SVCD" --print-graph | sed -n 's/^start order: //p')
	assert_contains "$order" " app cache " "the cache in svcd's start order"
	# [cache] belongs to the new service: the real svcd does not know it
	printf '[cache]\nsize = 7\n' >"$T/c.conf"
	"$INTREE_SVCD" --check-config -c "$T/c.conf" >/dev/null || fail "--check-config refused [cache]"
	out=$("$SVCD" --check-config -c "$T/c.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "svcd without the cache and a [cache] section"
	assert_contains "$out" "unknown section [cache]"
	rc=0
	printf '[cache]\nsize = 7\nttl = 1x\n' >"$T/bad.conf"
	out=$("$INTREE_SVCD" --check-config -c "$T/bad.conf" 2>&1) || rc=$?
	assert_eq 78 "$rc" "a bad [cache] value"
	assert_contains "$out" "bad.conf:3: bad value for 'ttl' in [cache]"

	SVCD=$INTREE_SVCD CONF_TEXT=$'[cache]\nsize = 7\nconnect = 10ms' svcd_start
	wait_for 10 grep -q "svcd [0-9.]* ready:" "$SVCD_LOG" # the cache connects after control
	out=$(ctl status) || fail "status failed"
	assert_contains "$out" "cache     entries=0 size=7 hits=0 misses=0 evictions=0" "the cache's figure"
	out=$(ctl call cache.clear) || fail "cache.clear failed: $out"
	assert_eq 0 "$(jq .dropped <<<"$out")" "cache.clear"
	assert_contains "$(ctl call hello)" '"cache.clear"' "hello lists the cache's method"
	CONF_TEXT=$'[cache]\nsize = 3\nconnect = 10ms' svcd_write_conf
	ctl reload >/dev/null || fail "reload failed"
	assert_eq 3 "$(ctl status --json | jq .cache.size)" "[cache] size after reload"
	svcd_stop || fail "svcd exit status $?"
	assert_contains "$(cat "$SVCD_LOG")" "cache: connected"
}
