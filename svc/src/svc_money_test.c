/*  =========================================================================
    svc_money_test - exact amounts: parse, JSON, format, currency table

    The first case is the usage example from svc_money.h. The rest are
    tables: every accepted and refused text form, the int64 edges, JSON
    strings, integers and reals (shortest round-trip and the 15-digit
    refusal), formatting round trips at 0, 2, 3 and 4 digits, and the
    ISO 4217 lookups.
    =========================================================================
*/
#include "svc_classes.h"
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  A value no case expects, to prove that a refusal wrote nothing.
#define SENTINEL ((int64_t) 0x5A5A5A5A5A5A5A5A)

//  Active codes with numeric minor units in ISO 4217 List One, 2026-01-01.
#define CURRENCY_COUNT 165

typedef struct {
    const char *text;
    int digits;
    svc_money_rc_t rc;
    int64_t minor; //  expected when rc is SVC_MONEY_OK
} parse_case_t;

//  ---------------------------------------------------------------------
//  The usage example of the header.

static void
test_usage_example(void **state)
{
    (void) state;
    int digits = svc_currency_digits("EUR");
    assert_int_equal(digits, 2);
    int64_t minor;
    assert_int_equal(svc_money_parse("19.99", digits, &minor), SVC_MONEY_OK);
    assert_int_equal(minor, 1999);
    char text[SVC_MONEY_TEXT_MAX];
    assert_int_equal(svc_money_format(1999, digits, text, sizeof text), 5);
    assert_string_equal(text, "19.99");
}

//  ---------------------------------------------------------------------
//  Run a table of parse cases; refusals must leave the output alone.

static void
s_run_parse_cases(const parse_case_t *cases, size_t count)
{
    for (size_t index = 0; index < count; index++) {
        const parse_case_t *c = &cases[index];
        int64_t minor = SENTINEL;
        svc_money_rc_t rc = svc_money_parse(c->text, c->digits, &minor);
        if (rc != c->rc) {
            fail_msg("\"%s\" (%d digits): rc %d, want %d", c->text, c->digits, rc, c->rc);
        }
        int64_t want = c->rc == SVC_MONEY_OK ? c->minor : SENTINEL;
        if (minor != want) {
            fail_msg("\"%s\" (%d digits): %" PRId64 ", want %" PRId64, c->text, c->digits, minor,
                     want);
        }
    }
}

//  ---------------------------------------------------------------------
//  Plain decimals are read exactly, padded to the currency's digits.

static void
test_parse_valid(void **state)
{
    (void) state;
    static const parse_case_t cases[] = {
        {"19.99", 2, SVC_MONEY_OK, 1999},
        {"19.9", 2, SVC_MONEY_OK, 1990},
        {"19", 2, SVC_MONEY_OK, 1900},
        {"-0.50", 2, SVC_MONEY_OK, -50},
        {"-0.05", 2, SVC_MONEY_OK, -5},
        {"7", 0, SVC_MONEY_OK, 7},
        {"500", 0, SVC_MONEY_OK, 500},
        {"1.234", 3, SVC_MONEY_OK, 1234},
        {"1.2", 3, SVC_MONEY_OK, 1200},
        {"0.0001", 4, SVC_MONEY_OK, 1},
        {"007.50", 2, SVC_MONEY_OK, 750},
        {"0", 2, SVC_MONEY_OK, 0},
        {"-0", 2, SVC_MONEY_OK, 0},
        {"-0.00", 2, SVC_MONEY_OK, 0},
        {"0.00", 2, SVC_MONEY_OK, 0},
        {"1.10", 2, SVC_MONEY_OK, 110},
        {"0.1", 18, SVC_MONEY_OK, 100000000000000000},
        {"00000000000000000000000000000001", 2, SVC_MONEY_OK, 100},
    };
    s_run_parse_cases(cases, sizeof cases / sizeof cases[0]);
}

//  ---------------------------------------------------------------------
//  Each kind of malformed text is a syntax error; extra fraction digits
//  are a precision error even when they are zeros.

