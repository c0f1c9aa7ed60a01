/*  =========================================================================
    bus_service - the process host every service shares

    A service process of ours (order, inventory, billing, the broker shim)
    is always the same five things: an HTTP server (its API plus /healthz,
    /readyz, /metrics and the dead-letter admin routes), the one stream it
    publishes (bus_stream.h), at most one subscriber, its consumer group,
    applying through that stream's writer (bus_subscriber.h, config.stream),
    and a PostgreSQL connection for queries. bus_service runs all of it
    from the standard options below, in one actor (the "service thread"),
    and hands the service's own code four hooks: route registration, the
    query connection, units of work whose completions call back on the
    service thread, and the handler for subscribed events.

    A service's main is therefore only its definition:

        static const bus_service_def_t s_def = {
            .name = "inventory", .description = "Inventory service: stock per SKU",
            .http_addr = "127.0.0.1:8081", .pub_endpoint = "tcp://127.0.0.1:5570",
            .publishers = "tcp://127.0.0.1:5560", .database = "dbname=evbus_inventory",
            .options = s_options, .migrations = inventory_migrations,
            .types = s_types, .handler = inventory_apply,
            .start = inventory_start, .stop = inventory_stop};

        int
        main(int argc, char **argv)
        {
            return bus_service_main(&s_def, argc, argv);
        }

    Standard options (environment name = flag name, svc_config.h; defaults
    from the definition where it says so):
        HTTP_ADDR         HTTP listen address                    (def->http_addr)
        DATABASE_URL      libpq connection string                (def->database)
        STREAM            stream id; "" = "<name>-<REPLICA_INDEX>"
        PUB_ENDPOINT      PUB bind address; replay binds port+1  (def->pub_endpoint)
        PUBLISHERS        comma list of tcp://host:port to subscribe to
                                                                 (def->publishers)
        REPLICA_INDEX     this replica's index i, 0..REPLICA_COUNT-1   (0)
        REPLICA_COUNT     replicas of this service n                   (1)
        PARTITIONS        partition count P of the deployment          (64)
        BATCH_MAX         units per writer transaction                 (512)
        APPLY_BATCH_MAX   events per subscriber transaction            (256, or the def's)
        MAX_ATTEMPTS      handler attempts before dead-lettering       (5)
        READY_LAG         not ready while a stream lags more           (1000)
        RETENTION_EVENTS  newest events of the stream kept; 0 = all    (0)
        CURVE_SERVER_SECRET  secret cert of our PUB/ROUTER; "" = no CURVE
        CURVE_ALLOW_DIR      directory of allowed client public certs
        CURVE_CLIENT_SECRET  our secret cert as a client of PUBLISHERS
        CURVE_SERVER_PUBLIC  the publishers' public cert
        SHUTDOWN_TIMEOUT_MS  longest wait for units in flight at SIGTERM (10000)
    plus svc_config_common_options (LOG_LEVEL, INSTANCE_ID) and the
    service's own def->options.

    Lifecycle. bus_service_new binds HTTP (not ready, reason "starting"),
    starts the CURVE handler if configured, opens the stream (whose writer
    migrates the bus's schema and then def->migrations as component
    def->name, on every connect, before any unit runs), calls def->start on
    the service thread, then starts the subscriber (if def->types). A
    database that is unreachable is not a failure at any time: the writer,
    the subscriber and the query connection each reconnect with backoff
    (BUS_RECONNECT_MIN_MS doubling to BUS_RECONNECT_MAX_MS) and /readyz
    answers 503 naming what is down. Readiness (checked every
    BUS_SERVICE_READY_MS) = stream ready && subscriber ready && query
    connection up && def->ready (if set).

    SIGTERM (bus_service_main) or bus_service_destroy: stop accepting new
    HTTP requests, wait up to SHUTDOWN_TIMEOUT_MS for units in flight and
    answer their requests, stop the subscriber (it finishes its batch in
    flight), call def->stop, close HTTP, stop the stream (it commits and
    publishes its batch in flight), then the CURVE handler. Exit 0.

    Dead-letter admin routes, on every service (JSON; the query connection):
        GET    /dead-letters?consumer=&after=&limit=   200 {"items":[...], "next": id|null}
                 items as bus_inbox_dead_letters; limit 1..BUS_INBOX_LIST_MAX (default 100)
        POST   /dead-letters/{id}/retry                 202 {"id": n, "status": "retry_requested"}
        DELETE /dead-letters/{id}                       200 {"id": n, "status": "discarded"}
    Unknown id 404 not_found; id not a positive integer 400 invalid_value
    (field "id"); database down 503 unavailable.

    Threads: def->start, def->stop, route handlers and done callbacks run on
    the service thread; def->handler runs on the stream writer's thread (with
    def->writer_for_appends, on the subscriber's thread for batches that
    append nothing; bus_apply_writing says which); it gets the state
    def->start returned: share only what is thread-safe, such as the log,
    the metrics and immutable configuration.
    =========================================================================
*/
#ifndef BUS_SERVICE_H_INCLUDED
#define BUS_SERVICE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "bus_migrate.h"
#include "bus_stream.h"
#include "bus_subscriber.h"
#include "svc_config.h"
#include "svc_http.h"
#include "svc_log.h"
#include "svc_metrics.h"

