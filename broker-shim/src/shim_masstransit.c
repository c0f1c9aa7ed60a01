/*  =========================================================================
    shim_masstransit - our envelopes as MassTransit v8 messages, and back

    Decoding runs in two steps: read the frame (envelope JSON or raw JSON
    plus headers) into an s_frame_t that says which event it is and what
    its ids, time and trace are, then build our envelope from it. Both
    shapes share the second step, and every check MassTransit itself makes
    on receive (GUID ids, ISO times, absolute URIs, an int processId) is
    made here too, so what the shim accepts a .NET consumer would accept.
    =========================================================================
*/
#include "shim_classes.h"

#include <ctype.h>
#include <strings.h>

struct shim_masstransit {
    const shim_map_t *map;           //  names; borrowed
    char *broker_address;            //  destinationAddress prefix; owned
    char *source_address;            //  sourceAddress; owned
    char *mark;                      //  origin mark; owned
    char *stream;                    //  the shim's stream; owned
    char origin[BUS_ORIGIN_MAX + 1]; //  "rabbitmq:<stream>"
    char *host;                      //  the host block, written once (owned)
    size_t host_size;                //  its length
};

//  What the frame of a delivery says, before our envelope is built. All
//  pointers are borrowed from the parsed body or the delivery.
typedef struct {
    Ev__V1__Envelope__PayloadCase payload_case; //  our type
    const json_t *message;                      //  the .NET message object
    const char *message_path;                   //  its name in reasons
    svc_uuid_t message_id;                      //  messageId
    svc_uuid_t conversation_id;                 //  conversationId, nil if none
    svc_uuid_t initiator_id;                    //  initiatorId, nil if none
    int64_t sent_at_us;                         //  sentTime, 0 if none
    const json_t *headers;                      //  the envelope's headers, or NULL
} s_frame_t;

//  ---------------------------------------------------------------------
//  True if `text` starts with a URI scheme and ':' (what .NET's
//  Uri(string) needs at least for an absolute URI).

static bool
s_uri_absolute(const char *text)
{
    if (!isalpha((unsigned char) *text)) {
        return false;
    }
    size_t length =
        strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    return text[length] == ':' && text[length + 1] != '\0';
}

//  ---------------------------------------------------------------------
//  A JSON string, or null for NULL.

static json_t *
s_string_or_null(const char *text)
{
    json_t *value = text ? json_string(text) : json_null();
    return value ? value : json_null();
}

//  ---------------------------------------------------------------------
//  The host block, in BusHostInfo's order.

static json_t *
s_host_new(const shim_host_t *host)
{
    json_t *object = json_object();
    json_object_set_new(object, "machineName", s_string_or_null(host->machine_name));
    json_object_set_new(object, "processName", s_string_or_null(host->process_name));
    json_object_set_new(object, "processId", json_integer(host->process_id));
    json_object_set_new(object, "assembly", s_string_or_null(host->assembly));
    json_object_set_new(object, "assemblyVersion", s_string_or_null(host->assembly_version));
    json_object_set_new(object, "frameworkVersion", s_string_or_null(host->framework_version));
    json_object_set_new(object, "massTransitVersion", s_string_or_null(host->mass_transit_version));
    json_object_set_new(object, "operatingSystemVersion",
                        s_string_or_null(host->operating_system_version));
    return object;
}

//  ---------------------------------------------------------------------
//  Create a codec.

shim_masstransit_t *
shim_masstransit_new(const shim_masstransit_config_t *config)
{
    assert(config);
    assert(config->map);
    const char *broker = config->broker_address;
    bool broker_valid =
        broker &&
        (strncmp(broker, "rabbitmq://", 11) == 0 || strncmp(broker, "rabbitmqs://", 12) == 0) &&
        broker[strlen(broker) - 1] != '/' && strlen(broker) <= SHIM_NAME_MAX;
    if (!broker_valid || !config->source_address || !s_uri_absolute(config->source_address) ||
        !shim_message_text_valid(config->mark, SHIM_MARK_MAX) || !config->stream ||
        !bus_envelope_stream_valid(config->stream)) {
        return NULL;
    }
    shim_masstransit_t *self = (shim_masstransit_t *) zmalloc(sizeof(shim_masstransit_t));
    self->map = config->map;
    self->broker_address = strdup(broker);
    self->source_address = strdup(config->source_address);
    self->mark = strdup(config->mark);
    self->stream = strdup(config->stream);
    snprintf(self->origin, sizeof self->origin, SHIM_ORIGIN_PREFIX "%s", config->stream);
    json_t *host = s_host_new(&config->host);
    self->host = shim_json_dump(host, &self->host_size);
    assert(self->host); //  strings that are not UTF-8 are null
    json_decref(host);
    return self;
}

