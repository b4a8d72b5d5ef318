/*
 * bridge.c — the event bridge over Redis pub/sub (see bridge.h).
 *
 * Two hiredis async connections ("links") on the svcd loop: one publishes,
 * one holds the PSUBSCRIBEs (a subscribed connection can do nothing else).
 * Each link reconnects on its own with exponential backoff; a connect that
 * does not complete within connect_timeout is abandoned and retried.
 *
 * Outbound events are encoded at once and go through one bounded FIFO: the
 * pump sends from it while the publish link is up and fewer than
 * BRIDGE_INFLIGHT PUBLISHes await their reply, so memory stays bounded
 * whether Redis is down (the FIFO fills, then events are dropped and
 * counted) or just slow (hiredis's output buffer never grows past the
 * in-flight window). A PUBLISH whose reply never came because the link went
 * down is counted as lost: pub/sub delivers at most once.
 *
 * We never free a hiredis context from inside one of its callbacks: a
 * context we abandon has its data pointer cleared first so that whatever
 * callbacks hiredis still runs for it are recognised and ignored, and the
 * end of bridge_close runs from a zero timer.
 */
#include "services/bridge.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/util.h"

#define BRIDGE_INFLIGHT      1024
#define BRIDGE_DEFAULT_PORT  6379
#define BRIDGE_HOST_MAX      255
#define BRIDGE_INSTANCE_MAX  64
#define BRIDGE_CLOSE_TIMEOUT 3.0

struct outmsg {
	struct outmsg *next;
	size_t chan_len;
	size_t len;
	char *chan;
	char *payload;
};

struct bridge;

struct link {
	struct bridge *br;
	const char *name; /* "publish" or "subscribe" */
	redisAsyncContext *ac;
	bool up;          /* connected (and subscribed, for the sub link) */
	bool ever_failed; /* an attempt failed or the link was lost */
	bool ever_up;
	size_t acks;        /* PSUBSCRIBE confirmations on this connection */
	double backoff;     /* next retry delay */
	ev_timer timer;     /* connect timeout, then retry delay */
	bool retry_pending; /* the timer is a retry */
	int64_t retry_at_us;
	int64_t down_since_us;
	char *error;
};

struct bridge {
	struct ev_loop *loop;
	struct bus *bus;
	struct bridge_url url;
	char *url_text;
	char **publish;   /* NULL-terminated */
	char **subscribe; /* NULL-terminated, minimal (no overlaps) */
	char **rpatterns; /* Redis patterns for subscribe */
	size_t nsub;
	char *channel;
	size_t buffer;
	double backoff_min, backoff_max, connect_timeout;
	char *host;
	char *instance;
	struct bus_listener *listener;

	struct link pub, sub;
	bool has_sub;

	struct outmsg *head, **tail;
	size_t queued;
	size_t inflight;
	uint64_t drop_episode;

	bool closing;
	void (*close_cb)(struct bridge *br, void *arg);
	void *close_arg;
	ev_timer close_timer;
	ev_timer close_kick;

	struct bridge_stats st;
};

/* ---- URLs, patterns, the wire format ---- */

void
bridge_url_clear(struct bridge_url *u)
{
	free(u->host);
	free(u->path);
	memset(u, 0, sizeof(*u));
}

static int
parse_db(const char *s, unsigned *db, char **cause)
{
	uint64_t v;

	if (util_parse_uint(s, 15999, &v, NULL) < 0) {
		*cause = xasprintf("bad database number '%s'", s);
		return -1;
	}
	*db = (unsigned)v;
	return 0;
}

int
bridge_url_parse(const char *url, struct bridge_url *out, char **cause)
{
	struct bridge_url u = {.port = BRIDGE_DEFAULT_PORT};
	char *copy = NULL;

	if (!strncmp(url, "unix://", 7)) {
		const char *p = url + 7;
		const char *q = strchr(p, '?');
		size_t len = q ? (size_t)(q - p) : strlen(p);

		u.kind = BRIDGE_URL_UNIX;
		if (len == 0 || p[0] != '/') {
			*cause =
			    xasprintf("bad URL '%s': unix:// needs an "
			              "absolute path (unix:///run/redis.sock)",
			              url);
			goto out_fail;
		}
		if (len > sizeof(((struct sockaddr_un *)0)->sun_path) - 1) {
			*cause = xasprintf("bad URL '%s': socket path too long",
			                   url);
			goto out_fail;
		}
		u.path = xstrndup(p, len);
		if (q) {
			if (strncmp(q, "?db=", 4)) {
				*cause = xasprintf("bad URL '%s': only ?db=N "
				                   "may follow the path",
				                   url);
				goto out_fail;
			}
			if (parse_db(q + 4, &u.db, cause) < 0)
				goto out_bad;
		}
	} else if (!strncmp(url, "redis://", 8)) {
		char *host, *port = NULL, *db, *end;

		u.kind = BRIDGE_URL_TCP;
		copy = xstrdup(url + 8);
		if (strchr(copy, '@')) {
			*cause = xasprintf("bad URL '%s': credentials in the "
			                   "URL are not supported",
			                   url);
			goto out_fail;
		}
		if ((db = strchr(copy, '/')))
			*db++ = '\0';
		host = copy;
		if (host[0] == '[') {
			if (!(end = strchr(host, ']'))) {
				*cause = xasprintf("bad URL '%s': unclosed '['",
				                   url);
				goto out_fail;
			}
			*end = '\0';
			host++;
			if (end[1] == ':')
				port = end + 2;
			else if (end[1]) {
				*cause = xasprintf("bad URL '%s': text after "
				                   "']'",
				                   url);
				goto out_fail;
			}
		} else if ((port = strchr(host, ':'))) {
			*port++ = '\0';
		}
		if (!*host) {
			*cause = xasprintf("bad URL '%s': no host", url);
			goto out_fail;
		}
		for (const char *c = host; *c; c++) {
			if (!isalnum((unsigned char)*c) &&
			    !strchr(".-_:", *c)) {
				*cause = xasprintf("bad URL '%s': bad host "
				                   "name '%s'",
				                   url, host);
				goto out_fail;
			}
		}
		if (port) {
			uint64_t v;
			if (util_parse_uint(port, 65535, &v, NULL) < 0 ||
			    v == 0) {
				*cause = xasprintf("bad URL '%s': bad port "
				                   "'%s'",
				                   url, port);
				goto out_fail;
			}
			u.port = (int)v;
		}
		if (db && *db && parse_db(db, &u.db, cause) < 0)
			goto out_bad;
		u.host = xstrdup(host);
	} else {
		*cause = xasprintf("bad URL '%s': use redis://HOST[:PORT][/DB] "
		                   "or unix:///PATH",
		                   url);
		goto out_fail;
	}
	free(copy);
	*out = u;
	return 0;

out_bad : {
	char *why = *cause;
	*cause = xasprintf("bad URL '%s': %s", url, why);
	free(why);
}
out_fail:
	free(copy);
	bridge_url_clear(&u);
	return -1;
}

