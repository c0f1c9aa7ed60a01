/*  =========================================================================
    contract_golden_test - the wire format of ev.v1, pinned by golden files

    (1) Each sample built in code packs to exactly the bytes of its golden
    file, so any change in how an existing event encodes fails here.
    (2) Each golden file unpacks to the values below, field by field, and
    packs back to the same bytes.
    (3) Readers are tolerant: unknown fields, unknown payload types and
    unknown fields inside a known payload are skipped, known fields kept.
    (4) Truncated and garbage bytes fail to unpack (NULL), never crash.
    =========================================================================
*/
#include "contract_samples.h"
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  The order every sample is about, and the flow's ids, in text form.
#define ORDER_ID "5f0c2a8e-3d4b-4c6e-9a1f-2b7d8e9f0a1b"
#define CORRELATION_ID "0a6e0000-ac11-0242-4c5d-08dd35e1a2b4"
#define CREATE_COMMAND_ID "01946a3b-7b00-7abc-8def-0000000000c0"
#define CANCEL_COMMAND_ID "01946a3b-7b00-7abc-8def-0000000000c1"
#define ORDER_CREATED_ID "01946a3b-7c00-7abc-8def-000000000001"
#define ORDER_CANCELLED_ID "01946a3b-7c00-7abc-8def-000000000002"
#define TRACE_PREFIX "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9020"
#define TRACESTATE "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
#define CREATED_AT_US INT64_C(1736936430123456)

//  Envelope metadata a golden sample must carry (the rest is shared).
typedef struct {
    const char *type;         //  Envelope.type
    const char *stream;       //  Envelope.stream
    uint64_t seq;             //  Envelope.seq
    const char *message_id;   //  Envelope.message_id, UUID text
    int64_t occurred_at_us;   //  Envelope.occurred_at_us
    const char *causation_id; //  Envelope.causation_id, UUID text
    const char *traceparent;  //  Envelope.traceparent
    const char *origin;       //  Envelope.origin
} s_header_t;

//  ---------------------------------------------------------------------
//  Append a protobuf varint to `chunk`.

static void
s_append_varint(zchunk_t *chunk, uint64_t value)
{
    uint8_t bytes[10];
    size_t size = 0;
    while (value >= 0x80) {
        bytes[size++] = (uint8_t) (value | 0x80);
        value >>= 7;
    }
    bytes[size++] = (uint8_t) value;
    zchunk_extend(chunk, bytes, size);
}

//  ---------------------------------------------------------------------
//  Append a length-delimited field (wire type 2) to `chunk`.

static void
s_append_bytes_field(zchunk_t *chunk, uint32_t number, const void *data, size_t size)
{
    s_append_varint(chunk, (uint64_t) number << 3 | 2);
    s_append_varint(chunk, size);
    zchunk_extend(chunk, data, size);
}

//  ---------------------------------------------------------------------
//  Pack any message into a fresh chunk.

static zchunk_t *
s_pack_message(const ProtobufCMessage *message)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    zchunk_t *chunk = zchunk_new(NULL, size);
    uint8_t *buffer = (uint8_t *) zmalloc(size + 1);
    assert_int_equal(protobuf_c_message_pack(message, buffer), size);
    zchunk_extend(chunk, buffer, size);
    freen(buffer);
    return chunk;
}

//  ---------------------------------------------------------------------
//  Unpack `chunk` as an Envelope (NULL if it does not decode).

static Ev__V1__Envelope *
s_unpack(zchunk_t *chunk)
{
    return ev__v1__envelope__unpack(NULL, zchunk_size(chunk), zchunk_data(chunk));
}

//  ---------------------------------------------------------------------
//  Assert that a bytes field holds the UUID whose text form is `expected`.

static void
s_assert_uuid(ProtobufCBinaryData actual, const char *expected)
{
    assert_int_equal(actual.len, 16);
    char text[37];
    const uint8_t *b = actual.data;
    int length = snprintf(text, sizeof text,
                          "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                          b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                          b[12], b[13], b[14], b[15]);
    assert_int_equal(length, 36);
    assert_string_equal(text, expected);
}

//  ---------------------------------------------------------------------
//  Assert a Money value.

static void
s_assert_money(const Ev__V1__Money *money, const char *currency, int64_t amount_minor)
{
    assert_non_null(money);
    assert_string_equal(money->currency, currency);
    assert_int_equal(money->amount_minor, amount_minor);
}

//  ---------------------------------------------------------------------
//  Index of the sample called `name`.

static size_t
s_sample_index(const char *name)
{
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        if (streq(contract_samples_name(index), name)) {
            return index;
        }
    }
    fail_msg("no sample named %s", name);
    return 0;
}

