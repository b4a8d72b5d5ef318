/*
 * methods.c — the control methods (DESIGN §5): one table, one dispatcher.
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

#include "bridge.h"
#include "bus.h"
#include "control.h"
#include "health.h"
#include "manager.h"
#include "rpc.h"
#include "service.h"
#include "timers.h"
#include "worker.h"

#define PROTOCOL_VERSION 1

struct mres {
	bool pending;
};
static const struct mres res_done = {false};
static const struct mres res_pending = {true};

/* One request being handled. */
struct req {
	struct ctl_client *c;
	struct rpc_req *r;
	struct buf *out;
	bool failed;
};

typedef const struct mres *(*method_fn)(struct req *q);

struct method {
	const char *name;
	method_fn fn;
	enum method_access access;
	bool live; /* changes state: refused with ShuttingDown during shutdown */
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
	if (data)
		text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
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
			return fail(q, RPC_SHUTTING_DOWN, "svcd is shutting down");
		default:
			return fail(q, RPC_INTERNAL, "emit failed: %s",
				    strerror(err));
		}
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
		wj = json_pack("{s:I, s:I, s:I, s:I}", "tasks",
			       (json_int_t)ws.tasks, "running",
			       (json_int_t)ws.running, "runs",
			       (json_int_t)ws.runs, "failures",
			       (json_int_t)ws.failures);
	}
	if (b)
		bj = bus_stats_json(b);
	res = json_pack("{s:s, s:I, s:f, s:s, s:{s:I, s:I, s:I, s:I, s:I}, "
			"s:o, s:o, s:o, s:o}",
			"version", SVCD_VERSION, "pid", (json_int_t)getpid(),
			"uptime_s",
			boot ? (double)(util_now_us() - boot) / 1e6 : 0.0,
			"state",
			manager_shutting_down() ? "stopping" : "running",
			"services", "total", (json_int_t)n, "running",
			(json_int_t)running, "failed", (json_int_t)failed,
			"blocked", (json_int_t)blocked, "degraded",
			(json_int_t)degraded, "bus", bj, "worker", wj,
			"control", control_stats_json(), "bridge",
			bridge_stats_json());
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
			arr,
			json_pack("{s:s, s:o, s:s, s:I, s:o, s:o}", "name",
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
m_tasks(struct req *q)
{
	struct worker *w = worker_default();

	if (!w)
		return fail(q, RPC_UNAVAILABLE, "the worker is not running");
	return ok(q, worker_list_json(w));
}

static const struct mres *
m_schedule(struct req *q)
{
	json_t *every = param(q, "every"), *after = param(q, "after");
	json_t *data = param(q, "data");
	const char *name = json_string_value(param(q, "name"));
	struct worker *w = worker_default();
	struct bus *b = bus_default();
	struct worker_task *t;
	char *msg = NULL, *text = NULL;
	double secs;

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
	if (data)
		text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
	t = timer_schedule_emit(w, b, name, every != NULL, secs,
				json_string_value(param(q, "event")), text,
				"control", &msg);
	free(text);
	if (!t) {
		fail(q, RPC_INVALID_PARAMS, "%s",
		     msg ? msg : "cannot schedule the task");
		free(msg);
		return &res_done;
	}
	return ok(q, worker_task_json(t));
}

static const struct mres *
m_cancel(struct req *q)
{
	struct worker *w = worker_default();

	if (!w)
		return fail(q, RPC_UNAVAILABLE, "the worker is not running");
	return ok(q, json_pack("{s:b}", "cancelled",
			       worker_cancel(w, json_string_value(
							param(q, "name")))));
}

/* Patterns from the optional "events" array; NULL/0 for every event. */
static int
patterns(struct req *q, const char ***out, size_t *n)
{
	json_t *arr = param(q, "events"), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!arr || json_array_size(arr) == 0)
		return 0;
	json_array_foreach (arr, i, v) {
		if (!bus_pattern_valid(json_string_value(v))) {
			fail(q, RPC_INVALID_PARAMS,
			     "invalid pattern '%.128s': use an event name, "
			     "'prefix.*' or '*'", json_string_value(v));
			return -1;
		}
	}
	*n = json_array_size(arr);
	*out = xcalloc(*n, sizeof(**out));
	json_array_foreach (arr, i, v)
		(*out)[i] = json_string_value(v);
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

static void
collect_event(const struct bus_event *ev, void *arg)
{
	json_array_append_new(arg, bus_event_json(ev));
}

static const struct mres *
m_events(struct req *q)
{
	struct bus *b = bus_default();
	json_t *last = param(q, "last"), *since = param(q, "since");
	const char **pats;
	size_t n;
	json_t *arr;

	if (!b)
		return fail(q, RPC_UNAVAILABLE, "the event bus is not running");
	if (patterns(q, &pats, &n) < 0)
		return &res_done;
	arr = json_array();
	bus_history(b, since ? (uint64_t)json_integer_value(since) : 0,
		    last ? (size_t)json_integer_value(last) : 0, pats, n,
		    collect_event, arr);
	free(pats);
	return ok(q, json_pack("{s:o}", "events", arr));
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
		 "pid=%ld", ctl_client_uid(q->c), ctl_client_pid(q->c));
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
	{"name", RPC_P_STRING, true},
	{"every", RPC_P_DURATION, false},
	{"after", RPC_P_DURATION, false},
	{"event", RPC_P_STRING, true},
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
};
static const struct rpc_param p_shutdown[] = {
	{"wait", RPC_P_BOOL, false},
};

