/*
 * user.h — the example's user service (singleton-service's AsyncUserService).
 *
 * Requires cache. user_get(id) answers from the cache when it can and
 * from the "database" (here: made up) otherwise, then caches the answer.
 * Control method: user.get {"id": N} (any client that can connect).
 */
#ifndef EXAMPLE_USER_H
#define EXAMPLE_USER_H

#include <stdint.h>

#include <jansson.h>

#include "daemon/service.h"

extern const struct svc_desc user_service;

/* {"id": N, "name": "User N", "source": "cache" | "database"}: a new
 * reference; NULL if the cache is not running. */
json_t *user_get(struct svc *user, uint64_t id);

#endif
