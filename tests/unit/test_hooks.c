/* test_hooks.c — Check tests for services/hooks.c: stdin and environment,
 * output logging, failures and retries, timeouts, concurrency, stop. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "services/hooks.h"
#include "daemon/log.h"
#include "daemon/service.h"
#include "daemon/util.h"
#include "services/worker.h"
#include "testutil.h"

/* ev_child works on the default loop only: every test uses it (a fresh
 * graph per test; the loop is cleared of our watchers in teardown). */
static struct ev_loop *loop;
static struct svc_graph *graph;
static ev_timer guard;
static ev_timer tick;
static bool timed_out;
static char dir[64];

static const struct svc_desc *const table[] = {
    &worker_service,
    &bus_service,
    &hooks_service,
};

static void
setup(void)
{
	tu_log_capture();
	/* as svcd's manager does: a hook that exits before reading its stdin
	 * must give EPIPE, not kill the test */
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(0);
	tu_deadline_start(loop, &guard, 5.0, &timed_out);
	tu_tick_start(loop, &tick);
	snprintf(dir, sizeof(dir), "/tmp/test_hooks.XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
}

/* Load the configuration text (@D is replaced by the temp dir) and boot.
 * Hooks listen on "x" or "user.*": the framework emits events of its own. */
static void
boot(const char *text)
{
	tu_conf_text(dir, text);
	ck_assert_int_eq(
	    tu_boot(loop, table, ARRAY_SIZE(table), &graph, &timed_out), 0);
}

static void
stop_graph(void)
{
	if (!graph)
		return;
	tu_stop(loop, graph, &timed_out);
	svc_graph_free(graph);
	graph = NULL;
}

static void
teardown(void)
{
	char *cmd;

	stop_graph();
	ev_timer_stop(loop, &guard);
	ev_timer_stop(loop, &tick);
	tu_conf_reset();
	tu_log_release();
	cmd = xasprintf("rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static void
emit(const char *name, const char *data)
{
	ck_assert_int_eq(bus_emit(tu_bus(), name, strlen(name), data,
	                          strlen(data), "test", NULL, NULL),
	                 0);
}

/* The named figure of the first hook. */
static json_int_t
figure(const char *key)
{
	json_t *a = hooks_list_json();
	json_int_t v =
	    json_integer_value(json_object_get(json_array_get(a, 0), key));

	json_decref(a);
	return v;
}

static void
wait_idle(void)
{
	/* at least one loop turn so the bus dispatches what was emitted */
	ev_run(loop, EVRUN_ONCE);
	while (!timed_out && !hooks_idle())
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
}

static char *
slurp(const char *name)
{
	char path[128], *s;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return xstrdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = xcalloc(1, (size_t)n + 1);
	ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

START_TEST(test_stdin_env_and_output)
{
	json_t *j, *figures;
	json_error_t err;
	char *out;

	boot("[hook.mail]\non = user.*\n"
	     "exec = /bin/sh -c 'cat >>@D/in; "
	     "echo \"$SVCD_EVENT $SVCD_SEQ $SVCD_HOOK\"; echo oops >&2'\n");
	uint64_t seq = bus_last_seq(tu_bus()) + 2;
	char *want = xasprintf("6 hook mail: user.registered %llu mail\n",
	                       (unsigned long long)seq);

	emit("other", "{}");
	emit("user.registered", "{\"email\":\"ada@example.org\"}");
	wait_idle();
	out = slurp("in");
	ck_assert_msg(out[strlen(out) - 1] == '\n', "one line: %s", out);
	j = json_loads(out, 0, &err);
	ck_assert_msg(j != NULL, "stdin %s: %s", out, err.text);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "seq")),
	                 (json_int_t)seq);
	ck_assert_str_eq(json_string_value(json_object_get(j, "event")),
	                 "user.registered");
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_object_get(j, "data"), "email")),
	                 "ada@example.org");
	ck_assert_str_eq(json_string_value(json_object_get(j, "source")),
	                 "test");
	ck_assert(json_is_string(json_object_get(j, "time")));
	json_decref(j);
	free(out);
	ck_assert_msg(tu_log_seen(want), "log: %s", tu_log_text());
	free(want);
	ck_assert(tu_log_seen("4 hook mail: oops\n"));
	ck_assert_int_eq(figure("runs"), 1);
	ck_assert_int_eq(figure("ok"), 1);
	ck_assert_int_eq(figure("failures"), 0);
	ck_assert_int_eq(figure("last_seq"), (json_int_t)seq);
	figures = hooks_stats_json();
	ck_assert_int_eq(json_integer_value(json_object_get(figures, "hooks")),
	                 1);
	ck_assert_int_eq(json_integer_value(json_object_get(figures, "ok")), 1);
	json_decref(figures);
}
END_TEST

