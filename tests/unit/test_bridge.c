/* test_bridge.c — Check tests for services/bridge.c: URLs, patterns, the
 * wire format and the loop marker; then bridges on one loop talking through
 * a real redis-server on a Unix socket (skipped when it is not installed). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "services/bridge.h"
#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "testutil.h"
#include "daemon/util.h"

#define REDIS_BIN "redis-server"

static struct ev_loop *loop;
static ev_timer guard, tick;
static bool timed_out;
static struct buf logbuf;
static char tmpdir[64];
static char redis_sock[100];
static pid_t redis_pid;
/* retry delays of the next node_start (a slow one reconnects last) */
static double backoff_min = 0.01, backoff_max = 0.05;

static void
log_hook(enum log_level level, const char *msg, void *arg)
{
	buf_printf(&logbuf, "%d %s\n", (int)level, msg);
}

static bool
log_has(const char *needle)
{
	buf_putc(&logbuf, '\0');
	logbuf.len--;
	return strstr(buf_head(&logbuf), needle) != NULL;
}

static void
guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	timed_out = true;
}

static void
tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
}

/* Run the loop until cond(arg) holds; false if the guard expired first. */
static bool
run_until(bool (*cond)(void *), void *arg, double limit)
{
	timed_out = false;
	ev_timer_set(&guard, limit, 0);
	ev_timer_start(loop, &guard);
	while (!cond(arg) && !timed_out)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
	return cond(arg);
}

static bool
never(void *arg)
{
	return false;
}

/* Run the loop for a while (to see that nothing more arrives). */
static void
run_for(double seconds)
{
	run_until(never, NULL, seconds);
}

static void
setup(void)
{
	log_set_quiet(1);
	log_set_hook(log_hook, NULL);
	buf_reset(&logbuf);
	signal(SIGPIPE, SIG_IGN);
	loop = ev_loop_new(EVFLAG_AUTO);
	ev_timer_init(&guard, guard_cb, 1, 0);
	ev_timer_init(&tick, tick_cb, 0.001, 0.001);
	ev_timer_start(loop, &tick);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/svcd-bridge.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(redis_sock, sizeof(redis_sock), "%s/redis.sock", tmpdir);
	redis_pid = 0;
	backoff_min = 0.01;
	backoff_max = 0.05;
}

static void redis_kill(void);

static void
teardown(void)
{
	redis_kill();
	ev_timer_stop(loop, &tick);
	ev_loop_destroy(loop);
	loop = NULL;
	rmdir(tmpdir);
	log_set_hook(NULL, NULL);
	buf_free(&logbuf);
}

/* ---- redis-server ---- */

static bool
redis_installed(void)
{
	return system(REDIS_BIN " --version >/dev/null 2>&1") == 0;
}

static bool
redis_answers(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", redis_sock);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Start redis-server on redis_sock and poll until it accepts (5 s bound). */
static void
redis_start(void)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execlp(REDIS_BIN, REDIS_BIN, "--port", "0", "--unixsocket",
		       redis_sock, "--save", "", "--appendonly", "no", "--dir",
		       tmpdir, (char *)NULL);
		_exit(127);
	}
	redis_pid = pid;
	for (int i = 0; i < 1000 && !redis_answers(); i++) {
		struct timespec ts = {0, 5 * 1000 * 1000};
		int status;
		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
		              "redis-server exited");
		nanosleep(&ts, NULL);
	}
	ck_assert_msg(redis_answers(), "redis-server did not start");
}

static void
redis_kill(void)
{
	if (redis_pid <= 0)
		return;
	kill(redis_pid, SIGKILL);
	waitpid(redis_pid, NULL, 0);
	redis_pid = 0;
	unlink(redis_sock);
}

#define NEED_REDIS()                                                           \
	do {                                                                   \
		if (!redis_installed()) {                                      \
			fprintf(stderr,                                        \
			        "%s: skipped: " REDIS_BIN                      \
			        " is not installed\n",                         \
			        __func__);                                     \
			return;                                                \
		}                                                              \
	} while (0)

/* ---- a node: one bus, one bridge, a recorder of what the bus delivers ---- */

#define MAX_SEEN 64

struct node {
	struct bus *bus;
	struct bridge *br;
	struct bus_listener *rec;
	size_t nseen;
	char *seen[MAX_SEEN]; /* "name data" */
	char *sources[MAX_SEEN];
};

static int
record(const struct bus_event *ev, void *arg)
{
	struct node *n = arg;

	if (!strncmp(ev->name, "service.", 8) || n->nseen == MAX_SEEN)
		return 0;
	n->seen[n->nseen] = xasprintf("%s %s", ev->name, ev->data);
	n->sources[n->nseen++] = xstrdup(ev->source);
	return 0;
}

static const char *const all[] = {"*", NULL};

static void
node_start(struct node *n, const char *instance, const char *const *pub,
           const char *const *sub, size_t buffer)
{
	struct bridge_opts o = {
	    .url = NULL,
	    .publish = pub,
	    .subscribe = sub,
	    .buffer = buffer,
	    .backoff_min = backoff_min,
	    .backoff_max = backoff_max,
	    .connect_timeout = 1,
	    .host = "testhost",
	    .instance = instance,
	    .delivery = BRIDGE_PUBSUB,
	};
	char url[200], *cause = NULL;

	memset(n, 0, sizeof(*n));
	snprintf(url, sizeof(url), "unix://%s", redis_sock);
	o.url = url;
	n->bus = bus_new(loop, NULL);
	n->rec = bus_listen(n->bus, "*", record, n);
	n->br = bridge_new(loop, n->bus, &o, &cause);
	ck_assert_msg(n->br != NULL, "bridge_new: %s", cause);
}

static void
node_free(struct node *n)
{
	bridge_free(n->br);
	bus_free(n->bus);
	for (size_t i = 0; i < n->nseen; i++) {
		free(n->seen[i]);
		free(n->sources[i]);
	}
}

static void
emit(struct node *n, const char *name, const char *data)
{
	ck_assert_int_eq(bus_emit(n->bus, name, strlen(name), data,
	                          strlen(data), "test", NULL, NULL),
	                 0);
}

static bool
connected(void *arg)
{
	struct node *n = arg;
	return bridge_connected(n->br);
}

static bool
all_connected(void *arg)
{
	struct node **v = arg;
	for (; *v; v++)
		if (!bridge_connected((*v)->br))
			return false;
	return true;
}

struct want {
	struct node *n;
	size_t count;
};

static bool
seen_count(void *arg)
{
	struct want *w = arg;
	return w->n->nseen >= w->count;
}

static bool
degraded(void *arg)
{
	struct node *n = arg;
	char *cause = NULL;
	int rc = bridge_check(n->br, &cause);
	free(cause);
	return rc < 0;
}

static size_t
count_seen(const struct node *n, const char *entry)
{
	size_t c = 0;
	for (size_t i = 0; i < n->nseen; i++)
		c += !strcmp(n->seen[i], entry);
	return c;
}

/* ---- URLs, patterns, the wire format ---- */

