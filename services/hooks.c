/*
 * hooks.c — the hooks service (see hooks.h): what every kind of hook shares.
 *
 * Per hook: a FIFO of jobs (an event's seq, name and JSON line) and up to
 * `concurrency` slots (a listener's `window`). A slot takes the oldest job
 * and hands its attempts to the hook's kind (services/hook_kind.h); a
 * failed attempt waits out the backoff (or the target's Retry-After) in
 * its slot, so with one slot a hook sees events strictly in order. The
 * delivery cursor (for the journal) is the seq below the oldest unfinished
 * job: it moves only past events delivered or failed for good.
 */
#include "services/hooks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "services/bus.h"
#include "services/hook_kind.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/methods.h"
#include "daemon/util.h"

/* An output line is quoted in the log up to this many bytes, then "..." and
 * its full length; the rest of it is read and dropped. */
#define LINE_MAX_LOG 512

static struct {
	struct ev_loop *loop;
	struct svc *self;
	struct bus *bus;
	struct hook *hooks;
	size_t n;
	bool stopping;
	ev_timer stop_timer;
	hooks_cursor_fn cursor_fn;
	hooks_replay_fn replay_fn;
	void *jarg;
	/* the bus's store (the journal), while running: cursors and replay
	 * when no hooks_set_journal override is set */
	const struct bus_store *store;
	void *store_arg;
} hk;

struct ev_loop *
hook_loop(void)
{
	return hk.loop;
}

bool
hook_stopping(void)
{
	return hk.stopping;
}

static bool
has_cursor(void)
{
	return hk.cursor_fn || (hk.store && hk.store->cursor);
}

/* A hook whose queue was full reads what it owes back from the journal
 * while running (read_back), rather than at the next start. */
static bool
can_read_back(void)
{
	return !hk.cursor_fn && hk.store && hk.store->cursor && hk.store->page;
}

bool
hook_seq_durable(void)
{
	return has_cursor();
}

static void hook_pump(struct hook *h);
static void run_finish(struct run *r);
static void check_stopped(void);

static size_t queue_max = HOOKS_QUEUE_MAX;

void
hooks_set_queue_max(size_t n)
{
	queue_max = n ? n : HOOKS_QUEUE_MAX;
}

void
hooks_set_journal(hooks_cursor_fn cursor_fn, hooks_replay_fn replay_fn,
                  void *arg)
{
	hk.cursor_fn = cursor_fn;
	hk.replay_fn = replay_fn;
	hk.jarg = arg;
}
static void
job_free(struct job *j)
{
	if (!j)
		return;
	free(j->event);
	free(j->line);
	free(j);
}

/* The bus wire params object of ev as one line. */
static char *
event_line(const struct bus_event *ev, size_t *len)
{
	struct buf b = {0};
	char t[40];

	util_format_time(ev->time_us, t, sizeof(t));
	buf_printf(
	    &b, "{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"event\":", ev->seq, t);
	buf_json_string(&b, ev->name, ev->name_len);
	buf_puts(&b, ",\"data\":");
	if (ev->data && ev->data_len)
		buf_append(&b, ev->data, ev->data_len);
	else
		buf_puts(&b, "{}");
	buf_puts(&b, ",\"source\":");
	buf_json_string(&b, ev->source ? ev->source : "",
	                ev->source ? strlen(ev->source) : 0);
	buf_puts(&b, "}\n");
	*len = b.len;
	buf_putc(&b, '\0');
	return b.data;
}

static struct hook *
hook_find(const char *name)
{
	for (size_t i = 0; i < hk.n; i++)
		if (!strcmp(hk.hooks[i].name, name))
			return &hk.hooks[i];
	return NULL;
}

/* Recompute the cursor: just below the oldest unfinished job, and never
 * past an event the full queue dropped: the journal replays it (and what
 * follows) on the next start, so delivery stays at least once. */
static void
hook_cursor(struct hook *h)
{
	uint64_t c = h->handed;

	if (h->first_dropped && h->first_dropped - 1 < c)
		c = h->first_dropped - 1;
	for (struct run *r = h->runs; r; r = r->next)
		if (r->job && r->job->seq - 1 < c)
			c = r->job->seq - 1;
	if (h->head && h->head->seq - 1 < c)
		c = h->head->seq - 1;
	if (c > h->cursor) {
		h->cursor = c;
		if (hk.cursor_fn)
			hk.cursor_fn(h->name, c, hk.jarg);
		else if (hk.store && hk.store->cursor)
			hk.store->cursor(hk.store_arg, h->name, c);
	}
}

