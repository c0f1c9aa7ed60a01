/*  =========================================================================
    shim_masstransit_fuzz - libFuzzer target for the MassTransit decoder

    Every input is a RabbitMQ message body, decoded four ways as the shim
    may receive it: a MassTransit envelope without content type, raw JSON
    with an MT-MessageType header, raw JSON typed by its exchange, and a
    CAP message. Beyond "no crash, no leak, no undefined behaviour" (ASan,
    UBSan, LeakSanitizer) the target checks the decoders' promises and
    aborts when one breaks:
      - an envelope is handed out exactly when the decoder returns SHIM_OK;
        a failure carries its code and a reason;
      - what decodes is a complete event: its type names its payload, its
        origin is the shim's, and it passes the bus's validation (except
        an OrderCreated without items, which the bus does not allow yet);
      - it encodes again (unless a time falls outside years 0001-9999) and
        that message decodes to the same event (the mapping is stable).
    =========================================================================
*/
#include "shim_classes.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_STREAM "shim-0"

//  The codecs, made once per process: libFuzzer has no teardown hook,
//  and they hold nothing that depends on inputs.
static shim_map_t *s_map;
static shim_masstransit_t *s_codec;
static shim_masstransit_t *s_other;
static shim_cap_t *s_cap;

//  ---------------------------------------------------------------------
//  Create the map and codecs.

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    s_map = shim_map_new();
    shim_masstransit_config_t config = {.map = s_map,
                                        .broker_address = "rabbitmq://localhost",
                                        .source_address = "rabbitmq://localhost/broker-shim",
                                        .mark = "fuzz",
                                        .stream = S_STREAM,
                                        .host = {.machine_name = "fuzz", .process_id = 1}};
    s_codec = shim_masstransit_new(&config);
    config.mark = "other";
    s_other = shim_masstransit_new(&config);
    shim_cap_config_t cap_config = {.map = s_map, .mark = "fuzz", .stream = S_STREAM};
    s_cap = shim_cap_new(&cap_config);
    assert(s_codec && s_other && s_cap);
    return 0;
}

//  ---------------------------------------------------------------------
//  True if the envelope is an OrderCreated without items (not valid on
//  our bus yet).

static bool
s_without_items(const Ev__V1__Envelope *envelope)
{
    return envelope->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED &&
           envelope->order_created->n_items == 0;
}

//  ---------------------------------------------------------------------
//  True if every time of the envelope can be written as ISO-8601.

static bool
s_times_writable(const Ev__V1__Envelope *envelope)
{
    char text[SHIM_TIME_TEXT_SIZE];
    int64_t payload_time = envelope->occurred_at_us;
    if (envelope->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED) {
        payload_time = envelope->order_created->created_at_us;
    } else if (envelope->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED) {
        payload_time = envelope->order_cancelled->cancelled_at_us;
    }
    return shim_time_format(envelope->occurred_at_us, text) == 0 &&
           shim_time_format(payload_time, text) == 0;
}

//  ---------------------------------------------------------------------
//  Pack with the writer's fields and origin set alike.

static zframe_t *
s_pack_normalised(const Ev__V1__Envelope *envelope)
{
    Ev__V1__Envelope copy = *envelope;
    copy.stream = (char *) S_STREAM;
    copy.seq = 1;
    copy.partition = 0;
    copy.origin = (char *) "bus";
    return bus_envelope_encode(&copy);
}

//  ---------------------------------------------------------------------
//  Encode a decoded event again and decode the result: the same event.

