/* log.h — leveled logging to stderr (journal-aware). */
#ifndef SVCD_LOG_H
#define SVCD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/util.h"

/* Levels use syslog's numbering so they map to journal priorities. */
enum log_level {
	LOGL_ERR = 3,
	LOGL_WARN = 4,
	LOGL_INFO = 6,
	LOGL_DEBUG = 7,
};

/* ident is the program name used when not under the journal. */
void log_init(const char *ident);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warning", "info", "debug" -> level; -1 if unknown. */
int log_parse_level(const char *name);
const char *log_level_name(enum log_level level);

/*
 * A hook that receives every message at or above the level (tests use it to
 * assert on log lines). msg is borrowed. NULL restores plain stderr only.
 */
typedef void (*log_hook_fn)(enum log_level level, const char *msg, void *arg);
void log_set_hook(log_hook_fn fn, void *arg);
/* When quiet, nothing goes to stderr (hooks still run). */
void log_set_quiet(int quiet);

void log_msg(enum log_level level, const char *fmt, ...) PRINTF_LIKE(2, 3);
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    PRINTF_LIKE(2, 0);
#define log_err(...)   log_msg(LOGL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOGL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)
/*
 * The line's format on stderr (docs/configuration.md, [daemon] log_format):
 * text "TIME svcd[PID]: LEVEL: message" ("<N>message" under the journal),
 * or json, one object per line: {"time","level","service","message",
 * "fields"}. Under systemd (JOURNAL_STREAM names stderr) and with the
 * journal's socket reachable, every message goes to the journal natively
 * instead, whatever the format: MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER=,
 * SVCD_SERVICE= (its service), SVCD_SEQ= (the event it is about) and
 * SVCD_<KEY>= for each field; a message the socket refuses goes to stderr.
 */
enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};
void log_set_format(enum log_format f);
enum log_format log_get_format(void);
/* The journal's socket (log_init: /run/systemd/journal/socket when
 * JOURNAL_STREAM names stderr); NULL stops using one. 0, or -1 (errno). */
int log_set_journal_socket(const char *path);

/*
 * A message's service: a name added here (svcd adds its table's) that
 * starts it ("bus: ...") or is quoted in it ("started 'bus' in 0.2 ms").
 * Otherwise the identity given to log_init. log_add_source_as names
 * another first word for a service's messages ("hook NAME: ..." are
 * hooks': the hooks service adds "hook").
 */
void log_add_source(const char *name);
void log_add_source_as(const char *prefix, const char *name);
/*
 * The event the messages logged from now on are about (0: none), e.g.
 * while the bus delivers one: SVCD_SEQ= and fields.seq. Returns the
 * previous one, to put back.
 */
uint64_t log_set_seq(uint64_t seq);
/* A message with fields of its own (key: [a-z0-9_], value text). */
struct log_field {
	const char *key;
	const char *value;
};
void log_fields(enum log_level level, const struct log_field *fields, size_t n,
                const char *fmt, ...) PRINTF_LIKE(4, 5);

/* errno variants append ": strerror(errno)". */
void log_err_errno(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warn_errno(const char *fmt, ...) PRINTF_LIKE(1, 2);

/*
 * Log once, then count: the first occurrence of a run of repeated errors is
 * logged in full; later ones are counted and at most one line per interval
 * reads "N more WHAT (last: MSG)"; a run that starts again within an
 * interval of the last line is counted too (and ends no sooner than an
 * interval after it), so a flapping condition stays bounded. Loop thread only.
 * Set level, what and interval (seconds); the rest starts zeroed.
 */
struct log_limit {
	enum log_level level;
	const char *what; /* "journal write errors" */
	double interval;
	/* private */
	bool on;          /* in a run */
	bool quiet_start; /* it started counted, not logged */
	int64_t last_us;  /* monotonic time of the last line */
	uint64_t pending; /* occurrences since that line */
	char *last;       /* the last of them */
};
/* n occurrences of the message (n >= 1). */
void log_limited(struct log_limit *l, uint64_t n, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
/* Log the pending count now, if any. */
void log_limit_flush(struct log_limit *l);
/* End a run (the condition cleared): flush; true if a run was on, so the
 * caller logs its recovery line. */
bool log_limit_end(struct log_limit *l);
/* Free what it holds (flushing nothing). */
void log_limit_free(struct log_limit *l);

#endif