static void
test_parse_refused(void **state)
{
    (void) state;
    static const parse_case_t cases[] = {
        {"", 2, SVC_MONEY_SYNTAX, 0},           {"-", 2, SVC_MONEY_SYNTAX, 0},
        {"+1", 2, SVC_MONEY_SYNTAX, 0},         {"1e2", 2, SVC_MONEY_SYNTAX, 0},
        {"1E2", 2, SVC_MONEY_SYNTAX, 0},        {" 1", 2, SVC_MONEY_SYNTAX, 0},
        {"1 ", 2, SVC_MONEY_SYNTAX, 0},         {"1 000", 2, SVC_MONEY_SYNTAX, 0},
        {".5", 2, SVC_MONEY_SYNTAX, 0},         {"-.5", 2, SVC_MONEY_SYNTAX, 0},
        {"1.", 2, SVC_MONEY_SYNTAX, 0},         {"1..2", 2, SVC_MONEY_SYNTAX, 0},
        {"1.2.3", 2, SVC_MONEY_SYNTAX, 0},      {"1,50", 2, SVC_MONEY_SYNTAX, 0},
        {"--1", 2, SVC_MONEY_SYNTAX, 0},        {"1-", 2, SVC_MONEY_SYNTAX, 0},
        {"0x10", 2, SVC_MONEY_SYNTAX, 0},       {"abc", 2, SVC_MONEY_SYNTAX, 0},
        {"NaN", 2, SVC_MONEY_SYNTAX, 0},        {"inf", 2, SVC_MONEY_SYNTAX, 0},
        {"1.5x", 2, SVC_MONEY_SYNTAX, 0},       {"1.999x", 2, SVC_MONEY_SYNTAX, 0},
        {"19.999", 2, SVC_MONEY_PRECISION, 0},  {"19.990", 2, SVC_MONEY_PRECISION, 0},
        {"1.5", 0, SVC_MONEY_PRECISION, 0},     {"1.0", 0, SVC_MONEY_PRECISION, 0},
        {"1.23456", 4, SVC_MONEY_PRECISION, 0}, {"1.2345", 3, SVC_MONEY_PRECISION, 0},
    };
    s_run_parse_cases(cases, sizeof cases / sizeof cases[0]);
}

//  ---------------------------------------------------------------------
//  INT64_MIN and INT64_MAX are reachable; one past either overflows,
//  whether through the digits themselves or through padding.

static void
test_parse_int64_edges(void **state)
{
    (void) state;
    static const parse_case_t cases[] = {
        {"9223372036854775807", 0, SVC_MONEY_OK, INT64_MAX},
        {"9223372036854775808", 0, SVC_MONEY_OVERFLOW, 0},
        {"-9223372036854775808", 0, SVC_MONEY_OK, INT64_MIN},
        {"-9223372036854775809", 0, SVC_MONEY_OVERFLOW, 0},
        {"92233720368547758.07", 2, SVC_MONEY_OK, INT64_MAX},
        {"92233720368547758.08", 2, SVC_MONEY_OVERFLOW, 0},
        {"-92233720368547758.08", 2, SVC_MONEY_OK, INT64_MIN},
        {"-92233720368547758.09", 2, SVC_MONEY_OVERFLOW, 0},
        {"92233720368547758", 2, SVC_MONEY_OK, 9223372036854775800},
        {"92233720368547759", 2, SVC_MONEY_OVERFLOW, 0},
        {"-92233720368547759", 2, SVC_MONEY_OVERFLOW, 0},
        {"99999999999999999999999999", 0, SVC_MONEY_OVERFLOW, 0},
        {"18446744073709551616", 0, SVC_MONEY_OVERFLOW, 0},
        {"922337203685477.5807", 4, SVC_MONEY_OK, INT64_MAX},
        {"9.223372036854775807", 18, SVC_MONEY_OK, INT64_MAX},
        {"10", 18, SVC_MONEY_OVERFLOW, 0},
    };
    s_run_parse_cases(cases, sizeof cases / sizeof cases[0]);
}

//  ---------------------------------------------------------------------
//  Take ownership of `value`, convert it, and check the result.

static void
s_check_json(json_t *value, int digits, svc_money_rc_t want_rc, int64_t want_minor)
{
    assert_non_null(value);
    int64_t minor = SENTINEL;
    svc_money_rc_t rc = svc_money_from_json(value, digits, &minor);
    char *dump = json_dumps(value, JSON_ENCODE_ANY);
    if (rc != want_rc) {
        fail_msg("%s (%d digits): rc %d, want %d", dump, digits, rc, want_rc);
    }
    int64_t want = want_rc == SVC_MONEY_OK ? want_minor : SENTINEL;
    if (minor != want) {
        fail_msg("%s (%d digits): %" PRId64 ", want %" PRId64, dump, digits, minor, want);
    }
    free(dump);
    json_decref(value);
}

