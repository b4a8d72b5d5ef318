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

#include "daemon/service.h"

/*
 * Runs until the daemon stops; returns the process exit status (0, 1, 64
 * for a usage error, 78 for a configuration error).
 *
 * table is the daemon's own services (borrowed; they must outlive the
 * call). The core services (core.h: manager, worker, bus, health, control)
 * that it does not name are put in front of it, so a table of one's own
 * services is enough: svcctl then finds the control socket, status,
 * health, events, reload and shutdown as in svcd. A service of table that
 * takes a core service's name replaces it. sd_notify STATUS= is the first
 * running service's status_line (service.h) or, when none has one,
 * "running: N/M services".
 */
int svcd_main(int argc, char **argv, const struct svc_desc *const *table,
              size_t n);

#endif
