/*  =========================================================================
    shim_message - an AMQP message to publish, and a delivery received

    Plain storage with owned copies; nothing here knows AMQP framing.
    =========================================================================
*/
#include "shim_classes.h"

#include <strings.h>

struct shim_message {
    char *exchange;                        //  exchange name; owned
    char *routing_key;                     //  routing key; owned
    char *content_type;                    //  content_type property or NULL; owned
    char *message_id;                      //  message_id property or NULL; owned
    char *correlation_id;                  //  correlation_id property or NULL; owned
    char *body;                            //  body, NUL-terminated, or NULL; owned
    size_t body_size;                      //  body size in bytes
    size_t header_count;                   //  headers in use
    char *header_names[SHIM_HEADERS_MAX];  //  header names; owned
    char *header_values[SHIM_HEADERS_MAX]; //  header values; owned
};

//  ---------------------------------------------------------------------
//  A header of a delivery, case-insensitively.

const char *
shim_delivery_header(const shim_delivery_t *delivery, const char *name)
{
    assert(delivery);
    assert(name);
    for (size_t index = 0; index < delivery->header_count; index++) {
        const shim_header_t *header = &delivery->headers[index];
        if (header->name && header->value && strcasecmp(header->name, name) == 0) {
            return header->value;
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  True for 1-max_size printable ASCII bytes.

bool
shim_message_text_valid(const char *text, size_t max_size)
{
    if (!text) {
        return false;
    }
    size_t length = strnlen(text, max_size + 1);
    if (length == 0 || length > max_size) {
        return false;
    }
    for (size_t index = 0; index < length; index++) {
        if (text[index] < 0x20 || text[index] > 0x7e) {
            return false;
        }
    }
    return true;
}

//  ---------------------------------------------------------------------
//  Create a message.

shim_message_t *
shim_message_new(const char *exchange, const char *routing_key)
{
    assert(exchange);
    assert(routing_key);
    shim_message_t *self = (shim_message_t *) zmalloc(sizeof(shim_message_t));
    self->exchange = strdup(exchange);
    self->routing_key = strdup(routing_key);
    return self;
}

//  ---------------------------------------------------------------------
//  Destroy a message.

void
shim_message_destroy(shim_message_t **self_p)
{
    assert(self_p);
    shim_message_t *self = *self_p;
    if (!self) {
        return;
    }
    for (size_t index = self->header_count; index > 0; index--) {
        zstr_free(&self->header_values[index - 1]);
        zstr_free(&self->header_names[index - 1]);
    }
    freen(self->body);
    zstr_free(&self->correlation_id);
    zstr_free(&self->message_id);
    zstr_free(&self->content_type);
    zstr_free(&self->routing_key);
    zstr_free(&self->exchange);
    freen(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Replace an optional owned string.

static void
s_replace(char **field, const char *value)
{
    zstr_free(field);
    *field = value ? strdup(value) : NULL;
}

//  ---------------------------------------------------------------------
//  Setters.

void
shim_message_set_body(shim_message_t *self, char **body_p, size_t size)
{
    assert(self);
    assert(body_p && *body_p);
    freen(self->body);
    self->body = *body_p;
    self->body_size = size;
    *body_p = NULL;
}

void
shim_message_set_content_type(shim_message_t *self, const char *content_type)
{
    assert(self);
    s_replace(&self->content_type, content_type);
}

void
shim_message_set_message_id(shim_message_t *self, const char *message_id)
{
    assert(self);
    assert(message_id);
    s_replace(&self->message_id, message_id);
}

void
shim_message_set_correlation_id(shim_message_t *self, const char *correlation_id)
{
    assert(self);
    s_replace(&self->correlation_id, correlation_id);
}

int
shim_message_add_header(shim_message_t *self, const char *name, const char *value)
{
    assert(self);
    assert(name);
    assert(value);
    if (self->header_count == SHIM_HEADERS_MAX) {
        return -1;
    }
    self->header_names[self->header_count] = strdup(name);
    self->header_values[self->header_count] = strdup(value);
    self->header_count++;
    return 0;
}

//  ---------------------------------------------------------------------
//  Getters.

const char *
shim_message_exchange(const shim_message_t *self)
{
    assert(self);
    return self->exchange;
}

const char *
shim_message_routing_key(const shim_message_t *self)
{
    assert(self);
    return self->routing_key;
}

const char *
shim_message_content_type(const shim_message_t *self)
{
    assert(self);
    return self->content_type;
}

const char *
shim_message_message_id(const shim_message_t *self)
{
    assert(self);
    return self->message_id;
}

const char *
shim_message_correlation_id(const shim_message_t *self)
{
    assert(self);
    return self->correlation_id;
}

bool
shim_message_persistent(const shim_message_t *self)
{
    assert(self);
    return true;
}

const char *
shim_message_body(const shim_message_t *self)
{
    assert(self);
    return self->body ? self->body : "";
}

size_t
shim_message_body_size(const shim_message_t *self)
{
    assert(self);
    return self->body_size;
}

size_t
shim_message_header_count(const shim_message_t *self)
{
    assert(self);
    return self->header_count;
}

const char *
shim_message_header_name(const shim_message_t *self, size_t index)
{
    assert(self);
    assert(index < self->header_count);
    return self->header_names[index];
}

const char *
shim_message_header_value(const shim_message_t *self, size_t index)
{
    assert(self);
    assert(index < self->header_count);
    return self->header_values[index];
}

const char *
shim_message_header(const shim_message_t *self, const char *name)
{
    assert(self);
    assert(name);
    for (size_t index = 0; index < self->header_count; index++) {
        if (streq(self->header_names[index], name)) {
            return self->header_values[index];
        }
    }
    return NULL;
}
