/* util.h — allocation wrappers, growable buffers, durations, sizes, time. */
#ifndef SVCD_UTIL_H
#define SVCD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)     (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Out of memory aborts: these never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);

/* Route jansson's allocations through the x* wrappers (call once at start). */
void util_json_use_xmalloc(void);

/* A growable byte buffer. Zero-initialised is empty and valid. */
struct buf {
	char *data;
	size_t len; /* bytes used, starting at data + off */
	size_t off; /* bytes already consumed at the front */
	size_t cap;
};

/* "00" "01" ... "99": decimal digits two at a time. */
extern const char util_digit_pairs[200];

/* The decimal digits of v written backwards so they end just before end
 * (room for 20 needed); returns the first digit. */
static inline char *
util_u64_digits(char *end, uint64_t v)
{
	char *p = end;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		p -= 2;
		p[0] = util_digit_pairs[2 * r];
		p[1] = util_digit_pairs[2 * r + 1];
	}
	if (v >= 10) {
		p -= 2;
		p[0] = util_digit_pairs[2 * v];
		p[1] = util_digit_pairs[2 * v + 1];
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

/* Room for extra more bytes (the check inline, growing out of line). */
void buf_grow(struct buf *b, size_t extra);
static inline void
buf_reserve(struct buf *b, size_t extra)
{
	if (b->off + b->len + extra > b->cap)
		buf_grow(b, extra);
}
/* Where the next byte goes; valid up to the room reserved. */
static inline char *
buf_tail(struct buf *b)
{
	return b->data + b->off + b->len;
}
void buf_append(struct buf *b, const void *p, size_t n);
void buf_putc(struct buf *b, char c);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* v in decimal, without printf */
static inline void
buf_put_u64(struct buf *b, uint64_t v)
{
	char num[20], *d = util_u64_digits(num + sizeof(num), v);

	buf_append(b, d, (size_t)(num + sizeof(num) - d));
}
/* Append s as a JSON string literal, quotes included, escaping as needed. */
void buf_json_string(struct buf *b, const char *s, size_t n);
/* Append JSON text (valid) without the whitespace outside strings; every
 * other byte is kept, so numbers and escapes stay as written. */
void util_json_compact(struct buf *b, const char *p, size_t n);
/* Past the JSON value at p (text a parser accepted, no blanks before it):
 * after a string, a number or literal, or the closing bracket; NULL if the
 * text ends first. */
const char *util_json_skip(const char *p, const char *end);
/*
 * The raw text of a member of JSON text that a parser already accepted:
 * path[0] of the top-level object, then path[1] inside that, and so on (n
 * keys). Appends the value, compacted (whitespace outside strings removed,
 * every other byte kept), to out and returns true; false if a member is
 * missing or a key on the way holds an escape (then nothing is appended
 * and the caller serialises its parsed tree instead), so 3.141592653589793
 * or 1.0E+2 is kept as written.
 */
bool util_json_member(const char *text, size_t len, const char *const *path,
                      size_t n, struct buf *out);
static inline const char *
buf_head(const struct buf *b)
{
	return b->data + b->off;
}
/* Drop n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

/*
 * Durations: a decimal number (an exponent allowed) and a unit: "250ms",
 * "30s", "5m", "1.5h", "2d" (units us, ms, s, m, h, d; no sign, blanks, hex,
 * inf or nan). A bare number is accepted only when bare_unit is non-zero
 * (e.g. 1.0 for seconds); otherwise a missing unit is an error. Any finite
 * value: callers bound it, svcd always through util_parse_duration_max. On
 * error returns -1 and sets *cause (caller frees; cause may be NULL in every
 * parser here when no reason is wanted).
 */
int util_parse_duration(const char *s, double bare_unit, double *seconds,
                        char **cause);
/* The range of a timer or task ([timer.NAME], `schedule`): (0, 30d]. */
#define UTIL_TASK_MAX      (30 * 86400.0)
#define UTIL_TASK_MAX_TEXT "30d"
/*
 * The one duration check of the config, the control channel and svcctl: a
 * duration with a unit, more than 0 and at most max (max_text says it, e.g.
 * "30d"). Errors: "'V' must be more than 0", "'V' is more than the maximum
 * of 30d", or util_parse_duration's.
 */
int util_parse_duration_max(const char *s, double max, const char *max_text,
                            double *seconds, char **cause);
/* The same range for integer milliseconds (the control channel's form). */
int util_duration_ms(int64_t ms, double max, const char *max_text,
                     double *seconds, char **cause);
/* Sizes: "64K", "1M", "2G", "512" (bytes). Binary multiples (K = 1024). */
int util_parse_size(const char *s, uint64_t *bytes, char **cause);
/* Non-negative decimal integer, fully consumed, <= max. */
int util_parse_uint(const char *s, uint64_t max, uint64_t *out, char **cause);
int util_parse_bool(const char *s, bool *out, char **cause);
/* Names of events, timers and hooks: 1-max characters of A-Z a-z 0-9
 * _ . : - (events: at most UTIL_EVENT_NAME_MAX). */
#define UTIL_EVENT_NAME_MAX 128
bool util_name_valid(const char *s, size_t len, size_t max);
/* An event pattern: an exact event name, "PREFIX.*" or "*". */
bool util_pattern_valid(const char *pattern);
/* "1.5s", "250ms", "5m" — short human form of a duration. */
void util_format_duration(double seconds, char *buf, size_t len);
/* A byte count as "1K", "8M", "1G" when exact, else plain bytes. */
void util_format_size(uint64_t v, char *buf, size_t len);

/* Wall clock in microseconds since the epoch. */
int64_t util_now_us(void);
/* Monotonic clock in microseconds. */
int64_t util_mono_us(void);
/* RFC 3339 in UTC with microseconds: 2026-11-23T22:35:06.123456Z (buf >= 32).
 */
void util_format_time(int64_t us, char *buf, size_t len);

/*
 * A point in time for queries: RFC 3339 (2026-12-01T10:00:00Z, a fraction
 * and a +HH:MM offset allowed) or a duration ago ("5m": now_us minus five
 * minutes). 0 with *us (microseconds since the epoch), or -1 with *cause.
 */
int util_parse_when(const char *s, int64_t now_us, int64_t *us, char **cause);

/* Set O_NONBLOCK and FD_CLOEXEC. 0 or -1 with errno. */
int util_set_nonblock(int fd);

/*
 * Whether this process may not make sockets of family (AF_INET, AF_INET6):
 * socket() fails with EAFNOSUPPORT, as under a systemd unit whose
 * RestrictAddressFamilies= leaves it out. PrivateNetwork= and
 * IPAddressDeny= are not seen this way (the socket is made; connecting
 * fails).
 */
bool util_family_forbidden(int family);

#endif
