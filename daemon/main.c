/*
 * main.c — svcd: svcd_main() around the compiled-in table (services/table.c).
 * A test binary links this file with another table.
 */
#include "daemon/svcd.h"
#include "services/table.h"

int
main(int argc, char **argv)
{
	return svcd_main(argc, argv, svcd_table, svcd_table_len);
}
