/*  =========================================================================
    order_store_test - the order service's SQL against a real PostgreSQL

    Each case gets two fresh databases (TEST_PG_DSN): the order service's,
    with its stream "order-0" (bus_stream, migrating the order schema), and
    a stand-in inventory/billing publisher's, with its stream
    "inventory-0", whose units append the events the read model consumes.
    Units of work run through the real writer (bus_producer_call); the
    read-model handler runs inside a real bus_subscriber applying through
    the order stream's writer, as bus_service wires it. Assertions read
    the tables and the event log directly.

    To put several units in one batch, a first unit is held inside the
    writer's transaction until the others are queued; the on_commit hook
    counts batches. Waits are ts_wait_until on a condition; nothing sleeps.
    =========================================================================
*/
#include "order_classes.h"
#include "order_api.h"
#include "order_logic.h"
#include "order_store.h"
#include "ts.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  Longest single wait.
#define WAIT_MS 20000

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"

#define BODY_A                                                                                     \
    "{\"customerId\": \"c-42\", \"currency\": \"EUR\", \"items\": ["                               \
    "{\"sku\": \"SKU-1\", \"quantity\": 2, \"unitPrice\": \"19.99\"},"                             \
    "{\"sku\": \"SKU-2\", \"quantity\": 1, \"unitPrice\": \"19.99\"}]}"
//  The same command, spelt differently.
#define BODY_A_AGAIN                                                                               \
    "{\"items\": [{\"unitPrice\": \"19.99\", \"quantity\": 2, \"sku\": \"SKU-1\"},"                \
    " {\"quantity\": 1, \"sku\": \"SKU-2\", \"unitPrice\": \"19.99\"}],"                           \
    " \"currency\": \"EUR\", \"customerId\": \"c-42\"}"
#define BODY_B                                                                                     \
    "{\"customerId\": \"c-42\", \"currency\": \"EUR\", \"items\": ["                               \
    "{\"sku\": \"SKU-1\", \"quantity\": 3, \"unitPrice\": \"19.99\"}]}"

//  A unit that waits inside the writer's transaction until released.
typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool held;     //  the unit is waiting
    bool released; //  it may go on
} gate_t;

//  What the handler saw, counted on the writer's thread.
typedef struct {
    atomic_int handled;
    atomic_int known;
    atomic_int recorded;
    atomic_int compensated;
    atomic_int batches;    //  calls of the batch handler
    atomic_size_t largest; //  the most events in one call
} counts_t;

typedef struct {
    char *order_db;                     //  (owned)
    char *inventory_db;                 //  (owned)
    svc_log_t *log;                     //  (owned)
    svc_metrics_t *metrics;             //  (owned)
    bus_stream_t *stream;               //  "order-0" (owned)
    bus_producer_t *producer;           //  to it (owned)
    bus_stream_t *inventory;            //  "inventory-0" (owned)
    bus_producer_t *inventory_producer; //  to it (owned)
    order_store_t *store;               //  (owned)
    PGconn *conn;                       //  to the order database (owned)
    atomic_int commits;                 //  batches the order stream committed
    gate_t gate;                        //  for s_held_unit
    counts_t counts;                    //  for s_handler
    bus_subscriber_t *subscriber;       //  the read model, when started (owned)
} fixture_t;

static const char *const s_types[] = {"StockReserved",  "StockRejected", "StockReleased",
                                      "PaymentStarted", "PaymentVoided", NULL};

//  --------------------------------------------------------------------------
//  Fixture

static void
s_on_commit(uint64_t last_seq, void *arg)
{
    (void) last_seq;
    atomic_fetch_add((atomic_int *) arg, 1);
}

static bus_stream_t *
s_stream_new(fixture_t *fixture, const char *name, const char *conninfo, bool order)
{
    bus_stream_config_t config = {.stream = name,
                                  .conninfo = conninfo,
                                  .pub_endpoint = "tcp://127.0.0.1:*",
                                  .heartbeat_ms = 50,
                                  .log = fixture->log,
                                  .metrics = fixture->metrics};
    if (order) {
        config.component = "order";
        config.migrations = order_migrations;
        config.on_commit = s_on_commit;
        config.on_commit_arg = &fixture->commits;
    }
    bus_stream_t *stream = bus_stream_new(&config);
    assert_non_null(stream);
    return stream;
}

static bool
s_stream_ready(void *arg)
{
    return bus_stream_ready((bus_stream_t *) arg);
}

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->order_db = ts_pg_create_db();
    fixture->inventory_db = ts_pg_create_db();
    fixture->log = svc_log_new("order", "order_store_test", SVC_LOG_WARN, stderr);
    fixture->metrics = svc_metrics_new();
    fixture->stream = s_stream_new(fixture, "order-0", fixture->order_db, true);
    fixture->producer = bus_producer_new(fixture->stream);
    fixture->inventory = s_stream_new(fixture, "inventory-0", fixture->inventory_db, false);
    fixture->inventory_producer = bus_producer_new(fixture->inventory);
    fixture->store = order_store_new("order-0");
    pthread_mutex_init(&fixture->gate.mutex, NULL);
    pthread_cond_init(&fixture->gate.cond, NULL);
    //  The schema exists once the writer is ready (it migrates first).
    assert_true(ts_wait_until(s_stream_ready, fixture->stream, WAIT_MS));
    fixture->conn = PQconnectdb(fixture->order_db);
    assert_int_equal(PQstatus(fixture->conn), CONNECTION_OK);
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    bus_subscriber_destroy(&fixture->subscriber);
    PQfinish(fixture->conn);
    pthread_cond_destroy(&fixture->gate.cond);
    pthread_mutex_destroy(&fixture->gate.mutex);
    order_store_destroy(&fixture->store);
    bus_producer_destroy(&fixture->inventory_producer);
    bus_stream_destroy(&fixture->inventory);
    bus_producer_destroy(&fixture->producer);
    bus_stream_destroy(&fixture->stream);
    svc_metrics_destroy(&fixture->metrics);
    svc_log_destroy(&fixture->log);
    ts_pg_drop_db(&fixture->inventory_db);
    ts_pg_drop_db(&fixture->order_db);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  SQL helpers for assertions.

//  The single value of a query with text parameters, as an integer.
static int64_t
s_count(fixture_t *fixture, const char *sql, int count, const char *const *values)
{
    PGresult *result = PQexecParams(fixture->conn, sql, count, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(result));
    }
    int64_t value = PQgetisnull(result, 0, 0) ? -1 : strtoll(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    return value;
}

static int64_t
s_count1(fixture_t *fixture, const char *sql, const char *value)
{
    const char *values[] = {value};
    return s_count(fixture, sql, 1, values);
}

