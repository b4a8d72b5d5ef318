/* conn.c — svcctl's control-socket connection: JSON-RPC lines over poll(). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/conn.h"

/* A deadline in monotonic µs; -1 for none. */
static int64_t
deadline_after(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return util_mono_us() + (int64_t)timeout_ms * 1000;
}

/* Milliseconds left until deadline for poll(): -1 none, 0 expired. */
static int
deadline_left(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - util_mono_us();
	if (left <= 0)
		return 0;
	left = (left + 999) / 1000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static bool
interrupted(const struct conn *c)
{
	return c->interrupt && *c->interrupt;
}

static const char *
connect_hint(int err)
{
	switch (err) {
	case ENOENT:
	case ECONNREFUSED: return " (is svcd running?)";
	case EACCES:
	case EPERM: return " (is your user in svcd's group?)";
	default: return "";
	}
}

int
conn_open(struct conn *c, const char *path, int timeout_ms, char **cause)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
	if (!path || !*path) {
		*cause = xstrdup("empty socket path");
		return -1;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		*cause = xasprintf("cannot connect to %s: socket path too long "
		                   "(max %zu bytes)",
		                   path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*cause = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	/* A blocking AF_UNIX connect waits for backlog room up to SNDTIMEO. */
	if (timeout_ms >= 0) {
		int ms = timeout_ms > 0 ? timeout_ms : 1;
		struct timeval tv = {.tv_sec = ms / 1000,
		                     .tv_usec = (ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		if (err == EINTR && !interrupted(c))
			continue;
		if (err == EISCONN)
			break;
		if (err == EAGAIN || err == EINPROGRESS)
			*cause =
			    xasprintf("cannot connect to %s: timed out "
			              "(svcd is not accepting connections)",
			              path);
		else
			*cause = xasprintf("cannot connect to %s: %s%s", path,
			                   strerror(err), connect_hint(err));
		goto out_close_fd;
	}
	if (util_set_nonblock(fd) < 0) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		goto out_close_fd;
	}
	c->fd = fd;
	c->path = xstrdup(path);
	return 0;

out_close_fd:
	close(fd);
	return -1;
}

void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->path);
	c->path = NULL;
	buf_free(&c->in);
	buf_free(&c->line);
}

/* Wait for events on the socket. 1 ready, 0 timed out, -1 interrupted. */
static int
wait_fd(struct conn *c, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = c->fd, .events = events};

	for (;;) {
		if (interrupted(c))
			return -1;
		int n = poll(&pfd, 1, deadline_left(deadline));
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return 1; /* let the read or write report it */
	}
}

static int
write_all(struct conn *c, const char *p, size_t n, int64_t deadline,
          char **cause)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(c, POLLOUT, deadline);
			if (r < 0)
				return CONN_INTERRUPTED;
			if (r == 0) {
				*cause = xasprintf("%s: timed out sending the "
				                   "request",
				                   c->path);
				return CONN_FAIL;
			}
			continue;
		}
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			*cause =
			    xasprintf("%s: connection closed by svcd", c->path);
		else
			*cause = xasprintf("%s: write: %s", c->path,
			                   strerror(errno));
		return CONN_FAIL;
	}
	return CONN_OK;
}

/*
 * One request line: params as jansson writes them, with data (when not
 * NULL: valid JSON text) spliced in as the member "data", byte for byte;
 * raw: data is the whole params text instead (params unused).
 */
