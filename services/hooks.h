/*
 * hooks.h — the hooks service: delivers matching events to a command run
 * per event (exec =, services/hook_exec.c), an HTTP endpoint (url =,
 * services/hook_http.c) or a long-running listener program (listen =,
 * services/hook_listen.c); docs/hooks.md describes all three. What follows
 * is the exec kind; the queue, retries, cursor and figures are shared.
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

/* One [hook.NAME]: exactly one of exec, url and listen says its kind. */
struct hook_conf {
	struct svc_conf_instance inst; /* NAME and line */
	char *on;                      /* pattern */
	double timeout;                /* seconds, default 30 */
	unsigned concurrency;          /* default 1 */
	unsigned retries;              /* default 0 */
	double backoff;                /* first retry delay, doubling; 1 s */
	/* exec (services/hook_exec.c) */
	char **argv; /* NULL-terminated, split without a shell */
	/* webhooks (services/hook_http.c) */
	struct {
		char *url;         /* http:// or https:// */
		char *ca_file;     /* NULL: the system's CAs */
		char *headers;     /* a JSON object of strings, or NULL */
		char *secret_file; /* NULL: no signature */
	} http;
	/* listeners (services/hook_listen.c) */
	struct {
		char **argv;     /* NULL-terminated */
		unsigned window; /* default 64 */
	} listen;
};

/* The hooks service's options: every [hook.NAME], in file order. */
struct hooks_conf {
	struct svc_conf_list hooks; /* of struct hook_conf */
};

/* Events a hook may have queued (not yet running) before overflow. */
#define HOOKS_QUEUE_MAX 65536
/* Between SIGTERM and SIGKILL when a run times out, seconds. */
#define HOOKS_KILL_GRACE 2.0

/* Totals for `status`: {hooks, runs, ok, deliveries, failures, timeouts,
 * retries, dropped, queued, running, in_flight, lag} — new reference. */
json_t *hooks_stats_json(void);
/* One object per hook, in configuration order: {name, kind, on, target,
 * timeout_ms, concurrency, retries, runs, ok, deliveries, failures,
 * timeouts, retried, dropped, queued, running, in_flight, lag, last_seq,
 * last_error} and the kind's own (exec; url, last_status; listen, pid,
 * restarts) — new reference. */
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
/* Test helper: true when no hook has queued or running work, nor events
 * owed that it reads back from the journal. */
bool hooks_idle(void);

#endif
