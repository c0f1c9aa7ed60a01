/*  =========================================================================
    ordersctl_render - the services' answers as text for people

    One function per shape of answer (an order, a page of orders, stock,
    a payment, dead letters), each built from the field names of
    docs/http-api.md. Values go through s_text, which turns any JSON value
    into a cell and a missing one into NULL (shown as "-"), so a service
    that adds or drops a field changes a cell, not the outcome.
    =========================================================================
*/
#include "ordersctl_classes.h"

//  Indent of the tables under a section title.
#define S_SECTION_INDENT 2

//  ---------------------------------------------------------------------
//  The value of `key` in `object` as text, or NULL when absent or null.
//  Caller owns return value.

static char *
s_text(const json_t *object, const char *key)
{
    const json_t *value = json_is_object(object) ? json_object_get(object, key) : NULL;
    if (!value || json_is_null(value)) {
        return NULL;
    }
    if (json_is_string(value)) {
        return strdup(json_string_value(value));
    }
    if (json_is_integer(value)) {
        return zsys_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(value));
    }
    if (json_is_boolean(value)) {
        return strdup(json_is_true(value) ? "yes" : "no");
    }
    if (json_is_real(value)) {
        return zsys_sprintf("%g", json_real_value(value));
    }
    return strdup(json_is_array(value) ? "[...]" : "{...}");
}

//  ---------------------------------------------------------------------
//  Add the cell for `key` of `object` to the table.

static void
s_add(ordersctl_table_t *table, const json_t *object, const char *key)
{
    char *text = s_text(object, key);
    ordersctl_table_add(table, text);
    freen(text);
}

//  ---------------------------------------------------------------------
//  Add a key/value row whose value is `key` of `object`.

static void
s_add_pair(ordersctl_table_t *table, const char *label, const json_t *object, const char *key)
{
    ordersctl_table_add(table, label);
    s_add(table, object, key);
}

//  ---------------------------------------------------------------------
//  Add a key/value row "Total  59.97 EUR" from an amount and a currency.

static void
s_add_money(ordersctl_table_t *table,
            const char *label,
            const json_t *object,
            const char *amount_key,
            const char *currency_key)
{
    char *amount = s_text(object, amount_key);
    char *currency = s_text(object, currency_key);
    ordersctl_table_add(table, label);
    if (amount) {
        ordersctl_table_addf(table, "%s %s", amount, currency ? currency : "");
    } else {
        ordersctl_table_add(table, NULL);
    }
    freen(currency);
    freen(amount);
}

//  ---------------------------------------------------------------------
//  Add a key/value row for a boolean: `yes` or `no` text, "-" if absent.

static void
s_add_flag(ordersctl_table_t *table,
           const char *label,
           const json_t *object,
           const char *key,
           const char *yes,
           const char *no)
{
    const json_t *value = json_object_get(object, key);
    ordersctl_table_add(table, label);
    ordersctl_table_add(table, json_is_boolean(value) ? (json_is_true(value) ? yes : no) : NULL);
}

//  ---------------------------------------------------------------------
//  The array `key` of `object`, or NULL when it is not an array.

static const json_t *
s_array(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    return json_is_array(value) ? value : NULL;
}

//  ---------------------------------------------------------------------
//  Print a section title and its table, after a blank line.

static int
s_print_section(FILE *out, const char *title, const ordersctl_table_t *table)
{
    (void) fprintf(out, "\n%s\n", title);
    return ordersctl_table_print(table, out, S_SECTION_INDENT);
}

//  ---------------------------------------------------------------------
//  An order's items.

static void
s_render_items(FILE *out, const json_t *order)
{
    const json_t *items = s_array(order, "items");
    if (!items) {
        return;
    }
    const char *headers[] = {"SKU", "QUANTITY", "UNIT PRICE"};
    ordersctl_table_t *table = ordersctl_table_new(3, headers);
    ordersctl_table_set_right(table, 1);
    ordersctl_table_set_right(table, 2);
    size_t index;
    const json_t *item;
    json_array_foreach(items, index, item)
    {
        s_add(table, item, "sku");
        s_add(table, item, "quantity");
        s_add(table, item, "unitPrice");
    }
    (void) s_print_section(out, "Items", table);
    ordersctl_table_destroy(&table);
}

