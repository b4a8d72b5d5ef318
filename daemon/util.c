/* util.c — allocation wrappers, growable buffers, durations, sizes, time. */
#include "daemon/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

static void
oom(size_t n)
{
	fprintf(stderr, "svcd: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		oom(strlen(fmt));
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

static void *
json_xmalloc(size_t n)
{
	return xmalloc(n);
}

void
util_json_use_xmalloc(void)
{
	json_set_alloc_funcs(json_xmalloc, free);
}

const char util_digit_pairs[200] = "00010203040506070809"
                                   "10111213141516171819"
                                   "20212223242526272829"
                                   "30313233343536373839"
                                   "40414243444546474849"
                                   "50515253545556575859"
                                   "60616263646566676869"
                                   "70717273747576777879"
                                   "80818283848586878889"
                                   "90919293949596979899";

void
buf_grow(struct buf *b, size_t extra)
{
	if (b->off + b->len + extra <= b->cap)
		return;
	/* Compact first: consumed bytes at the front are reusable. */
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		if (b->len + extra <= b->cap)
			return;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
}

void
buf_putc(struct buf *b, char c)
{
	buf_reserve(b, 1);
	b->data[b->off + b->len++] = c;
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		va_end(ap);
		return;
	}
	if ((size_t)n < sizeof(tmp)) {
		buf_append(b, tmp, (size_t)n);
	} else {
		buf_reserve(b, (size_t)n + 1);
		vsnprintf(b->data + b->off + b->len, (size_t)n + 1, fmt, ap);
		b->len += (size_t)n;
	}
	va_end(ap);
}

void
buf_json_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	buf_reserve(b, n + 2);
	buf_putc(b, '"');
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(b, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '"': buf_append(b, "\\\"", 2); break;
		case '\\': buf_append(b, "\\\\", 2); break;
		case '\n': buf_append(b, "\\n", 2); break;
		case '\r': buf_append(b, "\\r", 2); break;
		case '\t': buf_append(b, "\\t", 2); break;
		case '\b': buf_append(b, "\\b", 2); break;
		case '\f': buf_append(b, "\\f", 2); break;
		default: {
			char u[6] = {'\\', 'u',         '0',
			             '0',  hex[c >> 4], hex[c & 15]};
			buf_append(b, u, 6);
		}
		}
	}
	buf_append(b, s + start, n - start);
	buf_putc(b, '"');
}

void
util_json_compact(struct buf *b, const char *p, size_t n)
{
	bool in_str = false;

	buf_reserve(b, n);
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\' && i + 1 < n) {
				buf_putc(b, c);
				c = p[++i];
			} else if (c == '"') {
				in_str = false;
			}
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			continue;
		} else if (c == '"') {
			in_str = true;
		}
		buf_putc(b, c);
	}
}

static bool
jws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *
jskip_ws(const char *p, const char *end)
{
	while (p < end && jws(*p))
		p++;
	return p;
}

/* Past the string at p (on its quote); NULL if unterminated. */
static const char *
jskip_string(const char *p, const char *end, bool *escaped)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			*escaped = true;
			p++;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

const char *
util_json_skip(const char *p, const char *end)
{
	size_t depth = 0;
	bool esc;

	while (p < end) {
		char c = *p;

		if (c == '"') {
			if (!(p = jskip_string(p, end, &esc)))
				return NULL;
			if (!depth)
				return p;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (!depth)
				return p; /* the end of a scalar */
			if (--depth == 0)
				return p + 1;
		} else if (!depth && (c == ',' || jws(c))) {
			return p;
		}
		p++;
	}
	return depth ? NULL : p;
}

bool
util_json_member(const char *text, size_t len, const char *const *path,
                 size_t n, struct buf *out)
{
	const char *p = text, *end = text + len;

	for (size_t level = 0; level < n; level++) {
		size_t want = strlen(path[level]);
		bool found = false;

		p = jskip_ws(p, end);
		if (p >= end || *p != '{')
			return false;
		p = jskip_ws(p + 1, end);
		while (p < end && *p == '"') {
			const char *k = p + 1, *v;
			bool esc = false;

			/* an escaped key: not comparable */
			if (!(p = jskip_string(p, end, &esc)) || esc)
				return false;
			size_t kl = (size_t)(p - 1 - k);
			p = jskip_ws(p, end);
			if (p >= end || *p != ':')
				return false;
			v = jskip_ws(p + 1, end);
			if (!(p = util_json_skip(v, end)))
				return false;
			if (kl == want && memcmp(k, path[level], kl) == 0) {
				if (level + 1 == n) {
					util_json_compact(out, v,
					                  (size_t)(p - v));
					return true;
				}
				end = p;
				p = v;
				found = true;
				break;
			}
			p = jskip_ws(p, end);
			if (p < end && *p == ',')
				p = jskip_ws(p + 1, end);
		}
		if (!found)
			return false;
	}
	return false;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->off = 0;
		b->len = 0;
		return;
	}
	b->off += n;
	b->len -= n;
}

