/*
 * svcd.c — svcd_main(): the whole svcd process around a table of services:
 * parse the command line, load the configuration, validate and boot the
 * graph, run the loop, exit with the manager's status. svcd's own main()
 * (daemon/main.c) is one call of it with the compiled-in table; a developer's
 * daemon is another.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "daemon/conf.h"
#include "services/core.h"
#include "daemon/log.h"
#include "services/manager.h"
#include "daemon/sdnotify.h"
#include "daemon/service.h"
#include "daemon/svcd.h"
#include "daemon/util.h"

#define EX_OK     0
#define EX_FAIL   1
#define EX_USAGE  64
#define EX_CONFIG 78

struct opts {
	const char *conf_path;
	bool conf_given;
	const char *socket;
	const char *log_level;
	bool check_config;
	int print_graph; /* 0 no, 1 text, 2 dot */
	bool help_config;
	const char *help_section; /* --help-config=SECTION */
};

struct daemon {
	struct opts opts;
	const struct svc_desc *const *table;
	size_t n;
	struct ev_loop *loop;
	struct svc_graph *graph;
	struct svc_conf *conf; /* the running configuration, on the graph */
	int64_t boot_start_us;
	int boot_status;
	ev_timer watchdog; /* WATCHDOG=1 every WATCHDOG_USEC/2, from the loop */
	char status[64];   /* STATUS= when no service provides a line */
};

static const char *status_text(struct daemon *d);

/* The program's name (argv[0]'s basename: "svcd", or a developer's
 * daemon's own) where a message names the program, and its version line:
 * "svcd 0.1.0", or "exampled (libsvcd 0.1.0)". */
static const char *prog = "svcd";
static char prog_version[96];
/* -c's default: /etc/PROG/PROG.conf (/etc/svcd/svcd.conf for svcd) */
static char default_conf[600] = "/etc/svcd/svcd.conf";

static void
set_prog(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	const char *base = slash ? slash + 1 : argv0;

	prog = base && *base ? base : "svcd";
	if (strcmp(prog, "svcd") == 0)
		snprintf(prog_version, sizeof(prog_version), "svcd %s",
		         SVCD_VERSION);
	else
		snprintf(prog_version, sizeof(prog_version), "%s (libsvcd %s)",
		         prog, SVCD_VERSION);
	snprintf(default_conf, sizeof(default_conf), "/etc/%s/%s.conf", prog,
	         prog);
	/* the %p of the items' defaults: /run/PROG/PROG.sock and so on */
	svc_conf_set_program(prog);
}

static void
usage(FILE *out)
{
	fprintf(out,
	        "Usage: %s [OPTION]...\n"
	        "Boot %s's compiled-in service graph and serve the JSON-RPC "
	        "control\n"
	        "socket until SIGTERM or SIGINT, then stop the services in "
	        "reverse order.\n"
	        "\n"
	        "  -c, --config FILE        configuration file "
	        "(default %s;\n"
	        "                           built-in defaults if it does not "
	        "exist)\n"
	        "  -s, --socket PATH        control socket, overrides [daemon] "
	        "socket\n"
	        "  -l, --log-level LEVEL    error, warning, info or debug "
	        "(overrides the file)\n"
	        "      --check-config       validate the configuration and "
	        "exit (0 or 78)\n"
	        "      --print-graph[=dot]  print the start order and "
	        "dependencies (or\n"
	        "                           Graphviz DOT) and exit\n"
	        "      --help-config[=SECTION]  print every section and key "
	        "(or SECTION's)\n"
	        "                           with its default, type, range and "
	        "doc, as a\n"
	        "                           configuration file, and exit\n"
	        "  -h, --help               show this help and exit\n"
	        "  -V, --version            show the version and exit\n"
	        "\n"
	        "Signals: SIGTERM/SIGINT graceful shutdown (a second one exits "
	        "at once with\n"
	        "status 1), SIGHUP reload the configuration.\n"
	        "Exit status: 0 clean shutdown, 1 start-up failure or unclean "
	        "shutdown,\n"
	        "64 usage error, 78 configuration or service-graph error.\n"
	        "See svcd(8), svcd.conf(5) and svcctl(1).\n",
	        prog, prog, default_conf);
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_CHECK = 256, OPT_GRAPH, OPT_HELP_CONFIG };
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 's'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"check-config", no_argument, NULL, OPT_CHECK},
	    {"print-graph", optional_argument, NULL, OPT_GRAPH},
	    {"help-config", optional_argument, NULL, OPT_HELP_CONFIG},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	o->conf_path = default_conf;
	while ((c = getopt_long(argc, argv, "c:s:l:hV", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			o->conf_path = optarg;
			o->conf_given = true;
			break;
		case 's': o->socket = optarg; break;
		case 'l':
			if (log_parse_level(optarg) < 0) {
				fprintf(stderr,
				        "%s: unknown log level '%s' "
				        "(use error, warning, info or debug)\n",
				        prog, optarg);
				return -1;
			}
			o->log_level = optarg;
			break;
		case OPT_CHECK: o->check_config = true; break;
		case OPT_GRAPH:
			if (!optarg || strcmp(optarg, "text") == 0) {
				o->print_graph = 1;
			} else if (strcmp(optarg, "dot") == 0) {
				o->print_graph = 2;
			} else {
				fprintf(stderr,
				        "%s: --print-graph takes 'dot' or "
				        "nothing, not '%s'\n",
				        prog, optarg);
				return -1;
			}
			break;
		case OPT_HELP_CONFIG:
			o->help_config = true;
			o->help_section = optarg;
			break;
		case 'h': usage(stdout); exit(EX_OK);
		case 'V': printf("%s\n", prog_version); exit(EX_OK);
		default:
			fprintf(stderr,
			        "Try '%s --help' for more information.\n",
			        prog);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
		        "%s: unexpected argument '%s'\n"
		        "Try '%s --help' for more information.\n",
		        prog, argv[optind], prog);
		return -1;
	}
	return 0;
}

