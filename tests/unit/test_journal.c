/* test_journal.c — Check tests for services/journal.c: appends and reads,
 * seq across restarts, sync = always, retention, bad paths, hook replay,
 * lost history (the seq high-water mark), a full disk, the fsync count,
 * the backlog bound, sync = batch's interval. */
#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "services/hooks.h"
#include "services/journal.h"
#include "daemon/log.h"
#include "services/manager.h"
#include "daemon/service.h"
#include "daemon/util.h"
#include "services/worker.h"
#include "testutil.h"

/* The default loop: the hook replay test needs ev_child. */
static struct ev_loop *loop;
static struct svc_graph *graph;
static ev_timer guard, tick;
static bool timed_out;
static char dir[64];

static const struct svc_desc *const table[] = {
    &manager_service, /* [daemon] stop_timeout: the graph's stop timeout */
    &worker_service,  &bus_service, &journal_service, &hooks_service,
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
	snprintf(dir, sizeof(dir), "/tmp/test_journal.XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
}

/* Write the configuration (@D: the temp dir), boot; the boot status. */
static int
boot(const char *text)
{
	tu_conf_text(dir, text);
	return tu_boot(loop, table, ARRAY_SIZE(table), &graph, &timed_out);
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

static uint64_t
emit(const char *name, const char *data)
{
	uint64_t seq = 0;

	ck_assert_int_eq(bus_emit(tu_bus(), name, strlen(name), data,
	                          strlen(data), "test", &seq, NULL),
	                 0);
	return seq;
}

static bool
collect(const struct bus_event *ev, void *arg)
{
	buf_printf(arg, "%llu %.*s %s|", (unsigned long long)ev->seq,
	           (int)ev->name_len, ev->name, ev->data);
	return true;
}

static json_int_t
stat_of(const char *key)
{
	json_t *s = journal_stats_json(tu_journal());
	json_int_t v = json_integer_value(json_object_get(s, key));

	json_decref(s);
	return v;
}

#define CONF_J "[journal]\npath = @D/j.db\n"

START_TEST(test_append_read_and_restart)
{
	struct buf got = {0};
	const char *pats[] = {"user.*"};
	char *want, *cause = NULL;
	uint64_t a, b, c, resume;

	ck_assert_int_eq(boot(CONF_J), 0);
	ck_assert(tu_journal() != NULL);
	a = emit("user.a", "{\"n\":1}");
	b = emit("other", "{}");
	c = emit("user.b", "{\"n\":2}");
	ck_assert_int_eq(journal_history(tu_journal(), b - 1, 0, 0, pats, 1,
	                                 collect, &got, &resume, &cause),
	                 1);
	buf_putc(&got, '\0');
	want = xasprintf("%llu user.b {\"n\":2}|", (unsigned long long)c);
	ck_assert_str_eq(buf_head(&got), want);
	free(want);
	buf_reset(&got);
	/* the last 2 matching, in seq order */
	ck_assert_int_eq(journal_history(tu_journal(), 0, 2, 0, pats, 1,
	                                 collect, &got, &resume, &cause),
	                 2);
	buf_putc(&got, '\0');
	want = xasprintf("%llu user.a {\"n\":1}|%llu user.b {\"n\":2}|",
	                 (unsigned long long)a, (unsigned long long)c);
	ck_assert_str_eq(buf_head(&got), want);
	free(want);
	buf_free(&got);
	ck_assert_int_ge(stat_of("durable_seq"), (json_int_t)c);
	ck_assert_int_eq(stat_of("write_errors"), 0);
	stop_graph();

	/* seq goes on after the journal's last event */
	ck_assert_int_eq(boot(CONF_J), 0);
	ck_assert_uint_gt(bus_last_seq(tu_bus()), c);
	ck_assert_uint_gt(emit("user.c", "{}"), c);
	ck_assert_int_ge(stat_of("events"), 3);
}
END_TEST

/* Takes at most `room` events, then refuses (a full page). */
struct take {
	struct buf got;
	size_t room;
};

static bool
take_some(const struct bus_event *ev, void *arg)
{
	struct take *t = arg;

	if (!t->room)
		return false;
	t->room--;
	buf_printf(&t->got, "%llu %.*s|", (unsigned long long)ev->seq,
	           (int)ev->name_len, ev->name);
	return true;
}

/* A page of history is bounded in rows read, not only in events given:
 * a sparse pattern over many rows returns a resume point. */
START_TEST(test_history_bounded)
{
	const char *pats[] = {"rare"};
	struct take t = {.room = 100};
	char *cause = NULL, *want;
	uint64_t resume = 1, first = 0, rare;

	ck_assert_int_eq(boot(CONF_J), 0);
	for (int i = 0; i < 30; i++) {
		uint64_t s = emit("common", "{}");
		if (!first)
			first = s;
	}
	rare = emit("rare", "{\"pi\":3.141592653589793}");
	/* 10 rows a call: none matches, the resume point is the 10th row */
	ck_assert_int_eq(journal_history(tu_journal(), first - 1, 0, 10, pats,
	                                 1, take_some, &t, &resume, &cause),
	                 0);
	ck_assert_uint_eq(resume, first + 9);
	ck_assert_uint_eq(t.got.len, 0);
	/* following resume reaches the rare event, then the end (resume 0) */
	uint64_t since = resume;
	int calls = 0;
	while (since && calls++ < 10) {
		ck_assert_int_ge(journal_history(tu_journal(), since, 0, 10,
		                                 pats, 1, take_some, &t,
		                                 &resume, &cause),
		                 0);
		since = resume;
	}
	ck_assert_int_lt(calls, 10);
	buf_putc(&t.got, '\0');
	want = xasprintf("%llu rare|", (unsigned long long)rare);
	ck_assert_str_eq(buf_head(&t.got), want);
	free(want);
	buf_reset(&t.got);

	/* fn refusing ends the call: no resume (the caller knows where) */
	t.room = 2;
	ck_assert_int_eq(journal_history(tu_journal(), first - 1, 0, 0, NULL, 0,
	                                 take_some, &t, &resume, &cause),
	                 2);
	ck_assert_uint_eq(resume, 0);
	/* a huge `last` is every event (nothing sized by it), no pattern */
	t.room = 1000;
	buf_reset(&t.got);
	ck_assert_int_eq(journal_history(tu_journal(), first - 1, SIZE_MAX / 2,
	                                 0, NULL, 0, take_some, &t, &resume,
	                                 &cause),
	                 31);
	/* the last one with a pattern, looking back at most 5 rows */
	buf_reset(&t.got);
	ck_assert_int_eq(journal_history(tu_journal(), 0, 1, 5, pats, 1,
	                                 take_some, &t, &resume, &cause),
	                 1);
	/* ... and with the pattern further back than the bound: the
	 * matches among the last 5 rows (none) */
	emit("common", "{}");
	emit("common", "{}");
	emit("common", "{}");
	emit("common", "{}");
	emit("common", "{}");
	buf_reset(&t.got);
	ck_assert_int_eq(journal_history(tu_journal(), 0, 1, 5, pats, 1,
	                                 take_some, &t, &resume, &cause),
	                 0);
	buf_free(&t.got);
}
END_TEST

START_TEST(test_sync_always_durable)
{
	char *cause = NULL;
	uint64_t seq;

	ck_assert_int_eq(boot(CONF_J "sync = always\n"), 0);
	ck_assert(journal_sync_always(tu_journal()));
	seq = emit("x", "{}");
	ck_assert_int_eq(journal_wait_durable(tu_journal(), seq, 2, &cause), 0);
	ck_assert_int_ge(stat_of("durable_seq"), (json_int_t)seq);
	/* each commit synced the WAL */
	ck_assert_int_eq(stat_of("synced_seq"), stat_of("durable_seq"));
	json_t *s = journal_stats_json(tu_journal());
	ck_assert_str_eq(json_string_value(json_object_get(s, "sync")),
	                 "always");
	json_decref(s);
}
END_TEST

START_TEST(test_retention_count)
{
	struct buf got = {0};
	char *cause = NULL;
	uint64_t resume;

	ck_assert_int_eq(boot(CONF_J), 0);
	for (int i = 0; i < 20; i++)
		emit("x", "{}");
	stop_graph();
	ck_assert_int_eq(boot(CONF_J "retention_count = 3\n"), 0);
	/* the first pass runs at start, on the writer thread */
	while (!timed_out && stat_of("pruned") == 0)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_eq(stat_of("events"), 3);
	ck_assert_int_eq(journal_history(tu_journal(), 0, 0, 0, NULL, 0,
	                                 collect, &got, &resume, &cause),
	                 3);
	buf_free(&got);
}
END_TEST

START_TEST(test_retention_age)
{
	ck_assert_int_eq(boot(CONF_J), 0);
	for (int i = 0; i < 5; i++)
		emit("x", "{}");
	stop_graph();
	usleep(20000);
	ck_assert_int_eq(boot(CONF_J "retention_age = 10ms\n"), 0);
	/* the five old events go; events of this boot are younger */
	while (!timed_out && stat_of("pruned") < 5)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_eq(stat_of("first_seq") > 5 || stat_of("events") == 0, 1);
}
END_TEST

START_TEST(test_corrupt_refuses_to_start)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/j.db", dir);
	f = fopen(path, "w");
	ck_assert(f != NULL);
	for (int i = 0; i < 256; i++)
		fputs("this is not an SQLite database\n", f);
	fclose(f);
	ck_assert_int_eq(boot(CONF_J), -1);
	ck_assert(tu_journal() == NULL);
	ck_assert_msg(tu_log_seen("/j.db: file is not a database"), "log: %s",
	              tu_log_text());
}
END_TEST

/* A path that cannot be created is a configuration error at its line. */
START_TEST(test_unwritable_path_refuses_to_start)
{
	char path[128], *cause = NULL;
	struct svc_conf *c;
	FILE *f;

	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	f = fopen(path, "w");
	ck_assert(f != NULL);
	fprintf(f, "[journal]\nsync = always\npath = %s/nodir/j.db\n", dir);
	fclose(f);
	c = tu_conf_load(path, &cause);
	ck_assert(c == NULL);
	ck_assert_msg(cause &&
	                  strstr(cause, "bad.conf:3: bad value for 'path' "
	                                "in [journal]: cannot create the "
	                                "journal ") &&
	                  strstr(cause, "does not exist"),
	              "cause: %s", cause ? cause : "(none)");
	free(cause);
}
END_TEST

/* The figures count the fsyncs the commits cost (the VFS), a few per
 * commit at most when emits come one at a time. */
START_TEST(test_fsyncs_counted)
{
	char *cause = NULL;
	json_int_t commits, fsyncs;

	ck_assert_int_eq(boot(CONF_J "sync = always\n"), 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(journal_wait_durable(
		                     tu_journal(), emit("x", "{}"), 2, &cause),
		                 0);
	commits = stat_of("commits");
	fsyncs = stat_of("fsyncs");
	ck_assert_int_ge(commits, 20);
	ck_assert_msg(fsyncs >= commits && fsyncs <= 3 * commits + 4,
	              "fsyncs %lld for %lld commits", (long long)fsyncs,
	              (long long)commits);
	ck_assert_int_eq(stat_of("checkpoints"), 0);
}
END_TEST

/* At [journal] backlog events waiting for their commit the bus has no
 * room; it has again once the writer caught up. */
START_TEST(test_backlog_bound)
{
	uint64_t seq = 0;
	int n = 0, rc = 0;
	char *cause = NULL;

	ck_assert_int_eq(boot(CONF_J "sync = always\nbacklog = 16\n"), 0);
	/* the loop does not turn here: nothing tells it of a commit */
	while (n < 1000 && (rc = bus_emit(tu_bus(), "x", 1, "{}", 2, "test",
	                                  &seq, NULL)) == 0)
		n++;
	ck_assert_int_eq(rc, -1);
	/* svcd's own events at boot may count too */
	ck_assert_msg(n >= 1 && n <= 16, "%d emits taken", n);
	ck_assert(!bus_has_room(tu_bus()));
	ck_assert_int_eq(stat_of("backlog_full"), 1);
	ck_assert_int_eq(journal_wait_durable(tu_journal(), seq, 2, &cause), 0);
	for (int i = 0; i < 100 && !bus_has_room(tu_bus()); i++)
		tu_run_for(loop, 0.01);
	ck_assert(bus_has_room(tu_bus()));
	emit("x", "{}");
}
END_TEST

/* sync = batch: a commit is fsync'ed within batch_interval, with no
 * further event to carry it. */
START_TEST(test_batch_interval_syncs)
{
	char *cause = NULL;
	json_int_t before;
	int i;

	ck_assert_int_eq(boot(CONF_J "sync = batch\nbatch_interval = 20ms\n"),
	                 0);
	ck_assert_int_eq(
	    journal_wait_durable(tu_journal(), emit("x", "{}"), 2, &cause), 0);
	tu_run_for(loop, 0.05); /* the first commit's sync */
	before = stat_of("fsyncs");
	ck_assert_int_eq(
	    journal_wait_durable(tu_journal(), emit("x", "{}"), 2, &cause), 0);
	for (i = 0; i < 100 && stat_of("fsyncs") == before; i++)
		tu_run_for(loop, 0.005);
	ck_assert_msg(stat_of("fsyncs") > before, "no fsync after a commit");
	ck_assert_msg(i < 40, "synced after %d ms", i * 5);
}
END_TEST

/* sync = batch: durable_seq is what is committed, synced_seq what the
 * interval's sync has put on disk; it follows within the interval. Before,
 * durable_seq was the only figure and counted unsynced commits as on disk. */
START_TEST(test_batch_synced_seq_follows)
{
	char *cause = NULL;
	uint64_t seq;
	int i;

	ck_assert_int_eq(boot(CONF_J "sync = batch\nbatch_interval = 2s\n"), 0);
	/* a first event synced (at once, if its commit is the run's first,
	 * else within the interval) */
	seq = emit("x", "{}");
	ck_assert_int_eq(journal_wait_durable(tu_journal(), seq, 2, &cause), 0);
	for (i = 0; i < 1000 && stat_of("synced_seq") < (json_int_t)seq; i++)
		tu_run_for(loop, 0.005);
	ck_assert_int_ge(stat_of("synced_seq"), (json_int_t)seq);
	/* the next one waits an interval after that sync: 2 s, not yet */
	seq = emit("x", "{}");
	ck_assert_int_eq(journal_wait_durable(tu_journal(), seq, 2, &cause), 0);
	ck_assert_int_ge(stat_of("durable_seq"), (json_int_t)seq);
	ck_assert_int_lt(stat_of("synced_seq"), (json_int_t)seq);
	stop_graph();

	ck_assert_int_eq(boot(CONF_J "sync = batch\nbatch_interval = 20ms\n"),
	                 0);
	/* the first boot's events are synced at open */
	ck_assert_int_ge(stat_of("synced_seq"), (json_int_t)seq);
	seq = emit("x", "{}");
	ck_assert_int_eq(journal_wait_durable(tu_journal(), seq, 2, &cause), 0);
	for (i = 0; i < 400 && stat_of("synced_seq") < (json_int_t)seq; i++)
		tu_run_for(loop, 0.005);
	ck_assert_int_ge(stat_of("synced_seq"), (json_int_t)seq);
}
END_TEST

START_TEST(test_disabled_without_section)
{
	ck_assert_int_eq(boot("[bus]\nhistory = 4\n"), 0);
	ck_assert(tu_journal() == NULL);
}
END_TEST

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

START_TEST(test_hook_replay_after_unfinished_stop)
{
	uint64_t s[3];
	char *out, *want;

	/* a hook that never finishes: the stop timeout kills it, so none of
	 * the three events counts as delivered */
	ck_assert_int_eq(boot("[daemon]\nstop_timeout = 300ms\n" CONF_J
	                      "[hook.h]\non = x\nexec = /bin/sleep 10\n"),
	                 0);
	for (int i = 0; i < 3; i++)
		s[i] = emit("x", "{}");
	emit("y", "{}");
	ev_run(loop, EVRUN_ONCE);
	stop_graph();
	ck_assert(!timed_out);

	ck_assert_int_eq(boot(CONF_J "[hook.h]\non = x\n"
	                             "exec = /bin/sh -c 'echo $SVCD_SEQ "
	                             ">>@D/out'\n"),
	                 0);
	emit("x", "{}");
	ev_run(loop, EVRUN_ONCE);
	while (!timed_out && !hooks_idle())
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	out = slurp("out");
	want = xasprintf("%llu\n%llu\n%llu\n%llu\n", (unsigned long long)s[0],
	                 (unsigned long long)s[1], (unsigned long long)s[2],
	                 (unsigned long long)bus_last_seq(tu_bus()));
	ck_assert_str_eq(out, want);
	free(out);
	free(want);
	ck_assert_msg(tu_log_seen("3 events after #"), "log: %s",
	              tu_log_text());
}
END_TEST

/*
 * A full queue with a journal: the events it could not take (and the live
 * ones after them) are read back from the journal as the queue drains, in
 * order, without a restart; a later start owes nothing. Before, they were
 * owed until the next start and the live events overtook them.
 */
START_TEST(test_hook_overflow_read_back)
{
	uint64_t s[8];
	char *out, *want;
	json_t *hooks;

	hooks_set_queue_max(2);
	ck_assert_int_eq(boot(CONF_J "[hook.h]\non = x\n"
	                             "exec = /bin/sh -c 'echo $SVCD_SEQ "
	                             ">>@D/out'\n"),
	                 0);
	/* one iteration: #1 runs, #2 and #3 queue, #4-#6 are owed */
	for (int i = 0; i < 6; i++)
		s[i] = emit("x", "{}");
	ev_run(loop, EVRUN_ONCE);
	/* a live event while the hook is behind waits its turn */
	s[6] = emit("x", "{}");
	while (!timed_out && !hooks_idle())
		ev_run(loop, EVRUN_ONCE);
	s[7] = emit("x", "{}");
	ev_run(loop, EVRUN_ONCE);
	while (!timed_out && !hooks_idle())
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_msg(tu_log_seen("read back from the journal as the queue "
	                          "drains"),
	              "log: %s", tu_log_text());
	ck_assert_msg(tu_log_seen("caught up with the journal"), "log: %s",
	              tu_log_text());
	hooks = hooks_list_json();
	ck_assert_int_ge(json_integer_value(json_object_get(
	                     json_array_get(hooks, 0), "read_back")),
	                 3);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     json_array_get(hooks, 0), "dropped")),
	                 0);
	ck_assert_int_eq(json_integer_value(
	                     json_object_get(json_array_get(hooks, 0), "lag")),
	                 0);
	json_decref(hooks);
	stop_graph();
	hooks_set_queue_max(0);
	want = xasprintf("%llu\n%llu\n%llu\n%llu\n%llu\n%llu\n%llu\n%llu\n",
	                 (unsigned long long)s[0], (unsigned long long)s[1],
	                 (unsigned long long)s[2], (unsigned long long)s[3],
	                 (unsigned long long)s[4], (unsigned long long)s[5],
	                 (unsigned long long)s[6], (unsigned long long)s[7]);
	out = slurp("out");
	ck_assert_str_eq(out, want);
	free(out);

	/* the next start owes nothing */
	ck_assert_int_eq(boot(CONF_J "[hook.h]\non = x\n"
	                             "exec = /bin/sh -c 'echo $SVCD_SEQ "
	                             ">>@D/out'\n"),
	                 0);
	ev_run(loop, EVRUN_ONCE);
	while (!timed_out && !hooks_idle())
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	out = slurp("out");
	ck_assert_str_eq(out, want);
	free(out);
	free(want);
}
END_TEST

