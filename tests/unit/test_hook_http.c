/* test_hook_http.c — Check tests for services/hook_http.c: webhooks to a
 * real HTTP server on 127.0.0.1, served from the test's own libev loop
 * (the one libcurl is driven by): headers, body bytes, the signature,
 * 2xx / 5xx / 4xx / Retry-After, timeouts and keep-alive. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "daemon/conf.h"
#include "daemon/service.h"
#include "daemon/util.h"
#include "services/bus.h"
#include "services/hooks.h"
#include "services/worker.h"
#include "testutil.h"

static struct ev_loop *loop;
static struct svc_graph *graph;
static ev_timer guard;
static ev_timer tick;
static bool timed_out;
static char dir[64];

static const struct svc_desc *const table[] = {
    &worker_service,
    &bus_service,
    &hooks_service,
};

/* ---- the server --------------------------------------------------------- */

#define SRV_BUF 65536

struct conn {
	ev_io w;
	size_t len;
	char buf[SRV_BUF];
};

static struct {
	int fd;
	int port;
	ev_io lw;
	/* what to answer, request by request; past the end: 200 */
	const char *const *replies;
	size_t nreplies;
	size_t requests, connections;
	bool hang;          /* read requests, answer nothing */
	char last[SRV_BUF]; /* the last request's head and body */
	size_t last_len;
} srv;

static size_t
request_len(const char *p, size_t n, size_t *head)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4);
	size_t body = 0;

	if (!end)
		return 0;
	*head = (size_t)(end - p) + 4;
	for (const char *l = p; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end + 2 - l));
		if (!nl)
			break;
		if (!strncasecmp(l, "Content-Length:", 15))
			body = strtoul(l + 15, NULL, 10);
		l = nl + 1;
	}
	return *head + body <= n ? *head + body : 0;
}

static void
conn_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)w;
	ssize_t n = read(w->fd, c->buf + c->len, SRV_BUF - c->len);
	size_t k, head;

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		ev_io_stop(l, w);
		close(w->fd);
		free(c);
		return;
	}
	c->len += (size_t)n;
	while ((k = request_len(c->buf, c->len, &head))) {
		const char *r = srv.requests < srv.nreplies
		                    ? srv.replies[srv.requests]
		                    : "200 OK\r\nContent-Length: 0\r\n\r\n";
		char out[512];
		int m;

		memcpy(srv.last, c->buf, k);
		srv.last[k] = '\0';
		srv.last_len = k;
		srv.requests++;
		memmove(c->buf, c->buf + k, c->len - k);
		c->len -= k;
		if (srv.hang)
			continue;
		m = snprintf(out, sizeof(out), "HTTP/1.1 %s", r);
		ck_assert_int_eq(write(w->fd, out, (size_t)m), m);
	}
}

static void
accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c;

	if (fd < 0)
		return;
	srv.connections++;
	c = xcalloc(1, sizeof(*c));
	ev_io_init(&c->w, conn_cb, fd, EV_READ);
	ev_io_start(l, &c->w);
}

static void
srv_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	memset(&srv, 0, sizeof(srv));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(srv.fd, 0);
	ck_assert_int_eq(bind(srv.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(srv.fd, 16), 0);
	ck_assert_int_eq(getsockname(srv.fd, (struct sockaddr *)&a, &alen), 0);
	srv.port = ntohs(a.sin_port);
	ev_io_init(&srv.lw, accept_cb, srv.fd, EV_READ);
	ev_io_start(loop, &srv.lw);
}

/* ---- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	tu_log_capture();
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(0);
	tu_deadline_start(loop, &guard, 8.0, &timed_out);
	tu_tick_start(loop, &tick);
	snprintf(dir, sizeof(dir), "/tmp/test_hook_http.XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
	srv_start();
}

static void
teardown(void)
{
	char *cmd;

	if (graph) {
		tu_stop(loop, graph, &timed_out);
		svc_graph_free(graph);
		graph = NULL;
	}
	ev_io_stop(loop, &srv.lw);
	close(srv.fd);
	ev_timer_stop(loop, &guard);
	ev_timer_stop(loop, &tick);
	tu_conf_reset();
	tu_log_release();
	cmd = xasprintf("rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

/* Boot with one [hook.w] to the server: extra keys after the url line. */
static void
boot(const char *path, const char *extra)
{
	char *text =
	    xasprintf("[hook.w]\non = x\nurl = http://127.0.0.1:%d%s\n%s",
	              srv.port, path, extra);

	tu_conf_text(dir, text);
	free(text);
	ck_assert_int_eq(
	    tu_boot(loop, table, ARRAY_SIZE(table), &graph, &timed_out), 0);
}

static uint64_t
emit(const char *data)
{
	uint64_t seq = 0;

	ck_assert_int_eq(
	    bus_emit(tu_bus(), "x", 1, data, strlen(data), "test", &seq, NULL),
	    0);
	return seq;
}

static json_int_t
figure(const char *key)
{
	json_t *a = hooks_list_json();
	json_int_t v =
	    json_integer_value(json_object_get(json_array_get(a, 0), key));

	json_decref(a);
	return v;
}

static void
wait_idle(void)
{
	ev_run(loop, EVRUN_ONCE);
	while (!timed_out && !hooks_idle())
		ev_run(loop, EVRUN_ONCE);
	ck_assert(!timed_out);
}

/* The value of header name in the last request ("" if absent). */
static const char *
header(const char *name)
{
	static char v[512];
	size_t n = strlen(name);

	for (const char *l = srv.last; *l;) {
		const char *nl = strstr(l, "\r\n");
		if (!nl || nl == l)
			break;
		if (!strncasecmp(l, name, n) && l[n] == ':') {
			const char *s = l + n + 1;
			while (*s == ' ')
				s++;
			snprintf(v, sizeof(v), "%.*s", (int)(nl - s), s);
			return v;
		}
		l = nl + 2;
	}
	return "";
}