bool
bridge_channel_valid(const char *prefix)
{
	size_t n = strlen(prefix);

	if (n == 0 || n > BRIDGE_CHANNEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)prefix[i];
		if (!isalnum(c) && !strchr("_.:-", c))
			return false;
	}
	return true;
}

char *
bridge_redis_pattern(const char *prefix, const char *pattern)
{
	return xasprintf("%s.%s", prefix, pattern);
}

/* q matches every name p matches. */
static bool
pattern_covers(const char *q, const char *p)
{
	size_t n = strlen(q);

	if (!strcmp(q, "*"))
		return true;
	if (n > 2 && q[n - 1] == '*')
		return !strncmp(q, p, n - 1);
	return !strcmp(q, p);
}

/*
 * The patterns of list that no other one covers (Redis would send one
 * pmessage per matching pattern: overlapping ones would duplicate events).
 */
static char **
patterns_minimal(const char *const *list, size_t *count)
{
	size_t n = 0, k = 0;
	char **out;

	while (list && list[n])
		n++;
	out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		bool covered = false;
		for (size_t j = 0; j < n && !covered; j++) {
			if (i == j || !pattern_covers(list[j], list[i]))
				continue;
			/* equal ones: keep the first */
			covered = strcmp(list[i], list[j]) || j < i;
		}
		if (!covered)
			out[k++] = xstrdup(list[i]);
	}
	*count = k;
	return out;
}

static char **
strv_copy(const char *const *list)
{
	size_t n = 0;
	char **out;

	while (list && list[n])
		n++;
	out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(list[i]);
	return out;
}

static void
strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static bool
match_any(char *const *patterns, const char *name, size_t len)
{
	for (char *const *p = patterns; p && *p; p++)
		if (bus_pattern_match(*p, name, len))
			return true;
	return false;
}

char *
bridge_encode(const struct bus_event *ev, const char *host,
              const char *instance, size_t *len)
{
	struct buf b = {0};
	char when[40];
	char *out;

	util_format_time(ev->time_us, when, sizeof(when));
	buf_puts(&b, "{\"event\":");
	buf_json_string(&b, ev->name, ev->name_len);
	buf_puts(&b, ",\"data\":");
	if (ev->data && ev->data_len)
		buf_append(&b, ev->data, ev->data_len);
	else
		buf_puts(&b, "{}");
	buf_printf(&b,
	           ",\"time\":\"%s\",\"seq\":%llu,\"origin\":{\"host\":", when,
	           (unsigned long long)ev->seq);
	buf_json_string(&b, host, strlen(host));
	buf_puts(&b, ",\"instance\":");
	buf_json_string(&b, instance, strlen(instance));
	buf_puts(&b, "}}");
	*len = b.len;
	out = xstrndup(buf_head(&b), b.len);
	buf_free(&b);
	return out;
}

