/* test_health.c — Check tests for services/health.c: service.health events
 * on transitions, overall status, blocked_by, fresh rounds, the periodic
 * task. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "services/health.h"
#include "daemon/log.h"
#include "daemon/service.h"
#include "testutil.h"
#include "daemon/util.h"
#include "services/worker.h"

/* ---- test services ---- */

static bool probe_ok;
static bool probe_failed; /* when not ok: SVC_PING_FAILED, not -1 */
static int probe_pings;

static int
ok_init(struct svc *self, char **cause)
{
	return 0;
}

static int
probe_ping(struct svc *self, char **cause)
{
	probe_pings++;
	if (probe_ok)
		return 0;
	if (probe_failed) {
		*cause = xstrdup("probe's peer refused its password");
		return SVC_PING_FAILED;
	}
	*cause = xstrdup("probe says no");
	return -1;
}

static int
broken_init(struct svc *self, char **cause)
{
	*cause = xstrdup("no disk");
	return -1;
}

static const struct svc_desc probe_service = {
    .name = "probe",
    .init = ok_init,
    .ping = probe_ping,
};

/* A service with a link whose state changes between rounds and pushes it. */
static bool link_up;
static bool link_refused; /* when down: SVC_PING_FAILED */
static int link_pings;

static int
link_ping(struct svc *self, char **cause)
{
	link_pings++;
	if (link_up)
		return 0;
	if (link_refused) {
		*cause = xstrdup("link refused: WRONGPASS");
		return SVC_PING_FAILED;
	}
	*cause = xstrdup("link down");
	return -1;
}

static const struct svc_desc link_service = {
    .name = "link",
    .init = ok_init,
    .ping = link_ping,
};

static const struct svc_desc dep_service = {
    .name = "dep",
    .requires = SVC_REQUIRES("probe"),
    .init = ok_init,
};

static const struct svc_desc top_service = {
    .name = "top",
    .requires = SVC_REQUIRES("dep"),
    .init = ok_init,
};

static const struct svc_desc broken_service = {
    .name = "broken",
    .init = broken_init,
};

static const struct svc_desc needs_broken_service = {
    .name = "needs_broken",
    .requires = SVC_REQUIRES("broken"),
    .init = ok_init,
};

/* ---- fixture ---- */

static struct ev_loop *loop;
static struct svc_graph *graph;
static ev_timer guard;
static ev_timer tick; /* keeps EVRUN_ONCE turns short, see tu_tick_start */
static bool timed_out;

static struct bus_listener *health_l;
static int health_events;
static json_t *last_health;

static int
on_health(const struct bus_event *ev, void *arg)
{
	health_events++;
	json_decref(last_health);
	last_health = json_loadb(ev->data, ev->data_len, 0, NULL);
	ck_assert_str_eq(ev->source, "health");
	return 0;
}

static void
setup(void)
{
	log_set_quiet(1);
	probe_ok = true;
	probe_failed = false;
	probe_pings = 0;
	link_up = true;
	link_refused = false;
	link_pings = 0;
	health_events = 0;
	last_health = NULL;
	loop = ev_loop_new(EVFLAG_AUTO);
	tu_deadline_start(loop, &guard, 2.0, &timed_out);
	tu_tick_start(loop, &tick);
	struct health_conf *c = tu_opts("health");
	c->interval = 60; /* rounds only when the test asks */
}

static void
teardown(void)
{
	if (graph) {
		if (tu_bus()) {
			bus_unlisten(tu_bus(), health_l);
		}
		tu_stop(loop, graph, &timed_out);
		svc_graph_free(graph);
		graph = NULL;
	}
	health_l = NULL;
	json_decref(last_health);
	last_health = NULL;
	ev_timer_stop(loop, &guard);
	ev_timer_stop(loop, &tick);
	ev_loop_destroy(loop);
	tu_conf_reset();
}

/* Boot the graph; returns svc_start's status. */
static int
boot(const struct svc_desc *const *table, size_t n)
{
	int status = tu_boot(loop, table, n, &graph, &timed_out);

	ck_assert(!timed_out);
	ck_assert_ptr_nonnull(tu_bus());
	health_l = bus_listen(tu_bus(), "service.health", on_health, NULL);
	return status;
}

