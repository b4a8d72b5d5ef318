/*
 * health.h — the health monitor service (singleton-service's
 * AsyncHealthMonitor).
 *
 * Every [health] interval it pings every running service through the
 * framework (svc_ping), records result, latency and time, and emits a
 * `service.health` event when a service's health changes (its members:
 * service, healthy, failed, error, latency_us). Overall status: ok (all
 * healthy), degraded (something unhealthy or blocked, or depending on
 * something unhealthy: blocked_by), failed (a service is failed or stopped,
 * or running but its ping returned SVC_PING_FAILED: it will not recover by
 * itself), unknown (the last round is older than two intervals: the rounds
 * stopped, so the results are stale; failed still wins).
 *
 * A service pushes a change of its health between rounds with
 * svc_health_changed() (service.h): the monitor pings it on the next loop
 * turn, updates the results and emits `service.health` at once.
 */
#ifndef SVCD_HEALTH_H
#define SVCD_HEALTH_H

#include <stdbool.h>

#include <jansson.h>

#include "daemon/service.h"

extern const struct svc_desc health_service;

/* [health]; a reload reschedules the rounds. */
struct health_conf {
	double interval; /* default 30 s */
};

enum health_status {
	HEALTH_OK,
	HEALTH_DEGRADED,
	HEALTH_FAILED,
	HEALTH_UNKNOWN,
};
const char *health_status_name(enum health_status st);

/* Ping every running service now (synchronous: pings are synchronous). */
void health_check_now(void);
enum health_status health_overall(void);
/*
 * {"status":..., "services":[{name,state,healthy,checked_at,age_ms,
 * latency_us,error,blocked_by,stale}]} — new reference. state is the
 * service's state, "degraded" for a running one that is unhealthy or
 * depends on one that is, or "failed" for a running one whose ping
 * returned SVC_PING_FAILED (error: its reason). service NULL: all;
 * otherwise only that one (NULL return if unknown), and "status" is then
 * that service's own ("unknown" if its last check is older than two
 * intervals). stale: a running service whose last check is older than two
 * intervals. fresh: run a round first. NULL while the health service is not
 * running.
 */
json_t *health_json(const char *service, bool fresh);

#endif
