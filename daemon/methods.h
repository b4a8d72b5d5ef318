/*
 * methods.h — the control methods: one table { name, handler, access,
 * params } and the dispatcher that checks a request line (envelope, method,
 * access, params, shutdown) before any handler runs.
 *
 * The second half of this header is what control.c provides to the
 * handlers: a client's credentials and its subscription / shutdown-wait
 * state. Both files are the control service; nothing else uses this header.
 */
#ifndef SVCD_METHODS_H
#define SVCD_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

struct ctl_client;
struct svc_graph;

enum method_access {
	ACCESS_READ,  /* anyone who can connect */
	ACCESS_EMIT,  /* root, the daemon's uid, [control] emit_group */
	ACCESS_ADMIN, /* root, the daemon's uid, [control] admin_group */
};

enum methods_outcome {
	METHODS_OK,       /* answered with a result (or a notification ran) */
	METHODS_ERROR,    /* answered with an error (or would have been) */
	METHODS_PENDING,  /* emit hit a full queue with wait: retry the same
	                   * line once the bus has room; nothing was written */
	METHODS_DEFERRED, /* done, but the reply comes later (emit with
	                   * [journal] sync = always, once durable): the line
	                   * is consumed and the client waits for it */
};

/* Requests in one batch (a JSON array on one line); more: one TooLarge. */
#define METHODS_MAX_BATCH 256
/* Past this much reply text, a batch's remaining requests are not run. */
#define METHODS_BATCH_REPLY_MAX (4u << 20)

/*
 * Run one request line (no newline); replies are appended to out. A line
 * holding a JSON array is a batch (JSON-RPC 2.0 §6): its replies go out as
 * one array on one line; it is never METHODS_PENDING. The byte
 * at line[len] must be readable and whitespace — the line's own '\n' (or
 * the '\r' before it), as the control service passes it: the scanner uses
 * it as a sentinel instead of checking the bounds before every token.
 */
enum methods_outcome methods_dispatch(struct ctl_client *c, const char *line,
                                      size_t len, struct buf *out);
/*
 * Tests only: turn the ping/emit fast path off (every request then takes
 * the general jansson path), to check that both give the same answers.
 */
void methods_set_fast_path(bool on);
/*
 * Tests and fuzzing: run the fast path's validating scanner over one JSON
 * value, as it scans an emit's params.data. True if the fast path would
 * take it; then the value, compacted as it would be stored, is appended to
 * out. The contract: whenever this is true, jansson accepts the same bytes
 * (JSON_REJECT_DUPLICATES) and json_dumps(JSON_COMPACT |
 * JSON_PRESERVE_ORDER) gives back exactly what was appended.
 */
bool methods_fast_scan_value(const char *p, size_t n, struct buf *out);
/* The method names in table order, as a new JSON array. */
json_t *methods_names(void);

/* ---- provided by control.c ---------------------------------------------- */

bool ctl_client_allowed(struct ctl_client *c, enum method_access a);
/* "control uid=U pid=P" (borrowed). */
const char *ctl_client_source(const struct ctl_client *c);
unsigned long ctl_client_uid(const struct ctl_client *c);
long ctl_client_pid(const struct ctl_client *c);
/*
 * Subscribe (or re-subscribe) c to patterns (copied; n 0 = every event).
 * With replay, history events with since < seq <= upto are queued first;
 * live delivery starts after upto (= bus_last_dispatched now).
 */
void ctl_client_subscribe(struct ctl_client *c, const char *const *patterns,
                          size_t n, bool replay, uint64_t since, uint64_t upto);
/* true if it was subscribed. */
bool ctl_client_unsubscribe(struct ctl_client *c);
/*
 * Answer this emit (id borrowed, copied) only once event seq is durable in
 * the journal; the client processes no further request until then, so
 * replies stay in order. Returns 0, or -1 when no journal is running.
 */
int ctl_client_defer_emit(struct ctl_client *c, json_t *id, uint64_t seq,
                          size_t matched);
/*
 * As ctl_client_defer_emit, for a batch reply: text (one line, copied) is
 * sent once event seq is durable; if it cannot be made durable, one
 * Internal error (id null) is sent instead. 0, or -1 with no journal.
 */
int ctl_client_defer_text(struct ctl_client *c, const struct buf *text,
                          uint64_t seq);
/* Send this client shutdown progress notifications until the exit. */
void ctl_client_wait_shutdown(struct ctl_client *c);
/* The graph the control service runs in. */
struct svc_graph *ctl_graph(void);
/*
 * Test hooks for tests/fuzz (never called by svcd): adopt fd, a connected
 * non-blocking AF_UNIX stream socket, as an accepted client; drop every
 * client at once (their fds are closed).
 */
void ctl_test_adopt(int fd);
void ctl_test_drop_all(void);

#endif