/*
 * At concurrency 2, event A's hook is still running when B's finishes; the
 * stop timeout then kills A's run (a crash, as far as delivery goes). The
 * next start must deliver A again: the cursor may not pass a running job.
 */
START_TEST(test_hook_replay_running_at_concurrency_two)
{
	uint64_t a, b;
	char *out, *want;

	ck_assert_int_eq(
	    boot("[daemon]\nstop_timeout = 300ms\n" CONF_J
	         "[hook.h]\non = user.*\nconcurrency = 2\n"
	         "exec = /bin/sh -c 'if [ $SVCD_EVENT = user.slow ]; then "
	         "exec sleep 10; fi; echo $SVCD_SEQ >>@D/out'\n"),
	    0);
	a = emit("user.slow", "{}");
	b = emit("user.fast", "{}");
	for (char *o = NULL; !timed_out; free(o)) {
		o = slurp("out");
		if (*o) {
			free(o);
			break;
		}
		ev_run(loop, EVRUN_ONCE);
	}
	ck_assert(!timed_out);
	stop_graph();
	ck_assert(!timed_out);
	out = slurp("out");
	want = xasprintf("%llu\n", (unsigned long long)b);
	ck_assert_str_eq(out, want);
	free(out);
	free(want);

	ck_assert_int_eq(boot(CONF_J "[hook.h]\non = user.*\n"
	                             "exec = /bin/sh -c 'echo $SVCD_SEQ "
	                             ">>@D/out'\n"),
	                 0);
	ev_run(loop, EVRUN_ONCE);
	while (!timed_out && !hooks_idle())
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	out = slurp("out");
	/* A again, and B again after it (at least once, in order) */
	want = xasprintf("%llu\n%llu\n%llu\n", (unsigned long long)b,
	                 (unsigned long long)a, (unsigned long long)b);
	ck_assert_str_eq(out, want);
	free(out);
	free(want);
}
END_TEST