//  The order stream's event at `seq`, decoded. Caller destroys it.
static Ev__V1__Envelope *
s_event(fixture_t *fixture, uint64_t seq)
{
    char seq_text[24];
    (void) snprintf(seq_text, sizeof seq_text, "%" PRIu64, seq);
    const char *values[] = {seq_text};
    PGresult *result = PQexecParams(fixture->conn,
                                    "SELECT envelope FROM bus_events"
                                    " WHERE stream = 'order-0' AND seq = $1::bigint",
                                    1, NULL, values, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(result), 1);
    Ev__V1__Envelope *envelope = NULL;
    assert_int_equal(bus_envelope_decode(PQgetvalue(result, 0, 0),
                                         (size_t) PQgetlength(result, 0, 0), &envelope),
                     BUS_OK);
    PQclear(result);
    return envelope;
}

static int64_t
s_events(fixture_t *fixture)
{
    return s_count(fixture, "SELECT count(*) FROM bus_events WHERE stream = 'order-0'", 0, NULL);
}

//  --------------------------------------------------------------------------
//  Commands and units.

static void
s_command(const char *text, order_create_t *command)
{
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    order_api_error_t error;
    assert_int_equal(order_api_parse_create(body, command, &error), 0);
    json_decref(body);
}

//  Prepare a create unit for `command` with an optional key; the caller
//  frees create->fingerprint (cast) afterwards.
static void
s_create_init(fixture_t *fixture,
              order_store_create_t *create,
              const order_create_t *command,
              const char *key)
{
    memset(create, 0, sizeof *create);
    create->store = fixture->store;
    create->command = command;
    svc_uuid_v7(&create->order_id);
    create->idempotency_key = key;
    create->fingerprint = key ? order_api_fingerprint(command) : NULL;
    svc_trace_from_header(TRACEPARENT, create->traceparent);
    svc_trace_id(create->traceparent, create->trace_id);
    create->created_at_us = order_store_now_us();
}

static void
s_create_fini(order_store_create_t *create)
{
    char *fingerprint = (char *) create->fingerprint;
    freen(fingerprint);
    create->fingerprint = NULL;
}

//  Create an order; returns the unit's rc and its last seq.
static bus_rc_t
s_create(fixture_t *fixture, order_store_create_t *create, uint64_t *last_seq)
{
    uint64_t seq = 0;
    bus_rc_t rc = bus_producer_call(fixture->producer, order_store_create, create, &seq);
    if (last_seq) {
        *last_seq = seq;
    }
    return rc;
}

static bus_rc_t
s_cancel(fixture_t *fixture,
         const svc_uuid_t *order_id,
         const char *reason,
         order_store_cancel_t *cancel,
         uint64_t *last_seq)
{
    memset(cancel, 0, sizeof *cancel);
    cancel->store = fixture->store;
    cancel->order_id = *order_id;
    cancel->reason = reason;
    svc_trace_from_header(NULL, cancel->traceparent);
    cancel->cancelled_at_us = order_store_now_us();
    uint64_t seq = 0;
    bus_rc_t rc = bus_producer_call(fixture->producer, order_store_cancel, cancel, &seq);
    if (last_seq) {
        *last_seq = seq;
    }
    return rc;
}

static void
s_get(fixture_t *fixture, const svc_uuid_t *order_id, order_view_t *view)
{
    memset(view, 0, sizeof *view);
    char *error = NULL;
    order_store_rc_t rc = order_store_get(fixture->store, fixture->conn, order_id, view, &error);
    if (rc != ORDER_STORE_OK) {
        fail_msg("get: %d %s", rc, error ? error : "");
    }
}

//  --------------------------------------------------------------------------
//  The held unit.

static int
s_held_unit(bus_tx_t *tx, void *arg)
{
    (void) tx;
    gate_t *gate = arg;
    pthread_mutex_lock(&gate->mutex);
    gate->held = true;
    pthread_cond_broadcast(&gate->cond);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    while (!gate->released) {
        if (pthread_cond_timedwait(&gate->cond, &gate->mutex, &deadline) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&gate->mutex);
    return 0;
}

static bool
s_gate_held(void *arg)
{
    gate_t *gate = arg;
    pthread_mutex_lock(&gate->mutex);
    bool held = gate->held;
    pthread_mutex_unlock(&gate->mutex);
    return held;
}

static void
s_gate_release(gate_t *gate)
{
    pthread_mutex_lock(&gate->mutex);
    gate->released = true;
    pthread_cond_broadcast(&gate->cond);
    pthread_mutex_unlock(&gate->mutex);
}

//  --------------------------------------------------------------------------
//  The stand-in publisher: one event about an order on "inventory-0".

typedef struct {
    Ev__V1__Envelope__PayloadCase payload_case; //  which event
    svc_uuid_t order_id;                        //  about which order
    svc_uuid_t message_id;                      //  its id (set by s_publish)
    const char *sku;                            //  StockRejected
    uint32_t requested;                         //  StockRejected
    uint32_t available;                         //  StockRejected
} publish_t;

static int
s_publish_unit(bus_tx_t *tx, void *arg)
{
    publish_t *publish = arg;
    ProtobufCBinaryData order_id = {16, publish->order_id.bytes};
    Ev__V1__StockReserved reserved;
    ev__v1__stock_reserved__init(&reserved);
    reserved.order_id = order_id;
    Ev__V1__StockRejected rejected;
    ev__v1__stock_rejected__init(&rejected);
    rejected.order_id = order_id;
    rejected.sku = (char *) publish->sku;
    rejected.requested = publish->requested;
    rejected.available = publish->available;
    Ev__V1__StockReleased released;
    ev__v1__stock_released__init(&released);
    released.order_id = order_id;
    Ev__V1__Money amount;
    ev__v1__money__init(&amount);
    amount.currency = "EUR";
    amount.amount_minor = 5997;
    Ev__V1__PaymentStarted started;
    ev__v1__payment_started__init(&started);
    started.order_id = order_id;
    started.amount = &amount;
    Ev__V1__PaymentVoided voided;
    ev__v1__payment_voided__init(&voided);
    voided.order_id = order_id;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.message_id = (ProtobufCBinaryData){16, publish->message_id.bytes};
    envelope.traceparent = TRACEPARENT;
    envelope.payload_case = publish->payload_case;
    envelope.stock_reserved = &reserved;
    switch (publish->payload_case) {
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED:
            envelope.stock_rejected = &rejected;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_STOCK_RELEASED:
            envelope.stock_released = &released;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED:
            envelope.payment_started = &started;
            break;
        case EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED:
            envelope.payment_voided = &voided;
            break;
        default:
            break;
    }
    return bus_tx_append(tx, &envelope, publish->order_id.bytes, 16);
}

//  Publish with the message id the caller set (a duplicate, on purpose).
static void
s_publish_as(fixture_t *fixture, publish_t *publish)
{
    assert_int_equal(bus_producer_call(fixture->inventory_producer, s_publish_unit, publish, NULL),
                     BUS_OK);
}

static void
s_publish(fixture_t *fixture, publish_t *publish)
{
    svc_uuid_v7(&publish->message_id);
    s_publish_as(fixture, publish);
}

static void
s_publish_simple(fixture_t *fixture,
                 Ev__V1__Envelope__PayloadCase payload_case,
                 const svc_uuid_t *order_id)
{
    publish_t publish = {.payload_case = payload_case, .order_id = *order_id};
    s_publish(fixture, &publish);
}

//  --------------------------------------------------------------------------
//  The read model: a subscriber of "inventory-0" applying with
//  order_store_apply on its own connection, and through the order
//  stream's writer for batches that compensate (as order-service does).

static int
s_handler(bus_apply_t *apply, const Ev__V1__Envelope *const *events, size_t count, void *arg)
{
    fixture_t *fixture = arg;
    counts_t *counts = &fixture->counts;
    atomic_fetch_add(&counts->batches, 1);
    size_t largest = atomic_load(&counts->largest);
    while (count > largest && !atomic_compare_exchange_weak(&counts->largest, &largest, count)) {
    }
    order_store_applied_t *applied = zmalloc(count * sizeof *applied);
    int rc = order_store_apply(fixture->store, apply, events, count, applied);
    for (size_t index = 0; rc == 0 && index < count; index++) {
        atomic_fetch_add(&counts->handled, applied[index].handled);
        atomic_fetch_add(&counts->known, applied[index].known);
        atomic_fetch_add(&counts->recorded, applied[index].recorded);
        atomic_fetch_add(&counts->compensated, applied[index].compensated);
    }
    freen(applied);
    return rc;
}

static void
s_subscribe(fixture_t *fixture)
{
    char *publishers = zsys_sprintf("tcp://127.0.0.1:%d", bus_stream_pub_port(fixture->inventory));
    bus_subscriber_config_t config = {.consumer = "order",
                                      .conninfo = fixture->order_db,
                                      .stream = fixture->stream,
                                      .writer_for_appends = true, //  as order-service
                                      .publishers = publishers,
                                      .types = s_types,
                                      .batch_handler = s_handler,
                                      .handler_arg = fixture,
                                      .log = fixture->log,
                                      .metrics = fixture->metrics};
    fixture->subscriber = bus_subscriber_new(&config);
    assert_non_null(fixture->subscriber);
    zstr_free(&publishers);
}

typedef struct {
    fixture_t *fixture;
    uint64_t applied;
} applied_wait_t;

static bool
s_applied_reached(void *arg)
{
    applied_wait_t *wait = arg;
    return bus_subscriber_applied(wait->fixture->subscriber) >= wait->applied;
}

static void
s_wait_applied(fixture_t *fixture, uint64_t applied)
{
    applied_wait_t wait = {fixture, applied};
    if (!ts_wait_until(s_applied_reached, &wait, WAIT_MS)) {
        fail_msg("applied %" PRIu64 " of %" PRIu64, bus_subscriber_applied(fixture->subscriber),
                 applied);
    }
}

//  Batches the read model ran again in the writer's transaction.
static uint64_t
s_rerouted_count(fixture_t *fixture)
{
    return svc_counter_value(svc_metrics_counter(fixture->metrics, "bus_apply_rerouted_total", "",
                                                 "consumer", "order", NULL));
}

//  ==========================================================================
//  Cases

//  The usage example: create an order, read it back.
static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t create;
    s_create_init(fixture, &create, &command, NULL);
    uint64_t seq = 0;
    assert_int_equal(s_create(fixture, &create, &seq), BUS_OK);
    assert_int_equal(create.outcome, ORDER_CREATE_CREATED);
    assert_int_equal(seq, 1);
    order_view_t view;
    s_get(fixture, &create.order_id, &view);
    assert_string_equal(view.customer_id, "c-42");
    assert_int_equal(view.total_minor, 5997);
    order_view_clear(&view);
    s_create_fini(&create);
}