/* 1-max printable ASCII characters without blanks (they go in a source). */
static bool
token_valid(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

void
bridge_msg_clear(struct bridge_msg *m)
{
	free(m->event);
	free(m->data);
	free(m->time);
	free(m->host);
	free(m->instance);
	memset(m, 0, sizeof(*m));
}

int
bridge_decode(const char *payload, size_t len, struct bridge_msg *out,
              char **cause)
{
	json_error_t jerr;
	json_t *root, *ev, *data, *when, *seq, *origin, *host, *inst;
	struct bridge_msg m = {0};

	root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		*cause = xasprintf("invalid JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		*cause = xstrdup("not a JSON object");
		goto out_fail;
	}
	ev = json_object_get(root, "event");
	data = json_object_get(root, "data");
	when = json_object_get(root, "time");
	seq = json_object_get(root, "seq");
	origin = json_object_get(root, "origin");
	host = json_object_get(origin, "host");
	inst = json_object_get(origin, "instance");
	if (!json_is_string(ev) ||
	    !bus_name_valid(json_string_value(ev), json_string_length(ev))) {
		*cause = xstrdup("'event' is not a valid event name");
		goto out_fail;
	}
	if (data && !json_is_object(data)) {
		*cause = xstrdup("'data' is not an object");
		goto out_fail;
	}
	if (!json_is_string(when) ||
	    !token_valid(json_string_value(when), 64)) {
		*cause = xstrdup("'time' is missing or not a time");
		goto out_fail;
	}
	if (seq && (!json_is_integer(seq) || json_integer_value(seq) < 0)) {
		*cause = xstrdup("'seq' is not a non-negative integer");
		goto out_fail;
	}
	if (!json_is_object(origin) || !json_is_string(host) ||
	    !json_is_string(inst) ||
	    !token_valid(json_string_value(host), BRIDGE_HOST_MAX) ||
	    !token_valid(json_string_value(inst), BRIDGE_INSTANCE_MAX)) {
		*cause = xstrdup("'origin' needs a 'host' and an 'instance'");
		goto out_fail;
	}
	m.event = xstrdup(json_string_value(ev));
	if (data) {
		/* the bytes as published, not re-serialised: numbers stay
		 * exactly as written */
		static const char *const path[] = {"data"};
		struct buf raw = {0};

		if (bus_json_member(payload, len, path, 1, &raw)) {
			buf_putc(&raw, '\0');
			m.data = raw.data;
		} else {
			char *text = json_dumps(data, JSON_COMPACT |
			                                  JSON_PRESERVE_ORDER);
			m.data = xstrdup(text);
			free(text);
		}
	} else {
		m.data = xstrdup("{}");
	}
	m.time = xstrdup(json_string_value(when));
	m.seq = seq ? (uint64_t)json_integer_value(seq) : 0;
	m.host = xstrdup(json_string_value(host));
	m.instance = xstrdup(json_string_value(inst));
	json_decref(root);
	*out = m;
	return 0;

out_fail:
	json_decref(root);
	return -1;
}

char *
bridge_source(const struct bridge_msg *m)
{
	return xasprintf(BRIDGE_SOURCE_PREFIX "origin=%s/%s time=%s seq=%llu",
	                 m->host, m->instance, m->time,
	                 (unsigned long long)m->seq);
}

bool
bridge_from_bridge(const struct bus_event *ev)
{
	return ev->source && !strncmp(ev->source, BRIDGE_SOURCE_PREFIX,
	                              strlen(BRIDGE_SOURCE_PREFIX));
}

/* ---- the outbound FIFO and the pump ---- */

static void
outmsg_free(struct outmsg *m)
{
	free(m->chan);
	free(m->payload);
	free(m);
}

static void
queue_clear(struct bridge *br)
{
	for (struct outmsg *m = br->head, *n; m; m = n) {
		n = m->next;
		outmsg_free(m);
	}
	br->head = NULL;
	br->tail = &br->head;
	br->queued = 0;
}

static void maybe_finish_close(struct bridge *br);

static void
on_publish_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	struct bridge *br;
	redisReply *reply = r;

	(void)privdata;
	if (!l)
		return; /* an abandoned context */
	br = l->br;
	br->inflight--;
	br->st.inflight = br->inflight;
	if (!reply) {
		br->st.lost++;
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		br->st.lost++;
		log_warn("bridge: PUBLISH failed: %s", reply->str);
	} else {
		br->st.published++;
	}
}

static void pump(struct bridge *br);

/* A reply frees a slot of the in-flight window: refill it. */
static void
pump_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;

	on_publish_reply(ac, r, privdata);
	if (l && r)
		pump(l->br);
}

static void
pump(struct bridge *br)
{
	struct link *l = &br->pub;

	while (l->up && br->head && br->inflight < BRIDGE_INFLIGHT) {
		struct outmsg *m = br->head;
		const char *argv[3] = {"PUBLISH", m->chan, m->payload};
		size_t argvlen[3] = {7, m->chan_len, m->len};

		if (redisAsyncCommandArgv(l->ac, pump_cb, NULL, 3, argv,
		                          argvlen) != REDIS_OK)
			break; /* disconnecting: the link callbacks follow */
		br->head = m->next;
		if (!br->head)
			br->tail = &br->head;
		br->queued--;
		br->inflight++;
		outmsg_free(m);
	}
	br->st.buffered = br->queued;
	br->st.inflight = br->inflight;
	if (br->drop_episode && br->queued < br->buffer) {
		log_warn("bridge: %llu outbound events dropped (buffer of %zu "
		         "full)",
		         (unsigned long long)br->drop_episode, br->buffer);
		br->drop_episode = 0;
	}
	if (br->closing)
		maybe_finish_close(br);
}

static int
on_local_event(const struct bus_event *ev, void *arg)
{
	struct bridge *br = arg;
	struct outmsg *m;

	if (br->closing || bridge_from_bridge(ev) ||
	    !match_any(br->publish, ev->name, ev->name_len))
		return 0;
	if (br->queued >= br->buffer) {
		if (br->drop_episode++ == 0)
			log_warn("bridge: outbound buffer full (%zu events); "
			         "dropping until Redis takes them",
			         br->buffer);
		br->st.dropped++;
		return 0;
	}
	m = xcalloc(1, sizeof(*m));
	m->chan = xasprintf("%s.%s", br->channel, ev->name);
	m->chan_len = strlen(m->chan);
	m->payload = bridge_encode(ev, br->host, br->instance, &m->len);
	*br->tail = m;
	br->tail = &m->next;
	br->queued++;
	pump(br);
	return 0;
}

/* ---- remote events ---- */