/* 0 queued; -1 dropped (counted, logged once); 1 owed: the queue is full
 * and the journal has it, read back as the queue drains. */
static int
hook_enqueue(struct hook *h, const struct bus_event *ev)
{
	struct job *j;

	if (h->queued >= queue_max && can_read_back()) {
		if (!h->first_dropped)
			h->first_dropped = ev->seq;
		if (!h->overflow_logged)
			log_warn(
			    "hook %s: queue full (%zu events) at %s #%" PRIu64
			    ": the rest is read back from the journal as "
			    "the queue drains",
			    h->name, queue_max, ev->name, ev->seq);
		h->overflow_logged = true;
		return 1;
	}
	if (h->queued >= queue_max) {
		h->n_dropped++;
		if (!h->first_dropped)
			h->first_dropped = ev->seq;
		if (!h->overflow_logged)
			log_warn("hook %s: queue full (%zu events): dropping "
			         "%s #%" PRIu64 " (further drops counted in "
			         "`svcctl hooks`)%s",
			         h->name, queue_max, ev->name, ev->seq,
			         has_cursor() ? "; the journal replays them on "
			                        "the next start"
			                      : "");
		h->overflow_logged = true;
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->seq = ev->seq;
	j->event = xstrndup(ev->name, ev->name_len);
	j->line = event_line(ev, &j->line_len);
	if (h->tail)
		h->tail->next = j;
	else
		h->head = j;
	h->tail = j;
	h->queued++;
	if (ev->seq > h->handed)
		h->handed = ev->seq;
	hook_pump(h);
	return 0;
}

int
hooks_deliver(const char *hook, const struct bus_event *ev)
{
	struct hook *h = hook_find(hook);

	if (!h)
		return -1;
	return hook_enqueue(h, ev);
}

static int
on_event(const struct bus_event *ev, void *arg)
{
	struct hook *h = arg;

	if (ev->seq <= h->skip_upto)
		return 0;
	/* owed from the journal: live events wait there too, in order */
	if (h->first_dropped && can_read_back())
		return 0;
	/* a drop is the hook's to count and log (once), not the bus's */
	hook_enqueue(h, ev);
	return 0;
}

#define READ_PAGE        1024  /* events read back at a time, at most */
#define READ_SCAN        65536 /* rows looked at per page, at most */
#define READ_RETRY       0.01 /* seconds: again once the writer has stored more */
#define READ_ERROR_RETRY 1.0 /* seconds: again after a failed read */

static void
read_one(const struct bus_event *ev, void *arg)
{
	struct hook *h = arg;

	hook_enqueue(h, ev);
	h->n_read_back++;
}

/*
 * A hook that owes events since its queue was full (first_dropped) reads
 * them back from the journal, a page at a time while its queue is at most
 * half full, in seq order, and takes live events again once it has read
 * up to the last one the bus dispatched. Live events in between are not
 * queued: they are read back too, so the order holds.
 */
static void
read_back(struct hook *h)
{
	uint64_t upto = 0, last;
	size_t room;
	char *cause = NULL;
	long n;

	if (!h->first_dropped || !can_read_back() || hk.stopping ||
	    h->reading || h->queued > queue_max / 2)
		return;
	room = queue_max - h->queued;
	h->reading = true;
	n = hk.store->page(hk.store_arg, h->first_dropped - 1, h->on,
	                   room < READ_PAGE ? room : READ_PAGE, READ_SCAN,
	                   read_one, h, &upto, &cause);
	h->reading = false;
	if (n < 0) {
		/* once per run of failures, not every retry */
		if (!h->read_failing)
			log_warn("hook %s: cannot read back from the journal: "
			         "%s; trying again every %gs",
			         h->name, cause, READ_ERROR_RETRY);
		h->read_failing = true;
		free(cause);
		ev_timer_set(&h->read_timer, READ_ERROR_RETRY, 0);
		ev_timer_start(hk.loop, &h->read_timer);
		return;
	}
	if (h->read_failing)
		log_info("hook %s: reading back from the journal again",
		         h->name);
	h->read_failing = false;
	last = hk.bus ? bus_last_dispatched(hk.bus) : upto;
	if (upto >= last) {
		log_info("hook %s: caught up with the journal (%" PRIu64
		         " events read back since start)",
		         h->name, h->n_read_back);
		h->first_dropped = 0;
		h->overflow_logged = false;
		if (upto > h->skip_upto)
			h->skip_upto = upto;
	} else {
		h->first_dropped = upto + 1;
		/* the writer has not stored the rest yet: look again soon;
		 * else the queue's draining calls again */
		if (h->queued <= queue_max / 2 &&
		    !ev_is_active(&h->read_timer)) {
			ev_timer_set(&h->read_timer, READ_RETRY, 0);
			ev_timer_start(hk.loop, &h->read_timer);
		}
	}
	hook_cursor(h);
}

static void
read_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	read_back(w->data);
}

