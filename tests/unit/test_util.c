/* test_util.c — Check tests for daemon/util.c and daemon/log.c. */
#include <inttypes.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "testutil.h"

START_TEST(test_buf_append_consume)
{
	struct buf b = {0};
	buf_puts(&b, "hello ");
	buf_printf(&b, "%s %d", "world", 42);
	ck_assert_uint_eq(b.len, 14);
	ck_assert_mem_eq(buf_head(&b), "hello world 42", 14);
	buf_consume(&b, 6);
	ck_assert_mem_eq(buf_head(&b), "world 42", 8);
	/* growth after consume compacts and keeps content */
	for (int i = 0; i < 1000; i++)
		buf_putc(&b, 'x');
	ck_assert_uint_eq(b.len, 1008);
	ck_assert_mem_eq(buf_head(&b), "world 42xx", 10);
	buf_consume(&b, 5000);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_buf_printf_long)
{
	struct buf b = {0};
	char big[1000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "<%s>", big);
	ck_assert_uint_eq(b.len, 1001);
	ck_assert_int_eq(buf_head(&b)[1000], '>');
	buf_free(&b);
}
END_TEST

START_TEST(test_json_string_escapes)
{
	struct buf b = {0};
	const char in[] = "a\"b\\c\nd\x01\te";
	buf_json_string(&b, in, sizeof(in) - 1);
	buf_putc(&b, '\0');
	ck_assert_str_eq(buf_head(&b), "\"a\\\"b\\\\c\\nd\\u0001\\te\"");
	buf_free(&b);
}
END_TEST

/* util_u64_digits and buf_put_u64 agree with printf at every digit count
 * and edge. */
