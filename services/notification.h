/*
 * notification.h — singleton-service's AsyncNotificationService as a svcd
 * service: registers listeners from its init (user_registered, order_placed)
 * and logs the "mail" it would send. Proves listeners registered during boot
 * see the first events.
 */
#ifndef SVCD_NOTIFICATION_H
#define SVCD_NOTIFICATION_H

#include <stdint.h>

#include "daemon/service.h"

extern const struct svc_desc notification_service;

/* Mails "sent" since init (for tests and status). */
uint64_t notification_sent(void);

#endif
