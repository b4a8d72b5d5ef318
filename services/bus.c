/*
 * bus.c — the event bus: bounded queue, listeners, history, backpressure.
 *
 * Design notes.
 *
 * Events. One allocation per event: struct bus_ev holds the public struct
 * bus_event, a reference count and inline copies of name, data and source.
 * The queue owns one reference; dispatch moves it to `cur` and the history
 * ring takes its own. The JSON-RPC wire line is built on first use and
 * cached in the event, so N subscribers cost one serialisation.
 *
 * Queue. A ring of event pointers sized queue_size at bus_new: no allocation
 * per enqueue. bus_emit never calls a listener; it enqueues and arms the
 * dispatcher.
 *
 * Dispatcher. An ev_prepare watcher dispatches, per loop iteration, what
 * the iteration before accepted (so a steady stream never builds a backlog)
 * or opts.batch events, whichever is more; a backlog drains opts.batch per
 * iteration, so I/O is served between batches however busy the bus is.
 * An ev_idle watcher is kept active only while there is dispatchable work,
 * so the loop does not block in poll; it does nothing itself (idle watchers
 * starve under load). Both are stopped when there is nothing to do, so the
 * bus never keeps a loop alive or spins.
 *
 * Order. Events are dispatched strictly in seq order. Async listeners of the
 * current event run concurrently; the next event waits until every one of
 * them called bus_call_done or the listener timeout expired. A call that
 * timed out becomes a "zombie": it stays allocated so a late bus_call_done
 * is recognised and ignored; zombies are freed by that late call or by
 * bus_free.
 *
 * Listeners. A singly linked list in registration order, scanned linearly
 * with pre-classified patterns (exact / prefix / all) and no strlen per
 * match. Removal during dispatch only marks the listener; it is freed by a
 * sweep once no dispatch and no async call refers to it. A listener records
 * the last dispatched seq when it registers and receives only later events,
 * so history (recorded at dispatch) plus live delivery sees each event once.
 *
 * Own events. What svcd emits itself (bus_emit_json: service.state,
 * service.health, heartbeat) is never refused for a full queue: while the
 * ring is full it is accepted (seq, accept hook) onto an overflow list that
 * refills the ring first as the dispatcher frees slots, so seq order holds
 * and client emits wait (or get QueueFull) until it is empty. The list is
 * bounded by BUS_OWN_MAX; past it (a listener stuck for minutes) an own
 * event is dropped, counted, and the drops are logged once when the list
 * next empties (and at stop).
 *
 * Shutdown. bus_close refuses new emits (ESHUTDOWN) and keeps draining; the
 * callback runs when the queue is empty and no async call is pending, or at
 * the stop timeout with the remainder counted as dropped.
 */
#include "services/bus.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "daemon/conf.h"
#include "daemon/fastscan.h"
#include "daemon/log.h"
#include "daemon/methods-int.h"
#include "daemon/util.h"

#define BUS_NAME_MAX 128

struct bus_ev {
	struct bus_event pub; /* first: a bus_event pointer is a bus_ev */
	unsigned refs;
	char *wire; /* cached JSON-RPC line, NUL-terminated */
	size_t wire_len;
	char *room; /* in this allocation, for the wire line */
	size_t room_len;
	bool block; /* an EV_BLOCK-sized block, recycled through ev_cache */
	struct bus_ev *onext; /* on the own-events overflow list */
	char mem[];           /* name \0 data \0 source \0 */
};

enum bus_lkind { LK_ALL, LK_PREFIX, LK_EXACT };

struct bus_listener {
	struct bus_listener *next;
	uint64_t from_seq; /* receives only events with seq > from_seq */
	bus_listener_fn fn;
	bus_async_fn afn;
	void *arg;
	enum bus_lkind kind;
	bool removed;
	size_t len; /* exact: name length; prefix: length up to the dot */
	char pattern[];
};

enum bus_call_state {
	CALL_FREE,
	CALL_CALLING, /* inside the async listener */
	CALL_EARLY,   /* bus_call_done ran inside the listener */
	CALL_PENDING,
	CALL_ZOMBIE, /* timed out or abandoned; awaits a late bus_call_done */
};

struct bus_call {
	struct bus *bus;
	struct bus_listener *l;
	struct bus_call *prev, *next;
	enum bus_call_state state;
	int result;
};

struct bus {
	struct ev_loop *loop;
	struct bus_opts opts;

	struct bus_ev **q; /* ring of accepted events */
	size_t qhead, qcount;
	/* svcd's own events accepted while the ring was full, in seq order
	 * after it; non-empty only while the ring is full */
	struct bus_ev *ohead, *otail;
	size_t ocount;
	uint64_t odropped; /* own events dropped past BUS_OWN_MAX, unlogged */
	bool own_emit;     /* inside bus_emit_json */

	struct bus_ev **hist; /* ring of dispatched events */
	size_t hstart, hcount;

	struct bus_listener *lhead, *ltail;
	size_t nlisteners; /* not removed */
	bool need_sweep;
	unsigned dispatching; /* nesting depth of listener calls */

	struct bus_ev *cur; /* dispatched event with async calls pending */
	size_t pending;
	struct bus_call *calls_pending; /* doubly linked */
	struct bus_call *calls_zombie;  /* doubly linked */
	struct bus_call *calls_free;    /* singly linked */

	struct bus_waiter *wait_head, *wait_tail;
	struct bus_waiter *round;      /* waiters being called now */
	struct bus_waiter *drain_head; /* bus_wait_drained, LIFO is fine */

	uint64_t last_seq, last_dispatched;
	bus_accept_fn accept_fn; /* the journal: sees each event at accept */
	void *accept_arg;
	const struct bus_store *store; /* the journal: durability, history */
	void *store_arg;
	bool store_full; /* the store's backlog is full: no room */
	uint64_t emitted, delivered, dropped, listener_errors;
	size_t high_watermark;
	size_t accepted;        /* in loop iteration accepted_iter */
	unsigned accepted_iter; /* ev_iteration() */

	bool closing;
	void (*close_cb)(struct bus *b, int status, void *arg);
	void *close_arg;

	ev_prepare prepare;
	ev_idle idle;
	ev_timer listener_timer;
	ev_timer stop_timer;
};

#define BUS_OWN_MAX 4096

static unsigned bus_count; /* buses alive: the last one drains ev_cache */

/* i < 2 * cap: a ring index without a division on the hot path. */
static inline size_t
ring_idx(size_t i, size_t cap)
{
	return i >= cap ? i - cap : i;
}

/* ---- names and patterns ------------------------------------------------ */

/* [A-Za-z0-9_.:-], one table lookup per byte. */
static const bool name_chars[256] = {
    ['-'] = 1, ['.'] = 1, [':'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
    ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
    ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
    ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool
bus_name_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > BUS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_chars[(unsigned char)name[i]])
			return false;
	return true;
}

/* Classify a pattern; false if invalid. *len as in struct bus_listener. */
static bool
pattern_parse(const char *pattern, enum bus_lkind *kind, size_t *len)
{
	if (!pattern)
		return false;
	size_t n = strlen(pattern);
	if (n == 1 && pattern[0] == '*') {
		*kind = LK_ALL;
		*len = 0;
		return true;
	}
	if (n > 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.') {
		if (!bus_name_valid(pattern, n - 2))
			return false;
		*kind = LK_PREFIX;
		*len = n - 1;
		return true;
	}
	if (!bus_name_valid(pattern, n))
		return false;
	*kind = LK_EXACT;
	*len = n;
	return true;
}

bool
bus_pattern_valid(const char *pattern)
{
	enum bus_lkind kind;
	size_t len;
	return pattern_parse(pattern, &kind, &len);
}

static inline bool
kind_match(enum bus_lkind kind, const char *pattern, size_t plen,
           const char *name, size_t len)
{
	switch (kind) {
	case LK_ALL: return true;
	case LK_PREFIX: return len > plen && memcmp(name, pattern, plen) == 0;
	case LK_EXACT: return len == plen && memcmp(name, pattern, plen) == 0;
	}
	return false;
}

bool
bus_pattern_match(const char *pattern, const char *name, size_t len)
{
	enum bus_lkind kind;
	size_t plen;
	if (!pattern_parse(pattern, &kind, &plen))
		return false;
	return kind_match(kind, pattern, plen, name, len);
}

bool
bus_pattern_match_valid(const char *pattern, size_t plen, const char *name,
                        size_t len)
{
	if (plen == 1 && pattern[0] == '*')
		return true;
	if (plen > 2 && pattern[plen - 1] == '*') /* "prefix.*" */
		return kind_match(LK_PREFIX, pattern, plen - 1, name, len);
	return kind_match(LK_EXACT, pattern, plen, name, len);
}

