/*
 * peers.c — `svcctl peers`: the bridge's view of the other nodes (the
 * `peers` method of the bridge service): every origin seen with its last
 * seq and time, duplicates dropped and gaps, and every node's consumer
 * group with its lag and pending entries (streams delivery).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/cli.h"
#include "client/peers.h"
#include "client/tabulate.h"
#include "daemon/util.h"

static char *
peer_cell(json_t *v)
{
	if (json_is_integer(v))
		return xasprintf("%lld", (long long)json_integer_value(v));
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	return xstrdup("-");
}

static void
peer_row(struct tab *t, json_t *p, const char *self)
{
	static const char *const keys[] = {"seq",        "lag",  "pending",
	                                   "duplicates", "gaps", "missing"};
	const char *node = json_string_value(json_object_get(p, "node"));
	const char *time = json_string_value(json_object_get(p, "time"));

	tab_row(t);
	tab_cell(t, TAB_PLAIN, "%s%s", node ? node : "?",
	         node && self && !strcmp(node, self) ? " (this node)" : "");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char *s = peer_cell(json_object_get(p, keys[i]));
		bool bad = (i >= 4 && strcmp(s, "0") && strcmp(s, "-"));

		tab_cell(t, bad ? TAB_RED : TAB_PLAIN, "%s", s);
		free(s);
	}
	tab_cell(t, TAB_PLAIN, "%s", time ? time : "-");
}

static int
cmd_peers(struct cli_ctx *c)
{
	static const char *const hdr[] = {"NODE",    "LAST SEQ",       "LAG",
	                                  "PENDING", "DUPS",           "GAPS",
	                                  "MISSING", "LAST EVENT TIME"};
	json_t *result = NULL, *error = NULL, *peers, *p;
	char *cause = NULL;
	const char *self;
	size_t i;
	int rc;

	if (!c->connected) {
		if (conn_open(&c->conn, c->socket, c->o->timeout_ms, &cause) <
		    0) {
			fprintf(c->err, "svcctl: %s\n", cause);
			free(cause);
			return CLI_EXIT_UNREACHABLE;
		}
		c->conn.interrupt = c->interrupt;
		c->connected = true;
	}
	rc = conn_call(&c->conn, "peers", NULL, c->o->timeout_ms, NULL, NULL,
	               &result, &error, &cause);
	if (rc == CONN_ERROR_REPLY) {
		const char *msg =
		    json_string_value(json_object_get(error, "message"));
		const char *cls = json_string_value(
		    json_object_get(json_object_get(error, "data"), "class"));

		fprintf(c->err, "svcctl: %s%s%s%s\n", msg ? msg : "error",
		        cls ? " (" : "", cls ? cls : "", cls ? ")" : "");
		json_decref(error);
		return cli_exit_for_error(c->command, cls);
	}
	if (rc != CONN_OK) {
		fprintf(c->err, "svcctl: %s\n", cause ? cause : "failed");
		free(cause);
		return CLI_EXIT_UNREACHABLE;
	}
	if (c->o->json) {
		json_dumpf(result, c->out,
		           JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', c->out);
		json_decref(result);
		return CLI_EXIT_OK;
	}
	peers = json_object_get(result, "peers");
	self = json_string_value(json_object_get(result, "node"));
	if (json_is_false(json_object_get(result, "enabled"))) {
		fprintf(c->out, "no bridge ([bridge] is not configured)\n");
	} else if (json_array_size(peers) == 0) {
		fprintf(c->out, "no peers seen yet\n");
	} else {
		struct tab *t = tab_new(ARRAY_SIZE(hdr), hdr);
		struct buf out = {0};

		for (size_t col = 1; col <= 6; col++)
			tab_align_right(t, col);
		json_array_foreach(peers, i, p) peer_row(t, p, self);
		tab_render(t, c->color, &out);
		fwrite(buf_head(&out), 1, out.len, c->out);
		buf_free(&out);
		tab_free(t);
	}
	json_decref(result);
	return CLI_EXIT_OK;
}

const struct cli_cmd cmd_peers_entry = {
    .name = "peers",
    .args = "",
    .summary = "the bridge's peers: last seq, lag, duplicates, gaps",
    .help = "List the other svcd nodes the bridge knows: every origin "
            "seen (its last\nseq and event time, duplicates dropped, "
            "gaps and events missing in\nthem) and every node's "
            "consumer group on the stream (LAG: entries it\nhas not "
            "read yet; PENDING: read, not yet acknowledged).\n\n"
            "Examples:\n"
            "  svcctl peers\n"
            "  svcctl peers --json\n",
    .exec = cmd_peers,
};