//  Create commits the order, its lines, its history and OrderCreated
//  together, and the event carries what the contract says.
static void
test_create_commits_everything(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t create;
    s_create_init(fixture, &create, &command, NULL);
    uint64_t seq = 0;
    assert_int_equal(s_create(fixture, &create, &seq), BUS_OK);
    assert_int_equal(seq, 1);
    char id[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&create.order_id, id);

    assert_int_equal(s_count1(fixture,
                              "SELECT count(*) FROM orders WHERE order_id = $1::uuid"
                              " AND status = 'PENDING' AND total_minor = 5997"
                              " AND customer_id = 'c-42' AND currency = 'EUR'"
                              " AND trace_id = '" TRACE_ID "'",
                              id),
                     1);
    assert_int_equal(s_count1(fixture,
                              "SELECT count(*) FROM order_items WHERE order_id = $1::uuid"
                              " AND ((line = 1 AND sku = 'SKU-1' AND quantity = 2)"
                              "   OR (line = 2 AND sku = 'SKU-2' AND quantity = 1))"
                              " AND unit_price_minor = 1999",
                              id),
                     2);
    //  The history row got the event's seq from the trigger, and the
    //  event's message id.
    assert_int_equal(s_count1(fixture,
                              "SELECT count(*) FROM order_history AS h JOIN bus_events AS e"
                              " ON e.message_id = h.message_id"
                              " WHERE h.order_id = $1::uuid AND h.event = 'OrderCreated'"
                              " AND h.stream = 'order-0' AND h.seq = 1 AND e.seq = 1",
                              id),
                     1);
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM order_idempotency", 0, NULL), 0);

    Ev__V1__Envelope *event = s_event(fixture, 1);
    assert_int_equal(event->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED);
    assert_string_equal(event->type, "OrderCreated");
    assert_memory_equal(event->correlation_id.data, create.order_id.bytes, 16);
    assert_int_equal(event->causation_id.len, 0);
    assert_string_equal(event->traceparent, create.traceparent);
    assert_string_not_equal(event->traceparent, TRACEPARENT); //  a child span
    assert_int_equal(event->partition,
                     bus_partition_of(create.order_id.bytes, 16, BUS_PARTITIONS_DEFAULT));
    assert_int_equal(event->occurred_at_us, create.created_at_us);
    const Ev__V1__OrderCreated *created = event->order_created;
    assert_memory_equal(created->order_id.data, create.order_id.bytes, 16);
    assert_string_equal(created->customer_id, "c-42");
    assert_string_equal(created->total->currency, "EUR");
    assert_int_equal(created->total->amount_minor, 5997);
    assert_int_equal(created->n_items, 2);
    assert_string_equal(created->items[1]->sku, "SKU-2");
    assert_int_equal(created->items[0]->quantity, 2);
    assert_int_equal(created->items[0]->unit_price->amount_minor, 1999);
    assert_int_equal(created->created_at_us, create.created_at_us);
    bus_envelope_destroy(&event);

    order_view_t view;
    s_get(fixture, &create.order_id, &view);
    assert_memory_equal(view.order_id.bytes, create.order_id.bytes, 16);
    assert_int_equal(view.state.status, ORDER_PENDING);
    assert_string_equal(view.trace_id, TRACE_ID);
    assert_int_equal(view.created_at_us, create.created_at_us);
    assert_int_equal(view.item_count, 2);
    assert_int_equal(view.items[0].unit_price_minor, 1999);
    assert_int_equal(view.history_count, 1);
    assert_string_equal(view.history[0].event, "OrderCreated");
    assert_int_equal(view.history[0].seq, 1);
    assert_int_equal(view.history[0].at_us, create.created_at_us);
    assert_null(view.cancel_reason);
    order_view_clear(&view);
    s_create_fini(&create);
}

