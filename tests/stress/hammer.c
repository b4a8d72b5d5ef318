/* hammer.c — load and fault client for the stress suite (tests/stress). */

/*
 * One mode per run, each a thing the shell cannot do fast enough or
 * precisely enough with socat:
 *
 *   hammer conc SOCK N         N clients connected at once, one ping each
 *   hammer cycles SOCK N       N connect / ping / close cycles in sequence
 *   hammer emit SOCK N EVENT   pipelined emits on one connection (N = 0:
 *                              until refused or closed); prints the seq of
 *                              every acknowledged emit, one a line
 *   hammer hold SOCK N SECS    N non-blocking connects, a ping on each,
 *                              watch SECS, print what each one got
 *   hammer slow SOCK US LINE   send LINE one byte every US microseconds
 *   hammer big SOCK BYTES      BYTES of 'x' with no newline, as fast as
 *                              possible; print the reply
 *   hammer bytes SOCK          every byte value 0..255 in four places of a
 *                              request; print a table of the answers
 *   hammer sub SOCK PATTERN    subscribe, print "subscribed", read nothing
 *                              until stdin closes, then copy the stream
 *                              to stdout until EOF or 3 s of silence
 *
 * Exit status 0 when the mode's own check holds, 1 otherwise, 2 on usage.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define REQ "{\"jsonrpc\":\"2.0\""
#define PING REQ ",\"id\":1,\"method\":\"ping\"}\n"

static const char *sock_path;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A connected socket, or -1 with errno set. */
static int
conn_open(bool nonblock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, flags = SOCK_STREAM | SOCK_CLOEXEC;

	if (nonblock)
		flags |= SOCK_NONBLOCK;
	fd = socket(AF_UNIX, flags, 0);
	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one line (without its newline) into buf; -1 on EOF/error/timeout. */
static int
read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t len = 0;
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)(end - now_ms());
		char ch;

		if (left < 0 || poll(&p, 1, left) <= 0)
			return -1;
		ssize_t n = read(fd, &ch, 1);
		if (n <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (len + 1 < size)
			buf[len++] = ch;
	}
	buf[len] = '\0';
	return 0;
}

/* The error class of a reply line, "result" for a result, or "?". */
static void
reply_class(const char *line, char *out, size_t size)
{
	json_t *j = json_loads(line, 0, NULL);
	const char *cls = "?";

	if (j && json_object_get(j, "result"))
		cls = "result";
	else if (j)
		cls = json_string_value(json_object_get(
			json_object_get(json_object_get(j, "error"), "data"),
			"class"));
	snprintf(out, size, "%s", cls ? cls : "?");
	json_decref(j);
}

static int
mode_conc(long n)
{
	int *fds = calloc((size_t)n, sizeof(int));
	long ok = 0, i, failed = 0;
	char line[512];

	for (i = 0; i < n; i++) {
		fds[i] = conn_open(false);
		if (fds[i] < 0) {
			fprintf(stderr, "connect %ld: %s\n", i, strerror(errno));
			failed++;
		}
	}
	/* every client is connected before the first one asks anything */
	for (i = 0; i < n; i++)
		if (fds[i] >= 0 && write_all(fds[i], PING, strlen(PING)) < 0)
			failed++;
	for (i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (read_line(fds[i], line, sizeof(line), 10000) == 0 &&
		    strstr(line, "\"pong\""))
			ok++;
		else if (failed++ < 3)
			fprintf(stderr, "client %ld: no pong\n", i);
		close(fds[i]);
	}
	free(fds);
	printf("answered %ld of %ld\n", ok, n);
	return ok == n ? 0 : 1;
}

static int
mode_cycles(long n)
{
	char line[512];
	long ok = 0;

	for (long i = 0; i < n; i++) {
		int fd = conn_open(false);

		if (fd < 0) {
			fprintf(stderr, "connect: %s\n", strerror(errno));
			break;
		}
		if (write_all(fd, PING, strlen(PING)) == 0 &&
		    read_line(fd, line, sizeof(line), 5000) == 0 &&
		    strstr(line, "\"pong\""))
			ok++;
		close(fd);
	}
	printf("cycles %ld of %ld\n", ok, n);
	return ok == n ? 0 : 1;
}

