/* test_timers.c — Check tests for services/timers.c (scheduled bus emits). */
#include <check.h>
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "services/bus.h"
#include "daemon/log.h"
#include "services/timers.h"
#include "daemon/util.h"
#include "testutil.h"
#include "services/worker.h"

static struct ev_loop *loop;
static struct worker *w;
static struct bus *b;

static void
setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	w = worker_new(loop);
	b = bus_new(loop, NULL);
	tu_log_capture();
}

static void
teardown(void)
{
	worker_free(w);
	w = NULL;
	bus_free(b);
	b = NULL;
	ev_loop_destroy(loop);
	loop = NULL;
	tu_log_release();
}

struct seen {
	int n;
	char name[64];
	char data[128];
	char source[64];
};

static int
on_event(const struct bus_event *ev, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->name, sizeof(s->name), "%s", ev->name);
	snprintf(s->data, sizeof(s->data), "%s", ev->data);
	snprintf(s->source, sizeof(s->source), "%s", ev->source);
	return 0;
}

START_TEST(test_periodic_emit)
{
	struct seen s = {0};
	struct worker_task_info info;
	char *cause = NULL;
	struct worker_task *t;

	bus_listen(b, "user.*", on_event, &s);
	t = timer_schedule_emit(w, b, "tick", true, 0.005, "user.tick",
	                        "{ \"a\" : 1, \"b\": [true, null] }",
	                        WORKER_OWNER_CONFIG, "config", &cause);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(cause);
	RUN_UNTIL(loop, s.n >= 3, 1.0);
	ck_assert_str_eq(s.name, "user.tick");
	ck_assert_str_eq(s.data, "{\"a\":1,\"b\":[true,null]}");
	ck_assert_str_eq(s.source, "timer tick");
	worker_task_get_info(t, &info);
	ck_assert_int_eq(info.kind, WORKER_PERIODIC);
	ck_assert(info.interval == 0.005);
	ck_assert_str_eq(info.description, "emit user.tick");
	ck_assert_str_eq(info.origin, "config");
	ck_assert_uint_eq(info.failures, 0);
	ck_assert(info.runs >= 3);
}
END_TEST

START_TEST(test_delayed_emit_default_data)
{
	struct seen s = {0};
	char *cause = NULL;

	bus_listen(b, "*", on_event, &s);
	ck_assert_ptr_nonnull(
	    timer_schedule_emit(w, b, "once", false, 0.003, "boot.done", NULL,
	                        WORKER_OWNER_CONTROL, "control", &cause));
	RUN_UNTIL(loop, s.n == 1 && worker_count(w) == 0, 1.0);
	ck_assert_str_eq(s.name, "boot.done");
	ck_assert_str_eq(s.data, "{}");
	ck_assert_str_eq(s.source, "timer once");

	/* scheduling the same name replaces it */
	timer_schedule_emit(w, b, "r", true, 10, "a.one", NULL,
	                    WORKER_OWNER_CONTROL, "x", &cause);
	timer_schedule_emit(w, b, "r", false, 0.003, "a.two", NULL,
	                    WORKER_OWNER_CONTROL, "x", &cause);
	ck_assert_uint_eq(worker_count(w), 1);
	RUN_UNTIL(loop, s.n == 2, 1.0);
	ck_assert_str_eq(s.name, "a.two");
}
END_TEST

START_TEST(test_rejects_bad_input)
{
	char *cause = NULL;

	ck_assert_ptr_null(timer_schedule_emit(w, b, "t", true, 1, "bad name!",
	                                       NULL, WORKER_OWNER_CONTROL, "x",
	                                       &cause));
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "invalid event name"));
	free(cause);
	cause = NULL;

	ck_assert_ptr_null(timer_schedule_emit(w, b, "t", true, 1, "ok.name",
	                                       "[1, 2]", WORKER_OWNER_CONTROL,
	                                       "x", &cause));
	ck_assert_str_eq(cause, "data must be a JSON object");
	free(cause);
	cause = NULL;

	ck_assert_ptr_null(timer_schedule_emit(w, b, "t", true, 1, "ok.name",
	                                       "{\"a\":", WORKER_OWNER_CONTROL,
	                                       "x", &cause));
	ck_assert_ptr_nonnull(strstr(cause, "not valid JSON"));
	free(cause);
	cause = NULL;

	ck_assert_ptr_null(timer_schedule_emit(w, b, "t", true, 0, "ok.name",
	                                       NULL, WORKER_OWNER_CONTROL, "x",
	                                       &cause));
	ck_assert_str_eq(cause, "interval must be positive");
	free(cause);
	cause = NULL;

	ck_assert_ptr_null(timer_schedule_emit(w, b, "", true, 1, "ok.name",
	                                       NULL, WORKER_OWNER_CONTROL, "x",
	                                       &cause));
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(worker_count(w), 0);

	/* a worker that is shutting down refuses */
	worker_shutdown(w, 1, NULL, NULL);
	ck_assert_ptr_null(timer_schedule_emit(w, b, "t", true, 1, "ok.name",
	                                       NULL, WORKER_OWNER_CONTROL, "x",
	                                       &cause));
	ck_assert_ptr_nonnull(strstr(cause, "shutting down"));
	free(cause);
}
END_TEST