//  A unit whose statement fails leaves nothing: not the key's record, not
//  the order, not an event. (Its order id is taken.)
static void
test_create_failure_leaves_nothing(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t first;
    s_create_init(fixture, &first, &command, NULL);
    assert_int_equal(s_create(fixture, &first, NULL), BUS_OK);
    order_store_create_t clash;
    s_create_init(fixture, &clash, &command, "key-clash");
    clash.order_id = first.order_id;
    assert_int_equal(s_create(fixture, &clash, NULL), BUS_HANDLER_FAILED);
    assert_true(strlen(clash.error) > 0);
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM order_idempotency", 0, NULL), 0);
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM orders", 0, NULL), 1);
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM order_items", 0, NULL), 2);
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM order_history", 0, NULL), 1);
    assert_int_equal(s_events(fixture), 1);
    s_create_fini(&clash);
    s_create_fini(&first);
}

//  Idempotency: same key and command -> the same order, nothing new;
//  same key, other command -> refused, nothing new; also after a restart.
static void
test_idempotency(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t first;
    s_create_init(fixture, &first, &command, "key-1");
    assert_int_equal(s_create(fixture, &first, NULL), BUS_OK);
    assert_int_equal(first.outcome, ORDER_CREATE_CREATED);

    order_create_t again;
    s_command(BODY_A_AGAIN, &again);
    order_store_create_t replay;
    s_create_init(fixture, &replay, &again, "key-1");
    uint64_t seq = 99;
    assert_int_equal(s_create(fixture, &replay, &seq), BUS_OK);
    assert_int_equal(replay.outcome, ORDER_CREATE_REPLAYED);
    assert_memory_equal(replay.existing_id.bytes, first.order_id.bytes, 16);
    assert_int_equal(seq, 0);

    order_create_t other;
    s_command(BODY_B, &other);
    order_store_create_t reused;
    s_create_init(fixture, &reused, &other, "key-1");
    assert_int_equal(s_create(fixture, &reused, &seq), BUS_OK);
    assert_int_equal(reused.outcome, ORDER_CREATE_KEY_REUSED);
    assert_memory_equal(reused.existing_id.bytes, first.order_id.bytes, 16);

    assert_int_equal(s_count(fixture, "SELECT count(*) FROM orders", 0, NULL), 1);
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM order_history", 0, NULL), 1);
    assert_int_equal(s_events(fixture), 1);

    //  A restart (a new writer) keeps the key.
    bus_producer_destroy(&fixture->producer);
    bus_stream_destroy(&fixture->stream);
    fixture->stream = s_stream_new(fixture, "order-0", fixture->order_db, true);
    fixture->producer = bus_producer_new(fixture->stream);
    order_store_create_t later;
    s_create_init(fixture, &later, &command, "key-1");
    assert_int_equal(s_create(fixture, &later, NULL), BUS_OK);
    assert_int_equal(later.outcome, ORDER_CREATE_REPLAYED);
    assert_memory_equal(later.existing_id.bytes, first.order_id.bytes, 16);
    assert_int_equal(s_events(fixture), 1);

    //  Another key is another order.
    order_store_create_t fresh;
    s_create_init(fixture, &fresh, &command, "key-2");
    assert_int_equal(s_create(fixture, &fresh, &seq), BUS_OK);
    assert_int_equal(fresh.outcome, ORDER_CREATE_CREATED);
    assert_int_equal(seq, 2);
    s_create_fini(&fresh);
    s_create_fini(&later);
    s_create_fini(&reused);
    s_create_fini(&replay);
    s_create_fini(&first);
}

//  Submit `count` creates as sets while the writer is held inside a batch,
//  then let it go: they all meet in the next batch, as one set. The held
//  unit completes too (tag NULL).
static void
s_submit_one_set(fixture_t *fixture, order_store_create_t *creates, int count)
{
    assert_int_equal(bus_producer_submit(fixture->producer, s_held_unit, &fixture->gate, NULL), 0);
    assert_true(ts_wait_until(s_gate_held, &fixture->gate, WAIT_MS));
    for (int index = 0; index < count; index++) {
        assert_int_equal(bus_producer_submit_set(fixture->producer, order_store_create_set,
                                                 order_store_create, &creates[index],
                                                 &creates[index]),
                         0);
    }
    s_gate_release(&fixture->gate);
}

//  Requests with one key in ONE batch (one set, one statement) create one
//  order: the first; a different command with that key in the batch is
//  refused.
static void
test_idempotency_same_batch(void **state)
{
    fixture_t *fixture = *state;
#define SAME_BATCH 6
    order_create_t command;
    s_command(BODY_A, &command);
    order_create_t other;
    s_command(BODY_B, &other);
    order_store_create_t creates[SAME_BATCH];
    for (int index = 0; index < SAME_BATCH; index++) {
        s_create_init(fixture, &creates[index], index == SAME_BATCH - 1 ? &other : &command,
                      "same-key");
    }
    int commits_before = atomic_load(&fixture->commits);
    s_submit_one_set(fixture, creates, SAME_BATCH);
    for (int received = 0; received < SAME_BATCH + 1; received++) {
        bus_completion_t done;
        assert_int_equal(bus_producer_recv(fixture->producer, &done), 0);
        assert_int_equal(done.rc, BUS_OK);
    }
    //  The held batch and one more: all creates were in one transaction.
    assert_int_equal(atomic_load(&fixture->commits) - commits_before, 2);
    int created = 0;
    const svc_uuid_t *order_id = NULL;
    for (int index = 0; index < SAME_BATCH; index++) {
        if (creates[index].outcome == ORDER_CREATE_CREATED) {
            created++;
            order_id = &creates[index].order_id;
        }
    }
    assert_int_equal(created, 1);
    assert_int_equal(creates[0].outcome, ORDER_CREATE_CREATED);
    for (int index = 0; index < SAME_BATCH; index++) {
        if (creates[index].outcome != ORDER_CREATE_CREATED) {
            assert_memory_equal(creates[index].existing_id.bytes, order_id->bytes, 16);
            assert_int_equal(creates[index].outcome, index == SAME_BATCH - 1
                                                         ? ORDER_CREATE_KEY_REUSED
                                                         : ORDER_CREATE_REPLAYED);
        }
        s_create_fini(&creates[index]);
    }
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM orders", 0, NULL), 1);
    assert_int_equal(s_events(fixture), 1);
}