/*
 * Pipelined emits, at most WINDOW unanswered. Stops sending at the first
 * error reply (ShuttingDown at SIGTERM) and reads every reply still due,
 * until the daemon closes.
 */
#define WINDOW 256
static int
mode_emit(long n, const char *event)
{
	int fd = conn_open(false);
	long sent = 0, acked = 0, refused = 0;
	char cls[64] = "", rbuf[65536], req[512];
	size_t rlen = 0;
	bool stop = false;
	FILE *out = stdout;

	if (fd < 0) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		return 1;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 16);
	for (;;) {
		bool more = !stop && (n == 0 || sent < n);

		if (!more && sent == acked + refused)
			break;
		while (more && (n == 0 || sent < n) &&
		       sent - acked - refused < WINDOW) {
			int len = snprintf(req, sizeof(req),
					   REQ ",\"id\":%ld,\"method\":\"emit\","
					   "\"params\":{\"event\":\"%s\","
					   "\"data\":{\"i\":%ld}}}\n",
					   sent + 1, event, sent + 1);
			if (write_all(fd, req, (size_t)len) < 0) {
				stop = true;
				break;
			}
			sent++;
		}
		ssize_t r = read(fd, rbuf + rlen, sizeof(rbuf) - rlen - 1);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		rlen += (size_t)r;
		char *p = rbuf, *nl;
		while ((nl = memchr(p, '\n', rlen - (size_t)(p - rbuf)))) {
			*nl = '\0';
			json_t *j = json_loads(p, 0, NULL);
			json_t *res = json_object_get(j, "result");
			if (res) {
				acked++;
				fprintf(out, "%lld\n",
					(long long)json_integer_value(
						json_object_get(res, "seq")));
			} else if (j && json_object_get(j, "error")) {
				refused++;
				reply_class(p, cls, sizeof(cls));
				stop = true;
			}
			json_decref(j);
			p = nl + 1;
		}
		rlen -= (size_t)(p - rbuf);
		memmove(rbuf, p, rlen);
	}
	fflush(out);
	close(fd);
	fprintf(stderr, "emit %s: sent %ld acked %ld refused %ld%s%s\n", event,
		sent, acked, refused, cls[0] ? " class " : "", cls);
	return acked > 0 ? 0 : 1;
}

/* What one held connection got: its first line, or how it ended. */
struct held {
	int fd;
	char line[512];
	size_t len;
	int state; /* 0 pending, 1 line, 2 closed without a line */
};

static int
mode_hold(long n, long secs)
{
	struct held *h = calloc((size_t)n, sizeof(*h));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	long refused = 0, served = 0, busy = 0, closed = 0, pending = 0;
	char busy_msg[512] = "", refuse_msg[128] = "";
	int64_t end = now_ms() + secs * 1000;

	for (long i = 0; i < n; i++) {
		h[i].fd = conn_open(true);
		if (h[i].fd < 0) {
			refused++;
			snprintf(refuse_msg, sizeof(refuse_msg), "%s",
				 strerror(errno));
			continue;
		}
		/* queued in the socket even before svcd accepts */
		if (write_all(h[i].fd, PING, strlen(PING)) < 0)
			h[i].state = 2;
	}
	/* Watch the whole period: a rate over time, not a readiness. */
	while (now_ms() < end) {
		long m = 0;

		for (long i = 0; i < n; i++)
			if (h[i].fd >= 0 && h[i].state == 0) {
				p[m].fd = h[i].fd;
				p[m].events = POLLIN;
				p[m].revents = 0;
				m++;
			}
		if (m == 0)
			break;
		if (poll(p, (nfds_t)m, (int)(end - now_ms())) <= 0)
			continue;
		for (long i = 0; i < n; i++) {
			struct held *c = &h[i];
			char ch;

			if (c->fd < 0 || c->state)
				continue;
			for (;;) {
				ssize_t r = read(c->fd, &ch, 1);
				if (r == 0 || (r < 0 && errno != EAGAIN)) {
					c->state = 2;
					break;
				}
				if (r < 0)
					break;
				if (ch == '\n') {
					c->line[c->len] = '\0';
					c->state = 1;
					break;
				}
				if (c->len + 1 < sizeof(c->line))
					c->line[c->len++] = ch;
			}
		}
	}
	for (long i = 0; i < n; i++) {
		if (h[i].fd < 0)
			continue;
		if (h[i].state == 1 && strstr(h[i].line, "\"pong\""))
			served++;
		else if (h[i].state == 1 && strstr(h[i].line, "Busy")) {
			busy++;
			snprintf(busy_msg, sizeof(busy_msg), "%s", h[i].line);
		} else if (h[i].state)
			closed++;
		else
			pending++;
	}
	printf("served %ld busy %ld closed %ld pending %ld refused %ld\n",
	       served, busy, closed, pending, refused);
	if (busy_msg[0])
		printf("busy: %s\n", busy_msg);
	if (refuse_msg[0])
		printf("refused: %s\n", refuse_msg);
	fflush(stdout);
	for (long i = 0; i < n; i++)
		if (h[i].fd >= 0)
			close(h[i].fd);
	free(h);
	free(p);
	return 0;
}