START_TEST(test_failing_hook_retries)
{
	int64_t t0;

	boot("[hook.bad]\non = x\nretries = 2\nbackoff = 10ms\n"
	     "exec = /bin/sh -c 'echo run >>@D/runs; exit 3'\n");
	t0 = util_mono_us();
	emit("x", "{}");
	wait_idle();
	/* 10 ms then 20 ms of backoff */
	ck_assert_int_ge(util_mono_us() - t0, 30000);
	ck_assert_int_eq(figure("runs"), 3);
	ck_assert_int_eq(figure("retried"), 2);
	ck_assert_int_eq(figure("failures"), 1);
	ck_assert_int_eq(figure("ok"), 0);
	char *runs = slurp("runs");
	ck_assert_str_eq(runs, "run\nrun\nrun\n");
	free(runs);
	ck_assert_msg(tu_log_seen(": exit status 3; retry 1/2 in 0.01s"),
	              "log: %s", tu_log_text());
	ck_assert(tu_log_seen(": exit status 3; retry 2/2 in 0.02s"));
	ck_assert(tu_log_seen(" failed: exit status 3"));
	json_t *a = hooks_list_json();
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0),
	                                                   "last_error")),
	                 "exit status 3");
	json_decref(a);
}
END_TEST

START_TEST(test_timeout_kills)
{
	int64_t t0;

	boot("[hook.slow]\non = x\ntimeout = 50ms\n"
	     "exec = /bin/sleep 10\n");
	t0 = util_mono_us();
	emit("x", "{}");
	wait_idle();
	ck_assert_int_lt(util_mono_us() - t0, 2000000);
	ck_assert_int_eq(figure("timeouts"), 1);
	ck_assert_int_eq(figure("failures"), 1);
	ck_assert_msg(tu_log_seen(" timed out after 0.05s; sending SIGTERM"),
	              "log: %s", tu_log_text());
	ck_assert(tu_log_seen("failed: timed out"));
}
END_TEST

START_TEST(test_term_ignored_then_kill)
{
	boot("[hook.stubborn]\non = x\ntimeout = 300ms\n"
	     "exec = /bin/sh -c 'trap \"\" TERM; echo ready; "
	     "while :; do sleep 0.01; done'\n");
	emit("x", "{}");
	/* the grace is 2 s: long, but this is the SIGKILL path */
	wait_idle();
	ck_assert_msg(tu_log_seen("ignored SIGTERM; sending SIGKILL"),
	              "log: %s", tu_log_text());
	ck_assert_int_eq(figure("timeouts"), 1);
}
END_TEST

START_TEST(test_concurrency_limit)
{
	json_int_t most = 0;

	boot("[hook.par]\non = x\nconcurrency = 2\n"
	     "exec = /bin/sh -c 'sleep 0.05; echo $SVCD_SEQ >>@D/done'\n");
	for (int i = 0; i < 6; i++)
		emit("x", "{}");
	ev_run(loop, EVRUN_ONCE);
	while (!timed_out && !hooks_idle()) {
		json_int_t r = figure("running");
		if (r > most)
			most = r;
		ev_run(loop, EVRUN_ONCE);
	}
	ck_assert(!timed_out);
	ck_assert_int_eq(most, 2);
	ck_assert_int_eq(figure("ok"), 6);
	char *done = slurp("done");
	int lines = 0;
	for (char *p = done; *p; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, 6);
	free(done);
}
END_TEST

