/*  =========================================================================
    bus_replay_test - the replay server against a real PostgreSQL

    A stream writes the events (so the log holds exactly what a writer
    stores); a DEALER asks for them the way a subscriber does. Each test
    gets a fresh database from the cluster scripts/test.sh starts.
    =========================================================================
*/
#include "bus_classes.h"
#include "bus_control.h"
#include "bus_envelope.h"
#include "bus_replay.h"
#include "bus_stream.h"
#include "ts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

//  How long any single wait in these tests may take.
#define WAIT_MS 10000

typedef struct {
    char *conninfo;         //  fresh database (owned)
    FILE *log_file;         //  where the log goes, read back by tests (owned)
    svc_log_t *log;         //  (owned)
    svc_metrics_t *metrics; //  (owned)
} fixture_t;

//  What a unit appends: `count` OrderCreated, customer ids of
//  `customer_size` bytes.
typedef struct {
    int count;
    size_t customer_size;
} batch_unit_t;

//  A reply taken apart.
typedef struct {
    bus_replay_reply_t header;               //  the ReplayReply
    zframe_t *events[BUS_REPLAY_EVENTS_MAX]; //  envelopes (owned)
    size_t count;                            //  how many
    size_t bytes;                            //  their total size
} reply_t;

static int
s_setup(void **state)
{
    fixture_t *fixture = zmalloc(sizeof *fixture);
    fixture->conninfo = ts_pg_create_db();
    fixture->log_file = tmpfile();
    assert_non_null(fixture->log_file);
    fixture->log = svc_log_new("test", "bus_replay_test", SVC_LOG_WARN, fixture->log_file);
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
    (void) fclose(fixture->log_file);
    ts_pg_drop_db(&fixture->conninfo);
    freen(fixture);
    return 0;
}

//  --------------------------------------------------------------------------
//  Writing events

static int
s_batch_unit(bus_tx_t *tx, void *arg)
{
    batch_unit_t *unit = arg;
    char *customer = zmalloc(unit->customer_size + 1);
    memset(customer, 'c', unit->customer_size);
    int rc = 0;
    for (int index = 0; index < unit->count && rc == 0; index++) {
        uint8_t order_id[16] = {0x42};
        memcpy(order_id + 1, &index, sizeof index);
        Ev__V1__Money price;
        ev__v1__money__init(&price);
        price.currency = "EUR";
        price.amount_minor = 500;
        Ev__V1__OrderItem item;
        ev__v1__order_item__init(&item);
        item.sku = "SKU-9";
        item.quantity = 2;
        item.unit_price = &price;
        Ev__V1__OrderItem *items[] = {&item};
        Ev__V1__OrderCreated created;
        ev__v1__order_created__init(&created);
        created.order_id = (ProtobufCBinaryData){16, order_id};
        created.customer_id = customer;
        created.total = &price;
        created.n_items = 1;
        created.items = items;
        Ev__V1__Envelope envelope;
        ev__v1__envelope__init(&envelope);
        envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
        envelope.order_created = &created;
        rc = bus_tx_append(tx, &envelope, order_id, sizeof order_id);
    }
    freen(customer);
    return rc;
}

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

//  Commit `count` events of `customer_size`-byte customers in one unit.
static void
s_write(bus_stream_t *stream, int count, size_t customer_size)
{
    bus_producer_t *producer = bus_producer_new(stream);
    batch_unit_t unit = {count, customer_size};
    assert_int_equal(bus_producer_call(producer, s_batch_unit, &unit, NULL), BUS_OK);
    bus_producer_destroy(&producer);
}

//  --------------------------------------------------------------------------
//  Asking

static zsock_t *
s_dealer_new(int port)
{
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    zsock_set_rcvtimeo(dealer, WAIT_MS);
    assert_int_equal(zsock_connect(dealer, "tcp://127.0.0.1:%d", port), 0);
    return dealer;
}

//  Receive one reply and take it apart; events are checked to decode.
static void
s_recv_reply(zsock_t *dealer, reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    zmsg_t *msg = zmsg_recv(dealer);
    assert_non_null(msg);
    zframe_t *header = zmsg_pop(msg);
    assert_int_equal(
        bus_replay_reply_decode(zframe_data(header), zframe_size(header), &reply->header), BUS_OK);
    zframe_destroy(&header);
    zframe_t *frame;
    while ((frame = zmsg_pop(msg))) {
        assert_true(reply->count < BUS_REPLAY_EVENTS_MAX);
        Ev__V1__Envelope *envelope = NULL;
        assert_int_equal(bus_envelope_decode(zframe_data(frame), zframe_size(frame), &envelope),
                         BUS_OK);
        assert_int_equal(envelope->seq, reply->header.from_seq + reply->count);
        bus_envelope_destroy(&envelope);
        reply->bytes += zframe_size(frame);
        reply->events[reply->count++] = frame;
    }
    zmsg_destroy(&msg);
}

