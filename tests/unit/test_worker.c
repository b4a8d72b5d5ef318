/* test_worker.c — Check tests for services/worker.c. */
#include <check.h>
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "testutil.h"
#include "services/worker.h"

static struct ev_loop *loop;
static struct worker *w;
/* Set in teardown: after a failed test, probes on its stack are gone. */
static bool probes_gone;

static void
setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	w = worker_new(loop);
	probes_gone = false;
	tu_log_capture();
}

static void
teardown(void)
{
	probes_gone = true;
	worker_free(w);
	w = NULL;
	ev_loop_destroy(loop);
	loop = NULL;
	tu_log_release();
}

/* Tasks point at probes on the test's stack: free them before it returns. */
static void
drop_worker(void)
{
	worker_free(w);
	w = NULL;
}

/* A per-test counter block passed as the task argument. */
struct probe {
	int runs;
	int frees;
	int fail; /* return -1 with this cause when set */
	const char *cause;
	bool async;               /* return SVC_PENDING */
	struct worker_task *task; /* last task seen in the body */
	double start[16];         /* ev_now at each start */
	double finish[16];        /* ev_now at each completion */
	int running;              /* in-flight runs, must stay <= 1 */
	int max_running;
	double hold; /* async runs complete after this long */
	ev_timer done_timer;
	int action; /* body side effect, see probe_fn */
	struct probe *other;
};

static void
probe_free(void *arg)
{
	struct probe *p = arg;

	if (!probes_gone)
		p->frees++;
}

static int probe_fn(struct worker_task *t, void *arg, char **cause);

static void
probe_done_cb(struct ev_loop *l, ev_timer *tm, int revents)
{
	struct probe *p = tm->data;

	if (p->runs <= 16)
		p->finish[p->runs - 1] = ev_now(l);
	p->running--;
	worker_task_done(p->task, 0, NULL);
}

enum { ACT_NONE, ACT_CANCEL_SELF_2ND, ACT_REPLACE_SELF, ACT_SCHEDULE_OTHER };

static int
probe_fn(struct worker_task *t, void *arg, char **cause)
{
	struct probe *p = arg;

	p->task = t;
	if (p->runs < 16)
		p->start[p->runs] = ev_now(loop);
	p->runs++;
	if (p->action == ACT_CANCEL_SELF_2ND && p->runs == 2)
		ck_assert(worker_cancel(w, worker_task_name(t)));
	if (p->action == ACT_REPLACE_SELF && p->runs == 1) {
		struct worker_spec s = {
		    .name = worker_task_name(t),
		    .kind = WORKER_PERIODIC,
		    .interval = 0.003,
		    .fn = probe_fn,
		    .arg = p->other,
		    .free_arg = probe_free,
		};
		ck_assert_ptr_nonnull(worker_schedule(w, &s));
	}
	if (p->action == ACT_SCHEDULE_OTHER && p->runs == 1) {
		struct worker_spec s = {
		    .name = "other",
		    .kind = WORKER_DELAYED,
		    .interval = 0.002,
		    .fn = probe_fn,
		    .arg = p->other,
		};
		ck_assert_ptr_nonnull(worker_schedule(w, &s));
	}
	if (p->fail) {
		*cause = p->cause ? xstrdup(p->cause) : NULL;
		return -1;
	}
	if (p->async) {
		p->running++;
		if (p->running > p->max_running)
			p->max_running = p->running;
		if (p->hold > 0) {
			ev_timer_init(&p->done_timer, probe_done_cb, p->hold,
			              0.);
			p->done_timer.data = p;
			ev_timer_start(loop, &p->done_timer);
		}
		return SVC_PENDING;
	}
	return 0;
}

static struct worker_task *
sched(const char *name, enum worker_kind kind, double interval, struct probe *p)
{
	struct worker_spec s = {
	    .name = name,
	    .kind = kind,
	    .interval = interval,
	    .fn = probe_fn,
	    .arg = p,
	    .free_arg = probe_free,
	    .origin = "test",
	};
	return worker_schedule(w, &s);
}

