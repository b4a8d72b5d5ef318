/*
 * app.h — the application service (singleton-service's AsyncApplication).
 *
 * Heartbeat every [app] heartbeat (default 5 s): refreshes the status line
 * (the graph's, through the descriptor's status_line and
 * svc_status_changed, which svcd sends as STATUS=); emits a `heartbeat`
 * event when [app] heartbeat_event is true. Loads the config's
 * [timer.NAME] sections into the worker at init and again on reload.
 */
#ifndef SVCD_APP_H
#define SVCD_APP_H

#include <stdint.h>

#include "daemon/conf.h"
#include "daemon/service.h"

extern const struct svc_desc app_service;

/* One [timer.NAME]: exactly one of every and after is more than 0. */
struct app_timer {
	struct svc_conf_instance inst; /* NAME and line */
	double every;                  /* periodic, seconds; 0: not set */
	double after;                  /* once, seconds; 0: not set */
	char *emit;                    /* event name */
	char *data;                    /* compact JSON object, "{}" */
};

/* [app] and the [timer.NAME] sections; a reload applies them at once. */
struct app_conf {
	double heartbeat;     /* default 5 s */
	bool heartbeat_event; /* emit `heartbeat` events; default false */
	struct svc_conf_list timers; /* of struct app_timer, in file order */
	/* [control] keys of the `schedule` method, which app owns */
	size_t max_tasks;       /* tasks `schedule` may create, 1024 */
	uint64_t max_task_data; /* a scheduled task's data, 64 KiB */
};

/* The last status line, e.g. "running: 7 services ok, 1234 events". */
const char *app_status_line(void);
uint64_t app_heartbeats(void);
#endif
