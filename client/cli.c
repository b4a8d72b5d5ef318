/*
 * cli.c — svcctl's command line: global and per-command options, parsed
 * against the command table (client/table.c), help output and cli_main.
 * Arity, options and each command's check run here, once, so the handlers
 * in cmds.c only do their job. No command is known here but help.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli.h"
#include "daemon/util.h"

static const struct {
	const char *name;
	unsigned int bit;
	bool has_arg;
	const char *help;
} cli_cmd_opts[] = {
    {"--no-wait", CLI_OPT_NO_WAIT, false, NULL},
    {"--fresh", CLI_OPT_FRESH, false, NULL},
    {"--dot", CLI_OPT_DOT, false, NULL},
    {"--since", CLI_OPT_SINCE, true, "SEQ"},
    {"--last", CLI_OPT_LAST, true, "N"},
    {"-n", CLI_OPT_LAST, true, "N"},
    {"--until", CLI_OPT_UNTIL, true, "TIME"},
    {"--follow", CLI_OPT_FOLLOW, false, NULL},
    {"-f", CLI_OPT_FOLLOW, false, NULL},
    {"--every", CLI_OPT_EVERY, true, "DURATION"},
    {"--after", CLI_OPT_AFTER, true, "DURATION"},
    {"--emit", CLI_OPT_EMIT, true, "EVENT"},
};

static const char cli_global_help[] =
    "Options (before or after the command):\n"
    "  -s, --socket PATH     control socket (default: $SVCD_SOCKET, else\n"
    "                        " CLI_DEFAULT_SOCKET ")\n"
    "  -t, --timeout SECS    reply timeout in seconds or with a unit "
    "(500ms);\n"
    "                        0 waits forever (default 5)\n"
    "      --json            print results as JSON (pretty; NDJSON for "
    "watch)\n"
    "      --color=WHEN      colour: auto (on a terminal unless NO_COLOR\n"
    "                        is set), always or never\n"
    "      --no-color        the same as --color=never\n"
    "      --no-headers      tables without their header line\n"
    "  -h, --help            help (svcctl COMMAND --help for a command)\n"
    "      --version         print svcctl's version\n";

const char *
cli_cmd_name(const struct cli_cmd *cmd)
{
	return cmd ? cmd->name : NULL;
}

static const struct cli_cmd *
find_cmd(const char *name)
{
	for (size_t i = 0; i < cli_ncmds; i++)
		if (strcmp(cli_cmds[i]->name, name) == 0)
			return cli_cmds[i];
	return NULL;
}

/* Levenshtein distance, with a swap of two neighbours counting one. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *prev2, *prev, *cur, d;

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	prev2 = xcalloc(lb + 1, sizeof(*prev2));
	prev = xcalloc(lb + 1, sizeof(*prev));
	cur = xcalloc(lb + 1, sizeof(*cur));
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	d = prev[lb];
	free(prev2);
	free(prev);
	free(cur);
	return d;
}

const char *
cli_suggest(const char *name)
{
	const char *best = NULL;
	size_t bd = 3;

	for (size_t i = 0; i < cli_ncmds; i++) {
		size_t d = edit_distance(name, cli_cmds[i]->name);
		if (d < bd) {
			bd = d;
			best = cli_cmds[i]->name;
		}
	}
	/* "x" is one edit from nothing much: suggest only what is close */
	return best && bd < strlen(best) ? best : NULL;
}

static char *
unknown_command(const char *name)
{
	const char *s = cli_suggest(name);

	if (s)
		return xasprintf("unknown command '%s'; did you mean '%s'?",
		                 name, s);
	return xasprintf("unknown command '%s'", name);
}

int
cli_parse_timeout(const char *s, int *ms, char **cause)
{
	double secs;
	char *why = NULL;

	if (util_parse_duration(s, 1.0, &secs, &why) < 0) {
		*cause = xasprintf("invalid timeout '%s': %s", s, why);
		free(why);
		return -1;
	}
	if (secs == 0) {
		*ms = -1;
		return 0;
	}
	double v = ceil(secs * 1000);
	*ms = v > INT_MAX ? INT_MAX : (int)v;
	return 0;
}

