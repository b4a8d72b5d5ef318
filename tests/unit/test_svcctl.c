/*
 * test_svcctl.c — Check tests for svcctl: the key=value/JSON data parser,
 * command-line parsing, exit codes, table rendering, and whole commands
 * run through cli_main against a fake daemon (a thread serving canned
 * JSON-RPC lines on a temporary Unix socket).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "client/args.h"
#include "client/cli.h"
#include "client/tabulate.h"
#include "daemon/util.h"

/* ---- the data parser -------------------------------------------------- */

/* Parse the words and return the JSON text, or NULL (cause set). */
static char *
parse_words(char **cause, int argc, ...)
{
	char *argv[16];
	va_list ap;
	struct buf b = {0};

	ck_assert_int_le(argc, 16);
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	*cause = NULL;
	buf_puts(&b, "prefix:");
	if (args_parse_data(argc, argv, &b, cause) < 0) {
		ck_assert_ptr_nonnull(*cause);
		ck_assert_int_eq(b.len, 7); /* nothing appended */
		buf_free(&b);
		return NULL;
	}
	ck_assert_ptr_null(*cause);
	ck_assert_int_ge(b.len, 7);
	ck_assert(memcmp(buf_head(&b), "prefix:", 7) == 0);
	char *s = xstrndup(buf_head(&b) + 7, b.len - 7);
	buf_free(&b);
	/* the text is valid JSON (svcd reads it) */
	json_t *v = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	ck_assert_msg(json_is_object(v), "not a JSON object: %s", s);
	json_decref(v);
	return s;
}

static void
expect_data(const char *want, int argc, char *a0, char *a1, char *a2)
{
	char *cause;
	char *got = parse_words(&cause, argc, a0, a1, a2);
	ck_assert_msg(got != NULL, "parse failed: %s", cause);
	ck_assert_str_eq(got, want);
	free(got);
}

static void
expect_error(const char *needle, int argc, char *a0, char *a1, char *a2)
{
	char *cause;
	char *got = parse_words(&cause, argc, a0, a1, a2);
	ck_assert_msg(got == NULL, "unexpectedly parsed: %s", got);
	ck_assert_msg(strstr(cause, needle) != NULL, "cause '%s' lacks '%s'",
	              cause, needle);
	free(cause);
}

START_TEST(test_data_numbers)
{
	expect_data("{\"a\":1,\"b\":-42,\"c\":0}", 3, "a=1", "b=-42", "c=0");
	/* numbers keep the user's bytes, not jansson's form of them */
	expect_data("{\"f\":1.5,\"g\":-0.25,\"h\":1e3}", 3, "f=1.5", "g=-0.25",
	            "h=1e3");
	expect_data("{\"e\":1.2E-2}", 1, "e=1.2E-2", NULL, NULL);
	/* past the integer range: a double (svcd refuses the integer), not
	 * an error or a string */
	expect_data("{\"big\":1e20}", 1, "big=100000000000000000000", NULL,
	            NULL);
	expect_error("out of range", 1, "x=1e999", NULL, NULL);
}
END_TEST

/* The data sent is the text the user wrote: every number that jansson
 * would rewrite, in each form of the arguments. */
START_TEST(test_data_bytes_kept)
{
	expect_data("{\"pi\":3.141592653589793,\"t\":1700000000.123456,"
	            "\"z\":-0}",
	            3, "pi=3.141592653589793", "t=1700000000.123456", "z=-0");
	expect_data("{\"e\":1.0E+2,\"big\":12345678901234567,\"x\":1.50}", 3,
	            "e:=1.0E+2", "big=12345678901234567", "x:=1.50");
	expect_data("{\"a\":[1.0E+2,{\"b\":\"caf\\u00e9\"}]}", 1,
	            "a:=[ 1.0E+2 , {\"b\" : \"caf\\u00e9\"} ]", NULL, NULL);
	/* a whole object: compacted, every other byte as written */
	expect_data("{\"pi\":3.141592653589793,\"s\":\"caf\\u00e9 \\\"q\\\"\","
	            "\"e\":1.0E+2}",
	            1,
	            "{ \"pi\": 3.141592653589793,\n \"s\": \"caf\\u00e9 "
	            "\\\"q\\\"\", \"e\": 1.0E+2 }",
	            NULL, NULL);
	/* keys and strings become JSON string literals */
	expect_data("{\"k\\\"q\":\"a\\\\b\\n\",\"u\":\"caf\xc3\xa9\"}", 2,
	            "k\"q=a\\b\n", "u=caf\xc3\xa9", NULL);
}
END_TEST

START_TEST(test_data_literals_and_strings)
{
	expect_data("{\"t\":true,\"f\":false,\"n\":null}", 3, "t=true",
	            "f=false", "n=null");
	expect_data("{\"s\":\"True\",\"e\":\"\",\"u\":\"a b=c\"}", 3, "s=True",
	            "e=", "u=a b=c");
	expect_data("{\"k:x\":\"v\"}", 1, "k:x=v", NULL, NULL);
}
END_TEST

START_TEST(test_data_almost_numbers_are_strings)
{
	static const char *const words[] = {
	    "1e",  "0x10",  "-",        "01",  "+1", ".5", "1.",   "1e+",
	    "--1", "1.2.3", "Infinity", "NaN", " 1", "1 ", "-0x1", "00",
	};
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		char w[32], want[64];
		snprintf(w, sizeof(w), "v=%s", words[i]);
		snprintf(want, sizeof(want), "{\"v\":\"%s\"}", words[i]);
		expect_data(want, 1, w, NULL, NULL);
	}
	bool integer;
	ck_assert(args_is_json_number("-0", &integer) && integer);
	ck_assert(args_is_json_number("0.0e-0", &integer) && !integer);
	ck_assert(!args_is_json_number("", &integer));
}
END_TEST

