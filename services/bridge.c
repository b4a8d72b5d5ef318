/*
 * bridge.c — the event bridge over Redis Streams or pub/sub (see bridge.h,
 * docs/bridge.md).
 *
 * Two hiredis async connections ("links") on the svcd loop: the publish
 * link (XADD or PUBLISH, and PING, XINFO GROUPS, XLEN for the figures) and
 * the read link (XREADGROUP ... BLOCK with the node's own consumer group,
 * or the PSUBSCRIBEs: a subscribed connection can do nothing else). Each
 * link authenticates (AUTH, SELECT) before it counts as up, is checked by
 * a libev timer (a PING, or the read, unanswered within ping_timeout closes
 * it: hiredis 0.14 has no timeouts), and reconnects on its own with
 * jittered exponential backoff; with a sentinel:// URL the master's address
 * is asked from the sentinels before a connect after any link error.
 *
 * Outbound events are encoded at once and go through one bounded FIFO: the
 * pump sends from it while the publish link is up and fewer than
 * BRIDGE_INFLIGHT commands await their reply, so memory stays bounded
 * whether Redis is down (the FIFO fills, then events are dropped, counted
 * and seen by receivers as a gap) or just slow. With streams an event
 * leaves the FIFO only when its XADD was answered (replies come in order:
 * each answers the oldest in flight); what was in flight when the link
 * dropped is sent again, and receivers drop the copies by (origin, seq).
 * With a journal the last answered seq is the "published up to" cursor in
 * the bus's store, and the store replays the rest after a restart. With
 * pub/sub an event is forgotten once sent, and one whose reply never came
 * is counted as lost.
 *
 * Inbound, each event is checked (dedupe by the highest seq per origin and
 * epoch, gaps by its prev), emitted on the bus and only then acknowledged
 * (XACK, with the highest seqs in the hash PREFIX|seen|NODE); a full bus
 * stops the reader until there is room, and the entries not yet taken are
 * read again from the pending list.
 *
 * We never free a hiredis context from inside one of its callbacks: a
 * context we abandon has its data pointer cleared first so that whatever
 * callbacks hiredis still runs for it are recognised and ignored; from a
 * callback a link is closed with redisAsyncDisconnect (link_kill), and the
 * end of bridge_close runs from a zero timer.
 */
#include "services/bridge.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "daemon/conf.h"
#include "daemon/fastscan.h"
#include "daemon/log.h"
#include "daemon/methods.h"
#include "daemon/util.h"

#define BRIDGE_INFLIGHT      1024
#define BRIDGE_DEFAULT_PORT  6379
#define BRIDGE_HOST_MAX      255
#define BRIDGE_INSTANCE_MAX  64
#define BRIDGE_CLOSE_TIMEOUT 3.0
/* The consumer name of the "published up to" cursor in the bus's store. */
#define BRIDGE_CURSOR "bridge:publish"

struct outmsg {
	struct outmsg *next;
	uint64_t seq;
	size_t chan_len;
	char *chan; /* pubsub only */
	size_t len; /* of bulk */
	/* the payload as the last argument of the command, in RESP: "$N\r\n"
	 * N bytes "\r\n" (one allocation with the struct) */
	char bulk[];
};

struct bridge;

struct link {
	struct bridge *br;
	const char *name; /* "publish", "subscribe" or "read" */
	redisAsyncContext *ac;
	bool up;          /* connected, authenticated (and subscribed) */
	bool ever_failed; /* an attempt failed or the link was lost */
	bool ever_up;
	size_t acks;        /* PSUBSCRIBE confirmations on this connection */
	double backoff;     /* next retry delay */
	ev_timer timer;     /* connect timeout, then retry delay */
	ev_timer ping;      /* liveness: every ping_interval */
	bool retry_pending; /* the timer is a retry */
	int64_t retry_at_us;
	int64_t down_since_us;
	int64_t deadline_us; /* an answer is due by then (0: none due) */
	bool ping_out;       /* a PING awaits its PONG */
	int64_t ping_sent_us;
	int64_t rtt_us; /* the last PING's round trip */
	uint64_t reconnects, timeouts;
	char *error;
	char *kill_reason; /* why we disconnect it (on_disconnect says it) */
	bool kill_refused; /* kill_reason is Redis refusing us (see below) */
	/* the last attempt was refused: Redis refused AUTH, SELECT or an
	 * ACL (the configuration, not a fault of the moment), or the
	 * password file could not be read; bridge_check says failed */
	bool refused;
	bool want_addr; /* sentinel: waiting for the master's address */
};

struct peer {
	char *node;
	char *epoch;
	uint64_t seq;  /* highest seen from node in epoch */
	char time[65]; /* origin time of that event ("": none yet) */
	int64_t last_us;
	uint64_t received, duplicates, gaps, missing;
	bool dirty; /* seq not yet stored in Redis */
};

#define BRIDGE_PEERS_MAX  1024
#define BRIDGE_READ_COUNT 512

struct bridge {
	struct ev_loop *loop;
	struct bus *bus;
	struct bridge_url url;
	char *url_text;
	enum bridge_delivery delivery;
	char **publish;   /* NULL-terminated */
	char **subscribe; /* NULL-terminated, minimal (no overlaps) */
	char **rpatterns; /* Redis patterns for subscribe */
	size_t nsub;
	char *channel;
	char *stream;    /* streams: "<prefix>|events" */
	char *seen_key;  /* streams: "<prefix>|seen|<node>" */
	char *ping_chan; /* pubsub: "<prefix>|ping|<instance>" */
	size_t buffer;
	size_t maxlen;
	char maxlen_text[24];
	double max_age;
	/* outbound, built once: every message's end from ,"origin" on; the
	 * XADD command up to its payload (MAXLEN ~) */
	struct buf origin_tail;
	struct buf xadd_head;
	/* scratch, kept between events: the payload, the command; inbound:
	 * the message decoded, the source, the XACK */
	struct buf enc, cmd, dec, src, ack;
	double backoff_min, backoff_max, connect_timeout;
	double ping_interval, ping_timeout;
	char *password, *user;
	char *password_file; /* read again before every connect */
	/* it changed since the last read: a refused link retries at once */
	ev_timer pw_poll;
	struct stat pw_st; /* as it was when last read */
	char *host;        /* the node */
	char *instance;
	char *epoch;
	unsigned seed;
	struct bus_listener *listener;

	struct link pub, sub;
	bool has_sub;

	/* outbound: head..unsent in flight (streams), unsent.. not sent */
	struct outmsg *head, **tail, *unsent;
	size_t queued;
	size_t inflight;
	uint64_t drop_episode;
	uint64_t reject_episode;
	uint64_t prev_seq; /* the last matching event published (or dropped) */

	/* the bus's store: the "published up to" cursor */
	const struct bus_store *store;
	void *store_arg;
	uint64_t skip_upto;
	uint64_t cursor, cursor_written;
	int64_t cursor_at_us;

	/* streams reader */
	bool reading; /* XREADGROUP awaits its reply */
	bool pending; /* reading our pending entries ("0"), not new ones */
	bool paused;  /* the bus is full: waiting for room */
	struct bus_waiter room;

	struct peer *peers;
	size_t npeers;
	bool peers_full_logged;
	json_t *groups; /* the last XINFO GROUPS, as JSON */
	long long stream_len;

	/* sentinel: the master's address, asked again after a link error */
	char *mhost;
	int mport;
	bool maddr_valid;
	redisAsyncContext *sac; /* asking a sentinel now */
	size_t snext;           /* the sentinel asked next */
	ev_timer stimer;        /* its timeout, or the delay to the next */
	bool sac_answered;
	uint64_t failovers; /* the master's address changed */

	bool closing;
	void (*close_cb)(struct bridge *br, void *arg);
	void *close_arg;
	ev_timer close_timer;
	ev_timer close_kick;

	struct bridge_stats st;
};

/*
 * ---- reply objects ----
 *
 * hiredis allocates every object of a reply (and, for a string, its text)
 * on its own and frees them one by one: for an XREADGROUP of 512 entries
 * that is some 5 000 mallocs and frees, more than the decoding. The links
 * give their readers these functions instead: the objects of one reply
 * come from chunks that belong to that reply (the first chunk holds the
 * arena) and go back to a small pool when hiredis frees the reply, which it
 * does for the whole reply at once, by its root, and only so (after the
 * callback, on an error, and for a partial reply when the context is
 * freed). A chunk is taken from the pool again by the next reply: no
 * allocation at all once the pool holds what a reply needs.
 */
#define RCHUNK_SIZE (64 * 1024)
#define RPOOL_MAX   32 /* chunks kept: 2 MB */

struct rchunk {
	struct rchunk *next;
	size_t used, cap;
	_Alignas(max_align_t) char mem[];
};

struct rarena {
	struct rchunk *chunks; /* the current one first */
};

struct robj {
	redisReply r;
	struct rarena *arena;
};

static struct rchunk *rpool;
static size_t rpool_n;
static size_t rbridges; /* bridges alive: none, the pool is not kept */

static struct rchunk *
rchunk_get(size_t need)
{
	struct rchunk *c;

	if (need <= RCHUNK_SIZE && rpool) {
		c = rpool;
		rpool = c->next;
		rpool_n--;
	} else {
		size_t cap = need > RCHUNK_SIZE ? need : RCHUNK_SIZE;

		c = xmalloc(sizeof(*c) + cap);
		c->cap = cap;
	}
	c->next = NULL;
	c->used = 0;
	return c;
}

static void
rchunk_put(struct rchunk *c)
{
	if (c->cap == RCHUNK_SIZE && rpool_n < RPOOL_MAX && rbridges) {
		c->next = rpool;
		rpool = c;
		rpool_n++;
	} else {
		free(c);
	}
}

static void
rpool_drain(void)
{
	while (rpool) {
		struct rchunk *c = rpool;

		rpool = c->next;
		free(c);
	}
	rpool_n = 0;
}

