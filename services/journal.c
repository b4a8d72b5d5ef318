/*
 * journal.c — the durable event journal: SQLite in WAL mode (see journal.h).
 *
 * Three connections: the writer thread's (appends, cursors, pruning), the
 * loop's (reads: history, hook replay, figures) and the checkpointer
 * thread's (see wal_hook). The loop hands records to the writer through a
 * mutex-protected list; the writer takes the whole list at once and commits
 * it in one transaction (group commit: everything accepted while the last
 * commit was in flight), then wakes any sync waiter (condition variable)
 * and the loop (ev_async) with the result. Records on the list are freed by
 * the writer; nothing else crosses threads. The list is bounded by
 * [journal] backlog (on_accept). All three connections go through a VFS
 * that counts fsyncs (services/journal_vfs.c) for the figures. Each
 * connection is used by one thread only (the writer's by the loop too, but
 * only before the writer starts and after it stopped), so they are opened
 * SQLITE_OPEN_NOMUTEX: no SQLite mutex taken and released at every call.
 *
 * What is durable: `durable` is the highest seq of a successful commit and
 * only moves then; `done` is how far the writer has got (committed or
 * failed), which is what waiters wait for. The events of a failed commit are
 * not retried (the next batch would likely fail the same way and they would
 * pile up): they are counted in `lost`, their sync = always emits get the
 * error, and their seq is never reused. Repeated write errors are logged
 * once, then as one "N more" line per ERRLOG_INTERVAL, then "succeed again".
 *
 * Seq high-water mark: the WAL holds the newest commits, so a damaged or
 * truncated -wal silently loses them and max(seq) goes back. The db's own
 * header (user_version) cannot guard that: it is written through the same
 * WAL. So a side file, PATH.seq, records (written atomically: tmp, fsync,
 * rename, fsync of the directory) `durable` (a seq known committed),
 * `reserved` (no seq above it was handed out) and `clean`. The writer
 * reserves ahead in blocks of SEQ_BLOCK before committing past `reserved` —
 * one extra fsync per SEQ_BLOCK events, not per commit — and raises
 * `durable` at most once per FLOOR_INTERVAL after commits (lazily, on the
 * writer thread); a clean stop records the exact figures. At open, max(seq)
 * < `durable` means committed history was lost: svcd refuses to start
 * ([journal] on_damage = refuse) or, with continue, logs it loudly. Either
 * way the bus goes on after max(max(seq), `reserved`), so a seq is never
 * reused (after a crash it may skip up to SEQ_BLOCK). Only losses of events
 * committed within FLOOR_INTERVAL before a crash can go undetected.
 * PRAGMA quick_check runs at open after an unclean stop only (no PATH.seq,
 * or not clean): it reads the whole file (about 0.14 s for 1 million events,
 * 100 MB, when cached), which a clean stop does not need.
 */
#include "services/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <sqlite3.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "services/journal_vfs.h"
#include "services/worker.h"

#define PRUNE_TASK      "journal.prune"
#define PRUNE_INTERVAL  10.0 /* seconds between retention passes */
#define SEQ_BLOCK       1024 /* seqs reserved ahead in PATH.seq, at least */
#define SEQ_BLOCK_MAX   (1u << 20) /* and at most (see seq_block) */
#define CKPT_PAGES      1000       /* WAL pages that start a checkpoint */
#define FAILED_RANGES   64         /* failed batches remembered */
#define FLOOR_INTERVAL  1.0  /* seconds: PATH.seq's durable lags at most */
#define ERRLOG_INTERVAL 10.0 /* seconds between "N more" error lines */
#define HWM_MAGIC       "svcd-journal-seq 1"

enum jrec_kind { JR_EVENT, JR_CURSOR, JR_PRUNE };

/* One allocation: the strings (not NUL-terminated) follow the struct. */
struct jrec {
	enum jrec_kind kind;
	uint64_t seq;
	int64_t time_us;  /* event time; for JR_PRUNE: delete older than */
	const char *name; /* event name, or hook name for JR_CURSOR */
	const char *data;
	const char *source;
	int name_len, data_len, source_len;
	size_t keep; /* JR_PRUNE: keep this many events (0: no limit) */
	struct jrec *next;
	char bytes[];
};

struct journal {
	struct ev_loop *loop;
	char *path;
	int sync;
	size_t keep_count;
	double keep_age;
	sqlite3 *wdb, *rdb;
	struct bus *bus;
	char *seq_path; /* the high-water mark: PATH.seq */
	int on_damage;  /* enum conf_journal_damage */

	pthread_t thread;
	bool thread_running;
	pthread_mutex_t mu;
	pthread_cond_t work, done_cv;
	/* under mu */
	struct jrec *head, *tail;
	bool stop;
	bool writer_waits;  /* the writer sleeps on work: push signals it */
	uint64_t done;      /* every record up to here committed or failed */
	uint64_t durable;   /* the highest seq of a successful commit */
	uint64_t synced;    /* the highest seq known fsynced (<= durable) */
	uint64_t failed_to; /* the last failed batch ended here */
	/* the seq ranges of recent failed batches (contiguous ones merged),
	 * a ring: a reply held across several commits learns which of them
	 * failed (journal_durable_status) */
	struct {
		uint64_t from, to;
	} failed[FAILED_RANGES];
	size_t nfailed; /* ranges ever recorded */
	char *error;    /* the last write error */
	uint64_t commits, write_errors, pruned, errors_reported, lost;
	uint64_t checkpoints, ckpt_failed;
	uint64_t stored;  /* events in the db (the figures' events) */
	bool ckpt_want;   /* the WAL passed CKPT_PAGES: the checkpointer runs */
	bool ckpt_busy;   /* it is running */
	bool ckpt_finish; /* it left frames the writer appended meanwhile */
	uint64_t ckpt_writer; /* of checkpoints: the writer's finishing ones */
	pthread_cond_t ckpt_cv;
	bool last_ok;  /* the last failed or event batch committed */
	int cap_pages; /* tests: 1 cap, -1 lift, 0 nothing to do */

	/* writer thread only (and open/stop, while it is not running) */
	uint64_t hwm_durable, hwm_reserved; /* as PATH.seq says */
	int64_t hwm_us;                     /* when written (monotonic) */
	int64_t reserve_us;                 /* when last reserved ahead */
	uint64_t seq_block;                 /* how far it reserves ahead */
	double interval;   /* sync = batch: [journal] batch_interval */
	bool unsynced;     /* committed since the last sync of the WAL */
	int64_t synced_us; /* when it was last synced */
	int wal_fd;        /* PATH-wal, for those syncs (-1: not open) */

	/* the checkpointer thread's own connection */
	sqlite3 *cdb;
	pthread_t ckpt_thread;
	bool ckpt_running;
	uint64_t sync_base; /* journal_vfs_syncs at open */
	unsigned iter_base; /* ev_iteration at open */

	/* loop thread only */
	uint64_t accepted;   /* last seq handed to the writer */
	uint64_t done_seen;  /* done, as the loop last saw it */
	size_t backlog;      /* [journal] backlog */
	bool full;           /* accepted - done_seen reached backlog */
	uint64_t full_count; /* times it did */
	uint64_t first_seq;
	ev_async async;
	struct bus_durable_waiter *wait_head, *wait_tail; /* in seq order */
	struct log_limit errlog;
};

bool
journal_sync_always(const struct journal *j)
{
	return j && j->sync == CONF_SYNC_ALWAYS;
}

uint64_t
journal_last_seq(const struct journal *j)
{
	return j->accepted;
}

