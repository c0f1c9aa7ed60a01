/*  =========================================================================
    shim_body - our event payloads as the JSON objects of the .NET contracts

    One writer and one reader per event type. Names are written in
    camelCase here and capitalised for CAP at the last moment; reading
    ignores case anyway (shim_json_get).
    =========================================================================
*/
#include "shim_classes.h"

#include <ctype.h>

//  Longest key we write, with its NUL.
#define S_KEY_SIZE 32

//  Largest count a .NET int holds (quantity, requested, available).
#define S_DOTNET_INT_MAX INT64_C(2147483647)

//  ---------------------------------------------------------------------
//  Write the key `camel` (or its PascalCase form).

static void
s_key(shim_json_writer_t *writer, shim_body_style_t style, const char *camel)
{
    if (style != SHIM_BODY_CAP) {
        shim_json_write_key(writer, camel);
        return;
    }
    char key[S_KEY_SIZE];
    size_t length = strlen(camel);
    assert(length < sizeof key);
    memcpy(key, camel, length + 1);
    key[0] = (char) toupper((unsigned char) key[0]);
    shim_json_write_key(writer, key);
}

//  ---------------------------------------------------------------------
//  Write an id in the D form.

static shim_rc_t
s_put_id(shim_json_writer_t *writer,
         shim_body_style_t style,
         const char *key,
         const ProtobufCBinaryData *id,
         shim_error_t *error)
{
    svc_uuid_t uuid;
    if (!shim_envelope_id(id, &uuid)) {
        return shim_error_set(error, SHIM_INVALID, "%s: not a 16-byte id", key);
    }
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&uuid, text);
    s_key(writer, style, key);
    shim_json_write_string(writer, text);
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Write a UTF-8 string.

