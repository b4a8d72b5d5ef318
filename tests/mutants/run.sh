#!/usr/bin/env bash
# run.sh — mutation testing: plant each mutant of tests/mutants/mutants.txt
# (one plausible bug) in a copy of the tree, one at a time, run the tests
# that should catch it, and report killed / survived / stale and the kill
# rate. The working tree is never touched: the tracked files (as they are
# in the working tree, uncommitted edits included) are copied to a temp
# dir, and each mutated file is restored there after its run.
#
# Usage: tests/mutants/run.sh [ID...]        (default: every mutant)
#   MUTANTS_FULL=1       run `make check` for every mutant instead of its
#                        listed tests (slow: the whole suite per mutant)
#   MUTANTS_MIN_RATE=N   exit 0 if the kill rate is at least N% (default
#                        100: any survivor fails); a stale or unbuildable
#                        mutant always fails
#   MUTANTS_TIMEOUT=S    a test run longer than S seconds (default 900) is
#                        stopped and counts as killed (a hang is caught)
#   MUTANTS_KEEP=1       keep the temp copy (its path is printed)
#   MUTANTS_JOBS=N       make -jN (default 2)
#
# Exit status: 0 when the rate is reached and no mutant is stale, 1
# otherwise, 2 on a usage error or when the unmutated tree fails its tests.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
list=${MUTANTS_LIST:-$here/mutants.txt}
jobs=${MUTANTS_JOBS:-2}
limit=${MUTANTS_TIMEOUT:-900}
min_rate=${MUTANTS_MIN_RATE:-100}

ids=() files=() finds=() repls=() whats=() tests=()

# Records are blocks of "key: value" lines separated by blank lines; find
# and replace are read with printf %b (\n newline, \t tab, \\ backslash).
parse() {
	local line key val id="" file="" find="" repl="" what="" test="" n=0
	flush() {
		if [ -n "$id$file$find" ]; then
			if [ -z "$id" ] || [ -z "$file" ] || [ -z "$find" ] ||
				[ -z "$what" ]; then
				echo "mutants: $list: record $((n + 1)) needs id, file, find, what" >&2
				exit 2
			fi
			ids+=("$id") files+=("$file") finds+=("$find")
			repls+=("$repl") whats+=("$what") tests+=("${test:-check}")
			n=$((n + 1))
		fi
		id="" file="" find="" repl="" what="" test=""
	}
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in
		"#"*) continue ;;
		"") flush; continue ;;
		esac
		key=${line%%:*}
		val=${line#*:}
		val=${val# }
		case "$key" in
		id) id=$val ;;
		file) file=$val ;;
		find) printf -v find '%b' "$val" ;;
		replace) printf -v repl '%b' "$val" ;;
		what) what=$val ;;
		test) test=$val ;;
		*)
			echo "mutants: $list: unknown key '$key' in: $line" >&2
			exit 2
			;;
		esac
	done <"$list"
	flush
}
parse

# The mutants asked for on the command line (all by default).
sel=()
if [ $# -eq 0 ]; then
	sel=("${!ids[@]}")
else
	for want in "$@"; do
		found=""
		for i in "${!ids[@]}"; do
			[ "${ids[$i]}" = "$want" ] && found=$i
		done
		[ -n "$found" ] || { echo "mutants: no mutant '$want'" >&2; exit 2; }
		sel+=("$found")
	done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/svcd-mutants.XXXXXX")
cleanup() {
	if [ -n "${MUTANTS_KEEP:-}" ]; then
		echo "mutants: the copy is kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
(cd "$root" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$work" ||
	{ echo "mutants: cannot copy the tree" >&2; exit 2; }

# run_tests SPEC — in the copy; SPEC is words: test_X (a unit binary),
# t_X.sh or t_X.sh:test_fn (an integration file or one of its tests), check.
run_tests() {
	local w rc=0 mk="make --no-print-directory -j$jobs"
	local env="SVCD=$work/build/svcd SVCCTL=$work/build/svcctl \
SVCD_CYCLE=$work/build/tests/svcd-cycle NOTIFYD=$work/build/tests/notifyd"
	[ -n "${MUTANTS_FULL:-}" ] && set -- check
	for w in "$@"; do
		case "$w" in
		check) $mk check || rc=1 ;;
		test_*) $mk "build/tests/$w" && "build/tests/$w" || rc=1 ;;
		t_*.sh:*)
			$mk all build/tests/svcd-cycle build/tests/notifyd &&
				env $env ONLY="${w#*:}" \
					tests/integration/run.sh "tests/integration/${w%%:*}" ||
				rc=1
			;;
		t_*.sh)
			$mk all build/tests/svcd-cycle build/tests/notifyd &&
				env $env tests/integration/run.sh "tests/integration/$w" ||
				rc=1
			;;
		*) echo "mutants: unknown test '$w'" >&2; return 2 ;;
		esac
		[ $rc -eq 0 ] || return $rc
	done
	return 0
}

