#!/usr/bin/env bash
# layers.sh — check that every #include "..." in daemon/, services/ and
# client/ goes with the layers (docs/architecture.md), and that no two
# modules include each other, directly or round a longer loop.
#
#   tests/lint/layers.sh [ROOT]     ROOT: the tree to check (default: this one)
#
# Layers, lowest first; a file may include its own layer and lower ones:
#   base       daemon/util, log (and logging.h), sdnotify, wire, fastscan
#   framework  daemon/service.h, graph, conf, rpc, methods (and
#              methods-int.h, params.h), testing
#   services   services/* (one file per service, plus helper modules)
#   daemon     daemon/svcd, daemon/main, services/table (the compiled-in table)
#   client     client/* (svcctl): its own files and the base layer only
# A service (a services/ file that defines a `const struct svc_desc`) may
# include another service's header only if it names that service in its
# SVC_REQUIRES(...): the header of a service it does not require is a
# dependency the graph cannot see. Helper modules of services/ without a
# descriptor (timers) have no requires to check; a service may include them,
# and they may include the services they work with.
# A module is X.c with X.h (and X-int.h, its internal header when X.h is
# installed); a cycle is a loop of module includes.
# Both spellings are accepted: "util.h" (found next to the file, else in
# daemon/, services/, client/) and the layer spelling "daemon/util.h".
# A file in those directories that is not in the list above is an error:
# give it a layer here. Exit 0 clean, 1 with one line per problem.
set -u

root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2

# Includes that go against the layers today and are being removed (each
# line: FILE -> HEADER). A line that no longer matches an include is an
# error too, so this list can only shrink; keep it empty.
known() {
	cat <<'EOF'
EOF
}

# The layer of file $1 in L ("" if none) and its rank in R (client: 9).
layer_of() {
	case $1 in
	daemon/util.[ch] | daemon/log.[ch] | daemon/logging.h | \
		daemon/sdnotify.[ch] | daemon/wire.[ch] | daemon/fastscan.[ch])
		L=base R=0
		;;
	daemon/service.h | daemon/graph.c | daemon/conf.[ch] | daemon/rpc.[ch] | \
		daemon/methods.[ch] | daemon/methods-int.h | daemon/params.h | \
		daemon/testing.[ch]) L=framework R=1 ;;
	daemon/svcd.[ch] | daemon/main.c | services/table.[ch]) L=daemon R=3 ;;
	services/*.[ch]) L=services R=2 ;;
	client/*.[ch]) L=client R=9 ;;
	*) L="" R="" ;;
	esac
}

# The file include "$2" in file $1 names, relative to root, in P ("" if
# there is none).
resolve() {
	local c
	P=""
	for c in "${1%/*}/$2" "$2" "daemon/$2" "services/$2" "client/$2"; do
		if [ -f "$c" ]; then
			case $c in
			*..* | *./*) P=$(realpath -m --relative-to=. "$c") ;;
			*) P=$c ;;
			esac
			return
		fi
	done
}

# A service's requires (from its descriptor), one per line, in Q; "-" if
# the file defines no descriptor (a helper module). Cached per module.
declare -A req_cache
requires_of() {
	local c=${1%.[ch]}.c
	if [ -z "${req_cache[$c]+set}" ]; then
		if ! [ -f "$c" ] ||
			! grep -Eq '^const struct svc_desc [A-Za-z0-9_]+ *=' "$c"; then
			req_cache[$c]=-
		else
			req_cache[$c]=$(tr '\n' ' ' <"$c" |
				grep -o 'SVC_REQUIRES([^)]*)' |
				grep -o '"[^"]*"' | tr -d '"')
		fi
	fi
	Q=${req_cache[$c]}
}

problems=$(mktemp)
edges=$(mktemp)
trap 'rm -f "$problems" "$edges"' EXIT
bad() { echo "$*" >>"$problems"; }

known_list=$(known)
declare -A known_set
while read -r k; do
	[ -n "$k" ] && known_set[$k]=1
done <<<"$known_list"
for f in $(find daemon services client -name '*.[ch]' 2>/dev/null | sort); do
	layer_of "$f"
	from_layer=$L from_rank=$R
	if [ -z "$from_layer" ]; then
		bad "$f: in no layer: give it one in tests/lint/layers.sh"
		continue
	fi
	while IFS=: read -r line spelled; do
		resolve "$f" "$spelled"
		to=$P
		if [ -z "$to" ]; then
			bad "$f:$line: #include \"$spelled\": no such file in the tree"
			continue
		fi
		if [ -n "${known_set["$f -> $to"]+set}" ]; then
			echo "$f -> $to known" >>"$edges"
			continue
		fi
		m_from=${f%.[ch]} m_to=${to%.[ch]}
		echo "${m_from%-int} ${m_to%-int}" >>"$edges"
		layer_of "$to"
		to_layer=$L to_rank=$R
		if [ -z "$to_layer" ]; then
			bad "$f:$line: includes $to, which is in no layer"
			continue
		fi
		if [ "$from_layer" = client ] || [ "$to_layer" = client ]; then
			case $from_layer/$to_layer in
			client/client | client/base) ;;
			client/*)
				bad "$f:$line: includes $to: svcctl (client/) may include only client/ and the base layer"
				;;
			*)
				bad "$f:$line: includes $to: only svcctl may include client/ headers"
				;;
			esac
			continue
		fi
		if [ "$to_rank" -gt "$from_rank" ]; then
			bad "$f:$line: includes $to: the $from_layer layer may not include the $to_layer layer"
			continue
		fi
		# a service includes the services it requires (and helpers)
		if [ "$from_layer" = services ] && [ "$to_layer" = services ]; then
			from_name=${f##*/} from_name=${from_name%.[ch]}
			to_name=${to##*/} to_name=${to_name%.[ch]}
			[ "$from_name" = "$to_name" ] && continue
			requires_of "$f"
			reqs=$Q
			[ "$reqs" = - ] && continue
			requires_of "$to"
			[ "$Q" = - ] && continue
			grep -Fxq "$to_name" <<<"$reqs" ||
				bad "$f:$line: includes $to: service '$from_name' does not require '$to_name' (SVC_REQUIRES)"
		fi
	done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
		sed -E 's/^([0-9]+):[^"]*"([^"]*)".*/\1:\2/')
done

# A known exception that matches no include any more: remove it.
while read -r k; do
	[ -n "$k" ] || continue
	grep -Fxq "$k known" "$edges" ||
		bad "tests/lint/layers.sh: known exception '$k' is gone: remove it from the list"
done <<<"$known_list"

# Cycles between modules (X.c, X.h and X-int.h are one module X).
grep -v ' known$' "$edges" | awk '
	$1 != $2 && !seen[$1 " " $2]++ { adj[$1] = adj[$1] " " $2; node[$1]; node[$2] }
	function visit(n,   i, k, m, next_, path, j) {
		state[n] = 1; stack[++depth] = n
		k = split(adj[n], next_, " ")
		for (i = 1; i <= k; i++) {
			m = next_[i]
			if (state[m] == 1) {
				path = m
				for (j = depth; j >= 1 && stack[j] != m; j--) ;
				for (j = j + 1; j <= depth; j++) path = path " -> " stack[j]
				print "include cycle: " path " -> " m
			} else if (!state[m]) {
				visit(m)
			}
		}
		depth--; state[n] = 2
	}
	END { for (n in node) if (!state[n]) visit(n) }
' | sort -u >>"$problems"

if [ -s "$problems" ]; then
	echo "lint: includes against the layers (see docs/architecture.md):"
	sed 's/^/  /' "$problems"
	exit 1
fi
exit 0