/* ---- output ------------------------------------------------------------- */

void
hook_log_lines(const char *name, struct buf *b, size_t *over, bool is_err,
               bool flush)
{
	const char *p;
	size_t n, cut;

	while (b->len) {
		p = memchr(buf_head(b), '\n', b->len);
		if (!p && !flush) {
			if (b->len > LINE_MAX_LOG) {
				*over += b->len - LINE_MAX_LOG;
				b->len = LINE_MAX_LOG;
			}
			break;
		}
		n = p ? (size_t)(p - buf_head(b)) : b->len;
		if (n + *over <= LINE_MAX_LOG) {
			log_msg(is_err ? LOGL_WARN : LOGL_INFO, "hook %s: %.*s",
			        name, (int)n, buf_head(b));
		} else {
			cut = n < LINE_MAX_LOG ? n : LINE_MAX_LOG;
			while (cut && cut < b->len &&
			       ((unsigned char)buf_head(b)[cut] & 0xc0) == 0x80)
				cut--;
			log_msg(is_err ? LOGL_WARN : LOGL_INFO,
			        "hook %s: %.*s... (line of %zu bytes)", name,
			        (int)cut, buf_head(b), n + *over);
		}
		*over = 0;
		buf_consume(b, p ? n + 1 : n);
	}
}

/* ---- slots -------------------------------------------------------------- */

static void
run_unlink(struct run *r)
{
	struct hook *h = r->h;
	struct run *prev = NULL;

	for (struct run *p = h->runs; p; prev = p, p = p->next) {
		if (p != r)
			continue;
		if (prev)
			prev->next = r->next;
		else
			h->runs = r->next;
		if (h->runs_tail == r)
			h->runs_tail = prev;
		break;
	}
	r->next = NULL;
	h->running--;
}

static void
run_free(struct run *r)
{
	if (r->active && r->h->kind->cancel)
		r->h->kind->cancel(r);
	r->active = false;
	ev_timer_stop(hk.loop, &r->timer);
	job_free(r->job);
	free(r);
}

void
hook_abandon(struct run *r)
{
	run_unlink(r);
	run_free(r);
}

static void
start_attempt(struct run *r)
{
	r->job->attempt++;
	r->h->n_runs++;
	r->active = true;
	r->h->kind->start(r);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	r->backoff = false;
	start_attempt(r);
}

void
hook_attempt_done(struct run *r, enum hook_result res, char *why,
                  double retry_after)
{
	struct hook *h = r->h;
	struct job *j = r->job;

	r->active = false;
	if (res == HOOK_OK) {
		h->n_ok++;
		h->last_seq = j->seq;
		free(why);
		run_finish(r);
		return;
	}
	if (res == HOOK_TIMEOUT)
		h->n_timeouts++;
	if (res != HOOK_FAIL && j->attempt <= h->retries && !hk.stopping) {
		double d = h->backoff * (double)(1u << (j->attempt - 1));

		if (retry_after > 0)
			d = retry_after;
		log_warn("hook %s: %s #%" PRIu64 ": %s; retry %u/%u in %gs",
		         h->name, j->event, j->seq, why, j->attempt, h->retries,
		         d);
		h->n_retried++;
		free(h->last_error);
		h->last_error = why;
		r->backoff = true;
		ev_timer_set(&r->timer, d, 0);
		ev_timer_start(hk.loop, &r->timer);
		return;
	}
	if (hk.stopping && res != HOOK_FAIL) {
		/* not delivered, not given up on: owed (the journal replays
		 * it on the next start) */
		log_warn("hook %s: %s #%" PRIu64 ": %s; not retried at stop",
		         h->name, j->event, j->seq, why);
		free(h->last_error);
		h->last_error = why;
		hook_abandon(r);
		check_stopped();
		return;
	}
	log_warn("hook %s: %s #%" PRIu64 " failed: %s", h->name, j->event,
	         j->seq, why);
	h->n_failures++;
	free(h->last_error);
	h->last_error = why;
	run_finish(r);
}

