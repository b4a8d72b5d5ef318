/*
 * metrics.c — the metrics service (services/metrics.h): the Prometheus
 * text of the graph's figures, the `metrics` method, and the optional
 * [metrics] listen endpoint.
 *
 * The endpoint is deliberately small: one request per connection (the
 * reply says Connection: close), a request head of at most
 * METRICS_REQ_MAX bytes (else 431), GET or HEAD of /metrics (another
 * path 404, another method 405), every client bounded by [metrics]
 * timeout from accept to close and their number by max_clients (more are
 * closed at once). Each of those outcomes is counted in the figures.
 */
#include "services/metrics.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/methods.h"
#include "daemon/util.h"

/* ---- the text ----------------------------------------------------------- */

/* One metric family: its samples are gathered under one # HELP/# TYPE. */
struct fam {
	char *name;
	const char *type;
	char *help;
	struct buf samples;
};

struct fams {
	struct fam *v;
	size_t n, cap;
};

static struct fam *
fam_get(struct fams *f, const char *name, const char *type, const char *help)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			return &f->v[i];
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 32;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	struct fam *m = &f->v[f->n++];
	memset(m, 0, sizeof(*m));
	m->name = xstrdup(name);
	m->type = type;
	m->help = xstrdup(help);
	return m;
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void
put_label_value(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_putc(b, '\\');
		if (*s == '\n') {
			buf_puts(b, "\\n");
			continue;
		}
		buf_putc(b, *s);
	}
}

/* labels: "" or 'a="x",b="y"' (already escaped). */
static void
sample(struct fams *f, const char *name, const char *type, const char *help,
       const char *labels, json_t *v)
{
	struct fam *m = fam_get(f, name, type, help);

	buf_puts(&m->samples, name);
	if (*labels)
		buf_printf(&m->samples, "{%s}", labels);
	if (json_is_integer(v))
		buf_printf(&m->samples, " %lld\n",
		           (long long)json_integer_value(v));
	else if (json_is_real(v))
		buf_printf(&m->samples, " %.9g\n", json_real_value(v));
	else
		buf_printf(&m->samples, " %d\n", json_is_true(v) ? 1 : 0);
}

static void
sample_num(struct fams *f, const char *name, const char *type, const char *help,
           const char *labels, double v)
{
	json_t *j = json_real(v);

	sample(f, name, type, help, labels, j);
	json_decref(j);
}

/* name with everything but [A-Za-z0-9_] as '_' (new string). */
static char *
metric_name(const char *a, const char *b)
{
	char *s = *b ? xasprintf("%s_%s", a, b) : xstrdup(a);

	for (char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
	return s;
}

static const struct svc_metric *
metric_entry(const struct svc_desc *d, const char *path)
{
	for (size_t i = 0; i < d->nmetrics; i++)
		if (d->metrics[i].figure &&
		    strcmp(d->metrics[i].figure, path) == 0)
			return &d->metrics[i];
	return NULL;
}

/* The part of a metric's name a figure's key makes (its entry's name). */
static const char *
key_name(const struct svc_desc *d, const char *path, const char *key)
{
	const struct svc_metric *e = metric_entry(d, path);

	return e && e->name && e->type != SVC_METRIC_LABELS ? e->name : key;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The label value of an object of an array: its "name", "id", or i. */
static char *
item_label(json_t *o, size_t i)
{
	json_t *v = json_object_get(o, "name");

	if (!json_is_string(v))
		v = json_object_get(o, "id");
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v))
		return xasprintf("%lld", (long long)json_integer_value(v));
	return xasprintf("%zu", i);
}

static void walk(struct fams *f, const struct svc_desc *d, const char *path,
                 const char *prefix, const char *labels, json_t *v);

/* One series of a labelled figure: o's members as metrics named pre_KEY,
 * with lab="val" added to labels. */
