/*
 * methods-int.h — the internal side of the control methods (methods.h):
 * the dispatcher a transport (the control service) runs a request line
 * through, the interface the transport supplies, and what svcd's own
 * handlers use beyond the public API (results written as JSON text, the
 * fast handlers' reply helpers). Not installed: it reaches into
 * daemon/util.h, daemon/fastscan.h and daemon/rpc.h.
 */
#ifndef SVCD_METHODS_INT_H
#define SVCD_METHODS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "daemon/fastscan.h"
#include "daemon/methods.h"
#include "daemon/rpc.h"
#include "daemon/service.h"
#include "daemon/util.h"

/* enum svc_err (public) is enum rpc_err (the wire's) by value. */
_Static_assert(SVC_ERR_INVALID_REQUEST == (int)RPC_INVALID_REQUEST &&
                   SVC_ERR_INVALID_PARAMS == (int)RPC_INVALID_PARAMS &&
                   SVC_ERR_INTERNAL == (int)RPC_INTERNAL &&
                   SVC_ERR_SHUTTING_DOWN == (int)RPC_SHUTTING_DOWN &&
                   SVC_ERR_QUEUE_FULL == (int)RPC_QUEUE_FULL &&
                   SVC_ERR_PERMISSION == (int)RPC_PERMISSION &&
                   SVC_ERR_NOT_FOUND == (int)RPC_NOT_FOUND &&
                   SVC_ERR_UNAVAILABLE == (int)RPC_UNAVAILABLE &&
                   SVC_ERR_TOO_LARGE == (int)RPC_TOO_LARGE &&
                   SVC_ERR_BUSY == (int)RPC_BUSY &&
                   SVC_ERR_INVALID_CONFIG == (int)RPC_INVALID_CONFIG,
               "enum svc_err and enum rpc_err differ");

/*
 * A result written as JSON text: svc_call_raw gives the buffer to append
 * the result value to (NULL for a notification: write nothing), then
 * return svc_call_raw_done(c).
 */
struct buf *svc_call_raw(struct svc_call *c);
const struct svc_reply *svc_call_raw_done(struct svc_call *c);

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
/* svc_call_defer for a fast handler (the id as the scanner saw it): 0, and
 * the handler returns METHODS_DEFERRED; -1: answer now. */
int svc_fast_defer(struct svc_call *c, const struct fastscan_req *f,
                   uint64_t seq, size_t matched);

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
	/* the same for an id as the fast path's scanner saw it (its bytes,
	 * valid JSON), so no tree is built for it; NULL: defer_emit is used */
	int (*defer_raw)(void *conn, const char *id, size_t id_len,
	                 uint64_t seq, size_t matched);
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