int
cli_exit_for_error(const char *command, const char *cls)
{
	(void)cls;
	/* For health, 1 would read "degraded": an error there is unknown. */
	if (command && strcmp(command, "health") == 0)
		return CLI_EXIT_UNREACHABLE;
	return CLI_EXIT_ERROR;
}

int
cli_health_exit(const char *status)
{
	if (!status)
		return CLI_EXIT_UNREACHABLE;
	if (strcmp(status, "ok") == 0)
		return CLI_EXIT_OK;
	if (strcmp(status, "degraded") == 0)
		return CLI_EXIT_ERROR;
	if (strcmp(status, "failed") == 0)
		return CLI_EXIT_FAILED;
	return CLI_EXIT_UNREACHABLE;
}

void
cli_format_age(double seconds, char *buf, size_t len)
{
	if (!(seconds >= 0)) /* NaN or negative */
		seconds = 0;
	if (seconds < 1) {
		snprintf(buf, len, "%.0fms", seconds * 1000);
		return;
	}
	unsigned long long s = (unsigned long long)seconds;
	if (s < 60)
		snprintf(buf, len, "%llus", s);
	else if (s < 3600)
		snprintf(buf, len, "%llum %llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh %llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%llud %lluh", s / 86400, s % 86400 / 3600);
}

/* "-s PATH", "-sPATH", "--socket PATH", "--socket=PATH": *val, consumed. */
static int
opt_value(int argc, char **argv, int *i, const char *shrt, const char *lng,
          const char **val, bool *matched, char **cause)
{
	const char *a = argv[*i];
	size_t ll = strlen(lng);

	*matched = false;
	if (shrt && strncmp(a, shrt, 2) == 0 && a[2]) {
		*matched = true;
		*val = a + 2;
		return 0;
	}
	if (strncmp(a, lng, ll) == 0 && a[ll] == '=') {
		*matched = true;
		*val = a + ll + 1;
		return 0;
	}
	if ((shrt && strcmp(a, shrt) == 0) || strcmp(a, lng) == 0) {
		*matched = true;
		if (*i + 1 >= argc) {
			*cause = xasprintf("option '%s' needs a value", a);
			return -1;
		}
		*val = argv[++*i];
		return 0;
	}
	return 0;
}

/* A global option at argv[*i]: 1 if it was one, 0 if not, -1 on error. */
static int
parse_global(int argc, char **argv, int *i, struct cli_opts *o, char **cause)
{
	const char *a = argv[*i];
	const char *val;
	bool m;

	if (strcmp(a, "--json") == 0) {
		o->json = true;
		return 1;
	}
	if (strcmp(a, "--no-color") == 0 || strcmp(a, "--no-colour") == 0) {
		o->no_color = true;
		o->color_when = CLI_COLOR_NEVER;
		return 1;
	}
	if (strcmp(a, "--color") == 0 || strcmp(a, "--colour") == 0) {
		o->color_when = CLI_COLOR_ALWAYS;
		return 1;
	}
	if (strncmp(a, "--color=", 8) == 0 || strncmp(a, "--colour=", 9) == 0) {
		const char *w = strchr(a, '=') + 1;
		if (strcmp(w, "auto") == 0)
			o->color_when = CLI_COLOR_AUTO;
		else if (strcmp(w, "always") == 0)
			o->color_when = CLI_COLOR_ALWAYS;
		else if (strcmp(w, "never") == 0)
			o->color_when = CLI_COLOR_NEVER;
		else {
			*cause = xasprintf("invalid value for --color: '%s' "
			                   "(auto, always or never)",
			                   w);
			return -1;
		}
		o->no_color = o->color_when == CLI_COLOR_NEVER;
		return 1;
	}
	if (strcmp(a, "--no-headers") == 0) {
		o->no_headers = true;
		return 1;
	}
	if (strcmp(a, "--commands") == 0) {
		o->list_commands = true;
		return 1;
	}
	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		o->help = true;
		return 1;
	}
	if (strcmp(a, "--version") == 0) {
		o->version = true;
		return 1;
	}
	if (opt_value(argc, argv, i, "-s", "--socket", &val, &m, cause) < 0)
		return -1;
	if (m) {
		if (!*val) {
			*cause = xstrdup("empty socket path");
			return -1;
		}
		o->socket = val;
		return 1;
	}
	if (opt_value(argc, argv, i, "-t", "--timeout", &val, &m, cause) < 0)
		return -1;
	if (m)
		return cli_parse_timeout(val, &o->timeout_ms, cause) < 0 ? -1
		                                                         : 1;
	return 0;
}

