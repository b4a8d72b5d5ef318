/* args.h — event data from command-line words (key=value, key:=JSON, {...}). */
#ifndef SVCCTL_ARGS_H
#define SVCCTL_ARGS_H

#include <stdbool.h>

#include <jansson.h>

#include "daemon/util.h"

/*
 * Append the text of a JSON object built from argv[0..argc-1] to out:
 *   key=value    value is a JSON number (integer or float, JSON syntax),
 *                true, false or null; anything else is a string
 *   key:=JSON    value is raw JSON and must parse
 *   {...}        a single argument that is a whole JSON object
 * No words gives {}. Mixing an object with key=value words, a duplicate or
 * empty key, or bad raw JSON is an error. The text keeps the user's bytes:
 * numbers and raw JSON as written (compacted: blanks outside strings
 * dropped), keys and strings as JSON string literals; only an integer past
 * the 64-bit range, which svcd could not read, becomes a double (1e20).
 * On error returns -1, appends nothing and sets *cause (caller frees).
 */
int args_parse_data(int argc, char *const argv[], struct buf *out,
                    char **cause);

/*
 * A value as key=value reads it: a number in strict JSON syntax, true,
 * false, null, else the string itself. Returns a new reference, or NULL
 * with *cause set for a number out of range (e.g. 1e999) or bad UTF-8.
 */
json_t *args_parse_value(const char *s, char **cause);

/* True if s is a number in strict JSON syntax (-?int frac? exp?). */
bool args_is_json_number(const char *s, bool *is_integer);

#endif