START_TEST(test_url_parse)
{
	struct bridge_url u;
	char *cause = NULL;

	ck_assert_int_eq(bridge_url_parse("redis://localhost", &u, &cause), 0);
	ck_assert_int_eq(u.kind, BRIDGE_URL_TCP);
	ck_assert_str_eq(u.host, "localhost");
	ck_assert_int_eq(u.port, 6379);
	ck_assert_int_eq(u.db, 0);
	bridge_url_clear(&u);

	ck_assert_int_eq(
	    bridge_url_parse("redis://10.0.0.5:6380/3", &u, &cause), 0);
	ck_assert_str_eq(u.host, "10.0.0.5");
	ck_assert_int_eq(u.port, 6380);
	ck_assert_int_eq(u.db, 3);
	bridge_url_clear(&u);

	ck_assert_int_eq(bridge_url_parse("redis://[::1]:7000", &u, &cause), 0);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_int_eq(u.port, 7000);
	bridge_url_clear(&u);

	ck_assert_int_eq(
	    bridge_url_parse("unix:///run/redis/redis.sock?db=2", &u, &cause),
	    0);
	ck_assert_int_eq(u.kind, BRIDGE_URL_UNIX);
	ck_assert_str_eq(u.path, "/run/redis/redis.sock");
	ck_assert_int_eq(u.db, 2);
	bridge_url_clear(&u);

	ck_assert_int_eq(
	    bridge_url_parse("sentinel://10.0.0.1,s2:26380/m-1", &u, &cause),
	    0);
	ck_assert_int_eq(u.kind, BRIDGE_URL_SENTINEL);
	ck_assert_uint_eq(u.nsentinels, 2);
	ck_assert_str_eq(u.shost[0], "10.0.0.1");
	ck_assert_int_eq(u.sport[0], 26379);
	ck_assert_str_eq(u.shost[1], "s2");
	ck_assert_int_eq(u.sport[1], 26380);
	ck_assert_str_eq(u.master, "m-1");
	bridge_url_clear(&u);

	static const struct {
		const char *url, *err;
	} bad[] = {
	    {"http://x", "use redis://HOST[:PORT][/DB], unix:///PATH or "
	                 "sentinel://"},
	    {"sentinel://h:1", "use sentinel://"},
	    {"sentinel:///m", "no sentinel"},
	    {"sentinel://h:0/m", "bad port '0'"},
	    {"sentinel://h/m*", "bad master name"},
	    {"sentinel://h x/m", "bad host name"},
	    {"redis://", "no host"},
	    {"redis://h:0", "bad port '0'"},
	    {"redis://h:65536", "bad port '65536'"},
	    {"redis://h:x1", "bad port 'x1'"},
	    {"redis://h/abc", "bad database number 'abc'"},
	    {"redis://user:pw@h", "credentials"},
	    {"redis://[::1", "unclosed '['"},
	    {"redis://ho st", "bad host name"},
	    {"unix://relative.sock", "absolute path"},
	    {"unix:///x.sock?foo=1", "only ?db=N"},
	    {"", "bad URL ''"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cause = NULL;
		ck_assert_int_eq(bridge_url_parse(bad[i].url, &u, &cause), -1);
		ck_assert_msg(cause && strstr(cause, bad[i].err),
		              "%s: got '%s'", bad[i].url, cause);
		ck_assert_msg(strstr(cause, "bad URL"), "%s", cause);
		free(cause);
	}
}
END_TEST

START_TEST(test_channel_and_patterns)
{
	char *p;

	ck_assert(bridge_channel_valid("svcd"));
	ck_assert(bridge_channel_valid("prod.eu-1:svcd"));
	ck_assert(!bridge_channel_valid(""));
	ck_assert(!bridge_channel_valid("svcd*"));
	ck_assert(!bridge_channel_valid("a?b"));
	ck_assert(!bridge_channel_valid("a[b]"));
	p = bridge_redis_pattern("svcd", "*");
	ck_assert_str_eq(p, "svcd|*");
	free(p);
	p = bridge_redis_pattern("svcd", "user.*");
	ck_assert_str_eq(p, "svcd|user.*");
	free(p);
	p = bridge_redis_pattern("x", "order_placed");
	ck_assert_str_eq(p, "x|order_placed");
	free(p);
}
END_TEST

/* Overlapping subscribe patterns would make Redis deliver twice: minimal. */
START_TEST(test_subscribe_minimal)
{
	static const char *const subs[] = {
	    "user.x", "user.*", "order", "user.*", "order", "user.a.*", NULL};
	struct bridge_opts o = {.url = "unix:///nonexistent/redis.sock",
	                        .subscribe = subs,
	                        .backoff_min = 10};
	struct bus *b = bus_new(loop, NULL);
	char *cause = NULL, *text;
	struct bridge *br = bridge_new(loop, b, &o, &cause);
	json_t *j;

	ck_assert_ptr_nonnull(br);
	j = bridge_get_stats_json(br);
	text = json_dumps(json_object_get(j, "subscribe"), JSON_COMPACT);
	ck_assert_str_eq(text, "[\"user.*\",\"order\"]");
	free(text);
	json_decref(j);
	bridge_free(br);
	bus_free(b);
}
END_TEST

START_TEST(test_bad_options)
{
	static const char *const bad_pat[] = {"user.*", "a b", NULL};
	struct bus *b = bus_new(loop, NULL);
	struct bridge_opts o = {.url = "redis//nope"};
	char *cause = NULL;

	ck_assert_ptr_null(bridge_new(loop, b, &o, &cause));
	ck_assert_str_eq(cause, "bad URL 'redis//nope': use "
	                        "redis://HOST[:PORT][/DB], unix:///PATH or "
	                        "sentinel://HOST[:PORT][,...]/MASTER");
	free(cause);
	o.url = "redis://localhost";
	o.channel = "svcd.*";
	ck_assert_ptr_null(bridge_new(loop, b, &o, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "bad channel prefix 'svcd.*'"));
	free(cause);
	o.channel = NULL;
	o.publish = bad_pat;
	ck_assert_ptr_null(bridge_new(loop, b, &o, &cause));
	ck_assert_str_eq(cause, "publish: 'a b' is not an event pattern "
	                        "(NAME, PREFIX.* or *)");
	free(cause);
	bus_free(b);
}
END_TEST

START_TEST(test_encode_decode)
{
	struct bus_event ev = {
	    .seq = 42,
	    .time_us = 1700000000123456LL,
	    .name = "user.created",
	    .name_len = 12,
	    .data = "{\"id\":7,\"name\":\"\\\"Zoë\\\"\"}",
	    .source = "control uid=0 pid=1",
	};
	struct bridge_msg m;
	char *cause = NULL, *wire, *src;
	size_t len;

	ev.data_len = strlen(ev.data);
	wire = bridge_encode(&ev, "web-1", "0123456789abcdef", &len);
	ck_assert_uint_eq(len, strlen(wire));
	ck_assert_str_eq(wire,
	                 "{\"event\":\"user.created\",\"data\":{\"id\":7,"
	                 "\"name\":\"\\\"Zoë\\\"\"},\"time\":\"2023-11-14T22:"
	                 "13:20.123456Z\",\"seq\":42,\"origin\":{\"host\":"
	                 "\"web-1\",\"instance\":\"0123456789abcdef\"}}");
	ck_assert_int_eq(bridge_decode(wire, len, &m, &cause), 0);
	ck_assert_str_eq(m.event, "user.created");
	ck_assert_str_eq(m.data, ev.data);
	ck_assert_str_eq(m.time, "2023-11-14T22:13:20.123456Z");
	ck_assert_uint_eq(m.seq, 42);
	ck_assert_str_eq(m.host, "web-1");
	ck_assert_str_eq(m.instance, "0123456789abcdef");
	src = bridge_source(&m);
	ck_assert_str_eq(src, "bridge origin=web-1/0123456789abcdef "
	                      "time=2023-11-14T22:13:20.123456Z seq=42");
	free(src);
	bridge_msg_clear(&m);
	free(wire);

	/* no data: {} */
	ev.data = NULL;
	ev.data_len = 0;
	wire = bridge_encode(&ev, "h", "i", &len);
	ck_assert_int_eq(bridge_decode(wire, len, &m, &cause), 0);
	ck_assert_str_eq(m.data, "{}");
	bridge_msg_clear(&m);
	free(wire);
}
END_TEST

/* The time and numbers, written without printf (a cache of the last
 * second), are util_format_time's text and the exact decimal values, in
 * any order of times. */
START_TEST(test_encode_time_and_numbers)
{
	static const int64_t times[] = {
	    1700000000123456LL, 1700000000999999LL,   1700000001000000LL,
	    1700000000000005LL, 1700000000000005LL,   0,
	    1799999999000042LL, 253402300799999999LL, /* 9999-12-31 */
	    -1500000LL,
	};
	struct bus_event ev = {.name = "a.b", .name_len = 3};

	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		char want[64], *wire, *t;
		size_t len;

		ev.time_us = times[i];
		ev.seq = i == 7 ? UINT64_MAX : 1000 * i + 9;
		util_format_time(times[i], want, sizeof(want));
		wire = bridge_encode_ext(&ev, "h", "i", "e",
		                         i ? UINT64_MAX - i : 0, &len);
		ck_assert_uint_eq(len, strlen(wire));
		t = xasprintf("\"time\":\"%s\",\"seq\":%llu,\"prev\":%llu,",
		              want, (unsigned long long)ev.seq,
		              (unsigned long long)(i ? UINT64_MAX - i : 0));
		ck_assert_msg(strstr(wire, t), "%s not in %s", t, wire);
		free(t);
		free(wire);
	}
}
END_TEST

