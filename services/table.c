/*
 * table.c — the compiled-in graph: every service svcd runs, in one table.
 * Reading this table shows the whole daemon; the framework orders it
 * topologically (ties broken by the order here).
 */
#include "services/table.h"

#include "services/app.h"
#include "services/bridge.h"
#include "services/bus.h"
#include "services/control.h"
#include "services/health.h"
#include "services/hooks.h"
#include "services/journal.h"
#include "services/manager.h"
#include "services/notification.h"
#include "services/worker.h"

const struct svc_desc *const svcd_table[] = {
    &manager_service,      /* signals, shutdown handlers and sequence */
    &worker_service,       /* periodic and delayed tasks */
    &bus_service,          /* events: queue, listeners, history */
    &journal_service,      /* durable events in SQLite (before control:
                            * seq goes on from the journal) */
    &health_service,       /* pings every service on an interval */
    &control_service,      /* JSON-RPC control socket */
    &app_service,          /* heartbeat, watchdog, status line, timers */
    &notification_service, /* example listener: welcome mails */
    &hooks_service,        /* commands run for matching events */
    &bridge_service,       /* events shared across hosts via Redis */
};

const size_t svcd_table_len = sizeof(svcd_table) / sizeof(svcd_table[0]);
