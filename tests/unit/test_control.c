/* test_control.c — Check tests for the control server: a real graph (manager,
 * worker, bus, health, control) on a fresh loop, driven through a plain Unix
 * socket from the test. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "services/app.h"
#include "services/bus.h"
#include "daemon/conf.h"
#include "services/control.h"
#include "services/health.h"
#include "services/hooks.h"
#include "daemon/log.h"
#include "daemon/methods-int.h"
#include "services/manager.h"
#include "daemon/service.h"
#include "testutil.h"
#include "daemon/util.h"
#include "services/worker.h"

/* app owns `schedule`, hooks owns `hooks`: every method svcd has */
static const struct svc_desc *const table[] = {
    &manager_service, &worker_service, &bus_service,   &health_service,
    &control_service, &app_service,    &hooks_service,
};

static struct ev_loop *loop;
static struct svc_graph *graph;
static ev_timer guard;
static ev_timer tick; /* work done in prepare watchers wakes no poll */
static bool timed_out;
static char dir[64];
static char sock[128];
static char self_path[4096]; /* this binary, for test_permission_denied */

/* ---- fixture ------------------------------------------------------------ */

/* One loop iteration with a guard; fails the test when it fires. */
static void
turn(void)
{
	ck_assert_msg(!timed_out, "timed out waiting");
	ev_run(loop, EVRUN_ONCE);
	ck_assert_msg(!timed_out, "timed out waiting");
}

static void
arm_guard(void)
{
	ev_timer_stop(loop, &guard);
	/* only ever reached on failure */
	tu_deadline_start(loop, &guard, 5.0, &timed_out);
}

/* The options control boots with: ours to tweak before boot. */
static struct control_conf *
ctl_conf(void)
{
	return tu_opts("control");
}

static void
setup(void)
{
	log_set_quiet(getenv("TEST_VERBOSE") == NULL);
	strcpy(dir, "/tmp/test_control.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/svcd.sock", dir);
	loop = ev_loop_new(EVFLAG_AUTO);
	tu_deadline_start(loop, &guard, 5.0, &timed_out);
	tu_tick_start(loop, &tick);
	struct control_conf *c = ctl_conf();
	free(c->socket);
	c->socket = xstrdup(sock);
	((struct health_conf *)tu_opts("health"))->interval = 60;
}

static struct bus_conf *
bus_conf(void)
{
	return tu_opts("bus");
}

/* Boot the graph; NULL on success, else the (allocated) cause. */
static char *
try_boot(void)
{
	int status =
	    tu_boot(loop, table, ARRAY_SIZE(table), &graph, &timed_out);
	const char *cause = tu_boot_cause();

	ck_assert_msg(!timed_out, "timed out waiting");
	if (status == 0)
		return NULL;
	return xstrdup(*cause ? cause : "failed");
}

static void
boot(void)
{
	char *cause = try_boot();

	ck_assert_msg(cause == NULL, "boot failed: %s", cause);
}

static void
stopped(struct svc_graph *g, int status, const char *cause, void *arg)
{
	*(bool *)arg = true;
}

/* Stop the graph; fails the test when the guard fires first. */
static void
stop_graph(void)
{
	tu_stop(loop, graph, &timed_out);
	ck_assert_msg(!timed_out, "timed out waiting");
}

static void
teardown(void)
{
	if (graph) {
		arm_guard();
		tu_stop(loop, graph, &timed_out);
		svc_graph_free(graph);
		graph = NULL;
	}
	ev_timer_stop(loop, &guard);
	ev_timer_stop(loop, &tick);
	ev_loop_destroy(loop);
	tu_conf_reset();
	manager_set_reload(NULL, NULL);
	unlink(sock);
	char p[160];
	snprintf(p, sizeof(p), "%s/link", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/other.sock", dir);
	unlink(p);
	rmdir(dir);
}

/* ---- a test client ------------------------------------------------------ */

struct cli {
	int fd;
	ev_io w;
	struct buf in;
	bool eof;
	bool reading; /* watcher active: the test reads what arrives */
};

static void
cli_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct cli *c = w->data;
	char tmp[65536];

	/* one read per readiness (level-triggered): fds may be blocking */
	ssize_t n = read(c->fd, tmp, sizeof(tmp));
	if (n > 0) {
		buf_append(&c->in, tmp, (size_t)n);
	} else if (n == 0 || errno != EINTR) {
		c->eof = true;
		ev_io_stop(l, w);
	}
}

static int
raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sa.sun_path, path);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	              "connect: %s", strerror(errno));
	return fd;
}

static struct cli *
cli_new(void)
{
	struct cli *c = xcalloc(1, sizeof(*c));

	c->fd = raw_connect(sock);
	ev_io_init(&c->w, cli_cb, c->fd, EV_READ);
	c->w.data = c;
	ev_io_start(loop, &c->w);
	c->reading = true;
	return c;
}

static void
cli_free(struct cli *c)
{
	ev_io_stop(loop, &c->w);
	close(c->fd);
	buf_free(&c->in);
	free(c);
}

static void
cli_send_n(struct cli *c, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
		ck_assert_msg(w > 0, "send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

static void
cli_send(struct cli *c, const char *s)
{
	cli_send_n(c, s, strlen(s));
}

/* The next line (allocated, no newline), or NULL at EOF. */
static char *
cli_line(struct cli *c)
{
	for (;;) {
		const char *h = buf_head(&c->in);
		const char *nl = c->in.len ? memchr(h, '\n', c->in.len) : NULL;

		if (nl) {
			char *line = xstrndup(h, (size_t)(nl - h));
			buf_consume(&c->in, (size_t)(nl - h) + 1);
			return line;
		}
		if (c->eof)
			return NULL;
		turn();
	}
}

static json_t *
cli_json(struct cli *c)
{
	char *line = cli_line(c);
	json_error_t e;

	ck_assert_msg(line != NULL, "connection closed, a reply was expected");
	json_t *j = json_loads(line, 0, &e);
	ck_assert_msg(j != NULL, "bad JSON from svcd: %s: %s", e.text, line);
	free(line);
	return j;
}

/* Send one request and return its reply. */
static json_t *
call(struct cli *c, const char *req)
{
	cli_send(c, req);
	cli_send(c, "\n");
	return cli_json(c);
}

static void
assert_error(json_t *reply, int code, const char *cls, const char *msg)
{
	json_t *err = json_object_get(reply, "error");
	char *s = json_dumps(reply, JSON_COMPACT);

	ck_assert_msg(err != NULL, "not an error: %s", s);
	ck_assert_msg(json_integer_value(json_object_get(err, "code")) == code,
	              "code: %s", s);
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_object_get(err, "data"), "class")),
	                 cls);
	if (msg)
		ck_assert_msg(
		    strstr(json_string_value(json_object_get(err, "message")),
		           msg),
		    "message lacks '%s': %s", msg, s);
	free(s);
	json_decref(reply);
}

static json_t *
result(json_t *reply)
{
	json_t *r = json_object_get(reply, "result");
	char *s = json_dumps(reply, JSON_COMPACT);

	ck_assert_msg(r != NULL, "not a result: %s", s);
	free(s);
	return r;
}

/* Run the loop until every event emitted so far was dispatched. */
static void
drain_bus(void)
{
	struct bus *b = tu_bus();

	while (bus_last_dispatched(b) < bus_last_seq(b))
		turn();
}

struct wire_find {
	uint64_t seq;
	char *wire;
};

static void
wire_cb(const struct bus_event *ev, void *arg)
{
	struct wire_find *f = arg;
	size_t len;

	if (ev->seq == f->seq)
		f->wire = xstrdup(bus_event_wire(ev, &len));
}

