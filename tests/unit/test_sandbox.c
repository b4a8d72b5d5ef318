/* test_sandbox.c — Check tests for svcd inside a sandbox: a service's
 * refusal of its configuration (svc_refuse_config: a failed boot exits 78)
 * and the bridge's warning when the address family its url needs is
 * forbidden (RestrictAddressFamilies=, imitated with a seccomp filter that
 * makes socket(AF_INET/AF_INET6) fail with EAFNOSUPPORT, in a child). */
#include <check.h>
#include <errno.h>
#include <ev.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/service.h"
#include "daemon/util.h"
#include "testutil.h"

/* -- svc_refuse_config ---------------------------------------------------- */

static bool refuse;

static int
failing_init(struct svc *self, char **cause)
{
	if (refuse)
		svc_refuse_config(self);
	*cause = xstrdup("no");
	return -1;
}

static const struct svc_desc failing = {
    .name = "failing",
    .init = failing_init,
};

static int
start_failing(bool refuse_it, bool *refused)
{
	const struct svc_desc *table[] = {&failing};
	char *cause = NULL;
	struct svc_graph *g = svc_graph_new(EV_DEFAULT, table, 1, &cause);
	int rc;

	ck_assert_ptr_nonnull(g);
	refuse = refuse_it;
	tu_log_capture();
	rc = svc_use(g, "failing", &cause);
	tu_log_release();
	free(cause);
	*refused = svc_graph_config_refused(g);
	svc_reset(g);
	ck_assert(!svc_graph_config_refused(g));
	svc_graph_free(g);
	return rc;
}

START_TEST(test_refuse_config_marks_the_graph)
{
	bool refused;

	ck_assert_int_eq(start_failing(true, &refused), -1);
	ck_assert(refused);
}
END_TEST

START_TEST(test_plain_failure_is_not_a_refusal)
{
	bool refused = true;

	ck_assert_int_eq(start_failing(false, &refused), -1);
	ck_assert(!refused);
}
END_TEST

/* -- the bridge's network warning ----------------------------------------- */

#define WARNING "the unit forbids"

/* socket(AF_INET | AF_INET6, ...) fails with EAFNOSUPPORT from now on. */
static int
forbid_inet(void)
{
#if defined(__x86_64__)
	const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
	const unsigned arch = AUDIT_ARCH_AARCH64;
#else
	const unsigned arch = 0;
#endif
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	             offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 6),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	             offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 4),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	             offsetof(struct seccomp_data, args[0])),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 1, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAFNOSUPPORT),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = SVC_ARRAY_SIZE(f), .filter = f};

	if (!arch)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return 0;
}

/* In a child (the warning is said once per process; the filter stays):
 * load a configuration with [bridge] url twice (start-up, then a reload or
 * --check-config), forbidding AF_INET first if forbid. Returns how many
 * warnings the log has, or -1. */
static int
warnings_for(const char *url, bool forbid)
{
	char dir[] = "/tmp/svcd-sandbox.XXXXXX";
	int status;
	pid_t pid;
	char path[64];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/svcd.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[bridge]\nurl = %s\n", url);
	fclose(f);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *cause = NULL;
		struct svc_conf *c;
		int n;

		if (forbid && forbid_inet() < 0)
			_exit(2);
		tu_log_capture();
		for (int i = 0; i < 2; i++) {
			c = tu_conf_load(path, &cause);
			if (!c)
				_exit(3);
			svc_conf_free(c);
		}
		n = tu_log_count(WARNING);
		if (n == 1 && (!strstr(tu_log_text(), url) ||
		               !strstr(tu_log_text(),
		                       "install the network.conf drop-in "
		                       "(docs/operations.md, 'Drop-ins')")))
			n = 100;
		tu_log_release();
		_exit(n);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	unlink(path);
	rmdir(dir);
	ck_assert(WIFEXITED(status));
	if (forbid && WEXITSTATUS(status) == 2)
		return -1; /* no seccomp here */
	ck_assert_int_ne(WEXITSTATUS(status), 3);
	return WEXITSTATUS(status);
}

START_TEST(test_forbidden_inet_warns_once)
{
	int n = warnings_for("redis://127.0.0.1:6379", true);

	if (n < 0)
		return; /* seccomp unavailable: nothing to test */
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(test_forbidden_inet6_warns_for_an_ipv6_url)
{
	int n = warnings_for("redis://[::1]:6379", true);

	if (n < 0)
		return;
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(test_forbidden_inet_warns_for_a_host_name)
{
	int n = warnings_for("redis://redis.example:6379", true);

	if (n < 0)
		return;
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(test_unix_url_needs_no_network)
{
	int n = warnings_for("unix:///run/redis/redis.sock", true);

	if (n < 0)
		return;
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_allowed_inet_no_warning)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return; /* this test itself runs in such a sandbox */
	close(fd);
	ck_assert_int_eq(warnings_for("redis://127.0.0.1:6379", false), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("refuse-config");

	tcase_add_test(tc, test_refuse_config_marks_the_graph);
	tcase_add_test(tc, test_plain_failure_is_not_a_refusal);
	suite_add_tcase(s, tc);
	tc = tcase_create("bridge-network");
	tcase_add_test(tc, test_forbidden_inet_warns_once);
	tcase_add_test(tc, test_forbidden_inet6_warns_for_an_ipv6_url);
	tcase_add_test(tc, test_forbidden_inet_warns_for_a_host_name);
	tcase_add_test(tc, test_unix_url_needs_no_network);
	tcase_add_test(tc, test_allowed_inet_no_warning);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