static void
on_remote_message(struct bridge *br, const char *chan, size_t chan_len,
                  const char *payload, size_t len)
{
	struct bridge_msg m;
	char *cause = NULL, *source;
	size_t plen = strlen(br->channel);

	if (bridge_decode(payload, len, &m, &cause) < 0) {
		br->st.invalid++;
		log_warn("bridge: ignoring a message on %.*s: %s",
		         (int)chan_len, chan, cause);
		free(cause);
		return;
	}
	if (!strcmp(m.instance, br->instance)) {
		br->st.ignored++; /* our own, echoed back by Redis */
		goto out;
	}
	if (chan_len != plen + 1 + strlen(m.event) ||
	    strncmp(chan + plen + 1, m.event, chan_len - plen - 1)) {
		br->st.invalid++;
		log_warn("bridge: ignoring event '%s' sent on channel %.*s",
		         m.event, (int)chan_len, chan);
		goto out;
	}
	if (!match_any(br->subscribe, m.event, strlen(m.event))) {
		br->st.ignored++;
		goto out;
	}
	source = bridge_source(&m);
	if (bus_emit(br->bus, m.event, strlen(m.event), m.data, strlen(m.data),
	             source, NULL, NULL) < 0) {
		if (errno == EAGAIN) {
			br->st.in_dropped++;
			log_warn("bridge: bus queue full: dropped remote "
			         "event '%s' from %s/%s",
			         m.event, m.host, m.instance);
		}
	} else {
		br->st.received++;
	}
	free(source);
out:
	bridge_msg_clear(&m);
}

static void link_set_up(struct link *l);

static void
on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	redisReply *reply = r, *kind;

	(void)privdata;
	if (!l || !reply || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 3)
		return;
	kind = reply->element[0];
	if (kind->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(kind->str, "psubscribe")) {
		if (++l->acks == l->br->nsub)
			link_set_up(l);
	} else if (!strcmp(kind->str, "pmessage") && reply->elements == 4 &&
	           reply->element[2]->type == REDIS_REPLY_STRING &&
	           reply->element[3]->type == REDIS_REPLY_STRING) {
		on_remote_message(
		    l->br, reply->element[2]->str, reply->element[2]->len,
		    reply->element[3]->str, reply->element[3]->len);
	}
}

/* ---- links: connect, lose, retry ---- */

static void link_connect(struct link *l);

static void
link_schedule_retry(struct link *l)
{
	struct bridge *br = l->br;
	double delay = l->backoff;

	if (br->closing)
		return;
	l->backoff =
	    l->backoff * 2 > br->backoff_max ? br->backoff_max : l->backoff * 2;
	ev_timer_stop(br->loop, &l->timer);
	ev_timer_set(&l->timer, delay, 0);
	ev_timer_start(br->loop, &l->timer);
	l->retry_pending = true;
	l->retry_at_us = util_mono_us() + (int64_t)(delay * 1e6);
}

static void health_changed(struct bridge *br);

/* The link failed or went down: note why, drop the context, retry later. */
static void
link_failed(struct link *l, const char *why)
{
	struct bridge *br = l->br;
	bool was_up = l->up;
	bool news = was_up || !l->ever_failed; /* healthy until now */

	l->up = false;
	l->acks = 0;
	l->ac = NULL;
	if (!l->ever_failed || was_up || !l->error || strcmp(l->error, why)) {
		if (was_up)
			log_warn("bridge: %s link to %s lost: %s", l->name,
			         br->url_text, why);
		else
			log_warn("bridge: cannot connect the %s link to %s: "
			         "%s",
			         l->name, br->url_text, why);
	}
	if (was_up || !l->down_since_us)
		l->down_since_us = util_mono_us();
	l->ever_failed = true;
	free(l->error);
	l->error = xstrdup(why);
	if (l == &br->pub) {
		br->inflight = 0;
		br->st.inflight = 0;
	}
	br->st.connected = false;
	link_schedule_retry(l);
	if (news)
		health_changed(br);
}

static void
link_set_up(struct link *l)
{
	struct bridge *br = l->br;

	l->up = true;
	l->backoff = br->backoff_min;
	if (l->ever_up) {
		br->st.reconnects++;
		log_info("bridge: %s link to %s back after %.1fs", l->name,
		         br->url_text,
		         (double)(util_mono_us() - l->down_since_us) / 1e6);
	} else {
		log_info("bridge: %s link connected to %s", l->name,
		         br->url_text);
	}
	l->ever_up = true;
	l->down_since_us = 0;
	free(l->error);
	l->error = NULL;
	br->st.connected = br->pub.up && (!br->has_sub || br->sub.up);
	health_changed(br);
	if (l == &br->pub)
		pump(br);
}

static void
on_connect(const redisAsyncContext *cac, int status)
{
	struct link *l = cac->data;
	redisAsyncContext *ac = (redisAsyncContext *)cac;

	if (!l)
		return;
	ev_timer_stop(l->br->loop, &l->timer);
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		link_failed(l, cac->errstr[0] ? cac->errstr : "connect failed");
		return;
	}
	if (l == &l->br->pub) {
		link_set_up(l);
		return;
	}
	for (size_t i = 0; i < l->br->nsub; i++)
		redisAsyncCommand(ac, on_sub_reply, NULL, "PSUBSCRIBE %s",
		                  l->br->rpatterns[i]);
}

static void
on_disconnect(const redisAsyncContext *cac, int status)
{
	struct link *l = cac->data;

	if (!l)
		return;
	/* hiredis frees the context after this callback */
	link_failed(l,
	            status == REDIS_OK
	                ? "disconnected"
	                : (cac->errstr[0] ? cac->errstr : "connection closed"));
}

