/*
 * methods.c — the control methods (docs/protocol.md): one table, one
 * dispatcher.
 *
 * The dispatcher checks, in order: the envelope (rpc_parse), the method
 * name, the caller's access level, the params against the method's spec
 * (unknown, missing, wrong type) and whether svcd is shutting down. Only
 * then does the handler run, so a rejected request never has a side
 * effect. A handler ends in exactly one of ok(), ok_raw-style writes
 * returning DONE, fail() or pending() (emit backpressure), Core Lightning
 * style: the compiler sees that every path returns a struct mres pointer.
 */
#include "methods.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bridge.h"
#include "bus.h"
#include "conf.h"
#include "control.h"
#include "health.h"
#include "hooks.h"
#include "journal.h"
#include "log.h"
#include "manager.h"
#include "rpc.h"
#include "service.h"
#include "timers.h"
#include "worker.h"

#define PROTOCOL_VERSION 1

struct mres {
	bool pending;
	bool deferred;
};
static const struct mres res_done = {false, false};
static const struct mres res_pending = {true, false};
static const struct mres res_deferred = {false, true};

/* A batch being handled (JSON-RPC 2.0 §6). */
struct batch {
	uint64_t durable_seq; /* [journal] sync = always: reply once durable */
};

/* One request being handled. */
struct req {
	struct ctl_client *c;
	struct rpc_req *r;
	struct buf *out;
	struct batch *batch; /* NULL: a request on its own line */
	bool failed;
	const char *line; /* the request's text (NULL: unknown), for
	                   * params.data as it came in */
	size_t len;
};

typedef const struct mres *(*method_fn)(struct req *q);

struct method {
	const char *name;
	method_fn fn;
	enum method_access access;
	bool
	    live; /* changes state: refused with ShuttingDown during shutdown */
	const struct rpc_param *params;
	size_t nparams;
};

/* Success with a JSON result (steals result). */
static const struct mres *
ok(struct req *q, json_t *result)
{
	if (q->r->id)
		rpc_put_result(q->out, q->r->id, result);
	json_decref(result);
	return &res_done;
}

static const struct mres *fail(struct req *q, enum rpc_err e, const char *fmt,
                               ...) PRINTF_LIKE(3, 4);

static const struct mres *
fail(struct req *q, enum rpc_err e, const char *fmt, ...)
{
	va_list ap;

	q->failed = true;
	if (!q->r->id)
		return &res_done;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	rpc_put_error(q->out, q->r->id, e, msg);
	free(msg);
	return &res_done;
}

/* Nothing written: the dispatcher will be called again with the same line. */
static const struct mres *
pending(struct req *q)
{
	return &res_pending;
}

static json_t *
param(struct req *q, const char *name)
{
	return json_object_get(q->r->params, name);
}

static bool
param_bool(struct req *q, const char *name, bool dflt)
{
	json_t *v = param(q, name);

	return v ? json_is_true(v) : dflt;
}

/* ---- handlers ----------------------------------------------------------- */

static const struct mres *
m_hello(struct req *q)
{
	return ok(q, json_pack("{s:s, s:s, s:i, s:I, s:o}", "name", "svcd",
	                       "version", SVCD_VERSION, "protocol",
	                       PROTOCOL_VERSION, "pid", (json_int_t)getpid(),
	                       "methods", methods_names()));
}

static const struct mres *
m_ping(struct req *q)
{
	return ok(q, json_string("pong"));
}

/*
 * params.data as stored: its bytes as they came in (compacted), so numbers
 * are never rewritten (3.141592653589793, -0, 1.0E+2 stay as written);
 * serialised from the tree only when the text cannot be located (an
 * escaped key on the way). New string, free it.
 */
