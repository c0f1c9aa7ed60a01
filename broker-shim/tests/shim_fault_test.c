/*  =========================================================================
    shim_fault_test - nothing lost when RabbitMQ stops and the shim is killed

    A stream of 5,000 OrderCreated events (an in-process bus_stream, as
    order-service would publish them) goes through a broker-shim process to
    a RabbitMQ node of this test's own (scripts/lib.sh rabbit_start; it is
    stopped and started, so it cannot be the shared one), where a pika
    consumer bound the way MassTransit binds a receive endpoint
    (`order-created` from `Contracts:OrderCreatedEvent`: the real names,
    since the node is ours) collects them. Midway RabbitMQ's application
    is stopped while events keep coming (the shim reports not ready and
    its checkpoints stay where RabbitMQ last confirmed), then started
    again; later the shim is
    killed with SIGKILL while a burst is in flight, and restarted. The
    consumer must end with every one of the 5,000 message ids, each at
    least once, and a duplicate only ever as the same message (the same
    id with the same order).

    Nacks: a queue bound beside the consumer's refuses messages beyond 20
    (a policy with overflow reject-publish), so RabbitMQ nacks publishes
    in the middle of a batch; the shim is not ready and dead-letters
    nothing, and once the policy is cleared the consumer must again end
    with every message id.

    Refused: one event of a stream that the shim cannot express in the
    .NET contract (a currency that is no ISO 4217 code) is retried and
    dead-lettered, and every event behind it reaches RabbitMQ.
    =========================================================================
*/
#include <czmq.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bus.h"
#include "shim_test_support.h"
#include "svc.h"
#include "ts.h"

#define S_EVENTS 5000
#define S_PER_UNIT 100
#define S_DRAIN_MS 180000

typedef struct {
    char message_id[SVC_UUID_TEXT_SIZE]; //  the event's id (D form)
    char order_id[SVC_UUID_TEXT_SIZE];   //  its order
} s_sent_t;

typedef struct {
    s_sent_t *sent; //  every event appended so far (owned)
    size_t count;   //  how many
    size_t refused; //  the event (1-based) with a currency the shim refuses, 0 = none
} s_source_t;

//  --------------------------------------------------------------------------
//  The source: a unit appends S_PER_UNIT OrderCreated events with ids we
//  choose, so we know which order each message id carries.

static int
s_append_unit(bus_tx_t *tx, void *arg)
{
    s_source_t *source = arg;
    for (size_t index = 0; index < S_PER_UNIT; index++) {
        s_sent_t *sent = &source->sent[source->count + index];
        svc_uuid_t message_id, order_id;
        svc_uuid_v4(&message_id);
        svc_uuid_v7(&order_id);
        svc_uuid_format(&message_id, sent->message_id);
        svc_uuid_format(&order_id, sent->order_id);
        Ev__V1__Money total = EV__V1__MONEY__INIT, price = EV__V1__MONEY__INIT;
        //  "ZZZ": three letters, so the bus takes it; no ISO 4217 code.
        total.currency = price.currency =
            source->count + index + 1 == source->refused ? "ZZZ" : "EUR";
        total.amount_minor = 2 * 1999;
        price.amount_minor = 1999;
        Ev__V1__OrderItem item = EV__V1__ORDER_ITEM__INIT;
        item.sku = "SKU-1";
        item.quantity = 2;
        item.unit_price = &price;
        Ev__V1__OrderItem *items[] = {&item};
        Ev__V1__OrderCreated created = EV__V1__ORDER_CREATED__INIT;
        created.order_id = (ProtobufCBinaryData){BUS_ID_SIZE, order_id.bytes};
        created.customer_id = "c-fault";
        created.total = &total;
        created.n_items = 1;
        created.items = items;
        created.created_at_us = zclock_time() * 1000;
        Ev__V1__Envelope envelope = EV__V1__ENVELOPE__INIT;
        envelope.message_id = (ProtobufCBinaryData){BUS_ID_SIZE, message_id.bytes};
        envelope.correlation_id = created.order_id;
        envelope.payload_case = EV__V1__ENVELOPE__PAYLOAD_ORDER_CREATED;
        envelope.order_created = &created;
        if (bus_tx_append(tx, &envelope, order_id.bytes, BUS_ID_SIZE) != 0) {
            return -1;
        }
    }
    return 0;
}

