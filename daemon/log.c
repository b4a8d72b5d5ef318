/*
 * log.c — leveled logging to stderr. Under systemd (JOURNAL_STREAM set) each
 * line carries a "<N>" priority prefix for the journal and no timestamp;
 * otherwise lines read "TIME svcd[PID]: LEVEL: message".
 */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static struct {
	const char *ident;
	enum log_level level;
	int journal;
	int quiet;
	log_hook_fn hook;
	void *hook_arg;
} L = {"svcd", LOGL_INFO, 0, 0, NULL, NULL};

static const struct {
	enum log_level level;
	const char *name;
} names[] = {
    {LOGL_ERR, "error"},
    {LOGL_WARN, "warning"},
    {LOGL_INFO, "info"},
    {LOGL_DEBUG, "debug"},
};

void
log_init(const char *ident)
{
	L.ident = ident;
	L.journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_level(enum log_level level)
{
	L.level = level;
}

enum log_level
log_get_level(void)
{
	return L.level;
}

int
log_parse_level(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcasecmp(name, names[i].name) == 0)
			return (int)names[i].level;
	if (strcasecmp(name, "err") == 0)
		return LOGL_ERR;
	if (strcasecmp(name, "warn") == 0)
		return LOGL_WARN;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].level == level)
			return names[i].name;
	return "?";
}

void
log_set_hook(log_hook_fn fn, void *arg)
{
	L.hook = fn;
	L.hook_arg = arg;
}

void
log_set_quiet(int quiet)
{
	L.quiet = quiet;
}

static void
emit(enum log_level level, const char *msg)
{
	if (L.hook)
		L.hook(level, msg, L.hook_arg);
	if (L.quiet)
		return;
	if (L.journal) {
		fprintf(stderr, "<%d>%s\n", (int)level, msg);
	} else {
		char ts[40];
		util_format_time(util_now_us(), ts, sizeof(ts));
		fprintf(stderr, "%s %s[%d]: %s: %s\n", ts, L.ident,
		        (int)getpid(), log_level_name(level), msg);
	}
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level > L.level)
		return;
	char *msg = xvasprintf(fmt, ap);
	emit(level, msg);
	free(msg);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

static void log_errno_v(enum log_level level, const char *fmt, va_list ap)
    PRINTF_LIKE(2, 0);

static void
log_errno_v(enum log_level level, const char *fmt, va_list ap)
{
	int saved = errno;
	if (level > L.level)
		return;
	char *msg = xvasprintf(fmt, ap);
	char *full = xasprintf("%s: %s", msg, strerror(saved));
	emit(level, full);
	free(full);
	free(msg);
	errno = saved;
}

void
log_err_errno(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_errno_v(LOGL_ERR, fmt, ap);
	va_end(ap);
}

void
log_warn_errno(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_errno_v(LOGL_WARN, fmt, ap);
	va_end(ap);
}

/* ---- log once, then count ----------------------------------------------- */

/* The last line went out less than an interval ago. */
static bool
limit_recent(const struct log_limit *l)
{
	return util_mono_us() - l->last_us < (int64_t)(l->interval * 1e6);
}

void
log_limit_flush(struct log_limit *l)
{
	if (!l->pending)
		return;
	log_msg(l->level, "%" PRIu64 " more %s (last: %s)", l->pending, l->what,
	        l->last ? l->last : "?");
	l->pending = 0;
	l->last_us = util_mono_us();
}

void
log_limited(struct log_limit *l, uint64_t n, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!n)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (!l->on && (!l->last_us || !limit_recent(l))) {
		l->on = true;
		l->quiet_start = false;
		l->pending = n - 1;
		log_msg(l->level, "%s", msg);
		l->last_us = util_mono_us();
	} else {
		/* a run, or a new one soon after the last line: count it */
		if (!l->on)
			l->quiet_start = true;
		l->on = true;
		l->pending += n;
	}
	free(l->last);
	l->last = msg;
	if (l->pending && !limit_recent(l))
		log_limit_flush(l);
}

bool
log_limit_end(struct log_limit *l)
{
	if (!l->on)
		return false;
	/* a run that started unlogged soon after the last line: it ends
	 * later, so a flapping condition cannot log two lines per flap */
	if (l->quiet_start && limit_recent(l))
		return false;
	log_limit_flush(l);
	l->on = false;
	free(l->last);
	l->last = NULL;
	return true;
}

void
log_limit_free(struct log_limit *l)
{
	free(l->last);
	l->last = NULL;
	l->pending = 0;
	l->on = false;
}
