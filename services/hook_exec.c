/*
 * hook_exec.c — exec hooks (`exec = /path ARGS`): a command per event,
 * started with posix_spawn (no shell), the event's JSON line on stdin,
 * SVCD_EVENT, SVCD_SEQ and SVCD_HOOK in the environment, stdout and stderr
 * logged line by line. An attempt is bounded by `timeout` (SIGTERM to the
 * process group, then SIGKILL after HOOKS_KILL_GRACE); exit status 0 is
 * success. Children are reaped with ev_child. Also here: the command type
 * and the spawn shared with listeners (services/hook_listen.c).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "services/hook_kind.h"
#include "services/hooks.h"
#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/util.h"

extern char **environ;

struct xrun {
	struct run *r;
	pid_t pid;
	bool exited;
	bool timed_out;
	bool killed; /* SIGKILL sent */
	int status;
	size_t in_off;
	ev_child child;
	ev_io in_w, out_w, err_w;
	struct buf out, err;
	size_t out_over, err_over; /* bytes of a long line dropped so far */
	ev_timer timer;
};

struct xhook {
	char **argv;
};

/* ---- shared with listeners ---------------------------------------------- */

char **
hook_argv_dup(char *const *argv)
{
	size_t n = 0;
	char **v;

	while (argv[n])
		n++;
	v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(argv[i]);
	return v;
}

