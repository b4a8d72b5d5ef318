/*
 * hook_listen.c — listeners (`listen = /path ARGS`): one long-running
 * program per hook, started at init with posix_spawn (no shell, SVCD_HOOK
 * in its environment). It reads the matching events as NDJSON on stdin
 * (each the event's JSON line) and answers each on stdout with a line
 * {"ack": SEQ} or {"nack": SEQ, "error": "..."}; at most `window` events
 * are sent and unanswered (one slot each, so a window of 1 is in order).
 * Other output lines and its stderr are logged. An ack delivers; a nack is
 * a failed attempt (retries/backoff). An event unanswered for `timeout`
 * is a timed-out attempt (retried, then failed for good, like a nack) and
 * the listener is killed. A listener that exits is
 * restarted after the backoff (doubling up to LISTEN_RESTART_MAX, back to
 * the first after an answer) and gets every unanswered event again, in
 * order. A listener that stops reading holds at most `window` events in
 * flight; the rest wait in the hook's queue. Pipes are non-blocking, on the
 * loop; the child is reaped with ev_child.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "services/hook_kind.h"
#include "services/hooks.h"
#include "daemon/log.h"
#include "daemon/util.h"

/* The longest delay between restarts, seconds. */
#define LISTEN_RESTART_MAX 60.0
/* An answer line longer than this is not an answer (logged, cut). */
#define ANSWER_MAX 4096

struct lhook {
	struct hook *h;
	char **argv;
	pid_t pid; /* 0: not running */
	bool up;
	ev_child child;
	ev_io in_w, out_w, err_w;
	struct buf inb; /* lines not yet written */
	struct buf outb, errb;
	size_t out_over, err_over;
	ev_timer restart;
	ev_timer check; /* answer timeouts */
	double delay;
	uint64_t restarts;
	bool warned_unknown;
};

struct lrun {
	bool sent;
	ev_tstamp sent_at;
};

static void lh_spawn(struct lhook *lh);

static void
close_io(ev_io *w)
{
	if (w->fd < 0)
		return;
	ev_io_stop(hook_loop(), w);
	close(w->fd);
	w->fd = -1;
}