START_TEST(test_periodic_runs)
{
	struct probe p = {0};
	struct worker_task_info info;
	struct worker_task *t = sched("tick", WORKER_PERIODIC, 0.005, &p);

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_eq(worker_find(w, "tick"), t);
	ck_assert_int_eq(p.runs, 0); /* not at once without run_now */
	RUN_UNTIL(loop, p.runs >= 3, 1.0);
	worker_task_get_info(t, &info);
	ck_assert_uint_eq(info.runs, (uint64_t)p.runs);
	ck_assert_uint_eq(info.failures, 0);
	ck_assert_ptr_null(info.last_error);
	ck_assert(info.last_duration_ms >= 0);
	ck_assert(info.next_run_us > 0);
	ck_assert(!info.running);
	/* spacing at least the interval */
	for (int i = 1; i < 3; i++)
		ck_assert(p.start[i] - p.start[i - 1] >= 0.005 - 1e-3);
	ck_assert_int_eq(p.frees, 0);
	drop_worker();
}
END_TEST

START_TEST(test_periodic_run_now)
{
	struct probe p = {0};
	struct worker_spec s = {
	    .name = "now",
	    .kind = WORKER_PERIODIC,
	    .interval = 10.0,
	    .run_now = true,
	    .fn = probe_fn,
	    .arg = &p,
	};

	ck_assert_ptr_nonnull(worker_schedule(w, &s));
	RUN_UNTIL(loop, p.runs == 1, 0.5);
	drop_worker();
}
END_TEST

START_TEST(test_periodic_no_overlap)
{
	struct probe p = {.async = true, .hold = 0.015};
	struct worker_task_info info;
	struct worker_task *t = sched("slow", WORKER_PERIODIC, 0.005, &p);

	RUN_UNTIL(loop, p.runs == 1, 1.0);
	worker_task_get_info(t, &info);
	ck_assert(info.running);
	ck_assert_int_eq(info.next_run_us, 0); /* no next run while running */
	RUN_UNTIL(loop, p.runs >= 4, 1.0);
	ck_assert_int_eq(p.max_running, 1);
	for (int i = 1; i < 4; i++) {
		/* each run took the hold time, and the next one started an
		 * interval after it finished */
		ck_assert(p.finish[i - 1] - p.start[i - 1] >= 0.015 - 1e-3);
		ck_assert(p.start[i] - p.finish[i - 1] >= 0.005 - 1e-3);
	}
	ev_timer_stop(loop, &p.done_timer);
	drop_worker();
}
END_TEST

START_TEST(test_delayed_once)
{
	struct probe p = {0};
	struct worker_task *t = sched("later", WORKER_DELAYED, 0.005, &p);
	struct worker_task_info info;

	ck_assert_ptr_nonnull(t);
	worker_task_get_info(t, &info);
	ck_assert_int_eq(info.kind, WORKER_DELAYED);
	ck_assert(info.next_run_us > util_now_us());
	ck_assert_uint_eq(worker_count(w), 1);
	RUN_UNTIL(loop, p.runs == 1, 1.0);
	/* removed and freed right after its run */
	ck_assert_ptr_null(worker_find(w, "later"));
	ck_assert_uint_eq(worker_count(w), 0);
	ck_assert_int_eq(p.frees, 1);
	tu_run_for(loop, 0.03);
	ck_assert_int_eq(p.runs, 1);
	drop_worker();
}
END_TEST

START_TEST(test_cancel)
{
	struct probe p = {0};

	ck_assert(!worker_cancel(w, "nope"));
	sched("c", WORKER_PERIODIC, 0.005, &p);
	RUN_UNTIL(loop, p.runs >= 1, 1.0);
	ck_assert(worker_cancel(w, "c"));
	ck_assert_int_eq(p.frees, 1);
	ck_assert_ptr_null(worker_find(w, "c"));
	ck_assert(!worker_cancel(w, "c"));
	int runs = p.runs;
	tu_run_for(loop, 0.03);
	ck_assert_int_eq(p.runs, runs);

	/* a delayed task cancelled before it ran never runs */
	struct probe q = {0};
	sched("d", WORKER_DELAYED, 0.005, &q);
	ck_assert(worker_cancel(w, "d"));
	tu_run_for(loop, 0.02);
	ck_assert_int_eq(q.runs, 0);
	ck_assert_int_eq(q.frees, 1);
	drop_worker();
}
END_TEST

