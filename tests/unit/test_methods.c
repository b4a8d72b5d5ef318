/*
 * test_methods.c — the generic dispatcher (daemon/methods.c) over a tiny
 * table of test services: methods gathered from the descriptors, duplicate
 * names refused, the central checks in front of fast handlers as of slow
 * ones, svc_dep's assertion, and `status` built from the services' figures.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "services/bus.h"
#include "daemon/conf.h"
#include "services/control.h"
#include "daemon/fastscan.h"
#include "services/manager.h"
#include "daemon/methods-int.h"
#include "daemon/service.h"
#include "testutil.h"
#include "daemon/util.h"
#include "services/worker.h"

/* ---- a fake transport ---------------------------------------------------- */

static bool t_allow = true;
static bool t_stopping;

static bool
ft_allowed(void *conn, enum svc_access a)
{
	return a == SVC_ACCESS_READ || t_allow;
}

static const char *
ft_source(void *conn)
{
	return "test";
}

static unsigned long
ft_uid(void *conn)
{
	return 1000;
}

static long
ft_pid(void *conn)
{
	return 42;
}

static bool
ft_shutting_down(void)
{
	return t_stopping;
}

static const struct svc_transport ft = {
    .allowed = ft_allowed,
    .source = ft_source,
    .uid = ft_uid,
    .pid = ft_pid,
    .shutting_down = ft_shutting_down,
};

/* ---- the test services --------------------------------------------------- */

static int fast_calls, slow_calls;

static int
ok_init(struct svc *self, char **cause)
{
	return 0;
}

static const struct svc_reply *
m_get(struct svc *self, struct svc_call *c)
{
	return svc_call_ok(c, json_pack("{s:s, s:s}", "owner", svc_name(self),
	                                "source", svc_call_source(c)));
}

static const struct svc_reply *
m_echo(struct svc *self, struct svc_call *c)
{
	slow_calls++;
	return svc_call_ok(c,
	                   json_integer((json_int_t)svc_call_uint(c, "n", 0)));
}

static int
f_echo(struct svc *self, struct svc_call *c, const struct fastscan_req *f,
       const struct fastscan_member *const *p, struct buf *out)
{
	char *w = svc_fast_head(out, f, p[0]->vl + 3); /* n: required */

	fast_calls++;
	if (w) {
		memcpy(w, p[0]->v, p[0]->vl);
		w += p[0]->vl;
		memcpy(w, "}\n", 2);
		svc_fast_end(out, w + 2);
	}
	return METHODS_OK;
}

static const struct svc_param p_echo[] = {
    {"n", SVC_P_UINT, true},
};

static const struct svc_method alpha_methods[] = {
    {.name = "alpha.get", .fn = m_get, .access = SVC_ACCESS_READ},
    {.name = "alpha.echo",
     .fn = m_echo,
     .fast = f_echo,
     .access = SVC_ACCESS_EMIT,
     .flags = SVC_M_LIVE,
     SVC_PARAMS(p_echo),
     .needs = SVC_NEEDS("beta")},
};

static json_t *
beta_figures(struct svc *self)
{
	return json_pack("{s:i}", "answer", 42);
}

static const struct svc_desc beta_service = {
    .name = "beta",
    .init = ok_init,
    .figures = beta_figures,
};

static const struct svc_desc alpha_service = {
    .name = "alpha",
    .requires = SVC_REQUIRES("beta"),
    .init = ok_init,
    SVC_METHODS(alpha_methods),
};

/* a second "alpha.get": refused when the table is built */
static const struct svc_method dup_methods[] = {
    {.name = "alpha.get", .fn = m_get, .access = SVC_ACCESS_READ},
};
static const struct svc_desc dup_service = {
    .name = "dup",
    .init = ok_init,
    SVC_METHODS(dup_methods),
};

/*
 * gamma: fast methods whose names share their first 4 bytes and length
 * ("gamma.args", "gamma.argz"), params whose names do too ("alpha1",
 * "alpha2"), and a plain one (READ, no params, not live: "gamma.ping").
 * Both handlers of gamma.args answer the params in the spec's order, a
 * missing one as null: the fast one from p[k], the general one by name.
 */
