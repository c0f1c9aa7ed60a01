/*  =========================================================================
    order_api_test - every rule of POST /orders and its cancel, and rendering

    The first case is the usage example from order_api.h. The create cases
    are one table of bodies with the error (code and field path) each must
    get, covering every bad-input row of docs/http-api.md; bodies that need
    long strings or many items are built in code. Then the happy path with
    exact totals, the canonical fingerprint, the cancel body, the header
    and query checks, and the rendering of an order.
    =========================================================================
*/
#include "order_classes.h"
#include "order_api.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define ITEM "{\"sku\": \"SKU-1\", \"quantity\": 2, \"unitPrice\": \"19.99\"}"

//  A body as the server parses it (duplicate keys refused).
static json_t *
s_load(const char *text)
{
    json_error_t error;
    json_t *body = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (!body) {
        fail_msg("test body does not parse: %s: %s", error.text, text);
    }
    return body;
}

//  A body with one item whose members are `item_members`.
static char *
s_body_with_item(const char *item_members)
{
    return zsys_sprintf("{\"customerId\": \"c-42\", \"currency\": \"EUR\", \"items\": [{%s}]}",
                        item_members);
}

//  A body whose customerId is `customer_id` (already JSON-escaped).
static char *
s_body_with_customer(const char *customer_id)
{
    return zsys_sprintf("{\"customerId\": \"%s\", \"currency\": \"EUR\", \"items\": [" ITEM "]}",
                        customer_id);
}

//  `count` copies of `unit` joined together.
static char *
s_repeat(const char *unit, size_t count)
{
    size_t length = strlen(unit);
    char *text = zmalloc(length * count + 1);
    for (size_t index = 0; index < count; index++) {
        memcpy(text + index * length, unit, length);
    }
    text[length * count] = '\0';
    return text;
}

//  A body with `count` items.
static char *
s_body_with_items(size_t count)
{
    char *items = s_repeat(ITEM ",", count);
    items[strlen(items) - 1] = '\0';
    char *body =
        zsys_sprintf("{\"customerId\": \"c-42\", \"currency\": \"EUR\", \"items\": [%s]}", items);
    freen(items);
    return body;
}

//  Parse `text` as a create; it must fail with `code` naming `field`
//  ("" for null).
static void
s_expect_error(const char *text, const char *code, const char *field)
{
    json_t *body = s_load(text);
    order_create_t command;
    order_api_error_t error;
    int rc = order_api_parse_create(body, &command, &error);
    json_decref(body);
    if (rc != -1) {
        fail_msg("accepted, want %s on \"%s\": %.200s", code, field, text);
    }
    if (!streq(error.code, code) || !streq(error.field, field)) {
        fail_msg("got %s on \"%s\" (%s), want %s on \"%s\": %.200s", error.code, error.field,
                 error.message, code, field, text);
    }
    assert_int_equal(error.status, 400);
    assert_true(strlen(error.message) > 0);
}

//  Parse `text` as a create; it must succeed.
static void
s_expect_ok(const char *text, order_create_t *command)
{
    json_t *body = s_load(text);
    order_api_error_t error;
    int rc = order_api_parse_create(body, command, &error);
    json_decref(body);
    if (rc != 0) {
        fail_msg("refused %s on \"%s\" (%s): %.200s", error.code, error.field, error.message, text);
    }
}

//  --------------------------------------------------------------------------
//  The usage example of the header.

static void
test_usage_example(void **state)
{
    (void) state;
    json_t *body = s_load("{\"customerId\": \"c-42\", \"currency\": \"EUR\", \"items\": ["
                          "{\"sku\": \"SKU-1\", \"quantity\": 2, \"unitPrice\": \"19.99\"},"
                          "{\"sku\": \"SKU-2\", \"quantity\": 1, \"unitPrice\": \"19.99\"}]}");
    order_create_t command;
    order_api_error_t error;
    assert_int_equal(order_api_parse_create(body, &command, &error), 0);
    json_decref(body);
    assert_string_equal(command.customer_id, "c-42");
    assert_string_equal(command.currency, "EUR");
    assert_int_equal(command.digits, 2);
    assert_int_equal(command.item_count, 2);
    assert_string_equal(command.items[0].sku, "SKU-1");
    assert_int_equal(command.items[0].quantity, 2);
    assert_int_equal(command.items[0].unit_price_minor, 1999);
    assert_string_equal(command.items[1].sku, "SKU-2");
    assert_int_equal(command.total_minor, 5997);
    char *fingerprint = order_api_fingerprint(&command);
    assert_non_null(fingerprint);
    freen(fingerprint);
}