//  A set of creates in which one cannot be stored (its order id is taken)
//  fails that one alone: the others are created, each with its lines, its
//  history row and its OrderCreated, in submission order.
static void
test_create_set_isolates_a_failure(void **state)
{
    fixture_t *fixture = *state;
#define SET_CREATES 5
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t taken;
    s_create_init(fixture, &taken, &command, NULL);
    assert_int_equal(s_create(fixture, &taken, NULL), BUS_OK);
    order_store_create_t creates[SET_CREATES];
    for (int index = 0; index < SET_CREATES; index++) {
        s_create_init(fixture, &creates[index], &command, NULL);
        if (index == 2) {
            creates[index].order_id = taken.order_id;
        }
    }
    s_submit_one_set(fixture, creates, SET_CREATES);
    uint64_t last_seq = 1;
    for (int received = 0; received < SET_CREATES + 1; received++) {
        bus_completion_t done;
        assert_int_equal(bus_producer_recv(fixture->producer, &done), 0);
        if (!done.tag) {
            continue; //  the held unit
        }
        order_store_create_t *create = done.tag;
        if (create == &creates[2]) {
            assert_int_equal(done.rc, BUS_HANDLER_FAILED);
            assert_true(strlen(create->error) > 0);
        } else {
            assert_int_equal(done.rc, BUS_OK);
            assert_int_equal(create->outcome, ORDER_CREATE_CREATED);
            assert_int_equal(done.last_seq, last_seq + 1);
            last_seq = done.last_seq;
        }
    }
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM orders", 0, NULL), SET_CREATES);
    assert_int_equal(s_count(fixture, "SELECT count(*) FROM order_items", 0, NULL),
                     SET_CREATES * 2);
    assert_int_equal(s_count(fixture,
                             "SELECT count(*) FROM order_history"
                             " WHERE event = 'OrderCreated' AND seq IS NOT NULL",
                             0, NULL),
                     SET_CREATES);
    assert_int_equal(s_events(fixture), SET_CREATES);
    for (int index = 0; index < SET_CREATES; index++) {
        s_create_fini(&creates[index]);
    }
    s_create_fini(&taken);
}

//  The read model outside the writer never waits for an order the writer
//  holds: the writer's units lock orders in any order (a cancel, then
//  another), the read model in id order, so a wait could close a
//  deadlock. A unit holds the later order, the read model's batch meets
//  it (NOWAIT) and goes into the writer instead (counted); then the unit
//  locks the earlier order too, which nobody holds: both commit, the
//  events are applied once, and PostgreSQL saw no deadlock.

typedef struct {
    gate_t *gate;            //  the test's gate (borrowed)
    const svc_uuid_t *later; //  locked first
    const svc_uuid_t *first; //  locked after the gate opens
} crossed_t;

static int
s_lock_order(PGconn *conn, const svc_uuid_t *order_id)
{
    char text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(order_id, text);
    const char *values[] = {text};
    PGresult *result =
        PQexecParams(conn, "SELECT 1 FROM orders WHERE order_id = $1::uuid FOR UPDATE", 1, NULL,
                     values, NULL, NULL, 0);
    int rc = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 ? 0 : -1;
    PQclear(result);
    return rc;
}

static int
s_crossed_unit(bus_tx_t *tx, void *arg)
{
    crossed_t *crossed = arg;
    if (s_lock_order(bus_tx_conn(tx), crossed->later) != 0) {
        return -1;
    }
    (void) s_held_unit(tx, crossed->gate);
    return s_lock_order(bus_tx_conn(tx), crossed->first);
}

static bool
s_rerouted(void *arg)
{
    return s_rerouted_count(arg) > 0;
}

static void
test_read_model_never_waits_for_the_writer(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t one, other;
    s_create_init(fixture, &one, &command, NULL);
    assert_int_equal(s_create(fixture, &one, NULL), BUS_OK);
    s_create_init(fixture, &other, &command, NULL);
    assert_int_equal(s_create(fixture, &other, NULL), BUS_OK);
    bool one_first = memcmp(one.order_id.bytes, other.order_id.bytes, 16) < 0;
    crossed_t crossed = {.gate = &fixture->gate,
                         .first = one_first ? &one.order_id : &other.order_id,
                         .later = one_first ? &other.order_id : &one.order_id};
    s_subscribe(fixture);

    assert_int_equal(bus_producer_submit(fixture->producer, s_crossed_unit, &crossed, &crossed), 0);
    assert_true(ts_wait_until(s_gate_held, &fixture->gate, WAIT_MS));
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, crossed.first);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, crossed.later);
    assert_true(ts_wait_until(s_rerouted, fixture, WAIT_MS));
    s_gate_release(&fixture->gate);
    bus_completion_t done;
    assert_int_equal(bus_producer_recv(fixture->producer, &done), 0);
    assert_int_equal(done.rc, BUS_OK);
    s_wait_applied(fixture, 2);
    for (int index = 0; index < 2; index++) {
        order_view_t view;
        s_get(fixture, index ? &other.order_id : &one.order_id, &view);
        assert_int_equal(view.state.status, ORDER_RESERVED);
        assert_int_equal(view.history_count, 2);
        order_view_clear(&view);
    }
    assert_int_equal(s_count(fixture,
                             "SELECT deadlocks FROM pg_stat_database"
                             " WHERE datname = current_database()",
                             0, NULL),
                     0);
    s_create_fini(&other);
    s_create_fini(&one);
}

//  Cancel: once (CANCELLED, history, OrderCancelled), then refused; an
//  unknown order is not found.
static void
test_cancel(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t create;
    s_create_init(fixture, &create, &command, NULL);
    assert_int_equal(s_create(fixture, &create, NULL), BUS_OK);

    order_store_cancel_t cancel;
    uint64_t seq = 0;
    assert_int_equal(s_cancel(fixture, &create.order_id, "changed my mind", &cancel, &seq), BUS_OK);
    assert_int_equal(cancel.outcome, ORDER_CANCEL_CANCELLED);
    assert_int_equal(cancel.status, ORDER_CANCELLED);
    assert_int_equal(seq, 2);
    //  The unit read the order back; its new event's seq comes at commit.
    assert_int_equal(cancel.view.state.status, ORDER_CANCELLED);
    assert_string_equal(cancel.view.cancel_reason, "changed my mind");
    assert_int_equal(cancel.view.history_count, 2);
    assert_string_equal(cancel.view.history[1].event, "OrderCancelled");
    assert_int_equal(cancel.view.history[1].seq, 0);
    order_view_clear(&cancel.view);
    Ev__V1__Envelope *event = s_event(fixture, 2);
    assert_int_equal(event->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED);
    assert_memory_equal(event->order_cancelled->order_id.data, create.order_id.bytes, 16);
    assert_string_equal(event->order_cancelled->reason, "changed my mind");
    assert_int_equal(event->order_cancelled->cancelled_at_us, cancel.cancelled_at_us);
    assert_memory_equal(event->correlation_id.data, create.order_id.bytes, 16);
    assert_int_equal(event->causation_id.len, 0);
    assert_string_equal(event->traceparent, cancel.traceparent);
    assert_int_equal(event->partition,
                     bus_partition_of(create.order_id.bytes, 16, BUS_PARTITIONS_DEFAULT));
    bus_envelope_destroy(&event);

    order_view_t view;
    s_get(fixture, &create.order_id, &view);
    assert_int_equal(view.state.status, ORDER_CANCELLED);
    assert_string_equal(view.cancel_reason, "changed my mind");
    assert_int_equal(view.updated_at_us, cancel.cancelled_at_us);
    assert_int_equal(view.history_count, 2);
    assert_string_equal(view.history[1].event, "OrderCancelled");
    assert_string_equal(view.history[1].stream, "order-0");
    assert_int_equal(view.history[1].seq, 2);
    assert_string_equal(view.history[1].reason, "changed my mind");
    order_view_clear(&view);

    assert_int_equal(s_cancel(fixture, &create.order_id, "again", &cancel, &seq), BUS_OK);
    assert_int_equal(cancel.outcome, ORDER_CANCEL_REFUSED);
    assert_int_equal(cancel.status, ORDER_CANCELLED);
    assert_int_equal(seq, 0);
    assert_int_equal(s_events(fixture), 2);
    assert_int_equal(cancel.view.state.status, ORDER_CANCELLED);
    assert_int_equal(cancel.view.history[1].seq, 2);
    order_view_clear(&cancel.view);

    svc_uuid_t unknown;
    svc_uuid_v7(&unknown);
    assert_int_equal(s_cancel(fixture, &unknown, "x", &cancel, &seq), BUS_OK);
    assert_int_equal(cancel.outcome, ORDER_CANCEL_NOT_FOUND);
    assert_null(cancel.view.items);
    assert_int_equal(s_events(fixture), 2);
    s_create_fini(&create);
}

