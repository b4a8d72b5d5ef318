/* test_manager.c — Check tests for services/manager.c: signals, shutdown
 * handlers, the shutdown sequence and its timeouts, reload. */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "services/manager.h"
#include "daemon/service.h"
#include "testutil.h"
#include "daemon/util.h"

/* ---- what happened, in order ---- */

static char trace[2048];

static void note(const char *fmt, ...) PRINTF_LIKE(1, 2);

static void
note(const char *fmt, ...)
{
	size_t len = strlen(trace);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(trace + len, sizeof(trace) - len, fmt, ap);
	va_end(ap);
}

/* ---- test services: a, b (requires a), stuck (stop never completes) ---- */

static int
plain_init(struct svc *self, char **cause)
{
	return 0;
}

static int
plain_stop(struct svc *self)
{
	note("stop:%s ", svc_name(self));
	return 0;
}

static int
stuck_stop(struct svc *self)
{
	note("stop:%s ", svc_name(self));
	return SVC_PENDING;
}

static const struct svc_desc a_service = {
    .name = "a",
    .init = plain_init,
    .stop = plain_stop,
};

static const struct svc_desc b_service = {
    .name = "b",
    .requires = SVC_REQUIRES("a"),
    .init = plain_init,
    .stop = plain_stop,
};

/* init never completes by itself: a start that is still under way */
static int
pending_init(struct svc *self, char **cause)
{
	note("init:%s ", svc_name(self));
	return SVC_PENDING;
}

static const struct svc_desc slow_service = {
    .name = "slow",
    .requires = SVC_REQUIRES("b"),
    .init = pending_init,
    .stop = plain_stop,
};

static const struct svc_desc stuck_service = {
    .name = "stuck",
    .requires = SVC_REQUIRES("a"),
    .init = plain_init,
    .stop = stuck_stop,
};

/* ---- fixture ---- */

static struct ev_loop *loop;
static struct svc_graph *graph;
static ev_timer guard;
static bool timed_out;

static void
guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	timed_out = true;
	ev_break(l, EVBREAK_ALL);
}

static void
progress_cb(const char *phase, const char *service, const char *state,
            void *arg)
{
	if (strcmp(phase, "service") == 0)
		note("%s=%s ", service, state ? state : "-");
	else
		note("[%s] ", phase);
}

static void
boot_done(struct svc_graph *g, int status, const char *cause, void *arg)
{
	*(int *)arg = status;
}

static void
setup(void)
{
	tu_log_capture();
	trace[0] = '\0';
	timed_out = false;
	loop = ev_loop_new(EVFLAG_AUTO);
	ev_timer_init(&guard, guard_cb, 2.0, 0);
	ev_timer_start(loop, &guard);
	manager_add_progress(progress_cb, NULL);
}

static void
teardown(void)
{
	manager_remove_progress(progress_cb, NULL);
	manager_set_reload(NULL, NULL);
	ev_timer_stop(loop, &guard);
	if (graph)
		svc_graph_free(graph);
	graph = NULL;
	ev_loop_destroy(loop);
	tu_conf_reset();
	tu_log_release();
}

/* Boot manager + the given services; asserts it all came up. */
static void
boot(const struct svc_desc *const *table, size_t n)
{
	ck_assert_int_eq(tu_boot(loop, table, n, &graph, &timed_out), 0);
}

/* Stop whatever still runs (after a test that ended the loop early). */
static void
stop_rest(void)
{
	tu_stop(loop, graph, &timed_out);
	ck_assert(!timed_out);
}

/* ---- handlers ---- */

static int
sync_handler(struct manager_handler *h, void *arg)
{
	note("handler:%s ", (const char *)arg);
	return 0;
}

struct later {
	ev_timer t;
	struct manager_handler *h;
	const char *name;
};

static void
later_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct later *lt = (struct later *)w;

	note("done:%s ", lt->name);
	manager_handler_done(lt->h, 0);
}

static int
async_handler(struct manager_handler *h, void *arg)
{
	struct later *lt = arg;

	note("handler:%s ", lt->name);
	lt->h = h;
	ev_timer_init(&lt->t, later_cb, 0.005, 0);
	ev_timer_start(loop, &lt->t);
	return SVC_PENDING;
}

static int
never_handler(struct manager_handler *h, void *arg)
{
	note("handler:%s ", (const char *)arg);
	return SVC_PENDING;
}

/* ---- tests ---- */