/* The message in the layout the bridge writes (one pass) and in others
 * (members in another order, blanks, an escape: the general walk or
 * jansson) decode alike. */
START_TEST(test_decode_layouts)
{
	static const char *const wires[] = {
	    "{\"event\":\"a.b\",\"data\":{\"k\":[1,{\"x\":\"}\"}]},\"time\":"
	    "\"T1\",\"seq\":7,\"prev\":5,\"origin\":{\"host\":\"h\","
	    "\"instance\":\"i\",\"epoch\":\"e\"}}",
	    "{\"origin\":{\"epoch\":\"e\",\"instance\":\"i\",\"host\":\"h\"},"
	    "\"prev\":5,\"seq\":7,\"time\":\"T1\",\"data\":{\"k\":[1,{\"x\":"
	    "\"}\"}]},\"event\":\"a.b\"}",
	    " { \"event\" : \"a.b\" , \"data\" : { \"k\" : [ 1 , { \"x\" : "
	    "\"}\" } ] } , \"time\" : \"T1\" , \"seq\" : 7 , \"prev\" : 5 , "
	    "\"origin\" : { \"host\" : \"h\" , \"instance\" : \"i\" , "
	    "\"epoch\" : \"e\" } } ",
	    "{\"event\":\"a\\u002eb\",\"data\":{\"k\":[1,{\"x\":\"}\"}]},"
	    "\"time\":\"T1\",\"seq\":7,\"prev\":5,\"origin\":{\"host\":"
	    "\"h\",\"instance\":\"i\",\"epoch\":\"e\"}}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(wires); i++) {
		struct bridge_msg m;
		char *cause = NULL;

		ck_assert_msg(
		    bridge_decode(wires[i], strlen(wires[i]), &m, &cause) == 0,
		    "%zu: %s", i, cause);
		ck_assert_str_eq(m.event, "a.b");
		ck_assert_str_eq(m.data, "{\"k\":[1,{\"x\":\"}\"}]}");
		ck_assert_str_eq(m.time, "T1");
		ck_assert_uint_eq(m.seq, 7);
		ck_assert_uint_eq(m.prev, 5);
		ck_assert_str_eq(m.host, "h");
		ck_assert_str_eq(m.instance, "i");
		ck_assert_str_eq(m.epoch, "e");
		bridge_msg_clear(&m);
	}
}
END_TEST

/* Inbound data is kept as published (whitespace aside), never rewritten:
 * jansson would give 3.1415926535897931, 0, 100.0. */
START_TEST(test_decode_data_exact)
{
	const char *wire =
	    "{\"event\":\"num.x\",\"time\":\"t\",\"origin\":{\"host\":"
	    "\"h\",\"instance\":\"i\"},\"data\": {\"pi\": 3.141592653589793,"
	    "\"t\":1700000000.123456,\"z\":-0,\"e\":1.0E+2,\"s\":\"\\u00e9 "
	    "\"}}";
	struct bridge_msg m;
	char *cause = NULL;

	ck_assert_int_eq(bridge_decode(wire, strlen(wire), &m, &cause), 0);
	ck_assert_str_eq(m.data, "{\"pi\":3.141592653589793,"
	                         "\"t\":1700000000.123456,\"z\":-0,"
	                         "\"e\":1.0E+2,\"s\":\"\\u00e9 \"}");
	bridge_msg_clear(&m);
}
END_TEST

START_TEST(test_decode_rejects)
{
	static const struct {
		const char *in, *err;
	} bad[] = {
	    {"not json", "invalid JSON"},
	    {"[1]", "not a JSON object"},
	    {"{\"event\":\"a b\",\"time\":\"t\",\"origin\":{\"host\":\"h\","
	     "\"instance\":\"i\"}}",
	     "'event' is not a valid event name"},
	    {"{\"event\":\"a\",\"data\":[],\"time\":\"t\",\"origin\":{\"host\":"
	     "\"h\",\"instance\":\"i\"}}",
	     "'data' is not an object"},
	    {"{\"event\":\"a\",\"origin\":{\"host\":\"h\",\"instance\":\"i\"}}",
	     "'time' is missing"},
	    {"{\"event\":\"a\",\"time\":\"t\",\"seq\":-1,\"origin\":{\"host\":"
	     "\"h\",\"instance\":\"i\"}}",
	     "'seq' is not a non-negative integer"},
	    {"{\"event\":\"a\",\"time\":\"t\"}", "'origin' needs"},
	    {"{\"event\":\"a\",\"time\":\"t\",\"origin\":{\"host\":\"h x\","
	     "\"instance\":\"i\"}}",
	     "'origin' needs"},
	    {"{\"event\":\"a\",\"event\":\"b\",\"time\":\"t\",\"origin\":{"
	     "\"host\":\"h\",\"instance\":\"i\"}}",
	     "invalid JSON"},
	};
	struct bridge_msg m;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *cause = NULL;
		ck_assert_int_eq(
		    bridge_decode(bad[i].in, strlen(bad[i].in), &m, &cause),
		    -1);
		ck_assert_msg(cause && strstr(cause, bad[i].err), "%s: got %s",
		              bad[i].in, cause);
		free(cause);
	}
}
END_TEST

START_TEST(test_loop_marker)
{
	struct bus_event ev = {
	    .name = "x", .name_len = 1, .data = "{}", .data_len = 2};
	struct bridge_msg m = {.event = "x",
	                       .data = "{}",
	                       .time = "t",
	                       .seq = 1,
	                       .host = "h",
	                       .instance = "i"};
	char *src = bridge_source(&m);

	ev.source = src;
	ck_assert(bridge_from_bridge(&ev));
	ev.source = "control uid=0 pid=1";
	ck_assert(!bridge_from_bridge(&ev));
	ev.source = "bridged-thing"; /* the marker is "bridge " */
	ck_assert(!bridge_from_bridge(&ev));
	ev.source = NULL;
	ck_assert(!bridge_from_bridge(&ev));
	free(src);
}
END_TEST

