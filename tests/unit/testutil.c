/* testutil.c — helpers shared by the Check suites (see testutil.h). */
#include "testutil.h"

#include <string.h>

#include "log.h"
#include "util.h"

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

	ev_timer_init(&g, tu_guard_cb, secs, 0.);
	tu_guard_fired = false;
	ev_timer_start(loop, &g);
	while (!tu_guard_fired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &g);
}

static void
log_hook(enum log_level level, const char *msg, void *arg)
{
	buf_puts(&log_lines, msg);
	buf_putc(&log_lines, '\n');
}

void
tu_log_capture(void)
{
	buf_reset(&log_lines);
	log_set_quiet(1);
	log_set_hook(log_hook, NULL);
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

void
tu_log_release(void)
{
	log_set_hook(NULL, NULL);
	buf_free(&log_lines);
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
