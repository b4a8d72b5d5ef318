/*
 * worker.c — the background worker: named periodic and delayed tasks on the
 * loop, async completion with a timeout, and the `worker` service.
 *
 * Design note. A task is in exactly one of two places:
 *   - the table (w->tasks, sorted by name): it is scheduled, or running;
 *   - the detached list (w->detached): it was cancelled, replaced, or was a
 *     delayed task that ran, while something may still refer to it — its body
 *     is on the stack (t->in_fn), its async run is in flight (t->running), or
 *     a run timed out and its late worker_task_done() may still arrive
 *     (t->late). A detached task never runs again and is freed as soon as
 *     none of these hold (or by worker_free).
 * A periodic task's next run is armed when the previous run finished, so a
 * run never overlaps with itself. The shutdown callback runs only when no
 * body is on the stack (w->depth == 0), because it may free the worker.
 * Every task has an owner (worker.h): the table refuses a config or control
 * spec over a service's task, and counts its tasks per owner so that the
 * control channel's bound ([control] max_tasks) costs nothing to check.
 */
#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/methods.h"
#include "daemon/util.h"
#include "services/worker.h"

#define WORKER_DEFAULT_TIMEOUT 30.0

struct worker_task {
	struct worker *w;
	char *name;
	enum worker_kind kind;
	double interval;
	double timeout;
	worker_fn fn;
	void *arg;
	void (*free_arg)(void *arg);
	char *origin;
	enum worker_owner owner;
	char *description;

	ev_timer timer; /* the next run */
	ev_timer tmo;   /* the async bound of the current run */

	uint64_t runs;
	uint64_t failures;
	char *last_error;
	double last_duration_ms;
	int64_t started_mono_us;
	uint64_t run_id; /* of the current or last run, from 1 */
	bool running;
	unsigned in_fn; /* body on the stack */
	uint64_t late;  /* timed-out runs still owing a done */

	bool detached;
	struct worker_task *dprev, *dnext;
};

struct worker {
	struct ev_loop *loop;
	struct worker_task **tasks; /* sorted by name */
	size_t ntasks, cap;
	size_t nowned[WORKER_OWNER_COUNT]; /* tasks in the table, by owner */
	struct worker_task *detached;

	size_t nrunning;
	uint64_t runs;
	uint64_t failures;
	unsigned depth; /* task bodies on the stack */

	bool shutting;
	void (*shut_cb)(struct worker *w, int status, void *arg);
	void *shut_arg;
	ev_timer shut_timer;
};

static void task_run(struct worker_task *t);
static void task_post_run(struct worker_task *t);
static void worker_check_shutdown(struct worker *w);

/* Index of the first task whose name is >= name; *found if equal. */
static size_t
worker_lower_bound(const struct worker *w, const char *name, bool *found)
{
	size_t lo = 0, hi = w->ntasks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(w->tasks[mid]->name, name);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < w->ntasks && strcmp(w->tasks[lo]->name, name) == 0;
	return lo;
}

static void
task_free(struct worker_task *t)
{
	ev_timer_stop(t->w->loop, &t->timer);
	ev_timer_stop(t->w->loop, &t->tmo);
	if (t->free_arg)
		t->free_arg(t->arg);
	free(t->name);
	free(t->origin);
	free(t->description);
	free(t->last_error);
	free(t);
}

static void
detached_unlink(struct worker *w, struct worker_task *t)
{
	if (t->dprev)
		t->dprev->dnext = t->dnext;
	else
		w->detached = t->dnext;
	if (t->dnext)
		t->dnext->dprev = t->dprev;
	t->dprev = t->dnext = NULL;
}

/* Free a detached task once nothing can refer to it any more. */
static void
task_maybe_free(struct worker_task *t)
{
	if (!t->detached || t->running || t->in_fn || t->late)
		return;
	detached_unlink(t->w, t);
	task_free(t);
}

/* Take t out of the table: it never runs again. */
static void
task_detach(struct worker *w, size_t i)
{
	struct worker_task *t = w->tasks[i];

	memmove(&w->tasks[i], &w->tasks[i + 1],
	        (w->ntasks - i - 1) * sizeof(*w->tasks));
	w->ntasks--;
	w->nowned[t->owner]--;
	ev_timer_stop(w->loop, &t->timer);
	t->detached = true;
	t->dprev = NULL;
	t->dnext = w->detached;
	if (w->detached)
		w->detached->dprev = t;
	w->detached = t;
	task_maybe_free(t);
}

