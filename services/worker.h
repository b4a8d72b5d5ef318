/*
 * worker.h — the background worker service (singleton-service's
 * AsyncBackgroundWorker).
 *
 * Named tasks on the loop: periodic (next run `interval` after the previous
 * run finished — never overlapping) or delayed (once). Scheduling a name that
 * exists replaces it. Tasks may complete later (async) and have a timeout.
 * A failure is logged and counted and the task keeps its schedule.
 *
 * The object API works on any loop (tests); the `worker` service owns one
 * instance: a service that requires "worker" reaches it with
 * worker_of(self). The worker service owns the control methods tasks and
 * cancel, and the `worker` member of `status`.
 */
#ifndef SVCD_WORKER_H
#define SVCD_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/service.h"

struct ev_loop;
struct worker;
struct worker_task;

extern const struct svc_desc worker_service;

enum worker_kind { WORKER_PERIODIC, WORKER_DELAYED };

/*
 * Who a task belongs to. A service's task (the default) is replaced or
 * cancelled only by a service: worker_schedule() refuses a config or control
 * spec over it (errno EPERM), and the control channel's `cancel` refuses it.
 * Config timers and control tasks may replace or cancel each other.
 */
enum worker_owner {
	WORKER_OWNER_SERVICE, /* spec.origin names the service */
	WORKER_OWNER_CONFIG,  /* a [timer.NAME] section */
	WORKER_OWNER_CONTROL, /* the control channel's `schedule` */
	WORKER_OWNER_COUNT,
};
/* "service", "config", "control" */
const char *worker_owner_name(enum worker_owner o);

/*
 * A task body: return 0 on success, -1 on failure with *cause allocated (may
 * be left NULL), or SVC_PENDING and later call worker_task_done() from the
 * loop. A task may cancel itself or reschedule its own name from the body.
 */
typedef int (*worker_fn)(struct worker_task *t, void *arg, char **cause);

struct worker_spec {
	const char *name; /* copied */
	enum worker_kind kind;
	double
	    interval;   /* periodic: seconds between runs; delayed: the delay */
	double timeout; /* async completion bound, seconds; 0 = 30 s */
	bool
	    run_now; /* periodic: first run at once instead of after interval */
	worker_fn fn;
	void *arg;
	void (*free_arg)(
	    void *arg);     /* called when the task is freed; may be NULL */
	const char *origin; /* "config", "control", a service name; copied */
	enum worker_owner owner; /* default: a service's */
	const char *description; /* e.g. "emit user.tick" for listings; copied,
	                            may be NULL */
};

struct worker_task_info {
	const char *name;
	enum worker_kind kind;
	double interval;     /* or delay */
	int64_t next_run_us; /* wall clock of the next run, 0 if none pending */
	uint64_t runs;
	uint64_t failures;
	const char *last_error;  /* NULL if none */
	double last_duration_ms; /* -1 if never ran */
	bool running;
	const char *origin;
	enum worker_owner owner;
	const char *description;
};

struct worker *worker_new(struct ev_loop *loop);
/* Frees every task immediately (no waiting; use worker_shutdown first). */
void worker_free(struct worker *w);
/* The instance owned by the running `worker` service that self requires
 * (svc_dep: self must require "worker"), or NULL when it is not running. */
struct worker *worker_of(struct svc *self);

/* Returns the task (owned by the worker), or NULL with errno ESHUTDOWN (the
 * worker is shutting down) or EPERM (a config or control spec over a
 * service's task). spec->name must be non-empty. */
struct worker_task *worker_schedule(struct worker *w,
                                    const struct worker_spec *spec);
/* true if a task with that name existed. A running async task is allowed to
 * finish but never runs again. */
bool worker_cancel(struct worker *w, const char *name);
struct worker_task *worker_find(struct worker *w, const char *name);
void worker_task_done(struct worker_task *t, int status, const char *cause);
/*
 * Completion of one particular run (worker_task_run_id() read in the body):
 * a completion for a run that already timed out is ignored even if a later
 * run is under way. worker_task_done() completes whatever run is current.
 */
uint64_t worker_task_run_id(const struct worker_task *t);
void worker_task_done_run(struct worker_task *t, uint64_t run, int status,
                          const char *cause);
const char *worker_task_name(const struct worker_task *t);
void worker_task_get_info(const struct worker_task *t,
                          struct worker_task_info *out);

size_t worker_count(const struct worker *w);
/* Tasks in the table that belong to owner (a replaced one counts once). */
size_t worker_count_owner(const struct worker *w, enum worker_owner owner);
/*
 * May `by` replace or cancel the task called name? true when there is none
 * or the rules above allow it; else false with *cause ("task 'health'
 * belongs to service 'health'"; caller frees).
 */
bool worker_may_touch(struct worker *w, const char *name, enum worker_owner by,
                      char **cause);
/* Visit tasks in name order. */
void worker_foreach(struct worker *w,
                    void (*fn)(struct worker_task *t, void *arg), void *arg);
/* [{name, kind, interval_ms|delay_ms, next_run, runs, failures, last_error,
 *   last_duration_ms, running, origin, owner, description}] — new
 *   reference. */
json_t *worker_task_json(const struct worker_task *t);
json_t *worker_list_json(struct worker *w);

struct worker_stats {
	size_t tasks;
	size_t running;
	uint64_t runs;
	uint64_t failures;
};
void worker_get_stats(const struct worker *w, struct worker_stats *out);

/*
 * No new runs, every timer cancelled, running tasks awaited up to timeout
 * seconds; cb(status 0, or -1 if some were still running, named in the log).
 */
void worker_shutdown(struct worker *w, double timeout,
                     void (*cb)(struct worker *w, int status, void *arg),
                     void *arg);

#endif
