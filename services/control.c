/*
 * control.c — the control service: the JSON-RPC 2.0 server on a Unix stream
 * socket (docs/protocol.md), the transport of the control methods: the
 * generic dispatcher (daemon/methods.c) runs each request line against the
 * methods every service of the graph declares; framing is in rpc.c. The
 * transport's own methods live here: hello, ping, status, services.
 *
 * Design notes.
 *
 * Listener. A path socket (mode 0660, optional group) or the fd handed over
 * by socket activation (never unlinked; its file given [control] group when
 * svcd may, else the start is refused: activated_group). accept4 runs in a
 * bounded loop per readiness. Over max_clients a connection gets one Busy
 * error line and is closed. On EMFILE/ENFILE the accept watcher pauses for
 * 100 ms (logged once per burst) and a reserve fd on /dev/null is given up
 * to accept and refuse one connection, so the loop never spins on a full fd
 * table.
 *
 * Clients. Each has an ev_io for reading and one for writing, an input and
 * an output buffer. A read callback reads at most READ_ROUNDS x READ_CHUNK
 * (fairness), splits lines and dispatches them in order; replies are
 * appended to the output buffer and the client put on the flush list (see
 * Subscribers): every client is written once at the end of the loop
 * iteration, so a pipelining client is woken once per iteration rather
 * than once per read of ours, and the write watcher is started only if a
 * write would block. The daemon never blocks on a client. A line over
 * max_request is answered TooLarge and the client moves to the closing state:
 * no more requests, output flushed, our write side shut, and the peer's
 * remaining input discarded until it closes (a lingering close, so a peer still
 * writing reads the error instead of getting EPIPE) — all within
 * CLOSE_DEADLINE.
 *
 * Backpressure. An emit with wait on a full queue leaves its line in the
 * input buffer, stops reading the client and parks the client's embedded
 * bus_waiter; when the bus has room the same line is dispatched again and
 * the buffered lines after it follow, so replies stay in request order.
 *
 * Subscribers. One bus listener ("*") per subscribed client, filtered by
 * its pattern set (bus_patset: the same cost however many patterns it
 * holds, at most BUS_PATTERNS_MAX), so an event reaches a client once.
 * The listener only appends the bus's cached wire line to the output
 * buffer and puts the
 * client on the flush list; a prepare watcher of the lowest priority (so
 * it runs after the bus dispatched this iteration's batch) writes each
 * listed client once, and only a write that would block arms the write
 * watcher: one write per subscriber per loop iteration, no epoll_ctl per
 * batch. While the
 * pending output exceeds output_soft, events are counted as missed instead
 * of queued; once it drains to output_soft/2 an `events.lost` notice with
 * the seq range is sent and delivery resumes. If pending plus missed bytes
 * pass output_hard, the notice says "disconnect":true and the client is
 * closed. Memory per client stays near output_soft.
 *
 * Lifetime. A client may be dropped from inside its own callbacks (write
 * error, bus listener); `busy` counts the callbacks on the stack and the
 * memory is freed when the last one returns.
 */
#include "services/control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/fastscan.h"
#include "daemon/log.h"
#include "services/manager.h"
#include "daemon/methods-int.h"
#include "daemon/rpc.h"
#include "daemon/util.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define READ_CHUNK     65536
#define READ_ROUNDS    4
#define ACCEPT_BURST   256
#define ACCEPT_PAUSE   0.1 /* seconds, after EMFILE/ENFILE */
#define CLOSE_DEADLINE 2.0 /* seconds to flush a closing client */
#define EXIT_FLUSH_MS  200 /* shutdown.exit: synchronous flush bound */
#define HUP_CHECK      1.0 /* half-closed listeners: is the peer gone? */
/* an idle output buffer above this is freed */
#define OUT_KEEP (64 * 1024)
/* seconds a slow subscriber has to read its events.lost notice */
#define SLOW_LINGER 60.0
#define EVENT_PREFIX                                                           \
	"{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":"

#define container_of(p, type, member)                                          \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

/*
 * A reply that waits for the journal (a deferred emit, or a batch holding
 * one) and the output that followed it on the connection. The client goes on
 * reading while they wait, so every event it sends while a commit is in
 * flight goes into the next commit; replies stay in request order. When a
 * commit ends, every reply it released is moved to `out` in one pass and the
 * client is written once at the end of the loop iteration (flush_all).
 * Bounded: at most MAX_HELD per client, and their bytes count against
 * output_soft, past which the client is not read.
 */
struct held {
	struct held *next;
	uint64_t seq;
	json_t *id;     /* an emit's id */
	size_t matched; /* its listeners */
	char *text;     /* or a batch's whole reply line */
	size_t text_len;
	struct buf after; /* replies to the requests that followed */
	size_t raw_len;   /* or the emit's id as it came (fast path), in raw */
	char raw[];
};

#define MAX_HELD 1024 /* deferred replies per client */

struct ctl_client {
	ev_io rio, wio;
	ev_timer deadline;        /* closing: the flush bound */
	struct bus_waiter waiter; /* backpressure: retry the parked emit */
	int fd;
	struct buf in, out;
	size_t scan; /* bytes of `in` already searched for a newline */

	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool trusted; /* root or the daemon's uid: every access level */
	gid_t *groups;
	size_t ngroups;
	char source[64]; /* "control uid=U pid=P" */

	bool closing; /* flush, then close */
	bool shut;    /* closing and flushed: our write side is shut */
	bool eof;     /* the peer shut its write side */
	bool paused;  /* not taking requests: room on the bus */
	/* emit with a durable store's sync (the journal's sync = always): its
	 * reply, and every reply after it, waits for durability (see struct
	 * held); jwait waits for the first one's seq */
	struct bus_durable_waiter jwait;
	struct held *held_head, *held_tail;
	size_t nheld, held_bytes;
	bool throttled; /* not read: its replies are not being read, or too
	                   many wait for the journal */
	bool waiting_shutdown;
	bool dead;
	int busy;

	struct bus_listener *listener;
	struct bus_patset *patterns; /* NULL: every event */
	bool missing;
	uint64_t miss_from, miss_to, miss_count, miss_bytes;

	struct ctl_client *prev, *next;
	struct ctl_client *flush_next; /* on ctl.flush_head (holds a busy) */
	bool flush_queued;
};

static struct {
	struct svc *self;
	struct ev_loop *loop;
	bool running;
	int lfd;
	bool activated;
	char *path; /* the socket file we created, unlinked at stop */
	dev_t dev;
	ino_t ino;
	ev_io accept_w;
	ev_timer accept_pause;
	ev_timer stop_timer; /* stopping: polls the drain */
	bool stopping;
	bool stop_drained;
	uint64_t stop_target; /* bus_last_seq when the stop began */
	int64_t stop_deadline_us;
	int reserve_fd;
	bool emfile_logged;
	struct ctl_client *clients;
	ev_prepare flush_w; /* writes the clients on flush_head */
	struct ctl_client *flush_head;
	struct control_stats st;
	struct methods_table *methods; /* gathered from the graph at init */
	/* [control] emit_group / admin_group, resolved when they change */
	char *emit_name, *admin_name;
	bool emit_ok, admin_ok;
	gid_t emit_gid, admin_gid;
} ctl = {.lfd = -1, .reserve_fd = -1};

const struct control_conf *
control_conf(void)
{
	return svc_options(ctl.self);
}

static void client_drop(struct ctl_client *c);
static void client_write(struct ctl_client *c);
static void queue_flush(struct ctl_client *c);
static void process_input(struct ctl_client *c);
static const struct svc_transport transport;
static void unsubscribe(struct ctl_client *c);
static void stop_tick_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- stats -------------------------------------------------------------- */

void
control_get_stats(struct control_stats *out)
{
	*out = ctl.st;
}

json_t *
control_stats_json(void)
{
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I}", "clients",
	    (json_int_t)ctl.st.clients, "accepted", (json_int_t)ctl.st.accepted,
	    "requests", (json_int_t)ctl.st.requests, "errors",
	    (json_int_t)ctl.st.errors, "rejected", (json_int_t)ctl.st.rejected,
	    "disconnected_slow", (json_int_t)ctl.st.disconnected_slow);
}