START_TEST(test_data_raw_json)
{
	expect_data("{\"a\":[1,2],\"o\":{\"x\":null},\"s\":\"42\"}", 3,
	            "a:=[1,2]", "o:={\"x\":null}", "s:=\"42\"");
	expect_data("{\"n\":42}", 1, "n:=42", NULL, NULL);
	expect_error("invalid JSON for key 'a'", 1, "a:=[1,", NULL, NULL);
	expect_error("invalid JSON for key 'a'", 1, "a:=", NULL, NULL);
	expect_error("invalid JSON for key 'b'", 1, "b:=nope", NULL, NULL);
	expect_error("invalid JSON", 1, "o:={\"x\":1,\"x\":2}", NULL, NULL);
}
END_TEST

START_TEST(test_data_bad_keys)
{
	expect_error("empty key", 1, "=1", NULL, NULL);
	expect_error("empty key", 1, ":=1", NULL, NULL);
	expect_error("duplicate key 'a'", 2, "a=1", "a=2", NULL);
	expect_error("duplicate key 'a'", 2, "a=1", "a:=2", NULL);
	expect_error("expected key=value", 1, "novalue", NULL, NULL);
	expect_error("expected key=value", 2, "a=1", "42", NULL);
	expect_error("not valid UTF-8", 1, "k=\xff\xfe", NULL, NULL);
	expect_error("not valid UTF-8", 1, "\xff=1", NULL, NULL);
}
END_TEST

START_TEST(test_data_object_argument)
{
	expect_data("{}", 0, NULL, NULL, NULL);
	expect_data("{\"b\":2,\"a\":[true]}", 1, "{\"b\":2,\"a\":[true]}", NULL,
	            NULL);
	expect_data("{}", 1, "{}", NULL, NULL);
	expect_error("not both", 2, "{\"a\":1}", "b=2", NULL);
	expect_error("not both", 2, "b=2", "{\"a\":1}", NULL);
	expect_error("invalid JSON event data", 1, "{\"a\":", NULL, NULL);
	expect_error("invalid JSON event data", 1, "{\"a\":1,\"a\":2}", NULL,
	             NULL);
	expect_error("must be a JSON object", 1, "[1,2]", NULL, NULL);
	expect_error("must be a JSON object", 1, "\"str\"", NULL, NULL);
}
END_TEST

/* ---- command-line parsing --------------------------------------------- */

static int
parse(struct cli_opts *o, char **cause, const char *line)
{
	static char copy[512];
	char *argv[32];
	int argc = 0;

	snprintf(copy, sizeof(copy), "svcctl %s", line);
	for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	*cause = NULL;
	return cli_parse(argc, argv, o, cause);
}

static void
parse_ok(struct cli_opts *o, const char *line)
{
	char *cause;
	int rc = parse(o, &cause, line);
	ck_assert_msg(rc == 0, "'%s': %s", line, cause);
}

static void
parse_bad(const char *line, const char *needle)
{
	struct cli_opts o;
	char *cause;
	int rc = parse(&o, &cause, line);
	ck_assert_msg(rc < 0, "'%s' parsed", line);
	ck_assert_msg(strstr(cause, needle) != NULL,
	              "'%s': cause '%s' lacks '%s'", line, cause, needle);
	free(cause);
	cli_opts_free(&o);
}

/* --color, --no-headers, -n, -f, --since TIME, --until, did you mean. */
START_TEST(test_cli_shape_options)
{
	struct cli_opts o;

	parse_ok(&o, "--color=always --no-headers services");
	ck_assert_int_eq(o.color_when, CLI_COLOR_ALWAYS);
	ck_assert(o.no_headers);
	cli_opts_free(&o);
	parse_ok(&o, "services --color=never");
	ck_assert_int_eq(o.color_when, CLI_COLOR_NEVER);
	ck_assert(o.no_color);
	cli_opts_free(&o);
	parse_ok(&o, "--color status");
	ck_assert_int_eq(o.color_when, CLI_COLOR_ALWAYS);
	cli_opts_free(&o);
	parse_bad("--color=blue status", "auto, always or never");

	parse_ok(&o, "events -n 5 -f user.*");
	ck_assert_uint_eq(o.last, 5);
	ck_assert(o.seen & CLI_OPT_FOLLOW);
	cli_opts_free(&o);
	parse_bad("events -n 5 --last 6", "given twice");
	parse_ok(&o, "events --since 42");
	ck_assert_uint_eq(o.since, 42);
	ck_assert_ptr_null(o.since_time);
	cli_opts_free(&o);
	parse_ok(&o, "events --since 5m --until 2026-12-01T10:00:00Z");
	ck_assert_str_eq(o.since_time, "5m");
	ck_assert_str_eq(o.until, "2026-12-01T10:00:00Z");
	cli_opts_free(&o);
	parse_bad("events --since soon", "'soon' is not a time");
	parse_bad("events --until 2026-02-30T25:00:00Z", "is not a time");
	parse_bad("events -f --until 1h", "give one of them");
	parse_bad("watch --since 5m", "takes --since SEQ");
	parse_bad("watch --until 5m", "takes no option '--until'");

	parse_bad("stauts", "did you mean 'status'?");
	parse_bad("evnets", "did you mean 'events'?");
	parse_bad("help sevrices", "did you mean 'services'?");
	ck_assert_str_eq(cli_suggest("shutdwon"), "shutdown");
	ck_assert_str_eq(cli_suggest("cal"), "call");
	ck_assert_ptr_null(cli_suggest("xyzzy"));
	ck_assert_ptr_null(cli_suggest("x"));

	parse_ok(&o, "--commands");
	ck_assert(o.list_commands);
	ck_assert_ptr_null(o.cmd);
	cli_opts_free(&o);
}
END_TEST

