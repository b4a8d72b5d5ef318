/*
 * journal_vfs.h — the journal's SQLite VFS: the default one (unix), with
 * every xSync counted, so the journal's figures say how many fsyncs its
 * commits and checkpoints really cost (no strace needed).
 */
#ifndef SVCD_JOURNAL_VFS_H
#define SVCD_JOURNAL_VFS_H

#include <stdint.h>

/* The VFS's name for sqlite3_open_v2 (registered on first use), or NULL
 * when it cannot be registered (then the default VFS is used). */
const char *journal_vfs_name(void);
/* xSync calls through it so far, process-wide (every thread). */
uint64_t journal_vfs_syncs(void);
/* Count n fsyncs made outside SQLite (the seq high-water mark file). */
void journal_vfs_count(uint64_t n);

#endif