START_TEST(test_order_with_concurrency_one)
{
	char *done;
	struct buf want = {0};

	boot("[hook.seq]\non = x\n"
	     "exec = /bin/sh -c 'echo $SVCD_SEQ >>@D/done'\n");
	for (int i = 0; i < 5; i++) {
		emit("x", "{}");
		buf_printf(&want, "%llu\n",
		           (unsigned long long)bus_last_seq(tu_bus()));
	}
	buf_putc(&want, '\0');
	wait_idle();
	done = slurp("done");
	ck_assert_str_eq(done, buf_head(&want));
	free(done);
	buf_free(&want);
}
END_TEST

START_TEST(test_stop_awaits_running)
{
	char *done;

	boot("[hook.late]\non = x\n"
	     "exec = /bin/sh -c 'sleep 0.1; echo finished >>@D/done'\n");
	emit("x", "{}");
	while (!timed_out && figure("running") == 0)
		ev_run(loop, EVRUN_ONCE);
	stop_graph();
	ck_assert(!timed_out);
	done = slurp("done");
	ck_assert_str_eq(done, "finished\n");
	free(done);
}
END_TEST

START_TEST(test_bad_exec_is_config_error)
{
	char path[128], *cause = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	f = fopen(path, "w");
	ck_assert(f != NULL);
	fputs("[hook.h]\non = x\nexec = /nonexistent/hook --x\n", f);
	fclose(f);
	ck_assert(tu_conf_load(path, &cause) == NULL);
	ck_assert_msg(strstr(cause, ":3: hook 'h': exec '/nonexistent/hook' "
	                            "is not an executable file"),
	              "cause: %s", cause);
	free(cause);
}
END_TEST

static uint64_t cursor_seen, replayed;

static void
cursor_cb(const char *hook, uint64_t seq, void *arg)
{
	ck_assert_str_eq(hook, "cur");
	ck_assert_uint_gt(seq, cursor_seen);
	cursor_seen = seq;
}

static uint64_t
replay_cb(const char *hook, const char *pattern, void *arg)
{
	struct bus_event ev = {
	    .seq = bus_last_seq(tu_bus()) + 3,
	    .time_us = 1,
	    .name = "old",
	    .name_len = 3,
	    .data = "{\"a\":1}",
	    .data_len = 7,
	    .source = "journal",
	};

	ck_assert_str_eq(pattern, "x");
	ck_assert_int_eq(hooks_deliver(hook, &ev), 0);
	ck_assert_int_eq(hooks_deliver("nope", &ev), -1);
	replayed = ev.seq;
	return ev.seq;
}

START_TEST(test_cursor_and_replay)
{
	char *done, *want;

	cursor_seen = 0;
	hooks_set_journal(cursor_cb, replay_cb, NULL);
	boot("[hook.cur]\non = x\n"
	     "exec = /bin/sh -c 'echo $SVCD_EVENT $SVCD_SEQ >>@D/done'\n");
	/* events up to the replayed seq are skipped live; the next runs */
	while (bus_last_seq(tu_bus()) <= replayed)
		emit("x", "{}");
	wait_idle();
	hooks_set_journal(NULL, NULL, NULL);
	done = slurp("done");
	want = xasprintf("old %llu\nx %llu\n", (unsigned long long)replayed,
	                 (unsigned long long)replayed + 1);
	ck_assert_str_eq(done, want);
	free(done);
	free(want);
	ck_assert_uint_eq(cursor_seen, replayed + 1);
}
END_TEST

/* Output lines are quoted up to 512 bytes with their length; control
 * characters and invalid UTF-8 in them reach the log escaped. */
