/*  =========================================================================
    order_store - all SQL of the order service

    The only file of order that speaks to PostgreSQL (STYLE rule 11). It
    offers three kinds of entry points:

    Units of work for the stream's writer (bus_work_fn; group-committed
    with other units, so each does the least it can): creates run as a
    set (bus_service_submit_set): order_store_create_set is ONE statement
    for all the creates queued together (orders, lines, first history
    rows and, with an Idempotency-Key, the key's records, each order
    conditional on its key being new), then order_store_create appends
    each created order's OrderCreated; order_store_cancel locks the order, asks
    order_logic and, if allowed, runs one statement and appends
    OrderCancelled. A unit may run more than once (its batch is retried
    without a failed unit), so each run starts its results afresh.

    The read model's handler, order_store_apply: a batch of events of one
    stream in TWO statements, whatever its size: lock the batch's orders
    and read which of its message ids they recorded; fold the events into
    the orders in seq order with order_logic (several events of one order
    may be in one batch; a message id is applied at most once); write
    every history row and changed order; append the compensating
    OrderCancelled of each order a StockRejected rejected.

    Queries on the service's query connection: order_store_get (one query,
    lines and history aggregated as JSON in SQL) and order_store_list.

    Every statement is prepared once per connection (bus_statements.h),
    from one of three sets the store keeps. Threads: the units use one
    (the stream's writer); the handler uses the same one inside the
    writer's transaction and another on the subscriber's own connection
    (bus_apply_writing says which: the order service applies with
    writer_for_appends, so only batches that compensate run in the
    writer); the queries use the third, on one other thread (the service
    thread).

        order_store_t *store = order_store_new("order-0");
        order_store_create_t create = {.store = store, .command = &command, ...};
        svc_uuid_v7(&create.order_id);
        bus_service_submit_set(service, order_store_create_set, order_store_create, &create,
                               s_created, call);
        ...
        order_view_t view = {0};
        if (order_store_get(store, conn, &order_id, &view, &error) == ORDER_STORE_OK) ...
        order_view_clear(&view);
    =========================================================================
*/
#ifndef ORDER_STORE_H_INCLUDED
#define ORDER_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_migrate.h"
#include "bus_stream.h"
#include "bus_subscriber.h"
#include "order_api.h"
#include "order_logic.h"
#include "svc_trace.h"
#include "svc_uuid.h"

struct pg_conn;

typedef struct order_store order_store_t;

//  The order schema: order/sql/NNN_*.sql, embedded by the build
//  (project_embed_sql), migrated by the stream's writer as component
//  "order".
extern const bus_migration_t order_migrations[];

//  Room for a failed statement's message kept for the log.
#define ORDER_STORE_ERROR_SIZE 512

//  What a query did.
typedef enum {
    ORDER_STORE_OK = 0,      //  done
    ORDER_STORE_NOT_FOUND,   //  no such order
    ORDER_STORE_UNAVAILABLE, //  the connection is lost: drop it (bus_service_conn_lost), 503
    ORDER_STORE_FAILED       //  the statement failed otherwise, or a row did not parse
} order_store_rc_t;

//  What a create unit did.
typedef enum {
    ORDER_CREATE_CREATED = 0, //  a new order and its OrderCreated
    ORDER_CREATE_REPLAYED,    //  the key was used before with the same command: nothing new
    ORDER_CREATE_KEY_REUSED   //  the key was used before with another command: nothing new
} order_create_outcome_t;

//  A create unit's argument: the caller fills the inputs, the unit the
//  results. Borrowed by the writer until the completion.
typedef struct {
    order_store_t *store;                   //  in: the store (stream id, statements)
    const order_create_t *command;          //  in: the validated command (borrowed)
    const char *idempotency_key;            //  in: the key, or NULL
    const char *fingerprint;                //  in: order_api_fingerprint with a key, else NULL
    int64_t created_at_us;                  //  in: the order's time, Unix microseconds
    order_create_outcome_t outcome;         //  out
    svc_uuid_t order_id;                    //  in: the new order's id (UUID v7)
    svc_uuid_t existing_id;                 //  out: REPLAYED/KEY_REUSED: the key's order
    char traceparent[SVC_TRACEPARENT_SIZE]; //  in: the request's child traceparent
    char trace_id[SVC_TRACE_ID_SIZE];       //  in: its trace id, stored on the order
    char error[ORDER_STORE_ERROR_SIZE];     //  out: why the unit failed
    //  Private, from the set's statement to the unit's own half:
    bool set_ran;          //  the set ran for this attempt of the batch (fields below fresh)
    bool claim_unseen;     //  the key's record was made after the set's snapshot
    svc_uuid_t message_id; //  OrderCreated's message id (recorded in the history)
} order_store_create_t;

//  What a cancel unit did.
typedef enum {
    ORDER_CANCEL_CANCELLED = 0, //  cancelled, OrderCancelled appended
    ORDER_CANCEL_NOT_FOUND,     //  no such order
    ORDER_CANCEL_REFUSED        //  already final (status says which): nothing changed
} order_cancel_outcome_t;

