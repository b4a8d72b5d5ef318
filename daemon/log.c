/*
 * log.c — leveled logging to stderr. Under systemd (JOURNAL_STREAM set) each
 * line carries a "<N>" priority prefix for the journal and no timestamp;
 * otherwise lines read "TIME svcd[PID]: LEVEL: message"; with the json
 * format one JSON object per line. When JOURNAL_STREAM is stderr and the
 * journal's socket answers, messages go to it natively with svcd's own
 * fields (SVCD_SERVICE=, SVCD_SEQ=), stderr only taking what it refuses.
 *
 * Every message is escaped at this sink before it goes anywhere: messages
 * quote outside text (event data, hook output, config lines), and no input
 * may start a line of its own or drive a terminal. Control characters (C0,
 * DEL, C1) become \n, \r, \t or \xNN (C1 as \u00NN), bytes that are not
 * valid UTF-8 become \xNN; valid UTF-8 and backslashes pass through. A
 * message that needs none of it (the usual case) is not copied.
 */
#include "daemon/log.h"
#include "daemon/logging.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define SOURCES_MAX    64

static struct {
	const char *ident;
	enum log_level level;
	int journal;
	int quiet;
	log_hook_fn hook;
	void *hook_arg;
	enum log_format format;
	int jfd; /* the journal's socket, connected; -1: none */
	char *sources[SOURCES_MAX];
	char *prefixes[SOURCES_MAX]; /* what starts its messages (its name) */
	size_t nsources;
	uint64_t seq;
} L = {"svcd",          LOGL_INFO, 0,      0,      NULL, NULL,
       LOG_FORMAT_TEXT, -1,        {NULL}, {NULL}, 0,    0};

static const struct {
	enum log_level level;
	const char *name;
} names[] = {
    {LOGL_ERR, "error"},
    {LOGL_WARN, "warning"},
    {LOGL_INFO, "info"},
    {LOGL_DEBUG, "debug"},
};

/* JOURNAL_STREAM is "DEV:INO" of the stream systemd connected; only if
 * it is still stderr (not redirected by a shell) is stderr the journal. */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return js != NULL; /* unreadable: trust it, as before */
	return fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *ident)
{
	L.ident = ident;
	L.journal = getenv("JOURNAL_STREAM") != NULL;
	if (L.journal && L.jfd < 0 && stderr_is_journal())
		log_set_journal_socket(JOURNAL_SOCKET);
}

int
log_set_journal_socket(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (L.jfd >= 0)
		close(L.jfd);
	L.jfd = -1;
	if (!path)
		return 0;
	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	/* a burst (the boot's lines) must not find the socket full: a big
	 * buffer, and a send that may wait a little for journald, as a
	 * write to stderr's stream would, before the message goes there
	 * without its fields */
	int sz = 8 << 20;
	struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	L.jfd = fd;
	return 0;
}

void
log_set_format(enum log_format f)
{
	L.format = f;
}

enum log_format
log_get_format(void)
{
	return L.format;
}

void
log_add_source_as(const char *prefix, const char *name)
{
	for (size_t i = 0; i < L.nsources; i++)
		if (strcmp(L.prefixes[i], prefix) == 0)
			return;
	if (L.nsources < SOURCES_MAX) {
		L.prefixes[L.nsources] = xstrdup(prefix);
		L.sources[L.nsources++] = xstrdup(name);
	}
}

void
log_add_source(const char *name)
{
	log_add_source_as(name, name);
}

uint64_t
log_set_seq(uint64_t seq)
{
	uint64_t prev = L.seq;

	L.seq = seq;
	return prev;
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

/*
 * The length of the valid UTF-8 sequence at p (n bytes left) that is not a
 * C1 control: 2 to 4, or 0 if the bytes there are not one (overlong forms,
 * surrogates and code points past U+10FFFF are not valid).
 */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c >= 0xc2 && c <= 0xdf) {
		/* U+0080..U+009F are the C1 controls */
		if (n < 2 || (p[1] & 0xc0) != 0x80 ||
		    (c == 0xc2 && p[1] < 0xa0))
			return 0;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* The offset of the first byte of s that needs escaping, or n. */
static size_t
clean_prefix(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			i++;
			continue;
		}
		if (p[i] < 0x80 || !(k = utf8_len(p + i, n - i)))
			return i;
		i += k;
	}
	return n;
}

/* s (n bytes) escaped as described at the top, NUL-terminated (caller
 * frees); NULL if s needs no escaping. */
static char *
escape(const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = clean_prefix(s, n), k;
	struct buf b = {0};

	if (i == n)
		return NULL;
	buf_reserve(&b, n + 16);
	buf_append(&b, s, i);
	while (i < n) {
		unsigned char c = p[i];

		if (c >= 0x20 && c < 0x7f) {
			k = clean_prefix(s + i, n - i);
			buf_append(&b, s + i, k);
			i += k;
			continue;
		}
		if (c >= 0x80 && (k = utf8_len(p + i, n - i))) {
			buf_append(&b, s + i, k);
			i += k;
			continue;
		}
		if (c == '\n') {
			buf_puts(&b, "\\n");
		} else if (c == '\r') {
			buf_puts(&b, "\\r");
		} else if (c == '\t') {
			buf_puts(&b, "\\t");
		} else if (c == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
		           p[i + 1] <= 0x9f) {
			/* a C1 control in UTF-8: U+0080..U+009F */
			buf_puts(&b, "\\u00");
			buf_putc(&b, hex[p[i + 1] >> 4]);
			buf_putc(&b, hex[p[i + 1] & 15]);
			i += 2;
			continue;
		} else {
			buf_puts(&b, "\\x");
			buf_putc(&b, hex[c >> 4]);
			buf_putc(&b, hex[c & 15]);
		}
		i++;
	}
	buf_putc(&b, '\0');
	return b.data;
}