/* A record of kind with copies of the three strings (any may be empty). */
static struct jrec *
jrec_new(enum jrec_kind kind, const char *name, size_t name_len,
         const char *data, size_t data_len, const char *source,
         size_t source_len)
{
	struct jrec *r;
	char *p;

	if (name_len > INT_MAX || data_len > INT_MAX || source_len > INT_MAX)
		abort(); /* the bus bounds an event far below that */
	r = xmalloc(sizeof(*r) + name_len + data_len + source_len);
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	p = r->bytes;
	r->name = p;
	if (name_len)
		memcpy(p, name, name_len);
	p += name_len;
	r->data = p;
	if (data_len)
		memcpy(p, data, data_len);
	p += data_len;
	r->source = p;
	if (source_len)
		memcpy(p, source, source_len);
	r->name_len = (int)name_len;
	r->data_len = (int)data_len;
	r->source_len = (int)source_len;
	return r;
}

static void
jrec_free(struct jrec *r)
{
	free(r);
}

/*
 * Hand r to the writer. It is signalled only when it sleeps (a busy writer
 * looks at the list before it sleeps again), and after the unlock, so it
 * does not wake up only to wait for the mutex the loop still holds.
 */
static void
push(struct journal *j, struct jrec *r)
{
	bool wake;

	pthread_mutex_lock(&j->mu);
	if (j->tail)
		j->tail->next = r;
	else
		j->head = r;
	j->tail = r;
	wake = j->writer_waits;
	pthread_mutex_unlock(&j->mu);
	if (wake)
		pthread_cond_signal(&j->work);
}

/* The bus accept hook: every accepted event, in seq order. */
static void
on_accept(const struct bus_event *ev, void *arg)
{
	struct journal *j = arg;
	const char *src = ev->source ? ev->source : "";
	struct jrec *r = jrec_new(JR_EVENT, ev->name, ev->name_len, ev->data,
	                          ev->data_len, src, strlen(src));

	r->seq = ev->seq;
	r->time_us = ev->time_us;
	j->accepted = ev->seq;
	push(j, r);
	/* the backlog bound: the bus has no room until the writer catches up
	 * (async_cb), so acknowledged events not yet on disk stay bounded */
	if (!j->full && j->accepted - j->done_seen >= j->backlog) {
		j->full = true;
		j->full_count++;
		bus_set_store_full(j->bus, true);
	}
}

/* ---- the seq high-water mark (PATH.seq) --------------------------------- */

struct hwm {
	bool present, clean;
	uint64_t durable, reserved;
};

/* Read PATH.seq: 0 (h->present false if there is none), or -1 with *cause. */
static int
hwm_read(const char *path, struct hwm *h, char **cause)
{
	unsigned long long d, r;
	int clean, n;
	FILE *f;

	memset(h, 0, sizeof(*h));
	if (!(f = fopen(path, "re"))) {
		if (errno == ENOENT)
			return 0;
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	n = fscanf(f, HWM_MAGIC " durable %llu reserved %llu clean %d", &d, &r,
	           &clean);
	fclose(f);
	if (n != 3 || r < d) {
		*cause =
		    xasprintf("%s is not a seq high-water mark file", path);
		return -1;
	}
	h->present = true;
	h->clean = clean == 1;
	h->durable = d;
	h->reserved = r;
	return 0;
}

/* fsync the directory holding path (so a rename in it is durable). */
static int
fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir =
	    slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
	          : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;

	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Replace PATH.seq atomically; on success the writer's figures follow. */
static int
hwm_write(struct journal *j, uint64_t durable, uint64_t reserved, bool clean,
          char **cause)
{
	char *tmp = xasprintf("%s.tmp", j->seq_path);
	char *text = xasprintf(HWM_MAGIC "\ndurable %" PRIu64
	                                 "\nreserved %" PRIu64 "\nclean %d\n",
	                       durable, reserved, clean ? 1 : 0);
	size_t len = strlen(text), off = 0;
	int fd, rc = -1, saved;

	j->hwm_us = util_mono_us();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out_close;
		off += (size_t)n;
	}
	journal_vfs_count(2); /* the file's and the directory's */
	if (fsync(fd) < 0)
		goto out_close;
	if (close(fd) < 0) {
		fd = -1;
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, j->seq_path) < 0)
		goto out_unlink;
	if (fsync_dir_of(j->seq_path) < 0)
		goto out;
	j->hwm_durable = durable;
	j->hwm_reserved = reserved;
	rc = 0;
	goto out;

out_close:
	saved = errno;
	close(fd);
	errno = saved;
out_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
out:
	if (rc < 0 && cause)
		*cause =
		    xasprintf("cannot write the seq high-water mark %s: %s",
		              j->seq_path, strerror(errno));
	free(tmp);
	free(text);
	return rc;
}

/* ---- the writer thread -------------------------------------------------- */

static int
exec_sql(sqlite3 *db, const char *sql, char **cause)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		*cause = xstrdup(msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
step_done(sqlite3 *db, sqlite3_stmt *st, char **cause)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		*cause = xstrdup(sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

struct wstmts {
	sqlite3_stmt *ins, *cur, *keep, *age;
	sqlite3_stmt *begin, *commit; /* prepared once: no parse per batch */
};

static int
write_batch(struct journal *j, struct wstmts *s, struct jrec *batch,
            uint64_t *pruned, char **cause)
{
	sqlite3 *db = j->wdb;

	if (step_done(db, s->begin, cause) < 0)
		return -1;
	for (struct jrec *r = batch; r; r = r->next) {
		sqlite3_stmt *st;

		switch (r->kind) {
		case JR_EVENT:
			st = s->ins;
			sqlite3_bind_int64(st, 1, (sqlite3_int64)r->seq);
			sqlite3_bind_int64(st, 2, r->time_us);
			sqlite3_bind_text(st, 3, r->name, r->name_len,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, 4, r->data, r->data_len,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, 5, r->source, r->source_len,
			                  SQLITE_STATIC);
			break;
		case JR_CURSOR:
			st = s->cur;
			sqlite3_bind_text(st, 1, r->name, r->name_len,
			                  SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)r->seq);
			break;
		case JR_PRUNE:
			if (r->keep) {
				sqlite3_bind_int64(s->keep, 1,
				                   (sqlite3_int64)r->keep);
				if (step_done(db, s->keep, cause) < 0)
					goto out_rollback;
				*pruned += (uint64_t)sqlite3_changes(db);
			}
			if (!r->time_us)
				continue;
			st = s->age;
			sqlite3_bind_int64(st, 1, r->time_us);
			break;
		default: continue;
		}
		if (step_done(db, st, cause) < 0)
			goto out_rollback;
		if (r->kind == JR_PRUNE)
			*pruned += (uint64_t)sqlite3_changes(db);
	}
	if (step_done(db, s->commit, cause) < 0)
		goto out_rollback;
	return 0;

out_rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * How far to reserve ahead (each reservation costs two fsyncs): doubled
 * while reservations come less than FLOOR_INTERVAL apart, halved back
 * when they are rarer, so that under load PATH.seq is written about once a
 * second, not every SEQ_BLOCK events (at 300 000 events/s that was 300
 * times). A crash skips at most the block reserved: seq numbers stay
 * unique and increasing, not dense.
 */
static uint64_t
seq_block(struct journal *j)
{
	int64_t now = util_mono_us(), gap = now - j->reserve_us;

	if (!j->seq_block)
		j->seq_block = SEQ_BLOCK;
	else if (gap < (int64_t)(FLOOR_INTERVAL * 1e6) &&
	         j->seq_block < SEQ_BLOCK_MAX)
		j->seq_block *= 2;
	else if (gap > (int64_t)(4 * FLOOR_INTERVAL * 1e6) &&
	         j->seq_block > SEQ_BLOCK)
		j->seq_block /= 2;
	j->reserve_us = now;
	return j->seq_block;
}

/*
 * After every commit of the writer (its thread). Past CKPT_PAGES in the WAL
 * it wakes the checkpointer, which copies the bulk while commits go on.
 * Under load the writer appends frames meanwhile, so that checkpoint never
 * reaches the end of the WAL and the WAL would never start over: the
 * writer then copies the few frames left itself (a short PASSIVE
 * checkpoint between two commits), and its next transaction starts the
 * WAL from the beginning. The WAL stays near CKPT_PAGES.
 */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct journal *j = arg;
	bool finish;

	pthread_mutex_lock(&j->mu);
	finish = j->ckpt_finish && !j->ckpt_busy;
	if (finish)
		j->ckpt_finish = false;
	else if (pages >= CKPT_PAGES && !j->ckpt_want && !j->ckpt_busy &&
	         !j->ckpt_finish) {
		j->ckpt_want = true;
		pthread_cond_signal(&j->ckpt_cv);
	}
	pthread_mutex_unlock(&j->mu);
	if (finish &&
	    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
	                              NULL) == SQLITE_OK) {
		pthread_mutex_lock(&j->mu);
		j->checkpoints++;
		j->ckpt_writer++;
		pthread_mutex_unlock(&j->mu);
	}
	return SQLITE_OK;
}