void
buf_reset(struct buf *b)
{
	b->off = 0;
	b->len = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Parsers accept cause == NULL when the caller needs no reason. */
#define FAIL_WITH(...)                                                         \
	do {                                                                   \
		if (cause)                                                     \
			*cause = xasprintf(__VA_ARGS__);                       \
		return -1;                                                     \
	} while (0)

/* At most this much of a value is quoted in an error message. */
#define QUOTE_MAX 64

/* The quotable part of s: its length, capped, and the ellipsis to add. */
#define QUOTE(s)                                                               \
	(int)(strlen(s) > QUOTE_MAX ? QUOTE_MAX : strlen(s)), (s),             \
	    strlen(s) > QUOTE_MAX ? "..." : ""

int
util_parse_duration(const char *s, double bare_unit, double *seconds,
                    char **cause)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {
	    {"us", 1e-6}, {"ms", 1e-3}, {"s", 1},
	    {"m", 60},    {"h", 3600},  {"d", 86400},
	};
	const char *p = s, *end;
	size_t ndigits = 0;
	double v, mult = 0;

	if (!s || !*s) {
		FAIL_WITH("%s", "empty duration");
	}
	/* [0-9]*(.[0-9]*)?([eE][+-]?[0-9]+)? with a digit before the
	 * exponent: strtod alone would also take signs, blanks, hex, "inf"
	 * and "nan" */
	for (; *p >= '0' && *p <= '9'; p++)
		ndigits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			ndigits++;
	if (ndigits == 0) {
		FAIL_WITH("invalid duration '%.*s%s' (use e.g. 500ms, 30s, 5m)",
		          QUOTE(s));
	}
	if (*p == 'e' || *p == 'E') {
		const char *q = p + 1;

		if (*q == '+' || *q == '-')
			q++;
		if (*q >= '0' && *q <= '9') {
			while (*q >= '0' && *q <= '9')
				q++;
			p = q;
		}
	}
	end = p;
	if (*end == '\0') {
		if (bare_unit <= 0) {
			FAIL_WITH(
			    "duration '%.*s%s' needs a unit (ms, s, m, h)",
			    QUOTE(s));
		}
		mult = bare_unit;
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (strcmp(end, units[i].unit) == 0)
				mult = units[i].mult;
		if (mult == 0) {
			FAIL_WITH("invalid duration unit in '%.*s%s' (use us, "
			          "ms, s, m, h, d)",
			          QUOTE(s));
		}
	}
	/* the number's text is validated: only its size can go wrong */
	v = strtod(s, NULL) * mult;
	if (!isfinite(v)) {
		FAIL_WITH("duration '%.*s%s' is too large", QUOTE(s));
	}
	*seconds = v;
	return 0;
}

int
util_parse_duration_max(const char *s, double max, const char *max_text,
                        double *seconds, char **cause)
{
	double d;

	if (util_parse_duration(s, 0, &d, cause) < 0)
		return -1;
	if (d <= 0) {
		FAIL_WITH("'%.*s%s' must be more than 0", QUOTE(s));
	}
	if (d > max) {
		FAIL_WITH("'%.*s%s' is more than the maximum of %s", QUOTE(s),
		          max_text);
	}
	*seconds = d;
	return 0;
}

int
util_duration_ms(int64_t ms, double max, const char *max_text, double *seconds,
                 char **cause)
{
	if (ms <= 0) {
		FAIL_WITH("%" PRId64 " (milliseconds) must be more than 0", ms);
	}
	/* compared as doubles: no overflow for any int64 */
	if ((double)ms > max * 1e3) {
		FAIL_WITH("%" PRId64 " (milliseconds) is more than the maximum "
		          "of %s",
		          ms, max_text);
	}
	*seconds = (double)ms / 1e3;
	return 0;
}

int
util_parse_size(const char *s, uint64_t *bytes, char **cause)
{
	if (!s || !*s) {
		FAIL_WITH("%s", "empty size");
	}
	if (*s < '0' || *s > '9') {
		FAIL_WITH("invalid size '%s' (use e.g. 512, 64K, 1M)", s);
	}
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno) {
		FAIL_WITH("size '%s' is too large", s);
	}
	uint64_t mult = 1;
	if (*end) {
		switch (*end) {
		case 'K':
		case 'k': mult = 1ULL << 10; break;
		case 'M':
		case 'm': mult = 1ULL << 20; break;
		case 'G':
		case 'g': mult = 1ULL << 30; break;
		default:
			FAIL_WITH("invalid size unit in '%s' (use K, M, G)", s);
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end) {
			FAIL_WITH("invalid size '%s' (use e.g. 512, 64K, 1M)",
			          s);
		}
	}
	if (v > UINT64_MAX / mult) {
		FAIL_WITH("size '%s' is too large", s);
	}
	*bytes = (uint64_t)v * mult;
	return 0;
}