/* Forget the context (its late callbacks are ignored) and free it. */
static void
link_drop(struct link *l)
{
	redisAsyncContext *ac = l->ac;

	ev_timer_stop(l->br->loop, &l->timer);
	l->retry_pending = false;
	if (!ac)
		return;
	l->ac = NULL;
	l->up = false;
	l->acks = 0;
	ac->data = NULL;
	redisAsyncFree(ac);
	if (l == &l->br->pub) {
		l->br->inflight = 0;
		l->br->st.inflight = 0;
	}
}

static void
on_link_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct link *l = w->data;

	(void)loop;
	(void)revents;
	if (l->retry_pending) {
		l->retry_pending = false;
		link_connect(l);
		return;
	}
	/* the connect did not complete in time */
	link_drop(l);
	link_failed(l, "connect timed out");
}

static void
link_connect(struct link *l)
{
	struct bridge *br = l->br;
	redisAsyncContext *ac;

	if (br->url.kind == BRIDGE_URL_UNIX)
		ac = redisAsyncConnectUnix(br->url.path);
	else
		ac = redisAsyncConnect(br->url.host, br->url.port);
	if (!ac) {
		link_failed(l, "out of memory");
		return;
	}
	if (ac->err) {
		char *why = xstrdup(ac->errstr);
		redisAsyncFree(ac);
		link_failed(l, why);
		free(why);
		return;
	}
	ac->data = l;
	redisLibevAttach(br->loop, ac);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	l->ac = ac;
	l->retry_pending = false;
	ev_timer_stop(br->loop, &l->timer);
	ev_timer_set(&l->timer, br->connect_timeout, 0);
	ev_timer_start(br->loop, &l->timer);
}

static void
link_init(struct bridge *br, struct link *l, const char *name)
{
	l->br = br;
	l->name = name;
	l->backoff = br->backoff_min;
	ev_timer_init(&l->timer, on_link_timer, 0, 0);
	l->timer.data = l;
}

/*
 * The first attempt runs from the loop, not from bridge_new: an error
 * connect() gives at once (socket() refused by the sandbox, a Unix path
 * that does not exist) is then a link down like any later one, retried
 * with the backoff, and the service starts degraded instead of failing
 * its start.
 */
static void
link_start(struct link *l)
{
	ev_timer_set(&l->timer, 0, 0);
	ev_timer_start(l->br->loop, &l->timer);
	l->retry_pending = true;
	l->retry_at_us = util_mono_us();
}

/* ---- the object ---- */

static char *
random_instance(void)
{
	unsigned char r[8];
	char *out = xmalloc(17);

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		uint64_t x = (uint64_t)util_now_us() ^
		             ((uint64_t)getpid() << 32) ^
		             (uint64_t)util_mono_us();
		memcpy(r, &x, sizeof(r));
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return out;
}

static char *
local_host(void)
{
	char name[HOST_NAME_MAX + 1];

	if (gethostname(name, sizeof(name)) < 0 || !token_valid(name, 255))
		return xstrdup("localhost");
	name[HOST_NAME_MAX] = '\0';
	return xstrdup(name);
}

static int
check_patterns(const char *key, const char *const *list, char **cause)
{
	for (size_t i = 0; list && list[i]; i++) {
		if (!bus_pattern_valid(list[i])) {
			*cause = xasprintf("%s: '%s' is not an event pattern "
			                   "(NAME, PREFIX.* or *)",
			                   key, list[i]);
			return -1;
		}
	}
	return 0;
}

struct bridge *
bridge_new(struct ev_loop *loop, struct bus *bus,
           const struct bridge_opts *opts, char **cause)
{
	const struct bridge_conf *d = svc_conf_desc_defaults(&bridge_service);
	struct bridge *br;
	struct bridge_url url;
	const char *chan = opts->channel ? opts->channel : d->channel;

	if (!opts->url) {
		*cause = xstrdup("no url");
		return NULL;
	}
	if (bridge_url_parse(opts->url, &url, cause) < 0)
		return NULL;
	if (!bridge_channel_valid(chan)) {
		*cause = xasprintf("bad channel prefix '%s' (1-64 characters "
		                   "of A-Z a-z 0-9 _ . : -)",
		                   chan);
		goto out_url;
	}
	if (check_patterns("publish", opts->publish, cause) < 0 ||
	    check_patterns("subscribe", opts->subscribe, cause) < 0)
		goto out_url;
	if (opts->instance &&
	    !token_valid(opts->instance, BRIDGE_INSTANCE_MAX)) {
		*cause = xasprintf("bad instance id '%s'", opts->instance);
		goto out_url;
	}
	if (opts->host && !token_valid(opts->host, BRIDGE_HOST_MAX)) {
		*cause = xasprintf("bad host name '%s'", opts->host);
		goto out_url;
	}

	br = xcalloc(1, sizeof(*br));
	br->loop = loop;
	br->bus = bus;
	br->url = url;
	br->url_text = xstrdup(opts->url);
	br->publish = strv_copy(opts->publish);
	br->subscribe = patterns_minimal(opts->subscribe, &br->nsub);
	br->rpatterns = xcalloc(br->nsub + 1, sizeof(*br->rpatterns));
	for (size_t i = 0; i < br->nsub; i++)
		br->rpatterns[i] = bridge_redis_pattern(chan, br->subscribe[i]);
	br->channel = xstrdup(chan);
	br->buffer = opts->buffer ? opts->buffer : d->buffer;
	br->backoff_min =
	    opts->backoff_min > 0 ? opts->backoff_min : d->reconnect_min;
	br->backoff_max =
	    opts->backoff_max > 0 ? opts->backoff_max : d->reconnect_max;
	if (br->backoff_max < br->backoff_min)
		br->backoff_max = br->backoff_min;
	br->connect_timeout =
	    opts->connect_timeout > 0 ? opts->connect_timeout : 5;
	br->host = opts->host ? xstrdup(opts->host) : local_host();
	br->instance =
	    opts->instance ? xstrdup(opts->instance) : random_instance();
	br->tail = &br->head;
	br->has_sub = br->nsub > 0;
	ev_timer_init(&br->close_timer, NULL, 0, 0);
	ev_timer_init(&br->close_kick, NULL, 0, 0);
	link_init(br, &br->pub, "publish");
	link_init(br, &br->sub, "subscribe");

	if (br->publish[0])
		br->listener = bus_listen(bus, "*", on_local_event, br);
	link_start(&br->pub);
	if (br->has_sub)
		link_start(&br->sub);
	return br;

out_url:
	bridge_url_clear(&url);
	return NULL;
}

