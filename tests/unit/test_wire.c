/* test_wire.c — Check tests for daemon/wire.c: the error table svcd and
 * svcctl share. */
#include <check.h>
#include <stddef.h>
#include <string.h>

#include "testutil.h"
#include "daemon/wire.h"

/* docs/protocol.md's table, written out: a change to wire.c must show. */
static const struct {
	enum rpc_err e;
	int code;
	const char *class;
} expect[] = {
    {RPC_PARSE_ERROR, -32700, "ParseError"},
    {RPC_INVALID_REQUEST, -32600, "InvalidRequest"},
    {RPC_METHOD_NOT_FOUND, -32601, "MethodNotFound"},
    {RPC_INVALID_PARAMS, -32602, "InvalidParams"},
    {RPC_INTERNAL, -32603, "Internal"},
    {RPC_SHUTTING_DOWN, -32000, "ShuttingDown"},
    {RPC_QUEUE_FULL, -32001, "QueueFull"},
    {RPC_PERMISSION, -32002, "PermissionDenied"},
    {RPC_NOT_FOUND, -32003, "NotFound"},
    {RPC_UNAVAILABLE, -32004, "Unavailable"},
    {RPC_TOO_LARGE, -32005, "TooLarge"},
    {RPC_BUSY, -32006, "Busy"},
    {RPC_INVALID_CONFIG, -32007, "InvalidConfig"},
};

START_TEST(test_codes_and_classes)
{
	ck_assert_uint_eq(sizeof(expect) / sizeof(expect[0]), RPC_ERR_COUNT);
	for (size_t i = 0; i < RPC_ERR_COUNT; i++) {
		ck_assert_int_eq(rpc_err_code(expect[i].e), expect[i].code);
		ck_assert_str_eq(rpc_err_class(expect[i].e), expect[i].class);
	}
}
END_TEST

START_TEST(test_from_class)
{
	enum rpc_err e = RPC_ERR_COUNT;

	for (size_t i = 0; i < RPC_ERR_COUNT; i++) {
		ck_assert(wire_err_from_class(expect[i].class, &e));
		ck_assert_int_eq(e, expect[i].e);
	}
	e = RPC_BUSY;
	ck_assert(!wire_err_from_class("NoSuchClass", &e));
	ck_assert(!wire_err_from_class("queuefull", &e));
	ck_assert(!wire_err_from_class("", &e));
	ck_assert(!wire_err_from_class(NULL, &e));
	ck_assert_int_eq(e, RPC_BUSY); /* untouched when not found */
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_codes_and_classes);
	tcase_add_test(tc, test_from_class);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
