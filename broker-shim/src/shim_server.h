/*  =========================================================================
    shim_server - the broker shim's hooks into bus_service

    The shim is a service like the others (bus_service.h): HTTP with
    health, readiness, metrics and dead-letter routes, the stream it
    publishes ("shim-<i>": what came from RabbitMQ), and a subscriber of
    all seven event types of our streams. Its own parts:

    - the subscriber's batch handler (shim_server_apply, on the
      subscriber's thread, in the transaction that raises the checkpoints)
      encodes each batch and hands it to the relay actor (shim_relay.h),
      which publishes it to RabbitMQ with confirms; the handler returns
      (and the checkpoints commit) once all of it is confirmed. Events
      that came from RabbitMQ (origin "rabbitmq:...") are skipped and
      counted: they never go back;
    - the consumer actor (shim_consumer.h) brings RabbitMQ's messages onto
      the shim's stream.

    Options of its own (environment name = flag name):
        RABBITMQ_URL  amqp://user:password@host:port/vhost
        SHIM_FORMAT   masstransit | cap
        SHIM_MAP      shim_map_configure text: "OrderCreated=Sales:OrderPlaced@orders, ..."
        SHIM_QUEUE    the shim's durable queue; dead letters go to "<queue>_error"
        SHIM_MARK     origin mark on what it publishes (the same for every replica)
        SHIM_WINDOW   messages published and not yet confirmed, at most; the consumer's prefetch
        SHIM_CONSUME  the event types bridged from RabbitMQ ("OrderCreated,OrderCancelled";
                      default all seven): the queue is bound to their exchanges only;
                      "" or "none": no consumer, nothing declared for it
    Readiness adds: both RabbitMQ connections up; only the relay's with
    nothing to consume.

    Metrics: shim_bridged_total{direction}, shim_confirm_seconds,
    shim_republished_total, shim_rejected_total{direction, error},
    shim_own_skipped_total{direction}, shim_duplicates_total.
    =========================================================================
*/
#ifndef SHIM_SERVER_H_INCLUDED
#define SHIM_SERVER_H_INCLUDED

#include "bus_service.h"
#include "svc_config.h"

//  The definition's defaults (shim_main.c), as deploy/ assumes them.
#define SHIM_HTTP_ADDR_DEFAULT "127.0.0.1:8083"
#define SHIM_PUB_ENDPOINT_DEFAULT "tcp://127.0.0.1:5590"
#define SHIM_PUBLISHERS_DEFAULT "tcp://127.0.0.1:5560,tcp://127.0.0.1:5570,tcp://127.0.0.1:5580"
#define SHIM_DATABASE_DEFAULT "dbname=evbus_shim"

//  Defaults of the shim's own options.
#define SHIM_RABBITMQ_URL_DEFAULT "amqp://guest:guest@127.0.0.1:5672/%2F"
#define SHIM_QUEUE_DEFAULT "evbus-shim"
#define SHIM_MARK_DEFAULT "evbus"
#define SHIM_WINDOW_DEFAULT "256"
//  The shim's APPLY_BATCH_MAX unless set (bus_service_def_t.apply_batch_max).
#define SHIM_APPLY_BATCH_MAX_DEFAULT 4096
#define SHIM_WINDOW_MAX 65535
#define SHIM_CONSUME_DEFAULT                                                                       \
    "OrderCreated,OrderCancelled,StockReserved,StockRejected,StockReleased,PaymentStarted,"        \
    "PaymentVoided"

//  The event types the shim subscribes to (all seven), NULL-terminated.
extern const char *const shim_server_types[];

//  The shim's own options (above), NULL-terminated.
extern const svc_option_t shim_server_options[];

//  Check the shim's own options of a loaded configuration beyond single
//  values: the URL, the format, the map text, the queue name, the mark,
//  the consumed types.
//  Returns 0, or -1 with the message in *error_out (caller owns it).
int shim_server_check(const svc_config_t *config, char **error_out);

//  Load the options as bus_service_main does and check them: returns -1
//  when bus_service_main should run (valid, or --help, or an error it
//  reports itself), else SVC_EXIT_CONFIG after printing why on stderr.
int shim_server_preflight(const bus_service_def_t *def, int argc, char **argv);

//  bus_service hooks: start (actors, metrics; NULL if the options are
//  invalid), stop, the subscriber's batch handler (.batch_handler),
//  readiness.
void *shim_server_start(bus_service_t *service);
void shim_server_stop(bus_service_t *service, void *state);
int shim_server_apply(bus_apply_t *apply,
                      const Ev__V1__Envelope *const *events,
                      size_t count,
                      void *arg);
bool shim_server_ready(bus_service_t *service, void *state, const char **reason);

#endif
