/*
 * conn.h — svcctl's side of the control protocol (docs/protocol.md): one
 * AF_UNIX stream connection, newline-delimited JSON-RPC 2.0, blocking with
 * poll() timeouts. No libev.
 */
#ifndef SVCCTL_CONN_H
#define SVCCTL_CONN_H

#include <signal.h>
#include <stdbool.h>

#include <jansson.h>

#include "daemon/util.h"

/* Largest reply line accepted (history replies can be large). */
#define CONN_MAX_LINE (64u << 20)

struct conn {
	int fd;
	char *path;
	struct buf in;
	/* The text of the message conn_read or conn_call read last (a reply
	 * or the notification fn is called for), without its newline: event
	 * data can be printed as the bytes that came. */
	struct buf line;
	json_int_t next_id;
	/* When non-NULL and set, a blocking wait returns CONN_INTERRUPTED. */
	volatile sig_atomic_t *interrupt;
};

/* Results of conn_read and conn_call. */
enum conn_rc {
	CONN_OK = 0,
	CONN_ERROR_REPLY = 1,  /* the daemon answered with an error */
	CONN_FAIL = -1,        /* unreachable, timeout, closed, garbage */
	CONN_EOF = -2,         /* clean EOF between messages */
	CONN_INTERRUPTED = -3, /* *interrupt was set during a wait */
};

/*
 * Connect to path within timeout_ms (< 0: no limit). On failure returns -1
 * with *cause naming the path and the reason (caller frees).
 */
int conn_open(struct conn *c, const char *path, int timeout_ms, char **cause);
void conn_close(struct conn *c);

/* Send one request; *id receives its id. params is borrowed (NULL: none). */
int conn_send(struct conn *c, const char *method, json_t *params,
              int timeout_ms, json_int_t *id, char **cause);

/*
 * Read the next message (a reply or a notification) into *msg (new
 * reference). timeout_ms < 0 waits forever. Returns CONN_OK, CONN_EOF,
 * CONN_INTERRUPTED, or CONN_FAIL with *cause.
 */
int conn_read(struct conn *c, int timeout_ms, json_t **msg, char **cause);

/* Called for each notification seen while waiting for a reply. */
typedef void (*conn_notify_fn)(const char *method, json_t *params, void *arg);

/*
 * Send method(params) and wait for its reply within timeout_ms. CONN_OK:
 * *result is a new reference. CONN_ERROR_REPLY: *error is the error object
 * (new reference). CONN_FAIL / CONN_INTERRUPTED: *cause set on FAIL.
 * Notifications that arrive first go to fn (may be NULL).
 */
int conn_call(struct conn *c, const char *method, json_t *params,
              int timeout_ms, conn_notify_fn fn, void *arg, json_t **result,
              json_t **error, char **cause);
/*
 * conn_call with params' member "data" sent as data_len bytes of JSON text
 * (valid, compact; params must hold no "data"), never re-serialised, so
 * numbers reach svcd as the user wrote them. data NULL: as conn_call.
 */
int conn_call_data(struct conn *c, const char *method, json_t *params,
                   const char *data, size_t data_len, int timeout_ms,
                   conn_notify_fn fn, void *arg, json_t **result,
                   json_t **error, char **cause);
/*
 * conn_call with the whole params sent as params_len bytes of JSON text
 * (a valid, compact object), as given.
 */
int conn_call_raw(struct conn *c, const char *method, const char *params,
                  size_t params_len, int timeout_ms, conn_notify_fn fn,
                  void *arg, json_t **result, json_t **error, char **cause);

#endif
