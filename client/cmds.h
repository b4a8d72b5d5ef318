/*
 * cmds.h — svcctl's commands: one entry each, defined next to its exec
 * function in cmds.c; client/table.c lists them.
 */
#ifndef SVCCTL_CMDS_H
#define SVCCTL_CMDS_H

#include "client/cli.h"

extern const struct cli_cmd cmd_emit_entry;
extern const struct cli_cmd cmd_health_entry;
extern const struct cli_cmd cmd_status_entry;
extern const struct cli_cmd cmd_services_entry;
extern const struct cli_cmd cmd_tasks_entry;
extern const struct cli_cmd cmd_hooks_entry;
extern const struct cli_cmd cmd_watch_entry;
extern const struct cli_cmd cmd_events_entry;
extern const struct cli_cmd cmd_schedule_entry;
extern const struct cli_cmd cmd_cancel_entry;
extern const struct cli_cmd cmd_shutdown_entry;
extern const struct cli_cmd cmd_reload_entry;
extern const struct cli_cmd cmd_ping_entry;
extern const struct cli_cmd cmd_version_entry;
extern const struct cli_cmd cmd_call_entry;

#endif