//  --------------------------------------------------------------------------
//  Every bad body that fits a table row.

typedef struct {
    const char *body;
    const char *code;
    const char *field;
} error_case_t;

#define BODY(customer, currency, items)                                                            \
    "{\"customerId\": " customer ", \"currency\": " currency ", \"items\": " items "}"

static void
test_create_errors(void **state)
{
    (void) state;
    const error_case_t cases[] = {
        //  the body itself
        {"[]", "invalid_body", ""},
        {"{}", "missing_field", "customerId"},
        //  unknown fields, reported before anything else
        {"{\"customerId\": \"c\", \"color\": 1}", "unknown_field", "color"},
        {"{\"customerid\": \"c-42\"}", "unknown_field", "customerid"},
        {"{\"total\": \"1\", \"customerId\": \"c\", \"currency\": \"EUR\", \"items\": []}",
         "unknown_field", "total"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1\", "
              "\"note\": \"x\"}]"),
         "unknown_field", "items[0].note"},
        //  customerId
        {"{\"currency\": \"EUR\", \"items\": [" ITEM "]}", "missing_field", "customerId"},
        {BODY("null", "\"EUR\"", "[" ITEM "]"), "missing_field", "customerId"},
        {BODY("42", "\"EUR\"", "[" ITEM "]"), "invalid_type", "customerId"},
        {BODY("[\"c\"]", "\"EUR\"", "[" ITEM "]"), "invalid_type", "customerId"},
        {BODY("\"\"", "\"EUR\"", "[" ITEM "]"), "invalid_value", "customerId"},
        {BODY("\"c\\u0001d\"", "\"EUR\"", "[" ITEM "]"), "invalid_value", "customerId"},
        {BODY("\"c\\nd\"", "\"EUR\"", "[" ITEM "]"), "invalid_value", "customerId"},
        {BODY("\"c\\u007fd\"", "\"EUR\"", "[" ITEM "]"), "invalid_value", "customerId"},
        {BODY("\"c\\u0085d\"", "\"EUR\"", "[" ITEM "]"), "invalid_value", "customerId"},
        //  currency
        {"{\"customerId\": \"c\", \"items\": [" ITEM "]}", "missing_field", "currency"},
        {BODY("\"c\"", "null", "[" ITEM "]"), "missing_field", "currency"},
        {BODY("\"c\"", "978", "[" ITEM "]"), "invalid_type", "currency"},
        {BODY("\"c\"", "\"eur\"", "[" ITEM "]"), "invalid_currency", "currency"},
        {BODY("\"c\"", "\"EURO\"", "[" ITEM "]"), "invalid_currency", "currency"},
        {BODY("\"c\"", "\"ABC\"", "[" ITEM "]"), "invalid_currency", "currency"},
        {BODY("\"c\"", "\"XXX\"", "[" ITEM "]"), "invalid_currency", "currency"},
        {BODY("\"c\"", "\"\"", "[" ITEM "]"), "invalid_currency", "currency"},
        //  items
        {"{\"customerId\": \"c\", \"currency\": \"EUR\"}", "missing_field", "items"},
        {BODY("\"c\"", "\"EUR\"", "null"), "missing_field", "items"},
        {BODY("\"c\"", "\"EUR\"", ITEM), "invalid_type", "items"},
        {BODY("\"c\"", "\"EUR\"", "\"SKU-1\""), "invalid_type", "items"},
        {BODY("\"c\"", "\"EUR\"", "[]"), "empty", "items"},
        {BODY("\"c\"", "\"EUR\"", "[\"SKU-1\"]"), "invalid_type", "items[0]"},
        {BODY("\"c\"", "\"EUR\"", "[" ITEM ", null]"), "invalid_type", "items[1]"},
        //  sku
        {BODY("\"c\"", "\"EUR\"", "[{\"quantity\": 1, \"unitPrice\": \"1\"}]"), "missing_field",
         "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": null, \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "missing_field", "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": 7, \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "invalid_type", "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"\", \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A B\", \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A/B\", \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].sku"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"\\u00e4\", \"quantity\": 1, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].sku"},
        //  quantity
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"unitPrice\": \"1\"}]"), "missing_field",
         "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": null, \"unitPrice\": \"1\"}]"),
         "missing_field", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"",
              "[" ITEM ", {\"sku\": \"A\", \"quantity\": \"2\", "
              "\"unitPrice\": \"1\"}]"),
         "invalid_type", "items[1].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": true, \"unitPrice\": \"1\"}]"),
         "invalid_type", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 0, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": -1, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1001, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 2.5, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].quantity"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 2.0, \"unitPrice\": \"1\"}]"),
         "invalid_value", "items[0].quantity"},
        //  unitPrice
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1}]"), "missing_field",
         "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": null}]"),
         "missing_field", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": 19.99}]"),
         "invalid_type", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": 5}]"),
         "invalid_type", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"abc\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1e3\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \" 1\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1.\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"19.999\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"19.990\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"JPY\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1.5\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"-1\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"-0.01\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1000000000.01\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"1000000001\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"99999999999999999999\"}]"),
         "invalid_amount", "items[0].unitPrice"},
        //  the first broken rule wins, in contract order
        {BODY("42", "\"eur\"", "[]"), "invalid_type", "customerId"},
        {BODY("\"c\"", "\"eur\"", "[]"), "invalid_currency", "currency"},
        {BODY("\"c\"", "\"EUR\"",
              "[{\"sku\": \"\", \"quantity\": 0, \"unitPrice\": \"x\"}, {\"bad\": 1}]"),
         "invalid_value", "items[0].sku"},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        s_expect_error(cases[index].body, cases[index].code, cases[index].field);
    }
}

