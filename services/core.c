/* core.c — the core services svcd_main() adds to any table (see core.h). */
#include "services/core.h"

#include "services/bus.h"
#include "services/control.h"
#include "services/health.h"
#include "services/manager.h"
#include "services/worker.h"

const struct svc_desc *const svcd_core_table[] = {
    &manager_service, /* signals, shutdown handlers and sequence, reload */
    &worker_service,  /* periodic and delayed tasks */
    &bus_service,     /* events: queue, listeners, history */
    &health_service,  /* pings every service on an interval */
    &control_service, /* JSON-RPC control socket */
};

const size_t svcd_core_table_len =
    sizeof(svcd_core_table) / sizeof(svcd_core_table[0]);
