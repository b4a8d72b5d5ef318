/*
 * manager.c — the service manager (singleton-service's AsyncServiceManager):
 * signals, shutdown handlers and the graceful shutdown sequence.
 *
 * The sequence runs as a small state machine on the loop:
 *   manager_shutdown() -> progress("stopping") -> (next iteration) shutdown
 *   handlers one after another, each bounded by its own timer -> svc_stop_all
 *   (a graph observer reports every service's stopping/stopped) ->
 *   progress("exit") -> ev_break(EVBREAK_ALL).
 * One global timer ([daemon] shutdown_timeout) bounds the whole of it; a
 * second SIGTERM/SIGINT ends it at once. Either way the exit status is 1.
 *
 * The reload hook, the progress callbacks and the exit status live outside
 * init/stop: main registers them before boot and reads the status after the
 * loop ended (the manager is stopped by then).
 */
#include "services/manager.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/methods.h"
#include "daemon/util.h"

#define HANDLER_TIMEOUT_DEFAULT 10.0

struct manager_handler {
	char *name;
	manager_handler_fn fn;
	void *arg;
	double timeout;
	struct manager_handler *next;
};

struct progress {
	manager_progress_fn fn;
	void *arg;
};

enum phase {
	PHASE_IDLE,     /* not shutting down */
	PHASE_STARTING, /* manager_shutdown called, handlers on the next turn */
	PHASE_HANDLERS,
	PHASE_SERVICES, /* svc_stop_all under way */
	PHASE_DONE,     /* the loop was told to break */
};

static struct {
	struct svc *self; /* for its options */
	bool running;
	struct svc_graph *graph;
	struct ev_loop *loop;
	ev_signal sigterm;
	ev_signal sigint;
	ev_signal sighup;
	ev_timer kick;          /* continue the sequence on the next turn */
	ev_timer handler_timer; /* the current handler's timeout */
	ev_timer global_timer;  /* [daemon] shutdown_timeout */
	struct manager_handler *handlers;
	struct manager_handler *current; /* running (async) handler */
	struct manager_handler *next;    /* next handler to run */
	bool observing;
	enum phase phase;
	bool shutting_down;
	int status;
} m;

static const struct manager_conf *
manager_conf(void)
{
	return svc_options(m.self); /* only while running */
}

/* Survive init/stop: see the note at the top. */
static manager_reload_fn reload_fn;
static void *reload_arg;
static struct progress *progress;
static size_t nprogress;
static int progress_busy; /* > 0 while callbacks run: removal only marks */
static bool progress_dirty;

static void run_handlers(void);

static const char *
signal_name(int signum)
{
	switch (signum) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	default: return "signal";
	}
}

static void
progress_compact(void)
{
	size_t j = 0;

	for (size_t i = 0; i < nprogress; i++)
		if (progress[i].fn)
			progress[j++] = progress[i];
	nprogress = j;
	progress_dirty = false;
	if (nprogress == 0) {
		free(progress);
		progress = NULL;
	}
}

static void
progress_emit(const char *phase, const char *service, const char *state)
{
	progress_busy++;
	for (size_t i = 0; i < nprogress; i++)
		if (progress[i].fn)
			progress[i].fn(phase, service, state, progress[i].arg);
	progress_busy--;
	if (!progress_busy && progress_dirty)
		progress_compact();
}

void
manager_add_progress(manager_progress_fn fn, void *arg)
{
	progress = xrealloc(progress, (nprogress + 1) * sizeof(*progress));
	progress[nprogress].fn = fn;
	progress[nprogress].arg = arg;
	nprogress++;
}

void
manager_remove_progress(manager_progress_fn fn, void *arg)
{
	for (size_t i = 0; i < nprogress; i++) {
		if (progress[i].fn != fn || progress[i].arg != arg)
			continue;
		progress[i].fn = NULL;
		progress_dirty = true;
		break;
	}
	if (!progress_busy && progress_dirty)
		progress_compact();
}

void
manager_set_reload(manager_reload_fn fn, void *arg)
{
	reload_fn = fn;
	reload_arg = arg;
}