/*
 * The checkpointer: copies the WAL into the db (PASSIVE: it never waits for
 * the writer nor holds it up) on its own connection, so a commit never
 * pays for a checkpoint. Once a checkpoint has copied every frame the
 * writer's next transaction starts the WAL over, so it does not grow.
 */
static void *
ckpt_main(void *arg)
{
	struct journal *j = arg;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		int rc, log = 0, done = 0;

		while (!j->ckpt_want && !j->stop)
			pthread_cond_wait(&j->ckpt_cv, &j->mu);
		if (j->stop)
			break;
		j->ckpt_want = false;
		j->ckpt_busy = true;
		pthread_mutex_unlock(&j->mu);
		rc = sqlite3_wal_checkpoint_v2(
		    j->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		pthread_mutex_lock(&j->mu);
		j->ckpt_busy = false;
		if (rc == SQLITE_OK) {
			j->checkpoints++;
			j->ckpt_finish = true; /* frames came meanwhile */
		} else {
			j->ckpt_failed++;
		}
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* Wait on j->work at most us microseconds (mu held). */
static void
timed_wait(struct journal *j, int64_t us)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(us / 1000000);
	ts.tv_nsec += (long)(us % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	j->writer_waits = true;
	pthread_cond_timedwait(&j->work, &j->mu, &ts);
	j->writer_waits = false;
}

/* fdatasync PATH-wal (opened once, on the fd kept in wal_fd): 0, or -1
 * with errno (ENOENT: there is no WAL). Counted with the VFS's syncs. */
static int
fsync_wal(struct journal *j)
{
	if (j->wal_fd < 0) {
		char *p = xasprintf("%s-wal", j->path);

		j->wal_fd = open(p, O_RDONLY | O_CLOEXEC);
		free(p);
		if (j->wal_fd < 0)
			return -1;
	}
	journal_vfs_count(1);
	return fdatasync(j->wal_fd);
}

/*
 * sync = batch commits with synchronous = NORMAL: SQLite does not sync the
 * WAL at a commit, only before a checkpoint, which comes after CKPT_PAGES
 * of events, any time later. So the writer syncs the WAL itself (one
 * fdatasync of PATH-wal, whatever was committed) at most `interval` after
 * a commit: on power loss at most that much of acknowledged events is
 * lost. A failed sync counts as a write error.
 */
static void
wal_sync(struct journal *j, uint64_t upto)
{
	int rc, err = 0;

	rc = fsync_wal(j);
	if (rc < 0)
		err = errno;
	pthread_mutex_lock(&j->mu);
	j->unsynced = false;
	j->synced_us = util_mono_us();
	if (rc == 0 && upto > j->synced)
		j->synced = upto;
	if (rc < 0) {
		j->write_errors++;
		free(j->error);
		j->error =
		    xasprintf("cannot sync %s-wal: %s", j->path, strerror(err));
		ev_async_send(j->loop, &j->async);
	}
	pthread_mutex_unlock(&j->mu);
}

/* A failed batch of events [from, to] (mu held). */
static void
note_failed(struct journal *j, uint64_t from, uint64_t to)
{
	if (j->nfailed) {
		size_t last = (j->nfailed - 1) % FAILED_RANGES;

		if (j->failed[last].to + 1 >= from) {
			j->failed[last].to = to;
			return;
		}
	}
	j->failed[j->nfailed % FAILED_RANGES].from = from;
	j->failed[j->nfailed % FAILED_RANGES].to = to;
	j->nfailed++;
}

/* Was seq in a failed batch (mu held)? Older than every range the ring
 * still holds, after it wrapped: counted as failed (it cannot tell). */
static bool
failed_locked(const struct journal *j, uint64_t seq)
{
	size_t n = j->nfailed < FAILED_RANGES ? j->nfailed : FAILED_RANGES;
	uint64_t oldest = UINT64_MAX;

	for (size_t i = 0; i < n; i++) {
		if (seq >= j->failed[i].from && seq <= j->failed[i].to)
			return true;
		if (j->failed[i].from < oldest)
			oldest = j->failed[i].from;
	}
	return j->nfailed > FAILED_RANGES && seq < oldest;
}

static bool
seq_failed(struct journal *j, uint64_t seq)
{
	bool f;

	pthread_mutex_lock(&j->mu);
	f = failed_locked(j, seq);
	pthread_mutex_unlock(&j->mu);
	return f;
}

static void *
writer_main(void *arg)
{
	struct journal *j = arg;
	struct wstmts s = {0};
	struct jrec *batch, *r;
	uint64_t top, bottom, pruned, nev;
	char *cause;
	int rc, cap;

	sqlite3_prepare_v2(j->wdb,
	                   "INSERT INTO events(seq, time_us, name, "
	                   "data, source) VALUES (?, ?, ?, ?, ?)",
	                   -1, &s.ins, NULL);
	sqlite3_prepare_v2(j->wdb,
	                   "INSERT INTO cursors(hook, seq) VALUES (?, ?) "
	                   "ON CONFLICT(hook) DO UPDATE SET "
	                   "seq = max(seq, excluded.seq)",
	                   -1, &s.cur, NULL);
	sqlite3_prepare_v2(j->wdb,
	                   "DELETE FROM events WHERE seq <= "
	                   "(SELECT max(seq) FROM events) - ?",
	                   -1, &s.keep, NULL);
	sqlite3_prepare_v2(j->wdb, "DELETE FROM events WHERE time_us < ?", -1,
	                   &s.age, NULL);
	sqlite3_prepare_v2(j->wdb, "BEGIN IMMEDIATE", -1, &s.begin, NULL);
	sqlite3_prepare_v2(j->wdb, "COMMIT", -1, &s.commit, NULL);

	pthread_mutex_lock(&j->mu);
	for (;;) {
		int64_t now = util_mono_us(), due = INT64_MAX;
		int64_t sync_due = j->synced_us + (int64_t)(j->interval * 1e6);
		int64_t hwm_due = j->hwm_us + (int64_t)(FLOOR_INTERVAL * 1e6);

		/* sync = batch: the WAL is synced within interval of a commit
		 */
		if (j->unsynced && now >= sync_due) {
			uint64_t upto = j->durable; /* what this sync covers */

			pthread_mutex_unlock(&j->mu);
			wal_sync(j, upto);
			pthread_mutex_lock(&j->mu);
			continue;
		}
		if (!j->head && !j->stop && j->durable > j->hwm_durable &&
		    now >= hwm_due) {
			/* PATH.seq's durable lags: raise it */
			uint64_t d = j->durable;

			pthread_mutex_unlock(&j->mu);
			/* on failure hwm_us moved on: tried again later */
			hwm_write(j, d, j->hwm_reserved, false, NULL);
			pthread_mutex_lock(&j->mu);
			continue;
		}
		if (!j->head && !j->stop) {
			if (j->unsynced)
				due = sync_due;
			if (j->durable > j->hwm_durable && hwm_due < due)
				due = hwm_due;
			if (due == INT64_MAX) {
				j->writer_waits = true;
				pthread_cond_wait(&j->work, &j->mu);
				j->writer_waits = false;
			} else
				timed_wait(j, due - now);
			continue;
		}
		if (!j->head)
			break;
		batch = j->head;
		j->head = j->tail = NULL;
		cap = j->cap_pages;
		j->cap_pages = 0;
		pthread_mutex_unlock(&j->mu);

		if (cap)
			sqlite3_exec(j->wdb,
			             cap > 0 ? "PRAGMA max_page_count = 1"
			                     : "PRAGMA max_page_count = "
			                       "4294967294",
			             NULL, NULL, NULL);
		top = 0;
		nev = 0;
		bottom = 0;
		pruned = 0;
		cause = NULL;
		for (r = batch; r; r = r->next) {
			if (r->kind != JR_EVENT)
				continue;
			nev++;
			if (r->seq > top)
				top = r->seq;
			if (!bottom || r->seq < bottom)
				bottom = r->seq;
		}
		rc = 0;
		/* reserve before any seq past PATH.seq is committed */
		if (top > j->hwm_reserved)
			rc = hwm_write(j, j->durable, top + seq_block(j), false,
			               &cause);
		if (rc == 0)
			rc = write_batch(j, &s, batch, &pruned, &cause);
		while (batch) {
			r = batch->next;
			jrec_free(batch);
			batch = r;
		}

		pthread_mutex_lock(&j->mu);
		if (top > j->done)
			j->done = top;
		/* a run of errors ends with events stored, not a cursor */
		if (rc < 0 || nev)
			j->last_ok = rc == 0;
		if (rc == 0) {
			if (top > j->durable)
				j->durable = top;
			/* synchronous = FULL: the commit synced the WAL */
			if (j->sync == CONF_SYNC_ALWAYS)
				j->synced = j->durable;
			j->commits++;
			if (j->sync == CONF_SYNC_BATCH && nev)
				j->unsynced = true;
			j->pruned += pruned;
			j->stored += nev;
			j->stored -= pruned < j->stored ? pruned : j->stored;
		} else {
			j->write_errors++;
			j->lost += nev;
			j->failed_to = j->done;
			if (nev)
				note_failed(j, bottom, top);
			free(j->error);
			j->error = cause;
		}
		pthread_cond_broadcast(&j->done_cv);
		ev_async_send(j->loop, &j->async);
	}
	pthread_mutex_unlock(&j->mu);
	/* a clean stop: the exact figures (every seq handed out is done) */
	hwm_write(j, j->durable, j->done, true, NULL);
	sqlite3_finalize(s.ins);
	sqlite3_finalize(s.cur);
	sqlite3_finalize(s.keep);
	sqlite3_finalize(s.age);
	sqlite3_finalize(s.begin);
	sqlite3_finalize(s.commit);
	return NULL;
}

static void run_durable_waiters(struct journal *j, bool stopping);

/* From the writer, on the loop: report write errors (rate-limited) and
 * recovery, and answer the durable waiters. */
static void
async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct journal *j = w->data;
	char *err = NULL;
	uint64_t n = 0, lost;
	bool ok;

	pthread_mutex_lock(&j->mu);
	if (j->write_errors > j->errors_reported) {
		n = j->write_errors - j->errors_reported;
		j->errors_reported = j->write_errors;
		err = j->error ? xstrdup(j->error) : NULL;
	}
	lost = j->lost;
	ok = j->last_ok;
	j->done_seen = j->done;
	pthread_mutex_unlock(&j->mu);
	if (j->full && j->accepted - j->done_seen <= j->backlog / 2) {
		j->full = false;
		bus_set_store_full(j->bus, false);
	}
	if (n)
		log_limited(&j->errlog, n,
		            "journal %s: write failed: %s (%" PRIu64
		            " event%s not stored so far)",
		            j->path, err ? err : "?", lost,
		            lost == 1 ? "" : "s");
	if (ok && log_limit_end(&j->errlog))
		log_warn("journal %s: writes succeed again (%" PRIu64
		         " event%s not stored in all)",
		         j->path, lost, lost == 1 ? "" : "s");
	free(err);
	run_durable_waiters(j, false);
}

/*
 * Call the durable waiters whose seq is committed (waiters are queued in
 * accept order, so in seq order). At stop every one left is called: its
 * event may never become durable now.
 */
static void
run_durable_waiters(struct journal *j, bool stopping)
{
	uint64_t done;
	uint64_t clean; /* every seq up to it is durable */
	char *error = NULL;

	if (!j->wait_head)
		return;
	pthread_mutex_lock(&j->mu);
	done = j->done;
	if (j->error)
		error = xstrdup(j->error);
	/* no batch ever failed: everything done is durable */
	clean = j->nfailed ? 0 : done;
	pthread_mutex_unlock(&j->mu);
	while (j->wait_head && (stopping || j->wait_head->seq <= done)) {
		struct bus_durable_waiter *w = j->wait_head;
		j->wait_head = w->next;
		if (!j->wait_head)
			j->wait_tail = NULL;
		w->next = NULL;
		w->queued = false;
		w->durable = clean;
		if (w->seq > done) {
			w->fn(w, -1,
			      "the journal stopped before the event "
			      "was written");
		} else if (error && seq_failed(j, w->seq)) {
			char *cause =
			    xasprintf("journal write failed: %s", error);
			w->fn(w, -1, cause);
			free(cause);
		} else {
			w->fn(w, 0, NULL);
		}
	}
	free(error);
}

void
journal_when_durable(struct journal *j, struct bus_durable_waiter *w)
{
	if (w->queued)
		return;
	w->queued = true;
	w->next = NULL;
	/* in seq order (a client waits again for its next reply, which may
	 * be older than others' waits): from the tail, where most go */
	if (!j->wait_tail || j->wait_tail->seq <= w->seq) {
		if (j->wait_tail)
			j->wait_tail->next = w;
		else
			j->wait_head = w;
		j->wait_tail = w;
	} else if (j->wait_head->seq > w->seq) {
		w->next = j->wait_head;
		j->wait_head = w;
	} else {
		struct bus_durable_waiter *x = j->wait_head;

		while (x->next && x->next->seq <= w->seq)
			x = x->next;
		w->next = x->next;
		x->next = w;
	}
	/* it may be durable already: checked from the loop, never from here.
	 * If not, the writer's ev_async_send after that commit does it (done
	 * moves under mu, before the send): no wake-up of our own per emit */
	pthread_mutex_lock(&j->mu);
	if (j->done >= w->seq)
		ev_async_send(j->loop, &j->async);
	pthread_mutex_unlock(&j->mu);
}

void
journal_cancel_wait(struct journal *j, struct bus_durable_waiter *w)
{
	struct bus_durable_waiter *prev = NULL;

	if (!w->queued)
		return;
	for (struct bus_durable_waiter *x = j->wait_head; x;
	     prev = x, x = x->next) {
		if (x != w)
			continue;
		if (prev)
			prev->next = x->next;
		else
			j->wait_head = x->next;
		if (j->wait_tail == x)
			j->wait_tail = prev;
		break;
	}
	w->queued = false;
	w->next = NULL;
}

int
journal_durable_status(struct journal *j, uint64_t seq, char **cause)
{
	int rc = 0;

	pthread_mutex_lock(&j->mu);
	if (j->done < seq)
		rc = 1;
	else if (j->error && failed_locked(j, seq)) {
		*cause = xasprintf("journal write failed: %s", j->error);
		rc = -1;
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int
journal_wait_durable(struct journal *j, uint64_t seq, double timeout,
                     char **cause)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)timeout;
	ts.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->mu);
	while (j->done < seq && rc == 0)
		rc = pthread_cond_timedwait(&j->done_cv, &j->mu, &ts);
	if (j->done < seq) {
		*cause = xasprintf("journal: event %" PRIu64
		                   " not durable after %gs",
		                   seq, timeout);
		rc = -1;
	} else if (j->error && failed_locked(j, seq)) {
		*cause = xasprintf("journal: write failed: %s", j->error);
		rc = -1;
	} else {
		rc = 0;
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* ---- reads (loop thread) ------------------------------------------------ */

static void
row_event(sqlite3_stmt *st, struct bus_event *ev)
{
	ev->seq = (uint64_t)sqlite3_column_int64(st, 0);
	ev->time_us = sqlite3_column_int64(st, 1);
	ev->name = (const char *)sqlite3_column_text(st, 2);
	ev->name_len = (size_t)sqlite3_column_bytes(st, 2);
	ev->data = (const char *)sqlite3_column_text(st, 3);
	ev->data_len = (size_t)sqlite3_column_bytes(st, 3);
	ev->source = (const char *)sqlite3_column_text(st, 4);
	if (!ev->name)
		ev->name = "";
	if (!ev->data) {
		ev->data = "{}";
		ev->data_len = 2;
	}
	if (!ev->source)
		ev->source = "";
}

/*
 * Where the last `last` matches (seq > since) begin: the seq before the
 * first of them, into *since. With patterns at most `scan` rows are looked
 * at (0: no bound); past that the matches among those rows are the answer.
 */
static int
history_last_start(struct journal *j, uint64_t *since, size_t last, size_t scan,
                   const struct bus_patset *ps, size_t npatterns, char **cause)
{
	sqlite3_stmt *st = NULL;
	uint64_t first = 0, oldest = 0;
	size_t found = 0, rows = 0;
	int rc;

	if (!npatterns) {
		/* no filter: the index answers, no row is read */
		rc = sqlite3_prepare_v2(j->rdb,
		                        "SELECT seq FROM events WHERE seq > ? "
		                        "ORDER BY seq DESC LIMIT 1 OFFSET ?",
		                        -1, &st, NULL);
		if (rc != SQLITE_OK)
			goto err;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)*since);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(last - 1));
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*since = (uint64_t)sqlite3_column_int64(st, 0) - 1;
		else if (rc != SQLITE_DONE)
			goto err;
		/* fewer than `last`: every one, since unchanged */
		sqlite3_finalize(st);
		return 0;
	}
	rc = sqlite3_prepare_v2(j->rdb,
	                        "SELECT seq, name FROM events WHERE seq > ? "
	                        "ORDER BY seq DESC",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)*since);
	while (found < last && (!scan || rows < scan) &&
	       (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);

		rows++;
		oldest = (uint64_t)sqlite3_column_int64(st, 0);
		if (bus_patset_match(ps, name ? name : "",
		                     (size_t)sqlite3_column_bytes(st, 1))) {
			first = oldest;
			found++;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto err;
	sqlite3_finalize(st);
	if (found == last)
		*since = first - 1;
	else if (scan && rows == scan)
		*since = oldest - 1; /* the bound: the matches among them */
	return 0;
err:
	*cause = xasprintf("journal: %s", sqlite3_errmsg(j->rdb));
	sqlite3_finalize(st);
	return -1;
}

long
journal_history(struct journal *j, uint64_t since, size_t last, size_t scan,
                const char *const *patterns, size_t npatterns,
                bool (*fn)(const struct bus_event *ev, void *arg), void *arg,
                uint64_t *resume, char **cause)
{
	sqlite3_stmt *st = NULL;
	uint64_t seen = 0;
	size_t rows = 0;
	long visited = 0;
	struct bus_patset *ps = NULL;
	bool behind;
	int rc;

	*resume = 0;
	/*
	 * Give the writer a moment to store what was accepted, but never hold
	 * the loop longer than that: past it (a slow disk, a failed commit)
	 * the page holds what is stored now, and the rest comes with a later
	 * call.
	 */
	if (journal_wait_durable(j, j->accepted, 0.1, cause) < 0) {
		free(*cause);
		*cause = NULL;
	}
	pthread_mutex_lock(&j->mu);
	behind = j->done < j->accepted; /* still writing: more to come */
	pthread_mutex_unlock(&j->mu);
	/* one set for the whole read: matching costs the same however many */
	ps = bus_patset_new(patterns, npatterns);
	if (last && history_last_start(j, &since, last, scan, ps, npatterns,
	                               cause) < 0) {
		visited = -1;
		goto out;
	}
	/* LIMIT: the rows looked at per call are bounded, matching or not */
	if (sqlite3_prepare_v2(j->rdb,
	                       "SELECT seq, time_us, name, data, source FROM "
	                       "events WHERE seq > ? ORDER BY seq LIMIT ?",
	                       -1, &st, NULL) != SQLITE_OK) {
		*cause = xasprintf("journal: %s", sqlite3_errmsg(j->rdb));
		visited = -1;
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	sqlite3_bind_int64(st, 2, scan ? (sqlite3_int64)scan : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bus_event ev;

		rows++;
		row_event(st, &ev);
		seen = ev.seq;
		if (!bus_patset_match(ps, ev.name, ev.name_len))
			continue;
		if (!fn(&ev, arg))
			goto out; /* the page is full */
		visited++;
	}
	if (rc != SQLITE_DONE) {
		*cause = xasprintf("journal: %s", sqlite3_errmsg(j->rdb));
		visited = -1;
	} else if (scan && rows == scan) {
		*resume = seen; /* the bound, maybe not the end */
	} else if (behind) {
		*resume = seen ? seen : since; /* the rest is being written */
	}
out:
	sqlite3_finalize(st);
	bus_patset_free(ps);
	return visited;
}

/* ---- hooks: cursors and replay ------------------------------------------ */

static void
hook_cursor(const char *hook, uint64_t seq, void *arg)
{
	struct journal *j = arg;
	struct jrec *r =
	    jrec_new(JR_CURSOR, hook, strlen(hook), NULL, 0, NULL, 0);

	r->seq = seq;
	push(j, r);
}

static uint64_t
hook_replay(void *arg, const char *hook, const char *pattern,
            int (*deliver)(const char *hook, const struct bus_event *ev))
{
	struct journal *j = arg;
	sqlite3_stmt *st = NULL;
	uint64_t cursor = 0, n = 0;
	char *cause = NULL;
	bool known = false;

	if (journal_wait_durable(j, j->accepted, 10, &cause) < 0) {
		log_err("hook %s: no replay: %s", hook, cause);
		free(cause);
		return 0;
	}
	sqlite3_prepare_v2(j->rdb, "SELECT seq FROM cursors WHERE hook = ?", -1,
	                   &st, NULL);
	sqlite3_bind_text(st, 1, hook, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		cursor = (uint64_t)sqlite3_column_int64(st, 0);
		known = true;
	}
	sqlite3_finalize(st);
	if (!known) {
		/* a new hook owes nothing from before it existed */
		hook_cursor(hook, j->accepted, j);
		return j->accepted;
	}
	sqlite3_prepare_v2(
	    j->rdb,
	    "SELECT seq, time_us, name, data, source FROM events "
	    "WHERE seq > ? ORDER BY seq",
	    -1, &st, NULL);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)cursor);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct bus_event ev;
		int rc;

		row_event(&*st, &ev);
		if (!bus_pattern_match(pattern, ev.name, ev.name_len))
			continue;
		rc = deliver(hook, &ev);
		if (rc == 0)
			n++;
		else if (rc > 0)
			break; /* the consumer reads the rest with page */
	}
	sqlite3_finalize(st);
	if (n)
		log_info("hook %s: %" PRIu64 " event%s after #%" PRIu64
		         " replayed from the journal",
		         hook, n, n == 1 ? "" : "s", cursor);
	return j->accepted;
}

