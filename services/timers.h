/*
 * timers.h — worker tasks that emit an event on a schedule: the config's
 * [timer.NAME] sections and the control channel's `schedule` method.
 */
#ifndef SVCD_TIMERS_H
#define SVCD_TIMERS_H

#include <stdbool.h>
#include <stddef.h>

#include "services/worker.h"

struct bus;

/*
 * Schedule (or replace) task `name` on w that emits `event` with data (a
 * compact JSON object text, NULL = "{}") on b, every `seconds` when periodic,
 * else once after `seconds`. owner is WORKER_OWNER_CONFIG or _CONTROL;
 * origin: "config", "control", ... Returns the task, or NULL with *cause
 * (bad event name, worker shutting down) and errno EPERM when name is a
 * service's task (services/worker.h), EINVAL or ESHUTDOWN otherwise.
 */
struct worker_task *timer_schedule_emit(struct worker *w, struct bus *b,
                                        const char *name, bool periodic,
                                        double seconds, const char *event,
                                        const char *data,
                                        enum worker_owner owner,
                                        const char *origin, char **cause);

#endif
