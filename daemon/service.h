/*
 * service.h — the service framework: the C port of singleton-service's
 * BaseService / @requires / @guarded, on one libev loop.
 *
 * A service is a const descriptor (struct svc_desc): its name, the names of
 * the services it requires, and callbacks init / ping / stop. Everything that
 * changes at run time (state, timings, last error, last ping) lives in a
 * struct svc owned by a struct svc_graph, never in the descriptor.
 *
 * The graph validates the table before anything runs (unknown dependency,
 * duplicate, self-requirement, cycle — the error names the whole path), orders
 * it topologically with ties broken by table order, and then:
 *   - svc_use()   guarded lazy init of one service and its closure;
 *   - svc_start() the same, asynchronously, with a completion callback;
 *   - svc_stop_all() reverse-order stop, each stop bounded by a timeout;
 *   - svc_reset() every service back to inactive (for tests).
 *
 * Callback contract:
 *   init(self, &cause): return 0 when running, -1 on failure with *cause set
 *     to an allocated reason, or SVC_PENDING and later call
 *     svc_init_done(self, 0 | -1, reason) from the loop. After a successful
 *     init the framework calls ping (if any); unhealthy fails the init.
 *   ping(self, &cause): 0 healthy; -1 unhealthy with *cause allocated (a
 *     fault that may pass by itself: a peer down, a timeout); or
 *     SVC_PING_FAILED with *cause allocated: running but failed, it will
 *     not recover by itself until someone fixes something (a peer refused
 *     its configuration: a wrong password). Any other non-zero value is
 *     -1. NULL ping means always healthy.
 *   stop(self): 0 when stopped, or SVC_PENDING and later svc_stop_done(self).
 *     NULL stop means nothing to do.
 * Only services whose init succeeded are stopped.
 *
 * Start policy: a service is required unless its descriptor says optional
 * (svc_set_required overrides it, e.g. from the configuration). A whole-graph
 * svc_start succeeds when every required service is running: an optional
 * one that failed (and whatever it blocked) is left failed, logged and
 * reported, and the rest runs. A required service that fails, or that an
 * optional failure blocked, fails the start as before.
 */
#ifndef SVCD_SERVICE_H
#define SVCD_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ev_loop;
struct svc;
struct svc_graph;

#define SVC_PENDING 1
/* From ping: running but failed, until someone fixes something (see the
 * callback contract above); negative, as -1, so a caller that tests for
 * "< 0" still sees it unhealthy. */
#define SVC_PING_FAILED (-2)

/* For tables in descriptors (public: the headers of the API include no
 * internal header). */
#define SVC_ARRAY_SIZE(a)     (sizeof(a) / sizeof((a)[0]))
#define SVC_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

enum svc_state {
	SVC_INACTIVE,
	SVC_STARTING,
	SVC_RUNNING,
	SVC_STOPPING,
	SVC_STOPPED,
	SVC_FAILED,
	SVC_BLOCKED,
};

struct svc_conf_section; /* daemon/conf.h */
struct svc_method;       /* daemon/methods.h */
typedef struct json_t json_t;

/*
 * A service's whole surface is its descriptor: lifecycle callbacks, its
 * configuration (sections of typed items, parsed into the service's own
 * options struct by the generic engine in daemon/conf.c), its control
 * methods (daemon/methods.h) and its figures for `status`. Every member
 * after stop_timeout is optional.
 */
struct svc_desc {
	const char *name;
	/* NULL-terminated list of required service names; NULL for none. */
	const char *const *requires;
	int (*init)(struct svc *self, char **cause);
	int (*ping)(struct svc *self, char **cause);
	int (*stop)(struct svc *self);
	double init_timeout; /* seconds; 0 = the graph's default (30 s) */
	double stop_timeout; /* seconds; 0 = the graph's default (10 s) */
	/* Its failure at start does not fail a whole-graph svc_start (see
	 * the start policy above); false: required. */
	bool optional;

	/* ---- configuration (daemon/conf.h) ---- */
	/* The sections this service owns. Several services may own keys of
	 * one section ([daemon]); a key nobody owns is an error. */
	const struct svc_conf_section *const *conf;
	size_t conf_size; /* sizeof the options struct the items point into */
	/* Cross-key rules over a whole parsed options struct (after every
	 * item's own checks): -1 with *cause "FILE:LINE: ..." or "..." set. */
	int (*check)(const void *opts, char **cause);
	/* A reload changed options that are not restart-only: apply new (old
	 * is what ran). -1 with *cause keeps old in effect for this service.
	 * NULL: the new values are taken as they are (the service reads its
	 * options through svc_options() whenever it needs them). */
	int (*reload)(struct svc *self, const void *old, const void *new,
	              char **cause);
	/* The names of the worker tasks this service schedules for itself
	 * (NULL-terminated, or NULL): a configured timer may not take one,
	 * which the configuration's check tells before anything starts. */
	const char *const *tasks;

