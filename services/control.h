/*
 * control.h — the control service: JSON-RPC 2.0 over a Unix stream socket
 * (docs/protocol.md). Newline-delimited requests, pipelined, replies in order;
 * subscribers receive `event` notifications straight from the bus's cached
 * wire lines. The socket path is [daemon] socket (struct control_conf).
 *
 * It is the transport of the control methods: at init it gathers every
 * service's methods from the graph (daemon/methods.h; a duplicate name
 * fails the init) and supplies what a handler needs from the connection
 * (credentials, subscriptions, deferred replies, shutdown progress). It
 * owns hello, ping, status (a loop over the services' figures) and
 * services.
 */
#ifndef SVCD_CONTROL_H
#define SVCD_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/service.h"

extern const struct svc_desc control_service;

/* [daemon] socket (restart-only) and [control]. */
struct control_conf {
	char *socket;         /* default /run/svcd/svcd.sock */
	uint64_t max_request; /* default 1 MiB */
	unsigned max_clients; /* default 1024 */
	uint64_t output_soft; /* per-client output soft limit, 1 MiB */
	uint64_t output_hard; /* hard limit, default 8 MiB */
	char *group;          /* socket group, NULL = daemon's group */
	char *emit_group;     /* may emit/schedule/cancel; NULL = none */
	char *admin_group;    /* may shutdown/reload; NULL = none */
};
/* The control service's options (it must have been started once). */
const struct control_conf *control_conf(void);

struct control_stats {
	size_t clients;
	uint64_t accepted;
	uint64_t requests;
	uint64_t errors;
	uint64_t rejected;          /* over max_clients */
	uint64_t disconnected_slow; /* past the output hard limit */
};
void control_get_stats(struct control_stats *out);
json_t *control_stats_json(void);

/*
 * Test hooks for tests/fuzz (never called by svcd): adopt fd, a connected
 * non-blocking AF_UNIX stream socket, as an accepted client; drop every
 * client at once (their fds are closed).
 */
void ctl_test_adopt(int fd);
void ctl_test_drop_all(void);

#endif