void
bridge_free(struct bridge *br)
{
	if (!br)
		return;
	br->closing = true;
	if (br->listener)
		bus_unlisten(br->bus, br->listener);
	link_drop(&br->pub);
	link_drop(&br->sub);
	ev_timer_stop(br->loop, &br->close_timer);
	ev_timer_stop(br->loop, &br->close_kick);
	queue_clear(br);
	free(br->pub.error);
	free(br->sub.error);
	bridge_url_clear(&br->url);
	free(br->url_text);
	strv_free(br->publish);
	strv_free(br->subscribe);
	strv_free(br->rpatterns);
	free(br->channel);
	free(br->host);
	free(br->instance);
	free(br);
}

static void
close_finish(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bridge *br = w->data;
	void (*cb)(struct bridge *, void *) = br->close_cb;

	(void)loop;
	(void)revents;
	ev_timer_stop(br->loop, &br->close_timer);
	ev_timer_stop(br->loop, &br->close_kick);
	if (!cb)
		return;
	br->close_cb = NULL;
	if (br->queued || br->inflight)
		log_warn("bridge: stopping with %zu events unsent and %zu "
		         "unacknowledged",
		         br->queued, br->inflight);
	link_drop(&br->pub);
	link_drop(&br->sub);
	br->st.connected = false;
	cb(br, br->close_arg);
}

/* Everything sent and acknowledged (or nothing can be): finish from a timer. */
static void
maybe_finish_close(struct bridge *br)
{
	if (!br->close_cb || ev_is_active(&br->close_kick))
		return;
	if (br->pub.up && (br->queued || br->inflight))
		return;
	ev_timer_set(&br->close_kick, 0, 0);
	ev_timer_start(br->loop, &br->close_kick);
}

void
bridge_close(struct bridge *br, double timeout,
             void (*cb)(struct bridge *br, void *arg), void *arg)
{
	br->closing = true;
	br->close_cb = cb;
	br->close_arg = arg;
	if (br->listener) {
		bus_unlisten(br->bus, br->listener);
		br->listener = NULL;
	}
	/* no more retries: what is not connected now stays down */
	if (!br->pub.ac)
		link_drop(&br->pub);
	if (!br->sub.ac)
		link_drop(&br->sub);
	ev_init(&br->close_timer, close_finish);
	br->close_timer.data = br;
	ev_init(&br->close_kick, close_finish);
	br->close_kick.data = br;
	ev_timer_set(&br->close_timer, timeout > 0 ? timeout : 0.001, 0);
	ev_timer_start(br->loop, &br->close_timer);
	maybe_finish_close(br);
}

bool
bridge_connected(const struct bridge *br)
{
	return br->pub.up && (!br->has_sub || br->sub.up);
}

static void
link_problem(const struct bridge *br, const struct link *l, struct buf *b)
{
	int64_t now = util_mono_us();

	if (l->up || !l->ever_failed)
		return; /* up, or still on its first attempt */
	if (b->len)
		buf_puts(b, "; ");
	buf_printf(b, "%s link to %s down", l->name, br->url_text);
	if (l->down_since_us)
		buf_printf(b, " for %.1fs",
		           (double)(now - l->down_since_us) / 1e6);
	if (l->error)
		buf_printf(b, " (%s)", l->error);
	if (l->retry_pending)
		buf_printf(b, ", retry in %.1fs",
		           l->retry_at_us > now
		               ? (double)(l->retry_at_us - now) / 1e6
		               : 0.0);
}

int
bridge_check(const struct bridge *br, char **cause)
{
	struct buf b = {0};

	link_problem(br, &br->pub, &b);
	if (br->has_sub)
		link_problem(br, &br->sub, &b);
	if (!b.len)
		return 0;
	if (br->queued)
		buf_printf(&b, "; %zu events buffered", br->queued);
	if (cause)
		*cause = xstrndup(buf_head(&b), b.len);
	buf_free(&b);
	return -1;
}

const char *
bridge_instance(const struct bridge *br)
{
	return br->instance;
}

void
bridge_get_stats(const struct bridge *br, struct bridge_stats *out)
{
	*out = br->st;
	out->connected = bridge_connected(br);
	out->buffered = br->queued;
	out->inflight = br->inflight;
}

static json_t *
patterns_json(char *const *v)
{
	json_t *a = json_array();

	for (char *const *p = v; p && *p; p++)
		json_array_append_new(a, json_string(*p));
	return a;
}

