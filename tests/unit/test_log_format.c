/* test_log_format.c — Check tests for daemon/log.c's formats: the json
 * line (time, level, service, message, fields), the service a message is
 * attributed to, and the native journal protocol (SVCD_SERVICE=,
 * SVCD_SEQ=) with its fallback to stderr when the socket refuses. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/log.h"
#include "daemon/util.h"
#include "testutil.h"

static char path[64];
static FILE *cap;
static int saved_stderr = -1;

/* stderr into a temporary file until uncapture() returns what it got. */
static void
capture(void)
{
	fflush(stderr);
	cap = tmpfile();
	ck_assert_ptr_nonnull(cap);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(cap), STDERR_FILENO);
}

static char *
uncapture(void)
{
	struct buf b = {0};
	char chunk[4096];
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(cap);
	while ((n = fread(chunk, 1, sizeof(chunk), cap)) > 0)
		buf_append(&b, chunk, n);
	fclose(cap);
	buf_putc(&b, '\0');
	return b.data;
}

static void
setup(void)
{
	log_set_level(LOGL_DEBUG);
	log_add_source("bus");
	log_add_source("hooks");
	log_add_source_as("hook", "hooks");
	log_set_seq(0);
}

static void
teardown(void)
{
	log_set_format(LOG_FORMAT_TEXT);
	log_set_journal_socket(NULL);
	log_set_seq(0);
	log_set_level(LOGL_INFO);
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

/* The one JSON object of a line; fails on anything else. */
static json_t *
one_object(const char *line)
{
	json_error_t err;
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);

	ck_assert_msg(json_is_object(o), "not a JSON object: %s (%s)", line,
	              err.text);
	return o;
}

START_TEST(test_json_line)
{
	log_set_format(LOG_FORMAT_JSON);
	capture();
	log_info("bus: quoted \"x\" and a\nnewline");
	char *out = uncapture();

	/* one line, ending in a newline */
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	json_t *o = one_object(out);
	ck_assert_uint_eq(json_object_size(o), 5);
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")),
	                 "info");
	ck_assert_str_eq(json_string_value(json_object_get(o, "service")),
	                 "bus");
	ck_assert_str_eq(json_string_value(json_object_get(o, "message")),
	                 "bus: quoted \"x\" and a\\nnewline");
	const char *t = json_string_value(json_object_get(o, "time"));
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(strlen(t), strlen("2026-12-01T10:00:00.000000Z"));
	ck_assert(json_is_object(json_object_get(o, "fields")));
	ck_assert_uint_eq(json_object_size(json_object_get(o, "fields")), 0);
	json_decref(o);
	free(out);
}
END_TEST

START_TEST(test_json_fields_and_seq)
{
	static const struct log_field f[] = {{"hook", "h1"}, {"exit", "2"}};

	log_set_format(LOG_FORMAT_JSON);
	capture();
	uint64_t prev = log_set_seq(42);
	log_fields(LOGL_WARN, f, 2, "hook %s: exited with status 2", "h1");
	log_set_seq(prev);
	log_err("started 'bus' in 0.1 ms");
	log_info("reload: nothing changed");
	char *out = uncapture();

	char *l2 = strchr(out, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	l2[-1] = l3[-1] = '\0';
	json_t *o = one_object(out);
	json_t *fields = json_object_get(o, "fields");
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")),
	                 "warning");
	/* "hook NAME: ..." is the hooks service's */
	ck_assert_str_eq(json_string_value(json_object_get(o, "service")),
	                 "hooks");
	ck_assert_int_eq(json_integer_value(json_object_get(fields, "seq")),
	                 42);
	ck_assert_str_eq(json_string_value(json_object_get(fields, "hook")),
	                 "h1");
	ck_assert_str_eq(json_string_value(json_object_get(fields, "exit")),
	                 "2");
	json_decref(o);
	/* a quoted source; then no source: the identity; seq put back */
	o = one_object(l2);
	ck_assert_str_eq(json_string_value(json_object_get(o, "service")),
	                 "bus");
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")),
	                 "error");
	ck_assert_uint_eq(json_object_size(json_object_get(o, "fields")), 0);
	json_decref(o);
	o = one_object(l3);
	ck_assert_str_eq(json_string_value(json_object_get(o, "service")),
	                 "svcd");
	json_decref(o);
	free(out);
}
END_TEST

START_TEST(test_text_unchanged)
{
	capture();
	log_info("bus: plain");
	char *out = uncapture();

	ck_assert_ptr_nonnull(strstr(out, "]: info: bus: plain\n"));
	ck_assert_int_ne(out[0], '{');
	free(out);
}
END_TEST

/* A datagram socket standing in for the journal's. */
static int
fake_journal(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(path, sizeof(path), "/tmp/svcd-tlog.%d.sock", (int)getpid());
	unlink(path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(log_set_journal_socket(path), 0);
	return fd;
}

START_TEST(test_journal_native)
{
	static const struct log_field f[] = {{"hook", "h\n1"}};
	int fd = fake_journal();
	char dg[4096];

	log_set_format(LOG_FORMAT_JSON); /* the journal wins over the format */
	capture();
	log_set_seq(7);
	log_fields(LOGL_WARN, f, 1, "bus: listener failed");
	log_set_seq(0);
	char *out = uncapture();
	ssize_t n = recv(fd, dg, sizeof(dg) - 1, MSG_DONTWAIT);

	ck_assert_int_gt(n, 0);
	dg[n] = '\0';
	ck_assert_str_eq(out, ""); /* nothing on stderr */
	ck_assert_ptr_nonnull(strstr(dg, "MESSAGE=bus: listener failed\n"));
	ck_assert_ptr_nonnull(strstr(dg, "PRIORITY=4\n"));
	ck_assert_ptr_nonnull(strstr(dg, "SVCD_SERVICE=bus\n"));
	ck_assert_ptr_nonnull(strstr(dg, "SVCD_SEQ=7\n"));
	/* a field's value cannot start a field of its own */
	ck_assert_ptr_nonnull(strstr(dg, "SVCD_HOOK=h\\n1\n"));
	ck_assert_int_eq(dg[n - 1], '\n');
	free(out);

	/* the socket gone: the message goes to stderr instead, not lost */
	close(fd);
	capture();
	log_info("bus: after the journal");
	out = uncapture();
	ck_assert_ptr_nonnull(strstr(out, "\"message\":\"bus: after the "
	                                  "journal\""));
	free(out);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("log_format");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_json_line);
	tcase_add_test(tc, test_json_fields_and_seq);
	tcase_add_test(tc, test_text_unchanged);
	tcase_add_test(tc, test_journal_native);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
