/*
 * cache.c — the example's cache service (singleton-service's
 * AsyncCacheService): an in-memory cache with a size bound and a time to live,
 * behind an asynchronous init with a timeout.
 *
 * Everything the service is sits in its descriptor at the end of this
 * file: its [cache] section (parsed by libsvcd into struct cache_opts), the
 * async init, the ping, the stop, its control method cache.clear and its
 * member of `svcctl status`.
 *
 * The init returns SVC_PENDING and finishes from the loop: after [cache]
 * connect it reports success, after [cache] connect_timeout failure, as a
 * connection to a real cache server would. If the framework gives up
 * first (a stop during start-up, the descriptor's init_timeout), a graph
 * observer drops the half-made cache, so nothing is left armed.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include "cache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "daemon/conf.h"
#include "daemon/logging.h"
#include "daemon/methods.h"

struct entry {
	char *key;
	char *value;
	double expires; /* ev_now() time */
};

struct cache {
	struct svc *self;
	struct ev_loop *loop;
	ev_timer connect; /* the simulated connection */
	ev_timer timeout; /* connect_timeout */
	bool observing;
	struct entry *v; /* oldest first */
	size_t n, cap;
	uint64_t hits, misses, evictions;
};

static void on_state(struct svc *s, enum svc_state from, enum svc_state to,
                     void *arg);

static const struct cache_opts *
opts(const struct cache *c)
{
	return svc_options(c->self);
}

static void
entry_free(struct entry *e)
{
	free(e->key);
	free(e->value);
}

static void
drop_at(struct cache *c, size_t i)
{
	entry_free(&c->v[i]);
	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
	c->n--;
}

/* Stop the timers and the observer, free everything, forget the cache. */
static void
cache_drop(struct cache *c)
{
	ev_timer_stop(c->loop, &c->connect);
	ev_timer_stop(c->loop, &c->timeout);
	if (c->observing)
		svc_graph_remove_observer(svc_graph(c->self), on_state, c);
	for (size_t i = 0; i < c->n; i++)
		entry_free(&c->v[i]);
	free(c->v);
	svc_set_priv(c->self, NULL);
	free(c);
}

struct cache *
cache_of(struct svc *self)
{
	struct svc *dep = svc_dep(self, "cache");

	return dep ? svc_priv(dep) : NULL;
}

const char *
cache_get(struct cache *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].key, key) != 0)
			continue;
		if (c->v[i].expires <= ev_now(c->loop)) {
			drop_at(c, i);
			break;
		}
		c->hits++;
		return c->v[i].value;
	}
	c->misses++;
	return NULL;
}

void
cache_put(struct cache *c, const char *key, const char *value)
{
	const struct cache_opts *o = opts(c);

	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0) {
			drop_at(c, i);
			break;
		}
	while (c->n > 0 && c->n >= o->size) {
		drop_at(c, 0);
		c->evictions++;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct entry *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			abort(); /* out of memory, as libsvcd itself does */
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].key = strdup(key);
	c->v[c->n].value = strdup(value);
	if (!c->v[c->n].key || !c->v[c->n].value)
		abort();
	c->v[c->n].expires = ev_now(c->loop) + o->ttl;
	c->n++;
}

size_t
cache_count(const struct cache *c)
{
	return c->n;
}

/* -- the asynchronous init ------------------------------------------------ */

static void
connected_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cache *c = w->data;

	ev_timer_stop(loop, &c->timeout);
	svc_graph_remove_observer(svc_graph(c->self), on_state, c);
	c->observing = false;
	svcd_log_info("cache: connected");
	svc_init_done(c->self, 0, NULL);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cache *c = w->data;
	struct svc *self = c->self;
	char why[96];

	snprintf(why, sizeof(why), "connecting timed out after %g s",
	         opts(c)->connect_timeout);
	cache_drop(c);
	svc_init_done(self, -1, why);
}

/* The framework ended the start before the cache did (a stop during
 * start-up, the descriptor's init_timeout): drop it. */
static void
on_state(struct svc *s, enum svc_state from, enum svc_state to, void *arg)
{
	struct cache *c = arg;

	if (s == c->self && from == SVC_STARTING && to != SVC_RUNNING)
		cache_drop(c);
}

