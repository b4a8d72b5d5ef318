/*
 * app.c — the application service (singleton-service's AsyncApplication): the
 * heartbeat (status line, optional `heartbeat` event) and the
 * config's [timer.NAME] sections loaded into the worker.
 */
#include "services/app.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "services/manager.h"
#include "daemon/methods.h"
#include "daemon/rpc.h"
#include "services/timers.h"
#include "daemon/util.h"
#include "services/worker.h"

#define CONFIG_ORIGIN "config"

static struct {
	struct svc *self; /* for its options and status line */
	bool running;
	struct svc_graph *graph;
	struct ev_loop *loop;
	ev_timer heartbeat;
	uint64_t beats;
	int64_t started_us; /* monotonic */
} a;

static void status_rebuild(void);

/* What the app requires, NULL while it is not running. */
static struct worker *
app_worker(void)
{
	return a.self ? worker_of(a.self) : NULL;
}

static struct bus *
app_bus(void)
{
	return a.self ? bus_of(a.self) : NULL;
}

/* Outlive init/stop: main sets the hook after boot and reads the line. */
static char status_line[256] = "starting";

/* Rebuilt on every call while running: boot may have moved on since the
 * last heartbeat (main reads it for READY=1). */
const char *
app_status_line(void)
{
	if (a.running)
		status_rebuild();
	return status_line;
}

uint64_t
app_heartbeats(void)
{
	return a.beats;
}

/* "running: 7/7 services, 1234 events, 2 listeners" (plus what is wrong). */
static void
status_rebuild(void)
{
	size_t n = svc_graph_count(a.graph), up = 0, failed = 0, blocked = 0;
	struct bus *b = app_bus();
	struct bus_stats st = {0};
	int len;

	for (size_t i = 0; i < n; i++) {
		switch (svc_state(svc_graph_at(a.graph, i))) {
		case SVC_RUNNING: up++; break;
		case SVC_FAILED: failed++; break;
		case SVC_BLOCKED: blocked++; break;
		default: break;
		}
	}
	if (b)
		bus_get_stats(b, &st);
	len =
	    snprintf(status_line, sizeof(status_line),
	             "%s: %zu/%zu services, %" PRIu64 " events, %zu listeners",
	             manager_shutting_down() ? "stopping" : "running", up, n,
	             st.emitted, st.listeners);
	if (len > 0 && (size_t)len < sizeof(status_line) && (failed || blocked))
		snprintf(status_line + len, sizeof(status_line) - (size_t)len,
		         " (%zu failed, %zu blocked)", failed, blocked);
}

static void
heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	a.beats++;
	status_rebuild();
	svc_status_changed(a.self);
	const struct app_conf *c = svc_options(a.self);

	if (c->heartbeat_event && app_bus()) {
		int64_t up = (util_mono_us() - a.started_us) / 1000000;
		json_t *data = json_pack("{s:I, s:I}", "n", (json_int_t)a.beats,
		                         "uptime_s", (json_int_t)up);

		if (bus_emit_json(app_bus(), "heartbeat", data, "app") < 0)
			log_debug("app: heartbeat event not emitted");
		json_decref(data);
	}
}

static void
heartbeat_arm(const struct app_conf *c)
{
	double iv = c->heartbeat;

	if (ev_is_active(&a.heartbeat) && a.heartbeat.repeat == iv)
		return;
	a.heartbeat.repeat = iv;
	ev_timer_again(a.loop, &a.heartbeat);
}

struct names {
	char **v;
	size_t n;
};

static void
collect_config_task(struct worker_task *t, void *arg)
{
	struct names *names = arg;
	struct worker_task_info info;

	worker_task_get_info(t, &info);
	if (!info.origin || strcmp(info.origin, CONFIG_ORIGIN) != 0)
		return;
	names->v = xrealloc(names->v, (names->n + 1) * sizeof(*names->v));
	names->v[names->n++] = xstrdup(info.name);
}

static const struct app_timer *
timer_at(const struct app_conf *c, size_t i)
{
	return c->timers.v[i];
}