//  --------------------------------------------------------------------------
//  Lengths and counts at and past each limit.

static void
test_create_limits(void **state)
{
    (void) state;
    order_create_t command;
    //  customerId: 64 characters, ASCII or not, and 65.
    char *ascii = s_repeat("x", 64);
    char *body = s_body_with_customer(ascii);
    s_expect_ok(body, &command);
    assert_string_equal(command.customer_id, ascii);
    zstr_free(&body);
    freen(ascii);
    ascii = s_repeat("x", 65);
    body = s_body_with_customer(ascii);
    s_expect_error(body, "invalid_value", "customerId");
    zstr_free(&body);
    freen(ascii);
    char *wide = s_repeat("\\u00e9", 64);
    body = s_body_with_customer(wide);
    s_expect_ok(body, &command);
    assert_int_equal(strlen(command.customer_id), 128);
    zstr_free(&body);
    freen(wide);
    wide = s_repeat("\\ud83d\\ude00", 64); //  64 four-byte characters
    body = s_body_with_customer(wide);
    s_expect_ok(body, &command);
    assert_int_equal(strlen(command.customer_id), 256);
    zstr_free(&body);
    freen(wide);
    wide = s_repeat("\\u00e9", 65);
    body = s_body_with_customer(wide);
    s_expect_error(body, "invalid_value", "customerId");
    zstr_free(&body);
    freen(wide);

    //  sku: 64 and 65 characters.
    char *sku = s_repeat("S", 64);
    char *members = zsys_sprintf("\"sku\": \"%s\", \"quantity\": 1, \"unitPrice\": \"1\"", sku);
    body = s_body_with_item(members);
    s_expect_ok(body, &command);
    assert_string_equal(command.items[0].sku, sku);
    zstr_free(&body);
    zstr_free(&members);
    freen(sku);
    sku = s_repeat("S", 65);
    members = zsys_sprintf("\"sku\": \"%s\", \"quantity\": 1, \"unitPrice\": \"1\"", sku);
    body = s_body_with_item(members);
    s_expect_error(body, "invalid_value", "items[0].sku");
    zstr_free(&body);
    zstr_free(&members);
    freen(sku);

    //  items: 100 and 101.
    body = s_body_with_items(100);
    s_expect_ok(body, &command);
    assert_int_equal(command.item_count, 100);
    assert_int_equal(command.total_minor, 100 * 2 * 1999);
    zstr_free(&body);
    body = s_body_with_items(101);
    s_expect_error(body, "too_many", "items");
    zstr_free(&body);

    //  An error in the last of 100 items names it.
    char *items = s_repeat(ITEM ",", 99);
    body = zsys_sprintf("{\"customerId\": \"c\", \"currency\": \"EUR\", \"items\": [%s"
                        "{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"0.001\"}]}",
                        items);
    s_expect_error(body, "invalid_amount", "items[99].unitPrice");
    zstr_free(&body);
    freen(items);

    //  A very long unknown key is named, cut to the field buffer.
    char *key = s_repeat("k", 500);
    body = zsys_sprintf("{\"%s\": 1}", key);
    json_t *parsed = s_load(body);
    order_api_error_t error;
    assert_int_equal(order_api_parse_create(parsed, &command, &error), -1);
    assert_string_equal(error.code, "unknown_field");
    assert_int_equal(strlen(error.field), ORDER_API_FIELD_SIZE - 1);
    assert_memory_equal(error.field, key, ORDER_API_FIELD_SIZE - 1);
    json_decref(parsed);
    zstr_free(&body);
    freen(key);

    //  A multi-byte key is cut on a character boundary.
    char *multi = s_repeat("\\u00e9", 200);
    body = zsys_sprintf("{\"customerId\": \"c\", \"currency\": \"EUR\", \"items\": "
                        "[{\"%s\": 1}]}",
                        multi);
    parsed = s_load(body);
    assert_int_equal(order_api_parse_create(parsed, &command, &error), -1);
    assert_string_equal(error.code, "unknown_field");
    json_t *as_text = json_string(error.field); //  NULL if not valid UTF-8
    assert_non_null(as_text);
    json_decref(as_text);
    assert_memory_equal(error.field, "items[0].", 9);
    json_decref(parsed);
    zstr_free(&body);
    freen(multi);

    //  A NUL inside a string (possible in jansson values built in code).
    json_t *built =
        json_pack("{s:o, s:s, s:[{s:s, s:i, s:s}]}", "customerId", json_stringn("c\0d", 3),
                  "currency", "EUR", "items", "sku", "A", "quantity", 1, "unitPrice", "1");
    assert_int_equal(order_api_parse_create(built, &command, &error), -1);
    assert_string_equal(error.code, "invalid_value");
    assert_string_equal(error.field, "customerId");
    json_decref(built);
}

