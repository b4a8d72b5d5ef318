/* svcctl.c — the svcctl command: control svcd over its JSON-RPC socket. */
#include <stdio.h>

#include "client/cli.h"
#include "daemon/util.h"

int
main(int argc, char **argv)
{
	util_json_use_xmalloc();
	return cli_main(argc, argv, stdout, stderr);
}