static void *
rarena_alloc(struct rarena *a, size_t n)
{
	struct rchunk *c = a->chunks;
	void *p;

	n = (n + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	if (c->cap - c->used < n) {
		c = rchunk_get(n);
		c->next = a->chunks;
		a->chunks = c;
	}
	p = c->mem + c->used;
	c->used += n;
	return p;
}

/* A new object of the reply task belongs to, linked into its parent. */
static redisReply *
robj_new(const redisReadTask *task, int type, size_t extra, void **extra_p)
{
	struct rarena *a;
	struct robj *o;

	if (task->parent) {
		a = ((struct robj *)task->parent->obj)->arena;
	} else {
		/* the root: a new arena at the start of its first chunk */
		struct rchunk *c =
		    rchunk_get(sizeof(struct rarena) + sizeof(*o) + extra + 64);

		a = (struct rarena *)(void *)c->mem;
		c->used = (sizeof(*a) + _Alignof(max_align_t) - 1) &
		          ~(_Alignof(max_align_t) - 1);
		a->chunks = c;
	}
	o = rarena_alloc(a, sizeof(*o) + extra);
	memset(o, 0, sizeof(*o));
	o->arena = a;
	o->r.type = type;
	if (extra_p)
		*extra_p = (char *)o + sizeof(*o);
	if (task->parent)
		((redisReply *)task->parent->obj)->element[task->idx] = &o->r;
	return &o->r;
}

static void *
rcreate_string(const redisReadTask *task, char *str, size_t len)
{
	void *text;
	redisReply *r = robj_new(task, task->type, len + 1, &text);

	memcpy(text, str, len);
	((char *)text)[len] = '\0';
	r->str = text;
	r->len = len;
	return r;
}

static void *
rcreate_array(const redisReadTask *task, int elements)
{
	size_t n = elements > 0 ? (size_t)elements : 0;
	void *els;
	redisReply *r =
	    robj_new(task, REDIS_REPLY_ARRAY, n * sizeof(redisReply *), &els);

	memset(els, 0, n * sizeof(redisReply *));
	r->element = n ? els : NULL;
	r->elements = n;
	return r;
}

static void *
rcreate_integer(const redisReadTask *task, long long value)
{
	redisReply *r = robj_new(task, REDIS_REPLY_INTEGER, 0, NULL);

	r->integer = value;
	return r;
}

static void *
rcreate_nil(const redisReadTask *task)
{
	return robj_new(task, REDIS_REPLY_NIL, 0, NULL);
}

/* hiredis frees a reply by its root only: the whole arena goes. */
static void
rfree(void *obj)
{
	struct rchunk *c = ((struct robj *)obj)->arena->chunks;

	while (c) {
		struct rchunk *next = c->next;

		rchunk_put(c);
		c = next;
	}
}

static redisReplyObjectFunctions reply_fns = {
    rcreate_string, rcreate_array, rcreate_integer, rcreate_nil, rfree,
};

/* ---- URLs, patterns, the wire format ---- */

void
bridge_url_clear(struct bridge_url *u)
{
	free(u->host);
	free(u->path);
	for (size_t i = 0; i < u->nsentinels; i++)
		free(u->shost[i]);
	free(u->master);
	memset(u, 0, sizeof(*u));
}

static bool
host_chars_valid(const char *host)
{
	if (!*host)
		return false;
	for (const char *c = host; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(".-_:", *c))
			return false;
	return true;
}

/* sentinel://H[:P][,H[:P]...]/MASTER */
static int
parse_sentinel(const char *url, struct bridge_url *u, char **cause)
{
	char *copy = xstrdup(url + 11), *master, *tok, *save = NULL;

	u->kind = BRIDGE_URL_SENTINEL;
	if (!(master = strchr(copy, '/')) || !master[1]) {
		*cause = xasprintf("bad URL '%s': use sentinel://HOST[:PORT]"
		                   "[,HOST[:PORT]...]/MASTER",
		                   url);
		goto fail;
	}
	*master++ = '\0';
	if (!bridge_channel_valid(master)) {
		*cause = xasprintf("bad URL '%s': bad master name '%s'", url,
		                   master);
		goto fail;
	}
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *port = strrchr(tok, ':');
		uint64_t v = 26379;

		if (u->nsentinels == BRIDGE_SENTINELS_MAX) {
			*cause = xasprintf("bad URL '%s': more than %d "
			                   "sentinels",
			                   url, BRIDGE_SENTINELS_MAX);
			goto fail;
		}
		if (port) {
			*port++ = '\0';
			if (util_parse_uint(port, 65535, &v, NULL) < 0 ||
			    v == 0) {
				*cause = xasprintf("bad URL '%s': bad port "
				                   "'%s'",
				                   url, port);
				goto fail;
			}
		}
		if (!host_chars_valid(tok)) {
			*cause = xasprintf("bad URL '%s': bad host name '%s'",
			                   url, tok);
			goto fail;
		}
		u->shost[u->nsentinels] = xstrdup(tok);
		u->sport[u->nsentinels++] = (int)v;
	}
	if (!u->nsentinels) {
		*cause = xasprintf("bad URL '%s': no sentinel", url);
		goto fail;
	}
	u->master = xstrdup(master);
	free(copy);
	return 0;
fail:
	free(copy);
	return -1;
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

	if (!strncmp(url, "sentinel://", 11)) {
		if (parse_sentinel(url, &u, cause) < 0)
			goto out_fail;
	} else if (!strncmp(url, "unix://", 7)) {
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
		*cause =
		    xasprintf("bad URL '%s': use redis://HOST[:PORT][/DB], "
		              "unix:///PATH or sentinel://HOST[:PORT]"
		              "[,...]/MASTER",
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
	return xasprintf("%s%c%s", prefix, BRIDGE_SEP, pattern);
}

char *
bridge_stream_key(const char *prefix)
{
	return xasprintf("%s%cevents", prefix, BRIDGE_SEP);
}

bool
bridge_node_valid(const char *node)
{
	return bridge_channel_valid(node);
}

char *
bridge_read_secret(const char *path, char **cause)
{
	struct stat sb;
	char buf[1024];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		*cause = xasprintf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		*cause = xasprintf("%s is not a regular file", path);
		close(fd);
		return NULL;
	}
	if (sb.st_mode & (S_IROTH | S_IWOTH)) {
		*cause = xasprintf("%s is readable or writable by others "
		                   "(chmod o-rw %s)",
		                   path, path);
		close(fd);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0 || strchr(buf, '\n')) {
		*cause = xasprintf("%s must hold one line, the password", path);
		explicit_bzero(buf, sizeof(buf));
		return NULL;
	}
	{
		char *out = xstrdup(buf);
		explicit_bzero(buf, sizeof(buf));
		return out;
	}
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

/*
 * util_format_time's text (RFC 3339, microseconds) into out (>= 40 bytes),
 * its length returned; the date and time of the last second are kept, as
 * most events of a burst fall in the same second.
 */
static size_t
format_time(int64_t us, char *out)
{
	static _Thread_local int64_t last = -1;
	static _Thread_local char head[40]; /* "2026-12-02T14:00:00." */
	static _Thread_local size_t hl;
	unsigned frac;

	if (us < 0) {
		util_format_time(us, out, 40);
		return strlen(out);
	}
	if (us / 1000000 != last) {
		last = us / 1000000;
		util_format_time(last * 1000000, head, sizeof(head));
		hl = strlen(head) - 7; /* without "000000Z" */
	}
	memcpy(out, head, hl);
	frac = (unsigned)(us % 1000000);
	for (size_t i = hl + 6; i > hl; i--) {
		out[i - 1] = (char)('0' + frac % 10);
		frac /= 10;
	}
	out[hl + 6] = 'Z';
	out[hl + 7] = '\0';
	return hl + 7;
}

/* ,"origin":{"host":H,"instance":I[,"epoch":E]}}: the same for every
 * message of a bridge */
static void
encode_origin(struct buf *b, const char *host, const char *instance,
              const char *epoch)
{
	buf_puts(b, ",\"origin\":{\"host\":");
	buf_json_string(b, host, strlen(host));
	buf_puts(b, ",\"instance\":");
	buf_json_string(b, instance, strlen(instance));
	if (epoch) {
		buf_puts(b, ",\"epoch\":");
		buf_json_string(b, epoch, strlen(epoch));
	}
	buf_puts(b, "}}");
}

/* The wire form of ev appended to b, tail from encode_origin. */
static void
encode_into(struct buf *b, const struct bus_event *ev, bool with_prev,
            uint64_t prev, const struct buf *tail)
{
	char when[40];
	size_t wl = format_time(ev->time_us, when);

	buf_append(b, "{\"event\":", 9);
	buf_json_string(b, ev->name, ev->name_len);
	buf_append(b, ",\"data\":", 8);
	if (ev->data && ev->data_len)
		buf_append(b, ev->data, ev->data_len);
	else
		buf_append(b, "{}", 2);
	buf_append(b, ",\"time\":\"", 9);
	buf_append(b, when, wl);
	buf_append(b, "\",\"seq\":", 8);
	buf_put_u64(b, ev->seq);
	if (with_prev) {
		buf_append(b, ",\"prev\":", 8);
		buf_put_u64(b, prev);
	}
	buf_append(b, buf_head(tail), tail->len);
}

char *
bridge_encode_ext(const struct bus_event *ev, const char *host,
                  const char *instance, const char *epoch, uint64_t prev,
                  size_t *len)
{
	struct buf b = {0}, tail = {0};
	char *out;

	encode_origin(&tail, host, instance, epoch);
	encode_into(&b, ev, epoch != NULL, prev, &tail);
	*len = b.len;
	out = xstrndup(buf_head(&b), b.len);
	buf_free(&b);
	buf_free(&tail);
	return out;
}

char *
bridge_encode(const struct bus_event *ev, const char *host,
              const char *instance, size_t *len)
{
	return bridge_encode_ext(ev, host, instance, NULL, 0, len);
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
	free(m->epoch);
	memset(m, 0, sizeof(*m));
}

/* A member's value in the compacted text. */
struct span {
	const char *p;
	size_t n;
};

struct key {
	const char *s;
	size_t n;
};
#define KEY(s)                                                                 \
	{                                                                      \
		s, sizeof(s) - 1                                               \
	}

/* The members of the object at p (compact, valid) into spans by key. */
static bool
walk_object(const char *p, const char *end, const struct key *keys,
            struct span *vals, size_t nkeys)
{
	if (p >= end || *p != '{')
		return false;
	p++;
	if (p < end && *p == '}')
		return true;
	while (p < end) {
		const char *k, *v, *ve;
		size_t kl;

		if (*p != '"')
			return false;
		k = ++p;
		while (p < end && *p != '"' && *p != '\\')
			p++;
		if (p >= end || *p != '"')
			return false; /* an escape in a key: the slow path */
		kl = (size_t)(p - k);
		p++;
		if (p >= end || *p != ':')
			return false;
		v = p + 1;
		if (!(ve = util_json_skip(v, end)))
			return false;
		for (size_t i = 0; i < nkeys; i++)
			if (keys[i].n == kl && keys[i].s[0] == k[0] &&
			    !memcmp(keys[i].s, k, kl))
				vals[i] = (struct span){v, (size_t)(ve - v)};
		p = ve;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		return p < end && *p == '}';
	}
	return false;
}

/* A string member without escapes: its text, terminated in place (the
 * closing quote becomes the NUL). */
static char *
span_plain_string(struct span s)
{
	char *p = (char *)s.p;

	if (s.n < 2 || s.p[0] != '"' || memchr(s.p, '\\', s.n))
		return NULL;
	p[s.n - 1] = '\0';
	return p + 1;
}

static bool
span_uint(struct span s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s.n || s.n > 18)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	*out = v;
	return true;
}

/* Past the literal lit at *p (and true), or false. */
static bool
expect(const char **p, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - *p) < n || memcmp(*p, lit, n))
		return false;
	*p += n;
	return true;
}

/* A string at *p without escapes, quotes included, into *out. */
static bool
take_plain(const char **p, const char *end, struct span *out)
{
	const char *q = *p + 1;

	if (*p >= end || **p != '"')
		return false;
	while (q < end && *q != '"' && *q != '\\')
		q++;
	if (q >= end || *q != '"')
		return false;
	*out = (struct span){*p, (size_t)(q + 1 - *p)};
	*p = q + 1;
	return true;
}

static bool
take_digits(const char **p, const char *end, struct span *out)
{
	const char *q = *p;

	while (q < end && *q >= '0' && *q <= '9')
		q++;
	if (q == *p)
		return false;
	*out = (struct span){*p, (size_t)(q - *p)};
	*p = q;
	return true;
}

#define LIT(p, end, s) expect(p, end, s, sizeof(s) - 1)

/*
 * The members of a message in exactly the layout bridge_encode_ext writes
 * (compacted, every key once, in its order), in one pass: the spans
 * walk_object would find. false: another layout (walk_object decides).
 */
static bool
walk_own_layout(const char *p, const char *end, struct span *t, struct span *o)
{
	const char *v;

	if (!LIT(&p, end, "{\"event\":") || !take_plain(&p, end, &t[0]) ||
	    !LIT(&p, end, ",\"data\":") || p >= end || *p != '{' ||
	    !(v = util_json_skip(p, end)))
		return false;
	t[1] = (struct span){p, (size_t)(v - p)};
	p = v;
	if (!LIT(&p, end, ",\"time\":") || !take_plain(&p, end, &t[2]) ||
	    !LIT(&p, end, ",\"seq\":") || !take_digits(&p, end, &t[3]))
		return false;
	if (LIT(&p, end, ",\"prev\":") && !take_digits(&p, end, &t[4]))
		return false;
	if (!LIT(&p, end, ",\"origin\":"))
		return false;
	v = p;
	if (!LIT(&p, end, "{\"host\":") || !take_plain(&p, end, &o[0]) ||
	    !LIT(&p, end, ",\"instance\":") || !take_plain(&p, end, &o[1]))
		return false;
	if (LIT(&p, end, ",\"epoch\":") && !take_plain(&p, end, &o[2]))
		return false;
	if (!LIT(&p, end, "}"))
		return false;
	t[5] = (struct span){v, (size_t)(p - v)};
	return LIT(&p, end, "}") && p == end;
}

