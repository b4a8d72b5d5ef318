/* test_bus.c — Check tests for services/bus.c: the event bus and its service.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "testutil.h"
#include "daemon/util.h"
#include "services/worker.h"

static struct ev_loop *loop;

static void
setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(loop);
	tu_log_capture();
}

static void
teardown(void)
{
	tu_log_release();
	tu_conf_reset(); /* the services read the built-in defaults */
	ev_loop_destroy(loop);
	loop = NULL;
}

/*
 * Progress detection for RUN_UNTIL_B: EVRUN_ONCE blocks in poll until the next
 * event even when the condition became true during the iteration (the bus
 * stops its idle watcher once it has nothing left to do). A lowest-priority
 * prepare watcher, run after the bus's own, ends the iteration before poll
 * when anything observable changed, so the condition is re-checked at once.
 */
static struct bus *tbus;       /* the bus under test, for the progress check */
static unsigned long progress; /* bumped by every test callback */
static struct {
	unsigned long progress;
	struct bus_stats st;
	uint64_t dispatched;
} snap;
static ev_prepare progress_watch;

static void
take_snap(void)
{
	memset(&snap, 0, sizeof(snap));
	snap.progress = progress;
	if (tbus) {
		bus_get_stats(tbus, &snap.st);
		snap.dispatched = bus_last_dispatched(tbus);
	}
}

static void
progress_cb(struct ev_loop *l, ev_prepare *w, int revents)
{
	(void)w;
	(void)revents;
	unsigned long p = snap.progress;
	struct bus_stats st = snap.st;
	uint64_t d = snap.dispatched;
	take_snap();
	if (p != snap.progress || d != snap.dispatched ||
	    memcmp(&st, &snap.st, sizeof(st)) != 0)
		ev_break(l, EVBREAK_ONE);
}

/* Snapshot before the next turn while cond does not hold yet; cond's value. */
static bool
progress_check(bool cond)
{
	if (!cond)
		take_snap();
	return cond;
}

/*
 * testutil's RUN_UNTIL on this suite's loop, with the progress watcher
 * running: drive the loop until cond holds; fail if it takes longer than secs.
 */
#define RUN_UNTIL_B(cond, secs)                                                \
	do {                                                                   \
		ev_prepare_init(&progress_watch, progress_cb);                 \
		ev_set_priority(&progress_watch, EV_MINPRI);                   \
		ev_prepare_start(loop, &progress_watch);                       \
		RUN_UNTIL(loop, progress_check(cond), (secs));                 \
		ev_prepare_stop(loop, &progress_watch);                        \
	} while (0)

/* A few non-blocking iterations: for asserting that something does NOT
 * happen while the loop turns. */
