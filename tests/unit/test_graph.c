/* test_graph.c — Check tests for daemon/graph.c (the semantics listed in
 * docs/framework.md). */
#include <check.h>
#include <ev.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/service.h"
#include "testutil.h"
#include "daemon/util.h"

/* -- log capture (testutil's, lines "LEVEL message") ------------------- */

static bool
log_seen(enum log_level level, const char *s)
{
	char *want = xasprintf("%d %s", (int)level, s);
	bool r = tu_log_seen(want);

	free(want);
	return r;
}

/* -- probes: per-service behaviour and counters, reset in setup --------- */

enum init_mode {
	INIT_OK,
	INIT_FAIL,  /* -1 with cause (if set) */
	INIT_ASYNC, /* pending, svc_init_done after delay */
	INIT_EARLY, /* svc_init_done from inside init, then pending */
	INIT_HANG,  /* pending forever */
};

enum stop_mode {
	STOP_OK,
	STOP_ASYNC, /* pending, svc_stop_done after delay */
	STOP_EARLY, /* svc_stop_done from inside stop, then pending */
	STOP_HANG,  /* pending forever */
};

struct probe {
	const char *name;
	struct svc *svc;
	enum init_mode init;
	const char *cause;
	double delay;
	int async_status;
	int ping_fail; /* 1: return -1; any other non-zero: return it */
	const char *ping_cause;
	const char *ping_use; /* svc_use this from ping */
	enum stop_mode stop;
	const char *use; /* svc_use this from init */
	int use_rc;
	char *use_cause;
	int inits, pings, stops;
	ev_timer init_timer;
	ev_timer stop_timer;
};

#define NPROBES 32
static struct probe probes[NPROBES];
static size_t nprobes;
static struct buf events; /* "init:x stop:y " */
static struct ev_loop *loop;
static struct svc_graph *graph;

static struct probe *
P(const char *name)
{
	size_t i;

	for (i = 0; i < nprobes; i++)
		if (strcmp(probes[i].name, name) == 0)
			return &probes[i];
	ck_assert_uint_lt(nprobes, NPROBES);
	probes[nprobes].name = name;
	return &probes[nprobes++];
}

static void
init_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct probe *p = w->data;

	buf_printf(&events, "done:%s ", p->name);
	svc_init_done(p->svc, p->async_status, p->cause);
}

static void
stop_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct probe *p = w->data;

	svc_stop_done(p->svc);
}

static int
t_init(struct svc *self, char **cause)
{
	struct probe *p = P(svc_name(self));

	p->svc = self;
	p->inits++;
	buf_printf(&events, "init:%s ", p->name);
	if (p->use != NULL) {
		free(p->use_cause);
		p->use_cause = NULL;
		p->use_rc = svc_use(svc_graph(self), p->use, &p->use_cause);
	}
	switch (p->init) {
	case INIT_OK: return 0;
	case INIT_FAIL:
		if (p->cause != NULL)
			*cause = xstrdup(p->cause);
		return -1;
	case INIT_ASYNC:
		ev_timer_init(&p->init_timer, init_timer_cb, p->delay, 0);
		p->init_timer.data = p;
		ev_timer_start(svc_loop(self), &p->init_timer);
		return SVC_PENDING;
	case INIT_EARLY:
		svc_init_done(self, p->async_status, p->cause);
		return SVC_PENDING;
	case INIT_HANG: return SVC_PENDING;
	}
	return -1;
}

static int
t_ping(struct svc *self, char **cause)
{
	struct probe *p = P(svc_name(self));

	p->pings++;
	if (p->ping_use != NULL) {
		free(p->use_cause);
		p->use_cause = NULL;
		p->use_rc =
		    svc_use(svc_graph(self), p->ping_use, &p->use_cause);
	}
	if (p->ping_fail) {
		if (p->ping_cause != NULL)
			*cause = xstrdup(p->ping_cause);
		return p->ping_fail == 1 ? -1 : p->ping_fail;
	}
	return 0;
}

static int
t_stop(struct svc *self)
{
	struct probe *p = P(svc_name(self));

	p->stops++;
	buf_printf(&events, "stop:%s ", p->name);
	switch (p->stop) {
	case STOP_OK: return 0;
	case STOP_ASYNC:
		ev_timer_init(&p->stop_timer, stop_timer_cb, p->delay, 0);
		p->stop_timer.data = p;
		ev_timer_start(svc_loop(self), &p->stop_timer);
		return SVC_PENDING;
	case STOP_EARLY: svc_stop_done(self); return SVC_PENDING;
	case STOP_HANG: return SVC_PENDING;
	}
	return 0;
}

#define DESC(var, nm, ...)                                                     \
	static const struct svc_desc var = {.name = nm,                        \
	                                    .requires = __VA_ARGS__,           \
	                                    .init = t_init,                    \
	                                    .ping = t_ping,                    \
	                                    .stop = t_stop}

/* singleton-service's example graph: cache <- user; database;
 * bus <- notification; worker <- health; app requires user, database and
 * notification. */
DESC(d_cache, "cache", NULL);
DESC(d_user, "user", SVC_REQUIRES("cache"));
DESC(d_database, "database", NULL);
DESC(d_bus, "bus", NULL);
DESC(d_notification, "notification", SVC_REQUIRES("bus"));
DESC(d_worker, "worker", NULL);
DESC(d_health, "health", SVC_REQUIRES("worker"));
DESC(d_app, "app", SVC_REQUIRES("user", "database", "notification"));

/* Listed with dependents first so the order is not the table order. */
static const struct svc_desc *const seed_table[] = {
    &d_app, &d_user,     &d_cache,  &d_notification,
    &d_bus, &d_database, &d_health, &d_worker,
};
#define SEED_ORDER "cache user bus notification database app worker health"

/* A diamond: top requires left and right, both require base. */
DESC(d_base, "base", NULL);
DESC(d_left, "left", SVC_REQUIRES("base"));
DESC(d_right, "right", SVC_REQUIRES("base"));
DESC(d_top, "top", SVC_REQUIRES("left", "right"));
static const struct svc_desc *const diamond_table[] = {
    &d_top,
    &d_left,
    &d_right,
    &d_base,
};

/* A chain a <- b <- c <- d plus an unrelated e. */
DESC(d_a, "a", NULL);
DESC(d_b, "b", SVC_REQUIRES("a"));
DESC(d_c, "c", SVC_REQUIRES("b"));
DESC(d_d, "d", SVC_REQUIRES("c"));
DESC(d_e, "e", NULL);
static const struct svc_desc *const chain_table[] = {
    &d_a, &d_b, &d_c, &d_d, &d_e,
};

static struct svc_graph *
new_graph(const struct svc_desc *const *table, size_t n)
{
	char *cause = NULL;
	struct svc_graph *g = svc_graph_new(loop, table, n, &cause);

	ck_assert_msg(g != NULL, "svc_graph_new: %s", cause);
	return g;
}

static const char *
events_str(void)
{
	buf_putc(&events, '\0');
	events.len--;
	return buf_head(&events);
}

/* svc_start / svc_stop_all completion. */
struct done {
	int calls;
	int status;
	char *cause;
};

static void
done_cb(struct svc_graph *g, int status, const char *cause, void *arg)
{
	struct done *d = arg;

	d->calls++;
	d->status = status;
	free(d->cause);
	d->cause = cause ? xstrdup(cause) : NULL;
}

static enum svc_state
state_of(const char *name)
{
	struct svc *s = svc_graph_find(graph, name);

	ck_assert_msg(s != NULL, "no service %s", name);
	return svc_state(s);
}

static void
setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	memset(probes, 0, sizeof(probes));
	nprobes = 0;
	buf_reset(&events);
	log_set_level(LOGL_DEBUG);
	tu_log_capture();
	graph = NULL;
}

static void
teardown(void)
{
	size_t i;

	svc_graph_free(graph);
	graph = NULL;
	for (i = 0; i < nprobes; i++) {
		ev_timer_stop(loop, &probes[i].init_timer);
		ev_timer_stop(loop, &probes[i].stop_timer);
		free(probes[i].use_cause);
	}
	ev_loop_destroy(loop);
	loop = NULL;
	tu_log_release();
	buf_free(&events);
}