//  --------------------------------------------------------------------------
//  The happy path: every currency exponent, edges of every range, exact
//  totals.

static void
test_create_valid(void **state)
{
    (void) state;
    order_create_t command;
    s_expect_ok(BODY("\"c-42\"", "\"EUR\"",
                     "[{\"sku\": \"SKU-1\", \"quantity\": 2, \"unitPrice\": \"19.99\"},"
                     " {\"sku\": \"SKU-2\", \"quantity\": 1, \"unitPrice\": \"19.99\"},"
                     " {\"sku\": \"SKU-1\", \"quantity\": 3, \"unitPrice\": \"0.5\"}]"),
                &command);
    assert_int_equal(command.item_count, 3);
    assert_string_equal(command.items[2].sku, "SKU-1"); //  the same SKU may appear twice
    assert_int_equal(command.items[2].unit_price_minor, 50);
    assert_int_equal(command.total_minor, 2 * 1999 + 1999 + 3 * 50);

    s_expect_ok(
        BODY("\"c\"", "\"JPY\"", "[{\"sku\": \"A\", \"quantity\": 1000, \"unitPrice\": \"1000\"}]"),
        &command);
    assert_int_equal(command.digits, 0);
    assert_int_equal(command.items[0].quantity, 1000);
    assert_int_equal(command.total_minor, 1000000);

    s_expect_ok(BODY("\"c\"", "\"KWD\"",
                     "[{\"sku\": \"a.b_c-D9\", \"quantity\": 1, \"unitPrice\": \"1.234\"},"
                     " {\"sku\": \"B\", \"quantity\": 7, \"unitPrice\": \"0.001\"}]"),
                &command);
    assert_int_equal(command.digits, 3);
    assert_int_equal(command.total_minor, 1234 + 7);

    s_expect_ok(
        BODY("\"c\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 1, \"unitPrice\": \"0\"}]"),
        &command);
    assert_int_equal(command.total_minor, 0);

    //  The largest order: 100 items of 1000 units at 10^9 EUR.
    char *items =
        s_repeat("{\"sku\": \"A\", \"quantity\": 1000, \"unitPrice\": \"1000000000.00\"},", 100);
    items[strlen(items) - 1] = '\0';
    char *body =
        zsys_sprintf("{\"customerId\": \"c\", \"currency\": \"EUR\", \"items\": [%s]}", items);
    s_expect_ok(body, &command);
    assert_int_equal(command.total_minor, (int64_t) 100 * 1000 * 100000000000LL);
    zstr_free(&body);
    freen(items);

    //  The same at 4 digits (CLF), still exact in int64.
    items = s_repeat("{\"sku\": \"A\", \"quantity\": 1000, \"unitPrice\": \"1000000000\"},", 100);
    items[strlen(items) - 1] = '\0';
    body = zsys_sprintf("{\"customerId\": \"c\", \"currency\": \"CLF\", \"items\": [%s]}", items);
    s_expect_ok(body, &command);
    assert_int_equal(command.digits, 4);
    assert_int_equal(command.total_minor, (int64_t) 100 * 1000 * 10000000000000LL);
    zstr_free(&body);
    freen(items);

    //  Key order and spacing do not matter; control-free Unicode is fine.
    s_expect_ok("{\"items\":[{\"unitPrice\":\"5\",\"quantity\":1,\"sku\":\"X\"}],"
                "\"currency\":\"USD\",\"customerId\":\"J\\u00fcrgen \\u00d6\"}",
                &command);
    assert_string_equal(command.customer_id, "J\xc3\xbcrgen \xc3\x96");
    assert_int_equal(command.total_minor, 500);
}

