/* table.h — the compiled-in service graph of svcd. */
#ifndef SVCD_TABLE_H
#define SVCD_TABLE_H

#include <stddef.h>

#include "daemon/service.h"

extern const struct svc_desc *const svcd_table[];
extern const size_t svcd_table_len;

#endif