static void
task_arm(struct worker_task *t, double after)
{
	ev_timer_stop(t->w->loop, &t->timer);
	ev_timer_set(&t->timer, after > 0 ? after : 0., 0.);
	ev_timer_start(t->w->loop, &t->timer);
}

/* Record the end of the current run; the caller decides what comes next. */
static void
task_finish(struct worker_task *t, int status, const char *cause,
            bool timed_out)
{
	struct worker *w = t->w;

	ev_timer_stop(w->loop, &t->tmo);
	t->running = false;
	assert(w->nrunning > 0);
	w->nrunning--;
	t->last_duration_ms = (util_mono_us() - t->started_mono_us) / 1e3;
	t->runs++;
	w->runs++;
	if (status == 0) {
		free(t->last_error);
		t->last_error = NULL;
		return;
	}
	t->failures++;
	w->failures++;
	free(t->last_error);
	if (timed_out) {
		char d[32];

		util_format_duration(t->timeout, d, sizeof(d));
		t->last_error = xasprintf("timed out after %s", d);
		log_warn("task '%s' timed out after %s", t->name, d);
	} else {
		t->last_error =
		    xstrdup(cause && *cause ? cause : "unknown error");
		log_warn("task '%s' failed: %s", t->name, t->last_error);
	}
}

/* After a run: arm the next one, remove a delayed task, or free. */
static void
task_post_run(struct worker_task *t)
{
	struct worker *w = t->w;

	if (t->detached) {
		task_maybe_free(t);
		return;
	}
	if (t->kind == WORKER_DELAYED) {
		bool found;
		size_t i = worker_lower_bound(w, t->name, &found);

		assert(found && w->tasks[i] == t);
		task_detach(w, i);
		return;
	}
	if (w->shutting)
		return;
	/* The interval counts from the end of the run, not its start. */
	ev_now_update(w->loop);
	task_arm(t, t->interval);
}

static void
task_timeout_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
	struct worker_task *t = tm->data;
	struct worker *w = t->w;

	t->late++;
	task_finish(t, -1, NULL, true);
	task_post_run(t);
	worker_check_shutdown(w);
}

static void
task_timer_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
	struct worker_task *t = tm->data;
	struct worker *w = t->w;

	if (w->shutting || t->detached || t->running)
		return;
	task_run(t);
	worker_check_shutdown(w);
}

/* Call the body once; the caller checks for shutdown completion after. */
static void
task_run(struct worker_task *t)
{
	struct worker *w = t->w;
	char *cause = NULL;
	uint64_t id;
	int rc;

	t->run_id++;
	id = t->run_id;
	t->running = true;
	w->nrunning++;
	t->started_mono_us = util_mono_us();
	t->in_fn++;
	w->depth++;
	rc = t->fn(t, t->arg, &cause);
	w->depth--;
	t->in_fn--;

	if (t->running && t->run_id == id) {
		if (rc == SVC_PENDING) {
			ev_timer_set(&t->tmo, t->timeout, 0.);
			ev_timer_start(w->loop, &t->tmo);
			free(cause);
			task_maybe_free(t);
			return;
		}
		task_finish(t, rc == 0 ? 0 : -1, cause, false);
	}
	/* else: completed from inside the body through worker_task_done */
	free(cause);
	task_post_run(t);
}

static void
worker_check_shutdown(struct worker *w)
{
	void (*cb)(struct worker *, int, void *);
	void *arg;

	if (!w->shutting || !w->shut_cb || w->nrunning || w->depth)
		return;
	cb = w->shut_cb;
	arg = w->shut_arg;
	w->shut_cb = NULL;
	ev_timer_stop(w->loop, &w->shut_timer);
	cb(w, 0, arg); /* may free w */
}

static void
worker_shut_timeout_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
	struct worker *w = tm->data;
	void (*cb)(struct worker *, int, void *) = w->shut_cb;
	void *arg = w->shut_arg;
	struct buf names = {0};
	struct worker_task *t;
	size_t i;

	if (!cb)
		return;
	if (w->depth) {
		/* a body is on the stack: look again shortly */
		ev_timer_set(&w->shut_timer, 0.001, 0.);
		ev_timer_start(loop, &w->shut_timer);
		return;
	}
	for (i = 0; i < w->ntasks; i++) {
		t = w->tasks[i];
		if (t->running)
			buf_printf(&names, "%s'%s'", names.len ? ", " : "",
			           t->name);
	}
	for (t = w->detached; t; t = t->dnext)
		if (t->running)
			buf_printf(&names, "%s'%s'", names.len ? ", " : "",
			           t->name);
	buf_putc(&names, '\0');
	log_warn("worker shutdown timed out; still running: %s",
	         buf_head(&names));
	buf_free(&names);
	w->shut_cb = NULL;
	cb(w, -1, arg); /* may free w */
}

