#!/usr/bin/env bash
# run.sh — run integration test files: each t_*.sh defines test_* functions;
# every function runs in its own subshell with a fresh temp dir. Prints one
# line per test and a closing "N passed, N failed" line; exits 1 on failure.
# Usage: SVCD=build/svcd SVCCTL=build/svcctl tests/integration/run.sh [FILE...]
#        ONLY=test_name tests/integration/run.sh FILE   (one test)
set -u
here=$(cd "$(dirname "$0")" && pwd)
export SVCD=${SVCD:-$here/../../build/svcd}
export SVCCTL=${SVCCTL:-$here/../../build/svcctl}
[ $# -gt 0 ] || set -- "$here"/t_*.sh
passed=0 failed=0 skipped=0
failures=()
for file in "$@"; do
	tests=$(bash -c "source '$here/lib.sh'; source '$file'; declare -F" |
		awk '$3 ~ /^test_/ {print $3}')
	for t in $tests; do
		[ -n "${ONLY:-}" ] && [ "$ONLY" != "$t" ] && continue
		start=$(date +%s%N)
		# Each test in its own process group: whatever it leaves running is
		# killed with it, and a test that hangs is killed after TEST_TIMEOUT.
		log=$(mktemp)
		setsid bash -c "source '$here/lib.sh'; source '$file'; lib_run_test $t" >"$log" 2>&1 </dev/null &
		pid=$!
		(
			trap 'kill $s 2>/dev/null; exit 0' TERM
			sleep "${TEST_TIMEOUT:-300}" & s=$!
			wait $s
			echo "FAIL: timed out after ${TEST_TIMEOUT:-300}s" >>"$log"
			kill -KILL -- -$pid
		) >/dev/null 2>&1 &
		guard=$!
		wait $pid
		rc=$?
		kill $guard 2>/dev/null; wait $guard 2>/dev/null
		kill -KILL -- -$pid 2>/dev/null
		out=$(cat "$log")
		rm -f "$log"
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		name="$(basename "$file" .sh):$t"
		if [ $rc -eq 0 ]; then
			passed=$((passed + 1)); echo "PASS $name (${ms} ms)"
		elif [ $rc -eq 77 ]; then
			skipped=$((skipped + 1)); echo "SKIP $name: $(printf '%s\n' "$out" | tail -n 1)"
		else
			failed=$((failed + 1)); failures+=("$name")
			echo "FAIL $name (${ms} ms)"
			printf '%s\n' "$out" | tail -n 60 | sed 's/^/    /'
		fi
	done
done
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