/* ---- lost history: the seq high-water mark ------------------------------ */

static void
db_exec(const char *sql)
{
	char path[128];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/j.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
	              "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* max(seq) of the events up to upto, as another connection sees it now. */
static uint64_t
db_max_seq_upto(uint64_t upto)
{
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint64_t v = 0;

	snprintf(path, sizeof(path), "%s/j.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db, "SELECT max(seq) FROM events WHERE seq <= ?",
	                       -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)upto);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static uint64_t
db_max_seq(void)
{
	return db_max_seq_upto(INT64_MAX);
}

/* A figure of j.db.seq ("durable", "reserved", "clean"); -1 if none. */
static long long
hwm_of(const char *key)
{
	char *text = slurp("j.db.seq"), *p, *pat = xasprintf("\n%s ", key);
	long long v = -1;

	if ((p = strstr(text, pat)))
		v = strtoll(p + strlen(pat), NULL, 10);
	free(pat);
	free(text);
	return v;
}

/* Emit with sync = always and wait until it is durable. */
static uint64_t
emit_durable(const char *name, const char *data)
{
	char *cause = NULL;
	uint64_t seq = emit(name, data);

	ck_assert_msg(journal_wait_durable(tu_journal(), seq, 2, &cause) == 0,
	              "%s", cause ? cause : "");
	return seq;
}

/* Rows deleted behind svcd's back (it was stopped): refused with the figures
 * and what to do; with on_damage = continue it starts, loudly, and goes on
 * past the high-water mark. Before: it started at the smaller seq. */
START_TEST(test_lost_history_refused)
{
	uint64_t last = 0, next;
	char *want;

	ck_assert_int_eq(boot(CONF_J "sync = always\n"), 0);
	for (int i = 0; i < 5; i++)
		last = emit_durable("x", "{}");
	stop_graph();
	ck_assert_int_eq(hwm_of("clean"), 1);
	/* (the hooks service's state events at stop come after ours) */
	ck_assert_int_ge(hwm_of("durable"), (long long)last);
	last = (uint64_t)hwm_of("durable");
	ck_assert_uint_eq(db_max_seq(), last);
	/* the exact figures after a clean stop: no seq is skipped */
	ck_assert_int_eq(hwm_of("reserved"), (long long)last);
	db_exec("DELETE FROM events WHERE seq > (SELECT min(seq) FROM events)");

	ck_assert_int_eq(boot(CONF_J "sync = always\n"), -1);
	ck_assert(tu_journal() == NULL);
	want = xasprintf("but had reached seq %llu (the high-water mark in "
	                 "%s/j.db.seq)",
	                 (unsigned long long)last, dir);
	ck_assert_msg(tu_log_seen(want), "log: %s", tu_log_text());
	free(want);
	ck_assert_msg(tu_log_seen("restore the journal from a backup, or set "
	                          "[journal] on_damage = continue"),
	              "log: %s", tu_log_text());
	ck_assert_msg(tu_log_seen("/j.db: stored up to seq "), "log: %s",
	              tu_log_text());
	stop_graph();

	ck_assert_int_eq(boot(CONF_J "sync = always\non_damage = continue\n"),
	                 0);
	ck_assert_msg(tu_log_seen("starting anyway (on_damage = continue)"),
	              "log: %s", tu_log_text());
	next = emit_durable("x", "{}");
	ck_assert_uint_gt(next, last);
	stop_graph();

	/* the loss was accepted: the default starts again, seq still goes on */
	ck_assert_int_eq(boot(CONF_J), 0);
	ck_assert_uint_gt(emit("x", "{}"), next);
}
END_TEST

/* Run a shell command on the temp dir (@D in it). */
static void
sh(const char *fmt)
{
	struct buf b = {0};

	for (const char *p = fmt; *p; p++) {
		if (p[0] == '@' && p[1] == 'D') {
			buf_printf(&b, "%s", dir);
			p++;
		} else {
			buf_putc(&b, *p);
		}
	}
	buf_putc(&b, '\0');
	ck_assert_msg(system(buf_head(&b)) == 0, "%s", buf_head(&b));
	buf_free(&b);
}

/* The state kill -9 leaves with sync = always (the files copied while svcd
 * runs; tests/integration/t_journal.sh does a real kill -9), then 200
 * random bytes into the middle of the -wal: the later commits are gone.
 * Before: svcd came up at the smaller seq and reused the lost numbers. */
START_TEST(test_damaged_wal_after_kill9)
{
	char wal[128];
	long long durable, reserved;
	uint64_t last = 0, next;
	struct stat sb;
	int fd;

	ck_assert_int_eq(boot(CONF_J "sync = always\n"), 0);
	for (int i = 0; i < 40; i++)
		last =
		    emit_durable("x", "{\"pad\":\"..........................."
		                      "....\"}");
	/* the floor in j.db.seq follows within FLOOR_INTERVAL */
	while (!timed_out && hwm_of("durable") < (long long)last)
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	sh("mkdir @D/crash && cp @D/j.db @D/j.db-wal @D/j.db.seq @D/crash/");
	stop_graph();
	sh("rm -f @D/j.db-shm && cp @D/crash/* @D/");
	ck_assert_int_eq(hwm_of("clean"), 0);
	durable = hwm_of("durable");
	reserved = hwm_of("reserved");
	ck_assert_int_ge(durable, (long long)last);
	ck_assert_int_gt(reserved, durable);

	snprintf(wal, sizeof(wal), "%s/j.db-wal", dir);
	ck_assert_int_eq(stat(wal, &sb), 0);
	ck_assert_int_gt(sb.st_size, 8 * 4096);
	fd = open(wal, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	{
		unsigned char junk[200];
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(rand() & 0xff);
		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), sb.st_size / 2),
		                 (ssize_t)sizeof(junk));
	}
	close(fd);

	ck_assert_int_eq(boot(CONF_J "sync = always\n"), -1);
	ck_assert_msg(tu_log_seen("committed events are lost"), "log: %s",
	              tu_log_text());
	stop_graph();
	ck_assert_int_eq(boot(CONF_J "sync = always\non_damage = continue\n"),
	                 0);
	/* of the events from before the crash: the journal's own events of
	 * this boot come after `reserved` (and may be committed already) */
	ck_assert_uint_lt(db_max_seq_upto((uint64_t)reserved),
	                  (uint64_t)durable);
	next = emit_durable("x", "{}");
	ck_assert_uint_gt(next, (uint64_t)reserved);
}
END_TEST