//  ---------------------------------------------------------------------
//  The bytes of the golden file of sample `name`.

static zchunk_t *
s_golden_bytes(const char *name)
{
    char *hex = contract_samples_golden_read(GOLDEN_DIR, s_sample_index(name));
    assert_non_null(hex);
    zchunk_t *bytes = contract_samples_hex_decode(hex);
    zstr_free(&hex);
    assert_non_null(bytes);
    return bytes;
}

//  ---------------------------------------------------------------------
//  Unpack the golden file of sample `name`, assert that it packs back to
//  the same bytes and that its metadata is `header`. Caller frees the
//  envelope with ev__v1__envelope__free_unpacked.

static Ev__V1__Envelope *
s_unpack_golden(const char *name, const s_header_t *header)
{
    zchunk_t *golden = s_golden_bytes(name);
    Ev__V1__Envelope *envelope = s_unpack(golden);
    assert_non_null(envelope);
    zchunk_t *repacked = s_pack_message(&envelope->base);
    assert_true(zchunk_size(repacked) == zchunk_size(golden));
    assert_memory_equal(zchunk_data(repacked), zchunk_data(golden), zchunk_size(golden));
    zchunk_destroy(&repacked);
    zchunk_destroy(&golden);

    assert_int_equal(envelope->base.n_unknown_fields, 0);
    assert_string_equal(envelope->type, header->type);
    assert_string_equal(envelope->stream, header->stream);
    assert_int_equal(envelope->seq, header->seq);
    assert_int_equal(envelope->partition, 51);
    s_assert_uuid(envelope->message_id, header->message_id);
    assert_int_equal(envelope->occurred_at_us, header->occurred_at_us);
    s_assert_uuid(envelope->correlation_id, CORRELATION_ID);
    s_assert_uuid(envelope->causation_id, header->causation_id);
    assert_string_equal(envelope->traceparent, header->traceparent);
    assert_string_equal(envelope->tracestate, TRACESTATE);
    assert_string_equal(envelope->origin, header->origin);
    return envelope;
}

//  ---------------------------------------------------------------------
//  Usage: a publisher wraps one event in an Envelope, packs it and sends
//  it under the topic "<type>/<stream>"; a reader unpacks it, dispatches
//  on payload_case and frees it.

static void
test_usage_example(void **state)
{
    (void) state;
    uint8_t order_id[16] = {0x5f, 0x0c, 0x2a, 0x8e, 0x3d, 0x4b, 0x4c, 0x6e,
                            0x9a, 0x1f, 0x2b, 0x7d, 0x8e, 0x9f, 0x0a, 0x1b};
    Ev__V1__Money total = EV__V1__MONEY__INIT;
    total.currency = "EUR";
    total.amount_minor = 19999; //  199.99 EUR
    Ev__V1__OrderCreated created = EV__V1__ORDER_CREATED__INIT;
    created.order_id = (ProtobufCBinaryData){sizeof order_id, order_id};
    created.customer_id = "C-42";
    created.total = &total;

    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    envelope.stream = "order-0";
    envelope.seq = 1;
    envelope.type = "OrderCreated";
    envelope.origin = "bus";
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    envelope.order_created = &created;
    uint8_t frame[256];
    size_t size = ev__v1__envelope__get_packed_size(&envelope);
    assert_true(size <= sizeof frame);
    assert_int_equal(ev__v1__envelope__pack(&envelope, frame), size);
    char *topic = zsys_sprintf("%s/%s", envelope.type, envelope.stream);
    assert_string_equal(topic, "OrderCreated/order-0");
    zstr_free(&topic);

    Ev__V1__Envelope *received = ev__v1__envelope__unpack(NULL, size, frame);
    assert_non_null(received);
    assert_int_equal(received->seq, 1);
    switch (received->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED:
            s_assert_uuid(received->order_created->order_id, ORDER_ID);
            assert_string_equal(received->order_created->customer_id, "C-42");
            s_assert_money(received->order_created->total, "EUR", 19999);
            break;
        default:
            fail_msg("unexpected payload %d", (int) received->payload_case);
    }
    ev__v1__envelope__free_unpacked(received, NULL);
}