/* -- 1. validation ------------------------------------------------------ */

static char *
graph_error(const struct svc_desc *const *table, size_t n)
{
	char *cause = NULL;
	struct svc_graph *g = svc_graph_new(loop, table, n, &cause);

	ck_assert_ptr_null(g);
	ck_assert_ptr_nonnull(cause);
	return cause;
}

#define ASSERT_GRAPH_ERROR(table, text)                                        \
	do {                                                                   \
		char *c_ = graph_error((table), ARRAY_SIZE(table));            \
		ck_assert_str_eq(c_, (text));                                  \
		free(c_);                                                      \
	} while (0)

DESC(v_bus_w, "bus", SVC_REQUIRES("worker"));
DESC(v_worker_b, "worker", SVC_REQUIRES("bus"));
DESC(v_alpha, "alpha", SVC_REQUIRES("gamma"));
DESC(v_beta, "beta", SVC_REQUIRES("alpha"));
DESC(v_gamma, "gamma", SVC_REQUIRES("beta"));
DESC(v_self, "cache", SVC_REQUIRES("database", "cache"));
DESC(v_unknown, "user", SVC_REQUIRES("cache", "session"));
DESC(v_self_unknown, "user", SVC_REQUIRES("user", "session"));

START_TEST(test_validate_cycle2)
{
	static const struct svc_desc *const t[] = {&v_bus_w, &v_worker_b};

	ASSERT_GRAPH_ERROR(t, "circular dependency: bus -> worker -> bus");
}
END_TEST

START_TEST(test_validate_cycle3)
{
	static const struct svc_desc *const t[] = {&v_alpha, &v_beta, &v_gamma};
	/* an unknown requirement is reported before any cycle */
	static const struct svc_desc *const t2[] = {&d_cache, &d_app, &v_beta,
	                                            &v_gamma, &v_alpha};

	ASSERT_GRAPH_ERROR(t, "circular dependency: alpha -> gamma -> beta "
	                      "-> alpha");
	ASSERT_GRAPH_ERROR(t2, "service 'app' requires unknown service "
	                       "'user'");
}
END_TEST

DESC(o_top, "top", SVC_REQUIRES("x"));
DESC(o_x, "x", SVC_REQUIRES("y"));
DESC(o_y, "y", SVC_REQUIRES("z"));
DESC(o_z, "z", SVC_REQUIRES("x"));

/* the cycle is reached from a service outside it */
START_TEST(test_validate_cycle_from_outside)
{
	static const struct svc_desc *const t[] = {&o_top, &o_z, &o_y, &o_x};

	ASSERT_GRAPH_ERROR(t, "circular dependency: x -> y -> z -> x");
}
END_TEST

START_TEST(test_validate_texts)
{
	static const struct svc_desc *const dup[] = {&d_cache, &d_user,
	                                             &d_cache};
	static const struct svc_desc *const unknown[] = {&d_cache, &v_unknown};
	static const struct svc_desc *const self[] = {&d_database, &v_self};
	/* per service, an unknown requirement outranks a self one */
	static const struct svc_desc *const both[] = {&v_self_unknown};
	/* in table order: the first bad service's error wins */
	static const struct svc_desc *const first[] = {&v_unknown, &d_cache,
	                                               &d_cache};
	/* a duplicate outranks the same entry's unknown requirement */
	static const struct svc_desc *const dupfirst[] = {&d_user, &d_cache,
	                                                  &v_unknown};

	ASSERT_GRAPH_ERROR(dup, "duplicate service name 'cache'");
	ASSERT_GRAPH_ERROR(unknown, "service 'user' requires unknown service "
	                            "'session'");
	ASSERT_GRAPH_ERROR(self, "service 'cache' requires itself");
	ASSERT_GRAPH_ERROR(both, "service 'user' requires unknown service "
	                         "'session'");
	ASSERT_GRAPH_ERROR(first, "service 'user' requires unknown service "
	                          "'session'");
	ASSERT_GRAPH_ERROR(dupfirst, "duplicate service name 'user'");
}
END_TEST

START_TEST(test_validate_nothing_runs)
{
	static const struct svc_desc *const t[] = {&d_cache, &v_bus_w,
	                                           &v_worker_b};
	char *c = graph_error(t, ARRAY_SIZE(t));

	free(c);
	ck_assert_int_eq(P("cache")->inits, 0);
	ck_assert_uint_eq(events.len, 0);
}
END_TEST

START_TEST(test_validate_ok)
{
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_uint_eq(svc_graph_count(graph), 8);
	ck_assert_ptr_eq(svc_graph_loop(graph), loop);
	ck_assert_ptr_null(svc_graph_find(graph, "nope"));
	ck_assert_ptr_null(svc_graph_at(graph, 8));
	svc_graph_free(graph);
	graph = new_graph(seed_table, 0);
	ck_assert_uint_eq(svc_graph_count(graph), 0);
}
END_TEST

/* -- 2. deterministic order --------------------------------------------- */

static char *
order_str(const struct svc_graph *g)
{
	struct buf b = {0};
	char *r;
	size_t i;

	for (i = 0; i < svc_graph_count(g); i++)
		buf_printf(&b, "%s%s", i ? " " : "",
		           svc_name(svc_graph_at(g, i)));
	r = xstrndup(buf_head(&b), b.len);
	buf_free(&b);
	return r;
}

START_TEST(test_order_kahn_table_ties)
{
	char *o;
	size_t i;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	o = order_str(graph);
	ck_assert_str_eq(o, SEED_ORDER);
	free(o);
	for (i = 0; i < svc_graph_count(graph); i++) {
		struct svc_info info;

		svc_get_info(svc_graph_at(graph, i), &info);
		ck_assert_uint_eq(info.order, i);
	}
	svc_graph_free(graph);
	graph = new_graph(diamond_table, ARRAY_SIZE(diamond_table));
	o = order_str(graph);
	ck_assert_str_eq(o, "base left right top");
	free(o);
}
END_TEST

START_TEST(test_order_same_every_time)
{
	char *first, *o;
	int i;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	first = order_str(graph);
	svc_graph_free(graph);
	graph = NULL;
	for (i = 0; i < 100; i++) {
		struct svc_graph *g =
		    new_graph(seed_table, ARRAY_SIZE(seed_table));

		o = order_str(g);
		ck_assert_str_eq(o, first);
		free(o);
		svc_graph_free(g);
	}
	free(first);
}
END_TEST

/* svc_start(NULL) starts in exactly the start order. */
START_TEST(test_order_boot)
{
	struct done d = {0};

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, 0);
	ck_assert_str_eq(events_str(),
	                 "init:cache init:user init:bus init:notification "
	                 "init:database init:app init:worker init:health ");
	/* the graph came up at its first start: no service started before */
	int64_t up = svc_graph_started_at_us(graph);
	ck_assert_int_gt(up, 0);
	for (size_t i = 0; i < svc_graph_count(graph); i++) {
		struct svc_info in;

		svc_get_info(svc_graph_at(graph, i), &in);
		ck_assert_int_ge(in.started_at_us, up);
	}
	struct svc_info first;
	svc_get_info(svc_graph_at(graph, 0), &first);
	ck_assert_int_eq(first.started_at_us, up);
}
END_TEST

/* -- 3. guarded lazy init ----------------------------------------------- */

START_TEST(test_lazy_closure_only)
{
	char *cause = NULL;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "user", &cause), 0);
	ck_assert_str_eq(events_str(), "init:cache init:user ");
	ck_assert_int_eq(state_of("cache"), SVC_RUNNING);
	ck_assert_int_eq(state_of("user"), SVC_RUNNING);
	ck_assert_int_eq(state_of("database"), SVC_INACTIVE);
	ck_assert_int_eq(state_of("app"), SVC_INACTIVE);
	/* already running: no second init */
	ck_assert_int_eq(svc_use(graph, "user", &cause), 0);
	ck_assert_int_eq(svc_use(graph, "cache", &cause), 0);
	ck_assert_int_eq(P("cache")->inits, 1);
	ck_assert_int_eq(P("user")->inits, 1);
	/* app brings up the rest of its closure, not worker/health */
	ck_assert_int_eq(svc_use(graph, "app", &cause), 0);
	ck_assert_str_eq(events_str(),
	                 "init:cache init:user init:bus init:notification "
	                 "init:database init:app ");
	ck_assert_int_eq(state_of("worker"), SVC_INACTIVE);
	ck_assert_int_eq(state_of("health"), SVC_INACTIVE);
	ck_assert_int_eq(svc_use(graph, "nope", &cause), -1);
	ck_assert_str_eq(cause, "unknown service 'nope'");
	free(cause);
}
END_TEST

