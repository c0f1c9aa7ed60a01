/*  =========================================================================
    shim_envelope - envelopes the shim builds from RabbitMQ messages

    Strings start as protobuf-c's shared empty string, which is never
    freed; everything else the envelope points to is its own allocation.
    =========================================================================
*/
#include "shim_classes.h"

//  ---------------------------------------------------------------------
//  Free a string field unless it is protobuf-c's shared empty string.

static void
s_text_free(char **field)
{
    if (*field && *field != protobuf_c_empty_string) {
        freen(*field);
    }
    *field = (char *) protobuf_c_empty_string;
}

//  ---------------------------------------------------------------------
//  Free an id field.

static void
s_id_free(ProtobufCBinaryData *field)
{
    freen(field->data);
    field->len = 0;
}

//  ---------------------------------------------------------------------
//  A new Money of no currency and amount 0.

static Ev__V1__Money *
s_money_new(void)
{
    Ev__V1__Money *money = (Ev__V1__Money *) zmalloc(sizeof(Ev__V1__Money));
    Ev__V1__Money init = EV__V1__MONEY__INIT;
    *money = init;
    return money;
}

//  ---------------------------------------------------------------------
//  Free a Money (NULL accepted).

static void
s_money_destroy(Ev__V1__Money **money_p)
{
    if (*money_p) {
        s_text_free(&(*money_p)->currency);
        freen(*money_p);
    }
}

//  ---------------------------------------------------------------------
//  Free an OrderCreated's items.

static void
s_items_free(Ev__V1__OrderCreated *created)
{
    for (size_t index = 0; index < created->n_items; index++) {
        Ev__V1__OrderItem *item = created->items[index];
        s_money_destroy(&item->unit_price);
        s_text_free(&item->sku);
        freen(item);
    }
    freen(created->items);
    created->n_items = 0;
}

//  ---------------------------------------------------------------------
//  Allocate the payload member of `payload_case`.

static void
s_payload_new(Ev__V1__Envelope *envelope)
{
    switch (envelope->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED: {
            Ev__V1__OrderCreated init = EV__V1__ORDER_CREATED__INIT;
            envelope->order_created = zmalloc(sizeof init);
            *envelope->order_created = init;
            envelope->order_created->total = s_money_new();
            break;
        }
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED: {
            Ev__V1__OrderCancelled init = EV__V1__ORDER_CANCELLED__INIT;
            envelope->order_cancelled = zmalloc(sizeof init);
            *envelope->order_cancelled = init;
            break;
        }
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED: {
            Ev__V1__StockReserved init = EV__V1__STOCK_RESERVED__INIT;
            envelope->stock_reserved = zmalloc(sizeof init);
            *envelope->stock_reserved = init;
            break;
        }
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED: {
            Ev__V1__StockRejected init = EV__V1__STOCK_REJECTED__INIT;
            envelope->stock_rejected = zmalloc(sizeof init);
            *envelope->stock_rejected = init;
            break;
        }
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED: {
            Ev__V1__StockReleased init = EV__V1__STOCK_RELEASED__INIT;
            envelope->stock_released = zmalloc(sizeof init);
            *envelope->stock_released = init;
            break;
        }
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED: {
            Ev__V1__PaymentStarted init = EV__V1__PAYMENT_STARTED__INIT;
            envelope->payment_started = zmalloc(sizeof init);
            *envelope->payment_started = init;
            envelope->payment_started->amount = s_money_new();
            break;
        }
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED: {
            Ev__V1__PaymentVoided init = EV__V1__PAYMENT_VOIDED__INIT;
            envelope->payment_voided = zmalloc(sizeof init);
            *envelope->payment_voided = init;
            break;
        }
        default:
            assert(false);
    }
}

//  ---------------------------------------------------------------------
//  Free the payload member.

static void
s_payload_destroy(Ev__V1__Envelope *envelope)
{
    switch (envelope->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED:
            s_items_free(envelope->order_created);
            s_money_destroy(&envelope->order_created->total);
            s_text_free(&envelope->order_created->customer_id);
            s_id_free(&envelope->order_created->order_id);
            freen(envelope->order_created);
            break;
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED:
            s_text_free(&envelope->order_cancelled->reason);
            s_id_free(&envelope->order_cancelled->order_id);
            freen(envelope->order_cancelled);
            break;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
            s_id_free(&envelope->stock_reserved->order_id);
            freen(envelope->stock_reserved);
            break;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            s_text_free(&envelope->stock_rejected->sku);
            s_id_free(&envelope->stock_rejected->order_id);
            freen(envelope->stock_rejected);
            break;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            s_id_free(&envelope->stock_released->order_id);
            freen(envelope->stock_released);
            break;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED:
            s_money_destroy(&envelope->payment_started->amount);
            s_id_free(&envelope->payment_started->order_id);
            freen(envelope->payment_started);
            break;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            s_id_free(&envelope->payment_voided->order_id);
            freen(envelope->payment_voided);
            break;
        default:
            break;
    }
}