//  ---------------------------------------------------------------------
//  (1) Every sample packs to exactly its golden file's bytes.

static void
test_samples_match_golden_files(void **state)
{
    (void) state;
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        char *golden = contract_samples_golden_read(GOLDEN_DIR, index);
        if (!golden) {
            fail_msg("%s/%s.hex is missing or not one line", GOLDEN_DIR,
                     contract_samples_name(index));
            return; //  not reached; fail_msg does not return
        }
        zchunk_t *packed = contract_samples_pack(index);
        char *hex = contract_samples_hex_encode(zchunk_data(packed), zchunk_size(packed));
        size_t at = 0;
        while (hex[at] && hex[at] == golden[at]) {
            at++;
        }
        if (hex[at] || golden[at]) {
            print_error("%s: encoding differs from the golden file at byte %zu\n",
                        contract_samples_name(index), at / 2);
        }
        assert_string_equal(hex, golden);
        zstr_free(&hex);
        zchunk_destroy(&packed);
        zstr_free(&golden);
    }
}

//  ---------------------------------------------------------------------
//  Every file in the golden directory is the golden file of a sample, so
//  none is left unchecked.

static void
test_golden_dir_holds_only_samples(void **state)
{
    (void) state;
    DIR *dir = opendir(GOLDEN_DIR);
    assert_non_null(dir);
    size_t files = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        bool known = false;
        for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
            char *file = zsys_sprintf("%s.hex", contract_samples_name(index));
            known = known || streq(file, entry->d_name);
            zstr_free(&file);
        }
        if (!known) {
            closedir(dir);
            fail_msg("%s/%s is no sample's golden file", GOLDEN_DIR, entry->d_name);
        }
        files++;
    }
    closedir(dir);
    assert_int_equal(files, CONTRACT_SAMPLES_COUNT);
}

//  ---------------------------------------------------------------------
//  (2) OrderCreated: three items, a customer id with non-ASCII letters.

static void
test_golden_order_created(void **state)
{
    (void) state;
    s_header_t header = {
        .type = "OrderCreated",
        .stream = "order-0",
        .seq = UINT64_C(4294967297),
        .message_id = ORDER_CREATED_ID,
        .occurred_at_us = CREATED_AT_US,
        .causation_id = CREATE_COMMAND_ID,
        .traceparent = TRACE_PREFIX "1-01",
        .origin = "bus",
    };
    Ev__V1__Envelope *envelope = s_unpack_golden("order_created", &header);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    const Ev__V1__OrderCreated *created = envelope->order_created;
    assert_non_null(created);
    s_assert_uuid(created->order_id, ORDER_ID);
    assert_string_equal(created->customer_id, u8"müşteri-İstanbul-東京-42");
    s_assert_money(created->total, "EUR", 5199);
    assert_int_equal(created->created_at_us, CREATED_AT_US);
    assert_int_equal(created->n_items, 3);
    const char *skus[3] = {"SKU-RED-MUG", "SKU-TEA-500G", "SKU-SPOON"};
    const uint32_t quantities[3] = {2, 1, 12};
    const int64_t unit_prices[3] = {1250, 899, 150};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(created->items[i]->sku, skus[i]);
        assert_int_equal(created->items[i]->quantity, quantities[i]);
        s_assert_money(created->items[i]->unit_price, "EUR", unit_prices[i]);
    }
    ev__v1__envelope__free_unpacked(envelope, NULL);
}

//  ---------------------------------------------------------------------
//  (2) OrderCancelled, brought in from RabbitMQ by the shim.

static void
test_golden_order_cancelled(void **state)
{
    (void) state;
    s_header_t header = {
        .type = "OrderCancelled",
        .stream = "shim-0",
        .seq = UINT64_C(4294967298),
        .message_id = ORDER_CANCELLED_ID,
        .occurred_at_us = CREATED_AT_US + INT64_C(60000000),
        .causation_id = CANCEL_COMMAND_ID,
        .traceparent = TRACE_PREFIX "2-01",
        .origin = "rabbitmq:shim-0",
    };
    Ev__V1__Envelope *envelope = s_unpack_golden("order_cancelled", &header);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED);
    const Ev__V1__OrderCancelled *cancelled = envelope->order_cancelled;
    assert_non_null(cancelled);
    s_assert_uuid(cancelled->order_id, ORDER_ID);
    assert_string_equal(cancelled->reason, u8"Kunde hat storniert – Lieferung zu spät");
    assert_int_equal(cancelled->cancelled_at_us, CREATED_AT_US + INT64_C(60000000));
    ev__v1__envelope__free_unpacked(envelope, NULL);
}