struct worker *
worker_new(struct ev_loop *loop)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	w->loop = loop;
	ev_timer_init(&w->shut_timer, worker_shut_timeout_cb, 0., 0.);
	w->shut_timer.data = w;
	return w;
}

void
worker_free(struct worker *w)
{
	size_t i;

	if (!w)
		return;
	assert(w->depth == 0);
	ev_timer_stop(w->loop, &w->shut_timer);
	for (i = 0; i < w->ntasks; i++)
		task_free(w->tasks[i]);
	while (w->detached) {
		struct worker_task *t = w->detached;

		detached_unlink(w, t);
		task_free(t);
	}
	free(w->tasks);
	free(w);
}

struct worker *
worker_of(struct svc *self)
{
	struct svc *d = svc_dep(self, "worker");

	return d ? svc_priv(d) : NULL;
}

struct worker_task *
worker_schedule(struct worker *w, const struct worker_spec *spec)
{
	struct worker_task *t;
	bool found;
	size_t i;

	assert(spec->name && *spec->name && spec->fn);
	assert(spec->owner < WORKER_OWNER_COUNT);
	if (w->shutting) {
		errno = ESHUTDOWN;
		return NULL;
	}
	i = worker_lower_bound(w, spec->name, &found);
	if (found && spec->owner != WORKER_OWNER_SERVICE &&
	    w->tasks[i]->owner == WORKER_OWNER_SERVICE) {
		log_debug("task '%s' of service '%s' not replaced by %s",
		          spec->name, w->tasks[i]->origin, spec->origin);
		errno = EPERM;
		return NULL;
	}
	if (found) {
		log_debug("task '%s' replaced", spec->name);
		task_detach(w, i);
	}

	t = xcalloc(1, sizeof(*t));
	t->w = w;
	t->name = xstrdup(spec->name);
	t->kind = spec->kind;
	t->interval = spec->interval > 0 ? spec->interval : 0.;
	t->timeout = spec->timeout > 0 ? spec->timeout : WORKER_DEFAULT_TIMEOUT;
	t->fn = spec->fn;
	t->arg = spec->arg;
	t->free_arg = spec->free_arg;
	t->origin = spec->origin ? xstrdup(spec->origin) : NULL;
	t->owner = spec->owner;
	t->description = spec->description ? xstrdup(spec->description) : NULL;
	t->last_duration_ms = -1;
	ev_timer_init(&t->timer, task_timer_cb, 0., 0.);
	t->timer.data = t;
	ev_timer_init(&t->tmo, task_timeout_cb, 0., 0.);
	t->tmo.data = t;

	if (w->ntasks == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 8;
		w->tasks = xrealloc(w->tasks, w->cap * sizeof(*w->tasks));
	}
	memmove(&w->tasks[i + 1], &w->tasks[i],
	        (w->ntasks - i) * sizeof(*w->tasks));
	w->tasks[i] = t;
	w->ntasks++;
	w->nowned[t->owner]++;

	if (t->kind == WORKER_PERIODIC && spec->run_now)
		task_arm(t, 0.);
	else
		task_arm(t, t->interval);
	return t;
}

bool
worker_cancel(struct worker *w, const char *name)
{
	bool found;
	size_t i = worker_lower_bound(w, name, &found);

	if (!found)
		return false;
	task_detach(w, i);
	return true;
}

struct worker_task *
worker_find(struct worker *w, const char *name)
{
	bool found;
	size_t i = worker_lower_bound(w, name, &found);

	return found ? w->tasks[i] : NULL;
}

uint64_t
worker_task_run_id(const struct worker_task *t)
{
	return t->run_id;
}

void
worker_task_done_run(struct worker_task *t, uint64_t run, int status,
                     const char *cause)
{
	struct worker *w = t->w;

	if (!t->running || t->run_id != run) {
		/* a late completion of a run that timed out */
		if (t->late)
			t->late--;
		log_debug("task '%s': late completion ignored", t->name);
		task_maybe_free(t);
		return;
	}
	task_finish(t, status == 0 ? 0 : -1, cause, false);
	if (t->in_fn)
		return; /* task_run carries on when the body returns */
	task_post_run(t);
	worker_check_shutdown(w);
}

void
worker_task_done(struct worker_task *t, int status, const char *cause)
{
	/* Without a run id, a completion while running is the current run's. */
	worker_task_done_run(t, t->running ? t->run_id : 0, status, cause);
}

