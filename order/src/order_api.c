/*  =========================================================================
    order_api - the order API's JSON: validated commands in, orders out

    Validation runs in a fixed order and stops at the first broken rule, so
    one body always gets the same answer: unknown fields first (a typo
    should not be reported as a missing field), then each field in the
    contract's order. Lengths are counted in characters (UTF-8 code
    points; jansson has already refused invalid UTF-8). Money is parsed by
    svc_money into integer minor units and the total is summed with
    overflow checks, although the limits (100 items, 1000 units, 10^9 major
    units, at most 4 minor digits) keep it below 10^18.
    =========================================================================
*/
#include "order_classes.h"
#include "order_api.h"

#include <inttypes.h>
#include <stdarg.h>
#include <time.h>

//  The fields of a create body and of one item, and of a cancel body.
static const char *const s_create_fields[] = {"customerId", "currency", "items", NULL};
static const char *const s_item_fields[] = {"sku", "quantity", "unitPrice", NULL};
static const char *const s_cancel_fields[] = {"reason", NULL};

//  --------------------------------------------------------------------------
//  Fill an error: status 400 unless said, code, field path, message.

static int
s_fail(order_api_error_t *error, const char *code, const char *field, const char *format, ...)
{
    error->status = 400;
    error->code = code;
    (void) snprintf(error->field, sizeof error->field, "%s", field ? field : "");
    va_list args;
    va_start(args, format);
    (void) vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return -1;
}

//  --------------------------------------------------------------------------
//  Write "<prefix><name>" into `buffer`, cut on a UTF-8 character boundary
//  when `name` (a key from outside) is too long for it.

static void
s_path(char *buffer, size_t size, const char *prefix, const char *name)
{
    int used = snprintf(buffer, size, "%s", prefix);
    assert(used >= 0 && (size_t) used < size);
    size_t room = size - (size_t) used - 1;
    size_t length = strlen(name);
    if (length > room) {
        length = room;
        while (length > 0 && ((unsigned char) name[length] & 0xC0) == 0x80) {
            length--;
        }
    }
    memcpy(buffer + used, name, length);
    buffer[(size_t) used + length] = '\0';
}

//  --------------------------------------------------------------------------
//  The first key of `object` not in `known`, or NULL.

