/*  =========================================================================
    svc_uuid_test - generate, parse and print UUIDs

    The first case is the usage example from svc_uuid.h. Then: version and
    variant bits of v7 and v4, v7 time against the clock, v7 ordering across
    milliseconds (a busy loop that ends when the clock has moved, bounded by
    a deadline), 10,000 distinct v4s, the RFC 9562 test vectors for v5 and
    v7, strict parsing that writes nothing on failure, nil and version.
    =========================================================================
*/
#include "svc_classes.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <time.h>

#define BATCH_SIZE 1000
#define DISTINCT_COUNT 10000
#define ORDER_SPAN_MS 2
#define ORDER_DEADLINE_MS 1000
#define FILL_BYTE 0xAB

//  RFC 9562 appendix A.4: the DNS namespace and "www.example.com".
#define NAMESPACE_DNS "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define EXAMPLE_V5 "2ed6657d-e927-568b-95e1-2665a8aea6a2"
//  RFC 9562 appendix A.6: a v7 made at 2022-02-22 19:22:22 UTC.
#define EXAMPLE_V7 "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"
#define EXAMPLE_V7_MS 1645557742000ULL

//  ---------------------------------------------------------------------
//  Unix time in milliseconds, as svc_uuid_v7 reads it.

static uint64_t
s_realtime_ms(void)
{
    struct timespec now;
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &now), 0);
    return (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
}

//  ---------------------------------------------------------------------
//  Milliseconds from the monotonic clock, for deadlines.

static uint64_t
s_monotonic_ms(void)
{
    struct timespec now;
    assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &now), 0);
    return (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
}

//  ---------------------------------------------------------------------
//  True if the variant bits are the RFC 9562 ones (binary 10).

static bool
s_has_rfc_variant(const svc_uuid_t *uuid)
{
    return (uuid->bytes[8] & 0xC0) == 0x80;
}

//  ---------------------------------------------------------------------
//  The usage example of the header.

static void
test_usage_example(void **state)
{
    (void) state;
    svc_uuid_t id;
    svc_uuid_v7(&id);
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&id, text);
    assert_int_equal(strlen(text), 36);

    svc_uuid_t back;
    assert_int_equal(svc_uuid_parse(text, &back), 0);
    assert_memory_equal(back.bytes, id.bytes, sizeof id.bytes);
    assert_int_equal(svc_uuid_version(&back), 7);
}

//  ---------------------------------------------------------------------
//  Every v7 and v4 carries its version and the RFC variant.

static void
test_version_and_variant_bits(void **state)
{
    (void) state;
    for (int index = 0; index < BATCH_SIZE; index++) {
        svc_uuid_t id;
        svc_uuid_v7(&id);
        assert_int_equal(svc_uuid_version(&id), 7);
        assert_true(s_has_rfc_variant(&id));
        svc_uuid_v4(&id);
        assert_int_equal(svc_uuid_version(&id), 4);
        assert_true(s_has_rfc_variant(&id));
    }
}

//  ---------------------------------------------------------------------
//  The v7 time lies between clock readings taken just before and after.

static void
test_v7_time_is_now(void **state)
{
    (void) state;
    uint64_t before_ms = s_realtime_ms();
    svc_uuid_t id;
    svc_uuid_v7(&id);
    uint64_t after_ms = s_realtime_ms();
    uint64_t id_ms = svc_uuid_v7_time_ms(&id);
    assert_in_range(id_ms, before_ms, after_ms);

    //  The time is big-endian in the first six bytes (RFC 9562 A.6).
    assert_int_equal(svc_uuid_parse(EXAMPLE_V7, &id), 0);
    assert_int_equal(svc_uuid_v7_time_ms(&id), EXAMPLE_V7_MS);
    assert_int_equal(svc_uuid_version(&id), 7);
}

//  ---------------------------------------------------------------------
//  Generate without sleeping until the clock has moved ORDER_SPAN_MS; each
//  id from a later millisecond than all before it sorts after all of them
//  bytewise, which is what keeps B-tree inserts at the right edge.

