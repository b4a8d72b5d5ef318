/* test_conf.c — Check tests for daemon/conf.c: defaults, parsing, errors,
 * reload, through svcd's table and through a tiny table of test services. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/app.h"
#include "services/bridge.h"
#include "services/bus.h"
#include "daemon/conf.h"
#include "services/control.h"
#include "services/health.h"
#include "services/hooks.h"
#include "services/journal.h"
#include "daemon/log.h"
#include "services/manager.h"
#include "daemon/service.h"
#include "services/table.h"
#include "daemon/util.h"
#include "testutil.h"

/* Each service's options in a configuration loaded for svcd's table. */
#define OPTS(c, name, type) ((type *)svc_conf_options((c), (name)))
#define MGR(c)              OPTS(c, "manager", struct manager_conf)
#define CTL(c)              OPTS(c, "control", struct control_conf)
#define BUS(c)              OPTS(c, "bus", struct bus_conf)
#define HEALTH(c)           OPTS(c, "health", struct health_conf)
#define APP(c)              OPTS(c, "app", struct app_conf)
#define JOURNAL(c)          OPTS(c, "journal", struct journal_conf)
#define BRIDGE(c)           OPTS(c, "bridge", struct bridge_conf)
#define HOOKS(c)            OPTS(c, "hooks", struct hooks_conf)

static struct svc_conf *
conf_load(const char *file, char **cause)
{
	return svc_conf_load(file, svcd_table, svcd_table_len, cause);
}

static struct svc_conf *
conf_defaults(void)
{
	return svc_conf_load(NULL, svcd_table, svcd_table_len, NULL);
}

static char dir[] = "/tmp/test_conf.XXXXXX";
static char path[256];

static void
setup(void)
{
	strcpy(dir, "/tmp/test_conf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.conf", dir);
}

static void
teardown(void)
{
	char sub[300];

	unlink(path);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	unlink(sub);
	rmdir(sub);
	rmdir(dir);
}

static void
write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* Load text; the file must be valid. */
static struct svc_conf *
load_ok(const char *text)
{
	char *cause = NULL;
	write_file(path, text);
	struct svc_conf *c = conf_load(path, &cause);
	if (!c)
		ck_abort_msg("unexpected error: %s", cause);
	ck_assert_ptr_null(cause);
	return c;
}

/* Load text, which must fail; the errors with the path replaced by "F". */
static char *
load_err(const char *text)
{
	char *cause = NULL;
	struct buf b = {0};
	size_t plen = strlen(path);

	write_file(path, text);
	struct svc_conf *c = conf_load(path, &cause);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(cause);
	for (const char *s = cause; *s;) {
		if (!strncmp(s, path, plen)) {
			buf_putc(&b, 'F');
			s += plen;
		} else {
			buf_putc(&b, *s++);
		}
	}
	buf_putc(&b, '\0');
	free(cause);
	char *out = xstrdup(buf_head(&b));
	buf_free(&b);
	return out;
}

static void
expect_err(const char *text, const char *want)
{
	char *got = load_err(text);
	ck_assert_msg(!strcmp(got, want), "for:\n%s\nwant: %s\ngot:  %s", text,
	              want, got);
	free(got);
}

START_TEST(test_defaults)
{
	struct svc_conf *r = conf_defaults();
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(svc_conf_file(r));
	ck_assert_str_eq(CTL(r)->socket, "/run/svcd/svcd.sock");
	ck_assert_int_eq(MGR(r)->log_level, LOGL_INFO);
	ck_assert(MGR(r)->shutdown_timeout == 30);
	ck_assert(MGR(r)->init_timeout == 30);
	ck_assert(MGR(r)->stop_timeout == 10);
	ck_assert_uint_eq(CTL(r)->max_request, 1 << 20);
	ck_assert_uint_eq(CTL(r)->max_clients, 1024);
	ck_assert_uint_eq(CTL(r)->output_soft, 1 << 20);
	ck_assert_uint_eq(CTL(r)->output_hard, 8 << 20);
	ck_assert_ptr_null(CTL(r)->group);
	ck_assert_ptr_null(CTL(r)->emit_group);
	ck_assert_ptr_null(CTL(r)->admin_group);
	ck_assert_uint_eq(BUS(r)->queue_size, 65536);
	ck_assert_uint_eq(BUS(r)->history, 1024);
	ck_assert_uint_eq(BUS(r)->batch, 256);
	ck_assert(BUS(r)->listener_timeout == 30);
	ck_assert(HEALTH(r)->interval == 30);
	ck_assert(APP(r)->heartbeat == 5);
	ck_assert(!APP(r)->heartbeat_event);
	ck_assert_uint_eq(APP(r)->timers.n, 0);
	ck_assert_uint_eq(HOOKS(r)->hooks.n, 0);
	ck_assert(!JOURNAL(r)->enabled);
	ck_assert_str_eq(JOURNAL(r)->path, "/var/lib/svcd/journal.db");
	ck_assert_int_eq(JOURNAL(r)->sync, CONF_SYNC_BATCH);
	ck_assert_ptr_null(BRIDGE(r)->url);
	ck_assert_str_eq(BRIDGE(r)->channel, "svcd");
	ck_assert_uint_eq(BRIDGE(r)->buffer, 10000);
	ck_assert(BRIDGE(r)->reconnect_min == 0.1);
	ck_assert(BRIDGE(r)->reconnect_max == 30);
	ck_assert_ptr_null(svc_conf_options(r, "worker")); /* no options */
	ck_assert_ptr_null(svc_conf_options(r, "nosuch"));

	/* a graph reads the attached configuration, else the defaults */
	struct svc_graph *g =
	    svc_graph_new(NULL, svcd_table, svcd_table_len, NULL);
	struct svc *bus = svc_graph_find(g, "bus");
	const struct bus_conf *dflt = svc_options(bus);
	ck_assert_uint_eq(dflt->batch, 256);
	ck_assert_ptr_eq(svc_options(bus), dflt); /* built once */
	BUS(r)->batch = 7;
	svc_graph_set_conf(g, r);
	ck_assert_ptr_eq(svc_graph_conf(g), r);
	ck_assert_uint_eq(((const struct bus_conf *)svc_options(bus))->batch,
	                  7);
	svc_graph_set_conf(g, NULL);
	ck_assert_ptr_eq(svc_options(bus), dflt);
	svc_graph_free(g);
	svc_conf_free(r);
}
END_TEST

START_TEST(test_empty_file)
{
	struct svc_conf *c = load_ok("");
	ck_assert_str_eq(svc_conf_file(c), path);
	ck_assert_str_eq(CTL(c)->socket, "/run/svcd/svcd.sock");
	ck_assert_uint_eq(BUS(c)->queue_size, 65536);
	ck_assert_uint_eq(APP(c)->timers.n, 0);
	svc_conf_free(c);
}
END_TEST

