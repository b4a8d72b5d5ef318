/*
 * conf.c — svcd's configuration: built-in defaults, the INI parser (inih)
 * and the running configuration.
 *
 * Parsing. inih splits "key = value" lines and strips comments, but it
 * reports only the first syntax error, does not tell the handler the line
 * number (Debian builds it without INI_HANDLER_LINENO) and truncates section
 * names at 49 bytes. So our reader function sees every line before inih
 * does: it counts lines, handles section headers itself (the handler ignores
 * inih's section argument), reports malformed lines and hands inih only
 * well-formed "key = value" lines, without leading blanks so that inih never
 * treats one as a continuation. A line too long for inih's fixed buffer is
 * split here by the same rules instead of being cut.
 *
 * Every error is collected with its line and the list is sorted by line at
 * the end, so a file with ten typos is reported in one go. Checks that need
 * a whole section ([timer.X] needs emit) run when the section ends and are
 * reported at the section header's line.
 *
 * Bounds. The file is read whole into memory before parsing: opened without
 * blocking, refused unless it is a regular file of at most CONF_FILE_MAX
 * bytes, so a FIFO, a device or /dev/zero named as the config never stalls
 * the loop on reload nor fills memory. Anything quoted from the file in an
 * error is cut to QUOTE_MAX characters with its control characters escaped
 * (quote()), every message is bounded (perr) and at most CONF_ERRORS_MAX
 * errors are listed, so a huge line never becomes a huge log line or reply.
 */
#include "conf.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bridge.h"
#include "log.h"
#include "util.h"

#define CONF_NAME_MAX   64  /* [timer.NAME], [hook.NAME] */
#define CONF_EVENT_MAX  128 /* event names, as services/bus.h */
#define CONF_SOCKET_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define HOUR            3600.0
#define DAY             86400.0

#define CONF_FILE_MAX    (4U << 20) /* bytes; "4 MiB" in messages */
#define QUOTE_MAX        80         /* characters of input quoted in an error */
#define QUOTE_BUF        (4 * QUOTE_MAX + 4) /* escaped, "...", NUL */
#define CONF_MSG_MAX     512                 /* bytes of one error message */
#define CONF_ERRORS_MAX  100 /* errors listed; the rest are counted */
#define CONF_QUOTE_SLOTS 4   /* qs() results usable in one perr call */

static struct conf *running;

struct conf *
conf_defaults(void)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	c->socket = xstrdup("/run/svcd/svcd.sock");
	c->log_level = LOGL_INFO;
	c->shutdown_timeout = 30;
	c->init_timeout = 30;
	c->stop_timeout = 10;
	c->max_request = 1 << 20;
	c->max_clients = 1024;
	c->output_soft = 1 << 20;
	c->output_hard = 8 << 20;
	c->max_tasks = 1024;
	c->max_task_data = 64 << 10;
	c->queue_size = 65536;
	c->history = 1024;
	c->batch = 256;
	c->listener_timeout = 30;
	c->health_interval = 30;
	c->heartbeat = 5;
	c->heartbeat_event = false;
	c->journal_path = xstrdup("/var/lib/svcd/journal.db");
	c->journal_sync = CONF_SYNC_BATCH;
	c->bridge_channel = xstrdup("svcd");
	c->bridge_buffer = 10000;
	c->bridge_reconnect_min = 0.1;
	c->bridge_reconnect_max = 30;
	return c;
}

void
conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->socket);
	free(c->group);
	free(c->emit_group);
	free(c->admin_group);
	free(c->journal_path);
	free(c->bridge_url);
	free(c->bridge_channel);
	for (char **v = c->bridge_publish; v && *v; v++)
		free(*v);
	free(c->bridge_publish);
	for (char **v = c->bridge_subscribe; v && *v; v++)
		free(*v);
	free(c->bridge_subscribe);
	for (struct conf_timer *t = c->timers, *n; t; t = n) {
		n = t->next;
		free(t->name);
		free(t->emit);
		free(t->data);
		free(t);
	}
	for (struct conf_hook *h = c->hooks, *n; h; h = n) {
		n = h->next;
		free(h->name);
		free(h->on);
		for (char **a = h->argv; a && *a; a++)
			free(*a);
		free(h->argv);
		free(h);
	}
	free(c);
}

/* ---- the parser ---- */

enum sect {
	SECT_NONE, /* before the first section header */
	SECT_SKIP, /* a section already reported as bad: keys ignored */
	SECT_DAEMON,
	SECT_CONTROL,
	SECT_BUS,
	SECT_HEALTH,
	SECT_APP,
	SECT_JOURNAL,
	SECT_BRIDGE,
	SECT_TIMER,
	SECT_HOOK,
	SECT_COUNT
};

static const char *const sect_names[SECT_COUNT] = {
    [SECT_DAEMON] = "daemon", [SECT_CONTROL] = "control",
    [SECT_BUS] = "bus",       [SECT_HEALTH] = "health",
    [SECT_APP] = "app",       [SECT_JOURNAL] = "journal",
    [SECT_BRIDGE] = "bridge",
};

/* Keys of the fixed sections, parsed by type into struct conf. */
enum ktype {
	KT_DURATION, /* double seconds, 0 < d <= dmax */
	KT_BYTES,    /* uint64_t, a size in [min, max] */
	KT_UINT,     /* unsigned in [min, max] */
	KT_COUNT,    /* size_t in [min, max] */
	KT_BOOL,
	KT_LEVEL,    /* int, enum log_level */
	KT_SOCKET,   /* char *, a sun_path */
	KT_GROUP,    /* char *, an existing group; empty = NULL */
	KT_PATH,     /* char *, a file path (relative: to the working dir) */
	KT_SYNC,     /* int, enum conf_journal_sync */
	KT_DAMAGE,   /* int, enum conf_journal_damage */
	KT_URL,      /* char *, a bridge URL (services/bridge.h) */
	KT_PATTERNS, /* char **, blank-separated event patterns */
	KT_CHANNEL,  /* char *, a bridge channel prefix */
};