static void
series(struct fams *f, const struct svc_desc *d, const char *path,
       const char *pre, const char *lab, const char *labels, const char *val,
       json_t *o)
{
	struct buf lb = {0};
	const char *k;
	json_t *m;

	if (*labels)
		buf_printf(&lb, "%s,", labels);
	buf_printf(&lb, "%s=\"", lab);
	put_label_value(&lb, val);
	buf_puts(&lb, "\"");
	buf_putc(&lb, '\0');
	json_object_foreach(o, k, m)
	{
		char *p = xasprintf("%s.%s", path, k);
		char *n = metric_name(pre, key_name(d, p, k));
		walk(f, d, p, n, buf_head(&lb), m);
		free(n);
		free(p);
	}
	buf_free(&lb);
}

/*
 * One figure: path is its key in the service's figures ("a.b"), prefix
 * the metric name it makes, labels those of the series (for arrays, and
 * for objects of objects whose entry is SVC_METRIC_LABELS).
 */
static void
walk(struct fams *f, const struct svc_desc *d, const char *path,
     const char *prefix, const char *labels, json_t *v)
{
	const struct svc_metric *e = metric_entry(d, path);
	bool labelled = e && e->type == SVC_METRIC_LABELS;

	if (json_is_object(v) && !labelled) {
		const char *k;
		json_t *m;

		json_object_foreach(v, k, m)
		{
			char *p = xasprintf("%s.%s", path, k);
			char *n = metric_name(prefix, key_name(d, p, k));
			walk(f, d, p, n, labels, m);
			free(n);
			free(p);
		}
		return;
	}
	if (json_is_array(v) || json_is_object(v)) {
		const char *last = strrchr(path, '.');
		const char *lname =
		    labelled && e->label ? e->label : (last ? last + 1 : path);
		/* the series' prefix: the figure's own name becomes the
		 * label's (svcd_bridge_links -> svcd_bridge_link) */
		size_t plen = strlen(prefix) - strlen(last ? last + 1 : path);
		char *base = xstrndup(prefix, plen);
		char *lab = metric_name(lname, "");
		char *pre = xasprintf("%s%s", base, lab);
		const char *k;
		size_t i;
		json_t *o;

		if (json_is_array(v)) {
			json_array_foreach(v, i, o)
			{
				if (!json_is_object(o))
					continue;
				char *val = item_label(o, i);

				series(f, d, path, pre, lab, labels, val, o);
				free(val);
			}
		} else {
			/* an object of objects: each member's key is its
			 * series' label value */
			json_object_foreach(v, k, o)
			{
				if (json_is_object(o))
					series(f, d, path, pre, lab, labels, k,
					       o);
			}
		}
		free(pre);
		free(lab);
		free(base);
		return;
	}
	if (!json_is_number(v) && !json_is_boolean(v))
		return; /* strings and nulls are for `status` only */

	const char *type = "untyped";
	char *name = xstrdup(prefix);
	char *help;
	double scale = e ? e->scale : 0;

	/* a figure named for its unit (uptime_s, init_ms, lag_us) is a
	 * metric in the base unit: seconds, with its name saying so */
	if (!(e && e->name)) {
		static const struct {
			const char *suffix;
			double scale;
		} units[] = {{"_s", 1}, {"_ms", 1e-3}, {"_us", 1e-6}};

		for (size_t i = 0; i < SVC_ARRAY_SIZE(units); i++) {
			if (!ends_with(name, units[i].suffix))
				continue;
			char *t = xasprintf(
			    "%.*s_seconds",
			    (int)(strlen(name) - strlen(units[i].suffix)),
			    name);
			free(name);
			name = t;
			if (scale == 0 && units[i].scale != 1)
				scale = units[i].scale;
			break;
		}
	}

	if (e && e->type == SVC_METRIC_COUNTER) {
		type = "counter";
		if (!ends_with(name, "_total")) {
			char *t = xasprintf("%s_total", name);
			free(name);
			name = t;
		}
	} else if ((e && e->type == SVC_METRIC_GAUGE) || json_is_boolean(v)) {
		type = "gauge";
	}
	if (e && e->help)
		help = xstrdup(e->help);
	else
		help = xasprintf("%s figure %s (see svcctl status)", d->name,
		                 path);
	if (scale != 0 && json_is_number(v))
		sample_num(f, name, type, help, labels,
		           json_number_value(v) * scale);
	else
		sample(f, name, type, help, labels, v);
	free(help);
	free(name);
}