START_TEST(test_every_key)
{
	struct svc_conf *c = load_ok("[daemon]\n"
	                             "socket = svcd.sock\n"
	                             "log_level = debug\n"
	                             "shutdown_timeout = 1m\n"
	                             "init_timeout = 1.5s\n"
	                             "stop_timeout = 250ms\n"
	                             "[control]\n"
	                             "max_request = 64K\n"
	                             "max_clients = 10\n"
	                             "output_soft = 2M\n"
	                             "output_hard = 1G\n"
	                             "group = root\n"
	                             "emit_group = root\n"
	                             "admin_group =\n"
	                             "[bus]\n"
	                             "queue_size = 16777216\n"
	                             "history = 0\n"
	                             "batch = 65536\n"
	                             "listener_timeout = 1h\n"
	                             "[health]\n"
	                             "interval = 500ms\n"
	                             "[app]\n"
	                             "heartbeat = 2s\n"
	                             "heartbeat_event = yes\n");
	ck_assert_str_eq(CTL(c)->socket, "svcd.sock");
	ck_assert_int_eq(MGR(c)->log_level, LOGL_DEBUG);
	ck_assert(MGR(c)->shutdown_timeout == 60);
	ck_assert(MGR(c)->init_timeout == 1.5);
	ck_assert(MGR(c)->stop_timeout == 0.25);
	ck_assert_uint_eq(CTL(c)->max_request, 64 << 10);
	ck_assert_uint_eq(CTL(c)->max_clients, 10);
	ck_assert_uint_eq(CTL(c)->output_soft, 2 << 20);
	ck_assert_uint_eq(CTL(c)->output_hard, 1 << 30);
	ck_assert_str_eq(CTL(c)->group, "root");
	ck_assert_str_eq(CTL(c)->emit_group, "root");
	ck_assert_ptr_null(CTL(c)->admin_group);
	ck_assert_uint_eq(BUS(c)->queue_size, 16777216);
	ck_assert_uint_eq(BUS(c)->history, 0);
	ck_assert_uint_eq(BUS(c)->batch, 65536);
	ck_assert(BUS(c)->listener_timeout == 3600);
	ck_assert(HEALTH(c)->interval == 0.5);
	ck_assert(APP(c)->heartbeat == 2);
	ck_assert(APP(c)->heartbeat_event);
	svc_conf_free(c);
}
END_TEST

/* [control] max_tasks and max_task_data: defaults, values, ranges. */
START_TEST(test_task_limit_keys)
{
	struct svc_conf *c = conf_defaults();

	ck_assert_uint_eq(APP(c)->max_tasks, 1024);
	ck_assert_uint_eq(APP(c)->max_task_data, 64 << 10);
	svc_conf_free(c);
	c = load_ok("[control]\nmax_tasks = 5\nmax_task_data = 1M\n");
	ck_assert_uint_eq(APP(c)->max_tasks, 5);
	ck_assert_uint_eq(APP(c)->max_task_data, 1 << 20);
	svc_conf_free(c);
	expect_err("[control]\nmax_tasks = 0\n",
	           "F:2: bad value for 'max_tasks' in [control]: '0' is out of "
	           "range (1..1000000)");
	expect_err("[control]\nmax_task_data = 2G\n",
	           "F:2: bad value for 'max_task_data' in [control]: '2G' is "
	           "out of range (2..1G)");
}
END_TEST

START_TEST(test_socket_limit)
{
	char text[300], want[400];
	char name[108];

	memset(name, 'a', 107);
	name[107] = '\0';
	snprintf(text, sizeof(text), "[daemon]\nsocket = /%s\n", name + 1);
	struct svc_conf *c = load_ok(text);
	ck_assert_uint_eq(strlen(CTL(c)->socket), 107);
	svc_conf_free(c);
	snprintf(text, sizeof(text), "[daemon]\nsocket = /%s\n", name);
	snprintf(want, sizeof(want),
	         "F:2: bad value for 'socket' in "
	         "[daemon]: path is 108 bytes long (at most 107)");
	expect_err(text, want);
}
END_TEST