START_TEST(test_lazy_diamond_once)
{
	char *cause = NULL;
	struct done d = {0};

	graph = new_graph(diamond_table, ARRAY_SIZE(diamond_table));
	ck_assert_int_eq(svc_use(graph, "top", &cause), 0);
	ck_assert_int_eq(P("base")->inits, 1);
	ck_assert_int_eq(P("left")->inits, 1);
	ck_assert_int_eq(P("right")->inits, 1);
	ck_assert_int_eq(P("top")->inits, 1);
	ck_assert_str_eq(events_str(),
	                 "init:base init:left init:right init:top ");
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(P("base")->inits, 1);
}
END_TEST

START_TEST(test_lazy_diamond_async_once)
{
	struct done d = {0};

	P("base")->init = INIT_ASYNC;
	P("base")->delay = 0.01;
	P("left")->init = INIT_ASYNC;
	P("left")->delay = 0.005;
	graph = new_graph(diamond_table, ARRAY_SIZE(diamond_table));
	svc_start(graph, "left", done_cb, &d);
	svc_start(graph, "top", done_cb, &d);
	svc_start(graph, "right", done_cb, &d);
	ck_assert_int_eq(d.calls, 0);
	RUN_UNTIL(loop, d.calls == 3, 1.0);
	ck_assert_int_eq(d.status, 0);
	ck_assert_int_eq(P("base")->inits, 1);
	ck_assert_int_eq(P("left")->inits, 1);
	ck_assert_int_eq(P("right")->inits, 1);
	ck_assert_int_eq(P("top")->inits, 1);
	ck_assert_int_eq(state_of("top"), SVC_RUNNING);
}
END_TEST

START_TEST(test_lazy_start_unknown)
{
	struct done d = {0};

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_start(graph, "nope", done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.cause, "unknown service 'nope'");
	free(d.cause);
	ck_assert_uint_eq(events.len, 0);
}
END_TEST

/* -- 4. run-time guard -------------------------------------------------- */

START_TEST(test_guard_self_use)
{
	char *cause = NULL;

	P("cache")->use = "cache";
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "cache", &cause), 0);
	ck_assert_int_eq(P("cache")->use_rc, -1);
	ck_assert_str_eq(P("cache")->use_cause,
	                 "service 'cache' used from its own initialization");
	ck_assert_int_eq(P("cache")->inits, 1);
}
END_TEST

START_TEST(test_guard_self_use_from_ping)
{
	char *cause = NULL;

	P("database")->ping_use = "database";
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "database", &cause), 0);
	ck_assert_int_eq(P("database")->use_rc, -1);
	ck_assert_str_eq(P("database")->use_cause,
	                 "service 'database' used from its own "
	                 "initialization");
	P("database")->use_rc = 0;
	ck_assert_int_eq(svc_ping(svc_graph_find(graph, "database"), NULL), 0);
	ck_assert_int_eq(P("database")->use_rc, -1);
	ck_assert_int_eq(P("database")->pings, 2);
}
END_TEST

START_TEST(test_guard_undeclared)
{
	char *cause = NULL;

	P("user")->use = "database";
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "user", &cause), 0);
	ck_assert_int_eq(P("user")->use_rc, -1);
	ck_assert_str_eq(P("user")->use_cause,
	                 "'user' used 'database' during init without "
	                 "requiring it");
	/* nothing was started by the refused call */
	ck_assert_int_eq(state_of("database"), SVC_INACTIVE);
	ck_assert_int_eq(P("database")->inits, 0);
}
END_TEST

START_TEST(test_guard_declared_ok)
{
	char *cause = NULL;

	P("user")->use = "cache";
	P("app")->use = "notification";
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "app", &cause), 0);
	ck_assert_int_eq(P("user")->use_rc, 0);
	ck_assert_ptr_null(P("user")->use_cause);
	ck_assert_int_eq(P("app")->use_rc, 0);
	ck_assert_int_eq(P("cache")->inits, 1);
	/* outside any init, any service may be used */
	ck_assert_int_eq(svc_use(graph, "health", &cause), 0);
}
END_TEST

/* -- 5. ping after init ------------------------------------------------- */

START_TEST(test_ping_after_init_fails)
{
	char *cause = NULL;
	struct svc_info info;

	P("cache")->ping_fail = 1;
	P("cache")->ping_cause = "disk full";
	P("bus")->ping_fail = 1;
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "cache", &cause), -1);
	ck_assert_str_eq(cause, "service 'cache' failed to initialize: ping "
	                        "reported unhealthy: disk full");
	free(cause);
	ck_assert_int_eq(state_of("cache"), SVC_FAILED);
	ck_assert_int_eq(P("cache")->pings, 1);
	ck_assert(log_seen(LOGL_ERR, "service 'cache' failed to initialize: "
	                             "ping reported unhealthy: disk full"));
	ck_assert_int_eq(svc_use(graph, "bus", &cause), -1);
	ck_assert_str_eq(cause, "service 'bus' failed to initialize: ping "
	                        "reported unhealthy");
	free(cause);
	svc_get_info(svc_graph_find(graph, "bus"), &info);
	ck_assert(!info.ping_ok);
	ck_assert_int_gt(info.ping_at_us, 0);
	ck_assert(!log_seen(LOGL_INFO, "started 'bus'"));
}
END_TEST

START_TEST(test_init_failure_text)
{
	char *cause = NULL;

	P("database")->init = INIT_FAIL;
	P("database")->cause = "connection refused";
	P("bus")->init = INIT_FAIL;
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "database", &cause), -1);
	ck_assert_str_eq(cause, "service 'database' failed to initialize: "
	                        "connection refused");
	free(cause);
	ck_assert_int_eq(P("database")->pings, 0);
	/* a failed service is not retried until reset */
	ck_assert_int_eq(svc_use(graph, "database", &cause), -1);
	free(cause);
	ck_assert_int_eq(P("database")->inits, 1);
	ck_assert_int_eq(svc_use(graph, "bus", &cause), -1);
	ck_assert_str_eq(cause, "service 'bus' failed to initialize");
	free(cause);
}
END_TEST

START_TEST(test_ping_records_and_degraded)
{
	char *cause = NULL;
	struct svc *s;
	struct svc_info info;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	s = svc_graph_find(graph, "worker");
	ck_assert_int_eq(svc_ping(s, &cause), -1);
	ck_assert_str_eq(cause, "service 'worker' is not running (inactive)");
	free(cause);
	ck_assert_int_eq(P("worker")->pings, 0);
	ck_assert_int_eq(svc_use(graph, "worker", &cause), 0);
	ck_assert(!svc_degraded(s));
	P("worker")->ping_fail = 1;
	P("worker")->ping_cause = "queue stuck";
	ck_assert_int_eq(svc_ping(s, &cause), -1);
	ck_assert_str_eq(cause, "queue stuck");
	free(cause);
	ck_assert(svc_degraded(s));
	ck_assert_int_eq(svc_state(s), SVC_RUNNING);
	svc_get_info(s, &info);
	ck_assert(!info.ping_ok);
	ck_assert_str_eq(info.ping_error, "queue stuck");
	ck_assert_int_ge(info.ping_latency_us, 0);
	/* a dependent cannot rely on it; it is not its own bad dependency */
	ck_assert_int_eq(svc_use(graph, "health", &cause), 0);
	ck_assert_str_eq(svc_bad_dependency(svc_graph_find(graph, "health")),
	                 "worker");
	ck_assert_ptr_null(svc_bad_dependency(s));
	P("worker")->ping_fail = 0;
	ck_assert_int_eq(svc_ping(s, NULL), 0);
	ck_assert(!svc_degraded(s));
	ck_assert_ptr_null(svc_bad_dependency(svc_graph_find(graph, "health")));
	svc_get_info(s, &info);
	ck_assert(info.ping_ok);
	ck_assert_ptr_null(info.ping_error);
	/* through the closure: app -> user -> cache */
	ck_assert_int_eq(svc_use(graph, "app", &cause), 0);
	P("cache")->ping_fail = 1;
	ck_assert_int_eq(svc_ping(svc_graph_find(graph, "cache"), NULL), -1);
	ck_assert_str_eq(svc_bad_dependency(svc_graph_find(graph, "app")),
	                 "cache");
	P("cache")->ping_fail = 0;
}
END_TEST