static const char *
body(void)
{
	const char *b = strstr(srv.last, "\r\n\r\n");

	return b ? b + 4 : "";
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_post_headers_and_bytes)
{
	char host[256], *want;
	uint64_t seq;

	boot("/in", "headers = {\"X-Env\": \"test\"}\n");
	seq = emit("{\"n\":1.0E+2,\"s\":\"\\u00e9\"}");
	wait_idle();
	ck_assert_uint_eq(srv.requests, 1);
	ck_assert(!strncmp(srv.last, "POST /in HTTP/1.1\r\n", 19));
	ck_assert_str_eq(header("Content-Type"), "application/json");
	ck_assert_str_eq(header("X-Svcd-Event"), "x");
	want = xasprintf("%llu", (unsigned long long)seq);
	ck_assert_str_eq(header("X-Svcd-Seq"), want);
	free(want);
	ck_assert_str_eq(header("X-Svcd-Hook"), "w");
	ck_assert_str_eq(header("X-Env"), "test");
	ck_assert_str_eq(header("Expect"), "");
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	ck_assert_str_eq(header("X-Svcd-Node"), host);
	/* no journal here: the seq starts over at the next start, so the key
	 * carries this start's id between node and seq */
	{
		const char *key = header("Idempotency-Key");
		size_t hl = strlen(host);
		char tail[32];

		snprintf(tail, sizeof(tail), ":%llu", (unsigned long long)seq);
		ck_assert_msg(!strncmp(key, host, hl) && key[hl] == ':',
		              "key %s", key);
		ck_assert_msg(
		    strlen(key) > hl + 1 + strlen(tail) &&
		        !strcmp(key + strlen(key) - strlen(tail), tail),
		    "key %s", key);
		ck_assert_msg(strspn(key + hl + 1, "0123456789abcdef") > 0,
		              "key %s", key);
	}
	ck_assert_str_eq(header("X-Svcd-Signature"), "");
	/* the event line without its newline; data as it came in */
	ck_assert_msg(
	    strstr(body(), ",\"data\":{\"n\":1.0E+2,\"s\":\"\\u00e9\"},"),
	    "body: %s", body());
	ck_assert(body()[strlen(body()) - 1] == '}');
	ck_assert_int_eq(figure("deliveries"), 1);
	ck_assert_int_eq(figure("last_status"), 200);
	ck_assert_int_eq(figure("lag"), 0);
}
END_TEST

START_TEST(test_signature)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *path = xasprintf("%s/secret", dir), hex[2 * EVP_MAX_MD_SIZE + 8];
	char *extra = xasprintf("secret_file = %s\n", path);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs("k3y\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0600), 0);
	boot("/", extra);
	emit("{\"a\":1}");
	wait_idle();
	HMAC(EVP_sha256(), "k3y", 3, (const unsigned char *)body(),
	     strlen(body()), md, &mdlen);
	strcpy(hex, "sha256=");
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
	ck_assert_str_eq(header("X-Svcd-Signature"), hex);
	ck_assert(!tu_log_seen("k3y"));
	free(path);
	free(extra);
}
END_TEST

START_TEST(test_5xx_retried_4xx_not)
{
	static const char *const r[] = {
	    "503 Busy\r\nContent-Length: 0\r\n\r\n",
	    "404 Not Found\r\nContent-Length: 9\r\n\r\nno\x01such\xff!",
	};

	srv.replies = r;
	srv.nreplies = 2;
	boot("/", "retries = 3\nbackoff = 10ms\n");
	emit("{}");
	wait_idle();
	/* 503: retried; 404: failed at once, its body in the error */
	ck_assert_uint_eq(srv.requests, 2);
	ck_assert_int_eq(figure("retried"), 1);
	ck_assert_int_eq(figure("failures"), 1);
	ck_assert_int_eq(figure("last_status"), 404);
	/* the body's start in the error, control and non-ASCII bytes
	 * replaced: last_error stays a JSON string */
	ck_assert_msg(tu_log_seen("HTTP 404: no such?!\n"), "%s",
	              tu_log_text());
	/* keep-alive: one connection for both */
	ck_assert_uint_eq(srv.connections, 1);
}
END_TEST

START_TEST(test_retry_after)
{
	static const char *const r[] = {
	    "429 Slow Down\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
	};
	int64_t t0;

	srv.replies = r;
	srv.nreplies = 1;
	boot("/", "retries = 1\nbackoff = 10ms\n");
	t0 = util_mono_us();
	emit("{}");
	wait_idle();
	ck_assert_int_ge(util_mono_us() - t0, 1000000);
	ck_assert_int_eq(figure("deliveries"), 1);
	ck_assert_uint_eq(srv.requests, 2);
}
END_TEST

START_TEST(test_timeout_and_order)
{
	srv.hang = true;
	boot("/", "timeout = 100ms\n");
	emit("{}");
	emit("{}");
	wait_idle();
	/* concurrency 1: the second is sent after the first timed out */
	ck_assert_uint_eq(srv.requests, 2);
	ck_assert_int_eq(figure("timeouts"), 2);
	ck_assert_int_eq(figure("failures"), 2);
	ck_assert_int_eq(figure("deliveries"), 0);
}
END_TEST

static Suite *
hook_http_suite(void)
{
	Suite *s = suite_create("hook_http");
	TCase *tc = tcase_create("hook_http");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_post_headers_and_bytes);
	tcase_add_test(tc, test_signature);
	tcase_add_test(tc, test_5xx_retried_4xx_not);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_timeout_and_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	util_json_use_xmalloc();
	return tu_run_suite(hook_http_suite());
}