static const struct {
	const char *text;
	const char *want;
} errors[] = {
    /* sections and keys */
    {"[bus]\nqueu_size = 10\n", "F:2: unknown key 'queu_size' in [bus]"},
    {"; c\n[buss]\nx = 1\n", "F:2: unknown section [buss]"},
    {"[bus]\nbatch = 1\nbatch = 2\n", "F:3: duplicate key 'batch' in [bus]"},
    {"[bus]\n[daemon]\n[bus]\n",
     "F:3: duplicate section [bus] (first at line 1)"},
    {"queue_size = 1\n", "F:1: key 'queue_size' is outside of any section"},
    {"[journal]\nretention_count = many\n",
     "F:2: bad value for 'retention_count' in [journal]: 'many' is not a "
     "non-negative integer"},
    {"[journal]\nsync = sometimes\n",
     "F:2: bad value for 'sync' in [journal]: 'sometimes' is not always, "
     "batch or off"},
    {"\n[bridge]\nurl = redis:/x\n",
     "F:3: bad value for 'url' in [bridge]: bad URL 'redis:/x': use "
     "redis://HOST[:PORT][/DB], unix:///PATH or "
     "sentinel://HOST[:PORT][,...]/MASTER"},
    {"[timer]\nevery = 1s\n",
     "F:1: section [timer] needs a name: [timer.NAME]"},
    /* inih syntax errors */
    {"[bus\nbatch = 1\n", "F:1: unclosed section header '[bus' (missing ']')"},
    {"[bus]\nqueue_size\n", "F:2: expected 'key = value', got 'queue_size'"},
    {"[bus]\n= 3\n", "F:2: missing key name before '='"},
    {"[bus] x\n", "F:1: unexpected text 'x' after section header [bus]"},
    /* durations */
    {"[daemon]\nshutdown_timeout = 5x\n",
     "F:2: bad value for 'shutdown_timeout' in [daemon]: invalid duration "
     "unit in '5x' (use us, ms, s, m, h, d)"},
    {"[daemon]\ninit_timeout = 5\n",
     "F:2: bad value for 'init_timeout' in [daemon]: duration '5' needs a "
     "unit (ms, s, m, h)"},
    {"[daemon]\nstop_timeout = 0s\n",
     "F:2: bad value for 'stop_timeout' in [daemon]: '0s' must be more "
     "than 0"},
    {"[daemon]\nstop_timeout = 61m\n",
     "F:2: bad value for 'stop_timeout' in [daemon]: '61m' is more than the "
     "maximum of 1h"},
    {"[health]\ninterval =\n",
     "F:2: bad value for 'interval' in [health]: empty duration"},
    /* sizes and integers */
    {"[control]\nmax_request = 1X\n",
     "F:2: bad value for 'max_request' in [control]: invalid size unit in "
     "'1X' (use K, M, G)"},
    {"[control]\nmax_request = 2G\n",
     "F:2: bad value for 'max_request' in [control]: '2G' is out of range "
     "(1K..1G)"},
    {"[control]\nmax_clients = 0\n",
     "F:2: bad value for 'max_clients' in [control]: '0' is out of range "
     "(1..1000000)"},
    {"[bus]\nqueue_size = 99999999999999999999999\n",
     "F:2: bad value for 'queue_size' in [bus]: '99999999999999999999999' "
     "is out of range (1..16777216)"},
    {"[bus]\nhistory = -1\n",
     "F:2: bad value for 'history' in [bus]: '-1' is not a non-negative "
     "integer"},
    {"[control]\noutput_soft = 2M\noutput_hard = 1M\n",
     "F:3: bad value for 'output_hard' in [control]: 1M is less than "
     "output_soft (2M)"},
    {"[control]\noutput_soft = 16M\n",
     "F:2: bad value for 'output_soft' in [control]: 16M is more than "
     "output_hard (8M)"},
    /* other types */
    {"[daemon]\nlog_level = loud\n",
     "F:2: bad value for 'log_level' in [daemon]: 'loud' is not a log level "
     "(use error, warning, info or debug)"},
    {"[app]\nheartbeat_event = maybe\n",
     "F:2: bad value for 'heartbeat_event' in [app]: 'maybe' is not a "
     "boolean (use true or false)"},
    {"[daemon]\nsocket =\n",
     "F:2: bad value for 'socket' in [daemon]: empty path"},
    {"[control]\nadmin_group = svcd-no-such-group\n",
     "F:2: bad value for 'admin_group' in [control]: unknown group "
     "'svcd-no-such-group'"},
    /* timers */
    {"[timer.t]\nevery = 1s\nafter = 1s\nemit = x\n",
     "F:1: timer 't': 'every' and 'after' are both set (use one)"},
    {"[timer.t]\nemit = x\n", "F:1: timer 't': 'every' or 'after' is required"},
    {"\n[timer.t]\nevery = 1s\n", "F:2: timer 't': 'emit' is required"},
    {"[timer.t]\nevery = 1s\nemit = a b\n",
     "F:3: bad value for 'emit' in [timer.t]: 'a b' is not a valid event "
     "name (1-128 characters of A-Z a-z 0-9 _ . : -)"},
    {"[timer.t]\nevery = 1s\nemit = x\ndata = [1]\n",
     "F:4: bad value for 'data' in [timer.t]: not a JSON object"},
    {"[timer.t]\nevery = 1s\nemit = x\ndata = {\"a\":1,\"a\":2}\n",
     "F:4: bad value for 'data' in [timer.t]: invalid JSON: duplicate object "
     "key near '\"a\"'"},
    {"[timer.t]\nevery = 5\nemit = x\n",
     "F:2: bad value for 'every' in [timer.t]: duration '5' needs a unit "
     "(ms, s, m, h)"},
    {"[timer.t]\nafter = 31d\nemit = x\n",
     "F:2: bad value for 'after' in [timer.t]: '31d' is more than the "
     "maximum of 30d"},
    /* the one duration parser (daemon/util.h), as `schedule` has it */
    {"[timer.t]\nevery = 0x10s\nemit = x\n",
     "F:2: bad value for 'every' in [timer.t]: invalid duration unit in "
     "'0x10s' (use us, ms, s, m, h, d)"},
    {"[timer.t]\nafter = 9999999999999999999d\nemit = x\n",
     "F:2: bad value for 'after' in [timer.t]: '9999999999999999999d' is "
     "more than the maximum of 30d"},
    {"[timer.t]\nevery = 1e30s\nemit = x\n",
     "F:2: bad value for 'every' in [timer.t]: '1e30s' is more than the "
     "maximum of 30d"},
    {"[journal]\nretention_age = 1e400s\n",
     "F:2: bad value for 'retention_age' in [journal]: duration '1e400s' "
     "is too large"},
    {"[timer.t]\nevery = 1s\nemit = x\nevry = 2s\n",
     "F:4: unknown key 'evry' in [timer.t]"},
    {"[timer.a]\nevery = 1s\nemit = x\n[timer.a]\nafter = 1s\nemit = y\n",
     "F:4: duplicate section [timer.a] (first at line 1)"},
    /* a timer over a service's own task: known before anything starts */
    {"[timer.health]\nevery = 1h\nemit = x\n",
     "F:1: [timer.health]: task 'health' belongs to service 'health' "
     "(rename the timer)"},
    {"\n[timer.journal.prune]\nafter = 1s\nemit = x\n",
     "F:2: [timer.journal.prune]: task 'journal.prune' belongs to service "
     "'journal' (rename the timer)"},
    {"[timer.a b]\n",
     "F:1: bad timer name 'a b' in [timer.a b] (1-64 characters of A-Z a-z "
     "0-9 _ . : -)"},
    {"[timer.]\n",
     "F:1: bad timer name '' in [timer.] (1-64 characters of A-Z a-z 0-9 _ "
     ". : -)"},
    /* hooks */
    {"[hook.h]\non = *\nexec = /nope\n",
     "F:3: hook 'h': exec '/nope' is not an executable file"},
    {"[hook.h]\non = *\nexec = /\n",
     "F:3: hook 'h': exec '/' is not an executable file"},
    {"[hook.h]\non = *\nexec = sh -c true\n",
     "F:3: hook 'h': exec 'sh' is not an absolute path"},
    {"[hook.h]\non = *\nexec = /bin/sh -c 'true\n",
     "F:3: hook 'h': exec: unterminated single quote"},
    {"[hook.h]\non = *\nexec = /bin/sh \"x\n",
     "F:3: hook 'h': exec: unterminated double quote"},
    {"[hook.h]\non = *\nexec = ''\n",
     "F:3: hook 'h': exec '' is not an absolute path"},
    {"[hook.h]\non = *\nexec =\n", "F:3: hook 'h': exec: empty command"},
    {"[hook.h]\non = a*\nexec = /bin/sh\n",
     "F:2: bad value for 'on' in [hook.h]: 'a*' is not an event pattern "
     "(NAME, PREFIX.* or *)"},
    {"[hook.h]\nexec = /bin/sh\n", "F:1: hook 'h': 'on' is required"},
    {"[hook.h]\non = x\n",
     "F:1: hook 'h': one of 'exec', 'url' or 'listen' is required"},
    {"[hook.h]\non = x\nurl = ftp://x/\n",
     "F:3: bad value for 'url' in [hook.h]: not an http:// or https:// URL"},
    {"[hook.h]\non = x\nurl = http://a\tb/\n",
     "F:3: bad value for 'url' in [hook.h]: a URL has no blank or control "
     "character"},
    {"[hook.h]\non = x\nlisten = /bin/sh\nurl = http://x/\n",
     "F:4: hook 'h': 'url' and 'listen' exclude each other (one kind of "
     "hook)"},
    {"[hook.h]\non = x\nurl = http://x/\nsecret_file = /etc/hostname\n",
     "F:4: bad value for 'secret_file' in [hook.h]: /etc/hostname is not a "
     "regular file of mode 0600 or stricter (others may read it)"},
    {"[hook.h]\non = x\nexec = /bin/sh\nheaders = {\"A\": \"b\"}\n",
     "F:4: hook 'h': 'headers' is for webhooks (url =)"},
    {"[hook.h]\non = x\nurl = http://x/\nheaders = {\"A\": 1}\n",
     "F:4: hook 'h': headers: 'A' is not a header name with a string value "
     "on one line"},
    {"[hook.h]\non = x\nurl = http://x/\nheaders = {\"x-svcd-seq\": \"1\"}\n",
     "F:4: hook 'h': headers: 'x-svcd-seq' is set by svcd on every "
     "delivery"},
    {"[hook.h]\non = x\nurl = http://x/\nheaders = {\"Content-Type\": \"t\"}\n",
     "F:4: hook 'h': headers: 'Content-Type' is set by svcd on every "
     "delivery"},
    {"[hook.h]\non = x\nlisten = /no/such\n",
     "F:3: hook 'h': listen '/no/such' is not an executable file"},
    {"[hook.h]\non = x\nlisten = /bin/sh\nwindow = 0\n",
     "F:4: bad value for 'window' in [hook.h]: '0' is out of range "
     "(1..4096)"},
    {"[hook.h]\non = *\nexec = /bin/sh\nconcurrency = 65\n",
     "F:4: bad value for 'concurrency' in [hook.h]: '65' is out of range "
     "(1..64)"},
    {"[hook.h]\non = *\nexec = /bin/sh\nretries = 11\n",
     "F:4: bad value for 'retries' in [hook.h]: '11' is out of range "
     "(0..10)"},
    {"[hook.h]\non = *\nexec = /bin/sh\ntimeout = 0ms\n",
     "F:4: bad value for 'timeout' in [hook.h]: '0ms' must be more than 0"},
};