static int
set_cmd_opt(struct cli_opts *o, unsigned int bit, const char *name,
            const char *val, char **cause)
{
	uint64_t n;
	double secs;
	char *why = NULL;

	if (o->seen & bit) {
		*cause = xasprintf("option '%s' given twice", name);
		return -1;
	}
	o->seen |= bit;
	switch (bit) {
	case CLI_OPT_SINCE:
	case CLI_OPT_LAST:
		if (bit == CLI_OPT_SINCE && *val &&
		    util_parse_uint(val, UINT64_MAX, &n, NULL) < 0) {
			int64_t us;
			/* not a seq: a time (events checks it is allowed) */
			if (util_parse_when(val, util_now_us(), &us, &why) < 0)
				goto out_bad;
			o->since_time = val;
			break;
		}
		if (util_parse_uint(val, UINT64_MAX, &n, &why) < 0)
			goto out_bad;
		if (bit == CLI_OPT_LAST && n == 0) {
			why = xstrdup("must be at least 1");
			goto out_bad;
		}
		if (bit == CLI_OPT_SINCE)
			o->since = n;
		else
			o->last = n;
		break;
	case CLI_OPT_EVERY:
	case CLI_OPT_AFTER:
		/* svcd's own check: the same range and messages */
		if (util_parse_duration_max(val, UTIL_TASK_MAX,
		                            UTIL_TASK_MAX_TEXT, &secs,
		                            &why) < 0)
			goto out_bad;
		if (bit == CLI_OPT_EVERY)
			o->every = val;
		else
			o->after = val;
		break;
	case CLI_OPT_UNTIL: {
		int64_t us;
		if (util_parse_when(val, util_now_us(), &us, &why) < 0)
			goto out_bad;
		o->until = val;
		break;
	}
	case CLI_OPT_EMIT:
		if (!*val) {
			why = xstrdup("empty event name");
			goto out_bad;
		}
		o->emit = val;
		break;
	default: break;
	}
	return 0;

out_bad:
	*cause = xasprintf("invalid value for %s: %s", name, why);
	free(why);
	return -1;
}

/* One of the command's own_opts at argv[*i]: 1, 0 if not, -1 on error. */
static int
parse_own_opt(int argc, char **argv, int *i, struct cli_opts *o, char **cause)
{
	const char *a = argv[*i];
	const struct cli_own_opt *t = o->cmd ? o->cmd->own_opts : NULL;

	for (size_t k = 0; t && t[k].name && k < CLI_OWN_MAX; k++) {
		size_t nl = strlen(t[k].name);
		const char *val = NULL;
		bool glued = false;

		if (strncmp(a, t[k].name, nl) == 0 && a[nl] == '=') {
			val = a + nl + 1;
			glued = true;
		} else if (t[k].shrt && t[k].arg &&
		           strncmp(a, t[k].shrt, 2) == 0 && a[2]) {
			val = a + 2;
			glued = true;
		} else if (strcmp(a, t[k].name) != 0 &&
		           !(t[k].shrt && strcmp(a, t[k].shrt) == 0)) {
			continue;
		}
		if (o->own[k]) {
			*cause =
			    xasprintf("option '%s' given twice", t[k].name);
			return -1;
		}
		if (!t[k].arg && glued) {
			*cause =
			    xasprintf("option '%s' takes no value", t[k].name);
			return -1;
		}
		if (t[k].arg && !glued) {
			if (*i + 1 >= argc) {
				*cause = xasprintf("option '%s' needs %s", a,
				                   t[k].arg);
				return -1;
			}
			val = argv[++*i];
		}
		o->own[k] = t[k].arg ? val : "";
		return 1;
	}
	return 0;
}

