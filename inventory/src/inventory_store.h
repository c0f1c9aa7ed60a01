/*  =========================================================================
    inventory_store - the inventory's SQL: stock, reservations, queries

    The only file of the service that speaks SQL (STYLE rule 11). Stateless
    functions on the caller's connection: inside the subscriber's
    transaction for the event steps (bus_apply_conn), on the service's
    query connection for the HTTP routes. Every statement is parameterised
    and its status checked; every failure is BUS_DB_UNAVAILABLE with a
    message in *error_out (caller owns it; zstr_free), and the caller
    decides what to log.

    Reserving an order is two statements: inventory_store_lock (has the
    order been seen? if not, lock its stock rows in SKU order and read
    them), then, after inventory_logic_decide, inventory_store_record (move
    the units and insert the reservation, or insert the rejection).
    Cancelling is one statement (inventory_store_cancel). These three run
    for every event, so they are prepared statements: an inventory_store_t
    remembers the connection it prepared them on and prepares them again
    on a new one (the first call there costs two or three more round
    trips). The HTTP queries are plain parameterised statements.

        inventory_store_t *store = inventory_store_new();
        bool seen = false;
        int64_t available[BUS_ITEMS_MAX];
        bus_rc_t rc = inventory_store_lock(store, conn, &order_id, lines, count, &seen,
                                           available, &error);
        if (rc == BUS_OK && !seen) {
            inventory_decision_t decision = inventory_logic_decide(lines, available, count);
            rc = inventory_store_record(store, conn, &order_id, lines, count,
                                        decision.reserved ? NULL : reason, &error);
        }
        inventory_store_destroy(&store);
    =========================================================================
*/
#ifndef INVENTORY_STORE_H_INCLUDED
#define INVENTORY_STORE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_migrate.h"
#include "bus_rc.h"
#include "svc_uuid.h"
#include "inventory_logic.h"

struct pg_conn;

//  The service's schema (sql/001_init.sql ...), embedded by the build.
extern const bus_migration_t inventory_migrations[];

//  The memory of which connection has the event steps' statements. Use
//  one per thread (the handler's); it holds no connection of its own.
typedef struct inventory_store inventory_store_t;

//  What a cancel did.
typedef enum {
    INVENTORY_CANCEL_RELEASED = 0, //  the order was RESERVED: units given back, now RELEASED
    INVENTORY_CANCEL_TOMBSTONE,    //  the order was unknown: a CANCELLED tombstone now stands
    INVENTORY_CANCEL_NONE          //  REJECTED, RELEASED or CANCELLED already: nothing changed
} inventory_cancel_t;

//  Create the memory of prepared statements. Caller owns return value.
inventory_store_t *inventory_store_new(void);

//  Destroy it; nulls the pointer, accepts NULL.
void inventory_store_destroy(inventory_store_t **self_p);

//  First step of OrderCreated. If a reservation row (of any status) exists
//  for the order, sets *seen_out and touches nothing else. Otherwise locks
//  the stock rows of the merged `lines` FOR UPDATE in SKU order and writes
//  each line's available units to available_out[i] (0 when the SKU has no
//  row). Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t inventory_store_lock(inventory_store_t *self,
                              struct pg_conn *conn,
                              const svc_uuid_t *order_id,
                              const inventory_line_t *lines,
                              size_t count,
                              bool *seen_out,
                              int64_t *available_out,
                              char **error_out);

//  Second step, in the same transaction, after a lock that found the
//  order unseen. With `reject_reason` NULL: move every line's quantity
//  from available to reserved and insert a RESERVED row; otherwise insert
//  a REJECTED row with that reason and touch no stock. Either row keeps
//  the merged lines. Returns BUS_OK or BUS_DB_UNAVAILABLE (then roll back:
//  the CHECKs refused a negative count, or a locked row went missing).
bus_rc_t inventory_store_record(inventory_store_t *self,
                                struct pg_conn *conn,
                                const svc_uuid_t *order_id,
                                const inventory_line_t *lines,
                                size_t count,
                                const char *reject_reason,
                                char **error_out);

//  OrderCancelled, one statement: RESERVED becomes RELEASED and gives
//  every unit back (rows locked in SKU order); no row becomes a CANCELLED
//  tombstone; any other status stays. `reason` (may be NULL or "") is
//  kept with a released or tombstone row. Sets *outcome_out. Returns BUS_OK
//  or BUS_DB_UNAVAILABLE.
bus_rc_t inventory_store_cancel(inventory_store_t *self,
                                struct pg_conn *conn,
                                const svc_uuid_t *order_id,
                                const char *reason,
                                inventory_cancel_t *outcome_out,
                                char **error_out);

//  PUT /stock/{sku}: set the available units of a valid SKU (creating the
//  row; reserved units untouched). On BUS_OK *out is the row as the API
//  shows it: {"sku", "available", "reserved", "updatedAt"}. Caller owns
//  *out. Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t inventory_store_put_stock(
    struct pg_conn *conn, const char *sku, int64_t available, json_t **out, char **error_out);

//  GET /stock/{sku}: the row as above, BUS_NOT_FOUND if there is none, or
//  BUS_DB_UNAVAILABLE. Caller owns *out.
bus_rc_t
inventory_store_stock(struct pg_conn *conn, const char *sku, json_t **out, char **error_out);

//  GET /stock: up to `limit` rows after SKU `after` (NULL: from the first)
//  in SKU order, as {"items": [...], "next": "<last sku>" | null}; next is
//  null when no row follows. Caller owns *out. Returns BUS_OK or
//  BUS_DB_UNAVAILABLE.
bus_rc_t inventory_store_stock_page(
    struct pg_conn *conn, const char *after, int limit, json_t **out, char **error_out);

//  GET /reservations/{orderId}: {"orderId", "status", "items": [{"sku",
//  "quantity"}], "reason", "createdAt", "updatedAt"}, BUS_NOT_FOUND, or
//  BUS_DB_UNAVAILABLE. Caller owns *out.
bus_rc_t inventory_store_reservation(struct pg_conn *conn,
                                     const svc_uuid_t *order_id,
                                     json_t **out,
                                     char **error_out);

//  True when `conn` has lost its server (PQstatus is CONNECTION_BAD): the
//  caller of a failed query drops it (bus_service_conn_lost).
bool inventory_store_conn_bad(struct pg_conn *conn);

#endif