static void
s_check_stable(const Ev__V1__Envelope *envelope)
{
    Ev__V1__Envelope probe = *envelope;
    probe.stream = (char *) S_STREAM;
    probe.seq = 1;
    probe.origin = (char *) "bus";
    shim_message_t *message = NULL;
    shim_error_t error;
    shim_rc_t rc = shim_masstransit_encode(s_codec, &probe, &message, &error);
    if (!s_times_writable(envelope)) {
        assert(rc == SHIM_INVALID && !message);
        return;
    }
    assert(rc == SHIM_OK && message);
    shim_header_t headers[SHIM_HEADERS_MAX];
    size_t count = shim_message_header_count(message);
    for (size_t index = 0; index < count; index++) {
        headers[index].name = shim_message_header_name(message, index);
        headers[index].value = shim_message_header_value(message, index);
    }
    shim_delivery_t delivery = {.body = shim_message_body(message),
                                .body_size = shim_message_body_size(message),
                                .content_type = shim_message_content_type(message),
                                .message_id = shim_message_message_id(message),
                                .exchange = shim_message_exchange(message),
                                .headers = headers,
                                .header_count = count};
    Ev__V1__Envelope *again = NULL;
    rc = shim_masstransit_decode(s_other, &delivery, &again, &error);
    assert(rc == SHIM_OK && again);
    zframe_t *first = s_pack_normalised(envelope);
    zframe_t *second = s_pack_normalised(again);
    assert(first && second && zframe_eq(first, second));
    zframe_destroy(&second);
    zframe_destroy(&first);
    shim_envelope_destroy(&again);
    shim_message_destroy(&message);
}

//  ---------------------------------------------------------------------
//  Check one decoder's answer.

static void
s_check(shim_rc_t rc, Ev__V1__Envelope **envelope_p, const shim_error_t *error)
{
    Ev__V1__Envelope *envelope = *envelope_p;
    if (rc != SHIM_OK) {
        assert(!envelope);
        assert(error->rc == rc && *error->reason);
        assert(rc != SHIM_NOT_MAPPED && rc != SHIM_INVALID);
        return;
    }
    assert(envelope);
    assert(streq(envelope->type, bus_envelope_type_name(envelope->payload_case)));
    assert(streq(envelope->origin, SHIM_ORIGIN_PREFIX S_STREAM));
    assert(shim_envelope_order_id(envelope)->len == BUS_ID_SIZE);
    if (!s_without_items(envelope)) {
        Ev__V1__Envelope probe = *envelope;
        probe.stream = (char *) S_STREAM;
        probe.seq = 1;
        assert(bus_envelope_validate(&probe) == BUS_OK);
        s_check_stable(envelope);
    }
    shim_envelope_destroy(envelope_p);
}

//  ---------------------------------------------------------------------
//  libFuzzer's entry point: one body, every way of receiving it.

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Ev__V1__Envelope *envelope = NULL;
    shim_error_t error;
    shim_delivery_t delivery = {.body = data, .body_size = size};
    s_check(shim_masstransit_decode(s_codec, &delivery, &envelope, &error), &envelope, &error);

    shim_header_t mt_headers[] = {
        {SHIM_HEADER_MESSAGE_TYPE, "urn:message:Contracts:OrderCancelledEvent"},
        {SHIM_HEADER_MESSAGE_ID, "0a6e0000-ac11-0242-f0b1-08dd35e1a2b3"}};
    delivery.content_type = SHIM_RAW_JSON_CONTENT_TYPE;
    delivery.headers = mt_headers;
    delivery.header_count = 2;
    s_check(shim_masstransit_decode(s_codec, &delivery, &envelope, &error), &envelope, &error);

    delivery.headers = NULL;
    delivery.header_count = 0;
    delivery.exchange = "Contracts:OrderCreatedEvent";
    delivery.message_id = "0a6e0000-ac11-0242-f0b1-08dd35e1a2b3";
    s_check(shim_masstransit_decode(s_codec, &delivery, &envelope, &error), &envelope, &error);

    shim_header_t cap_headers[] = {{SHIM_CAP_HEADER_MSG_ID, "1735689600123456789"},
                                   {SHIM_CAP_HEADER_MSG_NAME, "OrderCreated"}};
    shim_delivery_t cap_delivery = {
        .body = data, .body_size = size, .headers = cap_headers, .header_count = 2};
    shim_rc_t rc = shim_cap_decode(s_cap, &cap_delivery, &envelope, &error);
    if (rc == SHIM_OK) {
        //  CAP carries no time, so only the shape is checked here.
        assert(envelope && streq(envelope->origin, SHIM_ORIGIN_PREFIX S_STREAM));
        shim_envelope_destroy(&envelope);
    } else {
        assert(!envelope && error.rc == rc && *error.reason);
    }
    return 0;
}
