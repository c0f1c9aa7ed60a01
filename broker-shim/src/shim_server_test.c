/*  =========================================================================
    shim_server_test - the shim's options and the topology of its formats

    Pure: the checks that turn a bad RABBITMQ_URL, SHIM_MAP, SHIM_QUEUE,
    SHIM_MARK or SHIM_CONSUME into exit code 2 before anything starts, and
    what each format declares and binds (shim_codec), for all types or the
    ones SHIM_CONSUME names.
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_codec.h"
#include "shim_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  Load the shim's options from `flags` (NULL-terminated) and check them.
//  Returns shim_server_check's result; *error_out as it says.
static int
s_check(const char *const *flags, char **error_out)
{
    svc_config_t *config = svc_config_new("shim", "test");
    svc_config_add(config, shim_server_options);
    char *argv[16] = {"shim"};
    int argc = 1;
    for (size_t index = 0; flags[index]; index++) {
        argv[argc++] = (char *) flags[index];
    }
    assert_int_equal(svc_config_load(config, argc, argv), SVC_CONFIG_OK);
    int rc = shim_server_check(config, error_out);
    svc_config_destroy(&config);
    return rc;
}

//  The usage example: the defaults are valid; so is a full configuration.
static void
test_defaults_and_full(void **state)
{
    (void) state;
    char *error = NULL;
    const char *none[] = {"--rabbitmq-url=" SHIM_RABBITMQ_URL_DEFAULT,
                          "--shim-map=",
                          "--shim-queue=" SHIM_QUEUE_DEFAULT,
                          "--shim-mark=" SHIM_MARK_DEFAULT,
                          "--shim-format=masstransit",
                          NULL};
    assert_int_equal(s_check(none, &error), 0);
    assert_null(error);
    const char *full[] = {"--rabbitmq-url=amqp://u:p@mq:5673/sales",
                          "--shim-format=cap",
                          "--shim-map=OrderCreated=Sales:OrderPlaced@orders, PaymentVoided=Refund",
                          "--shim-queue=sales.shim:1",
                          "--shim-mark=evbus prod",
                          "--shim-window=1000",
                          "--shim-consume= OrderCreated , PaymentVoided",
                          NULL};
    assert_int_equal(s_check(full, &error), 0);
    assert_null(error);
    //  Nothing to consume, in either spelling.
    const char *nothing[] = {"--shim-consume=none", NULL};
    assert_int_equal(s_check(nothing, &error), 0);
    const char *empty[] = {"--shim-consume=", NULL};
    assert_int_equal(s_check(empty, &error), 0);
    assert_null(error);
}

//  Each bad value is refused with the option's name.
static void
test_refused(void **state)
{
    (void) state;
    const struct {
        const char *flag;   //  the bad value
        const char *option; //  named in the message
    } cases[] = {
        {"--rabbitmq-url=http://host/", "RABBITMQ_URL"},
        {"--rabbitmq-url=amqps://u:p@host/%2F", "RABBITMQ_URL"},
        {"--shim-map=OrderCreated", "SHIM_MAP"},
        {"--shim-map=NoSuchType=X", "SHIM_MAP"},
        {"--shim-map=OrderCreated=A:X, OrderCancelled=A:X", "SHIM_MAP"},
        {"--shim-queue=", "SHIM_QUEUE"},
        {"--shim-queue=has space", "SHIM_QUEUE"},
        {"--shim-queue=a/b", "SHIM_QUEUE"},
        {"--shim-mark=", "SHIM_MARK"},
        {"--shim-mark=tab\there", "SHIM_MARK"},
        {"--shim-consume=NoSuchType", "SHIM_CONSUME"},
        {"--shim-consume=orderCreated", "SHIM_CONSUME"},
        {"--shim-consume=OrderCreated,OrderCreated", "SHIM_CONSUME"},
        {"--shim-consume=OrderCreated,", "SHIM_CONSUME"},
        {"--shim-consume=OrderCreated,,StockReserved", "SHIM_CONSUME"},
        {"--shim-consume=none,OrderCreated", "SHIM_CONSUME"},
        {"--shim-consume=OrderCreated;StockReserved", "SHIM_CONSUME"},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        const char *flags[] = {cases[index].flag, NULL};
        char *error = NULL;
        if (s_check(flags, &error) != -1) {
            fail_msg("%s was accepted", cases[index].flag);
        }
        assert_non_null(strstr(error, cases[index].option));
        zstr_free(&error);
    }
    //  A queue name one byte too long for its "_error" twin.
    char flag[300] = "--shim-queue=";
    size_t length = strlen(flag);
    memset(flag + length, 'q', 255 - 6 + 1);
    flag[length + 255 - 6 + 1] = '\0';
    const char *flags[] = {flag, NULL};
    char *error = NULL;
    assert_int_equal(s_check(flags, &error), -1);
    zstr_free(&error);
    flag[length + 255 - 6] = '\0';
    assert_int_equal(s_check(flags, &error), 0);
}

//  MassTransit: a fanout per type, the queue bound to each with "".
static void
test_masstransit_topology(void **state)
{
    (void) state;
    shim_format_t format = SHIM_FORMAT_CAP;
    assert_int_equal(shim_format_parse("masstransit", &format), 0);
    assert_int_equal(format, SHIM_FORMAT_MASSTRANSIT);
    assert_int_equal(shim_format_parse("MassTransit", &format), -1);
    shim_map_t *map = shim_map_new();
    assert_int_equal(shim_map_configure(map, "StockReserved=Inventory:Reserved@stock-reserved"), 0);
    shim_codec_config_t config = {.format = SHIM_FORMAT_MASSTRANSIT,
                                  .map = map,
                                  .broker_address = "rabbitmq://localhost",
                                  .source_address = "rabbitmq://localhost/evbus-shim",
                                  .mark = "evbus",
                                  .stream = "shim-0"};
    shim_codec_t *codec = shim_codec_new(&config);
    assert_non_null(codec);
    assert_string_equal(shim_codec_exchange_type(codec), "fanout");
    assert_int_equal(shim_codec_binding_count(codec), SHIM_CODEC_TYPES);
    assert_int_equal(shim_codec_bound_count(codec), SHIM_CODEC_TYPES);
    const char *expected[SHIM_CODEC_TYPES] = {"Contracts:OrderCreatedEvent",
                                              "Contracts:OrderCancelledEvent",
                                              "stock-reserved",
                                              "Contracts:StockRejectedEvent",
                                              "Contracts:StockReleasedEvent",
                                              "Contracts:PaymentStartedEvent",
                                              "Contracts:PaymentVoidedEvent"};
    for (size_t index = 0; index < SHIM_CODEC_TYPES; index++) {
        const char *exchange = NULL;
        const char *routing_key = NULL;
        shim_codec_binding(codec, index, &exchange, &routing_key);
        assert_string_equal(exchange, expected[index]);
        assert_string_equal(routing_key, "");
    }
    shim_codec_destroy(&codec);
    assert_null(codec);
    //  A configuration the codec cannot use is refused.
    config.broker_address = "amqp://localhost";
    assert_null(shim_codec_new(&config));
    shim_map_destroy(&map);
}

//  SHIM_CONSUME: the types it names, in any order, are the ones bound; the
//  default names all seven.
static void
test_consume_types(void **state)
{
    (void) state;
    shim_types_t types = 0;
    assert_int_equal(shim_types_parse(SHIM_CONSUME_DEFAULT, &types), 0);
    assert_int_equal(types, SHIM_TYPES_ALL);
    assert_int_equal(shim_types_parse("PaymentVoided,OrderCreated", &types), 0);
    assert_int_equal(types, (1u << 0) | (1u << 6));
    assert_int_equal(shim_types_parse("none", &types), 0);
    assert_int_equal(types, 0);
    types = SHIM_TYPES_ALL;
    assert_int_equal(shim_types_parse("", &types), 0);
    assert_int_equal(types, 0);
    assert_int_equal(shim_types_parse("StockReserved,StockReserved", &types), -1);
    assert_int_equal(shim_types_parse("Stock", &types), -1);

    shim_map_t *map = shim_map_new();
    assert_int_equal(shim_types_parse("OrderCreated", &types), 0);
    shim_codec_config_t config = {.format = SHIM_FORMAT_MASSTRANSIT,
                                  .map = map,
                                  .broker_address = "rabbitmq://localhost",
                                  .source_address = "rabbitmq://localhost/evbus-shim",
                                  .mark = "evbus",
                                  .stream = "shim-0",
                                  .unbound = SHIM_TYPES_ALL & ~types};
    shim_codec_t *codec = shim_codec_new(&config);
    assert_non_null(codec);
    //  All seven are still managed: the others are unbound.
    assert_int_equal(shim_codec_binding_count(codec), SHIM_CODEC_TYPES);
    assert_int_equal(shim_codec_bound_count(codec), 1);
    for (size_t index = 0; index < SHIM_CODEC_TYPES; index++) {
        const char *exchange = NULL;
        const char *routing_key = NULL;
        shim_codec_binding(codec, index, &exchange, &routing_key);
        assert_int_equal(shim_codec_bound(codec, index),
                         streq(exchange, "Contracts:OrderCreatedEvent"));
    }
    shim_codec_destroy(&codec);
    //  CAP: the routing keys of the named types.
    assert_int_equal(shim_types_parse("StockRejected,PaymentStarted", &types), 0);
    config.format = SHIM_FORMAT_CAP;
    config.unbound = SHIM_TYPES_ALL & ~types;
    codec = shim_codec_new(&config);
    assert_non_null(codec);
    assert_int_equal(shim_codec_bound_count(codec), 2);
    for (size_t index = 0; index < SHIM_CODEC_TYPES; index++) {
        const char *exchange = NULL;
        const char *routing_key = NULL;
        shim_codec_binding(codec, index, &exchange, &routing_key);
        assert_int_equal(shim_codec_bound(codec, index), streq(routing_key, "StockRejected") ||
                                                             streq(routing_key, "PaymentStarted"));
    }
    shim_codec_destroy(&codec);
    shim_map_destroy(&map);
}

//  CAP: one topic exchange, the queue bound once per CAP name.
static void
test_cap_topology(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    assert_int_equal(shim_map_set_cap_name(map, "PaymentVoided", "payments.voided"), 0);
    shim_codec_config_t config = {
        .format = SHIM_FORMAT_CAP, .map = map, .mark = "evbus", .stream = "shim-0"};
    shim_codec_t *codec = shim_codec_new(&config);
    assert_non_null(codec);
    assert_string_equal(shim_codec_exchange_type(codec), "topic");
    const char *expected[SHIM_CODEC_TYPES] = {"OrderCreated",   "OrderCancelled", "StockReserved",
                                              "StockRejected",  "StockReleased",  "PaymentStarted",
                                              "payments.voided"};
    for (size_t index = 0; index < SHIM_CODEC_TYPES; index++) {
        const char *exchange = NULL;
        const char *routing_key = NULL;
        shim_codec_binding(codec, index, &exchange, &routing_key);
        assert_string_equal(exchange, "cap.default.router");
        assert_string_equal(routing_key, expected[index]);
    }
    shim_codec_destroy(&codec);
    shim_map_destroy(&map);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_full),    cmocka_unit_test(test_refused),
        cmocka_unit_test(test_masstransit_topology), cmocka_unit_test(test_cap_topology),
        cmocka_unit_test(test_consume_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
