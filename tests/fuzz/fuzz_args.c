/*
 * fuzz_args.c — libFuzzer target: svcctl's event data parser. The input is
 * split into argv words on NUL or newline and handed to args_parse_data;
 * every word also goes through args_parse_value and args_is_json_number.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/args.h"
#include "daemon/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	util_json_use_xmalloc();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 1);
	char **argv = xcalloc(size + 2, sizeof(*argv));
	int argc = 0;
	size_t start = 0;
	struct buf out = {0};
	char *cause = NULL;

	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i <= size; i++) {
		if (i < size && text[i] != '\0' && text[i] != '\n')
			continue;
		text[i] = '\0';
		if (i > start || i < size)
			argv[argc++] = text + start;
		start = i + 1;
	}
	if (args_parse_data(argc, argv, &out, &cause) == 0) {
		/* the text sent is a JSON object svcd can read */
		json_t *v = json_loadb(buf_head(&out), out.len,
		                       JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(v) || cause)
			abort();
		json_decref(v);
	} else {
		if (!cause || out.len)
			abort(); /* an error always says why, appends nothing */
		free(cause);
	}
	buf_free(&out);
	for (int i = 0; i < argc; i++) {
		bool integer;

		cause = NULL;
		json_t *v = args_parse_value(argv[i], &cause);
		if (!v == !cause)
			abort(); /* exactly one of a value or a reason */
		json_decref(v);
		free(cause);
		args_is_json_number(argv[i], &integer);
	}
	free(argv);
	free(text);
	return 0;
}