/* Both reload paths (SIGHUP, the control channel) come here: logged once. */
int
manager_reload(char **cause)
{
	const char *why;
	size_t n;

	if (!reload_fn)
		return 0;
	int rc = reload_fn(reload_arg, cause);
	if (rc == 0) {
		log_info("configuration reloaded");
		return 0;
	}
	why = *cause ? *cause : "unknown error";
	if (rc == MANAGER_RELOAD_PARTIAL) {
		/* installed, but not by every service: one line each */
		for (const char *s = why; *s; s += n + (s[n] == '\n')) {
			n = strcspn(s, "\n");
			log_err("reload: %.*s", (int)n, s);
		}
		return -1;
	}
	if (!strchr(why, '\n')) {
		log_err("reload failed: %s; keeping the running configuration",
		        why);
		return -1;
	}
	/* one log line per error */
	log_err("reload failed; keeping the running configuration:");
	for (const char *s = why; *s; s += n + (s[n] == '\n')) {
		n = strcspn(s, "\n");
		log_err("reload failed: %.*s", (int)n, s);
	}
	return -1;
}

void
manager_add_shutdown_handler(const char *name, manager_handler_fn fn, void *arg,
                             double timeout)
{
	struct manager_handler *h = xcalloc(1, sizeof(*h));
	struct manager_handler **pp = &m.handlers;

	h->name = xstrdup(name);
	h->fn = fn;
	h->arg = arg;
	h->timeout = timeout > 0 ? timeout : HANDLER_TIMEOUT_DEFAULT;
	while (*pp)
		pp = &(*pp)->next;
	*pp = h;
	/* Added while the handlers run: it still gets its turn. */
	if ((m.phase == PHASE_STARTING || m.phase == PHASE_HANDLERS) && !m.next)
		m.next = h;
}

static void
handler_free(struct manager_handler *h)
{
	free(h->name);
	free(h);
}

void
manager_remove_shutdown_handler(manager_handler_fn fn, void *arg)
{
	for (struct manager_handler **pp = &m.handlers; *pp;
	     pp = &(*pp)->next) {
		struct manager_handler *h = *pp;

		if (h->fn != fn || h->arg != arg)
			continue;
		*pp = h->next;
		if (m.next == h)
			m.next = h->next;
		if (m.current == h) {
			/* Removed while it runs: count it as finished. */
			m.current = NULL;
			if (m.loop) {
				ev_timer_stop(m.loop, &m.handler_timer);
				ev_timer_start(m.loop, &m.kick);
			}
		}
		handler_free(h);
		return;
	}
}

static void
handlers_free(void)
{
	struct manager_handler *h = m.handlers, *n;

	for (; h; h = n) {
		n = h->next;
		handler_free(h);
	}
	m.handlers = m.current = m.next = NULL;
}

bool
manager_shutting_down(void)
{
	return m.shutting_down;
}

int
manager_exit_status(void)
{
	return m.status;
}

static void
observer_cb(struct svc *s, enum svc_state from, enum svc_state to, void *arg)
{
	if (!m.shutting_down || m.phase == PHASE_DONE)
		return;
	if (to == SVC_STOPPING || to == SVC_STOPPED || to == SVC_FAILED)
		progress_emit("service", svc_name(s), svc_state_name(to));
}

static void
observer_remove(void)
{
	if (m.observing && m.graph)
		svc_graph_remove_observer(m.graph, observer_cb, NULL);
	m.observing = false;
}

/* End the sequence: status, progress("exit"), break the loop. */
static void
finish(int status)
{
	m.phase = PHASE_DONE;
	m.status = status;
	m.current = m.next = NULL;
	ev_timer_stop(m.loop, &m.kick);
	ev_timer_stop(m.loop, &m.handler_timer);
	ev_timer_stop(m.loop, &m.global_timer);
	progress_emit("exit", NULL, status == 0 ? "ok" : "failed");
	observer_remove();
	ev_break(m.loop, EVBREAK_ALL);
}