/* Load the file named by the options for the table, or the defaults when
 * the default file does not exist, with the command line's overrides.
 * NULL with *cause on error. */
static struct svc_conf *
load_conf(const struct daemon *d, char **cause)
{
	const struct opts *o = &d->opts;
	const char *path = o->conf_path;
	struct svc_conf *c;

	if (!o->conf_given && access(path, F_OK) != 0 && errno == ENOENT)
		path = NULL;
	if (!(c = svc_conf_load(path, d->table, d->n, cause)))
		return NULL;
	if ((o->socket &&
	     svc_conf_set(c, "daemon", "socket", o->socket, cause) < 0) ||
	    (o->log_level &&
	     svc_conf_set(c, "daemon", "log_level", o->log_level, cause) < 0)) {
		svc_conf_free(c);
		return NULL;
	}
	return c;
}

/*
 * Apply c to the running services: a changed restart-only key keeps its
 * value (warned about); each service whose options changed gets them
 * through its reload callback, and one that refuses keeps its old options.
 * Then c is the running configuration. -1 with *cause naming each service
 * that refused, and why.
 */
static int
apply_conf(struct daemon *d, struct svc_conf *c, char **cause)
{
	struct buf refused = {0};
	char *warn = NULL;

	svc_conf_keep_restart(c, d->conf, &warn);
	if (warn) {
		for (char *line = strtok(warn, "\n"); line;
		     line = strtok(NULL, "\n"))
			log_warn("reload: %s", line);
		free(warn);
	}
	for (size_t i = 0; i < svc_graph_count(d->graph); i++) {
		struct svc *s = svc_graph_at(d->graph, i);
		const char *name = svc_name(s);
		char *why = NULL;

		if (!svc_desc(s)->reload || !svc_conf_changed(d->conf, c, name))
			continue;
		if (svc_desc(s)->reload(s, svc_conf_options(d->conf, name),
		                        svc_conf_options(c, name), &why) == 0) {
			free(why);
			continue;
		}
		svc_conf_keep_service(c, d->conf, name);
		buf_printf(&refused,
		           "%sservice '%s' refused the new configuration and "
		           "keeps its running one: %s",
		           refused.len ? "\n" : "", name,
		           why ? why : "unknown error");
		free(why);
	}
	svc_graph_set_conf(d->graph, c);
	svc_conf_free(d->conf);
	d->conf = c;
	if (!refused.len)
		return 0;
	*cause = xstrndup(buf_head(&refused), refused.len);
	buf_free(&refused);
	return -1;
}

