/*
 * graph.c — the service framework: validation, start order, guarded lazy
 * init, async init and stop with timeouts, states, introspection, reset.
 *
 * Design note.
 *   - A graph holds one struct svc per descriptor, in table order (g->table),
 *     and the same services in start order (g->order, Kahn's algorithm, ties
 *     broken by table order). Nothing is global: graphs may coexist.
 *   - Start is a state machine, not a recursion. svc_use / svc_start mark the
 *     target's dependency closure "wanted" and call advance(), which walks
 *     the start order and starts every wanted inactive service whose
 *     requirements are all running, and blocks every wanted service one of
 *     whose requirements failed or is blocked. Sync inits complete inside the
 *     pass; an async init (SVC_PENDING) arms a timer, and svc_init_done()
 *     calls advance() again. advance() is not reentrant: a nested call only
 *     asks the running pass to go round once more. Since a service is only
 *     started from inactive (or stopped), a shared base is initialized
 *     exactly once. Failed and blocked are final until svc_reset().
 *   - svc_init_done() may arrive from inside init, before init returned
 *     SVC_PENDING: it is parked on the service and applied when init returns.
 *     The same holds for svc_stop_done() from inside stop.
 *   - g->stack holds the services whose init or ping is executing right now;
 *     svc_use() checks it for self-use and undeclared use (docs/framework.md).
 *   - Each svc_start() is a request kept on g->reqs until every target
 *     service is resolved (running, failed or blocked); check_requests()
 *     runs at the end of every advance() and calls the finished callbacks
 *     after unlinking them, so a callback may start or stop services.
 *   - svc_stop_all() walks the start order backwards, one service at a time;
 *     an async stop is bounded by a timer, whose expiry logs the service and
 *     goes on. A second svc_stop_all() during a stop queues its callback.
 *     A stop cancels starting services and fails pending svc_start()s.
 *   - svc_health_changed() only forwards to the graph's one health listener
 *     (the monitor), which re-pings the service from the loop; svc_ping()
 *     stays the only way a health result is recorded.
 *   - Callbacks (init, ping, stop, observers, completions) may use the graph
 *     but must not free it.
 */
#include <assert.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/service.h"
#include "daemon/util.h"

#define SVC_DEFAULT_INIT_TIMEOUT 30.0
#define SVC_DEFAULT_STOP_TIMEOUT 10.0

static const char *const svc_no_requires[] = {NULL};

struct svc {
	struct svc_graph *g;
	const struct svc_desc *desc;
	const char *const *requires; /* never NULL */
	struct svc **deps;           /* resolved requires, deduplicated */
	size_t ndeps;
	size_t index; /* in the table */
	size_t order; /* in the start order */

	enum svc_state state;
	bool wanted;
	bool required; /* the start policy: svc_required */

	/* init */
	ev_timer init_timer;
	int64_t init_start_us; /* monotonic */
	double init_ms;
	int64_t started_at_us;
	unsigned in_init;     /* init is on the stack */
	bool early_init_done; /* svc_init_done() arrived from inside init */
	int early_status;
	char *early_cause;

	/* stop */
	ev_timer stop_timer;
	unsigned in_stop;
	bool early_stop_done;

	/* ping */
	int64_t ping_at_us;
	bool ping_ok;
	bool ping_failed; /* the last ping returned SVC_PING_FAILED */
	bool pinged;
	int64_t ping_latency_us;
	char *ping_error;

	char *error;
	const struct svc *blocked_by; /* the root failed service */

	void *priv;       /* svc_set_priv: cleared when the service is not up */
	const void *opts; /* svc_options' answer until the conf changes */
};

struct svc_observer {
	svc_observer_fn fn;
	void *arg;
};

struct svc_frame {
	struct svc *s;
	bool init; /* init (true) or ping (false) */
};

struct svc_req {
	struct svc *target; /* NULL: the whole graph */
	svc_done_fn cb;
	void *arg;
	struct svc_req *next;
};

struct svc_stop_cb {
	svc_done_fn cb;
	void *arg;
	struct svc_stop_cb *next;
};

struct svc_graph {
	struct ev_loop *loop;
	struct svc *table;  /* table order */
	struct svc **order; /* start order */
	size_t n;
	double init_timeout;
	double stop_timeout;
	void *user;
	const struct svc_desc **descs; /* table order, for the defaults */
	const struct svc_conf *conf;   /* attached, borrowed */
	struct svc_conf *defaults;     /* built on first use */

	struct svc_observer *obs; /* fn NULL: removed while notifying */
	size_t nobs, capobs;
	unsigned notifying;

	struct svc_frame *stack;
	size_t depth, capstack;

	unsigned advancing;
	bool again;

	struct svc_req *reqs;

	svc_health_fn health_fn; /* svc_health_changed goes here */
	void *health_arg;

	svc_status_fn status_fn; /* svc_status_changed goes here */
	void *status_arg;

	bool stopping;
	size_t stop_pos; /* services order[0 .. stop_pos) are still to stop */
	struct svc *stop_cur;
	bool stop_walking;
	struct svc_stop_cb *stop_cbs;
	struct buf hung;

	bool config_refused; /* svc_refuse_config: a failed boot exits 78 */
};

static void advance(struct svc_graph *g);
static void stop_next(struct svc_graph *g);

