/*
 * health.c — the health monitor (singleton-service's AsyncHealthMonitor): a
 * periodic worker task pings every running service through the framework and
 * emits `service.health` when a service's health changes; health_json() reports
 * the last results (or a fresh round) with the overall status, "unknown"
 * once the last round is older than two intervals. A running service whose
 * ping returned SVC_PING_FAILED (it will not recover by itself) is "failed",
 * as is the whole; one whose ping returned -1 is "degraded". A service pushes a
 * change between rounds (svc_health_changed): it is marked and pinged from a
 * zero timer, so the report never waits for the next round.
 */
#include "services/health.h"

#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/methods.h"
#include "daemon/util.h"
#include "services/worker.h"

#define HEALTH_TASK "health"

/* What the previous round saw, per service (indexed by start order). */
struct seen {
	bool checked;
	bool healthy;
	bool failed; /* the ping said SVC_PING_FAILED */
	bool pushed; /* svc_health_changed: ping it on the next turn */
};

static struct {
	double interval; /* [health] interval in effect */
	struct svc *self;
	bool running;
	struct svc_graph *graph;
	struct ev_loop *loop;
	struct seen *seen;
	size_t n;
	uint64_t rounds;
	int64_t round_at_us; /* monotonic: the last round (or the start) */
	ev_timer push_timer; /* pings the pushed services */
} h;

/* What the monitor requires, NULL while it is not running. */
static struct bus *
health_bus(void)
{
	return h.self ? bus_of(h.self) : NULL;
}

static struct worker *
health_worker(void)
{
	return h.self ? worker_of(h.self) : NULL;
}

const char *
health_status_name(enum health_status st)
{
	switch (st) {
	case HEALTH_OK: return "ok";
	case HEALTH_DEGRADED: return "degraded";
	case HEALTH_FAILED: return "failed";
	case HEALTH_UNKNOWN: return "unknown";
	}
	return "unknown";
}

static void
emit_change(struct svc *s, bool healthy, bool failed)
{
	struct bus *b = health_bus();
	struct svc_info info;
	json_t *data;

	if (!b)
		return;
	svc_get_info(s, &info);
	data = json_pack("{s:s, s:b, s:b, s:o, s:I}", "service", info.name,
	                 "healthy", healthy, "failed", failed, "error",
	                 info.ping_error ? json_string(info.ping_error)
	                                 : json_null(),
	                 "latency_us", (json_int_t)info.ping_latency_us);
	if (bus_emit_json(b, "service.health", data, "health") < 0)
		log_debug("health: service.health for '%s' not emitted",
		          info.name);
	json_decref(data);
}

static void
check_one(size_t i, struct svc *s)
{
	bool healthy, failed;
	char *cause = NULL;

	healthy = svc_ping(s, &cause) == 0;
	failed = !healthy && svc_ping_failed(s);
	if (!healthy)
		log_debug("health: '%s' %s: %s", svc_name(s),
		          failed ? "failed" : "unhealthy",
		          cause ? cause : "ping failed");
	if (i >= h.n) {
		free(cause);
		return;
	}
	struct seen *p = &h.seen[i];
	bool changed = p->checked ? p->healthy != healthy || p->failed != failed
	                          : !healthy;
	p->checked = true;
	p->healthy = healthy;
	p->failed = failed;
	if (changed) {
		if (healthy)
			log_info("health: '%s' is healthy again", svc_name(s));
		else if (failed)
			log_err("health: '%s' failed (it will not recover by "
			        "itself): %s",
			        svc_name(s), cause ? cause : "ping failed");
		else
			log_warn("health: '%s' is unhealthy", svc_name(s));
		emit_change(s, healthy, failed);
	}
	free(cause);
}

void
health_check_now(void)
{
	size_t n;

	if (!h.running)
		return;
	n = svc_graph_count(h.graph);
	for (size_t i = 0; i < n; i++) {
		struct svc *s = svc_graph_at(h.graph, i);

		if (svc_state(s) == SVC_RUNNING)
			check_one(i, s);
	}
	h.rounds++;
	h.round_at_us = util_mono_us();
}

/* The services that pushed a change since the last turn: ping them now. */
static void
push_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	for (size_t i = 0; h.running && i < h.n; i++) {
		struct svc *s = svc_graph_at(h.graph, i);

		if (!h.seen[i].pushed)
			continue;
		h.seen[i].pushed = false;
		if (svc_state(s) == SVC_RUNNING)
			check_one(i, s);
	}
}

/* The graph's health listener: svc_health_changed(s) lands here. */
static void
on_pushed(struct svc *s, void *arg)
{
	struct svc_info info;

	(void)arg;
	if (!h.running)
		return;
	svc_get_info(s, &info);
	if (info.order >= h.n)
		return;
	log_debug("health: '%s' reported a change", info.name);
	h.seen[info.order].pushed = true;
	if (!ev_is_active(&h.push_timer)) {
		ev_timer_set(&h.push_timer, 0, 0);
		ev_timer_start(h.loop, &h.push_timer);
	}
}