int
util_parse_uint(const char *s, uint64_t max, uint64_t *out, char **cause)
{
	if (!s || *s < '0' || *s > '9') {
		FAIL_WITH("'%s' is not a non-negative integer", s ? s : "");
	}
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end) {
		FAIL_WITH("'%s' is not a non-negative integer", s);
	}
	if (errno || v > max) {
		FAIL_WITH("'%s' is out of range (max %llu)", s,
		          (unsigned long long)max);
	}
	*out = v;
	return 0;
}

int
util_parse_bool(const char *s, bool *out, char **cause)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	FAIL_WITH("'%s' is not a boolean (use true or false)", s);
}

/* "1K", "8M", "1G" when exact, else bytes. */
void
util_format_size(uint64_t v, char *buf, size_t len)
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

void
util_format_duration(double seconds, char *buf, size_t len)
{
	if (seconds < 1e-3)
		snprintf(buf, len, "%.0fus", seconds * 1e6);
	else if (seconds < 1)
		snprintf(buf, len, "%.4gms", seconds * 1e3);
	else if (seconds < 60 || fmod(seconds, 60) != 0)
		snprintf(buf, len, "%.4gs", seconds);
	else if (fmod(seconds, 3600) != 0)
		snprintf(buf, len, "%.4gm", seconds / 60);
	else
		snprintf(buf, len, "%.4gh", seconds / 3600);
}

int64_t
util_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
util_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
util_format_time(int64_t us, char *buf, size_t len)
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

/* "2026-12-01T10:00:00[.frac](Z|+HH:MM|-HH:MM)": 0 with *us, or -1. */
static int
parse_rfc3339(const char *s, int64_t *us)
{
	struct tm tm = {0};
	int n = 0, oh = 0, om = 0;
	int64_t frac = 0, scale = 1000000;

	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &n) != 3 ||
	    n != 10)
		return -1;
	s += n;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return -1;
	s++;
	for (int k = 0; k < 8; k++) /* HH:MM:SS */
		if (k == 2 || k == 5 ? s[k] != ':'
		                     : !isdigit((unsigned char)s[k]))
			return -1;
	tm.tm_hour = (s[0] - '0') * 10 + s[1] - '0';
	tm.tm_min = (s[3] - '0') * 10 + s[4] - '0';
	tm.tm_sec = (s[6] - '0') * 10 + s[7] - '0';
	s += 8;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -1;
		for (; isdigit((unsigned char)*s); s++)
			if (scale > 1) {
				scale /= 10;
				frac += (*s - '0') * scale;
			}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if ((*s == '+' || *s == '-') && isdigit((unsigned char)s[1]) &&
	           isdigit((unsigned char)s[2]) && s[3] == ':' &&
	           isdigit((unsigned char)s[4]) &&
	           isdigit((unsigned char)s[5])) {
		oh = (s[1] - '0') * 10 + s[2] - '0';
		om = (s[4] - '0') * 10 + s[5] - '0';
		if (*s == '-') {
			oh = -oh;
			om = -om;
		}
		s += 6;
	} else {
		return -1;
	}
	if (*s || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60 || oh > 23 || oh < -23 || om > 59 || om < -59)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*us = ((int64_t)t - oh * 3600 - om * 60) * 1000000 + frac;
	return 0;
}

int
util_parse_when(const char *s, int64_t now_us, int64_t *us, char **cause)
{
	double ago;

	if (s && parse_rfc3339(s, us) == 0)
		return 0;
	if (s && *s && isdigit((unsigned char)*s) &&
	    util_parse_duration(s, 0, &ago, NULL) == 0 && ago <= 1e9) {
		*us = now_us - (int64_t)llround(ago * 1e6);
		return 0;
	}
	if (cause)
		*cause = xasprintf("'%s' is not a time: give RFC 3339 "
		                   "(2026-12-01T10:00:00Z) or a duration ago "
		                   "(5m, 2h, 1d)",
		                   s ? s : "");
	return -1;
}

int
util_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

bool
util_name_valid(const char *s, size_t len, size_t max)
{
	if (!s || len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && !strchr("_.:-", ch))
			return false;
	}
	return true;
}

bool
util_pattern_valid(const char *pattern)
{
	size_t n = pattern ? strlen(pattern) : 0;

	if (n == 1 && pattern[0] == '*')
		return true;
	if (n > 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.')
		return util_name_valid(pattern, n - 2, UTIL_EVENT_NAME_MAX);
	return util_name_valid(pattern, n, UTIL_EVENT_NAME_MAX);
}

bool
util_family_forbidden(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EAFNOSUPPORT;
}
