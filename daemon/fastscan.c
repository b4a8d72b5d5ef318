/*
 * fastscan.c — the validating scanner behind the fast handlers
 * (daemon/fastscan.h): strings 16 bytes at a time with SSE2, else 8 with
 * SWAR, one pass, no allocation.
 */
#include "daemon/fastscan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define FAST_DEPTH 32
#define FAST_KEYS  FASTSCAN_KEYS

struct scan {
	const char *p, *end;
	struct fastscan_req *f; /* the members of params (depth 1) go here */
	size_t ws;              /* whitespace runs skipped so far */
};

#if !defined(__SSE2__)
/*
 * Eight string bytes at a time (SWAR), where there is no SSE2: a mask with
 * the high bit set in every byte that does not stand for itself inside a
 * JSON string: below 0x20, '"', '\\', or 0x80 and up (UTF-8, checked on
 * its own). Exact per byte (no carry crosses a byte), so its lowest set bit
 * is the first such byte.
 */
#define SW_ONES  0x0101010101010101ULL
#define SW_HIGHS 0x8080808080808080ULL
#define SW_LOWS  0x7f7f7f7f7f7f7f7fULL

static inline uint64_t
sw_zero_bytes(uint64_t v)
{
	return ~(((v & SW_LOWS) + SW_LOWS) | v) & SW_HIGHS;
}

static inline uint64_t
sw_special(uint64_t x)
{
	uint64_t ctl = ~(((x & SW_LOWS) + SW_ONES * 0x60) | x) & SW_HIGHS;

	return ctl | sw_zero_bytes(x ^ (SW_ONES * '"')) |
	       sw_zero_bytes(x ^ (SW_ONES * '\\')) | (x & SW_HIGHS);
}
#endif

/* The bytes that stand for themselves inside a JSON string: not below
 * 0x20, '"', '\\', nor 0x80 and up (UTF-8, checked on its own). */
#define PLAIN(c)   ((c) >= 0x20 && (c) < 0x80 && (c) != '"' && (c) != '\\')
#define PLAIN4(c)  PLAIN(c), PLAIN((c) + 1), PLAIN((c) + 2), PLAIN((c) + 3)
#define PLAIN16(c) PLAIN4(c), PLAIN4((c) + 4), PLAIN4((c) + 8), PLAIN4((c) + 12)
#define PLAIN64(c)                                                             \
	PLAIN16(c), PLAIN16((c) + 16), PLAIN16((c) + 32), PLAIN16((c) + 48)
static const unsigned char str_plain[256] = {PLAIN64(0), PLAIN64(64),
                                             PLAIN64(128), PLAIN64(192)};

static inline bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline void
skip_ws(struct scan *s)
{
	/* most calls find a structural byte: one compare says so */
	if (s->p < s->end && (unsigned char)*s->p <= ' ' && is_ws(*s->p)) {
		s->ws++;
		do
			s->p++;
		while (s->p < s->end && is_ws(*s->p));
	}
}

/* The next byte that is not whitespace (whitespace skipped and noted), or
 * -1 at the end: one compare when, as usual, there is none. */
static inline int
peek(struct scan *s)
{
	/* no bounds check: s->p <= s->end always, and *s->end is the
	 * whitespace sentinel (see fastscan_request), which falls through */
	if ((unsigned char)*s->p > ' ')
		return (unsigned char)*s->p;
	skip_ws(s);
	return s->p < s->end ? (unsigned char)*s->p : -1;
}

/* A UTF-8 sequence starting at p (lead >= 0x80): its length, 0 if bad. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n;
	unsigned min, cp;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A string at s->p (on the quote); on success s->p is past the closing
 * quote and *escaped tells whether it held an escape. Escapes allowed only
 * if esc_ok (data values and keys may hold canonical ones).
 */
