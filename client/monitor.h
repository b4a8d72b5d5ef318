/*
 * monitor.h — the entries of svcctl's monitoring commands, each defined
 * next to its exec function: metrics (client/metrics.c), check
 * (client/check.c), top (client/top.c); client/table.c lists them.
 * cmd_status_every (client/top.c) is status --interval's loop.
 */
#ifndef SVCCTL_MONITOR_H
#define SVCCTL_MONITOR_H

#include "client/cli.h"

extern const struct cli_cmd cmd_metrics_entry;
extern const struct cli_cmd cmd_check_entry;
extern const struct cli_cmd cmd_top_entry;

/* status --interval SECS (own option 0 of status): run once every SECS
 * until SIGINT; without it, once. */
extern const struct cli_own_opt cli_interval_opts[];
int cmd_status_every(struct cli_ctx *c, int (*once)(struct cli_ctx *c));
int cli_interval_check(const struct cli_opts *o, char **cause);

#endif