/* Everything emitted so far has been delivered (the bus is FIFO). */
static void
drain(void)
{
	tu_bus_drain(loop, &timed_out);
}

/* The entry for name in a health_json result (borrowed). */
static json_t *
entry(json_t *j, const char *name)
{
	size_t i;
	json_t *e;

	json_array_foreach(
	    json_object_get(j, "services"), i,
	    e) if (strcmp(json_string_value(json_object_get(e, "name")),
	                  name) == 0) return e;
	ck_abort_msg("no entry for %s", name);
	return NULL;
}

static const char *
str(json_t *e, const char *key)
{
	return json_string_value(json_object_get(e, key));
}

static const struct svc_desc *const chain_table[] = {
    &worker_service, &bus_service, &health_service,
    &probe_service,  &dep_service, &top_service,
};

/* ---- tests ---- */

START_TEST(test_transitions)
{
	ck_assert_int_eq(boot(chain_table, 6), 0);
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 0); /* healthy from the start */

	probe_ok = false;
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 1);
	ck_assert_str_eq(str(last_health, "service"), "probe");
	ck_assert(json_is_false(json_object_get(last_health, "healthy")));
	ck_assert(json_is_false(json_object_get(last_health, "failed")));
	ck_assert_str_eq(str(last_health, "error"), "probe says no");
	ck_assert(json_is_integer(json_object_get(last_health, "latency_us")));

	health_check_now(); /* still unhealthy: no new event */
	drain();
	ck_assert_int_eq(health_events, 1);

	probe_ok = true;
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 2);
	ck_assert(json_is_true(json_object_get(last_health, "healthy")));
	ck_assert(json_is_null(json_object_get(last_health, "error")));
}
END_TEST

START_TEST(test_first_result_unhealthy)
{
	ck_assert_int_eq(boot(chain_table, 6), 0);
	probe_ok = false;
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 1);
	ck_assert_str_eq(str(last_health, "service"), "probe");
}
END_TEST

START_TEST(test_overall_and_blocked_by)
{
	ck_assert_int_eq(boot(chain_table, 6), 0);
	health_check_now();
	ck_assert_int_eq(health_overall(), HEALTH_OK);
	json_t *j = health_json(NULL, false);
	ck_assert_str_eq(str(j, "status"), "ok");
	ck_assert_uint_eq(json_array_size(json_object_get(j, "services")), 6);
	json_t *e = entry(j, "dep");
	ck_assert_str_eq(str(e, "state"), "running");
	ck_assert(json_is_true(json_object_get(e, "healthy")));
	ck_assert(json_is_null(json_object_get(e, "blocked_by")));
	ck_assert(json_is_null(json_object_get(e, "error")));
	ck_assert(json_is_string(json_object_get(e, "checked_at")));
	ck_assert(json_is_integer(json_object_get(e, "age_ms")));
	ck_assert(json_is_integer(json_object_get(e, "latency_us")));
	json_decref(j);

	probe_ok = false;
	health_check_now();
	ck_assert_int_eq(health_overall(), HEALTH_DEGRADED);
	j = health_json(NULL, false);
	ck_assert_str_eq(str(j, "status"), "degraded");
	e = entry(j, "probe");
	ck_assert_str_eq(str(e, "state"), "degraded");
	ck_assert(json_is_false(json_object_get(e, "healthy")));
	ck_assert_str_eq(str(e, "error"), "probe says no");
	ck_assert(json_is_null(json_object_get(e, "blocked_by")));
	e = entry(j, "dep");
	ck_assert_str_eq(str(e, "state"), "degraded");
	ck_assert(json_is_true(json_object_get(e, "healthy")));
	ck_assert_str_eq(str(e, "blocked_by"), "probe");
	ck_assert_str_eq(str(entry(j, "top"), "blocked_by"), "probe");
	e = entry(j, "worker");
	ck_assert_str_eq(str(e, "state"), "running");
	ck_assert(json_is_null(json_object_get(e, "blocked_by")));
	json_decref(j);

	/* one service: its own status */
	j = health_json("worker", false);
	ck_assert_str_eq(str(j, "status"), "ok");
	ck_assert_uint_eq(json_array_size(json_object_get(j, "services")), 1);
	json_decref(j);
	j = health_json("top", false);
	ck_assert_str_eq(str(j, "status"), "degraded");
	json_decref(j);

	probe_ok = true;
	health_check_now();
	ck_assert_int_eq(health_overall(), HEALTH_OK);
	ck_assert_ptr_null(health_json("nosuch", false));
}
END_TEST