START_TEST(test_u64_digits)
{
	uint64_t v[] = {0,         1,           9,           10,
	                11,        99,          100,         101,
	                999,       1000,        12345,       999999,
	                1000000,   4294967295u, 4294967296u, UINT64_MAX / 10,
	                UINT64_MAX};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char buf[24], want[24];
		char *d = util_u64_digits(buf + 20, v[i]);

		snprintf(want, sizeof(want), "%" PRIu64, v[i]);
		ck_assert_uint_eq((size_t)(buf + 20 - d), strlen(want));
		ck_assert(memcmp(d, want, strlen(want)) == 0);
	}
	for (uint64_t x = 1; x < UINT64_MAX / 3; x = x * 3 + 1) {
		char buf[24], want[24];
		char *d = util_u64_digits(buf + 20, x);

		buf[20] = '\0';
		snprintf(want, sizeof(want), "%" PRIu64, x);
		ck_assert_str_eq(d, want);
	}
	/* buf_put_u64 appends the same, after what the buffer holds */
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct buf b = {0};
		char want[32];

		buf_puts(&b, "n=");
		buf_put_u64(&b, v[i]);
		snprintf(want, sizeof(want), "n=%" PRIu64, v[i]);
		ck_assert_uint_eq(b.len, strlen(want));
		ck_assert(memcmp(buf_head(&b), want, b.len) == 0);
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_parse_duration)
{
	double s;
	char *cause = NULL;
	ck_assert_int_eq(util_parse_duration("250ms", 0, &s, &cause), 0);
	ck_assert_double_eq_tol(s, 0.25, 1e-9);
	ck_assert_int_eq(util_parse_duration("30s", 0, &s, &cause), 0);
	ck_assert_double_eq_tol(s, 30, 1e-9);
	ck_assert_int_eq(util_parse_duration("5m", 0, &s, &cause), 0);
	ck_assert_double_eq_tol(s, 300, 1e-9);
	ck_assert_int_eq(util_parse_duration("1.5h", 0, &s, &cause), 0);
	ck_assert_double_eq_tol(s, 5400, 1e-9);
	ck_assert_int_eq(util_parse_duration("1500", 0.001, &s, &cause), 0);
	ck_assert_double_eq_tol(s, 1.5, 1e-9);

	ck_assert_int_eq(util_parse_duration("30", 0, &s, &cause), -1);
	ck_assert_str_eq(cause, "duration '30' needs a unit (ms, s, m, h)");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(util_parse_duration("-1s", 0, &s, &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(util_parse_duration("10 parsecs", 0, &s, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "unit"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(util_parse_duration("", 0, &s, &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(util_parse_duration("nan", 0, &s, &cause), -1);
	free(cause);
}
END_TEST

/* util_parse_duration's syntax is strict: nothing strtod takes beyond a
 * decimal number (hex, blanks, signs, inf, nan) gets through. */
START_TEST(test_parse_duration_strict)
{
	static const char *const bad[] = {
	    "0x10s", "0x1p4s", "\t5s", " 5s", "5 s", "5s ",  "+5s",   "-0s",
	    "infs",  "nans",   "inf",  ".s",  "e5s", "1e+s", "1..5s", "",
	};
	double s = -1;
	char *cause = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(util_parse_duration(bad[i], 0, &s, &cause) == -1,
		              "'%s' accepted as %g", bad[i], s);
		ck_assert_ptr_nonnull(cause);
		free(cause);
		cause = NULL;
	}
	ck_assert_int_eq(util_parse_duration("1e3ms", 0, &s, &cause), 0);
	ck_assert_double_eq_tol(s, 1, 1e-9);
	ck_assert_int_eq(util_parse_duration(".5s", 0, &s, &cause), 0);
	ck_assert_double_eq_tol(s, 0.5, 1e-9);
	ck_assert_int_eq(util_parse_duration("2d", 0, &s, &cause), 0);
	ck_assert_double_eq_tol(s, 172800, 1e-9);
	/* overflow to infinity is refused, not wrapped */
	ck_assert_int_eq(util_parse_duration("1e400s", 0, &s, &cause), -1);
	ck_assert_str_eq(cause, "duration '1e400s' is too large");
	free(cause);
	cause = NULL;
	/* a long value is quoted short */
	char lng[300];
	memset(lng, '9', sizeof(lng) - 2);
	lng[sizeof(lng) - 2] = 'x';
	lng[sizeof(lng) - 1] = '\0';
	ck_assert_int_eq(util_parse_duration(lng, 0, &s, &cause), -1);
	ck_assert_msg(strlen(cause) < 140 && strstr(cause, "...'"), "%s",
	              cause);
	free(cause);
}
END_TEST

/* The one range of config timers, `schedule` and svcctl. */
START_TEST(test_parse_duration_max)
{
	static const struct {
		const char *in;
		const char *err; /* NULL: accepted */
	} cases[] = {
	    {"30d", NULL},
	    {"720h", NULL},
	    {"1us", NULL},
	    {"100000d", "'100000d' is more than the maximum of 30d"},
	    {"9999999999999999999d",
	     "'9999999999999999999d' is more than the maximum of 30d"},
	    {"1e30s", "'1e30s' is more than the maximum of 30d"},
	    {"30.0001d", "'30.0001d' is more than the maximum of 30d"},
	    {"1e400s", "duration '1e400s' is too large"},
	    {"0s", "'0s' must be more than 0"},
	    {"0.0ms", "'0.0ms' must be more than 0"},
	    {"1500", "duration '1500' needs a unit (ms, s, m, h)"},
	    {"-5s", "invalid duration '-5s' (use e.g. 500ms, 30s, 5m)"},
	    {"nan", "invalid duration 'nan' (use e.g. 500ms, 30s, 5m)"},
	};
	double s;
	char *cause;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cause = NULL;
		int rc = util_parse_duration_max(
		    cases[i].in, UTIL_TASK_MAX, UTIL_TASK_MAX_TEXT, &s, &cause);
		if (!cases[i].err) {
			ck_assert_msg(rc == 0, "'%s': %s", cases[i].in, cause);
			ck_assert(s > 0 && s <= UTIL_TASK_MAX);
			continue;
		}
		ck_assert_msg(rc == -1, "'%s' accepted", cases[i].in);
		ck_assert_str_eq(cause, cases[i].err);
		free(cause);
	}

	/* integer milliseconds: the same range, no wrap */
	cause = NULL;
	ck_assert_int_eq(
	    util_duration_ms(2592000000LL, UTIL_TASK_MAX, "30d", &s, &cause),
	    0);
	ck_assert_double_eq_tol(s, UTIL_TASK_MAX, 1e-6);
	ck_assert_int_eq(
	    util_duration_ms(2592000001LL, UTIL_TASK_MAX, "30d", &s, &cause),
	    -1);
	ck_assert_str_eq(cause, "2592000001 (milliseconds) is more than the "
	                        "maximum of 30d");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(
	    util_duration_ms(INT64_MAX, UTIL_TASK_MAX, "30d", &s, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "maximum of 30d"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(util_duration_ms(0, UTIL_TASK_MAX, "30d", &s, &cause),
	                 -1);
	ck_assert_str_eq(cause, "0 (milliseconds) must be more than 0");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(
	    util_duration_ms(INT64_MIN, UTIL_TASK_MAX, "30d", &s, &cause), -1);
	free(cause);
}
END_TEST

START_TEST(test_parse_size)
{
	uint64_t v;
	char *cause = NULL;
	ck_assert_int_eq(util_parse_size("512", &v, &cause), 0);
	ck_assert_uint_eq(v, 512);
	ck_assert_int_eq(util_parse_size("64K", &v, &cause), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(util_parse_size("1M", &v, &cause), 0);
	ck_assert_uint_eq(v, 1 << 20);
	ck_assert_int_eq(util_parse_size("2GiB", &v, &cause), 0);
	ck_assert_uint_eq(v, 2ULL << 30);
	const char *bad[] = {"",    "K",   "-1",
	                     "12Q", "1MM", "99999999999999999999"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cause = NULL;
		ck_assert_msg(util_parse_size(bad[i], &v, &cause) == -1,
		              "accepted '%s'", bad[i]);
		ck_assert_ptr_nonnull(cause);
		free(cause);
	}
	cause = NULL;
	ck_assert_int_eq(util_parse_size("17179869184G", &v, &cause), -1);
	free(cause);
}
END_TEST

START_TEST(test_parse_uint_bool)
{
	uint64_t v;
	bool b;
	char *cause = NULL;
	ck_assert_int_eq(util_parse_uint("42", 100, &v, &cause), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(util_parse_uint("101", 100, &v, &cause), -1);
	ck_assert_str_eq(cause, "'101' is out of range (max 100)");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(util_parse_uint("4x", 100, &v, &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(util_parse_bool("Yes", &b, &cause), 0);
	ck_assert(b);
	ck_assert_int_eq(util_parse_bool("off", &b, &cause), 0);
	ck_assert(!b);
	ck_assert_int_eq(util_parse_bool("maybe", &b, &cause), -1);
	free(cause);
	/* a NULL cause is allowed when no reason is wanted */
	double d;
	ck_assert_int_eq(util_parse_uint("x", 10, &v, NULL), -1);
	ck_assert_int_eq(util_parse_size("1Q", &v, NULL), -1);
	ck_assert_int_eq(util_parse_duration("5", 0, &d, NULL), -1);
	ck_assert_int_eq(util_parse_bool("?", &b, NULL), -1);
}
END_TEST

START_TEST(test_parse_when)
{
	int64_t us = 0, now = 1764583200000000; /* 2025-12-01T10:00:00Z */
	char *cause = NULL;

	ck_assert_int_eq(util_parse_when("2025-12-01T10:00:00Z", 0, &us, NULL),
	                 0);
	ck_assert_int_eq(us, now);
	ck_assert_int_eq(
	    util_parse_when("2025-12-01T10:00:00.25Z", 0, &us, NULL), 0);
	ck_assert_int_eq(us, now + 250000);
	ck_assert_int_eq(
	    util_parse_when("2025-12-01T12:00:00+02:00", 0, &us, NULL), 0);
	ck_assert_int_eq(us, now);
	ck_assert_int_eq(
	    util_parse_when("2025-12-01T09:30:00-00:30", 0, &us, NULL), 0);
	ck_assert_int_eq(us, now);
	/* what util_format_time writes reads back */
	char buf[40];
	util_format_time(now + 123456, buf, sizeof(buf));
	ck_assert_int_eq(util_parse_when(buf, 0, &us, NULL), 0);
	ck_assert_int_eq(us, now + 123456);
	/* durations ago */
	ck_assert_int_eq(util_parse_when("5m", now, &us, NULL), 0);
	ck_assert_int_eq(us, now - 300000000);
	ck_assert_int_eq(util_parse_when("1.5s", now, &us, NULL), 0);
	ck_assert_int_eq(us, now - 1500000);
	ck_assert_int_eq(util_parse_when("0s", now, &us, NULL), 0);
	ck_assert_int_eq(us, now);
	/* refused, with the two forms named */
	static const char *const bad[] = {"",
	                                  "5",
	                                  "-5m",
	                                  "soon",
	                                  "2025-12-01",
	                                  "2025-12-01T10:00Z",
	                                  "2025-13-01T10:00:00Z",
	                                  "2025-12-01T24:00:00Z",
	                                  "2025-12-01T10:00:00",
	                                  "2025-12-01T10:00:00+2",
	                                  "2025-12-01T10:00:00Zx",
	                                  "2025-12-01T10:00:00.Z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(util_parse_when(bad[i], now, &us, &cause) < 0,
		              "'%s' parsed", bad[i]);
		ck_assert_ptr_nonnull(strstr(cause, "RFC 3339"));
		free(cause);
		cause = NULL;
	}
}
END_TEST

START_TEST(test_format_time_and_duration)
{
	char buf[64];
	util_format_time(1700000000123456LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2023-11-14T22:13:20.123456Z");
	util_format_duration(30, buf, sizeof(buf));
	ck_assert_str_eq(buf, "30s");
	util_format_duration(0.25, buf, sizeof(buf));
	ck_assert_str_eq(buf, "250ms");
	util_format_duration(300, buf, sizeof(buf));
	ck_assert_str_eq(buf, "5m");
	util_format_duration(7200, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2h");
}
END_TEST

static char last_line[256];
static int last_level;

static void
hook(enum log_level level, const char *msg, void *arg)
{
	(void)arg;
	last_level = (int)level;
	snprintf(last_line, sizeof(last_line), "%s", msg);
}

START_TEST(test_log_levels_and_hook)
{
	log_set_quiet(1);
	log_set_hook(hook, NULL);
	log_set_level(LOGL_INFO);
	last_line[0] = '\0';
	log_debug("hidden %d", 1);
	ck_assert_str_eq(last_line, "");
	log_info("shown %d", 2);
	ck_assert_str_eq(last_line, "shown 2");
	ck_assert_int_eq(last_level, LOGL_INFO);
	errno = ENOENT;
	log_warn_errno("open %s", "x");
	ck_assert_str_eq(last_line, "open x: No such file or directory");
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(log_parse_level("debug"), LOGL_DEBUG);
	ck_assert_int_eq(log_parse_level("WARNING"), LOGL_WARN);
	ck_assert_int_eq(log_parse_level("loud"), -1);
	log_set_hook(NULL, NULL);
	log_set_quiet(0);
}
END_TEST

START_TEST(test_family_forbidden)
{
	/* this process may make Unix and IPv4 sockets; a family the kernel
	 * does not know fails like one a sandbox forbids (EAFNOSUPPORT) */
	ck_assert(!util_family_forbidden(AF_UNIX));
	ck_assert(!util_family_forbidden(AF_INET));
	ck_assert(util_family_forbidden(AF_MAX + 1));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_buf_append_consume);
	tcase_add_test(tc, test_buf_printf_long);
	tcase_add_test(tc, test_json_string_escapes);
	tcase_add_test(tc, test_u64_digits);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_parse_duration_strict);
	tcase_add_test(tc, test_parse_duration_max);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_uint_bool);
	tcase_add_test(tc, test_parse_when);
	tcase_add_test(tc, test_format_time_and_duration);
	tcase_add_test(tc, test_log_levels_and_hook);
	tcase_add_test(tc, test_family_forbidden);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