/* The exact wire line of event seq, from the history (without newline). */
static char *
wire_of(uint64_t seq)
{
	struct wire_find f = {seq, NULL};

	bus_history(tu_bus(), seq - 1, 0, NULL, 0, wire_cb, &f);
	ck_assert_msg(f.wire != NULL, "event %" PRIu64 " not in history", seq);
	f.wire[strlen(f.wire) - 1] = '\0';
	return f.wire;
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_hello_ping_and_socket_mode)
{
	struct stat st;

	boot();
	ck_assert_int_eq(lstat(sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0660);

	struct cli *c = cli_new();
	json_t *r =
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\"}");
	json_t *res = result(r);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(res, "name")),
	                 "svcd");
	ck_assert_str_eq(json_string_value(json_object_get(res, "version")),
	                 SVCD_VERSION);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "protocol")),
	                 1);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "pid")),
	                 getpid());
	ck_assert_int_eq(json_array_size(json_object_get(res, "methods")), 15);
	json_decref(r);

	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"ping\"}");
	ck_assert(json_is_true(json_object_get(result(r), "pong")));
	ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "abc");
	json_decref(r);
	cli_free(c);

	/* a clean stop removes the socket file */
	stop_graph();
	ck_assert_int_eq(lstat(sock, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_status_services_health_tasks)
{
	boot();
	struct cli *c = cli_new();
	json_t *r =
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}");
	json_t *res = result(r);
	ck_assert_str_eq(json_string_value(json_object_get(res, "state")),
	                 "running");
	json_t *svcs = json_object_get(res, "services");
	/* every service of the table, all running */
	ck_assert_int_eq(json_integer_value(json_object_get(svcs, "total")),
	                 ARRAY_SIZE(table));
	ck_assert_int_eq(json_integer_value(json_object_get(svcs, "running")),
	                 ARRAY_SIZE(table));
	ck_assert_ptr_nonnull(
	    json_object_get(json_object_get(res, "bus"), "emitted"));
	ck_assert_ptr_nonnull(
	    json_object_get(json_object_get(res, "worker"), "tasks"));
	json_t *ctl = json_object_get(res, "control");
	ck_assert_int_eq(json_integer_value(json_object_get(ctl, "clients")),
	                 1);
	ck_assert_int_eq(json_integer_value(json_object_get(ctl, "accepted")),
	                 1);
	/* whole seconds: no float artefacts */
	ck_assert(json_is_integer(json_object_get(res, "uptime_s")));
	json_decref(r);

	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"services\"}");
	res = json_object_get(result(r), "services");
	ck_assert_int_eq(json_array_size(res), ARRAY_SIZE(table));
	json_t *s4 = json_array_get(res, 4);
	ck_assert_str_eq(json_string_value(json_object_get(s4, "name")),
	                 "control");
	ck_assert_str_eq(json_string_value(json_object_get(s4, "state")),
	                 "running");
	/* counted from 1, as svcd --print-graph numbers them */
	ck_assert_int_eq(json_integer_value(json_object_get(s4, "order")), 5);
	/* bus, manager: what control uses (its methods moved to their services)
	 */
	ck_assert_int_eq(json_array_size(json_object_get(s4, "requires")), 2);
	json_decref(r);

	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"health\","
	            "\"params\":{\"fresh\":true}}");
	res = result(r);
	ck_assert_str_eq(json_string_value(json_object_get(res, "status")),
	                 "ok");
	ck_assert_int_eq(json_array_size(json_object_get(res, "services")),
	                 ARRAY_SIZE(table));
	json_decref(r);

	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"health\","
	            "\"params\":{\"service\":\"bus\"}}");
	res = result(r);
	ck_assert_int_eq(json_array_size(json_object_get(res, "services")), 1);
	json_decref(r);

	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":"
	                     "\"health\",\"params\":{\"service\":\"nope\"}}"),
	             -32003, "NotFound", "unknown service 'nope'");

	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tasks\"}");
	ck_assert(json_is_array(json_object_get(result(r), "tasks")));
	json_decref(r);
	cli_free(c);
}
END_TEST

START_TEST(test_protocol_errors)
{
	boot();
	struct cli *c = cli_new();

	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,"), -32700,
	             "ParseError", "column");
	assert_error(call(c, "42"), -32600, "InvalidRequest", "JSON object");
	assert_error(
	    call(c, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}"),
	    -32600, "InvalidRequest", "jsonrpc");
	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":"
	                     "\"ping\"}"),
	             -32600, "InvalidRequest", "'id'");
	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}"),
	             -32600, "InvalidRequest", "'method'");
	assert_error(
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}"),
	    -32601, "MethodNotFound", "unknown method 'nope'");
	assert_error(call(c,
	                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\","
	                  "\"params\":{\"event\":\"a\",\"x\":1}}"),
	             -32602, "InvalidParams", "unknown parameter 'x'");
	assert_error(
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\","
	            "\"params\":{\"event\":5}}"),
	    -32602, "InvalidParams", "parameter 'event' must be a string");
	assert_error(
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\","
	            "\"params\":{}}"),
	    -32602, "InvalidParams", "missing required parameter 'event'");
	assert_error(call(c,
	                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\","
	                  "\"params\":[1]}"),
	             -32602, "InvalidParams", "must be an object");
	assert_error(call(c,
	                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\","
	                  "\"params\":{\"event\":\"bad name!\"}}"),
	             -32602, "InvalidParams", "invalid event name");
	/* invalid UTF-8 is a parse error */
	assert_error(
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xff\"}"),
	    -32700, "ParseError", NULL);
	/* duplicate keys are rejected */
	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,"
	                     "\"method\":\"ping\"}"),
	             -32700, "ParseError", "duplicate");

	/* Unknown params are rejected before any side effect. */
	uint64_t before = bus_last_seq(tu_bus());
	assert_error(call(c,
	                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\","
	                  "\"params\":{\"event\":\"t.x\",\"bogus\":1}}"),
	             -32602, "InvalidParams", "bogus");
	ck_assert_uint_eq(bus_last_seq(tu_bus()), before);

	/* Notifications are never answered, not even errors; empty lines are
	 * ignored; the next reply is the ping's. */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}\n\n \r\n"
	            "{\"jsonrpc\":\"2.0\",\"method\":\"emit\",\"params\":"
	            "{\"event\":\"note.x\"}}\n");
	json_t *r =
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"ping\"}");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 99);
	json_decref(r);
	/* ... but the notification did run */
	ck_assert_uint_eq(bus_last_seq(tu_bus()), before + 1);

	/* CRLF is accepted */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\r\n");
	r = cli_json(c);
	ck_assert(json_is_true(json_object_get(result(r), "pong")));
	json_decref(r);

	struct control_stats st;
	control_get_stats(&st);
	ck_assert_uint_ge(st.errors, 14);
	cli_free(c);
}
END_TEST

/* The bound is exact: a line of max_request bytes is read, one byte more
 * is TooLarge, ended by a newline or not (a check at twice the bound, or
 * only at the newline, lets 65 bytes through). */
START_TEST(test_too_large_at_the_bound)
{
	char line[80];
	struct cli *c;
	json_t *r;

	ctl_conf()->max_request = 64;
	boot();
	/* {"jsonrpc":"2.0","id":1,"method":"ping"} padded to 64 bytes */
	snprintf(line, sizeof(line),
	         "{\"jsonrpc\":\"2.0\",\"id\":1,"
	         "\"method\":\"ping\"%*s}",
	         24, "");
	ck_assert_uint_eq(strlen(line), 64);
	c = cli_new();
	r = call(c, line);
	ck_assert(json_is_true(json_object_get(result(r), "pong")));
	json_decref(r);
	cli_free(c);

	/* 65 bytes and a newline */
	c = cli_new();
	line[63] = ' ';
	line[64] = '}';
	line[65] = '\0';
	r = call(c, line);
	assert_error(r, -32005, "TooLarge", "64 bytes");
	ck_assert_ptr_null(cli_line(c));
	cli_free(c);

	/* 65 bytes, no newline yet */
	c = cli_new();
	memset(line, '{', 65);
	line[65] = '\0';
	cli_send(c, line);
	assert_error(cli_json(c), -32005, "TooLarge", NULL);
	ck_assert_ptr_null(cli_line(c));
	cli_free(c);
}
END_TEST

START_TEST(test_too_large_closes)
{
	ctl_conf()->max_request = 64;
	boot();
	struct cli *c = cli_new();
	char big[200];

	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	cli_send(c, big);
	json_t *r = cli_json(c);
	ck_assert(json_is_null(json_object_get(r, "id")));
	assert_error(r, -32005, "TooLarge", "64 bytes");
	ck_assert_ptr_null(cli_line(c)); /* then closed */
	cli_free(c);

	/* an unterminated line longer than the limit, too */
	c = cli_new();
	memset(big, '{', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cli_send(c, big);
	assert_error(cli_json(c), -32005, "TooLarge", NULL);
	ck_assert_ptr_null(cli_line(c));
	cli_free(c);
}
END_TEST

START_TEST(test_pipelined_in_order)
{
	boot();
	struct cli *c = cli_new();
	struct buf b = {0};

	for (int i = 0; i < 10; i++)
		buf_printf(
		    &b, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"%s}\n",
		    i, i % 2 ? "ping" : "emit",
		    i % 2 ? "" : ",\"params\":{\"event\":\"p.x\"}");
	cli_send_n(c, buf_head(&b), b.len);
	buf_free(&b);
	uint64_t seq = 0;
	for (int i = 0; i < 10; i++) {
		json_t *r = cli_json(c);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "id")),
		                 i);
		json_t *res = result(r);
		if (i % 2 == 0) {
			uint64_t s = (uint64_t)json_integer_value(
			    json_object_get(res, "seq"));
			ck_assert(seq == 0 || s == seq + 1);
			seq = s;
		}
		json_decref(r);
	}
	cli_free(c);
}
END_TEST

START_TEST(test_split_request)
{
	boot();
	struct cli *c = cli_new();
	const char *req =
	    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}\n";

	for (const char *p = req; *p; p++) {
		cli_send_n(c, p, 1);
		ev_run(loop, EVRUN_NOWAIT);
		if (p[1])
			ck_assert_uint_eq(c->in.len, 0); /* nothing early */
	}
	json_t *r = cli_json(c);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 5);
	json_decref(r);
	cli_free(c);
}
END_TEST

