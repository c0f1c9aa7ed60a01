/*  =========================================================================
    shim_json_test - exact numbers, keys in any case, .NET value formats

    The first case is the usage example from shim_json.h. Then: numbers
    survive load and dump digit for digit; amounts are exact whatever the
    number's form (19.99, 0.1, 1e2, 12345678901234.56, as numbers and as
    strings), and refused when they are not exact in the currency; the
    lexer refuses what JSON refuses and "\u0000" in strings; keys match in
    any case and two spellings of one key are refused; integers and GUIDs
    as .NET writes and reads them.
    =========================================================================
*/
#include "shim_classes.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  ---------------------------------------------------------------------
//  Load a NUL-terminated text; asserts it parses.

static json_t *
s_load(const char *text)
{
    shim_error_t error;
    json_t *root = shim_json_load(text, strlen(text), &error);
    if (!root) {
        fail_msg("%s: %s", text, error.reason);
    }
    return root;
}

//  ---------------------------------------------------------------------
//  Read `key` of a one-field object as an amount in `digits`; returns the
//  rc and sets *minor.

static shim_rc_t
s_amount_of(const char *json, int digits, int64_t *minor)
{
    json_t *root = s_load(json);
    shim_error_t error;
    shim_rc_t rc = shim_json_read_amount(root, "message", "total", digits, true, minor, &error);
    if (rc != SHIM_OK) {
        assert_true(strlen(error.reason) > 0);
        assert_int_equal(error.rc, rc);
    }
    json_decref(root);
    return rc;
}

static void
test_usage_example(void **state)
{
    (void) state;
    const char *body = "{\"Total\": 19.99}";
    shim_error_t error;
    json_t *root = shim_json_load(body, strlen(body), &error);
    assert_non_null(root);
    int64_t minor = 0;
    assert_int_equal(shim_json_read_amount(root, "message", "total", 2, true, &minor, &error),
                     SHIM_OK);
    assert_int_equal(minor, 1999);
    json_decref(root);
}

static void
test_numbers_round_trip_exactly(void **state)
{
    (void) state;
    const char *text = "{\"a\":12345678901234.56,\"b\":[1,-0.5e-3,0,1E+400,"
                       "123456789012345678901234567890],\"c\":\"19.99\",\"d\":true,\"e\":null}";
    json_t *root = s_load(text);
    assert_string_equal(shim_json_number_text(json_object_get(root, "a")), "12345678901234.56");
    assert_null(shim_json_number_text(json_object_get(root, "c")));
    size_t size = 0;
    char *dumped = shim_json_dump(root, &size);
    assert_non_null(dumped);
    assert_string_equal(dumped, text);
    assert_int_equal(size, strlen(text));
    freen(dumped);
    json_decref(root);

    //  A number we build is written with exactly its text; strings with
    //  escapes survive the unmarking.
    json_t *object = json_object();
    json_object_set_new(object, "total", shim_json_number("51.90"));
    json_object_set_new(object, "note", json_string("say \"\\u0000\" \\ é"));
    dumped = shim_json_dump(object, &size);
    assert_string_equal(dumped, "{\"total\":51.90,\"note\":\"say \\\"\\\\u0000\\\" \\\\ é\"}");
    json_t *again = s_load(dumped);
    assert_string_equal(json_string_value(json_object_get(again, "note")), "say \"\\u0000\" \\ é");
    json_decref(again);
    freen(dumped);
    json_decref(object);
}

