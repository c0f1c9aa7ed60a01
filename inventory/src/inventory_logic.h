/*  =========================================================================
    inventory_logic - the inventory's decisions, without I/O

    What the service decides, as pure functions that the handler and the
    HTTP routes call and that inventory_logic_test.c checks alone: the
    demand of an order (its lines merged per SKU, in SKU order), whether
    the locked stock covers all of it (all or nothing, naming the first
    short SKU in SKU order), the reason text of a rejection, and the rules
    of the admin API's input (SKU syntax, the PUT /stock body).

    SKU order is byte order (strcmp), which is also the order of the
    stock table's "C" collation, so the rows are locked in the order the
    decision walks them.

        inventory_line_t lines[] = {{"SKU-2", 1}, {"SKU-1", 2}, {"SKU-2", 3}};
        size_t count = inventory_logic_merge(lines, 3);          //  SKU-1 x2, SKU-2 x4
        int64_t available[] = {5, 3};                            //  locked counts
        inventory_decision_t decision = inventory_logic_decide(lines, available, count);
        //  decision.reserved == false, decision.line == 1 (SKU-2, 4 wanted, 3 free)
        char *reason = inventory_logic_reject_reason(lines, &decision);
        //  "out of stock: SKU-2 (requested 4, available 3)"
    =========================================================================
*/
#ifndef INVENTORY_LOGIC_H_INCLUDED
#define INVENTORY_LOGIC_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A SKU is 1-64 characters of [A-Za-z0-9._-] (docs/http-api.md).
#define INVENTORY_SKU_MAX 64
//  PUT /stock/{sku}: the largest "available".
#define INVENTORY_AVAILABLE_MAX 1000000000
//  GET /stock: page size limits and default.
#define INVENTORY_LIST_LIMIT_MIN 1
#define INVENTORY_LIST_LIMIT_MAX 1000
#define INVENTORY_LIST_LIMIT_DEFAULT 100
//  Longest cancel reason kept with a reservation, in bytes (cut between
//  UTF-8 characters).
#define INVENTORY_REASON_MAX 500

//  One SKU of an order and the units it asks for.
typedef struct {
    const char *sku;   //  borrowed (the event's item sku)
    uint64_t quantity; //  units, at least 1; after a merge, summed over the SKU's lines
} inventory_line_t;

//  The answer to "does the stock cover the order?".
typedef struct {
    bool reserved;      //  true: every line is covered; reserve them all
    size_t line;        //  when not reserved: index of the first short line (SKU order)
    uint64_t requested; //  when not reserved: that line's quantity
    int64_t available;  //  when not reserved: the units free for it (0 if unknown SKU)
} inventory_decision_t;

//  Why a PUT /stock body was refused: the error code, the field and a
//  message for the 400 answer. Static text, except `field` of an
//  unknown_field, which is borrowed from the body.
typedef struct {
    const char *code;    //  "missing_field", "unknown_field", "invalid_type", "invalid_value"
    const char *field;   //  the JSON field to blame
    const char *message; //  a sentence for people
} inventory_body_error_t;

//  Sort `lines` by SKU (byte order) and merge lines of one SKU into one,
//  adding their quantities. Returns how many lines remain, at the start of
//  `lines`.
size_t inventory_logic_merge(inventory_line_t *lines, size_t count);

//  The index of `sku` in merged `lines`, or -1 if it is not there.
long inventory_logic_find(const inventory_line_t *lines, size_t count, const char *sku);

//  Decide an order from its merged lines and the units free per line
//  (available[i] for lines[i]; 0 for a SKU that has no stock row). All
//  lines are reserved, or none: then the first line in SKU order that
//  asks for more than is free is named.
inventory_decision_t
inventory_logic_decide(const inventory_line_t *lines, const int64_t *available, size_t count);

//  The reason kept with a rejection: "out of stock: <sku> (requested n,
//  available m)", the wording the order service also uses. `decision`
//  must be a rejection of `lines`. Caller owns return value.
char *inventory_logic_reject_reason(const inventory_line_t *lines,
                                    const inventory_decision_t *decision);

//  True if `sku` (may be NULL) is 1-INVENTORY_SKU_MAX of [A-Za-z0-9._-].
bool inventory_logic_sku_valid(const char *sku);

//  Check a PUT /stock body: exactly {"available": integer 0..
//  INVENTORY_AVAILABLE_MAX}. Returns 0 and sets *available_out, or -1 and
//  fills *error (an unknown field is named before a missing one).
int inventory_logic_stock_body(const json_t *body,
                               int64_t *available_out,
                               inventory_body_error_t *error);

//  The length of the longest prefix of UTF-8 `text` that has at most
//  `max_bytes` bytes and does not end inside a character.
size_t inventory_logic_text_cut(const char *text, size_t max_bytes);

#endif
