/*
 * notification.c — singleton-service's AsyncNotificationService: listeners on
 * user_registered and order_placed, registered from init, that log the mail
 * they would send and count it.
 */
#include "services/notification.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "services/bus.h"
#include "daemon/log.h"
#include "daemon/util.h"

static struct {
	struct bus_listener *user;
	struct bus_listener *order;
	uint64_t sent;
} n;

uint64_t
notification_sent(void)
{
	return n.sent;
}

/* Outside text is quoted in the log up to this many bytes. */
#define QUOTE_MAX 256

/* How many bytes of s to quote; *note says how long s really was (when it
 * is cut) for the log line: "%.*s%s", quote_len(s, note, n), s, note. */
static int
quote_len(const char *s, char *note, size_t size)
{
	size_t len = strlen(s);

	note[0] = '\0';
	if (len <= QUOTE_MAX)
		return (int)len;
	snprintf(note, size, "... (%zu bytes)", len);
	return QUOTE_MAX;
}

/* The event's data as a new jansson object, or NULL (logged). */
static json_t *
event_data(const struct bus_event *ev)
{
	json_error_t err;
	json_t *data = json_loadb(ev->data, ev->data_len, 0, &err);

	if (!data || !json_is_object(data)) {
		log_warn("notification: %s #%llu: bad data: %s", ev->name,
		         (unsigned long long)ev->seq,
		         data ? "not an object" : err.text);
		json_decref(data);
		return NULL;
	}
	return data;
}

static int
on_user_registered(const struct bus_event *ev, void *arg)
{
	json_t *data = event_data(ev);
	json_t *email;

	if (!data)
		return -1;
	email = json_object_get(data, "email");
	if (!json_is_string(email)) {
		log_warn("notification: user_registered #%llu without an "
		         "\"email\" string; no welcome mail",
		         (unsigned long long)ev->seq);
		json_decref(data);
		return -1;
	}
	const char *to = json_string_value(email);
	char note[48];

	log_info("notification: welcome mail to %.*s%s",
	         quote_len(to, note, sizeof(note)), to, note);
	n.sent++;
	json_decref(data);
	return 0;
}

static int
on_order_placed(const struct bus_event *ev, void *arg)
{
	json_t *data = event_data(ev);
	json_t *id;
	char *text;

	if (!data)
		return -1;
	id = json_object_get(data, "order_id");
	if (json_is_string(id)) {
		text = xstrdup(json_string_value(id));
	} else if (json_is_integer(id)) {
		text =
		    xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(id));
	} else {
		log_warn("notification: order_placed #%llu without an "
		         "\"order_id\"; no confirmation",
		         (unsigned long long)ev->seq);
		json_decref(data);
		return -1;
	}
	char note[48];

	log_info("notification: order confirmation for order %.*s%s",
	         quote_len(text, note, sizeof(note)), text, note);
	n.sent++;
	free(text);
	json_decref(data);
	return 0;
}

static int
notification_init(struct svc *self, char **cause)
{
	struct bus *b = bus_of(self);

	if (!b) {
		*cause = xstrdup("the bus is not running");
		return -1;
	}
	n.sent = 0;
	n.user = bus_listen(b, "user_registered", on_user_registered, NULL);
	n.order = bus_listen(b, "order_placed", on_order_placed, NULL);
	return 0;
}

static int
notification_stop(struct svc *self)
{
	struct bus *b = bus_of(self);

	if (b) {
		bus_unlisten(b, n.user);
		bus_unlisten(b, n.order);
	}
	n.user = n.order = NULL;
	return 0;
}

const struct svc_desc notification_service = {
    .name = "notification",
    .requires = SVC_REQUIRES("bus"),
    .optional = true,
    .init = notification_init,
    .stop = notification_stop,
};