static void
st_cursor(void *arg, const char *consumer, uint64_t seq)
{
	hook_cursor(consumer, seq, arg);
}

/* ---- the bus's store ---------------------------------------------------- */

static bool
st_sync(void *arg)
{
	return journal_sync_always(arg);
}

static void
st_when_durable(void *arg, struct bus_durable_waiter *w)
{
	journal_when_durable(arg, w);
}

static void
st_cancel_wait(void *arg, struct bus_durable_waiter *w)
{
	journal_cancel_wait(arg, w);
}

static int
st_durable_status(void *arg, uint64_t seq, char **cause)
{
	return journal_durable_status(arg, seq, cause);
}

static long
st_history(void *arg, uint64_t since, size_t last, size_t scan,
           const char *const *patterns, size_t npatterns,
           bool (*fn)(const struct bus_event *ev, void *fnarg), void *fnarg,
           uint64_t *resume, char **cause)
{
	return journal_history(arg, since, last, scan, patterns, npatterns, fn,
	                       fnarg, resume, cause);
}

/* The store's page (services/bus.h): what is committed now, no wait. */
static long
st_page(void *arg, uint64_t since, const char *pattern, size_t max, size_t scan,
        void (*fn)(const struct bus_event *ev, void *fnarg), void *fnarg,
        uint64_t *upto, char **cause)
{
	struct journal *j = arg;
	sqlite3_stmt *st = NULL;
	uint64_t done;
	size_t rows = 0;
	long taken = 0;
	int rc = SQLITE_DONE;

	*upto = since;
	/* every seq up to done is committed or failed for good */
	pthread_mutex_lock(&j->mu);
	done = j->done;
	pthread_mutex_unlock(&j->mu);
	if (done <= since)
		return 0;
	if (sqlite3_prepare_v2(j->rdb,
	                       "SELECT seq, time_us, name, data, source FROM "
	                       "events WHERE seq > ? AND seq <= ? ORDER BY seq "
	                       "LIMIT ?",
	                       -1, &st, NULL) != SQLITE_OK)
		goto err;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)done);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)scan);
	while ((size_t)taken < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bus_event ev;

		rows++;
		row_event(st, &ev);
		*upto = ev.seq;
		if (!bus_pattern_match(pattern, ev.name, ev.name_len))
			continue;
		fn(&ev, fnarg);
		taken++;
	}
	if ((size_t)taken < max && rc != SQLITE_DONE)
		goto err;
	/* the end of what is stored: the rest up to done failed */
	if ((size_t)taken < max && rows < scan)
		*upto = done;
	sqlite3_finalize(st);
	return taken;
