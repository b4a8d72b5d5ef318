/* spawnready.c — time from spawn to READY=1 and to the first reply. */
/*
 * Usage: spawnready [-N] [-s SOCK -l LINE [-r]] -- COMMAND [ARG]...
 * -N: COMMAND gets NOTIFY_SOCKET and ready_us is the time to READY=1.
 * -s/-l: reply_us is the time until a connection to SOCK answers LINE
 * (polled every 50 µs). The command then gets SIGTERM and is reaped.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static int
try_reply(const char *path, const char *line)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char buf[4096];
	int ok = 0;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, line, strlen(line)) == (ssize_t)strlen(line) &&
	    read(fd, buf, sizeof(buf)) > 0)
		ok = 1;
	if (fd >= 0)
		close(fd);
	return ok;
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *line = NULL;
	int notify = 0, crlf = 0, opt, nfd = -1;
	char npath[108] = "", req[4096];
	int64_t ready = -1, reply = -1;

	while ((opt = getopt(argc, argv, "Ns:l:r")) != -1) {
		switch (opt) {
		case 'N': notify = 1; break;
		case 's': sock = optarg; break;
		case 'l': line = optarg; break;
		case 'r': crlf = 1; break;
		default: return 64;
		}
	}
	if (optind >= argc || (!notify && !sock) || (sock && !line)) {
		fprintf(stderr, "usage: spawnready [-N] [-s SOCK -l LINE [-r]] "
		                "-- CMD [ARG]...\n");
		return 64;
	}
	if (line)
		snprintf(req, sizeof(req), "%s%s", line, crlf ? "\r\n" : "\n");
	if (notify) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(npath, sizeof(npath), "/tmp/spawnready.%d", getpid());
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", npath);
		unlink(npath);
		nfd = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (nfd < 0 ||
		    bind(nfd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("spawnready");
			return 1;
		}
		setenv("NOTIFY_SOCKET", npath, 1);
	}
	int64_t t0 = bench_now_us();
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		_exit(127);
	}
	while (notify && ready < 0 && bench_now_us() - t0 < 10000000) {
		struct pollfd p = {.fd = nfd, .events = POLLIN};
		char buf[4096];
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "READY=1"))
			ready = bench_now_us() - t0;
	}
	while (sock && reply < 0 && bench_now_us() - t0 < 10000000) {
		if (try_reply(sock, req))
			reply = bench_now_us() - t0;
		else
			usleep(50);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	if (nfd >= 0) {
		close(nfd);
		unlink(npath);
	}
	printf("ready_us=%lld reply_us=%lld\n", (long long)ready,
	       (long long)reply);
	return (notify && ready < 0) || (sock && reply < 0);
}
