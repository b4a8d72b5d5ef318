/* test_log.c — Check tests for daemon/log.c: levels, the hook, and the
 * escaping of every message at the sink (control characters, C1, invalid
 * UTF-8) so that no input can start a log line of its own. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "testutil.h"

static struct buf got;
static int n_msgs;

static void
hook(enum log_level level, const char *msg, void *arg)
{
	buf_reset(&got);
	buf_puts(&got, msg);
	buf_putc(&got, '\0');
	n_msgs++;
}

static void
setup(void)
{
	n_msgs = 0;
	log_set_level(LOGL_DEBUG);
	log_set_quiet(1);
	log_set_hook(hook, NULL);
}

static void
teardown(void)
{
	log_set_hook(NULL, NULL);
	log_set_quiet(0);
	log_set_level(LOGL_INFO);
	buf_free(&got);
}

/* Log raw (n bytes, may hold NUL-free binary) through "%s"; what the sink
 * made of it. */
static const char *
logged(const char *raw)
{
	log_info("%s", raw);
	ck_assert_int_eq(n_msgs, 1);
	n_msgs = 0;
	return buf_head(&got);
}

static const struct {
	const char *in, *out;
} cases[] = {
    /* clean text, backslashes and valid UTF-8 pass through */
    {"plain text", "plain text"},
    {"a\\nb \\x1b", "a\\nb \\x1b"},
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac "
                                                  "\xf0\x9f\x98\x80"},
    {"\xc2\xa0nbsp \xef\xbf\xbd", "\xc2\xa0nbsp \xef\xbf\xbd"},
    /* C0 controls and DEL */
    {"a\nb", "a\\nb"},
    {"a\rb", "a\\rb"},
    {"a\tb", "a\\tb"},
    {"\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"},
    {"\x01\x07\x08\x0b\x0c\x1f", "\\x01\\x07\\x08\\x0b\\x0c\\x1f"},
    {"del\x7f", "del\\x7f"},
    /* C1 controls, as UTF-8 (U+0085 NEL, U+009B CSI) and as raw bytes */
    {"nel\xc2\x85 csi\xc2\x9b", "nel\\u0085 csi\\u009b"},
    {"csi\x9b"
     "31m",
     "csi\\x9b31m"},
    /* invalid UTF-8: stray continuation, truncated, overlong, surrogate,
     * past U+10FFFF, bytes that never occur */
    {"\x80x", "\\x80x"},
    {"end\xc3", "end\\xc3"},
    {"\xe2\x82", "\\xe2\\x82"},
    {"\xc0\xaf", "\\xc0\\xaf"},
    {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},
    {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
    {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
    {"\xfe\xff", "\\xfe\\xff"},
    /* a forged log line inside event data */
    {"email=a@b.c\n2026-01-01T00:00:00.000000Z svcd[1]: error: FAKE",
     "email=a@b.c\\n2026-01-01T00:00:00.000000Z svcd[1]: error: FAKE"},
};

START_TEST(test_escape)
{
	ck_assert_str_eq(logged(cases[_i].in), cases[_i].out);
}
END_TEST

/* The escaped message is what reaches stderr: one line per message, with
 * the prefix, whatever the message holds. */
START_TEST(test_stderr_one_line)
{
	char path[] = "/tmp/test_log.XXXXXX", line[512];
	int fd = mkstemp(path), saved = dup(2), lines = 0;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	unlink(path);
	log_set_quiet(0);
	fflush(stderr);
	ck_assert_int_ge(dup2(fd, 2), 0);
	log_warn("hook h: a\r\nb\x1b]0;title\x07 \xff");
	log_err("x\n2026-01-01T00:00:00.000000Z svcd[1]: error: FAKE");
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, 2), 0);
	close(saved);
	log_set_quiet(1);

	f = fdopen(fd, "r");
	ck_assert_ptr_nonnull(f);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		ck_assert_msg(strchr(line, '\r') == NULL, "CR in %s", line);
		ck_assert_msg(strchr(line, '\x1b') == NULL, "ESC in %s", line);
		ck_assert_msg(strstr(line, "FAKE") == NULL ||
		                  strstr(line, "]: error: x\\n2026-"),
		              "forged line: %s", line);
		if (lines == 0)
			ck_assert_msg(strstr(line, "]: warning: hook h: "
			                           "a\\r\\nb\\x1b]0;title\\x07 "
			                           "\\xff\n"),
			              "line: %s", line);
		lines++;
	}
	fclose(f);
	ck_assert_int_eq(lines, 2);
}
END_TEST

START_TEST(test_errno_variant_escaped)
{
	errno = ENOENT;
	log_warn_errno("open '%s'", "a\nb");
	ck_assert_str_eq(buf_head(&got),
	                 "open 'a\\nb': No such file or directory");
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_levels)
{
	log_set_level(LOGL_WARN);
	log_info("not this");
	ck_assert_int_eq(n_msgs, 0);
	log_warn("this");
	ck_assert_int_eq(n_msgs, 1);
	ck_assert_str_eq(buf_head(&got), "this");
	ck_assert_int_eq(log_parse_level("warn"), LOGL_WARN);
	ck_assert_int_eq(log_parse_level("loud"), -1);
	ck_assert_str_eq(log_level_name(LOGL_DEBUG), "debug");
}
END_TEST

/* A long clean message is passed as it is and a long dirty one escaped
 * whole (the fast scan and the copy agree past any buffer size). */
START_TEST(test_long_message)
{
	size_t n = 100000;
	char *in = xmalloc(n + 1);

	memset(in, 'a', n);
	in[n] = '\0';
	ck_assert_str_eq(logged(in), in);
	in[n - 1] = '\n';
	const char *out = logged(in);
	ck_assert_uint_eq(strlen(out), n + 1);
	ck_assert_str_eq(out + n - 1, "\\n");
	free(in);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_escape, 0, (int)ARRAY_SIZE(cases));
	tcase_add_test(tc, test_stderr_one_line);
	tcase_add_test(tc, test_errno_variant_escaped);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_long_message);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
