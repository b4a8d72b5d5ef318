/*
 * methods.c — the generic dispatcher of the JSON-RPC methods (methods.h): one
 * table gathered from the graph's descriptors, one path through the
 * central checks, an optional fast handler per method behind them.
 *
 * The checks, in order: the envelope (rpc_parse), the method name, batch
 * refusal, the caller's access level, the params against the method's spec
 * (unknown, missing, wrong type), shutdown (SVC_M_LIVE) and the services
 * the method needs. Only then does the handler run, so a rejected request
 * never has a side effect. A handler ends in exactly one of svc_call_ok,
 * svc_call_raw_done, svc_call_fail, svc_call_pending or svc_call_deferred,
 * Core Lightning style: the compiler sees that every path returns a
 * struct svc_reply pointer.
 *
 * Fast handlers. The requests that carry the load (ping, emit) in their
 * plain shape are recognised by the validating scanner of fastscan.h
 * instead of a jansson tree. The dispatcher looks the method up among the
 * methods that have a fast handler, then applies the same checks from the
 * same table entry (access, the params spec on the scanned members,
 * shutdown, needs); a request any check would refuse, or of an unusual
 * shape, takes the general path, so error replies are exactly the same.
 */
#include "daemon/methods.h"
#include "daemon/methods-int.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fastscan.h"
#include "daemon/log.h"
#include "daemon/rpc.h"
#include "daemon/service.h"

struct svc_reply {
	bool pending;
	bool deferred;
};
static const struct svc_reply res_done = {false, false};
static const struct svc_reply res_pending = {true, false};
static const struct svc_reply res_deferred = {false, true};

/* A batch being handled (JSON-RPC 2.0 §6). */
struct batch {
	uint64_t durable_seq; /* reply once this seq is durable */
};

struct svc_call {
	const struct svc_transport *tr;
	void *conn;
	struct rpc_req *r;   /* unset on the fast path */
	struct buf *out;     /* unset on the fast path */
	struct batch *batch; /* NULL: a request on its own line */
	bool failed;
	const char *line; /* the request's text (NULL: unknown), for
	                   * params as they came in */
	size_t len;
};

/* The first 4 bytes of a name of n bytes, zero-padded: p[0..3] must be
 * readable (a key in a line is followed by its quote, ':' and a value). */
static inline uint32_t
key4(const char *p, size_t n)
{
	uint32_t k;

	memcpy(&k, p, 4);
	if (n == 0)
		return 0;
	if (n < 4) /* keep the name's bytes: first in memory */
		k &= __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		         ? (1u << (8 * n)) - 1
		         : ~0u << (8 * (4 - n));
	return k;
}

/* A name's first 4 bytes and its length in one word: one compare finds a
 * name of up to 4 bytes, the rest of a longer one is compared after. */
static inline uint64_t
name_key(const char *p, size_t n)
{
	return key4(p, n) | (uint64_t)n << 32;
}

/* name_key of a NUL-terminated name (reads only its bytes). */
static uint64_t
name_key_str(const char *name, size_t n)
{
	char b[4] = {0};

	memcpy(b, name, n < 4 ? n : 4);
	return key4(b, n < 4 ? n : 4) | (uint64_t)n << 32;
}

struct entry {
	const struct svc_method *m;
	struct svc *owner;
	struct svc **needs; /* the owner first */
	size_t nneeds;
	size_t nrequired; /* required params */
	uint64_t reqmask; /* bit k: params[k] is required */
	uint64_t *pkeys;  /* name_key of each param, for the fast path */
	bool ready;       /* every need running: kept by an observer */
	/* READ access, no params, not SVC_M_LIVE (ping): the fast path's
	 * checks are then no params and ready */
	bool plain;
};

struct methods_table {
	struct svc_graph *g;
	struct entry *e;
	size_t n;
	struct entry **fast; /* the entries with a fast handler */
	uint64_t *fkey;      /* their name_keys, one array to scan */
	size_t nfast;
};

/* ---- the handler API ---------------------------------------------------- */

const struct svc_reply *
svc_call_ok(struct svc_call *c, json_t *result)
{
	if (c->r->id)
		rpc_put_result(c->out, c->r->id, result);
	json_decref(result);
	return &res_done;
}