static const enum svc_state all_states[] = {
    SVC_INACTIVE, SVC_STARTING, SVC_RUNNING, SVC_STOPPING,
    SVC_STOPPED,  SVC_FAILED,   SVC_BLOCKED,
};

/* The framework's own figures: the process and each service's record. */
static void
framework_metrics(struct fams *f, struct svc_graph *g)
{
	size_t n = svc_graph_count(g), per_state[SVC_ARRAY_SIZE(all_states)];
	size_t degraded = 0;
	int64_t boot = svc_graph_started_at_us(g);
	char *lab;

	lab = xstrdup("version=\"" SVCD_VERSION "\"");
	sample_num(f, "svcd_build_info", "gauge", "svcd's version (always 1)",
	           lab, 1);
	free(lab);
	sample_num(f, "svcd_uptime_seconds", "gauge",
	           "seconds since the first service started", "",
	           boot ? (double)(util_now_us() - boot) / 1e6 : 0.0);
	memset(per_state, 0, sizeof(per_state));
	for (size_t i = 0; i < n; i++) {
		struct svc *s = svc_graph_at(g, i);
		struct svc_info in;
		enum svc_state st;
		bool up;
		struct buf lb = {0};

		svc_get_info(s, &in);
		up = in.state == SVC_RUNNING;
		st = svc_reported_state(s); /* as health and status name it */
		for (size_t k = 0; k < SVC_ARRAY_SIZE(all_states); k++)
			if (all_states[k] == st)
				per_state[k]++;
		if (svc_degraded(s) && st == SVC_RUNNING)
			degraded++;
		buf_puts(&lb, "service=\"");
		put_label_value(&lb, in.name);
		buf_puts(&lb, "\"");
		buf_putc(&lb, '\0');
		sample_num(f, "svcd_service_up", "gauge",
		           "1 while the service is running", buf_head(&lb), up);
		sample_num(f, "svcd_service_healthy", "gauge",
		           "1 while the service runs and its last ping passed",
		           buf_head(&lb), up && !svc_degraded(s));
		sample_num(f, "svcd_service_required", "gauge",
		           "1 if the service's failure fails the start",
		           buf_head(&lb), in.required);
		lab = xasprintf("%s,state=\"%s\"", buf_head(&lb),
		                svc_state_name(st));
		sample_num(f, "svcd_service_state", "gauge",
		           "the service's state, as a label (always 1)", lab,
		           1);
		free(lab);
		if (in.init_ms >= 0)
			sample_num(f, "svcd_service_init_seconds", "gauge",
			           "how long the service's last init took",
			           buf_head(&lb), in.init_ms / 1e3);
		if (in.ping_at_us)
			sample_num(f, "svcd_service_ping_seconds", "gauge",
			           "how long the service's last ping took",
			           buf_head(&lb),
			           (double)in.ping_latency_us / 1e6);
		buf_free(&lb);
	}
	for (size_t k = 0; k < SVC_ARRAY_SIZE(all_states); k++) {
		lab = xasprintf("state=\"%s\"", svc_state_name(all_states[k]));
		sample_num(f, "svcd_services", "gauge",
		           "services in each state", lab, (double)per_state[k]);
		free(lab);
	}
	sample_num(f, "svcd_services_degraded", "gauge",
	           "running services whose last ping failed (not failed)", "",
	           (double)degraded);
}

