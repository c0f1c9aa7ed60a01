/*  =========================================================================
    shim_masstransit_test - our envelopes as MassTransit messages, and back

    The first case is the usage example from shim_masstransit.h. Then:
      - INTEROP.md's sample envelope (fixtures/mt_order_created_stj.json)
        decodes field by field, and so do its minimal form, a Newtonsoft
        variant (PascalCase, nulls left out, decimal as number, time with
        an offset) and raw JSON with MT-MessageType;
      - what we encode has the sample's 15 fields in the sample's order,
        each with the value the mapping promises, plus the AMQP properties;
      - every golden sample goes ours -> MassTransit JSON -> ours and packs
        to the same bytes (payload, ids, times, trace, money exact);
      - decimals as numbers and strings are exact; times with Z, offset or
        none; content types; the origin mark stops loops both ways;
      - every poison message gets its own code and a reason.
    =========================================================================
*/
#include "shim_classes.h"
#include "contract_samples.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  The INTEROP.md sample's ids and values.
#define SAMPLE_MESSAGE_ID "0a6e0000-ac11-0242-f0b1-08dd35e1a2b3"
#define SAMPLE_CONVERSATION_ID "0a6e0000-ac11-0242-4c5d-08dd35e1a2b4"
#define SAMPLE_ORDER_ID "5f0c2a8e-3d4b-4c6e-9a1f-2b7d8e9f0a1b"
#define SAMPLE_URN "urn:message:Contracts:OrderCreatedEvent"
//  2025-01-15T10:20:30.1234567Z, read to the microsecond.
#define SAMPLE_SENT_US INT64_C(1736936430123456)

#define SHIM_STREAM "shim-0"
#define SHIM_MARK "evbus-test"
#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

//  Most headers a test delivery carries.
#define DELIVERY_HEADERS_MAX 20

//  A delivery built from an encoded message, with storage for headers.
typedef struct {
    shim_delivery_t delivery;
    shim_header_t headers[DELIVERY_HEADERS_MAX];
} s_delivery_t;

//  ---------------------------------------------------------------------
//  A codec with the test configuration on `map`.

static shim_masstransit_t *
s_codec_new(const shim_map_t *map, const char *mark)
{
    shim_masstransit_config_t config = {.map = map,
                                        .broker_address = "rabbitmq://localhost",
                                        .source_address = "rabbitmq://localhost/broker-shim",
                                        .mark = mark,
                                        .stream = SHIM_STREAM,
                                        .host = {.machine_name = "node-1",
                                                 .process_name = "broker-shim",
                                                 .process_id = 4242,
                                                 .assembly = "broker-shim",
                                                 .assembly_version = "0.1.0",
                                                 .operating_system_version = "Linux 6.1.0"}};
    shim_masstransit_t *codec = shim_masstransit_new(&config);
    assert_non_null(codec);
    return codec;
}

//  ---------------------------------------------------------------------
//  The text of fixtures/<name>. Caller frees it with zstr_free.

static char *
s_fixture(const char *name)
{
    char *path = zsys_sprintf("%s/%s", SHIM_FIXTURE_DIR, name);
    zfile_t *file = zfile_new(NULL, path);
    assert_non_null(file);
    assert_int_equal(zfile_input(file), 0);
    zchunk_t *chunk = zfile_read(file, (size_t) zfile_cursize(file), 0);
    assert_non_null(chunk);
    char *text = zchunk_strdup(chunk);
    zchunk_destroy(&chunk);
    zfile_destroy(&file);
    zstr_free(&path);
    return text;
}

//  ---------------------------------------------------------------------
//  Golden sample `index`, decoded by the bus. Destroy with
//  bus_envelope_destroy.

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
    holder->delivery.correlation_id = shim_message_correlation_id(message);
    holder->delivery.exchange = shim_message_exchange(message);
    holder->delivery.routing_key = shim_message_routing_key(message);
    holder->delivery.headers = holder->headers;
    holder->delivery.header_count = count;
}

//  ---------------------------------------------------------------------
//  Decode a text body with a content type (NULL for none).

static shim_rc_t
s_decode_text(shim_masstransit_t *codec,
              const char *body,
              const char *content_type,
              Ev__V1__Envelope **envelope_out,
              shim_error_t *error)
{
    shim_delivery_t delivery = {
        .body = body, .body_size = strlen(body), .content_type = content_type};
    return shim_masstransit_decode(codec, &delivery, envelope_out, error);
}

//  ---------------------------------------------------------------------
//  A minimal envelope around an OrderCreatedEvent message body.

static char *
s_envelope_with(const char *message)
{
    return zsys_sprintf("{\"messageId\":\"" SAMPLE_MESSAGE_ID "\",\"messageType\":[\"" SAMPLE_URN
                        "\"],\"message\":%s}",
                        message);
}

//  ---------------------------------------------------------------------
//  The D form of an id field ("" when empty) into `text`.

static const char *
s_id_text(const ProtobufCBinaryData *field, char text[SVC_UUID_TEXT_SIZE])
{
    svc_uuid_t uuid;
    if (!shim_envelope_id(field, &uuid)) {
        text[0] = '\0';
        return text;
    }
    svc_uuid_format(&uuid, text);
    return text;
}

//  ---------------------------------------------------------------------
//  Pack `envelope` with the writer's fields and origin set alike, so two
//  envelopes that differ only in those compare equal byte for byte.

static zframe_t *
s_pack_normalised(const Ev__V1__Envelope *envelope)
{
    Ev__V1__Envelope copy = *envelope;
    copy.stream = (char *) SHIM_STREAM;
    copy.seq = 1;
    copy.partition = 0;
    copy.origin = (char *) "bus";
    zframe_t *frame = bus_envelope_encode(&copy);
    assert_non_null(frame);
    return frame;
}

//  ---------------------------------------------------------------------
//  Check the decoded INTEROP sample (STJ and Newtonsoft give the same).