/* -- small helpers ------------------------------------------------------ */

static void
compact_observers(struct svc_graph *g)
{
	size_t i, j;

	for (i = j = 0; i < g->nobs; i++)
		if (g->obs[i].fn != NULL)
			g->obs[j++] = g->obs[i];
	g->nobs = j;
}

static void
set_state(struct svc *s, enum svc_state to)
{
	struct svc_graph *g = s->g;
	enum svc_state from = s->state;
	size_t i;

	if (from == to)
		return;
	s->state = to;
	if (to != SVC_STARTING && to != SVC_RUNNING && to != SVC_STOPPING)
		s->priv = NULL;
	/*
	 * An observer may add or remove observers: removal leaves a hole that
	 * is skipped and compacted once no notification is running.
	 */
	g->notifying++;
	for (i = 0; i < g->nobs; i++)
		if (g->obs[i].fn != NULL)
			g->obs[i].fn(s, from, to, g->obs[i].arg);
	if (--g->notifying == 0)
		compact_observers(g);
}

static void
set_error(struct svc *s, char *error)
{
	free(s->error);
	s->error = error;
}

static void
push_frame(struct svc_graph *g, struct svc *s, bool init)
{
	if (g->depth == g->capstack) {
		g->capstack = g->capstack ? g->capstack * 2 : 8;
		g->stack = xrealloc(g->stack, g->capstack * sizeof(*g->stack));
	}
	g->stack[g->depth].s = s;
	g->stack[g->depth].init = init;
	g->depth++;
}

static void
pop_frame(struct svc_graph *g)
{
	assert(g->depth > 0);
	g->depth--;
}

static bool
on_stack(const struct svc_graph *g, const struct svc *s)
{
	size_t i;

	for (i = 0; i < g->depth; i++)
		if (g->stack[i].s == s)
			return true;
	return false;
}

static bool
requires_directly(const struct svc *s, const struct svc *dep)
{
	size_t i;

	for (i = 0; i < s->ndeps; i++)
		if (s->deps[i] == dep)
			return true;
	return false;
}

static double
init_timeout_of(const struct svc *s)
{
	return s->desc->init_timeout > 0 ? s->desc->init_timeout
	                                 : s->g->init_timeout;
}

static double
stop_timeout_of(const struct svc *s)
{
	return s->desc->stop_timeout > 0 ? s->desc->stop_timeout
	                                 : s->g->stop_timeout;
}

static bool
resolved(const struct svc *s)
{
	return s->state == SVC_RUNNING || s->state == SVC_FAILED ||
	       s->state == SVC_BLOCKED;
}

static struct svc *
find_in_table(struct svc *table, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(table[i].desc->name, name) == 0)
			return &table[i];
	return NULL;
}

/* -- construction and validation ---------------------------------------- */

/* Depth-first search in table order; 0 white, 1 on the path, 2 done. */
static int
find_cycle(struct svc *s, unsigned char *color, struct svc **path, size_t depth,
           char **cause)
{
	size_t i, j;

	color[s->index] = 1;
	path[depth++] = s;
	for (i = 0; i < s->ndeps; i++) {
		struct svc *d = s->deps[i];
		struct buf b = {0};

		if (color[d->index] == 2)
			continue;
		if (color[d->index] == 0) {
			if (find_cycle(d, color, path, depth, cause) == -1)
				return -1;
			continue;
		}
		for (j = 0; path[j] != d; j++)
			;
		buf_puts(&b, "circular dependency:");
		for (; j < depth; j++)
			buf_printf(&b, " %s ->", path[j]->desc->name);
		buf_printf(&b, " %s", d->desc->name);
		*cause = xstrndup(buf_head(&b), b.len);
		buf_free(&b);
		return -1;
	}
	color[s->index] = 2;
	return 0;
}

static int
resolve_deps(struct svc_graph *g, char **cause)
{
	size_t i, j, k;

	for (i = 0; i < g->n; i++) {
		struct svc *s = &g->table[i];
		const char *name = s->desc->name;
		size_t nreq = 0;

		for (j = 0; j < i; j++)
			if (strcmp(g->table[j].desc->name, name) == 0) {
				*cause = xasprintf(
				    "duplicate service name '%s'", name);
				return -1;
			}
		while (s->requires[nreq] != NULL)
			nreq++;
		for (j = 0; j < nreq; j++)
			if (find_in_table(g->table, g->n, s->requires[j]) ==
			    NULL) {
				*cause = xasprintf("service '%s' requires "
				                   "unknown service '%s'",
				                   name, s->requires[j]);
				return -1;
			}
		for (j = 0; j < nreq; j++)
			if (strcmp(s->requires[j], name) == 0) {
				*cause = xasprintf(
				    "service '%s' requires itself", name);
				return -1;
			}
		s->deps = xcalloc(nreq ? nreq : 1, sizeof(*s->deps));
		for (j = 0; j < nreq; j++) {
			struct svc *d =
			    find_in_table(g->table, g->n, s->requires[j]);

			for (k = 0; k < s->ndeps; k++)
				if (s->deps[k] == d)
					break;
			if (k == s->ndeps)
				s->deps[s->ndeps++] = d;
		}
	}
	return 0;
}