static inline bool
listener_match(const struct bus_listener *l, const struct bus_event *ev)
{
	return kind_match(l->kind, l->pattern, l->len, ev->name, ev->name_len);
}

/* ---- pattern sets ------------------------------------------------------- */

/*
 * A subscriber's patterns, matched in O(name length) whatever their number.
 * Up to PATSET_LINEAR patterns are scanned linearly, pre-classified (the
 * common one "*" or one exact name costs what a listener match costs).
 * Larger sets keep two open-addressing hash tables keyed by FNV-1a: exact
 * names, and prefixes with their dot ("a.b.*" is stored as "a.b."). One
 * pass over the name hashes it incrementally and, at every dot that is not
 * the last byte, probes the prefix table with the hash so far; the full
 * hash then probes the exact table. "*" anywhere makes the set match all.
 */
#define PATSET_LINEAR 4

struct patset_lin {
	enum bus_lkind kind;
	size_t len;
	const char *s;
};

struct patset_slot {
	uint32_t hash;
	uint32_t len; /* 0: empty */
	const char *s;
};

struct patset_tab {
	struct patset_slot *slots;
	size_t mask; /* capacity - 1, or 0 when unused */
	size_t n;
};

struct bus_patset {
	bool all;
	size_t nlin;
	struct patset_lin lin[PATSET_LINEAR];
	struct patset_tab exact, prefix;
	char mem[]; /* the patterns, NUL-terminated, back to back */
};

#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u

static inline uint32_t
fnv_step(uint32_t h, unsigned char c)
{
	return (h ^ c) * FNV_PRIME;
}

static uint32_t
fnv(const char *s, size_t n)
{
	uint32_t h = FNV_BASIS;
	for (size_t i = 0; i < n; i++)
		h = fnv_step(h, (unsigned char)s[i]);
	return h;
}

static void
tab_init(struct patset_tab *t, size_t n)
{
	size_t cap = 8;

	if (!n)
		return;
	while (cap < 2 * n)
		cap *= 2;
	t->slots = xcalloc(cap, sizeof(*t->slots));
	t->mask = cap - 1;
}

static inline bool
tab_has(const struct patset_tab *t, uint32_t h, const char *s, size_t len)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct patset_slot *x = &t->slots[i];
		if (!x->len)
			return false;
		if (x->hash == h && x->len == len && !memcmp(x->s, s, len))
			return true;
	}
}

static void
tab_add(struct patset_tab *t, const char *s, size_t len)
{
	uint32_t h = fnv(s, len);

	if (tab_has(t, h, s, len))
		return;
	size_t i = h & t->mask;
	while (t->slots[i].len)
		i = (i + 1) & t->mask;
	t->slots[i] = (struct patset_slot){h, (uint32_t)len, s};
	t->n++;
}

struct bus_patset *
bus_patset_new(const char *const *patterns, size_t n)
{
	size_t bytes = 0, nexact = 0, nprefix = 0;
	enum bus_lkind kind;
	size_t len;

	for (size_t i = 0; i < n; i++) {
		bool ok = pattern_parse(patterns[i], &kind, &len);
		assert(ok && "bus_patset_new: invalid pattern");
		(void)ok;
		bytes += strlen(patterns[i]) + 1;
		nexact += kind == LK_EXACT;
		nprefix += kind == LK_PREFIX;
	}
	struct bus_patset *s = xcalloc(1, sizeof(*s) + bytes);
	bool linear = n <= PATSET_LINEAR;
	char *p = s->mem;

	s->all = n == 0;
	if (!linear) {
		tab_init(&s->exact, nexact);
		tab_init(&s->prefix, nprefix);
	}
	for (size_t i = 0; i < n; i++) {
		size_t sl = strlen(patterns[i]);

		memcpy(p, patterns[i], sl + 1);
		pattern_parse(p, &kind, &len);
		if (kind == LK_ALL)
			s->all = true;
		else if (linear)
			s->lin[s->nlin++] = (struct patset_lin){kind, len, p};
		else
			tab_add(kind == LK_EXACT ? &s->exact : &s->prefix, p,
			        len);
		p += sl + 1;
	}
	return s;
}

void
bus_patset_free(struct bus_patset *s)
{
	if (!s)
		return;
	free(s->exact.slots);
	free(s->prefix.slots);
	free(s);
}

/* Out of line, so the one-pattern path saves no registers. */
static __attribute__((noinline)) bool
patset_match_more(const struct bus_patset *s, const char *name, size_t len)
{
	if (s->nlin) {
		for (size_t i = 0; i < s->nlin; i++)
			if (kind_match(s->lin[i].kind, s->lin[i].s,
			               s->lin[i].len, name, len))
				return true;
		return false;
	}
	uint32_t h = FNV_BASIS;
	if (s->prefix.n) {
		for (size_t i = 0; i < len; i++) {
			h = fnv_step(h, (unsigned char)name[i]);
			if (name[i] == '.' && i + 1 < len &&
			    tab_has(&s->prefix, h, name, i + 1))
				return true;
		}
	} else {
		h = fnv(name, len);
	}
	return s->exact.n && tab_has(&s->exact, h, name, len);
}

bool
bus_patset_match(const struct bus_patset *s, const char *name, size_t len)
{
	if (s->all)
		return true;
	if (s->nlin == 1) /* the common case: one exact name or prefix */
		return kind_match(s->lin[0].kind, s->lin[0].s, s->lin[0].len,
		                  name, len);
	return patset_match_more(s, name, len);
}

/* ---- events ------------------------------------------------------------ */

/* The fixed part of a wire line: keys, 20-digit seq, time, quotes, NUL. */
#define WIRE_FIXED 160

static void
wire_free(struct bus_ev *e)
{
	if (e->wire != e->room)
		free(e->wire);
}

/*
 * Events that fit in EV_BLOCK bytes (most: a few hundred bytes of data) get
 * a block of exactly that size, and freed blocks are kept for the next
 * events, up to EV_CACHE_MAX of them: under load malloc and free cost more
 * than the rest of making an event, and the history ring frees in bursts
 * that overflow malloc's own per-thread cache. Loop thread only, like
 * every bus_ev. At most EV_CACHE_MAX x EV_BLOCK (1 MiB) idle.
 */
#define EV_BLOCK     1024
#define EV_CACHE_MAX 1024

static void *ev_cache[EV_CACHE_MAX];
static size_t ev_ncache;

static struct bus_ev *
bev_alloc(size_t size)
{
	struct bus_ev *e;

	if (size > EV_BLOCK) {
		e = xmalloc(size);
		e->block = false;
		return e;
	}
	e = ev_ncache ? ev_cache[--ev_ncache] : xmalloc(EV_BLOCK);
	e->block = true;
	return e;
}

static void
bev_release(struct bus_ev *e)
{
	if (e->block && ev_ncache < EV_CACHE_MAX)
		ev_cache[ev_ncache++] = e;
	else
		free(e);
}

/* The cached blocks back to malloc (the last bus is gone). */
static void
ev_cache_drain(void)
{
	while (ev_ncache)
		free(ev_cache[--ev_ncache]);
}

static struct bus_ev *
bev_new(uint64_t seq, const char *name, size_t name_len, const char *data,
        size_t data_len, const char *source)
{
	size_t src_len = strlen(source);
	size_t text = name_len + 1 + data_len + 1 + src_len + 1;
	/* room for the wire line too: one allocation per event */
	size_t room = WIRE_FIXED + name_len + data_len + src_len;
	struct bus_ev *e = bev_alloc(sizeof(*e) + text + room);
	char *p = e->mem;

	e->refs = 1;
	e->wire = NULL;
	e->wire_len = 0;
	e->room = e->mem + text;
	e->room_len = room;
	e->pub.seq = seq;
	e->pub.time_us = util_now_us();
	memcpy(p, name, name_len);
	p[name_len] = '\0';
	e->pub.name = p;
	e->pub.name_len = name_len;
	p += name_len + 1;
	memcpy(p, data, data_len);
	p[data_len] = '\0';
	e->pub.data = p;
	e->pub.data_len = data_len;
	p += data_len + 1;
	memcpy(p, source, src_len + 1);
	e->pub.source = p;
	return e;
}

static inline void
bev_unref(struct bus_ev *e)
{
	assert(e->refs > 0);
	if (--e->refs == 0) {
		wire_free(e);
		bev_release(e);
	}
}

const struct bus_event *
bus_event_ref(const struct bus_event *ev)
{
	struct bus_ev *e = (struct bus_ev *)ev;
	e->refs++;
	return ev;
}

void
bus_event_unref(const struct bus_event *ev)
{
	if (ev)
		bev_unref((struct bus_ev *)ev);
}