char *
metrics_text(struct svc_graph *g, size_t *len)
{
	struct fams f = {0};
	struct buf out = {0};
	size_t n = svc_graph_count(g);

	framework_metrics(&f, g);
	/* the services' figures, in table order, as `status` lists them */
	for (size_t idx = 0; idx < n; idx++)
		for (size_t i = 0; i < n; i++) {
			struct svc *s = svc_graph_at(g, i);
			const struct svc_desc *d = svc_desc(s);
			json_t *fig;
			const char *k;
			json_t *v;

			if (svc_index(s) != idx || !d->figures ||
			    svc_state(s) != SVC_RUNNING)
				continue;
			fig = d->figures(s);
			if (!json_is_object(fig)) {
				json_decref(fig);
				continue;
			}
			char *pre = metric_name("svcd", d->name);
			json_object_foreach(fig, k, v)
			{
				char *name =
				    metric_name(pre, key_name(d, k, k));
				walk(&f, d, k, name, "", v);
				free(name);
			}
			free(pre);
			json_decref(fig);
		}
	for (size_t i = 0; i < f.n; i++) {
		struct fam *m = &f.v[i];

		buf_printf(&out, "# HELP %s ", m->name);
		for (const char *p = m->help; *p; p++) {
			if (*p == '\\' || *p == '\n') {
				buf_puts(&out, *p == '\\' ? "\\\\" : "\\n");
				continue;
			}
			buf_putc(&out, *p);
		}
		buf_printf(&out, "\n# TYPE %s %s\n", m->name, m->type);
		buf_append(&out, buf_head(&m->samples), m->samples.len);
		buf_free(&m->samples);
		free(m->name);
		free(m->help);
	}
	free(f.v);
	if (len)
		*len = out.len;
	buf_putc(&out, '\0');
	char *text = xstrdup(buf_head(&out));
	buf_free(&out);
	return text;
}

/* ---- the method --------------------------------------------------------- */

static const struct svc_reply *
m_metrics(struct svc *self, struct svc_call *q)
{
	size_t len;
	char *text = metrics_text(svc_graph(self), &len);
	json_t *res = json_pack("{s:s, s:s%}", "content_type",
	                        METRICS_CONTENT_TYPE, "text", text, len);

	free(text);
	return svc_call_ok(q, res);
}

static const struct svc_method metrics_methods[] = {
    {.name = "metrics",
     .fn = m_metrics,
     .access = SVC_ACCESS_READ,
     .doc = "every figure in the Prometheus text format"},
};

/* ---- [metrics] ---------------------------------------------------------- */

struct metrics_conf {
	char *listen;
	double timeout;
	unsigned max_clients;
};

#define MF(f) offsetof(struct metrics_conf, f)

/* What listen names: a Unix socket path or an address and port. */
struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	const char *path; /* unix: the path, in listen's text */
};

static int
listen_parse(const char *s, struct listen_addr *a, char **cause)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
		const char *p = s + 5;

		if (*p != '/') {
			*cause = xstrdup("a unix: path must be absolute");
			return -1;
		}
		if (strlen(p) >= sizeof(un->sun_path)) {
			*cause = xasprintf("the path is longer than %zu bytes",
			                   sizeof(un->sun_path) - 1);
			return -1;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, p, strlen(p) + 1);
		a->len = sizeof(*un);
		a->path = p;
		return 0;
	}
	const char *colon = strrchr(s, ':');
	uint64_t port;
	char *why = NULL;

	if (!colon || colon == s) {
		*cause = xstrdup("expected unix:PATH or ADDRESS:PORT "
		                 "(127.0.0.1:9464, [::1]:9464)");
		return -1;
	}
	if (util_parse_uint(colon + 1, 65535, &port, &why) < 0 || port == 0) {
		*cause = xasprintf("bad port '%s': %s", colon + 1,
		                   why ? why : "must be 1 to 65535");
		free(why);
		return -1;
	}
	char *host = xstrndup(s, (size_t)(colon - s));
	size_t hl = strlen(host);
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
	int ok;

	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		ok = inet_pton(AF_INET6, host + 1, &in6->sin6_addr);
		a->len = sizeof(*in6);
	} else {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		ok = inet_pton(AF_INET, host, &in4->sin_addr);
		a->len = sizeof(*in4);
	}
	if (ok != 1) {
		*cause =
		    xasprintf("'%s' is not an IPv4 address or a [bracketed]"
		              " IPv6 address",
		              host);
		free(host);
		return -1;
	}
	free(host);
	return 0;
}

static int
metrics_section_check(struct svc_conf_ctx *cx, void *target)
{
	const struct metrics_conf *c = target;
	struct listen_addr a;
	char *why = NULL;

	if (!c->listen || !*c->listen)
		return 0;
	if (listen_parse(c->listen, &a, &why) < 0) {
		svc_conf_error(cx, svc_conf_key_line(cx, "listen"),
		               "bad value for 'listen' in [metrics]: '%s': %s",
		               svc_conf_quote(cx, c->listen), why);
		free(why);
		return -1;
	}
	return 0;
}

static const struct svc_conf_item metrics_items[] = {
    {.key = "listen",
     .type = &svc_conf_string,
     .off = MF(listen),
     .doc = "unix:PATH or ADDRESS:PORT for HTTP GET /metrics; unset: none"},
    {.key = "timeout",
     .type = &svc_conf_duration,
     .off = MF(timeout),
     .dflt = "5s",
     .max = "1m",
     .doc = "a scrape's bound from connect to the end of the reply"},
    {.key = "max_clients",
     .type = &svc_conf_uint,
     .off = MF(max_clients),
     .dflt = "16",
     .min = "1",
     .max = "1024",
     .doc = "connections at once; more are closed at once"},
};

static const struct svc_conf_section metrics_section = {
    .name = "metrics",
    SVC_CONF_ITEMS(metrics_items),
    .flags = SVC_CONF_RESTART,
    .check = metrics_section_check,
    .doc = "the Prometheus endpoint",
};

/* ---- the endpoint ------------------------------------------------------- */

#define METRICS_REQ_MAX 8192

struct hclient {
	struct hclient *next;
	int fd;
	ev_io io;
	ev_timer tm;
	char req[METRICS_REQ_MAX];
	size_t rlen;
	struct buf out;
	size_t off;
	bool replied; /* the reply is out: reading to EOF, then closed */
};

static struct {
	struct svc *self;
	struct ev_loop *loop;
	int lfd;
	char *unlink_path;
	ev_io accept_w;
	ev_timer pause_w;   /* accept paused after EMFILE */
	ev_timer retry_w;   /* listen failed: tried again */
	char *listen;       /* what [metrics] listen says; NULL: none */
	char *listen_error; /* why it is not listening, NULL when it is */
	struct hclient *clients;
	size_t nclients;
	double timeout;
	unsigned max_clients;
	uint64_t accepted, requests, scrapes, not_found, bad_method,
	    bad_request, too_large, timeouts, rejected;
	bool rejected_logged, emfile_logged;
} mx = {.lfd = -1};

