/*
 * conf.c — the configuration engine: the INI reader (inih), the stock item
 * types, and the generic load / override / reload steps over the sections
 * the descriptors of a table declare. It knows no service.
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
 * A section header is looked up among the sections the table's descriptors
 * own (several services may own items of one plain section); a key among
 * the items of the section's owners. Every error is collected with its line
 * and the list is sorted by line at the end, so a file with ten typos is
 * reported in one go. A section's check runs when the section ends and
 * reports at the section header's line or at a key's.
 *
 * Bounds. The file is read whole into memory before parsing: opened without
 * blocking, refused unless it is a regular file of at most CONF_FILE_MAX
 * bytes, so a FIFO, a device or /dev/zero named as the config never stalls
 * the loop on reload nor fills memory. Anything quoted from the file in an
 * error is cut to QUOTE_MAX characters with its control characters escaped
 * (quote()), every message is bounded (perr) and at most CONF_ERRORS_MAX
 * errors are listed, so a huge line never becomes a huge log line or reply.
 */
#include "daemon/conf.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"

#define CONF_NAME_MAX   64 /* the NAME of a named section [x.NAME] */
#define CONF_SOCKET_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

#define CONF_FILE_MAX    (4U << 20) /* bytes; "4 MiB" in messages */
#define QUOTE_MAX        80         /* characters of input quoted in an error */
#define QUOTE_BUF        (4 * QUOTE_MAX + 4) /* escaped, "...", NUL */
#define CONF_MSG_MAX     512                 /* bytes of one error message */
#define CONF_ERRORS_MAX  100 /* errors listed; the rest are counted */
#define CONF_QUOTE_SLOTS 4   /* qs() results usable in one perr call */

struct svc_conf {
	char *path;                    /* NULL for the built-in defaults */
	const struct svc_desc **table; /* a copy: descriptors borrowed */
	size_t n;
	void **opts; /* opts[i] for table[i]; NULL without conf_size */
};

struct conf_error {
	int line;   /* 0: not tied to a line */
	size_t seq; /* keeps the order of errors on one line */
	char *msg;
};

struct seen_key {
	char *name;
	int line;
};

/* A service owning (items of) the current section. */
struct owner {
	const struct svc_conf_section *sec;
	void *target; /* the options struct, or a named section's instance */
};

enum sect_state {
	SECT_NONE, /* before the first section header */
	SECT_SKIP, /* a section already reported as bad: keys ignored */
	SECT_OK,
};

struct svc_conf_ctx {
	const char *path;
	const char *data; /* the whole file */
	size_t size, pos;
	char *line;
	size_t cap;
	int lineno;
	struct svc_conf *c;

	enum sect_state state;
	char *sect_name;       /* as written between the brackets, quoted */
	const char *inst_name; /* NAME of [x.NAME], else NULL */
	int sect_line;
	struct owner *owners;
	size_t nowners;
	struct seen_key *keys; /* keys given in the current section */
	size_t nkeys;
	struct seen_key *sects; /* plain sections seen so far */
	size_t nsects;

	struct conf_error *errs;
	size_t nerrs;

	char qbuf[CONF_QUOTE_SLOTS][QUOTE_BUF]; /* see qs() */
	unsigned qnext;
};

#define FOREACH_SECTION(d, sp)                                                 \
	for (const struct svc_conf_section *const *sp = (d)->conf; sp && *sp;  \
	     sp++)

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
qs(struct svc_conf_ctx *p, const char *s)
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

static void perr(struct svc_conf_ctx *p, int line, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void
perr(struct svc_conf_ctx *p, int line, const char *fmt, ...)
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
bad_value(struct svc_conf_ctx *p, const char *name, const char *v, char *cause)
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
	util_format_size(min, lo, sizeof(lo));
	util_format_size(max, hi, sizeof(hi));
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

/* ---- the stock types ---- */

static int
limit_u64(const char *text, bool bytes, uint64_t dflt, uint64_t *out)
{
	if (!text) {
		*out = dflt;
		return 0;
	}
	if (bytes)
		return util_parse_size(text, out, NULL);
	return util_parse_uint(text, UINT64_MAX, out, NULL);
}

static int
duration_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
               const char *v, void *dst, char **cause)
{
	const char *max_text = it->max ? it->max : "3650d";
	double max;

	(void)cx;
	if (util_parse_duration(max_text, 0, &max, NULL) < 0)
		abort(); /* a descriptor's bug */
	return util_parse_duration_max(v, max, max_text, dst, cause);
}

const struct svc_conf_type svc_conf_duration = {
    .name = "duration",
    .parse = duration_parse,
    .size = sizeof(double),
};

