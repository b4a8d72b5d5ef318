/*
 * testing.c — unit-testing services: a fresh loop and graph per test case,
 * the loop driven until a condition or a deadline (see testing.h).
 */
#include "daemon/testing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/util.h"

struct svcd_test {
	struct ev_loop *loop;
	struct svc_graph *graph;
	const struct svc_desc *const *table;
	size_t n;
	ev_timer tick;     /* bounds every turn: a watcher may let poll block */
	ev_timer deadline; /* svcd_test_deadline */
	bool expired;
	struct svc_conf *conf; /* svcd_test_config's, attached to the graph */
	bool capturing;
	struct buf log;
	/* completion of the last start or stop */
	bool done;
	int status;
	char *cause;
};

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
}

struct svcd_test *
svcd_test_new(const struct svc_desc *const *table, size_t n, char **cause)
{
	struct svcd_test *t = xcalloc(1, sizeof(*t));

	util_json_use_xmalloc();
	t->loop = ev_loop_new(EVFLAG_AUTO);
	if (!t->loop) {
		*cause = xstrdup("cannot create an event loop");
		free(t);
		return NULL;
	}
	t->graph = svc_graph_new(t->loop, table, n, cause);
	if (!t->graph) {
		ev_loop_destroy(t->loop);
		free(t);
		return NULL;
	}
	t->table = table;
	t->n = n;
	ev_timer_init(&t->tick, tick_cb, 0.001, 0.001);
	ev_timer_init(&t->deadline, deadline_cb, 0., 0.);
	t->deadline.data = &t->expired;
	return t;
}

static void
log_hook(enum log_level level, const char *msg, void *arg)
{
	struct svcd_test *t = arg;

	buf_printf(&t->log, "%d %s\n", (int)level, msg);
	buf_putc(&t->log, '\0'); /* kept terminated for log_text */
	t->log.len--;
}

void
svcd_test_log_capture(struct svcd_test *t)
{
	buf_reset(&t->log);
	log_set_quiet(1);
	log_set_hook(log_hook, t);
	t->capturing = true;
}

const char *
svcd_test_log_text(const struct svcd_test *t)
{
	return t->log.len ? buf_head(&t->log) : "";
}

bool
svcd_test_log_seen(const struct svcd_test *t, const char *text)
{
	return strstr(svcd_test_log_text(t), text) != NULL;
}

void
svcd_test_free(struct svcd_test *t)
{
	if (!t)
		return;
	svcd_test_stop(t, 30, NULL);
	ev_timer_stop(t->loop, &t->deadline);
	ev_timer_stop(t->loop, &t->tick);
	svc_graph_free(t->graph);
	ev_loop_destroy(t->loop);
	svc_conf_free(t->conf);
	if (t->capturing) {
		log_set_hook(NULL, NULL);
		log_set_quiet(0);
	}
	buf_free(&t->log);
	free(t->cause);
	free(t);
}

struct ev_loop *
svcd_test_loop(const struct svcd_test *t)
{
	return t->loop;
}

struct svc_graph *
svcd_test_graph(const struct svcd_test *t)
{
	return t->graph;
}

struct svc *
svcd_test_service(const struct svcd_test *t, const char *name)
{
	return svc_graph_find(t->graph, name);
}

int
svcd_test_config(struct svcd_test *t, const char *text, char **cause)
{
	const char *dir = getenv("TMPDIR");
	char *path =
	    xasprintf("%s/svcd-test-XXXXXX.conf", dir && *dir ? dir : "/tmp");
	size_t len = strlen(text);
	int fd = mkstemps(path, 5);

	if (fd < 0) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (write(fd, text, len) != (ssize_t)len) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		free(path);
		return -1;
	}
	close(fd);
	struct svc_conf *c = svc_conf_load(path, t->table, t->n, cause);
	unlink(path);
	free(path);
	if (!c)
		return -1;
	svc_graph_set_conf(t->graph, c); /* the graph borrows it */
	svc_conf_free(t->conf);
	t->conf = c;
	return 0;
}

void
svcd_test_deadline(struct svcd_test *t, double secs)
{
	t->expired = false;
	ev_timer_stop(t->loop, &t->deadline);
	ev_timer_set(&t->deadline, secs, 0.);
	ev_timer_start(t->loop, &t->deadline);
}

bool
svcd_test_turn(struct svcd_test *t)
{
	if (t->expired)
		return false;
	ev_timer_start(t->loop, &t->tick);
	ev_run(t->loop, EVRUN_ONCE);
	ev_timer_stop(t->loop, &t->tick);
	return !t->expired;
}

bool
svcd_test_run_until(struct svcd_test *t, bool (*pred)(void *arg), void *arg,
                    double secs)
{
	bool held;

	svcd_test_deadline(t, secs);
	while (!(held = pred(arg)) && svcd_test_turn(t))
		;
	ev_timer_stop(t->loop, &t->deadline);
	return held;
}

void
svcd_test_run_for(struct svcd_test *t, double secs)
{
	svcd_test_deadline(t, secs);
	while (svcd_test_turn(t))
		;
}

static void
done_cb(struct svc_graph *g, int status, const char *cause, void *arg)
{
	struct svcd_test *t = arg;

	t->done = true;
	t->status = status;
	free(t->cause);
	t->cause = cause ? xstrdup(cause) : NULL;
}

/* Turn until the completion came; 0 or -1 with *cause (if wanted). */
static int
wait_done(struct svcd_test *t, double secs, const char *what, char **cause)
{
	svcd_test_deadline(t, secs);
	while (!t->done && svcd_test_turn(t))
		;
	ev_timer_stop(t->loop, &t->deadline);
	if (!t->done) {
		if (cause)
			*cause =
			    xasprintf("%s timed out after %g s", what, secs);
		return -1;
	}
	if (t->status == 0)
		return 0;
	if (cause)
		*cause = xstrdup(t->cause ? t->cause : "unknown error");
	return -1;
}

int
svcd_test_start(struct svcd_test *t, const char *name, double secs,
                char **cause)
{
	t->done = false;
	svc_start(t->graph, name, done_cb, t);
	return wait_done(t, secs, "start", cause);
}

int
svcd_test_stop(struct svcd_test *t, double secs, char **cause)
{
	t->done = false;
	svc_stop_all(t->graph, done_cb, t);
	return wait_done(t, secs, "stop", cause);
}

int
svcd_test_reset(struct svcd_test *t, double secs)
{
	int rc = svcd_test_stop(t, secs, NULL);

	svc_reset(t->graph);
	return rc;
}