static void
s_check_sample(const Ev__V1__Envelope *envelope)
{
    char text[SVC_UUID_TEXT_SIZE];
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    assert_string_equal(envelope->type, "OrderCreated");
    assert_string_equal(s_id_text(&envelope->message_id, text), SAMPLE_MESSAGE_ID);
    assert_string_equal(s_id_text(&envelope->correlation_id, text), SAMPLE_CONVERSATION_ID);
    assert_string_equal(s_id_text(&envelope->causation_id, text), "");
    assert_int_equal(envelope->occurred_at_us, SAMPLE_SENT_US);
    assert_string_equal(envelope->origin, SHIM_ORIGIN_PREFIX SHIM_STREAM);
    assert_string_equal(envelope->traceparent, "");
    assert_string_equal(envelope->stream, "");
    assert_int_equal(envelope->seq, 0);
    const Ev__V1__OrderCreated *created = envelope->order_created;
    assert_string_equal(s_id_text(&created->order_id, text), SAMPLE_ORDER_ID);
    assert_string_equal(created->customer_id, "C-42");
    assert_string_equal(created->total->currency, "EUR");
    assert_int_equal(created->total->amount_minor, 19999);
    //  The seed's contract has no items and no creation time.
    assert_int_equal(created->n_items, 0);
    assert_int_equal(created->created_at_us, SAMPLE_SENT_US);
}