START_TEST(test_error)
{
	expect_err(errors[_i].text, errors[_i].want);
}
END_TEST

START_TEST(test_bad_json)
{
	char *got = load_err("[timer.t]\nevery = 1s\nemit = x\ndata = {\n");
	const char *want = "F:4: bad value for 'data' in [timer.t]: invalid "
	                   "JSON: ";
	ck_assert_msg(!strncmp(got, want, strlen(want)), "got %s", got);
	ck_assert_ptr_null(strchr(got, '\n'));
	free(got);
}
END_TEST

START_TEST(test_many_errors)
{
	/* All reported, sorted by line (a timer's check sits at its header),
	 * one per line, no trailing newline. */
	expect_err(
	    "[daemon]\n"
	    "log_level = loud\n"
	    "[timer.t]\n"
	    "every = 1s\n"
	    "emit = bad name\n"
	    "[bus]\n"
	    "queu_size = 1\n"
	    "batch = 0\n"
	    "batch = 1\n"
	    "oops\n"
	    "[journal]\n"
	    "sync = never\n"
	    "[control]\n"
	    "group = svcd-no-such-group\n",
	    "F:2: bad value for 'log_level' in [daemon]: 'loud' is not "
	    "a log level (use error, warning, info or debug)\n"
	    "F:5: bad value for 'emit' in [timer.t]: 'bad name' is not a "
	    "valid event name (1-128 characters of A-Z a-z 0-9 _ . : -)\n"
	    "F:7: unknown key 'queu_size' in [bus]\n"
	    "F:8: bad value for 'batch' in [bus]: '0' is out of range "
	    "(1..65536)\n"
	    "F:9: duplicate key 'batch' in [bus]\n"
	    "F:10: expected 'key = value', got 'oops'\n"
	    "F:12: bad value for 'sync' in [journal]: 'never' is not always, "
	    "batch or off\n"
	    "F:14: bad value for 'group' in [control]: unknown group "
	    "'svcd-no-such-group'");
	/* a check at a header sorts before the errors inside the section */
	expect_err("[timer.t]\nevery = 1x\n",
	           "F:1: timer 't': 'emit' is required\n"
	           "F:2: bad value for 'every' in [timer.t]: invalid duration "
	           "unit in '1x' (use us, ms, s, m, h, d)");
}
END_TEST

START_TEST(test_comments_and_blanks)
{
	struct svc_conf *c = load_ok("\xEF\xBB\xBF; a comment\n"
	                             "# another\n"
	                             "\n"
	                             "   \n"
	                             "[bus]   ; section comment\n"
	                             "  queue_size = 10   ; inline comment\n"
	                             "\t; indented comment\n"
	                             "batch:3\r\n"
	                             "[ app ]\n"
	                             "heartbeat = 2s\n");
	ck_assert_uint_eq(BUS(c)->queue_size, 10);
	ck_assert_uint_eq(BUS(c)->batch, 3);
	ck_assert(APP(c)->heartbeat == 2);
	svc_conf_free(c);
	/* ';' without a blank before it is part of the value */
	expect_err("[bus]\nhistory = 5;x\n",
	           "F:2: bad value for 'history' in [bus]: '5;x' is not a "
	           "non-negative integer");
	/* '#' is a comment only at the start of a line */
	expect_err("[bus]\nhistory = 5 # five\n",
	           "F:2: bad value for 'history' in [bus]: '5 # five' is not a "
	           "non-negative integer");
}
END_TEST

START_TEST(test_timers_and_hooks)
{
	struct svc_conf *c =
	    load_ok("[timer.zeta]\n"
	            "every = 30s\n"
	            "emit = tick.zeta\n"
	            "[hook.b]\n"
	            "on = user.*\n"
	            "exec = /bin/echo 'a b' \"c \\\"d\\\"\" e\\ f 'g'\"h\" ''\n"
	            "timeout = 2m\n"
	            "concurrency = 4\n"
	            "retries = 2\n"
	            "[timer.alpha]\n"
	            "after = 250ms\n"
	            "emit = boot:done\n"
	            "data = { \"n\" : 1, \"s\": [true, null], \"pi\": "
	            "3.141592653589793, \"e\": 1.0E+2, \"z\": -0 }\n"
	            "[hook.a]\n"
	            "on = *\n"
	            "exec = /bin/sh\n");
	const struct svc_conf_list *timers = &APP(c)->timers;
	ck_assert_uint_eq(timers->n, 2);
	const struct app_timer *t = timers->v[0];
	ck_assert_str_eq(t->inst.name, "zeta");
	ck_assert(t->every == 30);
	ck_assert(t->after == 0);
	ck_assert_str_eq(t->emit, "tick.zeta");
	ck_assert_str_eq(t->data, "{}");
	ck_assert_int_eq(t->inst.line, 1);
	t = timers->v[1];
	ck_assert_str_eq(t->inst.name, "alpha");
	ck_assert(t->every == 0);
	ck_assert(t->after == 0.25);
	ck_assert_str_eq(t->emit, "boot:done");
	/* compacted, numbers as written (never re-serialised) */
	ck_assert_str_eq(t->data, "{\"n\":1,\"s\":[true,null],"
	                          "\"pi\":3.141592653589793,\"e\":1.0E+2,"
	                          "\"z\":-0}");
	ck_assert_int_eq(t->inst.line, 10);

	const struct svc_conf_list *hooks = &HOOKS(c)->hooks;
	ck_assert_uint_eq(hooks->n, 2);
	const struct hook_conf *h = hooks->v[0];
	ck_assert_str_eq(h->inst.name, "b");
	ck_assert_str_eq(h->on, "user.*");
	const char *want[] = {"/bin/echo", "a b", "c \"d\"", "e f", "gh", ""};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		ck_assert_ptr_nonnull(h->argv[i]);
		ck_assert_str_eq(h->argv[i], want[i]);
	}
	ck_assert_ptr_null(h->argv[ARRAY_SIZE(want)]);
	ck_assert(h->timeout == 120);
	ck_assert_uint_eq(h->concurrency, 4);
	ck_assert_uint_eq(h->retries, 2);
	ck_assert_int_eq(h->inst.line, 4);
	h = hooks->v[1];
	ck_assert_str_eq(h->inst.name, "a");
	ck_assert_str_eq(h->on, "*");
	ck_assert_str_eq(h->argv[0], "/bin/sh");
	ck_assert_ptr_null(h->argv[1]);
	ck_assert(h->timeout == 30);
	ck_assert_uint_eq(h->concurrency, 1);
	ck_assert_uint_eq(h->retries, 0);
	ck_assert(h->backoff == 1);
	svc_conf_free(c);
}
END_TEST

