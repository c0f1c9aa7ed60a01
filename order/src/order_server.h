/*  =========================================================================
    order_server - the order service's hooks into bus_service

    bus_service (bus_service.h) runs the process: HTTP, the stream
    "order-<i>", the subscriber and the query connection. This class is
    what the definition in order_main.c hands it: start registers the
    routes of docs/http-api.md and creates the state, stop frees it, and
    apply is the read model's batch handler. The routes glue order_api (JSON in
    and out), order_store (units of work submitted with
    bus_service_submit, queries on bus_service_conn) and the logs and
    metrics of every business milestone:

        order.created, order.cancelled, order.status.changed,
        order.compensated (info, with order_id and trace_id);
        order.request.refused (debug); order_created_total,
        order_cancelled_total, order_rejected_total,
        order_unknown_events_total, order_http_commit_seconds{command}.

        static const bus_service_def_t s_def = {
            .name = "order", ..., .migrations = order_migrations,
            .types = order_server_types, .batch_handler = order_server_apply,
            .start = order_server_start, .stop = order_server_stop};
    =========================================================================
*/
#ifndef ORDER_SERVER_H_INCLUDED
#define ORDER_SERVER_H_INCLUDED

#include "bus_service.h"

typedef struct order_server order_server_t;

//  The event types the read model subscribes to, NULL-terminated.
extern const char *const order_server_types[];

//  def->start: register the routes and create the state (an
//  order_server_t). Returns it, never NULL. Service thread.
void *order_server_start(bus_service_t *service);

//  def->stop: free the state. Service thread.
void order_server_stop(bus_service_t *service, void *state);

//  def->batch_handler: apply a batch of subscribed events to the read
//  model (the writer's thread; `state` is what start returned). Returns
//  0, or -1 when the store failed (bus_apply_fail said why).
int order_server_apply(bus_apply_t *apply,
                       const Ev__V1__Envelope *const *events,
                       size_t count,
                       void *state);

#endif