/* The job is done (for good): free the slot and start the next. */
static void
run_finish(struct run *r)
{
	struct hook *h = r->h;

	run_unlink(r);
	run_free(r);
	hook_cursor(h);
	if (hk.stopping) {
		check_stopped();
		return;
	}
	hook_pump(h);
	read_back(h);
}

static void
hook_pump(struct hook *h)
{
	static bool pumping; /* a failed start finishes a run from here */

	if (pumping)
		return;
	pumping = true;
	while (!hk.stopping && h->head && h->running < h->slots) {
		struct run *r = xcalloc(1, sizeof(*r));
		struct job *j = h->head;

		h->head = j->next;
		if (!h->head)
			h->tail = NULL;
		h->queued--;
		j->next = NULL;
		r->h = h;
		r->job = j;
		ev_timer_init(&r->timer, timer_cb, 0, 0);
		r->timer.data = r;
		if (h->runs_tail)
			h->runs_tail->next = r;
		else
			h->runs = r;
		h->runs_tail = r;
		h->running++;
		start_attempt(r);
	}
	pumping = false;
}

/* ---- statistics --------------------------------------------------------- */

/* Seqs the hook is behind the bus: 0 when it owes nothing (with a journal,
 * an event its full queue could not take is owed until it is read back). */
static uint64_t
hook_lag(const struct hook *h)
{
	uint64_t last = hk.bus ? bus_last_seq(hk.bus) : 0, oldest = 0;

	if (h->runs)
		oldest = h->runs->job->seq;
	for (const struct run *r = h->runs; r; r = r->next)
		if (r->job->seq < oldest)
			oldest = r->job->seq;
	if (h->head && (!oldest || h->head->seq < oldest))
		oldest = h->head->seq;
	/* an event the full queue could not take is owed until read back */
	if (h->first_dropped && has_cursor() &&
	    (!oldest || h->first_dropped < oldest))
		oldest = h->first_dropped;
	if (!oldest || last < oldest)
		return 0;
	return last - oldest + 1;
}

/* s as a JSON string even if it is not UTF-8 (a path or a peer's text):
 * bytes past ASCII then become '?'. NULL: null. */
json_t *
hook_text_json(const char *s)
{
	json_t *j;
	char *c;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	c = xstrdup(s);
	for (char *p = c; *p; p++)
		if ((unsigned char)*p > 0x7e)
			*p = '?';
	j = json_string(c);
	free(c);
	return j;
}

json_t *
hooks_list_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < hk.n; i++) {
		struct hook *h = &hk.hooks[i];
		json_t *o = json_pack(
		    "{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
		    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
		    "name", h->name, "kind", h->kind->name, "on", h->on,
		    "target", hook_text_json(h->kind->target(h)), "timeout_ms",
		    (json_int_t)(h->timeout * 1000), "concurrency",
		    (json_int_t)h->slots, "retries", (json_int_t)h->retries,
		    "runs", (json_int_t)h->n_runs, "ok", (json_int_t)h->n_ok,
		    "deliveries", (json_int_t)h->n_ok, "failures",
		    (json_int_t)h->n_failures, "timeouts",
		    (json_int_t)h->n_timeouts, "retried",
		    (json_int_t)h->n_retried, "dropped",
		    (json_int_t)h->n_dropped, "read_back",
		    (json_int_t)h->n_read_back, "queued", (json_int_t)h->queued,
		    "running", (json_int_t)h->running, "in_flight",
		    (json_int_t)h->running, "lag", (json_int_t)hook_lag(h),
		    "last_seq", (json_int_t)h->last_seq, "last_error",
		    hook_text_json(h->last_error));

		if (h->kind->figures)
			h->kind->figures(h, o);
		json_array_append_new(a, o);
	}
	return a;
}