START_TEST(test_failed_and_blocked)
{
	const struct svc_desc *const table[] = {
	    &worker_service, &bus_service,          &health_service,
	    &broken_service, &needs_broken_service,
	};

	ck_assert_int_eq(boot(table, 5), -1);
	ck_assert_int_eq(svc_state(svc_graph_find(graph, "health")),
	                 SVC_RUNNING);
	health_check_now();
	ck_assert_int_eq(health_overall(), HEALTH_FAILED);
	json_t *j = health_json(NULL, true);
	ck_assert_str_eq(str(j, "status"), "failed");
	json_t *e = entry(j, "broken");
	ck_assert_str_eq(str(e, "state"), "failed");
	ck_assert(json_is_null(json_object_get(e, "healthy")));
	ck_assert(json_is_null(json_object_get(e, "checked_at")));
	ck_assert(json_is_null(json_object_get(e, "age_ms")));
	ck_assert_ptr_nonnull(strstr(str(e, "error"), "no disk"));
	e = entry(j, "needs_broken");
	ck_assert_str_eq(str(e, "state"), "blocked");
	ck_assert_str_eq(str(e, "blocked_by"), "broken");
	json_decref(j);
	j = health_json("needs_broken", false);
	ck_assert_str_eq(str(j, "status"), "degraded");
	json_decref(j);
	j = health_json("broken", false);
	ck_assert_str_eq(str(j, "status"), "failed");
	json_decref(j);
}
END_TEST

/*
 * A running service whose ping returns SVC_PING_FAILED is "failed" with
 * its reason, and so is the whole; its dependents cannot rely on it
 * (degraded, blocked_by); a change of severity alone is an event; a
 * healthy ping brings it back to ok.
 */
START_TEST(test_ping_failed_is_failed)
{
	json_t *j, *e;

	ck_assert_int_eq(boot(chain_table, 6), 0);
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 0);

	probe_ok = false;
	probe_failed = true;
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 1);
	ck_assert_str_eq(str(last_health, "service"), "probe");
	ck_assert(json_is_false(json_object_get(last_health, "healthy")));
	ck_assert(json_is_true(json_object_get(last_health, "failed")));
	ck_assert_str_eq(str(last_health, "error"),
	                 "probe's peer refused its password");
	ck_assert_int_eq(health_overall(), HEALTH_FAILED);
	j = health_json(NULL, false);
	ck_assert_str_eq(str(j, "status"), "failed");
	e = entry(j, "probe");
	ck_assert_str_eq(str(e, "state"), "failed");
	ck_assert(json_is_false(json_object_get(e, "healthy")));
	ck_assert_str_eq(str(e, "error"), "probe's peer refused its password");
	ck_assert(json_is_null(json_object_get(e, "blocked_by")));
	e = entry(j, "dep");
	ck_assert_str_eq(str(e, "state"), "degraded");
	ck_assert_str_eq(str(e, "blocked_by"), "probe");
	ck_assert_str_eq(str(entry(j, "top"), "blocked_by"), "probe");
	ck_assert_str_eq(str(entry(j, "worker"), "state"), "running");
	json_decref(j);
	j = health_json("probe", false);
	ck_assert_str_eq(str(j, "status"), "failed");
	json_decref(j);
	j = health_json("dep", false);
	ck_assert_str_eq(str(j, "status"), "degraded");
	json_decref(j);

	health_check_now(); /* still failed: no new event */
	drain();
	ck_assert_int_eq(health_events, 1);

	/* failed -> unhealthy: an event, degraded again */
	probe_failed = false;
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 2);
	ck_assert(json_is_false(json_object_get(last_health, "healthy")));
	ck_assert(json_is_false(json_object_get(last_health, "failed")));
	ck_assert_int_eq(health_overall(), HEALTH_DEGRADED);
	j = health_json("probe", false);
	ck_assert_str_eq(str(j, "status"), "degraded");
	ck_assert_str_eq(str(entry(j, "probe"), "state"), "degraded");
	json_decref(j);

	/* failed again, then healthy: back to ok */
	probe_failed = true;
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 3);
	ck_assert_int_eq(health_overall(), HEALTH_FAILED);
	probe_ok = true;
	health_check_now();
	drain();
	ck_assert_int_eq(health_events, 4);
	ck_assert(json_is_true(json_object_get(last_health, "healthy")));
	ck_assert(json_is_false(json_object_get(last_health, "failed")));
	ck_assert(json_is_null(json_object_get(last_health, "error")));
	ck_assert_int_eq(health_overall(), HEALTH_OK);
	j = health_json(NULL, false);
	ck_assert_str_eq(str(j, "status"), "ok");
	e = entry(j, "probe");
	ck_assert_str_eq(str(e, "state"), "running");
	ck_assert(json_is_null(json_object_get(e, "error")));
	ck_assert(json_is_null(json_object_get(entry(j, "dep"), "blocked_by")));
	json_decref(j);
}
END_TEST

