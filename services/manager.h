/*
 * manager.h — the service manager (singleton-service's AsyncServiceManager).
 *
 * Owns the signals: SIGTERM/SIGINT start a graceful shutdown (a second one
 * exits at once with status 1 and says so), SIGHUP runs the reload hooks,
 * SIGPIPE is ignored. The shutdown sequence: stop accepting new work (the
 * "stopping" observers), run registered shutdown handlers in registration
 * order (async allowed, each with a timeout), stop every service in reverse
 * order (svc_stop_all), then break the loop. [daemon] shutdown_timeout bounds
 * it all: on expiry svcd exits 1 naming what hung.
 */
#ifndef SVCD_MANAGER_H
#define SVCD_MANAGER_H

#include <stdbool.h>

#include "daemon/service.h"

extern const struct svc_desc manager_service;

/* [daemon] log_level, shutdown_timeout, init_timeout, stop_timeout. */
struct manager_conf {
	int log_level;           /* enum log_level; default info */
	int log_format;          /* enum log_format; default text */
	double shutdown_timeout; /* default 30 s */
	double init_timeout;     /* per-service default, 30 s */
	double stop_timeout;     /* per-service default, 10 s */
	char **required; /* optional services made required; NULL: none */
};

struct manager_handler;

/* Return 0/-1 when done, or SVC_PENDING then manager_handler_done(h, st). */
typedef int (*manager_handler_fn)(struct manager_handler *h, void *arg);

/* Register a shutdown handler (name copied; timeout seconds, 0 = 10 s). */
void manager_add_shutdown_handler(const char *name, manager_handler_fn fn,
                                  void *arg, double timeout);
void manager_remove_shutdown_handler(manager_handler_fn fn, void *arg);
void manager_handler_done(struct manager_handler *h, int status);

/* Reload hook run on SIGHUP and by manager_reload(). Returns 0, -1 with
 * *cause when the new file was refused (the old config is kept), or
 * MANAGER_RELOAD_PARTIAL with *cause when it was installed but some
 * services refused their part (each keeps its old options; *cause says
 * which and why). manager_reload() is the one path of SIGHUP and the
 * `reload` method: it logs the outcome (the failure with its cause) and
 * hands *cause back, returning -1 for either failure. */
#define MANAGER_RELOAD_PARTIAL (-2)
typedef int (*manager_reload_fn)(void *arg, char **cause);
void manager_set_reload(manager_reload_fn fn, void *arg);
int manager_reload(char **cause);

/*
 * Progress of the shutdown, for `shutdown --wait` clients and sd_notify:
 * called with phase "stopping" (once, at the start), then per service
 * "service" with the name and state, and "exit" just before the loop breaks
 * (service NULL, state "ok" for exit status 0, "failed" for 1).
 */
typedef void (*manager_progress_fn)(const char *phase, const char *service,
                                    const char *state, void *arg);
void manager_add_progress(manager_progress_fn fn, void *arg);
void manager_remove_progress(manager_progress_fn fn, void *arg);

/* Start the graceful shutdown (idempotent). why is logged. */
void manager_shutdown(const char *why);
bool manager_shutting_down(void);
/* The exit status svcd should return once the loop ended. */
int manager_exit_status(void);

#endif
