/* sub.c — a plain socket subscriber: reads and discards, counts. */
/*
 * Usage: sub -s SOCK [-r] [-a ACK] [-n LINES] LINE
 * Sends LINE (the subscribe request), waits for a reply line holding ACK
 * (default: any line), prints "ready" and then reads and discards until EOF,
 * SIGTERM/SIGINT or LINES more lines, and prints "bytes=B lines=L".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_sig(int s)
{
	stop = s;
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *ack = NULL;
	unsigned long long want = 0, bytes = 0, lines = 0;
	int crlf = 0, opt, ready = 0;
	static char buf[1 << 18];
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	while ((opt = getopt(argc, argv, "s:ra:n:")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'r': crlf = 1; break;
		case 'a': ack = optarg; break;
		case 'n': want = strtoull(optarg, NULL, 10); break;
		default: return 64;
		}
	}
	if (!sock || optind != argc - 1) {
		fprintf(stderr,
		        "usage: sub -s SOCK [-r] [-a ACK] [-n N] LINE\n");
		return 64;
	}
	struct sigaction sa = {.sa_handler = on_sig};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
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
	printf("ready\n");
	fflush(stdout);
	for (char *p = buf; (p = memchr(p, '\n', have - (size_t)(p - buf)));
	     p++)
		lines++;
	bytes += have;
	while (!stop && (!want || lines < want)) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		bytes += (size_t)n;
		for (char *p = buf;
		     (p = memchr(p, '\n', (size_t)n - (size_t)(p - buf))); p++)
			lines++;
	}
	printf("bytes=%llu lines=%llu\n", bytes, lines);
	close(fd);
	return 0;
}