static void
client_close(struct hclient *c)
{
	struct hclient **pp;

	for (pp = &mx.clients; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	ev_io_stop(mx.loop, &c->io);
	ev_timer_stop(mx.loop, &c->tm);
	close(c->fd);
	buf_free(&c->out);
	free(c);
	mx.nclients--;
}

static void client_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
reply(struct hclient *c, int code, const char *reason, const char *extra,
      const char *body, size_t len, bool head)
{
	buf_printf(&c->out,
	           "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	           "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
	           code, reason,
	           code == 200 ? METRICS_CONTENT_TYPE
	                       : "text/plain; charset=utf-8",
	           len, extra ? extra : "");
	if (!head)
		buf_append(&c->out, body, len);
	ev_io_stop(mx.loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(mx.loop, &c->io);
}

static void
reply_text(struct hclient *c, int code, const char *reason, const char *extra,
           bool head)
{
	char *body = xasprintf("%d %s\n", code, reason);

	reply(c, code, reason, extra, body, strlen(body), head);
	free(body);
}

/* A whole request head is in c->req (NUL-terminated): answer it. */
static void
handle(struct hclient *c)
{
	char *line = c->req, *eol = strpbrk(line, "\r\n");
	char *method, *target, *version, *save = NULL;

	mx.requests++;
	if (eol)
		*eol = '\0';
	method = strtok_r(line, " ", &save);
	target = method ? strtok_r(NULL, " ", &save) : NULL;
	version = target ? strtok_r(NULL, " ", &save) : NULL;
	if (!version || strtok_r(NULL, " ", &save) ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		mx.bad_request++;
		reply_text(c, 400, "Bad Request", NULL, false);
		return;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		mx.bad_method++;
		reply_text(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
		           false);
		return;
	}
	char *q = strchr(target, '?');
	if (q)
		*q = '\0';
	if (strcmp(target, "/metrics") != 0) {
		mx.not_found++;
		reply_text(c, 404, "Not Found", NULL, head);
		return;
	}
	size_t len;
	char *text = metrics_text(svc_graph(mx.self), &len);

	mx.scrapes++;
	reply(c, 200, "OK", NULL, text, len, head);
	free(text);
}

static void
client_read(struct hclient *c)
{
	for (;;) {
		char drain[512];
		bool full = c->rlen >= sizeof(c->req) - 1;
		char *dst = c->replied || full ? drain : c->req + c->rlen;
		size_t room = c->replied || full ? sizeof(drain)
		                                 : sizeof(c->req) - 1 - c->rlen;
		ssize_t r = read(c->fd, dst, room);

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			/* EOF or an error: done (a half request is dropped) */
			client_close(c);
			return;
		}
		if (c->replied)
			continue;
		c->rlen += (size_t)r;
		c->req[c->rlen] = '\0';
		if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
			handle(c);
			return;
		}
		if (c->rlen >= sizeof(c->req) - 1) {
			mx.too_large++;
			reply_text(c, 431, "Request Header Fields Too Large",
			           NULL, false);
			return;
		}
	}
}

static void
client_write(struct hclient *c)
{
	while (c->off < c->out.len) {
		ssize_t w = write(c->fd, buf_head(&c->out) + c->off,
		                  c->out.len - c->off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			client_close(c);
			return;
		}
		c->off += (size_t)w;
	}
	/* all out: tell the client, then read what it still sends until it
	 * closes (closing with unread input would reset the reply) */
	shutdown(c->fd, SHUT_WR);
	c->replied = true;
	ev_io_stop(mx.loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_READ);
	ev_io_start(mx.loop, &c->io);
}

static void
client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hclient *c = w->data;

	(void)loop;
	if (revents & EV_WRITE)
		client_write(c);
	else if (revents & EV_READ)
		client_read(c);
}

static void
client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hclient *c = w->data;

	(void)loop;
	(void)revents;
	if (!c->replied)
		mx.timeouts++;
	client_close(c);
}

static void
pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_io_start(loop, &mx.accept_w);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)w;
	(void)revents;
	for (;;) {
		int fd =
		    accept4(mx.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (!mx.emfile_logged)
					log_warn("metrics: accept: %s; pausing "
					         "1s (logged once)",
					         strerror(errno));
				mx.emfile_logged = true;
				mx.rejected++;
				ev_io_stop(loop, &mx.accept_w);
				ev_timer_set(&mx.pause_w, 1.0, 0.0);
				ev_timer_start(loop, &mx.pause_w);
			}
			return;
		}
		mx.accepted++;
		if (mx.nclients >= mx.max_clients) {
			if (!mx.rejected_logged)
				log_warn("metrics: %u clients at once "
				         "(max_clients); closing more "
				         "(logged once, counted in rejected)",
				         mx.max_clients);
			mx.rejected_logged = true;
			mx.rejected++;
			close(fd);
			continue;
		}
		struct hclient *c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->io.data = c;
		c->tm.data = c;
		ev_io_init(&c->io, client_cb, fd, EV_READ);
		ev_timer_init(&c->tm, client_timeout_cb, mx.timeout, 0.0);
		ev_io_start(loop, &c->io);
		ev_timer_start(loop, &c->tm);
		c->next = mx.clients;
		mx.clients = c;
		mx.nclients++;
	}
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents);

