/*
 * test_testing.c — Check tests for the developers' test helpers
 * (daemon/testing.h), the public logging wrappers (daemon/logging.h) and
 * the graph's status line (service.h: status_line, svc_status_changed).
 */
#include <check.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"
#include "daemon/logging.h"
#include "daemon/service.h"
#include "daemon/testing.h"
#include "testutil.h"
#include "daemon/util.h"

/* -- a small table: "slow" completes its init after 10 ms, "user" requires
 * it; "hang" never completes; "bad" fails. -------------------------------- */

static int slow_inits, user_inits, user_stops;
static ev_timer slow_timer;

static void
slow_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	svc_init_done(w->data, 0, NULL);
}

static int
slow_init(struct svc *self, char **cause)
{
	slow_inits++;
	ev_timer_init(&slow_timer, slow_done, 0.01, 0);
	slow_timer.data = self;
	ev_timer_start(svc_loop(self), &slow_timer);
	return SVC_PENDING;
}

static int
slow_stop(struct svc *self)
{
	ev_timer_stop(svc_loop(self), &slow_timer);
	return 0;
}

static int
user_init(struct svc *self, char **cause)
{
	user_inits++;
	return 0;
}

static int
user_stop(struct svc *self)
{
	user_stops++;
	return 0;
}

static int
hang_init(struct svc *self, char **cause)
{
	return SVC_PENDING;
}

static int
bad_init(struct svc *self, char **cause)
{
	*cause = xstrdup("boom");
	return -1;
}

static const char *
slow_line(struct svc *self)
{
	return "slow: fine";
}

/* slow's own [slow] section, for svcd_test_config */
struct slow_conf {
	size_t depth;
};
static const struct svc_conf_item slow_items[] = {
    {.key = "depth",
     .type = &svc_conf_count,
     .off = offsetof(struct slow_conf, depth),
     .dflt = "3",
     .min = "1",
     .max = "100"},
};
static const struct svc_conf_section slow_section = {
    .name = "slow",
    SVC_CONF_ITEMS(slow_items),
};

static const struct svc_desc slow = {
    .name = "slow",
    .conf = SVC_CONF_SECTIONS(&slow_section),
    .conf_size = sizeof(struct slow_conf),
    .init = slow_init,
    .stop = slow_stop,
    .status_line = slow_line,
};
static const struct svc_desc user = {
    .name = "user",
    .requires = SVC_REQUIRES("slow"),
    .init = user_init,
    .stop = user_stop,
};
static const struct svc_desc hang = {
    .name = "hang", .init = hang_init, .init_timeout = 60};
static const struct svc_desc bad = {.name = "bad", .init = bad_init};
static const struct svc_desc orphan = {.name = "orphan",
                                       .requires = SVC_REQUIRES("ghost")};

static const struct svc_desc *const table[] = {&user, &slow};

static struct svcd_test *t;

static void
setup(void)
{
	char *cause = NULL;

	slow_inits = user_inits = user_stops = 0;
	t = svcd_test_new(table, ARRAY_SIZE(table), &cause);
	ck_assert_msg(t != NULL, "svcd_test_new: %s", cause);
}

static void
teardown(void)
{
	svcd_test_free(t);
	t = NULL;
}

START_TEST(test_start_reset_start)
{
	char *cause = NULL;

	ck_assert_ptr_nonnull(svcd_test_loop(t));
	ck_assert_ptr_eq(svc_graph_loop(svcd_test_graph(t)), svcd_test_loop(t));
	ck_assert_int_eq(svcd_test_start(t, "user", 5, &cause), 0);
	ck_assert_int_eq(svc_state(svcd_test_service(t, "slow")), SVC_RUNNING);
	ck_assert_int_eq(svc_state(svcd_test_service(t, "user")), SVC_RUNNING);
	ck_assert_int_eq(svcd_test_reset(t, 5), 0);
	ck_assert_int_eq(user_stops, 1);
	ck_assert_int_eq(svc_state(svcd_test_service(t, "user")), SVC_INACTIVE);
	ck_assert_int_eq(svc_state(svcd_test_service(t, "slow")), SVC_INACTIVE);
	/* a fresh start after the reset runs every init again */
	ck_assert_int_eq(svcd_test_start(t, NULL, 5, &cause), 0);
	ck_assert_int_eq(slow_inits, 2);
	ck_assert_int_eq(user_inits, 2);
	ck_assert_ptr_null(svcd_test_service(t, "nope"));
}
END_TEST

START_TEST(test_start_timeout_and_failure)
{
	const struct svc_desc *const tb[] = {&hang, &bad};
	struct svcd_test *t2;
	char *cause = NULL;

	svcd_test_free(t);
	t = NULL;
	t2 = svcd_test_new(tb, 2, &cause);
	ck_assert_ptr_nonnull(t2);
	ck_assert_int_eq(svcd_test_start(t2, "hang", 0.05, &cause), -1);
	ck_assert_str_eq(cause, "start timed out after 0.05 s");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(svcd_test_start(t2, "bad", 5, &cause), -1);
	ck_assert_msg(strstr(cause, "boom") != NULL, "cause: %s", cause);
	free(cause);
	ck_assert_int_eq(svcd_test_start(t2, "bad", 5, NULL), -1);
	svcd_test_free(t2); /* stops the hanging start */
}
END_TEST

