/*
 * wire.h — what svcd and svcctl share on the wire (docs/protocol.md): the
 * protocol version, the error codes and classes, and the names of the
 * methods and notifications svcctl uses. Base layer: no svcd types, no
 * jansson; svcctl links wire.o with util.o and nothing else of svcd.
 */
#ifndef SVCD_WIRE_H
#define SVCD_WIRE_H

#include <stdbool.h>

/* The version `hello` reports as "protocol". */
#define WIRE_PROTOCOL_VERSION 1

/* Every error svcd answers with; rpc_err_code / rpc_err_class map them. */
enum rpc_err {
	RPC_PARSE_ERROR,      /* -32700 ParseError */
	RPC_INVALID_REQUEST,  /* -32600 InvalidRequest */
	RPC_METHOD_NOT_FOUND, /* -32601 MethodNotFound */
	RPC_INVALID_PARAMS,   /* -32602 InvalidParams */
	RPC_INTERNAL,         /* -32603 Internal */
	RPC_SHUTTING_DOWN,    /* -32000 ShuttingDown */
	RPC_QUEUE_FULL,       /* -32001 QueueFull */
	RPC_PERMISSION,       /* -32002 PermissionDenied */
	RPC_NOT_FOUND,        /* -32003 NotFound */
	RPC_UNAVAILABLE,      /* -32004 Unavailable */
	RPC_TOO_LARGE,        /* -32005 TooLarge */
	RPC_BUSY,             /* -32006 Busy */
	RPC_INVALID_CONFIG,   /* -32007 InvalidConfig */
	RPC_ERR_COUNT,
};

/* The JSON-RPC "code" and the "data":{"class"} of an error. */
int rpc_err_code(enum rpc_err e);
const char *rpc_err_class(enum rpc_err e);
/* The error of class cls ("QueueFull"): true with *e set, false if cls is
 * NULL or no class svcd sends (a newer daemon may add some). */
bool wire_err_from_class(const char *cls, enum rpc_err *e);

/* Methods (requests) svcctl sends. */
#define WIRE_M_HELLO       "hello"
#define WIRE_M_PING        "ping"
#define WIRE_M_EMIT        "emit"
#define WIRE_M_HEALTH      "health"
#define WIRE_M_STATUS      "status"
#define WIRE_M_SERVICES    "services"
#define WIRE_M_TASKS       "tasks"
#define WIRE_M_HOOKS       "hooks"
#define WIRE_M_SCHEDULE    "schedule"
#define WIRE_M_CANCEL      "cancel"
#define WIRE_M_SUBSCRIBE   "subscribe"
#define WIRE_M_UNSUBSCRIBE "unsubscribe"
#define WIRE_M_EVENTS      "events"
#define WIRE_M_SHUTDOWN    "shutdown"
#define WIRE_M_RELOAD      "reload"
#define WIRE_M_METRICS     "metrics"

/* Notifications svcd sends (requests without an id). */
#define WIRE_N_EVENT             "event"
#define WIRE_N_EVENTS_LOST       "events.lost"
#define WIRE_N_SHUTDOWN_PROGRESS "shutdown.progress"
#define WIRE_N_SHUTDOWN_EXIT     "shutdown.exit"

#endif