/* Two intervals of the running config, in µs: older results are stale. */
static int64_t
stale_after_us(void)
{
	return (int64_t)(2 * h.interval * 1e6);
}

/* No round for two intervals: the rounds stopped. */
static bool
rounds_stale(void)
{
	return util_mono_us() - h.round_at_us > stale_after_us();
}

/* Running, and its last check (round or push) is older than two intervals. */
static bool
check_stale(const struct svc_info *info, int64_t now_us)
{
	return info->state == SVC_RUNNING && info->ping_at_us != 0 &&
	       now_us - info->ping_at_us > stale_after_us();
}

/* Running, checked at least once, and the last ping failed. */
static bool
unhealthy(const struct svc_info *info)
{
	return info->state == SVC_RUNNING && info->ping_at_us != 0 &&
	       !info->ping_ok;
}

/* Running, and the last ping said SVC_PING_FAILED. */
static bool
ping_failed(const struct svc_info *info)
{
	return unhealthy(info) && info->ping_failed;
}

/* Failed, running but failed (its ping said so), or stopped while the
 * graph is not stopping (a shutdown). */
static bool
down(const struct svc_info *info)
{
	return info->state == SVC_FAILED || ping_failed(info) ||
	       (info->state == SVC_STOPPED &&
	        !(h.self && svc_graph_stopping(svc_graph(h.self))));
}

static const char *
blocked_by(const struct svc *s, const struct svc_info *info)
{
	if (info->state == SVC_BLOCKED)
		return info->blocked_by;
	if (info->state == SVC_RUNNING)
		return svc_bad_dependency(s);
	return NULL;
}

/* What the last results say, however old they are. */
static enum health_status
status_known(const struct svc *s)
{
	struct svc_info info;

	svc_get_info(s, &info);
	if (down(&info))
		return HEALTH_FAILED;
	if (info.state == SVC_BLOCKED || unhealthy(&info) ||
	    (info.state == SVC_RUNNING && svc_bad_dependency(s)))
		return HEALTH_DEGRADED;
	return HEALTH_OK;
}

/* One service's own status: unknown when its last check is stale. */
static enum health_status
status_of(const struct svc *s)
{
	enum health_status st = status_known(s);
	struct svc_info info;

	svc_get_info(s, &info);
	if (st != HEALTH_FAILED && check_stale(&info, util_now_us()))
		return HEALTH_UNKNOWN;
	return st;
}

enum health_status
health_overall(void)
{
	enum health_status st = HEALTH_OK;
	size_t n;

	if (!h.running)
		return HEALTH_FAILED;
	n = svc_graph_count(h.graph);
	for (size_t i = 0; i < n && st != HEALTH_FAILED; i++) {
		enum health_status one = status_known(svc_graph_at(h.graph, i));

		if (one > st)
			st = one;
	}
	/* What is down is known without a ping; anything else is stale. */
	if (st != HEALTH_FAILED && rounds_stale())
		st = HEALTH_UNKNOWN;
	return st;
}

static json_t *
entry_json(const struct svc *s, int64_t now_us)
{
	struct svc_info info;
	const char *by;
	const char *state;
	const char *error = NULL;
	bool checked;
	char when[40];
	json_t *o;

	svc_get_info(s, &info);
	by = blocked_by(s, &info);
	checked = info.ping_at_us != 0;
	state = svc_state_word(s);
	if (checked && !info.ping_ok)
		error = info.ping_error ? info.ping_error : "ping failed";
	else if (info.state == SVC_FAILED || info.state == SVC_BLOCKED)
		error = info.error;

	o = json_object();
	json_object_set_new(o, "name", json_string(info.name));
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "healthy",
	                    checked ? json_boolean(info.ping_ok) : json_null());
	if (checked) {
		int64_t age = now_us - info.ping_at_us;

		util_format_time(info.ping_at_us, when, sizeof(when));
		json_object_set_new(o, "checked_at", json_string(when));
		json_object_set_new(o, "age_ms",
		                    json_integer(age > 0 ? age / 1000 : 0));
		json_object_set_new(o, "latency_us",
		                    json_integer(info.ping_latency_us));
	} else {
		json_object_set_new(o, "checked_at", json_null());
		json_object_set_new(o, "age_ms", json_null());
		json_object_set_new(o, "latency_us", json_null());
	}
	json_object_set_new(o, "error",
	                    error ? json_string(error) : json_null());
	json_object_set_new(o, "blocked_by",
	                    by ? json_string(by) : json_null());
	json_object_set_new(o, "stale",
	                    json_boolean(check_stale(&info, now_us)));
	return o;
}