START_TEST(test_replace_by_name)
{
	struct probe a = {0}, b = {0};

	sched("r", WORKER_PERIODIC, 0.005, &a);
	RUN_UNTIL(loop, a.runs >= 1, 1.0);
	int aruns = a.runs;
	sched("r", WORKER_PERIODIC, 0.005, &b);
	ck_assert_int_eq(a.frees, 1);
	ck_assert_uint_eq(worker_count(w), 1);
	RUN_UNTIL(loop, b.runs >= 3, 1.0);
	ck_assert_int_eq(a.runs, aruns);
	ck_assert_int_eq(b.frees, 0);
	drop_worker();
}
END_TEST

START_TEST(test_replace_while_running)
{
	struct probe a = {.async = true}, b = {0};
	struct worker_stats st;

	struct worker_task *old = sched("r", WORKER_PERIODIC, 0.005, &a);
	RUN_UNTIL(loop, a.runs == 1, 1.0);
	ck_assert_ptr_eq(a.task, old);
	/* replaced while its async run is in flight: kept until it finishes */
	struct worker_task *nt = sched("r", WORKER_PERIODIC, 0.005, &b);
	ck_assert_ptr_ne(nt, old);
	ck_assert_int_eq(a.frees, 0);
	worker_get_stats(w, &st);
	ck_assert_uint_eq(st.tasks, 1);
	ck_assert_uint_eq(st.running, 1);
	RUN_UNTIL(loop, b.runs >= 2, 1.0);
	/* the old run completes: freed, never rescheduled */
	worker_task_done(old, 0, NULL);
	ck_assert_int_eq(a.frees, 1);
	worker_get_stats(w, &st);
	ck_assert_uint_eq(st.running, 0);
	int bruns = b.runs;
	RUN_UNTIL(loop, b.runs >= bruns + 2, 1.0);
	ck_assert_int_eq(a.runs, 1);
	ck_assert_ptr_eq(worker_find(w, "r"), nt);
	drop_worker();
}
END_TEST

START_TEST(test_failure_counted)
{
	struct probe p = {.fail = 1, .cause = "boom"};
	struct worker_task_info info;
	struct worker_stats st;
	struct worker_task *t = sched("f", WORKER_PERIODIC, 0.005, &p);

	RUN_UNTIL(loop, p.runs >= 2, 1.0);
	worker_task_get_info(t, &info);
	ck_assert_uint_eq(info.failures, (uint64_t)p.runs);
	ck_assert_uint_eq(info.runs, (uint64_t)p.runs);
	ck_assert_str_eq(info.last_error, "boom");
	ck_assert(info.next_run_us > 0); /* keeps its schedule */
	ck_assert(tu_log_seen("task 'f' failed: boom"));
	worker_get_stats(w, &st);
	ck_assert_uint_eq(st.failures, (uint64_t)p.runs);

	/* a success clears last_error; no cause gives a generic reason */
	p.fail = 0;
	int runs = p.runs;
	RUN_UNTIL(loop, p.runs > runs, 1.0);
	worker_task_get_info(t, &info);
	ck_assert_ptr_null(info.last_error);
	p.fail = 1;
	p.cause = NULL;
	runs = p.runs;
	RUN_UNTIL(loop, p.runs > runs, 1.0);
	worker_task_get_info(t, &info);
	ck_assert_ptr_nonnull(info.last_error);
	ck_assert(tu_log_seen("task 'f' failed: unknown error"));
	drop_worker();
}
END_TEST

