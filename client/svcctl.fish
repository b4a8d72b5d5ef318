# svcctl.fish — fish completion for svcctl. Installed as
# $(PREFIX)/share/fish/vendor_completions.d/svcctl.fish. The command list
# and each command's options come from svcctl itself (svcctl --commands,
# svcctl CMD --help); names of services, tasks and hooks from the daemon.

function __svcctl_cmd
    set -l toks (commandline -opc)
    set -e toks[1]
    set -l skip 0
    for t in $toks
        if test $skip = 1
            set skip 0
            continue
        end
        switch $t
            case -s --socket -t --timeout --since --until --last -n --every --after --emit
                set skip 1
            case '-*'
            case '*'
                echo $t
                return 0
        end
    end
    return 1
end

function __svcctl_sock
    set -l toks (commandline -opc)
    for i in (seq (count $toks))
        switch $toks[$i]
            case -s --socket
                set -l j (math $i + 1)
                test $j -le (count $toks); and echo -- -s $toks[$j]
                return
            case '--socket=*'
                echo -- -s (string replace -- --socket= '' $toks[$i])
                return
        end
    end
end

function __svcctl_names
    svcctl (__svcctl_sock | string split ' ') -t 0.5 --json $argv[1] 2>/dev/null |
        string replace -rf '^ *"name": "([^"]*)",?$' '$1'
end

function __svcctl_cmd_opts
    set -l cmd (__svcctl_cmd)
    svcctl $cmd --help 2>/dev/null | awk '
        /^Options \(before or after/ { exit }
        /^  +-/ { for (i = 1; i <= NF; i++) { w = $i; sub(/,$/, "", w)
            if (w ~ /^-/) print w; else break } }'
end

function __svcctl_needs_cmd
    not __svcctl_cmd >/dev/null
end

function __svcctl_cmd_is
    contains -- (__svcctl_cmd) $argv
end

complete -c svcctl -f
complete -c svcctl -n __svcctl_needs_cmd -a '(svcctl --commands 2>/dev/null)'
complete -c svcctl -s s -l socket -r -F -d 'control socket'
complete -c svcctl -s t -l timeout -x -d 'reply timeout'
complete -c svcctl -l json -d 'print results as JSON'
complete -c svcctl -l color -x -a 'auto always never' -d 'colour'
complete -c svcctl -l no-color -d 'no colour'
complete -c svcctl -l no-headers -d 'tables without a header line'
complete -c svcctl -s h -l help -d help
complete -c svcctl -l version -d 'print the version'
complete -c svcctl -n 'not __svcctl_needs_cmd; and string match -q -- "-*" (commandline -ct)' -a '(__svcctl_cmd_opts)'
complete -c svcctl -n '__svcctl_cmd_is health' -a '(__svcctl_names services)'
complete -c svcctl -n '__svcctl_cmd_is cancel' -a '(__svcctl_names tasks)'
complete -c svcctl -n '__svcctl_cmd_is hooks' -a '(__svcctl_names hooks)'
complete -c svcctl -n '__svcctl_cmd_is help' -a '(svcctl --commands 2>/dev/null)'
complete -c svcctl -n '__svcctl_cmd_is watch events' -a "'*' service.state service.health heartbeat"