static const struct svc_param p_args[] = {
    {"alpha1", SVC_P_UINT, false},
    {"alpha2", SVC_P_STRING, true},
    {"n", SVC_P_BOOL, false},
};

static const struct svc_reply *
m_args(struct svc *self, struct svc_call *c)
{
	json_t *a = json_array();

	slow_calls++;
	for (size_t k = 0; k < 3; k++) {
		json_t *v = svc_call_param(c, p_args[k].name);

		json_array_append(a, v ? v : json_null());
	}
	return svc_call_ok(c, a);
}

static int
f_args(struct svc *self, struct svc_call *c, const struct fastscan_req *f,
       const struct fastscan_member *const *p, struct buf *out)
{
	struct buf b = {0};
	char *w;

	fast_calls++;
	for (size_t k = 0; k < 3; k++) {
		buf_putc(&b, k ? ',' : '[');
		if (p[k])
			buf_append(&b, p[k]->v, p[k]->vl);
		else
			buf_append(&b, "null", 4);
	}
	buf_append(&b, "]}\n", 3);
	if ((w = svc_fast_head(out, f, b.len))) {
		memcpy(w, buf_head(&b), b.len);
		svc_fast_end(out, w + b.len);
	}
	buf_free(&b);
	return METHODS_OK;
}

static const struct svc_reply *
m_argz(struct svc *self, struct svc_call *c)
{
	slow_calls++;
	return svc_call_ok(c, json_string("argz"));
}

static int
f_argz(struct svc *self, struct svc_call *c, const struct fastscan_req *f,
       const struct fastscan_member *const *p, struct buf *out)
{
	char *w = svc_fast_head(out, f, 8);

	fast_calls++;
	if (w) {
		memcpy(w, "\"argz\"}\n", 8);
		svc_fast_end(out, w + 8);
	}
	return METHODS_OK;
}

static const struct svc_reply *
m_gping(struct svc *self, struct svc_call *c)
{
	slow_calls++;
	return svc_call_ok(c, json_string("pong"));
}

static int
f_gping(struct svc *self, struct svc_call *c, const struct fastscan_req *f,
        const struct fastscan_member *const *p, struct buf *out)
{
	char *w = svc_fast_head(out, f, 8);

	fast_calls++;
	if (w) {
		memcpy(w, "\"pong\"}\n", 8);
		svc_fast_end(out, w + 8);
	}
	return METHODS_OK;
}

static const struct svc_method gamma_methods[] = {
    {.name = "gamma.argz",
     .fn = m_argz,
     .fast = f_argz,
     .access = SVC_ACCESS_READ},
    {.name = "gamma.args",
     .fn = m_args,
     .fast = f_args,
     .access = SVC_ACCESS_READ,
     SVC_PARAMS(p_args)},
    {.name = "gamma.ping",
     .fn = m_gping,
     .fast = f_gping,
     .access = SVC_ACCESS_READ},
};

static const struct svc_desc gamma_service = {
    .name = "gamma",
    .init = ok_init,
    SVC_METHODS(gamma_methods),
};

/* ---- fixture ------------------------------------------------------------- */

static struct ev_loop *loop;
static struct svc_graph *graph;
static struct methods_table *mt;
static ev_timer guard, tick;
static bool timed_out;

static void
setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	tu_deadline_start(loop, &guard, 10, &timed_out);
	tu_tick_start(loop, &tick);
	t_allow = true;
	t_stopping = false;
	fast_calls = slow_calls = 0;
	methods_set_fast_path(true);
}

static void
teardown(void)
{
	methods_table_free(mt);
	mt = NULL;
	if (graph) {
		tu_stop(loop, graph, &timed_out);
		svc_graph_free(graph);
		graph = NULL;
	}
	tu_use_graph(NULL);
	ev_timer_stop(loop, &guard);
	ev_timer_stop(loop, &tick);
	ev_loop_destroy(loop);
	methods_set_fast_path(true);
}