static bool
in_config(const struct app_conf *c, const char *name)
{
	for (size_t i = 0; i < c->timers.n; i++)
		if (strcmp(timer_at(c, i)->inst.name, name) == 0)
			return true;
	return false;
}

/* Cancel the config-origin tasks (all of them, or those not in c). */
static void
cancel_config_timers(const struct app_conf *c)
{
	struct worker *w = app_worker();
	struct names names = {0};

	if (!w)
		return;
	worker_foreach(w, collect_config_task, &names);
	for (size_t i = 0; i < names.n; i++) {
		if (!c) {
			worker_cancel(w, names.v[i]);
		} else if (!in_config(c, names.v[i])) {
			worker_cancel(w, names.v[i]);
			log_info("timer '%s' removed", names.v[i]);
		}
		free(names.v[i]);
	}
	free(names.v);
}

/* A timer may not take the name of a service's task (one namespace). */
static int
check_timers(const struct app_conf *c, char **cause)
{
	struct worker *w = app_worker();
	const struct svc_conf *running = svc_graph_conf(svc_graph(a.self));
	const char *path = svc_conf_file(running);
	struct buf msg = {0};
	char *why = NULL;

	for (size_t i = 0; w && i < c->timers.n; i++) {
		const struct app_timer *t = timer_at(c, i);
		if (worker_may_touch(w, t->inst.name, WORKER_OWNER_CONFIG,
		                     &why))
			continue;
		buf_printf(&msg, "%s%s:%d: [timer.%s]: %s (rename the timer)",
		           msg.len ? "\n" : "", path ? path : "config",
		           t->inst.line, t->inst.name, why);
		free(why);
		why = NULL;
	}
	if (!msg.len)
		return 0;
	*cause = xstrndup(buf_head(&msg), msg.len);
	buf_free(&msg);
	return -1;
}

static int
apply_config(const struct app_conf *c, char **cause)
{
	struct worker *w = app_worker();
	struct bus *b = app_bus();

	/* refused before anything changes: a timer over a service's task */
	if (check_timers(c, cause) < 0)
		return -1;
	cancel_config_timers(c);
	for (size_t i = 0; i < c->timers.n; i++) {
		const struct app_timer *t = timer_at(c, i);
		bool periodic = t->every > 0;
		char *why = NULL;

		if (!w || !b) {
			*cause = xasprintf("[timer.%s]: the %s is not running",
			                   t->inst.name, w ? "bus" : "worker");
			return -1;
		}
		if (!timer_schedule_emit(w, b, t->inst.name, periodic,
		                         periodic ? t->every : t->after,
		                         t->emit, t->data, WORKER_OWNER_CONFIG,
		                         CONFIG_ORIGIN, &why)) {
			*cause = xasprintf("[timer.%s]: %s", t->inst.name,
			                   why ? why : "cannot schedule");
			free(why);
			return -1;
		}
	}
	heartbeat_arm(c);
	return 0;
}

/* [app] and the [timer.NAME] sections: applied at once (timers no longer
 * in the file are cancelled, the others rescheduled). */
static int
app_reload(struct svc *self, const void *old, const void *new, char **cause)
{
	if (!a.running)
		return 0; /* read at the next init */
	return apply_config(new, cause);
}

static int
app_init(struct svc *self, char **cause)
{
	a.self = self;
	a.graph = svc_graph(self);
	a.loop = svc_loop(self);
	a.beats = 0;
	a.started_us = util_mono_us();
	ev_timer_init(&a.heartbeat, heartbeat_cb, 0, 0);
	if (apply_config(svc_options(self), cause) < 0) {
		ev_timer_stop(a.loop, &a.heartbeat);
		cancel_config_timers(NULL);
		memset(&a, 0, sizeof(a));
		return -1;
	}
	a.running = true;
	status_rebuild();
	return 0;
}

static int
app_stop(struct svc *self)
{
	uint64_t beats = a.beats;

	ev_timer_stop(a.loop, &a.heartbeat);
	cancel_config_timers(NULL);
	snprintf(status_line, sizeof(status_line), "stopped");
	memset(&a, 0, sizeof(a));
	a.beats = beats; /* still readable until the next init */
	return 0;
}

