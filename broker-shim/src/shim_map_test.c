/*  =========================================================================
    shim_map_test - .NET names of our event types, and back

    The first case is the usage example from shim_map.h. Then: the
    defaults of every type (the seed's names in namespace Contracts), URN
    lookups ignore case but nothing else, namespace and type changes
    rebuild URN and exchange, nested types, exchange overrides, CAP names,
    configuration texts all or nothing, and changes that would make a
    reverse lookup ambiguous or use invalid names are refused without
    touching the map.
    =========================================================================
*/
#include "shim_classes.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define CREATED EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED
#define CANCELLED EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED
#define NOT_SET EV__V1__ENVELOPE__PAYLOAD__NOT_SET

static void
test_usage_example(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    assert_int_equal(
        shim_map_configure(map, "OrderCreated=Sales.Contracts:OrderPlaced@sales-orders"), 0);
    assert_string_equal(shim_map_urn(map, CREATED), "urn:message:Sales.Contracts:OrderPlaced");
    assert_int_equal(shim_map_find_urn(map, "URN:MESSAGE:sales.contracts:orderplaced"), CREATED);
    assert_string_equal(shim_map_exchange(map, CREATED), "sales-orders");
    shim_map_destroy(&map);
    assert_null(map);
    shim_map_destroy(&map);
}

static void
test_defaults(void **state)
{
    (void) state;
    static const struct {
        Ev__V1__Envelope__PayloadCase payload_case;
        const char *type_name;
        const char *cap_name;
    } expected[] = {
        {EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED, "OrderCreatedEvent", "OrderCreated"},
        {EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED, "OrderCancelledEvent", "OrderCancelled"},
        {EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, "StockReservedEvent", "StockReserved"},
        {EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED, "StockRejectedEvent", "StockRejected"},
        {EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED, "StockReleasedEvent", "StockReleased"},
        {EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, "PaymentStartedEvent", "PaymentStarted"},
        {EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED, "PaymentVoidedEvent", "PaymentVoided"},
    };
    shim_map_t *map = shim_map_new();
    for (size_t index = 0; index < sizeof expected / sizeof expected[0]; index++) {
        Ev__V1__Envelope__PayloadCase payload_case = expected[index].payload_case;
        char *message_type = zsys_sprintf("Contracts:%s", expected[index].type_name);
        char *urn = zsys_sprintf("urn:message:Contracts:%s", expected[index].type_name);
        assert_string_equal(shim_map_type_name(map, payload_case), expected[index].type_name);
        assert_string_equal(shim_map_message_type(map, payload_case), message_type);
        assert_string_equal(shim_map_urn(map, payload_case), urn);
        assert_string_equal(shim_map_exchange(map, payload_case), message_type);
        assert_string_equal(shim_map_cap_name(map, payload_case), expected[index].cap_name);
        assert_int_equal(shim_map_find_urn(map, urn), payload_case);
        assert_int_equal(shim_map_find_exchange(map, message_type), payload_case);
        assert_int_equal(shim_map_find_cap_name(map, expected[index].cap_name), payload_case);
        zstr_free(&urn);
        zstr_free(&message_type);
    }
    assert_string_equal(shim_map_currency(map), "EUR");
    assert_null(shim_map_urn(map, NOT_SET));
    assert_null(shim_map_exchange(map, (Ev__V1__Envelope__PayloadCase) 99));
    shim_map_destroy(&map);
}

static void
test_lookups_are_exact(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    //  MassTransit compares whole URNs ignoring case: no prefix, no short
    //  name, no namespace-less form.
    assert_int_equal(shim_map_find_urn(map, "urn:message:contracts:ordercreatedevent"), CREATED);
    assert_int_equal(shim_map_find_urn(map, "urn:message:Contracts:OrderCreated"), NOT_SET);
    assert_int_equal(shim_map_find_urn(map, "urn:message:Contracts:OrderCreatedEvent "), NOT_SET);
    assert_int_equal(shim_map_find_urn(map, "urn:message:OrderCreatedEvent"), NOT_SET);
    assert_int_equal(shim_map_find_urn(map, "OrderCreatedEvent"), NOT_SET);
    assert_int_equal(shim_map_find_urn(map, ""), NOT_SET);
    //  RabbitMQ compares exchange names exactly.
    assert_int_equal(shim_map_find_exchange(map, "contracts:ordercreatedevent"), NOT_SET);
    assert_int_equal(shim_map_find_cap_name(map, "ordercreated"), NOT_SET);
    shim_map_destroy(&map);
}

