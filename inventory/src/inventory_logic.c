/*  =========================================================================
    inventory_logic - the inventory's decisions, without I/O

    All or nothing: an order is reserved only if every one of its SKUs has
    enough units free. Lines of one SKU are merged first, because an order
    may name a SKU twice and the stock must cover the sum (and because the
    store updates each stock row once per order). The walk is in SKU
    order, the order in which the store locked the rows, so the SKU named
    in a rejection does not depend on the order of the event's lines.
    =========================================================================
*/
#include "inventory_classes.h"
#include "inventory_logic.h"

#include <inttypes.h>

//  --------------------------------------------------------------------------
//  qsort order of lines: by SKU, bytewise.

static int
s_compare_lines(const void *left, const void *right)
{
    const inventory_line_t *first = left;
    const inventory_line_t *second = right;
    return strcmp(first->sku, second->sku);
}

//  --------------------------------------------------------------------------
//  Sort by SKU and merge duplicates.

size_t
inventory_logic_merge(inventory_line_t *lines, size_t count)
{
    assert(lines || count == 0);
    if (count == 0) {
        return 0;
    }
    qsort(lines, count, sizeof *lines, s_compare_lines);
    size_t merged = 0;
    for (size_t index = 1; index < count; index++) {
        if (streq(lines[index].sku, lines[merged].sku)) {
            //  At most BUS_ITEMS_MAX lines of uint32 quantities: no overflow.
            lines[merged].quantity += lines[index].quantity;
        } else {
            lines[++merged] = lines[index];
        }
    }
    return merged + 1;
}

//  --------------------------------------------------------------------------
//  Binary search in merged lines.

long
inventory_logic_find(const inventory_line_t *lines, size_t count, const char *sku)
{
    assert(lines || count == 0);
    assert(sku);
    if (count == 0) {
        return -1;
    }
    inventory_line_t key = {.sku = sku};
    const inventory_line_t *found = bsearch(&key, lines, count, sizeof *lines, s_compare_lines);
    return found ? (long) (found - lines) : -1;
}

//  --------------------------------------------------------------------------
//  All or nothing, first short SKU in SKU order.

inventory_decision_t
inventory_logic_decide(const inventory_line_t *lines, const int64_t *available, size_t count)
{
    assert(lines);
    assert(available);
    inventory_decision_t decision = {.reserved = true};
    for (size_t index = 0; index < count; index++) {
        //  The table's CHECK keeps counts >= 0; read anything else as none.
        int64_t free_units = available[index] > 0 ? available[index] : 0;
        if ((uint64_t) free_units < lines[index].quantity) {
            decision.reserved = false;
            decision.line = index;
            decision.requested = lines[index].quantity;
            decision.available = free_units;
            break;
        }
    }
    return decision;
}

//  --------------------------------------------------------------------------
//  The rejection's reason text.

char *
inventory_logic_reject_reason(const inventory_line_t *lines, const inventory_decision_t *decision)
{
    assert(lines);
    assert(decision);
    assert(!decision->reserved);
    return zsys_sprintf("out of stock: %s (requested %" PRIu64 ", available %" PRId64 ")",
                        lines[decision->line].sku, decision->requested, decision->available);
}

//  --------------------------------------------------------------------------
//  SKU syntax of the HTTP API.

bool
inventory_logic_sku_valid(const char *sku)
{
    if (!sku || !*sku) {
        return false;
    }
    size_t length = 0;
    for (const char *cursor = sku; *cursor; cursor++) {
        char ch = *cursor;
        bool allowed = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!allowed || ++length > INVENTORY_SKU_MAX) {
            return false;
        }
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Fill a body error and return -1.

static int
s_body_error(inventory_body_error_t *error,
             const char *code,
             const char *field,
             const char *message)
{
    error->code = code;
    error->field = field;
    error->message = message;
    return -1;
}

//  --------------------------------------------------------------------------
//  The PUT /stock body: exactly {"available": 0..INVENTORY_AVAILABLE_MAX}.

int
inventory_logic_stock_body(const json_t *body,
                           int64_t *available_out,
                           inventory_body_error_t *error)
{
    assert(body);
    assert(available_out);
    assert(error);
    const char *key = NULL;
    json_t *value = NULL;
    //  json_object_foreach takes a non-const object; it does not change it.
    json_object_foreach((json_t *) body, key, value)
    {
        if (!streq(key, "available")) {
            //  The key is borrowed from the body, which outlives the answer.
            return s_body_error(error, "unknown_field", key, "is not a field of this endpoint");
        }
    }
    value = json_object_get(body, "available");
    if (!value || json_is_null(value)) {
        return s_body_error(error, "missing_field", "available", "is required");
    }
    if (!json_is_integer(value)) {
        return s_body_error(error, "invalid_type", "available", "must be an integer");
    }
    json_int_t available = json_integer_value(value);
    if (available < 0 || available > INVENTORY_AVAILABLE_MAX) {
        return s_body_error(error, "invalid_value", "available",
                            "must be between 0 and 1000000000");
    }
    *available_out = available;
    return 0;
}

//  --------------------------------------------------------------------------
//  Cut UTF-8 text between characters.

size_t
inventory_logic_text_cut(const char *text, size_t max_bytes)
{
    assert(text);
    size_t length = strlen(text);
    if (length <= max_bytes) {
        return length;
    }
    length = max_bytes;
    //  Back off continuation bytes (10xxxxxx) to the start of a character.
    while (length > 0 && ((unsigned char) text[length] & 0xc0) == 0x80) {
        length--;
    }
    return length;
}