static int listen_open(const char *spec, char **cause);

/* Listen on mx.listen; on failure keep the reason (the service is then
 * degraded, its method still answers) and try again in RETRY_S. */
#define RETRY_S 2.0
static void
try_listen(void)
{
	char *cause = NULL;
	int fd = listen_open(mx.listen, &cause);

	if (fd < 0) {
		if (!mx.listen_error || strcmp(mx.listen_error, cause) != 0)
			log_warn("%s; trying again every %.0fs", cause,
			         RETRY_S);
		free(mx.listen_error);
		mx.listen_error = cause;
		if (mx.self)
			svc_health_changed(mx.self);
		ev_timer_set(&mx.retry_w, RETRY_S, 0.0);
		ev_timer_start(mx.loop, &mx.retry_w);
		return;
	}
	mx.lfd = fd;
	ev_io_init(&mx.accept_w, accept_cb, mx.lfd, EV_READ);
	ev_io_start(mx.loop, &mx.accept_w);
	log_info("metrics: serving GET /metrics on %s", mx.listen);
	if (mx.listen_error && mx.self)
		svc_health_changed(mx.self);
	free(mx.listen_error);
	mx.listen_error = NULL;
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	try_listen();
}

static int
listen_open(const char *spec, char **cause)
{
	struct listen_addr a;
	char *why = NULL;
	int one = 1;

	if (listen_parse(spec, &a, &why) < 0) {
		*cause = xasprintf("metrics: listen '%s': %s", spec, why);
		free(why);
		return -1;
	}
	int fd = socket(a.ss.ss_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*cause = xasprintf("metrics: socket: %s", strerror(errno));
		return -1;
	}
	if (a.path) {
		struct stat st;

		/* a socket left by a previous run; anything else is kept */
		if (lstat(a.path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(a.path);
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0 ||
	    listen(fd, 64) < 0) {
		*cause = xasprintf("metrics: cannot listen on %s: %s", spec,
		                   strerror(errno));
		close(fd);
		return -1;
	}
	/* read-only data, but only for svcd's group (the control socket's
	 * rule): a scraper joins it */
	if (a.path && chmod(a.path, 0660) < 0) {
		*cause = xasprintf("metrics: cannot chmod %s: %s", a.path,
		                   strerror(errno));
		close(fd);
		unlink(a.path);
		return -1;
	}
	if (a.path)
		mx.unlink_path = xstrdup(a.path);
	return fd;
}

/* ---- the service -------------------------------------------------------- */

static int
metrics_init(struct svc *self, char **cause)
{
	const struct metrics_conf *c = svc_options(self);

	memset(&mx, 0, sizeof(mx));
	mx.lfd = -1;
	mx.self = self;
	mx.loop = svc_loop(self);
	mx.timeout = c->timeout > 0 ? c->timeout : 5.0;
	mx.max_clients = c->max_clients ? c->max_clients : 16;
	ev_timer_init(&mx.pause_w, pause_cb, 1.0, 0.0);
	ev_timer_init(&mx.retry_w, retry_cb, RETRY_S, 0.0);
	(void)cause;
	if (!c->listen || !*c->listen)
		return 0;
	mx.listen = xstrdup(c->listen);
	/* from the loop: a failure makes the running service degraded (the
	 * method still answers), not a failed start */
	ev_timer_set(&mx.retry_w, 0.0, 0.0);
	ev_timer_start(mx.loop, &mx.retry_w);
	return 0;
}

/* Unhealthy while [metrics] listen is not listening. */
static int
metrics_ping(struct svc *self, char **cause)
{
	(void)self;
	if (!mx.listen_error)
		return 0;
	*cause = xstrdup(mx.listen_error);
	return -1;
}

static int
metrics_stop(struct svc *self)
{
	(void)self;
	while (mx.clients)
		client_close(mx.clients);
	ev_timer_stop(mx.loop, &mx.retry_w);
	ev_timer_stop(mx.loop, &mx.pause_w);
	if (mx.lfd >= 0) {
		ev_io_stop(mx.loop, &mx.accept_w);
		close(mx.lfd);
		mx.lfd = -1;
	}
	free(mx.listen);
	free(mx.listen_error);
	mx.listen = mx.listen_error = NULL;
	if (mx.unlink_path) {
		unlink(mx.unlink_path);
		free(mx.unlink_path);
		mx.unlink_path = NULL;
	}
	mx.self = NULL;
	return 0;
}

static json_t *
metrics_figures(struct svc *self)
{
	const struct metrics_conf *c = svc_options(self);

	return json_pack(
	    "{s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "listen",
	    c->listen && *c->listen ? json_string(c->listen) : json_null(),
	    "listening", mx.lfd >= 0, "clients", (json_int_t)mx.nclients,
	    "accepted", (json_int_t)mx.accepted, "requests",
	    (json_int_t)mx.requests, "scrapes", (json_int_t)mx.scrapes,
	    "not_found", (json_int_t)mx.not_found, "bad_method",
	    (json_int_t)mx.bad_method, "bad_request",
	    (json_int_t)mx.bad_request, "too_large", (json_int_t)mx.too_large,
	    "timeouts", (json_int_t)mx.timeouts, "rejected",
	    (json_int_t)mx.rejected);
}

static const struct svc_metric metrics_metrics[] = {
    {.figure = "listening",
     .type = SVC_METRIC_GAUGE,
     .help = "1 while [metrics] listen is listening"},
    {.figure = "clients",
     .type = SVC_METRIC_GAUGE,
     .help = "HTTP clients connected now"},
    {.figure = "accepted",
     .type = SVC_METRIC_COUNTER,
     .help = "HTTP connections accepted"},
    {.figure = "requests",
     .type = SVC_METRIC_COUNTER,
     .help = "HTTP requests read"},
    {.figure = "scrapes",
     .type = SVC_METRIC_COUNTER,
     .help = "GET /metrics answered"},
    {.figure = "not_found",
     .type = SVC_METRIC_COUNTER,
     .help = "requests answered 404"},
    {.figure = "bad_method",
     .type = SVC_METRIC_COUNTER,
     .help = "requests answered 405"},
    {.figure = "bad_request",
     .type = SVC_METRIC_COUNTER,
     .help = "requests answered 400"},
    {.figure = "too_large",
     .type = SVC_METRIC_COUNTER,
     .help = "requests answered 431"},
    {.figure = "timeouts",
     .type = SVC_METRIC_COUNTER,
     .help = "clients closed by [metrics] timeout"},
    {.figure = "rejected",
     .type = SVC_METRIC_COUNTER,
     .help = "connections closed at once (max_clients, no descriptors)"},
};

const struct svc_desc metrics_service = {
    .name = "metrics",
    .optional = true,
    .init = metrics_init,
    .ping = metrics_ping,
    .stop = metrics_stop,
    .conf = SVC_CONF_SECTIONS(&metrics_section),
    .conf_size = sizeof(struct metrics_conf),
    SVC_METHODS(metrics_methods),
    .figures = metrics_figures,
    SVC_METRICS(metrics_metrics),
};
