/*
 * bus.h — the event bus service (singleton-service's AsyncEventBus).
 *
 * An event is a name, a JSON object `data` kept as the compact, validated
 * bytes it arrived in (never re-serialised on the way to subscribers), a
 * monotonic seq from 1, a wall-clock timestamp and a source string.
 *
 * Emitting appends to a bounded queue; the queue drains in bounded batches
 * per loop iteration, calling every matching listener in seq order. Sync
 * listeners return 0/-1; async listeners of one event run concurrently and
 * the next event is dispatched when all of them finished (singleton-service's
 * gather), each bounded by the listener timeout. A failing listener is counted
 * and logged and never stops the others. A history ring keeps the last N
 * events.
 *
 * The object API (bus_new ...) works on any loop, for tests; the `bus`
 * service descriptor owns one instance: a service that requires "bus"
 * reaches it with bus_of(self). The bus service also owns the control
 * methods emit, subscribe, unsubscribe and events, and the `bus` member of
 * `status`.
 */
#ifndef SVCD_BUS_H
#define SVCD_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/service.h"

struct ev_loop;
struct bus;
struct bus_listener;
struct bus_call;
struct buf; /* daemon/util.h */

extern const struct svc_desc bus_service;

/* Read-only to everyone but the bus. Valid for the duration of a listener
 * call; take a reference (bus_event_ref) to keep it longer. */
struct bus_event {
	uint64_t seq;
	int64_t time_us;  /* wall clock, microseconds since the epoch */
	const char *name; /* NUL-terminated */
	size_t name_len;
	const char *data; /* compact JSON object text, NUL-terminated */
	size_t data_len;
	const char *source; /* NUL-terminated */
};

struct bus_opts {
	size_t queue_size; /* accepted-but-undelivered events; default 65536 */
	size_t history;    /* ring size; default 1024; 0 disables */
	size_t batch; /* events dispatched per loop iteration; default 256 */
	double listener_timeout; /* async listener bound, seconds; default 30 */
	double stop_timeout; /* drain bound at shutdown, seconds; default 10 */
};

/* [bus]: the bus service's options (every key restart-only). */
struct bus_conf {
	size_t queue_size;
	size_t history;
	size_t batch;
	double listener_timeout;
};

struct bus_stats {
	uint64_t emitted;         /* accepted */
	uint64_t delivered;       /* listener calls that succeeded */
	uint64_t dropped;         /* QueueFull refusals + undelivered at stop */
	uint64_t listener_errors; /* failed or timed-out listener calls */
	size_t
	    queue_depth; /* accepted, not yet dispatched (own overflow too) */
	size_t high_watermark;
	size_t listeners;
	uint64_t last_seq;
};

/* Sync listener: return 0 on success, -1 on failure (counted, logged). */
typedef int (*bus_listener_fn)(const struct bus_event *ev, void *arg);
/*
 * Async listener: return 0/-1 when done at once, or SVC_PENDING and later
 * call bus_call_done(call, 0 | -1) from the loop.
 */
typedef int (*bus_async_fn)(const struct bus_event *ev, struct bus_call *call,
                            void *arg);

struct bus *bus_new(struct ev_loop *loop, const struct bus_opts *opts);
/* Frees the bus and every queued event and listener (no delivery). */
void bus_free(struct bus *b);
/* The instance owned by the running `bus` service that self requires
 * (svc_dep: self must require "bus"), or NULL when it is not running. */
struct bus *bus_of(struct svc *self);

/* Names: 1-128 chars of [A-Za-z0-9_.:-]. */
bool bus_name_valid(const char *name, size_t len);
/* Patterns: an exact name, "prefix.*" (matches prefix.anything), or "*". */
bool bus_pattern_valid(const char *pattern);
bool bus_pattern_match(const char *pattern, const char *name, size_t len);
/* The same for a pattern already known valid, of length plen: no parse. */
bool bus_pattern_match_valid(const char *pattern, size_t plen, const char *name,
                             size_t len);

/*
 * A client's pattern list is bounded: at most BUS_PATTERNS_MAX patterns of
 * at most BUS_PATTERNS_BYTES bytes in all (the control channel refuses more
 * with InvalidParams).
 */
#define BUS_PATTERNS_MAX   1024
#define BUS_PATTERNS_BYTES (64 * 1024)
/*
 * A set of valid patterns (asserts otherwise), copied; the empty set
 * matches every name, as an empty `events` list does. Matching costs
 * O(name length) however many exact and prefix patterns the set holds.
 */
struct bus_patset;
struct bus_patset *bus_patset_new(const char *const *patterns, size_t n);
void bus_patset_free(struct bus_patset *s);
bool bus_patset_match(const struct bus_patset *s, const char *name, size_t len);

/*
 * Register a listener for pattern (must be valid; asserts otherwise). The
 * returned handle is owned by the bus; pass it to bus_unlisten to remove it.
 * A listener may unlisten itself (or others) from inside a callback.
 */