//  ---------------------------------------------------------------------
//  An order's history; the REASON column only when an entry has one.

static void
s_render_history(FILE *out, const json_t *order)
{
    const json_t *history = s_array(order, "history");
    if (!history) {
        return;
    }
    size_t index;
    const json_t *entry;
    bool reasons = false;
    json_array_foreach(history, index, entry)
    {
        reasons = reasons || json_is_string(json_object_get(entry, "reason"));
    }
    const char *headers[] = {"#", "EVENT", "STREAM", "SEQ", "AT", "REASON"};
    ordersctl_table_t *table = ordersctl_table_new(reasons ? 6 : 5, headers);
    ordersctl_table_set_right(table, 0);
    ordersctl_table_set_right(table, 3);
    json_array_foreach(history, index, entry)
    {
        ordersctl_table_addf(table, "%zu", index + 1);
        s_add(table, entry, "event");
        s_add(table, entry, "stream");
        s_add(table, entry, "seq");
        s_add(table, entry, "at");
        if (reasons) {
            s_add(table, entry, "reason");
        }
    }
    (void) s_print_section(out, "History", table);
    ordersctl_table_destroy(&table);
}

//  ---------------------------------------------------------------------
//  One order: a key/value block, its items and its history.

static void
s_render_order(FILE *out, const json_t *order)
{
    ordersctl_table_t *table = ordersctl_table_new(2, NULL);
    s_add_pair(table, "Order", order, "orderId");
    s_add_pair(table, "Status", order, "status");
    s_add_pair(table, "Customer", order, "customerId");
    s_add_money(table, "Total", order, "total", "currency");
    s_add_flag(table, "Stock", order, "stockReserved", "reserved", "not reserved");
    s_add_flag(table, "Payment", order, "paymentStarted", "started", "not started");
    if (json_is_string(json_object_get(order, "cancelReason"))) {
        s_add_pair(table, "Reason", order, "cancelReason");
    }
    s_add_pair(table, "Trace", order, "traceId");
    s_add_pair(table, "Created", order, "createdAt");
    s_add_pair(table, "Updated", order, "updatedAt");
    (void) ordersctl_table_print(table, out, 0);
    ordersctl_table_destroy(&table);
    s_render_items(out, order);
    s_render_history(out, order);
}

//  ---------------------------------------------------------------------
//  "Next page: --after X" when the page says there is one.

static void
s_render_next(FILE *out, const json_t *page)
{
    char *next = s_text(page, "next");
    if (next) {
        char *shown = ordersctl_text_sanitize(next);
        (void) fprintf(out, "Next page: --after %s\n", shown);
        freen(shown);
    }
    freen(next);
}

//  ---------------------------------------------------------------------
//  A page of orders, newest first.

static void
s_render_order_page(FILE *out, const json_t *page)
{
    const json_t *items = s_array(page, "items");
    if (!items || json_array_size(items) == 0) {
        (void) fprintf(out, "No orders.\n");
        s_render_next(out, page);
        return;
    }
    const char *headers[] = {"ORDER ID", "STATUS", "TOTAL", "CURRENCY", "ITEMS", "CREATED"};
    ordersctl_table_t *table = ordersctl_table_new(6, headers);
    ordersctl_table_set_right(table, 2);
    ordersctl_table_set_right(table, 4);
    size_t index;
    const json_t *order;
    json_array_foreach(items, index, order)
    {
        s_add(table, order, "orderId");
        s_add(table, order, "status");
        s_add(table, order, "total");
        s_add(table, order, "currency");
        const json_t *lines = s_array(order, "items");
        if (lines) {
            ordersctl_table_addf(table, "%zu", json_array_size(lines));
        } else {
            ordersctl_table_add(table, NULL);
        }
        s_add(table, order, "createdAt");
    }
    (void) ordersctl_table_print(table, out, 0);
    ordersctl_table_destroy(&table);
    s_render_next(out, page);
}

