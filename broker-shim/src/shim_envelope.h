/*  =========================================================================
    shim_envelope - envelopes the shim builds from RabbitMQ messages

    A decoded bus envelope lives in bus_envelope's arena; one the shim
    builds from JSON lives on the heap, field by field, and only
    shim_envelope_destroy frees it. Every string and id in it is the
    envelope's own copy. The payload member named by `payload_case` is
    allocated with it, so decoders only fill in values.

        Ev__V1__Envelope *envelope = shim_envelope_new(EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED);
        shim_envelope_set_text(&envelope->order_cancelled->reason, "changed my mind");
        shim_envelope_set_id(&envelope->order_cancelled->order_id, &order_id);
        ... bus_tx_append(tx, envelope, shim_envelope_order_id(envelope)->data, BUS_ID_SIZE);
        shim_envelope_destroy(&envelope);
    =========================================================================
*/
#ifndef SHIM_ENVELOPE_H_INCLUDED
#define SHIM_ENVELOPE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ev/v1/envelope.pb-c.h"
#include "svc_uuid.h"

//  The origin prefix of events the shim brought in from RabbitMQ
//  (proto/README.md): "rabbitmq:<shim stream>".
#define SHIM_ORIGIN_PREFIX "rabbitmq:"

//  A new envelope with `type` set to the payload's type name and the
//  payload member of `payload_case` allocated and initialised (an
//  OrderCreated with a total of no currency and no items; Money members
//  are allocated too). `payload_case` must name a type this build knows
//  (asserted). Caller owns return value; destroy it with
//  shim_envelope_destroy.
Ev__V1__Envelope *shim_envelope_new(Ev__V1__Envelope__PayloadCase payload_case);

//  Destroy an envelope from shim_envelope_new; accepts NULL and nulls the
//  pointer. Never pass a decoded bus envelope.
void shim_envelope_destroy(Ev__V1__Envelope **envelope_p);

//  Replace the string `*field` of a shim envelope with a copy of `text`.
void shim_envelope_set_text(char **field, const char *text);

//  Replace the id `*field` of a shim envelope with a copy of `uuid`'s 16
//  bytes, or make it empty with NULL.
void shim_envelope_set_id(ProtobufCBinaryData *field, const svc_uuid_t *uuid);

//  Give an OrderCreated of a shim envelope `count` items, each with its
//  unit price allocated, replacing any it had. `count` at most
//  BUS_ITEMS_MAX (asserted).
void shim_envelope_set_items(Ev__V1__OrderCreated *created, size_t count);

//  The order id of the payload (every event of ours has one), or NULL if
//  no payload is set. Borrowed from the envelope; the partition key of
//  bus_tx_append.
const ProtobufCBinaryData *shim_envelope_order_id(const Ev__V1__Envelope *envelope);

//  True if the envelope came in from RabbitMQ through a shim (its origin
//  starts with SHIM_ORIGIN_PREFIX): never bridge it back.
bool shim_envelope_from_rabbitmq(const Ev__V1__Envelope *envelope);

//  True if `traceparent` (may be NULL) is what our bus accepts: exactly a
//  version 00 W3C traceparent. The shim carries only such a one across.
bool shim_envelope_traceparent_usable(const char *traceparent);

//  The UUID held by a 16-byte id field; false (and *uuid_out untouched)
//  if the field is empty or has another length.
bool shim_envelope_id(const ProtobufCBinaryData *field, svc_uuid_t *uuid_out);

#endif