//  The read model: StockReserved and PaymentStarted in either order make
//  PAYMENT_STARTED; history names each event's stream and seq; an event
//  about an order we do not know is skipped.
static void
test_read_model(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t first;
    s_create_init(fixture, &first, &command, NULL);
    assert_int_equal(s_create(fixture, &first, NULL), BUS_OK);
    order_store_create_t second;
    s_create_init(fixture, &second, &command, NULL);
    assert_int_equal(s_create(fixture, &second, NULL), BUS_OK);
    s_subscribe(fixture);

    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, &first.order_id);
    s_wait_applied(fixture, 1);
    order_view_t view;
    s_get(fixture, &first.order_id, &view);
    assert_int_equal(view.state.status, ORDER_RESERVED);
    assert_true(view.state.stock_reserved);
    assert_false(view.state.payment_started);
    assert_true(view.updated_at_us > view.created_at_us);
    order_view_clear(&view);

    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, &second.order_id);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, &first.order_id);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, &second.order_id);
    svc_uuid_t unknown;
    svc_uuid_v7(&unknown);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, &unknown);
    s_wait_applied(fixture, 5);

    const svc_uuid_t *orders[] = {&first.order_id, &second.order_id};
    for (int index = 0; index < 2; index++) {
        s_get(fixture, orders[index], &view);
        assert_int_equal(view.state.status, ORDER_PAYMENT_STARTED);
        assert_true(view.state.stock_reserved);
        assert_true(view.state.payment_started);
        assert_int_equal(view.history_count, 3);
        assert_string_equal(view.history[0].event, "OrderCreated");
        assert_string_equal(view.history[1].event, index == 0 ? "StockReserved" : "PaymentStarted");
        assert_string_equal(view.history[2].event, index == 0 ? "PaymentStarted" : "StockReserved");
        assert_string_equal(view.history[1].stream, "inventory-0");
        assert_true(view.history[1].seq >= 1 && view.history[2].seq > view.history[1].seq);
        order_view_clear(&view);
    }
    assert_int_equal(atomic_load(&fixture->counts.handled), 5);
    assert_int_equal(atomic_load(&fixture->counts.known), 4);
    assert_int_equal(atomic_load(&fixture->counts.recorded), 4);
    char unknown_text[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&unknown, unknown_text);
    assert_int_equal(s_count1(fixture,
                              "SELECT count(*) FROM order_history WHERE order_id = $1::uuid",
                              unknown_text),
                     0);
    assert_int_equal(s_events(fixture), 2); //  nothing appended
    s_create_fini(&second);
    s_create_fini(&first);
}

//  StockRejected: REJECTED, the reason naming the SKU, and ONE
//  compensating OrderCancelled, even with a second rejection and with
//  every event applied again after the checkpoints were lost. Events after
//  the final state only add history.
static void
test_rejected_compensates_once(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t create;
    s_create_init(fixture, &create, &command, NULL);
    assert_int_equal(s_create(fixture, &create, NULL), BUS_OK);
    s_subscribe(fixture);

    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, &create.order_id);
    publish_t rejected = {.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED,
                          .order_id = create.order_id,
                          .sku = "SKU-9",
                          .requested = 3,
                          .available = 1};
    s_publish(fixture, &rejected);
    s_wait_applied(fixture, 2);
    const char *reason = "out of stock: SKU-9 (requested 3, available 1)";
    order_view_t view;
    s_get(fixture, &create.order_id, &view);
    assert_int_equal(view.state.status, ORDER_REJECTED);
    assert_string_equal(view.cancel_reason, reason);
    assert_int_equal(view.history_count, 4);
    assert_string_equal(view.history[2].event, "StockRejected");
    assert_string_equal(view.history[3].event, "OrderCancelled");
    assert_string_equal(view.history[3].stream, "order-0");
    assert_int_equal(view.history[3].seq, 2);
    assert_string_equal(view.history[3].reason, reason);
    order_view_clear(&view);

    //  The compensation: caused by the rejection, in its trace.
    assert_int_equal(s_events(fixture), 2);
    Ev__V1__Envelope *event = s_event(fixture, 2);
    assert_int_equal(event->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED);
    assert_string_equal(event->order_cancelled->reason, reason);
    assert_memory_equal(event->causation_id.data, rejected.message_id.bytes, 16);
    assert_memory_equal(event->correlation_id.data, create.order_id.bytes, 16);
    char trace_id[SVC_TRACE_ID_SIZE];
    svc_trace_id(event->traceparent, trace_id);
    assert_string_equal(trace_id, TRACE_ID);
    assert_string_not_equal(event->traceparent, TRACEPARENT);
    bus_envelope_destroy(&event);
    assert_int_equal(atomic_load(&fixture->counts.compensated), 1);

    //  Another rejection and later events: history only.
    s_publish(fixture, &rejected);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, &create.order_id);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_VOIDED, &create.order_id);
    s_wait_applied(fixture, 5);
    s_get(fixture, &create.order_id, &view);
    assert_int_equal(view.state.status, ORDER_REJECTED);
    assert_false(view.state.stock_reserved);
    assert_true(view.state.payment_started);
    assert_string_equal(view.cancel_reason, reason);
    assert_int_equal(view.history_count, 7);
    assert_string_equal(view.history[6].event, "PaymentVoided");
    order_view_clear(&view);
    assert_int_equal(s_events(fixture), 2);
    assert_int_equal(atomic_load(&fixture->counts.compensated), 1);

    //  Lose the checkpoints: every event is applied again, with no effect.
    bus_subscriber_destroy(&fixture->subscriber);
    PGresult *result =
        PQexec(fixture->conn, "DELETE FROM bus_checkpoints WHERE consumer = 'order'");
    assert_int_equal(PQresultStatus(result), PGRES_COMMAND_OK);
    assert_true(atoi(PQcmdTuples(result)) > 0);
    PQclear(result);
    int recorded = atomic_load(&fixture->counts.recorded);
    s_subscribe(fixture);
    s_wait_applied(fixture, 5);
    assert_int_equal(atomic_load(&fixture->counts.recorded), recorded);
    assert_int_equal(atomic_load(&fixture->counts.compensated), 1);
    assert_int_equal(s_events(fixture), 2);
    char id[SVC_UUID_TEXT_SIZE];
    svc_uuid_format(&create.order_id, id);
    assert_int_equal(
        s_count1(fixture, "SELECT count(*) FROM order_history WHERE order_id = $1::uuid", id), 7);
    s_create_fini(&create);
}

