/*
 * cli.h — what svcctl's command line and its commands share: exit codes,
 * option bits, the parsed options, a command's entry (struct cli_cmd) and
 * the context it runs in. Each command defines its entry next to its exec
 * function (client/cmds.c); client/table.c lists them; cli.c parses argv
 * against that list, prints help and runs the command (docs/svcctl.md).
 * client/svcctl.c only calls cli_main(); the pieces below are exposed for
 * the unit tests.
 */
#ifndef SVCCTL_CLI_H
#define SVCCTL_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "client/conn.h"

#define CLI_DEFAULT_SOCKET     "/run/svcd/svcd.sock"
#define CLI_DEFAULT_TIMEOUT_MS 5000

/* Exit codes (docs/svcctl.md); health uses 0 ok, 1 degraded, 2 failed, 3
 * unknown. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,       /* the daemon answered with an error */
	CLI_EXIT_FAILED = 2,      /* health: failed */
	CLI_EXIT_UNREACHABLE = 3, /* cannot connect, timeout, dropped */
	CLI_EXIT_USAGE = 64,      /* EX_USAGE */
};

/* Command options, one bit each (a command lists those it accepts). */
enum cli_opt_bit {
	CLI_OPT_NO_WAIT = 1 << 0,
	CLI_OPT_FRESH = 1 << 1,
	CLI_OPT_DOT = 1 << 2,
	CLI_OPT_SINCE = 1 << 3,
	CLI_OPT_LAST = 1 << 4,
	CLI_OPT_EVERY = 1 << 5,
	CLI_OPT_AFTER = 1 << 6,
	CLI_OPT_EMIT = 1 << 7,
	CLI_OPT_UNTIL = 1 << 8,
	CLI_OPT_FOLLOW = 1 << 9,
};

/* --color=WHEN */
enum cli_color {
	CLI_COLOR_AUTO = 0, /* on a terminal, unless NO_COLOR or TERM=dumb */
	CLI_COLOR_ALWAYS,
	CLI_COLOR_NEVER,
};

struct cli_cmd;
struct cli_opts;

/*
 * A command's own option (its entry's own_opts, ended by a NULL name),
 * after the command: "--delay 2", "--delay=2", "-d 2", "-d2". cli_parse
 * stores the value in o->own[k] (k its index; "" for a flag) and refuses
 * one given twice; NULL when not given. The command checks the value.
 */
struct cli_own_opt {
	const char *name; /* "--delay" */
	const char *shrt; /* "-d", or NULL */
	const char *arg;  /* "SECS"; NULL: a flag */
};
#define CLI_OWN_MAX 8

/* What a command runs with (made by cli_main). */
struct cli_ctx {
	const struct cli_opts *o;
	const char *command; /* the command's name */
	FILE *out;
	FILE *err;
	bool color;
	bool no_headers; /* tables without their header line */
	const char *socket;
	struct conn conn;
	bool connected;
	volatile sig_atomic_t *interrupt; /* set by SIGINT while watching */
};

/*
 * A command: its entry sits next to its exec function and client/table.c
 * lists it. Arity, options and check are applied by cli_parse, once, so
 * exec only does its job and returns the exit status.
 */
struct cli_cmd {
	const char *name;
	const char *args;    /* synopsis after the name */
	const char *summary; /* one line for the command list */
	const char *help;    /* description, options and examples */
	unsigned int opts;   /* enum cli_opt_bit accepted */
	int min_args;
	int max_args; /* -1: any number */
	/* Rules across options and arguments (NULL: none): -1 with *cause. */
	int (*check)(const struct cli_opts *o, char **cause);
	bool own_version; /* --version runs the command instead of printing */
	const struct cli_own_opt *own_opts; /* NULL: none */
	int (*exec)(struct cli_ctx *c);
};

/* Every command, in the order help lists them (client/table.c). */
extern const struct cli_cmd *const cli_cmds[];
extern const size_t cli_ncmds;
/* help's own entry (cli.c: it prints the list above). */
extern const struct cli_cmd cli_help_entry;

/* A parsed command line. Strings are borrowed from argv. */
struct cli_opts {
	const char *socket; /* NULL: $SVCD_SOCKET, else the default */
	int timeout_ms;     /* < 0: no timeout */
	bool json;
	bool no_color; /* --no-color: the same as --color=never */
	enum cli_color color_when;
	bool no_headers;
	bool list_commands; /* --commands: names, one a line (completion) */
	bool help;
	bool version;
	const struct cli_cmd *cmd; /* NULL when only --help/--version */
	unsigned int seen;         /* enum cli_opt_bit given */
	const char *every;
	const char *after;
	const char *emit;
	unsigned long long since;
	const char *since_time; /* --since TIME (events): RFC 3339 or ago */
	const char *until;      /* --until TIME */
	unsigned long long last;
	const char *own[CLI_OWN_MAX]; /* the command's own_opts given */
	int nargs;
	char **args; /* positional words after the command (array owned) */
};

/*
 * Parse argv (argv[0] is the program). Returns 0, or -1 with *cause for a
 * usage error (caller frees; o->cmd is set if the command was known, for a
 * "try 'svcctl CMD --help'" hint). Free with cli_opts_free either way.
 */
int cli_parse(int argc, char **argv, struct cli_opts *o, char **cause);
void cli_opts_free(struct cli_opts *o);
const char *cli_cmd_name(const struct cli_cmd *cmd);

/* The command nearest to a mistyped name (edit distance at most 2), or
 * NULL. */
const char *cli_suggest(const char *name);

/* -t value: seconds ("2", "0.5") or a duration ("500ms"); 0 = no limit. */
int cli_parse_timeout(const char *s, int *ms, char **cause);

/* Exit status for an error reply of class cls (may be NULL) to command. */
int cli_exit_for_error(const char *command, const char *cls);
/* Exit status for a health status word: ok 0, degraded 1, failed 2, else 3. */
int cli_health_exit(const char *status);

/* "850ms", "12s", "3m 4s", "2h 5m", "3d 4h" — for ages and uptimes. */
void cli_format_age(double seconds, char *buf, size_t len);

/* Run svcctl: output to out, messages to err; returns the exit status. */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif
