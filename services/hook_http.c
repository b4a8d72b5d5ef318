/*
 * hook_http.c — webhooks (`url = http(s)://...`): each event is POSTed as
 * its JSON line (the bytes of the event line, without its newline) with
 * Content-Type: application/json, X-Svcd-Event, X-Svcd-Seq, X-Svcd-Hook,
 * X-Svcd-Node (this host's name), Idempotency-Key (NODE:SEQ, or
 * NODE:BOOT:SEQ without a journal), the hook's `headers` and, with
 * `secret_file`, X-Svcd-Signature: sha256=<hex HMAC-SHA256 of the body>
 * (OpenSSL). A 2xx is delivered; 408, 429, 5xx and transport errors are retried
 * (a Retry-After the server sends replaces the backoff); any other status fails
 * at once.
 *
 * Transfers run on libcurl's multi interface driven by the service's libev
 * loop (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION): no thread per
 * request; names are resolved by libcurl's threaded resolver, off the loop.
 * One multi handle serves every webhook, so connections are kept alive and
 * reused across events. TLS peers are verified; `ca_file` adds a CA.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "services/hook_kind.h"
#include "services/hooks.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/util.h"

/* Bytes of a failed response's body kept for last_error. */
#define BODY_KEEP 160
/* A secret file is read up to this many bytes. */
#define SECRET_MAX 4096
/* Retry-After is honoured up to this many seconds. */
#define RETRY_AFTER_MAX 3600.0

struct hhook {
	char *url;
	char *shown; /* the URL without user:password@ */
	char *ca_file;
	struct curl_slist *extra; /* "Name: value" from headers = */
	unsigned char *secret;
	size_t secret_len;
	char node[256];
	long last_status;
};

struct hreq {
	struct run *r;
	CURL *e;
	struct curl_slist *hdrs;
	double retry_after;
	char body[BODY_KEEP + 1];
	size_t body_len;
	char err[CURL_ERROR_SIZE];
};

struct hsock {
	ev_io w;
	struct hsock *prev, *next; /* hc.socks */
};

static struct {
	CURLM *multi;
	ev_timer timer;
	struct hsock *socks; /* watched for libcurl */
	unsigned users;
	bool global;
	bool closing; /* in curl_multi_cleanup: watch nothing */
} hc;

static void
hsock_free(struct hsock *hs)
{
	ev_io_stop(hook_loop(), &hs->w);
	if (hs->prev)
		hs->prev->next = hs->next;
	else
		hc.socks = hs->next;
	if (hs->next)
		hs->next->prev = hs->prev;
	free(hs);
}

/* ---- the multi handle on the loop -------------------------------------- */

static void
check_done(void)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(hc.multi, &left))) {
		struct hreq *q = NULL;
		struct run *r;
		struct hhook *hh;
		enum hook_result res;
		char *why = NULL;
		long code = 0;
		CURLcode rc;

		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		                  (char **)&q);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
		                  &code);
		r = q->r;
		hh = r->h->k;
		if (code)
			hh->last_status = code;
		if (rc != CURLE_OK) {
			res = rc == CURLE_OPERATION_TIMEDOUT ? HOOK_TIMEOUT
			                                     : HOOK_RETRY;
			why = xasprintf(
			    "%s", q->err[0] ? q->err : curl_easy_strerror(rc));
		} else if (code >= 200 && code < 300) {
			res = HOOK_OK;
		} else {
			res = code == 408 || code == 429 || code >= 500
			          ? HOOK_RETRY
			          : HOOK_FAIL;
			q->body[q->body_len] = '\0';
			/* printable ASCII only: last_error is a JSON string */
			for (size_t i = 0; i < q->body_len; i++)
				if ((unsigned char)q->body[i] < ' ')
					q->body[i] = ' ';
				else if ((unsigned char)q->body[i] > '~')
					q->body[i] = '?';
			why = xasprintf("HTTP %ld%s%s", code,
			                q->body_len ? ": " : "", q->body);
		}
		double ra = q->retry_after;
		r->k = NULL;
		curl_multi_remove_handle(hc.multi, q->e);
		curl_easy_cleanup(q->e);
		curl_slist_free_all(q->hdrs);
		free(q);
		hook_attempt_done(r, res, why, ra);
	}
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int running = 0;
	int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
	            (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(hc.multi, w->fd, flags, &running);
	check_done();
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	int running = 0;

	curl_multi_socket_action(hc.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct hsock *hs = socketp;
	struct ev_loop *loop = hook_loop();
	int ev;

	if (hc.closing)
		return 0;
	if (what == CURL_POLL_REMOVE) {
		if (hs) {
			hsock_free(hs);
			curl_multi_assign(hc.multi, s, NULL);
		}
		return 0;
	}
	if (!hs) {
		hs = xcalloc(1, sizeof(*hs));
		hs->next = hc.socks;
		if (hc.socks)
			hc.socks->prev = hs;
		hc.socks = hs;
		curl_multi_assign(hc.multi, s, hs);
	} else {
		ev_io_stop(loop, &hs->w);
	}
	ev = (what & CURL_POLL_IN ? EV_READ : 0) |
	     (what & CURL_POLL_OUT ? EV_WRITE : 0);
	ev_io_init(&hs->w, io_cb, s, ev);
	ev_io_start(loop, &hs->w);
	return 0;
}

static int
multi_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct ev_loop *loop = hook_loop();

	ev_timer_stop(loop, &hc.timer);
	if (timeout_ms >= 0) {
		/* 0: as soon as the loop turns, never from inside curl */
		ev_timer_set(&hc.timer, (double)timeout_ms / 1000.0, 0);
		ev_timer_start(loop, &hc.timer);
	}
	return 0;
}

