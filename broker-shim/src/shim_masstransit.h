/*  =========================================================================
    shim_masstransit - our envelopes as MassTransit v8 messages, and back

    The pure core of the shim's MassTransit format (INTEROP.md sections 2
    to 7; no I/O). Encoding writes what a MassTransit 8.5 publisher of the
    .NET type would send: the JSON envelope with all 15 fields in
    MassTransit's order, nulls written, camelCase, GUIDs in the D form, UTC
    times with "Z", decimals as strings, plus the AMQP side (exchange
    `Namespace:TypeName`, routing key "", persistent, content_type
    application/vnd.masstransit+json, message_id = messageId, headers).
    Decoding reads what MassTransit publishers send with either serializer
    (System.Text.Json or Newtonsoft: any key case, nulls written or left
    out, decimals as strings or numbers, times with "Z", an offset or
    none, content type missing), or raw JSON (application/json with the
    MT-MessageType header), into an envelope ready for bus_tx_append.

    | our envelope     | MassTransit envelope                                  |
    | ---------------- | ----------------------------------------------------- |
    | message_id       | messageId (and the message_id property)               |
    | correlation_id   | conversationId (messageId when we have none; a        |
    |                  | conversationId equal to messageId reads back as none) |
    | causation_id     | initiatorId                                           |
    | -                | requestId, correlationId: null (the contracts have no |
    |                  | CorrelationId property, INTEROP.md 3.4)               |
    | occurred_at_us   | sentTime                                              |
    | traceparent      | headers traceparent and MT-Activity-Id                |
    | tracestate       | headers tracestate                                    |
    | origin           | headers X-Bridge-Origin = the configured mark, on the |
    |                  | way out; "rabbitmq:<stream>" on the way in            |
    | type + payload   | messageType [URN], destinationAddress, message        |
    |                  | (shim_body.h)                                         |

    The shim never bridges back: encoding refuses an envelope that came in
    from RabbitMQ (origin "rabbitmq:..."), and decoding answers
    SHIM_OWN_MESSAGE for a message whose X-Bridge-Origin header (AMQP or
    envelope) is the configured mark. Every replica of one deployment's
    shim uses the same mark.

        shim_masstransit_config_t config = {
            .map = map, .broker_address = "rabbitmq://localhost",
            .source_address = "rabbitmq://localhost/broker-shim", .mark = "evbus",
            .stream = "shim-0", .host = {.machine_name = "node-1", .process_id = 4242}};
        shim_masstransit_t *codec = shim_masstransit_new(&config);
        shim_message_t *message = NULL;
        shim_error_t error;
        if (shim_masstransit_encode(codec, envelope, &message, &error) == SHIM_OK) ...
        shim_message_destroy(&message);

        Ev__V1__Envelope *received = NULL;
        shim_rc_t rc = shim_masstransit_decode(codec, &delivery, &received, &error);
        //  SHIM_OK: bus_tx_append(tx, received, shim_envelope_order_id(received)->data, 16)
        //  SHIM_OWN_MESSAGE: ack and drop; anything else: dead-letter with error.reason
        shim_envelope_destroy(&received);
        shim_masstransit_destroy(&codec);
    =========================================================================
*/
#ifndef SHIM_MASSTRANSIT_H_INCLUDED
#define SHIM_MASSTRANSIT_H_INCLUDED

#include "ev/v1/envelope.pb-c.h"
#include "shim_rc.h"
#include "shim_map.h"
#include "shim_message.h"

//  Content types: MassTransit's envelope, and raw JSON.
#define SHIM_MT_CONTENT_TYPE "application/vnd.masstransit+json"
#define SHIM_RAW_JSON_CONTENT_TYPE "application/json"

//  Headers the shim writes and reads.
#define SHIM_HEADER_ORIGIN "X-Bridge-Origin"         //  the origin mark
#define SHIM_HEADER_MESSAGE_TYPE "MT-MessageType"    //  raw JSON: URNs joined by ';'
#define SHIM_HEADER_MESSAGE_ID "MessageId"           //  raw JSON: messageId
#define SHIM_HEADER_CONVERSATION_ID "ConversationId" //  raw JSON: conversationId
#define SHIM_HEADER_INITIATOR_ID "MT-InitiatorId"    //  raw JSON: initiatorId
#define SHIM_HEADER_ACTIVITY_ID "MT-Activity-Id"     //  MassTransit's trace parent
#define SHIM_HEADER_TRACEPARENT "traceparent"        //  W3C Trace Context
#define SHIM_HEADER_TRACESTATE "tracestate"          //  W3C Trace Context

//  Longest origin mark, in bytes (printable ASCII).
#define SHIM_MARK_MAX 64