json_t *
health_json(const char *service, bool fresh)
{
	struct svc *one = NULL;
	int64_t now;
	json_t *list, *o;

	if (!h.running)
		return NULL;
	if (service && !(one = svc_graph_find(h.graph, service)))
		return NULL;
	if (fresh)
		health_check_now();
	now = util_now_us();
	list = json_array();
	if (one) {
		json_array_append_new(list, entry_json(one, now));
		o = json_pack("{s:s, s:o}", "status",
		              health_status_name(status_of(one)), "services",
		              list);
		return o;
	}
	size_t n = svc_graph_count(h.graph);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    list, entry_json(svc_graph_at(h.graph, i), now));
	return json_pack("{s:s, s:o}", "status",
	                 health_status_name(health_overall()), "services",
	                 list);
}

static int
health_task(struct worker_task *t, void *arg, char **cause)
{
	health_check_now();
	return 0;
}

/* (Re)schedule the periodic round with the running config's interval;
 * scheduling the same name replaces the task. */
static int
schedule_rounds(char **cause)
{
	struct worker *w = health_worker();
	struct worker_spec spec = {
	    .name = HEALTH_TASK,
	    .kind = WORKER_PERIODIC,
	    .interval = h.interval,
	    .run_now = false,
	    .fn = health_task,
	    .origin = "health",
	    .description = "ping every running service",
	};

	if (!w) {
		*cause = xstrdup("the worker is not running");
		return -1;
	}
	if (!worker_schedule(w, &spec)) {
		*cause = xstrdup("the worker is shutting down");
		return -1;
	}
	return 0;
}

/* [health] interval changed: reschedule the rounds. */
static int
health_reload(struct svc *self, const void *old, const void *new, char **cause)
{
	const struct health_conf *c = new;

	if (!h.running)
		return 0;
	h.interval = c->interval;
	struct worker_task *t = worker_find(health_worker(), HEALTH_TASK);
	if (t) {
		struct worker_task_info info;
		worker_task_get_info(t, &info);
		if (info.interval == h.interval)
			return 0;
	}
	/* A round now: results from the old interval may already count as
	 * stale under the new one. */
	health_check_now();
	return schedule_rounds(cause);
}

static int
health_init(struct svc *self, char **cause)
{
	h.self = self;
	h.graph = svc_graph(self);
	h.interval = ((const struct health_conf *)svc_options(self))->interval;
	h.n = svc_graph_count(h.graph);
	h.seen = xcalloc(h.n ? h.n : 1, sizeof(*h.seen));
	h.rounds = 0;
	/* Every service was pinged by its own init: that counts as a round. */
	h.round_at_us = util_mono_us();
	h.loop = svc_loop(self);
	ev_timer_init(&h.push_timer, push_cb, 0, 0);
	if (schedule_rounds(cause) < 0) {
		free(h.seen);
		memset(&h, 0, sizeof(h));
		return -1;
	}
	svc_graph_set_health_listener(h.graph, on_pushed, NULL);
	h.running = true;
	return 0;
}

static int
health_stop(struct svc *self)
{
	struct worker *w = health_worker();

	if (w)
		worker_cancel(w, HEALTH_TASK);
	svc_graph_set_health_listener(h.graph, NULL, NULL);
	ev_timer_stop(h.loop, &h.push_timer);
	free(h.seen);
	memset(&h, 0, sizeof(h));
	return 0;
}

static const struct svc_conf_item health_items[] = {
    {.key = "interval",
     .type = &svc_conf_duration,
     .off = offsetof(struct health_conf, interval),
     .dflt = "30s",
     .max = "24h",
     .doc = "how often every running service is pinged"},
};

static const struct svc_conf_section health_section = {
    .name = "health",
    SVC_CONF_ITEMS(health_items),
    .doc = "the health monitor",
};

/* ---- control methods ---------------------------------------------------- */

static const struct svc_reply *
m_health(struct svc *self, struct svc_call *q)
{
	const char *name = svc_call_string(q, "service", NULL);
	json_t *res;

	if (name && !svc_graph_find(svc_graph(self), name))
		return svc_call_fail(q, SVC_ERR_NOT_FOUND,
		                     "unknown service '%.128s'", name);
	res = health_json(name, svc_call_bool(q, "fresh", false));
	if (!res)
		return svc_call_fail(q, SVC_ERR_UNAVAILABLE,
		                     "the health monitor is not running");
	return svc_call_ok(q, res);
}

static const struct svc_param p_health[] = {
    {"service", SVC_P_STRING, false},
    {"fresh", SVC_P_BOOL, false},
};

static const struct svc_method health_methods[] = {
    {.name = "health",
     .fn = m_health,
     .access = SVC_ACCESS_READ,
     SVC_PARAMS(p_health),
     .doc = "the last health results, or a fresh round"},
};

const struct svc_desc health_service = {
    .name = "health",
    .requires = SVC_REQUIRES("bus", "worker"),
    .init = health_init,
    .stop = health_stop,
    .conf = SVC_CONF_SECTIONS(&health_section),
    .conf_size = sizeof(struct health_conf),
    .reload = health_reload,
    .tasks = SVC_REQUIRES(HEALTH_TASK),
    SVC_METHODS(health_methods),
};
