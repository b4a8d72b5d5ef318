/*
 * table.c — svcctl's command table: every command's entry, in the order
 * `svcctl --help` lists them. A new command is its entry and exec function
 * in cmds.c plus one line here.
 */
#include "client/cli.h"
#include "client/cmds.h"
#include "client/peers.h"
#include "client/monitor.h"
#include "daemon/util.h"

const struct cli_cmd *const cli_cmds[] = {
    &cmd_emit_entry,     /* publish an event */
    &cmd_health_entry,   /* health of every service */
    &cmd_status_entry,   /* version, uptime, statistics */
    &cmd_services_entry, /* the service graph */
    &cmd_tasks_entry,    /* the worker's tasks */
    &cmd_hooks_entry,    /* the hooks and their figures */
    &cmd_peers_entry,    /* the bridge's peers, lag, gaps */
    &cmd_top_entry,      /* a live view (client/top.c) */
    &cmd_metrics_entry,  /* Prometheus text (client/metrics.c) */
    &cmd_check_entry,    /* monitoring plugin (client/check.c) */
    &cmd_watch_entry,    /* stream events */
    &cmd_events_entry,   /* events from the history */
    &cmd_schedule_entry, /* emit periodically or later */
    &cmd_cancel_entry,   /* cancel a task */
    &cmd_shutdown_entry, /* graceful stop */
    &cmd_reload_entry,   /* re-read the configuration */
    &cmd_ping_entry,     /* does svcd answer */
    &cmd_version_entry,  /* svcctl's and svcd's versions */
    &cmd_call_entry,     /* any method, raw JSON */
    &cli_help_entry,     /* the command list, a command's help */
};
const size_t cli_ncmds = ARRAY_SIZE(cli_cmds);