json_t *
bridge_get_stats_json(const struct bridge *br)
{
	struct bridge_stats s;

	bridge_get_stats(br, &s);
	return json_pack(
	    "{s:b, s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "enabled", 1, "url", br->url_text, "channel", br->channel, "host",
	    br->host, "instance", br->instance, "publish",
	    patterns_json(br->publish), "subscribe",
	    patterns_json(br->subscribe), "connected", s.connected, "published",
	    (json_int_t)s.published, "received", (json_int_t)s.received,
	    "ignored", (json_int_t)s.ignored, "invalid", (json_int_t)s.invalid,
	    "dropped", (json_int_t)s.dropped, "lost", (json_int_t)s.lost,
	    "in_dropped", (json_int_t)s.in_dropped, "reconnects",
	    (json_int_t)s.reconnects, "buffered", (json_int_t)s.buffered,
	    "buffer", (json_int_t)br->buffer, "inflight",
	    (json_int_t)s.inflight);
}

/* ---- the service ---- */

static struct {
	struct bridge *br;
	struct svc *self;
} svc_br;

/* A link went down or came up: the health monitor pings us at once. */
static void
health_changed(struct bridge *br)
{
	if (br == svc_br.br && svc_br.self)
		svc_health_changed(svc_br.self);
}

json_t *
bridge_stats_json(void)
{
	if (!svc_br.br)
		return json_pack("{s:b}", "enabled", 0);
	return bridge_get_stats_json(svc_br.br);
}

static int
bridge_svc_init(struct svc *self, char **cause)
{
	const struct bridge_conf *c = svc_options(self);
	struct bus *b = bus_of(self);
	struct bridge_opts o;

	if (!c->url)
		return 0; /* no [bridge] section: nothing to do */
	if (!b) {
		*cause = xstrdup("the bus is not running");
		return -1;
	}
	o = (struct bridge_opts){
	    .url = c->url,
	    .publish = (const char *const *)c->publish,
	    .subscribe = (const char *const *)c->subscribe,
	    .channel = c->channel,
	    .buffer = c->buffer,
	    .backoff_min = c->reconnect_min,
	    .backoff_max = c->reconnect_max,
	};
	if (!(svc_br.br = bridge_new(svc_loop(self), b, &o, cause)))
		return -1;
	svc_br.self = self;
	log_info("bridge: instance %s on %s, channel prefix '%s'",
	         svc_br.br->instance, svc_br.br->url_text, svc_br.br->channel);
	return 0;
}

static int
bridge_svc_ping(struct svc *self, char **cause)
{
	(void)self;
	if (!svc_br.br)
		return 0;
	return bridge_check(svc_br.br, cause);
}

static void
on_svc_closed(struct bridge *br, void *arg)
{
	struct svc *self = arg;

	(void)br;
	bridge_free(svc_br.br);
	svc_br.br = NULL;
	svc_br.self = NULL;
	svc_stop_done(self);
}

static int
bridge_svc_stop(struct svc *self)
{
	if (!svc_br.br)
		return 0;
	bridge_close(svc_br.br, BRIDGE_CLOSE_TIMEOUT, on_svc_closed, self);
	return svc_br.br ? SVC_PENDING : 0;
}

/* ---- configuration ---- */

static void
conf_str_set(void *dst, const char *v)
{
	free(*(char **)dst);
	*(char **)dst = xstrdup(v);
}

static int
url_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
          const char *v, void *dst, char **cause)
{
	struct bridge_url url;

	if (bridge_url_parse(v, &url, cause) < 0)
		return -1;
	bridge_url_clear(&url);
	conf_str_set(dst, v);
	return 0;
}

static int
channel_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
              const char *v, void *dst, char **cause)
{
	if (!bridge_channel_valid(v)) {
		*cause = xasprintf("'%s' is not a channel prefix (1-64 "
		                   "characters of A-Z a-z 0-9 _ . : -)",
		                   v);
		return -1;
	}
	conf_str_set(dst, v);
	return 0;
}

static const struct svc_conf_type bridge_url_type = {
    .name = "url",
    .parse = url_parse,
    .size = sizeof(char *),
    .free = svc_conf_str_free,
    .equal = svc_conf_str_equal,
    .copy = svc_conf_str_copy,
};
static const struct svc_conf_type bridge_channel_type = {
    .name = "channel",
    .parse = channel_parse,
    .size = sizeof(char *),
    .free = svc_conf_str_free,
    .equal = svc_conf_str_equal,
    .copy = svc_conf_str_copy,
};

#define BF(f) offsetof(struct bridge_conf, f)

static const struct svc_conf_item bridge_items[] = {
    {.key = "url",
     .type = &bridge_url_type,
     .off = BF(url),
     .doc = "redis://HOST[:PORT][/DB] or unix:///PATH (required)"},
    {.key = "publish",
     .type = &svc_conf_patterns,
     .off = BF(publish),
     .doc = "event patterns sent to Redis"},
    {.key = "subscribe",
     .type = &svc_conf_patterns,
     .off = BF(subscribe),
     .doc = "event patterns taken from Redis"},
    {.key = "channel",
     .type = &bridge_channel_type,
     .off = BF(channel),
     .dflt = "svcd",
     .doc = "the Redis channel prefix"},
    {.key = "buffer",
     .type = &svc_conf_count,
     .off = BF(buffer),
     .dflt = "10000",
     .min = "1",
     .max = "16777216",
     .doc = "outbound events held while Redis is away"},
    {.key = "reconnect_min",
     .type = &svc_conf_duration,
     .off = BF(reconnect_min),
     .dflt = "100ms",
     .max = "1h",
     .doc = "the first retry delay, doubling"},
    {.key = "reconnect_max",
     .type = &svc_conf_duration,
     .off = BF(reconnect_max),
     .dflt = "30s",
     .max = "1h",
     .doc = "the longest retry delay"},
};