//  Most messageType entries (or MT-MessageType URNs) looked at.
#define SHIM_MESSAGE_TYPES_MAX 32

//  The `host` block of the envelopes the shim writes (MassTransit's
//  BusHostInfo). Strings borrowed during shim_masstransit_new; NULL ones
//  are written as null.
typedef struct {
    const char *machine_name;             //  e.g. the node name
    const char *process_name;             //  e.g. "broker-shim"
    int process_id;                       //  the pid
    const char *assembly;                 //  e.g. "broker-shim"
    const char *assembly_version;         //  e.g. "0.1.0"
    const char *framework_version;        //  e.g. NULL
    const char *mass_transit_version;     //  e.g. NULL
    const char *operating_system_version; //  e.g. "Linux 6.1.0"
} shim_host_t;

//  The codec's configuration; strings are copied by shim_masstransit_new.
typedef struct {
    const shim_map_t *map;      //  names; borrowed, must outlive the codec
    const char *broker_address; //  "rabbitmq://host[:port][/vhost]" without a
                                //  final '/': destinationAddress is it + "/" + exchange
    const char *source_address; //  sourceAddress of what the shim publishes, an
                                //  absolute URI, e.g. "rabbitmq://localhost/broker-shim"
    const char *mark;           //  origin mark: 1-SHIM_MARK_MAX printable ASCII bytes
    const char *stream;         //  the shim's own stream ("shim-0"); what it decodes
                                //  gets origin "rabbitmq:<stream>"
    shim_host_t host;           //  the host block
} shim_masstransit_config_t;

//  A codec belongs to one thread (the shim's actor); it holds no state
//  that changes between calls.
typedef struct shim_masstransit shim_masstransit_t;

//  Create a codec. Returns NULL if the configuration is invalid: an
//  address not as described, a mark that is empty, too long or not
//  printable ASCII, a stream that is not bus_envelope_stream_valid.
//  Caller owns return value.
shim_masstransit_t *shim_masstransit_new(const shim_masstransit_config_t *config);

//  Destroy a codec; accepts NULL and nulls the pointer.
void shim_masstransit_destroy(shim_masstransit_t **self_p);

//  Turn `envelope` (valid as bus_envelope_validate says) into the message a
//  MassTransit publisher would send. Deterministic: the same envelope gives
//  the same bytes, so a re-publish after a crash is the same message.
//  Returns:
//    SHIM_OK           *message_out is set; caller owns it
//    SHIM_OWN_MESSAGE  the envelope came in from RabbitMQ: do not publish
//    SHIM_NOT_MAPPED   its type has no MassTransit name (a newer type)
//    SHIM_INVALID      the envelope breaks the contract
//    SHIM_TOO_LARGE    the JSON would exceed SHIM_BODY_MAX
//  with `error` saying why; on failure *message_out is untouched.
shim_rc_t shim_masstransit_encode(shim_masstransit_t *self,
                                  const Ev__V1__Envelope *envelope,
                                  shim_message_t **message_out,
                                  shim_error_t *error);

//  Turn a delivery into an envelope for bus_tx_append: type and payload,
//  message_id, correlation and causation ids, occurred_at_us (0, for the
//  writer to fill, when sentTime is absent), traceparent and tracestate
//  when the headers hold valid ones, origin "rabbitmq:<stream>"; stream,
//  seq and partition empty (the writer sets them). Returns SHIM_OK and
//  sets *envelope_out (caller owns it; destroy with
//  shim_envelope_destroy), SHIM_OWN_MESSAGE for the shim's own messages,
//  or a failure for the dead-letter queue:
//    SHIM_TOO_LARGE        body over SHIM_BODY_MAX, or a field over its bound
//    SHIM_NOT_JSON         body not JSON, or not an object
//    SHIM_NO_MESSAGE_TYPE  no messageType (raw: no MT-MessageType header and
//                          an exchange the map does not know)
//    SHIM_UNKNOWN_TYPE     no messageType URN the map knows
//    SHIM_NO_MESSAGE       envelope without "message"
//    SHIM_BAD_ID           an id that is not a GUID
//    SHIM_BAD_AMOUNT       an amount not exact in its currency, or negative
//    SHIM_BAD_FIELD        a field of the wrong type or range, a bad time
//    SHIM_MISSING_FIELD    no messageId (nor message_id property), no orderId ...
//  with `error` naming the field; on failure *envelope_out is NULL.
shim_rc_t shim_masstransit_decode(shim_masstransit_t *self,
                                  const shim_delivery_t *delivery,
                                  Ev__V1__Envelope **envelope_out,
                                  shim_error_t *error);

#endif