# in_copy CMD... — run in the copy, output to $work/out, bounded in time.
in_copy() {
	(cd "$work" && timeout -k 10 "$limit" "$@") >"$work/out" 2>&1
}

cd "$work" || exit 2
log="$work/out"
echo "mutants: building the unmutated copy in $work"
if ! in_copy make --no-print-directory -j"$jobs" all; then
	tail -n 20 "$log"
	echo "mutants: the unmutated tree does not build" >&2
	exit 2
fi
# The tests must pass without a mutant, or every "kill" means nothing.
base=$(for i in "${sel[@]}"; do printf '%s\n' ${tests[$i]}; done | sort -u)
[ -n "${MUTANTS_FULL:-}" ] && base=check
echo "mutants: baseline:" $base
export -f run_tests
export work jobs
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}
if ! in_copy bash -c 'run_tests "$@"' _ $base; then
	tail -n 30 "$log"
	echo "mutants: the unmutated tree fails its tests; fix that first" >&2
	exit 2
fi

killed=0 survived=0 stale=0 total=0
report=()
for i in "${sel[@]}"; do
	id=${ids[$i]} f=${files[$i]} total=$((total + 1))
	if [ ! -f "$work/$f" ]; then
		echo "stale     $id: no file $f"
		stale=$((stale + 1)) report+=("stale $id")
		continue
	fi
	orig=$(cat "$work/$f"; printf x)
	orig=${orig%x}
	rest=${orig//"${finds[$i]}"/}
	count=$(((${#orig} - ${#rest}) / ${#finds[$i]}))
	if [ "$count" -ne 1 ]; then
		echo "stale     $id: the snippet occurs $count times in $f (want exactly 1)"
		stale=$((stale + 1)) report+=("stale $id")
		continue
	fi
	printf '%s' "${orig/"${finds[$i]}"/"${repls[$i]}"}" >"$work/$f"
	# make sees the mutated file as newer than its object
	touch "$work/$f"
	t0=$(date +%s)
	ran=${tests[$i]}
	[ -n "${MUTANTS_FULL:-}" ] && ran=check
	if ! in_copy make --no-print-directory -j"$jobs" all; then
		result="stale     $id: does not build ($f)"
		stale=$((stale + 1))
	elif in_copy bash -c 'run_tests "$@"' _ ${tests[$i]}; then
		result="SURVIVED  $id: ${whats[$i]} [$ran]"
		survived=$((survived + 1))
	else
		result="killed    $id ($(($(date +%s) - t0)) s, $ran)"
		killed=$((killed + 1))
	fi
	printf '%s' "$orig" >"$work/$f"
	touch "$work/$f"
	echo "$result"
done

rate=0
[ $total -gt 0 ] && rate=$((killed * 100 / total))
echo "mutants: $total mutants: $killed killed, $survived survived, $stale stale; kill rate $rate%"
[ $stale -eq 0 ] && [ $rate -ge "$min_rate" ] && exit 0
exit 1