/* Stale rounds do not hide a failed ping either: failed wins. */
START_TEST(test_stale_ping_failed_stays_failed)
{
	struct health_conf *c = tu_opts("health");

	c->interval = 0.01;
	ck_assert_int_eq(boot(chain_table, 6), 0);
	ck_assert(worker_cancel(tu_worker(), "health"));
	probe_ok = false;
	probe_failed = true;
	health_check_now();
	tu_run_for(loop, 0.05); /* > two intervals without a round */
	ck_assert_int_eq(health_overall(), HEALTH_FAILED);
	json_t *j = health_json("probe", false);
	ck_assert_str_eq(str(j, "status"), "failed");
	ck_assert(json_is_true(json_object_get(entry(j, "probe"), "stale")));
	json_decref(j);
}
END_TEST

START_TEST(test_fresh_round)
{
	ck_assert_int_eq(boot(chain_table, 6), 0);
	json_t *j1 = health_json("probe", true);
	int pings = probe_pings;
	char *at1 = xstrdup(str(entry(j1, "probe"), "checked_at"));
	json_decref(j1);

	/* let the clock move (tu_run_for counts from now) */
	tu_run_for(loop, 0.003);

	json_t *j2 = health_json("probe", false);
	ck_assert_int_eq(probe_pings, pings);
	ck_assert_str_eq(str(entry(j2, "probe"), "checked_at"), at1);
	ck_assert_int_ge(
	    json_integer_value(json_object_get(entry(j2, "probe"), "age_ms")),
	    2);
	json_decref(j2);

	json_t *j3 = health_json(NULL, true);
	ck_assert_int_eq(probe_pings, pings + 1);
	ck_assert_str_ne(str(entry(j3, "probe"), "checked_at"), at1);
	ck_assert_int_lt(
	    json_integer_value(json_object_get(entry(j3, "probe"), "age_ms")),
	    2);
	json_decref(j3);
	free(at1);
}
END_TEST