static int
size_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
           const char *v, void *dst, char **cause)
{
	uint64_t min, max;

	(void)cx;
	if (limit_u64(it->min, true, 0, &min) < 0 ||
	    limit_u64(it->max, true, UINT64_MAX, &max) < 0)
		abort();
	return parse_bytes(v, min, max, dst, cause);
}

const struct svc_conf_type svc_conf_size = {
    .name = "size",
    .parse = size_parse,
    .size = sizeof(uint64_t),
};

static int
int_parse(const struct svc_conf_item *it, const char *v, uint64_t natural,
          uint64_t *out, char **cause)
{
	uint64_t min, max;

	if (limit_u64(it->min, false, 0, &min) < 0 ||
	    limit_u64(it->max, false, natural, &max) < 0)
		abort();
	return parse_range(v, min, max, out, cause);
}

static int
uint_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
           const char *v, void *dst, char **cause)
{
	uint64_t u;

	(void)cx;
	if (int_parse(it, v, UINT_MAX, &u, cause) < 0)
		return -1;
	*(unsigned *)dst = (unsigned)u;
	return 0;
}

const struct svc_conf_type svc_conf_uint = {
    .name = "uint",
    .parse = uint_parse,
    .size = sizeof(unsigned),
};

static int
count_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
            const char *v, void *dst, char **cause)
{
	uint64_t u;

	(void)cx;
	if (int_parse(it, v, SIZE_MAX, &u, cause) < 0)
		return -1;
	*(size_t *)dst = (size_t)u;
	return 0;
}

const struct svc_conf_type svc_conf_count = {
    .name = "count",
    .parse = count_parse,
    .size = sizeof(size_t),
};

static int
bool_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
           const char *v, void *dst, char **cause)
{
	(void)cx;
	(void)it;
	return util_parse_bool(v, dst, cause);
}

const struct svc_conf_type svc_conf_bool = {
    .name = "bool",
    .parse = bool_parse,
    .size = sizeof(bool),
};

void
svc_conf_str_free(void *dst)
{
	free(*(char **)dst);
	*(char **)dst = NULL;
}

bool
svc_conf_str_equal(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	if (!x || !y)
		return x == y;
	return strcmp(x, y) == 0;
}

void
svc_conf_str_copy(void *dst, const void *src)
{
	const char *s = *(char *const *)src;

	*(char **)dst = s ? xstrdup(s) : NULL;
}

static void
str_set(void *dst, const char *v)
{
	free(*(char **)dst);
	*(char **)dst = v ? xstrdup(v) : NULL;
}

#define STR_TYPE(n, fn)                                                        \
	{                                                                      \
		.name = (n), .parse = (fn), .size = sizeof(char *),            \
		.free = svc_conf_str_free, .equal = svc_conf_str_equal,        \
		.copy = svc_conf_str_copy,                                     \
	}

static int
string_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
             const char *v, void *dst, char **cause)
{
	(void)cx;
	(void)it;
	(void)cause;
	str_set(dst, v);
	return 0;
}

const struct svc_conf_type svc_conf_string = STR_TYPE("string", string_parse);

static int
path_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
           const char *v, void *dst, char **cause)
{
	(void)cx;
	(void)it;
	if (!*v) {
		*cause = xstrdup("empty path");
		return -1;
	}
	str_set(dst, v);
	return 0;
}

const struct svc_conf_type svc_conf_path = STR_TYPE("path", path_parse);

static int
socket_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
             const char *v, void *dst, char **cause)
{
	if (*v && strlen(v) > CONF_SOCKET_MAX) {
		*cause = xasprintf("path is %zu bytes long (at most %zu)",
		                   strlen(v), CONF_SOCKET_MAX);
		return -1;
	}
	return path_parse(cx, it, v, dst, cause);
}

const struct svc_conf_type svc_conf_socket = STR_TYPE("socket", socket_parse);

static int
group_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
            const char *v, void *dst, char **cause)
{
	(void)cx;
	(void)it;
	if (*v && check_group(v, cause) < 0)
		return -1;
	str_set(dst, *v ? v : NULL);
	return 0;
}

const struct svc_conf_type svc_conf_group = STR_TYPE("group", group_parse);

static int
event_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
            const char *v, void *dst, char **cause)
{
	(void)cx;
	(void)it;
	if (!util_name_valid(v, strlen(v), UTIL_EVENT_NAME_MAX)) {
		*cause = xasprintf("'%s' is not a valid event name (1-128 "
		                   "characters of A-Z a-z 0-9 _ . : -)",
		                   v);
		return -1;
	}
	str_set(dst, v);
	return 0;
}

const struct svc_conf_type svc_conf_event = STR_TYPE("event", event_parse);