//  ---------------------------------------------------------------------
//  Destroy a codec.

void
shim_masstransit_destroy(shim_masstransit_t **self_p)
{
    assert(self_p);
    shim_masstransit_t *self = *self_p;
    if (!self) {
        return;
    }
    freen(self->host);
    zstr_free(&self->stream);
    zstr_free(&self->mark);
    zstr_free(&self->source_address);
    zstr_free(&self->broker_address);
    freen(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  An id field as a D-form JSON string, or null when empty.

static void
s_write_id(shim_json_writer_t *writer, const char *key, const ProtobufCBinaryData *field)
{
    shim_json_write_key(writer, key);
    svc_uuid_t uuid;
    if (!shim_envelope_id(field, &uuid)) {
        shim_json_write_null(writer);
        return;
    }
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&uuid, text);
    shim_json_write_string(writer, text);
}

static void
s_write_null(shim_json_writer_t *writer, const char *key)
{
    shim_json_write_key(writer, key);
    shim_json_write_null(writer);
}

static void
s_write_string(shim_json_writer_t *writer, const char *key, const char *text)
{
    shim_json_write_key(writer, key);
    shim_json_write_string(writer, text);
}

//  ---------------------------------------------------------------------
//  The headers we write, in both the envelope and the AMQP table.

static void
s_write_headers(const shim_masstransit_t *self,
                const Ev__V1__Envelope *envelope,
                shim_json_writer_t *writer)
{
    shim_json_write_open(writer, '{');
    s_write_string(writer, SHIM_HEADER_ORIGIN, self->mark);
    if (envelope->traceparent && *envelope->traceparent) {
        s_write_string(writer, SHIM_HEADER_ACTIVITY_ID, envelope->traceparent);
        s_write_string(writer, SHIM_HEADER_TRACEPARENT, envelope->traceparent);
    }
    if (envelope->tracestate && *envelope->tracestate) {
        s_write_string(writer, SHIM_HEADER_TRACESTATE, envelope->tracestate);
    }
    shim_json_write_close(writer, '}');
}

//  ---------------------------------------------------------------------
//  Write the envelope JSON, fields in MassTransit's order, nulls written;
//  the message by shim_body_encode.

static shim_rc_t
s_write_envelope(const shim_masstransit_t *self,
                 const Ev__V1__Envelope *envelope,
                 const char *sent_time,
                 shim_json_writer_t *writer,
                 shim_error_t *error)
{
    Ev__V1__Envelope__PayloadCase payload_case = envelope->payload_case;
    shim_json_write_open(writer, '{');
    s_write_id(writer, "messageId", &envelope->message_id);
    s_write_null(writer, "requestId");
    s_write_null(writer, "correlationId");
    s_write_id(writer, "conversationId",
               envelope->correlation_id.len ? &envelope->correlation_id : &envelope->message_id);
    s_write_id(writer, "initiatorId", &envelope->causation_id);
    s_write_string(writer, "sourceAddress", self->source_address);
    shim_json_write_key(writer, "destinationAddress");
    //  Both at most SHIM_NAME_MAX bytes (shim_masstransit_new, shim_map).
    char destination[SHIM_NAME_MAX * 2 + 2];
    const char *exchange = shim_map_exchange(self->map, payload_case);
    size_t prefix = strlen(self->broker_address);
    size_t suffix = strlen(exchange);
    assert(prefix <= SHIM_NAME_MAX && suffix <= SHIM_NAME_MAX);
    memcpy(destination, self->broker_address, prefix);
    destination[prefix] = '/';
    memcpy(destination + prefix + 1, exchange, suffix + 1);
    shim_json_write_string(writer, destination);
    s_write_null(writer, "responseAddress");
    s_write_null(writer, "faultAddress");
    shim_json_write_key(writer, "messageType");
    shim_json_write_open(writer, '[');
    shim_json_write_string(writer, shim_map_urn(self->map, payload_case));
    shim_json_write_close(writer, ']');
    shim_json_write_key(writer, "message");
    shim_rc_t rc = shim_body_encode(envelope, SHIM_BODY_MASSTRANSIT, writer, error);
    if (rc != SHIM_OK) {
        return rc;
    }
    s_write_null(writer, "expirationTime");
    s_write_string(writer, "sentTime", sent_time);
    shim_json_write_key(writer, "headers");
    s_write_headers(self, envelope, writer);
    shim_json_write_key(writer, "host");
    shim_json_write_raw(writer, self->host, self->host_size);
    shim_json_write_close(writer, '}');
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Check an envelope before encoding it.

static shim_rc_t
s_encode_check(const shim_masstransit_t *self,
               const Ev__V1__Envelope *envelope,
               shim_error_t *error)
{
    if (shim_envelope_from_rabbitmq(envelope)) {
        return shim_error_set(error, SHIM_OWN_MESSAGE, "origin %.*s: came from RabbitMQ",
                              BUS_ORIGIN_MAX, envelope->origin);
    }
    bus_rc_t rc = bus_envelope_validate(envelope);
    if (rc == BUS_UNKNOWN_TYPE ||
        (rc == BUS_OK && !shim_map_urn(self->map, envelope->payload_case))) {
        return shim_error_set(error, SHIM_NOT_MAPPED, "type %.*s: no MassTransit name",
                              BUS_TYPE_NAME_MAX, envelope->type ? envelope->type : "");
    }
    if (rc != BUS_OK) {
        return shim_error_set(error, SHIM_INVALID, "envelope: %s", bus_strerror(rc));
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  The AMQP message around a body.

static shim_message_t *
s_message_new(const shim_masstransit_t *self,
              const Ev__V1__Envelope *envelope,
              char **body_p,
              size_t size)
{
    shim_message_t *message =
        shim_message_new(shim_map_exchange(self->map, envelope->payload_case), "");
    shim_message_set_body(message, body_p, size);
    shim_message_set_content_type(message, SHIM_MT_CONTENT_TYPE);
    svc_uuid_t message_id;
    bool valid = shim_envelope_id(&envelope->message_id, &message_id);
    assert(valid);
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&message_id, text);
    shim_message_set_message_id(message, text);
    //  The same headers as in the envelope, as MassTransit copies them.
    shim_message_add_header(message, SHIM_HEADER_ORIGIN, self->mark);
    if (envelope->traceparent && *envelope->traceparent) {
        shim_message_add_header(message, SHIM_HEADER_ACTIVITY_ID, envelope->traceparent);
        shim_message_add_header(message, SHIM_HEADER_TRACEPARENT, envelope->traceparent);
    }
    if (envelope->tracestate && *envelope->tracestate) {
        shim_message_add_header(message, SHIM_HEADER_TRACESTATE, envelope->tracestate);
    }
    return message;
}

//  ---------------------------------------------------------------------
//  Encode an envelope as a MassTransit message.

shim_rc_t
shim_masstransit_encode(shim_masstransit_t *self,
                        const Ev__V1__Envelope *envelope,
                        shim_message_t **message_out,
                        shim_error_t *error)
{
    assert(self);
    assert(envelope);
    assert(message_out);
    assert(error);
    shim_error_clear(error);
    shim_rc_t rc = s_encode_check(self, envelope, error);
    if (rc != SHIM_OK) {
        return rc;
    }
    char sent_time[SHIM_TIME_TEXT_SIZE];
    if (shim_time_format(envelope->occurred_at_us, sent_time) != 0) {
        return shim_error_set(error, SHIM_INVALID, "occurred_at_us: outside years 0001-9999");
    }
    shim_json_writer_t writer;
    shim_json_writer_init(&writer);
    rc = s_write_envelope(self, envelope, sent_time, &writer, error);
    size_t size = 0;
    char *body = shim_json_writer_take(&writer, &size);
    if (rc != SHIM_OK) {
        freen(body);
        return rc;
    }
    if (!body) {
        return shim_error_set(error, SHIM_INVALID, "envelope: cannot be written as JSON");
    }
    if (size > SHIM_BODY_MAX) {
        freen(body);
        return shim_error_set(error, SHIM_TOO_LARGE, "envelope: %zu bytes exceed %d", size,
                              SHIM_BODY_MAX);
    }
    *message_out = s_message_new(self, envelope, &body, size);
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  True if the content type's media type is raw JSON ("application/json",
//  any case, parameters after ';' ignored).

static bool
s_content_raw_json(const char *content_type)
{
    if (!content_type) {
        return false;
    }
    while (*content_type == ' ' || *content_type == '\t') {
        content_type++;
    }
    size_t length = strlen(SHIM_RAW_JSON_CONTENT_TYPE);
    if (strncasecmp(content_type, SHIM_RAW_JSON_CONTENT_TYPE, length) != 0) {
        return false;
    }
    char next = content_type[length];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

//  ---------------------------------------------------------------------
//  Read an optional GUID header (lenient) into *uuid_out; nil if absent.

static shim_rc_t
s_header_uuid(const shim_delivery_t *delivery,
              const char *name,
              svc_uuid_t *uuid_out,
              shim_error_t *error)
{
    memset(uuid_out, 0, sizeof *uuid_out);
    const char *text = shim_delivery_header(delivery, name);
    if (text && *text && shim_json_uuid_parse(text, true, uuid_out) != 0) {
        return shim_error_set(error, SHIM_BAD_ID, "header %s: not a GUID", name);
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  The message id when the frame has none: the message_id property.

static shim_rc_t
s_message_id_fallback(const shim_delivery_t *delivery, s_frame_t *frame, shim_error_t *error)
{
    if (!svc_uuid_is_nil(&frame->message_id)) {
        return SHIM_OK;
    }
    if (!delivery->message_id || !*delivery->message_id) {
        return shim_error_set(error, SHIM_MISSING_FIELD,
                              "messageId: required (neither in the message nor the message_id "
                              "property)");
    }
    if (shim_json_uuid_parse(delivery->message_id, true, &frame->message_id) != 0 ||
        svc_uuid_is_nil(&frame->message_id)) {
        return shim_error_set(error, SHIM_BAD_ID, "message_id property: not a GUID");
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Raw JSON: the type from MT-MessageType (URNs joined by ';'), else from
//  the exchange the message was published to.

static shim_rc_t
s_raw_type(const shim_masstransit_t *self,
           const shim_delivery_t *delivery,
           s_frame_t *frame,
           shim_error_t *error)
{
    const char *header = shim_delivery_header(delivery, SHIM_HEADER_MESSAGE_TYPE);
    if (header && *header) {
        char *copy = strndup(header, SHIM_MESSAGE_TYPES_MAX * (SHIM_NAME_MAX + 16));
        char *saved = NULL;
        size_t count = 0;
        for (char *urn = strtok_r(copy, ";", &saved); urn && count < SHIM_MESSAGE_TYPES_MAX;
             urn = strtok_r(NULL, ";", &saved), count++) {
            while (*urn == ' ') {
                urn++;
            }
            size_t length = strlen(urn);
            while (length > 0 && urn[length - 1] == ' ') {
                urn[--length] = '\0';
            }
            frame->payload_case = shim_map_find_urn(self->map, urn);
            if (frame->payload_case != EV__V1__ENVELOPE__PAYLOAD__NOT_SET) {
                break;
            }
        }
        zstr_free(&copy);
        if (frame->payload_case == EV__V1__ENVELOPE__PAYLOAD__NOT_SET) {
            return shim_error_set(error, SHIM_UNKNOWN_TYPE,
                                  "header %s: no URN is mapped to an event",
                                  SHIM_HEADER_MESSAGE_TYPE);
        }
        return SHIM_OK;
    }
    if (delivery->exchange) {
        frame->payload_case = shim_map_find_exchange(self->map, delivery->exchange);
    }
    if (frame->payload_case == EV__V1__ENVELOPE__PAYLOAD__NOT_SET) {
        return shim_error_set(error, SHIM_NO_MESSAGE_TYPE,
                              "raw JSON without the %s header, from an exchange not mapped",
                              SHIM_HEADER_MESSAGE_TYPE);
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Raw JSON (application/json): the body is the message; ids and types
//  come from headers (MassTransit's RawMessageSerializer names).

static shim_rc_t
s_read_raw(const shim_masstransit_t *self,
           const shim_delivery_t *delivery,
           const json_t *root,
           s_frame_t *frame,
           shim_error_t *error)
{
    frame->message = root;
    frame->message_path = "";
    shim_rc_t rc = s_raw_type(self, delivery, frame, error);
    if (rc == SHIM_OK) {
        rc = s_header_uuid(delivery, SHIM_HEADER_MESSAGE_ID, &frame->message_id, error);
    }
    if (rc == SHIM_OK) {
        rc = s_header_uuid(delivery, SHIM_HEADER_CONVERSATION_ID, &frame->conversation_id, error);
    }
    if (rc == SHIM_OK) {
        rc = s_header_uuid(delivery, SHIM_HEADER_INITIATOR_ID, &frame->initiator_id, error);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  The envelope's messageType array: the first URN the map knows.

static shim_rc_t
s_envelope_type(const shim_masstransit_t *self,
                const json_t *root,
                s_frame_t *frame,
                shim_error_t *error)
{
    json_t *types = NULL;
    if (shim_json_get(root, "messageType", &types) != 0) {
        return shim_error_set(error, SHIM_BAD_FIELD, "messageType: given twice in different case");
    }
    if (!types || (json_is_array(types) && json_array_size(types) == 0)) {
        return shim_error_set(error, SHIM_NO_MESSAGE_TYPE, "messageType: missing or empty");
    }
    if (!json_is_array(types)) {
        return shim_error_set(error, SHIM_BAD_FIELD, "messageType: not an array");
    }
    if (json_array_size(types) > SHIM_MESSAGE_TYPES_MAX) {
        return shim_error_set(error, SHIM_TOO_LARGE, "messageType: more than %d entries",
                              SHIM_MESSAGE_TYPES_MAX);
    }
    size_t index;
    json_t *urn;
    json_array_foreach(types, index, urn)
    {
        if (!json_is_string(urn) || shim_json_number_text(urn)) {
            return shim_error_set(error, SHIM_BAD_FIELD, "messageType[%zu]: not a string", index);
        }
        if (frame->payload_case == EV__V1__ENVELOPE__PAYLOAD__NOT_SET &&
            strlen(json_string_value(urn)) == json_string_length(urn)) {
            frame->payload_case = shim_map_find_urn(self->map, json_string_value(urn));
        }
    }
    if (frame->payload_case == EV__V1__ENVELOPE__PAYLOAD__NOT_SET) {
        return shim_error_set(error, SHIM_UNKNOWN_TYPE,
                              "messageType: no URN is mapped to an event");
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Check the envelope fields MassTransit checks on receive that we do not
//  use: requestId and correlationId are GUIDs, expirationTime is a time,
//  the addresses are absolute URIs, host.processId is an int.

static shim_rc_t
s_envelope_check(const json_t *root, shim_error_t *error)
{
    static const char *const ids[] = {"requestId", "correlationId"};
    static const char *const addresses[] = {"sourceAddress", "destinationAddress",
                                            "responseAddress", "faultAddress"};
    svc_uuid_t ignored_id;
    int64_t ignored_number = 0;
    shim_rc_t rc = SHIM_OK;
    for (size_t index = 0; rc == SHIM_OK && index < 2; index++) {
        rc = shim_json_read_uuid(root, "", ids[index], true, false, &ignored_id, error);
    }
    if (rc == SHIM_OK) {
        rc = shim_json_read_time(root, "", "expirationTime", false, &ignored_number, error);
    }
    for (size_t index = 0; rc == SHIM_OK && index < 4; index++) {
        const char *address = NULL;
        rc = shim_json_read_text(root, "", addresses[index], SHIM_BODY_MAX, false, &address, error);
        if (rc == SHIM_OK && address && !s_uri_absolute(address)) {
            rc = shim_error_set(error, SHIM_BAD_FIELD, "%s: not an absolute URI", addresses[index]);
        }
    }
    json_t *host = NULL;
    if (rc == SHIM_OK && shim_json_get(root, "host", &host) != 0) {
        rc = shim_error_set(error, SHIM_BAD_FIELD, "host: given twice in different case");
    }
    if (rc == SHIM_OK && host && !json_is_object(host)) {
        rc = shim_error_set(error, SHIM_BAD_FIELD, "host: not an object");
    }
    if (rc == SHIM_OK && host) {
        rc = shim_json_read_integer(host, "host", "processId", INT32_MIN, INT32_MAX, false,
                                    &ignored_number, error);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  The MassTransit envelope: type, message, ids, time and headers from
//  the JSON.

static shim_rc_t
s_read_envelope(const shim_masstransit_t *self,
                const json_t *root,
                s_frame_t *frame,
                shim_error_t *error)
{
    shim_rc_t rc = s_envelope_type(self, root, frame, error);
    json_t *message = NULL;
    if (rc == SHIM_OK && shim_json_get(root, "message", &message) != 0) {
        rc = shim_error_set(error, SHIM_BAD_FIELD, "message: given twice in different case");
    }
    if (rc == SHIM_OK && !message) {
        rc = shim_error_set(error, SHIM_NO_MESSAGE, "message: missing");
    }
    if (rc == SHIM_OK && !json_is_object(message)) {
        rc = shim_error_set(error, SHIM_BAD_FIELD, "message: not an object");
    }
    frame->message = message;
    frame->message_path = "message";
    if (rc == SHIM_OK) {
        rc = shim_json_read_uuid(root, "", "messageId", true, false, &frame->message_id, error);
    }
    if (rc == SHIM_OK) {
        rc = shim_json_read_uuid(root, "", "conversationId", true, false, &frame->conversation_id,
                                 error);
    }
    if (rc == SHIM_OK) {
        rc = shim_json_read_uuid(root, "", "initiatorId", true, false, &frame->initiator_id, error);
    }
    if (rc == SHIM_OK) {
        rc = shim_json_read_time(root, "", "sentTime", false, &frame->sent_at_us, error);
    }
    json_t *headers = NULL;
    if (rc == SHIM_OK && shim_json_get(root, "headers", &headers) != 0) {
        rc = shim_error_set(error, SHIM_BAD_FIELD, "headers: given twice in different case");
    }
    if (rc == SHIM_OK && headers && !json_is_object(headers)) {
        rc = shim_error_set(error, SHIM_BAD_FIELD, "headers: not an object");
    }
    frame->headers = headers;
    if (rc == SHIM_OK) {
        rc = s_envelope_check(root, error);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  A header's string value: from the envelope's headers object when there
//  is one and it has the header, else from the delivery. NULL if absent.

static const char *
s_header(const s_frame_t *frame, const shim_delivery_t *delivery, const char *name)
{
    json_t *value = NULL;
    if (frame->headers && shim_json_get(frame->headers, name, &value) == 0 &&
        json_is_string(value) && !shim_json_number_text(value) &&
        strlen(json_string_value(value)) == json_string_length(value)) {
        return json_string_value(value);
    }
    return shim_delivery_header(delivery, name);
}

//  ---------------------------------------------------------------------
//  Fill the envelope metadata from the frame. Tracing that does not parse
//  is left out rather than refused: it must never cost a message.

static void
s_fill_metadata(const shim_masstransit_t *self,
                const shim_delivery_t *delivery,
                const s_frame_t *frame,
                Ev__V1__Envelope *envelope)
{
    shim_envelope_set_id(&envelope->message_id, &frame->message_id);
    if (!svc_uuid_is_nil(&frame->conversation_id) &&
        memcmp(&frame->conversation_id, &frame->message_id, sizeof frame->message_id) != 0) {
        shim_envelope_set_id(&envelope->correlation_id, &frame->conversation_id);
    }
    if (!svc_uuid_is_nil(&frame->initiator_id)) {
        shim_envelope_set_id(&envelope->causation_id, &frame->initiator_id);
    }
    envelope->occurred_at_us = frame->sent_at_us;
    const char *traceparent = s_header(frame, delivery, SHIM_HEADER_TRACEPARENT);
    if (!shim_envelope_traceparent_usable(traceparent)) {
        traceparent = s_header(frame, delivery, SHIM_HEADER_ACTIVITY_ID);
    }
    if (shim_envelope_traceparent_usable(traceparent)) {
        shim_envelope_set_text(&envelope->traceparent, traceparent);
        const char *tracestate = s_header(frame, delivery, SHIM_HEADER_TRACESTATE);
        if (shim_message_text_valid(tracestate, BUS_TRACESTATE_MAX)) {
            shim_envelope_set_text(&envelope->tracestate, tracestate);
        }
    }
    shim_envelope_set_text(&envelope->origin, self->origin);
}

//  ---------------------------------------------------------------------
//  Check the result against our bus's own rules, with the stream and seq
//  the writer will give it. An OrderCreated without items is skipped for
//  now: the bus still requires at least one (see README.md).

static shim_rc_t
s_bus_check(const shim_masstransit_t *self, const Ev__V1__Envelope *envelope, shim_error_t *error)
{
    if (envelope->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED &&
        envelope->order_created->n_items == 0) {
        return SHIM_OK;
    }
    Ev__V1__Envelope probe = *envelope;
    probe.stream = self->stream;
    probe.seq = 1;
    bus_rc_t rc = bus_envelope_validate(&probe);
    if (rc != BUS_OK) {
        return shim_error_set(error, SHIM_BAD_FIELD, "message: breaks the event contract (%s)",
                              bus_strerror(rc));
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  True if the delivery or the envelope headers carry our mark.

static bool
s_own_message(const shim_masstransit_t *self,
              const shim_delivery_t *delivery,
              const json_t *headers)
{
    const char *mark = shim_delivery_header(delivery, SHIM_HEADER_ORIGIN);
    if (mark && streq(mark, self->mark)) {
        return true;
    }
    json_t *value = NULL;
    return headers && shim_json_get(headers, SHIM_HEADER_ORIGIN, &value) == 0 &&
           json_is_string(value) && streq(json_string_value(value), self->mark);
}

//  ---------------------------------------------------------------------
//  Decode a delivery into an envelope.

shim_rc_t
shim_masstransit_decode(shim_masstransit_t *self,
                        const shim_delivery_t *delivery,
                        Ev__V1__Envelope **envelope_out,
                        shim_error_t *error)
{
    assert(self);
    assert(delivery);
    assert(delivery->body || delivery->body_size == 0);
    assert(envelope_out);
    assert(error);
    *envelope_out = NULL;
    shim_error_clear(error);
    if (s_own_message(self, delivery, NULL)) {
        return shim_error_set(error, SHIM_OWN_MESSAGE, "header %s: this shim's mark",
                              SHIM_HEADER_ORIGIN);
    }
    json_t *root = shim_json_load(delivery->body, delivery->body_size, error);
    if (!root) {
        return error->rc;
    }
    Ev__V1__Envelope *envelope = NULL;
    s_frame_t frame = {.payload_case = EV__V1__ENVELOPE__PAYLOAD__NOT_SET};
    shim_rc_t rc = SHIM_OK;
    if (!json_is_object(root)) {
        rc = shim_error_set(error, SHIM_NOT_JSON, "body: not a JSON object");
    } else if (s_content_raw_json(delivery->content_type)) {
        rc = s_read_raw(self, delivery, root, &frame, error);
    } else {
        rc = s_read_envelope(self, root, &frame, error);
    }
    if (rc == SHIM_OK && s_own_message(self, delivery, frame.headers)) {
        rc = shim_error_set(error, SHIM_OWN_MESSAGE, "headers.%s: this shim's mark",
                            SHIM_HEADER_ORIGIN);
    }
    if (rc == SHIM_OK) {
        rc = s_message_id_fallback(delivery, &frame, error);
    }
    if (rc == SHIM_OK) {
        envelope = shim_envelope_new(frame.payload_case);
        s_fill_metadata(self, delivery, &frame, envelope);
        rc = shim_body_decode(frame.message, frame.message_path, shim_map_currency(self->map),
                              envelope, error);
    }
    if (rc == SHIM_OK) {
        rc = s_bus_check(self, envelope, error);
    }
    json_decref(root);
    if (rc != SHIM_OK) {
        shim_envelope_destroy(&envelope);
        return rc;
    }
    *envelope_out = envelope;
    return SHIM_OK;
}