/*
 * The fast path's message, its strings pointing into text (the compacted
 * payload in *scratch, terminated in place): valid until scratch is
 * reused. Nothing is allocated once scratch has grown to the size.
 */
static bool
fast_view(const char *payload, size_t len, struct buf *scratch,
          struct bridge_msg *out)
{
	static const struct key top[] = {KEY("event"), KEY("data"),
	                                 KEY("time"),  KEY("seq"),
	                                 KEY("prev"),  KEY("origin")};
	static const struct key org[] = {KEY("host"), KEY("instance"),
	                                 KEY("epoch")};
	struct span t[6] = {{0}}, o[3] = {{0}};
	struct bridge_msg m = {0};
	char *text;
	size_t tl;

	if (len > (1u << 24))
		return false;
	buf_reset(scratch);
	buf_reserve(scratch, len + 1);
	text = buf_tail(scratch);
	if (!fastscan_value(payload, len, text, &tl))
		return false;
	if (!walk_own_layout(text, text + tl, t, o)) {
		memset(t, 0, sizeof(t));
		memset(o, 0, sizeof(o));
		if (!walk_object(text, text + tl, top, t, 6) || !t[0].p ||
		    !t[2].p || !t[5].p || (t[1].p && t[1].p[0] != '{') ||
		    !walk_object(t[5].p, t[5].p + t[5].n, org, o, 3) ||
		    !o[0].p || !o[1].p)
			return false;
	}
	if (t[3].p && !span_uint(t[3], &m.seq))
		return false;
	if (t[4].p && !span_uint(t[4], &m.prev))
		return false;
	/* every span found: now terminate them (what follows a value is a
	 * ',' or a '}', never a part of another member we take) */
	m.event = span_plain_string(t[0]);
	m.time = span_plain_string(t[2]);
	m.host = span_plain_string(o[0]);
	m.instance = span_plain_string(o[1]);
	m.epoch = o[2].p ? span_plain_string(o[2]) : m.instance;
	if (!m.event || !bus_name_valid(m.event, strlen(m.event)) || !m.time ||
	    !token_valid(m.time, 64) || !m.host ||
	    !token_valid(m.host, BRIDGE_HOST_MAX) || !m.instance ||
	    !token_valid(m.instance, BRIDGE_INSTANCE_MAX) || !m.epoch ||
	    !token_valid(m.epoch, BRIDGE_INSTANCE_MAX))
		return false;
	if (t[1].p) {
		m.data = (char *)t[1].p;
		m.data[t[1].n] = '\0';
	} else {
		m.data = "{}";
	}
	*out = m;
	return true;
}

/*
 * The fast path of bridge_decode, for the shape the bridge itself sends:
 * the whole message checked by the strict scanner (what it accepts jansson
 * accepts too, byte for byte) and the members found by walking the
 * compacted text, without building a tree. false: anything else (a real
 * number, an escape in a name, a negative seq, a missing member...): the
 * caller takes the jansson path, which gives the same result or the error.
 */
static bool
fast_decode(const char *payload, size_t len, struct bridge_msg *out)
{
	struct buf scratch = {0};
	struct bridge_msg v;
	bool ok = fast_view(payload, len, &scratch, &v);

	if (ok) {
		out->event = xstrdup(v.event);
		out->data = xstrdup(v.data);
		out->time = xstrdup(v.time);
		out->seq = v.seq;
		out->host = xstrdup(v.host);
		out->instance = xstrdup(v.instance);
		out->epoch = xstrdup(v.epoch);
		out->prev = v.prev;
	}
	buf_free(&scratch);
	return ok;
}

int
bridge_decode(const char *payload, size_t len, struct bridge_msg *out,
              char **cause)
{
	json_error_t jerr;
	json_t *root, *ev, *data, *when, *seq, *origin, *host, *inst, *epoch,
	    *prev;
	struct bridge_msg m = {0};

	if (fast_decode(payload, len, out))
		return 0;
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
	epoch = json_object_get(origin, "epoch");
	prev = json_object_get(root, "prev");
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
	if (epoch &&
	    (!json_is_string(epoch) ||
	     !token_valid(json_string_value(epoch), BRIDGE_INSTANCE_MAX))) {
		*cause = xstrdup("'origin.epoch' is not a token");
		goto out_fail;
	}
	if (prev && (!json_is_integer(prev) || json_integer_value(prev) < 0)) {
		*cause = xstrdup("'prev' is not a non-negative integer");
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
	m.epoch = xstrdup(epoch ? json_string_value(epoch) : m.instance);
	m.prev = prev ? (uint64_t)json_integer_value(prev) : 0;
	json_decref(root);
	*out = m;
	return 0;

out_fail:
	json_decref(root);
	return -1;
}

/* BRIDGE_SOURCE_PREFIX "origin=HOST/INSTANCE time=TIME seq=N", NUL
 * included in the buffer (not in its length). */
static void
source_into(struct buf *b, const struct bridge_msg *m)
{
	buf_reset(b);
	buf_append(b, BRIDGE_SOURCE_PREFIX "origin=",
	           sizeof(BRIDGE_SOURCE_PREFIX "origin=") - 1);
	buf_puts(b, m->host);
	buf_putc(b, '/');
	buf_puts(b, m->instance);
	buf_append(b, " time=", 6);
	buf_puts(b, m->time);
	buf_append(b, " seq=", 5);
	buf_put_u64(b, m->seq);
	buf_putc(b, '\0');
	b->len--;
}

char *
bridge_source(const struct bridge_msg *m)
{
	struct buf b = {0};

	source_into(&b, m);
	return b.data;
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
	free(m);
}

/* A RESP bulk string: $N\r\n, the bytes, \r\n. */
static void
buf_put_bulk(struct buf *b, const char *s, size_t n)
{
	buf_putc(b, '$');
	buf_put_u64(b, n);
	buf_append(b, "\r\n", 2);
	buf_append(b, s, n);
	buf_append(b, "\r\n", 2);
}

static void
queue_clear(struct bridge *br)
{
	for (struct outmsg *m = br->head, *n; m; m = n) {
		n = m->next;
		outmsg_free(m);
	}
	br->head = NULL;
	br->unsent = NULL;
	br->tail = &br->head;
	br->queued = 0;
}

static void maybe_finish_close(struct bridge *br);
static void pump(struct bridge *br);
static void link_kill(struct link *l, const char *why);

/* The "published up to" cursor, at most every 50 ms and when idle. */
static void
cursor_write(struct bridge *br, bool force)
{
	int64_t now;

	if (!br->store || br->cursor <= br->cursor_written)
		return;
	now = util_mono_us();
	if (!force && br->head && now - br->cursor_at_us < 50000)
		return;
	br->store->cursor(br->store_arg, BRIDGE_CURSOR, br->cursor);
	br->cursor_written = br->cursor;
	br->cursor_at_us = now;
}

/* The publish link went away with inflight commands unanswered. */
static void
pub_reset(struct bridge *br)
{
	if (br->delivery == BRIDGE_STREAMS) {
		/* XADDs not answered are sent again (receivers drop the
		 * copies Redis may already hold) */
		br->st.resent += br->inflight;
		br->unsent = br->head;
	} else {
		br->st.lost += br->inflight; /* at most once */
	}
	br->inflight = 0;
	br->st.inflight = 0;
}

static bool redis_refused(const char *step, const char *err);
static void link_refuse(struct link *l, const char *why);

static void
on_publish_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	struct bridge *br;
	redisReply *reply = r;
	struct outmsg *m;

	(void)privdata;
	if (!l || !reply)
		return; /* an abandoned context, or the link is going down */
	br = l->br;
	br->inflight--;
	br->st.inflight = br->inflight;
	if (reply->type == REDIS_REPLY_ERROR &&
	    (!strncmp(reply->str, "READONLY", 8) ||
	     !strncmp(reply->str, "LOADING", 7) ||
	     redis_refused(NULL, reply->str))) {
		/* not the master (a failover), or not ready, or refused (no
		 * or a wrong password since Redis restarted, an ACL without
		 * XADD/PUBLISH): the event stays queued (streams; pubsub
		 * counts what was in flight lost) and goes again on the next
		 * connection; a refusal makes the bridge failed */
		char *why = xasprintf(
		    "%s refused: %s",
		    br->delivery == BRIDGE_STREAMS ? "XADD" : "PUBLISH",
		    reply->str);
		if (redis_refused(NULL, reply->str))
			link_refuse(l, why);
		else
			link_kill(l, why);
		free(why);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		br->st.rejected++;
		if (br->reject_episode++ == 0)
			log_warn("bridge: Redis refused an event: %s",
			         reply->str);
	} else {
		br->st.published++;
		l->backoff = br->backoff_min; /* taken: see link_set_up */
		if (br->reject_episode > 1)
			log_warn("bridge: Redis refused %llu events",
			         (unsigned long long)br->reject_episode);
		br->reject_episode = 0;
	}
	if (br->delivery != BRIDGE_STREAMS || !(m = br->head))
		return;
	/* replies come in order: this one answers the oldest XADD */
	br->head = m->next;
	if (!br->head)
		br->tail = &br->head;
	br->queued--;
	br->cursor = m->seq;
	outmsg_free(m);
	cursor_write(br, false);
}

/* A reply frees a slot of the in-flight window: refill it. */
static void
pump_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;

	on_publish_reply(ac, r, privdata);
	if (l && r)
		pump(l->br);
}

/*
 * The command for m, formatted here (RESP) and handed to hiredis whole:
 * its printf-style formatting of every argument cost more than the rest of
 * the send. One reply callback per command, as replies come in order.
 */
static int
send_one(struct bridge *br, struct outmsg *m)
{
	struct link *l = &br->pub;
	struct buf *c = &br->cmd;
	int rc;

	buf_reset(c);
	if (br->delivery == BRIDGE_PUBSUB) {
		buf_append(c, "*3\r\n$7\r\nPUBLISH\r\n", 17);
		buf_put_bulk(c, m->chan, m->chan_len);
	} else if (br->max_age > 0) {
		char minid[24];
		int64_t ms =
		    util_now_us() / 1000 - (int64_t)(br->max_age * 1000);
		int n = snprintf(minid, sizeof(minid), "%lld",
		                 (long long)(ms > 0 ? ms : 0));

		buf_append(c, "*8\r\n$4\r\nXADD\r\n", 14);
		buf_put_bulk(c, br->stream, strlen(br->stream));
		buf_append(c, "$5\r\nMINID\r\n$1\r\n~\r\n", 18);
		buf_put_bulk(c, minid, (size_t)n);
		buf_append(c, "$1\r\n*\r\n$1\r\nm\r\n", 14);
	} else {
		buf_append(c, buf_head(&br->xadd_head), br->xadd_head.len);
	}
	buf_append(c, m->bulk, m->len);
	rc = redisAsyncFormattedCommand(l->ac, pump_cb, NULL, buf_head(c),
	                                c->len);
	if (c->cap > 65536)
		buf_free(c); /* a large event: give its room back */
	return rc;
}