static void
s_publish(bus_producer_t *producer, s_source_t *source, size_t count)
{
    assert_true(source->count + count <= S_EVENTS);
    for (size_t done = 0; done < count; done += S_PER_UNIT) {
        uint64_t last_seq = 0;
        assert_int_equal(bus_producer_call(producer, s_append_unit, source, &last_seq), BUS_OK);
        source->count += S_PER_UNIT;
        assert_int_equal(last_seq, source->count);
    }
}

//  --------------------------------------------------------------------------
//  The consumer's file: distinct message ids so far.

typedef struct {
    const char *path; //  the consumer's JSON lines
    size_t count;     //  at least this many distinct ids
} s_distinct_t;

static size_t
s_distinct(const char *path)
{
    json_t *lines = shim_ts_lines(path, "message_id");
    zhashx_t *ids = zhashx_new();
    size_t index;
    json_t *line;
    json_array_foreach(lines, index, line)
    {
        const char *id = json_string_value(json_object_get(line, "message_id"));
        if (id) {
            zhashx_insert(ids, id, (void *) 1);
        }
    }
    size_t count = zhashx_size(ids);
    zhashx_destroy(&ids);
    json_decref(lines);
    return count;
}

static bool
s_distinct_reached(void *arg)
{
    s_distinct_t *wait = arg;
    return s_distinct(wait->path) >= wait->count;
}

static void
s_wait_distinct(const char *path, size_t count, int timeout_ms)
{
    s_distinct_t wait = {path, count};
    if (!ts_wait_until(s_distinct_reached, &wait, timeout_ms)) {
        fail_msg("the consumer has %zu distinct message ids, not %zu", s_distinct(path), count);
    }
}

static bool
s_not_ready(void *arg)
{
    char *url = shim_ts_url(arg, "/readyz");
    ts_http_reply_t reply;
    bool down = ts_http_request("GET", url, NULL, NULL, 0, 2000, &reply) == 0 &&
                reply.status == 503 && strstr(reply.body, "rabbitmq");
    ts_http_reply_free(&reply);
    zstr_free(&url);
    return down;
}

static bool
s_ready(void *arg)
{
    char *url = shim_ts_url(arg, "/readyz");
    ts_http_reply_t reply;
    bool up = ts_http_request("GET", url, NULL, NULL, 0, 2000, &reply) == 0 && reply.status == 200;
    ts_http_reply_free(&reply);
    zstr_free(&url);
    return up;
}

//  --------------------------------------------------------------------------
//  The shim's subscriber applied the whole source stream (its checkpoints
//  are past everything: nothing left to publish).

static bool
s_caught_up(void *arg)
{
    return shim_ts_metric(arg, "bus_lag{consumer=\"shim\",stream=\"order-0\"}") == 0;
}

//  Nothing was dead-lettered by the shim.
static void
s_assert_no_dead_letters(shim_ts_service_t *shim)
{
    assert_int_equal(shim_ts_sql_number(shim, "SELECT count(*) FROM bus_dead_letters", NULL), 0);
}

//  --------------------------------------------------------------------------
//  Every id at least once; a duplicate always the same message.

