/*
 * sdnotify.h — the systemd notify protocol (sd_notify(3)) without libsystemd:
 * one datagram per message to $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace), and the watchdog interval from $WATCHDOG_USEC /
 * $WATCHDOG_PID. Without $NOTIFY_SOCKET every call is a silent no-op.
 */
#ifndef SVCD_SDNOTIFY_H
#define SVCD_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/util.h"

/* Read the environment and open the socket; unsets NOTIFY_SOCKET,
 * WATCHDOG_USEC and WATCHDOG_PID so children do not inherit them.
 * 0, or -1 with errno (a bad address), logged. */
int sdn_init(void);
bool sdn_enabled(void);
/* Send "KEY=VALUE\n..." as one datagram. 0, or -1 with errno. */
int sdn_send(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* Half of WATCHDOG_USEC in seconds when the watchdog is on for us, else 0. */
double sdn_watchdog_interval(void);
void sdn_close(void);

#endif