//  A cancel unit's argument, as order_store_create_t.
typedef struct {
    order_store_t *store;                   //  in: the store (stream id, statements)
    svc_uuid_t order_id;                    //  in: the order
    const char *reason;                     //  in: 1-200 characters (borrowed)
    char traceparent[SVC_TRACEPARENT_SIZE]; //  in: the request's child traceparent
    int64_t cancelled_at_us;                //  in: the cancel's time, Unix microseconds
    order_cancel_outcome_t outcome;         //  out
    order_status_t status;                  //  out: the status after the unit
    order_view_t view;                      //  out: CANCELLED, REFUSED: the order as the
                                            //  unit left it (owned: order_view_clear); the
                                            //  new OrderCancelled's seq is 0 (the writer
                                            //  assigns it at commit: completion.last_seq)
    char error[ORDER_STORE_ERROR_SIZE];     //  out: why the unit failed
} order_store_cancel_t;

//  What the handler did with one event, for the caller's logs and metrics.
typedef struct {
    bool handled;                     //  a subscribed event type (else nothing was done)
    bool known;                       //  the order exists in this database
    bool recorded;                    //  newly recorded (false: message id seen before)
    order_event_t event;              //  which event
    svc_uuid_t order_id;              //  the event's order
    order_state_t before;             //  state before (when recorded)
    order_state_t after;              //  state after (when recorded)
    bool compensated;                 //  OrderCancelled appended
    char reason[ORDER_REASON_SIZE];   //  the compensation's reason
    char trace_id[SVC_TRACE_ID_SIZE]; //  the event's trace id, else the order's
} order_store_applied_t;

//  Create the store for the stream `stream` (copied), whose own events it
//  records. Its units and handler use one set of prepared statements
//  (one thread: the stream's writer), its queries another (one other
//  thread). Caller owns return value.
order_store_t *order_store_new(const char *stream);

//  Destroy; accepts NULL and nulls the pointer.
void order_store_destroy(order_store_t **self_p);

//  The stream id the store records for its own events. Borrowed.
const char *order_store_stream(const order_store_t *self);

//  The wall clock in Unix microseconds: the time of orders, cancels and
//  the events they append.
int64_t order_store_now_us(void);

//  The set-based half of creates (bus_batch_fn): ONE statement creates
//  the orders of `count` units (each an order_store_create_t, all of one
//  store) whose keys are new, in order: of two units with one key the
//  first creates, the second replays it (or is refused). Returns 0, or -1
//  with ->error in each unit when the statement failed.
int order_store_create_set(bus_tx_t *tx, void *const *args, size_t count);

//  Unit of work: create an order. `arg` is an order_store_create_t.
//  After order_store_create_set, appends OrderCreated for a created order
//  (or settles a key claimed by another transaction meanwhile); submitted
//  alone, it runs the set for itself first. Returns 0 (see ->outcome), or
//  -1 with ->error when a statement failed or the event could not be
//  appended.
int order_store_create(bus_tx_t *tx, void *arg);

//  Unit of work: cancel an order. `arg` is an order_store_cancel_t, whose
//  ->view must be empty (zeroed) before the first run. Returns 0 (see
//  ->outcome), or -1 with ->error.
int order_store_cancel(bus_tx_t *tx, void *arg);

//  The read model's batch handler body (inside the subscriber's
//  transaction): apply `count` events (one stream, seq order), filling
//  applied_out[i] for events[i] (an array of `count`). An event for an
//  order this database does not know is not an error (known false,
//  nothing written); nor is one whose message id was recorded before
//  (recorded false). Returns 0, or -1 after bus_apply_fail when a
//  statement failed or a compensation could not be appended (the
//  entries are then meaningless).
int order_store_apply(order_store_t *self,
                      bus_apply_t *apply,
                      const Ev__V1__Envelope *const *events,
                      size_t count,
                      order_store_applied_t *applied_out);

//  Read one order with its lines and history (the oldest
//  ORDER_HISTORY_MAX entries) into `view_out` (empty: zeroed or cleared).
//  Returns OK, NOT_FOUND, UNAVAILABLE or FAILED; on other than OK the view
//  is left empty and, on UNAVAILABLE and FAILED, *error_out gets a message
//  (caller owns it, zstr_free).
order_store_rc_t order_store_get(order_store_t *self,
                                 struct pg_conn *conn,
                                 const svc_uuid_t *order_id,
                                 order_view_t *view_out,
                                 char **error_out);

//  A page of orders.
typedef struct {
    order_view_t *views; //  owned array of `count` orders, without history
    size_t count;        //  orders on this page
    bool more;           //  another page follows (its `after` is the last order's id)
} order_page_t;

//  Read up to `limit` (1..ORDER_LIST_LIMIT_MAX) orders of `customer_id`,
//  newest first, after the order `after` (NULL for the first page), into
//  `page_out` (zeroed). Returns OK, UNAVAILABLE or FAILED (page left
//  empty, *error_out as order_store_get).
order_store_rc_t order_store_list(order_store_t *self,
                                  struct pg_conn *conn,
                                  const char *customer_id,
                                  const svc_uuid_t *after,
                                  int limit,
                                  order_page_t *page_out,
                                  char **error_out);

//  Free what a page owns and zero it.
void order_page_clear(order_page_t *page);

#endif
