/*
 * hook_kind.h — between the hooks service (services/hooks.c: queue, slots,
 * retries, cursor, replay, methods, figures, the shared keys) and the kinds
 * of hook, each in its own file with its own config keys:
 *
 *   exec    services/hook_exec.c    a command per event (exec =)
 *   http    services/hook_http.c    a POST per event (url =, libcurl)
 *   listen  services/hook_listen.c  one long-running program (listen =)
 *
 * The core hands a kind one attempt of one job at a time per slot (start);
 * the kind reports its end once with hook_attempt_done, or is told to drop
 * it (cancel). Private to services/hook*.c.
 */
#ifndef SVCD_HOOK_KIND_H
#define SVCD_HOOK_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "daemon/conf.h"
#include "daemon/util.h"

struct hook_conf; /* services/hooks.h */

struct hook;

struct job {
	uint64_t seq;
	char *event;
	char *line; /* the event's JSON line, newline included */
	size_t line_len;
	unsigned attempt; /* attempts so far */
	struct job *next;
};

/* A slot: one job, through its attempts and the backoff between them. */
struct run {
	struct hook *h;
	struct job *job;
	bool active;  /* an attempt is with the kind */
	bool backoff; /* waiting before the next attempt */
	ev_timer timer;
	void *k; /* the kind's, per run */
	struct run *next;
};

struct hook_kind {
	const char *name; /* "exec", "http", "listen" */
	/* At init, per hook: the kind's state from the config (h->k). */
	int (*open)(struct hook *h, const struct hook_conf *c, char **cause);
	/* Start an attempt of r->job; end it with hook_attempt_done. */
	void (*start)(struct run *r);
	/* Drop r's attempt (stop, free): no hook_attempt_done afterwards. */
	void (*cancel)(struct run *r);
	/* At stop, before runs are awaited (NULL: nothing to do). */
	void (*stop)(struct hook *h);
	/* Free h->k (the hook has no run left). */
	void (*close)(struct hook *h);
	/* Add the kind's own fields to the hook's object (NULL: none). */
	void (*figures)(struct hook *h, json_t *o);
	/* What it runs, for `svcctl hooks`. */
	const char *(*target)(const struct hook *h);
};

extern const struct hook_kind hook_exec_kind;
extern const struct hook_kind hook_http_kind;
extern const struct hook_kind hook_listen_kind;

struct hook {
	char *name;
	char *on;
	const struct hook_kind *kind;
	void *k; /* the kind's state */
	double timeout;
	double backoff;
	unsigned slots; /* concurrency, or a listener's window */
	unsigned retries;
	struct bus_listener *l;
	uint64_t skip_upto; /* replayed up to here: live events below skipped */

	struct job *head, *tail;
	size_t queued;
	struct run *runs, *runs_tail; /* in start order */
	size_t running;
	uint64_t cursor;        /* every matching event <= cursor finished */
	uint64_t handed;        /* highest seq queued so far */
	uint64_t first_dropped; /* lowest seq lost to a full queue, 0: none;
	                         * with a journal: the first one owed, read
	                         * back as the queue drains (hooks.c) */
	ev_timer read_timer;    /* reads back again once the writer stored */
	bool reading;           /* read_back is under way */
	bool read_failing;      /* its last page read failed (logged once) */
	uint64_t n_read_back;   /* events read back from the journal */

	uint64_t n_runs, n_ok, n_failures, n_timeouts, n_retried, n_dropped;
	uint64_t last_seq;
	char *last_error;
	bool overflow_logged;
};

enum hook_result {
	HOOK_OK,      /* delivered */
	HOOK_RETRY,   /* failed; retried per retries/backoff */
	HOOK_TIMEOUT, /* timed out (counted); retried like HOOK_RETRY */
	HOOK_FAIL,    /* failed for good at once (an HTTP 4xx) */
};

/*
 * The end of r's attempt. why (owned, NULL for HOOK_OK) is the reason
 * logged and shown as last_error; retry_after > 0 is the delay the target
 * asked for (HTTP Retry-After) instead of the backoff. May free r.
 */
void hook_attempt_done(struct run *r, enum hook_result res, char *why,
                       double retry_after);