static void
stop_done(struct svc_graph *g, int status, const char *cause, void *arg)
{
	if (m.phase != PHASE_SERVICES)
		return; /* the global timeout or a second signal got there first
		         */
	if (status != 0)
		log_warn("shutdown: %s", cause ? cause : "some services hung");
	log_info("all services stopped");
	finish(0);
}

static void
stop_services(void)
{
	m.phase = PHASE_SERVICES;
	svc_stop_all(m.graph, stop_done, NULL);
}

static void
handler_end(struct manager_handler *h, int status)
{
	ev_timer_stop(m.loop, &m.handler_timer);
	m.current = NULL;
	if (status != 0)
		log_warn("shutdown handler '%s' failed", h->name);
	else
		log_debug("shutdown handler '%s' finished", h->name);
}

/* Run handlers from m.next until one goes async; then stop the services. */
static void
run_handlers(void)
{
	m.phase = PHASE_HANDLERS;
	while (m.next) {
		struct manager_handler *h = m.next;

		m.next = h->next;
		m.current = h;
		ev_timer_set(&m.handler_timer, h->timeout, 0);
		ev_timer_start(m.loop, &m.handler_timer);
		int rc = h->fn(h, h->arg);
		if (m.phase != PHASE_HANDLERS)
			return; /* the handler ended it all (second signal...)
			         */
		if (m.current != h)
			continue; /* done from inside, or removed */
		if (rc == SVC_PENDING)
			return;
		handler_end(h, rc);
	}
	if (!m.current)
		stop_services();
}

void
manager_handler_done(struct manager_handler *h, int status)
{
	if (!h || h != m.current)
		return; /* timed out already, or the sequence is over */
	handler_end(h, status);
	/* From the loop, not from inside the caller: no re-entrancy. */
	ev_timer_start(m.loop, &m.kick);
}

static void
kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (m.phase == PHASE_STARTING || m.phase == PHASE_HANDLERS) {
		if (!m.current)
			run_handlers();
	}
}

static void
handler_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct manager_handler *h = m.current;
	char dur[32];

	if (!h)
		return;
	util_format_duration(h->timeout, dur, sizeof(dur));
	log_warn("shutdown handler '%s' did not finish within %s", h->name,
	         dur);
	m.current = NULL;
	run_handlers();
}

/* The services still stopping (or not yet stopped), comma-separated. */
static char *
what_hangs(void)
{
	struct buf b = {0};
	size_t n = svc_graph_count(m.graph);

	if (m.phase == PHASE_HANDLERS && m.current) {
		buf_printf(&b, "shutdown handler '%s'", m.current->name);
	} else {
		for (size_t i = n; i-- > 0;) {
			struct svc *s = svc_graph_at(m.graph, i);

			if (svc_state(s) != SVC_STOPPING)
				continue;
			buf_printf(&b, "%s%s", b.len ? ", " : "", svc_name(s));
		}
		if (!b.len)
			buf_puts(&b, "the services to stop");
	}
	buf_putc(&b, '\0');
	char *s = xstrdup(buf_head(&b));
	buf_free(&b);
	return s;
}

static void
global_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	char dur[32];
	char *what = what_hangs();

	util_format_duration(manager_conf()->shutdown_timeout, dur,
	                     sizeof(dur));
	log_err("shutdown timed out after %s waiting for: %s", dur, what);
	free(what);
	finish(1);
}

void
manager_shutdown(const char *why)
{
	if (!m.running || m.shutting_down)
		return;
	m.shutting_down = true;
	m.phase = PHASE_STARTING;
	m.next = m.handlers;
	log_info("shutting down: %s", why ? why : "requested");
	ev_timer_set(&m.global_timer, manager_conf()->shutdown_timeout, 0);
	ev_timer_start(m.loop, &m.global_timer);
	svc_graph_add_observer(m.graph, observer_cb, NULL);
	m.observing = true;
	progress_emit("stopping", NULL, NULL);
	ev_timer_start(m.loop, &m.kick);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	const char *name = signal_name(w->signum);

	if (w->signum == SIGHUP) {
		char *cause = NULL;

		if (m.shutting_down) {
			log_info("received SIGHUP during shutdown; ignored");
			return;
		}
		log_info("received SIGHUP, reloading the configuration");
		manager_reload(&cause); /* logs the outcome */
		free(cause);
		return;
	}
	if (!m.shutting_down) {
		char why[64];

		snprintf(why, sizeof(why), "received %s", name);
		manager_shutdown(why);
		return;
	}
	if (m.phase == PHASE_DONE)
		return;
	log_err("received %s during shutdown; exiting now", name);
	finish(1);
}