static void
spin(int n)
{
	for (int i = 0; i < n; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

static int
emit(struct bus *b, const char *name, const char *data, const char *source)
{
	return bus_emit(b, name, strlen(name), data, data ? strlen(data) : 0,
	                source, NULL, NULL);
}

/* A sync listener recording what it saw. */
struct rec {
	size_t n;
	int ret;
	uint64_t seq[256];
	char name[256][32];
	char source[256][16];
	char data[256][32];
};

static int
rec_fn(const struct bus_event *ev, void *arg)
{
	progress++;
	struct rec *r = arg;
	if (r->n < 256) {
		r->seq[r->n] = ev->seq;
		snprintf(r->name[r->n], sizeof(r->name[0]), "%s", ev->name);
		snprintf(r->source[r->n], sizeof(r->source[0]), "%s",
		         ev->source);
		snprintf(r->data[r->n], sizeof(r->data[0]), "%s", ev->data);
	}
	r->n++;
	return r->ret;
}

static struct bus *
new_bus(size_t queue_size, size_t history, size_t batch, double ltimeout,
        double stimeout)
{
	struct bus_opts o = {
	    .queue_size = queue_size,
	    .history = history,
	    .batch = batch,
	    .listener_timeout = ltimeout,
	    .stop_timeout = stimeout,
	};
	tbus = bus_new(loop, &o);
	return tbus;
}

static void
free_bus(struct bus *b)
{
	if (tbus == b)
		tbus = NULL;
	bus_free(b);
}

/* ---- names and patterns ------------------------------------------------ */

START_TEST(test_name_valid)
{
	char n[130];
	memset(n, 'a', sizeof(n));
	ck_assert(!bus_name_valid(n, 0));
	ck_assert(bus_name_valid(n, 1));
	ck_assert(bus_name_valid(n, 128));
	ck_assert(!bus_name_valid(n, 129));
	ck_assert(bus_name_valid("user.created:v2_A-9", 19));
	ck_assert(!bus_name_valid("user created", 12));
	ck_assert(!bus_name_valid("user/created", 12));
	ck_assert(!bus_name_valid("user.*", 6));
	ck_assert(!bus_name_valid("caf\xc3\xa9", 5));
	ck_assert(!bus_name_valid("a\0b", 3));
	ck_assert(!bus_name_valid("quote\"", 6));

	struct bus *b = new_bus(4, 4, 4, 1, 1);
	errno = 0;
	ck_assert_int_eq(bus_emit(b, n, 129, NULL, 0, "t", NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(emit(b, "", NULL, "t"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(bus_emit(b, n, 128, NULL, 0, "t", NULL, NULL), 0);
	ck_assert_uint_eq(bus_last_seq(b), 1);
	free_bus(b);
}
END_TEST

START_TEST(test_pattern_match)
{
	ck_assert(bus_pattern_valid("*"));
	ck_assert(bus_pattern_valid("user.*"));
	ck_assert(bus_pattern_valid("user.created"));
	ck_assert(!bus_pattern_valid(""));
	ck_assert(!bus_pattern_valid(".*"));
	ck_assert(!bus_pattern_valid("user*"));
	ck_assert(!bus_pattern_valid("*.user"));
	ck_assert(!bus_pattern_valid("us*r.x"));
	ck_assert(!bus_pattern_valid("user.**"));
	ck_assert(!bus_pattern_valid("a b.*"));

	ck_assert(bus_pattern_match("user.created", "user.created", 12));
	ck_assert(!bus_pattern_match("user.created", "user.create", 11));
	ck_assert(!bus_pattern_match("user.created", "user.createdx", 13));
	ck_assert(bus_pattern_match("user.*", "user.created", 12));
	ck_assert(bus_pattern_match("user.*", "user.a.b", 8));
	ck_assert(!bus_pattern_match("user.*", "user", 4));
	ck_assert(!bus_pattern_match("user.*", "user.", 5));
	ck_assert(!bus_pattern_match("user.*", "username.x", 10));
	ck_assert(!bus_pattern_match("user.*", "users.x", 7));
	ck_assert(bus_pattern_match("*", "anything", 8));
	ck_assert(bus_pattern_match("*", "x", 1));
	/* the length is honoured, not the NUL */
	ck_assert(bus_pattern_match("user.x", "user.xyz", 6));

	/* the no-parse variant for validated patterns agrees on every pair */
	static const char *const pats[] = {"user.created", "user.*", "*", "u",
	                                   "a.b.*",        "user"};
	static const char *const names[] = {
	    "user.created", "user.create", "user.createdx", "user",
	    "user.",        "users.x",     "user.a.b",      "u",
	    "a.b",          "a.b.c",       "a.bc"};
	for (size_t i = 0; i < ARRAY_SIZE(pats); i++)
		for (size_t j = 0; j < ARRAY_SIZE(names); j++)
			ck_assert_msg(bus_pattern_match_valid(
			                  pats[i], strlen(pats[i]), names[j],
			                  strlen(names[j])) ==
			                  bus_pattern_match(pats[i], names[j],
			                                    strlen(names[j])),
			              "%s vs %s", pats[i], names[j]);
}
END_TEST

/* A random name from a tiny alphabet, so patterns and names collide often;
 * dots are frequent (prefix matches) and may be doubled or trailing. */
static void
rand_name(char *out, size_t max)
{
	static const char alpha[] = "ab.c.";
	size_t n = 1 + (size_t)rand() % max;

	for (size_t i = 0; i < n; i++)
		out[i] = alpha[rand() % (int)(sizeof(alpha) - 1)];
	out[n] = '\0';
}

/* Every name is matched by a set exactly as by the linear matcher, for
 * sets small (the linear scan) and large (the hash tables), with and
 * without prefixes, duplicates included. */
START_TEST(test_patset_differential)
{
	static char pats[600][16];
	const char *pp[600];

	srand(13);
	for (int round = 0; round < 60; round++) {
		size_t n =
		    round < 20 ? (size_t)round % 6 : 1 + (size_t)rand() % 600;
		int mode = rand() % 3; /* exact only, prefixes only, mixed */

		for (size_t i = 0; i < n; i++) {
			bool prefix = mode == 1 || (mode == 2 && rand() % 2);
			do {
				rand_name(pats[i], 6);
				if (prefix)
					strcat(pats[i], ".*");
			} while (!bus_pattern_valid(pats[i]));
			pp[i] = pats[i];
		}
		struct bus_patset *s = bus_patset_new(pp, n);
		for (int k = 0; k < 2000; k++) {
			char name[16];
			bool want = n == 0;

			rand_name(name, 8);
			for (size_t i = 0; i < n && !want; i++)
				want = bus_pattern_match(pp[i], name,
				                         strlen(name));
			ck_assert_msg(bus_patset_match(s, name, strlen(name)) ==
			                  want,
			              "round %d (%zu patterns) name '%s'",
			              round, n, name);
		}
		bus_patset_free(s);
	}
}
END_TEST

/* "*" makes a set of any size match all; an empty set matches all. */
START_TEST(test_patset_all)
{
	const char *many[40];
	char buf[40][16];

	for (int i = 0; i < 39; i++) {
		snprintf(buf[i], sizeof(buf[i]), "x%d", i);
		many[i] = buf[i];
	}
	many[39] = "*";
	struct bus_patset *s = bus_patset_new(many, 40);
	ck_assert(bus_patset_match(s, "anything.at.all", 15));
	bus_patset_free(s);
	s = bus_patset_new(many, 0);
	ck_assert(bus_patset_match(s, "z", 1));
	bus_patset_free(s);
	s = bus_patset_new(many, 39);
	ck_assert(bus_patset_match(s, "x38", 3));
	ck_assert(!bus_patset_match(s, "x39", 3));
	ck_assert(!bus_patset_match(s, "x", 1));
	ck_assert(!bus_patset_match(s, "x380", 4));
	bus_patset_free(s);
}
END_TEST

START_TEST(test_listeners_by_pattern)
{
	struct bus *b = new_bus(16, 16, 16, 1, 1);
	struct rec exact = {0}, prefix = {0}, all = {0};
	size_t matched = 99;
	uint64_t seq = 0;

	bus_listen(b, "user.created", rec_fn, &exact);
	bus_listen(b, "user.*", rec_fn, &prefix);
	bus_listen(b, "*", rec_fn, &all);
	ck_assert_int_eq(
	    bus_emit(b, "user.created", 12, NULL, 0, "t", &seq, &matched), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_uint_eq(matched, 3);
	ck_assert_int_eq(bus_emit(b, "user", 4, NULL, 0, "t", &seq, &matched),
	                 0);
	ck_assert_uint_eq(matched, 1);
	ck_assert_int_eq(
	    bus_emit(b, "username.x", 10, NULL, 0, "t", &seq, &matched), 0);
	ck_assert_uint_eq(matched, 1);
	ck_assert_int_eq(
	    bus_emit(b, "user.deleted", 12, NULL, 0, "t", &seq, &matched), 0);
	ck_assert_uint_eq(matched, 2);
	ck_assert_uint_eq(seq, 4);
	/* emit never calls a listener synchronously */
	ck_assert_uint_eq(all.n, 0);

	RUN_UNTIL_B(all.n == 4, 2);
	ck_assert_uint_eq(exact.n, 1);
	ck_assert_uint_eq(prefix.n, 2);
	ck_assert_str_eq(prefix.name[1], "user.deleted");
	ck_assert_str_eq(all.data[0], "{}");

	struct bus_stats st;
	bus_get_stats(b, &st);
	ck_assert_uint_eq(st.emitted, 4);
	ck_assert_uint_eq(st.delivered, 7);
	ck_assert_uint_eq(st.listeners, 3);
	ck_assert_uint_eq(st.queue_depth, 0);
	ck_assert_uint_eq(st.high_watermark, 4);
	free_bus(b);
}
END_TEST

/* ---- order and batching ------------------------------------------------ */

START_TEST(test_order_per_emitter)
{
	struct bus *b = new_bus(256, 0, 3, 1, 1);
	struct rec r1 = {0}, r2 = {0};
	const char *src[] = {"A", "B", "C"};
	int next[3] = {0, 0, 0};
	size_t total = 0;

	bus_listen(b, "*", rec_fn, &r1);
	bus_listen(b, "tick", rec_fn, &r2);
	/* three emitters interleaved, emitting while the bus drains */
	for (int round = 0; round < 10; round++) {
		for (int k = 0; k < 12; k++) {
			int e = (k * 7 + round) % 3;
			char data[32];
			snprintf(data, sizeof(data), "{\"i\":%d}", next[e]++);
			ck_assert_int_eq(emit(b, "tick", data, src[e]), 0);
			total++;
		}
		ev_run(loop, EVRUN_NOWAIT);
	}
	RUN_UNTIL_B(r1.n == total, 2);
	ck_assert_uint_eq(r2.n, total);
	int seen[3] = {0, 0, 0};
	for (size_t i = 0; i < total; i++) {
		ck_assert_uint_eq(r1.seq[i], i + 1);
		ck_assert_uint_eq(r2.seq[i], i + 1);
		int e = r1.source[i][0] - 'A';
		ck_assert_int_ge(e, 0);
		ck_assert_int_lt(e, 3);
		char want[32];
		snprintf(want, sizeof(want), "{\"i\":%d}", seen[e]++);
		ck_assert_str_eq(r1.data[i], want);
	}
	for (int e = 0; e < 3; e++)
		ck_assert_int_eq(seen[e], next[e]);
	free_bus(b);
}
END_TEST

/* ---- queue full and backpressure --------------------------------------- */

START_TEST(test_queue_full)
{
	struct bus *b = new_bus(4, 0, 16, 1, 1);
	struct rec r = {0};
	bus_listen(b, "*", rec_fn, &r);
	for (int i = 0; i < 4; i++) {
		ck_assert(bus_has_room(b));
		ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	}
	ck_assert(!bus_has_room(b));
	errno = 0;
	ck_assert_int_eq(emit(b, "e", NULL, "t"), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(emit(b, "e", NULL, "t"), -1);
	ck_assert_uint_eq(bus_last_seq(b), 4);

	json_t *st = bus_stats_json(b);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "dropped")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "emitted")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "queue_depth")),
	                 4);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(st, "high_watermark")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "listeners")),
	                 1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "last_seq")),
	                 4);
	ck_assert_ptr_nonnull(json_object_get(st, "listener_errors"));
	ck_assert_ptr_nonnull(json_object_get(st, "delivered"));
	ck_assert_ptr_nonnull(json_object_get(st, "history"));
	ck_assert_uint_eq(json_object_size(st), 9);
	json_decref(st);

	RUN_UNTIL_B(r.n == 4, 2);
	ck_assert(bus_has_room(b));
	ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	RUN_UNTIL_B(r.n == 5, 2);
	struct bus_stats s;
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.dropped, 2);
	ck_assert_uint_eq(s.delivered, 5);
	free_bus(b);
}
END_TEST