static int
pattern_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
              const char *v, void *dst, char **cause)
{
	(void)cx;
	(void)it;
	if (!util_pattern_valid(v)) {
		*cause = xasprintf("'%s' is not an event pattern (NAME, "
		                   "PREFIX.* or *)",
		                   v);
		return -1;
	}
	str_set(dst, v);
	return 0;
}

const struct svc_conf_type svc_conf_pattern =
    STR_TYPE("pattern", pattern_parse);

static int
json_object_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
                  const char *v, void *dst, char **cause)
{
	json_error_t jerr;
	json_t *j;

	(void)cx;
	(void)it;
	j = json_loads(v, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		*cause = xasprintf("invalid JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*cause = xstrdup("not a JSON object");
		return -1;
	}
	json_decref(j);
	/* the text as written, compacted: event data is never re-serialised,
	 * so numbers are emitted as configured */
	struct buf b = {0};
	util_json_compact(&b, v, strlen(v));
	buf_putc(&b, '\0');
	free(*(char **)dst);
	*(char **)dst = b.data;
	return 0;
}

const struct svc_conf_type svc_conf_json_object =
    STR_TYPE("json-object", json_object_parse);

static int
enum_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
           const char *v, void *dst, char **cause)
{
	const struct svc_conf_enum *e = it->arg;
	struct buf b = {0};
	size_t n = 0;

	(void)cx;
	for (size_t i = 0; e[i].name; i++) {
		if (!strcmp(e[i].name, v)) {
			*(int *)dst = e[i].value;
			return 0;
		}
		n++;
	}
	buf_printf(&b, "'%s' is not ", v);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s",
		           i == 0      ? ""
		           : i + 1 < n ? ", "
		                       : " or ",
		           e[i].name);
	*cause = xstrndup(buf_head(&b), b.len);
	buf_free(&b);
	return -1;
}

const struct svc_conf_type svc_conf_enum = {
    .name = "enum",
    .parse = enum_parse,
    .size = sizeof(int),
};

static int
level_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
            const char *v, void *dst, char **cause)
{
	int level = log_parse_level(v);

	(void)cx;
	(void)it;
	if (level < 0) {
		*cause = xasprintf("'%s' is not a log level (use error, "
		                   "warning, info or debug)",
		                   v);
		return -1;
	}
	*(int *)dst = level;
	return 0;
}

const struct svc_conf_type svc_conf_level = {
    .name = "log-level",
    .parse = level_parse,
    .size = sizeof(int),
};

void
svc_conf_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void
svc_conf_strv_free_at(void *dst)
{
	svc_conf_strv_free(*(char ***)dst);
	*(char ***)dst = NULL;
}

bool
svc_conf_strv_equal(const void *a, const void *b)
{
	char *const *x = *(char **const *)a, *const *y = *(char **const *)b;

	for (; x && *x && y && *y; x++, y++)
		if (strcmp(*x, *y))
			return false;
	return !(x && *x) && !(y && *y);
}

void
svc_conf_strv_copy(void *dst, const void *src)
{
	char *const *s = *(char **const *)src;
	size_t n = 0;
	char **v;

	if (!s) {
		*(char ***)dst = NULL;
		return;
	}
	while (s[n])
		n++;
	v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(s[i]);
	*(char ***)dst = v;
}

/* Blank- or comma-separated words into a NULL-terminated list at dst
 * (NULL when none); with patterns, each must be an event pattern. */
static int
words_split(const char *v, bool patterns, void *dst, char **cause)
{
	char **list = NULL;
	size_t n = 0;

	for (const char *q = v; *q;) {
		size_t len = strcspn(q, " \t,");
		if (len) {
			char *w = xstrndup(q, len);
			if (patterns && !util_pattern_valid(w)) {
				char qb[QUOTE_BUF];
				*cause = xasprintf("'%s' is not an event "
				                   "pattern (NAME, PREFIX.* or "
				                   "*)",
				                   quote(qb, sizeof(qb), w));
				free(w);
				svc_conf_strv_free(list);
				return -1;
			}
			list = xrealloc(list, (n + 2) * sizeof(*list));
			list[n++] = w;
			list[n] = NULL;
		}
		q += len;
		q += strspn(q, " \t,");
	}
	svc_conf_strv_free(*(char ***)dst);
	*(char ***)dst = list;
	return 0;
}

static int
patterns_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
               const char *v, void *dst, char **cause)
{
	(void)cx;
	(void)it;
	return words_split(v, true, dst, cause);
}

static int
words_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
            const char *v, void *dst, char **cause)
{
	(void)cx;
	(void)it;
	return words_split(v, false, dst, cause);
}