static void
pump(struct bridge *br)
{
	struct link *l = &br->pub;

	while (l->up && !l->kill_reason && br->unsent &&
	       br->inflight < BRIDGE_INFLIGHT) {
		struct outmsg *m = br->unsent;

		if (send_one(br, m) != REDIS_OK)
			break; /* disconnecting: the link callbacks follow */
		br->inflight++;
		br->unsent = m->next;
		if (br->delivery == BRIDGE_PUBSUB) {
			/* at most once: forgotten once sent */
			br->head = m->next;
			if (!br->head)
				br->tail = &br->head;
			br->queued--;
			outmsg_free(m);
		}
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

/* svcd's own service.* events go out only when a pattern names them. */
static bool
publish_match(const struct bridge *br, const char *name, size_t len)
{
	bool own = len > 8 && !strncmp(name, "service.", 8);

	for (char *const *p = br->publish; p && *p; p++) {
		if (own && !strcmp(*p, "*"))
			continue;
		if (bus_pattern_match(*p, name, len))
			return true;
	}
	return false;
}

static int
enqueue(struct bridge *br, const struct bus_event *ev)
{
	struct outmsg *m;
	uint64_t prev = br->prev_seq;
	struct buf *e = &br->enc;
	char num[24], *d;
	size_t dl;
	char *p;

	br->prev_seq = ev->seq;
	if (br->queued >= br->buffer) {
		if (br->drop_episode++ == 0)
			log_warn("bridge: outbound buffer full (%zu events); "
			         "dropping until Redis takes them",
			         br->buffer);
		br->st.dropped++;
		return -1;
	}
	buf_reset(e);
	encode_into(e, ev, br->epoch != NULL, prev, &br->origin_tail);
	d = util_u64_digits(num + sizeof(num), e->len);
	dl = (size_t)(num + sizeof(num) - d);
	m = xmalloc(sizeof(*m) + dl + e->len + 5);
	memset(m, 0, sizeof(*m));
	m->seq = ev->seq;
	if (br->delivery == BRIDGE_PUBSUB) {
		m->chan =
		    xasprintf("%s%c%s", br->channel, BRIDGE_SEP, ev->name);
		m->chan_len = strlen(m->chan);
	}
	p = m->bulk;
	*p++ = '$';
	memcpy(p, d, dl);
	p += dl;
	memcpy(p, "\r\n", 2);
	memcpy(p + 2, buf_head(e), e->len);
	memcpy(p + 2 + e->len, "\r\n", 2);
	m->len = 1 + dl + e->len + 4;
	if (e->cap > 65536)
		buf_free(e); /* a large event: give its room back */
	*br->tail = m;
	br->tail = &m->next;
	if (!br->unsent)
		br->unsent = m;
	br->queued++;
	return 0;
}

static int
on_local_event(const struct bus_event *ev, void *arg)
{
	struct bridge *br = arg;

	if (br->closing || bridge_from_bridge(ev) || ev->seq <= br->skip_upto ||
	    !publish_match(br, ev->name, ev->name_len))
		return 0;
	if (enqueue(br, ev) == 0)
		pump(br);
	return 0;
}

/* The journal's replay has no argument: the bridge being started. */
static struct bridge *replay_br;

static int
replay_deliver(const char *consumer, const struct bus_event *ev)
{
	struct bridge *br = replay_br;

	(void)consumer;
	if (!br || bridge_from_bridge(ev) ||
	    !publish_match(br, ev->name, ev->name_len))
		return -1;
	if (enqueue(br, ev) < 0)
		return -1;
	br->st.replayed++;
	return 0;
}

/* ---- remote events: dedupe, gaps, peers ---- */

static struct peer *
peer_get(struct bridge *br, const char *node, bool create)
{
	struct peer *p;

	for (size_t i = 0; i < br->npeers; i++)
		if (!strcmp(br->peers[i].node, node))
			return &br->peers[i];
	if (!create)
		return NULL;
	if (br->npeers == BRIDGE_PEERS_MAX) {
		if (!br->peers_full_logged)
			log_warn("bridge: more than %d origins; events from "
			         "the others are not deduplicated",
			         BRIDGE_PEERS_MAX);
		br->peers_full_logged = true;
		return NULL;
	}
	if (!br->peers)
		br->peers = xcalloc(BRIDGE_PEERS_MAX, sizeof(*br->peers));
	p = &br->peers[br->npeers++];
	memset(p, 0, sizeof(*p));
	p->node = xstrdup(node);
	p->epoch = xstrdup("");
	return p;
}

static void
peers_free(struct bridge *br)
{
	for (size_t i = 0; i < br->npeers; i++) {
		free(br->peers[i].node);
		free(br->peers[i].epoch);
	}
	free(br->peers);
	br->peers = NULL;
	br->npeers = 0;
}

static void
report_gap(struct bridge *br, struct peer *p, uint64_t from, uint64_t to)
{
	json_t *d =
	    json_pack("{s:s, s:I, s:I, s:I, s:s}", "node", p->node, "from",
	              (json_int_t)from, "to", (json_int_t)to, "missing",
	              (json_int_t)(to - from + 1), "delivery",
	              br->delivery == BRIDGE_STREAMS ? "streams" : "pubsub");

	p->gaps++;
	p->missing += to - from + 1;
	br->st.gaps++;
	br->st.gap_events += to - from + 1;
	log_warn("bridge: gap from %s: events #%llu..#%llu (%llu) never "
	         "arrived (trimmed from the stream, or lost at the origin)",
	         p->node, (unsigned long long)from, (unsigned long long)to,
	         (unsigned long long)(to - from + 1));
	bus_emit_json(br->bus, "bridge.gap", d, BRIDGE_SOURCE_PREFIX "gap");
	json_decref(d);
}

/*
 * One decoded remote event: 0 done (emitted, or dropped for a reason that
 * will not change: acknowledge it), -1 the bus is full (try again later).
 */
static int
on_remote(struct bridge *br, const struct bridge_msg *m, int64_t now_us)
{
	struct peer *p;
	uint64_t gap_from = 0, gap_to = 0;
	int rc = 0;

	if (br->delivery == BRIDGE_STREAMS
	        ? !strcmp(m->host, br->host)
	        : !strcmp(m->instance, br->instance)) {
		br->st.ignored++; /* our own */
		return 0;
	}
	p = peer_get(br, m->host, true);
	if (p && strcmp(p->epoch, m->epoch)) {
		/* a new numbering: the origin restarted without a journal */
		free(p->epoch);
		p->epoch = xstrdup(m->epoch);
		p->seq = 0;
	} else if (p && m->seq <= p->seq) {
		p->duplicates++;
		br->st.duplicates++;
		return 0;
	} else if (p && p->seq && m->prev > p->seq) {
		gap_from = p->seq + 1;
		gap_to = m->prev;
	}
	if (!match_any(br->subscribe, m->event, strlen(m->event))) {
		br->st.ignored++;
	} else {
		source_into(&br->src, m);
		if (bus_emit(br->bus, m->event, strlen(m->event), m->data,
		             strlen(m->data), buf_head(&br->src), NULL,
		             NULL) < 0) {
			if (errno == EAGAIN && br->delivery == BRIDGE_STREAMS) {
				rc = -1;
			} else if (errno == EAGAIN) {
				br->st.in_dropped++;
				log_warn("bridge: bus queue full: dropped "
				         "remote event '%s' from %s/%s",
				         m->event, m->host, m->instance);
			}
		} else {
			br->st.received++;
			if (p)
				p->received++;
		}
	}
	if (rc < 0)
		return -1;
	if (p) {
		p->seq = m->seq;
		p->dirty = true;
		p->last_us = now_us;
		size_t tl = strlen(m->time);

		if (tl >= sizeof(p->time))
			tl = sizeof(p->time) - 1; /* not so: a token of <= 64 */
		memcpy(p->time, m->time, tl);
		p->time[tl] = '\0';
		if (gap_to)
			report_gap(br, p, gap_from, gap_to);
	}
	return 0;
}

static void
on_remote_message(struct bridge *br, const char *chan, size_t chan_len,
                  const char *payload, size_t len)
{
	struct bridge_msg m;
	char *cause = NULL;
	size_t plen = strlen(br->channel);

	if (bridge_decode(payload, len, &m, &cause) < 0) {
		br->st.invalid++;
		log_warn("bridge: ignoring a message on %.*s: %s",
		         (int)chan_len, chan, cause);
		free(cause);
		return;
	}
	if (chan && (chan_len != plen + 1 + strlen(m.event) ||
	             strncmp(chan + plen + 1, m.event, chan_len - plen - 1))) {
		br->st.invalid++;
		log_warn("bridge: ignoring event '%s' sent on channel %.*s",
		         m.event, (int)chan_len, chan);
		goto out;
	}
	on_remote(br, &m, util_now_us());
out:
	bridge_msg_clear(&m);
}

static void link_set_up(struct link *l);

static void
on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	struct bridge *br;
	redisReply *reply = r, *kind;

	(void)privdata;
	if (!l || !reply)
		return;
	br = l->br;
	if (reply->type == REDIS_REPLY_ERROR) {
		if (redis_refused("PSUBSCRIBE", reply->str)) {
			char *why =
			    xasprintf("PSUBSCRIBE failed: %s", reply->str);
			link_refuse(l, why);
			free(why);
		} else {
			link_kill(l, reply->str);
		}
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
		return;
	kind = reply->element[0];
	if (kind->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(kind->str, "psubscribe")) {
		if (++l->acks == br->nsub + 1)
			link_set_up(l);
	} else if (!strcmp(kind->str, "pmessage") && reply->elements == 4 &&
	           reply->element[2]->type == REDIS_REPLY_STRING &&
	           reply->element[3]->type == REDIS_REPLY_STRING) {
		const char *chan = reply->element[2]->str;
		size_t clen = reply->element[2]->len,
		       plen = strlen(br->channel);

		if (!strcmp(chan, br->ping_chan)) {
			/* our own liveness message came round */
			l->deadline_us =
			    util_mono_us() +
			    (int64_t)((br->ping_interval + br->ping_timeout) *
			              1e6);
			return;
		}
		if (clen > plen + 6 && !strncmp(chan + plen,
		                                (char[]){BRIDGE_SEP, 'p', 'i',
		                                         'n', 'g', BRIDGE_SEP},
		                                6))
			return; /* another node's liveness message */
		on_remote_message(br, chan, clen, reply->element[3]->str,
		                  reply->element[3]->len);
	}
}

/* ---- the streams reader ---- */

static void reader_read(struct bridge *br);

static void
on_room(struct bus_waiter *w)
{
	struct bridge *br =
	    (struct bridge *)((char *)w - offsetof(struct bridge, room));

	br->paused = false;
	reader_read(br);
}

/* The highest seq per origin, kept in Redis next to the stream. */
static void
store_seen(struct bridge *br, struct link *l)
{
	size_t n = 0, k = 2;
	const char **argv;
	size_t *argvlen;
	char **vals;

	for (size_t i = 0; i < br->npeers; i++)
		n += br->peers[i].dirty;
	if (!n)
		return;
	argv = xcalloc(2 + 2 * n, sizeof(*argv));
	argvlen = xcalloc(2 + 2 * n, sizeof(*argvlen));
	vals = xcalloc(n, sizeof(*vals));
	argv[0] = "HSET";
	argv[1] = br->seen_key;
	for (size_t i = 0, j = 0; i < br->npeers; i++) {
		struct peer *p = &br->peers[i];
		if (!p->dirty)
			continue;
		p->dirty = false;
		vals[j] =
		    xasprintf("%s %llu", p->epoch, (unsigned long long)p->seq);
		argv[k++] = p->node;
		argv[k++] = vals[j++];
	}
	for (size_t i = 0; i < k; i++)
		argvlen[i] = strlen(argv[i]);
	redisAsyncCommandArgv(l->ac, NULL, NULL, (int)k, argv, argvlen);
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	free(vals);
	free(argv);
	free(argvlen);
}

/* One entry's message: decoded without allocating when it has the shape
 * the bridge sends, else by bridge_decode. 0, or -1 when the bus is full. */
static int
read_entry(struct bridge *br, const redisReply *id, const redisReply *payload,
           int64_t now_us)
{
	struct bridge_msg m;
	char *cause = NULL;
	int rc;

	if (fast_view(payload->str, payload->len, &br->dec, &m))
		return on_remote(br, &m, now_us);
	if (bridge_decode(payload->str, payload->len, &m, &cause) < 0) {
		br->st.invalid++;
		log_warn("bridge: ignoring entry %s of %s: %s", id->str,
		         br->stream, cause);
		free(cause);
		return 0;
	}
	rc = on_remote(br, &m, now_us);
	bridge_msg_clear(&m);
	return rc;
}

static void
on_read(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	struct bridge *br;
	redisReply *reply = r, *entries;
	struct buf *ack;
	size_t nack = 0, head;
	int64_t now_us;

	(void)privdata;
	if (!l || !reply)
		return;
	br = l->br;
	br->reading = false;
	l->deadline_us = 0;
	if (br->closing)
		return; /* stays pending: read again at the next start */
	if (reply->type == REDIS_REPLY_ERROR) {
		char *why = xasprintf("XREADGROUP: %s", reply->str);
		/* NOAUTH, NOPERM: refused, not a fault of the moment */
		if (redis_refused(NULL, reply->str))
			link_refuse(l, why);
		else
			link_kill(l, why);
		free(why);
		return;
	}
	l->backoff = br->backoff_min; /* taken: see link_set_up */
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_ARRAY ||
	    reply->element[0]->elements < 2 ||
	    reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
		/* nil: BLOCK timed out, nothing new */
		br->pending = false;
		reader_read(br);
		return;
	}
	entries = reply->element[0]->element[1];
	if (br->pending && entries->elements == 0)
		br->pending = false; /* every pending entry done */
	/* XACK stream group id...: formatted here (RESP), the count of
	 * arguments written in front once known */
	ack = &br->ack;
	buf_reset(ack);
	buf_append(ack, "                        ", 24);
	head = ack->len;
	buf_append(ack, "$4\r\nXACK\r\n", 10);
	buf_put_bulk(ack, br->stream, strlen(br->stream));
	buf_put_bulk(ack, br->host, strlen(br->host));
	now_us = util_now_us();
	for (size_t i = 0; i < entries->elements; i++) {
		redisReply *e = entries->element[i], *f, *payload = NULL;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		f = e->element[1];
		if (f->type != REDIS_REPLY_ARRAY) {
			/* a pending entry trimmed away before we read it */
			br->st.gaps++;
			br->st.gap_events++;
			log_warn("bridge: pending entry %s was trimmed from "
			         "%s before it was delivered",
			         e->element[0]->str, br->stream);
		} else {
			for (size_t k = 0; k + 1 < f->elements; k += 2)
				if (f->element[k]->type == REDIS_REPLY_STRING &&
				    !strcmp(f->element[k]->str, "m") &&
				    f->element[k + 1]->type ==
				        REDIS_REPLY_STRING)
					payload = f->element[k + 1];
			if (!payload) {
				br->st.invalid++;
				log_warn("bridge: entry %s of %s has no 'm'",
				         e->element[0]->str, br->stream);
			} else if (read_entry(br, e->element[0], payload,
			                      now_us) < 0) {
				/* the bus is full: what is left stays
				 * pending, read again when there is room */
				br->paused = true;
				br->pending = true;
				br->st.pauses++;
				break;
			}
		}
		buf_put_bulk(ack, e->element[0]->str, e->element[0]->len);
		nack++;
	}
	store_seen(br, l);
	if (nack) {
		char num[24], *d = util_u64_digits(num + sizeof(num), nack + 3);
		size_t dl = (size_t)(num + sizeof(num) - d);
		char *start = ack->data + ack->off + head - dl - 3;

		start[0] = '*';
		memcpy(start + 1, d, dl);
		memcpy(start + 1 + dl, "\r\n", 2);
		redisAsyncFormattedCommand(ac, NULL, NULL, start,
		                           (size_t)(buf_tail(ack) - start));
	}
	if (ack->cap > 65536)
		buf_free(ack);
	if (br->dec.cap > 65536)
		buf_free(&br->dec);
	if (br->paused)
		bus_wait_room(br->bus, &br->room);
	else
		reader_read(br);
}

static void
reader_read(struct bridge *br)
{
	struct link *l = &br->sub;
	char count[16], block[24];
	const char *argv[10];
	size_t argvlen[10];
	double bs = br->ping_interval;

	if (!l->up || br->reading || br->paused || br->closing ||
	    br->delivery != BRIDGE_STREAMS)
		return;
	snprintf(count, sizeof(count), "%d", BRIDGE_READ_COUNT);
	snprintf(block, sizeof(block), "%lld", (long long)(bs * 1000));
	argv[0] = "XREADGROUP";
	argv[1] = "GROUP";
	argv[2] = br->host;
	argv[3] = br->host;
	argv[4] = "COUNT";
	argv[5] = count;
	argv[6] = "BLOCK";
	argv[7] = block;
	argv[8] = "STREAMS";
	argv[9] = br->stream;
	{
		const char *av[11];
		size_t al[11];
		for (size_t i = 0; i < 10; i++) {
			av[i] = argv[i];
			al[i] = strlen(argv[i]);
		}
		av[10] = br->pending ? "0" : ">";
		al[10] = 1;
		(void)argvlen;
		if (redisAsyncCommandArgv(l->ac, on_read, NULL, 11, av, al) !=
		    REDIS_OK)
			return;
	}
	br->reading = true;
	l->deadline_us =
	    util_mono_us() + (int64_t)((bs + br->ping_timeout) * 1e6);
}

/* HGETALL seen: the highest seq per origin stored by our last run. */
static void
on_seen(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	redisReply *reply = r;

	(void)privdata;
	if (!l || !reply || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		redisReply *k = reply->element[i], *v = reply->element[i + 1];
		char epoch[BRIDGE_INSTANCE_MAX + 1];
		unsigned long long seq;
		struct peer *p;

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING ||
		    !bridge_node_valid(k->str) ||
		    sscanf(v->str, "%64s %llu", epoch, &seq) != 2)
			continue;
		if (!(p = peer_get(l->br, k->str, true)))
			continue;
		if (!strcmp(p->epoch, epoch) && p->seq >= seq)
			continue;
		if (!strcmp(p->epoch, "") || !strcmp(p->epoch, epoch)) {
			free(p->epoch);
			p->epoch = xstrdup(epoch);
			p->seq = seq;
		}
	}
}

