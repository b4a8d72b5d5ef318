/*
 * cmds.c — svcctl's commands, each an exec function with its entry (name,
 * synopsis, help, options, arity) right after it: build the request, call
 * the daemon, render the result (tables for people, JSON with --json). Results
 * from the daemon are read defensively: a missing or extra field never breaks
 * the output.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client/args.h"
#include "client/cli.h"
#include "client/cmds.h"
#include "client/monitor.h"
#include "client/conn.h"
#include "client/tabulate.h"
#include "daemon/util.h"
#include "daemon/wire.h"

/* ---- helpers ---------------------------------------------------------- */

/* jansson's foreach macros, spelled out so cppcheck can follow them. */
#define ARRAY_EACH(arr, i, v)                                                  \
	for ((i) = 0; (i) < json_array_size(arr) &&                            \
	              ((v) = json_array_get((arr), (i))) != NULL;              \
	     (i)++)
#define OBJECT_EACH(obj, k, v)                                                 \
	for (void *it_ = json_object_iter(obj);                                \
	     it_ && ((k) = json_object_iter_key(it_)) != NULL &&               \
	     ((v) = json_object_iter_value(it_)) != NULL;                      \
	     it_ = json_object_iter_next((obj), it_))

/* --json: a failure as {"error":{"code":N,"class":C,"message":M}} on
 * stdout (code only when svcd sent one), so a script reads one shape. */