//  --------------------------------------------------------------------------
//  The fingerprint: equal for equal commands, whatever the JSON looked like.

static char *
s_fingerprint(const char *text)
{
    order_create_t command;
    s_expect_ok(text, &command);
    return order_api_fingerprint(&command);
}

static void
test_fingerprint(void **state)
{
    (void) state;
    char *base = s_fingerprint("{\"customerId\": \"c-42\", \"currency\": \"EUR\", \"items\": ["
                               "{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"5\"},"
                               "{\"sku\": \"B\", \"quantity\": 1, \"unitPrice\": \"0.5\"}]}");
    const char *same[] = {
        "{\"items\":[{\"unitPrice\":\"5.00\",\"sku\":\"A\",\"quantity\":2},"
        "{\"quantity\":1,\"unitPrice\":\"0.50\",\"sku\":\"B\"}],\"currency\":\"EUR\","
        "\"customerId\":\"c-42\"}",
        "{ \"customerId\" : \"c\\u002d42\" ,\n\t\"currency\":\"EUR\", \"items\": ["
        "{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"5.0\"},"
        "{\"sku\": \"B\", \"quantity\": 1, \"unitPrice\": \"0.5\"}] }",
    };
    for (size_t index = 0; index < sizeof same / sizeof same[0]; index++) {
        char *other = s_fingerprint(same[index]);
        assert_string_equal(other, base);
        freen(other);
    }
    const char *different[] = {
        //  another customer, currency, sku, quantity, price, item order, item count
        BODY("\"c-43\"", "\"EUR\"",
             "[{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"5\"},"
             "{\"sku\": \"B\", \"quantity\": 1, \"unitPrice\": \"0.5\"}]"),
        BODY("\"c-42\"", "\"USD\"",
             "[{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"5\"},"
             "{\"sku\": \"B\", \"quantity\": 1, \"unitPrice\": \"0.5\"}]"),
        BODY("\"c-42\"", "\"EUR\"",
             "[{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"5\"},"
             "{\"sku\": \"C\", \"quantity\": 1, \"unitPrice\": \"0.5\"}]"),
        BODY("\"c-42\"", "\"EUR\"",
             "[{\"sku\": \"A\", \"quantity\": 3, \"unitPrice\": \"5\"},"
             "{\"sku\": \"B\", \"quantity\": 1, \"unitPrice\": \"0.5\"}]"),
        BODY("\"c-42\"", "\"EUR\"",
             "[{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"5.01\"},"
             "{\"sku\": \"B\", \"quantity\": 1, \"unitPrice\": \"0.5\"}]"),
        BODY("\"c-42\"", "\"EUR\"",
             "[{\"sku\": \"B\", \"quantity\": 1, \"unitPrice\": \"0.5\"},"
             "{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"5\"}]"),
        BODY("\"c-42\"", "\"EUR\"", "[{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"5\"}]"),
        //  the same digits in a currency with another exponent
        BODY("\"c-42\"", "\"JPY\"",
             "[{\"sku\": \"A\", \"quantity\": 2, \"unitPrice\": \"500\"},"
             "{\"sku\": \"B\", \"quantity\": 1, \"unitPrice\": \"50\"}]"),
    };
    for (size_t index = 0; index < sizeof different / sizeof different[0]; index++) {
        char *other = s_fingerprint(different[index]);
        if (streq(other, base)) {
            fail_msg("case %zu has the same fingerprint", index);
        }
        freen(other);
    }
    freen(base);
}