START_TEST(test_cli_globals)
{
	struct cli_opts o;

	parse_ok(&o, "ping");
	ck_assert_str_eq(cli_cmd_name(o.cmd), "ping");
	ck_assert_ptr_null(o.socket);
	ck_assert_int_eq(o.timeout_ms, CLI_DEFAULT_TIMEOUT_MS);
	cli_opts_free(&o);

	parse_ok(&o, "-s /tmp/x.sock -t 0.5 --json status --no-color");
	ck_assert_str_eq(o.socket, "/tmp/x.sock");
	ck_assert_int_eq(o.timeout_ms, 500);
	ck_assert(o.json && o.no_color);
	cli_opts_free(&o);

	parse_ok(&o, "-s/a -t250ms health --socket=/b -t 0");
	ck_assert_str_eq(o.socket, "/b");
	ck_assert_int_eq(o.timeout_ms, -1);
	cli_opts_free(&o);

	parse_ok(&o, "--timeout=2 emit --help");
	ck_assert(o.help);
	ck_assert_int_eq(o.timeout_ms, 2000);
	ck_assert_str_eq(cli_cmd_name(o.cmd), "emit");
	cli_opts_free(&o);

	parse_ok(&o, "--version");
	ck_assert(o.version);
	ck_assert_ptr_null(o.cmd);
	cli_opts_free(&o);

	parse_bad("", "no command");
	parse_bad("frobnicate", "unknown command 'frobnicate'");
	parse_bad("--frob ping", "unknown option '--frob'");
	parse_bad("-t", "needs a value");
	parse_bad("-t soon ping", "invalid timeout 'soon'");
	parse_bad("-t -1 ping", "invalid timeout");
	parse_bad("ping -s", "needs a value");
}
END_TEST

START_TEST(test_cli_command_options)
{
	struct cli_opts o;

	parse_ok(&o, "emit user.login a=1 --no-wait b=x");
	ck_assert(o.seen & CLI_OPT_NO_WAIT);
	ck_assert_int_eq(o.nargs, 3);
	ck_assert_str_eq(o.args[0], "user.login");
	ck_assert_str_eq(o.args[2], "b=x");
	cli_opts_free(&o);

	parse_ok(&o, "emit ev -- --x=1 -y=2");
	ck_assert_int_eq(o.nargs, 3);
	ck_assert_str_eq(o.args[1], "--x=1");
	cli_opts_free(&o);

	parse_ok(&o, "schedule tick --every 30s --emit app.tick n=1");
	ck_assert_str_eq(o.every, "30s");
	ck_assert_str_eq(o.emit, "app.tick");
	ck_assert_ptr_null(o.after);
	ck_assert_int_eq(o.nargs, 2);
	cli_opts_free(&o);

	parse_ok(&o, "schedule once --after=1.5s --emit=x");
	ck_assert_str_eq(o.after, "1.5s");
	cli_opts_free(&o);

	parse_ok(&o, "watch user.* --since 41 x");
	ck_assert(o.seen & CLI_OPT_SINCE);
	ck_assert_uint_eq(o.since, 41);
	ck_assert_int_eq(o.nargs, 2);
	cli_opts_free(&o);

	parse_ok(&o, "events --last 20");
	ck_assert_uint_eq(o.last, 20);
	cli_opts_free(&o);

	parse_ok(&o, "help emit");
	cli_opts_free(&o);

	parse_bad("status --fresh", "'status' takes no option '--fresh'");
	parse_bad("--fresh health", "belongs after a command");
	parse_bad("emit", "missing argument");
	parse_bad("cancel", "usage: svcctl cancel NAME");
	parse_bad("cancel a b", "unexpected argument 'b'");
	parse_bad("health a b", "unexpected argument 'b'");
	parse_bad("ping extra", "unexpected argument 'extra'");
	parse_bad("schedule t --emit x", "exactly one of --every");
	parse_bad("schedule t --every 1s --after 2s --emit x",
	          "exactly one of --every");
	parse_bad("schedule t --every 1s", "needs --emit");
	parse_bad("schedule t --every 30 --emit x", "needs a unit");
	parse_bad("schedule t --every 0s --emit x", "must be more than 0");
	/* the daemon's own range and message, before anything is sent */
	parse_bad("schedule t --after 1e30s --emit x",
	          "'1e30s' is more than the maximum of 30d");
	parse_bad("schedule t --every 100000d --emit x",
	          "'100000d' is more than the maximum of 30d");
	parse_bad("schedule t --after 1500 --emit x", "needs a unit");
	parse_bad("schedule t --every 1s --emit", "needs EVENT");
	parse_bad("events --last 0", "at least 1");
	parse_bad("events --last many", "--last");
	parse_bad("watch --since -3", "--since");
	parse_bad("shutdown --no-wait --no-wait", "given twice");
	parse_bad("shutdown --no-wait=1", "takes no value");
	parse_bad("health --freshly", "unknown option '--freshly'");
	parse_bad("help nope", "unknown command 'nope'");
}
END_TEST