const char *
worker_task_name(const struct worker_task *t)
{
	return t->name;
}

void
worker_task_get_info(const struct worker_task *t, struct worker_task_info *out)
{
	struct ev_loop *loop = t->w->loop;

	memset(out, 0, sizeof(*out));
	out->name = t->name;
	out->kind = t->kind;
	out->interval = t->interval;
	if (ev_is_active(&t->timer))
		out->next_run_us =
		    util_now_us() +
		    (int64_t)(ev_timer_remaining(loop, (ev_timer *)&t->timer) *
		              1e6);
	out->runs = t->runs;
	out->failures = t->failures;
	out->last_error = t->last_error;
	out->last_duration_ms = t->last_duration_ms;
	out->running = t->running;
	out->origin = t->origin;
	out->owner = t->owner;
	out->description = t->description;
}

size_t
worker_count(const struct worker *w)
{
	return w->ntasks;
}

size_t
worker_count_owner(const struct worker *w, enum worker_owner owner)
{
	return owner < WORKER_OWNER_COUNT ? w->nowned[owner] : 0;
}

const char *
worker_owner_name(enum worker_owner o)
{
	switch (o) {
	case WORKER_OWNER_SERVICE: return "service";
	case WORKER_OWNER_CONFIG: return "config";
	case WORKER_OWNER_CONTROL: return "control";
	case WORKER_OWNER_COUNT: break;
	}
	return "?";
}

bool
worker_may_touch(struct worker *w, const char *name, enum worker_owner by,
                 char **cause)
{
	struct worker_task *t = worker_find(w, name);

	if (!t || by == WORKER_OWNER_SERVICE ||
	    t->owner != WORKER_OWNER_SERVICE)
		return true;
	*cause = xasprintf("task '%s' belongs to service '%s'", t->name,
	                   t->origin ? t->origin : "?");
	return false;
}

void
worker_foreach(struct worker *w, void (*fn)(struct worker_task *t, void *arg),
               void *arg)
{
	size_t i = 0;

	/* fn may cancel or schedule: carry on after the visited name. */
	while (i < w->ntasks) {
		char *name = xstrdup(w->tasks[i]->name);
		bool found;

		fn(w->tasks[i], arg);
		i = worker_lower_bound(w, name, &found);
		if (found)
			i++;
		free(name);
	}
}

static json_t *
json_string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *
worker_task_json(const struct worker_task *t)
{
	struct worker_task_info info;
	json_t *o = json_object();
	char when[40];

	worker_task_get_info(t, &info);
	json_object_set_new(o, "name", json_string(info.name));
	json_object_set_new(
	    o, "kind",
	    json_string(info.kind == WORKER_PERIODIC ? "periodic" : "delayed"));
	json_object_set_new(
	    o, info.kind == WORKER_PERIODIC ? "interval_ms" : "delay_ms",
	    json_integer((json_int_t)llround(info.interval * 1e3)));
	if (info.next_run_us) {
		util_format_time(info.next_run_us, when, sizeof(when));
		json_object_set_new(o, "next_run", json_string(when));
	} else {
		json_object_set_new(o, "next_run", json_null());
	}
	json_object_set_new(o, "runs", json_integer((json_int_t)info.runs));
	json_object_set_new(o, "failures",
	                    json_integer((json_int_t)info.failures));
	json_object_set_new(o, "last_error",
	                    json_string_or_null(info.last_error));
	json_object_set_new(
	    o, "last_duration_ms",
	    info.last_duration_ms < 0
	        ? json_null()
	        : json_real(round(info.last_duration_ms * 1e3) / 1e3));
	json_object_set_new(o, "running", json_boolean(info.running));
	json_object_set_new(o, "origin", json_string_or_null(info.origin));
	json_object_set_new(o, "owner",
	                    json_string(worker_owner_name(info.owner)));
	json_object_set_new(o, "description",
	                    json_string_or_null(info.description));
	return o;
}

json_t *
worker_list_json(struct worker *w)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < w->ntasks; i++)
		json_array_append_new(a, worker_task_json(w->tasks[i]));
	return a;
}

void
worker_get_stats(const struct worker *w, struct worker_stats *out)
{
	out->tasks = w->ntasks;
	out->running = w->nrunning;
	out->runs = w->runs;
	out->failures = w->failures;
}