static void
test_usage_example(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    Ev__V1__Envelope *envelope = s_golden(0);

    shim_message_t *message = NULL;
    shim_error_t error;
    assert_int_equal(shim_masstransit_encode(codec, envelope, &message, &error), SHIM_OK);
    assert_string_equal(shim_message_exchange(message), "Contracts:OrderCreatedEvent");

    //  A MassTransit consumer elsewhere would get it; a shim with another
    //  mark reads it back.
    shim_masstransit_t *other = s_codec_new(map, "other-deployment");
    s_delivery_t holder;
    s_delivery_of(message, &holder);
    Ev__V1__Envelope *received = NULL;
    assert_int_equal(shim_masstransit_decode(other, &holder.delivery, &received, &error), SHIM_OK);
    zframe_t *sent = s_pack_normalised(envelope);
    zframe_t *back = s_pack_normalised(received);
    assert_true(zframe_eq(sent, back));
    zframe_destroy(&back);
    zframe_destroy(&sent);

    //  Our own shim recognises its mark and does not bridge it back.
    Ev__V1__Envelope *own = (Ev__V1__Envelope *) &own;
    assert_int_equal(shim_masstransit_decode(codec, &holder.delivery, &own, &error),
                     SHIM_OWN_MESSAGE);
    assert_null(own);

    shim_envelope_destroy(&received);
    shim_message_destroy(&message);
    bus_envelope_destroy(&envelope);
    shim_masstransit_destroy(&other);
    shim_masstransit_destroy(&codec);
    assert_null(codec);
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_interop_sample_decodes(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    static const char *const fixtures[] = {"mt_order_created_stj.json",
                                           "mt_order_created_newtonsoft.json"};
    static const char *const content_types[] = {SHIM_MT_CONTENT_TYPE, NULL,
                                                "application/vnd.masstransit+json; charset=utf-8",
                                                "text/plain"};
    for (size_t index = 0; index < 2; index++) {
        char *body = s_fixture(fixtures[index]);
        for (size_t type = 0; type < 4; type++) {
            Ev__V1__Envelope *envelope = NULL;
            shim_error_t error;
            shim_rc_t rc = s_decode_text(codec, body, content_types[type], &envelope, &error);
            if (rc != SHIM_OK) {
                fail_msg("%s: %s", fixtures[index], error.reason);
            }
            s_check_sample(envelope);
            shim_envelope_destroy(&envelope);
        }
        zstr_free(&body);
    }

    //  The minimal body MassTransit accepts: no conversation, no time.
    char *body = s_fixture("mt_order_created_minimal.json");
    Ev__V1__Envelope *envelope = NULL;
    shim_error_t error;
    assert_int_equal(s_decode_text(codec, body, NULL, &envelope, &error), SHIM_OK);
    assert_int_equal(envelope->correlation_id.len, 0);
    assert_int_equal(envelope->occurred_at_us, 0);
    assert_int_equal(envelope->order_created->total->amount_minor, 19999);
    shim_envelope_destroy(&envelope);
    zstr_free(&body);

    //  An OrderCancelledEvent with initiator and MT-Activity-Id.
    body = s_fixture("mt_order_cancelled_stj.json");
    assert_int_equal(s_decode_text(codec, body, SHIM_MT_CONTENT_TYPE, &envelope, &error), SHIM_OK);
    char text[SVC_UUID_TEXT_SIZE];
    assert_string_equal(envelope->type, "OrderCancelled");
    assert_string_equal(s_id_text(&envelope->causation_id, text), SAMPLE_MESSAGE_ID);
    assert_string_equal(s_id_text(&envelope->correlation_id, text), SAMPLE_CONVERSATION_ID);
    assert_string_equal(envelope->traceparent, TRACEPARENT);
    assert_string_equal(envelope->order_cancelled->reason, "customer changed their mind");
    assert_int_equal(envelope->order_cancelled->cancelled_at_us, INT64_C(1736936490000000));
    Ev__V1__Envelope probe = *envelope;
    probe.stream = (char *) SHIM_STREAM;
    probe.seq = 1;
    assert_int_equal(bus_envelope_validate(&probe), BUS_OK);
    shim_envelope_destroy(&envelope);
    zstr_free(&body);

    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

//  ---------------------------------------------------------------------
//  Check that `object` has exactly the keys `keys` (NULL-terminated), in
//  that order.

static void
s_assert_keys(const json_t *object, const char *const *keys)
{
    const char *key;
    json_t *value;
    size_t index = 0;
    json_object_foreach((json_t *) object, key, value)
    {
        assert_non_null(keys[index]);
        assert_string_equal(key, keys[index]);
        index++;
    }
    assert_null(keys[index]);
}

static void
test_encoded_fields(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    Ev__V1__Envelope *envelope = s_golden(0);
    shim_message_t *message = NULL;
    shim_error_t error;
    assert_int_equal(shim_masstransit_encode(codec, envelope, &message, &error), SHIM_OK);

    //  The AMQP side (INTEROP.md 2.1 and checklist items 1-2).
    assert_string_equal(shim_message_exchange(message), "Contracts:OrderCreatedEvent");
    assert_string_equal(shim_message_routing_key(message), "");
    assert_string_equal(shim_message_content_type(message), "application/vnd.masstransit+json");
    assert_string_equal(shim_message_message_id(message), "01946a3b-7c00-7abc-8def-000000000001");
    assert_null(shim_message_correlation_id(message));
    assert_true(shim_message_persistent(message));
    assert_string_equal(shim_message_header(message, "X-Bridge-Origin"), SHIM_MARK);
    assert_string_equal(shim_message_header(message, "MT-Activity-Id"),
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba90201-01");
    assert_string_equal(shim_message_header(message, "traceparent"),
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba90201-01");
    assert_string_equal(shim_message_header(message, "tracestate"),
                        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");

    //  The body: the sample's keys in the sample's order, then each value.
    json_error_t json_error;
    json_t *root =
        json_loadb(shim_message_body(message), shim_message_body_size(message), 0, &json_error);
    assert_non_null(root);
    char *sample_text = s_fixture("mt_order_created_stj.json");
    json_t *sample = json_loads(sample_text, 0, &json_error);
    assert_non_null(sample);
    const char *sample_keys[16];
    size_t count = 0;
    const char *key;
    json_t *value;
    json_object_foreach(sample, key, value)
    {
        sample_keys[count++] = key;
    }
    assert_int_equal(count, 15);
    sample_keys[count] = NULL;
    s_assert_keys(root, sample_keys);
    static const char *const host_keys[] = {"machineName",
                                            "processName",
                                            "processId",
                                            "assembly",
                                            "assemblyVersion",
                                            "frameworkVersion",
                                            "massTransitVersion",
                                            "operatingSystemVersion",
                                            NULL};
    s_assert_keys(json_object_get(sample, "host"), host_keys);
    s_assert_keys(json_object_get(root, "host"), host_keys);

    assert_string_equal(json_string_value(json_object_get(root, "messageId")),
                        "01946a3b-7c00-7abc-8def-000000000001");
    assert_true(json_is_null(json_object_get(root, "requestId")));
    assert_true(json_is_null(json_object_get(root, "correlationId")));
    assert_string_equal(json_string_value(json_object_get(root, "conversationId")),
                        SAMPLE_CONVERSATION_ID);
    assert_string_equal(json_string_value(json_object_get(root, "initiatorId")),
                        "01946a3b-7b00-7abc-8def-0000000000c0");
    assert_string_equal(json_string_value(json_object_get(root, "sourceAddress")),
                        "rabbitmq://localhost/broker-shim");
    assert_string_equal(json_string_value(json_object_get(root, "destinationAddress")),
                        "rabbitmq://localhost/Contracts:OrderCreatedEvent");
    assert_true(json_is_null(json_object_get(root, "responseAddress")));
    assert_true(json_is_null(json_object_get(root, "faultAddress")));
    json_t *types = json_object_get(root, "messageType");
    assert_int_equal(json_array_size(types), 1);
    assert_string_equal(json_string_value(json_array_get(types, 0)), SAMPLE_URN);
    assert_true(json_is_null(json_object_get(root, "expirationTime")));
    assert_string_equal(json_string_value(json_object_get(root, "sentTime")),
                        "2025-01-15T10:20:30.123456Z");
    json_t *headers = json_object_get(root, "headers");
    assert_string_equal(json_string_value(json_object_get(headers, "X-Bridge-Origin")), SHIM_MARK);
    assert_string_equal(json_string_value(json_object_get(headers, "traceparent")),
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba90201-01");
    json_t *host = json_object_get(root, "host");
    assert_string_equal(json_string_value(json_object_get(host, "machineName")), "node-1");
    assert_int_equal(json_integer_value(json_object_get(host, "processId")), 4242);
    assert_true(json_is_null(json_object_get(host, "frameworkVersion")));

    //  The message: the seed record's fields first, decimals as strings
    //  with the currency's digits, GUIDs in the D form.
    json_t *body = json_object_get(root, "message");
    static const char *const message_keys[] = {"orderId", "customerId", "total", "currency",
                                               "items",   "createdAt",  NULL};
    s_assert_keys(body, message_keys);
    assert_string_equal(json_string_value(json_object_get(body, "orderId")), SAMPLE_ORDER_ID);
    assert_string_equal(json_string_value(json_object_get(body, "customerId")),
                        u8"müşteri-İstanbul-東京-42");
    assert_string_equal(json_string_value(json_object_get(body, "total")), "51.99");
    assert_string_equal(json_string_value(json_object_get(body, "currency")), "EUR");
    assert_string_equal(json_string_value(json_object_get(body, "createdAt")),
                        "2025-01-15T10:20:30.123456Z");
    json_t *items = json_object_get(body, "items");
    assert_int_equal(json_array_size(items), 3);
    static const char *const item_keys[] = {"sku", "quantity", "unitPrice", NULL};
    s_assert_keys(json_array_get(items, 0), item_keys);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "sku")),
                        "SKU-RED-MUG");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "quantity")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "unitPrice")),
                        "12.50");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 2), "unitPrice")),
                        "1.50");
    //  Non-ASCII is written as is (MassTransit's relaxed encoder).
    assert_non_null(strstr(shim_message_body(message), u8"東京"));

    //  Deterministic: the same envelope, the same bytes.
    shim_message_t *again = NULL;
    assert_int_equal(shim_masstransit_encode(codec, envelope, &again, &error), SHIM_OK);
    assert_int_equal(shim_message_body_size(again), shim_message_body_size(message));
    assert_memory_equal(shim_message_body(again), shim_message_body(message),
                        shim_message_body_size(message));

    shim_message_destroy(&again);
    json_decref(sample);
    zstr_free(&sample_text);
    json_decref(root);
    shim_message_destroy(&message);
    bus_envelope_destroy(&envelope);
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_every_golden_sample_round_trips(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *sender = s_codec_new(map, SHIM_MARK);
    shim_masstransit_t *receiver = s_codec_new(map, "other-deployment");
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        Ev__V1__Envelope *golden = s_golden(index);
        Ev__V1__Envelope original = *golden;
        shim_message_t *message = NULL;
        shim_error_t error;
        if (shim_envelope_from_rabbitmq(golden)) {
            //  The cancellation sample came from RabbitMQ: never back.
            assert_int_equal(shim_masstransit_encode(sender, golden, &message, &error),
                             SHIM_OWN_MESSAGE);
            assert_null(message);
            original.origin = (char *) "bus";
        }
        for (int without_correlation = 0; without_correlation < 2; without_correlation++) {
            if (without_correlation) {
                original.correlation_id.len = 0;
                original.correlation_id.data = NULL;
            }
            assert_int_equal(shim_masstransit_encode(sender, &original, &message, &error), SHIM_OK);
            assert_string_equal(shim_message_exchange(message),
                                shim_map_exchange(map, original.payload_case));
            s_delivery_t holder;
            s_delivery_of(message, &holder);
            Ev__V1__Envelope *received = NULL;
            shim_rc_t rc = shim_masstransit_decode(receiver, &holder.delivery, &received, &error);
            if (rc != SHIM_OK) {
                fail_msg("%s: %s", contract_samples_name(index), error.reason);
            }
            assert_string_equal(received->origin, SHIM_ORIGIN_PREFIX SHIM_STREAM);
            zframe_t *sent = s_pack_normalised(&original);
            zframe_t *back = s_pack_normalised(received);
            if (!zframe_eq(sent, back)) {
                fail_msg("%s (correlation %s) differs after the round trip",
                         contract_samples_name(index), without_correlation ? "none" : "set");
            }
            zframe_destroy(&back);
            zframe_destroy(&sent);
            shim_envelope_destroy(&received);
            shim_message_destroy(&message);
        }
        bus_envelope_destroy(&golden);
    }
    shim_masstransit_destroy(&receiver);
    shim_masstransit_destroy(&sender);
    shim_map_destroy(&map);
}

