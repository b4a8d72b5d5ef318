# svcctl.bash — bash completion for svcctl: commands, options, and the
# names of services, tasks, hooks and methods from the running daemon.
# Installed as $(PREFIX)/share/bash-completion/completions/svcctl.
#
# The lists come from svcctl itself, so a new command needs nothing here:
#   svcctl --commands        every command, one a line
#   svcctl --help            the global options
#   svcctl COMMAND --help    the command's own options
# Names come from the daemon only when it answers within half a second.
# Replies are read line by line (mapfile), never through word splitting, so
# a pattern such as * is offered as itself, not expanded into file names.

# _svcctl_reply WORDS... — COMPREPLY: the words that start with $cur.
_svcctl_reply()
{
	local w
	COMPREPLY=()
	for w in "$@"; do
		[[ $w == "$cur"* ]] && COMPREPLY+=("$w")
	done
}

_svcctl_lines()
{
	local -a list
	mapfile -t list
	_svcctl_reply "${list[@]}"
}

_svcctl_commands()
{
	"${_svcctl_bin:-svcctl}" --commands 2>/dev/null
}

# Options in a help text: the words starting with - on its option lines,
# before the global block (or in it, with "global").
_svcctl_help_opts()
{
	awk -v want="$1" '
		/^Options \(before or after/ { global = 1; next }
		/^  +-/ {
			if ((want == "global") != global) next
			for (i = 1; i <= NF; i++) {
				w = $i
				sub(/,$/, "", w)
				if (w ~ /^-/) { sub(/=.*/, "=", w); if (!seen[w]++) print w }
				else break
			}
		}'
}

# _svcctl_names KIND SOCKET — the "name" members of the daemon's reply.
_svcctl_names()
{
	local sock_opt=()
	[ -n "$2" ] && sock_opt=(-s "$2")
	"${_svcctl_bin:-svcctl}" "${sock_opt[@]}" -t 0.5 --json "$1" 2>/dev/null |
		sed -n 's/^ *"name": "\([^"]*\)",\{0,1\}$/\1/p'
}

_svcctl_methods()
{
	local sock_opt=()
	[ -n "$1" ] && sock_opt=(-s "$1")
	"${_svcctl_bin:-svcctl}" "${sock_opt[@]}" -t 0.5 call hello 2>/dev/null |
		sed -n 's/^    "\([^"]*\)",\{0,1\}$/\1/p'
}

_svcctl()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion -n = || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi
	COMPREPLY=()
	# the svcctl being completed (./build/svcctl too), else the one on PATH
	local _svcctl_bin=svcctl
	[[ ${words[0]} == */* && -x ${words[0]} ]] && _svcctl_bin=${words[0]}

	# options that take a value
	local valued=" -s --socket -t --timeout --since --until --last -n
		--every --after --emit -d --interval -w -c "
	case $prev in
	-s | --socket)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	esac
	[[ $valued == *" $prev "* || $valued == *" $prev"$'\n'* ]] && return

	# Find the command and the socket given so far.
	local i cmd="" sock="${SVCD_SOCKET:-}" nargs=0 w
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		-s | --socket) sock=${words[i + 1]} ;;
		--socket=*) sock=${w#--socket=} ;;
		esac
		if [[ $w == -* ]]; then
			[[ $valued == *" $w "* || $valued == *" $w"$'\n'* ]] &&
				((i++))
			continue
		fi
		if [ -z "$cmd" ]; then
			cmd=$w
		else
			((nargs++))
		fi
	done

	local globals
	globals=$("$_svcctl_bin" --help 2>/dev/null | _svcctl_help_opts global)
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			_svcctl_lines <<<"$globals"
		else
			_svcctl_lines < <(_svcctl_commands)
		fi
		return
	fi

	if [[ $cur == -* ]]; then
		# the command's options, then the global ones (-s, -t, ...)
		_svcctl_lines < <("$_svcctl_bin" "$cmd" --help 2>/dev/null |
			_svcctl_help_opts command
			printf '%s\n' "$globals")
		[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] &&
			compopt -o nospace 2>/dev/null
		return
	fi
	case $cmd in
	health)
		[ $nargs -eq 0 ] && _svcctl_lines < <(_svcctl_names services "$sock")
		;;
	cancel)
		[ $nargs -eq 0 ] && _svcctl_lines < <(_svcctl_names tasks "$sock")
		;;
	hooks)
		[ $nargs -eq 0 ] && _svcctl_lines < <(_svcctl_names hooks "$sock")
		;;
	help)
		[ $nargs -eq 0 ] && _svcctl_lines < <(_svcctl_commands)
		;;
	call)
		[ $nargs -eq 0 ] && _svcctl_lines < <(_svcctl_methods "$sock")
		;;
	watch | events)
		_svcctl_reply '*' service.state service.health heartbeat
		;;
	esac
}

complete -F _svcctl svcctl