/* ---- a full disk -------------------------------------------------------- */

/* SQLITE_FULL (max_page_count): durable_seq stays at what is stored, the
 * failed events are counted as lost, sync = always emits get the error, and
 * the log holds one line, one count and one recovery line. Before:
 * durable_seq advanced over failed commits and every failure was a line. */
START_TEST(test_full_disk)
{
	char pad[2049], *data, *cause = NULL;
	uint64_t ok_seq, seq, failed = 0;
	const int n = 60;

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	data = xasprintf("{\"pad\":\"%s\"}", pad);
	ck_assert_int_eq(boot(CONF_J "sync = always\n"), 0);
	ok_seq = emit_durable("x", data);
	journal_test_cap(tu_journal(), true);
	for (int i = 0; i < n; i++) {
		seq = emit("x", data);
		if (journal_wait_durable(tu_journal(), seq, 2, &cause) < 0) {
			ck_assert_msg(strstr(cause, "full") != NULL, "%s",
			              cause);
			free(cause);
			cause = NULL;
			failed++;
		}
		/* the loop reports what the writer saw */
		ev_run(loop, EVRUN_NOWAIT);
	}
	ck_assert_uint_ge(failed, n - 4);
	ck_assert_int_eq(stat_of("write_errors"), (json_int_t)failed);
	ck_assert_int_eq(stat_of("lost"), (json_int_t)failed);
	ck_assert_int_eq(stat_of("durable_seq"), (json_int_t)db_max_seq());
	ck_assert_uint_ge(db_max_seq(), ok_seq);
	ck_assert_int_eq(stat_of("last_seq"), (json_int_t)seq);
	ck_assert_int_lt(stat_of("durable_seq"), (json_int_t)seq);
	ck_assert_msg(tu_log_count("write failed: database or disk is full") ==
	                  1,
	              "log: %s", tu_log_text());
	/* a read while the newest commit failed gives what is stored */
	{
		struct buf got = {0};
		uint64_t resume = 1;
		long took;

		took = journal_history(tu_journal(), 0, 0, 0, NULL, 0, collect,
		                       &got, &resume, &cause);
		char *want =
		    xasprintf("|%llu x ", (unsigned long long)db_max_seq());

		ck_assert_msg(took > 0, "took %ld: %s", took,
		              cause ? cause : "");
		ck_assert_uint_eq(resume, 0);
		buf_putc(&got, '\0');
		ck_assert_msg(strstr(buf_head(&got), want) != NULL, "%s",
		              buf_head(&got));
		free(want);
		buf_free(&got);
	}

	journal_test_cap(tu_journal(), false);
	seq = emit_durable("x", data);
	while (!timed_out && !tu_log_seen("writes succeed again"))
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
	ck_assert_int_eq(stat_of("durable_seq"), (json_int_t)seq);
	ck_assert_int_eq(stat_of("durable_seq"), (json_int_t)db_max_seq());
	ck_assert_msg(
	    tu_log_count("more journal write errors (last: journal ") == 1,
	    "log: %s", tu_log_text());
	ck_assert_msg(
	    tu_log_count("journal write") + tu_log_count("write failed") <= 3,
	    "log: %s", tu_log_text());
	free(data);
}
END_TEST