static int
reload(void *arg, char **cause)
{
	struct daemon *d = arg;
	char *err = NULL;

	sdn_send("RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading %s",
	         (long long)util_mono_us(), d->opts.conf_path);
	struct svc_conf *c = load_conf(d, &err);
	if (!c) {
		*cause = err;
		sdn_send(
		    "READY=1\nSTATUS=reload failed; running with the previous "
		    "configuration");
		return -1;
	}
	int rc = apply_conf(d, c, cause) < 0 ? MANAGER_RELOAD_PARTIAL : 0;
	sdn_send("READY=1\nSTATUS=%s",
	         rc == 0 ? status_text(d) : "reload applied with errors");
	return rc;
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	sdn_send("WATCHDOG=1");
}

/* The STATUS= text: the graph's status line (svcd's is app's), or how many
 * services run when no service of the table provides one. */
static const char *
status_text(struct daemon *d)
{
	const char *line = svc_graph_status_line(d->graph);
	size_t n = svc_graph_count(d->graph), up = 0;

	if (line)
		return line;
	for (size_t i = 0; i < n; i++)
		up += svc_state(svc_graph_at(d->graph, i)) == SVC_RUNNING;
	snprintf(d->status, sizeof(d->status), "running: %zu/%zu services", up,
	         n);
	return d->status;
}

static void
status_changed(struct svc_graph *g, const char *line, void *arg)
{
	sdn_send("STATUS=%s", line);
}

/* Shutdown progress for systemd: STOPPING=1 once, then more time for every
 * service that stopped, so a slow but progressing shutdown is not killed. */
static void
shutdown_progress(const char *phase, const char *service, const char *state,
                  void *arg)
{
	if (strcmp(phase, "stopping") == 0) {
		sdn_send("STOPPING=1\nSTATUS=stopping");
	} else if (strcmp(phase, "service") == 0 && service) {
		struct daemon *d = arg;
		struct svc *s = svc_graph_find(d->graph, service);
		double t = s ? svc_stop_timeout(s) : 0;
		sdn_send("EXTEND_TIMEOUT_USEC=%llu\nSTATUS=stopping: %s %s",
		         (unsigned long long)(t * 1e6) + 1000000ULL, service,
		         state ? state : "");
	}
}

static void
boot_done(struct svc_graph *g, int status, const char *cause, void *arg)
{
	struct daemon *d = arg;

	if (status != 0 && svc_graph_stopping(g)) {
		/* SIGTERM (or shutdown) before READY: a clean stop of what
		 * started, not a start-up failure. */
		log_info("stop requested during start-up: stopping the "
		         "services that started");
		return;
	}
	d->boot_status = status;
	if (status != 0) {
		log_err("start-up failed: %s", cause ? cause : "unknown error");
		sdn_send("ERRNO=%d\nSTATUS=start-up failed: %s", EIO,
		         cause ? cause : "unknown error");
		manager_shutdown("start-up failed");
		return;
	}
	svc_graph_set_status_listener(g, status_changed, d);
	sdn_send("READY=1\nSTATUS=%s\nMAINPID=%d", status_text(d),
	         (int)getpid());
	const char *const *sock = svc_conf_lookup(d->conf, "daemon", "socket");
	size_t up = 0;

	for (size_t i = 0; i < svc_graph_count(g); i++) {
		struct svc *s = svc_graph_at(g, i);

		if (svc_state(s) == SVC_RUNNING)
			up++;
		else
			log_warn("ready without optional service '%s' (%s); "
			         "`svcctl services` shows why",
			         svc_name(s), svc_state_name(svc_state(s)));
	}
	log_info("%s ready: %zu services running, started in %.1f ms, "
	         "control socket %s",
	         prog_version, up,
	         (double)(util_mono_us() - d->boot_start_us) / 1000.0,
	         sock && *sock ? *sock : "none");
}

static int
print_graph(const struct svc_desc *const *table, size_t n, int mode)
{
	char *cause = NULL;
	struct svc_graph *g = svc_graph_new(EV_DEFAULT, table, n, &cause);
	if (!g) {
		fprintf(stderr, "%s: %s\n", prog, cause);
		free(cause);
		return EX_CONFIG;
	}
	svc_graph_print(g, stdout, mode == 2);
	svc_graph_free(g);
	return EX_OK;
}

/* The core services table does not name (by name), then table: a new
 * array of *n descriptors (caller frees). */