START_TEST(test_sigterm_sequence)
{
	const struct svc_desc *table[] = {&manager_service, &a_service,
	                                  &b_service};

	boot(table, 3);
	manager_add_shutdown_handler("h1", sync_handler, "h1", 0);
	manager_add_shutdown_handler("h2", sync_handler, "h2", 0);
	ck_assert(!manager_shutting_down());
	raise(SIGTERM);
	ev_run(loop, 0);
	ck_assert_msg(!timed_out, "loop did not end: %s", trace);
	ck_assert_int_eq(manager_exit_status(), 0);
	ck_assert(manager_shutting_down());
	ck_assert(tu_log_seen("shutting down: received SIGTERM"));
	/* handlers in order, then b before a, manager last, exit at the end */
	const char *p = trace;
	const char *want[] = {"[stopping]", "handler:h1",      "handler:h2",
	                      "stop:b",     "b=stopped",       "stop:a",
	                      "a=stopped",  "manager=stopped", "[exit]"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *q = strstr(p, want[i]);

		ck_assert_msg(q != NULL, "'%s' missing or out of order in: %s",
		              want[i], trace);
		p = q + strlen(want[i]);
	}
	const char *bs = strstr(trace, "b=stopping");
	ck_assert_msg(bs && bs < strstr(trace, "b=stopped"), "%s", trace);
	ck_assert_int_eq(svc_state(svc_graph_find(graph, "manager")),
	                 SVC_STOPPED);
	ck_assert_int_eq(svc_state(svc_graph_find(graph, "a")), SVC_STOPPED);
}
END_TEST

START_TEST(test_async_handler)
{
	const struct svc_desc *table[] = {&manager_service, &a_service,
	                                  &b_service};
	struct later lt = {.name = "slow"};

	boot(table, 3);
	manager_add_shutdown_handler("slow", async_handler, &lt, 1.0);
	manager_add_shutdown_handler("h2", sync_handler, "h2", 0);
	manager_shutdown("test");
	ck_assert(manager_shutting_down());
	ev_run(loop, 0);
	ck_assert_msg(!timed_out, "loop did not end: %s", trace);
	ck_assert_int_eq(manager_exit_status(), 0);
	const char *s = strstr(trace, "handler:slow");
	const char *d = strstr(trace, "done:slow");
	const char *h2 = strstr(trace, "handler:h2");
	const char *b = strstr(trace, "stop:b");
	ck_assert_msg(s && d && h2 && b && s < d && d < h2 && h2 < b,
	              "wrong order: %s", trace);
	ck_assert(!tu_log_seen("did not finish"));
}
END_TEST

START_TEST(test_handler_timeout)
{
	const struct svc_desc *table[] = {&manager_service, &a_service,
	                                  &b_service};

	boot(table, 3);
	manager_add_shutdown_handler("hang", never_handler, "hang", 0.02);
	manager_add_shutdown_handler("h2", sync_handler, "h2", 0);
	raise(SIGINT);
	ev_run(loop, 0);
	ck_assert_msg(!timed_out, "loop did not end: %s", trace);
	ck_assert_int_eq(manager_exit_status(), 0);
	ck_assert_msg(
	    tu_log_seen("shutdown handler 'hang' did not finish within"),
	    "log: %s", tu_log_text());
	const char *h = strstr(trace, "handler:hang");
	const char *h2 = strstr(trace, "handler:h2");
	ck_assert_msg(h && h2 && h < h2 && strstr(trace, "stop:a"),
	              "wrong order: %s", trace);
}
END_TEST