/* [daemon] log_level and the graph's timeouts take effect. */
static void
apply_conf(struct svc *self, const struct manager_conf *c)
{
	log_set_level(c->log_level);
	log_set_format((enum log_format)c->log_format);
	/* a message's service (log.h): the table's names */
	for (size_t i = 0; i < svc_graph_count(svc_graph(self)); i++)
		log_add_source(svc_name(svc_graph_at(svc_graph(self), i)));
	svc_graph_set_timeouts(svc_graph(self), c->init_timeout,
	                       c->stop_timeout);
}

static int
manager_reload_conf(struct svc *self, const void *old, const void *new,
                    char **cause)
{
	apply_conf(self, new);
	return 0;
}

/* [daemon] required: the start policy, before the others resolve (the
 * manager starts first); svcd_main refuses unknown names beforehand. */
static void
apply_required(struct svc *self, const struct manager_conf *c)
{
	for (char **r = c->required; r && *r; r++) {
		struct svc *s = svc_graph_find(svc_graph(self), *r);

		if (s)
			svc_set_required(s, true);
		else
			log_warn("[daemon] required: unknown service '%s'", *r);
	}
}

static int
manager_init(struct svc *self, char **cause)
{
	m.self = self;
	apply_conf(self, svc_options(self));
	apply_required(self, svc_options(self));
	m.graph = svc_graph(self);
	m.loop = svc_loop(self);
	m.phase = PHASE_IDLE;
	m.shutting_down = false;
	m.status = 0;
	m.current = m.next = NULL;
	m.observing = false;
	signal(SIGPIPE, SIG_IGN);
	ev_timer_init(&m.kick, kick_cb, 0, 0);
	ev_timer_init(&m.handler_timer, handler_timeout_cb, 0, 0);
	ev_timer_init(&m.global_timer, global_timeout_cb, 0, 0);
	ev_signal_init(&m.sigterm, signal_cb, SIGTERM);
	ev_signal_init(&m.sigint, signal_cb, SIGINT);
	ev_signal_init(&m.sighup, signal_cb, SIGHUP);
	ev_signal_start(m.loop, &m.sigterm);
	ev_signal_start(m.loop, &m.sigint);
	ev_signal_start(m.loop, &m.sighup);
	m.running = true;
	return 0;
}

/*
 * Stopped last, from inside svc_stop_all: release the signals and the
 * handlers. The global timer and the observer stay until the stop completes
 * (stop_done) so the sequence can still report and break the loop.
 */
static int
manager_stop(struct svc *self)
{
	ev_signal_stop(m.loop, &m.sigterm);
	ev_signal_stop(m.loop, &m.sigint);
	ev_signal_stop(m.loop, &m.sighup);
	ev_timer_stop(m.loop, &m.handler_timer);
	ev_timer_stop(m.loop, &m.kick);
	if (m.phase != PHASE_SERVICES) {
		ev_timer_stop(m.loop, &m.global_timer);
		observer_remove();
	}
	handlers_free();
	m.running = false;
	return 0;
}

static const struct svc_conf_enum log_formats[] = {
    {"text", LOG_FORMAT_TEXT},
    {"json", LOG_FORMAT_JSON},
    {NULL, 0},
};