static int
mode_slow(long us, const char *line)
{
	int fd = conn_open(false);
	char reply[4096];
	size_t len = strlen(line);

	if (fd < 0)
		return 1;
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? line[i] : '\n';

		if (write_all(fd, &ch, 1) < 0)
			return 1;
		usleep((useconds_t)us);
	}
	if (read_line(fd, reply, sizeof(reply), 10000) < 0) {
		fprintf(stderr, "no reply\n");
		return 1;
	}
	printf("%s\n", reply);
	close(fd);
	return 0;
}

static int
mode_big(long long bytes)
{
	int fd = conn_open(true);
	static char chunk[65536];
	char reply[4096] = "";
	size_t rlen = 0;
	long long sent = 0;
	bool eof = false, wclosed = false;
	const char *werr = "none";
	int64_t end = now_ms() + 60000;

	if (fd < 0)
		return 1;
	memset(chunk, 'x', sizeof(chunk));
	/* keep writing after the reply: svcd must discard, not buffer */
	while ((!eof || (!wclosed && sent < bytes)) && now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = eof ? 0 : POLLIN};

		if (!wclosed && sent < bytes)
			p.events |= POLLOUT;
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if (p.revents & POLLIN) {
			ssize_t r = read(fd, reply + rlen, sizeof(reply) - rlen - 1);
			if (r <= 0)
				eof = true;
			else
				rlen += (size_t)r;
		}
		if (p.revents & POLLERR)
			wclosed = true;
		if (!wclosed && (p.revents & POLLOUT) && sent < bytes) {
			long long want = bytes - sent;
			if (want > (long long)sizeof(chunk))
				want = sizeof(chunk);
			ssize_t w = send(fd, chunk, (size_t)want,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += w;
			else if (w < 0 && errno != EAGAIN) {
				werr = strerror(errno);
				wclosed = true;
			}
		}
	}
	reply[rlen] = '\0';
	printf("%s", reply);
	if (rlen && reply[rlen - 1] != '\n')
		printf("\n");
	printf("sent %lld closed %s write error %s\n", sent, eof ? "yes" : "no",
	       werr);
	close(fd);
	return eof ? 0 : 1;
}

/*
 * Every byte value in four places: raw inside the event name, raw inside
 * a data string, raw between JSON tokens, and as a \u00XX escape in a data
 * string. Each case on its own connection, half-closed after the line;
 * every reply line is classified.
 */
static int
bytes_req(int t, int b, char *req, size_t size)
{
	switch (t) {
	case 0:
		return snprintf(req, size,
				REQ ",\"id\":1,\"method\":\"emit\",\"params\":"
				    "{\"event\":\"b%c\"}}",
				b);
	case 1:
		return snprintf(req, size,
				REQ ",\"id\":1,\"method\":\"emit\",\"params\":"
				    "{\"event\":\"b.raw\",\"data\":{\"s\":\"%c\"}}}",
				b);
	case 2:
		return snprintf(req, size,
				REQ ",\"id\":1,\"method\":\"ping\"%c}", b);
	default:
		return snprintf(req, size,
				REQ ",\"id\":1,\"method\":\"emit\",\"params\":"
				    "{\"event\":\"b.esc\",\"data\":"
				    "{\"s\":\"\\u%04x\"}}}",
				b);
	}
}

