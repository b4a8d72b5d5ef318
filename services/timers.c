/* timers.c — worker tasks that emit an event on the bus on a schedule. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "services/bus.h"
#include "services/timers.h"
#include "daemon/util.h"
#include "services/worker.h"

struct timer_emit {
	struct bus *bus;
	char *event;
	char *data; /* compact JSON object text */
	size_t data_len;
	char *source; /* "timer NAME" */
};

static void
timer_emit_free(void *arg)
{
	struct timer_emit *te = arg;

	free(te->event);
	free(te->data);
	free(te->source);
	free(te);
}

static int
timer_emit_run(struct worker_task *t, void *arg, char **cause)
{
	struct timer_emit *te = arg;

	if (bus_emit(te->bus, te->event, strlen(te->event), te->data,
	             te->data_len, te->source, NULL, NULL) == 0)
		return 0;
	switch (errno) {
	case EAGAIN: *cause = xstrdup("queue full"); break;
	case ESHUTDOWN: *cause = xstrdup("bus is shutting down"); break;
	default: *cause = xasprintf("emit failed: %s", strerror(errno)); break;
	}
	return -1;
}

/* The compact text of data if it is a JSON object, else NULL with *cause. */
static char *
timer_check_data(const char *data, char **cause)
{
	json_error_t err;
	json_t *j;

	if (!data)
		return xstrdup("{}");
	j = json_loads(data, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		*cause = xasprintf("data is not valid JSON: %s", err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*cause = xstrdup("data must be a JSON object");
		return NULL;
	}
	json_decref(j);
	/* the text as written, compacted: never re-serialised, so numbers
	 * are emitted exactly as configured */
	struct buf b = {0};
	util_json_compact(&b, data, strlen(data));
	buf_putc(&b, '\0');
	return b.data;
}

struct worker_task *
timer_schedule_emit(struct worker *w, struct bus *b, const char *name,
                    bool periodic, double seconds, const char *event,
                    const char *data, enum worker_owner owner,
                    const char *origin, char **cause)
{
	struct worker_spec spec = {0};
	struct worker_task *t;
	struct timer_emit *te;
	char *compact, *desc;

	errno = EINVAL;
	if (!w) {
		*cause = xstrdup("the worker is not running");
		return NULL;
	}
	if (!b) {
		*cause = xstrdup("the bus is not running");
		return NULL;
	}
	if (!name || !*name) {
		*cause = xstrdup("timer name must not be empty");
		return NULL;
	}
	if (!event || !bus_name_valid(event, strlen(event))) {
		*cause =
		    xasprintf("invalid event name '%s'", event ? event : "");
		return NULL;
	}
	if (!isfinite(seconds) || seconds < 0 || (periodic && seconds <= 0)) {
		*cause = xstrdup(periodic ? "interval must be positive"
		                          : "delay must not be negative");
		return NULL;
	}
	if (!worker_may_touch(w, name, owner, cause)) {
		errno = EPERM;
		return NULL;
	}
	compact = timer_check_data(data, cause);
	if (!compact) {
		errno = EINVAL;
		return NULL;
	}

	te = xcalloc(1, sizeof(*te));
	te->bus = b;
	te->event = xstrdup(event);
	te->data = compact;
	te->data_len = strlen(compact);
	te->source = xasprintf("timer %s", name);
	desc = xasprintf("emit %s", event);

	spec.name = name;
	spec.kind = periodic ? WORKER_PERIODIC : WORKER_DELAYED;
	spec.interval = seconds;
	spec.fn = timer_emit_run;
	spec.arg = te;
	spec.free_arg = timer_emit_free;
	spec.origin = origin;
	spec.owner = owner;
	spec.description = desc;
	t = worker_schedule(w, &spec);
	free(desc);
	if (!t) {
		int err = errno;

		timer_emit_free(te);
		*cause = xstrdup(err == EPERM ? "the name belongs to a "
		                                "service's task"
		                              : "the worker is shutting down");
		errno = err;
		return NULL;
	}
	return t;
}