static int
send_deadline(struct conn *c, const char *method, json_t *params,
              const char *data, size_t data_len, bool raw, int64_t deadline,
              json_int_t *id, char **cause)
{
	json_int_t rid = c->next_id++;
	char *p = raw ? NULL
	          : params
	              ? json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER)
	              : xstrdup("{}");
	struct buf line = {0};
	size_t plen = 0;

	if (!raw && (!p || (plen = strlen(p)) < 2 || p[plen - 1] != '}')) {
		free(p);
		*cause = xstrdup("cannot encode the request");
		return CONN_FAIL;
	}
	buf_printf(&line, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":",
	           (long long)rid);
	buf_json_string(&line, method, strlen(method));
	buf_puts(&line, ",\"params\":");
	if (raw) {
		buf_append(&line, data, data_len);
	} else if (data) {
		buf_append(&line, p, plen - 1);
		if (plen > 2)
			buf_putc(&line, ',');
		buf_puts(&line, "\"data\":");
		buf_append(&line, data, data_len);
		buf_putc(&line, '}');
	} else {
		buf_append(&line, p, plen);
	}
	free(p);
	buf_puts(&line, "}\n");
	int rc = write_all(c, buf_head(&line), line.len, deadline, cause);
	buf_free(&line);
	if (rc == CONN_OK && id)
		*id = rid;
	return rc;
}

int
conn_send(struct conn *c, const char *method, json_t *params, int timeout_ms,
          json_int_t *id, char **cause)
{
	return send_deadline(c, method, params, NULL, 0, false,
	                     deadline_after(timeout_ms), id, cause);
}

static int
read_deadline(struct conn *c, int64_t deadline, json_t **msg, char **cause)
{
	for (;;) {
		const char *head = buf_head(&c->in);
		const char *nl =
		    c->in.len ? memchr(head, '\n', c->in.len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - head);
			json_error_t jerr;
			if (n == 0 || (n == 1 && head[0] == '\r')) {
				buf_consume(&c->in, n + 1);
				continue;
			}
			json_t *v = json_loadb(head, n, 0, &jerr);
			buf_reset(&c->line);
			buf_append(&c->line, head, n);
			buf_consume(&c->in, n + 1);
			if (!v || !json_is_object(v)) {
				*cause = xasprintf(
				    "%s: invalid reply from svcd: "
				    "%s",
				    c->path,
				    v ? "not a JSON object" : jerr.text);
				json_decref(v);
				return CONN_FAIL;
			}
			*msg = v;
			return CONN_OK;
		}
		if (c->in.len > CONN_MAX_LINE) {
			*cause =
			    xasprintf("%s: reply line longer than %u bytes",
			              c->path, CONN_MAX_LINE);
			return CONN_FAIL;
		}
		buf_reserve(&c->in, 65536);
		char *dst = c->in.data + c->in.off + c->in.len;
		size_t room = c->in.cap - c->in.off - c->in.len;
		ssize_t r = recv(c->fd, dst, room, 0);
		if (r > 0) {
			c->in.len += (size_t)r;
			continue;
		}
		if (r == 0) {
			if (c->in.len == 0)
				return CONN_EOF;
			*cause =
			    xasprintf("%s: connection closed in the middle "
			              "of a reply",
			              c->path);
			return CONN_FAIL;
		}
		if (errno == EINTR) {
			if (interrupted(c))
				return CONN_INTERRUPTED;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(c, POLLIN, deadline);
			if (w < 0)
				return CONN_INTERRUPTED;
			if (w == 0) {
				*cause = xasprintf("%s: no reply from svcd "
				                   "(timed out)",
				                   c->path);
				return CONN_FAIL;
			}
			continue;
		}
		if (errno == ECONNRESET)
			*cause =
			    xasprintf("%s: connection reset by svcd", c->path);
		else
			*cause =
			    xasprintf("%s: read: %s", c->path, strerror(errno));
		return CONN_FAIL;
	}
}

int
conn_read(struct conn *c, int timeout_ms, json_t **msg, char **cause)
{
	return read_deadline(c, deadline_after(timeout_ms), msg, cause);
}

int
conn_call(struct conn *c, const char *method, json_t *params, int timeout_ms,
          conn_notify_fn fn, void *arg, json_t **result, json_t **error,
          char **cause)
{
	return conn_call_data(c, method, params, NULL, 0, timeout_ms, fn, arg,
	                      result, error, cause);
}

