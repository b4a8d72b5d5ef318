#!/usr/bin/env bash
# layer-includes.sh — the one-off rewrite of includes to the layer spelling:
# every #include "X.h" in daemon/, services/, client/, tests/ and examples/
# that names a header of daemon/, services/ or client/ becomes
# #include "DIR/X.h" ("util.h" -> "daemon/util.h", "bus.h" ->
# "services/bus.h"), so an include says which layer it reaches into.
# Headers that live next to the file outside those directories
# (tests/unit/testutil.h) and includes already spelled with their directory
# are left alone.
#
#   tests/lint/layer-includes.sh [ROOT]         print what would change
#   tests/lint/layer-includes.sh --fix [ROOT]   rewrite the files in place
#
# --fix also adds -I. to the Makefile's include paths (before -Idaemon), so
# both spellings compile. tests/lint/layers.sh accepts both spellings.
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

if $fix && [ -f Makefile ] && ! grep -q -- '-I\. -Idaemon' Makefile; then
	sed -i 's/-Idaemon -Iservices -Iclient/-I. -Idaemon -Iservices -Iclient/g' \
		Makefile
	echo "Makefile: -I. added before -Idaemon -Iservices -Iclient"
fi
echo "$changed include(s) $($fix && echo rewritten || echo to rewrite)"