struct waiter_ctx {
	struct bus_waiter w;
	struct bus *b;
	int calls;
	int order;
	bool room_seen;
	bool emit_ok;
	bool rearm;
};
static int waiter_order;

static void
waiter_fn(struct bus_waiter *w)
{
	progress++;
	struct waiter_ctx *c = (struct waiter_ctx *)w;
	c->calls++;
	c->order = ++waiter_order;
	c->room_seen = bus_has_room(c->b);
	c->emit_ok = emit(c->b, "from.waiter", NULL, "w") == 0;
	if (c->rearm) {
		c->rearm = false;
		bus_wait_room(c->b, &c->w);
	}
}

START_TEST(test_backpressure_waiter)
{
	struct bus *b = new_bus(2, 0, 1, 1, 1);
	struct rec r = {0};
	struct waiter_ctx w1 = {.w.fn = waiter_fn, .b = b};
	struct waiter_ctx w2 = {.w.fn = waiter_fn, .b = b};
	struct waiter_ctx w3 = {.w.fn = waiter_fn, .b = b, .rearm = true};

	waiter_order = 0;
	bus_listen(b, "*", rec_fn, &r);
	ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	ck_assert(!bus_has_room(b));
	bus_wait_room(b, &w1.w);
	bus_wait_room(b, &w2.w);
	bus_wait_room(b, &w3.w);
	bus_cancel_wait(b, &w2.w);
	ck_assert(!w2.w.queued);

	RUN_UNTIL_B(w1.calls == 1, 2);
	ck_assert(w1.room_seen);
	ck_assert(w1.emit_ok);
	/* w1 filled the queue again: w3 waits for the next batch */
	RUN_UNTIL_B(w3.calls >= 1, 2);
	ck_assert_int_gt(w3.order, w1.order);
	ck_assert(w3.room_seen);
	/* w3 re-registered itself and is called once more later */
	RUN_UNTIL_B(w3.calls == 2, 2);
	RUN_UNTIL_B(r.n == 5, 2);
	ck_assert_int_eq(w1.calls, 1);
	ck_assert_int_eq(w2.calls, 0);
	ck_assert_str_eq(r.name[2], "from.waiter");
	struct bus_stats s;
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.dropped, 0);
	free_bus(b);
}
END_TEST

struct drain_ctx {
	struct bus_waiter w;
	struct rec *r;
	size_t seen_at_call; /* deliveries when the callback ran */
	int calls;
};

static void
drained_fn(struct bus_waiter *w)
{
	progress++;
	struct drain_ctx *d = (struct drain_ctx *)w;
	d->calls++;
	d->seen_at_call = d->r->n;
}

START_TEST(test_wait_drained)
{
	struct bus *b = new_bus(64, 0, 2, 1, 1); /* batch 2: several rounds */
	struct rec r = {0};
	struct drain_ctx d = {.w.fn = drained_fn, .r = &r};
	struct drain_ctx gone = {.w.fn = drained_fn, .r = &r};

	bus_listen(b, "*", rec_fn, &r);
	for (int i = 0; i < 9; i++)
		ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	bus_wait_drained(b, &d.w);
	bus_wait_drained(b, &gone.w);
	bus_cancel_wait(b, &gone.w);
	ck_assert_int_eq(d.calls, 0); /* never from inside the call */
	RUN_UNTIL_B(d.calls == 1, 2);
	/* called only once every accepted event had been delivered */
	ck_assert_uint_eq(d.seen_at_call, 9);
	ck_assert_int_eq(gone.calls, 0);
	/* on an empty bus it still comes from the loop, once */
	bus_wait_drained(b, &d.w);
	ck_assert_int_eq(d.calls, 1);
	RUN_UNTIL_B(d.calls == 2, 2);
	spin(3);
	ck_assert_int_eq(d.calls, 2);
	free_bus(b);
}
END_TEST

/* ---- listener failures and mutation from callbacks ---------------------- */

START_TEST(test_listener_failure_isolated)
{
	struct bus *b = new_bus(16, 0, 16, 1, 1);
	struct rec good1 = {0}, bad = {.ret = -1}, good2 = {0};
	bus_listen(b, "x.*", rec_fn, &good1);
	bus_listen(b, "x.*", rec_fn, &bad);
	bus_listen(b, "x.*", rec_fn, &good2);
	ck_assert_int_eq(emit(b, "x.a", NULL, "t"), 0);
	ck_assert_int_eq(emit(b, "x.b", NULL, "t"), 0);
	RUN_UNTIL_B(good2.n == 2, 2);
	ck_assert_uint_eq(good1.n, 2);
	ck_assert_uint_eq(bad.n, 2);
	struct bus_stats s;
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.delivered, 4);
	ck_assert_uint_eq(s.listener_errors, 2);
	ck_assert(tu_log_seen("listener 'x.*' failed on event x.a (seq 1)"));
	ck_assert(tu_log_seen("listener 'x.*' failed on event x.b (seq 2)"));
	free_bus(b);
}
END_TEST

