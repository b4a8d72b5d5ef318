/* store_floor.c — the latency of one durable commit of one event, per store. */
/*
 * Usage: store_floor [-n N] [-b BYTES] STORE PATH
 *        store_floor -l
 *
 * What an embedded store alone costs for one durable event: one thread, no
 * socket, one event (an 8-byte key that only grows, BYTES of data, default
 * 102) per transaction, committed durably. 2 000 commits first, untimed
 * (a WAL has started over, as in a running journal), then N (default 2000)
 * timed ones. PATH is created (a file, or a directory for lmdb and rocksdb)
 * and removed. Prints one line:
 *   store=S n=N bytes=B p50_us=A p99_us=B mean_us=C
 * Set against fsync_floor it is what the store adds to the disk's sync.
 * -l lists the stores this build has: sqlite always; lmdb and rocksdb when
 * their headers were there at build time.
 *
 *   sqlite   as svcd's journal with [journal] sync = always: WAL mode,
 *            synchronous = FULL, the journal's row (seq, time, name,
 *            data, source), BEGIN IMMEDIATE / INSERT / COMMIT prepared once
 *   lmdb     mdb_put with MDB_APPEND, mdb_txn_commit (syncs the data, then
 *            the meta page: two syncs)
 *   lmdb-nometasync  the same with MDB_NOMETASYNC (one sync; the last
 *            commit is not durable until the next one's: not a durable
 *            acknowledgement, shown for the cost of one sync)
 *   rocksdb  rocksdb_put with sync = true (its WAL: write + fdatasync)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench.h"
#if __has_include(<lmdb.h>)
#include <lmdb.h>
#define HAVE_LMDB 1
#endif
#if __has_include(<rocksdb/c.h>)
#include <rocksdb/c.h>
#define HAVE_ROCKSDB 1
#endif

#define WARMUP 2000

struct store {
	const char *name;
	/* open at path: 0, or -1 with a message on stderr */
	int (*open)(const char *path, int flags);
	/* one durable commit of (key, data, bytes) */
	int (*commit)(uint64_t key, const char *data, size_t bytes);
	void (*close)(void);
	int flags;
};

static void
rm_rf(const char *path)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s-wal' '%s-shm'", path, path,
	         path);
	if (system(cmd) != 0)
		fprintf(stderr, "store_floor: cannot remove %s\n", path);
}

/* ---- sqlite ---- */
static sqlite3 *db;
static sqlite3_stmt *sq_begin, *sq_ins, *sq_commit;