static void
test_names_change(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    assert_int_equal(shim_map_set_namespace(map, "Shop.Contracts.V2"), 0);
    assert_string_equal(shim_map_urn(map, CANCELLED),
                        "urn:message:Shop.Contracts.V2:OrderCancelledEvent");
    assert_string_equal(shim_map_exchange(map, CANCELLED), "Shop.Contracts.V2:OrderCancelledEvent");

    //  A type name without namespace follows the map's namespace, also
    //  when it changes later; one with a namespace keeps its own.
    assert_int_equal(shim_map_set_message_type(map, "OrderCancelled", "OrderVoided"), 0);
    assert_int_equal(shim_map_set_message_type(map, "OrderCreated", "Legacy:OrderPlaced"), 0);
    assert_int_equal(shim_map_set_namespace(map, "Shop"), 0);
    assert_string_equal(shim_map_message_type(map, CANCELLED), "Shop:OrderVoided");
    assert_string_equal(shim_map_message_type(map, CREATED), "Legacy:OrderPlaced");
    assert_string_equal(shim_map_type_name(map, CREATED), "OrderPlaced");

    //  A nested type: '+' in the URN, '-' in the exchange (INTEROP 1.1).
    assert_int_equal(shim_map_set_message_type(map, "OrderCreated", "Shop:Orders+Created"), 0);
    assert_string_equal(shim_map_urn(map, CREATED), "urn:message:Shop:Orders+Created");
    assert_string_equal(shim_map_exchange(map, CREATED), "Shop:Orders-Created");
    assert_int_equal(shim_map_find_exchange(map, "Shop:Orders-Created"), CREATED);

    //  An exchange override, and back to the derived name.
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", "orders.created"), 0);
    assert_string_equal(shim_map_exchange(map, CREATED), "orders.created");
    assert_string_equal(shim_map_urn(map, CREATED), "urn:message:Shop:Orders+Created");
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", NULL), 0);
    assert_string_equal(shim_map_exchange(map, CREATED), "Shop:Orders-Created");

    //  Setting the message type resets an override.
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", "x"), 0);
    assert_int_equal(shim_map_set_message_type(map, "OrderCreated", "OrderCreatedEvent"), 0);
    assert_string_equal(shim_map_exchange(map, CREATED), "Shop:OrderCreatedEvent");

    assert_int_equal(shim_map_set_cap_name(map, "OrderCreated", "shop.order.created"), 0);
    assert_string_equal(shim_map_cap_name(map, CREATED), "shop.order.created");
    assert_int_equal(shim_map_find_cap_name(map, "shop.order.created"), CREATED);

    assert_int_equal(shim_map_set_currency(map, "JPY"), 0);
    assert_string_equal(shim_map_currency(map), "JPY");
    shim_map_destroy(&map);
}