//  Apart from marked numbers, the writer writes what json_dumps writes
//  with JSON_COMPACT: escapes, nesting, key order, scalars, UTF-8.
static void
test_dump_as_jansson(void **state)
{
    (void) state;
    json_t *value = json_pack(
        "{s:s, s:[i, i, b, b, n, {}, []], s:{s:s, s:s}, s:I, s:s}", "text",
        "tab\t nl\n cr\r bs\b ff\f bell\a esc\x1b del\x7f quote\" back\\ slash/ ü€", "list", 1, -7,
        1, 0, "nested", "z", "last", "a", "first", "big", (json_int_t) INT64_MIN, "empty", "");
    assert_non_null(value);
    json_array_append_new(json_object_get(value, "list"), json_stringn("nul\0in", 6));
    char *expected = json_dumps(value, JSON_COMPACT);
    size_t size = 0;
    char *dumped = shim_json_dump(value, &size);
    assert_string_equal(dumped, expected);
    assert_int_equal(size, strlen(expected));
    freen(dumped);
    freen(expected);
    json_decref(value);
}

//  The writer places commas as a tree's dump would (objects and arrays,
//  nested, empty, after a nested value), writes numbers as given, and
//  fails on a string that is not UTF-8 (a lone continuation byte, an
//  overlong form, a surrogate, past U+10FFFF, a cut sequence).
static void
test_writer(void **state)
{
    (void) state;
    shim_json_writer_t writer;
    shim_json_writer_init(&writer);
    shim_json_write_open(&writer, '{');
    shim_json_write_key(&writer, "a");
    shim_json_write_open(&writer, '[');
    shim_json_write_integer(&writer, INT64_MIN);
    shim_json_write_open(&writer, '{');
    shim_json_write_close(&writer, '}');
    shim_json_write_open(&writer, '[');
    shim_json_write_close(&writer, ']');
    assert_int_equal(shim_json_write_string(&writer, "q\"\\\n é 𝄞"), 0);
    shim_json_write_close(&writer, ']');
    shim_json_write_key(&writer, "b");
    shim_json_write_number(&writer, "51.90");
    shim_json_write_key(&writer, "c");
    shim_json_write_null(&writer);
    shim_json_write_key(&writer, "d");
    shim_json_write_raw(&writer, "{\"x\":true}", 10);
    shim_json_write_close(&writer, '}');
    size_t size = 0;
    char *text = shim_json_writer_take(&writer, &size);
    const char *expected =
        "{\"a\":[-9223372036854775808,{},[],\"q\\\"\\\\\\n é 𝄞\"],\"b\":51.90,\"c\":null,"
        "\"d\":{\"x\":true}}";
    assert_string_equal(text, expected);
    assert_int_equal(size, strlen(expected));
    json_t *tree = s_load(text);
    char *dumped = shim_json_dump(tree, &size);
    assert_string_equal(dumped, expected);
    freen(dumped);
    json_decref(tree);
    freen(text);

    static const char *const invalid[] = {"\x80",         "\xC0\xAF",         "\xE0\x80\xAF",
                                          "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82",
                                          "ok \xFF"};
    for (size_t index = 0; index < sizeof invalid / sizeof invalid[0]; index++) {
        shim_json_writer_init(&writer);
        shim_json_write_open(&writer, '[');
        assert_int_equal(shim_json_write_string(&writer, invalid[index]), -1);
        shim_json_write_close(&writer, ']');
        assert_null(shim_json_writer_take(&writer, &size));
    }
}

