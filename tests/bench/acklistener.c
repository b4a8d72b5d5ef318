/* acklistener.c — a listener that acks at once, for tests/bench/hooks.sh. */
/*
 * Usage: acklistener. Reads events as NDJSON on stdin and answers each
 * line with {"ack": SEQ} (its "seq" member) on stdout, a block of answers
 * per read, until EOF.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUFSZ (1 << 20)

static char in[BUFSZ], out[BUFSZ];

static int
write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(1, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int
main(void)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = read(0, in + len, sizeof(in) - len);
		size_t off = 0, o = 0;
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		len += (size_t)n;
		while ((nl = memchr(in + off, '\n', len - off))) {
			*nl = '\0';
			const char *s = strstr(in + off, "\"seq\":");
			if (s && o < sizeof(out) - 64)
				o +=
				    (size_t)snprintf(out + o, sizeof(out) - o,
				                     "{\"ack\":%llu}\n",
				                     strtoull(s + 6, NULL, 10));
			off = (size_t)(nl - in) + 1;
		}
		memmove(in, in + off, len - off);
		len -= off;
		if (o && write_all(out, o) < 0)
			return 1;
		if (len == sizeof(in))
			return 1;
	}
}