static void
s_reply_free(reply_t *reply)
{
    for (size_t index = 0; index < reply->count; index++) {
        zframe_destroy(&reply->events[index]);
    }
    reply->count = 0;
}

static void
s_ask(zsock_t *dealer, const char *stream, uint64_t from_seq, uint32_t max_events, reply_t *reply)
{
    bus_replay_request_t request = {.from_seq = from_seq, .max_events = max_events};
    (void) snprintf(request.stream, sizeof request.stream, "%s", stream);
    zframe_t *frame = bus_replay_request_encode(&request);
    assert_non_null(frame);
    assert_int_equal(zframe_send(&frame, dealer, 0), 0);
    s_recv_reply(dealer, reply);
}

//  The event log's envelope of `seq`, compared with `frame`.
static void
s_assert_logged(const char *conninfo, uint64_t seq, zframe_t *frame)
{
    PGconn *conn = PQconnectdb(conninfo);
    char seq_text[24];
    (void) snprintf(seq_text, sizeof seq_text, "%" PRIu64, seq);
    const char *params[] = {seq_text};
    PGresult *result = PQexecParams(conn, "SELECT envelope FROM bus_events WHERE seq = $1", 1, NULL,
                                    params, NULL, NULL, 1);
    assert_int_equal(PQntuples(result), 1);
    assert_int_equal(PQgetlength(result, 0, 0), (int) zframe_size(frame));
    assert_memory_equal(PQgetvalue(result, 0, 0), zframe_data(frame), zframe_size(frame));
    PQclear(result);
    PQfinish(conn);
}

static uint64_t
s_requests(fixture_t *fixture, const char *stream, const char *status)
{
    return svc_counter_value(svc_metrics_counter(fixture->metrics, "bus_replay_requests_total", "",
                                                 "stream", stream, "status", status, NULL));
}

//  --------------------------------------------------------------------------
//  Usage: a replay server on its own ROUTER, asked in chunks of 10 until
//  to_seq reaches last_seq; the events are the log's bytes.

static void
test_usage(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t stream_config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "order-0", &stream_config);
    s_write(stream, 25, 10);

    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_maxmsgsize(router, BUS_FRAME_MAX);
    assert_true(zsock_bind(router, "tcp://127.0.0.1:*") > 0);
    bus_replay_config_t config = {.stream = "order-0",
                                  .conninfo = fixture->conninfo,
                                  .router = router,
                                  .log = fixture->log,
                                  .metrics = fixture->metrics};
    zactor_t *replay = zactor_new(bus_replay_server, &config);
    assert_null(config.router); //  taken
    int port = 0;
    zstr_send(replay, "PORT");
    zsock_recv(replay, "i", &port);
    assert_true(port > 0);

    zsock_t *dealer = s_dealer_new(port);
    uint64_t next = 1;
    int chunks = 0;
    reply_t *reply = zmalloc(sizeof *reply);
    do {
        s_ask(dealer, "order-0", next, 10, reply);
        assert_int_equal(reply->header.status, BUS_REPLAY_OK);
        assert_string_equal(reply->header.stream, "order-0");
        assert_int_equal(reply->header.from_seq, next);
        assert_int_equal(reply->header.last_seq, 25);
        assert_int_equal(reply->header.first_seq, 1);
        assert_int_equal(reply->count, reply->header.to_seq - next + 1);
        assert_true(reply->count == 10 || reply->header.to_seq == 25);
        for (size_t index = 0; index < reply->count; index++) {
            s_assert_logged(fixture->conninfo, next + index, reply->events[index]);
        }
        next = reply->header.to_seq + 1;
        s_reply_free(reply);
        chunks++;
    } while (next <= 25);
    assert_int_equal(chunks, 3);
    assert_int_equal(s_requests(fixture, "order-0", "ok"), 3);
    assert_int_equal(
        svc_counter_value(svc_metrics_counter(fixture->metrics, "bus_replayed_events_total", "",
                                              "stream", "order-0", NULL)),
        25);

    freen(reply);
    zsock_destroy(&dealer);
    zactor_destroy(&replay);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  At most 1 MiB of envelopes per reply, and at most 1000 events, whatever
//  max_events asks for.

