/*
 * metrics.c — `svcctl metrics`: the daemon's figures in the Prometheus
 * text format, as the `metrics` method returns them (for node_exporter's
 * textfile collector, or a look by hand).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/cli.h"
#include "client/mon.h"
#include "client/monitor.h"
#include "daemon/wire.h"

static int
cmd_metrics(struct cli_ctx *c)
{
	json_t *res = NULL;
	char *why = NULL;
	int rc = mon_call(c, WIRE_M_METRICS, NULL, &res, &why);

	if (rc) {
		fprintf(c->err, "svcctl: %s\n", why);
		free(why);
		return rc;
	}
	if (c->o->json) {
		json_dumpf(res, c->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', c->out);
	} else {
		json_t *text = json_object_get(res, "text");

		if (!json_is_string(text)) {
			fprintf(c->err, "svcctl: the metrics reply has no "
			                "text\n");
			json_decref(res);
			return CLI_EXIT_ERROR;
		}
		fwrite(json_string_value(text), 1, json_string_length(text),
		       c->out);
	}
	json_decref(res);
	return CLI_EXIT_OK;
}

const struct cli_cmd cmd_metrics_entry = {
    .name = "metrics",
    .args = "",
    .summary = "every figure in the Prometheus text format",
    .help = "Print every counter and gauge of svcd and its services in "
            "the Prometheus\ntext format (# HELP, # TYPE, one sample a "
            "line), as `GET /metrics` of\n[metrics] listen serves it. "
            "With --json, the method's result object.\n\n"
            "Examples:\n"
            "  svcctl metrics | grep svcd_bus_\n"
            "  svcctl metrics > /var/lib/prometheus/node-exporter/"
            "svcd.prom.$$ &&\n"
            "    mv /var/lib/prometheus/node-exporter/svcd.prom.$$ "
            "/var/lib/prometheus/node-exporter/svcd.prom\n",
    .exec = cmd_metrics,
};