struct pg_conn;

typedef struct bus_service bus_service_t;

//  How often readiness is recomputed for /readyz.
#define BUS_SERVICE_READY_MS 250
//  Default of SHUTDOWN_TIMEOUT_MS.
#define BUS_SERVICE_SHUTDOWN_MS_DEFAULT 10000

//  A service, as its main declares it. All pointers are to static data.
typedef struct {
    const char *name;                  //  "order": consumer group, default stream prefix, log "svc"
    const char *description;           //  one line for --help
    const char *http_addr;             //  default HTTP_ADDR
    const char *pub_endpoint;          //  default PUB_ENDPOINT
    const char *publishers;            //  default PUBLISHERS ("" = none)
    const char *database;              //  default DATABASE_URL
    const svc_option_t *options;       //  the service's own options (NULL-terminated), or NULL
    const bus_migration_t *migrations; //  the service's schema, or NULL
    const char *const *types;          //  NULL-terminated types to subscribe to; NULL = none
    bus_handler_fn *handler;           //  applies a subscribed event (writer's thread); its
                                       //  arg is the state start returned
    bus_batch_handler_fn *batch_handler; //  or applies a batch of them (bus_subscriber.h);
                                         //  exactly one of the two with types
    bool writer_for_appends;             //  apply on the subscriber's own connection, through the
                                         //  writer only batches that append (bus_subscriber.h):
                                         //  for a handler that seldom appends
    bool commit_async;                   //  checkpoints commit asynchronously (bus_subscriber.h):
                                         //  for a handler whose effects are outside the database
    int apply_batch_max;                 //  default APPLY_BATCH_MAX for this service; 0 = the
                                         //  common default (the option's)
    //  On the service thread, after HTTP is bound and the stream started,
    //  before the subscriber: register routes, create the service's state.
    //  Returns the state (passed to the handler and stop), or NULL to fail
    //  the start (bus_service_new then returns NULL, exit SVC_EXIT_FAILURE).
    void *(*start)(bus_service_t *service);
    //  On the service thread during shutdown, after the subscriber stopped
    //  and before HTTP closes: free the state. May be NULL.
    void (*stop)(bus_service_t *service, void *state);
    //  Optional extra readiness: true when the service's own needs are met;
    //  else set *reason (static text). Service thread. May be NULL.
    bool (*ready)(bus_service_t *service, void *state, const char **reason);
} bus_service_def_t;

//  Called on the service thread with the outcome of a unit submitted with
//  bus_service_submit. `done` is borrowed for the call.
typedef void(bus_service_done_fn)(bus_service_t *service, const bus_completion_t *done, void *arg);