/*
 * RFC 3339 with microseconds, as util_format_time, into t (27 bytes, no
 * NUL): the date and time of day are formatted once per second.
 */
static void
fmt_time(int64_t us, char t[27])
{
	static int64_t cached_sec = INT64_MIN;
	static char cached[20]; /* "2026-11-23T22:35:06" */
	int64_t sec = us / 1000000;
	int frac = (int)(us % 1000000);

	if (frac < 0) { /* before the epoch: floor, as gmtime sees it */
		sec--;
		frac += 1000000;
	}
	if (sec != cached_sec) {
		char full[40];

		util_format_time(sec * 1000000, full, sizeof(full));
		memcpy(cached, full, 19);
		cached_sec = sec;
	}
	memcpy(t, cached, 19);
	t[19] = '.';
	for (int i = 24; i >= 20; i -= 2) { /* six digits, two at a time */
		unsigned r = (unsigned)(frac % 100);

		frac /= 100;
		t[i] = util_digit_pairs[2 * r];
		t[i + 1] = util_digit_pairs[2 * r + 1];
	}
	t[26] = 'Z';
}

/* Nothing in s needs escaping in a JSON string? */
static bool
plain_scan(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* The same, remembered for the last source seen: one client's events come
 * in runs, and a memcmp is cheaper than a scan. */
static bool
plain(const char *s, size_t n)
{
	static char last[64];
	static size_t last_len = SIZE_MAX;
	static bool last_plain;

	if (n == last_len && memcmp(s, last, n) == 0)
		return last_plain;
	last_plain = plain_scan(s, n);
	if (n < sizeof(last)) {
		memcpy(last, s, n);
		last_len = n;
	}
	return last_plain;
}

const char *
bus_event_wire(const struct bus_event *ev, size_t *len)
{
	struct bus_ev *e = (struct bus_ev *)ev;

	if (!e->wire) {
		static const char h1[] = "{\"jsonrpc\":\"2.0\",\"method\":"
		                         "\"event\",\"params\":{\"seq\":";
		static const char h2[] = ",\"time\":\"";
		static const char h3[] = "\",\"event\":\"";
		static const char h4[] = "\",\"data\":";
		static const char h5[] = ",\"source\":";
		size_t slen = strlen(ev->source);
		char num[20], *d = util_u64_digits(num + sizeof(num), ev->seq);
		size_t dl = (size_t)(num + 20 - d);
		/* name: validated [A-Za-z0-9_.:-], never escaped */
		bool raw = plain(ev->source, slen);
		size_t max = sizeof(h1) + dl + sizeof(h2) + 27 + sizeof(h3) +
		             ev->name_len + sizeof(h4) + ev->data_len +
		             sizeof(h5) + (raw ? slen : 6 * slen) + 2 + 4;
		char *w = max <= e->room_len ? e->room : xmalloc(max), *p = w;

#define PUT(s, n) (memcpy(p, (s), (n)), p += (n))
		PUT(h1, sizeof(h1) - 1);
		PUT(d, dl);
		PUT(h2, sizeof(h2) - 1);
		fmt_time(ev->time_us, p);
		p += 27;
		PUT(h3, sizeof(h3) - 1);
		PUT(ev->name, ev->name_len);
		PUT(h4, sizeof(h4) - 1);
		PUT(ev->data, ev->data_len);
		PUT(h5, sizeof(h5) - 1);
		if (raw) {
			*p++ = '"';
			PUT(ev->source, slen);
			*p++ = '"';
		} else {
			struct buf b = {0};

			buf_json_string(&b, ev->source, slen);
			PUT(buf_head(&b), b.len);
			buf_free(&b);
		}
		PUT("}}\n", 3);
#undef PUT
		*p = '\0';
		e->wire = w;
		e->wire_len = (size_t)(p - w);
	}
	if (len)
		*len = e->wire_len;
	return e->wire;
}

void
bus_event_put(struct buf *out, const struct bus_event *ev)
{
	char t[27], num[20], *d = util_u64_digits(num + sizeof(num), ev->seq);

	fmt_time(ev->time_us, t);
	buf_append(out, "{\"seq\":", 7);
	buf_append(out, d, (size_t)(num + sizeof(num) - d));
	buf_append(out, ",\"time\":\"", 9);
	buf_append(out, t, sizeof(t));
	buf_append(out, "\",\"event\":", 10);
	buf_json_string(out, ev->name, ev->name_len);
	buf_append(out, ",\"data\":", 8);
	if (ev->data && ev->data_len)
		buf_append(out, ev->data, ev->data_len);
	else
		buf_append(out, "{}", 2);
	buf_append(out, ",\"source\":", 10);
	buf_json_string(out, ev->source ? ev->source : "",
	                ev->source ? strlen(ev->source) : 0);
	buf_putc(out, '}');
}

bool
bus_json_member(const char *text, size_t len, const char *const *path, size_t n,
                struct buf *out)
{
	return util_json_member(text, len, path, n, out);
}

json_t *
bus_event_json(const struct bus_event *ev)
{
	char t[40];
	json_t *data = json_loadb(ev->data, ev->data_len, 0, NULL);

	if (!data)
		data = json_object();
	util_format_time(ev->time_us, t, sizeof(t));
	return json_pack("{s:I, s:s, s:s%, s:o, s:s}", "seq",
	                 (json_int_t)ev->seq, "time", t, "event", ev->name,
	                 ev->name_len, "data", data, "source", ev->source);
}

/* ---- construction ------------------------------------------------------ */

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents);
static void on_idle(struct ev_loop *loop, ev_idle *w, int revents);
static void on_listener_timeout(struct ev_loop *loop, ev_timer *w, int revents);
static void on_stop_timeout(struct ev_loop *loop, ev_timer *w, int revents);

struct bus *
bus_new(struct ev_loop *loop, const struct bus_opts *opts)
{
	struct bus *b = xcalloc(1, sizeof(*b));

	const struct bus_conf *d = svc_conf_desc_defaults(&bus_service);

	b->loop = loop;
	if (opts)
		b->opts = *opts;
	if (b->opts.queue_size == 0)
		b->opts.queue_size = d->queue_size;
	if (b->opts.batch == 0)
		b->opts.batch = d->batch;
	if (b->opts.listener_timeout <= 0)
		b->opts.listener_timeout = d->listener_timeout;
	if (b->opts.stop_timeout <= 0)
		b->opts.stop_timeout = 10;
	if (!opts)
		b->opts.history = d->history;
	b->q = xmalloc(b->opts.queue_size * sizeof(*b->q));
	if (b->opts.history)
		b->hist = xmalloc(b->opts.history * sizeof(*b->hist));

	ev_prepare_init(&b->prepare, on_prepare);
	b->prepare.data = b;
	ev_idle_init(&b->idle, on_idle);
	b->idle.data = b;
	ev_timer_init(&b->listener_timer, on_listener_timeout, 0, 0);
	b->listener_timer.data = b;
	ev_timer_init(&b->stop_timer, on_stop_timeout, 0, 0);
	b->stop_timer.data = b;
	bus_count++;
	return b;
}

static void
calls_free_list(struct bus_call *c)
{
	while (c) {
		struct bus_call *next = c->next;
		free(c);
		c = next;
	}
}

void
bus_free(struct bus *b)
{
	if (!b)
		return;
	ev_prepare_stop(b->loop, &b->prepare);
	ev_idle_stop(b->loop, &b->idle);
	ev_timer_stop(b->loop, &b->listener_timer);
	ev_timer_stop(b->loop, &b->stop_timer);

	for (size_t i = 0; i < b->qcount; i++)
		bev_unref(b->q[(b->qhead + i) % b->opts.queue_size]);
	free(b->q);
	while (b->ohead) {
		struct bus_ev *e = b->ohead;
		b->ohead = e->onext;
		bev_unref(e);
	}
	for (size_t i = 0; i < b->hcount; i++)
		bev_unref(b->hist[(b->hstart + i) % b->opts.history]);
	free(b->hist);
	if (b->cur)
		bev_unref(b->cur);

	calls_free_list(b->calls_pending);
	calls_free_list(b->calls_zombie);
	calls_free_list(b->calls_free);

	struct bus_listener *l = b->lhead;
	while (l) {
		struct bus_listener *next = l->next;
		free(l);
		l = next;
	}
	/* Waiters are caller-owned: just forget them. */
	for (struct bus_waiter *w = b->round; w; w = w->next)
		w->queued = false;
	for (struct bus_waiter *w = b->wait_head; w; w = w->next)
		w->queued = false;
	if (--bus_count == 0)
		ev_cache_drain();
	free(b);
}