/* The service without a [bridge] section: runs, does nothing. */
START_TEST(test_disabled_stats)
{
	json_t *j = bridge_stats_json();
	char *text = json_dumps(j, JSON_COMPACT);

	ck_assert_str_eq(text, "{\"enabled\":false}");
	free(text);
	json_decref(j);
}
END_TEST

/* The [bridge] section reaches struct bridge_conf; a bad URL is FILE:LINE. */
START_TEST(test_conf_section)
{
	char path[160], *cause = NULL;
	struct svc_conf *conf;
	const struct bridge_conf *c;
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
	f = fopen(path, "w");
	fputs("[bridge]\nurl = redis://r1:6380/1\npublish = user.* order\n"
	      "subscribe = *\nchannel = prod\nbuffer = 50\n"
	      "reconnect_min = 50ms\nreconnect_max = 2s\n",
	      f);
	fclose(f);
	conf = tu_conf_load(path, &cause);
	ck_assert_msg(conf != NULL, "%s", cause);
	c = svc_conf_options(conf, "bridge");
	ck_assert_str_eq(c->url, "redis://r1:6380/1");
	ck_assert_str_eq(c->publish[0], "user.*");
	ck_assert_str_eq(c->publish[1], "order");
	ck_assert_ptr_null(c->publish[2]);
	ck_assert_str_eq(c->subscribe[0], "*");
	ck_assert_str_eq(c->channel, "prod");
	ck_assert_uint_eq(c->buffer, 50);
	ck_assert(c->reconnect_min == 0.05);
	ck_assert(c->reconnect_max == 2);
	svc_conf_free(conf);

	f = fopen(path, "w");
	fputs("[bridge]\npublish = *\nurl = redis:/r1\nsubscribe = a..b*\n"
	      "channel = x*\n",
	      f);
	fclose(f);
	ck_assert_ptr_null(tu_conf_load(path, &cause));
	ck_assert_msg(strstr(cause, "c.conf:3: bad value for 'url' in "
	                            "[bridge]: bad URL 'redis:/r1'"),
	              "%s", cause);
	ck_assert_msg(strstr(cause, "c.conf:4: bad value for 'subscribe' in "
	                            "[bridge]: 'a..b*' is not an event "
	                            "pattern"),
	              "%s", cause);
	ck_assert_msg(strstr(cause, "c.conf:5: bad value for 'channel'"), "%s",
	              cause);
	free(cause);

	f = fopen(path, "w");
	fputs("[bridge]\npublish = *\n", f);
	fclose(f);
	ck_assert_ptr_null(tu_conf_load(path, &cause));
	ck_assert_msg(strstr(cause, "c.conf:1: [bridge]: 'url' is required"),
	              "%s", cause);
	free(cause);
	unlink(path);
}
END_TEST

/* ---- through a real redis-server ---- */

START_TEST(test_two_instances_both_ways)
{
	struct node a, b;
	struct node *both[] = {&a, &b, NULL};
	struct want wa = {&a, 2}, wb = {&b, 2};

	NEED_REDIS();
	redis_start();
	node_start(&a, "aaaa", all, all, 0);
	node_start(&b, "bbbb", all, all, 0);
	ck_assert(run_until(all_connected, both, 3));
	ck_assert_int_eq(bridge_check(a.br, NULL), 0);

	emit(&a, "user.created", "{\"id\":1}");
	emit(&b, "order_placed", "{\"order_id\":\"x\"}");
	ck_assert(run_until(seen_count, &wa, 3));
	ck_assert(run_until(seen_count, &wb, 3));
	run_for(0.05); /* nothing more may come */
	ck_assert_uint_eq(a.nseen, 2);
	ck_assert_uint_eq(b.nseen, 2);
	ck_assert_uint_eq(count_seen(&b, "user.created {\"id\":1}"), 1);
	ck_assert_uint_eq(count_seen(&a, "order_placed {\"order_id\":\"x\"}"),
	                  1);
	/* the remote copy carries its origin and original time */
	for (size_t i = 0; i < b.nseen; i++)
		if (!strncmp(b.seen[i], "user.created", 12))
			ck_assert_msg(
			    !strncmp(b.sources[i],
			             "bridge origin=testhost/aaaa time=", 33),
			    "%s", b.sources[i]);

	struct bridge_stats s;
	bridge_get_stats(a.br, &s);
	ck_assert_uint_eq(s.published, 1);
	ck_assert_uint_eq(s.received, 1);
	ck_assert_uint_eq(s.ignored, 1); /* its own echo */
	ck_assert(s.connected);
	node_free(&a);
	node_free(&b);
}
END_TEST

/* Only matching events go out; only subscribed ones come in. */
START_TEST(test_patterns_filter)
{
	static const char *const pub_user[] = {"user.*", NULL};
	static const char *const sub_order[] = {"order", NULL};
	struct node a, b;
	struct node *both[] = {&a, &b, NULL};
	struct want wb = {&b, 2};

	NEED_REDIS();
	redis_start();
	node_start(&a, "aaaa", pub_user, NULL, 0);
	node_start(&b, "bbbb", all, sub_order, 0);
	ck_assert(run_until(all_connected, both, 3));
	emit(&a, "other", "{}");        /* not published */
	emit(&a, "user.x", "{}");       /* published, b does not subscribe */
	emit(&b, "order", "{\"n\":1}"); /* a does not subscribe at all */
	emit(&b, "local", "{}");
	ck_assert(run_until(seen_count, &wb, 3));
	run_for(0.1);
	ck_assert_uint_eq(a.nseen, 2); /* its own two */
	ck_assert_uint_eq(b.nseen, 2);
	struct bridge_stats s;
	bridge_get_stats(a.br, &s);
	ck_assert_uint_eq(s.published, 1);
	bridge_get_stats(b.br, &s);
	ck_assert_uint_eq(s.received, 0);
	node_free(&a);
	node_free(&b);
}
END_TEST

/* Three instances, all publishing and subscribing everything: each event
 * is seen exactly once per instance. */
START_TEST(test_three_no_loops)
{
	struct node n[3];
	struct node *v[] = {&n[0], &n[1], &n[2], NULL};
	const char *ids[] = {"i0", "i1", "i2"};
	struct want w[3];

	NEED_REDIS();
	redis_start();
	for (int i = 0; i < 3; i++) {
		node_start(&n[i], ids[i], all, all, 0);
		w[i] = (struct want){&n[i], 3};
	}
	ck_assert(run_until(all_connected, v, 3));
	emit(&n[0], "e0", "{}");
	emit(&n[1], "e1", "{}");
	emit(&n[2], "e2", "{}");
	for (int i = 0; i < 3; i++)
		ck_assert(run_until(seen_count, &w[i], 3));
	run_for(0.15);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(n[i].nseen, 3);
		ck_assert_uint_eq(count_seen(&n[i], "e0 {}"), 1);
		ck_assert_uint_eq(count_seen(&n[i], "e1 {}"), 1);
		ck_assert_uint_eq(count_seen(&n[i], "e2 {}"), 1);
		struct bridge_stats s;
		bridge_get_stats(n[i].br, &s);
		ck_assert_uint_eq(s.published, 1);
		ck_assert_uint_eq(s.received, 2);
	}
	for (int i = 0; i < 3; i++)
		node_free(&n[i]);
}
END_TEST