START_TEST(test_cli_timeout)
{
	int ms;
	char *cause = NULL;

	ck_assert_int_eq(cli_parse_timeout("5", &ms, &cause), 0);
	ck_assert_int_eq(ms, 5000);
	ck_assert_int_eq(cli_parse_timeout("0.001", &ms, &cause), 0);
	ck_assert_int_eq(ms, 1);
	ck_assert_int_eq(cli_parse_timeout("100ms", &ms, &cause), 0);
	ck_assert_int_eq(ms, 100);
	ck_assert_int_eq(cli_parse_timeout("2m", &ms, &cause), 0);
	ck_assert_int_eq(ms, 120000);
	ck_assert_int_eq(cli_parse_timeout("0", &ms, &cause), 0);
	ck_assert_int_eq(ms, -1);
	ck_assert_int_eq(cli_parse_timeout("1e12", &ms, &cause), 0);
	ck_assert_int_eq(ms, 2147483647);
	ck_assert_int_eq(cli_parse_timeout("", &ms, &cause), -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(cli_parse_timeout("3 s", &ms, &cause), -1);
	free(cause);
}
END_TEST

START_TEST(test_exit_codes)
{
	static const char *const classes[] = {
	    "ParseError",    "InvalidRequest",   "MethodNotFound",
	    "InvalidParams", "Internal",         "ShuttingDown",
	    "QueueFull",     "PermissionDenied", "NotFound",
	    "Unavailable",   "TooLarge",         "Busy",
	    "InvalidConfig", "SomethingNew",     NULL,
	};
	for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
		ck_assert_int_eq(cli_exit_for_error("emit", classes[i]), 1);
		ck_assert_int_eq(cli_exit_for_error("reload", classes[i]), 1);
		/* health: an error is "unknown" (3), never "degraded" (1) */
		ck_assert_int_eq(cli_exit_for_error("health", classes[i]), 3);
	}
	ck_assert_int_eq(cli_health_exit("ok"), 0);
	ck_assert_int_eq(cli_health_exit("degraded"), 1);
	ck_assert_int_eq(cli_health_exit("failed"), 2);
	ck_assert_int_eq(cli_health_exit("weird"), 3);
	ck_assert_int_eq(cli_health_exit(NULL), 3);
}
END_TEST

/* ---- tables ----------------------------------------------------------- */

static char *
render(struct tab *t, bool color)
{
	struct buf b = {0};
	tab_render(t, color, &b);
	buf_putc(&b, '\0');
	char *s = xstrdup(buf_head(&b));
	buf_free(&b);
	return s;
}

START_TEST(test_table_alignment)
{
	static const char *const hdr[] = {"NAME", "STATE", "N", "ERROR"};
	struct tab *t = tab_new(4, hdr);
	tab_align_right(t, 2);
	tab_row(t);
	tab_cell(t, TAB_PLAIN, "%s", "manager");
	tab_cell(t, TAB_GREEN, "%s", "running");
	tab_cell(t, TAB_PLAIN, "%d", 7);
	tab_cell(t, TAB_PLAIN, "%s", "");
	tab_row(t);
	tab_cell(t, TAB_PLAIN, "%s", "bus");
	tab_cell(t, TAB_RED, "%s", "failed");
	tab_cell(t, TAB_PLAIN, "%d", 1234);
	tab_cell(t, TAB_PLAIN, "%s", "boom\nline");
	tab_row(t);
	tab_cell(t, TAB_PLAIN, "%s", "µsvc"); /* 4 columns, 5 bytes */
	tab_cell(t, TAB_PLAIN, "%s", "ok");
	ck_assert_uint_eq(tab_rows(t), 3);

	char *s = render(t, false);
	ck_assert_str_eq(s, "NAME     STATE       N  ERROR\n"
	                    "manager  running     7\n"
	                    "bus      failed   1234  boom line\n"
	                    "µsvc     ok\n");
	free(s);
	tab_free(t);
}
END_TEST

START_TEST(test_table_color_not_counted)
{
	static const char *const hdr[] = {"A", "B"};
	struct tab *t = tab_new(2, hdr);
	tab_row(t);
	tab_cell(t, TAB_GREEN, "%s", "ok");
	tab_cell(t, TAB_PLAIN, "%s", "x");
	char *s = render(t, true);
	ck_assert_str_eq(s, "\033[1mA\033[0m   \033[1mB\033[0m\n"
	                    "\033[32mok\033[0m  x\n");
	free(s);
	tab_free(t);

	ck_assert_int_eq(tab_state_color("running"), TAB_GREEN);
	ck_assert_int_eq(tab_state_color("ok"), TAB_GREEN);
	ck_assert_int_eq(tab_state_color("degraded"), TAB_YELLOW);
	ck_assert_int_eq(tab_state_color("blocked"), TAB_YELLOW);
	ck_assert_int_eq(tab_state_color("failed"), TAB_RED);
	ck_assert_int_eq(tab_state_color("inactive"), TAB_PLAIN);
	ck_assert_int_eq(tab_state_color(NULL), TAB_PLAIN);
	ck_assert_uint_eq(tab_width("héllo"), 5);
}
END_TEST

START_TEST(test_format_age)
{
	char b[32];
	cli_format_age(0.25, b, sizeof(b));
	ck_assert_str_eq(b, "250ms");
	cli_format_age(12.7, b, sizeof(b));
	ck_assert_str_eq(b, "12s");
	cli_format_age(184, b, sizeof(b));
	ck_assert_str_eq(b, "3m 4s");
	cli_format_age(7500, b, sizeof(b));
	ck_assert_str_eq(b, "2h 5m");
	cli_format_age(90000, b, sizeof(b));
	ck_assert_str_eq(b, "1d 1h");
	cli_format_age(-5, b, sizeof(b));
	ck_assert_str_eq(b, "0ms");
}
END_TEST

/* ---- whole commands against a fake daemon ------------------------------ */

struct fake {
	char dir[64];
	char path[100];
	int lfd;
	pthread_t thread;
	const char *script; /* sent after the first request line */
	bool dribble;       /* one byte per write */
	bool hold;          /* keep the connection until the client closes */
	char request[4096]; /* the first request line, without '\n' */
};

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	size_t n = 0;
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	while (n < sizeof(f->request) - 1) {
		ssize_t r = read(fd, f->request + n, 1);
		if (r <= 0 || f->request[n] == '\n')
			break;
		n++;
	}
	f->request[n] = '\0';
	if (f->script) {
		size_t len = strlen(f->script);
		size_t step = f->dribble ? 1 : len;
		for (size_t off = 0; off < len; off += step)
			if (send(fd, f->script + off, step, MSG_NOSIGNAL) < 0)
				break;
	}
	if (f->hold) {
		char c;
		while (read(fd, &c, 1) > 0)
			;
	}
	close(fd);
	return NULL;
}