START_TEST(test_async_timeout)
{
	struct probe p = {.async = true};
	struct worker_task_info info;
	struct worker_spec s = {
	    .name = "t",
	    .kind = WORKER_PERIODIC,
	    .interval = 0.005,
	    .timeout = 0.01,
	    .fn = probe_fn,
	    .arg = &p,
	    .free_arg = probe_free,
	};
	struct worker_task *t = worker_schedule(w, &s);

	RUN_UNTIL(loop, p.runs == 1, 1.0);
	worker_task_get_info(t, &info);
	ck_assert(info.running);
	RUN_UNTIL(loop, (worker_task_get_info(t, &info), info.failures == 1),
	          1.0);
	ck_assert(!info.running);
	ck_assert_uint_eq(info.runs, 1);
	ck_assert_str_eq(info.last_error, "timed out after 10ms");
	ck_assert(tu_log_seen("task 't' timed out after 10ms"));
	ck_assert(info.last_duration_ms >= 10 - 1);
	/* keeps its schedule: the next run comes */
	RUN_UNTIL(loop, p.runs == 2, 1.0);
	/* cancelled while its runs are outstanding: not freed yet */
	ck_assert(worker_cancel(w, "t"));
	ck_assert_int_eq(p.frees, 0);
	/* the second run completes normally, the first one late: ignored */
	worker_task_done_run(t, 1, 0, NULL);
	ck_assert_int_eq(p.frees, 0);
	worker_task_done_run(t, 2, 0, NULL);
	ck_assert_int_eq(p.frees, 1);
	drop_worker();
}
END_TEST

START_TEST(test_late_done_ignored)
{
	struct probe p = {.async = true};
	struct worker_task_info info;
	struct worker_spec s = {
	    .name = "late",
	    .kind = WORKER_PERIODIC,
	    .interval = 10.0,
	    .run_now = true,
	    .timeout = 0.01,
	    .fn = probe_fn,
	    .arg = &p,
	    .free_arg = probe_free,
	};
	struct worker_task *t = worker_schedule(w, &s);

	RUN_UNTIL(loop, (worker_task_get_info(t, &info), info.failures == 1),
	          1.0);
	worker_task_done(t, -1, "late failure");
	worker_task_get_info(t, &info);
	ck_assert_uint_eq(info.runs, 1);
	ck_assert_uint_eq(info.failures, 1);
	ck_assert_str_eq(info.last_error, "timed out after 10ms");
	ck_assert(info.next_run_us > 0);

	/* a delayed task that timed out is removed, and freed on its late
	 * completion */
	struct probe q = {.async = true};
	struct worker_spec d = {
	    .name = "dl",
	    .kind = WORKER_DELAYED,
	    .interval = 0.002,
	    .timeout = 0.005,
	    .fn = probe_fn,
	    .arg = &q,
	    .free_arg = probe_free,
	};
	struct worker_task *dt = worker_schedule(w, &d);
	RUN_UNTIL(loop, worker_find(w, "dl") == NULL, 1.0);
	ck_assert_int_eq(q.frees, 0);
	worker_task_done(dt, 0, NULL);
	ck_assert_int_eq(q.frees, 1);
	drop_worker();
}
END_TEST

START_TEST(test_cancel_self_from_body)
{
	struct probe p = {.action = ACT_CANCEL_SELF_2ND};

	sched("self", WORKER_PERIODIC, 0.003, &p);
	RUN_UNTIL(loop, p.frees == 1, 1.0);
	ck_assert_int_eq(p.runs, 2);
	ck_assert_ptr_null(worker_find(w, "self"));
	tu_run_for(loop, 0.02);
	ck_assert_int_eq(p.runs, 2);
	drop_worker();
}
END_TEST