/* SVC_PING_FAILED: running but failed until someone fixes something. */
START_TEST(test_ping_failed_severity)
{
	char *cause = NULL;
	struct svc *s;
	struct svc *h;
	struct svc_info info;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "health", &cause), 0);
	s = svc_graph_find(graph, "worker");
	h = svc_graph_find(graph, "health");
	ck_assert(!svc_ping_failed(s));
	P("worker")->ping_fail = SVC_PING_FAILED;
	P("worker")->ping_cause = "password refused";
	/* svc_ping's result stays 0 or -1; the severity is recorded */
	ck_assert_int_eq(svc_ping(s, &cause), -1);
	ck_assert_str_eq(cause, "password refused");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(svc_state(s), SVC_RUNNING);
	ck_assert(svc_degraded(s));
	ck_assert(svc_ping_failed(s));
	svc_get_info(s, &info);
	ck_assert(!info.ping_ok);
	ck_assert(info.ping_failed);
	ck_assert_str_eq(info.ping_error, "password refused");
	/* a dependent cannot rely on it */
	ck_assert_str_eq(svc_bad_dependency(h), "worker");
	ck_assert_ptr_null(svc_bad_dependency(s));
	/* reported failed; its dependent degraded */
	ck_assert_int_eq(svc_reported_state(s), SVC_FAILED);
	ck_assert_str_eq(svc_state_word(s), "failed");
	ck_assert_int_eq(svc_reported_state(h), SVC_RUNNING);
	ck_assert_str_eq(svc_state_word(h), "degraded");

	/* -1 is unhealthy, not failed; so is any other non-zero value */
	P("worker")->ping_fail = 1;
	P("worker")->ping_cause = "queue stuck";
	ck_assert_int_eq(svc_ping(s, NULL), -1);
	ck_assert(svc_degraded(s));
	ck_assert(!svc_ping_failed(s));
	svc_get_info(s, &info);
	ck_assert(!info.ping_failed);
	ck_assert_str_eq(info.ping_error, "queue stuck");
	ck_assert_str_eq(svc_bad_dependency(h), "worker");
	ck_assert_int_eq(svc_reported_state(s), SVC_RUNNING);
	ck_assert_str_eq(svc_state_word(s), "degraded");
	P("worker")->ping_fail = 7;
	ck_assert_int_eq(svc_ping(s, NULL), -1);
	ck_assert(svc_degraded(s));
	ck_assert(!svc_ping_failed(s));

	/* failed without a cause: the default reason */
	P("worker")->ping_fail = SVC_PING_FAILED;
	P("worker")->ping_cause = NULL;
	ck_assert_int_eq(svc_ping(s, NULL), -1);
	ck_assert(svc_ping_failed(s));
	svc_get_info(s, &info);
	ck_assert_str_eq(info.ping_error, "ping reported unhealthy");

	/* a healthy ping again: back to ok */
	P("worker")->ping_fail = 0;
	ck_assert_int_eq(svc_ping(s, NULL), 0);
	ck_assert(!svc_degraded(s));
	ck_assert(!svc_ping_failed(s));
	svc_get_info(s, &info);
	ck_assert(info.ping_ok);
	ck_assert(!info.ping_failed);
	ck_assert_ptr_null(info.ping_error);
	ck_assert_ptr_null(svc_bad_dependency(h));
	ck_assert_str_eq(svc_state_word(s), "running");
	ck_assert_str_eq(svc_state_word(h), "running");

	/* only while running; a reset forgets it */
	P("worker")->ping_fail = SVC_PING_FAILED;
	ck_assert_int_eq(svc_ping(s, NULL), -1);
	svc_stop_all(graph, NULL, NULL);
	ck_assert_int_eq(svc_state(s), SVC_STOPPED);
	ck_assert(!svc_ping_failed(s));
	svc_reset(graph);
	svc_get_info(s, &info);
	ck_assert(!info.ping_failed);
	P("worker")->ping_fail = 0;
}
END_TEST

/* The ping after init: a failed severity fails the init like -1. */
START_TEST(test_ping_failed_after_init)
{
	char *cause = NULL;

	P("cache")->ping_fail = SVC_PING_FAILED;
	P("cache")->ping_cause = "license refused";
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "cache", &cause), -1);
	ck_assert_str_eq(cause, "service 'cache' failed to initialize: ping "
	                        "reported unhealthy: license refused");
	free(cause);
	ck_assert_int_eq(state_of("cache"), SVC_FAILED);
	ck_assert(!svc_ping_failed(svc_graph_find(graph, "cache")));
}
END_TEST

/*
 * ping_failed sits in the padding after ping_ok: struct svc_info keeps the
 * size and the offsets of the members it had before (a program built
 * against the earlier header still reads every one of them right).
 */
struct svc_info_before {
	const char *name;
	const char *const *requires;
	enum svc_state state;
	size_t order;
	double init_ms;
	int64_t started_at_us;
	int64_t ping_at_us;
	bool ping_ok;
	int64_t ping_latency_us;
	const char *ping_error;
	const char *error;
	const char *blocked_by;
	bool required;
};

#define SAME_OFFSET(m)                                                         \
	ck_assert_uint_eq(offsetof(struct svc_info, m),                        \
	                  offsetof(struct svc_info_before, m))

START_TEST(test_info_layout_kept)
{
	ck_assert_uint_eq(sizeof(struct svc_info),
	                  sizeof(struct svc_info_before));
	SAME_OFFSET(name);
	SAME_OFFSET(requires);
	SAME_OFFSET(state);
	SAME_OFFSET(order);
	SAME_OFFSET(init_ms);
	SAME_OFFSET(started_at_us);
	SAME_OFFSET(ping_at_us);
	SAME_OFFSET(ping_ok);
	SAME_OFFSET(ping_latency_us);
	SAME_OFFSET(ping_error);
	SAME_OFFSET(error);
	SAME_OFFSET(blocked_by);
	SAME_OFFSET(required);
	ck_assert_uint_lt(offsetof(struct svc_info, ping_failed),
	                  offsetof(struct svc_info, ping_latency_us));
}
END_TEST

/* -- 6. failure propagation --------------------------------------------- */

START_TEST(test_failure_blocks_dependents)
{
	struct done d = {0};
	char *cause = NULL;
	struct svc_info info;

	P("b")->init = INIT_FAIL;
	P("b")->cause = "boom";
	graph = new_graph(chain_table, ARRAY_SIZE(chain_table));
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.cause, "service 'b' failed to initialize: boom");
	free(d.cause);
	ck_assert_int_eq(state_of("a"), SVC_RUNNING);
	ck_assert_int_eq(state_of("b"), SVC_FAILED);
	ck_assert_int_eq(state_of("c"), SVC_BLOCKED);
	ck_assert_int_eq(state_of("d"), SVC_BLOCKED);
	ck_assert_int_eq(state_of("e"), SVC_RUNNING);
	ck_assert_int_eq(P("c")->inits, 0);
	ck_assert_int_eq(P("d")->inits, 0);
	svc_get_info(svc_graph_find(graph, "d"), &info);
	ck_assert_str_eq(info.blocked_by, "b");
	ck_assert_str_eq(info.error, "failed to initialize d because of b: "
	                             "service 'b' failed to initialize: boom");
	svc_get_info(svc_graph_find(graph, "c"), &info);
	ck_assert_str_eq(info.blocked_by, "b");
	svc_get_info(svc_graph_find(graph, "b"), &info);
	ck_assert_ptr_null(info.blocked_by);
	ck_assert_str_eq(info.error, "service 'b' failed to initialize: boom");
	ck_assert(log_seen(LOGL_ERR, "service 'b' failed to initialize: boom"));
	ck_assert_int_eq(svc_use(graph, "c", &cause), -1);
	ck_assert_str_eq(cause, "failed to initialize c because of b: "
	                        "service 'b' failed to initialize: boom");
	free(cause);
}
END_TEST