struct self_unlisten {
	struct bus *b;
	struct bus_listener *me;
	struct bus_listener *victim;
	struct bus_listener *added;
	struct rec *added_rec;
	size_t n;
};

static int
unlisten_self_fn(const struct bus_event *ev, void *arg)
{
	progress++;
	struct self_unlisten *c = arg;
	(void)ev;
	c->n++;
	bus_unlisten(c->b, c->me);
	return 0;
}

static int
unlisten_other_fn(const struct bus_event *ev, void *arg)
{
	progress++;
	struct self_unlisten *c = arg;
	(void)ev;
	c->n++;
	if (c->victim) {
		bus_unlisten(c->b, c->victim);
		c->victim = NULL;
	}
	if (!c->added) {
		c->added = bus_listen(c->b, "*", rec_fn, c->added_rec);
		/* emitting from a callback is fine too */
		ck_assert_int_eq(emit(c->b, "late", NULL, "cb"), 0);
	}
	return 0;
}

START_TEST(test_unlisten_in_callback)
{
	struct bus *b = new_bus(16, 0, 16, 1, 1);
	struct rec victim = {0}, added = {0}, after = {0};
	struct self_unlisten a = {.b = b}, o = {.b = b, .added_rec = &added};

	a.me = bus_listen(b, "*", unlisten_self_fn, &a);
	bus_listen(b, "*", unlisten_other_fn, &o);
	o.victim = bus_listen(b, "*", rec_fn, &victim);
	bus_listen(b, "*", rec_fn, &after);
	ck_assert_int_eq(emit(b, "e1", NULL, "t"), 0);
	ck_assert_int_eq(emit(b, "e2", NULL, "t"), 0);
	RUN_UNTIL_B(after.n == 3, 2);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_uint_eq(o.n, 3);
	ck_assert_uint_eq(victim.n, 0);
	/* added during e1: sees e2 and "late", not e1 */
	ck_assert_uint_eq(added.n, 2);
	ck_assert_str_eq(added.name[0], "e2");
	ck_assert_str_eq(added.name[1], "late");
	ck_assert_str_eq(after.name[2], "late");
	struct bus_stats s;
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.listeners, 3);
	free_bus(b);
}
END_TEST

/* ---- async listeners --------------------------------------------------- */

struct async_l {
	struct bus_call *call;
	uint64_t seq;
	int started;
	/* 0 pending, 1 immediate 0, 2 done inside then pending,
	 * 3 pending the first time then immediate */
	int mode;
};
static int async_started, async_order[16];

static int
async_fn(const struct bus_event *ev, struct bus_call *call, void *arg)
{
	progress++;
	struct async_l *a = arg;
	a->started++;
	a->seq = ev->seq;
	if (async_started < 16)
		async_order[async_started] = (int)ev->seq;
	async_started++;
	switch (a->mode) {
	case 1: return 0;
	case 2: bus_call_done(call, -1); return SVC_PENDING;
	case 3:
		a->mode = 1;
		a->call = call;
		return SVC_PENDING;
	default: a->call = call; return SVC_PENDING;
	}
}

/* What one iteration accepted is delivered in the next, whatever the batch:
 * a steady stream never builds a backlog. */
START_TEST(test_batch_keeps_up)
{
	struct bus *b = new_bus(64, 0, 2, 1, 1);
	struct rec r = {0};
	struct bus_stats st;

	bus_listen(b, "*", rec_fn, &r);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_uint_eq(r.n, 5);
	bus_get_stats(b, &st);
	ck_assert_uint_eq(st.queue_depth, 0);
	free_bus(b);
}
END_TEST

/* A backlog (held back by an async listener) drains batch per iteration. */
START_TEST(test_batch_bounded)
{
	struct bus *b = new_bus(64, 0, 2, 5, 1);
	struct async_l hold = {0};
	struct rec r = {0};
	struct bus_stats st;

	bus_listen_async(b, "hold", async_fn, &hold);
	bus_listen(b, "*", rec_fn, &r);
	ck_assert_int_eq(emit(b, "hold", NULL, "t"), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	spin(3);
	ck_assert_uint_eq(r.n, 1); /* "hold" waits for its async call */
	ck_assert_ptr_nonnull(hold.call);
	bus_call_done(hold.call, 0);
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_uint_eq(r.n, 3);
	bus_get_stats(b, &st);
	ck_assert_uint_eq(st.queue_depth, 3);
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_uint_eq(r.n, 5);
	RUN_UNTIL_B(r.n == 6, 2);
	/* with nothing queued the bus keeps no watcher: the loop can exit */
	ck_assert_int_eq(ev_run(loop, 0), 0);
	free_bus(b);
}
END_TEST

START_TEST(test_async_concurrent)
{
	struct bus *b = new_bus(16, 0, 16, 5, 1);
	struct async_l l[3] = {{0}}, imm = {.mode = 1}, early = {.mode = 2};
	struct rec r = {0};

	async_started = 0;
	for (int i = 0; i < 3; i++)
		bus_listen_async(b, "job", async_fn, &l[i]);
	bus_listen_async(b, "job", async_fn, &imm);
	bus_listen_async(b, "job", async_fn, &early);
	bus_listen(b, "*", rec_fn, &r);
	ck_assert_int_eq(emit(b, "job", NULL, "t"), 0);
	ck_assert_int_eq(emit(b, "job", NULL, "t"), 0);
	ck_assert_int_eq(emit(b, "other", NULL, "t"), 0);

	/* all three started before any completed */
	RUN_UNTIL_B(async_started == 5, 2);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(l[i].started, 1);
		ck_assert_ptr_nonnull(l[i].call);
		ck_assert_uint_eq(l[i].seq, 1);
	}
	/* the next event waits while any call is pending */
	spin(5);
	ck_assert_int_eq(async_started, 5);
	ck_assert_uint_eq(r.n, 1);
	bus_call_done(l[1].call, 0);
	bus_call_done(l[0].call, -1);
	l[0].call = l[1].call = NULL;
	spin(5);
	ck_assert_int_eq(async_started, 5);
	ck_assert_uint_eq(r.n, 1);
	bus_call_done(l[2].call, 0);
	l[2].call = NULL;
	RUN_UNTIL_B(async_started == 10, 2);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(async_order[i], 1);
	for (int i = 5; i < 10; i++)
		ck_assert_int_eq(async_order[i], 2);
	ck_assert_uint_eq(r.n, 2);
	for (int i = 0; i < 3; i++)
		bus_call_done(l[i].call, 0);
	RUN_UNTIL_B(r.n == 3, 2);
	ck_assert_str_eq(r.name[2], "other");

	struct bus_stats s;
	bus_get_stats(b, &s);
	/* event 1: 2 ok + imm + rec; errors: l[0] and early */
	ck_assert_uint_eq(s.listener_errors, 3);
	ck_assert_uint_eq(s.delivered, 4 + 5 + 1);
	free_bus(b);
}
END_TEST