static void
test_v7_sorts_across_milliseconds(void **state)
{
    (void) state;
    svc_uuid_t highest;
    svc_uuid_v7(&highest);
    uint64_t first_ms = svc_uuid_v7_time_ms(&highest);
    uint64_t latest_ms = first_ms;
    uint64_t deadline_ms = s_monotonic_ms() + ORDER_DEADLINE_MS;
    int advances = 0;
    size_t generated = 1;
    while (latest_ms < first_ms + ORDER_SPAN_MS && s_monotonic_ms() < deadline_ms) {
        svc_uuid_t id;
        svc_uuid_v7(&id);
        generated++;
        uint64_t id_ms = svc_uuid_v7_time_ms(&id);
        if (id_ms > latest_ms) {
            assert_true(memcmp(id.bytes, highest.bytes, sizeof id.bytes) > 0);
            latest_ms = id_ms;
            advances++;
        }
        if (memcmp(id.bytes, highest.bytes, sizeof id.bytes) > 0) {
            highest = id;
        }
    }
    assert_true(latest_ms >= first_ms + ORDER_SPAN_MS);
    assert_true(advances >= 1);
    assert_true(generated > 2);
}

//  ---------------------------------------------------------------------
//  Ten thousand v4s and a thousand v7s are all distinct.

static void
test_ids_are_distinct(void **state)
{
    (void) state;
    zhashx_t *seen = zhashx_new();
    for (int index = 0; index < DISTINCT_COUNT; index++) {
        svc_uuid_t id;
        svc_uuid_v4(&id);
        char text[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&id, text);
        assert_int_equal(zhashx_insert(seen, text, seen), 0);
    }
    for (int index = 0; index < BATCH_SIZE; index++) {
        svc_uuid_t id;
        svc_uuid_v7(&id);
        char text[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&id, text);
        assert_int_equal(zhashx_insert(seen, text, seen), 0);
    }
    assert_int_equal(zhashx_size(seen), DISTINCT_COUNT + BATCH_SIZE);
    zhashx_destroy(&seen);
}

//  ---------------------------------------------------------------------
//  Version 5 matches the RFC 9562 test vector and is a pure function.

static void
test_v5_rfc_vector(void **state)
{
    (void) state;
    svc_uuid_t space;
    assert_int_equal(svc_uuid_parse(NAMESPACE_DNS, &space), 0);
    const char *name = "www.example.com";
    svc_uuid_t id;
    svc_uuid_v5(&id, &space, name, strlen(name));
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&id, text);
    assert_string_equal(text, EXAMPLE_V5);
    assert_int_equal(svc_uuid_version(&id), 5);
    assert_true(s_has_rfc_variant(&id));

    svc_uuid_t again;
    svc_uuid_v5(&again, &space, name, strlen(name));
    assert_memory_equal(again.bytes, id.bytes, sizeof id.bytes);

    //  The name is bytes, not a C string: the size counts.
    svc_uuid_v5(&again, &space, name, strlen(name) - 1);
    assert_memory_not_equal(again.bytes, id.bytes, sizeof id.bytes);
    svc_uuid_v5(&again, &space, NULL, 0);
    assert_int_equal(svc_uuid_version(&again), 5);
    assert_memory_not_equal(again.bytes, id.bytes, sizeof id.bytes);
}

//  ---------------------------------------------------------------------
//  Either case parses; printing is lower case; random ids round-trip.

static void
test_parse_format_round_trip(void **state)
{
    (void) state;
    svc_uuid_t lower, upper;
    assert_int_equal(svc_uuid_parse("2ed6657d-e927-568b-95e1-2665a8aea6a2", &lower), 0);
    assert_int_equal(svc_uuid_parse("2ED6657D-E927-568B-95E1-2665A8AEA6A2", &upper), 0);
    assert_memory_equal(lower.bytes, upper.bytes, sizeof lower.bytes);
    static const uint8_t expected[16] = {0x2e, 0xd6, 0x65, 0x7d, 0xe9, 0x27, 0x56, 0x8b,
                                         0x95, 0xe1, 0x26, 0x65, 0xa8, 0xae, 0xa6, 0xa2};
    assert_memory_equal(lower.bytes, expected, sizeof expected);
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&upper, text);
    assert_string_equal(text, "2ed6657d-e927-568b-95e1-2665a8aea6a2");

    for (int index = 0; index < BATCH_SIZE; index++) {
        svc_uuid_t id, back;
        svc_uuid_v4(&id);
        svc_uuid_format(&id, text);
        assert_int_equal(svc_uuid_parse(text, &back), 0);
        assert_memory_equal(back.bytes, id.bytes, sizeof id.bytes);
    }
}

//  ---------------------------------------------------------------------
//  Anything but the bare 36-character D form is -1 and writes nothing.

