/*
 * methods.h — control methods: what a service declares (struct svc_method
 * in its descriptor's .methods), the API a handler uses (svc_call_*), and
 * the generic dispatcher a transport (the control service) runs a request
 * line through.
 *
 * The dispatcher gathers every descriptor's methods from the running graph
 * and checks, in order: the envelope, the method name, batch refusal, the
 * caller's access level, the params against the method's spec (unknown,
 * missing, wrong type), shutdown (SVC_M_LIVE methods), and the services
 * the method needs (Unavailable "service 'x' is not running"). Only then
 * does the handler run, so a rejected request never has a side effect and
 * a handler only does its job. A fast handler (svcd's own ping and emit)
 * runs behind the same checks, read from the same table.
 *
 * Public (installed): what a service needs to declare and implement its
 * methods. The dispatcher itself, the transport interface and the fast
 * handlers' reply helpers are internal (daemon/methods-int.h).
 */
#ifndef SVCD_METHODS_H
#define SVCD_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/params.h"
#include "daemon/service.h"

struct svc_call;        /* one request being handled */
struct svc_reply;       /* what a handler returns (opaque: the compiler checks
                         * that every path of a handler returns one) */
struct fastscan_req;    /* daemon/fastscan.h (internal) */
struct fastscan_member; /* daemon/fastscan.h (internal) */
struct buf;             /* daemon/util.h (internal) */

enum svc_access {
	SVC_ACCESS_READ,  /* anyone who can connect */
	SVC_ACCESS_EMIT,  /* root, the daemon's uid, [control] emit_group */
	SVC_ACCESS_ADMIN, /* root, the daemon's uid, [control] admin_group */
};

/* The error classes of docs/protocol.md a handler may answer with. The
 * values are those of enum rpc_err (daemon/wire.h), which the dispatcher
 * checks at compile time. */
enum svc_err {
	SVC_ERR_INVALID_REQUEST = 1, /* InvalidRequest */
	SVC_ERR_INVALID_PARAMS = 3,  /* InvalidParams */
	SVC_ERR_INTERNAL = 4,        /* Internal */
	SVC_ERR_SHUTTING_DOWN = 5,   /* ShuttingDown */
	SVC_ERR_QUEUE_FULL = 6,      /* QueueFull */
	SVC_ERR_PERMISSION = 7,      /* PermissionDenied */
	SVC_ERR_NOT_FOUND = 8,       /* NotFound */
	SVC_ERR_UNAVAILABLE = 9,     /* Unavailable */
	SVC_ERR_TOO_LARGE = 10,      /* TooLarge */
	SVC_ERR_BUSY = 11,           /* Busy */
	SVC_ERR_INVALID_CONFIG = 12, /* InvalidConfig */
};

#define SVC_M_LIVE     0x1u /* changes state: refused while shutting down */
#define SVC_M_NO_BATCH 0x2u /* cannot be part of a batch */
/* cannot be part of a batch when its "wait" param is true */
#define SVC_M_NO_BATCH_WAIT 0x4u

typedef const struct svc_reply *(*svc_method_fn)(struct svc *self,
                                                 struct svc_call *call);
/*
 * A fast handler (svcd's own; daemon/methods-int.h): the request as the
 * scanner saw it (daemon/fastscan.h), already through every central check;
 * p[k] is the member of params that is the method's params[k] (NULL:
 * absent), checked against the spec. Returns a methods_outcome with the
 * reply appended to out (svc_fast_head / svc_fast_end), or -1 with nothing
 * written and no side effect: the request then takes the general path. A
 * service of one's own leaves .fast NULL.
 */
typedef int (*svc_fast_fn)(struct svc *self, struct svc_call *call,
                           const struct fastscan_req *f,
                           const struct fastscan_member *const *p,
                           struct buf *out);

struct svc_method {
	const char *name; /* a service's own methods are best prefixed with
	                   * its name and a dot: "user.get" */
	svc_method_fn fn;
	enum svc_access access;
	unsigned flags; /* SVC_M_* */
	const struct svc_param *params;
	size_t nparams;
	/* NULL-terminated: services that must be running, else Unavailable
	 * before the handler runs. Each must be in the owner's requires (the
	 * owner itself is always needed). */
	const char *const *needs;
	svc_fast_fn fast; /* optional */
	const char *doc;  /* one line */
};
#define SVC_PARAMS(p)  .params = (p), .nparams = SVC_ARRAY_SIZE(p)
#define SVC_METHODS(m) .methods = (m), .nmethods = SVC_ARRAY_SIZE(m)
#define SVC_NEEDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- ending a handler: exactly one of these is returned ----------------- */

/* Success with a JSON result (steals result). */
const struct svc_reply *svc_call_ok(struct svc_call *c, json_t *result);
const struct svc_reply *svc_call_fail(struct svc_call *c, enum svc_err e,
                                      const char *fmt, ...)
    SVC_PRINTF_LIKE(3, 4);
/* Nothing written and nothing done: the transport stops reading this
 * client and runs the same line again later (emit with wait on a full bus:
 * once it has room). In a batch it becomes QueueFull. */
const struct svc_reply *svc_call_pending(struct svc_call *c);
/* The reply was handed to the transport (svc_call_defer): it goes out
 * later. */
const struct svc_reply *svc_call_deferred(struct svc_call *c);

/* ---- params: checked against the spec before the handler runs ----------- */

json_t *svc_call_param(struct svc_call *c, const char *name); /* borrowed */
const char *svc_call_string(struct svc_call *c, const char *name,
                            const char *dflt);
bool svc_call_bool(struct svc_call *c, const char *name, bool dflt);
uint64_t svc_call_uint(struct svc_call *c, const char *name, uint64_t dflt);
/* A param's JSON text as it came in (compacted), so numbers are never
 * rewritten; serialised from the tree when the text cannot be located.
 * New string (free it), NULL when absent. */
char *svc_call_param_text(struct svc_call *c, const char *name);
/* The request id (borrowed; NULL for a notification). */
json_t *svc_call_id(struct svc_call *c);
/* Part of a batch? */
bool svc_call_in_batch(const struct svc_call *c);

/* ---- the caller, through the transport ---------------------------------- */

/* "control uid=U pid=P", for logs and event sources (borrowed). */
const char *svc_call_source(struct svc_call *c);
unsigned long svc_call_uid(struct svc_call *c);
long svc_call_pid(struct svc_call *c);
/*
 * Subscribe (or re-subscribe) the caller to patterns (copied; n 0 = every
 * event). With replay, history events with since < seq <= upto are sent
 * first; live delivery starts after upto.
 */
void svc_call_subscribe(struct svc_call *c, const char *const *patterns,
                        size_t n, bool replay, uint64_t since, uint64_t upto);
/* true if it was subscribed. */
bool svc_call_unsubscribe(struct svc_call *c);
/*
 * Answer this request {"seq":seq,"listeners":matched} only once event seq
 * is durable (the bus's durability provider); the caller processes no
 * further request until then. In a batch the whole batch reply waits for
 * the last such seq. 0 (return svc_call_deferred, or in a batch go on and
 * write the reply), or -1 when the transport cannot wait.
 */
int svc_call_defer(struct svc_call *c, uint64_t seq, size_t matched);
/* Send the caller shutdown progress notifications until the exit. */
void svc_call_wait_shutdown(struct svc_call *c);

#endif
