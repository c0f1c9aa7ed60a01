/*  =========================================================================
    inventory_store - the inventory's SQL: stock, reservations, queries

    The only file of the service that speaks SQL (STYLE rule 11). Functions
    on the caller's connection: inside the subscriber's transaction for a
    batch of events (bus_apply_conn), on the service's query connection
    for the HTTP routes. Every statement is parameterised, prepared once per
    connection (bus_statements.h) and its status checked; every failure is
    BUS_DB_UNAVAILABLE (or BUS_NOT_FOUND for a query) with a message in
    *error_out (caller owns it; zstr_free), and the caller decides what to
    log. An inventory_store_t remembers one connection's statements: use
    one per thread (the handler's on the writer's thread, the routes' on
    the service thread).

    A batch of events (inventory_batch.h) is two statements, however many
    events it has: inventory_store_lock locks every reservation row of the
    batch's orders and every stock row it touches and tells the batch what
    it found; after inventory_batch_decide, inventory_store_write moves
    the units and writes every reservation row.

        inventory_store_t *store = inventory_store_new();
        inventory_batch_t *batch = inventory_batch_new();
        inventory_batch_add_created(batch, &order_id, lines, count);
        bus_rc_t rc = inventory_store_lock(store, conn, batch, &error);
        if (rc == BUS_OK) {
            inventory_batch_decide(batch);
            rc = inventory_store_write(store, conn, batch, &error);
        }
        ... inventory_batch_event(batch, 0)->outcome
        inventory_batch_destroy(&batch);
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
#include "inventory_batch.h"

struct pg_conn;

//  The service's schema (sql/001_init.sql ...), embedded by the build.
extern const bus_migration_t inventory_migrations[];

//  One connection's prepared statements; holds no connection of its own.
typedef struct inventory_store inventory_store_t;

//  Create the memory of prepared statements. Caller owns return value.
inventory_store_t *inventory_store_new(void);

//  Destroy it; nulls the pointer, accepts NULL.
void inventory_store_destroy(inventory_store_t **self_p);

//  First statement of a batch, in the caller's transaction: lock the
//  reservation rows of the batch's orders (order id order), then the stock
//  rows of its OrderCreated SKUs and of the stored items of the RESERVED
//  orders it cancels (SKU order), all FOR UPDATE, and tell the batch
//  (inventory_batch_set_stored, inventory_batch_set_available). Returns
//  BUS_OK or BUS_DB_UNAVAILABLE (also for a row the batch refuses).
bus_rc_t inventory_store_lock(inventory_store_t *self,
                              struct pg_conn *conn,
                              inventory_batch_t *batch,
                              char **error_out);

//  Second statement, after inventory_batch_decide: move each SKU's units
//  taken between available and reserved, insert the rows of orders that
//  had none (items merged per SKU in SKU order, [] for a tombstone) and
//  turn released reservations RELEASED. Returns BUS_OK or
//  BUS_DB_UNAVAILABLE (then roll back: the CHECKs refused a negative
//  count, or a row went missing).
bus_rc_t inventory_store_write(inventory_store_t *self,
                               struct pg_conn *conn,
                               inventory_batch_t *batch,
                               char **error_out);

//  PUT /stock/{sku}: set the available units of a valid SKU (creating the
//  row; reserved units untouched). On BUS_OK *out is the row as the API
//  shows it: {"sku", "available", "reserved", "updatedAt"}. Caller owns
//  *out. Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t inventory_store_put_stock(inventory_store_t *self,
                                   struct pg_conn *conn,
                                   const char *sku,
                                   int64_t available,
                                   json_t **out,
                                   char **error_out);

//  GET /stock/{sku}: the row as above, BUS_NOT_FOUND if there is none, or
//  BUS_DB_UNAVAILABLE. Caller owns *out.
bus_rc_t inventory_store_stock(
    inventory_store_t *self, struct pg_conn *conn, const char *sku, json_t **out, char **error_out);

//  GET /stock: up to `limit` rows after SKU `after` (NULL: from the first)
//  in SKU order, as {"items": [...], "next": "<last sku>" | null}; next is
//  null when no row follows. Caller owns *out. Returns BUS_OK or
//  BUS_DB_UNAVAILABLE.
bus_rc_t inventory_store_stock_page(inventory_store_t *self,
                                    struct pg_conn *conn,
                                    const char *after,
                                    int limit,
                                    json_t **out,
                                    char **error_out);

//  GET /reservations/{orderId}: {"orderId", "status", "items": [{"sku",
//  "quantity"}], "reason", "createdAt", "updatedAt"}, BUS_NOT_FOUND, or
//  BUS_DB_UNAVAILABLE. Caller owns *out.
bus_rc_t inventory_store_reservation(inventory_store_t *self,
                                     struct pg_conn *conn,
                                     const svc_uuid_t *order_id,
                                     json_t **out,
                                     char **error_out);

//  True when `conn` has lost its server (PQstatus is CONNECTION_BAD): the
//  caller of a failed query drops it (bus_service_conn_lost).
bool inventory_store_conn_bad(struct pg_conn *conn);

#endif