/* A read while the writer is held up (another process holds the database's
 * write lock) waits at most 100 ms, gives what is stored, and says there is
 * more to come (resume), so the reader comes back. Before: the loop was
 * held until the writer caught up (up to 10 s), or the read failed. */
START_TEST(test_history_while_writer_behind)
{
	char path[128], *cause = NULL;
	sqlite3 *db = NULL;
	uint64_t stored, late, resume = 0;
	struct buf got = {0};
	long took;

	ck_assert_int_eq(boot(CONF_J), 0);
	stored = emit_durable("x", "{}");
	snprintf(path, sizeof(path), "%s/j.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	                 SQLITE_OK);
	late = emit("x", "{}");
	took = journal_history(tu_journal(), 0, 0, 0, NULL, 0, collect, &got,
	                       &resume, &cause);
	ck_assert_msg(took > 0, "%s", cause ? cause : "");
	ck_assert_uint_eq(resume, stored);
	ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(journal_wait_durable(tu_journal(), late, 5, &cause),
	                 0);
	buf_reset(&got);
	took = journal_history(tu_journal(), stored, 0, 0, NULL, 0, collect,
	                       &got, &resume, &cause);
	ck_assert_int_eq(took, 1);
	ck_assert_uint_eq(resume, 0);
	buf_free(&got);
}
END_TEST

static Suite *
journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_append_read_and_restart);
	tcase_add_test(tc, test_sync_always_durable);
	tcase_add_test(tc, test_history_bounded);
	tcase_add_test(tc, test_retention_count);
	tcase_add_test(tc, test_retention_age);
	tcase_add_test(tc, test_corrupt_refuses_to_start);
	tcase_add_test(tc, test_unwritable_path_refuses_to_start);
	tcase_add_test(tc, test_fsyncs_counted);
	tcase_add_test(tc, test_backlog_bound);
	tcase_add_test(tc, test_batch_interval_syncs);
	tcase_add_test(tc, test_batch_synced_seq_follows);
	tcase_add_test(tc, test_disabled_without_section);
	tcase_add_test(tc, test_hook_replay_after_unfinished_stop);
	tcase_add_test(tc, test_hook_overflow_read_back);
	tcase_add_test(tc, test_hook_replay_running_at_concurrency_two);
	tcase_add_test(tc, test_lost_history_refused);
	tcase_add_test(tc, test_damaged_wal_after_kill9);
	tcase_add_test(tc, test_full_disk);
	tcase_add_test(tc, test_history_while_writer_behind);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	util_json_use_xmalloc();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