//  ---------------------------------------------------------------------
//  Create an envelope with its payload member.

Ev__V1__Envelope *
shim_envelope_new(Ev__V1__Envelope__PayloadCase payload_case)
{
    const char *type = bus_envelope_type_name(payload_case);
    assert(type);
    Ev__V1__Envelope *envelope = (Ev__V1__Envelope *) zmalloc(sizeof(Ev__V1__Envelope));
    Ev__V1__Envelope init = EV__V1__ENVELOPE__INIT;
    *envelope = init;
    envelope->payload_case = payload_case;
    shim_envelope_set_text(&envelope->type, type);
    s_payload_new(envelope);
    return envelope;
}

//  ---------------------------------------------------------------------
//  Destroy an envelope, in reverse order of its fields.

void
shim_envelope_destroy(Ev__V1__Envelope **envelope_p)
{
    assert(envelope_p);
    Ev__V1__Envelope *envelope = *envelope_p;
    if (!envelope) {
        return;
    }
    s_payload_destroy(envelope);
    s_text_free(&envelope->origin);
    s_text_free(&envelope->tracestate);
    s_text_free(&envelope->traceparent);
    s_id_free(&envelope->causation_id);
    s_id_free(&envelope->correlation_id);
    s_text_free(&envelope->type);
    s_id_free(&envelope->message_id);
    s_text_free(&envelope->stream);
    freen(envelope);
    *envelope_p = NULL;
}

//  ---------------------------------------------------------------------
//  Replace a string field with a copy.

void
shim_envelope_set_text(char **field, const char *text)
{
    assert(field);
    assert(text);
    s_text_free(field);
    *field = strdup(text);
}

//  ---------------------------------------------------------------------
//  Replace an id field with a copy, or empty it.

void
shim_envelope_set_id(ProtobufCBinaryData *field, const svc_uuid_t *uuid)
{
    assert(field);
    s_id_free(field);
    if (uuid) {
        field->data = (uint8_t *) zmalloc(sizeof uuid->bytes);
        memcpy(field->data, uuid->bytes, sizeof uuid->bytes);
        field->len = sizeof uuid->bytes;
    }
}

//  ---------------------------------------------------------------------
//  Give an OrderCreated `count` fresh items.

void
shim_envelope_set_items(Ev__V1__OrderCreated *created, size_t count)
{
    assert(created);
    assert(count <= BUS_ITEMS_MAX);
    s_items_free(created);
    if (count == 0) {
        return;
    }
    created->items = (Ev__V1__OrderItem **) zmalloc(count * sizeof(Ev__V1__OrderItem *));
    for (size_t index = 0; index < count; index++) {
        Ev__V1__OrderItem init = EV__V1__ORDER_ITEM__INIT;
        Ev__V1__OrderItem *item = (Ev__V1__OrderItem *) zmalloc(sizeof init);
        *item = init;
        item->unit_price = s_money_new();
        created->items[index] = item;
    }
    created->n_items = count;
}

//  ---------------------------------------------------------------------
//  The payload's order id.

const ProtobufCBinaryData *
shim_envelope_order_id(const Ev__V1__Envelope *envelope)
{
    assert(envelope);
    switch (envelope->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED:
            return envelope->order_created ? &envelope->order_created->order_id : NULL;
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED:
            return envelope->order_cancelled ? &envelope->order_cancelled->order_id : NULL;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
            return envelope->stock_reserved ? &envelope->stock_reserved->order_id : NULL;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            return envelope->stock_rejected ? &envelope->stock_rejected->order_id : NULL;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            return envelope->stock_released ? &envelope->stock_released->order_id : NULL;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED:
            return envelope->payment_started ? &envelope->payment_started->order_id : NULL;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            return envelope->payment_voided ? &envelope->payment_voided->order_id : NULL;
        default:
            return NULL;
    }
}

//  ---------------------------------------------------------------------
//  True if the envelope came from RabbitMQ.

bool
shim_envelope_from_rabbitmq(const Ev__V1__Envelope *envelope)
{
    assert(envelope);
    return envelope->origin &&
           strncmp(envelope->origin, SHIM_ORIGIN_PREFIX, strlen(SHIM_ORIGIN_PREFIX)) == 0;
}

//  ---------------------------------------------------------------------
//  The UUID of a 16-byte id field.

bool
shim_envelope_id(const ProtobufCBinaryData *field, svc_uuid_t *uuid_out)
{
    assert(field);
    assert(uuid_out);
    if (field->len != sizeof uuid_out->bytes || !field->data) {
        return false;
    }
    memcpy(uuid_out->bytes, field->data, sizeof uuid_out->bytes);
    return true;
}

//  ---------------------------------------------------------------------
//  True for a version 00 traceparent our bus accepts.

bool
shim_envelope_traceparent_usable(const char *traceparent)
{
    return traceparent && strncmp(traceparent, "00-", 3) == 0 &&
           strnlen(traceparent, BUS_TRACEPARENT_LENGTH + 1) == BUS_TRACEPARENT_LENGTH &&
           svc_trace_valid(traceparent);
}
