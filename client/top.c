/*
 * top.c — `svcctl top`: a live view of the daemon refreshed every -d SECS
 * (default 1): events/s in and out, the queue, each service's state and
 * health, the hooks and their lag, the bridge link. On a terminal one
 * screen redrawn in place (like htop); otherwise one plain line per
 * refresh under a header (like redis-cli --stat), for logs and pipes.
 * -n N stops after N refreshes, SIGINT at any time (exit 0).
 *
 * Also status --interval's loop (cmd_status_every).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/cli.h"
#include "client/mon.h"
#include "client/monitor.h"
#include "daemon/util.h"
#include "daemon/wire.h"

#define CLEAR_SCREEN "\033[H\033[2J"

static const struct cli_own_opt top_opts[] = {
    {.name = "--iterations", .shrt = "-n", .arg = "N"},
    {.name = "--delay", .shrt = "-d", .arg = "SECS"},
    {.name = NULL},
};

static int
top_check(const struct cli_opts *o, char **cause)
{
	uint64_t n;
	double d;

	if (o->own[0] &&
	    mon_parse_count("--iterations", o->own[0], &n, cause) < 0)
		return -1;
	if (o->own[1] &&
	    mon_parse_interval("--delay", o->own[1], &d, cause) < 0)
		return -1;
	return 0;
}

/* What one refresh read, and the counters of the previous one. */
struct sample {
	json_t *status, *health, *hooks;
	double emitted, delivered, published, received;
	int64_t at_us;
};

static const char *
str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static void
rate(char *b, size_t n, double now, double before, double secs, bool have)
{
	if (!have || secs <= 0 || now < before)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.1f", (now - before) / secs);
}

static json_t *
hook_list(json_t *hooks)
{
	return json_is_object(hooks) ? json_object_get(hooks, "hooks") : hooks;
}

/* The screen: a header, the services, the hooks, the bridge. */
/* printf to f, each line without trailing blanks and cut at width
 * columns (0: not cut; counted in bytes, cut on a UTF-8 boundary). */
