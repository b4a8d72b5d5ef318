/* latprobe.c — emit -> subscriber end-to-end latency, one event at a time. */
/*
 * Usage: latprobe -s SOCK [-r] [-a ACK] [-n COUNT] -m MARK SUBLINE EMITLINE
 * One connection subscribes with SUBLINE (ready once a reply line holds
 * ACK); another sends EMITLINE (which must carry MARK once) COUNT times, one
 * at a time, and times each until MARK reaches the subscriber and the
 * emitter's reply arrived. Prints "n=N p50_us=A p99_us=B p999_us=C max_us=D".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static int
dial(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("latprobe: connect");
		exit(1);
	}
	return fd;
}

/* Read from fd until `need` occurrences of s were seen (across reads). */
static void
wait_for(int fd, const char *s, int need)
{
	static char buf[65536 + 256];
	size_t sl = strlen(s), keep = 0;

	while (need > 0) {
		ssize_t n = read(fd, buf + keep, sizeof(buf) - 256);
		if (n <= 0) {
			fprintf(stderr, "latprobe: connection lost\n");
			exit(1);
		}
		size_t len = keep + (size_t)n;
		char *p = buf, *end = buf + len;
		while (need > 0 && (p = memmem(p, (size_t)(end - p), s, sl))) {
			need--;
			p += sl;
		}
		keep = len < sl - 1 ? len : sl - 1;
		memmove(buf, end - keep, keep);
	}
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *ack = "\n", *mark = NULL;
	int n = 10000, crlf = 0, opt;

	while ((opt = getopt(argc, argv, "s:ra:n:m:")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'r': crlf = 1; break;
		case 'a': ack = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'm': mark = optarg; break;
		default: return 64;
		}
	}
	if (!sock || !mark || n <= 0 || optind != argc - 2) {
		fprintf(stderr, "usage: latprobe -s SOCK [-r] [-a ACK] [-n N] "
		                "-m MARK SUBLINE EMITLINE\n");
		return 64;
	}
	const char *eol = crlf ? "\r\n" : "\n";
	int sfd = dial(sock), efd = dial(sock);
	char line[8192];
	int ll = snprintf(line, sizeof(line), "%s%s", argv[optind + 1], eol);
	int64_t *lat = calloc((size_t)n, sizeof(*lat));

	dprintf(sfd, "%s%s", argv[optind], eol);
	wait_for(sfd, ack, 1);
	for (int i = 0; i < n; i++) {
		int64_t t = bench_now_us();
		if (write(efd, line, (size_t)ll) != ll)
			return 1;
		wait_for(sfd, mark, 1);
		lat[i] = bench_now_us() - t;
		wait_for(efd, "\n", 1);
	}
	qsort(lat, (size_t)n, sizeof(*lat), bench_cmp_i64);
	printf("n=%d p50_us=%lld p99_us=%lld p999_us=%lld max_us=%lld\n", n,
	       (long long)lat[n / 2], (long long)lat[(size_t)n * 99 / 100],
	       (long long)lat[(size_t)n * 999 / 1000], (long long)lat[n - 1]);
	free(lat);
	close(sfd);
	close(efd);
	return 0;
}