/* Redis killed mid-stream: degraded, events buffered, then delivered after
 * it is back, and healthy again. */
START_TEST(test_redis_restart)
{
	struct node a, b;
	struct node *both[] = {&a, &b, NULL};
	struct want wb = {&b, 1}, wb2 = {&b, 4};
	char *cause = NULL;
	struct bridge_stats s;

	NEED_REDIS();
	redis_start();
	/*
	 * Pub/sub keeps nothing for a subscriber that is not there: the
	 * publisher must come back after the subscriber for the buffered
	 * events to reach it, so it retries more slowly here.
	 */
	backoff_min = backoff_max = 0.3;
	node_start(&a, "aaaa", all, NULL, 0);
	backoff_min = 0.01;
	backoff_max = 0.05;
	node_start(&b, "bbbb", NULL, all, 0);
	ck_assert(run_until(all_connected, both, 3));
	emit(&a, "before", "{}");
	ck_assert(run_until(seen_count, &wb, 3));

	redis_kill();
	ck_assert(run_until(degraded, &a, 3));
	ck_assert(run_until(degraded, &b, 3));
	ck_assert_int_eq(bridge_check(a.br, &cause), -1);
	ck_assert_msg(strstr(cause, "publish link to unix://") &&
	                  strstr(cause, "down"),
	              "%s", cause);
	free(cause);
	ck_assert(log_has("publish link to unix://"));

	emit(&a, "during", "{\"n\":1}");
	emit(&a, "during", "{\"n\":2}");
	emit(&a, "during", "{\"n\":3}");
	run_for(0.05);
	bridge_get_stats(a.br, &s);
	ck_assert_uint_eq(s.buffered, 3);
	ck_assert_int_eq(bridge_check(a.br, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "3 events buffered"));
	free(cause);

	redis_start();
	ck_assert(run_until(all_connected, both, 3));
	ck_assert(run_until(seen_count, &wb2, 3));
	ck_assert_uint_eq(count_seen(&b, "during {\"n\":1}"), 1);
	ck_assert_uint_eq(count_seen(&b, "during {\"n\":3}"), 1);
	ck_assert_str_eq(b.seen[3], "during {\"n\":3}"); /* in order */
	ck_assert_int_eq(bridge_check(a.br, NULL), 0);
	ck_assert_int_eq(bridge_check(b.br, NULL), 0);
	bridge_get_stats(a.br, &s);
	ck_assert_uint_eq(s.buffered, 0);
	ck_assert_uint_ge(s.reconnects, 1);
	ck_assert(log_has("back after"));
	node_free(&a);
	node_free(&b);
}
END_TEST

/* While Redis is away the buffer is bounded; drops are counted and logged. */
START_TEST(test_buffer_bound)
{
	struct node a;
	struct bridge_stats s;
	char url[200], *cause = NULL;
	json_t *j;

	NEED_REDIS(); /* no server is started: the socket does not exist */
	node_start(&a, "aaaa", all, NULL, 3);
	ck_assert(run_until(degraded, &a, 3));
	ck_assert_int_eq(bridge_check(a.br, &cause), -1);
	snprintf(url, sizeof(url), "publish link to unix://%s down",
	         redis_sock);
	ck_assert_msg(strstr(cause, url), "%s", cause);
	free(cause);
	for (int i = 0; i < 5; i++)
		emit(&a, "e", "{}");
	run_for(0.05);
	bridge_get_stats(a.br, &s);
	ck_assert_uint_eq(s.buffered, 3);
	ck_assert_uint_eq(s.dropped, 2);
	ck_assert(log_has("outbound buffer full (3 events)"));
	j = bridge_get_stats_json(a.br);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "dropped")), 2);
	ck_assert(json_is_false(json_object_get(j, "connected")));
	json_decref(j);

	/* the server appears: the buffer drains */
	redis_start();
	ck_assert(run_until(connected, &a, 3));
	ck_assert(run_until(seen_count, &(struct want){&a, 5}, 1));
	run_for(0.05);
	bridge_get_stats(a.br, &s);
	ck_assert_uint_eq(s.buffered, 0);
	ck_assert_uint_eq(s.published, 3);
	node_free(&a);
}
END_TEST

static void
closed(struct bridge *br, void *arg)
{
	*(bool *)arg = true;
}

static bool
flag_set(void *arg)
{
	return *(bool *)arg;
}

/* Close sends what is buffered before it disconnects. */
START_TEST(test_close_flushes)
{
	struct node a, b;
	struct node *both[] = {&a, &b, NULL};
	struct want wb = {&b, 50};
	bool done = false;

	NEED_REDIS();
	redis_start();
	node_start(&a, "aaaa", all, NULL, 0);
	node_start(&b, "bbbb", NULL, all, 0);
	ck_assert(run_until(all_connected, both, 3));
	for (int i = 0; i < 50; i++)
		emit(&a, "bulk", "{}");
	/* let the bus hand them to the bridge, then close at once */
	ev_run(loop, EVRUN_NOWAIT);
	bridge_close(a.br, 2, closed, &done);
	ck_assert(run_until(flag_set, &done, 3));
	ck_assert(run_until(seen_count, &wb, 3));
	ck_assert(!bridge_connected(a.br));
	node_free(&a);
	node_free(&b);
}
END_TEST

/*
 * A connect that fails at once (socket() refused by a sandbox, a Unix path
 * whose directory does not exist) is not an error of bridge_new nor of the
 * check right after it (the framework's ping after init): the first attempt
 * runs from the loop, fails there like any later one, and is retried.
 */
START_TEST(test_immediate_error_retried)
{
	struct bridge_opts o = {
	    .url = "unix:///nonexistent-svcd-dir/redis.sock",
	    .publish = all,
	    .backoff_min = 0.01,
	    .backoff_max = 0.02,
	    .host = "testhost",
	    .instance = "aaaa",
	};
	struct node a;
	char *cause = NULL;

	memset(&a, 0, sizeof(a));
	a.bus = bus_new(loop, NULL);
	a.br = bridge_new(loop, a.bus, &o, &cause);
	ck_assert_msg(a.br != NULL, "bridge_new: %s", cause);
	ck_assert_int_eq(bridge_check(a.br, NULL), 0); /* first attempt */
	ck_assert(run_until(degraded, &a, 3));
	ck_assert_int_eq(bridge_check(a.br, &cause), -1);
	ck_assert_msg(strstr(cause, "publish link to unix:///nonexistent-svcd-"
	                            "dir/redis.sock down") &&
	                  strstr(cause, "No such file or directory") &&
	                  strstr(cause, "retry in"),
	              "%s", cause);
	free(cause);
	ck_assert(log_has("cannot connect the publish link"));
	/* it keeps retrying: the timer is armed again after each failure */
	run_for(0.1);
	ck_assert_int_eq(bridge_check(a.br, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "retry in"));
	free(cause);
	node_free(&a);
}
END_TEST

/* ---- streams: names, identity, secrets ---- */

