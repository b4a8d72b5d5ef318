/*
 * hooks.c — the hooks service: a command per matching event (see hooks.h).
 *
 * Per hook: a FIFO of jobs (an event's seq, name and stdin line) and up to
 * `concurrency` runs. A run owns a child (ev_child), its stdin pipe (written
 * from the loop as the child reads), its stdout/stderr pipes (read on the
 * loop, logged per line) and a timer: the timeout, then the kill grace, or
 * the retry backoff between attempts. A retrying job keeps its slot, so with
 * concurrency 1 a hook sees events strictly in order. The delivery cursor
 * (for the journal) is the seq below the oldest unfinished job.
 */
#include "services/hooks.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/methods.h"
#include "daemon/util.h"

extern char **environ;

/* An output line is quoted in the log up to this many bytes, then "..." and
 * its full length; the rest of it is read and dropped. */
#define LINE_MAX_LOG 512

struct hook;

struct job {
	uint64_t seq;
	char *event;
	char *line; /* the JSON line for stdin, newline included */
	size_t line_len;
	unsigned attempt; /* runs so far */
	struct job *next;
};

struct run {
	struct hook *h;
	struct job *job;
	pid_t pid;
	bool exited;
	bool timed_out;
	bool killed;  /* SIGKILL sent */
	bool backoff; /* waiting before the next attempt (no child) */
	int status;
	size_t in_off;
	ev_child child;
	ev_io in_w, out_w, err_w;
	struct buf out, err;
	size_t out_over, err_over; /* bytes of a long line dropped so far */
	ev_timer timer;
	struct run *next;
};

struct hook {
	char *name;
	char *on;
	char **argv;
	double timeout;
	double backoff;
	unsigned concurrency;
	unsigned retries;
	struct bus_listener *l;
	uint64_t skip_upto; /* replayed up to here: live events below skipped */

	struct job *head, *tail;
	size_t queued;
	struct run *runs; /* running or backing off */
	size_t running;
	uint64_t cursor;        /* every matching event <= cursor finished */
	uint64_t handed;        /* highest seq queued so far */
	uint64_t first_dropped; /* lowest seq lost to a full queue, 0: none */

	uint64_t n_runs, n_ok, n_failures, n_timeouts, n_retried, n_dropped;
	uint64_t last_seq;
	char *last_error;
	bool overflow_logged;
};

static struct {
	struct ev_loop *loop;
	struct svc *self;
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

static bool
has_cursor(void)
{
	return hk.cursor_fn || (hk.store && hk.store->cursor);
}

static void hook_pump(struct hook *h);

static size_t queue_max = HOOKS_QUEUE_MAX;

void
hooks_set_queue_max(size_t n)
{
	queue_max = n ? n : HOOKS_QUEUE_MAX;
}
static void run_finish(struct run *r);

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

static int
hook_enqueue(struct hook *h, const struct bus_event *ev)
{
	struct job *j;

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
	return hook_enqueue(h, ev);
}

/* ---- output ------------------------------------------------------------- */

/*
 * Log the complete lines in b (all of it when flush). A line longer than
 * LINE_MAX_LOG keeps only its head in b while it is read (*over counts the
 * bytes dropped) and is logged, cut at a character boundary, with "..." and
 * its length when it ends.
 */
static void
log_lines(struct run *r, struct buf *b, bool is_err, bool flush)
{
	size_t *over = is_err ? &r->err_over : &r->out_over;
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
			        r->h->name, (int)n, buf_head(b));
		} else {
			cut = n < LINE_MAX_LOG ? n : LINE_MAX_LOG;
			while (cut && cut < b->len &&
			       ((unsigned char)buf_head(b)[cut] & 0xc0) == 0x80)
				cut--;
			log_msg(is_err ? LOGL_WARN : LOGL_INFO,
			        "hook %s: %.*s... (line of %zu bytes)",
			        r->h->name, (int)cut, buf_head(b), n + *over);
		}
		*over = 0;
		buf_consume(b, p ? n + 1 : n);
	}
}

static void
close_io(struct ev_io *w)
{
	if (w->fd < 0)
		return;
	ev_io_stop(hk.loop, w);
	close(w->fd);
	w->fd = -1;
}