struct bus_listener *bus_listen(struct bus *b, const char *pattern,
                                bus_listener_fn fn, void *arg);
struct bus_listener *bus_listen_async(struct bus *b, const char *pattern,
                                      bus_async_fn fn, void *arg);
void bus_unlisten(struct bus *b, struct bus_listener *l);

/*
 * Accept an event. data/data_len must be a compact JSON object text that the
 * caller validated (NULL means "{}"); it is copied. source is copied.
 * Returns 0 and fills *seq and *matched (listeners matching now; either may
 * be NULL), or -1 with errno:
 *   EINVAL     bad name
 *   EAGAIN     queue full (counted as dropped) — the QueueFull error
 *   ESHUTDOWN  the bus is closing — the ShuttingDown error
 */
int bus_emit(struct bus *b, const char *name, size_t name_len, const char *data,
             size_t data_len, const char *source, uint64_t *seq,
             size_t *matched);
/*
 * For svcd's own events (service.state, service.health, ...): data is a
 * jansson object (borrowed) or NULL. Never refused for a full queue: the
 * event waits on an overflow list, dispatched in seq order before anything
 * emitted after it, and client emits wait behind it. Only past 4096 such
 * waiting events is one dropped (EAGAIN, counted, logged).
 */
int bus_emit_json(struct bus *b, const char *name, json_t *data,
                  const char *source);

/*
 * Backpressure for "wait" emitters: true when an emit would not get EAGAIN.
 * bus_wait_room registers a one-shot callback for when room appears (the
 * waiter is caller-owned; cancel it before freeing).
 */
bool bus_has_room(const struct bus *b);
struct bus_waiter {
	void (*fn)(struct bus_waiter *w);
	struct bus_waiter *next; /* private */
	bool queued;             /* private */
};
void bus_wait_room(struct bus *b, struct bus_waiter *w);
/*
 * One-shot callback, from the loop, once the queue is empty and no async
 * listener call is in flight: every event accepted so far has reached its
 * listeners (the control service waits for this before it closes
 * subscribers at shutdown). Cancel with bus_cancel_wait.
 */
void bus_wait_drained(struct bus *b, struct bus_waiter *w);
void bus_cancel_wait(struct bus *b, struct bus_waiter *w);

/*
 * Complete an async listener call (status 0 or -1), from the loop. The call
 * stays valid until completed or bus_free: a completion after the listener
 * timeout (or after the stop timeout abandoned it) is recognised and ignored.
 */
void bus_call_done(struct bus_call *call, int status);

/* Keep an event alive beyond a listener call. */
const struct bus_event *bus_event_ref(const struct bus_event *ev);
void bus_event_unref(const struct bus_event *ev);
/*
 * The event as a JSON-RPC notification line, newline included:
 * {"jsonrpc":"2.0","method":"event","params":{"seq":N,"time":"...",
 *  "event":"NAME","data":{...},"source":"..."}}\n
 * Built once per event and cached; borrowed, valid while the event lives.
 */
const char *bus_event_wire(const struct bus_event *ev, size_t *len);
/* The params object of that line as a new jansson reference. */
json_t *bus_event_json(const struct bus_event *ev);
/*
 * Append that params object to out as text: {"seq":N,"time":"...",
 * "event":"NAME","data":{...},"source":"..."}, data as the stored bytes
 * (never re-serialised: numbers leave svcd exactly as they came in). Works
 * for any struct bus_event (a journal row too), not only the bus's own.
 */
void bus_event_put(struct buf *out, const struct bus_event *ev);
/*
 * util_json_member (daemon/util.h), kept under the bus's name: the raw,
 * compacted text of a member of JSON text a parser accepted (false if it
 * is missing or a key on the way holds an escape). Event data is stored
 * this way, so 3.141592653589793 or 1.0E+2 is kept as written.
 */
bool bus_json_member(const char *text, size_t len, const char *const *path,
                     size_t n, struct buf *out);

/* Highest seq accepted so far (0 if none). */
uint64_t bus_last_seq(const struct bus *b);
/*
 * Continue numbering after seq (the journal, at start: seq goes on across
 * restarts); events still queued are renumbered after seq. Only while no
 * async listener call is in flight and seq >= bus_last_seq; else -1 with
 * errno EBUSY.
 */
int bus_set_last_seq(struct bus *b, uint64_t seq);
/*
 * One callback (NULL to remove) called from bus_emit for every accepted
 * event, before it returns: the journal appends events in accept order and
 * can make them durable before `emit` is acknowledged. The event is
 * borrowed (bus_event_ref to keep it).
 */
typedef void (*bus_accept_fn)(const struct bus_event *ev, void *arg);
void bus_set_accept_hook(struct bus *b, bus_accept_fn fn, void *arg);
/*
 * The accept hook's store cannot take more for now (the journal's backlog
 * of events not yet committed is full): the bus has no room, exactly as
 * with a full queue (emit waits or gets QueueFull) until it is set false.
 */