/* The service's loop and whether it is stopping. */
struct ev_loop *hook_loop(void);
bool hook_stopping(void);
/* Whether seqs outlive a restart: a store (the journal) keeps the
 * numbering and the cursors, so a replayed event has the seq it had. */
bool hook_seq_durable(void);
/* Forget r without moving the cursor (its event is owed still). */
void hook_abandon(struct run *r);
/* While stopping: finish the stop once no hook has a run left. */
void hook_check_stopped(void);

/*
 * Log the complete lines in b as "hook NAME: ..." (all of it when flush):
 * a line longer than 512 bytes is cut with "..." and its length; *over
 * counts what was dropped of a long line being read.
 */
void hook_log_lines(const char *name, struct buf *b, size_t *over, bool is_err,
                    bool flush);

/* s as a JSON string even if it is not UTF-8 (bytes past ASCII become
 * '?'); NULL: null. */
json_t *hook_text_json(const char *s);

/* The command types of exec = and listen =: split without a shell into a
 * NULL-terminated argv; the program must be an absolute path to an
 * executable file (an error at its line otherwise). */
extern const struct svc_conf_type hook_command_type;
char **hook_argv_dup(char *const *argv);
void hook_argv_free(char **argv);
/* Spawn argv with stdin, stdout and stderr on new pipes (the svcd ends
 * non-blocking, close-on-exec, in fds[0..2]) in a process group of its own,
 * env extra entries added; tied: it gets SIGTERM if svcd dies (fork and
 * PR_SET_PDEATHSIG instead of posix_spawn). -1 with *cause. */
pid_t hook_spawn(char *const *argv, char *const *extra_env, bool tied,
                 int fds[3], char **cause);

/* The http kind's config types (hook_http.c). */
extern const struct svc_conf_type hook_url_type;
extern const struct svc_conf_type hook_secret_type;
/* A header a webhook sends itself on every delivery (hook_http.c): a hook's
 * headers may not name it, which would send it twice. */
bool hook_http_own_header(const char *name);

/*
 * Each kind's keys in [hook.NAME], spliced into the section's item table
 * by hooks.c (one section, items from each kind; struct hook_conf is in
 * services/hooks.h).
 */
#define HOOK_EXEC_ITEMS                                                        \
	{                                                                      \
		.key = "exec", .type = &hook_command_type,                     \
		.off = offsetof(struct hook_conf, argv),                       \
		.doc =                                                         \
		    "exec hooks: the command, an absolute path and arguments"  \
	}

#define HOOK_HTTP_ITEMS                                                        \
	{.key = "url",                                                         \
	 .type = &hook_url_type,                                               \
	 .off = offsetof(struct hook_conf, http.url),                          \
	 .doc = "webhooks: the http:// or https:// URL each event is POSTed "  \
	        "to"},                                                         \
	    {.key = "ca_file",                                                 \
	     .type = &svc_conf_path,                                           \
	     .off = offsetof(struct hook_conf, http.ca_file),                  \
	     .doc = "webhooks: a CA bundle to verify the server with"},        \
	    {.key = "headers",                                                 \
	     .type = &svc_conf_json_object,                                    \
	     .off = offsetof(struct hook_conf, http.headers),                  \
	     .doc = "webhooks: extra headers, a JSON object of strings"},      \
	{                                                                      \
		.key = "secret_file", .type = &hook_secret_type,               \
		.off = offsetof(struct hook_conf, http.secret_file),           \
		.doc =                                                         \
		    "webhooks: a file (mode 0600 or stricter) whose content "  \
		    "signs each body (X-Svcd-Signature: sha256=HMAC)"          \
	}

#define HOOK_LISTEN_ITEMS                                                      \
	{.key = "listen",                                                      \
	 .type = &hook_command_type,                                           \
	 .off = offsetof(struct hook_conf, listen.argv),                       \
	 .doc = "listeners: the program, started once, an absolute path and "  \
	        "arguments"},                                                  \
	{                                                                      \
		.key = "window", .type = &svc_conf_uint,                       \
		.off = offsetof(struct hook_conf, listen.window),              \
		.dflt = "64", .min = "1", .max = "4096",                       \
		.doc = "listeners: events sent and not yet answered"           \
	}

#endif