json_t *
hooks_stats_json(void)
{
	uint64_t runs = 0, okc = 0, fail = 0, to = 0, retr = 0, drop = 0;
	uint64_t back = 0;
	uint64_t lag = 0;
	size_t queued = 0, running = 0;

	for (size_t i = 0; i < hk.n; i++) {
		struct hook *h = &hk.hooks[i];
		uint64_t l = hook_lag(h);

		runs += h->n_runs;
		okc += h->n_ok;
		fail += h->n_failures;
		to += h->n_timeouts;
		retr += h->n_retried;
		drop += h->n_dropped;
		back += h->n_read_back;
		queued += h->queued;
		running += h->running;
		if (l > lag)
			lag = l;
	}
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I}",
	    "hooks", (json_int_t)hk.n, "runs", (json_int_t)runs, "ok",
	    (json_int_t)okc, "deliveries", (json_int_t)okc, "failures",
	    (json_int_t)fail, "timeouts", (json_int_t)to, "retries",
	    (json_int_t)retr, "dropped", (json_int_t)drop, "read_back",
	    (json_int_t)back, "queued", (json_int_t)queued, "running",
	    (json_int_t)running, "in_flight", (json_int_t)running, "lag",
	    (json_int_t)lag);
}

bool
hooks_idle(void)
{
	for (size_t i = 0; i < hk.n; i++)
		if (hk.hooks[i].head || hk.hooks[i].runs ||
		    (hk.hooks[i].first_dropped && can_read_back()))
			return false;
	return true;
}

/* ---- the service -------------------------------------------------------- */

static void
hooks_free_all(void)
{
	for (size_t i = 0; i < hk.n; i++) {
		struct hook *h = &hk.hooks[i];

		ev_timer_stop(hk.loop, &h->read_timer);
		while (h->runs)
			hook_abandon(h->runs);
		while (h->head) {
			struct job *j = h->head;
			h->head = j->next;
			job_free(j);
		}
		if (h->k && h->kind->close)
			h->kind->close(h);
		free(h->name);
		free(h->on);
		free(h->last_error);
	}
	free(hk.hooks);
	hk.hooks = NULL;
	hk.n = 0;
	hk.store = NULL;
	hk.store_arg = NULL;
	hk.bus = NULL;
}

static const struct hook_kind *
conf_kind(const struct hook_conf *c)
{
	if (c->http.url)
		return &hook_http_kind;
	if (c->listen.argv)
		return &hook_listen_kind;
	return &hook_exec_kind;
}

static int
hooks_init(struct svc *self, char **cause)
{
	const struct hooks_conf *c = svc_options(self);
	struct bus *b = bus_of(self);
	size_t n = c->hooks.n;

	/* "hook NAME: ..." lines are this service's (SVCD_SERVICE=hooks) */
	log_add_source_as("hook", svc_name(self));
	if (!b) {
		*cause = xstrdup("the bus is not running");
		return -1;
	}
	hk.loop = svc_loop(self);
	if (n && hk.loop != ev_default_loop(0)) {
		*cause =
		    xstrdup("hooks need the default libev loop (ev_child)");
		return -1;
	}
	hooks_free_all();
	hk.self = self;
	hk.bus = b;
	hk.store = bus_get_store(b, &hk.store_arg);
	hk.stopping = false;
	hk.hooks = xcalloc(n ? n : 1, sizeof(*hk.hooks));
	hk.n = n;
	for (size_t i = 0; i < n; i++) {
		const struct hook_conf *ch = c->hooks.v[i];
		struct hook *h = &hk.hooks[i];
		char *why = NULL;

		h->name = xstrdup(ch->inst.name);
		h->on = xstrdup(ch->on);
		h->timeout = ch->timeout;
		h->backoff = ch->backoff;
		h->slots = ch->concurrency;
		h->retries = ch->retries;
		h->kind = conf_kind(ch);
		ev_timer_init(&h->read_timer, read_timer_cb, 0, 0);
		h->read_timer.data = h;
		if (h->kind->open(h, ch, &why) < 0) {
			*cause = xasprintf("hook %s: %s", h->name, why);
			free(why);
			hk.n = i + 1;
			hooks_free_all();
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct hook *h = &hk.hooks[i];

		if (hk.replay_fn)
			h->skip_upto = hk.replay_fn(h->name, h->on, hk.jarg);
		else if (hk.store && hk.store->replay)
			h->skip_upto = hk.store->replay(hk.store_arg, h->name,
			                                h->on, hooks_deliver);
		h->l = bus_listen(b, h->on, on_event, h);
		/* a replay that filled the queue goes on as it drains */
		read_back(h);
	}
	if (n)
		log_info("hooks: %zu hook%s ready", n, n == 1 ? "" : "s");
	return 0;
}

void
hook_check_stopped(void)
{
	if (hk.stopping)
		check_stopped();
}

static void
check_stopped(void)
{
	for (size_t i = 0; i < hk.n; i++)
		if (hk.hooks[i].runs)
			return;
	if (!ev_is_active(&hk.stop_timer))
		return;
	/* Finish from the loop, not from here: a kind's callback (a
	 * listener's answers, read in a loop) may be what called us, and
	 * hooks_free_all frees its state. */
	ev_timer_stop(hk.loop, &hk.stop_timer);
	ev_timer_set(&hk.stop_timer, 0, 0);
	ev_timer_start(hk.loop, &hk.stop_timer);
}

static void
stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	for (size_t i = 0; i < hk.n; i++)
		for (struct run *r = hk.hooks[i].runs; r; r = r->next)
			log_warn("hook %s: %s #%" PRIu64
			         " still in flight at the stop timeout; "
			         "abandoned",
			         hk.hooks[i].name, r->job->event, r->job->seq);
	hooks_free_all();
	svc_stop_done(hk.self);
}

