/*
 * testutil.h — helpers shared by the Check suites: drive a loop until a
 * condition holds (with a guard timer, never a fixed sleep), keep a loop
 * turning for a while to show that something does NOT happen, capture log
 * lines, and run a suite.
 */
#ifndef SVCD_TESTUTIL_H
#define SVCD_TESTUTIL_H

#include <check.h>
#include <stdbool.h>

#include <ev.h>

extern bool tu_guard_fired;
void tu_guard_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Drive the loop until cond holds; fail the test after secs. */
#define RUN_UNTIL(loop, cond, secs)                                            \
	do {                                                                   \
		ev_timer g_;                                                   \
		ev_timer_init(&g_, tu_guard_cb, (secs), 0.);                   \
		tu_guard_fired = false;                                        \
		ev_timer_start((loop), &g_);                                   \
		while (!(cond) && !tu_guard_fired)                             \
			ev_run((loop), EVRUN_ONCE);                            \
		ev_timer_stop((loop), &g_);                                    \
		ck_assert_msg((cond), "timed out waiting for %s", #cond);      \
	} while (0)

/* Keep the loop turning for secs (to show that something does not happen). */
void tu_run_for(struct ev_loop *loop, double secs);

/*
 * A deadline for a whole test, for suites whose waits share one budget
 * (loops of the form "while (!cond && !timed_out) ev_run(...)"): set
 * *expired to false and start *guard on loop so that *expired becomes true
 * after secs. Stop it with ev_timer_stop (also before starting it again).
 */
void tu_deadline_start(struct ev_loop *loop, ev_timer *guard, double secs,
                       bool *expired);

/*
 * The bus dispatches from an ev_prepare watcher and then lets poll block:
 * a turn that delivered an event may still wait for the next timer. Start
 * *tick, a 1 ms repeating timer that does nothing, on loop to bound every
 * EVRUN_ONCE turn so the tests wait on conditions only. Stop it with
 * ev_timer_stop.
 */
void tu_tick_start(struct ev_loop *loop, ev_timer *tick);

/* Log capture: quiet stderr and collect every line, as "LEVEL message\n"
 * (LEVEL the syslog number), until tu_log_release. */
void tu_log_capture(void);
bool tu_log_seen(const char *text);
/* How many times text occurs in what was captured. */
int tu_log_count(const char *text);
/* Everything captured so far (borrowed; for failure messages). */
const char *tu_log_text(void);
void tu_log_release(void);

struct svc_desc;
struct svc_graph;

/*
 * Write text to DIR/svcd.conf ("@D" stands for dir), load it for svcd's
 * table and make it the test configuration (attached to every graph
 * tu_boot builds, until tu_conf_reset); a configuration error fails the
 * test.
 */
void tu_conf_text(const char *dir, const char *text);
/*
 * The test configuration's options struct of service (built-in defaults
 * when no tu_conf_text was given), writable so that a test can set values
 * before tu_boot. NULL if svcd's table has no such service options.
 */
void *tu_opts(const char *service);
/* The test configuration (created on first use), attached by tu_boot. */
struct svc_conf *tu_conf(void);
/* svc_conf_load of path for svcd's table. */
struct svc_conf *tu_conf_load(const char *path, char **cause);
/* Back to the built-in defaults: frees the test configuration. */
void tu_conf_reset(void);
/*
 * Build a graph of table on loop (*graph) and boot it, turning the loop
 * until the boot completes or *timed_out; the boot status (99: timed out).
 */
int tu_boot(struct ev_loop *loop, const struct svc_desc *const *table, size_t n,
            struct svc_graph **graph, const bool *timed_out);
/*
 * The cause the last tu_boot's completion reported ("" if it reported none,
 * or if that boot did not complete), for suites that check why a boot failed.
 */
const char *tu_boot_cause(void);
/*
 * Stop graph (svc_stop_all), turning the loop until the stop completes or
 * *timed_out; the stop status (99: timed out).
 */
int tu_stop(struct ev_loop *loop, struct svc_graph *graph,
            const bool *timed_out);

/*
 * Everything emitted on the default bus so far has been delivered (the bus
 * is FIFO): emit a marker event and turn loop until a temporary listener
 * sees it, or *timed_out (which fails the test).
 */
void tu_bus_drain(struct ev_loop *loop, const bool *timed_out);

/*
 * The services' instances in the graph of the last tu_boot (or the one
 * given to tu_use_graph), NULL while that service is not running: what a
 * test reaches instead of a global accessor.
 */
struct bus;
struct worker;
struct journal;
void tu_use_graph(struct svc_graph *g);
struct bus *tu_bus(void);
struct worker *tu_worker(void);
struct journal *tu_journal(void);

/* Run the suite, print Check's summary; the process exit status. */
int tu_run_suite(Suite *s);

#endif