const struct svc_reply *
svc_call_fail(struct svc_call *c, enum svc_err e, const char *fmt, ...)
{
	va_list ap;

	c->failed = true;
	if (!c->r->id)
		return &res_done;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	rpc_put_error(c->out, c->r->id, (enum rpc_err)e, msg);
	free(msg);
	return &res_done;
}

struct buf *
svc_call_raw(struct svc_call *c)
{
	if (!c->r->id)
		return NULL;
	rpc_put_head(c->out, c->r->id);
	return c->out;
}

const struct svc_reply *
svc_call_raw_done(struct svc_call *c)
{
	if (c->r->id)
		rpc_put_tail(c->out);
	return &res_done;
}

const struct svc_reply *
svc_call_pending(struct svc_call *c)
{
	(void)c;
	return &res_pending;
}

const struct svc_reply *
svc_call_deferred(struct svc_call *c)
{
	(void)c;
	return &res_deferred;
}

json_t *
svc_call_param(struct svc_call *c, const char *name)
{
	return json_object_get(c->r->params, name);
}

const char *
svc_call_string(struct svc_call *c, const char *name, const char *dflt)
{
	json_t *v = svc_call_param(c, name);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

bool
svc_call_bool(struct svc_call *c, const char *name, bool dflt)
{
	json_t *v = svc_call_param(c, name);

	return v ? json_is_true(v) : dflt;
}

uint64_t
svc_call_uint(struct svc_call *c, const char *name, uint64_t dflt)
{
	json_t *v = svc_call_param(c, name);

	return json_is_integer(v) && json_integer_value(v) >= 0
	           ? (uint64_t)json_integer_value(v)
	           : dflt;
}

char *
svc_call_param_text(struct svc_call *c, const char *name)
{
	const char *const path[] = {"params", name};
	json_t *v = svc_call_param(c, name);
	struct buf b = {0};

	if (!v)
		return NULL;
	if (c->line && util_json_member(c->line, c->len, path, 2, &b)) {
		buf_putc(&b, '\0');
		return b.data; /* off is 0: nothing was consumed */
	}
	buf_free(&b);
	return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

json_t *
svc_call_id(struct svc_call *c)
{
	return c->r->id;
}

bool
svc_call_in_batch(const struct svc_call *c)
{
	return c->batch != NULL;
}

const char *
svc_call_source(struct svc_call *c)
{
	return c->tr->source(c->conn);
}

unsigned long
svc_call_uid(struct svc_call *c)
{
	return c->tr->uid(c->conn);
}

long
svc_call_pid(struct svc_call *c)
{
	return c->tr->pid(c->conn);
}

void
svc_call_subscribe(struct svc_call *c, const char *const *patterns, size_t n,
                   bool replay, uint64_t since, uint64_t upto)
{
	c->tr->subscribe(c->conn, patterns, n, replay, since, upto);
}

bool
svc_call_unsubscribe(struct svc_call *c)
{
	return c->tr->unsubscribe(c->conn);
}

int
svc_call_defer(struct svc_call *c, uint64_t seq, size_t matched)
{
	/* in a batch the whole reply waits for the last of its acknowledged
	 * emits */
	if (c->batch) {
		c->batch->durable_seq = seq;
		return 0;
	}
	return c->tr->defer_emit(c->conn, c->r->id, seq, matched);
}

int
svc_fast_defer(struct svc_call *c, const struct fastscan_req *f, uint64_t seq,
               size_t matched)
{
	json_t *id;
	int rc;

	if (f->id && c->tr->defer_raw)
		return c->tr->defer_raw(c->conn, f->id, f->id_len, seq,
		                        matched);
	if (!f->id ||
	    !(id = json_loadb(f->id, f->id_len, JSON_DECODE_ANY, NULL)))
		return -1;
	rc = c->tr->defer_emit(c->conn, id, seq, matched);
	json_decref(id);
	return rc;
}

void
svc_call_wait_shutdown(struct svc_call *c)
{
	c->tr->wait_shutdown(c->conn);
}

/* ---- the table ---------------------------------------------------------- */

static bool
required_by(const struct svc *s, const char *name)
{
	const char *const *r = svc_desc(s)->requires;

	for (; r && *r; r++)
		if (strcmp(*r, name) == 0)
			return true;
	return false;
}

/* The first service e needs that is not running, or NULL. */
static const struct svc *
missing_need(const struct entry *e)
{
	for (size_t i = 0; i < e->nneeds; i++)
		if (!e->needs[i] || svc_state(e->needs[i]) != SVC_RUNNING)
			return e->needs[i];
	return NULL;
}

/* Every state change: which methods have all they need (the fast path
 * then reads one flag instead of asking the graph per request). */
static void
refresh_ready(struct methods_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->e[i].ready = missing_need(&t->e[i]) == NULL;
}

static void
on_state(struct svc *s, enum svc_state from, enum svc_state to, void *arg)
{
	refresh_ready(arg);
}

struct methods_table *
methods_table_new(struct svc_graph *g, char **cause)
{
	struct methods_table *t = xcalloc(1, sizeof(*t));
	size_t n = 0, i, k;

	for (i = 0; i < svc_graph_count(g); i++)
		n += svc_desc(svc_graph_at(g, i))->nmethods;
	t->e = xcalloc(n ? n : 1, sizeof(*t->e));
	t->fast = xcalloc(n ? n : 1, sizeof(*t->fast));
	t->fkey = xcalloc(n ? n : 1, sizeof(*t->fkey));
	/* table order: the graph's services by their index in the table */
	for (size_t idx = 0; idx < svc_graph_count(g); idx++) {
		struct svc *s = NULL;

		for (i = 0; i < svc_graph_count(g); i++)
			if (svc_index(svc_graph_at(g, i)) == idx)
				s = svc_graph_at(g, i);
		if (!s)
			continue;
		const struct svc_desc *d = svc_desc(s);
		for (k = 0; k < d->nmethods; k++) {
			const struct svc_method *m = &d->methods[k];
			struct entry *e = &t->e[t->n];
			size_t nn = 1;

			for (i = 0; i < t->n; i++)
				if (strcmp(t->e[i].m->name, m->name) == 0) {
					*cause = xasprintf(
					    "duplicate method '%s' (services "
					    "'%s' and '%s')",
					    m->name, svc_name(t->e[i].owner),
					    d->name);
					goto fail;
				}
			for (const char *const *nd = m->needs; nd && *nd; nd++)
				nn++;
			e->m = m;
			e->owner = s;
			assert(m->nparams <= 64);
			e->needs = xcalloc(nn, sizeof(*e->needs));
			e->needs[e->nneeds++] = s;
			t->n++;
			for (const char *const *nd = m->needs; nd && *nd;
			     nd++) {
				if (strcmp(*nd, d->name) == 0)
					continue;
				if (!required_by(s, *nd)) {
					*cause = xasprintf(
					    "method '%s' needs '%s', which "
					    "service '%s' does not require",
					    m->name, *nd, d->name);
					goto fail;
				}
				e->needs[e->nneeds++] = svc_graph_find(g, *nd);
			}
			e->pkeys = xcalloc(m->nparams ? m->nparams : 1,
			                   sizeof(*e->pkeys));
			for (i = 0; i < m->nparams; i++) {
				size_t l = strlen(m->params[i].name);

				e->nrequired += m->params[i].required;
				if (m->params[i].required)
					e->reqmask |= 1ULL << i;
				e->pkeys[i] =
				    name_key_str(m->params[i].name, l);
			}
			e->plain = m->access == SVC_ACCESS_READ &&
			           m->nparams == 0 && !(m->flags & SVC_M_LIVE);
			if (m->fast) {
				t->fkey[t->nfast] =
				    name_key_str(m->name, strlen(m->name));
				t->fast[t->nfast++] = e;
			}
		}
	}
	t->g = g;
	refresh_ready(t);
	svc_graph_add_observer(g, on_state, t);
	return t;
fail:
	methods_table_free(t);
	return NULL;
}

void
methods_table_free(struct methods_table *t)
{
	if (!t)
		return;
	if (t->g)
		svc_graph_remove_observer(t->g, on_state, t);
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].needs);
		free(t->e[i].pkeys);
	}
	free(t->e);
	free(t->fast);
	free(t->fkey);
	free(t);
}