struct conf_key {
	enum sect sect;
	const char *name;
	enum ktype type;
	size_t off;
	uint64_t min, max;
	double dmax;
	const char *dmax_text;
};

#define F(f) offsetof(struct conf, f)
#define K_DUR(s, n, f, mx, mxt)                                                \
	{                                                                      \
		.sect = (s), .name = (n), .type = KT_DURATION, .off = F(f),    \
		.dmax = (mx), .dmax_text = (mxt)                               \
	}
#define K_NUM(s, n, t, f, lo, hi)                                              \
	{                                                                      \
		.sect = (s), .name = (n), .type = (t), .off = F(f),            \
		.min = (lo), .max = (hi)                                       \
	}
#define K(s, n, t, f)                                                          \
	{                                                                      \
		.sect = (s), .name = (n), .type = (t), .off = F(f)             \
	}

static const struct conf_key conf_keys[] = {
    K(SECT_DAEMON, "socket", KT_SOCKET, socket),
    K(SECT_DAEMON, "log_level", KT_LEVEL, log_level),
    K_DUR(SECT_DAEMON, "shutdown_timeout", shutdown_timeout, HOUR, "1h"),
    K_DUR(SECT_DAEMON, "init_timeout", init_timeout, HOUR, "1h"),
    K_DUR(SECT_DAEMON, "stop_timeout", stop_timeout, HOUR, "1h"),
    K_NUM(SECT_CONTROL, "max_request", KT_BYTES, max_request, 1ULL << 10,
          1ULL << 30),
    K_NUM(SECT_CONTROL, "max_clients", KT_UINT, max_clients, 1, 1000000),
    K_NUM(SECT_CONTROL, "output_soft", KT_BYTES, output_soft, 1ULL << 10,
          4ULL << 30),
    K_NUM(SECT_CONTROL, "output_hard", KT_BYTES, output_hard, 1ULL << 10,
          4ULL << 30),
    K(SECT_CONTROL, "group", KT_GROUP, group),
    K(SECT_CONTROL, "emit_group", KT_GROUP, emit_group),
    K(SECT_CONTROL, "admin_group", KT_GROUP, admin_group),
    K_NUM(SECT_CONTROL, "max_tasks", KT_COUNT, max_tasks, 1, 1000000),
    K_NUM(SECT_CONTROL, "max_task_data", KT_BYTES, max_task_data, 2,
          1ULL << 30),
    K_NUM(SECT_BUS, "queue_size", KT_COUNT, queue_size, 1, 16777216),
    K_NUM(SECT_BUS, "history", KT_COUNT, history, 0, 1048576),
    K_NUM(SECT_BUS, "batch", KT_COUNT, batch, 1, 65536),
    K_DUR(SECT_BUS, "listener_timeout", listener_timeout, HOUR, "1h"),
    K_DUR(SECT_HEALTH, "interval", health_interval, DAY, "24h"),
    K_DUR(SECT_APP, "heartbeat", heartbeat, DAY, "24h"),
    K(SECT_APP, "heartbeat_event", KT_BOOL, heartbeat_event),
    K(SECT_JOURNAL, "path", KT_PATH, journal_path),
    K(SECT_JOURNAL, "sync", KT_SYNC, journal_sync),
    K_NUM(SECT_JOURNAL, "retention_count", KT_COUNT, journal_keep_count, 0,
          1ULL << 40),
    K_DUR(SECT_JOURNAL, "retention_age", journal_keep_age, 3650 * DAY, "3650d"),
    K(SECT_JOURNAL, "on_damage", KT_DAMAGE, journal_on_damage),
    K(SECT_BRIDGE, "url", KT_URL, bridge_url),
    K(SECT_BRIDGE, "publish", KT_PATTERNS, bridge_publish),
    K(SECT_BRIDGE, "subscribe", KT_PATTERNS, bridge_subscribe),
    K(SECT_BRIDGE, "channel", KT_CHANNEL, bridge_channel),
    K_NUM(SECT_BRIDGE, "buffer", KT_COUNT, bridge_buffer, 1, 16777216),
    K_DUR(SECT_BRIDGE, "reconnect_min", bridge_reconnect_min, HOUR, "1h"),
    K_DUR(SECT_BRIDGE, "reconnect_max", bridge_reconnect_max, HOUR, "1h"),
};

static const char *const timer_keys[] = {"every", "after", "emit", "data"};
static const char *const hook_keys[] = {"on",          "exec",    "timeout",
                                        "concurrency", "retries", "backoff"};

#define TIMER_MAX        UTIL_TASK_MAX
#define HOOK_TIMEOUT_MAX HOUR

struct conf_error {
	int line;   /* 0: not tied to a line */
	size_t seq; /* keeps the order of errors on one line */
	char *msg;
};

struct seen_key {
	char *name;
	int line;
};

struct parser {
	const char *path;
	const char *data; /* the whole file */
	size_t size, pos;
	char *line;
	size_t cap;
	int lineno;
	struct conf *c;

	enum sect sect;
	char *sect_name; /* as written between the brackets, quoted */
	int sect_line;
	int first_line[SECT_COUNT]; /* fixed sections seen so far */
	struct seen_key *keys;      /* keys given in the current section */
	size_t nkeys;
	struct conf_timer *timer, **timer_tail;
	struct conf_hook *hook, **hook_tail;
	int soft_line, hard_line;