void
hook_argv_free(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

static int
make_pipe(int fds[2], int keep_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	util_set_nonblock(fds[keep_end]);
	return 0;
}

/* environ without the variables extra sets, then extra. */
static char **
make_env(char *const *extra)
{
	size_t n = 0, k = 0, nx = 0;
	char **env;

	while (environ && environ[n])
		n++;
	while (extra[nx])
		nx++;
	env = xcalloc(n + nx + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		bool keep = true;

		for (size_t x = 0; x < nx && keep; x++) {
			size_t l = (size_t)(strchr(extra[x], '=') - extra[x]);

			if (!strncmp(environ[i], extra[x], l + 1))
				keep = false;
		}
		if (keep)
			env[k++] = environ[i];
	}
	for (size_t x = 0; x < nx; x++)
		env[k++] = extra[x];
	env[k] = NULL;
	return env;
}

/*
 * The child of a hook that must not outlive svcd (a listener): forked, it
 * asks for SIGTERM when svcd dies (PR_SET_PDEATHSIG: a kill -9 of svcd
 * outside systemd left listeners that ignore EOF running), then does what
 * posix_spawn's attributes do for the others, and execs. Only
 * async-signal-safe calls; an exec error goes back on a close-on-exec pipe.
 * 0 and *pid, or an errno.
 */
static int
spawn_tied(pid_t *pid, char *const *argv, char *const *env, const int in[2],
           const int out[2], const int err[2])
{
	int rep[2], e = 0;
	pid_t parent = getpid(), p;
	ssize_t n;

	if (pipe2(rep, O_CLOEXEC) < 0)
		return errno;
	p = fork();
	if (p < 0) {
		e = errno;
		close(rep[0]);
		close(rep[1]);
		return e;
	}
	if (p == 0) {
		struct sigaction dfl;
		sigset_t none;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (int s = 1; s < NSIG; s++)
			sigaction(s, &dfl, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(127); /* svcd is gone already */
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0)
			e = errno;
		else
			execve(argv[0], argv, env);
		if (!e)
			e = errno;
		n = write(rep[1], &e, sizeof(e));
		(void)n;
		_exit(127);
	}
	close(rep[1]);
	while ((n = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(rep[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		return e;
	}
	*pid = p;
	return 0;
}

pid_t
hook_spawn(char *const *argv, char *const *extra_env, bool tied, int fds[3],
           char **cause)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char **env;
	pid_t pid = -1;
	int e;

	if (make_pipe(in, 1) < 0 || make_pipe(out, 0) < 0 ||
	    make_pipe(err, 0) < 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		goto out_close;
	}
	env = make_env(extra_env);
	if (tied) {
		e = spawn_tied(&pid, argv, env, in, out, err);
		free(env);
		goto spawned;
	}
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
	e = posix_spawn(&pid, argv[0], &fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
spawned:
	if (e) {
		*cause = xasprintf("cannot run %s: %s", argv[0], strerror(e));
		pid = -1;
		goto out_close;
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	fds[0] = in[1];
	fds[1] = out[0];
	fds[2] = err[0];
	return pid;

out_close:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return -1;
}

/* ---- a run -------------------------------------------------------------- */

static void
close_io(struct ev_io *w)
{
	if (w->fd < 0)
		return;
	ev_io_stop(hook_loop(), w);
	close(w->fd);
	w->fd = -1;
}

/* Read what is there; at EOF (or on error) close the pipe. */
static void
drain(struct xrun *x, ev_io *w, struct buf *b, bool is_err)
{
	size_t *over = is_err ? &x->err_over : &x->out_over;
	char tmp[4096];
	ssize_t n;

	while (w->fd >= 0) {
		n = read(w->fd, tmp, sizeof(tmp));
		if (n > 0) {
			buf_append(b, tmp, (size_t)n);
			hook_log_lines(x->r->h->name, b, over, is_err, false);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close_io(w);
	}
	hook_log_lines(x->r->h->name, b, over, is_err, true);
}

static void maybe_done(struct xrun *x);

static void
out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct xrun *x = w->data;

	drain(x, w, w == &x->out_w ? &x->out : &x->err, w == &x->err_w);
	maybe_done(x);
}

static void
in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct xrun *x = w->data;
	struct job *j = x->r->job;
	ssize_t n;

	while (x->in_off < j->line_len) {
		n = write(w->fd, j->line + x->in_off, j->line_len - x->in_off);
		if (n > 0) {
			x->in_off += (size_t)n;
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

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct xrun *x = w->data;

	ev_child_stop(loop, w);
	x->exited = true;
	x->status = w->rstatus;
	ev_timer_stop(loop, &x->timer);
	/* The child is gone: take what it wrote and stop waiting on pipes
	 * a grandchild may still hold open. */
	close_io(&x->in_w);
	drain(x, &x->out_w, &x->out, false);
	drain(x, &x->err_w, &x->err, true);
	close_io(&x->out_w);
	close_io(&x->err_w);
	maybe_done(x);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct xrun *x = w->data;
	struct hook *h = x->r->h;

	if (!x->timed_out) {
		x->timed_out = true;
		log_warn("hook %s: %s #%" PRIu64 " timed out after %gs; "
		         "sending SIGTERM",
		         h->name, x->r->job->event, x->r->job->seq, h->timeout);
		kill(-x->pid, SIGTERM);
		kill(x->pid, SIGTERM);
		ev_timer_set(w, HOOKS_KILL_GRACE, 0);
		ev_timer_start(loop, w);
	} else if (!x->killed) {
		x->killed = true;
		log_warn("hook %s: pid %ld ignored SIGTERM; sending SIGKILL",
		         h->name, (long)x->pid);
		kill(-x->pid, SIGKILL);
		kill(x->pid, SIGKILL);
	}
}

static void
xrun_free(struct xrun *x)
{
	struct ev_loop *loop = hook_loop();

	if (x->pid > 0 && !x->exited) {
		ev_child_stop(loop, &x->child);
		kill(-x->pid, SIGKILL);
		kill(x->pid, SIGKILL);
	}
	close_io(&x->in_w);
	close_io(&x->out_w);
	close_io(&x->err_w);
	ev_timer_stop(loop, &x->timer);
	buf_free(&x->out);
	buf_free(&x->err);
	free(x);
}

static void
maybe_done(struct xrun *x)
{
	struct run *r = x->r;
	struct hook *h = r->h;
	int st = x->status;
	enum hook_result res = HOOK_RETRY;
	char *why = NULL;

	if (!x->exited || x->out_w.fd >= 0 || x->err_w.fd >= 0)
		return;
	if (x->timed_out) {
		res = HOOK_TIMEOUT;
		why = xasprintf("timed out after %gs", h->timeout);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		res = HOOK_OK;
	} else if (WIFEXITED(st)) {
		why = xasprintf("exit status %d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		why = xasprintf("killed by signal %d (%s)", WTERMSIG(st),
		                strsignal(WTERMSIG(st)));
	} else {
		why = xasprintf("wait status %#x", st);
	}
	r->k = NULL;
	xrun_free(x);
	hook_attempt_done(r, res, why, 0);
}

static void
exec_start(struct run *r)
{
	struct hook *h = r->h;
	struct xhook *xh = h->k;
	struct job *j = r->job;
	struct ev_loop *loop = hook_loop();
	struct xrun *x = xcalloc(1, sizeof(*x));
	char *env[4] = {NULL};
	char *cause = NULL;
	int fds[3];

	x->r = r;
	env[0] = xasprintf("SVCD_EVENT=%s", j->event);
	env[1] = xasprintf("SVCD_SEQ=%" PRIu64, j->seq);
	env[2] = xasprintf("SVCD_HOOK=%s", h->name);
	x->pid = hook_spawn(xh->argv, env, false, fds, &cause);
	for (int i = 0; i < 3; i++)
		free(env[i]);
	if (x->pid < 0) {
		free(x);
		hook_attempt_done(r, HOOK_RETRY, cause, 0);
		return;
	}
	r->k = x;
	ev_child_init(&x->child, child_cb, x->pid, 0);
	x->child.data = x;
	ev_child_start(loop, &x->child);
	ev_io_init(&x->in_w, in_cb, fds[0], EV_WRITE);
	ev_io_init(&x->out_w, out_cb, fds[1], EV_READ);
	ev_io_init(&x->err_w, out_cb, fds[2], EV_READ);
	x->in_w.data = x->out_w.data = x->err_w.data = x;
	ev_io_start(loop, &x->in_w);
	ev_io_start(loop, &x->out_w);
	ev_io_start(loop, &x->err_w);
	ev_timer_init(&x->timer, timer_cb, h->timeout, 0);
	x->timer.data = x;
	ev_timer_start(loop, &x->timer);
	log_debug("hook %s: %s #%" PRIu64 " started, pid %ld", h->name,
	          j->event, j->seq, (long)x->pid);
}

static void
exec_cancel(struct run *r)
{
	if (r->k)
		xrun_free(r->k);
	r->k = NULL;
}

static int
exec_open(struct hook *h, const struct hook_conf *c, char **cause)
{
	struct xhook *xh = xcalloc(1, sizeof(*xh));

	xh->argv = hook_argv_dup(c->argv);
	h->k = xh;
	return 0;
}

static void
exec_close(struct hook *h)
{
	struct xhook *xh = h->k;

	hook_argv_free(xh->argv);
	free(xh);
	h->k = NULL;
}

static const char *
exec_target(const struct hook *h)
{
	const struct xhook *xh = h->k;

	return xh->argv[0];
}

static void
exec_figures(struct hook *h, json_t *o)
{
	json_object_set_new(o, "exec", hook_text_json(exec_target(h)));
}

const struct hook_kind hook_exec_kind = {
    .name = "exec",
    .open = exec_open,
    .start = exec_start,
    .cancel = exec_cancel,
    .close = exec_close,
    .figures = exec_figures,
    .target = exec_target,
};

/* ---- the command type (exec =, listen =) -------------------------------- */

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

/* The command split without a shell; its messages are the hook's. */
static int
command_parse(struct svc_conf_ctx *cx, const struct svc_conf_item *it,
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
		svc_conf_error(cx, line, "hook '%s': %s: %s", name, it->key,
		               why);
		free(why);
		return -1;
	}
	if (argv[0][0] != '/')
		svc_conf_error(cx, line,
		               "hook '%s': %s '%s' is not an absolute path",
		               name, it->key, svc_conf_quote(cx, argv[0]));
	else if (!executable_file(argv[0]))
		svc_conf_error(cx, line,
		               "hook '%s': %s '%s' is not an executable file",
		               name, it->key, svc_conf_quote(cx, argv[0]));
	svc_conf_strv_free(*(char ***)dst);
	*(char ***)dst = argv;
	return 0;
}

const struct svc_conf_type hook_command_type = {
    .name = "command",
    .parse = command_parse,
    .size = sizeof(char **),
    .free = svc_conf_strv_free_at,
    .equal = svc_conf_strv_equal,
    .copy = svc_conf_strv_copy,
};
