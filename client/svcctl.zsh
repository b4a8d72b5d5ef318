#compdef svcctl
# svcctl.zsh — zsh completion for svcctl. Installed as
# $(PREFIX)/share/zsh/site-functions/_svcctl. Like the bash one it asks
# svcctl itself for the lists (svcctl --commands, svcctl CMD --help) and
# the daemon for names (services, tasks, hooks, methods), quietly.

_svcctl_sock() {
	local i
	for ((i = 2; i < CURRENT; i++)); do
		case ${words[i]} in
		-s | --socket) print -r -- "${words[i + 1]}"; return ;;
		--socket=*) print -r -- "${words[i]#--socket=}"; return ;;
		esac
	done
}

_svcctl_names() {
	local sock=$(_svcctl_sock)
	local -a opt
	[[ -n $sock ]] && opt=(-s "$sock")
	svcctl "${opt[@]}" -t 0.5 --json "$1" 2>/dev/null |
		sed -n 's/^ *"name": "\([^"]*\)",\{0,1\}$/\1/p'
}

_svcctl_methods() {
	local sock=$(_svcctl_sock)
	local -a opt
	[[ -n $sock ]] && opt=(-s "$sock")
	svcctl "${opt[@]}" -t 0.5 call hello 2>/dev/null |
		sed -n 's/^    "\([^"]*\)",\{0,1\}$/\1/p'
}

_svcctl_opts() {
	svcctl "$@" --help 2>/dev/null | awk '
		/^Options \(before or after/ { exit }
		/^  +-/ { for (i = 1; i <= NF; i++) { w = $i; sub(/,$/, "", w)
			if (w ~ /^-/) { sub(/=.*/, "=", w); if (!seen[w]++) print w }
			else break } }'
}

_svcctl() {
	local -a cmds globals opts names
	local i cmd="" nargs=0
	cmds=(${(f)"$(svcctl --commands 2>/dev/null)"})
	globals=(-s --socket -t --timeout --json --color= --no-color
		--no-headers -h --help --version)
	case ${words[CURRENT - 1]} in
	-s | --socket) _files; return ;;
	-t | --timeout | --since | --until | --last | -n | --every | --after | --emit)
		return ;;
	esac
	for ((i = 2; i < CURRENT; i++)); do
		case ${words[i]} in
		-s | --socket | -t | --timeout | --since | --until | --last | -n | \
			--every | --after | --emit) ((i++)) ;;
		-*) ;;
		*) if [[ -z $cmd ]]; then cmd=${words[i]}; else ((nargs++)); fi ;;
		esac
	done
	if [[ -z $cmd ]]; then
		if [[ $PREFIX == -* ]]; then
			compadd -S '' -- ${(M)globals:#*=}
			compadd -- ${globals:#*=}
		else
			compadd -- $cmds
		fi
		return
	fi
	if [[ $PREFIX == -* ]]; then
		opts=(${(f)"$(_svcctl_opts $cmd)"})
		compadd -- ${opts:#*=} ${globals:#*=}
		compadd -S '' -- ${(M)globals:#*=}
		return
	fi
	((nargs == 0)) || [[ $cmd == watch || $cmd == events ]] || return
	case $cmd in
	health) names=(${(f)"$(_svcctl_names services)"}) ;;
	cancel) names=(${(f)"$(_svcctl_names tasks)"}) ;;
	hooks) names=(${(f)"$(_svcctl_names hooks)"}) ;;
	help) names=($cmds) ;;
	call) names=(${(f)"$(_svcctl_methods)"}) ;;
	watch | events) names=('*' service.state service.health heartbeat) ;;
	esac
	(($#names)) && compadd -Q -- "${names[@]}"
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_svcctl "$@"
else
	compdef _svcctl svcctl
fi