//  ---------------------------------------------------------------------
//  (2) StockReserved.

static void
test_golden_stock_reserved(void **state)
{
    (void) state;
    s_header_t header = {
        .type = "StockReserved",
        .stream = "inventory-0",
        .seq = 300,
        .message_id = "01946a3b-7c00-7abc-8def-000000000003",
        .occurred_at_us = CREATED_AT_US + 5000,
        .causation_id = ORDER_CREATED_ID,
        .traceparent = TRACE_PREFIX "3-01",
        .origin = "bus",
    };
    Ev__V1__Envelope *envelope = s_unpack_golden("stock_reserved", &header);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED);
    assert_non_null(envelope->stock_reserved);
    s_assert_uuid(envelope->stock_reserved->order_id, ORDER_ID);
    ev__v1__envelope__free_unpacked(envelope, NULL);
}

//  ---------------------------------------------------------------------
//  (2) StockRejected: the first item lacks one unit.

static void
test_golden_stock_rejected(void **state)
{
    (void) state;
    s_header_t header = {
        .type = "StockRejected",
        .stream = "inventory-0",
        .seq = 301,
        .message_id = "01946a3b-7c00-7abc-8def-000000000004",
        .occurred_at_us = CREATED_AT_US + 6000,
        .causation_id = ORDER_CREATED_ID,
        .traceparent = TRACE_PREFIX "4-01",
        .origin = "bus",
    };
    Ev__V1__Envelope *envelope = s_unpack_golden("stock_rejected", &header);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED);
    const Ev__V1__StockRejected *rejected = envelope->stock_rejected;
    assert_non_null(rejected);
    s_assert_uuid(rejected->order_id, ORDER_ID);
    assert_string_equal(rejected->sku, "SKU-RED-MUG");
    assert_int_equal(rejected->requested, 2);
    assert_int_equal(rejected->available, 1);
    ev__v1__envelope__free_unpacked(envelope, NULL);
}

//  ---------------------------------------------------------------------
//  (2) StockReleased.

static void
test_golden_stock_released(void **state)
{
    (void) state;
    s_header_t header = {
        .type = "StockReleased",
        .stream = "inventory-0",
        .seq = 302,
        .message_id = "01946a3b-7c00-7abc-8def-000000000005",
        .occurred_at_us = CREATED_AT_US + INT64_C(60004000),
        .causation_id = ORDER_CANCELLED_ID,
        .traceparent = TRACE_PREFIX "5-01",
        .origin = "bus",
    };
    Ev__V1__Envelope *envelope = s_unpack_golden("stock_released", &header);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED);
    assert_non_null(envelope->stock_released);
    s_assert_uuid(envelope->stock_released->order_id, ORDER_ID);
    ev__v1__envelope__free_unpacked(envelope, NULL);
}

//  ---------------------------------------------------------------------
//  (2) PaymentStarted: the order's total.

static void
test_golden_payment_started(void **state)
{
    (void) state;
    s_header_t header = {
        .type = "PaymentStarted",
        .stream = "billing-0",
        .seq = 77,
        .message_id = "01946a3b-7c00-7abc-8def-000000000006",
        .occurred_at_us = CREATED_AT_US + 7000,
        .causation_id = ORDER_CREATED_ID,
        .traceparent = TRACE_PREFIX "6-01",
        .origin = "bus",
    };
    Ev__V1__Envelope *envelope = s_unpack_golden("payment_started", &header);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED);
    assert_non_null(envelope->payment_started);
    s_assert_uuid(envelope->payment_started->order_id, ORDER_ID);
    s_assert_money(envelope->payment_started->amount, "EUR", 5199);
    ev__v1__envelope__free_unpacked(envelope, NULL);
}

//  ---------------------------------------------------------------------
//  (2) PaymentVoided.