START_TEST(test_subscribe_gets_exact_wire_line)
{
	boot();
	struct cli *sub = cli_new(), *em = cli_new();

	json_t *r = call(sub, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                      "\"subscribe\",\"params\":{\"events\":"
	                      "[\"x.*\",\"x.y\"]}}");
	uint64_t now =
	    (uint64_t)json_integer_value(json_object_get(result(r), "seq"));
	ck_assert_uint_eq(now, bus_last_dispatched(tu_bus()));
	json_decref(r);

	r = call(em, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\","
	             "\"params\":{\"event\":\"other\"}}");
	json_decref(r);
	r = call(
	    em,
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"emit\","
	    "\"params\":{\"event\":\"x.y\",\"data\":{\"a\":[1,\"\\u00e9\"]}}}");
	uint64_t seq =
	    (uint64_t)json_integer_value(json_object_get(result(r), "seq"));
	ck_assert_int_eq(
	    json_integer_value(json_object_get(result(r), "listeners")), 1);
	json_decref(r);

	/* matched by two patterns, delivered once; "other" not at all */
	char *line = cli_line(sub);
	char *wire = wire_of(seq);
	ck_assert_str_eq(line, wire);
	ck_assert(strstr(line, "\"event\":\"x.y\"") != NULL);
	char src[64];
	snprintf(src, sizeof(src), "\"source\":\"control uid=%u pid=%d\"",
	         (unsigned)getuid(), (int)getpid());
	ck_assert_msg(strstr(line, src), "source missing: %s", line);
	free(line);
	free(wire);

	/* unsubscribe: no more events */
	r = call(sub,
	         "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"unsubscribe\"}");
	ck_assert(json_is_true(json_object_get(result(r), "unsubscribed")));
	json_decref(r);
	json_decref(call(em,
	                 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"emit\","
	                 "\"params\":{\"event\":\"x.z\"}}"));
	drain_bus();
	r = call(sub, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 3);
	json_decref(r);
	cli_free(sub);
	cli_free(em);
}
END_TEST

START_TEST(test_subscribe_since_replays_history)
{
	boot();
	struct bus *b = tu_bus();
	uint64_t first = 0, seq;

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(
		    bus_emit(b, "h.x", 3, NULL, 0, "test", &seq, NULL), 0);
		if (!first)
			first = seq;
	}
	drain_bus();
	struct cli *c = cli_new();
	char req[160];
	snprintf(req, sizeof(req),
	         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\","
	         "\"params\":{\"events\":[\"h.*\"],\"since\":%" PRIu64 "}}",
	         first);
	json_t *r = call(c, req);
	ck_assert_uint_eq(json_integer_value(json_object_get(result(r), "seq")),
	                  first + 2);
	json_decref(r);
	for (uint64_t s = first + 1; s <= first + 2; s++) {
		char *line = cli_line(c), *wire = wire_of(s);
		ck_assert_str_eq(line, wire);
		free(line);
		free(wire);
	}
	/* then live */
	ck_assert_int_eq(
	    bus_emit(b, "h.y", 3, "{\"k\":1}", 7, "test", &seq, NULL), 0);
	char *line = cli_line(c), *wire = wire_of(seq);
	ck_assert_str_eq(line, wire);
	free(line);
	free(wire);

	/* events: last 2 of h.* */
	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"events\","
	            "\"params\":{\"last\":2,\"events\":[\"h.*\"]}}");
	json_t *evs = json_object_get(result(r), "events");
	ck_assert_int_eq(json_array_size(evs), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(evs, 1), "event")),
	    "h.y");
	json_decref(r);
	/* a page with nothing on it (it once read an empty buffer: UBSan) */
	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"events\","
	            "\"params\":{\"events\":[\"nothing.here\"]}}");
	evs = json_object_get(result(r), "events");
	ck_assert(json_is_array(evs));
	ck_assert_int_eq(json_array_size(evs), 0);
	ck_assert(json_is_null(json_object_get(result(r), "next")));
	json_decref(r);
	cli_free(c);
}
END_TEST

/* A request with a pattern list of n patterns "p<i>" padded to width w. */
static char *
pattern_req(const char *method, int n, int w, const char *extra)
{
	struct buf b = {0};

	buf_printf(&b,
	           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\","
	           "\"params\":{\"events\":[",
	           method);
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s\"p%0*d\"", i ? "," : "", w - 1, i);
	buf_printf(&b, "%s]}}", extra);
	buf_putc(&b, '\0');
	char *req = xstrdup(buf_head(&b));
	buf_free(&b);
	return req;
}

/* subscribe and events bound the pattern list (count and bytes) with
 * InvalidParams naming the limit; at the bound a set matches exactly. */
START_TEST(test_subscribe_pattern_caps)
{
	const char *methods[] = {"subscribe", "events"};
	uint64_t seq[3];
	char *req;

	boot();
	struct bus *b = tu_bus();
	struct cli *c = cli_new();
	for (int m = 0; m < 2; m++) {
		req = pattern_req(methods[m], BUS_PATTERNS_MAX + 1, 4, "");
		assert_error(call(c, req), -32602, "InvalidParams",
		             "too many patterns in 'events': 1025, at most "
		             "1024");
		free(req);
		req = pattern_req(methods[m], 600, 120, "");
		assert_error(call(c, req), -32602, "InvalidParams",
		             "over 65536 bytes in all");
		free(req);
	}
	req = pattern_req("subscribe", BUS_PATTERNS_MAX - 1, 5, ",\"z.*\"");
	json_t *r = call(c, req);
	free(req);
	ck_assert_ptr_nonnull(result(r));
	json_decref(r);
	ck_assert_int_eq(bus_emit(b, "p1023", 5, NULL, 0, "t", NULL, NULL), 0);
	ck_assert_int_eq(bus_emit(b, "p0042", 5, NULL, 0, "t", &seq[0], NULL),
	                 0);
	ck_assert_int_eq(bus_emit(b, "z", 1, NULL, 0, "t", NULL, NULL), 0);
	ck_assert_int_eq(bus_emit(b, "z.q", 3, NULL, 0, "t", &seq[1], NULL), 0);
	ck_assert_int_eq(bus_emit(b, "p1022", 5, NULL, 0, "t", &seq[2], NULL),
	                 0);
	for (int i = 0; i < 3; i++) {
		char *line = cli_line(c), *wire = wire_of(seq[i]);
		ck_assert_str_eq(line, wire);
		free(line);
		free(wire);
	}
	cli_free(c);
}
END_TEST

START_TEST(test_queue_full_without_wait)
{
	bus_conf()->queue_size = 2;
	boot();
	struct cli *c = cli_new();
	struct buf b = {0};

	for (int i = 0; i < 4; i++)
		buf_printf(&b,
		           "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
		           "\"emit\",\"params\":{\"event\":\"q.x\","
		           "\"wait\":false}}\n",
		           i);
	cli_send_n(c, buf_head(&b), b.len);
	buf_free(&b);
	int ok = 0, full = 0;
	for (int i = 0; i < 4; i++) {
		json_t *r = cli_json(c);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "id")),
		                 i);
		if (json_object_get(r, "result")) {
			ok++;
			json_decref(r);
		} else {
			full++;
			assert_error(r, -32001, "QueueFull", NULL);
		}
	}
	ck_assert_int_eq(ok, 2);
	ck_assert_int_eq(full, 2);
	cli_free(c);
}
END_TEST

/* A full queue and emits that wait: every one is accepted in order, none
 * counted as dropped; the same with the fast path and the general one. */
START_TEST(test_backpressure_with_wait)
{
	bus_conf()->queue_size = 2;
	boot();
	for (int fast = 1; fast >= 0; fast--) {
		struct cli *c = cli_new();
		struct buf b = {0};
		uint64_t start = bus_last_seq(tu_bus());
		struct bus_stats bs;

		bus_get_stats(tu_bus(), &bs);
		uint64_t dropped = bs.dropped; /* boot's own, queue_size 2 */
		methods_set_fast_path(fast);
		for (int i = 0; i < 8; i++)
			buf_printf(&b,
			           "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
			           "\"emit\",\"params\":{\"event\":\"q.x\"}}\n",
			           i);
		buf_printf(
		    &b, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}\n");
		cli_send_n(c, buf_head(&b), b.len);
		buf_free(&b);
		for (int i = 0; i < 8; i++) {
			json_t *r = cli_json(c);
			ck_assert_int_eq(
			    json_integer_value(json_object_get(r, "id")), i);
			ck_assert_uint_eq(json_integer_value(json_object_get(
			                      result(r), "seq")),
			                  start + 1 + (uint64_t)i);
			json_decref(r);
		}
		json_t *r = cli_json(c);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "id")),
		                 8);
		json_decref(r);
		bus_get_stats(tu_bus(), &bs);
		ck_assert_uint_eq(bs.high_watermark,
		                  2); /* it really was full */
		ck_assert_uint_eq(bs.dropped, dropped);
		cli_free(c);
	}
	methods_set_fast_path(true);
}
END_TEST

/* Read every line until EOF or until `stop` matches; check the seqs. */
struct slow_tally {
	uint64_t next; /* next expected seq */
	uint64_t got;  /* events received */
	uint64_t lost; /* events reported lost */
	int notices;
	bool disconnect;
};

static void
tally_line(struct slow_tally *t, const char *line)
{
	json_t *j = json_loads(line, 0, NULL);
	ck_assert_ptr_nonnull(j);
	const char *m = json_string_value(json_object_get(j, "method"));
	json_t *p = json_object_get(j, "params");

	if (m && strcmp(m, "event") == 0) {
		uint64_t s =
		    (uint64_t)json_integer_value(json_object_get(p, "seq"));
		ck_assert_msg(!t->next || s == t->next,
		              "seq %" PRIu64 ", expected %" PRIu64, s, t->next);
		t->next = s + 1;
		t->got++;
	} else if (m && strcmp(m, "events.lost") == 0) {
		uint64_t from =
		    (uint64_t)json_integer_value(json_object_get(p, "from"));
		uint64_t to =
		    (uint64_t)json_integer_value(json_object_get(p, "to"));
		uint64_t n =
		    (uint64_t)json_integer_value(json_object_get(p, "count"));
		ck_assert_uint_eq(from, t->next);
		ck_assert_uint_eq(n, to - from + 1);
		t->next = to + 1;
		t->lost += n;
		t->notices++;
		t->disconnect = json_is_true(json_object_get(p, "disconnect"));
	}
	json_decref(j);
}