static int
mode_bytes(void)
{
	static const char *const place[] = {"name", "data", "between",
					    "escaped"};
	int bad = 0;

	for (int t = 0; t < 4; t++) {
		char summary[8192] = "";
		char prev[64] = "", first = 0;
		int from = 0;

		for (int b = 0; b <= 256; b++) {
			char cls[64] = "end", line[4096], req[512];
			int fd, len, nrep = 0;

			if (b < 256) {
				fd = conn_open(false);
				if (fd < 0) {
					fprintf(stderr, "connect: %s\n",
						strerror(errno));
					return 1;
				}
				len = bytes_req(t, b, req, sizeof(req));
				req[len++] = '\n';
				write_all(fd, req, (size_t)len);
				shutdown(fd, SHUT_WR);
				cls[0] = '\0';
				while (read_line(fd, line, sizeof(line), 3000) ==
				       0) {
					char c1[64];

					reply_class(line, c1, sizeof(c1));
					if (nrep++)
						strncat(cls, "+",
							sizeof(cls) - strlen(cls) - 1);
					strncat(cls, c1,
						sizeof(cls) - strlen(cls) - 1);
				}
				close(fd);
				if (!nrep) {
					snprintf(cls, sizeof(cls), "NO REPLY");
					bad++;
				}
			}
			if (!first) {
				snprintf(prev, sizeof(prev), "%s", cls);
				first = 1;
				continue;
			}
			if (strcmp(cls, prev) != 0) {
				char r[128];

				if (from == b - 1)
					snprintf(r, sizeof(r), " 0x%02x:%s",
						 from, prev);
				else
					snprintf(r, sizeof(r),
						 " 0x%02x-0x%02x:%s", from,
						 b - 1, prev);
				strncat(summary, r,
					sizeof(summary) - strlen(summary) - 1);
				snprintf(prev, sizeof(prev), "%s", cls);
				from = b;
			}
		}
		printf("%s:%s\n", place[t], summary);
	}
	return bad ? 1 : 0;
}

static int
mode_sub(const char *pattern)
{
	int fd = conn_open(false);
	char req[512], line[4096], buf[65536];
	int len;

	if (fd < 0) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		return 1;
	}
	len = snprintf(req, sizeof(req),
		       REQ ",\"id\":1,\"method\":\"subscribe\","
		       "\"params\":{\"events\":[\"%s\"]}}\n",
		       pattern);
	if (write_all(fd, req, (size_t)len) < 0 ||
	    read_line(fd, line, sizeof(line), 5000) < 0) {
		fprintf(stderr, "subscribe failed\n");
		return 1;
	}
	printf("subscribed\n");
	fflush(stdout);
	/* read nothing from the daemon until told to */
	while (read(0, buf, sizeof(buf)) > 0)
		;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 3000) <= 0)
			break;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		fwrite(buf, 1, (size_t)r, stdout);
	}
	close(fd);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: hammer conc|cycles|emit|hold|slow|big|bytes|"
			"sub SOCK ARGS... (see tests/stress/hammer.c)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *m;

	if (argc < 3)
		usage();
	m = argv[1];
	sock_path = argv[2];
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (!strcmp(m, "conc") && argc == 4)
		return mode_conc(atol(argv[3]));
	if (!strcmp(m, "cycles") && argc == 4)
		return mode_cycles(atol(argv[3]));
	if (!strcmp(m, "emit") && argc == 5)
		return mode_emit(atol(argv[3]), argv[4]);
	if (!strcmp(m, "hold") && argc == 5)
		return mode_hold(atol(argv[3]), atol(argv[4]));
	if (!strcmp(m, "slow") && argc == 5)
		return mode_slow(atol(argv[3]), argv[4]);
	if (!strcmp(m, "big") && argc == 4)
		return mode_big(atoll(argv[3]));
	if (!strcmp(m, "bytes") && argc == 3)
		return mode_bytes();
	if (!strcmp(m, "sub") && argc == 4)
		return mode_sub(argv[3]);
	usage();
	return 2;
}