static const struct svc_conf_item daemon_items[] = {
    {.key = "log_level",
     .type = &svc_conf_level,
     .off = offsetof(struct manager_conf, log_level),
     .dflt = "info",
     .doc = "error, warning, info or debug"},
    {.key = "log_format",
     .type = &svc_conf_enum,
     .off = offsetof(struct manager_conf, log_format),
     .dflt = "text",
     .arg = log_formats,
     .doc = "text, or json: one object per line (time, level, service, "
            "message, fields)"},
    {.key = "shutdown_timeout",
     .type = &svc_conf_duration,
     .off = offsetof(struct manager_conf, shutdown_timeout),
     .dflt = "30s",
     .max = "1h",
     .doc = "the whole shutdown, after which svcd exits 1"},
    {.key = "init_timeout",
     .type = &svc_conf_duration,
     .off = offsetof(struct manager_conf, init_timeout),
     .dflt = "30s",
     .max = "1h",
     .doc = "a service's init, unless its descriptor says otherwise"},
    {.key = "stop_timeout",
     .type = &svc_conf_duration,
     .off = offsetof(struct manager_conf, stop_timeout),
     .dflt = "10s",
     .max = "1h",
     .doc = "a service's stop, unless its descriptor says otherwise"},
    {.key = "required",
     .type = &svc_conf_words,
     .off = offsetof(struct manager_conf, required),
     .flags = SVC_CONF_RESTART,
     .doc = "optional services whose failure at start fails the start"},
};

/* [daemon] required names services of the table being loaded. */
static int
daemon_section_check(struct svc_conf_ctx *cx, void *opts)
{
	const struct manager_conf *c = opts;
	int rc = 0;

	for (char *const *r = c->required; r && *r; r++)
		if (!svc_conf_service(cx, *r)) {
			svc_conf_error(
			    cx, svc_conf_key_line(cx, "required"),
			    "[daemon] required: unknown service '%s'",
			    svc_conf_quote(cx, *r));
			rc = -1;
		}
	return rc;
}

static const struct svc_conf_section daemon_section = {
    .name = "daemon",
    SVC_CONF_ITEMS(daemon_items),
    .check = daemon_section_check,
    .doc = "the process",
};

/* ---- control methods ---------------------------------------------------- */

static const struct svc_reply *
m_shutdown(struct svc *self, struct svc_call *q)
{
	const struct svc_reply *r =
	    svc_call_ok(q, json_pack("{s:b}", "accepted", 1));
	char why[128];

	(void)self;
	if (svc_call_bool(q, "wait", false))
		svc_call_wait_shutdown(q);
	snprintf(why, sizeof(why),
	         "shutdown requested over the control socket by uid=%lu "
	         "pid=%ld",
	         svc_call_uid(q), svc_call_pid(q));
	manager_shutdown(why);
	return r;
}

static const struct svc_reply *
m_reload(struct svc *self, struct svc_call *q)
{
	const struct svc_reply *r;
	char *cause = NULL;

	(void)self;
	if (manager_reload(&cause) < 0) {
		r = svc_call_fail(q, SVC_ERR_INVALID_CONFIG, "%s",
		                  cause ? cause
		                        : "the configuration was rejected");
		free(cause);
		return r;
	}
	return svc_call_ok(q, json_pack("{s:b}", "reloaded", 1));
}

static const struct svc_param p_shutdown[] = {
    {"wait", SVC_P_BOOL, false},
};

static const struct svc_method manager_methods[] = {
    {.name = "shutdown",
     .fn = m_shutdown,
     .access = SVC_ACCESS_ADMIN,
     .flags = SVC_M_LIVE | SVC_M_NO_BATCH_WAIT,
     SVC_PARAMS(p_shutdown),
     .doc = "stop svcd; with wait, progress until the exit"},
    {.name = "reload",
     .fn = m_reload,
     .access = SVC_ACCESS_ADMIN,
     .flags = SVC_M_LIVE,
     .doc = "reload the configuration"},
};

const struct svc_desc manager_service = {
    .name = "manager",
    .init = manager_init,
    .stop = manager_stop,
    .conf = SVC_CONF_SECTIONS(&daemon_section),
    .conf_size = sizeof(struct manager_conf),
    .reload = manager_reload_conf,
    SVC_METHODS(manager_methods),
};
