/* xbench.c — the bridge bench's load: svcd emits, a subscriber, raw Redis. */
/*
 * Usage:
 *   xbench emit SOCK N RATE       N emits of bench.e {"t":US,"i":K} into a
 *                                 svcd control socket, RATE/s (0: as fast
 *                                 as the socket takes them, written as
 *                                 the raw writer's hiredis writes: 1024
 *                                 outstanding, then down to 512); prints
 *                                 "emit n=N start_us=S errors=E"
 *   xbench sub SOCK N             subscribes to bench.* on a svcd, prints
 *                                 "ready", reads until N events, prints
 *                                 "sub n=N last_us=L p50_us=A p99_us=B
 *                                 max_us=C" (latency: now - t); fails
 *                                 on an events.lost notice (svcd dropped
 *                                 events for a subscriber that lagged)
 *   xbench raw HOST PORT N RATE   the same load on Redis alone: one writer
 *                                 XADDs (MAXLEN ~, 1024 in flight) the
 *                                 payload the bridge would send, one reader
 *                                 XREADGROUP COUNT 512 BLOCK + XACK; prints
 *                                 "raw n=N start_us=S last_us=L p50_us=A
 *                                 p99_us=B max_us=C" and "raw cpu_us=U"
 *                                 (the CPU both clients used)
 * RATE 0 is a flood: throughput. A positive RATE paces the sender:
 * latency at that rate.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define WINDOW 1024

static int64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
tv_us(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
pace(int64_t start, long k, long rate)
{
	int64_t due, now;

	if (rate <= 0)
		return;
	due = start + (int64_t)k * 1000000 / rate;
	while ((now = now_us()) < due) {
		int64_t d = due - now;
		if (d > 200) {
			struct timespec ts = {0, (long)(d - 100) * 1000};
			nanosleep(&ts, NULL);
		}
	}
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void
print_lat(int64_t *lat, long n)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp64);
	printf(" p50_us=%lld p99_us=%lld max_us=%lld\n", (long long)lat[n / 2],
	       (long long)lat[(n * 99) / 100], (long long)lat[n - 1]);
}

static int
unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

/* Count reply lines (and errors) in what is readable now. */
static long
drain(int fd, long *errors, int timeout_ms)
{
	static char buf[1 << 16];
	long lines = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (poll(&p, 1, timeout_ms) > 0) {
		ssize_t r = read(fd, buf, sizeof(buf) - 1);
		if (r <= 0)
			break;
		buf[r] = '\0';
		for (char *s = buf;
		     (s = memchr(s, '\n', (size_t)(buf + r - s))); s++)
			lines++;
		if (strstr(buf, "\"error\""))
			(*errors)++;
		timeout_ms = 0;
	}
	return lines;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			perror("write");
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * A flood is sent as the raw writer's hiredis sends its XADDs: requests
 * gather in a buffer until WINDOW are outstanding, go in one write, and
 * the replies are read down to WINDOW / 2. Paced, each goes at once.
 */
static int
do_emit(const char *sock, long n, long rate)
{
	int fd = unix_connect(sock);
	long replies = 0, errors = 0;
	int64_t start = now_us();
	static char out[WINDOW * 256];
	size_t have = 0;

	for (long k = 0; k < n; k++) {
		int len;
		pace(start, k, rate);
		len = snprintf(out + have, sizeof(out) - have,
		               "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
		               "\"emit\",\"params\":{\"event\":\"bench.e\","
		               "\"data\":{\"t\":%lld,\"i\":%ld}}}\n",
		               k + 1, (long long)now_us(), k + 1);
		have += (size_t)len;
		if (rate > 0) {
			if (write_all(fd, out, have) < 0)
				return 1;
			have = 0;
			replies += drain(fd, &errors, 0);
			continue;
		}
		if (k + 1 - replies < WINDOW)
			continue;
		if (write_all(fd, out, have) < 0)
			return 1;
		have = 0;
		while (k + 1 - replies > WINDOW / 2) {
			long got = drain(fd, &errors, 5000);
			if (!got) {
				fprintf(stderr, "emit: no reply for 5 s\n");
				return 1;
			}
			replies += got;
		}
	}
	if (have && write_all(fd, out, have) < 0)
		return 1;
	while (replies < n) {
		long got = drain(fd, &errors, 5000);
		if (!got)
			break;
		replies += got;
	}
	printf("emit n=%ld start_us=%lld replies=%ld errors=%ld\n", n,
	       (long long)start, replies, errors);
	return replies == n && !errors ? 0 : 1;
}

static int
do_sub(const char *sock, long n)
{
	int fd = unix_connect(sock);
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                          "\"subscribe\",\"params\":{\"events\":["
	                          "\"bench.*\"]}}\n";
	static char buf[1 << 20];
	size_t have = 0;
	int64_t *lat = calloc((size_t)n, sizeof(*lat)), last = 0;
	long got = 0;
	int ready = 0;

	if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		return 1;
	while (got < n) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - have - 1);
		char *s, *e;
		if (r <= 0) {
			fprintf(stderr, "sub: closed after %ld\n", got);
			return 1;
		}
		have += (size_t)r;
		buf[have] = '\0';
		s = buf;
		while ((e = strchr(s, '\n'))) {
			char *t;
			*e = '\0';
			if (strstr(s, "\"method\":\"events.lost\"")) {
				/* svcd dropped events for us (we read too
				 * slowly): the count can never be reached */
				fprintf(stderr, "sub: %s\n", s);
				return 1;
			}
			if (!ready && strstr(s, "\"result\"")) {
				ready = 1;
				printf("ready\n");
				fflush(stdout);
			} else if (strstr(s, "\"method\":\"event\"") &&
			           (t = strstr(s, "\"t\":")) && got < n) {
				last = now_us();
				lat[got++] = last - strtoll(t + 4, NULL, 10);
			}
			s = e + 1;
		}
		have = (size_t)(buf + have - s);
		memmove(buf, s, have);
	}
	printf("sub n=%ld last_us=%lld", n, (long long)last);
	print_lat(lat, n);
	return 0;
}

