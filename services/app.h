/*
 * app.h — the application service (the seed's AsyncApplication).
 *
 * Heartbeat every [app] heartbeat (default 5 s): refreshes the status line
 * (the graph's, through the descriptor's status_line and
 * svc_status_changed) and calls the watchdog hook; emits a `heartbeat`
 * event when [app] heartbeat_event is true. Loads the config's
 * [timer.NAME] sections into the worker at init and again on reload.
 */
#ifndef SVCD_APP_H
#define SVCD_APP_H

#include <stdint.h>

#include "service.h"

extern const struct svc_desc app_service;

/* Called from every heartbeat tick (NULL to remove); tests count beats. */
void app_set_watchdog_hook(void (*fn)(void *arg), void *arg);
/* The last status line, e.g. "running: 7 services ok, 1234 events". */
const char *app_status_line(void);
uint64_t app_heartbeats(void);
/*
 * Apply the running config's [timer.NAME] sections and [app] settings:
 * config-origin timers no longer in the file are cancelled, the others
 * (re)scheduled. Called at init and by the reload path. 0 or -1 + *cause.
 */
int app_apply_config(char **cause);
/*
 * Check c's [timer.NAME] sections against the running worker before c is
 * installed: a timer may not take the name of a service's task (timers and
 * tasks share one namespace). 0, or -1 with *cause ("FILE:LINE: [timer.X]:
 * task 'X' belongs to service 'X'", one line per timer).
 */
struct conf;
int app_check_config(const struct conf *c, char **cause);

#endif