//  --------------------------------------------------------------------------
//  The cancel body.

static void
s_expect_cancel(const char *text, const char *reason_or_code, const char *field)
{
    json_t *body = text ? s_load(text) : NULL;
    char reason[ORDER_REASON_SIZE];
    order_api_error_t error;
    int rc = order_api_parse_cancel(body, reason, &error);
    json_decref(body);
    if (field) {
        if (rc != -1 || !streq(error.code, reason_or_code) || !streq(error.field, field)) {
            fail_msg("cancel %s: want %s on %s", text, reason_or_code, field);
        }
        assert_int_equal(error.status, 400);
    } else {
        if (rc != 0) {
            fail_msg("cancel %s refused: %s on %s", text, error.code, error.field);
        }
        assert_string_equal(reason, reason_or_code);
    }
}

static void
test_cancel_body(void **state)
{
    (void) state;
    s_expect_cancel(NULL, ORDER_CANCEL_REASON_DEFAULT, NULL);
    s_expect_cancel("{}", ORDER_CANCEL_REASON_DEFAULT, NULL);
    s_expect_cancel("{\"reason\": null}", ORDER_CANCEL_REASON_DEFAULT, NULL);
    s_expect_cancel("{\"reason\": \"customer request\"}", "customer request", NULL);
    s_expect_cancel("{\"reason\": \"\\u00e9t\\u00e9\"}", "\xc3\xa9t\xc3\xa9", NULL);
    s_expect_cancel("[]", "invalid_body", "");
    s_expect_cancel("{\"reason\": \"\"}", "invalid_value", "reason");
    s_expect_cancel("{\"reason\": 5}", "invalid_type", "reason");
    s_expect_cancel("{\"reason\": [\"x\"]}", "invalid_type", "reason");
    s_expect_cancel("{\"why\": \"x\"}", "unknown_field", "why");
    s_expect_cancel("{\"reason\": \"x\", \"force\": true}", "unknown_field", "force");

    char *text = s_repeat("r", 200);
    char *body = zsys_sprintf("{\"reason\": \"%s\"}", text);
    s_expect_cancel(body, text, NULL);
    zstr_free(&body);
    freen(text);
    text = s_repeat("\\u00e9", 200);
    body = zsys_sprintf("{\"reason\": \"%s\"}", text);
    json_t *parsed = s_load(body);
    char reason[ORDER_REASON_SIZE];
    order_api_error_t error;
    assert_int_equal(order_api_parse_cancel(parsed, reason, &error), 0);
    assert_int_equal(strlen(reason), 400);
    json_decref(parsed);
    zstr_free(&body);
    freen(text);
    text = s_repeat("r", 201);
    body = zsys_sprintf("{\"reason\": \"%s\"}", text);
    s_expect_cancel(body, "invalid_value", "reason");
    zstr_free(&body);
    freen(text);
}