const struct svc_conf_type svc_conf_words = {
    .name = "words",
    .parse = words_parse,
    .size = sizeof(char **),
    .free = svc_conf_strv_free_at,
    .equal = svc_conf_strv_equal,
    .copy = svc_conf_strv_copy,
};

const struct svc_conf_type svc_conf_patterns = {
    .name = "patterns",
    .parse = patterns_parse,
    .size = sizeof(char **),
    .free = svc_conf_strv_free_at,
    .equal = svc_conf_strv_equal,
    .copy = svc_conf_strv_copy,
};

/* ---- for checks and types ---- */

void
svc_conf_error(struct svc_conf_ctx *cx, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!cx)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	perr(cx, line ? line : cx->sect_line, "%s", msg);
	free(msg);
}

int
svc_conf_key_line(const struct svc_conf_ctx *cx, const char *key)
{
	for (size_t i = 0; cx && i < cx->nkeys; i++)
		if (!strcmp(cx->keys[i].name, key))
			return cx->keys[i].line;
	return 0;
}

int
svc_conf_lineno(const struct svc_conf_ctx *cx)
{
	return cx ? cx->lineno : 0;
}

const char *
svc_conf_section_name(const struct svc_conf_ctx *cx)
{
	if (!cx)
		return "";
	return cx->inst_name ? cx->inst_name : cx->sect_name;
}

const struct svc_desc *
svc_conf_service(const struct svc_conf_ctx *cx, const char *name)
{
	for (size_t i = 0; cx && i < cx->c->n; i++)
		if (!strcmp(cx->c->table[i]->name, name))
			return cx->c->table[i];
	return NULL;
}

const struct svc_desc *
svc_conf_task_owner(const struct svc_conf_ctx *cx, const char *task)
{
	for (size_t i = 0; cx && i < cx->c->n; i++)
		for (const char *const *t = cx->c->table[i]->tasks; t && *t;
		     t++)
			if (!strcmp(*t, task))
				return cx->c->table[i];
	return NULL;
}

const char *
svc_conf_quote(struct svc_conf_ctx *cx, const char *s)
{
	return cx ? qs(cx, s) : s;
}

/* ---- items, instances, options ---- */

static void *
at(void *base, size_t off)
{
	return (char *)base + off;
}

static const void *
cat(const void *base, size_t off)
{
	return (const char *)base + off;
}

static struct svc_conf_list *
list_of(void *opts, const struct svc_conf_section *sec)
{
	return at(opts, sec->list_off);
}

static void
item_free(const struct svc_conf_item *it, void *base)
{
	if (it->type->free)
		it->type->free(at(base, it->off));
}

static bool
item_equal(const struct svc_conf_item *it, const void *a, const void *b)
{
	const void *x = cat(a, it->off), *y = cat(b, it->off);

	if (it->type->equal)
		return it->type->equal(x, y);
	return memcmp(x, y, it->type->size) == 0;
}

static void
item_copy(const struct svc_conf_item *it, void *dst, const void *src)
{
	item_free(it, dst);
	if (it->type->copy)
		it->type->copy(at(dst, it->off), cat(src, it->off));
	else
		memcpy(at(dst, it->off), cat(src, it->off), it->type->size);
}

/* ---- the program's name in defaults -------------------------------------- */

static char conf_prog[256] = "svcd";

void
svc_conf_set_program(const char *name)
{
	snprintf(conf_prog, sizeof(conf_prog), "%s",
	         name && *name ? name : "svcd");
}

const char *
svc_conf_program(void)
{
	return conf_prog;
}

char *
svc_conf_default(const struct svc_conf_item *it)
{
	struct buf b = {0};
	const char *p;

	if (!it->dflt)
		return NULL;
	for (p = it->dflt; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			buf_puts(&b, conf_prog);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			buf_putc(&b, '%');
			p++;
		} else {
			buf_putc(&b, *p);
		}
	}
	buf_putc(&b, '\0');
	return b.data; /* off is 0: only appended to */
}

/* Set every item of sec in base to its default. */
static void
items_default(const struct svc_conf_section *sec, void *base)
{
	for (size_t i = 0; i < sec->nitems; i++) {
		const struct svc_conf_item *it = &sec->items[i];
		char *cause = NULL, *text = svc_conf_default(it);
		int rc;

		if (!text)
			continue;
		rc = it->type->parse(NULL, it, text, at(base, it->off), &cause);
		free(text);
		if (rc < 0) {
			/* a descriptor's bug, found by any test */
			log_err("conf: default of '%s' in [%s]: %s", it->key,
			        sec->name, cause ? cause : "invalid");
			abort();
		}
	}
}

static void
instance_free(const struct svc_conf_section *sec, void *inst)
{
	struct svc_conf_instance *in = inst;

	for (size_t i = 0; i < sec->nitems; i++)
		item_free(&sec->items[i], inst);
	free(in->name);
	free(inst);
}

