/* sub.c — a plain socket subscriber: reads and discards, counts. */
/*
 * Usage: sub -s SOCK [-r] [-a ACK] [-n LINES] [-m PREFIX] LINE
 * Sends LINE (the subscribe request), waits for a reply line holding ACK
 * (default: any line), prints "ready" and then reads and discards until EOF,
 * SIGTERM/SIGINT or LINES more lines, and prints
 * "bytes=B lines=L msgs=M closed=0|1" (closed=1: the server closed the
 * connection first). With -m, M counts the lines that start with PREFIX (one
 * per message: the event line for svcd, "*3" for a Redis pub/sub message);
 * without it, M is 0. On SIGUSR1 it prints "count msgs=M lines=L bytes=B"
 * (flushed) and goes on reading.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop, report;

static void
on_sig(int s)
{
	if (s == SIGUSR1)
		report = 1;
	else
		stop = s;
}

/* Line and message counts; a line may be split across reads. */
struct counter {
	const char *pfx; /* NULL: count lines only */
	size_t plen;
	size_t at; /* bytes of the current line matched against pfx */
	int skip;  /* the current line is decided (matched or not) */
	unsigned long long lines, msgs;
};

static void
count(struct counter *k, const char *p, size_t n)
{
	const char *end = p + n;

	while (p < end) {
		if (!k->skip) {
			size_t m = k->plen - k->at;

			if (m > (size_t)(end - p))
				m = (size_t)(end - p);
			if (memcmp(p, k->pfx + k->at, m)) {
				k->skip = 1;
			} else if ((k->at += m) == k->plen) {
				k->msgs++;
				k->skip = 1;
			}
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return;
		k->lines++;
		k->at = 0;
		k->skip = !k->pfx;
		p = nl + 1;
	}
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *ack = NULL;
	unsigned long long want = 0, bytes = 0;
	struct counter k = {.skip = 1};
	int crlf = 0, opt, ready = 0, closed = 0;
	static char buf[1 << 18];
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	while ((opt = getopt(argc, argv, "s:ra:n:m:")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'r': crlf = 1; break;
		case 'a': ack = optarg; break;
		case 'n': want = strtoull(optarg, NULL, 10); break;
		case 'm':
			k.pfx = optarg;
			k.plen = strlen(optarg);
			k.skip = 0;
			break;
		default: return 64;
		}
	}
	if (!sock || optind != argc - 1) {
		fprintf(stderr, "usage: sub -s SOCK [-r] [-a ACK] [-n N] "
		                "[-m PREFIX] LINE\n");
		return 64;
	}
	/* no SA_RESTART: a signal interrupts the read */
	struct sigaction sa = {.sa_handler = on_sig};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("sub: connect");
		return 1;
	}
	dprintf(fd, "%s%s", argv[optind], crlf ? "\r\n" : "\n");
	size_t have = 0;
	while (!ready) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0) {
			fprintf(stderr, "sub: no subscribe reply\n");
			return 1;
		}
		have += (size_t)n;
		buf[have] = '\0';
		char *nl;
		while (!ready && (nl = strchr(buf, '\n'))) {
			*nl = '\0';
			ready = !ack || strstr(buf, ack);
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
	}
	/* a signal that lands just before a read is seen within 100 ms */
	struct timeval tv = {.tv_usec = 100000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	printf("ready\n");
	fflush(stdout);
	count(&k, buf, have);
	bytes += have;
	for (;;) {
		if (report) {
			report = 0;
			printf("count msgs=%llu lines=%llu bytes=%llu\n",
			       k.msgs, k.lines, bytes);
			fflush(stdout);
		}
		if (stop || (want && k.lines >= want))
			break;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 &&
		    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			if (n < 0)
				perror("sub: read");
			else
				fprintf(stderr,
				        "sub: the server closed the connection "
				        "after %llu lines\n",
				        k.lines);
			closed = 1;
			break;
		}
		bytes += (size_t)n;
		count(&k, buf, (size_t)n);
	}
	printf("bytes=%llu lines=%llu msgs=%llu closed=%d\n", bytes, k.lines,
	       k.msgs, closed);
	close(fd);
	return 0;
}