START_TEST(test_async_timeout)
{
	struct bus *b = new_bus(16, 0, 16, 0.02, 1);
	struct async_l stuck = {.mode = 3};
	struct rec r = {0};

	async_started = 0;
	bus_listen_async(b, "*", async_fn, &stuck);
	bus_listen(b, "*", rec_fn, &r);
	ck_assert_int_eq(emit(b, "slow", NULL, "t"), 0);
	ck_assert_int_eq(emit(b, "next", NULL, "t"), 0);
	RUN_UNTIL_B(r.n == 1, 2);
	struct bus_call *first = stuck.call;
	ck_assert_ptr_nonnull(first);
	struct bus_stats s;
	RUN_UNTIL_B(r.n == 2, 2);
	ck_assert_int_eq(stuck.started, 2);
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.listener_errors, 1);
	ck_assert_uint_eq(s.delivered, 3);
	ck_assert(tu_log_seen("listener '*' timed out on event slow (seq 1)"));
	/* a late completion of the timed-out call is ignored */
	bus_call_done(first, 0);
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.listener_errors, 1);
	ck_assert_uint_eq(s.delivered, 3);
	free_bus(b);
}
END_TEST

/* ---- history ----------------------------------------------------------- */

struct hist_rec {
	size_t n;
	uint64_t seq[16];
};

static void
hist_fn(const struct bus_event *ev, void *arg)
{
	struct hist_rec *h = arg;
	h->seq[h->n++] = ev->seq;
}

START_TEST(test_history)
{
	struct bus *b = new_bus(16, 4, 16, 1, 1);
	const char *names[] = {"a.1", "b.1", "a.2", "b.2", "a.3", "c.1"};
	struct hist_rec h = {0};
	const char *pa[] = {"a.*"};
	const char *pac[] = {"a.*", "c.1"};

	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(emit(b, names[i], NULL, "t"), 0);
	/* recorded at dispatch, not at accept */
	ck_assert_uint_eq(bus_history(b, 0, 0, NULL, 0, hist_fn, &h), 0);
	ck_assert_uint_eq(bus_history_first(b), 0);
	ck_assert_uint_eq(bus_last_dispatched(b), 0);
	RUN_UNTIL_B(bus_last_dispatched(b) == 6, 2);

	ck_assert_uint_eq(bus_history_first(b), 3);
	ck_assert_uint_eq(bus_history(b, 0, 0, NULL, 0, hist_fn, &h), 4);
	ck_assert_uint_eq(h.seq[0], 3);
	ck_assert_uint_eq(h.seq[3], 6);
	h.n = 0;
	ck_assert_uint_eq(bus_history(b, 4, 0, NULL, 0, hist_fn, &h), 2);
	ck_assert_uint_eq(h.seq[0], 5);
	ck_assert_uint_eq(h.seq[1], 6);
	h.n = 0;
	ck_assert_uint_eq(bus_history(b, 0, 1, NULL, 0, hist_fn, &h), 1);
	ck_assert_uint_eq(h.seq[0], 6);
	h.n = 0;
	ck_assert_uint_eq(bus_history(b, 0, 0, pa, 1, hist_fn, &h), 2);
	ck_assert_uint_eq(h.seq[0], 3);
	ck_assert_uint_eq(h.seq[1], 5);
	h.n = 0;
	/* last applies to the matching events */
	ck_assert_uint_eq(bus_history(b, 0, 1, pa, 1, hist_fn, &h), 1);
	ck_assert_uint_eq(h.seq[0], 5);
	h.n = 0;
	ck_assert_uint_eq(bus_history(b, 0, 2, pac, 2, hist_fn, &h), 2);
	ck_assert_uint_eq(h.seq[0], 5);
	ck_assert_uint_eq(h.seq[1], 6);
	h.n = 0;
	ck_assert_uint_eq(bus_history(b, 5, 10, pa, 1, hist_fn, &h), 0);
	ck_assert_uint_eq(bus_history(b, 6, 0, NULL, 0, hist_fn, &h), 0);

	json_t *st = bus_stats_json(b);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "history")), 4);
	json_decref(st);
	free_bus(b);

	/* history 0 disables the ring */
	b = new_bus(16, 0, 16, 1, 1);
	ck_assert_int_eq(emit(b, "a.1", NULL, "t"), 0);
	RUN_UNTIL_B(bus_last_dispatched(b) == 1, 2);
	ck_assert_uint_eq(bus_history(b, 0, 0, NULL, 0, hist_fn, &h), 0);
	ck_assert_uint_eq(bus_history_first(b), 0);
	free_bus(b);
}
END_TEST

