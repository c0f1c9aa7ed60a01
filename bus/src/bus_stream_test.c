/*  =========================================================================
    bus_stream_test - the single writer against a real PostgreSQL

    Each test gets a fresh database from the cluster scripts/test.sh starts
    (TEST_PG_DSN) and watches the stream the way a subscriber does: a SUB on
    the PUB port, waiting for the first heartbeat before anything is
    submitted, so no live event is lost to the slow-joiner window. Every
    wait is a receive with a timeout or ts_wait_until; nothing sleeps.

    The crash test runs this same binary as a child (fork + exec with
    --crash-child), so the child starts with a fresh ZeroMQ context.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_control.h"
#include "bus_envelope.h"
#include "bus_keys.h"
#include "bus_replay.h"
#include "bus_stream.h"
#include "ts.h"

#include <fcntl.h>
#include <unistd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  How long any single wait in these tests may take.
#define WAIT_MS 10000

typedef struct {
    char *conninfo;         //  fresh database (owned)
    svc_log_t *log;         //  test log on stderr (owned)
    svc_metrics_t *metrics; //  registry (owned)
} fixture_t;

//  The argument of a unit: which order it creates.
typedef struct {
    int index;            //  0, 1, 2, ...
    uint8_t order_id[16]; //  derived from index
} order_unit_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    fixture->log = svc_log_new("test", "bus_stream_test", SVC_LOG_WARN, stderr);
    fixture->metrics = svc_metrics_new();
    *state = fixture;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fixture = *state;
    svc_metrics_destroy(&fixture->metrics);
    svc_log_destroy(&fixture->log);
    ts_pg_drop_db(&fixture->conninfo);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  Units and events

static void
s_order_unit_init(order_unit_t *unit, int index)
{
    memset(unit, 0, sizeof *unit);
    unit->index = index;
    unit->order_id[0] = 0x42;
    memcpy(unit->order_id + 1, &index, sizeof index);
}

//  Append an OrderCreated for `order_id`.
static int
s_append_order(bus_tx_t *tx, const uint8_t *order_id)
{
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
    created.order_id = (ProtobufCBinaryData){16, (uint8_t *) order_id};
    created.customer_id = "customer-1";
    created.total = &price;
    created.n_items = 1;
    created.items = items;
    created.created_at_us = 1700000000000000;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope);
    envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
    envelope.order_created = &created;
    return bus_tx_append(tx, &envelope, order_id, 16);
}

//  A unit that creates one order.
static int
s_order_unit(bus_tx_t *tx, void *arg)
{
    order_unit_t *unit = arg;
    return s_append_order(tx, unit->order_id);
}

//  The index of the order an envelope created, or -1.
static int
s_order_index(const Ev__V1__Envelope *envelope)
{
    int index = -1;
    if (envelope->payload_case == EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED &&
        envelope->order_created->order_id.len == 16) {
        memcpy(&index, envelope->order_created->order_id.data + 1, sizeof index);
    }
    return index;
}

//  --------------------------------------------------------------------------
//  The stream and its subscriber

static bus_stream_t *
s_stream_new(fixture_t *fixture, const char *name, bus_stream_config_t *config)
{
    config->stream = name;
    config->conninfo = fixture->conninfo;
    config->pub_endpoint = "tcp://127.0.0.1:*";
    config->heartbeat_ms = 50;
    config->log = fixture->log;
    config->metrics = fixture->metrics;
    bus_stream_t *stream = bus_stream_new(config);
    assert_non_null(stream);
    return stream;
}

static zsock_t *
s_sub_new(bus_stream_t *stream)
{
    zsock_t *sub = zsock_new(ZMQ_SUB);
    zsock_set_subscribe(sub, "");
    zsock_set_rcvtimeo(sub, WAIT_MS);
    assert_int_equal(zsock_connect(sub, "tcp://127.0.0.1:%d", bus_stream_pub_port(stream)), 0);
    return sub;
}

//  Receive one live message, which the writer sends as one frame: the
//  topic, a NUL, the body (docs/protocol.md section 4.1). Returns 0, or -1
//  on timeout. Caller owns *topic_out and *body_out.
static int
s_sub_recv(zsock_t *sub, char **topic_out, zframe_t **body_out)
{
    zmsg_t *msg = zmsg_recv(sub);
    if (!msg) {
        return -1;
    }
    assert_int_equal(zmsg_size(msg), 1);
    zframe_t *frame = zmsg_first(msg);
    const uint8_t *data = zframe_data(frame);
    const uint8_t *separator = memchr(data, '\0', zframe_size(frame));
    assert_non_null(separator);
    size_t topic_size = (size_t) (separator - data);
    *topic_out = strndup((const char *) data, topic_size);
    *body_out = zframe_new(separator + 1, zframe_size(frame) - topic_size - 1);
    zmsg_destroy(&msg);
    return 0;
}

//  Wait for a heartbeat with last_seq >= min_last_seq; skips events.
static bus_heartbeat_t
s_wait_heartbeat(zsock_t *sub, uint64_t min_last_seq)
{
    bus_heartbeat_t heartbeat = {.last_seq = 0};
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (zclock_mono() < deadline) {
        char *topic = NULL;
        zframe_t *body = NULL;
        if (s_sub_recv(sub, &topic, &body)) {
            break;
        }
        bool is_heartbeat = strncmp(topic, BUS_HEARTBEAT_TOPIC_PREFIX, 4) == 0;
        if (is_heartbeat) {
            assert_int_equal(bus_heartbeat_decode(zframe_data(body), zframe_size(body), &heartbeat),
                             BUS_OK);
        }
        zstr_free(&topic);
        zframe_destroy(&body);
        if (is_heartbeat && heartbeat.last_seq >= min_last_seq) {
            return heartbeat;
        }
    }
    fail_msg("no heartbeat with last_seq >= %" PRIu64, min_last_seq);
    return heartbeat;
}

//  Receive the next live event (skipping heartbeats); caller owns the
//  envelope (bus_envelope_destroy) and, if bytes_out, the packed bytes.
static Ev__V1__Envelope *
s_next_event(zsock_t *sub, char **topic_out, zframe_t **bytes_out)
{
    for (;;) {
        char *topic = NULL;
        zframe_t *body = NULL;
        if (s_sub_recv(sub, &topic, &body)) {
            fail_msg("no live event within %d ms", WAIT_MS);
            return NULL;
        }
        if (strncmp(topic, BUS_HEARTBEAT_TOPIC_PREFIX, 4) == 0) {
            zstr_free(&topic);
            zframe_destroy(&body);
            continue;
        }
        Ev__V1__Envelope *envelope = NULL;
        assert_int_equal(bus_envelope_decode(zframe_data(body), zframe_size(body), &envelope),
                         BUS_OK);
        if (topic_out) {
            *topic_out = topic;
        } else {
            zstr_free(&topic);
        }
        if (bytes_out) {
            *bytes_out = body;
        } else {
            zframe_destroy(&body);
        }
        return envelope;
    }
}

//  --------------------------------------------------------------------------
//  Database checks

static long
s_query_number(const char *conninfo, const char *sql)
{
    PGconn *conn = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    PGresult *result = PQexec(conn, sql);
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    long value = PQgetisnull(result, 0, 0) ? -1 : atol(PQgetvalue(result, 0, 0));
    PQclear(result);
    PQfinish(conn);
    return value;
}

static void
s_exec_sql(const char *conninfo, const char *sql)
{
    PGconn *conn = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    PGresult *result = PQexec(conn, sql);
    if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(result));
    }
    PQclear(result);
    PQfinish(conn);
}

//  Assert that the log holds exactly seqs 1..count.
static void
s_assert_gap_free(const char *conninfo, long count)
{
    assert_int_equal(s_query_number(conninfo, "SELECT count(*) FROM bus_events"), count);
    assert_int_equal(s_query_number(conninfo, "SELECT count(DISTINCT seq) FROM bus_events"), count);
    assert_int_equal(s_query_number(conninfo, "SELECT coalesce(min(seq), 1) FROM bus_events"), 1);
    assert_int_equal(s_query_number(conninfo, "SELECT coalesce(max(seq), 0) FROM bus_events"),
                     count);
}

static uint64_t
s_counter(fixture_t *fixture, const char *name, const char *stream)
{
    return svc_counter_value(
        svc_metrics_counter(fixture->metrics, name, "", "stream", stream, NULL));
}

//  --------------------------------------------------------------------------
//  Usage: 100 units, each one OrderCreated; a subscriber sees seq 1..100
//  in order under the right topic, and the log holds the same bytes, with
//  the envelope's stream, seq, type, partition and message id in its columns.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "order-0", &config);
    assert_true(bus_stream_ready(stream));
    zsock_t *sub = s_sub_new(stream);
    s_wait_heartbeat(sub, 0);

    bus_producer_t *producer = bus_producer_new(stream);
    order_unit_t units[100];
    for (int index = 0; index < 100; index++) {
        s_order_unit_init(&units[index], index);
        assert_int_equal(bus_producer_submit(producer, s_order_unit, &units[index], &units[index]),
                         0);
    }
    for (int count = 0; count < 100; count++) {
        bus_completion_t done;
        assert_int_equal(bus_producer_recv(producer, &done), 0);
        assert_int_equal(done.rc, BUS_OK);
        order_unit_t *unit = done.tag;
        assert_int_equal(done.last_seq, (uint64_t) unit->index + 1); //  one producer: FIFO
    }

    zframe_t *received[100];
    Ev__V1__Envelope *envelopes[100];
    for (int index = 0; index < 100; index++) {
        char *topic = NULL;
        Ev__V1__Envelope *envelope = s_next_event(sub, &topic, &received[index]);
        envelopes[index] = envelope;
        assert_int_equal(envelope->seq, (uint64_t) index + 1);
        assert_string_equal(envelope->stream, "order-0");
        assert_int_equal(s_order_index(envelope), index);
        assert_string_equal(topic, "OrderCreated/order-0");
        assert_int_equal(envelope->message_id.len, 16);
        assert_true(envelope->partition < BUS_PARTITIONS_DEFAULT);
        zstr_free(&topic);
    }

    //  Binary results: seq and partition big-endian, message_id 16 bytes.
    PGconn *conn = PQconnectdb(fixture->conninfo);
    PGresult *result = PQexecParams(conn,
                                    "SELECT envelope, stream, seq, type, partition, message_id"
                                    " FROM bus_events ORDER BY seq",
                                    0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal(PQntuples(result), 100);
    for (int index = 0; index < 100; index++) {
        Ev__V1__Envelope *envelope = envelopes[index];
        assert_int_equal(PQgetlength(result, index, 0), (int) zframe_size(received[index]));
        assert_memory_equal(PQgetvalue(result, index, 0), zframe_data(received[index]),
                            zframe_size(received[index]));
        assert_string_equal(PQgetvalue(result, index, 1), envelope->stream);
        const uint8_t *seq = (const uint8_t *) PQgetvalue(result, index, 2);
        uint64_t stored_seq = 0;
        for (int byte = 0; byte < 8; byte++) {
            stored_seq = stored_seq << 8 | seq[byte];
        }
        assert_int_equal(stored_seq, envelope->seq);
        assert_string_equal(PQgetvalue(result, index, 3), envelope->type);
        const uint8_t *partition = (const uint8_t *) PQgetvalue(result, index, 4);
        assert_int_equal((uint32_t) partition[0] << 24 | (uint32_t) partition[1] << 16 |
                             (uint32_t) partition[2] << 8 | partition[3],
                         envelope->partition);
        assert_int_equal(PQgetlength(result, index, 5), 16);
        assert_memory_equal(PQgetvalue(result, index, 5), envelope->message_id.data, 16);
        bus_envelope_destroy(&envelopes[index]);
        zframe_destroy(&received[index]);
    }
    PQclear(result);
    PQfinish(conn);
    assert_int_equal(s_counter(fixture, "bus_published_total", "order-0"), 100);

    bus_producer_destroy(&producer);
    zsock_destroy(&sub);
    bus_stream_destroy(&stream);
    assert_null(stream);
}

//  --------------------------------------------------------------------------
//  A service's own schema is migrated by the writer before any unit runs,
//  once: a unit that writes to the service's table succeeds on the first
//  batch, and a second start applies nothing again.

static const bus_migration_t s_service_migrations[] = {
    {.version = 1,
     .name = "001_things",
     .sql = "CREATE TABLE things (id integer PRIMARY KEY, note text NOT NULL)"},
    {.version = 0}};

static int
s_insert_thing(bus_tx_t *tx, void *arg)
{
    const char *params[] = {(const char *) arg};
    PGresult *result = PQexecParams(bus_tx_conn(tx), "INSERT INTO things VALUES ($1, 'x')", 1, NULL,
                                    params, NULL, NULL, 0);
    int rc = PQresultStatus(result) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(result);
    return rc;
}

static void
test_service_migrations(void **state)
{
    fixture_t *fixture = *state;
    for (int start = 1; start <= 2; start++) {
        bus_stream_config_t config = {.component = "things", .migrations = s_service_migrations};
        bus_stream_t *stream = s_stream_new(fixture, "things-0", &config);
        bus_producer_t *producer = bus_producer_new(stream);
        char id[8];
        (void) snprintf(id, sizeof id, "%d", start);
        assert_int_equal(bus_producer_call(producer, s_insert_thing, id, NULL), BUS_OK);
        bus_producer_destroy(&producer);
        bus_stream_destroy(&stream);
    }
    assert_int_equal(s_query_number(fixture->conninfo, "SELECT count(*) FROM things"), 2);
    assert_int_equal(s_query_number(fixture->conninfo, "SELECT count(*) FROM bus_schema_migrations"
                                                       " WHERE component = 'things'"),
                     1);
}

//  --------------------------------------------------------------------------
//  Group commit: 2,000 units from 4 threads at once commit in far fewer
//  batches, with gap-free seqs.

#define GROUP_THREADS 4
#define GROUP_UNITS 500
#define GROUP_TOTAL ((size_t) GROUP_THREADS * GROUP_UNITS)

typedef struct {
    bus_stream_t *stream;       //  borrowed
    pthread_barrier_t *barrier; //  borrowed
    order_unit_t units[GROUP_UNITS];
    bus_rc_t rc[GROUP_UNITS];  //  completion of units[i]
    uint64_t seq[GROUP_UNITS]; //  its seq
} group_thread_t;

static void *
s_group_thread(void *arg)
{
    group_thread_t *thread = arg;
    bus_producer_t *producer = bus_producer_new(thread->stream);
    pthread_barrier_wait(thread->barrier);
    for (int index = 0; index < GROUP_UNITS; index++) {
        bus_producer_submit(producer, s_order_unit, &thread->units[index], &thread->units[index]);
    }
    for (int count = 0; count < GROUP_UNITS; count++) {
        bus_completion_t done;
        if (bus_producer_recv(producer, &done)) {
            break;
        }
        size_t index = (size_t) ((order_unit_t *) done.tag - thread->units);
        thread->rc[index] = done.rc;
        thread->seq[index] = done.last_seq;
    }
    bus_producer_destroy(&producer);
    return NULL;
}

static int
s_compare_seq(const void *left, const void *right)
{
    uint64_t a = *(const uint64_t *) left, b = *(const uint64_t *) right;
    return a < b ? -1 : a > b;
}

static void
test_group_commit(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "group-0", &config);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, GROUP_THREADS + 1);
    group_thread_t *threads = zmalloc(GROUP_THREADS * sizeof *threads);
    pthread_t ids[GROUP_THREADS];
    for (int thread = 0; thread < GROUP_THREADS; thread++) {
        threads[thread].stream = stream;
        threads[thread].barrier = &barrier;
        for (int index = 0; index < GROUP_UNITS; index++) {
            s_order_unit_init(&threads[thread].units[index], thread * GROUP_UNITS + index);
            threads[thread].rc[index] = BUS_CLOSED;
        }
        pthread_create(&ids[thread], NULL, s_group_thread, &threads[thread]);
    }
    pthread_barrier_wait(&barrier);
    int64_t started_us = zclock_usecs();
    for (int thread = 0; thread < GROUP_THREADS; thread++) {
        pthread_join(ids[thread], NULL);
    }
    int64_t elapsed_us = zclock_usecs() - started_us;
    pthread_barrier_destroy(&barrier);

    uint64_t seqs[GROUP_TOTAL];
    for (int thread = 0; thread < GROUP_THREADS; thread++) {
        for (int index = 0; index < GROUP_UNITS; index++) {
            assert_int_equal(threads[thread].rc[index], BUS_OK);
            seqs[thread * GROUP_UNITS + index] = threads[thread].seq[index];
        }
    }
    qsort(seqs, GROUP_TOTAL, sizeof *seqs, s_compare_seq);
    for (int index = 0; index < GROUP_THREADS * GROUP_UNITS; index++) {
        assert_int_equal(seqs[index], (uint64_t) index + 1);
    }
    s_assert_gap_free(fixture->conninfo, (long) GROUP_TOTAL);
    uint64_t batches = s_counter(fixture, "bus_batches_total", "group-0");
    assert_true(batches < 500);
    (void) fprintf(stderr,
                   "group commit: %d units in %.1f ms = %.0f units/s, %" PRIu64
                   " batches, %.1f units per batch\n",
                   (int) GROUP_TOTAL, (double) elapsed_us / 1000.0,
                   (double) GROUP_TOTAL * 1e6 / (double) elapsed_us, batches,
                   (double) GROUP_TOTAL / (double) batches);
    freen(threads);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  A failed unit rolls back alone: every 7th unit returns -1, every 11th
//  breaks its SQL (a duplicate key) and ignores it. Those complete
//  BUS_HANDLER_FAILED and leave no row, no event and nothing published.

#define FAIL_UNITS 200

static bool
s_fails(int index)
{
    return index % 7 == 3 || index % 11 == 5;
}

static int
s_item_unit(bus_tx_t *tx, void *arg)
{
    order_unit_t *unit = arg;
    char id_text[16];
    (void) snprintf(id_text, sizeof id_text, "%d", unit->index % 11 == 5 ? -1 : unit->index);
    const char *params[] = {id_text};
    PGresult *result = PQexecParams(bus_tx_conn(tx), "INSERT INTO test_items (id) VALUES ($1)", 1,
                                    NULL, params, NULL, NULL, 0);
    PQclear(result); //  ignored on purpose: the writer sees the failed transaction
    if (s_append_order(tx, unit->order_id)) {
        return -1;
    }
    return unit->index % 7 == 3 ? -1 : 0;
}

//  `committed` units that each stored its id in test_items (which held
//  -1 before) and appended its order committed, and none of those s_fails
//  names: exactly their rows are stored, their events gap-free, and
//  published live in seq order.
static void
s_assert_committed(fixture_t *fixture, zsock_t *sub, long committed)
{
    assert_int_equal(s_query_number(fixture->conninfo, "SELECT count(*) FROM test_items"),
                     committed + 1);
    assert_int_equal(s_query_number(fixture->conninfo, "SELECT count(*) FROM test_items"
                                                       " WHERE id >= 0 AND (id % 7 = 3"
                                                       " OR id % 11 = 5)"),
                     0);
    s_assert_gap_free(fixture->conninfo, committed);
    for (long seq = 1; seq <= committed; seq++) {
        Ev__V1__Envelope *envelope = s_next_event(sub, NULL, NULL);
        assert_int_equal(envelope->seq, (uint64_t) seq);
        assert_false(s_fails(s_order_index(envelope)));
        bus_envelope_destroy(&envelope);
    }
}

static void
test_failed_unit_rolls_back_alone(void **state)
{
    fixture_t *fixture = *state;
    s_exec_sql(fixture->conninfo, "CREATE TABLE test_items (id integer PRIMARY KEY);"
                                  "INSERT INTO test_items VALUES (-1)");
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "fail-0", &config);
    zsock_t *sub = s_sub_new(stream);
    s_wait_heartbeat(sub, 0);

    bus_producer_t *producer = bus_producer_new(stream);
    order_unit_t units[FAIL_UNITS];
    for (int index = 0; index < FAIL_UNITS; index++) {
        s_order_unit_init(&units[index], index);
        bus_producer_submit(producer, s_item_unit, &units[index], &units[index]);
    }
    long committed = 0;
    for (int count = 0; count < FAIL_UNITS; count++) {
        bus_completion_t done;
        assert_int_equal(bus_producer_recv(producer, &done), 0);
        order_unit_t *unit = done.tag;
        assert_int_equal(done.rc, s_fails(unit->index) ? BUS_HANDLER_FAILED : BUS_OK);
        committed += done.rc == BUS_OK;
    }
    assert_int_equal(s_counter(fixture, "bus_units_failed_total", "fail-0"),
                     (uint64_t) (FAIL_UNITS - committed));
    s_assert_committed(fixture, sub, committed);
    bus_producer_destroy(&producer);
    zsock_destroy(&sub);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  A unit whose SQL fails once (as a deadlock's victim would) runs once
//  more and commits; the units beside it commit too.

typedef struct {
    order_unit_t unit; //  which order
    int runs;          //  how often it ran
} flaky_unit_t;

static int
s_flaky_unit(bus_tx_t *tx, void *arg)
{
    flaky_unit_t *flaky = arg;
    if (flaky->runs++ == 0) {
        PQclear(PQexec(bus_tx_conn(tx), "SELECT 1 / 0")); //  aborts the transaction
        return 0;
    }
    return s_append_order(tx, flaky->unit.order_id);
}

static void
test_transient_unit_failure(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "flaky-0", &config);
    bus_producer_t *producer = bus_producer_new(stream);
    flaky_unit_t units[3];
    for (int index = 0; index < 3; index++) {
        s_order_unit_init(&units[index].unit, index);
        units[index].runs = index == 1 ? 0 : 1; //  only the middle one fails (once)
    }
    for (int index = 0; index < 3; index++) {
        assert_int_equal(bus_producer_submit(producer, s_flaky_unit, &units[index], &units[index]),
                         0);
    }
    for (int count = 0; count < 3; count++) {
        bus_completion_t done;
        assert_int_equal(bus_producer_recv(producer, &done), 0);
        assert_int_equal(done.rc, BUS_OK);
    }
    assert_int_equal(units[1].runs, 2);
    assert_int_equal(s_counter(fixture, "bus_units_failed_total", "flaky-0"), 0);
    s_assert_gap_free(fixture->conninfo, 3);
    bus_producer_destroy(&producer);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  Sets: units queued together with the same batch function run it ONCE
//  (one statement for all), then each its own function, which appends its
//  event. A set broken by one unit (a duplicate key in its statement) is
//  run again in sets of one, so that unit alone fails; a unit whose own
//  function fails is removed as usual. A gate unit holds the writer until
//  every set unit is queued, so they all meet in one batch.

#define SET_UNITS 200

//  What the set function saw: written on the writer's thread, read by the
//  test after the completions.
typedef struct {
    size_t calls;     //  calls of the set function
    size_t max_count; //  the largest set
    size_t singles;   //  sets of one
    bool in_order;    //  every set's args came in submission order
} set_stats_t;

//  A set unit's argument.
typedef struct {
    order_unit_t unit;  //  which order (index as in FAIL_UNITS: s_fails)
    set_stats_t *stats; //  borrowed
} set_unit_t;

//  The gate: waits for the test's byte the first time it runs (a rerun of
//  its batch runs it again).
typedef struct {
    int fd;      //  read end of the test's pipe
    bool opened; //  the byte was read
} gate_t;

static int
s_gate_unit(bus_tx_t *tx, void *arg)
{
    (void) tx;
    gate_t *gate = arg;
    char byte;
    if (!gate->opened) {
        gate->opened = read(gate->fd, &byte, 1) == 1;
    }
    return gate->opened ? 0 : -1;
}

//  One statement for the whole set: every unit's id, -1 for those that
//  break it (index % 11 == 5; the table holds -1 already).
static int
s_item_set(bus_tx_t *tx, void *const *args, size_t count)
{
    const set_unit_t *first = args[0];
    set_stats_t *stats = first->stats;
    stats->calls++;
    stats->max_count = count > stats->max_count ? count : stats->max_count;
    stats->singles += count == 1;
    char ids[SET_UNITS * 8 + 8] = "{";
    size_t size = 1;
    for (size_t index = 0; index < count; index++) {
        const set_unit_t *unit = args[index];
        if (index > 0 && unit->unit.index <= ((const set_unit_t *) args[index - 1])->unit.index) {
            stats->in_order = false;
        }
        size += (size_t) snprintf(ids + size, sizeof ids - size, "%s%d", index ? "," : "",
                                  unit->unit.index % 11 == 5 ? -1 : unit->unit.index);
    }
    (void) snprintf(ids + size, sizeof ids - size, "}");
    const char *params[] = {ids};
    PGresult *result =
        PQexecParams(bus_tx_conn(tx), "INSERT INTO test_items (id) SELECT unnest($1::integer[])", 1,
                     NULL, params, NULL, NULL, 0);
    PQclear(result); //  ignored on purpose: the writer sees the failed transaction
    return 0;
}

//  Each unit's own half: its event; every 7th fails here.
static int
s_item_after_set(bus_tx_t *tx, void *arg)
{
    set_unit_t *unit = arg;
    if (s_append_order(tx, unit->unit.order_id)) {
        return -1;
    }
    return unit->unit.index % 7 == 3 ? -1 : 0;
}

static void
test_sets(void **state)
{
    fixture_t *fixture = *state;
    s_exec_sql(fixture->conninfo, "CREATE TABLE test_items (id integer PRIMARY KEY);"
                                  "INSERT INTO test_items VALUES (-1)");
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "set-0", &config);
    zsock_t *sub = s_sub_new(stream);
    s_wait_heartbeat(sub, 0);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    gate_t gate = {.fd = fds[0]};
    bus_producer_t *producer = bus_producer_new(stream);
    assert_int_equal(bus_producer_submit(producer, s_gate_unit, &gate, NULL), 0);
    set_stats_t stats = {.in_order = true};
    set_unit_t *units = zmalloc(SET_UNITS * sizeof *units);
    for (int index = 0; index < SET_UNITS; index++) {
        s_order_unit_init(&units[index].unit, index);
        units[index].stats = &stats;
        assert_int_equal(bus_producer_submit_set(producer, s_item_set, s_item_after_set,
                                                 &units[index], &units[index]),
                         0);
    }
    assert_int_equal(write(fds[1], "g", 1), 1);

    long committed = 0;
    uint64_t last_seq = 0;
    for (int count = 0; count < SET_UNITS + 1; count++) {
        bus_completion_t done;
        assert_int_equal(bus_producer_recv(producer, &done), 0);
        if (!done.tag) {
            assert_int_equal(done.rc, BUS_OK); //  the gate
            continue;
        }
        set_unit_t *unit = done.tag;
        assert_int_equal(done.rc, s_fails(unit->unit.index) ? BUS_HANDLER_FAILED : BUS_OK);
        if (done.rc == BUS_OK) {
            //  Completions come in submission order; each unit its own seq.
            assert_int_equal(done.last_seq, last_seq + 1);
            last_seq = done.last_seq;
            committed++;
        }
    }
    //  All of them met in one set first; the poison split it into sets of
    //  one; the args came in submission order every time.
    assert_int_equal(stats.max_count, SET_UNITS);
    assert_true(stats.singles > 0);
    assert_true(stats.in_order);
    s_assert_committed(fixture, sub, committed);
    freen(units);
    close(fds[0]);
    close(fds[1]);
    bus_producer_destroy(&producer);
    zsock_destroy(&sub);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  Heartbeats carry last_seq; a restart continues at last_seq + 1.

static void
test_heartbeat_and_restart(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "restart-0", &config);
    zsock_t *sub = s_sub_new(stream);
    bus_heartbeat_t heartbeat = s_wait_heartbeat(sub, 0);
    assert_int_equal(heartbeat.last_seq, 0);
    assert_int_equal(heartbeat.first_seq, 1);
    assert_int_equal(heartbeat.interval_ms, 50);
    assert_string_equal(heartbeat.stream, "restart-0");

    bus_producer_t *producer = bus_producer_new(stream);
    order_unit_t units[6];
    for (int index = 0; index < 5; index++) {
        s_order_unit_init(&units[index], index);
        uint64_t seq = 0;
        assert_int_equal(bus_producer_call(producer, s_order_unit, &units[index], &seq), BUS_OK);
        assert_int_equal(seq, (uint64_t) index + 1);
    }
    heartbeat = s_wait_heartbeat(sub, 5);
    assert_int_equal(heartbeat.last_seq, 5);
    bus_producer_destroy(&producer);
    zsock_destroy(&sub);
    bus_stream_destroy(&stream);

    stream = s_stream_new(fixture, "restart-0", &config);
    sub = s_sub_new(stream);
    heartbeat = s_wait_heartbeat(sub, 0);
    assert_int_equal(heartbeat.last_seq, 5);
    producer = bus_producer_new(stream);
    s_order_unit_init(&units[5], 5);
    uint64_t seq = 0;
    assert_int_equal(bus_producer_call(producer, s_order_unit, &units[5], &seq), BUS_OK);
    assert_int_equal(seq, 6);
    Ev__V1__Envelope *envelope = s_next_event(sub, NULL, NULL);
    assert_int_equal(envelope->seq, 6);
    bus_envelope_destroy(&envelope);
    s_assert_gap_free(fixture->conninfo, 6);
    bus_producer_destroy(&producer);
    zsock_destroy(&sub);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  Crash between commit and publish: a child process commits and is
//  killed (SIGKILL from the on_commit hook) before it publishes its Nth
//  event. A restarted writer's heartbeat shows the tail, and replay from 1
//  returns every committed event, including the one never seen live.

#define CRASH_AFTER 5

typedef struct {
    int commits;    //  commits so far
    int kill_after; //  the commit that kills
} crash_hook_t;

static void
s_crash_hook(uint64_t last_seq, void *arg)
{
    (void) last_seq;
    crash_hook_t *hook = arg;
    if (++hook->commits == hook->kill_after) {
        (void) raise(SIGKILL);
    }
}

//  The child: a stream whose Nth commit kills it. Reports its PUB port on
//  report_fd, then submits one unit per byte read on go_fd: the parent
//  says go after it received each event, so every event before the Nth
//  has left the child before the commit that kills it (publishing is
//  queued to ZeroMQ's I/O thread; a SIGKILL may lose what is still
//  queued there, which replay serves, but this test checks the live path
//  up to the crash).
static int
s_crash_child(const char *conninfo, int report_fd, int go_fd)
{
    svc_log_t *log = svc_log_new("test", "crash-child", SVC_LOG_WARN, stderr);
    svc_metrics_t *metrics = svc_metrics_new();
    crash_hook_t hook = {.kill_after = CRASH_AFTER};
    bus_stream_config_t config = {.stream = "crash-0",
                                  .conninfo = conninfo,
                                  .pub_endpoint = "tcp://127.0.0.1:*",
                                  .heartbeat_ms = 50,
                                  .log = log,
                                  .metrics = metrics,
                                  .on_commit = s_crash_hook,
                                  .on_commit_arg = &hook};
    bus_stream_t *stream = bus_stream_new(&config);
    if (!stream || !bus_stream_ready(stream)) {
        return 2;
    }
    char port[16];
    int length = snprintf(port, sizeof port, "%d\n", bus_stream_pub_port(stream));
    if (write(report_fd, port, (size_t) length) != length) {
        return 3;
    }
    bus_producer_t *producer = bus_producer_new(stream);
    for (int index = 0; index < CRASH_AFTER * 2; index++) {
        char go = 0;
        if (read(go_fd, &go, 1) != 1) {
            return 3;
        }
        order_unit_t unit;
        s_order_unit_init(&unit, index);
        bus_producer_call(producer, s_order_unit, &unit, NULL);
    }
    return 4; //  not reached: the hook kills us
}

//  Read one line from fd within WAIT_MS.
static int
s_read_port(int fd)
{
    struct pollfd item = {.fd = fd, .events = POLLIN};
    char line[16] = {0};
    size_t used = 0;
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (used < sizeof line - 1 && !strchr(line, '\n') && zclock_mono() < deadline) {
        if (poll(&item, 1, (int) (deadline - zclock_mono())) == 1) {
            ssize_t got = read(fd, line + used, sizeof line - 1 - used);
            assert_true(got > 0);
            used += (size_t) got;
        }
    }
    return atoi(line);
}

//  Request replay from `from_seq`; returns the reply message (caller owns).
static zmsg_t *
s_replay(int port, const char *stream, uint64_t from_seq, uint32_t max_events)
{
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    zsock_set_rcvtimeo(dealer, WAIT_MS);
    zsock_connect(dealer, "tcp://127.0.0.1:%d", port);
    bus_replay_request_t request = {.from_seq = from_seq, .max_events = max_events};
    (void) snprintf(request.stream, sizeof request.stream, "%s", stream);
    zframe_t *frame = bus_replay_request_encode(&request);
    zframe_send(&frame, dealer, 0);
    zmsg_t *reply = zmsg_recv(dealer);
    assert_non_null(reply);
    zsock_destroy(&dealer);
    return reply;
}

static void
test_crash_between_commit_and_publish(void **state)
{
    fixture_t *fixture = *state;
    int report[2], go[2];
    assert_int_equal(pipe(report), 0);
    assert_int_equal(pipe(go), 0);
    //  Only the child's ends cross exec.
    fcntl(report[0], F_SETFD, FD_CLOEXEC);
    fcntl(go[1], F_SETFD, FD_CLOEXEC);
    char report_fd[16], go_fd[16];
    (void) snprintf(report_fd, sizeof report_fd, "%d", report[1]);
    (void) snprintf(go_fd, sizeof go_fd, "%d", go[0]);
    char *argv[] = {"bus_stream_test", "--crash-child", fixture->conninfo, report_fd, go_fd, NULL};
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(report[1]);
    close(go[0]);
    int port = s_read_port(report[0]);
    assert_true(port > 0);
    zsock_t *sub = zsock_new(ZMQ_SUB);
    zsock_set_subscribe(sub, "");
    zsock_set_rcvtimeo(sub, WAIT_MS);
    //  Never reconnect: once the child is dead, another test running in
    //  parallel may bind its port, and its events must not reach us.
    zsock_set_reconnect_ivl(sub, -1);
    zsock_connect(sub, "tcp://127.0.0.1:%d", port);
    s_wait_heartbeat(sub, 0);
    assert_int_equal(write(go[1], "g", 1), 1);

    //  Live: 1..N-1, each before the child commits the next, then the
    //  child dies before publishing N.
    for (uint64_t seq = 1; seq < CRASH_AFTER; seq++) {
        Ev__V1__Envelope *envelope = s_next_event(sub, NULL, NULL);
        assert_int_equal(envelope->seq, seq);
        bus_envelope_destroy(&envelope);
        assert_int_equal(write(go[1], "g", 1), 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    zsock_set_rcvtimeo(sub, 200);
    zmsg_t *late = zmsg_recv(sub);
    while (late) { //  only heartbeats may still be queued, never seq N
        char *topic = zmsg_popstr(late);
        assert_int_equal(strncmp(topic, BUS_HEARTBEAT_TOPIC_PREFIX, 4), 0);
        zstr_free(&topic);
        zmsg_destroy(&late);
        late = zmsg_recv(sub);
    }
    zsock_destroy(&sub);
    close(report[0]);
    close(go[1]);
    s_assert_gap_free(fixture->conninfo, CRASH_AFTER);

    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "crash-0", &config);
    sub = s_sub_new(stream);
    bus_heartbeat_t heartbeat = s_wait_heartbeat(sub, 0);
    assert_int_equal(heartbeat.last_seq, CRASH_AFTER);
    zmsg_t *reply = s_replay(bus_stream_replay_port(stream), "crash-0", 1, 100);
    assert_int_equal(zmsg_size(reply), 1 + CRASH_AFTER);
    zframe_t *header = zmsg_pop(reply);
    bus_replay_reply_t answer;
    assert_int_equal(bus_replay_reply_decode(zframe_data(header), zframe_size(header), &answer),
                     BUS_OK);
    assert_int_equal(answer.status, BUS_REPLAY_OK);
    assert_int_equal(answer.to_seq, CRASH_AFTER);
    for (uint64_t seq = 1; seq <= CRASH_AFTER; seq++) {
        zframe_t *frame = zmsg_pop(reply);
        Ev__V1__Envelope *envelope = NULL;
        assert_int_equal(bus_envelope_decode(zframe_data(frame), zframe_size(frame), &envelope),
                         BUS_OK);
        assert_int_equal(envelope->seq, seq);
        bus_envelope_destroy(&envelope);
        zframe_destroy(&frame);
    }
    zframe_destroy(&header);
    zmsg_destroy(&reply);
    zsock_destroy(&sub);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  The database is unavailable at start: not ready, units get
//  BUS_DB_UNAVAILABLE at once; when it appears, the writer becomes ready
//  by itself and units commit.

typedef struct {
    bus_stream_t *stream; //  borrowed
} ready_arg_t;

static bool
s_is_ready(void *arg)
{
    return bus_stream_ready(((ready_arg_t *) arg)->stream);
}

static void
s_rename_db(const char *conninfo, const char *from_suffix, const char *to_suffix)
{
    PQconninfoOption *options = PQconninfoParse(conninfo, NULL);
    const char *dbname = NULL;
    for (PQconninfoOption *option = options; option->keyword; option++) {
        if (streq(option->keyword, "dbname")) {
            dbname = option->val;
        }
    }
    char *sql = zsys_sprintf("ALTER DATABASE \"%s%s\" RENAME TO \"%s%s\"", dbname, from_suffix,
                             dbname, to_suffix);
    s_exec_sql(getenv("TEST_PG_DSN"), sql);
    zstr_free(&sql);
    PQconninfoFree(options);
}

static void
test_database_unavailable_at_start(void **state)
{
    fixture_t *fixture = *state;
    s_rename_db(fixture->conninfo, "", "_later");
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "late-0", &config);
    assert_false(bus_stream_ready(stream));
    bus_producer_t *producer = bus_producer_new(stream);
    order_unit_t unit;
    s_order_unit_init(&unit, 0);
    assert_int_equal(bus_producer_call(producer, s_order_unit, &unit, NULL), BUS_DB_UNAVAILABLE);

    s_rename_db(fixture->conninfo, "_later", "");
    ready_arg_t arg = {stream};
    assert_true(ts_wait_until(s_is_ready, &arg, WAIT_MS));
    uint64_t seq = 0;
    assert_int_equal(bus_producer_call(producer, s_order_unit, &unit, &seq), BUS_OK);
    assert_int_equal(seq, 1);
    s_assert_gap_free(fixture->conninfo, 1);
    bus_producer_destroy(&producer);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  The writer's backend is terminated mid-stream: the next unit finds the
//  connection closed before anything ran, reconnects and commits; nothing
//  is lost or duplicated.

static bool
s_backend_gone(void *arg)
{
    return s_query_number((const char *) arg, "SELECT count(*) FROM pg_stat_activity"
                                              " WHERE application_name = 'bus-stream-kill-0'") == 0;
}

static void
test_backend_terminated(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "kill-0", &config);
    bus_producer_t *producer = bus_producer_new(stream);
    order_unit_t units[20];
    for (int index = 0; index < 20; index++) {
        s_order_unit_init(&units[index], index);
        if (index == 10) {
            assert_int_equal(s_query_number(fixture->conninfo,
                                            "SELECT count(pg_terminate_backend(pid))"
                                            " FROM pg_stat_activity"
                                            " WHERE datname = current_database()"
                                            " AND application_name = 'bus-stream-kill-0'"),
                             1);
            assert_true(ts_wait_until(s_backend_gone, fixture->conninfo, WAIT_MS));
        }
        uint64_t seq = 0;
        assert_int_equal(bus_producer_call(producer, s_order_unit, &units[index], &seq), BUS_OK);
        assert_int_equal(seq, (uint64_t) index + 1);
    }
    s_assert_gap_free(fixture->conninfo, 20);
    assert_true(bus_stream_ready(stream));
    bus_producer_destroy(&producer);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  The connection breaks during COMMIT (a deferred trigger terminates its
//  own backend): the batch is in doubt until the writer reconnects and
//  learns it aborted; only then does the unit get BUS_DB_UNAVAILABLE. The
//  next unit takes the next seq: no gap, no reuse.

static int
s_doomed_unit(bus_tx_t *tx, void *arg)
{
    order_unit_t *unit = arg;
    PGresult *result = PQexec(bus_tx_conn(tx), unit->index == 666 ? "INSERT INTO doom VALUES (666)"
                                                                  : "INSERT INTO doom VALUES (1)");
    int rc = PQresultStatus(result) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(result);
    return rc || s_append_order(tx, unit->order_id) ? -1 : 0;
}

static void
test_connection_lost_during_commit(void **state)
{
    fixture_t *fixture = *state;
    s_exec_sql(fixture->conninfo,
               "CREATE TABLE doom (id integer);"
               "CREATE FUNCTION doom_fire() RETURNS trigger LANGUAGE plpgsql AS $$"
               " BEGIN IF NEW.id = 666 THEN PERFORM pg_terminate_backend(pg_backend_pid());"
               " PERFORM pg_sleep(1); END IF; RETURN NULL; END $$;"
               "CREATE CONSTRAINT TRIGGER doom_at_commit AFTER INSERT ON doom"
               " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION doom_fire()");
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "doubt-0", &config);
    bus_producer_t *producer = bus_producer_new(stream);
    order_unit_t units[3];
    s_order_unit_init(&units[0], 0);
    s_order_unit_init(&units[1], 666);
    s_order_unit_init(&units[2], 2);
    uint64_t seq = 0;
    assert_int_equal(bus_producer_call(producer, s_doomed_unit, &units[0], &seq), BUS_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(bus_producer_call(producer, s_doomed_unit, &units[1], &seq),
                     BUS_DB_UNAVAILABLE);
    ready_arg_t arg = {stream};
    assert_true(ts_wait_until(s_is_ready, &arg, WAIT_MS));
    assert_int_equal(bus_producer_call(producer, s_doomed_unit, &units[2], &seq), BUS_OK);
    assert_int_equal(seq, 2);
    s_assert_gap_free(fixture->conninfo, 2);
    assert_int_equal(s_query_number(fixture->conninfo, "SELECT count(*) FROM doom"), 2);
    assert_int_equal(s_query_number(fixture->conninfo, "SELECT count(*) FROM doom WHERE id = 666"),
                     0);
    bus_producer_destroy(&producer);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  Bad configuration is refused; an invalid envelope fails only its unit.

static int
s_invalid_unit(bus_tx_t *tx, void *arg)
{
    (void) arg;
    Ev__V1__Envelope envelope;
    ev__v1__envelope__init(&envelope); //  no payload, no type: breaks the contract
    return bus_tx_append(tx, &envelope, "k", 1);
}

static void
test_invalid_input(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {.stream = "Bad/Name",
                                  .conninfo = fixture->conninfo,
                                  .pub_endpoint = "tcp://127.0.0.1:*",
                                  .log = fixture->log,
                                  .metrics = fixture->metrics};
    assert_null(bus_stream_new(&config));
    config.stream = "ipc-0";
    config.pub_endpoint = "ipc:///nonexistent-dir/x.sock";
    assert_null(bus_stream_new(&config));

    bus_stream_config_t good = {0};
    bus_stream_t *stream = s_stream_new(fixture, "invalid-0", &good);
    bus_producer_t *producer = bus_producer_new(stream);
    assert_int_equal(bus_producer_call(producer, s_invalid_unit, NULL, NULL), BUS_MALFORMED);
    order_unit_t unit;
    s_order_unit_init(&unit, 1);
    uint64_t seq = 0;
    assert_int_equal(bus_producer_call(producer, s_order_unit, &unit, &seq), BUS_OK);
    assert_int_equal(seq, 1);
    bus_producer_destroy(&producer);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  Two writers for one stream: the second, whose tail is stale, is fenced
//  (its unit gets BUS_DB_UNAVAILABLE and nothing of it is stored); after
//  re-reading the tail it appends after the first writer's events. No seq
//  is ever written twice.

static void
test_second_writer_is_fenced(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config_a = {0}, config_b = {0};
    bus_stream_t *writer_a = s_stream_new(fixture, "twice-0", &config_a);
    bus_stream_t *writer_b = s_stream_new(fixture, "twice-0", &config_b);
    bus_producer_t *producer_a = bus_producer_new(writer_a);
    bus_producer_t *producer_b = bus_producer_new(writer_b);
    order_unit_t units[3];
    for (int index = 0; index < 3; index++) {
        s_order_unit_init(&units[index], index);
    }
    uint64_t seq = 0;
    assert_int_equal(bus_producer_call(producer_a, s_order_unit, &units[0], &seq), BUS_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(bus_producer_call(producer_b, s_order_unit, &units[1], &seq),
                     BUS_DB_UNAVAILABLE);
    ready_arg_t arg = {writer_b};
    assert_true(ts_wait_until(s_is_ready, &arg, WAIT_MS));
    assert_int_equal(bus_producer_call(producer_b, s_order_unit, &units[2], &seq), BUS_OK);
    assert_int_equal(seq, 2);
    s_assert_gap_free(fixture->conninfo, 2);
    bus_producer_destroy(&producer_b);
    bus_producer_destroy(&producer_a);
    bus_stream_destroy(&writer_b);
    bus_stream_destroy(&writer_a);
}

//  --------------------------------------------------------------------------
//  CURVE: with curve_server_cert, PUB and ROUTER are CURVE servers; an
//  allowed client key hears the heartbeat and can replay, a plain client
//  hears nothing.

static char *
s_make_cert(const char *dir, const char *name, const char *allow_dir)
{
    zcert_t *cert = zcert_new();
    char *path = zsys_sprintf("%s/%s", dir, name);
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
    char *server = s_make_cert(dir, "server", NULL);
    char *client = s_make_cert(dir, "client", allow_dir);
    char *server_secret = zsys_sprintf("%s_secret", server);
    char *client_secret = zsys_sprintf("%s_secret", client);
    bus_auth_t *auth = bus_auth_new(allow_dir, NULL);
    assert_non_null(auth);

    bus_stream_config_t config = {.curve_server_cert = server_secret};
    bus_stream_t *stream = s_stream_new(fixture, "curve-0", &config);
    zsock_t *allowed = zsock_new(ZMQ_SUB);
    assert_int_equal(bus_keys_client_apply(allowed, client_secret, server), BUS_KEYS_OK);
    zsock_set_subscribe(allowed, "");
    zsock_set_rcvtimeo(allowed, WAIT_MS);
    zsock_connect(allowed, "tcp://127.0.0.1:%d", bus_stream_pub_port(stream));
    zsock_t *plain = s_sub_new(stream);
    assert_string_equal(s_wait_heartbeat(allowed, 0).stream, "curve-0");
    zsock_set_rcvtimeo(plain, 300); //  a few heartbeat periods: nothing may arrive
    zmsg_t *overheard = zmsg_recv(plain);
    assert_null(overheard);

    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    assert_int_equal(bus_keys_client_apply(dealer, client_secret, server), BUS_KEYS_OK);
    zsock_set_rcvtimeo(dealer, WAIT_MS);
    zsock_connect(dealer, "tcp://127.0.0.1:%d", bus_stream_replay_port(stream));
    bus_replay_request_t request = {.stream = "curve-0", .from_seq = 1, .max_events = 1};
    zframe_t *frame = bus_replay_request_encode(&request);
    zframe_send(&frame, dealer, 0);
    zmsg_t *reply = zmsg_recv(dealer);
    assert_non_null(reply);
    zmsg_destroy(&reply);

    zsock_destroy(&dealer);
    zsock_destroy(&plain);
    zsock_destroy(&allowed);
    bus_stream_destroy(&stream);
    bus_auth_destroy(&auth);
    zstr_free(&client_secret);
    zstr_free(&server_secret);
    zstr_free(&client);
    zstr_free(&server);
    zstr_free(&allow_dir);
    ts_tmpdir_remove(&dir);
}

int
main(int argc, char *argv[])
{
    if (argc == 5 && streq(argv[1], "--crash-child")) {
        return s_crash_child(argv[2], atoi(argv[3]), atoi(argv[4]));
    }
    zsys_set_logstream(stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_service_migrations, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_unit_rolls_back_alone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sets, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_transient_unit_failure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_and_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_commit_and_publish, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_database_unavailable_at_start, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_backend_terminated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_connection_lost_during_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_input, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_second_writer_is_fenced, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_curve, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