struct bus *
bus_of(struct svc *self)
{
	struct svc *d = svc_dep(self, "bus");

	return d ? svc_priv(d) : NULL;
}

/* ---- watchers ---------------------------------------------------------- */

static inline bool
queue_has_room(const struct bus *b)
{
	return b->qcount < b->opts.queue_size && !b->store_full;
}

/* Something for the prepare watcher to do in the next iteration? */
static bool
has_work(const struct bus *b)
{
	if (b->qcount && !b->cur)
		return true;
	if (b->wait_head && queue_has_room(b))
		return true;
	if (b->closing && b->close_cb && !b->qcount && !b->cur)
		return true;
	if (b->drain_head && !b->qcount && !b->cur)
		return true;
	return false;
}

static void
update_watchers(struct bus *b)
{
	if (has_work(b)) {
		if (!ev_is_active(&b->prepare))
			ev_prepare_start(b->loop, &b->prepare);
		if (!ev_is_active(&b->idle))
			ev_idle_start(b->loop, &b->idle);
	} else {
		if (ev_is_active(&b->prepare))
			ev_prepare_stop(b->loop, &b->prepare);
		if (ev_is_active(&b->idle))
			ev_idle_stop(b->loop, &b->idle);
	}
}

static void
on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
	/* Only keeps poll from blocking; the prepare watcher does the work. */
	(void)loop;
	(void)w;
	(void)revents;
}

/* ---- listeners --------------------------------------------------------- */

static struct bus_listener *
listen_common(struct bus *b, const char *pattern, bus_listener_fn fn,
              bus_async_fn afn, void *arg)
{
	enum bus_lkind kind;
	size_t len;
	bool ok = pattern_parse(pattern, &kind, &len);

	assert(ok && "bus_listen: invalid pattern");
	(void)ok;
	size_t plen = strlen(pattern);
	struct bus_listener *l = xmalloc(sizeof(*l) + plen + 1);
	memcpy(l->pattern, pattern, plen + 1);
	l->next = NULL;
	l->from_seq = b->last_dispatched;
	l->fn = fn;
	l->afn = afn;
	l->arg = arg;
	l->kind = kind;
	l->len = len;
	l->removed = false;
	if (b->ltail)
		b->ltail->next = l;
	else
		b->lhead = l;
	b->ltail = l;
	b->nlisteners++;
	return l;
}

struct bus_listener *
bus_listen(struct bus *b, const char *pattern, bus_listener_fn fn, void *arg)
{
	assert(fn);
	return listen_common(b, pattern, fn, NULL, arg);
}

struct bus_listener *
bus_listen_async(struct bus *b, const char *pattern, bus_async_fn fn, void *arg)
{
	assert(fn);
	return listen_common(b, pattern, NULL, fn, arg);
}

/* Free removed listeners once nothing can refer to them. */
static void
maybe_sweep(struct bus *b)
{
	if (!b->need_sweep || b->dispatching || b->pending)
		return;
	struct bus_listener **pp = &b->lhead, *last = NULL;
	while (*pp) {
		struct bus_listener *l = *pp;
		if (l->removed) {
			*pp = l->next;
			free(l);
		} else {
			last = l;
			pp = &l->next;
		}
	}
	b->ltail = last;
	b->need_sweep = false;
}

void
bus_unlisten(struct bus *b, struct bus_listener *l)
{
	if (!l || l->removed)
		return;
	l->removed = true;
	b->nlisteners--;
	b->need_sweep = true;
	maybe_sweep(b);
}

/* ---- emit -------------------------------------------------------------- */

/* Report own events dropped past BUS_OWN_MAX, once per episode. */
static void
log_own_dropped(struct bus *b)
{
	if (!b->odropped)
		return;
	log_err("bus: %" PRIu64 " of svcd's own events dropped: more than %d "
	        "waited behind a full queue",
	        b->odropped, BUS_OWN_MAX);
	b->odropped = 0;
}

int
bus_emit(struct bus *b, const char *name, size_t name_len, const char *data,
         size_t data_len, const char *source, uint64_t *seq, size_t *matched)
{
	bool overflow = false;

	if (!bus_name_valid(name, name_len)) {
		errno = EINVAL;
		return -1;
	}
	if (b->closing) {
		errno = ESHUTDOWN;
		return -1;
	}
	if (!queue_has_room(b)) {
		bool own = b->own_emit; /* from bus_emit_json */

		if (!own || b->ocount >= BUS_OWN_MAX) {
			b->dropped++;
			if (own && !b->odropped++)
				log_warn(
				    "bus: dropping svcd's own event '%.*s': "
				    "%d already wait behind a full queue",
				    (int)name_len, name, BUS_OWN_MAX);
			errno = EAGAIN;
			return -1;
		}
		overflow = true;
	}
	if (!data) {
		data = "{}";
		data_len = 2;
	}
	struct bus_ev *e = bev_new(b->last_seq + 1, name, name_len, data,
	                           data_len, source ? source : "");
	b->last_seq++;
	if (overflow) {
		e->onext = NULL;
		if (b->otail)
			b->otail->onext = e;
		else
			b->ohead = e;
		b->otail = e;
		b->ocount++;
	} else {
		b->q[ring_idx(b->qhead + b->qcount, b->opts.queue_size)] = e;
		b->qcount++;
	}
	if (b->qcount > b->high_watermark)
		b->high_watermark = b->qcount;
	b->emitted++;
	if (b->accepted_iter != ev_iteration(b->loop)) {
		b->accepted_iter = ev_iteration(b->loop);
		b->accepted = 0;
	}
	b->accepted++;
	if (b->accept_fn)
		b->accept_fn(&e->pub, b->accept_arg);

	if (matched) {
		size_t n = 0;
		for (struct bus_listener *l = b->lhead; l; l = l->next)
			if (!l->removed && listener_match(l, &e->pub))
				n++;
		*matched = n;
	}
	if (seq)
		*seq = e->pub.seq;
	if (!b->cur && !ev_is_active(&b->prepare))
		update_watchers(b);
	return 0;
}

int
bus_emit_json(struct bus *b, const char *name, json_t *data, const char *source)
{
	char *text = NULL;
	int ret;

	if (data) {
		text = json_dumps(data, JSON_COMPACT);
		if (!text) {
			errno = EINVAL;
			return -1;
		}
	}
	/* own events wait behind a full queue; a flag rather than a
	 * parameter keeps one copy of bus_emit, tuned (docs/performance.md) */
	b->own_emit = true;
	ret = bus_emit(b, name, strlen(name), text, text ? strlen(text) : 0,
	               source, NULL, NULL);
	b->own_emit = false;
	if (text) {
		int saved = errno;
		free(text);
		errno = saved;
	}
	return ret;
}

/* ---- dispatch ---------------------------------------------------------- */

static void
account(struct bus *b, const struct bus_listener *l, const struct bus_ev *e,
        int status)
{
	if (status == 0) {
		b->delivered++;
		return;
	}
	b->listener_errors++;
	log_warn("bus: listener '%s' failed on event %s (seq %" PRIu64 ")",
	         l->pattern, e->pub.name, e->pub.seq);
}

static struct bus_call *
call_get(struct bus *b)
{
	struct bus_call *c = b->calls_free;
	if (c)
		b->calls_free = c->next;
	else
		c = xmalloc(sizeof(*c));
	c->bus = b;
	c->l = NULL;
	c->prev = c->next = NULL;
	c->state = CALL_FREE;
	c->result = 0;
	return c;
}

static void
call_put(struct bus *b, struct bus_call *c)
{
	c->state = CALL_FREE;
	c->l = NULL;
	c->prev = NULL;
	c->next = b->calls_free;
	b->calls_free = c;
}

