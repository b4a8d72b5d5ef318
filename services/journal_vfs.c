/*
 * journal_vfs.c — a VFS that forwards every call to the default VFS and
 * counts xSync (see journal_vfs.h). Each file wraps the real one, which sits
 * right after it in the memory SQLite allocates (szOsFile covers both).
 */
#include "services/journal_vfs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <sqlite3.h>

#define VFS_NAME "svcd-journal"

struct cfile {
	sqlite3_file base;
	sqlite3_file *real;
};

static sqlite3_vfs vfs;
static sqlite3_vfs *root;
static _Atomic uint64_t syncs;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered;

#define REAL(f) (((struct cfile *)(void *)(f))->real)

static int
c_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int
c_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int
c_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int
c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
c_sync(sqlite3_file *f, int flags)
{
	atomic_fetch_add_explicit(&syncs, 1, memory_order_relaxed);
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
c_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
c_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int
c_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int
c_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
c_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
c_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
c_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
c_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
c_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
c_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
c_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
c_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int
c_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* Version 1 files (no shm, no mmap) get the version 1 table. */
static const sqlite3_io_methods methods3 = {
    .iVersion = 3,
    .xClose = c_close,
    .xRead = c_read,
    .xWrite = c_write,
    .xTruncate = c_truncate,
    .xSync = c_sync,
    .xFileSize = c_file_size,
    .xLock = c_lock,
    .xUnlock = c_unlock,
    .xCheckReservedLock = c_check_reserved,
    .xFileControl = c_file_control,
    .xSectorSize = c_sector_size,
    .xDeviceCharacteristics = c_device,
    .xShmMap = c_shm_map,
    .xShmLock = c_shm_lock,
    .xShmBarrier = c_shm_barrier,
    .xShmUnmap = c_shm_unmap,
    .xFetch = c_fetch,
    .xUnfetch = c_unfetch,
};
static const sqlite3_io_methods methods1 = {
    .iVersion = 1,
    .xClose = c_close,
    .xRead = c_read,
    .xWrite = c_write,
    .xTruncate = c_truncate,
    .xSync = c_sync,
    .xFileSize = c_file_size,
    .xLock = c_lock,
    .xUnlock = c_unlock,
    .xCheckReservedLock = c_check_reserved,
    .xFileControl = c_file_control,
    .xSectorSize = c_sector_size,
    .xDeviceCharacteristics = c_device,
};

static int
c_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags,
       int *out_flags)
{
	struct cfile *cf = (struct cfile *)(void *)f;
	int rc;

	cf->real = (sqlite3_file *)(void *)(cf + 1);
	rc = root->xOpen(root, name, cf->real, flags, out_flags);
	/* a failed open leaves no methods: SQLite then does not close it */
	if (rc != SQLITE_OK || !cf->real->pMethods)
		f->pMethods = NULL;
	else
		f->pMethods =
		    cf->real->pMethods->iVersion >= 3 ? &methods3 : &methods1;
	return rc;
}

static int
c_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	return root->xDelete(root, name, sync_dir);
}

static int
c_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	return root->xAccess(root, name, flags, out);
}

static int
c_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	return root->xFullPathname(root, name, n, out);
}

static void *
c_dlopen(sqlite3_vfs *v, const char *name)
{
	return root->xDlOpen(root, name);
}

static void
c_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	root->xDlError(root, n, msg);
}

static void (*c_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	return root->xDlSym(root, h, sym);
}

static void
c_dlclose(sqlite3_vfs *v, void *h)
{
	root->xDlClose(root, h);
}

static int
c_randomness(sqlite3_vfs *v, int n, char *out)
{
	return root->xRandomness(root, n, out);
}

static int
c_sleep(sqlite3_vfs *v, int us)
{
	return root->xSleep(root, us);
}

static int
c_current_time(sqlite3_vfs *v, double *out)
{
	return root->xCurrentTime(root, out);
}

static int
c_last_error(sqlite3_vfs *v, int n, char *out)
{
	return root->xGetLastError ? root->xGetLastError(root, n, out) : 0;
}

static int
c_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	return root->xCurrentTimeInt64(root, out);
}

static void
do_register(void)
{
	root = sqlite3_vfs_find(NULL);
	if (!root || root->iVersion < 2)
		return;
	vfs.iVersion = 2;
	vfs.szOsFile = (int)sizeof(struct cfile) + root->szOsFile;
	vfs.mxPathname = root->mxPathname;
	vfs.zName = VFS_NAME;
	vfs.xOpen = c_open;
	vfs.xDelete = c_delete;
	vfs.xAccess = c_access;
	vfs.xFullPathname = c_full_pathname;
	vfs.xDlOpen = c_dlopen;
	vfs.xDlError = c_dlerror;
	vfs.xDlSym = c_dlsym;
	vfs.xDlClose = c_dlclose;
	vfs.xRandomness = c_randomness;
	vfs.xSleep = c_sleep;
	vfs.xCurrentTime = c_current_time;
	vfs.xGetLastError = c_last_error;
	vfs.xCurrentTimeInt64 = c_current_time64;
	registered = sqlite3_vfs_register(&vfs, 0) == SQLITE_OK;
}

const char *
journal_vfs_name(void)
{
	pthread_once(&once, do_register);
	return registered ? VFS_NAME : NULL;
}

uint64_t
journal_vfs_syncs(void)
{
	return atomic_load_explicit(&syncs, memory_order_relaxed);
}

void
journal_vfs_count(uint64_t n)
{
	atomic_fetch_add_explicit(&syncs, n, memory_order_relaxed);
}
