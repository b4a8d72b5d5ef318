/*
 * logging.h — svcd's log for code built against the installed library.
 *
 * The same sink as the daemon's own messages (stderr, "<N>" priorities
 * under the journal, escaped control characters, the level set by
 * [daemon] log_level or --log-level), under names of the public API. Code
 * inside svcd's tree uses log.h.
 */
#ifndef SVCD_LOGGING_H
#define SVCD_LOGGING_H

#include <stdarg.h>

/* syslog's numbering, so the levels map to journal priorities */
enum svcd_log_level {
	SVCD_LOG_ERR = 3,
	SVCD_LOG_WARN = 4,
	SVCD_LOG_INFO = 6,
	SVCD_LOG_DEBUG = 7,
};

/* Log one message at level (dropped when below the current level). */
void svcd_log(enum svcd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void svcd_vlog(enum svcd_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
#define svcd_log_err(...)   svcd_log(SVCD_LOG_ERR, __VA_ARGS__)
#define svcd_log_warn(...)  svcd_log(SVCD_LOG_WARN, __VA_ARGS__)
#define svcd_log_info(...)  svcd_log(SVCD_LOG_INFO, __VA_ARGS__)
#define svcd_log_debug(...) svcd_log(SVCD_LOG_DEBUG, __VA_ARGS__)

/* The current level, and setting it (svcd_main sets it from the options). */
enum svcd_log_level svcd_log_get_level(void);
void svcd_log_set_level(enum svcd_log_level level);

#endif