static void
s_check_deliveries(const char *path, const s_source_t *source)
{
    zhashx_t *sent = zhashx_new();
    for (size_t index = 0; index < source->count; index++) {
        if (index + 1 != source->refused) {
            zhashx_insert(sent, source->sent[index].message_id, source->sent[index].order_id);
        }
    }
    zhashx_t *seen = zhashx_new();
    json_t *lines = shim_ts_lines(path, "message_id");
    size_t duplicates = 0;
    size_t index;
    json_t *line;
    json_array_foreach(lines, index, line)
    {
        const char *id = json_string_value(json_object_get(line, "message_id"));
        const char *body_id = json_string_value(json_object_get(line, "body_message_id"));
        const char *order_id = json_string_value(json_object_get(line, "order_id"));
        assert_non_null(id);
        assert_non_null(body_id);
        assert_non_null(order_id);
        assert_string_equal(id, body_id);
        const char *expected = zhashx_lookup(sent, id);
        if (!expected) {
            fail_msg("message id %s was never sent", id);
        }
        assert_string_equal(order_id, expected);
        if (zhashx_lookup(seen, id)) {
            duplicates++;
        } else {
            zhashx_insert(seen, id, (void *) 1);
        }
    }
    assert_int_equal(zhashx_size(seen), zhashx_size(sent));
    (void) fprintf(stderr, "shim_fault_test: %zu deliveries, %zu distinct, %zu duplicates\n",
                   json_array_size(lines), zhashx_size(seen), duplicates);
    json_decref(lines);
    zhashx_destroy(&seen);
    zhashx_destroy(&sent);
}

//  --------------------------------------------------------------------------
//  What every case has: a directory for its logs (SHIM_TEST_LOG_DIR and a
//  suffix, emptied first), and the source stream "order-0" in this
//  process with its own database, log and PUB port.

typedef struct {
    char *dir;                //  the logs (owned)
    char *db;                 //  the source's database (owned)
    char *log_path;           //  its log (owned)
    FILE *log_file;           //  (owned)
    svc_log_t *log;           //  (owned)
    svc_metrics_t *metrics;   //  (owned)
    char *pub;                //  its PUB endpoint (owned)
    bus_stream_t *stream;     //  (owned)
    bus_producer_t *producer; //  (owned)
    s_source_t source;        //  what it published
} s_rig_t;