static int
hooks_stop(struct svc *self)
{
	struct bus *b = bus_of(self);
	bool busy = false;
	double t = svc_stop_timeout(self);

	hk.stopping = true;
	for (size_t i = 0; i < hk.n; i++) {
		struct hook *h = &hk.hooks[i];
		struct run *r, *next;

		if (b && h->l)
			bus_unlisten(b, h->l);
		h->l = NULL;
		if (h->queued)
			log_warn("hook %s: %zu queued event%s not delivered at "
			         "stop",
			         h->name, h->queued, h->queued == 1 ? "" : "s");
		/* a run waiting for a retry is owed, not failed */
		for (r = h->runs; r; r = next) {
			next = r->next;
			if (r->backoff)
				hook_abandon(r);
		}
		if (h->kind->stop)
			h->kind->stop(h);
		if (h->runs)
			busy = true;
	}
	if (!busy) {
		hooks_free_all();
		return 0;
	}
	/* Attempts in flight are awaited, bounded a little under the
	 * framework's stop timeout. */
	ev_timer_init(&hk.stop_timer, stop_timer_cb, t > 0.2 ? t - 0.1 : t, 0);
	ev_timer_start(hk.loop, &hk.stop_timer);
	return SVC_PENDING;
}

/* ---- configuration: [hook.NAME] ---- */

#define HF(f) offsetof(struct hook_conf, f)

static const struct svc_conf_item hook_items[] = {
    {.key = "on",
     .type = &svc_conf_pattern,
     .off = HF(on),
     .doc = "the event pattern (required)"},
    {.key = "timeout",
     .type = &svc_conf_duration,
     .off = HF(timeout),
     .dflt = "30s",
     .max = "1h",
     .doc = "an attempt's bound (a run, a request, an answer)"},
    {.key = "concurrency",
     .type = &svc_conf_uint,
     .off = HF(concurrency),
     .dflt = "1",
     .min = "1",
     .max = "64",
     .doc = "exec and webhooks: attempts at once (1: in order)"},
    {.key = "retries",
     .type = &svc_conf_uint,
     .off = HF(retries),
     .dflt = "0",
     .min = "0",
     .max = "10",
     .doc = "retries of a failed attempt"},
    {.key = "backoff",
     .type = &svc_conf_duration,
     .off = HF(backoff),
     .dflt = "1s",
     .max = "1h",
     .doc = "the first retry delay, doubling"},
    HOOK_EXEC_ITEMS,
    HOOK_HTTP_ITEMS,
    HOOK_LISTEN_ITEMS,
};

/*
 * Under a unit whose RestrictAddressFamilies= lacks AF_INET and AF_INET6,
 * socket() fails with EAFNOSUPPORT: try it here (svcd at start, or
 * --check-config in the same sandbox) and say once which drop-in lets
 * webhooks through. PrivateNetwork= and IPAddressDeny= are not seen this
 * way (the connection fails, counted per hook).
 */