//  ---------------------------------------------------------------------
//  Stock: one SKU (an object with "sku") or a page of them.

static void
s_render_stock(FILE *out, const json_t *body)
{
    const json_t *items = s_array(body, "items");
    if (items && json_array_size(items) == 0) {
        (void) fprintf(out, "No SKUs.\n");
        s_render_next(out, body);
        return;
    }
    const char *headers[] = {"SKU", "AVAILABLE", "RESERVED", "UPDATED"};
    ordersctl_table_t *table = ordersctl_table_new(4, headers);
    ordersctl_table_set_right(table, 1);
    ordersctl_table_set_right(table, 2);
    size_t count = items ? json_array_size(items) : 1;
    for (size_t index = 0; index < count; index++) {
        const json_t *stock = items ? json_array_get(items, index) : body;
        s_add(table, stock, "sku");
        s_add(table, stock, "available");
        s_add(table, stock, "reserved");
        s_add(table, stock, "updatedAt");
    }
    (void) ordersctl_table_print(table, out, 0);
    ordersctl_table_destroy(&table);
    if (items) {
        s_render_next(out, body);
    }
}

//  ---------------------------------------------------------------------
//  A payment.

static void
s_render_payment(FILE *out, const json_t *payment)
{
    ordersctl_table_t *table = ordersctl_table_new(2, NULL);
    s_add_pair(table, "Order", payment, "orderId");
    s_add_pair(table, "Status", payment, "status");
    s_add_money(table, "Amount", payment, "amount", "currency");
    s_add_pair(table, "Started", payment, "startedAt");
    s_add_pair(table, "Voided", payment, "voidedAt");
    s_add_pair(table, "Trace", payment, "traceId");
    (void) ordersctl_table_print(table, out, 0);
    ordersctl_table_destroy(&table);
}

//  ---------------------------------------------------------------------
//  A page of dead letters, oldest first.

static void
s_render_dead_letters(FILE *out, const json_t *page)
{
    const json_t *items = s_array(page, "items");
    if (!items || json_array_size(items) == 0) {
        (void) fprintf(out, "No dead letters.\n");
        s_render_next(out, page);
        return;
    }
    const char *headers[] = {"ID",       "CONSUMER",    "STREAM", "SEQ",  "TYPE",
                             "ATTEMPTS", "LAST FAILED", "RETRY",  "ERROR"};
    ordersctl_table_t *table = ordersctl_table_new(9, headers);
    ordersctl_table_set_right(table, 0);
    ordersctl_table_set_right(table, 3);
    ordersctl_table_set_right(table, 5);
    ordersctl_table_set_max_width(table, 8, ORDERSCTL_ERROR_COLUMN_MAX);
    size_t index;
    const json_t *letter;
    json_array_foreach(items, index, letter)
    {
        s_add(table, letter, "id");
        s_add(table, letter, "consumer");
        s_add(table, letter, "stream");
        s_add(table, letter, "seq");
        s_add(table, letter, "type");
        s_add(table, letter, "attempts");
        s_add(table, letter, "lastFailedAt");
        s_add(table, letter, "retryRequested");
        s_add(table, letter, "error");
    }
    (void) ordersctl_table_print(table, out, 0);
    ordersctl_table_destroy(&table);
    s_render_next(out, page);
}

//  ---------------------------------------------------------------------
//  One line about an order or a dead letter: "<what> <id>: <rest>"; the
//  id from the answer, else the one asked for (`fallback`, may be NULL).

