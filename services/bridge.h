/*
 * bridge.h — the event bridge: svcd instances on many hosts share events
 * through Redis (hiredis, async, on the svcd loop).
 *
 * Local events matching a `publish` pattern go out as JSON
 *   {"event":NAME,"data":{...},"time":"RFC3339","seq":N,"prev":P,
 *    "origin":{"host":NODE,"instance":ID,"epoch":E}}
 * With delivery = streams (the default) every event of a channel prefix is
 * one entry (field "m") of the stream `<prefix>|events`; each node reads it
 * with its own consumer group (named after the node) and acknowledges an
 * entry only once its bus accepted the event: at least once, resumable.
 * With delivery = pubsub the message goes on channel `<prefix>|<event>`: at
 * most once. ('|' is not valid in event names or prefixes: names of two
 * prefixes never collide.)
 *
 * Remote events matching a `subscribe` pattern are emitted on the local bus
 * with their name and data and the source
 * "bridge origin=NODE/ID time=RFC3339 seq=N". Events whose source starts
 * with "bridge " are never published again, and messages whose origin node
 * is our own are ignored: no loops between any number of nodes. A receiver
 * drops an event whose seq is not above the highest it saw from that
 * origin and epoch (a duplicate), and reports a gap (bridge.gap) when `prev`
 * — the seq of the origin's previous published event — is above it.
 *
 * The object API (bridge_new ...) works on any loop and bus, for tests; the
 * `bridge` service owns one instance configured from [bridge] (none when the
 * section is absent: the service then runs and does nothing).
 */
#ifndef SVCD_BRIDGE_H
#define SVCD_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "services/bus.h"
#include "daemon/service.h"

struct ev_loop;
struct bridge;

extern const struct svc_desc bridge_service;

enum bridge_delivery {
	BRIDGE_STREAMS = 0, /* XADD / XREADGROUP: at least once */
	BRIDGE_PUBSUB,      /* PUBLISH / PSUBSCRIBE: at most once */
};

/* [bridge] (restart-only); url NULL: no bridge. */
struct bridge_conf {
	char *url;            /* redis://HOST[:PORT][/DB], unix:///PATH */
	int delivery;         /* enum bridge_delivery */
	char *node;           /* the node's name; NULL: the host name */
	size_t maxlen;        /* stream retention: entries (MAXLEN ~) */
	double max_age;       /* stream retention: age (MINID ~), 0: off */
	char *password_file;  /* AUTH secret; NULL: no AUTH */
	char *user;           /* AUTH user (ACL); NULL: the default user */
	double ping_interval; /* PING each link this often */
	double ping_timeout;  /* a link that does not answer is closed */
	char **publish;       /* NULL-terminated patterns; NULL: none */
	char **subscribe;     /* NULL-terminated patterns; NULL: none */
	char *channel;        /* channel prefix, default "svcd" */
	size_t buffer;        /* outbound events held, default 10000 */
	double reconnect_min; /* first retry delay, default 100 ms */
	double reconnect_max; /* longest retry delay, default 30 s */
};

/* The source prefix that marks an event brought in by a bridge. */
#define BRIDGE_SOURCE_PREFIX "bridge "
/* Channel prefix: 1-64 characters of [A-Za-z0-9_.:-] (no glob characters). */
#define BRIDGE_CHANNEL_MAX 64

enum bridge_url_kind {
	BRIDGE_URL_TCP,
	BRIDGE_URL_UNIX,
	BRIDGE_URL_SENTINEL,
};

#define BRIDGE_SENTINELS_MAX 16

/* redis://host[:port][/db], unix:///path[?db=N] or
 * sentinel://host[:port][,host[:port]...]/master */
struct bridge_url {
	enum bridge_url_kind kind;
	char *host;  /* TCP: host name or address (IPv6 without brackets) */
	int port;    /* TCP: default 6379 */
	char *path;  /* UNIX: absolute socket path */
	unsigned db; /* SELECT db; default 0 */
	/* SENTINEL: the sentinels (default port 26379) and the master name */
	size_t nsentinels;
	char *shost[BRIDGE_SENTINELS_MAX];
	int sport[BRIDGE_SENTINELS_MAX];
	char *master;
};

/* Parse url into *out (clear it with bridge_url_clear). -1 with *cause. */
int bridge_url_parse(const char *url, struct bridge_url *out, char **cause);
void bridge_url_clear(struct bridge_url *u);
/* A channel prefix usable by the bridge. */
bool bridge_channel_valid(const char *prefix);

/* A decoded bridge message; every string owned (bridge_msg_clear). */
struct bridge_msg {
	char *event;
	char *data; /* compact JSON object text */
	char *time; /* as sent, RFC 3339 */
	uint64_t seq;
	char *host;     /* the origin node */
	char *instance; /* drawn at each start of the origin */
	char *epoch;    /* seq numbering: the instance, or "journal" */
	uint64_t prev;  /* seq of the origin's previous event; 0: unknown */
};

/* The wire form of a local event (caller frees). */
char *bridge_encode(const struct bus_event *ev, const char *host,
                    const char *instance, size_t *len);
/* The same with the epoch and the previous seq (streams). */
char *bridge_encode_ext(const struct bus_event *ev, const char *host,
                        const char *instance, const char *epoch, uint64_t prev,
                        size_t *len);
/* Parse and validate a message; -1 with *cause on anything malformed. */
int bridge_decode(const char *payload, size_t len, struct bridge_msg *out,
                  char **cause);