/* ---- a request ---------------------------------------------------------- */

static size_t
body_cb(char *p, size_t size, size_t n, void *arg)
{
	struct hreq *q = arg;
	size_t len = size * n, room = BODY_KEEP - q->body_len;

	if (room) {
		size_t k = len < room ? len : room;
		memcpy(q->body + q->body_len, p, k);
		q->body_len += k;
	}
	return len;
}

static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct hreq *q = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && !strncasecmp(p, name, sizeof(name) - 1)) {
		char v[64];
		size_t k = len - (sizeof(name) - 1);
		char *end;
		double d;

		if (k >= sizeof(v))
			k = sizeof(v) - 1;
		memcpy(v, p + sizeof(name) - 1, k);
		v[k] = '\0';
		d = strtod(v, &end);
		if (end == v) {
			time_t t = curl_getdate(v, NULL);
			d = t > 0 ? difftime(t, time(NULL)) : 0;
		}
		if (d > RETRY_AFTER_MAX)
			d = RETRY_AFTER_MAX;
		q->retry_after = d > 0 ? d : 0;
	}
	return len;
}

bool
hook_http_own_header(const char *name)
{
	/* what http_start sets (and "Expect", which it clears), and what
	 * curl sets for a POST */
	static const char *const own[] = {
	    "Content-Type", "Content-Length",    "Expect",
	    "Host",         "Transfer-Encoding", "Idempotency-Key"};

	if (!strncasecmp(name, "X-Svcd-", 7))
		return true;
	for (size_t i = 0; i < SVC_ARRAY_SIZE(own); i++)
		if (!strcasecmp(name, own[i]))
			return true;
	return false;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

/* This start of svcd, for keys whose seq does not outlive it: the wall
 * clock in microseconds at first use, in hex. */
static const char *
boot_id(void)
{
	static char id[24];

	if (!id[0]) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(id, sizeof(id), "%llx",
		         (unsigned long long)ts.tv_sec * 1000000ULL +
		             (unsigned long long)(ts.tv_nsec / 1000));
	}
	return id;
}

static struct curl_slist *
add_header(struct curl_slist *l, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return curl_slist_append(l, line);
}

