/*
 * slow_table.c — svcd's compiled-in graph plus one service whose init stays
 * pending for a minute, linked into a test-only svcd
 * (build/tests/svcd-slow): while it starts, the control socket already
 * answers, so a test can see `slowstart` starting and send SIGTERM before
 * READY (a stop requested during start-up is a clean stop, exit 0).
 */
#include <stddef.h>

#include <ev.h>

#include "services/app.h"
#include "services/bridge.h"
#include "services/bus.h"
#include "services/control.h"
#include "services/health.h"
#include "services/hooks.h"
#include "services/journal.h"
#include "services/manager.h"
#include "services/notification.h"
#include "services/table.h"
#include "services/worker.h"

#define SLOW_INIT_SECONDS 60.0

static ev_timer slow_timer;

static void
slow_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	svc_init_done(w->data, 0, NULL);
}

static int
slow_init(struct svc *self, char **cause)
{
	(void)cause;
	ev_timer_init(&slow_timer, slow_done, SLOW_INIT_SECONDS, 0);
	slow_timer.data = self;
	ev_timer_start(svc_loop(self), &slow_timer);
	return SVC_PENDING;
}

static const struct svc_desc slow_service = {
    .name = "slowstart",
    .requires = SVC_REQUIRES("bus"),
    .init = slow_init,
    .init_timeout = SLOW_INIT_SECONDS * 2,
};

const struct svc_desc *const svcd_table[] = {
    &manager_service, &worker_service,  &bus_service,  &journal_service,
    &health_service,  &control_service, &app_service,  &notification_service,
    &hooks_service,   &bridge_service,  &slow_service,
};

const size_t svcd_table_len = sizeof(svcd_table) / sizeof(svcd_table[0]);
