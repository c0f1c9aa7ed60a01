/*  =========================================================================
    contract_samples - the golden Envelope samples, built in code

    The values here are frozen: they define the bytes in proto/golden/. Add
    a sample for a new event type at the end of the table; never change an
    existing one (proto/README.md, "Golden samples").
    =========================================================================
*/
#include "contract_samples.h"

//  One sample: its envelope metadata and the function that adds its payload.
typedef struct s_sample s_sample_t;
typedef zchunk_t *(s_pack_fn) (const s_sample_t *sample);

struct s_sample {
    const char *name;            //  golden file stem
    const char *type;            //  Envelope.type
    const char *stream;          //  Envelope.stream
    uint64_t seq;                //  Envelope.seq
    uint8_t message_id_last;     //  last byte of Envelope.message_id
    int64_t occurred_at_us;      //  Envelope.occurred_at_us
    const uint8_t *causation_id; //  Envelope.causation_id, 16 bytes
    const char *traceparent;     //  Envelope.traceparent
    const char *origin;          //  Envelope.origin
    s_pack_fn *pack;             //  builds the payload and packs
};

//  The order all samples are about: the order id of INTEROP.md section 3.5.
static const uint8_t s_order_id[16] = {0x5f, 0x0c, 0x2a, 0x8e, 0x3d, 0x4b, 0x4c, 0x6e,
                                       0x9a, 0x1f, 0x2b, 0x7d, 0x8e, 0x9f, 0x0a, 0x1b};

//  The flow's correlation id, shared by every sample.
static const uint8_t s_correlation_id[16] = {0x0a, 0x6e, 0x00, 0x00, 0xac, 0x11, 0x02, 0x42,
                                             0x4c, 0x5d, 0x08, 0xdd, 0x35, 0xe1, 0xa2, 0xb4};

//  Causes: the create and cancel commands, and the two order events. Every
//  sample's message id is s_order_created_id with the sample's own last
//  byte (0x01 for OrderCreated, 0x02 for OrderCancelled, ...).
static const uint8_t s_create_command_id[16] = {0x01, 0x94, 0x6a, 0x3b, 0x7b, 0x00, 0x7a, 0xbc,
                                                0x8d, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0};
static const uint8_t s_cancel_command_id[16] = {0x01, 0x94, 0x6a, 0x3b, 0x7b, 0x00, 0x7a, 0xbc,
                                                0x8d, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc1};
