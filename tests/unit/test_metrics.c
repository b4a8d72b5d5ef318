/* test_metrics.c — Check tests for services/metrics.c's text: the
 * framework's series per service, a service's figures mapped through its
 * descriptor's metrics table (counter/gauge/untyped, names, nested
 * objects, arrays and objects of objects as labels, escaping, scale), and every
 * family's samples under its one # HELP / # TYPE. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/service.h"
#include "daemon/testing.h"
#include "daemon/util.h"
#include "services/metrics.h"
#include "testutil.h"

static json_t *
cache_figures(struct svc *self)
{
	json_t *o;

	(void)self;
	o = json_pack("{s:i, s:i, s:f, s:b, s:s, s:{s:i}, s:[{s:s, s:i, "
	              "s:i}, {s:s, s:i, s:i}], s:i, s:n, s:[s], s:i, s:i}",
	              "hits", 5, "size", 3, "ratio", 0.5, "ok", 1, "name", "x",
	              "nested", "depth", 2, "shards", "name", "a", "keys", 1,
	              "wait_ms", 1500, "name", "b\"q\\", "keys", 2, "wait_ms",
	              0, "weird-key", 1, "none", "list", "s", "up_s", 7,
	              "lag_ms", 250);
	/* an object of objects with a LABELS entry: one series per member */
	json_object_set_new(o, "links",
	                    json_pack("{s:{s:i, s:i}, s:{s:i, s:i}}", "pub",
	                              "up", 1, "ping_ms", 2, "re\"ad", "up", 0,
	                              "ping_ms", 4));
	return o;
}

static const struct svc_metric cache_metrics[] = {
    {.figure = "hits", .type = SVC_METRIC_COUNTER, .help = "cache hits"},
    {.figure = "size", .type = SVC_METRIC_GAUGE, .help = "entries\nnow"},
    {.figure = "shards", .type = SVC_METRIC_LABELS, .label = "shard"},
    {.figure = "shards.keys",
     .type = SVC_METRIC_COUNTER,
     .help = "keys stored",
     .name = "keys_stored"},
    {.figure = "shards.wait_ms",
     .type = SVC_METRIC_GAUGE,
     .help = "wait",
     .name = "wait_seconds",
     .scale = 1e-3},
    {.figure = "links", .type = SVC_METRIC_LABELS, .label = "link"},
    {.figure = "links.up", .type = SVC_METRIC_GAUGE, .help = "link up"},
};

static int
ok_init(struct svc *self, char **cause)
{
	(void)self;
	(void)cause;
	return 0;
}

static int
fail_init(struct svc *self, char **cause)
{
	(void)self;
	*cause = xstrdup("no");
	return -1;
}

static const struct svc_desc cache_desc = {
    .name = "cache",
    .init = ok_init,
    .figures = cache_figures,
    SVC_METRICS(cache_metrics),
};

static const struct svc_desc down_desc = {
    .name = "down",
    .optional = true,
    .init = fail_init,
    .figures = cache_figures,
};

static const struct svc_desc *const table[] = {&cache_desc, &down_desc};