void bus_set_store_full(struct bus *b, bool full);
/*
 * A store that keeps accepted events beyond the ring (the journal)
 * registers with the bus (bus_set_store; NULL removes it), so that the bus
 * and its users reach it without knowing it:
 *   - sync: `emit` is acknowledged only once the event is durable;
 *     when_durable calls w->fn once, from the loop, when every event up to
 *     w->seq is durable (status 0) or cannot be (-1, cause borrowed), never
 *     from inside when_durable; cancel_wait forgets a queued waiter;
 *     durable_status says where one seq stands (bus_durable_status);
 *   - history: `events` pages through the store instead of the ring
 *     (the journal_history contract, services/journal.h);
 *   - cursor and replay, for at-least-once consumers (hooks): cursor
 *     records that consumer has finished every matching event up to seq;
 *     replay calls deliver for each event the consumer still owes, in seq
 *     order (deliver: 0 taken, -1 not wanted, 1 stop here: the consumer
 *     reads the rest with page), and returns the highest seq it covered;
 *   - page: a consumer that fell behind reads on from the store, without
 *     waiting for the writer: fn for each stored event after since that
 *     matches pattern, in seq order, at most max of them and at most scan
 *     rows looked at. *upto is how far it looked: every event up to it was
 *     seen or can never be (a failed write). Returns how many, or -1 with
 *     *cause.
 * Any op may be NULL.
 */
struct bus_durable_waiter {
	void (*fn)(struct bus_durable_waiter *w, int status, const char *cause);
	uint64_t seq;
	struct bus_durable_waiter *next; /* private */
	bool queued;                     /* private */
	/* set by the store before fn: every seq up to it is durable (0: it
	 * cannot say; ask bus_durable_status for a seq past w->seq) */
	uint64_t durable;
};
struct bus_store {
	bool (*sync)(void *arg);
	void (*when_durable)(void *arg, struct bus_durable_waiter *w);
	void (*cancel_wait)(void *arg, struct bus_durable_waiter *w);
	int (*durable_status)(void *arg, uint64_t seq, char **cause);
	long (*history)(void *arg, uint64_t since, size_t last, size_t scan,
	                const char *const *patterns, size_t npatterns,
	                bool (*fn)(const struct bus_event *ev, void *fnarg),
	                void *fnarg, uint64_t *resume, char **cause);
	void (*cursor)(void *arg, const char *consumer, uint64_t seq);
	uint64_t (*replay)(void *arg, const char *consumer, const char *pattern,
	                   int (*deliver)(const char *consumer,
	                                  const struct bus_event *ev));
	long (*page)(void *arg, uint64_t since, const char *pattern, size_t max,
	             size_t scan,
	             void (*fn)(const struct bus_event *ev, void *fnarg),
	             void *fnarg, uint64_t *upto, char **cause);
};
void bus_set_store(struct bus *b, const struct bus_store *st, void *arg);
/* The registered store (NULL if none), its arg in *arg. */
const struct bus_store *bus_get_store(const struct bus *b, void **arg);
/* A store is registered that acknowledges emits only once durable. */
bool bus_sync_durable(const struct bus *b);
/* w->fn once every event up to w->seq is durable: 0, or -1 (nothing
 * called) when no store can tell. */
int bus_when_durable(struct bus *b, struct bus_durable_waiter *w);
void bus_cancel_durable(struct bus *b, struct bus_durable_waiter *w);
/* Where seq stands now: 0 durable, 1 not yet, -1 it cannot be (*cause,
 * allocated: its write failed, or no store can tell). */
int bus_durable_status(struct bus *b, uint64_t seq, char **cause);

/*
 * Highest seq dispatched so far (0 if none): every event up to it is in the
 * history (if it still fits) and a listener registered now receives exactly
 * the events after it. A subscriber replays history up to this seq, then
 * listens, and sees every event once.
 */
uint64_t bus_last_dispatched(const struct bus *b);
/*
 * Visit events from the history ring in seq order: those with seq > since
 * (since 0: all), then only the last `last` of them (0: no limit), filtered
 * by patterns (npatterns 0: all). Returns how many were visited.
 */
size_t bus_history(const struct bus *b, uint64_t since, size_t last,
                   const char *const *patterns, size_t npatterns,
                   void (*fn)(const struct bus_event *ev, void *arg),
                   void *arg);
/* Oldest seq still in the ring (0 if empty). */
uint64_t bus_history_first(const struct bus *b);

void bus_get_stats(const struct bus *b, struct bus_stats *out);
json_t *bus_stats_json(const struct bus *b);

/*
 * Shutdown: from now on bus_emit fails with ESHUTDOWN. Then every accepted
 * event is delivered; cb runs when the queue is empty (status 0) or when the
 * stop timeout expired (status -1, the remainder counted as dropped and
 * logged). cb may run before bus_close returns.
 */
void bus_close(struct bus *b, void (*cb)(struct bus *b, int status, void *arg),
               void *arg);
bool bus_closing(const struct bus *b);

#endif
