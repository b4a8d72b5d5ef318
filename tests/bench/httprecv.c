/* httprecv.c — a fast webhook receiver for tests/bench/hooks.sh. */
/*
 * Usage: httprecv PORTFILE. Listens on 127.0.0.1 (a free port, written to
 * PORTFILE), HTTP/1.1 keep-alive: every complete request (headers and a
 * Content-Length body) is answered 200 with an empty body at once. On
 * SIGTERM it prints "requests N connections N" to stdout and exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#define BUFSZ 65536

struct client {
	ev_io w;
	size_t len;
	char buf[BUFSZ];
};

static unsigned long requests, connections;

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/* Bytes of one complete request at p, or 0 if not all there yet. */
static size_t
request_len(const char *p, size_t n)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4);
	size_t head, body = 0;

	if (!end)
		return 0;
	head = (size_t)(end - p) + 4;
	for (const char *l = p; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end + 2 - l));
		if (!nl)
			break;
		if (!strncasecmp(l, "Content-Length:", 15))
			body = strtoul(l + 15, NULL, 10);
		l = nl + 1;
	}
	return head + body <= n ? head + body : 0;
}

static void
client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = (struct client *)w;
	ssize_t n = read(w->fd, c->buf + c->len, BUFSZ - c->len);
	size_t off = 0, k, nrep = 0;
	char out[4096];

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		goto out_close;
	}
	c->len += (size_t)n;
	while ((k = request_len(c->buf + off, c->len - off))) {
		off += k;
		requests++;
		if ((nrep + 1) * (sizeof(reply) - 1) <= sizeof(out))
			memcpy(out + nrep++ * (sizeof(reply) - 1), reply,
			       sizeof(reply) - 1);
	}
	if (nrep && write(w->fd, out, nrep * (sizeof(reply) - 1)) < 0)
		goto out_close;
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	if (c->len == BUFSZ)
		goto out_close;
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
	struct client *c;

	if (fd < 0)
		return;
	connections++;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	ev_io_init(&c->w, client_cb, fd, EV_READ);
	ev_io_start(loop, &c->w);
}

static void
term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	printf("requests %lu connections %lu\n", requests, connections);
	fflush(stdout);
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	ev_io lw;
	ev_signal sw;
	int one = 1, fd;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: httprecv PORTFILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		perror("httprecv");
		return 1;
	}
	f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fprintf(f, "%u\n", ntohs(a.sin_port));
	fclose(f);
	ev_io_init(&lw, accept_cb, fd, EV_READ);
	ev_io_start(loop, &lw);
	ev_signal_init(&sw, term_cb, SIGTERM);
	ev_signal_start(loop, &sw);
	ev_run(loop, 0);
	return 0;
}