/* A subscriber that replays history then listens sees every event once. */
START_TEST(test_history_then_live)
{
	struct bus *b = new_bus(64, 64, 2, 5, 1);
	struct hist_rec h = {0};
	struct rec live = {0};
	struct async_l hold = {0};

	/* a backlog: "hold" waits for its async call, 4 more queue behind */
	bus_listen_async(b, "hold", async_fn, &hold);
	ck_assert_int_eq(emit(b, "hold", NULL, "t"), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	spin(2);
	ck_assert_ptr_nonnull(hold.call);
	bus_call_done(hold.call, 0);
	ev_run(loop, EVRUN_NOWAIT); /* one batch: 2 dispatched, 2 queued */
	uint64_t upto = bus_last_dispatched(b);
	ck_assert_uint_eq(upto, 3);
	bus_history(b, 0, 0, NULL, 0, hist_fn, &h);
	bus_listen(b, "*", rec_fn, &live);
	ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	RUN_UNTIL_B(live.n == 3, 2);
	ck_assert_uint_eq(h.n, 3);
	ck_assert_uint_eq(h.seq[2], 3);
	for (size_t i = 0; i < live.n; i++)
		ck_assert_uint_eq(live.seq[i], upto + 1 + i);
	free_bus(b);
}
END_TEST

/* ---- wire format ------------------------------------------------------- */

static const struct bus_event *kept;

static int
keep_fn(const struct bus_event *ev, void *arg)
{
	progress++;
	(void)arg;
	kept = bus_event_ref(ev);
	return 0;
}

START_TEST(test_wire_line)
{
	struct bus *b = new_bus(16, 0, 16, 1, 1);
	const char *data = "{\"id\":1,\"tags\":[\"a\",\"b\"]}";

	kept = NULL;
	bus_listen(b, "*", keep_fn, NULL);
	ck_assert_int_eq(emit(b, "user.created", data, "ctl \"x\" uid=1000"),
	                 0);
	RUN_UNTIL_B(kept != NULL, 2);
	free_bus(b); /* the reference outlives the bus */

	char t[40], want[512];
	util_format_time(kept->time_us, t, sizeof(t));
	snprintf(want, sizeof(want),
	         "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":"
	         "{\"seq\":1,\"time\":\"%s\",\"event\":\"user.created\","
	         "\"data\":{\"id\":1,\"tags\":[\"a\",\"b\"]},"
	         "\"source\":\"ctl \\\"x\\\" uid=1000\"}}\n",
	         t);
	size_t len = 0;
	const char *w = bus_event_wire(kept, &len);
	ck_assert_str_eq(w, want);
	ck_assert_uint_eq(len, strlen(want));
	/* cached: built once */
	ck_assert_ptr_eq(bus_event_wire(kept, NULL), w);
	ck_assert_uint_eq(strlen(t), 27);
	ck_assert_int_eq(t[26], 'Z');

	/* the line is valid JSON and matches bus_event_json */
	json_t *line = json_loadb(w, len, 0, NULL);
	ck_assert_ptr_nonnull(line);
	json_t *params = bus_event_json(kept);
	ck_assert(json_equal(json_object_get(line, "params"), params));
	ck_assert_str_eq(json_string_value(json_object_get(params, "source")),
	                 "ctl \"x\" uid=1000");
	json_decref(params);
	json_decref(line);
	bus_event_unref(kept);
	kept = NULL;
}
END_TEST

/* The text form of an event, for `events` replies: data is written as
 * stored, never re-serialised, and the rest matches the wire line. */
START_TEST(test_event_put_exact)
{
	const char *data = "{\"t\":1700000000.123456,\"pi\":3.141592653589793,"
	                   "\"z\":-0,\"e\":1.0E+2,\"h\":1e400,"
	                   "\"big\":123456789012345678901234567890}";
	struct bus_event ev = {
	    .seq = 42,
	    .time_us = 1700000000123456,
	    .name = "num.x",
	    .name_len = 5,
	    .data = data,
	    .data_len = strlen(data),
	    .source = "ctl \"q\"",
	};
	struct buf b = {0};
	char *want;

	bus_event_put(&b, &ev);
	buf_putc(&b, '\0');
	want = xasprintf("{\"seq\":42,\"time\":\"2023-11-14T22:13:20.123456Z\","
	                 "\"event\":\"num.x\",\"data\":%s,"
	                 "\"source\":\"ctl \\\"q\\\"\"}",
	                 data);
	ck_assert_str_eq(buf_head(&b), want);
	free(want);
	buf_free(&b);

	/* a bus event: the same text as its wire line's params */
	struct bus *bb = new_bus(16, 0, 16, 1, 1);
	kept = NULL;
	bus_listen(bb, "*", keep_fn, NULL);
	ck_assert_int_eq(
	    emit(bb, "user.created", "{\"pi\":3.141592653589793}", "src"), 0);
	RUN_UNTIL_B(kept != NULL, 2);
	free_bus(bb);
	size_t len;
	const char *w = bus_event_wire(kept, &len);
	const char *params = strstr(w, "\"params\":") + 9;
	bus_event_put(&b, kept);
	ck_assert_uint_eq(b.len, (size_t)(w + len - 2 - params));
	ck_assert(memcmp(buf_head(&b), params, b.len) == 0);
	buf_free(&b);
	bus_event_unref(kept);
	kept = NULL;
}
END_TEST

static char *
member(const char *text, const char *const *path, size_t n)
{
	struct buf b = {0};

	if (!bus_json_member(text, strlen(text), path, n, &b)) {
		ck_assert_uint_eq(b.len, 0);
		buf_free(&b);
		return NULL;
	}
	buf_putc(&b, '\0');
	return b.data;
}

START_TEST(test_json_member)
{
	static const char *const pd[] = {"params", "data"};
	static const char *const d[] = {"data"};
	const char *line =
	    "{\"jsonrpc\":\"2.0\",\"id\":[1,{\"data\":0}],\"params\" : {"
	    "\"event\":\"x\", \"wait\":true,\"data\" :\t{ \"pi\": "
	    "3.141592653589793 , \"s\":\"a } \\\" ] b\", \"z\":-0,"
	    "\"e\":[1.0E+2, {}], \"big\":123456789012345678901234567890} },"
	    "\"method\":\"emit\"}";
	char *v;

	v = member(line, pd, 2);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "{\"pi\":3.141592653589793,\"s\":\"a } \\\" ] b\","
	                    "\"z\":-0,\"e\":[1.0E+2,{}],"
	                    "\"big\":123456789012345678901234567890}");
	free(v);
	/* only members of the object on the path count */
	ck_assert_ptr_null(member(line, d, 1));
	v = member("{\"a\":{\"data\":1},\"data\":{\"k\":\"v\"}}", d, 1);
	ck_assert_str_eq(v, "{\"k\":\"v\"}");
	free(v);
	v = member("{\"data\":-12.5e-3}", d, 1);
	ck_assert_str_eq(v, "-12.5e-3");
	free(v);
	/* an escaped key on the way: not comparable, the caller falls back */
	ck_assert_ptr_null(member("{\"d\\u0061ta\":{}}", d, 1));
	ck_assert_ptr_null(member("{\"x\\n\":1,\"data\":{}}", d, 1));
	ck_assert_ptr_null(member("[{\"data\":{}}]", d, 1));
	ck_assert_ptr_null(member("{\"params\":[]}", pd, 2));
	ck_assert_ptr_null(member("{}", d, 1));
}
END_TEST

/* Events of every size, small ones in recycled blocks: a kept event's data
 * and wire line stay intact while thousands of others come and go. */
struct size_rec {
	const struct bus_event *kept[8];
	size_t n, seen;
};

static int
size_fn(const struct bus_event *ev, void *arg)
{
	struct size_rec *r = arg;

	progress++;
	if (ev->seq % 500 == 1 && r->n < 8)
		r->kept[r->n++] = bus_event_ref(ev);
	r->seen++;
	return 0;
}

static char *
data_of_size(size_t i, size_t *len)
{
	/* {"k":"xxxx..."} with the seq's digit repeated, 0 to ~3000 bytes */
	size_t n = (i * 37) % 3000;
	char *d = xmalloc(n + 16);

	memcpy(d, "{\"k\":\"", 6);
	memset(d + 6, (char)('a' + i % 26), n);
	memcpy(d + 6 + n, "\"}", 3);
	*len = n + 8;
	return d;
}