	struct conf_error *errs;
	size_t nerrs;

	char qbuf[CONF_QUOTE_SLOTS][QUOTE_BUF]; /* see qs() */
	unsigned qnext;
};

/* Length of the UTF-8 character at s (at most n bytes), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, min = 0x80, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, min = 0x800, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, min = 0x10000, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/*
 * Copy at most max characters of s into dst (cap bytes, at least 4 * max
 * + 4), control characters and invalid UTF-8 escaped (\n, \t, \xHH), with
 * "..." when cut. Returns dst.
 */
static char *
quote_n(char *dst, size_t cap, const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0, chars = 0;

	assert(cap >= 4 * max + 4);
	while (i < n && chars < max) {
		size_t len = utf8_len(u + i, n - i);
		if (len == 1 && u[i] >= 0x20 && u[i] != 0x7F) {
			dst[o++] = (char)u[i];
		} else if (len > 1) {
			memcpy(dst + o, u + i, len);
			o += len;
		} else if (u[i] == '\n' || u[i] == '\t' || u[i] == '\r') {
			dst[o++] = '\\';
			dst[o++] = u[i] == '\n'   ? 'n'
			           : u[i] == '\t' ? 't'
			                          : 'r';
			len = 1;
		} else {
			snprintf(dst + o, cap - o, "\\x%02X", u[i]);
			o += 4;
			len = 1;
		}
		i += len;
		chars++;
	}
	if (i < n) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

/* At most QUOTE_MAX characters of input, escaped, into a QUOTE_BUF. */
static char *
quote(char *dst, size_t cap, const char *s)
{
	return quote_n(dst, cap, s, QUOTE_MAX);
}

/*
 * s quoted for an error: valid until CONF_QUOTE_SLOTS more calls, so up to
 * that many can be the arguments of one perr().
 */
static const char *
qs(struct parser *p, const char *s)
{
	char *dst = p->qbuf[p->qnext++ % CONF_QUOTE_SLOTS];

	return quote(dst, QUOTE_BUF, s);
}

/*
 * A parser's error quotes the whole value: replace v in cause by its quoted
 * form when that differs (v long or with control characters). Takes cause.
 */
static char *
requote(char *cause, const char *v)
{
	char q[QUOTE_BUF];
	const char *at;

	if (!cause || !*v || !strcmp(quote(q, sizeof(q), v), v) ||
	    !(at = strstr(cause, v)))
		return cause;
	char *out =
	    xasprintf("%.*s%s%s", (int)(at - cause), cause, q, at + strlen(v));
	free(cause);
	return out;
}

static void perr(struct parser *p, int line, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void
perr(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	/* Last line of defence: what a callee quoted in full is cut here. */
	char *out = xmalloc(4 * CONF_MSG_MAX + 4);
	quote_n(out, 4 * CONF_MSG_MAX + 4, msg, CONF_MSG_MAX);
	free(msg);
	p->errs = xrealloc(p->errs, (p->nerrs + 1) * sizeof(*p->errs));
	p->errs[p->nerrs] = (struct conf_error){
	    .line = line,
	    .seq = p->nerrs,
	    .msg = out,
	};
	p->nerrs++;
}

/* "bad value for 'KEY' in [SECTION]: CAUSE", the value quoted short. */
static void
bad_value(struct parser *p, const char *name, const char *v, char *cause)
{
	cause = requote(cause, v);
	perr(p, p->lineno, "bad value for '%s' in [%s]: %s", qs(p, name),
	     p->sect_name, cause ? cause : "invalid");
	free(cause);
}

static int
err_cmp(const void *a, const void *b)
{
	const struct conf_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* 1-max characters of [A-Za-z0-9_.:-]: event, timer and hook names. */
static bool
name_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && !strchr("_.:-", ch))
			return false;
	}
	return true;
}

/* An event pattern: an exact name, "prefix.*" or "*" (as services/bus.h). */
static bool
pattern_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 1 && s[0] == '*')
		return true;
	if (n > 2 && s[n - 1] == '*' && s[n - 2] == '.')
		return name_valid(s, n - 2, CONF_EVENT_MAX);
	return name_valid(s, n, CONF_EVENT_MAX);
}

