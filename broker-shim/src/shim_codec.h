/*  =========================================================================
    shim_codec - the configured wire format (MassTransit or CAP) and its
    RabbitMQ topology

    The shim speaks one format per deployment (SHIM_FORMAT). A codec hides
    which: it encodes and decodes through shim_masstransit or shim_cap, and
    says how that format's exchanges are declared and what the shim's own
    queue is bound to:

    | format      | exchanges                                | queue bindings            |
    | ----------- | ---------------------------------------- | ------------------------- |
    | masstransit | one fanout per message type              | each type's exchange, ""  |
    |             | (`Contracts:OrderCreatedEvent`)          |                           |
    | cap         | the topic exchange `cap.default.router`  | it, once per CAP name     |

    Pure (no I/O); one codec per thread (each actor of the shim has its
    own), sharing the immutable map.

        shim_codec_config_t config = {.format = SHIM_FORMAT_MASSTRANSIT, .map = map,
            .broker_address = "rabbitmq://localhost",
            .source_address = "rabbitmq://localhost/evbus-shim",
            .mark = "evbus", .stream = "shim-0"};
        shim_codec_t *codec = shim_codec_new(&config);
        for (size_t index = 0; index < shim_codec_binding_count(codec); index++) ...
        shim_codec_encode(codec, envelope, &message, &error);
        shim_codec_destroy(&codec);
    =========================================================================
*/
#ifndef SHIM_CODEC_H_INCLUDED
#define SHIM_CODEC_H_INCLUDED

#include <stddef.h>

#include "ev/v1/envelope.pb-c.h"
#include "shim_rc.h"
#include "shim_map.h"
#include "shim_message.h"
#include "shim_masstransit.h"

typedef enum {
    SHIM_FORMAT_MASSTRANSIT = 0, //  MassTransit v8 envelopes (INTEROP.md 1-7)
    SHIM_FORMAT_CAP              //  DotNetCore.CAP (INTEROP.md 8)
} shim_format_t;

//  Every event type the shim bridges, in contract order.
#define SHIM_CODEC_TYPES 7

typedef struct {
    shim_format_t format;       //  which
    const shim_map_t *map;      //  names; borrowed, must outlive the codec
    const char *broker_address; //  as shim_masstransit_config_t
    const char *source_address; //  as shim_masstransit_config_t
    const char *mark;           //  origin mark
    const char *stream;         //  the shim's own stream
    shim_host_t host;           //  MassTransit's host block
} shim_codec_config_t;

typedef struct shim_codec shim_codec_t;

//  Parse "masstransit" or "cap". Returns 0, or -1 for anything else.
int shim_format_parse(const char *text, shim_format_t *format_out);

//  Create a codec. Returns NULL if the configuration is invalid (as
//  shim_masstransit_new and shim_cap_new refuse it). Caller owns return
//  value.
shim_codec_t *shim_codec_new(const shim_codec_config_t *config);

//  Destroy; accepts NULL and nulls the pointer.
void shim_codec_destroy(shim_codec_t **self_p);

//  As shim_masstransit_encode / shim_cap_encode.
shim_rc_t shim_codec_encode(shim_codec_t *self,
                            const Ev__V1__Envelope *envelope,
                            shim_message_t **message_out,
                            shim_error_t *error);

//  As shim_masstransit_decode / shim_cap_decode.
shim_rc_t shim_codec_decode(shim_codec_t *self,
                            const shim_delivery_t *delivery,
                            Ev__V1__Envelope **envelope_out,
                            shim_error_t *error);

//  The type of the exchanges the format publishes to: "fanout" or "topic".
//  Static.
const char *shim_codec_exchange_type(const shim_codec_t *self);

//  The bindings of the shim's queue: SHIM_CODEC_TYPES of them, the
//  `index`th as exchange and routing key (borrowed from the map or the
//  codec).
size_t shim_codec_binding_count(const shim_codec_t *self);
void shim_codec_binding(const shim_codec_t *self,
                        size_t index,
                        const char **exchange_out,
                        const char **routing_key_out);

#endif
