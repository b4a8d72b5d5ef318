/* test_app.c — Check tests for services/app.c: heartbeat, heartbeat events,
 * the watchdog hook, the status line, config timers applied and removed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "services/app.h"
#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "services/manager.h"
#include "daemon/service.h"
#include "testutil.h"
#include "services/timers.h"
#include "daemon/util.h"
#include "services/worker.h"

static struct ev_loop *loop;
static struct svc_graph *graph;
static ev_timer guard;
static ev_timer tick; /* keeps EVRUN_ONCE turns short, see tu_tick_start */
static bool timed_out;
static struct bus_listener *hb_l, *tick_l;
static int hb_events, ticks, watchdogs;
static json_int_t last_n;

static const struct svc_desc *const table[] = {
    &manager_service,
    &worker_service,
    &bus_service,
    &app_service,
};

static int
on_heartbeat(const struct bus_event *ev, void *arg)
{
	json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);

	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(ev->source, "app");
	ck_assert(json_is_integer(json_object_get(d, "uptime_s")));
	last_n = json_integer_value(json_object_get(d, "n"));
	json_decref(d);
	hb_events++;
	return 0;
}

static int
on_tick(const struct bus_event *ev, void *arg)
{
	ticks++;
	ck_assert_str_eq(ev->data, "{\"k\":1}");
	return 0;
}

/* The graph's status listener: app reports its line on every heartbeat
 * (svcd sends it to systemd with WATCHDOG=1). */
static void
watchdog(struct svc_graph *g, const char *line, void *arg)
{
	watchdogs++;
}

/* The options app boots with (the test configuration's). */
static struct app_conf *
app_opts(void)
{
	return tu_opts("app");
}

static void
boot_with(double heartbeat, bool events)
{
	app_opts()->heartbeat = heartbeat;
	app_opts()->heartbeat_event = events;
}

/* A new app_conf for a reload (free with conf_free). */
static struct app_conf *
conf_with(double heartbeat, bool events)
{
	struct app_conf *c = xcalloc(1, sizeof(*c));

	c->heartbeat = heartbeat;
	c->heartbeat_event = events;
	return c;
}

static void
conf_free(struct app_conf *c)
{
	for (size_t i = 0; i < c->timers.n; i++) {
		struct app_timer *t = c->timers.v[i];
		free(t->inst.name);
		free(t->emit);
		free(t->data);
		free(t);
	}
	free(c->timers.v);
	free(c);
}

/* Append [timer.name] to c. */
static void
add_timer(struct app_conf *c, const char *name, bool periodic, double iv,
          const char *emit)
{
	struct app_timer *t = xcalloc(1, sizeof(*t));

	t->inst.name = xstrdup(name);
	if (periodic)
		t->every = iv;
	else
		t->after = iv;
	t->emit = xstrdup(emit);
	t->data = xstrdup("{\"k\":1}");
	c->timers.v =
	    xrealloc(c->timers.v, (c->timers.n + 1) * sizeof(*c->timers.v));
	c->timers.v[c->timers.n++] = t;
}

/* What the reload path does for app: apply c over the options it runs. */
static int
reload_with(struct app_conf *c, char **cause)
{
	return app_service.reload(svc_graph_find(graph, "app"), app_opts(), c,
	                          cause);
}

static void
setup(void)
{
	log_set_quiet(1);
	hb_events = ticks = watchdogs = 0;
	last_n = 0;
	loop = ev_loop_new(EVFLAG_AUTO);
	tu_deadline_start(loop, &guard, 2.0, &timed_out);
	tu_tick_start(loop, &tick);
	boot_with(60, false);
}

static void
stop_graph(void)
{
	if (!graph)
		return;
	if (tu_bus()) {
		bus_unlisten(tu_bus(), hb_l);
		bus_unlisten(tu_bus(), tick_l);
	}
	hb_l = tick_l = NULL;
	tu_stop(loop, graph, &timed_out);
	svc_graph_free(graph);
	graph = NULL;
}

static void
teardown(void)
{
	stop_graph();
	ev_timer_stop(loop, &guard);
	ev_timer_stop(loop, &tick);
	ev_loop_destroy(loop);
	tu_conf_reset();
}

static int
boot(void)
{
	int status =
	    tu_boot(loop, table, ARRAY_SIZE(table), &graph, &timed_out);

	ck_assert(!timed_out);
	if (status == 0) {
		struct bus *b = tu_bus();

		hb_l = bus_listen(b, "heartbeat", on_heartbeat, NULL);
		tick_l = bus_listen(b, "tick.*", on_tick, NULL);
	}
	return status;
}

static void
drain(void)
{
	tu_bus_drain(loop, &timed_out);
}