static void
test_golden_payment_voided(void **state)
{
    (void) state;
    s_header_t header = {
        .type = "PaymentVoided",
        .stream = "billing-0",
        .seq = 78,
        .message_id = "01946a3b-7c00-7abc-8def-000000000007",
        .occurred_at_us = CREATED_AT_US + INT64_C(60008000),
        .causation_id = ORDER_CANCELLED_ID,
        .traceparent = TRACE_PREFIX "7-01",
        .origin = "bus",
    };
    Ev__V1__Envelope *envelope = s_unpack_golden("payment_voided", &header);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED);
    assert_non_null(envelope->payment_voided);
    s_assert_uuid(envelope->payment_voided->order_id, ORDER_ID);
    ev__v1__envelope__free_unpacked(envelope, NULL);
}

//  ---------------------------------------------------------------------
//  (3) Fields a newer writer added to the envelope (here number 150, a
//  string, and 999, a varint) are skipped; everything known is kept, and a
//  relay that packs the envelope again passes them on.

static void
test_unknown_envelope_fields_are_skipped(void **state)
{
    (void) state;
    zchunk_t *bytes = s_golden_bytes("order_created");
    size_t golden_size = zchunk_size(bytes);
    s_append_bytes_field(bytes, 150, "tenant-7", 8);
    s_append_varint(bytes, 999 << 3 | 0);
    s_append_varint(bytes, 1);

    Ev__V1__Envelope *envelope = s_unpack(bytes);
    assert_non_null(envelope);
    assert_int_equal(envelope->base.n_unknown_fields, 2);
    assert_string_equal(envelope->stream, "order-0");
    assert_int_equal(envelope->seq, UINT64_C(4294967297));
    assert_string_equal(envelope->type, "OrderCreated");
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    assert_string_equal(envelope->order_created->customer_id, u8"müşteri-İstanbul-東京-42");
    assert_int_equal(envelope->order_created->n_items, 3);

    zchunk_t *repacked = s_pack_message(&envelope->base);
    assert_int_equal(zchunk_size(repacked), zchunk_size(bytes));
    assert_memory_equal(zchunk_data(repacked), zchunk_data(bytes), golden_size);
    zchunk_destroy(&repacked);
    ev__v1__envelope__free_unpacked(envelope, NULL);
    zchunk_destroy(&bytes);
}

//  ---------------------------------------------------------------------
//  (3) An event type this reader does not know (a newer family at oneof
//  number 50) decodes with no payload; `type` still names it, so the
//  reader can count and skip it.

static void
test_unknown_event_type_is_named(void **state)
{
    (void) state;
    Ev__V1__Envelope header = EV__V1__ENVELOPE__INIT;
    header.stream = "shipping-0";
    header.seq = 9;
    header.type = "ShipmentDispatched";
    zchunk_t *bytes = s_pack_message(&header.base);
    const uint8_t shipment[] = {0x0a, 0x02, 'S', '1'}; //  { 1: "S1" }
    s_append_bytes_field(bytes, 50, shipment, sizeof shipment);

    Ev__V1__Envelope *envelope = s_unpack(bytes);
    assert_non_null(envelope);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    assert_string_equal(envelope->type, "ShipmentDispatched");
    assert_string_equal(envelope->stream, "shipping-0");
    assert_int_equal(envelope->seq, 9);
    assert_int_equal(envelope->base.n_unknown_fields, 1);
    assert_int_equal(envelope->base.unknown_fields[0].tag, 50);
    ev__v1__envelope__free_unpacked(envelope, NULL);
    zchunk_destroy(&bytes);
}

//  ---------------------------------------------------------------------
//  (3) A field a newer writer added to a known event (OrderCreated field
//  16) is skipped, and the event's known fields are kept.

static void
test_unknown_payload_field_is_skipped(void **state)
{
    (void) state;
    Ev__V1__OrderCreated created = EV__V1__ORDER_CREATED__INIT;
    created.customer_id = "C-42";
    created.created_at_us = CREATED_AT_US;
    zchunk_t *payload = s_pack_message(&created.base);
    s_append_bytes_field(payload, 16, "gift wrap", 9);

    Ev__V1__Envelope header = EV__V1__ENVELOPE__INIT;
    header.stream = "order-0";
    header.seq = 2;
    header.type = "OrderCreated";
    zchunk_t *bytes = s_pack_message(&header.base);
    s_append_bytes_field(bytes, 20, zchunk_data(payload), zchunk_size(payload));

    Ev__V1__Envelope *envelope = s_unpack(bytes);
    assert_non_null(envelope);
    assert_int_equal(envelope->base.n_unknown_fields, 0);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    assert_string_equal(envelope->order_created->customer_id, "C-42");
    assert_int_equal(envelope->order_created->created_at_us, CREATED_AT_US);
    assert_int_equal(envelope->order_created->base.n_unknown_fields, 1);
    ev__v1__envelope__free_unpacked(envelope, NULL);
    zchunk_destroy(&bytes);
    zchunk_destroy(&payload);
}

