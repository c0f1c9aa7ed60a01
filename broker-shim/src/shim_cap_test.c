/*  =========================================================================
    shim_cap_test - our envelopes as DotNetCore.CAP messages, and back

    The first case is the usage example from shim_cap.h. Then: what we
    encode is what CAP publishes (topic exchange, routing key = name, no
    content type, cap-* string headers, PascalCase body with decimals as
    exact numbers); every golden sample goes ours -> CAP -> ours with the
    same payload and ids; INTEROP.md's CAP body decodes; CAP's snowflake
    ids become stable UUIDs; missing headers and bad bodies are refused
    with their codes; the origin mark stops loops.
    =========================================================================
*/
#include "shim_classes.h"
#include "contract_samples.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define SHIM_STREAM "shim-0"
#define SHIM_MARK "evbus-test"
#define SAMPLE_ORDER_ID "5f0c2a8e-3d4b-4c6e-9a1f-2b7d8e9f0a1b"

//  Most headers a test delivery carries.
#define DELIVERY_HEADERS_MAX 20

//  A delivery built from an encoded message, with storage for headers.
typedef struct {
    shim_delivery_t delivery;
    shim_header_t headers[DELIVERY_HEADERS_MAX];
} s_delivery_t;

//  ---------------------------------------------------------------------
//  A codec on `map` with `mark`.

static shim_cap_t *
s_codec_new(const shim_map_t *map, const char *mark)
{
    shim_cap_config_t config = {.map = map, .mark = mark, .stream = SHIM_STREAM};
    shim_cap_t *codec = shim_cap_new(&config);
    assert_non_null(codec);
    return codec;
}

//  ---------------------------------------------------------------------
//  Golden sample `index`, decoded by the bus.

static Ev__V1__Envelope *
s_golden(size_t index)
{
    zchunk_t *packed = contract_samples_pack(index);
    Ev__V1__Envelope *envelope = NULL;
    assert_int_equal(bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &envelope),
                     BUS_OK);
    zchunk_destroy(&packed);
    return envelope;
}

//  ---------------------------------------------------------------------
//  Make `holder` the delivery a consumer gets for `message`.

static void
s_delivery_of(const shim_message_t *message, s_delivery_t *holder)
{
    memset(holder, 0, sizeof *holder);
    size_t count = shim_message_header_count(message);
    assert_true(count <= DELIVERY_HEADERS_MAX);
    for (size_t index = 0; index < count; index++) {
        holder->headers[index].name = shim_message_header_name(message, index);
        holder->headers[index].value = shim_message_header_value(message, index);
    }
    holder->delivery.body = shim_message_body(message);
    holder->delivery.body_size = shim_message_body_size(message);
    holder->delivery.content_type = shim_message_content_type(message);
    holder->delivery.message_id = shim_message_message_id(message);
    holder->delivery.exchange = shim_message_exchange(message);
    holder->delivery.routing_key = shim_message_routing_key(message);
    holder->delivery.headers = holder->headers;
    holder->delivery.header_count = count;
}

//  ---------------------------------------------------------------------
//  Pack with the writer's fields, origin and time set alike: CAP does not
//  carry occurred_at_us.

static zframe_t *
s_pack_normalised(const Ev__V1__Envelope *envelope)
{
    Ev__V1__Envelope copy = *envelope;
    copy.stream = (char *) SHIM_STREAM;
    copy.seq = 1;
    copy.partition = 0;
    copy.origin = (char *) "bus";
    copy.occurred_at_us = 0;
    zframe_t *frame = bus_envelope_encode(&copy);
    assert_non_null(frame);
    return frame;
}

