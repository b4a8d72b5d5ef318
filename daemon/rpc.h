/*
 * rpc.h — JSON-RPC 2.0 framing for the control socket: the error table,
 * request envelope validation, parameter specs and reply writers.
 *
 * Nothing here knows about sockets or clients: a request line goes in, a
 * validated struct rpc_req (or an error) comes out, and replies are appended
 * to a struct buf as one line each, newline included.
 */
#ifndef SVCD_RPC_H
#define SVCD_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "daemon/params.h"
#include "daemon/util.h"
#include "daemon/wire.h"

/* A parsed request. root owns everything; the other pointers borrow it. */
struct rpc_req {
	json_t *root;
	json_t *id; /* NULL: a notification (never answered) */
	const char *method;
	json_t *params; /* always an object (empty when absent) */
};

/*
 * Parse one line (without its newline) and check the envelope. Returns 0
 * with *req filled, or -1 with *err and *msg (an allocated message) set;
 * *answer then says whether the error is to be sent (false only for an
 * error in a valid notification: an object with a valid envelope and no
 * "id"; a parse error or an invalid request is always answered) and
 * req->id is the id to echo (NULL when unknown: "id":null). Either way,
 * release req with rpc_req_clear. "params": [] is taken as no params.
 */
int rpc_parse(const char *line, size_t len, struct rpc_req *req,
              enum rpc_err *err, char **msg, bool *answer);
/* The two halves of rpc_parse. rpc_load: the JSON value of a line (new
 * reference), or NULL with *msg (allocated) for a ParseError. */
json_t *rpc_load(const char *line, size_t len, char **msg);
/* rpc_envelope: as rpc_parse, for a value already loaded (root stolen:
 * rpc_req_clear releases it, whatever the outcome). */
int rpc_envelope(json_t *root, struct rpc_req *req, enum rpc_err *err,
                 char **msg, bool *answer);
void rpc_req_clear(struct rpc_req *req);

/*
 * Parameter specs (daemon/params.h) are checked centrally before a handler
 * runs. Check params against a spec of n entries: unknown names, missing
 * required ones and wrong types. 0, or -1 with *msg allocated
 * (InvalidParams).
 */
int rpc_check_params(json_t *params, const struct svc_param *spec, size_t n,
                     char **msg);
/*
 * A SVC_P_DURATION value in seconds, checked by the config's parser and
 * range (daemon/util.h util_parse_duration_max): a string needs a unit, an
 * integer is milliseconds, 0 < d <= max. rpc_duration uses the range of a
 * task, up to 30d. 0, or -1 with *msg allocated (InvalidParams).
 */
int rpc_duration(json_t *v, const char *name, double *seconds, char **msg);
int rpc_duration_max(json_t *v, const char *name, double max,
                     const char *max_text, double *seconds, char **msg);

/* Reply writers; id NULL writes "id":null. Each appends one line. */
void rpc_put_id(struct buf *out, json_t *id);
/* `{"jsonrpc":"2.0","id":ID,"result":` — the caller appends the result
 * text and then rpc_put_tail. */
void rpc_put_head(struct buf *out, json_t *id);
void rpc_put_tail(struct buf *out);
void rpc_put_result(struct buf *out, json_t *id, json_t *result);
void rpc_put_error(struct buf *out, json_t *id, enum rpc_err e,
                   const char *msg);
/* `{"jsonrpc":"2.0","method":M,"params":P}\n`; params borrowed, NULL = {} */
void rpc_put_notification(struct buf *out, const char *method, json_t *params);

#endif