static int
sq_open(const char *path, int flags)
{
	(void)flags;
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db,
	                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	                 "CREATE TABLE events (seq INTEGER PRIMARY KEY, "
	                 "time_us INTEGER NOT NULL, name TEXT NOT NULL, "
	                 "data TEXT NOT NULL, source TEXT NOT NULL);",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &sq_begin, NULL) ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO events(seq, time_us, name, data, "
	                       "source) VALUES (?, ?, 'bench.durable', ?, "
	                       "'client')",
	                       -1, &sq_ins, NULL) ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &sq_commit, NULL)) {
		fprintf(stderr, "store_floor: sqlite %s: %s\n", path,
		        sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int
sq_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "store_floor: sqlite: %s\n",
		        sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int
sq_commit_one(uint64_t key, const char *data, size_t bytes)
{
	sqlite3_bind_int64(sq_ins, 1, (sqlite3_int64)key);
	sqlite3_bind_int64(sq_ins, 2, bench_now_us());
	sqlite3_bind_text(sq_ins, 3, data, (int)bytes, SQLITE_STATIC);
	return sq_step(sq_begin) < 0 || sq_step(sq_ins) < 0 ||
	               sq_step(sq_commit) < 0
	           ? -1
	           : 0;
}

static void
sq_close(void)
{
	sqlite3_finalize(sq_begin);
	sqlite3_finalize(sq_ins);
	sqlite3_finalize(sq_commit);
	sqlite3_close(db);
}

/* ---- lmdb ---- */
#ifdef HAVE_LMDB
static MDB_env *env;
static MDB_dbi dbi;

static int
lm_open(const char *path, int flags)
{
	MDB_txn *t;
	int rc;
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	if (system(cmd) != 0)
		return -1;
	if ((rc = mdb_env_create(&env)) ||
	    (rc = mdb_env_set_mapsize(env, (size_t)1 << 30)) ||
	    (rc = mdb_env_open(env, path, (unsigned)flags, 0600)) ||
	    (rc = mdb_txn_begin(env, NULL, 0, &t)) ||
	    (rc = mdb_dbi_open(t, NULL, 0, &dbi)) || (rc = mdb_txn_commit(t))) {
		fprintf(stderr, "store_floor: lmdb %s: %s\n", path,
		        mdb_strerror(rc));
		return -1;
	}
	return 0;
}

static int
lm_commit_one(uint64_t key, const char *data, size_t bytes)
{
	uint64_t k = __builtin_bswap64(key); /* big-endian: sorts as it grows */
	MDB_val kv = {sizeof(k), &k}, dv = {bytes, (void *)data};
	MDB_txn *t;
	int rc;

	if ((rc = mdb_txn_begin(env, NULL, 0, &t)) ||
	    (rc = mdb_put(t, dbi, &kv, &dv, MDB_APPEND)) ||
	    (rc = mdb_txn_commit(t))) {
		fprintf(stderr, "store_floor: lmdb: %s\n", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

static void
lm_close(void)
{
	mdb_env_close(env);
}
#endif

/* ---- rocksdb ---- */
#ifdef HAVE_ROCKSDB
static rocksdb_t *rdb;
static rocksdb_options_t *ropts;
static rocksdb_writeoptions_t *wopts;

static int
rk_open(const char *path, int flags)
{
	char *err = NULL;

	(void)flags;
	ropts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(ropts, 1);
	wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(wopts, 1);
	rdb = rocksdb_open(ropts, path, &err);
	if (err) {
		fprintf(stderr, "store_floor: rocksdb %s: %s\n", path, err);
		free(err);
		return -1;
	}
	return 0;
}

static int
rk_commit_one(uint64_t key, const char *data, size_t bytes)
{
	uint64_t k = __builtin_bswap64(key);
	char *err = NULL;

	rocksdb_put(rdb, wopts, (const char *)&k, sizeof(k), data, bytes, &err);
	if (err) {
		fprintf(stderr, "store_floor: rocksdb: %s\n", err);
		free(err);
		return -1;
	}
	return 0;
}

static void
rk_close(void)
{
	rocksdb_close(rdb);
	rocksdb_writeoptions_destroy(wopts);
	rocksdb_options_destroy(ropts);
}
#endif

static const struct store stores[] = {
    {"sqlite", sq_open, sq_commit_one, sq_close, 0},
#ifdef HAVE_LMDB
    {"lmdb", lm_open, lm_commit_one, lm_close, 0},
    {"lmdb-nometasync", lm_open, lm_commit_one, lm_close, MDB_NOMETASYNC},
#endif
#ifdef HAVE_ROCKSDB
    {"rocksdb", rk_open, rk_commit_one, rk_close, 0},
#endif
};
#define NSTORES (sizeof(stores) / sizeof(stores[0]))

static int
usage(void)
{
	fprintf(stderr, "usage: store_floor [-n N] [-b BYTES] STORE PATH\n"
	                "       store_floor -l\n");
	return 64;
}

int
main(int argc, char **argv)
{
	size_t n = 2000, bytes = 102;
	const struct store *s = NULL;
	int opt;
	int64_t *lat;
	char prefix[64];
	char *data;

	while ((opt = getopt(argc, argv, "n:b:l")) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'b': bytes = strtoul(optarg, NULL, 10); break;
		case 'l':
			for (size_t i = 0; i < NSTORES; i++)
				printf("%s\n", stores[i].name);
			return 0;
		default: return usage();
		}
	}
	if (optind != argc - 2 || !n || !bytes)
		return usage();
	for (size_t i = 0; i < NSTORES; i++)
		if (!strcmp(stores[i].name, argv[optind]))
			s = &stores[i];
	if (!s) {
		fprintf(stderr, "store_floor: no store %s in this build (-l)\n",
		        argv[optind]);
		return 64;
	}
	lat = calloc(n, sizeof(*lat));
	data = malloc(bytes);
	if (!lat || !data)
		return 1;
	memset(data, 'x', bytes);
	rm_rf(argv[optind + 1]);
	if (s->open(argv[optind + 1], s->flags) < 0)
		return 1;
	for (size_t i = 0; i < WARMUP + n; i++) {
		int64_t t = bench_now_us();

		if (s->commit(i + 1, data, bytes) < 0)
			return 1;
		if (i >= WARMUP) {
			lat[i - WARMUP] = bench_now_us() - t;
		}
	}
	s->close();
	rm_rf(argv[optind + 1]);
	snprintf(prefix, sizeof(prefix), "store=%s ", s->name);
	bench_print_lat(prefix, lat, n, bytes);
	free(lat);
	free(data);
	return 0;
}
