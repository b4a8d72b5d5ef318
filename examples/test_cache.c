/*
 * test_cache.c — Check tests of the example's cache and user services,
 * built like the daemon against the installed libsvcd only. Each case gets
 * a fresh loop and graph (svcd_test_new), its own configuration from text,
 * and svcd_test_reset (svc_reset) where a case starts the graph twice.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <svcd.h>

#include "cache.h"
#include "user.h"

static const struct svc_desc *const table[] = {&cache_service, &user_service};
static struct svcd_test *t;

static void
setup(void)
{
	char *cause = NULL;

	t = svcd_test_new(table, 2, &cause);
	ck_assert_msg(t != NULL, "svcd_test_new: %s", cause);
	svcd_test_log_capture(t); /* quiet; asserted on below */
}

static void
teardown(void)
{
	svcd_test_free(t);
	t = NULL;
}

/* Load text as the configuration; an error fails the test. */
static void
config(const char *text)
{
	char *cause = NULL;

	ck_assert_msg(svcd_test_config(t, text, &cause) == 0, "config: %s",
	              cause);
}

static void
start(const char *name)
{
	char *cause = NULL;

	ck_assert_msg(svcd_test_start(t, name, 5, &cause) == 0, "start: %s",
	              cause);
}

static const char *
source_of(uint64_t id)
{
	static char source[16];
	json_t *u = user_get(svcd_test_service(t, "user"), id);

	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(json_integer_value(json_object_get(u, "id")),
	                 (json_int_t)id);
	snprintf(source, sizeof(source), "%s",
	         json_string_value(json_object_get(u, "source")));
	json_decref(u);
	return source;
}

START_TEST(test_async_init)
{
	struct svc_info info;

	config("[cache]\nconnect = 50ms\n");
	start("cache");
	svc_get_info(svcd_test_service(t, "cache"), &info);
	ck_assert_int_eq(info.state, SVC_RUNNING);
	ck_assert_msg(info.init_ms >= 45, "init took %.1f ms", info.init_ms);
	ck_assert(svcd_test_log_seen(t, "cache: connected"));
	ck_assert_int_eq(svc_ping(svcd_test_service(t, "cache"), NULL), 0);
}
END_TEST

START_TEST(test_connect_timeout)
{
	char *cause = NULL;

	config("[cache]\nconnect = 10s\nconnect_timeout = 50ms\n");
	ck_assert_int_eq(svcd_test_start(t, "user", 5, &cause), -1);
	ck_assert_msg(strstr(cause, "connecting timed out after 0.05 s"),
	              "cause: %s", cause);
	free(cause);
	ck_assert_int_eq(svc_state(svcd_test_service(t, "cache")), SVC_FAILED);
	ck_assert_int_eq(svc_state(svcd_test_service(t, "user")), SVC_BLOCKED);
}
END_TEST

START_TEST(test_user_from_cache)
{
	config("[cache]\nconnect = 1ms\n");
	start("user"); /* and cache first */
	ck_assert_str_eq(source_of(1), "database");
	ck_assert_str_eq(source_of(1), "cache");
	ck_assert_str_eq(source_of(2), "database");

	json_t *fig = cache_service.figures(svcd_test_service(t, "cache"));
	ck_assert_int_eq(json_integer_value(json_object_get(fig, "entries")),
	                 2);
	ck_assert_int_eq(json_integer_value(json_object_get(fig, "hits")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(fig, "misses")), 2);
	json_decref(fig);
}
END_TEST

START_TEST(test_size_bound)
{
	config("[cache]\nconnect = 1ms\nsize = 2\n");
	start(NULL);
	source_of(1);
	source_of(2);
	source_of(3); /* 1 goes */
	ck_assert_str_eq(source_of(3), "cache");
	ck_assert_str_eq(source_of(1), "database");
}
END_TEST

START_TEST(test_ttl)
{
	config("[cache]\nconnect = 1ms\nttl = 20ms\n");
	start(NULL);
	ck_assert_str_eq(source_of(7), "database");
	ck_assert_str_eq(source_of(7), "cache");
	svcd_test_run_for(t, 0.05);
	ck_assert_str_eq(source_of(7), "database");
}
END_TEST

START_TEST(test_reset_between_runs)
{
	config("[cache]\nconnect = 1ms\n");
	start(NULL);
	source_of(1);
	ck_assert_str_eq(source_of(1), "cache");
	ck_assert_int_eq(svcd_test_reset(t, 5), 0);
	ck_assert_int_eq(svc_state(svcd_test_service(t, "cache")),
	                 SVC_INACTIVE);
	ck_assert(svcd_test_log_seen(t, "cache: 1 entries dropped"));
	start(NULL); /* a new cache: empty */
	ck_assert_str_eq(source_of(1), "database");
}
END_TEST

START_TEST(test_stop_while_connecting)
{
	char *cause = NULL;

	config("[cache]\nconnect = 10s\nconnect_timeout = 20s\n");
	ck_assert_int_eq(svcd_test_start(t, "cache", 0.05, &cause), -1);
	free(cause);
	/* the framework cancels the start; the cache drops what it holds */
	ck_assert_int_eq(svcd_test_reset(t, 5), 0);
	ck_assert_ptr_null(svc_priv(svcd_test_service(t, "cache")));
	config("[cache]\nconnect = 1ms\n");
	start(NULL);
	ck_assert_str_eq(source_of(1), "database");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("example");
	TCase *tc = tcase_create("cache and user");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_async_init);
	tcase_add_test(tc, test_connect_timeout);
	tcase_add_test(tc, test_user_from_cache);
	tcase_add_test(tc, test_size_bound);
	tcase_add_test(tc, test_ttl);
	tcase_add_test(tc, test_reset_between_runs);
	tcase_add_test(tc, test_stop_while_connecting);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