	/* ---- control methods (daemon/methods.h) ---- */
	const struct svc_method *methods; /* array of nmethods */
	size_t nmethods;

	/* ---- figures ---- */
	/* The service's member of `status` (a new JSON value), called only
	 * while it is running; `status` shows null otherwise. */
	json_t *(*figures)(struct svc *self);

	/* ---- status line ---- */
	/* The process's one-line status (sd_notify STATUS=, e.g. "running:
	 * 7/7 services, 12 events, 3 listeners"), borrowed until the next
	 * call. The first running service in start order that has one
	 * provides it (svc_graph_status_line); svc_status_changed(self)
	 * tells the embedder it changed. */
	const char *(*status_line)(struct svc *self);

	/* ---- figures as metrics ---- */
	/* What its figures are as metrics (services/metrics.c): the type
	 * and help of each; NULL: every number is untyped. */
	const struct svc_metric *metrics; /* array of nmetrics */
	size_t nmetrics;
};

/*
 * A figure as a metric (`svcctl metrics`, docs/framework.md "Figures"):
 * figure is its key in the figures object ("a.b" for member b of a nested
 * object or of each object of an array a). Its name is svcd_SERVICE_KEY
 * (dots become _; name replaces KEY), counters end in _total. An array of
 * objects is one series per object, labelled label="<its name member>": the
 * entry for the array itself sets the label's name (SVC_METRIC_LABELS, label),
 * and its members' names are svcd_SERVICE_LABEL_KEY. An object of objects
 * whose entry is SVC_METRIC_LABELS is the same, each member's key the
 * label's value (without the entry its members are flattened).
 */
enum svc_metric_type {
	SVC_METRIC_GAUGE,
	SVC_METRIC_COUNTER,
	SVC_METRIC_LABELS, /* an array of objects: label names the series */
};
struct svc_metric {
	const char *figure;
	enum svc_metric_type type;
	const char *help;
	const char *label; /* SVC_METRIC_LABELS only */
	const char *name;  /* instead of the key in the metric's name */
	double scale;      /* the value times scale (0: as it is), for base
	                      units: a figure in ms, scale 1e-3, name x_seconds */
};
/* Descriptor helper: SVC_METRICS(table) sets metrics and nmetrics. */
#define SVC_METRICS(t) .metrics = (t), .nmetrics = SVC_ARRAY_SIZE(t)

/* Convenience for descriptors: .requires = SVC_REQUIRES("bus", "worker"). */
#define SVC_REQUIRES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Called on every state transition (after the state changed). */
typedef void (*svc_observer_fn)(struct svc *s, enum svc_state from,
                                enum svc_state to, void *arg);
/*
 * Completion of svc_start / svc_stop_all. status is 0 on success, -1 on
 * failure with cause a borrowed reason (for start: the first failure that
 * prevented the target; for stop: which services hung).
 */
typedef void (*svc_done_fn)(struct svc_graph *g, int status, const char *cause,
                            void *arg);

/*
 * Build and validate a graph from a table of n descriptors. Returns NULL with
 * *cause set (caller frees) on: unknown dependency ("service 'a' requires
 * unknown service 'b'"), duplicate name ("duplicate service name 'a'"),
 * self-requirement ("service 'a' requires itself"), cycle ("circular
 * dependency: bus -> worker -> bus"). The descriptors are borrowed and must
 * outlive the graph.
 */
struct svc_graph *svc_graph_new(struct ev_loop *loop,
                                const struct svc_desc *const *table, size_t n,
                                char **cause);
/* Frees the graph. Running services are not stopped: stop them first. */
void svc_graph_free(struct svc_graph *g);

struct ev_loop *svc_graph_loop(const struct svc_graph *g);
void svc_graph_set_timeouts(struct svc_graph *g, double init_timeout,
                            double stop_timeout);
/* Observers are called in registration order; remove with the same fn/arg. */
void svc_graph_add_observer(struct svc_graph *g, svc_observer_fn fn, void *arg);
void svc_graph_remove_observer(struct svc_graph *g, svc_observer_fn fn,
                               void *arg);
