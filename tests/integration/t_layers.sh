#!/usr/bin/env bash
# t_layers.sh — tests/lint/layers.sh (run by `make lint`) on scratch copies
# of the tree: it passes on the tree, fails on each kind of include that goes
# against the layers, accepts both spellings, and the one-off rewrite
# (tests/lint/layer-includes.sh --fix) leaves a tree it still passes.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# A copy of the sources the check reads, in $T/tree.
scratch() {
	mkdir -p "$T/tree/tests"
	cp -r "$HERE/daemon" "$HERE/services" "$HERE/client" "$T/tree/"
	cp -r "$HERE/tests/lint" "$T/tree/tests/"
}

layers() {
	"$T/tree/tests/lint/layers.sh" "$T/tree"
}

# expect_bad TEXT — the check fails and says TEXT.
expect_bad() {
	local rc=0 out
	out=$(layers 2>&1) || rc=$?
	assert_eq 1 "$rc" "layers.sh exit status"
	assert_contains "$out" "$1"
}

# add_include FILE HEADER — FILE (in the copy) gains #include "HEADER".
add_include() {
	sed -i "0,/^#include/s|^#include|#include \"$2\"\n#include|" "$T/tree/$1"
}

test_tree_passes() {
	scratch
	layers || fail "layers.sh fails on the tree"
}

test_lower_layer_includes_higher() {
	scratch
	add_include daemon/util.c rpc.h
	expect_bad "daemon/util.c:"
	expect_bad "includes daemon/rpc.h: the base layer may not include the framework layer"
}

test_framework_includes_service_either_spelling() {
	scratch
	add_include daemon/graph.c services/bus.h
	expect_bad "daemon/graph.c:"
	expect_bad "includes services/bus.h: the framework layer may not include the services layer"
}

test_service_includes_what_it_does_not_require() {
	scratch
	add_include services/notification.c journal.h
	expect_bad "service 'notification' does not require 'journal' (SVC_REQUIRES)"
	# what it requires is fine
	scratch
	add_include services/notification.c bus.h
	layers || fail "a service including what it requires"
}

test_client_and_daemon_boundaries() {
	scratch
	add_include client/conn.c rpc.h
	expect_bad "svcctl (client/) may include only client/ and the base layer"
	scratch
	add_include daemon/svcd.c cli.h
	expect_bad "only svcctl may include client/ headers"
	scratch
	add_include client/conn.c wire.h
	layers || fail "svcctl including the base layer"
}

test_cycle() {
	scratch
	add_include daemon/log.h sdnotify.h # sdnotify.c includes log.h
	expect_bad "include cycle: "
	local out
	out=$(layers 2>&1)
	assert_contains "$out" "daemon/log"
	assert_contains "$out" "daemon/sdnotify"
}

test_unknown_file_and_header() {
	scratch
	printf '/* x */\n' >"$T/tree/daemon/newthing.c"
	expect_bad "daemon/newthing.c: in no layer"
	rm "$T/tree/daemon/newthing.c"
	add_include daemon/util.c nope.h
	expect_bad "#include \"nope.h\": no such file in the tree"
}

test_stale_known_exception() {
	scratch
	sed -i "/^known() {/,/^}/s|^\tcat <<'EOF'\$|&\ndaemon/util.c -> daemon/log.h|" \
		"$T/tree/tests/lint/layers.sh"
	expect_bad "known exception 'daemon/util.c -> daemon/log.h' is gone"
}

test_rewrite_to_layer_spelling() {
	scratch
	# the tree is spelled with layers: plant three bare spellings
	sed -i 's|^#include "daemon/rpc.h"$|#include "rpc.h"|' "$T/tree/daemon/rpc.c"
	sed -i 's|^#include "daemon/util.h"$|#include "util.h"|' "$T/tree/daemon/log.h"
	sed -i 's|^#include "services/table.h"$|#include "table.h"|' "$T/tree/daemon/main.c"
	"$T/tree/tests/lint/layer-includes.sh" "$T/tree" >"$T/check.out" &&
		fail "layer-includes.sh accepts bare spellings"
	assert_contains "$(cat "$T/check.out")" "3 include(s) to rewrite"
	"$T/tree/tests/lint/layer-includes.sh" --fix "$T/tree" >"$T/fix.out" ||
		fail "layer-includes.sh --fix"
	assert_contains "$(cat "$T/fix.out")" '"rpc.h" -> "daemon/rpc.h"'
	grep -q '^#include "daemon/util.h"$' "$T/tree/daemon/log.h" ||
		fail "log.h not rewritten"
	grep -q '^#include "services/table.h"$' "$T/tree/daemon/main.c" ||
		fail "main.c not rewritten"
	layers || fail "layers.sh fails on the rewritten tree"
	assert_contains "$("$T/tree/tests/lint/layer-includes.sh" "$T/tree")" \
		"0 include(s) to rewrite" "the rewrite is done in one pass"
	add_include services/notification.c services/journal.h
	expect_bad "service 'notification' does not require 'journal'"
}