/* Kahn's algorithm: repeatedly place the earliest ready table entry. */
static void
order_graph(struct svc_graph *g)
{
	bool *placed = xcalloc(g->n ? g->n : 1, sizeof(*placed));
	size_t done, i, j;

	for (done = 0; done < g->n; done++) {
		for (i = 0; i < g->n; i++) {
			struct svc *s = &g->table[i];

			if (placed[i])
				continue;
			for (j = 0; j < s->ndeps; j++)
				if (!placed[s->deps[j]->index])
					break;
			if (j == s->ndeps)
				break;
		}
		assert(i < g->n); /* no cycle: validated before */
		placed[i] = true;
		g->table[i].order = done;
		g->order[done] = &g->table[i];
	}
	free(placed);
}

static void svc_init_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void svc_stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);

struct svc_graph *
svc_graph_new(struct ev_loop *loop, const struct svc_desc *const *table,
              size_t n, char **cause)
{
	struct svc_graph *g = xcalloc(1, sizeof(*g));
	unsigned char *color = NULL;
	struct svc **path = NULL;
	size_t i;

	g->loop = loop;
	g->n = n;
	g->init_timeout = SVC_DEFAULT_INIT_TIMEOUT;
	g->stop_timeout = SVC_DEFAULT_STOP_TIMEOUT;
	g->table = xcalloc(n ? n : 1, sizeof(*g->table));
	g->order = xcalloc(n ? n : 1, sizeof(*g->order));
	g->descs = xcalloc(n ? n : 1, sizeof(*g->descs));
	for (i = 0; i < n; i++)
		g->descs[i] = table[i];
	for (i = 0; i < n; i++) {
		struct svc *s = &g->table[i];

		if (table[i] == NULL || table[i]->name == NULL ||
		    table[i]->name[0] == '\0') {
			*cause = xasprintf("service at position %zu has no "
			                   "name",
			                   i + 1);
			goto out_free;
		}
		s->g = g;
		s->desc = table[i];
		s->requires =
		    table[i]->requires ? table[i]->requires : svc_no_requires;
		s->index = i;
		s->required = !table[i]->optional;
		s->init_ms = -1;
		ev_timer_init(&s->init_timer, svc_init_timeout_cb, 0, 0);
		s->init_timer.data = s;
		ev_timer_init(&s->stop_timer, svc_stop_timeout_cb, 0, 0);
		s->stop_timer.data = s;
	}
	if (resolve_deps(g, cause) == -1)
		goto out_free;

	color = xcalloc(n ? n : 1, 1);
	path = xcalloc(n ? n : 1, sizeof(*path));
	for (i = 0; i < n; i++)
		if (color[i] == 0 &&
		    find_cycle(&g->table[i], color, path, 0, cause) == -1)
			goto out_free;
	free(color);
	free(path);

	order_graph(g);
	return g;

out_free:
	free(color);
	free(path);
	svc_graph_free(g);
	return NULL;
}

static void
free_requests(struct svc_graph *g)
{
	struct svc_req *r, *rn;
	struct svc_stop_cb *c, *cn;

	for (r = g->reqs; r != NULL; r = rn) {
		rn = r->next;
		free(r);
	}
	g->reqs = NULL;
	for (c = g->stop_cbs; c != NULL; c = cn) {
		cn = c->next;
		free(c);
	}
	g->stop_cbs = NULL;
}

/* Back to inactive, timers stopped, runtime data freed; no observer call. */
static void
clear_svc(struct svc *s)
{
	ev_timer_stop(s->g->loop, &s->init_timer);
	ev_timer_stop(s->g->loop, &s->stop_timer);
	free(s->error);
	s->error = NULL;
	free(s->ping_error);
	s->ping_error = NULL;
	free(s->early_cause);
	s->early_cause = NULL;
	s->early_init_done = false;
	s->early_stop_done = false;
	s->wanted = false;
	s->init_ms = -1;
	s->init_start_us = 0;
	s->started_at_us = 0;
	s->ping_at_us = 0;
	s->ping_ok = false;
	s->ping_failed = false;
	s->pinged = false;
	s->ping_latency_us = 0;
	s->blocked_by = NULL;
}

void
svc_graph_free(struct svc_graph *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++) {
		if (g->table[i].g == NULL)
			continue; /* a half-built graph */
		clear_svc(&g->table[i]);
		free(g->table[i].deps);
	}
	free_requests(g);
	buf_free(&g->hung);
	free(g->table);
	free(g->order);
	free(g->descs);
	svc_conf_free(g->defaults);
	free(g->obs);
	free(g->stack);
	free(g);
}

/* -- accessors ---------------------------------------------------------- */

struct ev_loop *
svc_graph_loop(const struct svc_graph *g)
{
	return g->loop;
}

void
svc_graph_set_timeouts(struct svc_graph *g, double init_timeout,
                       double stop_timeout)
{
	g->init_timeout =
	    init_timeout > 0 ? init_timeout : SVC_DEFAULT_INIT_TIMEOUT;
	g->stop_timeout =
	    stop_timeout > 0 ? stop_timeout : SVC_DEFAULT_STOP_TIMEOUT;
}

void
svc_graph_add_observer(struct svc_graph *g, svc_observer_fn fn, void *arg)
{
	if (g->nobs == g->capobs) {
		g->capobs = g->capobs ? g->capobs * 2 : 4;
		g->obs = xrealloc(g->obs, g->capobs * sizeof(*g->obs));
	}
	g->obs[g->nobs].fn = fn;
	g->obs[g->nobs].arg = arg;
	g->nobs++;
}