static void
list_free(const struct svc_conf_section *sec, struct svc_conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		instance_free(sec, l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool
instance_equal(const struct svc_conf_section *sec, const void *a, const void *b)
{
	const struct svc_conf_instance *x = a, *y = b;

	if (strcmp(x->name, y->name))
		return false;
	for (size_t i = 0; i < sec->nitems; i++)
		if (!item_equal(&sec->items[i], a, b))
			return false;
	return true;
}

static bool
section_equal(const struct svc_conf_section *sec, const void *a, const void *b)
{
	if (sec->named) {
		const struct svc_conf_list *x = cat(a, sec->list_off);
		const struct svc_conf_list *y = cat(b, sec->list_off);
		if (x->n != y->n)
			return false;
		for (size_t i = 0; i < x->n; i++)
			if (!instance_equal(sec, x->v[i], y->v[i]))
				return false;
		return true;
	}
	if (sec->has_present && *(const bool *)cat(a, sec->present_off) !=
	                            *(const bool *)cat(b, sec->present_off))
		return false;
	for (size_t i = 0; i < sec->nitems; i++)
		if (!item_equal(&sec->items[i], a, b))
			return false;
	return true;
}

/* dst's part of sec becomes a copy of src's. */
static void
section_copy(const struct svc_conf_section *sec, void *dst, const void *src)
{
	if (sec->named) {
		struct svc_conf_list *d = list_of(dst, sec);
		const struct svc_conf_list *s = cat(src, sec->list_off);
		list_free(sec, d);
		d->v = xcalloc(s->n ? s->n : 1, sizeof(*d->v));
		for (size_t i = 0; i < s->n; i++) {
			const struct svc_conf_instance *si = s->v[i];
			struct svc_conf_instance *di =
			    xcalloc(1, sec->inst_size);
			memcpy(di, si, sec->inst_size);
			di->name = xstrdup(si->name);
			for (size_t k = 0; k < sec->nitems; k++) {
				const struct svc_conf_item *it = &sec->items[k];
				if (it->type->copy)
					it->type->copy(at(di, it->off),
					               cat(si, it->off));
			}
			d->v[d->n++] = di;
		}
		return;
	}
	if (sec->has_present)
		*(bool *)at(dst, sec->present_off) =
		    *(const bool *)cat(src, sec->present_off);
	for (size_t i = 0; i < sec->nitems; i++)
		item_copy(&sec->items[i], dst, src);
}

static void *
opts_new(const struct svc_desc *d)
{
	void *opts;

	if (!d->conf_size)
		return NULL;
	opts = xcalloc(1, d->conf_size);
	FOREACH_SECTION(d, sp)
	{
		if (!(*sp)->named)
			items_default(*sp, opts);
	}
	return opts;
}

static void
opts_free(const struct svc_desc *d, void *opts)
{
	if (!opts)
		return;
	FOREACH_SECTION(d, sp)
	{
		if ((*sp)->named) {
			list_free(*sp, list_of(opts, *sp));
			continue;
		}
		for (size_t i = 0; i < (*sp)->nitems; i++)
			item_free(&(*sp)->items[i], opts);
	}
	free(opts);
}

static struct svc_conf *
conf_new(const char *path, const struct svc_desc *const *table, size_t n)
{
	struct svc_conf *c = xcalloc(1, sizeof(*c));

	c->path = path ? xstrdup(path) : NULL;
	c->table = xcalloc(n ? n : 1, sizeof(*c->table));
	if (n)
		memcpy(c->table, table, n * sizeof(*table));
	c->n = n;
	c->opts = xcalloc(n ? n : 1, sizeof(*c->opts));
	for (size_t i = 0; i < n; i++)
		c->opts[i] = opts_new(table[i]);
	return c;
}

void
svc_conf_free(struct svc_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		opts_free(c->table[i], c->opts[i]);
	free(c->opts);
	free(c->table);
	free(c->path);
	free(c);
}

static ssize_t
conf_index(const struct svc_conf *c, const char *service)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (!strcmp(c->table[i]->name, service))
			return (ssize_t)i;
	return -1;
}

const void *
svc_conf_options(const struct svc_conf *c, const char *service)
{
	ssize_t i = conf_index(c, service);

	return i < 0 ? NULL : c->opts[i];
}

const void *
svc_conf_lookup(const struct svc_conf *c, const char *section, const char *key)
{
	for (size_t i = 0; c && i < c->n; i++) {
		FOREACH_SECTION(c->table[i], sp)
		{
			if ((*sp)->named || strcmp((*sp)->name, section))
				continue;
			for (size_t k = 0; k < (*sp)->nitems; k++)
				if (!strcmp((*sp)->items[k].key, key))
					return cat(c->opts[i],
					           (*sp)->items[k].off);
		}
	}
	return NULL;
}

const void *
svc_conf_desc_defaults(const struct svc_desc *d)
{
	static struct dflt {
		const struct svc_desc *d;
		struct svc_conf *c;
		struct dflt *next;
	} * cache;

	for (struct dflt *e = cache; e; e = e->next)
		if (e->d == d)
			return svc_conf_options(e->c, d->name);
	struct dflt *e = xmalloc(sizeof(*e));
	*e = (struct dflt){d, conf_new(NULL, &d, 1), cache};
	cache = e;
	return svc_conf_options(e->c, d->name);
}

const char *
svc_conf_file(const struct svc_conf *c)
{
	return c->path;
}

/* ---- the parser ---- */

static bool
key_seen(const struct svc_conf_ctx *p, const char *name)
{
	return svc_conf_key_line(p, name) != 0;
}

/* inih's handler: one "key = value" (section is ours, not inih's). */
static int
conf_handler(void *user, const char *section, const char *name,
             const char *value)
{
	struct svc_conf_ctx *p = user;
	const struct svc_conf_item *it = NULL;
	void *target = NULL;
	char *cause = NULL;

	(void)section;
	if (p->state == SECT_SKIP)
		return 1;
	if (p->state == SECT_NONE) {
		perr(p, p->lineno, "key '%s' is outside of any section",
		     qs(p, name));
		return 1;
	}
	for (size_t o = 0; !it && o < p->nowners; o++) {
		const struct svc_conf_section *sec = p->owners[o].sec;
		for (size_t i = 0; i < sec->nitems; i++) {
			if (!strcmp(sec->items[i].key, name)) {
				it = &sec->items[i];
				target = p->owners[o].target;
				break;
			}
		}
	}
	if (!it) {
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
	if (it->type->parse(p, it, value, at(target, it->off), &cause) < 0 &&
	    cause)
		bad_value(p, name, value, cause);
	return 1;
}

/* Checks that need the whole section, reported at its header. */
static void
section_end(struct svc_conf_ctx *p)
{
	if (p->state == SECT_OK)
		for (size_t o = 0; o < p->nowners; o++)
			if (p->owners[o].sec->check)
				p->owners[o].sec->check(p, p->owners[o].target);
	for (size_t i = 0; i < p->nkeys; i++)
		free(p->keys[i].name);
	free(p->keys);
	p->keys = NULL;
	p->nkeys = 0;
	p->nowners = 0;
	p->inst_name = NULL;
	p->state = SECT_SKIP;
}

static void
add_owner(struct svc_conf_ctx *p, const struct svc_conf_section *sec,
          void *target)
{
	p->owners = xrealloc(p->owners, (p->nowners + 1) * sizeof(*p->owners));
	p->owners[p->nowners++] = (struct owner){sec, target};
}

/* [x.NAME]: true when x is a named section of the table (handled). */
static bool
named_begin(struct svc_conf_ctx *p, const char *name)
{
	const char *dot = strchr(name, '.'), *item;
	size_t plen;
	bool any = false;

	if (!dot)
		return false;
	plen = (size_t)(dot - name);
	item = dot + 1;
	for (size_t i = 0; i < p->c->n; i++) {
		FOREACH_SECTION(p->c->table[i], sp)
		{
			if (!(*sp)->named || strlen((*sp)->name) != plen ||
			    strncmp((*sp)->name, name, plen))
				continue;
			if (!any && !util_name_valid(item, strlen(item),
			                             CONF_NAME_MAX)) {
				perr(p, p->lineno,
				     "bad %s name '%s' in [%s] (1-64 "
				     "characters of A-Z a-z 0-9 _ . : -)",
				     (*sp)->name, qs(p, item), qs(p, name));
				return true;
			}
			struct svc_conf_list *l = list_of(p->c->opts[i], *sp);
			for (size_t k = 0; !any && k < l->n; k++) {
				struct svc_conf_instance *in = l->v[k];
				if (!strcmp(in->name, item)) {
					perr(p, p->lineno,
					     "duplicate section [%s] "
					     "(first at line %d)",
					     name, in->line);
					return true;
				}
			}
			any = true;
			struct svc_conf_instance *in =
			    xcalloc(1, (*sp)->inst_size);
			in->name = xstrdup(item);
			in->line = p->lineno;
			items_default(*sp, in);
			l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
			l->v[l->n++] = in;
			add_owner(p, *sp, in);
			p->inst_name = in->name;
		}
	}
	if (any)
		p->state = SECT_OK;
	return any;
}

static void
section_begin(struct svc_conf_ctx *p, const char *name)
{
	section_end(p);
	free(p->sect_name);
	p->sect_name = xstrdup(qs(p, name));
	p->sect_line = p->lineno;
	p->state = SECT_SKIP;

	if (named_begin(p, name))
		return;
	for (size_t i = 0; i < p->c->n; i++) {
		FOREACH_SECTION(p->c->table[i], sp)
		{
			if (strcmp((*sp)->name, name))
				continue;
			if ((*sp)->named) {
				perr(p, p->lineno,
				     "section [%s] needs a name: [%s.NAME]",
				     name, name);
				p->nowners = 0;
				return;
			}
			add_owner(p, *sp, p->c->opts[i]);
		}
	}
	if (!p->nowners) {
		perr(p, p->lineno, "unknown section [%s]", p->sect_name);
		return;
	}
	for (size_t i = 0; i < p->nsects; i++) {
		if (!strcmp(p->sects[i].name, name)) {
			perr(p, p->lineno,
			     "duplicate section [%s] (first at line %d)",
			     p->sect_name, p->sects[i].line);
			p->nowners = 0;
			return;
		}
	}
	p->sects = xrealloc(p->sects, (p->nsects + 1) * sizeof(*p->sects));
	p->sects[p->nsects++] = (struct seen_key){xstrdup(name), p->lineno};
	for (size_t o = 0; o < p->nowners; o++)
		if (p->owners[o].sec->has_present)
			*(bool *)at(p->owners[o].target,
			            p->owners[o].sec->present_off) = true;
	p->state = SECT_OK;
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
section_line(struct svc_conf_ctx *p, char *s)
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
	struct svc_conf_ctx *p = stream;

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

struct svc_conf *
svc_conf_load(const char *path, const struct svc_desc *const *table, size_t n,
              char **cause)
{
	struct svc_conf_ctx p = {.path = path};
	struct buf file = {0};
	struct buf b = {0};
	int rc;

	if (!path)
		return conf_new(NULL, table, n);
	if (read_file(path, &file, cause) < 0) {
		buf_free(&file);
		return NULL;
	}
	p.data = buf_head(&file);
	p.size = file.len;
	p.c = conf_new(path, table, n);

	rc = ini_parse_stream(conf_read_line, &p, conf_handler, &p);
	section_end(&p);
	if (rc != 0 && p.nerrs == 0)
		perr(&p, 0, "syntax error (inih: %d)", rc);
	for (size_t i = 0; i < n; i++) {
		char *why = NULL;
		if (table[i]->check && table[i]->check(p.c->opts[i], &why) < 0)
			perr(&p, 0, "%s", why ? why : "invalid configuration");
		free(why);
	}
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
	svc_conf_free(p.c);
	p.c = NULL;
out:
	for (size_t i = 0; i < p.nerrs; i++)
		free(p.errs[i].msg);
	free(p.errs);
	for (size_t i = 0; i < p.nsects; i++)
		free(p.sects[i].name);
	free(p.sects);
	free(p.owners);
	free(p.sect_name);
	free(p.line);
	buf_free(&file);
	return p.c;
}

int
svc_conf_set(struct svc_conf *c, const char *section, const char *key,
             const char *value, char **cause)
{
	for (size_t i = 0; i < c->n; i++) {
		FOREACH_SECTION(c->table[i], sp)
		{
			if ((*sp)->named || strcmp((*sp)->name, section))
				continue;
			for (size_t k = 0; k < (*sp)->nitems; k++) {
				const struct svc_conf_item *it =
				    &(*sp)->items[k];
				char *why = NULL;
				if (strcmp(it->key, key))
					continue;
				if (it->type->parse(NULL, it, value,
				                    at(c->opts[i], it->off),
				                    &why) == 0)
					return 0;
				*cause = xasprintf(
				    "bad value for '%s' in [%s]: %s", key,
				    section, why ? why : "invalid");
				free(why);
				return -1;
			}
		}
	}
	*cause = xasprintf("unknown key '%s' in [%s]", key, section);
	return -1;
}

/* ---- reload ---- */

/* "KEY changed; ...", "[S] changed; ..." or "[S.NAME] sections ...". */
static void
warn_line(struct buf *b, const char *pre, const char *name, const char *post)
{
	if (b->len)
		buf_putc(b, '\n');
	buf_printf(b, "%s%s%s changed; takes effect after a restart", pre, name,
	           post);
}

void
svc_conf_keep_restart(struct svc_conf *new, const struct svc_conf *old,
                      char **warn)
{
	struct buf b = {0};

	for (size_t i = 0; i < new->n; i++) {
		const void *o = svc_conf_options(old, new->table[i]->name);
		void *nw = new->opts[i];

		if (!o || !nw)
			continue;
		FOREACH_SECTION(new->table[i], sp)
		{
			const struct svc_conf_section *sec = *sp;
			if (sec->flags & SVC_CONF_RESTART) {
				if (section_equal(sec, o, nw))
					continue;
				warn_line(&b, "[", sec->name,
				          sec->named ? ".NAME] sections" : "]");
				section_copy(sec, nw, o);
				continue;
			}
			if (sec->named)
				continue; /* items of instances: reloadable */
			for (size_t k = 0; k < sec->nitems; k++) {
				const struct svc_conf_item *it = &sec->items[k];
				if (!(it->flags & SVC_CONF_RESTART) ||
				    item_equal(it, o, nw))
					continue;
				warn_line(&b, "", it->key, "");
				item_copy(it, nw, o);
			}
		}
	}
	*warn = b.len ? xstrndup(buf_head(&b), b.len) : NULL;
	buf_free(&b);
}

bool
svc_conf_changed(const struct svc_conf *old, const struct svc_conf *new,
                 const char *service)
{
	ssize_t i = conf_index(new, service);
	const void *o = svc_conf_options(old, service);

	if (i < 0 || !o || !new->opts[i])
		return false;
	FOREACH_SECTION(new->table[i], sp)
	{
		if (!section_equal(*sp, o, new->opts[i]))
			return true;
	}
	return false;
}

void
svc_conf_keep_service(struct svc_conf *new, const struct svc_conf *old,
                      const char *service)
{
	ssize_t i = conf_index(new, service);
	const void *o = svc_conf_options(old, service);

	if (i < 0 || !o || !new->opts[i])
		return;
	FOREACH_SECTION(new->table[i], sp)
	section_copy(*sp, new->opts[i], o);
}

/* ---- the schema, for --help-config ----------------------------------------
 */

static void
schema_item(FILE *f, const struct svc_conf_section *sec,
            const struct svc_conf_item *it)
{
	const char *tname = it->type && it->type->name ? it->type->name : "";

	fprintf(f, "# %s%s%s\n#   ", it->key, it->doc ? ": " : "",
	        it->doc ? it->doc : "");
	if (it->type == &svc_conf_enum && it->arg) {
		const struct svc_conf_enum *e = it->arg;

		for (size_t i = 0; e[i].name; i++)
			fprintf(f, "%s%s", i ? " | " : "one of ", e[i].name);
	} else {
		fputs(tname, f);
	}
	if (it->min && it->max)
		fprintf(f, ", %s to %s", it->min, it->max);
	else if (it->min)
		fprintf(f, ", at least %s", it->min);
	else if (it->max)
		fprintf(f, ", at most %s", it->max);
	if ((it->flags & SVC_CONF_RESTART) && !(sec->flags & SVC_CONF_RESTART))
		fputs("; a reload keeps the old value (restart to change)", f);
	fputs("\n", f);
	char *dflt = svc_conf_default(it);

	fprintf(f, "#%s =%s%s\n\n", it->key, dflt && *dflt ? " " : "",
	        dflt ? dflt : "");
	free(dflt);
}

int
svc_conf_print_schema(FILE *f, const struct svc_desc *const *table, size_t n,
                      const char *section)
{
	bool found = false;

	for (size_t i = 0; i < n; i++) {
		FOREACH_SECTION(table[i], sp)
		{
			const struct svc_conf_section *sec = *sp;
			bool first = true;

			if (section && strcmp(section, sec->name))
				continue;
			/* the first service owning it prints it all */
			for (size_t k = 0; k < i && first; k++) {
				FOREACH_SECTION(table[k], kp)
				if (!strcmp((*kp)->name, sec->name))
					first = false;
			}
			if (!first)
				continue;
			found = true;
			if (sec->doc)
				fprintf(f, "# %s\n", sec->doc);
			if (sec->flags & SVC_CONF_RESTART)
				fputs(
				    "# a reload keeps the whole section as it "
				    "was: restart to change it\n",
				    f);
			if (sec->named)
				fputs("# (any number of them, each named)\n",
				      f);
			else if (sec->has_present)
				fputs("# (the section's presence enables it)\n",
				      f);
			fprintf(f, "#[%s%s]\n\n", sec->name,
			        sec->named ? ".NAME" : "");
			for (size_t k = i; k < n; k++) {
				FOREACH_SECTION(table[k], kp)
				{
					if (strcmp((*kp)->name, sec->name))
						continue;
					for (size_t m = 0; m < (*kp)->nitems;
					     m++)
						schema_item(f, *kp,
						            &(*kp)->items[m]);
				}
			}
		}
	}
	return found ? 0 : -1;
}