static void
test_decimals_are_exact(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    static const struct {
        const char *total;
        const char *currency;
        int64_t minor;
    } cases[] = {
        {"19.99", NULL, 1999},
        {"\"19.99\"", NULL, 1999},
        {"0.1", NULL, 10},
        {"\"0.1\"", NULL, 10},
        {"1e2", NULL, 10000},
        {"12345678901234.56", NULL, 1234567890123456},
        {"\"12345678901234.56\"", NULL, 1234567890123456},
        {"\"100.00\"", NULL, 10000},
        {"500", "JPY", 500},
        {"\"1.234\"", "KWD", 1234},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        const char *currency = cases[index].currency ? cases[index].currency : "EUR";
        char *message = zsys_sprintf("{\"orderId\":\"" SAMPLE_ORDER_ID
                                     "\",\"customerId\":\"C-42\",\"total\":%s,\"currency\":%s%s%s}",
                                     cases[index].total, cases[index].currency ? "\"" : "",
                                     cases[index].currency ? currency : "null",
                                     cases[index].currency ? "\"" : "");
        char *body = s_envelope_with(message);
        Ev__V1__Envelope *envelope = NULL;
        shim_error_t error;
        if (s_decode_text(codec, body, NULL, &envelope, &error) != SHIM_OK) {
            fail_msg("%s: %s", cases[index].total, error.reason);
        }
        assert_int_equal(envelope->order_created->total->amount_minor, cases[index].minor);
        assert_string_equal(envelope->order_created->total->currency, currency);
        shim_envelope_destroy(&envelope);
        zstr_free(&body);
        zstr_free(&message);
    }
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_times_with_zone_offset_or_none(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    static const char *const times[] = {"2025-01-15T10:20:30.1234567Z",
                                        "2025-01-15T11:20:30.1234567+01:00",
                                        "2025-01-15T10:20:30.1234567"};
    for (size_t index = 0; index < 3; index++) {
        char *body =
            zsys_sprintf("{\"messageId\":\"" SAMPLE_MESSAGE_ID "\",\"messageType\":[\"" SAMPLE_URN
                         "\"],\"sentTime\":\"%s\",\"message\":{\"orderId\":\"" SAMPLE_ORDER_ID
                         "\",\"customerId\":\"C-42\",\"total\":\"1.00\"}}",
                         times[index]);
        Ev__V1__Envelope *envelope = NULL;
        shim_error_t error;
        assert_int_equal(s_decode_text(codec, body, NULL, &envelope, &error), SHIM_OK);
        assert_int_equal(envelope->occurred_at_us, SAMPLE_SENT_US);
        shim_envelope_destroy(&envelope);
        zstr_free(&body);
    }
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_raw_json(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    char *body = s_fixture("raw_order_created.json");
    char text[SVC_UUID_TEXT_SIZE];
    shim_error_t error;
    Ev__V1__Envelope *envelope = NULL;

    //  MT-MessageType with several URNs, ids in headers.
    shim_header_t headers[] = {{"MT-MessageType", "urn:message:Contracts:IOrderEvent; " SAMPLE_URN},
                               {"MessageId", SAMPLE_MESSAGE_ID},
                               {"ConversationId", SAMPLE_CONVERSATION_ID},
                               {"traceparent", TRACEPARENT}};
    shim_delivery_t delivery = {.body = body,
                                .body_size = strlen(body),
                                .content_type = "application/json; charset=utf-8",
                                .headers = headers,
                                .header_count = 4};
    assert_int_equal(shim_masstransit_decode(codec, &delivery, &envelope, &error), SHIM_OK);
    assert_string_equal(envelope->type, "OrderCreated");
    assert_string_equal(s_id_text(&envelope->message_id, text), SAMPLE_MESSAGE_ID);
    assert_string_equal(s_id_text(&envelope->correlation_id, text), SAMPLE_CONVERSATION_ID);
    assert_string_equal(envelope->traceparent, TRACEPARENT);
    assert_int_equal(envelope->occurred_at_us, 0);
    assert_int_equal(envelope->order_created->n_items, 1);
    assert_string_equal(envelope->order_created->items[0]->sku, "SKU-RED-MUG");
    assert_int_equal(envelope->order_created->items[0]->quantity, 2);
    assert_int_equal(envelope->order_created->items[0]->unit_price->amount_minor, 1250);
    Ev__V1__Envelope probe = *envelope;
    probe.stream = (char *) SHIM_STREAM;
    probe.seq = 1;
    assert_int_equal(bus_envelope_validate(&probe), BUS_OK);
    shim_envelope_destroy(&envelope);

    //  No header: the exchange names the type, the property the id.
    delivery.header_count = 0;
    delivery.exchange = "Contracts:OrderCreatedEvent";
    delivery.message_id = "{0A6E0000-AC11-0242-F0B1-08DD35E1A2B3}";
    assert_int_equal(shim_masstransit_decode(codec, &delivery, &envelope, &error), SHIM_OK);
    assert_string_equal(s_id_text(&envelope->message_id, text), SAMPLE_MESSAGE_ID);
    shim_envelope_destroy(&envelope);

    //  No id anywhere.
    delivery.message_id = NULL;
    assert_int_equal(shim_masstransit_decode(codec, &delivery, &envelope, &error),
                     SHIM_MISSING_FIELD);
    assert_non_null(strstr(error.reason, "messageId"));
    //  A property that is no GUID (MassTransit throws, issue #2309).
    delivery.message_id = "42";
    assert_int_equal(shim_masstransit_decode(codec, &delivery, &envelope, &error), SHIM_BAD_ID);
    //  No header, exchange not mapped.
    delivery.message_id = SAMPLE_MESSAGE_ID;
    delivery.exchange = "order-created";
    assert_int_equal(shim_masstransit_decode(codec, &delivery, &envelope, &error),
                     SHIM_NO_MESSAGE_TYPE);
    //  A header naming only unknown types.
    shim_header_t unknown[] = {{"mt-messagetype", "urn:message:Contracts:OrderPlaced"}};
    delivery.headers = unknown;
    delivery.header_count = 1;
    assert_int_equal(shim_masstransit_decode(codec, &delivery, &envelope, &error),
                     SHIM_UNKNOWN_TYPE);
    //  A bad GUID in a header.
    shim_header_t bad[] = {{"MT-MessageType", SAMPLE_URN}, {"ConversationId", "conv-1"}};
    delivery.headers = bad;
    delivery.header_count = 2;
    assert_int_equal(shim_masstransit_decode(codec, &delivery, &envelope, &error), SHIM_BAD_ID);
    assert_null(envelope);

    zstr_free(&body);
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

//  ---------------------------------------------------------------------
//  Decode `body` with no content type and check the failure.

static void
s_assert_poison(shim_masstransit_t *codec, const char *body, size_t size, shim_rc_t expected)
{
    shim_delivery_t delivery = {.body = body, .body_size = size};
    Ev__V1__Envelope *envelope = (Ev__V1__Envelope *) &delivery;
    shim_error_t error;
    shim_rc_t rc = shim_masstransit_decode(codec, &delivery, &envelope, &error);
    if (rc != expected) {
        fail_msg("%.200s: %s (%s), expected %s", body, shim_rc_name(rc), error.reason,
                 shim_rc_name(expected));
    }
    assert_null(envelope);
    assert_int_equal(error.rc, expected);
    assert_true(strlen(error.reason) > 0);
}

static void
test_poison_messages(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);

    //  The fixtures of the poison cases.
    static const struct {
        const char *fixture;
        shim_rc_t rc;
    } fixtures[] = {
        {"poison_not_json.txt", SHIM_NOT_JSON},      {"poison_wrong_urn.json", SHIM_UNKNOWN_TYPE},
        {"poison_no_message.json", SHIM_NO_MESSAGE}, {"poison_bad_guid.json", SHIM_BAD_ID},
        {"poison_bad_amount.json", SHIM_BAD_AMOUNT},
    };
    for (size_t index = 0; index < sizeof fixtures / sizeof fixtures[0]; index++) {
        char *body = s_fixture(fixtures[index].fixture);
        s_assert_poison(codec, body, strlen(body), fixtures[index].rc);
        zstr_free(&body);
    }

    //  Envelope-level cases.
    static const struct {
        const char *body;
        shim_rc_t rc;
    } envelopes[] = {
        {"", SHIM_NOT_JSON},
        {"[1,2]", SHIM_NOT_JSON},
        {"\"text\"", SHIM_NOT_JSON},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID "\",\"message\":{}}", SHIM_NO_MESSAGE_TYPE},
        {"{\"messageType\":[],\"message\":{}}", SHIM_NO_MESSAGE_TYPE},
        {"{\"messageType\":null,\"message\":{}}", SHIM_NO_MESSAGE_TYPE},
        {"{\"messageType\":\"" SAMPLE_URN "\",\"message\":{}}", SHIM_BAD_FIELD},
        {"{\"messageType\":[42],\"message\":{}}", SHIM_BAD_FIELD},
        {"{\"messageType\":[\"" SAMPLE_URN "\"],\"message\":null}", SHIM_NO_MESSAGE},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID "\",\"messageType\":[\"" SAMPLE_URN
         "\"],\"message\":\"x\"}",
         SHIM_BAD_FIELD},
        {"{\"messageType\":[\"" SAMPLE_URN "\"],\"MessageType\":[\"" SAMPLE_URN
         "\"],\"message\":{}}",
         SHIM_BAD_FIELD},
        {"{\"messageId\":\"not-a-guid\",\"messageType\":[\"" SAMPLE_URN "\"],\"message\":{}}",
         SHIM_BAD_ID},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID
         "\",\"conversationId\":7,\"messageType\":[\"" SAMPLE_URN "\"],\"message\":{}}",
         SHIM_BAD_ID},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID
         "\",\"correlationId\":\"x\",\"messageType\":[\"" SAMPLE_URN "\"],\"message\":{}}",
         SHIM_BAD_ID},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID
         "\",\"sentTime\":\"yesterday\",\"messageType\":[\"" SAMPLE_URN "\"],\"message\":{}}",
         SHIM_BAD_FIELD},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID
         "\",\"expirationTime\":5,\"messageType\":[\"" SAMPLE_URN
         "\"],\"message\":{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1}}",
         SHIM_BAD_FIELD},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID
         "\",\"sourceAddress\":\"no scheme\",\"messageType\":[\"" SAMPLE_URN
         "\"],\"message\":{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1}}",
         SHIM_BAD_FIELD},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID
         "\",\"host\":{\"processId\":\"x\"},\"messageType\":[\"" SAMPLE_URN
         "\"],\"message\":{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1}}",
         SHIM_BAD_FIELD},
        {"{\"messageId\":\"" SAMPLE_MESSAGE_ID "\",\"headers\":[],\"messageType\":[\"" SAMPLE_URN
         "\"],\"message\":{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1}}",
         SHIM_BAD_FIELD},
        {"{\"messageType\":[\"" SAMPLE_URN "\"],\"message\":{\"orderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1}}",
         SHIM_MISSING_FIELD},
        {"{\"messageId\":\"00000000-0000-0000-0000-000000000000\",\"messageType\":[\"" SAMPLE_URN
         "\"],\"message\":{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1}}",
         SHIM_MISSING_FIELD},
    };
    for (size_t index = 0; index < sizeof envelopes / sizeof envelopes[0]; index++) {
        s_assert_poison(codec, envelopes[index].body, strlen(envelopes[index].body),
                        envelopes[index].rc);
    }

    //  Message-level cases, inside a valid envelope.
    static const struct {
        const char *message;
        shim_rc_t rc;
    } messages[] = {
        {"{\"customerId\":\"C-42\",\"total\":\"1.00\"}", SHIM_MISSING_FIELD},
        {"{\"orderId\":\"00000000-0000-0000-0000-000000000000\",\"customerId\":\"C\",\"total\":1}",
         SHIM_MISSING_FIELD},
        {"{\"orderId\":\"5f0c2a8e3d4b4c6e9a1f2b7d8e9f0a1b\",\"customerId\":\"C\",\"total\":1}",
         SHIM_BAD_ID},
        {"{\"orderId\":\"{" SAMPLE_ORDER_ID "}\",\"customerId\":\"C\",\"total\":1}", SHIM_BAD_ID},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"total\":\"1.00\"}", SHIM_MISSING_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"\",\"total\":1}", SHIM_BAD_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":42,\"total\":1}", SHIM_BAD_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C-42\"}", SHIM_MISSING_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":\"abc\"}",
         SHIM_BAD_AMOUNT},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":-1}",
         SHIM_BAD_AMOUNT},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1e30}",
         SHIM_BAD_AMOUNT},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1,\"currency\":\"XYZ\"}",
         SHIM_BAD_AMOUNT},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1,\"currency\":\"EURO\"}",
         SHIM_BAD_AMOUNT},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1.5,\"currency\":\"JPY\"}",
         SHIM_BAD_AMOUNT},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1,\"items\":{}}",
         SHIM_BAD_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1,\"items\":[1]}",
         SHIM_BAD_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1,\"items\":[{\"sku\":"
         "\"A\",\"quantity\":0,\"unitPrice\":1}]}",
         SHIM_BAD_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1,\"items\":[{\"sku\":"
         "\"A\",\"quantity\":1.5,\"unitPrice\":1}]}",
         SHIM_BAD_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1,\"items\":[{\"sku\":"
         "\"A\",\"quantity\":1}]}",
         SHIM_MISSING_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1,\"items\":[{"
         "\"quantity\":1,\"unitPrice\":1}]}",
         SHIM_MISSING_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1,\"items\":[{\"sku\":"
         "\"A\",\"quantity\":1,\"unitPrice\":\"0.001\"}]}",
         SHIM_BAD_AMOUNT},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C\",\"total\":1,\"createdAt\":"
         "\"2025-02-30T00:00:00Z\"}",
         SHIM_BAD_FIELD},
        {"{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"OrderId\":\"" SAMPLE_ORDER_ID
         "\",\"customerId\":\"C\",\"total\":1}",
         SHIM_BAD_FIELD},
    };
    for (size_t index = 0; index < sizeof messages / sizeof messages[0]; index++) {
        char *body = s_envelope_with(messages[index].message);
        s_assert_poison(codec, body, strlen(body), messages[index].rc);
        zstr_free(&body);
    }

    //  Bounds: body, items, text.
    char *big = (char *) zmalloc(SHIM_BODY_MAX + 2);
    memset(big, ' ', SHIM_BODY_MAX + 1);
    big[0] = '{';
    big[SHIM_BODY_MAX] = '}';
    s_assert_poison(codec, big, SHIM_BODY_MAX + 1, SHIM_TOO_LARGE);
    freen(big);
    char *items = strdup("[");
    for (int index = 0; index <= BUS_ITEMS_MAX; index++) {
        char *more = zsys_sprintf("%s%s{\"sku\":\"A\",\"quantity\":1,\"unitPrice\":1}", items,
                                  index ? "," : "");
        zstr_free(&items);
        items = more;
    }
    char *message = zsys_sprintf("{\"orderId\":\"" SAMPLE_ORDER_ID
                                 "\",\"customerId\":\"C\",\"total\":101,\"items\":%s]}",
                                 items);
    char *body = s_envelope_with(message);
    s_assert_poison(codec, body, strlen(body), SHIM_TOO_LARGE);
    zstr_free(&body);
    zstr_free(&message);
    zstr_free(&items);
    char customer[SHIM_TEXT_MAX + 2];
    memset(customer, 'c', sizeof customer - 1);
    customer[sizeof customer - 1] = '\0';
    message = zsys_sprintf(
        "{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"%s\",\"total\":1}", customer);
    body = s_envelope_with(message);
    s_assert_poison(codec, body, strlen(body), SHIM_TOO_LARGE);
    zstr_free(&body);
    zstr_free(&message);

    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_no_loops(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    Ev__V1__Envelope *envelope = s_golden(2);
    shim_message_t *message = NULL;
    shim_error_t error;
    assert_int_equal(shim_masstransit_encode(codec, envelope, &message, &error), SHIM_OK);
    s_delivery_t holder;
    s_delivery_of(message, &holder);
    Ev__V1__Envelope *received = NULL;

    //  The AMQP header alone, the envelope's headers alone (a shovel that
    //  drops AMQP headers), or both: ours.
    assert_int_equal(shim_masstransit_decode(codec, &holder.delivery, &received, &error),
                     SHIM_OWN_MESSAGE);
    holder.delivery.header_count = 0;
    assert_int_equal(shim_masstransit_decode(codec, &holder.delivery, &received, &error),
                     SHIM_OWN_MESSAGE);
    assert_null(received);

    //  What another deployment's shim decodes came from RabbitMQ, and is
    //  never encoded for RabbitMQ again.
    shim_masstransit_t *other = s_codec_new(map, "other-deployment");
    assert_int_equal(shim_masstransit_decode(other, &holder.delivery, &received, &error), SHIM_OK);
    assert_true(shim_envelope_from_rabbitmq(received));
    Ev__V1__Envelope probe = *received;
    probe.stream = (char *) SHIM_STREAM;
    probe.seq = 1;
    shim_message_t *back = NULL;
    assert_int_equal(shim_masstransit_encode(other, &probe, &back, &error), SHIM_OWN_MESSAGE);
    assert_null(back);
    assert_int_equal(shim_masstransit_encode(codec, &probe, &back, &error), SHIM_OWN_MESSAGE);
    assert_non_null(strstr(error.reason, "RabbitMQ"));

    shim_envelope_destroy(&received);
    shim_masstransit_destroy(&other);
    shim_message_destroy(&message);
    bus_envelope_destroy(&envelope);
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_order_created_without_items(void **state)
{
    (void) state;
    //  What a .NET publisher of the seed's record sends: no items. The
    //  envelope has zero items; our bus rules (1..BUS_ITEMS_MAX) still
    //  refuse it, so it is not validated here (README.md, "Open").
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    static const char *const messages[] = {
        "{\"orderId\":\"" SAMPLE_ORDER_ID "\",\"customerId\":\"C-42\",\"total\":\"199.99\"}",
        "{\"orderId\":\"" SAMPLE_ORDER_ID
        "\",\"customerId\":\"C-42\",\"total\":\"199.99\",\"items\":null}",
        "{\"orderId\":\"" SAMPLE_ORDER_ID
        "\",\"customerId\":\"C-42\",\"total\":\"199.99\",\"items\":[]}"};
    for (size_t index = 0; index < 3; index++) {
        char *body = s_envelope_with(messages[index]);
        Ev__V1__Envelope *envelope = NULL;
        shim_error_t error;
        assert_int_equal(s_decode_text(codec, body, NULL, &envelope, &error), SHIM_OK);
        assert_int_equal(envelope->order_created->n_items, 0);
        assert_null(envelope->order_created->items);
        assert_int_equal(envelope->order_created->total->amount_minor, 19999);
        assert_string_equal(envelope->order_created->customer_id, "C-42");
        assert_int_equal(shim_envelope_order_id(envelope)->len, BUS_ID_SIZE);
        shim_envelope_destroy(&envelope);
        zstr_free(&body);
    }
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_trace_context(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    static const struct {
        const char *headers;
        const char *traceparent;
        const char *tracestate;
    } cases[] = {
        {"{\"traceparent\":\"" TRACEPARENT "\",\"tracestate\":\"a=b\"}", TRACEPARENT, "a=b"},
        {"{\"MT-Activity-Id\":\"" TRACEPARENT "\"}", TRACEPARENT, ""},
        {"{\"mt-activity-id\":\"" TRACEPARENT "\",\"traceparent\":\"junk\"}", TRACEPARENT, ""},
        //  Hierarchical activity ids, other versions, garbage: left out.
        {"{\"MT-Activity-Id\":\"|a1b2c3.1.\"}", "", ""},
        {"{\"traceparent\":\"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}", "", ""},
        {"{\"traceparent\":\"00-00000000000000000000000000000000-00f067aa0ba902b7-01\"}", "", ""},
        {"{\"traceparent\":42,\"tracestate\":\"a=b\"}", "", ""},
        {"{\"traceparent\":\"" TRACEPARENT "\",\"tracestate\":\"caf\u00e9=1\"}", TRACEPARENT, ""},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        char *body =
            zsys_sprintf("{\"messageId\":\"" SAMPLE_MESSAGE_ID "\",\"messageType\":[\"" SAMPLE_URN
                         "\"],\"headers\":%s,\"message\":{\"orderId\":\"" SAMPLE_ORDER_ID
                         "\",\"customerId\":\"C-42\",\"total\":\"1.00\"}}",
                         cases[index].headers);
        Ev__V1__Envelope *envelope = NULL;
        shim_error_t error;
        if (s_decode_text(codec, body, NULL, &envelope, &error) != SHIM_OK) {
            fail_msg("%s: %s", cases[index].headers, error.reason);
        }
        assert_string_equal(envelope->traceparent, cases[index].traceparent);
        assert_string_equal(envelope->tracestate, cases[index].tracestate);
        shim_envelope_destroy(&envelope);
        zstr_free(&body);
    }
    //  Without envelope headers, the AMQP headers are used.
    char *body = s_fixture("mt_order_created_minimal.json");
    shim_header_t headers[] = {{"traceparent", TRACEPARENT}, {"tracestate", "x=y"}};
    shim_delivery_t delivery = {
        .body = body, .body_size = strlen(body), .headers = headers, .header_count = 2};
    Ev__V1__Envelope *envelope = NULL;
    shim_error_t error;
    assert_int_equal(shim_masstransit_decode(codec, &delivery, &envelope, &error), SHIM_OK);
    assert_string_equal(envelope->traceparent, TRACEPARENT);
    assert_string_equal(envelope->tracestate, "x=y");
    shim_envelope_destroy(&envelope);
    zstr_free(&body);
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_configured_names(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    assert_int_equal(shim_map_configure(map, "OrderCreated=Sales.Contracts:OrderPlaced@sales"), 0);
    shim_masstransit_config_t config = {.map = map,
                                        .broker_address = "rabbitmq://mq.example:5673/prod",
                                        .source_address = "rabbitmq://mq.example:5673/prod/shim",
                                        .mark = SHIM_MARK,
                                        .stream = SHIM_STREAM};
    shim_masstransit_t *codec = shim_masstransit_new(&config);
    assert_non_null(codec);
    Ev__V1__Envelope *envelope = s_golden(0);
    shim_message_t *message = NULL;
    shim_error_t error;
    assert_int_equal(shim_masstransit_encode(codec, envelope, &message, &error), SHIM_OK);
    assert_string_equal(shim_message_exchange(message), "sales");
    json_error_t json_error;
    json_t *root = json_loads(shim_message_body(message), 0, &json_error);
    assert_string_equal(json_string_value(json_object_get(root, "destinationAddress")),
                        "rabbitmq://mq.example:5673/prod/sales");
    assert_string_equal(json_string_value(json_array_get(json_object_get(root, "messageType"), 0)),
                        "urn:message:Sales.Contracts:OrderPlaced");
    //  Host strings not configured are written as null.
    assert_true(json_is_null(json_object_get(json_object_get(root, "host"), "machineName")));
    json_decref(root);
    //  The default names are unknown now.
    char *body = s_fixture("mt_order_created_stj.json");
    Ev__V1__Envelope *received = NULL;
    assert_int_equal(s_decode_text(codec, body, NULL, &received, &error), SHIM_UNKNOWN_TYPE);
    zstr_free(&body);
    shim_message_destroy(&message);
    bus_envelope_destroy(&envelope);
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_invalid_configuration(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_config_t good = {.map = map,
                                      .broker_address = "rabbitmq://localhost",
                                      .source_address = "rabbitmq://localhost/shim",
                                      .mark = SHIM_MARK,
                                      .stream = SHIM_STREAM};
    shim_masstransit_t *codec = shim_masstransit_new(&good);
    assert_non_null(codec);
    shim_masstransit_destroy(&codec);
    static const char *const brokers[] = {"amqp://localhost", "rabbitmq://localhost/", "", NULL};
    for (size_t index = 0; index < 4; index++) {
        shim_masstransit_config_t config = good;
        config.broker_address = brokers[index];
        assert_null(shim_masstransit_new(&config));
    }
    static const char *const marks[] = {"", "tab\there", NULL};
    for (size_t index = 0; index < 3; index++) {
        shim_masstransit_config_t config = good;
        config.mark = marks[index];
        assert_null(shim_masstransit_new(&config));
    }
    static const char *const streams[] = {"", "Shim-0", "shim/0", NULL};
    for (size_t index = 0; index < 4; index++) {
        shim_masstransit_config_t config = good;
        config.stream = streams[index];
        assert_null(shim_masstransit_new(&config));
    }
    shim_masstransit_config_t config = good;
    config.source_address = "broker-shim";
    assert_null(shim_masstransit_new(&config));
    shim_map_destroy(&map);
}

static void
test_encode_refuses_what_it_cannot_write(void **state)
{
    (void) state;
    shim_map_t *map = shim_map_new();
    shim_masstransit_t *codec = s_codec_new(map, SHIM_MARK);
    Ev__V1__Envelope *envelope = s_golden(0);
    shim_message_t *message = NULL;
    shim_error_t error;

    //  A broken envelope (seq 0), an unknown type, a time past year 9999.
    Ev__V1__Envelope copy = *envelope;
    copy.seq = 0;
    assert_int_equal(shim_masstransit_encode(codec, &copy, &message, &error), SHIM_INVALID);
    copy = *envelope;
    copy.payload_case = EV__V1__ENVELOPE__PAYLOAD__NOT_SET;
    copy.type = (char *) "OrderShipped";
    assert_int_equal(shim_masstransit_encode(codec, &copy, &message, &error), SHIM_NOT_MAPPED);
    copy = *envelope;
    copy.occurred_at_us = INT64_MAX;
    assert_int_equal(shim_masstransit_encode(codec, &copy, &message, &error), SHIM_INVALID);
    //  Money in an unknown currency, or items in another currency.
    Ev__V1__OrderCreated created = *envelope->order_created;
    Ev__V1__Money total = *created.total;
    total.currency = (char *) "ABC";
    created.total = &total;
    copy = *envelope;
    copy.order_created = &created;
    assert_int_equal(shim_masstransit_encode(codec, &copy, &message, &error), SHIM_INVALID);
    total.currency = (char *) "USD";
    assert_int_equal(shim_masstransit_encode(codec, &copy, &message, &error), SHIM_INVALID);
    assert_non_null(strstr(error.reason, "unitPrice"));
    assert_null(message);
    bus_envelope_destroy(&envelope);
    shim_masstransit_destroy(&codec);
    shim_map_destroy(&map);
}

static void
test_return_codes(void **state)
{
    (void) state;
    assert_string_equal(shim_rc_name(SHIM_OK), "ok");
    assert_string_equal(shim_rc_name(SHIM_NOT_JSON), "not-json");
    assert_string_equal(shim_rc_name(SHIM_BAD_AMOUNT), "bad-amount");
    assert_string_equal(shim_rc_name((shim_rc_t) 999), "unknown");
    assert_string_equal(shim_strerror((shim_rc_t) 999), "unknown shim error");
    for (int rc = SHIM_OK; rc <= SHIM_INVALID; rc++) {
        assert_true(strlen(shim_strerror((shim_rc_t) rc)) > 0);
        for (int other = rc + 1; other <= SHIM_INVALID; other++) {
            assert_string_not_equal(shim_rc_name((shim_rc_t) rc), shim_rc_name((shim_rc_t) other));
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_interop_sample_decodes),
        cmocka_unit_test(test_encoded_fields),
        cmocka_unit_test(test_every_golden_sample_round_trips),
        cmocka_unit_test(test_decimals_are_exact),
        cmocka_unit_test(test_times_with_zone_offset_or_none),
        cmocka_unit_test(test_raw_json),
        cmocka_unit_test(test_poison_messages),
        cmocka_unit_test(test_no_loops),
        cmocka_unit_test(test_order_created_without_items),
        cmocka_unit_test(test_trace_context),
        cmocka_unit_test(test_configured_names),
        cmocka_unit_test(test_invalid_configuration),
        cmocka_unit_test(test_encode_refuses_what_it_cannot_write),
        cmocka_unit_test(test_return_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
