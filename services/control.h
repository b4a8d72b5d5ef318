/*
 * control.h — the control service: JSON-RPC 2.0 over a Unix stream socket
 * (docs/protocol.md). Newline-delimited requests, pipelined, replies in order;
 * subscribers receive `event` notifications straight from the bus's cached
 * wire lines. The socket path comes from conf_get()->socket.
 */
#ifndef SVCD_CONTROL_H
#define SVCD_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "service.h"

extern const struct svc_desc control_service;

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

#endif
