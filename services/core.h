/*
 * core.h — the core services: what svcd_main() needs in every daemon.
 *
 * manager (signals, shutdown, reload), worker, bus, health and control (the
 * control socket svcctl talks to). svcd_main() puts each of them that a
 * table does not name in front of it, so a developer's table lists only
 * the developer's own services.
 */
#ifndef SVCD_CORE_H
#define SVCD_CORE_H

#include <stddef.h>

#include "daemon/service.h"

extern const struct svc_desc *const svcd_core_table[];
extern const size_t svcd_core_table_len;

#endif