START_TEST(test_failure_start_target)
{
	struct done d = {0};

	P("user")->init = INIT_FAIL;
	P("user")->cause = "no table";
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_start(graph, "app", done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.cause, "failed to initialize app because of user: "
	                          "service 'user' failed to initialize: no "
	                          "table");
	free(d.cause);
	d.cause = NULL;
	ck_assert_int_eq(state_of("cache"), SVC_RUNNING);
	ck_assert_int_eq(state_of("notification"), SVC_RUNNING);
	ck_assert_int_eq(state_of("database"), SVC_RUNNING);
	ck_assert_int_eq(state_of("worker"), SVC_INACTIVE);
	ck_assert_int_eq(P("app")->inits, 0);
	/* the rest of the graph still comes up */
	svc_start(graph, "health", done_cb, &d);
	ck_assert_int_eq(d.calls, 2);
	ck_assert_int_eq(d.status, 0);
	ck_assert_int_eq(state_of("health"), SVC_RUNNING);
}
END_TEST

START_TEST(test_failure_async_blocks)
{
	struct done d = {0};

	P("a")->init = INIT_ASYNC;
	P("a")->delay = 0.005;
	P("a")->async_status = -1;
	P("a")->cause = "late boom";
	graph = new_graph(chain_table, ARRAY_SIZE(chain_table));
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 0);
	ck_assert_int_eq(state_of("e"), SVC_RUNNING);
	RUN_UNTIL(loop, d.calls == 1, 1.0);
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.cause, "service 'a' failed to initialize: "
	                          "late boom");
	free(d.cause);
	ck_assert_int_eq(state_of("d"), SVC_BLOCKED);
	ck_assert_int_eq(P("b")->inits, 0);
}
END_TEST

/* -- 6b. start policy: optional services -------------------------------- */

#define ODESC(var, nm, ...)                                                    \
	static const struct svc_desc var = {.name = nm,                        \
	                                    .requires = __VA_ARGS__,           \
	                                    .init = t_init,                    \
	                                    .ping = t_ping,                    \
	                                    .stop = t_stop,                    \
	                                    .optional = true}

/* core <- opt <- optdep (both optional); other is required and unrelated. */
DESC(o_core, "core", NULL);
ODESC(o_opt, "opt", SVC_REQUIRES("core"));
ODESC(o_optdep, "optdep", SVC_REQUIRES("opt"));
DESC(o_other, "other", NULL);
static const struct svc_desc *const optional_table[] = {
    &o_core,
    &o_opt,
    &o_optdep,
    &o_other,
};
/* The same with a required service behind the optional one. */
DESC(o_reqdep, "reqdep", SVC_REQUIRES("opt"));
static const struct svc_desc *const optional_req_table[] = {
    &o_core,
    &o_opt,
    &o_reqdep,
};

START_TEST(test_optional_policy_defaults)
{
	struct svc_info info;

	graph = new_graph(optional_table, ARRAY_SIZE(optional_table));
	ck_assert(svc_required(svc_graph_find(graph, "core")));
	ck_assert(!svc_required(svc_graph_find(graph, "opt")));
	svc_get_info(svc_graph_find(graph, "opt"), &info);
	ck_assert(!info.required);
	svc_get_info(svc_graph_find(graph, "other"), &info);
	ck_assert(info.required);
	svc_set_required(svc_graph_find(graph, "opt"), true);
	ck_assert(svc_required(svc_graph_find(graph, "opt")));
	svc_reset(graph); /* the policy is not run-time state */
	ck_assert(svc_required(svc_graph_find(graph, "opt")));
}
END_TEST

START_TEST(test_optional_failure_start_completes)
{
	struct done d = {0};
	struct svc_info info;

	P("opt")->init = INIT_FAIL;
	P("opt")->cause = "no redis";
	graph = new_graph(optional_table, ARRAY_SIZE(optional_table));
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, 0);
	ck_assert_ptr_null(d.cause);
	ck_assert_int_eq(state_of("core"), SVC_RUNNING);
	ck_assert_int_eq(state_of("opt"), SVC_FAILED);
	ck_assert_int_eq(state_of("optdep"), SVC_BLOCKED);
	ck_assert_int_eq(state_of("other"), SVC_RUNNING);
	ck_assert_int_eq(P("optdep")->inits, 0);
	svc_get_info(svc_graph_find(graph, "opt"), &info);
	ck_assert_str_eq(info.error, "service 'opt' failed to initialize: no "
	                             "redis");
	svc_get_info(svc_graph_find(graph, "optdep"), &info);
	ck_assert_str_eq(info.blocked_by, "opt");
	ck_assert(log_seen(LOGL_ERR, "service 'opt' failed to initialize: no "
	                             "redis (optional: the others go on "
	                             "without it)"));
	/* a start of the optional service itself still reports its failure */
	d.calls = 0;
	svc_start(graph, "optdep", done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.cause, "failed to initialize optdep because of opt: "
	                          "service 'opt' failed to initialize: no "
	                          "redis");
	free(d.cause);
}
END_TEST

START_TEST(test_optional_ping_and_async_failure)
{
	struct done d = {0};

	/* unhealthy right after init, and a late async failure */
	P("opt")->ping_fail = 1;
	P("opt")->ping_cause = "link down";
	P("other")->init = INIT_ASYNC;
	P("other")->delay = 0.005;
	graph = new_graph(optional_table, ARRAY_SIZE(optional_table));
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 0); /* other is still starting */
	RUN_UNTIL(loop, d.calls == 1, 1.0);
	ck_assert_int_eq(d.status, 0);
	ck_assert_int_eq(state_of("opt"), SVC_FAILED);
	ck_assert_int_eq(state_of("optdep"), SVC_BLOCKED);
	ck_assert_int_eq(state_of("other"), SVC_RUNNING);

	svc_reset(graph);
	memset(&d, 0, sizeof(d));
	P("opt")->ping_fail = 0;
	P("other")->init = INIT_OK;
	P("optdep")->init = INIT_ASYNC;
	P("optdep")->delay = 0.005;
	P("optdep")->async_status = -1;
	P("optdep")->cause = "late boom";
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 0);
	RUN_UNTIL(loop, d.calls == 1, 1.0);
	ck_assert_int_eq(d.status, 0);
	ck_assert_int_eq(state_of("opt"), SVC_RUNNING);
	ck_assert_int_eq(state_of("optdep"), SVC_FAILED);
}
END_TEST

START_TEST(test_optional_made_required_fails_start)
{
	struct done d = {0};

	P("opt")->init = INIT_FAIL;
	P("opt")->cause = "no redis";
	graph = new_graph(optional_table, ARRAY_SIZE(optional_table));
	svc_set_required(svc_graph_find(graph, "opt"), true);
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.cause, "service 'opt' failed to initialize: no "
	                          "redis");
	free(d.cause);
	ck_assert(log_seen(LOGL_ERR, "service 'opt' failed to initialize: no "
	                             "redis"));
	ck_assert_int_eq(state_of("other"), SVC_RUNNING);
}
END_TEST

START_TEST(test_optional_blocks_required_fails_start)
{
	struct done d = {0};

	P("opt")->init = INIT_FAIL;
	P("opt")->cause = "no redis";
	graph = new_graph(optional_req_table, ARRAY_SIZE(optional_req_table));
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.cause, "failed to initialize reqdep because of opt: "
	                          "service 'opt' failed to initialize: no "
	                          "redis");
	free(d.cause);
	ck_assert_int_eq(state_of("reqdep"), SVC_BLOCKED);
}
END_TEST

/* -- 7. async init ------------------------------------------------------ */

