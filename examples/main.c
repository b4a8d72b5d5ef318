/*
 * main.c — the example daemon: svcd's whole process (options, config,
 * control socket, sd_notify, signals, reload, graceful stop) around a
 * table of its own two services. libsvcd adds the core services (manager,
 * worker, bus, health, control) in front of them.
 */
#include <svcd.h>

#include "cache.h"
#include "user.h"

static const struct svc_desc *const table[] = {
    &cache_service, /* async init with a timeout, its own [cache] */
    &user_service,  /* requires cache; the control method user.get */
};

int
main(int argc, char **argv)
{
	return svcd_main(argc, argv, table, sizeof(table) / sizeof(table[0]));
}
