/*
 * cache.h — the example's cache service (singleton-service's
 * AsyncCacheService).
 *
 * A small in-memory key/value cache with a size bound and a time to live,
 * behind an asynchronous init: "connecting" takes [cache] connect and
 * fails after [cache] connect_timeout, as a connection to a real cache
 * server would. A service that requires "cache" reaches it with
 * cache_of(self). Control method: cache.clear (admin) drops every entry.
 *
 * The includes name libsvcd's headers by their layer ("daemon/service.h"):
 * the same spelling finds them in an installed libsvcd (pkg-config's
 * -I.../include/svcd) and in svcd's own tree (-I.), so this file and
 * cache.c also build as services/cache.{c,h} of svcd.
 */
#ifndef EXAMPLE_CACHE_H
#define EXAMPLE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/service.h"

extern const struct svc_desc cache_service;

struct cache;

/* [cache]: the service's options (parsed by libsvcd from its section). */
struct cache_opts {
	size_t size;            /* entries kept; the oldest goes first */
	double ttl;             /* seconds an entry stays valid */
	double connect;         /* seconds the (simulated) connection takes */
	double connect_timeout; /* init fails after this many seconds */
};

/* The running cache of a service that requires "cache"; NULL if the cache
 * is not running. */
struct cache *cache_of(struct svc *self);

/* The value stored under key (borrowed until the next put), or NULL if
 * there is none or it expired. Counts a hit or a miss. */
const char *cache_get(struct cache *c, const char *key);
/* Store a copy of value under key, replacing what was there. */
void cache_put(struct cache *c, const char *key, const char *value);
/* Entries held now (expired ones included until they are looked up). */
size_t cache_count(const struct cache *c);

#endif