static void
test_reply_caps(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "caps-0", &config);
    s_write(stream, 5, (size_t) 300 * 1000); //  five envelopes of ~300 kB
    s_write(stream, 1500, 1);                //  then many small ones: seq 6..1505
    zsock_t *dealer = s_dealer_new(bus_stream_replay_port(stream));
    reply_t *reply = zmalloc(sizeof *reply);

    s_ask(dealer, "caps-0", 1, 1000, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_OK);
    assert_int_equal(reply->count, 3); //  a fourth would pass 1 MiB
    assert_true(reply->bytes <= (size_t) BUS_REPLAY_BYTES_MAX);
    assert_int_equal(reply->header.to_seq, 3);
    s_reply_free(reply);

    s_ask(dealer, "caps-0", 6, UINT32_MAX, reply);
    assert_int_equal(reply->count, BUS_REPLAY_EVENTS_MAX);
    assert_int_equal(reply->header.to_seq, 6 + BUS_REPLAY_EVENTS_MAX - 1);
    assert_int_equal(reply->header.last_seq, 1505);
    s_reply_free(reply);

    freen(reply);
    zsock_destroy(&dealer);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  After retention: TRIMMED below first_seq, OK from it. Beyond the tail:
//  OK with no events.

typedef struct {
    const char *conninfo;
} trimmed_arg_t;

static bool
s_trimmed_to_21(void *arg)
{
    PGconn *conn = PQconnectdb(((trimmed_arg_t *) arg)->conninfo);
    PGresult *result = PQexec(conn, "SELECT first_seq FROM bus_streams");
    bool done = PQntuples(result) == 1 && atoi(PQgetvalue(result, 0, 0)) == 21;
    PQclear(result);
    PQfinish(conn);
    return done;
}

static void
test_trimmed_and_beyond_tail(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {.retention_events = 10, .retention_interval_ms = 20};
    bus_stream_t *stream = s_stream_new(fixture, "trim-0", &config);
    s_write(stream, 30, 1);
    trimmed_arg_t arg = {fixture->conninfo};
    assert_true(ts_wait_until(s_trimmed_to_21, &arg, WAIT_MS));

    zsock_t *dealer = s_dealer_new(bus_stream_replay_port(stream));
    reply_t *reply = zmalloc(sizeof *reply);
    s_ask(dealer, "trim-0", 1, 100, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_TRIMMED);
    assert_int_equal(reply->header.first_seq, 21);
    assert_int_equal(reply->header.last_seq, 30);
    assert_int_equal(reply->count, 0);

    s_ask(dealer, "trim-0", 21, 100, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_OK);
    assert_int_equal(reply->header.to_seq, 30);
    assert_int_equal(reply->count, 10);
    s_reply_free(reply);

    s_ask(dealer, "trim-0", 31, 100, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_OK);
    assert_int_equal(reply->header.to_seq, 30);
    assert_int_equal(reply->header.last_seq, 30);
    assert_int_equal(reply->count, 0);

    s_ask(dealer, "trim-0", 1000000, 100, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_OK);
    assert_int_equal(reply->header.to_seq, 999999);
    assert_int_equal(reply->count, 0);

    freen(reply);
    zsock_destroy(&dealer);
    bus_stream_destroy(&stream);
}

//  --------------------------------------------------------------------------
//  Another stream: UNKNOWN_STREAM. Garbage: BAD_REQUEST, counted, logged
//  once for the peer, and the server keeps serving.

static int
s_count_lines(FILE *file, const char *needle)
{
    (void) fflush(file);
    rewind(file);
    char line[4096];
    int count = 0;
    while (fgets(line, sizeof line, file)) {
        count += strstr(line, needle) != NULL;
    }
    return count;
}

static void
test_unknown_stream_and_bad_requests(void **state)
{
    fixture_t *fixture = *state;
    bus_stream_config_t config = {0};
    bus_stream_t *stream = s_stream_new(fixture, "bad-0", &config);
    s_write(stream, 3, 1);
    zsock_t *dealer = s_dealer_new(bus_stream_replay_port(stream));
    reply_t *reply = zmalloc(sizeof *reply);

    s_ask(dealer, "other-0", 1, 10, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_UNKNOWN_STREAM);
    assert_string_equal(reply->header.stream, "other-0");
    assert_int_equal(reply->count, 0);

    zstr_send(dealer, "\xff\xfe not a protobuf");
    s_recv_reply(dealer, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_BAD_REQUEST);
    assert_int_equal(reply->count, 0);
    zstr_sendm(dealer, "two");
    zstr_send(dealer, "frames");
    s_recv_reply(dealer, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_BAD_REQUEST);

    s_ask(dealer, "bad-0", 1, 10, reply);
    assert_int_equal(reply->header.status, BUS_REPLAY_OK);
    assert_int_equal(reply->count, 3);
    s_reply_free(reply);

    assert_int_equal(s_requests(fixture, "bad-0", "bad_request"), 2);
    assert_int_equal(s_requests(fixture, "bad-0", "unknown_stream"), 1);
    assert_int_equal(s_count_lines(fixture->log_file, "\"bus.replay.bad_request\""), 1);

    freen(reply);
    zsock_destroy(&dealer);
    bus_stream_destroy(&stream);
}

int
main(void)
{
    zsys_set_logstream(stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reply_caps, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_trimmed_and_beyond_tail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_stream_and_bad_requests, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
