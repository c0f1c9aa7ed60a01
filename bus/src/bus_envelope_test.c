/*  =========================================================================
    bus_envelope_test - the wire codec: decode, validate, encode, topics

    The first case is the usage example from bus_envelope.h. Then: every
    golden sample decodes, names its type and partition and encodes back to
    its exact bytes; every contract rule has a breaking case (a valid
    envelope built here, one thing broken, packed with protobuf-c directly)
    that decodes as BUS_MALFORMED with nothing handed out, and a boundary
    case that still decodes; an unknown payload type is handed out as
    BUS_UNKNOWN_TYPE and relays byte for byte; too large, empty and garbage
    frames, an unknown field numbered 0 and frames of tiny fields that would
    cost many times their size to unpack; decoded envelopes that each own
    their memory, small and larger than an arena's first block, and keep a
    copy of their bytes; the live form (topic, NUL, envelope); topics; the
    type table; FNV-1a partitions. The control messages are tested in
    bus_control_test.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_envelope.h"
#include "contract_samples.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  The golden samples' partition count and partition (contract_samples.h).
#define GOLDEN_PARTITIONS 64
#define GOLDEN_PARTITION 51

//  fnv1a32 of the golden order id, and of "", "a", "foobar" (published
//  FNV-1a test vectors).
#define ORDER_ID_FNV UINT32_C(0x7896adb3)
#define EMPTY_FNV UINT32_C(0x811c9dc5)
#define A_FNV UINT32_C(0xe40c292c)
#define FOOBAR_FNV UINT32_C(0xbf9cf968)

//  A valid traceparent (the W3C example) and a stream id of the maximum
//  length.
#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define STREAM_64 "s123456789012345678901234567890123456789012345678901234567890123"
#define STREAM_65 "s1234567890123456789012345678901234567890123456789012345678901234"

//  An unknown payload type's field number (beyond today's 20-49) and name.
#define UNKNOWN_FIELD 50
#define UNKNOWN_TYPE "OrderShipped"

//  Room for a test sku "SKU-<round>-<index>" of any two size_t values.
#define SKU_SIZE 48

//  bus_strerror's text for a value that is no bus_rc_t.
#define UNKNOWN_ERROR "unknown bus error"

static const uint8_t s_order_id[BUS_ID_SIZE] = {0x5f, 0x0c, 0x2a, 0x8e, 0x3d, 0x4b, 0x4c, 0x6e,
                                                0x9a, 0x1f, 0x2b, 0x7d, 0x8e, 0x9f, 0x0a, 0x1b};
static const uint8_t s_message_id[BUS_ID_SIZE] = {0x01, 0x94, 0x6a, 0x3b, 0x7c, 0x00, 0x7a, 0xbc,
                                                  0x8d, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
//  17 bytes, so that both a short and a long id can be cut from it.
static const uint8_t s_long_id[BUS_ID_SIZE + 1] = {1,  2,  3,  4,  5,  6,  7,  8, 9,
                                                   10, 11, 12, 13, 14, 15, 16, 17};

//  A valid envelope of any type, with storage for every payload member and
//  for the most items an order may have, plus one.
typedef struct {
    Ev__V1__Envelope envelope;
    Ev__V1__OrderCreated order_created;
    Ev__V1__OrderItem items[BUS_ITEMS_MAX + 1];
    Ev__V1__OrderItem *item_pointers[BUS_ITEMS_MAX + 1];
    Ev__V1__Money prices[BUS_ITEMS_MAX + 1];
    Ev__V1__Money total;
    Ev__V1__OrderCancelled order_cancelled;
    Ev__V1__StockReserved stock_reserved;
    Ev__V1__StockRejected stock_rejected;
    Ev__V1__StockReleased stock_released;
    Ev__V1__PaymentStarted payment_started;
    Ev__V1__PaymentVoided payment_voided;
    Ev__V1__Money amount;
    char text[BUS_TRACESTATE_MAX + 2]; //  room for an over-long string
} s_fixture_t;

//  ---------------------------------------------------------------------
//  Borrow constant bytes as a protobuf-c bytes field.

static ProtobufCBinaryData
s_bytes(const uint8_t *data, size_t size)
{
    ProtobufCBinaryData bytes = {size, (uint8_t *) data};
    return bytes;
}

//  ---------------------------------------------------------------------
//  The order id of any known payload.

static ProtobufCBinaryData *
s_order_id_of(Ev__V1__Envelope *envelope)
{
    switch (envelope->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED:
            return &envelope->order_created->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED:
            return &envelope->order_cancelled->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
            return &envelope->stock_reserved->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            return &envelope->stock_rejected->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            return &envelope->stock_released->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED:
            return &envelope->payment_started->order_id;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            return &envelope->payment_voided->order_id;
        default:
            fail_msg("no known payload");
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  Fill `count` order lines, each valid.

static void
s_fill_items(s_fixture_t *fixture, size_t count)
{
    for (size_t index = 0; index < count; index++) {
        Ev__V1__Money price = EV__V1__MONEY__INIT;
        price.currency = (char *) "EUR";
        price.amount_minor = 1250;
        fixture->prices[index] = price;
        Ev__V1__OrderItem item = EV__V1__ORDER_ITEM__INIT;
        item.sku = (char *) "SKU-RED-MUG";
        item.quantity = 2;
        item.unit_price = &fixture->prices[index];
        fixture->items[index] = item;
        fixture->item_pointers[index] = &fixture->items[index];
    }
    fixture->order_created.n_items = count;
    fixture->order_created.items = fixture->item_pointers;
}

//  ---------------------------------------------------------------------
//  Fill every payload member with valid values.

static void
s_fill_payloads(s_fixture_t *fixture)
{
    Ev__V1__Money money = EV__V1__MONEY__INIT;
    money.currency = (char *) "EUR";
    money.amount_minor = 2500;
    fixture->total = money;
    fixture->amount = money;

    Ev__V1__OrderCreated created = EV__V1__ORDER_CREATED__INIT;
    created.order_id = s_bytes(s_order_id, BUS_ID_SIZE);
    created.customer_id = (char *) u8"müşteri-東京";
    created.total = &fixture->total;
    fixture->order_created = created;
    s_fill_items(fixture, 1);

    Ev__V1__OrderCancelled cancelled = EV__V1__ORDER_CANCELLED__INIT;
    cancelled.order_id = s_bytes(s_order_id, BUS_ID_SIZE);
    cancelled.reason = (char *) u8"zu spät";
    fixture->order_cancelled = cancelled;
    Ev__V1__StockReserved reserved = EV__V1__STOCK_RESERVED__INIT;
    reserved.order_id = s_bytes(s_order_id, BUS_ID_SIZE);
    fixture->stock_reserved = reserved;
    Ev__V1__StockRejected rejected = EV__V1__STOCK_REJECTED__INIT;
    rejected.order_id = s_bytes(s_order_id, BUS_ID_SIZE);
    rejected.sku = (char *) "SKU-RED-MUG";
    rejected.requested = 2;
    fixture->stock_rejected = rejected;
    Ev__V1__StockReleased released = EV__V1__STOCK_RELEASED__INIT;
    released.order_id = s_bytes(s_order_id, BUS_ID_SIZE);
    fixture->stock_released = released;
    Ev__V1__PaymentStarted started = EV__V1__PAYMENT_STARTED__INIT;
    started.order_id = s_bytes(s_order_id, BUS_ID_SIZE);
    started.amount = &fixture->amount;
    fixture->payment_started = started;
    Ev__V1__PaymentVoided voided = EV__V1__PAYMENT_VOIDED__INIT;
    voided.order_id = s_bytes(s_order_id, BUS_ID_SIZE);
    fixture->payment_voided = voided;
}

//  ---------------------------------------------------------------------
//  A valid envelope whose payload is `payload_case` (NOT_SET: none).

static void
s_fixture_init(s_fixture_t *fixture, Ev__V1__Envelope__PayloadCase payload_case)
{
    memset(fixture, 0, sizeof *fixture);
    s_fill_payloads(fixture);
    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    envelope.stream = (char *) "order-0";
    envelope.seq = 1;
    envelope.partition = GOLDEN_PARTITION;
    envelope.message_id = s_bytes(s_message_id, BUS_ID_SIZE);
    envelope.occurred_at_us = INT64_C(1736936430123456);
    envelope.correlation_id = s_bytes(s_message_id, BUS_ID_SIZE);
    envelope.causation_id = s_bytes(s_message_id, BUS_ID_SIZE);
    envelope.traceparent = (char *) TRACEPARENT;
    envelope.tracestate = (char *) "congo=t61rcWkgMzE";
    envelope.origin = (char *) "bus";
    envelope.payload_case = payload_case;
    const char *type = bus_envelope_type_name(payload_case);
    envelope.type = (char *) (type ? type : UNKNOWN_TYPE);
    switch (payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED:
            envelope.order_created = &fixture->order_created;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED:
            envelope.order_cancelled = &fixture->order_cancelled;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
            envelope.stock_reserved = &fixture->stock_reserved;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            envelope.stock_rejected = &fixture->stock_rejected;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            envelope.stock_released = &fixture->stock_released;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED:
            envelope.payment_started = &fixture->payment_started;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            envelope.payment_voided = &fixture->payment_voided;
            break;
        default:
            break;
    }
    fixture->envelope = envelope;
}

//  ---------------------------------------------------------------------
//  Pack any message with protobuf-c into a fresh chunk.

static zchunk_t *
s_pack(const ProtobufCMessage *message)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t *buffer = (uint8_t *) zmalloc(size + 1);
    assert_int_equal(protobuf_c_message_pack(message, buffer), size);
    zchunk_t *chunk = zchunk_new(buffer, size);
    freen(buffer);
    return chunk;
}

//  ---------------------------------------------------------------------
//  Pack `envelope` with protobuf-c, decode it with bus_envelope_decode and
//  return the code, after checking that the decoder hands out an envelope
//  exactly when it should and that validate and encode agree with it.

static bus_rc_t
s_pack_and_decode(const Ev__V1__Envelope *envelope)
{
    zchunk_t *packed = s_pack(&envelope->base);
    Ev__V1__Envelope *decoded = (Ev__V1__Envelope *) &decoded; //  must be overwritten
    bus_rc_t rc = bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &decoded);
    if (rc == BUS_OK || rc == BUS_UNKNOWN_TYPE) {
        assert_non_null(decoded);
    } else {
        assert_null(decoded);
    }
    bus_envelope_destroy(&decoded);
    assert_int_equal(bus_envelope_validate(envelope), rc);
    zframe_t *frame = bus_envelope_encode(envelope);
    if (rc == BUS_OK || rc == BUS_UNKNOWN_TYPE) {
        assert_non_null(frame);
        assert_memory_equal(zframe_data(frame), zchunk_data(packed), zchunk_size(packed));
    } else {
        assert_null(frame);
    }
    zframe_destroy(&frame);
    zchunk_destroy(&packed);
    return rc;
}

//  ---------------------------------------------------------------------
//  The usage example of the header.

static void
test_usage_example(void **state)
{
    (void) state;
    s_fixture_t fixture;
    s_fixture_init(&fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    zframe_t *frame = bus_envelope_encode(&fixture.envelope);
    assert_non_null(frame);

    Ev__V1__Envelope *envelope = NULL;
    bus_rc_t rc = bus_envelope_decode(zframe_data(frame), zframe_size(frame), &envelope);
    assert_int_equal(rc, BUS_OK);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    assert_string_equal(envelope->order_created->items[0]->sku, "SKU-RED-MUG");
    char topic[BUS_TOPIC_SIZE];
    assert_int_equal(bus_envelope_topic(envelope, topic, sizeof topic), 20);
    assert_string_equal(topic, "OrderCreated/order-0");
    bus_envelope_destroy(&envelope);
    assert_null(envelope);
    bus_envelope_destroy(&envelope);
    zframe_destroy(&frame);
}

//  ---------------------------------------------------------------------
//  Every golden sample decodes, is of a distinct known type, sits in
//  partition 51 of 64 by its order id, and encodes to its exact bytes.

static void
test_golden_samples_round_trip(void **state)
{
    (void) state;
    uint64_t seen_cases = 0;
    for (size_t index = 0; index < CONTRACT_SAMPLES_COUNT; index++) {
        char *hex = contract_samples_golden_read(GOLDEN_DIR, index);
        assert_non_null(hex);
        zchunk_t *golden = contract_samples_hex_decode(hex);
        assert_non_null(golden);
        Ev__V1__Envelope *envelope = NULL;
        assert_int_equal(bus_envelope_decode(zchunk_data(golden), zchunk_size(golden), &envelope),
                         BUS_OK);
        assert_string_equal(envelope->type, bus_envelope_type_name(envelope->payload_case));
        assert_int_equal(bus_envelope_payload_case(envelope->type), envelope->payload_case);
        seen_cases |= UINT64_C(1) << envelope->payload_case;

        const ProtobufCBinaryData *order_id = s_order_id_of(envelope);
        assert_int_equal(bus_partition_of(order_id->data, order_id->len, GOLDEN_PARTITIONS),
                         GOLDEN_PARTITION);
        assert_int_equal(envelope->partition, GOLDEN_PARTITION);

        char topic[BUS_TOPIC_SIZE];
        char *expected = zsys_sprintf("%s/%s", envelope->type, envelope->stream);
        assert_int_equal(bus_envelope_topic(envelope, topic, sizeof topic), strlen(expected));
        assert_string_equal(topic, expected);
        zstr_free(&expected);

        zframe_t *frame = bus_envelope_encode(envelope);
        assert_non_null(frame);
        assert_int_equal(zframe_size(frame), zchunk_size(golden));
        assert_memory_equal(zframe_data(frame), zchunk_data(golden), zchunk_size(golden));
        zframe_destroy(&frame);
        bus_envelope_destroy(&envelope);
        zchunk_destroy(&golden);
        zstr_free(&hex);
    }
    //  Seven samples, seven different types.
    size_t distinct = 0;
    for (int bit = 0; bit < 64; bit++) {
        distinct += (seen_cases >> bit) & 1;
    }
    assert_int_equal(distinct, CONTRACT_SAMPLES_COUNT);
}

//  ---------------------------------------------------------------------
//  One change to a valid fixture envelope, and what decoding it yields.

typedef void(s_break_fn)(s_fixture_t *fixture);

typedef struct {
    const char *name;                           //  what is broken, for failure messages
    s_break_fn *apply;                          //  the change
    Ev__V1__Envelope__PayloadCase payload_case; //  the fixture's payload
    bus_rc_t expected;                          //  BUS_MALFORMED, or BUS_OK at a boundary
} s_case_t;

//  `length` times `c` in the fixture's text buffer, NUL-terminated.
static char *
s_text(s_fixture_t *fixture, char c, size_t length)
{
    assert_true(length < sizeof fixture->text);
    memset(fixture->text, c, length);
    fixture->text[length] = '\0';
    return fixture->text;
}

//  Defines `name` as a change that applies `statement` to `fixture`.
#define S_CHANGE(name, statement)                                                                  \
    static void name(s_fixture_t *fixture)                                                         \
    {                                                                                              \
        statement;                                                                                 \
    }

//  The changes. Metadata first.
S_CHANGE(s_seq_zero, fixture->envelope.seq = 0)
S_CHANGE(s_seq_max, fixture->envelope.seq = UINT64_MAX)
S_CHANGE(s_message_id_short, fixture->envelope.message_id = s_bytes(s_long_id, BUS_ID_SIZE - 1))
S_CHANGE(s_message_id_long, fixture->envelope.message_id = s_bytes(s_long_id, BUS_ID_SIZE + 1))
S_CHANGE(s_message_id_empty, fixture->envelope.message_id = s_bytes(NULL, 0))
S_CHANGE(s_correlation_id_short,
         fixture->envelope.correlation_id = s_bytes(s_long_id, BUS_ID_SIZE - 1))
S_CHANGE(s_causation_id_long, fixture->envelope.causation_id = s_bytes(s_long_id, BUS_ID_SIZE + 1))
S_CHANGE(s_optional_ids_empty, fixture->envelope.correlation_id = s_bytes(NULL, 0);
         fixture->envelope.causation_id = s_bytes(NULL, 0))
S_CHANGE(s_tracestate_too_long,
         fixture->envelope.tracestate = s_text(fixture, 'a', BUS_TRACESTATE_MAX + 1))
S_CHANGE(s_tracestate_longest,
         fixture->envelope.tracestate = s_text(fixture, 'a', BUS_TRACESTATE_MAX))
S_CHANGE(s_tracestate_not_utf8, fixture->envelope.tracestate = (char *) "congo=\xff")
S_CHANGE(s_origin_not_utf8, fixture->envelope.origin = (char *) "rabbitmq:\xc3")
S_CHANGE(s_origin_too_long, fixture->envelope.origin = s_text(fixture, 'o', BUS_ORIGIN_MAX + 1))
S_CHANGE(s_strings_null, fixture->envelope.traceparent = NULL; fixture->envelope.tracestate = NULL;
         fixture->envelope.origin = NULL)
S_CHANGE(s_type_mismatch, fixture->envelope.type = (char *) "OrderCancelled")
S_CHANGE(s_type_unknown_with_payload, fixture->envelope.type = (char *) UNKNOWN_TYPE)
S_CHANGE(s_payload_missing, fixture->envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD__NOT_SET)
//  The payload's own rules.
S_CHANGE(s_order_id_short, *s_order_id_of(&fixture->envelope) = s_bytes(s_long_id, BUS_ID_SIZE - 1))
S_CHANGE(s_customer_empty, fixture->order_created.customer_id = (char *) "")
S_CHANGE(s_customer_not_utf8, fixture->order_created.customer_id = (char *) "kunde-\xc0\xaf")
S_CHANGE(s_total_missing, fixture->order_created.total = NULL)
S_CHANGE(s_total_negative, fixture->total.amount_minor = -1)
S_CHANGE(s_total_zero, fixture->total.amount_minor = 0)
S_CHANGE(s_currency_lower, fixture->total.currency = (char *) "eur")
S_CHANGE(s_currency_long, fixture->total.currency = (char *) "EURO")
S_CHANGE(s_currency_short, fixture->total.currency = (char *) "EU")
S_CHANGE(s_currency_empty, fixture->total.currency = (char *) "")
S_CHANGE(s_items_none, s_fill_items(fixture, 0))
S_CHANGE(s_items_most, s_fill_items(fixture, BUS_ITEMS_MAX))
S_CHANGE(s_items_too_many, s_fill_items(fixture, BUS_ITEMS_MAX + 1))
S_CHANGE(s_item_quantity_zero, s_fill_items(fixture, 3); fixture->items[2].quantity = 0)
S_CHANGE(s_item_sku_empty, fixture->items[0].sku = (char *) "")
S_CHANGE(s_item_sku_not_utf8, fixture->items[0].sku = (char *) "SKU-\xed\xa0\x80")
S_CHANGE(s_item_price_missing, fixture->items[0].unit_price = NULL)
S_CHANGE(s_item_price_currency, fixture->prices[0].currency = (char *) "E1R")
S_CHANGE(s_reason_not_utf8, fixture->order_cancelled.reason = (char *) "\xf4\x90\x80\x80")
S_CHANGE(s_reason_empty, fixture->order_cancelled.reason = (char *) "")
S_CHANGE(s_rejected_sku_not_utf8, fixture->stock_rejected.sku = (char *) "\x80")
S_CHANGE(s_amount_missing, fixture->payment_started.amount = NULL)
S_CHANGE(s_amount_currency, fixture->amount.currency = (char *) "usd")

#define CREATED EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED
#define CANCELLED EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED
#define RESERVED EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED
#define REJECTED EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED
#define RELEASED EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED
#define STARTED EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED
#define VOIDED EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED

static const s_case_t s_cases[] = {
    {"seq 0", s_seq_zero, CREATED, BUS_MALFORMED},
    {"seq max", s_seq_max, CREATED, BUS_OK},
    {"message_id 15 bytes", s_message_id_short, CREATED, BUS_MALFORMED},
    {"message_id 17 bytes", s_message_id_long, RESERVED, BUS_MALFORMED},
    {"message_id empty", s_message_id_empty, RESERVED, BUS_MALFORMED},
    {"correlation_id 15 bytes", s_correlation_id_short, CREATED, BUS_MALFORMED},
    {"causation_id 17 bytes", s_causation_id_long, CREATED, BUS_MALFORMED},
    {"optional ids empty", s_optional_ids_empty, CREATED, BUS_OK},
    {"tracestate 513 bytes", s_tracestate_too_long, CREATED, BUS_MALFORMED},
    {"tracestate 512 bytes", s_tracestate_longest, CREATED, BUS_OK},
    {"tracestate not UTF-8", s_tracestate_not_utf8, CREATED, BUS_MALFORMED},
    {"origin not UTF-8", s_origin_not_utf8, CREATED, BUS_MALFORMED},
    {"origin too long", s_origin_too_long, CREATED, BUS_MALFORMED},
    {"NULL strings read as empty", s_strings_null, CREATED, BUS_OK},
    {"type names another payload", s_type_mismatch, CREATED, BUS_MALFORMED},
    {"unknown type with a known payload", s_type_unknown_with_payload, VOIDED, BUS_MALFORMED},
    {"known type without payload", s_payload_missing, CREATED, BUS_MALFORMED},
    {"OrderCreated order_id", s_order_id_short, CREATED, BUS_MALFORMED},
    {"OrderCancelled order_id", s_order_id_short, CANCELLED, BUS_MALFORMED},
    {"StockReserved order_id", s_order_id_short, RESERVED, BUS_MALFORMED},
    {"StockRejected order_id", s_order_id_short, REJECTED, BUS_MALFORMED},
    {"StockReleased order_id", s_order_id_short, RELEASED, BUS_MALFORMED},
    {"PaymentStarted order_id", s_order_id_short, STARTED, BUS_MALFORMED},
    {"PaymentVoided order_id", s_order_id_short, VOIDED, BUS_MALFORMED},
    {"customer_id empty", s_customer_empty, CREATED, BUS_MALFORMED},
    {"customer_id overlong UTF-8", s_customer_not_utf8, CREATED, BUS_MALFORMED},
    {"total missing", s_total_missing, CREATED, BUS_MALFORMED},
    {"total negative", s_total_negative, CREATED, BUS_MALFORMED},
    {"total zero", s_total_zero, CREATED, BUS_OK},
    {"currency lower case", s_currency_lower, CREATED, BUS_MALFORMED},
    {"currency four letters", s_currency_long, CREATED, BUS_MALFORMED},
    {"currency two letters", s_currency_short, CREATED, BUS_MALFORMED},
    {"currency empty", s_currency_empty, CREATED, BUS_MALFORMED},
    {"no items (an order bridged from a .NET contract without lines)", s_items_none, CREATED,
     BUS_OK},
    {"100 items", s_items_most, CREATED, BUS_OK},
    {"101 items", s_items_too_many, CREATED, BUS_MALFORMED},
    {"item quantity 0", s_item_quantity_zero, CREATED, BUS_MALFORMED},
    {"item sku empty", s_item_sku_empty, CREATED, BUS_MALFORMED},
    {"item sku surrogate", s_item_sku_not_utf8, CREATED, BUS_MALFORMED},
    {"item price missing", s_item_price_missing, CREATED, BUS_MALFORMED},
    {"item price currency", s_item_price_currency, CREATED, BUS_MALFORMED},
    {"reason above U+10FFFF", s_reason_not_utf8, CANCELLED, BUS_MALFORMED},
    {"reason empty", s_reason_empty, CANCELLED, BUS_OK},
    {"rejected sku lone continuation", s_rejected_sku_not_utf8, REJECTED, BUS_MALFORMED},
    {"payment amount missing", s_amount_missing, STARTED, BUS_MALFORMED},
    {"payment amount currency", s_amount_currency, STARTED, BUS_MALFORMED},
};

//  ---------------------------------------------------------------------
//  Each rule, broken once (and its boundary kept).

static void
test_each_rule_has_a_breaking_case(void **state)
{
    (void) state;
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    for (size_t index = 0; index < sizeof s_cases / sizeof s_cases[0]; index++) {
        const s_case_t *test_case = &s_cases[index];
        s_fixture_init(fixture, test_case->payload_case);
        assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_OK);
        test_case->apply(fixture);
        bus_rc_t rc = s_pack_and_decode(&fixture->envelope);
        if (rc != test_case->expected) {
            fail_msg("%s: %s, expected %s", test_case->name, bus_strerror(rc),
                     bus_strerror(test_case->expected));
        }
    }
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  Envelopes a caller built wrong that protobuf-c could not even pack:
//  encode refuses them instead of crashing.

static void
test_encode_refuses_unpackable(void **state)
{
    (void) state;
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    fixture->envelope.order_created = NULL;
    assert_int_equal(bus_envelope_validate(&fixture->envelope), BUS_MALFORMED);
    assert_null(bus_envelope_encode(&fixture->envelope));

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    fixture->order_created.items[0] = NULL;
    assert_null(bus_envelope_encode(&fixture->envelope));

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    fixture->envelope.message_id = s_bytes(NULL, BUS_ID_SIZE);
    assert_null(bus_envelope_encode(&fixture->envelope));

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    fixture->order_created.items = NULL;
    assert_null(bus_envelope_encode(&fixture->envelope));

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    fixture->envelope.payload_case = (Ev__V1__Envelope__PayloadCase) 99;
    assert_null(bus_envelope_encode(&fixture->envelope));
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  Stream ids: 1-64 bytes of [a-z0-9._-].

static void
test_stream_names(void **state)
{
    (void) state;
    const char *good[] = {"order-0", "a", "shim_0.eu-west", STREAM_64, "0"};
    const char *bad[] = {"",        STREAM_65,        "Order-0", "order/0", "order 0",
                         "order:0", "order-\xc3\xa9", "$hb",     "order\n"};
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    for (size_t index = 0; index < sizeof good / sizeof good[0]; index++) {
        s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED);
        fixture->envelope.stream = (char *) good[index];
        assert_true(bus_envelope_stream_valid(good[index]));
        assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_OK);
    }
    for (size_t index = 0; index < sizeof bad / sizeof bad[0]; index++) {
        s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED);
        fixture->envelope.stream = (char *) bad[index];
        assert_false(bus_envelope_stream_valid(bad[index]));
        if (s_pack_and_decode(&fixture->envelope) != BUS_MALFORMED) {
            fail_msg("stream \"%s\" accepted", bad[index]);
        }
    }
    assert_false(bus_envelope_stream_valid(NULL));
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  Type names: 1-64 bytes of [A-Za-z0-9_]. Without a payload a valid name
//  is an unknown type; with one it must name it.

static void
test_type_names(void **state)
{
    (void) state;
    char longest[BUS_TYPE_NAME_MAX + 2];
    memset(longest, 'T', BUS_TYPE_NAME_MAX);
    longest[BUS_TYPE_NAME_MAX] = '\0';
    char too_long[BUS_TYPE_NAME_MAX + 2];
    memset(too_long, 'T', BUS_TYPE_NAME_MAX + 1);
    too_long[BUS_TYPE_NAME_MAX + 1] = '\0';
    const char *unknown[] = {UNKNOWN_TYPE, longest, "Order_Shipped_V2", "x9"};
    const char *bad[] = {"", too_long, "Order/Shipped", "$hb", "Order Shipped", "Ordér", "a-b"};

    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    for (size_t index = 0; index < sizeof unknown / sizeof unknown[0]; index++) {
        s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
        fixture->envelope.type = (char *) unknown[index];
        assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_UNKNOWN_TYPE);
    }
    for (size_t index = 0; index < sizeof bad / sizeof bad[0]; index++) {
        s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
        fixture->envelope.type = (char *) bad[index];
        if (s_pack_and_decode(&fixture->envelope) != BUS_MALFORMED) {
            fail_msg("type \"%s\" accepted", bad[index]);
        }
    }
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  traceparent: empty or version 00 exactly as W3C Trace Context writes it.

static void
test_traceparent(void **state)
{
    (void) state;
    const char *good[] = {"", TRACEPARENT,
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                          "00-00000000000000000000000000000001-0000000000000001-ff"};
    const char *bad[] = {
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   //  54 chars
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011", //  56 chars
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  //  version 01
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  //  version ff
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  //  upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  //  zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  //  zero parent id
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  //  separator
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",  //  separator
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",  //  separator
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  //  not hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  //  flags not hex
    };
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    for (size_t index = 0; index < sizeof good / sizeof good[0]; index++) {
        s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED);
        fixture->envelope.traceparent = (char *) good[index];
        assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_OK);
    }
    for (size_t index = 0; index < sizeof bad / sizeof bad[0]; index++) {
        s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED);
        fixture->envelope.traceparent = (char *) bad[index];
        if (s_pack_and_decode(&fixture->envelope) != BUS_MALFORMED) {
            fail_msg("traceparent \"%s\" accepted", bad[index]);
        }
    }
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  UTF-8: every kind of broken sequence fails, every valid one passes.

static void
test_utf8(void **state)
{
    (void) state;
    const char *good[] = {
        "plain ascii",      u8"müşteri", u8"東京", "\xf0\x9f\x98\x80", //  U+1F600
        "\xf4\x8f\xbf\xbf",                                            //  U+10FFFF
        "\xed\x9f\xbf",                                                //  U+D7FF
        "\xee\x80\x80",                                                //  U+E000
        "\xc2\x80",                                                    //  U+0080
        "\xef\xbf\xbd",                                                //  U+FFFD
    };
    const char *bad[] = {
        "\x80",             //  lone continuation byte
        "\xc3\x28",         //  lead without continuation
        "\xc3",             //  truncated at the end
        "\xe2\x82",         //  truncated three-byte sequence
        "\xc0\xaf",         //  overlong '/'
        "\xe0\x80\xaf",     //  overlong three-byte
        "\xf0\x80\x80\xaf", //  overlong four-byte
        "\xed\xa0\x80",     //  surrogate U+D800
        "\xed\xbf\xbf",     //  surrogate U+DFFF
        "\xf4\x90\x80\x80", //  above U+10FFFF
        "\xf8\x88\x80\x80\x80",
        "\xfe",
        "\xff",
        "ok\xe2\x82x", //  bad continuation mid-text
    };
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    for (size_t index = 0; index < sizeof good / sizeof good[0]; index++) {
        s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
        fixture->order_created.customer_id = (char *) good[index];
        assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_OK);
    }
    for (size_t index = 0; index < sizeof bad / sizeof bad[0]; index++) {
        s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
        fixture->order_created.customer_id = (char *) bad[index];
        if (s_pack_and_decode(&fixture->envelope) != BUS_MALFORMED) {
            fail_msg("bad UTF-8 number %zu accepted", index);
        }
    }
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  Append a length-delimited field of `size` (below 128) bytes to a chunk;
//  field numbers below 2^11, so the tag takes at most two bytes.

static void
s_append_field(zchunk_t *chunk, uint32_t number, const void *data, size_t size)
{
    uint32_t tag = number << 3 | 2;
    uint8_t header[3];
    size_t header_size = 0;
    if (tag >= 0x80) {
        header[header_size++] = (uint8_t) (tag | 0x80);
        tag >>= 7;
    }
    header[header_size++] = (uint8_t) tag;
    assert_true(size < 0x80);
    header[header_size++] = (uint8_t) size;
    zchunk_extend(chunk, header, header_size);
    zchunk_extend(chunk, data, size);
}

//  ---------------------------------------------------------------------
//  A payload type from a newer publisher: handed out as BUS_UNKNOWN_TYPE
//  with stream and seq, and encoded again to the same bytes (a relay passes
//  the unknown member on). With bad metadata it is malformed all the same.

static void
test_unknown_type_is_handed_out(void **state)
{
    (void) state;
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    fixture->envelope.seq = 7;
    zchunk_t *packed = s_pack(&fixture->envelope.base);
    s_append_field(packed, UNKNOWN_FIELD, "\x0a\x10shipment-id-0001", 18);

    Ev__V1__Envelope *envelope = NULL;
    bus_rc_t rc = bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &envelope);
    assert_int_equal(rc, BUS_UNKNOWN_TYPE);
    assert_non_null(envelope);
    assert_string_equal(envelope->stream, "order-0");
    assert_int_equal(envelope->seq, 7);
    assert_string_equal(envelope->type, UNKNOWN_TYPE);
    assert_int_equal(envelope->payload_case, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    assert_int_equal(bus_envelope_payload_case(envelope->type), EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    char topic[BUS_TOPIC_SIZE];
    assert_int_equal(bus_envelope_topic(envelope, topic, sizeof topic), 20);
    assert_string_equal(topic, UNKNOWN_TYPE "/order-0");

    zframe_t *relayed = bus_envelope_encode(envelope);
    assert_non_null(relayed);
    assert_int_equal(zframe_size(relayed), zchunk_size(packed));
    assert_memory_equal(zframe_data(relayed), zchunk_data(packed), zchunk_size(packed));
    zframe_destroy(&relayed);
    bus_envelope_destroy(&envelope);
    zchunk_destroy(&packed);

    fixture->envelope.seq = 0;
    packed = s_pack(&fixture->envelope.base);
    s_append_field(packed, UNKNOWN_FIELD, "\x0a\x01x", 3);
    envelope = NULL;
    rc = bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &envelope);
    assert_int_equal(rc, BUS_MALFORMED);
    assert_null(envelope);
    zchunk_destroy(&packed);
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  An unknown field numbered 0, which protobuf-c takes in an overlong tag
//  (0x82 0x00) but could not read back once packed, is malformed at the
//  top and inside a payload; a well-numbered unknown field is kept.

static void
test_unknown_field_zero(void **state)
{
    (void) state;
    const uint8_t field_zero[] = {0x82, 0x00, 0x01, 'x'};
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED);
    zchunk_t *packed = s_pack(&fixture->envelope.base);
    Ev__V1__Envelope *envelope = NULL;
    zchunk_extend(packed, field_zero, sizeof field_zero);
    assert_int_equal(bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &envelope),
                     BUS_MALFORMED);
    assert_null(envelope);
    zchunk_destroy(&packed);

    //  The payload's bytes with the field inside, then as member 30.
    zchunk_t *payload = s_pack(&fixture->stock_reserved.base);
    zchunk_extend(payload, field_zero, sizeof field_zero);
    fixture->envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD__NOT_SET;
    packed = s_pack(&fixture->envelope.base);
    s_append_field(packed, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, zchunk_data(payload),
                   zchunk_size(payload));
    assert_int_equal(bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &envelope),
                     BUS_MALFORMED);
    assert_null(envelope);
    zchunk_destroy(&packed);
    zchunk_destroy(&payload);

    //  The same with field 15 inside the payload decodes and keeps it.
    payload = s_pack(&fixture->stock_reserved.base);
    s_append_field(payload, 15, "x", 1);
    packed = s_pack(&fixture->envelope.base);
    s_append_field(packed, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, zchunk_data(payload),
                   zchunk_size(payload));
    assert_int_equal(bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &envelope),
                     BUS_OK);
    assert_int_equal(envelope->stock_reserved->base.n_unknown_fields, 1);
    bus_envelope_destroy(&envelope);
    zchunk_destroy(&packed);
    zchunk_destroy(&payload);
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  Frames too large are refused before unpacking; empty, truncated and
//  garbage frames are malformed.

static void
test_too_large_and_garbage(void **state)
{
    (void) state;
    uint8_t *big = (uint8_t *) zmalloc(BUS_FRAME_MAX + 1);
    Ev__V1__Envelope *envelope = NULL;
    assert_int_equal(bus_envelope_decode(big, BUS_FRAME_MAX + 1, &envelope), BUS_TOO_LARGE);
    assert_null(envelope);
    //  At the limit it is unpacked: a megabyte of zero bytes is field 0,
    //  which protobuf-c refuses.
    assert_int_equal(bus_envelope_decode(big, BUS_FRAME_MAX, &envelope), BUS_MALFORMED);
    assert_null(envelope);
    freen(big);

    //  An empty frame unpacks as an all-default envelope: no stream.
    assert_int_equal(bus_envelope_decode(NULL, 0, &envelope), BUS_MALFORMED);
    assert_null(envelope);
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(bus_envelope_decode(garbage, sizeof garbage, &envelope), BUS_MALFORMED);
    assert_null(envelope);

    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    zchunk_t *packed = s_pack(&fixture->envelope.base);
    for (size_t size = 0; size < zchunk_size(packed); size++) {
        assert_int_equal(bus_envelope_decode(zchunk_data(packed), size, &envelope), BUS_MALFORMED);
        assert_null(envelope);
    }
    zchunk_destroy(&packed);
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  A frame of `size` bytes: `head`, then `unit` repeated to fill it.

static zchunk_t *
s_repeated_frame(
    const uint8_t *head, size_t head_size, const uint8_t *unit, size_t unit_size, size_t size)
{
    zchunk_t *chunk = zchunk_new(NULL, size);
    zchunk_extend(chunk, head, head_size);
    while (zchunk_size(chunk) + unit_size <= size) {
        zchunk_extend(chunk, unit, unit_size);
    }
    return chunk;
}

//  ---------------------------------------------------------------------
//  Frames of tiny fields, which protobuf-c would unpack into up to 60
//  times their size, are refused as too large (and leave nothing behind);
//  a large frame of real content is not (bus_control_test does the same
//  for the control messages).

static void
test_unpack_budget(void **state)
{
    (void) state;
    //  An OrderCreated (field 20) of ~1 MiB (length 0xfff00) of empty items.
    const uint8_t created_head[] = {0xa2, 0x01, 0x80, 0xfe, 0x3f};
    const uint8_t empty_item[] = {0x22, 0x00};
    //  Unknown varint field 31, value 0; the stream field again and again.
    const uint8_t unknown_varint[] = {0xf8, 0x01, 0x00};
    const uint8_t empty_stream[] = {0x0a, 0x00};
    struct {
        const uint8_t *head;
        size_t head_size;
        const uint8_t *unit;
        size_t unit_size;
    } frames[] = {
        {created_head, sizeof created_head, empty_item, sizeof empty_item},
        {NULL, 0, unknown_varint, sizeof unknown_varint},
        {NULL, 0, empty_stream, sizeof empty_stream},
    };
    for (size_t index = 0; index < sizeof frames / sizeof frames[0]; index++) {
        zchunk_t *frame =
            s_repeated_frame(frames[index].head, frames[index].head_size, frames[index].unit,
                             frames[index].unit_size, 0xfff00 + sizeof created_head);
        Ev__V1__Envelope *envelope = NULL;
        bus_rc_t rc = bus_envelope_decode(zchunk_data(frame), zchunk_size(frame), &envelope);
        if (rc != BUS_TOO_LARGE) {
            fail_msg("frame %zu: %s", index, bus_strerror(rc));
        }
        assert_null(envelope);
        zchunk_destroy(&frame);
    }

    //  Nearly a mebibyte of reason text is a large event, not an attack.
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED);
    size_t reason_size = BUS_FRAME_MAX - 1024;
    char *reason = (char *) zmalloc(reason_size + 1);
    memset(reason, 'r', reason_size);
    fixture->order_cancelled.reason = reason;
    assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_OK);
    freen(reason);
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  Each decoded envelope owns its memory (one arena, grown in blocks when
//  the frame unpacks into more than the first one holds): orders of 1, 50
//  and BUS_ITEMS_MAX distinct items, all held at once, read back field by
//  field and encode to their bytes whichever of them was destroyed first.

static void
test_decoded_envelopes_own_their_memory(void **state)
{
    (void) state;
    const size_t counts[] = {1, 50, BUS_ITEMS_MAX};
    enum { COUNTS = sizeof counts / sizeof counts[0] };
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    char skus[BUS_ITEMS_MAX][SKU_SIZE];
    zframe_t *frames[COUNTS];
    Ev__V1__Envelope *envelopes[COUNTS];
    for (size_t round = 0; round < COUNTS; round++) {
        s_fill_items(fixture, counts[round]);
        for (size_t index = 0; index < counts[round]; index++) {
            snprintf(skus[index], sizeof skus[index], "SKU-%zu-%zu", round, index);
            fixture->items[index].sku = skus[index];
            fixture->items[index].quantity = (uint32_t) (index + 1);
            fixture->prices[index].amount_minor = (int64_t) (round * 1000 + index);
        }
        frames[round] = bus_envelope_encode(&fixture->envelope);
        assert_non_null(frames[round]);
        assert_int_equal(bus_envelope_decode(zframe_data(frames[round]), zframe_size(frames[round]),
                                             &envelopes[round]),
                         BUS_OK);
    }
    for (size_t round = 0; round < COUNTS; round++) {
        //  The middle one goes first, then the others in order.
        size_t which = round == 0 ? 1 : round == 1 ? 0 : round;
        for (size_t other = 0; other < COUNTS; other++) {
            if (!envelopes[other]) {
                continue;
            }
            Ev__V1__OrderCreated *order = envelopes[other]->order_created;
            assert_int_equal(order->n_items, counts[other]);
            for (size_t index = 0; index < order->n_items; index++) {
                char sku[SKU_SIZE];
                snprintf(sku, sizeof sku, "SKU-%zu-%zu", other, index);
                assert_string_equal(order->items[index]->sku, sku);
                assert_int_equal(order->items[index]->quantity, index + 1);
                assert_int_equal(order->items[index]->unit_price->amount_minor,
                                 other * 1000 + index);
            }
            zframe_t *again = bus_envelope_encode(envelopes[other]);
            assert_true(zframe_eq(again, frames[other]));
            zframe_destroy(&again);
        }
        bus_envelope_destroy(&envelopes[which]);
        assert_null(envelopes[which]);
        zframe_destroy(&frames[which]);
    }
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  A decoded envelope keeps a copy of the bytes it was decoded from
//  (bus_envelope_packed), which outlives them: for one that bus_wire
//  unpacks, one larger than an arena's first block, and one with an
//  unknown field (protobuf-c unpacks it).

static void
s_assert_keeps_bytes(zchunk_t *packed, bus_rc_t expected)
{
    size_t size = zchunk_size(packed);
    uint8_t *received = (uint8_t *) zmalloc(size);
    memcpy(received, zchunk_data(packed), size);
    Ev__V1__Envelope *envelope = NULL;
    assert_int_equal(bus_envelope_decode(received, size, &envelope), expected);
    memset(received, 0xa5, size);
    freen(received);
    assert_int_equal(bus_envelope_packed_size(envelope), size);
    assert_memory_equal(bus_envelope_packed(envelope), zchunk_data(packed), size);
    bus_envelope_destroy(&envelope);
}

static void
test_decoded_envelopes_keep_their_bytes(void **state)
{
    (void) state;
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    zchunk_t *packed = s_pack(&fixture->envelope.base);
    s_assert_keeps_bytes(packed, BUS_OK);
    zchunk_destroy(&packed);

    s_fill_items(fixture, BUS_ITEMS_MAX);
    packed = s_pack(&fixture->envelope.base);
    s_assert_keeps_bytes(packed, BUS_OK);
    zchunk_destroy(&packed);

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    packed = s_pack(&fixture->envelope.base);
    s_append_field(packed, UNKNOWN_FIELD, "\x0a\x01x", 3);
    s_assert_keeps_bytes(packed, BUS_UNKNOWN_TYPE);
    zchunk_destroy(&packed);
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  As published live, an envelope is its topic, a NUL and the bytes
//  bus_envelope_encode packs: for every type, for one that bus_wire
//  packs on the stack and ones protobuf-c packs (an unknown field, a
//  frame larger than the stack buffer); what bus_envelope_encode refuses
//  (invalid, too large) is refused too.

static void
s_assert_live_form(const Ev__V1__Envelope *envelope)
{
    zframe_t *plain = bus_envelope_encode(envelope);
    assert_non_null(plain);
    zmq_msg_t live;
    assert_int_equal(bus_envelope_encode_live(envelope, &live), 0);
    const uint8_t *data = (const uint8_t *) zmq_msg_data(&live);
    char topic[BUS_TOPIC_SIZE];
    int length = bus_envelope_topic(envelope, topic, sizeof topic);
    assert_true(length > 0);
    size_t body_at = (size_t) length + 1;
    assert_int_equal(zmq_msg_size(&live), body_at + zframe_size(plain));
    assert_memory_equal(data, topic, body_at); //  its NUL is the separator
    assert_int_equal(data[length], BUS_TOPIC_SEPARATOR);
    assert_memory_equal(data + body_at, zframe_data(plain), zframe_size(plain));
    zmq_msg_close(&live);
    zframe_destroy(&plain);
}

static void
test_encode_live(void **state)
{
    (void) state;
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    zmq_msg_t refused; //  never initialised: refusals leave it alone
    for (int payload = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
         payload <= EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED; payload++) {
        if (bus_envelope_type_name((Ev__V1__Envelope__PayloadCase) payload)) {
            s_fixture_init(fixture, (Ev__V1__Envelope__PayloadCase) payload);
            s_assert_live_form(&fixture->envelope);
        }
    }

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    zchunk_t *packed = s_pack(&fixture->envelope.base);
    s_append_field(packed, UNKNOWN_FIELD, "\x0a\x01x", 3);
    Ev__V1__Envelope *envelope = NULL;
    assert_int_equal(bus_envelope_decode(zchunk_data(packed), zchunk_size(packed), &envelope),
                     BUS_UNKNOWN_TYPE);
    s_assert_live_form(envelope);
    bus_envelope_destroy(&envelope);
    zchunk_destroy(&packed);

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED);
    size_t reason_size = BUS_FRAME_MAX;
    char *reason = (char *) zmalloc(reason_size + 1);
    memset(reason, 'r', 3 * 8192);
    fixture->order_cancelled.reason = reason;
    s_assert_live_form(&fixture->envelope);
    memset(reason, 'r', reason_size);
    assert_null(bus_envelope_encode(&fixture->envelope));
    assert_int_equal(bus_envelope_encode_live(&fixture->envelope, &refused), -1);
    freen(reason);

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    fixture->envelope.seq = 0;
    assert_int_equal(bus_envelope_encode_live(&fixture->envelope, &refused), -1);
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  Topics: exact length back, -1 and an untouched buffer when too small.

static void
test_topics(void **state)
{
    (void) state;
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED);
    const char *expected = "PaymentVoided/order-0";
    size_t length = strlen(expected);
    char buffer[BUS_TOPIC_SIZE];
    assert_int_equal(bus_envelope_topic(&fixture->envelope, buffer, length + 1), length);
    assert_string_equal(buffer, expected);
    memset(buffer, 'x', sizeof buffer);
    assert_int_equal(bus_envelope_topic(&fixture->envelope, buffer, length), -1);
    assert_int_equal(bus_envelope_topic(&fixture->envelope, buffer, 1), -1);
    assert_int_equal(bus_envelope_topic(&fixture->envelope, buffer, 0), -1);
    assert_int_equal(buffer[0], 'x');

    //  The longest valid type and stream fit BUS_TOPIC_SIZE exactly.
    char type[BUS_TYPE_NAME_MAX + 1];
    memset(type, 'T', BUS_TYPE_NAME_MAX);
    type[BUS_TYPE_NAME_MAX] = '\0';
    fixture->envelope.type = type;
    fixture->envelope.stream = (char *) STREAM_64;
    assert_int_equal(bus_envelope_topic(&fixture->envelope, buffer, sizeof buffer),
                     BUS_TOPIC_SIZE - 1);

    assert_int_equal(bus_heartbeat_topic("order-0", buffer, sizeof buffer), 11);
    assert_string_equal(buffer, "$hb/order-0");
    assert_int_equal(bus_heartbeat_topic("order-0", buffer, 11), -1);
    assert_int_equal(bus_heartbeat_topic(STREAM_64, buffer, sizeof buffer), 68);
    freen(fixture);
}

//  ---------------------------------------------------------------------
//  The type table, both ways, and unknown values.

static void
test_type_table(void **state)
{
    (void) state;
    const struct {
        const char *name;
        Ev__V1__Envelope__PayloadCase payload_case;
    } expected[] = {
        {"OrderCreated", EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED},
        {"OrderCancelled", EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED},
        {"StockReserved", EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED},
        {"StockRejected", EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED},
        {"StockReleased", EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED},
        {"PaymentStarted", EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED},
        {"PaymentVoided", EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED},
    };
    for (size_t index = 0; index < sizeof expected / sizeof expected[0]; index++) {
        assert_string_equal(bus_envelope_type_name(expected[index].payload_case),
                            expected[index].name);
        assert_int_equal(bus_envelope_payload_case(expected[index].name),
                         expected[index].payload_case);
    }
    assert_null(bus_envelope_type_name(EV__V1__ENVELOPE__PAYLOAD__NOT_SET));
    assert_null(bus_envelope_type_name((Ev__V1__Envelope__PayloadCase) 22));
    assert_int_equal(bus_envelope_payload_case(UNKNOWN_TYPE), EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    assert_int_equal(bus_envelope_payload_case("orderCreated"), EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
    assert_int_equal(bus_envelope_payload_case(""), EV__V1__ENVELOPE__PAYLOAD__NOT_SET);
}

//  ---------------------------------------------------------------------
//  Partitions: FNV-1a 32-bit test vectors, then mod.

static void
test_partition_of(void **state)
{
    (void) state;
    assert_int_equal(bus_partition_of(NULL, 0, UINT32_MAX), EMPTY_FNV);
    assert_int_equal(bus_partition_of("a", 1, UINT32_MAX), A_FNV);
    assert_int_equal(bus_partition_of("foobar", 6, UINT32_MAX), FOOBAR_FNV);
    assert_int_equal(bus_partition_of(s_order_id, BUS_ID_SIZE, UINT32_MAX), ORDER_ID_FNV);
    assert_int_equal(bus_partition_of(s_order_id, BUS_ID_SIZE, GOLDEN_PARTITIONS),
                     GOLDEN_PARTITION);
    assert_int_equal(bus_partition_of(s_order_id, BUS_ID_SIZE, 7), ORDER_ID_FNV % 7);
    assert_int_equal(bus_partition_of(s_order_id, BUS_ID_SIZE, 1), 0);
}

//  ---------------------------------------------------------------------
//  Return codes have distinct texts; an unknown value has a text too.

static void
test_strerror(void **state)
{
    (void) state;
    //  Codes are consecutive from BUS_OK; the first without a text ends
    //  them, and it must lie past every code named here.
    int count = 0;
    while (!streq(bus_strerror((bus_rc_t) count), UNKNOWN_ERROR)) {
        const char *text = bus_strerror((bus_rc_t) count);
        assert_true(strlen(text) > 0);
        for (int other = 0; other < count; other++) {
            assert_string_not_equal(text, bus_strerror((bus_rc_t) other));
        }
        count++;
    }
    assert_true(count > BUS_CLOSED);
    assert_string_equal(bus_strerror((bus_rc_t) 999), UNKNOWN_ERROR);
    assert_string_equal(bus_strerror((bus_rc_t) -1), UNKNOWN_ERROR);
}

//  ---------------------------------------------------------------------
//  Decode `size` bytes with bus_envelope_decode and, as the reference,
//  with protobuf-c alone: the same verdict, and what decodes packs (with
//  protobuf-c) to the reference's bytes and encodes to them too. Checks
//  that bus_wire's answers are protobuf-c's, and that what it declines
//  still decodes as protobuf-c decodes it.

static void
s_assert_decodes_as_protobuf_c(const uint8_t *data, size_t size)
{
    Ev__V1__Envelope *reference = ev__v1__envelope__unpack(NULL, size, data);
    Ev__V1__Envelope *envelope = NULL;
    bus_rc_t rc = bus_envelope_decode(data, size, &envelope);
    if (!reference) {
        assert_int_equal(rc, BUS_MALFORMED);
        assert_null(envelope);
        return;
    }
    assert_int_equal(rc, bus_envelope_validate(reference));
    if (envelope) {
        zchunk_t *expected = s_pack(&reference->base);
        zchunk_t *decoded = s_pack(&envelope->base);
        assert_int_equal(zchunk_size(decoded), zchunk_size(expected));
        assert_memory_equal(zchunk_data(decoded), zchunk_data(expected), zchunk_size(expected));
        zframe_t *frame = bus_envelope_encode(envelope);
        assert_non_null(frame);
        assert_int_equal(zframe_size(frame), zchunk_size(expected));
        assert_memory_equal(zframe_data(frame), zchunk_data(expected), zchunk_size(expected));
        zframe_destroy(&frame);
        zchunk_destroy(&decoded);
        zchunk_destroy(&expected);
    }
    bus_envelope_destroy(&envelope);
    ev__v1__envelope__free_unpacked(reference, NULL);
}

//  ---------------------------------------------------------------------
//  The one-pass codec (bus_wire) against protobuf-c: every event type, and
//  the frames it declines (fields seen twice, merged submessages, a second
//  oneof member, unknown fields, wrong wire types, truncations) or reads
//  although they are unusual (overlong varints), all decode as protobuf-c
//  decodes them; encodings equal protobuf-c's (s_pack_and_decode).

static void
test_one_pass_codec_matches_protobuf_c(void **state)
{
    (void) state;
    s_fixture_t *fixture = (s_fixture_t *) zmalloc(sizeof *fixture);
    for (int payload = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
         payload <= EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED; payload++) {
        if (!bus_envelope_type_name((Ev__V1__Envelope__PayloadCase) payload)) {
            continue;
        }
        s_fixture_init(fixture, (Ev__V1__Envelope__PayloadCase) payload);
        assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_OK);
        zchunk_t *packed = s_pack(&fixture->envelope.base);
        s_assert_decodes_as_protobuf_c(zchunk_data(packed), zchunk_size(packed));
        zchunk_destroy(&packed);
    }
    //  Zeros and empties are left out of the packing, as protobuf-c does.
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    fixture->envelope.partition = 0;
    fixture->envelope.occurred_at_us = 0;
    fixture->envelope.correlation_id = s_bytes(NULL, 0);
    fixture->envelope.traceparent = (char *) "";
    fixture->envelope.tracestate = NULL;
    fixture->total.amount_minor = 0;
    assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_OK);
    fixture->order_created.n_items = 0;
    assert_int_equal(s_pack_and_decode(&fixture->envelope), BUS_OK);

    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    zchunk_t *valid = s_pack(&fixture->envelope.base);
    zchunk_t *cancelled = s_pack(&fixture->order_cancelled.base);
    const uint8_t seq_overlong[] = {0x10, 0x81, 0x80, 0x80, 0x00};
    const uint8_t seq_as_bytes[] = {0x12, 0x01, 0x01};
    const uint8_t unknown_varint[] = {0x78, 0x2a};
    const uint8_t *extras[] = {seq_overlong, seq_as_bytes, unknown_varint};
    const size_t extra_sizes[] = {sizeof seq_overlong, sizeof seq_as_bytes, sizeof unknown_varint};
    for (size_t extra = 0; extra < sizeof extras / sizeof extras[0]; extra++) {
        zchunk_t *frame = zchunk_dup(valid);
        zchunk_extend(frame, extras[extra], extra_sizes[extra]);
        s_assert_decodes_as_protobuf_c(zchunk_data(frame), zchunk_size(frame));
        zchunk_destroy(&frame);
    }
    //  Fields seen twice: a string (the last wins), the payload (merged),
    //  another member of the oneof (replaces it: then malformed).
    zchunk_t *frame = zchunk_dup(valid);
    s_append_field(frame, 1, "order-1", 7);
    s_assert_decodes_as_protobuf_c(zchunk_data(frame), zchunk_size(frame));
    zchunk_destroy(&frame);
    frame = zchunk_dup(valid);
    s_append_field(frame, 20,
                   "\x12\x02"
                   "c2",
                   4);
    s_assert_decodes_as_protobuf_c(zchunk_data(frame), zchunk_size(frame));
    zchunk_destroy(&frame);
    frame = zchunk_dup(valid);
    s_append_field(frame, 21, zchunk_data(cancelled), zchunk_size(cancelled));
    s_assert_decodes_as_protobuf_c(zchunk_data(frame), zchunk_size(frame));
    zchunk_destroy(&frame);
    //  A length whose fifth byte reaches past 32 bits (protobuf-c 1.4.1
    //  refuses it; a cut to 32 bits would read 1).
    s_fixture_init(fixture, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    fixture->envelope.stream = NULL;
    zchunk_t *streamless = s_pack(&fixture->envelope.base);
    const uint8_t stream_overlong[] = {0x0a, 0x81, 0x80, 0x80, 0x80, 0x10, 'o'};
    frame = zchunk_new(stream_overlong, sizeof stream_overlong);
    zchunk_extend(frame, zchunk_data(streamless), zchunk_size(streamless));
    s_assert_decodes_as_protobuf_c(zchunk_data(frame), zchunk_size(frame));
    zchunk_destroy(&frame);
    zchunk_destroy(&streamless);
    //  Every truncation.
    for (size_t size = 0; size < zchunk_size(valid); size++) {
        s_assert_decodes_as_protobuf_c(zchunk_data(valid), size);
    }
    zchunk_destroy(&cancelled);
    zchunk_destroy(&valid);
    freen(fixture);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_golden_samples_round_trip),
        cmocka_unit_test(test_each_rule_has_a_breaking_case),
        cmocka_unit_test(test_encode_refuses_unpackable),
        cmocka_unit_test(test_stream_names),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_unknown_type_is_handed_out),
        cmocka_unit_test(test_unknown_field_zero),
        cmocka_unit_test(test_too_large_and_garbage),
        cmocka_unit_test(test_unpack_budget),
        cmocka_unit_test(test_decoded_envelopes_own_their_memory),
        cmocka_unit_test(test_decoded_envelopes_keep_their_bytes),
        cmocka_unit_test(test_encode_live),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_partition_of),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_one_pass_codec_matches_protobuf_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