static void
test_parse_invalid(void **state)
{
    (void) state;
    static const char *inputs[] = {
        "",
        "2ed6657d-e927-568b-95e1-2665a8aea6a",   //  35 characters
        "2ed6657d-e927-568b-95e1-2665a8aea6a2f", //  37 characters
        "{2ed6657d-e927-568b-95e1-2665a8aea6a2}",
        "2ed6657d-e927-568b-95e1-2665a8aea6ag", //  bad hex
        "2ed6657x-e927-568b-95e1-2665a8aea6a2", //  bad hex
        "2ed6657de-927-568b-95e1-2665a8aea6a2", //  misplaced hyphen
        "2ed6657d-e927-568b-95e12665a8aea6a2-", //  misplaced hyphen
        "2ed6657d_e927_568b_95e1_2665a8aea6a2", //  wrong separator
        "2ed6657de927568b95e12665a8aea6a2",     //  N form
        " 2ed6657d-e927-568b-95e1-2665a8aea6a2",
        "2ed6657d-e927-568b-95e1-2665a8aea6a2 ",
        "2ed6657d-e927-568b-95e1-2665a8aea6 2",
        "2ed6657d-e927-568b-95e1-2665a8aea6a\n",
        "2ed6657d-+927-568b-95e1-2665a8aea6a2",
        "urn:uuid:2ed6657d-e927-568b-95e1-2665a8aea6a2",
        "------------------------------------",
    };
    for (size_t index = 0; index < sizeof inputs / sizeof inputs[0]; index++) {
        svc_uuid_t out;
        memset(out.bytes, FILL_BYTE, sizeof out.bytes);
        if (svc_uuid_parse(inputs[index], &out) != -1) {
            fail_msg("accepted \"%s\"", inputs[index]);
        }
        for (size_t byte = 0; byte < sizeof out.bytes; byte++) {
            assert_int_equal(out.bytes[byte], FILL_BYTE);
        }
    }
    //  A NUL inside the form ends the text early.
    char truncated[] = "2ed6657d-e927-568b-95e1-2665a8aea6a2";
    truncated[20] = '\0';
    svc_uuid_t out;
    assert_int_equal(svc_uuid_parse(truncated, &out), -1);
}

//  ---------------------------------------------------------------------
//  Nil is all zero bytes; any set bit makes an id non-nil.

static void
test_nil(void **state)
{
    (void) state;
    svc_uuid_t id;
    assert_int_equal(svc_uuid_parse("00000000-0000-0000-0000-000000000000", &id), 0);
    assert_true(svc_uuid_is_nil(&id));
    assert_int_equal(svc_uuid_version(&id), 0);
    for (size_t byte = 0; byte < sizeof id.bytes; byte++) {
        svc_uuid_t one = id;
        one.bytes[byte] = 0x01;
        assert_false(svc_uuid_is_nil(&one));
    }
    svc_uuid_v4(&id);
    assert_false(svc_uuid_is_nil(&id));
}

//  ---------------------------------------------------------------------
//  The version nibble is read from byte 6, whatever its value.

static void
test_version_getter(void **state)
{
    (void) state;
    svc_uuid_t id;
    assert_int_equal(svc_uuid_parse("c232ab00-9414-11ec-b3c8-9f6bdeced846", &id), 0);
    assert_int_equal(svc_uuid_version(&id), 1);
    assert_int_equal(svc_uuid_parse(NAMESPACE_DNS, &id), 0);
    assert_int_equal(svc_uuid_version(&id), 1);
    assert_int_equal(svc_uuid_parse(EXAMPLE_V5, &id), 0);
    assert_int_equal(svc_uuid_version(&id), 5);
    assert_int_equal(svc_uuid_parse("ffffffff-ffff-ffff-ffff-ffffffffffff", &id), 0);
    assert_int_equal(svc_uuid_version(&id), 15);
    assert_int_equal(svc_uuid_v7_time_ms(&id), 0xFFFFFFFFFFFFULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_version_and_variant_bits),
        cmocka_unit_test(test_v7_time_is_now),
        cmocka_unit_test(test_v7_sorts_across_milliseconds),
        cmocka_unit_test(test_ids_are_distinct),
        cmocka_unit_test(test_v5_rfc_vector),
        cmocka_unit_test(test_parse_format_round_trip),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_nil),
        cmocka_unit_test(test_version_getter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