//  --------------------------------------------------------------------------
//  Several events in one batch: published before the read model starts,
//  they reach it in one replay reply, so in one call of the handler.

//  Create an order of BODY_A; returns its id.
static svc_uuid_t
s_order(fixture_t *fixture)
{
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t create;
    s_create_init(fixture, &create, &command, NULL);
    assert_int_equal(s_create(fixture, &create, NULL), BUS_OK);
    s_create_fini(&create);
    return create.order_id;
}

//  Start the read model and wait until it applied `count` events as ONE
//  batch: one call of the handler, or two when the batch compensates (its
//  first call, outside the writer, sends it into the writer's).
static void
s_subscribe_one_batch(fixture_t *fixture, int count)
{
    int batches = atomic_load(&fixture->counts.batches);
    uint64_t rerouted = s_rerouted_count(fixture);
    s_subscribe(fixture);
    s_wait_applied(fixture, (uint64_t) count);
    assert_int_equal(atomic_load(&fixture->counts.batches),
                     batches + 1 + (int) (s_rerouted_count(fixture) - rerouted));
    assert_int_equal(atomic_load(&fixture->counts.largest), count);
}

//  The history events of an order, oldest first, as "A,B,C".
static void
s_assert_history(fixture_t *fixture, const svc_uuid_t *order_id, const char *expected)
{
    order_view_t view;
    s_get(fixture, order_id, &view);
    char events[512] = "";
    for (size_t index = 0; index < view.history_count; index++) {
        size_t used = strlen(events);
        (void) snprintf(events + used, sizeof events - used, "%s%s", index ? "," : "",
                        view.history[index].event);
    }
    assert_string_equal(events, expected);
    order_view_clear(&view);
}

//  Two events of one order (and one of another) in one batch: each moves
//  the state the one before it left, in seq order.
static void
test_batch_same_order(void **state)
{
    fixture_t *fixture = *state;
    svc_uuid_t first = s_order(fixture);
    svc_uuid_t second = s_order(fixture);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, &first);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED, &second);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, &first);
    s_subscribe_one_batch(fixture, 3);

    order_view_t view;
    s_get(fixture, &first, &view);
    assert_int_equal(view.state.status, ORDER_PAYMENT_STARTED);
    assert_true(view.state.stock_reserved);
    assert_true(view.state.payment_started);
    assert_int_equal(view.history_count, 3);
    assert_string_equal(view.history[1].event, "StockReserved");
    assert_int_equal(view.history[1].seq, 1);
    assert_string_equal(view.history[2].event, "PaymentStarted");
    assert_int_equal(view.history[2].seq, 3);
    order_view_clear(&view);
    s_get(fixture, &second, &view);
    assert_int_equal(view.state.status, ORDER_RESERVED);
    assert_int_equal(view.history_count, 2);
    assert_int_equal(view.history[1].seq, 2);
    order_view_clear(&view);
    assert_int_equal(atomic_load(&fixture->counts.recorded), 3);
    assert_int_equal(s_events(fixture), 2); //  nothing appended
}

//  A rejection and a payment for one order in one batch, in both orders,
//  and two rejections of one order: each rejected order is compensated
//  once, right after its rejection in the history, and a payment after
//  the rejection only adds history. The SKU (another service's text, in
//  the reason) has a quote and a backslash, which the arrays must keep.
static void
test_batch_rejection_and_payment(void **state)
{
    fixture_t *fixture = *state;
    svc_uuid_t paid_first = s_order(fixture);
    svc_uuid_t rejected_first = s_order(fixture);
    svc_uuid_t twice = s_order(fixture);
    publish_t rejection = {.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED,
                           .sku = "SKU-\"2\"\\",
                           .requested = 1,
                           .available = 0};
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, &paid_first);
    rejection.order_id = paid_first;
    s_publish(fixture, &rejection);
    rejection.order_id = rejected_first;
    s_publish(fixture, &rejection);
    s_publish_simple(fixture, EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED, &rejected_first);
    rejection.order_id = twice;
    s_publish(fixture, &rejection);
    svc_uuid_t first_rejection = rejection.message_id;
    s_publish(fixture, &rejection);
    s_subscribe_one_batch(fixture, 6);

    const char *reason = "out of stock: SKU-\"2\"\\ (requested 1, available 0)";
    order_view_t view;
    s_get(fixture, &paid_first, &view);
    assert_int_equal(view.state.status, ORDER_REJECTED);
    assert_true(view.state.payment_started);
    assert_string_equal(view.cancel_reason, reason);
    order_view_clear(&view);
    s_assert_history(fixture, &paid_first,
                     "OrderCreated,PaymentStarted,StockRejected,OrderCancelled");
    s_get(fixture, &rejected_first, &view);
    assert_int_equal(view.state.status, ORDER_REJECTED);
    assert_false(view.state.payment_started);
    order_view_clear(&view);
    s_assert_history(fixture, &rejected_first,
                     "OrderCreated,StockRejected,OrderCancelled,PaymentStarted");
    s_assert_history(fixture, &twice, "OrderCreated,StockRejected,OrderCancelled,StockRejected");
    assert_int_equal(atomic_load(&fixture->counts.compensated), 3);

    //  Three OrderCancelled after the three OrderCreated, in event order,
    //  each caused by the first rejection of its order; the history rows
    //  of the compensations got their seqs.
    assert_int_equal(s_events(fixture), 6);
    const svc_uuid_t *orders[] = {&paid_first, &rejected_first, &twice};
    for (uint64_t seq = 4; seq <= 6; seq++) {
        Ev__V1__Envelope *event = s_event(fixture, seq);
        assert_int_equal(event->payload_case, EV__V1__ENVELOPE__PAYLOAD_ORDER_CANCELLED);
        assert_memory_equal(event->order_cancelled->order_id.data, orders[seq - 4]->bytes, 16);
        assert_string_equal(event->order_cancelled->reason, reason);
        if (seq == 6) {
            assert_memory_equal(event->causation_id.data, first_rejection.bytes, 16);
        }
        bus_envelope_destroy(&event);
    }
    assert_int_equal(s_count(fixture,
                             "SELECT count(*) FROM order_history WHERE event = 'OrderCancelled'"
                             " AND seq BETWEEN 4 AND 6",
                             0, NULL),
                     3);
}