static void
test_amounts_are_exact(void **state)
{
    (void) state;
    //  The brief's cases, as numbers and as strings, in EUR (2 digits).
    static const struct {
        const char *json;
        int64_t minor;
    } cases[] = {
        {"{\"total\":19.99}", 1999},
        {"{\"total\":\"19.99\"}", 1999},
        {"{\"total\":0.1}", 10},
        {"{\"total\":\"0.1\"}", 10},
        {"{\"total\":1e2}", 10000},
        {"{\"total\":\"1e2\"}", 10000},
        {"{\"total\":12345678901234.56}", 1234567890123456},
        {"{\"total\":\"12345678901234.56\"}", 1234567890123456},
        {"{\"total\":199.990}", 19999},
        {"{\"total\":\"100.00\"}", 10000},
        {"{\"total\":1999E-2}", 1999},
        {"{\"total\":0.01999e4}", 19990},
        {"{\"total\":0}", 0},
        {"{\"total\":-0}", 0},
        {"{\"total\":0e999999999999}", 0},
        {"{\"total\":92233720368547758.07}", INT64_MAX},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        int64_t minor = -1;
        assert_int_equal(s_amount_of(cases[index].json, 2, &minor), SHIM_OK);
        assert_int_equal(minor, cases[index].minor);
    }
    //  Zero-digit and three-digit currencies.
    int64_t minor = 0;
    assert_int_equal(s_amount_of("{\"total\":500}", 0, &minor), SHIM_OK);
    assert_int_equal(minor, 500);
    assert_int_equal(s_amount_of("{\"total\":\"1.234\"}", 3, &minor), SHIM_OK);
    assert_int_equal(minor, 1234);

    //  Refused: not exact, negative, overflow, not a decimal, not a
    //  number or string.
    static const char *const refused[] = {
        "{\"total\":19.999}",
        "{\"total\":\"19.991\"}",
        "{\"total\":1e-3}",
        "{\"total\":-1}",
        "{\"total\":\"-0.01\"}",
        "{\"total\":1e400}",
        "{\"total\":92233720368547758.08}",
        "{\"total\":\"abc\"}",
        "{\"total\":\"\"}",
        "{\"total\":\" 1\"}",
        "{\"total\":\"+1\"}",
        "{\"total\":\".5\"}",
        "{\"total\":\"1.\"}",
        "{\"total\":\"01\"}",
        "{\"total\":\"1\\u00009\"}",
        "{\"total\":true}",
        "{\"total\":[1]}",
        "{\"total\":{}}",
    };
    for (size_t index = 0; index < sizeof refused / sizeof refused[0]; index++) {
        minor = 77;
        //  "\u0000" is refused by the lexer already.
        shim_error_t error;
        json_t *root = shim_json_load(refused[index], strlen(refused[index]), &error);
        if (!root) {
            assert_int_equal(error.rc, SHIM_NOT_JSON);
            continue;
        }
        assert_int_equal(shim_json_read_amount(root, "message", "total", 2, true, &minor, &error),
                         SHIM_BAD_AMOUNT);
        assert_int_equal(minor, 77);
        assert_non_null(strstr(error.reason, "message.total"));
        json_decref(root);
    }
    //  Absent or null: missing when required, untouched when not.
    assert_int_equal(s_amount_of("{\"total\":null}", 2, &minor), SHIM_MISSING_FIELD);
    json_t *root = s_load("{}");
    shim_error_t error;
    minor = 5;
    assert_int_equal(shim_json_read_amount(root, "", "total", 2, false, &minor, &error), SHIM_OK);
    assert_int_equal(minor, 5);
    json_decref(root);
}

static void
test_amount_parse_directly(void **state)
{
    (void) state;
    int64_t minor = 0;
    assert_int_equal(shim_json_amount_parse("19.99", 2, &minor), SVC_MONEY_OK);
    assert_int_equal(minor, 1999);
    assert_int_equal(shim_json_amount_parse("19.999", 2, &minor), SVC_MONEY_PRECISION);
    assert_int_equal(shim_json_amount_parse("1e20", 2, &minor), SVC_MONEY_OVERFLOW);
    assert_int_equal(shim_json_amount_parse("1e-100000", 2, &minor), SVC_MONEY_PRECISION);
    assert_int_equal(shim_json_amount_parse("1.5e", 2, &minor), SVC_MONEY_SYNTAX);
    assert_int_equal(shim_json_amount_parse("-5.25", 2, &minor), SVC_MONEY_OK);
    assert_int_equal(minor, -525);
    assert_int_equal(shim_json_amount_parse("-92233720368547758.08", 2, &minor), SVC_MONEY_OK);
    assert_int_equal(minor, INT64_MIN);
}