void
worker_shutdown(struct worker *w, double timeout,
                void (*cb)(struct worker *w, int status, void *arg), void *arg)
{
	size_t i;

	w->shutting = true;
	for (i = 0; i < w->ntasks; i++)
		ev_timer_stop(w->loop, &w->tasks[i]->timer);
	w->shut_cb = cb;
	w->shut_arg = arg;
	ev_timer_stop(w->loop, &w->shut_timer);
	if (!cb)
		return;
	if (w->nrunning) {
		log_info("worker: waiting for %zu running task%s", w->nrunning,
		         w->nrunning == 1 ? "" : "s");
		ev_timer_set(&w->shut_timer, timeout > 0 ? timeout : 0., 0.);
		ev_timer_start(w->loop, &w->shut_timer);
		return;
	}
	worker_check_shutdown(w);
}

/* The `worker` service. */

static bool worker_in_stop;
static bool worker_stopped_sync;

static int
worker_svc_init(struct svc *self, char **cause)
{
	svc_set_priv(self, worker_new(svc_loop(self)));
	return 0;
}

static void
worker_svc_stopped(struct worker *w, int status, void *arg)
{
	struct svc *self = arg;

	svc_set_priv(self, NULL);
	worker_free(w);
	if (worker_in_stop)
		worker_stopped_sync = true;
	else
		svc_stop_done(self);
}

static int
worker_svc_stop(struct svc *self)
{
	struct worker *w = svc_priv(self);

	if (!w)
		return 0;
	worker_in_stop = true;
	worker_stopped_sync = false;
	worker_shutdown(w, svc_stop_timeout(self), worker_svc_stopped, self);
	worker_in_stop = false;
	return worker_stopped_sync ? 0 : SVC_PENDING;
}

/* ---- control methods ---------------------------------------------------- */

static const struct svc_reply *
m_tasks(struct svc *self, struct svc_call *q)
{
	return svc_call_ok(
	    q, json_pack("{s:o}", "tasks", worker_list_json(svc_priv(self))));
}

static const struct svc_reply *
m_cancel(struct svc *self, struct svc_call *q)
{
	const char *name = svc_call_string(q, "name", "");
	struct worker *w = svc_priv(self);
	const struct svc_reply *r;
	char *msg = NULL;
	bool found;

	if (!worker_may_touch(w, name, WORKER_OWNER_CONTROL, &msg)) {
		log_info("cancel '%.128s' by uid=%lu pid=%ld refused: %s", name,
		         svc_call_uid(q), svc_call_pid(q), msg);
		r = svc_call_fail(q, SVC_ERR_PERMISSION,
		                  "%s; the control channel may not cancel it",
		                  msg);
		free(msg);
		return r;
	}
	found = worker_cancel(w, name);
	log_info("cancel '%.128s' by uid=%lu pid=%ld: %s", name,
	         svc_call_uid(q), svc_call_pid(q),
	         found ? "cancelled" : "no such task");
	return svc_call_ok(q, json_pack("{s:b}", "cancelled", found));
}

static const struct svc_param p_cancel[] = {
    {"name", SVC_P_STRING, true},
};

static const struct svc_method worker_methods[] = {
    {.name = "tasks",
     .fn = m_tasks,
     .access = SVC_ACCESS_READ,
     .doc = "every task with its schedule and counters"},
    {.name = "cancel",
     .fn = m_cancel,
     .access = SVC_ACCESS_EMIT,
     .flags = SVC_M_LIVE,
     SVC_PARAMS(p_cancel),
     .doc = "cancel a task scheduled over the control channel"},
};

static json_t *
worker_figures(struct svc *self)
{
	struct worker_stats ws;

	worker_get_stats(svc_priv(self), &ws);
	return json_pack("{s:I, s:I, s:I, s:I}", "tasks", (json_int_t)ws.tasks,
	                 "running", (json_int_t)ws.running, "runs",
	                 (json_int_t)ws.runs, "failures",
	                 (json_int_t)ws.failures);
}

/* `svcctl metrics`: the figures' types and help (daemon/service.h). */
static const struct svc_metric worker_metrics[] = {
    {.figure = "tasks",
     .type = SVC_METRIC_GAUGE,
     .help = "tasks scheduled now"},
    {.figure = "running",
     .type = SVC_METRIC_GAUGE,
     .help = "tasks running now"},
    {.figure = "runs", .type = SVC_METRIC_COUNTER, .help = "task runs"},
    {.figure = "failures",
     .type = SVC_METRIC_COUNTER,
     .help = "task runs that failed"},
};

const struct svc_desc worker_service = {
    .name = "worker",
    .init = worker_svc_init,
    .stop = worker_svc_stop,
    SVC_METHODS(worker_methods),
    .figures = worker_figures,
    SVC_METRICS(worker_metrics),
};