START_TEST(test_replace_self_from_body)
{
	struct probe b = {0};
	struct probe a = {.action = ACT_REPLACE_SELF, .other = &b};

	sched("me", WORKER_PERIODIC, 0.003, &a);
	RUN_UNTIL(loop, b.runs >= 2, 1.0);
	ck_assert_int_eq(a.runs, 1);
	ck_assert_int_eq(a.frees, 1);
	ck_assert_uint_eq(worker_count(w), 1);

	/* a failing body that schedules another task */
	struct probe o = {0};
	struct probe c = {
	    .action = ACT_SCHEDULE_OTHER, .other = &o, .fail = 1, .cause = "x"};
	sched("c", WORKER_DELAYED, 0.002, &c);
	RUN_UNTIL(loop, o.runs == 1, 1.0);
	ck_assert_int_eq(c.runs, 1);
	ck_assert_int_eq(c.frees, 1);
	ck_assert_ptr_null(worker_find(w, "other"));
	drop_worker();
}
END_TEST

static int
done_inside_fn(struct worker_task *t, void *arg, char **cause)
{
	int *n = arg;

	(*n)++;
	worker_task_done(t, 0, NULL);
	return SVC_PENDING;
}

START_TEST(test_done_inside_body)
{
	int n = 0;
	struct worker_task_info info;
	struct worker_spec s = {
	    .name = "quick",
	    .kind = WORKER_PERIODIC,
	    .interval = 0.003,
	    .fn = done_inside_fn,
	    .arg = &n,
	};
	struct worker_task *t = worker_schedule(w, &s);

	RUN_UNTIL(loop, n >= 3, 1.0);
	worker_task_get_info(t, &info);
	ck_assert_uint_eq(info.failures, 0);
	ck_assert(!info.running);
	drop_worker();
}
END_TEST

static void
collect_name(struct worker_task *t, void *arg)
{
	struct buf *b = arg;

	buf_puts(b, worker_task_name(t));
	buf_putc(b, ' ');
}

static void
cancel_visited(struct worker_task *t, void *arg)
{
	int *n = arg;

	(*n)++;
	worker_cancel(w, worker_task_name(t));
}

START_TEST(test_list_json)
{
	struct probe p = {0}, q = {0}, r = {.fail = 1, .cause = "bad"};
	struct worker_spec sb = {
	    .name = "b",
	    .kind = WORKER_PERIODIC,
	    .interval = 1.0,
	    .fn = probe_fn,
	    .arg = &p,
	    .origin = "config",
	    .description = "emit user.tick",
	};
	struct worker_spec sa = {
	    .name = "a",
	    .kind = WORKER_DELAYED,
	    .interval = 2.5,
	    .fn = probe_fn,
	    .arg = &q,
	    .origin = "control",
	};
	struct worker_spec sc = {
	    .name = "c",
	    .kind = WORKER_PERIODIC,
	    .interval = 5.0,
	    .run_now = true,
	    .fn = probe_fn,
	    .arg = &r,
	};
	struct buf names = {0};
	json_t *list, *o;

	ck_assert_ptr_nonnull(worker_schedule(w, &sb));
	ck_assert_ptr_nonnull(worker_schedule(w, &sc));
	ck_assert_ptr_nonnull(worker_schedule(w, &sa));
	RUN_UNTIL(loop, r.runs == 1, 1.0);

	worker_foreach(w, collect_name, &names);
	buf_putc(&names, '\0');
	ck_assert_str_eq(buf_head(&names), "a b c ");
	buf_free(&names);

	list = worker_list_json(w);
	ck_assert_uint_eq(json_array_size(list), 3);
	o = json_array_get(list, 0);
	ck_assert_str_eq(json_string_value(json_object_get(o, "name")), "a");
	ck_assert_str_eq(json_string_value(json_object_get(o, "kind")),
	                 "delayed");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "delay_ms")),
	                 2500);
	ck_assert_ptr_null(json_object_get(o, "interval_ms"));
	const char *nr = json_string_value(json_object_get(o, "next_run"));
	ck_assert_ptr_nonnull(nr);
	ck_assert_uint_eq(strlen(nr), 27);
	ck_assert_int_eq(nr[strlen(nr) - 1], 'Z');
	ck_assert_int_eq(json_integer_value(json_object_get(o, "runs")), 0);
	ck_assert(json_is_null(json_object_get(o, "last_error")));
	ck_assert(json_is_null(json_object_get(o, "last_duration_ms")));
	ck_assert(json_is_false(json_object_get(o, "running")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "origin")),
	                 "control");
	ck_assert(json_is_null(json_object_get(o, "description")));

	o = json_array_get(list, 1);
	ck_assert_str_eq(json_string_value(json_object_get(o, "name")), "b");
	ck_assert_str_eq(json_string_value(json_object_get(o, "kind")),
	                 "periodic");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "interval_ms")),
	                 1000);
	ck_assert_str_eq(json_string_value(json_object_get(o, "description")),
	                 "emit user.tick");
	ck_assert_str_eq(json_string_value(json_object_get(o, "origin")),
	                 "config");

	o = json_array_get(list, 2);
	ck_assert_str_eq(json_string_value(json_object_get(o, "name")), "c");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "runs")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "failures")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(o, "last_error")),
	                 "bad");
	ck_assert(json_is_number(json_object_get(o, "last_duration_ms")));
	ck_assert(json_is_null(json_object_get(o, "origin")));
	json_decref(list);

	/* a visitor may cancel what it visits */
	int n = 0;
	worker_foreach(w, cancel_visited, &n);
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(worker_count(w), 0);
	list = worker_list_json(w);
	ck_assert_uint_eq(json_array_size(list), 0);
	json_decref(list);
	drop_worker();
}
END_TEST

