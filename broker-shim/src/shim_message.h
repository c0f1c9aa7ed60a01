/*  =========================================================================
    shim_message - an AMQP message to publish, and a delivery received

    The mapping classes (shim_masstransit, shim_cap) are pure: they turn an
    envelope into a shim_message_t that says everything the publisher must
    send (exchange, routing key, properties, headers, body), and read a
    shim_delivery_t that holds everything the consumer received. Only the
    AMQP class (later) turns these into librabbitmq calls, so the mapping
    is tested without a broker.

    Outgoing messages are always persistent (delivery_mode 2), as
    MassTransit's and CAP's are. Header values are strings: every header the
    shim writes is text (MassTransit reads strings; CAP requires them).

        shim_message_t *message = NULL;
        if (shim_masstransit_encode(codec, envelope, &message, &error) == SHIM_OK) {
            amqp_basic_publish(..., shim_message_exchange(message),
                               shim_message_routing_key(message), ...);
        }
        shim_message_destroy(&message);

        shim_header_t headers[] = {{"MT-MessageType", "urn:message:Contracts:OrderCreatedEvent"}};
        shim_delivery_t delivery = {
            .body = body, .body_size = size, .content_type = "application/json",
            .headers = headers, .header_count = 1};
    =========================================================================
*/
#ifndef SHIM_MESSAGE_H_INCLUDED
#define SHIM_MESSAGE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Most headers a message the shim writes carries.
#define SHIM_HEADERS_MAX 16

//  One string header, borrowed.
typedef struct {
    const char *name;  //  header name, e.g. "MT-MessageType"
    const char *value; //  its value as text
} shim_header_t;

//  What the consumer received: the body and what the AMQP layer read from
//  the properties and the headers table. Every pointer is borrowed for the
//  call that takes the delivery; NULL (or 0) means absent. The AMQP layer
//  passes the headers whose values are strings (longstr, or bytes as
//  UTF-8) and may leave others out.
typedef struct {
    const void *body;             //  the message body
    size_t body_size;             //  its size in bytes
    const char *content_type;     //  the content_type property
    const char *message_id;       //  the message_id property
    const char *correlation_id;   //  the correlation_id property
    const char *exchange;         //  the exchange the message was published to
    const char *routing_key;      //  its routing key
    const shim_header_t *headers; //  the string headers, header_count of them
    size_t header_count;          //  how many
} shim_delivery_t;

//  The value of header `name` of a delivery, compared without regard to
//  ASCII case (MassTransit's header lookup ignores case), or NULL.
//  Borrowed from the delivery.
const char *shim_delivery_header(const shim_delivery_t *delivery, const char *name);

//  True if `text` is 1-`max_size` bytes of printable ASCII (0x20-0x7e):
//  what an origin mark and a W3C tracestate may hold.
bool shim_message_text_valid(const char *text, size_t max_size);

typedef struct shim_message shim_message_t;

//  A message to publish to `exchange` with `routing_key` ("" for
//  MassTransit's fanout exchanges), no body, no properties, no headers.
//  Caller owns return value.
shim_message_t *shim_message_new(const char *exchange, const char *routing_key);

//  Destroy a message; accepts NULL and nulls the pointer.
void shim_message_destroy(shim_message_t **self_p);

//  Take the NUL-terminated body `*body_p` of `size` bytes (allocated with
//  malloc); nulls the caller's pointer.
void shim_message_set_body(shim_message_t *self, char **body_p, size_t size);

//  Set the content_type property, or leave it out with NULL.
void shim_message_set_content_type(shim_message_t *self, const char *content_type);

//  Set the message_id property.
void shim_message_set_message_id(shim_message_t *self, const char *message_id);

//  Set the correlation_id property, or leave it out with NULL.
void shim_message_set_correlation_id(shim_message_t *self, const char *correlation_id);

//  Add a string header. Returns 0, or -1 if the message already holds
//  SHIM_HEADERS_MAX headers.
int shim_message_add_header(shim_message_t *self, const char *name, const char *value);

//  Getters; strings are borrowed from the message, NULL when not set.
const char *shim_message_exchange(const shim_message_t *self);
const char *shim_message_routing_key(const shim_message_t *self);
const char *shim_message_content_type(const shim_message_t *self);
const char *shim_message_message_id(const shim_message_t *self);
const char *shim_message_correlation_id(const shim_message_t *self);
//  Always true: delivery_mode 2.
bool shim_message_persistent(const shim_message_t *self);
//  The body (NUL-terminated; "" before one is set) and its size.
const char *shim_message_body(const shim_message_t *self);
size_t shim_message_body_size(const shim_message_t *self);
//  Headers in the order they were added; `index` below the count.
size_t shim_message_header_count(const shim_message_t *self);
const char *shim_message_header_name(const shim_message_t *self, size_t index);
const char *shim_message_header_value(const shim_message_t *self, size_t index);
//  The value of header `name` (exact), or NULL.
const char *shim_message_header(const shim_message_t *self, const char *name);

#endif
