/*  =========================================================================
    shim_time_test - ISO-8601 times as .NET writes and reads them

    The first case is the usage example from shim_time.h. Then: the forms
    System.Text.Json reads (Z, offset, no zone, 1-16 fraction digits, date
    only) give the same instant; what it refuses is refused without
    writing; formatting is UTC with Z and trimmed fraction, refuses years
    outside 0001-9999, and parses back to the same microsecond.
    =========================================================================
*/
#include "shim_classes.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void
test_usage_example(void **state)
{
    (void) state;
    char text[SHIM_TIME_TEXT_SIZE];
    assert_int_equal(shim_time_format(INT64_C(1736936430123456), text), 0);
    assert_string_equal(text, "2025-01-15T10:20:30.123456Z");
    int64_t us = 0;
    assert_int_equal(shim_time_parse("2025-01-15T12:20:30.1234567+02:00", &us), 0);
    assert_int_equal(us, INT64_C(1736936430123456));
}

static void
test_times(void **state)
{
    (void) state;
    //  2025-01-15T10:20:30.123456Z
    const int64_t base = INT64_C(1736936430123456);
    static const struct {
        const char *text;
        int64_t offset_us;
    } cases[] = {
        {"2025-01-15T10:20:30.1234567Z", 0},
        {"2025-01-15T10:20:30.123456Z", 0},
        {"2025-01-15T10:20:30.1234569999999999Z", 0},
        {"2025-01-15T10:20:30.1234567", 0},
        {"2025-01-15T12:20:30.1234567+02:00", 0},
        {"2025-01-15T05:20:30.1234567-05:00", 0},
        {"2025-01-15T10:20:30Z", -123456},
        {"2025-01-15T10:20Z", -30123456},
        {"2025-01-15", -(INT64_C(37230123456))},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        int64_t us = 0;
        assert_int_equal(shim_time_parse(cases[index].text, &us), 0);
        assert_int_equal(us, base + cases[index].offset_us);
    }
    static const char *const refused[] = {"2025-01-15t10:20:30Z",
                                          "2025-01-15T10:20:30z",
                                          "2025-13-01",
                                          "2025-02-29",
                                          "2024-02-30",
                                          "2025-01-15T24:00:00Z",
                                          "2025-01-15T10:60:00Z",
                                          "2025-01-15T10:20:30.Z",
                                          "2025-01-15T10:20:30.12345678901234567Z",
                                          "0000-01-01",
                                          "2025-1-15",
                                          "2025-01-15T10:20:30+2:00",
                                          "2025-01-15 10:20:30",
                                          "yesterday",
                                          "",
                                          "2025-01-15T10:20:30Zx"};
    for (size_t index = 0; index < sizeof refused / sizeof refused[0]; index++) {
        int64_t us = 42;
        if (shim_time_parse(refused[index], &us) == 0) {
            fail_msg("accepted: %s", refused[index]);
        }
        assert_int_equal(us, 42);
    }
    int64_t us = 0;
    assert_int_equal(shim_time_parse("2024-02-29T00:00:00Z", &us), 0);
    assert_int_equal(shim_time_parse("1969-12-31T23:59:59.5Z", &us), 0);
    assert_int_equal(us, -500000);

    //  Formatting: UTC with Z, trailing zeros trimmed, no fraction for 0.
    char text[SHIM_TIME_TEXT_SIZE];
    assert_int_equal(shim_time_format(base, text), 0);
    assert_string_equal(text, "2025-01-15T10:20:30.123456Z");
    assert_int_equal(shim_time_format(INT64_C(1736936430120000), text), 0);
    assert_string_equal(text, "2025-01-15T10:20:30.12Z");
    assert_int_equal(shim_time_format(INT64_C(1736936430000000), text), 0);
    assert_string_equal(text, "2025-01-15T10:20:30Z");
    assert_int_equal(shim_time_format(0, text), 0);
    assert_string_equal(text, "1970-01-01T00:00:00Z");
    assert_int_equal(shim_time_format(-500000, text), 0);
    assert_string_equal(text, "1969-12-31T23:59:59.5Z");
    assert_int_equal(shim_time_format(INT64_C(253402300799999999), text), 0);
    assert_string_equal(text, "9999-12-31T23:59:59.999999Z");
    strcpy(text, "untouched");
    assert_int_equal(shim_time_format(INT64_C(253402300800000000), text), -1);
    assert_int_equal(shim_time_format(INT64_MIN, text), -1);
    assert_int_equal(shim_time_format(INT64_MAX, text), -1);
    assert_string_equal(text, "untouched");
    //  Every format parses back to the same instant.
    for (int64_t sample = -INT64_C(62135596800000000); sample < INT64_C(253402300799999999);
         sample += INT64_C(7777777777777777)) {
        int64_t back = 0;
        assert_int_equal(shim_time_format(sample, text), 0);
        assert_int_equal(shim_time_parse(text, &back), 0);
        assert_int_equal(back, sample);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
