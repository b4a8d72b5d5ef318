/*
 * check.c — `svcctl check`: a monitoring plugin (Nagios, Icinga, Sensu,
 * check_mk's local checks): one line "SVCD OK - 11/11 services healthy |
 * services=11;;; ..." and the plugin exit codes 0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN (svcd cannot be reached or answers an error).
 *
 * The state is the worst of: the daemon's health (health's status: ok,
 * degraded WARNING, failed CRITICAL, unknown UNKNOWN), the bus queue depth
 * and the deepest hook queue (hook lag) against -w/-c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/cli.h"
#include "client/mon.h"
#include "client/monitor.h"
#include "daemon/util.h"
#include "daemon/wire.h"

enum { CHK_OK, CHK_WARNING, CHK_CRITICAL, CHK_UNKNOWN };
static const char *const chk_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

/* -w/-c: QUEUE[,LAG]; either may be empty ("",50): no threshold. */
struct limits {
	bool has_queue, has_lag;
	uint64_t queue, lag;
};

static int
parse_limits(const char *opt, const char *s, struct limits *l, char **cause)
{
	const char *comma = strchr(s, ',');
	char *q = comma ? xstrndup(s, (size_t)(comma - s)) : xstrdup(s);
	const char *lag = comma ? comma + 1 : "";
	char *why = NULL;

	memset(l, 0, sizeof(*l));
	if (*q) {
		if (util_parse_uint(q, UINT64_MAX, &l->queue, &why) < 0)
			goto out_bad;
		l->has_queue = true;
	}
	if (*lag) {
		if (util_parse_uint(lag, UINT64_MAX, &l->lag, &why) < 0)
			goto out_bad;
		l->has_lag = true;
	}
	if (!l->has_queue && !l->has_lag) {
		why = xstrdup("expected QUEUE[,LAG] (e.g. 1000,50)");
		goto out_bad;
	}
	free(q);
	return 0;
out_bad:
	*cause = xasprintf("invalid value for %s: '%s': %s", opt, s, why);
	free(why);
	free(q);
	return -1;
}

static const struct cli_own_opt check_opts[] = {
    {.name = "--warning", .shrt = "-w", .arg = "QUEUE[,LAG]"},
    {.name = "--critical", .shrt = "-c", .arg = "QUEUE[,LAG]"},
    {.name = NULL},
};

static int
check_check(const struct cli_opts *o, char **cause)
{
	struct limits l;

	if (o->own[0] && parse_limits("--warning", o->own[0], &l, cause) < 0)
		return -1;
	if (o->own[1] && parse_limits("--critical", o->own[1], &l, cause) < 0)
		return -1;
	return 0;
}

static void
put_limit(struct buf *b, bool has, uint64_t v)
{
	if (has)
		buf_printf(b, "%" PRIu64, v);
	buf_putc(b, ';');
}

