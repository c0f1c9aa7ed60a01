/*  =========================================================================
    billing_server - the billing service inside bus_service

    The hooks of the service's bus_service_def_t (billing_main.c): start
    registers GET /payments/{orderId} and creates the state, stop frees
    it, and apply is the batch handler of the subscribed events, running in
    the subscriber's transaction on the stream writer's thread. A batch is
    one statement (billing_store_apply); each event has the effect it would
    have alone, after the events before it:

      OrderCreated    no payment: STARTED with the order total, the log
                      line billing.payment.started ("Payment started for
                      order <id>", with order_id, trace_id, amount,
                      currency), PaymentStarted{order_id, amount}. A
                      VOIDED tombstone: amount and currency filled in,
                      still VOIDED, nothing published. Else nothing.
      OrderCancelled  STARTED: VOIDED, PaymentVoided. No payment: a VOIDED
                      tombstone without amount. VOIDED: nothing.

    An OrderCreated whose total is missing or in a currency this build does
    not know fails its batch (which the subscriber then applies one event
    at a time: that event alone is dead-lettered after the retries). Appended
    envelopes carry correlation_id = the order id, causation_id = the
    incoming event's message_id, traceparent = a child of the incoming one,
    and the order id as partition key. Every log line about an order has
    "order_id" and "trace_id". Counters: billing_payments_started_total,
    billing_payments_voided_total (a batch the writer runs again counts and
    logs its events again).

        static const bus_service_def_t s_def = {
            .name = "billing", ..., .migrations = billing_migrations,
            .types = billing_server_types, .batch_handler = billing_server_apply,
            .start = billing_server_start, .stop = billing_server_stop};
    =========================================================================
*/
#ifndef BILLING_SERVER_H_INCLUDED
#define BILLING_SERVER_H_INCLUDED

#include "bus_service.h"

//  The event types the service subscribes to, NULL-terminated.
extern const char *const billing_server_types[];

//  def->start: register the routes on the service's HTTP server and return
//  the state (never NULL). Service thread. Caller owns return value (free
//  it with billing_server_stop).
void *billing_server_start(bus_service_t *service);

//  def->stop: free the state billing_server_start returned.
void billing_server_stop(bus_service_t *service, void *state);

//  def->batch_handler: apply a batch of OrderCreated and OrderCancelled
//  events of one stream, in seq order (`arg` is the state), with one
//  statement. Returns 0, or -1 after bus_apply_fail (database failure, or
//  an event that breaks the contract; the subscriber then applies the
//  events one per call).
int billing_server_apply(bus_apply_t *apply,
                         const Ev__V1__Envelope *const *events,
                         size_t count,
                         void *arg);

#endif
