/*
 * fuzz_fastscan.c — libFuzzer target: the fast handlers' validating
 * scanner (fastscan_value, daemon/fastscan.c) against jansson. It links
 * only fastscan.o and jansson.
 *
 * The property is the contract in fastscan.h: whenever the scanner takes a
 * value, jansson accepts the same bytes (JSON_REJECT_DUPLICATES) and
 * json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) gives back exactly the
 * bytes the scanner wrote. When the scanner declines, nothing else is
 * checked (the daemon then takes the general jansson path, which may well
 * accept the value).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/fastscan.h"

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
	char *out = malloc(size + 1);
	size_t out_len = 0;
	json_error_t err;

	if (!out)
		abort();
	if (!fastscan_value((const char *)data, size, out, &out_len)) {
		free(out);
		return 0;
	}

	json_t *v = json_loadb((const char *)data, size,
	                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!v) {
		fail("scanner accepted, jansson rejected", data, size);
		fprintf(stderr,
		        "jansson: %s (line %d, column %d, position %d)\n",
		        err.text, err.line, err.column, err.position);
		dump_bytes("scanner out", out, out_len);
		abort();
	}

	char *dumped =
	    json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!dumped) {
		fail("scanner accepted, json_dumps failed", data, size);
		abort();
	}
	size_t dl = strlen(dumped);
	if (dl != out_len || memcmp(dumped, out, dl) != 0) {
		fail("scanner output differs from json_dumps", data, size);
		dump_bytes("scanner out", out, out_len);
		dump_bytes("json_dumps ", dumped, dl);
		abort();
	}

	free(dumped);
	json_decref(v);
	free(out);
	return 0;
}