struct shut {
	int calls;
	int status;
};

static void
shut_cb(struct worker *wk, int status, void *arg)
{
	struct shut *s = arg;

	ck_assert_ptr_eq(wk, w);
	s->calls++;
	s->status = status;
}

START_TEST(test_shutdown_awaits_running)
{
	struct probe busy = {.async = true, .hold = 0.02};
	struct probe idle = {0};
	struct shut sh = {0};
	struct worker_task_info info;
	struct worker_spec s = {
	    .name = "busy",
	    .kind = WORKER_PERIODIC,
	    .interval = 0.005,
	    .run_now = true,
	    .fn = probe_fn,
	    .arg = &busy,
	};

	worker_schedule(w, &s);
	RUN_UNTIL(loop, busy.runs == 1, 1.0);
	/* armed, then shut down before the loop runs again */
	struct worker_task *it = sched("idle", WORKER_PERIODIC, 0.005, &idle);
	worker_task_get_info(it, &info);
	ck_assert(info.next_run_us > 0);
	worker_shutdown(w, 1.0, shut_cb, &sh);
	ck_assert_int_eq(sh.calls, 0);
	worker_task_get_info(it, &info);
	ck_assert_int_eq(info.next_run_us, 0);
	ck_assert_ptr_null(sched("new", WORKER_PERIODIC, 0.005, &idle));
	ck_assert_ptr_null(worker_find(w, "new"));
	RUN_UNTIL(loop, sh.calls == 1, 1.0);
	ck_assert_int_eq(sh.status, 0);
	ck_assert_int_eq(busy.runs, 1);
	ck_assert_int_eq(idle.runs, 0);
	tu_run_for(loop, 0.02);
	ck_assert_int_eq(busy.runs, 1);
	ck_assert_int_eq(idle.runs, 0);
	ck_assert_int_eq(sh.calls, 1);
	drop_worker();
}
END_TEST

START_TEST(test_shutdown_stuck)
{
	struct probe stuck = {.async = true};
	struct shut sh = {0};
	struct worker_spec s = {
	    .name = "stuck",
	    .kind = WORKER_PERIODIC,
	    .interval = 1.0,
	    .run_now = true,
	    .fn = probe_fn,
	    .arg = &stuck,
	    .free_arg = probe_free,
	};

	worker_schedule(w, &s);
	RUN_UNTIL(loop, stuck.runs == 1, 1.0);
	worker_shutdown(w, 0.02, shut_cb, &sh);
	ck_assert_int_eq(sh.calls, 0);
	RUN_UNTIL(loop, sh.calls == 1, 1.0);
	ck_assert_int_eq(sh.status, -1);
	ck_assert(tu_log_seen("still running: 'stuck'"));
	/* worker_free (teardown) frees the stuck task */
	drop_worker();
}
END_TEST