static int
unknown(struct cli_ctx *c, const char *why)
{
	if (c->o->json) {
		json_t *o = json_pack("{s:s, s:i, s:s}", "state", "UNKNOWN",
		                      "code", CHK_UNKNOWN, "message", why);
		json_dumpf(o, c->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', c->out);
		json_decref(o);
	} else {
		fprintf(c->out, "SVCD UNKNOWN - %s\n", why);
	}
	return CHK_UNKNOWN;
}

static int
cmd_check(struct cli_ctx *c)
{
	struct limits w = {0}, cr = {0};
	json_t *health = NULL, *status = NULL, *hooks = NULL;
	char *why = NULL, *cause = NULL;
	int st = CHK_OK;

	if (c->o->own[0])
		parse_limits("--warning", c->o->own[0], &w, &cause);
	if (c->o->own[1])
		parse_limits("--critical", c->o->own[1], &cr, &cause);
	free(cause);
	if (mon_call(c, WIRE_M_HEALTH, NULL, &health, &why) ||
	    mon_call(c, WIRE_M_STATUS, NULL, &status, &why)) {
		char *m = xasprintf("svcd at %s: %s", c->socket, why);
		int rc = unknown(c, m);

		free(m);
		free(why);
		json_decref(health);
		return rc;
	}
	/* hooks is optional: without it (not running), no hook lag */
	if (mon_call(c, WIRE_M_HOOKS, NULL, &hooks, &why)) {
		free(why);
		hooks = NULL;
	}

	const char *hs = json_string_value(json_object_get(health, "status"));
	json_t *list = json_object_get(health, "services");
	size_t total = json_array_size(list), healthy = 0, degraded = 0,
	       failed = 0;
	struct buf bad = {0};

	for (size_t i = 0; i < total; i++) {
		json_t *s = json_array_get(list, i);
		const char *state =
		    json_string_value(json_object_get(s, "state"));
		const char *name =
		    json_string_value(json_object_get(s, "name"));
		const char *err =
		    json_string_value(json_object_get(s, "error"));

		if (state && strcmp(state, "running") == 0 &&
		    !json_is_false(json_object_get(s, "healthy"))) {
			healthy++;
			continue;
		}
		if (state && strcmp(state, "degraded") == 0)
			degraded++;
		else
			failed++;
		buf_printf(&bad, "%s%s %s%s%s%s", bad.len ? ", " : "",
		           name ? name : "?", state ? state : "?",
		           err ? " (" : "", err ? err : "", err ? ")" : "");
	}
	if (!hs || strcmp(hs, "unknown") == 0)
		st = CHK_UNKNOWN;
	else if (strcmp(hs, "failed") == 0)
		st = CHK_CRITICAL;
	else if (strcmp(hs, "degraded") == 0)
		st = CHK_WARNING;

	uint64_t queue = (uint64_t)mon_num(status, "bus.queue_depth", 0);
	uint64_t lag = 0;
	const char *lag_hook = NULL;
	json_t *hl =
	    json_is_object(hooks) ? json_object_get(hooks, "hooks") : hooks;
	for (size_t i = 0; i < json_array_size(hl); i++) {
		json_t *h = json_array_get(hl, i);
		uint64_t q = (uint64_t)mon_num(h, "queued", 0);

		if (q > lag || !lag_hook) {
			lag = q;
			lag_hook =
			    json_string_value(json_object_get(h, "name"));
		}
	}

	struct buf msg = {0};
	buf_printf(&msg, "%zu/%zu services healthy", healthy, total);
	if (bad.len)
		buf_printf(&msg, "; %.*s", (int)bad.len, buf_head(&bad));
	int qst = cr.has_queue && queue > cr.queue ? CHK_CRITICAL
	          : w.has_queue && queue > w.queue ? CHK_WARNING
	                                           : CHK_OK;
	int lst = cr.has_lag && lag > cr.lag ? CHK_CRITICAL
	          : w.has_lag && lag > w.lag ? CHK_WARNING
	                                     : CHK_OK;
	if (qst)
		buf_printf(&msg, "; queue %" PRIu64 " > %" PRIu64, queue,
		           qst == CHK_CRITICAL ? cr.queue : w.queue);
	if (lst)
		buf_printf(&msg, "; hook %s lag %" PRIu64 " > %" PRIu64,
		           lag_hook ? lag_hook : "?", lag,
		           lst == CHK_CRITICAL ? cr.lag : w.lag);
	/* UNKNOWN from a stale health is the worst but CRITICAL */
	if (st != CHK_CRITICAL) {
		int t = qst > lst ? qst : lst;
		if (t == CHK_CRITICAL || (st != CHK_UNKNOWN && t > st))
			st = t;
	}

	struct buf perf = {0};
	buf_printf(&perf, "services=%zu;;; degraded=%zu;;; failed=%zu;;; ",
	           total, degraded, failed);
	buf_printf(&perf, "queue=%" PRIu64 ";", queue);
	put_limit(&perf, w.has_queue, w.queue);
	put_limit(&perf, cr.has_queue, cr.queue);
	buf_printf(&perf, " hook_lag=%" PRIu64 ";", lag);
	put_limit(&perf, w.has_lag, w.lag);
	put_limit(&perf, cr.has_lag, cr.lag);
	buf_putc(&msg, '\0');
	buf_putc(&perf, '\0');

	if (c->o->json) {
		json_t *o = json_pack(
		    "{s:s, s:i, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
		    "state", chk_names[st], "code", st, "message",
		    buf_head(&msg), "perfdata", "services", (json_int_t)total,
		    "healthy", (json_int_t)healthy, "degraded",
		    (json_int_t)degraded, "failed", (json_int_t)failed, "queue",
		    (json_int_t)queue, "hook_lag", (json_int_t)lag);
		json_dumpf(o, c->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', c->out);
		json_decref(o);
	} else {
		fprintf(c->out, "SVCD %s - %s | %s\n", chk_names[st],
		        buf_head(&msg), buf_head(&perf));
	}
	buf_free(&msg);
	buf_free(&perf);
	buf_free(&bad);
	json_decref(health);
	json_decref(status);
	json_decref(hooks);
	return st;
}

const struct cli_cmd cmd_check_entry = {
    .name = "check",
    .args = "[-w QUEUE[,LAG]] [-c QUEUE[,LAG]]",
    .summary = "one line and exit code for a monitoring system",
    .help = "A monitoring plugin (Nagios, Icinga, Sensu): one line\n"
            "  SVCD OK - 11/11 services healthy | services=11;;; "
            "degraded=0;;; ...\n"
            "and the plugin exit codes. The state is the worst of the "
            "daemon's health\n(degraded WARNING, failed CRITICAL), the "
            "bus queue depth and the hook lag\n(the most events queued "
            "for one hook) against the thresholds:\n\n"
            "  -w, --warning QUEUE[,LAG]   WARNING when the queue depth "
            "is more than\n"
            "                              QUEUE or a hook's lag more "
            "than LAG\n"
            "  -c, --critical QUEUE[,LAG]  CRITICAL likewise\n\n"
            "Either number may be left out (-w ,50). Exit status: 0 OK, "
            "1 WARNING,\n2 CRITICAL, 3 UNKNOWN (svcd cannot be reached, "
            "answers an error, or\nits health is stale).\n\n"
            "Examples:\n"
            "  svcctl check\n"
            "  svcctl check -w 1000,50 -c 10000,500\n",
    .own_opts = check_opts,
    .check = check_check,
    .exec = cmd_check,
};
