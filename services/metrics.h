/*
 * metrics.h — every service's figures as Prometheus metrics: the `metrics`
 * method (svcctl metrics) and, with [metrics] listen, a plain HTTP
 * endpoint `GET /metrics` on the loop for a Prometheus to scrape.
 *
 * The text is made from the graph alone: the framework's own figures per
 * service (up, healthy, state, init and ping times) and each running
 * service's `figures`, typed and described by its descriptor's `metrics`
 * table (daemon/service.h, struct svc_metric; docs/framework.md
 * "Figures"). No service is known here by name.
 */
#ifndef SVCD_METRICS_H
#define SVCD_METRICS_H

#include <stddef.h>

#include "daemon/service.h"

extern const struct svc_desc metrics_service;

/* The Content-Type of the text (the Prometheus text format 0.0.4). */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * The whole exposition for graph g, NUL-terminated (caller frees); *len
 * (if non-NULL) is its length. Calls the figures of running services, so
 * from the loop only.
 */
char *metrics_text(struct svc_graph *g, size_t *len);

#endif
