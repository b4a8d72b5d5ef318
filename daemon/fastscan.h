/*
 * fastscan.h — a strict validating JSON scanner for the requests that
 * carry the load (the control methods' fast handlers: ping, emit).
 *
 * A pure module: no svcd types, no jansson, no allocation on the request
 * path. It recognises a request line in its plain shape and records where
 * the id, the method and the members of params are, as spans of the line.
 * It accepts only input on which jansson would agree byte for byte: UTF-8
 * checked, no duplicate keys at any depth, integers only (no reals, no -0,
 * at most 18 digits), string escapes only in their canonical form (\" \\
 * \b \f \n \r \t), bounded depth. Anything else is declined, and the
 * caller takes its general (jansson) path, so error replies stay the same.
 * The fastscan fuzz target checks the scanner against jansson.
 */
#ifndef SVCD_FASTSCAN_H
#define SVCD_FASTSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Members of params recorded (more: declined). */
#define FASTSCAN_KEYS 16

/* A member of params: key and value as spans of the line (no quotes
 * stripped from the value). */
struct fastscan_member {
	const char *k, *v;
	size_t kl, vl;
	bool ws; /* the value holds whitespace outside strings */
};

struct fastscan_req {
	const char *id; /* raw bytes, NULL: none (a notification) */
	size_t id_len;
	const char *method; /* without its quotes; never holds an escape */
	size_t method_len;
	const char *params; /* the raw object, NULL: absent */
	size_t params_len;
	struct fastscan_member mem[FASTSCAN_KEYS];
	size_t nmem;
};

/*
 * One request line (no newline): true if it is a single request object
 * with only "jsonrpc":"2.0", "id" (string, integer or null), "method" and
 * "params" (an object), once each, all of it valid as above; *f then
 * describes it. The byte at line[len] must be readable and whitespace (the
 * line's own '\n'): it is the scanner's sentinel.
 */
bool fastscan_request(const char *line, size_t len, struct fastscan_req *f);

/*
 * One JSON value, as the scanner checks params.data (no sentinel needed).
 * True if it would be taken; then the value, compacted as it would be
 * stored, is written to out (room for n bytes) and its length to *out_len.
 * The contract: whenever this is true, jansson accepts the same bytes
 * (JSON_REJECT_DUPLICATES) and json_dumps(JSON_COMPACT |
 * JSON_PRESERVE_ORDER) gives back exactly what was written.
 */
bool fastscan_value(const char *p, size_t n, char *out, size_t *out_len);

/* Copy validated JSON text without the whitespace outside strings (dst:
 * room for n bytes); returns the length written. */
size_t fastscan_compact(char *dst, const char *src, size_t n);

/* A key or a raw value equal to the literal lit? */
#define FASTSCAN_IS(p, n, lit)                                                 \
	((n) == sizeof(lit) - 1 && memcmp((p), (lit), sizeof(lit) - 1) == 0)

#endif