static char *
render(void)
{
	char *cause = NULL;
	struct svcd_test *t = svcd_test_new(table, 2, &cause);

	ck_assert_msg(t, "%s", cause ? cause : "");
	svcd_test_start(t, NULL, 5, &cause);
	free(cause);
	size_t len;
	char *text = metrics_text(svcd_test_graph(t), &len);
	ck_assert_uint_eq(len, strlen(text));
	svcd_test_stop(t, 5, NULL);
	svcd_test_free(t);
	return text;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

START_TEST(test_figures_mapped)
{
	char *text = render();

	ck_assert_ptr_nonnull(strstr(text,
	                             "# HELP svcd_cache_hits_total cache "
	                             "hits\n# TYPE svcd_cache_hits_total "
	                             "counter\nsvcd_cache_hits_total 5\n"));
	/* a newline in help is escaped */
	ck_assert_ptr_nonnull(strstr(text,
	                             "# HELP svcd_cache_size entries\\nnow\n"
	                             "# TYPE svcd_cache_size gauge\n"
	                             "svcd_cache_size 3\n"));
	/* no entry: untyped, a help naming the figure */
	ck_assert_ptr_nonnull(strstr(text, "# TYPE svcd_cache_ratio untyped\n"
	                                   "svcd_cache_ratio 0.5\n"));
	ck_assert_ptr_nonnull(strstr(text,
	                             "# HELP svcd_cache_ratio cache figure "
	                             "ratio"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE svcd_cache_ok gauge\n"
	                                   "svcd_cache_ok 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nsvcd_cache_nested_depth 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nsvcd_cache_weird_key 1\n"));
	/* strings, nulls and arrays of strings are for status only */
	ck_assert_ptr_null(strstr(text, "svcd_cache_name"));
	ck_assert_ptr_null(strstr(text, "svcd_cache_none"));
	ck_assert_ptr_null(strstr(text, "svcd_cache_list"));
	/* an array: one series per object, labelled, under one family */
	ck_assert_ptr_nonnull(strstr(
	    text,
	    "# TYPE svcd_cache_shard_keys_stored_total counter\n"
	    "svcd_cache_shard_keys_stored_total{shard=\"a\"} 1\n"
	    "svcd_cache_shard_keys_stored_total{shard=\"b\\\"q\\\\\"} 2\n"));
	ck_assert_uint_eq(
	    count(text, "# TYPE svcd_cache_shard_keys_stored_total "), 1);
	ck_assert_ptr_nonnull(
	    strstr(text, "svcd_cache_shard_wait_seconds{shard=\"a\"} 1.5\n"));
	/* an object of objects: its keys label the series */
	ck_assert_ptr_nonnull(
	    strstr(text, "# TYPE svcd_cache_link_up gauge\n"
	                 "svcd_cache_link_up{link=\"pub\"} 1\n"
	                 "svcd_cache_link_up{link=\"re\\\"ad\"} 0\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "svcd_cache_link_ping_seconds{link=\"pub\"} 0.002\n"));
	ck_assert_ptr_null(strstr(text, "svcd_cache_links_"));
	/* no entry, a unit in the name: the base unit, named for it */
	ck_assert_ptr_nonnull(strstr(text, "\nsvcd_cache_up_seconds 7\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nsvcd_cache_lag_seconds 0.25\n"));
	ck_assert_ptr_null(strstr(text, "svcd_cache_up_s "));
	free(text);
}
END_TEST

START_TEST(test_framework_series)
{
	char *text = render();

	ck_assert_ptr_nonnull(strstr(text,
	                             "svcd_service_up{service=\"cache\"} 1\n"
	                             "svcd_service_up{service=\"down\"} "
	                             "0\n"));
	ck_assert_ptr_nonnull(strstr(text, "svcd_service_healthy{service="
	                                   "\"down\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(text,
	                             "svcd_service_state{service=\"down\","
	                             "state=\"failed\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "svcd_services{state=\"running\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "svcd_services{state=\"failed\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "svcd_build_info{version=\""));
	/* a service that is not running has no figures */
	ck_assert_ptr_null(strstr(text, "svcd_down_"));
	free(text);
}
END_TEST

/* Every sample belongs to the family of the # TYPE line above it. */
START_TEST(test_families_contiguous)
{
	char *text = render(), *save = NULL;
	char fam[256] = "";
	size_t types = 0, helps = 0;

	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "# HELP ", 7) == 0) {
			helps++;
			continue;
		}
		if (strncmp(l, "# TYPE ", 7) == 0) {
			types++;
			size_t n = strcspn(l + 7, " ");
			ck_assert_uint_lt(n, sizeof(fam));
			memcpy(fam, l + 7, n);
			fam[n] = '\0';
			continue;
		}
		size_t n = strcspn(l, "{ ");
		ck_assert_msg(n == strlen(fam) && strncmp(l, fam, n) == 0,
		              "sample '%s' under family '%s'", l, fam);
	}
	ck_assert_uint_eq(types, helps);
	ck_assert_uint_gt(types, 10);
	free(text);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_figures_mapped);
	tcase_add_test(tc, test_framework_series);
	tcase_add_test(tc, test_families_contiguous);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