/* ---- access ------------------------------------------------------------- */

/* Re-resolve a group name when the configuration changed it. */
static void
resolve_group(const char *want, char **name, bool *ok, gid_t *gid,
              const char *key)
{
	if ((!want && !*name) || (want && *name && strcmp(want, *name) == 0))
		return;
	free(*name);
	*name = want ? xstrdup(want) : NULL;
	*ok = false;
	if (!want)
		return;
	struct group *gr = getgrnam(want);
	if (!gr) {
		log_warn("control: unknown group '%s' in [control] %s; nobody "
		         "gets that access through it",
		         want, key);
		return;
	}
	*gid = gr->gr_gid;
	*ok = true;
}

static void
resolve_groups(void)
{
	const struct control_conf *cf = control_conf();

	resolve_group(cf->emit_group, &ctl.emit_name, &ctl.emit_ok,
	              &ctl.emit_gid, "emit_group");
	resolve_group(cf->admin_group, &ctl.admin_name, &ctl.admin_ok,
	              &ctl.admin_gid, "admin_group");
}

static bool
client_in_group(const struct ctl_client *c, gid_t g)
{
	if (c->gid == g)
		return true;
	for (size_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g)
			return true;
	return false;
}

static bool
client_allowed(struct ctl_client *c, enum svc_access a)
{
	if (a == SVC_ACCESS_READ || c->trusted)
		return true;
	resolve_groups();
	if (a == SVC_ACCESS_EMIT)
		return ctl.emit_ok && client_in_group(c, ctl.emit_gid);
	return ctl.admin_ok && client_in_group(c, ctl.admin_gid);
}

static const char *
client_source(const struct ctl_client *c)
{
	return c->source;
}

static unsigned long
client_uid(const struct ctl_client *c)
{
	return (unsigned long)c->uid;
}

static long
client_pid(const struct ctl_client *c)
{
	return (long)c->pid;
}

/* ---- client lifetime ---------------------------------------------------- */

static void
client_free(struct ctl_client *c)
{
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->groups);
	bus_patset_free(c->patterns);
	free(c);
}

static void
client_unbusy(struct ctl_client *c)
{
	if (--c->busy == 0 && c->dead)
		client_free(c);
}

static void progress_cb(const char *phase, const char *service,
                        const char *state, void *arg);

/* Forget the replies still waiting for the journal (the emits stay
 * accepted). */
static void
cancel_deferred(struct ctl_client *c)
{
	struct bus *b = bus_of(ctl.self);

	if (c->jwait.queued && b)
		bus_cancel_durable(b, &c->jwait);
	c->jwait.queued = false;
	while (c->held_head) {
		struct held *h = c->held_head;

		c->held_head = h->next;
		json_decref(h->id);
		free(h->text);
		buf_free(&h->after);
		free(h);
	}
	c->held_tail = NULL;
	c->nheld = c->held_bytes = 0;
}

/* Tear everything down at once; the memory goes when no callback uses it. */
static void
client_drop(struct ctl_client *c)
{
	struct bus *b = bus_of(ctl.self);

	if (c->dead)
		return;
	cancel_deferred(c);
	c->dead = true;
	ev_io_stop(ctl.loop, &c->rio);
	ev_io_stop(ctl.loop, &c->wio);
	ev_timer_stop(ctl.loop, &c->deadline);
	if (c->waiter.queued && b)
		bus_cancel_wait(b, &c->waiter);
	c->paused = false;
	unsubscribe(c);
	if (c->waiting_shutdown) {
		manager_remove_progress(progress_cb, c);
		c->waiting_shutdown = false;
	}
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl.clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl.st.clients--;
	if (!c->busy)
		client_free(c);
}

static void
start_closing(struct ctl_client *c)
{
	if (c->closing || c->dead)
		return;
	c->closing = true;
	unsubscribe(c);
	if (c->waiter.queued && bus_of(ctl.self))
		bus_cancel_wait(bus_of(ctl.self), &c->waiter);
	cancel_deferred(c);
	c->paused = false;
	ev_timer_stop(ctl.loop, &c->deadline);
	ev_timer_set(&c->deadline, CLOSE_DEADLINE, 0);
	ev_timer_start(ctl.loop, &c->deadline);
	if (!ev_is_active(&c->wio))
		ev_io_start(ctl.loop, &c->wio);
}

/* ---- writing ------------------------------------------------------------ */

/*
 * Where c's next line goes: after its last held reply, if it has one (a
 * line never overtakes a reply that came before it), else out. next_out_grew
 * counts what was put there in held_bytes.
 */
static struct buf *
next_out(struct ctl_client *c)
{
	return c->held_tail ? &c->held_tail->after : &c->out;
}

static void
next_out_grew(struct ctl_client *c, const struct buf *o, size_t before)
{
	if (o != &c->out)
		c->held_bytes += o->len - before;
}

/* The events.lost notice; a disconnecting client's goes out at once, before
 * the replies it will never get. */
static void
put_lost(struct ctl_client *c, bool disconnect)
{
	struct buf *o = disconnect ? &c->out : next_out(c);
	size_t before = o->len;

	buf_printf(o,
	           "{\"jsonrpc\":\"2.0\",\"method\":\"events.lost\",\"params\":"
	           "{\"from\":%" PRIu64 ",\"to\":%" PRIu64 ",\"count\":%" PRIu64
	           "%s}}\n",
	           c->miss_from, c->miss_to, c->miss_count,
	           disconnect ? ",\"disconnect\":true" : "");
	next_out_grew(c, o, before);
	c->missing = false;
	c->miss_from = c->miss_to = c->miss_count = c->miss_bytes = 0;
}