static inline __attribute__((always_inline)) bool
scan_string(struct scan *s, bool esc_ok, bool *escaped)
{
	const unsigned char *p = (const unsigned char *)s->p + 1;
	const unsigned char *end = (const unsigned char *)s->end;

	*escaped = false;
	for (;;) {
		/* plain bytes: 16 at a time (SSE2: a signed "< 0x20" catches
		 * both control bytes and 0x80 and up), else 8 (SWAR), then
		 * one at a time */
#if defined(__SSE2__)
		while (end - p >= 16) {
			__m128i x =
			    _mm_loadu_si128((const __m128i *)(const void *)p);
			__m128i m = _mm_or_si128(
			    _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
			    _mm_or_si128(
			        _mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
			        _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
			unsigned bits = (unsigned)_mm_movemask_epi8(m);

			if (bits) {
				p += __builtin_ctz(bits);
				goto special;
			}
			p += 16;
		}
#else
		while (end - p >= 8) {
			uint64_t x, m;

			memcpy(&x, p, 8);
			if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
				x = __builtin_bswap64(x);
			if ((m = sw_special(x))) {
				p += __builtin_ctzll(m) / 8;
				goto special;
			}
			p += 8;
		}
#endif
		/* the last bytes (or a short string near the end): one
		 * lookup a byte, no bounds check (*end is the whitespace
		 * sentinel, which is not plain) */
		while (str_plain[*p])
			p++;
		if (p == end)
			return false;
	special:;
		unsigned c = *p;

		if (c == '"') {
			s->p = (const char *)p + 1;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (!esc_ok || p + 1 >= end)
				return false;
			switch (p[1]) {
			case '"':
			case '\\':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't': break;
			default: return false; /* \/ and \u: not canonical */
			}
			*escaped = true;
			p += 2;
			continue;
		}
		size_t n = utf8_len(p, end);
		if (!n)
			return false;
		p += n;
	}
}

/* An integer as jansson dumps it: -?(0|[1-9][0-9]*), <= 18 digits, no -0.
 * No bounds checks: *end is the whitespace sentinel, which stops it. */
static inline bool
scan_int(struct scan *s)
{
	const char *p = s->p, *d;

	if (*p == '-')
		p++;
	d = p;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == d || p - d > 18 || (*d == '0' && p - d > 1))
		return false;
	if (*d == '0' && d != s->p) /* -0 */
		return false;
	if (*p == '.' || *p == 'e' || *p == 'E')
		return false;
	s->p = p;
	return true;
}

static bool
scan_lit(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool scan_value(struct scan *s, int depth);

static bool
scan_object(struct scan *s, int depth)
{
	const char *kp[FAST_KEYS];
	size_t kl[FAST_KEYS], nk = 0;
	uint64_t keys = 0; /* a one-word Bloom filter of the keys so far */
	bool esc;
	int c;

	if (depth > FAST_DEPTH)
		return false;
	if (depth == 1)
		s->f->nmem = 0;
	s->p++;
	if (peek(s) == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		if (peek(s) != '"')
			return false;
		const char *k = s->p + 1;
		if (!scan_string(s, false, &esc) || nk == FAST_KEYS)
			return false;
		size_t len = (size_t)(s->p - 1 - k);
		/* k[0] is the closing quote of an empty key: still readable */
		uint64_t bit = 1ULL << (((unsigned char)k[0] * 7u + len) & 63);
		if (keys & bit)
			for (size_t i = 0; i < nk; i++)
				if (kl[i] == len && memcmp(kp[i], k, len) == 0)
					return false; /* duplicate: jansson's */
		keys |= bit;
		kp[nk] = k;
		kl[nk++] = len;
		if (peek(s) != ':')
			return false;
		s->p++;
		peek(s);
		const char *v = s->p;
		size_t ws = s->ws;
		if (!scan_value(s, depth + 1))
			return false;
		if (depth == 1)
			s->f->mem[s->f->nmem++] = (struct fastscan_member){
			    k, v, len, (size_t)(s->p - v), s->ws != ws};
		c = peek(s);
		if (c == ',') {
			s->p++;
			continue;
		}
		if (c == '}') {
			s->p++;
			return true;
		}
		return false;
	}
}

static bool
scan_array(struct scan *s, int depth)
{
	int c;

	if (depth > FAST_DEPTH)
		return false;
	s->p++;
	if (peek(s) == ']') {
		s->p++;
		return true;
	}
	for (;;) {
		peek(s);
		if (!scan_value(s, depth + 1))
			return false;
		c = peek(s);
		if (c == ',') {
			s->p++;
			continue;
		}
		if (c == ']') {
			s->p++;
			return true;
		}
		return false;
	}
}

static bool
scan_value(struct scan *s, int depth)
{
	bool esc;

	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{': return scan_object(s, depth);
	case '[': return scan_array(s, depth);
	case '"': return scan_string(s, true, &esc);
	case 't': return scan_lit(s, "true", 4);
	case 'f': return scan_lit(s, "false", 5);
	case 'n': return scan_lit(s, "null", 4);
	default: return scan_int(s);
	}
}

#define KEY_IS(k, kl, lit) FASTSCAN_IS(k, kl, lit)

/* The envelope: only "jsonrpc":"2.0", "id", "method", "params", once each. */
bool
fastscan_request(const char *line, size_t len, struct fastscan_req *f)
{
	struct scan st, *s = &st;
	bool seen[4] = {false}, esc;
	int c;

	s->p = line;
	s->end = line + len;
	s->f = f;
	s->ws = 0;
	/* not the whole struct: mem[] is written as members are found */
	f->id = f->method = f->params = NULL;
	f->id_len = f->method_len = f->params_len = 0;
	f->nmem = 0;
	if (peek(s) != '{')
		return false;
	s->p++;
	for (;;) {
		if (peek(s) != '"')
			return false;
		const char *k = s->p + 1;
		if (!scan_string(s, false, &esc))
			return false;
		size_t kl = (size_t)(s->p - 1 - k);
		if (peek(s) != ':')
			return false;
		s->p++;
		peek(s);
		const char *v = s->p;
		int which;
		if (KEY_IS(k, kl, "jsonrpc")) {
			which = 0;
			if (!scan_lit(s, "\"2.0\"", 5))
				return false;
		} else if (KEY_IS(k, kl, "id")) {
			which = 1;
			if (s->p < s->end && *s->p == '"') {
				if (!scan_string(s, false, &esc))
					return false;
			} else if (!scan_lit(s, "null", 4) && !scan_int(s)) {
				return false;
			}
			f->id = v;
			f->id_len = (size_t)(s->p - v);
		} else if (KEY_IS(k, kl, "method")) {
			which = 2;
			if (s->p >= s->end || *s->p != '"' ||
			    !scan_string(s, false, &esc))
				return false;
			f->method = v + 1;
			f->method_len = (size_t)(s->p - v - 2);
		} else if (KEY_IS(k, kl, "params")) {
			which = 3;
			if (s->p >= s->end || *s->p != '{' ||
			    !scan_object(s, 1))
				return false;
			f->params = v;
			f->params_len = (size_t)(s->p - v);
		} else {
			return false;
		}
		if (seen[which])
			return false;
		seen[which] = true;
		c = peek(s);
		if (c == ',') {
			s->p++;
			continue;
		}
		if (c != '}')
			return false;
		s->p++;
		return peek(s) < 0 && seen[0] && seen[2];
	}
}

size_t
fastscan_compact(char *dst, const char *src, size_t n)
{
	bool in_str = false;
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		char c = src[i];

		if (in_str) {
			if (c == '\\' && i + 1 < n) {
				dst[w++] = c;
				c = src[++i];
			} else if (c == '"') {
				in_str = false;
			}
		} else if (is_ws(c)) {
			continue;
		} else if (c == '"') {
			in_str = true;
		}
		dst[w++] = c;
	}
	return w;
}

static bool
scan_one(const char *p, size_t n, char *out, size_t *out_len)
{
	struct fastscan_req f;
	struct scan s = {.p = p, .end = p + n, .f = &f};

	skip_ws(&s);
	const char *v = s.p;
	size_t ws = s.ws;
	if (!scan_value(&s, 2)) /* params.data sits at depth 2 */
		return false;
	const char *e = s.p;
	bool inner_ws = s.ws != ws;
	skip_ws(&s);
	if (s.p != s.end)
		return false;
	if (inner_ws) {
		*out_len = fastscan_compact(out, v, (size_t)(e - v));
	} else {
		memcpy(out, v, (size_t)(e - v));
		*out_len = (size_t)(e - v);
	}
	return true;
}

bool
fastscan_value(const char *text, size_t n, char *out, size_t *out_len)
{
	/* a copy with the sentinel the scanner relies on */
	char *p = malloc(n + 1);
	bool ok;

	if (!p)
		abort();
	memcpy(p, text, n);
	p[n] = '\n';
	ok = scan_one(p, n, out, out_len);
	free(p);
	return ok;
}