START_TEST(test_shutdown_idle)
{
	struct probe p = {0};
	struct shut sh = {0};

	sched("p", WORKER_PERIODIC, 0.005, &p);
	worker_shutdown(w, 1.0, shut_cb, &sh);
	ck_assert_int_eq(sh.calls, 1); /* nothing running: at once */
	ck_assert_int_eq(sh.status, 0);
	ck_assert_ptr_null(sched("q", WORKER_DELAYED, 0.005, &p));
	tu_run_for(loop, 0.02);
	ck_assert_int_eq(p.runs, 0);
	ck_assert(worker_cancel(w, "p"));
	ck_assert_int_eq(p.frees, 1);
	drop_worker();
}
END_TEST

static void
graph_done(struct svc_graph *g, int status, const char *cause, void *arg)
{
	int *st = arg;

	*st = status == 0 ? 1 : -1;
}

START_TEST(test_service_lifecycle)
{
	static const struct svc_desc *const table[] = {&worker_service};
	struct probe p = {.async = true};
	struct svc_graph *g;
	char *cause = NULL;
	int started = 0, stopped = 0;

	drop_worker(); /* use the service's instance */
	g = svc_graph_new(loop, table, 1, &cause);
	tu_use_graph(g);
	ck_assert_ptr_nonnull(g);
	ck_assert_ptr_null(tu_worker());
	svc_start(g, NULL, graph_done, &started);
	RUN_UNTIL(loop, started != 0, 1.0);
	ck_assert_int_eq(started, 1);
	w = tu_worker();
	ck_assert_ptr_nonnull(w);
	struct worker_spec s = {
	    .name = "job",
	    .kind = WORKER_PERIODIC,
	    .interval = 1.0,
	    .run_now = true,
	    .fn = probe_fn,
	    .arg = &p,
	    .free_arg = probe_free,
	};
	ck_assert_ptr_nonnull(worker_schedule(w, &s));
	RUN_UNTIL(loop, p.runs == 1, 1.0);
	/* stop waits for the running task */
	svc_stop_all(g, graph_done, &stopped);
	ck_assert_int_eq(stopped, 0);
	ck_assert_ptr_eq(tu_worker(), w);
	worker_task_done(p.task, 0, NULL);
	RUN_UNTIL(loop, stopped != 0, 1.0);
	ck_assert_int_eq(stopped, 1);
	ck_assert_ptr_null(tu_worker());
	ck_assert_int_eq(p.frees, 1);
	w = NULL;
	svc_graph_free(g);
	tu_use_graph(NULL);
	tu_conf_reset(); /* worker_svc_stop read the defaults */
}
END_TEST

static struct worker_task *
sched_as(const char *name, enum worker_owner owner, const char *origin,
         struct probe *p)
{
	struct worker_spec s = {
	    .name = name,
	    .kind = WORKER_PERIODIC,
	    .interval = 60,
	    .fn = probe_fn,
	    .arg = p,
	    .free_arg = probe_free,
	    .origin = origin,
	    .owner = owner,
	};
	return worker_schedule(w, &s);
}

/* A service's task is not the config's nor the control channel's to touch;
 * config and control tasks may replace each other; owners are counted. */
