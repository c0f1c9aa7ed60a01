/*  =========================================================================
    inventory_server - the inventory service inside bus_service

    The hooks of the service's bus_service_def_t (inventory_main.c): start
    registers the admin routes of docs/http-api.md and creates the state
    (metrics, log), stop frees it, and apply is the batch handler of the
    subscribed events, running in the subscriber's transaction on the
    stream writer's thread. Each event of a batch has the effect it would
    have in a transaction of its own, after the events before it:

      OrderCreated    a reservation row for the order exists (a tombstone,
                      or the order was seen): nothing. Else decide all or
                      nothing on the units left (locked rows, minus what
                      the batch reserved before it, plus what it released),
                      append StockReserved or StockRejected{sku, requested,
                      available} (the first short SKU in SKU order).
      OrderCancelled  RESERVED: give every unit back, RELEASED, append
                      StockReleased. No row: a CANCELLED tombstone. Else
                      nothing.

    The whole batch is two statements (inventory_store_lock, then
    inventory_store_write), with the decisions (inventory_batch) between.

    Appended envelopes carry correlation_id = the order id, causation_id =
    the incoming event's message_id, traceparent = a child of the incoming
    one, and the order id as partition key. Each outcome is logged at info
    with "order_id" and "trace_id" and counted (inventory_reserved_total,
    inventory_rejected_total, inventory_released_total). A batch that the
    writer runs again logs and counts its events again: the counters count
    applications, which is at least the number of commits.

        static const bus_service_def_t s_def = {
            .name = "inventory", ..., .migrations = inventory_migrations,
            .types = inventory_server_types, .batch_handler = inventory_server_apply,
            .start = inventory_server_start, .stop = inventory_server_stop};
    =========================================================================
*/
#ifndef INVENTORY_SERVER_H_INCLUDED
#define INVENTORY_SERVER_H_INCLUDED

#include "bus_service.h"

//  The event types the service subscribes to, NULL-terminated.
extern const char *const inventory_server_types[];

//  def->start: register the routes on the service's HTTP server and return
//  the state (never NULL). Service thread. Caller owns return value (free
//  it with inventory_server_stop).
void *inventory_server_start(bus_service_t *service);

//  def->stop: free the state inventory_server_start returned.
void inventory_server_stop(bus_service_t *service, void *state);

//  def->batch_handler: apply a batch of OrderCreated and OrderCancelled
//  events of one stream, in seq order (`arg` is the state), with two
//  statements whatever their number. Returns 0, or -1 after
//  bus_apply_fail (database failure, or an event that breaks the
//  contract; the subscriber then applies the events one per call).
int inventory_server_apply(bus_apply_t *apply,
                           const Ev__V1__Envelope *const *events,
                           size_t count,
                           void *arg);

#endif