static void
flush_in(struct lhook *lh)
{
	ssize_t n;

	while (lh->in_w.fd >= 0 && lh->inb.len) {
		n = write(lh->in_w.fd, buf_head(&lh->inb), lh->inb.len);
		if (n > 0) {
			buf_consume(&lh->inb, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(hook_loop(), &lh->in_w);
			return;
		}
		/* EPIPE: it closed its stdin; it cannot take events */
		log_warn("hook %s: listener pid %ld closed its stdin; killing "
		         "it",
		         lh->h->name, (long)lh->pid);
		buf_reset(&lh->inb);
		close_io(&lh->in_w);
		if (lh->pid > 0)
			kill(-lh->pid, SIGKILL);
		return;
	}
	if (lh->in_w.fd >= 0)
		ev_io_stop(hook_loop(), &lh->in_w);
}

static void
send_run(struct lhook *lh, struct run *r)
{
	struct lrun *lr = r->k;

	buf_append(&lh->inb, r->job->line, r->job->line_len);
	lr->sent = true;
	lr->sent_at = ev_now(hook_loop());
}

static struct run *
find_sent(struct hook *h, uint64_t seq)
{
	for (struct run *r = h->runs; r; r = r->next)
		if (r->active && r->job->seq == seq && r->k &&
		    ((struct lrun *)r->k)->sent)
			return r;
	return NULL;
}

/* One line of the listener's stdout: an answer, or text to log. */
static void
answer(struct lhook *lh, const char *line, size_t n)
{
	struct hook *h = lh->h;
	json_t *o = n < ANSWER_MAX ? json_loadb(line, n, 0, NULL) : NULL;
	json_t *ack = json_object_get(o, "ack");
	json_t *nack = json_object_get(o, "nack");
	json_t *id = ack ? ack : nack;
	struct run *r;

	if (!json_is_integer(id) || json_integer_value(id) < 0) {
		struct buf b = {0};
		size_t over = 0;

		json_decref(o);
		buf_append(&b, line, n);
		buf_putc(&b, '\n');
		hook_log_lines(h->name, &b, &over, false, true);
		buf_free(&b);
		return;
	}
	r = find_sent(h, (uint64_t)json_integer_value(id));
	if (!r) {
		if (!lh->warned_unknown)
			log_warn(
			    "hook %s: listener answered #%" JSON_INTEGER_FORMAT
			    ", which is not in flight (ignored; further "
			    "ones not logged)",
			    h->name, json_integer_value(id));
		lh->warned_unknown = true;
		json_decref(o);
		return;
	}
	lh->delay = h->backoff;
	free(r->k);
	r->k = NULL;
	if (ack) {
		hook_attempt_done(r, HOOK_OK, NULL, 0);
	} else {
		const char *e = json_string_value(json_object_get(o, "error"));

		hook_attempt_done(r, HOOK_RETRY,
		                  xasprintf("nack: %s", e ? e : "(no error)"),
		                  0);
	}
	json_decref(o);
}

static void
read_out(struct lhook *lh)
{
	char tmp[16384];
	ssize_t n;

	while (lh->out_w.fd >= 0) {
		n = read(lh->out_w.fd, tmp, sizeof(tmp));
		if (n > 0) {
			const char *p, *s;

			buf_append(&lh->outb, tmp, (size_t)n);
			s = buf_head(&lh->outb);
			while ((p = memchr(
			            s, '\n',
			            lh->outb.len -
			                (size_t)(s - buf_head(&lh->outb))))) {
				if (lh->out_over) {
					/* the tail of a line too long to be an
					 * answer: logged cut, with its length
					 */
					struct buf b = {0};

					buf_append(&b, s, (size_t)(p - s) + 1);
					hook_log_lines(lh->h->name, &b,
					               &lh->out_over, false,
					               true);
					buf_free(&b);
				} else {
					answer(lh, s, (size_t)(p - s));
				}
				s = p + 1;
			}
			buf_consume(&lh->outb,
			            (size_t)(s - buf_head(&lh->outb)));
			if (lh->outb.len > ANSWER_MAX) {
				/* not an answer: log its head, drop it */
				hook_log_lines(lh->h->name, &lh->outb,
				               &lh->out_over, false, false);
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close_io(&lh->out_w);
	}
}

static void
read_err(struct lhook *lh)
{
	char tmp[4096];
	ssize_t n;

	while (lh->err_w.fd >= 0) {
		n = read(lh->err_w.fd, tmp, sizeof(tmp));
		if (n > 0) {
			buf_append(&lh->errb, tmp, (size_t)n);
			hook_log_lines(lh->h->name, &lh->errb, &lh->err_over,
			               true, false);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close_io(&lh->err_w);
	}
	hook_log_lines(lh->h->name, &lh->errb, &lh->err_over, true, true);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lhook *lh = w->data;

	if (w == &lh->in_w)
		flush_in(lh);
	else if (w == &lh->out_w)
		read_out(lh);
	else
		read_err(lh);
}

/* Unanswered events: sent again to the next listener, in order. */
static void
unsend_all(struct lhook *lh)
{
	for (struct run *r = lh->h->runs; r; r = r->next)
		if (r->active && r->k)
			((struct lrun *)r->k)->sent = false;
	buf_reset(&lh->inb);
}

static void
abandon_all(struct hook *h)
{
	struct run *r, *next;

	for (r = h->runs; r; r = next) {
		next = r->next;
		hook_abandon(r);
	}
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct lhook *lh = w->data;
	struct hook *h = lh->h;
	int st = w->rstatus;
	size_t owed = 0;

	ev_child_stop(loop, w);
	/* down first: what an answer below frees a slot for waits for the
	 * next process (its pid may be reused already) */
	lh->pid = 0;
	lh->up = false;
	close_io(&lh->in_w);
	buf_reset(&lh->inb);
	/* answers it wrote before it went count */
	read_out(lh);
	read_err(lh);
	close_io(&lh->out_w);
	close_io(&lh->err_w);
	hook_log_lines(h->name, &lh->errb, &lh->err_over, true, true);
	buf_reset(&lh->outb);
	ev_timer_stop(loop, &lh->check);
	unsend_all(lh);
	for (struct run *r = h->runs; r; r = r->next)
		owed += r->active;
	free(h->last_error);
	if (WIFEXITED(st))
		h->last_error = xasprintf("listener exited with status %d",
		                          WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		h->last_error =
		    xasprintf("listener killed by signal %d (%s)", WTERMSIG(st),
		              strsignal(WTERMSIG(st)));
	else
		h->last_error = xasprintf("listener wait status %#x", st);
	if (hook_stopping()) {
		log_info("hook %s: %s at stop", h->name, h->last_error);
		abandon_all(h);
		hook_check_stopped();
		return;
	}
	log_warn("hook %s: %s; restarting in %gs (%zu unanswered event%s sent "
	         "again)",
	         h->name, h->last_error, lh->delay, owed, owed == 1 ? "" : "s");
	ev_timer_set(&lh->restart, lh->delay, 0);
	ev_timer_start(loop, &lh->restart);
	lh->delay *= 2;
	if (lh->delay > LISTEN_RESTART_MAX)
		lh->delay = LISTEN_RESTART_MAX;
}

static void
restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lhook *lh = w->data;

	lh->restarts++;
	lh_spawn(lh);
}

static void
check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lhook *lh = w->data;
	struct hook *h = lh->h;
	ev_tstamp now = ev_now(loop);

	for (struct run *r = h->runs; r; r = r->next) {
		struct lrun *lr = r->k;

		if (!r->active || !lr || !lr->sent ||
		    now - lr->sent_at < h->timeout)
			continue;
		log_warn("hook %s: listener pid %ld did not answer %s #%" PRIu64
		         " in %gs; killing it",
		         h->name, (long)lh->pid, r->job->event, r->job->seq,
		         h->timeout);
		if (lh->pid > 0) {
			kill(-lh->pid, SIGKILL);
			kill(lh->pid, SIGKILL);
		}
		ev_timer_stop(loop, w);
		/* the attempt timed out: retried per retries/backoff, then
		 * failed for good, so an event that hangs every listener does
		 * not hold the hook forever (the others are sent again) */
		free(r->k);
		r->k = NULL;
		hook_attempt_done(r, HOOK_TIMEOUT,
		                  xasprintf("no answer in %gs", h->timeout), 0);
		return;
	}
}

static void
lh_spawn(struct lhook *lh)
{
	struct hook *h = lh->h;
	struct ev_loop *loop = hook_loop();
	char *env[2] = {NULL, NULL};
	char *cause = NULL;
	double every;
	int fds[3];

	env[0] = xasprintf("SVCD_HOOK=%s", h->name);
	/* tied: a listener does not outlive svcd, even a kill -9 of it */
	lh->pid = hook_spawn(lh->argv, env, true, fds, &cause);
	free(env[0]);
	if (lh->pid < 0) {
		lh->pid = 0;
		log_warn("hook %s: %s; trying again in %gs", h->name, cause,
		         lh->delay);
		free(h->last_error);
		h->last_error = cause;
		ev_timer_set(&lh->restart, lh->delay, 0);
		ev_timer_start(loop, &lh->restart);
		lh->delay *= 2;
		if (lh->delay > LISTEN_RESTART_MAX)
			lh->delay = LISTEN_RESTART_MAX;
		return;
	}
	lh->up = true;
	lh->warned_unknown = false;
	ev_child_init(&lh->child, child_cb, lh->pid, 0);
	lh->child.data = lh;
	ev_child_start(loop, &lh->child);
	ev_io_init(&lh->in_w, io_cb, fds[0], EV_WRITE);
	ev_io_init(&lh->out_w, io_cb, fds[1], EV_READ);
	ev_io_init(&lh->err_w, io_cb, fds[2], EV_READ);
	lh->in_w.data = lh->out_w.data = lh->err_w.data = lh;
	ev_io_start(loop, &lh->out_w);
	ev_io_start(loop, &lh->err_w);
	every = h->timeout / 4;
	every = every < 0.05 ? 0.05 : every > 1 ? 1 : every;
	ev_timer_set(&lh->check, every, every);
	ev_timer_start(loop, &lh->check);
	log_info("hook %s: listener %s started, pid %ld", h->name, lh->argv[0],
	         (long)lh->pid);
	for (struct run *r = h->runs; r; r = r->next)
		if (r->active && r->k && !((struct lrun *)r->k)->sent)
			send_run(lh, r);
	flush_in(lh);
}

/* ---- the kind ----------------------------------------------------------- */

static void
listen_start(struct run *r)
{
	struct lhook *lh = r->h->k;

	r->k = xcalloc(1, sizeof(struct lrun));
	if (!lh->up)
		return; /* sent when it is back */
	send_run(lh, r);
	flush_in(lh);
}

static void
listen_cancel(struct run *r)
{
	free(r->k);
	r->k = NULL;
}

static void
listen_stop(struct hook *h)
{
	struct lhook *lh = h->k;

	/* Answers are awaited (the stop timer bounds it); with nothing to
	 * answer to, what is in flight stays owed. */
	if (!lh->up) {
		ev_timer_stop(hook_loop(), &lh->restart);
		abandon_all(h);
	}
}

static int
listen_open(struct hook *h, const struct hook_conf *c, char **cause)
{
	struct lhook *lh = xcalloc(1, sizeof(*lh));

	lh->h = h;
	lh->argv = hook_argv_dup(c->listen.argv);
	lh->in_w.fd = lh->out_w.fd = lh->err_w.fd = -1;
	lh->delay = h->backoff;
	h->slots = c->listen.window;
	ev_timer_init(&lh->restart, restart_cb, 0, 0);
	lh->restart.data = lh;
	ev_timer_init(&lh->check, check_cb, 0, 0);
	lh->check.data = lh;
	h->k = lh;
	lh_spawn(lh);
	return 0;
}

static void
listen_close(struct hook *h)
{
	struct lhook *lh = h->k;
	struct ev_loop *loop = hook_loop();

	ev_timer_stop(loop, &lh->restart);
	ev_timer_stop(loop, &lh->check);
	close_io(&lh->in_w); /* EOF: its cue to exit */
	close_io(&lh->out_w);
	close_io(&lh->err_w);
	if (lh->pid > 0) {
		ev_child_stop(loop, &lh->child);
		kill(lh->pid, SIGTERM);
	}
	buf_free(&lh->inb);
	buf_free(&lh->outb);
	buf_free(&lh->errb);
	hook_argv_free(lh->argv);
	free(lh);
	h->k = NULL;
}

static const char *
listen_target(const struct hook *h)
{
	const struct lhook *lh = h->k;

	return lh->argv[0];
}

static void
listen_figures(struct hook *h, json_t *o)
{
	const struct lhook *lh = h->k;

	json_object_set_new(o, "listen", hook_text_json(lh->argv[0]));
	json_object_set_new(o, "window", json_integer(h->slots));
	json_object_set_new(o, "pid",
	                    lh->pid > 0 ? json_integer(lh->pid) : json_null());
	json_object_set_new(o, "restarts",
	                    json_integer((json_int_t)lh->restarts));
}

const struct hook_kind hook_listen_kind = {
    .name = "listen",
    .open = listen_open,
    .start = listen_start,
    .cancel = listen_cancel,
    .stop = listen_stop,
    .close = listen_close,
    .figures = listen_figures,
    .target = listen_target,
};