//  ---------------------------------------------------------------------
//  Bytes a protobuf varint of `value` takes.

static size_t
s_varint_size(uint64_t value)
{
    size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

//  ---------------------------------------------------------------------
//  The payload member that is set, as a generic message.

static const ProtobufCMessage *
s_payload(const Ev__V1__Envelope *envelope)
{
    switch (envelope->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED:
            return &envelope->order_created->base;
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED:
            return &envelope->order_cancelled->base;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
            return &envelope->stock_reserved->base;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            return &envelope->stock_rejected->base;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            return &envelope->stock_released->base;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED:
            return &envelope->payment_started->base;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            return &envelope->payment_voided->base;
        default:
            fail_msg("no payload");
            return NULL;
    }
}

//  ---------------------------------------------------------------------
//  (4) Every prefix of every golden sample unpacks without a crash or a
//  leak. The payload is the last field on the wire, so each prefix that
//  ends inside it must fail, and the prefix just before it is a valid
//  envelope without a payload.

static void
test_truncated_bytes_fail_cleanly(void **state)
{
    (void) state;
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        zchunk_t *bytes = contract_samples_pack(index);
        size_t size = zchunk_size(bytes);
        const uint8_t *data = zchunk_data(bytes);
        Ev__V1__Envelope *whole = ev__v1__envelope__unpack(NULL, size, data);
        assert_non_null(whole);
        size_t payload_size = protobuf_c_message_get_packed_size(s_payload(whole));
        size_t payload_start = size - (2 + s_varint_size(payload_size) + payload_size);
        ev__v1__envelope__free_unpacked(whole, NULL);

        for (size_t cut = 0; cut < size; cut++) {
            Ev__V1__Envelope *prefix = ev__v1__envelope__unpack(NULL, cut, data);
            if (cut > payload_start) {
                assert_null(prefix);
            }
            if (cut == payload_start) {
                assert_non_null(prefix);
                assert_int_equal(prefix->payload_case, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
            }
            if (prefix) {
                ev__v1__envelope__free_unpacked(prefix, NULL);
            }
        }
        zchunk_destroy(&bytes);
    }
}

//  ---------------------------------------------------------------------
//  (4) Malformed bytes of each kind fail to unpack.

static void
test_malformed_bytes_fail(void **state)
{
    (void) state;
    static const struct {
        const char *what; //  why the bytes are malformed
        const char *hex;  //  the bytes
    } cases[] = {
        {"field number 0", "0000"},
        {"wire type 7", "0f00"},
        {"string field (stream) as a varint", "0801"},
        {"varint field (seq) as a string", "120161"},
        {"varint longer than 10 bytes", "10ffffffffffffffffffff01"},
        {"varint cut short", "10ff"},
        {"length beyond the end", "0a0561"},
        {"length beyond 2^32", "0affffffffff0f61"},
        {"payload length beyond the end", "a201050a"},
        {"payload field (order_id) with the wrong wire type", "a201020801"},
        {"all bits set", "ffffffffffffffffffffffffffffffff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zchunk_t *bytes = contract_samples_hex_decode(cases[i].hex);
        assert_non_null(bytes);
        Ev__V1__Envelope *envelope = s_unpack(bytes);
        if (envelope) {
            ev__v1__envelope__free_unpacked(envelope, NULL);
            fail_msg("%s (%s) unpacked", cases[i].what, cases[i].hex);
        }
        zchunk_destroy(&bytes);
    }
}

//  ---------------------------------------------------------------------
//  Next value of a xorshift64 generator: fixed garbage, the same each run.

static uint64_t
s_next_random(uint64_t *random)
{
    *random ^= *random << 13;
    *random ^= *random >> 7;
    *random ^= *random << 17;
    return *random;
}

//  ---------------------------------------------------------------------
//  (4) Random bytes and golden samples with single bytes changed unpack or
//  fail, without a crash or a leak (the sanitizer build checks both).

static void
test_garbage_bytes_never_crash(void **state)
{
    (void) state;
    uint64_t random = UINT64_C(0x9e3779b97f4a7c15);
    uint8_t garbage[96];
    for (size_t round = 0; round < 20000; round++) {
        size_t size = (size_t) (s_next_random(&random) % sizeof garbage);
        for (size_t i = 0; i < size; i++) {
            garbage[i] = (uint8_t) s_next_random(&random);
        }
        Ev__V1__Envelope *envelope = ev__v1__envelope__unpack(NULL, size, garbage);
        if (envelope) {
            ev__v1__envelope__free_unpacked(envelope, NULL);
        }
    }
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        zchunk_t *bytes = contract_samples_pack(index);
        uint8_t *data = zchunk_data(bytes);
        for (size_t at = 0; at < zchunk_size(bytes); at++) {
            uint8_t saved = data[at];
            data[at] = (uint8_t) s_next_random(&random);
            Ev__V1__Envelope *envelope = s_unpack(bytes);
            if (envelope) {
                ev__v1__envelope__free_unpacked(envelope, NULL);
            }
            data[at] = saved;
        }
        zchunk_destroy(&bytes);
    }
}

//  ---------------------------------------------------------------------
//  What the decoder does NOT check, so every reader must: empty bytes are a
//  valid all-default envelope (seq 0, no payload), and string fields are
//  not checked for UTF-8 (protobuf-c 1.4.1). If this test starts failing,
//  protobuf-c changed and proto/README.md must say so.

static void
test_decoder_leaves_validation_to_readers(void **state)
{
    (void) state;
    const uint8_t nothing[1] = {0};
    Ev__V1__Envelope *envelope = ev__v1__envelope__unpack(NULL, 0, nothing);
    assert_non_null(envelope);
    assert_int_equal(envelope->seq, 0);
    assert_string_equal(envelope->type, "");
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    ev__v1__envelope__free_unpacked(envelope, NULL);

    const uint8_t bad_utf8[] = {0x0a, 0x02, 0xc3, 0x28}; //  stream = "\xc3("
    envelope = ev__v1__envelope__unpack(NULL, sizeof bad_utf8, bad_utf8);
    assert_non_null(envelope);
    assert_memory_equal(envelope->stream, "\xc3(", 3);
    ev__v1__envelope__free_unpacked(envelope, NULL);
}

//  ---------------------------------------------------------------------
//  Two payload members on the wire: the last one wins (protobuf's rule for
//  a oneof) and the first is freed, not leaked.

static void
test_last_payload_member_wins(void **state)
{
    (void) state;
    zchunk_t *bytes = s_golden_bytes("order_created");
    zchunk_t *reserved = s_golden_bytes("stock_reserved");
    Ev__V1__Envelope *second = s_unpack(reserved);
    assert_non_null(second);
    zchunk_t *payload = s_pack_message(&second->stock_reserved->base);
    s_append_bytes_field(bytes, 30, zchunk_data(payload), zchunk_size(payload));

    Ev__V1__Envelope *envelope = s_unpack(bytes);
    assert_non_null(envelope);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED);
    s_assert_uuid(envelope->stock_reserved->order_id, ORDER_ID);
    ev__v1__envelope__free_unpacked(envelope, NULL);
    zchunk_destroy(&payload);
    ev__v1__envelope__free_unpacked(second, NULL);
    zchunk_destroy(&reserved);
    zchunk_destroy(&bytes);
}

//  ---------------------------------------------------------------------
//  The usage example first, then (1) to (4).

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_samples_match_golden_files),
        cmocka_unit_test(test_golden_dir_holds_only_samples),
        cmocka_unit_test(test_golden_order_created),
        cmocka_unit_test(test_golden_order_cancelled),
        cmocka_unit_test(test_golden_stock_reserved),
        cmocka_unit_test(test_golden_stock_rejected),
        cmocka_unit_test(test_golden_stock_released),
        cmocka_unit_test(test_golden_payment_started),
        cmocka_unit_test(test_golden_payment_voided),
        cmocka_unit_test(test_unknown_envelope_fields_are_skipped),
        cmocka_unit_test(test_unknown_event_type_is_named),
        cmocka_unit_test(test_unknown_payload_field_is_skipped),
        cmocka_unit_test(test_truncated_bytes_fail_cleanly),
        cmocka_unit_test(test_malformed_bytes_fail),
        cmocka_unit_test(test_garbage_bytes_never_crash),
        cmocka_unit_test(test_decoder_leaves_validation_to_readers),
        cmocka_unit_test(test_last_payload_member_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