START_TEST(test_periodic_task)
{
	struct health_conf *c = tu_opts("health");

	c->interval = 0.01;
	ck_assert_int_eq(boot(chain_table, 6), 0);
	struct worker_task *t = worker_find(tu_worker(), "health");
	ck_assert_ptr_nonnull(t);
	struct worker_task_info info;
	worker_task_get_info(t, &info);
	ck_assert_str_eq(info.origin, "health");
	ck_assert_int_eq(info.kind, WORKER_PERIODIC);

	int start = probe_pings;
	probe_ok = false;
	while ((probe_pings < start + 2 || health_events < 1) && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_eq(health_events, 1);
	/* (not health_overall: a busy machine may make 20 ms look stale) */
	json_t *j = health_json("probe", false);
	ck_assert(json_is_false(json_object_get(entry(j, "probe"), "healthy")));
	json_decref(j);
}
END_TEST

/*
 * The rounds stop (the task is gone): once the last round is older than two
 * intervals, health says "unknown" overall and for each running service,
 * never the stale "ok"; a fresh round makes it known again.
 */
START_TEST(test_stale_is_unknown)
{
	struct health_conf *c = tu_opts("health");

	c->interval = 0.01;
	ck_assert_int_eq(boot(chain_table, 6), 0);
	ck_assert(worker_cancel(tu_worker(), "health"));
	tu_run_for(loop, 0.05); /* > two intervals without a round */

	ck_assert_int_eq(health_overall(), HEALTH_UNKNOWN);
	ck_assert_str_eq(health_status_name(HEALTH_UNKNOWN), "unknown");
	json_t *j = health_json(NULL, false);
	ck_assert_str_eq(str(j, "status"), "unknown");
	json_t *e = entry(j, "probe");
	ck_assert(json_is_true(json_object_get(e, "stale")));
	ck_assert(json_is_true(json_object_get(e, "healthy"))); /* last seen */
	ck_assert_int_ge(json_integer_value(json_object_get(e, "age_ms")), 20);
	json_decref(j);
	j = health_json("probe", false);
	ck_assert_str_eq(str(j, "status"), "unknown");
	json_decref(j);

	/* a fresh round: known again, nothing stale */
	j = health_json(NULL, true);
	ck_assert_str_eq(str(j, "status"), "ok");
	ck_assert(json_is_false(json_object_get(entry(j, "probe"), "stale")));
	json_decref(j);
}
END_TEST

/* Stale results do not hide what is known to be down: failed wins. */
START_TEST(test_stale_failed_stays_failed)
{
	const struct svc_desc *const table[] = {
	    &worker_service, &bus_service, &health_service, &broken_service};
	struct health_conf *c = tu_opts("health");

	c->interval = 0.01;
	ck_assert_int_eq(boot(table, 4), -1);
	ck_assert(worker_cancel(tu_worker(), "health"));
	tu_run_for(loop, 0.05);
	ck_assert_int_eq(health_overall(), HEALTH_FAILED);
	json_t *j = health_json("broken", false);
	ck_assert_str_eq(str(j, "status"), "failed");
	ck_assert(json_is_false(json_object_get(entry(j, "broken"), "stale")));
	json_decref(j);
}
END_TEST

/*
 * A service pushes its change (svc_health_changed): the monitor pings it on
 * the next turn and emits service.health at once, not at the next round
 * (a minute away here); pushes in one turn coalesce into one ping.
 */
START_TEST(test_push_reports_at_once)
{
	const struct svc_desc *const table[] = {&worker_service, &bus_service,
	                                        &health_service, &link_service};

	ck_assert_int_eq(boot(table, 4), 0);
	struct svc *l = svc_graph_find(graph, "link");
	json_t *j = health_json("link", false);
	ck_assert_str_eq(str(j, "status"), "ok");
	json_decref(j);

	link_up = false;
	int pings = link_pings;
	svc_health_changed(l);
	svc_health_changed(l);
	ck_assert_int_eq(link_pings, pings); /* not from inside the call */
	RUN_UNTIL(loop, health_events == 1, 1.0);
	ck_assert_int_eq(link_pings, pings + 1);
	ck_assert_str_eq(str(last_health, "service"), "link");
	ck_assert(json_is_false(json_object_get(last_health, "healthy")));
	ck_assert_str_eq(str(last_health, "error"), "link down");
	ck_assert_int_eq(health_overall(), HEALTH_DEGRADED);
	j = health_json("link", false);
	ck_assert_str_eq(str(j, "status"), "degraded");
	ck_assert_str_eq(str(entry(j, "link"), "error"), "link down");
	json_decref(j);

	link_up = true;
	svc_health_changed(l);
	RUN_UNTIL(loop, health_events == 2, 1.0);
	ck_assert(json_is_true(json_object_get(last_health, "healthy")));
	ck_assert_int_eq(health_overall(), HEALTH_OK);

	/* refused: failed, pushed at once too, and back */
	link_up = false;
	link_refused = true;
	svc_health_changed(l);
	RUN_UNTIL(loop, health_events == 3, 1.0);
	ck_assert(json_is_true(json_object_get(last_health, "failed")));
	ck_assert_str_eq(str(last_health, "error"), "link refused: WRONGPASS");
	ck_assert_int_eq(health_overall(), HEALTH_FAILED);
	j = health_json("link", false);
	ck_assert_str_eq(str(entry(j, "link"), "state"), "failed");
	json_decref(j);
	link_up = true;
	svc_health_changed(l);
	RUN_UNTIL(loop, health_events == 4, 1.0);
	ck_assert(json_is_false(json_object_get(last_health, "failed")));
	ck_assert_int_eq(health_overall(), HEALTH_OK);
}
END_TEST

/* A push with no monitor, or from a service that is not running, is a
 * no-op; after the monitor stopped, nothing pings. */
START_TEST(test_push_without_monitor)
{
	const struct svc_desc *const table[] = {&worker_service, &bus_service,
	                                        &health_service, &link_service};

	ck_assert_int_eq(boot(table, 4), 0);
	struct svc *l = svc_graph_find(graph, "link");
	bus_unlisten(tu_bus(), health_l);
	health_l = NULL;
	tu_stop(loop, graph, &timed_out);
	int pings = link_pings;
	svc_health_changed(l); /* stopped, and no listener any more */
	tu_run_for(loop, 0.01);
	ck_assert_int_eq(link_pings, pings);
	svc_graph_free(graph);
	graph = NULL;
}
END_TEST

static void
on_state(struct svc *s, enum svc_state from, enum svc_state to, void *arg)
{
	if (strcmp(svc_name(s), "health") == 0 && to == SVC_STOPPED)
		*(bool *)arg = worker_find(tu_worker(), "health") == NULL;
}

START_TEST(test_apply_config_reschedules)
{
	ck_assert_int_eq(boot(chain_table, 6), 0);
	struct worker_task_info info;
	worker_task_get_info(worker_find(tu_worker(), "health"), &info);
	struct health_conf *old = tu_opts("health");
	ck_assert_double_eq_tol(info.interval, old->interval, 1e-9);
	ck_assert(old->interval > 1);
	struct health_conf c = {.interval = 0.01};
	char *cause = NULL;
	int before = probe_pings;
	ck_assert_int_eq(health_service.reload(svc_graph_find(graph, "health"),
	                                       old, &c, &cause),
	                 0);
	/* a round at once: nothing is stale under the shorter interval */
	ck_assert_int_eq(probe_pings, before + 1);
	worker_task_get_info(worker_find(tu_worker(), "health"), &info);
	ck_assert_double_eq_tol(info.interval, 0.01, 1e-9);
	/* the new interval is the one in effect: rounds now come quickly */
	int start = probe_pings;
	while (probe_pings < start + 2 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
}
END_TEST

START_TEST(test_stop_cancels_task)
{
	bool cancelled = false;

	ck_assert_int_eq(boot(chain_table, 6), 0);
	ck_assert_ptr_nonnull(worker_find(tu_worker(), "health"));
	svc_graph_add_observer(graph, on_state, &cancelled);
	bus_unlisten(tu_bus(), health_l);
	tu_stop(loop, graph, &timed_out);
	ck_assert(cancelled);
	ck_assert_ptr_null(health_json(NULL, false));
	svc_graph_remove_observer(graph, on_state, &cancelled);
	svc_graph_free(graph);
	graph = NULL;
}
END_TEST

static Suite *
health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_transitions);
	tcase_add_test(tc, test_first_result_unhealthy);
	tcase_add_test(tc, test_overall_and_blocked_by);
	tcase_add_test(tc, test_failed_and_blocked);
	tcase_add_test(tc, test_ping_failed_is_failed);
	tcase_add_test(tc, test_stale_ping_failed_stays_failed);
	tcase_add_test(tc, test_fresh_round);
	tcase_add_test(tc, test_periodic_task);
	tcase_add_test(tc, test_apply_config_reschedules);
	tcase_add_test(tc, test_stop_cancels_task);
	tcase_add_test(tc, test_stale_is_unknown);
	tcase_add_test(tc, test_stale_failed_stays_failed);
	tcase_add_test(tc, test_push_reports_at_once);
	tcase_add_test(tc, test_push_without_monitor);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(health_suite());
}