void
svc_graph_remove_observer(struct svc_graph *g, svc_observer_fn fn, void *arg)
{
	size_t i;

	for (i = 0; i < g->nobs; i++)
		if (g->obs[i].fn == fn && g->obs[i].arg == arg) {
			g->obs[i].fn = NULL;
			if (g->notifying == 0)
				compact_observers(g);
			return;
		}
}

void
svc_graph_set_user(struct svc_graph *g, void *user)
{
	g->user = user;
}

void *
svc_graph_user(const struct svc_graph *g)
{
	return g->user;
}

bool
svc_graph_stopping(const struct svc_graph *g)
{
	return g->stopping;
}

void
svc_refuse_config(struct svc *s)
{
	s->g->config_refused = true;
}

bool
svc_graph_config_refused(const struct svc_graph *g)
{
	return g->config_refused;
}

void
svc_graph_set_health_listener(struct svc_graph *g, svc_health_fn fn, void *arg)
{
	g->health_fn = fn;
	g->health_arg = fn != NULL ? arg : NULL;
}

void
svc_health_changed(struct svc *s)
{
	struct svc_graph *g = s->g;

	if (s->state != SVC_RUNNING || g->health_fn == NULL)
		return;
	g->health_fn(s, g->health_arg);
}

const char *
svc_graph_status_line(const struct svc_graph *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct svc *s = g->order[i];

		if (s->state == SVC_RUNNING && s->desc->status_line)
			return s->desc->status_line(s);
	}
	return NULL;
}

void
svc_graph_set_status_listener(struct svc_graph *g, svc_status_fn fn, void *arg)
{
	g->status_fn = fn;
	g->status_arg = fn != NULL ? arg : NULL;
}

void
svc_status_changed(struct svc *s)
{
	struct svc_graph *g = s->g;
	const char *line;

	if (s->state != SVC_RUNNING || g->status_fn == NULL)
		return;
	if ((line = svc_graph_status_line(g)) != NULL)
		g->status_fn(g, line, g->status_arg);
}

size_t
svc_graph_count(const struct svc_graph *g)
{
	return g->n;
}

struct svc *
svc_graph_at(const struct svc_graph *g, size_t i)
{
	return i < g->n ? g->order[i] : NULL;
}

int64_t
svc_graph_started_at_us(const struct svc_graph *g)
{
	int64_t t = 0;

	for (size_t i = 0; i < g->n; i++) {
		struct svc_info in;

		svc_get_info(g->order[i], &in);
		if (in.started_at_us && (!t || in.started_at_us < t))
			t = in.started_at_us;
	}
	return t;
}

struct svc *
svc_graph_find(const struct svc_graph *g, const char *name)
{
	if (name == NULL)
		return NULL;
	return find_in_table(g->table, g->n, name);
}

const char *
svc_name(const struct svc *s)
{
	return s->desc->name;
}

const struct svc_desc *
svc_desc(const struct svc *s)
{
	return s->desc;
}

struct svc_graph *
svc_graph(const struct svc *s)
{
	return s->g;
}

struct ev_loop *
svc_loop(const struct svc *s)
{
	return s->g->loop;
}

enum svc_state
svc_state(const struct svc *s)
{
	return s->state;
}

const char *
svc_state_name(enum svc_state st)
{
	switch (st) {
	case SVC_INACTIVE: return "inactive";
	case SVC_STARTING: return "starting";
	case SVC_RUNNING: return "running";
	case SVC_STOPPING: return "stopping";
	case SVC_STOPPED: return "stopped";
	case SVC_FAILED: return "failed";
	case SVC_BLOCKED: return "blocked";
	}
	return "unknown";
}

bool
svc_degraded(const struct svc *s)
{
	return s->state == SVC_RUNNING && s->pinged && !s->ping_ok;
}

bool
svc_ping_failed(const struct svc *s)
{
	return svc_degraded(s) && s->ping_failed;
}

enum svc_state
svc_reported_state(const struct svc *s)
{
	return svc_ping_failed(s) ? SVC_FAILED : s->state;
}

const char *
svc_state_word(const struct svc *s)
{
	enum svc_state st = svc_reported_state(s);

	if (st == SVC_RUNNING && (svc_degraded(s) || svc_bad_dependency(s)))
		return "degraded";
	return svc_state_name(st);
}

static bool
undependable(const struct svc *s)
{
	return svc_degraded(s) || s->state == SVC_FAILED ||
	       s->state == SVC_BLOCKED || s->state == SVC_STOPPED;
}

const char *
svc_bad_dependency(const struct svc *s)
{
	const struct svc_graph *g = s->g;
	size_t n = svc_graph_count(g);
	const struct svc **queue = xcalloc(n ? n : 1, sizeof(*queue));
	bool *seen = xcalloc(n ? n : 1, sizeof(*seen));
	size_t head = 0, tail = 0;
	const char *found = NULL;
	struct svc_info info;

	svc_get_info(s, &info);
	seen[info.order < n ? info.order : 0] = true;
	queue[tail++] = s;
	while (head < tail && !found) {
		svc_get_info(queue[head++], &info);
		for (const char *const *r = info.requires; *r; r++) {
			const struct svc *d = svc_graph_find(g, *r);
			struct svc_info di;

			if (!d)
				continue;
			svc_get_info(d, &di);
			if (di.order >= n || seen[di.order])
				continue;
			seen[di.order] = true;
			if (undependable(d)) {
				found = di.name;
				break;
			}
			queue[tail++] = d;
		}
	}
	free(queue);
	free(seen);
	return found;
}

