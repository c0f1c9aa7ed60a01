/*  =========================================================================
    ordersctl_test - the pure parts of ordersctl: arguments, item specs,
    requests, tables and rendering

    The first case is the usage example of ordersctl_args.h. Then tables
    of command lines the parser must accept (with what it must make of
    them) and must refuse (with the flag its message must name), item
    specs, the request each command stands for (method, URL with escaping,
    headers, body), table layout (alignment, UTF-8 widths, control
    characters, cutting), and the text printed for answers and errors,
    compared in full against what a user sees.
    =========================================================================
*/
#include "ordersctl_classes.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  Most arguments of one command line in the tables below.
#define ARGV_MAX 16

//  A command line the parser must refuse, and a text its message contains.
typedef struct {
    const char *line[ARGV_MAX]; //  arguments after "ordersctl", NULL-terminated
    const char *message;        //  expected part of args.error
} refusal_t;

//  ---------------------------------------------------------------------
//  A fake environment: ORDER_URL set, the others not.

static char *
s_env_order_url(const char *name)
{
    static char order_url[] = "http://orders.test:9000/";
    return streq(name, "ORDER_URL") ? order_url : NULL;
}

static char *
s_env_empty(const char *name)
{
    (void) name;
    return NULL;
}

static char *
s_env_bad_url(const char *name)
{
    static char bad[] = "ftp://x";
    return streq(name, "BILLING_URL") ? bad : NULL;
}

//  ---------------------------------------------------------------------
//  Parse "ordersctl" + `line` (NULL-terminated) with `env`.

static int
s_parse(ordersctl_args_t *args, const char *const *line, ordersctl_getenv_fn *env)
{
    char *argv[ARGV_MAX + 2] = {(char *) "ordersctl"};
    int argc = 1;
    while (line[argc - 1]) {
        assert_true(argc <= ARGV_MAX);
        argv[argc] = (char *) line[argc - 1];
        argc++;
    }
    return ordersctl_args_parse(args, argc, argv, env);
}

//  ---------------------------------------------------------------------
//  Render into a string with `render`; caller frees the result.

typedef void(render_fn)(FILE *out, const void *arg);

static char *
s_capture(render_fn *render, const void *arg)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    render(out, arg);
    assert_int_equal(fclose(out), 0);
    return text;
}

//  ---------------------------------------------------------------------
//  The usage example of the header: a create command.

static void
test_usage_example(void **state)
{
    (void) state;
    ordersctl_args_t args;
    const char *line[] = {"create", "--customer", "c-42",          "--currency",
                          "EUR",    "--item",     "SKU-1:2:19.99", "--item=SKU-2:1:5",
                          "--json", NULL};
    assert_int_equal(s_parse(&args, line, s_env_empty), 0);
    assert_false(args.help);
    assert_int_equal(args.command, ORDERSCTL_CREATE);
    assert_string_equal(args.name, "create");
    assert_string_equal(args.customer, "c-42");
    assert_string_equal(args.currency, "EUR");
    assert_int_equal(args.item_count, 2);
    assert_string_equal(args.items[0].sku, "SKU-1");
    assert_int_equal(args.items[0].quantity, 2);
    assert_string_equal(args.items[0].unit_price, "19.99");
    assert_string_equal(args.items[1].sku, "SKU-2");
    assert_string_equal(args.items[1].unit_price, "5");
    assert_true(args.json);
    assert_int_equal(args.timeout_ms, ORDERSCTL_TIMEOUT_MS_DEFAULT);
    assert_string_equal(args.urls[ORDERSCTL_SERVICE_ORDER], ORDERSCTL_ORDER_URL_DEFAULT);
    assert_string_equal(args.urls[ORDERSCTL_SERVICE_INVENTORY], ORDERSCTL_INVENTORY_URL_DEFAULT);
    assert_string_equal(args.urls[ORDERSCTL_SERVICE_BILLING], ORDERSCTL_BILLING_URL_DEFAULT);
}

//  ---------------------------------------------------------------------
//  Every command is recognised, with its positionals and options, and
//  options may stand anywhere on the line.