static void
call_link(struct bus_call **head, struct bus_call *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

static void
call_unlink(struct bus_call **head, struct bus_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void
history_add(struct bus *b, struct bus_ev *e)
{
	size_t cap = b->opts.history;
	if (!cap)
		return;
	e->refs++;
	if (b->hcount == cap) {
		bev_unref(b->hist[b->hstart]);
		b->hist[b->hstart] = e;
		b->hstart = ring_idx(b->hstart + 1, cap);
	} else {
		b->hist[ring_idx(b->hstart + b->hcount, cap)] = e;
		b->hcount++;
	}
}

/* The current event is complete: release it and let the next one go. */
static void
finish_cur(struct bus *b)
{
	ev_timer_stop(b->loop, &b->listener_timer);
	bev_unref(b->cur);
	b->cur = NULL;
	maybe_sweep(b);
	update_watchers(b);
}

/* Dispatch e (whose queue reference we now hold) to every listener. */
static void
dispatch_one(struct bus *b, struct bus_ev *e)
{
	b->last_dispatched = e->pub.seq;
	history_add(b, e);
	b->cur = e;
	b->dispatching++;
	/* what listeners log now is about this event (SVCD_SEQ=) */
	uint64_t log_seq = log_set_seq(e->pub.seq);
	for (struct bus_listener *l = b->lhead; l; l = l->next) {
		if (l->removed || e->pub.seq <= l->from_seq ||
		    !listener_match(l, &e->pub))
			continue;
		if (l->fn) {
			account(b, l, e, l->fn(&e->pub, l->arg) ? -1 : 0);
			continue;
		}
		struct bus_call *c = call_get(b);
		c->l = l;
		c->state = CALL_CALLING;
		int r = l->afn(&e->pub, c, l->arg);
		if (r == SVC_PENDING && c->state == CALL_CALLING) {
			c->state = CALL_PENDING;
			call_link(&b->calls_pending, c);
			b->pending++;
			continue;
		}
		if (r == SVC_PENDING)
			r = c->result;
		account(b, l, e, r ? -1 : 0);
		call_put(b, c);
	}
	log_set_seq(log_seq);
	b->dispatching--;
	if (b->pending) {
		if (!ev_is_active(&b->listener_timer)) {
			ev_timer_set(&b->listener_timer,
			             b->opts.listener_timeout, 0);
			ev_timer_start(b->loop, &b->listener_timer);
		}
		return;
	}
	bev_unref(e);
	b->cur = NULL;
}

void
bus_call_done(struct bus_call *c, int status)
{
	struct bus *b = c->bus;

	switch (c->state) {
	case CALL_CALLING:
		c->state = CALL_EARLY;
		c->result = status;
		return;
	case CALL_PENDING:
		call_unlink(&b->calls_pending, c);
		account(b, c->l, b->cur, status ? -1 : 0);
		call_put(b, c);
		b->pending--;
		if (!b->pending && !b->dispatching && b->cur)
			finish_cur(b);
		return;
	case CALL_ZOMBIE:
		log_debug("bus: late completion of a timed-out listener call");
		call_unlink(&b->calls_zombie, c);
		call_put(b, c);
		return;
	case CALL_EARLY:
	case CALL_FREE:
		log_warn("bus: bus_call_done on a finished call, ignored");
		return;
	}
}

/* Turn every pending call into a zombie; returns how many there were. */
static size_t
abandon_calls(struct bus *b, const char *why)
{
	size_t n = 0;
	while (b->calls_pending) {
		struct bus_call *c = b->calls_pending;
		call_unlink(&b->calls_pending, c);
		b->listener_errors++;
		log_warn("bus: listener '%s' %s on event %s (seq %" PRIu64 ")",
		         c->l->pattern, why, b->cur->pub.name, b->cur->pub.seq);
		c->l = NULL;
		c->state = CALL_ZOMBIE;
		call_link(&b->calls_zombie, c);
		n++;
	}
	b->pending = 0;
	return n;
}

static void
on_listener_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bus *b = w->data;
	(void)loop;
	(void)revents;
	if (!b->cur)
		return;
	abandon_calls(b, "timed out");
	finish_cur(b);
}

/* Call room waiters FIFO, one-shot, while there is room. */
static void
run_waiters(struct bus *b)
{
	if (b->round || !b->wait_head || !queue_has_room(b))
		return;
	b->round = b->wait_head;
	b->wait_head = b->wait_tail = NULL;
	while (b->round && queue_has_room(b)) {
		struct bus_waiter *w = b->round;
		b->round = w->next;
		w->next = NULL;
		w->queued = false;
		w->fn(w);
	}
	if (b->round) {
		/* Out of room again: the rest go back in front, in order. */
		struct bus_waiter *last = b->round;
		while (last->next)
			last = last->next;
		last->next = b->wait_head;
		if (!b->wait_head)
			b->wait_tail = last;
		b->wait_head = b->round;
		b->round = NULL;
	}
}

static void
finish_close(struct bus *b, int status)
{
	void (*cb)(struct bus *, int, void *) = b->close_cb;
	void *arg = b->close_arg;

	b->close_cb = NULL;
	b->close_arg = NULL;
	ev_timer_stop(b->loop, &b->stop_timer);
	ev_prepare_stop(b->loop, &b->prepare);
	ev_idle_stop(b->loop, &b->idle);
	if (cb)
		cb(b, status, arg); /* may free b */
}

/* Call the drained waiters, one-shot, once nothing is queued or in flight. */
static void
run_drained(struct bus *b)
{
	while (b->drain_head && !b->qcount && !b->cur) {
		struct bus_waiter *w = b->drain_head;
		b->drain_head = w->next;
		w->next = NULL;
		w->queued = false;
		w->fn(w);
	}
}

/* A ring slot came free: the oldest own event waiting takes it. */
static void
refill(struct bus *b)
{
	struct bus_ev *e = b->ohead;

	if (!e)
		return;
	b->ohead = e->onext;
	if (!b->ohead) {
		b->otail = NULL;
		log_own_dropped(b);
	}
	b->ocount--;
	e->onext = NULL;
	b->q[ring_idx(b->qhead + b->qcount, b->opts.queue_size)] = e;
	b->qcount++;
}

static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct bus *b = w->data;
	(void)revents;

	/* At least opts.batch, and at least what the iteration that just ran
	 * accepted: a steady stream is delivered in the iteration after the
	 * one that read it, instead of building a backlog that pushes every
	 * emitter into backpressure (and costs a retry per request). What one
	 * iteration accepts is bounded by what it read; a backlog from
	 * earlier iterations (behind a slow async listener) still drains at
	 * opts.batch per iteration. */
	size_t fresh = b->accepted_iter == ev_iteration(loop) ? b->accepted : 0;
	size_t budget = fresh > b->opts.batch ? fresh : b->opts.batch;

	b->accepted = 0;
	for (size_t n = 0; n < budget && b->qcount && !b->cur; n++) {
		struct bus_ev *e = b->q[b->qhead];
		b->qhead = ring_idx(b->qhead + 1, b->opts.queue_size);
		b->qcount--;
		refill(b);
		dispatch_one(b, e);
	}
	maybe_sweep(b);
	run_waiters(b);
	run_drained(b);
	if (b->closing && b->close_cb && !b->qcount && !b->cur) {
		finish_close(b, 0);
		return;
	}
	update_watchers(b);
}

/* ---- backpressure ------------------------------------------------------ */

bool
bus_has_room(const struct bus *b)
{
	return queue_has_room(b);
}

void
bus_wait_room(struct bus *b, struct bus_waiter *w)
{
	if (w->queued)
		return;
	w->queued = true;
	w->next = NULL;
	if (b->wait_tail)
		b->wait_tail->next = w;
	else
		b->wait_head = w;
	b->wait_tail = w;
	update_watchers(b);
}

static bool
waiter_remove(struct bus_waiter **head, struct bus_waiter **tail,
              struct bus_waiter *w)
{
	struct bus_waiter *prev = NULL;
	for (struct bus_waiter *x = *head; x; prev = x, x = x->next) {
		if (x != w)
			continue;
		if (prev)
			prev->next = x->next;
		else
			*head = x->next;
		if (tail && *tail == x)
			*tail = prev;
		return true;
	}
	return false;
}

void
bus_wait_drained(struct bus *b, struct bus_waiter *w)
{
	if (w->queued)
		return;
	w->queued = true;
	w->next = b->drain_head;
	b->drain_head = w;
	update_watchers(b);
}

void
bus_cancel_wait(struct bus *b, struct bus_waiter *w)
{
	if (!w->queued)
		return;
	if (!waiter_remove(&b->wait_head, &b->wait_tail, w) &&
	    !waiter_remove(&b->drain_head, NULL, w))
		waiter_remove(&b->round, NULL, w);
	w->queued = false;
	w->next = NULL;
}

/* ---- history and stats ------------------------------------------------- */

uint64_t
bus_last_seq(const struct bus *b)
{
	return b->last_seq;
}

int
bus_set_last_seq(struct bus *b, uint64_t seq)
{
	if (b->cur || seq < b->last_seq) {
		errno = EBUSY;
		return -1;
	}
	/* Events still queued are renumbered after seq (nobody saw them). */
	for (size_t i = 0; i < b->qcount; i++) {
		struct bus_ev *e =
		    b->q[ring_idx(b->qhead + i, b->opts.queue_size)];

		e->pub.seq = seq + 1 + i;
		wire_free(e);
		e->wire = NULL;
		e->wire_len = 0;
	}
	size_t i = b->qcount;
	for (struct bus_ev *e = b->ohead; e; e = e->onext, i++) {
		e->pub.seq = seq + 1 + i;
		wire_free(e);
		e->wire = NULL;
		e->wire_len = 0;
	}
	b->last_dispatched = seq;
	b->last_seq = seq + b->qcount + b->ocount;
	return 0;
}