//  ---------------------------------------------------------------------
//  JSON strings are parsed as text, JSON integers are major units.

static void
test_from_json_string_and_integer(void **state)
{
    (void) state;
    s_check_json(json_string("19.99"), 2, SVC_MONEY_OK, 1999);
    s_check_json(json_string("-0.05"), 2, SVC_MONEY_OK, -5);
    s_check_json(json_string("19.999"), 2, SVC_MONEY_PRECISION, 0);
    s_check_json(json_string("1e2"), 2, SVC_MONEY_SYNTAX, 0);
    s_check_json(json_string(" 19.99"), 2, SVC_MONEY_SYNTAX, 0);
    s_check_json(json_string(""), 2, SVC_MONEY_SYNTAX, 0);
    //  An embedded NUL must not cut "1\0" + "9" down to "1".
    s_check_json(json_stringn("1\0009", 3), 2, SVC_MONEY_SYNTAX, 0);

    s_check_json(json_integer(19), 2, SVC_MONEY_OK, 1900);
    s_check_json(json_integer(-7), 3, SVC_MONEY_OK, -7000);
    s_check_json(json_integer(500), 0, SVC_MONEY_OK, 500);
    s_check_json(json_integer(0), 4, SVC_MONEY_OK, 0);
    s_check_json(json_integer(INT64_MAX), 0, SVC_MONEY_OK, INT64_MAX);
    s_check_json(json_integer(INT64_MIN), 0, SVC_MONEY_OK, INT64_MIN);
    s_check_json(json_integer(92233720368547758), 2, SVC_MONEY_OK, 9223372036854775800);
    s_check_json(json_integer(92233720368547759), 2, SVC_MONEY_OVERFLOW, 0);
    s_check_json(json_integer(-92233720368547759), 2, SVC_MONEY_OVERFLOW, 0);
    s_check_json(json_integer(INT64_MAX), 1, SVC_MONEY_OVERFLOW, 0);
}

//  ---------------------------------------------------------------------
//  JSON reals go through their shortest round-trip decimal text.

static void
test_from_json_real(void **state)
{
    (void) state;
    s_check_json(json_real(19.99), 2, SVC_MONEY_OK, 1999);
    s_check_json(json_real(0.1), 2, SVC_MONEY_OK, 10);
    s_check_json(json_real(-0.05), 2, SVC_MONEY_OK, -5);
    s_check_json(json_real(1e2), 2, SVC_MONEY_OK, 10000);
    s_check_json(json_real(1.5e10), 2, SVC_MONEY_OK, 1500000000000);
    s_check_json(json_real(1e-4), 4, SVC_MONEY_OK, 1);
    s_check_json(json_real(1.234), 3, SVC_MONEY_OK, 1234);
    s_check_json(json_real(500.0), 0, SVC_MONEY_OK, 500);
    s_check_json(json_real(-0.0), 2, SVC_MONEY_OK, 0);
    s_check_json(json_real(0.0), 2, SVC_MONEY_OK, 0);
    //  Fifteen significant digits are still exact.
    s_check_json(json_real(1234567890123.45), 2, SVC_MONEY_OK, 123456789012345);
    s_check_json(json_real(0.000123456789012345), 18, SVC_MONEY_OK, 123456789012345);

    //  Too many fraction digits for the currency.
    s_check_json(json_real(19.999), 2, SVC_MONEY_PRECISION, 0);
    s_check_json(json_real(1.5), 0, SVC_MONEY_PRECISION, 0);
    s_check_json(json_real(1e-5), 4, SVC_MONEY_PRECISION, 0);
    s_check_json(json_real(1e-300), 2, SVC_MONEY_PRECISION, 0);
    //  More than 15 significant digits: the double no longer names one
    //  decimal (0.1 + 0.2 prints as 0.30000000000000004).
    s_check_json(json_real(0.1 + 0.2), 2, SVC_MONEY_PRECISION, 0);
    s_check_json(json_real(1234567890123456.0), 0, SVC_MONEY_PRECISION, 0);
    s_check_json(json_real(12345678901234.567), 3, SVC_MONEY_PRECISION, 0);

    s_check_json(json_real(1e19), 0, SVC_MONEY_OVERFLOW, 0);
    s_check_json(json_real(-1e300), 2, SVC_MONEY_OVERFLOW, 0);
    s_check_json(json_real(1e17), 2, SVC_MONEY_OVERFLOW, 0);
    s_check_json(json_real(1e16), 2, SVC_MONEY_OK, 1000000000000000000);
}