static void
s_rig_start(s_rig_t *rig, const char *suffix)
{
    memset(rig, 0, sizeof *rig);
    rig->dir = zsys_sprintf("%s%s", SHIM_TEST_LOG_DIR, suffix);
    struct stat info;
    if (stat(rig->dir, &info) == 0) {
        char *old = strdup(rig->dir);
        ts_tmpdir_remove(&old);
    }
    for (char *slash = strchr(rig->dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        (void) mkdir(rig->dir, 0700);
        *slash = '/';
    }
    assert_int_equal(mkdir(rig->dir, 0700), 0);
    (void) fprintf(stderr, "shim_fault_test: logs in %s\n", rig->dir);

    rig->db = ts_pg_create_db();
    rig->log_path = zsys_sprintf("%s/source.log", rig->dir);
    rig->log_file = fopen(rig->log_path, "a");
    assert_non_null(rig->log_file);
    rig->log = svc_log_new("source", "order-0", SVC_LOG_INFO, rig->log_file);
    rig->metrics = svc_metrics_new();
    rig->pub = zsys_sprintf("tcp://127.0.0.1:%d", ts_proc_port_new(2));
    bus_stream_config_t config = {.stream = "order-0",
                                  .conninfo = rig->db,
                                  .pub_endpoint = rig->pub,
                                  .log = rig->log,
                                  .metrics = rig->metrics};
    rig->stream = bus_stream_new(&config);
    assert_non_null(rig->stream);
    rig->producer = bus_producer_new(rig->stream);
    rig->source = (s_source_t){.sent = zmalloc(S_EVENTS * sizeof(s_sent_t))};
}

static void
s_rig_stop(s_rig_t *rig)
{
    bus_producer_destroy(&rig->producer);
    bus_stream_destroy(&rig->stream);
    freen(rig->source.sent);
    svc_metrics_destroy(&rig->metrics);
    svc_log_destroy(&rig->log);
    (void) fclose(rig->log_file);
    ts_pg_drop_db(&rig->db);
    zstr_free(&rig->pub);
    zstr_free(&rig->log_path);
    zstr_free(&rig->dir);
}

//  --------------------------------------------------------------------------

static void
test_rabbitmq_restart_and_kill(void **state)
{
    (void) state;
    s_rig_t rig;
    s_rig_start(&rig, "");
    shim_ts_rabbit_t *rabbit = shim_ts_rabbit_new();

    //  The .NET side, then the shim.
    char *out = zsys_sprintf("%s/deliveries.jsonl", rig.dir);
    char *consumer_log = zsys_sprintf("%s/consumer.log", rig.dir);
    const char *exchanges[] = {"Contracts:OrderCreatedEvent", NULL};
    ts_proc_t *consumer =
        shim_ts_peer_consume(rabbit->url, "order-created", exchanges, out, true, consumer_log);
    shim_ts_service_t *shim = shim_ts_service_new(SHIM_TS_SHIM, rig.dir);
    shim_ts_service_set(shim, "RABBITMQ_URL", rabbit->url);
    shim_ts_service_set(shim, "PUBLISHERS", rig.pub);
    shim_ts_service_set(shim, "LOG_LEVEL", "info");
    shim_ts_service_t *services[] = {shim, NULL};
    shim_ts_services_start(services);

    //  2,000 events flow.
    s_publish(rig.producer, &rig.source, 2000);
    s_wait_distinct(out, 500, SHIM_TS_WAIT_MS);
    //  RabbitMQ stops: the shim says so, and keeps what comes.
    shim_ts_rabbit_ctl(rabbit, "stop_app");
    assert_true(ts_wait_until(s_not_ready, shim, SHIM_TS_WAIT_MS));
    s_publish(rig.producer, &rig.source, 1500);
    shim_ts_rabbit_ctl(rabbit, "start_app");
    assert_true(ts_wait_until(s_ready, shim, SHIM_TS_WAIT_MS));
    s_wait_distinct(out, 2500, SHIM_TS_WAIT_MS);
    //  A burst, and the shim dies in the middle of it.
    s_publish(rig.producer, &rig.source, 1500);
    assert_int_equal(ts_proc_kill(shim->proc), 0);
    ts_proc_start(shim->proc);
    assert_true(ts_wait_until(s_ready, shim, SHIM_TS_READY_MS));
    s_wait_distinct(out, S_EVENTS, S_DRAIN_MS);
    s_check_deliveries(out, &rig.source);
    //  Nothing left behind (the checkpoints commit just after the confirms,
    //  which may come after the consumer's delivery), nothing set aside.
    assert_true(ts_wait_until(s_caught_up, shim, SHIM_TS_WAIT_MS));
    s_assert_no_dead_letters(shim);

    assert_int_equal(ts_proc_term(shim->proc, SHIM_TS_STOP_MS), 0);
    assert_int_equal(ts_proc_term(consumer, SHIM_TS_STOP_MS), 0);
    ts_proc_destroy(&consumer);
    shim_ts_service_destroy(&shim);
    shim_ts_rabbit_destroy(&rabbit);
    zstr_free(&consumer_log);
    zstr_free(&out);
    s_rig_stop(&rig);
}

//  --------------------------------------------------------------------------
//  A case on the shared broker (TEST_AMQP_URL): names of its own (a
//  random suffix; the shim's exchanges through SHIM_MAP), the .NET side's
//  consumer of OrderCreated bound as MassTransit binds it, and the shim on
//  the rig's stream, configured but not started.

typedef struct {
    char *map;               //  SHIM_MAP (owned)
    char *exchange;          //  OrderCreated's exchange (owned)
    char *queue;             //  SHIM_QUEUE (owned)
    char *endpoint;          //  the consumer's exchange and queue (owned)
    char *out;               //  what the consumer received, JSON lines (owned)
    char *consumer_log;      //  its log (owned)
    ts_proc_t *consumer;     //  (owned)
    shim_ts_service_t *shim; //  (owned)
} s_shared_t;

static void
s_shared_start(s_shared_t *self, const s_rig_t *rig)
{
    char suffix[SHIM_TS_SUFFIX_SIZE];
    shim_ts_suffix(suffix);
    char *prefix = zsys_sprintf("t%s", suffix);
    self->map = shim_ts_map(prefix);
    self->exchange = shim_ts_exchange(prefix, "OrderCreatedEvent");
    zstr_free(&prefix);
    self->queue = zsys_sprintf("evbus-shim-%s", suffix);
    self->endpoint = zsys_sprintf("order-created-%s", suffix);
    self->out = zsys_sprintf("%s/deliveries.jsonl", rig->dir);
    self->consumer_log = zsys_sprintf("%s/consumer.log", rig->dir);
    const char *exchanges[] = {self->exchange, NULL};
    self->consumer = shim_ts_peer_consume(ts_amqp_url(), self->endpoint, exchanges, self->out, true,
                                          self->consumer_log);
    self->shim = shim_ts_service_new(SHIM_TS_SHIM, rig->dir);
    shim_ts_service_set(self->shim, "RABBITMQ_URL", ts_amqp_url());
    shim_ts_service_set(self->shim, "PUBLISHERS", rig->pub);
    shim_ts_service_set(self->shim, "SHIM_MAP", self->map);
    shim_ts_service_set(self->shim, "SHIM_QUEUE", self->queue);
    shim_ts_service_set(self->shim, "LOG_LEVEL", "info");
}

//  Stop both processes (each must end cleanly) and delete what the case
//  declared on the shared broker.
static void
s_shared_stop(s_shared_t *self, const s_rig_t *rig)
{
    assert_int_equal(ts_proc_term(self->shim->proc, SHIM_TS_STOP_MS), 0);
    assert_int_equal(ts_proc_term(self->consumer, SHIM_TS_STOP_MS), 0);
    char *error_queue = zsys_sprintf("%s%s", self->queue, "_error");
    const char *queues[] = {self->queue, self->endpoint, error_queue, NULL};
    const char *exchanges[] = {self->endpoint, error_queue, NULL};
    shim_ts_peer_delete(ts_amqp_url(), queues, exchanges, rig->dir);
    zstr_free(&error_queue);
    ts_proc_destroy(&self->consumer);
    shim_ts_service_destroy(&self->shim);
    zstr_free(&self->consumer_log);
    zstr_free(&self->out);
    zstr_free(&self->endpoint);
    zstr_free(&self->queue);
    zstr_free(&self->exchange);
    zstr_free(&self->map);
}

//  --------------------------------------------------------------------------
//  The shim's database connections are cut again and again (every backend
//  of its database terminated) while events flow both ways: the writer,
//  the subscriber, the relay and the consumer's units reconnect and catch
//  up; every event reaches RabbitMQ, every RabbitMQ message is appended
//  exactly once.

#define S_DB_EVENTS 1000
#define S_DB_MESSAGES 100

static bool
s_cut(void *arg)
{
    return shim_ts_sql_number(arg,
                              "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                              NULL) > 0;
}

//  Terminate the shim's connections, once it has some again.
static void
s_cut_connections(shim_ts_service_t *shim)
{
    assert_true(ts_wait_until(s_cut, shim, SHIM_TS_WAIT_MS));
}

static bool
s_inbox_full(void *arg)
{
    return shim_ts_sql_number(arg, "SELECT count(*) FROM shim_inbox", NULL) == S_DB_MESSAGES;
}

static void
test_database_lost(void **state)
{
    (void) state;
    s_rig_t rig;
    s_rig_start(&rig, "-db");
    s_shared_t shared;
    s_shared_start(&shared, &rig);
    shim_ts_service_t *shim = shared.shim;
    const char *exchange = shared.exchange;
    const char *out = shared.out;
    shim_ts_service_t *services[] = {shim, NULL};
    shim_ts_services_start(services);

    //  RabbitMQ -> us: each message twice, in two rounds around cuts.
    json_t *messages = json_array();
    for (size_t index = 0; index < S_DB_MESSAGES; index++) {
        svc_uuid_t message_id, order_id;
        svc_uuid_v4(&message_id);
        svc_uuid_v4(&order_id);
        char message_text[SVC_UUID_TEXT_SIZE], order_text[SVC_UUID_TEXT_SIZE];
        svc_uuid_format(&message_id, message_text);
        svc_uuid_format(&order_id, order_text);
        json_t *body =
            json_pack("{s:s, s:[s], s:{s:s, s:s, s:s}}", "messageId", message_text, "messageType",
                      "urn:message:Contracts:OrderCreatedEvent", "message", "orderId", order_text,
                      "customerId", "C-9", "total", "1.00");
        json_array_append_new(messages, json_pack("{s:s, s:o, s:s}", "exchange", exchange,
                                                  "body_json", body, "message_id", message_text));
    }
    for (int round = 0; round < 2; round++) {
        s_publish(rig.producer, &rig.source, S_DB_EVENTS / 2);
        shim_ts_peer_publish(ts_amqp_url(), messages, rig.dir);
        s_cut_connections(shim);
        s_wait_distinct(out, (size_t) (round + 1) * S_DB_EVENTS / 4, SHIM_TS_WAIT_MS);
        s_cut_connections(shim);
    }
    s_wait_distinct(out, S_DB_EVENTS, S_DRAIN_MS);
    assert_true(ts_wait_until(s_ready, shim, SHIM_TS_WAIT_MS));
    //  What we sent: every one at least once, duplicates the same message.
    json_t *lines = shim_ts_lines(out, "message_id");
    size_t index;
    json_t *line;
    json_array_foreach(lines, index, line)
    {
        assert_string_equal(json_string_value(json_object_get(line, "message_id")),
                            json_string_value(json_object_get(line, "body_message_id")));
    }
    json_decref(lines);
    //  What they sent: appended once each, however often it came.
    if (!ts_wait_until(s_inbox_full, shim, SHIM_TS_WAIT_MS)) {
        fail_msg("shim_inbox has %ld ids, not %d",
                 shim_ts_sql_number(shim, "SELECT count(*) FROM shim_inbox", NULL), S_DB_MESSAGES);
    }
    assert_int_equal(
        shim_ts_sql_number(shim, "SELECT count(*) FROM bus_events WHERE stream = 'shim-0'", NULL),
        S_DB_MESSAGES);
    s_assert_no_dead_letters(shim);

    json_decref(messages);
    s_shared_stop(&shared, &rig);
    s_rig_stop(&rig);
}

//  --------------------------------------------------------------------------
//  Nacks in the middle of a batch: the batch is published again (not
//  ready meanwhile, nothing dead-lettered), its checkpoints never pass an
//  unconfirmed message, nothing is lost.

#define S_NACK_EVENTS 1000
#define S_NACK_POLICY                                                                              \
    "set_policy --apply-to queues shim-nack '^overflow$'"                                          \
    " '{\"max-length\": 20, \"overflow\": \"reject-publish\"}'"

static bool
s_republished(void *arg)
{
    return shim_ts_metric(arg, "shim_republished_total") > 0;
}

static void
test_nacks(void **state)
{
    (void) state;
    s_rig_t rig;
    s_rig_start(&rig, "-nack");
    shim_ts_rabbit_t *rabbit = shim_ts_rabbit_new();

    //  The consumer, and the queue that refuses: declared and bound by a
    //  peer that then stops consuming.
    const char *exchanges[] = {"Contracts:OrderCreatedEvent", NULL};
    char *out = zsys_sprintf("%s/deliveries.jsonl", rig.dir);
    char *consumer_log = zsys_sprintf("%s/consumer.log", rig.dir);
    ts_proc_t *consumer =
        shim_ts_peer_consume(rabbit->url, "order-created", exchanges, out, true, consumer_log);
    char *overflow_out = zsys_sprintf("%s/overflow.jsonl", rig.dir);
    char *overflow_log = zsys_sprintf("%s/overflow.log", rig.dir);
    ts_proc_t *overflow =
        shim_ts_peer_consume(rabbit->url, "overflow", exchanges, overflow_out, true, overflow_log);
    assert_int_equal(ts_proc_term(overflow, SHIM_TS_STOP_MS), 0);
    ts_proc_destroy(&overflow);
    shim_ts_rabbit_ctl(rabbit, S_NACK_POLICY);
    shim_ts_service_t *shim = shim_ts_service_new(SHIM_TS_SHIM, rig.dir);
    shim_ts_service_set(shim, "RABBITMQ_URL", rabbit->url);
    shim_ts_service_set(shim, "PUBLISHERS", rig.pub);
    shim_ts_service_set(shim, "LOG_LEVEL", "info");
    shim_ts_service_t *services[] = {shim, NULL};
    shim_ts_services_start(services);

    s_publish(rig.producer, &rig.source, S_NACK_EVENTS);
    //  Nacked beyond the 20th: published again (on a new connection), and
    //  again; the shim is not ready and its checkpoints stay behind.
    assert_true(ts_wait_until(s_republished, shim, SHIM_TS_WAIT_MS));
    assert_true(ts_wait_until(s_not_ready, shim, SHIM_TS_WAIT_MS));
    assert_false(s_caught_up(shim));
    shim_ts_rabbit_ctl(rabbit, "clear_policy shim-nack");
    s_wait_distinct(out, S_NACK_EVENTS, S_DRAIN_MS);
    s_check_deliveries(out, &rig.source);
    assert_true(ts_wait_until(s_caught_up, shim, SHIM_TS_WAIT_MS));
    assert_true(ts_wait_until(s_ready, shim, SHIM_TS_WAIT_MS));
    s_assert_no_dead_letters(shim);

    assert_int_equal(ts_proc_term(shim->proc, SHIM_TS_STOP_MS), 0);
    assert_int_equal(ts_proc_term(consumer, SHIM_TS_STOP_MS), 0);
    ts_proc_destroy(&consumer);
    shim_ts_service_destroy(&shim);
    shim_ts_rabbit_destroy(&rabbit);
    zstr_free(&overflow_log);
    zstr_free(&overflow_out);
    zstr_free(&consumer_log);
    zstr_free(&out);
    s_rig_stop(&rig);
}

//  --------------------------------------------------------------------------
//  An event the shim cannot publish (the bus takes currency "ZZZ", the
//  .NET contract has no such currency) is retried, dead-lettered with the
//  reason, and the events behind it are all bridged; the shim stays
//  ready. Events of its batch published before it may be published again
//  (the same ids) when the bus applies them one by one.

#define S_REFUSED_EVENTS 300
#define S_REFUSED_AT 150

static bool
s_dead_lettered(void *arg)
{
    return shim_ts_sql_number(arg, "SELECT count(*) FROM bus_dead_letters", NULL) == 1;
}

static void
test_refused_event(void **state)
{
    (void) state;
    s_rig_t rig;
    s_rig_start(&rig, "-refused");
    rig.source.refused = S_REFUSED_AT;
    s_shared_t shared;
    s_shared_start(&shared, &rig);
    shim_ts_service_t *shim = shared.shim;
    const char *out = shared.out;
    shim_ts_service_set(shim, "SHIM_CONSUME", "none");
    shim_ts_service_set(shim, "MAX_ATTEMPTS", "2");
    shim_ts_service_t *services[] = {shim, NULL};
    shim_ts_services_start(services);

    s_publish(rig.producer, &rig.source, S_REFUSED_EVENTS);
    s_wait_distinct(out, S_REFUSED_EVENTS - 1, S_DRAIN_MS);
    assert_true(ts_wait_until(s_dead_lettered, shim, SHIM_TS_WAIT_MS));
    assert_int_equal(shim_ts_sql_number(shim,
                                        "SELECT count(*) FROM bus_dead_letters WHERE consumer ="
                                        " 'shim' AND stream = 'order-0' AND seq = 150 AND attempts"
                                        " = 2 AND error LIKE '%total: no known currency%'",
                                        NULL),
                     1);
    assert_true(ts_wait_until(s_caught_up, shim, SHIM_TS_WAIT_MS));
    assert_true(ts_wait_until(s_ready, shim, SHIM_TS_WAIT_MS));
    s_check_deliveries(out, &rig.source);

    s_shared_stop(&shared, &rig);
    s_rig_stop(&rig);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rabbitmq_restart_and_kill),
        cmocka_unit_test(test_database_lost),
        cmocka_unit_test(test_nacks),
        cmocka_unit_test(test_refused_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
