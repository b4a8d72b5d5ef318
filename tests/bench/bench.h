/* bench.h — what the bench tools share: a monotonic clock in microseconds
 * and sorted latencies. Header-only: each tool is built from its one .c. */
#ifndef SVCD_BENCH_H
#define SVCD_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* for qsort of int64_t */
static inline int
bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Sort lat (n > 0) and print "n=N bytes=B p50_us=A p99_us=B mean_us=C"
 * after prefix. */
static inline void
bench_print_lat(const char *prefix, int64_t *lat, size_t n, size_t bytes)
{
	int64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, n, sizeof(*lat), bench_cmp_i64);
	printf("%sn=%zu bytes=%zu p50_us=%lld p99_us=%lld mean_us=%lld\n",
	       prefix, n, bytes, (long long)lat[n / 2],
	       (long long)lat[n * 99 / 100], (long long)(sum / (int64_t)n));
}

#endif
