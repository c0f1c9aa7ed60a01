/*  =========================================================================
    billing_store - billing's SQL: one payment row per order

    The only file of the service that speaks SQL (STYLE rule 11). A batch
    of events, however many, is one statement that makes the transitions
    of billing_logic.h for all of them, in seq order, and reports which one
    each event made, so nothing can slip in between a read and a write.
    Every statement is parameterised, prepared once per connection
    (bus_statements.h) and its status checked; failures are
    BUS_DB_UNAVAILABLE (or BUS_NOT_FOUND for a query) with a message in
    *error_out (caller owns it). A billing_store_t remembers one
    connection's statements: use one per thread (the handler's on the
    writer's thread, the route's on the service thread).

        billing_store_t *store = billing_store_new();
        billing_event_t events[] = {
            {.order_id = id, .created = true, .amount_minor = 5997, .currency = "EUR",
             .trace_id = trace_id},
            {.order_id = id, .created = false, .trace_id = trace_id}};
        billing_outcome_t outcomes[2];
        bus_rc_t rc = billing_store_apply(store, conn, events, 2, outcomes, &error);
        //  outcomes: BILLING_STARTED (publish PaymentStarted), BILLING_VOIDED (PaymentVoided)
        billing_store_destroy(&store);
    =========================================================================
*/
#ifndef BILLING_STORE_H_INCLUDED
#define BILLING_STORE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_migrate.h"
#include "bus_rc.h"
#include "svc_uuid.h"
#include "billing_logic.h"

struct pg_conn;

//  The service's schema (sql/001_init.sql ...), embedded by the build.
extern const bus_migration_t billing_migrations[];

//  One connection's prepared statements; holds no connection of its own.
typedef struct billing_store billing_store_t;

//  An OrderCreated or OrderCancelled, as the store needs it.
typedef struct {
    svc_uuid_t order_id;  //  the order
    bool created;         //  OrderCreated; else OrderCancelled
    int64_t amount_minor; //  OrderCreated: the total in minor units, >= 0
    const char *currency; //  OrderCreated: a checked ISO 4217 code (borrowed); else NULL
    const char *trace_id; //  32 lower-case hex, or "" (stored as NULL) (borrowed)
} billing_event_t;

//  Create the memory of prepared statements. Caller owns return value.
billing_store_t *billing_store_new(void);

//  Destroy it; nulls the pointer, accepts NULL.
void billing_store_destroy(billing_store_t **self_p);

//  Apply `count` (>= 1) events in seq order, in one statement, each as if
//  it ran alone after the ones before it (several events of one order
//  included), and write each one's transition to outcomes_out[i]:
//    OrderCreated    no row -> STARTED with the total (BILLING_STARTED); a
//                    tombstone without amount -> amount, currency and
//                    trace id (when given) filled in, still VOIDED
//                    (BILLING_FILLED); else BILLING_UNCHANGED.
//    OrderCancelled  STARTED -> VOIDED with voided_at (BILLING_VOIDED); no
//                    row -> a VOIDED tombstone without amount, with the
//                    cancel's trace id (BILLING_TOMBSTONE); VOIDED ->
//                    BILLING_UNCHANGED.
//  Existing rows are locked in order id order. Returns BUS_OK or
//  BUS_DB_UNAVAILABLE (also when another transaction inserted a row of one
//  of the orders meanwhile: apply the events again, one at a time).
bus_rc_t billing_store_apply(billing_store_t *self,
                             struct pg_conn *conn,
                             const billing_event_t *events,
                             size_t count,
                             billing_outcome_t *outcomes_out,
                             char **error_out);

//  GET /payments/{orderId}: {"orderId", "amount": "59.97" | null,
//  "currency": "EUR" | null, "status", "startedAt" | null, "voidedAt" |
//  null, "traceId" | null}, BUS_NOT_FOUND, or BUS_DB_UNAVAILABLE. Caller
//  owns *out.
bus_rc_t billing_store_payment(billing_store_t *self,
                               struct pg_conn *conn,
                               const svc_uuid_t *order_id,
                               json_t **out,
                               char **error_out);

//  True when `conn` has lost its server (PQstatus is CONNECTION_BAD): the
//  caller of a failed query drops it (bus_service_conn_lost).
bool billing_store_conn_bad(struct pg_conn *conn);

#endif
