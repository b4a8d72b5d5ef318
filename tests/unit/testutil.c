/* testutil.c — helpers shared by the Check suites (see testutil.h). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/service.h"
#include "services/table.h"
#include "daemon/util.h"

bool tu_guard_fired;
static struct buf log_lines;

void
tu_guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	tu_guard_fired = true;
}

void
tu_run_for(struct ev_loop *loop, double secs)
{
	ev_timer g;

	/* secs from now: the loop's cached time may be older (work since its
	 * last iteration, slow under valgrind), and a timer counts from it */
	ev_now_update(loop);
	ev_timer_init(&g, tu_guard_cb, secs, 0.);
	tu_guard_fired = false;
	ev_timer_start(loop, &g);
	while (!tu_guard_fired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &g);
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
}

void
tu_deadline_start(struct ev_loop *loop, ev_timer *guard, double secs,
                  bool *expired)
{
	*expired = false;
	ev_timer_init(guard, deadline_cb, secs, 0.);
	guard->data = expired;
	ev_timer_start(loop, guard);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

void
tu_tick_start(struct ev_loop *loop, ev_timer *tick)
{
	ev_timer_init(tick, tick_cb, 0.001, 0.001);
	ev_timer_start(loop, tick);
}

static void
log_hook(enum log_level level, const char *msg, void *arg)
{
	buf_printf(&log_lines, "%d %s\n", (int)level, msg);
}

void
tu_log_capture(void)
{
	buf_reset(&log_lines);
	log_set_quiet(1);
	log_set_hook(log_hook, NULL);
}

int
tu_log_count(const char *text)
{
	const char *p = tu_log_text();
	int n = 0;

	while ((p = strstr(p, text))) {
		n++;
		p += strlen(text);
	}
	return n;
}

bool
tu_log_seen(const char *text)
{
	bool seen;

	buf_putc(&log_lines, '\0');
	seen = strstr(buf_head(&log_lines), text) != NULL;
	log_lines.len--;
	return seen;
}

const char *
tu_log_text(void)
{
	buf_putc(&log_lines, '\0');
	log_lines.len--;
	return buf_head(&log_lines);
}

void
tu_log_release(void)
{
	log_set_hook(NULL, NULL);
	buf_free(&log_lines);
}

static struct svc_conf *test_conf; /* see tu_conf */

void
tu_conf_text(const char *dir, const char *text)
{
	char path[256], *cause = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/svcd.conf", dir);
	f = fopen(path, "w");
	ck_assert(f != NULL);
	for (const char *p = text; *p; p++) {
		if (p[0] == '@' && p[1] == 'D') {
			fputs(dir, f);
			p++;
		} else {
			fputc(*p, f);
		}
	}
	fclose(f);
	struct svc_conf *c =
	    svc_conf_load(path, svcd_table, svcd_table_len, &cause);
	ck_assert_msg(c != NULL, "conf: %s", cause ? cause : "?");
	svc_conf_free(test_conf);
	test_conf = c;
}

struct svc_conf *
tu_conf(void)
{
	if (!test_conf)
		test_conf =
		    svc_conf_load(NULL, svcd_table, svcd_table_len, NULL);
	return test_conf;
}

void *
tu_opts(const char *service)
{
	return (void *)svc_conf_options(tu_conf(), service);
}

struct svc_conf *
tu_conf_load(const char *path, char **cause)
{
	return svc_conf_load(path, svcd_table, svcd_table_len, cause);
}

void
tu_conf_reset(void)
{
	svc_conf_free(test_conf);
	test_conf = NULL;
}

static char boot_cause[512];

static void
boot_done(struct svc_graph *g, int status, const char *cause, void *arg)
{
	*(int *)arg = status;
	snprintf(boot_cause, sizeof(boot_cause), "%s", cause ? cause : "");
	if (status < 0)
		log_err("boot: %s", cause ? cause : "?");
}

int
tu_boot(struct ev_loop *loop, const struct svc_desc *const *table, size_t n,
        struct svc_graph **graph, const bool *timed_out)
{
	char *cause = NULL;
	int status = 99;

	boot_cause[0] = '\0';
	*graph = svc_graph_new(loop, table, n, &cause);
	ck_assert_msg(*graph != NULL, "graph: %s", cause ? cause : "?");
	svc_graph_set_conf(*graph, tu_conf());
	tu_use_graph(*graph);
	svc_start(*graph, NULL, boot_done, &status);
	while (status == 99 && !*timed_out)
		ev_run(loop, EVRUN_ONCE);
	return status;
}

const char *
tu_boot_cause(void)
{
	return boot_cause;
}

static void
stop_done(struct svc_graph *g, int status, const char *cause, void *arg)
{
	*(int *)arg = status;
}

int
tu_stop(struct ev_loop *loop, struct svc_graph *graph, const bool *timed_out)
{
	int status = 99;

	svc_stop_all(graph, stop_done, &status);
	while (status == 99 && !*timed_out)
		ev_run(loop, EVRUN_ONCE);
	return status;
}

static int
drain_seen(const struct bus_event *ev, void *arg)
{
	*(bool *)arg = true;
	return 0;
}

void
tu_bus_drain(struct ev_loop *loop, const bool *timed_out)
{
	struct bus *b = tu_bus();
	bool seen = false;

	ck_assert_ptr_nonnull(b);
	struct bus_listener *l = bus_listen(b, "tu.drain", drain_seen, &seen);
	ck_assert_int_eq(bus_emit_json(b, "tu.drain", NULL, "test"), 0);
	while (!seen && !*timed_out)
		ev_run(loop, EVRUN_ONCE);
	bus_unlisten(b, l);
	ck_assert_msg(seen, "timed out waiting for the bus to drain");
}

int
tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

static struct svc_graph *tu_graph;

void
tu_use_graph(struct svc_graph *g)
{
	tu_graph = g;
}

static void *
priv_of(const char *name)
{
	struct svc *s = tu_graph ? svc_graph_find(tu_graph, name) : NULL;

	return s ? svc_priv(s) : NULL;
}

struct bus *
tu_bus(void)
{
	return priv_of("bus");
}

struct worker *
tu_worker(void)
{
	return priv_of("worker");
}

struct journal *
tu_journal(void)
{
	return priv_of("journal");
}