/*
 * The sandbox's network. A TCP url needs AF_INET (an IPv6 address:
 * AF_INET6; a host name: either). Under a unit with
 * RestrictAddressFamilies= lacking them, socket() fails with EAFNOSUPPORT:
 * try it here, in this process (svcd itself at start, or svcd
 * --check-config run in the same sandbox), and say once which drop-in
 * lets the bridge through. PrivateNetwork=yes and IPAddressDeny= are not
 * seen this way (the socket is created; the connection fails or hangs).
 */
static bool
family_forbidden(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EAFNOSUPPORT;
}

static void
warn_forbidden_network(const char *url_text)
{
	static bool warned;
	struct bridge_url u;
	const char *fam = NULL;
	char *cause = NULL;

	if (warned || !url_text)
		return;
	if (bridge_url_parse(url_text, &u, &cause) < 0) {
		free(cause); /* said by the bridge's init */
		return;
	}
	if (u.kind == BRIDGE_URL_TCP) {
		unsigned char a[16];

		if (inet_pton(AF_INET6, u.host, a) == 1) {
			if (family_forbidden(AF_INET6))
				fam = "AF_INET6";
		} else if (inet_pton(AF_INET, u.host, a) == 1) {
			if (family_forbidden(AF_INET))
				fam = "AF_INET";
		} else if (family_forbidden(AF_INET) &&
		           family_forbidden(AF_INET6)) {
			fam = "AF_INET and AF_INET6";
		}
	}
	bridge_url_clear(&u);
	if (!fam)
		return;
	warned = true;
	log_warn("bridge: url %s needs %s, but the unit forbids %s: install "
	         "the network.conf drop-in (docs/operations.md, 'Drop-ins')",
	         url_text, fam, fam);
}

static int
bridge_section_check(struct svc_conf_ctx *cx, void *opts)
{
	const struct bridge_conf *c = opts;
	int rc = 0;

	if (!svc_conf_key_line(cx, "url")) {
		svc_conf_error(cx, 0, "[bridge]: 'url' is required");
		rc = -1;
	}
	if (c->reconnect_min > c->reconnect_max) {
		svc_conf_error(cx, 0,
		               "[bridge]: reconnect_min is more than "
		               "reconnect_max");
		rc = -1;
	}
	if (rc == 0)
		warn_forbidden_network(c->url);
	return rc;
}

/* Set up once at start: the whole section is restart-only. */
static const struct svc_conf_section bridge_section = {
    .name = "bridge",
    SVC_CONF_ITEMS(bridge_items),
    .flags = SVC_CONF_RESTART,
    .check = bridge_section_check,
    .doc = "events shared across hosts through Redis",
};

static json_t *
bridge_figures(struct svc *self)
{
	(void)self;
	return bridge_stats_json();
}

/* `svcctl metrics`: the figures' types and help (daemon/service.h). */
static const struct svc_metric bridge_metrics[] = {
    {.figure = "enabled",
     .type = SVC_METRIC_GAUGE,
     .help = "1 when [bridge] is configured"},
    {.figure = "connected",
     .type = SVC_METRIC_GAUGE,
     .help = "1 while connected to Redis"},
    {.figure = "published",
     .type = SVC_METRIC_COUNTER,
     .help = "events published to Redis"},
    {.figure = "received",
     .type = SVC_METRIC_COUNTER,
     .help = "events received from Redis"},
    {.figure = "ignored",
     .type = SVC_METRIC_COUNTER,
     .help = "messages from Redis ignored (own, unsubscribed)"},
    {.figure = "invalid",
     .type = SVC_METRIC_COUNTER,
     .help = "messages from Redis that were not events"},
    {.figure = "dropped",
     .type = SVC_METRIC_COUNTER,
     .help = "outgoing events dropped (buffer full)"},
    {.figure = "lost",
     .type = SVC_METRIC_COUNTER,
     .help = "outgoing events lost on a broken connection"},
    {.figure = "in_dropped",
     .type = SVC_METRIC_COUNTER,
     .help = "incoming events the bus refused"},
    {.figure = "reconnects",
     .type = SVC_METRIC_COUNTER,
     .help = "reconnections to Redis"},
    {.figure = "buffered",
     .type = SVC_METRIC_GAUGE,
     .help = "outgoing events buffered now"},
    {.figure = "buffer",
     .type = SVC_METRIC_GAUGE,
     .help = "the outgoing buffer's size"},
    {.figure = "inflight",
     .type = SVC_METRIC_GAUGE,
     .help = "publishes awaiting Redis's reply"},
};

const struct svc_desc bridge_service = {
    .name = "bridge",
    .requires = SVC_REQUIRES("bus"),
    .optional = true,
    .init = bridge_svc_init,
    .ping = bridge_svc_ping,
    .stop = bridge_svc_stop,
    .stop_timeout = BRIDGE_CLOSE_TIMEOUT + 2,
    .conf = SVC_CONF_SECTIONS(&bridge_section),
    .conf_size = sizeof(struct bridge_conf),
    .figures = bridge_figures,
    SVC_METRICS(bridge_metrics),
};
