/* rpc.c — JSON-RPC 2.0 framing: errors, envelope, parameter specs, replies. */
#include "daemon/rpc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int
bad(enum rpc_err *err, char **msg, enum rpc_err e, char *m)
{
	*err = e;
	*msg = m;
	return -1;
}

json_t *
rpc_load(const char *line, size_t len, char **msg)
{
	json_error_t jerr;
	json_t *root = json_loadb(
	    line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

	if (!root)
		*msg = xasprintf("parse error: %s (column %d)", jerr.text,
		                 jerr.column);
	return root;
}

/*
 * JSON-RPC 2.0 §5: only a valid request without "id" is a notification;
 * an invalid one is answered (with id null when its id is unusable).
 */
int
rpc_envelope(json_t *root, struct rpc_req *req, enum rpc_err *err, char **msg,
             bool *answer)
{
	json_t *v, *id;
	const char *key;

	memset(req, 0, sizeof(*req));
	*answer = true;
	req->root = root;
	if (!json_is_object(root))
		return bad(err, msg, RPC_INVALID_REQUEST,
		           xstrdup("a request must be a JSON object"));
	id = json_object_get(root, "id");
	if (id && !json_is_string(id) && !json_is_number(id) &&
	    !json_is_null(id))
		return bad(err, msg, RPC_INVALID_REQUEST,
		           xstrdup("'id' must be a string, a number or null"));
	req->id = id;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "jsonrpc") == 0) {
			if (!json_is_string(v) ||
			    strcmp(json_string_value(v), "2.0") != 0)
				break;
		} else if (strcmp(key, "method") == 0) {
			if (!json_is_string(v))
				return bad(
				    err, msg, RPC_INVALID_REQUEST,
				    xstrdup("'method' must be a string"));
			req->method = json_string_value(v);
		} else if (strcmp(key, "params") == 0) {
			req->params = v;
		} else if (strcmp(key, "id") != 0) {
			return bad(err, msg, RPC_INVALID_REQUEST,
			           xasprintf("unknown member '%s' in the "
			                     "request",
			                     key));
		}
	}
	v = json_object_get(root, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
		return bad(err, msg, RPC_INVALID_REQUEST,
		           xstrdup("'jsonrpc' must be \"2.0\""));
	if (!req->method)
		return bad(err, msg, RPC_INVALID_REQUEST,
		           xstrdup("'method' is required"));
	if (req->params && !json_is_object(req->params) &&
	    !json_is_array(req->params))
		return bad(err, msg, RPC_INVALID_REQUEST,
		           xstrdup("'params' must be an object (parameters "
		                   "are passed by name)"));
	/* From here on the request is valid: a notification's errors are
	 * not answered. */
	*answer = id != NULL;
	if (json_array_size(req->params) > 0)
		return bad(err, msg, RPC_INVALID_PARAMS,
		           xstrdup("by-position params are not supported: "
		                   "'params' must be an object (parameters "
		                   "are passed by name)"));
	/* absent or [] (as some clients send for "none"): no params */
	if (!json_is_object(req->params)) {
		req->params = json_object();
		json_object_set_new(root, "params", req->params);
	}
	return 0;
}

int
rpc_parse(const char *line, size_t len, struct rpc_req *req, enum rpc_err *err,
          char **msg, bool *answer)
{
	json_t *root = rpc_load(line, len, msg);

	if (!root) {
		memset(req, 0, sizeof(*req));
		*answer = true;
		*err = RPC_PARSE_ERROR;
		return -1;
	}
	return rpc_envelope(root, req, err, msg, answer);
}

void
rpc_req_clear(struct rpc_req *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

static const char *
ptype_name(enum svc_ptype t)
{
	switch (t) {
	case SVC_P_STRING: return "a string";
	case SVC_P_BOOL: return "a boolean";
	case SVC_P_OBJECT: return "an object";
	case SVC_P_UINT: return "a non-negative integer";
	case SVC_P_DURATION:
		return "a duration (\"250ms\", \"30s\") or integer "
		       "milliseconds";
	case SVC_P_STRINGS: return "an array of strings";
	case SVC_P_ANY: return "a JSON value";
	}
	return "?";
}

static bool
ptype_ok(enum svc_ptype t, json_t *v)
{
	size_t i;
	json_t *e;

	switch (t) {
	case SVC_P_STRING: return json_is_string(v);
	case SVC_P_BOOL: return json_is_boolean(v);
	case SVC_P_OBJECT: return json_is_object(v);
	case SVC_P_UINT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case SVC_P_DURATION:
		return json_is_string(v) ||
		       (json_is_integer(v) && json_integer_value(v) >= 0);
	case SVC_P_STRINGS:
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i,
		                   e) if (!json_is_string(e)) return false;
		return true;
	case SVC_P_ANY: return true;
	}
	return false;
}