/* The process's status line (sd_notify STATUS=) while app runs. */
static const char *
app_line(struct svc *self)
{
	return app_status_line();
}

/* ---- configuration ---- */

static const struct svc_conf_item app_items[] = {
    {.key = "heartbeat",
     .type = &svc_conf_duration,
     .off = offsetof(struct app_conf, heartbeat),
     .dflt = "5s",
     .max = "24h",
     .doc = "status line and watchdog refresh"},
    {.key = "heartbeat_event",
     .type = &svc_conf_bool,
     .off = offsetof(struct app_conf, heartbeat_event),
     .dflt = "false",
     .doc = "emit a `heartbeat` event on every beat"},
};

#define TF(f) offsetof(struct app_timer, f)

static const struct svc_conf_item timer_items[] = {
    {.key = "every",
     .type = &svc_conf_duration,
     .off = TF(every),
     .max = UTIL_TASK_MAX_TEXT,
     .doc = "emit periodically (or after)"},
    {.key = "after",
     .type = &svc_conf_duration,
     .off = TF(after),
     .max = UTIL_TASK_MAX_TEXT,
     .doc = "emit once, this long after start or reload (or every)"},
    {.key = "emit",
     .type = &svc_conf_event,
     .off = TF(emit),
     .doc = "the event name (required)"},
    {.key = "data",
     .type = &svc_conf_json_object,
     .off = TF(data),
     .dflt = "{}",
     .doc = "the event's data, a JSON object"},
};

static int
timer_check(struct svc_conf_ctx *cx, void *inst)
{
	const char *n = svc_conf_section_name(cx);
	bool every = svc_conf_key_line(cx, "every") != 0;
	bool after = svc_conf_key_line(cx, "after") != 0;
	int rc = 0;

	if (every && after) {
		svc_conf_error(cx, 0,
		               "timer '%s': 'every' and 'after' are both set "
		               "(use one)",
		               n);
		rc = -1;
	} else if (!every && !after) {
		svc_conf_error(cx, 0,
		               "timer '%s': 'every' or 'after' is required", n);
		rc = -1;
	}
	if (!svc_conf_key_line(cx, "emit")) {
		svc_conf_error(cx, 0, "timer '%s': 'emit' is required", n);
		rc = -1;
	}
	/* timers and tasks share one namespace (also checked at init,
	 * against what the worker runs) */
	const struct svc_desc *owner = svc_conf_task_owner(cx, n);
	if (owner) {
		svc_conf_error(cx, 0,
		               "[timer.%s]: task '%s' belongs to service '%s' "
		               "(rename the timer)",
		               n, n, owner->name);
		rc = -1;
	}
	return rc;
}

/* [control] keys of `schedule` (the control service owns the others) */
static const struct svc_conf_item schedule_items[] = {
    {.key = "max_tasks",
     .type = &svc_conf_count,
     .off = offsetof(struct app_conf, max_tasks),
     .dflt = "1024",
     .min = "1",
     .max = "1000000",
     .doc = "tasks `schedule` may create"},
    {.key = "max_task_data",
     .type = &svc_conf_size,
     .off = offsetof(struct app_conf, max_task_data),
     .dflt = "64K",
     .min = "2",
     .max = "1G",
     .doc = "a scheduled task's data"},
};

static const struct svc_conf_section schedule_section = {
    .name = "control",
    SVC_CONF_ITEMS(schedule_items),
};

static const struct svc_conf_section app_section = {
    .name = "app",
    SVC_CONF_ITEMS(app_items),
    .doc = "the heartbeat",
};

static const struct svc_conf_section timer_section = {
    .name = "timer",
    SVC_CONF_ITEMS(timer_items),
    .named = true,
    .inst_size = sizeof(struct app_timer),
    .list_off = offsetof(struct app_conf, timers),
    .check = timer_check,
    .doc = "an event emitted on a schedule",
};

/* ---- control methods ---------------------------------------------------- */

/*
 * schedule: a control task. Bounded ([control] max_tasks, max_task_data);
 * a service's task is refused (services/worker.h); each one is logged with
 * the caller. It lives with the timers it schedules (the app owns them):
 * the worker cannot require the bus, which requires the worker.
 */