/* Read what is there; at EOF (or on error) close the pipe. */
static void
drain(struct run *r, ev_io *w, struct buf *b, bool is_err)
{
	char tmp[4096];
	ssize_t n;

	while (w->fd >= 0) {
		n = read(w->fd, tmp, sizeof(tmp));
		if (n > 0) {
			buf_append(b, tmp, (size_t)n);
			log_lines(r, b, is_err, false);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close_io(w);
	}
	log_lines(r, b, is_err, true);
}

static void run_maybe_done(struct run *r);

static void
out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct run *r = w->data;

	drain(r, w, w == &r->out_w ? &r->out : &r->err, w == &r->err_w);
	run_maybe_done(r);
}

static void
in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct run *r = w->data;
	struct job *j = r->job;
	ssize_t n;

	while (r->in_off < j->line_len) {
		n = write(w->fd, j->line + r->in_off, j->line_len - r->in_off);
		if (n > 0) {
			r->in_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break; /* EPIPE: the child does not read its stdin */
	}
	close_io(w);
}

/* ---- runs --------------------------------------------------------------- */

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct run *r = w->data;

	ev_child_stop(loop, w);
	r->exited = true;
	r->status = w->rstatus;
	ev_timer_stop(loop, &r->timer);
	/* The child is gone: take what it wrote and stop waiting on pipes
	 * a grandchild may still hold open. */
	close_io(&r->in_w);
	drain(r, &r->out_w, &r->out, false);
	drain(r, &r->err_w, &r->err, true);
	close_io(&r->out_w);
	close_io(&r->err_w);
	log_lines(r, &r->out, false, true);
	log_lines(r, &r->err, true, true);
	run_maybe_done(r);
}

static void start_attempt(struct run *r);

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	if (r->backoff) {
		r->backoff = false;
		start_attempt(r);
		return;
	}
	if (!r->timed_out) {
		r->timed_out = true;
		log_warn("hook %s: %s #%" PRIu64 " timed out after %gs; "
		         "sending SIGTERM",
		         r->h->name, r->job->event, r->job->seq, r->h->timeout);
		kill(-r->pid, SIGTERM);
		kill(r->pid, SIGTERM);
		ev_timer_set(w, HOOKS_KILL_GRACE, 0);
		ev_timer_start(loop, w);
	} else if (!r->killed) {
		r->killed = true;
		log_warn("hook %s: pid %ld ignored SIGTERM; sending SIGKILL",
		         r->h->name, (long)r->pid);
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
	}
}

static int
make_pipe(int fds[2], int keep_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	util_set_nonblock(fds[keep_end]);
	return 0;
}

static char **
make_env(const struct hook *h, const struct job *j, char **own, size_t nown)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = xcalloc(n + nown + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(environ[i], "SVCD_EVENT=", 11) ||
		    !strncmp(environ[i], "SVCD_SEQ=", 9) ||
		    !strncmp(environ[i], "SVCD_HOOK=", 10))
			continue;
		env[k++] = environ[i];
	}
	for (size_t i = 0; i < nown; i++)
		env[k++] = own[i];
	env[k] = NULL;
	return env;
}