bool
svc_required(const struct svc *s)
{
	return s->required;
}

void
svc_set_required(struct svc *s, bool required)
{
	s->required = required;
}

void
svc_get_info(const struct svc *s, struct svc_info *out)
{
	memset(out, 0, sizeof(*out));
	out->name = s->desc->name;
	out->requires = s->requires;
	out->state = s->state;
	out->order = s->order;
	out->init_ms = s->init_ms;
	out->started_at_us = s->started_at_us;
	out->ping_at_us = s->ping_at_us;
	out->ping_ok = s->ping_ok;
	out->ping_failed = s->ping_failed;
	out->ping_latency_us = s->ping_latency_us;
	out->ping_error = s->ping_error;
	out->error = s->error;
	out->blocked_by = s->blocked_by ? s->blocked_by->desc->name : NULL;
	out->required = s->required;
}

/* -- printing ----------------------------------------------------------- */

void
svc_graph_print(const struct svc_graph *g, FILE *out, bool dot)
{
	size_t i, j;

	if (dot) {
		fputs("digraph svcd {\n  rankdir=LR;\n", out);
		for (i = 0; i < g->n; i++)
			fprintf(out, "  \"%s\";\n", g->order[i]->desc->name);
		for (i = 0; i < g->n; i++) {
			const struct svc *s = g->order[i];

			for (j = 0; j < s->ndeps; j++)
				fprintf(out, "  \"%s\" -> \"%s\";\n",
				        s->desc->name, s->deps[j]->desc->name);
		}
		fputs("}\n", out);
		return;
	}
	fputs("start order:", out);
	for (i = 0; i < g->n; i++)
		fprintf(out, " %s", g->order[i]->desc->name);
	fputc('\n', out);
	for (i = 0; i < g->n; i++) {
		const struct svc *s = g->order[i];

		fprintf(out, "%3zu. %-14s ", i + 1, s->desc->name);
		if (s->ndeps == 0) {
			fputs("(no requirements)\n", out);
			continue;
		}
		fputs("requires", out);
		for (j = 0; j < s->ndeps; j++)
			fprintf(out, "%s %s", j ? "," : "",
			        s->deps[j]->desc->name);
		fputc('\n', out);
	}
}

/* -- start -------------------------------------------------------------- */

static void
want_closure(struct svc *s)
{
	size_t i;

	if (s->wanted)
		return;
	s->wanted = true;
	for (i = 0; i < s->ndeps; i++)
		want_closure(s->deps[i]);
}

static void
init_failed(struct svc *s, char *error)
{
	ev_timer_stop(s->g->loop, &s->init_timer);
	if (s->init_start_us != 0)
		s->init_ms = (util_mono_us() - s->init_start_us) / 1000.0;
	set_error(s, error);
	if (s->required)
		log_err("%s", error);
	else
		log_err("%s (optional: the others go on without it)", error);
	set_state(s, SVC_FAILED);
}

/* Record one ping of s (its result and severity); returns 0 or -1. */
static int
run_ping(struct svc *s, char **cause)
{
	int64_t t0;
	char *why = NULL;
	int rc = 0;

	t0 = util_mono_us();
	s->ping_at_us = util_now_us();
	if (s->desc->ping != NULL) {
		push_frame(s->g, s, false);
		rc = s->desc->ping(s, &why);
		pop_frame(s->g);
	}
	s->ping_latency_us = util_mono_us() - t0;
	s->pinged = true;
	s->ping_ok = rc == 0;
	s->ping_failed = rc == SVC_PING_FAILED;
	free(s->ping_error);
	s->ping_error = NULL;
	if (rc != 0) {
		rc = -1;
		s->ping_error = xstrdup(why ? why : "ping reported unhealthy");
	}
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return rc;
}

static void
init_succeeded(struct svc *s)
{
	char *why = NULL;

	ev_timer_stop(s->g->loop, &s->init_timer);
	if (run_ping(s, &why) == -1) {
		init_failed(s, why ? xasprintf("service '%s' failed to "
		                               "initialize: ping reported "
		                               "unhealthy: %s",
		                               s->desc->name, why)
		                   : xasprintf("service '%s' failed to "
		                               "initialize: ping reported "
		                               "unhealthy",
		                               s->desc->name));
		free(why);
		return;
	}
	s->init_ms = (util_mono_us() - s->init_start_us) / 1000.0;
	s->started_at_us = util_now_us();
	set_error(s, NULL);
	log_info("started '%s' in %.2f ms", s->desc->name, s->init_ms);
	set_state(s, SVC_RUNNING);
}

static void
init_finished(struct svc *s, int status, const char *cause)
{
	if (status == 0)
		init_succeeded(s);
	else if (cause != NULL)
		init_failed(s, xasprintf("service '%s' failed to initialize: "
		                         "%s",
		                         s->desc->name, cause));
	else
		init_failed(s, xasprintf("service '%s' failed to initialize",
		                         s->desc->name));
}

