/*  =========================================================================
    shim_cap - our envelopes as DotNetCore.CAP messages, and back

    For users who run CAP instead of MassTransit (INTEROP.md section 8),
    selected by configuration. CAP has no envelope: the body is the bare
    .NET object serialised with System.Text.Json's defaults (PascalCase,
    decimals as numbers, written here with exactly the currency's digits),
    and everything else travels in string headers. It is published to the
    topic exchange `cap.default.router` with the CAP message name as
    routing key, persistent, without content_type.

    | our envelope     | CAP                                                    |
    | ---------------- | ------------------------------------------------------ |
    | message_id       | cap-msg-id (D form) and the message_id property; in:   |
    |                  | a GUID is taken as is, CAP's own snowflake ids become  |
    |                  | UUIDv5(SHIM_CAP_ID_NAMESPACE, "cap-msg-id:" + id)       |
    | type             | cap-msg-name (routing key) = shim_map_cap_name,        |
    |                  | cap-msg-type = the .NET type name                      |
    | correlation_id   | cap-corr-id (our message id when we have none, as CAP  |
    |                  | does; in: equal to cap-msg-id reads back as none),     |
    |                  | cap-corr-seq "0"                                       |
    | causation_id     | X-Bridge-Causation-Id                                  |
    | occurred_at_us   | cap-senttime "MM/dd/yyyy HH:mm:ss" (UTC); in: not read, |
    |                  | since CAP writes local time without a zone: 0, for the |
    |                  | writer to fill                                         |
    | traceparent etc. | traceparent, tracestate                                |
    | origin           | X-Bridge-Origin = the mark; in: "rabbitmq:<stream>"    |
    | payload          | the body (shim_body.h, PascalCase)                     |

        shim_cap_config_t config = {.map = map, .mark = "evbus", .stream = "shim-0"};
        shim_cap_t *codec = shim_cap_new(&config);
        shim_cap_encode(codec, envelope, &message, &error);
        shim_cap_decode(codec, &delivery, &received, &error);
        shim_cap_destroy(&codec);
    =========================================================================
*/
#ifndef SHIM_CAP_H_INCLUDED
#define SHIM_CAP_H_INCLUDED

#include "ev/v1/envelope.pb-c.h"
#include "shim_rc.h"
#include "shim_map.h"
#include "shim_message.h"

//  CAP's exchange when CapOptions.Version is "v1".
#define SHIM_CAP_EXCHANGE_DEFAULT "cap.default.router"

//  CAP's headers (DotNetCore.CAP Messages/Headers.cs) and ours.
#define SHIM_CAP_HEADER_MSG_ID "cap-msg-id"
#define SHIM_CAP_HEADER_MSG_NAME "cap-msg-name"
#define SHIM_CAP_HEADER_MSG_TYPE "cap-msg-type"
#define SHIM_CAP_HEADER_SENT_TIME "cap-senttime"
#define SHIM_CAP_HEADER_CORR_ID "cap-corr-id"
#define SHIM_CAP_HEADER_CORR_SEQ "cap-corr-seq"
#define SHIM_CAP_HEADER_CAUSATION_ID "X-Bridge-Causation-Id"

//  The namespace of the UUIDv5 ids made from CAP's non-GUID message ids.
#define SHIM_CAP_ID_NAMESPACE "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"

//  Longest cap-msg-id and cap-corr-id read, in bytes.
#define SHIM_CAP_ID_MAX 128

//  The codec's configuration; strings are copied by shim_cap_new.
typedef struct {
    const shim_map_t *map; //  names; borrowed, must outlive the codec
    const char *exchange;  //  CAP's exchange, NULL for SHIM_CAP_EXCHANGE_DEFAULT
    const char *mark;      //  origin mark, as shim_masstransit_config_t's
    const char *stream;    //  the shim's own stream, as there
} shim_cap_config_t;

typedef struct shim_cap shim_cap_t;

//  Create a codec. Returns NULL if the configuration is invalid (an
//  exchange name with other than [A-Za-z0-9_.:-], a mark or stream as
//  shim_masstransit_new refuses them). Caller owns return value.
shim_cap_t *shim_cap_new(const shim_cap_config_t *config);

//  Destroy a codec; accepts NULL and nulls the pointer.
void shim_cap_destroy(shim_cap_t **self_p);

//  Turn `envelope` into the message a CAP publisher would send. Returns
//  and fails as shim_masstransit_encode.
shim_rc_t shim_cap_encode(shim_cap_t *self,
                          const Ev__V1__Envelope *envelope,
                          shim_message_t **message_out,
                          shim_error_t *error);

//  Turn a CAP delivery into an envelope for bus_tx_append. Returns and
//  fails as shim_masstransit_decode, where a missing cap-msg-id is
//  SHIM_MISSING_FIELD, a missing cap-msg-name SHIM_NO_MESSAGE_TYPE and one
//  the map does not know SHIM_UNKNOWN_TYPE.
shim_rc_t shim_cap_decode(shim_cap_t *self,
                          const shim_delivery_t *delivery,
                          Ev__V1__Envelope **envelope_out,
                          shim_error_t *error);

#endif