static void
test_parse_commands(void **state)
{
    (void) state;
    ordersctl_args_t args;
    const char *cancel[] = {"--timeout-ms", "250", "cancel", "O-1", "--reason", "late", NULL};
    assert_int_equal(s_parse(&args, cancel, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_CANCEL);
    assert_string_equal(args.id, "O-1");
    assert_string_equal(args.reason, "late");
    assert_int_equal(args.timeout_ms, 250);

    const char *get[] = {"get", "O-2", "--json", NULL};
    assert_int_equal(s_parse(&args, get, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_GET);
    assert_string_equal(args.id, "O-2");
    assert_true(args.json);

    const char *list[] = {"list", "--customer", "c", "--limit", "5", "--after", "O-3", NULL};
    assert_int_equal(s_parse(&args, list, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_LIST);
    assert_int_equal(args.limit, 5);
    assert_string_equal(args.after, "O-3");

    const char *stock_set[] = {"stock", "set", "SKU-1", "100", NULL};
    assert_int_equal(s_parse(&args, stock_set, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_STOCK_SET);
    assert_string_equal(args.name, "stock set");
    assert_string_equal(args.id, "SKU-1");
    assert_int_equal(args.available, 100);

    //  `--` lets a SKU that starts with '-' through.
    const char *stock_dash[] = {"stock", "set", "--", "-SKU", "0", NULL};
    assert_int_equal(s_parse(&args, stock_dash, s_env_empty), 0);
    assert_string_equal(args.id, "-SKU");
    assert_int_equal(args.available, 0);

    const char *stock_all[] = {"stock", "get", "--limit", "2", "--after", "SKU-1", NULL};
    assert_int_equal(s_parse(&args, stock_all, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_STOCK_GET);
    assert_null(args.id);
    assert_int_equal(args.limit, 2);

    const char *payment[] = {"payment", "get", "O-4", NULL};
    assert_int_equal(s_parse(&args, payment, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_PAYMENT_GET);

    const char *letters[] = {"dead-letters", "list",    "--service", "billing", "--consumer",
                             "billing",      "--after", "7",         NULL};
    assert_int_equal(s_parse(&args, letters, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_DEAD_LETTERS_LIST);
    assert_int_equal(args.service, ORDERSCTL_SERVICE_BILLING);
    assert_string_equal(args.consumer, "billing");

    const char *retry[] = {"dead-letters", "retry", "--service=inventory", "12", NULL};
    assert_int_equal(s_parse(&args, retry, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_DEAD_LETTERS_RETRY);
    assert_int_equal(args.service, ORDERSCTL_SERVICE_INVENTORY);
    assert_string_equal(args.id, "12");

    const char *discard[] = {"dead-letters", "discard", "3", "--service", "order", NULL};
    assert_int_equal(s_parse(&args, discard, s_env_empty), 0);
    assert_int_equal(args.command, ORDERSCTL_DEAD_LETTERS_DISCARD);
    assert_int_equal(args.service, ORDERSCTL_SERVICE_ORDER);
}

//  ---------------------------------------------------------------------
//  --help shows the text of the command named so far, whatever else is
//  on the line, and needs no required option.

static void
test_parse_help(void **state)
{
    (void) state;
    ordersctl_args_t args;
    const char *alone[] = {"--help", NULL};
    assert_int_equal(s_parse(&args, alone, s_env_empty), 0);
    assert_true(args.help);
    assert_int_equal(args.command, ORDERSCTL_NONE);
    assert_ptr_equal(args.usage, ordersctl_usage());
    assert_non_null(strstr(args.usage, "dead-letters discard"));
    assert_non_null(strstr(args.usage, "Exit status"));

    const char *create[] = {"create", "-h", NULL};
    assert_int_equal(s_parse(&args, create, s_env_empty), 0);
    assert_true(args.help);
    assert_non_null(strstr(args.usage, "Usage: ordersctl create"));
    assert_non_null(strstr(args.usage, "--idempotency-key"));

    const char *group[] = {"stock", "--help", NULL};
    assert_int_equal(s_parse(&args, group, s_env_empty), 0);
    assert_true(args.help);
    assert_non_null(strstr(args.usage, "ordersctl stock set SKU AVAILABLE"));
    assert_non_null(strstr(args.usage, "ordersctl stock get [SKU]"));

    const char *sub[] = {"dead-letters", "retry", "--help", NULL};
    assert_int_equal(s_parse(&args, sub, s_env_empty), 0);
    assert_non_null(strstr(args.usage, "dead-letters retry --service S ID"));

    //  A malformed option wins over --help, and the command is still named.
    const char *malformed[] = {"stock", "set", "--help", "--bogus", NULL};
    assert_int_equal(s_parse(&args, malformed, s_env_empty), -1);
    assert_string_equal(args.error, "unknown option '--bogus'");
    assert_string_equal(args.name, "stock set");

    const char *unknown[] = {"frobnicate", "--help", NULL};
    assert_int_equal(s_parse(&args, unknown, s_env_empty), -1);
    assert_string_equal(args.error, "unknown command 'frobnicate'");
}

//  ---------------------------------------------------------------------
//  Refusals: each names the flag or argument at fault.

static void
test_parse_refusals(void **state)
{
    (void) state;
    static const refusal_t cases[] = {
        {{NULL}, "no command given"},
        {{"frobnicate", NULL}, "unknown command 'frobnicate'"},
        {{"stock", NULL}, "'stock' needs a subcommand"},
        {{"stock", "delete", "X", NULL}, "unknown command 'stock delete'"},
        {{"get", "O-1", "--bogus", NULL}, "unknown option '--bogus'"},
        {{"get", "O-1", "-x", NULL}, "unknown option '-x'"},
        {{"get", "O-1", "--jsonx", NULL}, "unknown option '--jsonx'"},
        {{"get", "O-1", "--json=yes", NULL}, "--json takes no value"},
        {{"get", NULL}, "ORDER_ID is missing"},
        {{"get", "O-1", "O-2", NULL}, "unexpected argument 'O-2'"},
        {{"get", "", NULL}, "ORDER_ID is empty"},
        {{"stock", "set", "SKU-1", "", NULL}, "AVAILABLE is empty"},
        {{"get", "O-1", "--reason", "x", NULL}, "--reason is not an option of 'ordersctl get'"},
        {{"get", "O-1", "--timeout-ms", NULL}, "--timeout-ms needs a value"},
        {{"get", "O-1", "--timeout-ms", "--json", NULL}, "--timeout-ms needs a value"},
        {{"get", "O-1", "--timeout-ms=", NULL}, "--timeout-ms needs a value"},
        {{"get", "O-1", "--timeout-ms", "0", NULL}, "--timeout-ms '0' is not a whole number"},
        {{"get", "O-1", "--timeout-ms", "1e3", NULL}, "--timeout-ms '1e3' is not a whole number"},
        {{"get", "O-1", "--timeout-ms", "-5", NULL}, "--timeout-ms '-5' is not a whole number"},
        {{"get", "O-1", "--timeout-ms", "3600001", NULL}, "--timeout-ms '3600001'"},
        {{"get", "O-1", "--json", "--json", NULL}, "--json given more than once"},
        {{"get", "O-1", "--order-url", "localhost:8080", NULL},
         "--order-url 'localhost:8080' is not an http:// or https:// URL"},
        {{"get", "O-1", "--order-url", "http://a b", NULL}, "--order-url 'http://a b'"},
        {{"create", "--currency", "EUR", "--item", "S:1:1", NULL},
         "--customer is required by 'ordersctl create'"},
        {{"create", "--customer", "c", "--item", "S:1:1", NULL}, "--currency is required"},
        {{"create", "--customer", "c", "--currency", "EUR", NULL}, "--item is required"},
        {{"create", "--customer", "c", "--customer", "d", NULL}, "--customer given more than once"},
        {{"create", "--item", "S:1", NULL}, "--item 'S:1' is not SKU:QTY:PRICE"},
        {{"create", "--idempotency-key", "a\r\nX-Evil: 1", NULL},
         "--idempotency-key must be 1 to 255 printable ASCII characters"},
        {{"create", "--traceparent", "t\x01", NULL}, "--traceparent must be 1 to 255"},
        {{"create", "x", NULL}, "unexpected argument 'x'"},
        {{"list", NULL}, "--customer is required by 'ordersctl list'"},
        {{"list", "--customer", "c", "--limit", "0", NULL}, "--limit '0' is not a whole number"},
        {{"list", "--customer", "c", "--limit", "ten", NULL}, "--limit 'ten'"},
        {{"list", "--customer", "c", "--limit", "99999999999999999999", NULL},
         "--limit '99999999999999999999'"},
        {{"stock", "set", "SKU-1", NULL}, "AVAILABLE is missing"},
        {{"stock", "set", "SKU-1", "-1", NULL}, "AVAILABLE '-1' is not a whole number"},
        {{"stock", "set", "SKU-1", "1.5", NULL}, "AVAILABLE '1.5'"},
        {{"stock", "set", "SKU-1", "1000000001", NULL}, "AVAILABLE '1000000001'"},
        {{"stock", "get", "SKU-1", "--limit", "5", NULL}, "--limit lists all SKUs"},
        {{"stock", "get", "A", "B", NULL}, "unexpected argument 'B'"},
        {{"dead-letters", "list", NULL}, "--service is required"},
        {{"dead-letters", "list", "--service", "shipping", NULL},
         "--service 'shipping' is not order, inventory or billing"},
        {{"dead-letters", "list", "--service", "order", "--after", "x", NULL},
         "--after 'x' is not a dead-letter id"},
        {{"dead-letters", "retry", "--service", "order", "0", NULL},
         "ID '0' is not a dead-letter id"},
        {{"dead-letters", "discard", "--service", "order", "abc", NULL}, "ID 'abc'"},
        {{"dead-letters", "retry", "7", NULL}, "--service is required"},
        {{"payment", "get", "O-1", "--service", "billing", NULL},
         "--service is not an option of 'ordersctl payment get'"},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        ordersctl_args_t args;
        if (s_parse(&args, cases[index].line, s_env_empty) != -1) {
            fail_msg("case %zu (%s ...): accepted, want \"%s\"", index,
                     cases[index].line[0] ? cases[index].line[0] : "", cases[index].message);
        }
        if (!strstr(args.error, cases[index].message)) {
            fail_msg("case %zu: \"%s\", want \"%s\"", index, args.error, cases[index].message);
        }
    }
}

//  ---------------------------------------------------------------------
//  URLs: a flag beats the environment, the environment beats the default,
//  and a bad URL in the environment is refused by its name.

static void
test_parse_urls(void **state)
{
    (void) state;
    ordersctl_args_t args;
    const char *plain[] = {"get", "O-1", NULL};
    assert_int_equal(s_parse(&args, plain, s_env_order_url), 0);
    assert_string_equal(args.urls[ORDERSCTL_SERVICE_ORDER], "http://orders.test:9000/");
    assert_string_equal(args.urls[ORDERSCTL_SERVICE_BILLING], ORDERSCTL_BILLING_URL_DEFAULT);

    const char *flag[] = {
        "get", "O-1", "--order-url", "https://o.test", "--billing-url", "http://b.test:1", NULL};
    assert_int_equal(s_parse(&args, flag, s_env_order_url), 0);
    assert_string_equal(args.urls[ORDERSCTL_SERVICE_ORDER], "https://o.test");
    assert_string_equal(args.urls[ORDERSCTL_SERVICE_BILLING], "http://b.test:1");

    assert_int_equal(s_parse(&args, plain, s_env_bad_url), -1);
    assert_string_equal(args.error, "BILLING_URL 'ftp://x' is not an http:// or https:// URL");
}

//  ---------------------------------------------------------------------
//  Item specs: the accepted forms and the refusals, each saying which
//  part is wrong.

static void
test_item_parse(void **state)
{
    (void) state;
    ordersctl_item_t item;
    char error[ORDERSCTL_ERROR_SIZE];
    assert_int_equal(ordersctl_item_parse("SKU-1:2:19.99", &item, error, sizeof error), 0);
    assert_string_equal(item.sku, "SKU-1");
    assert_int_equal(item.quantity, 2);
    assert_string_equal(item.unit_price, "19.99");
    assert_int_equal(ordersctl_item_parse("a.b_c:1000:0", &item, error, sizeof error), 0);
    assert_string_equal(item.sku, "a.b_c");
    assert_int_equal(item.quantity, 1000);
    assert_string_equal(item.unit_price, "0");

    char longest[ORDERSCTL_SKU_MAX + 8];
    memset(longest, 'S', ORDERSCTL_SKU_MAX);
    memcpy(longest + ORDERSCTL_SKU_MAX, ":1:1", sizeof ":1:1");
    assert_int_equal(ordersctl_item_parse(longest, &item, error, sizeof error), 0);
    assert_int_equal(strlen(item.sku), ORDERSCTL_SKU_MAX);

    static const struct {
        const char *spec;
        const char *message;
    } refused[] = {
        {"SKU-1", "is not SKU:QTY:PRICE"},
        {"SKU-1:2", "is not SKU:QTY:PRICE"},
        {"A:B:1:2", "is not SKU:QTY:PRICE"},
        {":2:1.00", "SKU must be 1 to 64 characters"},
        {"SKU::1", "QTY must be a whole number from 1 to 1000000000"},
        {"SKU:0:1", "QTY must be"},
        {"SKU:-1:1", "QTY must be"},
        {"SKU:1.5:1", "QTY must be"},
        {"SKU:2x:1", "QTY must be"},
        {"SKU:123456789012345678901234:1", "QTY must be"},
        {"SKU:1:", "PRICE must be a decimal like 19.99"},
        {"SKU:1:abc", "PRICE must be"},
        {"SKU:1:1.", "PRICE must be"},
        {"SKU:1:.5", "PRICE must be"},
        {"SKU:1:-1", "PRICE must be"},
        {"SKU:1:1,50", "PRICE must be"},
        {"SKU:1:1e3", "PRICE must be"},
        {"SKU:1:1234567890123456789012345", "PRICE must be"},
    };
    for (size_t index = 0; index < sizeof refused / sizeof refused[0]; index++) {
        if (ordersctl_item_parse(refused[index].spec, &item, error, sizeof error) != -1) {
            fail_msg("'%s' accepted", refused[index].spec);
        }
        if (!strstr(error, refused[index].message) || !strstr(error, "--item '")) {
            fail_msg("'%s': \"%s\", want \"%s\"", refused[index].spec, error,
                     refused[index].message);
        }
    }
    memset(longest, 'S', ORDERSCTL_SKU_MAX + 1);
    memcpy(longest + ORDERSCTL_SKU_MAX + 1, ":1:1", sizeof ":1:1");
    assert_int_equal(ordersctl_item_parse(longest, &item, error, sizeof error), -1);
    assert_non_null(strstr(error, "SKU must be 1 to 64 characters"));
}

//  ---------------------------------------------------------------------
//  More than ORDERSCTL_ITEMS_MAX --item options are refused.

static void
test_parse_too_many_items(void **state)
{
    (void) state;
    const char *head[] = {"ordersctl", "create", "--customer", "c", "--currency", "EUR"};
    size_t head_count = sizeof head / sizeof head[0];
    int argc = (int) head_count + 2 * (ORDERSCTL_ITEMS_MAX + 1);
    char **argv = (char **) zmalloc((size_t) (argc + 1) * sizeof *argv);
    int index = 0;
    for (; index < (int) head_count; index++) {
        argv[index] = (char *) head[index];
    }
    while (index < argc) {
        argv[index++] = (char *) "--item";
        argv[index++] = (char *) "S:1:1";
    }
    ordersctl_args_t args;
    //  Exactly the limit passes; one more is refused.
    assert_int_equal(ordersctl_args_parse(&args, argc - 2, argv, s_env_empty), 0);
    assert_int_equal(args.item_count, ORDERSCTL_ITEMS_MAX);
    assert_int_equal(ordersctl_args_parse(&args, argc, argv, s_env_empty), -1);
    assert_string_equal(args.error, "--item given more than 100 times");
    freen(argv);
}

//  ---------------------------------------------------------------------
//  Requests: method, URL (escaped), headers and body of each command.

static void
test_request_create(void **state)
{
    (void) state;
    ordersctl_args_t args;
    const char *line[] = {"create",
                          "--customer",
                          "c \"42\"",
                          "--currency",
                          "EUR",
                          "--item",
                          "SKU-1:2:19.99",
                          "--item",
                          "SKU-2:1:5",
                          "--idempotency-key",
                          "key-1",
                          "--traceparent",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          NULL};
    assert_int_equal(s_parse(&args, line, s_env_order_url), 0);
    ordersctl_request_t *request = ordersctl_request_new(&args);
    assert_int_equal(request->service, ORDERSCTL_SERVICE_ORDER);
    assert_string_equal(request->method, "POST");
    assert_string_equal(request->url, "http://orders.test:9000/orders");
    assert_string_equal(request->body,
                        "{\"customerId\":\"c \\\"42\\\"\",\"currency\":\"EUR\",\"items\":["
                        "{\"sku\":\"SKU-1\",\"quantity\":2,\"unitPrice\":\"19.99\"},"
                        "{\"sku\":\"SKU-2\",\"quantity\":1,\"unitPrice\":\"5\"}]}");
    assert_string_equal(request->headers[0], "Accept: application/json");
    assert_string_equal(request->headers[1], "Content-Type: application/json");
    assert_string_equal(request->headers[2], "Idempotency-Key: key-1");
    assert_string_equal(request->headers[3],
                        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_null(request->headers[4]);
    ordersctl_request_destroy(&request);
    assert_null(request);
    ordersctl_request_destroy(&request);
}

//  ---------------------------------------------------------------------
//  The other commands: path parameters and query values are escaped, so
//  no argument can change the route.

static void
test_request_routes(void **state)
{
    (void) state;
    static const struct {
        const char *line[ARGV_MAX];
        const char *method;
        const char *url;
        const char *body; //  NULL: none
    } cases[] = {
        {{"cancel", "O-1", NULL}, "POST", "http://127.0.0.1:8080/orders/O-1/cancel", NULL},
        {{"cancel", "O-1", "--reason", "too late", NULL},
         "POST",
         "http://127.0.0.1:8080/orders/O-1/cancel",
         "{\"reason\":\"too late\"}"},
        {{"get", "../stock/x?y#z", NULL},
         "GET",
         "http://127.0.0.1:8080/orders/..%2Fstock%2Fx%3Fy%23z",
         NULL},
        {{"list", "--customer", "c&d=e", NULL},
         "GET",
         "http://127.0.0.1:8080/orders?customerId=c%26d%3De",
         NULL},
        {{"list", "--customer", "c\xc3\xa9", "--limit", "5", "--after", "O-9", NULL},
         "GET",
         "http://127.0.0.1:8080/orders?customerId=c%C3%A9&limit=5&after=O-9",
         NULL},
        {{"stock", "set", "SKU-1", "100", NULL},
         "PUT",
         "http://127.0.0.1:8081/stock/SKU-1",
         "{\"available\":100}"},
        {{"stock", "get", "SKU 1", NULL}, "GET", "http://127.0.0.1:8081/stock/SKU%201", NULL},
        {{"stock", "get", NULL}, "GET", "http://127.0.0.1:8081/stock", NULL},
        {{"stock", "get", "--after", "SKU-1", "--limit", "3", NULL},
         "GET",
         "http://127.0.0.1:8081/stock?limit=3&after=SKU-1",
         NULL},
        {{"payment", "get", "O-1", NULL}, "GET", "http://127.0.0.1:8082/payments/O-1", NULL},
        {{"dead-letters", "list", "--service", "inventory", NULL},
         "GET",
         "http://127.0.0.1:8081/dead-letters",
         NULL},
        {{"dead-letters", "list", "--service", "billing", "--consumer", "billing", "--after", "4",
          "--limit", "10", NULL},
         "GET",
         "http://127.0.0.1:8082/dead-letters?consumer=billing&after=4&limit=10",
         NULL},
        {{"dead-letters", "retry", "--service", "order", "7", NULL},
         "POST",
         "http://127.0.0.1:8080/dead-letters/7/retry",
         NULL},
        {{"dead-letters", "discard", "--service", "billing", "7", NULL},
         "DELETE",
         "http://127.0.0.1:8082/dead-letters/7",
         NULL},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        ordersctl_args_t args;
        if (s_parse(&args, cases[index].line, s_env_empty) != 0) {
            fail_msg("case %zu refused: %s", index, args.error);
        }
        ordersctl_request_t *request = ordersctl_request_new(&args);
        if (!streq(request->method, cases[index].method) ||
            !streq(request->url, cases[index].url)) {
            fail_msg("case %zu: %s %s, want %s %s", index, request->method, request->url,
                     cases[index].method, cases[index].url);
        }
        assert_string_equal(request->headers[0], "Accept: application/json");
        if (cases[index].body) {
            assert_non_null(request->body);
            assert_string_equal(request->body, cases[index].body);
            assert_string_equal(request->headers[1], "Content-Type: application/json");
            assert_null(request->headers[2]);
        } else {
            assert_null(request->body);
            assert_null(request->headers[1]);
        }
        ordersctl_request_destroy(&request);
    }
}

//  ---------------------------------------------------------------------
//  Trailing slashes of a base URL are dropped; escaping keeps only the
//  unreserved characters.

static void
test_request_base_and_escape(void **state)
{
    (void) state;
    ordersctl_args_t args;
    const char *line[] = {"get", "O-1", "--order-url", "http://h:1/base//", NULL};
    assert_int_equal(s_parse(&args, line, s_env_empty), 0);
    ordersctl_request_t *request = ordersctl_request_new(&args);
    assert_string_equal(request->url, "http://h:1/base/orders/O-1");
    ordersctl_request_destroy(&request);

    char *escaped = ordersctl_url_escape("aZ09-._~ /?%#&=+\n");
    assert_string_equal(escaped, "aZ09-._~%20%2F%3F%25%23%26%3D%2B%0A");
    zstr_free(&escaped);
    escaped = ordersctl_url_escape("");
    assert_string_equal(escaped, "");
    zstr_free(&escaped);
}

//  ---------------------------------------------------------------------
//  Tables: columns padded to the widest cell, numbers right-aligned, no
//  trailing blanks, a short last row, an indent.

static void
s_render_basic_table(FILE *out, const void *arg)
{
    (void) arg;
    const char *headers[] = {"SKU", "AVAILABLE", "NOTE"};
    ordersctl_table_t *table = ordersctl_table_new(3, headers);
    ordersctl_table_set_right(table, 1);
    ordersctl_table_add(table, "SKU-1");
    ordersctl_table_addf(table, "%d", 100);
    ordersctl_table_add(table, "ok");
    ordersctl_table_add(table, "SKU-22");
    ordersctl_table_add(table, "5");
    ordersctl_table_add(table, NULL);
    ordersctl_table_add(table, "X");
    assert_int_equal(ordersctl_table_rows(table), 3);
    assert_int_equal(ordersctl_table_print(table, out, 2), 0);
    ordersctl_table_destroy(&table);
    assert_null(table);
    ordersctl_table_destroy(&table);
}

static void
test_table_layout(void **state)
{
    (void) state;
    char *text = s_capture(s_render_basic_table, NULL);
    assert_string_equal(text, "  SKU     AVAILABLE  NOTE\n"
                              "  SKU-1         100  ok\n"
                              "  SKU-22          5  -\n"
                              "  X\n");
    free(text);
}

//  ---------------------------------------------------------------------
//  Widths count characters, not bytes; control characters (C0, DEL, C1)
//  become '?'; a cut column ends in "...", also inside multi-byte text.

static void
s_render_unicode_table(FILE *out, const void *arg)
{
    (void) arg;
    ordersctl_table_t *table = ordersctl_table_new(2, NULL);
    ordersctl_table_set_max_width(table, 1, 6);
    ordersctl_table_add(table, "\xc3\xa9t\xc3\xa9"); //  "été": 3 characters
    ordersctl_table_add(table, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"); //  7
    ordersctl_table_add(table, "a\x1b[2Jb\x7f\xc2\x9b"
                               "c");
    ordersctl_table_add(table, "123456");
    assert_int_equal(ordersctl_table_print(table, out, 0), 0);
    ordersctl_table_destroy(&table);
}

static void
test_table_unicode_and_control(void **state)
{
    (void) state;
    assert_int_equal(ordersctl_text_width("\xc3\xa9t\xc3\xa9"), 3);
    assert_int_equal(ordersctl_text_width(""), 0);
    char *clean = ordersctl_text_sanitize("a\tb\nc\x7f\xc2\x85\xc2\xa0");
    assert_string_equal(clean, "a?b?c??\xc2\xa0"); //  U+00A0 is not a control
    zstr_free(&clean);
    char *text = s_capture(s_render_unicode_table, NULL);
    assert_string_equal(text, "\xc3\xa9t\xc3\xa9        \xc3\xa9\xc3\xa9\xc3\xa9...\n"
                              "a?[2Jb??c  123456\n");
    free(text);
}

//  ---------------------------------------------------------------------
//  Rendering: a whole order as `ordersctl get` prints it.

static const char s_order_json[] =
    "{\"orderId\": \"0193a1b2-0000-7000-8000-000000000001\", \"customerId\": \"c-42\","
    " \"currency\": \"EUR\", \"total\": \"59.97\", \"status\": \"PAYMENT_STARTED\","
    " \"stockReserved\": true, \"paymentStarted\": true, \"cancelReason\": null,"
    " \"traceId\": \"4bf92f3577b34da6a3ce929d0e0e4736\","
    " \"createdAt\": \"2026-11-28T04:10:00.123456Z\","
    " \"updatedAt\": \"2026-11-28T04:10:00.223456Z\","
    " \"items\": [{\"sku\": \"SKU-1\", \"quantity\": 2, \"unitPrice\": \"19.99\"},"
    "            {\"sku\": \"SKU-2\", \"quantity\": 1, \"unitPrice\": \"19.99\"}],"
    " \"history\": ["
    "  {\"event\": \"OrderCreated\", \"stream\": \"order-0\", \"seq\": 17,"
    "   \"at\": \"2026-11-28T04:10:00.123456Z\"},"
    "  {\"event\": \"StockReserved\", \"stream\": \"inventory-0\", \"seq\": 9,"
    "   \"at\": \"2026-11-28T04:10:00.150000Z\"},"
    "  {\"event\": \"PaymentStarted\", \"stream\": \"billing-0\", \"seq\": 10,"
    "   \"at\": \"2026-11-28T04:10:00.160000Z\"}]}";

typedef struct {
    ordersctl_command_t command; //  the command answered
    const char *json;            //  its answer
    bool replayed;               //  Idempotent-Replayed
} reply_case_t;

static void
s_render_reply_case(FILE *out, const void *arg)
{
    const reply_case_t *reply = (const reply_case_t *) arg;
    ordersctl_args_t args = {.command = reply->command};
    json_error_t error;
    json_t *body = json_loads(reply->json, 0, &error);
    if (!body) {
        fail_msg("test JSON: %s (line %d)", error.text, error.line);
    }
    assert_int_equal(ordersctl_render_reply(out, &args, body, reply->replayed), 0);
    json_decref(body);
}

static void
test_render_order(void **state)
{
    (void) state;
    reply_case_t reply = {ORDERSCTL_GET, s_order_json, false};
    char *text = s_capture(s_render_reply_case, &reply);
    assert_string_equal(text,
                        "Order     0193a1b2-0000-7000-8000-000000000001\n"
                        "Status    PAYMENT_STARTED\n"
                        "Customer  c-42\n"
                        "Total     59.97 EUR\n"
                        "Stock     reserved\n"
                        "Payment   started\n"
                        "Trace     4bf92f3577b34da6a3ce929d0e0e4736\n"
                        "Created   2026-11-28T04:10:00.123456Z\n"
                        "Updated   2026-11-28T04:10:00.223456Z\n"
                        "\n"
                        "Items\n"
                        "  SKU    QUANTITY  UNIT PRICE\n"
                        "  SKU-1         2       19.99\n"
                        "  SKU-2         1       19.99\n"
                        "\n"
                        "History\n"
                        "  #  EVENT           STREAM       SEQ  AT\n"
                        "  1  OrderCreated    order-0       17  2026-11-28T04:10:00.123456Z\n"
                        "  2  StockReserved   inventory-0    9  2026-11-28T04:10:00.150000Z\n"
                        "  3  PaymentStarted  billing-0     10  2026-11-28T04:10:00.160000Z\n");
    free(text);
}

//  ---------------------------------------------------------------------
//  A rejected order shows its reason, in the block and in the history;
//  missing fields show as "-"; a create that was replayed says so.

static void
test_render_order_rejected_and_replayed(void **state)
{
    (void) state;
    reply_case_t rejected = {
        ORDERSCTL_CANCEL,
        "{\"orderId\": \"O-1\", \"status\": \"REJECTED\", \"stockReserved\": false,"
        " \"cancelReason\": \"out of stock: SKU-3 (requested 1, available 0)\","
        " \"history\": [{\"event\": \"OrderCreated\", \"stream\": \"order-0\", \"seq\": 1,"
        " \"at\": \"t1\"}, {\"event\": \"OrderCancelled\", \"stream\": \"order-0\", \"seq\": 2,"
        " \"at\": \"t2\", \"reason\": \"out of stock: SKU-3\"}]}",
        false};
    char *text = s_capture(s_render_reply_case, &rejected);
    assert_string_equal(text, "Cancelled order O-1\n"
                              "Order     O-1\n"
                              "Status    REJECTED\n"
                              "Customer  -\n"
                              "Total     -\n"
                              "Stock     not reserved\n"
                              "Payment   -\n"
                              "Reason    out of stock: SKU-3 (requested 1, available 0)\n"
                              "Trace     -\n"
                              "Created   -\n"
                              "Updated   -\n"
                              "\n"
                              "History\n"
                              "  #  EVENT           STREAM   SEQ  AT  REASON\n"
                              "  1  OrderCreated    order-0    1  t1  -\n"
                              "  2  OrderCancelled  order-0    2  t2  out of stock: SKU-3\n");
    free(text);

    reply_case_t replayed = {ORDERSCTL_CREATE, "{\"orderId\": \"O-2\", \"items\": []}", true};
    text = s_capture(s_render_reply_case, &replayed);
    assert_non_null(strstr(text, "Order O-2 was created earlier with this idempotency key; "
                                 "nothing new was stored\n"));
    assert_non_null(strstr(text, "\nItems\n  SKU  QUANTITY  UNIT PRICE\n"));
    free(text);
}

//  ---------------------------------------------------------------------
//  Pages: orders, stock and dead letters, with the next page and when
//  empty.

static void
test_render_pages(void **state)
{
    (void) state;
    reply_case_t orders = {
        ORDERSCTL_LIST,
        "{\"items\": [{\"orderId\": \"O-2\", \"status\": \"PENDING\", \"total\": \"5.00\","
        " \"currency\": \"EUR\", \"items\": [{}], \"createdAt\": \"t2\"},"
        " {\"orderId\": \"O-1\", \"status\": \"PAYMENT_STARTED\", \"total\": \"159.97\","
        " \"currency\": \"EUR\", \"items\": [{}, {}, {}], \"createdAt\": \"t1\"}],"
        " \"next\": \"O-1\"}",
        false};
    char *text = s_capture(s_render_reply_case, &orders);
    assert_string_equal(text, "ORDER ID  STATUS            TOTAL  CURRENCY  ITEMS  CREATED\n"
                              "O-2       PENDING            5.00  EUR           1  t2\n"
                              "O-1       PAYMENT_STARTED  159.97  EUR           3  t1\n"
                              "Next page: --after O-1\n");
    free(text);

    reply_case_t none = {ORDERSCTL_LIST, "{\"items\": [], \"next\": null}", false};
    text = s_capture(s_render_reply_case, &none);
    assert_string_equal(text, "No orders.\n");
    free(text);

    reply_case_t stock = {
        ORDERSCTL_STOCK_GET,
        "{\"items\": [{\"sku\": \"SKU-1\", \"available\": 98, \"reserved\": 2,"
        " \"updatedAt\": \"t1\"}, {\"sku\": \"SKU-3\", \"available\": 0, \"reserved\": 0,"
        " \"updatedAt\": \"t3\"}], \"next\": null}",
        false};
    text = s_capture(s_render_reply_case, &stock);
    assert_string_equal(text, "SKU    AVAILABLE  RESERVED  UPDATED\n"
                              "SKU-1         98         2  t1\n"
                              "SKU-3          0         0  t3\n");
    free(text);

    reply_case_t one = {ORDERSCTL_STOCK_SET,
                        "{\"sku\": \"SKU-1\", \"available\": 10, \"reserved\": 0,"
                        " \"updatedAt\": \"t\"}",
                        false};
    text = s_capture(s_render_reply_case, &one);
    assert_string_equal(text, "SKU    AVAILABLE  RESERVED  UPDATED\n"
                              "SKU-1         10         0  t\n");
    free(text);

    reply_case_t letters = {
        ORDERSCTL_DEAD_LETTERS_LIST,
        "{\"items\": [{\"id\": 7, \"consumer\": \"billing\", \"stream\": \"order-0\","
        " \"seq\": 12, \"partition\": 3, \"type\": \"OrderCreated\", \"messageId\": \"m\","
        " \"error\": \"0123456789012345678901234567890123456789012345678901234567890123\","
        " \"attempts\": 5, \"firstFailedAt\": \"t0\", \"lastFailedAt\": \"t1\","
        " \"retryRequested\": false}], \"next\": 7}",
        false};
    text = s_capture(s_render_reply_case, &letters);
    assert_string_equal(
        text, "ID  CONSUMER  STREAM   SEQ  TYPE          ATTEMPTS  LAST FAILED  RETRY  ERROR\n"
              " 7  billing   order-0   12  OrderCreated         5  t1           no     "
              "012345678901234567890123456789012345678901234567890123456...\n"
              "Next page: --after 7\n");
    free(text);

    reply_case_t no_letters = {ORDERSCTL_DEAD_LETTERS_LIST, "{\"items\": [], \"next\": null}",
                               false};
    text = s_capture(s_render_reply_case, &no_letters);
    assert_string_equal(text, "No dead letters.\n");
    free(text);
}

//  ---------------------------------------------------------------------
//  A payment, and the one-line answers of retry and discard.

static void
test_render_payment_and_dead_letter_actions(void **state)
{
    (void) state;
    reply_case_t payment = {ORDERSCTL_PAYMENT_GET,
                            "{\"orderId\": \"O-1\", \"amount\": \"59.97\", \"currency\": \"EUR\","
                            " \"status\": \"STARTED\", \"startedAt\": \"t1\", \"voidedAt\": null,"
                            " \"traceId\": \"4bf9\"}",
                            false};
    char *text = s_capture(s_render_reply_case, &payment);
    assert_string_equal(text, "Order    O-1\n"
                              "Status   STARTED\n"
                              "Amount   59.97 EUR\n"
                              "Started  t1\n"
                              "Voided   -\n"
                              "Trace    4bf9\n");
    free(text);

    reply_case_t retry = {ORDERSCTL_DEAD_LETTERS_RETRY,
                          "{\"id\": 7, \"status\": \"retry_requested\"}", false};
    text = s_capture(s_render_reply_case, &retry);
    assert_non_null(strstr(text, "Dead letter 7: retry requested"));
    free(text);

    reply_case_t discard = {ORDERSCTL_DEAD_LETTERS_DISCARD,
                            "{\"id\": 7, \"status\": \"discarded\"}", false};
    text = s_capture(s_render_reply_case, &discard);
    assert_string_equal(text, "Dead letter 7: discarded\n");
    free(text);
}

//  ---------------------------------------------------------------------
//  --json prints the answer pretty, keys in the service's order.

static void
s_render_json_case(FILE *out, const void *arg)
{
    json_t *body = json_loads((const char *) arg, 0, NULL);
    assert_non_null(body);
    assert_int_equal(ordersctl_render_json(out, body), 0);
    json_decref(body);
}

static void
test_render_json(void **state)
{
    (void) state;
    char *text = s_capture(s_render_json_case, "{\"z\": 1, \"a\": [true, null]}");
    assert_string_equal(text, "{\n  \"z\": 1,\n  \"a\": [\n    true,\n    null\n  ]\n}\n");
    free(text);
}

//  ---------------------------------------------------------------------
//  Error answers: code, field and message from the error shape; the
//  status and a bounded, sanitized part of any other body.

typedef struct {
    long status;      //  HTTP status
    const char *body; //  body as received
} error_case_t;

static void
s_render_error_case(FILE *out, const void *arg)
{
    const error_case_t *reply = (const error_case_t *) arg;
    json_t *body = json_loads(reply->body, 0, NULL);
    assert_int_equal(ordersctl_render_error(out, "order-service", reply->status, body, reply->body,
                                            strlen(reply->body)),
                     0);
    json_decref(body);
}

static void
test_render_error(void **state)
{
    (void) state;
    error_case_t field = {400, "{\"error\": {\"status\": 400, \"code\": \"invalid_value\","
                               " \"field\": \"items[0].quantity\","
                               " \"message\": \"must be between 1 and 1000\"}}"};
    char *text = s_capture(s_render_error_case, &field);
    assert_string_equal(text, "ordersctl: order-service answered 400 invalid_value (field "
                              "items[0].quantity): must be between 1 and 1000\n");
    free(text);

    error_case_t conflict = {409, "{\"error\": {\"status\": 409, \"code\": \"conflict\","
                                  " \"field\": null, \"message\": \"order is already "
                                  "CANCELLED\"}, \"order\": {}}"};
    text = s_capture(s_render_error_case, &conflict);
    assert_string_equal(
        text, "ordersctl: order-service answered 409 conflict: order is already CANCELLED\n");
    free(text);

    error_case_t evil = {400, "{\"error\": {\"code\": \"x\", \"message\": \"a\\u001b[31mb\"}}"};
    text = s_capture(s_render_error_case, &evil);
    assert_string_equal(text, "ordersctl: order-service answered 400 x: a?[31mb\n");
    free(text);

    error_case_t html = {502, "<html>Bad\nGateway</html>"};
    text = s_capture(s_render_error_case, &html);
    assert_string_equal(text,
                        "ordersctl: order-service answered HTTP 502: <html>Bad?Gateway</html>\n");
    free(text);

    error_case_t empty = {500, ""};
    text = s_capture(s_render_error_case, &empty);
    assert_string_equal(text, "ordersctl: order-service answered HTTP 500 with an empty body\n");
    free(text);

    char *big = (char *) zmalloc(ORDERSCTL_RAW_SHOWN_MAX + 50);
    memset(big, 'x', ORDERSCTL_RAW_SHOWN_MAX + 49);
    error_case_t long_body = {503, big};
    text = s_capture(s_render_error_case, &long_body);
    assert_int_equal(strlen(text), strlen("ordersctl: order-service answered HTTP 503: ") +
                                       ORDERSCTL_RAW_SHOWN_MAX + strlen("...\n"));
    free(text);
    freen(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_parse_commands),
        cmocka_unit_test(test_parse_help),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_parse_urls),
        cmocka_unit_test(test_item_parse),
        cmocka_unit_test(test_parse_too_many_items),
        cmocka_unit_test(test_request_create),
        cmocka_unit_test(test_request_routes),
        cmocka_unit_test(test_request_base_and_escape),
        cmocka_unit_test(test_table_layout),
        cmocka_unit_test(test_table_unicode_and_control),
        cmocka_unit_test(test_render_order),
        cmocka_unit_test(test_render_order_rejected_and_replayed),
        cmocka_unit_test(test_render_pages),
        cmocka_unit_test(test_render_payment_and_dead_letter_actions),
        cmocka_unit_test(test_render_json),
        cmocka_unit_test(test_render_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