START_TEST(test_async_reverse_completion)
{
	struct done d = {0};
	char *cause = NULL;

	/* app's three requirements complete in reverse start order */
	P("user")->init = INIT_ASYNC;
	P("user")->delay = 0.030;
	P("notification")->init = INIT_ASYNC;
	P("notification")->delay = 0.020;
	P("database")->init = INIT_ASYNC;
	P("database")->delay = 0.010;
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "app", &cause), SVC_PENDING);
	ck_assert_int_eq(state_of("user"), SVC_STARTING);
	ck_assert_int_eq(state_of("app"), SVC_INACTIVE);
	svc_start(graph, "app", done_cb, &d);
	ck_assert_int_eq(d.calls, 0);
	RUN_UNTIL(loop, state_of("database") == SVC_RUNNING, 1.0);
	ck_assert_int_eq(state_of("user"), SVC_STARTING);
	ck_assert_int_eq(P("app")->inits, 0);
	RUN_UNTIL(loop, d.calls == 1, 1.0);
	ck_assert_int_eq(d.status, 0);
	ck_assert_int_eq(state_of("app"), SVC_RUNNING);
	ck_assert_str_eq(events_str(),
	                 "init:cache init:user init:bus init:notification "
	                 "init:database done:database done:notification "
	                 "done:user init:app ");
	ck_assert_int_eq(P("app")->inits, 1);
	ck_assert_int_eq(svc_use(graph, "app", &cause), 0);
}
END_TEST

START_TEST(test_async_done_inside_init)
{
	char *cause = NULL;

	P("cache")->init = INIT_EARLY;
	P("database")->init = INIT_EARLY;
	P("database")->async_status = -1;
	P("database")->cause = "early no";
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "user", &cause), 0);
	ck_assert_int_eq(state_of("cache"), SVC_RUNNING);
	ck_assert_int_eq(svc_use(graph, "database", &cause), -1);
	ck_assert_str_eq(cause, "service 'database' failed to initialize: "
	                        "early no");
	free(cause);
	/* no timer left behind: nothing changes later */
	tu_run_for(loop, 0.03);
	ck_assert_int_eq(state_of("cache"), SVC_RUNNING);
}
END_TEST

START_TEST(test_async_init_timeout)
{
	struct done d = {0};
	struct svc_info info;

	P("bus")->init = INIT_HANG;
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_graph_set_timeouts(graph, 0.02, 0);
	svc_start(graph, "notification", done_cb, &d);
	ck_assert_int_eq(d.calls, 0);
	RUN_UNTIL(loop, d.calls == 1, 1.0);
	ck_assert_int_eq(d.status, -1);
	ck_assert_str_eq(d.cause, "failed to initialize notification because "
	                          "of bus: service 'bus' did not finish "
	                          "initializing within 20ms");
	free(d.cause);
	svc_get_info(svc_graph_find(graph, "bus"), &info);
	ck_assert_int_eq(info.state, SVC_FAILED);
	ck_assert_str_eq(info.error, "service 'bus' did not finish "
	                             "initializing within 20ms");
	ck_assert(log_seen(LOGL_ERR, "service 'bus' did not finish "
	                             "initializing within 20ms"));
	/* a late completion is ignored */
	svc_init_done(P("bus")->svc, 0, NULL);
	ck_assert_int_eq(info.state, SVC_FAILED);
	ck_assert_int_eq(state_of("bus"), SVC_FAILED);
	ck_assert(log_seen(LOGL_DEBUG, "ignoring a late init completion of "
	                               "'bus'"));
}
END_TEST

START_TEST(test_async_desc_timeout)
{
	static const struct svc_desc slow = {
	    .name = "slowdb", .init = t_init, .init_timeout = 0.015};
	static const struct svc_desc *const t[] = {&slow, &d_cache};
	char *cause = NULL;

	P("slowdb")->init = INIT_HANG;
	graph = new_graph(t, ARRAY_SIZE(t));
	ck_assert_int_eq(svc_use(graph, "slowdb", &cause), SVC_PENDING);
	RUN_UNTIL(loop, state_of("slowdb") == SVC_FAILED, 1.0);
	ck_assert_int_eq(svc_use(graph, "slowdb", &cause), -1);
	ck_assert_str_eq(cause, "service 'slowdb' did not finish "
	                        "initializing within 15ms");
	free(cause);
}
END_TEST

/* -- 8. stop ------------------------------------------------------------ */

START_TEST(test_stop_reverse_order)
{
	struct done d = {0}, s = {0};

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_start(graph, NULL, done_cb, &d);
	ck_assert_int_eq(d.status, 0);
	buf_reset(&events);
	svc_stop_all(graph, done_cb, &s);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.status, 0);
	ck_assert_ptr_null(s.cause);
	ck_assert_str_eq(events_str(),
	                 "stop:health stop:worker stop:app stop:database "
	                 "stop:notification stop:bus stop:user stop:cache ");
	ck_assert_int_eq(state_of("cache"), SVC_STOPPED);
	ck_assert(log_seen(LOGL_INFO, "stopped 'cache'"));
	ck_assert(log_seen(LOGL_INFO, "started 'cache' in "));
}
END_TEST

START_TEST(test_stop_only_started)
{
	struct done d = {0}, s = {0};

	P("b")->init = INIT_FAIL;
	graph = new_graph(chain_table, ARRAY_SIZE(chain_table));
	svc_start(graph, "d", done_cb, &d);
	ck_assert_int_eq(d.status, -1);
	free(d.cause);
	buf_reset(&events);
	svc_stop_all(graph, done_cb, &s);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.status, 0);
	ck_assert_str_eq(events_str(), "stop:a ");
	ck_assert_int_eq(P("b")->stops, 0);
	ck_assert_int_eq(state_of("b"), SVC_FAILED);
	ck_assert_int_eq(state_of("c"), SVC_BLOCKED);
	ck_assert_int_eq(state_of("e"), SVC_INACTIVE);
}
END_TEST

START_TEST(test_stop_async)
{
	struct done d = {0}, s = {0};

	P("bus")->stop = STOP_ASYNC;
	P("bus")->delay = 0.01;
	P("notification")->stop = STOP_EARLY;
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_use(graph, "notification", NULL);
	svc_use(graph, "cache", NULL);
	svc_stop_all(graph, done_cb, &s);
	ck_assert_int_eq(s.calls, 0);
	ck_assert_int_eq(state_of("notification"), SVC_STOPPED);
	ck_assert_int_eq(state_of("bus"), SVC_STOPPING);
	/* cache waits for bus: a dependency order is kept sequential */
	ck_assert_int_eq(state_of("cache"), SVC_RUNNING);
	RUN_UNTIL(loop, s.calls == 1, 1.0);
	ck_assert_int_eq(s.status, 0);
	ck_assert_int_eq(state_of("bus"), SVC_STOPPED);
	ck_assert_int_eq(state_of("cache"), SVC_STOPPED);
	(void)d;
}
END_TEST

START_TEST(test_stop_timeout)
{
	struct done s = {0}, s2 = {0};

	P("bus")->stop = STOP_HANG;
	P("user")->stop = STOP_HANG;
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_graph_set_timeouts(graph, 0, 0.02);
	svc_use(graph, "app", NULL);
	svc_stop_all(graph, done_cb, &s);
	svc_stop_all(graph, done_cb, &s2); /* joins the running stop */
	ck_assert_int_eq(s.calls, 0);
	RUN_UNTIL(loop, s.calls == 1, 1.0);
	ck_assert_int_eq(s.status, -1);
	ck_assert_str_eq(s.cause,
	                 "services that did not stop in time: bus, user");
	ck_assert_int_eq(s2.calls, 1);
	ck_assert_str_eq(s2.cause, s.cause);
	free(s.cause);
	free(s2.cause);
	ck_assert(log_seen(LOGL_WARN, "service 'bus' did not stop within "
	                              "20ms"));
	ck_assert(log_seen(LOGL_WARN, "service 'user' did not stop within "
	                              "20ms"));
	ck_assert_int_eq(state_of("bus"), SVC_STOPPED);
	ck_assert_int_eq(state_of("cache"), SVC_STOPPED);
	ck_assert_int_eq(P("cache")->stops, 1);
	/* a late stop completion is ignored */
	svc_stop_done(P("bus")->svc);
	ck_assert_int_eq(state_of("bus"), SVC_STOPPED);
}
END_TEST

