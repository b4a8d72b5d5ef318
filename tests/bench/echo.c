/* echo.c — the physical floor: a minimal libev line echo server. */
/*
 * Usage: echo SOCK. Every complete line read is written back; one read and
 * one write per readiness, like any event-loop server at its simplest.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#define BUFSZ 65536

struct client {
	ev_io w;
	size_t len;
	char buf[BUFSZ];
};

static void
client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = (struct client *)w;
	ssize_t n = read(w->fd, c->buf + c->len, BUFSZ - c->len);

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		goto out_close;
	}
	c->len += (size_t)n;
	char *nl = memrchr(c->buf, '\n', c->len);
	if (!nl)
		return;
	size_t k = (size_t)(nl - c->buf) + 1, off = 0;
	while (off < k) { /* blocking-ish: the floor never queues */
		ssize_t m = send(w->fd, c->buf + off, k - off, MSG_NOSIGNAL);
		if (m < 0 && errno == EINTR)
			continue;
		if (m < 0 && errno == EAGAIN)
			continue;
		if (m < 0)
			goto out_close;
		off += (size_t)m;
	}
	memmove(c->buf, c->buf + k, c->len - k);
	c->len -= k;
	return;
out_close:
	ev_io_stop(loop, w);
	close(w->fd);
	free(c);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	struct client *c = malloc(sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->len = 0;
	ev_io_init(&c->w, client_cb, fd, EV_READ);
	ev_io_start(loop, &c->w);
}

static void
term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct ev_loop *loop = EV_DEFAULT;
	ev_io aw;
	ev_signal sw;

	if (argc != 2) {
		fprintf(stderr, "usage: echo SOCK\n");
		return 64;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[1]);
	unlink(argv[1]);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 512) < 0) {
		perror("echo");
		return 1;
	}
	ev_io_init(&aw, accept_cb, fd, EV_READ);
	ev_io_start(loop, &aw);
	ev_signal_init(&sw, term_cb, SIGTERM);
	ev_signal_start(loop, &sw);
	ev_run(loop, 0);
	unlink(argv[1]);
	return 0;
}