/* "1K", "8M", "1G" when exact, else bytes. */
static void
format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "GMK";

	for (int i = 0; i < 3; i++) {
		uint64_t m = 1ULL << (10 * (3 - i));
		if (v >= m && v % m == 0) {
			snprintf(buf, len, "%llu%c",
			         (unsigned long long)(v / m), units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* The one duration range check (daemon/util.h), shared with `schedule`. */
static int
parse_duration(const char *v, double max, const char *max_text, double *out,
               char **cause)
{
	return util_parse_duration_max(v, max, max_text, out, cause);
}

static int
parse_range(const char *v, uint64_t min, uint64_t max, uint64_t *out,
            char **cause)
{
	if (util_parse_uint(v, max, out, cause) < 0) {
		if (v[strspn(v, "0123456789")] != '\0')
			return -1;
		free(*cause); /* all digits: too large */
		goto out_of_range;
	}
	if (*out < min)
		goto out_of_range;
	return 0;
out_of_range:
	*cause = xasprintf("'%s' is out of range (%llu..%llu)", v,
	                   (unsigned long long)min, (unsigned long long)max);
	return -1;
}

static int
parse_bytes(const char *v, uint64_t min, uint64_t max, uint64_t *out,
            char **cause)
{
	char lo[32], hi[32];

	if (util_parse_size(v, out, cause) < 0)
		return -1;
	if (*out >= min && *out <= max)
		return 0;
	format_size(min, lo, sizeof(lo));
	format_size(max, hi, sizeof(hi));
	*cause = xasprintf("'%s' is out of range (%s..%s)", v, lo, hi);
	return -1;
}

static int
check_group(const char *name, char **cause)
{
	struct group gr, *res = NULL;
	long n = sysconf(_SC_GETGR_R_SIZE_MAX);
	size_t len = n > 0 ? (size_t)n : 16384;
	char *buf;
	int rc;

	for (;;) {
		buf = xmalloc(len);
		rc = getgrnam_r(name, &gr, buf, len, &res);
		free(buf);
		if (rc != ERANGE || len >= (1U << 24))
			break;
		len *= 2;
	}
	if (res)
		return 0;
	if (rc != 0 && rc != ENOENT && rc != ESRCH)
		*cause = xasprintf("cannot look up group '%s': %s", name,
		                   strerror(rc));
	else
		*cause = xasprintf("unknown group '%s'", name);
	return -1;
}

/* [bridge] url, publish/subscribe and channel. */
static int
set_bridge_key(void *dst, enum ktype type, const char *v, char **cause)
{
	struct bridge_url url;
	char **list = NULL;
	size_t n = 0;

	switch (type) {
	case KT_URL:
		if (bridge_url_parse(v, &url, cause) < 0)
			return -1;
		bridge_url_clear(&url);
		break;
	case KT_CHANNEL:
		if (!bridge_channel_valid(v)) {
			*cause = xasprintf("'%s' is not a channel prefix (1-64 "
			                   "characters of A-Z a-z 0-9 _ . : -)",
			                   v);
			return -1;
		}
		break;
	case KT_PATTERNS:
		for (const char *q = v; *q;) {
			size_t len = strcspn(q, " \t,");
			if (len) {
				char *pat = xstrndup(q, len);
				if (!pattern_valid(pat)) {
					char qb[QUOTE_BUF];
					*cause = xasprintf(
					    "'%s' is not an event pattern "
					    "(NAME, PREFIX.* or *)",
					    quote(qb, sizeof(qb), pat));
					free(pat);
					goto out_bad_list;
				}
				list = xrealloc(list, (n + 2) * sizeof(*list));
				list[n++] = pat;
				list[n] = NULL;
			}
			q += len;
			q += strspn(q, " \t,");
		}
		for (char **o = *(char ***)dst; o && *o; o++)
			free(*o);
		free(*(char ***)dst);
		*(char ***)dst = list;
		return 0;
	default:
		*cause = xstrdup("internal error: not a bridge key");
		return -1;
	}
	free(*(char **)dst);
	*(char **)dst = xstrdup(v);
	return 0;

out_bad_list:
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return -1;
}

/* Parse v into the conf field k names. */
static int
set_key(struct conf *c, const struct conf_key *k, const char *v, char **cause)
{
	void *dst = (char *)c + k->off;
	uint64_t u;
	int level;

	switch (k->type) {
	case KT_DURATION:
		return parse_duration(v, k->dmax, k->dmax_text, dst, cause);
	case KT_BYTES: return parse_bytes(v, k->min, k->max, dst, cause);
	case KT_UINT:
		if (parse_range(v, k->min, k->max, &u, cause) < 0)
			return -1;
		*(unsigned *)dst = (unsigned)u;
		return 0;
	case KT_COUNT:
		if (parse_range(v, k->min, k->max, &u, cause) < 0)
			return -1;
		*(size_t *)dst = (size_t)u;
		return 0;
	case KT_BOOL: return util_parse_bool(v, dst, cause);
	case KT_LEVEL:
		if ((level = log_parse_level(v)) < 0) {
			*cause =
			    xasprintf("'%s' is not a log level (use error, "
			              "warning, info or debug)",
			              v);
			return -1;
		}
		*(int *)dst = level;
		return 0;
	case KT_SOCKET:
		if (!*v) {
			*cause = xstrdup("empty path");
			return -1;
		}
		if (strlen(v) > CONF_SOCKET_MAX) {
			*cause =
			    xasprintf("path is %zu bytes long (at most %zu)",
			              strlen(v), CONF_SOCKET_MAX);
			return -1;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(v);
		return 0;
	case KT_GROUP:
		if (*v && check_group(v, cause) < 0)
			return -1;
		free(*(char **)dst);
		*(char **)dst = *v ? xstrdup(v) : NULL;
		return 0;
	case KT_PATH:
		if (!*v) {
			*cause = xstrdup("empty path");
			return -1;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(v);
		return 0;
	case KT_SYNC:
		if (!strcmp(v, "always"))
			*(int *)dst = CONF_SYNC_ALWAYS;
		else if (!strcmp(v, "batch"))
			*(int *)dst = CONF_SYNC_BATCH;
		else if (!strcmp(v, "off"))
			*(int *)dst = CONF_SYNC_OFF;
		else {
			*cause =
			    xasprintf("'%s' is not always, batch or off", v);
			return -1;
		}
		return 0;
	case KT_DAMAGE:
		if (!strcmp(v, "refuse"))
			*(int *)dst = CONF_DAMAGE_REFUSE;
		else if (!strcmp(v, "continue"))
			*(int *)dst = CONF_DAMAGE_CONTINUE;
		else {
			*cause = xasprintf("'%s' is not refuse or continue", v);
			return -1;
		}
		return 0;
	case KT_URL:
	case KT_PATTERNS:
	case KT_CHANNEL: return set_bridge_key(dst, k->type, v, cause);
	}
	*cause = xstrdup("internal error: unknown key type");
	return -1;
}

/*
 * Split a command line into argv without a shell: blanks separate words;
 * '...' is literal; "..." and bare text take backslash escapes.
 */
static char **
split_argv(const char *s, char **cause)
{
	struct buf b = {0};
	char **argv = NULL;
	size_t n = 0;
	const char *q = s;

	for (;;) {
		while (isspace((unsigned char)*q))
			q++;
		if (!*q)
			break;
		buf_reset(&b);
		while (*q && !isspace((unsigned char)*q)) {
			if (*q == '\'') {
				const char *e = strchr(q + 1, '\'');
				if (!e) {
					*cause = xstrdup("unterminated single "
					                 "quote");
					goto out_fail;
				}
				buf_append(&b, q + 1, (size_t)(e - q - 1));
				q = e + 1;
			} else if (*q == '"') {
				for (q++; *q && *q != '"'; q++) {
					if (*q == '\\' && q[1])
						q++;
					buf_putc(&b, *q);
				}
				if (!*q) {
					*cause = xstrdup("unterminated double "
					                 "quote");
					goto out_fail;
				}
				q++;
			} else if (*q == '\\') {
				if (!q[1]) {
					*cause = xstrdup("trailing backslash");
					goto out_fail;
				}
				buf_putc(&b, q[1]);
				q += 2;
			} else {
				buf_putc(&b, *q++);
			}
		}
		argv = xrealloc(argv, (n + 2) * sizeof(*argv));
		argv[n++] = b.len ? xstrndup(buf_head(&b), b.len) : xstrdup("");
		argv[n] = NULL;
	}
	buf_free(&b);
	if (n == 0)
		*cause = xstrdup("empty command");
	return argv;

out_fail:
	buf_free(&b);
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	return NULL;
}

static bool
executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

static void
free_argv(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

static void
timer_key(struct parser *p, const char *name, const char *v)
{
	struct conf_timer *t = p->timer;
	char *cause = NULL;

	if (!strcmp(name, "every") || !strcmp(name, "after")) {
		if (parse_duration(v, TIMER_MAX, UTIL_TASK_MAX_TEXT,
		                   &t->interval, &cause) < 0)
			goto out_bad;
		t->periodic = name[0] == 'e';
	} else if (!strcmp(name, "emit")) {
		if (!name_valid(v, strlen(v), CONF_EVENT_MAX)) {
			cause =
			    xasprintf("'%s' is not a valid event name (1-128 "
			              "characters of A-Z a-z 0-9 _ . : -)",
			              v);
			goto out_bad;
		}
		free(t->emit);
		t->emit = xstrdup(v);
	} else if (!strcmp(name, "data")) {
		json_error_t jerr;
		json_t *j = json_loads(
		    v, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
		if (!j) {
			cause = xasprintf("invalid JSON: %s", jerr.text);
			goto out_bad;
		}
		if (!json_is_object(j)) {
			json_decref(j);
			cause = xstrdup("not a JSON object");
			goto out_bad;
		}
		json_decref(j);
		/* the text as written, compacted: event data is never
		 * re-serialised, so numbers are emitted as configured */
		struct buf b = {0};
		util_json_compact(&b, v, strlen(v));
		buf_putc(&b, '\0');
		free(t->data);
		t->data = b.data;
	}
	return;

out_bad:
	bad_value(p, name, v, cause);
}

static void
hook_key(struct parser *p, const char *name, const char *v)
{
	struct conf_hook *h = p->hook;
	char *cause = NULL;
	uint64_t u;

	if (!strcmp(name, "on")) {
		if (!pattern_valid(v)) {
			cause = xasprintf("'%s' is not an event pattern (NAME, "
			                  "PREFIX.* or *)",
			                  v);
			goto out_bad;
		}
		free(h->on);
		h->on = xstrdup(v);
	} else if (!strcmp(name, "exec")) {
		char **argv = split_argv(v, &cause);
		if (!argv) {
			perr(p, p->lineno, "hook '%s': exec: %s", h->name,
			     cause);
			free(cause);
			return;
		}
		if (argv[0][0] != '/')
			perr(p, p->lineno,
			     "hook '%s': exec '%s' is not an absolute path",
			     h->name, qs(p, argv[0]));
		else if (!executable_file(argv[0]))
			perr(p, p->lineno,
			     "hook '%s': exec '%s' is not an executable file",
			     h->name, qs(p, argv[0]));
		free_argv(h->argv);
		h->argv = argv;
	} else if (!strcmp(name, "timeout")) {
		if (parse_duration(v, HOOK_TIMEOUT_MAX, "1h", &h->timeout,
		                   &cause) < 0)
			goto out_bad;
	} else if (!strcmp(name, "concurrency")) {
		if (parse_range(v, 1, 64, &u, &cause) < 0)
			goto out_bad;
		h->concurrency = (unsigned)u;
	} else if (!strcmp(name, "retries")) {
		if (parse_range(v, 0, 10, &u, &cause) < 0)
			goto out_bad;
		h->retries = (unsigned)u;
	} else if (!strcmp(name, "backoff")) {
		if (parse_duration(v, HOOK_TIMEOUT_MAX, "1h", &h->backoff,
		                   &cause) < 0)
			goto out_bad;
	}
	return;

out_bad:
	bad_value(p, name, v, cause);
}

static bool
key_seen(const struct parser *p, const char *name)
{
	for (size_t i = 0; i < p->nkeys; i++)
		if (!strcmp(p->keys[i].name, name))
			return true;
	return false;
}

static bool
in_list(const char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

/* inih's handler: one "key = value" (section is ours, not inih's). */
static int
conf_handler(void *user, const char *section, const char *name,
             const char *value)
{
	struct parser *p = user;
	const struct conf_key *k = NULL;
	bool known = false;

	(void)section;
	if (p->sect == SECT_SKIP)
		return 1;
	if (p->sect == SECT_NONE) {
		perr(p, p->lineno, "key '%s' is outside of any section",
		     qs(p, name));
		return 1;
	}
	if (p->sect == SECT_TIMER) {
		known = in_list(timer_keys, ARRAY_SIZE(timer_keys), name);
	} else if (p->sect == SECT_HOOK) {
		known = in_list(hook_keys, ARRAY_SIZE(hook_keys), name);
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(conf_keys); i++) {
			if (conf_keys[i].sect == p->sect &&
			    !strcmp(conf_keys[i].name, name)) {
				k = &conf_keys[i];
				break;
			}
		}
		known = k != NULL;
	}
	if (!known) {
		perr(p, p->lineno, "unknown key '%s' in [%s]", qs(p, name),
		     p->sect_name);
		return 1;
	}
	if (key_seen(p, name)) {
		perr(p, p->lineno, "duplicate key '%s' in [%s]", qs(p, name),
		     p->sect_name);
		return 1;
	}
	p->keys = xrealloc(p->keys, (p->nkeys + 1) * sizeof(*p->keys));
	p->keys[p->nkeys++] = (struct seen_key){xstrdup(name), p->lineno};

	if (p->sect == SECT_TIMER) {
		timer_key(p, name, value);
	} else if (p->sect == SECT_HOOK) {
		hook_key(p, name, value);
	} else {
		char *cause = NULL;
		if (set_key(p->c, k, value, &cause) < 0)
			bad_value(p, name, value, cause);
		if (k->off == F(output_soft))
			p->soft_line = p->lineno;
		else if (k->off == F(output_hard))
			p->hard_line = p->lineno;
	}
	return 1;
}

/* Checks that need the whole section, reported at its header. */
static void
section_end(struct parser *p)
{
	if (p->sect == SECT_TIMER) {
		const char *n = p->timer->name;
		bool every = key_seen(p, "every"), after = key_seen(p, "after");
		if (every && after)
			perr(p, p->sect_line,
			     "timer '%s': 'every' and 'after' "
			     "are both set (use one)",
			     n);
		else if (!every && !after)
			perr(p, p->sect_line,
			     "timer '%s': 'every' or 'after' "
			     "is required",
			     n);
		if (!key_seen(p, "emit"))
			perr(p, p->sect_line, "timer '%s': 'emit' is required",
			     n);
	} else if (p->sect == SECT_HOOK) {
		const char *n = p->hook->name;
		if (!key_seen(p, "on"))
			perr(p, p->sect_line, "hook '%s': 'on' is required", n);
		if (!key_seen(p, "exec"))
			perr(p, p->sect_line, "hook '%s': 'exec' is required",
			     n);
	} else if (p->sect == SECT_BRIDGE) {
		if (!key_seen(p, "url"))
			perr(p, p->sect_line, "[bridge]: 'url' is required");
		if (p->c->bridge_reconnect_min > p->c->bridge_reconnect_max)
			perr(p, p->sect_line,
			     "[bridge]: reconnect_min is more than "
			     "reconnect_max");
	}
	for (size_t i = 0; i < p->nkeys; i++)
		free(p->keys[i].name);
	free(p->keys);
	p->keys = NULL;
	p->nkeys = 0;
	p->timer = NULL;
	p->hook = NULL;
	p->sect = SECT_SKIP;
}

/* [timer.NAME] or [hook.NAME]: the name, or NULL after reporting it bad. */
static const char *
item_name(struct parser *p, const char *sect, const char *kind)
{
	const char *name = strchr(sect, '.') + 1;

	if (name_valid(name, strlen(name), CONF_NAME_MAX))
		return name;
	perr(p, p->lineno,
	     "bad %s name '%s' in [%s] (1-64 characters of "
	     "A-Z a-z 0-9 _ . : -)",
	     kind, qs(p, name), qs(p, sect));
	return NULL;
}

static void
section_begin(struct parser *p, const char *name)
{
	const char *item;

	section_end(p);
	free(p->sect_name);
	p->sect_name = xstrdup(qs(p, name));
	p->sect_line = p->lineno;
	p->sect = SECT_SKIP;

	if (!strncmp(name, "timer.", 6)) {
		if (!(item = item_name(p, name, "timer")))
			return;
		for (struct conf_timer *t = p->c->timers; t; t = t->next) {
			if (!strcmp(t->name, item)) {
				perr(p, p->lineno,
				     "duplicate section [%s] "
				     "(first at line %d)",
				     name, t->line);
				return;
			}
		}
		struct conf_timer *t = xcalloc(1, sizeof(*t));
		t->name = xstrdup(item);
		t->data = xstrdup("{}");
		t->line = p->lineno;
		*p->timer_tail = t;
		p->timer_tail = &t->next;
		p->timer = t;
		p->sect = SECT_TIMER;
	} else if (!strncmp(name, "hook.", 5)) {
		if (!(item = item_name(p, name, "hook")))
			return;
		for (struct conf_hook *h = p->c->hooks; h; h = h->next) {
			if (!strcmp(h->name, item)) {
				perr(p, p->lineno,
				     "duplicate section [%s] "
				     "(first at line %d)",
				     name, h->line);
				return;
			}
		}
		struct conf_hook *h = xcalloc(1, sizeof(*h));
		h->name = xstrdup(item);
		h->timeout = 30;
		h->concurrency = 1;
		h->retries = 0;
		h->backoff = 1;
		h->line = p->lineno;
		*p->hook_tail = h;
		p->hook_tail = &h->next;
		p->hook = h;
		p->sect = SECT_HOOK;
	} else if (!strcmp(name, "timer") || !strcmp(name, "hook")) {
		perr(p, p->lineno, "section [%s] needs a name: [%s.NAME]", name,
		     name);
	} else {
		for (int s = 0; s < SECT_COUNT; s++) {
			if (!sect_names[s] || strcmp(sect_names[s], name))
				continue;
			if (p->first_line[s]) {
				perr(p, p->lineno,
				     "duplicate section [%s] "
				     "(first at line %d)",
				     p->sect_name, p->first_line[s]);
				return;
			}
			p->first_line[s] = p->lineno;
			p->sect = (enum sect)s;
			if (s == SECT_JOURNAL)
				p->c->journal = true;
			return;
		}
		perr(p, p->lineno, "unknown section [%s]", p->sect_name);
	}
}

/*
 * The first of chars, or of an inline comment (';' after a blank, as inih
 * has it), or the end of s.
 */
static char *
find_chars_or_comment(char *s, const char *chars)
{
	bool was_space = false;

	for (; *s; s++) {
		if (chars && strchr(chars, *s))
			break;
		if (was_space && *s == ';')
			break;
		was_space = isspace((unsigned char)*s);
	}
	return s;
}

static char *
strip(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "[name]" with optional trailing comment. */
static void
section_line(struct parser *p, char *s)
{
	char *end = find_chars_or_comment(s + 1, "]");
	char *rest;

	if (*end != ']') {
		perr(p, p->lineno, "unclosed section header '%s' (missing ']')",
		     qs(p, s));
		section_end(p); /* keys below belong to no known section */
		return;
	}
	*end = '\0';
	rest = strip(end + 1);
	if (*rest && *rest != ';' && *rest != '#') {
		perr(p, p->lineno,
		     "unexpected text '%s' after section header "
		     "[%s]",
		     qs(p, rest), qs(p, s + 1));
		section_end(p);
		return;
	}
	section_begin(p, strip(s + 1));
}

/*
 * inih's reader: return the next "key = value" line, handling everything
 * else here (see the note at the top).
 */
static char *
conf_read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;

	for (;;) {
		if (p->pos >= p->size)
			return NULL;
		const char *start = p->data + p->pos;
		const char *nl = memchr(start, '\n', p->size - p->pos);
		size_t n = nl ? (size_t)(nl - start) : p->size - p->pos;
		if (n + 1 > p->cap) {
			p->cap = n + 1;
			p->line = xrealloc(p->line, p->cap);
		}
		memcpy(p->line, start, n);
		p->line[n] = '\0';
		p->pos += n + (nl != NULL);
		p->lineno++;
		char *s = p->line;
		if (p->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
			s += 3; /* UTF-8 byte order mark */
		s = strip(s);
		if (!*s || *s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			section_line(p, s);
			continue;
		}
		char *sep = find_chars_or_comment(s, "=:");
		if (*sep != '=' && *sep != ':') {
			*find_chars_or_comment(s, NULL) = '\0';
			perr(p, p->lineno, "expected 'key = value', got '%s'",
			     qs(p, strip(s)));
			continue;
		}
		if (sep == s) {
			perr(p, p->lineno, "missing key name before '%c'",
			     *sep);
			continue;
		}
		size_t len = strlen(s);
		if (num > 1 && len + 2 <= (size_t)num) {
			memcpy(str, s, len);
			str[len] = '\n';
			str[len + 1] = '\0';
			return str;
		}
		/* Too long for inih: split it the same way ourselves. */
		*sep = '\0';
		char *value = sep + 1;
		*find_chars_or_comment(value, NULL) = '\0';
		conf_handler(p, "", strip(s), strip(value));
	}
}

/* Checks across keys, once the whole file is read. */
static void
conf_cross_check(struct parser *p)
{
	const struct conf *c = p->c;
	char soft[32], hard[32];

	if (c->output_hard >= c->output_soft)
		return;
	format_size(c->output_soft, soft, sizeof(soft));
	format_size(c->output_hard, hard, sizeof(hard));
	if (p->hard_line >= p->soft_line)
		perr(p, p->hard_line,
		     "bad value for 'output_hard' in "
		     "[control]: %s is less than output_soft (%s)",
		     hard, soft);
	else
		perr(p, p->soft_line,
		     "bad value for 'output_soft' in "
		     "[control]: %s is more than output_hard (%s)",
		     soft, hard);
}

static const char *
file_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a file";
}

static int
check_file(const char *path, const struct stat *st, char **cause)
{
	if (!S_ISREG(st->st_mode)) {
		*cause = xasprintf("%s: not a regular file (%s)", path,
		                   file_kind(st->st_mode));
		return -1;
	}
	if (st->st_size > (off_t)CONF_FILE_MAX) {
		*cause = xasprintf("%s: too large (%lld bytes, at most 4 MiB)",
		                   path, (long long)st->st_size);
		return -1;
	}
	return 0;
}

/*
 * Read path whole into b: a regular file of at most CONF_FILE_MAX bytes.
 * Never blocks: a FIFO or a device is refused before it is opened (and
 * again after, on the open file, in case it was swapped), and the open
 * itself is O_NONBLOCK.
 */
static int
read_file(const char *path, struct buf *b, char **cause)
{
	struct stat st;
	ssize_t n;
	int fd;

	if (stat(path, &st) < 0) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (check_file(path, &st, cause) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		goto out_close_fd;
	}
	if (check_file(path, &st, cause) < 0)
		goto out_close_fd;
	for (;;) {
		/* up to one byte past the cap: a file that grew is refused */
		size_t room = CONF_FILE_MAX + 1 - b->len;
		if (room > 65536)
			room = 65536;
		buf_reserve(b, room);
		n = read(fd, buf_tail(b), room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*cause = xasprintf("cannot read %s: %s", path,
			                   strerror(errno));
			goto out_close_fd;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > CONF_FILE_MAX) {
			*cause =
			    xasprintf("%s: too large (more than 4 MiB)", path);
			goto out_close_fd;
		}
	}
	close(fd);
	return 0;

out_close_fd:
	close(fd);
	return -1;
}

struct conf *
conf_load(const char *path, char **cause)
{
	struct parser p = {.path = path};
	struct buf file = {0};
	struct buf b = {0};
	int rc;

	if (read_file(path, &file, cause) < 0) {
		buf_free(&file);
		return NULL;
	}
	p.data = buf_head(&file);
	p.size = file.len;
	p.c = conf_defaults();
	p.c->path = xstrdup(path);
	p.timer_tail = &p.c->timers;
	p.hook_tail = &p.c->hooks;

	rc = ini_parse_stream(conf_read_line, &p, conf_handler, &p);
	section_end(&p);
	if (rc != 0 && p.nerrs == 0)
		perr(&p, 0, "syntax error (inih: %d)", rc);
	conf_cross_check(&p);
	if (p.nerrs == 0)
		goto out;

	qsort(p.errs, p.nerrs, sizeof(*p.errs), err_cmp);
	for (size_t i = 0; i < p.nerrs; i++) {
		if (i == CONF_ERRORS_MAX) {
			buf_printf(&b, "\n%s: %zu more errors not shown", path,
			           p.nerrs - i);
			break;
		}
		if (i)
			buf_putc(&b, '\n');
		if (p.errs[i].line > 0)
			buf_printf(&b, "%s:%d: %s", path, p.errs[i].line,
			           p.errs[i].msg);
		else
			buf_printf(&b, "%s: %s", path, p.errs[i].msg);
	}
	*cause = xstrndup(buf_head(&b), b.len);
	buf_free(&b);
	conf_free(p.c);
	p.c = NULL;
out:
	for (size_t i = 0; i < p.nerrs; i++)
		free(p.errs[i].msg);
	free(p.errs);
	free(p.sect_name);
	free(p.line);
	buf_free(&file);
	return p.c;
}

/* ---- reload ---- */

static bool
str_differs(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b) != 0;
}

static bool
strv_differs(char *const *a, char *const *b)
{
	for (; a && *a && b && *b; a++, b++)
		if (strcmp(*a, *b))
			return true;
	return (a && *a) || (b && *b);
}

/* The bridge is set up once at start: any change needs a restart. */
static bool
bridge_conf_differs(const struct conf *a, const struct conf *b)
{
	return str_differs(a->bridge_url, b->bridge_url) ||
	       str_differs(a->bridge_channel, b->bridge_channel) ||
	       strv_differs(a->bridge_publish, b->bridge_publish) ||
	       strv_differs(a->bridge_subscribe, b->bridge_subscribe) ||
	       a->bridge_buffer != b->bridge_buffer ||
	       a->bridge_reconnect_min != b->bridge_reconnect_min ||
	       a->bridge_reconnect_max != b->bridge_reconnect_max;
}

static bool
journal_conf_differs(const struct conf *a, const struct conf *b)
{
	return a->journal != b->journal ||
	       str_differs(a->journal_path, b->journal_path) ||
	       a->journal_sync != b->journal_sync ||
	       a->journal_keep_count != b->journal_keep_count ||
	       a->journal_keep_age != b->journal_keep_age ||
	       a->journal_on_damage != b->journal_on_damage;
}

static bool
hooks_conf_differ(const struct conf *a, const struct conf *b)
{
	const struct conf_hook *x = a->hooks, *y = b->hooks;

	for (; x && y; x = x->next, y = y->next) {
		if (str_differs(x->name, y->name) ||
		    str_differs(x->on, y->on) || x->timeout != y->timeout ||
		    x->concurrency != y->concurrency ||
		    x->retries != y->retries || x->backoff != y->backoff)
			return true;
		size_t i = 0;
		for (; x->argv[i] && y->argv[i]; i++)
			if (strcmp(x->argv[i], y->argv[i]) != 0)
				return true;
		if (x->argv[i] || y->argv[i])
			return true;
	}
	return x || y;
}

int
conf_check_reload(const struct conf *old, const struct conf *new, char **cause)
{
	struct buf b = {0};
	const struct {
		const char *name;
		bool changed;
	} keys[] = {
	    {"socket", str_differs(old->socket, new->socket)},
	    {"group", str_differs(old->group, new->group)},
	    {"queue_size", old->queue_size != new->queue_size},
	    {"history", old->history != new->history},
	    {"batch", old->batch != new->batch},
	    {"listener_timeout",
	     old->listener_timeout != new->listener_timeout},
	    {"[bridge]", bridge_conf_differs(old, new)},
	    {"[journal]", journal_conf_differs(old, new)},
	    {"[hook.NAME] sections", hooks_conf_differ(old, new)},
	};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (!keys[i].changed)
			continue;
		if (b.len)
			buf_putc(&b, '\n');
		buf_printf(&b, "%s changed; takes effect after a restart",
		           keys[i].name);
	}
	*cause = b.len ? xstrndup(buf_head(&b), b.len) : NULL;
	buf_free(&b);
	return 0;
}

void
conf_keep_fixed(struct conf *c, const struct conf *old)
{
	free(c->socket);
	c->socket = xstrdup(old->socket);
	free(c->group);
	c->group = old->group ? xstrdup(old->group) : NULL;
	c->queue_size = old->queue_size;
	c->history = old->history;
	c->batch = old->batch;
	c->listener_timeout = old->listener_timeout;
}

/* ---- the running configuration ---- */

const struct conf *
conf_get(void)
{
	if (!running)
		running = conf_defaults();
	return running;
}

void
conf_set(struct conf *c)
{
	if (c == running)
		return;
	conf_free(running);
	running = c;
}

void
conf_cleanup(void)
{
	conf_free(running);
	running = NULL;
}