/* ---- links: connect, authenticate, ping, lose, retry ---- */

static void link_connect(struct link *l);
static void sentinel_ask(struct bridge *br);

static void
link_schedule_retry(struct link *l)
{
	struct bridge *br = l->br;
	/* jitter: 50-100 % of the backoff, so nodes do not come back in
	 * step */
	double delay =
	    l->backoff * (0.5 + 0.5 * (double)rand_r(&br->seed) / RAND_MAX);

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
static bool link_refused(const struct link *l);

/*
 * While a link is refused, the password file is looked at every
 * PW_POLL seconds: once it changed since it was last read (its inode,
 * size, mode or mtime, to the nanosecond), a refused link retries now,
 * from the shortest backoff, instead of waiting out one that has grown to
 * reconnect_max.
 */
#define PW_POLL 0.5

static bool
pw_changed(const struct bridge *br)
{
	struct stat st;

	if (stat(br->password_file, &st) < 0)
		return false; /* the attempt would fail the same way */
	return st.st_ino != br->pw_st.st_ino ||
	       st.st_size != br->pw_st.st_size ||
	       st.st_mtim.tv_sec != br->pw_st.st_mtim.tv_sec ||
	       st.st_mtim.tv_nsec != br->pw_st.st_mtim.tv_nsec ||
	       st.st_mode != br->pw_st.st_mode;
}

static void
on_pw_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bridge *br = w->data;
	struct link *links[2] = {&br->pub, &br->sub};
	bool looked = false, changed = false;

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < 2; i++) {
		struct link *l = links[i];

		if (br->closing || !l->retry_pending || !link_refused(l))
			continue;
		if (!looked) {
			looked = true;
			changed = pw_changed(br);
		}
		if (!changed)
			continue;
		log_info("bridge: %s changed: the %s link tries again now",
		         br->password_file, l->name);
		l->backoff = br->backoff_min;
		ev_timer_stop(br->loop, &l->timer);
		ev_timer_set(&l->timer, 0, 0);
		ev_timer_start(br->loop, &l->timer);
		l->retry_at_us = util_mono_us();
	}
}

/*
 * The link failed or went down: note why, drop the context, retry later.
 * refused: Redis refused our configuration (link_refuse), so the health
 * is failed until an attempt succeeds.
 */
static void
link_failed_as(struct link *l, const char *why, bool refused)
{
	struct bridge *br = l->br;
	bool was_up = l->up;
	/* every failed attempt: the health monitor pings again, so the
	 * reason it shows ("down for 4.2s ..., retry in 1.6s") stays
	 * current, at most once per retry delay */
	bool news = true;

	l->up = false;
	l->acks = 0;
	l->ac = NULL;
	l->deadline_us = 0;
	l->ping_out = false;
	free(l->kill_reason);
	l->kill_reason = NULL;
	l->kill_refused = false;
	l->refused = refused;
	if (br->closing) {
		/* stopping: nothing to report */
	} else if (!l->ever_failed || was_up || !l->error ||
	           strcmp(l->error, why)) {
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
	if (l == &br->pub)
		pub_reset(br);
	else
		br->reading = false;
	if (br->url.kind == BRIDGE_URL_SENTINEL)
		br->maddr_valid = false; /* ask again: maybe a failover */
	l->want_addr = false;
	br->st.connected = false;
	link_schedule_retry(l);
	if (news && !br->closing)
		health_changed(br);
	if (br->closing)
		maybe_finish_close(br);
}

static void
link_failed(struct link *l, const char *why)
{
	link_failed_as(l, why, false);
}

static void
link_set_up(struct link *l)
{
	struct bridge *br = l->br;

	ev_timer_stop(br->loop, &l->timer); /* the hand-shake's timeout */
	l->up = true;
	/* after a command was refused on a link that was up (NOPERM on
	 * XADD), the backoff goes on growing until a command succeeds (an
	 * XADD, a read, the periodic PING): refused, reconnected, refused
	 * again is not a tight loop */
	if (!l->refused)
		l->backoff = br->backoff_min;
	if (l->ever_up) {
		br->st.reconnects++;
		l->reconnects++;
		log_info("bridge: %s link to %s back after %.1fs", l->name,
		         br->url_text,
		         (double)(util_mono_us() - l->down_since_us) / 1e6);
	} else {
		log_info("bridge: %s link connected to %s", l->name,
		         br->url_text);
	}
	l->ever_up = true;
	l->down_since_us = 0;
	l->refused = false;
	free(l->error);
	l->error = NULL;
	br->st.connected = br->pub.up && (!br->has_sub || br->sub.up);
	health_changed(br);
	if (l == &br->pub) {
		pump(br);
		if (br->has_sub && br->delivery == BRIDGE_PUBSUB && br->sub.up)
			br->sub.deadline_us =
			    util_mono_us() +
			    (int64_t)((br->ping_interval + br->ping_timeout) *
			              1e6);
	} else if (br->delivery == BRIDGE_STREAMS) {
		br->pending = true; /* ours first: read before, not acked */
		br->reading = false;
		reader_read(br);
	} else {
		l->deadline_us =
		    util_mono_us() +
		    (int64_t)((br->ping_interval + br->ping_timeout) * 1e6);
	}
}

/*
 * Close a link from one of its callbacks (never free a context there):
 * hiredis disconnects once the replies still due came, and on_disconnect
 * reports why.
 */
static void
link_kill(struct link *l, const char *why)
{
	if (!l->ac || l->kill_reason)
		return;
	l->kill_reason = xstrdup(why);
	redisAsyncDisconnect(l->ac);
}

/*
 * An error reply that is Redis refusing our configuration, which retrying
 * alone cannot fix: an error to AUTH or SELECT (a wrong password or user,
 * "invalid password", AUTH while Redis has no password, a database out of
 * range) unless it is one of the moment (LOADING, BUSY, MASTERDOWN,
 * TRYAGAIN), and at any step NOAUTH (no password_file, and Redis wants
 * one), WRONGPASS or NOPERM (the ACL user may not run a command or use a
 * key or channel).
 */
static bool
redis_refused(const char *step, const char *err)
{
	static const char *const passing[] = {"LOADING", "BUSY", "MASTERDOWN",
	                                      "TRYAGAIN"};

	if (!strncmp(err, "NOAUTH", 6) || !strncmp(err, "WRONGPASS", 9) ||
	    !strncmp(err, "NOPERM", 6) || strstr(err, "invalid password"))
		return true;
	if (!step || (strcmp(step, "AUTH") && strcmp(step, "SELECT")))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(passing); i++)
		if (!strncmp(err, passing[i], strlen(passing[i])))
			return false;
	return true;
}

