/*  =========================================================================
    svc_trace_test - W3C traceparent parsing, children and new traces

    The first case is the usage example from svc_trace.h. Then: the
    validity rules one by one (the W3C example, upper-case hex, all-zero
    ids, version ff, lengths, hyphens, higher versions with and without
    extra fields), a child keeping trace id and flags with a new span id,
    a new trace for NULL and invalid parents, and the trace id getter.
    =========================================================================
*/
#include "svc_classes.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  The example of W3C Trace Context section 3.2.2.
#define EXAMPLE "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define EXAMPLE_TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define EXAMPLE_PARENT_ID "00f067aa0ba902b7"
#define NEW_TRACES 1000

//  ---------------------------------------------------------------------
//  The usage example of the header.

static void
test_usage_example(void **state)
{
    (void) state;
    char traceparent[SVC_TRACEPARENT_SIZE];
    svc_trace_from_header(EXAMPLE, traceparent);
    char trace_id[SVC_TRACE_ID_SIZE];
    svc_trace_id(traceparent, trace_id);
    assert_string_equal(trace_id, EXAMPLE_TRACE_ID);
}

//  ---------------------------------------------------------------------
//  Valid version 00 values, and each way to break one.

static void
test_valid_version_00(void **state)
{
    (void) state;
    assert_true(svc_trace_valid(EXAMPLE));
    assert_true(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    assert_true(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"));

    assert_false(svc_trace_valid(NULL));
    assert_false(svc_trace_valid(""));
    //  Upper case anywhere: version, trace id, parent id, flags.
    assert_false(svc_trace_valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"));
    assert_false(svc_trace_valid("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    //  All-zero ids.
    assert_false(svc_trace_valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
    //  Version ff is invalid whatever follows.
    assert_false(svc_trace_valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    //  Wrong lengths: one short, one long, a short trace id.
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"));
    assert_false(svc_trace_valid(EXAMPLE "0"));
    assert_false(svc_trace_valid(EXAMPLE "-extra"));
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01x"));
    //  Separators and non-hex characters.
    assert_false(svc_trace_valid("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"));
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"));
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
    assert_false(svc_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"));
    assert_false(svc_trace_valid("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

//  ---------------------------------------------------------------------
//  A higher version is read by its first 55 characters when the next one
//  is '-' or the end.

static void
test_future_versions(void **state)
{
    (void) state;
    assert_true(svc_trace_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_true(
        svc_trace_valid("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"));
    assert_false(
        svc_trace_valid("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01what-the-future"));
    assert_false(svc_trace_valid("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"));
    assert_false(
        svc_trace_valid("cc-00000000000000000000000000000000-00f067aa0ba902b7-01-what-the-future"));
    assert_false(
        svc_trace_valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"));

    //  The child of a higher version is written as version 00.
    char child[SVC_TRACEPARENT_SIZE];
    svc_trace_from_header("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", child);
    assert_true(svc_trace_valid(child));
    assert_memory_equal(child, "00-" EXAMPLE_TRACE_ID "-", 36);
    assert_string_equal(child + 52, "-01");
}

//  ---------------------------------------------------------------------
//  A child keeps the trace id and the flags and changes the span id.

static void
test_child_of_valid_parent(void **state)
{
    (void) state;
    const char *parent = "00-" EXAMPLE_TRACE_ID "-" EXAMPLE_PARENT_ID "-00";
    char child[SVC_TRACEPARENT_SIZE];
    svc_trace_from_header(parent, child);
    assert_int_equal(strlen(child), SVC_TRACEPARENT_SIZE - 1);
    assert_true(svc_trace_valid(child));
    assert_memory_equal(child, "00-" EXAMPLE_TRACE_ID "-", 36);
    assert_memory_not_equal(child + 36, EXAMPLE_PARENT_ID, SVC_SPAN_ID_SIZE - 1);
    assert_string_equal(child + 52, "-00");

    //  A grandchild stays in the same trace, with a span of its own.
    char grandchild[SVC_TRACEPARENT_SIZE];
    svc_trace_from_header(child, grandchild);
    assert_memory_equal(grandchild, child, 36);
    assert_memory_not_equal(grandchild + 36, child + 36, SVC_SPAN_ID_SIZE - 1);
    assert_string_equal(grandchild + 52, "-00");
}

//  ---------------------------------------------------------------------
//  NULL or invalid parents start a new, valid, sampled trace.

static void
test_new_trace(void **state)
{
    (void) state;
    const char *parents[] = {NULL,
                             "",
                             "garbage",
                             "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                             "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
    for (size_t index = 0; index < sizeof parents / sizeof parents[0]; index++) {
        char out[SVC_TRACEPARENT_SIZE];
        svc_trace_from_header(parents[index], out);
        assert_true(svc_trace_valid(out));
        assert_memory_equal(out, "00-", 3);
        assert_string_equal(out + 52, "-01");
        assert_memory_not_equal(out + 3, EXAMPLE_TRACE_ID, SVC_TRACE_ID_SIZE - 1);
    }
    //  New traces differ from each other.
    zhash_t *seen = zhash_new();
    for (int index = 0; index < NEW_TRACES; index++) {
        char out[SVC_TRACEPARENT_SIZE];
        svc_trace_from_header(NULL, out);
        char trace_id[SVC_TRACE_ID_SIZE];
        svc_trace_id(out, trace_id);
        assert_int_equal(zhash_insert(seen, trace_id, "x"), 0);
    }
    assert_int_equal(zhash_size(seen), NEW_TRACES);
    zhash_destroy(&seen);
}

//  ---------------------------------------------------------------------
//  The trace id getter: the id of a valid value, "" for anything else.

static void
test_trace_id(void **state)
{
    (void) state;
    char trace_id[SVC_TRACE_ID_SIZE];
    svc_trace_id(EXAMPLE, trace_id);
    assert_string_equal(trace_id, EXAMPLE_TRACE_ID);
    memset(trace_id, 'x', sizeof trace_id);
    svc_trace_id(NULL, trace_id);
    assert_string_equal(trace_id, "");
    memset(trace_id, 'x', sizeof trace_id);
    svc_trace_id("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", trace_id);
    assert_string_equal(trace_id, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),   cmocka_unit_test(test_valid_version_00),
        cmocka_unit_test(test_future_versions), cmocka_unit_test(test_child_of_valid_parent),
        cmocka_unit_test(test_new_trace),       cmocka_unit_test(test_trace_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