void
bus_set_store_full(struct bus *b, bool full)
{
	b->store_full = full;
	if (!full)
		update_watchers(b); /* the room waiters go on */
}

void
bus_set_accept_hook(struct bus *b, bus_accept_fn fn, void *arg)
{
	b->accept_fn = fn;
	b->accept_arg = arg;
}

void
bus_set_store(struct bus *b, const struct bus_store *st, void *arg)
{
	b->store = st;
	b->store_arg = arg;
}

const struct bus_store *
bus_get_store(const struct bus *b, void **arg)
{
	*arg = b->store_arg;
	return b->store;
}

bool
bus_sync_durable(const struct bus *b)
{
	return b->store && b->store->sync && b->store->when_durable &&
	       b->store->sync(b->store_arg);
}

int
bus_when_durable(struct bus *b, struct bus_durable_waiter *w)
{
	if (!b->store || !b->store->when_durable)
		return -1;
	b->store->when_durable(b->store_arg, w);
	return 0;
}

int
bus_durable_status(struct bus *b, uint64_t seq, char **cause)
{
	if (!b->store || !b->store->durable_status) {
		*cause = xstrdup("no durable store");
		return -1;
	}
	return b->store->durable_status(b->store_arg, seq, cause);
}

void
bus_cancel_durable(struct bus *b, struct bus_durable_waiter *w)
{
	if (w->queued && b->store && b->store->cancel_wait)
		b->store->cancel_wait(b->store_arg, w);
	w->queued = false;
}

uint64_t
bus_last_dispatched(const struct bus *b)
{
	return b->last_dispatched;
}

size_t
bus_history(const struct bus *b, uint64_t since, size_t last,
            const char *const *patterns, size_t npatterns,
            void (*fn)(const struct bus_event *ev, void *arg), void *arg)
{
	size_t cap = b->opts.history, start = 0, visited = 0;
	struct bus_patset *ps;

	if (!b->hcount)
		return 0;
	/* one set for the whole walk: matching costs the same however many */
	ps = bus_patset_new(patterns, npatterns);
	/* Walk back from the newest to find where the last `last` begin. */
	if (last) {
		size_t seen = 0;
		start = b->hcount;
		while (start > 0 && seen < last) {
			const struct bus_ev *e =
			    b->hist[(b->hstart + start - 1) % cap];
			if (e->pub.seq <= since)
				break;
			start--;
			if (bus_patset_match(ps, e->pub.name, e->pub.name_len))
				seen++;
		}
	}
	for (size_t i = start; i < b->hcount; i++) {
		const struct bus_ev *e = b->hist[(b->hstart + i) % cap];
		if (e->pub.seq <= since ||
		    !bus_patset_match(ps, e->pub.name, e->pub.name_len))
			continue;
		fn(&e->pub, arg);
		visited++;
	}
	bus_patset_free(ps);
	return visited;
}

uint64_t
bus_history_first(const struct bus *b)
{
	return b->hcount ? b->hist[b->hstart]->pub.seq : 0;
}

void
bus_get_stats(const struct bus *b, struct bus_stats *out)
{
	out->emitted = b->emitted;
	out->delivered = b->delivered;
	out->dropped = b->dropped;
	out->listener_errors = b->listener_errors;
	out->queue_depth = b->qcount + b->ocount;
	out->high_watermark = b->high_watermark;
	out->listeners = b->nlisteners;
	out->last_seq = b->last_seq;
}

json_t *
bus_stats_json(const struct bus *b)
{
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "emitted",
	    (json_int_t)b->emitted, "delivered", (json_int_t)b->delivered,
	    "dropped", (json_int_t)b->dropped, "listener_errors",
	    (json_int_t)b->listener_errors, "queue_depth",
	    (json_int_t)(b->qcount + b->ocount), "high_watermark",
	    (json_int_t)b->high_watermark, "listeners",
	    (json_int_t)b->nlisteners, "last_seq", (json_int_t)b->last_seq,
	    "history", (json_int_t)b->hcount);
}

/* ---- shutdown ---------------------------------------------------------- */

static void
on_stop_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bus *b = w->data;
	size_t n = b->qcount + b->ocount, abandoned = 0;
	(void)loop;
	(void)revents;

	while (b->ohead) {
		struct bus_ev *e = b->ohead;
		b->ohead = e->onext;
		bev_unref(e);
	}
	b->otail = NULL;
	b->ocount = 0;
	log_own_dropped(b);

	while (b->qcount) {
		bev_unref(b->q[b->qhead]);
		b->qhead = ring_idx(b->qhead + 1, b->opts.queue_size);
		b->qcount--;
	}
	b->dropped += n;
	if (b->cur) {
		abandoned = abandon_calls(b, "abandoned at stop");
		ev_timer_stop(b->loop, &b->listener_timer);
		bev_unref(b->cur);
		b->cur = NULL;
		maybe_sweep(b);
	}
	if (abandoned)
		log_err("bus stopped with %zu undelivered events "
		        "(%zu listener calls abandoned)",
		        n, abandoned);
	else
		log_err("bus stopped with %zu undelivered events", n);
	finish_close(b, -1);
}

void
bus_close(struct bus *b, void (*cb)(struct bus *b, int status, void *arg),
          void *arg)
{
	if (b->closing)
		return;
	b->closing = true;
	b->close_cb = cb;
	b->close_arg = arg;
	if (!b->qcount && !b->cur) {
		finish_close(b, 0);
		return;
	}
	ev_timer_set(&b->stop_timer, b->opts.stop_timeout, 0);
	ev_timer_start(b->loop, &b->stop_timer);
	update_watchers(b);
}

bool
bus_closing(const struct bus *b)
{
	return b->closing;
}

/* ---- control methods (daemon/methods.h) --------------------------------- */

/* The hot path: no jansson tree for the reply, data serialised once. */
static const struct svc_reply *
m_emit(struct svc *self, struct svc_call *q)
{
	json_t *ev = svc_call_param(q, "event");
	struct bus *b = svc_priv(self);
	struct buf *out;
	char *text = NULL;
	uint64_t seq = 0;
	size_t matched = 0;
	int rc, err;

	/* a full queue and a client that waits: not a refusal (nothing is
	 * counted as dropped); the same line is dispatched again on room */
	if (!bus_has_room(b) && svc_call_bool(q, "wait", true) &&
	    bus_name_valid(json_string_value(ev), json_string_length(ev)) &&
	    !bus_closing(b))
		return svc_call_pending(q);
	text = svc_call_param_text(q, "data");
	rc = bus_emit(b, json_string_value(ev), json_string_length(ev), text,
	              text ? strlen(text) : 0, svc_call_source(q), &seq,
	              &matched);
	err = errno;
	free(text);
	if (rc < 0) {
		switch (err) {
		case EINVAL:
			return svc_call_fail(
			    q, SVC_ERR_INVALID_PARAMS,
			    "invalid event name: use 1-128 characters "
			    "of A-Z a-z 0-9 _ . : -");
		case EAGAIN:
			if (svc_call_bool(q, "wait", true))
				return svc_call_pending(q);
			return svc_call_fail(
			    q, SVC_ERR_QUEUE_FULL,
			    "event queue full, try again later");
		case ESHUTDOWN:
			return svc_call_fail(q, SVC_ERR_SHUTTING_DOWN,
			                     "svcd is shutting down");
		default:
			return svc_call_fail(q, SVC_ERR_INTERNAL,
			                     "emit failed: %s", strerror(err));
		}
	}
	/* a durable store with sync: acknowledged once durable, without
	 * blocking the loop (a notification needs no acknowledgement) */
	if (svc_call_id(q) && bus_sync_durable(b) &&
	    svc_call_defer(q, seq, matched) == 0 && !svc_call_in_batch(q))
		return svc_call_deferred(q);
	if ((out = svc_call_raw(q)))
		buf_printf(out, "{\"seq\":%" PRIu64 ",\"listeners\":%zu}", seq,
		           matched);
	return svc_call_raw_done(q);
}

/* Decimal digits of v at w (room for 20); returns the end. */
static char *
put_u64_at(char *w, uint64_t v)
{
	char t[20], *d = util_u64_digits(t + sizeof(t), v);
	size_t n = (size_t)(t + sizeof(t) - d);

	memcpy(w, d, n);
	return w + n;
}

#define PUT_LIT(w, lit)                                                        \
	(memcpy((w), (lit), sizeof(lit) - 1), (w) += sizeof(lit) - 1)