START_TEST(test_stop_cancels_starting)
{
	struct done d = {0}, s = {0};

	P("cache")->init = INIT_ASYNC;
	P("cache")->delay = 0.01;
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_graph_set_timeouts(graph, 0.02, 0);
	svc_start(graph, "user", done_cb, &d);
	ck_assert_int_eq(state_of("cache"), SVC_STARTING);
	svc_stop_all(graph, done_cb, &s);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.status, 0);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.status, -1);
	free(d.cause);
	ck_assert_int_eq(state_of("cache"), SVC_STOPPED);
	ck_assert_int_eq(state_of("user"), SVC_INACTIVE);
	ck_assert_int_eq(P("cache")->stops, 0);
	/* neither the late completion nor the init timeout changes it */
	tu_run_for(loop, 0.04);
	ck_assert_int_eq(state_of("cache"), SVC_STOPPED);
	ck_assert_int_eq(P("user")->inits, 0);
}
END_TEST

/* A start completion that also notes whether the graph was stopping. */
struct start_seen {
	int calls;
	int status;
	bool stopping;
};

static void
start_seen_cb(struct svc_graph *g, int status, const char *cause, void *arg)
{
	struct start_seen *r = arg;

	r->calls++;
	r->status = status;
	r->stopping = svc_graph_stopping(g);
}

/*
 * A stop while a start is under way: what started is stopped in reverse
 * order, the pending start completes with -1 while svc_graph_stopping() is
 * true (a cancelled start, not a failure); a real init failure completes
 * while it is false.
 */
START_TEST(test_stop_during_start_is_told_apart)
{
	struct start_seen r = {0}, f = {0};
	struct done s = {0};

	P("c")->init = INIT_HANG;
	P("e")->init = INIT_FAIL;
	graph = new_graph(chain_table, ARRAY_SIZE(chain_table));
	ck_assert(!svc_graph_stopping(graph));
	svc_start(graph, "e", start_seen_cb, &f);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.status, -1);
	ck_assert(!f.stopping); /* a real failure */

	svc_start(graph, "d", start_seen_cb, &r);
	ck_assert_int_eq(state_of("b"), SVC_RUNNING);
	ck_assert_int_eq(state_of("c"), SVC_STARTING);
	ck_assert_int_eq(r.calls, 0);
	buf_reset(&events);
	svc_stop_all(graph, done_cb, &s);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.status, -1);
	ck_assert(r.stopping); /* cancelled by the stop */
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.status, 0);
	ck_assert(!svc_graph_stopping(graph));
	ck_assert_str_eq(events_str(), "stop:b stop:a ");
	ck_assert_int_eq(state_of("c"), SVC_STOPPED);
	ck_assert_int_eq(state_of("d"), SVC_INACTIVE);
	ck_assert_int_eq(P("c")->stops, 0);
	free(s.cause);
}
END_TEST

/* -- 9. states and observers -------------------------------------------- */

static void
observer(struct svc *s, enum svc_state from, enum svc_state to, void *arg)
{
	struct buf *b = arg;

	/* the state has already changed */
	ck_assert_int_eq(svc_state(s), to);
	buf_printf(b, "%s:%s>%s ", svc_name(s), svc_state_name(from),
	           svc_state_name(to));
}

START_TEST(test_observers_see_transitions)
{
	struct buf b1 = {0}, b2 = {0};
	struct done d = {0};

	P("c")->init = INIT_FAIL;
	graph = new_graph(chain_table, ARRAY_SIZE(chain_table));
	svc_graph_add_observer(graph, observer, &b1);
	svc_graph_add_observer(graph, observer, &b2);
	svc_start(graph, "d", done_cb, &d);
	free(d.cause);
	svc_graph_remove_observer(graph, observer, &b2);
	svc_stop_all(graph, NULL, NULL);
	buf_putc(&b1, '\0');
	buf_putc(&b2, '\0');
	ck_assert_str_eq(buf_head(&b1),
	                 "a:inactive>starting a:starting>running "
	                 "b:inactive>starting b:starting>running "
	                 "c:inactive>starting c:starting>failed "
	                 "d:inactive>blocked "
	                 "b:running>stopping b:stopping>stopped "
	                 "a:running>stopping a:stopping>stopped ");
	ck_assert_str_eq(buf_head(&b2),
	                 "a:inactive>starting a:starting>running "
	                 "b:inactive>starting b:starting>running "
	                 "c:inactive>starting c:starting>failed "
	                 "d:inactive>blocked ");
	buf_free(&b1);
	buf_free(&b2);
}
END_TEST

struct once {
	int calls;
};

static void
observer_once(struct svc *s, enum svc_state from, enum svc_state to, void *arg)
{
	struct once *o = arg;

	o->calls++;
	svc_graph_remove_observer(svc_graph(s), observer_once, arg);
}

/* An observer removing itself does not make the next one miss a call. */
START_TEST(test_observer_removes_itself)
{
	struct buf b = {0};
	struct once o = {0};

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	svc_graph_add_observer(graph, observer_once, &o);
	svc_graph_add_observer(graph, observer, &b);
	svc_start(graph, "cache", NULL, NULL);
	ck_assert_int_eq(o.calls, 1);
	buf_putc(&b, '\0');
	ck_assert_str_eq(buf_head(&b), "cache:inactive>starting "
	                               "cache:starting>running ");
	buf_free(&b);
}
END_TEST

START_TEST(test_state_names)
{
	ck_assert_str_eq(svc_state_name(SVC_INACTIVE), "inactive");
	ck_assert_str_eq(svc_state_name(SVC_STARTING), "starting");
	ck_assert_str_eq(svc_state_name(SVC_RUNNING), "running");
	ck_assert_str_eq(svc_state_name(SVC_STOPPING), "stopping");
	ck_assert_str_eq(svc_state_name(SVC_STOPPED), "stopped");
	ck_assert_str_eq(svc_state_name(SVC_FAILED), "failed");
	ck_assert_str_eq(svc_state_name(SVC_BLOCKED), "blocked");
}
END_TEST

/* -- 10. introspection -------------------------------------------------- */

START_TEST(test_introspection)
{
	struct svc_info info;
	struct svc *s;
	int64_t before = util_now_us();
	int x;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	s = svc_graph_find(graph, "app");
	ck_assert_str_eq(svc_name(s), "app");
	ck_assert_ptr_eq(svc_desc(s), &d_app);
	ck_assert_ptr_eq(svc_graph(s), graph);
	ck_assert_ptr_eq(svc_loop(s), loop);
	svc_get_info(s, &info);
	ck_assert_str_eq(info.name, "app");
	ck_assert_str_eq(info.requires[0], "user");
	ck_assert_str_eq(info.requires[1], "database");
	ck_assert_str_eq(info.requires[2], "notification");
	ck_assert_ptr_null(info.requires[3]);
	ck_assert_int_eq(info.state, SVC_INACTIVE);
	ck_assert_uint_eq(info.order, 5);
	ck_assert(info.init_ms == -1);
	ck_assert_int_eq(info.started_at_us, 0);
	ck_assert_int_eq(info.ping_at_us, 0);
	ck_assert_ptr_null(info.error);
	ck_assert_ptr_null(info.ping_error);
	ck_assert_ptr_null(info.blocked_by);

	svc_get_info(svc_graph_find(graph, "cache"), &info);
	ck_assert_ptr_nonnull(info.requires);
	ck_assert_ptr_null(info.requires[0]);

	ck_assert_int_eq(svc_use(graph, "app", NULL), 0);
	svc_get_info(s, &info);
	ck_assert_int_eq(info.state, SVC_RUNNING);
	ck_assert(info.init_ms >= 0);
	ck_assert_int_ge(info.started_at_us, before);
	ck_assert_int_ge(info.ping_at_us, before);
	ck_assert(info.ping_ok);
	ck_assert_int_ge(info.ping_latency_us, 0);
	ck_assert_ptr_null(info.error);

	svc_graph_set_user(graph, &x);
	ck_assert_ptr_eq(svc_graph_user(graph), &x);
}
END_TEST

/* -- print -------------------------------------------------------------- */

static char *
print_graph(bool dot)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	svc_graph_print(graph, f, dot);
	fclose(f);
	return text;
}

