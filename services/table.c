/*
 * table.c — the compiled-in graph: every service svcd runs, in one table.
 * Reading this table shows the whole daemon; the framework orders it
 * topologically (ties broken by the order here).
 *
 * One line per service: SVC(NAME) is NAME_service, the descriptor defined
 * in services/NAME.c; the line both declares it and lists it, so adding a
 * service is its file and one line here. The journal comes before
 * control: the seq control's clients see goes on from the journal's.
 */
#include "services/table.h"

#define SVCD_SERVICES(SVC)                                                     \
	SVC(manager)      /* signals, shutdown handlers and sequence */        \
	SVC(worker)       /* periodic and delayed tasks */                     \
	SVC(bus)          /* events: queue, listeners, history */              \
	SVC(journal)      /* durable events in SQLite (before control) */      \
	SVC(health)       /* pings every service on an interval */             \
	SVC(control)      /* JSON-RPC control socket */                        \
	SVC(app)          /* heartbeat, watchdog, status line, timers */       \
	SVC(notification) /* example listener: welcome mails */                \
	SVC(hooks)        /* commands run for matching events */               \
	SVC(bridge)       /* events shared across hosts via Redis */           \
	SVC(metrics)      /* figures as Prometheus metrics, GET /metrics */

#define SVCD_DECLARE(name) extern const struct svc_desc name##_service;
#define SVCD_ENTRY(name)   &name##_service,

SVCD_SERVICES(SVCD_DECLARE)

const struct svc_desc *const svcd_table[] = {SVCD_SERVICES(SVCD_ENTRY)};

const size_t svcd_table_len = sizeof(svcd_table) / sizeof(svcd_table[0]);