/* Write what can be written now; arm or disarm the write watcher. */
static void
client_write(struct ctl_client *c)
{
	while (c->out.len) {
		ssize_t n = send(c->fd, buf_head(&c->out), c->out.len,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		client_drop(c); /* EPIPE, ECONNRESET: the peer is gone */
		return;
	}
	if (c->missing && !c->closing &&
	    c->out.len <= control_conf()->output_soft / 2)
		put_lost(c, false);
	if (c->throttled && !ctl.stopping &&
	    c->out.len + c->held_bytes <= control_conf()->output_soft / 2 &&
	    c->nheld < MAX_HELD / 2) {
		c->throttled = false;
		process_input(c); /* the lines already buffered */
		if (c->dead)
			return;
		if (!c->paused && !c->closing && !c->eof && !c->throttled)
			ev_io_start(ctl.loop, &c->rio);
		if (c->out.len && !ev_is_active(&c->wio))
			ev_io_start(ctl.loop, &c->wio);
		return;
	}
	if (c->out.len) {
		if (!ev_is_active(&c->wio))
			ev_io_start(ctl.loop, &c->wio);
		return;
	}
	ev_io_stop(ctl.loop, &c->wio);
	/* a subscriber keeps up to output_soft: a busy stream refills it
	 * every iteration, and freeing it meant a malloc per iteration */
	if (c->out.cap > (c->listener ? control_conf()->output_soft : OUT_KEEP))
		buf_free(&c->out);
	if (ctl.stopping && ctl.stop_drained && !c->waiting_shutdown) {
		client_drop(c);
		return;
	}
	if (!c->closing)
		return;
	if (c->eof || !ev_is_active(&c->rio)) {
		client_drop(c);
		return;
	}
	/* Lingering close: the peer may still be writing (the rest of an
	 * oversized line); had we closed now, it would get EPIPE before
	 * reading our error. Shut our side, discard its input until it
	 * closes or the deadline. */
	if (!c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *c = w->data;

	c->busy++;
	client_write(c);
	client_unbusy(c);
}

static bool peer_hung_up(int fd);

/* Closing: the flush deadline expired. Half-closed listener: is the peer
 * still there? (Its socket is always readable at EOF, so no ev_io.) */
static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl_client *c = w->data;

	if (!c->closing) {
		if (peer_hung_up(c->fd))
			client_drop(c);
		return;
	}
	log_debug("control: dropping %s: output not flushed within 2 s",
	          c->source);
	client_drop(c);
}

/* Best effort, synchronous: the loop is about to end. */
static void
flush_sync(struct ctl_client *c, int ms)
{
	int64_t end = util_mono_us() + (int64_t)ms * 1000;

	while (c->out.len) {
		ssize_t n = send(c->fd, buf_head(&c->out), c->out.len,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return;
		int64_t left = (end - util_mono_us()) / 1000;
		if (left <= 0)
			return;
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		poll(&p, 1, (int)left);
	}
}

/* ---- shutdown --wait ---------------------------------------------------- */

static void
progress_cb(const char *phase, const char *service, const char *state,
            void *arg)
{
	struct ctl_client *c = arg;

	if (c->dead)
		return;
	if (strcmp(phase, "exit") == 0) {
		buf_puts(&c->out, "{\"jsonrpc\":\"2.0\",\"method\":"
		                  "\"shutdown.exit\",\"params\":{}}\n");
		flush_sync(c, EXIT_FLUSH_MS);
		client_drop(c);
		return;
	}
	json_t *p =
	    json_pack("{s:s, s:o, s:o}", "phase", phase, "service",
	              service ? json_string(service) : json_null(), "state",
	              state ? json_string(state) : json_null());
	struct buf *o = next_out(c);
	size_t before = o->len;

	rpc_put_notification(o, "shutdown.progress", p);
	next_out_grew(c, o, before);
	json_decref(p);
	if (!ev_is_active(&c->wio))
		ev_io_start(ctl.loop, &c->wio);
}

static void
client_wait_shutdown(struct ctl_client *c)
{
	if (c->waiting_shutdown)
		return;
	c->waiting_shutdown = true;
	manager_add_progress(progress_cb, c);
}

/* ---- subscriptions ------------------------------------------------------ */

/*
 * The events queued for a subscriber that is being disconnected, not yet
 * started on the wire, are dropped and counted as missed: what is left is
 * the line in flight, any replies and the notice, a few bytes that can wait
 * for a client that reads late. (Before, the notice sat behind up to
 * output_soft of events and was dropped with them 2 s later: a subscriber
 * that never read never learnt what it lost.)
 */
static void
drop_unsent_events(struct ctl_client *c)
{
	char *head = c->out.data + c->out.off, *end = head + c->out.len;
	size_t plen = strlen(EVENT_PREFIX);
	uint64_t first = 0, n = 0;
	char *nl, *w;

	if (!c->out.len || !(nl = memchr(head, '\n', c->out.len)))
		return;
	w = nl + 1; /* the first line may be partly sent: kept whole */
	for (char *p = nl + 1; p < end; p = nl + 1) {
		size_t len;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end - 1;
		len = (size_t)(nl + 1 - p);
		if (len > plen && memcmp(p, EVENT_PREFIX, plen) == 0) {
			if (n++ == 0)
				first = strtoull(p + plen, NULL, 10);
			continue;
		}
		memmove(w, p, len);
		w += len;
	}
	c->out.len = (size_t)(w - head);
	if (n) {
		c->miss_from = first;
		c->miss_count += n;
	}
	if (c->out.cap > OUT_KEEP) {
		struct buf small = {0};

		buf_append(&small, buf_head(&c->out), c->out.len);
		buf_free(&c->out);
		c->out = small;
	}
}

static void
disconnect_slow(struct ctl_client *c)
{
	ctl.st.disconnected_slow++;
	drop_unsent_events(c);
	log_warn("control: disconnecting %s: it stopped reading (%" PRIu64
	         " events missed, output limit %" PRIu64 " bytes)",
	         c->source, c->miss_count, control_conf()->output_hard);
	put_lost(c, true);
	start_closing(c);
	ev_timer_stop(ctl.loop, &c->deadline);
	ev_timer_set(&c->deadline, SLOW_LINGER, 0);
	ev_timer_start(ctl.loop, &c->deadline);
}

/* Queue one event for c, or count it as missed (see the note at the top). */
static void
deliver(struct ctl_client *c, const struct bus_event *ev)
{
	const struct control_conf *cf = control_conf();
	size_t len;
	const char *wire;

	if (c->closing || c->dead)
		return;
	wire = bus_event_wire(ev, &len);
	if (!c->missing && c->out.len + c->held_bytes > cf->output_soft) {
		c->missing = true;
		c->miss_from = ev->seq;
		c->miss_count = c->miss_bytes = 0;
	}
	if (c->missing) {
		c->miss_to = ev->seq;
		c->miss_count++;
		c->miss_bytes += len;
		if (c->out.len + c->miss_bytes > cf->output_hard)
			disconnect_slow(c);
		return;
	}
	if (c->held_tail) {
		/* after the replies held for the journal (the subscribe's
		 * among them: its events never come before it) */
		struct buf *o = next_out(c);
		size_t before = o->len;

		buf_append(o, wire, len);
		next_out_grew(c, o, before);
		return;
	}
	buf_append(&c->out, wire, len);
	if (!ev_is_active(&c->wio))
		queue_flush(c);
}

/* Write every listed client once (end of the loop iteration). */
static void
flush_all(void)
{
	while (ctl.flush_head) {
		struct ctl_client *c = ctl.flush_head;

		ctl.flush_head = c->flush_next;
		c->flush_next = NULL;
		c->flush_queued = false;
		if (!c->dead && c->out.len && !ev_is_active(&c->wio))
			client_write(c);
		client_unbusy(c);
	}
}

static void
flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	flush_all();
}

static void
queue_flush(struct ctl_client *c)
{
	if (c->flush_queued)
		return;
	if (!ev_is_active(&ctl.flush_w)) { /* not running: write now */
		ev_io_start(ctl.loop, &c->wio);
		return;
	}
	c->flush_queued = true;
	c->busy++;
	c->flush_next = ctl.flush_head;
	ctl.flush_head = c;
}

static bool
client_wants(const struct ctl_client *c, const struct bus_event *ev)
{
	return !c->patterns ||
	       bus_patset_match(c->patterns, ev->name, ev->name_len);
}

static int
on_event(const struct bus_event *ev, void *arg)
{
	struct ctl_client *c = arg;

	if (client_wants(c, ev))
		deliver(c, ev);
	return 0;
}

struct replay {
	struct ctl_client *c;
	uint64_t upto;
};

static void
replay_cb(const struct bus_event *ev, void *arg)
{
	struct replay *r = arg;

	if (ev->seq <= r->upto && client_wants(r->c, ev))
		deliver(r->c, ev);
}

static void
unsubscribe(struct ctl_client *c)
{
	struct bus *b = bus_of(ctl.self);

	if (c->listener && b)
		bus_unlisten(b, c->listener);
	c->listener = NULL;
}

static void
client_subscribe(struct ctl_client *c, const char *const *patterns, size_t n,
                 bool replay, uint64_t since, uint64_t upto)
{
	struct bus *b = bus_of(ctl.self);

	if (!b || c->closing || c->dead)
		return;
	bus_patset_free(c->patterns);
	/* validated and bounded by the caller */
	c->patterns = n ? bus_patset_new(patterns, n) : NULL;
	if (replay && since < upto) {
		uint64_t first = bus_history_first(b);
		struct replay r = {c, upto};

		/* Events already gone from the history ring: say so. */
		if (!first || first > since + 1) {
			c->missing = true;
			c->miss_from = since + 1;
			c->miss_to = first ? first - 1 : upto;
			c->miss_count = c->miss_to - c->miss_from + 1;
			put_lost(c, false);
		}
		/* replay_cb filters with the set, cheaply per event */
		bus_history(b, since, 0, NULL, 0, replay_cb, &r);
	}
	if (!c->listener && !c->closing)
		c->listener = bus_listen(b, "*", on_event, c);
}

static bool
client_unsubscribe(struct ctl_client *c)
{
	bool was = c->listener != NULL;

	unsubscribe(c);
	return was;
}

/* ---- reading ------------------------------------------------------------ */

static void
too_large(struct ctl_client *c)
{
	char msg[96];

	snprintf(msg, sizeof(msg),
	         "request line too long (max %" PRIu64 " bytes)",
	         control_conf()->max_request);
	rpc_put_error(&c->out, NULL, RPC_TOO_LARGE, msg);
	ctl.st.errors++;
	ctl.st.requests++;
	buf_reset(&c->in);
	c->scan = 0;
	start_closing(c);
}

static bool
blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* The peer is fully gone (not just half-closed)? */
static bool
peer_hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/* Input ended and every line was handled: close once flushed, unless the
 * client still listens (subscription, shutdown --wait) on a half-close. */
static void
finish_eof(struct ctl_client *c)
{
	if (peer_hung_up(c->fd)) {
		client_drop(c);
		return;
	}
	if (c->listener || c->waiting_shutdown) {
		ev_timer_set(&c->deadline, HUP_CHECK, HUP_CHECK);
		ev_timer_start(ctl.loop, &c->deadline);
		return;
	}
	start_closing(c);
}

static void
pause_client(struct ctl_client *c)
{
	c->paused = true;
	ev_io_stop(ctl.loop, &c->rio);
	bus_wait_room(bus_of(ctl.self), &c->waiter);
}

/* Dispatch every complete line, in order, until paused or closing. */
static void
process_input(struct ctl_client *c)
{
	uint64_t max = control_conf()->max_request;

	while (!c->closing && !c->paused && !c->dead && ctl.methods) {
		const char *head = buf_head(&c->in);

		/* Replies pile up unread: stop taking requests until they
		 * drain (client_write resumes), so memory stays bounded. */
		if (c->out.len + c->held_bytes > control_conf()->output_soft ||
		    c->nheld >= MAX_HELD) {
			c->throttled = true;
			ev_io_stop(ctl.loop, &c->rio);
			break;
		}
		const char *nl =
		    c->in.len > c->scan
		        ? memchr(head + c->scan, '\n', c->in.len - c->scan)
		        : NULL;

		if (!nl) {
			c->scan = c->in.len;
			if (c->in.len > max)
				too_large(c);
			break;
		}
		size_t linelen = (size_t)(nl - head);
		size_t len = linelen;

		if (linelen > max) {
			too_large(c);
			break;
		}
		if (len && head[len - 1] == '\r')
			len--;
		if (!blank(head, len)) {
			/* behind a held reply: its reply goes after it */
			struct buf *o = next_out(c);
			size_t before = o->len;
			enum methods_outcome o_ = methods_dispatch(
			    ctl.methods, &transport, c, head, len, o);

			next_out_grew(c, o, before);

			if (o_ == METHODS_PENDING) {
				pause_client(c);
				break;
			}
			/* METHODS_DEFERRED: the reply comes once durable;
			 * the next lines are taken meanwhile */
			ctl.st.requests++;
			if (o_ == METHODS_ERROR)
				ctl.st.errors++;
		}
		buf_consume(&c->in, linelen + 1);
		c->scan = 0;
	}
	if (c->eof && !c->paused && !c->closing && !c->dead && !c->in.len &&
	    !c->held_head)
		finish_eof(c);
}

static void
client_eof(struct ctl_client *c)
{
	c->eof = true;
	ev_io_stop(ctl.loop, &c->rio);
	/* A last line without its newline still counts. */
	if (c->in.len && buf_head(&c->in)[c->in.len - 1] != '\n')
		buf_putc(&c->in, '\n');
	process_input(c);
}

/* Closing: read and throw away (bounded), until EOF or the deadline. */
static void
discard_input(struct ctl_client *c)
{
	static char sink[READ_CHUNK];

	for (int round = 0; round < READ_ROUNDS; round++) {
		ssize_t n = read(c->fd, sink, sizeof(sink));

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			client_drop(c);
		return;
	}
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *c = w->data;

	if (c->closing) {
		c->busy++;
		discard_input(c);
		client_unbusy(c);
		return;
	}
	c->busy++;
	for (int round = 0; round < READ_ROUNDS; round++) {
		if (c->closing || c->paused || c->dead || c->eof ||
		    c->throttled)
			break;
		buf_reserve(&c->in, READ_CHUNK);
		ssize_t n =
		    read(c->fd, c->in.data + c->in.off + c->in.len, READ_CHUNK);
		if (n > 0) {
			c->in.len += (size_t)n;
			process_input(c);
			if ((size_t)n < READ_CHUNK)
				break; /* drained: no read just for EAGAIN */
			continue;
		}
		if (n == 0) {
			client_eof(c);
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			client_drop(c); /* ECONNRESET: gone */
		break;
	}
	/* Replies go out at the end of the loop iteration, with every other
	 * client's: a client woken once per iteration, not once per reply
	 * while we are still reading the others (cross-core wake-ups cost
	 * more than the writes). */
	if (!c->dead && c->out.len && !c->closing)
		queue_flush(c);
	else if (!c->dead)
		client_write(c);
	client_unbusy(c);
}

/* The bus has room again: retry the parked line, then the rest. */
/* Take requests again after a pause: the buffered lines first. */
static void
resume_client(struct ctl_client *c)
{
	c->busy++;
	c->paused = false;
	process_input(c);
	if (!c->dead && !c->paused && !c->closing && !c->eof && !c->throttled)
		ev_io_start(ctl.loop, &c->rio);
	if (!c->dead)
		client_write(c);
	client_unbusy(c);
}

static void
waiter_cb(struct bus_waiter *w)
{
	struct ctl_client *c = container_of(w, struct ctl_client, waiter);

	if (c->dead)
		return;
	resume_client(c);
}

/* h's reply into c->out: status 0 (durable) or -1 (cause). */
static void
put_held(struct ctl_client *c, const struct held *h, int status,
         const char *cause)
{
	if (h->text && status == 0) {
		buf_append(&c->out, h->text, h->text_len);
	} else if (h->text) {
		char *msg = xasprintf("the batch's events up to %" PRIu64
		                      " were accepted but are not durable: %s",
		                      h->seq, cause ? cause : "unknown error");
		rpc_put_error(&c->out, NULL, RPC_INTERNAL, msg);
		free(msg);
		ctl.st.errors++;
	} else if (status == 0 && h->raw_len) {
		/* as the fast path answers: the id's own bytes */
		buf_append(&c->out, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
		buf_append(&c->out, h->raw, h->raw_len);
		buf_puts(&c->out, ",\"result\":{\"seq\":");
		buf_put_u64(&c->out, h->seq);
		buf_puts(&c->out, ",\"listeners\":");
		buf_put_u64(&c->out, h->matched);
		buf_puts(&c->out, "}}\n");
	} else if (status == 0) {
		rpc_put_head(&c->out, h->id);
		buf_printf(&c->out, "{\"seq\":%" PRIu64 ",\"listeners\":%zu}",
		           h->seq, h->matched);
		rpc_put_tail(&c->out);
	} else {
		char *msg = xasprintf("event %" PRIu64 " was accepted but is "
		                      "not durable: %s",
		                      h->seq, cause ? cause : "unknown error");
		json_t *id = h->raw_len ? json_loadb(h->raw, h->raw_len,
		                                     JSON_DECODE_ANY, NULL)
		                        : json_incref(h->id);

		rpc_put_error(&c->out, id, RPC_INTERNAL, msg);
		json_decref(id);
		free(msg);
		ctl.st.errors++;
	}
	buf_append(&c->out, buf_head(&h->after), h->after.len);
}

/*
 * The journal got as far as w->seq (the first held reply's): answer every
 * held reply whose commit has ended, in order, with what followed it; wait
 * again for the first one left. Written at the end of the loop iteration.
 */
static void
durable_cb(struct bus_durable_waiter *w, int status, const char *cause)
{
	struct ctl_client *c = container_of(w, struct ctl_client, jwait);
	struct bus *b = bus_of(ctl.self);
	struct held *h;

	if (c->dead || c->closing)
		return;
	c->busy++;
	while ((h = c->held_head)) {
		char *why = NULL;
		int st = status;

		if (h->seq > w->seq && h->seq > w->durable) {
			st = b ? bus_durable_status(b, h->seq, &why) : -1;
			if (st > 0)
				break; /* not yet */
		}
		put_held(c, h, st, why ? why : cause);
		free(why);
		c->held_head = h->next;
		c->nheld--;
		c->held_bytes -= h->text_len + h->after.len;
		json_decref(h->id);
		free(h->text);
		buf_free(&h->after);
		free(h);
	}
	if (!c->held_head) {
		c->held_tail = NULL;
	} else if (b) {
		c->jwait.seq = c->held_head->seq;
		bus_when_durable(b, &c->jwait);
	}
	if (c->out.len)
		queue_flush(c); /* unthrottles once written (client_write) */
	if (!c->held_head && c->eof && !c->paused && !c->in.len &&
	    !c->throttled)
		finish_eof(c);
	client_unbusy(c);
}

/* Hold a reply until seq is durable (text: a batch's line, else an emit's
 * reply from id and matched). */
static int
client_hold(struct ctl_client *c, json_t *id, const char *raw, size_t raw_len,
            size_t matched, const struct buf *text, uint64_t seq)
{
	struct bus *b = bus_of(ctl.self);
	struct held *h;

	if (!b || !bus_sync_durable(b))
		return -1;
	h = xcalloc(1, sizeof(*h) + raw_len);
	h->seq = seq;
	if (raw) {
		memcpy(h->raw, raw, raw_len);
		h->raw_len = raw_len;
		h->matched = matched;
	} else if (text) {
		h->text = xmalloc(text->len);
		memcpy(h->text, buf_head(text), text->len);
		h->text_len = text->len;
	} else {
		h->id = json_incref(id);
		h->matched = matched;
	}
	c->nheld++;
	c->held_bytes += h->text_len;
	if (c->held_tail) {
		c->held_tail->next = h;
		c->held_tail = h;
		return 0; /* the waiter waits for the first one */
	}
	c->held_head = c->held_tail = h;
	c->jwait.fn = durable_cb;
	c->jwait.seq = seq;
	bus_when_durable(b, &c->jwait);
	return 0;
}

static int
client_defer_emit(struct ctl_client *c, json_t *id, uint64_t seq,
                  size_t matched)
{
	return client_hold(c, id, NULL, 0, matched, NULL, seq);
}

static int
client_defer_raw(struct ctl_client *c, const char *id, size_t id_len,
                 uint64_t seq, size_t matched)
{
	return client_hold(c, NULL, id, id_len, matched, NULL, seq);
}

static int
client_defer_text(struct ctl_client *c, const struct buf *text, uint64_t seq)
{
	return client_hold(c, NULL, NULL, 0, 0, text, seq);
}

/* ---- the transport the methods see ------------------------------------- */

static bool
t_allowed(void *conn, enum svc_access a)
{
	return client_allowed(conn, a);
}

static const char *
t_source(void *conn)
{
	return client_source(conn);
}

static unsigned long
t_uid(void *conn)
{
	return client_uid(conn);
}

static long
t_pid(void *conn)
{
	return client_pid(conn);
}

static void
t_subscribe(void *conn, const char *const *patterns, size_t n, bool replay,
            uint64_t since, uint64_t upto)
{
	client_subscribe(conn, patterns, n, replay, since, upto);
}

static bool
t_unsubscribe(void *conn)
{
	return client_unsubscribe(conn);
}

static int
t_defer_emit(void *conn, json_t *id, uint64_t seq, size_t matched)
{
	return client_defer_emit(conn, id, seq, matched);
}

static int
t_defer_raw(void *conn, const char *id, size_t id_len, uint64_t seq,
            size_t matched)
{
	return client_defer_raw(conn, id, id_len, seq, matched);
}

static int
t_defer_text(void *conn, const struct buf *text, uint64_t seq)
{
	return client_defer_text(conn, text, seq);
}

static void
t_wait_shutdown(void *conn)
{
	client_wait_shutdown(conn);
}

static const struct svc_transport transport = {
    .allowed = t_allowed,
    .source = t_source,
    .uid = t_uid,
    .pid = t_pid,
    .subscribe = t_subscribe,
    .unsubscribe = t_unsubscribe,
    .defer_emit = t_defer_emit,
    .defer_raw = t_defer_raw,
    .defer_text = t_defer_text,
    .wait_shutdown = t_wait_shutdown,
    .shutting_down = manager_shutting_down,
};

/* ---- accepting ---------------------------------------------------------- */

static void
refuse(int fd, enum rpc_err e, const char *msg)
{
	struct buf b = {0};

	rpc_put_error(&b, NULL, e, msg);
	if (send(fd, buf_head(&b), b.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("control: could not tell a refused client why: %s",
		          strerror(errno));
	buf_free(&b);
	close(fd);
}

static void
peer_creds(struct ctl_client *c)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
		c->uid = cr.uid;
		c->gid = cr.gid;
		c->pid = cr.pid;
	} else {
		/* Never happens on AF_UNIX; deny everything but reads. */
		c->uid = (uid_t)-1;
		c->gid = (gid_t)-1;
		c->pid = 0;
	}
	/* fixed for the connection (the groups are not: a reload may change
	 * emit_group and admin_group) */
	c->trusted = c->uid == 0 || c->uid == geteuid();
	len = 16 * sizeof(gid_t);
	c->groups = xmalloc(len);
	while (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) <
	       0) {
		if (errno != ERANGE) {
			len = 0; /* old kernel: the primary group only */
			break;
		}
		c->groups = xrealloc(c->groups, len);
	}
	c->ngroups = len / sizeof(gid_t);
	snprintf(c->source, sizeof(c->source), "control uid=%lu pid=%ld",
	         (unsigned long)c->uid, (long)c->pid);
}

static void
client_new(int fd)
{
	struct ctl_client *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	peer_creds(c);
	ev_io_init(&c->rio, read_cb, fd, EV_READ);
	ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
	ev_timer_init(&c->deadline, deadline_cb, CLOSE_DEADLINE, 0);
	c->rio.data = c->wio.data = c->deadline.data = c;
	c->waiter.fn = waiter_cb;
	c->next = ctl.clients;
	if (c->next)
		c->next->prev = c;
	ctl.clients = c;
	ctl.st.clients++;
	ctl.st.accepted++;
	ev_io_start(ctl.loop, &c->rio);
	log_debug("control: client connected (%s)", c->source);
}

static void
pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (ctl.lfd >= 0)
		ev_io_start(ctl.loop, &ctl.accept_w);
}

/* Out of descriptors: refuse one connection with the reserve fd, pause. */
static void
accept_emfile(int err)
{
	if (!ctl.emfile_logged)
		log_warn("control: cannot accept connections: %s; pausing for "
		         "100 ms",
		         strerror(err));
	ctl.emfile_logged = true;
	if (ctl.reserve_fd >= 0) {
		close(ctl.reserve_fd);
		ctl.reserve_fd = -1;
		int fd = accept4(ctl.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			refuse(fd, RPC_BUSY,
			       "svcd is out of file descriptors, "
			       "try again later");
		ctl.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	ev_io_stop(ctl.loop, &ctl.accept_w);
	ev_timer_set(&ctl.accept_pause, ACCEPT_PAUSE, 0);
	ev_timer_start(ctl.loop, &ctl.accept_pause);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		int fd =
		    accept4(ctl.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				accept_emfile(errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn_errno("control: accept");
			return;
		}
		ctl.emfile_logged = false;
		if (ctl.st.clients >= control_conf()->max_clients) {
			char msg[64];

			snprintf(msg, sizeof(msg), "too many clients (max %u)",
			         control_conf()->max_clients);
			refuse(fd, RPC_BUSY, msg);
			ctl.st.rejected++;
			continue;
		}
		client_new(fd);
	}
}

/* ---- test hook (tests/fuzz) ---------------------------------------------- */

/*
 * Not used by svcd itself: the request fuzzer hands the control service
 * one end of a socketpair as if accept had returned it, so a request line
 * travels the real read -> dispatch -> write path without a listening
 * socket, and drops every client after each input so no state is carried.
 */
void
ctl_test_adopt(int fd)
{
	client_new(fd);
}

void
ctl_test_drop_all(void)
{
	while (ctl.clients)
		client_drop(ctl.clients);
}

/* ---- the listening socket ----------------------------------------------- */

/* The fd systemd handed over (LISTEN_FDS), or -1. */
static int
activated_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	uint64_t p, n;
	int type = 0;
	socklen_t len = sizeof(type);

	if (!pid || !fds || util_parse_uint(pid, INT32_MAX, &p, NULL) < 0 ||
	    (pid_t)p != getpid() || util_parse_uint(fds, 1024, &n, NULL) < 0)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n < 1)
		return -1;
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM) {
		log_warn("control: LISTEN_FDS set but fd 3 is not a stream "
		         "socket; ignoring it");
		return -1;
	}
	if (util_set_nonblock(3) < 0)
		return -1;
	return 3;
}