//  ---------------------------------------------------------------------
//  Anything other than a string or a number is a type error.

static void
test_from_json_type(void **state)
{
    (void) state;
    s_check_json(json_null(), 2, SVC_MONEY_TYPE, 0);
    s_check_json(json_true(), 2, SVC_MONEY_TYPE, 0);
    s_check_json(json_false(), 2, SVC_MONEY_TYPE, 0);
    s_check_json(json_object(), 2, SVC_MONEY_TYPE, 0);
    s_check_json(json_pack("[s]", "19.99"), 2, SVC_MONEY_TYPE, 0);
    s_check_json(json_pack("{s:s}", "amount", "19.99"), 2, SVC_MONEY_TYPE, 0);
}

//  ---------------------------------------------------------------------
//  Known outputs, including signs below one major unit and INT64_MIN.

static void
test_format_known(void **state)
{
    (void) state;
    static const struct {
        int64_t minor;
        int digits;
        const char *text;
    } cases[] = {
        {1999, 2, "19.99"},
        {1990, 2, "19.90"},
        {-5, 2, "-0.05"},
        {-50, 2, "-0.50"},
        {0, 2, "0.00"},
        {500, 0, "500"},
        {-500, 0, "-500"},
        {0, 0, "0"},
        {1234, 3, "1.234"},
        {1, 4, "0.0001"},
        {-1, 4, "-0.0001"},
        {INT64_MAX, 0, "9223372036854775807"},
        {INT64_MIN, 0, "-9223372036854775808"},
        {INT64_MAX, 2, "92233720368547758.07"},
        {INT64_MIN, 2, "-92233720368547758.08"},
        {INT64_MIN, 18, "-9.223372036854775808"},
        {-1, 18, "-0.000000000000000001"},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        char text[SVC_MONEY_TEXT_MAX];
        int length = svc_money_format(cases[index].minor, cases[index].digits, text, sizeof text);
        assert_string_equal(text, cases[index].text);
        assert_int_equal(length, strlen(cases[index].text));
    }
}

//  ---------------------------------------------------------------------
//  parse(format(x)) == x over a spread of values and digit counts.

static void
test_format_round_trip(void **state)
{
    (void) state;
    static const int64_t values[] = {
        0,
        1,
        -1,
        5,
        -5,
        9,
        10,
        -10,
        99,
        100,
        -100,
        101,
        999,
        1000,
        1001,
        1999,
        -1999,
        123456789,
        -98765432,
        1000000007,
        INT64_MAX,
        INT64_MIN,
        INT64_MAX - 1,
        INT64_MIN + 1,
        INT32_MAX,
        INT32_MIN,
        UINT32_MAX,
        -4294967296,
    };
    static const int digit_counts[] = {0, 2, 3, 4};
    for (size_t d = 0; d < sizeof digit_counts / sizeof digit_counts[0]; d++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char text[SVC_MONEY_TEXT_MAX];
            int length = svc_money_format(values[v], digit_counts[d], text, sizeof text);
            assert_true(length > 0);
            assert_int_equal(length, strlen(text));
            int64_t minor = SENTINEL;
            assert_int_equal(svc_money_parse(text, digit_counts[d], &minor), SVC_MONEY_OK);
            if (minor != values[v]) {
                fail_msg("%" PRId64 " at %d digits printed as \"%s\", read back as %" PRId64,
                         values[v], digit_counts[d], text, minor);
            }
        }
    }
}

//  ---------------------------------------------------------------------
//  A buffer one byte short gets -1 and is left untouched; exact fits.

static void
test_format_buffer_too_small(void **state)
{
    (void) state;
    char text[SVC_MONEY_TEXT_MAX] = "untouched";
    assert_int_equal(svc_money_format(1999, 2, text, 5), -1);
    assert_string_equal(text, "untouched");
    assert_int_equal(svc_money_format(1999, 2, text, 0), -1);
    assert_string_equal(text, "untouched");
    assert_int_equal(svc_money_format(1999, 2, text, 6), 5);
    assert_string_equal(text, "19.99");
    assert_int_equal(svc_money_format(INT64_MIN, 0, text, 21), 20);
    assert_string_equal(text, "-9223372036854775808");
}