/* A command option at argv[*i]: 1 if it was one, 0 if not, -1 on error. */
static int
parse_cmd_opt(int argc, char **argv, int *i, struct cli_opts *o, char **cause)
{
	const char *a = argv[*i];
	int own = parse_own_opt(argc, argv, i, o, cause);

	if (own)
		return own;

	for (size_t k = 0; k < ARRAY_SIZE(cli_cmd_opts); k++) {
		const char *name = cli_cmd_opts[k].name;
		size_t nl = strlen(name);
		const char *val = NULL;

		if (strncmp(a, name, nl) != 0 || (a[nl] && a[nl] != '='))
			continue;
		if (!o->cmd || !(o->cmd->opts & cli_cmd_opts[k].bit)) {
			*cause = o->cmd ? xasprintf("'%s' takes no option "
			                            "'%s'",
			                            o->cmd->name, name)
			                : xasprintf("option '%s' belongs after "
			                            "a command",
			                            name);
			return -1;
		}
		if (cli_cmd_opts[k].has_arg) {
			if (a[nl] == '=') {
				val = a + nl + 1;
			} else if (*i + 1 < argc) {
				val = argv[++*i];
			} else {
				*cause = xasprintf("option '%s' needs %s", name,
				                   cli_cmd_opts[k].help);
				return -1;
			}
		} else if (a[nl] == '=') {
			*cause = xasprintf("option '%s' takes no value", name);
			return -1;
		}
		if (set_cmd_opt(o, cli_cmd_opts[k].bit, name, val, cause) < 0)
			return -1;
		return 1;
	}
	return 0;
}

static int
check_cmd(struct cli_opts *o, char **cause)
{
	const struct cli_cmd *cmd = o->cmd;

	if (o->help || o->version)
		return 0;
	if (o->nargs < cmd->min_args) {
		*cause = xasprintf("missing argument; usage: svcctl %s %s",
		                   cmd->name, cmd->args);
		return -1;
	}
	if (cmd->max_args >= 0 && o->nargs > cmd->max_args) {
		*cause = xasprintf("'%s': unexpected argument '%s'", cmd->name,
		                   o->args[cmd->max_args]);
		return -1;
	}
	if (cmd->check)
		return cmd->check(o, cause);
	return 0;
}

int
cli_parse(int argc, char **argv, struct cli_opts *o, char **cause)
{
	bool dashdash = false;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
	o->args = xcalloc((size_t)(argc > 0 ? argc : 1), sizeof(*o->args));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!dashdash && a[0] == '-' && a[1]) {
			if (strcmp(a, "--") == 0) {
				dashdash = true;
				continue;
			}
			int r = parse_global(argc, argv, &i, o, cause);
			if (r == 0)
				r = parse_cmd_opt(argc, argv, &i, o, cause);
			if (r < 0)
				return -1;
			if (r > 0)
				continue;
			*cause = xasprintf("unknown option '%s'", a);
			return -1;
		}
		if (!o->cmd) {
			o->cmd = find_cmd(a);
			if (!o->cmd) {
				*cause = unknown_command(a);
				return -1;
			}
			continue;
		}
		o->args[o->nargs++] = argv[i];
	}
	if (!o->cmd) {
		if (o->help || o->version || o->list_commands)
			return 0;
		*cause = xstrdup("no command given");
		return -1;
	}
	return check_cmd(o, cause);
}

void
cli_opts_free(struct cli_opts *o)
{
	free(o->args);
	o->args = NULL;
	o->nargs = 0;
}

static void
print_cmd_help(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f, "Usage: svcctl [OPTIONS] %s%s%s\n\n", cmd->name,
	        *cmd->args ? " " : "", cmd->args);
	fprintf(f, "%s\n", cmd->help);
	fputs(cli_global_help, f);
}