static const uint8_t s_order_created_id[16] = {0x01, 0x94, 0x6a, 0x3b, 0x7c, 0x00, 0x7a, 0xbc,
                                               0x8d, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t s_order_cancelled_id[16] = {0x01, 0x94, 0x6a, 0x3b, 0x7c, 0x00, 0x7a, 0xbc,
                                                 0x8d, 0xef, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02};

//  Partition of s_order_id: fnv1a32(order id) = 0x7896adb3, mod 64.
#define S_PARTITION 51

//  The flow's trace (the W3C Trace Context example); each sample's parent
//  span id ends in its own digit.
#define S_TRACE_PREFIX "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9020"

//  The W3C Trace Context example tracestate, the same on every sample.
#define S_TRACESTATE "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"

//  2025-01-15T10:20:30.123456Z, when the order was created.
#define S_CREATED_AT_US INT64_C(1736936430123456)

//  Every order amount is in euros.
#define S_CURRENCY "EUR"

static zchunk_t *s_pack_order_created(const s_sample_t *sample);
static zchunk_t *s_pack_order_cancelled(const s_sample_t *sample);
static zchunk_t *s_pack_stock_reserved(const s_sample_t *sample);
static zchunk_t *s_pack_stock_rejected(const s_sample_t *sample);
static zchunk_t *s_pack_stock_released(const s_sample_t *sample);
static zchunk_t *s_pack_payment_started(const s_sample_t *sample);
static zchunk_t *s_pack_payment_voided(const s_sample_t *sample);

//  The samples, in golden file order. The cancellation came from a .NET
//  publisher through the RabbitMQ shim, so its stream and origin are the
//  shim's.
static const s_sample_t s_samples[CONTRACT_SAMPLES_COUNT] = {
    {
        .name = "order_created",
        .type = "OrderCreated",
        .stream = "order-0",
        .seq = UINT64_C(4294967297),
        .message_id_last = 0x01,
        .occurred_at_us = S_CREATED_AT_US,
        .causation_id = s_create_command_id,
        .traceparent = S_TRACE_PREFIX "1-01",
        .origin = "bus",
        .pack = s_pack_order_created,
    },
    {
        .name = "order_cancelled",
        .type = "OrderCancelled",
        .stream = "shim-0",
        .seq = UINT64_C(4294967298),
        .message_id_last = 0x02,
        .occurred_at_us = S_CREATED_AT_US + INT64_C(60000000),
        .causation_id = s_cancel_command_id,
        .traceparent = S_TRACE_PREFIX "2-01",
        .origin = "rabbitmq:shim-0",
        .pack = s_pack_order_cancelled,
    },
    {
        .name = "stock_reserved",
        .type = "StockReserved",
        .stream = "inventory-0",
        .seq = 300,
        .message_id_last = 0x03,
        .occurred_at_us = S_CREATED_AT_US + 5000,
        .causation_id = s_order_created_id,
        .traceparent = S_TRACE_PREFIX "3-01",
        .origin = "bus",
        .pack = s_pack_stock_reserved,
    },
    {
        .name = "stock_rejected",
        .type = "StockRejected",
        .stream = "inventory-0",
        .seq = 301,
        .message_id_last = 0x04,
        .occurred_at_us = S_CREATED_AT_US + 6000,
        .causation_id = s_order_created_id,
        .traceparent = S_TRACE_PREFIX "4-01",
        .origin = "bus",
        .pack = s_pack_stock_rejected,
    },
    {
        .name = "stock_released",
        .type = "StockReleased",
        .stream = "inventory-0",
        .seq = 302,
        .message_id_last = 0x05,
        .occurred_at_us = S_CREATED_AT_US + INT64_C(60004000),
        .causation_id = s_order_cancelled_id,
        .traceparent = S_TRACE_PREFIX "5-01",
        .origin = "bus",
        .pack = s_pack_stock_released,
    },
    {
        .name = "payment_started",
        .type = "PaymentStarted",
        .stream = "billing-0",
        .seq = 77,
        .message_id_last = 0x06,
        .occurred_at_us = S_CREATED_AT_US + 7000,
        .causation_id = s_order_created_id,
        .traceparent = S_TRACE_PREFIX "6-01",
        .origin = "bus",
        .pack = s_pack_payment_started,
    },
    {
        .name = "payment_voided",
        .type = "PaymentVoided",
        .stream = "billing-0",
        .seq = 78,
        .message_id_last = 0x07,
        .occurred_at_us = S_CREATED_AT_US + INT64_C(60008000),
        .causation_id = s_order_cancelled_id,
        .traceparent = S_TRACE_PREFIX "7-01",
        .origin = "bus",
        .pack = s_pack_payment_voided,
    },
};

//  ---------------------------------------------------------------------
//  Borrow constant bytes as a protobuf-c bytes field (which is not const).

static ProtobufCBinaryData
s_bytes(const uint8_t *data, size_t size)
{
    ProtobufCBinaryData bytes = {size, (uint8_t *) data};
    return bytes;
}

//  ---------------------------------------------------------------------
//  Fill the envelope metadata of `sample`, whose message id ends in its
//  own byte, into `envelope`. `message_id` is storage for that id.

static void
s_fill_envelope(Ev__V1__Envelope *envelope, const s_sample_t *sample, uint8_t message_id[16])
{
    memcpy(message_id, s_order_created_id, 16);
    message_id[15] = sample->message_id_last;
    envelope->stream = (char *) sample->stream;
    envelope->seq = sample->seq;
    envelope->partition = S_PARTITION;
    envelope->message_id = s_bytes(message_id, 16);
    envelope->type = (char *) sample->type;
    envelope->occurred_at_us = sample->occurred_at_us;
    envelope->correlation_id = s_bytes(s_correlation_id, 16);
    envelope->causation_id = s_bytes(sample->causation_id, 16);
    envelope->traceparent = (char *) sample->traceparent;
    envelope->tracestate = (char *) S_TRACESTATE;
    envelope->origin = (char *) sample->origin;
}

//  ---------------------------------------------------------------------
//  Pack a complete envelope into a fresh chunk.

static zchunk_t *
s_pack_envelope(const Ev__V1__Envelope *envelope)
{
    size_t size = ev__v1__envelope__get_packed_size(envelope);
    uint8_t *buffer = (uint8_t *) zmalloc(size);
    size_t written = ev__v1__envelope__pack(envelope, buffer);
    assert(written == size);
    zchunk_t *chunk = zchunk_new(buffer, size);
    freen(buffer);
    return chunk;
}

//  ---------------------------------------------------------------------
//  OrderCreated: three items, a customer id with non-ASCII letters.

static zchunk_t *
s_pack_order_created(const s_sample_t *sample)
{
    Ev__V1__Money prices[3] = {EV__V1__MONEY__INIT, EV__V1__MONEY__INIT, EV__V1__MONEY__INIT};
    Ev__V1__OrderItem items[3] = {EV__V1__ORDER_ITEM__INIT, EV__V1__ORDER_ITEM__INIT,
                                  EV__V1__ORDER_ITEM__INIT};
    Ev__V1__OrderItem *item_ptrs[3] = {&items[0], &items[1], &items[2]};
    const char *skus[3] = {"SKU-RED-MUG", "SKU-TEA-500G", "SKU-SPOON"};
    const uint32_t quantities[3] = {2, 1, 12};
    const int64_t unit_prices[3] = {1250, 899, 150};
    for (size_t i = 0; i < 3; i++) {
        prices[i].currency = (char *) S_CURRENCY;
        prices[i].amount_minor = unit_prices[i];
        items[i].sku = (char *) skus[i];
        items[i].quantity = quantities[i];
        items[i].unit_price = &prices[i];
    }
    Ev__V1__Money total = EV__V1__MONEY__INIT;
    total.currency = (char *) S_CURRENCY;
    total.amount_minor = 5199;

    Ev__V1__OrderCreated created = EV__V1__ORDER_CREATED__INIT;
    created.order_id = s_bytes(s_order_id, 16);
    created.customer_id = (char *) u8"müşteri-İstanbul-東京-42";
    created.total = &total;
    created.n_items = 3;
    created.items = item_ptrs;
    created.created_at_us = S_CREATED_AT_US;

    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    uint8_t message_id[16];
    s_fill_envelope(&envelope, sample, message_id);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    envelope.order_created = &created;
    return s_pack_envelope(&envelope);
}

//  ---------------------------------------------------------------------
//  OrderCancelled: a reason with non-ASCII text.

static zchunk_t *
s_pack_order_cancelled(const s_sample_t *sample)
{
    Ev__V1__OrderCancelled cancelled = EV__V1__ORDER_CANCELLED__INIT;
    cancelled.order_id = s_bytes(s_order_id, 16);
    cancelled.reason = (char *) u8"Kunde hat storniert – Lieferung zu spät";
    cancelled.cancelled_at_us = sample->occurred_at_us;

    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    uint8_t message_id[16];
    s_fill_envelope(&envelope, sample, message_id);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED;
    envelope.order_cancelled = &cancelled;
    return s_pack_envelope(&envelope);
}

//  ---------------------------------------------------------------------
//  StockReserved.

static zchunk_t *
s_pack_stock_reserved(const s_sample_t *sample)
{
    Ev__V1__StockReserved reserved = EV__V1__STOCK_RESERVED__INIT;
    reserved.order_id = s_bytes(s_order_id, 16);

    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    uint8_t message_id[16];
    s_fill_envelope(&envelope, sample, message_id);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED;
    envelope.stock_reserved = &reserved;
    return s_pack_envelope(&envelope);
}

//  ---------------------------------------------------------------------
//  StockRejected: the first item lacks one unit.

static zchunk_t *
s_pack_stock_rejected(const s_sample_t *sample)
{
    Ev__V1__StockRejected rejected = EV__V1__STOCK_REJECTED__INIT;
    rejected.order_id = s_bytes(s_order_id, 16);
    rejected.sku = (char *) "SKU-RED-MUG";
    rejected.requested = 2;
    rejected.available = 1;

    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    uint8_t message_id[16];
    s_fill_envelope(&envelope, sample, message_id);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED;
    envelope.stock_rejected = &rejected;
    return s_pack_envelope(&envelope);
}

//  ---------------------------------------------------------------------
//  StockReleased.

static zchunk_t *
s_pack_stock_released(const s_sample_t *sample)
{
    Ev__V1__StockReleased released = EV__V1__STOCK_RELEASED__INIT;
    released.order_id = s_bytes(s_order_id, 16);

    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    uint8_t message_id[16];
    s_fill_envelope(&envelope, sample, message_id);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED;
    envelope.stock_released = &released;
    return s_pack_envelope(&envelope);
}

//  ---------------------------------------------------------------------
//  PaymentStarted: the order's total.

static zchunk_t *
s_pack_payment_started(const s_sample_t *sample)
{
    Ev__V1__Money amount = EV__V1__MONEY__INIT;
    amount.currency = (char *) S_CURRENCY;
    amount.amount_minor = 5199;
    Ev__V1__PaymentStarted started = EV__V1__PAYMENT_STARTED__INIT;
    started.order_id = s_bytes(s_order_id, 16);
    started.amount = &amount;

    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    uint8_t message_id[16];
    s_fill_envelope(&envelope, sample, message_id);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED;
    envelope.payment_started = &started;
    return s_pack_envelope(&envelope);
}

//  ---------------------------------------------------------------------
//  PaymentVoided.

static zchunk_t *
s_pack_payment_voided(const s_sample_t *sample)
{
    Ev__V1__PaymentVoided voided = EV__V1__PAYMENT_VOIDED__INIT;
    voided.order_id = s_bytes(s_order_id, 16);

    Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
    uint8_t message_id[16];
    s_fill_envelope(&envelope, sample, message_id);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED;
    envelope.payment_voided = &voided;
    return s_pack_envelope(&envelope);
}

//  ---------------------------------------------------------------------
//  The sample's name.

const char *
contract_samples_name(size_t index)
{
    assert(index < CONTRACT_SAMPLES_COUNT);
    return s_samples[index].name;
}

//  ---------------------------------------------------------------------
//  Build and pack sample `index`.

zchunk_t *
contract_samples_pack(size_t index)
{
    assert(index < CONTRACT_SAMPLES_COUNT);
    return s_samples[index].pack(&s_samples[index]);
}

//  ---------------------------------------------------------------------
//  Bytes to lower-case hex.

char *
contract_samples_hex_encode(const uint8_t *data, size_t size)
{
    assert(data || size == 0);
    static const char digits[] = "0123456789abcdef";
    char *text = (char *) zmalloc(2 * size + 1);
    for (size_t i = 0; i < size; i++) {
        text[2 * i] = digits[data[i] >> 4];
        text[2 * i + 1] = digits[data[i] & 0x0f];
    }
    return text;
}

//  ---------------------------------------------------------------------
//  Value of one lower-case hex digit, or -1.

static int
s_hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

//  ---------------------------------------------------------------------
//  Lower-case hex to bytes; NULL on anything else.

zchunk_t *
contract_samples_hex_decode(const char *text)
{
    assert(text);
    size_t length = strlen(text);
    if (length % 2 != 0) {
        return NULL;
    }
    //  One spare byte, so that an empty text does not allocate zero bytes.
    uint8_t *bytes = (uint8_t *) zmalloc(length / 2 + 1);
    zchunk_t *chunk = NULL;
    for (size_t i = 0; i < length / 2; i++) {
        int high = s_hex_value(text[2 * i]);
        int low = s_hex_value(text[2 * i + 1]);
        if (high < 0 || low < 0) {
            goto cleanup;
        }
        bytes[i] = (uint8_t) (high << 4 | low);
    }
    chunk = zchunk_new(bytes, length / 2);
cleanup:
    freen(bytes);
    return chunk;
}

//  ---------------------------------------------------------------------
//  Read one golden file: exactly one newline-terminated line.

char *
contract_samples_golden_read(const char *dir, size_t index)
{
    assert(dir);
    assert(index < CONTRACT_SAMPLES_COUNT);
    char *path = zsys_sprintf("%s/%s.hex", dir, s_samples[index].name);
    zchunk_t *file = zchunk_slurp(path, CONTRACT_SAMPLES_FILE_MAX + 1);
    zstr_free(&path);
    if (!file) {
        return NULL;
    }
    char *text = NULL;
    size_t size = zchunk_size(file);
    const char *data = (const char *) zchunk_data(file);
    if (size >= 1 && size <= CONTRACT_SAMPLES_FILE_MAX && data[size - 1] == '\n' &&
        memchr(data, '\n', size - 1) == NULL && memchr(data, '\0', size) == NULL) {
        text = (char *) zmalloc(size);
        memcpy(text, data, size - 1);
    }
    zchunk_destroy(&file);
    return text;
}
