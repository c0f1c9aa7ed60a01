/*  =========================================================================
    shim_codec - the configured wire format (MassTransit or CAP) and its
    RabbitMQ topology

    A switch over the two pure codecs; the topology tables follow the
    formats' own declarations (INTEROP.md 1.2 and 8).
    =========================================================================
*/
#include "shim_classes.h"
#include "shim_codec.h"

//  The event types, in contract order (proto/README.md).
static const Ev__V1__Envelope__PayloadCase s_types[SHIM_CODEC_TYPES] = {
    EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED,  EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED,
    EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED,
    EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED,
    EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED};

struct shim_codec {
    shim_format_t format;            //  which codec is set
    const shim_map_t *map;           //  names (borrowed)
    shim_types_t unbound;            //  types the queue is not bound to
    shim_masstransit_t *masstransit; //  MassTransit's (owned), or NULL
    shim_cap_t *cap;                 //  CAP's (owned), or NULL
};

//  --------------------------------------------------------------------------

int
shim_format_parse(const char *text, shim_format_t *format_out)
{
    assert(format_out);
    if (text && streq(text, "masstransit")) {
        *format_out = SHIM_FORMAT_MASSTRANSIT;
        return 0;
    }
    if (text && streq(text, "cap")) {
        *format_out = SHIM_FORMAT_CAP;
        return 0;
    }
    return -1;
}

//  --------------------------------------------------------------------------

int
shim_types_parse(const char *text, shim_types_t *types_out)
{
    assert(types_out);
    if (!text) {
        return -1;
    }
    shim_types_t types = 0;
    const char *blank = " \t";
    if (text[strspn(text, blank)] == '\0' || streq(text, SHIM_TYPES_NONE)) {
        *types_out = 0;
        return 0;
    }
    const char *item = text;
    while (true) {
        size_t length = strcspn(item, ",");
        const char *start = item + strspn(item, blank);
        const char *end = item + length;
        while (end > start && strchr(blank, end[-1])) {
            end--;
        }
        size_t index = 0;
        while (
            index < SHIM_CODEC_TYPES &&
            !((size_t) (end - start) == strlen(bus_envelope_type_name(s_types[index])) &&
              memcmp(start, bus_envelope_type_name(s_types[index]), (size_t) (end - start)) == 0)) {
            index++;
        }
        if (index == SHIM_CODEC_TYPES || (types & (1u << index))) {
            return -1; //  unknown, empty or given twice
        }
        types |= 1u << index;
        if (item[length] == '\0') {
            break;
        }
        item += length + 1;
    }
    *types_out = types;
    return 0;
}

//  --------------------------------------------------------------------------

shim_codec_t *
shim_codec_new(const shim_codec_config_t *config)
{
    assert(config);
    assert(config->map);
    shim_codec_t *self = zmalloc(sizeof *self);
    self->format = config->format;
    self->map = config->map;
    self->unbound = config->unbound & SHIM_TYPES_ALL;
    if (config->format == SHIM_FORMAT_CAP) {
        shim_cap_config_t cap = {
            .map = config->map, .mark = config->mark, .stream = config->stream};
        self->cap = shim_cap_new(&cap);
    } else {
        shim_masstransit_config_t masstransit = {.map = config->map,
                                                 .broker_address = config->broker_address,
                                                 .source_address = config->source_address,
                                                 .mark = config->mark,
                                                 .stream = config->stream,
                                                 .host = config->host};
        self->masstransit = shim_masstransit_new(&masstransit);
    }
    if (!self->cap && !self->masstransit) {
        shim_codec_destroy(&self);
    }
    return self;
}

//  --------------------------------------------------------------------------

void
shim_codec_destroy(shim_codec_t **self_p)
{
    assert(self_p);
    shim_codec_t *self = *self_p;
    if (!self) {
        return;
    }
    shim_cap_destroy(&self->cap);
    shim_masstransit_destroy(&self->masstransit);
    freen(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------

shim_rc_t
shim_codec_encode(shim_codec_t *self,
                  const Ev__V1__Envelope *envelope,
                  shim_message_t **message_out,
                  shim_error_t *error)
{
    assert(self);
    return self->cap ? shim_cap_encode(self->cap, envelope, message_out, error)
                     : shim_masstransit_encode(self->masstransit, envelope, message_out, error);
}

shim_rc_t
shim_codec_decode(shim_codec_t *self,
                  const shim_delivery_t *delivery,
                  Ev__V1__Envelope **envelope_out,
                  shim_error_t *error)
{
    assert(self);
    return self->cap ? shim_cap_decode(self->cap, delivery, envelope_out, error)
                     : shim_masstransit_decode(self->masstransit, delivery, envelope_out, error);
}

//  --------------------------------------------------------------------------

const char *
shim_format_exchange_type(shim_format_t format)
{
    return format == SHIM_FORMAT_CAP ? "topic" : "fanout";
}

const char *
shim_codec_exchange_type(const shim_codec_t *self)
{
    assert(self);
    return shim_format_exchange_type(self->format);
}

size_t
shim_codec_binding_count(const shim_codec_t *self)
{
    assert(self);
    return SHIM_CODEC_TYPES;
}

void
shim_codec_binding(const shim_codec_t *self,
                   size_t index,
                   const char **exchange_out,
                   const char **routing_key_out)
{
    assert(self);
    assert(index < SHIM_CODEC_TYPES);
    assert(exchange_out);
    assert(routing_key_out);
    if (self->format == SHIM_FORMAT_CAP) {
        *exchange_out = SHIM_CAP_EXCHANGE_DEFAULT;
        *routing_key_out = shim_map_cap_name(self->map, s_types[index]);
    } else {
        *exchange_out = shim_map_exchange(self->map, s_types[index]);
        *routing_key_out = "";
    }
}

bool
shim_codec_bound(const shim_codec_t *self, size_t index)
{
    assert(self);
    assert(index < SHIM_CODEC_TYPES);
    return (self->unbound & (1u << index)) == 0;
}

size_t
shim_codec_bound_count(const shim_codec_t *self)
{
    assert(self);
    size_t count = 0;
    for (size_t index = 0; index < SHIM_CODEC_TYPES; index++) {
        count += shim_codec_bound(self, index);
    }
    return count;
}