START_TEST(test_stream_names)
{
	char *k = bridge_stream_key("svcd.staging");

	ck_assert_str_eq(k, "svcd.staging|events");
	free(k);
	ck_assert(bridge_node_valid("web-1.eu:2"));
	ck_assert(!bridge_node_valid("a|b"));
	ck_assert(!bridge_node_valid("a b"));
	ck_assert(!bridge_node_valid(""));
	/* '|' is in no event name nor prefix: two prefixes never collide */
	ck_assert(!bus_name_valid("a|b", 3));
	ck_assert(!bridge_channel_valid("svcd|x"));
}
END_TEST

START_TEST(test_encode_epoch_prev)
{
	struct bus_event ev = {
	    .seq = 9,
	    .time_us = 1700000000000000LL,
	    .name = "e.x",
	    .name_len = 3,
	    .data = "{\"n\":1.50}",
	};
	struct bridge_msg m;
	char *cause = NULL, *wire;
	size_t len;

	ev.data_len = strlen(ev.data);
	wire = bridge_encode_ext(&ev, "a", "i1", "journal", 7, &len);
	ck_assert_ptr_nonnull(strstr(wire, "\"seq\":9,\"prev\":7,"));
	ck_assert_int_eq(bridge_decode(wire, len, &m, &cause), 0);
	ck_assert_str_eq(m.epoch, "journal");
	ck_assert_uint_eq(m.prev, 7);
	ck_assert_str_eq(m.data, "{\"n\":1.50}");
	bridge_msg_clear(&m);
	free(wire);
	/* an older sender: the epoch is the instance, prev unknown */
	wire = bridge_encode(&ev, "a", "i1", &len);
	ck_assert_int_eq(bridge_decode(wire, len, &m, &cause), 0);
	ck_assert_str_eq(m.epoch, "i1");
	ck_assert_uint_eq(m.prev, 0);
	bridge_msg_clear(&m);
	free(wire);
	static const char bad[] =
	    "{\"event\":\"e\",\"time\":\"t\",\"prev\":-1,\"origin\":"
	    "{\"host\":\"h\",\"instance\":\"i\"}}";
	ck_assert_int_eq(bridge_decode(bad, strlen(bad), &m, &cause), -1);
	ck_assert_str_eq(cause, "'prev' is not a non-negative integer");
	free(cause);
}
END_TEST

