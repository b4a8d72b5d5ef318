/* cmds.h — svcctl's commands (one function each) and their shared context. */
#ifndef SVCCTL_CMDS_H
#define SVCCTL_CMDS_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "cli.h"
#include "conn.h"

struct cli_ctx {
	const struct cli_opts *o;
	const char *command; /* the command's name */
	FILE *out;
	FILE *err;
	bool color;
	const char *socket;
	struct conn conn;
	bool connected;
	volatile sig_atomic_t *interrupt; /* set by SIGINT while watching */
};

/*
 * Call method on the daemon (connecting first if needed). Returns 0 with
 * *result (new reference), or the exit status after printing the failure
 * (daemon error: 1, or 3 for health; unreachable: 3).
 */
int cmd_call(struct cli_ctx *c, const char *method, json_t *params,
             int timeout_ms, conn_notify_fn fn, void *arg, json_t **result);
/* Print v as --json output: pretty, 2-space indent, one trailing newline. */
void cmd_print_json(struct cli_ctx *c, json_t *v);
/* Close the connection if open. */
void cmd_ctx_close(struct cli_ctx *c);

int cmd_emit(struct cli_ctx *c);
int cmd_health(struct cli_ctx *c);
int cmd_status(struct cli_ctx *c);
int cmd_services(struct cli_ctx *c);
int cmd_tasks(struct cli_ctx *c);
int cmd_hooks(struct cli_ctx *c);
int cmd_watch(struct cli_ctx *c);
int cmd_events(struct cli_ctx *c);
int cmd_schedule(struct cli_ctx *c);
int cmd_cancel(struct cli_ctx *c);
int cmd_shutdown(struct cli_ctx *c);
int cmd_reload(struct cli_ctx *c);
int cmd_ping(struct cli_ctx *c);
int cmd_version(struct cli_ctx *c);

#endif
