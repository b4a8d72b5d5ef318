#!/usr/bin/env bash
# t_completion.sh — svcctl's shell completion against the real svcctl and
# svcd: bash through its completion function (COMP_WORDS, COMPREPLY, as
# bash's own completion calls it), zsh and fish with their own shells when
# they are installed (skipped with a message when not).

COMPL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../client" && pwd)

# comp WORDS... — what bash completion offers for the command line, the
# last word being completed, one per line.
comp() {
	(
		PATH="$(dirname "$SVCCTL"):$PATH"
		# shellcheck source=/dev/null
		source "$COMPL_DIR/svcctl.bash"
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMPREPLY=()
		_svcctl
		printf '%s\n' "${COMPREPLY[@]}"
	)
}

# Every command svcctl has, and nothing else, from svcctl itself.
test_bash_commands() {
	local want got
	want=$("$SVCCTL" --commands | LC_ALL=C sort | tr '\n' ' ')
	got=$(comp svcctl "" | LC_ALL=C sort | tr '\n' ' ')
	assert_eq "$want" "$got" "every command"
	assert_contains " $got" " hooks " "hooks is offered"
	assert_contains " $got" " events " "events is offered"
	# the --help list and --commands agree
	local listed
	listed=$("$SVCCTL" --help | awk '/^Commands:/ {on=1; next} /^$/ {on=0} on {print $1}' | LC_ALL=C sort | tr '\n' ' ')
	assert_eq "$want" "$listed" "--commands is the help's list"
	assert_eq "health help hooks " "$(comp svcctl h | LC_ALL=C sort | tr '\n' ' ')" "prefix"
}

# * is offered as itself, never expanded into the directory's files.
test_bash_no_glob() {
	mkdir "$T/dir" && touch "$T/dir/afile" "$T/dir/bfile"
	local got
	got=$(cd "$T/dir" && comp svcctl watch "")
	assert_contains "$got" "*" "* offered"
	assert_not_contains "$got" "afile" "no file names"
	got=$(cd "$T/dir" && comp svcctl events -f "")
	assert_not_contains "$got" "bfile" "no file names after an option"
}

# -s/-t after the command, the command's own options from its help.
test_bash_options() {
	local got
	got=$(comp svcctl events -)
	for o in -s --socket -t --timeout --json --since --until -f --follow -n --last; do
		grep -qx -- "$o" <<<"$got" || fail "events - lacks $o: $got"
	done
	assert_eq 1 "$(grep -cx -- --since <<<"$got")" "--since once"
	got=$(comp svcctl health --)
	grep -qx -- --fresh <<<"$got" || fail "health lacks --fresh"
	grep -qx -- --socket <<<"$got" || fail "health lacks --socket"
	# a value is not completed as a command or option
	assert_eq "" "$(comp svcctl -t "")" "after -t"
}

# Service, task and hook names from the running daemon; nothing (and
# quickly) when it does not answer.
test_bash_names() {
	CONF_TEXT='[hook.notify]
on = user.*
exec = /bin/true' svcd_start
	local got
	got=$(comp svcctl -s "$SOCK" health "")
	assert_eq "$(ctl --json services | jq -r '.services[].name' | LC_ALL=C sort | tr '\n' ' ')" \
		"$(LC_ALL=C sort <<<"$got" | tr '\n' ' ')" "service names"
	got=$(comp svcctl -s "$SOCK" cancel "")
	assert_contains "$got" "health" "task names"
	got=$(SVCD_SOCKET=$SOCK comp svcctl hooks "")
	assert_eq "notify" "$got" "hook names (socket from \$SVCD_SOCKET)"
	got=$(comp svcctl -s "$SOCK" call he)
	assert_contains "$got" "health" "method names"
	assert_contains "$got" "hello" "method names"
	svcd_stop
	local start=$SECONDS
	assert_eq "" "$(comp svcctl -s "$SOCK" health "")" "daemon gone: nothing"
	[ $((SECONDS - start)) -le 3 ] || fail "completion hung without a daemon"
}