static const char *
task_origin(const char *name)
{
	struct worker_task *t = worker_find(tu_worker(), name);
	static struct worker_task_info info;

	if (!t)
		return NULL;
	worker_task_get_info(t, &info);
	return info.origin;
}

START_TEST(test_heartbeats_counted)
{
	boot_with(0.01, false);
	ck_assert_int_eq(boot(), 0);
	uint64_t base = app_heartbeats(); /* beats before the listener */
	svc_graph_set_status_listener(graph, watchdog, NULL);
	while (app_heartbeats() < base + 3 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_ge(watchdogs, 3);
	ck_assert_int_eq((uint64_t)watchdogs, app_heartbeats() - base);
	ck_assert_msg(
	    strncmp(app_status_line(), "running: 4/4 services, ", 23) == 0,
	    "status line: %s", app_status_line());
	ck_assert_ptr_null(strchr(app_status_line(), '\n'));
	/* heartbeat events are off by default */
	drain();
	ck_assert_int_eq(hb_events, 0);
}
END_TEST

START_TEST(test_heartbeat_events)
{
	boot_with(0.01, true);
	ck_assert_int_eq(boot(), 0);
	while (hb_events < 2 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_ge(last_n, 2);
	ck_assert_int_le(last_n, (json_int_t)app_heartbeats());
}
END_TEST

START_TEST(test_watchdog_removed)
{
	boot_with(0.01, false);
	ck_assert_int_eq(boot(), 0);
	svc_graph_set_status_listener(graph, watchdog, NULL);
	while (watchdogs < 1 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	svc_graph_set_status_listener(graph, NULL, NULL);
	uint64_t beats = app_heartbeats();
	while (app_heartbeats() < beats + 2 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_eq(watchdogs, 1);
}
END_TEST

START_TEST(test_config_timers)
{
	char *cause = NULL;
	struct app_conf *c = app_opts();

	add_timer(c, "t1", true, 0.01, "tick.one");
	add_timer(c, "t2", false, 3600, "tick.two");
	ck_assert_int_eq(boot(), 0);
	ck_assert_str_eq(task_origin("t1"), "config");
	ck_assert_str_eq(task_origin("t2"), "config");
	while (ticks < 2 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);

	/* a timer from the control channel is not the config's to remove */
	ck_assert_ptr_nonnull(timer_schedule_emit(
	    tu_worker(), tu_bus(), "ctl", true, 3600, "tick.ctl", NULL,
	    WORKER_OWNER_CONTROL, "control", &cause));

	/* reload without t1, with t3: t1 cancelled, t2 kept, t3 added */
	c = conf_with(60, false);
	add_timer(c, "t2", false, 3600, "tick.two");
	add_timer(c, "t3", true, 3600, "tick.three");
	ck_assert_int_eq(reload_with(c, &cause), 0);
	conf_free(c);
	ck_assert_ptr_null(task_origin("t1"));
	ck_assert_str_eq(task_origin("t2"), "config");
	ck_assert_str_eq(task_origin("t3"), "config");
	ck_assert_str_eq(task_origin("ctl"), "control");
	drain();
	int seen = ticks;
	tu_run_for(loop, 0.05); /* several of t1's periods */
	ck_assert(!timed_out);
	drain();
	ck_assert_int_eq(ticks, seen);

	/* an empty config removes every config timer */
	c = conf_with(60, false);
	ck_assert_int_eq(reload_with(c, &cause), 0);
	conf_free(c);
	ck_assert_ptr_null(task_origin("t2"));
	ck_assert_ptr_null(task_origin("t3"));
	ck_assert_str_eq(task_origin("ctl"), "control");
}
END_TEST

START_TEST(test_bad_timer_fails_init)
{
	add_timer(app_opts(), "bad", true, 1, "not a valid name!");
	ck_assert_int_eq(boot(), -1);
	ck_assert_int_eq(svc_state(svc_graph_find(graph, "app")), SVC_FAILED);
	ck_assert_msg(strstr(tu_boot_cause(), "[timer.bad]") != NULL,
	              "cause: %s", tu_boot_cause());
	ck_assert_ptr_null(worker_find(tu_worker(), "bad"));
}
END_TEST

/* A service with a task of its own, started before app. */
static int
owned_body(struct worker_task *t, void *arg, char **cause)
{
	return 0;
}

static int
owned_init(struct svc *self, char **cause)
{
	struct worker_spec spec = {
	    .name = "owned",
	    .kind = WORKER_PERIODIC,
	    .interval = 3600,
	    .fn = owned_body,
	    .origin = "owner",
	};

	return worker_schedule(tu_worker(), &spec) ? 0 : -1;
}

static const struct svc_desc owner_service = {
    .name = "owner",
    .requires = SVC_REQUIRES("worker"),
    .init = owned_init,
};

static const struct svc_desc *const owned_table[] = {
    &manager_service, &worker_service, &bus_service,
    &owner_service,   &app_service,
};

/* [timer.NAME] over a service's task: refused at start and on reload. */
START_TEST(test_timer_over_service_task)
{
	struct app_conf *c;
	char *cause = NULL;
	char dir[] = "/tmp/test_app.XXXXXX", path[64];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	tu_conf_text(dir, "; six lines before the timer\n;\n;\n;\n;\n;\n"
	                  "[timer.owned]\nevery = 1h\nemit = tick.oops\n");
	snprintf(path, sizeof(path), "%s/svcd.conf", dir);
	unlink(path);
	rmdir(dir);
	ck_assert_int_eq(tu_boot(loop, owned_table, ARRAY_SIZE(owned_table),
	                         &graph, &timed_out),
	                 -1);
	ck_assert_int_eq(svc_state(svc_graph_find(graph, "app")), SVC_FAILED);
	ck_assert_msg(strstr(tu_boot_cause(),
	                     "svcd.conf:7: [timer.owned]: task 'owned' "
	                     "belongs to service 'owner'") != NULL,
	              "cause: %s", tu_boot_cause());
	struct worker_task_info info;
	worker_task_get_info(worker_find(tu_worker(), "owned"), &info);
	ck_assert_str_eq(info.description ? info.description : "", "");
	ck_assert_int_eq(info.owner, WORKER_OWNER_SERVICE);
	stop_graph();

	/* reload: the check runs on the new config before anything changes */
	tu_conf_reset();
	boot_with(60, false);
	ck_assert_int_eq(tu_boot(loop, owned_table, ARRAY_SIZE(owned_table),
	                         &graph, &timed_out),
	                 0);
	c = conf_with(60, false);
	add_timer(c, "fine", true, 3600, "tick.fine");
	add_timer(c, "owned", true, 3600, "tick.oops");
	ck_assert_int_eq(reload_with(c, &cause), -1);
	ck_assert_str_eq(cause, "config:0: [timer.owned]: task 'owned' "
	                        "belongs to service 'owner' (rename the "
	                        "timer)");
	free(cause);
	cause = NULL;
	/* refused again: and nothing changed */
	ck_assert_int_eq(reload_with(c, &cause), -1);
	free(cause);
	cause = NULL;
	conf_free(c);
	ck_assert_ptr_null(worker_find(tu_worker(), "fine"));
	worker_task_get_info(worker_find(tu_worker(), "owned"), &info);
	ck_assert_int_eq(info.owner, WORKER_OWNER_SERVICE);
	c = conf_with(60, false);
	add_timer(c, "fine", true, 3600, "tick.fine");
	ck_assert_int_eq(reload_with(c, &cause), 0);
	ck_assert_str_eq(task_origin("fine"), "config");
	conf_free(c);
}
END_TEST

static void
on_app_stopped(struct svc *s, enum svc_state from, enum svc_state to, void *arg)
{
	if (strcmp(svc_name(s), "app") == 0 && to == SVC_STOPPED)
		*(int *)arg = worker_find(tu_worker(), "t1") == NULL ? 1 : 2;
}

START_TEST(test_stop_cancels_config_timers)
{
	int result = 0;

	add_timer(app_opts(), "t1", true, 3600, "tick.one");
	ck_assert_int_eq(boot(), 0);
	ck_assert_str_eq(task_origin("t1"), "config");
	svc_graph_add_observer(graph, on_app_stopped, &result);
	stop_graph();
	ck_assert_int_eq(result, 1);
	ck_assert_str_eq(app_status_line(), "stopped");
}
END_TEST

START_TEST(test_heartbeat_rearmed_on_reload)
{
	char *cause = NULL;

	ck_assert_int_eq(boot(), 0); /* 60 s heartbeat */
	struct app_conf *c = conf_with(0.01, false);
	ck_assert_int_eq(reload_with(c, &cause), 0);
	conf_free(c);
	while (app_heartbeats() < 2 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
}
END_TEST

static Suite *
app_suite(void)
{
	Suite *s = suite_create("app");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_heartbeats_counted);
	tcase_add_test(tc, test_heartbeat_events);
	tcase_add_test(tc, test_watchdog_removed);
	tcase_add_test(tc, test_config_timers);
	tcase_add_test(tc, test_bad_timer_fails_init);
	tcase_add_test(tc, test_timer_over_service_task);
	tcase_add_test(tc, test_stop_cancels_config_timers);
	tcase_add_test(tc, test_heartbeat_rearmed_on_reload);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(app_suite());
}