//  ---------------------------------------------------------------------
//  Known codes with their minor units; anything not exactly three
//  upper-case letters of an active code is -1.

static void
test_currency_lookup(void **state)
{
    (void) state;
    static const struct {
        const char *code;
        int digits;
    } cases[] = {
        {"EUR", 2},
        {"USD", 2},
        {"GBP", 2},
        {"CHF", 2},
        {"JPY", 0},
        {"KRW", 0},
        {"CLP", 0},
        {"ISK", 0},
        {"VND", 0},
        {"UGX", 0},
        {"XOF", 0},
        {"XPF", 0},
        {"KWD", 3},
        {"BHD", 3},
        {"OMR", 3},
        {"JOD", 3},
        {"TND", 3},
        {"LYD", 3},
        {"IQD", 3},
        {"CLF", 4},
        {"UYW", 4},
        {"AED", 2},
        {"ZWG", 2},
        {"XCG", 2},
        {"SLE", 2},
        {"VED", 2},
        //  Not money: no numeric minor unit in ISO 4217.
        {"XAU", -1},
        {"XAG", -1},
        {"XDR", -1},
        {"XTS", -1},
        {"XXX", -1},
        //  Withdrawn.
        {"HRK", -1},
        {"SLL", -1},
        {"ZWL", -1},
        {"DEM", -1},
        //  Never assigned, or not the strict form.
        {"ABC", -1},
        {"ZZZ", -1},
        {"AAA", -1},
        {"eur", -1},
        {"Eur", -1},
        {"EU", -1},
        {"EURO", -1},
        {"", -1},
        {"E", -1},
        {"EU1", -1},
        {" EUR", -1},
        {"EUR ", -1},
        {"\xC3\x89UR", -1},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        int digits = svc_currency_digits(cases[index].code);
        if (digits != cases[index].digits) {
            fail_msg("\"%s\": %d, want %d", cases[index].code, digits, cases[index].digits);
        }
    }
}

//  ---------------------------------------------------------------------
//  Every one of the 17,576 three-letter codes is looked up: exactly the
//  table's codes are found (an unsorted table would hide some from
//  bsearch) and each has 0, 2, 3 or 4 digits.

static void
test_currency_table_complete(void **state)
{
    (void) state;
    size_t found = 0;
    char code[4] = "AAA";
    for (code[0] = 'A'; code[0] <= 'Z'; code[0]++) {
        for (code[1] = 'A'; code[1] <= 'Z'; code[1]++) {
            for (code[2] = 'A'; code[2] <= 'Z'; code[2]++) {
                int digits = svc_currency_digits(code);
                if (digits >= 0) {
                    assert_true(digits == 0 || digits == 2 || digits == 3 || digits == 4);
                    found++;
                }
            }
        }
    }
    assert_int_equal(found, CURRENCY_COUNT);
}

//  ---------------------------------------------------------------------
//  Every return code has its own sentence.

static void
test_strerror(void **state)
{
    (void) state;
    static const svc_money_rc_t codes[] = {SVC_MONEY_OK,        SVC_MONEY_SYNTAX,
                                           SVC_MONEY_PRECISION, SVC_MONEY_OVERFLOW,
                                           SVC_MONEY_TYPE,      SVC_MONEY_CURRENCY};
    size_t count = sizeof codes / sizeof codes[0];
    for (size_t index = 0; index < count; index++) {
        const char *text = svc_money_strerror(codes[index]);
        assert_non_null(text);
        assert_true(strlen(text) > 0);
        for (size_t other = 0; other < index; other++) {
            assert_string_not_equal(text, svc_money_strerror(codes[other]));
        }
    }
    assert_string_equal(svc_money_strerror(SVC_MONEY_PRECISION),
                        "more fraction digits than the currency has");
    assert_non_null(svc_money_strerror((svc_money_rc_t) 99));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_parse_int64_edges),
        cmocka_unit_test(test_from_json_string_and_integer),
        cmocka_unit_test(test_from_json_real),
        cmocka_unit_test(test_from_json_type),
        cmocka_unit_test(test_format_known),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_format_buffer_too_small),
        cmocka_unit_test(test_currency_lookup),
        cmocka_unit_test(test_currency_table_complete),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