static void
start_init(struct svc *s)
{
	struct svc_graph *g = s->g;
	char *cause = NULL;
	int rc = 0;

	free(s->error);
	s->error = NULL;
	s->blocked_by = NULL;
	s->early_init_done = false;
	s->init_start_us = util_mono_us();
	set_state(s, SVC_STARTING);
	if (s->state != SVC_STARTING)
		return; /* an observer changed it (reset or stop) */
	if (s->desc->init != NULL) {
		push_frame(g, s, true);
		s->in_init++;
		rc = s->desc->init(s, &cause);
		s->in_init--;
		pop_frame(g);
	}
	if (s->state != SVC_STARTING) {
		/* Cancelled (stop or reset) from inside its own init. */
		free(cause);
		return;
	}
	if (rc == SVC_PENDING) {
		if (s->early_init_done) {
			char *early = s->early_cause;

			s->early_init_done = false;
			s->early_cause = NULL;
			init_finished(s, s->early_status, early);
			free(early);
			return;
		}
		ev_timer_set(&s->init_timer, init_timeout_of(s), 0);
		ev_timer_start(g->loop, &s->init_timer);
		return;
	}
	free(s->early_cause);
	s->early_cause = NULL;
	s->early_init_done = false;
	init_finished(s, rc == 0 ? 0 : -1, cause);
	free(cause);
}

static void
block(struct svc *s, const struct svc *dep)
{
	const struct svc *root =
	    dep->state == SVC_FAILED ? dep : dep->blocked_by;

	s->blocked_by = root;
	set_error(s, xasprintf("failed to initialize %s because of %s: %s",
	                       s->desc->name, root->desc->name,
	                       root->error ? root->error : "failed"));
	set_state(s, SVC_BLOCKED);
}

/* Unlink the finished start requests, then call them. */
static void
check_requests(struct svc_graph *g)
{
	struct svc_req **pp = &g->reqs, *done = NULL, **tail = &done, *r;

	while ((r = *pp) != NULL) {
		bool finished = true;
		size_t i;

		if (r->target != NULL)
			finished = resolved(r->target);
		else
			for (i = 0; i < g->n && finished; i++)
				finished = resolved(g->order[i]);
		if (!finished) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->next = NULL;
		*tail = r;
		tail = &r->next;
	}
	while ((r = done) != NULL) {
		const struct svc *bad = r->target;
		size_t i;

		done = r->next;
		if (bad == NULL) {
			/* The whole graph: the first required root failure,
			 * else the first required service not running (one
			 * an optional failure blocked). Optional services
			 * that failed or are blocked do not count. */
			for (i = 0; i < g->n; i++)
				if (g->order[i]->required &&
				    g->order[i]->state == SVC_FAILED) {
					bad = g->order[i];
					break;
				}
			for (i = 0; bad == NULL && i < g->n; i++)
				if (g->order[i]->required &&
				    g->order[i]->state != SVC_RUNNING)
					bad = g->order[i];
		}
		if (r->cb != NULL && (bad == NULL || bad->state == SVC_RUNNING))
			r->cb(g, 0, NULL, r->arg);
		else if (r->cb != NULL)
			r->cb(g, -1, bad->error ? bad->error : "failed",
			      r->arg);
		free(r);
	}
}

static void
advance(struct svc_graph *g)
{
	size_t i, j;

	if (g->advancing) {
		g->again = true;
		return;
	}
	g->advancing++;
	do {
		g->again = false;
		for (i = 0; i < g->n; i++) {
			struct svc *s = g->order[i];
			bool ready = true;

			if (!s->wanted || g->stopping ||
			    (s->state != SVC_INACTIVE &&
			     s->state != SVC_STOPPED))
				continue;
			for (j = 0; j < s->ndeps; j++) {
				struct svc *d = s->deps[j];

				if (d->state == SVC_FAILED ||
				    d->state == SVC_BLOCKED) {
					block(s, d);
					ready = false;
					break;
				}
				if (d->state != SVC_RUNNING)
					ready = false;
			}
			if (ready)
				start_init(s);
		}
	} while (g->again);
	g->advancing--;
	check_requests(g);
}

static int
use(struct svc_graph *g, struct svc *s, const char *name, char **cause)
{
	if (s == NULL) {
		*cause = xasprintf("unknown service '%s'", name ? name : "");
		return -1;
	}
	if (on_stack(g, s)) {
		*cause = xasprintf("service '%s' used from its own "
		                   "initialization",
		                   s->desc->name);
		return -1;
	}
	if (g->depth > 0 && g->stack[g->depth - 1].init) {
		const struct svc *from = g->stack[g->depth - 1].s;

		if (!requires_directly(from, s)) {
			*cause = xasprintf("'%s' used '%s' during init without "
			                   "requiring it",
			                   from->desc->name, s->desc->name);
			return -1;
		}
	}
	if (s->state == SVC_RUNNING)
		return 0;
	if (g->stopping && !resolved(s)) {
		*cause = xasprintf("service '%s' cannot start: services are "
		                   "stopping",
		                   s->desc->name);
		return -1;
	}
	want_closure(s);
	advance(g);
	switch (s->state) {
	case SVC_RUNNING: return 0;
	case SVC_FAILED:
	case SVC_BLOCKED:
		*cause = xstrdup(s->error ? s->error : "failed");
		return -1;
	default: return SVC_PENDING;
	}
}

