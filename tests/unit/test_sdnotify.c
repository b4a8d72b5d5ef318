/* test_sdnotify.c — Check tests for daemon/sdnotify.c with a real socket
 * standing in for systemd's notify socket. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/sdnotify.h"
#include "testutil.h"

static int
listen_dgram(const char *name, bool abstract, char *envval, size_t envlen)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	socklen_t len;
	if (abstract) {
		snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "%s", name);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
		                  strlen(name));
		snprintf(envval, envlen, "@%s", name);
	} else {
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", name);
		unlink(name);
		len = sizeof(a);
		snprintf(envval, envlen, "%s", name);
	}
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, len), 0);
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
expect(int fd, const char *text)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, text);
}

START_TEST(test_path_socket)
{
	char path[] = "/tmp/svcd-sdn.XXXXXX", env[128];
	ck_assert_ptr_nonnull(mkdtemp(path));
	char sock[160];
	snprintf(sock, sizeof(sock), "%s/notify", path);
	int fd = listen_dgram(sock, false, env, sizeof(env));
	setenv("NOTIFY_SOCKET", env, 1);
	ck_assert_int_eq(sdn_init(), 0);
	ck_assert(sdn_enabled());
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	ck_assert_int_eq(sdn_send("READY=1\nSTATUS=%s", "up"), 0);
	expect(fd, "READY=1\nSTATUS=up");
	sdn_close();
	close(fd);
	unlink(sock);
	rmdir(path);
}
END_TEST

START_TEST(test_abstract_socket)
{
	char name[64], env[128];
	snprintf(name, sizeof(name), "svcd-test-%d", (int)getpid());
	int fd = listen_dgram(name, true, env, sizeof(env));
	setenv("NOTIFY_SOCKET", env, 1);
	ck_assert_int_eq(sdn_init(), 0);
	ck_assert_int_eq(sdn_send("WATCHDOG=1"), 0);
	expect(fd, "WATCHDOG=1");
	sdn_close();
	close(fd);
}
END_TEST

START_TEST(test_disabled_and_bad)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(sdn_init(), 0);
	ck_assert(!sdn_enabled());
	ck_assert_int_eq(sdn_send("READY=1"), 0); /* silent no-op */
	log_set_quiet(1);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(sdn_init(), -1);
	ck_assert(!sdn_enabled());
	log_set_quiet(0);
}
END_TEST

START_TEST(test_watchdog_interval)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_USEC", "4000000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	sdn_init();
	ck_assert_double_eq_tol(sdn_watchdog_interval(), 2.0, 1e-9);
	ck_assert_ptr_null(getenv("WATCHDOG_USEC"));
	/* for another process: not ours */
	setenv("WATCHDOG_USEC", "4000000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	sdn_init();
	ck_assert_double_eq_tol(sdn_watchdog_interval(), 0, 1e-9);
	sdn_close();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sdnotify");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_path_socket);
	tcase_add_test(tc, test_abstract_socket);
	tcase_add_test(tc, test_disabled_and_bad);
	tcase_add_test(tc, test_watchdog_interval);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
