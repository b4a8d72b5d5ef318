/*
 * fuzz_request.c — libFuzzer target: request bytes through the control
 * service's real read -> split -> dispatch -> write path, with the real
 * graph (manager, worker, bus, health, control, app, notification) booted
 * once on one loop and reused across inputs.
 *
 * No listening socket: the control service gets one end of a spare
 * socketpair as its "activated" socket (fd 3, never readable, so never
 * accepted on), and each input is a fresh client made from another
 * socketpair (ctl_test_adopt). The input plus a newline is written, our
 * write side shut, and the loop run until the daemon closes or a bounded
 * number of iterations passed. Then every client is dropped (subscriptions
 * go with it) and every task the input scheduled is cancelled, so state
 * does not grow across inputs. A `shutdown` request really shuts the graph
 * down; the next input boots a new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "daemon/conf.h"
#include "services/health.h"
#include "services/control.h"
#include "daemon/log.h"
#include "services/manager.h"
#include "daemon/methods.h"
#include "daemon/service.h"
#include "services/table.h"
#include "daemon/util.h"
#include "services/worker.h"

#define MAX_TURNS 64 /* loop iterations per input once nothing moves */
#define LISTEN_FD 3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct svc_graph *graph;
static struct svc_conf *conf; /* the defaults, with a long health interval */
static bool exited;
static int act_peer = -1; /* the silent end of the fake listener */
static char **base_tasks; /* tasks the graph schedules by itself */
static size_t nbase;

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_request: %s\n", what);
	abort();
}

static void
progress_cb(const char *phase, const char *service, const char *state,
            void *arg)
{
	if (strcmp(phase, "exit") == 0)
		exited = true;
}

static void
boot_done(struct svc_graph *g, int status, const char *cause, void *arg)
{
	*(int *)arg = status == 0 ? 1 : -1;
}

/* Socket activation with a socketpair end: nothing ever connects. */
static void
fake_activation(void)
{
	int sv[2];
	char pid[32];

	if (fcntl(LISTEN_FD, F_GETFD) >= 0)
		die("fd 3 is taken; cannot fake socket activation");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	if (sv[0] != LISTEN_FD && dup2(sv[0], LISTEN_FD) < 0)
		die("dup2");
	if (sv[0] != LISTEN_FD)
		close(sv[0]);
	/* The peer stays open (and silent) while this graph runs. */
	if (act_peer >= 0)
		close(act_peer);
	act_peer = sv[1];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
}

/* The worker service's instance, NULL while it is not running. */
static struct worker *
fuzz_worker(void)
{
	struct svc *s = graph ? svc_graph_find(graph, "worker") : NULL;

	return s ? svc_priv(s) : NULL;
}

static void
note_task(struct worker_task *t, void *arg)
{
	base_tasks = xrealloc(base_tasks, (nbase + 1) * sizeof(*base_tasks));
	base_tasks[nbase++] = xstrdup(worker_task_name(t));
}

static void
boot(void)
{
	char *cause = NULL;
	int done = 0;

	exited = false;
	graph = svc_graph_new(loop, svcd_table, svcd_table_len, &cause);
	if (graph)
		svc_graph_set_conf(graph, conf);
	if (!graph)
		die(cause ? cause : "graph");
	svc_start(graph, NULL, boot_done, &done);
	while (!done)
		ev_run(loop, EVRUN_ONCE);
	if (done < 0)
		die("boot failed");
	for (size_t i = 0; i < nbase; i++)
		free(base_tasks[i]);
	nbase = 0;
	if (fuzz_worker())
		worker_foreach(fuzz_worker(), note_task, NULL);
}

/* The input asked for a shutdown: let it finish, then start over. */
static void
reboot(void)
{
	while (!exited)
		ev_run(loop, EVRUN_ONCE);
	svc_graph_free(graph);
	graph = NULL;
	fake_activation(); /* the control service closed fd 3 */
	boot();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	util_json_use_xmalloc();
	log_set_quiet(1);
	conf = svc_conf_load(NULL, svcd_table, svcd_table_len, NULL);
	/* rounds only when a request asks */
	((struct health_conf *)svc_conf_options(conf, "health"))->interval =
	    3600;
	fake_activation(); /* before the loop's own fds take fd 3 */
	loop = ev_loop_new(EVFLAG_AUTO);
	manager_add_progress(progress_cb, NULL);
	boot();
	return 0;
}

static bool
is_base(const char *name)
{
	for (size_t i = 0; i < nbase; i++)
		if (strcmp(base_tasks[i], name) == 0)
			return true;
	return false;
}

struct names {
	char **v;
	size_t n;
};

static void
collect_extra(struct worker_task *t, void *arg)
{
	struct names *x = arg;

	if (is_base(worker_task_name(t)))
		return;
	x->v = xrealloc(x->v, (x->n + 1) * sizeof(*x->v));
	x->v[x->n++] = xstrdup(worker_task_name(t));
}

/* Cancel the tasks an input scheduled (replaced built-ins stay: bounded). */
static void
cancel_extra_tasks(void)
{
	struct worker *w = fuzz_worker();
	struct names x = {0};

	if (!w)
		return;
	worker_foreach(w, collect_extra, &x);
	for (size_t i = 0; i < x.n; i++) {
		worker_cancel(w, x.v[i]);
		free(x.v[i]);
	}
	free(x.v);
}

/* Read what the daemon wrote; true once it closed its side. */
static bool
drain(int fd, bool *moved)
{
	char tmp[65536];

	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n > 0) {
			*moved = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	int idle = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	               sv) < 0)
		die("socketpair");
	/* Room for the whole input: nothing we write may block. */
	int sz = (int)size + 4096;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	ctl_test_adopt(sv[0]);
	if (size && write(sv[1], data, size) != (ssize_t)size)
		die("short write");
	if (write(sv[1], "\n", 1) != 1)
		die("short write");
	shutdown(sv[1], SHUT_WR);

	while (idle < MAX_TURNS && !manager_shutting_down()) {
		bool moved = false;

		ev_run(loop, EVRUN_NOWAIT);
		if (drain(sv[1], &moved))
			break;
		idle = moved ? 0 : idle + 1;
	}
	ctl_test_drop_all();
	close(sv[1]);
	cancel_extra_tasks();
	if (manager_shutting_down())
		reboot();
	/* Let the bus dispatch what the input emitted (listeners run). */
	for (int i = 0; i < 4; i++)
		ev_run(loop, EVRUN_NOWAIT);
	return 0;
}