START_TEST(test_long_lines)
{
	/* Longer than inih's 200-byte line buffer: parsed, not cut. */
	struct buf b = {0};
	buf_puts(&b, "[timer.long]\nevery = 1s\nemit = x\ndata = {");
	for (int i = 0; i < 60; i++)
		buf_printf(&b, "%s\"k%02d\": %d", i ? ", " : "", i, i);
	buf_puts(&b, "}   ; comment\n[hook.long]\non = x\nexec = /bin/echo");
	for (int i = 0; i < 60; i++)
		buf_printf(&b, " arg%02d", i);
	buf_puts(&b, "\n[bus]\nbatch = 9\n");
	buf_putc(&b, '\0');
	ck_assert_uint_gt(b.len, 1000);
	struct svc_conf *c = load_ok(buf_head(&b));
	buf_free(&b);
	const struct app_timer *t = APP(c)->timers.v[0];
	const struct hook_conf *h = HOOKS(c)->hooks.v[0];
	ck_assert_ptr_nonnull(strstr(t->data, "\"k59\":59}"));
	ck_assert_ptr_nonnull(strstr(t->data, "{\"k00\":0,"));
	ck_assert_str_eq(h->argv[60], "arg59");
	ck_assert_ptr_null(h->argv[61]);
	ck_assert_uint_eq(BUS(c)->batch, 9);
	svc_conf_free(c);

	/* errors on a long line carry its number too */
	struct buf e = {0};
	buf_puts(&e, "\n[bus]\nqueue_size = 1");
	for (int i = 0; i < 300; i++)
		buf_putc(&e, '0');
	buf_puts(&e, "\n");
	buf_putc(&e, '\0');
	char *got = load_err(buf_head(&e));
	buf_free(&e);
	ck_assert_msg(!strncmp(got,
	                       "F:3: bad value for 'queue_size' in [bus]: "
	                       "'10000",
	                       46),
	              "got %s", got);
	free(got);
}
END_TEST

START_TEST(test_cannot_read)
{
	char *cause = NULL;
	char missing[300], want[400], sub[300];

	snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
	ck_assert_ptr_null(conf_load(missing, &cause));
	snprintf(want, sizeof(want), "cannot read %s: %s", missing,
	         strerror(ENOENT));
	ck_assert_str_eq(cause, want);
	free(cause);

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	cause = NULL;
	ck_assert_ptr_null(conf_load(sub, &cause));
	snprintf(want, sizeof(want), "%s: not a regular file (a directory)",
	         sub);
	ck_assert_str_eq(cause, want);
	free(cause);
}
END_TEST

/* Fails (in well under Check's timeout: never blocks) with the message. */
static void
expect_refused(const char *file, const char *msg)
{
	char *cause = NULL;
	char want[400];

	ck_assert_ptr_null(conf_load(file, &cause));
	snprintf(want, sizeof(want), "%s: %s", file, msg);
	ck_assert_str_eq(cause, want);
	free(cause);
}

START_TEST(test_not_regular)
{
	char fifo[300];

	/* a FIFO without a writer: the old fopen() waited for one forever */
	snprintf(fifo, sizeof(fifo), "%s/sub", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	expect_refused(fifo, "not a regular file (a FIFO)");
	/* endless: the old reader grew without bound */
	expect_refused("/dev/zero", "not a regular file (a character device)");
	expect_refused("/dev/null", "not a regular file (a character device)");
}
END_TEST

START_TEST(test_too_large)
{
	char want[100];
	FILE *f;

	/* one byte over the cap, all of it NULs (sparse) */
	write_file(path, "[bus]\n");
	ck_assert_int_eq(truncate(path, (4 << 20) + 1), 0);
	snprintf(want, sizeof(want), "too large (%d bytes, at most 4 MiB)",
	         (4 << 20) + 1);
	expect_refused(path, want);

	/* one endless line of 10 MB */
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("[bus]\nqueue_size = ", f);
	for (int i = 0; i < 10 << 20; i++)
		putc('1', f);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(want, sizeof(want), "too large (%d bytes, at most 4 MiB)",
	         (10 << 20) + 19);
	expect_refused(path, want);

	/* exactly at the cap is read (and parsed: blank lines) */
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("[bus]\nbatch = 7\n", f);
	for (int i = 16; i < 4 << 20; i++)
		putc('\n', f);
	ck_assert_int_eq(fclose(f), 0);
	char *cause = NULL;
	struct svc_conf *c = conf_load(path, &cause);
	ck_assert_msg(c != NULL, "%s", cause);
	ck_assert_uint_eq(BUS(c)->batch, 7);
	svc_conf_free(c);
}
END_TEST

/* text, then a 2 MB run of ch, then tail: the error, which must be short */
static char *
long_err(const char *text, char ch, const char *tail)
{
	struct buf b = {0};

	buf_puts(&b, text);
	for (int i = 0; i < 2 << 20; i++)
		buf_putc(&b, ch);
	buf_puts(&b, tail);
	buf_putc(&b, '\0');
	char *got = load_err(buf_head(&b));
	buf_free(&b);
	ck_assert_msg(strlen(got) < 300, "%zu bytes: %.300s", strlen(got), got);
	return got;
}

START_TEST(test_long_line_quoted_short)
{
	char run[81];
	char want[400];
	char *got;

	memset(run, '1', 80);
	run[80] = '\0';
	/* a value: the parser's own message keeps its end */
	got = long_err("[bus]\nqueue_size = ", '1', "\n");
	snprintf(want, sizeof(want),
	         "F:2: bad value for 'queue_size' in [bus]: '%s...' is out of "
	         "range (1..16777216)",
	         run);
	ck_assert_str_eq(got, want);
	free(got);

	memset(run, 'k', 80);
	got = long_err("[bus]\n", 'k', " = 1\n");
	snprintf(want, sizeof(want), "F:2: unknown key '%s...' in [bus]", run);
	ck_assert_str_eq(got, want);
	free(got);

	memset(run, 's', 80);
	got = long_err("[", 's', "]\nx = 1\n");
	snprintf(want, sizeof(want), "F:1: unknown section [%s...]", run);
	ck_assert_str_eq(got, want);
	free(got);

	memset(run, 'w', 80);
	got = long_err("[bus]\n", 'w', "\n");
	snprintf(want, sizeof(want), "F:2: expected 'key = value', got '%s...'",
	         run);
	ck_assert_str_eq(got, want);
	free(got);

	/* a message a callee built around a part of the value is cut too */
	got =
	    long_err("[bridge]\nurl = redis://h\npublish = a ", 'p', "\\ b\n");
	ck_assert_ptr_nonnull(strstr(got, "is not an event pattern"));
	free(got);
}
END_TEST

START_TEST(test_quote_escapes)
{
	/* control characters never reach a log line raw */
	expect_err("[daemon]\nlog_level = a\x1b[31mb\x01\tc\rd\n",
	           "F:2: bad value for 'log_level' in [daemon]: "
	           "'a\\x1B[31mb\\x01\\tc\\rd' is not a log level (use "
	           "error, warning, info or debug)");
	/* invalid UTF-8 is escaped, valid UTF-8 kept */
	expect_err("[bus]\nqu\xc3\xa9ue = 1\nq\xff = 2\n",
	           "F:2: unknown key 'qu\xc3\xa9ue' in [bus]\n"
	           "F:3: unknown key 'q\\xFF' in [bus]");
}
END_TEST

START_TEST(test_errors_capped)
{
	struct buf b = {0};

	buf_puts(&b, "[bus]\n");
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "k%d = 1\n", i);
	buf_putc(&b, '\0');
	char *got = load_err(buf_head(&b));
	buf_free(&b);
	size_t lines = 1;
	for (const char *s = got; *s; s++)
		lines += *s == '\n';
	ck_assert_uint_eq(lines, 101);
	ck_assert_ptr_nonnull(strstr(got, "F:101: unknown key 'k99' in [bus]\n"
	                                  "F: 900 more errors not shown"));
	free(got);
}
END_TEST

/* Restart-only keys: warned about, and the old value kept in the new
 * configuration (what is reported is what is in effect). */
