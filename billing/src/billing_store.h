/*  =========================================================================
    billing_store - billing's SQL: one payment row per order

    The only file of the service that speaks SQL (STYLE rule 11). Each
    event is one statement that makes the transition of billing_logic.h
    and reports which one it made, so nothing can slip in between a read
    and a write. Stateless functions on the caller's connection (the
    subscriber's transaction for events, the query connection for GET);
    every statement is parameterised and its status checked; failures are
    BUS_DB_UNAVAILABLE with a message in *error_out (caller owns it). The
    two event steps run for every event, so they are prepared statements: a
    billing_store_t remembers the connection it prepared them on and
    prepares them again on a new one.

        billing_store_t *store = billing_store_new();
        billing_outcome_t outcome;
        bus_rc_t rc = billing_store_start(store, conn, &order_id, 5997, "EUR", trace_id,
                                          &outcome, &error);
        if (rc == BUS_OK && outcome == BILLING_STARTED) ... publish PaymentStarted
        billing_store_destroy(&store);
    =========================================================================
*/
#ifndef BILLING_STORE_H_INCLUDED
#define BILLING_STORE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus_migrate.h"
#include "bus_rc.h"
#include "svc_uuid.h"
#include "billing_logic.h"

struct pg_conn;

//  The service's schema (sql/001_init.sql ...), embedded by the build.
extern const bus_migration_t billing_migrations[];

//  The memory of which connection has the event steps' statements. Use
//  one per thread (the handler's); it holds no connection of its own.
typedef struct billing_store billing_store_t;

//  Create the memory of prepared statements. Caller owns return value.
billing_store_t *billing_store_new(void);

//  Destroy it; nulls the pointer, accepts NULL.
void billing_store_destroy(billing_store_t **self_p);

//  OrderCreated: no row -> STARTED with the total (BILLING_STARTED); a
//  tombstone without amount -> amount and currency filled in, still VOIDED
//  (BILLING_FILLED); else BILLING_UNCHANGED. `currency` is a checked ISO
//  4217 code, `amount_minor` >= 0; `trace_id` is 32 lower-case hex or ""
//  (stored as NULL). Sets *outcome_out. Returns BUS_OK or BUS_DB_UNAVAILABLE.
bus_rc_t billing_store_start(billing_store_t *self,
                             struct pg_conn *conn,
                             const svc_uuid_t *order_id,
                             int64_t amount_minor,
                             const char *currency,
                             const char *trace_id,
                             billing_outcome_t *outcome_out,
                             char **error_out);

//  OrderCancelled: STARTED -> VOIDED with voided_at (BILLING_VOIDED); no
//  row -> a VOIDED tombstone with no amount (BILLING_TOMBSTONE); VOIDED ->
//  BILLING_UNCHANGED. Sets *outcome_out. Returns BUS_OK or
//  BUS_DB_UNAVAILABLE.
bus_rc_t billing_store_void(billing_store_t *self,
                            struct pg_conn *conn,
                            const svc_uuid_t *order_id,
                            const char *trace_id,
                            billing_outcome_t *outcome_out,
                            char **error_out);

//  GET /payments/{orderId}: {"orderId", "amount": "59.97" | null,
//  "currency": "EUR" | null, "status", "startedAt" | null, "voidedAt" |
//  null, "traceId" | null}, BUS_NOT_FOUND, or BUS_DB_UNAVAILABLE. Caller
//  owns *out.
bus_rc_t billing_store_payment(struct pg_conn *conn,
                               const svc_uuid_t *order_id,
                               json_t **out,
                               char **error_out);

//  True when `conn` has lost its server (PQstatus is CONNECTION_BAD): the
//  caller of a failed query drops it (bus_service_conn_lost).
bool billing_store_conn_bad(struct pg_conn *conn);

#endif