START_TEST(test_slow_consumer_lost_notice)
{
	ctl_conf()->output_soft = 8192;
	ctl_conf()->output_hard = 64 << 20;
	boot();
	struct cli *c = cli_new();
	struct bus *b = tu_bus();
	char data[1100];
	uint64_t seq = 0;

	json_decref(call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                    "\"subscribe\"}"));
	/* stop reading: the socket buffer fills, then the output buffer */
	ev_io_stop(loop, &c->w);
	snprintf(data, sizeof(data), "{\"pad\":\"%01000d\"}", 0);
	/* 1000 x ~1.2 KB: far beyond the socket buffers plus output_soft */
	for (int n = 0; n < 1000; n++) {
		ck_assert_int_eq(
		    bus_emit(b, "s.x", 3, data, strlen(data), "t", &seq, NULL),
		    0);
		if (n % 100 == 0)
			drain_bus();
	}
	drain_bus();
	/* read again: events, one events.lost notice, then events again */
	ev_io_start(loop, &c->w);
	struct slow_tally t = {0};
	while (t.next <= seq) {
		char *line = cli_line(c);
		ck_assert_ptr_nonnull(line);
		tally_line(&t, line);
		free(line);
	}
	ck_assert_int_ge(t.notices, 1);
	ck_assert(!t.disconnect);
	ck_assert_uint_gt(t.lost, 0);
	ck_assert_uint_gt(t.got, 0);
	/* resumed: a new event arrives */
	ck_assert_int_eq(bus_emit(b, "s.x", 3, NULL, 0, "t", &seq, NULL), 0);
	for (;;) {
		char *line = cli_line(c);
		ck_assert_ptr_nonnull(line);
		tally_line(&t, line);
		free(line);
		if (t.next == seq + 1)
			break;
	}
	struct control_stats st;
	control_get_stats(&st);
	ck_assert_uint_eq(st.disconnected_slow, 0);
	cli_free(c);
}
END_TEST

START_TEST(test_slow_consumer_disconnected)
{
	ctl_conf()->output_soft = 4096;
	ctl_conf()->output_hard = 16384;
	boot();
	struct cli *c = cli_new();
	struct bus *b = tu_bus();
	char data[1100];
	uint64_t seq;
	struct control_stats st;

	json_decref(call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                    "\"subscribe\"}"));
	ev_io_stop(loop, &c->w);
	snprintf(data, sizeof(data), "{\"pad\":\"%01000d\"}", 0);
	for (int n = 0;; n++) {
		ck_assert_int_lt(n, 5000);
		ck_assert_int_eq(
		    bus_emit(b, "s.x", 3, data, strlen(data), "t", &seq, NULL),
		    0);
		drain_bus();
		control_get_stats(&st);
		if (st.disconnected_slow)
			break;
	}
	ev_io_start(loop, &c->w);
	struct slow_tally t = {0};
	char *line;
	while ((line = cli_line(c))) {
		tally_line(&t, line);
		free(line);
	}
	ck_assert(t.disconnect); /* the last notice says so, then EOF */
	cli_free(c);
	do {
		turn();
		control_get_stats(&st);
	} while (st.clients);
}
END_TEST

static bool
stat_contains(const char *cause, const char *needle)
{
	return cause && strstr(cause, needle);
}

START_TEST(test_stale_live_symlink_socket)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *cause;
	int fd;

	/* a stale socket file (no listener) is replaced */
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	boot();
	struct cli *c = cli_new();
	json_t *r =
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	json_decref(r);
	cli_free(c);

	/* a live one is refused */
	char other[160];
	snprintf(other, sizeof(other), "%s/other.sock", dir);
	stop_graph();
	svc_graph_free(graph);
	graph = NULL;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	cause = try_boot();
	ck_assert_msg(stat_contains(cause, "another svcd is already listening"),
	              "cause: %s", cause);
	free(cause);
	close(fd);
	/* the live server's socket file was left alone */
	struct stat st;
	ck_assert_int_eq(lstat(sock, &st), 0);
	stop_graph();
	svc_graph_free(graph);
	graph = NULL;
	unlink(sock);

	/* a symlink is refused, even to a socket */
	char link[160];
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(symlink(other, link), 0);
	free(ctl_conf()->socket);
	ctl_conf()->socket = xstrdup(link);
	cause = try_boot();
	ck_assert_msg(stat_contains(cause, "it is a symbolic link"),
	              "cause: %s", cause);
	free(cause);
	stop_graph();
	svc_graph_free(graph);
	graph = NULL;

	/* a regular file is refused */
	int f = open(other, O_CREAT | O_WRONLY, 0600);
	close(f);
	free(ctl_conf()->socket);
	ctl_conf()->socket = xstrdup(other);
	cause = try_boot();
	ck_assert_msg(stat_contains(cause, "is not a socket"), "cause: %s",
	              cause);
	free(cause);
}
END_TEST

START_TEST(test_max_clients_busy)
{
	ctl_conf()->max_clients = 2;
	boot();
	struct cli *a = cli_new(), *b = cli_new();
	json_decref(
	    call(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"));
	json_decref(
	    call(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"));
	struct cli *c = cli_new();
	assert_error(cli_json(c), -32006, "Busy", "too many clients (max 2)");
	ck_assert_ptr_null(cli_line(c));
	struct control_stats st;
	control_get_stats(&st);
	ck_assert_uint_eq(st.rejected, 1);
	ck_assert_uint_eq(st.clients, 2);
	cli_free(a);
	cli_free(b);
	cli_free(c);
}
END_TEST

START_TEST(test_half_close_and_vanish)
{
	boot();
	struct cli *c = cli_new();
	struct control_stats st;

	/* half-close after a request without its final newline: answered,
	 * then closed */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	shutdown(c->fd, SHUT_WR);
	json_t *r = cli_json(c);
	ck_assert(json_is_true(json_object_get(result(r), "pong")));
	json_decref(r);
	ck_assert_ptr_null(cli_line(c));
	cli_free(c);

	/* vanish mid-request: cleaned up at once */
	c = cli_new();
	json_decref(call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                    "\"subscribe\"}"));
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"meth");
	ev_io_stop(loop, &c->w);
	close(c->fd);
	c->fd = -1;
	for (;;) {
		control_get_stats(&st);
		if (st.clients == 0)
			break;
		turn();
	}
	struct bus_stats bs;
	bus_get_stats(tu_bus(), &bs);
	/* the subscriber's listener is gone too */
	struct cli *d = cli_new();
	r = call(d, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}");
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     json_object_get(result(r), "control"), "clients")),
	                 1);
	json_decref(r);
	cli_free(d);
	buf_free(&c->in);
	free(c);
}
END_TEST

START_TEST(test_schedule_cancel)
{
	boot();
	struct cli *c = cli_new();
	json_decref(
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	            "\"subscribe\",\"params\":{\"events\":[\"tick.*\"]}}"));
	json_t *r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
	                    "\"schedule\",\"params\":{\"name\":\"t1\","
	                    "\"after\":\"5ms\",\"event\":\"tick.a\","
	                    "\"data\":{\"n\":1}}}");
	json_t *res = result(r);
	ck_assert_str_eq(json_string_value(json_object_get(res, "name")), "t1");
	ck_assert_str_eq(json_string_value(json_object_get(res, "origin")),
	                 "control");
	json_decref(r);
	char *line = cli_line(c);
	ck_assert_msg(strstr(line, "\"event\":\"tick.a\"") &&
	                  strstr(line, "\"data\":{\"n\":1}"),
	              "%s", line);
	free(line);

	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"schedule\","
	            "\"params\":{\"name\":\"t2\",\"every\":60000,"
	            "\"event\":\"tick.b\"}}");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(result(r), "interval_ms")),
	    60000);
	json_decref(r);
	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"cancel\","
	            "\"params\":{\"name\":\"t2\"}}");
	ck_assert(json_is_true(json_object_get(result(r), "cancelled")));
	json_decref(r);
	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"cancel\","
	            "\"params\":{\"name\":\"t2\"}}");
	ck_assert(json_is_false(json_object_get(result(r), "cancelled")));
	json_decref(r);

	assert_error(
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":"
	            "\"schedule\",\"params\":{\"name\":\"t3\","
	            "\"every\":\"1s\",\"after\":\"1s\",\"event\":\"x\"}}"),
	    -32602, "InvalidParams", "exactly one of");
	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":"
	                     "\"schedule\",\"params\":{\"name\":\"t3\","
	                     "\"every\":\"soon\",\"event\":\"x\"}}"),
	             -32602, "InvalidParams", "'every'");
	assert_error(call(c,
	                  "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":"
	                  "\"subscribe\",\"params\":{\"events\":[\"a*b\"]}}"),
	             -32602, "InvalidParams", "invalid pattern");
	cli_free(c);
}
END_TEST