static void
build(const struct svc_desc *const *table, size_t n, bool boot)
{
	char *cause = NULL;

	if (boot) {
		ck_assert_int_eq(tu_boot(loop, table, n, &graph, &timed_out),
		                 0);
	} else {
		graph = svc_graph_new(loop, table, n, &cause);
		ck_assert_msg(graph != NULL, "%s", cause ? cause : "");
	}
	mt = methods_table_new(graph, &cause);
	ck_assert_msg(mt != NULL, "%s", cause ? cause : "");
}

/* Dispatch one line; the reply line (without its newline), new string. */
static char *
run(const char *req, enum methods_outcome *o)
{
	size_t n = strlen(req);
	char *line = xmalloc(n + 1);
	struct buf out = {0};
	enum methods_outcome got;
	char *text;

	memcpy(line, req, n);
	line[n] = '\n'; /* the sentinel the scanner relies on */
	got = methods_dispatch(mt, &ft, NULL, line, n, &out);
	if (o)
		*o = got;
	free(line);
	text =
	    xstrndup(out.len ? buf_head(&out) : "", out.len ? out.len - 1 : 0);
	buf_free(&out);
	return text;
}

/* The reply with the fast path on, checked equal to the general path's. */
static char *
run_both(const char *req)
{
	char *fast, *slow;

	methods_set_fast_path(false);
	slow = run(req, NULL);
	methods_set_fast_path(true);
	fast = run(req, NULL);
	ck_assert_str_eq(fast, slow);
	free(slow);
	return fast;
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_registered_callable)
{
	static const struct svc_desc *const table[] = {&beta_service,
	                                               &alpha_service};
	enum methods_outcome o;
	char *r;

	build(table, 2, true);
	r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"alpha.get\"}", &o);
	ck_assert_int_eq(o, METHODS_OK);
	ck_assert_str_eq(r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	                    "{\"owner\":\"alpha\",\"source\":\"test\"}}");
	free(r);
	json_t *names = methods_names(mt);
	ck_assert_int_eq(json_array_size(names), 2);
	ck_assert_str_eq(json_string_value(json_array_get(names, 0)),
	                 "alpha.get");
	json_decref(names);
	r = run("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"beta.get\"}", &o);
	ck_assert_int_eq(o, METHODS_ERROR);
	ck_assert_ptr_nonnull(strstr(r, "unknown method 'beta.get'"));
	free(r);
}
END_TEST

START_TEST(test_duplicate_refused)
{
	static const struct svc_desc *const table[] = {
	    &beta_service, &alpha_service, &dup_service};
	char *cause = NULL;

	graph = svc_graph_new(loop, table, 3, &cause);
	ck_assert_ptr_nonnull(graph);
	ck_assert_ptr_null(methods_table_new(graph, &cause));
	ck_assert_str_eq(cause, "duplicate method 'alpha.get' (services "
	                        "'alpha' and 'dup')");
	free(cause);
}
END_TEST

#define ECHO(params)                                                           \
	"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"alpha.echo\","             \
	"\"params\":" params "}"

START_TEST(test_fast_handler_checks)
{
	static const struct svc_desc *const table[] = {&beta_service,
	                                               &alpha_service};
	char *r;

	build(table, 2, true);
	/* all checks pass: the fast handler answers, as the slow one does */
	r = run_both(ECHO("{\"n\":5}"));
	ck_assert_str_eq(r, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":5}");
	free(r);
	ck_assert_int_eq(fast_calls, 1);
	ck_assert_int_eq(slow_calls, 1);

	/* access, from the same table entry */
	t_allow = false;
	r = run_both(ECHO("{\"n\":5}"));
	ck_assert_ptr_nonnull(
	    strstr(r, "permission denied: 'alpha.echo' requires emit access"));
	free(r);
	t_allow = true;
	/* the params spec: wrong type, missing, unknown */
	r = run_both(ECHO("{\"n\":\"five\"}"));
	ck_assert_ptr_nonnull(strstr(r, "-32602"));
	free(r);
	r = run_both(ECHO("{}"));
	ck_assert_ptr_nonnull(strstr(r, "-32602"));
	free(r);
	r = run_both(ECHO("{\"n\":1,\"x\":2}"));
	ck_assert_ptr_nonnull(strstr(r, "-32602"));
	free(r);
	/* liveness */
	t_stopping = true;
	r = run_both(ECHO("{\"n\":5}"));
	ck_assert_ptr_nonnull(strstr(r, "ShuttingDown"));
	free(r);
	t_stopping = false;
	ck_assert_int_eq(fast_calls, 1);
	ck_assert_int_eq(slow_calls, 1);
}
END_TEST

