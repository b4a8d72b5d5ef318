/*
 * svcd.h — svcd's whole process around a table of services.
 *
 * svcd_main() is what svcd's main() runs: the command line (--config,
 * --socket, --log-level, --check-config, --print-graph, --help, --version),
 * the configuration file, the control socket, sd_notify, signals, reload on
 * SIGHUP, and the graceful stop in reverse order. A developer's daemon calls
 * it with its own table; svcctl then works against it unchanged.
 */
#ifndef SVCD_SVCD_H
#define SVCD_SVCD_H

#include <stddef.h>

#include "service.h"

/* Runs until the daemon stops; returns the process exit status (0, 1, 64
 * for a usage error, 78 for a configuration error). */
int svcd_main(int argc, char **argv, const struct svc_desc *const *table,
              size_t n);

#endif