static void
fake_start(struct fake *f, const char *script)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_svcctl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/svcd.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	f->script = script;
}

static void
fake_run(struct fake *f)
{
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

struct run {
	int rc;
	char *out;
	char *err;
};

/* Run svcctl -s PATH -t 2 ARGS... through cli_main, capturing output. */
static struct run
run_cli(const char *sock, const char *args)
{
	struct run r = {0};
	size_t outlen, errlen;
	FILE *out = open_memstream(&r.out, &outlen);
	FILE *err = open_memstream(&r.err, &errlen);
	char line[1024], *argv[32];
	int argc = 0;

	snprintf(line, sizeof(line), "svcctl -s %s -t 2 %s", sock, args);
	for (char *tok = strtok(line, " "); tok; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	r.rc = cli_main(argc, argv, out, err);
	fclose(out);
	fclose(err);
	return r;
}

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

#define ck_assert_contains(hay, needle)                                        \
	ck_assert_msg(strstr((hay), (needle)) != NULL,                         \
	              "[%s] not found in [%s]", (needle), (hay))

/* The fake's request, parsed; checks the JSON-RPC envelope. */
static json_t *
request_params(struct fake *f, const char *method)
{
	json_error_t jerr;
	json_t *req = json_loads(f->request, 0, &jerr);
	ck_assert_msg(req != NULL, "bad request line '%s'", f->request);
	ck_assert_str_eq(json_string_value(json_object_get(req, "jsonrpc")),
	                 "2.0");
	ck_assert_int_eq(json_integer_value(json_object_get(req, "id")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(req, "method")),
	                 method);
	json_t *p = json_incref(json_object_get(req, "params"));
	json_decref(req);
	ck_assert(json_is_object(p));
	return p;
}

static void
assert_params(struct fake *f, const char *method, const char *want)
{
	json_t *p = request_params(f, method);
	char *s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(s, want);
	free(s);
	json_decref(p);
}

START_TEST(test_run_ping)
{
	struct fake f;
	/* a notification and a stranger's reply first: both skipped */
	fake_start(
	    &f, "{\"jsonrpc\":\"2.0\",\"method\":\"event\","
	        "\"params\":{}}\n"
	        "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":1}\n"
	        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"pong\":true}}\n");
	f.dribble = true;
	fake_run(&f);
	struct run r = run_cli(f.path, "ping");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "pong\n");
	ck_assert_str_eq(r.err, "");
	assert_params(&f, "ping", "{}");
	run_free(&r);
}
END_TEST

START_TEST(test_run_emit)
{
	struct fake f;
	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	               "{\"seq\":42,\"listeners\":3}}\n");
	fake_run(&f);
	struct run r = run_cli(f.path, "emit user.login user=bob n=1 "
	                               "ok=true --no-wait");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "emitted user.login as seq 42, 3 listeners\n");
	assert_params(&f, "emit",
	              "{\"data\":{\"n\":1,\"ok\":true,\"user\":\"bob\"},"
	              "\"event\":\"user.login\",\"wait\":false}");
	run_free(&r);

	/* no data words: no data member, wait left to the default */
	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	               "{\"seq\":1,\"listeners\":0}}\n");
	fake_run(&f);
	r = run_cli(f.path, "--json emit x");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "{\n  \"seq\": 1,\n  \"listeners\": 0\n}\n");
	assert_params(&f, "emit", "{\"event\":\"x\"}");
	run_free(&r);
}
END_TEST

/* A reply with another id is not ours, whatever it holds: the command
 * prints the answer to its own request. */
START_TEST(test_run_reply_id_matched)
{
	struct fake f;
	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":"
	               "{\"seq\":7,\"listeners\":0}}\n"
	               "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":"
	               "{\"seq\":8,\"listeners\":0}}\n"
	               "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	               "{\"seq\":42,\"listeners\":3}}\n");
	fake_run(&f);
	struct run r = run_cli(f.path, "emit x");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "emitted x as seq 42, 3 listeners\n");
	run_free(&r);
}
END_TEST

START_TEST(test_run_bad_data_is_usage_error)
{
	/* no daemon at all: the words are checked before connecting */
	struct run r = run_cli("/nonexistent/svcd.sock", "emit x a=1 a=2");
	ck_assert_int_eq(r.rc, 64);
	ck_assert_contains(r.err, "duplicate key 'a'");
	ck_assert_contains(r.err, "svcctl emit --help");
	run_free(&r);
}
END_TEST

START_TEST(test_run_error_reply)
{
	struct fake f;
	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":"
	               "-32001,\"message\":\"event queue is full\",\"data\":"
	               "{\"class\":\"QueueFull\"}}}\n");
	fake_run(&f);
	struct run r = run_cli(f.path, "emit x --no-wait");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "svcctl: event queue is full (QueueFull)\n");
	run_free(&r);

	/* an error line with a null id (svcd could not read us) counts too */
	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":"
	               "-32000,\"message\":\"too many clients\",\"data\":"
	               "{\"class\":\"Busy\"}}}\n");
	fake_run(&f);
	r = run_cli(f.path, "status");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "svcctl: too many clients (Busy)\n");
	run_free(&r);
}
END_TEST