//  --------------------------------------------------------------------------
//  Header, query and path checks.

static void
test_checks(void **state)
{
    (void) state;
    order_api_error_t error;
    assert_int_equal(order_api_check_idempotency_key(NULL, &error), 0);
    assert_int_equal(order_api_check_idempotency_key("k", &error), 0);
    assert_int_equal(order_api_check_idempotency_key("key with spaces ~!", &error), 0);
    char *key = s_repeat("k", 255);
    assert_int_equal(order_api_check_idempotency_key(key, &error), 0);
    freen(key);
    key = s_repeat("k", 256);
    const char *bad_keys[] = {"", "tab\there", "nl\n", "del\x7f", "\xc3\xa9", key};
    for (size_t index = 0; index < sizeof bad_keys / sizeof bad_keys[0]; index++) {
        assert_int_equal(order_api_check_idempotency_key(bad_keys[index], &error), -1);
        assert_string_equal(error.code, "invalid_value");
        assert_string_equal(error.field, "Idempotency-Key");
        assert_int_equal(error.status, 400);
    }
    freen(key);

    assert_int_equal(order_api_check_customer_id("c-42", &error), 0);
    assert_int_equal(order_api_check_customer_id(NULL, &error), -1);
    assert_string_equal(error.code, "missing_field");
    assert_string_equal(error.field, "customerId");
    const char *bad_customers[] = {"", "a\x01", "\xff\xfe", "\xc2\x85"};
    for (size_t index = 0; index < sizeof bad_customers / sizeof bad_customers[0]; index++) {
        assert_int_equal(order_api_check_customer_id(bad_customers[index], &error), -1);
        assert_string_equal(error.code, "invalid_value");
        assert_string_equal(error.field, "customerId");
    }
    char *long_customer = s_repeat("c", 65);
    assert_int_equal(order_api_check_customer_id(long_customer, &error), -1);
    freen(long_customer);

    svc_uuid_t id;
    assert_int_equal(order_api_parse_id("01936b2e-8f3c-7a4b-9c2d-0123456789ab", "id", &id, &error),
                     0);
    assert_int_equal(id.bytes[0], 0x01);
    assert_int_equal(id.bytes[15], 0xab);
    const char *bad_ids[] = {"", "x", "01936b2e-8f3c-7a4b-9c2d-0123456789a",
                             "{01936b2e-8f3c-7a4b-9c2d-0123456789ab}"};
    for (size_t index = 0; index < sizeof bad_ids / sizeof bad_ids[0]; index++) {
        assert_int_equal(order_api_parse_id(bad_ids[index], "after", &id, &error), -1);
        assert_string_equal(error.code, "invalid_uuid");
        assert_string_equal(error.field, "after");
    }
}

//  --------------------------------------------------------------------------
//  Rendering.