#define PARAMS(p) .params = (p), .nparams = ARRAY_SIZE(p)

static const struct method methods[] = {
	{.name = "hello", .fn = m_hello, .access = ACCESS_READ},
	{.name = "ping", .fn = m_ping, .access = ACCESS_READ},
	{.name = "emit", .fn = m_emit, .access = ACCESS_EMIT, .live = true,
	 PARAMS(p_emit)},
	{.name = "health", .fn = m_health, .access = ACCESS_READ,
	 PARAMS(p_health)},
	{.name = "status", .fn = m_status, .access = ACCESS_READ},
	{.name = "services", .fn = m_services, .access = ACCESS_READ},
	{.name = "tasks", .fn = m_tasks, .access = ACCESS_READ},
	{.name = "schedule", .fn = m_schedule, .access = ACCESS_EMIT,
	 .live = true, PARAMS(p_schedule)},
	{.name = "cancel", .fn = m_cancel, .access = ACCESS_EMIT, .live = true,
	 PARAMS(p_cancel)},
	{.name = "subscribe", .fn = m_subscribe, .access = ACCESS_READ,
	 .live = true, PARAMS(p_subscribe)},
	{.name = "unsubscribe", .fn = m_unsubscribe, .access = ACCESS_READ},
	{.name = "events", .fn = m_events, .access = ACCESS_READ,
	 PARAMS(p_events)},
	{.name = "shutdown", .fn = m_shutdown, .access = ACCESS_ADMIN,
	 .live = true, PARAMS(p_shutdown)},
	{.name = "reload", .fn = m_reload, .access = ACCESS_ADMIN,
	 .live = true},
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

enum methods_outcome
methods_dispatch(struct ctl_client *c, const char *line, size_t len,
		 struct buf *out)
{
	struct rpc_req r;
	struct req q = {.c = c, .r = &r, .out = out};
	const struct method *m;
	const struct mres *res;
	enum rpc_err e;
	char *msg = NULL;
	bool answer;

	if (rpc_parse(line, len, &r, &e, &msg, &answer) < 0) {
		if (answer)
			rpc_put_error(out, r.id, e, msg);
		free(msg);
		rpc_req_clear(&r);
		return METHODS_ERROR;
	}
	if (!(m = method_find(r.method))) {
		res = fail(&q, RPC_METHOD_NOT_FOUND, "unknown method '%.64s'",
			   r.method);
	} else if (!ctl_client_allowed(c, m->access)) {
		res = fail(&q, RPC_PERMISSION,
			   "permission denied: '%s' requires %s access",
			   m->name, access_name(m->access));
	} else if (rpc_check_params(r.params, m->params, m->nparams, &msg) <
		   0) {
		res = fail(&q, RPC_INVALID_PARAMS, "%s", msg);
		free(msg);
	} else if (m->live && manager_shutting_down()) {
		res = fail(&q, RPC_SHUTTING_DOWN, "svcd is shutting down");
	} else {
		res = m->fn(&q);
	}
	rpc_req_clear(&r);
	if (res->pending)
		return METHODS_PENDING;
	return q.failed ? METHODS_ERROR : METHODS_OK;
}
