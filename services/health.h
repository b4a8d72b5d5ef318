/*
 * health.h — the health monitor service (the seed's AsyncHealthMonitor).
 *
 * Every [health] interval it pings every running service through the
 * framework (svc_ping), records result, latency and time, and emits a
 * `service.health` event when a service's health changes. Overall status:
 * ok (all healthy), degraded (something unhealthy or blocked, or depending on
 * something unhealthy: blocked_by), failed (a service that others require is
 * failed or stopped).
 */
#ifndef SVCD_HEALTH_H
#define SVCD_HEALTH_H

#include <stdbool.h>

#include <jansson.h>

#include "service.h"

extern const struct svc_desc health_service;

enum health_status { HEALTH_OK, HEALTH_DEGRADED, HEALTH_FAILED };
const char *health_status_name(enum health_status st);

/* Ping every running service now (synchronous: pings are synchronous). */
void health_check_now(void);
enum health_status health_overall(void);
/*
 * {"status":..., "services":[{name,state,healthy,checked_at,age_ms,
 * latency_us,error,blocked_by}]} — new reference. service NULL: all;
 * otherwise only that one (NULL return if unknown), and "status" is then
 * that service's own. fresh: run a round first. NULL while the health
 * service is not running.
 */
json_t *health_json(const char *service, bool fresh);
/* Reschedule the rounds if [health] interval changed (reload). 0 or -1. */
int health_apply_config(char **cause);

#endif