START_TEST(test_invalid_table)
{
	const struct svc_desc *const tb[] = {&orphan};
	char *cause = NULL;

	ck_assert_ptr_null(svcd_test_new(tb, 1, &cause));
	ck_assert_str_eq(cause,
	                 "service 'orphan' requires unknown service 'ghost'");
	free(cause);
}
END_TEST

static int flips;
static ev_timer flip_timer;

static void
flip_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	flips++;
}

static bool
flipped(void *arg)
{
	return flips >= *(int *)arg;
}

START_TEST(test_run_until_and_for)
{
	int want = 1;
	struct ev_loop *loop = svcd_test_loop(t);

	flips = 0;
	ev_timer_init(&flip_timer, flip_cb, 0.02, 0);
	ev_timer_start(loop, &flip_timer);
	ck_assert(svcd_test_run_until(t, flipped, &want, 5));
	ck_assert_int_eq(flips, 1);
	want = 2; /* never happens */
	ck_assert(!svcd_test_run_until(t, flipped, &want, 0.05));

	ev_now_update(loop);
	double start = ev_now(loop);
	svcd_test_run_for(t, 0.05);
	ev_now_update(loop);
	ck_assert_double_ge(ev_now(loop) - start, 0.049);

	/* the inline form */
	flips = 0;
	ev_timer_set(&flip_timer, 0.01, 0);
	ev_timer_start(loop, &flip_timer);
	svcd_test_deadline(t, 5);
	while (flips == 0 && svcd_test_turn(t))
		;
	ck_assert_int_eq(flips, 1);
	svcd_test_deadline(t, 0.02);
	while (svcd_test_turn(t))
		;
	ck_assert(!svcd_test_turn(t)); /* stays expired */
}
END_TEST

START_TEST(test_config_text)
{
	char *cause = NULL;

	const struct slow_conf *o = svc_options(svcd_test_service(t, "slow"));

	ck_assert_uint_eq(o->depth, 3); /* the item's default */
	ck_assert_int_eq(svcd_test_config(t, "[slow]\ndepth = 7\n", &cause), 0);
	o = svc_options(svcd_test_service(t, "slow"));
	ck_assert_uint_eq(o->depth, 7);
	ck_assert_int_eq(
	    svcd_test_config(t, "[slow]\ndepth = 1\n[nope]\n", &cause), -1);
	ck_assert_msg(strstr(cause, ":3: unknown section [nope]") != NULL,
	              "cause: %s", cause);
	free(cause);
	o = svc_options(svcd_test_service(t, "slow"));
	ck_assert_uint_eq(o->depth, 7); /* kept */
}
END_TEST

START_TEST(test_log_capture)
{
	svcd_test_log_capture(t);
	svcd_log_set_level(SVCD_LOG_INFO);
	ck_assert_int_eq(svcd_log_get_level(), SVCD_LOG_INFO);
	svcd_log(SVCD_LOG_WARN, "hello %d", 42);
	svcd_log_err("bad %s", "thing");
	svcd_log_debug("not shown");
	ck_assert(svcd_test_log_seen(t, "4 hello 42\n"));
	ck_assert(svcd_test_log_seen(t, "3 bad thing\n"));
	ck_assert_msg(!svcd_test_log_seen(t, "not shown"), "log: %s",
	              svcd_test_log_text(t));
	svcd_log_set_level(SVCD_LOG_DEBUG);
	svcd_log_debug("now shown");
	ck_assert(svcd_test_log_seen(t, "7 now shown\n"));
	svcd_log_set_level(SVCD_LOG_INFO);
}
END_TEST

static int lines_seen;
static const char *last_line;

static void
on_status(struct svc_graph *g, const char *line, void *arg)
{
	lines_seen++;
	last_line = line;
	ck_assert_ptr_eq(arg, &lines_seen);
}

START_TEST(test_status_line)
{
	struct svc_graph *g = svcd_test_graph(t);
	char *cause = NULL;

	lines_seen = 0;
	svc_graph_set_status_listener(g, on_status, &lines_seen);
	ck_assert_ptr_null(svc_graph_status_line(g)); /* nothing runs */
	svc_status_changed(svcd_test_service(t, "slow"));
	ck_assert_int_eq(lines_seen, 0); /* not running: not passed on */
	ck_assert_int_eq(svcd_test_start(t, NULL, 5, &cause), 0);
	/* user has no line; slow (first in start order) has one */
	ck_assert_str_eq(svc_graph_status_line(g), "slow: fine");
	svc_status_changed(svcd_test_service(t, "slow"));
	ck_assert_int_eq(lines_seen, 1);
	ck_assert_str_eq(last_line, "slow: fine");
	svc_graph_set_status_listener(g, NULL, NULL);
	svc_status_changed(svcd_test_service(t, "slow"));
	ck_assert_int_eq(lines_seen, 1);
	ck_assert_int_eq(svcd_test_reset(t, 5), 0);
	ck_assert_ptr_null(svc_graph_status_line(g));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("testing");
	TCase *tc = tcase_create("helpers");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_start_reset_start);
	tcase_add_test(tc, test_start_timeout_and_failure);
	tcase_add_test(tc, test_invalid_table);
	tcase_add_test(tc, test_run_until_and_for);
	tcase_add_test(tc, test_config_text);
	tcase_add_test(tc, test_log_capture);
	tcase_add_test(tc, test_status_line);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
