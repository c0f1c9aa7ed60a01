/*  =========================================================================
    shim_cap - our envelopes as DotNetCore.CAP messages, and back

    The body is shim_body's CAP style; this file only adds CAP's headers
    and reads them back. CAP ids need not be GUIDs (CAP's own are
    snowflake longs), so a non-GUID id becomes a name-based UUID: the same
    CAP message always gets the same message id, which is what dedup needs.
    =========================================================================
*/
#include "shim_classes.h"

struct shim_cap {
    const shim_map_t *map;           //  names; borrowed
    char *exchange;                  //  CAP's exchange; owned
    char *mark;                      //  origin mark; owned
    char *stream;                    //  the shim's stream; owned
    char origin[BUS_ORIGIN_MAX + 1]; //  "rabbitmq:<stream>"
    svc_uuid_t id_space;             //  SHIM_CAP_ID_NAMESPACE
};

//  Size of "MM/dd/yyyy HH:mm:ss" with its NUL.
#define S_SENT_TIME_SIZE 20

//  ---------------------------------------------------------------------
//  True if `exchange` is 1-SHIM_NAME_MAX bytes of [A-Za-z0-9_.:-].

static bool
s_exchange_valid(const char *exchange)
{
    size_t length = strnlen(exchange, SHIM_NAME_MAX + 1);
    return length > 0 && length <= SHIM_NAME_MAX &&
           strspn(exchange, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") ==
               length;
}

//  ---------------------------------------------------------------------
//  Create a codec.

shim_cap_t *
shim_cap_new(const shim_cap_config_t *config)
{
    assert(config);
    assert(config->map);
    const char *exchange = config->exchange ? config->exchange : SHIM_CAP_EXCHANGE_DEFAULT;
    if (!s_exchange_valid(exchange) || !shim_message_text_valid(config->mark, SHIM_MARK_MAX) ||
        !config->stream || !bus_envelope_stream_valid(config->stream)) {
        return NULL;
    }
    shim_cap_t *self = (shim_cap_t *) zmalloc(sizeof(shim_cap_t));
    self->map = config->map;
    self->exchange = strdup(exchange);
    self->mark = strdup(config->mark);
    self->stream = strdup(config->stream);
    snprintf(self->origin, sizeof self->origin, SHIM_ORIGIN_PREFIX "%s", config->stream);
    int rc = svc_uuid_parse(SHIM_CAP_ID_NAMESPACE, &self->id_space);
    assert(rc == 0);
    return self;
}

//  ---------------------------------------------------------------------
//  Destroy a codec.

void
shim_cap_destroy(shim_cap_t **self_p)
{
    assert(self_p);
    shim_cap_t *self = *self_p;
    if (!self) {
        return;
    }
    zstr_free(&self->stream);
    zstr_free(&self->mark);
    zstr_free(&self->exchange);
    freen(self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  An id field in the D form into `text`; false if it holds no id.

static bool
s_id_text(const ProtobufCBinaryData *field, char text[SVC_UUID_TEXT_SIZE])
{
    svc_uuid_t uuid;
    if (!shim_envelope_id(field, &uuid)) {
        return false;
    }
    svc_uuid_format(&uuid, text);
    return true;
}

//  ---------------------------------------------------------------------
//  CAP's sent time, "MM/dd/yyyy HH:mm:ss", from an ISO time we wrote.

static void
s_sent_time(const char *iso, char text[S_SENT_TIME_SIZE])
{
    //  iso is "YYYY-MM-DDThh:mm:ss...".
    snprintf(text, S_SENT_TIME_SIZE, "%.2s/%.2s/%.4s %.8s", iso + 5, iso + 8, iso, iso + 11);
}

//  ---------------------------------------------------------------------
//  Add CAP's headers and ours to a message.

static void
s_add_headers(const shim_cap_t *self,
              const Ev__V1__Envelope *envelope,
              const char *message_id,
              const char *sent_time,
              shim_message_t *message)
{
    char correlation[SVC_UUID_TEXT_SIZE];
    char causation[SVC_UUID_TEXT_SIZE];
    shim_message_add_header(message, SHIM_CAP_HEADER_MSG_ID, message_id);
    shim_message_add_header(message, SHIM_CAP_HEADER_MSG_NAME,
                            shim_map_cap_name(self->map, envelope->payload_case));
    shim_message_add_header(message, SHIM_CAP_HEADER_MSG_TYPE,
                            shim_map_type_name(self->map, envelope->payload_case));
    shim_message_add_header(message, SHIM_CAP_HEADER_SENT_TIME, sent_time);
    shim_message_add_header(message, SHIM_CAP_HEADER_CORR_ID,
                            s_id_text(&envelope->correlation_id, correlation) ? correlation
                                                                              : message_id);
    shim_message_add_header(message, SHIM_CAP_HEADER_CORR_SEQ, "0");
    shim_message_add_header(message, SHIM_HEADER_ORIGIN, self->mark);
    if (s_id_text(&envelope->causation_id, causation)) {
        shim_message_add_header(message, SHIM_CAP_HEADER_CAUSATION_ID, causation);
    }
    if (envelope->traceparent && *envelope->traceparent) {
        shim_message_add_header(message, SHIM_HEADER_TRACEPARENT, envelope->traceparent);
    }
    if (envelope->tracestate && *envelope->tracestate) {
        shim_message_add_header(message, SHIM_HEADER_TRACESTATE, envelope->tracestate);
    }
}

//  ---------------------------------------------------------------------
//  Encode an envelope as a CAP message.

shim_rc_t
shim_cap_encode(shim_cap_t *self,
                const Ev__V1__Envelope *envelope,
                shim_message_t **message_out,
                shim_error_t *error)
{
    assert(self);
    assert(envelope);
    assert(message_out);
    assert(error);
    shim_error_clear(error);
    if (shim_envelope_from_rabbitmq(envelope)) {
        return shim_error_set(error, SHIM_OWN_MESSAGE, "origin %.*s: came from RabbitMQ",
                              BUS_ORIGIN_MAX, envelope->origin);
    }
    bus_rc_t bus_rc = bus_envelope_validate(envelope);
    if (bus_rc == BUS_UNKNOWN_TYPE ||
        (bus_rc == BUS_OK && !shim_map_cap_name(self->map, envelope->payload_case))) {
        return shim_error_set(error, SHIM_NOT_MAPPED, "type %.*s: no CAP name", BUS_TYPE_NAME_MAX,
                              envelope->type ? envelope->type : "");
    }
    if (bus_rc != BUS_OK) {
        return shim_error_set(error, SHIM_INVALID, "envelope: %s", bus_strerror(bus_rc));
    }
    char iso[SHIM_TIME_TEXT_SIZE];
    if (shim_time_format(envelope->occurred_at_us, iso) != 0) {
        return shim_error_set(error, SHIM_INVALID, "occurred_at_us: outside years 0001-9999");
    }
    shim_json_writer_t writer;
    shim_json_writer_init(&writer);
    shim_rc_t rc = shim_body_encode(envelope, SHIM_BODY_CAP, &writer, error);
    size_t size = 0;
    char *body = shim_json_writer_take(&writer, &size);
    if (rc != SHIM_OK) {
        freen(body);
        return rc;
    }
    if (!body) {
        return shim_error_set(error, SHIM_INVALID, "body: cannot be written as JSON");
    }
    if (size > SHIM_BODY_MAX) {
        freen(body);
        return shim_error_set(error, SHIM_TOO_LARGE, "body: %zu bytes exceed %d", size,
                              SHIM_BODY_MAX);
    }
    char message_id[SVC_UUID_TEXT_SIZE];
    bool valid = s_id_text(&envelope->message_id, message_id);
    assert(valid);
    char sent_time[S_SENT_TIME_SIZE];
    s_sent_time(iso, sent_time);
    shim_message_t *message =
        shim_message_new(self->exchange, shim_map_cap_name(self->map, envelope->payload_case));
    shim_message_set_body(message, &body, size);
    shim_message_set_message_id(message, message_id);
    s_add_headers(self, envelope, message_id, sent_time, message);
    *message_out = message;
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  A CAP id header as a UUID: the GUID it holds, or a v5 of its text.

static void
s_cap_id(const shim_cap_t *self, const char *text, svc_uuid_t *uuid_out)
{
    if (shim_json_uuid_parse(text, true, uuid_out) == 0 && !svc_uuid_is_nil(uuid_out)) {
        return;
    }
    char *name = zsys_sprintf("cap-msg-id:%s", text);
    svc_uuid_v5(uuid_out, &self->id_space, name, strlen(name));
    zstr_free(&name);
}

//  ---------------------------------------------------------------------
//  Read a required bounded header; SHIM_OK with *value_out set.

static shim_rc_t
s_required_header(const shim_delivery_t *delivery,
                  const char *name,
                  shim_rc_t missing_rc,
                  const char **value_out,
                  shim_error_t *error)
{
    const char *value = shim_delivery_header(delivery, name);
    if (!value || !*value) {
        return shim_error_set(error, missing_rc, "header %s: required", name);
    }
    if (strnlen(value, SHIM_NAME_MAX + 1) > SHIM_NAME_MAX) {
        return shim_error_set(error, SHIM_TOO_LARGE, "header %s: longer than %d bytes", name,
                              SHIM_NAME_MAX);
    }
    *value_out = value;
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Fill the envelope metadata from CAP's headers.

static void
s_fill_metadata(const shim_cap_t *self,
                const shim_delivery_t *delivery,
                const char *cap_id,
                Ev__V1__Envelope *envelope)
{
    svc_uuid_t uuid;
    s_cap_id(self, cap_id, &uuid);
    shim_envelope_set_id(&envelope->message_id, &uuid);
    const char *correlation = shim_delivery_header(delivery, SHIM_CAP_HEADER_CORR_ID);
    if (correlation && *correlation && !streq(correlation, cap_id) &&
        strnlen(correlation, SHIM_CAP_ID_MAX + 1) <= SHIM_CAP_ID_MAX) {
        s_cap_id(self, correlation, &uuid);
        shim_envelope_set_id(&envelope->correlation_id, &uuid);
    }
    const char *causation = shim_delivery_header(delivery, SHIM_CAP_HEADER_CAUSATION_ID);
    if (causation && shim_json_uuid_parse(causation, true, &uuid) == 0 && !svc_uuid_is_nil(&uuid)) {
        shim_envelope_set_id(&envelope->causation_id, &uuid);
    }
    const char *traceparent = shim_delivery_header(delivery, SHIM_HEADER_TRACEPARENT);
    if (shim_envelope_traceparent_usable(traceparent)) {
        shim_envelope_set_text(&envelope->traceparent, traceparent);
        const char *tracestate = shim_delivery_header(delivery, SHIM_HEADER_TRACESTATE);
        if (shim_message_text_valid(tracestate, BUS_TRACESTATE_MAX)) {
            shim_envelope_set_text(&envelope->tracestate, tracestate);
        }
    }
    shim_envelope_set_text(&envelope->origin, self->origin);
}

//  ---------------------------------------------------------------------
//  Decode a CAP delivery into an envelope.

shim_rc_t
shim_cap_decode(shim_cap_t *self,
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
    const char *mark = shim_delivery_header(delivery, SHIM_HEADER_ORIGIN);
    if (mark && streq(mark, self->mark)) {
        return shim_error_set(error, SHIM_OWN_MESSAGE, "header %s: this shim's mark",
                              SHIM_HEADER_ORIGIN);
    }
    const char *cap_id = NULL;
    const char *name = NULL;
    shim_rc_t rc =
        s_required_header(delivery, SHIM_CAP_HEADER_MSG_ID, SHIM_MISSING_FIELD, &cap_id, error);
    if (rc == SHIM_OK && strlen(cap_id) > SHIM_CAP_ID_MAX) {
        rc = shim_error_set(error, SHIM_TOO_LARGE, "header %s: longer than %d bytes",
                            SHIM_CAP_HEADER_MSG_ID, SHIM_CAP_ID_MAX);
    }
    if (rc == SHIM_OK) {
        rc = s_required_header(delivery, SHIM_CAP_HEADER_MSG_NAME, SHIM_NO_MESSAGE_TYPE, &name,
                               error);
    }
    Ev__V1__Envelope__PayloadCase payload_case = rc == SHIM_OK
                                                     ? shim_map_find_cap_name(self->map, name)
                                                     : EV__V1__ENVELOPE__PAYLOAD__NOT_SET;
    if (rc == SHIM_OK && payload_case == EV__V1__ENVELOPE__PAYLOAD__NOT_SET) {
        rc = shim_error_set(error, SHIM_UNKNOWN_TYPE, "header %s: not mapped to an event",
                            SHIM_CAP_HEADER_MSG_NAME);
    }
    if (rc != SHIM_OK) {
        return rc;
    }
    json_t *root = shim_json_load(delivery->body, delivery->body_size, error);
    if (!root) {
        return error->rc;
    }
    Ev__V1__Envelope *envelope = NULL;
    if (!json_is_object(root)) {
        rc = shim_error_set(error, SHIM_NOT_JSON, "body: not a JSON object");
    } else {
        envelope = shim_envelope_new(payload_case);
        s_fill_metadata(self, delivery, cap_id, envelope);
        rc = shim_body_decode(root, "", shim_map_currency(self->map), envelope, error);
    }
    json_decref(root);
    if (rc != SHIM_OK) {
        shim_envelope_destroy(&envelope);
        return rc;
    }
    *envelope_out = envelope;
    return SHIM_OK;
}