START_TEST(test_check_reload)
{
	struct svc_conf *a = conf_defaults(), *b = conf_defaults();
	char *warn = (char *)1;

	MGR(b)->log_level = LOGL_DEBUG; /* reloadable: no warning */
	CTL(b)->max_clients = 3;
	HEALTH(b)->interval = 1;
	APP(b)->heartbeat_event = true;
	CTL(b)->emit_group = xstrdup("root"); /* control re-resolves these */
	CTL(b)->admin_group = xstrdup("root");
	MGR(b)->init_timeout = 1;
	svc_conf_keep_restart(b, a, &warn);
	ck_assert_ptr_null(warn);
	ck_assert(svc_conf_changed(a, b, "control"));
	ck_assert(svc_conf_changed(a, b, "manager"));
	ck_assert(!svc_conf_changed(a, b, "bus"));
	ck_assert(!svc_conf_changed(a, b, "worker")); /* no options */

	free(CTL(b)->socket);
	CTL(b)->socket = xstrdup("/tmp/other.sock");
	CTL(b)->group = xstrdup("root");
	BUS(b)->queue_size = 10;
	BUS(b)->history = 3;
	BUS(b)->batch = 1;
	BUS(b)->listener_timeout = 1;
	svc_conf_keep_restart(b, a, &warn);
	/* in table order: bus before control */
	ck_assert_str_eq(warn, "queue_size changed; takes effect after a "
	                       "restart\n"
	                       "history changed; takes effect after a restart\n"
	                       "batch changed; takes effect after a restart\n"
	                       "listener_timeout changed; takes effect after a "
	                       "restart\n"
	                       "socket changed; takes effect after a restart\n"
	                       "group changed; takes effect after a restart");
	free(warn);

	/* kept: a second pass finds nothing */
	svc_conf_keep_restart(b, a, &warn);
	ck_assert_ptr_null(warn);
	ck_assert_str_eq(CTL(b)->socket, "/run/svcd/svcd.sock");
	ck_assert_ptr_null(CTL(b)->group);
	ck_assert_uint_eq(BUS(b)->queue_size, 65536);
	ck_assert_uint_eq(BUS(b)->batch, 256);
	ck_assert(BUS(b)->listener_timeout == 30);
	ck_assert(!svc_conf_changed(a, b, "bus"));
	ck_assert_uint_eq(CTL(b)->max_clients, 3); /* reloadable keys kept */
	ck_assert_str_eq(CTL(b)->emit_group, "root");
	ck_assert_str_eq(CTL(b)->admin_group, "root");

	/* [journal] and hooks are restart-only too: said so on reload */
	JOURNAL(b)->enabled = true;
	JOURNAL(b)->sync = !JOURNAL(a)->sync;
	svc_conf_keep_restart(b, a, &warn);
	ck_assert_str_eq(warn,
	                 "[journal] changed; takes effect after a restart");
	free(warn);
	ck_assert(!JOURNAL(b)->enabled);
	ck_assert_int_eq(JOURNAL(b)->sync, JOURNAL(a)->sync);
	struct svc_conf_list *l = &HOOKS(b)->hooks;
	struct hook_conf *h = xcalloc(1, sizeof(*h));
	h->inst.name = xstrdup("mail");
	h->on = xstrdup("user.*");
	h->argv = xcalloc(2, sizeof(char *));
	h->argv[0] = xstrdup("/bin/true");
	l->v = xcalloc(1, sizeof(*l->v));
	l->v[l->n++] = h;
	svc_conf_keep_restart(b, a, &warn);
	ck_assert_str_eq(warn,
	                 "[hook.NAME] sections changed; takes effect after a "
	                 "restart");
	free(warn);
	ck_assert_uint_eq(HOOKS(b)->hooks.n, 0);
	ck_assert_int_eq(MGR(b)->log_level, LOGL_DEBUG);

	/* a service that refused its part keeps all of its old options */
	svc_conf_keep_service(b, a, "control");
	ck_assert_uint_eq(CTL(b)->max_clients, 1024);
	ck_assert_ptr_null(CTL(b)->emit_group);
	ck_assert_int_eq(MGR(b)->log_level, LOGL_DEBUG);
	svc_conf_free(a);
	svc_conf_free(b);
}
END_TEST

START_TEST(test_shipped_conf)
{
	char *cause = NULL;
	struct svc_conf *c = conf_load("conf/svcd.conf", &cause);
	if (!c)
		ck_abort_msg("conf/svcd.conf: %s", cause);
	/* what `make run` relies on */
	ck_assert(!APP(c)->heartbeat_event);
	ck_assert_uint_eq(APP(c)->timers.n, 0);
	ck_assert_uint_eq(HOOKS(c)->hooks.n, 0);
	ck_assert_str_eq(svc_conf_file(c), "conf/svcd.conf");
	svc_conf_free(c);
}
END_TEST

/* Sizes and counts that must be at least 1: zero and negative values are
 * refused, and the error names the key, its section and its line. */
static const struct {
	const char *section, *key, *extra;
} at_least_one[] = {
    {"bus", "queue_size", ""},
    {"bus", "batch", ""},
    {"control", "max_clients", ""},
    {"control", "max_request", ""},
    {"control", "output_soft", ""},
    {"bridge", "buffer", "url = redis://127.0.0.1:6379\n"},
    {"hook.h", "concurrency", "on = *\nexec = /bin/sh\n"},
};

START_TEST(test_sizes_at_least_one)
{
	const char *vals[] = {"0", "-1", "0K"};
	bool bytes = !strcmp(at_least_one[_i].key, "max_request") ||
	             !strcmp(at_least_one[_i].key, "output_soft");
	char text[200], want[200];
	int line = 3;

	for (const char *p = at_least_one[_i].extra; *p; p++)
		line += *p == '\n';
	for (size_t v = 0; v < ARRAY_SIZE(vals); v++) {
		if (v == 2 && !bytes)
			continue; /* a size unit only for byte sizes */
		snprintf(text, sizeof(text), "[%s]\n%s; a comment\n%s = %s\n",
		         at_least_one[_i].section, at_least_one[_i].extra,
		         at_least_one[_i].key, vals[v]);
		snprintf(want, sizeof(want),
		         "F:%d: bad value for '%s' in [%s]: ", line,
		         at_least_one[_i].key, at_least_one[_i].section);
		char *got = load_err(text);
		ck_assert_msg(!strncmp(got, want, strlen(want)),
		              "for:\n%s\nwant: %s...\ngot:  %s", text, want,
		              got);
		ck_assert_msg(strstr(got, vals[v]) != NULL, "got: %s", got);
		free(got);
	}
	/* and the lower bound is accepted */
	snprintf(text, sizeof(text), "[%s]\n%s%s = %s\n",
	         at_least_one[_i].section, at_least_one[_i].extra,
	         at_least_one[_i].key, bytes ? "1K" : "1");
	svc_conf_free(load_ok(text));
}
END_TEST

/* ---- the engine, with a tiny table of test services ---- */

struct alpha_conf {
	unsigned a;
	char *r; /* restart-only */
	uint64_t size;
	bool present;
};

struct beta_item {
	struct svc_conf_instance inst;
	size_t v;
	bool w;
};

struct beta_conf {
	double b;
	struct svc_conf_list items;
};

static const struct svc_conf_item alpha_shared[] = {
    {.key = "a",
     .type = &svc_conf_uint,
     .off = offsetof(struct alpha_conf, a),
     .dflt = "5",
     .min = "1",
     .max = "9"},
    {.key = "r",
     .type = &svc_conf_string,
     .off = offsetof(struct alpha_conf, r),
     .dflt = "x",
     .flags = SVC_CONF_RESTART},
};

