/* loadgen.c — line-protocol load generator: C connections, P in flight. */
/*
 * Usage: loadgen -s SOCK [-c C] [-p P] (-n N | -d SECONDS) [-r | -e] [-b] LINE
 *
 * LINE is sent as is with "\n" appended ("\r\n" with -r, for Redis inline
 * commands); with -e, \r and \n in LINE are unescaped and nothing is
 * appended (a Redis RESP multibulk request). Every reply is one line; replies
 * are matched to requests in order per connection. Prints one line: reqs=N
 * secs=S rps=R p50_us=A p99_us=B p999_us=C errors=E A reply line starting with
 * '-' (RESP error) or holding "\"error\":" counts as an error. With -b a
 * RESP bulk string reply ("$N" then its line, as XADD answers) is one reply.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define HIST_MAX 1000000 /* µs; longer latencies land in the last bucket */
#define RBUF     262144

struct conn {
	int fd;
	int64_t *sent; /* ring of send times, P entries */
	size_t head, count;
	char *in;
	size_t inlen;
	size_t partial; /* bytes of the current request line already written */
	size_t unsent;  /* requests queued but not fully written */
};

static uint32_t *hist;
static uint64_t done, errors, issued, target;
static int deadline_hit, bulk;

static int
dial(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint64_t
pct(uint64_t n, double p)
{
	uint64_t want = (uint64_t)(p * (double)n), acc = 0;

	if (want >= n)
		want = n ? n - 1 : 0;
	for (uint64_t i = 0; i <= HIST_MAX; i++) {
		acc += hist[i];
		if (acc > want)
			return i;
	}
	return HIST_MAX;
}

/* Queue up to k more requests on c (bounded by the total). */
static void
issue(struct conn *c, size_t k)
{
	while (k--) {
		if (deadline_hit || (target && issued >= target))
			return;
		issued++;
		c->unsent++;
	}
}

/* P copies of the request line, built once: any queued run is a slice. */
static char *big;

/* Write queued requests; stamps each request when its first byte goes. */
static int
flush(struct conn *c, size_t len, size_t p)
{
	while (c->unsent) {
		size_t want = c->unsent * len - c->partial;
		int64_t t = bench_now_us();
		ssize_t n = send(c->fd, big + c->partial, want, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		size_t total = c->partial + (size_t)n;
		size_t full = total / len;
		size_t started = (total + len - 1) / len;
		/* a request is in flight once its first byte went out */
		size_t newly = started - (c->partial ? 1 : 0);
		for (size_t i = 0; i < newly && c->count < p; i++) {
			c->sent[(c->head + c->count) % p] = t;
			c->count++;
		}
		c->unsent -= full;
		c->partial = total % len;
		if (c->partial)
			return 0;
	}
	return 0;
}

static int
readable(struct conn *c, size_t p, int64_t *last)
{
	ssize_t n = read(c->fd, c->in + c->inlen, RBUF - c->inlen);

	if (n <= 0)
		return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
	c->inlen += (size_t)n;
	int64_t t = bench_now_us();
	size_t start = 0, replies = 0;
	char *nl;

	while ((nl = memchr(c->in + start, '\n', c->inlen - start))) {
		size_t l = (size_t)(nl - (c->in + start));
		const char *s = c->in + start;

		if (bulk && l && s[0] == '$' && s[1] != '-') {
			start +=
			    l + 1; /* its line follows: that is the reply */
			continue;
		}
		/* JSON-RPC puts "error" right after the id */
		if ((l && s[0] == '-') ||
		    memmem(s, l < 80 ? l : 80, "\"error\":", 8))
			errors++;
		if (c->count) {
			int64_t d = t - c->sent[c->head];
			c->head = (c->head + 1) % p;
			c->count--;
			hist[d < HIST_MAX ? d : HIST_MAX]++;
		}
		done++;
		replies++;
		start += l + 1;
	}
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
	if (c->inlen == RBUF)
		return -1;
	*last = t;
	issue(c, replies);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen -s SOCK [-c C] [-p P] (-n N | -d SEC) "
	                "[-r | -e] [-b] LINE\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	size_t nc = 1, p = 1;
	double secs = 0;
	int crlf = 0, esc = 0, opt;

	while ((opt = getopt(argc, argv, "s:c:p:n:d:reb")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'c': nc = strtoul(optarg, NULL, 10); break;
		case 'p': p = strtoul(optarg, NULL, 10); break;
		case 'n': target = strtoull(optarg, NULL, 10); break;
		case 'd': secs = strtod(optarg, NULL); break;
		case 'r': crlf = 1; break;
		case 'e': esc = 1; break;
		case 'b': bulk = 1; break;
		default: usage();
		}
	}
	if (!sock || optind != argc - 1 || !nc || !p || (!target && !secs))
		usage();
	size_t len = 0;
	const char *a = argv[optind];
	char *line = malloc(strlen(a) + 2);

	for (; *a; a++) {
		if (esc && a[0] == '\\' && (a[1] == 'r' || a[1] == 'n')) {
			line[len++] = a[1] == 'r' ? '\r' : '\n';
			a++;
		} else {
			line[len++] = *a;
		}
	}
	if (!esc) {
		if (crlf)
			line[len++] = '\r';
		line[len++] = '\n';
	}

	big = malloc(p * len);
	for (size_t i = 0; i < p; i++)
		memcpy(big + i * len, line, len);
	hist = calloc(HIST_MAX + 1, sizeof(*hist));
	struct conn *cs = calloc(nc, sizeof(*cs));
	struct epoll_event *evs = calloc(nc, sizeof(*evs));
	int ep = epoll_create1(0);
	if (!big || !hist || !cs || !evs || ep < 0)
		return 1;
	for (size_t i = 0; i < nc; i++) {
		cs[i].fd = dial(sock);
		if (cs[i].fd < 0) {
			perror("loadgen: connect");
			return 1;
		}
		cs[i].sent = calloc(p, sizeof(int64_t));
		cs[i].in = malloc(RBUF);
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cs[i]};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &e) < 0)
			return 1;
	}
	int64_t t0 = bench_now_us(), last = t0;
	int64_t end = secs ? t0 + (int64_t)(secs * 1e6) : 0;

	for (size_t i = 0; i < nc; i++) {
		issue(&cs[i], p);
		if (flush(&cs[i], len, p) < 0)
			return 1;
	}
	for (;;) {
		size_t busy = 0;

		for (size_t i = 0; i < nc; i++)
			busy += cs[i].count || cs[i].unsent;
		if (!busy)
			break;
		/* a partial write (rare) is retried after at most 1 ms */
		int n = epoll_wait(ep, evs, (int)nc, 1);
		if (n < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (readable(c, p, &last) < 0) {
				fprintf(stderr, "loadgen: connection lost\n");
				return 1;
			}
			if (c->unsent && flush(c, len, p) < 0)
				return 1;
		}
		if (end && !deadline_hit && bench_now_us() >= end)
			deadline_hit = 1;
		for (size_t i = 0; i < nc; i++) {
			if (deadline_hit && !cs[i].partial)
				cs[i].unsent = 0;
			if (cs[i].unsent && flush(&cs[i], len, p) < 0)
				return 1;
		}
	}
	double el = (double)(last - t0) / 1e6;
	printf("reqs=%llu secs=%.3f rps=%.0f p50_us=%llu p99_us=%llu "
	       "p999_us=%llu errors=%llu\n",
	       (unsigned long long)done, el, el > 0 ? (double)done / el : 0,
	       (unsigned long long)pct(done, 0.50),
	       (unsigned long long)pct(done, 0.99),
	       (unsigned long long)pct(done, 0.999),
	       (unsigned long long)errors);
	for (size_t i = 0; i < nc; i++) {
		close(cs[i].fd);
		free(cs[i].sent);
		free(cs[i].in);
	}
	free(cs);
	free(evs);
	free(big);
	close(ep);
	free(hist);
	free(line);
	return errors ? 2 : 0;
}