START_TEST(test_run_unreachable)
{
	struct run r = run_cli("/nonexistent/svcd.sock", "ping");
	ck_assert_int_eq(r.rc, 3);
	ck_assert_str_eq(r.err, "svcctl: cannot connect to "
	                        "/nonexistent/svcd.sock: No such file or "
	                        "directory (is svcd running?)\n");
	run_free(&r);

	r = run_cli("/nonexistent/svcd.sock", "health");
	ck_assert_int_eq(r.rc, 3);
	run_free(&r);

	/* version still prints svcctl's own and exits 0 */
	r = run_cli("/nonexistent/svcd.sock", "version");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_contains(r.out, "svcctl " SVCD_VERSION "\n");
	ck_assert_contains(r.out, "not reachable");
	run_free(&r);

	/* SVCD_SOCKET is used when -s is not given */
	setenv("SVCD_SOCKET", "/nonexistent/env.sock", 1);
	char *argv[] = {"svcctl", "ping", NULL};
	char *out = NULL, *err = NULL;
	size_t ol, el;
	FILE *fo = open_memstream(&out, &ol), *fe = open_memstream(&err, &el);
	ck_assert_int_eq(cli_main(2, argv, fo, fe), 3);
	fclose(fo);
	fclose(fe);
	unsetenv("SVCD_SOCKET");
	ck_assert_contains(err, "/nonexistent/env.sock");
	free(out);
	free(err);
}
END_TEST

START_TEST(test_run_timeout_and_early_close)
{
	struct fake f;
	fake_start(&f, NULL); /* reads the request, never answers */
	f.hold = true;
	fake_run(&f);
	struct run r = run_cli(f.path, "-t 30ms ping");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 3);
	ck_assert_contains(r.err, "timed out");
	ck_assert_contains(r.err, f.path);
	run_free(&r);

	fake_start(&f, NULL); /* closes without a word */
	fake_run(&f);
	r = run_cli(f.path, "ping");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 3);
	ck_assert_contains(r.err, "closed the connection without replying");
	run_free(&r);

	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"res"); /* cut short */
	fake_run(&f);
	r = run_cli(f.path, "ping");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 3);
	ck_assert_contains(r.err, "in the middle of a reply");
	run_free(&r);

	fake_start(&f, "this is not json\n");
	fake_run(&f);
	r = run_cli(f.path, "ping");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 3);
	ck_assert_contains(r.err, "invalid reply");
	run_free(&r);
}
END_TEST

static const char health_reply[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"status\":\"%s\","
    "\"services\":["
    "{\"name\":\"bus\",\"state\":\"running\",\"healthy\":true,"
    "\"checked_at\":\"2026-11-23T22:35:06.123456Z\",\"age_ms\":1500,"
    "\"latency_us\":120,\"error\":null,\"blocked_by\":null},"
    "{\"name\":\"control\",\"state\":\"degraded\",\"healthy\":false,"
    "\"checked_at\":null,\"age_ms\":null,\"latency_us\":null,"
    "\"error\":\"ping timed out\",\"blocked_by\":[\"bus\"]}]}}\n";

START_TEST(test_run_health)
{
	static const struct {
		const char *status;
		int rc;
	} cases[] = {{"ok", 0}, {"degraded", 1}, {"failed", 2}, {"?", 3}};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fake f;
		char script[1024];
		snprintf(script, sizeof(script), health_reply, cases[i].status);
		fake_start(&f, script);
		fake_run(&f);
		struct run r = run_cli(f.path, "health control --fresh");
		fake_stop(&f);
		ck_assert_int_eq(r.rc, cases[i].rc);
		assert_params(&f, "health",
		              "{\"fresh\":true,\"service\":\"control\"}");
		if (i == 1) {
			ck_assert_str_eq(
			    r.out,
			    "status: degraded\n"
			    "NAME     STATE     HEALTHY  LATENCY  CHECKED  "
			    "ERROR\n"
			    "bus      running   yes        120us  1s ago\n"
			    "control  degraded  no             -  never    "
			    "ping timed out (blocked by bus)\n");
		}
		run_free(&r);
	}
}
END_TEST

START_TEST(test_run_services_dot_and_table)
{
	static const char reply[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":["
	    "{\"name\":\"worker\",\"requires\":[],\"state\":\"running\","
	    "\"order\":0,\"init_ms\":1,\"error\":null},"
	    "{\"name\":\"bus\",\"requires\":[\"worker\"],\"state\":"
	    "\"failed\",\"order\":1,\"init_ms\":null,\"error\":\"boom\","
	    "\"extra\":{\"x\":1}}]}\n";
	struct fake f;
	fake_start(&f, reply);
	fake_run(&f);
	struct run r = run_cli(f.path, "services --dot");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_contains(r.out, "digraph svcd {\n");
	ck_assert_contains(r.out, "\t\"bus\" [color=red];\n");
	ck_assert_contains(r.out, "\t\"bus\" -> \"worker\";\n");
	ck_assert_contains(r.out, "}\n");
	run_free(&r);

	fake_start(&f, reply);
	fake_run(&f);
	r = run_cli(f.path, "services");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out,
	                 "ORDER  NAME    STATE    REQUIRES  INIT  ERROR\n"
	                 "    0  worker  running  -          1ms\n"
	                 "    1  bus     failed   worker       -  boom\n");
	run_free(&r);
}
END_TEST

START_TEST(test_run_cancel_missing)
{
	struct fake f;
	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	               "{\"cancelled\":false}}\n");
	fake_run(&f);
	struct run r = run_cli(f.path, "cancel nosuch");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "svcctl: no task named 'nosuch'\n");
	assert_params(&f, "cancel", "{\"name\":\"nosuch\"}");
	run_free(&r);
}
END_TEST

