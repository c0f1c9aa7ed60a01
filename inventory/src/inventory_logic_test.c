/*  =========================================================================
    inventory_logic_test - the inventory's decisions, case by case

    The logic is pure, so each case hands it lines, counts and JSON bodies
    and checks the answer. The first case is the usage example: an order
    that names one SKU twice, rejected for the sum.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_logic.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  --------------------------------------------------------------------------
//  Usage: merge, decide, explain.

static void
test_usage(void **state)
{
    (void) state;
    inventory_line_t lines[] = {{"SKU-2", 1}, {"SKU-1", 2}, {"SKU-2", 3}};
    size_t count = inventory_logic_merge(lines, 3);
    assert_int_equal(count, 2);
    assert_string_equal(lines[0].sku, "SKU-1");
    assert_int_equal(lines[0].quantity, 2);
    assert_string_equal(lines[1].sku, "SKU-2");
    assert_int_equal(lines[1].quantity, 4);

    int64_t available[] = {5, 3};
    inventory_decision_t decision = inventory_logic_decide(lines, available, count);
    assert_false(decision.reserved);
    assert_int_equal(decision.line, 1);
    assert_int_equal(decision.requested, 4);
    assert_int_equal(decision.available, 3);
    char *reason = inventory_logic_reject_reason(lines, &decision);
    assert_string_equal(reason, "out of stock: SKU-2 (requested 4, available 3)");
    zstr_free(&reason);

    //  With one more unit of SKU-2 the whole order fits.
    available[1] = 4;
    decision = inventory_logic_decide(lines, available, count);
    assert_true(decision.reserved);
}

//  --------------------------------------------------------------------------
//  Merging: byte order (so "SKU-10" < "SKU-2" and upper case first), every
//  duplicate summed wherever it stands, single lines kept.

static void
test_merge(void **state)
{
    (void) state;
    inventory_line_t lines[] = {{"b", 1}, {"SKU-2", 7}, {"a", 1},     {"SKU-10", 1},   {"SKU-2", 1},
                                {"B", 2}, {"b", 5},     {"SKU-2", 2}, {"SKU-10", 1000}};
    size_t count = inventory_logic_merge(lines, sizeof lines / sizeof lines[0]);
    assert_int_equal(count, 5);
    const char *skus[] = {"B", "SKU-10", "SKU-2", "a", "b"};
    const uint64_t quantities[] = {2, 1001, 10, 1, 6};
    for (size_t index = 0; index < count; index++) {
        assert_string_equal(lines[index].sku, skus[index]);
        assert_int_equal(lines[index].quantity, quantities[index]);
    }

    inventory_line_t one[] = {{"SKU-1", 3}};
    assert_int_equal(inventory_logic_merge(one, 1), 1);
    assert_int_equal(one[0].quantity, 3);
    assert_int_equal(inventory_logic_merge(NULL, 0), 0);

    //  The most an event can ask: 100 lines of the largest uint32, one SKU.
    inventory_line_t many[100];
    for (size_t index = 0; index < 100; index++) {
        many[index] = (inventory_line_t){"SKU-1", UINT32_MAX};
    }
    assert_int_equal(inventory_logic_merge(many, 100), 1);
    assert_true(many[0].quantity == 100 * (uint64_t) UINT32_MAX);
}

//  --------------------------------------------------------------------------
//  Finding a SKU among merged lines.

static void
test_find(void **state)
{
    (void) state;
    inventory_line_t lines[] = {{"SKU-3", 1}, {"SKU-1", 1}, {"SKU-2", 1}};
    size_t count = inventory_logic_merge(lines, 3);
    assert_int_equal(inventory_logic_find(lines, count, "SKU-1"), 0);
    assert_int_equal(inventory_logic_find(lines, count, "SKU-3"), 2);
    assert_int_equal(inventory_logic_find(lines, count, "SKU-4"), -1);
    assert_int_equal(inventory_logic_find(lines, count, "sku-1"), -1);
    assert_int_equal(inventory_logic_find(NULL, 0, "SKU-1"), -1);
}

//  --------------------------------------------------------------------------
//  Deciding: exact fits reserve; the first short line in SKU order is
//  named even when later ones are short too; unknown SKUs (0) reject;
//  nonsense counts read as 0; huge demands do not wrap.

static void
test_decide(void **state)
{
    (void) state;
    inventory_line_t lines[] = {{"A", 2}, {"B", 3}, {"C", 4}};
    int64_t exact[] = {2, 3, 4};
    assert_true(inventory_logic_decide(lines, exact, 3).reserved);

    int64_t two_short[] = {2, 1, 0};
    inventory_decision_t decision = inventory_logic_decide(lines, two_short, 3);
    assert_false(decision.reserved);
    assert_int_equal(decision.line, 1);
    assert_int_equal(decision.requested, 3);
    assert_int_equal(decision.available, 1);

    int64_t unknown_last[] = {2, 3, 0};
    decision = inventory_logic_decide(lines, unknown_last, 3);
    assert_false(decision.reserved);
    assert_int_equal(decision.line, 2);
    assert_int_equal(decision.available, 0);

    int64_t negative[] = {-5, 3, 4};
    decision = inventory_logic_decide(lines, negative, 3);
    assert_false(decision.reserved);
    assert_int_equal(decision.line, 0);
    assert_int_equal(decision.available, 0);

    //  One unit left, an order for two: rejected with both numbers.
    inventory_line_t two[] = {{"SKU-1", 2}};
    int64_t last_unit[] = {1};
    decision = inventory_logic_decide(two, last_unit, 1);
    assert_false(decision.reserved);
    assert_int_equal(decision.requested, 2);
    assert_int_equal(decision.available, 1);

    //  A demand above INT64_MAX is still compared correctly.
    inventory_line_t huge[] = {{"SKU-1", (uint64_t) INT64_MAX + 2}};
    int64_t most[] = {INT64_MAX};
    assert_false(inventory_logic_decide(huge, most, 1).reserved);
}

//  --------------------------------------------------------------------------
//  The reason names the first short SKU, with both numbers.

static void
test_reject_reason(void **state)
{
    (void) state;
    inventory_line_t lines[] = {{"SKU-9", 3}};
    int64_t available[] = {0};
    inventory_decision_t decision = inventory_logic_decide(lines, available, 1);
    char *reason = inventory_logic_reject_reason(lines, &decision);
    assert_string_equal(reason, "out of stock: SKU-9 (requested 3, available 0)");
    zstr_free(&reason);
}

//  --------------------------------------------------------------------------
//  SKU syntax: 1-64 of [A-Za-z0-9._-].

static void
test_sku_valid(void **state)
{
    (void) state;
    assert_true(inventory_logic_sku_valid("SKU-1"));
    assert_true(inventory_logic_sku_valid("a.b_c-D9"));
    char longest[INVENTORY_SKU_MAX + 2];
    memset(longest, 'x', INVENTORY_SKU_MAX);
    longest[INVENTORY_SKU_MAX] = '\0';
    assert_true(inventory_logic_sku_valid(longest));
    longest[INVENTORY_SKU_MAX] = 'x';
    longest[INVENTORY_SKU_MAX + 1] = '\0';
    assert_false(inventory_logic_sku_valid(longest));
    assert_false(inventory_logic_sku_valid(NULL));
    assert_false(inventory_logic_sku_valid(""));
    assert_false(inventory_logic_sku_valid("SKU 1"));
    assert_false(inventory_logic_sku_valid("SKU/1"));
    assert_false(inventory_logic_sku_valid("SKU%201"));
    assert_false(inventory_logic_sku_valid("SK\xc3\x9c"));
    assert_false(inventory_logic_sku_valid("SKU\n"));
}

//  --------------------------------------------------------------------------
//  Check one PUT body: accepted with `available`, or refused with `code`
//  naming `field`.

static void
s_check_body(const char *text, const char *code, const char *field, int64_t available)
{
    json_error_t parse_error;
    json_t *body = json_loads(text, 0, &parse_error);
    assert_non_null(body);
    int64_t parsed = -1;
    inventory_body_error_t error = {0};
    int rc = inventory_logic_stock_body(body, &parsed, &error);
    if (code) {
        assert_int_equal(rc, -1);
        assert_string_equal(error.code, code);
        assert_string_equal(error.field, field);
        assert_non_null(error.message);
        assert_int_equal(parsed, -1);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(parsed, available);
    }
    json_decref(body);
}

static void
test_stock_body(void **state)
{
    (void) state;
    s_check_body("{\"available\": 10}", NULL, NULL, 10);
    s_check_body("{\"available\": 0}", NULL, NULL, 0);
    s_check_body("{\"available\": 1000000000}", NULL, NULL, 1000000000);
    s_check_body("{\"available\": 1000000001}", "invalid_value", "available", 0);
    s_check_body("{\"available\": -1}", "invalid_value", "available", 0);
    s_check_body("{\"available\": \"10\"}", "invalid_type", "available", 0);
    s_check_body("{\"available\": 10.0}", "invalid_type", "available", 0);
    s_check_body("{\"available\": true}", "invalid_type", "available", 0);
    s_check_body("{\"available\": [10]}", "invalid_type", "available", 0);
    s_check_body("{\"available\": null}", "missing_field", "available", 0);
    s_check_body("{}", "missing_field", "available", 0);
    s_check_body("{\"available\": 1, \"reserved\": 2}", "unknown_field", "reserved", 0);
    s_check_body("{\"avail\": 1}", "unknown_field", "avail", 0);
}

//  --------------------------------------------------------------------------
//  Cutting text never splits a character.

static void
test_text_cut(void **state)
{
    (void) state;
    assert_int_equal(inventory_logic_text_cut("abc", 5), 3);
    assert_int_equal(inventory_logic_text_cut("abc", 3), 3);
    assert_int_equal(inventory_logic_text_cut("abcdef", 3), 3);
    //  "aé€": a (1), é (2), € (3) bytes.
    const char *mixed = "a\xc3\xa9\xe2\x82\xac";
    assert_int_equal(inventory_logic_text_cut(mixed, 6), 6);
    assert_int_equal(inventory_logic_text_cut(mixed, 5), 3);
    assert_int_equal(inventory_logic_text_cut(mixed, 4), 3);
    assert_int_equal(inventory_logic_text_cut(mixed, 2), 1);
    assert_int_equal(inventory_logic_text_cut(mixed, 0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),         cmocka_unit_test(test_merge),
        cmocka_unit_test(test_find),          cmocka_unit_test(test_decide),
        cmocka_unit_test(test_reject_reason), cmocka_unit_test(test_sku_valid),
        cmocka_unit_test(test_stock_body),    cmocka_unit_test(test_text_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