/*
 * [control] group under socket activation. The inherited socket's file is
 * given that group, its mode kept, when svcd may do so (it runs as root, or
 * it owns the file and is a member of the group). Otherwise the start is
 * refused (a configuration error: exit 78) naming SocketGroup=, since the
 * operator asked for access that svcd cannot grant. No [control] group, or
 * the file already has it: nothing to do.
 */
static int
activated_group(struct svc *self, int fd, char **cause)
{
	const char *want = control_conf()->group;
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	char path[sizeof(sa.sun_path) + 1];
	char have[32];
	struct group *gr;
	struct stat st;
	size_t n;
	int err;

	if (!want)
		return 0;
	gr = getgrnam(want);
	if (!gr) {
		*cause =
		    xasprintf("unknown group '%s' in [control] group", want);
		goto refuse;
	}
	gid_t gid = gr->gr_gid;

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
	    sa.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path) ||
	    sa.sun_path[0] == '\0') {
		*cause = xasprintf("[control] group '%s' but the inherited "
		                   "socket is not a socket file: set "
		                   "SocketGroup=%s in svcd.socket or remove "
		                   "[control] group",
		                   want, want);
		goto refuse;
	}
	n = len - offsetof(struct sockaddr_un, sun_path);
	memcpy(path, sa.sun_path, n);
	path[n] = '\0';
	errno = 0;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		const char *why =
		    errno ? strerror(errno) : "it is not a socket any more";

		*cause = xasprintf("[control] group '%s' but the inherited "
		                   "socket's file %s cannot be used (%s): set "
		                   "SocketGroup=%s in svcd.socket or remove "
		                   "[control] group",
		                   want, path, why, want);
		goto refuse;
	}
	if (st.st_gid == gid)
		return 0;
	gr = getgrgid(st.st_gid);
	if (gr)
		snprintf(have, sizeof(have), "%s", gr->gr_name);
	else
		snprintf(have, sizeof(have), "%lu", (unsigned long)st.st_gid);
	if (lchown(path, (uid_t)-1, gid) < 0) {
		err = errno;
		*cause = xasprintf(
		    "[control] group '%s' but the inherited socket %s "
		    "belongs to group '%s' and cannot be changed (%s): set "
		    "SocketGroup=%s in svcd.socket or remove [control] group",
		    want, path, have,
		    strerrorname_np(err) ? strerrorname_np(err) : strerror(err),
		    want);
		goto refuse;
	}
	/* a chown may clear set-id bits; the socket keeps its mode */
	(void)fchmodat(AT_FDCWD, path, st.st_mode & 07777, 0);
	log_info("control: gave the inherited socket %s to group '%s' (was "
	         "'%s'), as [control] group says",
	         path, want, have);
	return 0;