START_TEST(test_run_schedule)
{
	struct fake f;
	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	               "{\"name\":\"tick\",\"kind\":\"periodic\"}}\n");
	fake_run(&f);
	struct run r = run_cli(f.path, "schedule tick --every 30s --emit "
	                               "app.tick n:=[1]");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "scheduled 'tick': emit app.tick every 30s\n");
	assert_params(&f, "schedule",
	              "{\"data\":{\"n\":[1]},\"event\":\"app.tick\","
	              "\"every\":\"30s\",\"name\":\"tick\"}");
	run_free(&r);
}
END_TEST

START_TEST(test_run_tasks)
{
	struct fake f;
	fake_start(
	    &f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":["
	        "{\"name\":\"tick\",\"kind\":\"periodic\",\"interval_ms\":"
	        "30000,\"next_run\":\"2000-01-01T00:00:00.5Z\",\"runs\":3,"
	        "\"failures\":1,\"last_error\":\"boom\",\"last_duration_ms\":"
	        "2,\"running\":true,\"origin\":\"control\"},"
	        "{\"name\":\"once\",\"kind\":\"delayed\",\"delay_ms\":"
	        "1500,\"next_run\":\"soon\",\"runs\":0,\"failures\":0,"
	        "\"last_error\":null,\"last_duration_ms\":null,\"running\":"
	        "false,\"origin\":\"config\",\"new_field\":1},"
	        "{\"name\":\"health\",\"kind\":\"periodic\",\"interval_ms\":"
	        "30000,\"next_run\":\"soon\",\"runs\":0,\"failures\":0,"
	        "\"last_error\":null,\"last_duration_ms\":null,\"running\":"
	        "false,\"origin\":\"health\",\"owner\":\"service\"}]}\n");
	fake_run(&f);
	struct run r = run_cli(f.path, "tasks");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out,
	                 "NAME    KIND                SCHEDULE    NEXT  RUNS  "
	                 "FAILS  LAST  OWNER           ERROR\n"
	                 "tick    periodic (running)  every 30s   due      3  "
	                 "    1   2ms  control         boom\n"
	                 "once    delayed             after 1.5s  soon     0  "
	                 "    0     -  config\n"
	                 "health  periodic            every 30s   soon     0  "
	                 "    0     -  service health\n");
	run_free(&r);

	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[]}\n");
	fake_run(&f);
	r = run_cli(f.path, "tasks");
	fake_stop(&f);
	ck_assert_str_eq(r.out, "no tasks\n");
	run_free(&r);
}
END_TEST

static const char watch_script[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"seq\":7}}\n"
    "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":8,"
    "\"time\":\"2026-11-23T22:35:06.123456Z\",\"event\":\"user.login\","
    "\"data\":{\"user\":\"bob\"},\"source\":\"control uid=0 pid=1\"}}\n"
    "{\"jsonrpc\":\"2.0\",\"method\":\"events.lost\",\"params\":"
    "{\"from\":9,\"to\":11}}\n"
    "%s";

START_TEST(test_run_watch)
{
	struct fake f;
	char script[2048];

	/* the connection drops with no sign of shutdown: 3 */
	snprintf(script, sizeof(script), watch_script, "");
	fake_start(&f, script);
	fake_run(&f);
	struct run r = run_cli(f.path, "watch user.* --since 7");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 3);
	ck_assert_str_eq(r.out, "2026-11-23T22:35:06.123456Z  8  user.login  "
	                        "{\"user\":\"bob\"}  (control uid=0 pid=1)\n");
	ck_assert_contains(r.err, "svcctl: missed events 9..11 (3) — slow "
	                          "consumer\n");
	assert_params(&f, "subscribe", "{\"events\":[\"user.*\"],\"since\":7}");
	run_free(&r);

	/* after a service stopping event: a clean exit, NDJSON output */
	snprintf(script, sizeof(script), watch_script,
	         "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{"
	         "\"seq\":12,\"event\":\"service.state\",\"data\":{"
	         "\"service\":\"app\",\"state\":\"stopping\"}}}\n");
	fake_start(&f, script);
	fake_run(&f);
	r = run_cli(f.path, "--json watch");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out,
	                 "{\"seq\":8,\"time\":\"2026-11-23T22:35:06.123456Z\","
	                 "\"event\":\"user.login\",\"data\":{\"user\":\"bob\"},"
	                 "\"source\":\"control uid=0 pid=1\"}\n"
	                 "{\"seq\":12,\"event\":\"service.state\",\"data\":{"
	                 "\"service\":\"app\",\"state\":\"stopping\"}}\n");
	assert_params(&f, "subscribe", "{\"events\":[\"*\"]}");
	run_free(&r);
}
END_TEST

/* Numbers jansson would rewrite (no blanks: run_cli splits on them). */
#define EXACT_DATA                                                             \
	"{\"t\":1700000000.123456,\"pi\":3.141592653589793,\"z\":-0,"          \
	"\"e\":1.0E+2,\"big\":12345678901234567,\"s\":\"caf\\u00e9\"}"
#define EXACT_EVENT(seq)                                                       \
	"{\"seq\":" seq ",\"time\":\"2026-11-23T22:35:06.123456Z\","           \
	"\"event\":\"num.x\",\"data\":" EXACT_DATA ",\"source\":\"control\"}"