START_TEST(test_owners)
{
	struct probe hp = {0}, cp = {0}, xp = {0}, sp = {0};
	struct worker_task *health, *t;
	struct worker_task_info info;
	char *cause = NULL;

	health = sched_as("health", WORKER_OWNER_SERVICE, "health", &hp);
	ck_assert_ptr_nonnull(health);
	ck_assert_uint_eq(worker_count_owner(w, WORKER_OWNER_SERVICE), 1);

	errno = 0;
	ck_assert_ptr_null(
	    sched_as("health", WORKER_OWNER_CONTROL, "control", &cp));
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_ptr_null(
	    sched_as("health", WORKER_OWNER_CONFIG, "config", &xp));
	ck_assert_int_eq(errno, EPERM);
	ck_assert_ptr_eq(worker_find(w, "health"), health);
	ck_assert_int_eq(hp.frees, 0);
	ck_assert(!worker_may_touch(w, "health", WORKER_OWNER_CONTROL, &cause));
	ck_assert_str_eq(cause, "task 'health' belongs to service 'health'");
	free(cause);
	cause = NULL;
	ck_assert(!worker_may_touch(w, "health", WORKER_OWNER_CONFIG, &cause));
	free(cause);
	cause = NULL;
	ck_assert(worker_may_touch(w, "health", WORKER_OWNER_SERVICE, NULL));
	ck_assert(worker_may_touch(w, "nothing", WORKER_OWNER_CONTROL, NULL));

	/* the service itself replaces it */
	t = sched_as("health", WORKER_OWNER_SERVICE, "health", &sp);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(hp.frees, 1);
	worker_task_get_info(t, &info);
	ck_assert_int_eq(info.owner, WORKER_OWNER_SERVICE);

	/* control over config and back: allowed, counted by owner */
	ck_assert_ptr_nonnull(
	    sched_as("t", WORKER_OWNER_CONFIG, "config", &xp));
	ck_assert_uint_eq(worker_count_owner(w, WORKER_OWNER_CONFIG), 1);
	ck_assert(worker_may_touch(w, "t", WORKER_OWNER_CONTROL, NULL));
	ck_assert_ptr_nonnull(
	    sched_as("t", WORKER_OWNER_CONTROL, "control", &cp));
	ck_assert_uint_eq(worker_count_owner(w, WORKER_OWNER_CONFIG), 0);
	ck_assert_uint_eq(worker_count_owner(w, WORKER_OWNER_CONTROL), 1);
	ck_assert_ptr_nonnull(
	    sched_as("t", WORKER_OWNER_CONTROL, "control", &cp));
	ck_assert_uint_eq(worker_count_owner(w, WORKER_OWNER_CONTROL), 1);
	ck_assert_uint_eq(worker_count(w), 2);

	json_t *o = worker_task_json(worker_find(w, "t"));
	ck_assert_str_eq(json_string_value(json_object_get(o, "owner")),
	                 "control");
	json_decref(o);
	o = worker_task_json(worker_find(w, "health"));
	ck_assert_str_eq(json_string_value(json_object_get(o, "owner")),
	                 "service");
	ck_assert_str_eq(json_string_value(json_object_get(o, "origin")),
	                 "health");
	json_decref(o);

	ck_assert(worker_cancel(w, "t"));
	ck_assert_uint_eq(worker_count_owner(w, WORKER_OWNER_CONTROL), 0);
	ck_assert_str_eq(worker_owner_name(WORKER_OWNER_CONFIG), "config");

	/* shutting down: ESHUTDOWN, not EPERM */
	worker_shutdown(w, 1, NULL, NULL);
	errno = 0;
	ck_assert_ptr_null(sched_as("u", WORKER_OWNER_CONTROL, "control", &cp));
	ck_assert_int_eq(errno, ESHUTDOWN);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_periodic_runs);
	tcase_add_test(tc, test_periodic_run_now);
	tcase_add_test(tc, test_periodic_no_overlap);
	tcase_add_test(tc, test_delayed_once);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_replace_by_name);
	tcase_add_test(tc, test_replace_while_running);
	tcase_add_test(tc, test_failure_counted);
	tcase_add_test(tc, test_async_timeout);
	tcase_add_test(tc, test_late_done_ignored);
	tcase_add_test(tc, test_cancel_self_from_body);
	tcase_add_test(tc, test_replace_self_from_body);
	tcase_add_test(tc, test_done_inside_body);
	tcase_add_test(tc, test_list_json);
	tcase_add_test(tc, test_owners);
	tcase_add_test(tc, test_shutdown_awaits_running);
	tcase_add_test(tc, test_shutdown_stuck);
	tcase_add_test(tc, test_shutdown_idle);
	tcase_add_test(tc, test_service_lifecycle);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