err:
	*cause = xasprintf("journal: %s", sqlite3_errmsg(j->rdb));
	sqlite3_finalize(st);
	return -1;
}

static const struct bus_store journal_store = {
    .sync = st_sync,
    .when_durable = st_when_durable,
    .cancel_wait = st_cancel_wait,
    .durable_status = st_durable_status,
    .history = st_history,
    .cursor = st_cursor,
    .replay = hook_replay,
    .page = st_page,
};

/* ---- retention ---------------------------------------------------------- */

static int
prune_task(struct worker_task *t, void *arg, char **cause)
{
	struct journal *j = arg;
	struct jrec *r = jrec_new(JR_PRUNE, NULL, 0, NULL, 0, NULL, 0);

	r->keep = j->keep_count;
	if (j->keep_age > 0)
		r->time_us = util_now_us() - (int64_t)(j->keep_age * 1e6);
	push(j, r);
	return 0;
}

json_t *
journal_stats_json(struct journal *j)
{
	sqlite3_stmt *st = NULL;
	json_int_t count = 0, first = 0;
	json_t *res;

	/* min(seq) is one look at the index; the count is kept by the writer
	 * (count(*) reads every row: seconds on the loop for a big journal) */
	if (sqlite3_prepare_v2(j->rdb, "SELECT min(seq) FROM events", -1, &st,
	                       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		first = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	pthread_mutex_lock(&j->mu);
	count = (json_int_t)j->stored;
	res = json_pack(
	    "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I}",
	    "path", j->path, "sync",
	    j->sync == CONF_SYNC_ALWAYS ? "always"
	    : j->sync == CONF_SYNC_OFF  ? "off"
	                                : "batch",
	    "events", count, "first_seq", first, "last_seq",
	    (json_int_t)j->accepted, "durable_seq", (json_int_t)j->durable,
	    "synced_seq", (json_int_t)j->synced, "commits",
	    (json_int_t)j->commits, "write_errors", (json_int_t)j->write_errors,
	    "lost", (json_int_t)j->lost, "pruned", (json_int_t)j->pruned,
	    "fsyncs", (json_int_t)(journal_vfs_syncs() - j->sync_base),
	    "loop_iterations",
	    (json_int_t)(unsigned)(ev_iteration(j->loop) - j->iter_base),
	    "backlog_full", (json_int_t)j->full_count, "checkpoints",
	    (json_int_t)j->checkpoints);
	pthread_mutex_unlock(&j->mu);
	return res;
}

/* ---- the service -------------------------------------------------------- */

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, "
    "time_us INTEGER NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, "
    "source TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cursors (hook TEXT PRIMARY KEY, "
    "seq INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);";

/* One text value of a one-row query (allocated), or NULL with *cause. */
static char *
query_text(sqlite3 *db, const char *sql, char **cause)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		*cause = xstrdup(sqlite3_errmsg(db));
	} else {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		v = xstrdup(t ? t : "");
	}
	sqlite3_finalize(st);
	return v;
}