/* An opaque pointer for the embedder (svcd stores nothing here yet). */
void svc_graph_set_user(struct svc_graph *g, void *user);
void *svc_graph_user(const struct svc_graph *g);

/* Services in topological order: index 0 starts first. */
size_t svc_graph_count(const struct svc_graph *g);
struct svc *svc_graph_at(const struct svc_graph *g, size_t i);
struct svc *svc_graph_find(const struct svc_graph *g, const char *name);
/* When the graph came up: the earliest successful start (monotonic
 * microseconds, as svc_info.started_at_us), 0 if nothing started. */
int64_t svc_graph_started_at_us(const struct svc_graph *g);

/* The order and the edges, one per line; or Graphviz DOT when dot is true. */
void svc_graph_print(const struct svc_graph *g, FILE *out, bool dot);

/*
 * Guarded lazy init (@guarded): bring up name and its whole dependency closure
 * in order if not yet running. Returns 0 if running, -1 with *cause set if it
 * or a dependency failed (or the call is a self-use / undeclared use from an
 * init, see docs/framework.md), or SVC_PENDING if an async init is still under
 * way (it keeps going; use svc_start for a completion callback).
 */
int svc_use(struct svc_graph *g, const char *name, char **cause);

/*
 * Start name's closure (name NULL: the whole graph, in order). cb runs once
 * when every target service is running (status 0) or cannot be (-1); it may
 * run before svc_start returns if nothing is asynchronous.
 */
void svc_start(struct svc_graph *g, const char *name, svc_done_fn cb,
               void *arg);

/*
 * Stop every started service in reverse topological order, a dependent always
 * before what it requires; async stops bounded by their timeout (on expiry the
 * log names the service and shutdown goes on). cb runs once at the end.
 */
void svc_stop_all(struct svc_graph *g, svc_done_fn cb, void *arg);

/*
 * Return every service to inactive, clearing errors, timings and pings and
 * cancelling pending timers. Does not call stop: call svc_stop_all first if
 * services hold resources.
 */
void svc_reset(struct svc_graph *g);

/* Async completions, from the loop. status 0 or -1 (cause may be NULL). */
void svc_init_done(struct svc *s, int status, const char *cause);
void svc_stop_done(struct svc *s);

/*
 * Run the service's ping now and record result, severity, latency and time.
 * Returns 0 healthy, -1 unhealthy (with *cause set if cause is non-NULL) —
 * also -1 if the service is not running. A ping that returned
 * SVC_PING_FAILED is -1 here too: svc_ping_failed() and svc_info.ping_failed
 * tell the severity.
 */
int svc_ping(struct svc *s, char **cause);

const char *svc_name(const struct svc *s);
const struct svc_desc *svc_desc(const struct svc *s);
struct svc_graph *svc_graph(const struct svc *s);
struct ev_loop *svc_loop(const struct svc *s);
enum svc_state svc_state(const struct svc *s);
const char *svc_state_name(enum svc_state st);
/* running and the last ping failed (either severity) */
bool svc_degraded(const struct svc *s);
/* running and the last ping returned SVC_PING_FAILED */
bool svc_ping_failed(const struct svc *s);
/*
 * The state as health, services, status and the metrics report it: the
 * graph's, except that a running service whose last ping returned
 * SVC_PING_FAILED is SVC_FAILED.
 */
enum svc_state svc_reported_state(const struct svc *s);
/*
 * Its word: svc_state_name() of that, or "degraded" for a running service
 * whose last ping failed or that svc_bad_dependency() names a dependency
 * of (the one rule health and services show).
 */
const char *svc_state_word(const struct svc *s);
/*
 * The nearest service in s's requires closure that a dependent cannot rely
 * on (degraded or failed while running — a failed ping of either severity
 * —, failed, blocked or stopped): breadth-first, in the order of each
 * requires list, so the answer is deterministic. Its name, or NULL.
 */
const char *svc_bad_dependency(const struct svc *s);

/*
 * The start policy of s: required (its failure fails a whole-graph start)
 * or optional. Defaults to !desc->optional; set it before svc_start.
 */
bool svc_required(const struct svc *s);
void svc_set_required(struct svc *s, bool required);

/*
 * True while svc_stop_all is under way. A start request that completes with
 * -1 while this holds was cancelled by the stop ("start cancelled: services
 * are stopping"), not failed: a stop requested during start-up is a clean
 * stop.
 */