void bridge_msg_clear(struct bridge_msg *m);
/* The bus source for a message brought in (caller frees). */
char *bridge_source(const struct bridge_msg *m);
/* The loop marker: true for an event a bridge emitted on this bus. */
bool bridge_from_bridge(const struct bus_event *ev);
/*
 * The Redis PSUBSCRIBE pattern for a bus pattern under prefix ("*" ->
 * "svcd|*", "user.*" -> "svcd|user.*", "x" -> "svcd|x"); caller frees.
 */
char *bridge_redis_pattern(const char *prefix, const char *pattern);
/* pubsub: "<prefix>|<event>"; "svcd.staging|x" never matches "svcd|*". */
#define BRIDGE_SEP '|'

struct bridge_opts {
	const char *url;
	const char *const *publish; /* NULL-terminated bus patterns, or NULL */
	const char *const
	    *subscribe;         /* NULL-terminated bus patterns, or NULL */
	const char *channel;    /* prefix; NULL: [bridge] channel's default */
	size_t buffer;          /* outbound events held; 0: the default */
	double backoff_min;     /* seconds; 0: reconnect_min's default */
	double backoff_max;     /* seconds; 0: reconnect_max's default */
	double connect_timeout; /* seconds; 0: 5 */
	const char *host;       /* origin host; NULL: gethostname() */
	const char *instance;   /* NULL: 16 random hex characters */
	enum bridge_delivery delivery;
	size_t maxlen;        /* streams: MAXLEN ~; 0: 1000000 */
	double max_age;       /* streams: MINID ~ now - max_age; 0: off */
	const char *password; /* AUTH on every connect; NULL: none */
	const char *user;     /* AUTH user; NULL: none */
	double ping_interval; /* seconds; 0: 1 */
	double ping_timeout;  /* seconds; 0: 3 */
	/* streams: "published up to" cursor and replay (the bus's store), so
	 * that events acknowledged locally and not yet by Redis are sent
	 * after a crash; NULL: none */
	bool use_store;
	/* AUTH with the password this file holds (bridge_read_secret), read
	 * again before every connect, so that fixing it needs no restart;
	 * password is used until the first read. NULL: password. */
	const char *password_file;
};

struct bridge_stats {
	bool connected;      /* both links up */
	uint64_t published;  /* acknowledged by Redis */
	uint64_t received;   /* remote events emitted on the bus */
	uint64_t ignored;    /* own echoes and events not subscribed */
	uint64_t invalid;    /* malformed messages */
	uint64_t dropped;    /* outbound refused: buffer full */
	uint64_t lost;       /* in flight when a link went down */
	uint64_t in_dropped; /* remote events the bus refused (full) */
	uint64_t reconnects; /* successful connects after the first */
	uint64_t duplicates; /* remote events already seen (dropped) */
	uint64_t gaps;       /* gap reports (bridge.gap events) */
	uint64_t gap_events; /* events missing in those gaps */
	uint64_t resent;     /* in flight when a link dropped, sent again */
	uint64_t rejected;   /* refused by Redis (an error reply), dropped */
	uint64_t replayed;   /* from the journal after a restart */
	uint64_t timeouts;   /* links closed for not answering a PING */
	uint64_t pauses;     /* reads stopped because the bus was full */
	size_t buffered;     /* outbound waiting now */
	size_t inflight;     /* PUBLISH sent, reply not yet read */
};

/*
 * Start a bridge: validates the options (a bad URL, pattern or channel is
 * an error), then connects in the background and keeps reconnecting with
 * backoff. NULL with *cause on bad options.
 */
struct bridge *bridge_new(struct ev_loop *loop, struct bus *bus,
                          const struct bridge_opts *opts, char **cause);
/* Disconnect at once and free (queued events are dropped, not counted). */
void bridge_free(struct bridge *br);
/*
 * Stop listening, then send what is buffered (bounded by timeout seconds)
 * and disconnect; cb runs once at the end (possibly before this returns).
 * Free with bridge_free afterwards.
 */
void bridge_close(struct bridge *br, double timeout,
                  void (*cb)(struct bridge *br, void *arg), void *arg);
/*
 * 0 when both links are up (or still on the first attempt); SVC_PING_FAILED
 * when a link's last attempt was refused (Redis refused AUTH, SELECT or an
 * ACL — WRONGPASS, NOAUTH, NOPERM —, or the password file cannot be read:
 * the configuration, which retrying alone cannot fix); else -1. *cause
 * names each link down and why (never the password).
 */
int bridge_check(const struct bridge *br, char **cause);
bool bridge_connected(const struct bridge *br);
const char *bridge_instance(const struct bridge *br);
void bridge_get_stats(const struct bridge *br, struct bridge_stats *out);
json_t *bridge_get_stats_json(const struct bridge *br);

/* Every origin seen and every node's consumer group: the peers method. */
json_t *bridge_get_peers_json(const struct bridge *br);

/* The status object of the service: {"enabled":false} when not configured. */
json_t *bridge_stats_json(void);

/* The stream key of a channel prefix: "<prefix>|events" (caller frees). */
char *bridge_stream_key(const char *prefix);
/* A node name: 1-64 characters of [A-Za-z0-9_.:-]. */
bool bridge_node_valid(const char *node);
/*
 * Read an AUTH secret from path: the file must not be readable or writable
 * by others; one line, the trailing newline dropped. NULL with *cause.
 */
char *bridge_read_secret(const char *path, char **cause);

#endif