START_TEST(test_event_sizes)
{
	struct bus *b = new_bus(4096, 16, 16, 1, 1);
	struct size_rec r = {0};

	bus_listen(b, "*", size_fn, &r);
	for (size_t i = 1; i <= 3000; i++) {
		size_t len;
		char *d = data_of_size(i, &len);

		ck_assert_int_eq(bus_emit(b, "e", 1, d, len, "t", NULL, NULL),
		                 0);
		free(d);
		if (i % 1000 == 0)
			RUN_UNTIL_B(r.seen == i, 2);
	}
	ck_assert_uint_eq(r.n, 6);
	for (size_t k = 0; k < r.n; k++) {
		const struct bus_event *ev = r.kept[k];
		size_t len, wlen;
		char *d = data_of_size(ev->seq, &len);

		ck_assert_uint_eq(ev->data_len, len);
		ck_assert(memcmp(ev->data, d, len) == 0);
		const char *w = bus_event_wire(ev, &wlen);
		json_t *line = json_loadb(w, wlen, 0, NULL);
		ck_assert_ptr_nonnull(line);
		json_t *want = json_loadb(d, len, 0, NULL);
		ck_assert(json_equal(
		    json_object_get(json_object_get(line, "params"), "data"),
		    want));
		json_decref(want);
		json_decref(line);
		free(d);
		bus_event_unref(ev);
	}
	free_bus(b);
}
END_TEST

/* ---- shutdown ---------------------------------------------------------- */

struct closed {
	int calls;
	int status;
};

static void
close_cb(struct bus *b, int status, void *arg)
{
	progress++;
	struct closed *c = arg;
	(void)b;
	c->calls++;
	c->status = status;
}

static int
count_fn(const struct bus_event *ev, void *arg)
{
	progress++;
	(void)ev;
	(*(size_t *)arg)++;
	return 0;
}

START_TEST(test_drain_on_shutdown)
{
	enum { N = 100000 };
	struct bus *b = new_bus(N, 1024, 256, 1, 30);
	struct closed c = {0};
	size_t count = 0;

	bus_listen(b, "*", count_fn, &count);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(emit(b, "load.tick", "{\"k\":1}", "bench"), 0);
	errno = 0;
	ck_assert_int_eq(emit(b, "load.tick", NULL, "bench"), -1);
	ck_assert_int_eq(errno, EAGAIN);
	bus_close(b, close_cb, &c);
	ck_assert(bus_closing(b));
	ck_assert_int_eq(c.calls, 0);
	errno = 0;
	ck_assert_int_eq(emit(b, "load.tick", NULL, "bench"), -1);
	ck_assert_int_eq(errno, ESHUTDOWN);
	RUN_UNTIL_B(c.calls == 1, 60);
	ck_assert_int_eq(c.status, 0);
	ck_assert_uint_eq(count, N);
	struct bus_stats s;
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.delivered, N);
	ck_assert_uint_eq(s.dropped, 1);
	ck_assert_uint_eq(s.emitted, N);
	ck_assert_uint_eq(s.queue_depth, 0);
	spin(3);
	ck_assert_int_eq(c.calls, 1);
	free_bus(b);
}
END_TEST

START_TEST(test_close_empty_is_immediate)
{
	struct bus *b = new_bus(4, 4, 4, 1, 1);
	struct closed c = {0};
	bus_close(b, close_cb, &c);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.status, 0);
	ck_assert_int_eq(emit(b, "x", NULL, "t"), -1);
	ck_assert_int_eq(errno, ESHUTDOWN);
	free_bus(b);
}
END_TEST

START_TEST(test_close_stuck_listener)
{
	struct bus *b = new_bus(16, 4, 16, 10, 0.02);
	struct async_l stuck = {0};
	struct closed c = {0};

	async_started = 0;
	bus_listen_async(b, "*", async_fn, &stuck);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(emit(b, "e", NULL, "t"), 0);
	RUN_UNTIL_B(stuck.started == 1, 2);
	bus_close(b, close_cb, &c);
	RUN_UNTIL_B(c.calls == 1, 2);
	ck_assert_int_eq(c.status, -1);
	ck_assert_int_eq(stuck.started, 1);
	struct bus_stats s;
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.dropped, 2);
	ck_assert_uint_eq(s.listener_errors, 1);
	ck_assert_uint_eq(s.queue_depth, 0);
	ck_assert(tu_log_seen("3 bus stopped with 2 undelivered events"));
	/* a very late completion is still safe */
	bus_call_done(stuck.call, 0);
	bus_get_stats(b, &s);
	ck_assert_uint_eq(s.delivered, 0);
	free_bus(b);
}
END_TEST

/* svcd's own events (bus_emit_json) are not dropped by a full queue: they
 * wait, in seq order, ahead of client emits, which are refused meanwhile;
 * a renumbering (the journal at start) covers them too. */
START_TEST(test_own_events_wait)
{
	struct bus *b = new_bus(1, 16, 16, 1, 1);
	struct rec r = {0};
	struct bus_stats st;

	bus_listen(b, "*", rec_fn, &r);
	for (int i = 0; i < 10; i++) {
		json_t *d = json_pack("{s:i}", "i", i);
		ck_assert_int_eq(bus_emit_json(b, "own.e", d, "svcd"), 0);
		json_decref(d);
	}
	ck_assert(!bus_has_room(b));
	errno = 0;
	ck_assert_int_eq(emit(b, "client.e", NULL, "t"), -1);
	ck_assert_int_eq(errno, EAGAIN);
	bus_get_stats(b, &st);
	ck_assert_uint_eq(st.emitted, 10);
	ck_assert_uint_eq(st.dropped, 1); /* the client's */
	ck_assert_uint_eq(st.queue_depth, 10);
	ck_assert_int_eq(bus_set_last_seq(b, 100), 0);
	ck_assert_uint_eq(bus_last_seq(b), 110);

	RUN_UNTIL_B(r.n == 10, 2);
	for (int i = 0; i < 10; i++) {
		char want[32];
		snprintf(want, sizeof(want), "{\"i\":%d}", i);
		ck_assert_uint_eq(r.seq[i], 101 + (uint64_t)i);
		ck_assert_str_eq(r.name[i], "own.e");
		ck_assert_str_eq(r.data[i], want);
	}
	ck_assert(bus_has_room(b));
	ck_assert_int_eq(emit(b, "client.e", NULL, "t"), 0);
	RUN_UNTIL_B(r.n == 11, 2);
	ck_assert_uint_eq(r.seq[10], 111);
	bus_get_stats(b, &st);
	ck_assert_uint_eq(st.queue_depth, 0);
	ck_assert_uint_eq(st.dropped, 1);
	free_bus(b);
}
END_TEST

