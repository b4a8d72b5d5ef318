/*
 * testing.h — unit-testing services: a fresh loop and graph per test case.
 *
 * Part of the public API, for developers who test their own services (with
 * Check or any other framework: nothing here depends on one). A struct
 * svcd_test owns a new libev loop and a graph built from a table; the loop
 * is driven until a condition holds or a deadline passes, turning at least
 * every millisecond, so a test waits on conditions, never a fixed sleep.
 *
 *	struct svcd_test *t = svcd_test_new(table, n, &cause);
 *	ck_assert_int_eq(svcd_test_start(t, NULL, 5, &cause), 0);
 *	svcd_test_deadline(t, 5);
 *	while (!done && svcd_test_turn(t))
 *		;
 *	svcd_test_reset(t, 5);	(stop everything, svc_reset: next case)
 *	svcd_test_free(t);
 *
 * One svcd_test at a time: the configuration and log capture are the
 * process's.
 */
#ifndef SVCD_TESTING_H
#define SVCD_TESTING_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/service.h"

struct svcd_test;

/*
 * A new loop and a graph of table on it (nothing started). NULL with
 * *cause set (caller frees) when the table is invalid (svc_graph_new's
 * messages). The descriptors are borrowed.
 */
struct svcd_test *svcd_test_new(const struct svc_desc *const *table, size_t n,
                                char **cause);
/*
 * Stop what runs (bounded by the services' stop timeouts), free the graph,
 * the loop, the configuration loaded by svcd_test_config and captured log
 * lines.
 */
void svcd_test_free(struct svcd_test *t);

struct ev_loop *svcd_test_loop(const struct svcd_test *t);
struct svc_graph *svcd_test_graph(const struct svcd_test *t);
/* The named service of the graph, NULL if none. */
struct svc *svcd_test_service(const struct svcd_test *t, const char *name);

/*
 * Load text (an svcd.conf) as the running configuration of the test's
 * table: what svc_options() returns from then on. 0, or -1 with *cause set
 * (the configuration error, as svcd --check-config prints it).
 */
int svcd_test_config(struct svcd_test *t, const char *text, char **cause);

/*
 * Start name's dependency closure (NULL: the whole graph) and turn the loop
 * until the start completes or secs pass. 0 when running; -1 with *cause
 * set (if cause is non-NULL) to the failure, or "start timed out after S
 * s" (the services go on starting: svcd_test_reset stops them).
 */
int svcd_test_start(struct svcd_test *t, const char *name, double secs,
                    char **cause);
/* svc_stop_all, turning the loop until it completes: 0, or -1 as above. */
int svcd_test_stop(struct svcd_test *t, double secs, char **cause);
/*
 * Between test cases: stop every started service, then svc_reset (every
 * service inactive, errors and timings cleared). 0, or -1 if the stop did
 * not complete cleanly within secs.
 */
int svcd_test_reset(struct svcd_test *t, double secs);

/*
 * Waiting for a condition. svcd_test_deadline arms a deadline secs from
 * now; each svcd_test_turn runs one loop iteration (at most about 1 ms
 * long) and returns false once the deadline has passed:
 *	svcd_test_deadline(t, 2);
 *	while (!cond && svcd_test_turn(t))
 *		;
 */
void svcd_test_deadline(struct svcd_test *t, double secs);
bool svcd_test_turn(struct svcd_test *t);
/* The same with a predicate: true as soon as pred(arg) holds, false if it
 * still does not after secs. */
bool svcd_test_run_until(struct svcd_test *t, bool (*pred)(void *arg),
                         void *arg, double secs);
/* Keep the loop turning for secs (to show that something does NOT happen). */
void svcd_test_run_for(struct svcd_test *t, double secs);

/*
 * Log capture: from svcd_test_log_capture on, log lines go to the test
 * instead of stderr, one "LEVEL message\n" per line (LEVEL syslog's
 * number), until svcd_test_free.
 */
void svcd_test_log_capture(struct svcd_test *t);
bool svcd_test_log_seen(const struct svcd_test *t, const char *text);
/* Everything captured (borrowed, "" if nothing); for failure messages. */
const char *svcd_test_log_text(const struct svcd_test *t);

#endif