static void
journal_free(struct journal *j)
{
	if (!j)
		return;
	sqlite3_close(j->cdb);
	sqlite3_close(j->rdb);
	if (j->wal_fd >= 0)
		close(j->wal_fd);
	sqlite3_close(j->wdb); /* the last: it checkpoints and drops the WAL */
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->ckpt_cv);
	pthread_cond_destroy(&j->work);
	pthread_cond_destroy(&j->done_cv);
	while (j->head) {
		struct jrec *r = j->head->next;
		jrec_free(j->head);
		j->head = r;
	}
	free(j->error);
	free(j->path);
	free(j->seq_path);
	log_limit_free(&j->errlog);
	free(j);
}

/*
 * Lost history or a corrupt database (what: allocated, taken): with
 * on_damage = refuse, -1 with *err saying what to do; with continue, 0 after
 * a loud log line.
 */
static int
damaged(struct journal *j, char *what, char **err)
{
	if (j->on_damage == CONF_DAMAGE_REFUSE) {
		*err =
		    xasprintf("%s; restore the journal from a backup, or set "
		              "[journal] on_damage = continue to start "
		              "anyway without reusing seq numbers (once, "
		              "after restoring an older backup, too)",
		              what);
		free(what);
		return -1;
	}
	log_err("journal %s: %s; starting anyway (on_damage = continue), "
	        "seq numbers go on after the high-water mark",
	        j->path, what);
	free(what);
	return 0;
}

