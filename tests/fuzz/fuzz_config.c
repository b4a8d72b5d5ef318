/*
 * fuzz_config.c — libFuzzer target: conf_load on the input bytes (an
 * in-memory file, no temp file), then the reload checks against the
 * defaults when it parsed. Errors are fine; crashes and leaks are not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	util_json_use_xmalloc();
	log_set_quiet(1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], *cause = NULL;
	struct conf *c, *dflt;
	int fd = memfd_create("svcd.conf", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	c = conf_load(path, &cause);
	close(fd);
	if (!c) {
		if (!cause || !*cause)
			abort(); /* a rejected file always says why */
		free(cause);
		return 0;
	}
	free(cause);
	cause = NULL;
	dflt = conf_defaults();
	conf_check_reload(dflt, c, &cause);
	free(cause);
	conf_keep_fixed(c, dflt);
	conf_free(dflt);
	conf_free(c);
	return 0;
}
