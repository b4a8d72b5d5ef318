/*
 * notifyd.c — a stand-in for systemd's notify socket in tests: binds a
 * datagram socket at PATH (or "@name" for the abstract namespace) and prints
 * every datagram as one line, "MS FIELD|FIELD|...", MS being milliseconds
 * since it started, flushed at once. Runs until killed.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: notifyd PATH|@NAME\n");
		return 64;
	}
	const char *path = argv[1];
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof(a.sun_path))
		return 64;
	memcpy(a.sun_path, path, len);
	if (path[0] == '@')
		a.sun_path[0] = '\0';
	else
		unlink(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		perror("notifyd");
		return 1;
	}
	long long start = now_ms();
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			continue;
		buf[n] = '\0';
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		printf("%lld %s\n", now_ms() - start, buf);
		fflush(stdout);
	}
}