static int
hang_fn(const struct bus_event *ev, struct bus_call *call, void *arg)
{
	(void)ev;
	(void)call;
	(void)arg;
	return SVC_PENDING;
}

/* Own events waiting when the bus stops are freed and counted; the ones
 * past the overflow bound are dropped, counted and logged. */
START_TEST(test_own_events_bounded)
{
	struct bus *b = new_bus(1, 0, 16, 30, 0.05);
	struct closed c = {0};
	int i;

	bus_listen_async(b, "*", hang_fn, NULL);
	for (i = 0; bus_emit_json(b, "own.e", NULL, "svcd") == 0; i++)
		ck_assert_int_lt(i, 100000);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(i, 1 + 4096);
	ck_assert(tu_log_seen("dropping svcd's own event 'own.e'"));
	bus_close(b, close_cb, &c);
	RUN_UNTIL_B(c.calls == 1, 2);
	ck_assert_int_eq(c.status, -1);
	ck_assert(tu_log_seen("1 of svcd's own events dropped"));
	free_bus(b);
}
END_TEST

/* ---- the service ------------------------------------------------------- */

struct state_rec {
	size_t n;
	struct {
		char service[16], from[16], to[16], error[96], source[16];
	} ev[32];
};

static void
copy_field(char *dst, size_t len, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	snprintf(dst, len, "%s", v ? v : "");
}

static int
state_fn(const struct bus_event *ev, void *arg)
{
	struct state_rec *r = arg;
	progress++;
	ck_assert_str_eq(ev->name, "service.state");
	json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);
	ck_assert_ptr_nonnull(d);
	if (r->n < 32) {
		copy_field(r->ev[r->n].service, 16, d, "service");
		copy_field(r->ev[r->n].from, 16, d, "from");
		copy_field(r->ev[r->n].to, 16, d, "to");
		copy_field(r->ev[r->n].error, 96, d, "error");
		snprintf(r->ev[r->n].source, 16, "%s", ev->source);
	}
	r->n++;
	json_decref(d);
	return 0;
}

static int
broken_init(struct svc *self, char **cause)
{
	(void)self;
	*cause = xstrdup("boom");
	return -1;
}

static const struct svc_desc broken_service = {
    .name = "broken",
    .requires = SVC_REQUIRES("bus"),
    .init = broken_init,
};

struct done {
	int calls;
	int status;
};

static void
done_cb(struct svc_graph *g, int status, const char *cause, void *arg)
{
	struct done *d = arg;
	(void)g;
	(void)cause;
	progress++;
	d->calls++;
	d->status = status;
}

#define EXPECT_STATE(r, i, svc, f, t)                                          \
	do {                                                                   \
		ck_assert_str_eq((r).ev[i].service, svc);                      \
		ck_assert_str_eq((r).ev[i].from, f);                           \
		ck_assert_str_eq((r).ev[i].to, t);                             \
		ck_assert_str_eq((r).ev[i].source, "svcd");                    \
	} while (0)

START_TEST(test_service_state_events)
{
	const struct svc_desc *table[] = {&worker_service, &bus_service,
	                                  &broken_service};
	struct state_rec r = {0};
	struct done started = {0}, failed = {0}, stopped = {0};
	char *cause = NULL;
	struct svc_graph *g = svc_graph_new(loop, table, 3, &cause);
	tu_use_graph(g);

	ck_assert_msg(g != NULL, "%s", cause ? cause : "");
	ck_assert_ptr_null(tu_bus());
	svc_start(g, "bus", done_cb, &started);
	RUN_UNTIL_B(started.calls == 1, 2);
	ck_assert_int_eq(started.status, 0);
	struct bus *b = tu_bus();
	ck_assert_ptr_nonnull(b);
	tbus = b;
	bus_listen(b, "service.*", state_fn, &r);
	/* the boot so far: worker (replayed) then the bus itself */
	RUN_UNTIL_B(r.n == 2, 2);
	EXPECT_STATE(r, 0, "worker", "starting", "running");
	EXPECT_STATE(r, 1, "bus", "starting", "running");

	/* a failing service: its error travels with the event */
	svc_start(g, "broken", done_cb, &failed);
	RUN_UNTIL_B(failed.calls == 1 && r.n == 4, 2);
	ck_assert_int_eq(failed.status, -1);
	EXPECT_STATE(r, 2, "broken", "inactive", "starting");
	ck_assert_str_eq(r.ev[2].error, "");
	EXPECT_STATE(r, 3, "broken", "starting", "failed");
	ck_assert_ptr_nonnull(strstr(r.ev[3].error, "boom"));

	/* stop: the bus drains (its own "stopping" is delivered), then frees
	 * itself and clears the default instance */
	tbus = NULL;
	svc_stop_all(g, done_cb, &stopped);
	RUN_UNTIL_B(stopped.calls == 1, 2);
	ck_assert_int_eq(stopped.status, 0);
	ck_assert_ptr_null(tu_bus());
	ck_assert_uint_eq(r.n, 5);
	EXPECT_STATE(r, 4, "bus", "running", "stopping");
	ck_assert_int_eq(svc_state(svc_graph_find(g, "bus")), SVC_STOPPED);
	svc_graph_free(g);
	tu_use_graph(NULL);
}
END_TEST

static Suite *
bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_name_valid);
	tcase_add_test(tc, test_pattern_match);
	tcase_add_test(tc, test_patset_differential);
	tcase_add_test(tc, test_patset_all);
	tcase_add_test(tc, test_listeners_by_pattern);
	tcase_add_test(tc, test_order_per_emitter);
	tcase_add_test(tc, test_batch_keeps_up);
	tcase_add_test(tc, test_batch_bounded);
	tcase_add_test(tc, test_queue_full);
	tcase_add_test(tc, test_backpressure_waiter);
	tcase_add_test(tc, test_wait_drained);
	tcase_add_test(tc, test_listener_failure_isolated);
	tcase_add_test(tc, test_unlisten_in_callback);
	tcase_add_test(tc, test_async_concurrent);
	tcase_add_test(tc, test_async_timeout);
	tcase_add_test(tc, test_history);
	tcase_add_test(tc, test_history_then_live);
	tcase_add_test(tc, test_wire_line);
	tcase_add_test(tc, test_event_put_exact);
	tcase_add_test(tc, test_json_member);
	tcase_add_test(tc, test_event_sizes);
	tcase_add_test(tc, test_drain_on_shutdown);
	tcase_add_test(tc, test_close_empty_is_immediate);
	tcase_add_test(tc, test_close_stuck_listener);
	tcase_add_test(tc, test_own_events_wait);
	tcase_add_test(tc, test_own_events_bounded);
	suite_add_tcase(s, tc);
	tc = tcase_create("service");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_service_state_events);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(bus_suite());
}
