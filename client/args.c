/*
 * args.c — event data from command-line words (key=value, key:=JSON, {...}).
 * jansson checks the words (syntax, UTF-8, duplicate keys); the text sent is
 * written from the words themselves, so numbers keep the user's bytes.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client/args.h"
#include "daemon/util.h"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool
args_is_json_number(const char *s, bool *is_integer)
{
	const char *p = s;
	bool integer = true;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (is_digit(*p))
			p++;
	else
		return false;
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return false;
		while (is_digit(*p))
			p++;
		integer = false;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return false;
		while (is_digit(*p))
			p++;
		integer = false;
	}
	if (*p != '\0')
		return false;
	if (is_integer)
		*is_integer = integer;
	return true;
}

json_t *
args_parse_value(const char *s, char **cause)
{
	bool integer;

	if (strcmp(s, "true") == 0)
		return json_true();
	if (strcmp(s, "false") == 0)
		return json_false();
	if (strcmp(s, "null") == 0)
		return json_null();
	if (!args_is_json_number(s, &integer)) {
		json_t *str = json_string(s);
		if (!str)
			*cause = xasprintf("value '%s' is not valid UTF-8", s);
		return str;
	}
	if (integer) {
		errno = 0;
		long long v = strtoll(s, NULL, 10);
		if (errno == 0)
			return json_integer((json_int_t)v);
		/* Too large for an integer: fall through to a double. */
	}
	errno = 0;
	double d = strtod(s, NULL);
	if (!isfinite(d)) {
		*cause = xasprintf("number '%s' is out of range (for a string, "
		                   "use key:='\"%s\"')",
		                   s, s);
		return NULL;
	}
	return json_real(d);
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

static int
parse_object_arg(const char *s, struct buf *out, char **cause)
{
	json_error_t jerr;
	json_t *v =
	    json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		*cause = xasprintf("invalid JSON event data: %s (at column %d)",
		                   jerr.text, jerr.column);
		return -1;
	}
	if (!json_is_object(v)) {
		*cause = xasprintf("event data must be a JSON object, not %s",
		                   json_type_name(v));
		json_decref(v);
		return -1;
	}
	json_decref(v);
	util_json_compact(out, s, strlen(s));
	return 0;
}

/* The text of a key=value value v parsed from s: s itself, a string
 * literal of it, or (an integer past the range, read as a double)
 * jansson's form of that double. */
static void
put_value(struct buf *out, const char *s, json_t *v)
{
	bool integer;

	if (json_is_string(v)) {
		buf_json_string(out, s, strlen(s));
	} else if (json_is_real(v) && args_is_json_number(s, &integer) &&
	           integer) {
		char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		buf_puts(out, t);
		free(t);
	} else {
		buf_puts(out, s);
	}
}

/* One key=value or key:=JSON word into obj (the check) and out (the text,
 * after a comma unless first). */
static int
parse_word(json_t *obj, struct buf *out, bool first, const char *word,
           char **cause)
{
	const char *eq = strchr(word, '=');
	bool raw;
	size_t klen;
	json_t *v;

	if (!eq) {
		*cause = xasprintf("expected key=value or key:=JSON, got '%s'",
		                   word);
		return -1;
	}
	raw = eq > word && eq[-1] == ':';
	klen = (size_t)(eq - word) - (raw ? 1 : 0);
	if (klen == 0) {
		*cause = xasprintf("empty key in '%s'", word);
		return -1;
	}
	char *key = xstrndup(word, klen);
	if (json_object_get(obj, key)) {
		*cause = xasprintf("duplicate key '%s'", key);
		goto out_free_key;
	}
	if (raw) {
		json_error_t jerr;
		v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
		               &jerr);
		if (!v) {
			*cause = xasprintf("invalid JSON for key '%s': %s", key,
			                   jerr.text);
			goto out_free_key;
		}
	} else {
		v = args_parse_value(eq + 1, cause);
		if (!v)
			goto out_free_key;
	}
	if (json_object_set(obj, key, v) < 0) {
		*cause = xasprintf("key '%s' is not valid UTF-8", key);
		json_decref(v);
		goto out_free_key;
	}
	if (!first)
		buf_putc(out, ',');
	buf_json_string(out, key, klen);
	buf_putc(out, ':');
	if (raw)
		util_json_compact(out, eq + 1, strlen(eq + 1));
	else
		put_value(out, eq + 1, v);
	json_decref(v);
	free(key);
	return 0;

out_free_key:
	free(key);
	return -1;
}

int
args_parse_data(int argc, char *const argv[], struct buf *out, char **cause)
{
	size_t len0 = out->len;
	json_t *obj;

	if (argc == 1 && argv[0][0] == '{')
		return parse_object_arg(argv[0], out, cause);
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] == '{') {
			*cause = xstrdup("give either one JSON object or "
			                 "key=value words, not both");
			return -1;
		}
		if (argc == 1 && !strchr(argv[0], '=') &&
		    (argv[0][0] == '[' || argv[0][0] == '"')) {
			*cause = xstrdup("event data must be a JSON object "
			                 "(or key=value words)");
			return -1;
		}
	}
	obj = json_object();
	buf_putc(out, '{');
	for (int i = 0; i < argc; i++) {
		if (parse_word(obj, out, i == 0, argv[i], cause) < 0) {
			json_decref(obj);
			out->len = len0;
			return -1;
		}
	}
	buf_putc(out, '}');
	json_decref(obj);
	return 0;
}