bool svc_graph_stopping(const struct svc_graph *g);

/*
 * From a failing init: the reason is the configuration, which this
 * environment refuses (not a fault of the moment), so retrying cannot help.
 * A boot that fails then makes svcd exit 78 (EX_CONFIG) instead of 1.
 * svc_graph_config_refused says whether a service did so since the last
 * svc_reset.
 */
void svc_refuse_config(struct svc *s);
bool svc_graph_config_refused(const struct svc_graph *g);

/*
 * Health pushed by a service between rounds. A service whose health changed
 * (a link went down or came back, a write failed) calls svc_health_changed
 * from the loop; the framework passes it on to the graph's health listener
 * (the health monitor), which pings that service soon (from the loop, not
 * from inside the call) and reports the result at once. Harmless when no
 * listener is set or the service is not running. One listener per graph:
 * setting one replaces the previous; fn NULL removes it.
 */
typedef void (*svc_health_fn)(struct svc *s, void *arg);
void svc_graph_set_health_listener(struct svc_graph *g, svc_health_fn fn,
                                   void *arg);
void svc_health_changed(struct svc *s);

/*
 * The status line of the graph: the status_line of the first running
 * service (in start order) whose descriptor has one; NULL if none does.
 * A provider calls svc_status_changed(self) when its line changed (on a
 * heartbeat); the graph's one status listener (svcd_main: sd_notify
 * STATUS=) is then called with the line. Setting a listener replaces the
 * previous one; fn NULL removes it. Harmless when nothing listens or the
 * service is not running.
 */
const char *svc_graph_status_line(const struct svc_graph *g);
typedef void (*svc_status_fn)(struct svc_graph *g, const char *line, void *arg);
void svc_graph_set_status_listener(struct svc_graph *g, svc_status_fn fn,
                                   void *arg);
void svc_status_changed(struct svc *s);

/*
 * Run-time state a service hands to its dependents: set in init (usually
 * the service's own struct), cleared by the framework when it stops.
 */
void svc_set_priv(struct svc *s, void *priv);
void *svc_priv(const struct svc *s);

/*
 * A dependency, through the framework: name must be in self's requires
 * (anything else is a programming error: logged and abort()). Returns the
 * dependency if it is running, else NULL. Typed wrappers live with each
 * service (bus.h: bus_of(self) = svc_priv(svc_dep(self, "bus"))).
 */
struct svc *svc_dep(struct svc *self, const char *name);
/* The service's position in the table the graph was built from. */
size_t svc_index(const struct svc *s);

/*
 * The service's options: its conf_size struct as parsed from its sections
 * (the built-in defaults when the file says nothing). Borrowed; valid until
 * the next reload that applied to this service. NULL if conf_size is 0.
 */
const void *svc_options(const struct svc *s);

/*
 * The running configuration (daemon/conf.h), loaded for the graph's table:
 * svc_options() reads from it. Borrowed: the caller frees it once it is
 * replaced or the graph is freed. NULL (or never set): every service reads
 * the built-in defaults, built once per graph. svc_graph_conf returns what
 * svc_options reads from (the defaults when none is attached).
 */
struct svc_conf;
void svc_graph_set_conf(struct svc_graph *g, const struct svc_conf *c);
const struct svc_conf *svc_graph_conf(struct svc_graph *g);
/* The stop timeout in effect for s: its descriptor's, else the graph's. */
double svc_stop_timeout(const struct svc *s);

/* Introspection; every pointer is borrowed from the graph. */
struct svc_info {
	const char *name;
	const char *const *requires; /* NULL-terminated, never NULL */
	enum svc_state state;
	size_t order;          /* position in the start order, from 0 */
	double init_ms;        /* duration of the last init, -1 if none */
	int64_t started_at_us; /* wall clock of the last successful init, 0 if
	                          none */
	int64_t ping_at_us;    /* wall clock of the last ping, 0 if never */
	bool ping_ok;
	/* the last ping returned SVC_PING_FAILED (ping_ok is false). Here,
	 * in the padding after ping_ok, the struct keeps its size and every
	 * other member its offset. */
	bool ping_failed;
	int64_t ping_latency_us;
	const char *ping_error; /* NULL if the last ping was healthy */
	const char *error;      /* last init/stop error, NULL if none */
	const char *blocked_by; /* for SVC_BLOCKED: the failed dependency */
	bool required;          /* svc_required */
};
void svc_get_info(const struct svc *s, struct svc_info *out);

#endif
