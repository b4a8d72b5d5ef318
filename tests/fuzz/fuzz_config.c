/*
 * fuzz_config.c — libFuzzer target: svc_conf_load of svcd's table on the
 * input bytes (an in-memory file, no temp file), then the reload steps
 * against the defaults when it parsed. Errors are fine; crashes and leaks
 * are not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "services/table.h"
#include "daemon/util.h"

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
	struct svc_conf *c, *dflt;
	int fd = memfd_create("svcd.conf", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	c = svc_conf_load(path, svcd_table, svcd_table_len, &cause);
	close(fd);
	if (!c) {
		if (!cause || !*cause)
			abort(); /* a rejected file always says why */
		free(cause);
		return 0;
	}
	free(cause);
	cause = NULL;
	dflt = svc_conf_load(NULL, svcd_table, svcd_table_len, NULL);
	svc_conf_keep_restart(c, dflt, &cause);
	free(cause);
	for (size_t i = 0; i < svcd_table_len; i++) {
		const char *name = svcd_table[i]->name;
		if (svc_conf_changed(dflt, c, name))
			svc_conf_keep_service(c, dflt, name);
		if (svc_conf_changed(dflt, c, name))
			abort(); /* kept means equal */
	}
	svc_conf_free(dflt);
	svc_conf_free(c);
	return 0;
}