static void
test_lexer_refuses_what_json_refuses(void **state)
{
    (void) state;
    static const struct {
        const char *text;
        shim_rc_t rc;
    } cases[] = {
        {"", SHIM_NOT_JSON},
        {"{", SHIM_NOT_JSON},
        {"hello", SHIM_NOT_JSON},
        {"{\"a\":01}", SHIM_NOT_JSON},
        {"{\"a\":1.}", SHIM_NOT_JSON},
        {"{\"a\":.5}", SHIM_NOT_JSON},
        {"{\"a\":+1}", SHIM_NOT_JSON},
        {"{\"a\":-}", SHIM_NOT_JSON},
        {"{\"a\":1e}", SHIM_NOT_JSON},
        {"{\"a\":1-2}", SHIM_NOT_JSON},
        {"{\"a\":1true}", SHIM_NOT_JSON},
        {"{1:2}", SHIM_NOT_JSON},
        {"{\"a\":\"x\\u0000y\"}", SHIM_NOT_JSON},
        {"{\"\\u0000\":1}", SHIM_NOT_JSON},
        {"{\"a\":1,\"a\":2}", SHIM_NOT_JSON},
        {"{\"a\":\"unterminated}", SHIM_NOT_JSON},
        {"{\"a\":\"\\", SHIM_NOT_JSON},
        {"{\"a\":\"\xff\"}", SHIM_NOT_JSON},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        shim_error_t error;
        json_t *root = shim_json_load(cases[index].text, strlen(cases[index].text), &error);
        if (root) {
            fail_msg("accepted: %s", cases[index].text);
        }
        assert_int_equal(error.rc, cases[index].rc);
        assert_true(strlen(error.reason) > 0);
    }
    //  A number token longer than SHIM_NUMBER_MAX, and a body over the
    //  bound, are too large.
    char text[SHIM_NUMBER_MAX + 16];
    memset(text, '1', sizeof text);
    text[0] = '[';
    text[sizeof text - 2] = ']';
    text[sizeof text - 1] = '\0';
    shim_error_t error;
    assert_null(shim_json_load(text, strlen(text), &error));
    assert_int_equal(error.rc, SHIM_TOO_LARGE);
    assert_null(shim_json_load("{}", SHIM_BODY_MAX + 1, &error));
    assert_int_equal(error.rc, SHIM_TOO_LARGE);
    //  The escape of a backslash followed by "u0000" is no NUL.
    json_t *root = s_load("{\"a\":\"\\\\u0000\"}");
    assert_string_equal(json_string_value(json_object_get(root, "a")), "\\u0000");
    json_decref(root);
}

static void
test_keys_in_any_case(void **state)
{
    (void) state;
    json_t *root = s_load("{\"OrderId\":\"x\",\"customerid\":null,\"a\":1,\"A\":2}");
    json_t *value = NULL;
    assert_int_equal(shim_json_get(root, "orderId", &value), 0);
    assert_string_equal(json_string_value(value), "x");
    assert_int_equal(shim_json_get(root, "customerId", &value), 0);
    assert_null(value);
    assert_int_equal(shim_json_get(root, "missing", &value), 0);
    assert_null(value);
    assert_int_equal(shim_json_get(root, "a", &value), -1);
    assert_null(value);
    shim_error_t error;
    const char *text = NULL;
    assert_int_equal(shim_json_read_text(root, "message", "a", 10, false, &text, &error),
                     SHIM_BAD_FIELD);
    assert_non_null(strstr(error.reason, "message.a"));
    assert_int_equal(shim_json_read_text(root, "", "customerId", 10, true, &text, &error),
                     SHIM_MISSING_FIELD);
    assert_int_equal(shim_json_read_text(root, "", "orderid", 0, true, &text, &error),
                     SHIM_TOO_LARGE);
    json_t *array = json_array();
    assert_int_equal(shim_json_get(array, "a", &value), 0);
    assert_null(value);
    json_decref(array);
    json_decref(root);
}