static const char *
s_unknown_key(const json_t *object, const char *const *known)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *) object, key, value)
    {
        (void) value;
        bool found = false;
        for (const char *const *name = known; *name && !found; name++) {
            found = streq(key, *name);
        }
        if (!found) {
            return key;
        }
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Characters (code points) in valid UTF-8 text.

static size_t
s_utf8_length(const char *text)
{
    size_t count = 0;
    for (const unsigned char *cursor = (const unsigned char *) text; *cursor; cursor++) {
        if ((*cursor & 0xC0) != 0x80) {
            count++;
        }
    }
    return count;
}

//  True if valid UTF-8 text holds a C0 or C1 control character or DEL.

static bool
s_has_control(const char *text)
{
    for (const unsigned char *cursor = (const unsigned char *) text; *cursor; cursor++) {
        if (*cursor < 0x20 || *cursor == 0x7F) {
            return true;
        }
        //  U+0080..U+009F are C2 80..C2 9F in UTF-8.
        if (*cursor == 0xC2 && cursor[1] >= 0x80 && cursor[1] <= 0x9F) {
            return true;
        }
    }
    return false;
}

//  --------------------------------------------------------------------------
//  A required string member: missing_field when absent or null,
//  invalid_type when not a string, invalid_value when it holds a NUL
//  (jansson strings built in code may). Returns it, or NULL after failing.

static const char *
s_required_string(const json_t *object, const char *key, const char *path, order_api_error_t *error)
{
    const json_t *value = json_object_get(object, key);
    if (!value || json_is_null(value)) {
        s_fail(error, "missing_field", path, "is required");
        return NULL;
    }
    if (!json_is_string(value)) {
        s_fail(error, "invalid_type", path, "must be a string");
        return NULL;
    }
    const char *text = json_string_value(value);
    if (strlen(text) != json_string_length(value)) {
        s_fail(error, "invalid_value", path, "must not contain control characters");
        return NULL;
    }
    return text;
}

//  --------------------------------------------------------------------------
//  customerId rules, shared by the body and the list query.

static int
s_check_customer_id(const char *text, order_api_error_t *error)
{
    size_t length = s_utf8_length(text);
    if (length < 1 || length > ORDER_CUSTOMER_ID_MAX) {
        return s_fail(error, "invalid_value", "customerId", "must be 1-%d characters",
                      ORDER_CUSTOMER_ID_MAX);
    }
    if (s_has_control(text)) {
        return s_fail(error, "invalid_value", "customerId", "must not contain control characters");
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  sku: 1-64 of [A-Za-z0-9._-].

static int
s_parse_sku(const json_t *item, const char *prefix, order_item_t *out, order_api_error_t *error)
{
    char path[ORDER_API_FIELD_SIZE];
    s_path(path, sizeof path, prefix, "sku");
    const char *sku = s_required_string(item, "sku", path, error);
    if (!sku) {
        return -1;
    }
    size_t length = strlen(sku);
    if (length < 1 || length > ORDER_SKU_MAX) {
        return s_fail(error, "invalid_value", path, "must be 1-%d characters", ORDER_SKU_MAX);
    }
    for (const char *cursor = sku; *cursor; cursor++) {
        char c = *cursor;
        bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
        if (!allowed) {
            return s_fail(error, "invalid_value", path, "must use only A-Z a-z 0-9 . _ -");
        }
    }
    memcpy(out->sku, sku, length + 1);
    return 0;
}

//  --------------------------------------------------------------------------
//  quantity: a JSON integer 1-1000 (a real, even 2.0, is not an integer).

static int
s_parse_quantity(const json_t *item,
                 const char *prefix,
                 order_item_t *out,
                 order_api_error_t *error)
{
    char path[ORDER_API_FIELD_SIZE];
    s_path(path, sizeof path, prefix, "quantity");
    const json_t *value = json_object_get(item, "quantity");
    if (!value || json_is_null(value)) {
        return s_fail(error, "missing_field", path, "is required");
    }
    if (!json_is_number(value)) {
        return s_fail(error, "invalid_type", path, "must be an integer");
    }
    json_int_t quantity = json_is_integer(value) ? json_integer_value(value) : 0;
    if (!json_is_integer(value) || quantity < 1 || quantity > ORDER_QUANTITY_MAX) {
        return s_fail(error, "invalid_value", path, "must be an integer between 1 and %d",
                      ORDER_QUANTITY_MAX);
    }
    out->quantity = (uint32_t) quantity;
    return 0;
}

//  --------------------------------------------------------------------------
//  unitPrice: a decimal string of the currency, 0 to 10^9 major units.

static int
s_parse_unit_price(
    const json_t *item, const char *prefix, int digits, order_item_t *out, order_api_error_t *error)
{
    char path[ORDER_API_FIELD_SIZE];
    s_path(path, sizeof path, prefix, "unitPrice");
    const json_t *value = json_object_get(item, "unitPrice");
    if (!value || json_is_null(value)) {
        return s_fail(error, "missing_field", path, "is required");
    }
    if (!json_is_string(value)) {
        return s_fail(error, "invalid_type", path, "must be a decimal string");
    }
    int64_t minor = 0;
    svc_money_rc_t rc = svc_money_parse(json_string_value(value), digits, &minor);
    if (rc != SVC_MONEY_OK) {
        return s_fail(error, "invalid_amount", path, "%s", svc_money_strerror(rc));
    }
    if (minor < 0) {
        return s_fail(error, "invalid_amount", path, "must not be negative");
    }
    int64_t scale = 1;
    for (int digit = 0; digit < digits; digit++) {
        scale *= 10;
    }
    if (minor / scale > ORDER_UNIT_PRICE_MAX_MAJOR ||
        (minor / scale == ORDER_UNIT_PRICE_MAX_MAJOR && minor % scale != 0)) {
        return s_fail(error, "invalid_amount", path, "must be at most %d",
                      ORDER_UNIT_PRICE_MAX_MAJOR);
    }
    out->unit_price_minor = minor;
    return 0;
}

//  --------------------------------------------------------------------------
//  One item: an object with exactly sku, quantity and unitPrice.

static int
s_parse_item(
    const json_t *item, size_t index, int digits, order_item_t *out, order_api_error_t *error)
{
    char prefix[ORDER_API_FIELD_SIZE];
    (void) snprintf(prefix, sizeof prefix, "items[%zu]", index);
    if (!json_is_object(item)) {
        return s_fail(error, "invalid_type", prefix, "must be an object");
    }
    (void) snprintf(prefix, sizeof prefix, "items[%zu].", index);
    const char *unknown = s_unknown_key(item, s_item_fields);
    if (unknown) {
        char path[ORDER_API_FIELD_SIZE];
        s_path(path, sizeof path, prefix, unknown);
        return s_fail(error, "unknown_field", path, "is not a field of an order item");
    }
    if (s_parse_sku(item, prefix, out, error) || s_parse_quantity(item, prefix, out, error) ||
        s_parse_unit_price(item, prefix, digits, out, error)) {
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  items: 1-100 items; sums the total.

static int
s_parse_items(const json_t *body, order_create_t *command, order_api_error_t *error)
{
    const json_t *items = json_object_get(body, "items");
    if (!items || json_is_null(items)) {
        return s_fail(error, "missing_field", "items", "is required");
    }
    if (!json_is_array(items)) {
        return s_fail(error, "invalid_type", "items", "must be an array");
    }
    size_t count = json_array_size(items);
    if (count == 0) {
        return s_fail(error, "empty", "items", "must hold at least one item");
    }
    if (count > ORDER_ITEMS_MAX) {
        return s_fail(error, "too_many", "items", "must hold at most %d items", ORDER_ITEMS_MAX);
    }
    int64_t total = 0;
    for (size_t index = 0; index < count; index++) {
        order_item_t *item = &command->items[index];
        if (s_parse_item(json_array_get(items, index), index, command->digits, item, error)) {
            return -1;
        }
        int64_t line = 0;
        if (__builtin_mul_overflow(item->unit_price_minor, (int64_t) item->quantity, &line) ||
            __builtin_add_overflow(total, line, &total)) {
            return s_fail(error, "invalid_amount", "items", "the order total is too large");
        }
    }
    command->item_count = count;
    command->total_minor = total;
    return 0;
}

//  --------------------------------------------------------------------------
//  Validate a create body.

int
order_api_parse_create(const json_t *body,
                       order_create_t *command_out,
                       order_api_error_t *error_out)
{
    assert(body);
    assert(command_out);
    assert(error_out);
    memset(command_out, 0, sizeof *command_out);
    if (!json_is_object(body)) {
        return s_fail(error_out, "invalid_body", NULL, "body must be a JSON object");
    }
    const char *unknown = s_unknown_key(body, s_create_fields);
    if (unknown) {
        char path[ORDER_API_FIELD_SIZE];
        s_path(path, sizeof path, "", unknown);
        return s_fail(error_out, "unknown_field", path, "is not a field of an order");
    }
    const char *customer_id = s_required_string(body, "customerId", "customerId", error_out);
    if (!customer_id || s_check_customer_id(customer_id, error_out)) {
        return -1;
    }
    (void) snprintf(command_out->customer_id, sizeof command_out->customer_id, "%s", customer_id);
    const char *currency = s_required_string(body, "currency", "currency", error_out);
    if (!currency) {
        return -1;
    }
    command_out->digits = svc_currency_digits(currency);
    if (command_out->digits < 0) {
        return s_fail(error_out, "invalid_currency", "currency",
                      "must be an ISO 4217 currency code such as EUR");
    }
    memcpy(command_out->currency, currency, ORDER_CURRENCY_SIZE);
    return s_parse_items(body, command_out, error_out);
}

//  --------------------------------------------------------------------------
//  Validate an optional cancel body.

int
order_api_parse_cancel(const json_t *body,
                       char reason_out[ORDER_REASON_SIZE],
                       order_api_error_t *error_out)
{
    assert(reason_out);
    assert(error_out);
    (void) snprintf(reason_out, ORDER_REASON_SIZE, "%s", ORDER_CANCEL_REASON_DEFAULT);
    if (!body) {
        return 0;
    }
    if (!json_is_object(body)) {
        return s_fail(error_out, "invalid_body", NULL, "body must be a JSON object");
    }
    const char *unknown = s_unknown_key(body, s_cancel_fields);
    if (unknown) {
        char path[ORDER_API_FIELD_SIZE];
        s_path(path, sizeof path, "", unknown);
        return s_fail(error_out, "unknown_field", path, "is not a field of a cancel request");
    }
    const json_t *value = json_object_get(body, "reason");
    if (!value || json_is_null(value)) {
        return 0;
    }
    const char *reason = s_required_string(body, "reason", "reason", error_out);
    if (!reason) {
        return -1;
    }
    size_t length = s_utf8_length(reason);
    if (length < 1 || length > ORDER_REASON_MAX) {
        return s_fail(error_out, "invalid_value", "reason", "must be 1-%d characters",
                      ORDER_REASON_MAX);
    }
    (void) snprintf(reason_out, ORDER_REASON_SIZE, "%s", reason);
    return 0;
}

int
order_api_check_customer_id(const char *customer_id, order_api_error_t *error_out)
{
    assert(error_out);
    if (!customer_id) {
        return s_fail(error_out, "missing_field", "customerId", "is required");
    }
    //  A query argument is not checked by jansson: insist on UTF-8 here.
    json_t *text = json_string(customer_id);
    if (!text) {
        return s_fail(error_out, "invalid_value", "customerId", "must be UTF-8 text");
    }
    json_decref(text);
    return s_check_customer_id(customer_id, error_out);
}

int
order_api_check_idempotency_key(const char *key, order_api_error_t *error_out)
{
    assert(error_out);
    if (!key) {
        return 0;
    }
    size_t length = strlen(key);
    bool printable = length >= 1 && length <= ORDER_IDEMPOTENCY_KEY_MAX;
    for (const char *cursor = key; *cursor && printable; cursor++) {
        printable = *cursor >= 0x20 && *cursor <= 0x7E;
    }
    if (!printable) {
        return s_fail(error_out, "invalid_value", "Idempotency-Key",
                      "must be 1-%d printable ASCII characters", ORDER_IDEMPOTENCY_KEY_MAX);
    }
    return 0;
}

int
order_api_parse_id(const char *text,
                   const char *field,
                   svc_uuid_t *id_out,
                   order_api_error_t *error_out)
{
    assert(text);
    assert(field);
    assert(id_out);
    assert(error_out);
    if (svc_uuid_parse(text, id_out) != 0) {
        return s_fail(error_out, "invalid_uuid", field, "must be a UUID");
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The canonical command: a compact JSON array in a fixed shape, amounts
//  as minor units; "v1" lets a later shape never equal this one.

char *
order_api_fingerprint(const order_create_t *command)
{
    assert(command);
    json_t *items = json_array();
    for (size_t index = 0; index < command->item_count; index++) {
        const order_item_t *item = &command->items[index];
        json_array_append_new(items, json_pack("[s, I, I]", item->sku, (json_int_t) item->quantity,
                                               (json_int_t) item->unit_price_minor));
    }
    json_t *canonical =
        json_pack("[s, s, s, o]", "v1", command->customer_id, command->currency, items);
    assert(canonical);
    char *text = json_dumps(canonical, JSON_COMPACT);
    assert(text);
    json_decref(canonical);
    return text;
}

//  --------------------------------------------------------------------------
//  Views.

void
order_view_set_created(order_view_t *view,
                       const svc_uuid_t *order_id,
                       const order_create_t *command,
                       const char *trace_id,
                       int64_t created_at_us,
                       const char *stream,
                       uint64_t seq)
{
    assert(view);
    assert(order_id);
    assert(command);
    assert(trace_id);
    assert(stream);
    assert(!view->items && !view->history);
    view->order_id = *order_id;
    (void) snprintf(view->customer_id, sizeof view->customer_id, "%s", command->customer_id);
    memcpy(view->currency, command->currency, ORDER_CURRENCY_SIZE);
    view->total_minor = command->total_minor;
    view->state = (order_state_t){.status = ORDER_PENDING};
    (void) snprintf(view->trace_id, sizeof view->trace_id, "%s", trace_id);
    view->created_at_us = created_at_us;
    view->updated_at_us = created_at_us;
    view->items = zmalloc(command->item_count * sizeof *view->items);
    memcpy(view->items, command->items, command->item_count * sizeof *view->items);
    view->item_count = command->item_count;
    view->history = zmalloc(sizeof *view->history);
    view->history[0] = (order_history_entry_t){.event = strdup("OrderCreated"),
                                               .stream = strdup(stream),
                                               .seq = seq,
                                               .at_us = created_at_us};
    view->history_count = 1;
}

void
order_view_clear(order_view_t *view)
{
    assert(view);
    for (size_t index = 0; index < view->history_count; index++) {
        zstr_free(&view->history[index].event);
        zstr_free(&view->history[index].stream);
        zstr_free(&view->history[index].reason);
    }
    freen(view->history);
    freen(view->items);
    zstr_free(&view->cancel_reason);
    memset(view, 0, sizeof *view);
}

char *
order_api_format_time(int64_t at_us, char buffer[ORDER_TIME_TEXT_SIZE])
{
    assert(buffer);
    int64_t seconds = at_us / 1000000;
    int64_t micros = at_us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        seconds -= 1;
    }
    time_t time_seconds = (time_t) seconds;
    struct tm utc;
    if (!gmtime_r(&time_seconds, &utc)) {
        memset(&utc, 0, sizeof utc);
    }
    size_t length = strftime(buffer, ORDER_TIME_TEXT_SIZE, "%Y-%m-%dT%H:%M:%S", &utc);
    (void) snprintf(buffer + length, ORDER_TIME_TEXT_SIZE - length, ".%06dZ", (int) micros);
    return buffer;
}

//  --------------------------------------------------------------------------
//  A JSON string for text we stored: jansson refuses invalid UTF-8, which
//  our writes never produce; if a row holds some anyway, say so rather
//  than fail the whole answer.

static json_t *
s_text(const char *text)
{
    json_t *string = json_string(text);
    return string ? string : json_string("(invalid UTF-8)");
}

static json_t *
s_money(int64_t minor, const char *currency)
{
    int digits = svc_currency_digits(currency);
    char text[SVC_MONEY_TEXT_MAX];
    if (digits < 0 || svc_money_format(minor, digits, text, sizeof text) < 0) {
        return json_null();
    }
    return json_string(text);
}

static json_t *
s_render_items(const order_view_t *view)
{
    json_t *items = json_array();
    for (size_t index = 0; index < view->item_count; index++) {
        const order_item_t *item = &view->items[index];
        json_array_append_new(items, json_pack("{s:o, s:I, s:o}", "sku", s_text(item->sku),
                                               "quantity", (json_int_t) item->quantity, "unitPrice",
                                               s_money(item->unit_price_minor, view->currency)));
    }
    return items;
}

static json_t *
s_render_history(const order_view_t *view)
{
    json_t *history = json_array();
    for (size_t index = 0; index < view->history_count; index++) {
        const order_history_entry_t *entry = &view->history[index];
        char at[ORDER_TIME_TEXT_SIZE];
        json_t *rendered = json_pack(
            "{s:o, s:o, s:o, s:s}", "event", s_text(entry->event), "stream", s_text(entry->stream),
            "seq", entry->seq ? json_integer((json_int_t) entry->seq) : json_null(), "at",
            order_api_format_time(entry->at_us, at));
        if (entry->reason) {
            json_object_set_new(rendered, "reason", s_text(entry->reason));
        }
        json_array_append_new(history, rendered);
    }
    return history;
}

json_t *
order_api_render(const order_view_t *view, bool with_history)
{
    assert(view);
    char order_id[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&view->order_id, order_id);
    char created_at[ORDER_TIME_TEXT_SIZE];
    char updated_at[ORDER_TIME_TEXT_SIZE];
    json_t *order = json_pack(
        "{s:s, s:o, s:o, s:o, s:s, s:b, s:b, s:o, s:o, s:s, s:s, s:o}", "orderId", order_id,
        "customerId", s_text(view->customer_id), "currency", s_text(view->currency), "total",
        s_money(view->total_minor, view->currency), "status", order_status_name(view->state.status),
        "stockReserved", view->state.stock_reserved, "paymentStarted", view->state.payment_started,
        "cancelReason", view->cancel_reason ? s_text(view->cancel_reason) : json_null(), "traceId",
        *view->trace_id ? s_text(view->trace_id) : json_null(), "createdAt",
        order_api_format_time(view->created_at_us, created_at), "updatedAt",
        order_api_format_time(view->updated_at_us, updated_at), "items", s_render_items(view));
    assert(order);
    if (with_history) {
        json_object_set_new(order, "history", s_render_history(view));
    }
    return order;
}