static void
test_usage_example(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_cap_t *codec = s_codec_new(map, SHIM_MARK);
    Ev__V1__Envelope *envelope = s_golden(0);
    shim_message_t *message = NULL;
    shim_error_t error;
    assert_int_equal(shim_cap_encode(codec, envelope, &message, &error), SHIM_OK);
    s_delivery_t holder;
    s_delivery_of(message, &holder);
    Ev__V1__Envelope *received = NULL;
    assert_int_equal(shim_cap_decode(codec, &holder.delivery, &received, &error), SHIM_OWN_MESSAGE);
    assert_null(received);
    shim_message_destroy(&message);
    bus_envelope_destroy(&envelope);
    shim_cap_destroy(&codec);
    assert_null(codec);
    shim_cap_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_encoded_fields(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_cap_t *codec = s_codec_new(map, SHIM_MARK);
    Ev__V1__Envelope *envelope = s_golden(0);
    shim_message_t *message = NULL;
    shim_error_t error;
    assert_int_equal(shim_cap_encode(codec, envelope, &message, &error), SHIM_OK);
    assert_string_equal(shim_message_exchange(message), "cap.default.router");
    assert_string_equal(shim_message_routing_key(message), "OrderCreated");
    assert_null(shim_message_content_type(message));
    assert_true(shim_message_persistent(message));
    assert_string_equal(shim_message_message_id(message), "01946a3b-7c00-7abc-8def-000000000001");
    assert_string_equal(shim_message_header(message, "cap-msg-id"),
                        "01946a3b-7c00-7abc-8def-000000000001");
    assert_string_equal(shim_message_header(message, "cap-msg-name"), "OrderCreated");
    assert_string_equal(shim_message_header(message, "cap-msg-type"), "OrderCreatedEvent");
    assert_string_equal(shim_message_header(message, "cap-senttime"), "01/15/2025 10:20:30");
    assert_string_equal(shim_message_header(message, "cap-corr-id"),
                        "0a6e0000-ac11-0242-4c5d-08dd35e1a2b4");
    assert_string_equal(shim_message_header(message, "cap-corr-seq"), "0");
    assert_string_equal(shim_message_header(message, "X-Bridge-Origin"), SHIM_MARK);
    assert_string_equal(shim_message_header(message, "X-Bridge-Causation-Id"),
                        "01946a3b-7b00-7abc-8def-0000000000c0");
    //  PascalCase, decimals as bare numbers with the currency's digits.
    const char *body = shim_message_body(message);
    assert_non_null(strstr(body, "{\"OrderId\":\"" SAMPLE_ORDER_ID "\",\"CustomerId\":"));
    assert_non_null(strstr(body, "\"Total\":51.99,\"Currency\":\"EUR\",\"Items\":[{\"Sku\":"
                                 "\"SKU-RED-MUG\",\"Quantity\":2,\"UnitPrice\":12.50}"));
    assert_non_null(strstr(body, "\"CreatedAt\":\"2025-01-15T10:20:30.123456Z\"}"));
    shim_message_destroy(&message);
    bus_envelope_destroy(&envelope);

    //  Configured exchange and name.
    assert_int_equal(shim_map_set_cap_name(map, "PaymentVoided", "billing.payment.voided"), 0);
    shim_cap_config_t config = {
        .map = map, .exchange = "cap.default.router.v2", .mark = SHIM_MARK, .stream = SHIM_STREAM};
    shim_cap_t *versioned = shim_cap_new(&config);
    envelope = s_golden(6);
    assert_int_equal(shim_cap_encode(versioned, envelope, &message, &error), SHIM_OK);
    assert_string_equal(shim_message_exchange(message), "cap.default.router.v2");
    assert_string_equal(shim_message_routing_key(message), "billing.payment.voided");
    shim_message_destroy(&message);
    bus_envelope_destroy(&envelope);
    shim_cap_destroy(&versioned);
    config.exchange = "bad exchange";
    assert_null(shim_cap_new(&config));
    shim_cap_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_every_golden_sample_round_trips(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_cap_t *sender = s_codec_new(map, SHIM_MARK);
    shim_cap_t *receiver = s_codec_new(map, "other-deployment");
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        Ev__V1__Envelope *golden = s_golden(index);
        Ev__V1__Envelope original = *golden;
        shim_message_t *message = NULL;
        shim_error_t error;
        if (shim_envelope_from_rabbitmq(golden)) {
            assert_int_equal(shim_cap_encode(sender, golden, &message, &error), SHIM_OWN_MESSAGE);
            original.origin = (char *) "bus";
        }
        assert_int_equal(shim_cap_encode(sender, &original, &message, &error), SHIM_OK);
        s_delivery_t holder;
        s_delivery_of(message, &holder);
        Ev__V1__Envelope *received = NULL;
        if (shim_cap_decode(receiver, &holder.delivery, &received, &error) != SHIM_OK) {
            fail_msg("%s: %s", contract_samples_name(index), error.reason);
        }
        assert_string_equal(received->origin, SHIM_ORIGIN_PREFIX SHIM_STREAM);
        assert_int_equal(received->occurred_at_us, 0);
        zframe_t *sent = s_pack_normalised(&original);
        zframe_t *back = s_pack_normalised(received);
        if (!zframe_eq(sent, back)) {
            fail_msg("%s differs after the round trip", contract_samples_name(index));
        }
        zframe_destroy(&back);
        zframe_destroy(&sent);
        shim_envelope_destroy(&received);
        shim_message_destroy(&message);
        bus_envelope_destroy(&golden);
    }
    shim_cap_destroy(&receiver);
    shim_cap_destroy(&sender);
    shim_map_destroy(&map);
}

static void
test_cap_publisher_message(void **state)
{
    (void) state;
    //  INTEROP.md section 8: what a CAP publisher of the seed record sends.
    shim_map_t *map = shim_map_new();
    shim_cap_t *codec = s_codec_new(map, SHIM_MARK);
    char *path = zsys_sprintf("%s/cap_order_created.json", SHIM_FIXTURE_DIR);
    zfile_t *file = zfile_new(NULL, path);
    assert_int_equal(zfile_input(file), 0);
    zchunk_t *chunk = zfile_read(file, (size_t) zfile_cursize(file), 0);
    char *body = zchunk_strdup(chunk);
    zchunk_destroy(&chunk);
    zfile_destroy(&file);
    zstr_free(&path);

    shim_header_t headers[] = {
        {"cap-msg-id", "1735689600123456789"},  {"cap-msg-name", "OrderCreated"},
        {"cap-msg-type", "OrderCreatedEvent"},  {"cap-senttime", "01/15/2025 11:20:30"},
        {"cap-corr-id", "1735689600123456789"}, {"cap-corr-seq", "0"}};
    shim_delivery_t delivery = {.body = body,
                                .body_size = strlen(body),
                                .exchange = "cap.default.router",
                                .routing_key = "OrderCreated",
                                .headers = headers,
                                .header_count = 6};
    Ev__V1__Envelope *first = NULL;
    Ev__V1__Envelope *second = NULL;
    shim_error_t error;
    assert_int_equal(shim_cap_decode(codec, &delivery, &first, &error), SHIM_OK);
    assert_string_equal(first->type, "OrderCreated");
    assert_string_equal(first->order_created->customer_id, "C-42");
    assert_int_equal(first->order_created->total->amount_minor, 19999);
    assert_string_equal(first->order_created->total->currency, "EUR");
    assert_int_equal(first->order_created->n_items, 0);
    //  The snowflake id became a version 5 UUID, the same every time; the
    //  correlation equal to it is none.
    svc_uuid_t uuid;
    assert_true(shim_envelope_id(&first->message_id, &uuid));
    assert_int_equal(svc_uuid_version(&uuid), 5);
    assert_int_equal(first->correlation_id.len, 0);
    assert_int_equal(shim_cap_decode(codec, &delivery, &second, &error), SHIM_OK);
    assert_memory_equal(first->message_id.data, second->message_id.data, BUS_ID_SIZE);
    shim_envelope_destroy(&second);
    shim_envelope_destroy(&first);

    //  Refusals.
    shim_header_t no_id[] = {{"cap-msg-name", "OrderCreated"}};
    delivery.headers = no_id;
    delivery.header_count = 1;
    assert_int_equal(shim_cap_decode(codec, &delivery, &first, &error), SHIM_MISSING_FIELD);
    shim_header_t no_name[] = {{"cap-msg-id", "1"}};
    delivery.headers = no_name;
    assert_int_equal(shim_cap_decode(codec, &delivery, &first, &error), SHIM_NO_MESSAGE_TYPE);
    shim_header_t unknown[] = {{"cap-msg-id", "1"}, {"cap-msg-name", "order.created"}};
    delivery.headers = unknown;
    delivery.header_count = 2;
    assert_int_equal(shim_cap_decode(codec, &delivery, &first, &error), SHIM_UNKNOWN_TYPE);
    shim_header_t good[] = {{"cap-msg-id", "1"}, {"cap-msg-name", "OrderCreated"}};
    delivery.headers = good;
    delivery.body = "[1]";
    delivery.body_size = 3;
    assert_int_equal(shim_cap_decode(codec, &delivery, &first, &error), SHIM_NOT_JSON);
    delivery.body = "{\"OrderId\":\"x\"}";
    delivery.body_size = strlen(delivery.body);
    assert_int_equal(shim_cap_decode(codec, &delivery, &first, &error), SHIM_BAD_ID);
    delivery.body = "{\"OrderId\":\"" SAMPLE_ORDER_ID "\",\"CustomerId\":\"C\",\"Total\":1.999}";
    delivery.body_size = strlen(delivery.body);
    assert_int_equal(shim_cap_decode(codec, &delivery, &first, &error), SHIM_BAD_AMOUNT);
    assert_null(first);

    zstr_free(&body);
    shim_cap_destroy(&codec);
    shim_map_destroy(&map);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_encoded_fields),
        cmocka_unit_test(test_every_golden_sample_round_trips),
        cmocka_unit_test(test_cap_publisher_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