/* Spawn the child for r's job; -1 with *cause on failure. */
static int
spawn(struct run *r, char **cause)
{
	struct hook *h = r->h;
	struct job *j = r->job;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char *own[3];
	char **env;
	int rc = -1, e;

	if (make_pipe(in, 1) < 0 || make_pipe(out, 0) < 0 ||
	    make_pipe(err, 0) < 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		goto out_close;
	}
	own[0] = xasprintf("SVCD_EVENT=%s", j->event);
	own[1] = xasprintf("SVCD_SEQ=%" PRIu64, j->seq);
	own[2] = xasprintf("SVCD_HOOK=%s", h->name);
	env = make_env(h, j, own, 3);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	                                  POSIX_SPAWN_SETSIGDEF |
	                                  POSIX_SPAWN_SETPGROUP);
	e = posix_spawn(&r->pid, h->argv[0], &fa, &at, h->argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	for (int i = 0; i < 3; i++)
		free(own[i]);
	if (e) {
		*cause =
		    xasprintf("cannot run %s: %s", h->argv[0], strerror(e));
		goto out_close;
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	in[0] = out[1] = err[1] = -1;

	r->exited = r->timed_out = r->killed = false;
	r->in_off = 0;
	ev_child_init(&r->child, child_cb, r->pid, 0);
	r->child.data = r;
	ev_child_start(hk.loop, &r->child);
	ev_io_init(&r->in_w, in_cb, in[1], EV_WRITE);
	ev_io_init(&r->out_w, out_cb, out[0], EV_READ);
	ev_io_init(&r->err_w, out_cb, err[0], EV_READ);
	r->in_w.data = r->out_w.data = r->err_w.data = r;
	ev_io_start(hk.loop, &r->in_w);
	ev_io_start(hk.loop, &r->out_w);
	ev_io_start(hk.loop, &r->err_w);
	ev_timer_set(&r->timer, h->timeout, 0);
	ev_timer_start(hk.loop, &r->timer);
	return 0;

out_close:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return rc;
}

/* A failed attempt: retry after a backoff, or count the failure. */
static void
attempt_failed(struct run *r, char *why)
{
	struct hook *h = r->h;
	struct job *j = r->job;

	if (j->attempt <= h->retries && !hk.stopping) {
		double d = h->backoff * (double)(1u << (j->attempt - 1));

		log_warn("hook %s: %s #%" PRIu64 ": %s; retry %u/%u in %gs",
		         h->name, j->event, j->seq, why, j->attempt, h->retries,
		         d);
		free(why);
		h->n_retried++;
		r->backoff = true;
		ev_timer_set(&r->timer, d, 0);
		ev_timer_start(hk.loop, &r->timer);
		return;
	}
	log_warn("hook %s: %s #%" PRIu64 " failed: %s", h->name, j->event,
	         j->seq, why);
	h->n_failures++;
	free(h->last_error);
	h->last_error = why;
	run_finish(r);
}

static void
start_attempt(struct run *r)
{
	char *cause = NULL;

	r->job->attempt++;
	r->h->n_runs++;
	if (spawn(r, &cause) < 0) {
		attempt_failed(r, cause);
		return;
	}
	log_debug("hook %s: %s #%" PRIu64 " started, pid %ld", r->h->name,
	          r->job->event, r->job->seq, (long)r->pid);
}

static void
run_maybe_done(struct run *r)
{
	struct hook *h = r->h;
	int st = r->status;
	char *why;

	if (!r->exited || r->out_w.fd >= 0 || r->err_w.fd >= 0)
		return;
	r->exited = false;
	r->pid = 0;
	close_io(&r->in_w);
	if (r->timed_out) {
		h->n_timeouts++;
		why = xasprintf("timed out after %gs", h->timeout);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		h->n_ok++;
		h->last_seq = r->job->seq;
		run_finish(r);
		return;
	} else if (WIFEXITED(st)) {
		why = xasprintf("exit status %d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		why = xasprintf("killed by signal %d (%s)", WTERMSIG(st),
		                strsignal(WTERMSIG(st)));
	} else {
		why = xasprintf("wait status %#x", st);
	}
	attempt_failed(r, why);
}

static void
run_free(struct run *r)
{
	if (r->pid > 0) {
		ev_child_stop(hk.loop, &r->child);
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
	}
	close_io(&r->in_w);
	close_io(&r->out_w);
	close_io(&r->err_w);
	ev_timer_stop(hk.loop, &r->timer);
	buf_free(&r->out);
	buf_free(&r->err);
	job_free(r->job);
	free(r);
}

static void check_stopped(void);

/* The job is done (for good): free the slot and start the next. */
static void
run_finish(struct run *r)
{
	struct hook *h = r->h;

	for (struct run **pp = &h->runs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	h->running--;
	r->pid = 0;
	run_free(r);
	hook_cursor(h);
	if (hk.stopping)
		check_stopped();
	else
		hook_pump(h);
}

static void
hook_pump(struct hook *h)
{
	static bool pumping; /* a spawn failure finishes a run from here */

	if (pumping)
		return;
	pumping = true;
	while (!hk.stopping && h->head && h->running < h->concurrency) {
		struct run *r = xcalloc(1, sizeof(*r));
		struct job *j = h->head;

		h->head = j->next;
		if (!h->head)
			h->tail = NULL;
		h->queued--;
		j->next = NULL;
		r->h = h;
		r->job = j;
		r->in_w.fd = r->out_w.fd = r->err_w.fd = -1;
		ev_timer_init(&r->timer, timer_cb, 0, 0);
		r->timer.data = r;
		r->next = h->runs;
		h->runs = r;
		h->running++;
		start_attempt(r);
	}
	pumping = false;
}

/* ---- statistics --------------------------------------------------------- */

json_t *
hooks_list_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < hk.n; i++) {
		struct hook *h = &hk.hooks[i];

		json_array_append_new(
		    a,
		    json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
		              "s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
		              "name", h->name, "on", h->on, "exec", h->argv[0],
		              "timeout_ms", (json_int_t)(h->timeout * 1000),
		              "concurrency", (json_int_t)h->concurrency,
		              "retries", (json_int_t)h->retries, "runs",
		              (json_int_t)h->n_runs, "ok", (json_int_t)h->n_ok,
		              "failures", (json_int_t)h->n_failures, "timeouts",
		              (json_int_t)h->n_timeouts, "retried",
		              (json_int_t)h->n_retried, "dropped",
		              (json_int_t)h->n_dropped, "queued",
		              (json_int_t)h->queued, "running",
		              (json_int_t)h->running, "last_seq",
		              (json_int_t)h->last_seq, "last_error",
		              h->last_error ? json_string(h->last_error)
		                            : json_null()));
	}
	return a;
}

