/* peers.h — `svcctl peers` (client/peers.c). */
#ifndef SVCCTL_PEERS_H
#define SVCCTL_PEERS_H

#include "client/cli.h"

extern const struct cli_cmd cmd_peers_entry;

#endif