/*
 * emit's fast handler: the request already passed the central checks
 * (access, the params spec, shutdown, the bus running). params.data is
 * kept as the validated bytes it arrived in (compacted only if it holds
 * whitespace). An escaped event name, a closing bus or a refusal by
 * bus_emit: the general path answers. With a durable store's sync the reply
 * waits for durability, as in m_emit. A full queue
 * with wait parks the client here, as the general path would, without
 * parsing the line into a tree on every retry (under sustained load that
 * is most retries); "wait":false gets its QueueFull there.
 */
static int
f_emit(struct svc *self, struct svc_call *q, const struct fastscan_req *f,
       const struct fastscan_member *const *p, struct buf *out)
{
	struct bus *b = svc_priv(self);
	/* p_emit's order; the spec made event a string, data an object and
	 * wait a boolean */
	const struct fastscan_member *mev = p[0], *mdata = p[1], *mwait = p[2];
	const char *ev = mev->v + 1, *data = NULL;
	size_t ev_len = mev->vl - 2, data_len = 0;
	bool ws = false, wait = !mwait || mwait->v[0] == 't';
	struct buf tmp = {0};
	uint64_t seq = 0;
	size_t matched = 0;
	char *w;
	int rc;

	if (memchr(ev, '\\', ev_len)) /* escapes */
		return -1;
	if (mdata) {
		data = mdata->v;
		data_len = mdata->vl;
		ws = mdata->ws;
	}
	if (bus_closing(b))
		return -1;
	if (!bus_has_room(b))
		return wait && bus_name_valid(ev, ev_len) ? METHODS_PENDING
		                                          : -1;
	if (data && ws) {
		util_json_compact(&tmp, data, data_len);
		data = buf_head(&tmp);
		data_len = tmp.len;
	}
	rc = bus_emit(b, ev, ev_len, data, data_len, svc_call_source(q), &seq,
	              &matched);
	buf_free(&tmp);
	/* Refused after the checks above (a bad name, an accept hook): the
	 * general path emits again and answers with the error. */
	if (rc < 0)
		return -1;
	/* a durable store with sync: acknowledged once durable (m_emit) */
	if (f->id && bus_sync_durable(b) &&
	    svc_fast_defer(q, f, seq, matched) == 0)
		return METHODS_DEFERRED;
	if ((w = svc_fast_head(out, f, 64))) {
		PUT_LIT(w, "{\"seq\":");
		w = put_u64_at(w, seq);
		PUT_LIT(w, ",\"listeners\":");
		w = put_u64_at(w, matched);
		PUT_LIT(w, "}}\n");
		svc_fast_end(out, w);
	}
	return METHODS_OK;
}

/* Patterns from the optional "events" array (NULL/0 for every event):
 * NULL, or the reply of a refusal. */
static const struct svc_reply *
patterns(struct svc_call *q, const char ***out, size_t *n)
{
	json_t *arr = svc_call_param(q, "events"), *v;
	size_t i, bytes = 0;

	*out = NULL;
	*n = 0;
	if (!arr || json_array_size(arr) == 0)
		return NULL;
	if (json_array_size(arr) > BUS_PATTERNS_MAX)
		return svc_call_fail(
		    q, SVC_ERR_INVALID_PARAMS,
		    "too many patterns in 'events': %zu, at most %d",
		    json_array_size(arr), BUS_PATTERNS_MAX);
	json_array_foreach(arr, i, v)
	{
		bytes += json_string_length(v);
		if (bytes > BUS_PATTERNS_BYTES)
			return svc_call_fail(
			    q, SVC_ERR_INVALID_PARAMS,
			    "patterns in 'events' too long: over %d "
			    "bytes in all",
			    BUS_PATTERNS_BYTES);
		if (!bus_pattern_valid(json_string_value(v)))
			return svc_call_fail(
			    q, SVC_ERR_INVALID_PARAMS,
			    "invalid pattern '%.128s': use an event "
			    "name, 'prefix.*' or '*'",
			    json_string_value(v));
	}
	*n = json_array_size(arr);
	*out = xcalloc(*n, sizeof(**out));
	json_array_foreach(arr, i, v)(*out)[i] = json_string_value(v);
	return NULL;
}

static const struct svc_reply *
m_subscribe(struct svc *self, struct svc_call *q)
{
	struct bus *b = svc_priv(self);
	json_t *since = svc_call_param(q, "since");
	const struct svc_reply *r;
	const char **pats;
	size_t n;
	uint64_t upto;

	if ((r = patterns(q, &pats, &n)))
		return r;
	upto = bus_last_dispatched(b);
	/* The reply goes first, then the replayed history, then live. */
	r = svc_call_ok(q, json_pack("{s:I}", "seq", (json_int_t)upto));
	svc_call_subscribe(q, pats, n, since != NULL,
	                   since ? (uint64_t)json_integer_value(since) : 0,
	                   upto);
	free(pats);
	return r;
}

static const struct svc_reply *
m_unsubscribe(struct svc *self, struct svc_call *q)
{
	(void)self;
	return svc_call_ok(
	    q, json_pack("{s:b}", "unsubscribed", svc_call_unsubscribe(q)));
}

/*
 * `events` is paged so that a reply is bounded whatever the history holds:
 * at most `limit` events (default EVENTS_LIMIT, at most EVENTS_LIMIT_MAX),
 * no more once the reply passes EVENTS_REPLY_MAX bytes (but at least one
 * event), and at most EVENTS_SCAN journal rows read per call. "next" is the
 * seq to pass as since for the next page, null when there is no more.
 */
#define EVENTS_LIMIT     1000
#define EVENTS_LIMIT_MAX 10000
#define EVENTS_REPLY_MAX (4u << 20)
#define EVENTS_SCAN      50000

struct page {
	struct buf *out;
	size_t start; /* where the reply begins in out */
	size_t n, limit;
	uint64_t last; /* seq of the last event written */
	bool full, more;
	int64_t from_us, to_us; /* since_time/until_time (0: none) */
	bool past;              /* an event after to_us was seen: done */
};

/* Write ev into the page; false (ev not taken) once the page is full. */
static bool
collect_event(const struct bus_event *ev, void *arg)
{
	struct page *pg = arg;

	if (pg->past)
		return false;
	if (pg->to_us && ev->time_us > pg->to_us) {
		pg->past = true; /* seq order is time order: nothing later */
		pg->more = false;
		return false;
	}
	if (pg->full) {
		pg->more = true;
		return false;
	}
	if (pg->from_us && ev->time_us < pg->from_us)
		return true; /* read, not in the window */
	if (pg->n)
		buf_putc(pg->out, ',');
	bus_event_put(pg->out, ev);
	pg->n++;
	pg->last = ev->seq;
	if (pg->n >= pg->limit || pg->out->len - pg->start >= EVENTS_REPLY_MAX)
		pg->full = true;
	return true;
}

static void
collect_bus_event(const struct bus_event *ev, void *arg)
{
	collect_event(ev, arg);
}

/* A time bound: RFC 3339 or a duration ago ("5m"); 0 when absent. */
static const struct svc_reply *
time_param(struct svc_call *q, const char *name, int64_t *us)
{
	const char *s = svc_call_string(q, name, NULL);
	char *cause = NULL;
	const struct svc_reply *r;

	*us = 0;
	if (!s || util_parse_when(s, util_now_us(), us, &cause) == 0)
		return NULL;
	r = svc_call_fail(q, SVC_ERR_INVALID_PARAMS, "parameter '%s': %s", name,
	                  cause);
	free(cause);
	return r;
}

/* The reply is written as text: event data goes out as it was stored.
 * The history comes from the bus's store (the journal) when one is
 * registered, else from the ring. */