json_t *
methods_names(const struct methods_table *t)
{
	json_t *a = json_array();

	for (size_t i = 0; i < t->n; i++)
		json_array_append_new(a, json_string(t->e[i].m->name));
	return a;
}

static const struct entry *
entry_find(const struct methods_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].m->name, name) == 0)
			return &t->e[i];
	return NULL;
}

static const char *
access_name(enum svc_access a)
{
	return a == SVC_ACCESS_ADMIN  ? "admin"
	       : a == SVC_ACCESS_EMIT ? "emit"
	                              : "read";
}

static inline bool
allowed(const struct svc_call *q, enum svc_access a)
{
	return a == SVC_ACCESS_READ || q->tr->allowed(q->conn, a);
}

/* ---- the fast path ------------------------------------------------------ */

/* Short names: a plain loop beats a call to memcmp. */
static inline bool
same_bytes(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* Does a scanned raw value fit a param type? Only shapes the scanner
 * can tell at a glance; anything else: the general path decides. */
static inline bool
fast_type_ok(enum svc_ptype type, const char *v, size_t vl)
{
	switch (type) {
	case SVC_P_STRING: return v[0] == '"';
	case SVC_P_OBJECT: return v[0] == '{';
	case SVC_P_BOOL:
		return FASTSCAN_IS(v, vl, "true") ||
		       FASTSCAN_IS(v, vl, "false");
	case SVC_P_UINT: return v[0] >= '0' && v[0] <= '9';
	case SVC_P_DURATION: return v[0] == '"' || (v[0] >= '0' && v[0] <= '9');
	case SVC_P_ANY: return true;
	case SVC_P_STRINGS: return false;
	}
	return false;
}

/* The params spec, on the members the scanner recorded; p[k] is then the
 * member of params[k] (NULL: absent), for the fast handler. */
static inline bool
fast_params_ok(const struct entry *e, const struct fastscan_req *f,
               const struct fastscan_member **p)
{
	const struct svc_method *m = e->m;
	uint64_t seen = 0;
	size_t i, k;

	for (k = 0; k < m->nparams; k++)
		p[k] = NULL;
	if (f->nmem == 0) /* the usual ping */
		return e->nrequired == 0;
	for (i = 0; i < f->nmem; i++) {
		const struct fastscan_member *mb = &f->mem[i];
		uint64_t kk = name_key(mb->k, mb->kl);

		for (k = 0; k < m->nparams; k++)
			if (e->pkeys[k] == kk &&
			    (mb->kl <= 4 || same_bytes(m->params[k].name + 4,
			                               mb->k + 4, mb->kl - 4)))
				break;
		if (k == m->nparams ||
		    !fast_type_ok(m->params[k].type, mb->v, mb->vl))
			return false;
		p[k] = mb;
		seen |= 1ULL << k;
	}
	return (seen & e->reqmask) == e->reqmask;
}

/* -1: not for the fast path; else the outcome, reply written. */
static inline __attribute__((always_inline)) int
fast_dispatch(const struct methods_table *t, const struct svc_transport *tr,
              void *conn, const char *line, size_t len, struct buf *out)
{
	struct fastscan_req f;
	const struct entry *e = NULL;

	if (!t->nfast || !fastscan_request(line, len, &f))
		return -1;
	/* four bytes and the length at once: the method's text is followed
	 * by its closing quote, at least a '}' and the sentinel, so they are
	 * readable */
	uint64_t key = name_key(f.method, f.method_len);
	for (size_t i = 0; i < t->nfast; i++) {
		if (t->fkey[i] == key &&
		    (f.method_len <= 4 ||
		     same_bytes(t->fast[i]->m->name + 4, f.method + 4,
		                f.method_len - 4))) {
			e = t->fast[i];
			break;
		}
	}
	if (!e)
		return -1;

	const struct svc_method *m = e->m;
	const struct fastscan_member *p[64]; /* by the spec's order */
	struct svc_call q; /* only what a fast handler may use */

	q.tr = tr;
	q.conn = conn;

	/* the central checks, from the same entry: a refusal is answered by
	 * the general path */
	if (e->plain ? f.nmem != 0 || !e->ready
	             : !allowed(&q, m->access) || !fast_params_ok(e, &f, p) ||
	                   ((m->flags & SVC_M_LIVE) && tr->shutting_down()) ||
	                   !e->ready)
		return -1;
	return m->fast(e->owner, &q, &f, p, out);
}

static bool fast_path = true;

void
methods_set_fast_path(bool on)
{
	fast_path = on;
}

/* ---- the general path --------------------------------------------------- */

static bool
batch_refused(const struct svc_method *m, json_t *params)
{
	return (m->flags & SVC_M_NO_BATCH) ||
	       ((m->flags & SVC_M_NO_BATCH_WAIT) &&
	        json_is_true(json_object_get(params, "wait")));
}

/* The checks in order, then the handler (docs/protocol.md: a rejected request
 * has no side effect). */
static const struct svc_reply *
dispatch_req(const struct methods_table *t, struct svc_call *q)
{
	struct rpc_req *r = q->r;
	const struct entry *e;
	const struct svc_method *m;
	const struct svc_reply *res;
	const struct svc *miss;
	char *msg = NULL;

	if (!(e = entry_find(t, r->method)))
		return svc_call_fail(q, (enum svc_err)RPC_METHOD_NOT_FOUND,
		                     "unknown method '%.64s'", r->method);
	m = e->m;
	if (q->batch && batch_refused(m, r->params))
		return svc_call_fail(
		    q, SVC_ERR_INVALID_REQUEST,
		    "'%s'%s cannot be part of a batch: send it on a line of "
		    "its own",
		    m->name, (m->flags & SVC_M_NO_BATCH) ? "" : " with wait");
	if (!allowed(q, m->access))
		return svc_call_fail(
		    q, SVC_ERR_PERMISSION,
		    "permission denied: '%s' requires %s access", m->name,
		    access_name(m->access));
	if (rpc_check_params(r->params, m->params, m->nparams, &msg) < 0) {
		res = svc_call_fail(q, SVC_ERR_INVALID_PARAMS, "%s", msg);
		free(msg);
		return res;
	}
	if ((m->flags & SVC_M_LIVE) && q->tr->shutting_down())
		return svc_call_fail(q, SVC_ERR_SHUTTING_DOWN,
		                     "svcd is shutting down");
	if ((miss = missing_need(e)))
		return svc_call_fail(q, SVC_ERR_UNAVAILABLE,
		                     "service '%s' is not running",
		                     svc_name(miss));
	res = m->fn(e->owner, q);
	/* a batch never parks the client: an emit that would wait for room
	 * (nothing was emitted) fails as "wait": false does */
	if (res->pending && q->batch)
		return svc_call_fail(
		    q, SVC_ERR_QUEUE_FULL,
		    "event queue full, try again later (an emit in a "
		    "batch does not wait for room)");
	return res;
}

static bool
jws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * A batch: every element runs in order as if on its own line; the replies
 * (none for notifications) go out as one array on one line, or nothing
 * when there is none. [] and an oversized batch get one error object.
 */
/*
 * The text of each element of a batch line that jansson has accepted, so
 * an emit inside a batch keeps its data's bytes (data_text). Fills at most
 * max spans; returns how many elements the array holds.
 */
struct span {
	const char *p;
	size_t n;
};

static size_t
batch_spans(const char *line, size_t len, struct span *sp, size_t max)
{
	const char *p = memchr(line, '[', len), *end = line + len, *v;
	size_t count = 0;

	if (!p)
		return 0;
	for (p++;; p++) { /* at '[' or ',' */
		while (p < end && jws(*p))
			p++;
		if (p >= end || *p == ']' || !(v = util_json_skip(p, end)))
			break;
		if (count < max)
			sp[count] = (struct span){p, (size_t)(v - p)};
		count++;
		for (p = v; p < end && jws(*p); p++)
			;
		if (p >= end || *p != ',')
			break;
	}
	return count;
}

static enum methods_outcome
batch_dispatch(const struct methods_table *t, const struct svc_transport *tr,
               void *conn, const char *line, size_t len, json_t *arr,
               struct buf *out)
{
	static struct span sp[METHODS_MAX_BATCH];
	struct batch bt = {0};
	struct buf one = {0}, all = {0};
	size_t i, n = json_array_size(arr);
	bool failed = false;
	json_t *el;

	if (n == 0 || n > METHODS_MAX_BATCH) {
		char *msg =
		    n ? xasprintf("batch too large: %zu requests (max %d)", n,
		                  METHODS_MAX_BATCH)
		      : xasprintf("empty batch: a batch holds 1 to %d requests",
		                  METHODS_MAX_BATCH);

		rpc_put_error(out, NULL,
		              n ? RPC_TOO_LARGE : RPC_INVALID_REQUEST, msg);
		free(msg);
		json_decref(arr);
		return METHODS_ERROR;
	}
	if (batch_spans(line, len, sp, METHODS_MAX_BATCH) != n)
		memset(sp, 0, sizeof(sp)); /* unexpected: data re-serialised */
	json_array_foreach(arr, i, el)
	{
		struct rpc_req r;
		struct svc_call q = {
		    .tr = tr, .conn = conn, .r = &r, .out = &one, .batch = &bt};
		enum rpc_err e;
		char *msg = NULL;
		bool answer;

		buf_reset(&one);
		q.line = sp[i].p;
		q.len = sp[i].n;
		if (rpc_envelope(json_incref(el), &r, &e, &msg, &answer) < 0) {
			if (answer)
				rpc_put_error(&one, r.id, e, msg);
			free(msg);
			failed = true;
		} else if (all.len > METHODS_BATCH_REPLY_MAX) {
			/* the reply is big enough: the rest is not run */
			if (r.id)
				rpc_put_error(
				    &one, r.id, RPC_TOO_LARGE,
				    "not run: the batch's reply passed "
				    "4 MiB; send this request again");
			failed = true;
		} else {
			dispatch_req(t, &q);
			failed |= q.failed;
		}
		rpc_req_clear(&r);
		if (one.len) { /* one line: drop its newline */
			buf_putc(&all, all.len ? ',' : '[');
			buf_append(&all, buf_head(&one), one.len - 1);
		}
	}
	json_decref(arr);
	buf_free(&one);
	if (all.len) {
		buf_append(&all, "]\n", 2);
		if (bt.durable_seq &&
		    tr->defer_text(conn, &all, bt.durable_seq) == 0) {
			buf_free(&all);
			return METHODS_DEFERRED;
		}
		buf_append(out, buf_head(&all), all.len);
	}
	buf_free(&all);
	return failed ? METHODS_ERROR : METHODS_OK;
}

/* The general path: a jansson tree. Kept out of line so that the fast
 * path does not set up its frame. */
static __attribute__((noinline)) enum methods_outcome
slow_dispatch(const struct methods_table *t, const struct svc_transport *tr,
              void *conn, const char *line, size_t len, struct buf *out)
{
	struct rpc_req r;
	struct svc_call q = {.tr = tr, .conn = conn, .r = &r, .out = out};
	const struct svc_reply *res;
	enum rpc_err e;
	char *msg = NULL;
	json_t *root;
	bool answer;

	if (!(root = rpc_load(line, len, &msg))) {
		rpc_put_error(out, NULL, RPC_PARSE_ERROR, msg);
		free(msg);
		return METHODS_ERROR;
	}
	if (json_is_array(root))
		return batch_dispatch(t, tr, conn, line, len, root, out);
	q.line = line;
	q.len = len;
	if (rpc_envelope(root, &r, &e, &msg, &answer) < 0) {
		if (answer)
			rpc_put_error(out, r.id, e, msg);
		free(msg);
		rpc_req_clear(&r);
		return METHODS_ERROR;
	}
	res = dispatch_req(t, &q);
	rpc_req_clear(&r);
	if (res->pending)
		return METHODS_PENDING;
	if (res->deferred)
		return METHODS_DEFERRED;
	return q.failed ? METHODS_ERROR : METHODS_OK;
}

enum methods_outcome
methods_dispatch(const struct methods_table *t, const struct svc_transport *tr,
                 void *conn, const char *line, size_t len, struct buf *out)
{
	int fast = fast_path ? fast_dispatch(t, tr, conn, line, len, out) : -1;

	if (fast >= 0)
		return (enum methods_outcome)fast;
	return slow_dispatch(t, tr, conn, line, len, out);
}