test_zsh() {
	command -v zsh >/dev/null || skip "zsh is not installed"
	svcd_start
	local got
	got=$(PATH="$(dirname "$SVCCTL"):$PATH" zsh -f -c '
		compdef() { :; }
		compadd() { local -a a; a=("$@"); print -l -- "${(@)a[${a[(i)--]}+1,-1]}"; }
		_files() { print FILES; }
		source "$1"
		t() { words=("$@"); CURRENT=$#words; PREFIX=${words[-1]}; _svcctl; print -- ---; }
		t svcctl ""
		t svcctl -s "$2" health ""
		t svcctl events -
		t svcctl watch ""
	' zsh "$COMPL_DIR/svcctl.zsh" "$SOCK") || fail "zsh: $got"
	local cmds svcs opts pats
	cmds=$(awk 'BEGIN {RS="---\n"} NR == 1' <<<"$got" | grep -v '^$' | LC_ALL=C sort | tr '\n' ' ')
	assert_eq "$("$SVCCTL" --commands | LC_ALL=C sort | tr '\n' ' ')" "$cmds" "zsh: commands"
	svcs=$(awk 'BEGIN {RS="---\n"} NR == 2' <<<"$got" | grep -v '^$' | LC_ALL=C sort | tr '\n' ' ')
	assert_eq "$(ctl --json services | jq -r '.services[].name' | LC_ALL=C sort | tr '\n' ' ')" "$svcs" "zsh: services"
	opts=$(awk 'BEGIN {RS="---\n"} NR == 3' <<<"$got")
	grep -qx -- --follow <<<"$opts" || fail "zsh: events lacks --follow: $opts"
	grep -qx -- --socket <<<"$opts" || fail "zsh: events lacks --socket"
	pats=$(awk 'BEGIN {RS="---\n"} NR == 4' <<<"$got")
	assert_contains "$pats" "*" "zsh: * as itself"
}

test_fish() {
	command -v fish >/dev/null || skip "fish is not installed"
	svcd_start
	local got
	got=$(PATH="$(dirname "$SVCCTL"):$PATH" HOME="$T" fish --no-config -c '
		source $argv[1]
		complete -C "svcctl "; echo ---
		complete -C "svcctl -s $argv[2] health "; echo ---
		complete -C "svcctl events -"; echo ---
		cd $argv[3]; complete -C "svcctl watch "' "$COMPL_DIR/svcctl.fish" "$SOCK" "$T" 2>&1) ||
		fail "fish: $got"
	local cmds svcs opts pats
	cmds=$(awk 'BEGIN {RS="---\n"} NR == 1' <<<"$got" | cut -f1 | grep -v '^$' | LC_ALL=C sort | tr '\n' ' ')
	assert_eq "$("$SVCCTL" --commands | LC_ALL=C sort | tr '\n' ' ')" "$cmds" "fish: commands"
	svcs=$(awk 'BEGIN {RS="---\n"} NR == 2' <<<"$got" | cut -f1 | grep -v '^$' | LC_ALL=C sort | tr '\n' ' ')
	assert_eq "$(ctl --json services | jq -r '.services[].name' | LC_ALL=C sort | tr '\n' ' ')" "$svcs" "fish: services"
	opts=$(awk 'BEGIN {RS="---\n"} NR == 3' <<<"$got" | cut -f1)
	grep -qx -- --follow <<<"$opts" || fail "fish: events lacks --follow: $opts"
	grep -qx -- --socket <<<"$opts" || fail "fish: events lacks --socket"
	pats=$(awk 'BEGIN {RS="---\n"} NR == 4' <<<"$got" | cut -f1)
	assert_contains "$pats" "*" "fish: * as itself"
	assert_not_contains "$pats" "svcd.sock" "fish: no file names"
}

# Completing ./build/svcctl (not on PATH) asks that svcctl.
test_bash_program_path() {
	local got
	got=$(
		PATH=/usr/bin:/bin
		# shellcheck source=/dev/null
		source "$COMPL_DIR/svcctl.bash"
		COMP_WORDS=("$SVCCTL" ev)
		COMP_CWORD=1
		_svcctl
		printf '%s\n' "${COMPREPLY[@]}"
	)
	assert_eq "events" "$got" "commands from the svcctl being completed"
}