/* Durations in params: the config's parser and range. */
START_TEST(test_schedule_duration_range)
{
	static const struct {
		const char *value; /* JSON */
		const char *msg;
	} bad[] = {
	    {"\"1e30s\"", "'1e30s' is more than the maximum of 30d"},
	    {"\"9999999999999999999d\"",
	     "'9999999999999999999d' is more than the maximum of 30d"},
	    {"\"100000d\"", "'100000d' is more than the maximum of 30d"},
	    {"9223372036854775807",
	     "9223372036854775807 (milliseconds) is more than the maximum of "
	     "30d"},
	    {"2592000001", "(milliseconds) is more than the maximum of 30d"},
	    {"\"1500\"", "duration '1500' needs a unit"},
	    {"\"0s\"", "'0s' must be more than 0"},
	    {"0", "must be more than 0"},
	    {"\"0x10s\"", "invalid duration unit"},
	    {"\"inf\"", "invalid duration 'inf'"},
	    {"-5", "must be a duration"},
	    {"1.5", "must be a duration"},
	};
	char req[512];

	boot();
	struct cli *c = cli_new();
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(req, sizeof(req),
		         "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":"
		         "\"schedule\",\"params\":{\"name\":\"d%zu\","
		         "\"after\":%s,\"event\":\"x\"}}",
		         i, i, bad[i].value);
		assert_error(call(c, req), -32602, "InvalidParams", bad[i].msg);
	}
	ck_assert_ptr_null(worker_find(tu_worker(), "d0"));
	ck_assert_ptr_null(worker_find(tu_worker(), "d3"));

	/* the maximum itself is fine, and its next run is in 30 days */
	json_t *r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":"
	                    "\"schedule\",\"params\":{\"name\":\"far\","
	                    "\"every\":\"30d\",\"event\":\"x\"}}");
	json_t *res = result(r);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(res, "interval_ms")),
	    2592000000LL);
	const char *next = json_string_value(json_object_get(res, "next_run"));
	ck_assert_ptr_nonnull(next);
	char now[40];
	util_format_time(util_now_us(), now, sizeof(now));
	ck_assert_msg(strcmp(next, now) > 0 && next[0] != '-', "next_run %s",
	              next);
	json_decref(r);
	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":100,\"method\":"
	            "\"schedule\",\"params\":{\"name\":\"ms\","
	            "\"after\":2592000000,\"event\":\"x\"}}");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(result(r), "delay_ms")),
	    2592000000LL);
	json_decref(r);
	cli_free(c);
}
END_TEST

/* A call that must succeed. */
static void
call_ok(struct cli *c, const char *req)
{
	json_t *r = call(c, req);

	result(r);
	json_decref(r);
}

/* The health monitor's task is not the control channel's (item 8). */
START_TEST(test_service_task_protected)
{
	char want[160];

	boot();
	tu_log_capture();
	struct cli *c = cli_new();
	struct worker_task *h = worker_find(tu_worker(), "health");
	ck_assert_ptr_nonnull(h);

	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                     "\"cancel\",\"params\":{\"name\":\"health\"}}"),
	             -32002, "PermissionDenied",
	             "task 'health' belongs to service 'health'");
	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
	                     "\"schedule\",\"params\":{\"name\":\"health\","
	                     "\"every\":\"1h\",\"event\":\"oops\"}}"),
	             -32002, "PermissionDenied",
	             "task 'health' belongs to service 'health'");
	ck_assert_ptr_eq(worker_find(tu_worker(), "health"), h);
	struct worker_task_info info;
	worker_task_get_info(h, &info);
	ck_assert(info.interval == 60);
	ck_assert_str_eq(info.description, "ping every running service");

	/* logged with the caller */
	snprintf(want, sizeof(want),
	         "cancel 'health' by uid=%lu pid=%ld refused: task 'health' "
	         "belongs to service 'health'",
	         (unsigned long)geteuid(), (long)getpid());
	ck_assert_msg(tu_log_seen(want), "log lacks '%s':\n%s", want,
	              tu_log_text());
	snprintf(want, sizeof(want),
	         "schedule 'health' by uid=%lu pid=%ld "
	         "refused",
	         (unsigned long)geteuid(), (long)getpid());
	ck_assert_msg(tu_log_seen(want), "log lacks '%s'", want);

	/* a control task of its own is fine, and logged */
	json_decref(call(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":"
	                    "\"schedule\",\"params\":{\"name\":\"mine\","
	                    "\"every\":\"1h\",\"event\":\"x\"}}"));
	snprintf(want, sizeof(want),
	         "task 'mine' scheduled by uid=%lu pid=%ld: emit x every 1h",
	         (unsigned long)geteuid(), (long)getpid());
	ck_assert_msg(tu_log_seen(want), "log lacks '%s':\n%s", want,
	              tu_log_text());
	json_t *r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":"
	                    "\"cancel\",\"params\":{\"name\":\"mine\"}}");
	ck_assert(json_is_true(json_object_get(result(r), "cancelled")));
	json_decref(r);
	snprintf(want, sizeof(want),
	         "cancel 'mine' by uid=%lu pid=%ld: cancelled",
	         (unsigned long)geteuid(), (long)getpid());
	ck_assert_msg(tu_log_seen(want), "log lacks '%s'", want);

	/* tasks shows the owner */
	r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tasks\"}");
	json_t *list = json_object_get(result(r), "tasks"), *t;
	size_t i;
	bool seen = false;
	json_array_foreach(list, i, t)
	{
		if (strcmp(json_string_value(json_object_get(t, "name")),
		           "health") == 0) {
			ck_assert_str_eq(
			    json_string_value(json_object_get(t, "owner")),
			    "service");
			seen = true;
		}
	}
	ck_assert(seen);
	json_decref(r);
	cli_free(c);
	tu_log_release();
}
END_TEST

/* [control] max_tasks and max_task_data (item 7). */
START_TEST(test_task_limits)
{
	char req[512];

	struct app_conf *ac = tu_opts("app"); /* app owns `schedule` */

	ac->max_tasks = 3;
	ac->max_task_data = 64;
	boot();
	struct cli *c = cli_new();
	for (int i = 0; i < 3; i++) {
		snprintf(req, sizeof(req),
		         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
		         "\"schedule\",\"params\":{\"name\":\"t%d\","
		         "\"every\":\"1h\",\"event\":\"x\"}}",
		         i, i);
		call_ok(c, req);
	}
	ck_assert_uint_eq(worker_count_owner(tu_worker(), WORKER_OWNER_CONTROL),
	                  3);
	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":"
	                     "\"schedule\",\"params\":{\"name\":\"t3\","
	                     "\"every\":\"1h\",\"event\":\"x\"}}"),
	             -32006, "Busy",
	             "too many scheduled tasks (3, [control] max_tasks)");
	ck_assert_ptr_null(worker_find(tu_worker(), "t3"));
	/* replacing one by name does not count twice */
	json_t *r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":"
	                    "\"schedule\",\"params\":{\"name\":\"t1\","
	                    "\"after\":\"2h\",\"event\":\"y\"}}");
	ck_assert_str_eq(json_string_value(json_object_get(result(r), "kind")),
	                 "delayed");
	json_decref(r);
	/* data past max_task_data: TooLarge, nothing scheduled or replaced */
	assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":"
	                     "\"schedule\",\"params\":{\"name\":\"t2\","
	                     "\"every\":\"1h\",\"event\":\"x\",\"data\":"
	                     "{\"k\":\"012345678901234567890123456789"
	                     "012345678901234567890123456\"}}}"),
	             -32005, "TooLarge",
	             "task data is 65 bytes, more than [control] "
	             "max_task_data (64)");
	ck_assert_ptr_nonnull(worker_find(tu_worker(), "t2"));
	/* data at the limit is fine */
	call_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":"
	           "\"schedule\",\"params\":{\"name\":\"t2\","
	           "\"every\":\"1h\",\"event\":\"x\",\"data\":"
	           "{\"k\":\"012345678901234567890123456789"
	           "01234567890123456789012345\"}}}");
	/* a cancelled one frees its place */
	json_decref(call(c, "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":"
	                    "\"cancel\",\"params\":{\"name\":\"t0\"}}"));
	call_ok(c, "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":"
	           "\"schedule\",\"params\":{\"name\":\"t3\","
	           "\"every\":\"1h\",\"event\":\"x\"}}");
	cli_free(c);
}
END_TEST

static int reload_rc;

static int
reload_hook(void *arg, char **cause)
{
	if (reload_rc < 0)
		*cause = xstrdup("svcd.conf:3: unknown key 'x' in [bus]");
	return reload_rc;
}

START_TEST(test_reload)
{
	boot();
	struct cli *c = cli_new();

	manager_set_reload(reload_hook, NULL);
	reload_rc = -1;
	assert_error(
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"reload\"}"),
	    -32007, "InvalidConfig", "unknown key 'x'");
	reload_rc = 0;
	json_t *r =
	    call(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"reload\"}");
	ck_assert(json_is_true(json_object_get(result(r), "reloaded")));
	json_decref(r);
	cli_free(c);
}
END_TEST