//  Duplicates by message id: one recorded by an earlier batch, and one
//  twice in the same batch. Each is recorded and applied once.
static void
test_batch_duplicates(void **state)
{
    fixture_t *fixture = *state;
    svc_uuid_t order_id = s_order(fixture);
    publish_t reserved = {.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED,
                          .order_id = order_id};
    s_publish(fixture, &reserved);
    s_subscribe(fixture);
    s_wait_applied(fixture, 1);
    bus_subscriber_destroy(&fixture->subscriber);

    s_publish_as(fixture, &reserved); //  seen in the earlier batch
    publish_t started = {.payload_case = EV__V1__ENVELOPE__PAYLOAD_PAYMENT_STARTED,
                         .order_id = order_id};
    s_publish(fixture, &started);
    s_publish_as(fixture, &started); //  twice in this batch
    s_subscribe_one_batch(fixture, 3);

    assert_int_equal(atomic_load(&fixture->counts.handled), 4);
    assert_int_equal(atomic_load(&fixture->counts.known), 4);
    assert_int_equal(atomic_load(&fixture->counts.recorded), 2);
    order_view_t view;
    s_get(fixture, &order_id, &view);
    assert_int_equal(view.state.status, ORDER_PAYMENT_STARTED);
    order_view_clear(&view);
    s_assert_history(fixture, &order_id, "OrderCreated,StockReserved,PaymentStarted");
}

//  A cancel after a rejection is refused; a rejection after a cancel does
//  not compensate.
static void
test_final_states(void **state)
{
    fixture_t *fixture = *state;
    order_create_t command;
    s_command(BODY_A, &command);
    order_store_create_t create;
    s_create_init(fixture, &create, &command, NULL);
    assert_int_equal(s_create(fixture, &create, NULL), BUS_OK);
    order_store_cancel_t cancel;
    assert_int_equal(s_cancel(fixture, &create.order_id, "bye", &cancel, NULL), BUS_OK);
    order_view_clear(&cancel.view);
    s_subscribe(fixture);
    publish_t rejected = {.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_REJECTED,
                          .order_id = create.order_id,
                          .sku = "SKU-1",
                          .requested = 2,
                          .available = 0};
    s_publish(fixture, &rejected);
    s_wait_applied(fixture, 1);
    order_view_t view;
    s_get(fixture, &create.order_id, &view);
    assert_int_equal(view.state.status, ORDER_CANCELLED);
    assert_string_equal(view.cancel_reason, "bye");
    assert_int_equal(view.history_count, 3);
    order_view_clear(&view);
    assert_int_equal(s_events(fixture), 2);
    assert_int_equal(atomic_load(&fixture->counts.compensated), 0);

    order_store_create_t other;
    s_create_init(fixture, &other, &command, NULL);
    assert_int_equal(s_create(fixture, &other, NULL), BUS_OK);
    rejected.order_id = other.order_id;
    s_publish(fixture, &rejected);
    s_wait_applied(fixture, 2);
    assert_int_equal(s_cancel(fixture, &other.order_id, "too late", &cancel, NULL), BUS_OK);
    assert_int_equal(cancel.outcome, ORDER_CANCEL_REFUSED);
    assert_int_equal(cancel.status, ORDER_REJECTED);
    assert_int_equal(cancel.view.state.status, ORDER_REJECTED);
    order_view_clear(&cancel.view);
    s_create_fini(&other);
    s_create_fini(&create);
}

//  Listing: newest first, pages joined by `after`, other customers apart.
static void
test_list(void **state)
{
    fixture_t *fixture = *state;
#define LISTED 5
    order_create_t command;
    s_command(BODY_A, &command);
    svc_uuid_t ids[LISTED];
    for (int index = 0; index < LISTED; index++) {
        order_store_create_t create;
        s_create_init(fixture, &create, &command, NULL);
        assert_int_equal(s_create(fixture, &create, NULL), BUS_OK);
        ids[index] = create.order_id;
    }
    order_create_t other;
    s_command(BODY_A, &other);
    (void) snprintf(other.customer_id, sizeof other.customer_id, "%s", "someone-else");
    order_store_create_t create;
    s_create_init(fixture, &create, &other, NULL);
    assert_int_equal(s_create(fixture, &create, NULL), BUS_OK);
    //  Newest first is descending id order.
    for (int pass = 0; pass < LISTED; pass++) {
        for (int index = 0; index + 1 < LISTED; index++) {
            if (memcmp(ids[index].bytes, ids[index + 1].bytes, 16) < 0) {
                svc_uuid_t swap = ids[index];
                ids[index] = ids[index + 1];
                ids[index + 1] = swap;
            }
        }
    }
    const svc_uuid_t *after = NULL;
    int seen = 0;
    for (int page_number = 0; page_number < 3; page_number++) {
        order_page_t page = {0};
        char *error = NULL;
        assert_int_equal(
            order_store_list(fixture->store, fixture->conn, "c-42", after, 2, &page, &error),
            ORDER_STORE_OK);
        assert_int_equal(page.count, page_number < 2 ? 2 : 1);
        assert_int_equal(page.more, page_number < 2);
        for (size_t index = 0; index < page.count; index++) {
            assert_memory_equal(page.views[index].order_id.bytes, ids[seen].bytes, 16);
            assert_int_equal(page.views[index].item_count, 2);
            assert_int_equal(page.views[index].history_count, 0);
            seen++;
        }
        after = &ids[seen - 1];
        order_page_clear(&page);
    }
    assert_int_equal(seen, LISTED);
    order_page_t page = {0};
    assert_int_equal(
        order_store_list(fixture->store, fixture->conn, "nobody", NULL, 20, &page, NULL),
        ORDER_STORE_OK);
    assert_int_equal(page.count, 0);
    assert_false(page.more);
    order_page_clear(&page);
    s_create_fini(&create);
}

//  Queries: an unknown order is NOT_FOUND; a lost connection UNAVAILABLE.
static void
test_query_failures(void **state)
{
    fixture_t *fixture = *state;
    svc_uuid_t unknown;
    svc_uuid_v7(&unknown);
    order_view_t view = {0};
    char *error = NULL;
    assert_int_equal(order_store_get(fixture->store, fixture->conn, &unknown, &view, &error),
                     ORDER_STORE_NOT_FOUND);
    assert_null(error);

    PGconn *other = PQconnectdb(fixture->order_db);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    char pid[16];
    (void) snprintf(pid, sizeof pid, "%d", PQbackendPID(fixture->conn));
    const char *values[] = {pid};
    PGresult *result = PQexecParams(other, "SELECT pg_terminate_backend($1::integer)", 1, NULL,
                                    values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    PQclear(result);
    PQfinish(other);
    assert_int_equal(order_store_get(fixture->store, fixture->conn, &unknown, &view, &error),
                     ORDER_STORE_UNAVAILABLE);
    assert_non_null(error);
    zstr_free(&error);
    order_page_t page = {0};
    assert_int_equal(order_store_list(fixture->store, fixture->conn, "c", NULL, 1, &page, &error),
                     ORDER_STORE_UNAVAILABLE);
    zstr_free(&error);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_create_commits_everything, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_create_set_isolates_a_failure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_create_failure_leaves_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_same_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read_model, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read_model_never_waits_for_the_writer, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_rejected_compensates_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_same_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_rejection_and_payment, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_duplicates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_final_states, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_query_failures, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