static const struct svc_reply *
m_schedule(struct svc *self, struct svc_call *q)
{
	json_t *every = svc_call_param(q, "every");
	json_t *after = svc_call_param(q, "after");
	const char *name = svc_call_string(q, "name", "");
	const char *event = svc_call_string(q, "event", "");
	const struct app_conf *cf = svc_options(self);
	struct worker *w = worker_of(self);
	struct bus *b = bus_of(self);
	const struct svc_reply *r;
	struct worker_task *t, *old;
	struct worker_task_info info;
	char *msg = NULL, *text = NULL;
	char d[32];
	size_t len;
	double secs;
	bool replaces;
	int err;

	if (!every == !after)
		return svc_call_fail(
		    q, SVC_ERR_INVALID_PARAMS,
		    "exactly one of 'every' and 'after' is required");
	if (!*name || strlen(name) > 128)
		return svc_call_fail(
		    q, SVC_ERR_INVALID_PARAMS,
		    "parameter 'name' must be 1-128 characters");
	if (rpc_duration(every ? every : after, every ? "every" : "after",
	                 &secs, &msg) < 0) {
		r = svc_call_fail(q, SVC_ERR_INVALID_PARAMS, "%s", msg);
		free(msg);
		return r;
	}
	if (!worker_may_touch(w, name, WORKER_OWNER_CONTROL, &msg)) {
		log_info("schedule '%.128s' by uid=%lu pid=%ld refused: %s",
		         name, svc_call_uid(q), svc_call_pid(q), msg);
		r = svc_call_fail(q, SVC_ERR_PERMISSION,
		                  "%s; the control channel may not replace it",
		                  msg);
		free(msg);
		return r;
	}
	/* a control task replaced by name does not count twice */
	replaces = false;
	if ((old = worker_find(w, name))) {
		worker_task_get_info(old, &info);
		replaces = info.owner == WORKER_OWNER_CONTROL;
	}
	if (!replaces &&
	    worker_count_owner(w, WORKER_OWNER_CONTROL) >= cf->max_tasks)
		return svc_call_fail(q, SVC_ERR_BUSY,
		                     "too many scheduled tasks (%zu, [control] "
		                     "max_tasks); cancel one first",
		                     cf->max_tasks);
	if ((text = svc_call_param_text(q, "data"))) {
		len = strlen(text);
		if (len > cf->max_task_data) {
			free(text);
			return svc_call_fail(
			    q, SVC_ERR_TOO_LARGE,
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
		r = svc_call_fail(q,
		                  err == EPERM ? SVC_ERR_PERMISSION
		                               : SVC_ERR_INVALID_PARAMS,
		                  "%s", msg ? msg : "cannot schedule the task");
		free(msg);
		return r;
	}
	util_format_duration(secs, d, sizeof(d));
	log_info("task '%.128s' scheduled by uid=%lu pid=%ld: emit %s %s %s",
	         name, svc_call_uid(q), svc_call_pid(q), event,
	         every ? "every" : "after", d);
	return svc_call_ok(q, worker_task_json(t));
}

static const struct svc_param p_schedule[] = {
    {"name", SVC_P_STRING, true},     {"every", SVC_P_DURATION, false},
    {"after", SVC_P_DURATION, false}, {"event", SVC_P_STRING, true},
    {"data", SVC_P_OBJECT, false},
};

static const struct svc_method app_methods[] = {
    {.name = "schedule",
     .fn = m_schedule,
     .access = SVC_ACCESS_EMIT,
     .flags = SVC_M_LIVE,
     SVC_PARAMS(p_schedule),
     .doc = "a task that emits an event every or after a duration"},
};

const struct svc_desc app_service = {
    .name = "app",
    .requires = SVC_REQUIRES("manager", "bus", "worker"),
    .init = app_init,
    .stop = app_stop,
    .status_line = app_line,
    .conf = SVC_CONF_SECTIONS(&app_section, &timer_section, &schedule_section),
    .conf_size = sizeof(struct app_conf),
    .reload = app_reload,
    SVC_METHODS(app_methods),
};