static char *
secret_file(const char *text, mode_t mode)
{
	char *path = xasprintf("%s/pw", tmpdir);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

START_TEST(test_read_secret)
{
	char *cause = NULL, *s, *path;

	path = secret_file("hunter2\n", 0600);
	s = bridge_read_secret(path, &cause);
	ck_assert_str_eq(s, "hunter2");
	free(s);
	free(path);
	path = secret_file("hunter2\n", 0644);
	ck_assert_ptr_null(bridge_read_secret(path, &cause));
	ck_assert_msg(strstr(cause, "readable or writable by others"), "%s",
	              cause);
	ck_assert_ptr_null(strstr(cause, "hunter2"));
	free(cause);
	free(path);
	path = secret_file("a\nb\n", 0600);
	ck_assert_ptr_null(bridge_read_secret(path, &cause));
	ck_assert_msg(strstr(cause, "one line"), "%s", cause);
	free(cause);
	free(path);
	path = secret_file("", 0600);
	ck_assert_ptr_null(bridge_read_secret(path, &cause));
	free(cause);
	unlink(path);
	free(path);
}
END_TEST

/* ---- streams through a real redis-server ---- */

static double snode_max_age; /* the next snode_start's max_age */

static void
snode_start(struct node *n, const char *name, const char *const *pub,
            const char *const *sub, struct bus_opts *bo)
{
	struct bridge_opts o = {
	    .publish = pub,
	    .subscribe = sub,
	    .backoff_min = backoff_min,
	    .backoff_max = backoff_max,
	    .connect_timeout = 1,
	    .host = name,
	    .delivery = BRIDGE_STREAMS,
	    .ping_interval = 0.1,
	    .ping_timeout = 0.5,
	    .max_age = snode_max_age,
	};
	char url[200], *cause = NULL;

	memset(n, 0, sizeof(*n));
	snprintf(url, sizeof(url), "unix://%s", redis_sock);
	o.url = url;
	n->bus = bus_new(loop, bo);
	n->rec = bus_listen(n->bus, "*", record, n);
	n->br = bridge_new(loop, n->bus, &o, &cause);
	ck_assert_msg(n->br != NULL, "bridge_new: %s", cause);
}

/* A raw Redis command on the test's own connection. */
static void
redis_do(const char *fmt, const char *a1, const char *a2)
{
	redisContext *c = redisConnectUnix(redis_sock);
	redisReply *r;

	ck_assert(c && !c->err);
	r = redisCommand(c, fmt, a1, a2);
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	redisFree(c);
}

static uint64_t
stat_of(struct node *n, const char *key)
{
	json_t *o = bridge_get_stats_json(n->br);
	uint64_t v = (uint64_t)json_integer_value(json_object_get(o, key));

	json_decref(o);
	return v;
}

struct statwant {
	struct node *n;
	const char *key;
	uint64_t v;
};

static bool
stat_reached(void *arg)
{
	struct statwant *w = arg;
	return stat_of(w->n, w->key) >= w->v;
}

/* Events cross once; a copy Redis holds twice is dropped; a jump in prev
 * is a gap: counted, logged, bridge.gap on the bus. */
START_TEST(test_streams_dedupe_and_gap)
{
	static const char *const t[] = {"t.*", NULL};
	struct node a, b;
	struct node *both[] = {&a, &b, NULL};
	struct want wb = {&b, 3};
	struct statwant dup = {&b, "duplicates", 1};
	struct want wgap;
	char payload[512];

	NEED_REDIS();
	redis_start();
	snode_start(&a, "a", t, NULL, NULL);
	snode_start(&b, "b", NULL, t, NULL);
	ck_assert(run_until(all_connected, both, 3));
	emit(&a, "t.x", "{\"n\":1}");
	emit(&a, "t.x", "{\"n\":2}");
	emit(&a, "t.x", "{\"n\":3}");
	ck_assert(run_until(seen_count, &wb, 3));
	ck_assert_str_eq(b.seen[0], "t.x {\"n\":1}");
	ck_assert_str_eq(b.seen[2], "t.x {\"n\":3}");
	/* the same event again (a resend after a link drop looks so) */
	snprintf(payload, sizeof(payload),
	         "{\"event\":\"t.x\",\"data\":{\"n\":3},\"time\":\"t\","
	         "\"seq\":%llu,\"prev\":0,\"origin\":{\"host\":\"a\","
	         "\"instance\":\"%s\",\"epoch\":\"%s\"}}",
	         (unsigned long long)bus_last_seq(a.bus), bridge_instance(a.br),
	         bridge_instance(a.br));
	redis_do("XADD svcd|events * m %s", payload, NULL);
	ck_assert(run_until(stat_reached, &dup, 3));
	ck_assert_uint_eq(b.nseen, 3);
	/* an event whose previous one is 5 further on: a gap */
	snprintf(payload, sizeof(payload),
	         "{\"event\":\"t.x\",\"data\":{\"n\":9},\"time\":\"t\","
	         "\"seq\":%llu,\"prev\":%llu,\"origin\":{\"host\":\"a\","
	         "\"instance\":\"%s\",\"epoch\":\"%s\"}}",
	         (unsigned long long)bus_last_seq(a.bus) + 6,
	         (unsigned long long)bus_last_seq(a.bus) + 5,
	         bridge_instance(a.br), bridge_instance(a.br));
	redis_do("XADD svcd|events * m %s", payload, NULL);
	wgap = (struct want){&b, 4};
	ck_assert(run_until(seen_count, &wgap, 3));
	ck_assert_str_eq(b.seen[3], "t.x {\"n\":9}");
	ck_assert_uint_eq(stat_of(&b, "gaps"), 1);
	ck_assert_uint_eq(stat_of(&b, "gap_events"), 5);
	ck_assert_ptr_nonnull(strstr(buf_head(&logbuf), "bridge: gap from a"));
	node_free(&a);
	node_free(&b);
}
END_TEST

/* A bus of 2: the reader stops while it is full and goes on after, in
 * order, nothing dropped. */
START_TEST(test_streams_full_bus_pauses)
{
	static const char *const t[] = {"t.*", NULL};
	struct bus_opts small = {.queue_size = 2, .batch = 1};
	struct node a, b;
	struct node *both[] = {&a, &b, NULL};
	struct want wb = {&b, 60};

	NEED_REDIS();
	redis_start();
	snode_start(&a, "a", t, NULL, NULL);
	snode_start(&b, "b", NULL, t, &small);
	ck_assert(run_until(all_connected, both, 3));
	for (int i = 1; i <= 60; i++) {
		char d[32];
		snprintf(d, sizeof(d), "{\"n\":%d}", i);
		emit(&a, "t.x", d);
	}
	ck_assert(run_until(seen_count, &wb, 5));
	for (int i = 0; i < 60; i++) {
		char d[48];
		snprintf(d, sizeof(d), "t.x {\"n\":%d}", i + 1);
		ck_assert_str_eq(b.seen[i], d);
	}
	ck_assert_uint_gt(stat_of(&b, "pauses"), 0);
	ck_assert_uint_eq(stat_of(&b, "in_dropped"), 0);
	node_free(&a);
	node_free(&b);
}
END_TEST

/*
 * Replies of every size through the reply pool: small events and ones of
 * 200 KB (a chunk of their own, and a read reply over many chunks) arrive
 * whole and in order.
 */
START_TEST(test_streams_large_events)
{
	static const char *const t[] = {"t.*", NULL};
	struct node a, b;
	struct node *both[] = {&a, &b, NULL};
	struct want wb = {&b, 60};
	char *big = xmalloc(200 * 1024 + 32);

	NEED_REDIS();
	redis_start();
	snode_start(&a, "a", t, NULL, NULL);
	snode_start(&b, "b", NULL, t, NULL);
	ck_assert(run_until(all_connected, both, 3));
	for (int i = 1; i <= 60; i++) {
		if (i % 20 == 7) {
			int n = snprintf(big, 32, "{\"n\":%d,\"pad\":\"", i);
			memset(big + n, 'a' + i % 26, 200 * 1024);
			strcpy(big + n + 200 * 1024, "\"}");
			emit(&a, "t.x", big);
		} else {
			char d[32];
			snprintf(d, sizeof(d), "{\"n\":%d}", i);
			emit(&a, "t.x", d);
		}
	}
	ck_assert(run_until(seen_count, &wb, 10));
	for (int i = 0; i < 60; i++) {
		char d[48];
		if ((i + 1) % 20 == 7) {
			snprintf(d, sizeof(d), "t.x {\"n\":%d,\"pad\":\"",
			         i + 1);
			ck_assert_uint_eq(strlen(b.seen[i]),
			                  strlen(d) + 200 * 1024 + 2);
			ck_assert(!strncmp(b.seen[i], d, strlen(d)));
			ck_assert_int_eq(b.seen[i][strlen(d) + 1234],
			                 'a' + (i + 1) % 26);
		} else {
			snprintf(d, sizeof(d), "t.x {\"n\":%d}", i + 1);
			ck_assert_str_eq(b.seen[i], d);
		}
	}
	ck_assert_uint_eq(stat_of(&b, "invalid"), 0);
	ck_assert_uint_eq(stat_of(&b, "duplicates"), 0);
	free(big);
	node_free(&a);
	node_free(&b);
}
END_TEST

/* max_age: XADD MINID ~ (now - age) instead of MAXLEN; Redis takes it. */
START_TEST(test_streams_max_age)
{
	static const char *const t[] = {"t.*", NULL};
	struct node a, b;
	struct node *both[] = {&a, &b, NULL};
	struct want wb = {&b, 2};

	NEED_REDIS();
	redis_start();
	snode_max_age = 3600;
	snode_start(&a, "a", t, NULL, NULL);
	snode_max_age = 0;
	snode_start(&b, "b", NULL, t, NULL);
	ck_assert(run_until(all_connected, both, 3));
	emit(&a, "t.x", "{}");
	emit(&a, "t.y", "{}");
	ck_assert(run_until(seen_count, &wb, 3));
	ck_assert_uint_eq(stat_of(&a, "published"), 2);
	ck_assert_uint_eq(stat_of(&a, "rejected"), 0);
	node_free(&a);
	node_free(&b);
}
END_TEST

/* publish = * leaves out service.* unless a pattern names them. */
START_TEST(test_publish_star_not_service)
{
	static const char *const star[] = {"*", NULL};
	static const char *const star_svc[] = {"*", "service.*", NULL};
	struct node a, b, c;
	struct node *all3[] = {&a, &b, &c, NULL};
	struct statwant one = {&b, "received", 1}, two = {&b, "received", 2};

	NEED_REDIS();
	redis_start();
	snode_start(&a, "a", star, NULL, NULL);
	snode_start(&c, "c", star_svc, NULL, NULL);
	snode_start(&b, "b", NULL, star, NULL);
	ck_assert(run_until(all_connected, all3, 3));
	emit(&a, "service.state", "{}");
	emit(&a, "user.x", "{}");
	ck_assert(run_until(stat_reached, &one, 3));
	run_for(0.1);
	ck_assert_uint_eq(stat_of(&a, "published"), 1); /* user.x only */
	ck_assert_uint_eq(stat_of(&b, "received"), 1);
	emit(&c, "service.state", "{}"); /* named: it goes */
	ck_assert(run_until(stat_reached, &two, 3));
	{
		struct statwant w = {&c, "published", 1};
		ck_assert(run_until(stat_reached, &w, 3));
	}
	node_free(&a);
	node_free(&b);
	node_free(&c);
}
END_TEST

/* ---- AUTH refused: failed, not unhealthy ---- */

/* A streams node that authenticates with the password in path. */
static void
auth_node_start_backoff(struct node *n, const char *path, const char *user,
                        double bmin, double bmax)
{
	struct bridge_opts o = {
	    .publish = all,
	    .subscribe = all,
	    .backoff_min = bmin,
	    .backoff_max = bmax,
	    .connect_timeout = 1,
	    .host = "authnode",
	    .delivery = BRIDGE_STREAMS,
	    .ping_interval = 0.1,
	    .ping_timeout = 0.5,
	    .password_file = path,
	    .user = user,
	};
	char url[200], *cause = NULL;

	memset(n, 0, sizeof(*n));
	snprintf(url, sizeof(url), "unix://%s", redis_sock);
	o.url = url;
	n->bus = bus_new(loop, NULL);
	n->br = bridge_new(loop, n->bus, &o, &cause);
	ck_assert_msg(n->br != NULL, "bridge_new: %s", cause);
}

static void
auth_node_start(struct node *n, const char *path, const char *user)
{
	auth_node_start_backoff(n, path, user, 0.01, 0.05);
}

static bool
check_failed(void *arg)
{
	struct node *n = arg;
	return bridge_check(n->br, NULL) == SVC_PING_FAILED;
}

/* Both links refused (each is told apart in the reason). */
static bool
both_refused(void *arg)
{
	struct node *n = arg;
	char *cause = NULL;
	bool r = bridge_check(n->br, &cause) == SVC_PING_FAILED &&
	         strstr(cause, "publish link to unix://") &&
	         strstr(cause, "read link to unix://") &&
	         !strstr(cause, " down ");

	free(cause);
	return r;
}

static bool
check_unhealthy(void *arg)
{
	struct node *n = arg;
	return bridge_check(n->br, NULL) == -1;
}

/*
 * Redis refuses the password: bridge_check is SVC_PING_FAILED with each
 * link and Redis's message (never the password); fixing the file is
 * enough (it is read again before every connect); Redis going away is -1
 * (a fault of the moment); a password file nobody may trust is failed.
 */
START_TEST(test_auth_refused_is_failed)
{
	struct node a;
	char *cause = NULL, *path;

	NEED_REDIS();
	redis_start();
	redis_do("CONFIG SET %s %s", "requirepass", "right-pw");
	path = secret_file("wrong-pw\n", 0600);
	auth_node_start(&a, path, NULL);
	ck_assert(run_until(both_refused, &a, 3));
	ck_assert_int_eq(bridge_check(a.br, &cause), SVC_PING_FAILED);
	ck_assert_msg(strstr(cause, "publish link to unix://") &&
	                  strstr(cause, "refused for") &&
	                  strstr(cause, "AUTH failed: WRONGPASS") &&
	                  strstr(cause, "retry in"),
	              "%s", cause);
	ck_assert_ptr_null(strstr(cause, "wrong-pw"));
	free(cause);
	ck_assert(log_has("AUTH failed: WRONGPASS"));
	ck_assert(!log_has("wrong-pw"));
	ck_assert(!log_has("right-pw"));

	/* the file fixed: the next attempt authenticates, back to 0 */
	free(path);
	path = secret_file("right-pw\n", 0600);
	ck_assert(run_until(connected, &a, 3));
	ck_assert_int_eq(bridge_check(a.br, NULL), 0);

	/* Redis gone: down, unhealthy, not failed */
	redis_kill();
	ck_assert(run_until(check_unhealthy, &a, 3));
	run_for(0.1); /* several attempts: still only unhealthy */
	ck_assert_int_eq(bridge_check(a.br, &cause), -1);
	ck_assert_msg(strstr(cause, "down") && !strstr(cause, "refused"), "%s",
	              cause);
	free(cause);

	/* a password file others may read: failed, named, no connect */
	chmod(path, 0644);
	ck_assert(run_until(check_failed, &a, 3));
	ck_assert_int_eq(bridge_check(a.br, &cause), SVC_PING_FAILED);
	ck_assert_msg(strstr(cause, "password_file: ") &&
	                  strstr(cause, "readable or writable by others"),
	              "%s", cause);
	free(cause);
	chmod(path, 0600);
	redis_start();
	redis_do("CONFIG SET %s %s", "requirepass", "right-pw");
	ck_assert(run_until(connected, &a, 3));
	ck_assert_int_eq(bridge_check(a.br, NULL), 0);
	ck_assert(!log_has("right-pw"));
	node_free(&a);
	unlink(path);
	free(path);
}
END_TEST

/* A refused link whose password file is fixed retries at once, not after
 * its backoff (here at least 2.5 s): before, it waited out a backoff that
 * grows to reconnect_max (30 s by default). */
START_TEST(test_password_file_fixed_retries_now)
{
	struct node a;
	char *path;

	NEED_REDIS();
	redis_start();
	redis_do("CONFIG SET %s %s", "requirepass", "right-pw");
	path = secret_file("wrong-pw\n", 0600);
	auth_node_start_backoff(&a, path, NULL, 5, 30);
	ck_assert(run_until(both_refused, &a, 3));
	free(path);
	path = secret_file("right-pw\n", 0600);
	ck_assert(run_until(connected, &a, 2));
	ck_assert_int_eq(bridge_check(a.br, NULL), 0);
	ck_assert(log_has("changed: the publish link tries again now"));
	node_free(&a);
	unlink(path);
	free(path);
}
END_TEST

/* No password where Redis wants one (NOAUTH), or an ACL user who may not
 * create its group (NOPERM): failed too, on the link that was refused. */
START_TEST(test_noauth_and_noperm_are_failed)
{
	struct node a, b;
	char *cause = NULL, *path;

	NEED_REDIS();
	redis_start();
	redis_do("ACL SETUSER %s on >%s ~* &* +@all -xgroup", "limited",
	         "lim-pw");
	redis_do("CONFIG SET %s %s", "requirepass", "right-pw");
	auth_node_start(&a, NULL, NULL);
	ck_assert(run_until(check_failed, &a, 3));
	ck_assert_int_eq(bridge_check(a.br, &cause), SVC_PING_FAILED);
	ck_assert_msg(strstr(cause, "NOAUTH"), "%s", cause);
	free(cause);
	node_free(&a);

	path = secret_file("lim-pw\n", 0600);
	auth_node_start(&b, path, "limited");
	ck_assert(run_until(check_failed, &b, 3));
	ck_assert_int_eq(bridge_check(b.br, &cause), SVC_PING_FAILED);
	ck_assert_msg(strstr(cause, "read link to unix://") &&
	                  strstr(cause, "XGROUP failed: NOPERM"),
	              "%s", cause);
	ck_assert_ptr_null(strstr(cause, "lim-pw"));
	free(cause);
	node_free(&b);
	unlink(path);
	free(path);
}
END_TEST

static Suite *
bridge_suite(void)
{
	Suite *s = suite_create("bridge");
	TCase *tc = tcase_create("codec");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_url_parse);
	tcase_add_test(tc, test_channel_and_patterns);
	tcase_add_test(tc, test_subscribe_minimal);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_encode_decode);
	tcase_add_test(tc, test_encode_time_and_numbers);
	tcase_add_test(tc, test_decode_rejects);
	tcase_add_test(tc, test_decode_data_exact);
	tcase_add_test(tc, test_decode_layouts);
	tcase_add_test(tc, test_loop_marker);
	tcase_add_test(tc, test_disabled_stats);
	tcase_add_test(tc, test_conf_section);
	tcase_add_test(tc, test_immediate_error_retried);
	tcase_add_test(tc, test_stream_names);
	tcase_add_test(tc, test_encode_epoch_prev);
	tcase_add_test(tc, test_read_secret);
	suite_add_tcase(s, tc);

	tc = tcase_create("redis");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_two_instances_both_ways);
	tcase_add_test(tc, test_patterns_filter);
	tcase_add_test(tc, test_three_no_loops);
	tcase_add_test(tc, test_redis_restart);
	tcase_add_test(tc, test_buffer_bound);
	tcase_add_test(tc, test_close_flushes);
	tcase_add_test(tc, test_streams_dedupe_and_gap);
	tcase_add_test(tc, test_streams_full_bus_pauses);
	tcase_add_test(tc, test_publish_star_not_service);
	tcase_add_test(tc, test_streams_max_age);
	tcase_add_test(tc, test_auth_refused_is_failed);
	tcase_add_test(tc, test_noauth_and_noperm_are_failed);
	tcase_add_test(tc, test_password_file_fixed_retries_now);
	tcase_add_test(tc, test_streams_large_events);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(bridge_suite());
	int failed;

	util_json_use_xmalloc();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