//  The whole process: load the configuration (standard options, common
//  options, def->options) from the environment and argv, print --help,
//  create the log (stdout, svc def->name, instance INSTANCE_ID or STREAM)
//  and the metrics, bus_service_new, wait for SIGTERM or SIGINT,
//  bus_service_destroy. Returns the exit code: SVC_EXIT_OK, _CONFIG (bad
//  option: the message on stderr), _BIND (HTTP, PUB or replay address),
//  _SECURITY (CURVE files), _FAILURE (def->start failed).
int bus_service_main(const bus_service_def_t *def, int argc, char **argv);

//  Start a service in this process (bus_service_main uses it; tests too).
//  `config` must have been loaded with the options of
//  bus_service_options_add; `config`, `log` and `metrics` are borrowed and
//  must outlive the service. Returns NULL on failure and sets *exit_code
//  (as bus_service_main). Caller owns return value.
bus_service_t *bus_service_new(const bus_service_def_t *def,
                               const svc_config_t *config,
                               svc_log_t *log,
                               svc_metrics_t *metrics,
                               int *exit_code);

//  The shutdown sequence above; nulls the pointer.
void bus_service_destroy(bus_service_t **self_p);

//  Add the standard and common options, with the defaults of `def`, to
//  `config`, before svc_config_load. The tables live as long as `config`
//  (they are attached to it).
void bus_service_options_add(svc_config_t *config, const bus_service_def_t *def);

//  From any thread: the bound HTTP port, and the stream's PUB port.
int bus_service_http_port(bus_service_t *self);
int bus_service_pub_port(bus_service_t *self);

//  --------------------------------------------------------------------------
//  For the service's code, on the service thread (and const accessors from
//  the handler too): all returned pointers are borrowed for the service's
//  lifetime.

svc_http_t *bus_service_http(bus_service_t *self);
svc_log_t *bus_service_log(bus_service_t *self);
svc_metrics_t *bus_service_metrics(bus_service_t *self);
const svc_config_t *bus_service_config(bus_service_t *self);
//  The stream id this process publishes ("order-0").
const char *bus_service_stream_id(bus_service_t *self);
//  The stream, for an actor of the service's own that submits units from
//  its thread: it makes its own producer there (bus_producer_new) and
//  destroys it in def->stop at the latest. Valid from def->start on.
bus_stream_t *bus_service_stream(bus_service_t *self);

//  PARTITIONS, for services that compute partitions themselves.
uint32_t bus_service_partitions(bus_service_t *self);

//  The query connection (outside any transaction; run single statements or
//  your own short transactions), or NULL while the database is unreachable
//  (answer 503 unavailable). After a query fails with a connection error
//  (PQstatus(conn) == CONNECTION_BAD), call bus_service_conn_lost: the
//  connection is dropped and re-established with backoff.
struct pg_conn *bus_service_conn(bus_service_t *self);
void bus_service_conn_lost(bus_service_t *self);

//  Submit a unit of work to the stream's writer (group commit): `fn(tx,
//  work_arg)` runs on the writer's thread inside the batch transaction;
//  later `done(service, completion, done_arg)` runs on the service thread.
//  work_arg and done_arg are borrowed until then. Blocks while the writer's
//  queue is full (back-pressure). Returns 0, or -1 when the service is
//  shutting down (done is then never called: answer 503 yourself).
int bus_service_submit(bus_service_t *self,
                       bus_work_fn *fn,
                       void *work_arg,
                       bus_service_done_fn *done,
                       void *done_arg);

//  bus_service_submit for a unit with a set-based half: units of the same
//  `batch` queued together run it once for all of them
//  (bus_producer_submit_set), then each its own `fn`.
int bus_service_submit_set(bus_service_t *self,
                           bus_batch_fn *batch,
                           bus_work_fn *fn,
                           void *work_arg,
                           bus_service_done_fn *done,
                           void *done_arg);

//  Whether /readyz currently answers 200.
bool bus_service_ready(bus_service_t *self);

#endif
