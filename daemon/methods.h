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
 */
#ifndef SVCD_METHODS_H
#define SVCD_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "daemon/rpc.h"
#include "daemon/service.h"
#include "daemon/util.h"

struct svc_call;  /* one request being handled */
struct svc_reply; /* what a handler returns (opaque: the compiler checks
                   * that every path of a handler returns one) */
#include "daemon/fastscan.h"

enum svc_access {
	SVC_ACCESS_READ,  /* anyone who can connect */
	SVC_ACCESS_EMIT,  /* root, the daemon's uid, [control] emit_group */
	SVC_ACCESS_ADMIN, /* root, the daemon's uid, [control] admin_group */
};

/* The error classes of docs/protocol.md a handler may answer with. */
enum svc_err {
	SVC_ERR_INVALID_REQUEST = RPC_INVALID_REQUEST,
	SVC_ERR_INVALID_PARAMS = RPC_INVALID_PARAMS,
	SVC_ERR_INTERNAL = RPC_INTERNAL,
	SVC_ERR_SHUTTING_DOWN = RPC_SHUTTING_DOWN,
	SVC_ERR_QUEUE_FULL = RPC_QUEUE_FULL,
	SVC_ERR_PERMISSION = RPC_PERMISSION,
	SVC_ERR_NOT_FOUND = RPC_NOT_FOUND,
	SVC_ERR_UNAVAILABLE = RPC_UNAVAILABLE,
	SVC_ERR_TOO_LARGE = RPC_TOO_LARGE,
	SVC_ERR_BUSY = RPC_BUSY,
	SVC_ERR_INVALID_CONFIG = RPC_INVALID_CONFIG,
};

#define SVC_M_LIVE     0x1u /* changes state: refused while shutting down */
#define SVC_M_NO_BATCH 0x2u /* cannot be part of a batch */
/* cannot be part of a batch when its "wait" param is true */
#define SVC_M_NO_BATCH_WAIT 0x4u

typedef const struct svc_reply *(*svc_method_fn)(struct svc *self,
                                                 struct svc_call *call);
/*
 * A fast handler: the request as the scanner saw it (daemon/fastscan.h),
 * already through every central check; p[k] is the member of params that
 * is the method's params[k] (NULL: absent), checked against the spec.
 * Returns a methods_outcome with the reply appended to out (svc_fast_head
 * / svc_fast_end), or -1 with nothing written and no side effect: the
 * request then takes the general path.
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
#define SVC_PARAMS(p)  .params = (p), .nparams = sizeof(p) / sizeof((p)[0])
#define SVC_METHODS(m) .methods = (m), .nmethods = sizeof(m) / sizeof((m)[0])
#define SVC_NEEDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- ending a handler: exactly one of these is returned ----------------- */

/* Success with a JSON result (steals result). */
const struct svc_reply *svc_call_ok(struct svc_call *c, json_t *result);
const struct svc_reply *svc_call_fail(struct svc_call *c, enum svc_err e,
                                      const char *fmt, ...) PRINTF_LIKE(3, 4);
/*
 * A result written as JSON text: svc_call_raw gives the buffer to append
 * the result value to (NULL for a notification: write nothing), then
 * return svc_call_raw_done(c).
 */
struct buf *svc_call_raw(struct svc_call *c);
const struct svc_reply *svc_call_raw_done(struct svc_call *c);
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

/* ---- fast handlers ------------------------------------------------------ */

/* A reply up to its result, with room for `more` bytes after (one reserve
 * per reply, then plain stores); NULL for a notification (write nothing).
 * End it with svc_fast_end at w. Inline: this is the hot path. */
static inline char *
svc_fast_head(struct buf *out, const struct fastscan_req *f, size_t more)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	const char *id = f->id;
	size_t n = f->id_len;
	char *w;

	if (!id)
		return NULL;
	buf_reserve(out, 32 + n + more);
	w = buf_tail(out);
	memcpy(w, head, sizeof(head) - 1);
	w += sizeof(head) - 1;
	/* ids are short: a loop beats a call to memcpy */
	for (size_t i = 0; i < n; i++)
		w[i] = id[i];
	w += n;
	memcpy(w, ",\"result\":", 10);
	return w + 10;
}

static inline void
svc_fast_end(struct buf *out, const char *w)
{
	if (w)
		out->len = (size_t)(w - buf_head(out));
}

/* ---- the dispatcher (for a transport) ----------------------------------- */

enum methods_outcome {
	METHODS_OK,       /* answered with a result (or a notification ran) */
	METHODS_ERROR,    /* answered with an error (or would have been) */
	METHODS_PENDING,  /* a handler asked to wait (emit on a full queue):
	                   * retry the same line later; nothing was written */
	METHODS_DEFERRED, /* done, but the reply comes later (svc_call_defer):
	                   * the line is consumed and the client waits */
};

/* Requests in one batch (a JSON array on one line); more: one TooLarge. */
#define METHODS_MAX_BATCH 256
/* Past this much reply text, a batch's remaining requests are not run. */
#define METHODS_BATCH_REPLY_MAX (4u << 20)

/* What a handler needs from the connection, supplied by the transport. */
struct svc_transport {
	bool (*allowed)(void *conn, enum svc_access a);
	const char *(*source)(void *conn);
	unsigned long (*uid)(void *conn);
	long (*pid)(void *conn);
	void (*subscribe)(void *conn, const char *const *patterns, size_t n,
	                  bool replay, uint64_t since, uint64_t upto);
	bool (*unsubscribe)(void *conn);
	/* a single reply: {"seq","listeners"} for id once seq is durable */
	int (*defer_emit)(void *conn, json_t *id, uint64_t seq, size_t matched);
	/* a batch's reply line (copied), once seq is durable */
	int (*defer_text)(void *conn, const struct buf *text, uint64_t seq);
	void (*wait_shutdown)(void *conn);
	/* is the daemon shutting down (SVC_M_LIVE methods refused)? */
	bool (*shutting_down)(void);
};

struct methods_table;

/*
 * The dispatch table of graph g: every descriptor's methods, in table
 * order. NULL with *cause on a duplicate method name ("duplicate method
 * 'x' (services 'a' and 'b')") or a need that is not in the owner's
 * requires.
 */
struct methods_table *methods_table_new(struct svc_graph *g, char **cause);
/* Free it before its graph (it observes the graph's states). */
void methods_table_free(struct methods_table *t);
/* The method names in table order, as a new JSON array. */
json_t *methods_names(const struct methods_table *t);

/*
 * Run one request line (no newline); replies are appended to out. A line
 * holding a JSON array is a batch (JSON-RPC 2.0 §6): its replies go out as
 * one array on one line; it is never METHODS_PENDING. The byte at
 * line[len] must be readable and whitespace — the line's own '\n' (or the
 * '\r' before it): the fast scanner uses it as a sentinel.
 */
enum methods_outcome methods_dispatch(const struct methods_table *t,
                                      const struct svc_transport *tr,
                                      void *conn, const char *line, size_t len,
                                      struct buf *out);
/*
 * Tests only: turn the fast handlers off (every request then takes the
 * general jansson path), to check that both give the same answers.
 */
void methods_set_fast_path(bool on);

#endif