/* link_kill for a reason that is Redis refusing us (redis_refused). */
static void
link_refuse(struct link *l, const char *why)
{
	if (!l->ac || l->kill_reason)
		return;
	l->kill_refused = true;
	link_kill(l, why);
}

/* A step of the hand-shake: AUTH, SELECT, XGROUP CREATE, the last PING. */
static void
on_hello(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	redisReply *reply = r;
	const char *step = privdata;

	if (!l || !reply)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		char *why;

		if (!strcmp(step, "XGROUP") &&
		    !strncmp(reply->str, "BUSYGROUP", 9))
			return; /* ours exists: resume where it is */
		why = xasprintf("%s failed: %s", step, reply->str);
		if (redis_refused(step, reply->str))
			link_refuse(l, why);
		else
			link_kill(l, why);
		free(why);
		return;
	}
	if (!strcmp(step, "PING"))
		link_set_up(l);
}

static void
link_hello(struct link *l)
{
	struct bridge *br = l->br;
	redisAsyncContext *ac = l->ac;

	if (br->password) {
		if (br->user)
			redisAsyncCommand(ac, on_hello, "AUTH", "AUTH %s %s",
			                  br->user, br->password);
		else
			redisAsyncCommand(ac, on_hello, "AUTH", "AUTH %s",
			                  br->password);
	}
	if (br->url.db)
		redisAsyncCommand(ac, on_hello, "SELECT", "SELECT %u",
		                  br->url.db);
	if (l == &br->sub && br->delivery == BRIDGE_PUBSUB) {
		for (size_t i = 0; i < br->nsub; i++)
			redisAsyncCommand(ac, on_sub_reply, NULL,
			                  "PSUBSCRIBE %s", br->rpatterns[i]);
		redisAsyncCommand(ac, on_sub_reply, NULL, "PSUBSCRIBE %s",
		                  br->ping_chan);
		return;
	}
	if (l == &br->sub) {
		/* a new group starts at the end: it owes nothing from
		 * before this node first joined */
		redisAsyncCommand(ac, on_hello, "XGROUP",
		                  "XGROUP CREATE %s %s $ MKSTREAM", br->stream,
		                  br->host);
		redisAsyncCommand(ac, on_seen, NULL, "HGETALL %s",
		                  br->seen_key);
	}
	redisAsyncCommand(ac, on_hello, "PING", "PING");
}

static void
on_connect(const redisAsyncContext *cac, int status)
{
	struct link *l = cac->data;

	if (!l)
		return;
	if (status != REDIS_OK) {
		ev_timer_stop(l->br->loop, &l->timer);
		/* hiredis frees the context after this callback */
		link_failed(l, cac->errstr[0] ? cac->errstr : "connect failed");
		return;
	}
	/* the connect timeout keeps running until the hand-shake is done */
	link_hello(l);
}

static void
on_disconnect(const redisAsyncContext *cac, int status)
{
	struct link *l = cac->data;
	char *why;

	if (!l)
		return;
	ev_timer_stop(l->br->loop, &l->timer);
	/* hiredis frees the context after this callback */
	why =
	    xstrdup(l->kill_reason ? l->kill_reason
	            : status == REDIS_OK
	                ? "disconnected"
	                : (cac->errstr[0] ? cac->errstr : "connection closed"));
	link_failed_as(l, why, l->kill_reason && l->kill_refused);
	free(why);
}

/* Forget the context (its late callbacks are ignored) and free it. */
static void
link_drop(struct link *l)
{
	redisAsyncContext *ac = l->ac;

	ev_timer_stop(l->br->loop, &l->timer);
	l->retry_pending = false;
	l->want_addr = false;
	if (!ac)
		return;
	l->ac = NULL;
	l->up = false;
	l->acks = 0;
	l->deadline_us = 0;
	l->ping_out = false;
	ac->data = NULL;
	redisAsyncFree(ac);
	if (l == &l->br->pub)
		pub_reset(l->br);
	else
		l->br->reading = false;
}

/* Close a link that stopped answering (not from its callbacks). */
static void
link_abort(struct link *l, const char *why)
{
	bool was_up = l->up;

	link_drop(l);
	l->up = was_up; /* link_failed says "lost" */
	link_failed(l, why);
}

static void
on_pong(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;

	(void)privdata;
	if (!l || !r)
		return;
	l->ping_out = false;
	l->deadline_us = 0;
	l->rtt_us = util_mono_us() - l->ping_sent_us;
	if (((redisReply *)r)->type != REDIS_REPLY_ERROR)
		l->backoff = l->br->backoff_min; /* taken: see link_set_up */
}

/* XINFO GROUPS: every node's consumer group, its pending and lag. */
static void
on_groups(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	redisReply *reply = r;
	json_t *a;

	(void)privdata;
	if (!l || !reply || reply->type != REDIS_REPLY_ARRAY)
		return;
	a = json_array();
	/* bounded: one group per node, at most BRIDGE_PEERS_MAX kept */
	for (size_t i = 0; i < reply->elements && i < BRIDGE_PEERS_MAX; i++) {
		redisReply *g = reply->element[i];
		json_t *o = json_object();

		if (g->type != REDIS_REPLY_ARRAY) {
			json_decref(o);
			continue;
		}
		for (size_t k = 0; k + 1 < g->elements; k += 2) {
			redisReply *key = g->element[k], *v = g->element[k + 1];

			if (key->type != REDIS_REPLY_STRING)
				continue;
			if (v->type == REDIS_REPLY_INTEGER)
				json_object_set_new(o, key->str,
				                    json_integer(v->integer));
			else if (v->type == REDIS_REPLY_STRING)
				json_object_set_new(o, key->str,
				                    json_string(v->str));
			else if (v->type == REDIS_REPLY_NIL)
				json_object_set_new(o, key->str, json_null());
		}
		json_array_append_new(a, o);
	}
	json_decref(l->br->groups);
	l->br->groups = a;
}

static void
on_xlen(redisAsyncContext *ac, void *r, void *privdata)
{
	struct link *l = ac->data;
	redisReply *reply = r;

	(void)privdata;
	if (l && reply && reply->type == REDIS_REPLY_INTEGER)
		l->br->stream_len = reply->integer;
}

static void
on_ping_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct link *l = w->data;
	struct bridge *br = l->br;
	int64_t now = util_mono_us();

	(void)loop;
	(void)revents;
	if (!l->ac || !l->up)
		return; /* connecting: the connect timer bounds that */
	if (l->deadline_us && now > l->deadline_us &&
	    (l != &br->sub || br->delivery != BRIDGE_PUBSUB || br->pub.up)) {
		char why[96];

		snprintf(why, sizeof(why), "no answer from Redis in %.1fs",
		         br->ping_timeout);
		l->timeouts++;
		br->st.timeouts++;
		link_abort(l, why);
		return;
	}
	if (l == &br->sub)
		return; /* XREADGROUP BLOCK, or our message round, is its
		         * heartbeat */
	if (!l->ping_out) {
		redisAsyncCommand(l->ac, on_pong, NULL, "PING");
		l->ping_out = true;
		l->ping_sent_us = now;
		l->deadline_us = now + (int64_t)(br->ping_timeout * 1e6);
	}
	if (br->delivery == BRIDGE_PUBSUB && br->has_sub)
		redisAsyncCommand(l->ac, NULL, NULL, "PUBLISH %s 1",
		                  br->ping_chan);
	if (br->delivery == BRIDGE_STREAMS) {
		redisAsyncCommand(l->ac, on_groups, NULL, "XINFO GROUPS %s",
		                  br->stream);
		redisAsyncCommand(l->ac, on_xlen, NULL, "XLEN %s", br->stream);
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
	/* the connect (and hand-shake) did not complete in time */
	if (l->want_addr) {
		char *why = xasprintf("no sentinel of %s told the address of "
		                      "master %s",
		                      l->br->url_text, l->br->url.master);
		link_drop(l);
		link_failed(l, why);
		free(why);
		return;
	}
	link_drop(l);
	link_failed(l, "connect timed out");
}

/* ---- sentinel: where the master is ---- */

static bool
links_want_addr(const struct bridge *br)
{
	return br->pub.want_addr || br->sub.want_addr;
}

static void
sentinel_retry_soon(struct bridge *br)
{
	ev_timer_stop(br->loop, &br->stimer);
	if (br->closing || !links_want_addr(br))
		return;
	ev_timer_set(&br->stimer, 0.05, 0);
	ev_timer_start(br->loop, &br->stimer);
}

static void
on_sentinel_disconnect(const redisAsyncContext *cac, int status)
{
	struct bridge *br = cac->data;

	(void)status;
	if (!br)
		return;
	br->sac = NULL;
	if (!br->sac_answered)
		br->snext = (br->snext + 1) % br->url.nsentinels;
	sentinel_retry_soon(br);
}

static void
on_sentinel_connect(const redisAsyncContext *cac, int status)
{
	struct bridge *br = cac->data;

	if (!br || status == REDIS_OK)
		return;
	/* hiredis frees it after this callback */
	br->sac = NULL;
	br->snext = (br->snext + 1) % br->url.nsentinels;
	sentinel_retry_soon(br);
}

static void
on_master(redisAsyncContext *ac, void *r, void *privdata)
{
	struct bridge *br = ac->data;
	redisReply *reply = r;
	size_t asked = br ? br->snext : 0;

	(void)privdata;
	if (!br || !reply)
		return;
	ev_timer_stop(br->loop, &br->stimer);
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_STRING &&
	    reply->element[1]->type == REDIS_REPLY_STRING &&
	    atoi(reply->element[1]->str) > 0) {
		const char *h = reply->element[0]->str;
		int port = atoi(reply->element[1]->str);

		br->sac_answered = true;
		if (!br->mhost || strcmp(br->mhost, h) || br->mport != port) {
			if (br->mhost)
				br->failovers++;
			log_info("bridge: master %s is at %s:%d (sentinel "
			         "%s:%d)",
			         br->url.master, h, port, br->url.shost[asked],
			         br->url.sport[asked]);
			free(br->mhost);
			br->mhost = xstrdup(h);
			br->mport = port;
		}
		br->maddr_valid = true;
		redisAsyncDisconnect(ac);
		if (br->pub.want_addr) {
			br->pub.want_addr = false;
			link_connect(&br->pub);
		}
		if (br->sub.want_addr) {
			br->sub.want_addr = false;
			link_connect(&br->sub);
		}
		return;
	}
	log_warn("bridge: sentinel %s:%d does not know master %s%s%s",
	         br->url.shost[asked], br->url.sport[asked], br->url.master,
	         reply->type == REDIS_REPLY_ERROR ? ": " : "",
	         reply->type == REDIS_REPLY_ERROR ? reply->str : "");
	redisAsyncDisconnect(ac); /* the next one, from on_disconnect */
}

static void
on_sentinel_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bridge *br = w->data;

	(void)loop;
	(void)revents;
	if (br->sac) {
		/* that sentinel did not answer in time: the next one */
		redisAsyncContext *ac = br->sac;
		br->sac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
		br->snext = (br->snext + 1) % br->url.nsentinels;
	}
	if (links_want_addr(br))
		sentinel_ask(br);
}

static void
sentinel_ask(struct bridge *br)
{
	redisAsyncContext *ac;
	size_t i = br->snext;

	if (br->sac || br->closing)
		return;
	ac = redisAsyncConnect(br->url.shost[i], br->url.sport[i]);
	if (!ac || ac->err) {
		if (ac)
			redisAsyncFree(ac);
		br->snext = (i + 1) % br->url.nsentinels;
		sentinel_retry_soon(br);
		return;
	}
	ac->data = br;
	redisLibevAttach(br->loop, ac);
	redisAsyncSetConnectCallback(ac, on_sentinel_connect);
	redisAsyncSetDisconnectCallback(ac, on_sentinel_disconnect);
	br->sac = ac;
	br->sac_answered = false;
	redisAsyncCommand(ac, on_master, NULL,
	                  "SENTINEL get-master-addr-by-name %s",
	                  br->url.master);
	ev_timer_stop(br->loop, &br->stimer);
	ev_timer_set(&br->stimer, br->connect_timeout / 2, 0);
	ev_timer_start(br->loop, &br->stimer);
}

