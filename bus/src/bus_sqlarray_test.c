/*  =========================================================================
    bus_sqlarray_test - the array literals set-based SQL sends

    Pure: each case builds literals and compares them with the text
    PostgreSQL's array input reads back as the intended elements (quotes
    and backslashes escaped, NULL unquoted, "{}" for no element). The
    stores' integration tests run the same literals through the server.
    The first case is the usage example.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_sqlarray.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  --------------------------------------------------------------------------
//  Usage: the columns of a batch, one array each, reset after the call.

static void
test_usage(void **state)
{
    (void) state;
    bus_sqlarray_t skus = {0};
    bus_sqlarray_t quantities = {0};
    bus_sqlarray_add(&skus, "SKU-1");
    bus_sqlarray_add_int(&quantities, 2);
    bus_sqlarray_add(&skus, "SKU-2");
    bus_sqlarray_add_int(&quantities, -1);
    assert_int_equal(bus_sqlarray_count(&skus), 2);
    assert_string_equal(bus_sqlarray_text(&skus), "{\"SKU-1\",\"SKU-2\"}");
    assert_string_equal(bus_sqlarray_text(&quantities), "{\"2\",\"-1\"}");
    bus_sqlarray_reset(&quantities);
    bus_sqlarray_reset(&skus);
    assert_null(skus.text);
    assert_int_equal(bus_sqlarray_count(&skus), 0);
}

//  --------------------------------------------------------------------------
//  '"' and '\' are escaped with '\'; commas, braces, spaces and UTF-8 are
//  safe inside the quotes as they are.

static void
test_quoting(void **state)
{
    (void) state;
    bus_sqlarray_t array = {0};
    bus_sqlarray_add(&array, "say \"hi\"");
    bus_sqlarray_add(&array, "C:\\dir\\");
    bus_sqlarray_add(&array, "\\\"");
    bus_sqlarray_add(&array, "a,b {c} d");
    bus_sqlarray_add(&array, "caf\xc3\xa9");
    bus_sqlarray_add(&array, "");
    assert_string_equal(bus_sqlarray_text(&array), "{\"say \\\"hi\\\"\","
                                                   "\"C:\\\\dir\\\\\","
                                                   "\"\\\\\\\"\","
                                                   "\"a,b {c} d\","
                                                   "\"caf\xc3\xa9\","
                                                   "\"\"}");
    assert_int_equal(bus_sqlarray_count(&array), 6);
    bus_sqlarray_reset(&array);
}

//  --------------------------------------------------------------------------
//  NULL is SQL NULL, unquoted (the text "NULL" stays a string).

static void
test_null(void **state)
{
    (void) state;
    bus_sqlarray_t array = {0};
    bus_sqlarray_add(&array, NULL);
    assert_string_equal(bus_sqlarray_text(&array), "{NULL}");
    bus_sqlarray_add(&array, "NULL");
    bus_sqlarray_add(&array, NULL);
    assert_string_equal(bus_sqlarray_text(&array), "{NULL,\"NULL\",NULL}");
    assert_int_equal(bus_sqlarray_count(&array), 3);
    bus_sqlarray_reset(&array);
}

//  --------------------------------------------------------------------------
//  No element: "{}", from a zeroed array and from a reset one.

static void
test_empty(void **state)
{
    (void) state;
    bus_sqlarray_t array = {0};
    assert_string_equal(bus_sqlarray_text(&array), "{}");
    assert_int_equal(bus_sqlarray_count(&array), 0);
    bus_sqlarray_reset(&array);
    bus_sqlarray_reset(&array); //  twice is safe
    assert_string_equal(bus_sqlarray_text(&array), "{}");
    bus_sqlarray_reset(&array);
}

//  --------------------------------------------------------------------------
//  Integers in decimal, the extremes too; UUIDs in their text form.

static void
test_int_and_uuid(void **state)
{
    (void) state;
    bus_sqlarray_t array = {0};
    bus_sqlarray_add_int(&array, INT64_MIN);
    bus_sqlarray_add_int(&array, 0);
    bus_sqlarray_add_int(&array, INT64_MAX);
    assert_string_equal(bus_sqlarray_text(&array),
                        "{\"-9223372036854775808\",\"0\",\"9223372036854775807\"}");
    bus_sqlarray_reset(&array);

    svc_uuid_t uuid;
    assert_int_equal(svc_uuid_parse("0190f5f2-8a2b-7c3d-9e4f-a0b1c2d3e4f5", &uuid), 0);
    bus_sqlarray_add_uuid(&array, &uuid);
    assert_string_equal(bus_sqlarray_text(&array), "{\"0190f5f2-8a2b-7c3d-9e4f-a0b1c2d3e4f5\"}");
    bus_sqlarray_reset(&array);
}

//  --------------------------------------------------------------------------
//  Past the first allocation: many elements, and one element longer than
//  it whose every byte needs escaping, arrive whole; the text read in
//  between stays extendable.

static void
test_growth(void **state)
{
    (void) state;
    bus_sqlarray_t array = {0};
    char *expected = zmalloc(64 * BUS_SQLARRAY_CAPACITY);
    size_t length = 0;
    expected[length++] = '{';
    for (int index = 0; index < 1000; index++) {
        char element[16];
        (void) snprintf(element, sizeof element, "e%d", index);
        bus_sqlarray_add(&array, element);
        length += (size_t) sprintf(expected + length, "%s\"%s\"", index ? "," : "", element);
        if (index == 10) {
            //  Reading the text must not end the literal.
            assert_non_null(bus_sqlarray_text(&array));
        }
    }
    expected[length++] = '}';
    assert_true(array.capacity > BUS_SQLARRAY_CAPACITY);
    assert_string_equal(bus_sqlarray_text(&array), expected);
    assert_int_equal(bus_sqlarray_count(&array), 1000);
    bus_sqlarray_reset(&array);

    //  One element of 3 x the first capacity, all quotes: twice as long.
    char *quotes = zmalloc(3 * BUS_SQLARRAY_CAPACITY + 1);
    memset(quotes, '"', 3 * BUS_SQLARRAY_CAPACITY);
    bus_sqlarray_add(&array, quotes);
    const char *text = bus_sqlarray_text(&array);
    assert_int_equal(strlen(text), 2 * 3 * BUS_SQLARRAY_CAPACITY + 4);
    assert_memory_equal(text, "{\"\\\"\\\"", 6);
    assert_string_equal(text + strlen(text) - 4, "\\\"\"}");
    bus_sqlarray_reset(&array);
    freen(quotes);
    freen(expected);
}

//  --------------------------------------------------------------------------
//  After a reset the array starts again from nothing: no element of
//  before, the first one opens the literal.

static void
test_reuse_after_reset(void **state)
{
    (void) state;
    bus_sqlarray_t array = {0};
    bus_sqlarray_add(&array, "old");
    bus_sqlarray_add(&array, NULL);
    assert_string_equal(bus_sqlarray_text(&array), "{\"old\",NULL}");
    bus_sqlarray_reset(&array);
    assert_int_equal(bus_sqlarray_count(&array), 0);
    bus_sqlarray_add(&array, "new");
    assert_string_equal(bus_sqlarray_text(&array), "{\"new\"}");
    assert_int_equal(bus_sqlarray_count(&array), 1);
    bus_sqlarray_reset(&array);
    assert_string_equal(bus_sqlarray_text(&array), "{}");
    bus_sqlarray_reset(&array);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_int_and_uuid),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_reuse_after_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
