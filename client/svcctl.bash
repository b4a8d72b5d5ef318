# svcctl.bash — bash completion for svcctl (commands, options, service,
# task and method names).
# Installed as $(PREFIX)/share/bash-completion/completions/svcctl.

_svcctl_services()
{
	# Service names from the running daemon, if it answers quickly.
	local sock_opt=()
	[ -n "$1" ] && sock_opt=(-s "$1")
	svcctl "${sock_opt[@]}" -t 0.5 --json services 2>/dev/null |
		sed -n 's/^    "name": "\([^"]*\)",\{0,1\}$/\1/p'
}

_svcctl_tasks()
{
	local sock_opt=()
	[ -n "$1" ] && sock_opt=(-s "$1")
	svcctl "${sock_opt[@]}" -t 0.5 --json tasks 2>/dev/null |
		sed -n 's/^    "name": "\([^"]*\)",\{0,1\}$/\1/p'
}

_svcctl_methods()
{
	# The methods the running daemon lists in hello (its own ones too).
	local sock_opt=()
	[ -n "$1" ] && sock_opt=(-s "$1")
	svcctl "${sock_opt[@]}" -t 0.5 call hello 2>/dev/null |
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

	local commands="emit health status services tasks hooks peers watch events
		schedule cancel shutdown reload ping version call help"
	local globals="-s --socket -t --timeout --json --no-color -h --help
		--version"

	case $prev in
	-s | --socket)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-t | --timeout | --since | --last | --every | --after | --emit)
		return
		;;
	esac

	# Find the command and the socket given so far.
	local i cmd="" sock="" nargs=0
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-s | --socket | -t | --timeout | --since | --last | --every | \
			--after | --emit)
			[ "${words[i]}" = -s ] || [ "${words[i]}" = --socket ] &&
				sock=${words[i + 1]}
			((i++))
			;;
		--socket=*) sock=${words[i]#--socket=} ;;
		-*) ;;
		*)
			if [ -z "$cmd" ]; then
				cmd=${words[i]}
			else
				((nargs++))
			fi
			;;
		esac
	done

	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$globals" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local opts=""
	case $cmd in
	emit) opts="--no-wait" ;;
	health) opts="--fresh" ;;
	services) opts="--dot" ;;
	watch) opts="--since" ;;
	events) opts="--last --since" ;;
	schedule) opts="--every --after --emit" ;;
	shutdown) opts="--no-wait" ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts --json --no-color --help" -- "$cur"))
		return
	fi
	case $cmd in
	health)
		[ $nargs -eq 0 ] &&
			COMPREPLY=($(compgen -W "$(_svcctl_services "$sock")" -- "$cur"))
		;;
	cancel)
		[ $nargs -eq 0 ] &&
			COMPREPLY=($(compgen -W "$(_svcctl_tasks "$sock")" -- "$cur"))
		;;
	help)
		[ $nargs -eq 0 ] && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		;;
	call)
		[ $nargs -eq 0 ] &&
			COMPREPLY=($(compgen -W "$(_svcctl_methods "$sock")" -- "$cur"))
		;;
	watch | events)
		COMPREPLY=($(compgen -W "'*' service.state service.health heartbeat" -- "$cur"))
		;;
	esac
}

complete -F _svcctl svcctl
