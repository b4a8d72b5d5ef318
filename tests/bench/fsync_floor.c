/* fsync_floor.c — the latency of one write + fdatasync on this disk. */
/*
 * Usage: fsync_floor [-n N] [-b BYTES] [-o] FILE
 *
 * N times (default 2000): write BYTES (default 4096, one SQLite page) at the
 * end of FILE, then fdatasync it; with -o the same BYTES are written over
 * the start of the file instead (a file that does not grow, as a WAL that
 * was reset). FILE is created and removed. Prints one line:
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

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	size_t n = 2000, bytes = 4096;
	int over = 0, opt, fd;
	int64_t *lat, sum = 0;
	char *page;

	while ((opt = getopt(argc, argv, "n:b:o")) != -1) {
		switch (opt) {
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'b': bytes = strtoul(optarg, NULL, 10); break;
		case 'o': over = 1; break;
		default:
			fprintf(
			    stderr,
			    "usage: fsync_floor [-n N] [-b BYTES] [-o] FILE\n");
			return 64;
		}
	}
	if (optind != argc - 1 || !n || !bytes) {
		fprintf(stderr,
		        "usage: fsync_floor [-n N] [-b BYTES] [-o] FILE\n");
		return 64;
	}
	lat = calloc(n, sizeof(*lat));
	page = malloc(bytes);
	if (!lat || !page)
		return 1;
	memset(page, 'x', bytes);
	fd = open(argv[optind], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(argv[optind]);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t t = now_us();
		ssize_t w =
		    over ? pwrite(fd, page, bytes, 0) : write(fd, page, bytes);

		if (w != (ssize_t)bytes || fdatasync(fd) < 0) {
			perror("fsync_floor: write/fdatasync");
			return 1;
		}
		lat[i] = now_us() - t;
		sum += lat[i];
	}
	close(fd);
	unlink(argv[optind]);
	qsort(lat, n, sizeof(*lat), cmp);
	printf("n=%zu bytes=%zu p50_us=%lld p99_us=%lld mean_us=%lld\n", n,
	       bytes, (long long)lat[n / 2], (long long)lat[n * 99 / 100],
	       (long long)(sum / (int64_t)n));
	free(lat);
	free(page);
	return 0;
}
