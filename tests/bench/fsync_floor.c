/* fsync_floor.c — the latency of one write + fdatasync on this disk. */
/*
 * Usage: fsync_floor [-n N] [-b BYTES] [-o | -s] FILE
 *
 * N times (default 2000): write BYTES (default 4096, one SQLite page), then
 * fdatasync. Where:
 *   (default) at the end of FILE: the file grows, so every sync also
 *             commits the file system's metadata (an append-only log);
 *   -o        over the start of the file, the same BYTES each time (a log
 *             whose tail page is written again with each small record);
 *   -s        one after the other over a file of 4 MiB written and synced
 *             first, starting over at its end (a WAL that has started over
 *             writes over its old frames, each commit at the next place).
 * FILE is created and removed. Prints one line:
 *   n=N bytes=B p50_us=A p99_us=B mean_us=C
 * This is the floor of a durable acknowledgement: no store that fsyncs
 * before it answers can answer one client faster than this.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define SPAN (4u << 20) /* -s: the file written over */

static int
usage(void)
{
	fprintf(stderr,
	        "usage: fsync_floor [-n N] [-b BYTES] [-o | -s] FILE\n");
	return 64;
}

/* -s: write SPAN bytes and sync them, so later writes change no metadata */
static int
prefill(int fd, const char *page, size_t bytes)
{
	for (size_t off = 0; off + bytes <= SPAN; off += bytes)
		if (pwrite(fd, page, bytes, (off_t)off) != (ssize_t)bytes)
			return -1;
	return fsync(fd);
}

int
main(int argc, char **argv)
{
	size_t n = 2000, bytes = 4096, off = 0;
	int mode = 'a', opt, fd;
	int64_t *lat;
	char *page;

	while ((opt = getopt(argc, argv, "n:b:os")) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'b': bytes = strtoul(optarg, NULL, 10); break;
		case 'o':
		case 's': mode = opt; break;
		default: return usage();
		}
	}
	if (optind != argc - 1 || !n || !bytes || bytes > SPAN)
		return usage();
	lat = calloc(n, sizeof(*lat));
	page = malloc(bytes);
	if (!lat || !page)
		return 1;
	memset(page, 'x', bytes);
	fd = open(argv[optind], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(argv[optind]);
		return 1;
	}
	if (mode == 's' && prefill(fd, page, bytes) < 0) {
		perror("fsync_floor: prefill");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t t = bench_now_us();
		ssize_t w;

		if (mode == 'a')
			w = write(fd, page, bytes);
		else
			w = pwrite(fd, page, bytes, (off_t)off);
		if (w != (ssize_t)bytes || fdatasync(fd) < 0) {
			perror("fsync_floor: write/fdatasync");
			return 1;
		}
		lat[i] = bench_now_us() - t;
		if (mode == 's' && (off += bytes) + bytes > SPAN)
			off = 0;
	}
	close(fd);
	unlink(argv[optind]);
	bench_print_lat("", lat, n, bytes);
	free(lat);
	free(page);
	return 0;
}
