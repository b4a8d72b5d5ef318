/*
 * journal.h — the durable event journal (SQLite in WAL mode).
 *
 * Enabled by a [journal] section. Every event the bus accepts is handed
 * (through the bus accept hook, in seq order) to a writer thread that
 * appends batches in one transaction each (group commit) and reports back to
 * the loop through an ev_async. At start the bus continues numbering after
 * the journal's last seq. Retention (count and age) is pruned by a worker
 * task. Hook delivery cursors are stored next to the events, so events a
 * hook did not finish before a crash are replayed to it after a restart.
 *
 * The highest seq ever handed out is kept in PATH.seq beside the db, so a
 * damaged WAL that loses committed events is detected at start (refused, or
 * with [journal] on_damage = continue logged) and a seq is never reused.
 *
 * sync = always: `emit` is acknowledged only once the event is durable
 * (journal_when_durable, through the bus's store: a client's replies wait,
 * the client and the loop do not); every event accepted while a commit is
 * in flight goes into the next commit (one transaction, one fsync).
 * batch acknowledges at once and fsyncs the WAL at most batch_interval
 * after a commit; off acknowledges at once and never fsyncs. In every mode
 * at most [journal] backlog events wait for their commit: at the bound the
 * bus has no room (bus_set_store_full) until the writer catches up.
 */
#ifndef SVCD_JOURNAL_H
#define SVCD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "daemon/service.h"

struct bus_event;
struct journal;

extern const struct svc_desc journal_service;

enum conf_journal_sync {
	CONF_SYNC_OFF,    /* acknowledged at once; written when convenient */
	CONF_SYNC_BATCH,  /* acknowledged at once; group commits */
	CONF_SYNC_ALWAYS, /* acknowledged once durable */
};

enum conf_journal_damage {
	CONF_DAMAGE_REFUSE,   /* lost history or a corrupt db: do not start */
	CONF_DAMAGE_CONTINUE, /* start anyway, loudly, never reusing a seq */
};

/* [journal] (restart-only), enabled when the section is present. */
struct journal_conf {
	bool enabled;
	char *path;            /* default /var/lib/svcd/journal.db */
	int sync;              /* enum conf_journal_sync; default batch */
	size_t keep_count;     /* retention_count; 0 = no limit */
	double keep_age;       /* retention_age, seconds; 0 = no limit */
	int on_damage;         /* enum conf_journal_damage; default refuse */
	size_t backlog;        /* events accepted, not yet committed, at most */
	double batch_interval; /* sync = batch: WAL synced this soon, seconds */
};

/* The `journal` service keeps its journal as its svc_priv (NULL when
 * disabled). The bus and its users reach it through the bus's store
 * (bus_set_store: durability, history, consumer cursors), never by name. */

/* true when emit must wait for durability (sync = always). */
bool journal_sync_always(const struct journal *j);
/*
 * Block until every event up to seq is committed (or timeout seconds).
 * 0, or -1 with *cause (the write failed, or the timeout expired).
 */
int journal_wait_durable(struct journal *j, uint64_t seq, double timeout,
                         char **cause);

/*
 * Asynchronous form, for the control socket (it must never block the loop):
 * w->fn runs once, from the loop, when every event up to w->seq is committed
 * (status 0) or its write failed or the journal stopped (-1, cause
 * borrowed). Never called from inside journal_when_durable. The waiter is
 * caller-owned: cancel it before freeing it.
 */
struct bus_durable_waiter; /* services/bus.h */
void journal_when_durable(struct journal *j, struct bus_durable_waiter *w);
void journal_cancel_wait(struct journal *j, struct bus_durable_waiter *w);
/* 0: seq is durable; 1: not yet; -1: its write failed (*cause, allocated). */
int journal_durable_status(struct journal *j, uint64_t seq, char **cause);

/* Highest seq in the journal (accepted, maybe not yet committed). */
uint64_t journal_last_seq(const struct journal *j);
/*
 * A page of history from the journal: events with seq > since (the last
 * `last` of them if non-zero) matching patterns (none: all), in seq order,
 * each passed to fn until fn returns false (it did not take that event:
 * the page is full). At most `scan` rows are read per call, matching or not
 * (0: no bound; with `last` and patterns, the look back for where the last
 * ones begin is bounded the same way): when the bound ends the call before
 * the end of the journal, *resume is the seq of the last row read (pass it
 * as since to go on), else 0. Waits at most 100 ms for pending writes, then
 * reads what is stored (a read never holds the loop longer); when writes
 * are still pending *resume is set too, so the reader comes back for them.
 * Returns how many fn took, or -1 with *cause on a read error.
 */
long journal_history(struct journal *j, uint64_t since, size_t last,
                     size_t scan, const char *const *patterns, size_t npatterns,
                     bool (*fn)(const struct bus_event *ev, void *arg),
                     void *arg, uint64_t *resume, char **cause);

/*
 * {path, sync, events, first_seq, last_seq, durable_seq, commits,
 *  write_errors, lost, pruned, fsyncs, loop_iterations, backlog_full,
 *  checkpoints} — new
 * reference. durable_seq is the highest seq of a successful commit; lost
 * counts events whose commit failed; fsyncs every fsync the journal made
 * (SQLite's, counted by its VFS, and PATH.seq's); loop_iterations the
 * event loop's since the journal opened (fsyncs per iteration under load);
 * backlog_full how often [journal] backlog was reached (emits then waited).
 */
json_t *journal_stats_json(struct journal *j);

/*
 * Tests: cap the database at its current size, so a write that needs a new
 * page fails with SQLITE_FULL (a full disk), or lift the cap. Applied by the
 * writer before its next batch.
 */
void journal_test_cap(struct journal *j, bool cap);

#endif
