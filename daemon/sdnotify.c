/* sdnotify.c — sd_notify(3) over a datagram socket, without libsystemd. */
#include "daemon/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"

static struct {
	int fd;
	struct sockaddr_un addr;
	socklen_t addrlen;
	double watchdog;
} N = {.fd = -1};

int
sdn_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *wpid = getenv("WATCHDOG_PID");

	sdn_close();
	N.watchdog = 0;
	if (usec) {
		char *end;
		unsigned long long v = strtoull(usec, &end, 10);
		bool ours = !wpid || (unsigned long)atol(wpid) ==
		                         (unsigned long)getpid();
		if (*usec && !*end && v > 0 && ours)
			N.watchdog = (double)v / 2e6;
	}
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (!path || !*path)
		return 0;
	size_t len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    len >= sizeof(N.addr.sun_path)) {
		log_warn("ignoring NOTIFY_SOCKET='%s': not a socket path",
		         path);
		unsetenv("NOTIFY_SOCKET");
		errno = EINVAL;
		return -1;
	}
	memset(&N.addr, 0, sizeof(N.addr));
	N.addr.sun_family = AF_UNIX;
	memcpy(N.addr.sun_path, path, len);
	if (path[0] == '@')
		N.addr.sun_path[0] = '\0'; /* abstract namespace */
	N.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	N.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (N.fd < 0) {
		log_warn_errno("cannot create the notify socket");
		return -1;
	}
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

bool
sdn_enabled(void)
{
	return N.fd >= 0;
}

int
sdn_send(const char *fmt, ...)
{
	if (N.fd < 0)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	ssize_t n;
	do {
		n = sendto(N.fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
		           (struct sockaddr *)&N.addr, N.addrlen);
	} while (n < 0 && errno == EINTR);
	int saved = errno;
	if (n < 0)
		log_debug("sd_notify failed: %s", strerror(saved));
	free(msg);
	errno = saved;
	return n < 0 ? -1 : 0;
}

double
sdn_watchdog_interval(void)
{
	return N.watchdog;
}

void
sdn_close(void)
{
	if (N.fd >= 0)
		close(N.fd);
	N.fd = -1;
}