START_TEST(test_shutdown_wait)
{
	boot();
	struct cli *c = cli_new(), *o = cli_new();

	json_decref(
	    call(o, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"));
	/* shutdown, then in the same write an emit (refused) and a ping */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"shutdown\","
	            "\"params\":{\"wait\":true}}\n"
	            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"emit\","
	            "\"params\":{\"event\":\"late\"}}\n"
	            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n");
	json_t *r = cli_json(c);
	ck_assert(json_is_true(json_object_get(result(r), "accepted")));
	json_decref(r);
	/* the stopping progress comes synchronously with the request */
	char *line = cli_line(c);
	ck_assert_msg(strstr(line, "\"method\":\"shutdown.progress\"") &&
	                  strstr(line, "\"phase\":\"stopping\""),
	              "%s", line);
	free(line);
	assert_error(cli_json(c), -32000, "ShuttingDown", NULL);
	r = cli_json(c);
	ck_assert(json_is_true(json_object_get(result(r), "pong")));
	json_decref(r);

	bool saw_control = false, saw_exit = false;
	while ((line = cli_line(c))) {
		if (strstr(line, "\"service\":\"control\""))
			saw_control = true;
		if (strcmp(line, "{\"jsonrpc\":\"2.0\",\"method\":"
		                 "\"shutdown.exit\",\"params\":{}}") == 0)
			saw_exit = true;
		free(line);
	}
	ck_assert(saw_control);
	ck_assert(saw_exit);
	/* the other client was closed when control stopped */
	ck_assert_ptr_null(cli_line(o));
	ck_assert_int_eq(access(sock, F_OK), -1);
	cli_free(c);
	cli_free(o);
}
END_TEST

/* A peer that is neither root nor the daemon's uid: read methods only. */
START_TEST(test_permission_denied)
{
	if (geteuid() != 0)
		return; /* needs root to become another user */
	boot();
	chmod(dir, 0755);
	chmod(sock, 0666);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* exec: a child of a valgrind run must not be checked itself */
		dup2(p[1], 1);
		execl(self_path, "test_control", "--as-nobody", sock,
		      (char *)NULL);
		_exit(6);
	}
	close(p[1]);
	struct cli c = {.fd = p[0]};
	ev_io_init(&c.w, cli_cb, p[0], EV_READ);
	c.w.data = &c;
	ev_io_start(loop, &c.w);
	while (!c.eof)
		turn();
	int status;
	waitpid(pid, &status, 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "child status %d", status);
	assert_error(cli_json(&c), -32002, "PermissionDenied",
	             "permission denied: 'emit' requires emit access");
	assert_error(cli_json(&c), -32002, "PermissionDenied",
	             "permission denied: 'shutdown' requires admin access");
	json_t *r = cli_json(&c);
	ck_assert(json_is_true(json_object_get(result(r), "pong")));
	json_decref(r);
	ck_assert(!manager_shutting_down());
	ev_io_stop(loop, &c.w);
	close(p[0]);
	buf_free(&c.in);
}
END_TEST

START_TEST(test_stop_delivers_accepted_events)
{
	boot();
	struct cli *c = cli_new();
	struct bus *b = tu_bus();
	uint64_t seq = 0;
	bool done = false;

	json_decref(call(c,
	                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                 "\"subscribe\",\"params\":{\"events\":[\"z.*\"]}}"));
	/* accepted but not yet dispatched when the stop begins */
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(
		    bus_emit(b, "z.x", 3, NULL, 0, "t", &seq, NULL), 0);
	svc_stop_all(graph, stopped, &done);
	int n = 0;
	char *line;
	while ((line = cli_line(c))) {
		ck_assert_msg(strstr(line, "\"z.x\""), "%s", line);
		n++;
		free(line);
	}
	ck_assert_int_eq(n, 100);
	while (!done)
		turn();
	cli_free(c);
}
END_TEST

/* A client that pipelines requests and never reads the replies is not read
 * any further; once it reads, everything is answered in order. */
START_TEST(test_unread_replies_throttle)
{
	ctl_conf()->output_soft = 4096;
	boot();
	struct cli *c = cli_new();
	struct buf b = {0};
	struct control_stats st;
	const int n =
	    1500; /* ~1.3 MB of replies: far more than socket buffers */

	ev_io_stop(loop, &c->w);
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	for (int i = 0; i < n; i++)
		buf_printf(&b,
		           "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
		           "\"services\"}\n",
		           i);
	int stuck = 0;
	while (b.len && stuck < 50) {
		ssize_t w = send(c->fd, buf_head(&b), b.len, MSG_NOSIGNAL);
		if (w > 0) {
			buf_consume(&b, (size_t)w);
			stuck = 0;
		} else {
			stuck++;
		}
		ev_run(loop, EVRUN_NOWAIT);
	}
	control_get_stats(&st);
	ck_assert_msg(st.requests < (uint64_t)n,
	              "svcd kept going: %" PRIu64 " requests", st.requests);
	/* now read: every reply, in order */
	arm_guard();
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
	ev_io_start(loop, &c->w);
	for (int i = 0; i < n; i++) {
		while (b.len) {
			ssize_t w = send(c->fd, buf_head(&b), b.len,
			                 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w <= 0)
				break;
			buf_consume(&b, (size_t)w);
		}
		char *line = cli_line(c);
		int id = -1;
		ck_assert_ptr_nonnull(line);
		ck_assert_int_eq(
		    sscanf(line, "{\"jsonrpc\":\"2.0\",\"id\":%d,", &id), 1);
		ck_assert_int_eq(id, i);
		free(line);
	}
	buf_free(&b);
	cli_free(c);
}
END_TEST

/* Both paths, the fast one first: the same answers are expected of each. */
#define BOTH_PATHS(fast)                                                       \
	for (int fast = 1; fast >= 0; methods_set_fast_path(true), fast--)     \
		if (methods_set_fast_path(fast), true)

/* Send line, then a ping with a marker id; the lines before the ping's
 * reply, as one string joined by '\n' (allocated, "" when none came). */
static char *
replies_before_ping(struct cli *c, const char *line)
{
	struct buf b = {0};
	char *l;

	cli_send(c, line);
	cli_send(c, "\n{\"jsonrpc\":\"2.0\",\"id\":\"end\",\"method\":"
	            "\"ping\"}\n");
	while ((l = cli_line(c)) &&
	       strcmp(l, "{\"jsonrpc\":\"2.0\",\"id\":\"end\",\"result\":"
	                 "{\"pong\":true}}") != 0) {
		if (b.len)
			buf_putc(&b, '\n');
		buf_puts(&b, l);
		free(l);
	}
	ck_assert_msg(l != NULL, "connection closed after %s", line);
	free(l);
	buf_putc(&b, '\0');
	l = xstrdup(buf_head(&b));
	buf_free(&b);
	return l;
}

/*
 * JSON-RPC 2.0 §5: an invalid request is answered with an Invalid Request
 * error and "id": null whether or not it has an id (only a valid request
 * without an id is a notification); a parse error likewise.
 */
START_TEST(test_invalid_request_without_id_is_answered)
{
	static const struct {
		const char *line;
		int code;
		const char *msg;
	} cases[] = {
	    {"{}", -32600, "'jsonrpc'"},
	    {"{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}", -32600,
	     "'method'"},
	    {"{\"jsonrpc\":\"2.0\"}", -32600, "'method' is required"},
	    {"{\"jsonrpc\":\"1.0\",\"method\":\"ping\"}", -32600, "'jsonrpc'"},
	    {"{\"method\":\"ping\"}", -32600, "'jsonrpc'"},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":\"x\"}",
	     -32600, "'params' must be an object"},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":7}", -32600,
	     "'params'"},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"extra\":1}", -32600,
	     "unknown member 'extra'"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", -32600,
	     "'id'"},
	    {"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", -32600,
	     "'id'"},
	    {"42", -32600, "JSON object"},
	    {"\"ping\"", -32600, "JSON object"},
	    {"null", -32600, "JSON object"},
	    {"{\"jsonrpc\":\"2.0\",\"method\":", -32700, "parse error"},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"method\":\"ping\"}",
	     -32700, "duplicate"},
	};

	boot();
	struct cli *c = cli_new();
	BOTH_PATHS(fast)
	{
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
			char *out = replies_before_ping(c, cases[i].line);
			json_t *r = json_loads(out, 0, NULL);

			ck_assert_msg(r != NULL, "%s (fast %d): got '%s'",
			              cases[i].line, fast, out);
			ck_assert_msg(json_is_null(json_object_get(r, "id")) &&
			                  json_object_get(r, "id"),
			              "%s: id not null: %s", cases[i].line,
			              out);
			assert_error(r, cases[i].code,
			             cases[i].code == -32700 ? "ParseError"
			                                     : "InvalidRequest",
			             cases[i].msg);
			free(out);
		}
	}
	cli_free(c);
}
END_TEST

/*
 * A successful notification is never answered, whatever the method: the
 * reply that follows it is the next request's (a mutation making ok()
 * answer notifications with "id": null fails here).
 */