static void
put_json_error(struct cli_ctx *c, json_t *code, const char *cls,
               const char *msg)
{
	if (!c->o->json)
		return;
	json_t *e = json_object();

	if (json_is_integer(code))
		json_object_set(e, "code", code);
	json_object_set_new(e, "class", json_string(cls ? cls : "Error"));
	json_object_set_new(e, "message", json_string(msg ? msg : "error"));
	json_t *v = json_pack("{s:o}", "error", e);
	fflush(c->out);
	json_dumpf(v, c->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', c->out);
	fflush(c->out);
	json_decref(v);
}

static void
print_error_reply(struct cli_ctx *c, json_t *error)
{
	const char *msg = json_string_value(json_object_get(error, "message"));
	json_t *data = json_object_get(error, "data");
	const char *cls = json_string_value(json_object_get(data, "class"));
	json_t *code = json_object_get(error, "code");

	put_json_error(c, code, cls, msg);

	if (cls)
		fprintf(c->err, "svcctl: %s (%s)\n", msg ? msg : "error", cls);
	else if (json_is_integer(code))
		fprintf(c->err, "svcctl: %s (code %lld)\n", msg ? msg : "error",
		        (long long)json_integer_value(code));
	else
		fprintf(c->err, "svcctl: %s\n", msg ? msg : "error");
}

static int
ensure_connected(struct cli_ctx *c)
{
	char *cause = NULL;

	if (c->connected)
		return 0;
	if (conn_open(&c->conn, c->socket, c->o->timeout_ms, &cause) < 0) {
		put_json_error(c, NULL, "Unreachable", cause);
		fprintf(c->err, "svcctl: %s\n", cause);
		free(cause);
		return CLI_EXIT_UNREACHABLE;
	}
	c->conn.interrupt = c->interrupt;
	c->connected = true;
	return 0;
}

/* The reply (or failure) of a call conn made: 0, or the exit status after
 * printing what went wrong. */
static int
call_outcome(struct cli_ctx *c, int rc, json_t *error, char *cause)
{
	switch (rc) {
	case CONN_OK: return 0;
	case CONN_ERROR_REPLY: {
		const char *cls = json_string_value(
		    json_object_get(json_object_get(error, "data"), "class"));
		print_error_reply(c, error);
		rc = cli_exit_for_error(c->command, cls);
		json_decref(error);
		return rc;
	}
	case CONN_INTERRUPTED: return CLI_EXIT_OK;
	default:
		put_json_error(c, NULL, "Unreachable",
		               cause ? cause : "failed");
		fprintf(c->err, "svcctl: %s\n", cause ? cause : "failed");
		free(cause);
		return CLI_EXIT_UNREACHABLE;
	}
}

/* call_daemon with params' "data" as the text in data (NULL: none). */
static int
call_daemon_data(struct cli_ctx *c, const char *method, json_t *params,
                 const struct buf *data, int timeout_ms, conn_notify_fn fn,
                 void *arg, json_t **result)
{
	json_t *error = NULL;
	char *cause = NULL;
	int rc = ensure_connected(c);

	if (rc)
		return rc;
	rc = conn_call_data(&c->conn, method, params,
	                    data ? buf_head(data) : NULL, data ? data->len : 0,
	                    timeout_ms, fn, arg, result, &error, &cause);
	return call_outcome(c, rc, error, cause);
}

/*
 * Call method on the daemon (connecting first if needed). Returns 0 with
 * *result (new reference), or the exit status after printing the failure
 * (daemon error: 1, or 3 for health; unreachable: 3).
 */
static int
call_daemon(struct cli_ctx *c, const char *method, json_t *params,
            int timeout_ms, conn_notify_fn fn, void *arg, json_t **result)
{
	return call_daemon_data(c, method, params, NULL, timeout_ms, fn, arg,
	                        result);
}

/* Print v as --json output: pretty, 2-space indent, one trailing newline. */
static void
print_json(struct cli_ctx *c, json_t *v)
{
	json_dumpf(v, c->out,
	           JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	fputc('\n', c->out);
}

/* Any JSON value as a table cell (new string). */
static char *
cell_text(json_t *v)
{
	switch (json_typeof(v ? v : json_null())) {
	case JSON_STRING: return xstrdup(json_string_value(v));
	case JSON_INTEGER:
		return xasprintf("%lld", (long long)json_integer_value(v));
	case JSON_REAL: return xasprintf("%g", json_real_value(v));
	case JSON_TRUE: return xstrdup("yes");
	case JSON_FALSE: return xstrdup("no");
	case JSON_NULL: return xstrdup("-");
	case JSON_ARRAY: {
		struct buf b = {0};
		size_t i;
		json_t *e;
		ARRAY_EACH(v, i, e)
		{
			char *s = cell_text(e);
			if (i)
				buf_putc(&b, ',');
			buf_puts(&b, s);
			free(s);
		}
		if (!b.len)
			buf_puts(&b, "-");
		buf_putc(&b, '\0');
		char *s = xstrdup(buf_head(&b));
		buf_free(&b);
		return s;
	}
	case JSON_OBJECT: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
		return s ? s : xstrdup("{}");
	}
	}
	return xstrdup("-");
}

static void
tab_json(struct tab *t, enum tab_color color, json_t *v)
{
	char *s = cell_text(v);
	tab_cell(t, color, "%s", s);
	free(s);
}

/* An error column: empty when null or missing, red otherwise. */
static void
tab_error(struct tab *t, json_t *err)
{
	if (!err || json_is_null(err))
		tab_cell(t, TAB_PLAIN, "%s", "");
	else
		tab_json(t, TAB_RED, err);
}

/* A number of milliseconds (or null) as a duration cell. */
static void
tab_ms(struct tab *t, json_t *v)
{
	char b[32];
	if (!json_is_number(v)) {
		tab_json(t, TAB_PLAIN, v);
		return;
	}
	util_format_duration(json_number_value(v) / 1e3, b, sizeof(b));
	tab_cell(t, TAB_PLAIN, "%s", b);
}

static const char *
str_field(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static void
emit_table(struct cli_ctx *c, struct tab *t)
{
	struct buf b = {0};
	if (c->no_headers)
		tab_hide_header(t);
	tab_render(t, c->color, &b);
	fwrite(buf_head(&b), 1, b.len, c->out);
	buf_free(&b);
}

static void
put_colored(struct cli_ctx *c, enum tab_color color, const char *s)
{
	struct buf b = {0};
	tab_colorize(&b, color, c->color, s);
	fwrite(buf_head(&b), 1, b.len, c->out);
	buf_free(&b);
}

/* ---- events ----------------------------------------------------------- */

/* The event ev as JSON text: raw (its text as it came, when not NULL)
 * else jansson's. */
static void
put_event_json(struct cli_ctx *c, json_t *ev, const struct buf *raw)
{
	if (raw)
		fwrite(buf_head(raw), 1, raw->len, c->out);
	else
		json_dumpf(ev, c->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/*
 * One event (the params of an `event` notification) as a line. raw, when
 * not NULL, is the event's text as it came from svcd: --json prints it and
 * the table its data, so numbers show exactly as they were emitted.
 */
static void
print_event(struct cli_ctx *c, json_t *ev, const struct buf *raw)
{
	static const char *const data_key[] = {"data"};
	struct buf rd = {0};

	if (c->o->json) {
		put_event_json(c, ev, raw);
		fputc('\n', c->out);
		fflush(c->out);
		return;
	}
	const char *time = str_field(ev, "time");
	const char *name = str_field(ev, "event");
	const char *source = str_field(ev, "source");
	json_t *seq = json_object_get(ev, "seq");
	json_t *data = json_object_get(ev, "data");
	char *d = NULL;

	if (data && raw &&
	    util_json_member(buf_head(raw), raw->len, data_key, 1, &rd)) {
		d = xstrndup(buf_head(&rd), rd.len);
		buf_free(&rd);
	} else if (data) {
		d = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
	}

	put_colored(c, TAB_DIM, time ? time : "-");
	if (json_is_integer(seq))
		fprintf(c->out, "  %lld", (long long)json_integer_value(seq));
	else
		fputs("  -", c->out);
	fputs("  ", c->out);
	put_colored(c, TAB_BOLD, name ? name : "?");
	fprintf(c->out, "  %s", d ? d : "{}");
	if (source) {
		fputs("  ", c->out);
		char *s = xasprintf("(%s)", source);
		put_colored(c, TAB_DIM, s);
		free(s);
	}
	fputc('\n', c->out);
	fflush(c->out);
	free(d);
}

static json_int_t
int_field(json_t *obj, const char *const keys[], json_int_t dflt)
{
	for (; *keys; keys++) {
		json_t *v = json_object_get(obj, *keys);
		if (json_is_integer(v))
			return json_integer_value(v);
	}
	return dflt;
}

static void
print_lost(struct cli_ctx *c, json_t *params)
{
	static const char *const from_k[] = {"from", "first", "since", NULL};
	static const char *const to_k[] = {"to", "last", "until", NULL};
	static const char *const n_k[] = {"count", "missed", "lost", NULL};
	json_int_t f = int_field(params, from_k, -1);
	json_int_t t = int_field(params, to_k, -1);
	json_int_t n =
	    int_field(params, n_k, f >= 0 && t >= f ? t - f + 1 : -1);

	fflush(c->out);
	if (f >= 0 && t >= 0)
		fprintf(c->err,
		        "svcctl: missed events %lld..%lld (%lld) — "
		        "slow consumer\n",
		        (long long)f, (long long)t, (long long)n);
	else
		fprintf(c->err,
		        "svcctl: missed events (%lld) — slow consumer\n",
		        (long long)n);
}

struct watch_state {
	struct cli_ctx *c;
	bool shutdown_seen;
	uint64_t skip_upto; /* events -f: drop live events with seq <= it */
};

static void
watch_notify(const char *method, json_t *params, void *arg)
{
	struct watch_state *w = arg;

	if (strcmp(method, WIRE_N_EVENT) == 0) {
		const char *name = str_field(params, "event");
		json_t *data = json_object_get(params, "data");
		const char *st = str_field(data, "state");
		if (!st)
			st = str_field(data, "to");
		if (name && strcmp(name, "service.state") == 0 && st &&
		    (strcmp(st, "stopping") == 0 || strcmp(st, "stopped") == 0))
			w->shutdown_seen = true;
		json_t *seq = json_object_get(params, "seq");
		if (w->skip_upto && json_is_integer(seq) &&
		    (uint64_t)json_integer_value(seq) <= w->skip_upto)
			return; /* printed from the history already */
		/* the notification's own text: conn read it just now */
		static const char *const params_key[] = {"params"};
		const struct buf *line = &w->c->conn.line;
		struct buf raw = {0};
		bool have = util_json_member(buf_head(line), line->len,
		                             params_key, 1, &raw);
		print_event(w->c, params, have ? &raw : NULL);
		buf_free(&raw);
	} else if (strcmp(method, WIRE_N_EVENTS_LOST) == 0) {
		print_lost(w->c, params);
	} else if (strncmp(method, WIRE_M_SHUTDOWN ".",
	                   sizeof(WIRE_M_SHUTDOWN)) == 0) {
		w->shutdown_seen = true;
	}
}

static json_t *
patterns_array(struct cli_ctx *c, int from)
{
	json_t *a = json_array();
	for (int i = from; i < c->o->nargs; i++)
		json_array_append_new(a, json_string(c->o->args[i]));
	return a;
}

static volatile sig_atomic_t watch_stop;

static void
on_sigint(int sig)
{
	(void)sig;
	watch_stop = 1;
}

static int watch_loop(struct cli_ctx *c, struct watch_state *w);

static int
cmd_watch(struct cli_ctx *c)
{
	struct watch_state w = {.c = c};
	struct sigaction sa = {.sa_handler = on_sigint}, old;
	json_t *params = json_object();
	json_t *result = NULL;
	int rc;

	watch_stop = 0;
	c->interrupt = &watch_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old); /* no SA_RESTART: poll sees EINTR */
	json_object_set_new(params, "events",
	                    c->o->nargs ? patterns_array(c, 0)
	                                : json_pack("[s]", "*"));
	if (c->o->seen & CLI_OPT_SINCE)
		json_object_set_new(params, "since",
		                    json_integer((json_int_t)c->o->since));
	rc = call_daemon(c, WIRE_M_SUBSCRIBE, params, c->o->timeout_ms,
	                 watch_notify, &w, &result);
	json_decref(params);
	json_decref(result);
	if (rc || watch_stop)
		goto out_restore;
	rc = watch_loop(c, &w);

out_restore:
	sigaction(SIGINT, &old, NULL);
	c->interrupt = NULL;
	c->conn.interrupt = NULL;
	return rc;
}

/* Print notifications from c->conn until Ctrl-C, svcd's shutdown (0) or a
 * lost connection (3). */
static int
watch_loop(struct cli_ctx *c, struct watch_state *w)
{
	char *cause = NULL;
	int rc = CLI_EXIT_OK;

	for (;;) {
		json_t *msg = NULL;
		int r = conn_read(&c->conn, -1, &msg, &cause);
		if (r == CONN_INTERRUPTED)
			break;
		if (r == CONN_OK) {
			const char *m = str_field(msg, "method");
			if (m && !json_object_get(msg, "id"))
				watch_notify(m, json_object_get(msg, "params"),
				             w);
			json_decref(msg);
			continue;
		}
		/* The daemon went away: fine if it was shutting down. */
		struct stat st;
		if (w->shutdown_seen ||
		    (stat(c->socket, &st) < 0 && errno == ENOENT)) {
			free(cause);
			break;
		}
		fflush(c->out);
		fprintf(c->err, "svcctl: %s\n",
		        cause ? cause : "connection to svcd lost");
		free(cause);
		rc = CLI_EXIT_UNREACHABLE;
		break;
	}
	return rc;
}

static int
watch_check(const struct cli_opts *o, char **cause)
{
	if (o->since_time) {
		*cause = xasprintf("'watch' takes --since SEQ, not a time "
		                   "('%s'); use 'events -f --since TIME'",
		                   o->since_time);
		return -1;
	}
	return 0;
}

const struct cli_cmd cmd_watch_entry = {
    .name = "watch",
    .args = "[PATTERN ...] [--since SEQ]",
    .summary = "stream events as they happen (Ctrl-C to stop)",
    .help = "Subscribe to events matching the patterns (an exact "
            "name, a prefix\nglob such as user.*, or *; default *) "
            "and print each one as it\narrives: TIME  SEQ  EVENT  "
            "DATA  (SOURCE). With --json, one JSON\nobject per line "
            "(NDJSON). No timeout applies. Exits 0 on Ctrl-C or\n"
            "when svcd shuts down, 3 if the connection is lost.\n\n"
            "Options:\n"
            "  --since SEQ resume after event SEQ (replayed from "
            "the history)\n\n"
            "Examples:\n"
            "  svcctl watch\n"
            "  svcctl watch 'user.*' service.state\n"
            "  svcctl watch --json 'order.*' | jq -c .data\n",
    .opts = CLI_OPT_SINCE,
    .min_args = 0,
    .max_args = -1,
    .check = watch_check,
    .exec = cmd_watch,
};

static json_t *
events_list(json_t *result)
{
	if (json_is_array(result))
		return result;
	return json_object_get(result, "events");
}

/* The elements of the events array, as text, from the reply's line. */
struct raw_list {
	struct buf text; /* the array, compacted */
	const char *p;   /* the next element; NULL when lost or done */
	struct buf elem; /* the current one */
};

static void
raw_list_init(struct raw_list *r, const struct buf *line, json_t *result)
{
	static const char *const path[] = {"result", "events"};

	memset(r, 0, sizeof(*r));
	if (util_json_member(buf_head(line), line->len, path,
	                     json_is_array(result) ? 1 : 2, &r->text) &&
	    r->text.len && buf_head(&r->text)[0] == '[')
		r->p = buf_head(&r->text) + 1;
}

/* The next element's text, or NULL (then print the parsed one). */
static const struct buf *
raw_list_next(struct raw_list *r)
{
	const char *end = buf_head(&r->text) + r->text.len, *q;

	if (!r->p || r->p >= end || *r->p == ']' ||
	    !(q = util_json_skip(r->p, end))) {
		r->p = NULL;
		return NULL;
	}
	buf_reset(&r->elem);
	buf_append(&r->elem, r->p, (size_t)(q - r->p));
	r->p = q < end && *q == ',' ? q + 1 : q;
	return &r->elem;
}

static void
raw_list_free(struct raw_list *r)
{
	buf_free(&r->text);
	buf_free(&r->elem);
}

/* Events a page asks for: the daemon's own bound is 1-10000. */
#define EVENTS_PAGE 1000

/*
 * Page the history: follow "next" (the seq to pass as since) until it is
 * null or --last N have been printed, printing each page as it comes, so
 * memory stays one page whatever the history holds. upto (events -f): stop
 * at the first event past it (the subscription has those). *last_seq is
 * the seq of the last event printed. --json without -f prints one
 * document, {"events":[...]}, one event per line; with -f one event a line.
 */
static int
events_history(struct cli_ctx *c, uint64_t upto, uint64_t *last_seq)
{
	bool have_since = c->o->seen & CLI_OPT_SINCE && !c->o->since_time;
	bool doc = c->o->json && !upto;
	unsigned long long want = c->o->seen & CLI_OPT_LAST ? c->o->last : 0;
	unsigned long long since = have_since ? c->o->since : 0, printed = 0;
	bool first = true, opened = false, done = false;
	int rc = CLI_EXIT_OK;

	while (!done) {
		json_t *params = json_object(), *result = NULL, *list, *ev;
		json_t *next;
		struct raw_list raw;
		size_t i;

		if (first && want)
			json_object_set_new(params, "last",
			                    json_integer((json_int_t)want));
		if (!first || have_since)
			json_object_set_new(params, "since",
			                    json_integer((json_int_t)since));
		if (c->o->since_time)
			json_object_set_new(params, "since_time",
			                    json_string(c->o->since_time));
		if (c->o->until)
			json_object_set_new(params, "until_time",
			                    json_string(c->o->until));
		if (want && want - printed < EVENTS_PAGE)
			json_object_set_new(
			    params, "limit",
			    json_integer((json_int_t)(want - printed)));
		if (c->o->nargs)
			json_object_set_new(params, "events",
			                    patterns_array(c, 0));
		rc = call_daemon(c, WIRE_M_EVENTS, params, c->o->timeout_ms,
		                 NULL, NULL, &result);
		json_decref(params);
		if (rc)
			break;
		if (doc && !opened) {
			fputs("{\"events\":[", c->out);
			opened = true;
		}
		list = events_list(result);
		raw_list_init(&raw, &c->conn.line, result);
		ARRAY_EACH(list, i, ev)
		{
			const struct buf *text = raw_list_next(&raw);
			json_t *seq = json_object_get(ev, "seq");
			uint64_t sq = json_is_integer(seq)
			                  ? (uint64_t)json_integer_value(seq)
			                  : 0;
			if (upto && sq > upto) {
				done = true;
				break;
			}
			if (doc) {
				fputs(printed ? ",\n" : "\n", c->out);
				put_event_json(c, ev, text);
			} else {
				print_event(c, ev, text);
			}
			if (sq > *last_seq)
				*last_seq = sq;
			printed++;
		}
		raw_list_free(&raw);
		next = json_object_get(result, "next");
		first = false;
		if (!json_is_integer(next) || json_integer_value(next) <= 0 ||
		    (uint64_t)json_integer_value(next) <= since ||
		    (want && printed >= want) ||
		    (upto && (uint64_t)json_integer_value(next) >= upto))
			done = true;
		else
			since = (unsigned long long)json_integer_value(next);
		json_decref(result);
	}
	if (opened) {
		fputs(printed ? "\n]}\n" : "]}\n", c->out);
		fflush(c->out);
	}
	return rc;
}

/*
 * events -f: subscribe first (the reply's seq says where live begins), page
 * the history on a second connection up to that seq, then print the live
 * events, dropping any the history printed: no gap, no duplicate.
 */
static int
events_follow(struct cli_ctx *c)
{
	struct watch_state w = {.c = c};
	struct sigaction sa = {.sa_handler = on_sigint}, old;
	json_t *params = json_object(), *result = NULL;
	uint64_t upto = 0, last = 0;
	int rc;

	watch_stop = 0;
	c->interrupt = &watch_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	json_object_set_new(params, "events",
	                    c->o->nargs ? patterns_array(c, 0)
	                                : json_pack("[s]", "*"));
	rc = call_daemon(c, WIRE_M_SUBSCRIBE, params, c->o->timeout_ms, NULL,
	                 NULL, &result);
	json_decref(params);
	if (rc || watch_stop)
		goto out;
	json_t *jseq = json_object_get(result, "seq");
	upto = json_is_integer(jseq) ? (uint64_t)json_integer_value(jseq) : 0;

	/* the subscription waits on its socket (svcd bounds what it queues
	 * there and reports a loss as events.lost) while the history pages */
	struct conn sub = c->conn;
	c->connected = false;
	memset(&c->conn, 0, sizeof(c->conn));
	c->conn.fd = -1;
	if (upto)
		rc = events_history(c, upto, &last);
	if (c->connected)
		conn_close(&c->conn);
	c->conn = sub;
	c->connected = true;
	if (rc || watch_stop)
		goto out;
	w.skip_upto = last;
	rc = watch_loop(c, &w);
out:
	json_decref(result);
	sigaction(SIGINT, &old, NULL);
	c->interrupt = NULL;
	c->conn.interrupt = NULL;
	return rc;
}

static int
cmd_events(struct cli_ctx *c)
{
	uint64_t last = 0;

	if (c->o->seen & CLI_OPT_FOLLOW)
		return events_follow(c);
	return events_history(c, 0, &last);
}

static int
events_check(const struct cli_opts *o, char **cause)
{
	if ((o->seen & CLI_OPT_FOLLOW) && (o->seen & CLI_OPT_UNTIL)) {
		*cause = xstrdup("'events': -f follows new events, --until "
		                 "ends the query: give one of them");
		return -1;
	}
	return 0;
}

const struct cli_cmd cmd_events_entry = {
    .name = "events",
    .args = "[-n N] [--since SEQ|TIME] [--until TIME] [-f] [PATTERN ...]",
    .summary = "events from the history (-f: then follow new ones)",
    .help = "Print events from the bus's history (the journal when it is "
            "on, else\nthe ring), oldest first, optionally only those "
            "matching the patterns.\nA TIME is RFC 3339 (2026-12-01T10:00:00Z, "
            "an offset allowed) or a\nduration ago (30s, 5m, 2h, 1d).\n\n"
            "Options:\n"
            "  -n, --last N    only the last N events\n"
            "  --since SEQ     only events after sequence number SEQ\n"
            "  --since TIME    only events at or after TIME\n"
            "  --until TIME    only events at or before TIME\n"
            "  -f, --follow    then print new events as they come "
            "(Ctrl-C\n"
            "                  stops); no gap or duplicate between the "
            "two\n\n"
            "Examples:\n"
            "  svcctl events -n 20\n"
            "  svcctl events --since 5m 'user.*'\n"
            "  svcctl events --since 2026-12-01T10:00:00Z --until "
            "2026-12-01T11:00:00Z\n"
            "  svcctl events -f -n 10 service.state\n",
    .opts = CLI_OPT_LAST | CLI_OPT_SINCE | CLI_OPT_UNTIL | CLI_OPT_FOLLOW,
    .min_args = 0,
    .max_args = -1,
    .check = events_check,
    .exec = cmd_events,
};

/* ---- emit, schedule, cancel ------------------------------------------ */

static int
data_from_args(struct cli_ctx *c, int from, struct buf *data)
{
	char *cause = NULL;

	if (args_parse_data(c->o->nargs - from, c->o->args + from, data,
	                    &cause) < 0) {
		fprintf(c->err,
		        "svcctl: %s\nTry 'svcctl %s --help' for more "
		        "information.\n",
		        cause, c->command);
		free(cause);
		buf_free(data);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int
cmd_emit(struct cli_ctx *c)
{
	struct buf data = {0};
	json_t *result = NULL;
	int rc = data_from_args(c, 1, &data);

	if (rc)
		return rc;
	json_t *params = json_object();
	json_object_set_new(params, "event", json_string(c->o->args[0]));
	if (c->o->seen & CLI_OPT_NO_WAIT)
		json_object_set_new(params, "wait", json_false());
	if (!json_object_get(params, "event")) {
		json_decref(params);
		buf_free(&data);
		fprintf(c->err, "svcctl: event name is not valid UTF-8\n");
		return CLI_EXIT_USAGE;
	}
	/* the data as the user wrote it, not re-serialised */
	rc = call_daemon_data(c, WIRE_M_EMIT, params,
	                      c->o->nargs > 1 ? &data : NULL, c->o->timeout_ms,
	                      NULL, NULL, &result);
	json_decref(params);
	buf_free(&data);
	if (rc)
		return rc;
	if (c->o->json) {
		print_json(c, result);
	} else {
		json_t *seq = json_object_get(result, "seq");
		json_t *n = json_object_get(result, "listeners");
		fprintf(c->out, "emitted %s", c->o->args[0]);
		if (json_is_integer(seq))
			fprintf(c->out, " as seq %lld",
			        (long long)json_integer_value(seq));
		if (json_is_integer(n))
			fprintf(c->out, ", %lld listener%s",
			        (long long)json_integer_value(n),
			        json_integer_value(n) == 1 ? "" : "s");
		fputc('\n', c->out);
	}
	json_decref(result);
	return CLI_EXIT_OK;
}

const struct cli_cmd cmd_emit_entry = {
    .name = "emit",
    .args = "EVENT [JSON | key=value ...] [--no-wait]",
    .summary = "publish an event on the bus",
    .help = "Publish EVENT on svcd's event bus with an optional data "
            "object.\n"
            "Data words: key=value (value parsed as a JSON number, "
            "true, false\nor null, else a string), key:=JSON (raw "
            "JSON), or one JSON object.\n"
            "Prints the event's sequence number and how many "
            "listeners matched.\n\n"
            "Options:\n"
            "  --no-wait   fail at once with QueueFull if the bus "
            "queue is full\n"
            "              (default: wait for room)\n\n"
            "Examples:\n"
            "  svcctl emit user.login user=alice admin=true\n"
            "  svcctl emit order.paid id=42 amount=9.99 "
            "'items:=[1,2]'\n"
            "  svcctl emit deploy.done '{\"version\":\"1.2\"}'\n",
    .opts = CLI_OPT_NO_WAIT,
    .min_args = 1,
    .max_args = -1,
    .exec = cmd_emit,
};

static int
schedule_check(const struct cli_opts *o, char **cause)
{
	bool every = o->seen & CLI_OPT_EVERY;
	bool after = o->seen & CLI_OPT_AFTER;

	if (every == after) {
		*cause = xstrdup("'schedule' needs exactly one of "
		                 "--every D or --after D");
		return -1;
	}
	if (!(o->seen & CLI_OPT_EMIT)) {
		*cause = xstrdup("'schedule' needs --emit EVENT");
		return -1;
	}
	return 0;
}

static int
cmd_schedule(struct cli_ctx *c)
{
	struct buf data = {0};
	json_t *result = NULL;
	const char *kind = c->o->every ? "every" : "after";
	const char *d = c->o->every ? c->o->every : c->o->after;
	int rc = data_from_args(c, 1, &data);

	if (rc)
		return rc;
	json_t *params = json_object();
	json_object_set_new(params, "name", json_string(c->o->args[0]));
	json_object_set_new(params, kind, json_string(d));
	json_object_set_new(params, "event", json_string(c->o->emit));
	rc = call_daemon_data(c, WIRE_M_SCHEDULE, params,
	                      c->o->nargs > 1 ? &data : NULL, c->o->timeout_ms,
	                      NULL, NULL, &result);
	json_decref(params);
	buf_free(&data);
	if (rc)
		return rc;
	if (c->o->json) {
		print_json(c, result);
	} else {
		fprintf(c->out, "scheduled '%s': emit %s %s %s", c->o->args[0],
		        c->o->emit, kind, d);
		const char *next = str_field(result, "next_run");
		if (next)
			fprintf(c->out, " (next run %s)", next);
		fputc('\n', c->out);
	}
	json_decref(result);
	return CLI_EXIT_OK;
}

const struct cli_cmd cmd_schedule_entry = {
    .name = "schedule",
    .args = "NAME (--every D | --after D) --emit EVENT "
            "[JSON | key=value ...]",
    .summary = "emit an event periodically or once later",
    .help = "Create (or replace) the worker task NAME that emits "
            "EVENT, with the\ngiven data, every D or once after D. "
            "Durations take a unit: 250ms,\n30s, 5m, 1h.\n\n"
            "Options:\n"
            "  --every D   emit every D (D after the previous run "
            "finished)\n"
            "  --after D   emit once, D from now\n"
            "  --emit EVENT  the event to emit\n\n"
            "Examples:\n"
            "  svcctl schedule tick --every 30s --emit app.tick\n"
            "  svcctl schedule reminder --after 5m --emit "
            "user.remind user=bob\n",
    .opts = CLI_OPT_EVERY | CLI_OPT_AFTER | CLI_OPT_EMIT,
    .min_args = 1,
    .max_args = -1,
    .check = schedule_check,
    .exec = cmd_schedule,
};

static int
cmd_cancel(struct cli_ctx *c)
{
	json_t *params = json_pack("{s:s}", "name", c->o->args[0]);
	json_t *result = NULL;
	int rc;

	if (!params) {
		fprintf(c->err, "svcctl: task name is not valid UTF-8\n");
		return CLI_EXIT_USAGE;
	}
	rc = call_daemon(c, WIRE_M_CANCEL, params, c->o->timeout_ms, NULL, NULL,
	                 &result);
	json_decref(params);
	if (rc)
		return rc;
	bool cancelled = json_is_true(json_object_get(result, "cancelled"));
	if (c->o->json)
		print_json(c, result);
	else if (cancelled)
		fprintf(c->out, "cancelled '%s'\n", c->o->args[0]);
	if (!cancelled) {
		fprintf(c->err, "svcctl: no task named '%s'\n", c->o->args[0]);
		rc = CLI_EXIT_ERROR;
	}
	json_decref(result);
	return rc;
}

const struct cli_cmd cmd_cancel_entry = {
    .name = "cancel",
    .args = "NAME",
    .summary = "cancel a scheduled task",
    .help = "Cancel the worker task NAME. Exits 1 if there is no "
            "such task.\n\n"
            "Examples:\n"
            "  svcctl cancel tick\n",
    .min_args = 1,
    .max_args = 1,
    .exec = cmd_cancel,
};

/* ---- health, status, services, tasks ---------------------------------- */

/* "2026-11-23T22:35:06.123456Z" (fraction optional) to µs since the epoch. */
static bool
parse_utc(const char *s, int64_t *us)
{
	struct tm tm = {0};
	int n = 0;
	char frac[16] = "";

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return false;
	s += n;
	if (*s == '.' && sscanf(s + 1, "%15[0-9]%n", frac, &n) == 1)
		s += 1 + n;
	if (strcmp(s, "Z") != 0)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	int64_t f = 0;
	size_t flen = strlen(frac);
	for (size_t i = 0; i < 6; i++)
		f = f * 10 + (i < flen ? frac[i] - '0' : 0);
	*us = (int64_t)t * 1000000 + f;
	return true;
}

/* A task's next run as "in 12s" (or "due"), else as given. */
static void
tab_next_run(struct tab *t, json_t *v)
{
	int64_t at;
	char b[32];

	if (!json_is_string(v) || !parse_utc(json_string_value(v), &at)) {
		tab_json(t, TAB_PLAIN, v);
		return;
	}
	int64_t left = at - util_now_us();
	if (left <= 0) {
		tab_cell(t, TAB_PLAIN, "%s", "due");
		return;
	}
	cli_format_age((double)left / 1e6, b, sizeof(b));
	tab_cell(t, TAB_PLAIN, "in %s", b);
}

static void
tab_latency(struct tab *t, json_t *v)
{
	char b[32];
	if (!json_is_number(v)) {
		tab_json(t, TAB_PLAIN, v);
		return;
	}
	util_format_duration(json_number_value(v) / 1e6, b, sizeof(b));
	tab_cell(t, TAB_PLAIN, "%s", b);
}

/* stale: older than two health intervals (the rounds stopped) */
static void
tab_age(struct tab *t, json_t *age, json_t *checked, bool stale)
{
	char b[32];
	if (json_is_number(age)) {
		cli_format_age(json_number_value(age) / 1e3, b, sizeof(b));
		if (stale)
			tab_cell(t, TAB_YELLOW, "%s ago (stale)", b);
		else
			tab_cell(t, TAB_PLAIN, "%s ago", b);
	} else if (json_is_string(checked)) {
		tab_cell(t, TAB_PLAIN, "%s", json_string_value(checked));
	} else {
		tab_cell(t, TAB_DIM, "never");
	}
}

static int
cmd_health(struct cli_ctx *c)
{
	static const char *const hdr[] = {"NAME",    "STATE",   "HEALTHY",
	                                  "LATENCY", "CHECKED", "ERROR"};
	json_t *params = json_object();
	json_t *result = NULL;
	int rc;

	if (c->o->nargs)
		json_object_set_new(params, "service",
		                    json_string(c->o->args[0]));
	if (c->o->seen & CLI_OPT_FRESH)
		json_object_set_new(params, "fresh", json_true());
	rc = call_daemon(c, WIRE_M_HEALTH, params, c->o->timeout_ms, NULL, NULL,
	                 &result);
	json_decref(params);
	if (rc)
		return rc;
	const char *status = str_field(result, "status");
	/* 0 ok, 1 degraded, 2 failed, 3 unknown (stale results, or none) */
	rc = cli_health_exit(status);
	if (c->o->json) {
		print_json(c, result);
		json_decref(result);
		return rc;
	}
	fputs("status: ", c->out);
	put_colored(c, tab_state_color(status), status ? status : "unknown");
	fputc('\n', c->out);

	struct tab *t = tab_new(ARRAY_SIZE(hdr), hdr);
	tab_align_right(t, 3);
	size_t i;
	json_t *s;
	ARRAY_EACH(json_object_get(result, "services"), i, s)
	{
		const char *state = str_field(s, "state");
		json_t *healthy = json_object_get(s, "healthy");
		json_t *blocked = json_object_get(s, "blocked_by");
		const char *err = str_field(s, "error");
		tab_row(t);
		tab_json(t, TAB_PLAIN, json_object_get(s, "name"));
		tab_json(t, tab_state_color(state),
		         json_object_get(s, "state"));
		tab_json(t,
		         json_is_true(healthy)    ? TAB_GREEN
		         : json_is_false(healthy) ? TAB_RED
		                                  : TAB_PLAIN,
		         healthy);
		tab_latency(t, json_object_get(s, "latency_us"));
		tab_age(t, json_object_get(s, "age_ms"),
		        json_object_get(s, "checked_at"),
		        json_is_true(json_object_get(s, "stale")));
		bool has_blocked =
		    blocked && !json_is_null(blocked) &&
		    !(json_is_array(blocked) && json_array_size(blocked) == 0);
		char *b = has_blocked ? cell_text(blocked) : NULL;
		if (err && b)
			tab_cell(t, TAB_RED, "%s (blocked by %s)", err, b);
		else if (err)
			tab_cell(t, TAB_RED, "%s", err);
		else if (b)
			tab_cell(t, TAB_YELLOW, "blocked by %s", b);
		else
			tab_cell(t, TAB_PLAIN, "%s", "");
		free(b);
	}
	if (tab_rows(t))
		emit_table(c, t);
	tab_free(t);
	json_decref(result);
	return rc;
}

const struct cli_cmd cmd_health_entry = {
    .name = "health",
    .args = "[SERVICE] [--fresh]",
    .summary = "health of every service (exit 0 ok, 1 degraded, "
               "2 failed)",
    .help = "Show the health monitor's last results: the overall "
            "status, then\nper service its state, ping result, "
            "latency, age and error.\n"
            "Exit status: 0 ok, 1 degraded, 2 failed, 3 unknown or "
            "unreachable\n(the monitoring-plugin convention).\n\n"
            "Options:\n"
            "  --fresh     ping every service now instead of "
            "reporting the\n              last round\n\n"
            "Examples:\n"
            "  svcctl health\n"
            "  svcctl health bus --fresh\n"
            "  svcctl health --json | jq -r .status\n",
    .opts = CLI_OPT_FRESH,
    .min_args = 0,
    .max_args = 1,
    .exec = cmd_health,
};

/* "key=value key=value" for an object's members (nested ones compact; a
 * list of objects, such as per_hook, by its length: --json has it whole). */
static char *
kv_line(json_t *obj)
{
	struct buf b = {0};
	const char *k;
	json_t *v;

	OBJECT_EACH(obj, k, v)
	{
		bool list =
		    json_is_array(v) && (!json_array_size(v) ||
		                         json_is_object(json_array_get(v, 0)));
		char *s =
		    list ? xasprintf("%zu", json_array_size(v)) : cell_text(v);
		if (b.len)
			buf_putc(&b, ' ');
		buf_printf(&b, "%s=%s", k, s);
		free(s);
	}
	buf_putc(&b, '\0');
	char *out = xstrdup(buf_head(&b));
	buf_free(&b);
	return out;
}

static int
cmd_status(struct cli_ctx *c)
{
	static const char *const known[] = {"version", "pid", "uptime_s",
	                                    "uptime", "state"};
	json_t *result = NULL;
	int rc = call_daemon(c, WIRE_M_STATUS, NULL, c->o->timeout_ms, NULL,
	                     NULL, &result);
	if (rc)
		return rc;
	if (c->o->json || !json_is_object(result)) {
		print_json(c, result);
		json_decref(result);
		return CLI_EXIT_OK;
	}
	const char *version = str_field(result, "version");
	const char *state = str_field(result, "state");
	json_t *pid = json_object_get(result, "pid");
	json_t *up = json_object_get(result, "uptime_s");
	if (!up)
		up = json_object_get(result, "uptime");

	fprintf(c->out, "svcd %s", version ? version : "?");
	if (json_is_integer(pid))
		fprintf(c->out, ", pid %lld",
		        (long long)json_integer_value(pid));
	if (state) {
		fputs(", ", c->out);
		put_colored(c, tab_state_color(state), state);
	}
	if (json_is_number(up)) {
		char b[32];
		/* whole seconds: under one is "0s", not "0ms" */
		if (json_is_integer(up) && json_integer_value(up) < 1)
			snprintf(b, sizeof(b), "0s");
		else
			cli_format_age(json_number_value(up), b, sizeof(b));
		fprintf(c->out, ", up %s", b);
	}
	fputc('\n', c->out);

	/* Everything else, one line per member, names aligned. */
	size_t w = 0;
	const char *k;
	json_t *v;
	OBJECT_EACH(result, k, v)
	{
		if (strlen(k) > w)
			w = strlen(k);
	}
	OBJECT_EACH(result, k, v)
	{
		bool skip = false;
		for (size_t i = 0; i < ARRAY_SIZE(known); i++)
			skip |= strcmp(k, known[i]) == 0;
		if (skip)
			continue;
		char *s = json_is_object(v) ? kv_line(v) : cell_text(v);
		fprintf(c->out, "%-*s  %s\n", (int)w, k, s);
		free(s);
	}
	json_decref(result);
	return CLI_EXIT_OK;
}

static int
cmd_status_loop(struct cli_ctx *c)
{
	return cmd_status_every(c, cmd_status); /* client/top.c */
}

const struct cli_cmd cmd_status_entry = {
    .name = "status",
    .args = "[--interval SECS]",
    .summary = "daemon version, uptime and bus/worker/control "
               "statistics",
    .help = "Show svcd's version, pid, uptime and state, a summary "
            "of service\nstates, and the bus, worker and control "
            "statistics.\n\n"
            "Examples:\n"
            "  svcctl status\n"
            "  svcctl status --json | jq .bus\n"
            "  svcctl status --interval 5   (again every 5 s until "
            "Ctrl-C)\n",
    .own_opts = cli_interval_opts,
    .check = cli_interval_check,
    .exec = cmd_status_loop,
};

static void
dot_id(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_putc(b, '\\');
		if (*s == '\n')
			continue;
		buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

static void
print_dot(struct cli_ctx *c, json_t *list)
{
	struct buf b = {0};
	size_t i, j;
	json_t *s, *r;

	buf_puts(&b, "digraph svcd {\n\trankdir=BT;\n\tnode [shape=box];\n");
	ARRAY_EACH(list, i, s)
	{
		const char *name = str_field(s, "name");
		const char *state = str_field(s, "state");
		if (!name)
			continue;
		buf_putc(&b, '\t');
		dot_id(&b, name);
		if (state && strcmp(state, "failed") == 0)
			buf_puts(&b, " [color=red]");
		else if (state && strcmp(state, "blocked") == 0)
			buf_puts(&b, " [color=orange]");
		buf_puts(&b, ";\n");
	}
	ARRAY_EACH(list, i, s)
	{
		const char *name = str_field(s, "name");
		if (!name)
			continue;
		ARRAY_EACH(json_object_get(s, "requires"), j, r)
		{
			if (!json_is_string(r))
				continue;
			buf_putc(&b, '\t');
			dot_id(&b, name);
			buf_puts(&b, " -> ");
			dot_id(&b, json_string_value(r));
			buf_puts(&b, ";\n");
		}
	}
	buf_puts(&b, "}\n");
	fwrite(buf_head(&b), 1, b.len, c->out);
	buf_free(&b);
}

/*
 * A table command: call method, then print the result as JSON (--json), as
 * `empty` when the list has nothing, or as a table of hdr with one row per
 * element filled by row. The list is the result itself or its member key.
 * pre, if set, may print the result another way (returns true if it did).
 */
struct list_cmd {
	const char *method;
	const char *key;
	const char *const *hdr;
	size_t ncols;
	uint32_t right; /* columns aligned right, one bit each */
	const char *empty;
	void (*row)(struct tab *t, json_t *item);
	bool (*pre)(struct cli_ctx *c, json_t *list);
};

static int
cmd_list(struct cli_ctx *c, const struct list_cmd *l)
{
	json_t *result = NULL;
	int rc = call_daemon(c, l->method, NULL, c->o->timeout_ms, NULL, NULL,
	                     &result);
	if (rc)
		return rc;
	json_t *list =
	    json_is_array(result) ? result : json_object_get(result, l->key);
	if (l->pre && l->pre(c, list)) {
		/* printed */
	} else if (c->o->json) {
		print_json(c, result);
	} else if (json_array_size(list) == 0 && l->empty) {
		fprintf(c->out, "%s\n", l->empty);
	} else {
		struct tab *t = tab_new(l->ncols, l->hdr);
		size_t i;
		json_t *s;

		for (size_t col = 0; col < l->ncols; col++)
			if (l->right & (1u << col))
				tab_align_right(t, col);
		ARRAY_EACH(list, i, s)
		{
			tab_row(t);
			l->row(t, s);
		}
		emit_table(c, t);
		tab_free(t);
	}
	json_decref(result);
	return CLI_EXIT_OK;
}

static bool
services_dot(struct cli_ctx *c, json_t *list)
{
	if (!(c->o->seen & CLI_OPT_DOT))
		return false;
	print_dot(c, list);
	return true;
}

static void
services_row(struct tab *t, json_t *s)
{
	tab_json(t, TAB_PLAIN, json_object_get(s, "order"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "name"));
	tab_json(t, tab_state_color(str_field(s, "state")),
	         json_object_get(s, "state"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "requires"));
	tab_ms(t, json_object_get(s, "init_ms"));
	tab_error(t, json_object_get(s, "error"));
}

static int
cmd_services(struct cli_ctx *c)
{
	static const char *const hdr[] = {"ORDER",    "NAME", "STATE",
	                                  "REQUIRES", "INIT", "ERROR"};
	static const struct list_cmd l = {
	    .method = WIRE_M_SERVICES,
	    .key = "services",
	    .hdr = hdr,
	    .ncols = ARRAY_SIZE(hdr),
	    .right = 1u << 0 | 1u << 4,
	    .row = services_row,
	    .pre = services_dot,
	};

	return cmd_list(c, &l);
}

const struct cli_cmd cmd_services_entry = {
    .name = "services",
    .args = "[--dot]",
    .summary = "the service graph in start order",
    .help = "List the compiled-in services in start order with "
            "their\ndependencies, state, init time and last "
            "error.\n\n"
            "Options:\n"
            "  --dot       print the graph as Graphviz DOT (edges "
            "point from a\n              service to what it "
            "requires)\n\n"
            "Examples:\n"
            "  svcctl services\n"
            "  svcctl services --dot | dot -Tsvg > graph.svg\n",
    .opts = CLI_OPT_DOT,
    .exec = cmd_services,
};

/* A count in red when it is not zero. */
static void
tab_count_red(struct tab *t, json_t *v)
{
	tab_json(t, json_integer_value(v) > 0 ? TAB_RED : TAB_PLAIN, v);
}

static void
tasks_row(struct tab *t, json_t *s)
{
	json_t *iv = json_object_get(s, "interval_ms");
	json_t *dv = json_object_get(s, "delay_ms");
	char b[32];

	tab_json(t, TAB_PLAIN, json_object_get(s, "name"));
	if (json_is_true(json_object_get(s, "running")))
		tab_cell(t, TAB_GREEN, "%s (running)",
		         str_field(s, "kind") ? str_field(s, "kind") : "?");
	else
		tab_json(t, TAB_PLAIN, json_object_get(s, "kind"));
	if (json_is_number(iv) || json_is_number(dv)) {
		json_t *v = json_is_number(iv) ? iv : dv;
		util_format_duration(json_number_value(v) / 1e3, b, sizeof(b));
		tab_cell(t, TAB_PLAIN, "%s %s",
		         json_is_number(iv) ? "every" : "after", b);
	} else {
		tab_cell(t, TAB_PLAIN, "%s", "-");
	}
	tab_next_run(t, json_object_get(s, "next_run"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "runs"));
	tab_count_red(t, json_object_get(s, "failures"));
	tab_ms(t, json_object_get(s, "last_duration_ms"));
	/* a service's task names the service; config and control say so */
	if (str_field(s, "owner") && !strcmp(str_field(s, "owner"), "service"))
		tab_cell(t, TAB_PLAIN, "service %s",
		         str_field(s, "origin") ? str_field(s, "origin") : "?");
	else
		tab_json(t, TAB_PLAIN, json_object_get(s, "origin"));
	tab_error(t, json_object_get(s, "last_error"));
}

static int
cmd_tasks(struct cli_ctx *c)
{
	static const char *const hdr[] = {"NAME", "KIND",  "SCHEDULE",
	                                  "NEXT", "RUNS",  "FAILS",
	                                  "LAST", "OWNER", "ERROR"};
	static const struct list_cmd l = {
	    .method = WIRE_M_TASKS,
	    .key = "tasks",
	    .hdr = hdr,
	    .ncols = ARRAY_SIZE(hdr),
	    .right = 1u << 4 | 1u << 5 | 1u << 6,
	    .empty = "no tasks",
	    .row = tasks_row,
	};

	return cmd_list(c, &l);
}

const struct cli_cmd cmd_tasks_entry = {
    .name = "tasks",
    .args = "",
    .summary = "the background worker's tasks",
    .help = "List the background worker's periodic and delayed "
            "tasks: schedule,\nnext run, run and failure counts, "
            "last duration and error.\n\n"
            "Examples:\n"
            "  svcctl tasks\n",
    .exec = cmd_tasks,
};

static void
hooks_row(struct tab *t, json_t *s)
{
	tab_json(t, TAB_PLAIN, json_object_get(s, "name"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "kind"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "on"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "target"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "deliveries"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "retried"));
	tab_count_red(t, json_object_get(s, "failures"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "timeouts"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "in_flight"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "queued"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "lag"));
	tab_json(t, TAB_PLAIN, json_object_get(s, "last_status"));
	tab_error(t, json_object_get(s, "last_error"));
}

static int
cmd_hooks(struct cli_ctx *c)
{
	static const char *const hdr[] = {
	    "NAME",    "KIND",   "ON",       "TARGET",    "DELIVERED",
	    "RETRIES", "FAILS",  "TIMEOUTS", "IN FLIGHT", "QUEUED",
	    "LAG",     "STATUS", "ERROR"};
	static const struct list_cmd l = {
	    .method = WIRE_M_HOOKS,
	    .key = "hooks",
	    .hdr = hdr,
	    .ncols = ARRAY_SIZE(hdr),
	    .right = 0xff0u, /* columns 4-11 */
	    .empty = "no hooks",
	    .row = hooks_row,
	};

	return cmd_list(c, &l);
}

const struct cli_cmd cmd_hooks_entry = {
    .name = "hooks",
    .args = "",
    .summary = "the configured hooks and their figures",
    .help = "List the [hook.NAME] hooks: kind (exec, http, listen), "
            "event pattern,\ntarget, deliveries, retries, failures, "
            "timeouts, events in flight and\nqueued, lag (seqs behind "
            "the bus), the last HTTP status and the last\nerror.\n\n"
            "Examples:\n"
            "  svcctl hooks\n"
            "  svcctl hooks --json\n",
    .exec = cmd_hooks,
};

/* ---- shutdown, reload, ping, version ---------------------------------- */

struct shutdown_state {
	struct cli_ctx *c;
	bool exited;
	int status;
};

static void
shutdown_notify(const char *method, json_t *params, void *arg)
{
	struct shutdown_state *s = arg;
	struct cli_ctx *c = s->c;

	if (c->o->json) {
		json_t *n =
		    json_pack("{s:s,s:O?}", "method", method, "params", params);
		json_dumpf(n, c->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputc('\n', c->out);
		json_decref(n);
	} else if (strcmp(method, WIRE_N_SHUTDOWN_PROGRESS) == 0) {
		const char *phase = str_field(params, "phase");
		const char *svc = str_field(params, "service");
		const char *state = str_field(params, "state");
		const char *word = state ? state : phase;
		if (svc) {
			put_colored(c, tab_state_color(word),
			            word ? word : "stopping");
			fprintf(c->out, " %s\n", svc);
		} else if (phase && strcmp(phase, "stopping") == 0) {
			fputs("shutting down\n", c->out);
		} else if (phase) {
			fprintf(c->out, "%s%s%s\n", phase, state ? " " : "",
			        state ? state : "");
		}
	} else if (strcmp(method, WIRE_N_SHUTDOWN_EXIT) == 0) {
		json_t *st = json_object_get(params, "status");
		if (!st)
			st = json_object_get(params, "code");
		s->exited = true;
		s->status =
		    json_is_integer(st) ? (int)json_integer_value(st) : 0;
		if (s->status)
			fprintf(c->out, "svcd exited with status %d\n",
			        s->status);
		else
			fputs("svcd exited\n", c->out);
	}
	fflush(c->out);
}

static int
cmd_shutdown(struct cli_ctx *c)
{
	bool wait = !(c->o->seen & CLI_OPT_NO_WAIT);
	struct shutdown_state s = {.c = c};
	json_t *params = json_pack("{s:b}", "wait", wait);
	json_t *result = NULL;
	char *cause = NULL;
	int rc = call_daemon(c, WIRE_M_SHUTDOWN, params, c->o->timeout_ms,
	                     shutdown_notify, &s, &result);

	json_decref(params);
	if (rc)
		return rc;
	if (c->o->json && wait) {
		/* The result, then the notifications: all NDJSON. */
		json_dumpf(result, c->out,
		           JSON_COMPACT | JSON_PRESERVE_ORDER |
		               JSON_ENCODE_ANY);
		fputc('\n', c->out);
	} else if (c->o->json) {
		print_json(c, result);
	} else if (!wait) {
		fputs("shutdown accepted\n", c->out);
	}
	json_decref(result);
	fflush(c->out);
	/* Follow progress until svcd closes the connection (no timeout). */
	while (wait) {
		json_t *msg = NULL;
		int r = conn_read(&c->conn, s.exited ? c->o->timeout_ms : -1,
		                  &msg, &cause);
		if (r != CONN_OK)
			break;
		const char *m = str_field(msg, "method");
		if (m && !json_object_get(msg, "id"))
			shutdown_notify(m, json_object_get(msg, "params"), &s);
		json_decref(msg);
	}
	free(cause);
	return s.status ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

const struct cli_cmd cmd_shutdown_entry = {
    .name = "shutdown",
    .args = "[--no-wait]",
    .summary = "stop svcd gracefully and follow its progress",
    .help = "Ask svcd to shut down gracefully. By default svcctl "
            "prints each step\n(stopping SERVICE, stopped SERVICE) "
            "and returns once svcd has\nexited; no timeout applies "
            "while it waits.\n\n"
            "Options:\n"
            "  --no-wait   return as soon as the request is "
            "accepted\n\n"
            "Examples:\n"
            "  svcctl shutdown\n"
            "  svcctl shutdown --no-wait\n",
    .opts = CLI_OPT_NO_WAIT,
    .exec = cmd_shutdown,
};

static int
cmd_reload(struct cli_ctx *c)
{
	json_t *result = NULL;
	int rc = call_daemon(c, WIRE_M_RELOAD, NULL, c->o->timeout_ms, NULL,
	                     NULL, &result);
	if (rc)
		return rc;
	if (c->o->json)
		print_json(c, result);
	else
		fputs("reloaded\n", c->out);
	json_decref(result);
	return CLI_EXIT_OK;
}

const struct cli_cmd cmd_reload_entry = {
    .name = "reload",
    .args = "",
    .summary = "re-read the configuration file",
    .help = "Ask svcd to reload its configuration (log level, "
            "timers, hooks,\nlimits), as SIGHUP does. A bad "
            "configuration is rejected, reported\nand the running "
            "one kept (exit 1).\n\n"
            "Examples:\n"
            "  svcctl reload\n",
    .exec = cmd_reload,
};

static int
cmd_ping(struct cli_ctx *c)
{
	json_t *result = NULL;
	int rc = call_daemon(c, WIRE_M_PING, NULL, c->o->timeout_ms, NULL, NULL,
	                     &result);
	if (rc)
		return rc;
	if (c->o->json)
		print_json(c, result);
	else
		fputs("pong\n", c->out);
	json_decref(result);
	return CLI_EXIT_OK;
}

const struct cli_cmd cmd_ping_entry = {
    .name = "ping",
    .args = "",
    .summary = "check that svcd answers",
    .help = "Send a ping; prints pong. Exit 0 if svcd answered, 3 "
            "if it cannot\nbe reached.\n\n"
            "Examples:\n"
            "  svcctl -t 1 ping\n",
    .exec = cmd_ping,
};

static int
cmd_version(struct cli_ctx *c)
{
	json_t *hello = NULL, *error = NULL;
	char *cause = NULL;
	int rc = CONN_FAIL;

	if (conn_open(&c->conn, c->socket, c->o->timeout_ms, &cause) == 0) {
		c->connected = true;
		rc = conn_call(&c->conn, WIRE_M_HELLO, NULL, c->o->timeout_ms,
		               NULL, NULL, &hello, &error, &cause);
	}
	if (c->o->json) {
		json_t *v = json_pack("{s:s,s:O?}", "svcctl", SVCD_VERSION,
		                      "svcd", rc == CONN_OK ? hello : NULL);
		print_json(c, v);
		json_decref(v);
	} else {
		fprintf(c->out, "svcctl %s\n", SVCD_VERSION);
		if (rc == CONN_OK) {
			const char *v = str_field(hello, "version");
			json_t *proto = json_object_get(hello, "protocol");
			json_t *pid = json_object_get(hello, "pid");
			char *p = proto ? cell_text(proto) : NULL;
			fprintf(c->out, "svcd %s", v ? v : "?");
			if (p)
				fprintf(c->out, " (protocol %s", p);
			if (json_is_integer(pid))
				fprintf(c->out, "%spid %lld", p ? ", " : " (",
				        (long long)json_integer_value(pid));
			if (p || json_is_integer(pid))
				fputc(')', c->out);
			fprintf(c->out, " at %s\n", c->socket);
			free(p);
		} else if (rc == CONN_ERROR_REPLY) {
			fprintf(c->out, "svcd: %s\n",
			        str_field(error, "message")
			            ? str_field(error, "message")
			            : "error");
		} else {
			fprintf(c->out, "svcd: not reachable (%s)\n",
			        cause ? cause : "unknown");
		}
	}
	json_decref(hello);
	json_decref(error);
	free(cause);
	return CLI_EXIT_OK;
}

const struct cli_cmd cmd_version_entry = {
    .name = "version",
    .args = "",
    .summary = "svcctl's version and the daemon's",
    .help = "Print svcctl's version, and svcd's (with its protocol "
            "version and\npid) if it can be reached.\n\n"
            "Examples:\n"
            "  svcctl version\n",
    .own_version = true,
    .exec = cmd_version,
};

/* ---- call: any method ------------------------------------------------- */

static void
put_newline_indent(FILE *f, int depth)
{
	fputc('\n', f);
	for (int i = 0; i < depth; i++)
		fputs("  ", f);
}

/*
 * Compact JSON text (valid, no blanks outside strings) laid out as
 * print_json lays out a parsed value, every other byte kept: numbers stay
 * as svcd wrote them.
 */
static void
put_indented(FILE *f, const char *p, size_t n)
{
	const char *end = p + n;
	int depth = 0;

	while (p < end) {
		char ch = *p++;
		if (ch == '"') {
			const char *q = p;
			while (q < end && *q != '"')
				q += *q == '\\' && q + 1 < end ? 2 : 1;
			fputc('"', f);
			fwrite(p, 1, (size_t)(q - p), f);
			if (q < end)
				fputc('"', f);
			p = q < end ? q + 1 : q;
		} else if (ch == '{' || ch == '[') {
			fputc(ch, f);
			if (p < end && (*p == '}' || *p == ']')) {
				fputc(*p++, f); /* {} and [] stay empty */
				continue;
			}
			put_newline_indent(f, ++depth);
		} else if (ch == '}' || ch == ']') {
			put_newline_indent(f, --depth);
			fputc(ch, f);
		} else if (ch == ',') {
			fputc(',', f);
			put_newline_indent(f, depth);
		} else if (ch == ':') {
			fputs(": ", f);
		} else {
			fputc(ch, f);
		}
	}
	fputc('\n', f);
}

/* PARAMS-JSON: one JSON object, appended compacted (bytes kept) to out. */
static int
call_params(struct cli_ctx *c, const char *text, struct buf *out)
{
	json_error_t jerr;
	json_t *v =
	    json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	char *cause = NULL;

	if (!v)
		cause = xasprintf("invalid JSON params: %s (at column %d)",
		                  jerr.text, jerr.column);
	else if (!json_is_object(v))
		cause = xstrdup("params must be a JSON object");
	json_decref(v);
	if (cause) {
		fprintf(c->err,
		        "svcctl: %s\nTry 'svcctl %s --help' for more "
		        "information.\n",
		        cause, c->command);
		free(cause);
		return CLI_EXIT_USAGE;
	}
	util_json_compact(out, text, strlen(text));
	return 0;
}

static int
cmd_call(struct cli_ctx *c)
{
	static const char *const result_key[] = {"result"};
	const char *method = c->o->args[0];
	struct buf params = {0}, raw = {0};
	json_t *result = NULL, *error = NULL;
	char *cause = NULL;
	int rc;

	if (!*method) {
		fprintf(c->err,
		        "svcctl: empty method name\nTry 'svcctl %s "
		        "--help' for more information.\n",
		        c->command);
		return CLI_EXIT_USAGE;
	}
	if (c->o->nargs > 1) {
		rc = call_params(c, c->o->args[1], &params);
		if (rc)
			return rc;
	} else {
		buf_puts(&params, "{}");
	}
	rc = ensure_connected(c);
	if (!rc) {
		rc = conn_call_raw(&c->conn, method, buf_head(&params),
		                   params.len, c->o->timeout_ms, NULL, NULL,
		                   &result, &error, &cause);
		rc = call_outcome(c, rc, error, cause);
	}
	buf_free(&params);
	if (rc)
		return rc;
	/* the result's bytes as svcd sent them: indented, or one line */
	const struct buf *line = &c->conn.line;
	if (!util_json_member(buf_head(line), line->len, result_key, 1, &raw)) {
		char *t =
		    json_dumps(result, JSON_COMPACT | JSON_PRESERVE_ORDER |
		                           JSON_ENCODE_ANY);
		buf_puts(&raw, t ? t : "null");
		free(t);
	}
	if (c->o->json) {
		fwrite(buf_head(&raw), 1, raw.len, c->out);
		fputc('\n', c->out);
	} else {
		put_indented(c->out, buf_head(&raw), raw.len);
	}
	buf_free(&raw);
	json_decref(result);
	return CLI_EXIT_OK;
}

const struct cli_cmd cmd_call_entry = {
    .name = "call",
    .args = "METHOD [PARAMS-JSON]",
    .summary = "call any method with a JSON params object",
    .help = "Send METHOD with PARAMS-JSON (one JSON object, default {}) "
            "and print\nthe result as JSON: indented, or on one line "
            "with --json (the bytes\nsvcd sent). The params are "
            "checked locally and sent as written.\nReaches every "
            "method svcd has, a service's own ones included; an\n"
            "error reply exits 1 as for the other commands.\n\n"
            "Examples:\n"
            "  svcctl call services\n"
            "  svcctl call health '{\"fresh\":true}'\n"
            "  svcctl --json call user.get '{\"id\":42}'\n",
    .min_args = 1,
    .max_args = 2,
    .exec = cmd_call,
};