static const struct svc_desc **
with_core(const struct svc_desc *const *table, size_t n, size_t *out_n)
{
	const struct svc_desc **all =
	    xcalloc(svcd_core_table_len + n, sizeof(*all));
	size_t k = 0;

	for (size_t i = 0; i < svcd_core_table_len; i++) {
		bool named = false;

		for (size_t j = 0; j < n && !named; j++)
			named = strcmp(table[j]->name,
			               svcd_core_table[i]->name) == 0;
		if (!named)
			all[k++] = svcd_core_table[i];
	}
	for (size_t j = 0; j < n; j++)
		all[k++] = table[j];
	*out_n = k;
	return all;
}

static int
run(int argc, char **argv, const struct svc_desc *const *table, size_t n)
{
	struct daemon d = {.table = table, .n = n};
	char *cause = NULL;
	int status;

	set_prog(argc > 0 ? argv[0] : NULL);
	log_init(prog);
	util_json_use_xmalloc();
	if (parse_args(argc, argv, &d.opts) < 0)
		return EX_USAGE;
	if (d.opts.print_graph)
		return print_graph(table, n, d.opts.print_graph);
	if (d.opts.help_config) {
		if (svc_conf_print_schema(stdout, table, n,
		                          d.opts.help_section) < 0) {
			fprintf(stderr,
			        "%s: no service owns a section [%s] (%s "
			        "--help-config lists them all)\n",
			        prog, d.opts.help_section, prog);
			return EX_USAGE;
		}
		return EX_OK;
	}

	/* the table first: its descriptors say what the file may hold */
	struct svc_graph *probe = svc_graph_new(NULL, table, n, &cause);
	if (!probe) {
		log_err("%s", cause);
		free(cause);
		return EX_CONFIG;
	}
	svc_graph_free(probe);
	d.conf = load_conf(&d, &cause);
	if (!d.conf) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return EX_CONFIG;
	}
	const char *path = svc_conf_file(d.conf);
	if (d.opts.check_config) {
		printf("%s: configuration ok\n",
		       path ? path : "built-in defaults");
		svc_conf_free(d.conf);
		return EX_OK;
	}
	/* in effect from the first line (the service owning the key sets it
	 * again when it starts and on reload) */
	const int *level = svc_conf_lookup(d.conf, "daemon", "log_level");
	if (level)
		log_set_level(*level);
	const int *format = svc_conf_lookup(d.conf, "daemon", "log_format");
	if (format)
		log_set_format((enum log_format) * format);

	sdn_init();
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (sdn_watchdog_interval() > 0) {
		ev_timer_init(&d.watchdog, watchdog_cb, 0,
		              sdn_watchdog_interval());
		ev_timer_again(d.loop, &d.watchdog);
		ev_unref(
		    d.loop); /* the watchdog alone must not keep the loop up */
	}
	d.graph = svc_graph_new(d.loop, table, n, &cause);
	if (!d.graph) {
		log_err("%s", cause);
		free(cause);
		svc_conf_free(d.conf);
		return EX_CONFIG;
	}
	svc_graph_set_conf(d.graph, d.conf);
	manager_set_reload(reload, &d);
	manager_add_progress(shutdown_progress, &d);

	d.boot_start_us = util_mono_us();
	log_info("%s starting (pid %d, config %s)", prog_version, (int)getpid(),
	         path ? path : "built-in defaults");
	svc_start(d.graph, NULL, boot_done, &d);
	if (d.boot_status != 0 && !manager_shutting_down()) {
		/* The manager itself did not come up: nothing can stop us. */
		svc_stop_all(d.graph, NULL, NULL);
		status = EX_FAIL;
	} else {
		ev_run(d.loop, 0);
		status = manager_exit_status();
		if (d.boot_status != 0 && status == EX_OK)
			status = svc_graph_config_refused(d.graph) ? EX_CONFIG
			                                           : EX_FAIL;
	}
	manager_set_reload(NULL, NULL);
	manager_remove_progress(shutdown_progress, &d);
	svc_graph_set_status_listener(d.graph, NULL, NULL);
	if (ev_is_active(&d.watchdog)) {
		ev_ref(d.loop);
		ev_timer_stop(d.loop, &d.watchdog);
	}
	sdn_close();
	svc_graph_free(d.graph);
	svc_conf_free(d.conf);
	ev_loop_destroy(d.loop);
	log_info("%s exiting with status %d", prog, status);
	return status;
}

int
svcd_main(int argc, char **argv, const struct svc_desc *const *table, size_t n)
{
	size_t all_n;
	const struct svc_desc **all = with_core(table, n, &all_n);
	int status = run(argc, argv, all, all_n);

	free(all);
	return status;
}