static const struct svc_conf_item alpha_own[] = {
    {.key = "size",
     .type = &svc_conf_size,
     .off = offsetof(struct alpha_conf, size),
     .dflt = "2K",
     .max = "1M"},
};

/* size may not be 3K: said at the key's line */
static int
alpha_check(struct svc_conf_ctx *cx, void *opts)
{
	const struct alpha_conf *c = opts;

	if (c->size != 3 << 10)
		return 0;
	svc_conf_error(cx, svc_conf_key_line(cx, "size"),
	               "[alpha]: size may not be 3K");
	return -1;
}

static const struct svc_conf_section alpha_shared_section = {
    .name = "shared",
    SVC_CONF_ITEMS(alpha_shared),
};
static const struct svc_conf_section alpha_section = {
    .name = "alpha",
    SVC_CONF_ITEMS(alpha_own),
    .has_present = true,
    .present_off = offsetof(struct alpha_conf, present),
    .check = alpha_check,
};

/* the whole file: a = 7 and size = 7K together are refused */
static int
alpha_desc_check(const void *opts, char **cause)
{
	const struct alpha_conf *c = opts;

	if (c->a != 7 || c->size != 7 << 10)
		return 0;
	*cause = xstrdup("alpha: a = 7 with size = 7K");
	return -1;
}

static const struct svc_desc alpha_desc = {
    .name = "alpha",
    .conf = SVC_CONF_SECTIONS(&alpha_shared_section, &alpha_section),
    .conf_size = sizeof(struct alpha_conf),
    .check = alpha_desc_check,
};

static const struct svc_conf_item beta_shared[] = {
    {.key = "b",
     .type = &svc_conf_duration,
     .off = offsetof(struct beta_conf, b),
     .dflt = "2s",
     .max = "1m"},
};

static const struct svc_conf_item beta_item_items[] = {
    {.key = "v",
     .type = &svc_conf_count,
     .off = offsetof(struct beta_item, v),
     .dflt = "1",
     .max = "10"},
    {.key = "w", .type = &svc_conf_bool, .off = offsetof(struct beta_item, w)},
};

static const struct svc_conf_section beta_shared_section = {
    .name = "shared",
    SVC_CONF_ITEMS(beta_shared),
};
static const struct svc_conf_section beta_item_section = {
    .name = "item",
    SVC_CONF_ITEMS(beta_item_items),
    .named = true,
    .inst_size = sizeof(struct beta_item),
    .list_off = offsetof(struct beta_conf, items),
};

static int beta_reloads;

/* refuses b over 10 s */
static int
beta_reload(struct svc *self, const void *old, const void *new, char **cause)
{
	const struct beta_conf *c = new;

	beta_reloads++;
	if (c->b <= 10)
		return 0;
	*cause = xstrdup("b is too slow");
	return -1;
}

static const struct svc_desc beta_desc = {
    .name = "beta",
    .conf = SVC_CONF_SECTIONS(&beta_shared_section, &beta_item_section),
    .conf_size = sizeof(struct beta_conf),
    .reload = beta_reload,
};

static const struct svc_desc plain_desc = {.name = "plain"};

static const struct svc_desc *const tiny[] = {&alpha_desc, &beta_desc,
                                              &plain_desc};

#define ALPHA(c) OPTS(c, "alpha", struct alpha_conf)
#define BETA(c)  OPTS(c, "beta", struct beta_conf)

static struct svc_conf *
tiny_load(const char *text, char **cause)
{
	write_file(path, text);
	return svc_conf_load(path, tiny, ARRAY_SIZE(tiny), cause);
}

static void
tiny_err(const char *text, const char *want)
{
	char *cause = NULL, got[1024];
	size_t plen = strlen(path);

	ck_assert_ptr_null(tiny_load(text, &cause));
	ck_assert_ptr_nonnull(cause);
	/* the path replaced by "F" */
	size_t o = 0;
	for (const char *q = cause; *q && o + 1 < sizeof(got);) {
		if (!strncmp(q, path, plen)) {
			got[o++] = 'F';
			q += plen;
		} else {
			got[o++] = *q++;
		}
	}
	got[o] = '\0';
	ck_assert_msg(!strcmp(got, want), "want: %s\ngot:  %s", want, got);
	free(cause);
}

START_TEST(test_engine_defaults_from_text)
{
	struct svc_conf *c = svc_conf_load(NULL, tiny, ARRAY_SIZE(tiny), NULL);

	ck_assert_uint_eq(ALPHA(c)->a, 5);
	ck_assert_str_eq(ALPHA(c)->r, "x");
	ck_assert_uint_eq(ALPHA(c)->size, 2048);
	ck_assert(!ALPHA(c)->present);
	ck_assert(BETA(c)->b == 2);
	ck_assert_uint_eq(BETA(c)->items.n, 0);
	ck_assert_ptr_null(svc_conf_options(c, "plain"));
	svc_conf_free(c);
}
END_TEST

/* %p in a default is the program's name (svc_conf_set_program), %% a % */
struct gamma_conf {
	char *where, *pct;
};
static const struct svc_conf_item gamma_items[] = {
    {.key = "where",
     .type = &svc_conf_socket,
     .off = offsetof(struct gamma_conf, where),
     .dflt = "/run/%p/%p.sock"},
    {.key = "pct",
     .type = &svc_conf_string,
     .off = offsetof(struct gamma_conf, pct),
     .dflt = "100%%-%q-%"},
};
static const struct svc_conf_section gamma_section = {
    .name = "gamma",
    SVC_CONF_ITEMS(gamma_items),
};
static const struct svc_desc gamma_desc = {
    .name = "gamma",
    .conf = SVC_CONF_SECTIONS(&gamma_section),
    .conf_size = sizeof(struct gamma_conf),
};

START_TEST(test_default_program_name)
{
	const struct svc_desc *const t[] = {&gamma_desc};
	struct svc_conf *c;
	const struct gamma_conf *g;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	ck_assert_str_eq(svc_conf_program(), "svcd");
	c = svc_conf_load(NULL, t, 1, NULL);
	g = svc_conf_options(c, "gamma");
	ck_assert_str_eq(g->where, "/run/svcd/svcd.sock");
	ck_assert_str_eq(g->pct, "100%-%q-%");
	svc_conf_free(c);

	svc_conf_set_program("exampled");
	ck_assert_str_eq(svc_conf_program(), "exampled");
	c = svc_conf_load(NULL, t, 1, NULL);
	g = svc_conf_options(c, "gamma");
	ck_assert_str_eq(g->where, "/run/exampled/exampled.sock");
	svc_conf_free(c);
	/* --help-config shows the default the daemon uses */
	f = open_memstream(&text, &len);
	ck_assert_int_eq(svc_conf_print_schema(f, t, 1, "gamma"), 0);
	fclose(f);
	ck_assert_ptr_nonnull(
	    strstr(text, "#where = /run/exampled/exampled.sock\n"));
	ck_assert_ptr_nonnull(strstr(text, "#pct = 100%-%q-%\n"));
	free(text);

	svc_conf_set_program(NULL); /* back to svcd */
	ck_assert_str_eq(svc_conf_program(), "svcd");
	ck_assert_ptr_null(svc_conf_default(&beta_item_items[1]));
}
END_TEST