static void
http_start(struct run *r)
{
	struct hook *h = r->h;
	struct hhook *hh = h->k;
	struct job *j = r->job;
	struct hreq *q = xcalloc(1, sizeof(*q));
	size_t blen = j->line_len ? j->line_len - 1 : 0; /* no newline */
	struct curl_slist *l = NULL;
	CURLMcode mc;

	q->r = r;
	q->e = curl_easy_init();
	if (!q->e) {
		free(q);
		hook_attempt_done(r, HOOK_RETRY, xstrdup("curl_easy_init"), 0);
		return;
	}
	l = curl_slist_append(l, "Content-Type: application/json");
	l = curl_slist_append(l, "Expect:");
	l = add_header(l, "X-Svcd-Event: %s", j->event);
	l = add_header(l, "X-Svcd-Seq: %" PRIu64, j->seq);
	l = add_header(l, "X-Svcd-Hook: %s", h->name);
	l = add_header(l, "X-Svcd-Node: %s", hh->node);
	if (hook_seq_durable())
		l = add_header(l, "Idempotency-Key: %s:%" PRIu64, hh->node,
		               j->seq);
	else /* seqs start over at the next start: keys must not */
		l = add_header(l, "Idempotency-Key: %s:%s:%" PRIu64, hh->node,
		               boot_id(), j->seq);
	if (hh->secret) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char hex[2 * EVP_MAX_MD_SIZE + 1];

		HMAC(EVP_sha256(), hh->secret, (int)hh->secret_len,
		     (const unsigned char *)j->line, blen, md, &mdlen);
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		hex[2 * mdlen] = '\0';
		l = add_header(l, "X-Svcd-Signature: sha256=%s", hex);
	}
	for (struct curl_slist *x = hh->extra; x; x = x->next)
		l = curl_slist_append(l, x->data);
	q->hdrs = l;

	curl_easy_setopt(q->e, CURLOPT_URL, hh->url);
	curl_easy_setopt(q->e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(q->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->e, CURLOPT_POST, 1L);
	curl_easy_setopt(q->e, CURLOPT_POSTFIELDS, j->line);
	curl_easy_setopt(q->e, CURLOPT_POSTFIELDSIZE, (long)blen);
	curl_easy_setopt(q->e, CURLOPT_HTTPHEADER, q->hdrs);
	curl_easy_setopt(q->e, CURLOPT_TIMEOUT_MS, (long)(h->timeout * 1000));
	curl_easy_setopt(q->e, CURLOPT_USERAGENT, "svcd/" SVCD_VERSION);
	curl_easy_setopt(q->e, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(q->e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(q->e, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(q->e, CURLOPT_ERRORBUFFER, q->err);
	curl_easy_setopt(q->e, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(q->e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (hh->ca_file)
		curl_easy_setopt(q->e, CURLOPT_CAINFO, hh->ca_file);
	r->k = q;
	mc = curl_multi_add_handle(hc.multi, q->e);
	if (mc != CURLM_OK) {
		r->k = NULL;
		curl_easy_cleanup(q->e);
		curl_slist_free_all(q->hdrs);
		free(q);
		hook_attempt_done(
		    r, HOOK_RETRY,
		    xasprintf("curl: %s", curl_multi_strerror(mc)), 0);
	}
}

static void
http_cancel(struct run *r)
{
	struct hreq *q = r->k;

	if (!q)
		return;
	curl_multi_remove_handle(hc.multi, q->e);
	curl_easy_cleanup(q->e);
	curl_slist_free_all(q->hdrs);
	free(q);
	r->k = NULL;
}

/* ---- per hook ----------------------------------------------------------- */

/* The secret: the file's bytes without a trailing newline; -1 if the file
 * cannot be read or others may read it. */
static int
read_secret(struct hhook *hh, const char *path, char **cause)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		*cause = xasprintf("secret_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		*cause = xasprintf("secret_file %s: not a regular file of mode "
		                   "0600 or stricter (others may read it)",
		                   path);
		return -1;
	}
	hh->secret = xmalloc(SECRET_MAX);
	n = read(fd, hh->secret, SECRET_MAX);
	close(fd);
	while (n > 0 &&
	       (hh->secret[n - 1] == '\n' || hh->secret[n - 1] == '\r'))
		n--;
	if (n <= 0) {
		*cause = xasprintf("secret_file %s: empty or unreadable", path);
		return -1;
	}
	hh->secret_len = (size_t)n;
	return 0;
}

static void hhook_free(struct hhook *hh);

static int
http_open(struct hook *h, const struct hook_conf *c, char **cause)
{
	struct hhook *hh = xcalloc(1, sizeof(*hh));
	const char *p, *at;

	if (!hc.global) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			*cause = xstrdup("curl_global_init failed");
			free(hh);
			return -1;
		}
		hc.global = true;
		if (!(curl_version_info(CURLVERSION_NOW)->features &
		      CURL_VERSION_ASYNCHDNS))
			log_warn("hooks: this libcurl resolves host names "
			         "synchronously, on svcd's loop: name webhooks "
			         "by IP address, or use a libcurl built with "
			         "its threaded resolver");
	}
	hh->url = xstrdup(c->http.url);
	p = strstr(hh->url, "://");
	at = p ? strpbrk(p + 3, "@/") : NULL;
	if (at && *at == '@')
		hh->shown =
		    xasprintf("%.*s***%s", (int)(p + 3 - hh->url), hh->url, at);
	else
		hh->shown = xstrdup(hh->url);
	hh->ca_file = c->http.ca_file ? xstrdup(c->http.ca_file) : NULL;
	if (gethostname(hh->node, sizeof(hh->node) - 1) < 0 || !hh->node[0])
		snprintf(hh->node, sizeof(hh->node), "localhost");
	if (c->http.headers) {
		json_t *o = json_loads(c->http.headers, 0, NULL);
		const char *k;
		json_t *v;

		json_object_foreach(o, k, v)
		{
			hh->extra = add_header(hh->extra, "%s: %s", k,
			                       json_string_value(v));
		}
		json_decref(o);
	}
	if (c->http.secret_file &&
	    read_secret(hh, c->http.secret_file, cause) < 0) {
		hhook_free(hh);
		return -1;
	}
	if (!hc.multi) {
		hc.multi = curl_multi_init();
		curl_multi_setopt(hc.multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
		curl_multi_setopt(hc.multi, CURLMOPT_TIMERFUNCTION,
		                  multi_timer_cb);
		curl_multi_setopt(hc.multi, CURLMOPT_MAXCONNECTS, 256L);
		ev_timer_init(&hc.timer, timer_cb, 0, 0);
	}
	hc.users++;
	h->k = hh;
	return 0;
}

static void
hhook_free(struct hhook *hh)
{
	if (hh->secret)
		explicit_bzero(hh->secret, SECRET_MAX);
	free(hh->secret);
	free(hh->url);
	free(hh->shown);
	free(hh->ca_file);
	curl_slist_free_all(hh->extra);
	free(hh);
}

static void
http_close(struct hook *h)
{
	hhook_free(h->k);
	h->k = NULL;
	if (--hc.users == 0 && hc.multi) {
		ev_timer_stop(hook_loop(), &hc.timer);
		/* no watcher may outlive the sockets libcurl closes now */
		while (hc.socks) {
			curl_multi_assign(hc.multi, hc.socks->w.fd, NULL);
			hsock_free(hc.socks);
		}
		hc.closing = true;
		curl_multi_cleanup(hc.multi);
		hc.closing = false;
		hc.multi = NULL;
	}
}

static const char *
http_target(const struct hook *h)
{
	const struct hhook *hh = h->k;

	return hh->shown;
}

static void
http_figures(struct hook *h, json_t *o)
{
	const struct hhook *hh = h->k;

	json_object_set_new(o, "url", hook_text_json(hh->shown));
	json_object_set_new(o, "last_status",
	                    hh->last_status ? json_integer(hh->last_status)
	                                    : json_null());
}

const struct hook_kind hook_http_kind = {
    .name = "http",
    .open = http_open,
    .start = http_start,
    .cancel = http_cancel,
    .close = http_close,
    .figures = http_figures,
    .target = http_target,
};

/* ---- config types ------------------------------------------------------- */

static int
url_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
          const char *v, void *dst, char **cause)
{
	if (strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8)) {
		*cause = xstrdup("not an http:// or https:// URL");
		return -1;
	}
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 127) {
			*cause = xstrdup("a URL has no blank or control "
			                 "character");
			return -1;
		}
	}
	free(*(char **)dst);
	*(char **)dst = xstrdup(v);
	return 0;
}

const struct svc_conf_type hook_url_type = {
    .name = "url",
    .parse = url_parse,
    .size = sizeof(char *),
    .free = svc_conf_str_free,
    .equal = svc_conf_str_equal,
    .copy = svc_conf_str_copy,
};

/* A path to a file only its owner may read (checked now and at start). */
static int
secret_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
             const char *v, void *dst, char **cause)
{
	struct stat st;

	if (!*v) {
		*cause = xstrdup("an empty path");
		return -1;
	}
	if (stat(v, &st) < 0) {
		*cause = xasprintf("%s: %s", v, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		*cause = xasprintf("%s is not a regular file of mode 0600 or "
		                   "stricter (others may read it)",
		                   v);
		return -1;
	}
	free(*(char **)dst);
	*(char **)dst = xstrdup(v);
	return 0;
}

const struct svc_conf_type hook_secret_type = {
    .name = "path",
    .parse = secret_parse,
    .size = sizeof(char *),
    .free = svc_conf_str_free,
    .equal = svc_conf_str_equal,
    .copy = svc_conf_str_copy,
};