static void
test_integers(void **state)
{
    (void) state;
    json_t *root = s_load(
        "{\"n\":3,\"s\":\"4\",\"f\":3.0,\"e\":1e1,\"neg\":-1,\"big\":2147483648,\"t\":true}");
    shim_error_t error;
    int64_t value = 0;
    assert_int_equal(shim_json_read_integer(root, "", "n", 1, INT32_MAX, true, &value, &error),
                     SHIM_OK);
    assert_int_equal(value, 3);
    assert_int_equal(shim_json_read_integer(root, "", "s", 1, INT32_MAX, true, &value, &error),
                     SHIM_OK);
    assert_int_equal(value, 4);
    static const char *const refused[] = {"f", "e", "neg", "big", "t"};
    for (size_t index = 0; index < sizeof refused / sizeof refused[0]; index++) {
        value = 9;
        assert_int_equal(
            shim_json_read_integer(root, "m", refused[index], 0, INT32_MAX, true, &value, &error),
            SHIM_BAD_FIELD);
        assert_int_equal(value, 9);
    }
    json_decref(root);
}

static void
test_guids(void **state)
{
    (void) state;
    static const char *const d_form = "5f0c2a8e-3d4b-4c6e-9a1f-2b7d8e9f0a1b";
    static const char *const accepted_lenient[] = {
        "5f0c2a8e-3d4b-4c6e-9a1f-2b7d8e9f0a1b", "5F0C2A8E-3D4B-4C6E-9A1F-2B7D8E9F0A1B",
        "5f0c2a8e3d4b4c6e9a1f2b7d8e9f0a1b", "{5f0c2a8e-3d4b-4c6e-9a1f-2b7d8e9f0a1b}",
        "(5f0c2a8e-3d4b-4c6e-9a1f-2b7d8e9f0a1b)"};
    for (size_t index = 0; index < 5; index++) {
        svc_uuid_t uuid;
        assert_int_equal(shim_json_uuid_parse(accepted_lenient[index], true, &uuid), 0);
        char text[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&uuid, text);
        assert_string_equal(text, d_form);
        //  Only the D form in strict mode (System.Text.Json's reader).
        assert_int_equal(shim_json_uuid_parse(accepted_lenient[index], false, &uuid),
                         index < 2 ? 0 : -1);
    }
    svc_uuid_t uuid;
    assert_int_equal(shim_json_uuid_parse("5f0c2a8e3d4b4c6e9a1f2b7d8e9f0a1g", true, &uuid), -1);
    assert_int_equal(shim_json_uuid_parse("{5f0c2a8e-3d4b-4c6e-9a1f-2b7d8e9f0a1b)", true, &uuid),
                     -1);
    assert_int_equal(shim_json_uuid_parse("", true, &uuid), -1);

    json_t *root = s_load("{\"id\":\"00000000-0000-0000-0000-000000000000\",\"n\":5}");
    shim_error_t error;
    memset(&uuid, 0xAB, sizeof uuid);
    assert_int_equal(shim_json_read_uuid(root, "", "id", true, false, &uuid, &error), SHIM_OK);
    assert_int_equal(uuid.bytes[0], 0xAB);
    assert_int_equal(shim_json_read_uuid(root, "", "id", true, true, &uuid, &error),
                     SHIM_MISSING_FIELD);
    assert_int_equal(shim_json_read_uuid(root, "", "n", true, true, &uuid, &error), SHIM_BAD_ID);
    json_decref(root);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_numbers_round_trip_exactly),
        cmocka_unit_test(test_dump_as_jansson),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_amounts_are_exact),
        cmocka_unit_test(test_amount_parse_directly),
        cmocka_unit_test(test_lexer_refuses_what_json_refuses),
        cmocka_unit_test(test_keys_in_any_case),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_guids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