START_TEST(test_engine_shared_section)
{
	char *cause = NULL;
	struct svc_conf *c =
	    tiny_load("[shared]\nb = 3s\na = 8\nr = y\n[alpha]\n", &cause);

	ck_assert_msg(c != NULL, "%s", cause);
	ck_assert_uint_eq(ALPHA(c)->a, 8);
	ck_assert_str_eq(ALPHA(c)->r, "y");
	ck_assert(BETA(c)->b == 3);
	ck_assert(ALPHA(c)->present);
	ck_assert_str_eq(*(char *const *)svc_conf_lookup(c, "shared", "r"),
	                 "y");
	ck_assert_ptr_null(svc_conf_lookup(c, "shared", "nope"));
	svc_conf_free(c);

	tiny_err("[shared]\na = 1\nzz = 2\n",
	         "F:3: unknown key 'zz' in [shared]");
	tiny_err("[shared]\na = 10\nb = 2m\n",
	         "F:2: bad value for 'a' in [shared]: '10' is out of range "
	         "(1..9)\n"
	         "F:3: bad value for 'b' in [shared]: '2m' is more than the "
	         "maximum of 1m");
	tiny_err("[gamma]\n", "F:1: unknown section [gamma]");
	/* a section's check, at the key's line; the descriptor's, at none */
	tiny_err("[alpha]\n\nsize = 3K\n", "F:3: [alpha]: size may not be 3K");
	tiny_err("[shared]\na = 7\n[alpha]\nsize = 7K\n",
	         "F: alpha: a = 7 with size = 7K");
}
END_TEST

START_TEST(test_engine_named_sections)
{
	char *cause = NULL;
	struct svc_conf *c =
	    tiny_load("[item.one]\nv = 3\nw = yes\n[item.two]\n", &cause);

	ck_assert_msg(c != NULL, "%s", cause);
	ck_assert_uint_eq(BETA(c)->items.n, 2);
	const struct beta_item *one = BETA(c)->items.v[0];
	const struct beta_item *two = BETA(c)->items.v[1];
	ck_assert_str_eq(one->inst.name, "one");
	ck_assert_int_eq(one->inst.line, 1);
	ck_assert_uint_eq(one->v, 3);
	ck_assert(one->w);
	ck_assert_str_eq(two->inst.name, "two");
	ck_assert_int_eq(two->inst.line, 4);
	ck_assert_uint_eq(two->v, 1); /* the default, per instance */
	ck_assert(!two->w);
	svc_conf_free(c);

	tiny_err("[item]\n", "F:1: section [item] needs a name: [item.NAME]");
	tiny_err("[item.a]\n[item.a]\n",
	         "F:2: duplicate section [item.a] (first at line 1)");
	tiny_err("[item.a/b]\n",
	         "F:1: bad item name 'a/b' in [item.a/b] (1-64 characters of "
	         "A-Z a-z 0-9 _ . : -)");
	tiny_err("[item.a]\nv = 11\nx = 1\n",
	         "F:2: bad value for 'v' in [item.a]: '11' is out of range "
	         "(0..10)\nF:3: unknown key 'x' in [item.a]");
}
END_TEST

START_TEST(test_engine_overrides)
{
	struct svc_conf *c = svc_conf_load(NULL, tiny, ARRAY_SIZE(tiny), NULL);
	char *cause = NULL;

	ck_assert_int_eq(svc_conf_set(c, "shared", "a", "9", &cause), 0);
	ck_assert_uint_eq(ALPHA(c)->a, 9);
	ck_assert_int_eq(svc_conf_set(c, "shared", "a", "0", &cause), -1);
	ck_assert_str_eq(cause, "bad value for 'a' in [shared]: '0' is out of "
	                        "range (1..9)");
	free(cause);
	ck_assert_uint_eq(ALPHA(c)->a, 9);
	ck_assert_int_eq(svc_conf_set(c, "shared", "q", "1", &cause), -1);
	ck_assert_str_eq(cause, "unknown key 'q' in [shared]");
	free(cause);
	svc_conf_free(c);
}
END_TEST

/* The reload steps, as svcd runs them: restart-only keys keep their old
 * value; a service whose reload refuses keeps its whole old struct. */
START_TEST(test_engine_reload)
{
	char *cause = NULL, *warn = NULL;
	struct svc_conf *old =
	    tiny_load("[shared]\nr = one\nb = 1s\n[item.i]\n", &cause);
	struct svc_conf *new;

	ck_assert_msg(old != NULL, "%s", cause);
	new = tiny_load("[shared]\nr = two\nb = 1s\na = 2\n[item.i]\n", &cause);
	ck_assert_msg(new != NULL, "%s", cause);
	svc_conf_keep_restart(new, old, &warn);
	ck_assert_str_eq(warn, "r changed; takes effect after a restart");
	free(warn);
	ck_assert_str_eq(ALPHA(new)->r, "one");
	ck_assert_uint_eq(ALPHA(new)->a, 2); /* reloadable: taken */
	ck_assert(svc_conf_changed(old, new, "alpha"));
	ck_assert(!svc_conf_changed(old, new, "beta"));
	svc_conf_free(new);

	/* beta refuses b = 20s: its old options stay, alpha's new ones go */
	new = tiny_load("[shared]\nr = one\nb = 20s\na = 3\n[item.i]\nv = 4\n"
	                "[item.j]\n",
	                &cause);
	ck_assert_msg(new != NULL, "%s", cause);
	svc_conf_keep_restart(new, old, &warn);
	ck_assert_ptr_null(warn);
	ck_assert(svc_conf_changed(old, new, "beta"));
	beta_reloads = 0;
	ck_assert_int_eq(beta_desc.reload(NULL, BETA(old), BETA(new), &cause),
	                 -1);
	ck_assert_int_eq(beta_reloads, 1);
	ck_assert_str_eq(cause, "b is too slow");
	free(cause);
	svc_conf_keep_service(new, old, "beta");
	ck_assert(!svc_conf_changed(old, new, "beta"));
	ck_assert(BETA(new)->b == 1);
	ck_assert_uint_eq(BETA(new)->items.n, 1);
	ck_assert_uint_eq(((struct beta_item *)BETA(new)->items.v[0])->v, 1);
	ck_assert_uint_eq(ALPHA(new)->a, 3);
	svc_conf_free(new);
	svc_conf_free(old);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	log_set_quiet(1);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_socket_limit);
	tcase_add_test(tc, test_task_limit_keys);
	tcase_add_loop_test(tc, test_error, 0, (int)ARRAY_SIZE(errors));
	tcase_add_test(tc, test_bad_json);
	tcase_add_test(tc, test_many_errors);
	tcase_add_test(tc, test_comments_and_blanks);
	tcase_add_test(tc, test_timers_and_hooks);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_cannot_read);
	tcase_add_test(tc, test_not_regular);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_long_line_quoted_short);
	tcase_add_test(tc, test_quote_escapes);
	tcase_add_test(tc, test_errors_capped);
	tcase_add_test(tc, test_check_reload);
	tcase_add_test(tc, test_shipped_conf);
	tcase_add_loop_test(tc, test_sizes_at_least_one, 0,
	                    (int)ARRAY_SIZE(at_least_one));
	tcase_add_test(tc, test_engine_defaults_from_text);
	tcase_add_test(tc, test_default_program_name);
	tcase_add_test(tc, test_engine_shared_section);
	tcase_add_test(tc, test_engine_named_sections);
	tcase_add_test(tc, test_engine_overrides);
	tcase_add_test(tc, test_engine_reload);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