START_TEST(test_notifications_never_answered)
{
	static const char *const methods[] = {
	    "status", "health", "services", "tasks",       "hello",
	    "ping",   "hooks",  "events",   "unsubscribe",
	};

	boot();
	struct cli *c = cli_new();
	BOTH_PATHS(fast)
	{
		for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
			char line[128];

			snprintf(line, sizeof(line),
			         "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"}\n",
			         methods[i]);
			cli_send(c, line);
			json_t *r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,"
			                    "\"method\":\"ping\"}");
			ck_assert_msg(
			    json_integer_value(json_object_get(r, "id")) == 1 &&
			        json_is_true(json_object_get(
			            json_object_get(r, "result"), "pong")),
			    "%s notification (fast %d) was answered",
			    methods[i], fast);
			json_decref(r);
			/* with params: [] as well */
			snprintf(line, sizeof(line),
			         "{\"jsonrpc\":\"2.0\",\"method\":\"%s\","
			         "\"params\":[]}\n",
			         methods[i]);
			char *out = replies_before_ping(c, line);
			ck_assert_msg(!*out, "%s: answered: %s", line, out);
			free(out);
		}
	}
	cli_free(c);
}
END_TEST

/* "params": [] is "no params" for every method; by position is refused. */
START_TEST(test_params_empty_array)
{
	static const char *const methods[] = {
	    "status", "health", "services", "tasks",       "hello",
	    "ping",   "hooks",  "events",   "unsubscribe",
	};

	boot();
	struct cli *c = cli_new();
	BOTH_PATHS(fast)
	{
		for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
			char line[128];

			snprintf(
			    line, sizeof(line),
			    "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":"
			    "\"%s\",\"params\":[]}",
			    methods[i], methods[i]);
			json_t *r = call(c, line);
			char *s = json_dumps(r, JSON_COMPACT);
			ck_assert_msg(json_object_get(r, "result"),
			              "%s (fast %d): %s", line, fast, s);
			ck_assert_str_eq(
			    json_string_value(json_object_get(r, "id")),
			    methods[i]);
			free(s);
			json_decref(r);
		}
		json_t *r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
		                    "\"ping\",\"params\":[]}");
		ck_assert(json_is_true(json_object_get(result(r), "pong")));
		json_decref(r);
		/* emit: [] is no params, so 'event' is missing */
		assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
		                     "\"emit\",\"params\":[]}"),
		             -32602, "InvalidParams",
		             "missing required parameter 'event'");
		assert_error(call(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":"
		                     "\"ping\",\"params\":[1]}"),
		             -32602, "InvalidParams", "by-position");
		/* a valid notification with by-position params: not answered */
		char *out = replies_before_ping(
		    c,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":[1]}");
		ck_assert_msg(!*out, "answered: %s", out);
		free(out);
	}
	cli_free(c);
}
END_TEST

/* A batch reply: one line holding an array (parsed; fails otherwise). */
static json_t *
batch_reply(struct cli *c, const char *line)
{
	char *out = replies_before_ping(c, line);
	json_t *r = json_loads(out, 0, NULL);

	ck_assert_msg(r && !strchr(out, '\n'), "not one JSON line: '%s'", out);
	free(out);
	return r;
}

/* JSON-RPC 2.0 §6 batches, the same on both paths. */
START_TEST(test_batch)
{
	boot();
	struct cli *c = cli_new();
	BOTH_PATHS(fast)
	{
		uint64_t before = bus_last_seq(tu_bus());
		/* valid, notification, invalid, not an object, unknown
		 * method, invalid without id, valid: in order, the
		 * notification leaves no entry */
		json_t *r = batch_reply(
		    c, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
		       "{\"jsonrpc\":\"2.0\",\"method\":\"emit\",\"params\":"
		       "{\"event\":\"b.n\"}},"
		       "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":7},"
		       " 1 ,"
		       "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope\"},"
		       "{\"foo\":\"boo\"},"
		       "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"emit\","
		       "\"params\":{\"event\":\"b.x\",\"data\":{\"i\":1}}},"
		       "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"status\","
		       "\"params\":[]}]");
		ck_assert_msg(json_is_array(r), "not an array");
		ck_assert_int_eq(json_array_size(r), 7);
		ck_assert_int_eq(json_integer_value(json_object_get(
		                     json_array_get(r, 0), "id")),
		                 1);
		ck_assert(json_is_true(json_object_get(
		    json_object_get(json_array_get(r, 0), "result"), "pong")));
		ck_assert_int_eq(json_integer_value(json_object_get(
		                     json_array_get(r, 1), "id")),
		                 2);
		assert_error(json_incref(json_array_get(r, 1)), -32600,
		             "InvalidRequest", "'method'");
		ck_assert(
		    json_is_null(json_object_get(json_array_get(r, 2), "id")));
		assert_error(json_incref(json_array_get(r, 2)), -32600,
		             "InvalidRequest", "JSON object");
		assert_error(json_incref(json_array_get(r, 3)), -32601,
		             "MethodNotFound", "nope");
		ck_assert(
		    json_is_null(json_object_get(json_array_get(r, 4), "id")));
		assert_error(json_incref(json_array_get(r, 4)), -32600,
		             "InvalidRequest", NULL);
		ck_assert_str_eq(json_string_value(json_object_get(
		                     json_array_get(r, 5), "id")),
		                 "x");
		ck_assert_uint_eq(
		    json_integer_value(json_object_get(
		        json_object_get(json_array_get(r, 5), "result"),
		        "seq")),
		    before + 2);
		ck_assert_int_eq(json_integer_value(json_object_get(
		                     json_array_get(r, 6), "id")),
		                 4);
		ck_assert_ptr_nonnull(json_object_get(
		    json_object_get(json_array_get(r, 6), "result"), "bus"));
		json_decref(r);
		/* both emits ran, in order */
		ck_assert_uint_eq(bus_last_seq(tu_bus()), before + 2);

		/* only notifications: no reply at all */
		char *out = replies_before_ping(
		    c, "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"},"
		       "{\"jsonrpc\":\"2.0\",\"method\":\"status\"}]");
		ck_assert_msg(!*out, "answered: %s", out);
		free(out);

		/* []: one Invalid Request, not an array */
		r = batch_reply(c, " [ ] ");
		ck_assert(json_is_null(json_object_get(r, "id")));
		assert_error(r, -32600, "InvalidRequest", "empty batch");
		/* [1]: an array of one Invalid Request */
		r = batch_reply(c, "[1]");
		ck_assert_int_eq(json_array_size(r), 1);
		assert_error(json_incref(json_array_get(r, 0)), -32600,
		             "InvalidRequest", NULL);
		json_decref(r);
		/* invalid JSON: one Parse error */
		r = batch_reply(c,
		                "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"},");
		ck_assert(json_is_null(json_object_get(r, "id")));
		assert_error(r, -32700, "ParseError", NULL);
		/* subscribe and shutdown with wait do not fit a batch */
		r = batch_reply(
		    c,
		    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\"},"
		    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"shutdown\","
		    "\"params\":{\"wait\":true}}]");
		ck_assert_int_eq(json_array_size(r), 2);
		assert_error(json_incref(json_array_get(r, 0)), -32600,
		             "InvalidRequest",
		             "'subscribe' cannot be part of a "
		             "batch");
		assert_error(json_incref(json_array_get(r, 1)), -32600,
		             "InvalidRequest", "with wait");
		json_decref(r);
		ck_assert(!manager_shutting_down());
	}
	cli_free(c);
}
END_TEST

/* More than METHODS_MAX_BATCH requests: one TooLarge, nothing runs. */
START_TEST(test_batch_too_large)
{
	boot();
	struct cli *c = cli_new();
	struct buf b = {0};
	uint64_t before = bus_last_seq(tu_bus());

	for (int n = METHODS_MAX_BATCH; n <= METHODS_MAX_BATCH + 1; n++) {
		buf_reset(&b);
		buf_putc(&b, '[');
		for (int i = 0; i < n; i++)
			buf_printf(
			    &b,
			    "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
			    "\"emit\",\"params\":{\"event\":\"big\"}}",
			    i ? "," : "", i);
		buf_puts(&b, "]");
		buf_putc(&b, '\0');
		json_t *r = batch_reply(c, buf_head(&b));
		if (n == METHODS_MAX_BATCH) {
			ck_assert_int_eq(json_array_size(r), n);
			json_decref(r);
			drain_bus();
			before = bus_last_seq(tu_bus());
			continue;
		}
		ck_assert(json_is_null(json_object_get(r, "id")));
		assert_error(r, -32005, "TooLarge", "batch too large");
	}
	ck_assert_uint_eq(bus_last_seq(tu_bus()), before);
	buf_free(&b);
	cli_free(c);
}
END_TEST

/* A batch never parks the client: an emit that would wait for room gets
 * QueueFull in its entry, and the requests after it are answered. */
START_TEST(test_batch_emit_queue_full)
{
	bus_conf()->queue_size = 2;
	boot();
	struct cli *c = cli_new();
	json_t *r = batch_reply(
	    c, "[{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"emit\",\"params\":"
	       "{\"event\":\"q.x\"}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\",\"params\":"
	       "{\"event\":\"q.x\"}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"emit\",\"params\":"
	       "{\"event\":\"q.x\"}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"emit\",\"params\":"
	       "{\"event\":\"q.x\",\"wait\":false}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}]");
	ck_assert_int_eq(json_array_size(r), 5);
	for (int i = 0; i < 5; i++) {
		json_t *e = json_array_get(r, (size_t)i);

		ck_assert_int_eq(json_integer_value(json_object_get(e, "id")),
		                 i);
		if (i < 2 || i == 4)
			ck_assert_ptr_nonnull(json_object_get(e, "result"));
		else
			assert_error(json_incref(e), -32001, "QueueFull", NULL);
	}
	json_decref(r);
	cli_free(c);
}
END_TEST