/* Wait for the reply to request id (notifications to fn). */
static int
await_reply(struct conn *c, json_int_t id, int64_t deadline, conn_notify_fn fn,
            void *arg, json_t **result, json_t **error, char **cause)
{
	int rc;

	for (;;) {
		json_t *msg = NULL;
		rc = read_deadline(c, deadline, &msg, cause);
		if (rc == CONN_EOF) {
			*cause = xasprintf("%s: svcd closed the connection "
			                   "without replying",
			                   c->path);
			return CONN_FAIL;
		}
		if (rc != CONN_OK)
			return rc;
		json_t *jid = json_object_get(msg, "id");
		json_t *jm = json_object_get(msg, "method");
		if (!jid && json_is_string(jm)) {
			if (fn)
				fn(json_string_value(jm),
				   json_object_get(msg, "params"), arg);
			json_decref(msg);
			continue;
		}
		json_t *err = json_object_get(msg, "error");
		/* An error with a null id answers a line svcd could not read.
		 */
		bool ours =
		    json_is_integer(jid) && json_integer_value(jid) == id;
		if (!ours && !(json_is_null(jid) && err)) {
			json_decref(msg);
			continue;
		}
		if (json_is_object(err)) {
			*error = json_incref(err);
			json_decref(msg);
			return CONN_ERROR_REPLY;
		}
		json_t *res = json_object_get(msg, "result");
		if (!res) {
			*cause = xasprintf("%s: invalid reply from svcd: no "
			                   "result or error",
			                   c->path);
			json_decref(msg);
			return CONN_FAIL;
		}
		*result = json_incref(res);
		json_decref(msg);
		return CONN_OK;
	}
}

/*
 * The send failed: svcd may have refused the connection with one error
 * line (Busy, null id) and closed it before reading the request. That
 * line is still readable: return it as the error reply, else CONN_FAIL
 * with the send's *cause.
 */
static int
refusal(struct conn *c, int64_t deadline, json_t **error, char **cause)
{
	json_t *msg = NULL;
	char *why = NULL;

	if (read_deadline(c, deadline, &msg, &why) == CONN_OK) {
		json_t *err = json_object_get(msg, "error");
		if (json_is_object(err) &&
		    json_is_null(json_object_get(msg, "id"))) {
			*error = json_incref(err);
			json_decref(msg);
			free(*cause);
			*cause = NULL;
			return CONN_ERROR_REPLY;
		}
		json_decref(msg);
	}
	free(why);
	return CONN_FAIL;
}

/* One call: send (params and/or text, as send_deadline takes them), then
 * wait for its reply, both within timeout_ms. */
static int
call(struct conn *c, const char *method, json_t *params, const char *text,
     size_t text_len, bool raw, int timeout_ms, conn_notify_fn fn, void *arg,
     json_t **result, json_t **error, char **cause)
{
	int64_t deadline = deadline_after(timeout_ms);
	json_int_t id;
	int rc;

	rc = send_deadline(c, method, params, text, text_len, raw, deadline,
	                   &id, cause);
	if (rc == CONN_FAIL)
		return refusal(c, deadline, error, cause);
	if (rc != CONN_OK)
		return rc;
	return await_reply(c, id, deadline, fn, arg, result, error, cause);
}

int
conn_call_data(struct conn *c, const char *method, json_t *params,
               const char *data, size_t data_len, int timeout_ms,
               conn_notify_fn fn, void *arg, json_t **result, json_t **error,
               char **cause)
{
	return call(c, method, params, data, data_len, false, timeout_ms, fn,
	            arg, result, error, cause);
}

int
conn_call_raw(struct conn *c, const char *method, const char *params,
              size_t params_len, int timeout_ms, conn_notify_fn fn, void *arg,
              json_t **result, json_t **error, char **cause)
{
	return call(c, method, NULL, params, params_len, true, timeout_ms, fn,
	            arg, result, error, cause);
}
