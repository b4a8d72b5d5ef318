/* test_log_limit.c — Check tests for daemon/log.c's log_limit: a repeated
 * error logged once, then counted, a line when it ends, bounded flapping. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "testutil.h"

#define INTERVAL 0.05 /* seconds */

static struct log_limit lim;

static void
setup(void)
{
	tu_log_capture();
	memset(&lim, 0, sizeof(lim));
	lim.level = LOGL_ERR;
	lim.what = "widget errors";
	lim.interval = INTERVAL;
}

static void
teardown(void)
{
	log_limit_free(&lim);
	tu_log_release();
}

static int
lines(void)
{
	return tu_log_count("\n");
}

/* Poll the clock until an interval has gone by. */
static void
let_interval_pass(void)
{
	int64_t until = util_mono_us() + (int64_t)(INTERVAL * 1e6) + 2000;

	while (util_mono_us() < until)
		usleep(1000);
}

START_TEST(test_once_then_counted)
{
	ck_assert(!log_limit_end(&lim));
	log_limited(&lim, 1, "widget %d failed", 1);
	for (int i = 2; i <= 500; i++)
		log_limited(&lim, 1, "widget %d failed", i);
	ck_assert_int_eq(lines(), 1);
	ck_assert(tu_log_seen("widget 1 failed"));
	/* the count goes out with the next occurrence after the interval */
	let_interval_pass();
	log_limited(&lim, 2, "widget %d failed", 501);
	ck_assert_msg(tu_log_seen("501 more widget errors (last: widget 501 "
	                          "failed)"),
	              "log: %s", tu_log_text());
	ck_assert_int_eq(lines(), 2);
	/* the end flushes nothing more (nothing pending) and says so */
	ck_assert(log_limit_end(&lim));
	ck_assert_int_eq(lines(), 2);
	ck_assert(!log_limit_end(&lim));
}
END_TEST

START_TEST(test_end_flushes_pending)
{
	log_limited(&lim, 3, "disk full");
	ck_assert_int_eq(lines(), 1);
	ck_assert(log_limit_end(&lim));
	ck_assert_msg(tu_log_seen("2 more widget errors (last: disk full)"),
	              "log: %s", tu_log_text());
	ck_assert_int_eq(lines(), 2);
	/* a new run after an interval is logged in full again */
	let_interval_pass();
	log_limited(&lim, 1, "disk full again");
	ck_assert(tu_log_seen("disk full again"));
	ck_assert_int_eq(lines(), 3);
}
END_TEST

/* Errors and recoveries alternating fast: a few lines per interval, not
 * two per flap. */
START_TEST(test_flapping_is_bounded)
{
	int recovered = 0;

	for (int i = 0; i < 1000; i++) {
		log_limited(&lim, 1, "flap %d", i);
		if (log_limit_end(&lim))
			recovered++;
	}
	ck_assert_msg(lines() + recovered <= 4, "%d lines, %d ends: %s",
	              lines(), recovered, tu_log_text());
	ck_assert_int_ge(recovered, 1);
	/* after the interval the run ends with its count */
	let_interval_pass();
	ck_assert(log_limit_end(&lim));
	ck_assert_msg(tu_log_seen("more widget errors (last: flap 999)"),
	              "log: %s", tu_log_text());
}
END_TEST

static Suite *
log_limit_suite(void)
{
	Suite *s = suite_create("log_limit");
	TCase *tc = tcase_create("log_limit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_once_then_counted);
	tcase_add_test(tc, test_end_flushes_pending);
	tcase_add_test(tc, test_flapping_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(log_limit_suite());
}
