/*
 * mon.c — helpers of svcctl's monitoring commands (client/mon.h).
 */
#include "client/mon.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/util.h"

int
mon_call(struct cli_ctx *c, const char *method, json_t *params, json_t **result,
         char **why)
{
	json_t *error = NULL;
	char *cause = NULL;
	int rc;

	*result = NULL;
	*why = NULL;
	if (!c->connected) {
		if (conn_open(&c->conn, c->socket, c->o->timeout_ms, &cause) <
		    0) {
			*why = cause;
			return CLI_EXIT_UNREACHABLE;
		}
		c->conn.interrupt = c->interrupt;
		c->connected = true;
	}
	rc = conn_call(&c->conn, method, params, c->o->timeout_ms, NULL, NULL,
	               result, &error, &cause);
	switch (rc) {
	case CONN_OK: return 0;
	case CONN_ERROR_REPLY: {
		const char *msg =
		    json_string_value(json_object_get(error, "message"));
		const char *cls = json_string_value(
		    json_object_get(json_object_get(error, "data"), "class"));

		*why = cls ? xasprintf("%s (%s)", msg ? msg : "error", cls)
		           : xstrdup(msg ? msg : "error");
		json_decref(error);
		return CLI_EXIT_ERROR;
	}
	case CONN_INTERRUPTED: *why = xstrdup("interrupted"); break;
	default: *why = cause ? cause : xstrdup("failed"); break;
	}
	/* the connection is unusable after a failure: reconnect next time */
	conn_close(&c->conn);
	c->connected = false;
	return CLI_EXIT_UNREACHABLE;
}

static volatile sig_atomic_t mon_stop;
static struct sigaction mon_old;

static void
on_sigint(int sig)
{
	(void)sig;
	mon_stop = 1;
}

void
mon_watch_begin(struct cli_ctx *c)
{
	struct sigaction sa = {.sa_handler = on_sigint};

	mon_stop = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &mon_old); /* no SA_RESTART: waits see EINTR */
	c->interrupt = &mon_stop;
	if (c->connected)
		c->conn.interrupt = c->interrupt;
}

void
mon_watch_end(struct cli_ctx *c)
{
	sigaction(SIGINT, &mon_old, NULL);
	c->interrupt = NULL;
	c->conn.interrupt = NULL;
}

bool
mon_interrupted(const struct cli_ctx *c)
{
	return c->interrupt && *c->interrupt;
}

bool
mon_sleep(struct cli_ctx *c, double secs)
{
	struct timespec ts = {.tv_sec = (time_t)secs,
	                      .tv_nsec = (long)((secs - floor(secs)) * 1e9)};

	while (!mon_interrupted(c) && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return !mon_interrupted(c);
}

int
mon_parse_interval(const char *name, const char *s, double *secs, char **cause)
{
	char *why = NULL;

	if (util_parse_duration(s, 1.0, secs, &why) < 0) {
		*cause = xasprintf("invalid value for %s: %s", name, why);
		free(why);
		return -1;
	}
	if (!(*secs > 0) || *secs > 3600) {
		*cause = xasprintf("invalid value for %s: '%s' must be more "
		                   "than 0 and at most 1h",
		                   name, s);
		return -1;
	}
	return 0;
}

int
mon_parse_count(const char *name, const char *s, uint64_t *n, char **cause)
{
	char *why = NULL;

	if (util_parse_uint(s, UINT32_MAX, n, &why) < 0 || *n == 0) {
		*cause = xasprintf("invalid value for %s: %s", name,
		                   why ? why : "must be at least 1");
		free(why);
		return -1;
	}
	return 0;
}

double
mon_num(json_t *v, const char *path, double dflt)
{
	char *p = xstrdup(path), *save = NULL;

	for (char *k = strtok_r(p, ".", &save); k && v;
	     k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	free(p);
	return json_is_number(v) ? json_number_value(v) : dflt;
}