static char *
data_text(struct req *q, json_t *data)
{
	static const char *const path[] = {"params", "data"};
	struct buf b = {0};

	if (q->line && bus_json_member(q->line, q->len, path, 2, &b)) {
		buf_putc(&b, '\0');
		return b.data; /* off is 0: nothing was consumed */
	}
	buf_free(&b);
	return json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/* The hot path: no jansson tree for the reply, data serialised once. */
static const struct mres *
m_emit(struct req *q)
{
	json_t *ev = param(q, "event");
	json_t *data = param(q, "data");
	struct bus *b = bus_default();
	char *text = NULL;
	uint64_t seq = 0;
	size_t matched = 0;
	int rc, err;

	if (!b)
		return fail(q, RPC_UNAVAILABLE, "the event bus is not running");
	/* a full queue and a client that waits: not a refusal (nothing is
	 * counted as dropped); the same line is dispatched again on room */
	if (!bus_has_room(b) && param_bool(q, "wait", true) &&
	    bus_name_valid(json_string_value(ev), json_string_length(ev)) &&
	    !bus_closing(b))
		return pending(q);
	if (data)
		text = data_text(q, data);
	rc = bus_emit(b, json_string_value(ev), json_string_length(ev), text,
	              text ? strlen(text) : 0, ctl_client_source(q->c), &seq,
	              &matched);
	err = errno;
	free(text);
	if (rc < 0) {
		switch (err) {
		case EINVAL:
			return fail(q, RPC_INVALID_PARAMS,
			            "invalid event name: use 1-128 characters "
			            "of A-Z a-z 0-9 _ . : -");
		case EAGAIN:
			if (param_bool(q, "wait", true))
				return pending(q);
			return fail(q, RPC_QUEUE_FULL,
			            "event queue full, try again later");
		case ESHUTDOWN:
			return fail(q, RPC_SHUTTING_DOWN,
			            "svcd is shutting down");
		default:
			return fail(q, RPC_INTERNAL, "emit failed: %s",
			            strerror(err));
		}
	}
	/* [journal] sync = always: acknowledged once durable, without
	 * blocking the loop (a notification needs no acknowledgement) */
	if (q->r->id && journal_sync_always(journal_default())) {
		/* in a batch the whole reply waits for the last of its
		 * acknowledged emits */
		if (q->batch)
			q->batch->durable_seq = seq;
		else if (ctl_client_defer_emit(q->c, q->r->id, seq, matched) ==
		         0)
			return &res_deferred;
	}
	if (q->r->id) {
		rpc_put_head(q->out, q->r->id);
		buf_printf(q->out, "{\"seq\":%" PRIu64 ",\"listeners\":%zu}",
		           seq, matched);
		rpc_put_tail(q->out);
	}
	return &res_done;
}

static const struct mres *
m_health(struct req *q)
{
	json_t *svc = param(q, "service");
	const char *name = svc ? json_string_value(svc) : NULL;
	json_t *h;

	if (name && !svc_graph_find(ctl_graph(), name))
		return fail(q, RPC_NOT_FOUND, "unknown service '%.128s'", name);
	h = health_json(name, param_bool(q, "fresh", false));
	if (!h)
		return fail(q, RPC_UNAVAILABLE,
		            "the health monitor is not running");
	return ok(q, h);
}

/* Boot time: the earliest successful start in the graph. */
static int64_t
boot_time_us(struct svc_graph *g)
{
	int64_t t = 0;

	for (size_t i = 0; i < svc_graph_count(g); i++) {
		struct svc_info in;

		svc_get_info(svc_graph_at(g, i), &in);
		if (in.started_at_us && (!t || in.started_at_us < t))
			t = in.started_at_us;
	}
	return t;
}

static const struct mres *
m_status(struct req *q)
{
	struct svc_graph *g = ctl_graph();
	size_t n = svc_graph_count(g), running = 0, failed = 0, blocked = 0,
	       degraded = 0;
	struct worker *w = worker_default();
	struct bus *b = bus_default();
	int64_t boot = boot_time_us(g);
	json_t *res, *wj = json_null(), *bj = json_null();

	for (size_t i = 0; i < n; i++) {
		struct svc *s = svc_graph_at(g, i);

		switch (svc_state(s)) {
		case SVC_RUNNING: running++; break;
		case SVC_FAILED: failed++; break;
		case SVC_BLOCKED: blocked++; break;
		default: break;
		}
		if (svc_degraded(s))
			degraded++;
	}
	if (w) {
		struct worker_stats ws;

		worker_get_stats(w, &ws);
		wj = json_pack(
		    "{s:I, s:I, s:I, s:I}", "tasks", (json_int_t)ws.tasks,
		    "running", (json_int_t)ws.running, "runs",
		    (json_int_t)ws.runs, "failures", (json_int_t)ws.failures);
	}
	if (b)
		bj = bus_stats_json(b);
	res = json_pack(
	    "{s:s, s:I, s:f, s:s, s:{s:I, s:I, s:I, s:I, s:I}, "
	    "s:o, s:o, s:o, s:o}",
	    "version", SVCD_VERSION, "pid", (json_int_t)getpid(), "uptime_s",
	    boot ? (double)(util_now_us() - boot) / 1e6 : 0.0, "state",
	    manager_shutting_down() ? "stopping" : "running", "services",
	    "total", (json_int_t)n, "running", (json_int_t)running, "failed",
	    (json_int_t)failed, "blocked", (json_int_t)blocked, "degraded",
	    (json_int_t)degraded, "bus", bj, "worker", wj, "control",
	    control_stats_json(), "bridge", bridge_stats_json());
	json_object_set_new(res, "hooks", hooks_stats_json());
	json_object_set_new(res, "journal",
	                    journal_default()
	                        ? journal_stats_json(journal_default())
	                        : json_null());
	return ok(q, res);
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static const struct mres *
m_services(struct req *q)
{
	struct svc_graph *g = ctl_graph();
	json_t *arr = json_array();

	for (size_t i = 0; i < svc_graph_count(g); i++) {
		struct svc_info in;
		json_t *req = json_array();

		svc_get_info(svc_graph_at(g, i), &in);
		for (const char *const *r = in.requires; *r; r++)
			json_array_append_new(req, json_string(*r));
		json_array_append_new(
		    arr, json_pack("{s:s, s:o, s:s, s:I, s:o, s:o}", "name",
		                   in.name, "requires", req, "state",
		                   svc_state_name(in.state), "order",
		                   (json_int_t)in.order, "init_ms",
		                   in.init_ms >= 0 ? json_real(in.init_ms)
		                                   : json_null(),
		                   "error", str_or_null(in.error)));
	}
	return ok(q, arr);
}

static const struct mres *
m_hooks(struct req *q)
{
	return ok(q, hooks_list_json());
}

static const struct mres *
m_tasks(struct req *q)
{
	struct worker *w = worker_default();

	if (!w)
		return fail(q, RPC_UNAVAILABLE, "the worker is not running");
	return ok(q, worker_list_json(w));
}

/*
 * schedule: a control task. Bounded ([control] max_tasks, max_task_data);
 * a service's task is refused (services/worker.h); each one is logged with
 * the caller.
 */
static const struct mres *
m_schedule(struct req *q)
{
	json_t *every = param(q, "every"), *after = param(q, "after");
	json_t *data = param(q, "data");
	const char *name = json_string_value(param(q, "name"));
	const char *event = json_string_value(param(q, "event"));
	const struct control_conf *cf = control_conf();
	struct worker *w = worker_default();
	struct bus *b = bus_default();
	struct worker_task *t, *old;
	struct worker_task_info info;
	char *msg = NULL, *text = NULL;
	char d[32];
	size_t len;
	double secs;
	bool replaces;
	int err;

	if (!every == !after)
		return fail(q, RPC_INVALID_PARAMS,
		            "exactly one of 'every' and 'after' is required");
	if (!*name || strlen(name) > 128)
		return fail(q, RPC_INVALID_PARAMS,
		            "parameter 'name' must be 1-128 characters");
	if (rpc_duration(every ? every : after, every ? "every" : "after",
	                 &secs, &msg) < 0) {
		fail(q, RPC_INVALID_PARAMS, "%s", msg);
		free(msg);
		return &res_done;
	}
	if (!w || !b)
		return fail(q, RPC_UNAVAILABLE,
		            "the worker or the event bus is not running");
	if (!worker_may_touch(w, name, WORKER_OWNER_CONTROL, &msg)) {
		log_info("schedule '%.128s' by uid=%lu pid=%ld refused: %s",
		         name, ctl_client_uid(q->c), ctl_client_pid(q->c), msg);
		fail(q, RPC_PERMISSION,
		     "%s; the control channel may not replace it", msg);
		free(msg);
		return &res_done;
	}
	/* a control task replaced by name does not count twice */
	replaces = false;
	if ((old = worker_find(w, name))) {
		worker_task_get_info(old, &info);
		replaces = info.owner == WORKER_OWNER_CONTROL;
	}
	if (!replaces &&
	    worker_count_owner(w, WORKER_OWNER_CONTROL) >= cf->max_tasks)
		return fail(q, RPC_BUSY,
		            "too many scheduled tasks (%zu, [control] "
		            "max_tasks); cancel one first",
		            cf->max_tasks);
	if (data) {
		text = data_text(q, data);
		len = text ? strlen(text) : 0;
		if (len > cf->max_task_data) {
			free(text);
			return fail(
			    q, RPC_TOO_LARGE,
			    "task data is %zu bytes, more than [control] "
			    "max_task_data (%" PRIu64 ")",
			    len, cf->max_task_data);
		}
	}
	t = timer_schedule_emit(w, b, name, every != NULL, secs, event, text,
	                        WORKER_OWNER_CONTROL, "control", &msg);
	err = errno;
	free(text);
	if (!t) {
		fail(q, err == EPERM ? RPC_PERMISSION : RPC_INVALID_PARAMS,
		     "%s", msg ? msg : "cannot schedule the task");
		free(msg);
		return &res_done;
	}
	util_format_duration(secs, d, sizeof(d));
	log_info("task '%.128s' scheduled by uid=%lu pid=%ld: emit %s %s %s",
	         name, ctl_client_uid(q->c), ctl_client_pid(q->c), event,
	         every ? "every" : "after", d);
	return ok(q, worker_task_json(t));
}

static const struct mres *
m_cancel(struct req *q)
{
	const char *name = json_string_value(param(q, "name"));
	struct worker *w = worker_default();
	char *msg = NULL;
	bool found;

	if (!w)
		return fail(q, RPC_UNAVAILABLE, "the worker is not running");
	if (!worker_may_touch(w, name, WORKER_OWNER_CONTROL, &msg)) {
		log_info("cancel '%.128s' by uid=%lu pid=%ld refused: %s", name,
		         ctl_client_uid(q->c), ctl_client_pid(q->c), msg);
		fail(q, RPC_PERMISSION,
		     "%s; the control channel may not cancel it", msg);
		free(msg);
		return &res_done;
	}
	found = worker_cancel(w, name);
	log_info("cancel '%.128s' by uid=%lu pid=%ld: %s", name,
	         ctl_client_uid(q->c), ctl_client_pid(q->c),
	         found ? "cancelled" : "no such task");
	return ok(q, json_pack("{s:b}", "cancelled", found));
}

/* Patterns from the optional "events" array; NULL/0 for every event. */
static int
patterns(struct req *q, const char ***out, size_t *n)
{
	json_t *arr = param(q, "events"), *v;
	size_t i, bytes = 0;

	*out = NULL;
	*n = 0;
	if (!arr || json_array_size(arr) == 0)
		return 0;
	if (json_array_size(arr) > BUS_PATTERNS_MAX) {
		fail(q, RPC_INVALID_PARAMS,
		     "too many patterns in 'events': %zu, at most %d",
		     json_array_size(arr), BUS_PATTERNS_MAX);
		return -1;
	}
	json_array_foreach(arr, i, v)
	{
		bytes += json_string_length(v);
		if (bytes > BUS_PATTERNS_BYTES) {
			fail(q, RPC_INVALID_PARAMS,
			     "patterns in 'events' too long: over %d bytes "
			     "in all",
			     BUS_PATTERNS_BYTES);
			return -1;
		}
		if (!bus_pattern_valid(json_string_value(v))) {
			fail(q, RPC_INVALID_PARAMS,
			     "invalid pattern '%.128s': use an event name, "
			     "'prefix.*' or '*'",
			     json_string_value(v));
			return -1;
		}
	}
	*n = json_array_size(arr);
	*out = xcalloc(*n, sizeof(**out));
	json_array_foreach(arr, i, v)(*out)[i] = json_string_value(v);
	return 0;
}

static const struct mres *
m_subscribe(struct req *q)
{
	struct bus *b = bus_default();
	json_t *since = param(q, "since");
	const char **pats;
	size_t n;
	uint64_t upto;

	if (!b)
		return fail(q, RPC_UNAVAILABLE, "the event bus is not running");
	if (patterns(q, &pats, &n) < 0)
		return &res_done;
	upto = bus_last_dispatched(b);
	/* The reply goes first, then the replayed history, then live. */
	json_t *res = json_pack("{s:I}", "seq", (json_int_t)upto);
	const struct mres *r = ok(q, res);
	ctl_client_subscribe(q->c, pats, n, since != NULL,
	                     since ? (uint64_t)json_integer_value(since) : 0,
	                     upto);
	free(pats);
	return r;
}

static const struct mres *
m_unsubscribe(struct req *q)
{
	return ok(q, json_pack("{s:b}", "unsubscribed",
	                       ctl_client_unsubscribe(q->c)));
}

/*
 * `events` is paged so that a reply is bounded whatever the history holds:
 * at most `limit` events (default EVENTS_LIMIT, at most EVENTS_LIMIT_MAX),
 * no more once the reply passes EVENTS_REPLY_MAX bytes (but at least one
 * event), and at most EVENTS_SCAN journal rows read per call. "next" is the
 * seq to pass as since for the next page, null when there is no more.
 */
#define EVENTS_LIMIT     1000
#define EVENTS_LIMIT_MAX 10000
#define EVENTS_REPLY_MAX (4u << 20)
#define EVENTS_SCAN      50000

struct page {
	struct buf *out;
	size_t start; /* where the reply begins in out */
	size_t n, limit;
	uint64_t last; /* seq of the last event written */
	bool full, more;
};

/* Write ev into the page; false (ev not taken) once the page is full. */
static bool
collect_event(const struct bus_event *ev, void *arg)
{
	struct page *pg = arg;

	if (pg->full) {
		pg->more = true;
		return false;
	}
	if (pg->n)
		buf_putc(pg->out, ',');
	bus_event_put(pg->out, ev);
	pg->n++;
	pg->last = ev->seq;
	if (pg->n >= pg->limit || pg->out->len - pg->start >= EVENTS_REPLY_MAX)
		pg->full = true;
	return true;
}

static void
collect_bus_event(const struct bus_event *ev, void *arg)
{
	collect_event(ev, arg);
}

/* The reply is written as text: event data goes out as it was stored. */
static const struct mres *
m_events(struct req *q)
{
	struct bus *b = bus_default();
	json_t *jlast = param(q, "last"), *jsince = param(q, "since");
	json_t *jlimit = param(q, "limit");
	uint64_t since = jsince ? (uint64_t)json_integer_value(jsince) : 0;
	size_t last = jlast ? (size_t)json_integer_value(jlast) : 0;
	size_t limit = EVENTS_LIMIT;
	uint64_t resume = 0, next;
	const char **pats;
	struct buf body = {0};
	struct page pg = {.out = &body};
	size_t n;

	if (!b)
		return fail(q, RPC_UNAVAILABLE, "the event bus is not running");
	if (jlimit) {
		json_int_t l = json_integer_value(jlimit);

		if (l < 1 || l > EVENTS_LIMIT_MAX)
			return fail(q, RPC_INVALID_PARAMS,
			            "parameter 'limit' must be 1-%d",
			            EVENTS_LIMIT_MAX);
		limit = (size_t)l;
	}
	if (patterns(q, &pats, &n) < 0)
		return &res_done;
	pg.limit = last && last < limit ? last : limit;
	if (journal_default()) {
		char *cause = NULL;

		if (journal_history(journal_default(), since, last, EVENTS_SCAN,
		                    pats, n, collect_event, &pg, &resume,
		                    &cause) < 0) {
			free(pats);
			buf_free(&body);
			fail(q, RPC_INTERNAL, "%s", cause);
			free(cause);
			return &res_done;
		}
	} else {
		bus_history(b, since, last, pats, n, collect_bus_event, &pg);
	}
	free(pats);
	next = pg.more ? pg.last : resume;
	if (q->r->id) {
		rpc_put_head(q->out, q->r->id);
		buf_append(q->out, "{\"events\":[", 11);
		if (body.len) /* an empty page has no buffer at all */
			buf_append(q->out, buf_head(&body), body.len);
		if (next)
			buf_printf(q->out, "],\"next\":%" PRIu64 "}", next);
		else
			buf_puts(q->out, "],\"next\":null}");
		rpc_put_tail(q->out);
	}
	buf_free(&body);
	return &res_done;
}

static const struct mres *
m_shutdown(struct req *q)
{
	const struct mres *r = ok(q, json_pack("{s:b}", "accepted", 1));
	char why[128];

	if (param_bool(q, "wait", false))
		ctl_client_wait_shutdown(q->c);
	snprintf(why, sizeof(why),
	         "shutdown requested over the control socket by uid=%lu "
	         "pid=%ld",
	         ctl_client_uid(q->c), ctl_client_pid(q->c));
	manager_shutdown(why);
	return r;
}

static const struct mres *
m_reload(struct req *q)
{
	char *cause = NULL;

	if (manager_reload(&cause) < 0) {
		fail(q, RPC_INVALID_CONFIG, "%s",
		     cause ? cause : "the configuration was rejected");
		free(cause);
		return &res_done;
	}
	return ok(q, json_pack("{s:b}", "reloaded", 1));
}

/* ---- the table ---------------------------------------------------------- */

static const struct rpc_param p_emit[] = {
    {"event", RPC_P_STRING, true},
    {"data", RPC_P_OBJECT, false},
    {"wait", RPC_P_BOOL, false},
};
static const struct rpc_param p_health[] = {
    {"service", RPC_P_STRING, false},
    {"fresh", RPC_P_BOOL, false},
};
static const struct rpc_param p_schedule[] = {
    {"name", RPC_P_STRING, true},     {"every", RPC_P_DURATION, false},
    {"after", RPC_P_DURATION, false}, {"event", RPC_P_STRING, true},
    {"data", RPC_P_OBJECT, false},
};
static const struct rpc_param p_cancel[] = {
    {"name", RPC_P_STRING, true},
};
static const struct rpc_param p_subscribe[] = {
    {"events", RPC_P_STRINGS, false},
    {"since", RPC_P_UINT, false},
};
static const struct rpc_param p_events[] = {
    {"last", RPC_P_UINT, false},
    {"since", RPC_P_UINT, false},
    {"events", RPC_P_STRINGS, false},
    {"limit", RPC_P_UINT, false},
};
static const struct rpc_param p_shutdown[] = {
    {"wait", RPC_P_BOOL, false},
};

#define PARAMS(p) .params = (p), .nparams = ARRAY_SIZE(p)

static const struct method methods[] = {
    {.name = "hello", .fn = m_hello, .access = ACCESS_READ},
    {.name = "ping", .fn = m_ping, .access = ACCESS_READ},
    {.name = "emit",
     .fn = m_emit,
     .access = ACCESS_EMIT,
     .live = true,
     PARAMS(p_emit)},
    {.name = "health", .fn = m_health, .access = ACCESS_READ, PARAMS(p_health)},
    {.name = "status", .fn = m_status, .access = ACCESS_READ},
    {.name = "services", .fn = m_services, .access = ACCESS_READ},
    {.name = "tasks", .fn = m_tasks, .access = ACCESS_READ},
    {.name = "hooks", .fn = m_hooks, .access = ACCESS_READ},
    {.name = "schedule",
     .fn = m_schedule,
     .access = ACCESS_EMIT,
     .live = true,
     PARAMS(p_schedule)},
    {.name = "cancel",
     .fn = m_cancel,
     .access = ACCESS_EMIT,
     .live = true,
     PARAMS(p_cancel)},
    {.name = "subscribe",
     .fn = m_subscribe,
     .access = ACCESS_READ,
     .live = true,
     PARAMS(p_subscribe)},
    {.name = "unsubscribe", .fn = m_unsubscribe, .access = ACCESS_READ},
    {.name = "events", .fn = m_events, .access = ACCESS_READ, PARAMS(p_events)},
    {.name = "shutdown",
     .fn = m_shutdown,
     .access = ACCESS_ADMIN,
     .live = true,
     PARAMS(p_shutdown)},
    {.name = "reload", .fn = m_reload, .access = ACCESS_ADMIN, .live = true},
};

json_t *
methods_names(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		json_array_append_new(a, json_string(methods[i].name));
	return a;
}

static const struct method *
method_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

static const char *
access_name(enum method_access a)
{
	return a == ACCESS_ADMIN ? "admin" : a == ACCESS_EMIT ? "emit" : "read";
}

/* ---- the fast path ------------------------------------------------------ */

/*
 * The two requests that carry the load, ping and emit, in their plain
 * shape, are recognised by a strict validating scanner instead of a jansson
 * tree: the id is echoed as its raw bytes and params.data is kept as the
 * validated bytes it arrived in (compacted only if it holds whitespace).
 * The scanner accepts only input on which jansson would agree byte for
 * byte: UTF-8 checked, no duplicate keys at any depth, integers only (no
 * reals, no -0, at most 18 digits), string escapes only in their canonical
 * form (\" \\ \b \f \n \r \t), bounded depth. Anything else — every error,
 * every unusual shape, access refused, shutdown, "wait":false on a full
 * queue — falls back to the general path, so error replies are exactly the
 * same. A full queue with wait (the default) parks the client here, as the
 * general path would, without parsing the line into a tree on every retry.
 * The fastscan fuzz target checks the scanner against jansson.
 */

#define FAST_DEPTH 32
#define FAST_KEYS  16

struct member {
	const char *k, *v;
	size_t kl, vl;
	bool ws; /* the value holds whitespace outside strings */
};

struct scan {
	const char *p, *end;
	struct member mem[FAST_KEYS]; /* the members of params (depth 1) */
	size_t nmem;
	size_t ws; /* whitespace runs skipped so far */
};

/*
 * Eight string bytes at a time (SWAR): a mask with the high bit set in
 * every byte that does not stand for itself inside a JSON string: below
 * 0x20, '"', '\\', or 0x80 and up (UTF-8, checked on its own). Exact per
 * byte (no carry crosses a byte), so its lowest set bit is the first such
 * byte.
 */
#define SW_ONES  0x0101010101010101ULL
#define SW_HIGHS 0x8080808080808080ULL
#define SW_LOWS  0x7f7f7f7f7f7f7f7fULL

static inline uint64_t
sw_zero_bytes(uint64_t v)
{
	return ~(((v & SW_LOWS) + SW_LOWS) | v) & SW_HIGHS;
}

static inline uint64_t
sw_special(uint64_t x)
{
	uint64_t ctl = ~(((x & SW_LOWS) + SW_ONES * 0x60) | x) & SW_HIGHS;

	return ctl | sw_zero_bytes(x ^ (SW_ONES * '"')) |
	       sw_zero_bytes(x ^ (SW_ONES * '\\')) | (x & SW_HIGHS);
}

static inline bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline void
skip_ws(struct scan *s)
{
	/* most calls find a structural byte: one compare says so */
	if (s->p < s->end && (unsigned char)*s->p <= ' ' && is_ws(*s->p)) {
		s->ws++;
		do
			s->p++;
		while (s->p < s->end && is_ws(*s->p));
	}
}

/* The next byte that is not whitespace (whitespace skipped and noted), or
 * -1 at the end: one compare when, as usual, there is none. */
static inline int
peek(struct scan *s)
{
	/* no bounds check: s->p <= s->end always, and *s->end is the
	 * whitespace sentinel (see methods_dispatch), which falls through */
	if ((unsigned char)*s->p > ' ')
		return (unsigned char)*s->p;
	skip_ws(s);
	return s->p < s->end ? (unsigned char)*s->p : -1;
}

/* A UTF-8 sequence starting at p (lead >= 0x80): its length, 0 if bad. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n;
	unsigned min, cp;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A string at s->p (on the quote); on success s->p is past the closing
 * quote and *escaped tells whether it held an escape. Escapes allowed only
 * if esc_ok (data values and keys may hold canonical ones).
 */
static inline __attribute__((always_inline)) bool
scan_string(struct scan *s, bool esc_ok, bool *escaped)
{
	const unsigned char *p = (const unsigned char *)s->p + 1;
	const unsigned char *end = (const unsigned char *)s->end;

	*escaped = false;
	for (;;) {
		/* plain bytes: 16 at a time (SSE2: a signed "< 0x20" catches
		 * both control bytes and 0x80 and up), else 8 (SWAR), then
		 * one at a time */
#if defined(__SSE2__)
		while (end - p >= 16) {
			__m128i x =
			    _mm_loadu_si128((const __m128i *)(const void *)p);
			__m128i m = _mm_or_si128(
			    _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
			    _mm_or_si128(
			        _mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
			        _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
			unsigned bits = (unsigned)_mm_movemask_epi8(m);

			if (bits) {
				p += __builtin_ctz(bits);
				goto special;
			}
			p += 16;
		}
#endif
		while (end - p >= 8) {
			uint64_t x, m;

			memcpy(&x, p, 8);
			if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
				x = __builtin_bswap64(x);
			if ((m = sw_special(x))) {
				p += __builtin_ctzll(m) / 8;
				goto special;
			}
			p += 8;
		}
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' &&
		       *p != '\\')
			p++;
		if (p == end)
			return false;
	special:;
		unsigned c = *p;

		if (c == '"') {
			s->p = (const char *)p + 1;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (!esc_ok || p + 1 >= end)
				return false;
			switch (p[1]) {
			case '"':
			case '\\':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't': break;
			default: return false; /* \/ and \u: not canonical */
			}
			*escaped = true;
			p += 2;
			continue;
		}
		size_t n = utf8_len(p, end);
		if (!n)
			return false;
		p += n;
	}
}

/* An integer as jansson dumps it: -?(0|[1-9][0-9]*), <= 18 digits, no -0. */
static bool
scan_int(struct scan *s)
{
	const char *p = s->p, *d;

	if (p < s->end && *p == '-')
		p++;
	d = p;
	while (p < s->end && *p >= '0' && *p <= '9')
		p++;
	if (p == d || p - d > 18 || (*d == '0' && p - d > 1))
		return false;
	if (*d == '0' && d != s->p) /* -0 */
		return false;
	if (p < s->end && (*p == '.' || *p == 'e' || *p == 'E'))
		return false;
	s->p = p;
	return true;
}

static bool
scan_lit(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool scan_value(struct scan *s, int depth);

static bool
scan_object(struct scan *s, int depth)
{
	const char *kp[FAST_KEYS];
	size_t kl[FAST_KEYS], nk = 0;
	uint64_t keys = 0; /* a one-word Bloom filter of the keys so far */
	bool esc;
	int c;

	if (depth > FAST_DEPTH)
		return false;
	if (depth == 1)
		s->nmem = 0;
	s->p++;
	if (peek(s) == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		if (peek(s) != '"')
			return false;
		const char *k = s->p + 1;
		if (!scan_string(s, false, &esc) || nk == FAST_KEYS)
			return false;
		size_t len = (size_t)(s->p - 1 - k);
		/* k[0] is the closing quote of an empty key: still readable */
		uint64_t bit = 1ULL << (((unsigned char)k[0] * 7u + len) & 63);
		if (keys & bit)
			for (size_t i = 0; i < nk; i++)
				if (kl[i] == len && memcmp(kp[i], k, len) == 0)
					return false; /* duplicate: jansson's */
		keys |= bit;
		kp[nk] = k;
		kl[nk++] = len;
		if (peek(s) != ':')
			return false;
		s->p++;
		peek(s);
		const char *v = s->p;
		size_t ws = s->ws;
		if (!scan_value(s, depth + 1))
			return false;
		if (depth == 1)
			s->mem[s->nmem++] = (struct member){
			    k, v, len, (size_t)(s->p - v), s->ws != ws};
		c = peek(s);
		if (c == ',') {
			s->p++;
			continue;
		}
		if (c == '}') {
			s->p++;
			return true;
		}
		return false;
	}
}

static bool
scan_array(struct scan *s, int depth)
{
	int c;

	if (depth > FAST_DEPTH)
		return false;
	s->p++;
	if (peek(s) == ']') {
		s->p++;
		return true;
	}
	for (;;) {
		peek(s);
		if (!scan_value(s, depth + 1))
			return false;
		c = peek(s);
		if (c == ',') {
			s->p++;
			continue;
		}
		if (c == ']') {
			s->p++;
			return true;
		}
		return false;
	}
}

static bool
scan_value(struct scan *s, int depth)
{
	bool esc;

	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{': return scan_object(s, depth);
	case '[': return scan_array(s, depth);
	case '"': return scan_string(s, true, &esc);
	case 't': return scan_lit(s, "true", 4);
	case 'f': return scan_lit(s, "false", 5);
	case 'n': return scan_lit(s, "null", 4);
	default: return scan_int(s);
	}
}

#define KEY_IS(k, kl, lit)                                                     \
	((kl) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

struct fast_req {
	const char *id; /* raw bytes, NULL: none (a notification) */
	size_t id_len;
	const char *method;
	size_t method_len;
	const char *params; /* raw object, NULL: absent */
	size_t params_len;
};

/* The envelope: only "jsonrpc":"2.0", "id", "method", "params", once each. */
static bool
fast_envelope(const char *line, size_t len, struct fast_req *f, struct scan *s)
{
	bool seen[4] = {false}, esc;
	int c;

	/* not the whole struct: mem[] is written as members are found */
	s->p = line;
	s->end = line + len;
	s->nmem = 0;
	s->ws = 0;

	memset(f, 0, sizeof(*f));
	if (peek(s) != '{')
		return false;
	s->p++;
	for (;;) {
		if (peek(s) != '"')
			return false;
		const char *k = s->p + 1;
		if (!scan_string(s, false, &esc))
			return false;
		size_t kl = (size_t)(s->p - 1 - k);
		if (peek(s) != ':')
			return false;
		s->p++;
		peek(s);
		const char *v = s->p;
		int which;
		if (KEY_IS(k, kl, "jsonrpc")) {
			which = 0;
			if (!scan_lit(s, "\"2.0\"", 5))
				return false;
		} else if (KEY_IS(k, kl, "id")) {
			which = 1;
			if (s->p < s->end && *s->p == '"') {
				if (!scan_string(s, false, &esc))
					return false;
			} else if (!scan_lit(s, "null", 4) && !scan_int(s)) {
				return false;
			}
			f->id = v;
			f->id_len = (size_t)(s->p - v);
		} else if (KEY_IS(k, kl, "method")) {
			which = 2;
			if (s->p >= s->end || *s->p != '"' ||
			    !scan_string(s, false, &esc))
				return false;
			f->method = v + 1;
			f->method_len = (size_t)(s->p - v - 2);
		} else if (KEY_IS(k, kl, "params")) {
			which = 3;
			if (s->p >= s->end || *s->p != '{' ||
			    !scan_object(s, 1))
				return false;
			f->params = v;
			f->params_len = (size_t)(s->p - v);
		} else {
			return false;
		}
		if (seen[which])
			return false;
		seen[which] = true;
		c = peek(s);
		if (c == ',') {
			s->p++;
			continue;
		}
		if (c != '}')
			return false;
		s->p++;
		return peek(s) < 0 && seen[0] && seen[2];
	}
}

/* An object text (validated) with no member? */
static bool
obj_empty(const char *p, size_t n)
{
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_ws(p[i]))
			return false;
	return true;
}

/* Decimal digits of v at w (room for 20); returns the end. */
static char *
put_u64_at(char *w, uint64_t v)
{
	char t[20], *d = util_u64_digits(t + sizeof(t), v);
	size_t n = (size_t)(t + sizeof(t) - d);

	memcpy(w, d, n);
	return w + n;
}

#define PUT_LIT(w, lit)                                                        \
	(memcpy((w), (lit), sizeof(lit) - 1), (w) += sizeof(lit) - 1)

/* A reply up to its result, with room for `more` bytes after: one reserve
 * per reply, then plain stores (reply_end sets the length). */
static char *
reply_head(struct buf *out, const struct fast_req *f, size_t more)
{
	char *w;

	buf_reserve(out, 32 + f->id_len + more);
	w = buf_tail(out);
	PUT_LIT(w, "{\"jsonrpc\":\"2.0\",\"id\":");
	memcpy(w, f->id, f->id_len);
	w += f->id_len;
	PUT_LIT(w, ",\"result\":");
	return w;
}

static void
reply_end(struct buf *out, const char *w)
{
	out->len = (size_t)(w - buf_head(out));
}

/* The params of an emit, from the members the envelope recorded. */
static bool
fast_emit_params(const struct scan *s, const char **ev, size_t *ev_len,
                 const char **data, size_t *data_len, bool *ws, bool *wait)
{
	*ev = *data = NULL;
	*wait = true;
	for (size_t i = 0; i < s->nmem; i++) {
		const struct member *m = &s->mem[i];

		if (KEY_IS(m->k, m->kl, "event")) {
			if (m->v[0] != '"' ||
			    memchr(m->v, '\\', m->vl)) /* escapes: slow path */
				return false;
			*ev = m->v + 1;
			*ev_len = m->vl - 2;
		} else if (KEY_IS(m->k, m->kl, "data")) {
			if (m->v[0] != '{')
				return false;
			*data = m->v;
			*data_len = m->vl;
			*ws = m->ws;
		} else if (KEY_IS(m->k, m->kl, "wait")) {
			/* only a full queue reads it */
			if (m->vl == 5 && memcmp(m->v, "false", 5) == 0)
				*wait = false;
			else if (!(m->vl == 4 && memcmp(m->v, "true", 4) == 0))
				return false;
		} else {
			return false;
		}
	}
	return *ev != NULL;
}

/* -1: not for the fast path; else the outcome, reply written. */
static int
fast_dispatch(struct ctl_client *c, const char *line, size_t len,
              struct buf *out)
{
	struct fast_req f;
	struct scan s;

	if (!fast_envelope(line, len, &f, &s))
		return -1;
	if (f.method_len == 4 && memcmp(f.method, "ping", 4) == 0) {
		if (f.params && !obj_empty(f.params, f.params_len))
			return -1; /* ping takes no params: the error path */
		if (f.id) {
			char *w = reply_head(out, &f, 8);

			PUT_LIT(w, "\"pong\"}\n");
			reply_end(out, w);
		}
		return METHODS_OK;
	}
	if (f.method_len != 4 || memcmp(f.method, "emit", 4) != 0 || !f.params)
		return -1;

	const char *ev, *data;
	size_t ev_len = 0, data_len = 0;
	struct bus *b = bus_default();

	bool ws = false, wait;

	/* (bus_emit checks the name: a bad one is refused there, and the
	 * general path answers) */
	if (!fast_emit_params(&s, &ev, &ev_len, &data, &data_len, &ws, &wait) ||
	    !b || bus_closing(b) || manager_shutting_down() ||
	    !ctl_client_allowed(c, ACCESS_EMIT))
		return -1;
	/* A full queue: wait for room as the general path would, without
	 * parsing the line into a tree on every retry (under sustained load
	 * that is most retries); "wait":false gets its QueueFull there. */
	if (!bus_has_room(b))
		return wait && bus_name_valid(ev, ev_len) ? METHODS_PENDING
		                                          : -1;
	if (journal_sync_always(journal_default()))
		return -1;

	struct buf tmp = {0};
	uint64_t seq = 0;
	size_t matched = 0;
	int rc;

	if (data && ws) {
		util_json_compact(&tmp, data, data_len);
		data = buf_head(&tmp);
		data_len = tmp.len;
	}
	rc = bus_emit(b, ev, ev_len, data, data_len, ctl_client_source(c), &seq,
	              &matched);
	buf_free(&tmp);
	/* Refused after the checks above (an accept hook): the general path
	 * emits again and answers with the error. */
	if (rc < 0)
		return -1;
	if (f.id) {
		char *w = reply_head(out, &f, 64);

		PUT_LIT(w, "{\"seq\":");
		w = put_u64_at(w, seq);
		PUT_LIT(w, ",\"listeners\":");
		w = put_u64_at(w, matched);
		PUT_LIT(w, "}}\n");
		reply_end(out, w);
	}
	return METHODS_OK;
}

static bool fast_scan_value(const char *p, size_t n, struct buf *out);

bool
methods_fast_scan_value(const char *text, size_t n, struct buf *out)
{
	/* a copy with the sentinel the scanner relies on */
	char *p = xmalloc(n + 1);
	bool ok;

	memcpy(p, text, n);
	p[n] = '\n';
	ok = fast_scan_value(p, n, out);
	free(p);
	return ok;
}

static bool
fast_scan_value(const char *p, size_t n, struct buf *out)
{
	struct scan s = {.p = p, .end = p + n};

	skip_ws(&s);
	const char *v = s.p;
	size_t ws = s.ws;
	if (!scan_value(&s, 2)) /* params.data sits at depth 2 */
		return false;
	const char *e = s.p;
	bool inner_ws = s.ws != ws;
	skip_ws(&s);
	if (s.p != s.end)
		return false;
	if (inner_ws)
		util_json_compact(out, v, (size_t)(e - v));
	else
		buf_append(out, v, (size_t)(e - v));
	return true;
}

static bool fast_path = true;

void
methods_set_fast_path(bool on)
{
	fast_path = on;
}

/*
 * Methods whose output does not fit in one batch reply line: subscribe
 * (replayed history and live events follow its reply) and shutdown with
 * wait (progress notifications follow it).
 */
static bool
batch_refused(const struct method *m, json_t *params)
{
	return m->fn == m_subscribe ||
	       (m->fn == m_shutdown &&
	        json_is_true(json_object_get(params, "wait")));
}

/* The checks in order, then the handler (docs/protocol.md: a rejected request
 * has no side effect). */
static const struct mres *
dispatch_req(struct req *q)
{
	struct rpc_req *r = q->r;
	const struct method *m;
	const struct mres *res;
	char *msg = NULL;

	if (!(m = method_find(r->method)))
		return fail(q, RPC_METHOD_NOT_FOUND, "unknown method '%.64s'",
		            r->method);
	if (q->batch && batch_refused(m, r->params))
		return fail(q, RPC_INVALID_REQUEST,
		            "'%s'%s cannot be part of a batch: send it on a "
		            "line of its own",
		            m->name, m->fn == m_shutdown ? " with wait" : "");
	if (!ctl_client_allowed(q->c, m->access))
		return fail(q, RPC_PERMISSION,
		            "permission denied: '%s' requires %s access",
		            m->name, access_name(m->access));
	if (rpc_check_params(r->params, m->params, m->nparams, &msg) < 0) {
		res = fail(q, RPC_INVALID_PARAMS, "%s", msg);
		free(msg);
		return res;
	}
	if (m->live && manager_shutting_down())
		return fail(q, RPC_SHUTTING_DOWN, "svcd is shutting down");
	res = m->fn(q);
	/* a batch never parks the client: an emit that would wait for room
	 * (nothing was emitted) fails as "wait": false does */
	if (res->pending && q->batch)
		return fail(q, RPC_QUEUE_FULL,
		            "event queue full, try again later (an emit in a "
		            "batch does not wait for room)");
	return res;
}

/*
 * A batch: every element runs in order as if on its own line; the replies
 * (none for notifications) go out as one array on one line, or nothing
 * when there is none. [] and an oversized batch get one error object.
 */
/*
 * The text of each element of a batch line that jansson has accepted, so
 * an emit inside a batch keeps its data's bytes (data_text). Fills at most
 * max spans; returns how many elements the array holds.
 */
struct span {
	const char *p;
	size_t n;
};

static size_t
batch_spans(const char *line, size_t len, struct span *sp, size_t max)
{
	const char *p = memchr(line, '[', len), *end = line + len, *v;
	size_t count = 0;

	if (!p)
		return 0;
	for (p++;; p++) { /* at '[' or ',' */
		while (p < end && is_ws(*p))
			p++;
		if (p >= end || *p == ']' || !(v = util_json_skip(p, end)))
			break;
		if (count < max)
			sp[count] = (struct span){p, (size_t)(v - p)};
		count++;
		for (p = v; p < end && is_ws(*p); p++)
			;
		if (p >= end || *p != ',')
			break;
	}
	return count;
}

static enum methods_outcome
batch_dispatch(struct ctl_client *c, const char *line, size_t len, json_t *arr,
               struct buf *out)
{
	static struct span sp[METHODS_MAX_BATCH];
	struct batch bt = {0};
	struct buf one = {0}, all = {0};
	size_t i, n = json_array_size(arr);
	bool failed = false;
	json_t *el;

	if (n == 0 || n > METHODS_MAX_BATCH) {
		char *msg =
		    n ? xasprintf("batch too large: %zu requests (max %d)", n,
		                  METHODS_MAX_BATCH)
		      : xasprintf("empty batch: a batch holds 1 to %d requests",
		                  METHODS_MAX_BATCH);

		rpc_put_error(out, NULL,
		              n ? RPC_TOO_LARGE : RPC_INVALID_REQUEST, msg);
		free(msg);
		json_decref(arr);
		return METHODS_ERROR;
	}
	if (batch_spans(line, len, sp, METHODS_MAX_BATCH) != n)
		memset(sp, 0, sizeof(sp)); /* unexpected: data re-serialised */
	json_array_foreach(arr, i, el)
	{
		struct rpc_req r;
		struct req q = {.c = c, .r = &r, .out = &one, .batch = &bt};
		enum rpc_err e;
		char *msg = NULL;
		bool answer;

		buf_reset(&one);
		q.line = sp[i].p;
		q.len = sp[i].n;
		if (rpc_envelope(json_incref(el), &r, &e, &msg, &answer) < 0) {
			if (answer)
				rpc_put_error(&one, r.id, e, msg);
			free(msg);
			failed = true;
		} else if (all.len > METHODS_BATCH_REPLY_MAX) {
			/* the reply is big enough: the rest is not run */
			if (r.id)
				rpc_put_error(
				    &one, r.id, RPC_TOO_LARGE,
				    "not run: the batch's reply passed "
				    "4 MiB; send this request again");
			failed = true;
		} else {
			dispatch_req(&q);
			failed |= q.failed;
		}
		rpc_req_clear(&r);
		if (one.len) { /* one line: drop its newline */
			buf_putc(&all, all.len ? ',' : '[');
			buf_append(&all, buf_head(&one), one.len - 1);
		}
	}
	json_decref(arr);
	buf_free(&one);
	if (all.len) {
		buf_append(&all, "]\n", 2);
		if (bt.durable_seq &&
		    ctl_client_defer_text(c, &all, bt.durable_seq) == 0) {
			buf_free(&all);
			return METHODS_DEFERRED;
		}
		buf_append(out, buf_head(&all), all.len);
	}
	buf_free(&all);
	return failed ? METHODS_ERROR : METHODS_OK;
}

enum methods_outcome
methods_dispatch(struct ctl_client *c, const char *line, size_t len,
                 struct buf *out)
{
	struct rpc_req r;
	struct req q = {.c = c, .r = &r, .out = out};
	const struct mres *res;
	enum rpc_err e;
	char *msg = NULL;
	json_t *root;
	bool answer;
	int fast = fast_path ? fast_dispatch(c, line, len, out) : -1;

	if (fast >= 0)
		return (enum methods_outcome)fast;
	if (!(root = rpc_load(line, len, &msg))) {
		rpc_put_error(out, NULL, RPC_PARSE_ERROR, msg);
		free(msg);
		return METHODS_ERROR;
	}
	if (json_is_array(root))
		return batch_dispatch(c, line, len, root, out);
	q.line = line;
	q.len = len;
	if (rpc_envelope(root, &r, &e, &msg, &answer) < 0) {
		if (answer)
			rpc_put_error(out, r.id, e, msg);
		free(msg);
		rpc_req_clear(&r);
		return METHODS_ERROR;
	}
	res = dispatch_req(&q);
	rpc_req_clear(&r);
	if (res->pending)
		return METHODS_PENDING;
	if (res->deferred)
		return METHODS_DEFERRED;
	return q.failed ? METHODS_ERROR : METHODS_OK;
}