static redisContext *
rconnect(const char *host, int port)
{
	redisContext *c = redisConnect(host, port);
	if (!c || c->err) {
		fprintf(stderr, "raw: connect: %s\n", c ? c->errstr : "oom");
		exit(1);
	}
	return c;
}

static int
do_raw(const char *host, int port, long n, long rate)
{
	const char *key = "xbench|events";
	redisContext *c = rconnect(host, port);
	redisReply *r;
	int fds[2];
	pid_t pid;

	freeReplyObject(redisCommand(c, "DEL %s", key));
	freeReplyObject(redisCommand(c, "XGROUP CREATE %s g $ MKSTREAM", key));
	if (pipe(fds) < 0)
		return 1;
	pid = fork();
	if (pid == 0) { /* the reader */
		redisContext *rc = rconnect(host, port);
		int64_t *lat = calloc((size_t)n, sizeof(*lat)), last = 0;
		long got = 0;

		close(fds[0]);
		if (write(fds[1], "r", 1) != 1)
			_exit(1);
		while (got < n) {
			const char *ack[BUFSIZ];
			size_t acklen[BUFSIZ], na = 3;
			redisReply *es;

			r = redisCommand(rc,
			                 "XREADGROUP GROUP g c COUNT 512 BLOCK "
			                 "5000 STREAMS %s >",
			                 key);
			if (!r || r->type != REDIS_REPLY_ARRAY) {
				fprintf(stderr, "raw: read timed out at %ld\n",
				        got);
				_exit(1);
			}
			es = r->element[0]->element[1];
			ack[0] = "XACK";
			ack[1] = key;
			ack[2] = "g";
			for (size_t i = 0; i < es->elements && na < BUFSIZ;
			     i++) {
				redisReply *e = es->element[i];
				const char *t = strstr(
				    e->element[1]->element[1]->str, "\"t\":");
				last = now_us();
				if (t && got < n)
					lat[got++] =
					    last - strtoll(t + 4, NULL, 10);
				ack[na++] = e->element[0]->str;
			}
			for (size_t i = 0; i < na; i++)
				acklen[i] = strlen(ack[i]);
			freeReplyObject(
			    redisCommandArgv(rc, (int)na, ack, acklen));
			freeReplyObject(r);
		}
		printf("raw n=%ld last_us=%lld", n, (long long)last);
		print_lat(lat, n);
		fflush(stdout);
		_exit(0);
	}
	close(fds[1]);
	{
		char x;
		if (read(fds[0], &x, 1) != 1)
			return 1;
	}
	{
		int64_t start = now_us();
		long out = 0;
		char payload[512];

		printf("raw start_us=%lld\n", (long long)start);
		fflush(stdout);
		for (long k = 0; k < n; k++) {
			int len;
			pace(start, k, rate);
			len = snprintf(
			    payload, sizeof(payload),
			    "{\"event\":\"bench.e\",\"data\":{\"t\":%lld,\"i\":"
			    "%ld},\"time\":\"2026-12-02T05:00:00.000000Z\","
			    "\"seq\":%ld,\"prev\":%ld,\"origin\":{\"host\":"
			    "\"a\",\"instance\":\"0123456789abcdef\","
			    "\"epoch\":\"0123456789abcdef\"}}",
			    (long long)now_us(), k + 1, k + 40, k + 39);
			redisAppendCommand(c, "XADD %s MAXLEN ~ 1000000 * m %b",
			                   key, payload, (size_t)len);
			if (++out >= WINDOW || rate > 0) {
				/* flood: keep WINDOW in flight; paced: send
				 * now, read the replies that came */
				while (out > (rate > 0 ? 0 : WINDOW / 2)) {
					if (redisGetReply(c, (void **)&r) !=
					    REDIS_OK)
						return 1;
					freeReplyObject(r);
					out--;
				}
			}
		}
		while (out-- > 0) {
			if (redisGetReply(c, (void **)&r) != REDIS_OK)
				return 1;
			freeReplyObject(r);
		}
	}
	{
		int st;
		struct rusage self, kids;

		waitpid(pid, &st, 0);
		getrusage(RUSAGE_SELF, &self);
		getrusage(RUSAGE_CHILDREN, &kids);
		/* the CPU the two raw clients used, writer and reader */
		printf("raw cpu_us=%lld\n",
		       (long long)(tv_us(self.ru_utime) + tv_us(self.ru_stime) +
		                   tv_us(kids.ru_utime) +
		                   tv_us(kids.ru_stime)));
		freeReplyObject(redisCommand(c, "DEL %s", key));
		return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	}
}

int
main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "emit"))
		return do_emit(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "sub"))
		return do_sub(argv[2], atol(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "raw"))
		return do_raw(argv[2], atoi(argv[3]), atol(argv[4]),
		              atol(argv[5]));
	fprintf(stderr, "usage: xbench emit SOCK N RATE | sub SOCK N | raw "
	                "HOST PORT N RATE\n");
	return 64;
}