/* emit and schedule send the data's bytes; watch and events print them. */
START_TEST(test_run_data_exact)
{
	struct fake f;

	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	               "{\"seq\":1,\"listeners\":0}}\n");
	fake_run(&f);
	struct run r = run_cli(f.path, "emit num.x " EXACT_DATA);
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_contains(f.request, "\"data\":" EXACT_DATA "}");
	run_free(&r);

	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	               "{\"name\":\"once\"}}\n");
	fake_run(&f);
	r = run_cli(f.path, "schedule once --after 1s --emit num.x pi=3.10 "
	                    "e:=1.0E+2");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_contains(f.request, "\"data\":{\"pi\":3.10,\"e\":1.0E+2}}");
	run_free(&r);

	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"seq\":0}}\n"
	               "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":"
	               "" EXACT_EVENT("1") "}\n");
	fake_run(&f);
	r = run_cli(f.path, "--json watch num.*");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 3); /* dropped without a shutdown */
	ck_assert_str_eq(r.out, EXACT_EVENT("1") "\n");
	run_free(&r);

	static const char events_reply[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"events\":["
	    "" EXACT_EVENT("1") "," EXACT_EVENT("2") "],\"next\":null}}\n";
	fake_start(&f, events_reply);
	fake_run(&f);
	r = run_cli(f.path, "--json events num.*");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "{\"events\":[\n" EXACT_EVENT(
	                            "1") ",\n"
	                                 "" EXACT_EVENT("2") "\n]}\n");
	run_free(&r);

	fake_start(&f, events_reply);
	fake_run(&f);
	r = run_cli(f.path, "events num.*");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out,
	                 "2026-11-23T22:35:06.123456Z  1  num.x  " EXACT_DATA
	                 "  (control)\n"
	                 "2026-11-23T22:35:06.123456Z  2  num.x  " EXACT_DATA
	                 "  (control)\n");
	run_free(&r);
}
END_TEST

START_TEST(test_run_shutdown_wait)
{
	struct fake f;
	fake_start(&f,
	           "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"accepted\":"
	           "true}}\n"
	           "{\"jsonrpc\":\"2.0\",\"method\":\"shutdown.progress\","
	           "\"params\":{\"phase\":\"stopping\",\"service\":null,"
	           "\"state\":null}}\n"
	           "{\"jsonrpc\":\"2.0\",\"method\":\"shutdown.progress\","
	           "\"params\":{\"phase\":\"service\",\"service\":\"control\","
	           "\"state\":\"stopping\"}}\n"
	           "{\"jsonrpc\":\"2.0\",\"method\":\"shutdown.progress\","
	           "\"params\":{\"phase\":\"service\",\"service\":\"control\","
	           "\"state\":\"stopped\"}}\n"
	           "{\"jsonrpc\":\"2.0\",\"method\":\"shutdown.exit\","
	           "\"params\":{}}\n");
	fake_run(&f);
	struct run r = run_cli(f.path, "shutdown");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "shutting down\nstopping control\n"
	                        "stopped control\n"
	                        "svcd exited\n");
	assert_params(&f, "shutdown", "{\"wait\":true}");
	run_free(&r);

	fake_start(&f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"accepted\":"
	               "true}}\n");
	f.hold = true;
	fake_run(&f);
	r = run_cli(f.path, "shutdown --no-wait");
	fake_stop(&f);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "shutdown accepted\n");
	assert_params(&f, "shutdown", "{\"wait\":false}");
	run_free(&r);
}
END_TEST

START_TEST(test_run_help)
{
	struct run r = run_cli("/x", "--help");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_contains(r.out, "Usage: svcctl");
	ck_assert_contains(r.out, "schedule");
	run_free(&r);
	r = run_cli("/x", "emit --help");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_contains(r.out, "svcctl emit user.login");
	run_free(&r);
	r = run_cli("/x", "help watch");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_contains(r.out, "--since SEQ");
	run_free(&r);
	r = run_cli("/x", "bogus");
	ck_assert_int_eq(r.rc, 64);
	ck_assert_contains(r.err, "unknown command 'bogus'");
	ck_assert_contains(r.err, "svcctl --help");
	run_free(&r);
}
END_TEST

static Suite *
svcctl_suite(void)
{
	Suite *s = suite_create("svcctl");
	TCase *tc = tcase_create("args");
	tcase_add_test(tc, test_data_numbers);
	tcase_add_test(tc, test_cli_shape_options);
	tcase_add_test(tc, test_data_bytes_kept);
	tcase_add_test(tc, test_data_literals_and_strings);
	tcase_add_test(tc, test_data_almost_numbers_are_strings);
	tcase_add_test(tc, test_data_raw_json);
	tcase_add_test(tc, test_data_bad_keys);
	tcase_add_test(tc, test_data_object_argument);
	suite_add_tcase(s, tc);

	tc = tcase_create("cli");
	tcase_add_test(tc, test_cli_globals);
	tcase_add_test(tc, test_cli_command_options);
	tcase_add_test(tc, test_cli_timeout);
	tcase_add_test(tc, test_exit_codes);
	tcase_add_test(tc, test_table_alignment);
	tcase_add_test(tc, test_table_color_not_counted);
	tcase_add_test(tc, test_format_age);
	suite_add_tcase(s, tc);

	tc = tcase_create("commands");
	tcase_add_test(tc, test_run_ping);
	tcase_add_test(tc, test_run_emit);
	tcase_add_test(tc, test_run_reply_id_matched);
	tcase_add_test(tc, test_run_bad_data_is_usage_error);
	tcase_add_test(tc, test_run_error_reply);
	tcase_add_test(tc, test_run_unreachable);
	tcase_add_test(tc, test_run_timeout_and_early_close);
	tcase_add_test(tc, test_run_health);
	tcase_add_test(tc, test_run_services_dot_and_table);
	tcase_add_test(tc, test_run_cancel_missing);
	tcase_add_test(tc, test_run_schedule);
	tcase_add_test(tc, test_run_tasks);
	tcase_add_test(tc, test_run_watch);
	tcase_add_test(tc, test_run_data_exact);
	tcase_add_test(tc, test_run_shutdown_wait);
	tcase_add_test(tc, test_run_help);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	util_json_use_xmalloc();
	SRunner *sr = srunner_create(svcctl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