static void
print_usage(FILE *f)
{
	fputs("Usage: svcctl [-s SOCKET] [-t SECONDS] [--json] "
	      "[--color=WHEN] [--no-headers]\n"
	      "              COMMAND [ARGS]\n\n"
	      "Control svcd, the service-host daemon, over its JSON-RPC "
	      "socket.\n\nCommands:\n",
	      f);
	for (size_t i = 0; i < cli_ncmds; i++)
		fprintf(f, "  %-9s %s\n", cli_cmds[i]->name,
		        cli_cmds[i]->summary);
	fputs("\n", f);
	fputs(cli_global_help, f);
	fputs("\nExit status: 0 ok, 1 svcd answered with an error, 3 svcd "
	      "cannot be\nreached, 64 usage error; health: 0 ok, 1 degraded, "
	      "2 failed, 3 unknown;\ncheck: 0 OK, 1 WARNING, 2 CRITICAL, 3 "
	      "UNKNOWN.\n\n"
	      "Examples:\n"
	      "  svcctl status\n"
	      "  svcctl emit user.login user=alice\n"
	      "  svcctl watch 'user.*'\n\n"
	      "Run 'svcctl COMMAND --help' for a command's options and "
	      "examples.\n",
	      f);
}

static int
help_check(const struct cli_opts *o, char **cause)
{
	if (o->nargs == 1 && !find_cmd(o->args[0])) {
		*cause = unknown_command(o->args[0]);
		return -1;
	}
	return 0;
}

static int
cmd_help(struct cli_ctx *c)
{
	if (c->o->nargs == 1)
		print_cmd_help(c->out, find_cmd(c->o->args[0]));
	else
		print_usage(c->out);
	return CLI_EXIT_OK;
}

const struct cli_cmd cli_help_entry = {
    .name = "help",
    .args = "[COMMAND]",
    .summary = "this help, or a command's",
    .help = "Print the list of commands, or the help of "
            "COMMAND.\n\n"
            "Examples:\n"
            "  svcctl help emit\n",
    .min_args = 0,
    .max_args = 1,
    .check = help_check,
    .exec = cmd_help,
};

static bool
want_color(const struct cli_opts *o, FILE *out)
{
	const char *nc = getenv("NO_COLOR");
	const char *term = getenv("TERM");

	if (o->json || o->color_when == CLI_COLOR_NEVER)
		return false;
	if (o->color_when == CLI_COLOR_ALWAYS)
		return true;
	if (nc && *nc)
		return false;
	if (term && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(out));
}

int
cli_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct cli_opts o;
	char *cause = NULL;
	int rc;

	if (cli_parse(argc, argv, &o, &cause) < 0) {
		fprintf(err, "svcctl: %s\n", cause);
		if (o.cmd)
			fprintf(err,
			        "Try 'svcctl %s --help' for more "
			        "information.\n",
			        o.cmd->name);
		else
			fprintf(err, "Try 'svcctl --help' for more "
			             "information.\n");
		free(cause);
		cli_opts_free(&o);
		return CLI_EXIT_USAGE;
	}
	if (o.list_commands && !o.cmd) {
		/* for completion scripts: every command, one a line */
		for (size_t i = 0; i < cli_ncmds; i++)
			fprintf(out, "%s\n", cli_cmds[i]->name);
		rc = CLI_EXIT_OK;
		goto out_free;
	}
	if (o.help) {
		if (o.cmd && o.cmd != &cli_help_entry)
			print_cmd_help(out, o.cmd);
		else
			print_usage(out);
		rc = CLI_EXIT_OK;
		goto out_free;
	}
	if (o.version && (!o.cmd || !o.cmd->own_version)) {
		fprintf(out, "svcctl %s\n", SVCD_VERSION);
		rc = CLI_EXIT_OK;
		goto out_free;
	}

	struct cli_ctx c = {
	    .o = &o,
	    .command = o.cmd->name,
	    .out = out,
	    .err = err,
	    .color = want_color(&o, out),
	    .no_headers = o.no_headers,
	    .socket = o.socket,
	};
	if (!c.socket) {
		const char *env = getenv("SVCD_SOCKET");
		c.socket = env && *env ? env : CLI_DEFAULT_SOCKET;
	}
	rc = o.cmd->exec(&c);
	if (c.connected)
		conn_close(&c.conn);
	fflush(out);

out_free:
	cli_opts_free(&o);
	return rc;
}