static void
warn_forbidden_network(const char *name)
{
	static bool warned;

	if (warned || !util_family_forbidden(AF_INET) ||
	    !util_family_forbidden(AF_INET6))
		return;
	warned = true;
	log_warn("hook %s: a webhook needs AF_INET or AF_INET6, but the unit "
	         "forbids both: install the network.conf drop-in "
	         "(docs/operations.md, 'Drop-ins')",
	         name);
}

static int
hook_check(struct svc_conf_ctx *cx, void *inst)
{
	static const char *const kinds[] = {"exec", "url", "listen"};
	static const char *const http_only[] = {"ca_file", "headers",
	                                        "secret_file"};
	struct hook_conf *c = inst;
	const char *name = svc_conf_section_name(cx);
	const char *kind = NULL;
	int kind_line = 0, rc = 0;

	if (!svc_conf_key_line(cx, "on")) {
		svc_conf_error(cx, 0, "hook '%s': 'on' is required", name);
		rc = -1;
	}
	for (size_t i = 0; i < SVC_ARRAY_SIZE(kinds); i++) {
		int line = svc_conf_key_line(cx, kinds[i]);

		if (!line)
			continue;
		if (kind) {
			/* reported at the later of the two lines */
			svc_conf_error(cx, line > kind_line ? line : kind_line,
			               "hook '%s': '%s' and '%s' exclude each "
			               "other (one kind of hook)",
			               name, kind, kinds[i]);
			rc = -1;
		} else {
			kind = kinds[i];
			kind_line = line;
		}
	}
	if (!kind) {
		svc_conf_error(cx, 0,
		               "hook '%s': one of 'exec', 'url' or 'listen' is "
		               "required",
		               name);
		return -1;
	}
	for (size_t i = 0; i < SVC_ARRAY_SIZE(http_only); i++) {
		int line = svc_conf_key_line(cx, http_only[i]);

		if (line && strcmp(kind, "url")) {
			svc_conf_error(
			    cx, line, "hook '%s': '%s' is for webhooks (url =)",
			    name, http_only[i]);
			rc = -1;
		}
	}
	if (!strcmp(kind, "url"))
		warn_forbidden_network(name);
	if (svc_conf_key_line(cx, "window") && strcmp(kind, "listen")) {
		svc_conf_error(
		    cx, svc_conf_key_line(cx, "window"),
		    "hook '%s': 'window' is for listeners (listen =)", name);
		rc = -1;
	}
	if (svc_conf_key_line(cx, "concurrency") && !strcmp(kind, "listen")) {
		svc_conf_error(cx, svc_conf_key_line(cx, "concurrency"),
		               "hook '%s': a listener has 'window', not "
		               "'concurrency'",
		               name);
		rc = -1;
	}
	if (c->http.headers) {
		json_t *o = json_loads(c->http.headers, 0, NULL);
		const char *k;
		json_t *v;

		json_object_foreach(o, k, v)
		{
			bool tok = *k != '\0';

			for (const char *p = k; *p; p++)
				if (*p <= ' ' || *p == ':' || *p >= 127)
					tok = false;
			if (!tok || !json_is_string(v) ||
			    strpbrk(json_string_value(v), "\r\n")) {
				svc_conf_error(
				    cx, svc_conf_key_line(cx, "headers"),
				    "hook '%s': headers: '%s' is not a header "
				    "name with a string value on one line",
				    name, svc_conf_quote(cx, k));
				rc = -1;
			} else if (hook_http_own_header(k)) {
				svc_conf_error(cx,
				               svc_conf_key_line(cx, "headers"),
				               "hook '%s': headers: '%s' is "
				               "set by svcd on "
				               "every delivery",
				               name, svc_conf_quote(cx, k));
				rc = -1;
			}
		}
		json_decref(o);
	}
	return rc;
}

/* Read at init: a reload does not change the hooks. */
static const struct svc_conf_section hook_section = {
    .name = "hook",
    SVC_CONF_ITEMS(hook_items),
    .named = true,
    .inst_size = sizeof(struct hook_conf),
    .list_off = offsetof(struct hooks_conf, hooks),
    .flags = SVC_CONF_RESTART,
    .check = hook_check,
    .doc = "a command, a webhook or a listener for each matching event",
};

/* ---- control methods ---------------------------------------------------- */

static const struct svc_reply *
m_hooks(struct svc *self, struct svc_call *q)
{
	(void)self;
	return svc_call_ok(q, json_pack("{s:o}", "hooks", hooks_list_json()));
}