static void
test_render(void **state)
{
    (void) state;
    order_create_t command;
    s_expect_ok(BODY("\"c-42\"", "\"EUR\"",
                     "[{\"sku\": \"SKU-1\", \"quantity\": 2, \"unitPrice\": \"19.99\"},"
                     " {\"sku\": \"SKU-2\", \"quantity\": 1, \"unitPrice\": \"19.9\"}]"),
                &command);
    svc_uuid_t id;
    assert_int_equal(svc_uuid_parse("01936b2e-8f3c-7a4b-9c2d-0123456789ab", &id), 0);
    order_view_t view;
    memset(&view, 0, sizeof view);
    //  2026-11-28T04:10:00.123456Z
    int64_t at_us = INT64_C(1795839000123456);
    order_view_set_created(&view, &id, &command, "4bf92f3577b34da6a3ce929d0e0e4736", at_us,
                           "order-0", 17);
    json_t *order = order_api_render(&view, true);
    char *text = json_dumps(order, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        text, "{\"cancelReason\":null,\"createdAt\":\"2026-11-28T04:10:00.123456Z\","
              "\"currency\":\"EUR\",\"customerId\":\"c-42\","
              "\"history\":[{\"at\":\"2026-11-28T04:10:00.123456Z\",\"event\":\"OrderCreated\","
              "\"seq\":17,\"stream\":\"order-0\"}],"
              "\"items\":[{\"quantity\":2,\"sku\":\"SKU-1\",\"unitPrice\":\"19.99\"},"
              "{\"quantity\":1,\"sku\":\"SKU-2\",\"unitPrice\":\"19.90\"}],"
              "\"orderId\":\"01936b2e-8f3c-7a4b-9c2d-0123456789ab\",\"paymentStarted\":false,"
              "\"status\":\"PENDING\",\"stockReserved\":false,\"total\":\"59.88\","
              "\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
              "\"updatedAt\":\"2026-11-28T04:10:00.123456Z\"}");
    freen(text);
    json_decref(order);

    //  A rejected order: reason, flags, a compensating cancel with reason;
    //  list pages have no history; an unknown seq renders null.
    view.state = (order_state_t){.status = ORDER_REJECTED, .payment_started = true};
    view.cancel_reason = strdup("out of stock: SKU-1 (requested 2, available 1)");
    view.updated_at_us = at_us + 1000000;
    view.history = realloc(view.history, 3 * sizeof *view.history);
    view.history[1] = (order_history_entry_t){.event = strdup("StockRejected"),
                                              .stream = strdup("inventory-0"),
                                              .seq = 9,
                                              .at_us = at_us + 500000};
    view.history[2] = (order_history_entry_t){.event = strdup("OrderCancelled"),
                                              .stream = strdup("order-0"),
                                              .seq = 0,
                                              .at_us = at_us + 1000000,
                                              .reason = strdup(view.cancel_reason)};
    view.history_count = 3;
    order = order_api_render(&view, true);
    assert_string_equal(json_string_value(json_object_get(order, "status")), "REJECTED");
    assert_true(json_is_false(json_object_get(order, "stockReserved")));
    assert_true(json_is_true(json_object_get(order, "paymentStarted")));
    assert_string_equal(json_string_value(json_object_get(order, "cancelReason")),
                        view.cancel_reason);
    assert_string_equal(json_string_value(json_object_get(order, "updatedAt")),
                        "2026-11-28T04:10:01.123456Z");
    json_t *history = json_object_get(order, "history");
    assert_int_equal(json_array_size(history), 3);
    assert_null(json_object_get(json_array_get(history, 1), "reason"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(history, 2), "reason")),
                        view.cancel_reason);
    assert_true(json_is_null(json_object_get(json_array_get(history, 2), "seq")));
    json_decref(order);
    order = order_api_render(&view, false);
    assert_null(json_object_get(order, "history"));
    assert_int_equal(json_array_size(json_object_get(order, "items")), 2);
    json_decref(order);
    order_view_clear(&view);
    assert_null(view.items);
    assert_null(view.history);
    order_view_clear(&view); //  twice is fine

    char at[ORDER_TIME_TEXT_SIZE];
    assert_string_equal(order_api_format_time(0, at), "1970-01-01T00:00:00.000000Z");
    assert_string_equal(order_api_format_time(1, at), "1970-01-01T00:00:00.000001Z");
    assert_string_equal(order_api_format_time(-1, at), "1969-12-31T23:59:59.999999Z");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example), cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_create_limits), cmocka_unit_test(test_create_valid),
        cmocka_unit_test(test_fingerprint),   cmocka_unit_test(test_cancel_body),
        cmocka_unit_test(test_checks),        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