static shim_rc_t
s_put_text(shim_json_writer_t *writer,
           shim_body_style_t style,
           const char *key,
           const char *text,
           shim_error_t *error)
{
    s_key(writer, style, key);
    if (shim_json_write_string(writer, text ? text : "") != 0) {
        return shim_error_set(error, SHIM_INVALID, "%s: not UTF-8", key);
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Write an amount as a decimal string (MassTransit) or number (CAP) with
//  its currency's digits. `currency` is the currency it must be in.

static shim_rc_t
s_put_amount(shim_json_writer_t *writer,
             shim_body_style_t style,
             const char *key,
             const Ev__V1__Money *money,
             const char *currency,
             shim_error_t *error)
{
    int digits = money && money->currency ? svc_currency_digits(money->currency) : -1;
    if (digits < 0 || !streq(money->currency, currency)) {
        return shim_error_set(error, SHIM_INVALID, "%s: missing, or not in currency %s", key,
                              currency);
    }
    char text[SVC_MONEY_TEXT_MAX];
    int length = svc_money_format(money->amount_minor, digits, text, sizeof text);
    assert(length > 0);
    s_key(writer, style, key);
    if (style == SHIM_BODY_CAP) {
        shim_json_write_number(writer, text);
    } else {
        shim_json_write_string(writer, text);
    }
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Write a count.

static void
s_put_integer(shim_json_writer_t *writer, shim_body_style_t style, const char *key, int64_t value)
{
    s_key(writer, style, key);
    shim_json_write_integer(writer, value);
}

//  ---------------------------------------------------------------------
//  Write a time as UTC ISO-8601.

static shim_rc_t
s_put_time(shim_json_writer_t *writer,
           shim_body_style_t style,
           const char *key,
           int64_t us,
           shim_error_t *error)
{
    char text[SHIM_TIME_TEXT_SIZE];
    if (shim_time_format(us, text) != 0) {
        return shim_error_set(error, SHIM_INVALID, "%s: outside years 0001-9999", key);
    }
    s_key(writer, style, key);
    shim_json_write_string(writer, text);
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Write one order line.

static shim_rc_t
s_encode_item(shim_json_writer_t *writer,
              const Ev__V1__OrderItem *item,
              shim_body_style_t style,
              const char *currency,
              shim_error_t *error)
{
    shim_json_write_open(writer, '{');
    shim_rc_t rc = s_put_text(writer, style, "sku", item->sku, error);
    if (rc == SHIM_OK) {
        s_put_integer(writer, style, "quantity", item->quantity);
        rc = s_put_amount(writer, style, "unitPrice", item->unit_price, currency, error);
    }
    shim_json_write_close(writer, '}');
    return rc;
}

//  ---------------------------------------------------------------------
//  OrderCreated: the seed's three fields first, in the record's order.

static shim_rc_t
s_encode_order_created(shim_json_writer_t *writer,
                       const Ev__V1__OrderCreated *created,
                       shim_body_style_t style,
                       shim_error_t *error)
{
    const char *currency = created->total ? created->total->currency : NULL;
    if (!currency || svc_currency_digits(currency) < 0) {
        return shim_error_set(error, SHIM_INVALID, "total: no known currency");
    }
    shim_rc_t rc = s_put_id(writer, style, "orderId", &created->order_id, error);
    if (rc == SHIM_OK) {
        rc = s_put_text(writer, style, "customerId", created->customer_id, error);
    }
    if (rc == SHIM_OK) {
        rc = s_put_amount(writer, style, "total", created->total, currency, error);
    }
    if (rc == SHIM_OK) {
        rc = s_put_text(writer, style, "currency", currency, error);
    }
    if (rc == SHIM_OK) {
        s_key(writer, style, "items");
        shim_json_write_open(writer, '[');
        for (size_t index = 0; rc == SHIM_OK && index < created->n_items; index++) {
            rc = s_encode_item(writer, created->items[index], style, currency, error);
        }
        shim_json_write_close(writer, ']');
    }
    if (rc == SHIM_OK) {
        rc = s_put_time(writer, style, "createdAt", created->created_at_us, error);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Write the members of the payload that is set.

static shim_rc_t
s_encode_payload(shim_json_writer_t *writer,
                 const Ev__V1__Envelope *envelope,
                 shim_body_style_t style,
                 shim_error_t *error)
{
    shim_rc_t rc;
    switch (envelope->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED:
            return s_encode_order_created(writer, envelope->order_created, style, error);
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED:
            rc = s_put_id(writer, style, "orderId", &envelope->order_cancelled->order_id, error);
            if (rc == SHIM_OK) {
                rc = s_put_text(writer, style, "reason", envelope->order_cancelled->reason, error);
            }
            if (rc == SHIM_OK) {
                rc = s_put_time(writer, style, "cancelledAt",
                                envelope->order_cancelled->cancelled_at_us, error);
            }
            return rc;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
            return s_put_id(writer, style, "orderId", &envelope->stock_reserved->order_id, error);
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            rc = s_put_id(writer, style, "orderId", &envelope->stock_rejected->order_id, error);
            if (rc == SHIM_OK) {
                rc = s_put_text(writer, style, "sku", envelope->stock_rejected->sku, error);
            }
            if (rc == SHIM_OK) {
                s_put_integer(writer, style, "requested", envelope->stock_rejected->requested);
                s_put_integer(writer, style, "available", envelope->stock_rejected->available);
            }
            return rc;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            return s_put_id(writer, style, "orderId", &envelope->stock_released->order_id, error);
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED: {
            const Ev__V1__Money *amount = envelope->payment_started->amount;
            const char *currency = amount && amount->currency ? amount->currency : "";
            rc = s_put_id(writer, style, "orderId", &envelope->payment_started->order_id, error);
            if (rc == SHIM_OK) {
                rc = s_put_amount(writer, style, "amount", amount, currency, error);
            }
            if (rc == SHIM_OK) {
                rc = s_put_text(writer, style, "currency", currency, error);
            }
            return rc;
        }
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            return s_put_id(writer, style, "orderId", &envelope->payment_voided->order_id, error);
        default:
            return shim_error_set(error, SHIM_NOT_MAPPED, "no known payload (type %.64s)",
                                  envelope->type ? envelope->type : "");
    }
}

//  ---------------------------------------------------------------------
//  Write a payload as a JSON object.

shim_rc_t
shim_body_encode(const Ev__V1__Envelope *envelope,
                 shim_body_style_t style,
                 shim_json_writer_t *writer,
                 shim_error_t *error)
{
    assert(envelope);
    assert(writer);
    assert(error);
    //  A payload case with a NULL member would be a broken envelope; the
    //  member is checked once here rather than in every writer.
    const ProtobufCBinaryData *order_id = shim_envelope_order_id(envelope);
    if (!order_id && bus_envelope_type_name(envelope->payload_case)) {
        return shim_error_set(error, SHIM_INVALID, "payload member not set");
    }
    shim_json_write_open(writer, '{');
    shim_rc_t rc = s_encode_payload(writer, envelope, style, error);
    shim_json_write_close(writer, '}');
    return rc;
}

//  ---------------------------------------------------------------------
//  Read a required GUID (D form) into an id field.

static shim_rc_t
s_read_id(const json_t *message,
          const char *path,
          const char *key,
          ProtobufCBinaryData *field,
          shim_error_t *error)
{
    svc_uuid_t uuid;
    shim_rc_t rc = shim_json_read_uuid(message, path, key, false, true, &uuid, error);
    if (rc == SHIM_OK) {
        shim_envelope_set_id(field, &uuid);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Read a string into a text field; `required` ones must not be empty.

static shim_rc_t
s_read_text(const json_t *message,
            const char *path,
            const char *key,
            size_t max_size,
            bool required,
            char **field,
            shim_error_t *error)
{
    const char *text = NULL;
    shim_rc_t rc = shim_json_read_text(message, path, key, max_size, required, &text, error);
    if (rc != SHIM_OK || !text) {
        return rc;
    }
    if (required && *text == '\0') {
        return shim_error_set(error, SHIM_BAD_FIELD, "%s%s%s: empty", path, *path ? "." : "", key);
    }
    shim_envelope_set_text(field, text);
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Read the currency of a message: its own "currency", or `fallback`.
//  Sets *digits_out.

static shim_rc_t
s_read_currency(const json_t *message,
                const char *path,
                const char *fallback,
                const char **currency_out,
                int *digits_out,
                shim_error_t *error)
{
    const char *currency = fallback;
    shim_rc_t rc = shim_json_read_text(message, path, "currency", 3, false, &currency, error);
    if (rc != SHIM_OK) {
        return rc == SHIM_TOO_LARGE
                   ? shim_error_set(error, SHIM_BAD_AMOUNT, "%s%scurrency: not an ISO 4217 code",
                                    path, *path ? "." : "")
                   : rc;
    }
    int digits = svc_currency_digits(currency);
    if (digits < 0) {
        return shim_error_set(error, SHIM_BAD_AMOUNT, "%s%scurrency: not an ISO 4217 code", path,
                              *path ? "." : "");
    }
    *currency_out = currency;
    *digits_out = digits;
    return SHIM_OK;
}

//  ---------------------------------------------------------------------
//  Read an amount into a Money of `currency`.

static shim_rc_t
s_read_money(const json_t *message,
             const char *path,
             const char *key,
             const char *currency,
             int digits,
             Ev__V1__Money *money,
             shim_error_t *error)
{
    int64_t minor = 0;
    shim_rc_t rc = shim_json_read_amount(message, path, key, digits, true, &minor, error);
    if (rc == SHIM_OK) {
        shim_envelope_set_text(&money->currency, currency);
        money->amount_minor = minor;
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Read one order line, `index` of path's items.

static shim_rc_t
s_decode_item(const json_t *line,
              const char *path,
              size_t index,
              const char *currency,
              int digits,
              Ev__V1__OrderItem *item,
              shim_error_t *error)
{
    char item_path[SHIM_REASON_SIZE];
    snprintf(item_path, sizeof item_path, "%s%sitems[%zu]", path, *path ? "." : "", index);
    if (!json_is_object(line)) {
        return shim_error_set(error, SHIM_BAD_FIELD, "%s: not an object", item_path);
    }
    shim_rc_t rc = s_read_text(line, item_path, "sku", SHIM_TEXT_MAX, true, &item->sku, error);
    int64_t quantity = 0;
    if (rc == SHIM_OK) {
        rc = shim_json_read_integer(line, item_path, "quantity", 1, S_DOTNET_INT_MAX, true,
                                    &quantity, error);
        item->quantity = (uint32_t) quantity;
    }
    if (rc == SHIM_OK) {
        rc = s_read_money(line, item_path, "unitPrice", currency, digits, item->unit_price, error);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Read an OrderCreated.

static shim_rc_t
s_decode_order_created(const json_t *message,
                       const char *path,
                       const char *fallback_currency,
                       Ev__V1__OrderCreated *created,
                       shim_error_t *error)
{
    const char *currency = NULL;
    int digits = 0;
    shim_rc_t rc = s_read_id(message, path, "orderId", &created->order_id, error);
    if (rc == SHIM_OK) {
        rc = s_read_text(message, path, "customerId", SHIM_TEXT_MAX, true, &created->customer_id,
                         error);
    }
    if (rc == SHIM_OK) {
        rc = s_read_currency(message, path, fallback_currency, &currency, &digits, error);
    }
    if (rc == SHIM_OK) {
        rc = s_read_money(message, path, "total", currency, digits, created->total, error);
    }
    if (rc == SHIM_OK) {
        rc = shim_json_read_time(message, path, "createdAt", false, &created->created_at_us, error);
    }
    json_t *items = NULL;
    if (rc == SHIM_OK && shim_json_get(message, "items", &items) != 0) {
        rc = shim_error_set(error, SHIM_BAD_FIELD, "%s%sitems: given twice in different case", path,
                            *path ? "." : "");
    }
    if (rc != SHIM_OK || !items) {
        return rc;
    }
    if (!json_is_array(items)) {
        return shim_error_set(error, SHIM_BAD_FIELD, "%s%sitems: not an array", path,
                              *path ? "." : "");
    }
    if (json_array_size(items) > BUS_ITEMS_MAX) {
        return shim_error_set(error, SHIM_TOO_LARGE, "%s%sitems: more than %d", path,
                              *path ? "." : "", BUS_ITEMS_MAX);
    }
    shim_envelope_set_items(created, json_array_size(items));
    for (size_t index = 0; rc == SHIM_OK && index < created->n_items; index++) {
        rc = s_decode_item(json_array_get(items, index), path, index, currency, digits,
                           created->items[index], error);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Read an OrderCancelled.

static shim_rc_t
s_decode_order_cancelled(const json_t *message,
                         const char *path,
                         Ev__V1__OrderCancelled *cancelled,
                         shim_error_t *error)
{
    shim_rc_t rc = s_read_id(message, path, "orderId", &cancelled->order_id, error);
    if (rc == SHIM_OK) {
        rc = s_read_text(message, path, "reason", SHIM_REASON_TEXT_MAX, false, &cancelled->reason,
                         error);
    }
    if (rc == SHIM_OK) {
        rc = shim_json_read_time(message, path, "cancelledAt", false, &cancelled->cancelled_at_us,
                                 error);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Read a StockRejected.

static shim_rc_t
s_decode_stock_rejected(const json_t *message,
                        const char *path,
                        Ev__V1__StockRejected *rejected,
                        shim_error_t *error)
{
    int64_t requested = 0;
    int64_t available = 0;
    shim_rc_t rc = s_read_id(message, path, "orderId", &rejected->order_id, error);
    if (rc == SHIM_OK) {
        rc = s_read_text(message, path, "sku", SHIM_TEXT_MAX, true, &rejected->sku, error);
    }
    if (rc == SHIM_OK) {
        rc = shim_json_read_integer(message, path, "requested", 0, S_DOTNET_INT_MAX, false,
                                    &requested, error);
    }
    if (rc == SHIM_OK) {
        rc = shim_json_read_integer(message, path, "available", 0, S_DOTNET_INT_MAX, false,
                                    &available, error);
    }
    rejected->requested = (uint32_t) requested;
    rejected->available = (uint32_t) available;
    return rc;
}

//  ---------------------------------------------------------------------
//  Read a PaymentStarted.

static shim_rc_t
s_decode_payment_started(const json_t *message,
                         const char *path,
                         const char *fallback_currency,
                         Ev__V1__PaymentStarted *started,
                         shim_error_t *error)
{
    const char *currency = NULL;
    int digits = 0;
    shim_rc_t rc = s_read_id(message, path, "orderId", &started->order_id, error);
    if (rc == SHIM_OK) {
        rc = s_read_currency(message, path, fallback_currency, &currency, &digits, error);
    }
    if (rc == SHIM_OK) {
        rc = s_read_money(message, path, "amount", currency, digits, started->amount, error);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Read a payload.

shim_rc_t
shim_body_decode(const json_t *message,
                 const char *path,
                 const char *currency,
                 Ev__V1__Envelope *envelope,
                 shim_error_t *error)
{
    assert(path);
    assert(currency);
    assert(envelope);
    assert(error);
    if (!json_is_object(message)) {
        return shim_error_set(error, SHIM_BAD_FIELD, "%s: not an object", *path ? path : "body");
    }
    switch (envelope->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED:
            envelope->order_created->created_at_us = envelope->occurred_at_us;
            return s_decode_order_created(message, path, currency, envelope->order_created, error);
        case EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED:
            envelope->order_cancelled->cancelled_at_us = envelope->occurred_at_us;
            return s_decode_order_cancelled(message, path, envelope->order_cancelled, error);
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED:
            return s_read_id(message, path, "orderId", &envelope->stock_reserved->order_id, error);
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            return s_decode_stock_rejected(message, path, envelope->stock_rejected, error);
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            return s_read_id(message, path, "orderId", &envelope->stock_released->order_id, error);
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED:
            return s_decode_payment_started(message, path, currency, envelope->payment_started,
                                            error);
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            return s_read_id(message, path, "orderId", &envelope->payment_voided->order_id, error);
        default:
            assert(false);
            return SHIM_INVALID;
    }
}
