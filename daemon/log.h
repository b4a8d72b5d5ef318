/* log.h — leveled logging to stderr (journal-aware). */
#ifndef SVCD_LOG_H
#define SVCD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
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