json_t *
hooks_stats_json(void)
{
	uint64_t runs = 0, okc = 0, fail = 0, to = 0, retr = 0, drop = 0;
	size_t queued = 0, running = 0;

	for (size_t i = 0; i < hk.n; i++) {
		struct hook *h = &hk.hooks[i];

		runs += h->n_runs;
		okc += h->n_ok;
		fail += h->n_failures;
		to += h->n_timeouts;
		retr += h->n_retried;
		drop += h->n_dropped;
		queued += h->queued;
		running += h->running;
	}
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "hooks",
	    (json_int_t)hk.n, "runs", (json_int_t)runs, "ok", (json_int_t)okc,
	    "failures", (json_int_t)fail, "timeouts", (json_int_t)to, "retries",
	    (json_int_t)retr, "dropped", (json_int_t)drop, "queued",
	    (json_int_t)queued, "running", (json_int_t)running);
}

bool
hooks_idle(void)
{
	for (size_t i = 0; i < hk.n; i++)
		if (hk.hooks[i].head || hk.hooks[i].runs)
			return false;
	return true;
}

/* ---- the service -------------------------------------------------------- */

static void
hooks_free_all(void)
{
	for (size_t i = 0; i < hk.n; i++) {
		struct hook *h = &hk.hooks[i];

		while (h->runs) {
			struct run *r = h->runs;
			h->runs = r->next;
			run_free(r);
		}
		while (h->head) {
			struct job *j = h->head;
			h->head = j->next;
			job_free(j);
		}
		free(h->name);
		free(h->on);
		for (char **a = h->argv; a && *a; a++)
			free(*a);
		free(h->argv);
		free(h->last_error);
	}
	free(hk.hooks);
	hk.hooks = NULL;
	hk.n = 0;
	hk.store = NULL;
	hk.store_arg = NULL;
}