int
svc_use(struct svc_graph *g, const char *name, char **cause)
{
	char *ignored = NULL;
	int rc;

	rc = use(g, svc_graph_find(g, name), name, cause ? cause : &ignored);
	free(ignored);
	return rc;
}

void
svc_start(struct svc_graph *g, const char *name, svc_done_fn cb, void *arg)
{
	struct svc *s = NULL;
	struct svc_req *r, **pp;
	size_t i;

	if (name != NULL && (s = svc_graph_find(g, name)) == NULL) {
		char *cause = xasprintf("unknown service '%s'", name);

		if (cb != NULL)
			cb(g, -1, cause, arg);
		free(cause);
		return;
	}
	if (g->stopping) {
		if (cb != NULL)
			cb(g, -1, "services are stopping", arg);
		return;
	}
	if (s != NULL)
		want_closure(s);
	else
		for (i = 0; i < g->n; i++)
			g->table[i].wanted = true;
	r = xcalloc(1, sizeof(*r));
	r->target = s;
	r->cb = cb;
	r->arg = arg;
	for (pp = &g->reqs; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = r;
	advance(g);
}

void
svc_init_done(struct svc *s, int status, const char *cause)
{
	if (s->state != SVC_STARTING || s->early_init_done) {
		log_debug("ignoring a late init completion of '%s' (%s)",
		          s->desc->name, svc_state_name(s->state));
		return;
	}
	if (s->in_init) {
		s->early_init_done = true;
		s->early_status = status == 0 ? 0 : -1;
		s->early_cause = cause ? xstrdup(cause) : NULL;
		return;
	}
	if (!ev_is_active(&s->init_timer)) {
		log_debug("ignoring an init completion of '%s' with no "
		          "pending init",
		          s->desc->name);
		return;
	}
	init_finished(s, status == 0 ? 0 : -1, cause);
	advance(s->g);
}

static void
svc_init_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct svc *s = w->data;
	char d[32];

	(void)loop;
	(void)revents;
	util_format_duration(init_timeout_of(s), d, sizeof(d));
	init_failed(s, xasprintf("service '%s' did not finish initializing "
	                         "within %s",
	                         s->desc->name, d));
	advance(s->g);
}

/* -- ping --------------------------------------------------------------- */

int
svc_ping(struct svc *s, char **cause)
{
	char *why = NULL;
	int rc;

	if (s->state != SVC_RUNNING) {
		if (cause != NULL)
			*cause =
			    xasprintf("service '%s' is not running (%s)",
			              s->desc->name, svc_state_name(s->state));
		return -1;
	}
	if (on_stack(s->g, s)) {
		if (cause != NULL)
			*cause = xasprintf("service '%s' used from its own "
			                   "initialization",
			                   s->desc->name);
		return -1;
	}
	rc = run_ping(s, &why);
	if (rc == -1 && cause != NULL)
		*cause = why ? why : xstrdup("ping reported unhealthy");
	else
		free(why);
	return rc;
}

/* -- stop --------------------------------------------------------------- */

static void
stop_finished(struct svc *s)
{
	ev_timer_stop(s->g->loop, &s->stop_timer);
	s->g->stop_cur = NULL;
	log_info("stopped '%s'", s->desc->name);
	set_state(s, SVC_STOPPED);
}

static void
stop_complete(struct svc_graph *g)
{
	struct svc_stop_cb *c, *cbs = g->stop_cbs;
	char *cause = NULL;
	int status = 0;

	g->stop_cbs = NULL;
	g->stopping = false;
	if (g->hung.len > 0) {
		status = -1;
		cause = xasprintf("services that did not stop in time: %.*s",
		                  (int)g->hung.len, buf_head(&g->hung));
	}
	buf_reset(&g->hung);
	while ((c = cbs) != NULL) {
		cbs = c->next;
		c->cb(g, status, cause, c->arg);
		free(c);
	}
	free(cause);
}

/* Stop one running service; true while its async stop is under way. */
static bool
stop_one(struct svc_graph *g, struct svc *s)
{
	int rc = 0;

	set_state(s, SVC_STOPPING);
	if (s->state != SVC_STOPPING)
		return false; /* an observer reset the graph */
	s->early_stop_done = false;
	g->stop_cur = s;
	if (s->desc->stop != NULL) {
		s->in_stop++;
		rc = s->desc->stop(s);
		s->in_stop--;
	}
	if (s->state != SVC_STOPPING)
		return false; /* reset from inside stop */
	if (rc == SVC_PENDING && !s->early_stop_done) {
		ev_timer_set(&s->stop_timer, stop_timeout_of(s), 0);
		ev_timer_start(g->loop, &s->stop_timer);
		return true;
	}
	if (rc == -1)
		log_warn("service '%s' reported a failure to stop",
		         s->desc->name);
	stop_finished(s);
	return false;
}

static void
stop_next(struct svc_graph *g)
{
	if (g->stop_walking)
		return;
	g->stop_walking = true;
	while (g->stopping && g->stop_cur == NULL && g->stop_pos > 0) {
		struct svc *s = g->order[--g->stop_pos];

		if (s->state == SVC_RUNNING && stop_one(g, s))
			break;
	}
	g->stop_walking = false;
	if (g->stopping && g->stop_cur == NULL && g->stop_pos == 0)
		stop_complete(g);
}

