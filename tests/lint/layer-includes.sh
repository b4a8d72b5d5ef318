#!/usr/bin/env bash
# layer-includes.sh — includes spelled with their layer's directory:
# every #include "X.h" in daemon/, services/, client/, tests/ and examples/
# that names a header of daemon/, services/ or client/ becomes
# #include "DIR/X.h" ("util.h" -> "daemon/util.h", "bus.h" ->
# "services/bus.h"), so an include says which layer it reaches into.
# Headers that live next to the file outside those directories
# (tests/unit/testutil.h) and includes already spelled with their directory
# are left alone.
#
#   tests/lint/layer-includes.sh [ROOT]         print what would change;
#                                               exit 1 if anything would
#   tests/lint/layer-includes.sh --fix [ROOT]   rewrite the files in place
#
# The build passes only -I. (the Makefile), so a bare spelling does not
# compile; `make lint` runs this script to say which include to fix.
set -u

fix=false
if [ "${1:-}" = --fix ]; then
	fix=true
	shift
fi
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2

resolve() {
	local from=$1 spelled=$2 d
	d=$(dirname "$from")
	for c in "$d/$spelled" "$spelled" "daemon/$spelled" "services/$spelled" \
		"client/$spelled"; do
		if [ -f "$c" ]; then
			realpath -m --relative-to=. "$c"
			return
		fi
	done
}

changed=0
for f in $(find daemon services client tests examples -name '*.[ch]' \
	2>/dev/null | sort); do
	script=""
	while IFS=: read -r line spelled; do
		to=$(resolve "$f" "$spelled")
		case $to in
		daemon/* | services/* | client/*) ;;
		*) continue ;;
		esac
		[ "$to" = "$spelled" ] && continue
		echo "$f:$line: \"$spelled\" -> \"$to\""
		script+="${line}s|\"$spelled\"|\"$to\"|;"
		changed=$((changed + 1))
	done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
		sed -E 's/^([0-9]+):[^"]*"([^"]*)".*/\1:\2/')
	if $fix && [ -n "$script" ]; then
		sed -i "$script" "$f"
	fi
done

echo "$changed include(s) $($fix && echo rewritten || echo to rewrite)"
$fix || [ "$changed" -eq 0 ]
