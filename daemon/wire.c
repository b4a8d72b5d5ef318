/* wire.c — the error table shared by svcd and svcctl. */
#include "daemon/wire.h"

#include <stddef.h>
#include <string.h>

static const struct {
	int code;
	const char *class;
} wire_errors[RPC_ERR_COUNT] = {
    [RPC_PARSE_ERROR] = {-32700, "ParseError"},
    [RPC_INVALID_REQUEST] = {-32600, "InvalidRequest"},
    [RPC_METHOD_NOT_FOUND] = {-32601, "MethodNotFound"},
    [RPC_INVALID_PARAMS] = {-32602, "InvalidParams"},
    [RPC_INTERNAL] = {-32603, "Internal"},
    [RPC_SHUTTING_DOWN] = {-32000, "ShuttingDown"},
    [RPC_QUEUE_FULL] = {-32001, "QueueFull"},
    [RPC_PERMISSION] = {-32002, "PermissionDenied"},
    [RPC_NOT_FOUND] = {-32003, "NotFound"},
    [RPC_UNAVAILABLE] = {-32004, "Unavailable"},
    [RPC_TOO_LARGE] = {-32005, "TooLarge"},
    [RPC_BUSY] = {-32006, "Busy"},
    [RPC_INVALID_CONFIG] = {-32007, "InvalidConfig"},
};

int
rpc_err_code(enum rpc_err e)
{
	return wire_errors[e].code;
}

const char *
rpc_err_class(enum rpc_err e)
{
	return wire_errors[e].class;
}

bool
wire_err_from_class(const char *cls, enum rpc_err *e)
{
	if (!cls)
		return false;
	for (size_t i = 0; i < RPC_ERR_COUNT; i++) {
		if (strcmp(wire_errors[i].class, cls) == 0) {
			*e = (enum rpc_err)i;
			return true;
		}
	}
	return false;
}