static const struct svc_reply *
m_events(struct svc *self, struct svc_call *q)
{
	struct bus *b = svc_priv(self);
	uint64_t since = svc_call_uint(q, "since", 0);
	size_t last = (size_t)svc_call_uint(q, "last", 0);
	json_t *jlimit = svc_call_param(q, "limit");
	size_t limit = EVENTS_LIMIT;
	uint64_t resume = 0, next;
	const char **pats;
	struct buf body = {0}, *out;
	struct page pg = {.out = &body};
	const struct bus_store *st;
	const struct svc_reply *r;
	void *starg;
	size_t n;

	if (jlimit) {
		json_int_t l = json_integer_value(jlimit);

		if (l < 1 || l > EVENTS_LIMIT_MAX)
			return svc_call_fail(q, SVC_ERR_INVALID_PARAMS,
			                     "parameter 'limit' must be 1-%d",
			                     EVENTS_LIMIT_MAX);
		limit = (size_t)l;
	}
	if ((r = time_param(q, "since_time", &pg.from_us)) ||
	    (r = time_param(q, "until_time", &pg.to_us)))
		return r;
	if ((r = patterns(q, &pats, &n)))
		return r;
	pg.limit = last && last < limit ? last : limit;
	st = bus_get_store(b, &starg);
	if (st && st->history) {
		char *cause = NULL;

		if (st->history(starg, since, last, EVENTS_SCAN, pats, n,
		                collect_event, &pg, &resume, &cause) < 0) {
			free(pats);
			buf_free(&body);
			r = svc_call_fail(q, SVC_ERR_INTERNAL, "%s", cause);
			free(cause);
			return r;
		}
	} else {
		bus_history(b, since, last, pats, n, collect_bus_event, &pg);
	}
	free(pats);
	next = pg.past ? 0 : pg.more ? pg.last : resume;
	if ((out = svc_call_raw(q))) {
		buf_append(out, "{\"events\":[", 11);
		if (body.len) /* an empty page has no buffer at all */
			buf_append(out, buf_head(&body), body.len);
		if (next)
			buf_printf(out, "],\"next\":%" PRIu64 "}", next);
		else
			buf_puts(out, "],\"next\":null}");
	}
	buf_free(&body);
	return svc_call_raw_done(q);
}

static const struct svc_param p_emit[] = {
    {"event", SVC_P_STRING, true},
    {"data", SVC_P_OBJECT, false},
    {"wait", SVC_P_BOOL, false},
};
static const struct svc_param p_subscribe[] = {
    {"events", SVC_P_STRINGS, false},
    {"since", SVC_P_UINT, false},
};
static const struct svc_param p_events[] = {
    {"last", SVC_P_UINT, false},         {"since", SVC_P_UINT, false},
    {"events", SVC_P_STRINGS, false},    {"limit", SVC_P_UINT, false},
    {"since_time", SVC_P_STRING, false}, {"until_time", SVC_P_STRING, false},
};

static const struct svc_method bus_methods[] = {
    {.name = "emit",
     .fn = m_emit,
     .fast = f_emit,
     .access = SVC_ACCESS_EMIT,
     .flags = SVC_M_LIVE,
     SVC_PARAMS(p_emit),
     .doc = "emit an event"},
    {.name = "subscribe",
     .fn = m_subscribe,
     .access = SVC_ACCESS_READ,
     .flags = SVC_M_LIVE | SVC_M_NO_BATCH,
     SVC_PARAMS(p_subscribe),
     .doc = "receive matching events as notifications"},
    {.name = "unsubscribe",
     .fn = m_unsubscribe,
     .access = SVC_ACCESS_READ,
     .doc = "stop receiving events"},
    {.name = "events",
     .fn = m_events,
     .access = SVC_ACCESS_READ,
     SVC_PARAMS(p_events),
     .doc = "a page of past events"},
};

static json_t *
bus_figures(struct svc *self)
{
	return bus_stats_json(svc_priv(self));
}

/* `svcctl metrics`: the figures' types and help (daemon/service.h). */
static const struct svc_metric bus_metrics[] = {
    {.figure = "emitted",
     .type = SVC_METRIC_COUNTER,
     .help = "events emitted",
     .name = "events_emitted"},
    {.figure = "delivered",
     .type = SVC_METRIC_COUNTER,
     .help = "deliveries to listeners",
     .name = "events_delivered"},
    {.figure = "dropped",
     .type = SVC_METRIC_COUNTER,
     .help = "events dropped (queue full)",
     .name = "events_dropped"},
    {.figure = "listener_errors",
     .type = SVC_METRIC_COUNTER,
     .help = "listener calls that failed"},
    {.figure = "queue_depth",
     .type = SVC_METRIC_GAUGE,
     .help = "events queued for delivery now"},
    {.figure = "high_watermark",
     .type = SVC_METRIC_GAUGE,
     .help = "the deepest the queue has been"},
    {.figure = "listeners",
     .type = SVC_METRIC_GAUGE,
     .help = "listeners registered now"},
    {.figure = "last_seq",
     .type = SVC_METRIC_GAUGE,
     .help = "the seq of the last event"},
    {.figure = "history",
     .type = SVC_METRIC_GAUGE,
     .help = "events kept in the history"},
};

/* ---- the service ------------------------------------------------------- */

static bool bus_in_stop;
static bool bus_stopped_sync;

static void
state_observer(struct svc *s, enum svc_state from, enum svc_state to, void *arg)
{
	struct svc_info info;
	struct bus *b = svc_priv(arg);
	json_t *data;

	if (!b)
		return;
	svc_get_info(s, &info);
	data = json_pack("{s:s, s:s, s:s}", "service", svc_name(s), "from",
	                 svc_state_name(from), "to", svc_state_name(to));
	if (info.error)
		json_object_set_new(data, "error", json_string(info.error));
	if (bus_emit_json(b, "service.state", data, "svcd") < 0)
		log_debug("bus: service.state for %s not emitted: %s",
		          svc_name(s), strerror(errno));
	json_decref(data);
}

static int
bus_svc_init(struct svc *self, char **cause)
{
	const struct bus_conf *c = svc_options(self);
	struct bus_opts opts = {
	    .queue_size = c->queue_size,
	    .history = c->history,
	    .batch = c->batch,
	    .listener_timeout = c->listener_timeout,
	    .stop_timeout = svc_stop_timeout(self),
	};
	struct svc_graph *g = svc_graph(self);
	(void)cause;

	svc_set_priv(self, bus_new(svc_loop(self), &opts));
	svc_graph_add_observer(g, state_observer, self);
	/* Replay the boot so far: subscribers see every service come up. */
	for (size_t i = 0; i < svc_graph_count(g); i++) {
		struct svc *s = svc_graph_at(g, i);
		if (s != self && svc_state(s) == SVC_RUNNING)
			state_observer(s, SVC_STARTING, SVC_RUNNING, self);
	}
	return 0;
}

static int
bus_svc_ping(struct svc *self, char **cause)
{
	if (!svc_priv(self)) {
		*cause = xstrdup("bus not running");
		return -1;
	}
	return 0;
}

static void
bus_svc_closed(struct bus *b, int status, void *arg)
{
	struct svc *self = arg;
	(void)status;

	if (svc_priv(self) == b)
		svc_set_priv(self, NULL);
	bus_free(b);
	if (bus_in_stop)
		bus_stopped_sync = true;
	else
		svc_stop_done(self);
}

static int
bus_svc_stop(struct svc *self)
{
	struct bus *b = svc_priv(self);

	svc_graph_remove_observer(svc_graph(self), state_observer, self);
	if (!b)
		return 0;
	bus_in_stop = true;
	bus_stopped_sync = false;
	bus_close(b, bus_svc_closed, self);
	bus_in_stop = false;
	return bus_stopped_sync ? 0 : SVC_PENDING;
}

/* Every [bus] key sizes what bus_new allocates: restart-only. */
static const struct svc_conf_item bus_items[] = {
    {.key = "queue_size",
     .type = &svc_conf_count,
     .off = offsetof(struct bus_conf, queue_size),
     .dflt = "65536",
     .min = "1",
     .max = "16777216",
     .flags = SVC_CONF_RESTART,
     .doc = "accepted events not yet delivered"},
    {.key = "history",
     .type = &svc_conf_count,
     .off = offsetof(struct bus_conf, history),
     .dflt = "1024",
     .min = "0",
     .max = "1048576",
     .flags = SVC_CONF_RESTART,
     .doc = "recent events kept for `events` (0: none)"},
    {.key = "batch",
     .type = &svc_conf_count,
     .off = offsetof(struct bus_conf, batch),
     .dflt = "256",
     .min = "1",
     .max = "65536",
     .flags = SVC_CONF_RESTART,
     .doc = "events dispatched per loop iteration"},
    {.key = "listener_timeout",
     .type = &svc_conf_duration,
     .off = offsetof(struct bus_conf, listener_timeout),
     .dflt = "30s",
     .max = "1h",
     .flags = SVC_CONF_RESTART,
     .doc = "the bound of an asynchronous listener"},
};

static const struct svc_conf_section bus_section = {
    .name = "bus",
    SVC_CONF_ITEMS(bus_items),
    .doc = "the event bus",
};

const struct svc_desc bus_service = {
    .name = "bus",
    .requires = SVC_REQUIRES("worker"),
    .init = bus_svc_init,
    .ping = bus_svc_ping,
    .stop = bus_svc_stop,
    .conf = SVC_CONF_SECTIONS(&bus_section),
    .conf_size = sizeof(struct bus_conf),
    SVC_METHODS(bus_methods),
    .figures = bus_figures,
    SVC_METRICS(bus_metrics),
};