void
svc_stop_done(struct svc *s)
{
	struct svc_graph *g = s->g;

	if (s->state != SVC_STOPPING || g->stop_cur != s) {
		log_debug("ignoring a late stop completion of '%s' (%s)",
		          s->desc->name, svc_state_name(s->state));
		return;
	}
	if (s->in_stop) {
		s->early_stop_done = true;
		return;
	}
	stop_finished(s);
	stop_next(g);
}

static void
svc_stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct svc *s = w->data;
	struct svc_graph *g = s->g;
	char d[32];

	(void)loop;
	(void)revents;
	util_format_duration(stop_timeout_of(s), d, sizeof(d));
	set_error(s, xasprintf("service '%s' did not stop within %s",
	                       s->desc->name, d));
	log_warn("%s", s->error);
	if (g->hung.len > 0)
		buf_puts(&g->hung, ", ");
	buf_puts(&g->hung, s->desc->name);
	g->stop_cur = NULL;
	set_state(s, SVC_STOPPED);
	stop_next(g);
}

/* Fail every pending start request: stop or reset overtook it. */
static void
cancel_requests(struct svc_graph *g, const char *why)
{
	struct svc_req *r, *reqs = g->reqs;

	g->reqs = NULL;
	while ((r = reqs) != NULL) {
		reqs = r->next;
		if (r->cb != NULL)
			r->cb(g, -1, why, r->arg);
		free(r);
	}
}

void
svc_stop_all(struct svc_graph *g, svc_done_fn cb, void *arg)
{
	struct svc_stop_cb *c, **pp;
	size_t i;

	if (cb != NULL) {
		c = xcalloc(1, sizeof(*c));
		c->cb = cb;
		c->arg = arg;
		for (pp = &g->stop_cbs; *pp != NULL; pp = &(*pp)->next)
			;
		*pp = c;
	}
	if (g->stopping)
		return; /* the running stop calls cb at its end */
	g->stopping = true;
	g->stop_pos = g->n;
	g->stop_cur = NULL;
	buf_reset(&g->hung);
	for (i = 0; i < g->n; i++) {
		struct svc *s = g->order[i];

		s->wanted = false;
		if (s->state == SVC_STARTING) {
			ev_timer_stop(g->loop, &s->init_timer);
			log_info("cancelled the start of '%s'", s->desc->name);
			set_state(s, SVC_STOPPED);
		}
	}
	cancel_requests(g, "start cancelled: services are stopping");
	stop_next(g);
}

/* -- private state and dependencies ------------------------------------ */

void
svc_set_priv(struct svc *s, void *priv)
{
	s->priv = priv;
}

void *
svc_priv(const struct svc *s)
{
	return s->priv;
}

size_t
svc_index(const struct svc *s)
{
	return s->index;
}

struct svc *
svc_dep(struct svc *self, const char *name)
{
	struct svc *d = NULL;

	for (size_t i = 0; i < self->ndeps; i++)
		if (strcmp(self->deps[i]->desc->name, name) == 0)
			d = self->deps[i];
	if (!d) {
		log_err("service '%s' used '%s' without requiring it",
		        self->desc->name, name);
		abort();
	}
	return d->state == SVC_RUNNING || d->state == SVC_STOPPING ? d : NULL;
}

/* -- reset -------------------------------------------------------------- */

void
svc_reset(struct svc_graph *g)
{
	struct svc_stop_cb *c, *cbs = g->stop_cbs;
	size_t i;

	g->stop_cbs = NULL;
	g->stopping = false;
	g->config_refused = false;
	g->stop_cur = NULL;
	g->stop_pos = 0;
	buf_reset(&g->hung);
	for (i = 0; i < g->n; i++) {
		struct svc *s = g->order[i];

		clear_svc(s);
		set_state(s, SVC_INACTIVE);
	}
	cancel_requests(g, "service graph was reset");
	while ((c = cbs) != NULL) {
		cbs = c->next;
		c->cb(g, -1, "service graph was reset", c->arg);
		free(c);
	}
}

/* -- configuration ------------------------------------------------------ */

static const struct svc_conf *
svc_graph_conf_defaults(struct svc_graph *g)
{
	if (!g->defaults)
		g->defaults = svc_conf_load(NULL, g->descs, g->n, NULL);
	return g->defaults;
}

void
svc_graph_set_conf(struct svc_graph *g, const struct svc_conf *c)
{
	g->conf = c;
	for (size_t i = 0; i < g->n; i++)
		g->table[i].opts = NULL; /* looked up again on first use */
}

const struct svc_conf *
svc_graph_conf(struct svc_graph *g)
{
	return g->conf ? g->conf : svc_graph_conf_defaults(g);
}

const void *
svc_options(const struct svc *s)
{
	const void *o = s->opts;

	if (o) /* the hot path: a request asks for its limits */
		return o;
	if (s->g->conf)
		o = svc_conf_options(s->g->conf, s->desc->name);
	if (!o)
		o = svc_conf_options(svc_graph_conf_defaults(s->g),
		                     s->desc->name);
	((struct svc *)s)->opts = o;
	return o;
}

double
svc_stop_timeout(const struct svc *s)
{
	return stop_timeout_of(s);
}