static void put(FILE *f, size_t width, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void
put(FILE *f, size_t width, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	for (char *p = text; *p;) {
		size_t n = strcspn(p, "\n"), len = n;
		bool nl = p[n] == '\n';

		while (len && p[len - 1] == ' ')
			len--;
		if (width && len > width) {
			len = width;
			while (len && ((unsigned char)p[len] & 0xc0) == 0x80)
				len--;
		}
		fwrite(p, 1, len, f);
		if (nl)
			fputc('\n', f);
		p += n + nl;
	}
	free(text);
}

static void
draw_screen(struct cli_ctx *c, const struct sample *s, const char *in,
            const char *out)
{
	FILE *f = c->out;
	struct winsize ws;
	size_t width = ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
	json_t *st = s->status;
	json_t *bus = json_object_get(st, "bus");
	json_t *svcs = json_object_get(s->health, "services");
	json_t *hl = hook_list(s->hooks);
	json_t *br = json_object_get(st, "bridge");
	char up[32], now[40];
	size_t i, healthy = 0;

	for (i = 0; i < json_array_size(svcs); i++)
		if (strcmp(str(json_array_get(svcs, i), "state"), "running") ==
		    0)
			healthy++;
	cli_format_age(mon_num(st, "uptime_s", 0), up, sizeof(up));
	util_format_time(s->at_us, now, sizeof(now));
	put(f, width, "svcd %s  pid %.0f  up %s  %s  health %s  %s\n",
	    str(st, "version"), mon_num(st, "pid", 0), up, str(st, "state"),
	    str(s->health, "status"), now);
	put(f, width,
	    "events/s in %s  out %s   queue %.0f (high %.0f)  dropped "
	    "%.0f  listeners %.0f  last seq %.0f\n",
	    in, out, mon_num(bus, "queue_depth", 0),
	    mon_num(bus, "high_watermark", 0), mon_num(bus, "dropped", 0),
	    mon_num(bus, "listeners", 0), mon_num(bus, "last_seq", 0));
	put(f, width, "services %zu/%zu healthy\n\n", healthy,
	    json_array_size(svcs));
	put(f, width, "%-14s %-10s %-8s %s\n", "SERVICE", "STATE", "HEALTHY",
	    "ERROR");
	for (i = 0; i < json_array_size(svcs); i++) {
		json_t *v = json_array_get(svcs, i);
		json_t *h = json_object_get(v, "healthy");

		put(f, width, "%-14s %-10s %-8s %s\n", str(v, "name"),
		    str(v, "state"),
		    json_is_true(h)    ? "yes"
		    : json_is_false(h) ? "no"
		                       : "-",
		    json_is_string(json_object_get(v, "error"))
		        ? str(v, "error")
		        : "");
	}
	if (json_array_size(hl)) {
		put(f, width, "\n%-14s %8s %8s %8s %8s %8s %s\n", "HOOK",
		    "RUNS", "FAILED", "TIMEOUTS", "LAG", "RUNNING",
		    "LAST ERROR");
		for (i = 0; i < json_array_size(hl); i++) {
			json_t *h = json_array_get(hl, i);

			put(f, width,
			    "%-14s %8.0f %8.0f %8.0f %8.0f %8.0f %s\n",
			    str(h, "name"), mon_num(h, "runs", 0),
			    mon_num(h, "failures", 0),
			    mon_num(h, "timeouts", 0), mon_num(h, "queued", 0),
			    mon_num(h, "running", 0),
			    json_is_string(json_object_get(h, "last_error"))
			        ? str(h, "last_error")
			        : "");
		}
	}
	if (json_is_object(br) &&
	    json_is_true(json_object_get(br, "enabled"))) {
		put(f, width,
		    "\nbridge %s  %s  published %.0f  received %.0f  "
		    "buffered %.0f  dropped %.0f  reconnects %.0f\n",
		    str(br, "url"),
		    json_is_true(json_object_get(br, "connected"))
		        ? "connected"
		        : "DISCONNECTED",
		    mon_num(br, "published", 0), mon_num(br, "received", 0),
		    mon_num(br, "buffered", 0), mon_num(br, "dropped", 0),
		    mon_num(br, "reconnects", 0));
	}
	fflush(f);
}

static void
draw_line(struct cli_ctx *c, const struct sample *s, const char *in,
          const char *out)
{
	json_t *st = s->status;
	json_t *bus = json_object_get(st, "bus");
	json_t *br = json_object_get(st, "bridge");
	json_t *hl = hook_list(s->hooks);
	double lag = 0;
	char now[40];

	for (size_t i = 0; i < json_array_size(hl); i++) {
		double q = mon_num(json_array_get(hl, i), "queued", 0);
		if (q > lag)
			lag = q;
	}
	util_format_time(s->at_us, now, sizeof(now));
	fprintf(
	    c->out, "%-27s %7s %7s %7.0f %7.0f %8.0f/%-4.0f %-9s %7.0f %s\n",
	    now, in, out, mon_num(bus, "queue_depth", 0),
	    mon_num(bus, "dropped", 0), mon_num(st, "services.running", 0),
	    mon_num(st, "services.total", 0), str(s->health, "status"), lag,
	    !json_is_true(json_object_get(br, "enabled"))    ? "-"
	    : json_is_true(json_object_get(br, "connected")) ? "connected"
	                                                     : "disconnected");
	fflush(c->out);
}

static void
sample_free(struct sample *s)
{
	json_decref(s->status);
	json_decref(s->health);
	json_decref(s->hooks);
	s->status = s->health = s->hooks = NULL;
}

static int
cmd_top(struct cli_ctx *c)
{
	uint64_t iterations = 0;
	double delay = 1.0;
	char *cause = NULL;
	bool tty = isatty(fileno(c->out)) && !c->o->json;
	struct sample prev = {0}, cur = {0};
	bool have_prev = false, answered = false;
	int rc = CLI_EXIT_OK;

	if (c->o->own[0])
		mon_parse_count("--iterations", c->o->own[0], &iterations,
		                &cause);
	if (c->o->own[1])
		mon_parse_interval("--delay", c->o->own[1], &delay, &cause);
	free(cause);
	mon_watch_begin(c);
	if (!tty && !c->o->json)
		fprintf(c->out, "%-27s %7s %7s %7s %7s %13s %-9s %7s %s\n",
		        "TIME", "IN/s", "OUT/s", "QUEUE", "DROPPED", "SERVICES",
		        "HEALTH", "HOOKLAG", "BRIDGE");
	for (uint64_t n = 0; !iterations || n < iterations; n++) {
		char *why = NULL;
		char in[32], out[32];

		if (n && !mon_sleep(c, delay))
			break;
		cur.at_us = util_now_us();
		rc = mon_call(c, WIRE_M_STATUS, NULL, &cur.status, &why);
		if (!rc)
			rc =
			    mon_call(c, WIRE_M_HEALTH, NULL, &cur.health, &why);
		if (rc) {
			if (mon_interrupted(c)) {
				rc = CLI_EXIT_OK;
				free(why);
				break;
			}
			if (!answered) {
				/* never reached: say so and exit 3 */
				fprintf(c->err, "svcctl: %s\n", why);
				free(why);
				break;
			}
			/* lost after it answered (a restart): shown, retried at
			 * the next refresh; rates start again */
			char t[40];
			util_format_time(cur.at_us, t, sizeof(t));
			if (c->o->json) {
				json_t *o = json_pack("{s:s, s:s}", "time", t,
				                      "error", why);
				json_dumpf(o, c->out, JSON_COMPACT);
				fputc('\n', c->out);
				json_decref(o);
			} else {
				if (tty)
					fputs(CLEAR_SCREEN, c->out);
				fprintf(c->out,
				        "%s svcd at %s: %s (retrying)\n", t,
				        c->socket, why);
			}
			fflush(c->out);
			free(why);
			sample_free(&cur);
			sample_free(&prev);
			memset(&prev, 0, sizeof(prev));
			have_prev = false;
			rc = CLI_EXIT_OK;
			continue;
		}
		answered = true;
		if (mon_call(c, WIRE_M_HOOKS, NULL, &cur.hooks, &why))
			cur.hooks = NULL; /* hooks not running: none shown */
		free(why);
		json_t *bus = json_object_get(cur.status, "bus");
		json_t *br = json_object_get(cur.status, "bridge");
		cur.emitted = mon_num(bus, "emitted", 0);
		cur.delivered = mon_num(bus, "delivered", 0);
		cur.published = mon_num(br, "published", 0);
		cur.received = mon_num(br, "received", 0);
		double secs = (double)(cur.at_us - prev.at_us) / 1e6;
		rate(in, sizeof(in), cur.emitted, prev.emitted, secs,
		     have_prev);
		rate(out, sizeof(out), cur.delivered, prev.delivered, secs,
		     have_prev);
		if (c->o->json) {
			json_t *o =
			    json_pack("{s:s, s:O, s:O, s:O*}", "time", "",
			              "status", cur.status, "health",
			              cur.health, "hooks", cur.hooks);
			char t[40];

			util_format_time(cur.at_us, t, sizeof(t));
			json_object_set_new(o, "time", json_string(t));
			json_object_set_new(
			    o, "events_in_per_s",
			    have_prev && secs > 0
			        ? json_real((cur.emitted - prev.emitted) / secs)
			        : json_null());
			json_object_set_new(
			    o, "events_out_per_s",
			    have_prev && secs > 0
			        ? json_real((cur.delivered - prev.delivered) /
			                    secs)
			        : json_null());
			json_dumpf(o, c->out, JSON_COMPACT);
			fputc('\n', c->out);
			fflush(c->out);
			json_decref(o);
		} else if (tty) {
			fputs(CLEAR_SCREEN, c->out);
			draw_screen(c, &cur, in, out);
		} else {
			draw_line(c, &cur, in, out);
		}
		sample_free(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
		have_prev = true;
	}
	sample_free(&prev);
	sample_free(&cur);
	mon_watch_end(c);
	return rc;
}

const struct cli_cmd cmd_top_entry = {
    .name = "top",
    .args = "[-n N] [-d SECS]",
    .summary = "a live view: events/s, queue, services, hooks, bridge",
    .help = "A live view of svcd, refreshed every second: events/s in "
            "(emitted) and out\n(delivered), the queue depth, each "
            "service's state and health, the hooks\nwith their lag "
            "(events queued for them) and the bridge link. On a\n"
            "terminal one screen redrawn in place; otherwise one line "
            "per refresh\nunder a header; with --json one JSON object "
            "per refresh (NDJSON).\nCtrl-C stops it (exit 0). svcd lost "
            "after the first refresh (a restart)\nis shown and retried.\n\n"
            "  -n, --iterations N  stop after N refreshes\n"
            "  -d, --delay SECS    seconds between refreshes (default 1; "
            "500ms works)\n\n"
            "Examples:\n"
            "  svcctl top\n"
            "  svcctl top -n 10 -d 5 >> /var/log/svcd-top.log\n",
    .own_opts = top_opts,
    .check = top_check,
    .exec = cmd_top,
};

/* ---- status --interval -------------------------------------------------- */

const struct cli_own_opt cli_interval_opts[] = {
    {.name = "--interval", .shrt = NULL, .arg = "SECS"},
    {.name = NULL},
};

int
cli_interval_check(const struct cli_opts *o, char **cause)
{
	double secs;

	if (o->own[0] &&
	    mon_parse_interval("--interval", o->own[0], &secs, cause) < 0)
		return -1;
	return 0;
}

int
cmd_status_every(struct cli_ctx *c, int (*once)(struct cli_ctx *c))
{
	double secs;
	char *cause = NULL;
	bool tty = isatty(fileno(c->out)) && !c->o->json;
	int rc = CLI_EXIT_OK;

	if (!c->o->own[0])
		return once(c);
	if (mon_parse_interval("--interval", c->o->own[0], &secs, &cause) < 0) {
		fprintf(c->err, "svcctl: %s\n", cause);
		free(cause);
		return CLI_EXIT_USAGE;
	}
	mon_watch_begin(c);
	for (unsigned long n = 0;; n++) {
		if (n && !mon_sleep(c, secs))
			break;
		if (tty)
			fputs(CLEAR_SCREEN, c->out);
		else if (n && !c->o->json)
			fputc('\n', c->out);
		rc = once(c);
		fflush(c->out);
		if (rc || mon_interrupted(c))
			break;
	}
	mon_watch_end(c);
	return mon_interrupted(c) ? CLI_EXIT_OK : rc;
}