START_TEST(test_output_capped_and_escaped)
{
	struct buf want = {0};

	boot("[hook.out]\non = x\n"
	     "exec = /bin/sh -c 'printf \"%010000d\\n\" 0; "
	     "printf \"a\\rb\\033[2Jc\\377\\n\"; echo short'\n");
	emit("x", "{}");
	wait_idle();
	buf_puts(&want, "6 hook out: ");
	for (int i = 0; i < 512; i++)
		buf_putc(&want, '0');
	buf_puts(&want, "... (line of 10000 bytes)\n");
	buf_putc(&want, '\0');
	ck_assert_msg(tu_log_seen(buf_head(&want)), "log: %s", tu_log_text());
	ck_assert_msg(tu_log_seen("6 hook out: a\\rb\\x1b[2Jc\\xff\n"),
	              "log: %s", tu_log_text());
	ck_assert(tu_log_seen("6 hook out: short\n"));
	/* nothing else of the long line was logged */
	ck_assert(!tu_log_seen("00000\n"));
	ck_assert(!tu_log_seen("6 hook out: 0000000000"
	                       "0000000000000000000000000000000000000000"
	                       "000000000000000000000000000000000000000000"
	                       "\n"));
	buf_free(&want);
}
END_TEST

static uint64_t par_cursor;

static void
par_cursor_cb(const char *hook, uint64_t seq, void *arg)
{
	par_cursor = seq;
}

/*
 * At concurrency 2 the cursor stays below an event whose hook is still
 * running while a later one finishes: a crash then replays the earlier
 * event (the mutation "the cursor ignores running jobs" moved it past).
 */
START_TEST(test_cursor_waits_for_running_at_concurrency_two)
{
	uint64_t a, b;
	char *go;

	par_cursor = 0;
	hooks_set_journal(par_cursor_cb, NULL, NULL);
	boot("[hook.par]\non = user.*\nconcurrency = 2\n"
	     "exec = /bin/sh -c 'if [ $SVCD_EVENT = user.slow ]; then "
	     "while [ ! -e @D/go ]; do sleep 0.01; done; fi'\n");
	emit("user.slow", "{}");
	a = bus_last_seq(tu_bus());
	emit("user.fast", "{}");
	b = bus_last_seq(tu_bus());
	while (!timed_out && figure("ok") < 1)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_eq(figure("running"), 1);
	ck_assert_int_eq(figure("last_seq"), (json_int_t)b);
	ck_assert_uint_lt(par_cursor, a);
	go = xasprintf("%s/go", dir);
	ck_assert_int_eq(close(open(go, O_CREAT | O_WRONLY, 0600)), 0);
	free(go);
	wait_idle();
	hooks_set_journal(NULL, NULL, NULL);
	ck_assert_int_eq(figure("ok"), 2);
	ck_assert_uint_eq(par_cursor, b);
}
END_TEST

/* A listener script in the temp dir: its body after the read loop head. */
static void
write_listener(const char *name, const char *body)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0755), 0);
	free(path);
}

static uint64_t listen_cursor;

static void
listen_cursor_cb(const char *hook, uint64_t seq, void *arg)
{
	ck_assert_str_eq(hook, "l");
	listen_cursor = seq;
}

START_TEST(test_listener_ack_and_nack)
{
	json_t *a;

	/* acks even seqs, nacks odd ones */
	write_listener(
	    "l.sh",
	    "while IFS= read -r l; do s=${l#*\\\"seq\\\":}; "
	    "s=${s%%,*}\n"
	    "if [ $((s % 2)) = 0 ]; then echo \"{\\\"ack\\\":$s}\"; "
	    "else echo \"{\\\"nack\\\":$s,\\\"error\\\":\\\"odd\\\"}\"; "
	    "fi; done\n");
	listen_cursor = 0;
	hooks_set_journal(listen_cursor_cb, NULL, NULL);
	boot("[hook.l]\non = x\nwindow = 4\nlisten = @D/l.sh\n");
	for (int i = 0; i < 4; i++)
		emit("x", "{}");
	wait_idle();
	hooks_set_journal(NULL, NULL, NULL);
	ck_assert_int_eq(figure("ok"), 2);
	ck_assert_int_eq(figure("failures"), 2);
	ck_assert_int_eq(figure("restarts"), 0);
	ck_assert_int_gt(figure("pid"), 0);
	ck_assert_uint_eq(listen_cursor, bus_last_seq(tu_bus()));
	a = hooks_list_json();
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0),
	                                                   "last_error")),
	                 "nack: odd");
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(a, 0), "kind")),
	    "listen");
	json_decref(a);
}
END_TEST

