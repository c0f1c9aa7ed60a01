/*  =========================================================================
    shim_codec - the configured wire format (MassTransit or CAP) and its
    RabbitMQ topology

    The shim speaks one format per deployment (SHIM_FORMAT). A codec hides
    which: it encodes and decodes through shim_masstransit or shim_cap, and
    says how that format's exchanges are declared and what the shim's own
    queue is bound to (the types SHIM_CONSUME names; the queue is unbound
    from the others, so a narrower list takes effect on a queue that an
    earlier configuration bound to more):

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
        for (size_t index = 0; index < shim_codec_binding_count(codec); index++) {
            shim_codec_binding(codec, index, &exchange, &routing_key);
            if (shim_codec_bound(codec, index)) ... bind, else unbind
        }
        shim_codec_encode(codec, envelope, &message, &error);
        shim_codec_destroy(&codec);
    =========================================================================
*/
#ifndef SHIM_CODEC_H_INCLUDED
#define SHIM_CODEC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

//  A set of our event types: bit `index` for the index-th type in contract
//  order (OrderCreated = bit 0 ... PaymentVoided = bit 6).
typedef uint32_t shim_types_t;
#define SHIM_TYPES_ALL ((shim_types_t) ((1u << SHIM_CODEC_TYPES) - 1))

//  The word SHIM_CONSUME takes for the empty set.
#define SHIM_TYPES_NONE "none"

typedef struct {
    shim_format_t format;       //  which
    const shim_map_t *map;      //  names; borrowed, must outlive the codec
    const char *broker_address; //  as shim_masstransit_config_t
    const char *source_address; //  as shim_masstransit_config_t
    const char *mark;           //  origin mark
    const char *stream;         //  the shim's own stream
    shim_host_t host;           //  MassTransit's host block
    shim_types_t unbound;       //  types the shim's queue is not bound to (0: bound to all)
} shim_codec_config_t;

typedef struct shim_codec shim_codec_t;

//  Parse "masstransit" or "cap". Returns 0, or -1 for anything else.
int shim_format_parse(const char *text, shim_format_t *format_out);

//  Parse a list of our type names ("OrderCreated,OrderCancelled"; spaces
//  around names allowed), each at most once; "" or SHIM_TYPES_NONE is the
//  empty set. Returns 0, or -1 (unknown name, duplicate, empty item).
int shim_types_parse(const char *text, shim_types_t *types_out);

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

//  The type of the exchanges `format` publishes to: "fanout" or "topic".
//  Static.
const char *shim_format_exchange_type(shim_format_t format);

//  The same for the codec's format. Static.
const char *shim_codec_exchange_type(const shim_codec_t *self);

//  The bindings the shim manages on its queue: SHIM_CODEC_TYPES of them,
//  the `index`th as exchange and routing key (borrowed from the map or the
//  codec). shim_codec_bound says whether the queue is bound to it (the type
//  is consumed) or must be unbound from it; shim_codec_bound_count counts
//  the bound ones.
size_t shim_codec_binding_count(const shim_codec_t *self);
void shim_codec_binding(const shim_codec_t *self,
                        size_t index,
                        const char **exchange_out,
                        const char **routing_key_out);
bool shim_codec_bound(const shim_codec_t *self, size_t index);
size_t shim_codec_bound_count(const shim_codec_t *self);

#endif