static void
test_invalid_changes_leave_the_map_alone(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    static const char *const namespaces[] = {
        "",           "Contracts.", ".Contracts", "Con..tracts",
        "Con tracts", "Con:tracts", "1Contracts", "Ünicode"};
    for (size_t index = 0; index < sizeof namespaces / sizeof namespaces[0]; index++) {
        assert_int_equal(shim_map_set_namespace(map, namespaces[index]), -1);
    }
    static const char *const types[] = {"",         "Ns:",   ":Name",     "Ns:Na me",
                                        "Ns:Name+", "A:B:C", "Ns:Name`1", "Ns:Name<T>"};
    for (size_t index = 0; index < sizeof types / sizeof types[0]; index++) {
        assert_int_equal(shim_map_set_message_type(map, "OrderCreated", types[index]), -1);
    }
    assert_int_equal(shim_map_set_message_type(map, "NoSuchEvent", "Ns:Name"), -1);
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", "with space"), -1);
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", ""), -1);
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", "a@b"), -1);
    assert_int_equal(shim_map_set_cap_name(map, "OrderCreated", "order.*"), -1);
    assert_int_equal(shim_map_set_cap_name(map, "OrderCreated", "a:b"), -1);
    assert_int_equal(shim_map_set_currency(map, "eur"), -1);
    assert_int_equal(shim_map_set_currency(map, "XXX"), -1);
    char long_name[SHIM_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", long_name), -1);
    long_name[SHIM_NAME_MAX] = '\0';
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", long_name), 0);
    assert_int_equal(shim_map_set_exchange(map, "OrderCreated", NULL), 0);

    //  Ambiguity: two types with one URN, exchange or CAP name.
    assert_int_equal(shim_map_set_message_type(map, "OrderCancelled", "OrderCreatedEvent"), -1);
    assert_int_equal(
        shim_map_set_message_type(map, "OrderCancelled", "contracts:ordercreatedevent"), -1);
    assert_int_equal(shim_map_set_exchange(map, "OrderCancelled", "Contracts:OrderCreatedEvent"),
                     -1);
    assert_int_equal(shim_map_set_cap_name(map, "OrderCancelled", "OrderCreated"), -1);

    //  Still the defaults.
    assert_string_equal(shim_map_urn(map, CREATED), "urn:message:Contracts:OrderCreatedEvent");
    assert_string_equal(shim_map_urn(map, CANCELLED), "urn:message:Contracts:OrderCancelledEvent");
    assert_string_equal(shim_map_exchange(map, CANCELLED), "Contracts:OrderCancelledEvent");
    assert_string_equal(shim_map_cap_name(map, CANCELLED), "OrderCancelled");
    assert_string_equal(shim_map_currency(map), "EUR");
    shim_map_destroy(&map);
}

static void
test_configure_is_all_or_nothing(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    assert_int_equal(shim_map_configure(map, ""), 0);
    assert_int_equal(shim_map_configure(map, " , "), 0);
    assert_string_equal(shim_map_urn(map, CREATED), "urn:message:Contracts:OrderCreatedEvent");

    assert_int_equal(shim_map_configure(map, " OrderCreated = Sales:OrderPlaced"), -1);
    assert_int_equal(shim_map_configure(map, "OrderCreated=Sales:OrderPlaced, Bogus=Sales:X"), -1);
    assert_int_equal(shim_map_configure(map, "OrderCreated=Sales:OrderPlaced,OrderCancelled"), -1);
    assert_int_equal(shim_map_configure(map, "OrderCreated=Sales:OrderPlaced@bad exchange"), -1);
    //  Two entries that collide with each other.
    assert_int_equal(shim_map_configure(map, "OrderCreated=Sales:Order,OrderCancelled=Sales:Order"),
                     -1);
    assert_string_equal(shim_map_urn(map, CREATED), "urn:message:Contracts:OrderCreatedEvent");

    //  Two entries that swap names are fine together, though each alone
    //  would collide.
    assert_int_equal(shim_map_configure(map, "OrderCreated=Contracts:OrderCancelledEvent,"
                                             "OrderCancelled=Contracts:OrderCreatedEvent"),
                     0);
    assert_int_equal(shim_map_find_urn(map, "urn:message:Contracts:OrderCreatedEvent"), CANCELLED);

    assert_int_equal(shim_map_configure(map, "OrderCreated=Sales:OrderPlaced@sales-orders,\t"
                                             "PaymentVoided=RefundIssued ,"),
                     0);
    assert_string_equal(shim_map_exchange(map, CREATED), "sales-orders");
    assert_string_equal(shim_map_urn(map, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED),
                        "urn:message:Contracts:RefundIssued");
    shim_map_destroy(&map);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_lookups_are_exact),
        cmocka_unit_test(test_names_change),
        cmocka_unit_test(test_invalid_changes_leave_the_map_alone),
        cmocka_unit_test(test_configure_is_all_or_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