static const char *
find_source(const char *s, size_t n)
{
	for (size_t i = 0; i < L.nsources; i++) {
		const char *pre = L.prefixes[i];

		if (strlen(pre) == n && memcmp(s, pre, n) == 0)
			return L.sources[i];
	}
	return NULL;
}

/* The message's service (see log.h): a source, or the identity. */
static const char *
msg_service(const char *msg)
{
	size_t n = strcspn(msg, ": '");
	const char *src = n ? find_source(msg, n) : NULL;
	const char *q;

	if (src)
		return src;
	if ((q = strchr(msg, '\'')) != NULL) {
		n = strcspn(q + 1, "'");
		if (q[1 + n] == '\'' && (src = find_source(q + 1, n)) != NULL)
			return src;
	}
	return L.ident;
}

/* KEY for the journal: SVCD_ and key upper-cased, [A-Z0-9_] only. */
static void
journal_key(struct buf *b, const char *key)
{
	buf_puts(b, "SVCD_");
	for (const char *p = key; *p; p++) {
		char c = *p;

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		buf_putc(b, c);
	}
}

/* The native protocol: KEY=VALUE lines in one datagram (values escaped,
 * so none holds a newline). 0 sent, -1 not (then stderr has it). */
static int
emit_journal(enum log_level level, const char *msg, const char *service,
             const struct log_field *f, size_t n)
{
	struct buf b = {0};
	ssize_t r;

	buf_printf(&b, "MESSAGE=%s\nPRIORITY=%d\nSYSLOG_IDENTIFIER=%s\n", msg,
	           (int)level, L.ident);
	buf_printf(&b, "SVCD_SERVICE=%s\n", service);
	if (L.seq)
		buf_printf(&b, "SVCD_SEQ=%" PRIu64 "\n", L.seq);
	for (size_t i = 0; i < n; i++) {
		char *v = escape(f[i].value, strlen(f[i].value));

		journal_key(&b, f[i].key);
		buf_printf(&b, "=%s\n", v ? v : f[i].value);
		free(v);
	}
	r = send(L.jfd, buf_head(&b), b.len, MSG_NOSIGNAL);
	buf_free(&b);
	return r < 0 ? -1 : 0;
}

static void
emit_json(enum log_level level, const char *msg, const char *service,
          const struct log_field *f, size_t n)
{
	struct buf b = {0};
	char ts[40];

	util_format_time(util_now_us(), ts, sizeof(ts));
	if (L.journal)
		buf_printf(&b, "<%d>", (int)level);
	buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"service\":", ts,
	           log_level_name(level));
	buf_json_string(&b, service, strlen(service));
	buf_puts(&b, ",\"message\":");
	buf_json_string(&b, msg, strlen(msg));
	buf_puts(&b, ",\"fields\":{");
	if (L.seq)
		buf_printf(&b, "\"seq\":%" PRIu64, L.seq);
	for (size_t i = 0; i < n; i++) {
		char *v = escape(f[i].value, strlen(f[i].value));
		const char *val = v ? v : f[i].value;

		if (L.seq || i)
			buf_putc(&b, ',');
		buf_json_string(&b, f[i].key, strlen(f[i].key));
		buf_putc(&b, ':');
		buf_json_string(&b, val, strlen(val));
		free(v);
	}
	buf_puts(&b, "}}\n");
	fwrite(buf_head(&b), 1, b.len, stderr);
	buf_free(&b);
}

static void
emit_fields(enum log_level level, const char *raw, const struct log_field *f,
            size_t n)
{
	char *esc = escape(raw, strlen(raw));
	const char *msg = esc ? esc : raw;
	const char *service;

	if (L.hook)
		L.hook(level, msg, L.hook_arg);
	if (L.quiet)
		goto out;
	service = msg_service(msg);
	if (L.jfd >= 0 && emit_journal(level, msg, service, f, n) == 0)
		goto out;
	if (L.format == LOG_FORMAT_JSON) {
		emit_json(level, msg, service, f, n);
	} else if (L.journal) {
		fprintf(stderr, "<%d>%s\n", (int)level, msg);
	} else {
		char ts[40];
		util_format_time(util_now_us(), ts, sizeof(ts));
		fprintf(stderr, "%s %s[%d]: %s: %s\n", ts, L.ident,
		        (int)getpid(), log_level_name(level), msg);
	}
out:
	free(esc);
}

static void
emit(enum log_level level, const char *raw)
{
	emit_fields(level, raw, NULL, 0);
}

void
log_fields(enum log_level level, const struct log_field *fields, size_t n,
           const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (level > L.level)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	emit_fields(level, msg, fields, n);
	free(msg);
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

/* ---- the public API (logging.h): the same sink under prefixed names ---- */

_Static_assert(SVCD_LOG_ERR == (int)LOGL_ERR &&
                   SVCD_LOG_WARN == (int)LOGL_WARN &&
                   SVCD_LOG_INFO == (int)LOGL_INFO &&
                   SVCD_LOG_DEBUG == (int)LOGL_DEBUG,
               "logging.h levels are log.h levels");

void
svcd_vlog(enum svcd_log_level level, const char *fmt, va_list ap)
{
	log_vmsg((enum log_level)level, fmt, ap);
}

void
svcd_log(enum svcd_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg((enum log_level)level, fmt, ap);
	va_end(ap);
}

enum svcd_log_level
svcd_log_get_level(void)
{
	return (enum svcd_log_level)log_get_level();
}

void
svcd_log_set_level(enum svcd_log_level level)
{
	log_set_level((enum log_level)level);
}
