/*
 * fuzz_fastscan.c — libFuzzer target: the emit fast path's validating
 * scanner (methods_fast_scan_value, daemon/methods.c) against jansson.
 *
 * The property is the contract in methods.h: whenever the scanner takes a
 * value, jansson accepts the same bytes (JSON_REJECT_DUPLICATES) and
 * json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) gives back exactly the
 * bytes the scanner appended. When the scanner declines, it must leave out
 * untouched; nothing else is checked (the daemon then takes the general
 * jansson path, which may well accept the value).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "methods.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Printable with C escapes, then as hex: the mismatch report. */
static void
dump_bytes(const char *what, const void *p, size_t n)
{
	const unsigned char *b = p;

	fprintf(stderr, "%s (%zu bytes): \"", what, n);
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '"' || b[i] == '\\')
			fprintf(stderr, "\\%c", b[i]);
		else if (b[i] >= 0x20 && b[i] < 0x7f)
			fputc(b[i], stderr);
		else
			fprintf(stderr, "\\x%02x", b[i]);
	}
	fprintf(stderr, "\"\n%s hex:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", b[i]);
	fputc('\n', stderr);
}

static void
fail(const char *why, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_fastscan: %s\n", why);
	dump_bytes("input", data, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = {0};
	json_error_t err;

	if (!methods_fast_scan_value((const char *)data, size, &out)) {
		if (out.len != 0) {
			fail("scanner declined but appended to out", data,
			     size);
			dump_bytes("out", buf_head(&out), out.len);
			abort();
		}
		buf_free(&out);
		return 0;
	}

	json_t *v = json_loadb((const char *)data, size,
	                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!v) {
		fail("scanner accepted, jansson rejected", data, size);
		fprintf(stderr,
		        "jansson: %s (line %d, column %d, position %d)\n",
		        err.text, err.line, err.column, err.position);
		dump_bytes("scanner out", buf_head(&out), out.len);
		abort();
	}

	char *dumped =
	    json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!dumped) {
		fail("scanner accepted, json_dumps failed", data, size);
		abort();
	}
	size_t dl = strlen(dumped);
	if (dl != out.len || memcmp(dumped, buf_head(&out), dl) != 0) {
		fail("scanner output differs from json_dumps", data, size);
		dump_bytes("scanner out", buf_head(&out), out.len);
		dump_bytes("json_dumps ", dumped, dl);
		abort();
	}

	free(dumped);
	json_decref(v);
	buf_free(&out);
	return 0;
}