START_TEST(test_listener_restarted_gets_unanswered)
{
	/* the first process exits at its first event, unanswered */
	write_listener("l.sh",
	               "[ -e $0.ran ] || { touch $0.ran; read l; exit 1; }\n"
	               "while IFS= read -r l; do s=${l#*\\\"seq\\\":}; "
	               "s=${s%%,*}; echo \"{\\\"ack\\\":$s}\"; done\n");
	boot("[hook.l]\non = x\nbackoff = 10ms\nlisten = @D/l.sh\n");
	emit("x", "{}");
	emit("x", "{}");
	wait_idle();
	ck_assert_int_eq(figure("ok"), 2);
	ck_assert_int_eq(figure("failures"), 0);
	ck_assert_int_eq(figure("restarts"), 1);
	ck_assert_msg(tu_log_seen("listener exited with status 1; restarting"),
	              "log: %s", tu_log_text());
}
END_TEST

START_TEST(test_listener_stop_awaits_answers)
{
	uint64_t last;

	/* answers both events in one write, a little later */
	write_listener("l.sh",
	               "while IFS= read -r a && IFS= read -r b; do sleep 0.2; "
	               "s=${a#*\\\"seq\\\":}; s=${s%%,*}; "
	               "t=${b#*\\\"seq\\\":}; t=${t%%,*}; "
	               "printf '{\"ack\":%s}\\n{\"ack\":%s}\\n' $s $t; done\n");
	listen_cursor = 0;
	hooks_set_journal(listen_cursor_cb, NULL, NULL);
	boot("[hook.l]\non = x\nwindow = 4\nlisten = @D/l.sh\n");
	emit("x", "{}");
	emit("x", "{}");
	last = bus_last_seq(tu_bus());
	ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(figure("in_flight"), 2);
	/* the stop waits for both answers; the last one ends it */
	ck_assert_int_eq(tu_stop(loop, graph, &timed_out), 0);
	svc_graph_free(graph);
	graph = NULL;
	hooks_set_journal(NULL, NULL, NULL);
	ck_assert_uint_eq(listen_cursor, last);
}
END_TEST

START_TEST(test_non_utf8_path_still_listed)
{
	json_t *a, *h;

	/* a path is bytes, not always UTF-8: listed with such bytes as '?' */
	write_listener("b\xff.sh", "exit 3\n");
	boot("[hook.e]\non = x\nexec = @D/b\xff.sh\n");
	emit("x", "{}");
	wait_idle();
	a = hooks_list_json();
	h = json_array_get(a, 0);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(
	    strstr(json_string_value(json_object_get(h, "target")), "/b?.sh"));
	ck_assert_str_eq(json_string_value(json_object_get(h, "last_error")),
	                 "exit status 3");
	json_decref(a);
}
END_TEST

static Suite *
hooks_suite(void)
{
	Suite *s = suite_create("hooks");
	TCase *tc = tcase_create("hooks");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_stdin_env_and_output);
	tcase_add_test(tc, test_failing_hook_retries);
	tcase_add_test(tc, test_timeout_kills);
	tcase_add_test(tc, test_term_ignored_then_kill);
	tcase_add_test(tc, test_concurrency_limit);
	tcase_add_test(tc, test_order_with_concurrency_one);
	tcase_add_test(tc, test_stop_awaits_running);
	tcase_add_test(tc, test_bad_exec_is_config_error);
	tcase_add_test(tc, test_cursor_and_replay);
	tcase_add_test(tc, test_output_capped_and_escaped);
	tcase_add_test(tc, test_cursor_waits_for_running_at_concurrency_two);
	tcase_add_test(tc, test_listener_ack_and_nack);
	tcase_add_test(tc, test_listener_restarted_gets_unanswered);
	tcase_add_test(tc, test_listener_stop_awaits_answers);
	tcase_add_test(tc, test_non_utf8_path_still_listed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hooks_suite());
	int failed;

	util_json_use_xmalloc();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