static void
s_render_line(FILE *out,
              const char *what,
              const json_t *body,
              const char *key,
              const char *fallback,
              const char *rest)
{
    char *id = s_text(body, key);
    char *shown = ordersctl_text_sanitize(id ? id : fallback ? fallback : "-");
    (void) fprintf(out, "%s %s%s\n", what, shown, rest);
    freen(shown);
    freen(id);
}

//  ---------------------------------------------------------------------
//  Print a successful answer.

int
ordersctl_render_reply(FILE *out, const ordersctl_args_t *args, const json_t *body, bool replayed)
{
    assert(out);
    assert(args);
    assert(body);
    switch (args->command) {
        case ORDERSCTL_CREATE:
            if (replayed) {
                s_render_line(out, "Order", body, "orderId", NULL,
                              " was created earlier with this idempotency key; nothing new "
                              "was stored");
            } else {
                s_render_line(out, "Created order", body, "orderId", NULL, "");
            }
            s_render_order(out, body);
            break;
        case ORDERSCTL_CANCEL:
            s_render_line(out, "Cancelled order", body, "orderId", args->id, "");
            s_render_order(out, body);
            break;
        case ORDERSCTL_GET:
            s_render_order(out, body);
            break;
        case ORDERSCTL_LIST:
            s_render_order_page(out, body);
            break;
        case ORDERSCTL_STOCK_SET:
        case ORDERSCTL_STOCK_GET:
            s_render_stock(out, body);
            break;
        case ORDERSCTL_PAYMENT_GET:
            s_render_payment(out, body);
            break;
        case ORDERSCTL_DEAD_LETTERS_LIST:
            s_render_dead_letters(out, body);
            break;
        case ORDERSCTL_DEAD_LETTERS_RETRY:
            s_render_line(out, "Dead letter", body, "id", args->id,
                          ": retry requested (its consumer applies it again and removes it "
                          "once that succeeds)");
            break;
        case ORDERSCTL_DEAD_LETTERS_DISCARD:
            s_render_line(out, "Dead letter", body, "id", args->id, ": discarded");
            break;
        case ORDERSCTL_NONE:
            assert(false);
            break;
    }
    return ferror(out) ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  Print an answer as pretty JSON.

int
ordersctl_render_json(FILE *out, const json_t *body)
{
    assert(out);
    assert(body);
    if (json_dumpf(body, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        return -1;
    }
    return fputc('\n', out) == EOF || ferror(out) ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  Print the line for an error answer.

int
ordersctl_render_error(FILE *out,
                       const char *service,
                       long status,
                       const json_t *body,
                       const char *raw,
                       size_t raw_size)
{
    assert(out);
    assert(service);
    assert(raw || raw_size == 0);
    const json_t *error = json_is_object(body) ? json_object_get(body, "error") : NULL;
    char *code = s_text(error, "code");
    if (code) {
        char *field = s_text(error, "field");
        char *message = s_text(error, "message");
        char *line = zsys_sprintf("ordersctl: %s answered %ld %s%s%s%s: %s", service, status, code,
                                  field ? " (field " : "", field ? field : "", field ? ")" : "",
                                  message ? message : "(no message)");
        char *shown = ordersctl_text_sanitize(line);
        (void) fprintf(out, "%s\n", shown);
        freen(shown);
        zstr_free(&line);
        freen(message);
        freen(field);
    } else {
        size_t shown_size = raw_size < ORDERSCTL_RAW_SHOWN_MAX ? raw_size : ORDERSCTL_RAW_SHOWN_MAX;
        char *text = (char *) zmalloc(shown_size + 1);
        if (shown_size > 0) {
            memcpy(text, raw, shown_size);
        }
        char *shown = ordersctl_text_sanitize(text);
        (void) fprintf(out, "ordersctl: %s answered HTTP %ld%s%s%s\n", service, status,
                       shown_size ? ": " : " with an empty body", shown,
                       raw_size > shown_size ? "..." : "");
        freen(shown);
        freen(text);
    }
    freen(code);
    return ferror(out) ? -1 : 0;
}