refuse:
	svc_refuse_config(self);
	return -1;
}

/* Is a live server behind this socket file? */
static int
probe(const struct sockaddr_un *sa, const char *path, char **cause)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc, err;

	if (fd < 0) {
		*cause =
		    xasprintf("cannot create a socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
		*cause =
		    xasprintf("another svcd is already listening on %s", path);
		return -1;
	}
	if (err == ECONNREFUSED) {
		log_info("control: removing stale socket %s", path);
		if (unlink(path) < 0 && errno != ENOENT) {
			*cause = xasprintf("cannot remove stale socket %s: %s",
			                   path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (err == ENOENT)
		return 0;
	*cause = xasprintf("cannot check %s: %s", path, strerror(err));
	return -1;
}

static int
listen_path(const char *path, char **cause)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc, err;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*cause = xasprintf("socket path too long (max %zu bytes): %s",
		                   sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			*cause = xasprintf("refusing to use %s: it is a "
			                   "symbolic link",
			                   path);
			return -1;
		}
		if (!S_ISSOCK(st.st_mode)) {
			*cause = xasprintf("refusing to use %s: it exists and "
			                   "is not a socket",
			                   path);
			return -1;
		}
		if (probe(&sa, path, cause) < 0)
			return -1;
	} else if (errno != ENOENT) {
		*cause = xasprintf("cannot use %s: %s", path, strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*cause =
		    xasprintf("cannot create a socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	err = errno;
	umask(old);
	if (rc < 0) {
		*cause = xasprintf("cannot bind %s: %s", path, strerror(err));
		goto out_close;
	}
	if (chmod(path, 0660) < 0) {
		*cause =
		    xasprintf("cannot chmod %s: %s", path, strerror(errno));
		goto out_unlink;
	}
	if (control_conf()->group) {
		struct group *gr = getgrnam(control_conf()->group);

		if (!gr) {
			*cause = xasprintf("unknown group '%s' in [control] "
			                   "group",
			                   control_conf()->group);
			goto out_unlink;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			*cause =
			    xasprintf("cannot give %s to group '%s': %s", path,
			              control_conf()->group, strerror(errno));
			goto out_unlink;
		}
	}
	if (listen(fd, SOMAXCONN) < 0) {
		*cause =
		    xasprintf("cannot listen on %s: %s", path, strerror(errno));
		goto out_unlink;
	}
	if (stat(path, &st) == 0) {
		ctl.dev = st.st_dev;
		ctl.ino = st.st_ino;
	}
	ctl.path = xstrdup(path);
	return fd;

out_unlink:
	unlink(path);
out_close:
	close(fd);
	return -1;
}

/* Remove the socket file only if it is still the one we created. */
static void
unlink_ours(void)
{
	struct stat st;

	if (!ctl.path)
		return;
	if (lstat(ctl.path, &st) == 0 && st.st_dev == ctl.dev &&
	    st.st_ino == ctl.ino)
		unlink(ctl.path);
	free(ctl.path);
	ctl.path = NULL;
}

/* ---- the transport's own methods ---------------------------------------- */

#define PROTOCOL_VERSION 1

static const struct svc_reply *
m_hello(struct svc *self, struct svc_call *q)
{
	(void)self;
	return svc_call_ok(q, json_pack("{s:s, s:s, s:i, s:I, s:o}", "name",
	                                "svcd", "version", SVCD_VERSION,
	                                "protocol", PROTOCOL_VERSION, "pid",
	                                (json_int_t)getpid(), "methods",
	                                methods_names(ctl.methods)));
}

static const struct svc_reply *
m_ping(struct svc *self, struct svc_call *q)
{
	(void)self;
	return svc_call_ok(q, json_pack("{s:b}", "pong", 1));
}

/* ping's fast handler: the central checks passed (no params), answer. */
static int
f_ping(struct svc *self, struct svc_call *q, const struct fastscan_req *f,
       const struct fastscan_member *const *p, struct buf *out)
{
	static const char tail[] = "{\"pong\":true}}\n";
	char *w = svc_fast_head(out, f, sizeof(tail) - 1);

	if (w) {
		memcpy(w, tail, sizeof(tail) - 1);
		svc_fast_end(out, w + sizeof(tail) - 1);
	}
	return METHODS_OK;
}

/*
 * The framework's own fields, then one member per service that has
 * figures, named after it (in table order), null while it is not running.
 */
static const struct svc_reply *
m_status(struct svc *self, struct svc_call *q)
{
	struct svc_graph *g = svc_graph(self);
	size_t n = svc_graph_count(g), running = 0, failed = 0, blocked = 0,
	       degraded = 0;
	int64_t boot = svc_graph_started_at_us(g);
	json_t *res;

	for (size_t i = 0; i < n; i++) {
		struct svc *s = svc_graph_at(g, i);

		/* as `services` and `health` name them */
		switch (svc_reported_state(s)) {
		case SVC_RUNNING:
			running++;
			if (svc_degraded(s))
				degraded++;
			break;
		case SVC_FAILED: failed++; break;
		case SVC_BLOCKED: blocked++; break;
		default: break;
		}
	}
	res = json_pack(
	    "{s:s, s:I, s:I, s:s, s:{s:I, s:I, s:I, s:I, s:I}}", "version",
	    SVCD_VERSION, "pid", (json_int_t)getpid(), "uptime_s",
	    (json_int_t)(boot ? (util_now_us() - boot) / 1000000 : 0), "state",
	    manager_shutting_down() ? "stopping" : "running", "services",
	    "total", (json_int_t)n, "running", (json_int_t)running, "failed",
	    (json_int_t)failed, "blocked", (json_int_t)blocked, "degraded",
	    (json_int_t)degraded);
	for (size_t idx = 0; idx < n; idx++)
		for (size_t i = 0; i < n; i++) {
			struct svc *s = svc_graph_at(g, i);
			const struct svc_desc *d = svc_desc(s);
			json_t *fig;

			if (svc_index(s) != idx || !d->figures)
				continue;
			fig =
			    svc_state(s) == SVC_RUNNING ? d->figures(s) : NULL;
			json_object_set_new(res, d->name,
			                    fig ? fig : json_null());
		}
	return svc_call_ok(q, res);
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static const struct svc_reply *
m_services(struct svc *self, struct svc_call *q)
{
	struct svc_graph *g = svc_graph(self);
	json_t *arr = json_array();

	for (size_t i = 0; i < svc_graph_count(g); i++) {
		struct svc_info in;
		json_t *req = json_array();

		svc_get_info(svc_graph_at(g, i), &in);
		for (const char *const *r = in.requires; *r; r++)
			json_array_append_new(req, json_string(*r));
		/* the state health reports (degraded included); order
		 * counts from 1 as --print-graph does */
		json_array_append_new(
		    arr,
		    json_pack("{s:s, s:o, s:s, s:I, s:o, s:o}", "name", in.name,
		              "requires", req, "state",
		              svc_state_word(svc_graph_at(g, i)), "order",
		              (json_int_t)in.order + 1, "init_ms",
		              in.init_ms >= 0
		                  ? json_real(round(in.init_ms * 1e3) / 1e3)
		                  : json_null(),
		              "error", str_or_null(in.error)));
	}
	return svc_call_ok(q, json_pack("{s:o}", "services", arr));
}

static const struct svc_method control_methods[] = {
    {.name = "hello",
     .fn = m_hello,
     .access = SVC_ACCESS_READ,
     .doc = "name, version, protocol, pid and the methods"},
    {.name = "ping",
     .fn = m_ping,
     .fast = f_ping,
     .access = SVC_ACCESS_READ,
     .doc = "{\"pong\": true}"},
    {.name = "status",
     .fn = m_status,
     .access = SVC_ACCESS_READ,
     .doc = "the daemon's state and every service's figures"},
    {.name = "services",
     .fn = m_services,
     .access = SVC_ACCESS_READ,
     .doc = "the graph: requires, state, order, init time, error"},
};

static json_t *
control_figures(struct svc *self)
{
	(void)self;
	return control_stats_json();
}

/* `svcctl metrics`: the figures' types and help (daemon/service.h). */
static const struct svc_metric control_metrics[] = {
    {.figure = "clients",
     .type = SVC_METRIC_GAUGE,
     .help = "control clients connected now"},
    {.figure = "accepted",
     .type = SVC_METRIC_COUNTER,
     .help = "control connections accepted"},
    {.figure = "requests",
     .type = SVC_METRIC_COUNTER,
     .help = "control requests handled"},
    {.figure = "errors",
     .type = SVC_METRIC_COUNTER,
     .help = "control requests answered with an error"},
    {.figure = "rejected",
     .type = SVC_METRIC_COUNTER,
     .help = "control connections refused (max_clients)"},
    {.figure = "disconnected_slow",
     .type = SVC_METRIC_COUNTER,
     .help = "control clients disconnected for not reading"},
};

/* ---- the service -------------------------------------------------------- */

static int
control_init(struct svc *self, char **cause)
{
	const char *path;

	memset(&ctl.st, 0, sizeof(ctl.st));
	ctl.methods = methods_table_new(svc_graph(self), cause);
	if (!ctl.methods)
		return -1;
	ctl.self = self;
	path = control_conf()->socket;
	ctl.loop = svc_loop(self);
	ctl.clients = NULL;
	ctl.emfile_logged = false;
	ctl.activated = false;
	ctl.lfd = activated_fd();
	if (ctl.lfd >= 0) {
		ctl.activated = true;
		log_info("control: listening on the socket passed by systemd "
		         "(socket activation, fd %d)",
		         ctl.lfd);
		if (activated_group(self, ctl.lfd, cause) < 0) {
			close(ctl.lfd);
			ctl.lfd = -1;
			goto out_free_methods;
		}
	} else {
		if (!path || !*path) {
			*cause = xstrdup("no control socket configured");
			goto out_free_methods;
		}
		ctl.lfd = listen_path(path, cause);
		if (ctl.lfd < 0)
			goto out_free_methods;
		log_info("control: listening on %s", path);
	}
	ctl.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	resolve_groups();
	ev_io_init(&ctl.accept_w, accept_cb, ctl.lfd, EV_READ);
	ev_timer_init(&ctl.accept_pause, pause_cb, ACCEPT_PAUSE, 0);
	ev_timer_init(&ctl.stop_timer, stop_tick_cb, 0.005, 0.005);
	ctl.stopping = false;
	ev_io_start(ctl.loop, &ctl.accept_w);
	ctl.flush_head = NULL;
	ev_prepare_init(&ctl.flush_w, flush_cb);
	ev_set_priority(&ctl.flush_w, EV_MINPRI);
	ev_prepare_start(ctl.loop, &ctl.flush_w);
	ev_unref(ctl.loop); /* never keeps the loop alive by itself */
	ctl.running = true;
	return 0;

out_free_methods:
	methods_table_free(ctl.methods);
	ctl.methods = NULL;
	return -1;
}

static int
control_ping(struct svc *self, char **cause)
{
	if (!ctl.running || ctl.lfd < 0) {
		*cause = xstrdup("the control socket is not open");
		return -1;
	}
	return 0;
}

/* Kept across the stop: shutdown --wait clients, until the "exit". */
static bool
kept(const struct ctl_client *c)
{
	return c->waiting_shutdown && manager_shutting_down();
}

static void
stop_finish(void)
{
	struct ctl_client *c, *next;

	ev_timer_stop(ctl.loop, &ctl.stop_timer);
	flush_all();
	if (ev_is_active(&ctl.flush_w)) {
		ev_ref(ctl.loop);
		ev_prepare_stop(ctl.loop, &ctl.flush_w);
	}
	for (c = ctl.clients; c; c = next) {
		next = c->next;
		unsubscribe(c);
		if (!kept(c))
			client_drop(c);
	}
	free(ctl.emit_name);
	free(ctl.admin_name);
	ctl.emit_name = ctl.admin_name = NULL;
	ctl.emit_ok = ctl.admin_ok = false;
	ctl.stopping = false;
	ctl.running = false;
	methods_table_free(ctl.methods);
	ctl.methods = NULL;
}

/*
 * Stop, phase 2 and 3: once the bus dispatched every event accepted before
 * the stop (so subscribers get all of them), unsubscribe everyone and let
 * the output drain; done when every client is flushed and closed, or at
 * the deadline. Returns true when done.
 */
static bool
stop_progress(void)
{
	struct bus *b = bus_of(ctl.self);
	struct ctl_client *c, *next;
	bool late = util_mono_us() >= ctl.stop_deadline_us;

	if (!ctl.stop_drained) {
		if (!late && b && bus_last_dispatched(b) < ctl.stop_target &&
		    !bus_closing(b))
			return false;
		ctl.stop_drained = true;
		for (c = ctl.clients; c; c = next) {
			next = c->next;
			unsubscribe(c);
			if (c->missing && !c->closing)
				put_lost(c, false); /* never a silent gap */
			if (c->out.len && !ev_is_active(&c->wio))
				ev_io_start(ctl.loop, &c->wio);
			if (!kept(c) && !c->out.len)
				client_drop(c);
		}
	}
	for (c = ctl.clients; c; c = c->next)
		if (!kept(c) && !late)
			return false;
	stop_finish();
	return true;
}

static void
stop_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (stop_progress())
		svc_stop_done(ctl.self);
}

/*
 * Stop accepting and reading at once; deliver what the bus accepted before
 * now to the subscribers, flush every client (bounded by CLOSE_DEADLINE),
 * then close. shutdown --wait clients stay until the "exit" progress.
 */
static int
control_stop(struct svc *self)
{
	struct bus *b = bus_of(ctl.self);

	ev_io_stop(ctl.loop, &ctl.accept_w);
	ev_timer_stop(ctl.loop, &ctl.accept_pause);
	if (ctl.lfd >= 0)
		close(ctl.lfd);
	ctl.lfd = -1;
	if (!ctl.activated)
		unlink_ours();
	if (ctl.reserve_fd >= 0)
		close(ctl.reserve_fd);
	ctl.reserve_fd = -1;
	for (struct ctl_client *c = ctl.clients; c; c = c->next) {
		/* A parked emit was never accepted: it is dropped unanswered;
		 * so is a reply still waiting for the journal (no ack sent). */
		ev_io_stop(ctl.loop, &c->rio);
		if (c->waiter.queued && b)
			bus_cancel_wait(b, &c->waiter);
		cancel_deferred(c);
		c->paused = false;
	}
	ctl.stopping = true;
	ctl.stop_drained = false;
	ctl.stop_target = b ? bus_last_seq(b) : 0;
	ctl.stop_deadline_us = util_mono_us() + (int64_t)(CLOSE_DEADLINE * 1e6);
	if (stop_progress())
		return 0;
	ev_timer_set(&ctl.stop_timer, 0.005, 0.005);
	ev_timer_start(ctl.loop, &ctl.stop_timer);
	return SVC_PENDING;
}

/* ---- configuration ------------------------------------------------------ */

#define CF(f) offsetof(struct control_conf, f)

/* %p: the program's name (svc_conf_set_program): /run/svcd/svcd.sock */
#define CONTROL_DEFAULT_SOCKET "/run/%p/%p.sock"

static const struct svc_conf_item daemon_items[] = {
    {.key = "socket",
     .type = &svc_conf_socket,
     .off = CF(socket),
     .dflt = CONTROL_DEFAULT_SOCKET,
     .flags = SVC_CONF_RESTART,
     .doc = "the control socket's path"},
};

static const struct svc_conf_item control_items[] = {
    {.key = "max_request",
     .type = &svc_conf_size,
     .off = CF(max_request),
     .dflt = "1M",
     .min = "1K",
     .max = "1G",
     .doc = "the longest request line"},
    {.key = "max_clients",
     .type = &svc_conf_uint,
     .off = CF(max_clients),
     .dflt = "1024",
     .min = "1",
     .max = "1000000",
     .doc = "connections at once; more are refused with Busy"},
    {.key = "output_soft",
     .type = &svc_conf_size,
     .off = CF(output_soft),
     .dflt = "1M",
     .min = "1K",
     .max = "4G",
     .doc = "a client's queued output past which events are missed"},
    {.key = "output_hard",
     .type = &svc_conf_size,
     .off = CF(output_hard),
     .dflt = "8M",
     .min = "1K",
     .max = "4G",
     .doc = "a client's queued output past which it is disconnected"},
    {.key = "group",
     .type = &svc_conf_group,
     .off = CF(group),
     .flags = SVC_CONF_RESTART,
     .doc = "the socket's group (empty: the daemon's)"},
    {.key = "emit_group",
     .type = &svc_conf_group,
     .off = CF(emit_group),
     .doc = "may emit, schedule and cancel"},
    {.key = "admin_group",
     .type = &svc_conf_group,
     .off = CF(admin_group),
     .doc = "may shut down and reload"},
};

/* output_hard may not be less than output_soft: said at the later key. */
static int
control_section_check(struct svc_conf_ctx *cx, void *opts)
{
	const struct control_conf *c = opts;
	int soft_line = svc_conf_key_line(cx, "output_soft");
	int hard_line = svc_conf_key_line(cx, "output_hard");
	char soft[32], hard[32];

	if (c->output_hard >= c->output_soft)
		return 0;
	util_format_size(c->output_soft, soft, sizeof(soft));
	util_format_size(c->output_hard, hard, sizeof(hard));
	if (hard_line >= soft_line)
		svc_conf_error(
		    cx, hard_line,
		    "bad value for 'output_hard' in [control]: %s is "
		    "less than output_soft (%s)",
		    hard, soft);
	else
		svc_conf_error(
		    cx, soft_line,
		    "bad value for 'output_soft' in [control]: %s is "
		    "more than output_hard (%s)",
		    soft, hard);
	return -1;
}

/*
 * The socket's directory must exist (svcd creates the socket, not the
 * directory): said at load, so that --check-config refuses what start-up
 * would. Not checked for the default path, once listening (a reload: the
 * socket is restart-only) nor when systemd passes the socket (socket
 * activation).
 */
static int
control_daemon_check(struct svc_conf_ctx *cx, void *opts)
{
	const struct control_conf *c = opts;
	const char *pid = getenv("LISTEN_PID");
	struct stat st;
	char *dir, *slash;
	int rc = 0;

	int line = svc_conf_key_line(cx, "socket");
	char *dflt = svc_conf_default(&daemon_items[0]);
	bool is_default = dflt && c->socket && strcmp(c->socket, dflt) == 0;

	free(dflt);
	/* the default's directory, /run/svcd (/run/PROG), is made by the
	 * service manager (RuntimeDirectory=) before svcd starts, and a key
	 * that did not parse leaves the default: a path set here only (a
	 * relative one is svcd's working directory's, as at start) */
	if (!line || ctl.path || ctl.activated || !c->socket ||
	    !strchr(c->socket, '/') || is_default ||
	    (pid && strtol(pid, NULL, 10) == (long)getpid() &&
	     getenv("LISTEN_FDS")))
		return 0;
	dir = xstrdup(c->socket);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	bool missing = stat(dir, &st) < 0;
	if (missing || !S_ISDIR(st.st_mode)) {
		svc_conf_error(
		    cx, line,
		    "bad value for 'socket' in [daemon]: the "
		    "directory %s %s",
		    dir, missing ? "does not exist" : "is not a directory");
		rc = -1;
	}
	free(dir);
	return rc;
}

static const struct svc_conf_section control_daemon_section = {
    .name = "daemon",
    SVC_CONF_ITEMS(daemon_items),
    .check = control_daemon_check,
};

static const struct svc_conf_section control_section = {
    .name = "control",
    SVC_CONF_ITEMS(control_items),
    .check = control_section_check,
    .doc = "the control socket",
};

const struct svc_desc control_service = {
    .name = "control",
    .requires = SVC_REQUIRES("bus", "manager"),
    .init = control_init,
    .ping = control_ping,
    .stop = control_stop,
    .conf = SVC_CONF_SECTIONS(&control_daemon_section, &control_section),
    .conf_size = sizeof(struct control_conf),
    SVC_METHODS(control_methods),
    .figures = control_figures,
    SVC_METRICS(control_metrics),
};