static const struct svc_method hooks_methods[] = {
    {.name = "hooks",
     .fn = m_hooks,
     .access = SVC_ACCESS_READ,
     .doc = "every hook with its counters: {hooks: [...]}"},
};

static json_t *
hooks_figures(struct svc *self)
{
	json_t *f = hooks_stats_json();

	(void)self;
	/* each hook's own (svcctl metrics: labelled hook="NAME") */
	json_object_set_new(f, "per_hook", hooks_list_json());
	return f;
}

/* `svcctl metrics`: the figures' types and help (daemon/service.h). */
static const struct svc_metric hooks_metrics[] = {
    {.figure = "hooks", .type = SVC_METRIC_GAUGE, .help = "configured hooks"},
    {.figure = "runs", .type = SVC_METRIC_COUNTER, .help = "hook runs"},
    {.figure = "ok",
     .type = SVC_METRIC_COUNTER,
     .help = "hook runs that succeeded"},
    {.figure = "failures",
     .type = SVC_METRIC_COUNTER,
     .help = "hook runs that failed"},
    {.figure = "timeouts",
     .type = SVC_METRIC_COUNTER,
     .help = "hook runs killed at their timeout"},
    {.figure = "retries",
     .type = SVC_METRIC_COUNTER,
     .help = "hook runs retried"},
    {.figure = "dropped",
     .type = SVC_METRIC_COUNTER,
     .help = "events a hook dropped (its queue full, no journal)"},
    {.figure = "read_back",
     .type = SVC_METRIC_COUNTER,
     .help = "events read back from the journal after a full queue"},
    {.figure = "queued",
     .type = SVC_METRIC_GAUGE,
     .help = "events queued for hooks now"},
    {.figure = "running",
     .type = SVC_METRIC_GAUGE,
     .help = "hook runs under way now"},
    {.figure = "per_hook",
     .type = SVC_METRIC_LABELS,
     .help = "each hook",
     .label = "hook"},
    {.figure = "per_hook.runs",
     .type = SVC_METRIC_COUNTER,
     .help = "runs of this hook"},
    {.figure = "per_hook.ok",
     .type = SVC_METRIC_COUNTER,
     .help = "runs of this hook that succeeded"},
    {.figure = "per_hook.failures",
     .type = SVC_METRIC_COUNTER,
     .help = "runs of this hook that failed"},
    {.figure = "per_hook.timeouts",
     .type = SVC_METRIC_COUNTER,
     .help = "runs of this hook killed at its timeout"},
    {.figure = "per_hook.retried",
     .type = SVC_METRIC_COUNTER,
     .help = "runs of this hook retried"},
    {.figure = "per_hook.dropped",
     .type = SVC_METRIC_COUNTER,
     .help = "events this hook dropped (its queue full, no journal)"},
    {.figure = "per_hook.read_back",
     .type = SVC_METRIC_COUNTER,
     .help = "events this hook read back from the journal"},
    {.figure = "per_hook.queued",
     .type = SVC_METRIC_GAUGE,
     .help = "events queued for this hook now (its lag)"},
    {.figure = "per_hook.running",
     .type = SVC_METRIC_GAUGE,
     .help = "runs of this hook under way now"},
    {.figure = "per_hook.last_seq",
     .type = SVC_METRIC_GAUGE,
     .help = "the seq of the last event this hook took"},
    {.figure = "per_hook.timeout_ms",
     .type = SVC_METRIC_GAUGE,
     .help = "this hook's timeout",
     .name = "timeout_seconds",
     .scale = 1e-3},
    {.figure = "per_hook.concurrency",
     .type = SVC_METRIC_GAUGE,
     .help = "this hook's runs at once"},
    {.figure = "per_hook.retries",
     .type = SVC_METRIC_GAUGE,
     .help = "this hook's retries of a failed run"},
};

const struct svc_desc hooks_service = {
    .name = "hooks",
    .requires = SVC_REQUIRES("bus"),
    .optional = true,
    .init = hooks_init,
    .stop = hooks_stop,
    .conf = SVC_CONF_SECTIONS(&hook_section),
    .conf_size = sizeof(struct hooks_conf),
    SVC_METHODS(hooks_methods),
    .figures = hooks_figures,
    SVC_METRICS(hooks_metrics),
};