START_TEST(test_global_timeout)
{
	const struct svc_desc *table[] = {&manager_service, &a_service,
	                                  &stuck_service};
	struct manager_conf *c = tu_opts("manager");

	c->shutdown_timeout = 0.03;
	boot(table, 3);
	svc_graph_set_timeouts(graph, 1.0, 0.08);
	raise(SIGTERM);
	ev_run(loop, 0);
	ck_assert_msg(!timed_out, "loop did not end: %s", trace);
	ck_assert_int_eq(manager_exit_status(), 1);
	ck_assert_msg(tu_log_seen("shutdown timed out after 30ms waiting for: "
	                          "stuck"),
	              "log: %s", tu_log_text());
	ck_assert(strstr(trace, "[exit]") != NULL);
	ck_assert(strstr(trace, "stop:a") == NULL);
	/* the framework's own stop timeout lets the rest stop afterwards */
	while (svc_state(svc_graph_find(graph, "manager")) != SVC_STOPPED &&
	       !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_eq(manager_exit_status(), 1);
}
END_TEST

START_TEST(test_global_timeout_names_handler)
{
	const struct svc_desc *table[] = {&manager_service, &a_service};
	struct manager_conf *c = tu_opts("manager");

	c->shutdown_timeout = 0.02;
	boot(table, 2);
	manager_add_shutdown_handler("forever", never_handler, "forever", 5);
	manager_shutdown("test");
	ev_run(loop, 0);
	ck_assert(!timed_out);
	ck_assert_int_eq(manager_exit_status(), 1);
	ck_assert_msg(tu_log_seen("waiting for: shutdown handler 'forever'"),
	              "log: %s", tu_log_text());
	stop_rest();
}
END_TEST

START_TEST(test_second_signal)
{
	const struct svc_desc *table[] = {&manager_service, &a_service,
	                                  &b_service};

	boot(table, 3);
	manager_add_shutdown_handler("forever", never_handler, "forever", 5);
	raise(SIGTERM);
	while (!strstr(trace, "handler:forever") && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert(manager_shutting_down());
	raise(SIGINT);
	ev_run(loop, 0);
	ck_assert(!timed_out);
	ck_assert_int_eq(manager_exit_status(), 1);
	ck_assert_msg(
	    tu_log_seen("received SIGINT during shutdown; exiting now"),
	    "log: %s", tu_log_text());
	ck_assert(strstr(trace, "[exit]") != NULL);
	/* nothing was stopped: the exit was immediate */
	ck_assert(strstr(trace, "stop:") == NULL);
	ck_assert_int_eq(svc_state(svc_graph_find(graph, "a")), SVC_RUNNING);
	stop_rest();
	ck_assert_int_eq(manager_exit_status(), 1);
}
END_TEST

static int reloads;

static int
reload_ok(void *arg, char **cause)
{
	reloads++;
	return 0;
}

static int
reload_bad(void *arg, char **cause)
{
	reloads++;
	*cause = xstrdup("svcd.conf:3: unknown key 'x' in [bus]");
	return -1;
}

START_TEST(test_sighup_reload)
{
	const struct svc_desc *table[] = {&manager_service, &a_service};
	char *cause = NULL;

	reloads = 0;
	boot(table, 2);
	ck_assert_int_eq(manager_reload(&cause), 0); /* no hook: nothing */
	manager_set_reload(reload_ok, NULL);
	raise(SIGHUP);
	while (reloads < 1 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(reloads, 1);
	ck_assert(tu_log_seen("configuration reloaded"));

	manager_set_reload(reload_bad, NULL);
	raise(SIGHUP);
	while (reloads < 2 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(reloads, 2);
	ck_assert_msg(
	    tu_log_seen("reload failed: svcd.conf:3: unknown key 'x' in "
	                "[bus]; keeping the running configuration"),
	    "log: %s", tu_log_text());
	ck_assert_int_eq(manager_reload(&cause), -1);
	ck_assert_str_eq(cause, "svcd.conf:3: unknown key 'x' in [bus]");
	free(cause);
	/* still serving: a SIGTERM shuts down cleanly */
	ck_assert(!manager_shutting_down());
	raise(SIGTERM);
	ev_run(loop, 0);
	ck_assert(!timed_out);
	ck_assert_int_eq(manager_exit_status(), 0);
}
END_TEST

struct boot_result {
	int status;
	bool stopping; /* svc_graph_stopping() when it completed */
	char cause[128];
};

static void
boot_seen(struct svc_graph *g, int status, const char *cause, void *arg)
{
	struct boot_result *r = arg;

	r->status = status;
	r->stopping = svc_graph_stopping(g);
	snprintf(r->cause, sizeof(r->cause), "%s", cause ? cause : "");
}

/*
 * SIGTERM while an async init is pending: the start is cancelled (its
 * completion says so, while the graph is stopping), what started is stopped
 * in reverse order, and the shutdown is clean (exit status 0).
 */
START_TEST(test_sigterm_during_start)
{
	const struct svc_desc *table[] = {&manager_service, &a_service,
	                                  &b_service, &slow_service};
	struct boot_result r = {.status = 99};
	char *cause = NULL;

	graph = svc_graph_new(loop, table, 4, &cause);
	ck_assert_ptr_nonnull(graph);
	svc_start(graph, NULL, boot_seen, &r);
	ck_assert_int_eq(r.status, 99); /* slow is still starting */
	ck_assert_int_eq(svc_state(svc_graph_find(graph, "slow")),
	                 SVC_STARTING);
	ck_assert(!svc_graph_stopping(graph));
	raise(SIGTERM);
	ev_run(loop, 0);
	ck_assert_msg(!timed_out, "loop did not end: %s", trace);
	ck_assert_int_eq(r.status, -1);
	ck_assert_msg(r.stopping, "the cancelled start is not told apart");
	ck_assert_str_eq(r.cause, "start cancelled: services are stopping");
	ck_assert_int_eq(manager_exit_status(), 0);
	ck_assert(!svc_graph_stopping(graph)); /* the stop is over */
	/* slow never ran: not stopped; b before a, manager last */
	ck_assert_msg(strstr(trace, "stop:slow") == NULL, "%s", trace);
	const char *p = trace;
	const char *want[] = {"init:slow", "[stopping]", "slow=stopped",
	                      "stop:b",    "stop:a",     "manager=stopped",
	                      "[exit]"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *q = strstr(p, want[i]);

		ck_assert_msg(q != NULL, "'%s' missing or out of order in: %s",
		              want[i], trace);
		p = q + strlen(want[i]);
	}
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(svc_state(svc_graph_at(graph, i)),
		                 SVC_STOPPED);
}
END_TEST

START_TEST(test_restart_and_remove)
{
	const struct svc_desc *table[] = {&manager_service, &a_service};

	/* boot, stop without a shutdown, boot again: state is fresh */
	boot(table, 2);
	manager_add_shutdown_handler("gone", sync_handler, "gone", 0);
	manager_remove_shutdown_handler(sync_handler, "gone");
	stop_rest();
	svc_reset(graph);
	int status = 99;
	svc_start(graph, NULL, boot_done, &status);
	while (status == 99 && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(status, 0);
	ck_assert(!manager_shutting_down());
	manager_add_shutdown_handler("h1", sync_handler, "h1", 0);
	raise(SIGTERM);
	ev_run(loop, 0);
	ck_assert(!timed_out);
	ck_assert_int_eq(manager_exit_status(), 0);
	ck_assert(strstr(trace, "handler:gone") == NULL);
	ck_assert(strstr(trace, "handler:h1") != NULL);
}
END_TEST

/* ---- [daemon] required: the start policy's configuration ---- */

static int
failing_init(struct svc *self, char **cause)
{
	*cause = xstrdup("down");
	return -1;
}

static const struct svc_desc flaky_service = {
    .name = "flaky",
    .requires = SVC_REQUIRES("a"),
    .init = failing_init,
    .optional = true,
};

START_TEST(test_optional_failure_boots)
{
	const struct svc_desc *table[] = {&manager_service, &a_service,
	                                  &flaky_service};

	ck_assert_int_eq(tu_boot(loop, table, 3, &graph, &timed_out), 0);
	ck_assert_int_eq(svc_state(svc_graph_find(graph, "flaky")), SVC_FAILED);
	ck_assert(!svc_required(svc_graph_find(graph, "flaky")));
	ck_assert(tu_log_seen("service 'flaky' failed to initialize: down "
	                      "(optional: the others go on without it)"));
	stop_rest();
}
END_TEST

START_TEST(test_required_key_fails_boot)
{
	const struct svc_desc *table[] = {&manager_service, &a_service,
	                                  &flaky_service};
	/* [daemon] required = a, flaky: a file's names are checked against
	 * the table it is loaded for (t_bridge.sh), so set the value the
	 * manager applies directly in this test's table's options */
	struct manager_conf *mc = tu_opts("manager");
	char **req = xcalloc(3, sizeof(*req));

	req[0] = xstrdup("a");
	req[1] = xstrdup("flaky");
	svc_conf_strv_free(mc->required);
	mc->required = req;
	ck_assert_int_eq(tu_boot(loop, table, 3, &graph, &timed_out), -1);
	ck_assert_str_eq(tu_boot_cause(),
	                 "service 'flaky' failed to initialize: down");
	ck_assert(svc_required(svc_graph_find(graph, "flaky")));
	stop_rest();
}
END_TEST

static Suite *
manager_suite(void)
{
	Suite *s = suite_create("manager");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sigterm_sequence);
	tcase_add_test(tc, test_async_handler);
	tcase_add_test(tc, test_handler_timeout);
	tcase_add_test(tc, test_global_timeout);
	tcase_add_test(tc, test_global_timeout_names_handler);
	tcase_add_test(tc, test_second_signal);
	tcase_add_test(tc, test_sighup_reload);
	tcase_add_test(tc, test_restart_and_remove);
	tcase_add_test(tc, test_sigterm_during_start);
	tcase_add_test(tc, test_optional_failure_boots);
	tcase_add_test(tc, test_required_key_fails_boot);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(manager_suite());
}