START_TEST(test_print_text)
{
	char *t;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	t = print_graph(false);
	ck_assert_str_eq(t, "start order: " SEED_ORDER "\n"
	                    "  1. cache          (no requirements)\n"
	                    "  2. user           requires cache\n"
	                    "  3. bus            (no requirements)\n"
	                    "  4. notification   requires bus\n"
	                    "  5. database       (no requirements)\n"
	                    "  6. app            requires user, database, "
	                    "notification\n"
	                    "  7. worker         (no requirements)\n"
	                    "  8. health         requires worker\n");
	free(t);
}
END_TEST

START_TEST(test_print_dot)
{
	char *t;

	graph = new_graph(diamond_table, ARRAY_SIZE(diamond_table));
	t = print_graph(true);
	ck_assert_str_eq(t, "digraph svcd {\n"
	                    "  rankdir=LR;\n"
	                    "  \"base\";\n"
	                    "  \"left\";\n"
	                    "  \"right\";\n"
	                    "  \"top\";\n"
	                    "  \"left\" -> \"base\";\n"
	                    "  \"right\" -> \"base\";\n"
	                    "  \"top\" -> \"left\";\n"
	                    "  \"top\" -> \"right\";\n"
	                    "}\n");
	free(t);
}
END_TEST

/* -- 11. reset ---------------------------------------------------------- */

START_TEST(test_reset_clears)
{
	struct svc_info info;
	char *cause = NULL;

	P("b")->init = INIT_FAIL;
	P("e")->init = INIT_HANG;
	graph = new_graph(chain_table, ARRAY_SIZE(chain_table));
	svc_graph_set_timeouts(graph, 0.02, 0);
	ck_assert_int_eq(svc_use(graph, "d", &cause), -1);
	free(cause);
	ck_assert_int_eq(svc_use(graph, "e", &cause), SVC_PENDING);
	svc_reset(graph);
	for (size_t i = 0; i < svc_graph_count(graph); i++) {
		svc_get_info(svc_graph_at(graph, i), &info);
		ck_assert_int_eq(info.state, SVC_INACTIVE);
		ck_assert_ptr_null(info.error);
		ck_assert_ptr_null(info.blocked_by);
		ck_assert(info.init_ms == -1);
		ck_assert_int_eq(info.started_at_us, 0);
		ck_assert_int_eq(info.ping_at_us, 0);
	}
	/* e's init timer was cancelled */
	tu_run_for(loop, 0.04);
	ck_assert_int_eq(state_of("e"), SVC_INACTIVE);
	/* and everything can come up again */
	P("b")->init = INIT_OK;
	ck_assert_int_eq(svc_use(graph, "d", &cause), 0);
	ck_assert_int_eq(P("a")->inits, 2);
}
END_TEST

START_TEST(test_reset_1000)
{
	struct done d = {0}, s = {0};
	int i;

	P("bus")->ping_fail = 0;
	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	for (i = 0; i < 1000; i++) {
		svc_start(graph, NULL, done_cb, &d);
		ck_assert_int_eq(d.status, 0);
		svc_stop_all(graph, done_cb, &s);
		ck_assert_int_eq(s.status, 0);
		svc_reset(graph);
		buf_reset(&events);
		tu_log_capture(); /* empties the captured lines */
	}
	ck_assert_int_eq(d.calls, 1000);
	ck_assert_int_eq(s.calls, 1000);
	ck_assert_int_eq(P("app")->inits, 1000);
	ck_assert_int_eq(P("cache")->stops, 1000);
}
END_TEST

/* After stop the graph may be started again without a reset. */
START_TEST(test_restart_after_stop)
{
	char *cause = NULL;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "user", &cause), 0);
	svc_stop_all(graph, NULL, NULL);
	ck_assert_int_eq(state_of("user"), SVC_STOPPED);
	ck_assert_int_eq(svc_use(graph, "user", &cause), 0);
	ck_assert_int_eq(P("cache")->inits, 2);
}
END_TEST

/* -- 12. one thread, no globals: graphs coexist ------------------------- */

START_TEST(test_graphs_coexist)
{
	struct svc_graph *g2;
	char *cause = NULL;

	graph = new_graph(seed_table, ARRAY_SIZE(seed_table));
	g2 = new_graph(seed_table, ARRAY_SIZE(seed_table));
	ck_assert_int_eq(svc_use(graph, "user", &cause), 0);
	ck_assert_int_eq(svc_state(svc_graph_find(g2, "user")), SVC_INACTIVE);
	svc_stop_all(graph, NULL, NULL);
	ck_assert_int_eq(svc_use(g2, "cache", &cause), 0);
	ck_assert_int_eq(svc_state(svc_graph_find(g2, "cache")), SVC_RUNNING);
	ck_assert_int_eq(state_of("cache"), SVC_STOPPED);
	svc_graph_free(g2);
}
END_TEST

static TCase *
tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return tc;
}

int
main(void)
{
	Suite *s = suite_create("graph");
	TCase *tc;

	tc = tcase(s, "1-validation");
	tcase_add_test(tc, test_validate_cycle2);
	tcase_add_test(tc, test_validate_cycle3);
	tcase_add_test(tc, test_validate_cycle_from_outside);
	tcase_add_test(tc, test_validate_texts);
	tcase_add_test(tc, test_validate_nothing_runs);
	tcase_add_test(tc, test_validate_ok);
	tc = tcase(s, "2-order");
	tcase_add_test(tc, test_order_kahn_table_ties);
	tcase_add_test(tc, test_order_same_every_time);
	tcase_add_test(tc, test_order_boot);
	tc = tcase(s, "3-lazy-init");
	tcase_add_test(tc, test_lazy_closure_only);
	tcase_add_test(tc, test_lazy_diamond_once);
	tcase_add_test(tc, test_lazy_diamond_async_once);
	tcase_add_test(tc, test_lazy_start_unknown);
	tc = tcase(s, "4-guard");
	tcase_add_test(tc, test_guard_self_use);
	tcase_add_test(tc, test_guard_self_use_from_ping);
	tcase_add_test(tc, test_guard_undeclared);
	tcase_add_test(tc, test_guard_declared_ok);
	tc = tcase(s, "5-ping-after-init");
	tcase_add_test(tc, test_ping_after_init_fails);
	tcase_add_test(tc, test_init_failure_text);
	tcase_add_test(tc, test_ping_records_and_degraded);
	tcase_add_test(tc, test_ping_failed_severity);
	tcase_add_test(tc, test_ping_failed_after_init);
	tcase_add_test(tc, test_info_layout_kept);
	tc = tcase(s, "6-failure");
	tcase_add_test(tc, test_failure_blocks_dependents);
	tcase_add_test(tc, test_failure_start_target);
	tcase_add_test(tc, test_failure_async_blocks);
	tcase_add_test(tc, test_optional_policy_defaults);
	tcase_add_test(tc, test_optional_failure_start_completes);
	tcase_add_test(tc, test_optional_ping_and_async_failure);
	tcase_add_test(tc, test_optional_made_required_fails_start);
	tcase_add_test(tc, test_optional_blocks_required_fails_start);
	tc = tcase(s, "7-async-init");
	tcase_add_test(tc, test_async_reverse_completion);
	tcase_add_test(tc, test_async_done_inside_init);
	tcase_add_test(tc, test_async_init_timeout);
	tcase_add_test(tc, test_async_desc_timeout);
	tc = tcase(s, "8-stop");
	tcase_add_test(tc, test_stop_reverse_order);
	tcase_add_test(tc, test_stop_only_started);
	tcase_add_test(tc, test_stop_async);
	tcase_add_test(tc, test_stop_timeout);
	tcase_add_test(tc, test_stop_cancels_starting);
	tcase_add_test(tc, test_stop_during_start_is_told_apart);
	tc = tcase(s, "9-states");
	tcase_add_test(tc, test_observers_see_transitions);
	tcase_add_test(tc, test_observer_removes_itself);
	tcase_add_test(tc, test_state_names);
	tc = tcase(s, "10-introspection");
	tcase_add_test(tc, test_introspection);
	tcase_add_test(tc, test_print_text);
	tcase_add_test(tc, test_print_dot);
	tc = tcase(s, "11-reset");
	tcase_add_test(tc, test_reset_clears);
	tcase_add_test(tc, test_reset_1000);
	tcase_add_test(tc, test_restart_after_stop);
	tc = tcase(s, "12-coexist");
	tcase_add_test(tc, test_graphs_coexist);

	return tu_run_suite(s);
}