/* needs: a service the method needs (here its owner) is not running */
START_TEST(test_fast_handler_needs)
{
	static const struct svc_desc *const table[] = {&beta_service,
	                                               &alpha_service};
	char *r;

	build(table, 2, false); /* nothing started */
	r = run_both(ECHO("{\"n\":5}"));
	ck_assert_str_eq(r, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{"
	                    "\"code\":-32004,\"message\":\"service 'alpha' "
	                    "is not running\",\"data\":{\"class\":"
	                    "\"Unavailable\"}}}");
	free(r);
	ck_assert_int_eq(fast_calls, 0);
	ck_assert_int_eq(slow_calls, 0);
}
END_TEST

#define GAMMA(method, params)                                                  \
	"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"gamma." method "\"" params \
	"}"
#define RESULT(v) "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":" v "}"

/* a fast handler gets params[k] of its spec as p[k], whatever the order
 * they came in; names alike in their first 4 bytes and length are told
 * apart (methods and params) */
START_TEST(test_fast_params_in_spec_order)
{
	static const struct svc_desc *const table[] = {&gamma_service};
	char *r;

	build(table, 1, true);
	r = run_both(GAMMA("args", ",\"params\":{\"n\":true,\"alpha2\":\"x\","
	                           "\"alpha1\":9}"));
	ck_assert_str_eq(r, RESULT("[9,\"x\",true]"));
	free(r);
	r = run_both(GAMMA("args", ",\"params\":{\"alpha2\":\"y\"}"));
	ck_assert_str_eq(r, RESULT("[null,\"y\",null]"));
	free(r);
	r = run_both(GAMMA("argz", ""));
	ck_assert_str_eq(r, RESULT("\"argz\""));
	free(r);
	ck_assert_int_eq(fast_calls, 3);
	ck_assert_int_eq(slow_calls, 3);
	/* alpha3 is not in the spec, though it matches alpha1's first 4
	 * bytes and length; alpha1 without the required alpha2 */
	r = run_both(GAMMA("args", ",\"params\":{\"alpha2\":\"y\","
	                           "\"alpha3\":1}"));
	ck_assert_ptr_nonnull(strstr(r, "-32602"));
	free(r);
	r = run_both(GAMMA("args", ",\"params\":{\"alpha1\":1}"));
	ck_assert_ptr_nonnull(strstr(r, "-32602"));
	free(r);
	/* "gamma.argx" is no method, though it looks like two */
	r = run_both(GAMMA("argx", ""));
	ck_assert_ptr_nonnull(strstr(r, "unknown method 'gamma.argx'"));
	free(r);
	ck_assert_int_eq(fast_calls, 3);
}
END_TEST

/* a plain method (READ, no params, not live) keeps the checks that apply:
 * params refused, and its service must be running */
START_TEST(test_fast_plain_method)
{
	static const struct svc_desc *const table[] = {&gamma_service};
	char *r;

	build(table, 1, true);
	r = run_both(GAMMA("ping", ""));
	ck_assert_str_eq(r, RESULT("\"pong\""));
	free(r);
	r = run_both(GAMMA("ping", ",\"params\":{}"));
	ck_assert_str_eq(r, RESULT("\"pong\""));
	free(r);
	t_allow = false;   /* READ: allowed anyway */
	t_stopping = true; /* not live: answered while shutting down */
	r = run_both(GAMMA("ping", ""));
	ck_assert_str_eq(r, RESULT("\"pong\""));
	free(r);
	t_allow = true;
	t_stopping = false;
	ck_assert_int_eq(fast_calls, 3);
	ck_assert_int_eq(slow_calls, 3);
	r = run_both(GAMMA("ping", ",\"params\":{\"x\":1}"));
	ck_assert_ptr_nonnull(strstr(r, "-32602"));
	free(r);
	ck_assert_int_eq(tu_stop(loop, graph, &timed_out), 0);
	r = run_both(GAMMA("ping", ""));
	ck_assert_ptr_nonnull(strstr(r, "service 'gamma' is not running"));
	free(r);
	ck_assert_int_eq(fast_calls, 3);
	ck_assert_int_eq(slow_calls, 3);
}
END_TEST

static int
undeclared_init(struct svc *self, char **cause)
{
	svc_dep(self, "alpha"); /* not in its requires: aborts */
	return 0;
}

static const struct svc_desc rogue_service = {
    .name = "rogue",
    .requires = SVC_REQUIRES("beta"),
    .init = undeclared_init,
};

START_TEST(test_dep_undeclared_aborts)
{
	static const struct svc_desc *const table[] = {
	    &beta_service, &alpha_service, &rogue_service};

	tu_log_capture();
	tu_boot(loop, table, 3, &graph, &timed_out);
}
END_TEST

START_TEST(test_dep_and_priv)
{
	static const struct svc_desc *const table[] = {&beta_service,
	                                               &alpha_service};
	struct svc *a, *b;
	int x;

	build(table, 2, true);
	a = svc_graph_find(graph, "alpha");
	b = svc_graph_find(graph, "beta");
	ck_assert_ptr_eq(svc_dep(a, "beta"), b);
	svc_set_priv(b, &x);
	ck_assert_ptr_eq(svc_priv(svc_dep(a, "beta")), &x);
	ck_assert_int_eq(tu_stop(loop, graph, &timed_out), 0);
	ck_assert_ptr_null(svc_dep(a, "beta")); /* stopped */
	ck_assert_ptr_null(svc_priv(b));        /* cleared by the stop */
}
END_TEST

START_TEST(test_status_figures)
{
	static const struct svc_desc *const table[] = {
	    &manager_service, &worker_service, &bus_service,
	    &control_service, &beta_service,   &alpha_service};
	char dir[] = "/tmp/test_methods.XXXXXX";
	char *r, *sock;
	json_t *v, *res;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	tu_log_capture();
	tu_conf_text(dir, "[daemon]\nsocket = @D/svcd.sock\n");
	build(table, 6, true);
	r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}", NULL);
	v = json_loads(r, 0, NULL);
	ck_assert_ptr_nonnull(v);
	res = json_object_get(v, "result");
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     json_object_get(res, "beta"), "answer")),
	                 42);
	ck_assert_ptr_nonnull(json_object_get(res, "bus"));
	ck_assert_ptr_nonnull(json_object_get(res, "control"));
	ck_assert_ptr_null(json_object_get(res, "alpha")); /* no figures */
	json_decref(v);
	free(r);
	tu_stop(loop, graph, &timed_out);
	methods_table_free(mt); /* before its graph */
	mt = NULL;
	svc_graph_free(graph);
	graph = NULL;
	tu_log_release();
	sock = xasprintf("%s/svcd.sock", dir);
	unlink(sock);
	free(sock);
	rmdir(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("methods");
	TCase *tc = tcase_create("methods");

	util_json_use_xmalloc();
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_registered_callable);
	tcase_add_test(tc, test_duplicate_refused);
	tcase_add_test(tc, test_fast_handler_checks);
	tcase_add_test(tc, test_fast_handler_needs);
	tcase_add_test(tc, test_fast_params_in_spec_order);
	tcase_add_test(tc, test_fast_plain_method);
	tcase_add_test(tc, test_dep_and_priv);
	tcase_add_test(tc, test_status_figures);
	/* the abort needs a forked test: in one process (CK_FORK=no, as make
	 * valgrind runs the suite) it would end the whole binary */
	const char *fork_env = getenv("CK_FORK");
	if (!fork_env || strcmp(fork_env, "no") != 0)
		tcase_add_test_raise_signal(tc, test_dep_undeclared_aborts,
		                            SIGABRT);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
