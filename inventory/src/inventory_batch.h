/*  =========================================================================
    inventory_batch - the decisions of a batch of events, without I/O

    The handler gets OrderCreated and OrderCancelled events in batches (one
    stream, seq order) and applies each batch with two statements: one
    locks every reservation row and stock row the batch touches, one
    writes every result. Between the two, this class decides the events
    one after another, exactly as one transaction per event would have:
    an order sees the units the orders before it in the batch left, a
    cancel gives units back to the orders after it, and a second event of
    one order sees the row the first one made (created then cancelled:
    released; cancelled then created: a tombstone, nothing reserved).

    It is filled in three steps: the events (add_created, add_cancelled),
    then what the lock found (set_stored for every reservation row, then
    set_available for every stock row), then decide. The store reads the
    orders and the stock before the lock (what to lock) and after the
    decision (what to write); the handler reads each event's outcome.

        inventory_batch_t *batch = inventory_batch_new();
        inventory_line_t lines[] = {{"SKU-1", 1}};
        inventory_batch_add_created(batch, &first, lines, 1);      //  event 0
        inventory_batch_add_created(batch, &second, lines, 1);     //  event 1
        //  lock: no reservation rows; SKU-1 has 1 unit
        inventory_batch_set_available(batch, "SKU-1", 1);
        inventory_batch_decide(batch);
        //  event 0 RESERVED, event 1 REJECTED (available 0); SKU-1 taken 1
        inventory_batch_destroy(&batch);
    =========================================================================
*/
#ifndef INVENTORY_BATCH_H_INCLUDED
#define INVENTORY_BATCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svc_uuid.h"
#include "inventory_logic.h"

typedef struct inventory_batch inventory_batch_t;

//  The status of an order's reservation row (sql/001_init.sql).
typedef enum {
    INVENTORY_STATUS_NONE = 0,  //  no row
    INVENTORY_STATUS_RESERVED,  //  holds the units of its items
    INVENTORY_STATUS_REJECTED,  //  reserved nothing
    INVENTORY_STATUS_RELEASED,  //  gave its units back on cancel
    INVENTORY_STATUS_CANCELLED, //  a tombstone: cancelled before it arrived
    INVENTORY_STATUS_INVALID    //  not a status (what inventory_batch_status_parse refuses)
} inventory_status_t;

//  What an event did.
typedef enum {
    INVENTORY_OUTCOME_RESERVED = 0, //  OrderCreated, no row: every line reserved
    INVENTORY_OUTCOME_REJECTED,     //  OrderCreated, no row: a line short, nothing reserved
    INVENTORY_OUTCOME_SEEN,         //  OrderCreated, a row (seen, or a tombstone): nothing
    INVENTORY_OUTCOME_RELEASED,     //  OrderCancelled, RESERVED: every unit given back
    INVENTORY_OUTCOME_TOMBSTONE,    //  OrderCancelled, no row: CANCELLED
    INVENTORY_OUTCOME_UNCHANGED     //  OrderCancelled, any other row: nothing
} inventory_outcome_t;

//  One event of the batch. Read-only for callers.
typedef struct {
    svc_uuid_t order_id;           //  its order
    bool created;                  //  OrderCreated; else OrderCancelled
    size_t order;                  //  index of its order in inventory_batch_orders
    inventory_line_t *lines;       //  OrderCreated: its lines merged per SKU (owned by the batch)
    size_t count;                  //  how many
    char *reason;                  //  OrderCancelled: its reason as kept (owned by the
                                   //  batch), or NULL
    inventory_outcome_t outcome;   //  after decide
    inventory_decision_t decision; //  after decide, OrderCreated RESERVED or REJECTED
} inventory_event_t;

//  One order of the batch (each once, in order id byte order). Read-only
//  for callers.
typedef struct {
    svc_uuid_t order_id;            //  the order
    bool cancelled;                 //  an OrderCancelled of it is in the batch
    inventory_status_t stored;      //  its row before the batch (set_stored), NONE if none
    inventory_line_t *stored_lines; //  the items of a stored RESERVED row of a cancelled
                                    //  order (owned, SKUs too)
    size_t stored_count;            //  how many
    inventory_status_t status;      //  after decide: its row after the batch
    const inventory_line_t *lines;  //  after decide: the row's items (borrowed from the batch)
    size_t count;                   //  how many
    char *reason;                   //  after decide: the row's reason if the batch set one
                                    //  (owned), or NULL
} inventory_order_t;

//  One SKU the batch touches (each once, in SKU byte order). Read-only for
//  callers.
typedef struct {
    const char *sku;   //  borrowed from an event's line or a stored item
    int64_t available; //  free units as locked (0 without a row); after decide, what is left
    int64_t taken;     //  after decide: units the batch moves from available to reserved
                       //  (negative: given back)
} inventory_stock_t;

//  Create an empty batch. Caller owns return value.
inventory_batch_t *inventory_batch_new(void);

//  Destroy; nulls the pointer, accepts NULL.
void inventory_batch_destroy(inventory_batch_t **self_p);

//  Add the next OrderCreated (seq order), with its lines as the event has
//  them (at most BUS_ITEMS_MAX; SKUs borrowed: they must outlive the
//  batch). The batch merges its own copy per SKU.
void inventory_batch_add_created(inventory_batch_t *self,
                                 const svc_uuid_t *order_id,
                                 const inventory_line_t *lines,
                                 size_t count);

//  Add the next OrderCancelled, with its reason (may be NULL or "";
//  copied, cut to INVENTORY_REASON_MAX bytes).
void inventory_batch_add_cancelled(inventory_batch_t *self,
                                   const svc_uuid_t *order_id,
                                   const char *reason);

//  Events added so far, and event `index` of them.
size_t inventory_batch_size(inventory_batch_t *self);
const inventory_event_t *inventory_batch_event(inventory_batch_t *self, size_t index);

//  The distinct orders, in order id byte order; sets *count_out. Borrowed
//  until the next call that changes the batch.
const inventory_order_t *inventory_batch_orders(inventory_batch_t *self, size_t *count_out);

//  The distinct SKUs, in SKU byte order; sets *count_out. Before the lock:
//  the SKUs of the OrderCreated lines; after set_stored, also those of the
//  stored items of cancelled orders. Borrowed as above.
const inventory_stock_t *inventory_batch_stock(inventory_batch_t *self, size_t *count_out);

//  The lock found a reservation row of an order of the batch, with
//  `status` and, for a RESERVED order the batch cancels, its items
//  (copied). Returns 0, or -1 if the order is not in the batch or was
//  already set. Call for every row, before any set_available.
int inventory_batch_set_stored(inventory_batch_t *self,
                               const svc_uuid_t *order_id,
                               inventory_status_t status,
                               const inventory_line_t *lines,
                               size_t count);

//  The lock found the stock row of `sku` with `available` free units.
//  Returns 0, or -1 if the SKU is not one of inventory_batch_stock. SKUs
//  without a row keep 0.
int inventory_batch_set_available(inventory_batch_t *self, const char *sku, int64_t available);

//  Decide every event in seq order, with the running availability; fills
//  the outcomes, each order's row and each SKU's units taken. Once.
void inventory_batch_decide(inventory_batch_t *self);

//  The status named by the table's text ("RESERVED", ...), or
//  INVENTORY_STATUS_INVALID; and the text of a status (NULL for NONE and
//  INVALID).
inventory_status_t inventory_batch_status_parse(const char *text);
const char *inventory_batch_status_name(inventory_status_t status);

#endif