/* Open, check and prepare the database; -1 with *cause. */
static int
journal_open(struct journal *j, char **cause)
{
	const char *sync_sql = j->sync == CONF_SYNC_ALWAYS ? "FULL"
	                       : j->sync == CONF_SYNC_OFF  ? "OFF"
	                                                   : "NORMAL";
	char *v = NULL, *err = NULL, *sql;
	sqlite3_stmt *st = NULL;
	uint64_t max, next;
	struct hwm h;

	if (hwm_read(j->seq_path, &h, &err) < 0) {
		if (damaged(j, err, &err) < 0)
			goto out_err;
		err = NULL;
	}
	if (sqlite3_open_v2(j->path, &j->wdb,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                        SQLITE_OPEN_NOMUTEX,
	                    journal_vfs_name()) != SQLITE_OK) {
		err =
		    xstrdup(j->wdb ? sqlite3_errmsg(j->wdb) : "out of memory");
		goto out_err;
	}
	sqlite3_busy_timeout(j->wdb, 5000);
	if (!(v = query_text(j->wdb, "PRAGMA journal_mode = WAL", &err)))
		goto out_err;
	if (strcmp(v, "wal")) {
		err = xasprintf("cannot use WAL mode (journal_mode is %s)", v);
		goto out_err;
	}
	free(v);
	v = NULL;
	/* after an unclean stop only: it reads the whole file */
	if (!h.present || !h.clean) {
		if (!(v = query_text(j->wdb, "PRAGMA quick_check", &err)))
			goto out_err;
		if (strcmp(v, "ok") &&
		    damaged(j, xasprintf("the database is corrupt: %s", v),
		            &err) < 0)
			goto out_err;
		free(v);
		v = NULL;
	}
	sql = xasprintf("PRAGMA synchronous = %s", sync_sql);
	if (exec_sql(j->wdb, sql, &err) < 0) {
		free(sql);
		goto out_err;
	}
	free(sql);
	if (exec_sql(j->wdb, schema, &err) < 0)
		goto out_err;
	/* a write now: a read-only file or directory fails here, not later */
	if (exec_sql(j->wdb,
	             "INSERT OR REPLACE INTO meta(key, value) VALUES "
	             "('opened_us', strftime('%s','now') * 1000000)",
	             &err) < 0)
		goto out_err;
	if (sqlite3_open_v2(j->path, &j->rdb,
	                    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
	                    journal_vfs_name()) != SQLITE_OK) {
		err =
		    xstrdup(j->rdb ? sqlite3_errmsg(j->rdb) : "out of memory");
		goto out_err;
	}
	/* checkpoints: by the checkpointer, on its own connection, never in
	 * the writer's commits */
	if (sqlite3_open_v2(j->path, &j->cdb,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                    journal_vfs_name()) != SQLITE_OK) {
		err =
		    xstrdup(j->cdb ? sqlite3_errmsg(j->cdb) : "out of memory");
		goto out_err;
	}
	sql = xasprintf("PRAGMA synchronous = %s", sync_sql);
	if (exec_sql(j->cdb, sql, &err) < 0) {
		free(sql);
		goto out_err;
	}
	free(sql);
	if (exec_sql(j->wdb, "PRAGMA wal_autocheckpoint = 0", &err) < 0)
		goto out_err;
	sqlite3_wal_hook(j->wdb, wal_hook, j);
	sqlite3_busy_timeout(j->rdb, 5000);
	if (sqlite3_prepare_v2(
	        j->rdb, "SELECT max(seq), min(seq), count(*) FROM events", -1,
	        &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		err = xstrdup(sqlite3_errmsg(j->rdb));
		sqlite3_finalize(st);
		goto out_err;
	}
	max = (uint64_t)sqlite3_column_int64(st, 0);
	j->first_seq = (uint64_t)sqlite3_column_int64(st, 1);
	j->stored = (uint64_t)sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	if (h.present && max < h.durable &&
	    damaged(j,
	            xasprintf("stored up to seq %" PRIu64
	                      " but had reached seq %" PRIu64
	                      " (the high-water mark in %s): committed events "
	                      "are lost (a damaged or truncated %s-wal, or "
	                      "rows deleted)",
	                      max, h.durable, j->seq_path, j->path),
	            &err) < 0)
		goto out_err;
	/* never reuse a seq: go on after anything ever handed out */
	next = max > h.reserved ? max : h.reserved;
	if (hwm_write(j, max, next, false, &err) < 0)
		goto out_err;
	j->durable = max;
	/* what an earlier run left (a crash may have left it in the page
	 * cache only) is on disk before it counts as synced */
	if (fsync_wal(j) == 0 || errno == ENOENT)
		j->synced = max; /* (no WAL: all in the db, synced by SQLite) */
	j->done = j->accepted = j->done_seen = next;
	j->last_ok = true;
	j->sync_base = journal_vfs_syncs();
	j->iter_base = ev_iteration(j->loop);
	return 0;

out_err:
	*cause = xasprintf("journal %s: %s", j->path, err);
	free(err);
	free(v);
	return -1;
}

static int
journal_init(struct svc *self, char **cause)
{
	const struct journal_conf *c = svc_options(self);
	struct bus *b = bus_of(self);
	struct worker *w = worker_of(self);
	struct journal *j;

	if (!c->enabled)
		return 0;
	if (!b || !w) {
		*cause = xstrdup("the bus and the worker must be running");
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->loop = svc_loop(self);
	j->path = xstrdup(c->path);
	j->sync = c->sync;
	j->keep_count = c->keep_count;
	j->keep_age = c->keep_age;
	j->on_damage = c->on_damage;
	j->backlog = c->backlog;
	j->interval = c->batch_interval;
	j->wal_fd = -1;
	j->seq_path = xasprintf("%s.seq", j->path);
	j->errlog.level = LOGL_ERR;
	j->errlog.what = "journal write errors";
	j->errlog.interval = ERRLOG_INTERVAL;
	j->bus = b;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->work, NULL);
	pthread_cond_init(&j->done_cv, NULL);
	pthread_cond_init(&j->ckpt_cv, NULL);
	if (journal_open(j, cause) < 0) {
		journal_free(j);
		return -1;
	}
	/* seq goes on after the journal's last event */
	if (j->accepted > bus_last_seq(b) &&
	    bus_set_last_seq(b, j->accepted) < 0)
		log_warn("journal: the bus cannot continue after seq %" PRIu64
		         ": %s",
		         j->accepted, strerror(errno));
	ev_async_init(&j->async, async_cb);
	j->async.data = j;
	ev_async_start(j->loop, &j->async);
	if (pthread_create(&j->thread, NULL, writer_main, j)) {
		*cause = xstrdup("journal: cannot start the writer thread");
		ev_async_stop(j->loop, &j->async);
		journal_free(j);
		return -1;
	}
	j->thread_running = true;
	if (pthread_create(&j->ckpt_thread, NULL, ckpt_main, j) == 0)
		j->ckpt_running = true;
	else /* the WAL then grows until a restart: say so */
		log_warn("journal: cannot start the checkpointer thread");
	bus_set_accept_hook(b, on_accept, j);
	bus_set_store(b, &journal_store, j);
	if (j->keep_count || j->keep_age > 0) {
		struct worker_spec spec = {
		    .name = PRUNE_TASK,
		    .kind = WORKER_PERIODIC,
		    .interval = PRUNE_INTERVAL,
		    .run_now = true,
		    .fn = prune_task,
		    .arg = j,
		    .origin = "journal",
		    .description = "journal retention",
		};
		worker_schedule(w, &spec);
	}
	svc_set_priv(self, j);
	log_info("journal: %s (sync %s), last seq %" PRIu64, j->path,
	         j->sync == CONF_SYNC_ALWAYS ? "always"
	         : j->sync == CONF_SYNC_OFF  ? "off"
	                                     : "batch",
	         j->accepted);
	return 0;
}

static int
journal_stop(struct svc *self)
{
	struct journal *j = svc_priv(self);
	struct worker *w = worker_of(self);
	struct bus *b = bus_of(self);

	if (!j)
		return 0;
	if (b) {
		bus_set_accept_hook(b, NULL, NULL);
		bus_set_store(b, NULL, NULL);
		bus_set_store_full(b, false);
	}
	if (w)
		worker_cancel(w, PRUNE_TASK);
	pthread_mutex_lock(&j->mu);
	j->stop = true;
	pthread_cond_signal(&j->work);
	pthread_cond_signal(&j->ckpt_cv);
	pthread_mutex_unlock(&j->mu);
	if (j->thread_running)
		pthread_join(j->thread, NULL);
	if (j->ckpt_running)
		pthread_join(j->ckpt_thread, NULL);
	async_cb(j->loop, &j->async, 0);
	log_limit_flush(&j->errlog);
	run_durable_waiters(j, true);
	ev_async_stop(j->loop, &j->async);
	svc_set_priv(self, NULL);
	journal_free(j);
	return 0;
}

#define JF(f) offsetof(struct journal_conf, f)

static const struct svc_conf_enum journal_syncs[] = {
    {"always", CONF_SYNC_ALWAYS},
    {"batch", CONF_SYNC_BATCH},
    {"off", CONF_SYNC_OFF},
    {NULL, 0},
};

static const struct svc_conf_enum journal_damages[] = {
    {"refuse", CONF_DAMAGE_REFUSE},
    {"continue", CONF_DAMAGE_CONTINUE},
    {NULL, 0},
};

static const struct svc_conf_item journal_items[] = {
    {.key = "path",
     .type = &svc_conf_path,
     .off = JF(path),
     .dflt = "/var/lib/%p/journal.db",
     .doc = "the SQLite database"},
    {.key = "sync",
     .type = &svc_conf_enum,
     .off = JF(sync),
     .dflt = "batch",
     .arg = journal_syncs,
     .doc = "always, batch or off: when an emit is acknowledged"},
    {.key = "retention_count",
     .type = &svc_conf_count,
     .off = JF(keep_count),
     .min = "0",
     .max = "1099511627776",
     .doc = "events kept (0: no limit)"},
    {.key = "retention_age",
     .type = &svc_conf_duration,
     .off = JF(keep_age),
     .max = "3650d",
     .doc = "how long events are kept (unset: no limit)"},
    {.key = "backlog",
     .type = &svc_conf_count,
     .off = JF(backlog),
     .dflt = "16384",
     .min = "16",
     .max = "16777216",
     .doc = "events accepted but not yet committed, at most (then emit "
            "waits)"},
    {.key = "batch_interval",
     .type = &svc_conf_duration,
     .off = JF(batch_interval),
     .dflt = "100ms",
     .min = "1ms",
     .max = "10s",
     .doc = "sync = batch: the WAL is synced at most this long after a "
            "commit"},
    {.key = "on_damage",
     .type = &svc_conf_enum,
     .off = JF(on_damage),
     .dflt = "refuse",
     .arg = journal_damages,
     .doc = "refuse or continue after lost history or a corrupt db"},
};

/*
 * The database and PATH.seq must be creatable: the directory exists and is
 * writable, and the file, if there, is a writable file. Said at the path
 * key's line, by --check-config too (a path given in the file: the default
 * is the unit's StateDirectory, which may only exist under systemd).
 */
static int
journal_section_check(struct svc_conf_ctx *cx, void *opts)
{
	const struct journal_conf *c = opts;
	const char *slash;
	char *dir, *why = NULL;
	struct stat st;
	int line;

	/* the default (the unit's StateDirectory) is checked when opened */
	line = svc_conf_key_line(cx, "path");
	if (!c->enabled || !c->path || line <= 0)
		return 0;
	slash = strrchr(c->path, '/');
	dir = slash ? xstrndup(c->path,
	                       slash == c->path ? 1 : (size_t)(slash - c->path))
	            : xstrdup(".");
	if (stat(dir, &st) < 0)
		why = xasprintf("its directory %s %s", dir,
		                errno == ENOENT ? "does not exist"
		                                : strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		why = xasprintf("%s is not a directory", dir);
	else if (stat(c->path, &st) == 0 && !S_ISREG(st.st_mode))
		why = xasprintf("%s is not a regular file", c->path);
	else if (access(dir, W_OK | X_OK) < 0)
		why = xasprintf("its directory %s is not writable (%s)", dir,
		                strerror(errno));
	else if (stat(c->path, &st) == 0 && access(c->path, R_OK | W_OK) < 0)
		why = xasprintf("%s is not writable (%s)", c->path,
		                strerror(errno));
	free(dir);
	if (!why)
		return 0;
	svc_conf_error(cx, line,
	               "bad value for 'path' in [journal]: cannot create the "
	               "journal %s: %s",
	               c->path, why);
	free(why);
	return -1;
}

/* Opened once at start: the whole section is restart-only. */
static const struct svc_conf_section journal_section = {
    .name = "journal",
    SVC_CONF_ITEMS(journal_items),
    .has_present = true,
    .present_off = JF(enabled),
    .flags = SVC_CONF_RESTART,
    .check = journal_section_check,
    .doc = "durable events (enabled when the section is present)",
};
/* `status`: null while disabled (no [journal] section). */
static json_t *
journal_figures(struct svc *self)
{
	struct journal *j = svc_priv(self);

	return j ? journal_stats_json(j) : NULL;
}

/* `svcctl metrics`: the figures' types and help (daemon/service.h). */
static const struct svc_metric journal_metrics[] = {
    {.figure = "events",
     .type = SVC_METRIC_GAUGE,
     .help = "events in the journal"},
    {.figure = "first_seq",
     .type = SVC_METRIC_GAUGE,
     .help = "the oldest seq kept"},
    {.figure = "last_seq",
     .type = SVC_METRIC_GAUGE,
     .help = "the newest seq written"},
    {.figure = "durable_seq",
     .type = SVC_METRIC_GAUGE,
     .help = "the newest seq committed (kept if svcd crashes)"},
    {.figure = "synced_seq",
     .type = SVC_METRIC_GAUGE,
     .help = "the newest seq fsynced (kept if the machine loses power)"},
    {.figure = "commits",
     .type = SVC_METRIC_COUNTER,
     .help = "journal commits"},
    {.figure = "write_errors",
     .type = SVC_METRIC_COUNTER,
     .help = "journal writes that failed"},
    {.figure = "lost",
     .type = SVC_METRIC_COUNTER,
     .help = "events the journal could not keep"},
    {.figure = "pruned",
     .type = SVC_METRIC_COUNTER,
     .help = "events pruned by retention"},
};

const struct svc_desc journal_service = {
    .name = "journal",
    .requires = SVC_REQUIRES("bus", "worker"),
    .init = journal_init,
    .stop = journal_stop,
    .conf = SVC_CONF_SECTIONS(&journal_section),
    .conf_size = sizeof(struct journal_conf),
    .tasks = SVC_REQUIRES(PRUNE_TASK),
    .figures = journal_figures,
    SVC_METRICS(journal_metrics),
};

void
journal_test_cap(struct journal *j, bool cap)
{
	pthread_mutex_lock(&j->mu);
	j->cap_pages = cap ? 1 : -1;
	pthread_mutex_unlock(&j->mu);
}
