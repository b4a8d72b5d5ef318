/*
 * user.c — the example's user service (singleton-service's AsyncUserService):
 * it requires the cache, answers from it when it can and from the "database"
 * otherwise, and offers that as the control method user.get, which
 * `svcctl call user.get '{"id":1}'` reaches.
 */
#include "user.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "cache.h"
#include "daemon/logging.h"
#include "daemon/methods.h"

json_t *
user_get(struct svc *user, uint64_t id)
{
	struct cache *c = cache_of(user);
	char key[32], name[32];
	const char *cached;

	if (!c)
		return NULL;
	snprintf(key, sizeof(key), "user:%" PRIu64, id);
	if ((cached = cache_get(c, key)) != NULL)
		return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
		                 "name", cached, "source", "cache");
	/* the database lookup (made up), then into the cache */
	snprintf(name, sizeof(name), "User %" PRIu64, id);
	cache_put(c, key, name);
	return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "name", name,
	                 "source", "database");
}

/* user.get {"id": N}: the framework has checked the params (id is an
 * unsigned integer and present) and that cache runs before this is called. */
static const struct svc_reply *
m_user_get(struct svc *self, struct svc_call *call)
{
	json_t *user = user_get(self, svc_call_uint(call, "id", 0));

	if (!user)
		return svc_call_fail(call, SVC_ERR_UNAVAILABLE,
		                     "service 'cache' is not running");
	return svc_call_ok(call, user);
}

static const struct svc_param user_get_params[] = {
    {.name = "id", .type = SVC_P_UINT, .required = true},
};

static const struct svc_method user_methods[] = {
    {.name = "user.get",
     .fn = m_user_get,
     .access = SVC_ACCESS_READ,
     SVC_PARAMS(user_get_params),
     .needs = SVC_NEEDS("cache"),
     .doc = "a user, from the cache when it has it"},
};

static int
user_init(struct svc *self, char **cause)
{
	svcd_log_info("user: initialized");
	return 0;
}

const struct svc_desc user_service = {
    .name = "user",
    .requires = SVC_REQUIRES("cache"),
    .init = user_init,
    SVC_METHODS(user_methods),
};
