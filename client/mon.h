/*
 * mon.h — what svcctl's monitoring commands share (metrics, check, top,
 * status --interval): one call with the failure as text instead of printed,
 * a SIGINT-aware repeat loop, and reading figures out of a status result.
 */
#ifndef SVCCTL_MON_H
#define SVCCTL_MON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "client/cli.h"

/*
 * Call method(params) (params may be NULL; borrowed), connecting first.
 * 0 with *result (new reference); else the exit status (1 the daemon
 * answered with an error, 3 unreachable or interrupted) with *why set
 * ("MESSAGE (Class)" or the connection's reason; caller frees).
 */
int mon_call(struct cli_ctx *c, const char *method, json_t *params,
             json_t **result, char **why);

/*
 * SIGINT ends a repeat loop: mon_watch_begin installs the handler (and
 * points c->interrupt at it), mon_watch_end puts the old one back.
 * mon_sleep waits secs; false if interrupted (then stop).
 */
void mon_watch_begin(struct cli_ctx *c);
void mon_watch_end(struct cli_ctx *c);
bool mon_sleep(struct cli_ctx *c, double secs);
bool mon_interrupted(const struct cli_ctx *c);

/*
 * A delay or interval option's value: seconds ("2", "0.5") or a duration
 * ("500ms"), more than 0 and at most an hour. -1 with *cause.
 */
int mon_parse_interval(const char *name, const char *s, double *secs,
                       char **cause);
/* A count option's value: 1 or more. -1 with *cause. */
int mon_parse_count(const char *name, const char *s, uint64_t *n, char **cause);

/* The number at path in v ("bus.queue_depth"), or dflt. */
double mon_num(json_t *v, const char *path, double dflt);

#endif
