/*
 * params.h — the params spec of a control method: the name, type and
 * presence of each member of "params", which the dispatcher checks before
 * the method's handler runs (unknown, missing, wrong type: InvalidParams).
 * Public (installed): a service's struct svc_method (daemon/methods.h)
 * points to an array of these.
 */
#ifndef SVCD_PARAMS_H
#define SVCD_PARAMS_H

#include <stdbool.h>

enum svc_ptype {
	SVC_P_STRING,
	SVC_P_BOOL,
	SVC_P_OBJECT,
	SVC_P_UINT,     /* non-negative integer */
	SVC_P_DURATION, /* "250ms", "30s", or integer milliseconds */
	SVC_P_STRINGS,  /* array of strings */
	SVC_P_ANY,      /* any JSON value (the handler checks it) */
};

struct svc_param {
	const char *name;
	enum svc_ptype type;
	bool required;
};

#endif