/* shutdown (without wait) in a batch: accepted, and the requests after it
 * in the batch see ShuttingDown; one reply line, then the connection ends. */
START_TEST(test_batch_shutdown)
{
	boot();
	struct cli *c = cli_new();

	cli_send(c, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"shutdown\"},"
	            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"emit\","
	            "\"params\":{\"event\":\"late\"}},"
	            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}]\n");
	json_t *r = cli_json(c);
	ck_assert_int_eq(json_array_size(r), 3);
	ck_assert(json_is_true(json_object_get(
	    json_object_get(json_array_get(r, 0), "result"), "accepted")));
	assert_error(json_incref(json_array_get(r, 1)), -32000, "ShuttingDown",
	             NULL);
	ck_assert(json_is_true(json_object_get(
	    json_object_get(json_array_get(r, 2), "result"), "pong")));
	json_decref(r);
	char *line = cli_line(c);
	ck_assert_msg(line == NULL, "more after the batch: %s", line);
	cli_free(c);
}
END_TEST

/*
 * The fast path (ping and emit recognised by a strict scanner) answers
 * exactly as the general jansson path: the same reply bytes (but for seq)
 * and the same event line to subscribers (but for seq and time).
 */
static const char *const equiv_lines[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"a b\",\"method\":\"ping\",\"params\":{}}",
    "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{\"x\":1}}",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.a\"}}",
    "{\"id\":4,\"jsonrpc\":\"2.0\",\"params\":{\"data\":{\"k\":\"v\"},"
    "\"event\":\"e.b\"},\"method\":\"emit\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.c\",\"data\":{ \"a\" : [1, 2, {\"b\":null}] , \"t\":true}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.d\",\"data\":{\"s\":\"q\\\"b\\\\n\\n\\t\\u00e9\\/\"}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.e\",\"data\":{\"f\":1.5,\"e\":1e3,\"n\":-0,\"big\":"
    "12345678901234567890}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.f\",\"data\":{\"u\":\"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.g\",\"data\":{\"a\":1,\"a\":2}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"emit\",\"params\":{\"event\":"
    "\"bad name\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.h\",\"data\":[1]}}",
    "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.i\",\"extra\":1}}",
    "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.j\",\"wait\":false}}",
    "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.k\",\"wait\":\"yes\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":-0,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}",
    "{\"jsonrpc\":\"1.0\",\"id\":15,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":16,\"method\":\"ping\",\"id\":17}",
    "{\"jsonrpc\":\"2.0\",\"id\":18,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.l\",\"data\":{\"x\":\"\xff\"}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":19,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.m\",\"data\":{\"d\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]"
    "]]]]]]]]]]]]]]]]]]}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"emit\",\"params\":{\"event\":\"e.n\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"emit\",\"params\":{\"event\":"
    "\"e.o\",\"data\":{\"c\":\"\x01\"}}}",
    /* invalid without an id: answered with id null */
    "{}",
    "{\"jsonrpc\":\"2.0\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}",
    "{\"jsonrpc\":\"1.0\",\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"emit\",\"params\":\"e.p\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"x\":1}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"",
    /* valid notifications: never answered, even on error */
    "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"status\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"emit\",\"params\":{\"event\":\"bad "
    "name\"}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":[1]}",
    /* params [] */
    "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"ping\",\"params\":[]}",
    "{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"emit\",\"params\":[]}",
    "{\"jsonrpc\":\"2.0\",\"id\":23,\"method\":\"emit\",\"params\":[\"e.q\"]}",
    /* batches */
    "[{\"jsonrpc\":\"2.0\",\"id\":24,\"method\":\"ping\"}]",
    " [{\"jsonrpc\":\"2.0\",\"id\":25,\"method\":\"emit\",\"params\":{"
    "\"event\":\"e.r\",\"data\":{\"k\":1}}},{\"jsonrpc\":\"2.0\",\"method\":"
    "\"emit\",\"params\":{\"event\":\"e.s\"}},{},1,[]]",
    "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}]",
    "[]",
    "[[]]",
    "[{\"jsonrpc\":\"2.0\",\"id\":26,\"method\":\"ping\"}",
    "[{\"jsonrpc\":\"2.0\",\"id\":27,\"method\":\"ping\"}]]",
};

static void
drop_seq(json_t *reply)
{
	json_t *res = json_object_get(reply, "result");

	if (json_is_object(res))
		json_object_del(res, "seq");
}

/* The reply (or batch reply) with result.seq removed, compact and sorted
 * (allocated); "" for none. */
static char *
normalise_reply(const char *line)
{
	if (!*line)
		return xstrdup("");
	json_t *j = json_loads(line, 0, NULL), *e;
	size_t i;

	ck_assert_msg(j != NULL, "not one JSON line: %s", line);
	drop_seq(j);
	json_array_foreach(j, i, e) drop_seq(e);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

/* The newest event's line with seq and time removed (allocated), or "-". */
static char *
newest_event(uint64_t *last)
{
	struct bus *b = tu_bus();

	drain_bus();
	if (bus_last_seq(b) == *last)
		return xstrdup("-");
	*last = bus_last_seq(b);
	char *w = wire_of(*last);
	json_t *j = json_loads(w, 0, NULL);
	free(w);
	json_t *p = json_object_get(j, "params");
	json_object_del(p, "seq");
	json_object_del(p, "time");
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return s;
}

START_TEST(test_fast_path_matches_general_path)
{
	boot();
	struct cli *c = cli_new();
	uint64_t last = bus_last_seq(tu_bus());

	for (size_t i = 0; i < ARRAY_SIZE(equiv_lines); i++) {
		char *reply[2], *event[2];

		for (int slow = 0; slow < 2; slow++) {
			methods_set_fast_path(!slow);
			/* what came before the ping after it: nothing for a
			 * notification */
			char *out = replies_before_ping(c, equiv_lines[i]);
			reply[slow] = normalise_reply(out);
			free(out);
			event[slow] = newest_event(&last);
		}
		methods_set_fast_path(true);
		ck_assert_msg(strcmp(reply[0], reply[1]) == 0,
		              "%s\n fast: %s\n slow: %s", equiv_lines[i],
		              reply[0], reply[1]);
		ck_assert_msg(strcmp(event[0], event[1]) == 0,
		              "%s\n fast event: %s\n slow event: %s",
		              equiv_lines[i], event[0], event[1]);
		for (int k = 0; k < 2; k++) {
			free(reply[k]);
			free(event[k]);
		}
	}
	cli_free(c);
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("control");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_hello_ping_and_socket_mode);
	tcase_add_test(tc, test_status_services_health_tasks);
	tcase_add_test(tc, test_protocol_errors);
	tcase_add_test(tc, test_too_large_closes);
	tcase_add_test(tc, test_too_large_at_the_bound);
	tcase_add_test(tc, test_pipelined_in_order);
	tcase_add_test(tc, test_fast_path_matches_general_path);
	tcase_add_test(tc, test_invalid_request_without_id_is_answered);
	tcase_add_test(tc, test_notifications_never_answered);
	tcase_add_test(tc, test_params_empty_array);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_batch_too_large);
	tcase_add_test(tc, test_batch_emit_queue_full);
	tcase_add_test(tc, test_batch_shutdown);
	tcase_add_test(tc, test_split_request);
	tcase_add_test(tc, test_subscribe_gets_exact_wire_line);
	tcase_add_test(tc, test_subscribe_since_replays_history);
	tcase_add_test(tc, test_subscribe_pattern_caps);
	tcase_add_test(tc, test_queue_full_without_wait);
	tcase_add_test(tc, test_backpressure_with_wait);
	tcase_add_test(tc, test_slow_consumer_lost_notice);
	tcase_add_test(tc, test_slow_consumer_disconnected);
	tcase_add_test(tc, test_stale_live_symlink_socket);
	tcase_add_test(tc, test_max_clients_busy);
	tcase_add_test(tc, test_half_close_and_vanish);
	tcase_add_test(tc, test_schedule_cancel);
	tcase_add_test(tc, test_schedule_duration_range);
	tcase_add_test(tc, test_service_task_protected);
	tcase_add_test(tc, test_task_limits);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_shutdown_wait);
	tcase_add_test(tc, test_permission_denied);
	tcase_add_test(tc, test_stop_delivers_accepted_events);
	tcase_add_test(tc, test_unread_replies_throttle);
	suite_add_tcase(s, tc);
	return s;
}

/* The peer of test_permission_denied: replies go to stdout. */
static int
as_nobody(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *req =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"emit\","
	    "\"params\":{\"event\":\"x\"}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"shutdown\"}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n";
	char tmp[4096];
	ssize_t n;
	int fd;

	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 2;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("connect: %s\n", strerror(errno));
		return 5;
	}
	if (write(fd, req, strlen(req)) < 0)
		return 3;
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		if (write(1, tmp, (size_t)n) < 0)
			return 4;
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--as-nobody") == 0)
		return as_nobody(argv[2]);
	if (!realpath(argv[0], self_path))
		self_path[0] = '\0';
	util_json_use_xmalloc();
	return tu_run_suite(control_suite());
}