static int
hang(const struct bus_event *ev, struct bus_call *call, void *arg)
{
	return SVC_PENDING;
}

START_TEST(test_queue_full_is_failure)
{
	struct bus_opts opts = {.queue_size = 1};
	struct worker_task_info info;
	char *cause = NULL;
	struct worker_task *t;

	bus_free(b);
	b = bus_new(loop, &opts);
	/* a listener that never finishes keeps the queue from draining */
	bus_listen_async(b, "*", hang, NULL);
	t = timer_schedule_emit(w, b, "flood", true, 0.002, "user.flood", NULL,
	                        WORKER_OWNER_CONFIG, "config", &cause);
	ck_assert_ptr_nonnull(t);
	RUN_UNTIL(loop, (worker_task_get_info(t, &info), info.failures >= 1),
	          1.0);
	ck_assert_str_eq(info.last_error, "queue full");
	ck_assert(tu_log_seen("task 'flood' failed: queue full"));
	ck_assert(info.next_run_us > 0); /* keeps its schedule */
}
END_TEST

static void
closed(struct bus *bus, int status, void *arg)
{
	*(int *)arg = 1;
}

START_TEST(test_bus_closing_is_failure)
{
	struct worker_task_info info;
	char *cause = NULL;
	int is_closed = 0;
	struct worker_task *t;

	t = timer_schedule_emit(w, b, "late", true, 0.002, "user.x", NULL,
	                        WORKER_OWNER_CONFIG, "config", &cause);
	bus_close(b, closed, &is_closed);
	RUN_UNTIL(loop, (worker_task_get_info(t, &info), info.failures >= 1),
	          1.0);
	ck_assert_str_eq(info.last_error, "bus is shutting down");
	ck_assert(is_closed);
}
END_TEST

static int
service_body(struct worker_task *t, void *arg, char **cause)
{
	(*(int *)arg)++;
	return 0;
}

/* A timer may not take over a service's task. */
START_TEST(test_service_task_untouchable)
{
	int runs = 0;
	struct worker_spec spec = {
	    .name = "health",
	    .kind = WORKER_PERIODIC,
	    .interval = 0.002,
	    .fn = service_body,
	    .arg = &runs,
	    .origin = "health",
	};
	struct worker_task *h = worker_schedule(w, &spec);
	char *cause = NULL;

	ck_assert_ptr_nonnull(h);
	for (int owner = WORKER_OWNER_CONFIG; owner <= WORKER_OWNER_CONTROL;
	     owner++) {
		errno = 0;
		ck_assert_ptr_null(timer_schedule_emit(
		    w, b, "health", true, 3600, "oops", NULL,
		    (enum worker_owner)owner, "x", &cause));
		ck_assert_int_eq(errno, EPERM);
		ck_assert_str_eq(cause,
		                 "task 'health' belongs to service 'health'");
		free(cause);
		cause = NULL;
	}
	ck_assert_ptr_eq(worker_find(w, "health"), h);
	ck_assert_uint_eq(worker_count(w), 1);
	/* and it keeps running */
	RUN_UNTIL(loop, runs >= 2, 1.0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("timers");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_periodic_emit);
	tcase_add_test(tc, test_delayed_emit_default_data);
	tcase_add_test(tc, test_rejects_bad_input);
	tcase_add_test(tc, test_service_task_untouchable);
	tcase_add_test(tc, test_queue_full_is_failure);
	tcase_add_test(tc, test_bus_closing_is_failure);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