/*
 * The password from password_file, read again before every connect (it may
 * have been fixed since the last one); never logged. -1 (the link failed,
 * refused) if the file cannot be read.
 */
static int
link_reread_secret(struct link *l)
{
	struct bridge *br = l->br;
	char *why = NULL, *secret, *reason;

	if (!br->password_file)
		return 0;
	if (stat(br->password_file, &br->pw_st) < 0)
		memset(&br->pw_st, 0, sizeof(br->pw_st));
	secret = bridge_read_secret(br->password_file, &why);
	if (!secret) {
		reason = xasprintf("password_file: %s", why);
		link_failed_as(l, reason, true);
		free(reason);
		free(why);
		return -1;
	}
	if (br->password) {
		explicit_bzero(br->password, strlen(br->password));
		free(br->password);
	}
	br->password = secret;
	return 0;
}

static void
link_connect(struct link *l)
{
	struct bridge *br = l->br;
	redisAsyncContext *ac;

	if (br->url.kind == BRIDGE_URL_SENTINEL && !br->maddr_valid) {
		/* the sentinels first; link_connect again once they answer */
		l->want_addr = true;
		l->retry_pending = false;
		ev_timer_stop(br->loop, &l->timer);
		ev_timer_set(&l->timer, br->connect_timeout, 0);
		ev_timer_start(br->loop, &l->timer);
		sentinel_ask(br);
		return;
	}
	if (link_reread_secret(l) < 0)
		return;
	if (br->url.kind == BRIDGE_URL_UNIX)
		ac = redisAsyncConnectUnix(br->url.path);
	else if (br->url.kind == BRIDGE_URL_SENTINEL)
		ac = redisAsyncConnect(br->mhost, br->mport);
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
	ac->c.reader->fn = &reply_fns;
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
	ev_timer_init(&l->ping, on_ping_timer, br->ping_interval,
	              br->ping_interval);
	l->ping.data = l;
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
	ev_timer_start(l->br->loop, &l->ping);
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

	if (opts->delivery != BRIDGE_STREAMS &&
	    opts->delivery != BRIDGE_PUBSUB) {
		*cause = xstrdup("bad delivery mode");
		goto out_url;
	}
	if (opts->host && opts->delivery == BRIDGE_STREAMS &&
	    !bridge_node_valid(opts->host)) {
		*cause = xasprintf("bad node name '%s' (1-64 characters of "
		                   "A-Z a-z 0-9 _ . : -)",
		                   opts->host);
		goto out_url;
	}

	br = xcalloc(1, sizeof(*br));
	rbridges++;
	br->loop = loop;
	br->bus = bus;
	br->url = url;
	br->url_text = xstrdup(opts->url);
	br->delivery = opts->delivery;
	br->publish = strv_copy(opts->publish);
	br->subscribe = patterns_minimal(opts->subscribe, &br->nsub);
	br->rpatterns = xcalloc(br->nsub + 1, sizeof(*br->rpatterns));
	for (size_t i = 0; i < br->nsub; i++)
		br->rpatterns[i] = bridge_redis_pattern(chan, br->subscribe[i]);
	br->channel = xstrdup(chan);
	br->buffer = opts->buffer ? opts->buffer : d->buffer;
	br->maxlen = opts->maxlen ? opts->maxlen : d->maxlen;
	snprintf(br->maxlen_text, sizeof(br->maxlen_text), "%zu", br->maxlen);
	br->max_age = opts->max_age > 0 ? opts->max_age : 0;
	br->backoff_min =
	    opts->backoff_min > 0 ? opts->backoff_min : d->reconnect_min;
	br->backoff_max =
	    opts->backoff_max > 0 ? opts->backoff_max : d->reconnect_max;
	if (br->backoff_max < br->backoff_min)
		br->backoff_max = br->backoff_min;
	br->connect_timeout =
	    opts->connect_timeout > 0 ? opts->connect_timeout : 5;
	br->ping_interval =
	    opts->ping_interval > 0 ? opts->ping_interval : d->ping_interval;
	br->ping_timeout =
	    opts->ping_timeout > 0 ? opts->ping_timeout : d->ping_timeout;
	br->password = opts->password ? xstrdup(opts->password) : NULL;
	br->password_file =
	    opts->password_file ? xstrdup(opts->password_file) : NULL;
	br->user = opts->user ? xstrdup(opts->user) : NULL;
	br->host = opts->host ? xstrdup(opts->host) : local_host();
	br->instance =
	    opts->instance ? xstrdup(opts->instance) : random_instance();
	br->stream = bridge_stream_key(chan);
	br->seen_key =
	    xasprintf("%s%cseen%c%s", chan, BRIDGE_SEP, BRIDGE_SEP, br->host);
	br->ping_chan = xasprintf("%s%cping%c%s", chan, BRIDGE_SEP, BRIDGE_SEP,
	                          br->instance);
	br->seed = (unsigned)(util_mono_us() ^ (int64_t)getpid());
	br->room.fn = on_room;
	br->tail = &br->head;
	br->has_sub = br->nsub > 0;
	ev_timer_init(&br->close_timer, NULL, 0, 0);
	ev_timer_init(&br->close_kick, NULL, 0, 0);
	ev_timer_init(&br->stimer, on_sentinel_timer, 0, 0);
	br->stimer.data = br;
	if (br->password_file) {
		ev_timer_init(&br->pw_poll, on_pw_poll, PW_POLL, PW_POLL);
		br->pw_poll.data = br;
		ev_timer_start(br->loop, &br->pw_poll);
	}
	link_init(br, &br->pub, "publish");
	link_init(br, &br->sub,
	          br->delivery == BRIDGE_STREAMS ? "read" : "subscribe");

	if (br->delivery == BRIDGE_STREAMS && opts->use_store &&
	    br->publish[0]) {
		const struct bus_store *st = bus_get_store(bus, &br->store_arg);

		if (st && st->cursor && st->replay)
			br->store = st;
	}
	/* with a journal the bus numbers on across restarts: receivers keep
	 * deduplicating by seq; else each start is a new numbering */
	br->epoch = xstrdup(br->store ? "journal" : br->instance);
	encode_origin(&br->origin_tail, br->host, br->instance, br->epoch);
	buf_append(&br->xadd_head, "*8\r\n$4\r\nXADD\r\n", 14);
	buf_put_bulk(&br->xadd_head, br->stream, strlen(br->stream));
	buf_append(&br->xadd_head, "$6\r\nMAXLEN\r\n$1\r\n~\r\n", 19);
	buf_put_bulk(&br->xadd_head, br->maxlen_text, strlen(br->maxlen_text));
	buf_append(&br->xadd_head, "$1\r\n*\r\n$1\r\nm\r\n", 14);
	if (br->store) {
		replay_br = br;
		br->skip_upto = br->store->replay(br->store_arg, BRIDGE_CURSOR,
		                                  "*", replay_deliver);
		replay_br = NULL;
		br->cursor = br->cursor_written = br->skip_upto;
		if (br->st.replayed)
			log_info("bridge: %llu events not accepted by Redis "
			         "before the last stop are sent again",
			         (unsigned long long)br->st.replayed);
	}
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
	ev_timer_stop(br->loop, &br->pub.ping);
	ev_timer_stop(br->loop, &br->sub.ping);
	ev_timer_stop(br->loop, &br->close_timer);
	ev_timer_stop(br->loop, &br->close_kick);
	bus_cancel_wait(br->bus, &br->room);
	ev_timer_stop(br->loop, &br->stimer);
	if (br->password_file)
		ev_timer_stop(br->loop, &br->pw_poll);
	if (br->sac) {
		br->sac->data = NULL;
		redisAsyncFree(br->sac);
		br->sac = NULL;
	}
	free(br->mhost);
	cursor_write(br, true);
	queue_clear(br);
	peers_free(br);
	json_decref(br->groups);
	free(br->pub.error);
	free(br->sub.error);
	free(br->pub.kill_reason);
	free(br->sub.kill_reason);
	free(br->stream);
	free(br->seen_key);
	free(br->ping_chan);
	free(br->epoch);
	buf_free(&br->origin_tail);
	buf_free(&br->xadd_head);
	buf_free(&br->enc);
	buf_free(&br->cmd);
	buf_free(&br->dec);
	buf_free(&br->src);
	buf_free(&br->ack);
	free(br->user);
	free(br->password_file);
	if (br->password) {
		explicit_bzero(br->password, strlen(br->password));
		free(br->password);
	}
	bridge_url_clear(&br->url);
	free(br->url_text);
	strv_free(br->publish);
	strv_free(br->subscribe);
	strv_free(br->rpatterns);
	free(br->channel);
	free(br->host);
	free(br->instance);
	free(br);
	if (--rbridges == 0)
		rpool_drain();
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
	cursor_write(br, true);
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
	if (br->delivery == BRIDGE_STREAMS && br->sub.ac)
		return; /* its last XACKs are still being written */
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
	/* no more retries: what is not connected now stays down. The
	 * reader stops reading and disconnects once its last XACKs are
	 * written and its read answered (what that read brings is not
	 * taken: it stays pending in Redis for the next start). */
	if (!br->pub.ac)
		link_drop(&br->pub);
	if (!br->sub.ac)
		link_drop(&br->sub);
	else if (br->delivery == BRIDGE_STREAMS && !br->sub.kill_reason)
		link_kill(&br->sub, "stopping");
	bus_cancel_wait(br->bus, &br->room);
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
	buf_printf(b, "%s link to %s %s", l->name, br->url_text,
	           l->refused ? "refused" : "down");
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

/* Down, and its last attempt was refused (link_refuse, password_file). */
static bool
link_refused(const struct link *l)
{
	return !l->up && l->ever_failed && l->refused;
}

int
bridge_check(const struct bridge *br, char **cause)
{
	struct buf b = {0};
	bool refused =
	    link_refused(&br->pub) || (br->has_sub && link_refused(&br->sub));

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
	return refused ? SVC_PING_FAILED : -1;
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

static json_t *
link_json(const struct bridge *br, const struct link *l)
{
	int64_t now = util_mono_us();
	json_t *o = json_pack("{s:b, s:I, s:I}", "up", l->up, "reconnects",
	                      (json_int_t)l->reconnects, "timeouts",
	                      (json_int_t)l->timeouts);

	(void)br;
	if (l->rtt_us)
		json_object_set_new(o, "ping_ms",
		                    json_real((double)l->rtt_us / 1e3));
	if (!l->up && l->down_since_us)
		json_object_set_new(
		    o, "down_s",
		    json_real((double)(now - l->down_since_us) / 1e6));
	if (l->error)
		json_object_set_new(o, "error", json_string(l->error));
	return o;
}

/* Our group in the last XINFO GROUPS: "lag" and "pending". */
static json_t *
group_of(const struct bridge *br, const char *name)
{
	size_t i;
	json_t *g;

	json_array_foreach(br->groups, i, g)
	{
		const char *n = json_string_value(json_object_get(g, "name"));
		if (n && !strcmp(n, name))
			return g;
	}
	return NULL;
}

json_t *
bridge_get_stats_json(const struct bridge *br)
{
	struct bridge_stats s;
	json_t *o, *links, *g;

	bridge_get_stats(br, &s);
	o = json_pack(
	    "{s:b, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "enabled", 1, "delivery",
	    br->delivery == BRIDGE_STREAMS ? "streams" : "pubsub", "url",
	    br->url_text, "channel", br->channel, "host", br->host, "instance",
	    br->instance, "publish", patterns_json(br->publish), "subscribe",
	    patterns_json(br->subscribe), "connected", s.connected, "published",
	    (json_int_t)s.published, "received", (json_int_t)s.received,
	    "ignored", (json_int_t)s.ignored, "invalid", (json_int_t)s.invalid,
	    "dropped", (json_int_t)s.dropped, "lost", (json_int_t)s.lost,
	    "in_dropped", (json_int_t)s.in_dropped, "reconnects",
	    (json_int_t)s.reconnects, "buffered", (json_int_t)s.buffered,
	    "buffer", (json_int_t)br->buffer, "inflight",
	    (json_int_t)s.inflight);
	json_object_set_new(o, "node", json_string(br->host));
	json_object_set_new(o, "epoch", json_string(br->epoch));
	json_object_set_new(o, "duplicates",
	                    json_integer((json_int_t)s.duplicates));
	json_object_set_new(o, "gaps", json_integer((json_int_t)s.gaps));
	json_object_set_new(o, "gap_events",
	                    json_integer((json_int_t)s.gap_events));
	json_object_set_new(o, "resent", json_integer((json_int_t)s.resent));
	json_object_set_new(o, "rejected",
	                    json_integer((json_int_t)s.rejected));
	json_object_set_new(o, "replayed",
	                    json_integer((json_int_t)s.replayed));
	json_object_set_new(o, "timeouts",
	                    json_integer((json_int_t)s.timeouts));
	json_object_set_new(o, "pauses", json_integer((json_int_t)s.pauses));
	if (br->url.kind == BRIDGE_URL_SENTINEL) {
		json_object_set_new(o, "master", json_string(br->url.master));
		if (br->mhost)
			json_object_set_new(
			    o, "master_addr",
			    json_sprintf("%s:%d", br->mhost, br->mport));
		json_object_set_new(o, "failovers",
		                    json_integer((json_int_t)br->failovers));
	}
	json_object_set_new(o, "peers", json_integer((json_int_t)br->npeers));
	links = json_object();
	json_object_set_new(links, br->pub.name, link_json(br, &br->pub));
	if (br->has_sub)
		json_object_set_new(links, br->sub.name,
		                    link_json(br, &br->sub));
	json_object_set_new(o, "links", links);
	if (br->delivery == BRIDGE_STREAMS) {
		json_object_set_new(o, "stream", json_string(br->stream));
		json_object_set_new(o, "stream_length",
		                    json_integer(br->stream_len));
		if (br->store)
			json_object_set_new(
			    o, "cursor", json_integer((json_int_t)br->cursor));
		if (br->has_sub && (g = group_of(br, br->host))) {
			json_object_set(o, "lag", json_object_get(g, "lag"));
			json_object_set(o, "pending",
			                json_object_get(g, "pending"));
		}
	}
	return o;
}

json_t *
bridge_get_peers_json(const struct bridge *br)
{
	json_t *a = json_array(), *g;
	size_t i;

	for (i = 0; i < br->npeers; i++) {
		const struct peer *p = &br->peers[i];
		char when[40] = "";
		json_t *o;

		if (p->last_us)
			util_format_time(p->last_us, when, sizeof(when));
		o = json_pack(
		    "{s:s, s:b, s:s, s:I, s:I, s:I, s:I, s:I}", "node", p->node,
		    "origin", 1, "epoch", p->epoch, "seq", (json_int_t)p->seq,
		    "received", (json_int_t)p->received, "duplicates",
		    (json_int_t)p->duplicates, "gaps", (json_int_t)p->gaps,
		    "missing", (json_int_t)p->missing);
		json_object_set_new(
		    o, "time", p->time[0] ? json_string(p->time) : json_null());
		json_object_set_new(o, "received_at",
		                    when[0] ? json_string(when) : json_null());
		if ((g = group_of(br, p->node))) {
			json_object_set(o, "lag", json_object_get(g, "lag"));
			json_object_set(o, "pending",
			                json_object_get(g, "pending"));
		}
		json_array_append_new(a, o);
	}
	/* nodes that read (a group) but never published */
	json_array_foreach(br->groups, i, g)
	{
		const char *n = json_string_value(json_object_get(g, "name"));

		if (!n ||
		    (br->npeers && peer_get((struct bridge *)br, n, false)))
			continue;
		json_array_append_new(
		    a, json_pack("{s:s, s:b, s:O, s:O, s:b}", "node", n,
		                 "origin", 0, "lag",
		                 json_object_get(g, "lag")
		                     ? json_object_get(g, "lag")
		                     : json_null(),
		                 "pending",
		                 json_object_get(g, "pending")
		                     ? json_object_get(g, "pending")
		                     : json_null(),
		                 "self", strcmp(n, br->host) == 0));
	}
	return json_pack("{s:s, s:s, s:o}", "node", br->host, "delivery",
	                 br->delivery == BRIDGE_STREAMS ? "streams" : "pubsub",
	                 "peers", a);
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
	char *secret = NULL, *why = NULL;

	if (!c->url)
		return 0; /* no [bridge] section: nothing to do */
	if (!b) {
		*cause = xstrdup("the bus is not running");
		return -1;
	}
	if (c->password_file &&
	    !(secret = bridge_read_secret(c->password_file, &why))) {
		*cause = xasprintf("password_file: %s", why);
		free(why);
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
	    .host = c->node,
	    .delivery = (enum bridge_delivery)c->delivery,
	    .maxlen = c->maxlen,
	    .max_age = c->max_age,
	    .password = secret,
	    .password_file = c->password_file,
	    .user = c->user,
	    .ping_interval = c->ping_interval,
	    .ping_timeout = c->ping_timeout,
	    .use_store = true,
	};
	svc_br.br = bridge_new(svc_loop(self), b, &o, cause);
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (!svc_br.br)
		return -1;
	svc_br.self = self;
	log_info("bridge: node %s (instance %s) on %s, channel prefix '%s', "
	         "delivery %s%s",
	         svc_br.br->host, svc_br.br->instance, svc_br.br->url_text,
	         svc_br.br->channel,
	         svc_br.br->delivery == BRIDGE_STREAMS ? "streams" : "pubsub",
	         svc_br.br->store ? ", published-up-to cursor in the journal"
	                          : "");
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

static int
node_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
           const char *v, void *dst, char **cause)
{
	if (!bridge_node_valid(v)) {
		*cause = xasprintf("'%s' is not a node name (1-64 characters "
		                   "of A-Z a-z 0-9 _ . : -)",
		                   v);
		return -1;
	}
	conf_str_set(dst, v);
	return 0;
}

static const struct svc_conf_type bridge_node_type = {
    .name = "node",
    .parse = node_parse,
    .size = sizeof(char *),
    .free = svc_conf_str_free,
    .equal = svc_conf_str_equal,
    .copy = svc_conf_str_copy,
};

static const struct svc_conf_enum bridge_deliveries[] = {
    {"streams", BRIDGE_STREAMS},
    {"pubsub", BRIDGE_PUBSUB},
    {NULL, 0},
};

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
    {.key = "delivery",
     .type = &svc_conf_enum,
     .off = BF(delivery),
     .dflt = "streams",
     .arg = bridge_deliveries,
     .doc = "streams (at least once, resumable) or pubsub (at most once)"},
    {.key = "node",
     .type = &bridge_node_type,
     .off = BF(node),
     .doc = "this node's name, unique among the nodes (default: the host "
            "name)"},
    {.key = "maxlen",
     .type = &svc_conf_count,
     .off = BF(maxlen),
     .dflt = "1000000",
     .min = "1",
     .max = "1000000000",
     .doc = "streams: entries the stream keeps (XADD MAXLEN ~)"},
    {.key = "max_age",
     .type = &svc_conf_duration,
     .off = BF(max_age),
     .max = "365d",
     .doc = "streams: keep entries this long instead (XADD MINID ~)"},
    {.key = "password_file",
     .type = &svc_conf_path,
     .off = BF(password_file),
     .doc = "a file holding the Redis password (AUTH), not readable by "
            "others"},
    {.key = "user",
     .type = &bridge_node_type,
     .off = BF(user),
     .doc = "the Redis ACL user for AUTH (with password_file)"},
    {.key = "ping_interval",
     .type = &svc_conf_duration,
     .off = BF(ping_interval),
     .dflt = "1s",
     .max = "1h",
     .doc = "how often each link is checked"},
    {.key = "ping_timeout",
     .type = &svc_conf_duration,
     .off = BF(ping_timeout),
     .dflt = "3s",
     .max = "1h",
     .doc = "a link that does not answer in this time is reconnected"},
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
			if (util_family_forbidden(AF_INET6))
				fam = "AF_INET6";
		} else if (inet_pton(AF_INET, u.host, a) == 1) {
			if (util_family_forbidden(AF_INET))
				fam = "AF_INET";
		} else if (util_family_forbidden(AF_INET) &&
		           util_family_forbidden(AF_INET6)) {
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
	if (c->user && !c->password_file) {
		svc_conf_error(cx, svc_conf_key_line(cx, "user"),
		               "[bridge]: 'user' needs a 'password_file'");
		rc = -1;
	}
	if (c->password_file) {
		char *why = NULL,
		     *secret = bridge_read_secret(c->password_file, &why);

		if (!secret) {
			svc_conf_error(cx,
			               svc_conf_key_line(cx, "password_file"),
			               "[bridge]: password_file: %s", why);
			free(why);
			rc = -1;
		} else {
			explicit_bzero(secret, strlen(secret));
			free(secret);
		}
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

static const struct svc_reply *
m_peers(struct svc *self, struct svc_call *q)
{
	(void)self;
	if (!svc_br.br)
		return svc_call_ok(
		    q, json_pack("{s:b, s:[]}", "enabled", 0, "peers"));
	return svc_call_ok(q, bridge_get_peers_json(svc_br.br));
}

static const struct svc_method bridge_methods[] = {
    {.name = "peers",
     .fn = m_peers,
     .access = SVC_ACCESS_READ,
     .doc = "every origin seen and every node's consumer group: last "
            "seq and time, lag, pending, duplicates, gaps"},
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
    {.figure = "duplicates",
     .type = SVC_METRIC_COUNTER,
     .help = "received events dropped as already seen from their origin"},
    {.figure = "gaps",
     .type = SVC_METRIC_COUNTER,
     .help = "runs of an origin's events that never arrived"},
    {.figure = "gap_events",
     .type = SVC_METRIC_COUNTER,
     .help = "events of those runs"},
    {.figure = "resent",
     .type = SVC_METRIC_COUNTER,
     .help = "events sent again after a link was lost in flight"},
    {.figure = "rejected",
     .type = SVC_METRIC_COUNTER,
     .help = "publishes Redis answered with an error"},
    {.figure = "replayed",
     .type = SVC_METRIC_COUNTER,
     .help = "events sent again from the journal after a restart"},
    {.figure = "pauses",
     .type = SVC_METRIC_COUNTER,
     .help = "times reading stopped while the bus was full"},
    {.figure = "timeouts",
     .type = SVC_METRIC_COUNTER,
     .help = "links closed because Redis did not answer in time"},
    {.figure = "peers", .type = SVC_METRIC_GAUGE, .help = "origins seen"},
    {.figure = "lag",
     .type = SVC_METRIC_GAUGE,
     .help = "stream entries this node's group has not read yet"},
    {.figure = "pending",
     .type = SVC_METRIC_GAUGE,
     .help = "entries this node's group read and has not acknowledged"},
    {.figure = "stream_length",
     .type = SVC_METRIC_GAUGE,
     .help = "entries in the stream"},
    {.figure = "cursor",
     .type = SVC_METRIC_GAUGE,
     .help = "the seq published up to, kept in the journal"},
    {.figure = "links",
     .type = SVC_METRIC_LABELS,
     .label = "link",
     .help = "one series per connection to Redis (publish, read)"},
    {.figure = "links.up",
     .type = SVC_METRIC_GAUGE,
     .help = "1 while this link is connected"},
    {.figure = "links.reconnects",
     .type = SVC_METRIC_COUNTER,
     .help = "this link's reconnections"},
    {.figure = "links.timeouts",
     .type = SVC_METRIC_COUNTER,
     .help = "this link closed because Redis did not answer in time"},
    {.figure = "links.ping_ms",
     .type = SVC_METRIC_GAUGE,
     .help = "this link's last round trip to Redis"},
    {.figure = "links.down_s",
     .type = SVC_METRIC_GAUGE,
     .help = "how long this link has been down"},
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
    SVC_METHODS(bridge_methods),
    .figures = bridge_figures,
    SVC_METRICS(bridge_metrics),
};
