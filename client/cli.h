/*
 * cli.h — svcctl's command line: options, the command table, the commands
 * themselves and their output (docs/svcctl.md). client/svcctl.c only calls
 * cli_main(); the pieces below are exposed for the unit tests.
 */
#ifndef SVCCTL_CLI_H
#define SVCCTL_CLI_H

#include <stdbool.h>
#include <stdio.h>

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
};

struct cli_cmd;

/* A parsed command line. Strings are borrowed from argv. */
struct cli_opts {
	const char *socket; /* NULL: $SVCD_SOCKET, else the default */
	int timeout_ms;     /* < 0: no timeout */
	bool json;
	bool no_color;
	bool help;
	bool version;
	const struct cli_cmd *cmd; /* NULL when only --help/--version */
	unsigned int seen;         /* enum cli_opt_bit given */
	const char *every;
	const char *after;
	const char *emit;
	unsigned long long since;
	unsigned long long last;
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