static int
hooks_init(struct svc *self, char **cause)
{
	const struct hooks_conf *c = svc_options(self);
	struct bus *b = bus_of(self);
	size_t n = c->hooks.n;

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
	hk.store = bus_get_store(b, &hk.store_arg);
	hk.stopping = false;
	hk.hooks = xcalloc(n ? n : 1, sizeof(*hk.hooks));
	hk.n = n;
	for (size_t i = 0; i < n; i++) {
		const struct hook_conf *ch = c->hooks.v[i];
		struct hook *h = &hk.hooks[i];
		size_t argc = 0;

		while (ch->argv[argc])
			argc++;
		h->name = xstrdup(ch->inst.name);
		h->on = xstrdup(ch->on);
		h->argv = xcalloc(argc + 1, sizeof(*h->argv));
		for (size_t k = 0; k < argc; k++)
			h->argv[k] = xstrdup(ch->argv[k]);
		h->timeout = ch->timeout;
		h->backoff = ch->backoff;
		h->concurrency = ch->concurrency;
		h->retries = ch->retries;
	}
	for (size_t i = 0; i < n; i++) {
		struct hook *h = &hk.hooks[i];

		if (hk.replay_fn)
			h->skip_upto = hk.replay_fn(h->name, h->on, hk.jarg);
		else if (hk.store && hk.store->replay)
			h->skip_upto = hk.store->replay(hk.store_arg, h->name,
			                                h->on, hooks_deliver);
		h->l = bus_listen(b, h->on, on_event, h);
	}
	if (n)
		log_info("hooks: %zu hook%s ready", n, n == 1 ? "" : "s");
	return 0;
}

static void
check_stopped(void)
{
	for (size_t i = 0; i < hk.n; i++)
		if (hk.hooks[i].runs)
			return;
	if (!ev_is_active(&hk.stop_timer))
		return;
	ev_timer_stop(hk.loop, &hk.stop_timer);
	hooks_free_all();
	svc_stop_done(hk.self);
}

static void
stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	for (size_t i = 0; i < hk.n; i++)
		for (struct run *r = hk.hooks[i].runs; r; r = r->next)
			log_warn("hook %s: %s #%" PRIu64
			         " still running at the stop timeout; killed",
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

		if (b && h->l)
			bus_unlisten(b, h->l);
		h->l = NULL;
		if (h->queued)
			log_warn("hook %s: %zu queued event%s not run at stop",
			         h->name, h->queued, h->queued == 1 ? "" : "s");
		for (struct run *r = h->runs; r; r = r->next) {
			if (r->backoff) {
				ev_timer_stop(hk.loop, &r->timer);
				r->backoff = false;
			}
		}
		if (h->runs)
			busy = true;
	}
	if (!busy) {
		hooks_free_all();
		return 0;
	}
	/* Runs waiting for a retry finish now (failed); running ones are
	 * awaited, bounded a little under the framework's stop timeout. */
	busy = false;
	for (size_t i = 0; i < hk.n; i++) {
		struct run *r = hk.hooks[i].runs, *next;

		for (; r; r = next) {
			next = r->next;
			if (!r->pid)
				run_finish(r);
			else
				busy = true;
		}
	}
	if (!busy) {
		hooks_free_all();
		return 0;
	}
	ev_timer_init(&hk.stop_timer, stop_timer_cb, t > 0.2 ? t - 0.1 : t, 0);
	ev_timer_start(hk.loop, &hk.stop_timer);
	return SVC_PENDING;
}

/* ---- configuration: [hook.NAME] ---- */

/*
 * Split a command line into argv without a shell: blanks separate words;
 * '...' is literal; "..." and bare text take backslash escapes.
 */
static char **
split_argv(const char *s, char **cause)
{
	struct buf b = {0};
	char **argv = NULL;
	size_t n = 0;
	const char *q = s;

	for (;;) {
		while (isspace((unsigned char)*q))
			q++;
		if (!*q)
			break;
		buf_reset(&b);
		while (*q && !isspace((unsigned char)*q)) {
			if (*q == '\'') {
				const char *e = strchr(q + 1, '\'');
				if (!e) {
					*cause = xstrdup("unterminated single "
					                 "quote");
					goto out_fail;
				}
				buf_append(&b, q + 1, (size_t)(e - q - 1));
				q = e + 1;
			} else if (*q == '"') {
				for (q++; *q && *q != '"'; q++) {
					if (*q == '\\' && q[1])
						q++;
					buf_putc(&b, *q);
				}
				if (!*q) {
					*cause = xstrdup("unterminated double "
					                 "quote");
					goto out_fail;
				}
				q++;
			} else if (*q == '\\') {
				if (!q[1]) {
					*cause = xstrdup("trailing backslash");
					goto out_fail;
				}
				buf_putc(&b, q[1]);
				q += 2;
			} else {
				buf_putc(&b, *q++);
			}
		}
		argv = xrealloc(argv, (n + 2) * sizeof(*argv));
		argv[n++] = b.len ? xstrndup(buf_head(&b), b.len) : xstrdup("");
		argv[n] = NULL;
	}
	buf_free(&b);
	if (n == 0)
		*cause = xstrdup("empty command");
	return argv;

out_fail:
	buf_free(&b);
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	return NULL;
}