int
rpc_check_params(json_t *params, const struct svc_param *spec, size_t n,
                 char **msg)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(params, key, v)
	{
		for (i = 0; i < n; i++)
			if (strcmp(spec[i].name, key) == 0)
				break;
		if (i == n) {
			*msg = xasprintf("unknown parameter '%s'", key);
			return -1;
		}
		if (!ptype_ok(spec[i].type, v)) {
			*msg = xasprintf("parameter '%s' must be %s", key,
			                 ptype_name(spec[i].type));
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		if (spec[i].required &&
		    !json_object_get(params, spec[i].name)) {
			*msg = xasprintf("missing required parameter '%s'",
			                 spec[i].name);
			return -1;
		}
	}
	return 0;
}

int
rpc_duration(json_t *v, const char *name, double *seconds, char **msg)
{
	return rpc_duration_max(v, name, UTIL_TASK_MAX, UTIL_TASK_MAX_TEXT,
	                        seconds, msg);
}

int
rpc_duration_max(json_t *v, const char *name, double max, const char *max_text,
                 double *seconds, char **msg)
{
	char *cause = NULL;
	int rc;

	/* the config's parser and range: a string needs a unit */
	if (json_is_integer(v))
		rc = util_duration_ms((int64_t)json_integer_value(v), max,
		                      max_text, seconds, &cause);
	else
		rc = util_parse_duration_max(json_string_value(v), max,
		                             max_text, seconds, &cause);
	if (rc < 0) {
		*msg = xasprintf("parameter '%s': %s", name,
		                 cause ? cause : "bad duration");
		free(cause);
		return -1;
	}
	return 0;
}

void
rpc_put_id(struct buf *out, json_t *id)
{
	if (!id || json_is_null(id)) {
		buf_append(out, "null", 4);
	} else if (json_is_integer(id)) {
		buf_printf(out, "%" JSON_INTEGER_FORMAT,
		           json_integer_value(id));
	} else if (json_is_string(id)) {
		buf_json_string(out, json_string_value(id),
		                json_string_length(id));
	} else {
		char *s = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);

		buf_puts(out, s ? s : "null");
		free(s);
	}
}

void
rpc_put_head(struct buf *out, json_t *id)
{
	buf_append(out, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
	rpc_put_id(out, id);
	buf_append(out, ",\"result\":", 10);
}

void
rpc_put_tail(struct buf *out)
{
	buf_append(out, "}\n", 2);
}

/* Append v as compact JSON (any type). Never for event data: that is
 * written as stored (bus_event_put), since this rounds reals. */
static void
put_json(struct buf *out, json_t *v)
{
	/* 10 significant digits: 0.005, not 0.0050000000000000001 */
	char *s =
	    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
	                      JSON_REAL_PRECISION(10));

	buf_puts(out, s ? s : "null");
	free(s);
}

void
rpc_put_result(struct buf *out, json_t *id, json_t *result)
{
	rpc_put_head(out, id);
	put_json(out, result);
	rpc_put_tail(out);
}

void
rpc_put_error(struct buf *out, json_t *id, enum rpc_err e, const char *msg)
{
	buf_append(out, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
	rpc_put_id(out, id);
	buf_printf(out,
	           ",\"error\":{\"code\":%d,\"message\":", rpc_err_code(e));
	buf_json_string(out, msg, strlen(msg));
	buf_printf(out, ",\"data\":{\"class\":\"%s\"}}}\n", rpc_err_class(e));
}

void
rpc_put_notification(struct buf *out, const char *method, json_t *params)
{
	buf_append(out, "{\"jsonrpc\":\"2.0\",\"method\":", 26);
	buf_json_string(out, method, strlen(method));
	buf_append(out, ",\"params\":", 10);
	if (params)
		put_json(out, params);
	else
		buf_append(out, "{}", 2);
	rpc_put_tail(out);
}
