/*
 * hooks.h — the hooks service: runs a command for each matching event.
 *
 * Every [hook.NAME] of the configuration becomes a bus listener on its `on`
 * pattern. Each matching event is queued for that hook (bounded; overflow is
 * counted and logged) and run with posix_spawn (argv from the config, no
 * shell): the event as one JSON line on stdin, SVCD_EVENT, SVCD_SEQ and
 * SVCD_HOOK in the environment, stdout and stderr logged line by line tagged
 * "hook NAME:". A run is bounded by `timeout` (SIGTERM, then SIGKILL after a
 * grace period), at most `concurrency` run at once, a failed run is retried
 * `retries` times with exponential backoff. Children are reaped with
 * ev_child, which libev offers on the default loop only: the service refuses
 * to start on another loop.
 *
 * The hooks are read from the options at init ([hook.NAME] sections are
 * restart-only); a reload does not change them.
 */
#ifndef SVCD_HOOKS_H
#define SVCD_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/conf.h"
#include "daemon/service.h"

struct bus_event;

extern const struct svc_desc hooks_service;

/* One [hook.NAME]. */
struct hook_conf {
	struct svc_conf_instance inst; /* NAME and line */
	char *on;                      /* pattern */
	char **argv;          /* NULL-terminated, split without a shell */
	double timeout;       /* seconds, default 30 */
	unsigned concurrency; /* default 1 */
	unsigned retries;     /* default 0 */
	double backoff;       /* first retry delay, doubling; 1 s */
};

/* The hooks service's options: every [hook.NAME], in file order. */
struct hooks_conf {
	struct svc_conf_list hooks; /* of struct hook_conf */
};

/* Events a hook may have queued (not yet running) before overflow. */
#define HOOKS_QUEUE_MAX 65536
/* Between SIGTERM and SIGKILL when a run times out, seconds. */
#define HOOKS_KILL_GRACE 2.0

/* Totals for `status`: {hooks, runs, ok, failures, timeouts, retries,
 * dropped, queued, running} — new reference. */
json_t *hooks_stats_json(void);
/* One object per hook, in configuration order: {name, on, exec, timeout_ms,
 * concurrency, retries, runs, ok, failures, timeouts, retried, dropped,
 * queued, running, last_seq, last_error} — new reference. */
json_t *hooks_list_json(void);

/*
 * At-least-once delivery: through the bus's store (bus_set_store: the
 * journal registers there, so neither service knows the other), or, for
 * tests, the override below. cursor_fn is called with a hook's
 * name and seq whenever every event up to seq matching that hook was handed
 * to it and finished (ran, or failed for good). Replay: before the listener
 * goes live, replay_fn (if set) is called per hook with the hook's name and
 * pattern and must call hooks_deliver() for the events that hook still owes,
 * in seq order; it returns the highest seq it covered (live delivery then
 * skips events up to it).
 */
typedef void (*hooks_cursor_fn)(const char *hook, uint64_t seq, void *arg);
typedef uint64_t (*hooks_replay_fn)(const char *hook, const char *pattern,
                                    void *arg);
void hooks_set_journal(hooks_cursor_fn cursor_fn, hooks_replay_fn replay_fn,
                       void *arg);
/* Queue ev for the named hook (a replayed event). 0, or -1 if no such hook
 * or its queue is full (counted as dropped; the hook's cursor then stays
 * below it, so the next start replays it again). */
int hooks_deliver(const char *hook, const struct bus_event *ev);

/* Tests: the queue bound instead of HOOKS_QUEUE_MAX (0: back to it). */
void hooks_set_queue_max(size_t n);
/* Test helper: true when no hook has queued or running work. */
bool hooks_idle(void);

#endif