static bool
executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

/* exec: the command split without a shell; its messages are the hook's. */
static int
exec_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
           const char *v, void *dst, char **cause)
{
	const char *name = svc_conf_section_name(cx);
	int line = svc_conf_lineno(cx);
	char *why = NULL;
	char **argv = split_argv(v, &why);

	if (!argv) {
		if (!cx) {
			*cause = why;
			return -1;
		}
		svc_conf_error(cx, line, "hook '%s': exec: %s", name, why);
		free(why);
		return -1;
	}
	if (argv[0][0] != '/')
		svc_conf_error(cx, line,
		               "hook '%s': exec '%s' is not an absolute path",
		               name, svc_conf_quote(cx, argv[0]));
	else if (!executable_file(argv[0]))
		svc_conf_error(cx, line,
		               "hook '%s': exec '%s' is not an executable file",
		               name, svc_conf_quote(cx, argv[0]));
	svc_conf_strv_free(*(char ***)dst);
	*(char ***)dst = argv;
	return 0;
}

static const struct svc_conf_type hook_exec_type = {
    .name = "command",
    .parse = exec_parse,
    .size = sizeof(char **),
    .free = svc_conf_strv_free_at,
    .equal = svc_conf_strv_equal,
    .copy = svc_conf_strv_copy,
};

#define HF(f) offsetof(struct hook_conf, f)

static const struct svc_conf_item hook_items[] = {
    {.key = "on",
     .type = &svc_conf_pattern,
     .off = HF(on),
     .doc = "the event pattern (required)"},
    {.key = "exec",
     .type = &hook_exec_type,
     .off = HF(argv),
     .doc = "the command: an absolute path and arguments (required)"},
    {.key = "timeout",
     .type = &svc_conf_duration,
     .off = HF(timeout),
     .dflt = "30s",
     .max = "1h",
     .doc = "a run's bound"},
    {.key = "concurrency",
     .type = &svc_conf_uint,
     .off = HF(concurrency),
     .dflt = "1",
     .min = "1",
     .max = "64",
     .doc = "runs at once"},
    {.key = "retries",
     .type = &svc_conf_uint,
     .off = HF(retries),
     .dflt = "0",
     .min = "0",
     .max = "10",
     .doc = "retries of a failed run"},
    {.key = "backoff",
     .type = &svc_conf_duration,
     .off = HF(backoff),
     .dflt = "1s",
     .max = "1h",
     .doc = "the first retry delay, doubling"},
};

static int
hook_check(struct svc_conf_ctx *cx, void *inst)
{
	const char *name = svc_conf_section_name(cx);
	int rc = 0;

	if (!svc_conf_key_line(cx, "on")) {
		svc_conf_error(cx, 0, "hook '%s': 'on' is required", name);
		rc = -1;
	}
	if (!svc_conf_key_line(cx, "exec")) {
		svc_conf_error(cx, 0, "hook '%s': 'exec' is required", name);
		rc = -1;
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
    .doc = "a command run for each matching event",
};

/* ---- control methods ---------------------------------------------------- */

static const struct svc_reply *
m_hooks(struct svc *self, struct svc_call *q)
{
	(void)self;
	return svc_call_ok(q, hooks_list_json());
}

static const struct svc_method hooks_methods[] = {
    {.name = "hooks",
     .fn = m_hooks,
     .access = SVC_ACCESS_READ,
     .doc = "every hook with its counters"},
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
     .help = "events a hook dropped (its queue full)"},
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
     .help = "events this hook dropped (its queue full)"},
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
