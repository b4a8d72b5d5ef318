/*
 * cycle_table.c — a compiled-in graph with a cycle, linked into a test-only
 * svcd (build/tests/svcd-cycle) to check that a graph error is reported with
 * its path before anything starts, and exits 78.
 */
#include <stddef.h>

#include "services/table.h"

static int
never_init(struct svc *self, char **cause)
{
	(void)self;
	(void)cause;
	return -1; /* must never run: validation fails first */
}

static const struct svc_desc a = {
	.name = "alpha", .requires = SVC_REQUIRES("gamma"), .init = never_init};
static const struct svc_desc b = {
	.name = "beta", .requires = SVC_REQUIRES("alpha"), .init = never_init};
static const struct svc_desc c = {
	.name = "gamma", .requires = SVC_REQUIRES("beta"), .init = never_init};

const struct svc_desc *const svcd_table[] = {&a, &b, &c};
const size_t svcd_table_len = 3;
