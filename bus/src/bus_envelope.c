/*  =========================================================================
    bus_envelope - the wire codec of the bus: envelopes and topics

    protobuf-c checks wire types and lengths, nothing else: an empty byte
    string unpacks as an all-default envelope, ids may have any length and
    strings any bytes (1.4.1 checks no UTF-8). So every decode here unpacks
    once and then walks the unpacked struct once, comparing and counting,
    without allocating and without packing again; an envelope either leaves
    this file valid or is freed here. Unpacking goes into one arena per
    message (one malloc for a typical envelope, one free to destroy it) that
    runs on a budget, so a frame costs at most a fixed multiple of its size
    in memory (bus_codec, shared with the control messages of bus_control).
    The private bus_wire packs and unpacks the common case into and from
    protobuf-c's structs and bytes at about half and two thirds of
    protobuf-c's cost (instructions per typical envelope, validation
    included); protobuf-c does whatever bus_wire declines.

    The event types are one table (name, payload case, payload check): a new
    type is a new row and a check function.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_codec.h"
#include "bus_envelope.h"
#include "bus_wire.h"

//  FNV-1a 32-bit parameters (offset basis and prime).
#define S_FNV_OFFSET UINT32_C(2166136261)
#define S_FNV_PRIME UINT32_C(16777619)

//  Length of an ISO 4217 alphabetic code.
#define S_CURRENCY_LENGTH 3

//  Highest Unicode scalar value, and the UTF-16 surrogates UTF-8 must not
//  encode.
#define S_UNICODE_MAX 0x10FFFF
#define S_SURROGATE_FIRST 0xD800
#define S_SURROGATE_LAST 0xDFFF

//  Offsets in a version 00 traceparent: "00-" trace id "-" parent id "-"
//  flags.
#define S_TRACE_ID_AT 3
#define S_TRACE_ID_LENGTH 32
#define S_PARENT_ID_AT 36
#define S_PARENT_ID_LENGTH 16
#define S_FLAGS_AT 53

//  Checks the payload member of an envelope whose payload case is known.
typedef bool(s_payload_valid_fn)(const Ev__V1__Envelope *envelope);

//  One event type: its name (Envelope.type and the topic's first part),
//  its oneof member and the check of that member.
typedef struct {
    const char *name;
    Ev__V1__Envelope__PayloadCase payload_case;
    s_payload_valid_fn *valid;
} s_type_t;

static bool s_order_created_valid(const Ev__V1__Envelope *envelope);
static bool s_order_cancelled_valid(const Ev__V1__Envelope *envelope);
static bool s_stock_reserved_valid(const Ev__V1__Envelope *envelope);
static bool s_stock_rejected_valid(const Ev__V1__Envelope *envelope);
static bool s_stock_released_valid(const Ev__V1__Envelope *envelope);
static bool s_payment_started_valid(const Ev__V1__Envelope *envelope);
static bool s_payment_voided_valid(const Ev__V1__Envelope *envelope);

//  Every event type of ev.v1, in oneof number order (proto/README.md).
static const s_type_t s_types[] = {
    {"OrderCreated", EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED, s_order_created_valid},
    {"OrderCancelled", EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED, s_order_cancelled_valid},
    {"StockReserved", EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, s_stock_reserved_valid},
    {"StockRejected", EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED, s_stock_rejected_valid},
    {"StockReleased", EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED, s_stock_released_valid},
    {"PaymentStarted", EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, s_payment_started_valid},
    {"PaymentVoided", EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED, s_payment_voided_valid},
};

#define S_TYPES_COUNT (sizeof s_types / sizeof s_types[0])

//  ---------------------------------------------------------------------
//  A short text for a return code.

const char *
bus_strerror(bus_rc_t rc)
{
    switch (rc) {
        case BUS_OK:
            return "success";
        case BUS_MALFORMED:
            return "malformed frame";
        case BUS_UNKNOWN_TYPE:
            return "unknown event type";
        case BUS_TOO_LARGE:
            return "frame too large";
        case BUS_DB_UNAVAILABLE:
            return "database unavailable";
        case BUS_DUPLICATE:
            return "duplicate";
        case BUS_TRIMMED:
            return "events trimmed by retention";
        case BUS_UNKNOWN_STREAM:
            return "unknown stream";
        case BUS_HANDLER_FAILED:
            return "handler failed";
        case BUS_CLOSED:
            return "closed";
        case BUS_NOT_FOUND:
            return "not found";
    }
    return "unknown bus error";
}

//  ---------------------------------------------------------------------
//  Character classes of stream ids [a-z0-9._-], type names [A-Za-z0-9_]
//  and lower-case hex, as one lookup per byte: measured, it validates an
//  envelope a third faster than comparisons.

#define S_STREAM 1
#define S_TYPE 2
#define S_HEX 4
#define S_NAME (S_STREAM | S_TYPE)
#define S_ALL (S_STREAM | S_TYPE | S_HEX)

static const uint8_t s_char_class[256] = {
    ['0'] = S_ALL,  ['1'] = S_ALL,  ['2'] = S_ALL,  ['3'] = S_ALL,    ['4'] = S_ALL,
    ['5'] = S_ALL,  ['6'] = S_ALL,  ['7'] = S_ALL,  ['8'] = S_ALL,    ['9'] = S_ALL,
    ['a'] = S_ALL,  ['b'] = S_ALL,  ['c'] = S_ALL,  ['d'] = S_ALL,    ['e'] = S_ALL,
    ['f'] = S_ALL,  ['g'] = S_NAME, ['h'] = S_NAME, ['i'] = S_NAME,   ['j'] = S_NAME,
    ['k'] = S_NAME, ['l'] = S_NAME, ['m'] = S_NAME, ['n'] = S_NAME,   ['o'] = S_NAME,
    ['p'] = S_NAME, ['q'] = S_NAME, ['r'] = S_NAME, ['s'] = S_NAME,   ['t'] = S_NAME,
    ['u'] = S_NAME, ['v'] = S_NAME, ['w'] = S_NAME, ['x'] = S_NAME,   ['y'] = S_NAME,
    ['z'] = S_NAME, ['A'] = S_TYPE, ['B'] = S_TYPE, ['C'] = S_TYPE,   ['D'] = S_TYPE,
    ['E'] = S_TYPE, ['F'] = S_TYPE, ['G'] = S_TYPE, ['H'] = S_TYPE,   ['I'] = S_TYPE,
    ['J'] = S_TYPE, ['K'] = S_TYPE, ['L'] = S_TYPE, ['M'] = S_TYPE,   ['N'] = S_TYPE,
    ['O'] = S_TYPE, ['P'] = S_TYPE, ['Q'] = S_TYPE, ['R'] = S_TYPE,   ['S'] = S_TYPE,
    ['T'] = S_TYPE, ['U'] = S_TYPE, ['V'] = S_TYPE, ['W'] = S_TYPE,   ['X'] = S_TYPE,
    ['Y'] = S_TYPE, ['Z'] = S_TYPE, ['_'] = S_NAME, ['.'] = S_STREAM, ['-'] = S_STREAM};

static bool
s_is(char c, uint8_t char_class)
{
    return (s_char_class[(uint8_t) c] & char_class) != 0;
}

//  ---------------------------------------------------------------------
//  True if `stream` is 1-BUS_STREAM_NAME_MAX stream characters.

bool
bus_envelope_stream_valid(const char *stream)
{
    if (!stream || !*stream) {
        return false;
    }
    size_t length = 0;
    for (; stream[length]; length++) {
        if (length == BUS_STREAM_NAME_MAX || !s_is(stream[length], S_STREAM)) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  True if `type` is 1-BUS_TYPE_NAME_MAX type name characters.

static bool
s_type_name_valid(const char *type)
{
    if (!type || !*type) {
        return false;
    }
    size_t length = 0;
    for (; type[length]; length++) {
        if (length == BUS_TYPE_NAME_MAX || !s_is(type[length], S_TYPE)) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Length of the UTF-8 sequence at `at`, or 0 if it is not one: a lead
//  byte, the right number of continuation bytes (the NUL is none, so we
//  never read past it), no overlong form, no surrogate, nothing above
//  U+10FFFF. `at` is not ASCII.

static size_t
s_utf8_sequence(const uint8_t *at)
{
    uint32_t code;
    uint32_t minimum;
    size_t size;
    if ((at[0] & 0xE0) == 0xC0) {
        code = at[0] & 0x1Fu;
        minimum = 0x80;
        size = 2;
    } else if ((at[0] & 0xF0) == 0xE0) {
        code = at[0] & 0x0Fu;
        minimum = 0x800;
        size = 3;
    } else if ((at[0] & 0xF8) == 0xF0) {
        code = at[0] & 0x07u;
        minimum = 0x10000;
        size = 4;
    } else {
        return 0;
    }
    for (size_t index = 1; index < size; index++) {
        if ((at[index] & 0xC0) != 0x80) {
            return 0;
        }
        code = code << 6 | (at[index] & 0x3Fu);
    }
    if (code < minimum || code > S_UNICODE_MAX ||
        (code >= S_SURROGATE_FIRST && code <= S_SURROGATE_LAST)) {
        return 0;
    }
    return size;
}

//  ---------------------------------------------------------------------
//  True if `text` (NULL reads as empty) is valid UTF-8 of at most
//  `max_size` bytes.

static bool
s_text_valid(const char *text, size_t max_size)
{
    if (!text) {
        return true;
    }
    const uint8_t *start = (const uint8_t *) text;
    const uint8_t *at = start;
    while (*at) {
        if (*at < 0x80) {
            at++;
            continue;
        }
        size_t size = s_utf8_sequence(at);
        if (size == 0) {
            return false;
        }
        at += size;
    }
    return (size_t) (at - start) <= max_size;
}

//  ---------------------------------------------------------------------
//  True if `text` is valid UTF-8 and not empty.

static bool
s_text_present(const char *text)
{
    return text && *text && s_text_valid(text, SIZE_MAX);
}

//  ---------------------------------------------------------------------
//  True if `id` holds exactly BUS_ID_SIZE bytes, or none if `optional`.

static bool
s_id_valid(const ProtobufCBinaryData *id, bool optional)
{
    if (id->len == 0) {
        return optional;
    }
    return id->len == BUS_ID_SIZE && id->data;
}

//  ---------------------------------------------------------------------
//  True if `count` characters at `text` are lower-case hex, not all '0'.

static bool
s_hex_id_valid(const char *text, size_t count)
{
    bool all_hex = true;
    bool nonzero = false;
    for (size_t index = 0; index < count; index++) {
        all_hex &= s_is(text[index], S_HEX);
        nonzero |= text[index] != '0';
    }
    return all_hex && nonzero;
}

//  ---------------------------------------------------------------------
//  True if `traceparent` is empty or a version 00 W3C traceparent. We
//  accept only version 00, exactly as specified: our publishers write it
//  and the shim normalises what it brings in, so anything else is a bug
//  upstream, found here rather than in a tracing backend.

static bool
s_traceparent_valid(const char *traceparent)
{
    if (!traceparent || !*traceparent) {
        return true;
    }
    if (strnlen(traceparent, BUS_TRACEPARENT_LENGTH + 1) != BUS_TRACEPARENT_LENGTH) {
        return false;
    }
    return traceparent[0] == '0' && traceparent[1] == '0' && traceparent[2] == '-' &&
           s_hex_id_valid(traceparent + S_TRACE_ID_AT, S_TRACE_ID_LENGTH) &&
           traceparent[S_PARENT_ID_AT - 1] == '-' &&
           s_hex_id_valid(traceparent + S_PARENT_ID_AT, S_PARENT_ID_LENGTH) &&
           traceparent[S_FLAGS_AT - 1] == '-' && s_is(traceparent[S_FLAGS_AT], S_HEX) &&
           s_is(traceparent[S_FLAGS_AT + 1], S_HEX);
}

//  ---------------------------------------------------------------------
//  True if `money` is present, with three upper-case letters as currency
//  and an amount that is not negative.

static bool
s_money_valid(const Ev__V1__Money *money)
{
    if (!money || !money->currency || money->amount_minor < 0) {
        return false;
    }
    for (size_t index = 0; index < S_CURRENCY_LENGTH; index++) {
        if (money->currency[index] < 'A' || money->currency[index] > 'Z') {
            return false;
        }
    }
    return money->currency[S_CURRENCY_LENGTH] == '\0';
}

//  ---------------------------------------------------------------------
//  True if the envelope's metadata (everything but the payload) is valid.

static bool
s_metadata_valid(const Ev__V1__Envelope *envelope)
{
    return bus_envelope_stream_valid(envelope->stream) && envelope->seq >= 1 &&
           s_id_valid(&envelope->message_id, false) && s_type_name_valid(envelope->type) &&
           s_id_valid(&envelope->correlation_id, true) &&
           s_id_valid(&envelope->causation_id, true) &&
           s_traceparent_valid(envelope->traceparent) &&
           s_text_valid(envelope->tracestate, BUS_TRACESTATE_MAX) &&
           s_text_valid(envelope->origin, BUS_ORIGIN_MAX);
}

//  ---------------------------------------------------------------------
//  One order line: a sku, at least one unit, a price.

static bool
s_order_item_valid(const Ev__V1__OrderItem *item)
{
    return item && s_text_present(item->sku) && item->quantity >= 1 &&
           s_money_valid(item->unit_price);
}

//  ---------------------------------------------------------------------
//  Payload checks, one per event type (the s_types table).

static bool
s_order_created_valid(const Ev__V1__Envelope *envelope)
{
    const Ev__V1__OrderCreated *created = envelope->order_created;
    if (!created || !s_id_valid(&created->order_id, false) ||
        !s_text_present(created->customer_id) || !s_money_valid(created->total) ||
        created->n_items > BUS_ITEMS_MAX || (created->n_items > 0 && !created->items)) {
        return false;
    }
    for (size_t index = 0; index < created->n_items; index++) {
        if (!s_order_item_valid(created->items[index])) {
            return false;
        }
    }
    return true;
}

static bool
s_order_cancelled_valid(const Ev__V1__Envelope *envelope)
{
    const Ev__V1__OrderCancelled *cancelled = envelope->order_cancelled;
    return cancelled && s_id_valid(&cancelled->order_id, false) &&
           s_text_valid(cancelled->reason, SIZE_MAX);
}

static bool
s_stock_reserved_valid(const Ev__V1__Envelope *envelope)
{
    const Ev__V1__StockReserved *reserved = envelope->stock_reserved;
    return reserved && s_id_valid(&reserved->order_id, false);
}

static bool
s_stock_rejected_valid(const Ev__V1__Envelope *envelope)
{
    const Ev__V1__StockRejected *rejected = envelope->stock_rejected;
    return rejected && s_id_valid(&rejected->order_id, false) &&
           s_text_valid(rejected->sku, SIZE_MAX);
}

static bool
s_stock_released_valid(const Ev__V1__Envelope *envelope)
{
    const Ev__V1__StockReleased *released = envelope->stock_released;
    return released && s_id_valid(&released->order_id, false);
}

static bool
s_payment_started_valid(const Ev__V1__Envelope *envelope)
{
    const Ev__V1__PaymentStarted *started = envelope->payment_started;
    return started && s_id_valid(&started->order_id, false) && s_money_valid(started->amount);
}

static bool
s_payment_voided_valid(const Ev__V1__Envelope *envelope)
{
    const Ev__V1__PaymentVoided *voided = envelope->payment_voided;
    return voided && s_id_valid(&voided->order_id, false);
}

//  ---------------------------------------------------------------------
//  True if no message in the tree holds an unknown field numbered 0.
//  protobuf-c 1.4.1 refuses tag 0 in one byte but takes an overlong form
//  of it (0x82 0x00) and keeps it as an unknown field, which it then packs
//  in one byte: a relay would send what no reader can unpack. The walk
//  follows the descriptors, so it covers future message fields too; its
//  depth is the schema's (Envelope, OrderCreated, OrderItem, Money).

static bool
s_unknown_fields_valid(const ProtobufCMessage *message)
{
    for (size_t index = 0; index < message->n_unknown_fields; index++) {
        if (message->unknown_fields[index].tag == 0) {
            return false;
        }
    }
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    const char *base = (const char *) message;
    for (unsigned index = 0; index < descriptor->n_fields; index++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[index];
        if (field->type != PROTOBUF_C_TYPE_MESSAGE ||
            ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
             *(const uint32_t *) (base + field->quantifier_offset) != field->id)) {
            continue;
        }
        size_t count = 1;
        const ProtobufCMessage *const *children =
            (const ProtobufCMessage *const *) (base + field->offset);
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *) (base + field->quantifier_offset);
            children = *(const ProtobufCMessage *const *const *) (base + field->offset);
        }
        for (size_t child = 0; child < count; child++) {
            if (children[child] && !s_unknown_fields_valid(children[child])) {
                return false;
            }
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  The table row of a payload case or of a type name, or NULL.

static const s_type_t *
s_type_by_case(Ev__V1__Envelope__PayloadCase payload_case)
{
    for (size_t index = 0; index < S_TYPES_COUNT; index++) {
        if (s_types[index].payload_case == payload_case) {
            return &s_types[index];
        }
    }
    return NULL;
}

static const s_type_t *
s_type_by_name(const char *name)
{
    for (size_t index = 0; index < S_TYPES_COUNT; index++) {
        if (streq(s_types[index].name, name)) {
            return &s_types[index];
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  The type name of a payload case, or NULL.

const char *
bus_envelope_type_name(Ev__V1__Envelope__PayloadCase payload_case)
{
    const s_type_t *type = s_type_by_case(payload_case);
    return type ? type->name : NULL;
}

//  ---------------------------------------------------------------------
//  The payload case of a type name, or NOT_SET.

Ev__V1__Envelope__PayloadCase
bus_envelope_payload_case(const char *type_name)
{
    assert(type_name);
    const s_type_t *type = s_type_by_name(type_name);
    return type ? type->payload_case : EV__V1__ENVELOPE__PAYLOAD__NOT_SET;
}

//  ---------------------------------------------------------------------
//  Check an envelope against the contract; its unknown fields only if it
//  may have some.

static bus_rc_t
s_validate(const Ev__V1__Envelope *envelope, bool unknown_fields)
{
    if (!s_metadata_valid(envelope)) {
        return BUS_MALFORMED;
    }
    bus_rc_t rc = BUS_OK;
    if (envelope->payload_case == EV__V1__ENVELOPE__PAYLOAD__NOT_SET) {
        //  No member we know: a newer type, unless `type` names one we do
        //  know, whose payload is then missing.
        if (s_type_by_name(envelope->type)) {
            return BUS_MALFORMED;
        }
        rc = BUS_UNKNOWN_TYPE;
    } else {
        const s_type_t *type = s_type_by_case(envelope->payload_case);
        if (!type || !streq(type->name, envelope->type) || !type->valid(envelope)) {
            return BUS_MALFORMED;
        }
    }
    return !unknown_fields || s_unknown_fields_valid(&envelope->base) ? rc : BUS_MALFORMED;
}

//  ---------------------------------------------------------------------
//  Check an envelope against the contract.

bus_rc_t
bus_envelope_validate(const Ev__V1__Envelope *envelope)
{
    assert(envelope);
    return s_validate(envelope, true);
}

//  ---------------------------------------------------------------------
//  Unpack and validate an envelope into an arena that it then owns.

bus_rc_t
bus_envelope_decode(const void *data, size_t size, Ev__V1__Envelope **envelope_out)
{
    assert(data || size == 0);
    assert(envelope_out);
    *envelope_out = NULL;
    if (size > BUS_FRAME_MAX) {
        return BUS_TOO_LARGE;
    }
    ProtobufCMessage *message = NULL;
    //  The bytes are kept with the envelope: a subscriber stores them as
    //  received when it parks the event as a dead letter.
    bus_rc_t rc = bus_codec_unpack(&ev__v1__envelope__descriptor, data, size, true, &message);
    if (rc == BUS_OK) {
        //  bus_wire unpacks no unknown fields: no need to look for them.
        rc = s_validate((Ev__V1__Envelope *) message, bus_codec_generic(message));
    }
    if (rc != BUS_OK && rc != BUS_UNKNOWN_TYPE) {
        bus_codec_free(&message);
        return rc;
    }
    *envelope_out = (Ev__V1__Envelope *) message;
    return rc;
}

//  ---------------------------------------------------------------------
//  Destroy a decoded envelope: free its arena.

void
bus_envelope_destroy(Ev__V1__Envelope **envelope_p)
{
    assert(envelope_p);
    if (*envelope_p) {
        ProtobufCMessage *message = &(*envelope_p)->base;
        bus_codec_free(&message);
        *envelope_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  The bytes a decoded envelope was decoded from.

const void *
bus_envelope_packed(const Ev__V1__Envelope *envelope)
{
    assert(envelope);
    return bus_codec_kept(&envelope->base);
}

size_t
bus_envelope_packed_size(const Ev__V1__Envelope *envelope)
{
    assert(envelope);
    return bus_codec_kept_size(&envelope->base);
}

//  ---------------------------------------------------------------------
//  Validate an envelope and pack it with bus_wire into `scratch`
//  (BUS_CODEC_SCRATCH bytes). Returns 0 and sets *packed_out (NULL if
//  bus_wire declined: protobuf-c packs it then) and *size_out, or -1 if
//  it is not valid.

static int
s_pack(const Ev__V1__Envelope *envelope,
       uint8_t *scratch,
       const uint8_t **packed_out,
       size_t *size_out)
{
    //  Packed first: bus_wire packs no unknown fields, so when it did pack,
    //  validation need not look for them.
    const uint8_t *packed = bus_wire_pack(&envelope->base, scratch, BUS_CODEC_SCRATCH);
    bus_rc_t rc = s_validate(envelope, packed == NULL);
    if (rc != BUS_OK && rc != BUS_UNKNOWN_TYPE) {
        return -1;
    }
    *packed_out = packed;
    *size_out = packed ? (size_t) (scratch + BUS_CODEC_SCRATCH - packed) : 0;
    return 0;
}

//  ---------------------------------------------------------------------
//  Validate and pack an envelope.

zframe_t *
bus_envelope_encode(const Ev__V1__Envelope *envelope)
{
    assert(envelope);
    uint8_t scratch[BUS_CODEC_SCRATCH];
    const uint8_t *packed;
    size_t size;
    if (s_pack(envelope, scratch, &packed, &size) != 0) {
        return NULL;
    }
    return bus_codec_frame(&envelope->base, packed, size, NULL, BUS_FRAME_MAX);
}

//  ---------------------------------------------------------------------
//  Validate and pack an envelope as published live, after its topic and
//  the separator.

int
bus_envelope_encode_live(const Ev__V1__Envelope *envelope, zmq_msg_t *msg_out)
{
    assert(envelope);
    assert(msg_out);
    uint8_t scratch[BUS_CODEC_SCRATCH];
    const uint8_t *packed;
    size_t size;
    char topic[BUS_TOPIC_SIZE];
    if (s_pack(envelope, scratch, &packed, &size) != 0 ||
        bus_envelope_topic(envelope, topic, sizeof topic) < 0) {
        return -1; //  (a valid type and stream always fit the topic)
    }
    return bus_codec_msg(&envelope->base, packed, size, topic, BUS_FRAME_MAX, msg_out);
}

//  ---------------------------------------------------------------------
//  Write "<prefix><separator><stream>" and a NUL if it fits in `size`.

static int
s_topic_write(const char *prefix, const char *stream, char *buffer, size_t size)
{
    size_t prefix_length = strlen(prefix);
    size_t stream_length = strlen(stream);
    size_t length = prefix_length + stream_length;
    if (length >= size || length > INT_MAX) {
        return -1;
    }
    memcpy(buffer, prefix, prefix_length);
    memcpy(buffer + prefix_length, stream, stream_length);
    buffer[length] = '\0';
    return (int) length;
}

//  ---------------------------------------------------------------------
//  The topic of an envelope: "<type>/<stream>".

int
bus_envelope_topic(const Ev__V1__Envelope *envelope, char *buffer, size_t size)
{
    assert(envelope);
    assert(buffer);
    //  Bounded by BUS_TYPE_NAME_MAX for a valid envelope; a longer type
    //  just does not fit.
    char prefix[BUS_TYPE_NAME_MAX + 2];
    const char *type = envelope->type ? envelope->type : "";
    size_t type_length = strnlen(type, BUS_TYPE_NAME_MAX + 1);
    if (type_length > BUS_TYPE_NAME_MAX) {
        return -1;
    }
    memcpy(prefix, type, type_length);
    prefix[type_length] = '/';
    prefix[type_length + 1] = '\0';
    return s_topic_write(prefix, envelope->stream ? envelope->stream : "", buffer, size);
}

//  ---------------------------------------------------------------------
//  The topic of a stream's heartbeats: "$hb/<stream>".

int
bus_heartbeat_topic(const char *stream, char *buffer, size_t size)
{
    assert(stream);
    assert(buffer);
    return s_topic_write(BUS_HEARTBEAT_TOPIC_PREFIX, stream, buffer, size);
}

//  ---------------------------------------------------------------------
//  FNV-1a 32-bit of the key, mod the partition count.

uint32_t
bus_partition_of(const void *key, size_t size, uint32_t partitions)
{
    assert(key || size == 0);
    assert(partitions >= 1);
    const uint8_t *bytes = (const uint8_t *) key;
    uint32_t hash = S_FNV_OFFSET;
    for (size_t index = 0; index < size; index++) {
        hash ^= bytes[index];
        hash *= S_FNV_PRIME;
    }
    return hash % partitions;
}