static int
cache_init(struct svc *self, char **cause)
{
	const struct cache_opts *o = svc_options(self);
	struct cache *c = calloc(1, sizeof(*c));

	if (!c) {
		*cause = strdup("out of memory");
		return -1;
	}
	c->self = self;
	c->loop = svc_loop(self);
	ev_now_update(c->loop); /* the timers count from now, not the loop's
	                         * last wake-up */
	ev_timer_init(&c->connect, connected_cb, o->connect, 0);
	ev_timer_init(&c->timeout, timeout_cb, o->connect_timeout, 0);
	c->connect.data = c->timeout.data = c;
	ev_timer_start(c->loop, &c->connect);
	ev_timer_start(c->loop, &c->timeout);
	svc_graph_add_observer(svc_graph(self), on_state, c);
	c->observing = true;
	svc_set_priv(self, c);
	svcd_log_info("cache: connecting (size %zu, ttl %g s)", o->size,
	              o->ttl);
	return SVC_PENDING;
}

static int
cache_ping(struct svc *self, char **cause)
{
	const struct cache *c = svc_priv(self);

	if (c && c->n <= opts(c)->size)
		return 0;
	*cause = strdup("cache: over its size bound");
	return -1;
}

static int
cache_stop(struct svc *self)
{
	struct cache *c = svc_priv(self);

	if (c) {
		svcd_log_info("cache: %zu entries dropped", c->n);
		cache_drop(c);
	}
	return 0;
}

/* A smaller size applies at once: the oldest entries go. */
static int
cache_reload(struct svc *self, const void *old, const void *new, char **cause)
{
	struct cache *c = svc_priv(self);
	const struct cache_opts *o = new;

	while (c && c->n > o->size) {
		drop_at(c, 0);
		c->evictions++;
	}
	return 0;
}

/* Its member of `svcctl status`. */
static json_t *
cache_figures(struct svc *self)
{
	const struct cache *c = svc_priv(self);

	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I}", "entries", (json_int_t)c->n, "size",
	    (json_int_t)opts(c)->size, "hits", (json_int_t)c->hits, "misses",
	    (json_int_t)c->misses, "evictions", (json_int_t)c->evictions);
}

/* -- control methods ------------------------------------------------------ */

/* cache.clear: drop every entry. The framework has checked the caller's
 * access (admin) and that the cache runs before this is called. */
static const struct svc_reply *
m_cache_clear(struct svc *self, struct svc_call *call)
{
	struct cache *c = svc_priv(self);
	size_t n = c->n;

	while (c->n > 0)
		drop_at(c, c->n - 1);
	svcd_log_info("cache: cleared (%zu entries) by %s", n,
	              svc_call_source(call));
	return svc_call_ok(call, json_pack("{s:I}", "dropped", (json_int_t)n));
}

static const struct svc_method cache_methods[] = {
    {.name = "cache.clear",
     .fn = m_cache_clear,
     .access = SVC_ACCESS_ADMIN,
     .flags = SVC_M_LIVE,
     .doc = "drop every entry"},
};

/* -- the [cache] section -------------------------------------------------- */

static const struct svc_conf_item cache_items[] = {
    {.key = "size",
     .type = &svc_conf_count,
     .off = offsetof(struct cache_opts, size),
     .dflt = "1024",
     .min = "1",
     .max = "1000000",
     .doc = "entries kept; the oldest goes first"},
    {.key = "ttl",
     .type = &svc_conf_duration,
     .off = offsetof(struct cache_opts, ttl),
     .dflt = "60s",
     .min = "1ms",
     .max = "1d",
     .doc = "how long an entry stays valid"},
    {.key = "connect",
     .type = &svc_conf_duration,
     .off = offsetof(struct cache_opts, connect),
     .dflt = "100ms",
     .min = "0",
     .max = "1h",
     .flags = SVC_CONF_RESTART,
     .doc = "how long connecting takes (simulated)"},
    {.key = "connect_timeout",
     .type = &svc_conf_duration,
     .off = offsetof(struct cache_opts, connect_timeout),
     .dflt = "5s",
     .min = "1ms",
     .max = "1h",
     .flags = SVC_CONF_RESTART,
     .doc = "the init fails when connecting takes longer"},
};

static const struct svc_conf_section cache_section = {
    .name = "cache",
    SVC_CONF_ITEMS(cache_items),
    .doc = "the example's cache",
};

const struct svc_desc cache_service = {
    .name = "cache",
    .init = cache_init,
    .ping = cache_ping,
    .stop = cache_stop,
    .init_timeout = 3600, /* its own connect_timeout comes first */
    .conf = SVC_CONF_SECTIONS(&cache_section),
    .conf_size = sizeof(struct cache_opts),
    .reload = cache_reload,
    SVC_METHODS(cache_methods),
    .figures = cache_figures,
};
