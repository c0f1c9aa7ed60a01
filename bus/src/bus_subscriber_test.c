/*  =========================================================================
    bus_subscriber_test - subscribers against a real publisher and PostgreSQL

    Each case gets two fresh databases from the cluster scripts/test.sh
    starts (TEST_PG_DSN): the publisher's, where a bus_stream in this
    process writes order events, and the consumer's, where the handler
    inserts (stream, seq) into `applied`, whose UNIQUE constraint turns any
    double apply into a handler failure (and so into a dead letter). Every
    wait is ts_wait_until on a database count or a counter; nothing sleeps.

    Loss on the live path is made on purpose by a relay in this file: it
    forwards the publisher's PUB and ROUTER like a network would, and drops
    every Nth live event, as a high-water mark or a broken link would.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_control.h"
#include "bus_envelope.h"
#include "bus_inbox.h"
#include "bus_keys.h"
#include "bus_stream.h"
#include "bus_subscriber.h"
#include "ts.h"

#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  How long any single wait in these tests may take.
#define WAIT_MS 60000

//  The consumer group of every case.
#define CONSUMER "test"

//  The trace of every OrderCreated published here.
#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"

//  What the handler does, shared by every subscriber of a case (atomics:
//  several subscribers call it from their own threads).
typedef struct {
    atomic_uint_fast64_t poison_seq; //  fail this seq (0 = none) ...
    atomic_bool fixed;               //  ... until this is set
    atomic_int slow_calls;           //  this many calls first sleep 10 ms in SQL
    atomic_bool append;              //  also append a StockReserved (config.stream set)
    atomic_bool batched;             //  configure the batch handler instead of the handler
    atomic_int batch_calls;          //  calls of the batch handler
    atomic_size_t largest_batch;     //  the most events it got in one call
    atomic_bool disordered;          //  it got events not in seq order, or of two streams
    atomic_bool unavailable;         //  say bus_apply_unavailable (both handlers) ...
    atomic_int unavailable_calls;    //  ... and count how often it did
    atomic_bool watch_commit;        //  the batch handler counts its transactions' ...
    atomic_int commits_sync;         //  ... synchronous_commit on ...
    atomic_int commits_async;        //  ... and off
    atomic_int grow_ms;              //  the batch handler then grows its batch this long ...
    atomic_size_t grown;             //  ... counting the events it got so
    atomic_int refuse_grown;         //  ... and says unavailable after growing, this often
} handler_t;

typedef struct {
    char *pub_db;             //  the publisher's database (owned)
    char *sub_db;             //  the consumer's database (owned)
    svc_log_t *log;           //  test log on stderr (owned)
    svc_metrics_t *metrics;   //  registry (owned)
    bus_stream_t *stream;     //  the publisher "order-0" (owned)
    bus_producer_t *producer; //  this thread's producer (owned)
    char *publishers;         //  "tcp://127.0.0.1:<pub port>" (owned)
    PGconn *conn;             //  the consumer's database, for checks (owned)
    handler_t handler;        //  the handler's switches
    int published;            //  events published so far
} fixture_t;

//  --------------------------------------------------------------------------
//  SQL helpers

typedef struct {
    PGconn *conn;    //  borrowed
    const char *sql; //  a query of one number
    long expected;   //  the number waited for
} count_wait_t;

static bool
s_count_reached(void *arg)
{
    count_wait_t *wait = arg;
    return ts_pg_number(wait->conn, wait->sql) == wait->expected;
}

//  Wait until `sql` on the consumer's database gives `expected`.
static void
s_wait_count(fixture_t *fixture, const char *sql, long expected)
{
    count_wait_t wait = {fixture->conn, sql, expected};
    if (!ts_wait_until(s_count_reached, &wait, WAIT_MS)) {
        fail_msg("%s gave %ld, not %ld", sql, ts_pg_number(fixture->conn, sql), expected);
    }
}

static uint64_t
s_counter(fixture_t *fixture, const char *name, const char *stream)
{
    return svc_counter_value(svc_metrics_counter(fixture->metrics, name, "", "consumer", CONSUMER,
                                                 "stream", stream, NULL));
}

typedef struct {
    fixture_t *fixture; //  borrowed
    const char *name;   //  counter name
    const char *stream; //  its stream label
} counter_wait_t;

static bool
s_counter_positive(void *arg)
{
    counter_wait_t *wait = arg;
    return s_counter(wait->fixture, wait->name, wait->stream) > 0;
}

//  `applied` holds exactly seqs 1..count of order-0, once each.
static void
s_assert_applied_once(fixture_t *fixture, long count)
{
    PGconn *conn = fixture->conn;
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM applied"), count);
    assert_int_equal(ts_pg_number(conn, "SELECT count(DISTINCT seq) FROM applied"), count);
    assert_int_equal(ts_pg_number(conn, "SELECT min(seq) FROM applied"), 1);
    assert_int_equal(ts_pg_number(conn, "SELECT max(seq) FROM applied"), count);
    assert_int_equal(ts_pg_number(conn, "SELECT count(*) FROM bus_dead_letters"), 0);
}

//  The checkpoints of `stream` once `tail` events are applied: each
//  partition's is at or past the last event of that partition (nothing
//  applied is ahead of it) and at most the tail. A batch raises only the
//  partitions it had events of, so the others may be behind the tail.
static void
s_assert_stream_covered(fixture_t *fixture, const char *stream, long tail)
{
    PGconn *pub = ts_pg_connect(fixture->pub_db);
    const char *values[] = {stream};
    PGresult *events = PQexecParams(pub,
                                    "SELECT partition, max(seq) FROM bus_events"
                                    " WHERE stream = $1 GROUP BY partition",
                                    1, NULL, values, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(events), PGRES_TUPLES_OK);
    assert_true(PQntuples(events) > 0);
    for (int row = 0; row < PQntuples(events); row++) {
        char sql[256];
        (void) snprintf(sql, sizeof sql,
                        "SELECT coalesce(max(last_seq), 0) FROM bus_checkpoints WHERE consumer ="
                        " 'test' AND stream = '%s' AND partition = %s",
                        stream, PQgetvalue(events, row, 0));
        long checkpoint = ts_pg_number(fixture->conn, sql);
        assert_true(checkpoint >= atol(PQgetvalue(events, row, 1)));
        assert_true(checkpoint <= tail);
    }
    PQclear(events);
    PQfinish(pub);
}

static void
s_assert_checkpoints_cover(fixture_t *fixture, long tail)
{
    s_assert_stream_covered(fixture, "order-0", tail);
}

//  --------------------------------------------------------------------------
//  Events: OrderCreated of order `index`; its partition comes from the id.

typedef struct {
    uint8_t order_id[16]; //  derived from the index
} order_unit_t;

static void
s_order_id(uint8_t order_id[16], int index)
{
    memset(order_id, 0, 16);
    order_id[0] = 0x42;
    memcpy(order_id + 1, &index, sizeof index);
}

static int
s_order_unit(bus_tx_t *tx, void *arg)
{
    order_unit_t *unit = arg;
    Ev__V1__Money price;
    ev__v1__money__init(&price);
    price.currency = "EUR";
    price.amount_minor = 1999;
    Ev__V1__OrderItem item;
    ev__v1__order_item__init(&item);
    item.sku = "SKU-1";
    item.quantity = 1;
    item.unit_price = &price;
    Ev__V1__OrderItem *items[] = {&item};
    Ev__V1__OrderCreated created;
    ev__v1__order_created__init(&created);
    created.order_id = (ProtobufCBinaryData){16, unit->order_id};
    created.customer_id = "customer-1";
    created.total = &price;
    created.n_items = 1;
    created.items = items;
    created.created_at_us = 1700000000000000;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.traceparent = TRACEPARENT;
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    envelope.order_created = &created;
    return bus_tx_append(tx, &envelope, unit->order_id, 16);
}

//  Publish `count` more events through `producer` and wait until all
//  committed.
static void
s_publish_on(fixture_t *fixture, bus_producer_t *producer, int count)
{
    order_unit_t *units = zmalloc((size_t) count * sizeof *units);
    for (int index = 0; index < count; index++) {
        s_order_id(units[index].order_id, fixture->published + index);
        assert_int_equal(bus_producer_submit(producer, s_order_unit, &units[index], &units[index]),
                         0);
    }
    for (int index = 0; index < count; index++) {
        bus_completion_t done;
        assert_int_equal(bus_producer_recv(producer, &done), 0);
        assert_int_equal(done.rc, BUS_OK);
    }
    fixture->published += count;
    freen(units);
}

//  Publish `count` more events on order-0.
static void
s_publish(fixture_t *fixture, int count)
{
    s_publish_on(fixture, fixture->producer, count);
}

//  --------------------------------------------------------------------------
//  The handler: insert (stream, seq); fail, sleep or append on request.

static int
s_append_reserved(bus_apply_t *apply, const Ev__V1__Envelope *event)
{
    if (event->payload_case != EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED) {
        return 0;
    }
    svc_uuid_t order_id;
    memcpy(order_id.bytes, event->order_created->order_id.data, BUS_ID_SIZE);
    bus_cause_t cause;
    bus_cause_init(&cause, event, &order_id);
    Ev__V1__StockReserved reserved;
    ev__v1__stock_reserved__init(&reserved);
    reserved.order_id = event->order_created->order_id;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_STOCK_RESERVED;
    envelope.stock_reserved = &reserved;
    return bus_apply_append_caused(apply, &cause, &envelope);
}

//  True (after bus_apply_unavailable) when the handler is switched to
//  "unavailable".
static bool
s_unavailable(bus_apply_t *apply, handler_t *handler)
{
    if (!atomic_load(&handler->unavailable)) {
        return false;
    }
    atomic_fetch_add(&handler->unavailable_calls, 1);
    bus_apply_unavailable(apply, "the test's broker is down");
    return true;
}

static int
s_handler(bus_apply_t *apply, const Ev__V1__Envelope *event, void *arg)
{
    handler_t *handler = arg;
    if (s_unavailable(apply, handler)) {
        return -1;
    }
    if (event->seq == atomic_load(&handler->poison_seq) && !atomic_load(&handler->fixed)) {
        bus_apply_fail(apply, "poison seq %" PRIu64, event->seq);
        return -1;
    }
    PGconn *conn = bus_apply_conn(apply);
    if (atomic_fetch_sub(&handler->slow_calls, 1) > 0) {
        PQclear(PQexec(conn, "SELECT pg_sleep(0.01)"));
    }
    char seq[24];
    (void) snprintf(seq, sizeof seq, "%" PRIu64, event->seq);
    const char *params[] = {event->stream, seq};
    PGresult *result = PQexecParams(conn, "INSERT INTO applied (stream, seq) VALUES ($1, $2)", 2,
                                    NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        bus_apply_fail(apply, "%s", PQresultErrorMessage(result));
        rc = -1;
    }
    PQclear(result);
    if (rc == 0 && atomic_load(&handler->append)) {
        rc = s_append_reserved(apply, event);
    }
    return rc;
}

//  The batch handler: one INSERT for the batch (unnest of its seqs), so a
//  poison event fails the whole batch as a set-based statement would.

static void
s_batch_note(handler_t *handler, const Ev__V1__Envelope *const *events, size_t count)
{
    atomic_fetch_add(&handler->batch_calls, 1);
    size_t largest = atomic_load(&handler->largest_batch);
    while (count > largest &&
           !atomic_compare_exchange_weak(&handler->largest_batch, &largest, count)) {
    }
    for (size_t index = 1; index < count; index++) {
        if (events[index]->seq <= events[index - 1]->seq ||
            !streq(events[index]->stream, events[0]->stream)) {
            atomic_store(&handler->disordered, true);
        }
    }
}

//  Count whether the transaction commits synchronously (watch_commit).
static void
s_batch_note_commit(bus_apply_t *apply, handler_t *handler)
{
    if (!atomic_load(&handler->watch_commit)) {
        return;
    }
    PGresult *result = PQexec(bus_apply_conn(apply), "SHOW synchronous_commit");
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    atomic_fetch_add(streq(PQgetvalue(result, 0, 0), "off") ? &handler->commits_async
                                                            : &handler->commits_sync,
                     1);
    PQclear(result);
}

//  Insert a batch's events with one statement (poison fails it).
static int
s_batch_insert(bus_apply_t *apply,
               handler_t *handler,
               const Ev__V1__Envelope *const *events,
               size_t count)
{
    for (size_t index = 0; index < count; index++) {
        if (events[index]->seq == atomic_load(&handler->poison_seq) &&
            !atomic_load(&handler->fixed)) {
            bus_apply_fail(apply, "poison seq %" PRIu64, events[index]->seq);
            return -1;
        }
    }
    char *seqs = zmalloc(count * 24 + 3);
    size_t used = 0;
    for (size_t index = 0; index < count; index++) {
        used += (size_t) sprintf(seqs + used, "%s%" PRIu64, index ? "," : "{", events[index]->seq);
    }
    (void) sprintf(seqs + used, "}");
    const char *params[] = {events[0]->stream, seqs};
    PGresult *result = PQexecParams(bus_apply_conn(apply),
                                    "INSERT INTO applied (stream, seq)"
                                    " SELECT $1, seq FROM unnest($2::bigint[]) AS seq",
                                    2, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        bus_apply_fail(apply, "%s", PQresultErrorMessage(result));
        rc = -1;
    }
    PQclear(result);
    freen(seqs);
    for (size_t index = 0; rc == 0 && index < count && atomic_load(&handler->append); index++) {
        rc = s_append_reserved(apply, events[index]);
    }
    return rc;
}

static int
s_batch_handler(bus_apply_t *apply, const Ev__V1__Envelope *const *events, size_t count, void *arg)
{
    handler_t *handler = arg;
    s_batch_note(handler, events, count);
    s_batch_note_commit(apply, handler);
    if (s_unavailable(apply, handler)) {
        return -1;
    }
    int rc = s_batch_insert(apply, handler, events, count);
    int grow_ms = atomic_load(&handler->grow_ms);
    if (rc != 0 || grow_ms == 0) {
        return rc;
    }
    //  As a handler waiting on a broker would: take what arrives meanwhile.
    uint64_t last_seq = events[count - 1]->seq;
    bool grew = false;
    for (int64_t deadline = zclock_mono() + grow_ms; rc == 0 && zclock_mono() < deadline;) {
        const Ev__V1__Envelope *const *more = NULL;
        size_t taken = bus_apply_more(apply, &more);
        if (taken == 0) {
            zclock_sleep(1); //  the handler's own wait (a broker's confirms), not the test's
            continue;
        }
        grew = true;
        if (more[0]->seq <= last_seq) {
            atomic_store(&handler->disordered, true);
        }
        last_seq = more[taken - 1]->seq;
        atomic_fetch_add(&handler->grown, taken);
        rc = s_batch_insert(apply, handler, more, taken);
    }
    if (rc == 0 && grew && atomic_fetch_sub(&handler->refuse_grown, 1) > 0) {
        bus_apply_unavailable(apply, "the test's broker failed after the batch grew");
        return -1;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Fixture

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->pub_db = ts_pg_create_db();
    fixture->sub_db = ts_pg_create_db();
    fixture->log = svc_log_new("test", "bus_subscriber_test", SVC_LOG_WARN, stderr);
    fixture->metrics = svc_metrics_new();
    bus_stream_config_t config = {.stream = "order-0",
                                  .conninfo = fixture->pub_db,
                                  .pub_endpoint = "tcp://127.0.0.1:*",
                                  .heartbeat_ms = 100,
                                  .log = fixture->log,
                                  .metrics = fixture->metrics};
    fixture->stream = bus_stream_new(&config);
    assert_non_null(fixture->stream);
    fixture->producer = bus_producer_new(fixture->stream);
    fixture->publishers = zsys_sprintf("tcp://127.0.0.1:%d", bus_stream_pub_port(fixture->stream));
    fixture->conn = ts_pg_connect(fixture->sub_db);
    ts_pg_exec(fixture->conn, "SET client_min_messages = warning");
    ts_pg_exec(fixture->conn, "CREATE TABLE applied (id bigserial PRIMARY KEY,"
                              " stream text NOT NULL, seq bigint NOT NULL, UNIQUE (stream, seq))");
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    PQfinish(fixture->conn);
    zstr_free(&fixture->publishers);
    bus_producer_destroy(&fixture->producer);
    bus_stream_destroy(&fixture->stream);
    svc_metrics_destroy(&fixture->metrics);
    svc_log_destroy(&fixture->log);
    ts_pg_drop_db(&fixture->sub_db);
    ts_pg_drop_db(&fixture->pub_db);
    freen(fixture);
    return 0;
}

//  A configuration for replica `index` of `count` of the consumer group.
static bus_subscriber_config_t
s_config(fixture_t *fixture, uint32_t index, uint32_t count)
{
    bus_subscriber_config_t config = {.consumer = CONSUMER,
                                      .conninfo = fixture->sub_db,
                                      .publishers = fixture->publishers,
                                      .replica_index = index,
                                      .replica_count = count,
                                      .handler = s_handler,
                                      .handler_arg = &fixture->handler,
                                      .log = fixture->log,
                                      .metrics = fixture->metrics};
    if (atomic_load(&fixture->handler.batched)) {
        config.handler = NULL;
        config.batch_handler = s_batch_handler;
    }
    return config;
}

//  The consumer's own stream "inventory-0", for config.stream (a consumer
//  that publishes). Caller destroys it after the subscriber.
static bus_stream_t *
s_consumer_stream(fixture_t *fixture)
{
    bus_stream_config_t config = {.stream = "inventory-0",
                                  .conninfo = fixture->sub_db,
                                  .pub_endpoint = "tcp://127.0.0.1:*",
                                  .log = fixture->log,
                                  .metrics = fixture->metrics};
    bus_stream_t *stream = bus_stream_new(&config);
    assert_non_null(stream);
    return stream;
}

//  --------------------------------------------------------------------------
//  Usage: a subscriber, then 1,000 events: each applied once, in order,
//  and every checkpoint at the tail.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);

    s_publish(fixture, 1000);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 1000);
    s_assert_applied_once(fixture, 1000);
    //  In seq order: the ids the inserts took follow the seqs.
    assert_int_equal(ts_pg_number(fixture->conn,
                                  "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY id)"
                                  " AS previous FROM applied) t WHERE seq <> previous + 1"),
                     0);
    s_assert_checkpoints_cover(fixture, 1000);
    assert_int_equal(bus_subscriber_applied(subscriber), 1000);
    assert_int_equal(s_counter(fixture, "bus_applied_total", "order-0"), 1000);
    assert_true(bus_subscriber_ready(subscriber));
    bus_subscriber_destroy(&subscriber);
    assert_null(subscriber);
    bus_subscriber_destroy(&subscriber); //  twice is safe
}

//  --------------------------------------------------------------------------
//  Checkpoints are locked and raised only for the partitions a batch has
//  events of; a restart replays from the lowest and applies nothing twice
//  and skips nothing; once the stream runs BUS_APPLIER_RAISE_LAG (1024)
//  past a partition's checkpoint, a batch raises every owned one.

static void s_replicas_start(fixture_t *fixture, bus_subscriber_t **replicas, uint32_t count);
static void s_replicas_stop(bus_subscriber_t **replicas, uint32_t count);

//  Publish `count` events all of order `index` (one partition).
static void
s_publish_one_order(fixture_t *fixture, int index, int count)
{
    order_unit_t *units = zmalloc((size_t) count * sizeof *units);
    for (int unit = 0; unit < count; unit++) {
        s_order_id(units[unit].order_id, index);
        assert_int_equal(
            bus_producer_submit(fixture->producer, s_order_unit, &units[unit], &units[unit]), 0);
    }
    for (int unit = 0; unit < count; unit++) {
        bus_completion_t done;
        assert_int_equal(bus_producer_recv(fixture->producer, &done), 0);
        assert_int_equal(done.rc, BUS_OK);
    }
    fixture->published += count;
    freen(units);
}

static void
test_checkpoints_raised_lazily(void **state)
{
    fixture_t *fixture = *state;
    const char *raised_sql = "SELECT count(*) FROM bus_checkpoints WHERE consumer = 'test'"
                             " AND stream = 'order-0' AND last_seq > 0";
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    s_publish_one_order(fixture, 7, 50);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 50);
    //  One partition had events: only its checkpoint moved, to the tail.
    assert_int_equal(ts_pg_number(fixture->conn, raised_sql), 1);
    s_assert_checkpoints_cover(fixture, 50);
    bus_subscriber_destroy(&subscriber);

    //  Events of other partitions while it is down; the restart replays
    //  from seq 1 (the other checkpoints are 0) and skips 1..50 by the lock.
    s_publish(fixture, 30);
    subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 80);
    assert_true(s_counter(fixture, "bus_duplicates_total", "order-0") >= 50);
    s_assert_applied_once(fixture, 80);
    s_assert_checkpoints_cover(fixture, 80);
    assert_true(ts_pg_number(fixture->conn, raised_sql) < BUS_PARTITIONS_DEFAULT);

    //  1,100 more of one partition: the others fall more than 1,024
    //  behind, and a batch raises all 64.
    s_publish_one_order(fixture, 7, 1100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 1180);
    s_wait_count(fixture,
                 "SELECT count(*) FROM bus_checkpoints WHERE consumer = 'test'"
                 " AND stream = 'order-0' AND last_seq > 80",
                 BUS_PARTITIONS_DEFAULT);
    bus_subscriber_destroy(&subscriber);

    //  A restart, and a rescale to two replicas: still each event once.
    s_publish(fixture, 40);
    bus_subscriber_t *two[2];
    s_replicas_start(fixture, two, 2);
    s_publish(fixture, 40);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 1260);
    s_replicas_stop(two, 2);
    s_assert_applied_once(fixture, 1260);
    s_assert_checkpoints_cover(fixture, 1260);
}

//  --------------------------------------------------------------------------
//  A late subscriber catches up from replay: 10,000 events published
//  before it starts. Prints the rate and the mean batch.

static void
test_late_subscriber(void **state)
{
    fixture_t *fixture = *state;
    s_publish(fixture, 10000);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    int64_t started_us = zclock_usecs();
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 10000);
    int64_t elapsed_us = zclock_usecs() - started_us;
    s_assert_applied_once(fixture, 10000);
    assert_true(s_counter(fixture, "bus_replayed_total", "order-0") >= 10000);

    svc_histogram_t *batches =
        svc_metrics_histogram_with(fixture->metrics, "bus_apply_batch_events", "",
                                   (const double[]){1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
                                   11, "consumer", CONSUMER, "stream", "order-0", NULL);
    (void) fprintf(stderr,
                   "late subscriber: 10000 events in %.3f s = %.0f events/s, %" PRIu64
                   " transactions, mean batch %.1f events\n",
                   (double) elapsed_us / 1e6, 10000.0 * 1e6 / (double) elapsed_us,
                   svc_histogram_count(batches),
                   svc_histogram_sum(batches) / (double) svc_histogram_count(batches));
    bus_subscriber_destroy(&subscriber);
}

//  --------------------------------------------------------------------------
//  The relay: [PUB port, port + 1] in front of the publisher, dropping
//  every `drop_every`-th live event. Pipe: "PORT" -> "i", "DROPPED" -> "i".

typedef struct {
    int pub_port;   //  the publisher's PUB port
    int drop_every; //  drop every Nth event (heartbeats pass)
} relay_args_t;

typedef struct {
    zsock_t *sub;      //  from the publisher's PUB
    zsock_t *pub;      //  to the subscriber
    zsock_t *router;   //  replay requests from the subscriber
    zsock_t *dealer;   //  to the publisher's ROUTER
    zlistx_t *waiting; //  routing ids of requests in flight, oldest first
    int port;          //  our PUB port
    int drop_every;    //  see relay_args_t
    int events;        //  live events seen
    int dropped;       //  live events dropped
} relay_t;

//  Bind PUB on a free port and ROUTER on the next one. Runs on the relay's
//  thread, where a cmocka assert would exit the process without a word, so
//  a failure leaves port at 0 for the test thread to assert on.
static void
s_relay_bind(relay_t *relay)
{
    for (int attempt = 0; attempt < 16 && relay->port <= 0; attempt++) {
        int port = zsock_bind(relay->pub, "tcp://127.0.0.1:*");
        if (port <= 0) {
            continue;
        }
        if (zsock_bind(relay->router, "tcp://127.0.0.1:%d", port + 1) > 0) {
            relay->port = port;
        } else {
            zsock_unbind(relay->pub, "tcp://127.0.0.1:%d", port);
        }
    }
}

static void
s_relay_forward(relay_t *relay, zsock_t *which)
{
    zmsg_t *msg = zmsg_recv(which);
    if (!msg) {
        return;
    }
    if (which == relay->sub) {
        char *topic = zframe_strdup(zmsg_first(msg));
        bool event = strncmp(topic, BUS_HEARTBEAT_TOPIC_PREFIX, 4) != 0;
        zstr_free(&topic);
        if (event && ++relay->events % relay->drop_every == 0) {
            relay->dropped++;
        } else {
            zmsg_send(&msg, relay->pub);
        }
    } else if (which == relay->router) {
        zlistx_add_end(relay->waiting, zmsg_pop(msg));
        zmsg_send(&msg, relay->dealer);
    } else {
        zframe_t *peer = zlistx_detach(relay->waiting, NULL);
        if (peer) {
            zmsg_prepend(msg, &peer);
            zmsg_send(&msg, relay->router);
        }
    }
    zmsg_destroy(&msg);
}

static void
s_relay_actor(zsock_t *pipe, void *args)
{
    relay_args_t *config = args;
    relay_t relay = {.drop_every = config->drop_every};
    relay.sub = zsock_new(ZMQ_SUB);
    zsock_set_subscribe(relay.sub, "");
    zsock_connect(relay.sub, "tcp://127.0.0.1:%d", config->pub_port);
    relay.dealer = zsock_new(ZMQ_DEALER);
    zsock_connect(relay.dealer, "tcp://127.0.0.1:%d", config->pub_port + 1);
    relay.pub = zsock_new(ZMQ_PUB);
    relay.router = zsock_new(ZMQ_ROUTER);
    relay.waiting = zlistx_new();
    s_relay_bind(&relay);
    zpoller_t *poller = zpoller_new(pipe, relay.sub, relay.router, relay.dealer, NULL);
    zsock_signal(pipe, 0);
    while (true) {
        zsock_t *which = zpoller_wait(poller, -1);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool term = !command || streq(command, "$TERM");
            if (!term) {
                zsock_send(pipe, "i", streq(command, "PORT") ? relay.port : relay.dropped);
            }
            zstr_free(&command);
            if (term) {
                break;
            }
        } else if (which) {
            s_relay_forward(&relay, which);
        } else {
            break;
        }
    }
    zpoller_destroy(&poller);
    for (zframe_t *peer = zlistx_detach(relay.waiting, NULL); peer;
         peer = zlistx_detach(relay.waiting, NULL)) {
        zframe_destroy(&peer);
    }
    zlistx_destroy(&relay.waiting);
    zsock_destroy(&relay.router);
    zsock_destroy(&relay.pub);
    zsock_destroy(&relay.dealer);
    zsock_destroy(&relay.sub);
}

static int
s_relay_query(zactor_t *relay, const char *command)
{
    int value = -1;
    zstr_send(relay, command);
    zsock_recv(relay, "i", &value);
    return value;
}

//  --------------------------------------------------------------------------
//  A slow subscriber (receive HWM 10, a slow handler at first) behind a
//  link that loses live events still applies everything exactly once: the
//  losses show as gaps and are filled by replay. Rounds of 50 with every
//  25th event lost: a lost event in mid-round shows as a gap, one at the
//  end of a round only in the next heartbeat (a lost tail), and each round
//  waits for all of it.

static void
test_slow_subscriber_with_losses(void **state)
{
    fixture_t *fixture = *state;
    relay_args_t relay_args = {.pub_port = bus_stream_pub_port(fixture->stream), .drop_every = 25};
    zactor_t *relay = zactor_new(s_relay_actor, &relay_args);
    int relay_port = s_relay_query(relay, "PORT");
    assert_true(relay_port > 0);
    char *publishers = zsys_sprintf("tcp://127.0.0.1:%d", relay_port);
    atomic_store(&fixture->handler.slow_calls, 50);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.publishers = publishers;
    config.rcvhwm = 10;
    config.batch_max = 16;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);

    for (int round = 1; round <= 20; round++) {
        s_publish(fixture, 50);
        s_wait_count(fixture, "SELECT count(*) FROM applied", (long) round * 50);
    }
    s_assert_applied_once(fixture, 1000);
    assert_true(s_relay_query(relay, "DROPPED") > 0);
    assert_true(s_counter(fixture, "bus_gaps_total", "order-0") > 0);
    assert_true(s_counter(fixture, "bus_replay_requests_sent_total", "order-0") > 0);
    assert_true(s_counter(fixture, "bus_replayed_total", "order-0") > 0);
    bus_subscriber_destroy(&subscriber);
    zactor_destroy(&relay);
    zstr_free(&publishers);
}

//  --------------------------------------------------------------------------
//  A poison event is retried, parked with the handler's error, and the
//  stream moves on; after the fix a retry applies it and removes it.

static void
test_poison_event(void **state)
{
    fixture_t *fixture = *state;
    atomic_store(&fixture->handler.poison_seq, 10);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.max_attempts = 3;
    config.backoff_ms = 20;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);

    s_publish(fixture, 50);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 49);
    s_wait_count(fixture, "SELECT count(*) FROM bus_dead_letters", 1);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM applied WHERE seq = 10"), 0);
    json_t *letters = NULL;
    char *error = NULL;
    assert_int_equal(bus_inbox_dead_letters(fixture->conn, CONSUMER, 0, 10, &letters, &error),
                     BUS_OK);
    assert_int_equal(json_array_size(letters), 1);
    json_t *letter = json_array_get(letters, 0);
    assert_int_equal(json_integer_value(json_object_get(letter, "seq")), 10);
    assert_int_equal(json_integer_value(json_object_get(letter, "attempts")), 3);
    assert_string_equal(json_string_value(json_object_get(letter, "error")), "poison seq 10");
    assert_string_equal(json_string_value(json_object_get(letter, "type")), "OrderCreated");
    int64_t id = json_integer_value(json_object_get(letter, "id"));
    json_decref(letters);
    assert_int_equal(s_counter(fixture, "bus_dead_letters_total", "order-0"), 1);
    //  The checkpoints moved past it.
    s_assert_checkpoints_cover(fixture, 50);

    //  Fixed: the operator asks for a retry; the subscriber applies it.
    atomic_store(&fixture->handler.fixed, true);
    assert_int_equal(bus_inbox_retry(fixture->conn, id, &error), BUS_OK);
    s_wait_count(fixture, "SELECT count(*) FROM bus_dead_letters", 0);
    s_assert_applied_once(fixture, 50);
    assert_int_equal(bus_subscriber_applied(subscriber), 50);
    bus_subscriber_destroy(&subscriber);
}

//  --------------------------------------------------------------------------
//  A retry that fails again stays parked, with its attempts counted and
//  the retry mark cleared.

static void
test_dead_letter_retry_fails_again(void **state)
{
    fixture_t *fixture = *state;
    atomic_store(&fixture->handler.poison_seq, 3);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.max_attempts = 1;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    s_publish(fixture, 5);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 4);
    s_wait_count(fixture, "SELECT coalesce(max(attempts), 0) FROM bus_dead_letters WHERE seq = 3",
                 1);
    long id = ts_pg_number(fixture->conn, "SELECT id FROM bus_dead_letters");
    char *error = NULL;
    assert_int_equal(bus_inbox_retry(fixture->conn, id, &error), BUS_OK);
    s_wait_count(fixture, "SELECT coalesce(max(attempts), 0) FROM bus_dead_letters WHERE seq = 3",
                 2);
    s_wait_count(fixture, "SELECT count(*) FROM bus_dead_letters WHERE retry_requested", 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM applied"), 4);
    bus_subscriber_destroy(&subscriber);
}

//  --------------------------------------------------------------------------
//  Competing consumers: 1 replica, then 3, then 2, each change made while
//  events flow and with old and new replicas overlapping. The union
//  applies every event exactly once.

static void
s_replicas_start(fixture_t *fixture, bus_subscriber_t **replicas, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        bus_subscriber_config_t config = s_config(fixture, index, count);
        config.batch_max = 32;
        replicas[index] = bus_subscriber_new(&config);
        assert_non_null(replicas[index]);
    }
}

static void
s_replicas_stop(bus_subscriber_t **replicas, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        bus_subscriber_destroy(&replicas[index]);
    }
}

static void
s_rescale(fixture_t *fixture)
{
    bus_subscriber_t *one[1], *three[3], *two[2];
    s_replicas_start(fixture, one, 1);
    s_publish(fixture, 200);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 200);

    s_replicas_start(fixture, three, 3);
    for (int round = 0; round < 5; round++) {
        s_publish(fixture, 20); //  both generations run
    }
    s_replicas_stop(one, 1);
    s_publish(fixture, 100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 400);

    s_replicas_start(fixture, two, 2);
    for (int round = 0; round < 5; round++) {
        s_publish(fixture, 20);
    }
    s_replicas_stop(three, 3);
    s_publish(fixture, 100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 600);
    s_replicas_stop(two, 2);
    s_assert_applied_once(fixture, 600);
}

static void
test_rescale(void **state)
{
    s_rescale(*state);
}

//  The same with the batch handler.
static void
test_rescale_batched(void **state)
{
    fixture_t *fixture = *state;
    atomic_store(&fixture->handler.batched, true);
    s_rescale(fixture);
    assert_false(atomic_load(&fixture->handler.disordered));
}

//  --------------------------------------------------------------------------
//  The batch handler: under load it gets batches of many events, each of
//  one stream in seq order, and every event is applied exactly once
//  (applied's UNIQUE (stream, seq) would turn a second apply into a
//  failure, and so into a dead letter).

static void
test_batch_handler(void **state)
{
    fixture_t *fixture = *state;
    atomic_store(&fixture->handler.batched, true);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);

    s_publish(fixture, 2000);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 2000);
    s_assert_applied_once(fixture, 2000);
    assert_int_equal(ts_pg_number(fixture->conn,
                                  "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY id)"
                                  " AS previous FROM applied) t WHERE seq <> previous + 1"),
                     0);
    assert_false(atomic_load(&fixture->handler.disordered));
    size_t largest = atomic_load(&fixture->handler.largest_batch);
    int calls = atomic_load(&fixture->handler.batch_calls);
    printf("batch handler: %d calls for 2000 events, largest batch %zu\n", calls, largest);
    assert_true(largest > 1);
    assert_true(largest <= BUS_SUBSCRIBER_BATCH_MAX_DEFAULT);
    assert_true(calls < 2000);
    assert_int_equal(bus_subscriber_applied(subscriber), 2000);
    assert_int_equal(s_counter(fixture, "bus_applied_total", "order-0"), 2000);
    s_assert_checkpoints_cover(fixture, 2000);
    bus_subscriber_destroy(&subscriber);
}

//  commit_async: every transaction of the subscriber's own connection
//  commits with synchronous_commit off (and without it, on), and applies
//  exactly as before.

static void
s_commit_mode(fixture_t *fixture, bool commit_async)
{
    atomic_store(&fixture->handler.batched, true);
    atomic_store(&fixture->handler.watch_commit, true);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.commit_async = commit_async;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    s_publish(fixture, 500);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 500);
    s_assert_applied_once(fixture, 500);
    s_assert_checkpoints_cover(fixture, 500);
    bus_subscriber_destroy(&subscriber);
    int async = atomic_load(&fixture->handler.commits_async);
    int sync = atomic_load(&fixture->handler.commits_sync);
    assert_int_equal(async + sync, atomic_load(&fixture->handler.batch_calls));
    assert_int_equal(commit_async ? sync : async, 0);
}

static void
test_commit_async(void **state)
{
    s_commit_mode(*state, true);
}

static void
test_commit_sync(void **state)
{
    s_commit_mode(*state, false);
}

//  A batch handler that waits (as on a broker's confirms) grows its batch
//  with what arrives meanwhile (bus_apply_more): every event is applied
//  once, in order, the checkpoints cover them, and batches did grow. With
//  `refuse`, the first batches that grew are then unavailable: rolled back
//  whole (the grown events too) and applied once later.

static void
s_batch_grows(fixture_t *fixture, int refuse)
{
    atomic_store(&fixture->handler.batched, true);
    atomic_store(&fixture->handler.grow_ms, 5);
    atomic_store(&fixture->handler.refuse_grown, refuse);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    s_publish(fixture, 20); //  the subscriber has caught up and reads live events ...
    s_wait_count(fixture, "SELECT count(*) FROM applied", 20);
    for (int index = 0; index < 500; index++) {
        s_publish(fixture, 1); //  ... while these arrive one commit at a time
    }
    s_wait_count(fixture, "SELECT count(*) FROM applied", 520);
    s_assert_applied_once(fixture, 520);
    assert_int_equal(ts_pg_number(fixture->conn,
                                  "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY id)"
                                  " AS previous FROM applied) t WHERE seq <> previous + 1"),
                     0);
    assert_false(atomic_load(&fixture->handler.disordered));
    size_t grown = atomic_load(&fixture->handler.grown);
    printf("grown: %zu events joined batches that had begun\n", grown);
    assert_true(grown > 0);
    assert_int_equal(bus_subscriber_applied(subscriber), 520);
    assert_int_equal(s_counter(fixture, "bus_applied_total", "order-0"), 520);
    if (!refuse) {
        //  The events that joined left the queue with their batch: none
        //  came round again to be dropped as already applied.
        assert_int_equal(s_counter(fixture, "bus_duplicates_total", "order-0"), 0);
    }
    s_assert_checkpoints_cover(fixture, 520);
    if (refuse) {
        assert_true(atomic_load(&fixture->handler.refuse_grown) <= 0);
    }
    bus_subscriber_destroy(&subscriber);
}

static void
test_batch_grows(void **state)
{
    s_batch_grows(*state, 0);
}

static void
test_batch_grows_then_unavailable(void **state)
{
    s_batch_grows(*state, 1);
}

//  A poison event inside batches: the batch fails as a whole, is run
//  again one event per transaction, the others are applied, and the
//  poison one is dead-lettered after max_attempts with the handler's
//  message; after the fix a dead-letter retry applies it through the
//  batch handler. With `stream`, through that stream's writer.

static void
s_batch_poison(fixture_t *fixture, bus_stream_t *stream)
{
    atomic_store(&fixture->handler.batched, true);
    atomic_store(&fixture->handler.poison_seq, 150);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.stream = stream;
    config.max_attempts = 3;
    config.backoff_ms = 20;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);

    s_publish(fixture, 300);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 299);
    s_wait_count(fixture, "SELECT count(*) FROM bus_dead_letters", 1);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM applied WHERE seq = 150"),
                     0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT seq FROM bus_dead_letters"), 150);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT attempts FROM bus_dead_letters"), 3);
    PGresult *result = PQexec(fixture->conn, "SELECT error FROM bus_dead_letters");
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(result, 0, 0), "poison seq 150");
    PQclear(result);
    s_assert_checkpoints_cover(fixture, 300);
    assert_int_equal(s_counter(fixture, "bus_dead_letters_total", "order-0"), 1);
    assert_int_equal(bus_subscriber_applied(subscriber), 299);
    if (stream) {
        //  Exactly the applied events' StockReserved were committed.
        assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_events"
                                                     " WHERE stream = 'inventory-0'"),
                         299);
    }

    atomic_store(&fixture->handler.fixed, true);
    long id = ts_pg_number(fixture->conn, "SELECT id FROM bus_dead_letters");
    char *error = NULL;
    assert_int_equal(bus_inbox_retry(fixture->conn, id, &error), BUS_OK);
    s_wait_count(fixture, "SELECT count(*) FROM bus_dead_letters", 0);
    s_assert_applied_once(fixture, 300);
    assert_int_equal(bus_subscriber_applied(subscriber), 300);
    assert_false(atomic_load(&fixture->handler.disordered));
    bus_subscriber_destroy(&subscriber);
}

static void
test_batch_poison(void **state)
{
    s_batch_poison(*state, NULL);
}

//  --------------------------------------------------------------------------
//  A handler that says it is unavailable (its broker is down) is not a
//  failing event: with max_attempts 1, a failure would dead-letter at
//  once; instead the subscriber waits, tries the same events again with
//  backoff, is not ready meanwhile, and applies everything once when the
//  handler is back. So does a dead-letter retry (left marked). Both kinds
//  of handler.

static bool s_ready(void *arg);
static bool s_not_ready(void *arg);

static bool
s_unavailable_again(void *arg)
{
    handler_t *handler = arg;
    return atomic_load(&handler->unavailable_calls) >= 3;
}

static void
s_handler_unavailable(fixture_t *fixture, bool batched)
{
    atomic_store(&fixture->handler.batched, batched);
    atomic_store(&fixture->handler.poison_seq, 5);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.max_attempts = 1;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    s_publish(fixture, 10);
    s_wait_count(fixture, "SELECT count(*) FROM bus_dead_letters", 1); //  seq 5, a real failure
    s_wait_count(fixture, "SELECT count(*) FROM applied", 9);
    assert_true(ts_wait_until(s_ready, subscriber, WAIT_MS));
    atomic_store(&fixture->handler.fixed, true);

    atomic_store(&fixture->handler.unavailable, true);
    char *error = NULL;
    assert_int_equal(bus_inbox_retry(fixture->conn,
                                     ts_pg_number(fixture->conn, "SELECT id FROM bus_dead_letters"),
                                     &error),
                     BUS_OK);
    s_publish(fixture, 200);
    assert_true(ts_wait_until(s_unavailable_again, &fixture->handler, WAIT_MS));
    assert_true(ts_wait_until(s_not_ready, subscriber, WAIT_MS));
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM applied"), 9);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_dead_letters"
                                                 " WHERE retry_requested AND attempts = 1"),
                     1);

    atomic_store(&fixture->handler.unavailable, false);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 210);
    s_wait_count(fixture, "SELECT count(*) FROM bus_dead_letters", 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM applied"), 210);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(DISTINCT seq) FROM applied"), 210);
    assert_int_equal(s_counter(fixture, "bus_dead_letters_total", "order-0"), 1);
    s_assert_checkpoints_cover(fixture, 210);
    assert_true(ts_wait_until(s_ready, subscriber, WAIT_MS));
    bus_subscriber_destroy(&subscriber);
}

static void
test_handler_unavailable(void **state)
{
    s_handler_unavailable(*state, false);
}

static void
test_batch_handler_unavailable(void **state)
{
    s_handler_unavailable(*state, true);
}

static void
test_batch_poison_through_stream(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_t *stream = s_consumer_stream(fixture);
    atomic_store(&fixture->handler.append, true);
    s_batch_poison(fixture, stream);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  Tolerant reader: a second "publisher" sends frames that do not decode,
//  events whose topic is not their envelope's, and events of a type this
//  build does not know, in the two-frame form of older publishers and in
//  the one-frame form of today's. The bad ones are counted as malformed,
//  the unknown ones skipped (they still move the checkpoint), and the real
//  stream goes on.

static zframe_t *
s_unknown_event(uint64_t seq)
{
    uint8_t message_id[16] = {0x01, 0x02, 0x03, (uint8_t) seq};
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.stream = "raw-0";
    envelope.seq = seq;
    envelope.partition = 5;
    envelope.message_id = (ProtobufCBinaryData){16, message_id};
    envelope.type = "FutureEvent";
    envelope.occurred_at_us = 1700000000000000;
    zframe_t *frame = bus_envelope_encode(&envelope);
    assert_non_null(frame);
    return frame;
}

typedef struct {
    fixture_t *fixture; //  borrowed
    zsock_t *raw;       //  the raw PUB (borrowed)
    uint64_t sent;      //  garbage frames sent
} probe_t;

static uint64_t
s_malformed(fixture_t *fixture)
{
    return s_counter(fixture, "bus_malformed_frames_total", "unknown") +
           s_counter(fixture, "bus_malformed_frames_total", "raw-0");
}

//  Send garbage until the subscriber has counted one: then it is connected.
static bool
s_probe(void *arg)
{
    probe_t *probe = arg;
    zstr_sendm(probe->raw, "OrderCreated/raw-0");
    zstr_send(probe->raw, "not a protobuf");
    probe->sent++;
    return s_malformed(probe->fixture) > 0;
}

static void
test_malformed_and_unknown(void **state)
{
    fixture_t *fixture = *state;
    zsock_t *raw = zsock_new(ZMQ_PUB);
    int raw_port = zsock_bind(raw, "tcp://127.0.0.1:*");
    assert_true(raw_port > 0);
    char *publishers = zsys_sprintf("%s,tcp://127.0.0.1:%d", fixture->publishers, raw_port);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.publishers = publishers;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    //  Frames sent before the connection is up are lost (slow joiner):
    //  probe until one arrives. Later probes may still be on their way.
    probe_t probe = {fixture, raw, 0};
    assert_true(ts_wait_until(s_probe, &probe, WAIT_MS));
    uint64_t malformed = s_malformed(fixture);

    zstr_send(raw, "one frame only");
    zstr_sendx(raw, "three", "frames", "here", NULL);
    zstr_sendm(raw, "$hb/raw-0");
    zstr_send(raw, "not a heartbeat");
    //  Seq 1 under another type's topic, in both forms: were either taken,
    //  the real seq 1 below would be a duplicate.
    zframe_t *frame = s_unknown_event(1);
    zstr_sendm(raw, "OrderCreated/raw-0");
    zframe_send(&frame, raw, 0);
    frame = s_unknown_event(1);
    zframe_t *live = zframe_new(NULL, sizeof "OrderCreated/raw-0" + zframe_size(frame));
    memcpy(zframe_data(live), "OrderCreated/raw-0", sizeof "OrderCreated/raw-0");
    memcpy(zframe_data(live) + sizeof "OrderCreated/raw-0", zframe_data(frame), zframe_size(frame));
    zframe_send(&live, raw, 0);
    zframe_destroy(&frame);
    //  Seqs 1-3 as an older publisher sends them, 4-5 as one frame.
    for (uint64_t seq = 1; seq <= 3; seq++) {
        frame = s_unknown_event(seq);
        zstr_sendm(raw, "FutureEvent/raw-0");
        zframe_send(&frame, raw, 0);
    }
    for (uint64_t seq = 4; seq <= 5; seq++) {
        frame = s_unknown_event(seq);
        Ev__V1__Envelope *envelope = NULL;
        assert_int_equal(bus_envelope_decode(zframe_data(frame), zframe_size(frame), &envelope),
                         BUS_UNKNOWN_TYPE);
        zmq_msg_t msg;
        assert_int_equal(bus_envelope_encode_live(envelope, &msg), 0);
        assert_true(zmq_msg_send(&msg, zsock_resolve(raw), 0) > 0);
        zmq_msg_close(&msg);
        bus_envelope_destroy(&envelope);
        zframe_destroy(&frame);
    }
    s_publish(fixture, 100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 100);
    s_wait_count(fixture,
                 "SELECT count(*) FROM bus_checkpoints WHERE consumer = 'test'"
                 " AND stream = 'raw-0' AND last_seq = 5",
                 BUS_PARTITIONS_DEFAULT);
    //  One connection keeps order: the five bad frames were counted before
    //  the events that moved the checkpoint.
    assert_in_range(s_malformed(fixture), malformed + 5, probe.sent + 5);
    assert_int_equal(s_counter(fixture, "bus_duplicates_total", "raw-0"), 0);
    assert_int_equal(svc_counter_value(svc_metrics_counter(
                         fixture->metrics, "bus_unknown_types_total", "", "consumer", CONSUMER,
                         "stream", "raw-0", "type", "FutureEvent", NULL)),
                     5);
    assert_int_equal(s_counter(fixture, "bus_skipped_total", "raw-0"), 5);
    s_assert_applied_once(fixture, 100);

    //  A frame over ZMQ_MAXMSGSIZE makes libzmq drop that peer's connection
    //  before any of it is buffered: it never reaches the subscriber (the
    //  malformed count, which a too-large frame would raise, stays put),
    //  nothing crashes, and the real stream goes on.
    uint64_t malformed_before = s_malformed(fixture);
    size_t oversize = BUS_FRAME_MAX + BUS_SUBSCRIBER_FRAME_SLACK + 1;
    zframe_t *big = zframe_new(NULL, oversize);
    memset(zframe_data(big), 'x', oversize);
    zstr_sendm(raw, "OrderCreated/raw-0");
    zframe_send(&big, raw, 0);
    s_publish(fixture, 100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 200);
    s_assert_applied_once(fixture, 200);
    assert_int_equal(s_malformed(fixture), malformed_before);
    assert_true(bus_subscriber_ready(subscriber));
    bus_subscriber_destroy(&subscriber);
    zstr_free(&publishers);
    zsock_destroy(&raw);
}

//  --------------------------------------------------------------------------
//  A consumer that publishes: with config.stream the handler's effects,
//  the checkpoints and the events it appends commit together.

//  The `count` events of `stream` in the event log of `conninfo`, decoded,
//  in seq order (caller destroys each and frees the array).
static Ev__V1__Envelope **
s_logged(const char *conninfo, const char *stream, int count)
{
    PGconn *conn = ts_pg_connect(conninfo);
    const char *values[] = {stream};
    PGresult *result =
        PQexecParams(conn, "SELECT envelope FROM bus_events WHERE stream = $1 ORDER BY seq", 1,
                     NULL, values, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(result), count);
    Ev__V1__Envelope **envelopes = zmalloc((size_t) count * sizeof *envelopes);
    for (int row = 0; row < count; row++) {
        assert_int_equal(bus_envelope_decode(PQgetvalue(result, row, 0),
                                             (size_t) PQgetlength(result, row, 0), &envelopes[row]),
                         BUS_OK);
    }
    PQclear(result);
    PQfinish(conn);
    return envelopes;
}

//  Every StockReserved the handler appended (bus_apply_append_caused)
//  answers its OrderCreated: correlation id = the order, causation id =
//  that event's message id, a child of its trace, the order's partition.
static void
s_assert_answers_caused(fixture_t *fixture, int count)
{
    Ev__V1__Envelope **causes = s_logged(fixture->pub_db, "order-0", count);
    Ev__V1__Envelope **answers = s_logged(fixture->sub_db, "inventory-0", count);
    for (int index = 0; index < count; index++) {
        Ev__V1__Envelope *answer = answers[index];
        ProtobufCBinaryData order_id = answer->stock_reserved->order_id;
        const Ev__V1__Envelope *cause = NULL;
        for (int other = 0; other < count && !cause; other++) {
            ProtobufCBinaryData id = causes[other]->order_created->order_id;
            if (memcmp(id.data, order_id.data, BUS_ID_SIZE) == 0) {
                cause = causes[other];
            }
        }
        assert_non_null(cause);
        assert_int_equal(answer->correlation_id.len, BUS_ID_SIZE);
        assert_memory_equal(answer->correlation_id.data, order_id.data, BUS_ID_SIZE);
        assert_int_equal(answer->causation_id.len, BUS_ID_SIZE);
        assert_memory_equal(answer->causation_id.data, cause->message_id.data, BUS_ID_SIZE);
        char trace_id[SVC_TRACE_ID_SIZE];
        svc_trace_id(answer->traceparent, trace_id);
        assert_string_equal(trace_id, TRACE_ID);
        assert_string_not_equal(answer->traceparent, TRACEPARENT);
        assert_int_equal(answer->partition, cause->partition);
    }
    for (int index = 0; index < count; index++) {
        bus_envelope_destroy(&causes[index]);
        bus_envelope_destroy(&answers[index]);
    }
    freen(answers);
    freen(causes);
}

static void
test_apply_through_stream(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_t *stream = s_consumer_stream(fixture);
    atomic_store(&fixture->handler.append, true);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.stream = stream;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);

    s_publish(fixture, 300);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 300);
    s_assert_applied_once(fixture, 300);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_events"
                                                 " WHERE stream = 'inventory-0'"
                                                 " AND type = 'StockReserved'"),
                     300);
    s_assert_checkpoints_cover(fixture, 300);
    s_assert_answers_caused(fixture, 300);
    bus_subscriber_destroy(&subscriber);
    bus_stream_destroy(&stream);
}

//  writer_for_appends: batches whose handler appends nothing commit on the
//  subscriber's own connection (the stream's writer commits no batch for
//  them); once the handler appends, its batches run through the writer,
//  effects, checkpoints and appended events together; every event is
//  applied once and answered once.

static void
test_writer_for_appends(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_t *stream = s_consumer_stream(fixture);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.stream = stream;
    config.writer_for_appends = true;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    svc_counter_t *writer_batches = svc_metrics_counter(fixture->metrics, "bus_batches_total", "",
                                                        "stream", "inventory-0", NULL);

    s_publish(fixture, 100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 100);
    assert_int_equal(svc_counter_value(writer_batches), 0);

    atomic_store(&fixture->handler.append, true);
    s_publish(fixture, 100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 200);
    assert_true(svc_counter_value(writer_batches) > 0);
    s_assert_applied_once(fixture, 200);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_events"
                                                 " WHERE stream = 'inventory-0'"
                                                 " AND type = 'StockReserved'"),
                     100);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(DISTINCT a.seq) FROM applied AS a"
                                                 " WHERE a.seq > 100"),
                     100);
    s_assert_checkpoints_cover(fixture, 200);
    bus_subscriber_destroy(&subscriber);
    bus_stream_destroy(&stream);
}

//  Two publishers' streams through one writer: each round hands both
//  streams' batches to the writer together; each stream is still applied
//  exactly once and in order, with its own checkpoints.

static void
test_two_streams_through_stream(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t second_config = {.stream = "order-1",
                                         .conninfo = fixture->pub_db,
                                         .pub_endpoint = "tcp://127.0.0.1:*",
                                         .heartbeat_ms = 100,
                                         .log = fixture->log,
                                         .metrics = fixture->metrics};
    bus_stream_t *second = bus_stream_new(&second_config);
    assert_non_null(second);
    bus_producer_t *second_producer = bus_producer_new(second);
    bus_stream_t *stream = s_consumer_stream(fixture);
    char *publishers =
        zsys_sprintf("%s,tcp://127.0.0.1:%d", fixture->publishers, bus_stream_pub_port(second));
    atomic_store(&fixture->handler.batched, true);
    atomic_store(&fixture->handler.append, true);
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.stream = stream;
    config.publishers = publishers;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);

    for (int round = 0; round < 6; round++) {
        s_publish(fixture, 50);
        s_publish_on(fixture, second_producer, 50);
    }
    s_wait_count(fixture, "SELECT count(*) FROM applied", 600);
    const char *names[] = {"order-0", "order-1"};
    for (int index = 0; index < 2; index++) {
        const char *values[] = {names[index]};
        PGresult *result = PQexecParams(fixture->conn,
                                        "SELECT count(*), count(DISTINCT seq), min(seq), max(seq)"
                                        " FROM applied WHERE stream = $1",
                                        1, NULL, values, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
        for (int column = 0; column < 4; column++) {
            assert_int_equal(atol(PQgetvalue(result, 0, column)), column == 2 ? 1 : 300);
        }
        PQclear(result);
    }
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_dead_letters"), 0);
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_events"
                                                 " WHERE stream = 'inventory-0'"),
                     600);
    s_assert_stream_covered(fixture, "order-0", 300);
    s_assert_stream_covered(fixture, "order-1", 300);
    assert_false(atomic_load(&fixture->handler.disordered));
    bus_subscriber_destroy(&subscriber);
    zstr_free(&publishers);
    bus_stream_destroy(&stream);
    bus_producer_destroy(&second_producer);
    bus_stream_destroy(&second);
}

//  --------------------------------------------------------------------------
//  The publisher's retention removed events this consumer never applied:
//  the stream stops (TRIMMED) with an error, nothing is skipped, and the
//  subscriber is not ready.

static void
test_trimmed(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t stream_config = {.stream = "retained-0",
                                         .conninfo = fixture->pub_db,
                                         .pub_endpoint = "tcp://127.0.0.1:*",
                                         .heartbeat_ms = 100,
                                         .retention_events = 10,
                                         .retention_interval_ms = 20,
                                         .log = fixture->log,
                                         .metrics = fixture->metrics};
    bus_stream_t *stream = bus_stream_new(&stream_config);
    assert_non_null(stream);
    bus_producer_t *producer = bus_producer_new(stream);
    s_publish_on(fixture, producer, 100);
    PGconn *pub = ts_pg_connect(fixture->pub_db);
    count_wait_t trimmed = {pub, "SELECT first_seq FROM bus_streams WHERE stream = 'retained-0'",
                            91};
    assert_true(ts_wait_until(s_count_reached, &trimmed, WAIT_MS));
    PQfinish(pub);

    char *publishers = zsys_sprintf("tcp://127.0.0.1:%d", bus_stream_pub_port(stream));
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.publishers = publishers;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    counter_wait_t stopped = {fixture, "bus_trimmed_total", "retained-0"};
    assert_true(ts_wait_until(s_counter_positive, &stopped, WAIT_MS));
    assert_int_equal(s_counter(fixture, "bus_trimmed_total", "retained-0"), 1);
    assert_false(bus_subscriber_ready(subscriber));
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM applied"), 0);
    //  Later events do not move it either.
    s_publish_on(fixture, producer, 5);
    assert_false(bus_subscriber_ready(subscriber));
    assert_int_equal(s_counter(fixture, "bus_applied_total", "retained-0"), 0);
    bus_subscriber_destroy(&subscriber);
    zstr_free(&publishers);
    bus_producer_destroy(&producer);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  The consumer's database goes away mid-stream (its connections killed,
//  then renamed so that reconnects fail): the subscriber reports not
//  ready, keeps trying, and when the database is back it catches up from
//  its checkpoints with nothing lost or applied twice.

typedef struct {
    const char *conninfo; //  the consumer's database (borrowed)
    const char *from;     //  suffix of its current name
    const char *to;       //  suffix of the new name
} rename_t;

//  Kill every connection to the database and rename it; false if a
//  reconnect came in between (then the caller tries again).
static bool
s_rename_db(void *arg)
{
    rename_t *rename = arg;
    PQconninfoOption *options = PQconninfoParse(rename->conninfo, NULL);
    const char *dbname = NULL;
    for (PQconninfoOption *option = options; option->keyword; option++) {
        dbname = streq(option->keyword, "dbname") ? option->val : dbname;
    }
    PGconn *admin = ts_pg_connect(getenv("TEST_PG_DSN"));
    char *name = zsys_sprintf("%s%s", dbname, rename->from);
    const char *values[] = {name};
    PQclear(PQexecParams(admin,
                         "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                         " WHERE datname = $1",
                         1, NULL, values, NULL, NULL, 0));
    zstr_free(&name);
    //  DDL takes no parameters; the names are the test's own.
    char *sql = zsys_sprintf("ALTER DATABASE \"%s%s\" RENAME TO \"%s%s\"", dbname, rename->from,
                             dbname, rename->to);
    PGresult *result = PQexec(admin, sql);
    bool renamed = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    zstr_free(&sql);
    PQfinish(admin);
    PQconninfoFree(options);
    return renamed;
}

static bool
s_not_ready(void *arg)
{
    return !bus_subscriber_ready((bus_subscriber_t *) arg);
}

static bool
s_ready(void *arg)
{
    return bus_subscriber_ready((bus_subscriber_t *) arg);
}

static void
test_database_lost(void **state)
{
    fixture_t *fixture = *state;
    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    s_publish(fixture, 100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 100);

    PQfinish(fixture->conn);
    rename_t away = {fixture->sub_db, "", "_away"};
    assert_true(ts_wait_until(s_rename_db, &away, WAIT_MS));
    s_publish(fixture, 100);
    assert_true(ts_wait_until(s_not_ready, subscriber, WAIT_MS));

    rename_t back = {fixture->sub_db, "_away", ""};
    assert_true(ts_wait_until(s_rename_db, &back, WAIT_MS));
    fixture->conn = ts_pg_connect(fixture->sub_db);
    s_publish(fixture, 100);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 300);
    s_assert_applied_once(fixture, 300);
    assert_true(ts_wait_until(s_ready, subscriber, WAIT_MS));
    bus_subscriber_destroy(&subscriber);
}

//  --------------------------------------------------------------------------
//  CURVE: a subscriber whose key is allowed applies everything; one whose
//  key is not gets nothing at all and is not ready.

static char *
s_cert_new(const char *dir, const char *name, const char *allow_dir)
{
    char *path = zsys_sprintf("%s/%s", dir, name);
    zcert_t *cert = zcert_new();
    assert_int_equal(zcert_save(cert, path), 0);
    if (allow_dir) {
        char *allowed = zsys_sprintf("%s/%s", allow_dir, name);
        assert_int_equal(zcert_save_public(cert, allowed), 0);
        zstr_free(&allowed);
    }
    zcert_destroy(&cert);
    return path;
}

static void
test_curve(void **state)
{
    fixture_t *fixture = *state;
    char *dir = ts_tmpdir_new();
    char *allow_dir = zsys_sprintf("%s/allow", dir);
    assert_int_equal(zsys_dir_create("%s", allow_dir), 0);
    char *server = s_cert_new(dir, "server", NULL);
    char *client = s_cert_new(dir, "client", allow_dir);
    char *intruder = s_cert_new(dir, "intruder", NULL);
    bus_auth_t *auth = bus_auth_new(allow_dir, NULL);
    assert_non_null(auth);
    char *server_secret = zsys_sprintf("%s_secret", server);
    bus_stream_config_t stream_config = {.stream = "secure-0",
                                         .conninfo = fixture->pub_db,
                                         .pub_endpoint = "tcp://127.0.0.1:*",
                                         .heartbeat_ms = 100,
                                         .curve_server_cert = server_secret,
                                         .log = fixture->log,
                                         .metrics = fixture->metrics};
    bus_stream_t *stream = bus_stream_new(&stream_config);
    assert_non_null(stream);
    bus_producer_t *producer = bus_producer_new(stream);
    char *publishers = zsys_sprintf("tcp://127.0.0.1:%d", bus_stream_pub_port(stream));
    char *client_secret = zsys_sprintf("%s_secret", client);
    char *intruder_secret = zsys_sprintf("%s_secret", intruder);

    bus_subscriber_config_t config = s_config(fixture, 0, 1);
    config.publishers = publishers;
    config.curve_client_cert = client_secret;
    config.curve_server_public = server;
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    config.consumer = "intruder";
    config.curve_client_cert = intruder_secret;
    bus_subscriber_t *refused = bus_subscriber_new(&config);
    assert_non_null(refused);

    s_publish_on(fixture, producer, 50);
    s_wait_count(fixture, "SELECT count(*) FROM applied", 50);
    s_assert_applied_once(fixture, 50);
    assert_true(bus_subscriber_ready(subscriber));
    assert_int_equal(bus_subscriber_applied(refused), 0);
    assert_false(bus_subscriber_ready(refused));
    assert_int_equal(ts_pg_number(fixture->conn, "SELECT count(*) FROM bus_checkpoints"
                                                 " WHERE consumer = 'intruder'"),
                     0);
    bus_subscriber_destroy(&refused);
    bus_subscriber_destroy(&subscriber);
    bus_producer_destroy(&producer);
    bus_stream_destroy(&stream);
    bus_auth_destroy(&auth);
    zstr_free(&intruder_secret);
    zstr_free(&client_secret);
    zstr_free(&publishers);
    zstr_free(&server_secret);
    zstr_free(&intruder);
    zstr_free(&client);
    zstr_free(&server);
    zstr_free(&allow_dir);
    ts_tmpdir_remove(&dir);
}

//  --------------------------------------------------------------------------
//  Configuration from the outside is checked, not asserted.

static void
test_invalid_config(void **state)
{
    fixture_t *fixture = *state;
    const char *bad_publishers[] = {"",
                                    "udp://127.0.0.1:5560",
                                    "tcp://127.0.0.1",
                                    "tcp://:5560",
                                    "tcp://host:0",
                                    "tcp://host:65535",
                                    "tcp://[::1:5560",
                                    "tcp://a:1,,tcp://b:2"};
    for (size_t index = 0; index < sizeof bad_publishers / sizeof *bad_publishers; index++) {
        bus_subscriber_config_t config = s_config(fixture, 0, 1);
        config.publishers = bad_publishers[index];
        assert_null(bus_subscriber_new(&config));
    }
    bus_subscriber_config_t config = s_config(fixture, 3, 3);
    assert_null(bus_subscriber_new(&config));
    config = s_config(fixture, 0, 1);
    config.consumer = "";
    assert_null(bus_subscriber_new(&config));
    config = s_config(fixture, 0, 1);
    config.curve_client_cert = "/nonexistent/client_secret";
    config.curve_server_public = "/nonexistent/server";
    assert_null(bus_subscriber_new(&config));
    //  IPv6 literals and spaces after commas are fine.
    config = s_config(fixture, 0, 1);
    config.publishers = "tcp://[::1]:5560, tcp://127.0.0.1:5562";
    bus_subscriber_t *subscriber = bus_subscriber_new(&config);
    assert_non_null(subscriber);
    //  Nobody publishes there: connected to the database, but not ready.
    assert_false(bus_subscriber_ready(subscriber));
    bus_subscriber_destroy(&subscriber);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_raised_lazily, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_late_subscriber, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_slow_subscriber_with_losses, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_poison_event, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_retry_fails_again, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rescale, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rescale_batched, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_handler, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_poison, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_commit_async, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_grows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_grows_then_unavailable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_commit_sync, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_handler_unavailable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_handler_unavailable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_poison_through_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_and_unknown, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_apply_through_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_writer_for_appends, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_streams_through_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_trimmed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_database_lost, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_curve, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_config, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
