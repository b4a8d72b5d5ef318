/* test_notification.c — Check tests for services/notification.c: listeners
 * registered during boot see the first event; bad data is a listener error. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "services/notification.h"
#include "daemon/service.h"
#include "testutil.h"
#include "daemon/util.h"
#include "services/worker.h"

static struct ev_loop *loop;
static struct svc_graph *graph;
static ev_timer guard;
static ev_timer tick; /* keeps EVRUN_ONCE turns short, see tu_tick_start */
static bool timed_out;

static const struct svc_desc *const table[] = {
    &worker_service,
    &bus_service,
    &notification_service,
};

static void
boot_done(struct svc_graph *g, int status, const char *cause, void *arg)
{
	*(int *)arg = status;
}

static void
setup(void)
{
	tu_log_capture();
	loop = ev_loop_new(EVFLAG_AUTO);
	tu_deadline_start(loop, &guard, 2.0, &timed_out);
	tu_tick_start(loop, &tick);
	ck_assert_int_eq(
	    tu_boot(loop, table, ARRAY_SIZE(table), &graph, &timed_out), 0);
}

static void
teardown(void)
{
	tu_stop(loop, graph, &timed_out);
	svc_graph_free(graph);
	graph = NULL;
	ev_timer_stop(loop, &guard);
	ev_timer_stop(loop, &tick);
	ev_loop_destroy(loop);
	tu_conf_reset();
	tu_log_release();
}

static void
emit(const char *name, const char *data)
{
	ck_assert_int_eq(bus_emit(tu_bus(), name, strlen(name), data,
	                          strlen(data), "test", NULL, NULL),
	                 0);
}

static uint64_t
listener_errors(void)
{
	struct bus_stats st;

	bus_get_stats(tu_bus(), &st);
	return st.listener_errors;
}

START_TEST(test_first_event_after_boot)
{
	/* the very first thing after boot: no loop turn in between */
	ck_assert_uint_eq(notification_sent(), 0);
	emit("user_registered", "{\"email\":\"ada@example.org\"}");
	while (notification_sent() < 1 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_uint_eq(notification_sent(), 1);
	ck_assert_msg(
	    tu_log_seen("notification: welcome mail to ada@example.org"),
	    "log: %s", tu_log_text());
	ck_assert_uint_eq(listener_errors(), 0);
}
END_TEST

START_TEST(test_order_placed)
{
	emit("order_placed", "{\"order_id\":42}");
	emit("order_placed", "{\"order_id\":\"A-7\"}");
	while (notification_sent() < 2 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert(tu_log_seen("notification: order confirmation for order 42"));
	ck_assert(
	    tu_log_seen("notification: order confirmation for order A-7"));
}
END_TEST

START_TEST(test_missing_email_is_listener_error)
{
	uint64_t before = listener_errors();

	emit("user_registered", "{\"name\":\"ada\"}");
	emit("user_registered", "{\"email\":7}");
	emit("order_placed", "{}");
	while (listener_errors() < before + 3 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_uint_eq(listener_errors(), before + 3);
	ck_assert_uint_eq(notification_sent(), 0);
	ck_assert_msg(tu_log_seen("without an \"email\" string"), "log: %s",
	              tu_log_text());
	/* a good one still goes through afterwards */
	emit("user_registered", "{\"email\":\"b@example.org\"}");
	while (notification_sent() < 1 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_uint_eq(notification_sent(), 1);
}
END_TEST

START_TEST(test_stop_unlistens)
{
	struct bus_stats st;

	bus_get_stats(tu_bus(), &st);
	size_t with = st.listeners;
	ck_assert_uint_ge(with, 2);
	tu_stop(loop, graph, &timed_out);
	/* boot again on the same graph: listeners are not doubled */
	svc_reset(graph);
	int status = 99;
	svc_start(graph, NULL, boot_done, &status);
	while (status == 99 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(status, 0);
	bus_get_stats(tu_bus(), &st);
	ck_assert_uint_eq(st.listeners, with);
	emit("user_registered", "{\"email\":\"c@example.org\"}");
	while (notification_sent() < 1 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_uint_eq(notification_sent(), 1);
}
END_TEST

/* A long address or order id is quoted short: 256 bytes and its length. */
START_TEST(test_long_quote_cut)
{
	struct buf data = {0}, want = {0};

	buf_puts(&data, "{\"email\":\"");
	buf_puts(&want, "notification: welcome mail to ");
	for (int i = 0; i < 5000; i++) {
		buf_putc(&data, 'a');
		if (i < 256)
			buf_putc(&want, 'a');
	}
	buf_puts(&data, "\"}");
	buf_putc(&data, '\0');
	buf_puts(&want, "... (5000 bytes)\n");
	buf_putc(&want, '\0');
	emit("user_registered", buf_head(&data));
	while (notification_sent() < 1 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_msg(tu_log_seen(buf_head(&want)), "log: %s", tu_log_text());
	buf_free(&data);
	buf_free(&want);
}
END_TEST

static Suite *
notification_suite(void)
{
	Suite *s = suite_create("notification");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_first_event_after_boot);
	tcase_add_test(tc, test_order_placed);
	tcase_add_test(tc, test_missing_email_is_listener_error);
	tcase_add_test(tc, test_stop_unlistens);
	tcase_add_test(tc, test_long_quote_cut);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(notification_suite());
}
